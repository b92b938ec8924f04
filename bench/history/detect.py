"""Change points in one series: E-divisive's bisection with a significance level, on ranks.

E-divisive (Matteson & James 2014; Apache Otava runs it on benchmark histories) splits a series
where the two sides differ most, keeps the split only if it is significant at level alpha, and
goes on in each half. Otava replaced the permutation test by Student's t-test to make it fast. We
use the Mann-Whitney statistic instead, for two reasons a benchmark history makes pressing:

- a single bad day (a throttled GPU, a neighbour on the runner) moves a mean and a t-test with it,
  but moves a rank by at most one place, so one outlier can neither make a step nor hide one;
- the best split is the maximum over every candidate position, and its p-value must say so.
  Ranks have one null distribution for every series of a length, so the search is paid for with a
  Bonferroni factor (the number of candidate positions) instead of a permutation test per series.

The price is that a step must last a few runs before it can be significant: with perfect
separation the Mann-Whitney z of the last k runs of n is at most sqrt(3 k (n - k) / (n + 1)).
`detectable_after` says how many, and `min_runs` how long a history must be before any verdict is
possible; shorter ones are "insufficient data", never "no change".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ALPHA = 0.01    # per series: at most this share of noise-only series shows any change (Bonferroni bound)
MIN_SIZE = 3    # no segment shorter than this: a change is a level the series stays at


@dataclass(frozen=True)
class Split:
    at: int        # index of the first point after the change
    p: float       # Bonferroni-adjusted p-value of the split within its segment
    z: float       # Mann-Whitney z: > 0 when the later side is higher


def _tail(z: float) -> float:
    """Two-sided normal tail probability of |z|."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def _ranks(y: np.ndarray) -> tuple[np.ndarray, float]:
    """Mid-ranks (1-based) of `y` and the tie term sum(t^3 - t) for the variance."""
    order = np.argsort(y, kind="mergesort")
    s = y[order]
    edges = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate(([0], edges))
    ends = np.concatenate((edges, [len(s)]))
    counts = ends - starts
    mid = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 .. ends
    r = np.empty(len(y))
    r[order] = np.repeat(mid, counts)
    return r, float(np.sum(counts.astype(float) ** 3 - counts))


def _z_all(y: np.ndarray, min_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Mann-Whitney z of every split y[:t] | y[t:] with both sides >= min_size, and the splits t."""
    n = len(y)
    t = np.arange(min_size, n - min_size + 1)
    if len(t) == 0:
        return t, np.empty(0)
    r, ties = _ranks(y)
    left = np.cumsum(r)[t - 1]
    k = n - t
    u = left - t * (t + 1) / 2.0             # pairs (i < t <= j) with y_i > y_j, ties half
    mean = t * k / 2.0
    var = t * k / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, (mean - u) / np.sqrt(np.maximum(var, 1e-300)), 0.0)
    return t, z


def best_split(y: np.ndarray, min_size: int = MIN_SIZE) -> Split | None:
    """The split where the two sides differ most, with its p-value over all candidate positions."""
    t, z = _z_all(np.asarray(y, dtype=float), min_size)
    if len(t) == 0:
        return None
    i = int(np.argmax(np.abs(z)))
    return Split(int(t[i]), min(1.0, _tail(z[i]) * len(t)), float(z[i]))


def split_at(y: np.ndarray, at: int, min_size: int = MIN_SIZE) -> Split:
    """The split at a given position, adjusted as if it had been searched for (it was)."""
    y = np.asarray(y, dtype=float)
    t, z = _z_all(y, min_size)
    i = int(np.searchsorted(t, at))
    return Split(at, min(1.0, _tail(z[i]) * len(t)), float(z[i]))


def change_points(y, alpha: float = ALPHA, min_size: int = MIN_SIZE) -> list[Split]:
    """Bisect while the best split is significant, then prune (as Otava does): each change is tested
    again between its neighbours, and the weakest one that no longer passes is dropped, until all pass."""
    y = np.asarray(y, dtype=float)
    found, todo = [], [(0, len(y))]
    while todo:
        a, b = todo.pop()
        s = best_split(y[a:b], min_size)
        if s is None or s.p > alpha:
            continue
        found.append(a + s.at)
        todo += [(a, a + s.at), (a + s.at, b)]
    cps = sorted(found)
    while cps:
        bounds = [0, *cps, len(y)]
        tests = [split_at(y[bounds[i]:bounds[i + 2]], cps[i] - bounds[i], min_size) for i in range(len(cps))]
        worst = max(range(len(cps)), key=lambda i: tests[i].p)
        if tests[worst].p <= alpha:
            return [Split(c, s.p, s.z) for c, s in zip(cps, tests)]
        del cps[worst]
    return []


def min_runs(alpha: float = ALPHA, min_size: int = MIN_SIZE) -> int:
    """The shortest history in which some step, however large, could be significant."""
    for n in range(2 * min_size, 100_000):
        if detectable_after(n, alpha, min_size) is not None:
            return n
    raise ValueError(f"alpha {alpha} is too small for any history")


def detectable_after(n: int, alpha: float = ALPHA, min_size: int = MIN_SIZE) -> int | None:
    """How many runs a perfectly separated step at the end of n runs needs before it is significant
    (None: not within this history)."""
    m = n - 2 * min_size + 1
    if m < 1:
        return None
    for k in range(min_size, n - min_size + 1):
        z = math.sqrt(3.0 * k * (n - k) / (n + 1))
        if _tail(z) * m <= alpha:
            return k
    return None


def shift(before, after, relative: bool, level: float = 0.95) -> tuple[float, float, float]:
    """The size of a change and its confidence interval: the Hodges-Lehmann shift between the two
    segments with its distribution-free (Moses) interval; on log values for relative metrics, so
    the answer is a ratio minus one (+0.08 is 8% higher)."""
    x, y = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if relative:
        x, y = np.log(x), np.log(y)
    d = np.sort((y[:, None] - x[None, :]).ravel())
    m, k = len(x), len(y)
    zc = math.sqrt(2.0) * _erfinv(level)
    c = int(math.floor(m * k / 2.0 - zc * math.sqrt(m * k * (m + k + 1) / 12.0)))
    c = min(max(c, 0), len(d) - 1)
    est, lo, hi = float(np.median(d)), float(d[c]), float(d[len(d) - 1 - c])
    if relative:
        return math.expm1(est), math.expm1(lo), math.expm1(hi)
    return est, lo, hi


def _erfinv(x: float) -> float:
    """Inverse error function by Newton's method on math.erf (no scipy in the core install)."""
    z = 0.0
    for _ in range(60):
        err = math.erf(z) - x
        if abs(err) < 1e-15:
            break
        z -= err / (2.0 / math.sqrt(math.pi) * math.exp(-z * z))
    return z
