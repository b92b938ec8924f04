"""Edge profiles: data consistency, the limits applied to ONNX Runtime, and the projection arithmetic."""

import math

import numpy as np
import pytest
import torch

from bench.edge.profiles import get_profile, load_profiles, precision_family
from bench.edge.projection import project
from bench.errors import UserError
from bench.hardware import DeviceSpec, get_device, load_devices
from bench.optimize.base import Artifact
from bench.runtime.ort_edge import bind_edge, edge_fields
from bench.suite import Target, expand, parse_suite
from tests.ort_fakes import FakeOrt


def edge_target(profile="rpi5", **kw):
    from bench.runtime import RUNTIMES
    from bench.suite import _configure

    t = Target(runtime="onnxruntime-edge", options={"profile": profile}, **kw)
    return _configure(RUNTIMES.get("onnxruntime-edge"), t)


def test_profiles_name_real_devices_with_sources():
    devices = load_devices()
    names = set(load_profiles())
    assert {"rpi5", "jetson-orin-nano", "snapdragon-phone"} <= names
    for p in load_profiles().values():
        spec = devices[p.device]
        assert spec.kind == "edge" and spec.sources
        assert set(p.precisions) <= set(spec.peak_flops_per_s), p.name  # every allowed precision can be projected
        assert 1 <= p.threads <= 16 and p.memory_budget_bytes < (spec.memory_bytes or math.inf)
    assert {"raspberry-pi-5", "jetson-orin-nano-8gb", "jetson-agx-orin-64gb", "snapdragon-8-gen-3-cpu"} <= set(devices)


def test_edge_spec_figures_follow_their_derivation():
    rpi = get_device("raspberry-pi-5")
    assert rpi.peak_flops_per_s["fp32"] == pytest.approx(4 * 2.4e9 * 16)  # 4 cores x 2.4 GHz x 16 FLOP/cycle
    assert rpi.mem_bandwidth_Bps == pytest.approx(4267e6 * 4, rel=1e-3)  # 32-bit LPDDR4X-4267
    nano = get_device("jetson-orin-nano-8gb")
    assert nano.peak_flops_per_s["fp32"] == pytest.approx(1024 * 2 * 625e6)
    assert nano.peak_flops_per_s["int8"] == pytest.approx(20e12)  # the datasheet's dense INT8 TOPS


def test_precision_family():
    assert precision_family("int8-dynamic") == "int8"
    assert precision_family("fp32") == "fp32"


DEV = DeviceSpec(name="toy", kind="edge", description="toy", peak_flops_per_s={"fp32": 100e9, "int8": 400e9},
                 mem_bandwidth_Bps=10e9, tdp_w=5.0, sources=("made up for the test",))


def test_projection_memory_bound():
    # AI = 1e9 / 1e8 = 10 FLOP/B; 10 x 10 GB/s = 100 GFLOP/s = fp32 peak: the ridge point exactly
    p = project(1e9, 1e8, DEV, "fp32")
    assert p.projected_arithmetic_intensity == pytest.approx(10)
    assert p.projected_latency_ms == pytest.approx(10.0)
    # int8 peak is 4x higher, so the same model is memory-bound: latency = bytes / bandwidth
    q = project(1e9, 1e8, DEV, "int8")
    assert q.projected_bound == "memory"
    assert q.projected_attainable_flops_per_s == pytest.approx(100e9)
    assert q.projected_latency_ms == pytest.approx(1e8 / 10e9 * 1e3)
    assert q.projected_energy_j == pytest.approx(5.0 * 0.01)  # 5 W x 10 ms


def test_projection_compute_bound_and_labels():
    p = project(1e10, 1e7, DEV, "fp32")  # AI 1000 FLOP/B, far right of the ridge
    assert p.projected_bound == "compute"
    assert p.projected_latency_ms == pytest.approx(1e10 / 100e9 * 1e3)
    text = p.projection_assumptions
    assert "roofline bound on toy" in text and "100% of peak" in text and "5 W" in text
    assert p.projection_device == "toy"


def test_projection_without_power_figure_projects_no_energy():
    p = project(1e9, 1e8, get_device("raspberry-pi-5"), "fp32")
    assert p.projected_energy_j is None and "energy not projected" in p.projection_assumptions
    assert p.projected_latency_ms == pytest.approx(max(1e9 / 1.536e11, 1e8 / 1.707e10) * 1e3)


def test_projection_rejects_unknown_precision_and_nonsense():
    with pytest.raises(ValueError, match="no fp16 peak"):
        project(1e9, 1e8, DEV, "fp16")
    with pytest.raises(ValueError):
        project(0, 1e8, DEV, "fp32")


def test_profile_sets_threads_and_caps_them():
    assert edge_target("rpi5").threads == 4
    assert edge_target("jetson-orin-nano").threads == 6
    assert edge_target("rpi5", threads=2).threads == 2
    suite = """
name: e
models: [tinybert-4]
optimizations: [fp32]
targets:
  - {runtime: onnxruntime-edge, options: {profile: rpi5}, threads: THREADS}
"""
    with pytest.raises(UserError, match="exceed the 4 that edge profile rpi5 allows"):
        parse_suite(suite.replace("THREADS", "8"))
    with pytest.raises(UserError, match="Unknown edge profile 'rpi9'"):
        parse_suite(suite.replace("rpi5", "rpi9").replace("THREADS", "1"))
    plan = expand(parse_suite(suite.replace(", threads: THREADS", "")))
    assert plan.cells[0].target.threads == 4  # the planner hands the profile's threads to the cell process
    assert plan.cells[0].target.label == "onnxruntime-edge-cpu-rpi5"


def test_edge_runtime_does_not_run_on_cuda():
    suite = """
name: e
models: [tinybert-4]
optimizations: [fp32]
targets:
  - {runtime: onnxruntime-edge, device: cuda, options: {profile: rpi5}}
"""
    with pytest.raises(UserError, match="does not run on cuda"):
        expand(parse_suite(suite))


def test_threads_seen_by_the_real_ort_session_are_the_profile_s(tiny_onnx):
    s = bind_edge(Artifact(kind="onnx", onnx_path=tiny_onnx), edge_target("snapdragon-phone"), {"x": torch.ones(1, 8)})
    assert s.info["ort_intra_op_num_threads"] == 4  # read back from ORT's own session options
    assert s.info["threads"] == 4 and s.info["edge_profile"] == "snapdragon-phone"
    np.testing.assert_allclose(s.output(s.call()), np.full((1, 8), 8.0))
    fields = s.annotate({"flops": 2 * 64, "weight_bytes": 256, "precision": "fp32", "peak_rss_infer_bytes": 0})
    assert fields["emulated"] is True and fields["edge_profile"] == "snapdragon-phone"
    # bytes moved: weights 256 + input 32 + output 32
    assert fields["projected_arithmetic_intensity"] == pytest.approx(128 / 320)
    assert fields["edge_memory_within_budget"] is True


def test_xnnpack_gets_the_threads_and_ort_one(tmp_path):
    ort = FakeOrt(available=["XnnpackExecutionProvider", "CPUExecutionProvider"])
    art = tmp_path / "m.onnx"
    art.write_bytes(b"0" * 100)
    s = bind_edge(Artifact(kind="onnx", onnx_path=art), edge_target("rpi5", provider="xnnpack"),
                  {"x": torch.ones(1, 8)}, ort=ort)
    sess = ort.sessions[0]
    assert sess.requested == ["XnnpackExecutionProvider", "CPUExecutionProvider"]
    assert sess.provider_options == [{"intra_op_num_threads": "4"}, {}]
    assert sess.opts.intra_op_num_threads == 1
    assert sess.opts.config["session.intra_op.allow_spinning"] == "0"
    assert s.info["providers"][0] == "XnnpackExecutionProvider"


def test_xnnpack_missing_is_a_clear_reason(tmp_path):
    art = tmp_path / "m.onnx"
    art.write_bytes(b"0")
    with pytest.raises(RuntimeError, match="XnnpackExecutionProvider is not available.*use provider: cpu"):
        bind_edge(Artifact(kind="onnx", onnx_path=art), edge_target("rpi5", provider="xnnpack"),
                  {"x": torch.ones(1, 8)}, ort=FakeOrt())
    suite = """
name: e
models: [tinybert-4]
optimizations: [fp32]
targets:
  - {runtime: onnxruntime-edge, options: {profile: rpi5}, provider: xnnpack}
  - {runtime: onnxruntime-edge, options: {profile: rpi5}}
"""
    import onnxruntime

    plan = expand(parse_suite(suite))
    if "XnnpackExecutionProvider" not in onnxruntime.get_available_providers():
        assert plan.cells[0].status == "skipped" and "XNNPACK" in plan.cells[0].reason


def test_precision_and_memory_budget_are_enforced(tmp_path, monkeypatch):
    art = tmp_path / "m.onnx"
    art.write_bytes(b"0" * 1000)
    with pytest.raises(RuntimeError, match="allows fp32, int8; this chain produces fp16"):
        bind_edge(Artifact(kind="onnx", onnx_path=art, precision="fp16"), edge_target("rpi5"), {}, ort=FakeOrt())
    from bench.edge import profiles

    small = profiles.EdgeProfile(**{**vars(get_profile("rpi5")), "memory_budget_bytes": 999})
    monkeypatch.setattr("bench.runtime.ort_edge.get_profile", lambda name: small)
    with pytest.raises(RuntimeError, match="exceed edge profile rpi5's memory budget"):
        bind_edge(Artifact(kind="onnx", onnx_path=art), edge_target("rpi5"), {}, ort=FakeOrt())


def test_edge_fields_flag_a_footprint_over_budget():
    p = get_profile("snapdragon-phone")
    rec = {"flops": 1e9, "weight_bytes": 1e7, "precision": "int8-dynamic", "peak_rss_infer_bytes": 3 * 2**30}
    f = edge_fields(rec, p, input_bytes=0, output_bytes=0, rss_at_bind=2**29)
    assert f["edge_memory_bytes"] == 3 * 2**30 - 2**29
    assert f["edge_memory_within_budget"] is False
    assert "int8" in f["projection_assumptions"]
    none = edge_fields({"precision": "fp32"}, p, 0, 0, 0)
    assert none["projected_latency_ms"] is None and "not projected" in none["projection_assumptions"]
