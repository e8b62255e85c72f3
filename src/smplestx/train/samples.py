"""Training samples from a HumanData file, built as the reference's ``HumanDataset`` (train split) builds them.

One sample is ``(inputs, targets, meta_info)``:

* ``inputs["img"]``: (3, 512, 384) float32 RGB crop in [0, 1] (augmented: scale, rotation, flip, colour);
* ``targets``: ``joint_img`` / ``smplx_joint_img`` (137, 3) on the 16x12 heat-map grid + depth bin,
  ``joint_cam`` (137, 3) root-relative camera-frame joints, ``smplx_joint_cam`` (137, 3) additionally wrist- /
  neck-relative for hands / face, ``smplx_pose`` (159,) axis-angle (root, 21 body, 15 + 15 hand, jaw),
  ``smplx_shape`` (10,), ``smplx_expr`` (10,), ``{l,r}hand_bbox_center`` / ``_size`` and ``face_bbox_*`` (2,)
  on the heat-map grid, ``lhand_root`` / ``rhand_root`` (1, 3) float64 (MANO wrist orientation of hand-only
  sets), ``smplx_cam_trans`` (3,);
* ``meta_info``: ``joint_valid`` / ``joint_trunc`` / ``smplx_joint_valid`` / ``smplx_joint_trunc`` (137, 1),
  ``smplx_pose_valid`` (477,) (53 joints x 9 rotation-matrix entries), python floats ``smplx_shape_valid``,
  ``smplx_expr_valid``, ``is_3D``, ``{l,r}hand_bbox_valid``, ``face_bbox_valid``.

Arrays are float32 numpy (python floats for the flags) exactly as the reference produces them, so
``torch.utils.data.default_collate`` gives the batch the losses expect. Joint targets come from the file's
keypoints (``keypoints2d*`` / ``keypoints3d*``, 144 layer joints mapped to the 137 set); the SMPL-X layer is
only run for a set that has no 3D keypoints but a known camera (the reference's ``cam_param``), where the
projected layer joints decide the truncation flags.

Augmentation is deterministic: sample ``i`` of epoch ``e`` draws from ``np.random.default_rng([seed, e, i])``,
so worker count and resuming do not change what is produced.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import SmplestxError
from ..io.images import MediaError, read_image
from ..body.joint_sets import SMPLX_137, SMPLX_ORIG_53
from ..data.datasets import DatasetQuirks, image_under_root
from ..data.humandata import HumanData, KPS2D_KEYS, KPS3D_KEYS
from ..models.config import BBOX_RATIO, BODY_BOX_RATIO_FACTOR, INPUT_BODY_SHAPE, INPUT_IMG_SHAPE, OUTPUT_HM_SHAPE
from ..geometry.crops import crop_image, process_box

log = logging.getLogger(__name__)

#: The 137 supervision joints as indices into HumanData's 144 (or 190) SMPL-X keypoints. This is the reference's
#: annotation mapping: it equals the model's 137-joint selection except that the two eyeball entries of the face
#: part (67, 68) are taken in the opposite order (the pair is a flip pair, so flipping stays consistent).
ANNOTATION_137_IN_144: tuple[int, ...] = tuple(
    SMPLX_137.index_in_144[68] if i == 67 else SMPLX_137.index_in_144[67] if i == 68 else j
    for i, j in enumerate(SMPLX_137.index_in_144)
)
NUM_JOINTS = SMPLX_137.num_joints  # 137
NUM_ROT = SMPLX_ORIG_53.num_joints  # 53
ROOT, LWRIST, RWRIST, NECK = 0, SMPLX_137.lwrist, SMPLX_137.rwrist, SMPLX_137.neck
PART = SMPLX_137.parts
ORIG_PART = SMPLX_ORIG_53.parts
EXPR_DIM = SHAPE_DIM = 10
#: The reference's augmentation ranges (utils/data_utils.get_aug_config).
SCALE_FACTOR, ROT_FACTOR, COLOR_FACTOR, ROT_PROB, FLIP_PROB = 0.25, 30.0, 0.2, 0.6, 0.5

#: (inputs, targets, meta_info) of one sample.
Sample = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


@dataclass(frozen=True)
class TargetSpace:
    """Crop and target geometry (the reference config's model section)."""

    input_img_shape: tuple[int, int] = INPUT_IMG_SHAPE
    input_body_shape: tuple[int, int] = INPUT_BODY_SHAPE
    output_hm_shape: tuple[int, int, int] = OUTPUT_HM_SHAPE
    body_3d_size: float = 2.0
    hand_3d_size: float = 0.3
    face_3d_size: float = 0.3
    bbox_ratio: float = BBOX_RATIO
    rot_factor: float = 30.0  # augmentation: in-plane rotation, degrees per standard deviation (clipped at 2)


@dataclass
class _Annotation:
    """One person as the reference's load_data keeps it (before augmentation)."""

    img_path: str
    img_shape: tuple[int, int] | None
    bbox: np.ndarray  # raw (x, y, w, h)
    part_boxes: dict[str, np.ndarray | None]  # raw (x, y, w, h[, conf]) per part
    joint_img: np.ndarray  # (137, 2)
    joint_cam: np.ndarray | None  # (137, 3)
    joint_valid: np.ndarray  # (137, 1)
    params: dict[str, Any] = field(default_factory=dict)


class SampleImageError(SmplestxError, OSError):
    """An image of a training sample that is missing or cannot be decoded."""


def load_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image as float32 RGB (H, W, 3), ignoring EXIF orientation as the reference does."""
    try:
        img = read_image(path, reference=True)
    except MediaError:
        why = "file not found" if not os.path.exists(path) else "not a readable image (corrupt or unsupported)"
        raise SampleImageError(f"cannot read training image {path}: {why}") from None
    return img.astype(np.float32)


# --------------------------------------------------------------------------------------------------------------
# Augmentation


def draw_augmentation(
    rng: np.random.Generator, augment: bool, rot_factor: float = ROT_FACTOR
) -> tuple[float, float, np.ndarray, bool]:
    """(scale, rotation in degrees, per-channel colour scale, flip) with the reference's distributions."""
    # Always draw the same numbers in the same order, so a sample's augmentation depends only on its key.
    n_scale, u_rot, n_rot = rng.standard_normal(), rng.random(), rng.standard_normal()
    color = rng.uniform(1.0 - COLOR_FACTOR, 1.0 + COLOR_FACTOR, 3)
    u_flip = rng.random()
    if not augment:
        return 1.0, 0.0, np.ones(3), False
    scale = float(np.clip(n_scale, -1.0, 1.0) * SCALE_FACTOR + 1.0)
    rot = float(np.clip(n_rot, -2.0, 2.0) * rot_factor) if u_rot <= ROT_PROB else 0.0
    return scale, rot, color, bool(u_flip <= FLIP_PROB)


def rotation_about_z(rot_deg: float) -> np.ndarray:
    """The reference's 3D counterpart of an in-plane crop rotation: float32 rotation by -rot about the camera z."""
    a = np.deg2rad(-rot_deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]], dtype=np.float32)


def _affine_to_grid(points: np.ndarray, trans: np.ndarray, space: TargetSpace) -> np.ndarray:
    """Image pixels (K, 2) -> crop via ``trans`` -> heat-map grid (x / W * hm_w, y / H * hm_h)."""
    xy1 = np.concatenate([points, np.ones_like(points[:, :1])], axis=1)
    out = (trans @ xy1.T).T
    out[:, 0] = out[:, 0] / space.input_img_shape[1] * space.output_hm_shape[2]
    out[:, 1] = out[:, 1] / space.input_img_shape[0] * space.output_hm_shape[1]
    return out


def _swap_pairs(arr: np.ndarray, pairs: Sequence[tuple[int, int]]) -> None:
    for a, b in pairs:
        arr[[a, b]] = arr[[b, a]]


def relative_to_parts(joint_cam: np.ndarray) -> np.ndarray:
    """Root-relative joints with hands relative to their wrist and the face to the neck (reference "ra")."""
    out = joint_cam - joint_cam[ROOT, None]
    out[PART["lhand"]] -= out[LWRIST, None]
    out[PART["rhand"]] -= out[RWRIST, None]
    out[PART["face"]] -= out[NECK, None]
    return out


def joint_targets(
    joint_img: np.ndarray, joint_cam: np.ndarray, joint_valid: np.ndarray, do_flip: bool, img_shape: tuple[int, int],
    trans: np.ndarray, rot: float, space: TargetSpace, fix_quirks: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Augment annotated joints: (joint_img on the grid, joint_cam, joint_cam part-relative, valid, trunc)."""
    joint_img, joint_cam, joint_valid = joint_img.copy(), joint_cam.copy(), joint_valid.copy()
    if do_flip:
        joint_cam[:, 0] = -joint_cam[:, 0]
        joint_img[:, 0] = img_shape[1] - 1 - joint_img[:, 0]
        for arr in (joint_img, joint_cam, joint_valid):
            _swap_pairs(arr, SMPLX_137.flip_pairs)
    joint_cam = (rotation_about_z(rot) @ joint_cam.T).T
    joint_img[:, :2] = _affine_to_grid(joint_img[:, :2], trans, space)
    # The reference bounds the grid coordinates by the body input size (256 x 192), not the 16 x 12 grid, so
    # only joints left of / above the crop count as truncated; fix_quirks uses the grid.
    h, w = space.output_hm_shape[1:] if fix_quirks else space.input_body_shape
    inside = (joint_img[:, 0] >= 0) & (joint_img[:, 0] < w) & (joint_img[:, 1] >= 0) & (joint_img[:, 1] < h) \
        & (joint_img[:, 2] >= 0)
    joint_trunc = joint_valid * inside.reshape(-1, 1).astype(np.float32)
    f32 = np.float32
    return (joint_img.astype(f32), joint_cam.astype(f32), relative_to_parts(joint_cam).astype(f32),
            joint_valid.astype(f32), joint_trunc.astype(f32))


# --------------------------------------------------------------------------------------------------------------
# SMPL-X parameters


def _rows(x: Any, joints: int) -> np.ndarray | None:
    return None if x is None else np.asarray(x, dtype=np.float32).reshape(-1, 3)[:joints]


def _coeffs(x: Any, dim: int) -> np.ndarray:
    """First ``dim`` coefficients, zero-padded (files may hold more or fewer)."""
    out = np.zeros(dim, dtype=np.float32)
    if x is not None:
        v = np.asarray(x, dtype=np.float32).reshape(-1)[:dim]
        out[:len(v)] = v
    return out


@dataclass
class ParamTargets:
    """Augmented SMPL-X parameter targets and their validity (reference process_human_model_output, smplx)."""

    pose: np.ndarray  # (159,) float32
    shape: np.ndarray  # (10,)
    expr: np.ndarray  # (10,)
    rotation_valid: np.ndarray  # (53,) float32
    coord_valid: np.ndarray  # (137,) float32
    expr_valid: bool
    unflipped_pose: np.ndarray  # (53, 3) before flip / rotation, what the layer is run with


def param_targets(params: dict[str, Any], do_flip: bool, rot: float) -> ParamTargets:
    """Pose (root, body, hands, jaw), shape and expression targets; flip swaps sides and mirrors axis-angles."""
    rotation_valid = np.ones(NUM_ROT, dtype=np.float32)
    coord_valid = np.ones(NUM_JOINTS, dtype=np.float32)
    body = _rows(params.get("body_pose"), 21)
    if body is None or not body.any():
        rotation_valid[ORIG_PART["body"]] = 0
        coord_valid[PART["body"]] = 0
    body = np.zeros((21, 3), np.float32) if body is None else body
    hands = []
    for side in ("lhand", "rhand"):
        pose = _rows(params.get(f"{side}_pose"), 15)
        if pose is None or not params.get(f"{side}_valid", False):
            pose = np.zeros((15, 3), np.float32)
            rotation_valid[ORIG_PART[side]] = 0
            coord_valid[PART[side]] = 0
        hands.append(pose)
    if params.get("jaw_pose") is not None and params.get("expr") is not None and params.get("face_valid", False):
        jaw, expr, expr_valid = _rows(params["jaw_pose"], 1), _coeffs(params["expr"], EXPR_DIM), True
    else:
        jaw, expr, expr_valid = np.zeros((1, 3), np.float32), np.zeros(EXPR_DIM, np.float32), False
        rotation_valid[ORIG_PART["face"]] = 0
        coord_valid[PART["face"]] = 0
    root = _rows(params.get("root_pose"), 1)
    root = np.zeros((1, 3), np.float32) if root is None else root
    pose = np.concatenate([root, body, hands[0], hands[1], jaw]).astype(np.float32)  # (53, 3)
    unflipped = pose.copy()
    if do_flip:
        _swap_pairs(coord_valid, SMPLX_137.flip_pairs)
        _swap_pairs(pose, SMPLX_ORIG_53.flip_pairs)
        _swap_pairs(rotation_valid, SMPLX_ORIG_53.flip_pairs)
        pose[:, 1:3] *= -1  # mirroring in x negates the y and z axis-angle components
    root_mat = cv2.Rodrigues(pose[0])[0]
    pose[0] = cv2.Rodrigues(rotation_about_z(rot) @ root_mat)[0].reshape(3)
    shape = _coeffs(params.get("shape"), SHAPE_DIM)
    if (np.abs(shape) > 3).any():  # far from the mean: the reference drops the shape to the mean
        shape[:] = 0
    return ParamTargets(pose.reshape(-1), shape, expr, rotation_valid, coord_valid, expr_valid, unflipped)


def part_box(
    box_xyxy: np.ndarray | None, do_flip: bool, img_shape: tuple[int, int], trans: np.ndarray, space: TargetSpace,
) -> tuple[np.ndarray, float]:
    """A hand / face box (x1, y1, x2, y2) as its axis-aligned (2, 2) corners on the heat-map grid, and validity."""
    if box_xyxy is None:
        return np.array([[0, 0], [1, 1]], dtype=np.float32), 0.0  # dummy box, invalid
    b = np.asarray(box_xyxy, dtype=np.float32).reshape(2, 2).copy()
    if do_flip:
        b[:, 0] = img_shape[1] - b[:, 0] - 1
        b[[0, 1], 0] = b[[1, 0], 0]
    (x1, y1), (x2, y2) = b
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float32)
    grid = _affine_to_grid(corners, trans, space)
    lo, hi = grid.min(axis=0), grid.max(axis=0)
    return np.array([lo, hi], dtype=np.float32), 1.0


# --------------------------------------------------------------------------------------------------------------
# The dataset


def _sanitize_ok(boxes: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    """Vectorised ``sanitize_box(...) is not None`` for (N, 4) boxes."""
    x, y, w, h = (boxes[:, k].astype(np.float64) for k in range(4))
    x1, y1 = np.maximum(0, x), np.maximum(0, y)
    x2 = np.minimum(width - 1.0, x1 + np.maximum(0, w - 1))
    y2 = np.minimum(height - 1.0, y1 + np.maximum(0, h - 1))
    return (w * h > 0) & (x2 > x1) & (y2 > y1)


def _flag(meta: dict[str, Any], key: str, n: int) -> np.ndarray | None:
    if key not in meta:
        return None
    return np.asarray(meta[key]).reshape(n, -1)[:, 0]


class HumanDataTrainSet(Dataset):
    """Augmented training samples of one HumanData file (the reference's HumanDataset, train split)."""

    def __init__(
        self,
        annotation_npz: str | os.PathLike[str],
        image_root: str | os.PathLike[str],
        *,
        sample_interval: int = 1,
        seed: int = 0,
        augment: bool = True,
        body_models: str | os.PathLike[str] | None = None,
        traits: DatasetQuirks = DatasetQuirks(),
        space: TargetSpace = TargetSpace(),
        name: str | None = None,
        fix_reference_quirks: bool = False,
    ) -> None:
        """Index the usable annotations (the reference's filters, every ``sample_interval``-th row)."""
        if sample_interval < 1:
            raise ValueError(f"sample_interval must be >= 1, got {sample_interval}")
        self.path = Path(annotation_npz)
        self.image_root = Path(image_root)
        self.seed, self.augment, self.epoch = int(seed), bool(augment), 0
        self.traits, self.space = traits, space
        self.name = name or self.path.stem
        self.fix_quirks = bool(fix_reference_quirks)
        self.body_models = None if body_models is None else Path(body_models)
        self.hd = HumanData.open(self.path)
        self._model_key = next((k for k in ("smplx", "smpl", "smplh") if k in self.hd), None)
        if self._model_key is None:
            raise ValueError(f"{self.path}: no 'smplx', 'smpl' or 'smplh' parameters; a training set needs one")
        self._kps2d = next((k for k in KPS2D_KEYS if k in self.hd), None)
        if self._kps2d is None:
            raise ValueError(f"{self.path}: no 2D keypoints (one of {', '.join(KPS2D_KEYS)})")
        self._kps3d = next((k for k in KPS3D_KEYS if k in self.hd), None)
        self._mask = self._joint_mask()
        self._hands_mean = self._load_hands_mean() if traits.flat_hand_mean else None
        self._layer = None
        self._image_paths: np.ndarray | None = None  # read on first use (then shared by forked workers)
        self.rows = self._index(int(sample_interval))
        log.info("%s: %d of %d annotations (sample interval %d)", self.name, len(self.rows), len(self.hd),
                 sample_interval)

    # -- indexing ----------------------------------------------------------------------------------------------

    def _joint_mask(self) -> np.ndarray:
        """(137,) validity of the annotated joints: the 3D keypoints' mask if there is one, else the 2D one."""
        mapping = list(ANNOTATION_137_IN_144)
        for key in (f"{self._kps3d}_mask", "keypoints3d_mask") if self._kps3d else ():
            if key in self.hd:
                return np.asarray(self.hd[key], dtype=np.float32)[mapping]
        return np.asarray(self.hd.keypoints_mask(self._kps2d), dtype=np.float32)[mapping]

    def _image_shapes(self) -> np.ndarray | None:
        meta = self.hd.meta
        if "height" in meta and "width" in meta:
            return np.stack([np.asarray(meta["height"]).reshape(-1), np.asarray(meta["width"]).reshape(-1)], 1)
        if self.traits.image_shape is not None:
            return np.tile(np.asarray(self.traits.image_shape), (len(self.hd), 1))
        return None

    def _index(self, interval: int) -> np.ndarray:
        n = len(self.hd)
        keep = np.arange(n) % interval == 0
        meta = self.hd.meta
        flags = {k: _flag(meta, k, n) for k in ("annot_valid", "valid_label", "iscrowd", "num_keypoints")}
        if flags["annot_valid"] is not None:  # AGORA
            keep &= flags["annot_valid"].astype(bool)
        if flags["iscrowd"] is not None and flags["num_keypoints"] is not None:  # MSCOCO, UBody
            keep &= ~(flags["iscrowd"].astype(bool) | (flags["num_keypoints"] == 0))
        if flags["valid_label"] is not None:  # UBody
            keep &= flags["valid_label"] != 0
        self._shapes = self._image_shapes()
        if self._shapes is not None:
            keep &= _sanitize_ok(np.asarray(self.hd.bbox_xywh)[:, :4], self._shapes[:, 1], self._shapes[:, 0])
        params = self.hd[self._model_key]
        if "betas_extra" in params:  # AGORA kids
            keep &= ~(np.asarray(params["betas_extra"]).reshape(n, -1) != 0).any(axis=1)
        if self._kps3d is not None:
            keep &= ~self._nan_rows(self._kps3d)
        return np.flatnonzero(keep)

    def _nan_rows(self, key: str, chunk: int = 1 << 15) -> np.ndarray:
        """(N,) rows whose 137 mapped 3D joints hold a NaN, checked on the stored (maybe compressed) array."""
        stored = self.hd[key]
        mask = np.asarray(self.hd.keypoints_mask(key))
        columns = list(ANNOTATION_137_IN_144)
        if self.hd.keypoints_compressed and stored.shape[1] != mask.shape[0]:
            # Compressed: only joints with mask 1 are stored (the others read as 0, never NaN).
            position = {int(j): k for k, j in enumerate(np.flatnonzero(mask == 1))}
            columns = [position[j] for j in columns if j in position]
        out = np.zeros(stored.shape[0], dtype=bool)
        for lo in range(0, stored.shape[0], chunk):  # chunks: no full-size temporary for million-row files
            block = np.asarray(stored[lo:lo + chunk])[:, columns, :3]
            out[lo:lo + chunk] = np.isnan(block).reshape(block.shape[0], -1).any(axis=1)
        return out

    def _load_hands_mean(self) -> tuple[np.ndarray, np.ndarray]:
        from ..body.model_files import load_smplx_arrays, resolve_model_dir

        if self.body_models is None:
            raise ValueError(f"{self.name}: hand poses are stored with flat_hand_mean=True; converting them needs "
                             f"the SMPL-X model folder (body_models=...) for its hand mean")
        arrays = load_smplx_arrays(resolve_model_dir(self.body_models), "neutral")
        return (np.asarray(arrays["hands_meanl"], np.float32).reshape(15, 3),
                np.asarray(arrays["hands_meanr"], np.float32).reshape(15, 3))

    # -- dataset protocol --------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentation ``__getitem__`` draws."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> Sample:
        return self.get(index)

    def get(self, index: int, key: Sequence[int] | None = None) -> Sample:
        """Sample ``index``; its augmentation is drawn from ``default_rng([seed, *key])`` (default (epoch, index))."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples of {self.name}")
        index = int(index) % len(self)
        key = (self.epoch, index) if key is None else tuple(int(k) for k in key)
        rng = np.random.default_rng([self.seed, *key])
        return self._sample(self._annotation(int(self.rows[index])), rng)

    # -- one annotation ----------------------------------------------------------------------------------------

    def _annotation(self, row: int) -> _Annotation:
        hd = self.hd
        if self._image_paths is None:
            self._image_paths = hd.image_path
        rel = str(self._image_paths[row])
        if self.traits.strip_leading_slash:
            rel = rel[1:]
        mapping = list(ANNOTATION_137_IN_144)
        joint_img = hd.keypoints(self._kps2d, row)[mapping, :2]
        joint_cam = None if self._kps3d is None else hd.keypoints(self._kps3d, row)[mapping, :3]
        boxes = {}
        for part in ("lhand", "rhand", "face"):
            arr = hd.get(f"{part}_bbox_xywh")
            boxes[part] = None if arr is None else np.array(arr[row], dtype=np.float32)
        raw = {k: np.array(v[row]) for k, v in hd[self._model_key].items()}
        return _Annotation(
            img_path=str(image_under_root(self.image_root, rel, f"{hd.path}: row {row}")),
            img_shape=None if self._shapes is None else (int(self._shapes[row, 0]), int(self._shapes[row, 1])),
            bbox=np.array(hd.bbox_xywh[row][:4]),
            part_boxes=boxes,
            joint_img=joint_img,
            joint_cam=joint_cam,
            joint_valid=self._mask.reshape(-1, 1).copy(),
            params=self._params(raw),
        )

    def _params(self, raw: dict[str, np.ndarray]) -> dict[str, Any]:
        """Rename HumanData parameters to the reference's names and apply the per-dataset conventions."""
        p: dict[str, Any] = {
            "root_pose": raw.get("global_orient"),
            "body_pose": raw.get("body_pose"),
            "shape": raw.get("betas_neutral", raw.get("betas", np.zeros(SHAPE_DIM, np.float32))),
            "trans": raw.get("transl", np.zeros(3)),
            "lhand_pose": raw.get("left_hand_pose"),
            "rhand_pose": raw.get("right_hand_pose"),
            "jaw_pose": raw.get("jaw_pose"),
            "expr": raw.get("expression"),
        }
        for side in ("lhand_root", "rhand_root"):
            if side in raw:
                p[side] = raw[side]
        if self._model_key == "smpl":
            p["body_pose"] = np.asarray(p["body_pose"]).reshape(-1, 3)[:21]  # SMPL body on SMPL-X
        if self._model_key != "smplx" or self.traits.zero_betas:
            p["shape"] = np.zeros(SHAPE_DIM, np.float32)  # SMPL / SMPL+H betas do not fit SMPL-X
        if self._hands_mean is not None:
            for side, mean in zip(("lhand_pose", "rhand_pose"), self._hands_mean):
                if p[side] is not None:
                    p[side] = np.asarray(p[side], np.float32).reshape(15, 3) - mean
        if self.traits.hand_only:
            p["shape"], p["root_pose"], p["body_pose"] = np.zeros(10), np.zeros(3), np.zeros((21, 3))
        for side in ("lhand", "rhand"):
            pose = p[f"{side}_pose"]
            p[f"{side}_valid"] = pose is not None and bool(np.any(np.asarray(pose) != 0))
        p["face_valid"] = p["expr"] is not None
        return p

    # -- the sample --------------------------------------------------------------------------------------------

    def _sample(self, ann: _Annotation, rng: np.random.Generator) -> Sample:
        space = self.space
        img = load_rgb(ann.img_path)
        img_shape = ann.img_shape or img.shape[:2]
        bbox = process_box(ann.bbox, img_shape[1], img_shape[0], space.bbox_ratio * BODY_BOX_RATIO_FACTOR,
                           space.input_img_shape)
        if bbox is None:
            raise ValueError(f"{self.name}: annotation of {ann.img_path} has an empty person box {ann.bbox.tolist()}")
        scale, rot, color, do_flip = draw_augmentation(rng, self.augment, space.rot_factor)
        crop = crop_image(img, bbox, space.input_img_shape, scale, rot, do_flip)
        # float64 colour scaling, then float32, as the reference (patch * float64 scale, clip, astype).
        patch = np.clip(crop.patch * color[None, None, :], 0, 255).astype(np.float32)
        inputs = {"img": torch.from_numpy(np.ascontiguousarray(patch.transpose(2, 0, 1))) / 255.0}

        # Hand validity decides the hand joints' validity, whatever the keypoint mask says.
        joint_valid = ann.joint_valid.astype(np.float32)
        for side, wrist in (("lhand", LWRIST), ("rhand", RWRIST)):
            joint_valid[PART[side]] = joint_valid[wrist] = float(ann.params[f"{side}_valid"])

        dummy = ann.joint_cam is None
        joint_cam = np.zeros((NUM_JOINTS, 3), np.float32) if dummy else ann.joint_cam - ann.joint_cam[ROOT, None]
        joint_img = np.concatenate([ann.joint_img[:, :2], joint_cam[:, 2:]], axis=1)
        if not dummy:  # depth bin of the root-relative depth
            joint_img[:, 2] = (joint_img[:, 2] / (space.body_3d_size / 2) + 1) / 2.0 * space.output_hm_shape[0]
        j_img, j_cam, j_cam_ra, j_valid, j_trunc = joint_targets(
            joint_img, joint_cam, joint_valid, do_flip, img_shape, crop.trans, rot, space, self.fix_quirks)

        pt = param_targets(ann.params, do_flip, rot)
        smplx_joint_valid = pt.coord_valid[:, None]
        smplx_joint_trunc = smplx_joint_valid * self._layer_trunc(ann, pt, do_flip, img_shape, crop.trans) \
            if dummy else None

        boxes, valid = {}, {}
        for part in ("lhand", "rhand", "face"):
            boxes[part], valid[part] = part_box(self._part_xyxy(ann.part_boxes[part], img_shape), do_flip, img_shape,
                                                crop.trans, space)
        if do_flip:  # the image's left hand is now the person's right one
            boxes["lhand"], boxes["rhand"] = boxes["rhand"], boxes["lhand"]
            valid["lhand"], valid["rhand"] = valid["rhand"], valid["lhand"]

        roots = {s: np.asarray(ann.params.get(s, np.zeros((1, 3))), dtype=np.float64).reshape(1, 3)
                 for s in ("lhand_root", "rhand_root")}
        if do_flip and self.fix_quirks:  # the reference leaves the hand roots unflipped
            roots = {"lhand_root": roots["rhand_root"] * [1, -1, -1], "rhand_root": roots["lhand_root"] * [1, -1, -1]}

        nan0 = np.nan_to_num
        targets = {
            "joint_img": nan0(j_img, nan=0.0),
            "smplx_joint_img": nan0(j_img, nan=0.0),
            "joint_cam": nan0(j_cam, nan=0.0),
            "smplx_joint_cam": nan0(j_cam_ra, nan=0.0),
            "smplx_pose": nan0(pt.pose, nan=0.0),
            "smplx_shape": pt.shape,
            "smplx_expr": pt.expr,
        }
        for part in ("lhand", "rhand", "face"):
            targets[f"{part}_bbox_center"] = (boxes[part][0] + boxes[part][1]) / 2.0
            targets[f"{part}_bbox_size"] = boxes[part][1] - boxes[part][0]
        targets.update(roots)
        targets["smplx_cam_trans"] = _coeffs(ann.params["trans"], 3)
        meta_info = {
            "joint_valid": j_valid,
            "joint_trunc": j_trunc,
            "smplx_joint_valid": smplx_joint_valid if dummy else j_valid,
            "smplx_joint_trunc": smplx_joint_trunc if dummy else j_trunc,
            "smplx_pose_valid": np.repeat(pt.rotation_valid, 9).astype(np.float32),
            "smplx_shape_valid": float(bool(pt.shape.any())),
            "smplx_expr_valid": float(pt.expr_valid),
            "is_3D": 0.0 if dummy else 1.0,
            "lhand_bbox_valid": valid["lhand"],
            "rhand_bbox_valid": valid["rhand"],
            "face_bbox_valid": valid["face"],
        }
        return inputs, targets, meta_info

    def _part_xyxy(self, box: np.ndarray | None, img_shape: tuple[int, int]) -> np.ndarray | None:
        """A part box of the file (confidence last) as the processed (x1, y1, x2, y2) the reference keeps."""
        if box is None or not box[-1] > 0:
            return None
        out = process_box(box[:4], img_shape[1], img_shape[0], self.space.bbox_ratio, self.space.input_img_shape)
        if out is None:
            return None
        out[2:] += out[:2]
        return out

    # -- no 3D keypoints: truncation from the SMPL-X layer -----------------------------------------------------

    def _layer_trunc(self, ann: _Annotation, pt: ParamTargets, do_flip: bool, img_shape: tuple[int, int],
                     trans: np.ndarray) -> np.ndarray:
        """(137, 1) truncation of the GT SMPL-X joints, as the reference computes it for sets without 3D joints.

        Without a camera the reference compares against the annotation's zero depth, so every joint counts as
        truncated; with the set's camera it projects the layer's joints.
        """
        if self.traits.focal is None or self.traits.princpt is None:
            return np.zeros((NUM_JOINTS, 1), np.float32)
        joint_cam = self._layer_joints(ann, pt)
        space = self.space
        z = joint_cam[:, 2]
        img = np.stack([joint_cam[:, 0] / z * self.traits.focal[0] + self.traits.princpt[0],
                        joint_cam[:, 1] / z * self.traits.focal[1] + self.traits.princpt[1], z], axis=1)
        original = img.copy()
        rel = relative_to_parts(joint_cam)
        sizes = np.full(NUM_JOINTS, space.face_3d_size, np.float32)
        sizes[PART["body"]] = space.body_3d_size
        sizes[PART["hand"]] = space.hand_3d_size
        img[:, 2] = (rel[:, 2] / (sizes / 2) + 1) / 2.0 * space.output_hm_shape[0]
        if do_flip:
            img[:, 0] = img_shape[1] - 1 - img[:, 0]
            _swap_pairs(img, SMPLX_137.flip_pairs)
        img[:, :2] = _affine_to_grid(img[:, :2], trans, space)
        d, h, w = space.output_hm_shape
        ok = (original[:, 0] > 0) & (img[:, 0] >= 0) & (img[:, 0] < w) & (original[:, 1] > 0) & (img[:, 1] >= 0) \
            & (img[:, 1] < h) & (original[:, 2] > 0) & (img[:, 2] >= 0) & (img[:, 2] < d)
        return ok.reshape(-1, 1).astype(np.float32)

    def _layer_joints(self, ann: _Annotation, pt: ParamTargets) -> np.ndarray:
        """The 137 joints of the (unaugmented) GT parameters in the camera frame, neutral layer."""
        if self._layer is None:
            from ..body import BodyModel

            if self.body_models is None:
                raise ValueError(f"{self.name}: samples without 3D keypoints need the SMPL-X model folder "
                                 f"(body_models=...) to compute their joint truncation")
            self._layer = BodyModel.from_dir(self.body_models, "neutral")
        p = torch.from_numpy(pt.unflipped_pose)
        with torch.no_grad():
            out = self._layer(global_orient=p[None, 0], body_pose=p[None, 1:22], left_hand_pose=p[None, 22:37],
                              right_hand_pose=p[None, 37:52], jaw_pose=p[None, 52],
                              betas=torch.from_numpy(_coeffs(ann.params["shape"], SHAPE_DIM))[None],
                              expression=torch.from_numpy(pt.expr)[None],
                              transl=torch.from_numpy(_coeffs(ann.params["trans"], 3))[None])
        return out.select(SMPLX_137)[0].numpy().astype(np.float32)


__all__ = [
    "ANNOTATION_137_IN_144", "HumanDataTrainSet", "ParamTargets", "Sample", "SampleImageError",
    "TargetSpace",
    "draw_augmentation", "joint_targets", "load_rgb", "param_targets", "part_box", "relative_to_parts",
    "rotation_about_z",
]
