"""What an animation export reads: a ``.tracks.npz`` or a results file of ``smplestx infer``, as a TrackSet."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from ..errors import UsageError
from ..io.results import ResultsFileError, load_results
from ..motion.sequences import tracks_of_results
from ..motion.tracks import TrackSet, load_tracks, validate_trackset
from .readers import is_motion_file, read_motion_file


def _is_tracks_file(path: Path) -> bool:
    """True when ``path`` is an .npz holding a ``format`` entry (track files; results files have meta_json)."""
    try:
        with zipfile.ZipFile(path) as z:
            return "format.npy" in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def trackset_from_results(path: str | os.PathLike[str], fps: float | None = None) -> TrackSet:
    """The tracks of a results file, built as ``smplestx infer`` built the track file beside it.

    Video results go through the motion package's one builder (:func:`smplestx.motion.sequences.tracks_of_results`):
    tracked people only, one robust shape per track, scene-camera translations, the minimum track length and the
    smoothing and gap filling recorded in the file. Untracked people (``track_id`` -1) are accepted without any
    tracked person only in a single-frame file (one image): each becomes a one-frame track with ids 0..n-1 in file
    order.
    """
    path = Path(path)
    res = load_results(path)
    people = [p for fr in res.frames for p in fr.people]
    if not people:
        raise UsageError(f"{path}: the results file has no people to export")
    if all(p.track_id < 0 for p in people):
        if len(res.frames) > 1:
            raise UsageError(
                f"{path}: the people of this {len(res.frames)}-frame results file have no track ids; "
                "track them first (a .tracks.npz from the motion step) or export a single-image results file"
            )
        for i, p in enumerate(people):
            p.track_id = i
    try:
        ts = tracks_of_results(res, min_length=1 if len(res.frames) == 1 else None)
    except (ResultsFileError, UsageError) as e:
        raise UsageError(f"{path}: {e}") from None
    if not ts.tracks:
        raise UsageError(f"{path}: no track of this results file is long enough to export")
    ts.source = ts.source or str(path)
    if fps is not None:
        ts.fps = float(fps)  # after smoothing: a track file's rate is overridden the same way
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
