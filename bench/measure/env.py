"""Environment capture: enough to trace a number and to compare two runs fairly."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ["torch", "torchvision", "transformers", "timm", "onnx", "onnxruntime", "numpy", "pandas",
            "fvcore", "pydantic", "nvidia-ml-py"]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(cwd: str | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=cwd, timeout=5)
        commit = out.stdout.strip()
        if not commit:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=cwd, timeout=5).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def machine_state() -> dict:
    """Things that move latency between runs: load, governor, clock."""
    freq = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    return {
        "loadavg_1m": os.getloadavg()[0],
        "cpu_governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "cpu_freq_mhz": int(freq) / 1000 if freq and freq.isdigit() else None,
    }


def _text(v):
    return v.decode() if isinstance(v, bytes) else v


def gpu_inventory(nvml=None, env=None) -> dict:
    """The GPUs on the machine and the one the run's cells use (`gpu`: their cuda:0), from NVML.

    Empty where NVML cannot be used (no driver, no GPU). NVML does not initialise CUDA, so the
    runner may call this before it forks cells.
    """
    from bench.measure.nvml import NvmlProbe, cuda_device_selector

    try:
        if nvml is None:
            import pynvml as nvml
        nvml.nvmlInit()
        gpus = []
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            gpus.append({"index": i, "name": _text(nvml.nvmlDeviceGetName(h)),
                         "uuid": _text(nvml.nvmlDeviceGetUUID(h)),
                         "memory_bytes": int(nvml.nvmlDeviceGetMemoryInfo(h).total)})
        driver = _text(nvml.nvmlSystemGetDriverVersion())
    except Exception:  # no driver, no GPU, no package
        return {}
    env = os.environ if env is None else env
    used = NvmlProbe.open(nvml=nvml, env=env)
    kind, key = cuda_device_selector(env)
    return {"gpus": gpus, "gpu": used and used.name(), "gpu_uuid": used and used.uuid(), "nvidia_driver": driver,
            "cuda_visible_devices": env.get("CUDA_VISIBLE_DEVICES"), "gpu_selected_by": f"{kind} {key}"}


def capture() -> dict:
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "thread_env": {k: os.environ[k] for k in THREAD_ENV if k in os.environ},
        "git_commit": git_commit(str(Path(__file__).resolve().parents[2])),
        "packages": package_versions(),
        **machine_state(),
        **gpu_inventory(),
    }


THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "KMP_AFFINITY", "GOMP_CPU_AFFINITY",
              "OMP_PROC_BIND")


def thread_settings() -> dict:
    """Thread counts and CPU affinity the process actually runs with (torch's only if imported)."""
    import sys

    out: dict = {"affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                 "env": {k: os.environ[k] for k in THREAD_ENV if k in os.environ}}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch_threads"] = torch.get_num_threads()
        out["torch_interop_threads"] = torch.get_num_interop_threads()
    return out
