"""Feet on the ground: walks that plant, contacts and the floor, ``--feet pin`` against skating and sinking."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.body import BodyModel
from smplestx.motion.contacts import fit_floor, floor_and_contacts, foot_points, heights
from smplestx.motion.feet import body_joints, pin_feet, rest_joints, solve_leg
from smplestx.motion.foot_metrics import contact_f1, foot_sliding, ground_penetration
from smplestx.motion.metrics import mpjpe
from smplestx.motion.smoothing import smooth
from smplestx.motion.tracks import TracksFileError, load_tracks, save_tracks
from smplestx.geometry.rotations import axis_angle_to_rotmat
from smplestx.synthetic.walks import noisy_tracks, truth_trackset, walk_truth

FPS = 30.0
#: SMPL-X parents of the 22 body joints (bone lengths are checked along these).
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
LEG_ROWS = [0, 1, 3, 4, 6, 7]


@pytest.fixture(scope="module")
def walk(body: BodyModel) -> dict[str, np.ndarray]:
    return walk_truth(body, "crossing", frames=60, fps=FPS)


@pytest.fixture(scope="module")
def cleaned(body: BodyModel, walk):
    """The walk's truth, the noisy smoothed motion (--feet none) and the same pinned (--feet pin)."""
    true_set = truth_trackset(walk)
    none = smooth(noisy_tracks(true_set, seed=0), "gaussian")
    return true_set, none, pin_feet(none, body)


def test_walkers_plant_their_feet_at_10_fps(body: BodyModel) -> None:
    truth = walk_truth(body, "crossing", frames=30, fps=10.0)
    for pid in (0, 1):
        r = np.flatnonzero(truth["person_id"] == pid)
        t = truth_trackset(truth).track(pid)
        pts = foot_points(body_joints(body, t))
        step = np.linalg.norm(np.diff(pts, axis=0), axis=-1)
        planted = truth["contacts"][r][1:] & truth["contacts"][r][:-1]
        assert planted.mean() > 0.2 and (step < 0.001).mean() > 0.2  # feet are still, not gliding
        assert step[planted].max() < 1e-4  # a planted point does not move
        assert heights(pts, truth["floor"]).min() > -1e-4  # and no foot point is below the floor
        assert np.abs(heights(pts, truth["floor"])[truth["contacts"][r]]).max() < 1e-4  # contacts are on it
        assert (~truth["contacts"][r]).any(axis=0).all()  # every point also swings


def test_floor_and_contacts_found_from_the_true_motion(body: BodyModel, walk) -> None:
    ts = truth_trackset(walk)
    points = [foot_points(body_joints(body, t)) for t in ts.tracks]
    floor, contacts = floor_and_contacts(points, [t.frames for t in ts.tracks], FPS, up=np.array([0.0, -1.0, 0.0]))
    assert np.degrees(np.arccos(floor[:3] @ walk["floor"][:3])) < 1.0
    assert abs(floor[3] - walk["floor"][3]) < 0.01
    for t, c in zip(ts.tracks, contacts):
        assert contact_f1(c, t.contacts) >= 0.9


def test_pin_removes_skating_and_sinking(body: BodyModel, walk, cleaned) -> None:
    true_set, none, pinned = cleaned
    floor = walk["floor"]
    for t_true, t_none, t_pin in zip(true_set.tracks, none.tracks, pinned.tracks):
        j_true, j_none, j_pin = (body_joints(body, t) for t in (t_true, t_none, t_pin))
        p_true, p_none, p_pin = (foot_points(j) for j in (j_true, j_none, j_pin))
        slide_none = foot_sliding(p_none, p_true, t_true.frames)
        slide_pin = foot_sliding(p_pin, p_true, t_true.frames)
        assert slide_none > 6.0  # the noisy motion skates ...
        assert slide_pin <= 3.0  # ... the pinned one does not (measured ~1.5 mm)
        assert ground_penetration(p_none, floor)[1] > 10.0  # the noisy feet sink (~2 cm at worst) ...
        assert ground_penetration(p_pin, floor)[0] <= 5.0  # ... the pinned ones do not (mean ~0.4 mm)
        assert ground_penetration(p_pin, floor)[1] <= 10.0
        assert heights(p_pin, pinned.floor).min() > -1e-3  # nothing below the fitted floor
        assert contact_f1(t_pin.contacts, t_true.contacts) >= 0.85
        assert mpjpe(j_pin[:, :22], j_true[:, :22]) <= 1.02 * mpjpe(j_none[:, :22], j_true[:, :22])


def test_pin_changes_only_the_root_translation_and_the_legs(body: BodyModel, cleaned) -> None:
    _, none, pinned = cleaned
    assert pinned.feet == "pin" and pinned.floor.shape == (4,)
    for a, b in zip(none.tracks, pinned.tracks):
        upper = np.setdiff1d(np.arange(21), LEG_ROWS)
        np.testing.assert_array_equal(b.body_pose[:, upper], a.body_pose[:, upper])
        for name in ("global_orient", "left_hand_pose", "right_hand_pose", "jaw_pose", "expression", "betas", "frames"):
            np.testing.assert_array_equal(getattr(b, name), getattr(a, name), err_msg=name)
        assert not np.array_equal(b.body_pose[:, LEG_ROWS], a.body_pose[:, LEG_ROWS])
        j_a, j_b = body_joints(body, a)[:, :22], body_joints(body, b)[:, :22]
        # The upper body keeps its shape relative to the pelvis (it moves only with the root).
        upper_joints = [3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]
        np.testing.assert_allclose(j_b[:, upper_joints] - j_b[:, :1], j_a[:, upper_joints] - j_a[:, :1], atol=1e-6)
        rest = rest_joints(body, a.betas)[:22]
        for child, parent in enumerate(PARENTS):
            if parent < 0:
                continue
            bone = np.linalg.norm(rest[child] - rest[parent])
            np.testing.assert_allclose(np.linalg.norm(j_b[:, child] - j_b[:, parent], axis=-1), bone, atol=1e-6)


def test_pinned_motion_has_no_pops(body: BodyModel, cleaned) -> None:
    true_set, none, pinned = cleaned
    for t_true, a, b in zip(true_set.tracks, none.tracks, pinned.tracks):
        ankles = lambda t: body_joints(body, t)[:, 7:9]  # noqa: E731
        acc = lambda p: np.linalg.norm(p[2:] - 2 * p[1:-1] + p[:-2], axis=-1).max()  # noqa: E731
        # Blending at contact boundaries: no ankle jerks harder than the true walk's own strides (x1.5).
        assert acc(ankles(b)) <= 1.5 * max(acc(ankles(t_true)), acc(ankles(a)))


def test_the_root_correction_does_not_pop_after_the_last_contact(body: BodyModel, walk) -> None:
    """Pinning moves the root while feet are planted; after the last contact (here the body rises 40 cm and stays
    up) the correction must fade out smoothly, not drop to zero in one frame once the contacts are out of reach,
    nor stay on for good (a few stray contacts would shift seconds of motion)."""
    noisy = smooth(noisy_tracks(truth_trackset(walk), seed=0), "gaussian")
    lifted = []
    for t in noisy.tracks:
        transl = t.transl.copy()
        transl[:, 1] -= np.clip((np.arange(len(transl)) - 30) / 6.0, 0, 1) * 0.4  # camera y points down
        lifted.append(replace(t, transl=transl))
    lifted_set = replace(noisy, tracks=lifted)
    pinned = pin_feet(lifted_set, body)
    for a, b in zip(lifted_set.tracks, pinned.tracks):
        last = int(np.flatnonzero(b.contacts.any(axis=1)).max())
        assert last < len(a) - 10, "the lifted body must leave contact-free frames"
        step = np.linalg.norm(np.diff(b.transl - a.transl, axis=0), axis=1)
        # Before the fix: a 23-57 mm jump about 12 frames after the last contact.
        assert step[last:].max() < 0.006, f"track {a.track_id}: the root correction jumps {step[last:].max():.3f} m"
        # Faded out within a second of the last contact (its blend, then half a second): the body is where it was.
        assert np.abs(b.transl - a.transl)[last + 28:].max() < 1e-9


def test_a_gliding_foot_is_not_pinned_where_it_started(body: BodyModel) -> None:
    """A network's feet can glide with the body at walking speed, slower than a contact's keep threshold: once such
    a foot started a contact (standing still first), the contact must not last while the foot travels metres, or
    pinning holds the body back where the contact started."""
    walk = walk_truth(body, "crossing", frames=40, fps=10.0)
    legs_straight = []
    for t in truth_trackset(walk).tracks:
        pose = t.body_pose.copy()
        pose[:, LEG_ROWS] = 0.0  # the legs never swing: the feet slide along with the pelvis
        transl = t.transl.copy()
        transl[:5] = transl[5]  # half a second standing, then 3 m at 0.8 m/s
        legs_straight.append(replace(t, body_pose=pose, transl=transl, contacts=None))
    glide = replace(truth_trackset(walk), tracks=legs_straight, floor=None, feet="none")
    pinned = pin_feet(glide, body)
    for t_glide, t_pin in zip(glide.tracks, pinned.tracks):
        points = foot_points(body_joints(body, t_glide))
        for k in range(4):
            c = t_pin.contacts[:, k]
            edges = np.flatnonzero(np.diff(np.concatenate([[0], c.astype(np.int8), [0]])))
            for a, b in zip(edges[::2], edges[1::2]):
                travel = np.linalg.norm(points[a:b, k, [0, 2]] - points[a, k, [0, 2]], axis=-1).max()
                assert travel < 0.35, f"track {t_glide.track_id} point {k}: a contact over {travel:.2f} m of travel"
        # The body is where it was, give or take a planted foot's hold: not metres behind.
        assert np.abs(t_pin.transl - t_glide.transl).max() < 0.2


def test_solve_leg_reaches_the_target_and_keeps_bone_lengths() -> None:
    rng = np.random.default_rng(0)
    n = 50
    hip = rng.normal(0, 0.1, (n, 3))
    g_hip = axis_angle_to_rotmat(torch.from_numpy(rng.normal(0, 0.4, (n, 3)))).numpy()
    g_knee = g_hip @ axis_angle_to_rotmat(torch.from_numpy(np.c_[rng.uniform(0.1, 1.0, n), np.zeros((n, 2))])).numpy()
    thigh, shank = np.array([0.01, -0.40, 0.01]), np.array([0.0, -0.38, -0.03])
    ankle = hip + np.einsum("tij,j->ti", g_hip, thigh) + np.einsum("tij,j->ti", g_knee, shank)
    target = ankle + rng.normal(0, 0.05, (n, 3))
    new_hip, new_knee = solve_leg(hip, g_hip, g_knee, thigh, shank, target)
    knee = hip + np.einsum("tij,j->ti", new_hip, thigh)
    reached = knee + np.einsum("tij,j->ti", new_knee, shank)
    full = np.linalg.norm(thigh) + np.linalg.norm(shank)
    dist = np.linalg.norm(target - hip, axis=1)
    ok = dist < full
    assert 10 < ok.sum() < n
    np.testing.assert_allclose(reached[ok], target[ok], atol=1e-9)
    # Out of reach: the leg points straight at the target.
    np.testing.assert_allclose(reached[~ok], hip[~ok] + (target - hip)[~ok] / dist[~ok, None] * full, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(knee - hip, axis=1), np.linalg.norm(thigh), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(new_knee), 1.0, atol=1e-9)


def test_track_file_round_trips_contacts_and_floor(tmp_path: Path, cleaned) -> None:
    _, none, pinned = cleaned
    back = load_tracks(save_tracks(tmp_path / "walk.tracks.npz", pinned))
    assert back.feet == "pin"
    np.testing.assert_array_equal(back.floor, pinned.floor)
    for a, b in zip(pinned.tracks, back.tracks):
        np.testing.assert_array_equal(b.contacts, a.contacts)
        assert b.contacts.dtype == bool and b.contacts.shape == (len(a), 4)
    old = load_tracks(save_tracks(tmp_path / "old.tracks.npz", none))  # files without the optional fields
    assert old.floor is None and old.feet == "none" and all(t.contacts is None for t in old.tracks)
    bad = replace(pinned, tracks=[replace(pinned.tracks[0], contacts=pinned.tracks[0].contacts[:-1])])
    with pytest.raises(TracksFileError, match="contacts"):
        save_tracks(tmp_path / "bad.tracks.npz", bad)
    with pytest.raises(TracksFileError, match="floor"):
        save_tracks(tmp_path / "bad.tracks.npz", replace(pinned, floor=np.array([0.0, 2.0, 0.0, 1.0])))


@pytest.mark.slow
def test_export_writes_the_pinned_motion(tmp_path: Path, synthetic_body: Path, cleaned) -> None:
    from smplestx.cli import main

    _, none, pinned = cleaned
    src = save_tracks(tmp_path / "walk.tracks.npz", replace(none, tracks=none.tracks[:1]))
    assert main(["export", str(src), "--format", "amass", "--body-models", str(synthetic_body),
                 "--output", str(tmp_path / "pin")]) == 0
    assert main(["export", str(src), "--format", "amass", "--body-models", str(synthetic_body), "--feet", "none",
                 "--output", str(tmp_path / "none")]) == 0
    with np.load(tmp_path / "pin" / f"walk_track{none.tracks[0].track_id}.amass.npz") as p, \
            np.load(tmp_path / "none" / f"walk_track{none.tracks[0].track_id}.amass.npz") as n:
        legs = np.r_[3:9, 12:18, 21:27]  # hips, knees, ankles in the 165 pose values
        others = np.setdiff1d(np.arange(165), legs)
        assert not np.allclose(p["poses"][:, legs], n["poses"][:, legs], atol=1e-4)
        np.testing.assert_allclose(p["poses"][:, others], n["poses"][:, others], atol=1e-5)  # the rest as it was
    # A track file pinned by infer is written as it is (not pinned twice).
    done = save_tracks(tmp_path / "done.tracks.npz", replace(pinned, tracks=pinned.tracks[:1]))
    for mode in ("pin", "none"):
        assert main(["export", str(done), "--format", "amass", "--body-models", str(synthetic_body), "--feet", mode,
                     "--output", str(tmp_path / f"done_{mode}")]) == 0
    name = f"done_track{pinned.tracks[0].track_id}.amass.npz"
    with np.load(tmp_path / "done_pin" / name) as a, np.load(tmp_path / "done_none" / name) as b:
        np.testing.assert_array_equal(a["poses"], b["poses"])
        np.testing.assert_array_equal(a["trans"], b["trans"])


def test_bad_feet_mode_is_a_usage_error(tmp_path: Path, synthetic_body: Path, capsys) -> None:
    from smplestx.cli import main

    assert main(["export", str(tmp_path / "x.tracks.npz"), "--body-models", str(synthetic_body), "--feet", "glue"]) == 2
    assert "--feet" in capsys.readouterr().err


def test_fit_floor_ignores_outliers_and_levels_a_single_line() -> None:
    rng = np.random.default_rng(0)
    tilt = np.deg2rad(10.0)
    n_true = np.array([0.0, -np.cos(tilt), np.sin(tilt)])  # up, tilted 10 degrees towards the camera
    d_true = 1.2
    # A floor patch with 1 cm noise and 30 % outliers above it (feet in the air).
    a, b = np.cross(n_true, [1.0, 0, 0]), np.array([1.0, 0, 0])
    pts = rng.uniform(-2, 2, (200, 1)) * a + rng.uniform(-2, 2, (200, 1)) * b - d_true * n_true
    pts += rng.normal(0, 0.01, (200, 1)) * n_true
    pts[:60] += rng.uniform(0.1, 0.5, (60, 1)) * n_true
    plane = fit_floor(pts, up=np.array([0.0, -1.0, 0.0]))
    assert np.degrees(np.arccos(plane[:3] @ n_true)) < 1.0 and abs(plane[3] - d_true) < 0.01
    # One person walking straight along x: the tilt about the line comes from the up hint.
    line = np.c_[np.linspace(-2, 2, 50), np.full(50, 0.8), np.full(50, 5.0)] + rng.normal(0, 0.005, (50, 3))
    plane = fit_floor(line, up=np.array([0.0, -1.0, 0.0]))
    np.testing.assert_allclose(plane[:3], [0.0, -1.0, 0.0], atol=0.01)
    assert abs(plane[3] - 0.8) < 0.01
