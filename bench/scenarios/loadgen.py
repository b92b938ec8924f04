"""Open-loop load: Poisson arrivals, a dynamic batcher, and the search for the rate a model sustains.

MLPerf's LoadGen defines the Server scenario: queries arrive at random (exponential gaps) whether
or not the system has caught up, and what counts is the latency each query sees, queueing
included, against a bound on its p99. A closed loop (one call after another) never queues, so it
cannot answer "how much load can this model take"; this module can.

Everything here runs in real time against a callable that serves a batch of k queries (the cell's
model on inputs of batch size k, or a fake with a known service time in the tests): the latencies
are measured, not simulated. One worker serves batches one after another, as one model instance
on one device does.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


def poisson_arrivals(rate: float, n: int, seed: int = 0) -> np.ndarray:
    """Arrival times (s from the start) of `n` queries at `rate` per second: exponential gaps."""
    if not rate > 0:
        raise ValueError(f"the arrival rate must be above 0, not {rate}")
    gaps = np.random.default_rng(seed).exponential(1.0 / rate, size=n)
    return np.cumsum(gaps)


@dataclass
class ServerResult:
    rate: float  # offered: queries per second
    latencies_s: np.ndarray  # per query: completion minus arrival (queueing + service)
    queue_s: np.ndarray  # per query: start of its batch minus arrival
    batch_sizes: list[int] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def achieved_rate(self) -> float:
        return len(self.latencies_s) / self.wall_s if self.wall_s > 0 else float("nan")

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q) * 1e3)


def serve(call_batch: Callable[[int], object], arrivals: np.ndarray, max_batch: int, max_wait_s: float,
          clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep,
          deadline_s: float | None = None) -> ServerResult:
    """Serve the queries arriving at `arrivals` with one worker and a dynamic batcher.

    A batch starts when `max_batch` queries wait, or when its first query has waited `max_wait_s`,
    or when no more queries will come; it takes every waiting query up to `max_batch`. The run
    stops early at `deadline_s` (queries not served by then are left out, and the result says how
    many ran)."""
    n = len(arrivals)
    latency = np.full(n, np.nan)
    queued = np.full(n, np.nan)
    sizes: list[int] = []
    waiting: deque[int] = deque()
    nxt = done = 0
    t0 = clock()
    while done < n:
        now = clock() - t0
        if deadline_s is not None and now > deadline_s:
            break
        while nxt < n and arrivals[nxt] <= now:
            waiting.append(nxt)
            nxt += 1
        if not waiting:
            sleep(max(0.0, arrivals[nxt] - now))
            continue
        first_due = arrivals[waiting[0]] + max_wait_s
        if len(waiting) < max_batch and now < first_due and nxt < n:
            sleep(max(0.0, min(arrivals[nxt], first_due) - now))
            continue
        batch = [waiting.popleft() for _ in range(min(max_batch, len(waiting)))]
        start = clock() - t0
        call_batch(len(batch))
        end = clock() - t0
        for q in batch:
            latency[q] = end - arrivals[q]
            queued[q] = start - arrivals[q]
        sizes.append(len(batch))
        done += len(batch)
    served = ~np.isnan(latency)
    return ServerResult(rate=n / arrivals[-1] if n else 0.0, latencies_s=latency[served], queue_s=queued[served],
                        batch_sizes=sizes, wall_s=clock() - t0)


def min_queries(percentile: float, confidence: float = 0.99) -> int:
    """Queries needed to support "the p-th percentile is within the bound" with none over it: the
    smallest n with (p/100)^n <= 1 - confidence (459 for p99 at 99%). LoadGen's early-stopping rule
    rests on the same binomial argument; with k queries over the bound, more are needed
    (`percentile_supported`)."""
    p = percentile / 100.0
    return int(math.ceil(math.log(1.0 - confidence) / math.log(p)))


def percentile_supported(n: int, over: int, percentile: float, confidence: float = 0.99) -> bool:
    """Whether n queries with `over` of them above the bound support "p-th percentile <= bound": the
    chance of seeing so few above it, were the true share above it 1 - p, is at most 1 - confidence."""
    q = 1.0 - percentile / 100.0
    tail = sum(math.comb(n, k) * q**k * (1 - q) ** (n - k) for k in range(over + 1))
    return tail <= 1.0 - confidence


def search_rate(meets: Callable[[float], bool], start: float, rel_tol: float = 0.1,
                max_steps: int = 12) -> tuple[float, float]:
    """The largest rate at which `meets(rate)` holds, bracketed to within `rel_tol`: (lo, hi) with
    meets(lo) true and meets(hi) false (hi = inf if no failing rate was found in `max_steps`). Grows
    by 2x until a rate fails (or shrinks until one passes), then bisects geometrically."""
    lo, hi = 0.0, math.inf
    rate = start
    steps = 0
    while steps < max_steps and (hi == math.inf or lo == 0.0):
        ok = meets(rate)
        steps += 1
        if ok:
            lo = rate
            rate = rate * 2
        else:
            hi = rate
            rate = rate / 2
    while steps < max_steps and lo > 0 and hi < math.inf and hi / lo > 1 + rel_tol:
        mid = math.sqrt(lo * hi)
        if meets(mid):
            lo = mid
        else:
            hi = mid
        steps += 1
    return lo, hi
