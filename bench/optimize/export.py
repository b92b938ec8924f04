"""ONNX export. Exports are cached per run, so fp32 and int8 ORT cells share one export."""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict

from bench.optimize.base import Artifact, Context, register


class ExportParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    opset: int = 17
    # The TorchScript exporter is faster here and its graphs suit ORT's quantizer and fusion
    # optimizer; the dynamo exporter is the future default and can be chosen per suite.
    exporter: Literal["torchscript", "dynamo"] = "torchscript"


def export_onnx(module: torch.nn.Module, inputs: dict[str, torch.Tensor], path: Path, params: ExportParams) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (), str(tmp), kwargs=dict(inputs), input_names=list(inputs), output_names=["output"],
            opset_version=params.opset, dynamo=params.exporter == "dynamo",
            dynamic_axes=None if params.exporter == "dynamo" else {k: {0: "batch"} for k in inputs},
        )
    os.replace(tmp, path)
    return path


def cache_key(ctx: Context, prefix: str, params: BaseModel) -> str:
    raw = f"{ctx.model.name}|{prefix}|{ctx.workload.label}|{params.model_dump_json()}|{ctx.seed}"
    return f"{ctx.model.name}-{ctx.workload.label}-{hashlib.sha1(raw.encode()).hexdigest()[:10]}"


# Decoders are left out: exporting generation needs the KV cache as graph inputs and outputs
# (two graphs or one with past inputs), which this exporter does not build; the planner skips
# decoder cells on ONNX targets with this declaration as the reason.
@register("onnx-export", consumes="torch", produces="onnx", params=ExportParams, modalities=("text", "vision"),
          description="Export the torch model to ONNX (fp32), to run under ONNX Runtime.")
def onnx_export(artifact: Artifact, params: ExportParams, ctx: Context) -> Artifact:
    # A model that earlier steps changed gets its own export; the untouched model's is shared.
    prefix = "|".join(artifact.notes) or "as-built"
    path = ctx.cache / "onnx" / f"{cache_key(ctx, prefix, params)}.onnx"
    if not path.exists():
        export_onnx(artifact.module, ctx.inputs, path, params)
    return artifact.evolve(kind="onnx", onnx_path=path, notes=[*artifact.notes, "onnx-export"])
