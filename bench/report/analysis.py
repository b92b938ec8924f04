"""Numbers the report derives from records: Pareto fronts and speedups with significance.

Every speedup goes through bench.measure.stats.compare, the one place the suite decides what
"significantly faster" means; nothing here re-implements it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.measure.stats import compare

BASELINE = "fp32"
MARK = {"faster": "▲", "slower": "▼", "no significant difference": "=", "insufficient data": "?"}


def pareto_mask(x, y) -> np.ndarray:
    """True where no other point is at least as good on both axes and better on one (both minimised)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.ones(len(x), dtype=bool)
    for i in range(len(x)):
        others = np.arange(len(x)) != i
        dominated = (x[others] <= x[i]) & (y[others] <= y[i]) & ((x[others] < x[i]) | (y[others] < y[i]))
        keep[i] = not dominated.any()
    return keep


def speedups(ok: pd.DataFrame, samples: dict[str, np.ndarray], baseline: str = BASELINE) -> pd.DataFrame:
    """Each ok cell against the baseline optimization of the same model, target and workload."""
    rows = []
    for (model, target, wl), g in ok.groupby(["model", "target", "workload"], sort=True):
        base = g[g["optimization"] == baseline]
        if base.empty or base["cell_id"].iloc[0] not in samples:
            continue
        b = samples[base["cell_id"].iloc[0]]
        for r in g.itertuples():
            if r.cell_id not in samples:
                continue
            c = compare(samples[r.cell_id], b)
            rows.append({"cell_id": r.cell_id, "model": model, "target": target, "workload": wl,
                         "optimization": r.optimization, **c})
    return pd.DataFrame(rows, columns=["cell_id", "model", "target", "workload", "optimization", "speedup",
                                       "ci_low", "ci_high", "verdict"])
