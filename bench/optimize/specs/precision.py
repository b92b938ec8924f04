"""Reduced floating-point precision: bf16, fp16 and fp8 in torch; fp16 in ONNX Runtime.

The devices are declared so that `bench plan` rejects what cannot run: fp16 matmuls are a GPU
feature, fp8 needs an sm_89+ GPU (bench/optimize/precision.py says why).
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict

from bench.optimize.base import OPTIMIZATIONS, NoParams, OptimizationSpec

MIXED = "Micikevicius et al., Mixed Precision Training (ICLR 2018); survey Sec. VI (low-precision formats)"
BF16 = "Kalamkar et al., A Study of BFLOAT16 for Deep Learning Training (2019); survey Sec. VI"
FP8 = "Micikevicius et al., FP8 Formats for Deep Learning (2022)"


class Fp8Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["dynamic", "weight-only"] = "dynamic"  # dynamic: fp8 activations too (W8A8-fp8)


class OrtFp16Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keep_io_types: bool = True  # fp32 inputs and outputs, so feeds and fidelity need no change


OPTIMIZATIONS.add(OptimizationSpec(
    "torch-bf16", "bench.optimize.precision:torch_bf16", params=NoParams, changes_numerics=True,
    exportable=False, paper=BF16,
    description="Cast weights and activations to bfloat16 (torch). CPU: fast only with AVX512-BF16/AMX."))
OPTIMIZATIONS.add(OptimizationSpec(
    "torch-fp16", "bench.optimize.precision:torch_fp16", params=NoParams, devices=("cuda",),
    changes_numerics=True, exportable=False, paper=MIXED,
    description="Cast weights and activations to float16 (torch), for GPUs with fp16 tensor cores."))
OPTIMIZATIONS.add(OptimizationSpec(
    "torch-fp8", "bench.optimize.precision:torch_fp8", params=Fp8Params, devices=("cuda",),
    changes_numerics=True, exportable=False, paper=FP8,
    description="torchao float8 (e4m3) Linear weights, with dynamic fp8 activations by default; sm_89+."))
# Declared for CPU too, so that its cost there is measured rather than assumed; it is built for CUDA.
OPTIMIZATIONS.add(OptimizationSpec(
    "ort-fp16", "bench.optimize.precision:ort_fp16", consumes="onnx", produces="onnx", params=OrtFp16Params,
    devices=("cpu", "cuda"), changes_numerics=True, paper=MIXED,
    description="Convert the ONNX graph to float16 (onnxruntime.transformers.float16), for the CUDA "
                "provider. The CPU provider runs it with few fp16 kernels (see the docs for what it costs)."))
