"""The network as ONNX (crops -> SMPL-X parameters, any batch size) and an ONNX Runtime stand-in for it.

``export_onnx`` writes the network alone: the body model stays in torch (it is cheap and needs the licensed
SMPL-X file, which an exported graph must not carry). ``OnnxNetwork`` runs such a file with ONNX Runtime
behind the same interface as the torch network of its family (SMPLest-X or SMPLer-X, whose graph also returns
the hand and face boxes), so ``load_model("m.onnx", ...)``, ``smplestx infer`` and ``smplestx eval`` use it
unchanged. The model config travels in the file's metadata.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import family_of_config
from .checkpoint import AnyConfig, config_from_dict
from ..errors import SmplestxError
from ..io.atomic import atomic_path
from ..nn.network import PoseNetwork

log = logging.getLogger(__name__)

OUTPUTS = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas", "expression",
           "transl")
#: What an SMPLer-X graph returns after OUTPUTS: its part boxes (pixels of the crop).
BOX_OUTPUTS = ("lhand_box", "rhand_box", "face_box")
CONFIG_KEY = "smplestx_config"
MAX_BATCH = 4096


class OnnxError(SmplestxError, ValueError):
    """An ONNX file or runtime that cannot be used (one line, names the file)."""


def graph_outputs(config: AnyConfig) -> tuple[str, ...]:
    """The output names of an exported graph of this config's family."""
    return OUTPUTS + BOX_OUTPUTS if family_of_config(config).predicts_boxes else OUTPUTS


class _Parameters(nn.Module):
    """The network's forward as a tuple of the parameter tensors (what the ONNX graph returns)."""

    def __init__(self, net: PoseNetwork) -> None:
        super().__init__()
        self.net = net
        self.names = graph_outputs(net.config)

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net(crops)
        return tuple(getattr(out, k) for k in self.names)


def _need(module: str, extra: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise OnnxError(f"this needs the {module!r} package: pip install 'smplestx[{extra}]'") from None


def export_onnx(net: PoseNetwork, output: str | os.PathLike[str], *, opset: int = 18) -> Path:
    """Write ``net`` (float32, CPU) as an ONNX graph with a dynamic batch axis; returns the path."""
    _need("onnxscript", "onnx")
    _need("onnx", "onnx")
    import onnx

    out = Path(output)
    net = net.to("cpu", torch.float32).eval()
    example = torch.rand(2, 3, *net.config.input_img_shape)
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    with atomic_path(out, keep_suffix=True) as tmp:
        program = torch.onnx.export(_Parameters(net).eval(), (example,), input_names=["crops"], output_names=list(graph_outputs(net.config)),
                                    dynamic_shapes={"crops": {0: batch}}, opset_version=opset, dynamo=True,
                                    verbose=False)
        proto = program.model_proto
        meta = proto.metadata_props.add()
        meta.key, meta.value = CONFIG_KEY, json.dumps(net.config.to_dict())
        onnx.save_model(proto, tmp)
        onnx.checker.check_model(tmp)
    return out


@dataclass
class OnnxOutput:
    """The parameter fields of a network output (ONNX graphs return no intermediates)."""

    global_orient: torch.Tensor
    body_pose: torch.Tensor
    left_hand_pose: torch.Tensor
    right_hand_pose: torch.Tensor
    jaw_pose: torch.Tensor
    betas: torch.Tensor
    expression: torch.Tensor
    transl: torch.Tensor


@dataclass
class OnnxBoxOutput(OnnxOutput):
    """An SMPLer-X graph's outputs: the parameters and the part boxes."""

    lhand_box: torch.Tensor
    rhand_box: torch.Tensor
    face_box: torch.Tensor


def _providers(device: str | torch.device) -> list[str]:
    import onnxruntime as ort

    kind = torch.device(device).type
    available = ort.get_available_providers()
    if kind == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise OnnxError("--backend onnxruntime on cuda needs the onnxruntime-gpu package "
                            f"(this onnxruntime offers {', '.join(available)})")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxNetwork(nn.Module):
    """Runs an exported network with ONNX Runtime; a drop-in for the torch network of its family at inference."""

    def __init__(self, path: str | os.PathLike[str], device: str | torch.device = "cpu", threads: int | None = None) -> None:
        super().__init__()
        _need("onnxruntime", "onnx")
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise OnnxError(f"{self.path}: no such ONNX file")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=_providers(device))
        except OnnxError:
            raise
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
            raise OnnxError(f"{self.path}: not a loadable ONNX model ({str(exc).splitlines()[0]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if CONFIG_KEY not in meta:
            raise OnnxError(f"{self.path}: not exported by `smplestx export-onnx` (no {CONFIG_KEY} metadata)")
        try:
            self.config = config_from_dict(json.loads(meta[CONFIG_KEY]))
        except (ValueError, TypeError) as exc:  # ConfigError is a ValueError, as is bad JSON
            raise OnnxError(f"{self.path}: unusable {CONFIG_KEY} metadata ({exc})") from None
        names, expected = [o.name for o in self.session.get_outputs()], list(graph_outputs(self.config))
        if names != expected:
            raise OnnxError(f"{self.path}: outputs {names}, expected {expected}")
        self._output = OnnxBoxOutput if family_of_config(self.config).predicts_boxes else OnnxOutput
        # A zero-size parameter: callers find the device and dtype of the network through parameters().
        self.anchor = nn.Parameter(torch.zeros(0, device=device), requires_grad=False)

    def set_attention(self, kind: str) -> None:
        """No-op: the attention kernel was fixed when the graph was exported."""

    def forward(self, crops: torch.Tensor) -> OnnxOutput:
        """Crops (B, 3, H, W) in [0, 1] -> the parameters, as float32 tensors on the crops' device."""
        x = np.ascontiguousarray(crops.detach().to("cpu", torch.float32).numpy())
        out = self.session.run(None, {"crops": x})
        return self._output(*(torch.from_numpy(o).to(crops.device) for o in out))


#: Largest vertex difference (metres) between an exported file and torch that `export-onnx` accepts.
VERTEX_TOLERANCE_M = 1e-4


def verify_onnx(net: torch.nn.Module, path: str | Path, body_models: str | Path | None = None) -> tuple[float, float | None]:
    """An exported file against torch on random crops of two batch sizes: (max parameter difference, max vertex
    difference in metres through the body model, or None without ``body_models``)."""
    onnx_net = OnnxNetwork(path)
    worst = 0.0
    gen = torch.Generator().manual_seed(0)
    for b in (1, 3):
        crops = torch.rand(b, 3, *net.config.input_img_shape, generator=gen)
        with torch.inference_mode():
            ref, got = net(crops), onnx_net(crops)
        worst = max(worst, *(float((getattr(ref, k) - getattr(got, k)).abs().max()) for k in vars(got)))
    if not body_models:
        return worst, None
    from ..body import BodyModel

    body = BodyModel.from_dir(body_models, "neutral")
    crops = torch.rand(3, 3, *net.config.input_img_shape, generator=gen)
    with torch.inference_mode():
        a, b = net(crops), onnx_net(crops)
        va = body(**{k: getattr(a, k) for k in OUTPUTS}).vertices  # the parameters (SMPLer-X boxes aside)
        vb = body(**{k: getattr(b, k) for k in OUTPUTS}).vertices
    return worst, float((va - vb).norm(dim=-1).max())
