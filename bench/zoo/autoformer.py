"""AutoFormer-T/S/B (Chen et al., ICCV 2021, arXiv 2107.00651): the three searched subnets, 224x224.

AutoFormer trains one weight-sharing ViT supernet and evaluates subnets sliced out of it. The
released models are subnets of supernet-T/S/B selected by the config files
experiments/subnet/AutoFormer-{T,S,B}.yaml (`RETRAIN`: depth, embedding width, and a per-layer MLP
ratio and head count). Each is built here as a fixed `nn.Module` with exactly the weights the
sliced subnet uses.

Sources read: the official code's AutoFormer/README.md in microsoft/Cream (model zoo: 5.8M / 22.9M /
53.7M parameters; the test command `supernet_train.py --gp --change_qk --relative_position --mode
retrain --cfg ./experiments/subnet/AutoFormer-B.yaml --eval`). The stored microsoft/Cream history
holds only a modified fork of the code (a SwinIR supernet, different subnet YAMLs), so the model
code and subnet YAMLs were read in a public copy of the original release,
ZeyuZhao-git/Autoformer_based_code (model/supernet_transformer.py, model/module/multihead_super.py,
experiments/subnet/AutoFormer-{T,S,B}.yaml), with model/module/{qkv_super,Linear_super,
layernorm_super}.py and supernet_train.py read in Doraemonzm/Autoformer-prune; the
attention/relative-position module matches the one in microsoft/Cream's fork line for line. The
YAMLs come from a copy, not the official repository; what confirms them is that the built
subnets' parameter counts, which equal the official `get_sampled_params_numel` formula, agree with
the README: 22.891M vs 22.9M (S), 53.692M vs 53.7M (B), 5.868M vs 5.8M (T, 1.2% above: within
2%, but the README's figure would round from 5.75-5.85M).

What the official evaluation builds, and this module reproduces:

- Patch embedding: Conv2d(3, d, 16, stride 16) with bias; class token; learned absolute position
  embedding for 197 tokens (`abs_pos`, on by default).
- `--change_qk` (an abbreviation argparse expands to `--change_qkv`): the q/k/v width is 64 x heads,
  independent of the embedding width d, so qkv is Linear(d, 3 x 64h) and proj Linear(64h, d);
  `qkv_super` always has a bias. Attention scale 64 ** -0.5.
- `--relative_position`: every layer has 2-D relative position embeddings for keys and values
  (`RelativePosition2D_super`, `max_relative_position` 14): a vertical and a horizontal table of
  2 x 14 + 2 rows of 64 (row 0 for the class token), summed by (row, column) distance between
  patches. The key term adds q . r_k(i, j) x scale to the logits; the value term adds
  sum_j a_ij r_v(i, j) to the attention output.
- Pre-LN blocks (LayerNorm eps 1e-5), exact GELU MLP of width int(d x ratio), final LayerNorm.
- `--gp`: the head reads the mean of the patch tokens (the class token is kept in the sequence but
  not pooled).
- Per-layer heads and MLP ratios from the subnet YAMLs (listed in `CONFIGS`).

What differs:

- No pretrained weights: seeded random weights with the official initialisation (truncated normal
  0.02 for linear weights, relative-position tables, class token and position embedding; zero
  biases).
- The relative-distance index matrices depend only on the image size and are computed once at
  build time (the official code recomputes them, integer ops only, in every forward); the
  embedding tables are still gathered in every forward, as in the official code.
- The supernet's slicing (and qkv_super's interleaved row selection) is replaced by plain layers
  of the sliced shapes: the same function, with weights stored at the subnet's size.

Costs: the closed forms below equal `count_params` and the dispatch MAC counter exactly, the
relative-position products included (4 N^2 x 64h MACs per layer for the two attention products and
the two relative-position products): T 1.482G, S 5.161G, B 11.691G at 224x224. The paper prints
1.3G / 5.1G / 11G. S agrees with this count (without the relative-position products it would be
4.774G); B's 11G agrees with the count without them (11.045G); T's 1.3G belongs to the paper's
first tiny subnet (5.7M parameters), not the released YAML. The reference rows of T and B record
this as their explanation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.zoo.base import vit_init_weights
from bench.zoo.specs.autoformer import CLASSES, CONFIGS, HEAD_DIM, MAX_REL, PATCH  # noqa: F401  (CONFIGS: tests)
from bench.zoo.vision import Logits


def relative_indices(tokens: int, max_rel: int = MAX_REL) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices into the relative-position tables, [tokens, tokens] each.

    Token 0 is the class token (index 0 everywhere in its row and column); patch tokens take
    clip(distance, -max_rel, max_rel) + max_rel + 1, distance = key position - query position.
    """
    patches = tokens - 1
    side = int(patches**0.5)
    pos = torch.arange(patches)
    rows = pos[None, :] // side - pos[:, None] // side
    cols = pos[None, :] % side - pos[:, None] % side
    out = []
    for dist in (rows, cols):
        idx = torch.clamp(dist, -max_rel, max_rel) + max_rel + 1
        out.append(F.pad(idx, (1, 0, 1, 0), value=0).long())
    return out[0], out[1]


class RelativePosition2D(nn.Module):
    """Sum of a vertical and a horizontal relative-position embedding (official `RelativePosition2D_super`)."""

    def __init__(self, head_dim: int, tokens: int, max_rel: int = MAX_REL):
        super().__init__()
        self.embeddings_table_v = nn.Parameter(torch.empty(2 * max_rel + 2, head_dim))
        self.embeddings_table_h = nn.Parameter(torch.empty(2 * max_rel + 2, head_dim))
        nn.init.trunc_normal_(self.embeddings_table_v, std=0.02)
        nn.init.trunc_normal_(self.embeddings_table_h, std=0.02)
        v, h = relative_indices(tokens, max_rel)
        self.register_buffer("index_v", v, persistent=False)
        self.register_buffer("index_h", h, persistent=False)

    def forward(self) -> torch.Tensor:
        return self.embeddings_table_v[self.index_v] + self.embeddings_table_h[self.index_h]  # [N, N, head_dim]


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, tokens: int):
        super().__init__()
        self.heads = heads
        self.scale = HEAD_DIM**-0.5
        self.qkv = nn.Linear(dim, 3 * heads * HEAD_DIM)
        self.rel_pos_embed_k = RelativePosition2D(HEAD_DIM, tokens)
        self.rel_pos_embed_v = RelativePosition2D(HEAD_DIM, tokens)
        self.proj = nn.Linear(heads * HEAD_DIM, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        h = self.heads
        q, k, v = self.qkv(x).reshape(b, n, 3, h, HEAD_DIM).permute(2, 0, 3, 1, 4)  # [B, h, N, 64] each
        attn = (q @ k.transpose(-2, -1)) * self.scale
        # Key term: for each query position i, q_i . r_k(i, j), as a batch of N matmuls over (B h).
        q_by_pos = q.permute(2, 0, 1, 3).reshape(n, b * h, HEAD_DIM)
        rel_k = (q_by_pos @ self.rel_pos_embed_k().transpose(2, 1)).transpose(0, 1).reshape(b, h, n, n)
        attn = (attn + rel_k * self.scale).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, n, h * HEAD_DIM)
        # Value term: sum_j a_ij r_v(i, j).
        a_by_pos = attn.permute(2, 0, 1, 3).reshape(n, b * h, n)
        rel_v = (a_by_pos @ self.rel_pos_embed_v()).transpose(0, 1).reshape(b, h, n, HEAD_DIM)
        out = out + rel_v.transpose(1, 2).reshape(b, n, h * HEAD_DIM)
        return self.proj(out)


class Block(nn.Module):
    """Pre-LN encoder layer (official `TransformerEncoderLayer` at one sampled config)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, tokens: int):
        super().__init__()
        self.attn_layer_norm = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, tokens)
        self.ffn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, int(dim * mlp_ratio))
        self.fc2 = nn.Linear(int(dim * mlp_ratio), dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_layer_norm(x))
        return x + self.fc2(F.gelu(self.fc1(self.ffn_layer_norm(x))))


class AutoFormer(nn.Module):
    def __init__(self, *, embed_dim: int, mlp_ratio: list[float], num_heads: list[int], img_size: int = 224,
                 num_classes: int = CLASSES):
        super().__init__()
        assert len(mlp_ratio) == len(num_heads)
        tokens = (img_size // PATCH) ** 2 + 1
        self.patch_embed = nn.Conv2d(3, embed_dim, kernel_size=PATCH, stride=PATCH)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, embed_dim))
        self.blocks = nn.ModuleList(Block(embed_dim, h, r, tokens) for h, r in zip(num_heads, mlp_ratio))
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(vit_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return self.head(x[:, 1:].mean(dim=1))  # --gp: mean of the patch tokens


def autoformer(**kwargs) -> nn.Module:
    return Logits(AutoFormer(**kwargs))
