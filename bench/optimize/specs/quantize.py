"""Dynamic int8 quantization (torch, ONNX Runtime): no calibration, activations quantized per call."""

from pydantic import BaseModel, ConfigDict

from bench.optimize.base import OPTIMIZATIONS, OptimizationSpec

Q8BERT = "Zafrir et al., Q8BERT: Quantized 8Bit BERT (2019); survey Sec. VI"


class DynamicInt8Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    embeddings: bool = True  # also store embedding tables in 8 bits (weight-only)


class OrtDynamicParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_channel: bool = False


OPTIMIZATIONS.add(OptimizationSpec(
    "torch-dynamic-int8", "bench.optimize.quantize:torch_dynamic_int8", consumes="torch", produces="torch",
    params=DynamicInt8Params, devices=("cpu",), changes_numerics=True, exportable=False, paper=Q8BERT,
    description="torch dynamic int8: Linear weights int8, activations quantized per call."))
OPTIMIZATIONS.add(OptimizationSpec(
    "ort-dynamic-int8", "bench.optimize.quantize:ort_dynamic_int8", consumes="onnx", produces="onnx",
    params=OrtDynamicParams, changes_numerics=True, paper=Q8BERT,
    description="ONNX Runtime dynamic int8 (quantize_dynamic): MatMul/Gather weights int8."))
