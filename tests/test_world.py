"""Motion in the world: moving-camera synthetic scenes, camera motion from pixels, world metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.body import BodyModel
from smplestx.motion.world_frame import LEVEL_CAMERA, apply_pose, floor_in_camera, invert_pose, move_root
from smplestx.synthetic.walks import walk_truth
from smplestx.synthetic.world import CAMERA_PATHS, camera_path


def _world_vertices(truth: dict[str, np.ndarray]) -> np.ndarray:
    f = truth["frame"]
    return apply_pose(truth["camera_rotation"][f], truth["camera_translation"][f], truth["vertices"])


def test_move_root_matches_moving_the_mesh(body: BodyModel) -> None:
    rng = np.random.default_rng(0)
    go, transl, betas = rng.normal(0, 0.5, 3), rng.normal(0, 1, 3), rng.normal(0, 1, 10)
    r = camera_path("handheld", np.array([0.7]))[0][0] @ LEVEL_CAMERA
    t = rng.normal(0, 2, 3)
    pelvis = body(betas=torch.tensor(betas[None])).joints[0, 0].numpy()

    def verts(g: np.ndarray, tr: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return body(global_orient=torch.tensor(g[None]), transl=torch.tensor(tr[None]),
                        betas=torch.tensor(betas[None])).vertices[0].numpy()

    go2, tr2 = move_root(go, transl, pelvis, r, t)
    np.testing.assert_allclose(verts(go2, tr2), apply_pose(r, t, verts(go, transl)), atol=1e-9)
    ri, ti = invert_pose(r, t)
    np.testing.assert_allclose(apply_pose(ri, ti, apply_pose(r, t, np.eye(3))), np.eye(3), atol=1e-12)


def test_camera_paths_are_rotations_starting_level() -> None:
    times = np.arange(60) / 30.0
    for kind in CAMERA_PATHS:
        r, t = camera_path(kind, times)
        assert r.shape == (60, 3, 3) and t.shape == (60, 3)
        np.testing.assert_allclose(r @ np.swapaxes(r, 1, 2), np.broadcast_to(np.eye(3), r.shape), atol=1e-12)
        np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)
        if kind in ("static", "pan", "orbit"):  # these start at home; a shake or a dolly starts where it is
            np.testing.assert_allclose(r[0], LEVEL_CAMERA, atol=1e-12)
            np.testing.assert_allclose(t[0], [0.0, 0.8, 0.0], atol=1e-12)
        turned = np.rad2deg(np.arccos(np.clip((np.trace(r[0].T @ r[-1]) - 1) / 2, -1, 1)))
        moved = np.linalg.norm(t[-1] - t[0])
        if kind == "static":
            assert turned == 0.0 and moved == 0.0
        else:
            assert turned > 0.5 or moved > 0.005, kind
    with pytest.raises(ValueError, match="unknown camera path"):
        camera_path("dolly", times)


def test_moving_camera_truth_is_one_world(body: BodyModel) -> None:
    plain = walk_truth(body, "crossing", frames=12, fps=10.0, width=160, height=120, with_vertices=True)
    static = walk_truth(body, "crossing", frames=12, fps=10.0, width=160, height=120, with_vertices=True,
                        camera="static")
    for k in ("global_orient", "transl", "box_xyxy", "vertices"):
        np.testing.assert_array_equal(plain[k], static[k])  # the static camera is today's camera, number for number
    np.testing.assert_allclose(static["floor"], [0, -1, 0, 0.8])
    world = _world_vertices(static)
    assert abs(world[..., 1].min()) < 0.05  # the feet reach the floor at y = 0 (y up)
    for kind in ("pan", "orbit", "handheld"):
        moving = walk_truth(body, "crossing", frames=12, fps=10.0, width=160, height=120, with_vertices=True,
                            camera=kind)
        assert moving["camera_rotation"].shape == (12, 3, 3) and moving["camera_translation"].shape == (12, 3)
        assert not np.allclose(moving["transl"][:len(static["transl"])], static["transl"][:len(moving["transl"])])
        both = [(i, j) for i in range(len(moving["frame"])) for j in range(len(static["frame"]))
                if moving["frame"][i] == static["frame"][j] and moving["person_id"][i] == static["person_id"][j]]
        i, j = np.array(both).T
        np.testing.assert_allclose(_world_vertices(moving)[i], world[j], atol=1e-5)  # same people in the world
        np.testing.assert_allclose(moving["transl_world"][i], static["transl_world"][j], atol=1e-6)
        np.testing.assert_allclose(moving["global_orient_world"][i], static["global_orient_world"][j], atol=1e-6)
        np.testing.assert_allclose(moving["floor"], floor_in_camera(moving["camera_rotation"][0],
                                                                    moving["camera_translation"][0]))


def test_synthetic_media_moving_camera_cli(synthetic_body: Path, tmp_path: Path, capsys) -> None:
    from smplestx.cli import main
    from smplestx.pipeline.sources import VideoSource

    video = tmp_path / "pan.mp4"
    assert main(["synthetic-media", str(video), "--body-models", str(synthetic_body), "--walk", "crossing",
                 "--camera", "pan", "--frames", "3", "--width", "160", "--height", "120", "--fps", "10"]) == 0
    with np.load(tmp_path / "pan.mp4.truth.npz", allow_pickle=False) as z:
        assert str(z["camera"]) == "pan" and z["camera_rotation"].shape == (3, 3, 3)
        assert z["transl_world"].shape == (len(z["frame"]), 3) and z["global_orient_world"].shape == (len(z["frame"]), 3)
    with VideoSource(video) as src:
        frames = list(src)
    img = frames[0].image
    # The textured world, not a smooth gradient: strong local detail over the whole image.
    assert np.abs(np.diff(img.astype(np.float32), axis=1)).mean() > 4.0
    assert main(["synthetic-media", str(tmp_path / "x.mp4"), "--body-models", str(synthetic_body),
                 "--camera", "pan"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--walk" in err and len(err.splitlines()) == 1


# ---------------------------------------------------------------------------------------------------------------
# camera motion from pixels
# ---------------------------------------------------------------------------------------------------------------

def _walk_video(synthetic_body: Path, folder: Path, camera: str, frames: int = 16, seed: int = 0
                ) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, np.ndarray]]:
    """A small rendered walk (frames, person boxes per frame, truth), read back from its mp4."""
    import json

    from smplestx.io.video import VideoSource
    from smplestx.synthetic.walks import write_walk_media

    video, boxes_path, truth_path = write_walk_media(folder / f"{camera}{seed}.mp4", synthetic_body, frames=frames,
                                                     width=320, height=240, fps=30.0, seed=seed, camera=camera)
    with VideoSource(video) as src:
        images = [f.image for f in src]
    boxes = json.loads(boxes_path.read_text())["frames"]
    with np.load(truth_path, allow_pickle=False) as z:
        truth = dict(z)
    return images, [np.asarray(boxes.get(str(i), []), np.float64).reshape(-1, 4) for i in range(frames)], truth


@pytest.fixture(scope="module")
def videos(synthetic_body: Path, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("camera_motion")
    out = {cam: _walk_video(synthetic_body, folder, cam) for cam in ("static", "pan", "follow")}
    out["other scene"] = _walk_video(synthetic_body, folder, "handheld", seed=1)
    return out


def _relative_rotation_error(truth: dict[str, np.ndarray], rotation: np.ndarray) -> np.ndarray:
    from smplestx.motion.camera_motion import rotation_angle_deg

    r = truth["camera_rotation"]
    return rotation_angle_deg(np.swapaxes(r[:1], 1, 2) @ r, np.swapaxes(rotation[:1], 1, 2) @ rotation)


def test_camera_motion_recovers_a_pan(videos: dict) -> None:
    from smplestx.motion.camera_motion import estimate_camera_motion, rotation_angle_deg

    images, boxes, truth = videos["pan"]
    cm = estimate_camera_motion(images, boxes, truth["focal"], truth["princpt"], mode="auto")
    assert cm.moving and len(cm) == len(images) and cm.segments == [(0, len(images))]
    assert rotation_angle_deg(truth["camera_rotation"][0], truth["camera_rotation"][-1]) > 5.0  # a real turn
    err = _relative_rotation_error(truth, cm.rotation)
    assert err.max() < 1.0, err
    assert not cm.metric  # no floor given: steps in camera heights, not metres
    assert np.abs(cm.translation).max() < 0.05  # a pan stands still (under 5 % of the camera height)
    assert any("auto decided moving" in m for m in cm.messages)


def test_camera_motion_tripod_stays_put(videos: dict) -> None:
    from smplestx.motion.camera_motion import estimate_camera_motion, rotation_angle_deg

    images, boxes, truth = videos["static"]
    cm = estimate_camera_motion(images, boxes, truth["focal"], truth["princpt"], mode="auto", floor=truth["floor"])
    assert not cm.moving and cm.background_motion_px < 1.0
    np.testing.assert_allclose(cm.rotation, np.broadcast_to(cm.rotation[0], cm.rotation.shape), atol=0)
    np.testing.assert_allclose(cm.rotation[0], truth["camera_rotation"][0], atol=1e-9)  # the floor gave gravity
    np.testing.assert_allclose(cm.translation[0], truth["camera_translation"][0], atol=1e-9)  # and the height
    forced = estimate_camera_motion(images, boxes, truth["focal"], truth["princpt"], mode="moving")
    assert rotation_angle_deg(forced.rotation[:1], forced.rotation).max() < 0.2  # no drift even when asked to move


def test_camera_motion_follow_has_metric_steps(videos: dict) -> None:
    from smplestx.motion.camera_motion import estimate_camera_motion

    images, boxes, truth = videos["follow"]
    cm = estimate_camera_motion(images, boxes, truth["focal"], truth["princpt"], mode="auto", floor=truth["floor"])
    assert cm.moving and cm.metric
    assert _relative_rotation_error(truth, cm.rotation).max() < 1.0
    # The floor fixes gravity and height but not the heading: compare the paths in the first camera's frame.
    true_path = (truth["camera_translation"] - truth["camera_translation"][:1]) @ truth["camera_rotation"][0]
    est_path = (cm.translation - cm.translation[:1]) @ cm.rotation[0]
    travelled = np.linalg.norm(true_path[-1])
    assert travelled > 0.3
    assert np.linalg.norm(est_path - true_path, axis=1).max() < 0.1 * travelled
    # Without the floor the steps come in camera heights; placed on the floor later, the same metres.
    late = estimate_camera_motion(images, boxes, truth["focal"], truth["princpt"], mode="auto")
    assert late.moving and not late.metric
    placed = late.placed_on(truth["floor"])
    assert placed.metric
    np.testing.assert_allclose(placed.rotation[0], cm.rotation[0], atol=1e-9)
    late_path = (placed.translation - placed.translation[:1]) @ placed.rotation[0]
    assert np.linalg.norm(late_path - true_path, axis=1).max() < 0.1 * travelled


def test_camera_motion_bad_input_said_in_one_line(videos: dict) -> None:
    from smplestx.motion.camera_motion import estimate_camera_motion

    images, boxes, truth = videos["pan"]
    f, c = truth["focal"], truth["princpt"]
    one = estimate_camera_motion(images[:1], boxes[:1], f, c)
    assert not one.moving and len(one) == 1 and any("one frame" in m for m in one.messages)
    grey = [np.full_like(images[0], 128)] * 4
    plain = estimate_camera_motion(grey, [None] * 4, f, c)
    assert not plain.moving and plain.textureless.all() and any("too plain" in m for m in plain.messages)
    other, other_boxes, _ = videos["other scene"]
    cut = estimate_camera_motion(images[:8] + other[8:], boxes[:8] + other_boxes[8:], f, c, mode="moving")
    assert cut.segments == [(0, 8), (8, len(other))], cut.segments
    assert any("cut" in m for m in cut.messages)
    assert all("\n" not in m for m in one.messages + plain.messages + cut.messages)
    with pytest.raises(ValueError, match="camera mode"):
        estimate_camera_motion(images, boxes, f, c, mode="tripod")


# ---------------------------------------------------------------------------------------------------------------
# world metrics
# ---------------------------------------------------------------------------------------------------------------

def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_world_metrics_on_known_answers() -> None:
    from smplestx.geometry.alignment import rigid_transform
    from smplestx.motion.metrics import (ate, camera_rotation_error, jitter, rte, w_mpjpe, wa_mpjpe)
    from smplestx.synthetic.world import _rot_y

    rng = np.random.default_rng(3)
    truth = rng.normal(0, 1, (40, 22, 3)) + np.linspace(0, 4, 40)[:, None, None] * [1, 0, 0]
    rot, shift = _random_rotation(rng), rng.normal(0, 3, 3)
    moved = truth @ rot.T + shift
    s, r, t = rigid_transform(2.0 * moved.reshape(-1, 3), truth.reshape(-1, 3))
    np.testing.assert_allclose([s], [0.5])
    np.testing.assert_allclose(r, rot.T, atol=1e-9)
    np.testing.assert_allclose(t, -rot.T @ shift, atol=1e-9)
    assert w_mpjpe(moved, truth) < 1e-9 and wa_mpjpe(moved, truth) < 1e-9 and wa_mpjpe(2 * moved, truth) < 1e-9
    # A body sliding 1 cm per frame off its path from the third frame on: W (aligned on the first two, exact) sees
    # the whole drift, 1 + 2 + ... + 38 cm over 40 frames; WA fits the drift away as far as one pose allows.
    drift = truth + np.maximum(np.arange(40) - 1, 0)[:, None, None] * [0, 0, 0.01]
    np.testing.assert_allclose(w_mpjpe(drift, truth), 0.01 * 741 / 40, rtol=1e-9)
    assert wa_mpjpe(drift, truth) < 0.5 * w_mpjpe(drift, truth)
    root = truth[:, 0]
    length = np.linalg.norm(np.diff(root, axis=0), axis=1).sum()
    assert rte(root @ rot.T + shift, root) < 1e-9
    # A rigid fit cannot undo a stretch: 10 % longer path (centred) leaves a known mean residual.
    stretched = root + 0.1 * (root - root.mean(0))
    expected = 100 * np.linalg.norm(0.1 * (root - root.mean(0)), axis=1).mean() / length
    assert abs(rte(stretched, root) - expected) < 0.15 * expected
    t = np.arange(10) / 30.0
    np.testing.assert_allclose(jitter((t**3)[:, None, None] * np.array([1.0, 0, 0]), 30.0), 6.0, rtol=1e-6)
    assert jitter(np.repeat(t[:, None, None], 3, -1), 30.0) < 1e-6  # steady motion has no jerk
    cams = _rot_y(np.linspace(0, 0.5, 20)) @ _random_rotation(rng)
    assert camera_rotation_error(cams @ _random_rotation(rng), cams) > 1.0
    assert camera_rotation_error(rot @ cams, cams) < 1e-4  # (degrees; arccos near 1) another world, the same relative turns
    off = cams.copy()
    off[10:] = _rot_y(np.full(10, np.deg2rad(2.0))) @ off[10:]  # 2 degrees off in half the frames
    np.testing.assert_allclose(camera_rotation_error(off, cams), 1.0, atol=1e-4)
    path = np.cumsum(rng.normal(0, 0.1, (30, 3)), 0)
    assert ate(3.0 * path @ rot.T + shift, path) < 1e-9
    assert ate(3.0 * path, path, scale=False) > 0.05
    assert ate(np.zeros((5, 3)), np.zeros((5, 3))) == 0.0


# ---------------------------------------------------------------------------------------------------------------
# track files in the world
# ---------------------------------------------------------------------------------------------------------------

def test_track_file_world_fields_round_trip(body: BodyModel, tmp_path: Path) -> None:
    from dataclasses import replace

    from smplestx.motion.tracks import TracksFileError, load_tracks, save_tracks
    from smplestx.motion.world_frame import place_tracks
    from smplestx.synthetic.walks import truth_trackset

    truth = walk_truth(body, "crossing", frames=8, fps=10.0, width=160, height=120, camera="pan")
    ts = truth_trackset(truth)
    frames = np.arange(8)
    placed = place_tracks(ts, body, frames, truth["camera_rotation"], truth["camera_translation"], moving=True)
    for t in placed.tracks:  # the camera-frame truth moved by the true camera is the world truth
        rows = truth["person_id"] == t.track_id
        np.testing.assert_allclose(t.transl_world, truth["transl_world"][rows], atol=1e-5)
        np.testing.assert_allclose(t.global_orient_world, truth["global_orient_world"][rows], atol=1e-5)
    back = load_tracks(save_tracks(tmp_path / "w.tracks.npz", placed))
    assert back.camera == "moving"
    np.testing.assert_array_equal(back.camera_frames, frames)
    np.testing.assert_allclose(back.camera_rotation, truth["camera_rotation"])
    np.testing.assert_allclose(back.camera_translation, truth["camera_translation"])
    for a, b in zip(placed.tracks, back.tracks):
        np.testing.assert_array_equal(a.transl_world, b.transl_world)
    plain = load_tracks(save_tracks(tmp_path / "p.tracks.npz", ts))  # without a camera path: as before
    assert plain.camera == "none" and plain.camera_frames is None and plain.tracks[0].transl_world is None
    with pytest.raises(TracksFileError, match="lacks"):
        save_tracks(tmp_path / "bad.tracks.npz", replace(placed, camera_frames=frames + 1))
    with pytest.raises(TracksFileError, match="not rotations"):
        save_tracks(tmp_path / "bad.tracks.npz", replace(placed, camera_rotation=2 * placed.camera_rotation))


def test_infer_camera_auto_writes_the_camera_path(synthetic_body: Path, tiny_ckpt, tiny_config, tmp_path: Path,
                                                  capsys) -> None:
    from smplestx import load_tracks
    from smplestx.cli import main
    from smplestx.synthetic.walks import write_walk_media

    video, boxes, truth_path = write_walk_media(tmp_path / "pan.mp4", synthetic_body, frames=12, width=320, height=240,
                                                fps=30.0, camera="pan")
    common = ["--checkpoint", str(tiny_ckpt), "--config", str(tiny_config), "--body-models", str(synthetic_body),
              "--quiet", "--dtype", "fp32", "--detector", f"boxes:{boxes}", "--no-render"]
    for mode in ("auto", "static"):
        assert main(["infer", str(video), "--output", str(tmp_path / mode), "--camera", mode, *common]) == 0, \
            capsys.readouterr().err
    with np.load(truth_path, allow_pickle=False) as z:
        true_r = z["camera_rotation"]
    moving = load_tracks(tmp_path / "auto" / "pan.tracks.npz")
    assert moving.camera == "moving" and moving.camera_rotation.shape == (12, 3, 3)
    assert _relative_rotation_error({"camera_rotation": true_r}, moving.camera_rotation).max() < 1.0
    assert all(t.global_orient_world.shape == (len(t), 3) for t in moving.tracks) and moving.tracks
    static = load_tracks(tmp_path / "static" / "pan.tracks.npz")
    assert static.camera == "static"
    np.testing.assert_array_equal(static.camera_rotation, np.broadcast_to(static.camera_rotation[0], (12, 3, 3)))


def test_changing_a_placed_track_drops_its_stale_world_fields(body: BodyModel) -> None:
    from dataclasses import replace

    from smplestx.motion.smoothing import fill_gaps, smooth
    from smplestx.motion.world_frame import place_tracks
    from smplestx.synthetic.walks import truth_trackset

    truth = walk_truth(body, "crossing", frames=8, fps=10.0, width=160, height=120, camera="pan")
    placed = place_tracks(truth_trackset(truth), body, np.arange(8), truth["camera_rotation"],
                          truth["camera_translation"], moving=True)
    assert all(t.transl_world is not None for t in placed.tracks)
    assert all(t.transl_world is None and t.global_orient_world is None for t in smooth(placed, "gaussian").tracks)
    t = placed.tracks[0]
    keep = np.r_[0:3, 5:len(t)]  # a two-frame gap to fill
    gappy = replace(t, **{k: getattr(t, k)[keep] for k in ("frames", "global_orient", "body_pose", "left_hand_pose",
                                                           "right_hand_pose", "jaw_pose", "expression", "transl",
                                                           "global_orient_world", "transl_world")}, contacts=None)
    filled = fill_gaps(gappy, 3)
    assert len(filled) == len(t) and filled.transl_world is None


def test_smooth_path_keeps_the_first_pose_and_calms_the_jerk() -> None:
    from smplestx.motion.camera_motion import smooth_path
    from smplestx.motion.metrics import camera_rotation_error, jitter

    r, t = camera_path("follow", np.arange(60) / 30.0)
    r2, t2 = smooth_path(r, t, 1.0)
    np.testing.assert_allclose(r2[0], r[0], atol=1e-12)
    np.testing.assert_allclose(t2[0], t[0], atol=1e-12)
    assert camera_rotation_error(r2, r) < 0.01 and np.abs(t2 - t).max() < 1e-3  # a smooth path stays put
    noisy = t + np.random.default_rng(0).normal(0, 0.005, t.shape)
    _, calm = smooth_path(r, noisy, 1.0)
    assert jitter(calm[:, None], 30.0) < 0.25 * jitter(noisy[:, None], 30.0)


def test_moving_camera_feet_pinned_in_the_world(body: BodyModel) -> None:
    from smplestx.motion.camera_motion import CameraMotion
    from smplestx.motion.contacts import foot_points
    from smplestx.motion.feet import body_joints
    from smplestx.motion.smoothing import smooth
    from smplestx.motion.world_frame import place_moving_camera
    from smplestx.synthetic.walks import noisy_tracks, truth_trackset

    frames = 45
    truth = walk_truth(body, "crossing", frames=frames, fps=30.0, width=320, height=240, camera="follow")
    r, t = truth["camera_rotation"], truth["camera_translation"]
    # The camera path as the estimator gives it without a floor: the world is the first camera, steps in its height.
    first_r, first_t = invert_pose(r[0], t[0])
    rel_r = first_r @ r
    rel_t = (np.einsum("ij,fj->fi", first_r, t) + first_t) / t[0, 1]
    motion = CameraMotion(rel_r, rel_t, moving=True, metric=False, segments=[(0, frames)])
    noisy = smooth(noisy_tracks(truth_trackset(truth), seed=0), "gaussian")
    out = place_moving_camera(noisy, body, np.arange(frames), motion, pin=True)
    assert out.camera == "moving" and out.feet == "pin"
    # Floor and camera height found from the noisy feet (the static camera's floor fit is 1.5-3 cm off on these too).
    np.testing.assert_allclose(out.floor[:3], truth["floor"][:3], atol=0.02)
    assert abs(out.floor[3] - 0.8) < 0.05
    np.testing.assert_allclose(out.camera_translation[:, 1], t[:, 1], atol=0.05)  # the path in metres
    travel = np.linalg.norm(out.camera_translation[-1] - out.camera_translation[0])
    assert abs(travel - np.linalg.norm(t[-1] - t[0])) < 0.07 * np.linalg.norm(t[-1] - t[0])
    for track in out.tracks:  # planted feet stand still in the world (not in the moving camera)
        world = replace_world(track)
        pts = foot_points(body_joints(body, world))
        moved = np.linalg.norm(np.diff(pts, axis=0), axis=-1)[track.contacts[1:] & track.contacts[:-1]]
        assert moved.size and np.median(moved) < 0.005
        # ... and the camera-frame parameters are those world ones seen from each frame's camera
        np.testing.assert_allclose(move_root(track.global_orient_world, track.transl_world,
                                             body(betas=torch.tensor(track.betas[None], dtype=torch.float64)).joints[0, 0].numpy(),
                                             *invert_pose(out.camera_rotation[track.frames], out.camera_translation[track.frames]))[1],
                                   track.transl, atol=1e-4)


def replace_world(track):
    """The track with its world parameters in place of the camera-frame ones."""
    from dataclasses import replace

    return replace(track, global_orient=track.global_orient_world, transl=track.transl_world)


def _frames_of(trackset) -> list:
    """The per-frame results a tracked video would give for these tracks (what infer's TrackBuilder is fed)."""
    from smplestx.io.results import FrameResult, Person

    z = np.zeros
    last = max(int(t.frames[-1]) for t in trackset.tracks)
    out = [FrameResult(index=f, time_s=f / trackset.fps, width=320, height=240) for f in range(last + 1)]
    for t in trackset.tracks:
        for k, f in enumerate(t.frames.tolist()):
            out[f].people.append(Person(
                box_xyxy=z(4, np.float32), score=0.9, track_id=t.track_id, crop_box_xywh=z(4, np.float32),
                global_orient=t.global_orient[k], body_pose=t.body_pose[k], left_hand_pose=t.left_hand_pose[k],
                right_hand_pose=t.right_hand_pose[k], jaw_pose=t.jaw_pose[k], betas=t.betas, expression=t.expression[k],
                transl=t.transl[k], focal=trackset.focal, princpt=trackset.princpt, joints_3d=z((137, 3), np.float32),
                joints_2d=z((137, 2), np.float32)))
    return out


def test_infer_smooths_a_shaking_cameras_tracks_in_the_world(body: BodyModel) -> None:
    """With a handheld camera, infer's track file smooths the root in the world, not in the shaking camera."""
    from dataclasses import replace

    from smplestx.motion.camera_motion import CameraMotion
    from smplestx.motion.contacts import foot_points
    from smplestx.motion.feet import body_joints
    from smplestx.motion.metrics import jitter, wa_mpjpe
    from smplestx.motion.sequences import TrackBuilder
    from smplestx.motion.smoothing import smooth
    from smplestx.motion.tracks import camera_at
    from smplestx.motion.world_frame import place_moving_camera
    from smplestx.pipeline.run import video_tracks
    from smplestx.synthetic.walks import truth_trackset

    frames, fps = 60, 30.0
    truth = walk_truth(body, "crossing", frames=frames, fps=fps, width=320, height=240, camera="handheld")
    r, t = truth["camera_rotation"], truth["camera_translation"]
    first_r, first_t = invert_pose(r[0], t[0])  # the path as the estimator gives it: world = first camera, no scale
    motion = CameraMotion(first_r @ r, (np.einsum("ij,fj->fi", first_r, t) + first_t) / t[0, 1], moving=True,
                          metric=False, segments=[(0, frames)])
    exact = truth_trackset(truth)  # exact camera-frame bodies: all the shake in their roots is the camera's
    builder = TrackBuilder()
    for frame in _frames_of(exact):
        builder.add(frame)
    out = {feet: video_tracks(builder, fps, "walk", np.arange(frames), motion, body, smoothing="gaussian", feet=feet)
           for feet in ("none", "pin")}
    # The order before: smoothed in the camera frame, then placed with the camera path.
    camera_smoothed = place_moving_camera(smooth(builder.build(fps), "gaussian"), body, np.arange(frames), motion,
                                          pin=False)
    unsmoothed = place_moving_camera(builder.build(fps), body, np.arange(frames), motion, pin=False)

    def pelvis_error(ts) -> tuple[float, float]:
        """The world pelvis: its WA error against the truth's (m) and its jitter (m/s^3; the shake's, if it kept any)."""
        errs, jits = [], []
        for track in ts.tracks:
            p = body_joints(body, replace(track, global_orient=track.global_orient_world,
                                          transl=track.transl_world))[:, :1]
            g = apply_pose(r[track.frames], t[track.frames], body_joints(body, exact.track(track.track_id))[:, :1])
            errs.append(wa_mpjpe(p, g))
            jits.append(jitter(p, fps))
        return float(np.mean(errs)), float(np.mean(jits))

    (err_world, jit_world), (err_camera, jit_camera) = pelvis_error(out["none"]), pelvis_error(camera_smoothed)
    assert err_world < 0.01 and err_world < 0.4 * err_camera, (err_world, err_camera)
    assert jit_world < 0.3 * jit_camera, (jit_world, jit_camera)
    for feet, ts in out.items():
        assert ts.camera == "moving" and ts.smoothing == "gaussian(sigma=2)" and ts.feet == feet
        # The camera path is the estimator's (smoothed there, on its own) on the floor: not filtered again.
        np.testing.assert_allclose(ts.camera_rotation, unsmoothed.camera_rotation, atol=1e-12)
        np.testing.assert_allclose(ts.camera_translation, unsmoothed.camera_translation, atol=1e-12)
        for track in ts.tracks:  # what is written holds X_world = R X_cam + t with the written camera path
            pelvis = body(betas=torch.tensor(track.betas[None], dtype=torch.float64)).joints[0, 0].numpy()
            go, transl = move_root(track.global_orient, track.transl, pelvis, *camera_at(ts, track.frames))
            np.testing.assert_allclose(transl, track.transl_world, atol=1e-4)
            np.testing.assert_allclose(go, track.global_orient_world, atol=1e-4)
    # Pinned against the floor found under the camera path (y = 0), not one fitted again to the contacts alone.
    pinned = out["pin"]
    np.testing.assert_allclose(pinned.floor, floor_in_camera(pinned.camera_rotation[0], pinned.camera_translation[0]),
                               atol=1e-12)
    np.testing.assert_allclose(pinned.floor, out["none"].floor, atol=1e-12)
    for track in pinned.tracks:  # pinned last: planted feet stand still in the world
        pts = foot_points(body_joints(body, replace(track, global_orient=track.global_orient_world,
                                                    transl=track.transl_world)))
        moved = np.linalg.norm(np.diff(pts, axis=0), axis=-1)[track.contacts[1:] & track.contacts[:-1]]
        assert moved.size and np.median(moved) < 0.005



def test_a_cut_splits_tracks_and_each_shot_is_a_world_of_its_own(body: BodyModel, caplog) -> None:
    """A walk across a cut between two shots (the second filmed pitched 12 deg down): infer's track file splits every
    track at the cut, smooths no world root across it, and stands each shot's world on that shot's own floor."""
    import logging
    from dataclasses import replace

    from smplestx.geometry.rotations import axis_angle_to_rotmat_np
    from smplestx.motion.camera_motion import CameraMotion, start_pose
    from smplestx.motion.feet import body_joints, rest_joints
    from smplestx.motion.sequences import TrackBuilder
    from smplestx.motion.smoothing import smooth_track
    from smplestx.motion.tracks import split_at_segments
    from smplestx.pipeline.run import video_tracks
    from smplestx.synthetic.walks import truth_trackset

    frames, cut, fps = 40, 20, 30.0
    truth = walk_truth(body, "crossing", frames=frames, fps=fps, width=320, height=240, camera="follow")
    r, t = truth["camera_rotation"], truth["camera_translation"]
    exact = truth_trackset(truth)
    pitch = axis_angle_to_rotmat_np(np.array([np.deg2rad(12.0), 0.0, 0.0]))  # second shot: X_cam' = P X_cam
    cam_r = r.copy()
    cam_r[cut:] = r[cut:] @ pitch.T
    glued = []
    for tr in exact.tracks:  # the second shot's camera-frame bodies, seen by the pitched camera
        late = tr.frames[:, None] >= cut
        go, transl = move_root(tr.global_orient, tr.transl, rest_joints(body, tr.betas)[0], pitch, np.zeros(3))
        glued.append(replace(tr, global_orient=np.where(late, go, tr.global_orient).astype(np.float32),
                             transl=np.where(late, transl, tr.transl).astype(np.float32)))
    glued_set = replace(exact, tracks=glued)
    assert any(tr.frames[0] < cut <= tr.frames[-1] for tr in glued), "the walk must cross the cut"
    # The path as the estimator gives it: each segment from its own first camera (the start pose), no scale.
    rel_r, rel_t = np.empty_like(cam_r), np.empty_like(t)
    for s, e in ((0, cut), (cut, frames)):
        ir, it = invert_pose(cam_r[s], t[s])
        rel_r[s:e] = ir @ cam_r[s:e]
        rel_t[s:e] = (np.einsum("ij,fj->fi", ir, t[s:e]) + it) / t[s, 1]
    motion = CameraMotion(rel_r, rel_t, moving=True, metric=False, segments=[(0, cut), (cut, frames)])
    builder = TrackBuilder()
    for frame in _frames_of(glued_set):
        builder.add(frame)
    with caplog.at_level(logging.INFO, logger="smplestx"):
        out = video_tracks(builder, fps, "walk", np.arange(frames), motion, body, smoothing="gaussian", feet="none")
    raw = video_tracks(builder, fps, "walk", np.arange(frames), motion, body, smoothing="none", feet="none")
    np.testing.assert_array_equal(out.camera_segments, [[0, cut], [cut, frames]])
    crossing = [tr.track_id for tr in glued if tr.frames[0] < cut <= tr.frames[-1]]
    assert len(out.tracks) == len(glued) + len(crossing)
    assert len({tr.track_id for tr in out.tracks}) == len(out.tracks)
    assert any(f"camera motion: cut at frame {cut}: track" in m and "split into new track" in m
               for m in caplog.messages), caplog.messages
    for tr in out.tracks:  # no track has frames in two segments
        assert (tr.frames < cut).all() or (tr.frames >= cut).all(), tr.track_id
    # Each shot's world: its first camera levelled over the floor beneath it (y up, floor at y = 0).
    worlds = {}
    for s in (0, cut):
        plane = floor_in_camera(cam_r[s], t[s])
        s_r, s_t = start_pose(plane)
        ir, it = invert_pose(cam_r[s], t[s])
        worlds[s] = (s_r @ ir, s_r @ it + s_t)  # shot world from the true world
    pieces, _ = split_at_segments(exact, out.camera_segments)
    jumps = []
    for tr, plain, source in zip(out.tracks, raw.tracks, pieces.tracks, strict=True):
        assert tr.track_id == plain.track_id == source.track_id
        np.testing.assert_array_equal(tr.frames, source.frames)
        true_pelvis = body_joints(body, source)[:, 0]
        true_world = np.einsum("tij,tj->ti", r[tr.frames], true_pelvis) + t[tr.frames]
        w_r, w_t = worlds[cut if tr.frames[0] >= cut else 0]
        want = true_world @ w_r.T + w_t

        def world_pelvis(x) -> np.ndarray:
            return body_joints(body, replace(x, global_orient=x.global_orient_world, transl=x.transl_world))[:, 0]

        got, unsmoothed = world_pelvis(tr), world_pelvis(plain)
        # Exact bodies: only the floor fit (a few cm) and the smoothing at a piece's ends stand between.
        assert np.linalg.norm(got - want, axis=1).max() < 0.05, (tr.track_id, np.linalg.norm(got - want, axis=1))
        # Smoothed on its own, as if the other shot's world (half a metre off) were not there, and its first frames
        # within a one-sided window's pull (under 2 frames of walking) of where it was placed.
        alone = smooth_track(plain, "gaussian", fps, world=True)
        np.testing.assert_allclose(tr.transl_world, alone.transl_world, atol=1e-5)
        np.testing.assert_allclose(tr.global_orient_world, alone.global_orient_world, atol=1e-5)
        assert np.linalg.norm(got[:2] - unsmoothed[:2], axis=1).max() < 0.05
        jumps.append(np.linalg.norm(want[0] - (true_world[0] @ worlds[0][0].T + worlds[0][1])))
    assert max(jumps) > 0.4, jumps  # the second world is half a metre off the first: blending across would show


def test_a_cut_under_a_static_camera_splits_tracks_too(body: BodyModel) -> None:
    """``--camera auto`` deciding static still found the cut: tracks are split there and smoothed per piece."""
    from smplestx.motion.camera_motion import CameraMotion
    from smplestx.motion.sequences import TrackBuilder
    from smplestx.motion.smoothing import smooth
    from smplestx.pipeline.run import video_tracks
    from smplestx.synthetic.walks import truth_trackset

    frames, cut, fps = 16, 8, 30.0
    exact = truth_trackset(walk_truth(body, "crossing", frames=frames, fps=fps, width=320, height=240))
    builder = TrackBuilder()
    for frame in _frames_of(exact):
        builder.add(frame)
    still = np.repeat(np.eye(3)[None], frames, 0)
    motion = CameraMotion(still, np.zeros((frames, 3)), moving=False, metric=False, segments=[(0, cut), (cut, frames)])
    out = video_tracks(builder, fps, "walk", np.arange(frames), motion, body, smoothing="gaussian", feet="none")
    assert out.camera == "static"
    np.testing.assert_array_equal(out.camera_segments, [[0, cut], [cut, frames]])
    assert len(out.tracks) == 2 * len(exact.tracks)
    for tr in out.tracks:
        assert (tr.frames < cut).all() or (tr.frames >= cut).all()
        if tr.frames[0] < cut:  # the first piece: smoothed as if the frames after the cut were not there
            alone = smooth(replace_frames(exact, tr.track_id, tr.frames), "gaussian").tracks[0]
            np.testing.assert_allclose(tr.transl, alone.transl, atol=1e-6)


def replace_frames(trackset, track_id: int, frames: np.ndarray):
    """The track set holding only these frames of one track."""
    from dataclasses import replace

    t = trackset.track(track_id)
    keep = np.isin(t.frames, frames)
    fields = ("frames", "global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "expression",
              "transl")
    return replace(trackset, tracks=[replace(t, contacts=None, **{k: getattr(t, k)[keep] for k in fields})])
