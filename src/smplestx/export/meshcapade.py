"""Meshcapade's ``.smpl`` (one body's SMPL-X motion) and ``.mcs`` (a glTF scene of SMPL bodies and a camera).

Written through Meshcapade's own ``smplcodec`` (MIT, Python >= 3.11: the optional extra ``smplestx[meshcapade]``),
the reference implementation of the formats Meshcapade's editor and plugins use. Read by our own code (numbers
only, never unpickled, sizes bounded), so importing needs no extra package.

Conventions (those of ``smplcodec`` and its sample files):

- ``.smpl`` is a flat ``.npz``: ``smplVersion`` (2 = SMPL-X), ``gender`` (0 neutral, 1 male, 2 female),
  ``shapeParameters`` (B,), ``frameCount``, ``frameRate``, ``bodyTranslation`` (T, 3), ``bodyPose`` (T, 22, 3)
  (pelvis first), ``headPose`` (T, 3, 3) (jaw, left eye, right eye), ``leftHandPose`` / ``rightHandPose``
  (T, 15, 3) and ``expressionParameters`` (T, E): axis-angle of the ``smplx`` layer with FLAT hands (as
  smplcodec's AMASS import implies: it copies AMASS's flat-hand poses unchanged), in the
  SMPL-X model frame, **y up** (Meshcapade's avatars stand at ``bodyTranslation`` y ~ 1 m). Our writer puts the
  camera frame's content there with the glTF rotation :data:`~smplestx.io.meshes.CAMERA_TO_GLTF` (x right, y up,
  the camera at the origin looking down -z), the same world as our ``.glb``.
- ``.mcs`` is JSON glTF; ``scenes[0].extensions.MC_scene_description.smpl_bodies`` lists, per body, a
  ``frame_presence`` ``[first, end)`` in scene frames and a ``bufferView`` holding that body's ``.smpl`` bytes
  (base64 data URI). The camera is the node holding ``cameras[0]`` (a glTF camera: y up, looking down -z).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import math
import os
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

import numpy as np

from ..errors import UsageError
from ..io.atomic import atomic_path
from ..io.meshes import CAMERA_TO_GLTF
from ..io.npz import read_npz_arrays
from ..motion.tracks import TrackSet
from .gltf import CameraPath
from .skeleton import Skeleton
from .smplx_world import MAX_FRAMES, MotionFileError, WorldMotion, check_values, world_pose

log = logging.getLogger(__name__)

#: The one line a user without smplcodec sees.
SMPLCODEC_MISSING = ("writing .smpl / .mcs needs Meshcapade's smplcodec (Python >= 3.11): "
                     "pip install 'smplestx[meshcapade]'")

#: ``smplVersion`` codes of smplcodec (SMPLVersion), to name a file's body model.
BODY_MODELS = {0: "SMPL", 1: "SMPL-H", 2: "SMPL-X", 3: "SUPR", 4: "SMPL++", 5: "SKEL", 6: "SMIL", 7: "SMPL-XS"}
SMPLX_VERSION = 2
GENDERS = ("neutral", "male", "female")

#: Largest .mcs (JSON with base64 bodies) we parse; a scene of hours of motion stays far below it.
MAX_MCS_BYTES = 1 << 30

#: The nominal camera of a file without one (``.smpl``): smplcodec's default 60 deg vertical field of view.
NOMINAL_IMAGE_SIZE = (1920, 1080)
NOMINAL_YFOV = math.radians(60.0)


def import_smplcodec() -> tuple[ModuleType, ModuleType]:
    """``(smplcodec, smplcodec.mcs)``, or :class:`UsageError` with the pip command when it is not installed."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import smplcodec
        import smplcodec.mcs
    except ImportError:
        raise UsageError(SMPLCODEC_MISSING) from None
    finally:
        # smplcodec calls logging.basicConfig() on import; the application, not a library, owns the root logger.
        for h in root.handlers[:]:
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)
    return smplcodec, smplcodec.mcs


# ------------------------------------------------------------------------------------------------------- writing


def smpl_codec(skel: Skeleton, fps: float, gender: str) -> Any:
    """The ``smplcodec.SMPLCodec`` of ``skel`` (a track without gaps) at ``fps``, in the ``.smpl`` frame (y up)."""
    codec, _ = import_smplcodec()
    if len(skel) > 1 and (np.diff(skel.frames) != 1).any():
        raise ValueError(".smpl files need one pose per frame (densify the track first)")
    poses, trans = world_pose(skel, CAMERA_TO_GLTF.astype(np.float64))
    f32 = np.float32
    return codec.SMPLCodec(
        smpl_version=codec.SMPLVersion.SMPLX,
        gender=codec.SMPLGender[gender.upper()],
        shape_parameters=skel.betas.astype(f32),
        frame_count=int(len(skel)),
        frame_rate=float(fps),
        body_translation=trans.astype(f32),
        body_pose=poses[:, :22].astype(f32),
        head_pose=poses[:, 22:25].astype(f32),
        left_hand_pose=poses[:, 25:40].astype(f32),
        right_hand_pose=poses[:, 40:55].astype(f32),
        expression_parameters=skel.expression.astype(f32),
    )


def write_smpl(path: str | os.PathLike[str], skel: Skeleton, fps: float, gender: str = "neutral") -> Path:
    """Write the ``.smpl`` of ``skel`` through smplcodec (atomic). Returns the path."""
    path = Path(path)
    codec = smpl_codec(skel, fps, gender)
    with atomic_path(path) as tmp:
        codec.write(tmp)
    log.info("wrote %s (%d frames)", path, len(skel))
    return path


def write_mcs(path: str | os.PathLike[str], skels: Sequence[Skeleton], fps: float, gender: str,
              ts: TrackSet, camera: CameraPath | None = None) -> Path:
    """Write one ``.mcs`` scene holding every skeleton (with its frame presence) and the camera of ``ts`` (atomic).

    Camera frame (``camera`` None): the camera is static, the track set's camera at the origin of the glTF world.
    World frame: the skeletons are in the world (y up) and ``camera`` is the filming camera, one pose per scene frame
    (a frame the path lacks holds the pose of the path's frame before it), through smplcodec's animated scene.
    """
    _, mcs = import_smplcodec()
    path = Path(path)
    bodies = [smpl_codec(s, fps, gender) for s in skels]
    presence = [[int(s.frames[0]), int(s.frames[-1]) + 1] for s in skels]
    num_frames = max(end for _, end in presence)
    if camera is None:
        intrinsics, pose = _static_camera(mcs, ts)
        with atomic_path(path) as tmp:
            mcs.SceneExporter().export_static_camera_scene(bodies, presence, tmp, num_frames, float(fps), intrinsics,
                                                           pose)
    else:
        intrinsics, _ = _static_camera(mcs, ts)
        idx = np.clip(np.searchsorted(camera.frames, np.arange(num_frames), side="right") - 1, 0,
                      len(camera.frames) - 1)
        # smplcodec takes glTF world -> OpenCV camera: the inverse of the path's world-from-camera poses, in glTF's world.
        g = camera.to_gltf
        poses = [mcs.CameraPose((g @ camera.rotation[i]).T.astype(np.float32),
                                (-(g @ camera.rotation[i]).T @ (g @ camera.translation[i])).astype(np.float32))
                 for i in idx]
        with atomic_path(path) as tmp:
            mcs.SceneExporter().export_animated_scene(bodies, presence, tmp, num_frames, float(fps), intrinsics, poses)
    log.info("wrote %s (%d bodies, %d frames)", path, len(skels), num_frames)
    return path


def _static_camera(mcs: ModuleType, ts: TrackSet) -> tuple[Any, Any]:
    """smplcodec's camera intrinsics and (world -> OpenCV camera) pose of the track set's still camera."""
    width, height = (float(v) for v in np.asarray(ts.image_size).reshape(2))
    # A glTF camera has one field of view and a centred principal point: smplcodec derives both from these.
    intrinsics = mcs.CameraIntrinsics(focal_length=float(np.asarray(ts.focal).reshape(2)[1]),
                                      principal_point=(width / 2.0, height / 2.0))
    # Tracks live in the camera frame and the world is CAMERA_TO_GLTF @ camera: world -> camera is its transpose.
    pose = mcs.CameraPose(CAMERA_TO_GLTF.T.astype(np.float32), np.zeros(3, np.float32))
    return intrinsics, pose


# ------------------------------------------------------------------------------------------------------- reading


def _scalar(arrays: dict[str, np.ndarray], key: str, where: str) -> float | None:
    """A one-number entry of a ``.smpl`` or None when absent."""
    if key not in arrays:
        return None
    a = arrays[key]
    if a.size != 1 or a.dtype.kind not in "fiu":
        raise MotionFileError(f"{where}: {key} is not a number")
    v = float(a.reshape(-1)[0])
    if not math.isfinite(v):
        raise MotionFileError(f"{where}: {key} is not finite")
    return v


def parse_smpl(arrays: dict[str, np.ndarray], where: str) -> tuple[WorldMotion, float | None]:
    """A ``.smpl``'s arrays as a world motion (frames 0..T-1) and its frame rate (None when the file has none)."""
    version = _scalar(arrays, "smplVersion", where)
    version = SMPLX_VERSION if version is None else int(version)
    if version != SMPLX_VERSION:
        name = BODY_MODELS.get(version, f"an unknown body model (smplVersion {version})")
        raise MotionFileError(f"{where}: a .smpl of the {name} body model; smplestx reads SMPL-X .smpl files only")
    g = _scalar(arrays, "gender", where)
    g = 0 if g is None else int(g)
    if g not in (0, 1, 2):
        raise MotionFileError(f"{where}: gender {g}; expected 0 (neutral), 1 (male) or 2 (female)")
    count = _scalar(arrays, "frameCount", where)
    t = 1 if count is None else int(count)
    if not 1 <= t <= MAX_FRAMES:
        raise MotionFileError(f"{where}: frameCount {t} is not a frame count smplestx reads (1..{MAX_FRAMES})")
    fps = _scalar(arrays, "frameRate", where)
    if fps is not None and not 0 < fps <= 10000:
        raise MotionFileError(f"{where}: frameRate {fps} is not a frame rate")

    def part(key: str, shape: tuple[int, ...]) -> np.ndarray:
        if key not in arrays:
            return np.zeros((t, *shape))
        return check_values(key, arrays[key], (t, *shape), where, MotionFileError)

    poses = np.concatenate([part("bodyPose", (22, 3)), part("headPose", (3, 3)), part("leftHandPose", (15, 3)),
                            part("rightHandPose", (15, 3))], axis=1)
    betas = arrays.get("shapeParameters", np.zeros(0))
    betas = check_values("shapeParameters", betas, (betas.shape[0] if betas.ndim == 1 else -1,), where, MotionFileError)
    expr = arrays.get("expressionParameters", np.zeros((t, 0)))
    expr = check_values("expressionParameters", expr, (t, expr.shape[-1] if expr.ndim == 2 else -1), where,
                        MotionFileError)
    if "vertexOffsets" in arrays:
        log.warning("%s: the per-vertex offsets (vertexOffsets) are not kept; the body is the shape space's", where)
    motion = WorldMotion(frames=np.arange(t, dtype=np.int64), poses=poses, trans=part("bodyTranslation", (3,)),
                         betas=betas, expression=expr, gender=GENDERS[g])
    return motion, fps


def read_smpl_motion(path: str | os.PathLike[str]) -> tuple[WorldMotion, float | None]:
    """A Meshcapade ``.smpl`` file as a world motion (y up) and its frame rate (or None)."""
    return parse_smpl(read_npz_arrays(Path(path), ".smpl", MotionFileError), str(path))


def nominal_camera() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(focal, princpt, image_size)`` of the camera assumed for a file without one (see :data:`NOMINAL_YFOV`)."""
    w, h = NOMINAL_IMAGE_SIZE
    f = h / (2.0 * math.tan(NOMINAL_YFOV / 2.0))
    return np.array([f, f], np.float32), np.array([w / 2.0, h / 2.0], np.float32), np.array([w, h], np.int64)


def _quat_to_rotmat(q: Sequence[float]) -> np.ndarray:
    """glTF quaternion (x, y, z, w) -> rotation matrix (normalised first)."""
    x, y, z, w = np.asarray(q, dtype=np.float64) / max(float(np.linalg.norm(q)), 1e-12)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _node_transform(node: dict[str, Any], where: str) -> tuple[np.ndarray, np.ndarray]:
    """A glTF node's local rotation and translation (a scale or shear is refused: cameras are rigid)."""
    if "matrix" in node:
        m = np.asarray(node["matrix"], dtype=np.float64).reshape(4, 4).T  # glTF matrices are column-major
        r, t = m[:3, :3], m[:3, 3]
    else:
        r = _quat_to_rotmat(node.get("rotation", [0.0, 0.0, 0.0, 1.0]))
        t = np.asarray(node.get("translation", [0.0, 0.0, 0.0]), dtype=np.float64).reshape(3)
        if not np.allclose(node.get("scale", [1.0, 1.0, 1.0]), 1.0):
            raise MotionFileError(f"{where}: the camera node is scaled; smplestx reads rigid cameras only")
    if not np.allclose(r.T @ r, np.eye(3), atol=1e-4) or not np.isfinite(t).all():
        raise MotionFileError(f"{where}: the camera node's transform is not a rotation and a translation")
    return r, t


def _camera(gltf: dict[str, Any], where: str) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """``(to_camera, offset, (focal, princpt, image_size))`` of the scene's first camera (world -> OpenCV camera)."""
    nodes = gltf.get("nodes", [])
    cams = [i for i, n in enumerate(nodes) if isinstance(n, dict) and "camera" in n]
    if not cams:
        return CAMERA_TO_GLTF.T.astype(np.float64), np.zeros(3), nominal_camera()
    parent = {c: i for i, n in enumerate(nodes) if isinstance(n, dict) for c in n.get("children", [])}
    rot, pos = np.eye(3), np.zeros(3)
    j, seen = cams[0], set()
    while j is not None and j not in seen:  # camera -> world: compose the node with its ancestors
        seen.add(j)
        r, t = _node_transform(nodes[j], where)
        rot, pos = r @ rot, r @ pos + t
        j = parent.get(j)
    animated = any(ch.get("target", {}).get("node") == cams[0] for a in gltf.get("animations", [])
                   for ch in a.get("channels", []))
    if animated:
        log.warning("%s: the camera is animated; smplestx keeps its rest pose (moving cameras are not read yet)", where)
    # glTF camera (y up, looking down -z) -> OpenCV camera (y down, z forward): CAMERA_TO_GLTF is its own inverse.
    to_camera = CAMERA_TO_GLTF.astype(np.float64) @ rot.T
    persp = (gltf.get("cameras") or [{}])[int(nodes[cams[0]]["camera"])].get("perspective", {})
    yfov = float(persp.get("yfov", NOMINAL_YFOV))
    aspect = float(persp.get("aspectRatio", NOMINAL_IMAGE_SIZE[0] / NOMINAL_IMAGE_SIZE[1]))
    if not (0 < yfov < math.pi and 0 < aspect < 100):
        raise MotionFileError(f"{where}: the camera's field of view {yfov} or aspect ratio {aspect} is not sane")
    h = NOMINAL_IMAGE_SIZE[1]
    w = max(int(round(h * aspect)), 1)
    f = h / (2.0 * math.tan(yfov / 2.0))
    intr = (np.array([f, f], np.float32), np.array([w / 2.0, h / 2.0], np.float32), np.array([w, h], np.int64))
    return to_camera, -to_camera @ pos, intr


def _buffer_bytes(gltf: dict[str, Any], view_index: Any, where: str) -> bytes:
    """The bytes of one bufferView (its buffer a base64 data URI: files beside the scene are not opened)."""
    try:
        view = gltf["bufferViews"][int(view_index)]
        buf = gltf["buffers"][int(view["buffer"])]
        uri = str(buf["uri"])
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise MotionFileError(f"{where}: a body's bufferView is missing or broken ({e!r})") from None
    if not uri.startswith("data:") or ";base64," not in uri:
        raise MotionFileError(f"{where}: a body's buffer is not embedded (uri {uri[:40]!r}); smplestx reads "
                              ".mcs files with embedded (base64) buffers only")
    try:
        data = base64.b64decode(uri.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError) as e:
        raise MotionFileError(f"{where}: a body's buffer is not valid base64 ({e})") from None
    start = int(view.get("byteOffset", 0))
    length = int(view.get("byteLength", len(data) - start))
    if start < 0 or length < 0 or start + length > len(data):
        raise MotionFileError(f"{where}: a body's bufferView runs past its buffer")
    return data[start:start + length]


def read_mcs_scene(path: str | os.PathLike[str]) -> tuple[list[WorldMotion], float | None, tuple]:
    """A Meshcapade ``.mcs`` scene: its SMPL-X bodies (frames from their presence), frame rate, and camera.

    Returns ``(motions, fps, (to_camera, offset, (focal, princpt, image_size)))``.
    """
    path = Path(path)
    where = str(path)
    if path.stat().st_size > MAX_MCS_BYTES:
        raise MotionFileError(f"{where}: over {MAX_MCS_BYTES} bytes; not an .mcs scene smplestx reads")
    try:
        gltf = json.loads(path.read_bytes())
    except (UnicodeDecodeError, ValueError) as e:
        raise MotionFileError(f"{where} is not an .mcs scene (not glTF JSON: {e})") from None
    try:
        scene = gltf["scenes"][int(gltf.get("scene", 0))]
        bodies = scene.get("extensions", {}).get("MC_scene_description", {}).get("smpl_bodies", [])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        bodies = None
    if not bodies or not isinstance(bodies, list):
        raise MotionFileError(f"{where}: the .mcs scene holds no SMPL bodies (MC_scene_description.smpl_bodies); "
                              "nothing to export")
    motions: list[WorldMotion] = []
    rates: list[float] = []
    for i, body in enumerate(bodies):
        here = f"{where} body {i}"
        if not isinstance(body, dict):
            raise MotionFileError(f"{here}: not a body description")
        arrays = read_npz_arrays(io.BytesIO(_buffer_bytes(gltf, body.get("bufferView"), here)), ".smpl",
                                 MotionFileError, name=here)
        motion, fps = parse_smpl(arrays, here)
        t = len(motion.frames)
        presence = body.get("frame_presence", [0, t])
        if (not isinstance(presence, list) or len(presence) != 2
                or not all(isinstance(v, int) and 0 <= v <= (1 << 40) for v in presence)):
            raise MotionFileError(f"{here}: frame_presence {presence!r} is not [first, end)")
        if presence[1] - presence[0] != t:
            raise MotionFileError(f"{here}: frame_presence {presence} spans {presence[1] - presence[0]} frames but "
                                  f"the body has {t}")
        motion.frames = motion.frames + presence[0]
        motions.append(motion)
        if fps is not None:
            rates.append(fps)
    if len(set(rates)) > 1:
        raise MotionFileError(f"{where}: the bodies have different frame rates {sorted(set(rates))}")
    try:
        camera = _camera(gltf, where)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
        if isinstance(e, MotionFileError):
            raise
        raise MotionFileError(f"{where}: the scene's camera is broken ({e!r})") from None
    return motions, (rates[0] if rates else None), camera
