"""The SMPLest-X family's row: a ViT encoder and a decoder head of task tokens (the default family)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import Family
from .config import SMPLEST_X_PRESETS, DecoderConfig, SMPLestXConfig, load_official_config


def _network(cfg: SMPLestXConfig) -> Any:
    from ..nn.network import SMPLestXNet

    return SMPLestXNet(cfg)


def _wrapper(net: Any, body: Any) -> Any:
    from .loading import SMPLestX

    return SMPLestX(net, body)


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
    network=_network,
    wrapper=_wrapper,
    presets=SMPLEST_X_PRESETS,
    infer_config=infer_config,
    owns_state=lambda state: "decoder.token_conv.weight" in state,
    is_official_config=_is_official_config,
    load_official_config=load_official_config,
    training="smplestx.train.family_smplest_x",
)
