"""Activation outliers: their statistics, and Outlier Suppression+ shifting and scaling.

`os-plus` declares the Pre-LN (ViT) family only: in a Post-LN block (BERT) the LayerNorm output
is also the residual, where the shift would not cancel (bench/optimize/outliers.py).
"""

from pydantic import BaseModel, ConfigDict, Field

from bench.optimize.base import OPTIMIZATIONS, OptimizationSpec

OSPLUS = ("Wei et al., Outlier Suppression+: Accurate quantization of large language models by equivalent and "
          "optimal shifting and scaling (EMNLP 2023)")
QT = "Bondarenko et al., Quantizable Transformers: Removing Outliers by Helping Attention Heads Do Nothing (NeurIPS 2023)"


class StatsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batches: int = Field(default=2, ge=1, le=64)


class OsPlusParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    calib_batches: int = Field(default=4, ge=1, le=64)
    shift: bool = True
    scale: bool = True
    grid: int = Field(default=10, ge=1, le=200)  # thresholds tried in the scale search
    max_rows: int = Field(default=1024, ge=64)  # tokens per layer kept for the search


OPTIMIZATIONS.add(OptimizationSpec(
    "outlier-stats", "bench.optimize.outliers:outlier_stats", params=StatsParams, paper=QT,
    description="Records per-Linear input outlier statistics (max |x|, kurtosis, top channel / median) "
                "on held-out batches; leaves the model unchanged."))
OPTIMIZATIONS.add(OptimizationSpec(
    "os-plus", "bench.optimize.outliers:os_plus", params=OsPlusParams, families=("vit",), paper=OSPLUS,
    description="Outlier Suppression+: per-channel shift and scale of LayerNorm outputs, folded into the "
                "LayerNorm and the next Linear (Pre-LN: norm1->qkv, norm2->fc1). Exact in fp32."))
