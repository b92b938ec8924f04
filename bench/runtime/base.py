"""How a cell executes: a runtime binds an artifact to a device and returns a session to time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.registry import Registry


@dataclass
class Session:
    """A bound model: `call()` runs one inference on inputs already placed on the device."""

    call: Callable[[], Any]
    output: Callable[[Any], np.ndarray]  # converts what `call` returned to a host fp32 array
    sync: Callable[[], None] | None = None
    info: dict = field(default_factory=dict)  # threads, providers, ... recorded with the cell


@dataclass(frozen=True)
class RuntimeSpec:
    name: str
    accepts: str  # artifact kind: "torch" or "onnx"
    devices: tuple[str, ...]
    bind: Callable[..., Session]
    description: str = ""


RUNTIMES: Registry[RuntimeSpec] = Registry("runtime")
