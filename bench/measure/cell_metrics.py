"""The measurement work a cell adds around its timing loop, kept out of bench/cell.py.

`CellProbe` is created before the model is built (GPU state "before"), picks the clock, brackets
the timing loop for CUDA memory peaks, runs a short energy window after it where a hardware
counter exists, and finally derives the noise, roofline and energy fields of the record.
Per-run machine peaks come from the run's cache (written once by `bench run`), so no cell pays
for measuring them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from bench.fsio import cached_json, write_json
from bench.measure import energy, memory
from bench.measure.noise import DEFAULT_CV_THRESHOLD, noise_fields
from bench.measure.nvml import NvmlProbe, gpu_throttled, with_pci_order
from bench.measure.roofline import ceilings, min_bytes_moved, roofline_point, spec_for

MACHINE_PEAKS_FILE = "machine_peaks-{device}.json"
# Energy window for a RAPL counter: long enough that the 1 ms refresh and the reads are noise.
RAPL_WINDOW_S = 0.2


def write_machine_peaks(cache_dir: Path, peaks: dict) -> None:
    path = Path(cache_dir) / MACHINE_PEAKS_FILE.format(device=peaks["device"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, peaks)


def read_machine_peaks(cache_dir: Path, device: str) -> dict | None:
    try:
        return json.loads((Path(cache_dir) / MACHINE_PEAKS_FILE.format(device=device)).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def run_peaks(device: str) -> dict:
    """Once per run: measured ceilings, and on a GPU its idle power (the energy baseline)."""
    from bench.measure.roofline import measure_peaks

    # The idle baseline first, while the GPU is still cold: read right after the peak matmuls, the
    # board's power was still above what some cells drew (negative net energy on an H200).
    idle = None
    if device == "cuda":
        probe = NvmlProbe.open()
        idle = probe.idle_power_w() if probe else None
    # A GPU needs big operands to leave the launch-bound regime; a CPU reaches its peak at 1024.
    peaks = measure_peaks(device, n=8192, copy_bytes=2**30) if device == "cuda" else measure_peaks(device)
    if device == "cuda":
        peaks["gpu_idle_power_w"] = idle
    return peaks


def run_peaks_subprocess(device: str, work: Path, timeout_s: float = 300) -> dict:
    """`run_peaks` in a child process started like a cell: the parent never imports torch, and the
    child is in its own process group, dies with the runner (even on kill -9), and is killed when the
    runner is interrupted; its output file lies in the run directory, never in a shared TMPDIR."""
    import signal
    import subprocess
    import sys

    from bench.executor import INTERRUPTED, WAIT_SLICE_S
    from bench.forkserver import die_with_parent

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    out, err = work / f"peaks-{device}.json", work / f"peaks-{device}.stderr"
    env = with_pci_order(dict(os.environ))  # as the cells run
    with open(err, "w") as errf:
        proc = subprocess.Popen([sys.executable, "-m", "bench.measure.cell_metrics", device, str(out)],
                                stdout=errf, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=die_with_parent)
    deadline = time.monotonic() + timeout_s
    try:
        while proc.poll() is None:
            if INTERRUPTED.is_set():
                raise KeyboardInterrupt
            if time.monotonic() > deadline:
                raise RuntimeError(f"peak measurement exceeded {timeout_s:g} s")
            time.sleep(min(WAIT_SLICE_S, 0.1))
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        raise
    finally:
        tail = err.read_text(errors="replace")[-500:] if err.exists() else ""
        err.unlink(missing_ok=True)
    try:
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"peak measurement failed: {tail.strip()}")
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def measure_run_peaks(cells, cache_dir: Path) -> dict:
    """Manifest fields: `machine_peaks` (CPU's where the run has CPU cells) and all devices' peaks."""
    devices = sorted({c.target.device for c in cells if c.status == "planned"})
    by_device = {}
    for device in devices:
        try:
            by_device[device] = run_peaks_subprocess(device, Path(cache_dir).parent / "scratch")
        except Exception as e:  # a run without ceilings still runs; the roofline falls back to specs
            by_device[device] = {"device": device, "error": f"{type(e).__name__}: {e}"}
            continue
        write_machine_peaks(cache_dir, by_device[device])
    first = by_device.get("cpu") or next(iter(by_device.values()), None)
    return {"machine_peaks": first, "machine_peaks_by_device": by_device}


def device_name(device: str) -> str | None:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name()
    from bench.measure.env import cpu_model

    return cpu_model()


class CellProbe:
    def __init__(self, device: str, cache: Path, nvml=None, cuda=None):
        self.device = device
        self.cuda = cuda
        self.peaks = read_machine_peaks(cache, device)
        self.nvml = NvmlProbe.open(nvml=nvml) if device == "cuda" else None
        self.gpu_before = self.nvml.state() if self.nvml else None
        idle = (self.peaks or {}).get("gpu_idle_power_w")
        self.meter = energy.counter_meter(device, self.nvml, idle)
        self.energy_extra: dict = {}

    def clock(self, sync):
        """CUDA events for asynchronous torch work on a GPU; the host clock otherwise."""
        if self.device == "cuda" and sync is not None:
            from bench.measure.timer import CudaEventClock

            return CudaEventClock(self.cuda)
        return None

    def _torch_cuda(self) -> bool:
        """Whether this cell uses torch's CUDA allocator (an ORT CUDA cell does not: leave it untouched)."""
        if self.device != "cuda":
            return False
        if self.cuda is not None:
            return True
        import torch

        return torch.cuda.is_initialized()

    def before_timing(self) -> None:
        if self._torch_cuda():
            memory.reset_cuda_peaks(self.cuda)

    def after_timing(self, fn, sync=None) -> dict:
        rec: dict = {}
        if self._torch_cuda():
            rec.update(memory.cuda_peaks(self.cuda))
        if self.device == "cuda":
            rec["nvml_used_bytes"] = self.nvml.used_bytes() if self.nvml else None
        if self.meter is not None:
            rec.update(self.energy_window(fn, sync))
        gpu_after = self.nvml.state() if self.nvml else None
        rec["gpu_state"] = {"before": self.gpu_before, "after": gpu_after} if self.nvml else None
        rec["gpu_throttled"] = gpu_throttled(self.gpu_before, gpu_after) if self.nvml else None
        return rec

    def energy_window(self, fn, sync=None) -> dict:
        """Counter energy over back-to-back calls, for at least the counter's resolvable window."""
        sync = sync or (lambda: None)
        window = max(self.meter.min_window_s, RAPL_WINDOW_S)
        sync()
        self.meter.start()
        calls = 0
        end = time.perf_counter() + window
        while calls == 0 or time.perf_counter() < end:
            fn()
            calls += 1
        sync()
        joules, seconds = self.meter.stop()
        return {"energy_counter_j_per_call": joules / calls, "energy_counter_source": self.meter.source,
                "energy_window_s": seconds, "energy_window_calls": calls,
                "energy_idle_w_subtracted": self.meter.idle_w if getattr(self.meter, "idle_subtracted", False) else None}

    def device_spec(self):
        """The device's specification (bench/hardware), by its reported name; None if unknown."""
        try:
            name = device_name(self.device)
        except Exception:  # a name is a nicety; never fail a cell on it
            name = None
        return spec_for(self.device, name)

    def tdp_w(self, threads: int | None) -> float | None:
        """The power the TDP x time estimate uses: the device's TDP, a CPU's scaled to the threads used."""
        spec = self.device_spec()
        tdp = spec.tdp_w if spec else None
        cores = spec.extra.get("cores") if spec else None
        if tdp and spec.kind == "cpu" and cores and threads:
            tdp = tdp * min(threads, cores) / cores
        return tdp

    def derived(self, record: dict, *, items: int, item_unit: str, inputs, output,
                noise_threshold_cv: float = DEFAULT_CV_THRESHOLD) -> dict:
        """Noise, roofline and energy fields from what the record already holds."""
        rec: dict = {}
        samples = record.get("latency_samples_ms") or []
        rec.update(noise_fields(samples, noise_threshold_cv))
        p50_s = record["latency_ms_p50"] / 1e3 if record.get("latency_ms_p50") else None
        threads = record.get("threads")
        spec = self.device_spec()
        dtype = energy.precision_dtype(record.get("precision"))
        bytes_moved = min_bytes_moved(record.get("weight_bytes"), inputs, output)
        rec["min_bytes_moved"] = bytes_moved
        peak, bw, label = ceilings(self.device, dtype, threads, self.peaks, spec)
        rec.update(roofline_point(record.get("flops"), bytes_moved, p50_s, peak, bw, label))
        rec["roofline_dtype"] = dtype

        tdp = self.tdp_w(threads)
        rec.update(energy.energy_fields(
            counter_j_per_call=record.get("energy_counter_j_per_call"),
            counter_source=record.get("energy_counter_source"),
            analytic_j=energy.analytic_energy_j(record.get("macs"), bytes_moved, dtype),
            tdp_j=energy.tdp_energy_j(tdp, p50_s), items=items, item_unit=item_unit))
        rec["energy_tdp_w"] = tdp
        rec["energy_spec_device"] = spec.name if spec else None
        return rec


def activation_estimate(module, inputs, cache: Path, key: str) -> int | None:
    """`memory.activation_bytes_estimate`, computed once per model, workload and shape-changing chain."""
    def compute() -> dict:
        try:
            return {"activation_bytes_estimate": memory.activation_bytes_estimate(module, inputs)}
        except Exception:  # an estimate is not worth failing a cell over (and is not cached)
            return {"activation_bytes_estimate": None}

    path = Path(cache) / "activations" / f"{key}.json"
    value = cached_json(path, compute)["activation_bytes_estimate"]
    if value is None:
        path.unlink(missing_ok=True)
    return value


if __name__ == "__main__":  # python -m bench.measure.cell_metrics DEVICE OUT_JSON
    import sys

    Path(sys.argv[2]).write_text(json.dumps(run_peaks(sys.argv[1])))
