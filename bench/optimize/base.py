"""What an optimization declares, and the artifact that flows through a chain.

An optimization consumes an artifact of one kind ("torch": an nn.Module, or "onnx": a model file)
and produces one. Declaring the kinds, families and devices lets `bench plan` reject an
impossible chain with a reason, before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict

from bench.registry import Registry
from bench.zoo.base import ModelSpec, Workload


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class Artifact:
    kind: str  # "torch" or "onnx"
    module: torch.nn.Module | None = None
    onnx_path: Path | None = None
    precision: str = "fp32"
    notes: list[str] = field(default_factory=list)
    # Fields an optimization adds to the cell's record (outlier statistics, compile time, ...).
    record: dict[str, Any] = field(default_factory=dict)
    # What the runtime should honour when it binds this artifact (e.g. an ORT graph level).
    runtime_hints: dict[str, Any] = field(default_factory=dict)

    def evolve(self, **changes: Any) -> Artifact:
        return replace(self, **changes)


@dataclass
class Context:
    """What an optimization may use: never the timer, never the store."""

    model: ModelSpec
    workload: Workload
    inputs: dict[str, torch.Tensor]
    device: str
    scratch: Path  # per-cell temporary files
    cache: Path  # per-run cache shared by cells (ONNX exports, reference outputs)
    seed: int = 0


@dataclass(frozen=True)
class OptimizationSpec:
    name: str
    apply: Callable[[Artifact, Any, Context], Artifact]
    consumes: str = "torch"
    produces: str = "torch"
    params: type[BaseModel] = NoParams
    families: tuple[str, ...] | None = None  # None: any family
    modalities: tuple[str, ...] | None = None  # None: any modality ("text", "vision", "decoder")
    devices: tuple[str, ...] | None = None  # None: any device
    changes_shapes: bool = False  # params and MACs are counted after such a step
    changes_numerics: bool = False  # fidelity may drop; static metrics are counted before it
    exportable: bool = True  # whether a torch model after this step can still be exported to ONNX
    paper: str = ""
    description: str = ""

    def parse_params(self, raw: dict | None) -> BaseModel:
        return self.params(**(raw or {}))


# How an artifact of one kind becomes another, inserted implicitly by the planner.
CONVERSIONS = {("torch", "onnx"): "onnx-export"}

OPTIMIZATIONS: Registry[OptimizationSpec] = Registry("optimization")


def register(name: str, **kwargs: Any) -> Callable:
    """Decorator: `@register("torch-dynamic-int8", consumes="torch", ...)` above the apply function."""

    def wrap(fn: Callable) -> Callable:
        OPTIMIZATIONS.add(OptimizationSpec(name=name, apply=fn, **kwargs))
        return fn

    return wrap
