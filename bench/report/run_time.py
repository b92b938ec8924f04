"""Where a run's wall time went: the figure that says whether a suite fits its time budget.

The GPU suite has to finish inside 20 minutes on one GPU, and the scheduled runner should show
that on every run rather than once in a document. A run's manifest has its wall time; each
record has the runner's view of its cell (`process_wall_s`) and the cell's own split
(`phase_s`: `timing` is warm-up and sampling, `after_timing` the energy window and allocator
peaks). Everything else in a cell (imports, building, exporting, binding, the reference output)
is overhead that a faster cell start or a cache would cut; measuring time is what the suite's
`measure` settings buy.
"""

from __future__ import annotations

import json

import pandas as pd

from bench.report.format import to_float

MEASURING_PHASES = ("timing", "after_timing")


def _phases(v) -> dict:
    if isinstance(v, dict):
        return v
    if isinstance(v, str):
        try:
            out = json.loads(v)
        except json.JSONDecodeError:
            return {}
        return out if isinstance(out, dict) else {}
    return {}


def time_breakdown(manifest: dict, df: pd.DataFrame) -> dict | None:
    """Totals over the cells that ran: wall time, per-cell medians, the measuring share, by target.

    None when no record carries the runner's per-cell wall time (runs older than the field).
    """
    if df.empty or "process_wall_s" not in df.columns:
        return None
    ran = df[df["process_wall_s"].map(to_float).notna()]
    if ran.empty:
        return None
    walls = ran["process_wall_s"].astype(float)
    phases = ran["phase_s"].map(_phases) if "phase_s" in ran.columns else pd.Series([{}] * len(ran), index=ran.index)
    measuring = phases.map(lambda p: sum(to_float(p.get(k)) or 0.0 for k in MEASURING_PHASES))
    has_phases = phases.map(bool)
    slowest = ran.loc[walls.idxmax()]
    by_target = {str(t): {"cells": int(len(g)), "cell_s": float(g.sum()), "median_s": float(g.median())}
                 for t, g in walls.groupby(ran["target"].astype(str))} if "target" in ran.columns else {}
    return {
        "wall_s": to_float(manifest.get("wall_s")), "peaks_s": to_float(manifest.get("peaks_s")),
        "resumed": len(manifest.get("resumed_at") or []),  # wall_s then covers the last part only
        "cells": int(len(ran)), "cell_s": float(walls.sum()), "median_s": float(walls.median()),
        "max_s": float(walls.max()), "slowest": str(slowest.get("cell_id", "?")),
        "measuring_s": float(measuring[has_phases].sum()), "phased_cell_s": float(walls[has_phases].sum()),
        "by_target": by_target,
    }


def _cells(n: int) -> str:
    return f"{n} cell" + ("" if n == 1 else "s")


def describe(t: dict) -> str:
    """One plain sentence (Markdown- and HTML-safe once escaped) for summaries and reports."""
    parts = []
    if t["wall_s"] is not None and t.get("resumed"):
        parts.append(f"{_cells(t['cells'])}; the run was resumed {t['resumed']} time(s) and its last part "
                     f"took {t['wall_s'] / 60:.1f} min (earlier parts are not in the wall time; the cells' own "
                     f"times add up to {t['cell_s'] / 60:.1f} min)")
    elif t["wall_s"] is not None:
        parts.append(f"{t['wall_s'] / 60:.1f} min for {_cells(t['cells'])}")
    else:
        parts.append(_cells(t["cells"]))
    if t["peaks_s"] is not None:
        parts.append(f"plus {t['peaks_s']:.0f} s measuring the machine's peaks")
    parts.append(f"a cell took {t['median_s']:.1f} s at the median (slowest {t['max_s']:.1f} s: {t['slowest']})")
    if t["phased_cell_s"] > 0:
        share = 100 * t["measuring_s"] / t["phased_cell_s"]
        parts.append(f"{share:.0f}% of cell time was warm-up, sampling and energy windows, "
                     "the rest starting, building, exporting and binding")
    if len(t["by_target"]) > 1:
        parts.append("by target: " + ", ".join(f"{k} {_cells(v['cells'])} in {v['cell_s'] / 60:.1f} min"
                                               for k, v in sorted(t["by_target"].items())))
    return "; ".join(parts) + "."


def measuring_bounds(cells) -> tuple[float, float]:
    """Seconds of warm-up, sampling and energy windows that a plan's cells will spend, (least, most).

    Least: each cell's `warmup_s + min_time_s`; most: `warmup_s + max_time_s`; a GPU cell adds the
    NVML energy window. This is what the suite's `measure` settings buy, known before anything
    runs; starting, building and exporting the cells comes on top. The most is approximate: a
    warm-up of `warmup_iters` slow calls, or a last sample, can outlast it.
    """
    from bench.measure.nvml import MIN_ENERGY_WINDOW_S

    lo = hi = 0.0
    for c in cells:
        window = MIN_ENERGY_WINDOW_S if c.target.device == "cuda" else 0.0
        lo += c.measure.warmup_s + c.measure.min_time_s + window
        hi += c.measure.warmup_s + c.measure.max_time_s + window
        s_lo, s_hi = scenario_bounds(c)
        lo, hi = lo + s_lo, hi + s_hi
    return lo, hi


def scenario_bounds(cell) -> tuple[float, float]:
    """Seconds the offline sweep and the server search can take past single-stream, (least, most).

    The sweep times each batch size with bench.scenarios.run's short settings (a 0.1 s warm-up,
    then min(min_time_s, 0.5) to min(max_time_s, 2) s); the search tries at most `max_steps`
    rates of at most `max_seconds_per_rate` each, and at least two (it needs a rate that fails)."""
    asked, m = cell.scenarios or {}, cell.measure
    lo = hi = 0.0
    if "offline" in asked:
        n = len(asked["offline"].get("batch_sizes") or [1, 2, 4, 8, 16])
        lo += n * (0.1 + min(m.min_time_s, 0.5))
        hi += n * (0.1 + min(m.max_time_s, 2.0))
    if "server" in asked:
        srv = asked["server"]
        hi += srv.get("max_steps", 10) * srv.get("max_seconds_per_rate", 30.0)
    return lo, hi
