"""int8 inference on the CPU: every ``nn.Linear`` as int8 weights x int8 activations, int32 sums, float out.

Two kernels, two precision names. ``int8`` (this module's :class:`Int8Linear`, described below) is fast on CPUs
with int8 dot-product instructions (VNNI, AMX) and a trap without them (torch's ``_int_mm`` ran at 2 GOP/s on an
AVX2-only CPU, against ~100 GFLOP/s for fp32). ``int8-fbgemm`` is torch's dynamic quantisation
(:func:`quantize_linears_fbgemm`: fbgemm's AVX2/AVX-512 kernels, per-channel weights, one activation scale per
tensor) and runs at speed on any x86 CPU with AVX2.

Weights are quantised once per output channel and activations per row (token) at run time, both
symmetric (scale = max |value| / 127, no zero point). Per-row activation scales matter here: the
encoder's LayerNorm outputs carry a few large channels, and one scale per tensor (``torch.ao``'s
dynamic quantisation) costs ~3.5x the error for a few % more speed (docs/benchmarks.md). The product
runs in ``torch._int_mm`` (oneDNN; VNNI on x86), everything else (attention, norms, GELU, the body
model) stays float32.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..errors import UsageError

#: Largest int8 magnitude used: symmetric, so -128 is never produced and products cannot overflow.
INT8_MAX = 127.0
#: Floor of a scale, so an all-zero row or channel quantises to zeros instead of 0/0.
_MIN_SCALE = 1e-12


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per row of a 2-d float tensor: (values int8, scales (rows, 1) float32)."""
    x = x.float()
    # amax and amin separately: two fast reductions (torch.aminmax and an inf-norm are several times slower).
    peak = torch.maximum(x.amax(dim=1, keepdim=True), x.amin(dim=1, keepdim=True).neg())
    scale = peak.clamp_min(_MIN_SCALE).div_(INT8_MAX)
    return torch.mul(x, scale.reciprocal()).round_().to(torch.int8), scale


class Int8Linear(nn.Module):
    """Inference-only stand-in for an ``nn.Linear``: int8 weights per output channel, int8 activations per row."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight, scale = quantize_rows(linear.weight.detach())
        # (out, in) int8, used transposed: _int_mm takes the (in, out) view at the speed of a contiguous one.
        self.register_buffer("weight_int8", weight)
        self.register_buffer("weight_scale", scale.reshape(-1))
        bias = linear.bias
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in) -> (..., out) float32."""
        lead = x.shape[:-1]
        rows = x.reshape(-1, self.in_features)
        if rows.shape[0] == 0:
            return x.new_zeros((*lead, self.out_features), dtype=torch.float32)
        values, scale = quantize_rows(rows)
        out = torch._int_mm(values, self.weight_int8.t()).float()
        out.mul_(scale).mul_(self.weight_scale)
        if self.bias is not None:
            out.add_(self.bias)
        return out.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        """As nn.Linear's, marked int8."""
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, int8"


#: Linears with fewer outputs stay float32: the prediction heads (pose, shape, camera: 3-180 outputs), whose
#: outputs are the parameters themselves and which cost ~0.1 % of the forward; int8 there doubled the error.
MIN_INT8_OUTPUTS = 256


def quantize_linears(model: nn.Module, min_outputs: int = MIN_INT8_OUTPUTS) -> nn.Module:
    """Replace ``model``'s ``nn.Linear`` layers with at least ``min_outputs`` outputs by :class:`Int8Linear` (in place)."""
    check_int8_kernel()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            # Exact type: a subclass may carry behaviour an int8 copy would drop.
            if type(child) is nn.Linear and child.out_features >= min_outputs:
                setattr(parent, name, Int8Linear(child))
    return model


def _fbgemm_linear_type() -> type | None:
    """torch's dynamically quantised linear (fbgemm), or None where this torch has dropped ``torch.ao``."""
    try:
        from torch.ao.nn.quantized.dynamic import Linear
    except ImportError:
        return None
    return Linear


def fbgemm_available() -> bool:
    """Whether this torch has fbgemm's dynamic int8 linear (x86 builds; needs AVX2 to be fast)."""
    engines = getattr(torch.backends.quantized, "supported_engines", ())
    return _fbgemm_linear_type() is not None and ("fbgemm" in engines or "x86" in engines)


def quantize_linears_fbgemm(model: nn.Module, min_outputs: int = MIN_INT8_OUTPUTS) -> nn.Module:
    """``int8-fbgemm``: the ``nn.Linear`` layers with at least ``min_outputs`` outputs as fbgemm dynamic int8 (in place).

    Weights are quantised once per output channel; activations with one scale per tensor at run time (fbgemm
    narrows them to 7 bits on x86 so its AVX2 multiply-add cannot saturate): ~3x the error of ``int8`` for a kernel
    that is fast without VNNI. The heads stay float32, as for ``int8``.
    """
    if not fbgemm_available():
        raise UsageError(f"this torch ({torch.__version__}) has no fbgemm dynamic int8 linear: use --dtype fp32 or auto")
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    names = {name: per_channel_dynamic_qconfig for name, m in model.named_modules()
             if type(m) is nn.Linear and m.out_features >= min_outputs}
    with warnings.catch_warnings():
        # torch.ao announces its move to torchao; the kernels are what we want, and they are still in torch.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        quantize_dynamic(model, names, inplace=True)
    return model


def int8_kernel(model: nn.Module) -> str | None:
    """The int8 precision ``model`` runs: "int8" (:class:`Int8Linear`), "int8-fbgemm", or None (not quantised)."""
    fbgemm = _fbgemm_linear_type()
    for m in model.modules():
        if isinstance(m, Int8Linear):
            return "int8"
        if fbgemm is not None and isinstance(m, fbgemm):
            return "int8-fbgemm"
    return None


def is_quantized(model: nn.Module) -> bool:
    """Whether ``model`` holds int8 linears (either kernel)."""
    return int8_kernel(model) is not None


def check_int8_kernel() -> None:
    """Raise UsageError (with the fix) where this torch build has no CPU int8 matmul."""
    a = torch.ones(2, 4, dtype=torch.int8)
    try:
        ok = int(torch._int_mm(a, a.t())[0, 0]) == 4
    except (RuntimeError, AttributeError) as exc:  # torch < 2.3 has no CPU kernel for it
        raise UsageError(f"this torch ({torch.__version__}) has no CPU int8 matmul (torch._int_mm): "
                           f"upgrade torch, or use --dtype fp32/bf16 ({exc})") from None
    if not ok:
        raise UsageError(f"torch._int_mm gave a wrong product on this torch ({torch.__version__}); use --dtype fp32")
