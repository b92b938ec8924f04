"""Matplotlib figures rendered to inline SVG, with a colour-blind-safe palette (Okabe-Ito)."""

from __future__ import annotations

import io
import itertools
import re

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.report.format import esc, is_missing  # noqa: E402

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
# Fourteen shapes that stay apart at 7 pt; a survey-sized suite has a dozen optimizations.
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "p", "h", "d", "8"]

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.grid": True, "grid.alpha": 0.3})


_TIPS: dict[str, tuple[str, dict]] = {}
_TIP_IDS = itertools.count()


def tip(artist, text: str = "", **data) -> None:
    """Hover text for one plotted point: an SVG <title>, which every browser shows as a tooltip.

    Forty models cannot all carry a readable label, so the figures label what matters (the fronts)
    and let the reader hover over the rest. Ids count up per process, so the inline SVGs of one
    report never share one. `data` (model, target, opt, technique) become data- attributes of the
    point's group: the report's script shows and hides points by them, so a point, its error bars,
    its front line and its label are all named the same way.
    """
    gid = f"tip{next(_TIP_IDS)}"
    artist.set_gid(gid)
    _TIPS[gid] = (str(text), {k: str(v) for k, v in data.items() if not is_missing(v)})


def tag(artists, **data) -> None:
    """What belongs to a point without being its marker (error bars, a front line): named like it, no title."""
    for a in artists:
        tip(a, "", **data)


def _insert_tips(svg: str) -> str:
    def title(m):
        text, data = _TIPS.pop(m.group(1), ("", {}))
        attrs = "".join(f' data-{k}="{esc(v)}"' for k, v in data.items())
        return f'<g id="{m.group(1)}"{attrs}>' + (f"<title>{esc(text)}</title>" if text else "")

    return re.sub(r'<g id="(tip\d+)">', title, svg)


MEASURED_ENERGY = {"nvml-counter", "rapl"}


def energy_label(sources, name: str = "energy per inference") -> str:
    """An energy axis says where its joules come from: a counter measured them, or a model estimated
    them (`analytic-model`, `tdp-x-time`); the two differ by factors, so a reader must not mix them."""
    srcs = sorted({str(s) for s in sources if not is_missing(s)})
    if not srcs:
        return f"{name} (J, source not recorded)"
    kinds = [f"measured: {s}" if s in MEASURED_ENERGY else f"estimate: {s}" for s in srcs]
    return f"{name} (J, {'; '.join(kinds)})"


def to_svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)  # creation date and RDF boilerplate
    return _insert_tips(svg[svg.index("<svg"):])


def latency_vs_macs(df) -> str:
    """One point per cell: counted GMACs against median latency, colour by model, marker by optimization."""
    ok = df[(df["status"] == "ok") & df["latency_ms_p50"].notna() & df["macs"].notna()]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colors, markers = styles(df)
    key, cmap = colour_by(ok, colors)
    markers = {o: m for o, m in markers.items() if o in set(ok["optimization"])}
    for _, r in ok.iterrows():
        c = cmap[str(r[key]) if key == "model" or r[key] == r[key] else "other"]
        bar = ax.errorbar([r["macs"] / 1e9], [r["latency_ms_p50"]],
                          yerr=[[r["latency_ms_p50"] - r["latency_ms_ci_low"]], [r["latency_ms_ci_high"] - r["latency_ms_p50"]]],
                          fmt=markers[r["optimization"]], color=c, ms=6, capsize=2, linestyle="none")
        names = {"model": r["model"], "target": r["target"], "opt": r["optimization"]}
        tip(bar.lines[0], f"{r['cell_id']}: {r['macs'] / 1e9:.3g} GMACs, {r['latency_ms_p50']:.3g} ms", **names)
        tag([*bar.lines[1], *bar.lines[2]], **names)
    for name, c in cmap.items():
        ax.plot([], [], "o", color=c, label=tex_safe(name if key == "model" else f"family: {name}"))
    for opt, m in markers.items():
        ax.plot([], [], m, color="grey", label=opt)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Counted MACs per inference call (G, log scale)")
    ax.set_ylabel("Median latency (ms, log scale, 95% CI)")
    ax.set_title("Latency against counted MACs (all targets)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return to_svg(fig)


# --- the analyst's figures ------------------------------------------------------------------------
GREY = "#BBBBBB"


def tex_safe(s) -> str:
    """Matplotlib reads `$...$` as math; a suite's names are plain text."""
    return str(s).replace("$", r"\$")


def spans_decades(values, ratio: float = 30.0) -> bool:
    v = [float(x) for x in values if x == x and x is not None and float(x) > 0]
    return len(v) > 1 and max(v) / min(v) >= ratio


def log_axis(ax, which: str, values=None) -> None:
    """Log scale with plain tick labels (0.5, 20, 300), not 2×10^1; minor labels only over a short span."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    axis.set_major_formatter(plain)
    v = [float(x) for x in (values if values is not None else []) if x == x and x is not None and float(x) > 0]
    span = max(v) / min(v) if v else float("inf")
    short = span < 100

    def some(x, _):
        lead = f"{x:.0e}"[0]
        return f"{x:g}" if span < 3 or lead in "235" else ""

    axis.set_minor_formatter(FuncFormatter(some) if short else NullFormatter())


def styles(df) -> tuple[dict[str, str], dict[str, str]]:
    """One colour per model and one marker per optimization, fixed for the whole report.

    Eight colours cannot tell forty models apart, so the models with several optimizations (the
    ones the Pareto fronts draw) take the palette first and get distinct colours where they number
    eight or fewer; the fp32-only models share what is left.
    """
    d = df[["model", "optimization"]].dropna().astype(str)
    n_opts = d.groupby("model")["optimization"].nunique()
    order = sorted(n_opts.index, key=lambda m: (n_opts[m] < 2, m))
    colors = {m: OKABE_ITO[i % len(OKABE_ITO)] for i, m in enumerate(order)}
    opts = sorted(set(d["optimization"]), key=lambda o: (o != "fp32", o))  # the baseline is always a circle
    markers = {o: MARKERS[i % len(MARKERS)] for i, o in enumerate(opts)}
    return colors, markers


def colour_by(d, colors) -> tuple[str, dict[str, str]]:
    """What a many-model scatter colours by: the model while colours can tell the models apart,
    else the model family (the model is in each point's hover title).

    Returns the record column and its colour map. The report-wide model colours are kept when
    they are distinct among the plotted models, so a model looks the same as in the Pareto fronts.
    """
    models = sorted(set(d["model"].astype(str)))
    if len({colors[m] for m in models}) == len(models):
        return "model", {m: colors[m] for m in models}
    if len(models) <= len(OKABE_ITO):
        return "model", {m: OKABE_ITO[i] for i, m in enumerate(models)}
    fams = d["family"].map(lambda f: "other" if is_missing(f) else str(f)) if "family" in d.columns else None
    if fams is None or fams.nunique() > len(OKABE_ITO):
        return "model", {m: colors[m] for m in models}
    return "family", {f: OKABE_ITO[i] for i, f in enumerate(sorted(set(fams)))}


def _legend(ax, colors, markers, used_models, used_opts):
    """Proxy handles: colour names the model, marker shape names the optimization."""
    handles = [ax.plot([], [], "o", color=colors[m], label=tex_safe(m))[0] for m in sorted(used_models)]
    handles += [ax.plot([], [], markers[o], color="#555555", mfc="none", label=tex_safe(o))[0] for o in sorted(used_opts)]
    handles.append(ax.plot([], [], "o", color=GREY, mfc="none", label="dominated (same model)")[0])
    return handles


FID_SHORT = {"accuracy_loss": "accuracy drop", "cosine_loss": "1 − cosine", "max_abs_err": "max |error|"}
FIDELITY = [("accuracy_loss", "Measured accuracy drop vs fp32, paired (symlog; < 0: better)", 1e-3),
            ("cosine_loss", "Fidelity loss: 1 − cosine similarity to fp32 (symlog)", 1e-6),
            ("max_abs_err", "Max |error| vs fp32 output (symlog)", 1e-5)]


def accuracy_loss(g) -> pd.Series:
    """The measured change against fp32 as a loss (higher is worse), whatever the metric's direction."""
    if "accuracy_delta_vs_fp32" not in g or "accuracy_metric" not in g:
        return pd.Series(np.nan, index=g.index)
    delta = g["accuracy_delta_vs_fp32"].astype(float)
    return delta.where(g["accuracy_metric"] == "perplexity", -delta)


def pareto_figure(g, colors, markers, costs: list[tuple[str, str]]) -> str:
    """Cost against fidelity loss for one target; the front is drawn per model, dominated points grey.

    `costs` are (column, axis label) pairs. Both axes are minimised, so the front runs lower-left.
    """
    from bench.report.analysis import pareto_mask

    g = g.copy()
    g["cosine_loss"] = (1 - g["cosine_sim"].astype(float)).clip(lower=0)
    g["accuracy_loss"] = accuracy_loss(g)
    fids = [f for f in FIDELITY if g[f[0]].notna().any()]
    costs = [c for c in costs if g[c[0]].notna().any()]
    if not fids or not costs:
        return ""
    fig, axes = plt.subplots(len(costs), len(fids), figsize=(4.6 * len(fids) + 1.8, 3.3 * len(costs)), squeeze=False)
    for i, (cost, clabel) in enumerate(costs):
        for j, (fid, flabel, linthresh) in enumerate(fids):
            ax = axes[i][j]
            d = g[g[cost].notna() & g[fid].notna()]
            for model, gm in d.groupby("model"):
                front = pareto_mask(gm[fid], gm[cost])
                for r, on_front in zip(gm.itertuples(), front):
                    color = colors[model] if on_front else GREY
                    x, y = getattr(r, fid), getattr(r, cost)
                    (pt,) = ax.plot([x], [y], markers[r.optimization], color=color, ms=7, linestyle="none",
                                    mfc=color if on_front else "none", zorder=3 if on_front else 2)
                    tip(pt, f"{model} · {r.optimization}: {clabel} {y:.4g}; {FID_SHORT[fid]} {x:.3g}"
                             + ("" if on_front else " (dominated)"), model=model, target=r.target, opt=r.optimization)
                f = gm[front].sort_values(fid)
                if len(f) > 1:
                    tag(ax.plot(f[fid], f[cost], "-", color=colors[model], lw=1, alpha=0.7, drawstyle="steps-post"),
                        model=model)
            ax.set_xscale("symlog", linthresh=linthresh)
            if fid != "accuracy_loss":  # an optimization can gain measured accuracy, never fidelity
                ax.set_xlim(left=0)
            if spans_decades(d[cost]):
                log_axis(ax, "y", d[cost])
            ax.set_xlabel(flabel)
            ax.set_ylabel(clabel)
    used_models, used_opts = set(g["model"].astype(str)), set(g["optimization"].astype(str))
    handles = _legend(axes[0][0], colors, markers, used_models, used_opts)
    fig.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return to_svg(fig)


def accuracy_figure(points, colors) -> str:
    """fp32 latency against published task accuracy, one marker per model; greyed when another model
    is at least as accurate and at least as fast (accuracy maximised, latency minimised)."""
    if not points:
        return ""
    metrics = sorted({p["metric"] for p in points})
    widths = [7.0 if sum(p["metric"] == m for p in points) > 12 else 4.6 for m in metrics]
    fig, axes = plt.subplots(1, len(metrics), figsize=(sum(widths) + 1.5, 4.2 if max(widths) > 5 else 3.4),
                             squeeze=False, gridspec_kw={"width_ratios": widths})
    from bench.report.analysis import pareto_mask
    from bench.report.labels import Request, place

    first, then, markers = [], [], []
    for ax, metric in zip(axes[0], metrics):
        ps = [p for p in points if p["metric"] == metric]
        front = pareto_mask([-p["accuracy"] for p in ps], [p["latency_ms"] for p in ps])
        crowded = len(ps) > 12  # label the front only; hovering names every point
        for p, on_front in zip(ps, front):
            c = colors.get(p["model"], "#000000") if on_front else GREY
            (pt,) = ax.plot(p["accuracy"], p["latency_ms"], "o", color=c, mfc=c if on_front else "none", ms=7,
                            label=tex_safe(p["model"]))
            names = {"model": p["model"], "target": p["target"]}
            tip(pt, f"{p['model']}: {p['accuracy']:g}% {metric}, {p['latency_ms']:.3g} ms", **names)
            markers.append((ax, p["accuracy"], p["latency_ms"]))
            if on_front or not crowded:
                (first if on_front else then).append(Request(ax, p["accuracy"], p["latency_ms"], p["model"], names))
        if spans_decades([p["latency_ms"] for p in ps]):
            log_axis(ax, "y", [p["latency_ms"] for p in ps])
        ax.set_xlabel(f"Published {tex_safe(metric)} (%) of the pretrained model")
        ax.set_ylabel("Median latency, fp32 (ms)")
    fig.tight_layout()
    place(fig, first + then, markers)
    return to_svg(fig)


def speedup_heatmap(sp) -> str:
    """Model x optimization speedup over fp32 on one target; colour on a log2 scale centred on 1x."""
    from matplotlib.colors import TwoSlopeNorm

    from bench.report.analysis import MARK

    rows = sorted({(m, w) for m, w in zip(sp["model"], sp["workload"])})
    cols = sorted(set(sp["optimization"]), key=lambda o: (o != "fp32", o))
    grid = np.full((len(rows), len(cols)), np.nan)
    text = [["n/a"] * len(cols) for _ in rows]
    for r in sp.itertuples():
        i, j = rows.index((r.model, r.workload)), cols.index(r.optimization)
        grid[i, j] = np.log2(r.speedup)
        text[i][j] = f"{r.speedup:.2f}× {MARK.get(r.verdict, '?')}"
    lim = max(0.5, float(np.nanmax(np.abs(grid)))) if np.isfinite(grid).any() else 1.0
    fig, ax = plt.subplots(figsize=(1.5 * len(cols) + 3.2, 0.5 * len(rows) + 1.8))
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="PuOr", norm=TwoSlopeNorm(0, -lim, lim), aspect="auto")
    ax.set_facecolor("#EEEEEE")
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = grid[i, j]
            dark = np.isfinite(v) and abs(v) > 0.6 * lim
            ax.text(j, i, tex_safe(text[i][j]), ha="center", va="center", fontsize=8,
                    color="white" if dark else "#222222")
    ax.set_xticks(range(len(cols)), [tex_safe(c) for c in cols], rotation=25, ha="right")
    ax.set_yticks(range(len(rows)), [tex_safe(f"{m} ({w})") for m, w in rows])
    ax.grid(False)
    ax.set_xlabel("Optimization")
    ax.set_ylabel("Model (workload)")
    cb = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    ticks = [t for t in (-3, -2, -1, 0, 1, 2, 3) if abs(t) <= lim]
    cb.set_ticks(ticks, labels=[f"{2.0 ** t:g}×" for t in ticks])
    cb.set_label("Speedup over fp32 (median ratio, log scale)")
    return to_svg(fig)


def roofline_figure(g, colors, markers, roofs: list[dict], bandwidth: float | None, title: str) -> str:
    """Cells by arithmetic intensity and achieved FLOP/s under the machine's roofs (log-log)."""
    d = g[g["arithmetic_intensity"].notna() & g["achieved_flops_per_s"].notna()]
    if d.empty:
        return ""
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    ai = d["arithmetic_intensity"].astype(float)
    lo, hi = max(ai.min() / 4, 1e-3), ai.max() * 4
    xs = np.logspace(np.log10(lo), np.log10(hi), 200)
    if bandwidth:
        for k, roof in enumerate(roofs):
            ys = np.minimum(roof["peak"], xs * bandwidth) / 1e9
            ax.plot(xs, ys, "-", color="#444444", lw=1.4 - 0.3 * min(k, 2), alpha=0.9 - 0.2 * min(k, 2))
            ax.annotate(tex_safe(roof["label"]), (xs[-1], roof["peak"] / 1e9), ha="right", va="bottom", fontsize=7)
        ax.annotate(f"memory roof {bandwidth / 1e9:.0f} GB/s", (xs[0], xs[0] * bandwidth / 1e9), fontsize=7,
                    rotation=0, va="bottom")
    key, cmap = colour_by(d, colors)
    for _, r in d.iterrows():
        c = cmap[str(r[key]) if key == "model" or r[key] == r[key] else "other"]
        (pt,) = ax.plot(r["arithmetic_intensity"], r["achieved_flops_per_s"] / 1e9, markers[r["optimization"]],
                        color=c, ms=7)
        tip(pt, f"{r['cell_id']}: {r['arithmetic_intensity']:.3g} FLOP/B, {r['achieved_flops_per_s'] / 1e9:.4g} GFLOP/s",
            model=r["model"], target=r["target"], opt=r["optimization"])
    log_axis(ax, "x", xs)
    log_axis(ax, "y", list(d["achieved_flops_per_s"] / 1e9) + [r["peak"] / 1e9 for r in roofs])
    ax.set_xlabel("Arithmetic intensity (FLOP per byte moved, log)")
    ax.set_ylabel("Achieved GFLOP/s (log)")
    ax.set_title(tex_safe(title), fontsize=9)
    handles = [ax.plot([], [], "o", color=c, label=tex_safe(n if key == "model" else f"family: {n}"))[0]
               for n, c in cmap.items()]
    handles += _legend(ax, colors, markers, set(), set(d["optimization"].astype(str)))[:-1]
    ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return to_svg(fig)


def latency_histogram(samples, p50: float, ci: tuple[float, float]) -> str:
    """Distribution of per-iteration latency, with the median and its 95% interval marked."""
    x = np.asarray(samples, dtype=float)
    fig, ax = plt.subplots(figsize=(5.2, 2.4))
    ax.hist(x, bins=min(40, max(8, int(np.sqrt(x.size)))), color=OKABE_ITO[0], alpha=0.85)
    ax.axvline(p50, color=OKABE_ITO[3], lw=1.5, label=f"median {p50:.3g} ms")
    if ci[0] == ci[0] and ci[1] == ci[1]:
        ax.axvspan(ci[0], ci[1], color=OKABE_ITO[1], alpha=0.35, label="95% CI of median")
    ax.set_xlabel("Latency per iteration (ms)")
    ax.set_ylabel("Iterations")
    ax.legend(fontsize=7, frameon=False)
    return to_svg(fig)


def latency_trace(t_s, samples, p50: float) -> str:
    """Each sample at the time it was taken: a contention burst is a run of slow samples in time, a
    two-humped distribution is two levels throughout; the histogram alone cannot tell them apart."""
    t, x = np.asarray(t_s, dtype=float), np.asarray(samples, dtype=float)
    fig, ax = plt.subplots(figsize=(5.2, 2.4))
    ax.plot(t, x, ".", ms=3, color=OKABE_ITO[0])
    ax.axhline(p50, color=OKABE_ITO[3], lw=1, label=f"median {p50:.3g} ms")
    ax.set_xlabel("Time since the first sample (s)")
    ax.set_ylabel("Latency (ms)")
    ax.legend(fontsize=7, frameon=False)
    return to_svg(fig)


def forest_plot(rows) -> str:
    """Run-to-run latency ratios with their intervals, one line per matched cell (log x)."""
    if not rows:
        return ""
    n = len(rows)
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * n + 1.4))
    col = {"faster": OKABE_ITO[2], "slower": OKABE_ITO[3]}
    for i, r in enumerate(rows):
        c = col.get(r["verdict"], "#777777")
        lo, hi = r["ratio"] - r["ratio_low"], r["ratio_high"] - r["ratio"]
        # An interval that does not bracket its point (degenerate samples) is drawn without a bar.
        err = [[max(lo, 0.0) if np.isfinite(lo) else 0.0], [max(hi, 0.0) if np.isfinite(hi) else 0.0]]
        ax.errorbar(r["ratio"], i, xerr=err, fmt="o", color=c, ms=4, capsize=2)
    ax.axvline(1.0, color="#444444", lw=1)
    ax.set_yticks(range(n), [tex_safe(r["cell_id"]) for r in rows], fontsize=7)
    ax.invert_yaxis()
    log_axis(ax, "x", [r["ratio_low"] for r in rows] + [r["ratio_high"] for r in rows])
    ax.set_xlabel("Median latency B / A (log; < 1: B faster, > 1: B slower; 95% CI)")
    for v, lab in col.items():
        ax.plot([], [], "o", color=lab, label=f"B significantly {v}")
    ax.plot([], [], "o", color="#777777", label="no significant difference")
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    return to_svg(fig)
