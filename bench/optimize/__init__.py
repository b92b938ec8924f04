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

# isort: off
from bench.optimize import attention, elastic, factorize, normalize, prune, tokens, varlen  # noqa: F401,E402
# isort: on

__all__ = ["OPTIMIZATIONS", "Artifact", "Context", "OptimizationSpec"]
