"""Packed (padding-free) execution of a padded batch (ByteTransformer)."""

from bench.optimize.base import OPTIMIZATIONS, OptimizationSpec

BYTETRANSFORMER = ("Zhai et al., ByteTransformer: A High-Performance Transformer Boosted for "
                   "Variable-Length Inputs (IPDPS 2023)")

OPTIMIZATIONS.add(OptimizationSpec(
    "varlen-packed", "bench.optimize.varlen:varlen_packed", families=("bert",), changes_shapes=True,
    exportable=False, paper=BYTETRANSFORMER,
    description="Packed (padding-free) execution of a padded batch: Linear layers on real tokens "
                "only, attention per sequence; outputs on real tokens equal the padded model's."))
