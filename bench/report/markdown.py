"""`bench summary RUN_DIR --markdown`: the headline table of a run, for a CI job summary.

One row per cell that ran: median latency with its 95% interval, the speedup of the chain's
median over fp32's on the same model, target and workload, GMACs and cosine similarity to the
fp32 reference. Failed and timed-out cells are listed with their reason; a summary never hides them.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.report.run_time import describe, time_breakdown
from bench.store import load_records, read_manifest


def _num(x, fmt: str) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(v) else format(v, fmt)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _workload(row) -> str:
    size = row.get("seq_len")
    if size is not None and not (isinstance(size, float) and math.isnan(size)):
        return f"b{int(row['batch_size'])}-s{int(size)}"
    return f"b{int(row['batch_size'])}-i{int(row['image_size'])}"


def summary_markdown(run_dir: str | Path) -> str:
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    df, bad = load_records(run_dir)
    lines = [f"### Run `{manifest.get('run_id', run_dir.name)}` (suite {manifest.get('suite_name', '?')})", ""]
    if df.empty:
        return "\n".join(lines + ["No records."]) + "\n"
    counts = df.status.value_counts().to_dict()
    lines.append(", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "failed", "timeout", "skipped")) +
                 (f"; {len(bad)} unreadable record files" if bad else ""))
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
    ok["_w"] = [_workload(r) for r in ok.to_dict("records")]
    base = {(r["model"], r["target"], r["_w"]): r["latency_ms_p50"]
            for r in ok.to_dict("records") if r["optimization"] == "fp32"}
    for r in ok.sort_values(["model", "_w", "target", "optimization"]).to_dict("records"):
        ref = base.get((r["model"], r["target"], r["_w"]))
        speed = _num(ref / r["latency_ms_p50"], ".2f") + "x" if ref and r.get("latency_ms_p50") else ""
        ci = f"{_num(r.get('latency_ms_ci_low'), '.3g')} to {_num(r.get('latency_ms_ci_high'), '.3g')}"
        lines.append("| " + " | ".join(_cell(x) for x in (
            r["model"], r["optimization"], r["target"], r["_w"], _num(r.get("latency_ms_p50"), ".3f"), ci, speed,
            _num((r.get("macs") or float("nan")) / 1e9, ".2f"), _num(r.get("cosine_sim"), ".5f"))) + " |")
    broken = df[df.status.isin(["failed", "timeout"])]
    if not broken.empty:
        lines += ["", "Cells that did not finish:", ""]
        for r in broken.to_dict("records"):
            lines.append(f"- `{_cell(r['cell_id'])}` ({r['status']}): {_cell(r.get('error') or '')[:300]}")
    return "\n".join(lines) + "\n"
