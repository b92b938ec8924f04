"""Token reduction: fewer tokens in later layers, so the counted MACs follow the schedule.

- `vit-token-keep(keep_rate, layers)` (EViT/DynamicViT style): in each listed layer, after
  attention, the patch tokens ranked by the CLS token's attention (mean over heads) are kept, the
  top ceil(keep_rate x patches), in their original order; the FFN and every later layer see only
  those. The CLS row of attention is computed separately (N x d MACs per head, counted), since
  the fused kernel does not return probabilities. By default the other tokens are dropped
  (DynamicViT's hard keep); `fuse=true` is EViT's inattentive token fusion: the dropped tokens
  become one extra token, their sum weighted by the CLS attention each received (as in
  youweiliang/evit's `Block.forward`), which later layers see and may drop or fuse again.
- `bert-word-elimination(keep_rate, layers)` (Latency Adjustable Transformer Encoder, after
  PoWER-BERT): in each listed layer, attention is computed explicitly and every token's
  significance is the attention it receives, summed over heads and queries; the [CLS] token and
  the top ceil(keep_rate x (N - 1)) others continue, in order. An eliminated word vector keeps the
  value it had when eliminated (the attention sub-layer's output) and is put back in place at the
  end, so the output keeps the encoder's [B, N, H] shape and fidelity compares like with like.

keep_rate 1.0 skips selection entirely: the forward is the unmodified computation, exactly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bench.optimize import arch
from bench.optimize.base import Artifact, Context
from bench.optimize.specs.tokens import KeepParams, ViTKeepParams


def n_keep(others: int, keep_rate: float) -> int:
    return max(1, math.ceil(keep_rate * others))


def _gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return x.gather(1, idx[..., None].expand(-1, -1, x.shape[-1]))


def _keep_order(score: torch.Tensor, k: int) -> torch.Tensor:
    return torch.topk(score, k, dim=-1).indices.sort(dim=-1).values


def _complement(idx: torch.Tensor, n: int) -> torch.Tensor:
    """The positions in [0, n) that `idx` [B, k] does not hold, per row, in order: [B, n - k]."""
    mask = torch.ones(idx.shape[0], n, dtype=torch.bool, device=idx.device)
    mask.scatter_(1, idx, False)
    return mask.nonzero()[:, 1].view(idx.shape[0], n - idx.shape[1])


class ViTTokenKeep(nn.Module):
    def __init__(self, module: nn.Module, keep_rate: float, layers: list[int], fuse: bool = False):
        super().__init__()
        self.kind, self.vit = arch.encoder_of(module)
        self.layers = arch.layers(module)
        self.keep_rate, self.at, self.fuse = keep_rate, set(layers), fuse

    def forward(self, pixel_values):
        x = arch.vit_embed(self.vit, pixel_values)
        for i, layer in enumerate(self.layers):
            if self.keep_rate >= 1.0 or i not in self.at:
                x = arch.vit_layer(layer, x)
                continue
            blk = layer.block
            q, k, v = arch.vit_qkv(layer, blk.norm1(x))
            ctx = arch.sdpa(q, k, v, None).transpose(1, 2).reshape(*x.shape[:-1], -1)
            x = x + blk.ls1(blk.attn.proj(blk.attn.norm(ctx)))
            cls_attn = ((q[:, :, :1] * blk.attn.scale) @ k.transpose(-1, -2)).softmax(-1)  # [B, H, 1, N]
            score = cls_attn[:, :, 0, 1:].mean(1)
            others = x.shape[1] - 1
            keep = _keep_order(score, n_keep(others, self.keep_rate))
            kept = [x[:, :1], _gather(x[:, 1:], keep)]
            if self.fuse and keep.shape[1] < others:
                drop = _complement(keep, others)
                weights = score.gather(1, drop)  # [B, dropped]
                # A weighted sum as a batched matmul: (1 x dropped) @ (dropped x d), counted as MACs.
                kept.append(torch.bmm(weights[:, None, :], _gather(x[:, 1:], drop)))
            x = torch.cat(kept, dim=1)
            x = x + blk.ls2(blk.mlp(blk.norm2(x)))
        return arch.vit_head(self.vit, x)


def vit_token_keep(artifact: Artifact, params: ViTKeepParams, ctx: Context) -> Artifact:
    fused = ", fused" if params.fuse else ""
    return artifact.evolve(module=ViTTokenKeep(artifact.module, params.keep_rate, params.layers, params.fuse),
                           notes=[*artifact.notes, f"vit-token-keep({params.keep_rate}, {params.layers}{fused})"])


class BertWordElimination(nn.Module):
    def __init__(self, module: nn.Module, keep_rate: float, layers: list[int]):
        super().__init__()
        self.kind, self.bert = arch.encoder_of(module)
        self.layers = arch.layers(module)
        self.keep_rate, self.at = keep_rate, set(layers)

    def forward(self, input_ids, attention_mask=None):
        x = self.bert.embeddings(input_ids=input_ids)
        if self.keep_rate >= 1.0 or not self.at:
            mask = arch.key_mask(attention_mask)
            for layer in self.layers:
                x = arch.bert_layer(layer, x, mask)
            return x
        b, n, _ = x.shape
        keep_mask = attention_mask.bool() if attention_mask is not None else torch.ones(b, n, dtype=torch.bool)
        pos = torch.arange(n).expand(b, n)  # original positions of the current tokens
        out = torch.empty_like(x)
        for i, layer in enumerate(self.layers):
            mask = keep_mask[:, None, None, :]
            if i not in self.at:
                x = arch.bert_layer(layer, x, None if bool(keep_mask.all()) else mask)
                continue
            q, k, v = arch.bert_qkv(layer, x)
            scores = (q @ k.transpose(-1, -2)) * layer.block.attention.self.scaling
            probs = scores.masked_fill(~mask, float("-inf")).softmax(-1)
            ctx = probs @ v
            blk = layer.block
            ctx = ctx.transpose(1, 2).reshape(b, x.shape[1], -1)
            a = blk.attention.output.LayerNorm(blk.attention.output.dense(ctx) + x)
            out.scatter_(1, pos[..., None].expand_as(a), a)  # eliminated vectors keep this value
            significance = probs.sum((1, 2)).masked_fill(~keep_mask, -1.0)
            significance[:, 0] = float("inf")  # [CLS] always stays
            idx = _keep_order(significance, 1 + n_keep(x.shape[1] - 1, self.keep_rate))
            a, pos, keep_mask = _gather(a, idx), pos.gather(1, idx), keep_mask.gather(1, idx)
            h = blk.intermediate.intermediate_act_fn(blk.intermediate.dense(a))
            x = blk.output.LayerNorm(blk.output.dense(h) + a)
        return out.scatter(1, pos[..., None].expand_as(x), x)


def bert_word_elimination(artifact: Artifact, params: KeepParams, ctx: Context) -> Artifact:
    return artifact.evolve(module=BertWordElimination(artifact.module, params.keep_rate, params.layers),
                           notes=[*artifact.notes, f"bert-word-elimination({params.keep_rate}, {params.layers})"])


def token_schedule(tokens: int, n_layers: int, keep_rate: float, at: list[int],
                   fuse: bool = False) -> list[tuple[int, int]]:
    """(tokens attention sees, tokens the FFN sees) per layer; the first token (CLS) always stays,
    and with `fuse` the dropped ones come back as one extra token."""
    sched = []
    for i in range(n_layers):
        after = tokens
        if keep_rate < 1.0 and i in at:
            kept = n_keep(tokens - 1, keep_rate)
            after = 1 + kept + (1 if fuse and kept < tokens - 1 else 0)
        sched.append((tokens, after))
        tokens = after
    return sched


def token_closed_form(spec, workload, keep_rate: float, at: list[int], fuse: bool = False) -> tuple[int, int]:
    """(params, MACs) under the schedule; ViT adds the CLS-attention row (N x hidden) per selecting
    layer, and fusion its weighted sum (dropped tokens x hidden)."""
    h, _, f, n = arch.model_dims(spec)
    sched = token_schedule(arch.tokens_of(workload), n, keep_rate, at, fuse)
    shapes = [arch.LayerShape(h, h, f, t, ffn_tokens=m) for t, m in sched]
    selecting = keep_rate < 1.0 and spec.family == "vit"
    extra = 0
    for i, (t, _) in enumerate(sched):
        if selecting and i in at:
            extra += t * h
            if fuse:
                extra += (t - 1 - n_keep(t - 1, keep_rate)) * h
    return arch.closed_form(spec, workload, shapes, extra_macs=extra)
