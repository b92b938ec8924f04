"""Pruning: unstructured magnitude, structured heads and FFN neurons, and 2:4 semi-structured.

What each buys differs, and the records show it:
- Unstructured magnitude pruning zeroes weights inside dense matrices. Dense kernels multiply the
  zeros anyway, and the state dict stores them, so params, MACs, weight bytes and latency stay
  where they were; only the count of non-zero weights drops (it is in the optimization's notes).
- Head and FFN-neuron pruning remove whole rows and columns, so the matrices really shrink:
  params, MACs and latency all drop.
- 2:4 semi-structured sparsity runs on NVIDIA sparse tensor cores (Ampere and later) through
  `torch.sparse.to_sparse_semi_structured`. CPUs have no such kernels: it is declared CUDA-only,
  so a CPU cell is skipped at plan time with "runs on cuda only", the honest report of "not
  accelerated on CPU" (a CPU run would only measure dense zeros, which magnitude pruning covers).
"""

from __future__ import annotations

import torch
from torch import nn

from bench.optimize import arch
from bench.optimize.base import Artifact, Context
from bench.optimize.precision import CastInputs
from bench.optimize.specs.prune import MagnitudeParams, RatioParams, SemiStructuredParams


def _note(artifact: Artifact, text: str) -> list[str]:
    return [*artifact.notes, text]


def encoder_linears(module: nn.Module) -> list[nn.Linear]:
    """The Linear layers inside the encoder blocks (not embeddings, not the classifier head)."""
    out: list[nn.Linear] = []
    for layer in arch.layers(module):
        out += [m for m in layer.block.modules() if isinstance(m, nn.Linear)]
    return out


def magnitude_prune(module: nn.Module, sparsity: float) -> int:
    """Zero the `sparsity` share of encoder Linear weights with the smallest |w|, globally.

    Returns the number of weights zeroed. Ties at the threshold are broken by index so the
    count is exact: round(sparsity x total).
    """
    linears = encoder_linears(module)
    flat = torch.cat([lin.weight.detach().abs().flatten() for lin in linears])
    k = int(round(sparsity * flat.numel()))
    if k == 0:
        return 0
    threshold = torch.kthvalue(flat, k).values  # far faster than topk/argsort for k ~ 10^7
    drop = flat < threshold
    ties = (flat == threshold).nonzero().squeeze(1)
    drop[ties[: k - int(drop.sum())]] = True
    start = 0
    with torch.no_grad():
        for lin in linears:
            n = lin.weight.numel()
            lin.weight.masked_fill_(drop[start:start + n].view_as(lin.weight), 0.0)
            start += n
    return k


def prune_magnitude(artifact: Artifact, params: MagnitudeParams, ctx: Context) -> Artifact:
    k = magnitude_prune(artifact.module, params.sparsity)
    return artifact.evolve(notes=_note(artifact, f"prune-magnitude: {k} weights zeroed, stored dense"))


def kept(total: int, ratio: float) -> int:
    """How many of `total` units a layer keeps when `ratio` of them are pruned (at least one)."""
    return max(1, total - int(round(ratio * total)))


def head_scores(layer: arch.Layer) -> torch.Tensor:
    """L2 norm of each head's Q/K/V rows and output columns: a data-free importance proxy."""
    hd, h = layer.head_dim, layer.num_heads
    score = torch.zeros(h)
    for w, _ in layer.qkv_weights():
        score += w.detach().reshape(h, hd, -1).pow(2).sum((1, 2))
    score += layer.attn_out.weight.detach().reshape(-1, h, hd).pow(2).sum((0, 2))
    return score.sqrt()


def prune_heads_(module: nn.Module, ratio: float) -> list[int]:
    counts = []
    for layer in arch.layers(module):
        n = kept(layer.num_heads, ratio)
        heads = torch.topk(head_scores(layer), n).indices.tolist()
        arch.keep_heads(layer, heads)
        counts.append(n)
    return counts


def prune_heads(artifact: Artifact, params: RatioParams, ctx: Context) -> Artifact:
    counts = prune_heads_(artifact.module, params.ratio)
    return artifact.evolve(notes=_note(artifact, f"prune-heads: heads kept per layer {counts}"))


def neuron_scores(layer: arch.Layer) -> torch.Tensor:
    """|fc1 row| x |fc2 column| per FFN neuron."""
    return layer.fc1.weight.detach().norm(dim=1) * layer.fc2.weight.detach().norm(dim=0)


def prune_ffn_(module: nn.Module, ratio: float) -> list[int]:
    counts = []
    for layer in arch.layers(module):
        n = kept(layer.fc1.out_features, ratio)
        arch.keep_neurons(layer, torch.topk(neuron_scores(layer), n).indices)
        counts.append(n)
    return counts


def prune_ffn(artifact: Artifact, params: RatioParams, ctx: Context) -> Artifact:
    counts = prune_ffn_(artifact.module, params.ratio)
    return artifact.evolve(notes=_note(artifact, f"prune-ffn: neurons kept per layer {counts}"))


def pruned_closed_form(spec, workload, *, head_ratio: float = 0.0, ffn_ratio: float = 0.0) -> tuple[int, int]:
    """(params, MACs) after pruning `head_ratio` of heads and `ffn_ratio` of FFN neurons per layer."""
    h, heads, f, n = arch.model_dims(spec)
    tokens = arch.tokens_of(workload)
    shape = arch.LayerShape(h, kept(heads, head_ratio) * (h // heads), kept(f, ffn_ratio), tokens)
    return arch.closed_form(spec, workload, [shape] * n)


# --- 2:4 semi-structured -----------------------------------------------------------------------

def mask_2_4(w: torch.Tensor) -> torch.Tensor:
    """Keep the 2 largest |w| in every group of 4 consecutive inputs (per output row)."""
    groups = w.detach().abs().reshape(w.shape[0], -1, 4)
    idx = groups.topk(2, dim=-1).indices
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, idx, True)
    return mask.reshape(w.shape)


def sparse_2to4(artifact: Artifact, params: SemiStructuredParams, ctx: Context) -> Artifact:
    from torch.sparse import to_sparse_semi_structured

    dtype = torch.float16 if params.dtype == "fp16" else torch.bfloat16
    module = artifact.module.to(device="cuda", dtype=dtype)
    converted = 0
    for lin in encoder_linears(module):
        if lin.in_features % 64 or lin.out_features % 64:  # the kernels' tile constraint
            continue
        with torch.no_grad():
            dense = lin.weight * mask_2_4(lin.weight)
            lin.weight = nn.Parameter(to_sparse_semi_structured(dense), requires_grad=False)
        converted += 1
    return artifact.evolve(module=CastInputs(module, dtype), precision=params.dtype,
                           notes=_note(artifact, f"sparse-2to4: {converted} Linear layers semi-structured"))
