"""`smplestx view`: what the page is served (scene camera, meshes posed from parameters, colours, files of a folder,
track and AMASS files, pictures), the port message, and (marked `browser`) a real headless Chromium."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import urllib.request

import numpy as np
import pytest
import torch

from smplestx.body import SMPLX_137, SMPLX_VERTEX_JOINT_IDS, BodyModel
from smplestx.cli import main
from smplestx.io.results import FrameResult, Person, ResultsWriter
from smplestx.motion.tracks import Track, TrackSet, save_tracks
from smplestx.render import DEFAULT_COLORS, overlay_colors, track_color
from smplestx.viewer import Bodies, ViewerError, find_inputs, make_server, open_scene, url_of
from smplestx.viewer import scenes as scenes_module

W, H = 320, 240
SCENE_F, SCENE_C = np.array([260.0, 260.0]), np.array([160.0, 120.0])
#: The 137 joints that are mesh vertices (nose, eyes, ears, toes, heels, finger tips): their 2D joints must lie
#: exactly where those vertices project.
VERTEX_JOINTS = [(SMPLX_137.names.index(n), v) for n, v in
                 {"Nose": SMPLX_VERTEX_JOINT_IDS["nose"], "L_Big_toe": SMPLX_VERTEX_JOINT_IDS["LBigToe"],
                  "R_Heel": SMPLX_VERTEX_JOINT_IDS["RHeel"]}.items()]


def _project(x: np.ndarray, f: np.ndarray, c: np.ndarray) -> np.ndarray:
    return f * x[..., :2] / x[..., 2:3] + c


def _posed(body: BodyModel, transl: np.ndarray, turn: float) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Parameters of an upright body facing the camera, its vertices and its 137 joints, in the camera frame (m)."""
    params = {"global_orient": np.array([np.pi, turn, 0.0]), "body_pose": np.zeros((21, 3)),
              "left_hand_pose": np.full((15, 3), 0.1), "right_hand_pose": np.zeros((15, 3)), "jaw_pose": np.zeros(3),
              "betas": np.linspace(-0.5, 0.5, 10), "expression": np.zeros(10), "transl": transl}
    params["body_pose"][3] = [0.4, 0.0, 0.0]  # a bent knee: not a symmetric rest pose
    with torch.no_grad():
        out = body(**{k: torch.as_tensor(v[None], dtype=torch.float32) for k, v in params.items()})
    joints = out.joints[0, list(SMPLX_137.index_in_144)].numpy()
    return params, out.vertices[0].numpy(), joints


def _person(body: BodyModel, transl_scene: np.ndarray, crop_focal: float, track: int, turn: float = 0.0) -> Person:
    """A person as infer writes it: crop camera of its own focal, and the scene camera the 2D joints agree with.

    The crop camera sees the body at the depth that keeps its image size (z * crop_focal / scene focal) and at the
    scene's principal point; the scene camera sees it at ``transl_scene``, and ``joints_2d`` are its projection.
    """
    params, v_scene, j_scene = _posed(body, transl_scene, turn)
    shift = transl_scene * np.array([1.0, 1.0, crop_focal / SCENE_F[0]]) - transl_scene
    uv = _project(j_scene, SCENE_F, SCENE_C)
    box = np.array([*uv.min(0), *uv.max(0)], np.float32)
    f = np.array([crop_focal, crop_focal])
    return Person(box_xyxy=box, score=1.0, track_id=track, crop_box_xywh=np.array([*box[:2], *(box[2:] - box[:2])]),
                  **{k: v.astype(np.float32) for k, v in params.items() if k != "transl"},
                  transl=(transl_scene + shift).astype(np.float32), focal=f, princpt=SCENE_C.copy(),
                  joints_3d=(j_scene + shift).astype(np.float32), joints_2d=uv.astype(np.float32),
                  vertices=(v_scene + shift).astype(np.float32), transl_scene=transl_scene.astype(np.float32),
                  joints_3d_scene=j_scene.astype(np.float32), vertices_scene=v_scene.astype(np.float32))


def _write(path, frames: list[list[Person]], keep_vertices: bool, meta: dict | None = None, json: bool = False) -> None:
    with ResultsWriter(path, meta={"fps": 5.0, **(meta or {})}, keep_vertices=keep_vertices, image_size=(W, H),
                       write_json=json) as w:
        for k, people in enumerate(frames):
            w.add(FrameResult(index=k, time_s=k / 5.0, width=W, height=H, people=people,
                              scene_focal=SCENE_F.astype(np.float32), scene_princpt=SCENE_C.astype(np.float32)))


@pytest.fixture(scope="module")
def body(synthetic_body) -> BodyModel:
    return BodyModel.from_dir(synthetic_body).eval()


@pytest.fixture(scope="module")
def bodies(synthetic_body) -> Bodies:
    """The viewer's body layers, built once for the module."""
    return Bodies(synthetic_body)


@pytest.fixture(scope="module")
def people(body):
    """Track 0 left and near seen by a crop focal of 150; track 1 right and far seen by a crop focal of 300."""
    left = _person(body, np.array([-0.45, 0.35, 3.0]), 150.0, 0, turn=0.3)
    right = _person(body, np.array([0.9, 0.25, 5.0]), 300.0, 1, turn=-0.4)
    return left, right


@pytest.fixture(scope="module")
def results_files(tmp_path_factory, people):
    """The same two frames saved with vertices (``--save-vertices``) and without (infer's default)."""
    folder = tmp_path_factory.mktemp("view")
    left, right = people
    frames = [[left], [left, right]]
    _write(folder / "with_vertices.npz", frames, keep_vertices=True)
    _write(folder / "default.npz", frames, keep_vertices=False)
    _write(folder / "json" / "default.npz", frames, keep_vertices=False, json=True)
    return folder / "with_vertices.npz", folder / "default.npz", folder / "json" / "default.json"


def _check_in_scene_camera(scene, people) -> None:
    """Served geometry: the scene camera, each person at its scene translation, on its own 2D joints (< 1 px)."""
    np.testing.assert_allclose(scene.meta()["focal"], SCENE_F)
    np.testing.assert_allclose(scene.meta()["princpt"], SCENE_C)
    served = scene.vertices(1)
    assert served.shape == (2, 10475, 3)
    for p, v in zip(people, served):
        np.testing.assert_allclose(v, p.vertices_scene, atol=1e-5)  # metres: the scene camera's 3D, not the crop's
        for j, vid in VERTEX_JOINTS:
            err = np.abs(_project(v[vid].astype(np.float64), SCENE_F, SCENE_C) - p.joints_2d[j]).max()
            assert err < 1.0, (p.track_id, SMPLX_137.names[j], err)  # pixels


def test_people_are_drawn_in_the_scene_camera(results_files, people, synthetic_body, bodies):
    # Two people seen by crop focals 150 and 300: served in the file's one scene camera, each where it projects.
    scene = open_scene(results_files[0], bodies)
    _check_in_scene_camera(scene, people)
    assert scene.meta()["camera"] == "the scene camera of the results"


def test_meshes_posed_from_parameters_when_not_saved(results_files, people, synthetic_body, monkeypatch, bodies):
    for path in results_files[1:]:  # .npz and .json
        _check_in_scene_camera(open_scene(path, bodies), people)
    # Batches of frames, and a bounded cache: with room for one frame only, older frames are dropped.
    monkeypatch.setattr(scenes_module, "CACHE_BYTES", 1)
    scene = open_scene(results_files[1], bodies)
    assert len(scene.vertices(0)) == 1 and len(scene._cache) == 1
    assert len(scene.vertices(1)) == 2 and list(scene._cache) == [1]


def test_results_from_before_the_scene_camera(tmp_path, people, synthetic_body, bodies):
    # No scene arrays: each person's own (crop) camera mapped into the first person's, every projection kept.
    for keep in (True, False):
        path = tmp_path / f"old_{keep}.npz"
        with ResultsWriter(path, meta={}, keep_vertices=keep, image_size=(W, H)) as w:
            w.add(FrameResult(index=0, time_s=0.0, width=W, height=H, people=list(people)))
        scene = open_scene(path, bodies)
        f, c = np.array(scene.meta()["focal"]), np.array(scene.meta()["princpt"])
        np.testing.assert_allclose(f, people[0].focal)
        for p, v in zip(people, scene.vertices(0)):
            want = _project(p.vertices.astype(np.float64), p.focal, p.princpt)
            np.testing.assert_allclose(_project(v.astype(np.float64), f, c), want, atol=1e-2)  # pixels


def test_body_models_found_from_env_and_config(results_files, synthetic_body, tmp_path, monkeypatch):
    path = results_files[1]  # no vertices: the body model is needed for the meshes
    for var in ("SMPLESTX_BODY_MODELS", "SMPLESTX_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="no SMPL-X body models configured"):
        make_server(path, port=0)
    monkeypatch.setenv("SMPLESTX_BODY_MODELS", str(synthetic_body))
    server = make_server(path, port=0)
    server.server_close()
    monkeypatch.delenv("SMPLESTX_BODY_MODELS")
    config = tmp_path / "config.toml"
    config.write_text(f'body_models = "{synthetic_body}"\n')
    monkeypatch.setenv("SMPLESTX_CONFIG", str(config))
    server = make_server(path, port=0)
    assert server.library.bodies.folder == synthetic_body
    server.server_close()


def test_colours_are_the_overlays(tmp_path, people, synthetic_body, bodies):
    left, right = people
    # Tracks 0..9 (more than the palette holds), then a frame of untracked people (coloured by position).
    tracked = []
    for k in range(10):
        p = Person(**{**left.__dict__, "track_id": k})
        tracked.append(p)
    untracked = [Person(**{**left.__dict__, "track_id": -1}), Person(**{**right.__dict__, "track_id": -1})]
    _write(tmp_path / "c.npz", [tracked, untracked], keep_vertices=False)
    meta = open_scene(tmp_path / "c.npz", bodies).meta()
    assert [tuple(p["color"]) for p in meta["frames"][0]["people"]] == [track_color(k) for k in range(10)]
    assert [tuple(p["color"]) for p in meta["frames"][1]["people"]] == list(DEFAULT_COLORS[:2]) == overlay_colors([-1, -1])


def _trackset(people, frames_of_track: dict[int, list[int]]) -> TrackSet:
    tracks = []
    for tid, frames in frames_of_track.items():
        p, n = people[tid], len(frames)
        rep = {k: np.repeat(np.asarray(getattr(p, k))[None], n, 0) for k in
               ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "expression")}
        tracks.append(Track(track_id=tid, frames=np.array(frames), betas=p.betas, transl=np.repeat(p.transl_scene[None], n, 0)
                            + np.arange(n)[:, None] * [0.05, 0.0, 0.0], **rep))
    return TrackSet(tracks=tracks, fps=5.0, smoothing="none", focal=SCENE_F.astype(np.float32),
                    princpt=SCENE_C.astype(np.float32), image_size=np.array([W, H]), source="missing.mp4")


def test_planted_feet_are_marked(tmp_path, people, body, bodies):
    """A track file with contacts: the page gets each person's planted foot points and the vertices they sit on."""
    from smplestx.motion.contacts import foot_points

    ts = _trackset(people, {0: [0, 1, 2], 1: [1, 2]})
    ts.tracks[0].contacts = np.array([[1, 1, 0, 0], [1, 0, 0, 1], [0, 0, 1, 1]], bool)
    ts.tracks[1].contacts = np.array([[0, 1, 0, 0], [1, 1, 1, 1]], bool)
    save_tracks(tmp_path / "feet.tracks.npz", ts)
    scene = open_scene(tmp_path / "feet.tracks.npz", bodies)
    meta = scene.meta()
    assert [[p["contacts"] for p in f["people"]] for f in meta["frames"]] == [
        [[True, True, False, False]], [[True, False, False, True], [False, True, False, False]],
        [[False, False, True, True], [True, True, True, True]]]
    # The foot points the page draws, from the served vertices, are the ones contacts are found on.
    served = scene.vertices(2)
    drawn = np.stack([[served[k][ids].mean(axis=0) for ids in meta["foot_vertices"]] for k in range(2)])
    for k, t in enumerate(ts.tracks):
        row = 2 if k == 0 else 1
        params = {n: torch.as_tensor(np.asarray(getattr(t, n))[row][None], dtype=torch.float32)
                  for n in ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose",
                            "expression", "transl")}
        with torch.no_grad():
            joints = body(**params, betas=torch.as_tensor(t.betas[None], dtype=torch.float32)).joints[0].numpy()
        np.testing.assert_allclose(drawn[k], foot_points(joints), atol=1e-5)
    # A file without contacts sends no markers.
    save_tracks(tmp_path / "plain.tracks.npz", _trackset(people, {0: [0, 1]}))
    plain = open_scene(tmp_path / "plain.tracks.npz", bodies).meta()
    assert "foot_vertices" not in plain and "contacts" not in plain["frames"][0]["people"][0]


def test_track_file_and_folder_listing(tmp_path, people, synthetic_body, bodies):
    left, right = people
    _write(tmp_path / "clip.npz", [[left], [left, right]], keep_vertices=False, meta={"source": "clip.mp4"})
    (tmp_path / "clip.json").write_text('{"format": "smplestx.results"}')  # the --json twin: not listed twice
    (tmp_path / "summary.json").write_text("{}")
    save_tracks(tmp_path / "clip.tracks.npz", _trackset(people, {0: [3, 4, 5, 6], 1: [5, 6, 8]}))
    assert [q.name for q in find_inputs(tmp_path)] == ["clip.npz", "clip.tracks.npz"]
    with pytest.raises(ViewerError, match="not a file smplestx can show"):
        find_inputs(tmp_path / "summary.json")

    scene = open_scene(tmp_path / "clip.tracks.npz", bodies)
    meta = scene.meta()
    assert [f["index"] for f in meta["frames"]] == [3, 4, 5, 6, 8]  # the timeline: every frame any track has
    assert [[p["track_id"] for p in f["people"]] for f in meta["frames"]] == [[0], [0], [0, 1], [0, 1], [1]]
    assert meta["frames"][2]["time_s"] == 1.0 and meta["fps"] == 5.0
    np.testing.assert_allclose(meta["focal"], SCENE_F)
    # Frame 6: track 0's 4th pose (moved 3 * 5 cm) and track 1's 2nd, posed by the body model.
    served = scene.vertices(3)
    np.testing.assert_allclose(served[0], left.vertices_scene + [0.15, 0, 0], atol=1e-5)
    np.testing.assert_allclose(served[1], right.vertices_scene + [0.05, 0, 0], atol=1e-5)

    server = make_server(tmp_path, port=0, body_models=synthetic_body)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = url_of(server)
        listing = json.loads(urllib.request.urlopen(url + "files.json").read())
        assert listing == {"files": [{"name": "clip.npz", "kind": "results"}, {"name": "clip.tracks.npz", "kind": "tracks"}]}
        meta = json.loads(urllib.request.urlopen(url + "f/clip.tracks.npz/meta.json").read())
        assert len(meta["frames"]) == 5 and not meta["has_keypoints"]  # a track file holds no 2D joints
        joints = json.loads(urllib.request.urlopen(url + "f/clip.npz/frame/1.json").read())["joints_2d"]
        np.testing.assert_allclose(joints[1], right.joints_2d, atol=0.051)  # per frame, rounded to 0.1 px
        raw = urllib.request.urlopen(url + "f/clip.npz/frame/1.bin").read()
        assert np.frombuffer(raw, np.float32).reshape(2, -1, 3).shape == (2, 10475, 3)
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url + "f/other.npz/meta.json")
    finally:
        server.shutdown()
        server.server_close()


def test_exported_animations_are_shown_in_the_camera_frame(tmp_path, people, synthetic_body, bodies):
    from smplestx.export import export_animation

    export_animation(_trackset(people, {1: [4, 5, 6]}), "amass,glb,bvh", synthetic_body, tmp_path, stem="clip")
    assert [q.name for q in find_inputs(tmp_path)] == ["clip_track1.amass.npz", "clip_track1.bvh", "clip_track1.glb"]
    # BVH: no shape in the file, solved from its bone offsets; its 6 decimals of centimetres allow ~1e-5 m.
    for name, frames in (("clip_track1.amass.npz", [0, 1, 2]), ("clip_track1.glb", [4, 5, 6]),
                         ("clip_track1.bvh", [0, 1, 2])):
        scene = open_scene(tmp_path / name, bodies)
        meta = scene.meta()
        assert [f["index"] for f in meta["frames"]] == frames  # AMASS keeps no frame numbers; glTF does
        assert [f["people"][0]["color"] for f in meta["frames"]] == [list(track_color(1))] * 3
        # Back from AMASS's z-up world / glTF's y-up world (and the flat-hand convention) to the track's own
        # meshes in the camera frame.
        np.testing.assert_allclose(scene.vertices(2)[0], people[1].vertices_scene + [0.10, 0, 0], atol=1e-5)


def test_a_bvh_of_another_skeleton_is_one_line(tmp_path, bodies):
    bvh = tmp_path / "mixamo.bvh"
    bvh.write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 6 Xposition Yposition Zposition Zrotation "
                   "Xrotation Yrotation\n  End Site\n  {\n    OFFSET 0 1 0\n  }\n}\nMOTION\nFrames: 1\n"
                   "Frame Time: 0.033333\n0 0 0 0 0 0\n")
    with pytest.raises(ViewerError, match="another skeleton"):
        open_scene(bvh, bodies)
    (tmp_path / "notes.bvh").write_text("not a motion file")
    with pytest.raises(ViewerError, match="not a file smplestx can show"):
        open_scene(tmp_path / "notes.bvh", bodies)


def test_other_tools_motion_files_are_framed(bodies):
    # A Meshcapade .smpl (and a third-party AMASS file) has its world origin at the person: moved in front of
    # export's nominal camera, the whole body inside the picture.
    from pathlib import Path

    data = Path(__file__).parent / "data" / "meshcapade"
    for name in ("avatar.smpl", "apose_to_handsFront_smplx.npz"):
        scene = open_scene(data / name, bodies)
        meta = scene.meta()
        assert meta["kind"] == ("smpl" if name.endswith(".smpl") else "amass") and "moved" in meta["camera"]
        v = scene.vertices(0)[0].astype(np.float64)
        uv = _project(v, np.array(meta["focal"]), np.array(meta["princpt"]))
        assert (v[:, 2] > 0.5).all() and (uv >= 0).all() and (uv <= meta["image_size"]).all(), name


def test_pictures_follow_the_timeline(tmp_path, monkeypatch):
    from smplestx.io.video import VideoWriter
    from smplestx.viewer import images as images_module
    from smplestx.viewer.images import FrameImages

    monkeypatch.setattr(images_module, "READ_AHEAD", 1)  # every jump of more than one frame seeks

    video = tmp_path / "v.mp4"
    shades = [20, 60, 100, 140, 180, 220]
    with VideoWriter(video, 5, 32, 32) as w:
        for s in shades:
            w.write(np.full((32, 32, 3), s, np.uint8))
    import cv2

    images = FrameImages(video)
    for k in (0, 1, 4, 2, 5, 3, 3):  # forward, a jump ahead (a seek), back, ahead, back, the cache
        img = cv2.imdecode(np.frombuffer(images.get(k), np.uint8), cv2.IMREAD_COLOR)
        assert abs(float(img.mean()) - shades[k]) < 8, k
    assert images.get(99) is None
    images.close()


def test_results_lookup_and_busy_port(tmp_path, results_files, synthetic_body):
    path = results_files[0]
    assert find_inputs(path) == [path]
    with pytest.raises(ViewerError, match="no results, track or animation file"):
        find_inputs(tmp_path)
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(ViewerError, match="not a file smplestx can show"):
        find_inputs(tmp_path / "x.npz")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ViewerError, match=f"port {port} on 127.0.0.1 is already in use.*--port"):
            make_server(path, port=port, body_models=synthetic_body)
        assert main(["view", str(path), "--port", str(port), "--body-models", str(synthetic_body), "--no-browser"]) == 2


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def screenshot(browser: str, url: str, shot, profile, size: tuple[int, int] = (640, 480)) -> None:
    """A headless-Chromium screenshot of ``url`` (software WebGL)."""
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--enable-unsafe-swiftshader", f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
           "--hide-scrollbars", "--virtual-time-budget=20000", f"--screenshot={shot}", url]
    subprocess.run(cmd, capture_output=True, timeout=120)


@pytest.mark.browser
def test_page_shows_the_meshes_in_chromium(tmp_path, results_files, people, synthetic_body):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium not installed (tools/install_chromium.sh installs it)")
    server = make_server(results_files[1], port=0, body_models=synthetic_body)  # infer's default: no vertices
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = url_of(server)
        shot = tmp_path / "shot.png"
        screenshot(browser, url + "?frame=1", shot, tmp_path / "profile")
    finally:
        server.shutdown()
        server.server_close()
    import cv2

    img = cv2.imread(str(shot))[..., ::-1].astype(int)  # RGB
    assert img.shape[:2] == (480, 640)
    scale = 640 / W  # the window has the image's aspect: image pixel (u, v) is screen pixel 2 * (u, v)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    colours = {"left (track 0, blue)": (b > r + 40) & (b > g + 10), "right (track 1, salmon)": (r > b + 40) & (r > g + 30)}
    for (name, mask), person in zip(colours.items(), people):
        mask[440:] = False  # the control bar
        ys, xs = np.nonzero(mask)
        uv = _project(person.vertices_scene.astype(np.float64), SCENE_F, SCENE_C) * scale
        x0, y0 = uv.min(0)
        x1, y1 = uv.max(0)
        area = (x1 - x0) * (y1 - y0)
        # The silhouette covers a plausible share of its projected box in the scene camera, and sits inside it.
        assert 0.15 * area < mask.sum() < 1.0 * area, (name, mask.sum(), area)
        inside = ((xs >= x0 - 4) & (xs <= x1 + 4) & (ys >= y0 - 4) & (ys <= y1 + 4)).mean()
        assert inside > 0.97, (name, inside)


@pytest.mark.browser
def test_a_folder_opens_on_a_list_to_pick_from(tmp_path, results_files, synthetic_body):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium not installed (tools/install_chromium.sh installs it)")
    folder = results_files[0].parent  # with_vertices.npz and default.npz
    server = make_server(folder, port=0, body_models=synthetic_body)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-unsafe-swiftshader",
               f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom", url_of(server)]
        dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    finally:
        server.shutdown()
        server.server_close()
    assert '<a href="?file=default.npz">' in dom and '<a href="?file=with_vertices.npz">' in dom, dom[-2000:]
    assert "2 files: pick one" in dom
