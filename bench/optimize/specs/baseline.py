"""The fp32 baseline: the reference every other cell is compared with."""

from bench.optimize.base import OPTIMIZATIONS, OptimizationSpec

OPTIMIZATIONS.add(OptimizationSpec(
    "fp32", "bench.optimize.baseline:fp32", consumes="any", produces="any",  # any model as it comes
    description="The unmodified fp32 model: the baseline for speedups and fidelity."))
