"""Optimizations, one file per technique family. Importing this package registers them all."""

from bench.optimize import baseline, export, faults, quantize  # noqa: F401  (registration side effects)
from bench.optimize.base import OPTIMIZATIONS, Artifact, Context, OptimizationSpec

# isort: off
from bench.optimize import attention, elastic, factorize, normalize, prune, tokens, varlen  # noqa: F401,E402
# isort: on

__all__ = ["OPTIMIZATIONS", "Artifact", "Context", "OptimizationSpec"]
