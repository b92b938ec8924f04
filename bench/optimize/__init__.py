"""Optimizations, one file per technique family. Importing this package registers them all."""

from bench.optimize import baseline, export, faults, quantize  # noqa: F401  (registration side effects)
from bench.optimize.base import OPTIMIZATIONS, Artifact, Context, OptimizationSpec

__all__ = ["OPTIMIZATIONS", "Artifact", "Context", "OptimizationSpec"]
