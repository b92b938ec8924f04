"""Weight-only int8/int4 quantization (torchao, ONNX Runtime MatMulNBits) and torchao dynamic int8.

Weight-only quantization stores weights in 8 or 4 bits and dequantizes them inside the matmul:
it cuts weight memory and bandwidth, which is what bounds small-batch inference, and leaves
activations in float, so fidelity stays close to fp32. torch.ao's quantization API is deprecated
in favour of torchao, so the torchao dynamic int8 path sits beside `torch-dynamic-int8`.

On an x86 CPU torchao 0.18 has no packed int4 kernel (its int4 layouts need CUDA or the Arm
KleidiAI kernels), so `torchao-weight-only(bits=4)` stores int4 values in int8 containers and
dequantizes: same fidelity as real int4, but int8's bytes. ORT's MatMulNBits packs two 4-bit
weights per byte and has CPU kernels; it is the real int4 path on this machine.
"""

from __future__ import annotations

import torch

from bench.optimize.base import Artifact, Context, NoParams
from bench.optimize.specs.weight_only import MatMulNBitsParams, TorchaoWeightOnlyParams


def _quantize_(module: torch.nn.Module, config, group_size: int | None = None) -> tuple[torch.nn.Module, int, int]:
    """Quantize every Linear whose input width the group size divides; return (module, quantized, skipped)."""
    from torchao.quantization import quantize_

    linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    fits = {id(m) for m in linears if not group_size or m.in_features % group_size == 0}
    quantize_(module, config, filter_fn=lambda m, fqn: isinstance(m, torch.nn.Linear) and id(m) in fits)
    return module, len(fits), len(linears) - len(fits)


def torchao_weight_only(artifact: Artifact, params: TorchaoWeightOnlyParams, ctx: Context) -> Artifact:
    from torchao.quantization import Int8WeightOnlyConfig, IntxWeightOnlyConfig
    from torchao.quantization.granularity import PerAxis, PerGroup

    granularity = PerGroup(params.group_size) if params.group_size else PerAxis(0)
    if params.bits == 8:
        config = Int8WeightOnlyConfig(group_size=params.group_size) if params.group_size else Int8WeightOnlyConfig()
        label, storage = "int8-weight-only", "int8"
    else:
        config = IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=granularity)
        label, storage = "int4-weight-only", "int4 values in int8 storage (unpacked)"
    module, done, skipped = _quantize_(artifact.module, config, params.group_size)
    if done == 0:
        raise RuntimeError(f"group size {params.group_size} divides no Linear layer's input width")
    # A Linear whose width the group size does not divide (TinyBERT's 312 by 32) stays fp32.
    return artifact.evolve(module=module, precision=label, notes=[*artifact.notes, f"{label}-g{params.group_size}"],
                           record={**artifact.record, "weight_storage": storage, "quant_group_size": params.group_size,
                                   "quantized_linears": done, "float_linears": skipped})


def torchao_dynamic_int8(artifact: Artifact, params: NoParams, ctx: Context) -> Artifact:
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig

    module, _, _ = _quantize_(artifact.module, Int8DynamicActivationInt8WeightConfig())
    return artifact.evolve(module=module, precision="int8-dynamic", notes=[*artifact.notes, "torchao-dynamic-int8"])


def ort_matmulnbits(artifact: Artifact, params: MatMulNBitsParams, ctx: Context) -> Artifact:
    import logging

    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    logging.getLogger("onnxruntime.quantization").setLevel(logging.ERROR)
    model = onnx.load(str(artifact.onnx_path))
    q = MatMulNBitsQuantizer(model, bits=params.bits, block_size=params.block_size, is_symmetric=params.symmetric,
                             accuracy_level=params.accuracy_level or None)
    q.process()
    tag = f"{params.bits}b-{params.block_size}-{'sym' if params.symmetric else 'asym'}-a{params.accuracy_level}"
    out = ctx.scratch / f"{artifact.onnx_path.stem}.nbits-{tag}.onnx"
    q.model.save_model_to_file(str(out), use_external_data_format=False)
    n_packed = sum(n.op_type == "MatMulNBits" for n in onnx.load(str(out), load_external_data=False).graph.node)
    if n_packed == 0:
        raise RuntimeError("MatMulNBits quantized no MatMul: the graph has no MatMul with a constant weight")
    return artifact.evolve(onnx_path=out, precision=f"int{params.bits}-weight-only",
                           notes=[*artifact.notes, f"ort-matmulnbits({tag})"],
                           record={**artifact.record, "matmulnbits_nodes": n_packed,
                                   "quant_group_size": params.block_size})
