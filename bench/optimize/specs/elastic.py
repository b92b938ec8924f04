"""Elastic width (MatFormer): a sub-model using the first fraction of every FFN's neurons."""

from pydantic import BaseModel, ConfigDict, Field

from bench.optimize.base import OPTIMIZATIONS, OptimizationSpec

MATFORMER = "Devvrit et al., MatFormer: Nested Transformer for Elastic Inference (NeurIPS 2024)"


class ElasticParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fraction: float = Field(default=0.5, gt=0.0, le=1.0)


OPTIMIZATIONS.add(OptimizationSpec(
    "elastic-ffn", "bench.optimize.elastic:elastic_ffn", params=ElasticParams, families=("bert", "vit"),
    changes_shapes=True, changes_numerics=True, paper=MATFORMER,
    description="MatFormer-style elastic width: keep the first fraction of every FFN's neurons."))
