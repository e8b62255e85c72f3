// The parts of three.js the smplestx viewer uses (tree-shaken by esbuild), and the glTF loader and animation
// player that play our .glb files (tests/test_threejs_playback.py): one vendored three.js, not two.
export { AmbientLight, AnimationMixer, BufferAttribute, BufferGeometry, Color, DirectionalLight, DoubleSide, Group,
  LoopOnce, Mesh, MeshBasicMaterial, MeshStandardMaterial, PerspectiveCamera, PlaneGeometry, Points, PointsMaterial,
  Scene, SkinnedMesh, SRGBColorSpace, Texture, TextureLoader, Vector3, WebGLRenderer } from 'three';
export { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
export { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';
