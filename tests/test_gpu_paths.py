"""The GPU entry points on CPU-only machines: the bench-gpu check (with fakes and for real), torch on cuda."""

import shutil
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bench.gpu_check import driver_problem, main, ort_problem, torch_problem
from tests.conftest import ROOT


def fake_torch(available: bool, cuda_build: str | None, names=("NVIDIA H100 80GB HBM3",)):
    cuda = SimpleNamespace(is_available=lambda: available, device_count=lambda: len(names),
                           get_device_name=lambda i: names[i])
    return SimpleNamespace(__version__="2.99.0", version=SimpleNamespace(cuda=cuda_build), cuda=cuda)


def test_driver_problem():
    assert "nvidia-smi was not found" in driver_problem(which=lambda name: None)
    assert "nox -s bench-cpu" in driver_problem(which=lambda name: None)
    assert driver_problem(which=lambda name: f"/usr/bin/{name}") == ""


def test_torch_problem_tells_cpu_build_from_missing_device():
    assert "CPU-only build" in torch_problem(fake_torch(False, None))
    msg = torch_problem(fake_torch(False, "12.4"))
    assert "built for CUDA 12.4 but sees no CUDA device" in msg and "CUDA 12.4 or later" in msg
    assert torch_problem(fake_torch(True, "12.4")) == ""


def test_main_exit_codes(capsys):
    assert main(which=lambda n: None, torch=fake_torch(True, "12.4")) == 2
    assert "nvidia-smi" in capsys.readouterr().err
    assert main(which=lambda n: "/usr/bin/nvidia-smi", torch=fake_torch(False, None)) == 2
    assert main(which=lambda n: "/usr/bin/nvidia-smi", torch=fake_torch(True, "12.4")) == 0
    assert "cuda:0 NVIDIA H100 80GB HBM3" in capsys.readouterr().out


def test_gpu_check_stops_on_a_broken_onnxruntime_and_warns_on_a_cpu_build(capsys):
    """onnxruntime-gpu over onnxruntime in a reused environment left a package without its API:
    the check says so and how to repair it, before any cell runs."""
    gpu = SimpleNamespace(__version__="1.31.1", get_available_providers=lambda: ["TensorrtExecutionProvider",
                                                                                 "CUDAExecutionProvider",
                                                                                 "CPUExecutionProvider"])
    cpu = SimpleNamespace(__version__="1.32.0", get_available_providers=lambda: ["CPUExecutionProvider"])
    broken = SimpleNamespace()  # what `import onnxruntime` gave after the overwrite: no attributes
    assert ort_problem(gpu) == ("", "")
    err, warn = ort_problem(broken)
    assert "without its API" in err and "pip uninstall -y onnxruntime onnxruntime-gpu" in err and warn == ""
    err, warn = ort_problem(cpu)
    assert err == "" and "has no CUDA provider (CPUExecutionProvider)" in warn and "skipped" in warn

    nvsmi, torch_ok = (lambda n: "/usr/bin/nvidia-smi"), fake_torch(True, "12.4")
    assert main(which=nvsmi, torch=torch_ok, ort=broken) == 2
    assert "without its API" in capsys.readouterr().err
    assert main(which=nvsmi, torch=torch_ok, ort=cpu) == 0
    out = capsys.readouterr()
    assert "warning: onnxruntime 1.32.0 has no CUDA provider" in out.err and "GPU check passed" in out.out
    assert main(which=nvsmi, torch=torch_ok, ort=gpu) == 0 and "warning" not in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has an NVIDIA driver")
def test_gpu_check_module_fails_clearly_here():
    res = subprocess.run([sys.executable, "-m", "bench.gpu_check"], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2
    assert "nvidia-smi was not found" in res.stderr


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has an NVIDIA driver")
def test_nox_bench_gpu_session_stops_with_the_message():
    pytest.importorskip("nox")
    # --no-venv: the session's check runs before anything is installed, so no environment is built
    res = subprocess.run([sys.executable, "-m", "nox", "--no-venv", "-s", "bench-gpu"], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "bench-gpu needs an NVIDIA GPU with its driver (nvidia-smi was not found)" in out
    assert "Run `nox -s bench-cpu` on this machine instead" in out


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.lin(x)


def _bind(device):
    from bench.optimize.base import Artifact
    from bench.runtime.torch_rt import bind_torch
    from bench.suite import Target

    torch.manual_seed(0)
    module = Tiny()
    x = torch.randn(2, 8)
    ref = module(x).detach().numpy()
    s = bind_torch(Artifact(kind="torch", module=module), Target(runtime="torch", device=device, threads=1), {"x": x})
    return s, module, ref


def test_torch_eager_cpu_path():
    s, module, ref = _bind("cpu")
    out = s.output(s.call())
    assert isinstance(out, np.ndarray) and s.sync is None
    np.testing.assert_allclose(out, ref, rtol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_eager_cuda_path():
    s, module, ref = _bind("cuda")
    assert next(module.parameters()).is_cuda and s.sync is torch.cuda.synchronize
    y = s.call()
    s.sync()
    assert y.is_cuda
    out = s.output(y)  # fidelity compares on the host
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_cuda_cell_end_to_end(tmp_path):
    from bench.cell import run_cell
    from bench.suite import expand, parse_suite

    plan = expand(parse_suite("""
name: g
models: [tinybert-4]
optimizations: [fp32]
targets: [{runtime: torch, device: cuda, threads: 1}]
workloads: {batch_sizes: [1], seq_lens: [32]}
measure: {warmup_iters: 1, warmup_s: 0, min_time_s: 0.05, max_time_s: 0.5, min_samples: 5, retries: 0}
"""))
    rec = run_cell(plan.runnable[0].to_json(), tmp_path / "cache", tmp_path)
    assert rec["cosine_sim"] > 0.9999 and rec["latency_ms_p50"] > 0
