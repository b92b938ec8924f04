"""Reduced floating-point precision: bf16, fp16 and fp8 in torch; fp16 in ONNX Runtime.

Halving the bytes per weight and activation halves memory traffic, and on hardware with
half-precision matrix units (tensor cores, AMX, AVX512-BF16) raises peak FLOP/s too. Where the
device has no such units the cast may cost more than it saves; the records show which.

Devices are declared so that `bench plan` rejects what cannot run: fp16 matmuls in torch and ORT
are a GPU feature (on x86 CPUs torch emulates them slowly and ORT's CPU provider has few fp16
kernels), fp8 needs an sm_89+ GPU (Ada, Hopper).
"""

from __future__ import annotations

import torch

from bench.optimize.base import Artifact, Context, NoParams
from bench.optimize.specs.precision import Fp8Params, OrtFp16Params


class CastInputs(torch.nn.Module):
    """Casts floating inputs to the model's dtype, so the runtime's fp32 inputs reach a half model."""

    def __init__(self, module: torch.nn.Module, dtype: torch.dtype):
        super().__init__()
        self.module = module
        self.dtype = dtype

    def forward(self, *args, **inputs):
        # Positional arguments too: a decoder step is called as module(input_ids, kv_cache).
        def cast(v):
            return v.to(self.dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v

        return self.module(*map(cast, args), **{k: cast(v) for k, v in inputs.items()})


def _cast(artifact: Artifact, dtype: torch.dtype, label: str) -> Artifact:
    module = CastInputs(artifact.module.to(dtype), dtype).eval()
    return artifact.evolve(module=module, precision=label, notes=[*artifact.notes, label])


def torch_bf16(artifact: Artifact, params: NoParams, ctx: Context) -> Artifact:
    return _cast(artifact, torch.bfloat16, "bf16")


def torch_fp16(artifact: Artifact, params: NoParams, ctx: Context) -> Artifact:
    return _cast(artifact, torch.float16, "fp16")


FP8_MIN_CAPABILITY = (8, 9)  # fp8 tensor cores: Ada (sm_89) and Hopper (sm_90) onwards


def check_fp8_device(device: str) -> None:
    if device != "cuda" or not torch.cuda.is_available():
        raise RuntimeError("torch-fp8 needs a CUDA GPU with fp8 tensor cores; none is visible")
    cap = torch.cuda.get_device_capability()
    if tuple(cap) < FP8_MIN_CAPABILITY:
        raise RuntimeError(f"torch-fp8 needs compute capability >= sm_89 (Ada/Hopper); this GPU is "
                           f"sm_{cap[0]}{cap[1]}")


def torch_fp8(artifact: Artifact, params: Fp8Params, ctx: Context) -> Artifact:
    check_fp8_device(ctx.device)
    from torchao.quantization import (
        Float8DynamicActivationFloat8WeightConfig,
        Float8WeightOnlyConfig,
        quantize_,
    )

    module = artifact.module.to(device="cuda", dtype=torch.bfloat16)
    config = Float8DynamicActivationFloat8WeightConfig() if params.mode == "dynamic" else Float8WeightOnlyConfig()
    quantize_(module, config)
    label = "fp8-dynamic" if params.mode == "dynamic" else "fp8-weight-only"
    return artifact.evolve(module=CastInputs(module, torch.bfloat16).eval(), precision=label,
                           notes=[*artifact.notes, label])


def ort_fp16(artifact: Artifact, params: OrtFp16Params, ctx: Context) -> Artifact:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(artifact.onnx_path))
    # ORT's default block list keeps ops without fp16 kernels (and the numerically fragile ones) in fp32.
    half = convert_float_to_float16(model, keep_io_types=params.keep_io_types)
    out = ctx.scratch / f"{artifact.onnx_path.stem}.fp16.onnx"
    onnx.save(half, str(out))
    return artifact.evolve(onnx_path=out, precision="fp16", notes=[*artifact.notes, "ort-fp16"])
