"""ONNX Runtime provider selection and I/O binding, against a fake ORT (CUDA, TensorRT) and the real one (CPU)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.errors import UserError
from bench.optimize.base import Artifact
from bench.runtime.ort import bind_ort, provider_chain, provider_problem
from bench.suite import Target, expand, parse_suite
from tests.ort_fakes import FakeOrt

GPU_ORT = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def target(**kw):
    kw.setdefault("runtime", "onnxruntime")
    kw.setdefault("threads", 2)
    return Target(**kw)


def artifact(tmp_path: Path) -> Artifact:
    return Artifact(kind="onnx", onnx_path=tmp_path / "m.onnx")


INPUTS = {"x": torch.arange(6, dtype=torch.float32).reshape(2, 3)}


@pytest.mark.parametrize("provider, device, chain", [
    (None, "cpu", ["CPUExecutionProvider"]),
    (None, "cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"]),
    ("tensorrt", "cuda", ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]),
    ("TensorrtExecutionProvider", "cuda", ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]),
    ("xnnpack", "cpu", ["XnnpackExecutionProvider", "CPUExecutionProvider"]),
])
def test_provider_chain(provider, device, chain):
    assert provider_chain(target(provider=provider, device=device)) == chain


def test_provider_problems_name_the_missing_provider():
    cpu_only = ["CPUExecutionProvider"]
    assert provider_problem(target(device="cpu"), cpu_only) == ""
    why = provider_problem(target(device="cuda"), cpu_only)
    assert "CUDAExecutionProvider is not available" in why and "onnxruntime-gpu" in why
    assert "TensorrtExecutionProvider" in provider_problem(target(device="cuda", provider="tensorrt"),
                                                           ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert "runs on cuda" in provider_problem(target(device="cpu", provider="cuda"), list(GPU_ORT))
    assert "does not run on cuda" in provider_problem(target(device="cuda", provider="cpu"), list(GPU_ORT))
    assert provider_problem(target(device="cuda", provider="tensorrt"), list(GPU_ORT)) == ""


def test_cuda_io_binding_copies_inputs_once_outside_the_timed_call(tmp_path):
    ort = FakeOrt(available=GPU_ORT)
    s = bind_ort(artifact(tmp_path), target(device="cuda"), INPUTS, ort=ort)
    sess = ort.sessions[0]
    assert sess.requested == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert sess.opts.intra_op_num_threads == 2
    created = list(ort.OrtValue.created)
    assert [(v.device, v.device_id) for v in created] == [("cuda", 0)]  # one input, copied at bind time
    assert sess.binding.outputs == {"output": ("cuda", 0)}  # outputs stay on the device
    for _ in range(3):
        y = s.call()
        s.sync()
    assert len(ort.OrtValue.created) == 1  # no copy inside the timed call
    assert sess.binding_runs == 3 and sess.runs == []  # never the host-array path
    assert sess.binding.synced == 3
    np.testing.assert_array_equal(s.output(y), np.full((1, 4), 15.0, dtype=np.float32))
    assert s.annotate({}) == {"host_device_copies": "excluded", "io_binding": True}
    assert s.info["providers"][0] == "CUDAExecutionProvider"


def test_cuda_copies_timed_on_purpose_are_labelled(tmp_path):
    ort = FakeOrt(available=GPU_ORT)
    s = bind_ort(artifact(tmp_path), target(device="cuda", options={"copies": "timed"}), INPUTS, ort=ort)
    s.call()
    sess = ort.sessions[0]
    assert sess.runs == [{"x": "ndarray"}]  # host arrays in: the copies are inside the call
    assert ort.OrtValue.created == []
    assert s.annotate({}) == {"host_device_copies": "timed", "io_binding": False}


def test_tensorrt_session_requests_trt_then_cuda(tmp_path):
    ort = FakeOrt(available=GPU_ORT)
    bind_ort(artifact(tmp_path), target(device="cuda", provider="tensorrt"), INPUTS, ort=ort)
    assert ort.sessions[0].requested == list(GPU_ORT)


def test_silent_fallback_to_cpu_is_refused(tmp_path):
    ort = FakeOrt(available=GPU_ORT, fall_back=True)
    with pytest.raises(RuntimeError, match="did not enable CUDAExecutionProvider"):
        bind_ort(artifact(tmp_path), target(device="cuda"), INPUTS, ort=ort)


def test_cuda_binding_preloads_the_cuda_libraries_and_a_refusal_names_the_cuda_versions(tmp_path):
    calls = []
    ort = FakeOrt(available=GPU_ORT)
    ort.preload_dlls = lambda: calls.append("preload")
    s = bind_ort(artifact(tmp_path), target(device="cuda"), INPUTS, ort=ort)
    assert calls == ["preload"] and s.info["cuda_libraries_preloaded"] == "done"
    bind_ort(artifact(tmp_path), target(device="cpu"), INPUTS, ort=FakeOrt())  # no fake preload: never called on cpu

    def broken():
        raise RuntimeError("Invalid parameter of directory")

    ort = FakeOrt(available=GPU_ORT)
    ort.preload_dlls = broken
    s = bind_ort(artifact(tmp_path), target(device="cuda"), INPUTS, ort=ort)
    assert s.info["cuda_libraries_preloaded"] == "failed: RuntimeError: Invalid parameter of directory"
    assert bind_ort(artifact(tmp_path), target(device="cuda"), INPUTS, ort=FakeOrt(available=GPU_ORT)).info[
        "cuda_libraries_preloaded"] == "not available in this onnxruntime"

    ort = FakeOrt(available=GPU_ORT, fall_back=True)
    ort.__version__, ort.cuda_version = "1.31.1", "13.0"
    with pytest.raises(RuntimeError, match=r"onnxruntime 1\.31\.1 built for CUDA 13\.0, torch for CUDA") as e:
        bind_ort(artifact(tmp_path), target(device="cuda"), INPUTS, ort=ort)
    assert "onnxruntime-gpu[cuda,cudnn]" in str(e.value)


def test_missing_provider_fails_at_bind_time(tmp_path):
    with pytest.raises(RuntimeError, match="CUDAExecutionProvider is not available"):
        bind_ort(artifact(tmp_path), target(device="cuda"), INPUTS, ort=FakeOrt())


SUITE = """
name: t
models: [tinybert-4]
optimizations: [fp32]
targets:
  - {runtime: onnxruntime, device: cpu}
  - {runtime: onnxruntime, device: cuda}
  - {runtime: onnxruntime, device: cuda, provider: tensorrt}
  - {runtime: onnxruntime, device: cuda, options: {copies: timed}}
"""


def test_planner_skips_gpu_providers_this_build_lacks_with_the_reason():
    import onnxruntime

    plan = expand(parse_suite(SUITE))
    labels = [c.target.label for c in plan.cells]
    # provider and options name the target, so the four targets are four distinct cells
    assert labels == ["onnxruntime-cpu", "onnxruntime-cuda", "onnxruntime-cuda-tensorrt", "onnxruntime-cuda-timed"]
    have = set(onnxruntime.get_available_providers())
    for cell in plan.cells[1:]:
        if "CUDAExecutionProvider" in have:
            continue
        assert cell.status == "skipped" and "is not available in this build" in cell.reason
    assert plan.cells[0].status == "planned"


def test_bad_runtime_options_are_suite_errors():
    with pytest.raises(UserError, match="copies"):
        parse_suite(SUITE.replace("copies: timed", "copies: sometimes"))
    with pytest.raises(UserError, match="on cpu there are no host-device copies"):
        parse_suite(SUITE.replace("{runtime: onnxruntime, device: cpu}",
                                  "{runtime: onnxruntime, device: cpu, options: {copies: timed}}"))
    with pytest.raises(UserError, match="bad options"):
        parse_suite(SUITE.replace("options: {copies: timed}", "options: {colour: blue}"))


def test_cpu_path_with_the_real_ort(tmp_path, tiny_onnx):
    s = bind_ort(Artifact(kind="onnx", onnx_path=tiny_onnx), target(device="cpu", threads=1),
                 {"x": torch.ones(1, 8)})
    out = s.output(s.call())
    np.testing.assert_allclose(out, np.full((1, 8), 8.0), rtol=1e-6)
    assert s.annotate({}) == {"host_device_copies": "none", "io_binding": False}


@pytest.mark.gpu
def test_real_cuda_provider_if_present(tiny_onnx):
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers() or not torch.cuda.is_available():
        pytest.skip("needs onnxruntime-gpu and a CUDA device")
    s = bind_ort(Artifact(kind="onnx", onnx_path=tiny_onnx), target(device="cuda", threads=1), {"x": torch.ones(1, 8)})
    np.testing.assert_allclose(s.output(s.call()), np.full((1, 8), 8.0), rtol=1e-5)
    assert s.info["providers"][0] == "CUDAExecutionProvider"


@pytest.mark.parametrize("spinning", [True, False])
def test_spinning_off_is_a_session_config_entry_and_in_the_record(tmp_path, spinning):
    """A server scenario's load generator shares the CPUs with ORT's intra-op threads; spinning: false
    stops them busy-waiting (docs/scenarios.md)."""
    ort = FakeOrt(available=["CPUExecutionProvider"])
    s = bind_ort(artifact(tmp_path), target(device="cpu", options={"spinning": spinning}), INPUTS, ort=ort)
    config = ort.sessions[0].opts.config
    assert config.get("session.intra_op.allow_spinning") == (None if spinning else "0")
    assert s.info["spinning"] is spinning
