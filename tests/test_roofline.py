"""Roofline arithmetic, device specs, the per-run peak measurement, and memory estimates."""

import numpy as np
import pytest
import torch

from bench.hardware import load_devices
from bench.measure import memory
from bench.measure.roofline import (
    attainable,
    ceilings,
    measure_peaks,
    min_bytes_moved,
    ridge_point,
    roofline_point,
    spec_for,
)


def test_attainable_is_the_lower_roof():
    assert attainable(1.0, peak_flops=100.0, bandwidth=10.0) == 10.0
    assert attainable(100.0, peak_flops=100.0, bandwidth=10.0) == 100.0
    assert ridge_point(100.0, 10.0) == 10.0
    with pytest.raises(ValueError):
        attainable(-1, 1, 1)
    with pytest.raises(ValueError):
        attainable(1, 0, 1)


def test_roofline_point_fields():
    p = roofline_point(flops=1e9, bytes_moved=1e8, seconds=0.1, peak_flops=1e11, bandwidth=1e10, device="x")
    assert p["arithmetic_intensity"] == 10.0
    assert p["achieved_flops_per_s"] == 1e10
    assert p["attainable_flops_per_s"] == 1e11
    assert p["roofline_pct"] == pytest.approx(10.0)
    assert p["roofline_bound"] == "compute" and p["roofline_device"] == "x"
    m = roofline_point(flops=1e9, bytes_moved=1e9, seconds=0.1, peak_flops=1e11, bandwidth=1e10, device="x")
    assert m["roofline_bound"] == "memory" and m["attainable_flops_per_s"] == 1e10 and m["roofline_pct"] == 100.0
    empty = roofline_point(flops=None, bytes_moved=1, seconds=1, peak_flops=1, bandwidth=1, device=None)
    assert empty["arithmetic_intensity"] is None and empty["roofline_bound"] is None


def test_min_bytes_moved_counts_weights_inputs_outputs_once():
    inputs = {"input_ids": torch.zeros(2, 8, dtype=torch.long), "mask": torch.zeros(2, 8, dtype=torch.long)}
    out = np.zeros((2, 8, 4), dtype=np.float32)
    assert min_bytes_moved(1000, inputs, out) == 1000 + 2 * 128 + 256


def test_devices_file_covers_the_required_targets_with_sources():
    devices = load_devices()
    for name in ("x86-server-cpu-zen5", "nvidia-a100-sxm4-80gb", "nvidia-h100-sxm", "nvidia-h200-sxm",
                 "nvidia-t4", "nvidia-l4"):
        d = devices[name]
        assert d.sources and d.tdp_w and d.mem_bandwidth_Bps > 0 and d.peak_flops_per_s["fp32"] > 0
    a100 = devices["nvidia-a100-sxm4-80gb"]
    assert ridge_point(a100.peak_flops_per_s["fp16"], a100.mem_bandwidth_Bps) == pytest.approx(153, rel=0.01)
    # H200 is an H100 with faster, larger memory: same compute, more bandwidth.
    assert devices["nvidia-h200-sxm"].peak_flops_per_s == devices["nvidia-h100-sxm"].peak_flops_per_s
    assert devices["nvidia-h200-sxm"].mem_bandwidth_Bps > devices["nvidia-h100-sxm"].mem_bandwidth_Bps


@pytest.mark.parametrize("device,name,expected", [
    ("cuda", "NVIDIA H100 80GB HBM3", "nvidia-h100-sxm"),
    ("cuda", "NVIDIA A100-SXM4-80GB", "nvidia-a100-sxm4-80gb"),
    ("cuda", "NVIDIA H200", "nvidia-h200-sxm"),
    ("cuda", "Tesla T4", "nvidia-t4"),
    ("cuda", "NVIDIA L4", "nvidia-l4"),
    ("cuda", "NVIDIA L40S", None),
    ("cpu", "AMD EPYC 9655 96-Core Processor", "x86-server-cpu-zen5"),
    ("cpu", "Intel(R) Core(TM) i7", None),
])
def test_spec_matching(device, name, expected):
    spec = spec_for(device, name)
    assert (spec.name if spec else None) == expected


def test_ceilings_prefer_measured_on_cpu_and_scale_with_threads():
    peaks = {"matmul_flops_per_s": {"fp32": 2e11, "int8": 8e11}, "mem_bandwidth_Bps": 5e10, "threads": 2}
    assert ceilings("cpu", "fp32", 1, peaks, None) == (1e11, 5e10, "measured")
    assert ceilings("cpu", "int8", 2, peaks, None) == (8e11, 5e10, "measured")
    assert ceilings("cpu", "fp16", 2, peaks, None)[0] == 2e11  # no fp16 ceiling: fp32's
    zen5 = load_devices()["x86-server-cpu-zen5"]
    peak, bw, label = ceilings("cpu", "fp32", 2, None, zen5)
    assert label == "x86-server-cpu-zen5" and peak == pytest.approx(zen5.peak_flops_per_s["fp32"] * 2 / 96)
    h100 = load_devices()["nvidia-h100-sxm"]
    assert ceilings("cuda", "bf16", None, peaks, h100) == (9.895e14, 3.35e12, "nvidia-h100-sxm")
    assert ceilings("cpu", "fp32", 2, None, None) == (None, None, None)


def test_measure_peaks_is_quick_and_positive():
    p = measure_peaks("cpu", budget_s=0.05, n=256, copy_bytes=8 * 2**20)
    assert p["matmul_flops_per_s"]["fp32"] > 1e8 and p["mem_bandwidth_Bps"] > 1e8
    assert p["threads"] >= 1 and p["measure_s"] > 0 and p["loadavg_1m_before"] >= 0


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(4, 8)
        self.act = torch.nn.ReLU()
        self.b = torch.nn.Linear(8, 2)

    def forward(self, x):
        return self.b(self.act(self.a(x)))


def test_activation_estimate_from_shapes():
    # Leaf outputs: [3, 8] + [3, 8] + [3, 2] fp32 = (24 + 24 + 6) * 4 bytes.
    assert memory.activation_bytes_estimate(TinyNet(), {"x": torch.zeros(3, 4)}) == 216


def test_cuda_peaks_from_a_fake_allocator():
    class Cuda:
        def max_memory_allocated(self):
            return 10

        def max_memory_reserved(self):
            return 20

    assert memory.cuda_peaks(Cuda()) == {"cuda_peak_allocated_bytes": 10, "cuda_peak_reserved_bytes": 20}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_peaks_real():
    memory.reset_cuda_peaks()
    x = torch.empty(2**20, device="cuda")
    assert memory.cuda_peaks()["cuda_peak_allocated_bytes"] >= x.numel() * 4
