"""The SMPLer-X family: a ViT encoder, heat-map body joints, hand / face boxes and RoI hand crops.

Its typed config, the S32/B32/L32/H32 presets, a data-only reader of its config files, and its row of the table.

An official SMPLer-X config is a Python module of top-level assignments (``main/config/config_smpler_x_*.py``)
that names an mmpose-style encoder config (``encoder_config_file``); both are parsed with ``ast`` and
read by the house's one literal reader (``config.read_assignments``). Nothing in them is executed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ..body import SMPLX_137, SMPLX_PARAM_NAMES
from ..nn.smpler_x import SMPLerXNet
from . import Family
from .smplest_x import CropPrediction, SMPLestX, part_relative

from .config import ConfigError, CropCamera, EncoderConfig, _Unreadable, check_int, check_shape, parse_config_file, read_assignments

#: Name of this family in configs, safetensors metadata and ``smplestx info``.
FAMILY_NAME = "smpler_x"


@dataclass(frozen=True)
class SMPLerXConfig(CropCamera):
    """Everything needed to build the SMPLer-X network and map its outputs to the crop camera.

    Shapes are (H, W) or (D, H, W) as in the reference config; the crop camera is SMPLest-X's (``CropCamera``).
    """

    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(task_tokens_num=31))
    feat_dim: int = 1280
    upscale: int = 4
    output_hand_hm_shape: tuple[int, int, int] = (16, 16, 16)
    input_hand_shape: tuple[int, int] = (256, 256)
    input_face_shape: tuple[int, int] = (192, 192)
    family: str = FAMILY_NAME

    def __post_init__(self) -> None:
        """Refuse non-finite or out-of-range sizes and geometry when the config is made."""
        super().__post_init__()
        check_int("feat_dim", self.feat_dim)
        check_int("upscale", self.upscale, 1, 64)
        check_shape("output_hand_hm_shape", self.output_hand_hm_shape, 3, 1024)
        check_shape("input_hand_shape", self.input_hand_shape, 2)
        check_shape("input_face_shape", self.input_face_shape, 2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SMPLerXConfig":
        """Inverse of to_dict; unknown keys are an error."""
        tup = lambda v: tuple(v) if isinstance(v, list) else v  # noqa: E731
        try:
            enc = EncoderConfig(**{k: tup(v) for k, v in data.get("encoder", {}).items()})
            rest = {k: tup(v) for k, v in data.items() if k != "encoder"}
            if rest.get("family", FAMILY_NAME) != FAMILY_NAME:
                raise ConfigError(f"not an SMPLer-X config (family {rest['family']!r})")
            return cls(encoder=enc, **rest)
        except TypeError as exc:
            raise ConfigError(f"invalid SMPLer-X config: {exc}") from None


def _preset(dim: int, depth: int, heads: int) -> SMPLerXConfig:
    return SMPLerXConfig(encoder=EncoderConfig(embed_dim=dim, depth=depth, num_heads=heads, task_tokens_num=31), feat_dim=dim)


#: The released SMPLer-X sizes (ViTPose S/B/L/H encoders, trained on 32 datasets); H32* has H32's shapes.
SMPLER_X_PRESETS: dict[str, SMPLerXConfig] = {
    "S32": _preset(384, 12, 12),
    "B32": _preset(768, 12, 12),
    "L32": _preset(1024, 24, 16),
    "H32": _preset(1280, 32, 16),
    "H32*": _preset(1280, 32, 16),
}


def smpler_x_preset(name: str) -> SMPLerXConfig:
    """Return the SMPLer-X preset for S32, B32, L32, H32 or H32* (a bare S/B/L/H means its 32 variant)."""
    key = name.upper()
    key = key + "32" if key in ("S", "B", "L", "H") else key
    try:
        return SMPLER_X_PRESETS[key]
    except KeyError:
        raise ConfigError(f"unknown SMPLer-X size {name!r}; choose one of {', '.join(SMPLER_X_PRESETS)}") from None


# ---------------------------------------------------------------------------
# Official config files, read as data.


def _get(env: dict[str, Any], key: str, path: Path, default: Any = ConfigError) -> Any:
    value = env.get(key, default)
    if value is ConfigError:
        raise ConfigError(f"{path}: missing `{key}`")
    if isinstance(value, _Unreadable):
        raise ConfigError(f"{value.where} (`{key}` must be a literal value; config files are read as data, never executed)")
    return value


def is_smpler_x_config(path: str | Path) -> bool:
    """True when the file is an SMPLer-X main config (it names an ``encoder_config_file``)."""
    try:
        tree = parse_config_file(path)
    except ConfigError:
        return False  # the official reader reports it
    return any(
        isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "encoder_config_file" for t in s.targets)
        for s in tree.body
    )


def _find_encoder_config(main: Path, name: str) -> Path:
    """The encoder config named in ``main``: beside it, or relative to ``main/`` of a SMPLer-X checkout."""
    candidates = [main.parent / name, main.parent.parent / name]
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(
        f"{main}: encoder_config_file {name!r} not found (looked in {', '.join(str(c.parent) for c in candidates)}); "
        "put the encoder config there or fix the path"
    )


def _ints(value: Any, n: int, key: str, path: Path) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or len(value) != n:
        raise ConfigError(f"{path}: `{key}` must be a sequence of {n} numbers")
    return tuple(int(v) for v in value)


def load_smpler_x_config(path: str | Path) -> SMPLerXConfig:
    """Read an official SMPLer-X config (and its encoder config) as data and return the SMPLerXConfig."""
    path = Path(path)
    env = read_assignments(path)
    enc_path = _find_encoder_config(path, str(_get(env, "encoder_config_file", path)))
    enc_env = read_assignments(enc_path)
    model = _get(enc_env, "model", enc_path)
    backbone = model.get("backbone") if isinstance(model, dict) else None
    if not isinstance(backbone, dict):
        raise ConfigError(f"{enc_path}: no `model = dict(backbone=dict(...))` found")
    if isinstance(bad := next((v for v in backbone.values() if isinstance(v, _Unreadable)), None), _Unreadable):
        raise ConfigError(f"{bad.where} (model.backbone must hold literal values)")
    try:
        encoder = EncoderConfig(
            embed_dim=int(backbone["embed_dim"]),
            depth=int(backbone["depth"]),
            num_heads=int(backbone["num_heads"]),
            mlp_ratio=float(backbone.get("mlp_ratio", 4)),
            qkv_bias=bool(backbone.get("qkv_bias", True)),
            # The reference's main config has num_task_token = 24, never read: the ViT default 31 applies.
            task_tokens_num=int(backbone.get("task_tokens_num", 31)),
            img_size=_ints(backbone.get("img_size", (256, 192)), 2, "img_size", enc_path),  # type: ignore[arg-type]
            patch_size=int(backbone.get("patch_size", 16)),
            drop_path_rate=float(backbone.get("drop_path_rate", 0.0)),
        )
    except ConfigError as exc:
        raise ConfigError(f"{enc_path}: model.backbone: {exc}") from None
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{enc_path}: bad model.backbone ({exc!r})") from None
    kw: dict[str, Any] = {"encoder": encoder, "feat_dim": int(_get(env, "feat_dim", path, encoder.embed_dim))}
    for key, n in (("input_img_shape", 2), ("input_body_shape", 2), ("output_hm_shape", 3), ("output_hand_hm_shape", 3),
                   ("input_hand_shape", 2), ("input_face_shape", 2)):
        if key in env:
            kw[key] = _ints(_get(env, key, path), n, key, path)
    for key in ("focal", "princpt"):
        if key in env:
            value = _get(env, key, path)
            kw[key] = tuple(float(v) for v in _ints_or_floats(value, key, path))
    for key in ("camera_3d_size", "bbox_ratio"):
        if key in env:
            kw[key] = float(_get(env, key, path))
    try:
        if "upscale" in env:
            kw["upscale"] = int(_get(env, "upscale", path))
        return replace(SMPLerXConfig(), **kw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{path}: bad value ({exc!r})") from None


def _ints_or_floats(value: Any, key: str, path: Path) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(isinstance(v, (int, float)) for v in value):
        raise ConfigError(f"{path}: `{key}` must be two numbers")
    return float(value[0]), float(value[1])


#: CropPrediction fields that only SMPLer-X fills.
BOX_FIELDS = ("lhand_box", "rhand_box", "face_box")


class SMPLerX(SMPLestX):
    """SMPLer-X: same body model and crop camera as SMPLest-X; predictions also carry the hand and face boxes."""

    def forward(  # type: ignore[override]
        self, crops: torch.Tensor, return_intermediates: bool = False, *, train: bool = False
    ) -> CropPrediction:
        """Predict SMPL-X and the part boxes for crops (B, 3, 512, 384) in [0, 1]."""
        if train:
            return self._smpler_x_train_forward(crops)  # type: ignore[return-value]
        pred = super().forward(crops, return_intermediates=True)
        out = pred.network
        for name in BOX_FIELDS:
            setattr(pred, name, getattr(out, name).to(pred.vertices.dtype))
        if not return_intermediates:
            pred.network = None
        return pred


    def _smpler_x_train_forward(self, crops: torch.Tensor) -> "SMPLerXTrainOutput":
        """Network + body layer with gradients, in the reference's training conventions (heat-map cells)."""
        param = next(self.net.parameters())
        out = self.net(crops.to(device=param.device, dtype=param.dtype))
        body_dtype = self.body.v_template.dtype
        cfg = self.config
        with torch.autocast(device_type=crops.device.type, enabled=False):
            p = {k: getattr(out, k).to(body_dtype) for k in SMPLX_PARAM_NAMES}
            joints = self.body(**p).joints[:, self.joint_index]
            _, hh, wh = cfg.output_hm_shape
            # Crop pixels back to heat-map cells (the reference projects on the body input, then scales).
            proj = self.project_to_crop(joints)
            proj = proj * proj.new_tensor([wh / cfg.input_img_shape[1], hh / cfg.input_img_shape[0]])
            joints_rel = joints - joints[:, SMPLX_137.root, None]
            parts = ("body_pose", "left_hand_pose", "right_hand_pose")
            pose = torch.cat((p["global_orient"], *(p[k].flatten(1) for k in parts), p["jaw_pose"]), dim=1)
            inter = out.intermediates
            return SMPLerXTrainOutput(
                pose=pose,
                betas=p["betas"],
                expression=p["expression"],
                joints_rel=joints_rel,
                joints_part_rel=part_relative(joints_rel),
                joints_hm=proj,
                joint_img=inter["joint_img_crop_cells"],
                centers={k: inter[f"{k}_center"] for k in ("lhand", "rhand", "face")},
                sizes={k: inter[f"{k}_size"] for k in ("lhand", "rhand", "face")},
                body_boxes=inter["body_boxes"],
            )


@dataclass
class SMPLerXTrainOutput:
    """What the SMPLer-X losses read from one training forward (B crops)."""

    pose: torch.Tensor  # (B, 159) axis-angle: root, 21 body, 15 left hand, 15 right hand, jaw
    betas: torch.Tensor  # (B, 10)
    expression: torch.Tensor  # (B, 10)
    joints_rel: torch.Tensor  # (B, 137, 3) pelvis-relative (the reference's joint_cam_wo_ra)
    joints_part_rel: torch.Tensor  # (B, 137, 3) hands wrist-relative, face neck-relative (smplx_joint_cam)
    joints_hm: torch.Tensor  # (B, 137, 2) projected joints in body heat-map cells (joint_proj)
    joint_img: torch.Tensor  # (B, 65, 3) heat-map joints: body in body cells, hands in hand-crop cells
    centers: dict[str, torch.Tensor]  # lhand / rhand / face: (B, 2) box centres in body heat-map cells
    sizes: dict[str, torch.Tensor]  # (B, 2) box sizes in body heat-map cells
    body_boxes: torch.Tensor  # (B, 3, 4) lhand, rhand, face boxes in pixels of the 256x192 body input (detached)


def infer_config(state: dict, source: str = "checkpoint") -> SMPLerXConfig:
    """An SMPLer-X size from tensor shapes; heads come from the preset of that width."""
    from .checkpoint import CheckpointError, infer_encoder

    try:
        feat_dim = state["body_position_net.conv.0.weight"].shape[1]
    except KeyError as exc:
        raise CheckpointError(f"{source}: not an SMPLer-X checkpoint (missing {exc.args[0]})") from None
    encoder = infer_encoder(state, source, "SMPLer-X", SMPLER_X_PRESETS, "S32/B32/L32/H32", "config file")
    deconvs = sum(1 for k, v in state.items() if k.startswith("hand_roi_net.deconv.") and k.endswith(".weight") and v.ndim == 4)
    return SMPLerXConfig(encoder=encoder, feat_dim=feat_dim, upscale=2**deconvs)


FAMILY = Family(
    name=FAMILY_NAME,
    title="SMPLer-X",
    config_type=SMPLerXConfig,
    network=SMPLerXNet,
    wrapper=SMPLerX,
    presets=SMPLER_X_PRESETS,
    infer_config=infer_config,
    owns_state=lambda state: any(k.startswith(("body_position_net.", "box_net.")) for k in state),
    is_official_config=is_smpler_x_config,
    load_official_config=load_smpler_x_config,
    training="smplestx.train.family_smpler_x",
    predicts_boxes=True,
    size_aliases=("S", "B", "L", "H"),
    preset_for=smpler_x_preset,
    # Names used by earlier SMPLer-X checkpoints.
    key_renames=(("backbone.", "encoder."), ("body_rotation_net", "body_regressor"), ("hand_rotation_net", "hand_regressor")),
)
