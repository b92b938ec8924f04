"""Hardware counters over the timed window, where the machine lets `perf` read them.

Instructions per cycle and cache misses per inference explain what a latency cannot: an int8
kernel that retires fewer instructions at the same IPC, a model whose weights stop fitting in the
last-level cache. `perf stat` in counting mode costs the counted process nothing measurable (the
PMU counts in hardware; the kernel saves and restores the counters at context switches, and the
perf process sleeps until it is stopped), so it is attached to the timed window itself, when the
cell is profiled. It is started and attached before the window opens, and read after it closes.

Many machines refuse: no perf binary, `perf_event_paranoid` too strict, or a virtual machine with
no virtual PMU, where perf reports every hardware event as `<not supported>`. Then the record says
why (`hw_counters_note`) and holds no counter fields.

The counts are the whole process's over the window, which holds the timer's warm-up calls and its
few bootstrap checks besides the timed calls; per inference divides by every call in the window.
`perf stat -p` counts the threads the process has when perf attaches: the runtime's thread pools
exist by then (the cell's first call, before the window, started them).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

EVENTS = ("instructions", "cycles", "cache-misses", "LLC-load-misses")


def parse(text: str) -> dict[str, float | None]:
    """`perf stat -x,` output: {event: count}, None for an event perf could not count."""
    out: dict[str, float | None] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(",")
        if len(parts) < 3:
            continue
        event = parts[2].split(":")[0].strip()  # "instructions:u" under a paranoid kernel
        if not event:
            continue
        value = parts[0].strip()
        try:
            out[event] = float(value)
        except ValueError:  # <not supported>, <not counted>
            out[event] = None
    return out


def availability(which=shutil.which, run=subprocess.run) -> str | None:
    """None when perf counts hardware events here; otherwise why not, in a sentence."""
    exe = which("perf")
    if exe is None:
        return "perf not installed"
    try:
        p = run([exe, "stat", "-x,", "-e", "instructions", "true"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"perf did not run: {e}"
    counts = parse(p.stderr)
    if p.returncode == 0 and counts.get("instructions") is not None:
        return None
    if p.returncode == 0 and "instructions" in counts:
        return ("the kernel exposes no hardware events: perf stat reports instructions as not supported "
                "(a virtual machine without a virtual PMU exposes only software events)")
    message = next((ln.strip() for ln in p.stderr.splitlines() if ln.strip() and not ln.startswith("#")), "")
    return f"the kernel refused hardware events: {message[:300] or f'perf exited with {p.returncode}'}"


def attached(pid: int) -> int:
    """How many perf_event file descriptors process `pid` holds (perf stat has attached once it has them)."""
    n = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if "perf_event" in os.readlink(f"/proc/{pid}/fd/{fd}"):
                    n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n


class PerfWindow:
    """`with PerfWindow():` around the timed loop; then `fields(calls)` for the record."""

    def __init__(self, pid: int | None = None, check=availability, attach_timeout_s: float = 2.0,
                 exe: str = "perf"):
        self.pid = pid or os.getpid()
        self.check, self.attach_timeout_s, self.exe = check, attach_timeout_s, exe
        self.why: str | None = None
        self.counts: dict[str, float | None] = {}
        self.proc = None
        self.late = False

    def __enter__(self):
        try:
            self._start()
        except Exception as e:  # counters are extra: they never cost the cell its timing
            self.why, self.proc = f"perf failed to start: {type(e).__name__}: {e}", None
        return self

    def _start(self) -> None:
        self.why = self.check()
        if self.why:
            return
        fd, name = tempfile.mkstemp(prefix="perf-stat-", suffix=".csv")
        os.close(fd)
        self.out = Path(name)
        try:
            self.proc = subprocess.Popen([shutil.which(self.exe) or self.exe, "stat", "-x,", "-o", str(self.out),
                                          "-e", ",".join(EVENTS), "-p", str(self.pid)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        except OSError as e:
            self.why = f"perf did not start: {e}"
            self.out.unlink(missing_ok=True)
            return
        end = time.monotonic() + self.attach_timeout_s
        while attached(self.proc.pid) < 1 and self.proc.poll() is None and time.monotonic() < end:
            time.sleep(0.01)
        self.late = attached(self.proc.pid) < 1

    def __exit__(self, *exc):
        if self.proc is None:
            return False
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
            _, err = self.proc.communicate(timeout=10)
            self.counts = parse(self.out.read_text() if self.out.exists() else "")
            if not any(v is not None for v in self.counts.values()):
                self.why = f"perf stat counted nothing: {(err or '').strip()[:300] or 'no output'}"
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.why = "perf stat did not stop within 10 s"
        except Exception as e:  # as in __enter__: never the cell's failure
            self.why = f"perf stat could not be read: {type(e).__name__}: {e}"
        finally:
            self.out.unlink(missing_ok=True)
        return False

    def fields(self, calls: int | None) -> dict:
        """The record's hardware-counter fields; per inference over `calls` calls in the window."""
        if self.why:
            return {"hw_counters_note": self.why}
        c = self.counts

        def per(event):
            v = c.get(event)
            return v / calls if v is not None and calls else None

        ipc = c["instructions"] / c["cycles"] if c.get("instructions") and c.get("cycles") else None
        note = (f"perf stat ({', '.join(e for e in EVENTS if c.get(e) is not None)}) over the timed window, "
                f"process-wide, {calls} calls (warm-up included)")
        if self.late:
            note += "; perf had not attached within the wait, so the first calls may be missing"
        return {"hw_ipc": ipc, "hw_instructions_per_inference": per("instructions"),
                "hw_cycles_per_inference": per("cycles"), "hw_cache_misses_per_inference": per("cache-misses"),
                "hw_llc_misses_per_inference": per("LLC-load-misses"), "hw_counters_note": note}


def calls_in_window(timing) -> int | None:
    """Every call the timer made inside the window: warm-up and timed (blocks count each call)."""
    warm, timed = getattr(timing, "warmup_iters", None), getattr(timing, "calls", None)
    if timed is None:
        return None
    return int(timed) + int(warm or 0)
