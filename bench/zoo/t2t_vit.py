"""T2T-ViT (Yuan et al., ICCV 2021, arXiv 2101.11986): the Performer variants T2T-ViT-7/12/14, 224x224.

Defined after the official code, github.com/yitu-opensource/T2T-ViT:
models/t2t_vit.py (`T2T_module`, `T2T_ViT`, the `t2t_vit_7/12/14` constructors),
models/token_performer.py (`Token_performer`) and models/transformer_block.py (`Block`,
`Attention`, `Mlp`, `get_sinusoid_encoding`). The published parameters and MACs are the README's
model tables (T2T-ViT-7 4.3M / 1.1G, T2T-ViT-12 6.9M / 1.8G, T2T-ViT-14 21.5M / 4.8G).

What is the same as the official code:

- Tokens-to-token module ("performer" tokens type, what the plain T2T-ViT-N models use): soft split
  0 is an unfold with a 7x7 kernel, stride 4, padding 2 (3136 tokens of 147 values at 224x224);
  a Performer layer maps them to 64 channels; the tokens are folded back into a 56x56 map and soft
  split 1 (3x3, stride 2, padding 1) gives 784 tokens of 576 values; a second Performer layer maps
  them to 64 channels; soft split 2 (3x3, stride 2, padding 1) gives 196 tokens of 576 values, and
  a linear layer projects them to the embedding width.
- Performer layer: one head; `kqv` is Linear(in, 3 x 64); positive random features
  exp(w.x - |x|^2 / 2) / sqrt(m) with m = 32 features (kernel_ratio 0.5), `w` orthogonal rows scaled
  by sqrt(m) and frozen; linear attention y = phi(q) (phi(k)^T v) / (phi(q) . sum phi(k)); the
  value is the skip connection around the output projection (the token width changes); then a
  pre-LN MLP of ratio 1. `w` is an `nn.Parameter(requires_grad=False)` as in the official code, so
  `model.parameters()` counts it (2 x 32 x 64 values).
- Backbone: class token, a fixed sinusoidal position table (a frozen parameter, counted the same
  way), `depth` pre-LN blocks (qkv without bias, GELU MLP), final LayerNorm, linear head on the
  class token. T2T-ViT-7: 256 wide, 4 heads, MLP ratio 2; -12: the same, 12 deep; -14: 384 wide,
  6 heads, ratio 3.
- Attention scale: the official constructors set `qk_scale = embed_dim ** -0.5` for the released
  checkpoints (`pretrained=True`), whose accuracies the README reports; that scale is used here.
  It changes no cost.
- Module and parameter names follow the official module tree.

What differs:

- No pretrained weights: seeded random weights with the official initialisation (truncated normal
  0.02 for linear weights, zero biases). The Performer's random features are drawn from torch's
  global generator, which `ModelSpec.build(seed)` seeds, in the official order (a normal draw,
  then `orthogonal_`), so a build is deterministic.
- The backbone attention runs through `F.scaled_dot_product_attention` (the same softmax(q k^T) v
  the official code spells out, and the fused kernel the timm ViTs of this zoo use).
- The Performer's random-feature products run in float32, as the official `.float()` casts make
  them, and the result is cast back to the activations' dtype before the output projection, so the
  module also runs in half precision (the official code mixes dtypes there); in float32 nothing
  changes.

Costs: the closed forms below equal `count_params` and the dispatch MAC counter exactly (every
matmul counted, attention and random-feature products included): T2T-ViT-7 4.310M / 1.147G,
T2T-ViT-12 6.942M / 1.763G, T2T-ViT-14 21.546M / 4.783G at 224x224, each within the README's
printed rounding. Unfolds are copies and count no MACs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bench.zoo.base import vit_init_weights
from bench.zoo.specs.t2t_vit import CLASSES, KERNEL_RATIO, TOKEN_DIM
from bench.zoo.vision import Logits


def sinusoid_table(positions: int, dim: int) -> torch.Tensor:
    """The Transformer's sine/cosine position table, [1, positions, dim]."""
    pos = torch.arange(positions, dtype=torch.float64)[:, None]
    rate = 10000.0 ** (2 * (torch.arange(dim) // 2) / dim).to(torch.float64)
    angle = pos / rate
    table = torch.where(torch.arange(dim) % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.float().unsqueeze(0)


class PerformerToken(nn.Module):
    """One-head Performer layer of the T2T module (official `Token_performer`)."""

    def __init__(self, dim: int, in_dim: int, kernel_ratio: float = KERNEL_RATIO):
        super().__init__()
        self.emb = in_dim
        self.m = int(in_dim * kernel_ratio)
        self.kqv = nn.Linear(dim, 3 * in_dim)
        self.proj = nn.Linear(in_dim, in_dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(in_dim)
        self.mlp = nn.Sequential(nn.Linear(in_dim, in_dim), nn.GELU(), nn.Linear(in_dim, in_dim))
        self.epsilon = 1e-8
        w = torch.randn(self.m, in_dim)  # consumed as in the official code, then overwritten
        self.w = nn.Parameter(nn.init.orthogonal_(w) * math.sqrt(self.m), requires_grad=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Positive random features of the softmax kernel: exp(w.x - |x|^2 / 2) / sqrt(m)."""
        x = x.float()
        wx = torch.einsum("bti,mi->btm", x, self.w.float())
        return torch.exp(wx - (x * x).sum(dim=-1, keepdim=True) / 2) / math.sqrt(self.m)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        k, q, v = torch.split(self.kqv(x), self.emb, dim=-1)
        kp, qp = self.features(k), self.features(q)  # [B, T, m]
        norm = torch.einsum("bti,bi->bt", qp, kp.sum(dim=1)).unsqueeze(2)  # [B, T, 1]
        kv = torch.einsum("bin,bim->bnm", v.float(), kp)  # [B, emb, m]
        y = torch.einsum("bti,bni->btn", qp, kv) / (norm + self.epsilon)  # [B, T, emb]
        return v + self.proj(y.to(v.dtype))  # the value is the skip connection

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attend(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class T2TModule(nn.Module):
    """Soft split, Performer, soft split, Performer, soft split, projection (official `T2T_module`)."""

    def __init__(self, embed_dim: int, in_chans: int = 3, token_dim: int = TOKEN_DIM):
        super().__init__()
        self.soft_split0 = nn.Unfold(kernel_size=7, stride=4, padding=2)
        self.soft_split1 = nn.Unfold(kernel_size=3, stride=2, padding=1)
        self.soft_split2 = nn.Unfold(kernel_size=3, stride=2, padding=1)
        self.attention1 = PerformerToken(in_chans * 7 * 7, token_dim)
        self.attention2 = PerformerToken(token_dim * 3 * 3, token_dim)
        self.project = nn.Linear(token_dim * 3 * 3, embed_dim)

    @staticmethod
    def _fold(x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        side = math.isqrt(n)
        return x.transpose(1, 2).reshape(b, c, side, side)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.soft_split0(x).transpose(1, 2)
        x = self.soft_split1(self._fold(self.attention1(x))).transpose(1, 2)
        x = self.soft_split2(self._fold(self.attention2(x))).transpose(1, 2)
        return self.project(x)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, scale: float):
        super().__init__()
        self.heads, self.scale = heads, scale
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, scale: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, scale)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class T2TViT(nn.Module):
    def __init__(self, *, embed_dim: int, depth: int, heads: int, mlp_ratio: float, img_size: int = 224,
                 num_classes: int = CLASSES):
        super().__init__()
        self.tokens_to_token = T2TModule(embed_dim)
        patches = (img_size // 16) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(sinusoid_table(patches + 1, embed_dim), requires_grad=False)
        scale = embed_dim**-0.5  # the released checkpoints' qk_scale
        self.blocks = nn.ModuleList(Block(embed_dim, heads, mlp_ratio, scale) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(vit_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.tokens_to_token(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])


def t2t_vit(**kwargs) -> nn.Module:
    return Logits(T2TViT(**kwargs))
