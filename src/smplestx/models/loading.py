"""The full predictor: network + SMPL-X body model, crops in, meshes and joints out."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

import torch
from torch import nn

from ..body import SMPLX_137, SMPLX_PARAM_NAMES, BodyModel
from .config import DTYPE_NAMES, DTYPES, SMPLestXConfig
from ..errors import UsageError
from ..geometry.cameras import project_points
from . import family_of_config, is_model_config
from .checkpoint import AnyConfig, check_body_model, load_network
from ..nn.int8 import fbgemm_available, int8_kernel, quantize_linears, quantize_linears_fbgemm
from ..nn.network import NetworkOutput, SMPLestXNet

if TYPE_CHECKING:
    from .precision_tuning import Tuning


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


def pick_device(device: str = "auto") -> str:
    """Resolve ``auto`` to the best device present (cuda, then mps, then cpu); check explicit ones."""
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} requested but CUDA is not available (use --device auto or cpu)")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("device 'mps' requested but MPS is not available (use --device auto or cpu)")
    if device not in ("cpu", "mps") and not device.startswith("cuda"):
        raise UsageError(f"unknown device {device!r}; choose auto, cpu, cuda, cuda:N or mps")
    return device


#: CPU flags (as /proc/cpuinfo spells them) of the bf16 matrix instructions bf16 weights need to be fast.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
#: CPU flags of the int8 dot-product instructions (VNNI) ``--dtype int8`` needs to be fast.
VNNI_CPU_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
#: CPU flags of the bf16 tile unit (AMX): oneDNN's bf16 matmuls and torch's fused bf16 attention run on it.
AMX_CPU_FLAGS = ("amx_bf16",)
#: Network precisions: the float dtypes of ``config.DTYPES``, and the two int8 kernels of ``nn.int8`` (int8
#: linears, float32 rest): ``int8`` (per-row activations, ``torch._int_mm``: fast with VNNI/AMX) and ``int8-fbgemm``
#: (torch's dynamic int8 through fbgemm: fast on any AVX2 CPU).
PRECISIONS = (*DTYPES, "int8", "int8-fbgemm")
#: The precisions whose linears are int8 (the CPU only; float32 weights around them).
INT8_PRECISIONS = ("int8", "int8-fbgemm")


def _cpuinfo_flags(path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU flags the kernel reports (empty where there is no /proc/cpuinfo, e.g. macOS, Windows)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def _cpu_has(probes: tuple[str, ...], flags: tuple[str, ...]) -> bool:
    """Whether torch's cpuid probes (private, so looked up defensively) or /proc/cpuinfo report an instruction."""
    if any((probe := getattr(torch.cpu, name, None)) is not None and probe() for name in probes):
        return True
    return any(flag in _cpuinfo_flags() for flag in flags)


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 dot-product instructions (AVX512-BF16 or AMX-BF16) for torch's CPU kernels."""
    return _cpu_has(("_is_avx512_bf16_supported", "_is_amx_tile_supported"), BF16_CPU_FLAGS)


def cpu_has_vnni() -> bool:
    """Whether this CPU has int8 dot-product instructions (AVX512-VNNI, AVX-VNNI or AMX-INT8)."""
    return _cpu_has(("_is_vnni_supported", "_is_amx_tile_supported"), VNNI_CPU_FLAGS)


def cpu_has_amx() -> bool:
    """Whether this CPU has the AMX bf16 tile unit (Sapphire Rapids and later Xeons)."""
    return _cpu_has(("_is_amx_tile_supported",), AMX_CPU_FLAGS)


def auto_precision(device: str | torch.device) -> str:
    """The CPU flags' guess at ``dtype="auto"`` (where no model is at hand): bf16 with AMX, int8 with VNNI, bf16 with
    bf16, else fp32.

    ``load_model(dtype="auto")`` measures instead (``precision_tuning``); this guess only names a float dtype
    before a model is loaded and what ``doctor`` expects without a calibration.

    On trained weights int8 (per-channel weights, per-row activations) runs the network 1.8-2.1x faster than
    float32 at ~0.7 mm root-relative vertex error, and bf16 weights ~1.7x at ~1.1 mm (docs/benchmarks.md,
    "Reduced precision on the CPU"); without the instructions both are emulated and slower. With AMX, bf16
    matmuls run ~8x fp32's rate and ``torch._int_mm`` does not use the tiles: bf16 weights with the fused
    attention ran ~3x faster than float32, int8 1.3-1.5x. GPUs and MPS keep float32.
    """
    if torch.device(device).type == "cpu":
        if cpu_has_amx() and cpu_has_bf16():
            return "bf16"
        if cpu_has_vnni():
            return "int8"
        if cpu_has_bf16():
            return "bf16"
    return "fp32"


def int8_precision(device: str | torch.device = "cpu") -> str:
    """The int8 kernel fast on this CPU: ``int8`` (per-row, torch._int_mm) with VNNI, else ``int8-fbgemm`` (AVX2).

    Without VNNI torch's int8 matmul has no fast path (2 GOP/s against ~100 GFLOP/s fp32 on an AVX2-only CPU).
    """
    if torch.device(device).type == "cpu" and not cpu_has_vnni() and fbgemm_available():
        return "int8-fbgemm"
    return "int8"


def pick_precision(dtype: str | torch.dtype, device: str | torch.device = "cpu") -> str:
    """A precision name of ``PRECISIONS`` from 'auto' (see ``auto_precision``), a name or a torch dtype.

    ``int8`` names the int8 kernel that is fast on ``device``'s CPU (``int8_precision``).
    """
    if isinstance(dtype, torch.dtype):
        return DTYPE_NAMES.get(dtype, str(dtype).removeprefix("torch."))
    if dtype == "auto":
        return auto_precision(device)
    if dtype not in PRECISIONS:
        raise UsageError(f"unknown dtype {dtype!r}; choose one of {', '.join(PRECISIONS)} (or auto)")
    if dtype == "int8":
        return int8_precision(device)
    return dtype


def pick_dtype(dtype: str | torch.dtype, device: str | torch.device = "cpu") -> torch.dtype:
    """The float dtype of the network's weights for a precision (int8 networks keep float32 around the int8 layers)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    precision = pick_precision(dtype, device)
    return torch.float32 if precision in INT8_PRECISIONS else DTYPES[precision]


def auto_attention(precision: str, device: str | torch.device) -> str:
    """The attention kernel ``attention="auto"`` picks without measuring (``dtype="auto"`` measures both for bf16).

    bf16 networks on CPUs with bf16 but no AMX: the textbook form in bf16 ("bf16"), since torch's fused CPU kernel
    is no faster in bf16 than in fp32 there and two bf16 matmuls and a bf16 softmax run 5-14 % faster. With AMX the
    fused kernel's bf16 path runs on the tiles and takes about half the textbook form's time: "sdpa". int8 networks
    (float32 activations) keep the fused fp32 kernel: casting to bf16 gained nothing measurable (docs/benchmarks.md).
    """
    if torch.device(device).type == "cpu" and precision == "bf16" and cpu_has_bf16():
        return "sdpa" if cpu_has_amx() else "bf16"
    return "sdpa"


def network_precision(net: nn.Module) -> str:
    """The precision a loaded network runs in: its int8 kernel if its linears are quantised, else its weights' dtype."""
    if (kernel := int8_kernel(net)) is not None:
        return kernel
    if isinstance(named := getattr(net, "precision", None), str):  # an ONNX network says what its graph holds
        return named
    return pick_precision(next((p.dtype for p in net.parameters()), torch.float32))


def network_backend(net: nn.Module) -> str:
    """The runtime a loaded network runs in: "onnxruntime" for an exported graph, else "torch"."""
    from .onnx_export import OnnxNetwork

    return "onnxruntime" if isinstance(net, OnnxNetwork) else "torch"


def with_precision(net: nn.Module, precision: str) -> nn.Module:
    """A float32 network put into ``precision`` (a name of ``PRECISIONS``; int8 kernels quantise in place)."""
    if precision == "int8":
        return quantize_linears(net)
    if precision == "int8-fbgemm":
        return quantize_linears_fbgemm(net)
    return net.to(DTYPES[precision])


def tune_precision(net: nn.Module, body: BodyModel, wrapper: type["SMPLestX"] | None = None, device: str = "cpu",
                   attention: str = "auto", batch_size: int = 16, *, redo: bool = False) -> "Tuning":
    """``dtype="auto"`` on the CPU: the calibration of a float32 network for this machine (``precision_tuning``).

    Cached per CPU, torch version, model family and size and batch bucket; ``redo`` measures again. With
    ``attention="auto"`` the calibration also picks the attention kernel (``Tuning.attention``).
    """
    import copy

    from .precision_tuning import tune

    wrapper = wrapper or family_of_config(net.config).wrapper

    def build(precision: str, kind: str) -> SMPLestX:
        low = net if precision == "fp32" else with_precision(copy.deepcopy(net), precision)
        return wrapper(low, body).set_attention(kind).eval()

    return tune(build, body, net.config, device, batch_size=batch_size, attention=attention, redo=redo)


def load_model(
    checkpoint: str | Path,
    *,
    body_models: str | Path | None = None,
    config: str | Path | AnyConfig | None = None,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = torch.float32,
    attention: str = "auto",
    backend: str = "auto",
    batch_size: int = 16,
) -> SMPLestX:
    """Load a model by name (``smplest-x-h``, downloaded once; see ``smplestx.models.zoo``) or checkpoint path.

    ``body_models`` defaults to ``$SMPLESTX_BODY_MODELS`` or the user config file's ``body_models``.
    ``dtype`` is the network's precision; the body model runs in float32 (float64 if asked). ``backend``:
    ``torch``, ``onnxruntime`` (an ``.onnx`` file from ``smplestx export-onnx``), or ``auto`` (by the suffix).
    ``dtype`` may be a name of ``PRECISIONS`` (``"fp16"``; ``"int8"``, CPU only: the int8 kernel fast on this
    CPU, see ``int8_precision``) or ``"auto"``: on the CPU the fastest precision within the accuracy bound, measured
    once per machine, torch version, model size and ``batch_size`` bucket (``precision_tuning``, cached; never slower
    than fp32); float32 on GPUs and for ONNX networks. ``device`` may be ``"auto"``. ``attention``: a kind of ``nn.attention.ATTENTION_KINDS`` or ``"auto"``
    (with ``dtype="auto"`` on the CPU: the kernel measured fastest with the picked precision; otherwise
    ``auto_attention``: for bf16 networks the fused kernel with AMX, the textbook form in bf16 on other bf16 CPUs;
    else the fused kernel).
    """
    device = pick_device(str(device))  # a clear error for CUDA without a GPU, before anything loads
    auto = isinstance(dtype, str) and dtype == "auto"
    precision = pick_precision(dtype, device)
    dtype = dtype if isinstance(dtype, torch.dtype) else pick_dtype(precision)  # "auto" is resolved once
    from ..user_config import find_body_models
    from .zoo import resolve_model

    body_models = find_body_models(body_models)
    given = is_model_config(config)  # a config object (of any family), not a file
    resolved = resolve_model(checkpoint, None if given else config)  # type: ignore[arg-type]
    checkpoint = resolved.checkpoint
    if not given:
        config = resolved.config
    is_onnx = Path(checkpoint).suffix.lower() == ".onnx"
    if backend not in ("auto", "torch", "onnxruntime"):
        raise UsageError(f"backend {backend!r}: expected auto, torch or onnxruntime")
    if backend == "onnxruntime" and not is_onnx:
        raise UsageError(f"{checkpoint}: --backend onnxruntime runs an exported .onnx network; "
                         f"make one with `smplestx export-onnx {checkpoint} model.onnx`")
    if backend == "torch" and is_onnx:
        raise UsageError(f"{checkpoint}: an .onnx file runs with --backend onnxruntime (or auto)")
    if is_onnx and auto:
        dtype, precision = torch.float32, "fp32"  # the graph is float32; on the CPU the calibration below decides
    if is_onnx and precision in INT8_PRECISIONS:
        dtype, precision = torch.float32, "int8"  # ONNX Runtime's own int8 kernels (onnx_int8), whatever torch's
    if is_onnx and precision not in ("fp32", "int8"):
        raise UsageError(f"{checkpoint}: exported ONNX networks run in float32 or int8 (ONNX Runtime's, CPU); "
                         f"use --dtype fp32, int8 or auto")
    if precision in INT8_PRECISIONS and torch.device(device).type != "cpu":
        raise UsageError(f"--dtype int8 runs on the CPU (int8 matmuls through oneDNN); on {device} use bf16 or fp16")
    body = BodyModel.from_dir(body_models, "neutral", dtype=torch.float64 if dtype == torch.float64 else torch.float32, device=device)
    check_body_model(checkpoint, body, body_models)  # weights trained for one body model refuse any other
    if is_onnx:
        from .onnx_export import OnnxNetwork

        def onnx_net(name: str) -> OnnxNetwork:
            from .onnx_int8 import quantized_onnx

            graph = OnnxNetwork(quantized_onnx(checkpoint) if name == "int8" else checkpoint, device=device)
            graph.precision = name  # what network_precision reports (the anchor parameter is float32 either way)
            return graph

        fp32 = onnx_net("fp32")
        # The family follows the config stored in the graph: SMPLer-X graphs also return the boxes.
        onnx_wrapper = family_of_config(fp32.config).wrapper
        if auto and torch.device(device).type == "cpu":
            from .precision_tuning import tune

            precision = tune(lambda name, _: onnx_wrapper(fp32 if name == "fp32" else onnx_net(name), body).eval(),
                             body, fp32.config, device, batch_size=batch_size, backend="onnxruntime").picked
        return onnx_wrapper(fp32 if precision == "fp32" else onnx_net(precision), body).eval()
    measure = auto and torch.device(device).type == "cpu"
    net = load_network(checkpoint, config, device=device, dtype=torch.float32 if measure else dtype)
    # The family follows the checkpoint (or the config given): SMPLer-X networks get the wrapper with boxes.
    wrapper = family_of_config(net.config).wrapper
    if measure:
        tuning = tune_precision(net, body, wrapper, device, attention, batch_size)
        precision = tuning.picked
        if attention == "auto" and tuning.attention:
            attention = tuning.attention  # measured with the precision
    if precision in INT8_PRECISIONS or measure:
        net = with_precision(net, precision)
    if attention == "auto":
        attention = auto_attention(precision, device)
    return wrapper(net, body).set_attention(attention).eval()


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
