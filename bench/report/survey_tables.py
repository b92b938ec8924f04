"""The survey section's tables in HTML: reported against measured, NLP speedups, and the points a
figure left unlabelled.

`survey.reported_vs_measured` keeps one line per published point, quantity and runtime format:
the CSV reads best that way. On the page that was 246 rows on survey-cpu, each point's
explanation printed three or four times, and half the page. Here a point is one row: each
quantity a compact cell (published → measured, ×ratio; one line per format for sizes), the
explanation once, folded.
"""

from __future__ import annotations

import pandas as pd

from bench.report.format import esc, is_missing, num, table

QUANTITIES = ["parameters (M)", "MACs (G)", "model size (MB)"]
GIST = 70  # characters of an explanation shown before it is opened


def rvm_html(rvm: pd.DataFrame) -> str:
    if rvm.empty:
        return "<p>No published point has a measured counterpart in this run.</p>"
    rows = [_point_row(g) for _, g in rvm.groupby("point", sort=False)]
    return table(["point", "zoo model", "measured as (chain)", *QUANTITIES, "published top-1 (%)",
                  "measured top-1 (%)", "top-1 measured / published", "cosine vs fp32", "status", "explanation"],
                 rows, left=3, text_cols=(11, 12), tid="rvm-table", cls="rvm")


def _point_row(g: pd.DataFrame) -> list:
    r = g.iloc[0]
    chains: list[str] = []
    for c in g["optimization"]:
        if c and not any(c in k for k in chains):
            chains.append(c)
    point = f'{esc(r.point)}<br><span class="muted">{esc(r.figures)}</span>'
    measured_as = esc("; ".join(chains)) + (" <b>(proxy)</b>" if g["proxy"].any() else "")
    return [(point, str(r.point)), esc(r.zoo_model), measured_as, *[_quantity(g, q) for q in QUANTITIES],
            num(r.published_top1, "{:g}"), (_measured_top1_html(r), r.measured_top1),
            num(r.top1_ratio, "{:.3f}", missing=""), _cosine(g), esc(r.status), _explanation(r.explanation)]


def _quantity(g: pd.DataFrame, q: str):
    """Published → measured ×ratio; a size has one published figure and a measured one per runtime
    format ("torch 23.1 ×1.048"). Sorted by the first ratio."""
    lines = g[g["quantity"].str.startswith(q)]
    if lines.empty:
        return ("", "")
    pubs = list(dict.fromkeys(_published(r) for r in lines.itertuples()))
    meas = [(r.quantity[len(q):].strip(" []"), f'{num(r.measured, "{:.4g}")} <span class="muted">×{num(r.ratio, "{:.3f}")}</span>')
            for r in lines.itertuples()]
    if len(meas) == 1 and not meas[0][0]:
        html = f'<div class="q">{pubs[0]} → {meas[0][1]}</div>'
    else:
        html = (f'<div class="q">{" / ".join(pubs)} →</div>'
                + "".join(f'<div class="q">{esc(fmt)} {m}</div>' for fmt, m in meas))
    first = lines["ratio"].iloc[0]
    return html, "" if is_missing(first) else repr(float(first))


def _published(r) -> str:
    text = esc(r.published_text or num(r.published, "{:.3g}"))
    return text.replace(" [derived: params x bits / 8]", ' <span class="muted">derived</span>')


def _cosine(g: pd.DataFrame) -> str:
    """The lowest output cosine of the point's cells; where quantities read different cells (one
    runtime's file for size), each value with what it belongs to."""
    vals: dict[str, list[str]] = {}
    for r in g.itertuples():
        if not is_missing(r.cosine_vs_fp32):
            vals.setdefault(num(r.cosine_vs_fp32, "{:.4f}"), []).append(r.quantity.split(" (")[0] + (
                " " + r.quantity.split(") ")[1] if ") [" in r.quantity else ""))
    if len(vals) <= 1:
        return next(iter(vals), "—")
    return "<br>".join(f'{v} <span class="muted">({esc(", ".join(qs))})</span>' for v, qs in vals.items())


def _explanation(text) -> str:
    """Said once per point, and folded when long: the table stays a table."""
    if is_missing(text) or not str(text).strip():
        return ""
    text = str(text).strip()
    if len(text) <= GIST:
        return esc(text)
    return f"<details><summary>{esc(text[:GIST].rsplit(' ', 1)[0])} …</summary>{esc(text)}</details>"


def _measured_top1_html(r) -> str:
    """Empty where no cell measured the row's top-1; else the value, its interval, n and the cell."""
    if is_missing(r.measured_top1):
        return ""
    lo, hi = r.measured_top1_ci_low, r.measured_top1_ci_high
    how = [] if is_missing(lo) or is_missing(hi) else [f"{lo:.1f}–{hi:.1f}"]
    how.append(f"n={int(r.measured_top1_n)}" if not is_missing(r.measured_top1_n) else "n not recorded")
    return f'{r.measured_top1:.1f} ({", ".join(how)})<br><span class="muted">{esc(r.measured_top1_cell)}</span>'


def unlabelled_html(rows: list[dict]) -> str:
    """The points a hardware figure left without a label, with their values: hover names them too."""
    if not rows:
        return ""
    panels = rows[0]["panels"]
    body = [[esc(r["point"]), esc(r["target"]), esc(r["technique"]), num(r["top1"], "{:g}")]
            + [num(r.get(p), "{:.4g}") for p in panels]
            + [esc(", ".join(p for p in panels if p not in r["labelled"]))]
            for r in sorted(rows, key=lambda r: (r["target"], -r["top1"], r["point"]))]
    return (f'<details class="unlabelled"><summary>{len(rows)} points without a label on some panel '
            "(not on a front, or no room beside it): hover over a point for its name, or read them here"
            "</summary>" + table(["point", "target", "technique, bits", "top-1 (%)", *panels, "no label on"],
                                 body, left=3) + "</details>")


def nlp_html(nlp: pd.DataFrame) -> str:
    if nlp.empty:
        return ("<p>This run has no pair of text cells (a distilled or int8 model and BERT-base fp32 on the same "
                "target and workload) to compare with the published speedups.</p>")
    rows = [[esc(r.claim), esc(r.published_speedup), esc(r.published_hardware), esc(r.measured_model),
             esc(r.target), esc(r.hardware), esc(r.workload), num(r.measured_speedup, "{:.2f}×"),
             f"{num(r.ci_low, '{:.2f}')}–{num(r.ci_high, '{:.2f}')}", esc(r.verdict)] for r in nlp.itertuples()]
    return table(["published claim", "published speedup", "published hardware", "measured here", "target",
                  "this run's hardware", "workload", "measured speedup vs BERT-base fp32", "95% CI", "verdict"],
                 rows, left=7)
