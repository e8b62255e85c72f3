"""Meshcapade .smpl / .mcs and AMASS SMPL-X as input and output: round trips with Meshcapade's own sample files,
smplcodec reading what we write, the joints against the body model, and refusals of what we do not read."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.body import BodyModel
from smplestx.cli import main
from smplestx.errors import UsageError
from smplestx.export import (CAMERA_TO_AMASS, build_skeleton, export_animation, read_gltf_joints, read_motion_file,
                             write_smpl)
from smplestx.export.readers import MotionFileError
from smplestx.io.meshes import CAMERA_TO_GLTF
from smplestx.motion.tracks import FRAME_FIELDS
from smplestx.geometry.rotations import axis_angle_to_rotmat

DATA = Path(__file__).parent / "data" / "meshcapade"
AVATAR = DATA / "avatar.smpl"
SMPL_KEYS = ("bodyTranslation", "bodyPose", "headPose", "leftHandPose", "rightHandPose")
TOL = 1e-6

needs_codec = pytest.mark.skipif(sys.version_info < (3, 11), reason="smplcodec needs Python >= 3.11")


def _codec():
    return pytest.importorskip("smplcodec", reason="smplcodec not installed (pip install 'smplestx[meshcapade]')")


def savez(path: Path, **arrays: np.ndarray) -> None:
    """np.savez under exactly this name (given a path, numpy appends .npz)."""
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def rotmats(aa: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) -> rotation matrices: compares rotations, not their (non-unique) axis-angle."""
    return axis_angle_to_rotmat(torch.as_tensor(np.asarray(aa, dtype=np.float64))).numpy()


def assert_tracks_equal(a, b, tol: float = TOL) -> None:
    """Same frames, shape, translation and expression, and the same rotations, within ``tol``."""
    assert len(a.tracks) == len(b.tracks)
    for ta, tb in zip(a.tracks, b.tracks):
        np.testing.assert_array_equal(ta.frames, tb.frames)
        np.testing.assert_allclose(ta.betas, tb.betas, atol=tol)
        for name in FRAME_FIELDS:
            x, y = getattr(ta, name), getattr(tb, name)
            if name in ("transl", "expression"):
                np.testing.assert_allclose(x, y, atol=tol, err_msg=name)
            else:
                np.testing.assert_allclose(rotmats(x), rotmats(y), atol=tol, err_msg=name)


def flat_body_joints(body_dir: Path, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """(T, 55, 3) joints the smplx layer (flat hands, as the files mean) gives for a file's parameters, its frame."""
    body = BodyModel.from_dir(body_dir, dtype=torch.float64, flat_hand_mean=True)
    t = arrays["poses"].shape[0]
    p = torch.as_tensor(arrays["poses"].reshape(t, 55, 3), dtype=torch.float64)
    betas = torch.as_tensor(arrays["betas"][:10], dtype=torch.float64).reshape(1, -1).expand(t, -1)
    with torch.no_grad():
        out = body(global_orient=p[:, 0], body_pose=p[:, 1:22], jaw_pose=p[:, 22], leye_pose=p[:, 23],
                   reye_pose=p[:, 24], left_hand_pose=p[:, 25:40], right_hand_pose=p[:, 40:55], betas=betas,
                   transl=torch.as_tensor(arrays["trans"], dtype=torch.float64))
    return out.joints_55.numpy()


def smpl_as_poses(path: Path, frames: slice = slice(None)) -> dict[str, np.ndarray]:
    """A .smpl's poses (T, 165) (eyes zeroed: tracks have none), translation and betas."""
    z = np.load(path)
    poses = np.concatenate([z["bodyPose"], z["headPose"], z["leftHandPose"], z["rightHandPose"]], axis=1)[frames]
    poses[:, 23:25] = 0
    return {"poses": poses.reshape(len(poses), 165), "trans": z["bodyTranslation"][frames],
            "betas": z["shapeParameters"]}


# ------------------------------------------------------------------------------------------------- round trips


@needs_codec
def test_avatar_reads_writes_and_reads_again_equal(tmp_path, synthetic_body, body, caplog):
    codec = _codec()
    with caplog.at_level(logging.WARNING):
        first = read_motion_file(AVATAR, None, body=body)
    assert "16 coefficients; smplestx keeps the first 10" in caplog.text  # its betas 10..15 are not zero
    assert first.fps == 120.0 and len(first.tracks) == 1 and len(first.tracks[0]) == 601
    report = export_animation(first, "smpl", synthetic_body, tmp_path, stem="avatar")
    written = report.files[0]["smpl"]
    assert written.name == "avatar_track0.smpl"
    assert_tracks_equal(first, read_motion_file(written, None, body=body))
    # The file itself: Meshcapade's arrays back within 1e-6 (shape: the 10 coefficients we keep).
    a, b = np.load(AVATAR), np.load(written)
    for key in SMPL_KEYS:
        np.testing.assert_allclose(b[key], a[key], atol=TOL, err_msg=key)
    np.testing.assert_allclose(b["shapeParameters"], a["shapeParameters"][:10], atol=TOL)
    # smplcodec reads what we write.
    c = codec.SMPLCodec.from_file(written)
    assert c.smpl_version == codec.SMPLVersion.SMPLX and c.frame_count == 601 and c.frame_rate == 120.0
    assert c.full_pose.shape == (601, 55, 3)
    np.testing.assert_allclose(c.body_translation, a["bodyTranslation"], atol=TOL)


@needs_codec
def test_single_pose_files_round_trip(tmp_path, body):
    codec = _codec()
    for name in ("pose_avatar.smpl", "default.smpl"):
        first = read_motion_file(DATA / name, None, body=body)
        assert len(first.tracks[0]) == 1 and first.fps == 30.0  # no frame rate in the file: the default
        written = write_smpl(tmp_path / name, build_skeleton(first.tracks[0], body), first.fps)
        assert_tracks_equal(first, read_motion_file(written, None, body=body))
        original = codec.SMPLCodec.from_file(DATA / name)
        ours = codec.SMPLCodec.from_file(written)
        np.testing.assert_allclose(ours.full_pose[:, :23], original.full_pose[:, :23], atol=TOL)  # eyes: not kept
        np.testing.assert_allclose(ours.full_pose[:, 25:], original.full_pose[:, 25:], atol=TOL)
        np.testing.assert_allclose(ours.body_translation, np.zeros((1, 3)), atol=TOL)  # the file has none: zero


def short_avatar(path: Path, step: int = 50, fps: float = 30.0) -> Path:
    """Every ``step``-th frame of Meshcapade's avatar.smpl at ``fps``, with its first 10 betas, as ``path``."""
    z = dict(np.load(AVATAR))
    for k in SMPL_KEYS:
        z[k] = z[k][::step]
    z["frameCount"] = np.array(len(z["bodyPose"]), np.int32)
    z["frameRate"] = np.array(fps, np.float32)
    z["shapeParameters"] = z["shapeParameters"][:10]
    savez(path, **z)
    return path


@pytest.mark.slow
def test_glb_of_an_imported_smpl_has_the_body_models_joints(tmp_path, synthetic_body):
    """The .smpl's world is y up: our .glb of it shows the joints the smplx layer gives for the file's values."""
    src = short_avatar(tmp_path / "clip.smpl")  # 13 frames keep the test fast
    glb = export_animation(src, "glb", synthetic_body, tmp_path / "out").files[0]["glb"]
    _, joints = read_gltf_joints(glb)
    expected = flat_body_joints(synthetic_body, smpl_as_poses(src))
    assert np.abs(joints - expected).max() < 1e-4  # metres: float32 glTF keys


def test_amass_sample_imports_with_the_body_models_joints(tmp_path, synthetic_body, body):
    """AMASS is z up: the .glb (y up) of an AMASS file shows the layer's joints rotated from z up to y up."""
    src = DATA / "apose_to_handsFront_smplx.npz"
    ts = read_motion_file(src, None, body=body)
    assert ts.fps == 30.0 and len(ts.tracks[0]) == 34  # the sample has no mocap_frame_rate: the default
    glb = export_animation(ts, "glb", synthetic_body, tmp_path).files[0]["glb"]
    _, joints = read_gltf_joints(glb)
    z = np.load(src)
    poses = z["poses"].copy()
    poses[:, 69:75] = 0  # eyes: not kept
    expected = flat_body_joints(synthetic_body, {"poses": poses, "trans": z["trans"], "betas": z["betas"]})
    z_up_to_y_up = CAMERA_TO_GLTF.astype(np.float64) @ CAMERA_TO_AMASS.T
    assert np.abs(joints - expected @ z_up_to_y_up.T).max() < 1e-4


def _two_tracks():
    from test_animation_export import make_track, trackset

    return trackset(make_track(3, [10, 11, 12, 14, 17], seed=1), make_track(8, [12, 13], seed=2))


@pytest.fixture(scope="module")
def scene(tmp_path_factory, synthetic_body):
    """Two tracks (one with gaps) exported once as an .mcs scene and AMASS files."""
    pytest.importorskip("smplcodec")
    out = tmp_path_factory.mktemp("mcs")
    return export_animation(_two_tracks(), "mcs,amass", synthetic_body, out, stem="clip")


@needs_codec
def test_mcs_holds_every_track_with_its_presence_and_reads_back(scene, body):
    codec = _codec()
    from smplcodec.mcs import extract_smpl_from_mcs

    ts, report = _two_tracks(), scene
    assert report.scene.name == "clip_scene.mcs"
    gltf = json.loads(report.scene.read_text())
    bodies = gltf["scenes"][0]["extensions"]["MC_scene_description"]["smpl_bodies"]
    assert [b["frame_presence"] for b in bodies] == [[10, 18], [12, 14]]
    assert gltf["scenes"][0]["extensions"]["MC_scene_description"]["num_frames"] == 18
    assert gltf["nodes"][1]["translation"] == [0.0, 0.0, 0.0]  # the still camera at the glTF origin
    assert [b.frame_count for b in extract_smpl_from_mcs(report.scene)] == [8, 2]  # smplcodec reads it
    assert all(isinstance(b, codec.SMPLCodec) for b in extract_smpl_from_mcs(report.scene))
    back = read_motion_file(report.scene, None, body=body)
    # The scene's bodies are the tracks (densified), in the same camera frame; so are the AMASS files'.
    amass = [read_motion_file(report.files[i]["amass"], None, body=body).tracks[0] for i in (3, 8)]
    for got, ref in zip(back.tracks, amass):
        np.testing.assert_array_equal(got.frames - got.frames[0], ref.frames)
        np.testing.assert_allclose(got.transl, ref.transl, atol=1e-5)
        np.testing.assert_allclose(rotmats(got.global_orient), rotmats(ref.global_orient), atol=1e-5)
    assert back.tracks[0].frames[0] == 10 and back.tracks[1].frames[0] == 12
    np.testing.assert_allclose(back.focal[1], ts.focal[1] * 1080 / 480, rtol=1e-5)  # same field of view


def test_a_moved_camera_places_the_bodies_in_its_frame(tmp_path, scene, body):
    """An .mcs camera 2 m to the right: bodies come out 2 m to the left in the camera frame."""
    base = read_motion_file(scene.scene, None, body=body)
    gltf = json.loads(scene.scene.read_text())
    gltf["nodes"][1]["translation"] = [2.0, 0.0, 0.0]
    moved_path = tmp_path / "moved.mcs"
    moved_path.write_text(json.dumps(gltf))
    moved = read_motion_file(moved_path, None, body=body)
    d = moved.tracks[0].transl - base.tracks[0].transl
    np.testing.assert_allclose(d, np.tile([-2.0, 0.0, 0.0], (len(d), 1)), atol=1e-5)


# -------------------------------------------------------------------------------------------------- refusals


def _cli_fails(capsys, *argv: str) -> str:
    assert main(["export", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("name,model", [("avatar_skel.smpl", "SKEL"), ("avatar_smplpp.smpl", "SMPL++")])
def test_other_body_models_are_one_line(tmp_path, synthetic_body, capsys, name, model):
    out = tmp_path / "out"
    err = _cli_fails(capsys, str(DATA / name), "--body-models", str(synthetic_body), "--output", str(out))
    assert f"the {model} body model" in err and "SMPL-X .smpl files only" in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("version,model", [(0, "SMPL"), (1, "SMPL-H")])
def test_smpl_and_smplh_files_are_one_line(tmp_path, synthetic_body, capsys, version, model):
    src = tmp_path / "other.smpl"
    savez(src, smplVersion=np.array(version, np.int32), frameCount=np.array(1, np.int32),
             bodyPose=np.zeros((1, 22 if version else 24, 3), np.float32))
    err = _cli_fails(capsys, str(src), "--body-models", str(synthetic_body), "--output", str(tmp_path / "out"))
    assert f"the {model} body model" in err and "SMPL-X" in err


def test_object_arrays_are_refused_without_unpickling(tmp_path, synthetic_body, capsys, monkeypatch):
    import pickle

    def no_unpickling(*_a, **_k):
        raise AssertionError("unpickled")

    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    for name in ("motion.npz", "motion.smpl"):
        src = tmp_path / name
        savez(src, poses=np.zeros((2, 165)), trans=np.zeros((2, 3)),
                 gender=np.array(["neutral"], dtype=object))
        err = _cli_fails(capsys, str(src), "--body-models", str(synthetic_body), "--output", str(tmp_path / "out"))
        assert "'gender' is an object array" in err and "never unpickles" in err
    # Our own results and track files refuse them too (numpy's allow_pickle=False).
    savez(tmp_path / "res.npz", meta_json=np.array(["{}"], dtype=object))
    savez(tmp_path / "trk.npz", format=np.array("smplestx-tracks"), fps=np.array([1.0], dtype=object))
    for name in ("res.npz", "trk.npz"):
        err = _cli_fails(capsys, str(tmp_path / name), "--body-models", str(synthetic_body), "--output",
                         str(tmp_path / "out"))
        assert "Object arrays cannot be loaded when allow_pickle=False" in err
    assert not (tmp_path / "out").exists()


def test_mcs_without_bodies_is_one_line(tmp_path, synthetic_body, capsys):
    src = tmp_path / "empty.mcs"
    src.write_text(json.dumps({"asset": {"version": "2.0"}, "scenes": [{"nodes": []}], "nodes": []}))
    err = _cli_fails(capsys, str(src), "--body-models", str(synthetic_body), "--output", str(tmp_path / "out"))
    assert "holds no SMPL bodies" in err
    assert not (tmp_path / "out").exists()


def test_amass_smplh_is_one_line(tmp_path, synthetic_body):
    src = tmp_path / "smplh.npz"
    np.savez(src, poses=np.zeros((3, 156)), trans=np.zeros((3, 3)), betas=np.zeros(16), gender=np.array("male"))
    with pytest.raises(MotionFileError, match="an AMASS file of SMPL-H; smplestx reads AMASS SMPL-X files only"):
        read_motion_file(src, synthetic_body)


def test_missing_smplcodec_is_one_line_naming_pip(tmp_path, synthetic_body, monkeypatch):
    monkeypatch.setitem(sys.modules, "smplcodec", None)  # import smplcodec -> ImportError
    monkeypatch.setitem(sys.modules, "smplcodec.mcs", None)
    with pytest.raises(UsageError, match=r"pip install 'smplestx\[meshcapade\]'"):
        export_animation(_two_tracks(), "glb,smpl", synthetic_body, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before the first write


def test_a_failure_part_way_leaves_no_files(tmp_path, synthetic_body, monkeypatch):
    pytest.importorskip("smplcodec")
    import smplestx.export.exporter as exporter

    def broken(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(exporter, "write_mcs", broken)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        export_animation(_two_tracks(), "glb,smpl,mcs", synthetic_body, out, stem="clip")
    assert not any(out.iterdir())


def test_a_crafted_frame_count_is_refused_before_allocating(tmp_path, body):
    src = tmp_path / "huge.smpl"
    savez(src, smplVersion=np.array(2, np.int32), frameCount=np.array(2**31 - 1, np.int32),
          frameRate=np.array(30.0, np.float32))
    with pytest.raises(MotionFileError, match="frameCount 2147483647 is not a frame count smplestx reads"):
        read_motion_file(src, None, body=body)


def test_importing_smplcodec_leaves_the_root_logger_alone():
    """smplcodec calls logging.basicConfig() on import; the application's logging must not change."""
    import subprocess

    pytest.importorskip("smplcodec")
    code = ("import logging; from smplestx.export.meshcapade import import_smplcodec; import_smplcodec(); "
            "r = logging.getLogger(); assert not r.handlers and r.level == logging.WARNING, (r.handlers, r.level)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")})
    assert proc.returncode == 0, proc.stderr[-1000:]
