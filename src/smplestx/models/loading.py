"""The full predictor: network + SMPL-X body model, crops in, meshes and joints out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..body import BodyModel
from .config import DTYPE_NAMES, DTYPES
from ..errors import UsageError
from . import family_of_config, is_model_config
from .smplest_x import SMPLestX
from .checkpoint import AnyConfig, check_body_model, load_network
from ..nn.attention import attention_kind
from ..nn.int8 import fbgemm_available, int8_kernel, quantize_linears, quantize_linears_fbgemm

if TYPE_CHECKING:
    from .precision_tuning import Tuning


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


def network_attention(net: nn.Module) -> str | None:
    """The attention kernel a loaded network runs ("sdpa", "eager", "bf16"), None for an exported graph."""
    return attention_kind(net)


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
