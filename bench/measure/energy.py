"""Energy per inference, with the source of every number in the record.

Three sources, best first:
- counters: NVML's total-energy counter on NVIDIA GPUs (bench.measure.nvml), Linux RAPL powercap
  (package and DRAM domains) on CPUs where `energy_uj` is readable; `energy_source` is
  "nvml-counter" or "rapl".
- an analytic model: MACs per dtype times energy per MAC, plus the minimum bytes moved times
  energy per DRAM byte, constants from energy_constants.yaml with their source ("analytic-model").
- the device's TDP times the latency ("tdp-x-time"), the coarsest proxy.

`energy_j_per_inference` holds the best available number and `energy_source` says which one it
is; the two proxies are always stored as well, under their own names, so a report never has to
guess what it is showing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

POWERCAP = Path("/sys/class/powercap")
CONSTANTS = Path(__file__).with_name("energy_constants.yaml")


# RAPL ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RaplDomain:
    name: str  # "package-0", "dram", ... as the kernel names it, prefixed with its zone
    path: Path
    max_range_uj: int

    def read_uj(self) -> int:
        return int((self.path / "energy_uj").read_text())


def find_rapl(root: Path = POWERCAP) -> list[RaplDomain]:
    """Readable package and DRAM zones. Core/uncore subzones are inside the package: skipped."""
    domains = []
    for zone in sorted(Path(root).glob("*-rapl:*")):
        try:
            name = (zone / "name").read_text().strip()
            if not (name.startswith("package") or name == "dram"):
                continue
            max_range = int((zone / "max_energy_range_uj").read_text())
            d = RaplDomain(f"{zone.name}/{name}", zone, max_range)
            d.read_uj()  # often root-only since CVE-2020-8694: skip what cannot be read
        except (OSError, ValueError):
            continue
        domains.append(d)
    return domains


def rapl_delta_uj(before: int, after: int, max_range_uj: int) -> int:
    """Energy between two readings of one counter that wraps to 0 after `max_range_uj`."""
    if after >= before:
        return after - before
    return after + (max_range_uj - before)


class RaplMeter:
    source = "rapl"
    min_window_s = 0.05  # the counters refresh about every millisecond

    def __init__(self, domains: list[RaplDomain]):
        self.domains = domains
        self._start: dict[str, int] = {}
        self._t0 = 0.0

    def start(self) -> None:
        self._start = {d.name: d.read_uj() for d in self.domains}
        self._t0 = time.perf_counter()

    def stop(self) -> tuple[float, float]:
        """(joules over all domains, seconds) since start()."""
        uj = sum(rapl_delta_uj(self._start[d.name], d.read_uj(), d.max_range_uj) for d in self.domains)
        return uj / 1e6, time.perf_counter() - self._t0


class NvmlMeter:
    source = "nvml-counter"

    def __init__(self, probe, idle_w: float | None):
        from bench.measure.nvml import MIN_ENERGY_WINDOW_S

        self.probe = probe
        self.idle_w = idle_w
        self.min_window_s = MIN_ENERGY_WINDOW_S
        self._e0 = 0.0
        self._t0 = 0.0
        self.idle_subtracted = False

    def start(self) -> None:
        self._e0 = self.probe.energy_j()
        self._t0 = time.perf_counter()

    def stop(self) -> tuple[float, float]:
        """Energy above idle over the window. An idle baseline taken while the GPU was still hot
        can exceed the measured power (seen on an H200: negative joules); then the gross energy is
        returned and `idle_subtracted` is False, so the record never holds a negative energy."""
        e1, dt = self.probe.energy_j(), time.perf_counter() - self._t0
        gross = e1 - self._e0
        net = gross - (self.idle_w or 0.0) * dt
        self.idle_subtracted = bool(self.idle_w) and net > 0
        return (net if net > 0 else gross), dt


def counter_meter(device: str, probe=None, idle_w: float | None = None, powercap_root: Path = POWERCAP):
    """A meter for the device's hardware counter, or None where there is none to read."""
    if device == "cuda":
        if probe is not None and probe.energy_j() is not None:
            return NvmlMeter(probe, idle_w)
        return None
    domains = find_rapl(powercap_root)
    return RaplMeter(domains) if domains else None


def measure_window(meter, fn, calls_done: int, seconds_done: float) -> int:
    """Run `fn` more while the meter's window is shorter than its counter can resolve. Returns calls added."""
    extra = 0
    if seconds_done >= meter.min_window_s:
        return 0
    end = time.perf_counter() + (meter.min_window_s - seconds_done)
    while time.perf_counter() < end:
        fn()
        extra += 1
    return extra


# Analytic and TDP proxies ---------------------------------------------------------------------------
@cache
def constants() -> dict:
    return yaml.safe_load(CONSTANTS.read_text())


def precision_dtype(precision: str | None) -> str:
    """The arithmetic a cell's matmuls run in: "int8-dynamic" computes in int8."""
    p = (precision or "fp32").lower()
    for dtype in ("int8", "fp16", "bf16", "tf32", "fp32"):
        if dtype in p:
            return dtype
    return "fp32"


def analytic_energy_j(macs: int | None, bytes_moved: int | None, dtype: str) -> float | None:
    if not macs:
        return None
    c = constants()
    per_mac = c["pj_per_mac"].get(dtype, c["pj_per_mac"]["fp32"])["value"]
    per_byte = c["pj_per_dram_byte"]["value"]
    return (macs * per_mac + (bytes_moved or 0) * per_byte) * 1e-12


def tdp_energy_j(tdp_w: float | None, seconds: float | None) -> float | None:
    if tdp_w is None or seconds is None:
        return None
    return tdp_w * seconds


def energy_fields(*, counter_j_per_call: float | None, counter_source: str | None, analytic_j: float | None,
                  tdp_j: float | None, items: int, item_unit: str) -> dict:
    if counter_j_per_call is not None:
        best, source = counter_j_per_call, counter_source
    elif analytic_j is not None:
        best, source = analytic_j, "analytic-model"
    elif tdp_j is not None:
        best, source = tdp_j, "tdp-x-time"
    else:
        best, source = None, None
    return {
        "energy_j_per_inference": best,
        "energy_j_per_item": None if best is None else best / max(items, 1),
        "energy_item_unit": item_unit,
        "energy_source": source,
        "energy_analytic_j_per_inference": analytic_j,
        "energy_tdp_j_per_inference": tdp_j,
    }
