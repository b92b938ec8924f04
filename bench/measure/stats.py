"""Summary statistics of per-iteration latency samples.

Percentiles come from the samples themselves (never from block means), and a percentile that
the sample count cannot support is left empty: p90 needs 10 samples above it to mean anything,
p99 needs 100 (MLPerf's LoadGen sets far stricter minimums for its tail targets).
"""

from __future__ import annotations

import numpy as np

MIN_SAMPLES = {"p50": 1, "p90": 10, "p99": 100}


def bootstrap_ci(samples, stat=np.median, n_boot: int = 2000, level: float = 0.95, seed: int = 0):
    """Percentile-bootstrap confidence interval of `stat`."""
    x = np.asarray(samples, dtype=float)
    if x.size < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    boots = stat(x[idx], axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    return float(lo), float(hi)


def summarize(samples_ms) -> dict[str, float | int | None]:
    """The latency fields of a record, in milliseconds."""
    x = np.asarray(samples_ms, dtype=float)
    n = int(x.size)
    if n == 0:
        return {"n_samples": 0}
    q1, q3 = np.percentile(x, [25, 75])
    lo, hi = bootstrap_ci(x)
    out: dict[str, float | int | None] = {
        "latency_ms_p50": float(np.median(x)),
        "latency_ms_mean": float(x.mean()),
        "latency_ms_p90": float(np.percentile(x, 90)) if n >= MIN_SAMPLES["p90"] else None,
        "latency_ms_p99": float(np.percentile(x, 99)) if n >= MIN_SAMPLES["p99"] else None,
        "latency_ms_std": float(x.std(ddof=1)) if n > 1 else 0.0,
        "latency_ms_iqr": float(q3 - q1),
        "latency_ms_min": float(x.min()),
        "latency_ms_ci_low": lo,
        "latency_ms_ci_high": hi,
        "n_samples": n,
    }
    return out


def relative_ci_halfwidth(samples) -> float:
    """Half-width of the median's 95% interval relative to the median: the timer's precision target."""
    x = np.asarray(samples, dtype=float)
    if x.size < 5:
        return float("inf")
    lo, hi = bootstrap_ci(x, n_boot=400)
    med = float(np.median(x))
    return (hi - lo) / 2 / med if med > 0 else float("inf")


def compare(samples_a, samples_b, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """Speedup of A over B (median_B / median_A) with a bootstrap interval and a verdict.

    "faster" means A is significantly faster than B: the whole interval lies above 1.
    """
    a = np.asarray(samples_a, dtype=float)
    b = np.asarray(samples_b, dtype=float)
    ratio = float(np.median(b) / np.median(a))
    if a.size < 2 or b.size < 2:
        return {"speedup": ratio, "ci_low": float("nan"), "ci_high": float("nan"), "verdict": "insufficient data"}
    rng = np.random.default_rng(seed)
    ma = np.median(a[rng.integers(0, a.size, size=(n_boot, a.size))], axis=1)
    mb = np.median(b[rng.integers(0, b.size, size=(n_boot, b.size))], axis=1)
    boots = mb / ma
    alpha = (1 - level) / 2
    lo, hi = (float(v) for v in np.quantile(boots, [alpha, 1 - alpha]))
    verdict = "faster" if lo > 1 else "slower" if hi < 1 else "no significant difference"
    return {"speedup": ratio, "ci_low": lo, "ci_high": hi, "verdict": verdict}
