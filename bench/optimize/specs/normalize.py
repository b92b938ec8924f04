"""Exact normalization rewrites, declared for the Pre-LN (ViT) family only: on BERT, which is
Post-LN, neither is exact, so a BERT cell is skipped at plan time (bench/optimize/normalize.py)."""

from bench.optimize.base import OPTIMIZATIONS, OptimizationSpec

PRE_RMSNORM = ("Jiang et al., Pre-RMSNorm and Pre-CRMSNorm Transformers: Equivalent and Efficient "
               "Pre-LN Transformers (NeurIPS 2023)")
FOLD = "Jiang et al. (NeurIPS 2023), Sec. 3: folding LayerNorm's affine map into the next linear layer"

OPTIMIZATIONS.add(OptimizationSpec(
    "ln-fold", "bench.optimize.normalize:ln_fold", families=("vit",), changes_shapes=True, paper=FOLD,
    description="Fold LayerNorm scale and shift into the following Linear (exact; Pre-LN only)."))
OPTIMIZATIONS.add(OptimizationSpec(
    "pre-rmsnorm", "bench.optimize.normalize:pre_rmsnorm", families=("vit",), changes_shapes=True,
    paper=PRE_RMSNORM,
    description="Exact Pre-LN -> Pre-RMSNorm conversion: fold affines, keep the residual "
                "stream zero-mean, replace LayerNorm by RMSNorm."))
