"""Per-track SMPL-X sequences and their file format (``NAME.tracks.npz``).

A :class:`TrackSet` holds one :class:`Track` per tracked person of one video: per-frame SMPL-X
parameters (axis-angle radians; hand poses WITHOUT the hand mean, as in the results files), one
shape per track, and the camera they live in. Positions are metres in the (scene) camera frame,
OpenCV convention: x right, y down, z forward. See ``docs/output-format.md``, "Track files".
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import SmplestxError
from ..io.atomic import atomic_path
from ..io.npz import open_npz

FORMAT_NAME = "smplestx-tracks"
FORMAT_VERSION = 1

#: Per-frame fields of a track: name -> per-frame shape (all float32).
FRAME_FIELDS: dict[str, tuple[int, ...]] = {
    "global_orient": (3,),
    "body_pose": (21, 3),
    "left_hand_pose": (15, 3),
    "right_hand_pose": (15, 3),
    "jaw_pose": (3,),
    "expression": (10,),
    "transl": (3,),
}

# Bounds that no real file exceeds; they keep a corrupt or hostile file from passing as data.
_MAX_FRAME_INDEX = 1 << 40
_MAX_IMAGE_SIDE = 1 << 17
_MAX_ABS_VALUE = 1e6
#: Optional per-frame fields of a track in the world frame (TrackSet.camera_*), each (T, 3) float32.
WORLD_FIELDS = ("global_orient_world", "transl_world")


class TracksFileError(SmplestxError, ValueError):
    """A track file or track set that is inconsistent or unreadable (one line, names the file)."""


@dataclass
class Track:
    """One person's SMPL-X sequence over the frames where it was seen (or filled in)."""

    track_id: int
    frames: np.ndarray  # (T,) int64, strictly increasing source frame indices
    global_orient: np.ndarray  # (T, 3)
    body_pose: np.ndarray  # (T, 21, 3)
    left_hand_pose: np.ndarray  # (T, 15, 3) without the hand mean
    right_hand_pose: np.ndarray  # (T, 15, 3) without the hand mean
    jaw_pose: np.ndarray  # (T, 3)
    betas: np.ndarray  # (10,) one shape for the whole track
    expression: np.ndarray  # (T, 10)
    transl: np.ndarray  # (T, 3) metres, camera frame
    contacts: np.ndarray | None = None  # (T, 4) bool: left heel, left toes, right heel, right toes on the floor
    global_orient_world: np.ndarray | None = None  # (T, 3) root rotation in the world frame (TrackSet.camera_*)
    transl_world: np.ndarray | None = None  # (T, 3) SMPL-X translation in the world frame, metres

    def __len__(self) -> int:
        return int(self.frames.shape[0])


@dataclass
class TrackSet:
    """All tracks of one video, with the frame rate, the filter applied and the camera."""

    tracks: list[Track]
    fps: float
    smoothing: str  # "none", "oneeuro(...)", "gaussian(sigma=...)"
    focal: np.ndarray  # (2,) fx, fy in pixels
    princpt: np.ndarray  # (2,) cx, cy in pixels
    image_size: np.ndarray  # (2,) width, height in pixels
    source: str
    gender: str = "neutral"
    floor: np.ndarray | None = None  # (4,) plane n . x + d = 0 (unit n pointing up), metres, same frame as transl
    feet: str = "none"  # the foot cleanup applied: "none" or "pin" (motion.feet)
    # The camera of every processed frame, world from camera (X_world = R X_cam + t; world y up, floor at y = 0 when
    # the floor is known, else the first camera): source frame numbers (F,), rotations (F, 3, 3), positions (F, 3).
    camera_frames: np.ndarray | None = None
    camera_rotation: np.ndarray | None = None
    camera_translation: np.ndarray | None = None
    camera: str = "none"  # how the camera was taken: "none" (no world), "static" or "moving" (motion.camera_motion)
    # (S, 2) int64 [start, end) source frame numbers of the camera path's segments, split at cuts between shots: each
    # segment is a world of its own (its first camera at the start pose). None with a path: one segment, all of it.
    camera_segments: np.ndarray | None = None

    def track(self, track_id: int) -> Track:
        """The track with this id (KeyError if absent)."""
        for t in self.tracks:
            if t.track_id == track_id:
                return t
        raise KeyError(f"no track with id {track_id}")


def _check_track(t: Track, where: str) -> None:
    """Raise ValueError (prefixed by ``where``) when a track's arrays are inconsistent."""
    frames = np.asarray(t.frames)
    if frames.ndim != 1 or frames.shape[0] < 1:
        raise TracksFileError(f"{where}: track {t.track_id} frames have shape {frames.shape}, expected (T,) with T >= 1")
    if not np.issubdtype(frames.dtype, np.integer):
        raise TracksFileError(f"{where}: track {t.track_id} frames are {frames.dtype}, expected integers")
    if (np.diff(frames) <= 0).any():
        raise TracksFileError(f"{where}: track {t.track_id} frames are not strictly increasing")
    if frames[0] < 0 or frames[-1] > _MAX_FRAME_INDEX:
        raise TracksFileError(f"{where}: track {t.track_id} frame indices out of range")
    n = frames.shape[0]
    for name, shape in FRAME_FIELDS.items():
        a = np.asarray(getattr(t, name))
        if a.shape != (n, *shape):
            raise TracksFileError(f"{where}: track {t.track_id} {name} has shape {a.shape}, expected {(n, *shape)}")
        if not np.isfinite(a).all() or (np.abs(a) > _MAX_ABS_VALUE).any():
            raise TracksFileError(f"{where}: track {t.track_id} {name} has non-finite or absurd values")
    b = np.asarray(t.betas)
    if b.shape != (10,) or not np.isfinite(b).all():
        raise TracksFileError(f"{where}: track {t.track_id} betas have shape {b.shape} or non-finite values, expected (10,)")
    if t.contacts is not None and (np.asarray(t.contacts).shape != (n, 4) or np.asarray(t.contacts).dtype != bool):
        raise TracksFileError(f"{where}: track {t.track_id} contacts have shape {np.asarray(t.contacts).shape} "
                              f"({np.asarray(t.contacts).dtype}), expected ({n}, 4) bool")
    for name in WORLD_FIELDS:
        a = getattr(t, name)
        if a is None:
            continue
        a = np.asarray(a)
        if a.shape != (n, 3) or not np.isfinite(a).all() or (np.abs(a) > _MAX_ABS_VALUE).any():
            raise TracksFileError(f"{where}: track {t.track_id} {name} has shape {a.shape} or non-finite values, "
                                  f"expected ({n}, 3)")


def _check_floor(floor: np.ndarray | None, where: str) -> None:
    if floor is None:
        return
    f = np.asarray(floor, np.float64)
    if f.shape != (4,) or not np.isfinite(f).all() or abs(np.linalg.norm(f[:3]) - 1.0) > 1e-3 \
            or abs(f[3]) > _MAX_ABS_VALUE:
        raise TracksFileError(f"{where}: floor must be 4 finite numbers (unit normal n, offset d), got {f.tolist()}")


def _check_camera(fps: float, focal: np.ndarray, princpt: np.ndarray, size: np.ndarray, where: str) -> None:
    if not (math.isfinite(fps) and 0 < fps <= 10000):
        raise TracksFileError(f"{where}: fps {fps!r} is not a positive frame rate")
    for name, a in (("focal", focal), ("princpt", princpt), ("image_size", size)):
        if np.asarray(a).shape != (2,) or not np.isfinite(np.asarray(a, dtype=np.float64)).all():
            raise TracksFileError(f"{where}: {name} must be 2 finite numbers, got shape {np.asarray(a).shape}")
    if (np.asarray(focal) <= 0).any():
        raise TracksFileError(f"{where}: focal must be positive")
    if (np.asarray(size) < 1).any() or (np.asarray(size) > _MAX_IMAGE_SIDE).any():
        raise TracksFileError(f"{where}: image_size {np.asarray(size).tolist()} is not a sane (width, height)")


def _check_camera_path(ts: TrackSet, where: str) -> None:
    """The camera path: all three arrays or none, consistent shapes, rotations, every track frame covered."""
    given = [a is not None for a in (ts.camera_frames, ts.camera_rotation, ts.camera_translation)]
    if not any(given):
        if ts.camera != "none" or any(t.global_orient_world is not None for t in ts.tracks):
            raise TracksFileError(f"{where}: world fields without a camera path (camera_frames/rotation/translation)")
        return
    if not all(given) or ts.camera not in ("static", "moving"):
        raise TracksFileError(f"{where}: the camera path needs camera_frames, camera_rotation, camera_translation "
                              f"and camera 'static' or 'moving' (got {ts.camera!r})")
    frames = np.asarray(ts.camera_frames)
    rot, pos = np.asarray(ts.camera_rotation, np.float64), np.asarray(ts.camera_translation, np.float64)
    f = frames.shape[0] if frames.ndim == 1 else -1
    if f < 0 or frames.dtype.kind not in "iu" or rot.shape != (f, 3, 3) or pos.shape != (f, 3):
        raise TracksFileError(f"{where}: camera path shapes {frames.shape}, {rot.shape}, {pos.shape}, "
                              "expected (F,) integers, (F, 3, 3), (F, 3)")
    if (np.diff(frames) <= 0).any() or not np.isfinite(rot).all() or not np.isfinite(pos).all() \
            or (np.abs(pos) > _MAX_ABS_VALUE).any():
        raise TracksFileError(f"{where}: camera_frames must increase and the camera path be finite")
    if f and np.abs(rot @ np.swapaxes(rot, 1, 2) - np.eye(3)).max() > 1e-3:
        raise TracksFileError(f"{where}: camera_rotation holds matrices that are not rotations")
    for t in ts.tracks:
        if not np.isin(t.frames, frames).all():
            raise TracksFileError(f"{where}: track {t.track_id} has frames the camera path lacks")
        if (t.global_orient_world is None) != (t.transl_world is None):
            raise TracksFileError(f"{where}: track {t.track_id} has one of global_orient_world/transl_world only")
    if len({t.global_orient_world is None for t in ts.tracks}) > 1:
        raise TracksFileError(f"{where}: some tracks have world fields and others not")


def _check_segments(ts: TrackSet, where: str) -> None:
    """The camera path's segments: (S, 2) integers [start, end), in order, each holding camera frames, all covered."""
    if ts.camera_segments is None:
        return
    if ts.camera_frames is None:
        raise TracksFileError(f"{where}: camera_segments without a camera path")
    seg, frames = np.asarray(ts.camera_segments), np.asarray(ts.camera_frames)
    if seg.ndim != 2 or seg.shape[1] != 2 or seg.shape[0] < (1 if len(frames) else 0) or seg.dtype.kind not in "iu":
        raise TracksFileError(f"{where}: camera_segments have shape {seg.shape} ({seg.dtype}), expected (S, 2) integers")
    if not len(frames):
        return
    if (seg[:, 1] <= seg[:, 0]).any() or (seg[1:, 0] < seg[:-1, 1]).any() or seg.min() < 0 \
            or seg.max() > _MAX_FRAME_INDEX + 1:
        raise TracksFileError(f"{where}: camera_segments must be [start, end) ranges in order, none empty or overlapping")
    which = np.searchsorted(seg[:, 0], frames, side="right") - 1
    if (which < 0).any() or (frames >= seg[which, 1]).any() or len(np.unique(which)) != len(seg):
        raise TracksFileError(f"{where}: camera_segments must cover every camera frame and each hold one")


def camera_segments(ts: TrackSet) -> np.ndarray:
    """The camera path's segments (S, 2) [start, end) in source frames; one segment when the track set names none."""
    if ts.camera_frames is None:
        raise TracksFileError(f"{ts.source}: the track set has no camera path (infer with --camera static|moving|auto)")
    if ts.camera_segments is not None:
        return np.asarray(ts.camera_segments, np.int64).reshape(-1, 2)
    frames = np.asarray(ts.camera_frames, np.int64)
    return frames[[0, -1]].reshape(1, 2) + [0, 1] if len(frames) else np.zeros((0, 2), np.int64)


def segments_in_frames(camera_frames: np.ndarray, segments: list[tuple[int, int]]) -> np.ndarray:
    """Segments given as [start, end) indices into ``camera_frames`` (``CameraMotion.segments``) in source frames."""
    frames = np.asarray(camera_frames, np.int64)
    return np.array([[frames[s], frames[e - 1] + 1] for s, e in segments], np.int64).reshape(-1, 2)


def split_at_segments(ts: TrackSet, segments: np.ndarray) -> tuple[TrackSet, list[tuple[int, int, int]]]:
    """The track set with every track that spans several segments ((S, 2) [start, end) source frames) cut into one
    track per segment, and the splits made as (old id, new id, first frame of the new track).

    The first piece keeps the id; each later piece gets a fresh id above every id in the set. Every per-frame field
    (contacts and world fields included) is sliced with the frames.
    """
    seg = np.asarray(segments, np.int64).reshape(-1, 2)
    next_id = max((t.track_id for t in ts.tracks), default=-1) + 1
    tracks, splits = [], []
    for t in ts.tracks:
        which = np.searchsorted(seg[:, 0], t.frames, side="right") - 1
        bounds = np.flatnonzero(np.diff(which)) + 1
        if not len(bounds):
            tracks.append(t)
            continue
        for k, (a, b) in enumerate(zip([0, *bounds.tolist()], [*bounds.tolist(), len(t)])):
            tid = t.track_id if k == 0 else next_id
            if k:
                next_id += 1
                splits.append((t.track_id, tid, int(t.frames[a])))
            per_frame = {name: None if getattr(t, name) is None else getattr(t, name)[a:b]
                         for name in ("frames", *FRAME_FIELDS, "contacts", *WORLD_FIELDS)}
            tracks.append(replace(t, track_id=tid, **per_frame))
    return replace(ts, tracks=tracks), splits


def camera_at(ts: TrackSet, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World-from-camera rotations (T, 3, 3) and positions (T, 3) of the track set's camera at source ``frames``."""
    if ts.camera_frames is None:
        raise TracksFileError(f"{ts.source}: the track set has no camera path (infer with --camera static|moving|auto)")
    idx = np.searchsorted(ts.camera_frames, frames)
    if (idx >= len(ts.camera_frames)).any() or (ts.camera_frames[np.minimum(idx, len(ts.camera_frames) - 1)] != frames).any():
        raise TracksFileError(f"{ts.source}: frames outside the camera path")
    return np.asarray(ts.camera_rotation)[idx], np.asarray(ts.camera_translation)[idx]


def validate_trackset(ts: TrackSet, where: str = "track set") -> None:
    """Raise ValueError naming ``where`` if the track set is inconsistent."""
    _check_camera(float(ts.fps), ts.focal, ts.princpt, ts.image_size, where)
    _check_floor(ts.floor, where)
    _check_camera_path(ts, where)
    _check_segments(ts, where)
    if ts.feet not in ("none", "pin"):
        raise TracksFileError(f"{where}: feet is {ts.feet!r}, expected 'none' or 'pin'")
    if len({t.contacts is None for t in ts.tracks}) > 1:
        raise TracksFileError(f"{where}: some tracks have contacts and others not")
    ids = [t.track_id for t in ts.tracks]
    if len(set(ids)) != len(ids):
        raise TracksFileError(f"{where}: duplicate track ids")
    for t in ts.tracks:
        _check_track(t, where)


def save_tracks(path: str | os.PathLike[str], trackset: TrackSet) -> Path:
    """Write ``trackset`` to ``path`` (.npz, atomic) and return the path."""
    path = Path(path)
    validate_trackset(trackset, str(path))
    ts = trackset
    arrays: dict[str, np.ndarray] = {
        "format": np.array(FORMAT_NAME),
        "version": np.array(FORMAT_VERSION, dtype=np.int64),
        "fps": np.array(float(ts.fps), dtype=np.float64),
        "smoothing": np.array(str(ts.smoothing)),
        "source": np.array(str(ts.source)),
        "gender": np.array(str(ts.gender)),
        "focal": np.asarray(ts.focal, dtype=np.float32).reshape(2),
        "princpt": np.asarray(ts.princpt, dtype=np.float32).reshape(2),
        "image_size": np.asarray(ts.image_size, dtype=np.int64).reshape(2),
        "track_ids": np.array([t.track_id for t in ts.tracks], dtype=np.int64),
        "track_lengths": np.array([len(t) for t in ts.tracks], dtype=np.int64),
        "betas": np.array([np.asarray(t.betas, dtype=np.float32) for t in ts.tracks], dtype=np.float32).reshape(-1, 10),
        "frames": np.concatenate([np.asarray(t.frames, dtype=np.int64) for t in ts.tracks])
        if ts.tracks
        else np.zeros(0, np.int64),
    }
    for name, shape in FRAME_FIELDS.items():
        parts = [np.asarray(getattr(t, name), dtype=np.float32) for t in ts.tracks]
        arrays[name] = np.concatenate(parts) if parts else np.zeros((0, *shape), np.float32)
    # Optional fields (older files lack them; older readers ignore them).
    if ts.tracks and ts.tracks[0].contacts is not None:
        arrays["contacts"] = np.concatenate([np.asarray(t.contacts, bool) for t in ts.tracks])
    if ts.floor is not None:
        arrays["floor"] = np.asarray(ts.floor, np.float64).reshape(4)
    if ts.feet != "none":
        arrays["feet"] = np.array(str(ts.feet))
    if ts.camera_frames is not None:
        arrays["camera"] = np.array(str(ts.camera))
        arrays["camera_frames"] = np.asarray(ts.camera_frames, np.int64)
        arrays["camera_rotation"] = np.asarray(ts.camera_rotation, np.float64)
        arrays["camera_translation"] = np.asarray(ts.camera_translation, np.float64)
        arrays["camera_segments"] = camera_segments(ts)
    if ts.tracks and ts.tracks[0].global_orient_world is not None:
        for name in WORLD_FIELDS:
            arrays[name] = np.concatenate([np.asarray(getattr(t, name), np.float32) for t in ts.tracks])
    if path.suffix != ".npz":
        raise TracksFileError(f"{path}: a track file must end in .npz")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return path


def _scalar_str(arrays: dict[str, np.ndarray], key: str, path: Path) -> str:
    a = arrays[key]
    if a.shape != () or a.dtype.kind != "U":
        raise TracksFileError(f"{path}: corrupt smplestx track file ({key} is not a string)")
    return str(a[()])


def load_tracks(path: str | os.PathLike[str]) -> TrackSet:
    """Read and validate a ``.tracks.npz`` file written by :func:`save_tracks`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such track file: {path}")
    npz = open_npz(path, "track", TracksFileError)
    with npz:
        if "format" not in npz.files:
            raise TracksFileError(f"{path} is not a smplestx track file (no 'format' entry)")
        try:
            arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise TracksFileError(f"{path}: corrupt smplestx track file ({e})") from e
    try:
        fmt = _scalar_str(arrays, "format", path)
        if fmt != FORMAT_NAME:
            raise TracksFileError(f"{path} is not a smplestx track file (format {fmt!r}, expected {FORMAT_NAME!r})")
        version = arrays["version"]
        if version.shape != () or version.dtype.kind not in "iu":
            raise TracksFileError(f"{path}: corrupt smplestx track file (version is not an integer)")
        if int(version) < 1 or int(version) > FORMAT_VERSION:
            raise TracksFileError(
                f"{path}: smplestx track file version {int(version)} is not one this smplestx reads "
                f"(1..{FORMAT_VERSION}); upgrade smplestx"
            )
        fps = arrays["fps"]
        if fps.shape != () or fps.dtype.kind not in "fiu":
            raise TracksFileError(f"{path}: corrupt smplestx track file (fps is not a number)")
        ids = arrays["track_ids"]
        lengths = arrays["track_lengths"]
        k = ids.shape[0] if ids.ndim == 1 else -1
        if k < 0 or ids.dtype.kind not in "iu" or lengths.shape != (k,) or lengths.dtype.kind not in "iu":
            raise TracksFileError(f"{path}: corrupt smplestx track file (track_ids/track_lengths not (K,) integers)")
        if (lengths < 1).any():
            raise TracksFileError(f"{path}: corrupt smplestx track file (a track has no frames)")
        n = int(lengths.sum())
        betas = arrays["betas"]
        if betas.shape != (k, 10):
            raise TracksFileError(f"{path}: corrupt smplestx track file (betas have shape {betas.shape}, expected {(k, 10)})")
        frames = arrays["frames"]
        if frames.shape != (n,) or frames.dtype.kind not in "iu":
            raise TracksFileError(f"{path}: corrupt smplestx track file (frames have shape {frames.shape}, expected ({n},))")
        for name, shape in FRAME_FIELDS.items():
            if arrays[name].shape != (n, *shape) or arrays[name].dtype.kind != "f":
                raise TracksFileError(
                    f"{path}: corrupt smplestx track file ({name} has shape {arrays[name].shape}, expected {(n, *shape)})"
                )
        for name in ("focal", "princpt", "image_size"):
            if arrays[name].shape != (2,) or arrays[name].dtype.kind not in "fiu":
                raise TracksFileError(f"{path}: corrupt smplestx track file ({name} is not 2 numbers)")
        contacts = arrays.get("contacts")
        if contacts is not None and (contacts.shape != (n, 4) or contacts.dtype != bool):
            raise TracksFileError(f"{path}: corrupt smplestx track file (contacts have shape {contacts.shape} "
                                  f"{contacts.dtype}, expected ({n}, 4) bool)")
        floor = arrays.get("floor")
        if floor is not None and (floor.shape != (4,) or floor.dtype.kind != "f"):
            raise TracksFileError(f"{path}: corrupt smplestx track file (floor is not 4 numbers)")
        world = {name: arrays.get(name) for name in WORLD_FIELDS}
        for name, a in world.items():
            if a is not None and (a.shape != (n, 3) or a.dtype.kind != "f"):
                raise TracksFileError(f"{path}: corrupt smplestx track file ({name} has shape {a.shape}, expected ({n}, 3))")
        camera_path = {name: arrays.get(name)
                       for name in ("camera_frames", "camera_rotation", "camera_translation", "camera_segments")}
        for name, a in camera_path.items():
            if a is not None and (a.dtype.kind not in ("iu" if name in ("camera_frames", "camera_segments") else "f")):
                raise TracksFileError(f"{path}: corrupt smplestx track file ({name} has dtype {a.dtype})")
        starts = np.concatenate([[0], np.cumsum(lengths)])
        tracks = []
        for i in range(k):
            s, e = int(starts[i]), int(starts[i + 1])
            kw = {name: arrays[name][s:e].astype(np.float32) for name in FRAME_FIELDS}
            if contacts is not None:
                kw["contacts"] = contacts[s:e].copy()
            for name, a in world.items():
                if a is not None:
                    kw[name] = a[s:e].astype(np.float32)
            tracks.append(
                Track(
                    track_id=int(ids[i]),
                    frames=frames[s:e].astype(np.int64),
                    betas=betas[i].astype(np.float32),
                    **kw,
                )
            )
        ts = TrackSet(
            tracks=tracks,
            fps=float(fps),
            smoothing=_scalar_str(arrays, "smoothing", path),
            focal=arrays["focal"].astype(np.float32),
            princpt=arrays["princpt"].astype(np.float32),
            image_size=arrays["image_size"].astype(np.int64),
            source=_scalar_str(arrays, "source", path),
            gender=_scalar_str(arrays, "gender", path),
            floor=floor.astype(np.float64) if floor is not None else None,
            feet=_scalar_str(arrays, "feet", path) if "feet" in arrays else "none",
            camera_frames=None if camera_path["camera_frames"] is None else camera_path["camera_frames"].astype(np.int64),
            camera_rotation=None if camera_path["camera_rotation"] is None else camera_path["camera_rotation"].astype(np.float64),
            camera_translation=None if camera_path["camera_translation"] is None
            else camera_path["camera_translation"].astype(np.float64),
            camera=_scalar_str(arrays, "camera", path) if "camera" in arrays else "none",
            camera_segments=None if camera_path["camera_segments"] is None
            else camera_path["camera_segments"].astype(np.int64),
        )
        if ts.camera_frames is not None and ts.camera_segments is None:  # an older file: one segment, all of it
            ts = replace(ts, camera_segments=camera_segments(ts))
    except KeyError as e:
        raise TracksFileError(f"{path}: corrupt smplestx track file (array {e.args[0]!r} missing)") from None
    validate_trackset(ts, str(path))
    return ts
