"""Low-rank factorization of encoder Linear layers by truncated SVD."""

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bench.optimize.base import OPTIMIZATIONS, OptimizationSpec

SVD_PAPER = ("Noach & Goldberg, Compressing Pre-trained Language Models by Matrix Decomposition "
             "(AACL 2020); survey Sec. VII (lightweight design)")


class SvdParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rank: int | None = Field(default=None, ge=1)
    energy: float | None = Field(default=None, gt=0.0, le=1.0)  # share of sum(s_i^2) retained

    @model_validator(mode="after")
    def _one(self):
        if (self.rank is None) == (self.energy is None):
            raise ValueError("give exactly one of rank or energy")
        return self


OPTIMIZATIONS.add(OptimizationSpec(
    "svd-lowrank", "bench.optimize.factorize:svd_lowrank", params=SvdParams, families=("bert", "vit"),
    changes_shapes=True, changes_numerics=True, paper=SVD_PAPER,
    description="Truncated-SVD replacement of encoder Linear layers at a fixed rank or a "
                "retained-energy threshold."))
