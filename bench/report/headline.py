"""The report's answer: per model and target, the fastest cell that stays within tolerance of fp32.

"What should I ship?" is a latency question under an accuracy constraint. A cell qualifies when
its measured task accuracy is within the suite's `accuracy_tolerance` of the fp32 model's on the
same data (relative: at least (1 - tol) x fp32 for accuracy and embedding similarity, at most
(1 + tol) x fp32 for perplexity; 0.01 is MLPerf's 99% rule), or, where the run measured no
accuracy, when its output's cosine similarity to fp32 is at least 1 - tol (fidelity: a weaker
proxy, and labelled as one). Among those, the fastest median wins; its speedup is against fp32
on the same target and workload, with its bootstrap interval (bench.measure.stats.compare).
"""

from __future__ import annotations

import pandas as pd

from bench.report.analysis import BASELINE
from bench.report.format import is_missing

DEFAULT_TOLERANCE = 0.01
LOWER_IS_BETTER = {"perplexity"}


def tolerance(manifest: dict) -> float:
    tol = manifest.get("accuracy_tolerance")
    return DEFAULT_TOLERANCE if is_missing(tol) else float(tol)


def within(cell: pd.Series, base: pd.Series, tol: float) -> tuple[bool | None, str]:
    """Whether `cell` keeps fp32's quality within `tol`, and on what evidence ("" when none)."""
    acc, ref = cell.get("accuracy"), base.get("accuracy")
    metric = cell.get("accuracy_metric")
    if not is_missing(acc) and not is_missing(ref):
        if metric in LOWER_IS_BETTER:
            return float(acc) <= float(ref) * (1 + tol), f"measured {metric}"
        return float(acc) >= float(ref) * (1 - tol), f"measured {metric}"
    cos = cell.get("cosine_sim")
    if not is_missing(cos):
        return float(cos) >= 1 - tol, "fidelity (cosine to fp32)"
    return None, ""


def reference_target(manifest: dict, ok: pd.DataFrame) -> str | None:
    """The one baseline every target is compared with: fp32 on the suite's first target (the order
    of `targets:`), or the target with the most fp32 cells in a run without a plan."""
    base = ok[ok["optimization"] == BASELINE]
    for c in manifest.get("cells") or []:
        label = (c.get("target") or {}).get("name") if isinstance(c, dict) else None
        cell_target = None
        if isinstance(c, dict) and isinstance(c.get("cell_id"), str):
            hit = ok[ok["cell_id"] == c["cell_id"]]
            cell_target = hit["target"].iloc[0] if len(hit) else None
        if (cell_target or label) in set(base["target"]):
            return cell_target or label
    return base["target"].value_counts().idxmax() if len(base) else None


def table(ok: pd.DataFrame, sp: pd.DataFrame, tol: float, samples: dict | None = None,
          ref_target: str | None = None) -> pd.DataFrame:
    """One row per model, target and workload: the qualifying cell with the lowest median latency,
    its speedup over fp32 on its own target, and over fp32 on the reference target (one baseline
    for every target, so that targets compare)."""
    from bench.measure.stats import compare

    samples = samples or {}
    cols = ["model", "target", "workload", "cell_id", "optimization", "latency_ms_p50", "latency_ms_ci_low",
            "latency_ms_ci_high", "speedup", "speedup_ci_low", "speedup_ci_high", "verdict", "ref_speedup",
            "ref_ci_low", "ref_ci_high", "ref_verdict", "quality", "basis", "accuracy_verdict", "candidates"]
    if ok.empty:
        return pd.DataFrame(columns=cols)
    speed = sp.set_index("cell_id") if not sp.empty else pd.DataFrame()
    rows = []
    for (model, target, wl), g in ok.groupby(["model", "target", "workload"], sort=True):
        base = g[g["optimization"] == BASELINE]
        if base.empty or g["latency_ms_p50"].isna().all():
            continue
        b = base.iloc[0]
        keep = []
        for _, r in g.iterrows():
            ok_, basis = within(r, b, tol)
            if ok_ and not is_missing(r.get("latency_ms_p50")):
                keep.append((float(r["latency_ms_p50"]), r, basis))
        if not keep:
            continue
        _, best, basis = min(keep, key=lambda k: k[0])
        s = speed.loc[best["cell_id"]] if best["cell_id"] in speed.index else None
        quality = best.get("accuracy") if basis.startswith("measured") else best.get("cosine_sim")
        ref = ok[(ok["model"] == model) & (ok["workload"] == wl) & (ok["target"] == ref_target)
                 & (ok["optimization"] == BASELINE)]
        rs = {}
        if len(ref) and best["cell_id"] in samples and ref["cell_id"].iloc[0] in samples:
            rs = compare(samples[best["cell_id"]], samples[ref["cell_id"].iloc[0]])
        rows.append({"model": model, "target": target, "workload": wl, "cell_id": best["cell_id"],
                     "optimization": best["optimization"], "latency_ms_p50": best["latency_ms_p50"],
                     "latency_ms_ci_low": best.get("latency_ms_ci_low"), "latency_ms_ci_high": best.get("latency_ms_ci_high"),
                     "speedup": None if s is None else s["speedup"], "speedup_ci_low": None if s is None else s["ci_low"],
                     "speedup_ci_high": None if s is None else s["ci_high"], "verdict": None if s is None else s["verdict"],
                     "ref_speedup": rs.get("speedup"), "ref_ci_low": rs.get("ci_low"), "ref_ci_high": rs.get("ci_high"),
                     "ref_verdict": rs.get("verdict"),
                     "quality": quality, "basis": basis, "accuracy_verdict": best.get("accuracy_verdict"),
                     "candidates": len(keep)})
    return pd.DataFrame(rows, columns=cols)


def best_across_targets(head: pd.DataFrame) -> pd.DataFrame:
    """Per model and workload, the fastest qualifying cell over every target."""
    if head.empty:
        return head
    idx = head.groupby(["model", "workload"])["latency_ms_p50"].idxmin()
    return head.loc[idx].sort_values(["model", "workload"]).reset_index(drop=True)
