"""Quantization.

Dynamic int8 quantizes weights ahead of time and activations per call, with no calibration:
Linear layers (and embeddings, weight-only) in torch; MatMul and Gather in ONNX Runtime.
"""

from __future__ import annotations

import warnings

import torch

from bench.optimize.base import Artifact, Context
from bench.optimize.specs.quantize import DynamicInt8Params, OrtDynamicParams


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
    return artifact.evolve(module=module, precision="int8-dynamic", notes=[*artifact.notes, "torch-dynamic-int8"])


def ort_dynamic_int8(artifact: Artifact, params: OrtDynamicParams, ctx: Context) -> Artifact:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = ctx.scratch / f"{artifact.onnx_path.stem}.dynint8.onnx"
    quantize_dynamic(str(artifact.onnx_path), str(out), weight_type=QuantType.QInt8, per_channel=params.per_channel)
    return artifact.evolve(onnx_path=out, precision="int8-dynamic", notes=[*artifact.notes, "ort-dynamic-int8"])
