"""ONNX Runtime graph work: the session's graph optimization level, and the transformer fusion optimizer.

ORT rewrites every graph it loads (constant folding, redundant-node removal at "basic"; op fusions
such as Gelu, LayerNorm and MatMul+Add at "extended"; layout changes at "all", its default). The
level step makes that choice a measured parameter: the optimized graph is written offline so its
node count is recorded, and the runtime session is told to use the same level.

The transformer fusion optimizer (`onnxruntime.transformers.optimizer`) matches whole subgraphs
(multi-head attention, SkipLayerNormalization, BiasGelu) that the session-level passes do not.
"""

from __future__ import annotations

from collections import Counter

from bench.optimize.base import Artifact, Context
from bench.optimize.specs.ort_graph import FusionParams, LevelParams
from bench.runtime.providers import PROVIDERS

LEVELS = {"disabled": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
          "all": "ORT_ENABLE_ALL"}
# Ops whose presence says a fusion happened; their counts go into the record.
FUSED_OPS = ("Attention", "MultiHeadAttention", "SkipLayerNormalization", "EmbedLayerNormalization",
             "BiasGelu", "FastGelu", "Gelu", "LayerNormalization", "SkipSimplifiedLayerNormalization",
             "FusedMatMul", "MatMulNBits", "QAttention")


def op_counts(path) -> Counter:
    import onnx

    return Counter(n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node)


def ort_optimize(artifact: Artifact, params: LevelParams, ctx: Context) -> Artifact:
    import onnxruntime as ort

    level = LEVELS[params.level]
    out = ctx.scratch / f"{artifact.onnx_path.stem}.ort-{params.level}.onnx"
    opts = ort.SessionOptions()
    opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    opts.optimized_model_filepath = str(out)
    ort.InferenceSession(str(artifact.onnx_path), opts, providers=[PROVIDERS[ctx.device]])
    before, after = op_counts(artifact.onnx_path), op_counts(out)
    return artifact.evolve(
        onnx_path=out, notes=[*artifact.notes, f"ort-optimize({params.level})"],
        runtime_hints={**artifact.runtime_hints, "ort_graph_optimization_level": level},
        record={**artifact.record, "ort_graph_level": params.level, "onnx_nodes_before": sum(before.values()),
                "onnx_nodes_after": sum(after.values())},
    )


def _heads_hidden(ctx: Context) -> tuple[int, int]:
    c = ctx.model.config
    heads = c.get("num_attention_heads") or c.get("n_heads") or c.get("heads") or 0
    hidden = c.get("hidden_size") or c.get("dim") or 0
    return int(heads), int(hidden)


def ort_fusion(artifact: Artifact, params: FusionParams, ctx: Context) -> Artifact:
    import logging

    from onnxruntime.transformers.optimizer import optimize_model

    model_type = ctx.model.family if params.model_type == "auto" else params.model_type
    heads, hidden = _heads_hidden(ctx)
    use_gpu = ctx.device == "cuda" if params.use_gpu is None else params.use_gpu
    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    opt = optimize_model(str(artifact.onnx_path), model_type=model_type, num_heads=params.num_heads or heads,
                         hidden_size=hidden, opt_level=params.opt_level, use_gpu=use_gpu)
    out = ctx.scratch / f"{artifact.onnx_path.stem}.fused-{model_type}-{params.opt_level}.onnx"
    opt.save_model_to_file(str(out))
    before, after = op_counts(artifact.onnx_path), op_counts(out)
    fused = {op: after[op] for op in FUSED_OPS if after[op] > before[op]}
    return artifact.evolve(
        onnx_path=out, notes=[*artifact.notes, f"ort-fusion({model_type},{params.opt_level})"],
        record={**artifact.record, "onnx_nodes_before": sum(before.values()), "onnx_nodes_after": sum(after.values()),
                "fused_ops": ", ".join(f"{k}={v}" for k, v in sorted(fused.items())) or "none"},
    )
