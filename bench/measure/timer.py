"""Adaptive per-iteration timer.

Warm-up runs first (by count and by time). Then calls are timed until both a minimum time and a
target precision (relative half-width of the median's 95% interval) are reached, or a maximum
time expires; the record says whether the target was met. Every sample is kept, so percentiles
are real percentiles of what was timed.

Very short calls are timed in blocks: a clock read costs tens of nanoseconds, so a 2 us call
timed alone carries a few percent of timer overhead. When the warm-up shows a call shorter than
`1 / MAX_TIMER_OVERHEAD` clock reads, each sample becomes the mean of a block of calls sized to
keep the overhead under 1% (doubled until one block outlasts 100 clock
reads, as timeit's autorange does). Samples are then block means (`timing_mode = "blocked"`): their
percentiles describe blocks, not single calls, and the record says so.

On CUDA, `CudaEventClock` times with CUDA events recorded on the stream after a
synchronisation, so the sample is GPU time, not host launch time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.measure.stats import relative_ci_halfwidth

MAX_TIMER_OVERHEAD = 0.01
MAX_BLOCK = 1_000_000


@dataclass
class TimerSettings:
    warmup_iters: int = 3
    warmup_s: float = 0.2
    min_time_s: float = 1.0
    max_time_s: float = 5.0
    min_samples: int = 10  # kept even past min_time_s, so that the reported percentiles are supported
    max_samples: int = 10_000
    target_rel_ci: float = 0.02
    block_size: int | None = None  # None: chosen from the warm-up; 1 forces per-call timing


@dataclass
class Timing:
    samples_ms: list[float]  # per call; the mean of a block in blocked mode
    target_met: bool
    warmup_iters: int
    wall_s: float
    mode: str = "per-call"  # "per-call" | "blocked"
    block_size: int = 1
    clock: str = "perf_counter"
    clock_overhead_ns: float = 0.0
    timed_s: float = 0.0  # wall time of the measured (post-warm-up) phase
    calls: int = 0  # calls in the measured phase
    # When each sample started, in seconds from the first: with the samples in call order, a trace
    # that tells a contention burst from a two-humped distribution.
    sample_t_s: list[float] | None = None


class PerfCounterClock:
    """Host wall clock; `sync` (if any) drains asynchronous work before each reading."""

    name = "perf_counter"

    def __init__(self, sync: Callable[[], None] | None = None):
        self.sync = sync or (lambda: None)

    def time_block(self, fn: Callable[[], object], n: int) -> float:
        self.sync()
        s = time.perf_counter()
        for _ in range(n):
            fn()
        self.sync()
        return (time.perf_counter() - s) * 1e3


class CudaEventClock:
    """GPU time between two CUDA events on the current stream. `cuda` is `torch.cuda` (or a fake)."""

    name = "cuda-event"

    def __init__(self, cuda=None):
        if cuda is None:
            import torch

            cuda = torch.cuda
        self.cuda = cuda

    def time_block(self, fn: Callable[[], object], n: int) -> float:
        self.cuda.synchronize()
        start = self.cuda.Event(enable_timing=True)
        end = self.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(n):
            fn()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end))


def clock_overhead_ns(reps: int = 2000) -> float:
    """Cost of one back-to-back pair of clock reads: the floor under any per-call sample."""
    clock = time.perf_counter_ns
    best = math.inf
    for _ in range(5):
        s = clock()
        for _ in range(reps):
            clock()
        best = min(best, (clock() - s) / reps)
    return float(best)


def choose_block_size(call_ns: float, overhead_ns: float, limit: float = MAX_TIMER_OVERHEAD) -> int:
    """Smallest block whose per-sample timer overhead is under `limit` of the block's time."""
    if call_ns <= 0:
        return MAX_BLOCK
    return int(min(MAX_BLOCK, max(1, math.ceil(overhead_ns / (limit * call_ns)))))


def calibrate_block(fn, clock, fastest_ns: float, overhead_ns: float, limit: float = MAX_TIMER_OVERHEAD) -> int:
    """Double the block until one block outlasts the timer overhead by 1/limit (as timeit's autorange).

    A single-call warm-up reading includes the overhead itself, so it only decides whether
    blocking is needed; the block size comes from timing blocks.
    """
    target_ms = overhead_ns / limit / 1e6
    if fastest_ns / 1e6 >= target_ms:
        return 1
    block = 2
    while block < MAX_BLOCK and clock.time_block(fn, block) < target_ms:
        block *= 2
    return min(block, MAX_BLOCK)


class SamplingRule:
    """Warm-up and stopping, shared by every timed loop (per-call timing here, generation in
    bench.measure.decode), so that "how long and how many" means the same for every cell.

    Warm-up runs until both `warmup_iters` steps and `warmup_s` seconds have passed. Sampling then
    stops at the maximum time or sample count (target met or not), or once the minimum time and
    sample count are reached and the precision is within the target; the precision costs a
    bootstrap, so it is checked at geometrically spaced sample counts.
    """

    def __init__(self, settings: TimerSettings):
        self.settings = settings

    def warm_up(self, step: Callable[[], object], min_iters: int = 0) -> int:
        s, wall = self.settings, time.perf_counter
        t0, n = wall(), 0
        while n < max(s.warmup_iters, min_iters) or wall() - t0 < s.warmup_s:
            step()
            n += 1
        return n

    def sample(self, step: Callable[[], object], count: Callable[[], int], precision: Callable[[], float]) -> bool:
        """Run `step` until the rule says stop; whether the precision target was met."""
        s, wall = self.settings, time.perf_counter
        start = wall()
        next_check = s.min_samples
        while True:
            step()
            elapsed, n = wall() - start, count()
            if n >= s.max_samples or elapsed >= s.max_time_s:
                return precision() <= s.target_rel_ci
            if n >= max(next_check, s.min_samples) and elapsed >= s.min_time_s:
                next_check = int(n * 1.5) + 1
                if precision() <= s.target_rel_ci:
                    return True


def time_callable(fn: Callable[[], object], settings: TimerSettings, sync: Callable[[], None] | None = None,
                  clock=None) -> Timing:
    clock = clock or PerfCounterClock(sync)
    rule = SamplingRule(settings)
    wall = time.perf_counter
    t0 = wall()
    fastest_ns = math.inf

    def warm() -> None:
        nonlocal fastest_ns
        fastest_ns = min(fastest_ns, clock.time_block(fn, 1) * 1e6)

    n_warm = rule.warm_up(warm)
    overhead = clock_overhead_ns()
    block = settings.block_size or calibrate_block(fn, clock, fastest_ns, overhead)

    samples: list[float] = []
    starts: list[float] = []
    start = wall()

    def step() -> None:
        starts.append(wall() - start)
        samples.append(clock.time_block(fn, block) / block)

    target_met = rule.sample(step, count=samples.__len__, precision=lambda: relative_ci_halfwidth(samples))
    return Timing(samples, target_met, n_warm, wall() - t0, mode="blocked" if block > 1 else "per-call",
                  block_size=block, clock=clock.name, clock_overhead_ns=overhead, timed_s=wall() - start,
                  calls=len(samples) * block, sample_t_s=starts)
