"""Elastic width (MatFormer): run a sub-model that uses the first m FFN neurons of every layer.

MatFormer trains the FFN so that its leading neurons form nested sub-networks; at inference one
picks a width without retraining. On the zoo's randomly initialised weights the slice is not
trained to be good, so fidelity below full width shows the cost of slicing without MatFormer
training; params, MACs and latency are what a trained MatFormer sub-model would give. At
fraction 1.0 the model is unchanged (exact).
"""

from __future__ import annotations

import torch

from bench.optimize import arch
from bench.optimize.base import Artifact, Context
from bench.optimize.specs.elastic import ElasticParams


def width(ffn: int, fraction: float) -> int:
    return max(1, int(round(fraction * ffn)))


def slice_ffn_(module: torch.nn.Module, fraction: float) -> list[int]:
    out = []
    for layer in arch.layers(module):
        m = width(layer.fc1.out_features, fraction)
        if m < layer.fc1.out_features:
            arch.keep_neurons(layer, torch.arange(m))
        out.append(m)
    return out


def elastic_ffn(artifact: Artifact, params: ElasticParams, ctx: Context) -> Artifact:
    widths = slice_ffn_(artifact.module, params.fraction)
    return artifact.evolve(notes=[*artifact.notes, f"elastic-ffn: FFN widths {sorted(set(widths))}"])


def elastic_closed_form(spec, workload, fraction: float) -> tuple[int, int]:
    h, heads, f, n = arch.model_dims(spec)
    tokens = arch.tokens_of(workload)
    return arch.closed_form(spec, workload, [arch.LayerShape(h, h, width(f, fraction), tokens)] * n)
