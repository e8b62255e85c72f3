"""three.js plays our .glb: headless Chromium loads it with GLTFLoader, plays it with AnimationMixer and reads the
bones' world positions and the expression morph weights at three times (the viewer's vendored three.js bundle)."""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.body import BodyModel
from smplestx.export import JOINT_NAMES, densify, export_animation
from smplestx.io.meshes import CAMERA_TO_GLTF

from test_animation_export import POSE_KEYS, make_track, trackset

THREE = Path(__file__).resolve().parents[1] / "src" / "smplestx" / "viewer" / "static" / "three-subset.min.js"
FPS = 25.0

PAGE = """<!doctype html><html><body><pre id="out">pending</pre><script type="module">
import { AnimationMixer, GLTFLoader, SkinnedMesh, Vector3 } from './three-subset.min.js';
const out = document.getElementById('out');
const names = %(names)s, times = %(times)s;
new GLTFLoader().load('anim.glb', (gltf) => {
  const root = gltf.scene;
  const mixer = new AnimationMixer(root);
  mixer.clipAction(gltf.animations[0]).play();
  let mesh = null;
  root.traverse((o) => { if (o.isSkinnedMesh) mesh = o; });
  const result = {clips: gltf.animations.length, morphNames: Object.keys(mesh.morphTargetDictionary || {}),
                  tracks: gltf.animations[0].tracks.map((t) => t.name), joints: [], weights: []};
  for (const t of times) {
    mixer.setTime(t);
    root.updateMatrixWorld(true);
    result.joints.push(names.map((n) => { const v = root.getObjectByName(n).getWorldPosition(new Vector3());
                                          return [v.x, v.y, v.z]; }));
    result.weights.push(Array.from(mesh.morphTargetInfluences));
  }
  out.textContent = 'RESULT' + JSON.stringify(result) + 'END';
}, undefined, (e) => { out.textContent = 'RESULT' + JSON.stringify({error: String(e)}) + 'END'; });
</script></body></html>
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # the test's output stays readable
        pass


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.browser
@pytest.mark.slow
def test_threejs_plays_our_glb_with_our_joints_and_expressions(tmp_path, synthetic_body):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium not installed (bash tools/install_chromium.sh installs it)")
    track = densify(make_track(0, [0, 1, 2, 4, 7], seed=5))  # 8 frames, expression varying
    glb = export_animation(trackset(track, fps=FPS), "glb", synthetic_body, tmp_path / "out").files[0]["glb"]
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(glb, site / "anim.glb")
    shutil.copy(THREE, site / THREE.name)
    frames = [0, 3, 7]
    (site / "index.html").write_text(PAGE % {"names": json.dumps(list(JOINT_NAMES)),
                                             "times": json.dumps([f / FPS for f in frames])})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000", "--dump-dom", url]
        dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    finally:
        server.shutdown()
        server.server_close()
    m = re.search(r'<pre id="out">RESULT(.*?)END</pre>', dom, re.S)
    assert m, f"the page did not finish: {dom[-500:]}"
    result = json.loads(m.group(1))
    assert "error" not in result, result

    body = BodyModel.from_dir(synthetic_body, dtype=torch.float64)
    with torch.no_grad():
        out = body(**{k: torch.as_tensor(np.asarray(getattr(track, k)), dtype=torch.float64) for k in POSE_KEYS})
    ours = out.joints_55.numpy()[frames] @ CAMERA_TO_GLTF.astype(np.float64).T  # the .glb's world: y up
    three = np.asarray(result["joints"])
    assert three.shape == ours.shape
    assert np.abs(three - ours).max() < 1e-3  # metres

    # The expression morph targets are there, named, and animated with the track's coefficients.
    assert len(result["morphNames"]) == body.num_expression
    assert any(name.endswith(".morphTargetInfluences") for name in result["tracks"])
    weights = np.asarray(result["weights"])
    np.testing.assert_allclose(weights, np.asarray(track.expression)[frames], atol=1e-5)
    assert np.abs(weights[0] - weights[1]).max() > 0.1
