"""Contended or noisy cells, measured again at the end of the sweep once the machine is quiet.

A number taken while other work competed for the cell's cores measures the other work. The cell
itself cannot wait (its window is already spent), so the runner does: after the sweep it waits,
bounded by the suite's `quiet_wait_s`, until the machine's CPUs are nearly idle, then runs each
flagged cell again, up to `retries` times or until an attempt is clean. Every attempt is kept in
the record (`attempts`); the one reported is the best isolated (not contended, then the least
run-queue wait, then the lowest CV), and the record says which (`attempt_kept`, `remeasured`).
A cell still contended after its attempts stays flagged, and `bench run --strict` fails on it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

# The machine counts as quiet when its CPUs are less than this busy over a one-second look
# (the runner itself idles meanwhile). An idle 2-core VM shows 0-3%.
QUIET_BUSY_SHARE = 0.10
ATTEMPT_FIELDS = ("status", "latency_ms_p50", "latency_ms_ci_low", "latency_ms_ci_high", "latency_cv", "n_samples",
                  "runq_wait_share", "cpu_pressure_some", "other_cpu_share", "steal_share", "contended", "noisy",
                  "imprecise")


def needs_retry(rec: dict) -> bool:
    return rec.get("status") == "ok" and not rec.get("remeasured") and bool(rec.get("contended") or rec.get("noisy"))


def wait_for_quiet(max_wait_s: float, look=None) -> tuple[bool, float, dict]:
    """Poll until the machine is quiet or `max_wait_s` passes: (quiet, seconds waited, last look)."""
    from bench.measure.contention import machine_busy

    look = look or machine_busy
    t0 = time.monotonic()
    while True:
        busy = look(1.0)
        share = busy.get("busy_share")
        if share is not None and share < QUIET_BUSY_SHARE:
            return True, time.monotonic() - t0, busy
        if time.monotonic() - t0 >= max_wait_s:
            return False, time.monotonic() - t0, busy


def summary(rec: dict, index: int, quiet: bool | None, waited_s: float | None, busy: dict | None) -> dict:
    return {"attempt": index, **{k: rec.get(k) for k in ATTEMPT_FIELDS}, "machine_quiet_before": quiet,
            "waited_s": waited_s, "machine_busy_share_before": (busy or {}).get("busy_share")}


def best(records: list[dict]) -> int:
    """The index of the best-isolated attempt among those that finished."""
    def key(i: int):
        r = records[i]
        share = r.get("runq_wait_share")
        return (r.get("status") != "ok", bool(r.get("contended")), share if share is not None else 1.0,
                r.get("latency_cv") if r.get("latency_cv") is not None else 1.0)

    return min(range(len(records)), key=key)


def remeasure(cell, first: dict, run: Callable[[], dict], check_interrupted: Callable[[], None],
              files: AttemptFiles | None = None) -> dict:
    """The cell's record after up to `retries` more attempts; `run()` measures it once more.
    `files` keeps each attempt's side files (its profile) apart, so the kept attempt's stay."""
    retries, max_wait = cell.measure.retries, cell.measure.quiet_wait_s
    records = [first]
    attempts = [summary(first, 0, None, None, None)]
    for i in range(1, retries + 1):
        check_interrupted()
        quiet, waited, busy = wait_for_quiet(max_wait)
        if files is not None:
            files.stash(i - 1)
        rec = run()
        records.append(rec)
        attempts.append(summary(rec, i, quiet, round(waited, 2), busy))
        if rec.get("status") == "ok" and not rec.get("contended") and not rec.get("noisy"):
            break
    kept = best(records)
    if files is not None:
        files.keep(kept, last=len(records) - 1)
    return {**records[kept], "attempts": attempts, "attempt_kept": kept, "remeasured": True}


class AttemptFiles:
    """A cell's files that each attempt writes afresh under one name (its profile and trace): set
    aside before the next attempt, and the kept attempt's put back, the others removed."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def _aside(self, path: Path, i: int) -> Path:
        return path.with_name(f".attempt{i}.{path.name}")

    def stash(self, i: int) -> None:
        for p in self.paths:
            if p.exists():
                os.replace(p, self._aside(p, i))

    def keep(self, kept: int, last: int) -> None:
        for p in self.paths:
            if kept != last:
                if self._aside(p, kept).exists():
                    os.replace(self._aside(p, kept), p)
                else:  # the kept attempt wrote none: the last attempt's file is not its
                    p.unlink(missing_ok=True)
            for i in range(last):
                self._aside(p, i).unlink(missing_ok=True)


def run_summary(records: list[dict]) -> dict:
    """For the manifest, the CLI and the report: what was measured again, and what stayed contended."""
    again = [r for r in records if r.get("remeasured")]
    waits = [a for r in again for a in (r.get("attempts") or [])[1:]]
    never_quiet = bool(waits) and not any(a.get("machine_quiet_before") for a in waits)
    return {"remeasured": [r["cell_id"] for r in again],
            "still_contended": [r["cell_id"] for r in records if r.get("status") == "ok" and r.get("contended")],
            "still_noisy": [r["cell_id"] for r in records if r.get("status") == "ok" and r.get("noisy")],
            "machine_never_quiet": never_quiet}
