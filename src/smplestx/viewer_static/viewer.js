// smplestx viewer: the meshes of a results file in 3D, in the results' camera, over the image.
// Coordinates arrive in the OpenCV camera frame (x right, y down, z forward); the `world` group's
// scale (1, -1, -1) is the 180-degree turn about x into three.js's frame (y up, looking down -z).
import * as T from './three-subset.min.js';

const PALETTE = [0xe6194b, 0x3c8dff, 0x3cb44b, 0xffc119, 0xf032e6, 0x42d4f4, 0xf58231, 0x9a6324];
const params = new URLSearchParams(location.search);
const status = document.getElementById('status');

const meta = await (await fetch('meta.json')).json();
const faces = new T.BufferAttribute(new Uint32Array(await (await fetch('faces.bin')).arrayBuffer()), 1);
const [W, H] = meta.image_size, [fx, fy] = meta.focal, [cx, cy] = meta.princpt, V = meta.num_vertices;
const depth = meta.image_depth;

const renderer = new T.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(window.devicePixelRatio);
document.getElementById('view').appendChild(renderer.domElement);
const scene = new T.Scene();
scene.background = new T.Color(0x202124);
const camera = new T.PerspectiveCamera(2 * Math.atan(H / 2 / fy) * 180 / Math.PI, W / H, 0.01, depth * 10);
scene.add(new T.AmbientLight(0xffffff, 0.8));
const sun = new T.DirectionalLight(0xffffff, 1.6);
sun.position.set(0.3, 0.6, 1);
camera.add(sun);
scene.add(camera);
const world = new T.Group();
world.scale.set(1, -1, -1);
scene.add(world);

// The image on a plane at `depth`, sized so that it fills the camera's view exactly.
const plane = new T.Mesh(new T.PlaneGeometry(W * depth / fx, H * depth / fy),
  new T.MeshBasicMaterial({ color: 0xffffff, side: T.DoubleSide }));
plane.position.set((W / 2 - cx) * depth / fx, (H / 2 - cy) * depth / fy, depth);
plane.visible = false;
world.add(plane);
const loader = new T.TextureLoader();

const meshes = [];
function meshFor(slot) {
  while (meshes.length <= slot) {
    const g = new T.BufferGeometry();
    g.setIndex(faces);
    g.setAttribute('position', new T.BufferAttribute(new Float32Array(V * 3), 3));
    const m = new T.Mesh(g, new T.MeshStandardMaterial({ side: T.DoubleSide, roughness: 0.7, metalness: 0.0 }));
    m.frustumCulled = false;
    world.add(m);
    meshes.push(m);
  }
  return meshes[slot];
}
const kpGeom = new T.BufferGeometry();
const keypoints = new T.Points(kpGeom, new T.PointsMaterial({ size: 4, sizeAttenuation: false, vertexColors: true }));
keypoints.visible = false;
world.add(keypoints);

const controls = new T.OrbitControls(camera, renderer.domElement);
camera.position.set(0, 0, 0.001);
controls.target.set(0, 0, -depth / 1.3);
controls.update();

function resize() {
  const w = window.innerWidth, h = window.innerHeight;
  renderer.setSize(w, h);
  camera.aspect = w / h;
  camera.updateProjectionMatrix();
}
window.addEventListener('resize', resize);
resize();

const time = document.getElementById('time'), label = document.getElementById('label');
const kpBox = document.getElementById('kp'), imgBox = document.getElementById('img');
time.max = String(Math.max(meta.frames.length - 1, 0));
kpBox.checked = params.get('keypoints') === '1';
imgBox.checked = params.get('image') !== '0' && meta.has_images;
imgBox.disabled = !meta.has_images;

let current = -1, loading = null;
async function show(k) {
  const fr = meta.frames[k];
  const verts = new Float32Array(await (await fetch(`frame/${k}.bin`)).arrayBuffer());
  fr.people.forEach((p, slot) => {
    const m = meshFor(slot);
    m.geometry.attributes.position.array.set(verts.subarray(slot * V * 3, (slot + 1) * V * 3));
    m.geometry.attributes.position.needsUpdate = true;
    m.geometry.computeVertexNormals();
    m.material.color.setHex(PALETTE[(p.track_id >= 0 ? p.track_id : slot) % PALETTE.length]);
    m.visible = true;
  });
  for (let i = fr.people.length; i < meshes.length; i++) meshes[i].visible = false;
  // 2D keypoints on the image plane (just in front of it), coloured like their person.
  const d = depth * 0.995, pos = [], col = [];
  fr.people.forEach((p, slot) => {
    const c = new T.Color(PALETTE[(p.track_id >= 0 ? p.track_id : slot) % PALETTE.length]);
    for (const [u, v] of p.joints_2d) { pos.push((u - cx) * d / fx, (v - cy) * d / fy, d); col.push(c.r, c.g, c.b); }
  });
  kpGeom.setAttribute('position', new T.BufferAttribute(new Float32Array(pos), 3));
  kpGeom.setAttribute('color', new T.BufferAttribute(new Float32Array(col), 3));
  if (meta.has_images) {
    const tex = await loader.loadAsync(`frame/${k}.jpg`).catch(() => null);
    if (tex) {
      tex.flipY = false;  // the group's y flip already puts the image's top row at the top
      tex.colorSpace = T.SRGBColorSpace;
      if (plane.material.map) plane.material.map.dispose();
      plane.material.map = tex;
      plane.material.needsUpdate = true;
    }
  }
  current = k;
  label.textContent = `frame ${fr.index} (${k + 1}/${meta.frames.length}, ${fr.time_s.toFixed(2)} s), ${fr.people.length} people`;
}
async function goTo(k) {
  time.value = String(k);
  if (loading) await loading;
  if (k !== current) { loading = show(k); await loading; loading = null; }
}
time.addEventListener('input', () => goTo(Number(time.value)));
let playing = false, lastStep = 0;
const play = document.getElementById('play');
play.addEventListener('click', () => { playing = !playing; play.innerHTML = playing ? '&#10073;&#10073;' : '&#9654;'; });
window.addEventListener('keydown', (e) => {
  if (e.key === 'ArrowRight') goTo(Math.min(current + 1, meta.frames.length - 1));
  if (e.key === 'ArrowLeft') goTo(Math.max(current - 1, 0));
  if (e.key === ' ') play.click();
});

function loop(t) {
  if (playing && !loading && t - lastStep > 1000 / meta.fps && meta.frames.length) {
    lastStep = t;
    goTo((current + 1) % meta.frames.length);
  }
  keypoints.visible = kpBox.checked;
  plane.visible = imgBox.checked && !!plane.material.map;
  controls.update();
  renderer.render(scene, camera);
  requestAnimationFrame(loop);
}
if (meta.frames.length) await goTo(Number(params.get('frame') || 0));
status.textContent = `${meta.file}: ${meta.frames.length} frames`;
renderer.render(scene, camera);
document.title = 'smplestx viewer: ready';
requestAnimationFrame(loop);
