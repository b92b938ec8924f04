"""Contention over a timing window, read from the kernel: was the machine this cell's while it was timed?

The coefficient of variation cannot see a steady slowdown (oversubscribed OpenMP threads make every
call ten times slower, evenly), and the load average is a one-minute blur. Linux says directly how
long this process's threads were runnable but waiting for a CPU:

- `/proc/self/task/*/schedstat`: per thread, nanoseconds on a CPU and nanoseconds waiting on a run
  queue. Over the window, `runq_wait_share` = the threads' summed wait over (threads that ran x the
  window): 0 on an idle machine, about 0.5 when another busy process shares each core.
- `/proc/pressure/cpu` ("some"): the share of the window in which at least one runnable task on
  the machine waited (PSI; Linux 4.20+).
- `/proc/stat`: steal time (a hypervisor running someone else on our vCPU) as a share of the cell's
  CPUs' time, and the other processes' busy share of those CPUs (their busy time minus ours).

A cell is `contended` when its run-queue wait share passes CONTENDED_WAIT_SHARE, calibrated on this
project's 2-core VM idle and under deliberate load (docs/metrics.md). Where a file is missing (not
Linux, an old kernel, a container without PSI) the field is empty and the flag is decided by what is
there; with no schedstat the flag is empty, never a silent "not contended".
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

# Calibration (benchmarks/contention_calibration.py on the 2-core VM, docs/metrics.md): a 2-thread
# torch loop waited 0.3-0.9% of its window idle, 32-38% beside one busy process, 51% beside two and
# 60% beside three. 10% sits an order of magnitude above idle and a third of the way to one burner.
CONTENDED_WAIT_SHARE = 0.10
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _threads(pid: int | str = "self") -> dict[str, tuple[int, int]]:
    """Per thread id: (ns on a CPU, ns waiting on a run queue)."""
    out = {}
    base = Path(f"/proc/{pid}/task")
    try:
        tids = os.listdir(base)
    except OSError:
        return out
    for tid in tids:
        try:
            run, wait, _ = (int(x) for x in (base / tid / "schedstat").read_text().split()[:3])
        except (OSError, ValueError):
            continue
        out[tid] = (run, wait)
    return out


def _psi_some_us() -> int | None:
    try:
        for line in Path("/proc/pressure/cpu").read_text().splitlines():
            if line.startswith("some "):
                return int(dict(kv.split("=") for kv in line.split()[1:])["total"])
    except (OSError, KeyError, ValueError):
        pass
    return None


def _cpu_times(cpus: set[int]) -> tuple[int, int, int] | None:
    """Summed over `cpus`, in clock ticks: (busy, steal, total)."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    busy = steal = total = 0
    seen = False
    for line in lines:
        name, *vals = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        v = [int(x) for x in vals[:8]] + [0] * (8 - len(vals[:8]))
        user, nice, system, idle, iowait, irq, softirq, st = v
        busy += user + nice + system + irq + softirq
        steal += st
        total += user + nice + system + idle + iowait + irq + softirq + st
        seen = True
    return (busy, steal, total) if seen else None


def _own_cpu_ticks() -> int | None:
    try:
        rest = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class Snapshot:
    t: float
    threads: dict[str, tuple[int, int]]
    psi_us: int | None
    cpu: tuple[int, int, int] | None
    own_ticks: int | None
    cpus: set[int] = field(default_factory=set)


def snapshot() -> Snapshot:
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    return Snapshot(time.monotonic(), _threads(), _psi_some_us(), _cpu_times(cpus), _own_cpu_ticks(), set(cpus))


def fields(before: Snapshot, after: Snapshot, threshold: float = CONTENDED_WAIT_SHARE) -> dict:
    """The record's contention fields for the window between two snapshots."""
    window = max(after.t - before.t, 1e-9)
    runs = waits = 0
    active = 0
    for tid, (run1, wait1) in after.threads.items():
        run0, wait0 = before.threads.get(tid, (0, 0))
        if run1 - run0 > 0 or wait1 - wait0 > 0:
            active += 1
            runs += run1 - run0
            waits += wait1 - wait0
    share = waits / 1e9 / (active * window) if active else None
    out: dict = {"runq_wait_share": share, "runq_wait_ms": waits / 1e6 if after.threads else None,
                 "runq_active_threads": active if after.threads else None, "contention_window_s": window,
                 "cpu_pressure_some": None, "steal_share": None, "other_cpu_share": None,
                 "contention_threshold": threshold}
    if before.psi_us is not None and after.psi_us is not None:
        out["cpu_pressure_some"] = min(1.0, (after.psi_us - before.psi_us) / 1e6 / window)
    if before.cpu and after.cpu:
        busy, steal, total = (a - b for a, b in zip(after.cpu, before.cpu))
        if total > 0:
            out["steal_share"] = steal / total
            if before.own_ticks is not None and after.own_ticks is not None:
                others = busy - (after.own_ticks - before.own_ticks)
                out["other_cpu_share"] = max(0.0, others / total)
    out["contended"] = None if share is None else bool(share > threshold)
    return out


class Window:
    """`with Window() as w: ...` then `w.fields`: contention over the block (the timing loop)."""

    def __init__(self, threshold: float = CONTENDED_WAIT_SHARE):
        self.threshold = threshold
        self.fields: dict = {}

    def __enter__(self) -> Window:
        self._before = snapshot()
        return self

    def __exit__(self, *exc) -> None:
        self.fields = fields(self._before, snapshot(), self.threshold)


def machine_busy(seconds: float = 1.0) -> dict:
    """How busy the machine is over `seconds`, from outside any cell: the CPU pressure share and the
    busy share of all CPUs. The runner waits on this before re-measuring contended cells."""
    cpus = set(range(os.cpu_count() or 1))
    psi0, cpu0 = _psi_some_us(), _cpu_times(cpus)
    time.sleep(seconds)
    psi1, cpu1 = _psi_some_us(), _cpu_times(cpus)
    out = {"cpu_pressure_some": None, "busy_share": None}
    if psi0 is not None and psi1 is not None:
        out["cpu_pressure_some"] = min(1.0, (psi1 - psi0) / 1e6 / seconds)
    if cpu0 and cpu1 and cpu1[2] > cpu0[2]:
        out["busy_share"] = (cpu1[0] - cpu0[0]) / (cpu1[2] - cpu0[2])
    return out
