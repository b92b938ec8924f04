"""Quantization, precision, compilation and ONNX Runtime graph optimizations: exact ones exact,
lossy ones bounded, impossible chains rejected at plan time with their reason."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from bench.optimize import OPTIMIZATIONS
from bench.optimize.ort_graph import op_counts
from bench.optimize.quant_static import calibration_inputs
from bench.suite import expand, parse_suite
from tests.optimize_helpers import apply_chain, built, fidelity, make_ctx, reference, run


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    ctx = make_ctx("tinybert-4", tmp_path_factory.mktemp("bert"), seq=16)
    return ctx, reference(ctx)


# --- ONNX Runtime static int8 ------------------------------------------------------------------


@pytest.mark.parametrize("per_channel", [False, True])
def test_static_int8_qdq_is_bounded(bert, per_channel):
    ctx, ref = bert
    art = apply_chain(ctx, [("onnx-export", {}), ("ort-static-int8", {"per_channel": per_channel, "calib_batches": 4})])
    ops = op_counts(art.onnx_path)
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > 0
    # Per-channel weight scales are vectors along an axis; per-tensor ones are scalars.
    graph = onnx.load(str(art.onnx_path)).graph
    inits = {i.name: i for i in graph.initializer}
    weight_dq = [n for n in graph.node if n.op_type == "DequantizeLinear" and inits.get(n.input[0]) is not None
                 and inits[n.input[0]].data_type == onnx.TensorProto.INT8 and len(inits[n.input[0]].dims) == 2]
    assert weight_dq
    scale_sizes = {int(np.prod(inits[n.input[1]].dims)) for n in weight_dq}
    assert (max(scale_sizes) > 1) == per_channel
    f = fidelity(art, ctx, ref)
    assert f["cosine_sim"] > 0.99 and f["max_abs_err"] > 0  # lossy, and bounded
    assert art.precision == "int8-static"
    assert art.record["quant_granularity"] == ("per-channel" if per_channel else "per-tensor")


def test_calibration_never_uses_the_measured_inputs(bert):
    ctx, _ = bert
    calib = calibration_inputs(ctx, 3)
    assert len(calib) == 3
    for b in calib:
        assert not torch.equal(b["input_ids"], ctx.inputs["input_ids"])
    assert not torch.equal(calib[0]["input_ids"], calib[1]["input_ids"])


# --- ORT graph levels and fusion -----------------------------------------------------------------


@pytest.mark.parametrize("level", ["disabled", "extended"])
def test_ort_graph_level_is_exact_and_reaches_the_session(bert, level):
    ctx, ref = bert
    art = apply_chain(ctx, [("onnx-export", {}), ("ort-optimize", {"level": level})])
    assert art.runtime_hints["ort_graph_optimization_level"] == {"disabled": "ORT_DISABLE_ALL",
                                                                  "extended": "ORT_ENABLE_EXTENDED"}[level]
    from bench.runtime.ort import bind_ort
    from bench.suite import Target

    session = bind_ort(art, Target(runtime="onnxruntime", threads=1), ctx.inputs)
    assert session.info["graph_optimization_level"].endswith({"disabled": "DISABLE_ALL", "extended": "EXTENDED"}[level])
    assert fidelity(art, ctx, ref)["max_abs_err"] < 1e-4
    if level == "extended":  # fusions remove nodes
        assert art.record["onnx_nodes_after"] < art.record["onnx_nodes_before"] - 50


def test_transformer_fusion_is_exact_and_fuses(bert):
    ctx, ref = bert
    art = apply_chain(ctx, [("onnx-export", {}), ("ort-fusion", {})])
    assert "SkipLayerNormalization=8" in art.record["fused_ops"]  # 2 per layer x 4 layers
    assert fidelity(art, ctx, ref)["max_abs_err"] < 1e-4


def test_torch_dynamic_int8_runs_a_batch_of_two(tmp_path):
    """transformers' BERT expands one row of token_type_ids over the batch (stride 0), and torch's int8
    embedding kernel refused it: "Expect weight, indices, and offsets to be contiguous" at any batch
    above 1. The cell as the planner makes it, applied and run at batch 2."""
    from bench.optimize import Context
    from bench.zoo import MODELS

    (cell,) = expand(parse_suite("name: b2\nmodels: [tinybert-4]\noptimizations: [torch-dynamic-int8]\n"
                                 "targets: [{runtime: torch, threads: 1}]\n"
                                 "workloads: {batch_sizes: [2], seq_lens: [16]}\n")).runnable
    spec, w = MODELS.get(cell.model), cell.workload
    (tmp_path / "scratch").mkdir()
    ctx = Context(spec, w, spec.inputs(w, 0), "cpu", tmp_path / "scratch", tmp_path / "cache", 0)
    assert ctx.inputs["input_ids"].shape == (2, 16)
    with torch.inference_mode():
        ref = built(ctx)(**ctx.inputs).numpy()
    art = apply_chain(ctx, [(s.name, s.params) for s in cell.resolved])
    f = fidelity(art, ctx, ref)
    assert f["cosine_sim"] > 0.999 and f["max_abs_err"] > 0  # int8: lossy, and bounded
    # Fixed, not skipped: the embedding tables are still int8.
    assert sum(isinstance(m, torch.ao.nn.quantized.Embedding) for m in art.module.modules()) == 3


# --- precision ------------------------------------------------------------------------------------


def test_ort_fp16_halves_the_weights_with_bounded_error(bert):
    ctx, ref = bert
    fp32 = apply_chain(ctx, [("onnx-export", {})])
    half = apply_chain(ctx, [("onnx-export", {}), ("ort-fp16", {})])
    assert half.onnx_path.stat().st_size < 0.55 * fp32.onnx_path.stat().st_size
    f = fidelity(half, ctx, ref)
    assert f["cosine_sim"] > 0.9999 and 0 < f["max_abs_err"] < 0.05


def test_torch_bf16_is_bounded_and_takes_fp32_inputs(bert):
    ctx, ref = bert
    art = apply_chain(ctx, [("torch-bf16", {})])
    assert art.precision == "bf16"
    assert next(art.module.parameters()).dtype == torch.bfloat16
    f = fidelity(art, ctx, ref)
    assert f["cosine_sim"] > 0.999 and 0 < f["max_abs_err"] < 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_fp16_on_cuda(tmp_path):
    ctx = make_ctx("tinybert-4", tmp_path, device="cuda")
    f = fidelity(apply_chain(ctx, [("torch-fp16", {})]), ctx, reference(ctx))
    assert f["cosine_sim"] > 0.999


def test_fp8_refuses_devices_without_fp8_tensor_cores(monkeypatch):
    from bench.optimize import precision

    with pytest.raises(RuntimeError, match="none is visible"):
        precision.check_fp8_device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (8, 0))  # A100
    with pytest.raises(RuntimeError, match="sm_80"):
        precision.check_fp8_device("cuda")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (9, 0))  # H100
    precision.check_fp8_device("cuda")


# --- weight-only and torchao ----------------------------------------------------------------------


def test_torchao_weight_only_int8_is_bounded(bert):
    ctx, ref = bert
    art = apply_chain(ctx, [("torchao-weight-only", {})])
    assert type(art.module.encoder.encoder.layer[0].attention.self.query.weight) is not torch.nn.Parameter
    assert art.record["quantized_linears"] == 24 and art.record["float_linears"] == 0
    f = fidelity(art, ctx, ref)
    assert f["cosine_sim"] > 0.999 and f["max_abs_err"] > 0


def test_torchao_int4_groups_and_the_layers_they_do_not_fit(bert):
    ctx, ref = bert
    art = apply_chain(ctx, [("torchao-weight-only", {"bits": 4, "group_size": 24})])  # 312 and 1200 divide by 24
    assert art.record["quantized_linears"] == 24
    f = fidelity(art, ctx, ref)
    assert 0.98 < f["cosine_sim"] < 0.99999  # int4 loses more than int8, boundedly
    with pytest.raises(RuntimeError, match="divides no Linear"):
        apply_chain(ctx, [("torchao-weight-only", {"bits": 4, "group_size": 32})])  # 312 % 32 != 0


def test_torchao_dynamic_int8_is_bounded(bert):
    ctx, ref = bert
    f = fidelity(apply_chain(ctx, [("torchao-dynamic-int8", {})]), ctx, ref)
    assert f["cosine_sim"] > 0.99


@pytest.mark.parametrize("bits, cos", [(4, 0.99), (8, 0.9999)])
def test_ort_matmulnbits_packs_weights(bert, bits, cos):
    ctx, ref = bert
    fp32 = apply_chain(ctx, [("onnx-export", {})])
    art = apply_chain(ctx, [("onnx-export", {}), ("ort-matmulnbits", {"bits": bits})])
    assert art.record["matmulnbits_nodes"] == 24  # every Linear of 4 layers
    assert art.onnx_path.stat().st_size < fp32.onnx_path.stat().st_size  # embeddings stay fp32
    assert fidelity(art, ctx, ref)["cosine_sim"] > cos


def test_matmulnbits_block_size_must_be_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        OPTIMIZATIONS.get("ort-matmulnbits").parse_params({"block_size": 48})


# --- torch.compile --------------------------------------------------------------------------------


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(32, 64)
        self.norm = torch.nn.LayerNorm(64)

    def forward(self, input_ids, attention_mask):
        x = input_ids.float()[..., None].expand(-1, -1, 32) * 1e-4
        return self.norm(torch.nn.functional.gelu(self.fc(x)))


def test_torch_compile_matches_eager_and_records_compile_time(bert):
    ctx, _ = bert
    torch.manual_seed(0)
    eager = _Tiny().eval()
    with torch.inference_mode():
        want = eager(**ctx.inputs)
    art = apply_chain(ctx, [("torch-compile", {})], module=eager)
    assert art.record["compile_s"] > 0 and art.record["cold_start_includes_compile"]
    assert np.abs(run(art, ctx) - want.numpy()).max() < 1e-5


def test_torch_compile_says_which_tool_is_missing_before_inductor_fails(bert, tmp_path, monkeypatch):
    from bench.optimize.compile import toolchain_problem

    (tmp_path / "Python.h").write_text("")
    no_tools, gcc = (lambda n: None), (lambda n: f"/usr/bin/{n}" if n in ("gcc", "g++") else None)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("CXX", raising=False)
    assert "needs a C++ compiler" in toolchain_problem("cpu", which=no_tools, include_dir=str(tmp_path))
    assert "needs a C compiler" in toolchain_problem("cuda", which=no_tools, include_dir=str(tmp_path))
    assert "build-essential" in toolchain_problem("cuda", which=no_tools, include_dir=str(tmp_path))
    assert toolchain_problem("cuda", which=gcc, include_dir=str(tmp_path)) == ""
    missing = toolchain_problem("cuda", which=gcc, include_dir=str(tmp_path / "none"))
    assert "Python.h not found" in missing and "python3-dev" in missing
    assert toolchain_problem("cpu") == ""  # this machine compiles (the test above ran inductor)

    import bench.optimize.compile as comp

    monkeypatch.setattr(comp, "toolchain_problem", lambda device: "torch.compile on cpu needs a C++ compiler")
    ctx, _ = bert
    with pytest.raises(RuntimeError, match="needs a C\\+\\+ compiler"):
        apply_chain(ctx, [("torch-compile", {})], module=_Tiny().eval())


# --- plan-time rejection --------------------------------------------------------------------------

SUITE = """
name: t
models: [{model}]
optimizations: ["{chain}", fp32]
targets: [{{runtime: {runtime}, device: {device}, threads: 1}}, {{runtime: torch, device: cpu, threads: 1}}]
"""


@pytest.mark.parametrize("model, chain, runtime, device, reason", [
    ("tinybert-4", "os-plus -> onnx-export -> ort-static-int8", "onnxruntime", "cpu",
     "os-plus applies to vit models, not bert"),
    ("tinybert-4", "torch-fp16", "torch", "cuda", None),  # accepted on cuda
    ("deit-ti", "torch-fp16", "onnxruntime", "cpu", "torch-fp16 runs on cuda only, not cpu"),
    ("deit-ti", "torch-fp8", "onnxruntime", "cpu", "torch-fp8 runs on cuda only, not cpu"),
    ("tinybert-4", "torchao-weight-only -> ort-static-int8", "onnxruntime", "cpu",
     "torchao-weight-only produces a torch model that onnx-export cannot convert"),
    ("tinybert-4", "torch-dynamic-int8 -> onnx-export -> ort-static-int8", "onnxruntime", "cpu",
     "torch-dynamic-int8 produces a torch model that onnx-export cannot convert"),
    ("tinybert-4", "torch-bf16 -> fp32 -> onnx-export", "onnxruntime", "cpu",
     "torch-bf16 produces a torch model that onnx-export cannot convert"),
    ("deit-ti", "os-plus -> onnx-export -> ort-static-int8", "onnxruntime", "cpu", None),
    ("tinybert-4", "torch-compile", "onnxruntime", "cpu", "torch-compile produces a torch model"),
    ("tinybert-4", "ort-fp16 -> torch-compile", "onnxruntime", "cuda", "nothing converts a onnx model into a torch"),
])
def test_impossible_chains_are_rejected_at_plan_time(model, chain, runtime, device, reason, monkeypatch):
    monkeypatch.setattr("bench.runtime.specs.cuda_problem", lambda: "")  # plan as a machine with a GPU would
    plan = expand(parse_suite(SUITE.format(model=model, chain=chain, runtime=runtime, device=device)))
    cell = next(c for c in plan.cells if c.target.runtime == runtime and c.target.device == device
                and c.optimization != "fp32")
    if reason is None:
        assert cell.status == "planned", cell.reason
    else:
        assert cell.status == "skipped" and reason in cell.reason, cell.reason


def test_every_new_optimization_declares_itself():
    names = ["ort-static-int8", "ort-optimize", "ort-fusion", "ort-fp16", "torch-bf16", "torch-fp16", "torch-fp8",
             "torchao-weight-only", "torchao-dynamic-int8", "ort-matmulnbits", "torch-compile", "outlier-stats",
             "os-plus"]
    for name in names:
        spec = OPTIMIZATIONS.get(name)
        assert spec.paper and spec.description, name
    assert OPTIMIZATIONS.get("ort-static-int8").consumes == "onnx"
    assert not OPTIMIZATIONS.get("torch-compile").exportable
    assert OPTIMIZATIONS.get("os-plus").families == ("vit",)
