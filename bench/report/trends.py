"""The trends report: one offline HTML page over a history, like the run report.

Small multiples (one panel per cell and metric), the change points marked on them with a tooltip
that names the run and links to the commits' diff, and the table of current regressions and
improvements. The panels are SVG written here rather than matplotlib figures: a history of 100
cells has 400 panels, which matplotlib draws in tens of seconds and this in well under one, and
a series of 1000 runs is thinned to the envelope the panel's pixels can show. Every string from a
manifest or a record goes through `esc`; the page's only script is assets.JS, admitted by hash.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from bench.history.analyze import INSUFFICIENT, Change, Series, Trends
from bench.history.metrics import METRICS, fmt_size
from bench.report.assets import CSS, JS, csp
from bench.report.format import esc, table

W, H, PAD, TOP, BOTTOM = 280, 96, 4, 6, 14
MAX_POINTS = 200  # buckets per panel: more than its pixels can separate
# The Okabe-Ito colours of bench/report/plots.py, named here so the page does not import matplotlib.
KIND_COLOUR = {"regression": "#D55E00", "improvement": "#009E73", "negligible": "#999999"}
COMMIT = re.compile(r"^[0-9a-f]{7,40}$")

TRENDS_CSS = """
.panels{display:flex;flex-wrap:wrap;gap:.5rem}.panel{margin:0;border:1px solid #e2e2e2;border-radius:.3rem;padding:.2rem .3rem}
.panel figcaption{font-size:.72rem;max-width:280px;overflow-wrap:anywhere}.panel svg{display:block}
.panel .series{fill:none;stroke:#0072B2;stroke-width:1}.panel .band{fill:#56B4E9;opacity:.3}
.panel .level{fill:none;stroke:#222;stroke-width:1.2}.panel .level-band{fill:#222;opacity:.12}
.panel .hollow{fill:#fff;stroke:#CC79A7}.panel text{font-size:9px;fill:#666}
.panel .change line{stroke-width:1.5;stroke-dasharray:3 2}.panel .change:hover line{stroke-width:3}
.badge.regression{background:#D55E00;color:#fff}.badge.improvement{background:#009E73;color:#fff}
.badge.negligible{background:#ddd}
"""


def _date(ts) -> str:
    return "" if pd.isna(ts) else ts.strftime("%Y-%m-%d")


def _commit(c: str) -> str:
    return str(c or "").removesuffix("+dirty")


def diff_url(repo_url: str | None, before: str, after: str) -> str | None:
    """The web page of the diff between two commits, where the repository and both commits are known."""
    a, b = _commit(before), _commit(after)
    if not repo_url or not COMMIT.match(a) or not COMMIT.match(b) or a == b:
        return None
    return f"{repo_url.rstrip('/')}/compare/{a}...{b}"


def describe(t: Trends, s: Series, c: Change) -> str:
    """One change in words: what, how much, where it first appears, and what to bisect."""
    runs = t.history.runs
    first, prev = runs.iloc[c.run], runs.iloc[c.prev_run]
    ci = f"95% CI {fmt_size(s.metric, c.lo)} to {fmt_size(s.metric, c.hi)}"
    text = (f"{s.metric.label} {fmt_size(s.metric, c.size)} ({ci}, p = {c.p:.2g}): first in run {first['run_id']}"
            f" ({_date(first['started_at'])}, commit {_commit(first['commit'])[:12] or 'not recorded'}), after run "
            f"{prev['run_id']} (commit {_commit(prev['commit'])[:12] or 'not recorded'})")
    if _commit(first["commit"]) and _commit(first["commit"]) == _commit(prev["commit"]):
        text += "; the same commit on both sides, so not a change of the code"
    return text


def summary_lines(t: Trends, gate: list | None, pct: float | None) -> list[str]:
    """What `bench history` prints: the groups, the verdicts, the current changes, the gate."""
    lines = [f"History: {len(t.history.runs)} runs in {len(t.groups)} group(s) of the same hardware and suite; "
             f"a verdict needs {t.needed} judged runs (alpha {t.alpha:g} per series)."]
    for g in t.groups.itertuples():
        lines.append(f"  {g.hardware} | {g.suite or 'suite not named'}: {g.runs} runs, {_date(g.first)} .. {_date(g.last)}")
    counts = pd.Series([s.verdict for s in t.series], dtype=object).value_counts()
    lines.append("Series: " + ", ".join(f"{int(counts.get(k, 0))} {k}" for k in ("no change", "changed", INSUFFICIENT)) + ".")
    if len(t.series) and counts.get(INSUFFICIENT, 0) == len(t.series):
        lines.append(f"insufficient data: every series has fewer than {t.needed} judged runs, so no verdict yet.")
    current = t.current()
    lines.append("Current regressions and improvements:" if current else "No current regressions or improvements.")
    for s, c in current:
        lines.append(f"  {'REGRESSED' if c.kind == 'regression' else 'improved'} {s.cell_id} [{s.metric.name}"
                     + (f", {s.basis}" if s.basis else "") + f"]: {describe(t, s, c)}")
    for why in t.history.skipped:
        lines.append(f"skipped: {why}")
    if gate is not None:
        for s, c in gate:
            lines.append(f"REGRESSION {s.cell_id} [{s.metric.name}]: {describe(t, s, c)}")
        lines.append(f"Gate ({pct:g}%): {len(gate)} new regression(s) in the newest run." if gate
                     else f"Gate ({pct:g}%): passed; no new significant regression in the newest run.")
    return lines


# --- the panels -------------------------------------------------------------------------------------
def _thin(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At most MAX_POINTS buckets, each kept as its low and high: the envelope a panel can show."""
    if len(x) <= 2 * MAX_POINTS:
        return x, lo, hi
    edges = np.linspace(0, len(x), MAX_POINTS + 1).astype(int)
    xs = np.array([x[a:b].mean() for a, b in zip(edges[:-1], edges[1:])])
    return xs, np.minimum.reduceat(lo, edges[:-1]), np.maximum.reduceat(hi, edges[:-1])


def _pts(xs, ys) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))


def panel(t: Trends, s: Series, positions: dict[int, int], n_group: int, repo_url: str | None) -> str:
    """One cell's one metric over the group's runs, its fitted levels and its change points."""
    x_of = np.array([positions[int(r)] for r in s.runs], dtype=float)
    y = s.values
    lo = s.lo if s.lo is not None else y
    hi = s.hi if s.hi is not None else y
    lo, hi = np.where(np.isfinite(lo), lo, y), np.where(np.isfinite(hi), hi, y)
    levels = [v for seg in s.segments for v in seg[2:]]
    vmin, vmax = float(np.nanmin([*lo, *levels])), float(np.nanmax([*hi, *levels]))
    span = (vmax - vmin) or abs(vmax) * 0.01 or 1.0
    vmin, vmax = vmin - 0.05 * span, vmax + 0.05 * span

    def px(i):
        return PAD + (W - 2 * PAD) * (np.asarray(i, dtype=float) / max(n_group - 1, 1))

    def py(v):
        return TOP + (H - TOP - BOTTOM) * (1 - (np.asarray(v, dtype=float) - vmin) / (vmax - vmin))

    judged = ~s.contended
    parts = []
    if s.lo is not None:  # the per-run interval, as a band
        bx, blo, bhi = _thin(x_of, lo, hi)
        parts.append(f'<polygon class="band" points="{_pts(px(bx), py(bhi))} {_pts(px(bx[::-1]), py(blo[::-1]))}"/>')
    jx = x_of[judged]
    for a, b, med, mlo, mhi in s.segments:  # fitted level of each segment, with its 95% interval
        x0, x1 = px(jx[a]), px(jx[b - 1])
        parts.append(f'<rect class="level-band" x="{x0:.1f}" y="{py(mhi):.1f}" width="{max(x1 - x0, 1):.1f}" '
                     f'height="{max(py(mlo) - py(mhi), 0.5):.1f}"/>')
        parts.append(f'<path class="level" d="M{x0:.1f},{py(med):.1f}H{x1:.1f}"/>')
    tx, tlo, thi = _thin(jx, y[judged], y[judged])
    if len(tx) == len(jx):
        parts.append(f'<polyline class="series" points="{_pts(px(tx), py(y[judged]))}"/>')
    else:  # thinned: the envelope of each bucket
        parts.append(f'<polygon class="series" points="{_pts(px(tx), py(thi))} {_pts(px(tx[::-1]), py(tlo[::-1]))}"/>')
    for xi, v in zip(x_of[~judged], y[~judged]):
        parts.append(f'<circle class="hollow" cx="{px(xi):.1f}" cy="{py(v):.1f}" r="2"><title>contended: not judged'
                     "</title></circle>")
    runs = t.history.runs
    for c in s.changes:
        colour = KIND_COLOUR[c.kind]
        x = float(px(positions[c.run]))
        mark = (f'<g class="change {c.kind}" data-run="{esc(runs.iloc[c.run]["run_id"])}" data-kind="{c.kind}">'
                f"<title>{esc(describe(t, s, c))}</title>"
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="{colour}"/>'
                f'<path d="M{x - 5:.1f},{TOP - 6 + 1:.1f}h10l-5,7z" fill="{colour}"/></g>')
        url = diff_url(repo_url, runs.iloc[c.prev_run]["commit"], runs.iloc[c.run]["commit"])
        parts.append(f'<a href="{esc(url)}">{mark}</a>' if url else mark)
    fmt = "{:.4g}"
    parts.append(f'<text x="{PAD}" y="{H - 3}">{esc(fmt.format(vmin))}–{esc(fmt.format(vmax))} {esc(s.metric.unit)}</text>')
    title = (f'{esc(s.cell_id)}<br><span class="muted">{esc(s.basis)}</span> ' if s.basis else f"{esc(s.cell_id)} ")
    verdict = s.verdict if s.verdict != INSUFFICIENT else f"{INSUFFICIENT} ({int(judged.sum())} of {t.needed} runs)"
    badge = (f'<span class="badge {"regression" if any(c.current and c.kind == "regression" for c in s.changes) else ""}">'
             f"{esc(verdict)}</span>")
    return (f'<figure class="panel" data-cell="{esc(s.cell_id)}" data-metric="{esc(s.metric.name)}" '
            f'data-verdict="{esc(s.verdict)}"><figcaption>{title}{badge}</figcaption>'
            f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
            f'aria-label="{esc(s.metric.label)} of {esc(s.cell_id)}">{"".join(parts)}</svg></figure>')


def group_section(t: Trends, gi: int, repo_url: str | None) -> str:
    g = t.groups.iloc[gi]
    runs = t.history.runs
    members = [int(r) for r in runs.index[(runs["hardware"] == g["hardware"]) & (runs["suite"] == g["suite"])]]
    positions = {r: i for i, r in enumerate(members)}
    mine = [s for s in t.series if s.group == gi]
    out = [f'<section class="group" id="group-{gi}"><h2>{esc(g["hardware"])} · {esc(g["suite"] or "suite not named")}'
           f"</h2><p class=\"note\">{len(members)} runs, {esc(_date(g['first']))} to {esc(_date(g['last']))}; "
           "x: the group's runs in order, y: the metric with the fitted level of each segment (grey band: its 95% "
           "interval); the blue band is the run's own interval where the record has one.</p>"]
    for m in METRICS:
        ms = sorted((s for s in mine if s.metric is m),
                    key=lambda s: (not any(c.current and c.kind != "negligible" for c in s.changes), s.cell_id, s.basis))
        if ms:
            out.append(f'<h3>{esc(m.label)}</h3><div class="panels">'
                       + "".join(panel(t, s, positions, len(members), repo_url) for s in ms) + "</div>")
    return "".join(out) + "</section>"


def _change_rows(t: Trends, pairs, repo_url: str | None) -> list[list]:
    runs = t.history.runs
    rows = []
    for s, c in pairs:
        first, prev = runs.iloc[c.run], runs.iloc[c.prev_run]
        url = diff_url(repo_url, prev["commit"], first["commit"])
        commits = f"{_commit(prev['commit'])[:10]}…{_commit(first['commit'])[:10]}"
        g = t.groups.iloc[s.group]
        rows.append([(esc(f"{g['hardware']} · {g['suite']}"), None), (esc(s.cell_id), None),
                     (esc(s.metric.label + (f" ({s.basis})" if s.basis else "")), None),
                     (f'<span class="badge {c.kind}">{esc(c.kind)}</span>', c.kind),
                     (esc(fmt_size(s.metric, c.size)), repr(c.size)),
                     (esc(f"{fmt_size(s.metric, c.lo)} to {fmt_size(s.metric, c.hi)}"), repr(c.lo)),
                     (esc(f"{c.p:.2g}"), repr(c.p)), (esc(first["run_id"]), c.run),
                     (esc(_date(first["started_at"])), esc(str(first["started_at"]))),
                     (f'<a href="{esc(url)}">{esc(commits)}</a>' if url else esc(commits), None)])
    return rows


HEAD = ["hardware · suite", "cell", "metric", "kind", "change", "95% CI", "p", "first run", "date", "commits"]


def render(t: Trends, repo_url: str | None = None, gate: list | None = None, pct: float | None = None) -> str:
    title = f"Trends: {len(t.history.runs)} runs"
    current = t.current()
    gate_html = ""
    if gate is not None:
        gate_html = (f'<p class="bad">Gate ({pct:g}%): {len(gate)} regression(s) made significant by the newest run: '
                     + esc("; ".join(f"{s.cell_id} {s.metric.label} {fmt_size(s.metric, c.size)}" for s, c in gate))
                     + "</p>") if gate else f"<p>Gate ({pct:g}%): passed.</p>"
    counts = pd.Series([s.verdict for s in t.series], dtype=object).value_counts()
    groups = [[(esc(g.hardware), None), (esc(g.suite), None), (str(g.runs), g.runs), (esc(_date(g.first)), None),
               (esc(_date(g.last)), None), (esc(g.first_run), None), (esc(g.last_run), None)]
              for g in t.groups.itertuples()]
    skipped = ("<details><summary>Left out of the history</summary><ul>"
               + "".join(f"<li>{esc(w)}</li>" for w in t.history.skipped) + "</ul></details>") if t.history.skipped else ""
    body = (f"<h1>{esc(title)}</h1>{gate_html}"
            f'<p class="note">Each series is one cell, one metric, one kind of hardware and one suite. Change points '
            f"come from E-divisive bisection on ranks at α = {t.alpha:g} per series (docs/history.md); a series "
            f"needs {t.needed} judged runs before it has a verdict, and fewer says <em>insufficient data</em>. "
            "Contended points are drawn hollow and never judged. Hover over a change mark for its run and commit; "
            "where the repository is known, the mark links to the diff.</p>"
            + "<p>" + esc(", ".join(f"{int(counts.get(k, 0))} series {k}" for k in ("no change", "changed", INSUFFICIENT)))
            + ".</p>"
            + '<section id="current"><h2>Current regressions and improvements</h2>'
            + (table(HEAD, _change_rows(t, current, repo_url), left=4, tid="current-table", filterable=True)
               if current else "<p>None: every series is at the level it has had since its last change.</p>")
            + "</section>"
            + '<section id="runs"><h2>Runs</h2>'
            + table(["hardware", "suite", "runs", "first", "last", "first run", "last run"], groups, left=2)
            + skipped + "</section>"
            + "".join(group_section(t, gi, repo_url) for gi in range(len(t.groups)))
            + '<section id="changes"><h2>Every change point</h2>'
            + (table(HEAD, _change_rows(t, t.changes(), repo_url), left=4, tid="changes-table", filterable=True)
               if t.changes() else "<p>No change points.</p>") + "</section>")
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{csp()}"><link rel="icon" href="data:,">'
            f"<title>{esc(title)}</title><style>{CSS}{TRENDS_CSS}</style></head><body>{body}"
            f"<script>{JS}</script></body></html>")


def write_trends(t: Trends, out_dir: Path, repo_url: str | None = None, gate: list | None = None,
                 pct: float | None = None) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    path.write_text(render(t, repo_url, gate, pct), encoding="utf-8")
    return path


