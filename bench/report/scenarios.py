"""The scenarios section: latency against throughput, the rate each cell sustains, the best per scenario.

An optimization can win one scenario and lose another (int8 that helps at batch 1 may not at
batch 64; a smaller model's gain may vanish under queueing), so the section puts the three side by
side: for each target, each cell's server curve (p99 latency, queueing included, against the rate
it was offered) and its offline sweep (latency against items per second), the maximum sustained
rate as bars, and a row per model naming the best optimization in each scenario.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report import plots
from bench.report.format import esc, is_missing, num, table


def _items(v) -> list:
    """A list field of a record as a list: a cell that did not run the scenario has NaN there
    (a run with a server scenario and no offline sweep, or the reverse)."""
    if isinstance(v, np.ndarray):
        return list(v)
    return list(v) if isinstance(v, (list, tuple)) else []


def _has(df: pd.DataFrame, col: str) -> bool:
    return col in df.columns and df[col].map(lambda v: len(_items(v)) > 0).any()


def _bracket_high(r, lo: float) -> float | None:
    b = _items(r.get("server_rate_bracket"))
    hi = b[1] if len(b) == 2 else None
    return None if is_missing(hi) else float(hi)


def curves_figure(g: pd.DataFrame, colors: dict, markers: dict, bound_ms: float | None) -> str:
    """Server p99 against offered rate, and offline latency against throughput, for one target."""
    plt = plots.plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    for r in g.to_dict("records"):
        model, opt = str(r["model"]), str(r["optimization"])
        c, m = colors.get(model, "#000000"), markers.get(opt, "o")
        data = {"model": model, "target": r["target"], "opt": opt}
        curve = [p for p in _items(r.get("server_curve")) if p.get("p99_ms") is not None]
        if curve:
            xs, ys = [p["rate"] for p in curve], [p["p99_ms"] for p in curve]
            (line,) = a.plot(xs, ys, "-", color=c, marker=m, ms=4, lw=1, label=plots.tex_safe(f"{model} · {opt}"))
            plots.tip(line, f"{model} · {opt}: p99 {', '.join(f'{y:.3g} ms at {x:.3g}/s' for x, y in zip(xs, ys))}",
                      **data)
        sweep = [s for s in _items(r.get("offline_sweep")) if "items_per_s" in s]
        if sweep:
            xs, ys = [s["items_per_s"] for s in sweep], [s["p50_ms"] for s in sweep]
            (line,) = b.plot(xs, ys, "-", color=c, marker=m, ms=4, lw=1, label=plots.tex_safe(f"{model} · {opt}"))
            plots.tip(line, f"{model} · {opt}: " + ", ".join(f"batch {s['batch']}: {s['items_per_s']:.4g}/s at "
                                                           f"{s['p50_ms']:.3g} ms" for s in sweep), **data)
    if bound_ms:
        a.axhline(bound_ms, color="#D55E00", lw=1, ls="--", label=f"p99 bound {bound_ms:g} ms")
    for ax, col, what in ((a, "server_curve", "server"), (b, "offline_sweep", "offline")):
        if _has(g, col):  # which line is which: colour is the model, the marker the optimization
            ax.legend(fontsize=7, frameon=False)
        else:
            ax.text(0.5, 0.5, f"no {what} scenario in this run", ha="center", va="center", transform=ax.transAxes,
                    fontsize=9, color="#555555")
            ax.set_xticks([]), ax.set_yticks([])
    a.set_xlabel("Offered rate (queries/s, Poisson)")
    a.set_ylabel("p99 latency, queueing included (ms)")
    a.set_title("server", fontsize=9)
    b.set_xlabel("Throughput (items/s)")
    b.set_ylabel("Median latency per batch (ms)")
    b.set_title("offline: one point per batch size", fontsize=9)
    for ax, col in ((a, "server_curve"), (b, "offline_sweep")):
        if _has(g, col):
            ax.set_xscale("log")
            ax.set_yscale("log")
    fig.tight_layout()
    return plots.to_svg(fig)


def rate_bars(g: pd.DataFrame, colors: dict) -> str:
    """The maximum sustained rate of each cell, with the bracket the search ended on."""
    g = g[g["server_max_rate_qps"].notna()] if "server_max_rate_qps" in g else g.iloc[0:0]
    if g.empty:
        return ""
    plt = plots.plt
    g = g.sort_values("server_max_rate_qps")
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(g) + 1.2))
    for i, r in enumerate(g.to_dict("records")):
        lo = float(r["server_max_rate_qps"])
        hi = _bracket_high(r, lo)
        bar = ax.barh(i, lo, color=colors.get(str(r["model"]), "#777777"))
        plots.tag(bar, model=r["model"], target=r["target"], opt=r["optimization"])
        if hi is not None:
            ax.plot([lo, hi], [i, i], color="#333333", lw=1)
        plots.tip(ax.plot([lo], [i], "|", color="#333333")[0],
                  f"{r['model']} · {r['optimization']}: sustains {lo:.4g}/s"
                  + (f" (fails at {hi:.4g}/s)" if hi else ""), model=r["model"], target=r["target"],
                  opt=r["optimization"])
    ax.set_yticks(range(len(g)), [plots.tex_safe(f"{m} · {o}") for m, o in zip(g["model"], g["optimization"])],
                  fontsize=7)
    ax.set_xlabel("Maximum sustained rate within the p99 bound (queries/s; line: up to the first failing rate)")
    fig.tight_layout()
    return plots.to_svg(fig)


def best_per_scenario(ok: pd.DataFrame) -> pd.DataFrame:
    """Per model and target: the best optimization in each scenario (lowest single-stream median,
    most offline items/s, highest sustained rate)."""
    rows = []
    for (model, target), g in ok.groupby(["model", "target"], sort=True):
        row = {"model": model, "target": target}
        for col, label, pick in (("latency_ms_p50", "single-stream", "min"), ("offline_items_per_s", "offline", "max"),
                                 ("server_max_rate_qps", "server", "max")):
            vals = g[col].astype(float) if col in g else pd.Series(dtype=float)
            if vals.notna().any():
                idx = vals.idxmin() if pick == "min" else vals.idxmax()
                row[label] = (g.loc[idx, "optimization"], float(vals[idx]))
        rows.append(row)
    return pd.DataFrame(rows)


def section(run, colors: dict, markers: dict) -> str:
    ok = run.ok
    if not (_has(ok, "server_curve") or _has(ok, "offline_sweep")):
        return ""
    out = ['<section id="scenarios"><h2>Scenarios: offline throughput and load under a latency bound</h2>'
           '<p class="note">single-stream is every cell\'s timing (one query after another, MLPerf SingleStream); '
           "offline is the best throughput over a sweep of batch sizes (Offline); server sends queries at random "
           "times (Poisson) through a dynamic batcher and searches for the largest rate whose p99 latency, queueing "
           "included, stays within the bound (Server). A server p99 rests on its queries: under 459 with none over "
           "the bound, the record says it is not supported (docs/scenarios.md).</p>"]
    best = best_per_scenario(ok)
    if not best.empty:
        def cell(v, unit, fmt):
            return (f"{esc(v[0])} ({num(v[1], fmt)} {unit})", v[1]) if isinstance(v, tuple) else "—"

        out.append("<h3>Best optimization per scenario</h3>" + table(
            ["model", "target", "single-stream (lowest median)", "offline (most items/s)", "server (highest sustained rate)"],
            [[esc(r["model"]), esc(r["target"]), cell(r.get("single-stream"), "ms", "{:.3g}"),
              cell(r.get("offline"), "items/s", "{:.4g}"), cell(r.get("server"), "queries/s", "{:.4g}")]
             for r in best.to_dict("records")], left=2))
    for target, g in ok.groupby("target", sort=True):
        bound = next((float(v) for v in g.get("server_p99_bound_ms", []) if not is_missing(v)), None)
        out.append(f"<h3>Target {esc(target)}</h3><div class=\"figure\">{curves_figure(g, colors, markers, bound)}</div>")
        bars = rate_bars(g, colors)
        if bars:
            out.append(f'<div class="figure">{bars}</div>')
        notes = [(r["cell_id"], r["server_note"]) for r in g.to_dict("records") if not is_missing(r.get("server_note"))]
        if notes:
            out.append("<details><summary>Notes on the server results</summary>"
                       + table(["cell", "note"], [[esc(c), esc(n)] for c, n in notes], left=2) + "</details>")
    return "".join(out) + "</section>"


def rate_interval(r) -> tuple[float, float] | None:
    """The sustained rate as an interval: from the last rate that met the bound to the first that did not."""
    lo = r.get("server_max_rate_qps")
    if is_missing(lo):
        return None
    hi = _bracket_high(r, float(lo))
    return float(lo), (hi if hi is not None else np.inf)
