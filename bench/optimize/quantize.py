"""Quantization.

Dynamic int8 quantizes weights ahead of time and activations per call, with no calibration:
Linear layers (and embeddings, weight-only) in torch; MatMul and Gather in ONNX Runtime.
"""

from __future__ import annotations

import warnings

import torch

from bench.optimize.base import Artifact, Context
from bench.optimize.specs.quantize import DynamicInt8Params, OrtDynamicParams


def _contiguous_indices(module, args):
    """Forward pre-hook: torch's int8 embedding kernel (`quantized::embedding_byte`) refuses indices that
    are not contiguous, and transformers' BERT makes its default token_type_ids by expanding one row
    over the batch (stride 0), so every batch above 1 failed with "Expect weight, indices, and offsets
    to be contiguous". A contiguous copy of the ids is a few bytes; the float Embedding takes any layout."""
    return tuple(a.contiguous() if isinstance(a, torch.Tensor) else a for a in args)


def torch_dynamic_int8(artifact: Artifact, params: DynamicInt8Params, ctx: Context) -> Artifact:
    from torch.ao.quantization import (
        default_dynamic_qconfig,
        float_qparams_weight_only_qconfig,
        quantize_dynamic,
    )

    spec: dict = {torch.nn.Linear: default_dynamic_qconfig}
    if params.embeddings:
        spec[torch.nn.Embedding] = float_qparams_weight_only_qconfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao deprecation notice; the kernels are current
        module = quantize_dynamic(artifact.module, spec, dtype=torch.qint8)
    for m in module.modules():
        if isinstance(m, torch.ao.nn.quantized.Embedding):
            m.register_forward_pre_hook(_contiguous_indices)
    return artifact.evolve(module=module, precision="int8-dynamic", notes=[*artifact.notes, "torch-dynamic-int8"])


def ort_dynamic_int8(artifact: Artifact, params: OrtDynamicParams, ctx: Context) -> Artifact:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = ctx.scratch / f"{artifact.onnx_path.stem}.dynint8.onnx"
    quantize_dynamic(str(artifact.onnx_path), str(out), weight_type=QuantType.QInt8, per_channel=params.per_channel)
    return artifact.evolve(onnx_path=out, precision="int8-dynamic", notes=[*artifact.notes, "ort-dynamic-int8"])
