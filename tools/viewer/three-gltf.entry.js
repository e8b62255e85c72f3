// three.js's glTF loader and animation player: the browser test that plays our .glb (tests/test_threejs_playback.py).
export { AnimationMixer, LoopOnce, SkinnedMesh, Vector3 } from 'three';
export { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';
