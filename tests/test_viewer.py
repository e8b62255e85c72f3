"""`smplestx view`: the page's data, the port message, and (marked `browser`) a real headless Chromium."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import urllib.request

import numpy as np
import pytest

from smplestx.body.model_files import load_smplx_arrays
from smplestx.cli import main
from smplestx.io.results import FrameResult, Person, ResultsWriter
from smplestx.viewer import SceneData, ViewerError, find_results_file, make_server, url_of

W, H = 320, 240


def _person(verts: np.ndarray, focal: float, princpt: tuple[float, float], track: int) -> Person:
    z = np.zeros
    uv = focal * verts[:, :2] / verts[:, 2:3] + np.asarray(princpt)
    box = np.array([*uv.min(0), *uv.max(0)], np.float32)
    return Person(box_xyxy=box, score=1.0, track_id=track, crop_box_xywh=np.array([*box[:2], *(box[2:] - box[:2])]),
                  global_orient=z(3), body_pose=z((21, 3)), left_hand_pose=z((15, 3)), right_hand_pose=z((15, 3)),
                  jaw_pose=z(3), betas=z(10), expression=z(10), transl=z(3), focal=np.array([focal, focal]),
                  princpt=np.asarray(princpt, np.float64), joints_3d=verts[:137], joints_2d=uv[:137],
                  vertices=verts.astype(np.float32))


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory, synthetic_body):
    """Two frames: a rest-pose body standing left of centre (track 0) and, in frame 1, a second one right (track 1)."""
    folder = tmp_path_factory.mktemp("view")
    v = load_smplx_arrays(synthetic_body)["v_template"].astype(np.float64)
    v = v - v.mean(0)
    # Person 0 sees the scene with focal 150, person 1 with focal 300 (twice as far): both must land where they project.
    left = _person(v * [1, -1, 1] + [-0.9, 0.0, 3.0], 150.0, (150.0, 110.0), 0)
    right = _person(v * [1, -1, 1] + [1.5, 0.0, 6.0], 300.0, (170.0, 130.0), 1)
    path = folder / "scene.npz"
    with ResultsWriter(path, meta={"fps": 5.0}, keep_vertices=True, image_size=(W, H)) as w:
        w.add(FrameResult(index=0, time_s=0.0, width=W, height=H, people=[left]))
        w.add(FrameResult(index=1, time_s=0.2, width=W, height=H, people=[left, right]))
    return path, left, right


def test_mapping_keeps_every_projection(scene_file, synthetic_body):
    path, left, right = scene_file
    faces = load_smplx_arrays(synthetic_body)["f"].astype(np.uint32)
    scene = SceneData(path, faces)
    meta = scene.meta()
    assert meta["image_size"] == [W, H] and len(meta["frames"]) == 2 and not meta["has_images"]
    assert [p["track_id"] for p in meta["frames"][1]["people"]] == [0, 1]
    mapped = scene.vertices(1)
    f, c = scene.focal, scene.princpt
    for p, m in zip((left, right), mapped):
        want = p.focal * p.vertices[:, :2] / p.vertices[:, 2:3] + p.princpt
        got = f * m[:, :2] / m[:, 2:3] + c
        np.testing.assert_allclose(got, want, atol=1e-3)  # pixels
    assert mapped[1, :, 2].mean() == pytest.approx(6.0 * 150 / 300, rel=1e-5)


def test_results_lookup_and_busy_port(tmp_path, scene_file, synthetic_body):
    path, _, _ = scene_file
    assert find_results_file(path.parent) == path
    with pytest.raises(ViewerError, match="no results file"):
        find_results_file(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ViewerError, match=f"port {port} on 127.0.0.1 is already in use.*--port"):
            make_server(path, port=port, body_models=synthetic_body)
        assert main(["view", str(path), "--port", str(port), "--body-models", str(synthetic_body), "--no-browser"]) == 2


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.browser
def test_page_shows_the_meshes_in_chromium(tmp_path, scene_file, synthetic_body):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium not installed (tools/install_chromium.sh installs it)")
    path, left, right = scene_file
    server = make_server(path, port=0, body_models=synthetic_body)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = url_of(server)
        assert json.loads(urllib.request.urlopen(url + "meta.json").read())["file"] == "scene.npz"
        shot = tmp_path / "shot.png"
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--enable-unsafe-swiftshader", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=640,480",
               "--hide-scrollbars", "--virtual-time-budget=20000", f"--screenshot={shot}", url + "?frame=1"]
        subprocess.run(cmd, capture_output=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    import cv2

    img = cv2.imread(str(shot))[..., ::-1].astype(int)  # RGB
    assert img.shape[:2] == (480, 640)
    scale = 640 / W  # the window has the image's aspect: image pixel (u, v) is screen pixel 2 * (u, v)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    colours = {"left (track 0, red)": (r > g + 40) & (r > b + 40), "right (track 1, blue)": (b > r + 40) & (b > g + 20)}
    for (name, mask), person in zip(colours.items(), (left, right)):
        mask[440:] = False  # the control bar
        ys, xs = np.nonzero(mask)
        x0, y0, x1, y1 = person.box_xyxy * scale
        area = (x1 - x0) * (y1 - y0)
        # The silhouette covers a plausible share of its projected box, and sits inside it.
        assert 0.15 * area < mask.sum() < 1.0 * area, (name, mask.sum(), area)
        assert x0 - 4 <= xs.mean() <= x1 + 4 and y0 - 4 <= ys.mean() <= y1 + 4, name
        inside = ((xs >= x0 - 4) & (xs <= x1 + 4) & (ys >= y0 - 4) & (ys <= y1 + 4)).mean()
        assert inside > 0.97, (name, inside)
