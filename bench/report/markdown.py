"""`bench summary RUN_DIR --markdown`: the headline table of a run, for a CI job summary.

One row per cell that ran: median latency with its 95% interval, the speedup of the chain's
median over fp32's on the same model, target and workload, GMACs and cosine similarity to the
fp32 reference. Failed and timed-out cells are listed with their reason; a summary never hides them.
"""

from __future__ import annotations

import re
from pathlib import Path

from bench.report.format import num, workload_label
from bench.report.run_time import describe, time_breakdown
from bench.store import load_records, read_manifest


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_markdown(run_dir: str | Path) -> str:
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    df, bad = load_records(run_dir)
    lines = [f"### Run `{manifest.get('run_id', run_dir.name)}` (suite {manifest.get('suite_name', '?')})", ""]
    if df.empty:
        return "\n".join(lines + ["No records."]) + "\n"
    counts = df.status.value_counts().to_dict()
    lines.append(", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "failed", "timeout", "skipped")) +
                 (f"; {len(bad)} unreadable record files skipped: {', '.join(bad)}" if bad else ""))
    t = time_breakdown(manifest, df)
    if t:
        lines.append(f"Time: {_cell(describe(t))}")
    env = manifest.get("environment") or {}
    gpu = env.get("gpu") or env.get("gpus") or env.get("cuda_device")
    if gpu or env.get("cpu_model"):
        lines.append(f"Host: {env.get('host', '?')}; CPU: {env.get('cpu_model', '?')}" + (f"; GPU: {gpu}" if gpu else ""))
    lines += ["", "| model | optimization | target | workload | p50 ms | 95% CI | speedup vs fp32 | GMACs | cosine |",
              "| --- | --- | --- | --- | ---: | --- | ---: | ---: | ---: |"]
    ok = df[df.status == "ok"].copy()
    ok["_w"] = [workload_label(r) for r in ok.to_dict("records")]
    base = {(r["model"], r["target"], r["_w"]): r["latency_ms_p50"]
            for r in ok.to_dict("records") if r["optimization"] == "fp32"}
    for r in ok.sort_values(["model", "_w", "target", "optimization"]).to_dict("records"):
        ref = base.get((r["model"], r["target"], r["_w"]))
        speed = num(ref / r["latency_ms_p50"], "{:.2f}", missing="") + "x" if ref and r.get("latency_ms_p50") else ""
        ci = (f"{num(r.get('latency_ms_ci_low'), '{:.3g}', missing='')} to "
              f"{num(r.get('latency_ms_ci_high'), '{:.3g}', missing='')}")
        lines.append("| " + " | ".join(_cell(x) for x in (
            r["model"], r["optimization"], r["target"], r["_w"], num(r.get("latency_ms_p50"), "{:.3f}", missing=""),
            ci, speed, num((r.get("macs") or float("nan")) / 1e9, "{:.2f}", missing=""),
            num(r.get("cosine_sim"), "{:.5f}", missing=""))) + " |")
    broken = df[df.status.isin(["failed", "timeout"])]
    if not broken.empty:
        lines += ["", "Cells that did not finish:", ""]
        for r in broken.to_dict("records"):
            lines.append(f"- `{_cell(r['cell_id'])}` ({r['status']}): {_cell(r.get('error') or '')[:300]}")
    return "\n".join(lines) + "\n"


def summary_text(run_dir: str | Path) -> str:
    """`bench summary --format text`: the Markdown summary with its table aligned in plain text.

    Rendered from summary_markdown's own lines, so the two formats cannot disagree on a row.
    """
    lines, table = [], []
    for line in summary_markdown(run_dir).splitlines() + [""]:
        if line.startswith("| "):
            table.append(line)
            continue
        if table:
            lines += _aligned(table)
            table = []
        lines.append(line.removeprefix("### "))
    return "\n".join(lines[:-1]) + "\n"


def _aligned(rows: list[str]) -> list[str]:
    """A Markdown table as columns padded with spaces; right-aligned where its rule says `---:`."""
    cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", r.strip()[1:-1])] for r in rows]
    head, rule, body = cells[0], cells[1], cells[2:]
    right = [c.endswith(":") for c in rule]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if ra else c.ljust(w) for c, w, ra in zip(r, widths, right)).rstrip()

    return [line(head), "  ".join("-" * w for w in widths), *map(line, body)]
