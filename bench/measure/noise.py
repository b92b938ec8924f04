"""Noise of a latency distribution, and a flag when it is too noisy to trust.

Three spreads, because each misses something: the coefficient of variation (std/mean) is
dominated by a few large outliers, IQR/median ignores the tail altogether, and p99/p50 is the
tail itself. A cell is `noisy` when its CV exceeds the threshold, or its tail ratio exceeds
`TAIL_RATIO_LIMIT` (a p99 three times the median on a steady-state loop means interference:
another process, a governor ramp, thermal or page-cache effects).
"""

from __future__ import annotations

import numpy as np

from bench.measure.stats import MIN_SAMPLES

# 5%: a well-isolated CPU loop on a quiet machine sits at 1-3%; shared cloud vCPUs at 5-20%.
DEFAULT_CV_THRESHOLD = 0.15  # docs/metrics.md: idle 2-core VM, survey-cpu: median CV 8.8%, p75 13.9%
TAIL_RATIO_LIMIT = 3.0


def noise_fields(samples_ms, threshold_cv: float = DEFAULT_CV_THRESHOLD) -> dict:
    x = np.asarray(samples_ms, dtype=float)
    n = x.size
    if n < 2:
        return {"latency_cv": None, "latency_iqr_over_median": None, "latency_p99_over_p50": None,
                "noisy": None, "noise_threshold_cv": threshold_cv}
    med = float(np.median(x))
    mean = float(x.mean())
    cv = float(x.std(ddof=1) / mean) if mean > 0 else float("inf")
    q1, q3 = np.percentile(x, [25, 75])
    iqr_med = float((q3 - q1) / med) if med > 0 else float("inf")
    # Like the p99 itself, the ratio is left empty where the sample count cannot support it.
    tail = float(np.percentile(x, 99) / med) if n >= MIN_SAMPLES["p99"] and med > 0 else None
    noisy = cv > threshold_cv or (tail is not None and tail > TAIL_RATIO_LIMIT)
    return {"latency_cv": cv, "latency_iqr_over_median": iqr_med, "latency_p99_over_p50": tail,
            "noisy": bool(noisy), "noise_threshold_cv": threshold_cv}
