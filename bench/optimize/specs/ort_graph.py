"""ONNX Runtime graph work: the session's optimization level, and the transformer fusion optimizer."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bench.optimize.base import OPTIMIZATIONS, OptimizationSpec

ORT_GRAPH = "ONNX Runtime graph optimizations, onnxruntime.ai/docs/performance/model-optimizations/graph-optimizations.html"
FUSION = ("ONNX Runtime transformer optimizer, onnxruntime.ai/docs/performance/transformers-optimization.html; "
          "survey Sec. VIII (operator fusion)")


class LevelParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: Literal["disabled", "basic", "extended", "all"] = "all"


class FusionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_type: Literal["auto", "bert", "vit"] = "auto"  # auto: from the model's family
    # 0: only the Python fusions, leaving the session its own passes; 1/2/99: ORT's passes offline too.
    opt_level: Literal[0, 1, 2, 99] = 0
    use_gpu: bool | None = None  # None: from the target device
    num_heads: int = Field(default=0, ge=0)  # 0: from the model's config, or detected


OPTIMIZATIONS.add(OptimizationSpec(
    "ort-optimize", "bench.optimize.ort_graph:ort_optimize", consumes="onnx", produces="onnx",
    params=LevelParams, paper=ORT_GRAPH,
    description="ONNX Runtime graph optimization at a chosen level (disabled, basic, extended, all); "
                "the runtime session uses the same level."))
OPTIMIZATIONS.add(OptimizationSpec(
    "ort-fusion", "bench.optimize.ort_graph:ort_fusion", consumes="onnx", produces="onnx", params=FusionParams,
    families=("bert", "vit"), paper=FUSION,
    description="ONNX Runtime transformer fusion optimizer (attention, SkipLayerNorm, BiasGelu fusions)."))
