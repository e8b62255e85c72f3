"""Animation export: glTF / BVH / AMASS round trips against the body model, the CLI's errors, the glTF validator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.export import (
    CAMERA_TO_AMASS,
    JOINT_NAMES,
    build_skeleton,
    densify,
    export_animation,
    read_bvh,
    read_gltf_joints,
    skinning_error,
    top_influences,
)
from smplestx.export.gltf import gltf_json
from smplestx.body import BodyModel
from smplestx.errors import UsageError
from smplestx.cli import main
from smplestx.io.meshes import CAMERA_TO_GLTF
from smplestx.io.results import ResultsWriter
from smplestx.motion.tracks import Track, TrackSet, save_tracks
from smplestx.geometry.rotations import axis_angle_to_rotmat
from smplestx.io.results import FrameResult, Person

POSE_KEYS = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas", "expression",
             "transl")
TOL_M = 1e-4


def make_track(track_id: int, frames: list[int], seed: int, expression_scale: float = 1.0) -> Track:
    """A random but plausible track (camera frame: person upside-down-corrected, ~4 m in front)."""
    rng = np.random.default_rng(seed)
    t = len(frames)

    def r(*shape: int, s: float) -> np.ndarray:
        return (rng.standard_normal((t, *shape)) * s).astype(np.float32)

    go = r(3, s=0.3) + np.array([np.pi, 0, 0], np.float32)
    return Track(track_id=track_id, frames=np.asarray(frames, np.int64), global_orient=go, body_pose=r(21, 3, s=0.3),
                 left_hand_pose=r(15, 3, s=0.3), right_hand_pose=r(15, 3, s=0.3), jaw_pose=r(3, s=0.2),
                 betas=rng.standard_normal(10).astype(np.float32),
                 expression=r(10, s=expression_scale), transl=r(3, s=0.3) + np.array([0, 0, 4], np.float32))


def trackset(*tracks: Track, fps: float = 25.0) -> TrackSet:
    return TrackSet(tracks=list(tracks), fps=fps, smoothing="none", focal=np.array([600.0, 600.0]),
                    princpt=np.array([320.0, 240.0]), image_size=np.array([640, 480]), source="clip.mp4")


def posed_joints(body: BodyModel, track: Track) -> np.ndarray:
    """Body model joints (T, 55, 3), camera frame."""
    with torch.no_grad():
        out = body(**{k: torch.as_tensor(np.asarray(getattr(track, k)), dtype=torch.float64) for k in POSE_KEYS})
    return out.joints_55.numpy()


#: Index of ``left_ring1`` in a hand pose (15 joints: index, middle, pinky, ring, thumb; 3 each).
RING1 = 9


def with_finger_near_180_degrees(track: Track) -> Track:
    """Put one finger near 180 deg, its axis-angle switching sign from frame to frame as a network's output does.

    +n(pi - e) and -n(pi - e) are nearly the same rotation, but the body model adds the hand mean to the
    axis-angle vector, so the two give very different fingers: an exporter must keep each frame's vector as it is.
    """
    n = np.array([0.6, 0.0, 0.8], np.float32)
    signs = np.where(np.arange(len(track)) % 2 == 0, 1.0, -1.0).astype(np.float32)
    track.left_hand_pose[:, RING1] = signs[:, None] * n * np.float32(np.pi - 0.02)
    return track


def observed(track: Track) -> np.ndarray:
    """Positions of the track's own frames among the dense frames of an exported file."""
    return np.asarray(track.frames - track.frames[0])


@pytest.fixture(scope="module")
def exported(tmp_path_factory, synthetic_body: Path):
    """One export of two tracks (one with gaps, varying expression and a finger near 180 deg; one of a single frame)."""
    out = tmp_path_factory.mktemp("anim")
    gappy = with_finger_near_180_degrees(make_track(3, [10, 11, 12, 14, 17], seed=1))
    ts = trackset(gappy, make_track(8, [40], seed=2))
    report = export_animation(ts, "glb,bvh,amass", synthetic_body, out, stem="clip")
    return ts, report, out


def test_files_are_named_per_track(exported) -> None:
    _, report, out = exported
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"clip_track{i}{s}" for i in (3, 8) for s in (".glb", ".bvh", ".amass.npz"))
    assert set(report.files) == {3, 8}


def test_gltf_joints_equal_the_body_model(exported, body: BodyModel) -> None:
    ts, report, _ = exported
    for track in ts.tracks:
        names, joints = read_gltf_joints(report.files[track.track_id]["glb"])
        assert tuple(names) == JOINT_NAMES
        assert names[:3] == ["pelvis", "left_hip", "right_hip"]
        assert joints.shape == (track.frames[-1] - track.frames[0] + 1, 55, 3)
        # The track's own frames, against the body model on the track itself (not on a gap-filled copy).
        want = posed_joints(body, track) @ CAMERA_TO_GLTF.T.astype(np.float64)
        # float32 keys: ~1e-7 m; expression-driven offsets are keyed too, so this holds with expressions on.
        assert np.abs(joints[observed(track)] - want).max() < TOL_M


def test_gltf_layout(exported) -> None:
    ts, report, _ = exported
    doc = gltf_json(report.files[3]["glb"])
    prim = doc["meshes"][0]["primitives"][0]
    assert set(prim["attributes"]) == {"POSITION", "NORMAL", "JOINTS_0", "WEIGHTS_0"}
    assert len(prim["targets"]) == 10 and doc["meshes"][0]["extras"]["targetNames"][0] == "Exp000"
    anim = doc["animations"][0]
    paths = {(c["target"]["node"], c["target"]["path"]) for c in anim["channels"]}
    assert all((j, "rotation") in paths for j in range(55)) and (0, "translation") in paths
    times = doc["accessors"][anim["samplers"][0]["input"]]
    # Track frames 10..17 densified to 8 keys at 25 fps.
    assert times["count"] == 8 and times["min"] == [0.0] and times["max"][0] == pytest.approx(7 / 25, abs=1e-6)
    assert doc["asset"]["extras"]["smplestx"]["track_id"] == 3


def test_bvh_joints_equal_the_body_model_for_constant_expression(tmp_path: Path, body: BodyModel,
                                                                 synthetic_body: Path) -> None:
    track = make_track(0, list(range(6)), seed=5)
    track.expression[:] = track.expression[0]  # offsets are fixed in BVH: exact when the expression is
    rep = export_animation(trackset(track, fps=30), "bvh", synthetic_body, tmp_path, stem="c")
    bvh = read_bvh(rep.files[0]["bvh"])
    assert bvh.names[0] == "pelvis" and bvh.parents[0] == -1
    assert bvh.channels[0] == ["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]
    assert all(c == ["Zrotation", "Xrotation", "Yrotation"] for c in bvh.channels[1:])
    assert bvh.frame_time == pytest.approx(1 / 30)
    order = [bvh.names.index(n) for n in JOINT_NAMES]
    got = bvh.world_positions()[:, order] / 100.0  # centimetres
    want = posed_joints(body, track) @ CAMERA_TO_GLTF.T.astype(np.float64)
    assert np.abs(got - want).max() < TOL_M


def test_bvh_joints_equal_the_body_model_with_varying_expression(exported, body: BodyModel) -> None:
    ts, report, _ = exported
    track = ts.track(3)
    bvh = read_bvh(report.files[3]["bvh"])
    order = [bvh.names.index(n) for n in JOINT_NAMES]
    got = bvh.world_positions()[:, order][observed(track)] / 100.0
    assert np.abs(got - posed_joints(body, track) @ CAMERA_TO_GLTF.T).max() < TOL_M
    # The expression moves the jaw's rest offset (the synthetic model's only face joint with expression weights):
    # it carries its offset per frame in position channels; joints it does not move keep rotations only.
    moving = {bvh.names[j] for j, c in enumerate(bvh.channels) if j > 0 and "Xposition" in c}
    assert moving == {"jaw"}
    assert bvh.channels[bvh.names.index("jaw")] == ["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation",
                                                   "Yrotation"]


def test_bvh_is_exact_where_expression_moves_the_head_jaw_and_eyes(tmp_path: Path, parity_body: Path) -> None:
    """On the parity model the expression moves head, jaw and eyes by centimetres: fixed offsets were 65 mm off."""
    body = BodyModel.from_dir(parity_body, dtype=torch.float64)
    track = make_track(0, [0, 1, 2, 4], seed=41)
    rep = export_animation(trackset(track), "bvh", parity_body, tmp_path, stem="p")
    bvh = read_bvh(rep.files[0]["bvh"])
    moving = {bvh.names[j] for j, c in enumerate(bvh.channels) if j > 0 and "Xposition" in c}
    assert {"head", "jaw", "left_eye_smplhf", "right_eye_smplhf"} <= moving
    order = [bvh.names.index(n) for n in JOINT_NAMES]
    got = bvh.world_positions()[:, order][observed(track)] / 100.0
    assert np.abs(got - posed_joints(body, track) @ CAMERA_TO_GLTF.T).max() < TOL_M


def test_amass_keys_and_joints(exported, body: BodyModel, synthetic_body: Path) -> None:
    ts, report, _ = exported
    track = ts.track(3)
    with np.load(report.files[3]["amass"], allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    t = int(track.frames[-1] - track.frames[0] + 1)
    for key in ("trans", "gender", "mocap_frame_rate", "betas", "poses"):  # what the Blender add-on requires
        assert key in a
    assert a["poses"].shape == (t, 165) and a["trans"].shape == (t, 3) and a["betas"].shape == (10,)
    assert str(a["gender"]) == "neutral" and str(a["surface_model_type"]) == "smplx"
    assert float(a["mocap_frame_rate"]) == 25.0 and float(a["mocap_time_length"]) == pytest.approx(t / 25)
    np.testing.assert_array_equal(a["pose_hand"], a["poses"][:, 75:])
    np.testing.assert_array_equal(a["pose_eye"], 0.0)
    # AMASS convention: flat-hand layer (hand poses include the mean), z-up world.
    flat = BodyModel.from_dir(synthetic_body, dtype=torch.float64, flat_hand_mean=True)
    p = torch.as_tensor(a["poses"]).reshape(t, 55, 3)
    with torch.no_grad():
        got = flat(global_orient=p[:, 0], body_pose=p[:, 1:22], jaw_pose=p[:, 22], leye_pose=p[:, 23],
                   reye_pose=p[:, 24], left_hand_pose=p[:, 25:40], right_hand_pose=p[:, 40:55],
                   betas=torch.as_tensor(a["betas"])[None].expand(t, -1), expression=torch.as_tensor(a["expression"]),
                   transl=torch.as_tensor(a["trans"])).joints_55.numpy()
    want = posed_joints(body, track) @ CAMERA_TO_AMASS.T
    assert np.abs(got[observed(track)] - want).max() < TOL_M
    # z up: the (upright) person's head is above the pelvis.
    assert (got[:, 15, 2] > got[:, 0, 2]).all()


def test_top_influences_and_skinning_error(exported, body: BodyModel) -> None:
    w = np.array([[0.1, 0.4, 0.05, 0.3, 0.15, 0.0], [1.0, 0, 0, 0, 0, 0]])
    w4, idx = top_influences(w)
    np.testing.assert_array_equal(idx[0], [1, 3, 4, 0])
    np.testing.assert_allclose(w4[0], np.array([0.4, 0.3, 0.15, 0.1]) / 0.95)
    np.testing.assert_array_equal(idx[1], [0, 0, 0, 0])  # unused slots name joint 0 with weight 0
    np.testing.assert_array_equal(w4[1], [1, 0, 0, 0])
    ts, _, _ = exported
    skel = build_skeleton(ts.track(3), body)
    # The synthetic model has <= 4 influences per vertex: the 4-influence skin is exact there ...
    assert skinning_error(skel)["max_m"] < 1e-9
    # ... and spreading weight onto more joints makes it measurable.
    rng = np.random.default_rng(0)
    spread = skel.weights + 0.02 * rng.random(skel.weights.shape)
    skel.weights = spread / spread.sum(axis=1, keepdims=True)
    assert skinning_error(skel)["max_m"] > 1e-3


def write_results(path: Path, frames: list[list[tuple[int, Track, int]]], fps: float | None) -> None:
    """A results file: per frame, (track id, track, row) triples taken from tracks."""
    with ResultsWriter(path, meta={"source": "x", "fps": fps}) as w:
        for i, people in enumerate(frames):
            ps = []
            for tid, tr, row in people:
                z = np.zeros
                ps.append(Person(box_xyxy=z(4, np.float32), score=1.0, track_id=tid, crop_box_xywh=z(4, np.float32),
                                 **{k: np.asarray(getattr(tr, k)[row] if k != "betas" else tr.betas, np.float32)
                                    for k in POSE_KEYS},
                                 focal=np.array([600, 600], np.float32), princpt=np.array([320, 240], np.float32),
                                 joints_3d=z((137, 3), np.float32), joints_2d=z((137, 2), np.float32)))
            w.add(FrameResult(index=i, time_s=i / (fps or 1), width=640, height=480, people=ps))


def test_single_image_results_export_one_frame_tracks(tmp_path: Path, body: BodyModel, synthetic_body: Path) -> None:
    a, b = make_track(0, [0], seed=11), make_track(0, [0], seed=12)
    write_results(tmp_path / "img.npz", [[(-1, a, 0), (-1, b, 0)]], fps=None)
    out = tmp_path / "out"
    assert main(["export", str(tmp_path / "img.npz"), "--body-models", str(synthetic_body), "--output", str(out),
                 "--format", "glb,bvh"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["img_track0.bvh", "img_track0.glb", "img_track1.bvh",
                                                     "img_track1.glb"]
    _, joints = read_gltf_joints(out / "img_track1.glb")
    assert joints.shape == (1, 55, 3)
    assert np.abs(joints[0] - posed_joints(body, b)[0] @ CAMERA_TO_GLTF.T).max() < TOL_M
    assert read_bvh(out / "img_track0.bvh").motion.shape == (1, 6 + 54 * 3)


def test_tracked_results_group_by_id(tmp_path: Path, body: BodyModel, synthetic_body: Path) -> None:
    a = make_track(4, [0, 1, 2], seed=13)
    a.betas[:] = 0.5
    write_results(tmp_path / "vid.npz", [[(4, a, 0)], [(4, a, 1)], [(4, a, 2)]], fps=12.0)
    rep = export_animation(tmp_path / "vid.npz", ["glb"], synthetic_body, tmp_path / "o", track_ids=[4])
    _, joints = read_gltf_joints(rep.files[4]["glb"])
    assert np.abs(joints - posed_joints(body, a) @ CAMERA_TO_GLTF.T).max() < TOL_M
    assert gltf_json(rep.files[4]["glb"])["asset"]["extras"]["smplestx"]["fps"] == 12.0


def test_gaps_are_filled_along_the_rotation_the_body_model_applies(body: BodyModel) -> None:
    """An 8-frame gap: observed frames stay bit for bit; filled ones follow the full finger rotation (mean added)."""
    track = with_finger_near_180_degrees(make_track(0, [0, 9], seed=21))  # +n(pi - e) at 0, -n(pi - e) at 9
    dense = densify(track, body)
    np.testing.assert_array_equal(dense.frames, np.arange(10))
    for name in POSE_KEYS:
        if name != "betas":
            np.testing.assert_array_equal(getattr(dense, name)[[0, 9]], getattr(track, name), err_msg=name)
    mean = body.left_hand_mean.numpy().reshape(15, 3)[RING1]
    full = axis_angle_to_rotmat(torch.as_tensor(dense.left_hand_pose[:, RING1].astype(np.float64) + mean)).numpy()

    def angle(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1)))

    total = angle(full[0], full[9])
    assert total > 0.1  # the two ends are far apart as the body model applies them (0.17 rad here)
    for k in range(1, 9):  # on the shortest arc between the ends, at a constant speed
        assert angle(full[0], full[k]) == pytest.approx(k / 9 * total, abs=1e-5)
        assert angle(full[k], full[9]) == pytest.approx((9 - k) / 9 * total, abs=1e-5)


def _scene_results(path: Path, meta: dict) -> None:
    """A tracked video's results: scene camera, crop cameras that differ, jittery betas, a gap, a short track."""
    rng = np.random.default_rng(31)
    a, b = make_track(4, list(range(10)), seed=32), make_track(7, [0, 1], seed=33)
    with_finger_near_180_degrees(a)
    scene_focal, scene_princpt = np.array([700.0, 700.0], np.float32), np.array([330.0, 250.0], np.float32)
    with ResultsWriter(path, meta=meta) as w:
        for i in range(10):
            ps = []
            people = [(4, a, i)] if i not in (5, 6) else []  # a 2-frame gap in track 4
            people += [(7, b, i)] if i < 2 else []  # track 7: 2 frames, below the minimum track length
            people += [(-1, b, 0)] if i == 3 else []  # a weak box the tracker left without an id
            for tid, tr, row in people:
                z = np.zeros
                betas = tr.betas + rng.normal(0, 0.05, 10).astype(np.float32) + (2.0 if i == 2 else 0.0)  # outlier
                ps.append(Person(
                    box_xyxy=z(4, np.float32), score=0.9, track_id=tid, crop_box_xywh=z(4, np.float32),
                    **{k: np.asarray(getattr(tr, k)[row], np.float32) for k in POSE_KEYS
                       if k not in ("betas", "transl")},
                    betas=betas, transl=(tr.transl[row] * np.array([1.0, 1.0, 3.0])).astype(np.float32),
                    focal=np.array([4000 + 10 * i, 4000], np.float32), princpt=np.array([100, 120], np.float32),
                    joints_3d=z((137, 3), np.float32), joints_2d=z((137, 2), np.float32),
                    transl_scene=tr.transl[row], joints_3d_scene=z((137, 3), np.float32)))
            w.add(FrameResult(index=i, time_s=i / 25, width=640, height=480, people=ps, scene_focal=scene_focal,
                              scene_princpt=scene_princpt))


@pytest.mark.slow  # two exports: reading the body model twice is most of it
def test_a_results_file_and_its_track_file_export_the_same_animation(tmp_path: Path, synthetic_body: Path) -> None:
    from smplestx.io.results import load_results
    from smplestx.motion.sequences import TrackBuilder, track_settings

    smoothing, fill = "gaussian(sigma=2)", 2
    results = tmp_path / "clip.npz"
    _scene_results(results, {"source": "clip.mp4", "fps": 25.0, "tracks": track_settings(smoothing, fill)})
    # The track file as `smplestx infer` writes it beside the results: the same frames, smoothing and gap filling.
    builder = TrackBuilder()
    for frame in load_results(results).frames:
        builder.add(frame)
    tracks = save_tracks(tmp_path / "clip.tracks.npz", builder.build(25.0, source="clip.mp4", smoothing=smoothing,
                                                                     fill_gaps=fill))
    # (export's own --smooth then runs on both track sets alike)
    a = export_animation(results, "glb,bvh,amass", synthetic_body, tmp_path / "a")
    b = export_animation(tracks, "glb,bvh,amass", synthetic_body, tmp_path / "b")
    assert set(a.files) == set(b.files) == {4}  # the 2-frame track 7 is too short, as in the track file
    ja, jb = (read_gltf_joints(r.files[4]["glb"])[1] for r in (a, b))
    assert ja.shape == jb.shape == (10, 55, 3)
    assert np.abs(ja - jb).max() < 1e-5  # metres: the same root path and pose
    pa, pb = (read_bvh(r.files[4]["bvh"]).world_positions() for r in (a, b))
    assert np.abs(pa - pb).max() < 1e-3  # centimetres
    with np.load(a.files[4]["amass"]) as za, np.load(b.files[4]["amass"]) as zb:
        for key in ("poses", "trans", "betas"):
            np.testing.assert_allclose(za[key], zb[key], atol=1e-5, err_msg=key)


@pytest.mark.parametrize("record, message", [
    ({"smoothing": "blur"}, "unknown smoothing 'blur'"),
    ({"smoothing": "none", "fill_gaps": -1}, "meta 'tracks' is not a record"),
    ("gaussian", "meta 'tracks' is not a record"),
])
def test_a_bad_track_record_in_a_results_file_is_one_line(tmp_path: Path, synthetic_body: Path, record, message) -> None:
    _scene_results(tmp_path / "bad.npz", {"fps": 25.0, "tracks": record})
    with pytest.raises(UsageError, match=message) as e:
        export_animation(tmp_path / "bad.npz", "glb", synthetic_body, tmp_path / "o")
    assert str(e.value).startswith(str(tmp_path / "bad.npz")) and "\n" not in str(e.value)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--track", "99"], "no track with id 99"),
        (["--format", "glb,obj"], "unknown animation format 'obj'"),
        (["--body-models", "MISSING"], "no SMPLX_*.npz in"),  # the message of every command (user_config)
    ],
)
def test_cli_errors_are_one_line_and_write_nothing(tmp_path: Path, synthetic_body: Path, capsys, args, message) -> None:
    src = save_tracks(tmp_path / "in.tracks.npz", trackset(make_track(1, [0, 1], seed=3)))
    out = tmp_path / "out"
    base = ["export", str(src), "--output", str(out)]
    if "--body-models" not in args:
        base += ["--body-models", str(synthetic_body)]
    args = [str(tmp_path / a) if a == "MISSING" else a for a in args]
    assert main(base + args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_fbx_without_bpy_says_how_to_get_it(tmp_path: Path, synthetic_body: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SMPLESTX_BPY_PYTHON", str(tmp_path / "no-python"))
    src = save_tracks(tmp_path / "in.tracks.npz", trackset(make_track(1, [0], seed=3)))
    assert main(["export", str(src), "--body-models", str(synthetic_body), "--output", str(tmp_path / "o"),
                 "--format", "glb,fbx"]) == 2
    assert "install_blender_venv.sh" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _validator_dir() -> Path | None:
    env = os.environ.get("SMPLESTX_GLTF_VALIDATOR")
    for cand in [Path(env)] if env else []:
        if (cand / "package.json").is_file():
            return cand
    return None


_VALIDATE_JS = """
const fs = require('fs');
const validator = require(process.argv[1]);
validator.validateBytes(new Uint8Array(fs.readFileSync(process.argv[2])), {maxIssues: 50})
  .then(r => console.log(JSON.stringify(r.issues)))
  .catch(e => { console.error(String(e)); process.exit(1); });
"""


def test_khronos_gltf_validator_reports_nothing(exported) -> None:
    validator = _validator_dir()
    if validator is None or shutil.which("node") is None:
        pytest.skip("Khronos glTF validator not found: `npm install gltf-validator` in a folder and set "
                    "SMPLESTX_GLTF_VALIDATOR=that/node_modules/gltf-validator (needs node)")
    _, report, _ = exported
    for files in report.files.values():
        proc = subprocess.run(["node", "-e", _VALIDATE_JS, str(validator), str(files["glb"])], capture_output=True,
                              text=True, timeout=120, check=True)
        issues = json.loads(proc.stdout)
        assert (issues["numErrors"], issues["numWarnings"], issues["numInfos"]) == (0, 0, 0), issues["messages"][:5]
