"""Shape, expression and pose blend shapes and the hand PCA of the mannequin."""

from __future__ import annotations

import numpy as np

from .assembly import _Built
from .mesh_blocks import _RID, _smoothstep, REGIONS
from .skeleton import _FINGERS, _unit, FINGERS, HEAD_CENTER, MOUTH_Y, NUM_EXPR, NUM_JOINTS, NUM_SHAPE
from .skinning import _bones, _jaw_weight

def _regions_mask(b: _Built, prefixes: tuple[str, ...]) -> np.ndarray:
    """Vertices of the regions whose name starts with one of the prefixes."""
    ids = [i for i, n in enumerate(REGIONS) if n.startswith(prefixes)]
    return np.isin(b.region, ids)


def _radial(b: _Built, weights: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Unit vectors from each vertex's main bone axis (the torso's vertical axis) out to the vertex."""
    v = b.verts
    bones = _bones(joints)
    main = np.argmax(weights, axis=1)
    a, c = bones[main, 0], bones[main, 1]
    ab = c - a
    t = np.clip(np.einsum("ij,ij->i", v - a, ab) / np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12), 0, 1)
    foot = a + t[:, None] * ab
    torso = b.region == _RID["torso"]
    foot[torso] = np.column_stack([np.zeros(torso.sum()), v[torso, 1], np.full(torso.sum(), -0.01)])
    head = b.component > 0
    foot[head] = HEAD_CENTER
    return _unit(v - foot + 1e-9)


def _shape_dirs(b: _Built, weights: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(V, 3, 10) shape directions of 1-4 cm per unit (size, girth, shoulders, legs, hips, trunk, arms, ...)."""
    v = b.verts
    x, y, z = v.T
    sx = np.sign(x)
    out = np.zeros((len(v), 3, NUM_SHAPE))
    radial = _radial(b, weights, joints)
    torso = b.region == _RID["torso"]
    head = b.component > 0
    arms = _regions_mask(b, ("arm", "palm", "index", "middle", "pinky", "ring", "thumb"))
    legs = _regions_mask(b, ("leg", "foot"))
    limbs = _regions_mask(b, ("arm", "leg"))
    front = np.clip(z / 0.1, 0, 1)
    # 0: overall size, mostly stature (about 4.4 cm taller per unit)
    out[:, :, 0] = (v - joints[0]) * (0.010, 0.026, 0.010)
    # 1: weight: belly and hips most, limbs less, a little in the cheeks
    girth = np.where(torso, 0.012 + 0.012 * front * np.exp(-(((y + 0.17) / 0.12) ** 2)), 0.0)
    girth = girth + np.where(limbs, 0.007, 0.0) + np.where(head, 0.002 * (y < 0.33), 0.0)
    out[:, :, 1] = radial * girth[:, None]
    # 2: shoulder width
    sh = np.where(arms, 1.0, 0.0) + torso * _smoothstep(0.0, 0.17, np.abs(x)) * _smoothstep(-0.1, 0.08, y)
    out[:, 0, 2] = 0.015 * sx * sh
    # 3: leg length (the feet go down, the pelvis stays)
    out[:, 1, 3] = -0.03 * legs * np.clip((joints[1, 1] - y) / (joints[1, 1] - joints[7, 1]), 0, 1)
    # 4: hip width
    hip = np.where(legs, 1.0, 0.0) + torso * np.clip(np.abs(x) / 0.165, 0, 1) * _smoothstep(-0.15, -0.33, y)
    out[:, 0, 4] = 0.012 * sx * hip
    # 5: trunk length: everything above the waist moves up
    out[:, 1, 5] = 0.02 * ~legs * _smoothstep(-0.3, -0.1, y)
    # 6: arm length
    out[:, 0, 6] = 0.025 * sx * arms * np.clip((np.abs(x) - 0.19) / (joints[20, 0] - 0.19), 0, 1)
    # 7: chest depth / bust
    out[:, 2, 7] = 0.015 * torso * front ** 2 * np.exp(-(((y - 0.02) / 0.08) ** 2))
    # 8: head size (about the top of the neck)
    out[:, :, 8] = 0.05 * head[:, None] * (v - (0.0, 0.28, 0.0))
    # 9: limb and neck thickness
    neck = torso * _smoothstep(0.17, 0.2, y) * _smoothstep(0.32, 0.29, y)
    out[:, :, 9] = radial * (0.006 * limbs + 0.004 * neck)[:, None]
    return out


def _gauss(v: np.ndarray, c: tuple, r: tuple) -> np.ndarray:
    """Anisotropic Gaussian bump around c, exactly 0 where it is below 1e-3 (keeps the blend shapes sparse)."""
    q = (v - np.asarray(c)) / np.asarray(r)
    g = np.exp(-0.5 * np.sum(q * q, axis=1))
    return np.where(g > 1e-3, g, 0.0)


def _expr_dirs(b: _Built, flame: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(V, 3, 10) face-only expressions, mm per unit: jaw drop, smile, brows up/down, pucker, puff, squint, ..."""
    v = b.verts
    out = np.zeros((len(v), 3, NUM_EXPR))
    sx = np.sign(v[:, 0])
    jaw = _jaw_weight(v, b.head.lower_lip)
    cs, sn = np.cos(0.12), np.sin(0.12)
    q = v - joints[22]
    rot = np.column_stack([q[:, 0], cs * q[:, 1] - sn * q[:, 2], sn * q[:, 1] + cs * q[:, 2]])
    out[:, :, 0] = (rot - q) * jaw[:, None]
    corners = _gauss(v, (0.025, MOUTH_Y, 0.08), (0.01, 0.008, 0.02)) + _gauss(v, (-0.025, MOUTH_Y, 0.08),
                                                                            (0.01, 0.008, 0.02))
    out[:, :, 1] = corners[:, None] * np.column_stack([0.003 * sx, np.full(len(v), 0.004), np.full(len(v), -0.002)])
    brows = _gauss(v, (0.03, 0.392, 0.08), (0.018, 0.01, 0.03)) + _gauss(v, (-0.03, 0.392, 0.08), (0.018, 0.01, 0.03))
    out[:, 1, 2] = 0.004 * brows
    out[:, :, 3] = brows[:, None] * np.column_stack([-0.002 * sx, np.full(len(v), -0.003), np.zeros(len(v))])
    lips = _gauss(v, (0.0, MOUTH_Y, 0.085), (0.02, 0.01, 0.02))
    out[:, :, 4] = lips[:, None] * np.column_stack([-0.15 * v[:, 0], np.zeros(len(v)), np.full(len(v), 0.004)])
    cheeks = _gauss(v, (0.045, 0.325, 0.05), (0.015, 0.018, 0.025)) + _gauss(v, (-0.045, 0.325, 0.05),
                                                                           (0.015, 0.018, 0.025))
    out[:, 0, 5] = 0.004 * sx * cheeks
    out[:, 2, 5] = 0.002 * cheeks
    eyes = _gauss(v, (0.032, 0.36, 0.08), (0.015, 0.007, 0.03)) + _gauss(v, (-0.032, 0.36, 0.08), (0.015, 0.007, 0.03))
    out[:, 1, 6] = 0.002 * eyes
    mouth = _gauss(v, (0.0, MOUTH_Y, 0.085), (0.03, 0.015, 0.02))
    out[:, 0, 7] = 0.004 * mouth
    nose = _gauss(v, (0.0, 0.34, 0.1), (0.015, 0.015, 0.02))
    out[:, 1, 8] = 0.002 * nose
    out[:, 0, 9] = 0.004 * sx * corners
    out[:, 1, 9] = -0.001 * corners
    out[b.head.mouth] = out[b.head.mouth_source]
    mask = np.zeros(len(v), dtype=bool)
    mask[flame] = True
    out[~mask | (b.region != _RID["head"])] = 0.0  # only the face moves
    return out


def _pose_dirs(b: _Built, weights: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(V, 3, 486) sparse pose correctives: elbows and knees bulge outwards by up to 8 mm when bent."""
    v = b.verts
    out = np.zeros((len(v), 3, (NUM_JOINTS - 1) * 9))
    radial = _radial(b, weights, joints)
    for j, parent_bone, region in ((18, 16, "arm_l"), (19, 17, "arm_r"), (4, 1, "leg_l"), (5, 2, "leg_r")):
        axis = _unit(joints[j] - joints[parent_bone])
        t = (v - joints[j]) @ axis
        g = np.exp(-0.5 * (t / 0.03) ** 2) * (b.region == _RID[region])
        g = np.where(g > 0.02, g, 0.0)
        # sum of the diagonal of (R - I) is 2 (cos(angle) - 1): spread -amount/2 over the three entries
        for k in (0, 4, 8):
            out[:, :, (j - 1) * 9 + k] = -0.5 * 0.008 * g[:, None] * radial
    return out


def _hand_mean(seed_rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Relaxed finger curl (axis-angle per finger joint) of the left and right hands."""
    curl = {"index": (0.15, 0.2, 0.12), "middle": (0.2, 0.25, 0.15), "pinky": (0.3, 0.3, 0.2),
            "ring": (0.25, 0.28, 0.18), "thumb": (0.1, 0.15, 0.15)}
    left = np.zeros((15, 3))
    for k, name in enumerate(FINGERS):
        f = _FINGERS[name]
        d = _unit(np.array(f.direction))
        palm = np.array([0.0, -1.0, 0.0]) if name != "thumb" else _unit(np.array([-0.6, -0.8, 0.0]))
        axis = _unit(np.cross(d, palm))
        for i in range(3):
            left[3 * k + i] = curl[name][i] * axis
    jitter = seed_rng.normal(0.0, 0.01, (15, 3))
    left = left + jitter
    right = left * (1.0, -1.0, -1.0)  # mirror image of an axis-angle: (x, y, z) -> (x, -y, -z)
    return left.reshape(-1), right.reshape(-1)


def _hand_components(rng: np.random.Generator) -> np.ndarray:
    """A random 45 x 45 orthonormal basis (rows)."""
    q, r = np.linalg.qr(rng.normal(size=(45, 45)))
    return (q * np.sign(np.diag(r))).T
