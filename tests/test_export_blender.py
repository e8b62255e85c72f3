"""A real client opens our files: Blender (bpy, in its own venv, as a subprocess) imports the .glb, .bvh and .fbx.

Opt-in: set SMPLESTX_BPY_PYTHON to a Python that can ``import bpy`` (tools/install_blender_venv.sh makes one), then
``pytest -m blender tests/test_export_blender.py``.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from smplestx.body import BodyModel
from smplestx.export import JOINT_NAMES, export_animation, read_bvh, read_gltf_joints
from smplestx.export.fbx import find_bpy_python
from smplestx.motion.feet import rest_joints
from smplestx.motion.tracks import TrackSet, load_tracks, save_tracks
from smplestx.motion.world_frame import floor_in_camera, invert_pose, move_root, place_tracks
from smplestx.synthetic.walks import truth_trackset, walk_truth

from test_animation_export import make_track, trackset
from test_meshcapade import flat_body_joints, short_avatar, smpl_as_poses

pytestmark = pytest.mark.blender
READBACK = Path(__file__).with_name("blender_readback.py")
TOL_M = 1e-3  # 1 mm
TOL_DEG = 0.01  # camera orientation and field of view
TOL_PX = 0.01  # the pelvis projected by Blender's camera vs by the track's intrinsics
#: Blender's world (z up) from glTF's and our world (y up): (x, y, z) -> (x, -z, y), as both importers turn it.
BLENDER_FROM_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
#: A Blender camera looks down its local -z with +y up; an OpenCV camera down +z with +y down.
BLENDER_CAMERA_FROM_OPENCV = np.diag([1.0, -1.0, -1.0])


@pytest.fixture(scope="module")
def bpy_python() -> str:
    python = find_bpy_python()
    if python is None:
        pytest.skip("Blender's bpy not found: run tools/install_blender_venv.sh and set "
                    "SMPLESTX_BPY_PYTHON=/path/to/that/venv/bin/python")
    return python


@pytest.fixture(scope="module")
def files(bpy_python: str, tmp_path_factory, synthetic_body: Path):
    out = tmp_path_factory.mktemp("blender")
    ts = trackset(make_track(2, [0, 1, 2, 3, 5, 8], seed=21), fps=30.0)
    return export_animation(ts, "glb,bvh,fbx", synthetic_body, out, stem="b").files[2]


def blender_joints(python: str, kind: str, path: Path, n: int) -> tuple[list[str], np.ndarray]:
    """Joint positions (n, J, 3) of the armature Blender imported, mapped back to y up (Blender is z up)."""
    proc = subprocess.run([python, str(READBACK), kind, str(path), "30", str(n)], capture_output=True, text=True,
                          timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("READBACK ")]
    assert proc.returncode == 0 and lines, proc.stderr[-2000:]
    d = json.loads(lines[0][len("READBACK "):])
    b = np.asarray(d["frames"])
    # The importers turn y-up files into Blender's z up: (x, y, z) -> (x, -z, y); undo it.
    return d["names"], np.stack([b[..., 0], b[..., 2], -b[..., 1]], axis=-1)


def test_blender_imports_our_glb_with_the_same_joints(files, bpy_python: str) -> None:
    names, ours = read_gltf_joints(files["glb"])
    theirs_names, theirs = blender_joints(bpy_python, "glb", files["glb"], len(ours))
    theirs = theirs[:, [theirs_names.index(n) for n in names]]
    assert ours.shape == theirs.shape == (9, 55, 3)
    assert np.abs(theirs - ours).max() < TOL_M


def test_blender_imports_our_bvh_with_the_same_joints(files, bpy_python: str) -> None:
    bvh = read_bvh(files["bvh"])
    ours = bvh.world_positions() / 100.0
    theirs_names, theirs = blender_joints(bpy_python, "bvh", files["bvh"], len(ours))
    theirs = theirs[:, [theirs_names.index(n) for n in bvh.names]]
    assert np.abs(theirs - ours).max() < TOL_M
    # The two files agree with each other too (the jaw's expression-driven offset rides in position channels).
    glb_names, glb = read_gltf_joints(files["glb"])
    assert np.abs(ours[:, [bvh.names.index(n) for n in glb_names]] - glb).max() < TOL_M


def test_fbx_was_written_by_blender(files) -> None:
    assert files["fbx"].read_bytes()[:18] == b"Kaydara FBX Binary"


def test_blender_reads_our_fbx_back_with_the_same_joints(files, bpy_python: str) -> None:
    """The FBX, imported by Blender, has the .glb's joints at the .glb's frames (one key per source frame)."""
    names, ours = read_gltf_joints(files["glb"])
    theirs_names, theirs = blender_joints(bpy_python, "fbx", files["fbx"], len(ours))
    theirs = theirs[:, [theirs_names.index(n) for n in names]]
    err = np.abs(theirs - ours).max()
    print(f"fbx joints: {err:.2e} m off the .glb's")
    assert err < TOL_M


def test_blender_shows_an_imported_smpl_with_the_body_models_joints(bpy_python: str, tmp_path: Path,
                                                                   synthetic_body: Path) -> None:
    """Meshcapade's avatar.smpl imported, exported as .glb, opened in Blender: the smplx layer's joints (y up)."""
    src = short_avatar(tmp_path / "avatar.smpl", step=60)
    glb = export_animation(src, "glb", synthetic_body, tmp_path / "out").files[0]["glb"]
    expected = flat_body_joints(synthetic_body, smpl_as_poses(src))
    names, theirs = blender_joints(bpy_python, "glb", glb, len(expected))
    theirs = theirs[:, [names.index(n) for n in JOINT_NAMES]]
    assert theirs.shape == expected.shape == (11, 55, 3)
    assert np.abs(theirs - expected).max() < TOL_M


# --- World-frame export with a moving camera: what Blender shows is the shot as filmed. ---

SHOT_FRAMES, SHOT_STEP = 12, 6


def moving_camera_trackset(body: BodyModel) -> TrackSet:
    """Two walkers in the world, filmed by a camera that pans, looks 8 deg down, rolls 3 deg and steps (0.25 m right,
    0.1 m up, 0.15 m forward) at frame 6; the second walker enters at frame 3."""
    truth = walk_truth(body, "crossing", frames=SHOT_FRAMES, fps=30.0, width=320, height=240, camera="pan")
    frames = np.arange(SHOT_FRAMES)
    world = place_tracks(truth_trackset(truth), body, frames, truth["camera_rotation"], truth["camera_translation"],
                         moving=True)
    tilt_roll = Rotation.from_euler("xz", [-8.0, 3.0], degrees=True).as_matrix()
    rot = truth["camera_rotation"] @ tilt_roll
    pos = truth["camera_translation"].copy()
    pos[SHOT_STEP:] += [0.25, 0.10, -0.15]
    tracks = []
    for t in world.tracks:
        # The same world bodies, seen by the new camera: camera-frame roots from the world roots.
        go, transl = move_root(t.global_orient_world, t.transl_world, rest_joints(body, t.betas)[0],
                               *invert_pose(rot[t.frames], pos[t.frames]))
        t = replace(t, global_orient=go.astype(np.float32), transl=transl.astype(np.float32))
        if t.track_id == 1:
            per_frame = ("frames", "global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose",
                         "expression", "transl", "contacts")
            t = replace(t, **{k: getattr(t, k)[3:] for k in per_frame})
        tracks.append(t)
    ts = replace(world, tracks=tracks, floor=floor_in_camera(rot[0], pos[0]))
    return place_tracks(ts, body, frames, rot, pos, moving=True)


@pytest.fixture(scope="module")
def shot(bpy_python: str, tmp_path_factory, synthetic_body: Path) -> tuple[TrackSet, dict, BodyModel]:
    """The track file of the moving shot (as saved and read back) and its world-frame .glb and .fbx per track."""
    body = BodyModel.from_dir(synthetic_body, dtype=torch.float64)
    out = tmp_path_factory.mktemp("shot")
    path = save_tracks(out / "shot.tracks.npz", moving_camera_trackset(body))
    files = export_animation(path, "glb,fbx", synthetic_body, out, feet="none", frame="world").files
    return load_tracks(path), files, body


@pytest.fixture(scope="module")
def blender_shots(shot, bpy_python: str) -> dict:
    """What Blender sees, per (kind, track id), cached: one Blender run each."""
    ts, files, _ = shot
    seen: dict = {}

    def get(kind: str, track_id: int) -> dict:
        if (kind, track_id) not in seen:
            n = len(ts.track(track_id))
            w, h = (int(x) for x in ts.image_size)
            proc = subprocess.run([bpy_python, str(READBACK), "shot", kind, str(files[track_id][kind]), "30", str(n),
                                   str(w), str(h)], capture_output=True, text=True, timeout=300)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("READBACK ")]
            assert proc.returncode == 0 and lines, proc.stderr[-2000:]
            seen[kind, track_id] = json.loads(lines[0][len("READBACK "):])
        return seen[kind, track_id]

    return get


def _degrees_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles (degrees) of the rotations a^T b (..., 3, 3), accurate near 0 (not through arccos of the trace)."""
    return np.degrees(Rotation.from_matrix(np.swapaxes(a, -1, -2) @ b).magnitude())


@pytest.mark.parametrize("kind", ["glb", "fbx"])
@pytest.mark.parametrize("track_id", [0, 1])
def test_blender_camera_follows_the_camera_path(shot, blender_shots, kind: str, track_id: int) -> None:
    """(a) Blender's camera at each frame is the track file's camera (X_world = R X_cam + t) in Blender's world."""
    ts, _, _ = shot
    seen = blender_shots(kind, track_id)
    assert seen["cameras"] == ["camera"], seen["objects"]
    frames = ts.track(track_id).frames
    r, t = ts.camera_rotation[frames], ts.camera_translation[frames]
    m = np.asarray(seen["camera"])
    assert m.shape == (len(frames), 4, 4)
    pos_err = np.linalg.norm(m[:, :3, 3] - t @ BLENDER_FROM_Y_UP.T, axis=1)
    axes = m[:, :3, :3] / np.linalg.norm(m[:, :3, :3], axis=1, keepdims=True)  # the camera object's scale is 1
    rot_err = _degrees_between(axes, BLENDER_FROM_Y_UP @ r @ BLENDER_CAMERA_FROM_OPENCV)
    print(f"{kind} track {track_id}: camera position {pos_err.max():.2e} m, orientation {rot_err.max():.2e} deg")
    assert pos_err.max() < TOL_M and rot_err.max() < TOL_DEG
    # The path is not still: the pan and the step are there to be followed.
    assert np.ptp(m[:, 0, 3]) > 0.2 and _degrees_between(axes[0], axes[-1]) > 1.0


@pytest.mark.parametrize("kind", ["glb", "fbx"])
def test_blender_camera_has_the_videos_field_of_view(shot, blender_shots, kind: str) -> None:
    """(b) With the render resolution set to the video's, Blender renders 2 atan(h / 2 f_y) high, 2 atan(w / 2 f_x)
    wide."""
    ts, _, _ = shot
    seen = blender_shots(kind, 0)
    (w, h), (fx, fy) = ts.image_size, ts.focal
    vfov, hfov = np.degrees(seen["vfov"]), np.degrees(seen["hfov"])
    print(f"{kind}: vfov {vfov[0]:.6f} deg (expected {np.degrees(2 * np.arctan(h / 2 / fy)):.6f}), hfov "
          f"{hfov[0]:.6f} deg (expected {np.degrees(2 * np.arctan(w / 2 / fx)):.6f}), sensor {seen['sensor']} "
          f"{seen['sensor_fit']}")
    assert np.abs(vfov - np.degrees(2 * np.arctan(h / 2 / fy))).max() < TOL_DEG
    assert np.abs(hfov - np.degrees(2 * np.arctan(w / 2 / fx))).max() < TOL_DEG


@pytest.mark.parametrize("kind", ["glb", "fbx"])
@pytest.mark.parametrize("track_id", [0, 1])
def test_blender_pelvis_walks_the_world_root_path(shot, blender_shots, kind: str, track_id: int) -> None:
    """(c) The armature's pelvis in Blender is the track's world root path (J_pelvis + transl_world)."""
    ts, _, body = shot
    t = ts.track(track_id)
    expected = (rest_joints(body, t.betas)[0] + t.transl_world.astype(np.float64)) @ BLENDER_FROM_Y_UP.T
    err = np.linalg.norm(np.asarray(blender_shots(kind, track_id)["pelvis"]) - expected, axis=1)
    print(f"{kind} track {track_id}: pelvis {err.max():.2e} m off the world root path")
    assert err.max() < TOL_M


@pytest.mark.parametrize("kind", ["glb", "fbx"])
@pytest.mark.parametrize("track_id", [0, 1])
def test_blender_camera_sees_the_pelvis_where_the_video_did(shot, blender_shots, kind: str, track_id: int) -> None:
    """The pelvis projected by Blender's camera (world_to_camera_view) lands on the pixel where the track's own
    camera-frame pelvis projects with the track's focal length and principal point (the image centre here, which
    glTF assumes)."""
    ts, _, body = shot
    t = ts.track(track_id)
    (w, h) = ts.image_size
    assert np.allclose(ts.princpt, [w / 2, h / 2])
    cam = rest_joints(body, t.betas)[0] + t.transl.astype(np.float64)
    ours = cam[:, :2] / cam[:, 2:] * ts.focal + ts.princpt
    seen = np.asarray(blender_shots(kind, track_id)["pixel"])  # normalised, origin bottom left, then depth
    theirs = np.stack([seen[:, 0] * w, (1.0 - seen[:, 1]) * h], axis=1)
    err = np.linalg.norm(theirs - ours, axis=1)
    print(f"{kind} track {track_id}: pelvis reprojected {err.max():.2e} px off")
    assert (seen[:, 2] > 0).all() and ((ours > 0) & (ours < [w, h])).all()  # in front of the camera, in the frame
    assert err.max() < TOL_PX


def test_fbx_camera_tells_other_readers_the_videos_frame(shot, blender_shots) -> None:
    """What FBX readers other than Blender use (Blender's importer reads the film and the lens only): the video's
    resolution, a film of its aspect ratio, and the fields of view."""
    ts, _, _ = shot
    props = blender_shots("fbx", 0)["fbx_camera"]
    (w, h), (fx, fy) = ts.image_size, ts.focal
    assert (props["AspectWidth"], props["AspectHeight"]) == (w, h)
    assert props["FilmWidth"] / props["FilmHeight"] == pytest.approx(w / h, rel=1e-6)
    assert props["FieldOfViewY"] == pytest.approx(np.degrees(2 * np.arctan(h / 2 / fy)), abs=TOL_DEG)
    assert props["FieldOfView"] == pytest.approx(np.degrees(2 * np.arctan(w / 2 / fx)), abs=TOL_DEG)
    # The lens on the film's height gives the same vertical field of view (film in inches, lens in mm).
    assert np.degrees(2 * np.arctan(props["FilmHeight"] * 25.4 / 2 / props["FocalLength"])) == pytest.approx(
        np.degrees(2 * np.arctan(h / 2 / fy)), abs=TOL_DEG)


def test_fbx_holds_one_take_of_the_armature_the_mesh_and_the_camera(blender_shots) -> None:
    """No stray objects and one take (Blender's importer names actions OBJECT|TAKE): the FBX exporter's "all actions"
    would also write each object under every other object's action."""
    seen = blender_shots("fbx", 0)
    assert seen["fps"] == 30.0  # the track's rate (Blender's importer sets the scene's from the file)
    assert seen["objects"] == ["camera", "smplx", "smplx_track0", "smplx_track0_mesh"], seen["objects"]
    takes = {a.split("|", 1)[1].split(".")[0] for a in seen["actions"]}
    assert len(takes) == 1, seen["actions"]
