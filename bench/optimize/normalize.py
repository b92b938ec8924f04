"""Normalization rewrites that are exact: LayerNorm-affine folding, and Pre-LN -> Pre-RMSNorm.

Both apply to Pre-LN transformers only (ViT/DeiT: x + f(LN(x))). There the LayerNorm output
feeds only the next Linear, so its scale and shift fold into that Linear, and the residual stream
can be kept zero-mean so that LayerNorm's centring is a no-op and RMSNorm computes the same value
(Jiang et al., 2023). BERT is Post-LN: each LayerNorm's output is also the residual, so neither
rewrite is exact there, and both declare `families=("vit",)` so a BERT cell is skipped at plan time.

Why the RMSNorm form is exact: after folding, every LN is x -> (x - mean(x)) / sqrt(var(x) + eps).
Every write into the residual stream (patch embedding, CLS token, position embedding, attention
output projection, second FFN Linear) is re-centred, W <- (I - 11^T/d) W and b <- b - mean(b), so
mean(x) = 0 everywhere on the stream, var(x) = mean(x^2), and LN(x) = x / sqrt(mean(x^2) + eps)
= RMSNorm(x) with the same eps. The centring happens in float64, so the rounding left is fp32's.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.errors import UserError
from bench.optimize import arch
from bench.optimize.base import Artifact, Context


def _fold_into(ln: nn.LayerNorm, lin: nn.Linear) -> None:
    """lin(LN(x) * g + b) == (lin with W diag(g), bias + W b)(LN without affine)."""
    if ln.weight is None:
        return
    w = lin.weight.detach().double()
    g = ln.weight.detach().double()
    beta = ln.bias.detach().double() if ln.bias is not None else torch.zeros_like(g)
    bias = lin.bias.detach().double() if lin.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_((w * g[None, :]).float())
        if lin.bias is None:
            lin.bias = nn.Parameter(torch.zeros(w.shape[0]))
        lin.bias.copy_((bias + w @ beta).float())


def _plain(ln: nn.LayerNorm) -> nn.LayerNorm:
    return nn.LayerNorm(ln.normalized_shape, eps=ln.eps, elementwise_affine=False)


def _vit(module: nn.Module) -> nn.Module:
    kind, vit = arch.encoder_of(module)
    if kind != "vit":
        raise UserError("normalization folding needs a Pre-LN model (ViT/DeiT); BERT is Post-LN")
    if not isinstance(vit.fc_norm, nn.Identity) or not isinstance(vit.head, nn.Linear):
        raise UserError("normalization folding expects a token-pooled ViT with a Linear head")
    for layer in arch.layers(module):
        if not (isinstance(layer.block.ls1, nn.Identity) and isinstance(layer.block.ls2, nn.Identity)):
            raise UserError("normalization folding does not handle LayerScale blocks")
    return vit


def fold_layernorm_(module: nn.Module) -> int:
    """Fold every LayerNorm's affine map into the Linear it feeds; returns how many were folded."""
    vit = _vit(module)
    n = 0
    for layer in arch.layers(module):
        blk = layer.block
        _fold_into(blk.norm1, blk.attn.qkv)
        _fold_into(blk.norm2, blk.mlp.fc1)
        blk.norm1, blk.norm2 = _plain(blk.norm1), _plain(blk.norm2)
        n += 2
    _fold_into(vit.norm, vit.head)
    vit.norm = _plain(vit.norm)
    return n + 1


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps), no affine (it was folded into the next Linear)."""

    def __init__(self, eps: float):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


def _center_out(p: torch.Tensor) -> torch.Tensor:
    """Remove the mean over the output (first) dimension."""
    d = p.detach().double()
    return (d - d.mean(0, keepdim=True)).float()


def _center_linear(lin: nn.Linear) -> None:
    with torch.no_grad():
        lin.weight.copy_(_center_out(lin.weight))
        if lin.bias is not None:
            lin.bias.copy_(_center_out(lin.bias[:, None])[:, 0])


def _center_last(p: torch.Tensor) -> None:
    d = p.detach().double()
    with torch.no_grad():
        p.copy_((d - d.mean(-1, keepdim=True)).float())


def pre_rmsnorm_(module: nn.Module) -> int:
    """Fold LN affines, centre the residual stream, swap every LayerNorm for RMSNorm."""
    fold_layernorm_(module)
    vit = _vit(module)
    conv = vit.patch_embed.proj
    with torch.no_grad():
        conv.weight.copy_(_center_out(conv.weight))
        if conv.bias is not None:
            conv.bias.copy_(_center_out(conv.bias[:, None])[:, 0])
    if not isinstance(vit.patch_embed.norm, nn.Identity):
        raise UserError("Pre-RMSNorm conversion does not handle a normalised patch embedding")
    for p in (vit.cls_token, vit.pos_embed, getattr(vit, "reg_token", None)):
        if p is not None:
            _center_last(p)
    n = 0
    for layer in arch.layers(module):
        blk = layer.block
        _center_linear(blk.attn.proj)
        _center_linear(blk.mlp.fc2)
        blk.norm1, blk.norm2 = RMSNorm(blk.norm1.eps), RMSNorm(blk.norm2.eps)
        n += 2
    vit.norm = RMSNorm(vit.norm.eps)
    return n + 1


def ln_fold(artifact: Artifact, params, ctx: Context) -> Artifact:
    n = fold_layernorm_(artifact.module)
    return artifact.evolve(notes=[*artifact.notes, f"ln-fold: {n} LayerNorm affines folded"])


def pre_rmsnorm(artifact: Artifact, params, ctx: Context) -> Artifact:
    n = pre_rmsnorm_(artifact.module)
    return artifact.evolve(notes=[*artifact.notes, f"pre-rmsnorm: {n} LayerNorms replaced by RMSNorm"])


def norm_params_removed(spec) -> int:
    """Closed form: the LayerNorm weights and biases both rewrites remove (2 per block + final)."""
    h, _, _, n = arch.model_dims(spec)
    return 2 * h * (2 * n + 1)
