"""Series, change points and the gate over an indexed history.

A series is one cell's one metric on one kind of hardware in one suite, in run order. Runs are
grouped by the field `bench compare` gates within (the GPU model, else the CPU model), so a runner
that moves to another GPU starts new series instead of making a step in the old ones. Points
from contended cells (other work competed for the cell's CPUs while it was timed) are kept for
the plots but are never evidence: the detector does not see them.

The gate asks one question of the newest run: did it make a regression significant? A change the
history already showed the run before is not new, so one regression fails one scheduled run, not
every run after it; the trends report lists it as current until a later change undoes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.history import detect
from bench.history.index import History
from bench.history.metrics import METRICS, Metric, values

INSUFFICIENT, NO_CHANGE, CHANGED = "insufficient data", "no change", "changed"


@dataclass
class Change:
    at: int          # index, among the series' judged points, of the first point after the change
    run: int         # its run (row of History.runs)
    prev_run: int    # the last run before the change: the diff to read is prev_run..run
    size: float      # relative (+0.08: 8% higher) or absolute, as the metric says
    lo: float
    hi: float
    p: float
    kind: str        # regression | improvement | negligible (significant, smaller than the metric's min_change)
    current: bool = False  # the series is still at the level this change reached


@dataclass
class Series:
    group: int
    cell_id: str
    model: str
    optimization: str
    target: str
    workload: str
    metric: Metric
    basis: str
    runs: np.ndarray       # every point's run, oldest first
    values: np.ndarray
    contended: np.ndarray  # True: shown, not judged
    lo: np.ndarray | None = None  # the per-run interval, where the record has one
    hi: np.ndarray | None = None
    verdict: str = INSUFFICIENT
    changes: list[Change] = field(default_factory=list)
    segments: list[tuple[int, int, float, float, float]] = field(default_factory=list)  # judged [a, b): median, CI

    @property
    def judged(self) -> np.ndarray:
        return self.values[~self.contended]

    @property
    def judged_runs(self) -> np.ndarray:
        return self.runs[~self.contended]


@dataclass
class Trends:
    history: History
    groups: pd.DataFrame   # group, hardware, suite, runs, first, last
    series: list[Series]
    alpha: float
    needed: int            # the fewest judged runs that can give a verdict

    @property
    def newest_run(self) -> int:
        return len(self.history.runs) - 1

    def changes(self) -> list[tuple[Series, Change]]:
        return [(s, c) for s in self.series for c in s.changes]

    def current(self) -> list[tuple[Series, Change]]:
        """Current regressions and improvements: each series' last change, when it is not negligible."""
        return [(s, c) for s, c in self.changes() if c.current and c.kind != "negligible"]

    def gate(self, pct: float) -> list[tuple[Series, Change]]:
        """The regressions the newest run made significant: current, beyond `pct` percent (or the
        metric's own minimum, for fidelity), and not already shown by the history without that run."""
        out = []
        for s, c in self.current():
            if not (c.kind == "regression" and _beyond(s.metric, c.size, pct)):
                continue
            runs = s.judged_runs
            if len(runs) == 0 or runs[-1] != self.newest_run:
                continue
            before = _changes(s.judged[:-1], s.metric, s.basis, runs[:-1], self.alpha)
            if not any(abs(b.at - c.at) <= 2 and b.kind == "regression" and _beyond(s.metric, b.size, pct)
                       for b in before):
                out.append((s, c))
        return out


def _beyond(metric: Metric, size: float, pct: float) -> bool:
    return abs(size) * 100 > pct if metric.relative else abs(size) >= metric.min_change


def _changes(y: np.ndarray, metric: Metric, basis: str, runs: np.ndarray, alpha: float) -> list[Change]:
    if len(y) < detect.min_runs(alpha):
        return []
    cps = detect.change_points(y, alpha)
    bounds = [0, *[s.at for s in cps], len(y)]
    out = []
    for i, s in enumerate(cps):
        size, lo, hi = detect.shift(y[bounds[i]:s.at], y[s.at:bounds[i + 2]], metric.relative)
        kind = ("negligible" if abs(size) < metric.min_change
                else "regression" if metric.worse(size, basis) else "improvement")
        out.append(Change(s.at, int(runs[s.at]), int(runs[s.at - 1]), size, lo, hi, s.p, kind))
    if out:
        out[-1].current = True
    return out


def _median_ci(x: np.ndarray) -> tuple[float, float, float]:
    """A segment's median and its distribution-free 95% interval (order statistics)."""
    s = np.sort(x)
    n = len(s)
    half = 0.98 * math.sqrt(n)
    lo, hi = max(int(math.floor(n / 2 - half)), 0), min(int(math.ceil(n / 2 + half)), n - 1)
    return float(np.median(s)), float(s[lo]), float(s[hi])


def judge(s: Series, alpha: float, needed: int) -> Series:
    y, runs = s.judged, s.judged_runs
    if len(y) < needed:
        s.verdict = INSUFFICIENT
        return s
    s.changes = _changes(y, s.metric, s.basis, runs, alpha)
    s.verdict = CHANGED if s.changes else NO_CHANGE
    bounds = [0, *[c.at for c in s.changes], len(y)]
    s.segments = [(a, b, *_median_ci(y[a:b])) for a, b in zip(bounds[:-1], bounds[1:])]
    return s


def groups_of(runs: pd.DataFrame) -> pd.Series:
    """Each run's group: same hardware, same suite."""
    return runs.groupby(["hardware", "suite"], sort=False).ngroup()


def analyze(history: History, alpha: float = detect.ALPHA) -> Trends:
    runs = history.runs
    group = groups_of(runs).to_numpy()
    g = runs.assign(group=group).groupby("group")
    groups = pd.DataFrame({"hardware": g["hardware"].first(), "suite": g["suite"].first(), "runs": g.size(),
                           "first": g["started_at"].min(), "last": g["started_at"].max(),
                           "first_run": g["run_id"].first(), "last_run": g["run_id"].last()}).reset_index()
    needed = detect.min_runs(alpha)
    pts = history.points
    pts = pts[pts["status"].astype(str) == "ok"] if len(pts) else pts
    series: list[Series] = []
    if len(pts):
        grp = group[pts["run"].to_numpy()]
        for metric in METRICS:
            v, basis = values(pts, metric)
            keep = np.isfinite(v) & ((v > 0) if metric.relative else True)
            if not keep.any():
                continue
            sub = pd.DataFrame({"group": grp[keep], "cell_id": pts["cell_id"].astype(str).to_numpy()[keep],
                                "basis": basis[keep], "run": pts["run"].to_numpy()[keep], "v": v[keep],
                                "contended": pts["contended"].fillna(False).astype(bool).to_numpy()[keep],
                                "i": np.flatnonzero(keep)})
            if metric.interval:
                sub["lo"] = pts[metric.interval[0]].to_numpy(float)[keep]
                sub["hi"] = pts[metric.interval[1]].to_numpy(float)[keep]
            sub = sub.sort_values(["group", "cell_id", "basis", "run"], kind="stable")
            for (gi, cid, b), idx in sub.groupby(["group", "cell_id", "basis"], sort=True).indices.items():
                part = sub.iloc[idx]
                last = pts.iloc[int(part["i"].iloc[-1])]
                s = Series(int(gi), cid, str(last["model"]), str(last["optimization"]), str(last["target"]),
                           str(last["workload"]), metric, str(b), part["run"].to_numpy(), part["v"].to_numpy(),
                           part["contended"].to_numpy(),
                           part["lo"].to_numpy() if metric.interval else None,
                           part["hi"].to_numpy() if metric.interval else None)
                series.append(judge(s, alpha, needed))
    return Trends(history, groups, series, alpha, needed)


def to_json(t: Trends, gate: list[tuple[Series, Change]] | None = None) -> dict:
    """What the command found, for machines: groups, verdict counts, every change point."""
    runs = t.history.runs

    def run(i):
        r = runs.iloc[i]
        return {"run_id": r["run_id"], "commit": r["commit"],
                "started_at": None if pd.isna(r["started_at"]) else r["started_at"].isoformat()}

    def change(s, c):
        return {"group": s.group, "cell_id": s.cell_id, "metric": s.metric.name, "basis": s.basis, "kind": c.kind,
                "size": c.size, "ci": [c.lo, c.hi], "p": c.p, "relative": s.metric.relative, "current": c.current,
                "first_run": run(c.run), "last_run_before": run(c.prev_run)}

    verdicts = pd.Series([s.verdict for s in t.series], dtype=object).value_counts().to_dict()
    return {"alpha": t.alpha, "runs_needed": t.needed, "runs": len(runs),
            "groups": [{"group": int(r.group), "hardware": r.hardware, "suite": r.suite, "runs": int(r.runs)}
                       for r in t.groups.itertuples()],
            "series": {k: int(v) for k, v in verdicts.items()},
            "changes": [change(s, c) for s, c in t.changes()],
            "gate": None if gate is None else [change(s, c) for s, c in gate],
            "skipped": t.history.skipped}
