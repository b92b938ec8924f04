"""The run report: one self-contained HTML file, plots inline, every stored string escaped.

Everything a suite or a record supplies goes through `esc` (or matplotlib's own XML escaping in
the SVGs, or a JSON string with `<` escaped for the CSV payload). A Content-Security-Policy that
admits only the report's own script by hash backs the escaping up, and forbids every fetch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.report import plots
from bench.report import profile as profile_view
from bench.report import scenarios as scenarios_view
from bench.report.analysis import BASELINE, MARK, speedups
from bench.report.assets import CSS, JS, csp
from bench.report.data import Run, flag, load_run, records_csv
from bench.report.format import esc, is_missing, num, table
from bench.report.published import published_accuracy
from bench.report.run_time import describe, time_breakdown


def T(x):
    """A text cell: escaped, sorted by its text."""
    return (esc(x), None)


def N(x, fmt="{:.2f}", scale=1.0, suffix=""):
    """A number cell: formatted for people, sorted by its value."""
    if is_missing(x):
        return ("—", "")
    return (num(float(x) * scale, fmt) + suffix, repr(float(x)))


def _figure(svg: str, caption: str = "") -> str:
    if not svg:
        return ""
    cap = f'<p class="note">{caption}</p>' if caption else ""
    return f'<div class="figure">{svg}</div>{cap}'


# --- overview ---------------------------------------------------------------------------------------
def _distinct(df, col) -> str:
    vals = [v for v in df[col].dropna().astype(str).unique()] if col in df.columns else []
    return ", ".join(sorted(vals))


def _state(d: dict | None) -> str:
    if not isinstance(d, dict):
        return "—"
    parts = [f"load {esc(d.get('loadavg_1m'))}", f"governor {esc(d.get('cpu_governor') or '—')}",
             f"clock {esc(d.get('cpu_freq_mhz') or '—')} MHz"]
    return " · ".join(parts)


def _gpu_text(env: dict, gpu) -> str:
    """The GPU the cells used, and how many the machine has: enough to tell two runs' hardware apart."""
    if not gpu:
        return "none recorded"
    if not isinstance(gpu, str):
        return str(gpu)
    n = len(env.get("gpus") or [])
    extra = [f"{env['gpu_selected_by']} of {n} GPUs" if n > 1 and env.get("gpu_selected_by") else "",
             f"driver {env['nvidia_driver']}" if env.get("nvidia_driver") else ""]
    return gpu + (f" ({'; '.join(e for e in extra if e)})" if any(extra) else "")


def overview_section(run: Run) -> str:
    m, df = run.manifest, run.df
    env = m.get("environment", {}) or {}
    pk = env.get("packages", {}) or {}
    desc = ""
    for line in str(m.get("suite_text") or "").splitlines():
        if line.startswith("description:"):
            desc = line.split(":", 1)[1].strip()
    loads = [s.get("loadavg_1m") for s in df.get("state_before", pd.Series(dtype=object)) if isinstance(s, dict)]
    loads = [x for x in loads if isinstance(x, (int, float))]
    gpu = env.get("gpu") or env.get("gpu_name") or env.get("gpus")
    throttled = int((df["gpu_throttled"] == True).sum()) if "gpu_throttled" in df.columns else 0  # noqa: E712
    what = [
        ["Suite", esc(m.get("suite_name")) + (f" — {esc(desc)}" if desc else "")],
        ["Run id", esc(m.get("run_id"))],
        ["Models", esc(_distinct(df, "model"))], ["Optimizations", esc(_distinct(df, "optimization"))],
        ["Targets", esc(_distinct(df, "target"))], ["Workloads", esc(_distinct(df, "workload"))],
    ]
    where = [
        ["Host", esc(env.get("host"))], ["CPU", esc(env.get("cpu_model"))],
        ["CPU count / affinity", f"{esc(env.get('cpu_count'))} / {esc(env.get('affinity'))}"],
        ["GPU", esc(_gpu_text(env, gpu))],
        ["Platform / Python", f"{esc(env.get('platform'))} / {esc(env.get('python'))}"],
    ]
    when = [
        ["Started / finished (UTC)", f"{esc(m.get('started_at'))} / {esc(m.get('finished_at'))}"],
        ["Wall time", num(m.get("wall_s"), "{:.0f} s")],
        ["Where the time went", esc(describe(t)) if (t := time_breakdown(m, df)) else "not recorded"],
        ["Git commit", esc(env.get("git_commit"))],
        ["Packages", esc(", ".join(f"{k} {v}" for k, v in pk.items() if v))],
    ]
    state = [
        ["Machine at start", _state(env)], ["Machine at end", _state(m.get("environment_after"))],
        ["Load before each cell (1 min)", f"{min(loads):.2f} – {max(loads):.2f}" if loads else "—"],
        ["Cells on a throttled GPU", str(throttled) if "gpu_throttled" in df.columns and df["gpu_throttled"].notna().any()
         else "not recorded"],
    ]
    if m.get("machine_peaks"):
        mp = m["machine_peaks"]
        peaks = ", ".join(f"{esc(k)} {float(v) / 1e9:.1f} GFLOP/s" for k, v in (mp.get("matmul_flops_per_s") or {}).items())
        state.append(["Measured peaks", f"{peaks}; memory {num((mp.get('mem_bandwidth_Bps') or float('nan')) / 1e9, '{:.1f}')} GB/s"])
    out = ['<section id="overview"><h2>Overview</h2><div class="cols">',
           "<div><h3>What ran</h3>" + table(["", ""], what, left=2) + "</div>",
           "<div><h3>Where</h3>" + table(["", ""], where, left=2) + "</div>",
           "<div><h3>When and with what</h3>" + table(["", ""], when, left=2) + "</div>",
           "<div><h3>Machine state</h3>" + table(["", ""], state, left=2) + "</div></div>"]
    out.append(status_section(run))
    if m.get("suite_text"):
        out.append(f"<details><summary>Suite file ({esc(m.get('suite_path'))})</summary><pre>{esc(m['suite_text'])}</pre></details>")
    out.append("</section>")
    return "".join(out)


def _badge(status: str) -> str:
    return f'<span class="badge {esc(status)}">{esc(status)}</span>'


def noisy_reason(r) -> str:
    cv, thr = r.get("latency_cv"), r.get("noise_threshold_cv")
    if not is_missing(cv) and not is_missing(thr):
        return f"latency CV {float(cv):.1%} above the threshold {float(thr):.1%}"
    return "flagged noisy by the timer"


def trust_flags(r) -> list[tuple[str, str]]:
    """Why a finished cell's numbers deserve less trust than a plain "ok": (flag, reason) pairs.
    Each is its own flag, shown as its own badge: contention, noise and imprecision are different."""
    if r.get("status") != "ok":
        return []
    out = []
    if flag(r.get("contended")):
        share = r.get("runq_wait_share")
        out.append(("contended", "its threads waited for a CPU "
                    + (f"{float(share):.0%} of the timing window" if not is_missing(share) else "")
                    + " (other work competed for its cores)"))
    if flag(r.get("noisy")):
        out.append(("noisy", noisy_reason(r)))
    if flag(r.get("imprecise")) or (is_missing(r.get("imprecise")) and not is_missing(r.get("timing_target_met"))
                                    and not flag(r.get("timing_target_met"))):
        out.append(("imprecise", "the timer stopped at its time limit before the precision target or the "
                                 "samples asked for"))
    return out


def status_badges(r) -> tuple[str, str]:
    """The status cell of a table: the failure, the trust flags, or a plain ok (never ok with a flag)."""
    if r.get("status") != "ok":
        return _badge(str(r.get("status"))), str(r.get("status"))
    flags = [f for f, _ in trust_flags(r)]
    return (" ".join(_badge(f) for f in flags) or _badge("ok")), (" ".join(flags) or "ok")


def status_section(run: Run) -> str:
    df = run.df
    counts = df["status"].value_counts().to_dict() if not df.empty else {}
    parts = [f"{_badge(k)} {v}" for k, v in sorted(counts.items())]
    flags = [f for r in df.to_dict("records") for f, _ in trust_flags(r)]
    noisy_txt = "".join(f" · {_badge(k)} {flags.count(k)}" for k in ("contended", "noisy", "imprecise") if k in flags)
    if not df["noisy"].notna().any():
        noisy_txt += ' · <span class="muted">noise not assessed by this run</span>'
    from bench.store import missing_cells

    missing = missing_cells(run.dir)  # planned without a record: an interrupted or unfinished run's gap
    missing_txt = f" · {_badge('missing')} {len(missing)} planned without a record" if missing else ""
    out = f"<h3>Cells</h3><p>{len(df)} cells — {' '.join(parts)}{noisy_txt}{missing_txt}</p>"
    if run.bad_files:
        out += f'<p class="bad">Unreadable record files skipped: {esc(", ".join(run.bad_files))}</p>'
    rows = []
    for r in df.to_dict("records"):
        if r["status"] != "ok":
            rows.append([T(r["cell_id"]), (_badge(r["status"]), r["status"]), T(r.get("error"))])
        elif trust_flags(r):
            again = (f" Measured {len(r['attempts'])} times; attempt {int(r['attempt_kept']) + 1} is reported."
                     if isinstance(r.get("attempts"), list) and not is_missing(r.get("attempt_kept")) else "")
            rows.append([T(r["cell_id"]), status_badges(r), T("; ".join(why for _, why in trust_flags(r)) + "." + again)])
    if missing:
        why = (f"no record: the run is {run.manifest.get('status', 'unfinished')}; "
               f"`bench run --resume {run.dir.name}` measures it")
        rows += [[T(c), (_badge("missing"), "missing"), T(why)] for c in missing]
    if rows:
        out += ("<h3>Failed, timed-out, skipped, noisy and missing cells</h3>"
                + table(["cell", "status", "reason"], rows, left=3, tid="problems", filterable=True))
    return out


# --- tradeoffs --------------------------------------------------------------------------------------
def _memory_column(g) -> tuple[str, str]:
    if (g["device"] == "cuda").any() and g["cuda_peak_allocated_bytes"].notna().any():
        return "cuda_peak_allocated_bytes", "CUDA allocator peak (MB)"
    return "peak_rss_infer_bytes", "Peak RSS during inference (MB)"


def _names(pairs) -> str:
    return ", ".join(f"{m} ({w})" for m, w in pairs)


def _with_alternatives(g: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, list]:
    """The rows of groups (by `keys`) that ran two or more optimizations, and the groups that ran one:
    a front or a speedup needs something to compare, and a lone fp32 cell is listed instead."""
    n_opts = g.groupby(keys)["optimization"].transform("nunique")
    alone = sorted(g.loc[n_opts < 2, keys].drop_duplicates().itertuples(index=False, name=None))
    return g[n_opts >= 2], [a[0] if len(keys) == 1 else a for a in alone]


def pareto_section(run: Run, colors, markers) -> str:
    ok = run.ok.copy()
    out = ['<section id="pareto"><h2>Pareto frontiers: cost against fidelity</h2>',
           '<p class="note">Each point is a cell; colour names the model, marker shape the optimization. '
           "Both axes are minimised, so better is lower-left. One figure per target and workload (a front "
           "compares ways of doing the same job). The front is drawn per model: a point is greyed when "
           "another optimization of the same model is at least as faithful and at least as cheap. Fidelity "
           "compares the output with the fp32 torch reference on identical inputs (symlog x axis: the fp32 "
           "cells sit at 0). A model with a single optimization on a target and workload has no front and "
           "is listed instead of drawn. Hover over a point for its cell and values.</p>"]
    if ok.empty:
        return out[0] + "<p>No cell finished.</p></section>"
    for (target, wl), g in ok.groupby(["target", "workload"], sort=True):
        g, alone = _with_alternatives(g, ["model"])
        g = g.copy()
        head = f"<h3>Target {esc(target)}, workload {esc(wl)}</h3>"
        left_out = (f'<p class="muted">Single optimization, no front ({len(alone)}): {esc(", ".join(alone))}.</p>'
                    if alone else "")
        if g.empty:
            out.append(head + left_out)
            continue
        mem_col, mem_label = _memory_column(g)
        g["mem_mb"] = g[mem_col].astype(float) / 1e6
        costs = [("latency_ms_p50", "Median latency (ms)"),
                 ("energy_j_per_inference", plots.energy_label(g["energy_source"], "Energy per inference")),
                 ("mem_mb", mem_label)]
        svg = plots.pareto_figure(g, colors, markers, costs)
        out.append(head + (_figure(svg) or '<p class="muted">No fidelity figures.</p>') + left_out)
    return "".join(out) + accuracy_block(ok, colors) + "</section>"


def accuracy_block(ok: pd.DataFrame, colors) -> str:
    """fp32 latency beside the published accuracy of each model's released checkpoint, per target and
    batch size (one panel per metric with two or more models), and the sources in a table."""
    points = []
    for r in ok[ok["optimization"] == BASELINE].to_dict("records"):
        pub = published_accuracy(r["model"])
        if pub and not is_missing(r.get("latency_ms_p50")):
            points.append({"model": r["model"], "target": r["target"], "batch": "?" if is_missing(r.get("batch_size")) else int(r["batch_size"]),
                           "metric": pub[0], "accuracy": pub[1], "source": pub[2], "latency_ms": r["latency_ms_p50"]})
    if not points:
        return ""
    out = ["<h3>Latency against published accuracy (fp32 models)</h3>",
           '<p class="note">Accuracy is the published figure for the released pretrained checkpoint, not '
           "measured here: this run builds seeded random weights with the same architecture. One panel per "
           "metric that two or more models share. Where the points crowd, only the front (the models that no other "
           "model beats on both accuracy and latency) is labelled: hover over a point for its name. Every "
           "figure and its source is in the table below.</p>"]
    for target, batch in sorted({(p["target"], p["batch"]) for p in points}, key=str):
        ps = [p for p in points if (p["target"], p["batch"]) == (target, batch)]
        counts = pd.Series([p["metric"] for p in ps]).value_counts()
        ps = [p for p in ps if counts[p["metric"]] >= 2]
        if ps:
            out.append(f"<h4>Target {esc(target)}, batch {esc(batch)}</h4>" + _figure(plots.accuracy_figure(ps, colors)))
    seen = sorted({(p["model"], p["metric"], p["accuracy"], p["source"]) for p in points})
    out.append("<details><summary>Published accuracies and their sources</summary>"
               + table(["model", "metric", "published (%)", "source"],
                        [[esc(m), esc(k), f"{v:g}", esc(src)] for m, k, v, src in seen], left=4)
               + "</details>")
    return "".join(out)


def heatmap_section(sp: pd.DataFrame) -> str:
    out = ['<section id="speedup"><h2>Speedup over fp32</h2><p class="note">Median latency of fp32 over the '
           "cell's median, on the same target and workload, with a bootstrap 95% interval on the ratio. "
           f"{MARK['faster']} significantly faster, {MARK['slower']} significantly slower, "
           f"{MARK['no significant difference']} no significant difference (the interval contains 1). "
           "Grey: not run or no fp32 baseline on that target.</p>"]
    if sp.empty:
        return out[0] + "<p>No cell has an fp32 baseline with samples.</p></section>"
    for target, g in sp.groupby("target", sort=True):
        g, alone = _with_alternatives(g, ["model", "workload"])
        left_out = (f'<p class="muted">fp32 only, nothing to compare ({len(alone)}): {esc(_names(alone))}.</p>'
                    if alone else "")
        out.append(f"<h3>Target {esc(target)}</h3>" + (_figure(plots.speedup_heatmap(g)) if not g.empty else "")
                   + left_out)
    return "".join(out) + "</section>"


def _roofs(run: Run, g) -> tuple[list[dict], float | None, str]:
    devs = [d for d in g["roofline_device"].dropna().astype(str).unique() if d != "measured"]
    if devs:
        try:
            from bench.hardware import get_device

            spec = get_device(devs[0])
            roofs = [{"peak": v, "label": f"{k} peak {v / 1e12:.1f} TFLOP/s (spec)"}
                     for k, v in sorted(spec.peak_flops_per_s.items(), key=lambda kv: -kv[1])[:3]]
            return roofs, spec.mem_bandwidth_Bps, f"roofs from the {devs[0]} specification"
        except Exception:  # an unknown device name: plot the points without roofs
            pass
    mp = run.manifest.get("machine_peaks") or {}
    peaks = mp.get("matmul_flops_per_s") or {}
    if (g["device"] == "cpu").all() and peaks and mp.get("mem_bandwidth_Bps"):
        roofs = [{"peak": float(v), "label": f"measured {k} matmul peak {float(v) / 1e9:.0f} GFLOP/s"}
                 for k, v in sorted(peaks.items(), key=lambda kv: -float(kv[1]))]
        return roofs, float(mp["mem_bandwidth_Bps"]), "roofs measured on this machine at the start of the run"
    return [], None, "no peak figures for this device: points only"


def roofline_section(run: Run, colors, markers) -> str:
    ok = run.ok
    if ok.empty or not ok["arithmetic_intensity"].notna().any():
        return ""
    out = ['<section id="roofline"><h2>Roofline</h2><p class="note">Each cell at its arithmetic intensity '
           "(FLOPs over bytes moved) and the FLOP/s it achieved. Below the slanted roof a cell is bound by "
           "memory bandwidth, below the flat one by compute; the distance to the roof is headroom. Colour names "
           "the model, or its family where the run has more models than eight colours can tell apart; marker "
           "shape names the optimization; hover over a point for its cell.</p>"]
    for target, g in ok.groupby("target", sort=True):
        roofs, bw, how = _roofs(run, g)
        svg = plots.roofline_figure(g, colors, markers, roofs, bw, f"{target}: {how}")
        out.append(f"<h3>Target {esc(target)}</h3>" + _figure(svg))
    return "".join(out) + "</section>"


def survey_block(run: Run) -> str:
    try:
        from bench.report.survey import survey_section
    except ImportError:
        return ""
    try:
        body = survey_section(run.df, run.manifest)
    except Exception as e:  # the survey figures must not take the rest of the report down
        return f'<section id="survey"><h2>Survey figures</h2><p class="bad">Not rendered: {esc(type(e).__name__)}: {esc(e)}</p></section>'
    return f'<section id="survey">{body}</section>' if body else ""


# --- tables and detail ------------------------------------------------------------------------------
def cells_section(run: Run, sp: pd.DataFrame) -> str:
    spd = {r.cell_id: r for r in sp.itertuples()}
    rows = []
    facets: dict[str, list] = {"model": [], "optimization": [], "target": [], "status": []}
    for r in run.df.to_dict("records"):
        s = spd.get(r["cell_id"])
        sp_cell = ("—", "") if s is None else (
            f"{s.speedup:.2f}× {MARK.get(s.verdict, '?')}", repr(float(s.speedup)))

        link = (f'<a href="#cell-{esc(r["cell_id"])}">{esc(r["model"])}</a>' if r["cell_id"] in run.samples
                else esc(r["model"]))
        ci = ("—", "") if is_missing(r.get("latency_ms_ci_low")) else \
            (f"{num(r['latency_ms_ci_low'])}–{num(r['latency_ms_ci_high'])}", repr(float(r["latency_ms_ci_low"])))
        status = status_badges(r)
        rows.append([(link, str(r["model"])), T(r["optimization"]), T(str(r["target"]) + (" (emulated)" if flag(r.get("emulated")) else "")),
                     T(r["workload"]), status, N(r.get("latency_ms_p50")), ci, N(r.get("latency_ms_p99")), sp_cell,
                     N(r.get("macs"), "{:.3f}", 1e-9), N(r.get("weight_bytes"), "{:.1f}", 1e-6),
                     N(r.get("peak_rss_infer_bytes"), "{:.0f}", 1e-6), N(r.get("energy_j_per_inference"), "{:.3g}"),
                     N(r.get("cosine_sim"), "{:.5f}"), N(r.get("max_abs_err"), "{:.2e}"), accuracy_cell(r),
                     N(r.get("n_samples"), "{:.0f}"), N(r.get("latency_cv"), "{:.1f}", 100, "%"), contention_cell(r),
                     N(r.get("cell_wall_s"), "{:.1f}")])
        for k, v in (("model", r["model"]), ("optimization", r["optimization"]), ("target", r["target"]),
                     ("status", status[1].split())):
            facets[k].append(v)
    csv_text = records_csv(run.df)
    payload = json.dumps(csv_text).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    fname = f"{run.name}-records.csv"
    return ('<section id="cells"><h2>All cells</h2><p class="note">Click a column heading to sort; type in the box '
            "to filter, or pick a model, optimization, target or status (a trust flag such as contended counts as "
            "a status). The model name links to the cell's latency distribution. p50 is the median of "
            "per-iteration samples with its bootstrap 95% interval; p99 is empty under 100 samples. "
            "GMACs are counted on the graph that runs (1 MAC = 2 FLOPs). CV is the samples' coefficient of "
            "variation; contention the share of the timing window the cell's threads waited for a CPU; cell time "
            "the cell's whole process, build and export included.</p>"
            f'<p><button id="csv-download" type="button" data-filename="{esc(fname)}">Download the records as CSV</button> '
            f'<span class="muted">{len(run.df)} records, embedded in this file</span></p>'
            + table(["model", "optimization", "target", "workload", "status", "p50 ms", "95% CI ms", "p99 ms",
                      "speedup vs fp32", "GMACs", "weights MB", "peak RSS MB", "energy J", "cosine", "max |err|",
                      "accuracy (measured)", "samples", "CV", "contention", "cell time s"], rows, left=5,
                     tid="cells-table", filterable=True, facets=facets, cls="sticky")
            + f'<script type="application/json" id="records-csv">{payload}</script></section>')


def contention_cell(r):
    """The run-queue wait share, and the contended badge where the cell was flagged for it."""
    share = r.get("runq_wait_share")
    if is_missing(share):
        return ("—", "")
    badge = " " + _badge("contended") if any(f == "contended" for f, _ in trust_flags(r)) else ""
    return (f"{float(share):.0%}{badge}", repr(float(share)))


VERDICT_MARK = {"significant drop": "▼", "significant gain": "▲", "no significant change": "="}


def accuracy_text(r) -> str:
    """Measured accuracy with its interval, and the paired verdict against fp32 ("" when not measured)."""
    if is_missing(r.get("accuracy")):
        return ""
    delta = r.get("accuracy_delta_vs_fp32")
    change = "" if is_missing(delta) else (f"; vs fp32 {float(delta):+.3g} [{num(r.get('accuracy_delta_ci_low'), '{:+.3g}')}, "
                                           f"{num(r.get('accuracy_delta_ci_high'), '{:+.3g}')}] "
                                           f"{VERDICT_MARK.get(r.get('accuracy_verdict'), '')}")
    return (f"{esc(r.get('accuracy_metric'))} {float(r['accuracy']):.4g} "
            f"[{num(r.get('accuracy_ci_low'), '{:.4g}')}, {num(r.get('accuracy_ci_high'), '{:.4g}')}]{esc(change)}")


def accuracy_cell(r):
    text = accuracy_text(r)
    return (text or "—", "" if not text else repr(float(r["accuracy"])))


def detail_section(run: Run) -> str:
    ok = run.ok
    items = []
    for r in ok.sort_values(["model", "target", "optimization"]).to_dict("records"):
        x = run.samples.get(r["cell_id"])
        if x is None:
            continue
        pct = np.percentile(x, [0, 10, 25, 50, 75, 90, 99, 100])

        def q(i: int, need: int, pct=pct, n=x.size) -> str:  # a percentile the samples support, or why not
            return num(pct[i], "{:.4g} ms") if n >= need else f"— (under {need} samples)"

        stats = [["samples", str(x.size)], ["min", num(pct[0], "{:.4g} ms")], ["p10", q(1, 10)], ["p25", q(2, 4)],
                 ["p50 (median)", num(pct[3], "{:.4g} ms")],
                 ["95% CI of median", f"{num(r.get('latency_ms_ci_low'), '{:.4g}')} – {num(r.get('latency_ms_ci_high'), '{:.4g}')} ms"
                  if x.size >= 2 else "— (one sample)"],
                 ["p75", q(4, 4)], ["p90", q(5, 10)], ["p99", q(6, 100)], ["max", num(pct[7], "{:.4g} ms")],
                 ["mean ± std", f"{x.mean():.4g} ± {x.std(ddof=1):.3g} ms" if x.size > 1 else "— (one sample)"],
                 ["CV", f"{x.std(ddof=1) / x.mean():.1%}" if x.size > 1 and x.mean() > 0 else "—"],
                 ["contention", "; ".join(why for _, why in trust_flags(r) if _ == "contended") or
                  (f"run-queue wait {float(r['runq_wait_share']):.1%} of the window"
                   if not is_missing(r.get("runq_wait_share")) else "not measured")],
                 ["precision target met", esc(r.get("timing_target_met"))],
                 ["timing mode", esc(r.get("timing_mode")) or "per-call"]]
        if accuracy_text(r):
            stats += [["accuracy (measured, 95% CI; paired vs fp32)", accuracy_text(r)],
                      ["accuracy test", f"{esc(r.get('accuracy_test'))}, p = {num(r.get('accuracy_p_value'), '{:.3g}')}; "
                                        f"{esc(r.get('accuracy_verdict'))}; n = {num(r.get('accuracy_n'), '{:.0f}')}"],
                      ["evaluation data", esc(r.get("accuracy_data"))]]
        elif not is_missing(r.get("accuracy_note")):
            stats.append(["accuracy", esc(r.get("accuracy_note"))])
        svg = plots.latency_histogram(x, float(np.median(x)), (r.get("latency_ms_ci_low"), r.get("latency_ms_ci_high")))
        trace = r.get("latency_sample_t_s")
        if isinstance(trace, (list, tuple, np.ndarray)) and len(trace) == x.size:
            svg += plots.latency_trace(trace, x, float(np.median(x)))
        noisy = "".join(" " + _badge(f) for f, _ in trust_flags(r))
        items.append(f'<details class="cell" id="cell-{esc(r["cell_id"])}"><summary>{esc(r["model"])} · '
                     f'{esc(r["optimization"])} · {esc(r["target"])} · {esc(r["workload"])} — '
                     f'p50 {num(r.get("latency_ms_p50"))} ms{noisy}</summary><div class="cols">'
                     f'<div class="figure">{svg}</div>{table(["statistic", "value"], stats, left=1)}</div>'
                     f'{profile_view.cell_detail(run, r)}</details>')
    if not items:
        return ""
    return ('<section id="detail"><h2>Per-cell detail</h2><p class="note">Open a cell for its latency '
            "distribution: the histogram of per-iteration samples, the median with its bootstrap 95% interval, "
            "and percentiles taken from the samples themselves.</p>" + "".join(items) + "</section>")


def banner(run: Run) -> str:
    """Said first and loudly: numbers taken on a machine that was not the run's alone."""
    c = run.manifest.get("contention") or {}
    contended = [r["cell_id"] for r in run.ok.to_dict("records") if flag(r.get("contended"))]
    msgs = []
    if c.get("machine_never_quiet"):
        msgs.append("The machine never became quiet while contended or noisy cells were measured again: their "
                    "numbers include other work on this machine.")
    if contended:
        msgs.append(f"{len(contended)} cell(s) stayed contended (other work competed for their CPUs while they were "
                    f"timed; badges below): {esc(', '.join(contended[:6]))}{' ...' if len(contended) > 6 else ''}. "
                    "Compare their latencies with care, and re-run them on a quiet machine.")
    return f'<div class="banner" id="trust-banner">{"<br>".join(msgs)}</div>' if msgs else ""


def headline_section(run: Run, sp: pd.DataFrame) -> str:
    """The first screen: per model and target, the fastest cell within tolerance of fp32."""
    from bench.report import headline

    tol = headline.tolerance(run.manifest)
    ref = headline.reference_target(run.manifest, run.ok)
    head = headline.table(run.ok, sp, tol, run.samples, ref)
    out = [banner(run), f'<section id="headline"><h2>Fastest within {tol:.0%} of fp32</h2><p class="note">Per model, target and '
           f"workload: the cell with the lowest median latency whose quality stays within {tol:.0%} of the fp32 "
           "model's (the suite's <code>accuracy_tolerance</code>; 1% is MLPerf's 99% rule). Quality is the task "
           "accuracy measured on the suite's evaluation data where the run has it, and otherwise the output's "
           "cosine similarity to fp32 (fidelity: a weaker proxy, named in the basis column). Speedup is fp32's "
           "median over the cell's on the same target, with its bootstrap 95% interval; the next column "
           f"compares every target with one baseline, fp32 on {esc(ref or 'the reference target')} (the suite's "
           "first target), so that targets compare.</p>"]
    if head.empty:
        return "".join(out) + "<p>No model has an fp32 cell and a cell within tolerance to compare.</p></section>"

    by_id = {r["cell_id"]: r for r in run.ok.to_dict("records")}
    base_of = {(r["model"], r["target"], r["workload"]): r for r in run.ok.to_dict("records")
               if r["optimization"] == BASELINE}

    def trust(r) -> tuple[str, str]:
        """The cell's own flags, and its fp32 baseline's (a speedup is only as good as both)."""
        mine = status_badges(by_id[r["cell_id"]])
        base = base_of.get((r["model"], r["target"], r["workload"]))
        if base is not None and base["cell_id"] != r["cell_id"] and trust_flags(base):
            return mine[0] + " · fp32: " + status_badges(base)[0], mine[1] + " fp32-" + status_badges(base)[1]
        return mine

    def rows(h):
        return [[T(r["model"]), T(r["target"]), T(r["workload"]), T(r["optimization"]), trust(r),
                 N(r["latency_ms_p50"], "{:.3g}"),
                 (f"{num(r['speedup'], '{:.2f}')}× [{num(r['speedup_ci_low'], '{:.2f}')}, "
                  f"{num(r['speedup_ci_high'], '{:.2f}')}] {MARK.get(r['verdict'], '')}",
                  "" if is_missing(r["speedup"]) else repr(float(r["speedup"]))),
                 (f"{num(r['ref_speedup'], '{:.2f}')}× [{num(r['ref_ci_low'], '{:.2f}')}, "
                  f"{num(r['ref_ci_high'], '{:.2f}')}] {MARK.get(r['ref_verdict'], '')}",
                  "" if is_missing(r["ref_speedup"]) else repr(float(r["ref_speedup"]))),
                 N(r["quality"], "{:.4g}"), T(r["basis"]), T(r["accuracy_verdict"]), N(r["candidates"], "{:.0f}")]
                for r in h.to_dict("records")]
    headers = ["model", "target", "workload", "fastest within tolerance", "trust", "p50 ms", "speedup vs fp32 [95% CI]",
               f"vs fp32 on {ref or 'the reference target'}",
               "quality", "basis", "accuracy vs fp32 (paired test)", "cells within tolerance"]
    out.append(table(headers, rows(head), left=5, tid="headline-table"))
    best = headline.best_across_targets(head)
    if best["target"].nunique() > 1 or head["target"].nunique() > 1:
        out.append("<h3>Best across targets</h3>" + table(headers, rows(best), left=5))
    return "".join(out) + "</section>"


def render(run_dir: Path) -> str:
    run = load_run(run_dir)
    colors, markers = plots.styles(run.df)
    sp = speedups(run.ok, run.samples)
    title = f"Benchmark report: {run.manifest.get('suite_name', '?')}"
    sections = [headline_section(run, sp), overview_section(run), pareto_section(run, colors, markers), heatmap_section(sp),
                scenarios_view.section(run, colors, markers), roofline_section(run, colors, markers), survey_block(run),
                cells_section(run, sp)]
    if (run.df["status"] == "ok").any() and run.ok["macs"].notna().any():
        sections.append('<section id="macs"><h2>Latency against MACs</h2>'
                        + _figure(plots.latency_vs_macs(run.df)) + "</section>")
    sections.append(profile_view.profile_section(run, markers))
    sections.append(detail_section(run))
    nav_names = [("headline", "Headline"), ("overview", "Overview"), ("pareto", "Pareto"), ("speedup", "Speedups"), ("scenarios", "Scenarios"), ("roofline", "Roofline"),
                 ("survey", "Survey"), ("cells", "All cells"), ("macs", "MACs"), ("profile", "Where the time goes"), ("detail", "Per-cell detail")]
    body = "".join(sections)
    nav = " ".join(f'<a href="#{k}">{v}</a>' for k, v in nav_names if f'id="{k}"' in body)
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{csp()}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{esc(title)}</title><style>{CSS}</style></head><body>'
            f"<h1>{esc(title)}</h1><p class=\"note\">{esc(run.name)} · generated from stored records; "
            f"works offline.</p><nav>{nav}</nav>{body}<script>{JS}</script></body></html>")


def write_report(run_dir: Path, out_dir: Path) -> Path:
    page = render(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path



