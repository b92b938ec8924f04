"""Pruning: unstructured magnitude, structured heads and FFN neurons, and 2:4 semi-structured.

2:4 is declared CUDA-only: CPUs have no 2:4 kernels, so a CPU cell is skipped at plan time
rather than measured as dense zeros (bench/optimize/prune.py).
"""

from pydantic import BaseModel, ConfigDict, Field

from bench.optimize.base import OPTIMIZATIONS, OptimizationSpec

HAN = "Han et al., Learning both Weights and Connections for Efficient Neural Networks (NeurIPS 2015); survey Sec. V"
MICHEL = "Michel et al., Are Sixteen Heads Really Better than One? (NeurIPS 2019); survey Sec. V"
FFN_PRUNE = ("Hou et al., DynaBERT (NeurIPS 2020), FFN neuron pruning by importance; "
             "survey Sec. V (structured pruning)")
MISHRA = "Mishra et al., Accelerating Sparse Deep Neural Networks (arXiv:2104.08378, 2021): 2:4 sparsity"


class MagnitudeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sparsity: float = Field(default=0.5, ge=0.0, lt=1.0)


class RatioParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ratio: float = Field(default=0.25, ge=0.0, lt=1.0)  # share removed in every layer


class SemiStructuredParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dtype: str = Field(default="fp16", pattern="^(fp16|bf16)$")  # the sparse tensor-core dtypes


OPTIMIZATIONS.add(OptimizationSpec(
    "prune-magnitude", "bench.optimize.prune:prune_magnitude", params=MagnitudeParams, changes_numerics=True,
    paper=HAN,
    description="Global unstructured magnitude pruning of encoder Linear weights; dense kernels "
                "still multiply the zeros, so latency, MACs and weight bytes do not change."))
OPTIMIZATIONS.add(OptimizationSpec(
    "prune-heads", "bench.optimize.prune:prune_heads", params=RatioParams, families=("bert", "vit"),
    changes_shapes=True, changes_numerics=True, paper=MICHEL,
    description="Structured attention-head pruning: the lowest-norm heads of every layer are "
                "sliced out of Q/K/V and the output projection."))
OPTIMIZATIONS.add(OptimizationSpec(
    "prune-ffn", "bench.optimize.prune:prune_ffn", params=RatioParams, families=("bert", "vit"),
    changes_shapes=True, changes_numerics=True, paper=FFN_PRUNE,
    description="Structured FFN-neuron pruning: the least important intermediate neurons are "
                "sliced out of both FFN matrices."))
OPTIMIZATIONS.add(OptimizationSpec(
    "sparse-2to4", "bench.optimize.prune:sparse_2to4", params=SemiStructuredParams, families=("bert", "vit"),
    devices=("cuda",), changes_numerics=True, exportable=False, paper=MISHRA,
    description="2:4 semi-structured sparsity on NVIDIA sparse tensor cores; CUDA only, since "
                "CPUs have no 2:4 kernels (not accelerated on CPU)."))
