"""The run report: one self-contained HTML file, plots inline, every stored string escaped."""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

from bench.report import plots
from bench.store import load_records, read_manifest

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.85rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}th{background:#f4f4f4}
td.l,th.l{text-align:left}.muted{color:#777}.bad{color:#b00020}.note{font-size:.85rem;color:#555}
.figure svg{max-width:100%;height:auto}
"""


def esc(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _num(x, fmt="{:.2f}") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return fmt.format(x)


def _bytes(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x / 1e6:.1f} MB"


def _table(headers: list[str], rows: list[list[str]], left: int = 1) -> str:
    head = "".join(f'<th class="{"l" if i < left else ""}">{esc(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def environment_section(manifest: dict) -> str:
    env = manifest.get("environment", {})
    pk = env.get("packages", {}) or {}
    rows = [
        ["Suite", esc(manifest.get("suite_name"))], ["Run id", esc(manifest.get("run_id"))],
        ["Started / finished (UTC)", f"{esc(manifest.get('started_at'))} / {esc(manifest.get('finished_at'))}"],
        ["Host", esc(env.get("host"))], ["CPU", esc(env.get("cpu_model"))],
        ["CPU count / affinity", f"{esc(env.get('cpu_count'))} / {esc(env.get('affinity'))}"],
        ["Load average (1 min) at start", esc(env.get("loadavg_1m"))],
        ["Governor / frequency", f"{esc(env.get('cpu_governor'))} / {esc(env.get('cpu_freq_mhz'))} MHz"],
        ["Platform / Python", f"{esc(env.get('platform'))} / {esc(env.get('python'))}"],
        ["Git commit", esc(env.get("git_commit"))],
        ["Packages", esc(", ".join(f"{k} {v}" for k, v in pk.items() if v))],
    ]
    return "<h2>Environment</h2>" + _table(["", ""], rows, left=2)


def status_section(df: pd.DataFrame, bad_files: list[str]) -> str:
    counts = df["status"].value_counts().to_dict() if not df.empty else {}
    parts = [f"{esc(k)}: {v}" for k, v in sorted(counts.items())]
    out = f"<h2>Cells</h2><p>{len(df)} cells — {', '.join(parts)}</p>"
    if bad_files:
        out += f'<p class="bad">Unreadable record files skipped: {esc(", ".join(bad_files))}</p>'
    problems = df[df["status"] != "ok"] if not df.empty else df
    if not problems.empty:
        rows = [[esc(r.cell_id), esc(r.status), esc(r.error)] for r in problems.itertuples()]
        out += "<h3>Failed, timed-out and skipped cells</h3>" + _table(["cell", "status", "reason"], rows, left=3)
    return out


def model_tables(df: pd.DataFrame) -> str:
    ok = df[df["status"] == "ok"]
    if ok.empty:
        return "<h2>Results by model</h2><p>No cell finished.</p>"
    out = ['<h2>Results by model</h2><p class="note">Latency is the median of per-iteration samples with its '
           "bootstrap 95% interval. Speedup is the fp32 median over this cell's median on the same target and "
           "workload. Fidelity compares outputs with the fp32 torch reference on identical inputs.</p>"]
    size_col = "seq_len" if ok["seq_len"].notna().any() else "image_size"
    for model, g in ok.groupby("model", sort=True):
        rows = []
        for r in g.sort_values(["target", "batch_size", "optimization"]).itertuples():
            base = ok[(ok["model"] == model) & (ok["optimization"] == "fp32") & (ok["target"] == r.target)
                      & (ok["batch_size"] == r.batch_size) & (ok["seq_len"].fillna(-1) == (r.seq_len if r.seq_len == r.seq_len else -1))
                      & (ok["image_size"].fillna(-1) == (r.image_size if r.image_size == r.image_size else -1))]
            speedup = base["latency_ms_p50"].iloc[0] / r.latency_ms_p50 if len(base) else None
            size = r.seq_len if r.seq_len == r.seq_len and r.seq_len is not None else r.image_size
            rows.append([esc(r.optimization), esc(r.target), esc(f"b{r.batch_size} / {int(size) if size == size else '—'}"),
                         _num(r.latency_ms_p50), f"{_num(r.latency_ms_ci_low)}–{_num(r.latency_ms_ci_high)}",
                         _num(r.latency_ms_p99), _num(speedup, "{:.2f}×"), _num(r.macs / 1e9 if r.macs == r.macs else None, "{:.3f}"),
                         _bytes(r.weight_bytes), _bytes(r.peak_rss_infer_bytes),
                         _num(r.cosine_sim, "{:.5f}"), _num(r.max_abs_err, "{:.2e}"), esc(r.n_samples)])
        out.append(f"<h3>{esc(model)}</h3>")
        out.append(_table(["optimization", "target", "batch / size", "p50 ms", "95% CI ms", "p99 ms", "speedup",
                           "GMACs", "weights", "peak RSS (infer)", "cosine", "max |err|", "samples"], rows, left=3))
    _ = size_col
    return "".join(out)


def render(run_dir: Path) -> str:
    manifest = read_manifest(run_dir)
    df, bad = load_records(run_dir)
    if df.empty:
        df = pd.DataFrame(columns=["status", "cell_id", "error", "model"])
    for col in ("macs", "latency_ms_p50", "seq_len", "image_size"):
        if col not in df.columns:
            df[col] = float("nan")
    title = f"Benchmark report: {manifest.get('suite_name', '?')}"
    body = [f"<h1>{esc(title)}</h1>",
            f'<p class="note">{esc(manifest.get("run_id"))} · generated from stored records; works offline.</p>',
            environment_section(manifest), status_section(df, bad), model_tables(df)]
    if (df["status"] == "ok").any():
        body.append('<h2>Latency against MACs</h2><div class="figure">' + plots.latency_vs_macs(df) + "</div>")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>")


def write_report(run_dir: Path, out_dir: Path) -> Path:
    page = render(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
