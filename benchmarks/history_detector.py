"""What the change-point detector can be trusted with: false alarms, power, location, delay.

Usage:  python benchmarks/history_detector.py [--histories 10000]

Noise-only histories of 60 runs (lognormal, sigma 5%, the noisy runner of the issue's test), with
and without outlier days (5% of runs 40% slower), give the false-alarm rate per series at three
levels; histories with one 8% step at run 40 give how often it is found and how often within one
run of where it is. tests/test_history.py checks the same on 200 histories each; docs/history.md
quotes both. Seeds are fixed: the figures are the same on every machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.history import detect  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--histories", type=int, default=10000)
    n = ap.parse_args().histories
    rng = np.random.default_rng(1)
    quiet = [100 * rng.lognormal(0.0, 0.05, 60) for _ in range(n)]
    bad_days = [y * np.where(rng.random(60) < 0.05, 1.4, 1.0) for y in (100 * rng.lognormal(0.0, 0.05, 60)
                                                                        for _ in range(n))]
    for alpha in (0.001, 0.01, 0.05):
        fa = sum(bool(detect.change_points(y, alpha)) for y in quiet)
        fo = sum(bool(detect.change_points(y, alpha)) for y in bad_days)
        print(f"alpha {alpha:g}: false alarms in {fa} of {n} noise-only histories ({100 * fa / n:.2f}%), "
              f"{fo} of {n} with outlier days ({100 * fo / n:.2f}%); a verdict needs {detect.min_runs(alpha)} runs, "
              f"a step shows after {detect.detectable_after(60, alpha)} runs of 60")
    m = n // 10
    for alpha in (0.001, 0.01, 0.05):
        found = near = 0
        rng = np.random.default_rng(2)
        for _ in range(m):
            y = 100 * rng.lognormal(0.0, 0.05, 60)
            y[40:] *= 1.08
            at = [s.at for s in detect.change_points(y, alpha)]
            found += any(abs(a - 40) <= 3 for a in at)
            near += len(at) == 1 and abs(at[0] - 40) <= 1
        print(f"alpha {alpha:g}: an 8% step at run 40 of 60 under 5% noise found in {100 * found / m:.1f}% of {m} "
              f"histories, alone and within one run in {100 * near / m:.1f}%")


if __name__ == "__main__":
    main()
