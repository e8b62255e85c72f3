"""SMPLer-X's training adapter: its model config from a training config, its own fields' checks, its losses."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torch import Tensor

from ..models.config import ConfigError
from ..models.smpler_x import SMPLerXConfig, load_smpler_x_config, smpler_x_preset
from .config import ModelSection, TrainConfig, TrainSection, _encoder_overrides, _geometry
from .losses import LossWeights
from .losses_smpler_x import TERMS, SMPLerXLossWeights, smpler_x_loss_terms
from .losses_smpler_x import smpler_x_total_loss as total_loss


def build_model_config(m: ModelSection, bbox_ratio: float) -> SMPLerXConfig:
    """SMPLer-X: preset (S32 ... H32*) or official config file, then the section's explicit overrides."""
    base = load_smpler_x_config(m.official_config) if m.official_config else smpler_x_preset(m.size)
    try:
        enc = replace(base.encoder, **_encoder_overrides(m, not m.official_config))
        # The heads read the encoder features directly, so their width follows the encoder's.
        feat_dim = m.feat_dim if m.feat_dim is not None else (m.embed_dim if m.embed_dim is not None else base.feat_dim)
        if feat_dim != enc.embed_dim:
            raise ConfigError(f"feat_dim {feat_dim} must equal embed_dim {enc.embed_dim}")
        return replace(base, encoder=enc, feat_dim=feat_dim, **_geometry(m, bbox_ratio))
    except ConfigError as exc:
        raise ConfigError(f"model: {exc}") from None


def validate(cfg: TrainConfig) -> None:
    """SMPLest-X's fields refused by name: SMPLer-X has no decoder head and losses of its own."""
    m, t = cfg.model, cfg.train
    for name in ("dim_out", "decoder_depth", "decoder_heads", "decoder_dim_head"):
        if getattr(m, name) is not None:
            raise ConfigError(f"model.{name}: SMPLer-X has no decoder head ({name} is SMPLest-X's); remove it")
    if m.task_tokens_num not in (None, 31):
        raise ConfigError("model.task_tokens_num: SMPLer-X's heads read 31 task tokens (shape, camera, expression, "
                          "jaw, 2 unused, 25 body joints); remove it")
    if t.aux_heatmap_weight:
        raise ConfigError("train.aux_heatmap_weight: SMPLer-X trains its own heat maps already (remove it)")
    if t.hand_loss:
        raise ConfigError("train.hand_loss: SMPLest-X's extra hand terms; SMPLer-X has its own hand losses (remove it)")
    if t.loss_weights != LossWeights():
        raise ConfigError("train.loss_weights: these are SMPLest-X's; set SMPLer-X's in train.smpler_x_loss_weights")


def loss_terms(out: Any, targets: dict, meta: dict, model_config: SMPLerXConfig, t: TrainSection) -> dict[str, Tensor]:
    """The loss terms of one training forward (train.loss_mode and smpler_x_loss_weights)."""
    weights = t.smpler_x_loss_weights or SMPLerXLossWeights()
    return smpler_x_loss_terms(out, targets, meta, model_config, weights, mode=t.loss_mode)


def logged_terms(values: dict[str, float]) -> dict[str, float]:
    """Every term on every rank: reference mode leaves out the box terms of a box no sample has, which can differ
    between ranks, and the ranks must reduce the same keys (an absent term adds 0 to the total)."""
    return {k: values.get(k, 0.0) for k in TERMS}


def every_param_used(loss_mode: str) -> bool:
    """Reference mode: a box-size head is unused in a batch without that box. Corrected mode: its box term is always
    there (zero when no box is valid), so every parameter is used and DDP can skip the search."""
    return loss_mode == "corrected"


__all__ = ["build_model_config", "every_param_used", "logged_terms", "loss_terms", "total_loss", "validate"]
