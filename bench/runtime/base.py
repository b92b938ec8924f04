"""How a cell executes: a runtime binds an artifact to a device and returns a session to time.

A spec is plan-time data: it names its bind function as a "module:function" string
(bench/runtime/specs.py), so that checking a suite imports neither torch nor ONNX Runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from bench.registry import Registry, resolve

if TYPE_CHECKING:
    import numpy as np


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class Session:
    """A bound model: `call()` runs one inference on inputs already placed on the device."""

    call: Callable[[], Any]
    output: Callable[[Any], np.ndarray]  # converts what `call` returned to a host fp32 array
    sync: Callable[[], None] | None = None
    info: dict = field(default_factory=dict)  # threads, providers, ... recorded with the cell
    # Top-level record fields the runtime adds once the cell's metrics are known (a projection
    # needs the FLOP count; an I/O-binding label needs nothing): record -> extra fields.
    annotate: Callable[[dict], dict] | None = None
    # CUDA events on torch's stream bracket torch's GPU work only; a runtime with its own streams
    # (ONNX Runtime) is timed on the host clock after its own synchronisation.
    cuda_events: bool = True
    # One untimed inference on other inputs (CPU tensors by name) -> a host fp32 array: how the
    # evaluation runs the very artifact that was timed, on its own device, over a data set.
    predict: Callable[[dict], np.ndarray] | None = None


@dataclass(frozen=True)
class RuntimeSpec:
    name: str
    accepts: str  # artifact kind: "torch" or "onnx"
    devices: tuple[str, ...]
    # "bench.runtime.<module>:<function>", or the function itself: (artifact, target, inputs) -> Session.
    impl: str | Callable[..., Session]
    description: str = ""
    options: type[BaseModel] = NoOptions  # the target's `options:` mapping, validated when the suite loads
    # Plan time, in the parent: `configure(target, options)` returns defaults for the target (e.g. the
    # threads an edge profile allows) or raises ValueError; `unavailable(target, options)` says why the
    # target cannot run on this machine ("" when it can), and the planner records the cell as skipped.
    configure: Callable[[Any, BaseModel], dict] | None = None
    unavailable: Callable[[Any, BaseModel], str] | None = None
    # Whether the runtime can bind inputs of other batch sizes than the cell's (the offline and
    # server scenarios need it); an edge target runs a bundle's fixed inputs.
    batches: bool = True

    def parse_options(self, raw: dict | None) -> BaseModel:
        return self.options(**(raw or {}))

    def bind(self, artifact, target, inputs) -> Session:
        return resolve(self.impl)(artifact, target, inputs)


RUNTIMES: Registry[RuntimeSpec] = Registry("runtime")
