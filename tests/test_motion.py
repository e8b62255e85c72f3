"""Tracking (identity metrics on synthetic crossing walks) and temporal smoothing (accel error, MPJPE)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.synthetic.walks import noisy_detections, walk_sequence, walk_truth, walkers
from smplestx.motion.metrics import acceleration_error, mot_identity_metrics, mpjpe
from smplestx.motion.smoothing import (
    DEFAULTS,
    fill_gaps,
    parse_method,
    robust_betas,
    smooth_track,
)
from smplestx.motion.tracker import Tracker
from smplestx.motion.tracks import Track
from smplestx.geometry.rotations import axis_angle_to_rotmat, rotmat_to_axis_angle

FPS = 30.0


@pytest.fixture(scope="module")
def body(synthetic_body: Path):
    from smplestx.body import BodyModel

    return BodyModel.from_dir(synthetic_body, dtype=torch.float32)


@pytest.fixture(scope="module")
def crossing(body) -> dict[str, np.ndarray]:
    return walk_truth(body, "crossing", frames=120, fps=FPS)


@pytest.fixture(scope="module")
def hard(body) -> dict[str, np.ndarray]:
    return walk_truth(body, "hard", frames=180, fps=FPS)


def _run(truth: dict[str, np.ndarray], seed: int, cues: bool):
    dets = noisy_detections(truth, seed=seed)
    tracker = Tracker(fps=FPS)
    gt, pred = [], []
    for f, d in enumerate(dets):
        ids = tracker.update(d["boxes"], d["scores"], d["betas"] if cues else None, d["positions"] if cues else None)
        rows = np.flatnonzero(truth["frame"] == f)
        gt.append((truth["person_id"][rows], truth["box_xyxy"][rows]))
        keep = ids >= 0
        pred.append((ids[keep], d["boxes"][keep]))
    return mot_identity_metrics(gt, pred)


# ------------------------------------------------------------------ metrics


def test_identity_metrics_on_hand_made_cases() -> None:
    a = np.array([[0, 0, 10, 20]], float)
    b = np.array([[50, 0, 60, 20]], float)
    boxes = np.concatenate([a, b])
    truth = [(np.array([1, 2]), boxes)] * 4
    perfect = mot_identity_metrics(truth, [(np.array([7, 8]), boxes)] * 4)
    assert perfect.idf1 == 1.0 and perfect.id_switches == 0
    # Ids swap after two frames: each person switches once; the best id mapping covers half the boxes.
    swapped = [(np.array([7, 8]), boxes)] * 2 + [(np.array([8, 7]), boxes)] * 2
    m = mot_identity_metrics(truth, swapped)
    assert m.id_switches == 2 and m.idf1 == pytest.approx(0.5)
    # A missed box and a false positive: no switch; IDF1 = 2*7 / (8 + 8).
    pred = [(np.array([7, 8]), boxes)] * 3 + [(np.array([7, 9]), np.concatenate([a, [[200, 200, 210, 220]]]))]
    pred[0] = (np.array([7]), a)
    pred[3] = (np.array([7, 8, 9]), np.concatenate([boxes, [[200, 200, 210, 220]]]))
    m = mot_identity_metrics(truth, pred)
    assert m.id_switches == 0 and m.idf1 == pytest.approx(2 * 7 / (8 + 8))


# ------------------------------------------------------------------ tracking


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_simple_crossing_has_no_id_switch(crossing, seed: int) -> None:
    m = _run(crossing, seed, cues=True)
    assert m.id_switches == 0
    # Misses (8% plus hidden frames) and false positives cap IDF1 near 0.93 even for a perfect tracker.
    assert m.idf1 >= 0.85


def test_hard_scene_is_tracked_through_occlusion_and_reentry(hard) -> None:
    with_cues = [_run(hard, s, cues=True) for s in range(3)]
    boxes_only = [_run(hard, s, cues=False) for s in range(3)]
    # Three people, two long full occlusions, one exit and re-entry (~0.7 s out of view): one switch per
    # sequence is the most we accept (a re-entry matched late); measured: 0 on seeds 0-4.
    assert max(m.id_switches for m in with_cues) <= 1
    assert min(m.idf1 for m in with_cues) >= 0.85
    # The body cues are what carries identity through the re-entry: boxes alone do clearly worse.
    assert sum(m.id_switches for m in boxes_only) > sum(m.id_switches for m in with_cues)
    assert np.mean([m.idf1 for m in with_cues]) > np.mean([m.idf1 for m in boxes_only]) + 0.05


def test_given_ids_are_kept_and_never_reused() -> None:
    tracker = Tracker(fps=FPS)
    boxes = np.array([[0, 0, 50, 100], [200, 0, 250, 100]], float)
    ids = tracker.update(boxes, np.array([0.9, 0.9]), given_ids=np.array([5, -1]))
    assert ids[0] == 5 and ids[1] >= 0 and ids[1] != 5
    tracker2 = Tracker(fps=FPS)
    tracker2.update(boxes[:1], np.array([0.9]), given_ids=np.array([0]))
    new = tracker2.update(boxes, np.array([0.9, 0.9]), given_ids=np.array([0, -1]))
    assert new.tolist()[0] == 0 and new[1] not in (0, -1)


def test_a_person_keeps_the_id_through_a_one_second_gap() -> None:
    tracker = Tracker(fps=FPS)
    betas = np.full((1, 10), 0.7)
    seen = []
    for f in range(90):
        x = 100 + 3 * f
        if 30 <= f < 60:  # hidden for one second
            seen.append(tracker.update(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 10)), np.zeros((0, 3)))[:0])
            continue
        box = np.array([[x, 100, x + 60, 260]], float)
        pos = np.array([[(x + 30 - 320) / 160, 0.2, 5.0]])
        seen.append(tracker.update(box, np.array([0.9]), betas, pos))
    assert {int(i) for s in seen for i in s} == {0}


# ------------------------------------------------------------------ smoothing


def _truth_track(body, frames: int = 90) -> Track:
    seq = walk_sequence(walkers("crossing"), np.arange(frames) / FPS, body)

    def get(k: str) -> np.ndarray:
        return seq[k][:, 0].astype(np.float32)

    rng = np.random.default_rng(5)
    hands = rng.normal(0, 0.2, (15, 3)).astype(np.float32)
    return Track(0, np.arange(frames), get("global_orient"), get("body_pose"), np.repeat(hands[None], frames, 0),
                 np.repeat(-hands[None], frames, 0), np.zeros((frames, 3), np.float32), get("betas")[0],
                 np.repeat(rng.normal(0, 0.5, (1, 10)).astype(np.float32), frames, 0), get("transl"))


def _perturb_rotations(aa: np.ndarray, deg: float, rng: np.random.Generator) -> np.ndarray:
    # A random rotation of RMS angle `deg` applied to every joint of every frame.
    noise = rng.normal(0, np.deg2rad(deg) / np.sqrt(3), aa.shape)
    r = axis_angle_to_rotmat(torch.from_numpy(noise)) @ axis_angle_to_rotmat(torch.from_numpy(aa.astype(np.float64)))
    return rotmat_to_axis_angle(r).numpy().astype(np.float32)


def _noisy(track: Track, seed: int = 0) -> Track:
    rng = np.random.default_rng(seed)
    rot = {k: _perturb_rotations(getattr(track, k), 3.0, rng)
           for k in ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose")}
    return replace(track, **rot, transl=(track.transl + rng.normal(0, 0.02, track.transl.shape)).astype(np.float32))


def _joints_mm(body, t: Track) -> np.ndarray:
    with torch.no_grad():
        out = body(global_orient=torch.from_numpy(t.global_orient), body_pose=torch.from_numpy(t.body_pose),
                   left_hand_pose=torch.from_numpy(t.left_hand_pose), right_hand_pose=torch.from_numpy(t.right_hand_pose),
                   jaw_pose=torch.from_numpy(t.jaw_pose), betas=torch.from_numpy(np.repeat(t.betas[None], len(t), 0)),
                   expression=torch.from_numpy(t.expression), transl=torch.from_numpy(t.transl))
    return out.joints[:, :55].numpy() * 1000.0


def test_default_smoothing_cuts_acceleration_error_3x_without_raising_mpjpe(body) -> None:
    truth = _truth_track(body)
    noisy = _noisy(truth)
    j_true, j_raw = _joints_mm(body, truth), _joints_mm(body, noisy)
    raw = acceleration_error(j_raw, j_true), mpjpe(j_raw, j_true)
    default = f"gaussian(sigma={DEFAULTS['gaussian']['sigma']:g})"
    for method in (default, "oneeuro"):
        j = _joints_mm(body, smooth_track(noisy, method, FPS))
        acc, err = acceleration_error(j, j_true), mpjpe(j, j_true)
        # Measured (3 deg, 2 cm noise): raw ~137 mm/f^2, 57 mm; gaussian(2) ~6, 24; two-pass 1-euro ~6, 27.
        assert acc * 3 <= raw[0], (method, acc, raw)
        assert err <= raw[1], (method, err, raw)


def test_smoothing_a_still_pose_returns_it_near_180_degrees(body) -> None:
    # Rotations near 180 deg, where axis-angle and quaternion signs flip between frames.
    truth = _truth_track(body, 40)
    aa = np.tile(np.array([np.pi - 1e-4, 0, 0], np.float32), (40, 1))
    aa[::2] = [-(np.pi + 1e-4), 0, 0]  # the same rotation written the other way round (quaternion sign flips)
    still = replace(truth, global_orient=aa, body_pose=np.repeat(truth.body_pose[:1], 40, 0),
                    transl=np.repeat(truth.transl[:1], 40, 0))
    for method, causal in (("gaussian", False), ("oneeuro", False), ("oneeuro", True)):
        out = smooth_track(still, method, FPS, causal=causal)
        r_in = axis_angle_to_rotmat(torch.from_numpy(still.global_orient.astype(np.float64)))
        r_out = axis_angle_to_rotmat(torch.from_numpy(out.global_orient.astype(np.float64)))
        np.testing.assert_allclose(r_out.numpy(), r_in.numpy(), atol=1e-4)
        np.testing.assert_allclose(out.body_pose, still.body_pose, atol=1e-5)
        # Re-orthonormalised: proper rotations.
        np.testing.assert_allclose(torch.linalg.det(r_out).numpy(), 1.0, atol=1e-5)


def _finger_near_180_degrees(track: Track) -> Track:
    """One finger near 180 deg whose axis-angle changes sign between frames, as a network's output does."""
    n = np.array([0.6, 0.0, 0.8], np.float32)
    hand = track.left_hand_pose.copy()
    hand[:, 9] = np.where(np.arange(len(track)) % 2 == 0, 1.0, -1.0)[:, None] * n * np.float32(np.pi - 0.02)
    return replace(track, left_hand_pose=hand)


def test_smoothing_keeps_each_pose_on_its_axis_angle_branch(body) -> None:
    # +n(pi - e) and -n(pi - e) are almost one rotation, but the body model adds the hand mean to the vector:
    # a filter that moves a frame to the other branch moves the finger by centimetres.
    still = _finger_near_180_degrees(_truth_track(body, 20))
    for method, causal in (("gaussian", False), ("oneeuro", False), ("oneeuro", True)):
        out = smooth_track(still, method, FPS, causal=causal)
        step = np.linalg.norm(out.left_hand_pose[:, 9] - still.left_hand_pose[:, 9], axis=-1)
        assert step.max() < 0.1, (method, causal, step.max())  # the rotation moved by at most 2e = 0.04 rad


def test_fill_gaps_keeps_the_track_frames_bit_for_bit(body) -> None:
    t = replace(_finger_near_180_degrees(_noisy(_truth_track(body, 10))), frames=np.array([0, 1, 2, 3, 4, 8, 9, 10, 11, 12]))
    out = fill_gaps(t, 3)
    own = np.isin(out.frames, t.frames)
    for name in ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "expression", "transl"):
        np.testing.assert_array_equal(getattr(out, name)[own], getattr(t, name), err_msg=name)


def test_causal_one_euro_does_not_look_ahead(body) -> None:
    noisy = _noisy(_truth_track(body, 30))
    changed = replace(noisy, transl=noisy.transl.copy(), body_pose=noisy.body_pose.copy())
    changed.transl[20:] += 1.0
    changed.body_pose[20:] *= -1
    a = smooth_track(noisy, "oneeuro", FPS, causal=True)
    b = smooth_track(changed, "oneeuro", FPS, causal=True)
    np.testing.assert_array_equal(a.transl[:20], b.transl[:20])
    np.testing.assert_array_equal(a.body_pose[:20], b.body_pose[:20])
    assert np.abs(a.transl[25] - b.transl[25]).max() > 0.1
    with pytest.raises(ValueError, match="causal"):
        smooth_track(noisy, "gaussian", FPS, causal=True)


def test_fill_gaps_interpolates_on_the_sphere(body) -> None:
    t = _truth_track(body, 10)
    t = replace(t, frames=np.array([0, 1, 2, 3, 4, 8, 9, 10, 20, 21]))
    t.global_orient[4] = [0, 0, 0.2]
    t.global_orient[5] = [0, 0, 1.0]
    t.transl[4], t.transl[5] = [0, 0, 4], [1, 0, 6]
    out = fill_gaps(t, 3)
    # The 3-frame hole is filled; the 9-frame hole is not.
    np.testing.assert_array_equal(out.frames, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 21])
    np.testing.assert_allclose(out.global_orient[5:8], [[0, 0, 0.4], [0, 0, 0.6], [0, 0, 0.8]], atol=1e-6)
    np.testing.assert_allclose(out.transl[6], [0.5, 0, 5], atol=1e-6)
    assert out.body_pose.shape == (13, 21, 3) and out.expression.shape == (13, 10)


def test_robust_betas_ignore_outlier_frames() -> None:
    rng = np.random.default_rng(0)
    b = rng.normal(0, 0.05, (40, 10)) + 1.0
    b[:5] = 9.0  # five wild frames (e.g. a half-visible person)
    np.testing.assert_allclose(robust_betas(b), 1.0, atol=0.03)


def test_parse_method() -> None:
    assert parse_method("gaussian") == ("gaussian", {"sigma": 2.0})
    assert parse_method("oneeuro(beta=0.5)")[1]["beta"] == 0.5
    for bad in ("kalman", "gaussian(sigma=-1)", "gaussian(width=3)", "oneeuro(beta=x)"):
        with pytest.raises(ValueError):
            parse_method(bad)


def test_synthetic_walk_video_and_truth_sidecar(synthetic_body: Path, tmp_path: Path, capsys) -> None:
    import json

    from smplestx.cli import main
    from smplestx.pipeline.sources import VideoSource

    video = tmp_path / "walk.mp4"
    assert main(["synthetic-media", str(video), "--body-models", str(synthetic_body), "--walk", "hard",
                 "--frames", "4", "--width", "160", "--height", "120", "--fps", "10"]) == 0
    assert "truth" in capsys.readouterr().out
    with np.load(tmp_path / "walk.mp4.truth.npz", allow_pickle=False) as z:
        assert str(z["format"]) == "smplestx-walk-truth" and str(z["scenario"]) == "hard"
        assert z["body_pose"].shape == (len(z["frame"]), 21, 3) and set(z["person_id"].tolist()) <= {0, 1, 2}
        assert z["frame"].max() == 3 and float(z["fps"]) == 10.0
        visible_rows = int((z["visible"] >= 0.3).sum())
    boxes = json.loads((tmp_path / "walk.mp4.boxes.json").read_text())["frames"]
    assert sorted(boxes, key=int) == ["0", "1", "2", "3"] and sum(len(b) for b in boxes.values()) == visible_rows
    with VideoSource(video) as src:
        assert (src.width, src.height) == (160, 120) and len(list(src)) == 4


def _frames_from_truth(truth: dict[str, np.ndarray], seed: int = 0) -> list:
    """Estimator-like frames: noisy boxes and parameters of the true people, ids unknown (-1)."""
    from smplestx.io.results import FrameResult, Person

    rng = np.random.default_rng(seed)
    w, h = (int(v) for v in truth["image_size"])
    frames = []
    for f in range(int(truth["frame"].max()) + 1):
        people = []
        for r in np.flatnonzero((truth["frame"] == f) & (truth["visible"] > 0.5)):
            z = lambda *s: np.zeros(s, np.float32)  # noqa: E731
            people.append(Person(
                box_xyxy=truth["box_xyxy"][r] + rng.normal(0, 2, 4).astype(np.float32), score=0.9, track_id=-1,
                crop_box_xywh=z(4), global_orient=truth["global_orient"][r], body_pose=truth["body_pose"][r],
                left_hand_pose=z(15, 3), right_hand_pose=z(15, 3), jaw_pose=z(3),
                betas=truth["betas"][r] + rng.normal(0, 0.1, 10).astype(np.float32), expression=z(10),
                transl=truth["transl"][r] + rng.normal(0, 0.02, 3).astype(np.float32),
                focal=truth["focal"], princpt=truth["princpt"], joints_3d=z(137, 3), joints_2d=z(137, 2)))
        frames.append(FrameResult(index=f, time_s=f / FPS, width=w, height=h, people=people))
    return frames


def _true_rows(truth: dict[str, np.ndarray], t: Track) -> np.ndarray:
    """Rows of ``truth`` of the one true person nearest to the track's first position, at each of its frames."""
    at_first = np.flatnonzero(truth["frame"] == t.frames[0])
    pid = int(truth["person_id"][at_first[np.argmin(np.linalg.norm(truth["transl"][at_first] - t.transl[0], axis=1))]])
    rows = [np.flatnonzero((truth["frame"] == f) & (truth["person_id"] == pid)) for f in t.frames]
    assert all(len(r) == 1 for r in rows)
    return np.concatenate(rows)


def test_track_and_smooth_api_to_a_track_file(crossing, tmp_path: Path) -> None:
    import smplestx

    frames = _frames_from_truth(crossing)
    ts = smplestx.track(frames, fps=FPS)
    assert len(ts.tracks) == 2 and ts.smoothing == "none" and ts.fps == FPS
    for t in ts.tracks:
        # One true person per track, every row of it: within 5 sigma of the 2 cm noise at every frame.
        rows = _true_rows(crossing, t)
        assert np.abs(t.transl - crossing["transl"][rows]).max() < 0.1  # measured: 0.061, 0.075 m
        true_betas = crossing["betas"][rows[0]]
        np.testing.assert_allclose(t.betas, true_betas, atol=0.08)  # robust average of 0.1-noise samples
    smoothed = smplestx.smooth(ts, "gaussian(sigma=3)")
    assert smoothed.smoothing == "gaussian(sigma=3)" and ts.smoothing == "none"
    for raw, smo in zip(ts.tracks, smoothed.tracks):
        # The filter does what it is for: the path gets nearer the truth and its jitter drops several times.
        true = crossing["transl"][_true_rows(crossing, raw)] * 1000.0
        err_raw = np.linalg.norm(raw.transl * 1000.0 - true, axis=1).mean()
        err_smooth = np.linalg.norm(smo.transl * 1000.0 - true, axis=1).mean()
        assert err_smooth < 0.6 * err_raw, (err_smooth, err_raw)  # measured: 32.6 -> 10.3 mm, 34.1 -> 17.1 mm
        acc_raw = acceleration_error(raw.transl[:, None] * 1000.0, true[:, None])
        acc_smooth = acceleration_error(smo.transl[:, None] * 1000.0, true[:, None])
        assert acc_smooth * 5 < acc_raw, (acc_smooth, acc_raw)  # measured: 81 -> 1.1 and 3.7 mm/frame^2
        np.testing.assert_array_equal(smo.frames, raw.frames)
        np.testing.assert_array_equal(smo.betas, raw.betas)
    back = smplestx.load_tracks(smplestx.save_tracks(tmp_path / "c.tracks.npz", smoothed))
    np.testing.assert_array_equal(back.tracks[1].body_pose, smoothed.tracks[1].body_pose)


def test_track_file_camera_is_the_scene_camera(crossing) -> None:
    """The track set's camera is the frames' scene camera, the camera its ``transl`` (transl_scene) lives in."""
    import smplestx

    scene_focal, scene_princpt = np.array([900.0, 910.0], np.float32), np.array([330.0, 250.0], np.float32)
    frames = _frames_from_truth(crossing)
    for f in frames:
        f.scene_focal, f.scene_princpt = scene_focal, scene_princpt
        for k, p in enumerate(f.people):
            # Each person's own crop camera differs from the scene camera and from the others'.
            p.focal = np.array([5000.0 + 700 * k + f.index, 5000.0], np.float32)
            p.princpt = np.array([100.0 + k, 90.0], np.float32)
            p.transl_scene = (p.transl * np.array([1.0, 1.0, 0.2])).astype(np.float32)
    ts = smplestx.track(frames, fps=FPS)
    assert len(ts.tracks) == 2
    np.testing.assert_array_equal(ts.focal, scene_focal)
    np.testing.assert_array_equal(ts.princpt, scene_princpt)
    for t in ts.tracks:
        by_frame = {f.index: {p.track_id: p for p in f.people} for f in frames}
        np.testing.assert_array_equal(t.transl, np.stack([by_frame[i][t.track_id].transl_scene for i in t.frames]))
