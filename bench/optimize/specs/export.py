"""ONNX export, the step the planner inserts between a torch chain and an ONNX runtime."""

from typing import Literal

from pydantic import BaseModel, ConfigDict

from bench.optimize.base import OPTIMIZATIONS, OptimizationSpec


class ExportParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    opset: int = 17
    # The TorchScript exporter is faster here and its graphs suit ORT's quantizer and fusion
    # optimizer; the dynamo exporter is the future default and can be chosen per suite.
    exporter: Literal["torchscript", "dynamo"] = "torchscript"


# Decoders are left out: exporting generation needs the KV cache as graph inputs and outputs
# (two graphs or one with past inputs), which this exporter does not build; the planner skips
# decoder cells on ONNX targets with this declaration as the reason.
OPTIMIZATIONS.add(OptimizationSpec(
    "onnx-export", "bench.optimize.export:onnx_export", consumes="torch", produces="onnx", params=ExportParams,
    modalities=("text", "vision"),
    description="Export the torch model to ONNX (fp32), to run under ONNX Runtime."))
