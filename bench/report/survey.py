"""The survey's five figures, redrawn from a run, and the axes the survey lacks.

The survey (Chitty-Venkata et al., 2023) plots published top-1 accuracy against parameters,
FLOPs and model size. This module puts each published point beside the same architecture as this
suite measured it: the accuracy stays the paper's (the zoo's weights are random, so its accuracy
means nothing, and the figures say so), the cost becomes the counted one. It then draws the same
accuracies against measured latency, memory and energy per target, where a model that wins on
parameters can lose on time. A model brought with a row's trained weights (`published_as`, see
docs/models.md) has a top-1 of its own, measured on the suite's evaluation data: it is drawn as a
star beside the published point, never in its place. Published speedups from the survey's NLP text are set against
this run's speedups on each target, naming both machines.

`survey_section(df, manifest)` returns an HTML fragment for the run report; `bench survey RUN_DIR`
writes it as a standalone page with each figure as an SVG file and the table as CSV.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from bench import reference
from bench.chains import chain_label, parse_chain
from bench.report import plots
from bench.report.assets import CSS, JS, csp
from bench.report.format import esc, is_missing, to_float, workload_label
from bench.report.survey_tables import nlp_html, rvm_html, unlabelled_html

COST_AXES = [  # (published column, measured column, scale to the published unit, label)
    ("params_M", "params", 1e6, "parameters (M)"),
    ("macs_G", "macs", 1e9, "MACs (G)"),
    ("size_MB", "weight_bytes", 1e6, "model size (MB)"),
]
_VARIANT = re.compile(r"-(XXS|XS|S|T|Ti|B|L\d|L|\d[\d.]*S?|Tiny|Small|Base|Large|Medium|\d+M)$", re.I)


def _series(name: str) -> str:
    first = re.split(r"[ (]", name.strip())[0]
    return _VARIANT.sub("", first) or first


# --- matching published rows with records -------------------------------------------------------

def _ok(df: pd.DataFrame) -> pd.DataFrame:
    if df is None or df.empty or "status" not in df.columns:
        return pd.DataFrame(columns=["model", "optimization", "target", "status"])
    ok = df[df["status"] == "ok"].copy()
    for col in ("model", "optimization", "runtime", "params", "macs", "weight_bytes", "latency_ms_p50", "batch_size", "image_size", "seq_len",
                "peak_rss_infer_bytes", "cuda_peak_allocated_bytes", "energy_j_per_inference", "device", "target",
                "cosine_sim"):
        if col not in ok.columns:
            ok[col] = np.nan
    return ok


# Chains that realise a published precision on the other runtime: dynamic int8 exists for both.
EQUIVALENT = {"torch-dynamic-int8": ("torch-dynamic-int8", "ort-dynamic-int8")}


@cache
def canonical(chain: str) -> str:
    """A chain as a cell labels it (`bench.chains.chain_label`): parameters sorted, spacing normalised,
    so `vit-token-keep(layers=[3,6,9], keep_rate=0.70)` matches the cell's label."""
    try:
        return chain_label(parse_chain(chain.strip()))
    except ValueError:
        return chain.strip()


def row_chains(row) -> list[str]:
    """The cell labels a published row's `optimization` names, preferred first.

    One chain, or several separated by ";": on each target the first that ran is the row's cell
    (a W8A8 row: static int8 where ONNX Runtime runs it, dynamic int8 on torch). Each chain is
    followed by its EQUIVALENT on the other runtime.
    """
    out: list[str] = []
    for raw in str(row["optimization"] or "").split(";"):
        if raw.strip():
            for c in EQUIVALENT.get(canonical(raw), (canonical(raw),)):
                if c not in out:
                    out.append(c)
    return out


@cache
def architecture_chain(chain: str) -> str:
    """The steps of a chain that change shapes (what parameters and MACs depend on), or "fp32".

    Imports the optimization registry (and torch): called only when a row's own cells are missing.
    """
    from bench.optimize import OPTIMIZATIONS

    try:
        steps = parse_chain(chain)
    except ValueError:
        return chain
    # An unknown step may change shapes: keep it, so that no dense count stands in for it.
    kept = tuple(s for s in steps if s.name not in OPTIMIZATIONS or OPTIMIZATIONS.get(s.name).changes_shapes)
    return chain_label(kept) if kept else "fp32"


def is_proxy(row) -> bool:
    """A row whose measured cell only stands in for the published network says so: its
    explanation starts with "proxy" (bench/reference/published.csv)."""
    return str(row["explanation"] or "").strip().lower().startswith("proxy")


def _cells(ok: pd.DataFrame, row, chains: list[str], batch: int | None = None, of: pd.Series | None = None
           ) -> pd.DataFrame:
    """Cells of the row's model and chains at one batch size and the published resolution or length.

    `batch` None: the smallest batch the row ran at (batch 1 where it ran). Cells of two batch
    sizes are never mixed: a batch-64 latency beside a batch-1 one would read as a slowdown.
    `of` marks the records that are the row's network, where they are not its zoo model's (a
    model brought with the row's trained weights).
    """
    g = ok[(ok["model"] == row["zoo_model"] if of is None else of) & ok["optimization"].isin(chains)]
    if g.empty:
        return g
    g = g[g["batch_size"] == (g["batch_size"].min() if batch is None else batch)]
    if g.empty:
        return g
    size_col = "seq_len" if not is_missing(row["seq_len"]) and is_missing(row["resolution"]) else "image_size"
    want = row["seq_len"] if size_col == "seq_len" else row["resolution"]
    if not is_missing(want):
        same = g[g[size_col] == want]
        g = same if not same.empty else g
    return g


def _native(ok: pd.DataFrame, row, precision: bool = True, batch: int | None = None) -> pd.DataFrame:
    """Records of the row's network.

    With `precision`, the cells of the chain(s) the row names, one chain per target (the first of
    the row's list that ran there); a row with no chain (a W6 point: no 6-bit step) has none, so it
    gets no latency or size. Without, the cells that carry its parameter and MAC counts: those of
    the chain's shape-changing steps (fp32 when it has none, as for quantization), which is where a
    row falls back when its own cells did not run.
    """
    if not row["zoo_model"]:
        return ok.iloc[0:0]
    chains = row_chains(row)
    if not precision:
        arch = list(dict.fromkeys(architecture_chain(c) for c in chains)) if chains else ["fp32"]
        return _cells(ok, row, arch)
    if not chains:
        return ok.iloc[0:0]
    return _first_chain(_cells(ok, row, chains, batch), chains)


def _first_chain(g: pd.DataFrame, chains: list[str]) -> pd.DataFrame:
    """On each target, the cells of the first of the row's chains that ran there."""
    if g.empty:
        return g
    rank = g["optimization"].map(chains.index)
    first = rank == rank.groupby(g["target"].astype(str)).transform("min")
    return g[first].assign(_rank=rank[first]).sort_values("_rank", kind="stable").drop(columns="_rank")


def evaluated(ok: pd.DataFrame, row, batch: int | None = None) -> pd.DataFrame:
    """Cells of a model brought with this row's trained weights (`published_as`) that measured top-1.

    Such a model is not the zoo's, so it is found by `weights_published_as`, not by name. Only its
    cells of the row's own chain stand for the row (fp32 for a dense network; a quantized row's
    precision): an int8 cell of the DeiT-S weights is not DeiT-S's published point. A row that
    this suite cannot build names no chain, and its network as published is fp32. Where the
    cells did not run at `batch`, the smallest batch they ran at.
    """
    need = ("weights_published_as", "accuracy", "accuracy_metric")
    if ok.empty or any(c not in ok.columns for c in need):  # every run before published_as existed
        return ok.iloc[0:0]
    of = ((ok["weights_published_as"] == row["model_or_technique"]) & (ok["accuracy_metric"] == "accuracy")
          & pd.to_numeric(ok["accuracy"], errors="coerce").notna())
    chains = row_chains(row) or ([] if row["zoo_model"] else ["fp32"])
    if not chains or not of.any():
        return ok.iloc[0:0]
    g = _cells(ok, row, chains, batch, of=of)
    if g.empty and batch is not None:
        g = _cells(ok, row, chains, None, of=of)
    return _first_chain(g, chains)


def top1(rec) -> tuple[float, float | None, float | None]:
    """A record's measured top-1 and its 95% interval in percent (records hold fractions)."""
    def pct(col):
        v = to_float(rec.get(col))
        return None if v is None else 100 * v

    return pct("accuracy"), pct("accuracy_ci_low"), pct("accuracy_ci_high")


def measured_tip(rec, row, where: str) -> str:
    """Hover text of a measured-accuracy point: whose weights, which metric, how sure, on what data."""
    y, lo, hi = top1(rec)
    n = to_float(rec.get("accuracy_n"))
    ci = f", 95% CI {lo:.1f}–{hi:.1f}%" if lo is not None and hi is not None else ""
    pub = row["accuracy_value"]
    return (f"{rec['model']} ({rec['optimization']}; weights published as {row['model_or_technique']}) {where}: "
            f"top-1 accuracy {y:.1f}%{ci}" + (f", n={int(n)}" if n is not None else "")
            + ", measured on this run's evaluation data"
            + ("" if is_missing(pub) else f" (published: {pub:g}% ImageNet top-1)"))


def per_item(src: pd.DataFrame, col: str) -> pd.Series:
    """A record's column per image or sequence: MACs and FLOPs are counted per inference call, which
    covers the whole batch; the papers print them per image."""
    v = src[col]
    if col in ("macs", "flops") and "batch_size" in src:
        v = v / src["batch_size"].where(src["batch_size"] > 0, 1)
    return v


@dataclass
class Point:
    row: pd.Series
    records: pd.DataFrame  # cells of the row's chain at the figure's batch size, one per target
    ok: pd.DataFrame  # the run's finished cells, for the architecture's counts when records lack them
    # cells with the row's trained weights and a measured top-1 (`evaluated`), and the figure's batch
    evaluated: pd.DataFrame = field(default_factory=pd.DataFrame)
    batch: int | None = None

    @property
    def measured(self) -> bool:
        return not self.records.empty

    @property
    def proxy(self) -> bool:
        return is_proxy(self.row)

    @cached_property
    def arch(self) -> pd.DataFrame:
        return _native(self.ok, self.row, precision=False)

    def static(self, col: str):
        # Size depends on precision: only the row's own cells give it. Parameters and MACs are the
        # architecture's: counted on the row's cells (before any quantization), else on the cells
        # of its shape-changing steps.
        for src in (self.records, None if col == "weight_bytes" else self.arch):
            if src is None:
                break
            vals = per_item(src, col).dropna() if col in src else []
            if len(vals):
                return float(vals.iloc[0])
        return None


def figure_batch(rows, ok: pd.DataFrame) -> int | None:
    """The batch size a figure's measured points share: the one most of its rows ran at (the
    smallest on a tie). survey-gpu runs the DeiT variants at batch 64 only, so their figures use
    batch 64 for every point; a CPU run is batch 1 throughout."""
    counts: dict[int, int] = {}
    for _, r in rows:
        chains = row_chains(r)
        if not r["zoo_model"] or not chains:
            continue
        cells = ok[(ok["model"] == r["zoo_model"]) & ok["optimization"].isin(chains)]
        for b in set(cells["batch_size"].dropna().astype(int)):
            counts[b] = counts.get(b, 0) + 1
    return min(counts, key=lambda b: (-counts[b], b)) if counts else None


def points_for(fig: str, ok: pd.DataFrame) -> list[Point]:
    ref = reference.for_figure(fig)
    batch = figure_batch(ref.iterrows(), ok)
    return [Point(r, _native(ok, r, batch=batch), ok, evaluated(ok, r, batch), batch) for _, r in ref.iterrows()]


# --- figures --------------------------------------------------------------------------------------

def _log_x(ax) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _style(names: list[str]) -> dict[str, tuple[str, str]]:
    out = {}
    for i, s in enumerate(sorted(set(names))):
        out[s] = (plots.OKABE_ITO[i % len(plots.OKABE_ITO)], plots.MARKERS[(i // len(plots.OKABE_ITO)) % len(plots.MARKERS)])
    return out


MEASURED_LABEL = "measured accuracy (this run)"
MEASURED_YLABEL = "top-1 (%): published ImageNet; ★ measured here"


def _star(ax, x: float, rec, color: str, text: str, **names) -> None:
    """A measured top-1: a star, apart from every published marker, with its 95% interval as a bar."""
    y, lo, hi = top1(rec)
    yerr = [[y - lo], [hi - y]] if lo is not None and hi is not None else None
    bar = ax.errorbar([x], [y], yerr=yerr, fmt="*", color=color, mec="black", mew=0.5, ms=11, capsize=2,
                      elinewidth=0.9, linestyle="none", zorder=4)
    plots.tip(bar.lines[0], text, **names)
    plots.tag([*bar.lines[1], *bar.lines[2]], **names)


def _star_legend(ax) -> None:
    ax.errorbar([], [], yerr=[[], []], fmt="*", color="grey", mec="black", mew=0.5, ms=9, capsize=2,
                label=MEASURED_LABEL + ", 95% CI")


def cost_figure(fig: str, pts: list[Point]) -> str:
    """Published accuracy against published cost (hollow) and measured cost (filled), three axes;
    a measured top-1 of the row's trained weights, where the run has one, as a star beside them."""
    plt = plots.plt
    withacc = [p for p in pts if not is_missing(p.row["accuracy_value"])]
    starred = [p for p in pts if not p.evaluated.empty]
    style = _style([_series(p.row["model_or_technique"]) for p in withacc + starred])
    fig_, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True)
    main_col = reference.FIGURE_AXIS[fig][0]
    for ax, (pcol, mcol, scale, label) in zip(axes, COST_AXES):
        for p in withacc:
            color, marker = style[_series(p.row["model_or_technique"])]
            y = p.row["accuracy_value"]
            pub = p.row[pcol]
            meas = p.static(mcol)
            meas = meas / scale if meas is not None else None
            name = p.row["model_or_technique"]
            if not is_missing(pub):
                (pt,) = ax.plot(pub, y, marker, mfc="none", mec=color, ms=6, linestyle="none")
                plots.tip(pt, f"{name}: {y:g}% top-1, published {label.split(' (')[0]} {pub:.4g}", model=name)
            if meas is not None:
                (pt,) = ax.plot(meas, y, marker, color=color, ms=6, linestyle="none",
                                fillstyle="bottom" if p.proxy else "full")
                plots.tip(pt, f"{name}: {y:g}% top-1, {label.split(' (')[0]} {meas:.4g} counted here"
                          + (" (proxy cell)" if p.proxy else ""), model=name)
                if not is_missing(pub):
                    plots.tag(ax.plot([pub, meas], [y, y], color="#999", lw=0.7), model=name)
        for p in starred:
            color, _ = style[_series(p.row["model_or_technique"])]
            counted = per_item(p.evaluated, mcol) / scale if mcol in p.evaluated else None
            for i, rec in p.evaluated.iterrows():
                # the cost counted on the cell that measured it, else the published one
                x = counted[i] if counted is not None and not is_missing(counted[i]) else p.row[pcol]
                if is_missing(x):
                    continue
                src = "published" if counted is None or is_missing(counted[i]) else "counted here"
                _star(ax, float(x), rec, color, measured_tip(rec, p.row, f"on {rec['target']}, "
                                                             f"{label.split(' (')[0]} {float(x):.4g} {src}"),
                      model=p.row["model_or_technique"])
        _log_x(ax)
        ax.set_xlabel(("▶ " if pcol == main_col else "") + label + (" (survey axis)" if pcol == main_col else ""))
    axes[0].set_ylabel(MEASURED_YLABEL if starred else "published ImageNet top-1 (%)")
    for s, (color, marker) in style.items():
        axes[2].plot([], [], marker, color=color, label=s)
    pub = "published accuracy, " if starred else ""  # beside a star, say whose accuracy a circle is
    axes[2].plot([], [], "o", mfc="none", mec="grey", label=pub + "published cost")
    axes[2].plot([], [], "o", color="grey", label=pub + "measured cost (this run)")
    if any(p.proxy and p.measured for p in withacc):
        axes[2].plot([], [], "o", color="grey", fillstyle="bottom", label="measured on a proxy cell")
    if starred:
        _star_legend(axes[2])
    axes[2].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig_.suptitle(f"{reference.FIGURES[fig]} — published accuracy; hollow: published cost, filled: counted here"
                  + ("; ★: accuracy measured here" if starred else ""))
    return plots.to_svg(fig_)


def _memory(rec) -> float | None:
    for col in ("cuda_peak_allocated_bytes", "peak_rss_infer_bytes"):
        v = rec.get(col)
        if not is_missing(v):
            return float(v) / 1e6
    return None


def hardware_axes(records: pd.DataFrame) -> list[tuple[str, str]]:
    batches = sorted(set(records["batch_size"].dropna().astype(int))) if "batch_size" in records else []
    batch = f"batch {', '.join(map(str, batches))}" if batches else "batch not recorded"
    axes = [("latency_ms_p50", f"median latency (ms, {batch})"),
            ("memory", "peak memory (MB: CUDA allocator, else process RSS)")]
    if "energy_j_per_inference" in records.columns and records["energy_j_per_inference"].notna().any():
        has = records["energy_j_per_inference"].notna()
        src = records.loc[has, "energy_source"] if "energy_source" in records.columns else []
        axes.append(("energy_j_per_inference", plots.energy_label(src)))
    return axes


def _hardware_evaluated(p: Point) -> pd.DataFrame:
    """A point's measured-accuracy cells that share the figure's batch size (its latency axis)."""
    e = p.evaluated
    return e if e.empty or p.batch is None else e[e["batch_size"] == p.batch]


TECHNIQUE = {"baseline": "baseline", "weight-pruning": "weight pruning", "token-pruning": "token pruning",
             "quant": "quantization", "nas": "NAS", "kd": "distillation", "pruning": "pruning"}


def technique(row) -> str:
    """A published point's marker shape: its technique (the row's family) and its bit-width."""
    fam = str(row["family"] or "")
    kind = "lightweight" if fam.startswith("lightweight") else TECHNIQUE.get(fam.split("-", 1)[-1], fam)
    w, a = to_float(row["weight_bits"]), to_float(row["act_bits"])
    bits = "fp32" if w in (None, 32.0) and a in (None, 32.0) else f"W{w or 32:g}A{a or 32:g}"
    return f"{kind}, {bits}"


def hardware_figure(fig: str, pts: list[Point], ok: pd.DataFrame) -> tuple[str, list[dict]] | None:
    """The same published accuracies against what each target measured, and beside them the top-1
    measured on the run's evaluation data where a model brought the row's trained weights.

    Colour is the target, marker shape the technique and bit-width. Only each target's front (no
    other point as accurate and cheaper) is labelled, where a label fits without overlapping
    (bench.report.labels); every point names itself on hover. Returns the SVG and the points left
    without a label in some panel, for the table under the figure.
    """
    from bench.report.analysis import pareto_mask
    from bench.report.labels import Request, place

    measured = [p for p in pts if p.measured and not is_missing(p.row["accuracy_value"])]
    starred = [(p, e) for p in pts if not (e := _hardware_evaluated(p)).empty]
    if not measured and not starred:
        return None
    plt = plots.plt
    allrec = pd.concat([p.records for p in measured] + [e for _, e in starred])
    axes_spec = hardware_axes(allrec)
    targets = sorted(set(allrec["target"].astype(str)))
    tcolor = {t: plots.OKABE_ITO[i % len(plots.OKABE_ITO)] for i, t in enumerate(targets)}
    kinds = sorted({technique(p.row) for p in measured}, key=lambda k: (not k.startswith("baseline"), k))
    kmarker = {k: plots.MARKERS[i % len(plots.MARKERS)] for i, k in enumerate(kinds)}
    fig_, axes = plt.subplots(1, len(axes_spec), figsize=(4.6 * len(axes_spec) + 2.4, 4.6), sharey=True, squeeze=False)
    axes = axes[0]
    seen: dict[tuple[str, str], dict] = {}  # (point, target) -> its values and the panels it is labelled in
    stars, fronts, markers = [], [], []  # label requests: measured stars first, then the fronts cheapest first

    def point(name, t, kind, y, short, x) -> dict:
        entry = seen.setdefault((name, t), {"point": name, "target": t, "technique": kind, "top1": y, "labelled": []})
        entry[short] = x
        markers.append((ax, x, y))
        return entry

    for ax, (col, label) in zip(axes, axes_spec):
        short = label.split(" (")[0]
        dots = []  # (x, accuracy, target, name, technique)
        for p in measured:
            name = p.row["model_or_technique"] + (" (proxy)" if p.proxy else "")
            for _, rec in p.records.iterrows():
                x = _memory(rec) if col == "memory" else rec.get(col)
                if not is_missing(x):
                    dots.append((float(x), float(p.row["accuracy_value"]), str(rec["target"]), name, technique(p.row)))
        for t in targets:
            mine = sorted((d for d in dots if d[2] == t), key=lambda d: d[0])
            front = pareto_mask([-d[1] for d in mine], [d[0] for d in mine]) if mine else []
            for cheap, ((x, y, _, name, kind), on_front) in enumerate(zip(mine, front)):
                names = {"model": name, "target": t, "technique": kind}
                (pt,) = ax.plot(x, y, kmarker[kind], color=tcolor[t], ms=6, linestyle="none")
                plots.tip(pt, f"{name} on {t} ({kind}): {y:g}% top-1, {short} {x:.4g}", **names)
                entry = point(name, t, kind, y, short, x)
                if on_front:
                    fronts.append((cheap, Request(ax, x, y, _short(name), names), entry, short))
        for p, e in starred:
            name = p.row["model_or_technique"]
            for _, rec in e.iterrows():
                x = _memory(rec) if col == "memory" else to_float(rec.get(col))
                if x is None:
                    continue
                t = str(rec["target"])
                names = {"model": name, "target": t, "technique": "measured top-1"}
                _star(ax, x, rec, tcolor[t], measured_tip(rec, p.row, f"on {t}, {short} {x:.4g}"), **names)
                entry = point(f"{rec['model']} (measured top-1)", t, "measured top-1", top1(rec)[0], short, x)
                stars.append((-1, Request(ax, x, top1(rec)[0], _short(str(rec["model"])), names), entry, short))
        if col == "memory":  # process RSS sits in a narrow band above the framework's floor
            ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        else:
            _log_x(ax)
        ax.set_xlabel(label)
    axes[0].set_ylabel(MEASURED_YLABEL if starred else "published ImageNet top-1 (%)")
    _hardware_legend(axes[-1], tcolor, kmarker, starred)
    fig_.suptitle(f"{reference.FIGURES[fig].split(':')[0]} on hardware — published accuracy against measured cost per target"
                  + ("; ★: accuracy measured here" if starred else ""))
    requests = stars + sorted(fronts, key=lambda f: f[0])
    for (_, _, entry, short), done in zip(requests, place(fig_, [r for _, r, _, _ in requests], markers)):
        if done:
            entry["labelled"].append(short)
    panels = [label.split(" (")[0] for _, label in axes_spec]
    unlabelled = [{**e, "panels": panels} for e in seen.values() if len(e["labelled"]) < len(panels)]
    return plots.to_svg(fig_), unlabelled


def _hardware_legend(ax, tcolor: dict, kmarker: dict, starred) -> None:
    """One legend, two keys: colour names the target, shape the technique and bit-width."""
    ax.plot([], [], " ", label="target (colour)")
    for t, color in tcolor.items():
        ax.plot([], [], "o", color=color, label=plots.tex_safe(t))
    if kmarker:
        ax.plot([], [], " ", label=("published accuracy: " if starred else "") + "technique, bits (shape)")
    for k, marker in kmarker.items():
        ax.plot([], [], marker, color="#555555", label=plots.tex_safe(k))
    if starred:
        _star_legend(ax)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)


def _short(name: str, limit: int = 24) -> str:
    """A label that fits beside a point: asides in brackets go (not "(proxy)"), then lower-case words
    ("data-free", "structured"), then middle words, so that the method's name and the model it ran on
    stay ("PSAQ-ViT W8A8 DeiT-B", "FQ-ViT … DeiT-S")."""
    name = re.sub(r" \((?!proxy\))[^)]*\)", "", name).strip()
    if len(name) > limit:
        name = " ".join(w for w in name.split(" ") if not re.search(r"[a-z]", w) or re.search(r"[A-Z(]", w))
    if len(name) <= limit:
        return name
    *words, tail = name.split(" ")
    head = ""
    for w in words:
        if len(f"{head} {w}".strip()) + len(tail) + 3 > limit:
            break
        head = f"{head} {w}".strip()
    return f"{head} … {tail}" if head else name[:limit - 1] + "…"


# --- tables ---------------------------------------------------------------------------------------

def _top1_columns(ok: pd.DataFrame, r) -> dict:
    """The published top-1 of a row and, where a model brought its trained weights, the measured one.

    Of several cells (one per target) the one evaluated on the most examples speaks for the row,
    and names itself; the figures show every target's.
    """
    out = {"published_top1": r["accuracy_value"], "measured_top1": np.nan, "measured_top1_ci_low": np.nan,
           "measured_top1_ci_high": np.nan, "measured_top1_n": np.nan, "measured_top1_cell": "",
           "top1_ratio": np.nan}
    e = evaluated(ok, r)
    if e.empty:
        return out
    n = pd.to_numeric(e.get("accuracy_n", pd.Series(np.nan, index=e.index)), errors="coerce").fillna(-1)
    order = e.assign(_n=n, _t=e["target"].astype(str)).sort_values(["_n", "_t"], ascending=[False, True])
    rec = order.iloc[0]
    y, lo, hi = top1(rec)
    pub = r["accuracy_value"]
    out.update(measured_top1=y, measured_top1_ci_low=np.nan if lo is None else lo,
               measured_top1_ci_high=np.nan if hi is None else hi,
               measured_top1_n=rec["_n"] if rec["_n"] >= 0 else np.nan,
               measured_top1_cell=f"{rec['model']} · {rec['optimization']} on {rec['target']}",
               top1_ratio=y / pub if not is_missing(pub) and pub else np.nan)
    return out


def reported_vs_measured(ok: pd.DataFrame) -> pd.DataFrame:
    """One row per published point with a zoo architecture and quantity: published, measured, ratio.

    `cosine_vs_fp32` is the lowest output cosine of the row's cells against the fp32 model on the
    same inputs: what this suite can say about a variant's numerics, since accuracy is the paper's,
    unless a model brought the row's trained weights and measured its top-1 (`measured_top1`). A
    row with only that, and no counted cost, gets one line with the accuracy alone.
    """
    rows = []
    ref = reference.load()
    for _, r in ref.iterrows():
        acc = _top1_columns(ok, r)
        if not r["zoo_model"] and is_missing(acc["measured_top1"]):
            continue
        before = len(rows)
        native = _native(ok, r)
        for pcol, mcol, scale, label in COST_AXES:
            pub = r[pcol]
            recs = native
            if mcol != "weight_bytes" and not recs[mcol].notna().any():
                recs = _native(ok, r, precision=False)  # parameters and MACs of the architecture
            if is_missing(pub) or recs.empty or not recs[mcol].notna().any():
                continue
            # weight_bytes differ by runtime format (state dict vs ONNX file): one row per format.
            groups = recs.groupby("runtime") if mcol == "weight_bytes" else [("", recs)]
            for rt, g in groups:
                v = per_item(g, mcol).dropna()
                if not len(v):
                    continue
                meas = float(v.iloc[0]) / scale
                cos = g["cosine_sim"].dropna()
                rows.append(_rvm_line(r, acc, ", ".join(dict.fromkeys(g["optimization"])), is_proxy(r),
                                      label + (f" [{rt}]" if rt else ""), pub, _published_text(r, pcol), meas,
                                      float(cos.min()) if len(cos) else np.nan))
        if len(rows) == before and not is_missing(acc["measured_top1"]):
            rows.append(_rvm_line(r, acc, "", False, "top-1 only (no counted cost)", np.nan, "", np.nan, np.nan))
    return pd.DataFrame(rows)


def _rvm_line(r, acc: dict, optimization: str, proxy: bool, quantity: str, pub: float, pub_text: str, meas: float,
              cos: float) -> dict:
    return {"figures": ", ".join(r["figures"]), "point": r["model_or_technique"], "zoo_model": r["zoo_model"],
            "optimization": optimization, "proxy": proxy, "quantity": quantity, "published": pub,
            "published_text": pub_text, "measured": meas, "ratio": meas / pub if pub else np.nan, **acc,
            "cosine_vs_fp32": cos, "status": r["status"], "explanation": r["explanation"], "source": r["source"]}


def _published_text(r, pcol: str) -> str:
    if pcol == "size_MB":
        return f"{r['size_MB']:.4g}" + (" [derived: params x bits / 8]" if not r["size_bytes_text"] or "derived" in
                                         r["size_bytes_text"] else "")
    return r.get(f"{pcol}_text", "")


def hardware_name(manifest: dict, rec) -> str:
    env = (manifest or {}).get("environment", {}) or {}
    if str(rec.get("device")) == "cuda":
        gs = rec.get("gpu_state") if isinstance(rec.get("gpu_state"), dict) else {}
        gpus = env.get("gpus") if isinstance(env.get("gpus"), list) else []
        first = gpus[0] if gpus and isinstance(gpus[0], dict) else {}
        before = (gs or {}).get("before") if isinstance((gs or {}).get("before"), dict) else {}
        name = (env.get("gpu") or env.get("gpu_name") or before.get("name") or (gs or {}).get("name")
                or env.get("gpu_model") or first.get("name"))
        return str(name or "CUDA GPU (model not recorded)")
    threads = rec.get("threads")
    t = f", {int(threads)} threads" if not is_missing(threads) else ""
    return f"{env.get('cpu_model') or 'CPU (model not recorded)'}{t}"


NLP_CLAIMS = [  # (published row, this suite's fast model, its optimization, baseline model, baseline optimization)
    ("DistilBERT-base-uncased (6L-768)", "distilbert", "fp32", "bert-base", "fp32"),
    ("TinyBERT-4 (4L-312d)", "tinybert-4", "fp32", "bert-base", "fp32"),
    ("MobileBERT", "mobilebert", "fp32", "bert-base", "fp32"),
    ("Q8BERT (QAT W8A8) BERT-base", "bert-base", "torch-dynamic-int8", "bert-base", "fp32"),
    ("Q8BERT (QAT W8A8) BERT-base", "bert-base", "ort-dynamic-int8", "bert-base", "fp32"),
    ("I-BERT integer-only INT8 (RoBERTa-base)", "bert-base", "ort-dynamic-int8", "bert-base", "fp32"),
]


def _samples(rec) -> list[float] | None:
    s = rec.get("latency_samples_ms")
    return list(s) if isinstance(s, (list, tuple, np.ndarray)) and len(s) >= 2 else None


def nlp_speedups(ok: pd.DataFrame, manifest: dict) -> pd.DataFrame:
    """Published NLP speedups beside this run's, per target and workload (never across rows)."""
    from bench.measure.stats import compare

    rows = []
    for claim, fast, fast_opt, base, base_opt in NLP_CLAIMS:
        try:
            ref = reference.point(claim)
        except KeyError:
            continue
        fr = ok[(ok["model"] == fast) & (ok["optimization"] == fast_opt)]
        for _, a in fr.iterrows():
            # The fp32 baseline runs on the fp32 path of the same runtime family where possible:
            # an ORT int8 cell compares with the ORT fp32 cell of the same target.
            br = ok[(ok["model"] == base) & (ok["optimization"] == base_opt) & (ok["target"] == a["target"])
                    & (ok["batch_size"] == a["batch_size"]) & (ok["seq_len"] == a["seq_len"])]
            if br.empty:
                continue
            b = br.iloc[0]
            sa, sb = _samples(a), _samples(b)
            if sa and sb:
                c = compare(sa, sb)
            else:
                c = {"speedup": b["latency_ms_p50"] / a["latency_ms_p50"], "ci_low": np.nan, "ci_high": np.nan,
                     "verdict": "no samples stored"}
            rows.append({"claim": claim, "published_speedup": ref["speedup_text"] or ref["speedup_hardware"],
                         "published_hardware": ref["speedup_hardware"] or "not stated",
                         "measured_model": f"{fast} ({fast_opt})", "baseline": f"{base} ({base_opt})",
                         "target": a["target"], "hardware": hardware_name(manifest, a),
                         "workload": workload_label(a),
                         "measured_speedup": c["speedup"], "ci_low": c["ci_low"], "ci_high": c["ci_high"],
                         "verdict": c["verdict"], "source": ref["source"]})
    return pd.DataFrame(rows)


# --- assembly -------------------------------------------------------------------------------------

INTRO = ("Accuracy in every figure is the published top-1 from the reference data "
         "(bench/reference/published.csv, each point with its source); this suite builds the architectures "
         "with random weights and never measures their accuracy. A model brought with a row's trained weights "
         "(published_as) and evaluated on the suite's data is the exception: its measured top-1, with its 95% "
         "interval, is a star beside the published point, and the table's measured top-1 column. What the "
         "suite measures of a variant's numerics is fidelity: the output's cosine against the fp32 model on "
         "the same inputs (table below). Hollow markers are the papers' own cost figures, filled markers the "
         "cost counted on the graph that ran. Pruned, token-pruned and quantized DeiTs are measured as the "
         "chain their row names (structured pruning at the published parameter count, token keeping at the "
         "paper's schedule, int8 or int4 at the published bit-widths): the paper's network shape, not its "
         "trained weights. A row whose cell only stands in for it is marked proxy (half-filled marker). "
         "Points with no chain (searched networks, 6-bit quantization) appear only as published points; the "
         "reported-vs-measured table says why.")


def build(df: pd.DataFrame, manifest: dict, figures: tuple[str, ...] | None = None) -> dict:
    """Everything the section shows: {fig: (cost_svg, hardware_svg | None)}, the points each hardware
    figure left unlabelled, and the two tables."""
    ok = _ok(df)
    figs, unlabelled = {}, {}
    for fig in reference.FIGURES if figures is None else figures:
        pts = points_for(fig, ok)
        cost = cost_figure(fig, pts)
        hw = hardware_figure(fig, pts, ok)
        figs[fig], unlabelled[fig] = (cost, hw[0] if hw else None), hw[1] if hw else []
    return {"figures": figs, "unlabelled": unlabelled, "rvm": reported_vs_measured(ok),
            "nlp": nlp_speedups(ok, manifest)}


def render_section(parts: dict) -> str:
    out = ["<h2>Survey figures: published accuracy against counted and measured cost</h2>",
           f'<p class="note">{esc(INTRO)}</p>']
    for fig, (cost_svg, hw_svg) in parts["figures"].items():
        out.append(f"<h3>{esc(reference.FIGURES[fig])}</h3>")
        out.append(f'<div class="figure">{cost_svg}</div>')
        if hw_svg:
            out.append(f'<div class="figure">{hw_svg}</div>' + unlabelled_html(parts.get("unlabelled", {}).get(fig, [])))
        else:
            out.append('<p class="note">No architecture of this figure ran in this run: no hardware axes.</p>')
    out.append("<h3>Reported vs measured</h3>")
    out.append('<p class="note">One row per published point. Each quantity reads published → measured, then '
               "×ratio (measured / published). Parameters and MACs are counted on the graph that ran "
               "(MACs: matmuls, convolutions and attention; 1 MAC = 2 FLOPs); size is the serialized weight file "
               "of each runtime's format, one line per format. Published sizes marked derived are params × bits / 8. "
               "Open an explanation for the whole of it; every line is also in reported_vs_measured.csv "
               "(<code>bench survey</code>).</p>")
    out.append(rvm_html(parts["rvm"]))
    out.append("<h3>NLP: published speedups against this run's</h3>")
    out.append('<p class="note">A speedup holds only on the machine and software that produced it: each row names '
               "both. Measured speedups are BERT-base fp32's median over the model's median on the same target and "
               "workload, with a bootstrap interval (bench.measure.stats.compare).</p>")
    out.append(nlp_html(parts["nlp"]))
    return "".join(out)


def survey_section(df: pd.DataFrame, manifest: dict) -> str:
    """The report's survey section (HTML); "" when no cell of the run finished."""
    if df is None or df.empty or "status" not in df or not (df["status"] == "ok").any():
        return ""
    return render_section(build(df, manifest))


def write_survey(run_dir: Path, out_dir: Path) -> Path:
    """A standalone page plus each figure as an SVG file and both tables as CSV."""
    from bench.store import load_records, read_manifest

    manifest = read_manifest(run_dir)
    df, _ = load_records(run_dir)
    parts = build(df, manifest)
    out_dir.mkdir(parents=True, exist_ok=True)
    for fig, (cost_svg, hw_svg) in parts["figures"].items():
        (out_dir / f"{fig}-cost.svg").write_text(cost_svg, encoding="utf-8")
        if hw_svg:
            (out_dir / f"{fig}-hardware.svg").write_text(hw_svg, encoding="utf-8")
    parts["rvm"].to_csv(out_dir / "reported_vs_measured.csv", index=False)
    parts["nlp"].to_csv(out_dir / "nlp_speedups.csv", index=False)
    title = f"Survey figures: {manifest.get('suite_name', '?')} ({manifest.get('run_id', '?')})"
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{csp()}"><title>{esc(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>{render_section(parts)}<script>{JS}</script>"
            "</body></html>")
    path = out_dir / "survey.html"
    path.write_text(page, encoding="utf-8")
    return path
