"""The transformer decoder head: task tokens + image tokens -> SMPL-X parameter groups.

Parameter names follow the official checkpoint (``transformer.transformer.layers.i.j``)
so official weights load without renaming.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .attention import Attention, attend, merge_heads, split_heads

#: The released model's layer count and attention shape (smaller models may set their own).
DECODER_DEPTH = 6
DECODER_HEADS = 8
DECODER_DIM_HEAD = 64

#: Task-token layout: name -> (first token, number of tokens, head output size).
TOKEN_GROUPS: dict[str, tuple[int, int, int]] = {
    "body_root_pose": (0, 1, 6),
    "body_pose": (1, 21, 126),
    "body_shape": (22, 10, 10),
    "body_cam": (32, 1, 3),
    "hand_root_pose": (33, 2, 12),
    "hand_pose": (35, 30, 180),
    "hand_cam": (65, 2, 6),
    "face_root_pose": (67, 1, 6),
    "face_expression": (68, 10, 10),
    "face_jaw_pose": (78, 1, 6),
    "face_cam": (79, 1, 3),
}


class PreNorm(nn.Module):
    """LayerNorm (eps 1e-5) then the wrapped layer."""

    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor, **kwargs: torch.Tensor) -> torch.Tensor:
        """fn(norm(x), **kwargs)."""
        return self.fn(self.norm(x), **kwargs)


class DecoderSelfAttention(Attention):
    """Self-attention (8x64 in the released model); q/k/v without bias, output projection with bias."""

    def __init__(self, dim: int, heads: int = DECODER_HEADS, dim_head: int = DECODER_DIM_HEAD) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Self-attention over x (B, N, D)."""
        q, k, v = (split_heads(t, self.heads) for t in self.to_qkv(x).chunk(3, dim=-1))
        return self.to_out(merge_heads(attend(q, k, v, self.kind)))


class DecoderCrossAttention(Attention):
    """Cross-attention (8x64 in the released model) from tokens to a fixed context."""

    def __init__(self, dim: int, heads: int = DECODER_HEADS, dim_head: int = DECODER_DIM_HEAD) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Attend from x (B, N, D) to context (B, M, D)."""
        k, v = (split_heads(t, self.heads) for t in self.to_kv(context).chunk(2, dim=-1))
        q = split_heads(self.to_q(x), self.heads)
        return self.to_out(merge_heads(attend(q, k, v, self.kind)))


class FeedForward(nn.Module):
    """D -> D -> D with exact GELU (indices match the official Sequential)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The MLP."""
        return self.net(x)


class CrossAttnStack(nn.Module):
    """The pre-norm layers (6 in the released model): self-attention, cross-attention, feed-forward."""

    def __init__(self, dim: int, depth: int = DECODER_DEPTH, heads: int = DECODER_HEADS,
                 dim_head: int = DECODER_DIM_HEAD) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    PreNorm(dim, DecoderSelfAttention(dim, heads, dim_head)),
                    PreNorm(dim, DecoderCrossAttention(dim, heads, dim_head)),
                    PreNorm(dim, FeedForward(dim, dim)),
                ]
            )
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Run all layers; the context (image tokens) is the same for every layer."""
        for self_attn, cross_attn, ff in self.layers:
            x = self_attn(x) + x
            x = cross_attn(x, context=context) + x
            x = ff(x) + x
        return x


class TokenTransformer(nn.Module):
    """Adds the shared position vector and runs the layer stack."""

    def __init__(self, dim: int, task_tokens_num: int, depth: int = DECODER_DEPTH, heads: int = DECODER_HEADS,
                 dim_head: int = DECODER_DIM_HEAD) -> None:
        super().__init__()
        # Saved in the official checkpoint but never used by the forward pass.
        self.to_token_embedding = nn.Linear(task_tokens_num, dim)
        self.pos_embedding = nn.Parameter(torch.randn(1, 1, dim))
        self.transformer = CrossAttnStack(dim, depth, heads, dim_head)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Tokens (B, N, D) attended with image context (B, M, D)."""
        return self.transformer(x + self.pos_embedding, context)


@dataclass
class DecoderOutput:
    """Raw head outputs; rotations are 6D, cameras are (tx, ty, c_z)."""

    body_root_pose: torch.Tensor
    body_pose: torch.Tensor
    body_betas: torch.Tensor
    body_cam: torch.Tensor
    lhand_root_pose: torch.Tensor
    rhand_root_pose: torch.Tensor
    lhand_pose: torch.Tensor
    rhand_pose: torch.Tensor
    lhand_cam: torch.Tensor
    rhand_cam: torch.Tensor
    face_root_pose: torch.Tensor
    face_expression: torch.Tensor
    face_jaw_pose: torch.Tensor
    face_cam: torch.Tensor


class DecoderHead(nn.Module):
    """Transformer decoder over [task tokens; image tokens] with one linear head per group."""

    def __init__(self, feat_dim: int, dim_out: int = 512, task_tokens_num: int = 80, depth: int = DECODER_DEPTH,
                 heads: int = DECODER_HEADS, dim_head: int = DECODER_DIM_HEAD) -> None:
        super().__init__()
        self.task_tokens_num = task_tokens_num
        self.transformer = TokenTransformer(feat_dim, task_tokens_num, depth, heads, dim_head)
        self.token_conv = nn.Linear(feat_dim, dim_out)
        for name, (_, count, out) in TOKEN_GROUPS.items():
            setattr(self, f"dec_{name}", nn.Linear(count * dim_out, out))

    def forward(self, task_tokens: torch.Tensor, img_feat: torch.Tensor) -> DecoderOutput:
        """Decode task tokens (B, T, D) and the feature map (B, D, Hp, Wp)."""
        b = img_feat.shape[0]
        image_tokens = img_feat.flatten(2).transpose(1, 2)
        tokens = torch.cat((task_tokens, image_tokens), dim=1)
        out = self.token_conv(self.transformer(tokens, context=image_tokens)[:, : self.task_tokens_num])
        heads = {
            name: getattr(self, f"dec_{name}")(out[:, start : start + count].reshape(b, -1))
            for name, (start, count, _) in TOKEN_GROUPS.items()
        }
        return DecoderOutput(
            body_root_pose=heads["body_root_pose"],
            body_pose=heads["body_pose"],
            body_betas=heads["body_shape"],
            body_cam=heads["body_cam"],
            lhand_root_pose=heads["hand_root_pose"][:, :6],
            rhand_root_pose=heads["hand_root_pose"][:, 6:],
            lhand_pose=heads["hand_pose"][:, :90],
            rhand_pose=heads["hand_pose"][:, 90:],
            lhand_cam=heads["hand_cam"][:, :3],
            rhand_cam=heads["hand_cam"][:, 3:],
            face_root_pose=heads["face_root_pose"],
            face_expression=heads["face_expression"],
            face_jaw_pose=heads["face_jaw_pose"],
            face_cam=heads["face_cam"],
        )
