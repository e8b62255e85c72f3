"""What an animation export reads: a ``.tracks.npz`` or a results file of ``smplestx infer``, as a TrackSet."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..io.results import load_results
from ..motion.tracks import Track, TrackSet, load_tracks, validate_trackset
from .readers import is_motion_file, read_motion_file

#: Frame rate assumed when neither the file nor the caller gives one (single images have none).
DEFAULT_FPS = 30.0


def _is_tracks_file(path: Path) -> bool:
    """True when ``path`` is an .npz holding a ``format`` entry (track files; results files have meta_json)."""
    try:
        with zipfile.ZipFile(path) as z:
            return "format.npy" in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def trackset_from_results(path: str | os.PathLike[str], fps: float | None = None) -> TrackSet:
    """Group the people of a results file into tracks.

    People with a track id are grouped by id (one shape per track: the mean of its betas). Untracked people
    (``track_id`` -1) are accepted only in a single-frame file (one image): each becomes a one-frame track with
    ids 0..n-1 in file order.
    """
    path = Path(path)
    res = load_results(path)
    people = [(fr.index, p) for fr in res.frames for p in fr.people]
    if not people:
        raise UsageError(f"{path}: the results file has no people to export")
    untracked = [pp for pp in people if pp[1].track_id < 0]
    groups: dict[int, list] = {}
    if untracked:
        if len(res.frames) > 1:
            raise UsageError(
                f"{path}: {len(untracked)} people of this {len(res.frames)}-frame results file have no track id; "
                "track them first (a .tracks.npz from the motion step) or export a single-image results file"
            )
        groups = {i: [pp] for i, pp in enumerate(people)}
    else:
        for pp in people:
            groups.setdefault(int(pp[1].track_id), []).append(pp)
    tracks = []
    for tid, rows in sorted(groups.items()):
        frames = np.array([f for f, _ in rows], dtype=np.int64)
        if (np.diff(frames) <= 0).any():
            raise UsageError(f"{path}: track {tid} appears twice in one frame (or frames are out of order)")
        ps = [p for _, p in rows]

        def stack(name: str) -> np.ndarray:
            return np.stack([np.asarray(getattr(p, name), dtype=np.float32) for p in ps])

        tracks.append(Track(
            track_id=tid, frames=frames, global_orient=stack("global_orient"), body_pose=stack("body_pose"),
            left_hand_pose=stack("left_hand_pose"), right_hand_pose=stack("right_hand_pose"),
            jaw_pose=stack("jaw_pose"), betas=stack("betas").mean(axis=0), expression=stack("expression"),
            transl=stack("transl"),
        ))
    file_fps = res.meta.get("fps")
    rate = float(fps if fps is not None else (file_fps if file_fps else DEFAULT_FPS))
    first = people[0][1]
    ts = TrackSet(
        tracks=tracks, fps=rate, smoothing="none", focal=np.asarray(first.focal, np.float32),
        princpt=np.asarray(first.princpt, np.float32), image_size=np.asarray(res.image_size, np.int64),
        source=str(res.meta.get("source", path)),
    )
    validate_trackset(ts, str(path))
    return ts


def load_animation_input(path: str | os.PathLike[str], fps: float | None = None,
                         body_models: str | os.PathLike[str] | None = None) -> TrackSet:
    """Read a ``.tracks.npz``, a results file or a ``.smpl`` / ``.mcs`` / AMASS file (:mod:`.readers`: needs
    ``body_models``); ``fps`` overrides the file's rate."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such input file: {path} (expected a results .npz or a .tracks.npz)")
    if is_motion_file(path):
        return read_motion_file(path, body_models, fps=fps)
    if path.suffix.lower() == ".npz" and _is_tracks_file(path):
        ts = load_tracks(path)
        if fps is not None:
            ts.fps = float(fps)
            validate_trackset(ts, str(path))
        return ts
    return trackset_from_results(path, fps)
