"""What an optimization declares, and the artifact that flows through a chain.

An optimization consumes an artifact of one kind ("torch": an nn.Module, or "onnx": a model file)
and produces one. Declaring the kinds, families and devices lets `bench plan` reject an
impossible chain with a reason, before anything runs.

A spec is plan-time data and this module imports no torch: the implementation is a
"module:function" string (bench/optimize/specs/ declares them), imported when a cell applies it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from bench.registry import Registry, resolve

if TYPE_CHECKING:
    import torch

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
    # "bench.optimize.<family>:<function>", or the function itself (tests and plugins register callables).
    impl: str | Callable[[Artifact, Any, Context], Artifact]
    consumes: str = "torch"  # "torch", "onnx", or "any" (with produces="any": a step that changes nothing)
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

    def apply(self, artifact: Artifact, params: BaseModel, ctx: Context) -> Artifact:
        return resolve(self.impl)(artifact, params, ctx)


# How an artifact of one kind becomes another, inserted implicitly by the planner.
CONVERSIONS = {("torch", "onnx"): "onnx-export"}

OPTIMIZATIONS: Registry[OptimizationSpec] = Registry("optimization")


def register(name: str, **kwargs: Any) -> Callable:
    """Decorator: `@register("torch-dynamic-int8", consumes="torch", ...)` above the apply function.

    For tests and plugins, whose function is already imported; the built-in optimizations name
    theirs as a string instead (bench/optimize/specs/).
    """

    def wrap(fn: Callable) -> Callable:
        OPTIMIZATIONS.add(OptimizationSpec(name=name, impl=fn, **kwargs))
        return fn

    return wrap
