"""Static int8 post-training quantization (W8A8) with ONNX Runtime, in QDQ format.

Unlike dynamic quantization, activation ranges are fixed ahead of time from a calibration set,
so every MatMul runs int8 x int8 with no per-call range computation. The calibration batches are
drawn from the cell's own input generator with seeds the measured inputs never use, so the
fidelity figure is on held-out inputs.
"""

from __future__ import annotations

import torch

from bench.optimize.base import Artifact, Context
from bench.optimize.specs.quant_static import StaticInt8Params

CALIBRATION_SEED_OFFSET = 1000  # measured inputs use the suite's seed; calibration never does


def calibration_inputs(ctx: Context, n: int) -> list[dict[str, torch.Tensor]]:
    """`n` batches of the cell's workload, from seeds disjoint from the measured inputs'."""
    return [ctx.model.inputs(ctx.workload, ctx.seed + CALIBRATION_SEED_OFFSET + i) for i in range(n)]


def _reader(onnx_path, batches):
    import onnx
    from onnxruntime.quantization import CalibrationDataReader

    names = {i.name for i in onnx.load(str(onnx_path), load_external_data=False).graph.input}

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter([{k: v.numpy() for k, v in b.items() if k in names} for b in batches])

        def get_next(self):
            return next(self._it, None)

    return Reader()


def ort_static_int8(artifact: Artifact, params: StaticInt8Params, ctx: Context) -> Artifact:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src = artifact.onnx_path
    tag = (f"{'pc' if params.per_channel else 'pt'}-{params.method}-{params.activation}-{params.ops}"
           f"-{params.calib_batches}")
    if params.preprocess:
        pre = ctx.scratch / f"{src.stem}.pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        src = pre
    out = ctx.scratch / f"{artifact.onnx_path.stem}.qdq-{tag}.onnx"
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[params.method]
    def quantize(quantize_bias: bool):
        quantize_static(
            str(src), str(out), _reader(src, calibration_inputs(ctx, params.calib_batches)),
            quant_format=QuantFormat.QDQ, per_channel=params.per_channel, calibrate_method=method,
            activation_type=QuantType.QUInt8 if params.activation == "uint8" else QuantType.QInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm", "Conv"] if params.ops == "linear" else None,
            extra_options={"ActivationSymmetric": params.activation == "int8", "QuantizeBias": quantize_bias},
        )

    bias_int32 = True
    try:
        quantize(True)
    except ValueError as e:
        # ORT's QDQ quantizer cannot give a bias an int32 scale when its input's scale comes from a
        # node it did not quantize (seen after the fusion optimizer, at DeiT's class-token Gather).
        # Such biases stay fp32; the record says so.
        if "when quantizing bias" not in str(e):
            raise
        bias_int32 = False
        quantize(False)
    return artifact.evolve(
        onnx_path=out, precision="int8-static",
        notes=[*artifact.notes, f"ort-static-int8({tag})"],
        record={**artifact.record, "calibration_batches": params.calib_batches,
                "quant_granularity": "per-channel" if params.per_channel else "per-tensor",
                "quant_bias_int32": bias_int32},
    )
