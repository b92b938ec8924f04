"""Low-rank factorization: each encoder Linear W (out x in) becomes B @ A with rank r.

The truncated SVD W ~= U_r S_r V_r^T is the best rank-r approximation (Eckart-Young), and its
error on any input is bounded: |(W - W_r) x| <= s_{r+1} |x|. A factor pair costs r(in + out)
MACs per token instead of in x out, so it pays only when r < in*out / (in + out); a Linear where
it would not pay is left dense, and the notes say how many were factored.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from bench.optimize import arch
from bench.optimize.base import Artifact, Context
from bench.optimize.specs.factorize import SvdParams


def energy_rank(s: torch.Tensor, energy: float) -> int:
    """Smallest r whose leading singular values keep `energy` of sum(s^2)."""
    share = torch.cumsum(s.double() ** 2, 0) / (s.double() ** 2).sum()
    return int(torch.searchsorted(share, torch.tensor(energy, dtype=torch.float64) - 1e-12).item()) + 1


def factor(lin: nn.Linear, rank: int) -> nn.Sequential:
    u, s, vh = torch.linalg.svd(lin.weight.detach().float(), full_matrices=False)
    root = s[:rank].sqrt()
    a = nn.Linear(lin.in_features, rank, bias=False)
    b = nn.Linear(rank, lin.out_features, bias=lin.bias is not None)
    with torch.no_grad():
        a.weight.copy_((root[:, None] * vh[:rank]).float())
        b.weight.copy_((u[:, :rank] * root[None, :]).float())
        if lin.bias is not None:
            b.bias.copy_(lin.bias)
    return nn.Sequential(a, b)


def pays(lin: nn.Linear, rank: int) -> bool:
    return rank * (lin.in_features + lin.out_features) < lin.in_features * lin.out_features


def _replace(parent: nn.Module, name: str, lin: nn.Linear, rank: int) -> bool:
    if not pays(lin, rank):
        return False
    setattr(parent, name, factor(lin, rank))
    return True


def factorize_(module: nn.Module, rank: int | None = None, energy: float | None = None) -> list[int]:
    """Factor every encoder Linear; returns the rank used per factored layer.

    The SVDs run single-threaded: LAPACK's threaded SVD on a loaded machine was 30x slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _factorize(module, rank, energy)
    finally:
        torch.set_num_threads(threads)


def _factorize(module: nn.Module, rank: int | None, energy: float | None) -> list[int]:
    ranks = []
    for layer in arch.layers(module):
        for parent in list(layer.block.modules()):
            for name, child in list(parent.named_children()):
                if not isinstance(child, nn.Linear):
                    continue
                r = rank
                if energy is not None:
                    r = energy_rank(torch.linalg.svdvals(child.weight.detach().float()), energy)
                r = min(r, min(child.weight.shape))
                if _replace(parent, name, child, r):
                    ranks.append(r)
    return ranks


def svd_lowrank(artifact: Artifact, params: SvdParams, ctx: Context) -> Artifact:
    ranks = factorize_(artifact.module, params.rank, params.energy)
    note = f"svd-lowrank: {len(ranks)} Linear layers factored, ranks {sorted(set(ranks))}"
    return artifact.evolve(notes=[*artifact.notes, note])


def lowrank_closed_form(spec, workload, rank: int) -> tuple[int, int]:
    """(params, MACs) with every encoder Linear at `rank` where that pays (the rule `factor` uses)."""
    h, heads, f, n = arch.model_dims(spec)
    tokens = arch.tokens_of(workload)
    shape = arch.LayerShape(h, h, f, tokens, fused_qkv=spec.family == "vit")
    ranks = tuple((k, rank) for k, (i, o) in arch._linear_dims(shape).items() if rank * (i + o) < i * o)
    return arch.closed_form(spec, workload, [replace(shape, ranks=ranks)] * n)
