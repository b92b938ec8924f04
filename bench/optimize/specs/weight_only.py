"""Weight-only int8/int4 quantization (torchao, ONNX Runtime MatMulNBits) and torchao dynamic int8."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bench.optimize.base import OPTIMIZATIONS, NoParams, OptimizationSpec
from bench.optimize.specs.quantize import Q8BERT

AWQ_GPTQ = ("Frantar et al., GPTQ (ICLR 2023); Lin et al., AWQ (MLSys 2024): weight-only low-bit quantization; "
            "survey Sec. VI")


class TorchaoWeightOnlyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bits: Literal[8, 4] = 8
    group_size: int | None = Field(default=None, ge=16)  # None: one scale per output channel

    @model_validator(mode="after")
    def _int4_groups(self):
        if self.bits == 4 and self.group_size is None:
            self.group_size = 32  # per-channel int4 loses too much; groups of 32 as in GPTQ/AWQ
        return self


class MatMulNBitsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bits: Literal[4, 8] = 4
    block_size: int = Field(default=32, ge=16)  # a power of two; one scale per block of this many weights
    symmetric: bool = True
    # ORT's compute precision for the matmul: 0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8 activations.
    accuracy_level: Literal[0, 1, 2, 3, 4] = 0

    @model_validator(mode="after")
    def _power_of_two(self):
        if self.block_size & (self.block_size - 1):
            raise ValueError(f"block_size must be a power of two, got {self.block_size}")
        return self


OPTIMIZATIONS.add(OptimizationSpec(
    "torchao-weight-only", "bench.optimize.weight_only:torchao_weight_only", params=TorchaoWeightOnlyParams,
    changes_numerics=True, exportable=False, paper=AWQ_GPTQ,
    description="torchao weight-only int8/int4 Linear weights (activations stay float). int4 on x86 CPU "
                "is stored unpacked in int8 (no int4 kernel there)."))
OPTIMIZATIONS.add(OptimizationSpec(
    "torchao-dynamic-int8", "bench.optimize.weight_only:torchao_dynamic_int8", params=NoParams,
    changes_numerics=True, exportable=False, paper=Q8BERT,
    description="torchao dynamic int8: int8 weights per channel, activations quantized per token per call."))
OPTIMIZATIONS.add(OptimizationSpec(
    "ort-matmulnbits", "bench.optimize.weight_only:ort_matmulnbits", consumes="onnx", produces="onnx",
    params=MatMulNBitsParams, changes_numerics=True, paper=AWQ_GPTQ,
    description="ONNX Runtime weight-only blockwise int4/int8 (MatMulNBits): packed low-bit weights, "
                "float activations."))
