"""The report's profiling views: where each cell's time goes, and why an optimization is faster.

Three views of the profiles a run holds (bench.profile): in each cell's detail, its category
breakdown and, for an optimized cell, its attribution against fp32 on the same target; a section
per model with one stacked bar per optimization and target and the attribution tables; and the
categories on the roofline, where the memory-bound parts of a compute-bound model (softmax,
normalization, quantize/dequantize) sit far left of its matmuls. A run without profiles renders
none of it.
"""

from __future__ import annotations

import numpy as np

from bench.profile.diff import attribute_records, baseline_of, describe, ms, summary_line
from bench.profile.table import category_roofline
from bench.profile.taxonomy import CATEGORIES, LABELS
from bench.report import plots
from bench.report.format import esc, is_missing, num, table

COLORS = {"linear": "#0072B2", "attention": "#E69F00", "convolution": "#56B4E9", "normalization": "#009E73",
          "activation": "#CC79A7", "elementwise": "#F0E442", "quantize": "#D55E00", "data_movement": "#999999",
          "other": "#DDDDDD"}
VERDICT_MARK = {"faster": "▲", "slower": "▼", "unchanged": "="}


def _records(run) -> list[dict]:
    return [{k: (None if is_missing(v) else v) for k, v in r.items()} for r in run.ok.to_dict("records")]


def _profiled(recs) -> list[dict]:
    return [r for r in recs if r.get("profile_status") == "ok" and isinstance(r.get("profile_category_ms"), dict)]


def breakdown_table(r: dict) -> str:
    cats = r["profile_category_ms"]
    share = r.get("profile_category_share") or {}
    rows = [[f'<span style="color:{COLORS.get(c, "#000")}">■</span> {esc(LABELS.get(c, c))}',
             (num(v, "{:.3g}"), repr(float(v))), (num(share.get(c), "{:.1%}"), repr(float(share.get(c) or 0)))]
            for c, v in sorted(cats.items(), key=lambda kv: -kv[1])]
    return table(["category", "ms per inference", "share"], rows, left=1)


def change_text(c) -> str:
    if c.verdict in ("added", "removed"):
        return f"{c.verdict} ({'+' if c.delta_ms > 0 else '−'}{ms(abs(c.delta_ms))} ms)"
    return f"{VERDICT_MARK.get(c.verdict, '')} {describe(c).removeprefix(LABELS[c.category]).strip()}"


def attribution_table(att) -> str:
    rows = [[esc(LABELS.get(c.category, c.category)), num(c.a_ms, "{:.3g}"), num(c.b_ms, "{:.3g}"),
             esc(change_text(c)), num(c.share_of_saved, "{:.0%}", missing="")] for c in att.changes]
    ops = []
    for title, items in (("added", [f"{o} ({LABELS[k]}) +{ms(t)} ms" for o, k, t in att.ops_added]),
                         ("removed", [f"{o} ({LABELS[k]}) −{ms(t)} ms" for o, k, t in att.ops_removed]),
                         ("unchanged", [f"{o} ({LABELS[k]})" for o, k, _ in att.ops_unchanged])):
        if items:
            ops.append(f"<li><b>Ops {title}:</b> {esc('; '.join(items[:8]))}{' …' if len(items) > 8 else ''}</li>")
    measured = (f" Timed medians: {num(att.a_measured_ms, '{:.3g}')} → {num(att.b_measured_ms, '{:.3g}')} ms."
                if att.a_measured_ms and att.b_measured_ms else "")
    return (f"<p><b>{esc(summary_line(att))}</b></p>"
            f'<p class="note">Profiled op time per inference: {ms(att.a_total_ms)} ms ({esc(att.a)}) → '
            f"{ms(att.b_total_ms)} ms ({esc(att.b)}).{measured}</p>"
            + table(["category", f"{att.a} ms", f"{att.b} ms", "change", "share of the time saved"], rows, left=1)
            + (f"<ul>{''.join(ops)}</ul>" if ops else ""))


def _facts(r: dict) -> list[list[str]]:
    out = [["profiler", esc(r.get("profile_tool"))],
           ["profiled calls", f"{num(r.get('profile_calls'), '{:.0f}')} at {num(r.get('profile_call_ms'), '{:.4g}')} ms"],
           ["overhead (profiled call / timed median)", num(r.get("profile_overhead_ratio"), "{:.2f}×")],
           ["time basis", esc({"op": "self time of torch CPU operators", "kernel": "GPU kernel time",
                               "node": "ONNX Runtime node time"}.get(r.get("profile_basis"), r.get("profile_basis")))],
           ["Parquet / trace (in the run directory)",
            f"<code>{esc(r.get('profile_file'))}</code> · <code>{esc(r.get('trace_file'))}</code> "
            '<span class="muted">(open the trace in ui.perfetto.dev or chrome://tracing)</span>']]
    if r.get("profile_other_ops"):
        out.append(["ops outside the taxonomy (other)", esc(", ".join(r["profile_other_ops"][:12]))])
    if not is_missing(r.get("hw_ipc")):
        out.append(["hardware counters", f"IPC {num(r['hw_ipc'], '{:.2f}')}; per inference: "
                    f"{num(r.get('hw_instructions_per_inference'), '{:.3g}')} instructions, "
                    f"{num(r.get('hw_cache_misses_per_inference'), '{:.3g}')} cache misses, "
                    f"{num(r.get('hw_llc_misses_per_inference'), '{:.3g}')} LLC load misses"])
    if r.get("hw_counters_note"):
        out.append(["hardware counters: how", esc(r["hw_counters_note"])])
    return out


def cell_detail(run, r) -> str:
    """A cell's profile inside its detail block ("" for a cell that was not profiled)."""
    r = {k: (None if is_missing(v) else v) for k, v in dict(r).items()}
    if r.get("profile_status") == "failed":
        return (f'<h4>Profile</h4><p class="bad">The profiled pass failed: {esc(r.get("profile_error"))}. '
                "The timing above stands.</p>")
    if r.get("profile_status") != "ok" or not isinstance(r.get("profile_category_ms"), dict):
        return ""
    top = [[esc(t.get("op")), esc(LABELS.get(t.get("category"), t.get("category"))), num(t.get("ms"), "{:.3g}"),
            num(t.get("share"), "{:.1%}"), num(t.get("calls"), "{:.4g}")] for t in r.get("profile_top_ops") or []]
    out = ['<h4>Where the time goes</h4><div class="cols">',
           "<div>" + breakdown_table(r) + "</div>",
           "<div>" + table(["top op", "category", "ms", "share", "calls"], top, left=2) + "</div>",
           "<div>" + table(["", ""], _facts(r), left=2) + "</div></div>"]
    base = baseline_of(_records(run), r)
    if base is not None:
        att = attribute_records(run.dir, base, r)
        if att is not None:
            out.append(f"<h4>Against fp32 on {esc(r.get('target'))}</h4>" + attribution_table(att))
    return "".join(out)


def stacked_bars(recs: list[dict], title: str) -> str:
    """One horizontal bar per cell, its categories stacked in milliseconds per inference."""
    import matplotlib.pyplot as plt

    recs = sorted(recs, key=lambda r: (str(r.get("target")), r.get("optimization") != "fp32", str(r.get("optimization"))))
    fig, ax = plt.subplots(figsize=(8.2, 0.42 * len(recs) + 1.5))
    ys = np.arange(len(recs))
    used = []
    for i, r in enumerate(recs):
        left = 0.0
        for c in CATEGORIES:
            v = float((r["profile_category_ms"] or {}).get(c) or 0.0)
            if v <= 0:
                continue
            (bar,) = ax.barh(i, v, left=left, color=COLORS[c], edgecolor="white", linewidth=0.5)
            plots.tip(bar, f"{r['optimization']} · {r['target']}: {LABELS[c]} {v:.3g} ms "
                           f"({v / sum(r['profile_category_ms'].values()):.0%})",
                      model=r.get("model"), target=r.get("target"), opt=r.get("optimization"))
            left += v
            if c not in used:
                used.append(c)
        if r.get("latency_ms_p50"):
            ax.plot([r["latency_ms_p50"]], [i], "|", color="#000000", ms=14, mew=1.5)
    ax.set_yticks(ys, [plots.tex_safe(f"{r['optimization']} · {r['target']}") for r in recs])
    ax.invert_yaxis()
    ax.set_xlabel("Profiled time per inference (ms); | marks the timed median")
    ax.set_title(plots.tex_safe(title), fontsize=9)
    from matplotlib.patches import Patch

    handles = [Patch(color=COLORS[c], label=LABELS[c]) for c in used]
    ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.grid(axis="y", visible=False)
    return plots.to_svg(fig)


def category_roofline_figure(recs: list[dict], markers: dict, roofs: list[dict], bandwidth: float | None,
                             title: str) -> str:
    """Each profiled cell's categories at their intensity and achieved FLOP/s, under the machine's roofs."""
    import matplotlib.pyplot as plt

    points = []
    for r in recs:
        for p in category_roofline(r["profile_category_ms"], r.get("profile_category_flops"),
                                   r.get("profile_category_bytes")):
            points.append((r, p))
    if not points:
        return ""
    fig, ax = plt.subplots(figsize=(7.6, 4.6))
    ai = [p["intensity"] for _, p in points]
    xs = np.logspace(np.log10(max(min(ai) / 4, 1e-3)), np.log10(max(ai) * 4), 200)
    if bandwidth:
        for k, roof in enumerate(roofs):
            ax.plot(xs, np.minimum(roof["peak"], xs * bandwidth) / 1e9, "-", color="#444444",
                    lw=1.4 - 0.3 * min(k, 2), alpha=0.9 - 0.2 * min(k, 2))
            ax.annotate(plots.tex_safe(roof["label"]), (xs[-1], roof["peak"] / 1e9), ha="right", va="bottom", fontsize=7)
    for r, p in points:
        c = p["category"]
        color = COLORS.get(c, "#000000")
        counted = c in ("linear", "attention", "convolution")  # the categories the MAC counter has formulas for
        (pt,) = ax.plot(p["intensity"], p["flops_per_s"] / 1e9, markers.get(r["optimization"], "o"), color=color,
                        mec="#333333" if counted else color, mew=0.6 if counted else 1.4, ms=7,
                        mfc=color if counted else "none")
        plots.tip(pt, f"{r['optimization']} · {r['target']} · {LABELS.get(c, c)}: {p['intensity']:.3g} FLOP/B, "
                      f"{p['flops_per_s'] / 1e9:.3g} GFLOP/s over {p['ms']:.3g} ms"
                      + ("" if counted else " (FLOPs estimated per element)"),
                  model=r.get("model"), target=r.get("target"), opt=r.get("optimization"))
    plots.log_axis(ax, "x", xs)
    plots.log_axis(ax, "y", [p["flops_per_s"] / 1e9 for _, p in points] + [x["peak"] / 1e9 for x in roofs])
    ax.set_xlabel("Arithmetic intensity of the category (FLOP per byte, log)")
    ax.set_ylabel("Achieved GFLOP/s over its profiled time (log)")
    ax.set_title(plots.tex_safe(title), fontsize=9)
    cats = [c for c in CATEGORIES if any(p["category"] == c for _, p in points)]
    opts = sorted({r["optimization"] for r, _ in points}, key=lambda o: (o != "fp32", o))
    handles = [ax.plot([], [], "s", color=COLORS[c], label=LABELS[c])[0] for c in cats]
    handles += [ax.plot([], [], markers.get(o, "o"), color="#555555", mfc="none", label=plots.tex_safe(o))[0]
                for o in opts]
    ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return plots.to_svg(fig)


def profile_section(run, markers: dict) -> str:
    """"Where the time goes": per model and workload, the stacked bars and the attributions; per
    target, the categories on the roofline."""
    recs = _profiled(_records(run))
    failed = [r for r in _records(run) if r.get("profile_status") == "failed"]
    if not recs and not failed:
        return ""
    out = ['<section id="profile"><h2>Where the time goes</h2><p class="note">Each profiled cell ran a short '
           "profiled pass after its timed samples (never inside them). Its operators are mapped onto one taxonomy "
           "for torch and ONNX Runtime (docs/profiling.md), so that optimizations and runtimes break down into the "
           "same categories. Bars are the profiled milliseconds per inference, profiler overhead included; the "
           "tick marks the timed median. Below each model, every optimized cell is attributed against fp32 on "
           "the same target: which categories got faster or slower and by how much, what the optimization "
           "added, what ran unchanged.</p>"]
    if failed:
        out.append('<p class="bad">Profile failed (timing kept): '
                   + esc("; ".join(f"{r['cell_id']}: {r.get('profile_error')}" for r in failed[:6])) + "</p>")
    all_recs = _records(run)
    groups: dict[tuple, list[dict]] = {}
    for r in recs:
        groups.setdefault((r.get("model"), r.get("workload")), []).append(r)
    for (model, wl), g in sorted(groups.items(), key=lambda kv: str(kv[0])):
        out.append(f"<h3>{esc(model)} ({esc(wl)})</h3>")
        out.append(f'<div class="figure">{stacked_bars(g, f"{model} ({wl}): profiled time by operator category")}</div>')
        for r in sorted(g, key=lambda r: (str(r.get("target")), str(r.get("optimization")))):
            base = baseline_of(all_recs, r)
            att = attribute_records(run.dir, base, r) if base is not None else None
            if att is not None:
                out.append(f"<h4>{esc(r.get('optimization'))} against fp32 on {esc(r.get('target'))}</h4>"
                           + attribution_table(att))
    from bench.report.html import _roofs

    ok = run.ok
    for target in sorted({str(r.get("target")) for r in recs}):
        g = ok[ok["target"].astype(str) == target]
        roofs, bw, how = _roofs(run, g)
        svg = category_roofline_figure([r for r in recs if str(r.get("target")) == target], markers, roofs, bw,
                                       f"{target}: operator categories; {how}")
        if svg:
            out.append(f"<h3>Operator categories on the roofline, {esc(target)}</h3><p class=\"note\">Each point is "
                       "one category of one cell: its FLOPs over the bytes its ops read and wrote (each once), and "
                       "the FLOP/s it achieved over its profiled time. Filled points count the counter's MACs "
                       "(linear, attention, convolution); hollow points estimate FLOPs per element (normalization, "
                       "softmax and masking outside fused kernels, activations, quantize/dequantize): they sit "
                       "left of the ridge, bound by memory, however compute-bound the model is. Colour names the "
                       f"category, marker shape the optimization.</p><div class=\"figure\">{svg}</div>")
    return "".join(out) + "</section>"
