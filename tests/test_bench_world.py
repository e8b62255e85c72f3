"""The end-to-end scoring of benchmarks/bench_world.py --from-pixels (``pixel_rows``) on a walk's truth turned into
a track file: zero against itself, blind to the world's axes and origin, and the held first camera far off."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from smplestx.body import BodyModel
from smplestx.evaluate.mocap import truth_boxes
from smplestx.motion.world_frame import place_tracks
from smplestx.synthetic.walks import truth_trackset, walk_truth

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_world import ROWS, pixel_rows  # noqa: E402

FRAMES = 40


@pytest.fixture(scope="module")
def pan(body: BodyModel) -> dict[str, np.ndarray]:
    return walk_truth(body, "crossing", frames=FRAMES, fps=30.0, width=320, height=240, camera="pan")


def _track_file(truth: dict[str, np.ndarray], body: BodyModel, turn: np.ndarray, shift: np.ndarray):
    """The truth's camera-frame bodies placed with its camera path moved into another world by ``X' = turn X + shift``."""
    r, t = truth["camera_rotation"], truth["camera_translation"]
    return place_tracks(truth_trackset(truth), body, np.arange(FRAMES), turn @ r, t @ turn.T + shift, moving=True)


def test_truth_against_itself_scores_zero_in_any_world(pan, body) -> None:
    from smplestx.synthetic.world import _rot_y

    boxes = truth_boxes(pan)
    same = pixel_rows(pan, _track_file(pan, body, np.eye(3), np.zeros(3)), boxes, body)
    # A world of other axes and origin (a y-up world on the floor vs the truth's own): the metrics align it away.
    other = pixel_rows(pan, _track_file(pan, body, _rot_y(np.array([0.7]))[0], np.array([3.0, 0.2, -1.0])), boxes, body)
    for rows in (same, other):
        assert rows[ROWS[1]]["scored"] == len(pan["frame"])  # every person-frame (one run per walker)
        for name in ROWS[1:]:  # the track file's own world, and its camera-frame bodies on the true path
            m = rows[name]
            assert m["W-MPJPE"] < 0.01 and m["WA-MPJPE"] < 0.01 and m["RTE"] < 1e-3, (name, m)  # mm, float32 fields
            assert m["rot_err"] < 1e-3 and m["ATE"] < 1e-6
            assert m["jitter"] == pytest.approx(rows[ROWS[2]]["jitter"], rel=1e-3)
        held = rows[ROWS[0]]  # the first frame's camera held: the pan is missed
        assert held["rot_err"] > 3.0 and held["W-MPJPE"] > 100.0 and held["RTE"] > 1.0
