"""Render the synthetic SMPL-X mannequin (rest and posed, front and side views) into a PNG for a visual check.

Usage: PYTHONPATH=src python tools/look_at_synthetic.py OUT.png [--zoom head|hand_l|foot_l] [--seed N]
Dev helper only (not part of the package): flat-shaded painter's-algorithm rasterisation with OpenCV, posing
with a small numpy linear-blend-skinning implementation (no dependency on the ``smplx`` package).
"""

from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np

from smplestx.synthetic.skeleton import PARENTS
from smplestx.synthetic.smplx_model import make_synthetic_arrays


def rodrigues(aa: np.ndarray) -> np.ndarray:
    """(N, 3) axis-angle -> (N, 3, 3) rotation matrices."""
    theta = np.linalg.norm(aa, axis=1, keepdims=True) + 1e-12
    k = aa / theta
    kx = np.zeros((len(aa), 3, 3))
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    kx[:, 1, 0], kx[:, 2, 0], kx[:, 2, 1] = k[:, 2], -k[:, 1], k[:, 0]
    s, c = np.sin(theta)[:, :, None], np.cos(theta)[:, :, None]
    return np.eye(3) + s * kx + (1 - c) * kx @ kx


def lbs(a: dict[str, np.ndarray], pose: np.ndarray, betas: np.ndarray,
        expr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pose the model: (55, 3) axis-angle (hand mean added by the caller), 10 betas, 10 expression coefficients."""
    sd = a["shapedirs"]
    v = a["v_template"] + sd[:, :, :10] @ betas + sd[:, :, 10:20] @ expr
    j = a["J_regressor"] @ v
    rots = rodrigues(pose)
    feat = (rots[1:] - np.eye(3)).reshape(-1)
    v = v + (a["posedirs"].reshape(-1, 486) @ feat).reshape(-1, 3)
    glob = np.zeros((55, 4, 4))
    for i in range(55):
        local = np.eye(4)
        local[:3, :3] = rots[i]
        local[:3, 3] = j[i] - (j[PARENTS[i]] if i else 0)
        glob[i] = local if i == 0 else glob[PARENTS[i]] @ local
    rel = glob.copy()
    rel[:, :3, 3] -= np.einsum("nij,nj->ni", glob[:, :3, :3], j)
    t = np.einsum("vj,jab->vab", a["weights"], rel)
    out = np.einsum("vab,vb->va", t[:, :3, :3], v) + t[:, :3, 3]
    return out, glob[:, :3, 3]


def render(verts: np.ndarray, faces: np.ndarray, view: str, size: int = 700, center: np.ndarray | None = None,
           extent: float | None = None, colors: np.ndarray | None = None) -> np.ndarray:
    """Orthographic flat-shaded render; view 'front' (camera at +z) or 'side' (camera at +x) or 'back'."""
    if view == "front":
        right, up, fwd = np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, 1.0])
    elif view == "side":
        right, up, fwd = np.array([0, 0, -1.0]), np.array([0, 1.0, 0]), np.array([1.0, 0, 0])
    elif view == "top":
        right, up, fwd = np.array([1.0, 0, 0]), np.array([0, 0, -1.0]), np.array([0, 1.0, 0])
    else:
        right, up, fwd = np.array([-1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, -1.0])
    if center is None:
        center = 0.5 * (verts.min(0) + verts.max(0))
    if extent is None:
        extent = 1.1 * np.max(verts.max(0) - verts.min(0))
    scale = size / extent
    x = ((verts - center) @ right) * scale + size / 2
    y = size / 2 - ((verts - center) @ up) * scale
    depth = verts @ fwd
    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    light = 0.3 * right + 0.5 * up + fwd
    light /= np.linalg.norm(light)
    facing = n @ fwd
    shade = np.clip(n @ light, 0.0, 1.0) * 0.75 + 0.25
    img = np.full((size, size, 3), 255, np.uint8)
    order = np.argsort(depth[faces].mean(1))
    pts = np.stack([x, y], -1)[faces] * 16
    base = np.array([200, 200, 200.0]) if colors is None else None
    for fi in order:
        col = base if colors is None else colors[fi]
        c = col * shade[fi] if facing[fi] > 0 else np.array([90, 60, 60.0])  # back faces show in dark red
        cv2.fillConvexPoly(img, pts[fi].astype(np.int32), tuple(int(t) for t in c), cv2.LINE_AA, shift=4)
    return img


def _demo_pose(a: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Relaxed hands (the model's hand mean) and a walking-like pose with jaw open and a smile."""
    pose = np.zeros((55, 3))
    pose[25:40] = a["hands_meanl"].reshape(15, 3)
    pose[40:55] = a["hands_meanr"].reshape(15, 3)
    posed = pose.copy()
    posed[16], posed[17] = (0, 0, -1.2), (0, 0, 1.2)  # arms down
    posed[18], posed[19] = (0, -1.3, 0), (0, 0.6, 0)  # elbows bent forwards
    posed[1], posed[4] = (-0.9, 0, 0), (1.2, 0, 0)  # left hip flexed, knee bent
    posed[2] = (0.3, 0, 0.15)
    posed[15] = (0.1, 0.5, 0)  # head turned to its left
    posed[22] = (0.35, 0, 0)  # jaw open
    posed[25:40] += np.tile([0, 0, -0.6], 15).reshape(15, 3)  # left hand closing
    return pose, posed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--zoom", default=None, choices=("head", "hand_l", "foot_l"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gender", default="neutral")
    args = ap.parse_args(argv)
    a = make_synthetic_arrays(args.seed, args.gender)
    f = a["f"]
    rest = a["v_template"]
    smile = np.zeros(10)
    smile[1] = 1.5
    pose, posed_pose = _demo_pose(a)
    relaxed, _ = lbs(a, pose, np.zeros(10), np.zeros(10))
    posed, _ = lbs(a, posed_pose, np.zeros(10), smile)
    joints = a["J_regressor"] @ rest
    zoom = {"head": (joints[15] + (0, 0.1, 0), 0.32), "hand_l": (joints[20] + (0.08, 0, 0), 0.26),
            "foot_l": (joints[7] + (0, -0.04, 0.05), 0.34)}
    if args.zoom:
        c, ext = zoom[args.zoom]
        views = [render(rest, f, "front", center=c, extent=ext), render(rest, f, "side", center=c, extent=ext),
                 render(rest, f, "top", center=c, extent=ext), render(relaxed, f, "front", center=c, extent=ext)]
        img = np.concatenate(views, axis=1)
    else:
        c = np.array([0, -0.35, 0.0])
        top = [render(relaxed, f, "front", center=c, extent=2.0), render(relaxed, f, "side", center=c, extent=2.0),
               render(posed, f, "front", center=c, extent=2.0), render(posed, f, "side", center=c, extent=2.0)]
        head_c, head_ext = zoom["head"]
        posed_head = posed[a["weights"][:, 15] > 0.5].mean(0) + (0, 0.02, 0)
        bottom = [render(rest, f, "front", center=head_c, extent=head_ext),
                  render(posed, f, "front", center=posed_head, extent=head_ext),
                  render(relaxed, f, "top", center=zoom["hand_l"][0], extent=zoom["hand_l"][1]),
                  render(rest, f, "side", center=zoom["foot_l"][0], extent=zoom["foot_l"][1])]
        img = np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)
    cv2.imwrite(args.out, img)
    return 0


if __name__ == "__main__":
    sys.exit(main())
