"""SMPLest-X's training adapter: its model config from a training config, its own fields' checks, its losses."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torch import Tensor

from ..models.config import ConfigError
from ..models.smplest_x import SMPLEST_X_PRESETS, SMPLestXConfig, load_official_config
from .config import ModelSection, TrainConfig, TrainSection, _encoder_overrides, _geometry
from .losses import loss_terms_from_output, total_loss


def build_model_config(m: ModelSection, bbox_ratio: float) -> SMPLestXConfig:
    """Preset (S/B/L/H) or official config_base.py, then the section's explicit overrides."""
    if m.official_config:
        base = load_official_config(m.official_config)
    else:
        size = m.size.upper()
        if size not in SMPLEST_X_PRESETS:
            raise ConfigError(f"model.size: unknown size {m.size!r}; choose one of {', '.join(SMPLEST_X_PRESETS)}")
        base = SMPLEST_X_PRESETS[size]
    enc_over = _encoder_overrides(m, not m.official_config)
    if not m.official_config:
        # The position table covers the patch grid of the body input, whatever its size.
        enc_over["img_size"] = tuple(m.input_body_shape)
    dec_over = {k: v for k, v in (("feat_dim", m.feat_dim), ("dim_out", m.dim_out), ("depth", m.decoder_depth),
                                  ("heads", m.decoder_heads), ("dim_head", m.decoder_dim_head)) if v is not None}
    if m.embed_dim is not None and m.feat_dim is None:
        # The decoder reads the encoder tokens directly, so its width must follow the encoder's.
        dec_over["feat_dim"] = m.embed_dim
    if m.task_tokens_num is not None:
        dec_over["task_tokens_num"] = m.task_tokens_num
    try:  # the model configs check their own sizes (bounds, divisibility) when made
        enc = replace(base.encoder, **enc_over)
        dec = replace(base.decoder, **dec_over)
    except ConfigError as exc:
        raise ConfigError(f"model: {exc}") from None
    if dec.feat_dim != enc.embed_dim:
        raise ConfigError(f"model: feat_dim {dec.feat_dim} must equal embed_dim {enc.embed_dim}")
    return replace(base, encoder=enc, decoder=dec, **_geometry(m, bbox_ratio))


def validate(cfg: TrainConfig) -> None:
    """Fields of the other family refused by name."""
    if cfg.train.smpler_x_loss_weights is not None:
        raise ConfigError(
            "train.smpler_x_loss_weights: only for model.family = \"smpler_x\" (SMPLest-X uses train.loss_weights)"
        )


def loss_terms(out: Any, targets: dict, meta: dict, model_config: SMPLestXConfig, t: TrainSection) -> dict[str, Tensor]:
    """The loss terms of one training forward (train.loss_mode, hand_loss and loss_weights)."""
    return loss_terms_from_output(out, targets, meta, hand_loss=t.hand_loss, mode=t.loss_mode, weights=t.loss_weights)


def logged_terms(values: dict[str, float]) -> dict[str, float]:
    """The terms every rank logs (SMPLest-X's are the same on every rank)."""
    return values


def every_param_used(loss_mode: str) -> bool:
    """Whether every parameter gets a gradient each step (DDP can skip its search): some heads feed no loss."""
    return False


__all__ = ["build_model_config", "every_param_used", "logged_terms", "loss_terms", "total_loss", "validate"]
