"""The ViT encoder with task tokens (ViTPose layout, timm-compatible parameter names)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..geometry.crops import INPUT_BODY_SHAPE
from .attention import Attention, attend, merge_heads


class PatchEmbed(nn.Module):
    """16x16 patches with padding 2: a 256x192 input gives a 16x12 grid."""

    def __init__(self, embed_dim: int, patch_size: int = 16, in_chans: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size, padding=2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Return tokens (B, Hp*Wp, D) and the grid size."""
        x = self.proj(x)
        hp, wp = x.shape[2], x.shape[3]
        return x.flatten(2).transpose(1, 2), (hp, wp)


class ConvStem(nn.Module):
    """A convolutional patch embedding (ViT-C, Xiao et al. 2021): log2(patch) 3x3 stride-2 convolutions, then 1x1.

    Same grid and token width as :class:`PatchEmbed`, for encoders trained from scratch: a patchify ViT starts from a
    random linear map of each 16x16 patch and learns where body parts are far more slowly (docs/synthetic-tiny.md).
    The released models use :class:`PatchEmbed`.
    """

    def __init__(self, embed_dim: int, patch_size: int = 16, in_chans: int = 3) -> None:
        super().__init__()
        steps = patch_size.bit_length() - 1
        if patch_size != 2**steps or steps < 1:
            raise ValueError(f"a convolutional stem needs a power-of-two patch size, got {patch_size}")
        layers: list[nn.Module] = []
        c_in = in_chans
        for i in range(steps):
            c_out = max(embed_dim >> (steps - 1 - i), 8)
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        layers.append(nn.Conv2d(c_in, embed_dim, kernel_size=1))
        self.proj = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Return tokens (B, Hp*Wp, D) and the grid size."""
        x = self.proj(x)
        hp, wp = x.shape[2], x.shape[3]
        return x.flatten(2).transpose(1, 2), (hp, wp)


#: Patch embeddings by EncoderConfig.stem.
STEMS: dict[str, type[nn.Module]] = {"patch": PatchEmbed, "conv": ConvStem}


class SelfAttention(Attention):
    """Multi-head self-attention with one fused qkv projection."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over all tokens of x (B, N, D)."""
        b, n, d = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        return self.proj(merge_heads(attend(qkv[0], qkv[1], qkv[2], self.kind)))


class Mlp(nn.Module):
    """Two-layer MLP with exact (erf) GELU."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply fc2(gelu(fc1(x)))."""
        return self.fc2(self.act(self.fc1(x)))


class DropPath(nn.Module):
    """Stochastic depth: drop whole residual branches per sample while training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Identity at inference; random per-sample mask scaled by 1/keep in training."""
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Block(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = SelfAttention(dim, num_heads, qkv_bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x + attn(norm(x)), then x + mlp(norm(x))."""
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ViTEncoder(nn.Module):
    """ViT backbone that prepends learnable task tokens to the patch tokens."""

    def __init__(
        self,
        embed_dim: int,
        depth: int,
        num_heads: int,
        *,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        task_tokens_num: int = 80,
        img_size: tuple[int, int] = INPUT_BODY_SHAPE,
        patch_size: int = 16,
        drop_path_rate: float = 0.0,
        stem: str = "patch",
    ) -> None:
        super().__init__()
        self.task_tokens_num = task_tokens_num
        #: Training only: recompute each block's activations in the backward pass instead of storing them.
        #: (Set with SMPLestXNet.set_grad_checkpointing.)
        self.grad_checkpointing = False
        self.patch_embed = STEMS[stem](embed_dim, patch_size)
        grid = (img_size[0] // patch_size) * (img_size[1] // patch_size)
        self.task_tokens = nn.Parameter(torch.zeros(1, task_tokens_num, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid + 1, embed_dim))
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias, rates[i]) for i in range(depth)
        )
        self.last_norm = nn.LayerNorm(embed_dim, eps=1e-6)
        nn.init.trunc_normal_(self.task_tokens, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the feature map (B, D, Hp, Wp) and task tokens (B, T, D) of images (B, 3, H, W)."""
        b = x.shape[0]
        x, (hp, wp) = self.patch_embed(x)
        # Patch tokens get position entries 1.. plus entry 0 (the old class-token slot).
        x = x + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        x = torch.cat((self.task_tokens.expand(b, -1, -1), x), dim=1)
        for blk in self.blocks:
            if self.grad_checkpointing and torch.is_grad_enabled():
                # Trades one extra block forward for not keeping its activations: what lets L/H fit in memory.
                x = checkpoint(blk, x, use_reentrant=False)
            else:
                x = blk(x)
        x = self.last_norm(x)
        tokens = x[:, : self.task_tokens_num]
        feat = x[:, self.task_tokens_num :].transpose(1, 2).reshape(b, -1, hp, wp)
        return feat, tokens
