"""Static int8 post-training quantization (W8A8, QDQ) with ONNX Runtime, calibrated on held-out batches."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bench.optimize.base import OPTIMIZATIONS, OptimizationSpec

PTQ_PAPER = ("Jacob et al., Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only "
             "Inference (CVPR 2018); Wu et al., Integer Quantization for Deep Learning Inference (2020); "
             "survey Sec. VI")


class StaticInt8Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_channel: bool = False  # weights per output channel (else one scale per tensor)
    calib_batches: int = Field(default=8, ge=1, le=256)
    method: Literal["minmax", "entropy", "percentile"] = "minmax"
    activation: Literal["int8", "uint8"] = "uint8"  # uint8: asymmetric, ORT's CPU-friendly default
    # "linear": MatMul, Gemm and Conv (W8A8 as in Q8BERT/SmoothQuant); "all": every op ORT can quantize,
    # residual Adds and normalization inputs included, which costs DeiT-Ti cosine 0.999 -> 0.88 here.
    ops: Literal["linear", "all"] = "linear"
    preprocess: bool = True  # ORT's shape inference + graph cleanup before quantizing, as its docs advise


OPTIMIZATIONS.add(OptimizationSpec(
    "ort-static-int8", "bench.optimize.quant_static:ort_static_int8", consumes="onnx", produces="onnx",
    params=StaticInt8Params, changes_numerics=True, paper=PTQ_PAPER,
    description="ONNX Runtime static int8 (QDQ): weights and activations int8, activation ranges "
                "calibrated on held-out batches of the workload."))
