"""How every synthetic person looks: clothes, skin, hair and a face, as one colour per mesh triangle.

A one-colour mannequin seen from the front and from the back gives near mirror-image silhouettes and shading, so a
network cannot learn its heading. Real people give it away by their faces and clothes; ours do the same with a
fixed layout of regions (computed once from the body model's rest pose) and per-person colours (seeded):

* the front of the head is skin with dark eyes, the back and the crown are hair;
* the shirt's front is a light panel (a light top under a darker jacket), its back and sleeves the darker jacket;
* trousers, shoes, and skin on the neck, forearms and hands.

Only the layout is fixed: the colours vary per person, so what tells front from back is the pattern (a face, a
panel), never a colour. Training sets, held-out sets, the demo and the walks all draw people through here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..body import BodyModel

#: Regions of the body surface, indices into a person's palette.
SKIN, FACE, EYES, HAIR, SHIRT, PANEL, TROUSERS, SHOES = range(8)
NUM_REGIONS = 8

# SMPL-X joints (the first 55): which bone's skin a triangle follows decides its region.
_HEAD = (15, 22, 23, 24)
_EYE_JOINTS = (23, 24)
_SHIRT_JOINTS = (3, 6, 9, 13, 14, 16, 17)  # spine, collars and upper arms (short sleeves)
_TROUSER_JOINTS = (0, 1, 2, 4, 5)  # pelvis, thighs, shins
_SHOE_JOINTS = (7, 8, 10, 11)
_PANEL_JOINTS = (3, 6, 9)  # the torso proper: the panel sits on its front
_PANEL_HALF_WIDTH = 0.8  # of the torso's half width at the panel's height: the front but for the jacket's edges
_CROWN = 0.2  # the top fifth of the head is hair, front or back
_Y_BINS = 12  # the torso's front/back divide is found per height band (the back curves)
_SCENE_STREAM = 7_919  # keeps the demo's and walks' colour draws apart from their other seeded draws
#: Skin tones (RGB), drawn per person and varied a little.
_SKIN_TONES = np.array([[224, 172, 140], [198, 134, 96], [141, 85, 54], [92, 58, 40], [240, 200, 170]], np.float64)


def face_regions(body: BodyModel) -> np.ndarray:
    """(F,) int64 region of every triangle of the body's mesh, from its rest pose (y up, facing +z, left at +x)."""
    verts = body.v_template.detach().cpu().double().numpy()
    weights = body.lbs_weights.detach().cpu().double().numpy()
    faces = body.faces_np
    centre = verts[faces].mean(axis=1)  # (F, 3)
    bone = weights[faces].sum(axis=1).argmax(axis=1)  # the joint that moves most of the triangle
    region = np.full(len(faces), SKIN, np.int64)
    region[np.isin(bone, _SHIRT_JOINTS)] = SHIRT
    region[np.isin(bone, _TROUSER_JOINTS)] = TROUSERS
    region[np.isin(bone, _SHOE_JOINTS)] = SHOES

    head = np.isin(bone, _HEAD)
    h = centre[head]
    z_mid = (h[:, 2].min() + h[:, 2].max()) / 2.0
    y_lo, y_hi = h[:, 1].min(), h[:, 1].max()
    front = (h[:, 2] > z_mid) & (h[:, 1] < y_hi - _CROWN * (y_hi - y_lo))
    region[head] = np.where(front, FACE, HAIR)
    region[np.isin(bone, _EYE_JOINTS) & head] = EYES

    # The panel: the central strip of the torso's front half, front meaning in front of the middle of the torso's
    # depth at that height (the spine's joints lie near the back, so the joints would not do).
    torso = np.flatnonzero(np.isin(bone, _PANEL_JOINTS))
    t = centre[torso]
    edges = np.linspace(t[:, 1].min(), t[:, 1].max(), _Y_BINS + 1)
    band = np.clip(np.searchsorted(edges, t[:, 1], side="right") - 1, 0, _Y_BINS - 1)
    for b in range(_Y_BINS):
        m = band == b
        if not m.any():
            continue
        z_mid = (t[m, 2].min() + t[m, 2].max()) / 2.0
        half = np.abs(t[m, 0]).max()
        panel = (t[m, 2] > z_mid) & (np.abs(t[m, 0]) < _PANEL_HALF_WIDTH * half)
        region[torso[m][panel]] = PANEL
    return region


def person_palette(rng: np.random.Generator) -> np.ndarray:
    """(NUM_REGIONS, 3) float32 RGB of one person's regions: random clothes, a skin tone, dark hair and eyes."""
    pal = np.zeros((NUM_REGIONS, 3), np.float64)
    skin = _SKIN_TONES[int(rng.integers(len(_SKIN_TONES)))] * rng.uniform(0.85, 1.1) + rng.normal(0.0, 8.0, 3)
    pal[SKIN] = skin
    pal[FACE] = skin * rng.uniform(1.0, 1.12)  # a face a little lighter than the hands: it catches the light
    pal[EYES] = rng.uniform(10, 50, 3)
    pal[HAIR] = rng.uniform(0.35, 1.0) * np.array([90.0, 65.0, 45.0]) * rng.uniform(0.6, 1.4, 3) + rng.uniform(0, 25)
    # The front is always clearly lighter than the back (any hues): a consistent cue, whatever the light.
    pal[SHIRT] = rng.uniform(20, 140, 3)
    pal[PANEL] = rng.uniform(170, 250, 3)
    pal[TROUSERS] = rng.uniform(25, 200, 3)
    pal[SHOES] = rng.uniform(15, 110, 3)
    return np.clip(pal, 0, 255).astype(np.float32)


def face_colors(regions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(F, 3) float32 RGB of every triangle of one person drawn with a fresh palette."""
    return person_palette(rng)[regions]


def scene_face_colors(regions: np.ndarray, person_ids: Sequence[int], seed: int) -> list[np.ndarray]:
    """Each person's (F, 3) colours in a scene of ``seed``: the same person looks the same in every frame."""
    return [face_colors(regions, np.random.default_rng([_SCENE_STREAM, int(seed), int(k)])) for k in person_ids]


__all__ = ["NUM_REGIONS", "face_colors", "face_regions", "person_palette", "scene_face_colors"]
