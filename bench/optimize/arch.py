"""One view of the two encoder architectures the structural optimizations edit.

Head pruning, FFN slicing, token reduction, attention variants and packed execution all need the
same handful of tensors (Q/K/V and output projections, the FFN pair, the norms) and the same
forward loop with one piece swapped. The zoo builds BERT-like models through transformers
(`BertModel`) and ViTs through timm (`VisionTransformer`); this module gives both a common
layer view and a functional forward whose attention kernel and per-layer hook are parameters,
so each optimization is a small function instead of a copy of an encoder.

Only the HF `BertModel` (bert-base, bert-large, tinybert-4) and timm `VisionTransformer` (DeiT)
layouts are understood. DistilBERT, ALBERT and MobileBERT share the "bert" family but not the
layout; `encoder_of` raises a UserError naming the model so the cell fails with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import UserError

AttnFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def encoder_of(module: nn.Module) -> tuple[str, nn.Module]:
    """("bert", BertModel) or ("vit", VisionTransformer) inside a zoo wrapper."""
    inner = module
    for _ in range(4):  # zoo wrappers, and wrappers added by earlier steps (a precision cast)
        if type(inner).__name__ in ("BertModel", "VisionTransformer"):
            break
        # zoo wrappers (encoder, net), precision casts (module), an HF task model (base_model: its bert)
        nxt = (getattr(inner, "encoder", None) or getattr(inner, "net", None) or getattr(inner, "module", None)
               or getattr(inner, "base_model", None))
        if not isinstance(nxt, nn.Module):
            break
        inner = nxt
    name = type(inner).__name__
    if name == "BertModel":
        return "bert", inner
    if name == "VisionTransformer":
        return "vit", inner
    raise UserError(f"this optimization edits transformers BertModel or timm VisionTransformer layers; "
                    f"the model is a {name or type(module).__name__}, whose layer layout it does not know")


@dataclass
class Layer:
    """The weights of one encoder layer, whatever the library."""

    kind: str
    block: nn.Module

    @property
    def head_dim(self) -> int:
        if self.kind == "bert":
            return self.block.attention.self.attention_head_size
        return self.block.attn.head_dim

    @property
    def num_heads(self) -> int:
        return self.attn_out.in_features // self.head_dim

    @property
    def attn_out(self) -> nn.Linear:
        return self.block.attention.output.dense if self.kind == "bert" else self.block.attn.proj

    @property
    def fc1(self) -> nn.Linear:
        return self.block.intermediate.dense if self.kind == "bert" else self.block.mlp.fc1

    @property
    def fc2(self) -> nn.Linear:
        return self.block.output.dense if self.kind == "bert" else self.block.mlp.fc2

    def qkv_weights(self) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """(weight, bias) of Q, K and V, each [heads*head_dim, hidden] (views into the real weights)."""
        if self.kind == "bert":
            sa = self.block.attention.self
            return [(lin.weight, lin.bias) for lin in (sa.query, sa.key, sa.value)]
        qkv = self.block.attn.qkv
        w = qkv.weight.chunk(3, 0)
        b = qkv.bias.chunk(3, 0) if qkv.bias is not None else (None, None, None)
        return list(zip(w, b, strict=True))


def layers(module: nn.Module) -> list[Layer]:
    kind, enc = encoder_of(module)
    blocks = enc.encoder.layer if kind == "bert" else enc.blocks
    return [Layer(kind, b) for b in blocks]


# --- slicing: physically smaller weights -------------------------------------------------------

def _sliced(lin: nn.Linear, out_idx: torch.Tensor | None = None, in_idx: torch.Tensor | None = None) -> nn.Linear:
    w = lin.weight.detach()
    b = lin.bias.detach() if lin.bias is not None else None
    if out_idx is not None:
        w = w[out_idx]
        b = b[out_idx] if b is not None else None
    if in_idx is not None:
        w = w[:, in_idx]
    new = nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype, device=w.device)
    with torch.no_grad():
        new.weight.copy_(w)
        if b is not None:
            new.bias.copy_(b)
    return new


def keep_heads(layer: Layer, heads: list[int]) -> None:
    """Keep only `heads` (indices) in this layer's attention: Q/K/V rows and output columns go."""
    hd = layer.head_dim
    cols = torch.cat([torch.arange(h * hd, (h + 1) * hd) for h in sorted(heads)])
    if layer.kind == "bert":
        sa = layer.block.attention.self
        sa.query, sa.key, sa.value = (_sliced(x, out_idx=cols) for x in (sa.query, sa.key, sa.value))
        sa.num_attention_heads = len(heads)
        sa.all_head_size = len(heads) * hd
        layer.block.attention.output.dense = _sliced(layer.attn_out, in_idx=cols)
    else:
        attn = layer.block.attn
        width = attn.attn_dim
        rows = torch.cat([cols + i * width for i in range(3)])
        attn.qkv = _sliced(attn.qkv, out_idx=rows)
        attn.proj = _sliced(attn.proj, in_idx=cols)
        attn.num_heads = len(heads)
        attn.attn_dim = len(heads) * hd


def keep_neurons(layer: Layer, idx: torch.Tensor) -> None:
    """Keep only the FFN neurons `idx`: fc1 rows and fc2 columns."""
    idx = torch.sort(idx).values
    fc1, fc2 = _sliced(layer.fc1, out_idx=idx), _sliced(layer.fc2, in_idx=idx)
    if layer.kind == "bert":
        layer.block.intermediate.dense, layer.block.output.dense = fc1, fc2
    else:
        layer.block.mlp.fc1, layer.block.mlp.fc2 = fc1, fc2


# --- functional forwards with a swappable attention kernel -------------------------------------

def sdpa(q, k, v, mask):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def key_mask(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """[B, S] 0/1 -> bool [B, 1, 1, S]; None when nothing is masked (as transformers does).

    While exporting, the mask is always kept: a traced data-dependent None would drop the
    `attention_mask` input from the graph.
    """
    if attention_mask is None:
        return None
    exporting = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
    if not exporting and bool(attention_mask.all()):
        return None
    return attention_mask.bool()[:, None, None, :]


def heads_of(x: torch.Tensor, head_dim: int) -> torch.Tensor:
    b, n, _ = x.shape
    return x.view(b, n, -1, head_dim).transpose(1, 2)


def bert_qkv(layer: Layer, x: torch.Tensor):
    sa = layer.block.attention.self
    hd = layer.head_dim
    return heads_of(sa.query(x), hd), heads_of(sa.key(x), hd), heads_of(sa.value(x), hd)


def bert_after_attention(layer: Layer, ctx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Output projection + residual + LN, then the FFN (Post-LN, as BERT)."""
    b = layer.block
    ctx = ctx.transpose(1, 2).reshape(*x.shape[:-1], -1)
    a = b.attention.output.LayerNorm(b.attention.output.dense(ctx) + x)
    h = b.intermediate.intermediate_act_fn(b.intermediate.dense(a))
    return b.output.LayerNorm(b.output.dense(h) + a)


def bert_layer(layer: Layer, x: torch.Tensor, mask, attn: AttnFn = sdpa) -> torch.Tensor:
    q, k, v = bert_qkv(layer, x)
    return bert_after_attention(layer, attn(q, k, v, mask), x)


def vit_qkv(layer: Layer, h: torch.Tensor):
    a = layer.block.attn
    b, n, _ = h.shape
    q, k, v = a.qkv(h).reshape(b, n, 3, -1, a.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    return a.q_norm(q), a.k_norm(k), v


def vit_after_attention(layer: Layer, ctx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    blk = layer.block
    ctx = ctx.transpose(1, 2).reshape(*x.shape[:-1], -1)
    x = x + blk.ls1(blk.attn.proj(blk.attn.norm(ctx)))
    return x + blk.ls2(blk.mlp(blk.norm2(x)))


def vit_layer(layer: Layer, x: torch.Tensor, mask=None, attn: AttnFn = sdpa) -> torch.Tensor:
    q, k, v = vit_qkv(layer, layer.block.norm1(x))
    return vit_after_attention(layer, attn(q, k, v, mask), x)


def vit_embed(vit: nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    x = vit.patch_embed(pixel_values)
    x = vit._pos_embed(x)
    return vit.norm_pre(vit.patch_drop(x))


def vit_head(vit: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return vit.forward_head(vit.norm(x))


class FunctionalEncoder(nn.Module):
    """The zoo model with its attention kernel swapped; same inputs, same output."""

    def __init__(self, module: nn.Module, attn: AttnFn):
        super().__init__()
        self.kind, self.enc = encoder_of(module)
        self.attn = attn
        self.layers = layers(module)

    def forward(self, input_ids=None, attention_mask=None, pixel_values=None):
        if self.kind == "bert":
            x = self.enc.embeddings(input_ids=input_ids)
            mask = key_mask(attention_mask)
            for layer in self.layers:
                x = bert_layer(layer, x, mask, self.attn)
            return x
        x = vit_embed(self.enc, pixel_values)
        for layer in self.layers:
            x = vit_layer(layer, x, None, self.attn)
        return vit_head(self.enc, x)


# --- closed forms ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerShape:
    """One encoder layer's widths and the tokens it sees; the closed forms below take a list."""

    hidden: int
    attn_width: int  # heads x head_dim
    ffn: int
    tokens: int
    # Linear layers factored to rank r: name -> r, names from "q","k","v","o","fc1","fc2".
    ranks: tuple[tuple[str, int], ...] = ()
    ffn_tokens: int | None = None  # tokens left for the FFN when a layer drops some after attention
    fused_qkv: bool = False  # timm keeps Q, K and V in one Linear (matters only when factored)


def _linear_dims(s: LayerShape) -> dict[str, tuple[int, int]]:
    h, a, f = s.hidden, s.attn_width, s.ffn
    attn = {"qkv": (h, 3 * a)} if s.fused_qkv else {"q": (h, a), "k": (h, a), "v": (h, a)}
    return {**attn, "o": (a, h), "fc1": (h, f), "fc2": (f, h)}


def layer_params(s: LayerShape) -> int:
    """Linear weights and biases plus two LayerNorms (weight and bias each)."""
    ranks = dict(s.ranks)
    total = 2 * 2 * s.hidden
    for name, (i, o) in _linear_dims(s).items():
        r = ranks.get(name)
        total += (r * (i + o) if r else i * o) + o
    return total


def layer_macs(s: LayerShape) -> int:
    """Per-sequence MACs: Q/K/V/O on every token, QK^T and AV, the FFN on the tokens it keeps."""
    ranks = dict(s.ranks)
    n = s.tokens
    m = s.ffn_tokens if s.ffn_tokens is not None else n
    cost = {k: (ranks[k] * (i + o) if k in ranks else i * o) for k, (i, o) in _linear_dims(s).items()}
    attn_lin = sum(v for k, v in cost.items() if k not in ("fc1", "fc2"))
    return n * attn_lin + m * (cost["fc1"] + cost["fc2"]) + 2 * n * n * s.attn_width


def base_shapes(module: nn.Module, tokens: int) -> list[LayerShape]:
    """The LayerShapes of a model as it is now (after any slicing)."""
    out = []
    for layer in layers(module):
        out.append(LayerShape(hidden=layer.fc1.in_features, attn_width=layer.attn_out.in_features,
                              ffn=layer.fc1.out_features, tokens=tokens))
    return out


def closed_form(spec, workload, shapes: list[LayerShape], extra_macs: int = 0) -> tuple[int, int]:
    """(params, MACs) of `spec` at `workload` with its encoder layers replaced by `shapes`.

    The zoo's closed form is taken as is for embeddings, head and anything outside the layers;
    the layers' share is swapped for the edited layers' closed form. `extra_macs` (per sequence)
    covers work an optimization adds, e.g. the CLS-attention scores token reduction computes.
    """
    h, _, f, n_layers = model_dims(spec)
    fused = spec.family == "vit"
    base = [LayerShape(h, h, f, tokens_of(workload), fused_qkv=fused)] * n_layers
    shapes = [replace(s, fused_qkv=fused) for s in shapes]
    params = spec.closed_form_params() - sum(map(layer_params, base)) + sum(map(layer_params, shapes))
    per_seq = sum(map(layer_macs, shapes)) - sum(map(layer_macs, base)) + extra_macs
    return params, spec.closed_form_macs(workload) + workload.batch_size * per_seq


def model_dims(spec) -> tuple[int, int, int, int]:
    """(hidden, heads, ffn width, layers) from a zoo spec's config."""
    cfg = spec.config
    if spec.family == "bert":
        return cfg["hidden_size"], cfg["num_attention_heads"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    return cfg["dim"], cfg["heads"], 4 * cfg["dim"], cfg["depth"]


def tokens_of(workload) -> int:
    """Sequence length, or patches + CLS for a 16x16-patch ViT."""
    return workload.seq_len if workload.seq_len is not None else (workload.image_size // 16) ** 2 + 1
