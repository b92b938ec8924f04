"""Zoo variants with planted activation outliers, labelled as synthetic.

The zoo's weights are seeded random, and random LayerNorms (gamma 1, beta 0) produce no outlier
channels, so int8 looks easy and outlier remedies look useless. Trained transformers are not like
that: a few LayerNorm output channels are far larger than the rest and asymmetric (Bondarenko et
al., Quantizable Transformers, 2023; Wei et al., Outlier Suppression+, 2023, Fig. 1: the same
channels in every layer, ranges of tens against ~1). These variants plant that pattern, in the
same few channels of every block's norm1 and norm2, so the outlier techniques can be measured. They
are their own models, with their own fp32 reference; nothing about a trained model's accuracy
follows from them.
"""

from __future__ import annotations

import torch

from bench.zoo.specs.outliers import BETA, GAMMA, N_CHANNELS


@torch.no_grad()
def plant_outliers(module: torch.nn.Module, n_channels: int = N_CHANNELS, gamma: float = GAMMA,
                   beta: float = BETA) -> list[int]:
    """Give the same channels of every block's norm1/norm2 a large gamma and beta; return the channels."""
    norms = [m for name, m in module.named_modules()
             if isinstance(m, torch.nn.LayerNorm) and name.rsplit(".", 1)[-1] in ("norm1", "norm2")]
    if not norms:
        raise ValueError("no norm1/norm2 LayerNorms to plant outliers in")
    dim = norms[0].weight.numel()
    channels = torch.randperm(dim, generator=torch.Generator().manual_seed(1234))[:n_channels].tolist()
    signs = torch.tensor([1.0, -1.0] * n_channels)[:n_channels]
    for norm in norms:
        norm.weight[channels] = gamma
        norm.bias[channels] = beta * signs
    return channels


def with_outliers(base: str) -> torch.nn.Module:
    """The zoo model `base`, built, with outliers planted (the variant specs' builder)."""
    from bench.zoo import MODELS

    model = MODELS.get(base).construct()
    plant_outliers(model)
    return model
