"""From per-frame people to per-person sequences: online id assignment and track-set building.

:class:`FrameTracker` gives every person of each :class:`FrameResult` a ``track_id`` as frames
stream by (ids from a boxes file are kept). :class:`TrackBuilder` collects the people of tracked
frames and builds a :class:`TrackSet`; :func:`track` does both for a whole results file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..io.results import FrameResult, Person, ResultsFileError
from .smoothing import robust_betas, smooth
from .tracker import Tracker, TrackerConfig
from .tracks import FRAME_FIELDS, Track, TrackSet

log = logging.getLogger(__name__)

#: Frame rate assumed when neither the file nor the caller gives one (single images have none).
DEFAULT_FPS = 30.0
#: Tracks seen on fewer frames are dropped: a few frames are a false positive far more often than a person.
MIN_TRACK_LENGTH = 3
_MAX_RECORDED = 10000  # bound on the recorded fill_gaps and min_length of a (possibly crafted) file


def person_position(p: Person) -> np.ndarray:
    """A person's root translation (3,) in the video's one scene camera when known, else its own camera."""
    scene = getattr(p, "transl_scene", None)
    return np.asarray(scene if scene is not None else p.transl, np.float32)


def person_joints(p: Person) -> np.ndarray:
    """A person's 3D joints (137, 3) in the scene camera when known, else its own camera."""
    scene = getattr(p, "joints_3d_scene", None)
    return np.asarray(scene if scene is not None else p.joints_3d, np.float32)


def frame_camera(frame: FrameResult, person: Person) -> tuple[np.ndarray, np.ndarray]:
    """Focal (2,) and principal point (2,) of the camera :func:`person_position` is in for this frame.

    The frame's scene camera when the person is placed in it; else (results written before the scene camera)
    the person's own crop camera.
    """
    scene = frame.scene_focal is not None and frame.scene_princpt is not None
    if scene and getattr(person, "transl_scene", None) is not None:
        focal, princpt = frame.scene_focal, frame.scene_princpt
    else:
        focal, princpt = person.focal, person.princpt
    return np.asarray(focal, np.float32).reshape(2), np.asarray(princpt, np.float32).reshape(2)


class FrameTracker:
    """Assigns ``track_id`` to the people of each frame, in order (boxes, shape and 3D position as cues)."""

    def __init__(self, fps: float = 30.0, config: TrackerConfig | None = None) -> None:
        self.tracker = Tracker(fps=fps, config=config)

    def update(self, frame: FrameResult) -> FrameResult:
        """Set ``track_id`` on every person of ``frame`` (in place; -1 for unassigned weak boxes) and return it."""
        people = frame.people
        if not people:
            self.tracker.update(np.zeros((0, 4)), np.zeros(0), frame_index=frame.index)
            return frame
        ids = self.tracker.update(
            np.stack([p.box_xyxy for p in people]),
            np.array([p.score for p in people]),
            betas=np.stack([p.betas for p in people]),
            positions=np.stack([person_position(p) for p in people]),
            given_ids=np.array([p.track_id for p in people]),
            frame_index=frame.index,
        )
        for p, i in zip(people, ids.tolist()):
            p.track_id = int(i)
        return frame


class TrackBuilder:
    """Collects tracked people frame by frame (only what a track needs) and builds the :class:`TrackSet`."""

    def __init__(self) -> None:
        self._rows: dict[int, dict[str, list[Any]]] = {}
        self._focal: np.ndarray | None = None
        self._princpt: np.ndarray | None = None
        self._size: tuple[int, int] | None = None

    def add(self, frame: FrameResult) -> None:
        """Take the tracked people (``track_id >= 0``) of one frame."""
        self._size = (frame.width, frame.height)
        best: dict[int, Person] = {}
        for p in frame.people:
            if p.track_id >= 0 and (p.track_id not in best or p.score > best[p.track_id].score):
                best[p.track_id] = p  # two boxes with one id in a frame: keep the confident one
        if self._focal is None and best:
            self._focal, self._princpt = frame_camera(frame, next(iter(best.values())))
        for tid, p in best.items():
            rows = self._rows.setdefault(tid, {k: [] for k in ("frames", "betas", *FRAME_FIELDS)})
            rows["frames"].append(frame.index)
            rows["betas"].append(np.asarray(p.betas, np.float32))
            for name in FRAME_FIELDS:
                value = person_position(p) if name == "transl" else getattr(p, name)
                rows[name].append(np.asarray(value, np.float32))

    def build(self, fps: float, source: str = "", min_length: int = MIN_TRACK_LENGTH, smoothing: str = "none",
              fill_gaps: int = 0, camera: tuple[Any, Any] | None = None) -> TrackSet:
        """The track set: tracks of at least ``min_length`` frames, one robust shape each, then smoothed."""
        tracks = []
        for tid in sorted(self._rows):
            rows = self._rows[tid]
            if len(rows["frames"]) < min_length:
                continue
            tracks.append(Track(
                track_id=tid,
                frames=np.asarray(rows["frames"], np.int64),
                betas=robust_betas(np.stack(rows["betas"])),
                **{name: np.stack(rows[name]) for name in FRAME_FIELDS},
            ))
        focal, princpt = camera if camera is not None else (self._focal, self._princpt)
        w, h = self._size or (1, 1)
        ts = TrackSet(
            tracks=tracks,
            fps=float(fps),
            smoothing="none",
            focal=np.asarray(focal if focal is not None else [max(w, h)] * 2, np.float32).reshape(2),
            princpt=np.asarray(princpt if princpt is not None else [w / 2, h / 2], np.float32).reshape(2),
            image_size=np.array([w, h], np.int64),
            source=source,
        )
        return smooth(ts, smoothing, fill_gaps_frames=fill_gaps) if smoothing != "none" or fill_gaps else ts


def track(
    results: Any,
    fps: float | None = None,
    *,
    retrack: bool = False,
    smoothing: str = "none",
    fill_gaps: int = 0,
    min_length: int = MIN_TRACK_LENGTH,
    config: TrackerConfig | None = None,
) -> TrackSet:
    """Per-person sequences from a results file (path or :func:`smplestx.load_results` value) or frames.

    People without ids (``track_id`` -1) are tracked here (``retrack=True`` re-tracks everyone);
    ids already in the results are kept. Frames must be in order.
    """
    from ..io.results import Results, load_results

    source = ""
    if isinstance(results, (str, os.PathLike)):
        source = str(results)
        results = load_results(Path(results))
    if isinstance(results, Results):
        fps = fps or results.meta.get("fps") or DEFAULT_FPS
        source = source or str(results.meta.get("source", ""))
        fps = float(fps)  # the source's rate: frame numbers count source frames, also with --stride
        frames: Iterable[FrameResult] = results.frames
    else:
        frames = results
        fps = float(fps or DEFAULT_FPS)
    frames = list(frames)
    needs = retrack or any(p.track_id < 0 for f in frames for p in f.people)
    tracker = FrameTracker(fps, config) if needs else None
    builder = TrackBuilder()
    for f in frames:
        if tracker is not None:
            if retrack:
                for p in f.people:
                    p.track_id = -1
            tracker.update(f)
        builder.add(f)
    return builder.build(fps, source=source, min_length=min_length, smoothing=smoothing, fill_gaps=fill_gaps)


def track_settings(smoothing: str, fill_gaps: int, min_length: int = MIN_TRACK_LENGTH) -> dict[str, Any]:
    """How a track file was built, as a results file records it (meta ``tracks``) for :func:`tracks_of_results`."""
    return {"smoothing": str(smoothing), "fill_gaps": int(fill_gaps), "min_length": int(min_length)}


def _recorded_settings(meta: dict[str, Any]) -> tuple[str, int, int]:
    """(smoothing, fill_gaps, min_length) from a results file's meta ``tracks``; defaults when it has none."""
    from .smoothing import parse_method

    rec = meta.get("tracks")
    if rec is None:
        return "none", 0, MIN_TRACK_LENGTH  # written without tracking (or before the record): as estimated
    defaults = {"smoothing": "none", "fill_gaps": 0, "min_length": MIN_TRACK_LENGTH}
    smoothing, fill, length = (rec.get(k, v) if isinstance(rec, dict) else None for k, v in defaults.items())

    def count(x: Any, low: int) -> bool:
        return isinstance(x, int) and not isinstance(x, bool) and low <= x <= _MAX_RECORDED

    if not (isinstance(smoothing, str) and count(fill, 0) and count(length, 1)):
        raise ResultsFileError(f"meta 'tracks' is not a record of smoothing, fill_gaps and min_length: {rec!r:.200}")
    parse_method(smoothing)  # a bad name fails here, with the name in the message
    return smoothing, fill, length


def tracks_of_results(results: Any, *, min_length: int | None = None) -> TrackSet:
    """The tracks of a results file's tracked people, built as the track file beside it was.

    ``results`` is a path or a :func:`smplestx.load_results` value. People with ``track_id`` -1 are left out, as
    ``smplestx infer`` leaves them out of its track file; the smoothing, gap filling and minimum track length are
    those the file records (meta ``tracks``, :func:`track_settings`), else no smoothing, no gap filling and
    :data:`MIN_TRACK_LENGTH`.
    ``min_length`` overrides the recorded one.
    """
    from ..io.results import load_results

    if isinstance(results, (str, os.PathLike)):
        results = load_results(Path(results))
    smoothing, fill, length = _recorded_settings(results.meta)
    builder = TrackBuilder()
    for frame in results.frames:
        builder.add(frame)
    fps = float(results.meta.get("fps") or DEFAULT_FPS)
    return builder.build(fps, source=str(results.meta.get("source", "")), smoothing=smoothing, fill_gaps=fill,
                         min_length=length if min_length is None else min_length)
