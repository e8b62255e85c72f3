"""World-frame tracks seen again through their camera path: the check anyone can see that the world is right.

Each frame's bodies are posed in the world (``global_orient_world``, ``transl_world``, body pose, shape), moved into
that frame's camera with the track file's camera path (``X_cam = R^T (X_world - t)``) and projected with the scene
camera. Drawn over the input video (:func:`write_overlay`) they must sit on the people; as numbers
(:func:`reprojection_consistency`) they must land where the camera-frame bodies project: a camera path or world
fields that do not agree with the video show up as pixels off.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..body import SMPLX_VERTEX_JOINT_IDS, BodyModel
from ..errors import SmplestxError, UsageError
from ..geometry.cameras import project_points
from ..render import Renderer, draw_boxes, draw_keypoints, draw_segments, overlay_colors, track_color
from .contacts import foot_point_vertices
from .feet import body_joints
from .tracks import Track, TrackSet, camera_at
from .world_frame import apply_pose, invert_pose

log = logging.getLogger(__name__)

#: What an overlay draws: the world bodies seen through the camera path, or the camera-frame bodies as infer does.
FRAMES = ("world", "camera")


class ReprojectionError(SmplestxError, ValueError):
    """A track file and a video that do not go together (one line, names the file and the fix)."""


@dataclass
class OverlayReport:
    """What :func:`write_overlay` wrote: the file, its frames, the frames with bodies and the bodies drawn."""

    path: Path
    frames: int
    frames_with_bodies: int
    bodies: int
    consistency_frames: np.ndarray | None = None  # (N,) source frames, with --frame world
    consistency_px: np.ndarray | None = None  # (N,) reprojection_consistency's mean pixel distance per frame


def check_frame(trackset: TrackSet, frame: str, where: str | os.PathLike[str] | None = None) -> str:
    """``frame`` if the track set can be drawn in it; a one-line error naming ``where`` (default: the track set's
    source) for a world without a camera path."""
    if frame not in FRAMES:
        raise UsageError(f"unknown frame {frame!r}; choose one of {', '.join(FRAMES)}")
    if frame == "world" and (trackset.camera_rotation is None
                             or any(t.global_orient_world is None for t in trackset.tracks)):
        raise ReprojectionError(f"{where or trackset.source}: the track file has no world frame (no camera path or world "
                                "fields); make it with `smplestx infer --camera static|moving|auto`, or draw it with "
                                "--frame camera")
    return frame


def _root(track: Track, frame: str) -> tuple[np.ndarray, np.ndarray]:
    """The track's root orientation and translation (T, 3) each in the world or the camera frame."""
    if frame == "world":
        return track.global_orient_world, track.transl_world
    return track.global_orient, track.transl


def _to_camera(trackset: TrackSet, frames: np.ndarray, points: np.ndarray) -> np.ndarray:
    """World points (T, N, 3) of source ``frames`` (T,) in each frame's camera: ``X_cam = R^T (X_world - t)``."""
    r, t = camera_at(trackset, frames)
    return apply_pose(*invert_pose(r, t), points)


def track_joints_2d(trackset: TrackSet, body: BodyModel, frame: str = "world") -> dict[int, np.ndarray]:
    """Every track's first 66 joints in pixels (T, 66, 2): posed in the world and reprojected through the camera
    path (``frame="world"``) or posed in the camera frame (``"camera"``), projected with the scene camera."""
    check_frame(trackset, frame)
    out = {}
    for t in trackset.tracks:
        go, transl = _root(t, frame)
        joints = body_joints(body, replace(t, global_orient=go, transl=transl))
        if frame == "world":
            joints = _to_camera(trackset, t.frames, joints)
        out[t.track_id] = project_points(joints, trackset.focal, trackset.princpt)
    return out


def reprojection_consistency(trackset: TrackSet, body: BodyModel) -> tuple[np.ndarray, np.ndarray]:
    """Source frames (N,) and, per frame, the mean pixel distance (N,) between the world-reprojected and the
    camera-frame projected joints of every body in it: near 0 when the world fields and camera path agree with the
    camera-frame tracks."""
    world = track_joints_2d(trackset, body, "world")
    camera = track_joints_2d(trackset, body, "camera")
    sums: dict[int, list[float]] = {}
    for t in trackset.tracks:
        dist = np.linalg.norm(world[t.track_id] - camera[t.track_id], axis=-1).mean(axis=-1)
        for f, d in zip(t.frames.tolist(), dist.tolist()):
            sums.setdefault(int(f), []).append(d)
    frames = np.array(sorted(sums), np.int64)
    return frames, np.array([np.mean(sums[f]) for f in frames.tolist()], np.float64)


def _rows_by_frame(trackset: TrackSet) -> dict[int, list[tuple[int, int]]]:
    """Source frame -> (track index, row) of every body in it."""
    rows: dict[int, list[tuple[int, int]]] = {}
    for k, t in enumerate(trackset.tracks):
        for i, f in enumerate(t.frames.tolist()):
            rows.setdefault(int(f), []).append((k, i))
    return rows


def frame_bodies(trackset: TrackSet, body: BodyModel, rows: list[tuple[int, int]], source_frame: int,
                 frame: str = "world") -> np.ndarray:
    """Vertices (P, V, 3) in the camera of ``source_frame`` of the bodies at ``rows`` ((track index, row) pairs):
    posed in the world and moved into that camera, or posed in the camera frame."""
    if not rows:
        return np.zeros((0, 0, 3))
    tracks = [trackset.tracks[k] for k, _ in rows]
    idx = [i for _, i in rows]

    def stack(name: str) -> torch.Tensor:
        return torch.as_tensor(np.stack([np.asarray(getattr(t, name))[i] for t, i in zip(tracks, idx)]),
                               dtype=body.dtype, device=body.device)

    roots = [_root(t, frame) for t in tracks]
    go = torch.as_tensor(np.stack([r[0][i] for r, i in zip(roots, idx)]), dtype=body.dtype, device=body.device)
    transl = torch.as_tensor(np.stack([r[1][i] for r, i in zip(roots, idx)]), dtype=body.dtype, device=body.device)
    betas = torch.as_tensor(np.stack([np.asarray(t.betas) for t in tracks]), dtype=body.dtype, device=body.device)
    with torch.no_grad():
        verts = body(global_orient=go, body_pose=stack("body_pose"), left_hand_pose=stack("left_hand_pose"),
                     right_hand_pose=stack("right_hand_pose"), jaw_pose=stack("jaw_pose"),
                     expression=stack("expression"), transl=transl, betas=betas).vertices.double().cpu().numpy()
    if frame == "world":
        r, t = camera_at(trackset, np.array([source_frame]))
        verts = apply_pose(*invert_pose(r[0], t[0]), verts)
    return verts


#: The floor grid's line spacing and how far it reaches past the people's roots, metres; the length of the pieces its
#: lines are cut into, so that a line crossing the camera's plane loses only the pieces behind the camera.
GRID_SPACING, GRID_MARGIN, GRID_PIECE = 0.5, 2.0, 0.1
_GRID_NEAR = 0.1  # metres in front of the camera a piece must be to be drawn
_GRID_LINES, _GRID_PIECES = 80, 400
GRID_COLOR = (255, 255, 255)
#: Planted foot points (the track file's ``contacts``) are marked with a dot of this colour and radius (pixels).
CONTACT_COLOR, CONTACT_RADIUS = (255, 255, 0), 4
_FOOT_VERTICES = foot_point_vertices(list(SMPLX_VERTEX_JOINT_IDS.values()))


def planted_points(trackset: TrackSet, rows: list[tuple[int, int]], verts: np.ndarray) -> np.ndarray:
    """The foot points (N, 3) in contact among the bodies at ``rows`` with vertices ``verts`` (P, V, 3), from the
    track file's ``contacts`` (none without them)."""
    out = []
    for (k, i), v in zip(rows, verts):
        contacts = trackset.tracks[k].contacts
        if contacts is None:
            continue
        for point, on in zip(_FOOT_VERTICES, np.asarray(contacts)[i]):
            if on:
                out.append(v[point].mean(axis=0))
    return np.asarray(out, np.float64).reshape(-1, 3)


def floor_grid(trackset: TrackSet, spacing: float = GRID_SPACING, margin: float = GRID_MARGIN) -> np.ndarray:
    """Pieces (L, 2, 3) of a square grid on the world floor (y = 0) around every world root: drawn through the camera
    path, it must stay on the video's floor; where the path is wrong it slides over the floor."""
    if trackset.floor is None or trackset.camera_rotation is None:
        raise ReprojectionError(f"{trackset.source}: the track file's world has no floor (y = 0) to draw a grid on; "
                                "draw it without --floor-grid")
    roots = [np.asarray(t.transl_world, np.float64) for t in trackset.tracks if t.transl_world is not None and len(t)]
    roots.append(np.asarray(trackset.camera_translation, np.float64))
    xz = np.concatenate(roots)[:, [0, 2]]
    extent = float((xz.max(0) - xz.min(0)).max()) + 2 * margin
    # A long walk keeps the grid bounded (drawing cost): at most _GRID_LINES lines a side, _GRID_PIECES pieces a line.
    spacing *= max(1, int(np.ceil(extent / spacing / _GRID_LINES)))
    piece = max(GRID_PIECE, extent / _GRID_PIECES)
    lo = np.floor((xz.min(0) - margin) / spacing) * spacing
    hi = np.ceil((xz.max(0) + margin) / spacing) * spacing
    pieces = []
    for axis in (0, 1):  # lines of constant x, then of constant z
        other = 1 - axis
        for c in np.arange(lo[axis], hi[axis] + spacing / 2, spacing):
            ends = np.arange(lo[other], hi[other] + piece / 2, piece)
            p = np.zeros((len(ends), 3))
            p[:, 0 if axis == 0 else 2] = c
            p[:, 2 if axis == 0 else 0] = ends
            pieces.append(np.stack([p[:-1], p[1:]], 1))
    return np.concatenate(pieces)


def grid_in_frame(trackset: TrackSet, grid: np.ndarray, source_frame: int) -> np.ndarray:
    """The grid pieces (L, 2, 3) in pixels (K, 2, 2) as the camera of ``source_frame`` sees them (pieces behind or
    at the camera left out)."""
    r, t = camera_at(trackset, np.array([source_frame]))
    cam = apply_pose(*invert_pose(r[0], t[0]), grid.reshape(-1, 3)).reshape(-1, 2, 3)
    front = (cam[..., 2] > _GRID_NEAR).all(axis=1)
    return project_points(cam[front], trackset.focal, trackset.princpt)


def _last_frame(trackset: TrackSet) -> int:
    """The last source frame the track file names (tracks or camera path); -1 for an empty file."""
    last = [int(t.frames[-1]) for t in trackset.tracks if len(t)]
    if trackset.camera_frames is not None and len(trackset.camera_frames):
        last.append(int(trackset.camera_frames[-1]))
    return max(last, default=-1)


def _stride(trackset: TrackSet) -> int:
    """The frame step the track file was made with (1 without a camera path: every frame may hold people)."""
    cf = trackset.camera_frames
    return int(np.diff(cf).min()) if cf is not None and len(cf) > 1 else 1


def check_video(trackset: TrackSet, video: str | os.PathLike[str], width: int, height: int,
                frame_count: int | None, where: str | os.PathLike[str] | None = None) -> None:
    """One-line errors when a video cannot be the one a track file was made from: another size, or fewer frames
    than the file names, or (with a camera path) frames running on past its last one."""
    where = where or trackset.source
    size = [int(v) for v in np.asarray(trackset.image_size).tolist()]
    if [width, height] != size:
        raise ReprojectionError(f"{video}: frames are {width}x{height} but the track file {where} was made "
                                f"from {size[0]}x{size[1]} frames; pass the video the track file was made from")
    if frame_count is None:
        return
    last = _last_frame(trackset)
    if frame_count <= last:
        raise ReprojectionError(f"{video}: {frame_count} frames, but the track file {where} has frame "
                                f"{last}; pass the video the track file was made from")
    if trackset.camera_frames is not None and frame_count - 1 - last >= _stride(trackset):
        raise ReprojectionError(f"{video}: {frame_count} frames, but the track file {where}'s camera path "
                                f"ends at frame {last}; pass the video the track file was made from (cut to its "
                                "frames if infer ran with --start/--end)")


def overlay_frames(trackset: TrackSet, body: BodyModel, images: Iterator[tuple[int, np.ndarray]],
                   frame: str = "world", renderer: Renderer | None = None,
                   grid: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, int]]:
    """(index, RGB image) pairs in, each image with its bodies drawn and the number of bodies out, one at a time
    (constant memory): track colours and ``#id`` labels as infer's overlays; under the bodies the world ``grid``
    (:func:`floor_grid`) when given."""
    check_frame(trackset, frame)
    renderer = renderer or Renderer(body.faces_np)
    has_camera = set(trackset.camera_frames.tolist()) if trackset.camera_frames is not None else set()
    rows = _rows_by_frame(trackset)
    focal, princpt = np.asarray(trackset.focal, np.float64), np.asarray(trackset.princpt, np.float64)
    for index, image in images:
        if grid is not None and int(index) in has_camera:
            image = draw_segments(image, grid_in_frame(trackset, grid, int(index)), color=GRID_COLOR)
        here = rows.get(int(index), [])
        if frame == "world" and here and int(index) not in has_camera:
            here = []  # no camera for this frame (camera_at would refuse; the file's checks make this rare)
        if not here:
            yield image, 0
            continue
        verts = frame_bodies(trackset, body, here, int(index), frame)
        ids = [trackset.tracks[k].track_id for k, _ in here]
        canvas = renderer.render(image, list(verts), [focal] * len(ids), [princpt] * len(ids),
                                 colors=overlay_colors(ids))
        planted = planted_points(trackset, here, verts)
        planted = planted[planted[:, 2] > 0]
        if len(planted):  # where the feet are planted (issue 24): the same points the viewer marks
            canvas = draw_keypoints(canvas, project_points(planted, focal, princpt), radius=CONTACT_RADIUS,
                                    color=CONTACT_COLOR)
        uv = project_points(verts, focal, princpt)
        ok = verts[..., 2] > 0
        boxes = np.stack([np.concatenate([u[m].min(0), u[m].max(0)]) if m.any() else np.full(4, np.nan)
                          for u, m in zip(uv, ok)])
        shown = np.isfinite(boxes).all(axis=1)
        if shown.any():
            canvas = draw_boxes(canvas, boxes[shown], [f"#{i}" for i, s in zip(ids, shown) if s],
                                colors=[track_color(i) for i, s in zip(ids, shown) if s], labels_only=True)
        yield canvas, len(ids)


def write_overlay(trackset: TrackSet, body: BodyModel, video: str | os.PathLike[str],
                  output: str | os.PathLike[str], frame: str = "world",
                  where: str | os.PathLike[str] | None = None, floor_grid_lines: bool = False) -> OverlayReport:
    """Draw a track file's bodies (world ones reprojected through the camera path, or camera-frame ones) over the
    video it was made from, frame by frame, into ``output`` (written atomically; nothing there on an error); with
    ``floor_grid_lines`` the world floor's grid under them."""
    from ..io.video import VideoSource, VideoWriter

    check_frame(trackset, frame, where)
    grid = floor_grid(replace(trackset, source=str(where or trackset.source))) if floor_grid_lines else None
    output = Path(output)
    if output.resolve() == Path(video).resolve():
        raise UsageError(f"{output}: the output would replace the input video; choose another --output")
    with VideoSource(video) as src:
        check_video(trackset, video, src.width, src.height, src.frame_count, where)
        seen, with_bodies, bodies = 0, 0, 0
        with VideoWriter(output, src.fps, src.width, src.height) as writer:
            for canvas, n in overlay_frames(trackset, body, ((f.index, f.image) for f in src), frame,
                                                grid=grid):
                writer.write(canvas)
                seen += 1
                with_bodies += n > 0
                bodies += n
            # The container's frame count is an estimate for some files: the decoded count decides.
            check_video(trackset, video, src.width, src.height, seen, where)
    log.info("%s: %d frames, %d with bodies (%s frame)", output, seen, with_bodies, frame)
    return OverlayReport(output, seen, with_bodies, bodies)


def overlay_track_file(tracks: str | os.PathLike[str], video: str | os.PathLike[str],
                       output: str | os.PathLike[str], body_models: str | os.PathLike[str],
                       frame: str = "world", floor_grid_lines: bool = False) -> OverlayReport:
    """`smplestx overlay`: a track file's bodies over its video into ``output``; with ``frame="world"`` also the
    world-vs-camera consistency of every frame (:func:`reprojection_consistency`)."""
    from .tracks import load_tracks

    if not Path(video).is_file():
        raise ReprojectionError(f"{video}: no such video; pass the video the track file was made from")
    ts = load_tracks(tracks)
    check_frame(ts, frame, tracks)
    gender = ts.gender or "neutral"
    report = write_overlay(ts, BodyModel.from_dir(body_models, gender, dtype=torch.float32), video, output, frame,
                           tracks, floor_grid_lines)
    if frame == "world":
        report.consistency_frames, report.consistency_px = reprojection_consistency(
            ts, BodyModel.from_dir(body_models, gender, dtype=torch.float64))
    return report
