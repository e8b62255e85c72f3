"""The camera's motion through a video, from its background: sparse optical flow, a turn or a turn and a step, chained.

Corners of the background (spread over a grid; people masked out by their boxes) are followed frame to frame with
pyramidal Lucas-Kanade (checked forwards and backwards) and compared with a keyframe. Between the keyframe and the
current frame the camera either only turned (every point moves as ``x_c ~ R x_k``: a rotation fitted by RANSAC
over pairs of rays, exact for a tripod pan) or also stepped: a rotation and a direction of travel fitted to the
epipolar constraint (robust Sampson least squares from the turn and several directions). The step is taken only
when the points disagree with the best pure turn :data:`MOTION_GAIN` times more than with the turn and step (on a
tripod pan the ratio is 3 to 4 from noise alone: the step's residual is 1D and its direction soaks up some). The
keyframe's pose chains these; a new keyframe starts when the points thin out or have moved far, so the error grows
with the number of keyframes, not of frames. The path is smoothed a little at the end (:data:`PATH_SIGMA`).

Metric scale needs a ruler. When the floor is known (a plane in the first camera's frame, as track files store it),
the camera height is the ruler: points triangulated between keyframe and frame whose height along the floor's
normal is the most common value below the camera are floor points, and their height fixes the length of the
step. Without a floor the camera is taken to be level at height 1: steps come out in camera heights (``metric``
False) and :meth:`CameraMotion.placed_on` turns them into metres once the floor is known (the pipeline finds it
from the people's feet after the video has streamed by).

Poses are "world from camera" (``X_world = R X_cam + t``, see :mod:`.world_frame`): with a floor the world is y
up with the floor at y = 0 and the first camera above the origin, facing -z; without one the world is the first
camera. ``auto`` calls a video static when its background never moved :data:`STATIC_PX` from the first frame;
a static video gets the first pose in every frame, exactly. A one-frame video, textureless frames and cuts
between shots (each cut starts a segment with its own world) are reported in one line each.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from .smoothing import gaussian_filter

log = logging.getLogger(__name__)

#: Gaussian smoothing (frames) of the estimated path, per segment: the per-frame steps are noisy in the jerk
#: (jitter), the path itself is not; 1 frame keeps a handheld shake (a few hertz) and halves the jitter.
PATH_SIGMA = 1.0

CAMERA_MODES = ("static", "moving", "auto")
#: Working width: larger frames are shrunk to this before tracking (the cost scales with the pixels).
WORK_WIDTH = 640
MAX_CORNERS = 400
MIN_POINTS = 24  # fewer tracked background points than this: the frame is textureless, the camera holds still
KEYFRAME_POINTS = 0.5  # a new keyframe when fewer than this fraction of its points are still tracked ...
KEYFRAME_MOTION_PX = 48.0  # ... or when they moved this far (median, working pixels)
CUT_FRACTION = 0.2  # fewer than this fraction of last frame's points followed into a textured frame: a cut
MOTION_GAIN = 6.0  # a step is taken when a turn's median error (2D) exceeds a turn-and-step's (1D, Sampson) this much
MIN_PARALLAX_PX = 0.12  # below this median disagreement with a pure turn, no step is looked for (a tripod)
STATIC_PX = 1.0  # auto: a background that never moved this far from the first frame is a tripod's
FIT_POINTS = 60  # matches the turn-and-step fit's starts are compared on
FB_ERROR_PX = 1.0  # forward-backward tracking error above which a point is dropped
BOX_MARGIN = 0.1  # person boxes grow by this fraction of their size before masking (limbs, shadows)


@dataclass
class CameraMotion:
    """The camera of every frame of a video, world from camera (``X_world = R X_cam + t``)."""

    rotation: np.ndarray  # (F, 3, 3)
    translation: np.ndarray  # (F, 3) metres when ``metric``, else zeros
    moving: bool  # False: a static camera (every pose is the first)
    metric: bool  # the translation is in metres (the floor gave the scale)
    segments: list[tuple[int, int]] = field(default_factory=list)  # [start, end) frames; each starts its own world
    textureless: np.ndarray | None = None  # (F,) bool: too few background points, the pose was held
    background_motion_px: float = 0.0  # the farthest the background moved from its first frame (median, pixels)
    messages: list[str] = field(default_factory=list)  # the one-line reports (also logged)

    def __len__(self) -> int:
        return int(self.rotation.shape[0])

    def placed_on(self, floor: np.ndarray) -> CameraMotion:
        """This motion (estimated without a floor: world = first camera, steps in camera heights) over ``floor`` (n, d)
        of the first camera: y up, the floor at y = 0, metres."""
        if self.metric:
            raise ValueError("this camera motion already stands on a floor")
        r0, t0 = start_pose(np.asarray(floor, np.float64))
        height = float(floor[3])
        return replace(self, rotation=r0 @ self.rotation, translation=(height * self.translation) @ r0.T + t0,
                       metric=self.moving)


def start_pose(floor: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """World from the first camera: y up over the floor plane (n, d) of the camera frame, facing -z; else identity."""
    if floor is None:
        return np.eye(3), np.zeros(3)
    n = np.asarray(floor[:3], np.float64)
    n = n / np.linalg.norm(n)
    forward = np.array([0.0, 0.0, 1.0]) - n[2] * n  # the camera's view direction, levelled
    if np.linalg.norm(forward) < 1e-6:  # looking straight down or up: any heading will do
        forward = np.array([0.0, 1.0, 0.0]) - n[1] * n
    forward /= np.linalg.norm(forward)
    # The rows of world-from-camera are the world's axes in camera coordinates: y = up, z = back, x = y cross z.
    back = -forward
    return np.stack([np.cross(n, back), n, back]), np.array([0.0, float(floor[3]), 0.0])


def _box_mask(shape: tuple[int, int], boxes: np.ndarray, scale: float) -> np.ndarray:
    """uint8 mask, 255 where the background may be used: outside every (grown) person box."""
    mask = np.full(shape, 255, np.uint8)
    for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4) * scale:
        if not np.isfinite([x1, y1, x2, y2]).all():
            continue
        mx, my = BOX_MARGIN * (x2 - x1) + 4, BOX_MARGIN * (y2 - y1) + 4
        mask[max(0, int(y1 - my)):max(0, int(y2 + my + 1)), max(0, int(x1 - mx)):max(0, int(x2 + mx + 1))] = 0
    return mask


def _corners(grey: np.ndarray, mask: np.ndarray, grid: int = 4) -> np.ndarray:
    """Corners (N, 2) float32 spread over a ``grid`` x ``grid`` of cells, so that plain regions (a far floor) get some."""
    h, w = grey.shape
    per_cell = MAX_CORNERS // (grid * grid)
    out = []
    for i in range(grid):
        for j in range(grid):
            y0, y1, x0, x1 = h * i // grid, h * (i + 1) // grid, w * j // grid, w * (j + 1) // grid
            if not mask[y0:y1, x0:x1].any():
                continue
            pts = cv2.goodFeaturesToTrack(grey[y0:y1, x0:x1], per_cell, 0.005, 8, mask=mask[y0:y1, x0:x1], blockSize=5)
            if pts is not None:
                out.append(pts.reshape(-1, 2) + np.array([x0, y0], np.float32))
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 2), np.float32)


def _kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotations (..., 3, 3) taking unit rays a (..., N, 3) onto b (least squares)."""
    h = np.swapaxes(a, -1, -2) @ b
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
    fix = np.ones(h.shape[:-2] + (3,))
    fix[..., 2] = d
    return np.swapaxes(vt, -1, -2) @ (fix[..., None] * np.swapaxes(u, -1, -2))


def _project(rays: np.ndarray, k: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return rays[:, :2] / rays[:, 2:] * k[[0, 1], [0, 1]] + k[:2, 2]


def fit_rotation(p_key: np.ndarray, p_cur: np.ndarray, k: np.ndarray, rng: np.random.Generator,
                 threshold: float = 1.5, iterations: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """The rotation R with ``x_cur ~ R x_key`` best explaining pixel matches (RANSAC on pairs), and its residuals (px)."""
    kinv = np.linalg.inv(k)
    a = np.c_[p_key, np.ones(len(p_key))] @ kinv.T
    b = np.c_[p_cur, np.ones(len(p_cur))] @ kinv.T
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    pairs = rng.integers(0, len(a), (iterations, 2))
    cand = _kabsch(a[pairs], b[pairs])  # (I, 3, 3)
    moved = np.einsum("iab,nb->ina", cand, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = moved[..., :2] / moved[..., 2:] * k[[0, 1], [0, 1]] + k[:2, 2]
    err = np.linalg.norm(uv - p_cur[None], axis=-1)
    best = int((err < threshold).sum(axis=1).argmax())
    rot, resid = cand[best], err[best]
    for _ in range(2):  # refine on the inliers, then pick them again
        inliers = resid < threshold
        if inliers.sum() < 3:
            break
        rot = _kabsch(a[inliers], b[inliers])
        resid = np.linalg.norm(_project(a @ rot.T, k) - p_cur, axis=-1)
    return rot, np.nan_to_num(resid, nan=1e9)


def _sampson_px(params: np.ndarray, a: np.ndarray, b: np.ndarray, focal: float) -> np.ndarray:
    """Sampson distances (pixels) of normalised matches a -> b (N, 3) to the essential matrices of parameter rows
    (K, 5) = (rotation vector, polar and azimuth angle of t): (K, N); one row (5,) gives (N,)."""
    x = np.atleast_2d(params)
    rot = Rotation.from_rotvec(x[:, :3]).as_matrix()  # (K, 3, 3)
    th, ph = x[:, 3], x[:, 4]
    t = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], -1)
    z = np.zeros_like(th)
    tx = np.stack([np.stack([z, -t[:, 2], t[:, 1]], -1), np.stack([t[:, 2], z, -t[:, 0]], -1),
                   np.stack([-t[:, 1], t[:, 0], z], -1)], -2)
    e = tx @ rot
    ea = np.einsum("kij,nj->kni", e, a)
    eb = np.einsum("kji,nj->kni", e, b)
    num = np.einsum("ni,kni->kn", b, ea)
    out = focal * num / np.sqrt(ea[..., 0] ** 2 + ea[..., 1] ** 2 + eb[..., 0] ** 2 + eb[..., 1] ** 2 + 1e-18)
    return out if np.ndim(params) == 2 else out[0]


#: Cauchy scale (pixels) of the robust fit: matches much farther than this from their epipolar line barely count.
_ROBUST_PX = 0.5
_STEPS = np.array([1e-6, 1e-6, 1e-6, 1e-5, 1e-5])  # forward-difference steps of the Jacobian


def _robust_cost(r: np.ndarray) -> np.ndarray:
    return np.log1p((r / _ROBUST_PX) ** 2).sum(-1)


def _fit_sampson(x: np.ndarray, a: np.ndarray, b: np.ndarray, focal: float, iterations: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Damped Gauss-Newton with Cauchy weights on the Sampson distances (numpy only: a solver's per-call overhead
    would be most of the cost of a frame). Returns the parameters and their residuals."""
    damping = 1e-3
    r = _sampson_px(x, a, b, focal)
    cost = _robust_cost(r)
    for _ in range(iterations):
        rs = _sampson_px(x[None] + np.diag(_STEPS), a, b, focal)
        jac = (rs - r[None]) / _STEPS[:, None]  # (5, N)
        w = 1.0 / (1.0 + (r / _ROBUST_PX) ** 2)
        h = (jac * w) @ jac.T
        g = (jac * w) @ r
        for _ in range(4):  # Levenberg: damp harder until the step pays
            try:
                dx = -np.linalg.solve(h + damping * np.diag(np.diag(h) + 1e-12), g)
            except np.linalg.LinAlgError:
                dx = np.zeros(5)
            r_new = _sampson_px(x + dx, a, b, focal)
            c_new = _robust_cost(r_new)
            if c_new <= cost:
                x, r, damping = x + dx, r_new, max(damping / 10, 1e-7)
                break
            damping *= 10
        else:
            break
        improved, cost = cost - c_new, c_new
        if improved < 1e-6 * max(cost, 1e-12) and np.abs(dx[:3]).max() < 1e-8:
            break
    return x, r


def _angles(t: np.ndarray) -> tuple[float, float]:
    t = t / np.linalg.norm(t)
    return float(np.arccos(np.clip(t[2], -1, 1))), float(np.arctan2(t[1], t[0]))


def fit_motion(p_key: np.ndarray, p_cur: np.ndarray, k: np.ndarray, rot0: np.ndarray, t0: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotation and unit translation (``X_cur = R X_key + t``) from pixel matches, by robust Sampson least squares.

    Starts from the rotation ``rot0`` and the direction ``t0`` (else three axes); the sign of t is the one that puts
    the points in front of both cameras. Returns R, t and each match's Sampson distance in pixels.
    """
    kinv = np.linalg.inv(k)
    a = np.c_[p_key, np.ones(len(p_key))] @ kinv.T
    b = np.c_[p_cur, np.ones(len(p_cur))] @ kinv.T
    focal = float(np.sqrt(k[0, 0] * k[1, 1]))
    # Small steps leave the direction loosely tied: start from each axis as well as from last frame's direction.
    starts = [np.array(v, np.float64) for v in ((1, 0, 0), (0, 1, 0), (0, 0, 1))] + ([t0] if t0 is not None else [])
    rv0 = Rotation.from_matrix(rot0).as_rotvec()
    # The starts race on a spread subset of the matches; the winner is polished on all.
    sub = np.linspace(0, len(a) - 1, min(len(a), FIT_POINTS)).astype(int)
    # Only the two starts that fit best as they stand are polished (the fit is most of the cost of a frame).
    x0s = [np.r_[rv0, _angles(t)] for t in starts]
    x0s.sort(key=lambda x: float(_robust_cost(_sampson_px(x, a[sub], b[sub], focal))))
    raced = [_fit_sampson(x0, a[sub], b[sub], focal, 12) for x0 in x0s[:2]]
    x_best = min(raced, key=lambda xr: _robust_cost(xr[1]))[0]
    x_best, resid = _fit_sampson(x_best, a, b, focal, 6)
    rot = Rotation.from_rotvec(x_best[:3]).as_matrix()
    th, ph = x_best[3], x_best[4]
    t = np.array([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)])
    # t and -t fit the same epipolar lines: keep the one with the points in front (depth along the rays > 0).
    depth = _depths(a, b, rot, t)
    if np.median(depth) < 0:
        t = -t
    return rot, t, np.abs(resid)


def _depths(a: np.ndarray, b: np.ndarray, rot: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Depths (along a, in units of |t|) of the points seen on rays a (key) and b (current) for X_cur = R X_key + t."""
    ra = a @ rot.T
    # lambda_b b = lambda_a R a + t: least squares in (lambda_a, lambda_b) per match.
    m = np.stack([ra, -b], -1)  # (N, 3, 2)
    mtm = np.einsum("nij,nik->njk", m, m)
    mtb = np.einsum("nij,i->nj", m, -t)
    det = mtm[:, 0, 0] * mtm[:, 1, 1] - mtm[:, 0, 1] ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        lam_a = (mtm[:, 1, 1] * mtb[:, 0] - mtm[:, 0, 1] * mtb[:, 1]) / det
    return np.nan_to_num(lam_a)


def _floor_scale(p_key: np.ndarray, p_cur: np.ndarray, k: np.ndarray, rot: np.ndarray, t_unit: np.ndarray,
                 up_key: np.ndarray, height: float) -> float | None:
    """Metres per unit of ``t_unit``: the floor points' triangulated height against the known camera height."""
    p1 = k @ np.c_[np.eye(3), np.zeros(3)]
    p2 = k @ np.c_[rot, t_unit]
    x = cv2.triangulatePoints(p1, p2, p_key.T.astype(np.float64), p_cur.T.astype(np.float64))
    x = (x[:3] / x[3]).T
    x = x[np.isfinite(x).all(axis=1) & (x[:, 2] > 0)]
    h = -(x @ up_key)  # depth below the camera along the floor normal
    h = np.sort(h[h > 0])
    if len(h) < 12:
        return None
    # The floor is the most common depth below the camera: the densest window of +-6 % (the wall spans many).
    lo = np.searchsorted(h, h * 0.94)
    hi = np.searchsorted(h, h * 1.06)
    best = int((hi - lo).argmax())
    if hi[best] - lo[best] < max(8, 0.15 * len(h)):
        return None
    return float(height / np.median(h[lo[best]:hi[best]]))


class CameraMotionEstimator:
    """Streams frames (RGB uint8) with their person boxes; :meth:`result` gives the :class:`CameraMotion`."""

    def __init__(self, focal: Sequence[float], princpt: Sequence[float], *, mode: str = "auto",
                 floor: np.ndarray | None = None, seed: int = 0, path_sigma: float = PATH_SIGMA) -> None:
        """Pinhole ``focal`` (fx, fy) and ``princpt`` (pixels of the frames); ``floor`` (n, d) in the first camera."""
        if mode not in CAMERA_MODES:
            raise ValueError(f"unknown camera mode {mode!r}; choose one of {', '.join(CAMERA_MODES)}")
        f = np.asarray(focal, np.float64).reshape(-1)
        c = np.asarray(princpt, np.float64).reshape(-1)
        if f.shape != (2,) or c.shape != (2,) or not np.isfinite(np.r_[f, c]).all() or (f <= 0).any():
            raise ValueError(f"camera motion needs a positive finite focal (fx, fy) and princpt (cx, cy); got {f}, {c}")
        if floor is not None:
            floor = np.asarray(floor, np.float64).reshape(-1)
            if floor.shape != (4,) or not np.isfinite(floor).all() or floor[3] <= 0:
                raise ValueError(f"the floor must be a plane (n, d) below the camera (d > 0); got {floor}")
        self.mode = mode
        self.floor = floor
        self.path_sigma = float(path_sigma)
        self.focal, self.princpt = f, c
        self.rng = np.random.default_rng(seed)
        self._r0, self._t0 = start_pose(floor)
        # The ruler of the steps: the floor's normal (world) and the camera height; a level camera 1 high without one.
        self._up_world = self._r0 @ (floor[:3] / np.linalg.norm(floor[:3]) if floor is not None else np.array([0.0, -1.0, 0.0]))
        self._height = float(floor[3]) if floor is not None else 1.0
        self._rot: list[np.ndarray] = []
        self._pos: list[np.ndarray] = []
        self._textureless: list[bool] = []
        self._segments: list[int] = []
        self._scale = 1.0
        self._k: np.ndarray | None = None
        self._prev: np.ndarray | None = None
        self._key_pts = self._prev_pts = None
        self._key_pose = (self._r0, self._t0)
        self._max_motion = 0.0  # the farthest the background got from the first frame (working pixels, summed)
        self._passed_motion = 0.0  # the motion of the keyframes left behind

    def _working(self, image: np.ndarray) -> np.ndarray:
        """Grey working copy of a frame (shrunk to :data:`WORK_WIDTH`); sets the working intrinsics."""
        h, w = image.shape[:2]
        if self._k is None:
            self._scale = min(1.0, WORK_WIDTH / w)
            f, c = self.focal * self._scale, (self.princpt + 0.5) * self._scale - 0.5
            self._k = np.array([[f[0], 0, c[0]], [0, f[1], c[1]], [0, 0, 1.0]])
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        if self._scale < 1.0:
            grey = cv2.resize(grey, (round(w * self._scale), round(h * self._scale)), interpolation=cv2.INTER_AREA)
        return grey

    def _new_keyframe(self, grey: np.ndarray, mask: np.ndarray, pose: tuple[np.ndarray, np.ndarray]) -> None:
        pts = _corners(grey, mask)
        self._key_pts, self._prev_pts, self._key_pose, self._key_count = pts, pts.copy(), pose, len(pts)
        self._t_dir = None  # the direction of travel since the keyframe (a warm start for the next frame)
        self._last_scale: tuple[float, float] | None = None  # (metres per unit step, parallax px) last measured

    def update(self, image: np.ndarray, boxes: np.ndarray | None = None) -> None:
        """Add the next frame (H, W, 3 RGB or H, W grey uint8) and its person boxes (N, 4) xyxy in its pixels."""
        grey = self._working(image)
        mask = _box_mask(grey.shape, np.zeros((0, 4)) if boxes is None else boxes, self._scale)
        index = len(self._rot)
        if self._prev is None:
            self._segments.append(index)
            self._push(self._r0, self._t0, False)
            self._new_keyframe(grey, mask, (self._r0, self._t0))
            self._textureless[-1] = len(self._key_pts) < MIN_POINTS
            self._prev = grey
            return
        pose, textureless = self._track(grey, mask, index)
        self._push(*pose, textureless)
        self._prev = grey

    def _push(self, rot: np.ndarray, pos: np.ndarray, textureless: bool) -> None:
        self._rot.append(rot)
        self._pos.append(pos)
        self._textureless.append(textureless)

    def _track(self, grey: np.ndarray, mask: np.ndarray, index: int) -> tuple[tuple[np.ndarray, np.ndarray], bool]:
        """This frame's pose from the points followed since the keyframe; a new keyframe or segment when due."""
        last = (self._rot[-1], self._pos[-1])
        prev_pts, key_pts = self._prev_pts, self._key_pts
        if len(prev_pts) < MIN_POINTS:  # nothing to follow: try a fresh keyframe here
            self._new_keyframe(grey, mask, last)
            return last, True
        win = (21, 21)
        cur, st, _ = cv2.calcOpticalFlowPyrLK(self._prev, grey, prev_pts.reshape(-1, 1, 2), None, winSize=win, maxLevel=3)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(grey, self._prev, cur, None, winSize=win, maxLevel=3)
        cur, back = cur.reshape(-1, 2), back.reshape(-1, 2)
        ok = (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm(back - prev_pts, axis=1) < FB_ERROR_PX)
        h, w = grey.shape
        inside = (cur[:, 0] >= 0) & (cur[:, 1] >= 0) & (cur[:, 0] < w) & (cur[:, 1] < h)
        ok &= inside
        ok[inside] &= mask[cur[inside, 1].astype(int), cur[inside, 0].astype(int)] > 0  # walked behind a person
        followed = ok.mean() if len(ok) else 0.0
        if followed < CUT_FRACTION:
            if len(_corners(grey, mask)) >= MIN_POINTS:  # textured, yet nothing followed: another shot
                self._segments.append(index)
                self._new_keyframe(grey, mask, (self._r0, self._t0))
                return (self._r0, self._t0), False
            self._new_keyframe(grey, mask, last)
            return last, True
        key_pts, cur = key_pts[ok], cur[ok]
        self._prev_pts, self._key_pts = cur, key_pts
        if len(cur) < MIN_POINTS:
            self._new_keyframe(grey, mask, last)
            return last, True
        motion = float(np.median(np.linalg.norm(cur - key_pts, axis=1)))
        pose = self._relative_pose(key_pts, cur)
        self._max_motion = max(self._max_motion, (self._passed_motion + motion) / self._scale)
        if len(cur) < KEYFRAME_POINTS * self._key_count or motion > KEYFRAME_MOTION_PX:
            self._passed_motion += motion
            self._new_keyframe(grey, mask, pose)
        return pose, False

    def _relative_pose(self, key_pts: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World from the current camera, from the keyframe's pose and the matches keyframe -> current."""
        k = self._k
        p_key, p_cur = key_pts.astype(np.float64), cur.astype(np.float64)
        rot, err = fit_rotation(p_key, p_cur, k, self.rng)
        t_rel = np.zeros(3)
        parallax = float(np.median(err))
        if len(p_key) >= 12 and parallax > MIN_PARALLAX_PX:
            r_m, t_unit, err_m = fit_motion(p_key, p_cur, k, rot, self._t_dir)
            # A turn explains a tripod's points as well as a turn plus a step: take the step only when it pays.
            if parallax > MOTION_GAIN * np.median(err_m) + 0.02:
                rot, self._t_dir = r_m, t_unit
                good = err_m < 1.0
                up_key = self._key_pose[0].T @ self._up_world
                scale = _floor_scale(p_key[good], p_cur[good], k, r_m, t_unit, up_key, self._height)
                if scale is not None:
                    self._last_scale = (scale, parallax)
                elif self._last_scale is not None:  # no floor in view this time: the step grows with the parallax
                    scale = self._last_scale[0] * parallax / max(self._last_scale[1], 1e-6)
                if scale is not None:
                    t_rel = scale * t_unit
        r_key, t_key = self._key_pose
        # X_cur = R X_key + t  =>  world from current: R_key R^T, t_key - R_key R^T t.
        r_wc = r_key @ rot.T
        return r_wc, t_key - r_wc @ t_rel

    def result(self) -> CameraMotion:
        """The camera of every frame so far, with the static/moving decision and the one-line reports."""
        n = len(self._rot)
        messages = []
        rot = np.asarray(self._rot, np.float64).reshape(n, 3, 3)
        pos = np.asarray(self._pos, np.float64).reshape(n, 3)
        textureless = np.asarray(self._textureless, bool)
        segments = [(s, e) for s, e in zip(self._segments, self._segments[1:] + [n])]
        if n == 1:
            messages.append("camera motion: one frame, nothing to follow: a static camera")
        if textureless.any() and n > 1:
            idx = np.flatnonzero(textureless)
            messages.append(f"camera motion: {len(idx)} frame(s) too plain to follow (first {idx[0]}, last {idx[-1]}): "
                            "the camera is held still there")
        if len(segments) > 1:
            messages.append(f"camera motion: {len(segments) - 1} cut(s) between shots (at frame(s) "
                            f"{', '.join(str(s) for s, _ in segments[1:])}): {len(segments)} segments, each with its own world")
        moving = self.mode == "moving" or (self.mode == "auto" and n > 1 and self._max_motion > STATIC_PX
                                           and not textureless[1:].all())
        if self.mode == "auto":
            messages.append(f"camera motion: auto decided {'moving' if moving else 'static'} (the background moved "
                            f"at most {self._max_motion:.2f} px from the first frame; static below {STATIC_PX:g} px)")
        if not moving:
            rot = np.repeat(self._r0[None], n, 0)
            pos = np.repeat(self._t0[None], n, 0)
        elif self.path_sigma > 0:
            for s, e in segments:
                rot[s:e], pos[s:e] = smooth_path(rot[s:e], pos[s:e], self.path_sigma)
        for m in messages:
            log.info("%s", m)
        return CameraMotion(rot, pos, moving, self.floor is not None and moving, segments, textureless,
                            self._max_motion, messages)


def smooth_path(rotation: np.ndarray, translation: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """A camera path (F, 3, 3), (F, 3) smoothed in time by a Gaussian of ``sigma`` frames (rotations as quaternions)."""
    if len(rotation) < 3:
        return rotation.copy(), translation.copy()
    q = Rotation.from_matrix(rotation).as_quat()
    # One hemisphere: q and -q are the same turn, and averaging across the two would cancel.
    flips = np.cumprod(np.r_[1.0, np.where(np.einsum("ij,ij->i", q[1:], q[:-1]) < 0, -1.0, 1.0)])
    q = _odd_smooth(q * flips[:, None], sigma)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return Rotation.from_quat(q).as_matrix(), _odd_smooth(np.asarray(translation, np.float64), sigma)


def _odd_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 with the ends reflected through their end points: a path moving at the first
    frame keeps its first pose (a one-sided mean would pull it forward, and every pose is relative to it)."""
    pad = min(len(x) - 1, int(np.ceil(3 * sigma)))
    head = 2 * x[:1] - x[pad:0:-1]
    tail = 2 * x[-1:] - x[-2:-pad - 2:-1]
    return gaussian_filter(np.concatenate([head, x, tail]), sigma)[pad:pad + len(x)]


def estimate_camera_motion(frames: Iterable[np.ndarray], boxes: Iterable[np.ndarray | None], focal: Sequence[float],
                           princpt: Sequence[float], *, mode: str = "auto", floor: np.ndarray | None = None,
                           path_sigma: float = PATH_SIGMA) -> CameraMotion:
    """The camera of every frame (RGB uint8) with each frame's person boxes (N, 4) xyxy masked out."""
    est = CameraMotionEstimator(focal, princpt, mode=mode, floor=floor, path_sigma=path_sigma)
    for image, b in zip(frames, boxes):
        est.update(image, b)
    return est.result()


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (degrees) of the rotation between a (..., 3, 3) and b (..., 3, 3)."""
    cos = (np.trace(np.swapaxes(a, -1, -2) @ b, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0)))


__all__ = ["CAMERA_MODES", "CameraMotion", "CameraMotionEstimator", "estimate_camera_motion", "fit_motion",
           "fit_rotation", "rotation_angle_deg", "smooth_path", "start_pose"]
