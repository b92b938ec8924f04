"""Matplotlib figures rendered to inline SVG, with a colour-blind-safe palette (Okabe-Ito)."""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.grid": True, "grid.alpha": 0.3})


def to_svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)  # creation date and RDF boilerplate
    return svg[svg.index("<svg"):]


def style_for(values: list[str], palette=OKABE_ITO) -> dict[str, str]:
    return {v: palette[i % len(palette)] for i, v in enumerate(sorted(set(values)))}


def latency_vs_macs(df) -> str:
    """One point per cell: counted GMACs against median latency, colour by model, marker by optimization."""
    ok = df[(df["status"] == "ok") & df["latency_ms_p50"].notna() & df["macs"].notna()]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colors = style_for(list(ok["model"]))
    markers = {o: MARKERS[i % len(MARKERS)] for i, o in enumerate(sorted(set(ok["optimization"])))}
    for (model, opt), g in ok.groupby(["model", "optimization"]):
        ax.errorbar(g["macs"] / 1e9, g["latency_ms_p50"],
                    yerr=[g["latency_ms_p50"] - g["latency_ms_ci_low"], g["latency_ms_ci_high"] - g["latency_ms_p50"]],
                    fmt=markers[opt], color=colors[model], ms=6, capsize=2, linestyle="none")
    for model, c in colors.items():
        ax.plot([], [], "o", color=c, label=model)
    for opt, m in markers.items():
        ax.plot([], [], m, color="grey", label=opt)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Counted MACs per inference call (G, log scale)")
    ax.set_ylabel("Median latency (ms, log scale, 95% CI)")
    ax.set_title("Latency against counted MACs (all targets)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return to_svg(fig)
