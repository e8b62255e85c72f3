"""The SMPLest-X family: a ViT encoder and a decoder head of task tokens (the default family).

Its typed config and the S/B/L/H presets, its official ``config_base.py`` read as data, and its row of the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, overload

import torch
from torch import nn

from ..body import SMPLX_137, SMPLX_PARAM_NAMES, BodyModel
from ..geometry.cameras import project_points
from ..nn.network import NetworkOutput, SMPLestXNet
from . import Family
from .config import (
    CONFIG_LIMITS,
    INPUT_BODY_SHAPE,
    ConfigError,
    CropCamera,
    EncoderConfig,
    check_int,
    read_official_config,
)


@dataclass(frozen=True)
class DecoderConfig:
    """Decoder head sizes; depth, heads and head width are the released model's (6, 8, 64) unless set."""

    feat_dim: int = 1280
    dim_out: int = 512
    task_tokens_num: int = 80
    depth: int = 6
    heads: int = 8
    dim_head: int = 64

    def __post_init__(self) -> None:
        """Refuse sizes that are wrong or would exhaust memory, before anything is built."""
        for name in ("feat_dim", "dim_out", "task_tokens_num"):
            check_int(name, getattr(self, name))
        check_int("decoder depth", self.depth, 1, CONFIG_LIMITS["depth"])
        check_int("decoder heads", self.heads, 1, CONFIG_LIMITS["num_heads"])
        check_int("decoder dim_head", self.dim_head, 1, CONFIG_LIMITS["embed_dim"])


@dataclass(frozen=True)
class SMPLestXConfig(CropCamera):
    """Everything needed to build the SMPLest-X network and map its outputs to a camera."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SMPLestXConfig":
        """Inverse of to_dict; unknown keys are an error."""
        try:
            enc = EncoderConfig(**_tuples(data.get("encoder", {})))
            dec = DecoderConfig(**_tuples(data.get("decoder", {})))
            rest = {k: _tuple(v) for k, v in data.items() if k not in ("encoder", "decoder")}
            return cls(encoder=enc, decoder=dec, **rest)
        except TypeError as exc:
            raise ConfigError(f"invalid model config: {exc}") from None


def _tuple(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _tuples(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _tuple(v) for k, v in d.items()}


def _preset(dim: int, depth: int, heads: int) -> SMPLestXConfig:
    return SMPLestXConfig(
        encoder=EncoderConfig(embed_dim=dim, depth=depth, num_heads=heads),
        decoder=DecoderConfig(feat_dim=dim),
    )


#: The four released sizes (ViTPose S/B/L/H encoders).
SMPLEST_X_PRESETS: dict[str, SMPLestXConfig] = {
    "S": _preset(384, 12, 12),
    "B": _preset(768, 12, 12),
    "L": _preset(1024, 24, 16),
    "H": _preset(1280, 32, 16),
}


def preset(name: str) -> SMPLestXConfig:
    """Return the preset config for size S, B, L or H."""
    try:
        return SMPLEST_X_PRESETS[name.upper()]
    except KeyError:
        raise ConfigError(f"unknown model size {name!r}; choose one of {', '.join(SMPLEST_X_PRESETS)}") from None


def model_config_from_official(config: dict[str, Any], source: str = "config") -> SMPLestXConfig:
    """Build a SMPLestXConfig from the ``model`` (and ``data``) sections of an official config."""
    model = config.get("model")
    if not isinstance(model, dict) or "encoder_config" not in model or "decoder_config" not in model:
        raise ConfigError(f"{source}: missing model.encoder_config / model.decoder_config")
    e, d = model["encoder_config"], model["decoder_config"]
    try:
        encoder = EncoderConfig(
            embed_dim=int(e["embed_dim"]),
            depth=int(e["depth"]),
            num_heads=int(e["num_heads"]),
            mlp_ratio=float(e.get("mlp_ratio", 4)),
            qkv_bias=bool(e.get("qkv_bias", True)),
            task_tokens_num=int(e.get("task_tokens_num", 80)),
            img_size=tuple(int(v) for v in e.get("img_size", INPUT_BODY_SHAPE)),
            patch_size=int(e.get("patch_size", 16)),
            drop_path_rate=float(e.get("drop_path_rate", 0.0)),
        )
        decoder = DecoderConfig(
            feat_dim=int(d["feat_dim"]),
            dim_out=int(d.get("dim_out", 512)),
            task_tokens_num=int(d.get("task_tokens_num", 80)),
        )
        base = SMPLestXConfig(encoder=encoder, decoder=decoder)
        overrides: dict[str, Any] = {}
        for key in ("input_img_shape", "input_body_shape", "output_hm_shape", "focal", "princpt"):
            if key in model:
                overrides[key] = tuple(float(v) if key in ("focal", "princpt") else int(v) for v in model[key])
        if "camera_3d_size" in model:
            overrides["camera_3d_size"] = float(model["camera_3d_size"])
        data = config.get("data")
        if isinstance(data, dict) and "bbox_ratio" in data:
            overrides["bbox_ratio"] = float(data["bbox_ratio"])
        return replace(base, **overrides)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{source}: bad encoder/decoder config ({exc!r})") from None


def load_official_config(path: str | Path) -> SMPLestXConfig:
    """Read an official config file as data and return its SMPLestXConfig."""
    return model_config_from_official(read_official_config(path), source=str(path))


@dataclass
class CropPrediction:
    """Per-crop SMPL-X results, named like the ``smplx`` package (B = number of crops).

    Hand poses are the predicted poses WITHOUT the model's mean hand pose: pass them to
    an SMPL-X layer created with ``flat_hand_mean=False`` (the default), as done here.
    """

    global_orient: torch.Tensor  # (B, 3) axis-angle
    body_pose: torch.Tensor  # (B, 21, 3)
    left_hand_pose: torch.Tensor  # (B, 15, 3)
    right_hand_pose: torch.Tensor  # (B, 15, 3)
    jaw_pose: torch.Tensor  # (B, 3)
    betas: torch.Tensor  # (B, 10)
    expression: torch.Tensor  # (B, 10)
    transl: torch.Tensor  # (B, 3) metres, crop camera frame
    vertices: torch.Tensor  # (B, 10475, 3) crop camera frame, transl included
    joints: torch.Tensor  # (B, 137, 3) pelvis-relative
    joints_2d: torch.Tensor  # (B, 137, 2) pixels of the 512x384 crop
    joints_cam: torch.Tensor  # (B, 137, 3) crop camera frame (not root-relative)
    network: NetworkOutput | None = None  # raw intermediates, when asked for
    # SMPLer-X only (None for SMPLest-X): predicted part boxes, x1, y1, x2, y2 in pixels of the 512x384 crop.
    lhand_box: torch.Tensor | None = None  # (B, 4)
    rhand_box: torch.Tensor | None = None  # (B, 4)
    face_box: torch.Tensor | None = None  # (B, 4)

    def to(self, device: str | torch.device) -> "CropPrediction":
        """Move every tensor field to ``device``."""
        return CropPrediction(
            **{f.name: (v.to(device) if isinstance(v := getattr(self, f.name), torch.Tensor) else v) for f in fields(self)}
        )


@dataclass
class TrainOutput:
    """What the training losses read from one forward pass (B crops); float32, or float64 for a float64 model.

    Joints are the 137 supervision joints (``SMPLX_137``) in the reference's training conventions.
    """

    pose: torch.Tensor  # (B, 53, 3) axis-angle: root, 21 body, 15 left hand, 15 right hand, jaw
    lhand_root_pose: torch.Tensor  # (B, 3) axis-angle from the hand-root head (global left-wrist orientation)
    rhand_root_pose: torch.Tensor  # (B, 3)
    betas: torch.Tensor  # (B, 10)
    expression: torch.Tensor  # (B, 10)
    joints_rel: torch.Tensor  # (B, 137, 3) metres, pelvis-relative (the reference's ``joint_cam_wo_ra``)
    joints_part_rel: torch.Tensor  # (B, 137, 3) as joints_rel, but hands wrist-relative and face neck-relative
    joints_hm: torch.Tensor  # (B, 137, 2) projected joints in heat-map cells (x over 12, y over 16)
    img_feat: torch.Tensor | None = None  # (B, D, h, w) encoder patch features, for training-only auxiliary heads


def part_relative(joint_cam: torch.Tensor) -> torch.Tensor:
    """Make the hands of (B, 137, 3) pelvis-relative joints wrist-relative and the face neck-relative."""
    parts, j = SMPLX_137.parts, joint_cam
    lh, rh, face = parts["lhand"], parts["rhand"], parts["face"]
    # The 137 set is laid out body | left hand | right hand | face, so the pieces concatenate back in order.
    return torch.cat(
        (
            j[:, : lh.start],
            j[:, lh.start : lh.stop] - j[:, SMPLX_137.lwrist, None],
            j[:, rh.start : rh.stop] - j[:, SMPLX_137.rwrist, None],
            j[:, face.start : face.stop] - j[:, SMPLX_137.neck, None],
        ),
        dim=1,
    )


class SMPLestX(nn.Module):
    """SMPLest-X: the network plus the neutral SMPL-X layer and the crop camera."""

    def __init__(self, net: SMPLestXNet, body: BodyModel) -> None:
        super().__init__()
        self.net = net
        self.body = body
        self.register_buffer("joint_index", torch.tensor(SMPLX_137.index_in_144, dtype=torch.long), persistent=False)

    @property
    def config(self) -> SMPLestXConfig:
        """The network's config."""
        return self.net.config

    def set_attention(self, kind: str) -> "SMPLestX":
        """Attention kernel of the whole network: "sdpa" (fused, default), "eager" (the reference's) or "bf16"."""
        self.net.set_attention(kind)
        return self

    def set_grad_checkpointing(self, enable: bool = True) -> "SMPLestX":
        """Training only: trade compute for memory by recomputing encoder activations in the backward pass."""
        self.net.set_grad_checkpointing(enable)
        return self

    def project_to_crop(self, joints_cam: torch.Tensor) -> torch.Tensor:
        """Project crop-camera points to pixels of the 512x384 network input."""
        cfg = self.config
        uv = project_points(joints_cam, cfg.focal, cfg.princpt)
        # The virtual camera lives on the body input (256x192); the crop is the network input (512x384).
        sx = cfg.input_img_shape[1] / cfg.input_body_shape[1]
        sy = cfg.input_img_shape[0] / cfg.input_body_shape[0]
        return torch.stack((uv[..., 0] * sx, uv[..., 1] * sy), dim=-1)

    @overload
    def forward(
        self, crops: torch.Tensor, return_intermediates: bool = False, *, train: Literal[False] = False
    ) -> CropPrediction: ...

    @overload
    def forward(
        self, crops: torch.Tensor, return_intermediates: bool = False, *, train: Literal[True]
    ) -> TrainOutput: ...

    def forward(
        self, crops: torch.Tensor, return_intermediates: bool = False, *, train: bool = False
    ) -> CropPrediction | TrainOutput:
        """Predict SMPL-X for crops (B, 3, 512, 384) in [0, 1]; ``train=True`` returns what the losses need.

        The training forward is a keyword of ``forward`` (not a separate method) so that it runs through
        ``__call__`` and hence through DistributedDataParallel's gradient-sync hooks when the model is wrapped.
        """
        param = next(self.net.parameters())
        out = self.net(crops.to(device=param.device, dtype=param.dtype))
        body_dtype = self.body.v_template.dtype
        with torch.autocast(device_type=crops.device.type, enabled=False):
            p = {k: getattr(out, k).to(body_dtype) for k in SMPLX_PARAM_NAMES}
            mesh = self.body(**p)
            joints_cam = mesh.joints[:, self.joint_index]  # camera frame, the one body pass of both modes
            if train:
                return self._train_output(out, p, joints_cam)
            return CropPrediction(
                **p,
                vertices=mesh.vertices,
                joints=joints_cam - joints_cam[:, SMPLX_137.root : SMPLX_137.root + 1],
                joints_2d=self.project_to_crop(joints_cam),
                joints_cam=joints_cam,
                network=out if return_intermediates else None,
            )

    def _train_output(self, out: NetworkOutput, p: dict[str, torch.Tensor], joints: torch.Tensor) -> TrainOutput:
        """What the losses read, in the reference's training conventions, from the shared forward pass."""
        cfg = self.config
        body_dtype = joints.dtype
        # Same operation order as the reference (pixels of the 256x192 body input, then heat-map cells).
        uv = project_points(joints, cfg.focal, cfg.princpt)
        (hb, wb), (_, hh, wh) = cfg.input_body_shape, cfg.output_hm_shape
        proj = torch.stack((uv[..., 0] / wb * wh, uv[..., 1] / hb * hh), dim=2)
        joints_rel = joints - joints[:, SMPLX_137.root, None]
        parts = ("body_pose", "left_hand_pose", "right_hand_pose")
        pose = torch.cat((p["global_orient"][:, None], *(p[k] for k in parts), p["jaw_pose"][:, None]), dim=1)
        return TrainOutput(
            pose=pose,
            lhand_root_pose=out.lhand_root_pose.to(body_dtype),
            rhand_root_pose=out.rhand_root_pose.to(body_dtype),
            betas=p["betas"],
            expression=p["expression"],
            joints_rel=joints_rel,
            joints_part_rel=part_relative(joints_rel),
            joints_hm=proj,
            img_feat=out.img_feat,
        )

    @torch.inference_mode()
    def predict_crops(self, images: torch.Tensor) -> CropPrediction:
        """Inference on crops (B, 3, 512, 384) float in [0, 1]; no gradients."""
        if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[2:]) != tuple(self.config.input_img_shape):
            h, w = self.config.input_img_shape
            raise ValueError(f"expected crops of shape (B, 3, {h}, {w}), got {tuple(images.shape)}")
        if images.shape[0] == 0:
            # Empty outputs of the right shapes, dtypes and devices: run one blank crop and keep none of it
            # (the network's reshapes cannot infer a batch of zero).
            pred = self(torch.zeros((1, *images.shape[1:]), dtype=images.dtype, device=images.device))
            for f in fields(pred):
                value = getattr(pred, f.name)
                if isinstance(value, torch.Tensor):
                    setattr(pred, f.name, value[:0])
            return pred
        return self(images)


def infer_config(state: dict, source: str = "checkpoint") -> SMPLestXConfig:
    """An SMPLest-X size from tensor shapes; heads come from the preset of that width."""
    from .checkpoint import CheckpointError, infer_encoder

    try:
        dim_out, feat_dim = state["decoder.token_conv.weight"].shape
    except KeyError as exc:
        raise CheckpointError(f"{source}: not an SMPLest-X checkpoint (missing {exc.args[0]})") from None
    encoder = infer_encoder(state, source, "SMPLest-X", SMPLEST_X_PRESETS, "S/B/L/H", "config_base.py")
    return SMPLestXConfig(encoder=encoder, decoder=DecoderConfig(feat_dim=feat_dim, dim_out=dim_out,
                                                              task_tokens_num=encoder.task_tokens_num))


def _is_official_config(path: str | Path) -> bool:
    return True  # the default family: any official config no other family claims is read as config_base.py


FAMILY = Family(
    name="smplest_x",
    title="SMPLest-X",
    config_type=SMPLestXConfig,
    network=SMPLestXNet,
    wrapper=SMPLestX,
    presets=SMPLEST_X_PRESETS,
    infer_config=infer_config,
    owns_state=lambda state: "decoder.token_conv.weight" in state,
    is_official_config=_is_official_config,
    load_official_config=load_official_config,
    training="smplestx.train.family_smplest_x",
)
