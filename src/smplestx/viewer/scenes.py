"""What the viewer shows of one file: frames, people, one pinhole camera, and each frame's meshes on request.

The files, told apart by their content (Meshcapade's by their names):

- a results file of ``smplestx infer`` (``.npz`` / ``.json``): drawn in the file's **scene camera**
  (``scene_focal`` / ``scene_princpt``, people at ``transl_scene``), as the overlays are; files written before
  the scene camera existed fall back to the people's own cameras mapped into the first person's;
- a track file (``NAME.tracks.npz``): its camera (the scene camera) and its translations;
- animations of ``smplestx export`` and of other tools: an AMASS SMPL-X ``.npz``, a Meshcapade ``.smpl`` / ``.mcs``
  (read as tracks in the camera frame by :func:`smplestx.export.readers.read_motion_file`) and our skinned
  ``.glb`` (its keys through the SMPL-X layer); none but ``.mcs`` holds a camera, so export's nominal one is used.

Meshes are the saved ones when a results file holds ``vertices_scene``, otherwise posed from the parameters with
the package's body model, a batch of frames at a time, the most recent frames kept up to a memory budget (a long
video is never posed whole).
"""

from __future__ import annotations

import logging
import re
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..body import SMPLX_VERTEX_JOINT_IDS, BodyModel
from ..body.model_files import BodyModelFileError
from ..errors import SmplestxError
from ..io.results import load_results
from ..motion.contacts import foot_point_vertices
from ..motion.tracks import TrackSet, load_tracks
from ..render import overlay_colors

log = logging.getLogger(__name__)

#: SMPL-X parameters posed by the body model, with their per-person shapes.
PARAMS: dict[str, tuple[int, ...]] = {
    "global_orient": (3,), "body_pose": (21, 3), "left_hand_pose": (15, 3), "right_hand_pose": (15, 3),
    "jaw_pose": (3,), "betas": (10,), "expression": (10,), "transl": (3,),
}
#: People posed in one body-model call.
BATCH_PEOPLE = 32
#: Frames looked ahead when posing a batch (playback asks for the next ones).
BATCH_FRAMES = 16
#: Posed vertices kept for frames already served (bytes); older frames are posed again when asked for.
CACHE_BYTES = 256 << 20
#: People of a motion file nearer to its nominal camera than this (metres, median) are moved in front of it.
MIN_DEPTH = 1.5
#: Frame rate of a results file that records none (single images).
DEFAULT_FPS = 10.0


#: What the viewer opens, for messages.
NOT_VIEWABLE = ("not a file smplestx can show (a results .npz/.json of infer, a .tracks.npz, an .amass.npz / .glb / "
                ".bvh animation of export, or a Meshcapade .smpl / .mcs; for an .fbx, view the .glb that export "
                "writes beside it: reading FBX needs Blender)")


class ViewerError(SmplestxError, OSError):
    """A file, body model or port the viewer cannot use; the message says what to do."""


@dataclass
class ViewFrame:
    """One frame of the timeline: its number, time, and its people as rows of the scene's person table."""

    index: int
    time_s: float
    rows: np.ndarray  # (P,) int64 rows of the person table
    track_ids: list[int]
    joints_2d: list[np.ndarray] | None = None  # per person (137, 2) px; None when the file has none
    contacts: list[list[bool]] | None = None  # per person, the 4 foot points on the floor (track files with contacts)


@dataclass
class Scene:
    """One file as the page shows it: camera, timeline, people's colours, and vertices per frame (OpenCV frame, m)."""

    file: Path
    kind: str  # "results", "tracks", "amass" or "glb"
    image_size: tuple[int, int]
    focal: np.ndarray  # (2,) px
    princpt: np.ndarray  # (2,) px
    fps: float
    frames: list[ViewFrame]
    depth: float  # metres: where the image plane sits, behind everyone
    num_vertices: int
    rows_vertices: Callable[[np.ndarray], np.ndarray]  # person rows -> (n, V, 3) float32 in this camera
    source: Path | None = None
    camera_note: str = ""
    _cache: OrderedDict[int, np.ndarray] = field(default_factory=OrderedDict, repr=False)
    _cached_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def colors(self, k: int) -> list[tuple[int, int, int]]:
        """Frame k's people's colours (RGB 0..255), those of the overlays (``smplestx.render.overlay_colors``)."""
        return overlay_colors(self.frames[k].track_ids)

    def vertices(self, k: int) -> np.ndarray:
        """Frame k's people, (P, V, 3) float32 in the scene's camera frame."""
        with self._lock:
            if k in self._cache:
                self._cache.move_to_end(k)
                return self._cache[k]
            # Pose this frame and the next few together: one batched body-model call serves playback.
            todo, people = [k], len(self.frames[k].rows)
            for j in range(k + 1, min(k + BATCH_FRAMES, len(self.frames))):
                n = len(self.frames[j].rows)
                if j in self._cache or people + n > BATCH_PEOPLE:
                    break
                todo.append(j)
                people += n
            rows = np.concatenate([self.frames[j].rows for j in todo])
            verts = self.rows_vertices(rows) if len(rows) else np.zeros((0, self.num_vertices, 3), np.float32)
            start = 0
            for j in todo:
                n = len(self.frames[j].rows)
                self._cache[j] = verts[start:start + n]
                self._cached_bytes += self._cache[j].nbytes
                start += n
            out = self._cache[k]
            while self._cached_bytes > CACHE_BYTES and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cached_bytes -= old.nbytes
            return out

    def meta(self) -> dict:
        """Everything the page needs before the first frame."""
        frames = []
        for k, fr in enumerate(self.frames):
            people = []
            for i, (tid, color) in enumerate(zip(fr.track_ids, self.colors(k))):
                people.append({"track_id": tid, "color": list(color)})
                if fr.contacts is not None:
                    people[-1]["contacts"] = fr.contacts[i]
            frames.append({"index": fr.index, "time_s": round(fr.time_s, 4), "people": people})
        extra = {}
        if any(f.contacts is not None for f in self.frames):
            # Each foot point is the mean of these mesh vertices; the page marks the planted ones.
            extra["foot_vertices"] = foot_point_vertices(list(SMPLX_VERTEX_JOINT_IDS.values()))
        return {**extra, "file": self.file.name, "kind": self.kind, "image_size": list(self.image_size),
                "focal": [float(x) for x in self.focal], "princpt": [float(x) for x in self.princpt],
                "image_depth": self.depth, "fps": self.fps, "num_vertices": self.num_vertices, "frames": frames,
                "has_images": self.source is not None, "has_keypoints": any(f.joints_2d is not None for f in self.frames),
                "camera": self.camera_note}

    def keypoints(self, k: int) -> list[list[list[float]]]:
        """Frame k's people's 2D joints (px, 0.1 px), served per frame: a long video's would not fit in the page."""
        joints = self.frames[k].joints_2d or []
        return [np.round(j.astype(np.float64), 1).tolist() for j in joints]


# ------------------------------------------------------------------------------------------------ body models


class Bodies:
    """The SMPL-X layers of one body-model folder, built on first use per (gender, hand convention)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._layers: dict[tuple[str, bool], BodyModel] = {}
        self._lock = threading.Lock()

    def layer(self, gender: str = "neutral", flat_hand_mean: bool = False) -> BodyModel:
        """The layer for ``gender`` (neutral when that gender's file is absent, with a warning)."""
        key = (gender, flat_hand_mean)
        with self._lock:
            if key not in self._layers:
                try:
                    body = BodyModel.from_dir(self.folder, gender, flat_hand_mean=flat_hand_mean)
                except (BodyModelFileError, FileNotFoundError):
                    if gender == "neutral":
                        raise
                    log.warning("no %s SMPL-X model in %s: showing the neutral body", gender, self.folder)
                    body = BodyModel.from_dir(self.folder, "neutral", flat_hand_mean=flat_hand_mean)
                self._layers[key] = body.eval()
            return self._layers[key]


def _poser(body: Callable[[], BodyModel], params: dict[str, np.ndarray],
           after: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """rows -> (n, V, 3) float32: the rows' parameters through the body model (``after(rows, verts)`` post-maps)."""

    def pose(rows: np.ndarray) -> np.ndarray:
        layer = body()
        given = {k: torch.from_numpy(np.ascontiguousarray(v[rows], np.float32)) for k, v in params.items()}
        with torch.inference_mode():
            verts = layer(**given).vertices.numpy().astype(np.float32)
        return verts if after is None else after(rows, verts)

    return pose


def _image_depth(z: np.ndarray) -> float:
    """The image plane's depth: behind (nearly) everyone, from the people's depths (m)."""
    z = z[np.isfinite(z) & (z > 0)]
    return float(np.percentile(z, 99) * 1.3 + 0.5) if len(z) else 5.0


def _map_to_camera(v: np.ndarray, f: np.ndarray, c: np.ndarray, focal: np.ndarray, princpt: np.ndarray) -> np.ndarray:
    """Points of people seen by cameras (f, c) moved into one camera (focal, princpt), their projections kept.

    Only for results written before the scene camera: depth scales with the focal ratio (a person keeps its
    image size), x and y follow from the projection.
    """
    v = v.astype(np.float64)
    f, c = f[:, None, :].astype(np.float64), c[:, None, :].astype(np.float64)
    z = np.maximum(v[..., 2:3], 1e-6)
    uv = f * v[..., :2] / z + c
    z_new = z * (focal.mean() / f.mean(axis=-1, keepdims=True))
    return np.concatenate([(uv - princpt) * z_new / focal, z_new], axis=-1).astype(np.float32)


# ------------------------------------------------------------------------------------------------ file kinds


def file_kind(path: Path) -> str | None:
    """"results", "tracks", "amass", "glb", "smpl", "mcs" or None, from the content (an .npz's entries; a header)."""
    if path.suffix.lower() == ".glb":
        return _glb_kind(path)
    if path.suffix.lower() in (".smpl", ".mcs"):
        return path.suffix.lower()[1:]
    if path.suffix.lower() == ".bvh":
        with open(path, "rb") as f:
            return "bvh" if f.read(9) == b"HIERARCHY" else None
    if path.suffix.lower() == ".json":
        with open(path, "rb") as f:
            head = f.read(4096)
        return "results" if b'"smplestx.results"' in head else None
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError):
        return None
    if "meta_json.npy" in names:
        return "results"
    if "format.npy" in names and "track_ids.npy" in names:
        return "tracks"
    if "trans.npy" in names and ("poses.npy" in names or "root_orient.npy" in names):  # as export.readers
        return "amass"
    return None


def _glb_kind(path: Path) -> str | None:
    """"glb" for a binary glTF written by ``smplestx export`` (its JSON chunk names smplestx), else None."""
    with open(path, "rb") as f:
        head = f.read(20)
        if len(head) < 20 or head[:4] != b"glTF":
            return None
        size = int.from_bytes(head[12:16], "little")
        chunk = f.read(min(size, 1 << 20))  # the JSON chunk; ours are a few kB
    return "glb" if b'"smplestx"' in chunk else None


def open_scene(path: Path, bodies: Bodies) -> Scene:
    """The scene of a results, track or AMASS file (a :class:`ViewerError` for anything else)."""
    kind = file_kind(path)
    if kind == "results":
        return _results_scene(path, bodies)
    if kind == "tracks":
        return _tracks_scene(path, bodies)
    if kind in ("amass", "smpl", "mcs"):
        return _motion_scene(path, bodies, kind)
    if kind == "glb":
        return _glb_scene(path, bodies)
    if kind == "bvh":
        return _bvh_scene(path, bodies)
    raise ViewerError(f"{path}: {NOT_VIEWABLE}")


def _source(src: str | None, file: Path) -> Path | None:
    """The media a file was made from, where it still is (as recorded, next to the file, or one folder up)."""
    if not src:
        return None
    for cand in (Path(src), file.parent / Path(src).name, file.parent.parent / Path(src).name):
        if cand.is_file():
            return cand
    log.info("%s: its source %s is not here; showing the meshes without the images", file.name, src)
    return None


def _results_scene(path: Path, bodies: Bodies) -> Scene:
    res = load_results(path)
    a = res.arrays
    w, h = res.image_size
    scene = res.scene_focal is not None
    frames = [ViewFrame(fr.index, float(fr.time_s), np.arange(first, first + n, dtype=np.int64),
                        [p.track_id for p in fr.people], [p.joints_2d for p in fr.people])
              for fr, first, n in zip(res.frames, a["frame_first_person"].tolist(), a["frame_num_people"].tolist())]
    params = {k: a[k] for k in PARAMS}
    if scene:
        focal, princpt = res.scene_focal.astype(np.float64), res.scene_princpt.astype(np.float64)
        joints_z = a["joints_3d_scene"][..., 2]
        params["transl"] = a["transl_scene"]
        saved = a.get("vertices_scene")
        after = None
        note = "the scene camera of the results"
    else:
        # Written before the scene camera: every person mapped into the first person's camera.
        focal = a["focal"][0].astype(np.float64) if len(a["focal"]) else np.array([5000.0, 5000.0])
        princpt = np.array([w / 2.0, h / 2.0])

        def after(rows: np.ndarray, v: np.ndarray) -> np.ndarray:
            return _map_to_camera(v, a["focal"][rows], a["princpt"][rows], focal, princpt)

        joints_z = after(np.arange(len(a["joints_3d"])), a["joints_3d"])[..., 2] if len(a["joints_3d"]) else np.ones(1)
        saved = a.get("vertices")
        note = "the first person's camera (results written before the scene camera)"
    if saved is not None:

        def rows_vertices(rows: np.ndarray) -> np.ndarray:
            return np.asarray(saved[rows] if after is None else after(rows, saved[rows]), np.float32)

        num_vertices = int(saved.shape[1])
    else:
        rows_vertices = _poser(bodies.layer, params, after)
        num_vertices = bodies.layer().num_vertices
    return Scene(path, "results", (w, h), focal, princpt, float(res.meta.get("fps") or DEFAULT_FPS), frames,
                 _image_depth(joints_z.ravel()), num_vertices, rows_vertices, _source(res.meta.get("source"), path),
                 note)


def _tracks_scene(path: Path, bodies: Bodies) -> Scene:
    ts = load_tracks(path)
    return _trackset_scene(path, ts, bodies, "tracks", _source(ts.source, path), "the camera of the track file")


def _motion_scene(path: Path, bodies: Bodies, kind: str) -> Scene:
    """An AMASS ``.npz``, Meshcapade ``.smpl`` or ``.mcs``, read as tracks in the camera frame by export's reader."""
    from ..export.readers import read_motion_file

    ts = read_motion_file(path, bodies.folder)
    m = re.search(r"_track(\d+)\.", path.name)
    if m and len(ts.tracks) == 1:  # a track of `smplestx export`: its id, hence the overlays' colour
        ts.tracks[0].track_id = int(m.group(1))
    note = "the scene's camera" if kind == "mcs" else f"a nominal camera (an {kind} file holds none)"
    transl = np.concatenate([t.transl for t in ts.tracks]) if ts.tracks else np.zeros((0, 3))
    if len(transl) and np.median(transl[:, 2]) < MIN_DEPTH:
        # Another tool's world origin sits at the people (the nominal camera would be inside them): move them
        # in front of it, where a 2 m body fills most of the picture's height.
        centre = np.median(transl, axis=0)
        depth = float(ts.focal[1]) * 2.0 / (0.8 * float(ts.image_size[1]))
        for t in ts.tracks:
            t.transl = (t.transl - centre + [0.0, 0.0, depth]).astype(np.float32)
        note += f"; the people moved {depth:.1f} m in front of it"
    return _trackset_scene(path, ts, bodies, kind, None, note)


def _trackset_scene(path: Path, ts: TrackSet, bodies: Bodies, kind: str, source: Path | None, note: str) -> Scene:
    """Tracks as a scene: the timeline is every frame any track has; one row per track and frame."""
    fps = float(ts.fps)
    rows_of: dict[int, list[tuple[int, int]]] = {}
    start = 0
    for t in ts.tracks:
        for i, fr in enumerate(t.frames.tolist()):
            rows_of.setdefault(fr, []).append((start + i, t.track_id))
        start += len(t)
    frames = [ViewFrame(fr, fr / fps, np.array([r for r, _ in rows_of[fr]], np.int64), [tid for _, tid in rows_of[fr]])
              for fr in sorted(rows_of)]
    if ts.tracks and all(t.contacts is not None for t in ts.tracks):
        planted = np.concatenate([np.asarray(t.contacts, bool) for t in ts.tracks])
        for f in frames:
            f.contacts = planted[f.rows].tolist()
    params = {k: np.zeros((0, *shape), np.float32) for k, shape in PARAMS.items()}
    if ts.tracks:
        params = {k: np.concatenate([getattr(t, k) for t in ts.tracks]) for k in PARAMS if k != "betas"}
        params["betas"] = np.concatenate([np.repeat(t.betas[None], len(t), 0) for t in ts.tracks])
    gender = _gender(ts.gender or "neutral")
    return Scene(path, kind, (int(ts.image_size[0]), int(ts.image_size[1])), ts.focal.astype(np.float64),
                 ts.princpt.astype(np.float64), fps, frames, _image_depth(params["transl"][:, 2]),
                 bodies.layer(gender).num_vertices, _poser(lambda: bodies.layer(gender), params), source, note)


def _glb_scene(path: Path, bodies: Bodies) -> Scene:
    """A skinned .glb of ``smplestx export``: its keys through the SMPL-X layer, in a nominal camera (it holds none)."""
    from ..export.gltf import read_gltf_animation
    from ..export.meshcapade import nominal_camera
    from ..io.meshes import CAMERA_TO_GLTF
    from ..geometry.rotations import quaternion_to_axis_angle

    try:
        anim = read_gltf_animation(path)
        betas = np.asarray(anim.extras["betas"], np.float64).reshape(-1)
        track_id = int(anim.extras.get("track_id", -1))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ViewerError(f"{path}: not a readable animation of smplestx export ({exc})") from None
    t = len(anim.frames)
    if not (np.isfinite(anim.rotations).all() and np.isfinite(anim.root_position).all() and anim.fps > 0):
        raise ViewerError(f"{path}: the animation holds non-finite values or a frame rate that is not positive")
    # Local rotations (the hand mean included, the root's in the glTF world) as axis-angle for a flat-hand layer.
    wxyz = torch.from_numpy(anim.rotations[..., [3, 0, 1, 2]])
    aa = quaternion_to_axis_angle(wxyz / wxyz.norm(dim=-1, keepdim=True)).numpy()  # (T, 55, 3)
    params = {"global_orient": aa[:, 0], "body_pose": aa[:, 1:22], "jaw_pose": aa[:, 22],
              "left_hand_pose": aa[:, 25:40], "right_hand_pose": aa[:, 40:55], "betas": np.zeros((t, 10))}
    params["betas"][:, :min(10, len(betas))] = betas[:10]
    if anim.expression is not None:
        params["expression"] = np.zeros((t, 10))
        params["expression"][:, :min(10, anim.expression.shape[1])] = anim.expression[:, :10]
    gender = _gender(str(anim.extras.get("gender") or "neutral"))
    layer = lambda: bodies.layer(gender, flat_hand_mean=True)  # noqa: E731 - exported hands include the mean
    to_camera = CAMERA_TO_GLTF.astype(np.float32)  # its own inverse
    root = anim.root_position

    def place(rows: np.ndarray, v: np.ndarray) -> np.ndarray:
        # The layer turns the body about its rest pelvis; the file's root key is where that pelvis goes.
        given = {k: torch.from_numpy(np.ascontiguousarray(params[k][rows], np.float32))
                 for k in ("betas", "expression") if k in params}
        with torch.inference_mode():
            pelvis = layer()(**given).joints[:, 0].numpy()
        return (v + (root[rows] - pelvis)[:, None, :].astype(np.float32)) @ to_camera

    focal, princpt, size = nominal_camera()
    frames = [ViewFrame(int(f), int(f) / anim.fps, np.array([k], np.int64), [track_id])
              for k, f in enumerate(anim.frames)]
    return Scene(path, "glb", (int(size[0]), int(size[1])), focal.astype(np.float64), princpt.astype(np.float64),
                 anim.fps, frames, _image_depth((root @ CAMERA_TO_GLTF)[:, 2]), layer().num_vertices,
                 _poser(layer, params, place), None, "a nominal camera (a glb file holds none)")


def _bvh_rest_betas(layer: BodyModel, offsets: np.ndarray, use: np.ndarray) -> np.ndarray:
    """The shape (10,) whose rest skeleton has these bone offsets (55, 3; metres, the layer's own y-up frame).

    Rest joints are linear in the shape coefficients, so ten unit shapes give the map and least squares inverts it;
    ``use`` leaves out the joints the expression moves (the file keeps no expression).
    """
    eye = torch.cat((torch.zeros(1, 10), torch.eye(10))).to(layer.dtype)
    with torch.inference_mode():
        rest = layer(betas=eye).joints[:, :55].double().numpy()  # zero pose: the rest joints
    parents = layer.parents.numpy()
    bones = rest[:, 1:] - rest[:, parents[1:]]  # (11, 54, 3): each joint from its parent
    base, basis = bones[0][use[1:]].reshape(-1), (bones[1:] - bones[0])[:, use[1:]].reshape(10, -1)
    betas, *_ = np.linalg.lstsq(basis.T, offsets[1:][use[1:]].reshape(-1) - base, rcond=None)
    return betas


def _bvh_scene(path: Path, bodies: Bodies) -> Scene:
    """A BVH of ``smplestx export``: rotations and root path through the SMPL-X layer, the shape solved from its
    bone offsets, in a nominal camera (a BVH holds none); the expression is not in the file and stays zero."""
    from ..export.bvh import BVH_UNITS_PER_METRE, read_bvh
    from ..export.meshcapade import nominal_camera
    from ..export.skeleton import JOINT_NAMES
    from ..io.meshes import CAMERA_TO_GLTF
    from ..geometry.rotations import euler_zxy_to_rotmat, rotmat_to_axis_angle

    try:
        bvh = read_bvh(path)
    except (ValueError, OSError, IndexError, UnicodeDecodeError) as exc:
        raise ViewerError(f"{path}: not a readable BVH file ({exc})") from None
    if tuple(sorted(bvh.names)) != tuple(sorted(JOINT_NAMES)):
        raise ViewerError(f"{path}: a BVH of another skeleton; the viewer shows the 55-joint SMPL-X BVH files of "
                          "smplestx export")
    t, order = bvh.motion.shape[0], [JOINT_NAMES.index(n) for n in bvh.names]
    if not (np.isfinite(bvh.motion).all() and bvh.frame_time > 0):
        raise ViewerError(f"{path}: the motion holds non-finite values or a frame time that is not positive")
    euler = np.zeros((t, 55, 3))
    root, offsets, moving = np.zeros((t, 3)), np.zeros((55, 3)), np.zeros(55, bool)
    col = 0
    for j, chans in zip(order, bvh.channels):
        vals = bvh.motion[:, col:col + len(chans)]
        col += len(chans)
        offsets[j] = bvh.offsets[bvh.names.index(JOINT_NAMES[j])]
        for k, c in enumerate(chans):
            if c.endswith("rotation"):
                euler[:, j, "ZXY".index(c[0])] = np.radians(vals[:, k])
            elif j == 0:
                root[:, "XYZ".index(c[0])] = vals[:, k]
            else:
                moving[j] = True  # its offset follows the expression, frame by frame
    aa = rotmat_to_axis_angle(euler_zxy_to_rotmat(torch.as_tensor(euler))).numpy()  # (T, 55, 3)
    layer = lambda: bodies.layer("neutral", flat_hand_mean=True)  # noqa: E731 - BVH hands include the mean
    betas = _bvh_rest_betas(layer(), offsets / BVH_UNITS_PER_METRE, ~moving)
    params = {"global_orient": aa[:, 0], "body_pose": aa[:, 1:22], "jaw_pose": aa[:, 22],
              "left_hand_pose": aa[:, 25:40], "right_hand_pose": aa[:, 40:55], "betas": np.tile(betas, (t, 1))}
    root = root / BVH_UNITS_PER_METRE
    to_camera = CAMERA_TO_GLTF.astype(np.float32)  # its own inverse
    with torch.inference_mode():
        pelvis = layer()(betas=torch.as_tensor(betas[None], dtype=torch.float32)).joints[0, 0].numpy()

    def place(rows: np.ndarray, v: np.ndarray) -> np.ndarray:
        # The layer turns the body about its rest pelvis; the file's root channels are where that pelvis goes.
        return (v + (root[rows] - pelvis)[:, None, :].astype(np.float32)) @ to_camera

    m = re.search(r"_track(\d+)\.", path.name)
    track_id = int(m.group(1)) if m else -1
    fps = 1.0 / bvh.frame_time
    focal, princpt, size = nominal_camera()
    frames = [ViewFrame(k, k / fps, np.array([k], np.int64), [track_id]) for k in range(t)]
    return Scene(path, "bvh", (int(size[0]), int(size[1])), focal.astype(np.float64), princpt.astype(np.float64),
                 fps, frames, _image_depth((root @ CAMERA_TO_GLTF)[:, 2]), layer().num_vertices,
                 _poser(layer, params, place), None, "a nominal camera (a BVH file holds none)")


def _gender(name: str) -> str:
    """An SMPL-X gender name, neutral for anything else."""
    return name.lower() if name.lower() in ("neutral", "male", "female") else "neutral"
