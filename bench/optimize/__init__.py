"""Optimizations, one file per technique family. Importing this package registers them all."""

from bench.optimize import (  # noqa: F401  (registration side effects)
    baseline,
    compile,
    export,
    faults,
    ort_graph,
    outliers,
    precision,
    quant_static,
    quantize,
    weight_only,
)
from bench.optimize.base import OPTIMIZATIONS, Artifact, Context, OptimizationSpec

__all__ = ["OPTIMIZATIONS", "Artifact", "Context", "OptimizationSpec"]
