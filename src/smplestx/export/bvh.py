"""BVH motion files of one track: the 55-joint SMPL-X skeleton with the track's own rest offsets.

Conventions (all fixed, written into the file's header comment-free, as BVH has no comments):

- units: **centimetres** (offsets and root positions; multiply by 0.01 for metres);
- axes: y up, x right, z toward the viewer: the camera frame rotated 180 deg about x (as for glTF); the rest
  skeleton is SMPL-X's own y-up flat-hand T-pose of the track's shape;
- the ROOT (``pelvis``) has OFFSET 0 0 0 and 6 channels ``Xposition Yposition Zposition Zrotation Xrotation
  Yrotation``: its position channels are the pelvis position itself (readers differ on whether root positions add
  to the root OFFSET; a zero OFFSET makes both readings agree);
- every other joint has 3 channels ``Zrotation Xrotation Yrotation``, degrees, meaning the local rotation
  ``R = Rz(z) @ Rx(x) @ Ry(y)`` (the channel listed first is the outermost factor: the usual BVH reading, and
  Blender's), from :func:`smplestx.geometry.rotations.rotmat_to_euler_zxy`;
- one frame per source frame from the track's first to its last (gaps filled by slerp before writing);
  ``Frame Time`` is ``1 / fps``.

SMPL-X's expression moves the rest positions of some face joints (head, jaw, eyes: those whose joint regressor
reads face vertices), so their offsets from the parent change from frame to frame, which a fixed OFFSET cannot
hold. Such joints (offset moving more than :data:`~.skeleton.OFFSET_TOLERANCE` over the track) get 6 channels,
``Xposition Yposition Zposition`` before the rotations, carrying the joint's local offset of each frame; their
OFFSET is the offset of the track's mean expression. Position channels are read as Blender reads them: they ARE
the joint's local translation (they replace the OFFSET, which is its rest value). Joints the expression does not
move keep 3 channels, so a track with a constant expression gives a file with rotations only below the root.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import UsageError
from ..io.atomic import atomic_path as _atomic_path
from ..io.meshes import CAMERA_TO_GLTF
from ..geometry.rotations import euler_zxy_to_rotmat, rotmat_to_euler_zxy
from .skeleton import OFFSET_TOLERANCE, Skeleton

log = logging.getLogger(__name__)

#: BVH length unit: centimetres per metre.
BVH_UNITS_PER_METRE = 100.0
ROOT_CHANNELS = ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
JOINT_CHANNELS = ("Zrotation", "Xrotation", "Yrotation")
#: Channels of a joint whose rest offset the expression moves: its local offset per frame, then the rotation.
MOVING_JOINT_CHANNELS = ("Xposition", "Yposition", "Zposition", *JOINT_CHANNELS)


def _depth_first(parents: np.ndarray) -> list[int]:
    """Joint indices in BVH hierarchy (depth-first) order."""
    children: dict[int, list[int]] = {}
    for j, p in enumerate(parents):
        children.setdefault(int(p), []).append(j)
    order: list[int] = []
    stack = [children[-1][0]]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children.get(j, [])))
    return order


def write_bvh(path: str | os.PathLike[str], skel: Skeleton, fps: float) -> Path:
    """Write ``skel`` (a track without gaps) as a BVH file (see the module docstring); atomic. Returns the path."""
    path = Path(path)
    if len(skel) > 1 and (np.diff(skel.frames) != 1).any():
        raise ValueError("write_bvh needs one key per frame (densify the track first)")
    s = BVH_UNITS_PER_METRE
    world = CAMERA_TO_GLTF.astype(np.float64)
    offsets = skel.offsets.mean(axis=0) * s  # (55, 3) the track's mean expression (expression moves face joints)
    parents = skel.parents
    children = {j: [int(c) for c in np.nonzero(parents == j)[0]] for j in range(len(parents))}
    shift = np.abs(skel.offsets - skel.offsets.mean(axis=0)).max(axis=(0, 2))  # (55,) metres
    moving = {j for j in range(len(parents)) if parents[j] >= 0 and shift[j] > OFFSET_TOLERANCE}

    out = io.StringIO()
    out.write("HIERARCHY\n")

    def node(j: int, depth: int) -> None:
        pad = "  " * depth
        kind = "ROOT" if parents[j] < 0 else "JOINT"
        off = np.zeros(3) if parents[j] < 0 else offsets[j]
        chans = ROOT_CHANNELS if parents[j] < 0 else MOVING_JOINT_CHANNELS if j in moving else JOINT_CHANNELS
        out.write(f"{pad}{kind} {skel.names[j]}\n{pad}{{\n")
        out.write(f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}\n")
        out.write(f"{pad}  CHANNELS {len(chans)} {' '.join(chans)}\n")
        for c in children[j]:
            node(c, depth + 1)
        if not children[j]:
            # Leaves (fingertips, feet, head, eyes) end half a parent bone further on: readers need an End Site
            # to give the last bone a length; it carries no channels.
            tip = offsets[j] * 0.5 if np.linalg.norm(offsets[j]) > 1e-6 else np.array([0.0, 1.0, 0.0])
            out.write(f"{pad}  End Site\n{pad}  {{\n{pad}    OFFSET {tip[0]:.6f} {tip[1]:.6f} {tip[2]:.6f}\n"
                      f"{pad}  }}\n")
        out.write(f"{pad}}}\n")

    order = _depth_first(parents)
    node(order[0], 0)
    root_rot, root_pos = skel.root_motion(world)
    rots = skel.local_rot.copy()
    rots[:, 0] = root_rot
    euler = np.degrees(rotmat_to_euler_zxy(torch.as_tensor(rots)).numpy())  # (T, 55, 3) z, x, y
    columns = [root_pos * s]
    for j in order:
        if j in moving:
            columns.append(skel.offsets[:, j] * s)
        columns.append(euler[:, j])
    motion = np.concatenate(columns, axis=1)
    out.write(f"MOTION\nFrames: {len(skel)}\nFrame Time: {1.0 / float(fps):.8f}\n")
    np.savetxt(out, motion, fmt="%.6f")
    with _atomic_path(path) as tmp, open(tmp, "w", encoding="ascii", newline="\n") as f:
        f.write(out.getvalue())
    log.info("wrote %s (%d frames)", path, len(skel))
    return path


@dataclass
class BVH:
    """A parsed BVH file: joints in file order, their parents, offsets, channels and the motion table."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray  # (J, 3)
    channels: list[list[str]]
    motion: np.ndarray  # (T, sum of channels)
    frame_time: float

    def world_positions(self) -> np.ndarray:
        """Joint positions (T, J, 3) in file units, by forward kinematics.

        Position channels, where a joint has them, are its local translation (they replace its OFFSET, as
        Blender reads them); other joints translate by their OFFSET.
        """
        t = self.motion.shape[0]
        pos = np.zeros((t, len(self.names), 3))
        rot = np.zeros((t, len(self.names), 3, 3))
        col = 0
        for j, chans in enumerate(self.channels):
            vals = self.motion[:, col:col + len(chans)]
            col += len(chans)
            local_t = np.tile(self.offsets[j], (t, 1))
            angles = {}
            for k, c in enumerate(chans):
                if c.endswith("position"):
                    local_t[:, "XYZ".index(c[0])] = vals[:, k]
                else:
                    angles[c[0]] = np.radians(vals[:, k])
            rot_names = "".join(c[0] for c in chans if c.endswith("rotation"))
            if rot_names not in ("ZXY", ""):
                raise ValueError(f"this reader handles ZXY rotation channels, not {rot_names}")
            e = np.stack([angles.get(a, np.zeros(t)) for a in "ZXY"], axis=1)
            r = euler_zxy_to_rotmat(torch.as_tensor(e)).numpy()
            p = self.parents[j]
            if p < 0:
                rot[:, j], pos[:, j] = r, local_t
            else:
                rot[:, j] = rot[:, p] @ r
                pos[:, j] = pos[:, p] + np.einsum("tij,tj->ti", rot[:, p], local_t)
        return pos


def read_bvh(path: str | os.PathLike[str]) -> BVH:
    """Parse a BVH file (hierarchy and motion); raise ValueError naming the file when it is malformed."""
    path = Path(path)
    tokens = path.read_text(encoding="ascii").split()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    i = 0
    try:
        if tokens[i] != "HIERARCHY":
            raise ValueError("no HIERARCHY")
        i += 1
        in_end = False
        while tokens[i] != "MOTION":
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                names.append(tokens[i + 1])
                parents.append(stack[-1] if stack else -1)
                offsets.append([0.0, 0.0, 0.0])
                channels.append([])
                stack.append(len(names) - 1)
                i += 2
            elif tok == "End":
                in_end = True
                i += 2
            elif tok == "{":
                i += 1
            elif tok == "}":
                if in_end:
                    in_end = False
                else:
                    stack.pop()
                i += 1
            elif tok == "OFFSET":
                if not in_end:
                    offsets[-1 if not stack else stack[-1]] = [float(x) for x in tokens[i + 1:i + 4]]
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                channels[stack[-1]] = tokens[i + 2:i + 2 + n]
                i += 2 + n
            else:
                raise ValueError(f"unexpected token {tok!r}")
        frames = int(tokens[i + 2])
        frame_time = float(tokens[i + 5])
        width = sum(len(c) for c in channels)
        values = np.asarray(tokens[i + 6:], dtype=np.float64)
        if values.size != frames * width:
            raise ValueError(f"{values.size} motion values for {frames} frames of {width} channels")
    except (IndexError, ValueError) as e:
        raise UsageError(f"{path}: not a BVH file this reader understands ({e})") from None
    return BVH(names, parents, np.asarray(offsets), channels, values.reshape(frames, width), frame_time)
