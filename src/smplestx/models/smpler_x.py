"""The SMPLer-X family's row: a ViT encoder, heat-map body joints, hand / face boxes and RoI hand crops."""

from __future__ import annotations

from typing import Any

from . import Family
from .config_smpler_x import FAMILY as NAME
from .config_smpler_x import SMPLER_X_PRESETS, SMPLerXConfig, is_smpler_x_config, load_smpler_x_config, smpler_x_preset


def _network(cfg: SMPLerXConfig) -> Any:
    from ..nn.smpler_x import SMPLerXNet

    return SMPLerXNet(cfg)


def _wrapper(net: Any, body: Any) -> Any:
    from .loading import SMPLerX

    return SMPLerX(net, body)


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
    name=NAME,
    title="SMPLer-X",
    config_type=SMPLerXConfig,
    network=_network,
    wrapper=_wrapper,
    presets=SMPLER_X_PRESETS,
    infer_config=infer_config,
    owns_state=lambda state: any(k.startswith(("body_position_net.", "box_net.")) for k in state),
    is_official_config=is_smpler_x_config,
    load_official_config=load_smpler_x_config,
    training="smplestx.train.family_smpler_x",
    predicts_boxes=True,
    size_aliases=("S", "B", "L", "H"),
    preset_for=smpler_x_preset,
)
