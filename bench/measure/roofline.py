"""Roofline: where a cell sits between the machine's memory and compute ceilings.

Attainable FLOP/s at arithmetic intensity I (FLOP per byte) is min(peak, I x bandwidth)
(Williams, Waterman and Patterson, "Roofline: an insightful visual performance model for
multicore architectures", CACM 52(4), 2009). A cell's intensity here uses the *minimum* bytes
moved, weights + inputs + outputs, each read or written once: real kernels move more, so the
intensity is an upper bound and the cell looks more compute-bound than it may be.

Ceilings come from a device spec (bench/hardware) or from `measure_peaks`, run once per run:
the best of a few square matmuls per dtype and the best of a few large copies. A measured
ceiling is what this machine delivered at that moment, under whatever else ran on it.
"""

from __future__ import annotations

import os
import re
import time

DTYPE_FALLBACK = "fp32"


def attainable(ai: float, peak_flops: float, bandwidth: float) -> float:
    """Roofline ceiling (FLOP/s) at arithmetic intensity `ai` (FLOP/byte)."""
    if ai < 0 or peak_flops <= 0 or bandwidth <= 0:
        raise ValueError("intensity must be >= 0 and the ceilings positive")
    return min(peak_flops, ai * bandwidth)


def ridge_point(peak_flops: float, bandwidth: float) -> float:
    """Intensity at which the memory roof meets the compute roof."""
    return peak_flops / bandwidth


def roofline_point(flops: float | None, bytes_moved: float | None, seconds: float | None,
                   peak_flops: float | None, bandwidth: float | None, device: str | None) -> dict:
    out = {"arithmetic_intensity": None, "achieved_flops_per_s": None, "attainable_flops_per_s": None,
           "roofline_pct": None, "roofline_bound": None, "roofline_device": device}
    if not flops or not bytes_moved or not seconds:
        return out
    ai = flops / bytes_moved
    out["arithmetic_intensity"] = ai
    out["achieved_flops_per_s"] = flops / seconds
    if peak_flops and bandwidth:
        att = attainable(ai, peak_flops, bandwidth)
        out["attainable_flops_per_s"] = att
        out["roofline_pct"] = 100.0 * out["achieved_flops_per_s"] / att
        out["roofline_bound"] = "memory" if ai < ridge_point(peak_flops, bandwidth) else "compute"
    return out


def min_bytes_moved(weight_bytes: int | None, inputs, output) -> int:
    """Weights + inputs + outputs, each once: the least traffic one inference can cause."""
    def nbytes(x) -> int:
        if x is None:
            return 0
        if isinstance(x, dict):
            return sum(nbytes(v) for v in x.values())
        if isinstance(x, (list, tuple)):
            return sum(nbytes(v) for v in x)
        if hasattr(x, "nbytes"):
            return int(x.nbytes)
        if hasattr(x, "element_size"):
            return int(x.numel() * x.element_size())
        return 0

    return int((weight_bytes or 0) + nbytes(inputs) + nbytes(output))


# Ceilings ---------------------------------------------------------------------------------------
def spec_for(device: str, name: str | None):
    """The device spec whose `match` pattern matches the reported CPU model or GPU name."""
    from bench.hardware import load_devices

    kind = "gpu" if device == "cuda" else "cpu"
    for spec in load_devices().values():
        pattern = spec.extra.get("match")
        if spec.kind == kind and pattern and name and re.search(pattern, name):
            return spec
    return None


def ceilings(device: str, dtype: str, threads: int | None, machine_peaks: dict | None, spec) -> tuple:
    """(peak FLOP/s, bandwidth B/s, label) for a cell; CPU ceilings scale with the threads it used.

    CPU cells use the run's measured peaks (this machine, not its class); GPU cells use the
    matched spec, falling back to measured peaks. A dtype without a ceiling falls back to fp32.
    """
    def pick(table: dict) -> float | None:
        return table.get(dtype) or table.get(DTYPE_FALLBACK)

    if device != "cuda" and machine_peaks and machine_peaks.get("matmul_flops_per_s"):
        peak = pick(machine_peaks["matmul_flops_per_s"])
        n = machine_peaks.get("threads") or 1
        if peak and threads:
            peak *= min(threads, n) / n
        return peak, machine_peaks.get("mem_bandwidth_Bps"), "measured"
    if spec is not None:
        peak = pick(spec.peak_flops_per_s)
        cores = spec.extra.get("cores")
        if spec.kind == "cpu" and cores and threads and peak:
            peak *= min(threads, cores) / cores
        return peak, spec.mem_bandwidth_Bps, spec.name
    if machine_peaks and machine_peaks.get("matmul_flops_per_s"):
        return pick(machine_peaks["matmul_flops_per_s"]), machine_peaks.get("mem_bandwidth_Bps"), "measured"
    return None, None, None


def _best_seconds(fn, budget_s: float, min_reps: int = 3) -> float:
    fn()  # first call pays for allocation and kernel selection
    best = float("inf")
    end = time.perf_counter() + budget_s
    reps = 0
    while reps < min_reps or time.perf_counter() < end:
        s = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - s)
        reps += 1
    return best


def measure_peaks(device: str = "cpu", budget_s: float = 0.4, n: int = 1024, copy_bytes: int = 64 * 2**20,
                  threads: int | None = None) -> dict:
    """Peak matmul FLOP/s per dtype and copy bandwidth on this machine, best of a short burst each.

    About `budget_s` per figure (four figures: fp32, bf16, int8 matmul and a copy), so ~2 s on CPU.
    """
    import torch

    t0 = time.perf_counter()
    load_before = os.getloadavg()[0]
    old_threads = torch.get_num_threads()
    if threads is None:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if device != "cuda":
        torch.set_num_threads(threads)
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    flops = {}
    try:
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16)):
            if dev.type == "cpu" and name == "fp16":
                continue  # CPU fp16 matmul is emulated on most parts: not a ceiling worth quoting
            a = torch.randn(n, n, dtype=dtype, device=dev)
            b = torch.randn(n, n, dtype=dtype, device=dev)

            def mm(a=a, b=b):
                torch.mm(a, b)
                sync()

            flops[name] = 2 * n**3 / _best_seconds(mm, budget_s)
        try:
            a8 = torch.randint(-128, 127, (n, n), dtype=torch.int8, device=dev)
            b8 = torch.randint(-128, 127, (n, n), dtype=torch.int8, device=dev)

            def imm():
                torch._int_mm(a8, b8)
                sync()

            flops["int8"] = 2 * n**3 / _best_seconds(imm, budget_s)
        except (RuntimeError, AttributeError, NotImplementedError):
            pass  # no int8 matmul kernel on this build/device
        src = torch.ones(copy_bytes // 4, dtype=torch.float32, device=dev)
        dst = torch.empty_like(src)

        def copy():
            dst.copy_(src)
            sync()

        bandwidth = 2 * copy_bytes / _best_seconds(copy, budget_s)  # one read + one write per byte
    finally:
        torch.set_num_threads(old_threads)
    return {"matmul_flops_per_s": flops, "mem_bandwidth_Bps": bandwidth, "device": device, "threads": threads,
            "matmul_n": n, "copy_bytes": copy_bytes, "measure_s": time.perf_counter() - t0,
            # Ceilings measured under load are low: a load above the core count means distrust them.
            "loadavg_1m_before": load_before, "loadavg_1m_after": os.getloadavg()[0], "cpu_count": os.cpu_count(),
            "method": f"best of repeated {n}x{n} torch.mm per dtype (torch._int_mm for int8); "
                      f"best of repeated {copy_bytes // 2**20} MiB tensor copies, 2 bytes moved per byte copied"}
