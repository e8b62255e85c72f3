// smplestx viewer: the meshes of a results, track or animation file in 3D, in the file's camera, over the image.
// Coordinates arrive in the OpenCV camera frame (x right, y down, z forward); the `world` group's
// scale (1, -1, -1) is the 180-degree turn about x into three.js's frame (y up, looking down -z).
// Colours come with each person from the server (the overlays' palette, smplestx.render.overlay_colors).
import * as T from './three-subset.min.js';

const params = new URLSearchParams(location.search);
const status = document.getElementById('status');

// Which file: ?file=NAME, or the only one offered; several and none chosen: a list to pick from.
const files = (await (await fetch('files.json')).json()).files;
const chosen = params.get('file') || (files.length === 1 ? files[0].name : null);
const pick = document.getElementById('pick');
if (files.length > 1) {
  for (const f of files) pick.add(new Option(`${f.name} (${f.kind})`, f.name, false, f.name === chosen));
  pick.hidden = false;
  pick.addEventListener('change', () => { location.search = '?file=' + encodeURIComponent(pick.value); });
}
if (!chosen) {
  const list = document.getElementById('list');
  list.hidden = false;
  for (const f of files) {
    const a = document.createElement('a');
    a.href = '?file=' + encodeURIComponent(f.name);
    a.textContent = `${f.name}  (${f.kind})`;
    const li = document.createElement('li');
    li.appendChild(a);
    list.querySelector('ul').appendChild(li);
  }
  status.textContent = `${files.length} files: pick one`;
  document.title = 'smplestx viewer: ready';
  throw new Error('no file chosen');  // stops the module here; the list stays
}
const base = `f/${encodeURIComponent(chosen)}/`;
const metaResponse = await fetch(base + 'meta.json');
const meta = await metaResponse.json();
if (!metaResponse.ok) {
  status.textContent = `${chosen}: ${meta.error || metaResponse.statusText}`;
  throw new Error(status.textContent);
}
const faces = new T.BufferAttribute(new Uint32Array(await (await fetch(base + 'faces.bin')).arrayBuffer()), 1);
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
// Drawn over everything (no depth test): the joints sit on the image plane, behind the meshes.
const keypoints = new T.Points(kpGeom, new T.PointsMaterial({ size: 4, sizeAttenuation: false, vertexColors: true, depthTest: false }));
keypoints.renderOrder = 1;
keypoints.visible = false;
world.add(keypoints);

// Planted foot points (track files with contacts, `--feet`): white dots at the heels and toes on the floor.
const contactGeom = new T.BufferGeometry();
const contactDots = new T.Points(contactGeom, new T.PointsMaterial({ size: 9, sizeAttenuation: false, color: 0xffffff, depthTest: false }));
contactDots.renderOrder = 2;
world.add(contactDots);

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
kpBox.checked = params.get('keypoints') === '1' && meta.has_keypoints;
kpBox.disabled = !meta.has_keypoints;
imgBox.checked = params.get('image') !== '0' && meta.has_images;
imgBox.disabled = !meta.has_images;

let current = -1, loading = null;
async function show(k) {
  const fr = meta.frames[k];
  const verts = new Float32Array(await (await fetch(base + `frame/${k}.bin`)).arrayBuffer());
  fr.people.forEach((p, slot) => {
    const m = meshFor(slot);
    m.geometry.attributes.position.array.set(verts.subarray(slot * V * 3, (slot + 1) * V * 3));
    m.geometry.attributes.position.needsUpdate = true;
    m.geometry.computeVertexNormals();
    m.material.color.setRGB(p.color[0] / 255, p.color[1] / 255, p.color[2] / 255, T.SRGBColorSpace);
    m.visible = true;
  });
  for (let i = fr.people.length; i < meshes.length; i++) meshes[i].visible = false;
  const planted = [];
  fr.people.forEach((p, slot) => (p.contacts || []).forEach((on, i) => {
    if (!on) return;
    const ids = meta.foot_vertices[i], xyz = [0, 0, 0];
    for (const v of ids) for (let a = 0; a < 3; a++) xyz[a] += verts[(slot * V + v) * 3 + a] / ids.length;
    planted.push(...xyz);
  }));
  contactGeom.setAttribute('position', new T.BufferAttribute(new Float32Array(planted), 3));
  // 2D keypoints on the image plane (just in front of it), in their person's colour.
  const d = depth * 0.995, pos = [], col = [];
  const joints = meta.has_keypoints ? (await (await fetch(base + `frame/${k}.json`)).json()).joints_2d : [];
  fr.people.forEach((p, slot) => {
    // A darker shade of the person's colour, to stand out on its mesh.
    const c = new T.Color().setRGB(p.color[0] / 510, p.color[1] / 510, p.color[2] / 510, T.SRGBColorSpace);
    for (const [u, v] of (joints[slot] || [])) { pos.push((u - cx) * d / fx, (v - cy) * d / fy, d); col.push(c.r, c.g, c.b); }
  });
  kpGeom.setAttribute('position', new T.BufferAttribute(new Float32Array(pos), 3));
  kpGeom.setAttribute('color', new T.BufferAttribute(new Float32Array(col), 3));
  if (meta.has_images) {
    const tex = await loader.loadAsync(base + `frame/${k}.jpg`).catch(() => null);
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
  contactDots.visible = params.get('contacts') !== '0';
  plane.visible = imgBox.checked && !!plane.material.map;
  controls.update();
  renderer.render(scene, camera);
  requestAnimationFrame(loop);
}
if (meta.frames.length) await goTo(Number(params.get('frame') || 0));
status.textContent = `${meta.file}: ${meta.frames.length} frames, ${meta.camera}`;
renderer.render(scene, camera);
document.title = 'smplestx viewer: ready';
requestAnimationFrame(loop);
