"""GPU state and energy through NVML (pynvml, from the nvidia-ml-py package).

Everything here degrades to None: a query the GPU or driver does not support (the total-energy
counter needs Volta or newer) is reported as missing, never guessed. Tests pass a fake module
with the same function names as `nvml`.
"""

from __future__ import annotations

import os
import time

# Throttle-reason bits (nvml.h, nvmlClocksThrottleReason*). Idle, application-clock and sync-boost
# settings lower clocks on purpose; the others mean the GPU ran slower than it was asked to.
THROTTLE_BITS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
THROTTLING = {"sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"}

# The total-energy counter is refreshed every few tens of milliseconds on current drivers; a
# window of one second keeps the quantisation error well under 10%.
MIN_ENERGY_WINDOW_S = 1.0


def decode_throttle(mask: int | None) -> list[str]:
    if mask is None:
        return []
    return [name for bit, name in THROTTLE_BITS.items() if mask & bit]


def with_pci_order(env: dict) -> dict:
    """`env` with CUDA numbering GPUs in PCI bus order, as NVML does, unless it says otherwise.

    CUDA numbers GPUs fastest first by default: with one order, an index in CUDA_VISIBLE_DEVICES
    names the same GPU to CUDA and to NVML (`cuda_device_selector`). Cells and the peak measurement
    run under it.
    """
    env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    return env


def cuda_device_selector(env=None) -> tuple[str, str | int]:
    """How to find, in NVML, the GPU a cell's `cuda:0` is: ("uuid", "GPU-...") or ("index", n).

    NVML numbers every GPU on the machine in PCI bus order and ignores CUDA_VISIBLE_DEVICES, so on
    a runner that hands the job GPU 2 (CUDA_VISIBLE_DEVICES=2), NVML's device 0 is someone else's
    GPU: its energy, clocks and memory would be recorded as the cell's. The first entry of
    CUDA_VISIBLE_DEVICES is cuda:0. A UUID names the GPU outright; an index means the same GPU in
    NVML only in PCI bus order, which cells get (CUDA_DEVICE_ORDER=PCI_BUS_ID, bench.executor).
    """
    env = os.environ if env is None else env
    first = (env.get("CUDA_VISIBLE_DEVICES") or "").split(",")[0].strip()
    if first.startswith(("GPU-", "MIG-")):
        return "uuid", first
    if first.isdigit():
        return "index", int(first)
    return "index", 0


class NvmlProbe:
    """The GPU that is the process's cuda:0. `NvmlProbe.open()` returns None where NVML cannot be used."""

    def __init__(self, nvml, index: int | None = None, env=None):
        self.nvml = nvml
        kind, key = ("index", index) if index is not None else cuda_device_selector(env)
        if kind == "uuid":
            self.handle = nvml.nvmlDeviceGetHandleByUUID(key)
        else:
            self.handle = nvml.nvmlDeviceGetHandleByIndex(key)
        self.selected = f"{kind} {key}"  # recorded with the GPU state, so a reader can check the match

    @classmethod
    def open(cls, index: int | None = None, nvml=None, env=None) -> NvmlProbe | None:
        try:
            if nvml is None:
                import pynvml as nvml
            nvml.nvmlInit()
            return cls(nvml, index, env)
        except Exception:  # no driver, no GPU, no package, no such device: there is nothing to read
            return None

    def _q(self, fn_name: str, *args):
        fn = getattr(self.nvml, fn_name, None)
        if fn is None:
            return None
        try:
            return fn(self.handle, *args)
        except Exception:  # NVMLError_NotSupported and friends
            return None

    def name(self) -> str | None:
        n = self._q("nvmlDeviceGetName")
        return n.decode() if isinstance(n, bytes) else n

    def energy_j(self) -> float | None:
        mj = self._q("nvmlDeviceGetTotalEnergyConsumption")
        return None if mj is None else mj / 1e3

    def power_w(self) -> float | None:
        mw = self._q("nvmlDeviceGetPowerUsage")
        return None if mw is None else mw / 1e3

    def uuid(self) -> str | None:
        u = self._q("nvmlDeviceGetUUID")
        return u.decode() if isinstance(u, bytes) else u

    def used_bytes(self) -> int | None:
        info = self._q("nvmlDeviceGetMemoryInfo")
        return None if info is None else int(info.used)

    def throttle_mask(self) -> int | None:
        mask = self._q("nvmlDeviceGetCurrentClocksEventReasons")
        if mask is None:
            mask = self._q("nvmlDeviceGetCurrentClocksThrottleReasons")
        return mask

    def state(self) -> dict:
        n = self.nvml
        sm = self._q("nvmlDeviceGetClockInfo", getattr(n, "NVML_CLOCK_SM", 1))
        mem = self._q("nvmlDeviceGetClockInfo", getattr(n, "NVML_CLOCK_MEM", 2))
        limit = self._q("nvmlDeviceGetEnforcedPowerLimit")
        mask = self.throttle_mask()
        reasons = decode_throttle(mask)
        return {
            "name": self.name(),
            "nvml_device": self.selected,
            "uuid": self.uuid(),
            "sm_clock_mhz": sm,
            "mem_clock_mhz": mem,
            "temperature_c": self._q("nvmlDeviceGetTemperature", getattr(n, "NVML_TEMPERATURE_GPU", 0)),
            "power_limit_w": None if limit is None else limit / 1e3,
            "power_w": self.power_w(),
            "throttle_mask": mask,
            "throttle_reasons": reasons,
            "throttled": None if mask is None else bool(set(reasons) & THROTTLING),
        }

    def idle_power_w(self, seconds: float = 0.5, interval: float = 0.05) -> float | None:
        """Mean power over a quiet window: the baseline subtracted from counter energy."""
        readings = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            p = self.power_w()
            if p is None:
                return None
            readings.append(p)
            time.sleep(interval)
        return sum(readings) / len(readings) if readings else None


def gpu_throttled(*states: dict | None) -> bool | None:
    """True if any state saw throttling; None where no state could tell."""
    seen = [s.get("throttled") for s in states if s]
    known = [t for t in seen if t is not None]
    return any(known) if known else None
