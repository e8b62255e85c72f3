"""The world frame of a video (y up, the floor at y = 0, metres) and rigid moves of SMPL-X roots into it.

A camera pose is "world from camera": ``X_world = R X_cam + t`` with ``R`` (3, 3) and ``t`` (3,), the camera in
the OpenCV convention (x right, y down, z forward). A rigid move of a body is folded into its root alone:

    R_root' = R R_root,    J_pelvis + transl' = R (J_pelvis + transl) + t

where ``J_pelvis`` is the body's rest pelvis (it depends on the shape), because SMPL-X rotates the body about it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

import logging

from ..body import BodyModel
from ..geometry.rotations import axis_angle_to_rotmat_np, rotmat_to_axis_angle_np
from .camera_motion import CameraMotion
from .contacts import ANKLES, PELVIS, fit_floor, foot_points, up_hint
from .feet import MIN_FRAMES, body_joints, pin_feet, rest_joints
from .smoothing import parse_method, smooth
from .tracks import TrackSet, camera_at, segments_in_frames, split_at_segments

log = logging.getLogger(__name__)

#: World from camera of a level camera looking along the world's -z (a half turn about x: camera y down -> world y up).
LEVEL_CAMERA = np.diag([1.0, -1.0, -1.0])


def move_root(global_orient: np.ndarray, transl: np.ndarray, pelvis: np.ndarray, rotation: np.ndarray,
              translation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root orientation (..., 3) and transl (..., 3) after the rigid move ``X' = R X + t`` (R (..., 3, 3), t (..., 3)).

    ``pelvis`` (..., 3) is the rest pelvis of each body; every argument broadcasts against the others.
    """
    go = np.asarray(global_orient, np.float64)
    r = np.asarray(rotation, np.float64)
    root = axis_angle_to_rotmat_np(go, eps=0.0)
    new_go = rotmat_to_axis_angle_np(r @ root)
    p = np.asarray(pelvis, np.float64)
    moved = np.einsum("...ij,...j->...i", r, p + np.asarray(transl, np.float64)) + np.asarray(translation, np.float64)
    return new_go, moved - p


def invert_pose(rotation: np.ndarray, translation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inverse rigid move of ``X' = R X + t`` (arrays (..., 3, 3) and (..., 3)): ``X = R^T X' - R^T t``."""
    rt = np.swapaxes(np.asarray(rotation, np.float64), -1, -2)
    return rt, -np.einsum("...ij,...j->...i", rt, np.asarray(translation, np.float64))


def apply_pose(rotation: np.ndarray, translation: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (..., N, 3) moved by ``X' = R X + t`` (R (..., 3, 3), t (..., 3))."""
    r = np.asarray(rotation, np.float64)
    return np.einsum("...ij,...nj->...ni", r, np.asarray(points, np.float64)) + np.asarray(translation, np.float64)[..., None, :]


def floor_in_camera(rotation: np.ndarray, translation: np.ndarray, floor: np.ndarray | None = None) -> np.ndarray:
    """A world floor plane (n, d) (default y = 0) as a camera-frame plane, n . x + d = 0 with n pointing up (track
    files' form), for the camera ``X_world = R X_cam + t``."""
    plane = np.array([0.0, 1.0, 0.0, 0.0]) if floor is None else np.asarray(floor, np.float64)
    return np.concatenate([np.asarray(rotation, np.float64).T @ plane[:3],
                           [float(plane[:3] @ np.asarray(translation, np.float64) + plane[3])]])


def place_tracks(trackset: TrackSet, body: BodyModel, camera_frames: np.ndarray, rotation: np.ndarray,
                 translation: np.ndarray, moving: bool, segments: np.ndarray | None = None) -> TrackSet:
    """The track set with its camera path (source frames (F,), world-from-camera (F, 3, 3), (F, 3)) and every
    track's ``global_orient_world`` and ``transl_world``: each frame's root moved by that frame's camera.
    ``segments``: the path's (S, 2) [start, end) source-frame segments (cuts between shots); None: one."""
    ts = replace(trackset, camera_frames=np.asarray(camera_frames, np.int64),
                 camera_rotation=np.asarray(rotation, np.float64), camera_translation=np.asarray(translation, np.float64),
                 camera="moving" if moving else "static",
                 camera_segments=None if segments is None else np.asarray(segments, np.int64).reshape(-1, 2))
    tracks = []
    for t in ts.tracks:
        r, tr = camera_at(ts, t.frames)
        go, transl = move_root(t.global_orient, t.transl, rest_joints(body, t.betas)[0], r, tr)
        tracks.append(replace(t, global_orient_world=go.astype(np.float32), transl_world=transl.astype(np.float32)))
    return replace(ts, tracks=tracks)


def view_rotation(trackset: TrackSet) -> np.ndarray:
    """Camera from world of the camera whose view a world-frame export writes: the level camera at the origin
    (:data:`LEVEL_CAMERA`, its own inverse) for a world on the floor (y up), the identity for a world without a floor
    (the first camera's frame, OpenCV axes: ``floor`` None)."""
    return LEVEL_CAMERA.copy() if trackset.floor is not None else np.eye(3)


def world_view(trackset: TrackSet, body: BodyModel) -> TrackSet:
    """The world of a placed track set as the camera of :func:`view_rotation` at the world's origin sees it.

    Every track's camera-frame root becomes its world root turned by that rotation (kept in float64), and the floor
    follows. A writer's fixed camera-to-file rotation then puts the world into the file: for a world on the floor,
    glTF / BVH (``diag(1, -1, -1)``) get the world itself (y up), AMASS gets it turned z up; a world without a floor
    is written as its first camera's frame would be. The camera path and the world fields are dropped (the view is
    the world).
    """
    if trackset.camera_rotation is None or any(t.global_orient_world is None for t in trackset.tracks):
        raise ValueError(f"{trackset.source}: the track set has no world frame (no camera path or world fields)")
    view = view_rotation(trackset)
    tracks = []
    for t in trackset.tracks:
        go, transl = move_root(t.global_orient_world, t.transl_world, rest_joints(body, t.betas)[0], view,
                               np.zeros(3))
        tracks.append(replace(t, global_orient=go, transl=transl, global_orient_world=None, transl_world=None))
    floor = floor_in_camera(view.T, np.zeros(3)) if trackset.floor is not None else None
    return replace(trackset, tracks=tracks, floor=floor, camera_frames=None, camera_rotation=None,
                   camera_translation=None, camera_segments=None, camera="none")


def floor_under_moving_camera(trackset: TrackSet, body: BodyModel, camera_frames: np.ndarray, motion: CameraMotion,
                              rounds: int = 4) -> np.ndarray | None:
    """The floor (n, d) in the first camera's frame from the feet of every frame, seen by a camera that moved.

    ``motion`` is the camera path without a floor (world = first camera, steps in camera heights H). Each frame's
    lowest foot point goes to the first camera's frame as R X + H t; the floor through them has d = H, so H and
    the floor are found together, starting from the frames near the first pose. None when too few frames.
    """
    if motion.metric:
        raise ValueError("the camera path already stands on a floor")
    if sum(len(t) for t in trackset.tracks) < MIN_FRAMES:
        return None
    lows, moves, pelvis, ankles = [], [], [], []
    for t in trackset.tracks:
        r, tr = camera_at(replace(trackset, camera_frames=np.asarray(camera_frames, np.int64),
                                  camera_rotation=motion.rotation, camera_translation=motion.translation), t.frames)
        j = body_joints(body, t)
        j0 = np.einsum("tij,tkj->tki", r, j)  # turned into the first camera's axes (no step yet)
        pts = foot_points(j0)
        pelvis.append(j0[:, PELVIS])
        ankles.append(j0[:, list(ANKLES)])
        lows.append(pts)
        moves.append(tr)
    up = up_hint(np.concatenate(pelvis), np.concatenate(ankles))
    low = np.concatenate([p[np.arange(len(p)), np.argmin(p @ up, axis=1)] for p in lows])
    step = np.concatenate(moves)
    near = np.linalg.norm(step, axis=1) < 0.25  # within a quarter of the camera height of the first pose
    floor = fit_floor(low[near] if near.sum() >= MIN_FRAMES else low, up)
    for _ in range(rounds):
        floor = fit_floor(low + max(float(floor[3]), 1e-3) * step, floor[:3])
    log.info("floor under the moving camera: n=(%.3f, %.3f, %.3f), the first camera %.2f m above it", *floor)
    return floor


def camera_roots(trackset: TrackSet, body: BodyModel) -> TrackSet:
    """The track set with every camera-frame root made from its world root and the camera path, so that
    ``X_world = R X_cam + t`` holds for what is written (the world root and the path are the truth here)."""
    tracks = []
    for t in trackset.tracks:
        to_r, to_t = invert_pose(*camera_at(trackset, t.frames))
        go, transl = move_root(t.global_orient_world, t.transl_world, rest_joints(body, t.betas)[0], to_r, to_t)
        tracks.append(replace(t, global_orient=go.astype(np.float32), transl=transl.astype(np.float32)))
    return replace(trackset, tracks=tracks)


def split_at_cuts(trackset: TrackSet, segments: np.ndarray) -> TrackSet:
    """The track set with no track spanning two of the camera's segments ((S, 2) [start, end) source frames): a track
    crossing a cut goes on as a new track (a fresh id), which one line per cut reports."""
    out, splits = split_at_segments(trackset, segments)
    for cut in sorted({frame for _, _, frame in splits}):
        old = [str(a) for a, _, f in splits if f == cut]
        new = [str(b) for _, b, f in splits if f == cut]
        log.info("camera motion: cut at frame %d: track%s %s split into new track%s %s (each segment has its own "
                 "world)", cut, "s" if len(old) > 1 else "", ", ".join(old), "s" if len(new) > 1 else "", ", ".join(new))
    return out


def _segment_motion(motion: CameraMotion, start: int, end: int) -> CameraMotion:
    """The camera motion of frames [start, end) (indices into the path) alone, one segment."""
    return replace(motion, rotation=motion.rotation[start:end], translation=motion.translation[start:end],
                   segments=[(0, end - start)],
                   textureless=None if motion.textureless is None else motion.textureless[start:end])


def _segment_floors(trackset: TrackSet, body: BodyModel, frames: np.ndarray, motion: CameraMotion,
                    index_segments: list[tuple[int, int]], segments: np.ndarray) -> list[np.ndarray | None]:
    """The floor (n, d) under each segment's first camera, fitted to that segment's feet (tracks split at the cuts);
    a segment with too few feet of its own takes the floor fitted over all segments together. All None: no floor."""
    if len(index_segments) == 1:
        return [floor_under_moving_camera(trackset, body, frames, motion)]
    own = [floor_under_moving_camera(replace(trackset, tracks=[t for t in trackset.tracks if a <= t.frames[0] < b]),
                                     body, frames[s:e], _segment_motion(motion, s, e))
           for (s, e), (a, b) in zip(index_segments, segments)]
    if all(f is not None for f in own):
        return own
    # Too few feet in some shot. (No floor over all shots means too few frames anywhere: no shot has one either.)
    whole = floor_under_moving_camera(trackset, body, frames, motion)
    return [f if f is not None else whole for f in own]


def pin_in_world(placed: TrackSet, body: BodyModel) -> TrackSet:
    """A placed track set (world on the floor, y up) with the feet pinned in the world, where planted feet stand still,
    then seen again from each frame's camera; the floor is kept in the first camera's frame."""
    world = replace(placed, camera_frames=None, camera_rotation=None, camera_translation=None, camera="none",
                    camera_segments=None, floor=None,
                    tracks=[replace(t, global_orient=t.global_orient_world, transl=t.transl_world,
                                    global_orient_world=None, transl_world=None) for t in placed.tracks])
    # The floor is y = 0, fitted under the camera path to every frame's feet: not fitted again to the few contacts,
    # whose plane can tilt about a straight walk's line and lift a far walker by decimetres.
    floor = np.array([0.0, 1.0, 0.0, 0.0])
    pinned = pin_feet(world, body, up=floor[:3], floor=floor)
    tracks = [replace(cam_t, body_pose=w.body_pose, contacts=w.contacts, global_orient_world=w.global_orient,
                      transl_world=w.transl) for cam_t, w in zip(placed.tracks, pinned.tracks)]
    first_r, first_t = placed.camera_rotation[0], placed.camera_translation[0]
    return camera_roots(replace(placed, tracks=tracks, floor=floor_in_camera(first_r, first_t, pinned.floor),
                                feet=pinned.feet), body)


def place_moving_camera(trackset: TrackSet, body: BodyModel, camera_frames: np.ndarray, motion: CameraMotion,
                        pin: bool, smoothing: str = "none") -> TrackSet:
    """Tracks of a moving camera in the world: the floor found from the feet under the camera path, the path in
    metres on it, then (``smoothing``, a :mod:`.smoothing` filter) every world root smoothed as a trajectory of its
    own (the camera path as given: :mod:`.camera_motion` smooths its own), and with ``pin`` the feet pinned in the
    world (where planted feet stand still), last; the camera-frame roots are then those world roots seen from each
    frame's camera. Without a floor, the world is the first camera (steps in camera heights) and nothing is pinned.

    With ``smoothing``, give tracks built unsmoothed: a camera-frame root smoothed before it is placed would carry the
    camera's shake, blurred, into the world.
    """
    frames = np.asarray(camera_frames, np.int64)
    index_segments = motion.segments or [(0, len(frames))]
    segments = segments_in_frames(frames, index_segments)
    # A cut between shots starts a world of its own: no track, filter or pinned foot may cross it.
    trackset = split_at_cuts(trackset, segments)
    floors = _segment_floors(trackset, body, frames, motion, index_segments, segments)
    floor = floors[0]
    if floor is None:
        log.info("feet: too few frames to find the floor under the moving camera; the world is the first camera")
        placed = place_tracks(trackset, body, frames, motion.rotation, motion.translation, motion.moving, segments)
    else:
        # Each segment's world stands on its own floor (the estimator restarted its path at the cut).
        parts = [_segment_motion(motion, s, e).placed_on(f) for (s, e), f in zip(index_segments, floors)]
        motion = replace(motion, rotation=np.concatenate([p.rotation for p in parts]),
                         translation=np.concatenate([p.translation for p in parts]), metric=parts[0].metric)
        # The track file keeps the floor in the first camera's frame.
        placed = replace(place_tracks(trackset, body, frames, motion.rotation, motion.translation, motion.moving,
                                      segments), floor=floor)
    if parse_method(smoothing)[0] != "none":
        # The body's own pose is the same in any frame; its root is smoothed in the world, where it moves steadily. The
        # camera path keeps the estimator's own smoothing: a second filter would damp a real shake and, at the ends
        # of a moving path, pull the first pose forward (a Gaussian renormalised there is one-sided).
        smoothed = smooth(placed, smoothing, world=True)
        placed = camera_roots(replace(smoothed, camera_rotation=placed.camera_rotation,
                                      camera_translation=placed.camera_translation), body)
    return pin_in_world(placed, body) if pin and floor is not None else placed


__all__ = ["LEVEL_CAMERA", "apply_pose", "camera_roots", "floor_in_camera", "floor_under_moving_camera", "invert_pose",
           "move_root", "pin_in_world", "place_moving_camera", "place_tracks", "split_at_cuts", "view_rotation",
           "world_view"]
