"""Mobile-Former (Chen et al., CVPR 2022, arXiv 2108.05895), 224x224, seeded random weights.

Mobile-Former runs a MobileNet ("Mobile") and a tiny transformer over a few global tokens
("Former") side by side, joined in every block by two cross-attention bridges:

- Mobile->Former: the tokens attend over the feature map (queries projected from the tokens,
  keys = values = the raw feature map, no projection on the local side), 2 heads; the result
  is gated per channel by the tokens (Linear + h-sigmoid, x2), projected back to the token
  width, added and layer-normed.
- Former: multi-head self-attention over the tokens (4 heads; keys = values = the tokens, only
  a query projection and an output projection), post-norm, then an FFN of expansion 2 (GELU),
  post-norm.
- Former->Mobile: every pixel attends over the tokens (queries = the raw feature map, key and
  value projections on the token side), 2 heads, added to the feature map.
- Mobile: an inverted bottleneck whose activations are dynamic ReLU, max(a1 x, a2 x) with a1, a2
  per channel, produced from the first token by Linear(d, d/4) -> ReLU -> Linear(d/4, 2C) ->
  h-sigmoid. Downsampling blocks use the paper's dw -> pw -> dw -> pw form with an inner
  residual; stride-1 blocks use pw -> dw -> pw.

The first block after the stem is the "lite bottleneck" (3x3 depthwise with channel expansion,
ReLU6, pointwise-linear) and has no bridges. A last Mobile->Former bridge updates the tokens
before the head: 1x1 conv to 6x channels, ReLU6, average pool, h-swish, concatenated with the
first token, Linear + BatchNorm1d + h-swish to `num_features`, Linear to 1000 classes.

Followed: the per-variant configurations (stem width, per-block expansion/width/stride, token
count and width, head width) and the block structure of the authors' release, AAboys/MobileFormer
(mobile_former.py, dna_blocks.py; its README carries the paper's model table: params, MAdds,
top-1). The widths and token settings agree with a PaddlePaddle implementation whose configs
are labelled as the paper's (cjh3020889729/The-MobileNet-line-of-work-by-PaddlePaddle,
former_config.py). The 96M model has 4 tokens of width 128; the larger ones 6 of width 192.
Written independently from that description; no code copied. Built parameters are within 0.4%
of the published ones for every variant.

Differs, without changing the function or the counts: tokens are kept batch-first (B, T, d)
rather than (T, B, d); the attentions call `scaled_dot_product_attention` (their scale,
(head dim)^-0.5, is SDPA's default; keys double as values where the paper shares them); drop
path and dropout, identities at inference, are left out.

Costs: params/MACs functions return the PUBLISHED figure (the `_published` pattern of
vision_light.py); tests/test_survey_zoo.py compares the dispatch-level MAC counter against it.
The counter, which counts conv/linear/attention MACs only, comes out 1.9% (508M) to 4.2% (96M)
under the paper's MAdds; adding dynamic ReLU's two multiplies per activation, which the paper
likely counts, leaves 0.3-1.6%. published.csv records this per row.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.zoo.specs.mobile_former import VARIANTS


def _bn_conv(cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout))


class DynamicReLU(nn.Module):
    """max(a1 * x, a2 * x), per channel, with (a1, a2) produced from the first global token."""

    def __init__(self, channels: int, token_dim: int, reduction: int = 4):
        super().__init__()
        self.hyper = nn.Sequential(
            nn.Linear(token_dim, token_dim // reduction), nn.ReLU(inplace=True),
            nn.Linear(token_dim // reduction, 2 * channels), nn.Hardsigmoid(),
        )

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        a = self.hyper(tokens[:, 0])[:, :, None, None]  # (B, 2C, 1, 1), each in [0, 1]
        a1, a2 = a.chunk(2, dim=1)
        return torch.maximum(x * (2 * a1), x * (2 * a2 - 1))  # slopes in [0, 2] and [-1, 1]


class MobileToFormer(nn.Module):
    """Tokens attend over the feature map (k = v = the features, unprojected), gated, post-norm."""

    def __init__(self, channels: int, token_dim: int, heads: int = 2):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(token_dim, channels)
        self.gate = nn.Sequential(nn.Linear(token_dim, channels), nn.Hardsigmoid())
        self.proj = nn.Linear(channels, token_dim)
        self.norm = nn.LayerNorm(token_dim)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        t = tokens.shape[1]
        q = self.q(tokens).view(b, t, self.heads, c // self.heads).transpose(1, 2)  # B, N, T, C/N
        kv = x.reshape(b, self.heads, c // self.heads, h * w).transpose(-1, -2)  # B, N, HW, C/N
        out = F.scaled_dot_product_attention(q, kv, kv).transpose(1, 2).reshape(b, t, c)
        out = out * (2 * self.gate(tokens))
        return self.norm(tokens + self.proj(out))


class Former(nn.Module):
    """Self-attention over the tokens (query and output projections only; k = v = the tokens),
    then an FFN of expansion 2; both post-norm."""

    def __init__(self, token_dim: int, heads: int = 4, ffn_exp: int = 2):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(token_dim, token_dim)
        self.proj = nn.Linear(token_dim, token_dim)
        self.norm = nn.LayerNorm(token_dim)
        self.ffn = nn.Sequential(nn.Linear(token_dim, token_dim * ffn_exp), nn.GELU(),
                                 nn.Linear(token_dim * ffn_exp, token_dim))
        self.ffn_norm = nn.LayerNorm(token_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, t, d = tokens.shape
        q = self.q(tokens).view(b, t, self.heads, d // self.heads).transpose(1, 2)
        kv = tokens.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, kv, kv).transpose(1, 2).reshape(b, t, d)
        tokens = self.norm(tokens + self.proj(out))
        return self.ffn_norm(tokens + self.ffn(tokens))


class FormerToMobile(nn.Module):
    """Every pixel attends over the tokens (q = the features, unprojected; k, v projected)."""

    def __init__(self, channels: int, token_dim: int, heads: int = 2):
        super().__init__()
        self.heads = heads
        self.k = nn.Linear(token_dim, channels)
        self.v = nn.Linear(token_dim, channels)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        t = tokens.shape[1]
        q = x.reshape(b, self.heads, c // self.heads, h * w).transpose(-1, -2)  # B, N, HW, C/N
        k = self.k(tokens).view(b, t, self.heads, c // self.heads).transpose(1, 2)  # B, N, T, C/N
        v = self.v(tokens).view(b, t, self.heads, c // self.heads).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)  # B, N, HW, C/N
        return x + out.transpose(-1, -2).reshape(b, c, h, w)


class LiteBottleneck(nn.Module):
    """The first block: 3x3 depthwise with channel expansion, ReLU6, pointwise-linear; no bridges."""

    def __init__(self, cin: int, cout: int, stride: int, exp: int):
        super().__init__()
        self.conv = nn.Sequential(_bn_conv(cin, cin * exp, 3, stride, groups=cin), nn.ReLU6(inplace=True),
                                  _bn_conv(cin * exp, cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor, tokens: torch.Tensor):
        out = self.conv(x)
        return (out + x if self.residual else out), tokens


class MobileFormerBlock(nn.Module):
    """Mobile->Former, Former, Mobile (dynamic ReLU from the updated tokens), Former->Mobile.

    Stride 1: pw (x e1) -> dw -> pw, residual over the block before the Former->Mobile bridge.
    Stride 2: dw (x e1, stride 2) -> pw -> dw (x e2) -> pw, with a residual over the last two.
    """

    def __init__(self, cin: int, cout: int, stride: int, e1: int, e2: int, token_dim: int):
        super().__init__()
        self.down = stride == 2
        self.to_former = MobileToFormer(cin, token_dim)
        self.former = Former(token_dim)
        if self.down:
            h1, h2 = cin * e1, cout * e2
            self.conv1 = _bn_conv(cin, h1, 3, stride, groups=cin)
            self.act1 = DynamicReLU(h1, token_dim)
            self.conv2 = _bn_conv(h1, cout)
            self.conv3 = _bn_conv(cout, h2, 3, groups=cout)
            self.act3 = DynamicReLU(h2, token_dim)
            self.conv4 = _bn_conv(h2, cout)
        else:
            hidden = cin * e1
            self.conv1 = _bn_conv(cin, hidden)
            self.act1 = DynamicReLU(hidden, token_dim)
            self.conv2 = _bn_conv(hidden, hidden, 3, groups=hidden)
            self.act2 = DynamicReLU(hidden, token_dim)
            self.conv3 = _bn_conv(hidden, cout)
        self.residual = stride == 1 and cin == cout
        self.to_mobile = FormerToMobile(cout, token_dim)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor):
        tokens = self.former(self.to_former(x, tokens))
        if self.down:
            mid = self.conv2(self.act1(self.conv1(x), tokens))
            out = mid + self.conv4(self.act3(self.conv3(mid), tokens))
        else:
            out = self.conv3(self.act2(self.conv2(self.act1(self.conv1(x), tokens)), tokens))
            if self.residual:
                out = out + x
        return self.to_mobile(out, tokens), tokens


class MobileFormer(nn.Module):
    def __init__(self, stem: int, blocks, token_num: int, token_dim: int, num_features: int,
                 num_classes: int = 1000, head_exp: int = 6):
        super().__init__()
        self.tokens = nn.Parameter(torch.randn(token_num, token_dim))  # learnable global tokens
        self.stem = nn.Sequential(_bn_conv(3, stem, 3, 2), nn.ReLU6(inplace=True))
        layers, cin = [], stem
        for kind, e1, cout, stride, e2 in blocks:
            if kind == "lite":
                layers.append(LiteBottleneck(cin, cout, stride, e1))
            else:
                layers.append(MobileFormerBlock(cin, cout, stride, e1, e2, token_dim))
            cin = cout
        self.blocks = nn.ModuleList(layers)
        self.to_former = MobileToFormer(cin, token_dim)
        hidden = cin * head_exp
        self.head_conv = nn.Sequential(_bn_conv(cin, hidden), nn.ReLU6(inplace=True))
        self.fc = nn.Sequential(nn.Linear(hidden + token_dim, num_features), nn.BatchNorm1d(num_features),
                                nn.Hardswish())
        self.classifier = nn.Linear(num_features, num_classes)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.stem(pixel_values)
        tokens = self.tokens.expand(x.shape[0], -1, -1)
        for block in self.blocks:
            x, tokens = block(x, tokens)
        tokens = self.to_former(x, tokens)
        pooled = F.hardswish(self.head_conv(x).mean((2, 3)))
        return self.classifier(self.fc(torch.cat([pooled, tokens[:, 0]], dim=1)))


def mobile_former(reference: str) -> nn.Module:
    stem, blocks, token_num, token_dim, num_features = VARIANTS[reference]
    return MobileFormer(stem, blocks, token_num, token_dim, num_features)
