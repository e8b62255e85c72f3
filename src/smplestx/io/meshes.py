"""Mesh writers: :func:`write_obj`, :func:`write_ply` and :func:`write_glb`, all atomic.

OBJ and PLY keep the OpenCV camera frame (x right, y down, z forward); glTF binary is converted to
glTF's y-up frame by a 180° rotation about x (:data:`CAMERA_TO_GLTF`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_path

__all__ = ["CAMERA_TO_GLTF", "write_glb", "write_obj", "write_ply"]

#: OpenCV camera frame (x right, y down, z forward) -> glTF (x right, y up, z toward the viewer):
#: a 180° rotation about x, i.e. (x, y, z) -> (x, -y, -z). A proper rotation, so faces keep
#: their winding (counter-clockwise seen from outside) and the handedness is unchanged.
CAMERA_TO_GLTF = np.diag(np.array([1.0, -1.0, -1.0], dtype=np.float32))

#: Default per-person colours (RGB in [0, 1]) for :func:`write_glb`.
_PALETTE = (
    (0.65, 0.74, 0.86),
    (0.93, 0.62, 0.45),
    (0.55, 0.80, 0.55),
    (0.85, 0.55, 0.80),
    (0.95, 0.85, 0.45),
    (0.50, 0.80, 0.85),
    (0.80, 0.45, 0.45),
    (0.70, 0.70, 0.70),
)


def _check_mesh(vertices: Any, faces: Any) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, dtype=np.float32)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must have shape (V, 3), got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {f.shape}")
    if f.size and not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"faces must be integer vertex indices, got {f.dtype}")
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"face indices must be in [0, {len(v)}) (0-based), got [{f.min()}, {f.max()}]")
    return v, f.astype(np.int64, copy=False)


def _rgb_u8(color: Any, n: int) -> np.ndarray:
    """(3,) or (n, 3) colour -> (n, 3) uint8; floats are in [0, 1], integers in [0, 255]."""
    c = np.asarray(color)
    if c.shape not in ((3,), (n, 3)):
        raise ValueError(f"color must have shape (3,) or ({n}, 3), got {c.shape}")
    c = np.clip(np.round(c * 255.0), 0, 255) if np.issubdtype(c.dtype, np.floating) else np.clip(c, 0, 255)
    return np.broadcast_to(c.astype(np.uint8), (n, 3))


def write_obj(path: str | os.PathLike[str], vertices: Any, faces: Any) -> Path:
    """Wavefront OBJ (text): ``v x y z`` in the coordinates given (the camera frame is kept as is) and
    1-based ``f a b c`` faces from 0-based ``faces``. Atomic. Returns the path."""
    path = Path(path)
    v, f = _check_mesh(vertices, faces)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="ascii", newline="\n") as out:
        out.write("# smplestx mesh: metres, OpenCV camera frame (x right, y down, z forward)\n")
        out.write(f"# {len(v)} vertices, {len(f)} faces\n")
        np.savetxt(out, v, fmt="v %.6f %.6f %.6f")
        np.savetxt(out, f + 1, fmt="f %d %d %d")
    return path


def write_ply(path: str | os.PathLike[str], vertices: Any, faces: Any, color: Any = None) -> Path:
    """Binary little-endian PLY: float32 x/y/z (camera frame kept as is), optional uchar red/green/blue
    per vertex (``color``: one (3,) colour or (V, 3); floats in [0, 1], integers in [0, 255]),
    faces as ``list uchar int vertex_indices`` (0-based). Atomic. Returns the path."""
    path = Path(path)
    v, f = _check_mesh(vertices, faces)
    vdtype = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if color is not None:
        vdtype += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vrec = np.empty(len(v), dtype=vdtype)
    vrec["x"], vrec["y"], vrec["z"] = v[:, 0], v[:, 1], v[:, 2]
    if color is not None:
        rgb = _rgb_u8(color, len(v))
        vrec["red"], vrec["green"], vrec["blue"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    frec = np.empty(len(f), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    frec["n"] = 3
    frec["idx"] = f
    header = [
        "ply",
        "format binary_little_endian 1.0",
        "comment smplestx mesh: metres, OpenCV camera frame (x right, y down, z forward)",
        f"element vertex {len(v)}",
        "property float x",
        "property float y",
        "property float z",
    ]
    if color is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header += [f"element face {len(f)}", "property list uchar int vertex_indices", "end_header"]
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(("\n".join(header) + "\n").encode("ascii"))
        out.write(vrec.tobytes())
        out.write(frec.tobytes())
    return path


def _vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (unused vertices get +z)."""
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]).astype(np.float64)
    n = np.zeros((len(v), 3))
    for k in range(3):
        for c in range(3):
            n[:, c] += np.bincount(f[:, k], weights=fn[:, c], minlength=len(v))
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    out = np.where(norm > 1e-20, n / np.maximum(norm, 1e-20), np.array([0.0, 0.0, 1.0]))
    return out.astype(np.float32)


def _rgba(color: Any) -> list[float]:
    c = np.asarray(color)
    if c.shape not in ((3,), (4,)):
        raise ValueError(f"a GLB colour is (r, g, b) or (r, g, b, a), got shape {c.shape}")
    c = c.astype(np.float64) / 255.0 if np.issubdtype(c.dtype, np.integer) else c.astype(np.float64)
    c = np.clip(c, 0.0, 1.0)
    return [float(x) for x in c] + ([1.0] if len(c) == 3 else [])


def write_glb(
    path: str | os.PathLike[str],
    meshes: Sequence[np.ndarray] | np.ndarray,
    faces: Any,
    colors: Sequence[tuple] | None = None,
    names: Sequence[str] | None = None,
) -> Path:
    """One binary glTF 2.0 scene: one node + mesh per entry of ``meshes`` (each (V, 3), camera frame),
    all sharing ``faces`` (0-based), each with its own PBR material colour.

    Positions are converted from the OpenCV camera frame to glTF's y-up frame with
    :data:`CAMERA_TO_GLTF` ((x, y, z) -> (x, -y, -z)), so the scene looks like the image when
    viewed from the default glTF camera direction (looking down -z). Positions and vertex normals
    are float32 (positions with the min/max the spec requires), indices uint32. ``colors`` are
    (r, g, b[, a]) floats in [0, 1] (integers: [0, 255]); default: a fixed palette. Atomic.
    """
    # pygltflib (pure Python, MIT) builds the glTF JSON from typed dataclasses and packs the GLB
    # container (chunk headers, 4-byte padding, buffer length) correctly; writing that by hand
    # is easy to get subtly wrong, and the same library lets the tests load the result back.
    try:
        import pygltflib as gl
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("writing .glb needs pygltflib: pip install pygltflib") from e

    path = Path(path)
    meshes = list(meshes)
    if not meshes:
        raise ValueError("write_glb needs at least one mesh")
    checked = [_check_mesh(m, faces) for m in meshes]
    f = checked[0][1]
    if len(f) == 0 or len(checked[0][0]) == 0:
        raise ValueError("write_glb needs at least one vertex and one face (glTF accessors cannot be empty)")
    if colors is not None and len(colors) != len(meshes):
        raise ValueError(f"{len(colors)} colours for {len(meshes)} meshes")
    if names is not None and len(names) != len(meshes):
        raise ValueError(f"{len(names)} names for {len(meshes)} meshes")

    indices = f.astype("<u4").tobytes()
    blob = bytearray(indices)
    doc = gl.GLTF2(asset=gl.Asset(version="2.0", generator="smplestx"), scene=0)
    doc.bufferViews.append(
        gl.BufferView(buffer=0, byteOffset=0, byteLength=len(indices), target=gl.ELEMENT_ARRAY_BUFFER)
    )
    doc.accessors.append(
        gl.Accessor(
            bufferView=0,
            componentType=gl.UNSIGNED_INT,
            count=int(f.size),
            type=gl.SCALAR,
            min=[int(f.min())],
            max=[int(f.max())],
        )
    )
    nodes = []
    for i, (v, _) in enumerate(checked):
        pos = (v @ CAMERA_TO_GLTF).astype("<f4")  # diagonal, so v @ M == (M @ v.T).T
        nrm = _vertex_normals(pos, f).astype("<f4")
        for data, kind in ((pos, "POSITION"), (nrm, "NORMAL")):
            offset = len(blob)
            blob += data.tobytes()  # 4-byte components: every view stays 4-byte aligned
            doc.bufferViews.append(
                gl.BufferView(buffer=0, byteOffset=offset, byteLength=data.nbytes, target=gl.ARRAY_BUFFER)
            )
            acc = gl.Accessor(
                bufferView=len(doc.bufferViews) - 1, componentType=gl.FLOAT, count=len(data), type=gl.VEC3
            )
            if kind == "POSITION":
                acc.min = [float(x) for x in data.min(axis=0)]
                acc.max = [float(x) for x in data.max(axis=0)]
            doc.accessors.append(acc)
        pos_acc, nrm_acc = len(doc.accessors) - 2, len(doc.accessors) - 1
        name = names[i] if names is not None else f"person_{i}"
        rgba = _rgba(colors[i] if colors is not None else _PALETTE[i % len(_PALETTE)])
        doc.materials.append(
            gl.Material(
                name=f"{name}_material",
                pbrMetallicRoughness=gl.PbrMetallicRoughness(
                    baseColorFactor=rgba, metallicFactor=0.0, roughnessFactor=0.7
                ),
                doubleSided=True,
                alphaMode=gl.BLEND if rgba[3] < 1.0 else gl.OPAQUE,
            )
        )
        doc.meshes.append(
            gl.Mesh(
                name=name,
                primitives=[
                    gl.Primitive(
                        attributes=gl.Attributes(POSITION=pos_acc, NORMAL=nrm_acc),
                        indices=0,
                        material=len(doc.materials) - 1,
                        mode=gl.TRIANGLES,
                    )
                ],
            )
        )
        doc.nodes.append(gl.Node(name=name, mesh=len(doc.meshes) - 1))
        nodes.append(len(doc.nodes) - 1)
    doc.scenes.append(gl.Scene(name="smplestx", nodes=nodes))
    doc.buffers.append(gl.Buffer(byteLength=len(blob)))
    doc.set_binary_blob(bytes(blob))
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        for chunk in doc.save_to_bytes():
            out.write(chunk)
    return path
