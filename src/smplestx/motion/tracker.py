"""Multi-person tracking across video frames: ByteTrack-style boxes plus body cues.

Per frame, boxes are matched to tracks in two stages (ByteTrack, Zhang et al. 2022): confident
boxes first against every live or recently lost track, then the remaining weak boxes against the
still-unmatched live tracks, each stage an optimal assignment
(``scipy.optimize.linear_sum_assignment``) on a cost built from the IoU with the track's
Kalman-predicted box. Lost tracks stay in a buffer (``buffer_s`` seconds) so a person hidden for a
second or two keeps the same id.

Box trackers confuse people who cross or come back; the estimator gives a cue they lack: each
person's body shape (``betas``, nearly constant for one person) and 3D position (metres, camera
frame, bounded speed). When given, the cost adds a shape distance and a 3D distance to the
track's predicted position, shape acts as a gate, and a lost track can be re-identified by shape
and position alone when its box no longer overlaps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

log = logging.getLogger(__name__)

_INFEASIBLE = 1e6


@dataclass
class TrackerConfig:
    """Thresholds of the tracker; the defaults suit 10-60 fps video of walking people."""

    high_score: float = 0.6  # boxes at or above: first association stage, may start tracks
    low_score: float = 0.1  # boxes below are ignored; between low and high: second stage only
    new_track_score: float = 0.6  # an unmatched box must score this to start a track
    min_iou: float = 0.2  # first stage: IoU below this needs the body cues to match
    min_iou_low: float = 0.5  # second stage (weak boxes, no cues): IoU needed
    buffer_s: float = 2.0  # how long a lost track waits to be found again
    shape_scale: float = 0.6  # betas distance (L2) that counts as "one unit" of shape difference
    shape_gate: float = 3.0  # shape distances (in units) above this never match
    position_scale: float = 0.6  # metres: 3D distance from the predicted position that still matches
    max_speed: float = 2.5  # m/s: widens the 3D gate while a track is lost
    weight_shape: float = 0.5  # cost weight of the shape term (distance / shape_gate, at most 1)
    weight_position: float = 0.5  # cost weight of the 3D term (distance / (2 radius), at most 1)
    max_cost: float = 1.9  # assignments costing more are refused


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), both xyxy."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


class BoxKalman:
    """Constant-velocity Kalman filter on a box (cx, cy, w, h); noise scales with the box height."""

    # Process and measurement noise per unit of box height (ByteTrack's choices).
    _STD_POS = 1.0 / 20
    _STD_VEL = 1.0 / 160

    def __init__(self, box_xyxy: np.ndarray) -> None:
        z = self._measure(box_xyxy)
        self.x = np.concatenate([z, np.zeros(4)])
        h = max(z[3], 1.0)
        std = np.array([2 * self._STD_POS * h] * 4 + [10 * self._STD_VEL * h] * 4)
        self.P = np.diag(std**2)
        self._F = np.eye(8)
        self._F[:4, 4:] = np.eye(4)

    @staticmethod
    def _measure(box: np.ndarray) -> np.ndarray:
        x1, y1, x2, y2 = (float(v) for v in box)
        return np.array([(x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)])

    def predict(self) -> None:
        """Advance one frame."""
        h = max(self.x[3], 1.0)
        q = np.array([self._STD_POS * h] * 4 + [self._STD_VEL * h] * 4) ** 2
        self.x = self._F @ self.x
        self.x[2:4] = np.maximum(self.x[2:4], 1e-3)
        self.P = self._F @ self.P @ self._F.T + np.diag(q)

    def update(self, box_xyxy: np.ndarray) -> None:
        """Correct with a measured box."""
        z = self._measure(box_xyxy)
        h = max(self.x[3], 1.0)
        r = np.diag(np.full(4, (self._STD_POS * h) ** 2))
        hp = self.P[:4]
        s = hp[:, :4] + r
        k = np.linalg.solve(s, hp).T  # P H^T S^-1 (S symmetric)
        self.x = self.x + k @ (z - self.x[:4])
        self.P = self.P - k @ hp

    def box(self) -> np.ndarray:
        """The current box estimate, xyxy."""
        cx, cy, w, h = self.x[:4]
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


@dataclass
class _Track:
    track_id: int
    kalman: BoxKalman
    last_frame: int
    hits: int = 1
    betas: np.ndarray | None = None  # running mean of the shape
    betas_n: int = 0
    position: np.ndarray | None = None  # last 3D position (metres)
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))  # m/frame, smoothed
    position_frame: int = -1

    def observe_cues(self, betas: np.ndarray | None, position: np.ndarray | None, frame: int) -> None:
        if betas is not None:
            # Running mean over the first 30 observations, then an exponential average: one shape per person.
            self.betas_n += 1
            rate = 1.0 / min(self.betas_n, 30)
            self.betas = betas.copy() if self.betas is None else (1 - rate) * self.betas + rate * betas
        if position is not None:
            if self.position is None:
                self.position = position.copy()
            else:
                # Alpha-beta filter: monocular 3D positions are noisy (depth most), one sample is not the truth.
                gap = max(frame - self.position_frame, 1)
                pred = self.position + self.velocity * min(gap, 15)
                resid = position - pred
                self.position = pred + 0.4 * resid
                self.velocity = self.velocity + 0.05 * resid / gap
            self.position_frame = frame

    def predicted_position(self, frame: int, max_gap: int = 15) -> np.ndarray | None:
        if self.position is None:
            return None
        # Extrapolate a short while only: a person rarely keeps a straight line for long.
        return self.position + self.velocity * min(frame - self.position_frame, max_gap)


class Tracker:
    """Online multi-person tracker: call :meth:`update` once per frame, in order."""

    def __init__(self, fps: float = 30.0, config: TrackerConfig | None = None, first_id: int = 0) -> None:
        self.config = config or TrackerConfig()
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.buffer_frames = max(1, int(round(self.config.buffer_s * self.fps)))
        self._tracks: list[_Track] = []
        self._next_id = first_id
        self._reserved: set[int] = set()
        self._frame = -1

    def _new_id(self) -> int:
        while self._next_id in self._reserved:
            self._next_id += 1
        self._next_id += 1
        return self._next_id - 1

    def _cost(self, tracks: list[_Track], boxes: np.ndarray, betas: np.ndarray | None, pos: np.ndarray | None,
              frame: int, min_iou: float, use_cues: bool) -> np.ndarray:
        """Assignment cost (tracks x boxes); ``_INFEASIBLE`` where the pair must not match."""
        c = self.config
        if not tracks or len(boxes) == 0:
            return np.zeros((len(tracks), len(boxes)))
        iou = iou_matrix(np.stack([t.kalman.box() for t in tracks]), boxes)
        cost = 1.0 - iou
        ok = iou >= min_iou
        if not use_cues:
            return np.where(ok, cost, _INFEASIBLE)
        reid = np.zeros_like(ok)
        for i, t in enumerate(tracks):
            shape_d = pos_d = None
            if betas is not None and t.betas is not None:
                shape_d = np.linalg.norm(betas - t.betas, axis=1) / c.shape_scale
                cost[i] += c.weight_shape * np.minimum(shape_d / c.shape_gate, 1.0)
                ok[i] &= shape_d <= c.shape_gate
            pred = t.predicted_position(frame)
            if pos is not None and pred is not None:
                gap = frame - t.last_frame
                radius = c.position_scale + c.max_speed * max(gap - 1, 0) / self.fps
                pos_d = np.linalg.norm(pos - pred, axis=1) / radius
                cost[i] += c.weight_position * np.minimum(pos_d / 2.0, 1.0)
                # A lost track whose box no longer overlaps can come back by shape and position alone.
                if shape_d is not None:
                    reid[i] = (shape_d <= 0.6 * c.shape_gate) & (pos_d <= 1.0)
                # Twice the radius: one bad depth estimate must not break a track whose box still fits.
                ok[i] &= (pos_d <= 2.0) | (iou[i] >= 0.5)
        ok |= reid
        return np.where(ok & (cost <= c.max_cost), cost, _INFEASIBLE)

    @staticmethod
    def _assign(cost: np.ndarray) -> list[tuple[int, int]]:
        if cost.size == 0:
            return []
        rows, cols = linear_sum_assignment(cost)
        return [(r, k) for r, k in zip(rows.tolist(), cols.tolist()) if cost[r, k] < _INFEASIBLE]

    def update(
        self,
        boxes_xyxy: np.ndarray,
        scores: np.ndarray,
        betas: np.ndarray | None = None,
        positions: np.ndarray | None = None,
        given_ids: np.ndarray | None = None,
        frame_index: int | None = None,
    ) -> np.ndarray:
        """Assign track ids (N,) int64 to this frame's boxes; -1 for boxes left unassigned.

        ``betas`` (N, 10) and ``positions`` (N, 3, metres) are the optional body cues;
        ``given_ids`` >= 0 are kept as they are (ids from a boxes file) and never reused.
        """
        frame = self._frame + 1 if frame_index is None else int(frame_index)
        self._frame = frame
        boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        n = len(boxes)
        ids = np.full(n, -1, np.int64)
        if given_ids is not None:
            given = np.asarray(given_ids, np.int64).reshape(-1)
            ids[given >= 0] = given[given >= 0]
            self._reserved.update(given[given >= 0].tolist())
        betas = None if betas is None else np.asarray(betas, np.float64).reshape(n, -1 if n else 10)
        positions = None if positions is None else np.asarray(positions, np.float64).reshape(n, 3)
        c = self.config

        for t in self._tracks:
            t.kalman.predict()
        free = ids < 0
        high = np.flatnonzero(free & (scores >= c.high_score))
        low = np.flatnonzero(free & (scores >= c.low_score) & (scores < c.high_score))

        # Stage 1: confident boxes against all tracks (live and lost), with the body cues.
        tracks = self._tracks
        cost = self._cost(tracks, boxes[high], None if betas is None else betas[high],
                          None if positions is None else positions[high], frame, c.min_iou, True)
        matched_tracks: set[int] = set()
        for r, k in self._assign(cost):
            self._hit(tracks[r], high[k], boxes, betas, positions, frame, ids)
            matched_tracks.add(r)
        # Stage 2: weak boxes against live (seen last frame) unmatched tracks, by IoU only (ByteTrack).
        live = [t for i, t in enumerate(tracks) if i not in matched_tracks and frame - t.last_frame <= 1]
        unmatched_high = [k for k in high if ids[k] < 0]
        cost = self._cost(live, boxes[low], None, None, frame, c.min_iou_low, False)
        for r, k in self._assign(cost):
            self._hit(live[r], low[k], boxes, betas, positions, frame, ids)
        # New tracks from confident leftovers.
        for k in unmatched_high:
            if scores[k] >= c.new_track_score:
                t = _Track(self._new_id(), BoxKalman(boxes[k]), frame)
                t.observe_cues(None if betas is None else betas[k], None if positions is None else positions[k], frame)
                self._tracks.append(t)
                ids[k] = t.track_id
        # Forget tracks lost for longer than the buffer; one-frame tracks (likely false positives) sooner.
        self._tracks = [
            t for t in self._tracks
            if frame - t.last_frame <= (self.buffer_frames if t.hits > 1 else 1)
        ]
        return ids

    @staticmethod
    def _hit(t: _Track, k: int, boxes: np.ndarray, betas: np.ndarray | None, positions: np.ndarray | None,
             frame: int, ids: np.ndarray) -> None:
        t.kalman.update(boxes[k])
        t.last_frame = frame
        t.hits += 1
        t.observe_cues(None if betas is None else betas[k], None if positions is None else positions[k], frame)
        ids[k] = t.track_id
