"""Skinned, animated glTF 2.0 binary (.glb) of one track: rest mesh, 55-joint skeleton, keyframes, expressions.

Layout of the file (all float32, metres, glTF world: y up, x right, z toward the viewer):

- one skinned mesh (the track's shaped rest mesh, SMPL-X's own y-up flat-hand T-pose; expression 0) with at
  most 4 joint influences per vertex (the 4 largest SMPL-X skinning weights, renormalised to sum 1) and one
  morph target per expression coefficient (``Exp000`` ...), animated by a ``weights`` channel;
- 55 joint nodes named as the ``smplx`` package names the joints, parented as SMPL-X's kinematic tree, with the
  rest offsets as node translations; inverse bind matrices translate by minus the rest joint position;
- one animation: rotation keys for every joint, translation keys for the root (``pelvis``) and for the few joints
  whose rest offset the expression moves (face joints), at times ``(frame - first frame) / fps``.

The camera-to-glTF axis change (OpenCV x right, y down, z forward -> glTF x right, y up, z toward the viewer: a
180 deg rotation about x, :data:`~smplestx.io.meshes.CAMERA_TO_GLTF`) is folded into the root keys only, so world
joint positions are exactly ``CAMERA_TO_GLTF @`` the body model's posed joints. The mesh has no pose-corrective
blend shapes (glTF cannot drive them from joint rotations), see :func:`skinning_error`.

World-frame exports (``export --frame world``) give the writer the world as a level camera at its origin sees it
(:func:`smplestx.motion.world_frame.world_view`), so the glTF world is the track file's world itself (y up, floor at
y = 0; a world without a floor is its first camera's frame, written as that camera's frame is), and a
:class:`CameraPath` adds the filming camera: a perspective camera node named ``camera`` (yfov from the
focal length and image height, the image's aspect ratio, and in its ``extras`` the video's ``image_size`` and
``focal`` in pixels) with translation and rotation keys in the same animation,
at the camera path's frames: position ``t``, orientation ``R @ diag(1, -1, -1)`` (glTF cameras look down -z with +y
up; ours are OpenCV: x right, y down, z forward).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io.atomic import atomic_path as _atomic_path
from ..io.meshes import CAMERA_TO_GLTF, _vertex_normals
from ..geometry.rotations import rotmat_to_quaternion
from .skeleton import OFFSET_TOLERANCE, Skeleton

log = logging.getLogger(__name__)

#: Joint influences per vertex in the glTF skin (JOINTS_0 / WEIGHTS_0 hold 4).
MAX_INFLUENCES = 4
#: OpenCV camera axes (x right, y down, z forward) <-> glTF camera axes (x right, y up, looking down -z).
GLTF_CAMERA_FROM_OPENCV = np.diag([1.0, -1.0, -1.0])
#: Near clipping plane of the camera node, metres (no far plane: an infinite projection).
CAMERA_ZNEAR = 0.01
#: ``asset.extras["smplestx"]`` entries of a world-frame .glb (a camera-frame file has no ``frame`` entry).
WORLD_EXTRAS = {"frame": "world",
                "world_from_camera": "none: the track file's world (y up, floor at y = 0); the node 'camera' is the "
                                     "filming camera"}
#: The same for a world without a floor: the first camera's frame, turned y up as a camera-frame file is.
WORLD_EXTRAS_NO_FLOOR = {"frame": "world",
                         "world_from_camera": "diag(1, -1, -1): the track file's world has no floor, it is the first "
                                              "camera's frame (OpenCV), turned y up; the node 'camera' is the filming "
                                              "camera"}


@dataclass
class CameraPath:
    """The filming camera of a world-frame export: intrinsics and its path, world from OpenCV camera per frame."""

    frames: np.ndarray  # (F,) source frame numbers, increasing
    rotation: np.ndarray  # (F, 3, 3) X_world = R X_cam + t
    translation: np.ndarray  # (F, 3) the camera's position in the world, metres
    focal: np.ndarray  # (2,) fx, fy in pixels
    image_size: np.ndarray  # (2,) width, height in pixels
    to_gltf: np.ndarray  # (3, 3) glTF world from the path's world (the identity for a world on the floor)

    @classmethod
    def of(cls, ts: Any, view: np.ndarray) -> CameraPath:
        """The camera path of a track set with one, for skeletons in the frame of the camera ``view`` (camera from
        world, :func:`smplestx.motion.world_frame.view_rotation`) that the writers turn into glTF's world."""
        return cls(np.asarray(ts.camera_frames, np.int64), np.asarray(ts.camera_rotation, np.float64),
                   np.asarray(ts.camera_translation, np.float64), np.asarray(ts.focal, np.float64).reshape(2),
                   np.asarray(ts.image_size, np.float64).reshape(2), CAMERA_TO_GLTF.astype(np.float64) @ view)

    @property
    def yfov(self) -> float:
        """Vertical field of view, radians (glTF's ``yfov``)."""
        return float(2.0 * np.arctan(0.5 * self.image_size[1] / self.focal[1]))

    @property
    def aspect_ratio(self) -> float:
        """Width over height of the image (glTF's ``aspectRatio``)."""
        return float(self.image_size[0] / self.image_size[1])

    def extras(self) -> dict[str, list]:
        """The camera's glTF ``extras``: the video's ``image_size`` (width, height) and ``focal`` (fx, fy), pixels."""
        return {"image_size": [int(round(x)) for x in self.image_size], "focal": [float(x) for x in self.focal]}

    def between(self, first: int, last: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(frames, glTF node rotations (K, 3, 3), positions (K, 3))`` of the path's frames in ``[first, last]``."""
        keep = (self.frames >= first) & (self.frames <= last)
        g = self.to_gltf
        return self.frames[keep], g @ self.rotation[keep] @ GLTF_CAMERA_FROM_OPENCV, self.translation[keep] @ g.T


def top_influences(weights: np.ndarray, k: int = MAX_INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest weights per vertex (V, k), renormalised to sum 1, and their joint indices (V, k)."""
    idx = np.argsort(-weights, axis=1, kind="stable")[:, :k]
    w = np.take_along_axis(weights, idx, axis=1)
    w = np.clip(w, 0.0, None)
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    # glTF wants unused slots (weight 0) to name joint 0; only joints with non-zero weight must be distinct.
    idx = np.where(w > 0, idx, 0)
    return w, idx


def _skin(rest: np.ndarray, g_rot: np.ndarray, g_pos: np.ndarray, rest_joints: np.ndarray,
          weights: np.ndarray) -> np.ndarray:
    """Linear blend skinning of ``rest`` (V, 3) by dense weights (V, J) with global bone transforms."""
    # Per-joint transform x -> R x + (p - R J), blended per vertex: one (V, J) @ (J, 12) product.
    offset = g_pos - np.einsum("jik,jk->ji", g_rot, rest_joints)
    blended = (weights @ np.concatenate([g_rot.reshape(-1, 9), offset], axis=1)).reshape(-1, 12)
    rot, off = blended[:, :9].reshape(-1, 3, 3), blended[:, 9:]
    return np.einsum("vij,vj->vi", rot, rest) + off


def skinning_error(skel: Skeleton, max_frames: int = 8) -> dict[str, float]:
    """Vertex error (metres) of the 4-influence skin vs full linear blend skinning, on a few frames.

    Both sides use the same rest mesh and the same bone transforms and neither has pose-corrective blend shapes,
    so this is the cost of dropping the smaller weights alone.
    """
    frames = np.unique(np.linspace(0, len(skel) - 1, min(max_frames, len(skel))).round().astype(int))
    w4, idx4 = top_influences(skel.weights)
    dense4 = np.zeros_like(skel.weights)
    np.add.at(dense4, (np.arange(len(w4))[:, None], idx4), w4)
    errs = []
    for t in frames:
        g_rot = np.empty((len(skel.names), 3, 3))
        g_pos = np.empty((len(skel.names), 3))
        g_rot[0], g_pos[0] = skel.local_rot[t, 0], skel.root_pos[t]
        for j in range(1, len(skel.names)):
            p = skel.parents[j]
            g_rot[j] = g_rot[p] @ skel.local_rot[t, j]
            g_pos[j] = g_pos[p] + g_rot[p] @ (skel.rest_joints[j] - skel.rest_joints[p])
        full = _skin(skel.rest_vertices, g_rot, g_pos, skel.rest_joints, skel.weights)
        four = _skin(skel.rest_vertices, g_rot, g_pos, skel.rest_joints, dense4)
        errs.append(np.linalg.norm(full - four, axis=1))
    e = np.concatenate(errs)
    return {"max_m": float(e.max()), "mean_m": float(e.mean()), "frames": int(len(frames))}


def _quaternions_xyzw(r: np.ndarray) -> np.ndarray:
    """(T, ..., 3, 3) -> (T, ..., 4) unit quaternions (x, y, z, w), signs chosen for a continuous path over time."""
    q = rotmat_to_quaternion(torch.as_tensor(r, dtype=torch.float64)).numpy()  # (w, x, y, z)
    # q and -q are the same rotation: flip so consecutive keys share a hemisphere (short interpolation arcs).
    if len(q) > 1:
        step = np.where((q[1:] * q[:-1]).sum(-1) < 0, -1.0, 1.0)
        q[1:] *= np.cumprod(step, axis=0)[..., None]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return q[..., [1, 2, 3, 0]]


class _Blob:
    """The binary buffer and its views/accessors, built up in order."""

    def __init__(self, gl: Any, doc: Any) -> None:
        self.gl, self.doc, self.data = gl, doc, bytearray()

    def add(self, array: np.ndarray, type_: str, component: int, *, target: int | None = None,
            minmax: bool = False) -> int:
        """Append ``array`` as one bufferView + accessor; return the accessor index."""
        gl = self.gl
        raw = np.ascontiguousarray(array).tobytes()
        offset = len(self.data)
        self.data += raw
        self.data += b"\0" * (-len(self.data) % 4)  # keep every view 4-byte aligned
        self.doc.bufferViews.append(gl.BufferView(buffer=0, byteOffset=offset, byteLength=len(raw), target=target))
        count = array.shape[0]
        acc = gl.Accessor(bufferView=len(self.doc.bufferViews) - 1, componentType=component, count=count, type=type_)
        if minmax:
            flat = array.reshape(count, -1)
            cast = (lambda x: [float(v) for v in x]) if array.dtype.kind == "f" else (lambda x: [int(v) for v in x])
            acc.min, acc.max = cast(flat.min(axis=0)), cast(flat.max(axis=0))
        self.doc.accessors.append(acc)
        return len(self.doc.accessors) - 1


def write_gltf_animation(path: str | os.PathLike[str], skel: Skeleton, fps: float, *,
                         expressions: bool = True, extras: dict[str, Any] | None = None,
                         camera: CameraPath | None = None) -> Path:
    """Write ``skel`` as a skinned, animated .glb (see the module docstring); atomic. Returns the path.

    ``camera``: the filming camera, in the same world as ``skel``'s root (world-frame exports), as an animated node.
    """
    import pygltflib as gl

    path = Path(path)
    world = CAMERA_TO_GLTF.astype(np.float64)
    f32, n_joints = "<f4", len(skel.names)
    doc = gl.GLTF2(asset=gl.Asset(version="2.0", generator="smplestx animation export"), scene=0)
    blob = _Blob(gl, doc)

    # Mesh: shaped rest pose in SMPL-X's own (y-up) frame, which is also glTF's bind pose.
    verts = skel.rest_vertices.astype(f32)
    faces = skel.faces.astype("<u4").reshape(-1)
    w4, idx4 = top_influences(skel.weights)
    attrs = gl.Attributes(
        POSITION=blob.add(verts, gl.VEC3, gl.FLOAT, target=gl.ARRAY_BUFFER, minmax=True),
        NORMAL=blob.add(_vertex_normals(verts, skel.faces), gl.VEC3, gl.FLOAT, target=gl.ARRAY_BUFFER),
        JOINTS_0=blob.add(idx4.astype("<u1"), gl.VEC4, gl.UNSIGNED_BYTE, target=gl.ARRAY_BUFFER),
        WEIGHTS_0=blob.add(w4.astype(f32), gl.VEC4, gl.FLOAT, target=gl.ARRAY_BUFFER),
    )
    indices = blob.add(faces, gl.SCALAR, gl.UNSIGNED_INT, target=gl.ELEMENT_ARRAY_BUFFER, minmax=True)
    targets, target_names = [], []
    n_expr = skel.expression_dirs.shape[0] if expressions else 0
    for k in range(n_expr):
        acc = blob.add(skel.expression_dirs[k].astype(f32), gl.VEC3, gl.FLOAT, target=gl.ARRAY_BUFFER, minmax=True)
        targets.append({"POSITION": acc})
        target_names.append(f"Exp{k:03d}")
    doc.materials.append(gl.Material(
        name="body", pbrMetallicRoughness=gl.PbrMetallicRoughness(
            baseColorFactor=[0.65, 0.74, 0.86, 1.0], metallicFactor=0.0, roughnessFactor=0.7)))
    prim = gl.Primitive(attributes=attrs, indices=indices, material=0, mode=gl.TRIANGLES)
    mesh = gl.Mesh(name=f"smplx_track{skel.track_id}", primitives=[prim])
    if n_expr:
        prim.targets = targets
        mesh.weights = [0.0] * n_expr
        mesh.extras = {"targetNames": target_names}
    doc.meshes.append(mesh)

    # Joints 0..54 are nodes 0..54 (parents precede children in SMPL-X order); the mesh node comes last.
    for j, name in enumerate(skel.names):
        p = skel.parents[j]
        offset = skel.rest_joints[j] - (skel.rest_joints[p] if p >= 0 else 0.0)
        children = [int(c) for c in np.nonzero(skel.parents == j)[0]]
        doc.nodes.append(gl.Node(name=name, translation=[float(x) for x in offset], children=children or None))
    ibm = np.tile(np.eye(4), (n_joints, 1, 1))
    ibm[:, :3, 3] = -skel.rest_joints
    # glTF matrices are column-major.
    ibm_acc = blob.add(ibm.transpose(0, 2, 1).astype(f32).reshape(n_joints, 16), gl.MAT4, gl.FLOAT)
    doc.skins.append(gl.Skin(name="smplx", joints=list(range(n_joints)), inverseBindMatrices=ibm_acc, skeleton=0))
    mesh_node = len(doc.nodes)
    doc.nodes.append(gl.Node(name=f"smplx_track{skel.track_id}_mesh", mesh=0, skin=0))
    scene_nodes = [0, mesh_node]
    if camera is not None:
        cam_frames, cam_rot, cam_pos = camera.between(int(skel.frames[0]), int(skel.frames[-1]))
        if not len(cam_frames):
            raise ValueError(f"the camera path has no frame in track {skel.track_id}'s frames")
        cam_quats = _quaternions_xyzw(cam_rot)
        # The extras name the video's frame, which glTF cannot: Blender keeps them as the camera's custom
        # properties (its importer drops aspectRatio) and the FBX conversion sets the render resolution from them.
        doc.cameras.append(gl.Camera(name="camera", type="perspective", perspective=gl.Perspective(
            yfov=camera.yfov, aspectRatio=camera.aspect_ratio, znear=CAMERA_ZNEAR), extras=camera.extras()))
        # The rest transform is the first key, so a viewer that does not play the animation still shows the shot.
        doc.nodes.append(gl.Node(name="camera", camera=0, translation=[float(x) for x in cam_pos[0]],
                                 rotation=[float(x) for x in cam_quats[0]]))
        cam_node = len(doc.nodes) - 1
        scene_nodes.append(cam_node)
    doc.scenes.append(gl.Scene(name="smplestx", nodes=scene_nodes))

    # Animation.
    times = ((skel.frames - skel.frames[0]) / float(fps)).astype(f32)
    t_acc = blob.add(times, gl.SCALAR, gl.FLOAT, minmax=True)
    anim = gl.Animation(name=f"track{skel.track_id}", samplers=[], channels=[])

    def channel(node: int, prop: str, values: np.ndarray, type_: str) -> None:
        anim.samplers.append(gl.AnimationSampler(input=t_acc, output=blob.add(values.astype(f32), type_, gl.FLOAT),
                                                 interpolation="LINEAR"))
        anim.channels.append(gl.AnimationChannel(sampler=len(anim.samplers) - 1,
                                                 target=gl.AnimationChannelTarget(node=node, path=prop)))

    root_rot, root_pos = skel.root_motion(world)
    rots = skel.local_rot.copy()
    rots[:, 0] = root_rot
    quats = _quaternions_xyzw(rots)  # (T, 55, 4)
    channel(0, "translation", root_pos, gl.VEC3)
    for j in range(n_joints):
        channel(j, "rotation", quats[:, j], gl.VEC4)
        off = skel.offsets[:, j]
        if j > 0 and np.abs(off - (skel.rest_joints[j] - skel.rest_joints[skel.parents[j]])).max() > OFFSET_TOLERANCE:
            channel(j, "translation", off, gl.VEC3)
    if n_expr:
        # Output of a weights channel: one block of n_expr weights per key.
        w = skel.expression[:, :n_expr].astype(f32).reshape(-1)
        anim.samplers.append(gl.AnimationSampler(input=t_acc, output=blob.add(w, gl.SCALAR, gl.FLOAT),
                                                 interpolation="LINEAR"))
        anim.channels.append(gl.AnimationChannel(sampler=len(anim.samplers) - 1,
                                                 target=gl.AnimationChannelTarget(node=mesh_node, path="weights")))
    if camera is not None:
        # The camera's keys sit at the camera path's frames (every processed frame), on their own time axis.
        cam_times = ((cam_frames - skel.frames[0]) / float(fps)).astype(f32)
        cam_t = blob.add(cam_times, gl.SCALAR, gl.FLOAT, minmax=True)
        for prop, values, type_ in (("translation", cam_pos, gl.VEC3), ("rotation", cam_quats, gl.VEC4)):
            anim.samplers.append(gl.AnimationSampler(input=cam_t, output=blob.add(values.astype(f32), type_, gl.FLOAT),
                                                     interpolation="LINEAR"))
            anim.channels.append(gl.AnimationChannel(sampler=len(anim.samplers) - 1, target=gl.AnimationChannelTarget(
                node=cam_node, path=prop)))
    doc.animations.append(anim)

    doc.asset.extras = {
        "smplestx": {
            "track_id": skel.track_id,
            "fps": float(fps),
            "first_frame": int(skel.frames[0]),
            "frames": int(len(skel)),
            "betas": [float(b) for b in skel.betas],
            "world_from_camera": "diag(1, -1, -1): 180 deg about x (OpenCV camera -> glTF y up)",
            **(extras or {}),
        }
    }
    doc.buffers.append(gl.Buffer(byteLength=len(blob.data)))
    doc.set_binary_blob(bytes(blob.data))
    with _atomic_path(path) as tmp, open(tmp, "wb") as out:
        for chunk in doc.save_to_bytes():
            out.write(chunk)
    log.info("wrote %s (%d frames, %d joints, %d expression targets)", path, len(skel), n_joints, n_expr)
    return path


def read_gltf_joints(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Joint names and world joint positions (T, J, 3) at every key of a .glb written here (numpy FK)."""
    import pygltflib as gl

    doc = gl.GLTF2().load(str(path))
    data = doc.binary_blob()

    def read(acc_index: int) -> np.ndarray:
        return _read_floats(doc, data, acc_index)

    skin = doc.skins[0]
    joints = list(skin.joints)
    parent = {c: i for i, n in enumerate(doc.nodes) for c in (n.children or [])}
    anim = doc.animations[0]
    n_keys = doc.accessors[anim.samplers[0].input].count
    trans = {j: np.tile(np.asarray(doc.nodes[j].translation or [0, 0, 0], float), (n_keys, 1)) for j in joints}
    rots = {j: np.tile(np.asarray(doc.nodes[j].rotation or [0, 0, 0, 1], float), (n_keys, 1)) for j in joints}
    for ch in anim.channels:
        if ch.target.path == "translation":
            trans[ch.target.node] = read(anim.samplers[ch.sampler].output)
        elif ch.target.path == "rotation":
            rots[ch.target.node] = read(anim.samplers[ch.sampler].output)

    def mat(q: np.ndarray) -> np.ndarray:
        x, y, z, w = q.T
        return np.stack([
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ], -1).reshape(-1, 3, 3)

    g_rot: dict[int, np.ndarray] = {}
    g_pos: dict[int, np.ndarray] = {}

    def world(j: int) -> None:
        if j in g_pos:
            return
        r, t = mat(rots[j]), trans[j]
        p = parent.get(j)
        if p is None:
            g_rot[j], g_pos[j] = r, t
        else:
            world(p)
            g_rot[j] = g_rot[p] @ r
            g_pos[j] = g_pos[p] + np.einsum("tij,tj->ti", g_rot[p], t)

    for j in joints:
        world(j)
    names = [doc.nodes[j].name for j in joints]
    return names, np.stack([g_pos[j] for j in joints], axis=1)


def _read_floats(doc: Any, data: bytes, index: int) -> np.ndarray:
    """A float accessor of a .glb's binary chunk as (count, width) float64 (ValueError when it does not fit)."""
    import pygltflib as gl

    acc = doc.accessors[index]
    view = doc.bufferViews[acc.bufferView]
    width = {gl.SCALAR: 1, gl.VEC3: 3, gl.VEC4: 4, gl.MAT4: 16}[acc.type]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    return np.frombuffer(data, "<f4", acc.count * width, start).reshape(acc.count, width).astype(np.float64)


@dataclass
class GltfAnimation:
    """The keys of a .glb written by :func:`write_gltf_animation`, per frame of the track."""

    frames: np.ndarray  # (T,) source frame numbers
    fps: float
    rotations: np.ndarray  # (T, 55, 4) local joint rotations, quaternions (x, y, z, w); the root's in the glTF world
    root_position: np.ndarray  # (T, 3) the pelvis in the glTF world (y up), metres
    expression: np.ndarray | None  # (T, E) morph-target weights, None without expression targets
    extras: dict[str, Any]  # the file's ``asset.extras["smplestx"]``: betas, gender, source, track_id, ...


def read_gltf_animation(path: str | os.PathLike[str]) -> GltfAnimation:
    """The animation keys of a .glb written here (ValueError for any other glTF file)."""
    import pygltflib as gl

    doc = gl.GLTF2().load(str(path))
    extras = ((doc.asset.extras or {}) if doc.asset else {}).get("smplestx")
    if not isinstance(extras, dict) or not doc.skins or not doc.animations or "betas" not in extras:
        raise ValueError(f"{path}: not an animation written by smplestx export (no smplestx extras, skin or animation)")
    data = doc.binary_blob() or b""
    joints = list(doc.skins[0].joints)
    anim = doc.animations[0]
    times = _read_floats(doc, data, anim.samplers[0].input)[:, 0]
    n = len(times)
    rest = [doc.nodes[j].rotation or [0.0, 0.0, 0.0, 1.0] for j in joints]
    rotations = np.tile(np.asarray(rest, np.float64)[None], (n, 1, 1))
    root = np.tile(np.asarray(doc.nodes[joints[0]].translation or [0.0, 0.0, 0.0], np.float64), (n, 1))
    expression = None
    for ch in anim.channels:
        values = _read_floats(doc, data, anim.samplers[ch.sampler].output)
        if ch.target.path == "rotation" and ch.target.node in joints:
            rotations[:, joints.index(ch.target.node)] = values.reshape(n, 4)
        elif ch.target.path == "translation" and ch.target.node == joints[0]:
            root = values.reshape(n, 3)
        elif ch.target.path == "weights":
            expression = values.reshape(n, -1)
    fps = float(extras.get("fps") or 30.0)
    frames = int(extras.get("first_frame", 0)) + np.round(times * fps).astype(np.int64)
    return GltfAnimation(frames, fps, rotations, root, expression, extras)


def gltf_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON chunk of a .glb as a dict (for inspection and tests)."""
    raw = Path(path).read_bytes()
    length = int.from_bytes(raw[12:16], "little")
    return json.loads(raw[20:20 + length])
