"""The family table: both families are found by config, network, weights and config file, and a third family
is one module's row: checkpoints, ONNX outputs, the precision cache and training configs take it unchanged."""

from __future__ import annotations

import sys
import types
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest
import torch
from torch import nn

from smplestx import models
from smplestx.models import (
    Family,
    config_from_dict,
    families,
    family_named,
    family_of_config,
    family_of_network,
    family_of_official_config,
    family_of_state,
    register,
    unregister,
)
from smplestx.models.config import ConfigError, CropCamera, EncoderConfig
from smplestx.models.smplest_x import SMPLestXConfig, preset
from smplestx.models.smpler_x import SMPLerXConfig, smpler_x_preset
from smplestx.nn.vit import ViTEncoder


def test_builtin_families_are_found_by_every_key(tmp_path):
    assert list(families()) == ["smplest_x", "smpler_x"]
    assert family_of_config(preset("S")).name == "smplest_x"
    assert family_of_config(smpler_x_preset("S32")).name == "smpler_x"
    assert family_of_state({"decoder.token_conv.weight": 0}).name == "smplest_x"
    assert family_of_state({"box_net.deconv.0.weight": 0}).name == "smpler_x"
    assert family_of_state({}).name == "smplest_x"  # nothing claims it: the default family
    assert type(config_from_dict(smpler_x_preset("B32").to_dict())) is SMPLerXConfig
    assert type(config_from_dict(preset("B").to_dict())) is SMPLestXConfig  # SMPLest-X dicts carry no family key
    smpler_file = tmp_path / "config_smpler_x_s32.py"
    smpler_file.write_text("encoder_config_file = 'vit_small.py'\n")
    assert family_of_official_config(smpler_file).name == "smpler_x"
    base = tmp_path / "config_base.py"
    base.write_text("feat_dim = 1280\n")
    assert family_of_official_config(base).name == "smplest_x"
    assert family_named("smpler_x").predicts_boxes and not family_named("smplest_x").predicts_boxes
    assert family_named("smpler_x").knows_size("h") and family_named("smpler_x").preset("S") == smpler_x_preset("S32")
    with pytest.raises(KeyError, match="unknown model family 'nope'"):
        family_named("nope")
    with pytest.raises(TypeError, match="no model family"):
        family_of_config(EncoderConfig())
    with pytest.raises(ConfigError, match="unknown model family 'nope'"):
        config_from_dict({"family": "nope"})


def test_builtin_rows_cannot_be_replaced_or_removed():
    row = family_named("smpler_x")
    with pytest.raises(ValueError, match="registered already"):
        register(Family(**{**{f: getattr(row, f) for f in row.__dataclass_fields__}, "title": "impostor"}))
    with pytest.raises(ValueError, match="built-in"):
        unregister("smplest_x")


# ------------------------------------------------------------------------------------------------------------
# A toy third family: a config, a network, detection, a training adapter; nothing else in the package changes.


@dataclass(frozen=True)
class ToyConfig(CropCamera):
    """A tiny ViT with one linear head."""

    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(embed_dim=16, depth=1, num_heads=2,
                                                                        task_tokens_num=1, img_size=(32, 32)))
    outputs: int = 3
    family: str = "toy"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ToyConfig":
        enc = EncoderConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in data["encoder"].items()})
        rest = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k != "encoder"}
        return cls(encoder=enc, **rest)


class ToyNet(nn.Module):
    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.config = config
        e = config.encoder
        self.encoder = ViTEncoder(e.embed_dim, e.depth, e.num_heads, task_tokens_num=e.task_tokens_num,
                                  img_size=e.img_size, patch_size=e.patch_size)
        self.toy_head = nn.Linear(e.embed_dim, config.outputs)


def _toy_adapter() -> types.ModuleType:
    adapter = types.ModuleType("toy_family_training")
    adapter.build_model_config = lambda m, bbox_ratio: ToyConfig(bbox_ratio=bbox_ratio)
    adapter.validate = lambda cfg: None
    return adapter


@pytest.fixture
def toy_family(monkeypatch):
    monkeypatch.setitem(sys.modules, "toy_family_training", _toy_adapter())
    row = register(Family(
        name="toy", title="Toy", config_type=ToyConfig, network=ToyNet, wrapper=lambda net, body: net,
        presets={"T": ToyConfig()}, infer_config=lambda state, source: ToyConfig(),
        owns_state=lambda state: any(k.startswith("toy_head.") for k in state),
        is_official_config=lambda path: str(path).endswith("toy.py"),
        load_official_config=lambda path: ToyConfig(), training="toy_family_training"))
    yield row
    unregister("toy")


def test_a_third_family_is_one_row(toy_family, tmp_path):
    from smplestx.models.checkpoint import build_network, checkpoint_family, infer_config, load_network, save_network
    from smplestx.models.onnx_export import BOX_OUTPUTS, OUTPUTS, graph_outputs
    from smplestx.models.precision_tuning import tuning_key
    from smplestx.train.config import ModelSection, build_model_config

    assert list(families()) == ["smplest_x", "smpler_x", "toy"]
    net = build_network(ToyConfig())
    assert isinstance(net, ToyNet) and family_of_network(net) is toy_family
    # Weights and config through the package's own safetensors writer and strict loader.
    torch.manual_seed(0)
    for p in net.parameters():
        torch.nn.init.normal_(p)
    path = save_network(net, tmp_path / "toy.safetensors")
    back = load_network(path)
    assert isinstance(back, ToyNet) and back.config == net.config
    for (k, a), (k2, b) in zip(net.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    state = net.state_dict()
    assert checkpoint_family(state) == "toy" and isinstance(infer_config(state), ToyConfig)
    assert family_of_official_config(tmp_path / "toy.py") is toy_family
    # ONNX outputs and the precision cache ask the table too.
    assert graph_outputs(ToyConfig()) == OUTPUTS and not set(BOX_OUTPUTS) & set(graph_outputs(ToyConfig()))
    assert tuning_key(ToyConfig(), 16)["family"] == "toy"
    # Training configs name it and its adapter builds its model config.
    assert build_model_config(ModelSection(family="toy", size="T"), 1.25) == ToyConfig(bbox_ratio=1.25)


def test_the_toy_family_leaves_with_its_row(toy_family):
    assert "toy" in families()
    unregister("toy")
    assert "toy" not in families() and models.family_of_state({"toy_head.weight": 0}).name == "smplest_x"
    register(toy_family)  # the fixture removes it again
