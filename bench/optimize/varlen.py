"""Variable-length inputs: padded against packed (padding-free) execution (ByteTransformer).

A batch of sequences of different lengths is usually padded to the longest, and every Linear
layer and the attention then work on the padding too. Packed execution removes the padding once
after the embeddings: the real tokens of all sequences form one [T, H] matrix, every Linear
runs on T rows, and attention runs per sequence on its own L_i tokens. Counted MACs are then
sum_i L_i x (linear cost per token) + sum_i 2 L_i^2 a, proportional to the real tokens (and
their squares for attention), against B x S and B x S^2 padded. Outputs on the real tokens equal
the padded model's (BERT masks padded keys, so they never influence a real token); padded
positions are returned as zeros, and fidelity is compared on real tokens only.

ByteTransformer fuses this into CUDA kernels; here the packing is plain torch (index_select and
index_copy), and attention loops over sequences, so on CPU it measures what removing the padding
buys, including the cost of the gather/scatter.

The workload's `real_lengths: [lo, hi]` (suite `workloads.real_lengths`) draws each sequence's
length uniformly; the padded baseline is simply `fp32` on the same workload.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from bench.optimize import arch
from bench.optimize.base import Artifact, Context


class PackedBert(nn.Module):
    def __init__(self, module: nn.Module):
        super().__init__()
        self.kind, self.bert = arch.encoder_of(module)
        self.layers = arch.layers(module)

    def forward(self, input_ids, attention_mask=None):
        x = self.bert.embeddings(input_ids=input_ids)
        b, s, h = x.shape
        if attention_mask is None:
            attention_mask = torch.ones(b, s, dtype=torch.long)
        keep = attention_mask.reshape(-1).nonzero().squeeze(1)
        lengths = attention_mask.sum(1).tolist()
        t = x.reshape(b * s, h).index_select(0, keep)  # [T, H]: real tokens only
        for layer in self.layers:
            sa = layer.block.attention.self
            hd = layer.head_dim
            q, k, v = (lin(t).view(t.shape[0], -1, hd).transpose(0, 1) for lin in (sa.query, sa.key, sa.value))
            parts, start = [], 0
            for n in lengths:  # attention within each sequence
                if n:
                    sl = slice(start, start + n)
                    parts.append(arch.sdpa(q[None, :, sl], k[None, :, sl], v[None, :, sl], None)[0])
                start += n
            ctx = torch.cat(parts, dim=1)[None]  # [1, heads, T, d]
            t = arch.bert_after_attention(layer, ctx, t[None])[0]
        out = x.new_zeros(b * s, h).index_copy(0, keep, t)
        return out.view(b, s, h)


def varlen_packed(artifact: Artifact, params, ctx: Context) -> Artifact:
    return artifact.evolve(module=PackedBert(artifact.module), notes=[*artifact.notes, "varlen-packed"])


def packed_closed_form(spec, lengths: list[int]) -> int:
    """MACs of packed execution: the zoo's per-sequence closed form at each real length."""
    from bench.zoo import Workload

    return sum(spec.closed_form_macs(Workload(1, seq_len=n)) for n in lengths if n)


class RealTokenOutputs(NamedTuple):
    out: np.ndarray
    ref: np.ndarray
    record: dict  # fields for the cell's record: the real-token count, when there is padding


def real_token_outputs(out, ref, inputs: dict) -> RealTokenOutputs:
    """(out, ref) restricted to real tokens when the inputs are padded; as given otherwise.

    Padded positions carry no meaning (a packed model does not compute them), so fidelity on a
    padded workload is measured on the real tokens, and the record says on how many.
    """
    mask = inputs.get("attention_mask")
    out, ref = np.asarray(out), np.asarray(ref)
    if mask is None or bool(mask.all()) or out.shape[:2] != tuple(mask.shape):
        return RealTokenOutputs(out, ref, {})
    m = mask.numpy().astype(bool)
    return RealTokenOutputs(out[m], ref[m], {"real_tokens": int(m.sum())})
