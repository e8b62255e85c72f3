"""Motion capture scored against the truth of synthetic media: pose, motion, path and identity of every person.

The predicted side is a track set (what ``smplestx infer`` writes, or an exported animation read back) and the
tracker's boxes per frame; the true side is a truth sidecar (:mod:`smplestx.synthetic.truth`). Each predicted
track is matched to one true person by the IDF1 assignment (:func:`~smplestx.motion.metrics.mot_identity_metrics`:
the pairing that maximises the frames where the track's box overlaps the person's with IoU >= 0.5), and scored
on the frames where it really is on that person: frames where its box overlaps the person's, plus the frames of
a gap in the track (motion filled in by the export) when the frames on both sides of the gap are on that person.
So an identity switch costs IDF1 and switches, not a pose error against somebody else; a track matched to
nobody (a false track) costs IDF1 only.

Scores, pooled over all scored person-frames: MPJPE and PA-MPJPE of the 22 SMPL-X body joints relative to the
pelvis (mm); the acceleration error of those pelvis-relative joints (mm/frame^2) over runs of 3+ consecutive
scored frames; the root path error, the distance between the predicted and the true pelvis in the camera frame
(mm; the depth of a monocular estimate is its least certain part); IDF1 and ID switches on the people at least
:data:`~smplestx.synthetic.truth.DETECTABLE` visible.

:func:`score_feet` scores the feet of a walk on the same matched frames (:func:`match_tracks`): foot sliding,
ground penetration against the true floor and contact F1, with MPJPE and acceleration error of the body joints and
foot points (:func:`~smplestx.motion.foot_metrics.foot_scores`), one mean per matched person.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..body import BodyModel
from ..motion.feet import body_joints
from ..motion.foot_metrics import BODY_JOINTS, foot_scores, pool_scores
from ..motion.metrics import MOTScore, acceleration_error, mot_identity_metrics
from ..motion.tracker import iou_matrix
from ..motion.tracks import TrackSet
from ..synthetic.truth import DETECTABLE
from ..synthetic.walks import truth_trackset
from .metrics import rigid_align

#: The box overlap that puts a track on a person (``BODY_JOINTS``, the 22 SMPL-X body joints, comes from foot_metrics).
MATCH_IOU = 0.5

#: Per frame, the ids (K,) and boxes (K, 4) xyxy of the people in it: what ``mot_identity_metrics`` takes.
FrameBoxes = list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class MocapScores:
    """Scores of one video (millimetres; NaN when nothing could be scored)."""

    mpjpe_mm: float  # 22 body joints, pelvis-relative
    pa_mpjpe_mm: float  # the same after a similarity alignment per frame
    accel_mm: float  # acceleration error of the pelvis-relative joints, mm / frame^2
    root_mm: float  # pelvis position error, camera frame
    idf1: float
    id_switches: int
    people: int  # true people in the truth
    tracks: int  # predicted tracks
    scored_frames: int  # person-frames scored
    truth_frames: int  # person-frames of the truth (every row, in view)

    @property
    def coverage(self) -> float:
        """Share of the truth's person-frames that were scored."""
        return self.scored_frames / self.truth_frames if self.truth_frames else float("nan")

    def as_dict(self) -> dict[str, float]:
        """Plain numbers for JSON (the coverage included)."""
        return {**asdict(self), "coverage": self.coverage}


def truth_boxes(truth: dict[str, np.ndarray], min_visible: float = DETECTABLE) -> FrameBoxes:
    """Per frame of the truth, the ids and true boxes of the people at least ``min_visible`` visible."""
    frames = int(truth["frame"].max()) + 1 if len(truth["frame"]) else 0
    keep = truth["visible"] >= min_visible
    out = []
    for f in range(frames):
        r = np.flatnonzero((truth["frame"] == f) & keep)
        out.append((truth["person_id"][r].astype(np.int64), truth["box_xyxy"][r].astype(np.float64)))
    return out


def tracked_boxes(frames: Iterable, frame_count: int, track_ids: Iterable[int] | None = None) -> FrameBoxes:
    """Per frame (0..frame_count-1), the ids and boxes of the tracked people of results frames (``FrameResult``).

    Only ids in ``track_ids`` (e.g. those of the track file) count; of two boxes with one id in a frame the one
    with the higher score, as the track file keeps it.
    """
    wanted = None if track_ids is None else {int(i) for i in track_ids}
    best: list[dict[int, tuple[float, np.ndarray]]] = [{} for _ in range(frame_count)]
    for fr in frames:
        if not 0 <= fr.index < frame_count:
            continue
        for p in fr.people:
            tid = int(p.track_id)
            if tid < 0 or (wanted is not None and tid not in wanted):
                continue
            if tid not in best[fr.index] or p.score > best[fr.index][tid][0]:
                best[fr.index][tid] = (float(p.score), np.asarray(p.box_xyxy, np.float64))
    return [(np.array(sorted(b), np.int64), np.array([b[i][1] for i in sorted(b)], np.float64).reshape(-1, 4))
            for b in best]


def _box_at(frames: FrameBoxes, f: int, ident: int) -> np.ndarray | None:
    """The box of ``ident`` in frame ``f`` (None when absent)."""
    if f >= len(frames):
        return None
    ids, boxes = frames[f]
    k = np.flatnonzero(ids == ident)
    return boxes[k[0]] if len(k) else None


def scored_frames(track_id: int, person_id: int, predicted: FrameBoxes, truth: FrameBoxes,
                  iou: float = MATCH_IOU) -> np.ndarray:
    """Frames where track ``track_id`` is on person ``person_id``: its box overlaps theirs, or a gap between two such frames."""
    observed = [f for f in range(len(predicted)) if _box_at(predicted, f, track_id) is not None]
    on = set()
    for f in observed:
        t = _box_at(truth, f, person_id)
        if t is not None and iou_matrix(t[None], _box_at(predicted, f, track_id)[None])[0, 0] >= iou:
            on.add(f)
    out = set(on)
    for a, b in zip(observed[:-1], observed[1:]):
        if b - a > 1 and a in on and b in on:
            out.update(range(a + 1, b))
    return np.array(sorted(out), np.int64)


def frame_runs(frames: np.ndarray) -> list[np.ndarray]:
    """Index runs of consecutive frame numbers."""
    if not len(frames):
        return []
    cuts = np.flatnonzero(np.diff(frames) != 1) + 1
    return np.split(np.arange(len(frames)), cuts)


def _joints_at(body: BodyModel, trackset: TrackSet) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per track id: its frames and its 22 body joints there (T, 22, 3), metres, camera frame."""
    return {t.track_id: (np.asarray(t.frames, np.int64), body_joints(body, t)[:, :BODY_JOINTS]) for t in trackset.tracks}


def match_tracks(truth: dict[str, np.ndarray], predicted_boxes: FrameBoxes, *, min_visible: float = DETECTABLE,
                 iou: float = MATCH_IOU) -> tuple[MOTScore, dict[int, tuple[int, np.ndarray]]]:
    """The IDF1 matching of the tracker's boxes to the true people: its identity scores and, per matched track id,
    the person it is scored as and the frames where it is on them (:func:`scored_frames`)."""
    true_boxes = truth_boxes(truth, min_visible)
    n = max(len(true_boxes), len(predicted_boxes))
    empty = (np.zeros(0, np.int64), np.zeros((0, 4)))
    true_boxes += [empty] * (n - len(true_boxes))
    predicted_boxes = list(predicted_boxes) + [empty] * (n - len(predicted_boxes))
    mot = mot_identity_metrics(true_boxes, predicted_boxes, iou)
    return mot, {tid: (pid, scored_frames(tid, pid, predicted_boxes, true_boxes, iou))
                 for tid, pid in mot.assignment.items()}


def score_mocap(
    truth: dict[str, np.ndarray],
    predicted: TrackSet,
    predicted_boxes: FrameBoxes,
    body: BodyModel,
    *,
    min_visible: float = DETECTABLE,
    iou: float = MATCH_IOU,
) -> MocapScores:
    """Score the tracks of ``predicted`` (camera frame of the truth) and the tracker's boxes against ``truth``.

    ``predicted_boxes``: per frame of the video, the ids and boxes of the tracked people (:func:`tracked_boxes`);
    ``body``: the body model of the truth (the synthetic one it was rendered with). See the module docstring.
    """
    mot, pairs = match_tracks(truth, predicted_boxes, min_visible=min_visible, iou=iou)
    true_joints = _joints_at(body, truth_trackset(truth))
    pred_joints = _joints_at(body, predicted)
    err: dict[str, list[np.ndarray]] = {"mpjpe": [], "pa": [], "root": []}
    accel: list[tuple[float, int]] = []
    for tid, (pid, on) in pairs.items():
        if tid not in pred_joints or pid not in true_joints:
            continue
        (pf, pj), (tf, tj) = pred_joints[tid], true_joints[pid]
        frames = np.intersect1d(np.intersect1d(on, pf), tf)
        if not len(frames):
            continue
        p = pj[np.searchsorted(pf, frames)] * 1000.0
        t = tj[np.searchsorted(tf, frames)] * 1000.0
        p_rel, t_rel = p - p[:, :1], t - t[:, :1]
        err["mpjpe"].append(np.linalg.norm(p_rel - t_rel, axis=-1).mean(axis=1))
        err["pa"].append(np.linalg.norm(rigid_align(p_rel, t_rel) - t_rel, axis=-1).mean(axis=1))
        err["root"].append(np.linalg.norm(p[:, 0] - t[:, 0], axis=-1))
        for run in frame_runs(frames):
            if len(run) >= 3:
                accel.append((acceleration_error(p_rel[run], t_rel[run]), len(run) - 2))

    def mean(values: Sequence[np.ndarray]) -> float:
        return float(np.concatenate(values).mean()) if values else float("nan")

    weights = sum(w for _, w in accel)
    return MocapScores(
        mpjpe_mm=mean(err["mpjpe"]),
        pa_mpjpe_mm=mean(err["pa"]),
        accel_mm=float(sum(a * w for a, w in accel) / weights) if weights else float("nan"),
        root_mm=mean(err["root"]),
        idf1=mot.idf1,
        id_switches=mot.id_switches,
        people=len(np.unique(truth["person_id"])),
        tracks=len(predicted.tracks),
        scored_frames=int(sum(len(e) for e in err["mpjpe"])),
        truth_frames=len(truth["frame"]),
    )


#: The keys of :func:`~smplestx.motion.foot_metrics.foot_scores`, all NaN: what :func:`score_feet` gives for nobody.
_NO_FEET = dict.fromkeys(("slide", "pen", "pen_max", "f1", "mpjpe", "mpjpe_rel", "accel"), float("nan"))


def _static_floor(truth: dict[str, np.ndarray]) -> np.ndarray:
    """The truth's floor (4,), valid in every frame's camera (a walk filmed by a static camera); ValueError otherwise."""
    if "floor" not in truth or "contacts" not in truth:
        raise ValueError("the truth has no floor and no contacts: feet are scored on walks only (synthetic-media --walk)")
    for key in ("camera_rotation", "camera_translation"):
        if key in truth and len(truth[key]) and np.ptp(np.asarray(truth[key], np.float64), axis=0).max() > 1e-9:
            raise ValueError("the truth's camera moves: its floor is the first frame's camera's; score in the world frame")
    return np.asarray(truth["floor"], np.float64)


def score_feet(
    truth: dict[str, np.ndarray],
    predicted: TrackSet,
    predicted_boxes: FrameBoxes,
    body: BodyModel,
    *,
    min_visible: float = DETECTABLE,
    iou: float = MATCH_IOU,
) -> dict[str, float]:
    """The feet of ``predicted`` (a track set in the truth's camera frame) against a walk's truth, each track matched
    and scored where it is on its person as :func:`score_mocap` does (:func:`match_tracks`, on the frames both the
    track and the person have): :func:`~smplestx.motion.foot_metrics.foot_scores` per matched person against the true
    floor, then their mean (:func:`~smplestx.motion.foot_metrics.pool_scores`); plus ``matched`` (people scored),
    ``scored_frames`` and ``truth_frames`` (person-frames). Contact F1 is NaN when the tracks have no contacts."""
    floor = _static_floor(truth)
    true_tracks = {t.track_id: t for t in truth_trackset(truth).tracks}
    pred_tracks = {t.track_id: t for t in predicted.tracks}
    per_person, scored = [], 0
    for tid, (pid, on) in match_tracks(truth, predicted_boxes, min_visible=min_visible, iou=iou)[1].items():
        if tid not in pred_tracks or pid not in true_tracks:
            continue
        p_track, t_track = pred_tracks[tid], true_tracks[pid]
        frames = np.intersect1d(np.intersect1d(on, p_track.frames), t_track.frames)
        if not len(frames):
            continue
        p_at, t_at = np.searchsorted(p_track.frames, frames), np.searchsorted(t_track.frames, frames)
        per_person.append(foot_scores(
            body_joints(body, p_track)[p_at], body_joints(body, t_track)[t_at], frames, floor,
            None if p_track.contacts is None else np.asarray(p_track.contacts)[p_at],
            np.asarray(t_track.contacts)[t_at]))
        scored += len(frames)
    pooled = pool_scores(per_person) if per_person else dict(_NO_FEET)
    return {**pooled, "matched": float(len(per_person)), "scored_frames": float(scored),
            "truth_frames": float(len(truth["frame"]))}


__all__ = ["BODY_JOINTS", "MATCH_IOU", "MocapScores", "frame_runs", "match_tracks", "score_feet", "score_mocap",
           "scored_frames", "tracked_boxes", "truth_boxes"]
