"""Multi-head attention kernels shared by the encoder and the decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: "sdpa" uses torch's fused scaled_dot_product_attention; "eager" is the textbook
#: softmax(QK^T)V kept for benchmarking against the reference implementation; "bf16" is the textbook
#: form in bf16 whatever the inputs' dtype (inference on CPUs with bf16 instructions; output in the inputs' dtype).
ATTENTION_KINDS = ("sdpa", "eager", "bf16")


class Attention(nn.Module):
    """Base of the attention modules: ``kind`` picks the kernel; :func:`set_attention` sets it for a whole model."""

    kind: str = "sdpa"


def set_attention(model: nn.Module, kind: str) -> None:
    """Use attention kernel ``kind`` (one of ``ATTENTION_KINDS``) in every attention module of ``model``."""
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"unknown attention kind {kind!r}; choose one of {ATTENTION_KINDS}")
    for module in model.modules():
        if isinstance(module, Attention):
            module.kind = kind


def attention_kind(model: nn.Module) -> str | None:
    """The attention kernel ``model`` runs ("sdpa", "eager", "bf16"; "mixed" if its modules differ), None without any
    (an ONNX Runtime graph: its runtime picks)."""
    kinds = {m.kind for m in model.modules() if isinstance(m, Attention)}
    return None if not kinds else kinds.pop() if len(kinds) == 1 else "mixed"


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, N, H*D) -> (B, H, N, D)."""
    b, n, _ = x.shape
    return x.view(b, n, heads, -1).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, N, D) -> (B, N, H*D)."""
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kind: str = "sdpa") -> torch.Tensor:
    """Scaled dot-product attention over (B, H, N, D) tensors with scale D^-0.5."""
    if kind == "sdpa":
        return F.scaled_dot_product_attention(q, k, v)
    if kind == "eager":
        weights = torch.softmax((q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5, dim=-1)
        return weights @ v
    if kind == "bf16":
        # torch's fused CPU kernel runs no faster in bf16 than in fp32 here, while two bf16 matmuls and a bf16
        # softmax take 0.5-0.7x its time (docs/benchmarks.md). q is scaled first: a pass over (N, D), not (N, M).
        low = torch.bfloat16
        weights = torch.softmax((q * q.shape[-1] ** -0.5).to(low) @ k.to(low).transpose(-2, -1), dim=-1)
        return (weights @ v.to(low)).to(q.dtype)
    raise ValueError(f"unknown attention kind {kind!r}; choose one of {ATTENTION_KINDS}")
