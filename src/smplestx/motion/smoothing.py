"""Temporal smoothing of SMPL-X tracks: rotations on the rotation manifold, positions, expressions.

Rotations (global orientation and every joint) become unit quaternions (the package's conversions
in :mod:`smplestx.geometry.rotations`), made sign-continuous along time so q and -q never fight, filtered,
re-normalised (a unit quaternion is an orthonormal rotation) and converted back to axis-angle; no
Euler angles anywhere. Translation and expression are filtered as plain vectors.

Filters (``method``):

- ``gaussian(sigma=F)``: centred Gaussian window of ``sigma`` samples (offline only); weighted
  quaternion averages are taken in one hemisphere and normalised (the chordal mean, accurate for
  the small spreads inside a window).
- ``oneeuro(min_cutoff=Hz, beta=s, d_cutoff=Hz)``: the 1-euro filter (Casiez et al. 2012),
  an adaptive low-pass whose cutoff rises with speed, applied with slerp to rotations. Causal
  (``causal=True``: frame by frame, for streams; :class:`OneEuroStream`) or two-pass
  forward-backward for files, which cancels its lag.
- ``none``.

Segments separated by a gap in the frame numbers are smoothed apart; :func:`fill_gaps` first
bridges gaps of up to N frames (slerp for rotations, linear for the rest).
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import torch
from scipy.ndimage import convolve1d

from ..errors import UsageError
from ..geometry.rotations import (axis_angle_to_quaternion, axis_angle_to_rotmat_np, quaternion_slerp,
                                  quaternion_to_axis_angle, rotmat_to_axis_angle_np)
from .tracks import Track, TrackSet, camera_segments

#: Rotation fields of a track and their joint counts, in the order they are stacked for filtering.
ROTATION_FIELDS = (("global_orient", 1), ("body_pose", 21), ("left_hand_pose", 15), ("right_hand_pose", 15),
                   ("jaw_pose", 1))
VECTOR_FIELDS = ("transl", "expression")
METHODS = ("none", "oneeuro", "gaussian")
DEFAULTS: dict[str, dict[str, float]] = {
    "none": {},
    "gaussian": {"sigma": 2.0},
    "oneeuro": {"min_cutoff": 1.0, "beta": 0.3, "d_cutoff": 1.0},
}


def parse_method(spec: str) -> tuple[str, dict[str, float]]:
    """``"gaussian(sigma=3)"`` -> ``("gaussian", {"sigma": 3.0})``, defaults filled in; ValueError otherwise."""
    m = re.fullmatch(r"\s*([a-z_]+)\s*(?:\((.*)\))?\s*", spec or "")
    if not m or m.group(1) not in METHODS:
        raise UsageError(f"unknown smoothing {spec!r}; use one of {', '.join(METHODS)}, e.g. gaussian(sigma=2)")
    name, params = m.group(1), dict(DEFAULTS[m.group(1)])
    for item in filter(None, (s.strip() for s in (m.group(2) or "").split(","))):
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in params:
            raise UsageError(f"smoothing {name} has no parameter {key!r} (it has: {', '.join(params) or 'none'})")
        try:
            params[key] = float(value)
        except ValueError:
            raise UsageError(f"smoothing {spec!r}: {key} must be a number") from None
        if not math.isfinite(params[key]) or params[key] < 0 or (key != "beta" and params[key] == 0):
            raise UsageError(f"smoothing {spec!r}: {key} must be positive")
    return name, params


def describe_method(name: str, params: dict[str, float]) -> str:
    """The canonical text of a filter, as stored in track files (``"gaussian(sigma=2)"``)."""
    if name == "none":
        return "none"
    return f"{name}({','.join(f'{k}={v:g}' for k, v in params.items())})"


# --------------------------------------------------------------------------------------------
# Quaternion helpers (numpy in, numpy out; the conversions themselves live in geometry.rotations)
# --------------------------------------------------------------------------------------------


def _to_quaternions(aa: np.ndarray) -> np.ndarray:
    """(T, J, 3) axis-angle -> (T, J, 4) unit quaternions, sign-continuous along T."""
    q = axis_angle_to_quaternion(torch.from_numpy(np.asarray(aa, np.float64))).numpy()
    if len(q) > 1:
        # Flip each frame into the hemisphere of the previous one (cumulative, so a run stays consistent).
        dots = np.sum(q[1:] * q[:-1], axis=-1)
        signs = np.cumprod(np.where(dots < 0, -1.0, 1.0), axis=0)
        q[1:] *= signs[..., None]
    return q


def _to_axis_angle(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (any norm, any sign) -> (..., 3) axis-angle with angles in [0, pi]."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., :1] < 0, -q, q)
    return quaternion_to_axis_angle(torch.from_numpy(q)).numpy()


def _nearest_branch(aa: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The axis-angle vectors of the same rotations as ``aa`` nearest to ``ref`` (same shape).

    ``v`` and ``v - 2 pi v / |v|`` are one rotation, but the body model adds the hand mean to the vector, so a
    pose near 180 deg written on the other branch is another finger: filtered values stay on the input's branch.
    """
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    other = aa - 2 * np.pi * aa / np.maximum(angle, 1e-12)
    closer = np.linalg.norm(other - ref, axis=-1, keepdims=True) < np.linalg.norm(aa - ref, axis=-1, keepdims=True)
    return np.where(closer & (angle > 1e-12), other, aa)


def _stack_rotations(track: Track) -> np.ndarray:
    return np.concatenate([np.asarray(getattr(track, name), np.float64).reshape(len(track), n, 3)
                           for name, n in ROTATION_FIELDS], axis=1)


def _unstack_rotations(aa: np.ndarray) -> dict[str, np.ndarray]:
    out, start = {}, 0
    for name, n in ROTATION_FIELDS:
        part = aa[:, start:start + n].astype(np.float32)
        out[name] = part[:, 0] if name in ("global_orient", "jaw_pose") else part
        start += n
    return out


# --------------------------------------------------------------------------------------------
# Filters on arrays (T, ...) of one contiguous segment
# --------------------------------------------------------------------------------------------


def gaussian_filter(x: np.ndarray, sigma: float) -> np.ndarray:
    """Centred Gaussian smoothing along axis 0, renormalised at the ends (no padding bias)."""
    if len(x) < 2:
        return x.copy()
    radius = max(1, int(math.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    num = convolve1d(x, k, axis=0, mode="constant", cval=0.0)
    den = convolve1d(np.ones(len(x)), k, axis=0, mode="constant", cval=0.0)
    return num / den.reshape(-1, *([1] * (x.ndim - 1)))


def _alpha(cutoff: np.ndarray | float, fps: float) -> np.ndarray:
    tau = 1.0 / (2 * math.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau * fps)


class OneEuroStream:
    """Causal 1-euro filter over one track's frames; feed frames in order with :meth:`step`."""

    def __init__(self, fps: float, min_cutoff: float = 1.0, beta: float = 0.3, d_cutoff: float = 1.0) -> None:
        self.fps, self.min_cutoff, self.beta, self.d_cutoff = float(fps), min_cutoff, beta, d_cutoff
        self._q: torch.Tensor | None = None  # (J, 4) filtered rotations
        self._q_speed: torch.Tensor | None = None  # (J,) filtered angular speed, rad/s
        self._v: dict[str, np.ndarray] = {}
        self._v_speed: dict[str, np.ndarray] = {}

    def _rot(self, q: np.ndarray) -> np.ndarray:
        # State stays in torch between frames: per-frame numpy <-> torch round trips cost more than the math.
        qt = torch.from_numpy(q)
        if self._q is None:
            self._q, self._q_speed = qt.clone(), torch.zeros(len(q), dtype=qt.dtype)
            return q
        dot = (qt * self._q).sum(-1)
        angle = 2 * torch.acos(dot.abs().clamp(max=1.0))
        a_d = float(_alpha(self.d_cutoff, self.fps))
        self._q_speed = a_d * angle * self.fps + (1 - a_d) * self._q_speed
        tau = 1.0 / (2 * math.pi * (self.min_cutoff + self.beta * self._q_speed))
        a = 1.0 / (1.0 + tau * self.fps)
        self._q = quaternion_slerp(self._q, qt, a)  # shortest arc: q and -q are the same rotation
        return self._q.numpy()

    def _vec(self, name: str, x: np.ndarray) -> np.ndarray:
        prev = self._v.get(name)
        if prev is None:
            self._v[name], self._v_speed[name] = x.copy(), np.zeros(())
            return x
        a_d = _alpha(self.d_cutoff, self.fps)
        speed = a_d * np.linalg.norm(x - prev) * self.fps + (1 - a_d) * self._v_speed[name]
        self._v_speed[name] = speed
        a = _alpha(self.min_cutoff + self.beta * speed, self.fps)
        self._v[name] = prev + a * (x - prev)
        return self._v[name]

    def step(self, quaternions: np.ndarray, vectors: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Filter one frame: (J, 4) quaternions and named vectors; returns the filtered values."""
        q = self._rot(np.asarray(quaternions, np.float64))
        return q.copy(), {k: self._vec(k, np.asarray(v, np.float64)).copy() for k, v in vectors.items()}


def _oneeuro_pass(q: np.ndarray, vectors: dict[str, np.ndarray], fps: float, params: dict[str, float]
                  ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    f = OneEuroStream(fps, **params)
    q_out = np.empty_like(q)
    v_out = {k: np.empty_like(v) for k, v in vectors.items()}
    for t in range(len(q)):
        q_out[t], vals = f.step(q[t], {k: v[t] for k, v in vectors.items()})
        for k, v in vals.items():
            v_out[k][t] = v
    return q_out, v_out


def _smooth_segment(q: np.ndarray, vectors: dict[str, np.ndarray], name: str, params: dict[str, float], fps: float,
                    causal: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if name == "gaussian":
        if causal:
            raise UsageError("gaussian smoothing looks ahead; use oneeuro for causal (streaming) smoothing")
        return gaussian_filter(q, params["sigma"]), {k: gaussian_filter(v, params["sigma"]) for k, v in vectors.items()}
    q1, v1 = _oneeuro_pass(q, vectors, fps, params)
    if causal:
        return q1, v1
    # Offline: run it again backwards over the forward result; the two lags cancel.
    q2, v2 = _oneeuro_pass(q1[::-1].copy(), {k: v[::-1].copy() for k, v in v1.items()}, fps, params)
    return q2[::-1], {k: v[::-1] for k, v in v2.items()}


# --------------------------------------------------------------------------------------------
# Tracks
# --------------------------------------------------------------------------------------------


def _step(frames: np.ndarray) -> int:
    """The sampling step of a track in source frames (1, or the --stride of the run)."""
    d = np.diff(np.asarray(frames, np.int64))
    return int(d.min()) if len(d) else 1


def _segments(frames: np.ndarray, breaks: np.ndarray | None = None) -> list[slice]:
    """Gap-free runs of ``frames``, also cut where a new camera segment starts (``breaks``: its first source frames)."""
    cuts = np.flatnonzero(np.diff(frames) != _step(frames)) + 1
    if breaks is not None and len(breaks):
        at = np.searchsorted(frames, np.asarray(breaks, np.int64))
        cuts = np.union1d(cuts, at[(at > 0) & (at < len(frames))])
    bounds = [0, *cuts.tolist(), len(frames)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def _filter_path(frames: np.ndarray, aa_in: np.ndarray, vectors: dict[str, np.ndarray], name: str,
                 params: dict[str, float], fps: float, causal: bool, breaks: np.ndarray | None = None
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rotations (T, J, 3) axis-angle and vectors (T, ...) sampled at ``frames``, filtered per gap-free segment
    (never across a camera cut: ``breaks``, the first source frame of each camera segment)."""
    q = _to_quaternions(aa_in)
    q_out = np.empty_like(q)
    v_out = {k: np.empty_like(v) for k, v in vectors.items()}
    rate = fps / _step(frames)  # samples per second
    for seg in _segments(np.asarray(frames), breaks):
        qs, vs = _smooth_segment(q[seg], {k: v[seg] for k, v in vectors.items()}, name, params, rate, causal)
        q_out[seg] = qs
        for k, v in vs.items():
            v_out[k][seg] = v
    return _nearest_branch(_to_axis_angle(q_out), aa_in), v_out


def smooth_track(track: Track, method: str = "gaussian", fps: float = 30.0, causal: bool = False,
                 world: bool = False, breaks: np.ndarray | None = None) -> Track:
    """A smoothed copy of one track (rotations on the manifold, translation, expression); betas unchanged.

    ``world``: the world root (``global_orient_world``, ``transl_world``) is filtered too, as its own trajectory;
    otherwise it is dropped, stale (it was the old camera-frame root moved by the camera). ``breaks``: the first
    source frames of the camera's segments (cuts between shots), which no filter crosses.
    """
    name, params = parse_method(method)
    if name == "none" or len(track) < 2:
        return replace(track)
    vectors = {k: np.asarray(getattr(track, k), np.float64) for k in VECTOR_FIELDS}
    aa, v_out = _filter_path(track.frames, _stack_rotations(track), vectors, name, params, fps, causal, breaks)
    out = replace(track, **_unstack_rotations(aa), **{k: v.astype(np.float32) for k, v in v_out.items()},
                  global_orient_world=None, transl_world=None)
    if world and track.global_orient_world is not None:
        # In the world, a root moved by a panning camera is a walker's steady line: filtered there, not in the camera.
        go = np.asarray(track.global_orient_world, np.float64).reshape(len(track), 1, 3)
        go, w = _filter_path(track.frames, go, {"t": np.asarray(track.transl_world, np.float64)}, name, params, fps,
                             causal, breaks)
        out = replace(out, global_orient_world=go[:, 0].astype(np.float32), transl_world=w["t"].astype(np.float32))
    return out


def smooth_camera_path(frames: np.ndarray, rotation: np.ndarray, translation: np.ndarray, method: str, fps: float,
                       causal: bool = False, breaks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A camera path (F, 3, 3), (F, 3) at source ``frames`` filtered on its own, as a track's root is, per segment
    (``breaks``: each segment's first source frame)."""
    name, params = parse_method(method)
    if name == "none" or len(frames) < 2:
        return np.array(rotation, np.float64), np.array(translation, np.float64)
    aa = rotmat_to_axis_angle_np(np.asarray(rotation, np.float64)).reshape(len(frames), 1, 3)
    aa, v = _filter_path(np.asarray(frames, np.int64), aa, {"t": np.asarray(translation, np.float64)}, name, params,
                         fps, causal, breaks)
    return axis_angle_to_rotmat_np(aa[:, 0], eps=0.0), v["t"]


def fill_gaps(track: Track, max_gap: int) -> Track:
    """A copy with every run of at most ``max_gap`` missing samples filled (slerp for rotations, linear otherwise).

    The track's own frames are kept bit for bit; filled rotations take the axis-angle branch nearest to the
    linear blend of their neighbours' vectors (see :func:`_nearest_branch`).
    """
    frames = np.asarray(track.frames, np.int64)
    step = _step(frames)
    missing = np.diff(frames) // step - 1
    holes = np.flatnonzero((missing > 0) & (missing <= max_gap))
    if max_gap <= 0 or not len(holes):
        return replace(track)
    aa = _stack_rotations(track)
    q = _to_quaternions(aa)
    vectors = {k: np.asarray(getattr(track, k), np.float64) for k in VECTOR_FIELDS}
    new_frames, new_aa, new_v = [], [], {k: [] for k in vectors}
    for i in holes:
        a, b = frames[i], frames[i + 1]
        fill = np.arange(a + step, b, step)
        if not len(fill):
            continue
        t = (fill - a) / (b - a)
        q0 = torch.from_numpy(np.broadcast_to(q[i], (len(t), *q[i].shape)).copy())
        q1 = torch.from_numpy(np.broadcast_to(q[i + 1], (len(t), *q[i].shape)).copy())
        tt = torch.from_numpy(np.broadcast_to(t[:, None], (len(t), q.shape[1])).copy())
        blend = aa[i] + t[:, None, None] * (aa[i + 1] - aa[i])
        new_frames.append(fill)
        new_aa.append(_nearest_branch(_to_axis_angle(quaternion_slerp(q0, q1, tt).numpy()), blend))
        for k, v in vectors.items():
            new_v[k].append(v[i] + t.reshape(-1, *([1] * (v.ndim - 1))) * (v[i + 1] - v[i]))
    all_frames = np.concatenate([frames, *new_frames])
    order = np.argsort(all_frames, kind="stable")
    filled = _unstack_rotations(np.concatenate(new_aa))
    out = {}
    for name in (*(n for n, _ in ROTATION_FIELDS), *VECTOR_FIELDS):
        own = np.asarray(getattr(track, name), np.float32)
        extra = filled[name] if name in filled else np.concatenate(new_v[name]).astype(np.float32)
        out[name] = np.concatenate([own, extra.astype(np.float32)])[order]
    return replace(track, frames=all_frames[order], **out, global_orient_world=None, transl_world=None)


def robust_betas(betas: np.ndarray) -> np.ndarray:
    """One shape (10,) from per-frame estimates (T, 10): the mean of those near the median (outliers out)."""
    b = np.asarray(betas, np.float64).reshape(-1, np.shape(betas)[-1])
    med = np.median(b, axis=0)
    d = np.linalg.norm(b - med, axis=1)
    keep = d <= 2.5 * max(np.median(d), 1e-9)
    return b[keep].mean(axis=0).astype(np.float32)


def smooth(trackset: TrackSet, method: str = "gaussian", fill_gaps_frames: int = 0, causal: bool = False,
           world: bool = False) -> TrackSet:
    """A smoothed copy of a track set: gaps of up to ``fill_gaps_frames`` filled, then each track filtered.

    ``world`` (a track set with a camera path): every track's world root and the camera path are filtered as
    trajectories of their own (:func:`smooth_track`, :func:`smooth_camera_path`); otherwise the world roots go.
    No filter crosses a cut between the camera's segments (``camera_segments``: each is a world of its own).
    """
    name, params = parse_method(method)
    if world and fill_gaps_frames > 0:
        raise ValueError("smoothing in the world does not fill gaps (the camera path has no filled frames)")
    tracks = [fill_gaps(t, fill_gaps_frames) if fill_gaps_frames > 0 else t for t in trackset.tracks]
    # Contacts and pinned feet belong to the motion before filtering: dropped, to be found again (motion.feet).
    breaks = camera_segments(trackset)[1:, 0] if trackset.camera_frames is not None else None
    tracks = [replace(smooth_track(t, method, trackset.fps, causal, world=world, breaks=breaks), contacts=None)
              for t in tracks]
    out = replace(trackset, tracks=tracks, smoothing=describe_method(name, params), feet="none")
    if world and trackset.camera_frames is not None:
        rot, pos = smooth_camera_path(trackset.camera_frames, trackset.camera_rotation, trackset.camera_translation,
                                      method, trackset.fps, causal, breaks)
        out = replace(out, camera_rotation=rot, camera_translation=pos)
    return out
