"""The feet scoring of benchmarks/bench_feet.py --from-pixels (smplestx.evaluate.mocap.score_feet) on a walk's truth
turned into tracks: the truth scores as itself, a known offset or drift scores as what was put in, and a truth
without a static floor is refused."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from smplestx.body import BodyModel
from smplestx.evaluate.mocap import score_feet, truth_boxes
from smplestx.motion.metrics import acceleration_error
from smplestx.synthetic.walks import truth_trackset, walk_truth

FRAMES, FPS = 45, 30.0


@pytest.fixture(scope="module")
def crossing(body: BodyModel) -> dict[str, np.ndarray]:
    return walk_truth(body, "crossing", frames=FRAMES, fps=FPS)


def test_truth_against_itself_scores_as_the_truth(crossing, body) -> None:
    truth = truth_trackset(crossing)
    s = score_feet(crossing, truth, truth_boxes(crossing), body)
    assert s["matched"] == 2 and s["scored_frames"] == s["truth_frames"] == len(crossing["frame"])
    assert s["mpjpe"] < 1e-6 and s["mpjpe_rel"] < 1e-6 and s["accel"] < 1e-6
    assert s["pen_max"] < 0.01 and s["f1"] == 1.0
    # GVHMR's sliding of the truth itself: the swing's first and last frames, where a point moves under 1 cm.
    assert s["slide"] < 0.6
    # The same numbers as bench_feet's truth-plus-noise scoring of the truth against itself.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_feet import evaluate

    same = evaluate(body, truth, truth, crossing["floor"])
    assert abs(same["slide"] - s["slide"]) < 1e-9 and same["f1"] == 1.0


def test_a_body_sunk_and_drifting_scores_what_was_put_in(crossing, body) -> None:
    truth = truth_trackset(crossing)
    base = score_feet(crossing, truth, truth_boxes(crossing), body)
    # 3 cm lower (camera y is down) and drifting 2 mm per frame along x; the contacts dropped (as --feet none).
    moved = replace(truth, tracks=[replace(t, contacts=None, transl=t.transl + np.stack(
        [0.002 * np.asarray(t.frames, np.float64), np.full(len(t), 0.03), np.zeros(len(t))], -1).astype(np.float32))
        for t in truth.tracks])
    s = score_feet(crossing, moved, truth_boxes(crossing), body)
    assert np.isnan(s["f1"])
    # The offset, unaligned: every point of a person moves by it (one mean per person, then over the two).
    offset = [np.hypot(30.0, 2.0 * crossing["frame"][crossing["person_id"] == p]).mean() for p in (0, 1)]
    assert abs(s["mpjpe"] - np.mean(offset)) < 0.01
    assert s["mpjpe_rel"] < 1e-3 and s["accel"] < 1e-3  # a steady drift has no acceleration, no pose change
    # A planted point (on the floor) now sits 30 mm below it; the still frames each slide by the 2 mm drift.
    assert abs(s["pen_max"] - 30.0) < 0.1 and 10.0 < s["pen"] < 30.0
    assert 2.0 - 1e-3 < s["slide"] < 2.0 + base["slide"] + 0.1


def test_a_gap_breaks_acceleration() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(8, 2, 3))
    pred = truth.copy()
    pred[4:] += 5.0  # a jump where the frames have a gap: no motion happened across it
    frames = np.array([0, 1, 2, 3, 10, 11, 12, 13])
    assert acceleration_error(pred, truth, frames) < 1e-12
    assert acceleration_error(pred, truth) > 1.0
    assert np.isnan(acceleration_error(pred[:4], truth[:4], np.array([0, 1, 3, 4])))


def test_feet_need_a_walk_under_a_static_camera(crossing, body) -> None:
    truth = truth_trackset(crossing)
    no_floor = {k: v for k, v in crossing.items() if k != "floor"}
    with pytest.raises(ValueError, match="walks only"):
        score_feet(no_floor, truth, truth_boxes(crossing), body)
    moving = dict(crossing)
    moving["camera_translation"] = crossing["camera_translation"] + np.linspace(0, 1, FRAMES)[:, None]
    with pytest.raises(ValueError, match="camera moves"):
        score_feet(moving, truth, truth_boxes(crossing), body)
