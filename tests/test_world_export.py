"""Animation export in the world frame: a walk filmed by a panning camera, exported from its truth, walks its true
world path in every format, and the .glb carries the filming camera."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from smplestx.body import BodyModel
from smplestx.cli import main
from smplestx.export import CAMERA_TO_AMASS, export_animation, read_bvh
from smplestx.export.amass import read_amass_motion
from smplestx.export.gltf import _read_floats, gltf_json, read_gltf_animation
from smplestx.geometry.alignment import rigid_align
from smplestx.geometry.rotations import axis_angle_to_rotmat_np, euler_zxy_to_rotmat
from smplestx.motion.tracks import load_tracks, save_tracks
from smplestx.motion.world_frame import LEVEL_CAMERA, apply_pose, place_tracks
from smplestx.synthetic.walks import truth_trackset, walk_truth

FRAMES = 30
#: Root positions of a truth input, metres. The track file stores the world roots as float32 (a few metres: ~0.5 um
#: steps), the .glb stores float32 and the BVH 6 decimals of centimetres; 0.1 mm is far above all of them and far
#: below the 0.3 m the pan makes a camera-frame root slide.
ROOT_TOL_M = 1e-4
#: Root orientations, radians (float32 axis-angle and quaternions, 6-decimal degrees in the BVH).
ROT_TOL = 1e-4


@pytest.fixture(scope="module")
def pan(body: BodyModel, tmp_path_factory) -> tuple[dict[str, np.ndarray], Path]:
    """The truth of a crossing walk filmed by a panning camera and its track file with the true world frame."""
    truth = walk_truth(body, "crossing", frames=FRAMES, fps=30.0, width=320, height=240, camera="pan")
    ts = place_tracks(truth_trackset(truth), body, np.arange(FRAMES), truth["camera_rotation"],
                      truth["camera_translation"], moving=True)
    path = save_tracks(tmp_path_factory.mktemp("pan") / "pan.tracks.npz", ts)
    return truth, path


def _true_pelvis_world(body: BodyModel, truth: dict[str, np.ndarray], pid: int) -> tuple[np.ndarray, np.ndarray]:
    """The pelvis path (T, 3) and root rotations (T, 3, 3) of one person in the world: the camera-frame body model
    moved by each frame's true camera (not through the world fields the export reads)."""
    rows = np.flatnonzero(truth["person_id"] == pid)
    with torch.no_grad():
        out = body(global_orient=torch.as_tensor(truth["global_orient"][rows], dtype=torch.float64),
                   body_pose=torch.as_tensor(truth["body_pose"][rows], dtype=torch.float64),
                   betas=torch.as_tensor(truth["betas"][rows], dtype=torch.float64),
                   transl=torch.as_tensor(truth["transl"][rows], dtype=torch.float64))
    f = truth["frame"][rows]
    r, t = truth["camera_rotation"][f], truth["camera_translation"][f]
    pelvis = apply_pose(r, t, out.joints[:, :1].numpy())[:, 0]
    return pelvis, r @ axis_angle_to_rotmat_np(truth["global_orient"][rows].astype(np.float64))


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.arccos(np.clip((np.trace(np.swapaxes(a, -1, -2) @ b, axis1=-2, axis2=-1) - 1) / 2, -1, 1))


@pytest.fixture(scope="module")
def exported(pan, synthetic_body: Path, tmp_path_factory) -> dict[str, Path]:
    _, path = pan
    out = tmp_path_factory.mktemp("exports")
    for frame in ("world", "camera"):
        assert main(["export", str(path), "--body-models", str(synthetic_body), "--output", str(out / frame),
                     "--format", "glb,bvh,amass", "--feet", "none", "--frame", frame]) == 0
    return {"world": out / "world", "camera": out / "camera"}


def test_world_export_walks_the_true_world_path(pan, exported, body: BodyModel) -> None:
    truth, _ = pan
    worst = {"glb": 0.0, "bvh": 0.0, "amass": 0.0}
    for pid in np.unique(truth["person_id"]):
        pelvis, root = _true_pelvis_world(body, truth, pid)
        stem = exported["world"] / f"pan_track{pid}"
        anim = read_gltf_animation(stem.with_name(stem.name + ".glb"))  # the glTF world is the world (y up)
        assert anim.extras["frame"] == "world"
        glb_rot = Rotation.from_quat(anim.rotations[:, 0]).as_matrix()
        bvh = read_bvh(stem.with_name(stem.name + ".bvh"))
        assert bvh.channels[0][:3] == ["Xposition", "Yposition", "Zposition"]
        bvh_pos = bvh.motion[:, :3] / 100.0
        bvh_rot = euler_zxy_to_rotmat(torch.as_tensor(np.radians(bvh.motion[:, 3:6]))).numpy()
        motion, _ = read_amass_motion(stem.with_name(stem.name + ".amass.npz"))
        # AMASS is the world turned z up: the writer's camera -> AMASS rotation after the level camera's.
        to_amass = CAMERA_TO_AMASS @ LEVEL_CAMERA
        rest_pelvis = body(betas=torch.as_tensor(motion.betas[None])).joints[0, 0].detach().numpy()
        amass_pos = (motion.trans + rest_pelvis) @ to_amass  # back to the world: (A^T x) per row
        amass_rot = to_amass.T @ axis_angle_to_rotmat_np(motion.poses[:, 0])
        for name, pos, rot in (("glb", anim.root_position, glb_rot), ("bvh", bvh_pos, bvh_rot),
                               ("amass", amass_pos, amass_rot)):
            err = np.linalg.norm(pos - pelvis, axis=1).max()
            worst[name] = max(worst[name], err)
            assert err < ROOT_TOL_M, (name, pid, err)
            assert _angle(rot, root).max() < ROT_TOL, (name, pid)
        assert np.abs(pelvis[:, 1] - pelvis[0, 1]).max() < 0.05  # sanity: a walker on the floor keeps its height
    print("world root path error, m:", worst)


def test_camera_export_slides_with_the_pan(pan, exported, body: BodyModel) -> None:
    truth, _ = pan
    for pid in np.unique(truth["person_id"]):
        pelvis, _ = _true_pelvis_world(body, truth, pid)
        stem = exported["camera"] / f"pan_track{pid}"
        anim = read_gltf_animation(stem.with_name(stem.name + ".glb"))
        assert "frame" not in anim.extras
        # No fixed rigid placement of the camera-frame path matches the world path: the pan turned it over time
        # (13 deg in this second). The best placement absorbs the mean turn; 2 cm of slide is left at least (3.4 cm
        # measured), 200 times the world export's tolerance.
        aligned = rigid_align(anim.root_position, pelvis)
        residual = np.linalg.norm(aligned - pelvis, axis=1).max()
        print(f"camera-frame root path after the best rigid placement: {residual:.4f} m off the world path")
        assert residual > 0.02, residual
        bvh = read_bvh(stem.with_name(stem.name + ".bvh"))
        assert np.linalg.norm(rigid_align(bvh.motion[:, :3] / 100.0, pelvis) - pelvis, axis=1).max() > 0.02


def test_glb_camera_node_follows_the_true_camera(pan, exported) -> None:
    import pygltflib as gl

    truth, _ = pan
    pid = int(np.unique(truth["person_id"])[0])
    path = exported["world"] / f"pan_track{pid}.glb"
    doc = gl.GLTF2().load(str(path))
    data = doc.binary_blob()
    (cam,) = [i for i, n in enumerate(doc.nodes) if n.camera is not None]
    assert cam in doc.scenes[0].nodes and doc.nodes[cam].name == "camera"
    persp = doc.cameras[doc.nodes[cam].camera].perspective
    fy, (w, h) = float(truth["focal"][1]), truth["image_size"]
    assert persp.yfov == pytest.approx(2 * np.arctan(h / 2 / fy), rel=1e-6)
    assert persp.aspectRatio == pytest.approx(w / h, rel=1e-6)
    # The video's frame, which glTF has no field for (Blender's FBX conversion sets the render resolution from it).
    assert doc.cameras[doc.nodes[cam].camera].extras == {"image_size": [int(w), int(h)],
                                                         "focal": [float(x) for x in truth["focal"]]}
    anim = doc.animations[0]
    keys = {ch.target.path: anim.samplers[ch.sampler] for ch in anim.channels if ch.target.node == cam}
    times = _read_floats(doc, data, keys["translation"].input)[:, 0]
    rows = np.flatnonzero(truth["person_id"] == pid)
    first, last = truth["frame"][rows[0]], truth["frame"][rows[-1]]
    frames = np.arange(first, last + 1)
    np.testing.assert_allclose(times, (frames - first) / 30.0, atol=1e-6)
    pos = _read_floats(doc, data, keys["translation"].output)
    np.testing.assert_allclose(pos, truth["camera_translation"][frames], atol=1e-6)
    node = Rotation.from_quat(_read_floats(doc, data, keys["rotation"].output)).as_matrix()
    r = truth["camera_rotation"][frames]
    # A glTF camera looks down its -z with +y up; the OpenCV camera looks down +z with y down.
    np.testing.assert_allclose(node @ [0.0, 0.0, -1.0], r[:, :, 2], atol=1e-6)
    np.testing.assert_allclose(node @ [0.0, 1.0, 0.0], -r[:, :, 1], atol=1e-6)
    np.testing.assert_allclose(node @ [1.0, 0.0, 0.0], r[:, :, 0], atol=1e-6)
    assert _angle(r[0], r[-1]) > np.radians(5)  # the pan turned the camera: a still node would fail above


def test_default_frame_is_the_inputs_world(pan, exported, synthetic_body: Path, tmp_path: Path) -> None:
    _, path = pan
    report = export_animation(path, "glb", synthetic_body, tmp_path, feet="none")
    for tid, files in report.files.items():
        a = read_gltf_animation(files["glb"])
        b = read_gltf_animation(exported["world"] / f"pan_track{tid}.glb")
        np.testing.assert_array_equal(a.root_position, b.root_position)


def test_camera_frame_ignores_the_world(pan, exported, synthetic_body: Path, tmp_path: Path) -> None:
    _, path = pan
    ts = load_tracks(path)
    plain = replace(ts, camera_frames=None, camera_rotation=None, camera_translation=None, camera="none",
                    camera_segments=None, tracks=[replace(t, global_orient_world=None, transl_world=None) for t in ts.tracks])
    stripped = save_tracks(tmp_path / "pan.tracks.npz", plain)
    assert main(["export", str(stripped), "--body-models", str(synthetic_body), "--output", str(tmp_path / "o"),
                 "--format", "glb,bvh,amass", "--feet", "none"]) == 0
    for a in sorted(exported["camera"].iterdir()):
        assert a.read_bytes() == (tmp_path / "o" / a.name).read_bytes(), a.name


def test_a_world_without_a_floor_is_the_first_cameras_frame(pan, synthetic_body: Path, tmp_path: Path,
                                                              body: BodyModel) -> None:
    """Without a floor (infer --feet none) the world is the first camera's (y down): written as that camera's frame
    is, upright, with the camera node starting as glTF's default camera (at the origin, looking down -z)."""
    import pygltflib as gl

    from smplestx.export import read_gltf_joints

    truth, _ = pan
    r0, t0 = truth["camera_rotation"][0], truth["camera_translation"][0]
    rel_r = r0.T @ truth["camera_rotation"]
    rel_t = (truth["camera_translation"] - t0) @ r0
    ts = place_tracks(replace(truth_trackset(truth), floor=None), body, np.arange(FRAMES), rel_r, rel_t, moving=True)
    report = export_animation(ts, "glb", synthetic_body, tmp_path, feet="none", stem="pan")
    flip = np.diag([1.0, -1.0, -1.0])
    for tid, files in report.files.items():
        pelvis, _ = _true_pelvis_world(body, truth, tid)
        anim = read_gltf_animation(files["glb"])
        assert anim.extras["frame"] == "world" and anim.extras["world_from_camera"].startswith("diag(1, -1, -1)")
        expected = (pelvis - t0) @ r0 @ flip  # world -> first camera -> glTF
        assert np.linalg.norm(anim.root_position - expected, axis=1).max() < ROOT_TOL_M
        _, joints = read_gltf_joints(files["glb"])
        assert (joints[:, 15, 1] - joints[:, 0, 1] > 0.3).all()  # upright (head over pelvis), not upside down
        doc = gl.GLTF2().load(str(files["glb"]))
        cam = doc.nodes[next(i for i, n in enumerate(doc.nodes) if n.camera is not None)]
        if anim.frames[0] == 0:
            np.testing.assert_allclose(cam.translation, 0.0, atol=1e-6)
            np.testing.assert_allclose(cam.rotation, [0.0, 0.0, 0.0, 1.0], atol=1e-6)


def test_world_frame_without_a_world_is_one_line(pan, synthetic_body: Path, tmp_path: Path, capsys) -> None:
    truth, _ = pan
    plain = save_tracks(tmp_path / "plain.tracks.npz", truth_trackset(truth))
    out = tmp_path / "out"
    assert main(["export", str(plain), "--body-models", str(synthetic_body), "--output", str(out),
                 "--frame", "world"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--frame camera" in err and "plain.tracks.npz" in err
    assert not out.exists() or not any(out.iterdir())
    # Without --frame, such a file exports in the camera frame, as before.
    assert main(["export", str(plain), "--body-models", str(synthetic_body), "--output", str(out),
                 "--format", "glb", "--feet", "none"]) == 0
    assert "frame" not in gltf_json(next(out.glob("*.glb")))["asset"]["extras"]["smplestx"]


def test_smoothing_in_the_world_filters_the_world_roots_and_the_camera(pan, body: BodyModel) -> None:
    from smplestx.motion.smoothing import smooth

    truth, path = pan
    ts = load_tracks(path)
    rng = np.random.default_rng(0)
    noisy = replace(ts, camera_translation=ts.camera_translation + rng.normal(0, 0.01, ts.camera_translation.shape),
                    tracks=[replace(t, transl_world=t.transl_world + rng.normal(0, 0.02, t.transl_world.shape)
                                    .astype(np.float32)) for t in ts.tracks])
    out = smooth(noisy, "gaussian(sigma=2)", world=True)
    inner = slice(4, -4)  # away from the ends, where a window sees one side only
    cam_before = np.abs(noisy.camera_translation - truth["camera_translation"])[inner].mean()
    cam_after = np.abs(out.camera_translation - truth["camera_translation"])[inner].mean()
    assert cam_after < 0.5 * cam_before
    np.testing.assert_allclose(out.camera_rotation @ np.swapaxes(out.camera_rotation, 1, 2),
                               np.broadcast_to(np.eye(3), out.camera_rotation.shape), atol=1e-9)
    # A smooth pan stays put inside (a window cut at an end sees one side of the turn: 0.7 deg off at frame 0).
    assert _angle(out.camera_rotation, truth["camera_rotation"])[inner].max() < np.radians(0.2)
    for clean, before, after in zip(ts.tracks, noisy.tracks, out.tracks):
        e0 = np.abs(before.transl_world - clean.transl_world)[inner].mean()
        e1 = np.abs(after.transl_world - clean.transl_world)[inner].mean()
        assert e1 < 0.5 * e0
        assert _angle(axis_angle_to_rotmat_np(after.global_orient_world),
                      axis_angle_to_rotmat_np(clean.global_orient_world)).max() < np.radians(3)
    # Without ``world`` the world roots go, stale (the behaviour infer's smoothing before placement relies on).
    assert all(t.transl_world is None for t in smooth(ts, "gaussian").tracks)


def test_export_smooth_in_the_world_keeps_the_walk_on_its_line(pan, synthetic_body: Path, tmp_path: Path,
                                                               body: BodyModel) -> None:
    truth, path = pan
    report = export_animation(path, "glb", synthetic_body, tmp_path, feet="none", smooth="gaussian(sigma=2)",
                              frame="world")
    for tid, files in report.files.items():
        pelvis, _ = _true_pelvis_world(body, truth, tid)
        anim = read_gltf_animation(files["glb"])
        assert anim.extras["smoothing"] == "gaussian(sigma=2)" and anim.extras["frame"] == "world"
        # Seen from above, a walk at steady speed on a straight line is a fixed point of a symmetric filter (inside);
        # the camera-frame root of the same walk bends with the pan, so smoothing it there would not keep it so.
        horizontal = np.linalg.norm((anim.root_position - pelvis)[:, [0, 2]], axis=1)[4:-4]
        assert horizontal.max() < 2e-3, horizontal.max()


def test_world_export_with_feet_pinned_in_the_world(pan, synthetic_body: Path, tmp_path: Path,
                                                    body: BodyModel) -> None:
    from smplestx.export import read_gltf_joints

    truth, path = pan
    report = export_animation(path, "glb", synthetic_body, tmp_path, feet="pin", frame="world")
    for tid, files in report.files.items():
        pelvis, _ = _true_pelvis_world(body, truth, tid)
        anim = read_gltf_animation(files["glb"])
        # The truth's feet already stand on the floor: pinning in the world nudges the root by centimetres at most.
        assert np.linalg.norm(anim.root_position - pelvis, axis=1).max() < 0.03
        _, joints = read_gltf_joints(files["glb"])
        ankles = joints[:, [7, 8]]  # left, right ankle in the world (y up)
        step = np.linalg.norm(np.diff(ankles, axis=0), axis=-1)
        planted = step < 0.01  # frames where an ankle barely moves: a planted foot, in the world
        assert planted.sum() >= 5 and np.median(step[planted]) < 2e-3
        # Pinned in a moving camera instead, a planted ankle would slide with the pan (centimetres per frame here).
        assert ankles[..., 1].min() > -0.01  # nothing below the world's floor (y = 0)


def test_mcs_in_the_world_carries_the_moving_camera(pan, synthetic_body: Path, tmp_path: Path) -> None:
    import base64

    pytest.importorskip("smplcodec")
    truth, path = pan
    report = export_animation(path, "mcs", synthetic_body, tmp_path, feet="none", frame="world")
    gltf = json.loads(report.scene.read_text())
    (cam,) = [i for i, n in enumerate(gltf["nodes"]) if "camera" in n]
    keys = {ch["target"]["path"]: a["samplers"][ch["sampler"]] for a in gltf["animations"] for ch in a["channels"]
            if ch["target"]["node"] == cam}

    def floats(index: int, width: int) -> np.ndarray:
        view = gltf["bufferViews"][gltf["accessors"][index]["bufferView"]]
        raw = base64.b64decode(gltf["buffers"][view["buffer"]]["uri"].split(",", 1)[1])
        return np.frombuffer(raw, "<f4", offset=view.get("byteOffset", 0)).reshape(-1, width)

    pos, quat = floats(keys["translation"]["output"], 3), floats(keys["rotation"]["output"], 4)
    assert len(pos) == FRAMES
    np.testing.assert_allclose(pos, truth["camera_translation"], atol=1e-5)
    node = Rotation.from_quat(quat).as_matrix()
    np.testing.assert_allclose(node @ [0.0, 0.0, -1.0], truth["camera_rotation"][:, :, 2], atol=1e-5)
    np.testing.assert_allclose(node @ [0.0, 1.0, 0.0], -truth["camera_rotation"][:, :, 1], atol=1e-5)


def _validator_dir() -> Path | None:
    import os

    env = os.environ.get("SMPLESTX_GLTF_VALIDATOR")
    return Path(env) if env and (Path(env) / "package.json").is_file() else None


def test_khronos_gltf_validator_accepts_the_camera_node(exported) -> None:
    from test_animation_export import _VALIDATE_JS

    validator = _validator_dir()
    if validator is None or shutil.which("node") is None:
        pytest.skip("Khronos glTF validator not found: `npm install gltf-validator` in a folder and set "
                    "SMPLESTX_GLTF_VALIDATOR=that/node_modules/gltf-validator (needs node)")
    for glb in sorted(exported["world"].glob("*.glb")):
        proc = subprocess.run(["node", "-e", _VALIDATE_JS, str(validator), str(glb)], capture_output=True,
                              text=True, timeout=120, check=True)
        issues = json.loads(proc.stdout)
        assert (issues["numErrors"], issues["numWarnings"], issues["numInfos"]) == (0, 0, 0), issues["messages"][:5]


def test_export_smooth_in_the_world_never_crosses_a_cut(pan, synthetic_body: Path, tmp_path: Path) -> None:
    """A track file of two shots (a cut at frame 15; the second shot's world 3 m off the first) whose tracks still
    cross the cut (a file another tool wrote): ``export --smooth --frame world`` filters each shot on its own."""
    import pygltflib as gl

    from smplestx.motion.smoothing import smooth

    _, path = pan
    ts = load_tracks(path)
    cut, offset = 15, np.array([3.0, 0.0, 0.0])
    segments = np.array([[0, cut], [cut, FRAMES]])

    def shifted(by: np.ndarray, segs: np.ndarray | None) -> Path:
        late = ts.camera_frames >= cut
        moved = replace(ts, camera_segments=segs, camera_translation=ts.camera_translation + late[:, None] * by,
                        tracks=[replace(t, transl_world=(t.transl_world + (t.frames >= cut)[:, None] * by)
                                        .astype(np.float32)) for t in ts.tracks])
        return save_tracks(tmp_path / f"{len(segs) if segs is not None else 1}_{by[0]:g}.tracks.npz", moved)

    def roots(file: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Each exported track's root path and its camera node's positions, in the .glb (the world, y up)."""
        report = export_animation(file, "glb", synthetic_body, tmp_path / file.stem, feet="none",
                                  smooth="gaussian(sigma=2)", frame="world")
        out = {}
        for tid, files in report.files.items():
            doc = gl.GLTF2().load(str(files["glb"]))
            (cam,) = [i for i, n in enumerate(doc.nodes) if n.camera is not None]
            anim = doc.animations[0]
            (key,) = [anim.samplers[ch.sampler] for ch in anim.channels
                      if ch.target.node == cam and ch.target.path == "translation"]
            out[tid] = (read_gltf_animation(files["glb"]).root_position, _read_floats(doc, doc.binary_blob(), key.output))
        return out

    still = roots(shifted(np.zeros(3), segments))
    cut_off = roots(shifted(offset, segments))
    blended = roots(shifted(offset, None))  # the same jump in one world: smoothing crosses it
    for t in ts.tracks:
        late = (t.frames >= cut)[:, None]
        assert late.any() and not late.all()  # the track crosses the cut
        # Each shot is filtered on its own: shifting the second shot's world shifts its roots, nothing else.
        np.testing.assert_allclose(cut_off[t.track_id][0] - late * offset, still[t.track_id][0], atol=1e-4)
        assert np.abs(blended[t.track_id][0] - late * offset - still[t.track_id][0]).max() > 0.5  # the test can fail
        # ... and so is the camera node (one key per frame of the track's span).
        cam_late = (np.arange(t.frames[0], t.frames[-1] + 1) >= cut)[:, None]
        np.testing.assert_allclose(cut_off[t.track_id][1] - cam_late * offset, still[t.track_id][1], atol=1e-4)
    # smooth() itself: the camera path is filtered per segment.
    a = smooth(load_tracks(shifted(offset, segments)), "gaussian(sigma=2)", world=True)
    b = smooth(load_tracks(shifted(np.zeros(3), segments)), "gaussian(sigma=2)", world=True)
    np.testing.assert_allclose(a.camera_translation - (ts.camera_frames >= cut)[:, None] * offset,
                               b.camera_translation, atol=1e-9)
