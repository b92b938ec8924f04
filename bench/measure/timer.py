"""Adaptive per-iteration timer.

Warm-up runs first (by count and by time). Then single calls are timed one by one until both a
minimum time and a target precision (relative half-width of the median's 95% interval) are
reached, or a maximum time expires; the record says whether the target was met. Every sample
is kept, so percentiles are real percentiles. A `sync` callable (CUDA synchronise) is called
around each sample where the device is asynchronous.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.measure.stats import relative_ci_halfwidth


@dataclass
class TimerSettings:
    warmup_iters: int = 3
    warmup_s: float = 0.2
    min_time_s: float = 1.0
    max_time_s: float = 5.0
    min_samples: int = 10  # kept even past min_time_s, so that the reported percentiles are supported
    max_samples: int = 10_000
    target_rel_ci: float = 0.02


@dataclass
class Timing:
    samples_ms: list[float]
    target_met: bool
    warmup_iters: int
    wall_s: float


def time_callable(fn: Callable[[], object], settings: TimerSettings, sync: Callable[[], None] | None = None) -> Timing:
    sync = sync or (lambda: None)
    clock = time.perf_counter
    t0 = clock()
    n_warm = 0
    while n_warm < settings.warmup_iters or clock() - t0 < settings.warmup_s:
        fn()
        n_warm += 1
    sync()

    samples: list[float] = []
    start = clock()
    next_check = settings.min_samples
    target_met = False
    while True:
        s = clock()
        fn()
        sync()
        samples.append((clock() - s) * 1e3)
        elapsed = clock() - start
        if len(samples) >= settings.max_samples or elapsed >= settings.max_time_s:
            target_met = relative_ci_halfwidth(samples) <= settings.target_rel_ci
            break
        if len(samples) >= max(next_check, settings.min_samples) and elapsed >= settings.min_time_s:
            # Checking costs a bootstrap; do it at geometrically spaced sample counts.
            next_check = int(len(samples) * 1.5) + 1
            if relative_ci_halfwidth(samples) <= settings.target_rel_ci:
                target_met = True
                break
    return Timing(samples, target_met, n_warm, clock() - t0)
