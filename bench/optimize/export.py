"""ONNX export. Exports are cached per run, so fp32 and int8 ORT cells share one export.

With the TorchScript exporter the batch axis is dynamic, so a batch-linear workload (vision, or
text without ragged padding) is traced on one item and the file is shared by every batch size of
that shape: survey-gpu exports each model once instead of once per batch size, and no export runs
a batch-64 forward pass on the CPU. Every survey-gpu model was checked to give the torch output at
another batch size from its one-item export (tests/test_export_batch.py keeps a sample of them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from pathlib import Path

import torch
from pydantic import BaseModel

from bench.fsio import atomic_write
from bench.optimize.base import Artifact, Context
from bench.optimize.specs.export import ExportParams


def export_onnx(module: torch.nn.Module, inputs: dict[str, torch.Tensor], path: Path, params: ExportParams) -> Path:
    def write(tmp: Path) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, (), str(tmp), kwargs=dict(inputs), input_names=list(inputs), output_names=["output"],
                opset_version=params.opset, dynamo=params.exporter == "dynamo",
                dynamic_axes=None if params.exporter == "dynamo" else {k: {0: "batch"} for k in inputs},
            )

    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, write)


def cache_key(ctx: Context, prefix: str, params: BaseModel, workload=None) -> str:
    label = (workload or ctx.workload).label
    raw = f"{ctx.model.name}|{prefix}|{label}|{params.model_dump_json()}|{ctx.seed}"
    return f"{ctx.model.name}-{label}-{hashlib.sha1(raw.encode()).hexdigest()[:10]}"


def export_shape(ctx: Context, params: ExportParams):
    """(workload, inputs) to trace: one item where the export's batch axis is dynamic and the
    workload is batch-linear, else the cell's own."""
    from bench.zoo.base import per_item_inputs

    if params.exporter != "torchscript":  # the dynamo export is static-shaped here
        return ctx.workload, ctx.inputs
    one, scale = per_item_inputs(ctx.model, ctx.workload, ctx.inputs)
    if scale == 1:
        return ctx.workload, ctx.inputs
    return dataclasses.replace(ctx.workload, batch_size=1), one


def onnx_export(artifact: Artifact, params: ExportParams, ctx: Context) -> Artifact:
    # A model that earlier steps changed gets its own export; the untouched model's is shared.
    prefix = "|".join(artifact.notes) or "as-built"
    workload, inputs = export_shape(ctx, params)
    path = ctx.cache / "onnx" / f"{cache_key(ctx, prefix, params, workload)}.onnx"
    if not path.exists():
        export_onnx(artifact.module, inputs, path, params)
    return artifact.evolve(kind="onnx", onnx_path=path, notes=[*artifact.notes, "onnx-export"])
