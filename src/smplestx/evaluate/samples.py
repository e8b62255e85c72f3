"""Test-time samples of a HumanData test set, built as the reference's ``HumanDataset`` builds them.

For every instance kept by the benchmark's filters: the image, the processed person box (no augmentation at test
time), the ground-truth body-model parameters after the dataset's adjustments, the gender and the hand / face
validity. :func:`ground_truth_meshes` turns a batch of samples into the ground-truth meshes in the camera frame.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ..errors import SmplestxError
from ..io.images import MediaError, decode_image
from ..body import BodyModel
from ..data.datasets import DatasetQuirks, image_under_root
from ..data.humandata import HumanData, HumanDataError
from ..geometry.crops import process_box

@dataclass
class TestSample:
    """One test instance: where its image is, its box, its ground truth and validity flags."""

    index: int  # instance index in the HumanData file (stable key for resuming)
    image_path: Path
    box_xywh: np.ndarray  # raw (x, y, w, h) of the file
    box: np.ndarray | None  # processed (x, y, w, h) float32, None until the image size is known
    params: dict[str, np.ndarray]  # GT parameters (axis-angle), names as the smplx package
    gender: str = "neutral"
    lhand_valid: bool = True
    rhand_valid: bool = True
    face_valid: bool = True
    vertices_path: Path | None = None
    image_shape: tuple[int, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SampleList:
    """The kept samples and, per reason, how many instances were left out."""

    samples: list[TestSample]
    skipped: Counter
    total: int


def _meta_column(meta: Mapping[str, Any], key: str, n: int) -> np.ndarray | None:
    if key not in meta:
        return None
    value = np.asarray(meta[key])
    return value if value.ndim >= 1 and value.shape[0] == n else None


def _reference_skips(meta: Mapping[str, Any], n: int) -> tuple[np.ndarray, Counter]:
    """Instances the reference drops from its meta flags: AGORA's annot_valid, UBody / COCO crowd and empty."""
    keep = np.ones(n, dtype=bool)
    why: Counter = Counter()
    annot_valid = _meta_column(meta, "annot_valid", n)
    if annot_valid is not None:
        bad = ~annot_valid.astype(bool)
        why["annot_valid is 0"] += int((bad & keep).sum())
        keep &= ~bad
    iscrowd = _meta_column(meta, "iscrowd", n)
    num_kps = _meta_column(meta, "num_keypoints", n)
    if iscrowd is not None and num_kps is not None:
        bad = iscrowd.astype(bool) | (num_kps == 0)
        valid_label = _meta_column(meta, "valid_label", n)
        if valid_label is not None:
            bad |= valid_label == 0
        why["crowd, unlabelled or no keypoints"] += int((bad & keep).sum())
        keep &= ~bad
    return keep, why


def _as_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _param(params: Mapping[str, np.ndarray], key: str, i: int) -> np.ndarray | None:
    v = params.get(key)
    if v is None:
        return None
    arr = np.asarray(v)
    if arr.ndim == 0:
        return None
    return np.asarray(arr[i], dtype=np.float32)


def _gender(value: Any) -> str:
    g = _as_str(value).strip().lower()
    if g in ("m", "male"):
        return "male"
    if g in ("f", "female"):
        return "female"
    return "neutral"


def _smplx_params(params: Mapping[str, np.ndarray], i: int, rules: DatasetQuirks,
                  hands_mean: tuple[np.ndarray, np.ndarray] | None) -> tuple[dict[str, np.ndarray], bool, bool, bool]:
    """GT SMPL-X parameters of instance i as the reference prepares them, and the hand / face validity."""
    get = lambda k: _param(params, k, i)  # noqa: E731
    betas = get("betas_neutral") if "betas_neutral" in params else get("betas")
    betas = np.zeros(10, np.float32) if betas is None or rules.zero_betas else betas.reshape(-1)[:10]
    lhand, rhand = get("left_hand_pose"), get("right_hand_pose")
    if rules.flat_hand_mean and hands_mean is not None:
        # Stored without the mean hand: subtract it so that the (mean-adding) layer reproduces the stored pose.
        lhand = None if lhand is None else lhand.reshape(-1) - hands_mean[0]
        rhand = None if rhand is None else rhand.reshape(-1) - hands_mean[1]
    lvalid = lhand is not None and not bool((lhand == 0).all())
    rvalid = rhand is not None and not bool((rhand == 0).all())
    expr = get("expression")
    face_valid = expr is not None
    jaw = get("jaw_pose")
    zeros = lambda n: np.zeros(n, np.float32)  # noqa: E731
    out = {
        "global_orient": get("global_orient").reshape(3),
        "body_pose": get("body_pose").reshape(-1)[:63].reshape(21, 3),
        # An invalid hand / face is posed with zeros (the reference's process_human_model_output).
        "left_hand_pose": (lhand.reshape(15, 3) if lvalid else zeros((15, 3))),
        "right_hand_pose": (rhand.reshape(15, 3) if rvalid else zeros((15, 3))),
        "jaw_pose": (jaw.reshape(3) if face_valid and jaw is not None else zeros(3)),
        "expression": (expr.reshape(-1)[:10] if face_valid else zeros(10)),
        "betas": betas.astype(np.float32),
        "transl": (get("transl").reshape(3) if "transl" in params else zeros(3)),
    }
    return out, lvalid, rvalid, face_valid


def _smpl_params(params: Mapping[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    get = lambda k: _param(params, k, i)  # noqa: E731
    body = get("body_pose").reshape(-1)
    betas = get("betas")
    return {
        "global_orient": get("global_orient").reshape(3),
        "body_pose": body[:69].reshape(23, 3),
        "betas": np.zeros(10, np.float32) if betas is None else betas.reshape(-1)[:10],
        "transl": get("transl").reshape(3) if "transl" in params else np.zeros(3, np.float32),
    }


def build_test_samples(hd: HumanData, image_root: str | Path, rules: DatasetQuirks, *,
                       hands_mean: tuple[np.ndarray, np.ndarray] | None = None) -> SampleList:
    """Every test sample of ``hd`` the reference would evaluate, in file order."""
    root = Path(image_root)
    n = len(hd)
    model_key = rules.body_model
    params = {} if model_key == "none" else hd.get(model_key)
    if params is None:
        raise HumanDataError(f"{hd.path}: required key '{model_key}' is missing (this benchmark's ground truth is "
                             f"{model_key.upper()} parameters)")
    needed = ("global_orient", "body_pose") if model_key != "none" else ()
    missing = [k for k in needed if k not in params]
    if missing:
        raise HumanDataError(f"{hd.path}: '{model_key}' lacks {', '.join(missing)}")
    paths = hd.image_path
    boxes = np.asarray(hd.bbox_xywh)
    meta = hd.meta
    keep, skipped = _reference_skips(meta, n)
    if rules.keep is not None:
        extra = np.asarray(rules.keep(hd), dtype=bool)
        skipped["not in this split"] += int((~extra & keep).sum())
        keep &= extra
    on_interval = (np.arange(n) % max(1, rules.interval)) == 0
    skipped[f"sample interval {rules.interval}"] += int((~on_interval & keep).sum())
    keep &= on_interval
    heights, widths = _meta_column(meta, "height", n), _meta_column(meta, "width", n)
    genders = _meta_column(meta, "gender", n) if rules.gender_from_meta else None
    vpaths = hd.get(rules.vertices_key) if rules.vertices_key else None
    kids = params.get("betas_extra")
    samples: list[TestSample] = []
    for i in np.flatnonzero(keep).tolist():
        if kids is not None and np.ndim(kids) >= 1 and np.any(np.asarray(kids[i]) != 0):
            skipped["child (betas_extra)"] += 1  # the reference leaves AGORA's kids out
            continue
        if heights is not None and widths is not None:
            shape: tuple[int, int] | None = (int(heights[i]), int(widths[i]))
        else:
            shape = rules.image_shape
        box = None
        if shape is not None:
            box = process_box(boxes[i][:4], shape[1], shape[0], ratio=rules.box_ratio)
            if box is None:
                skipped["box with no area"] += 1
                continue
        if model_key == "none":  # no ground truth (a test server's set): predictions only
            p, lvalid, rvalid, fvalid = {}, False, False, False
            gender = "neutral"
        elif model_key == "smplx":
            p, lvalid, rvalid, fvalid = _smplx_params(params, i, rules, hands_mean)
            gender = _gender(params["gender"][i]) if "gender" in params and np.ndim(params["gender"]) else "neutral"
        else:
            p, lvalid, rvalid, fvalid = _smpl_params(params, i), False, False, False
            gender = "neutral"
        if genders is not None:
            gender = _gender(genders[i])
        if not all(np.isfinite(v).all() for v in p.values()):
            skipped["NaN in the ground truth"] += 1
            continue
        samples.append(TestSample(
            index=i, image_path=image_under_root(root, _as_str(paths[i]).lstrip("/"), f"{hd.path}: instance {i}"),
            box_xywh=np.asarray(boxes[i][:4], np.float64),
            box=box, params=p, gender=gender, lhand_valid=lvalid, rhand_valid=rvalid, face_valid=fvalid,
            vertices_path=image_under_root(root, _as_str(vpaths[i]), f"{hd.path}: instance {i}") if vpaths is not None
            else None, image_shape=shape,
        ))
    return SampleList(samples=samples, skipped=skipped, total=n)


# ----------------------------------------------------------------------------------------------------------------
# Images and crops


class ImageError(SmplestxError, OSError):
    """An image of the test set is missing or unreadable (one line naming the file)."""


def load_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB as the reference's load_img (stored pixel order, EXIF orientation ignored)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise ImageError(f"{path}: cannot read the image ({e.strerror or e}); check --data-dir and that the "
                         f"benchmark's images are extracted there") from None
    try:
        return decode_image(data, str(path), reference=True)
    except MediaError:
        raise ImageError(f"{path}: not a readable image (empty, truncated or not an image file)") from None


# ----------------------------------------------------------------------------------------------------------------
# Ground-truth meshes


def _rodrigues_left(R: torch.Tensor, aa: torch.Tensor) -> torch.Tensor:
    """Axis-angle of R @ rot(aa), batched."""
    from ..geometry.rotations import axis_angle_to_rotmat, rotmat_to_axis_angle

    return rotmat_to_axis_angle(R @ axis_angle_to_rotmat(aa))


class GroundTruthBuilder:
    """Builds GT meshes in the camera frame with the gendered body models (cached per gender)."""

    def __init__(self, body_models: str | Path, rules: DatasetQuirks, device: str | torch.device = "cpu") -> None:
        self.body_models = body_models
        self.rules = rules
        self.device = torch.device(device)
        self._layers: dict[str, torch.nn.Module] = {}
        self._lock = threading.Lock()  # scoring threads share the builder: build each gender's model once

    def layer(self, gender: str) -> torch.nn.Module:
        """The (cached) body model of ``gender``."""
        with self._lock:
            return self._layer(gender)

    def _layer(self, gender: str) -> torch.nn.Module:
        if gender not in self._layers:
            if self.rules.body_model == "smpl":
                from ..body.smpl import SMPLModel

                self._layers[gender] = SMPLModel.from_dir(self.body_models, gender).to(self.device)
            else:
                self._layers[gender] = BodyModel.from_dir(self.body_models, gender, device=self.device)
        return self._layers[gender]

    def hands_mean(self) -> tuple[np.ndarray, np.ndarray]:
        """The neutral SMPL-X model's mean hand poses (45,) x2."""
        layer = self.layer("neutral") if self.rules.body_model == "smplx" else BodyModel.from_dir(self.body_models)
        return (layer.left_hand_mean.cpu().numpy().astype(np.float32),
                layer.right_hand_mean.cpu().numpy().astype(np.float32))

    @torch.no_grad()
    def meshes(self, samples: list[TestSample]) -> np.ndarray:
        """(B, V, 3) float32 GT vertices in metres, camera frame (transl and extrinsics applied)."""
        out: list[np.ndarray | None] = [None] * len(samples)
        by_gender: dict[str, list[int]] = {}
        for j, s in enumerate(samples):
            if s.vertices_path is not None:
                out[j] = _load_vertices(s.vertices_path)
            else:
                by_gender.setdefault(s.gender, []).append(j)
        for gender, idx in by_gender.items():
            layer = self.layer(gender)
            batch = {k: torch.from_numpy(np.stack([samples[j].params[k] for j in idx]).astype(np.float32))
                     .to(self.device) for k in samples[idx[0]].params}
            R = None
            if self.rules.camera_R is not None:
                R = torch.tensor(self.rules.camera_R, dtype=torch.float32, device=self.device)
                batch["global_orient"] = _rodrigues_left(R, batch["global_orient"])
            res = layer(**batch)
            verts = res.vertices
            if R is not None and self.rules.camera_t is not None:
                # The reference rotates the root about the origin; the root's own offset is then corrected.
                root = res.joints[:, :1]
                t = torch.tensor(self.rules.camera_t, dtype=torch.float32, device=self.device)
                verts = verts - root + root @ R.T + t
            arr = verts.float().cpu().numpy()
            for k, j in enumerate(idx):
                out[j] = arr[k]
        return np.stack(out).astype(np.float32)  # type: ignore[arg-type]


def _load_vertices(path: Path) -> np.ndarray:
    try:
        v = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise HumanDataError(f"{path}: cannot read the ground-truth vertices ({e})") from None
    v = np.asarray(v, dtype=np.float32).reshape(-1, 3)
    return v


__all__ = ["GroundTruthBuilder", "ImageError", "SampleList", "TestSample",
           "build_test_samples", "load_image"]
