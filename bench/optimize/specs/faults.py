"""Fault injection, so that the tests can prove a sweep survives a bad cell."""

from typing import Literal

from pydantic import BaseModel, ConfigDict

from bench.optimize.base import OPTIMIZATIONS, OptimizationSpec


class FaultParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["raise", "segfault", "abort", "hang", "oom"] = "raise"


OPTIMIZATIONS.add(OptimizationSpec(
    "debug-fault", "bench.optimize.faults:debug_fault", params=FaultParams,
    description="Test-only: makes the cell fail in the chosen way (raise, segfault, abort, hang, oom)."))
