"""Optimizations. Importing this package registers every spec, and imports no torch: each spec
names its implementation in bench/optimize/<family>.py, imported when a cell applies it."""

from bench.optimize import specs  # noqa: F401  (registration side effects)
from bench.optimize.base import OPTIMIZATIONS, Artifact, Context, OptimizationSpec

__all__ = ["OPTIMIZATIONS", "Artifact", "Context", "OptimizationSpec"]
