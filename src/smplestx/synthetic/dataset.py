"""A synthetic SMPL-X training / test set: rendered mannequins at random parameters, written as real HumanData.

Every image shows one or two mannequins (posed SMPL-X meshes) over a random background, seen by a random
pinhole camera. The annotations go into ONE HumanData ``.npz`` with the keys a real SMPLest-X dataset has, one row
per person, so the training dataset and the evaluation read it like any other HumanData file:

* ``image_path`` (N,) str, relative to ``out_dir/images``; ``bbox_xywh`` (N, 5) body box (tight box of the
  projected mesh grown 1.2x about its centre, as the mmhuman3d converters pad it) + confidence 1;
  ``lhand_bbox_xywh`` / ``rhand_bbox_xywh`` / ``face_bbox_xywh`` (N, 5) from the part keypoints, confidence 1 when
  the box centre lies in the image else 0;
* ``keypoints3d_smplx`` (N, 144, 4) the body layer's 144 joints in the camera frame (metres) + confidence,
  ``keypoints2d_smplx`` (N, 144, 3) their exact pinhole projection with the meta camera + confidence, their
  ``*_mask`` (144,), stored compressed (``__keypoints_compressed__`` True, as real files are);
* ``smplx`` dict of (N, ...) float32 parameters in the camera frame (``global_orient``, ``body_pose`` (N, 21, 3),
  ``betas`` (N, 10), ``transl``, ``left_hand_pose`` / ``right_hand_pose`` (N, 15, 3) in the
  ``flat_hand_mean=False`` convention, ``jaw_pose``, ``expression`` (N, 10));
* ``meta`` dict: ``gender`` (list of str), ``height`` / ``width`` (N,), ``focal_length`` / ``principal_point``
  (N, 2).

Ground truth is exact: the stored parameters through ``BodyModel(gender)`` with ``transl`` give the rendered
mesh and ``keypoints3d_smplx``, and projecting those with the meta camera gives ``keypoints2d_smplx``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np
import torch

from ..body import BodyModel
from ..data.humandata import write_humandata
from ..render import Renderer
from .backgrounds import photometric, random_background
from .look import face_colors, face_regions
from .pose_prior import random_smplx_params

log = logging.getLogger(__name__)

#: Output joints of the layer (55 kinematic + 21 vertex joints + 68 face landmarks).
NUM_KEYPOINTS = 144
#: Keypoints (in the layer's 144) bounding each part box: wrist + 15 finger joints + 5 finger tips; face points.
_LHAND_KPS = (20, *range(25, 40), *range(66, 71))
_RHAND_KPS = (21, *range(40, 55), *range(71, 76))
_FACE_KPS = (15, 22, *range(55, 60), *range(76, 144))
#: The converters of real HumanData files pad the tight keypoint box by this factor.
BOX_PAD = 1.2
_PERSON_HEIGHT_M = 1.75
_PLACE_TRIES = 12
def _light(rng: np.random.Generator) -> tuple[tuple[float, float, float], float]:
    """A light direction (towards the light, camera frame, from the camera's side) and an ambient level."""
    d = np.array([rng.uniform(-0.9, 0.9), rng.uniform(-0.9, 0.4), -1.0])
    return tuple(float(v) for v in d), float(rng.uniform(0.2, 0.6))


def _project(points: np.ndarray, focal: np.ndarray, princpt: np.ndarray) -> np.ndarray:
    """Exact pinhole projection of (..., 3) camera-frame points (no depth epsilon)."""
    return points[..., :2] / points[..., 2:3] * focal + princpt


def _padded_box(uv: np.ndarray, pad: float = BOX_PAD) -> np.ndarray:
    """(x, y, w, h) of the tight box of (K, 2) points grown by ``pad`` about its centre."""
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    centre, size = (lo + hi) / 2.0, (hi - lo) * pad
    return np.array([*(centre - size / 2.0), *size], dtype=np.float64)


def _place(
    verts: np.ndarray, pelvis: np.ndarray, focal: np.ndarray, princpt: np.ndarray, size: tuple[int, int],
    slot: float, rng: np.random.Generator, frac: float | None = None,
) -> np.ndarray:
    """Camera-frame pelvis position that puts the posed mesh (pelvis at ``pelvis``) inside the image.

    ``slot`` is the wanted horizontal centre (pixels) of the person's box; ``frac`` the wanted height of a
    1.75 m person as a fraction of the image height (drawn when None).
    """
    width, height = size
    frac = rng.uniform(0.45, 0.9) if frac is None else frac
    z = focal[1] * _PERSON_HEIGHT_M / (frac * height)
    u = slot + rng.normal(0.0, 0.03) * width
    v = height * (0.5 + rng.normal(0.0, 0.04))
    local = verts - pelvis
    for _ in range(_PLACE_TRIES):
        target = np.array([(u - princpt[0]) / focal[0] * z, (v - princpt[1]) / focal[1] * z, z])
        uv = _project(local + target, focal, princpt)
        lo, hi = uv.min(axis=0), uv.max(axis=0)
        # Re-centre the mesh box on the wanted centre (perspective makes the pelvis-based guess approximate).
        shift = np.array([u, v]) - (lo + hi) / 2.0
        target[:2] += shift / focal * z
        uv = _project(local + target, focal, princpt)
        lo, hi = uv.min(axis=0), uv.max(axis=0)
        if lo[0] >= 1 and lo[1] >= 1 and hi[0] <= width - 2 and hi[1] <= height - 2:
            return target
        z *= 1.15  # too big or too close to an edge: step back, aim nearer the middle
        u = 0.5 * (u + slot)
        v = 0.5 * (v + height / 2.0)
    return target


def _truncate(
    target: np.ndarray, local: np.ndarray, focal: np.ndarray, princpt: np.ndarray, size: tuple[int, int],
    rng: np.random.Generator,
) -> np.ndarray:
    """Move a placed person sideways so that 15-45 % of its box lies beyond one image border (mostly the bottom)."""
    uv = _project(local + target, focal, princpt)
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    side = int(rng.choice(4, p=[0.5, 0.2, 0.2, 0.1]))  # bottom, left, right, top
    q = rng.uniform(0.15, 0.45)
    axis = 1 if side in (0, 3) else 0
    extent = hi[axis] - lo[axis]
    limit = size[axis]
    shift = (limit - hi[axis] + q * extent) if side in (0, 2) else -(lo[axis] + q * extent)
    out = target.copy()
    out[axis] += shift / focal[axis] * target[2]
    return out


def _load_bodies(body_dir: Path, genders: Sequence[str]) -> dict[str, BodyModel]:
    # float64: the stored float32 parameters then give joints / meshes accurate to well below 1e-5 m.
    return {g: BodyModel.from_dir(body_dir, g, dtype=torch.float64) for g in sorted(set(genders))}


def _forward(body: BodyModel, params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (B, V, 3) and the 144 joints (B, 144, 3), float64, without translation."""
    with torch.no_grad():
        out = body(**{k: torch.as_tensor(np.asarray(v), dtype=body.dtype) for k, v in params.items()})
    return out.vertices.double().numpy(), out.joints.double().numpy()


def write_synthetic_dataset(
    out_dir: str | Path,
    num: int,
    *,
    seed: int = 0,
    split: str = "train",
    body_models: str | Path | Mapping[str, BodyModel] | None = None,
    image_size: tuple[int, int] = (640, 480),
    people_per_image: tuple[int, int] = (1, 2),
    genders: Sequence[str] = ("neutral",),
    jpeg_quality: int = 92,
    truncation: float = 0.0,
    occlusion: float = 0.0,
) -> Path:
    """Render ``num`` images of random mannequins into ``out_dir/images/{split}/`` and write their HumanData.

    Returns the annotation file ``out_dir/annotations/synthetic_{split}.npz``. ``body_models`` is a SMPL-X model
    folder, or already loaded models by gender; when None a synthetic body is written to ``out_dir/body_models``
    and used. Image ``i`` depends only on
    (``seed``, ``i``), so a larger ``num`` extends a smaller one. ``genders`` are drawn per person (the body model
    of that gender renders it and ``meta['gender']`` records it). ``truncation`` is the chance that a person is
    cut by an image border (its box is then the padded box of its visible part), ``occlusion`` the chance that
    the second and later people of an image stand in front of or behind the first, overlapping it.
    """
    for name, p in (("truncation", truncation), ("occlusion", occlusion)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
    if num < 1:
        raise ValueError(f"num must be at least 1, got {num}")
    lo_people, hi_people = (people_per_image, people_per_image) if isinstance(people_per_image, int) \
        else people_per_image
    if not 1 <= lo_people <= hi_people:
        raise ValueError(f"people_per_image must be >= 1 (an int or a (min, max) pair), got {people_per_image}")
    out = Path(out_dir)
    genders = tuple(g.lower() for g in genders)
    if isinstance(body_models, Mapping):
        missing = sorted(set(genders) - set(body_models))
        if missing:
            raise ValueError(f"body_models has no model for gender(s) {', '.join(missing)}")
        bodies = dict(body_models)
    else:
        body_dir = out / "body_models" if body_models is None else Path(body_models)
        if body_models is None and not (body_dir / "smplx" / "SMPLX_NEUTRAL.npz").is_file():
            from .smplx_model import write_synthetic_body

            write_synthetic_body(body_dir, seed=0)
        bodies = _load_bodies(body_dir, genders)
    width, height = (int(image_size[0]), int(image_size[1]))
    image_dir = out / "images" / split
    image_dir.mkdir(parents=True, exist_ok=True)
    renderer = Renderer(next(iter(bodies.values())).faces_np, alpha=1.0)
    regions = face_regions(next(iter(bodies.values())))  # every gender shares the topology and its layout

    rows: dict[str, list] = {k: [] for k in ("image_path", "bbox", "lhand", "rhand", "face", "kp3d", "kp2d",
                                             "focal", "princpt", "gender")}
    params_rows: dict[str, list] = {}
    for i in range(num):
        rng = np.random.default_rng([seed, i])
        count = int(rng.integers(lo_people, hi_people + 1))
        f = rng.uniform(0.6, 2.0) * max(width, height)  # wide-angle to telephoto
        focal = np.array([f, f])
        princpt = np.array([width / 2.0, height / 2.0]) + rng.normal(0.0, 0.01, 2) * (width, height)
        people = []
        overlap = count > 1 and rng.random() < occlusion
        first = (width / 2.0, rng.uniform(0.45, 0.8))
        for j in range(count):
            gender = genders[int(rng.integers(len(genders)))]
            # float32 first: the stored parameters are exactly the ones that made the mesh.
            params = {k: v.astype(np.float32) for k, v in random_smplx_params(rng).items()}
            verts, joints = _forward(bodies[gender], {k: v[None] for k, v in params.items()})
            if overlap:
                # Overlapping the first person, clearly nearer or farther (no interpenetration).
                ratio = rng.uniform(1.25, 1.5) if rng.random() < 0.5 else rng.uniform(0.6, 0.8)
                slot = first[0] + (rng.uniform(-0.3, 0.3) * width * first[1] if j else 0.0)
                frac = first[1] * (ratio if j else 1.0)
            else:
                slot, frac = width * (j + 0.5) / count, None  # people side by side, each in its own column
            pelvis = _place(verts[0], joints[0, 0], focal, princpt, (width, height), slot, rng, frac)
            truncated = rng.random() < truncation
            if truncated:
                pelvis = _truncate(pelvis, verts[0] - joints[0, 0], focal, princpt, (width, height), rng)
            params["transl"] = (pelvis - joints[0, 0]).astype(np.float32)
            t = params["transl"].astype(np.float64)
            people.append((gender, params, verts[0] + t, joints[0] + t))
        background = random_background(width, height, rng)
        tints = [face_colors(regions, rng) for _ in people]
        renderer.light_dir, renderer.ambient = _light(rng)
        # One z-buffer: the renderer resolves occlusions between meshes whatever their order.
        img = renderer.render(background, [p[2] for p in people], [focal] * count, [princpt] * count,
                              face_colors=tints)
        img = photometric(img, rng)
        rel = f"{split}/{i:06d}.jpg"
        if not cv2.imwrite(str(out / "images" / rel), np.ascontiguousarray(img[:, :, ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]):
            raise OSError(f"could not write {out / 'images' / rel}")
        for gender, params, verts, joints in people:
            uv = _project(joints, focal, princpt)
            rows["image_path"].append(rel)
            # The box of the visible part: a person cut by a border is boxed as a detector would box it.
            visible = np.clip(_project(verts, focal, princpt), 0.0, [width - 1.0, height - 1.0])
            rows["bbox"].append([*_padded_box(visible), 1.0])
            for key, ids in (("lhand", _LHAND_KPS), ("rhand", _RHAND_KPS), ("face", _FACE_KPS)):
                box = _padded_box(uv[list(ids)])
                cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
                rows[key].append([*box, float(0 <= cx < width and 0 <= cy < height)])
            ones = np.ones((NUM_KEYPOINTS, 1))
            rows["kp3d"].append(np.concatenate([joints, ones], axis=1))
            rows["kp2d"].append(np.concatenate([uv, ones], axis=1))
            rows["focal"].append(focal)
            rows["princpt"].append(princpt)
            rows["gender"].append(gender)
            for k, v in params.items():
                params_rows.setdefault(k, []).append(v)

    n = len(rows["image_path"])
    mask = np.ones(NUM_KEYPOINTS, dtype=np.float32)
    data = {
        "image_path": np.array(rows["image_path"], dtype=str),
        "bbox_xywh": np.array(rows["bbox"], dtype=np.float32),
        "lhand_bbox_xywh": np.array(rows["lhand"], dtype=np.float32),
        "rhand_bbox_xywh": np.array(rows["rhand"], dtype=np.float32),
        "face_bbox_xywh": np.array(rows["face"], dtype=np.float32),
        "keypoints3d_smplx": np.array(rows["kp3d"], dtype=np.float32),
        "keypoints3d_smplx_mask": mask,
        "keypoints2d_smplx": np.array(rows["kp2d"], dtype=np.float32),
        "keypoints2d_smplx_mask": mask.copy(),
        "config": "synthetic",
        "smplx": {k: np.stack(v).astype(np.float32) for k, v in params_rows.items()},
        "meta": {
            "gender": list(rows["gender"]),
            "height": np.full(n, height, dtype=np.int64),
            "width": np.full(n, width, dtype=np.int64),
            "focal_length": np.array(rows["focal"], dtype=np.float32),
            "principal_point": np.array(rows["princpt"], dtype=np.float32),
        },
    }
    path = write_humandata(out / "annotations" / f"synthetic_{split}.npz", data, compress_keypoints=True)
    log.info("wrote %d synthetic images (%d people) to %s", num, n, out)
    return path


__all__ = ["BOX_PAD", "NUM_KEYPOINTS", "random_background", "random_smplx_params", "write_synthetic_dataset"]


def person_crops(body: BodyModel, num: int, *, seed: int = 0, size: tuple[int, int] = (384, 512),
                 focal: float | None = None) -> np.ndarray:
    """``num`` network-input crops (N, H, W, 3) uint8 RGB, each one random mannequin centred and filling most of it.

    ``size`` is (width, height); ``focal`` defaults to the image height (a crop of a person, as a detector's box
    makes). Crop ``i`` depends only on (``seed``, ``i``): a fixed set for checks that must repeat (the precision
    calibration's accuracy bound).
    """
    width, height = int(size[0]), int(size[1])
    f = float(focal or height)
    focal_xy, princpt = np.array([f, f]), np.array([width / 2.0, height / 2.0])
    renderer = Renderer(body.faces_np, alpha=1.0)
    regions = face_regions(body)
    crops = []
    for i in range(num):
        rng = np.random.default_rng([seed, i])
        params = {k: v.astype(np.float32)[None] for k, v in random_smplx_params(rng).items()}
        verts, joints = _forward(body, params)
        pelvis = _place(verts[0], joints[0, 0], focal_xy, princpt, (width, height), width / 2.0, rng)
        mesh = verts[0] - joints[0, 0] + pelvis
        crops.append(renderer.render(random_background(width, height, rng), [mesh], [focal_xy], [princpt],
                                     face_colors=[face_colors(regions, rng)]))
    return np.stack(crops)
