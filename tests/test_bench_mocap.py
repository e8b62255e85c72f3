"""The scoring of benchmarks/bench_mocap.py (smplestx.evaluate.mocap) on a walk's truth turned into tracks:
zero against itself, the noise put in when noisy, identity switches counted, and the AMASS round trip exact."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from smplestx.body import BodyModel
from smplestx.evaluate.mocap import score_mocap, scored_frames, truth_boxes
from smplestx.synthetic.walks import noisy_tracks, truth_trackset, walk_truth

FRAMES, FPS = 60, 30.0


@pytest.fixture(scope="module")
def hard(body: BodyModel) -> dict[str, np.ndarray]:
    """The hard walk: three people, one hidden for a while and one leaving the view (gaps in the truth)."""
    return walk_truth(body, "hard", frames=FRAMES, fps=FPS)


def test_truth_against_itself_scores_zero(hard, body) -> None:
    s = score_mocap(hard, truth_trackset(hard), truth_boxes(hard), body)
    assert s.mpjpe_mm < 1e-6 and s.pa_mpjpe_mm < 1e-3 and s.accel_mm < 1e-6 and s.root_mm < 1e-6
    assert s.idf1 == 1.0 and s.id_switches == 0 and s.people == 3 and s.tracks == 3
    # Every row is scored but those hidden at the very start or end of a person's view (no box on one side).
    assert s.truth_frames == len(hard["frame"]) and 0.9 < s.coverage <= 1.0


def test_noisy_tracks_score_the_noise(hard, body) -> None:
    truth = truth_trackset(hard)
    s = score_mocap(hard, noisy_tracks(truth, seed=0, degrees=3.0, position=0.02, depth=0.06), truth_boxes(hard), body)
    # The pelvis moves only with the root translation: its error is the translation noise, sigma (2, 2, 6) cm,
    # whose norm averages 5.8 cm.
    rng = np.random.default_rng(1)
    expected = np.linalg.norm(rng.normal(0, 1, (100000, 3)) * [20, 20, 60], axis=1).mean()
    assert expected * 0.85 < s.root_mm < expected * 1.15
    # 3 degrees on every joint rotation: centimetres on pelvis-relative joints, less once aligned, and a large
    # frame-to-frame jerk (noise is independent per frame).
    assert 10 < s.mpjpe_mm < 60 and 0.3 * s.mpjpe_mm < s.pa_mpjpe_mm < s.mpjpe_mm
    assert s.accel_mm > 10
    assert s.idf1 == 1.0 and s.id_switches == 0  # the boxes are the truth's: identity untouched
    smaller = score_mocap(hard, noisy_tracks(truth, seed=0, degrees=1.0, position=0.0, depth=0.0),
                          truth_boxes(hard), body)
    assert smaller.mpjpe_mm < 0.5 * s.mpjpe_mm and smaller.root_mm < 1e-6


def test_an_identity_switch_costs_idf1_not_pose(hard, body) -> None:
    boxes = truth_boxes(hard)
    # From frame 40 the tracker's boxes of people 0 and 1 carry each other's ids.
    swapped = [(np.where(ids == 0, 1, np.where(ids == 1, 0, ids)) if f >= 40 else ids, b)
               for f, (ids, b) in enumerate(boxes)]
    s = score_mocap(hard, truth_trackset(hard), swapped, body)
    assert s.id_switches == 2 and s.idf1 < 0.95
    # Tracks 0 and 1 are scored only where they are on their person (before the swap): exact there.
    assert s.mpjpe_mm < 1e-6 and s.root_mm < 1e-6 and s.coverage < 0.85
    assert scored_frames(0, 0, swapped, boxes).max() < 40


def test_tracks_exported_as_amass_read_back_on_their_frames(hard, body, synthetic_body, tmp_path) -> None:
    from smplestx.export.exporter import export_animation
    from smplestx.motion.feet import body_joints
    from smplestx.motion.tracks import save_tracks

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_mocap import exported_tracks

    truth = truth_trackset(hard)
    # A track starting late, with a gap, as a tracker's would be: export fills the gap and starts at frame 0.
    t0 = truth.tracks[0]
    keep = (t0.frames >= 5) & ((t0.frames < 20) | (t0.frames > 24))
    cut = replace(t0, **{k: getattr(t0, k)[keep] for k in ("frames", "global_orient", "body_pose", "left_hand_pose",
                                                           "right_hand_pose", "jaw_pose", "expression", "transl",
                                                           "contacts")})
    track_file = save_tracks(tmp_path / "walk.tracks.npz", replace(truth, tracks=[cut, *truth.tracks[1:]]))
    export_animation(track_file, "amass", synthetic_body, tmp_path / "export", feet="none")
    back = exported_tracks(track_file, tmp_path / "export", body)
    assert [t.track_id for t in back.tracks] == [t.track_id for t in truth.tracks]
    assert back.tracks[0].frames.tolist() == list(range(5, int(t0.frames[-1]) + 1))
    for t_true, t_back in zip([cut, *truth.tracks[1:]], back.tracks):
        at = np.searchsorted(t_back.frames, t_true.frames)
        assert (t_back.frames[at] == t_true.frames).all()
        # float32 files and the round trip through AMASS's frame: hundredths of a millimetre on every joint.
        err = np.abs(body_joints(body, t_back)[at] - body_joints(body, t_true)).max()
        assert err < 5e-5, f"track {t_true.track_id}: {err * 1000:.3f} mm"
