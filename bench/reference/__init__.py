"""Published numbers the survey's figures and NLP text use, as package data with their sources.

`published.csv` holds one row per published point. The survey (Chitty-Venkata et al., arXiv
2307.07982) summarises its results in five figures (Fig. 10, 11, 20, 28, 30: ImageNet ViTs) and
quotes NLP speedups in its text; the report redraws those figures beside this suite's
measurements, so every number here must carry its source and whether it was confirmed:

- `status`: `verified` (read in the cited source), `unverified` (recalled from the paper, not
  found in a readable source: treat as a lead).
- A `[derived]` or `[UNVERIFIED]` mark inside a cell flags that one number; `load()` strips it
  into `<column>_mark` so the numeric column stays numeric.
- `figure` lists the figures a row belongs to, separated by `;` (`nlp` for the NLP text).
- `zoo_model` names the zoo architecture the point is built from (empty: not buildable here),
  `optimization` the suite chain that produces the point from it (a precision, a pruned or
  token-pruned shape), written as in a suite: `prune-heads(ratio=0.33) -> prune-ffn(ratio=0.35)`.
  Several chains, separated by `;`, are alternatives in order of preference: on each target the
  first that ran is the point's cell (bench/report/survey.py).
- `explanation` says why a measured figure cannot match the published one, or why a point is
  not built. One that starts with `proxy` marks a row whose cell only stands in for the
  published network (same cost, different structure); the survey labels it so.

Cost conventions: vision papers print MACs under the name "FLOPs"; `macs_G` holds them.
`flops_G` is only filled where the source printed true FLOPs (2 x MACs).
"""

from __future__ import annotations

import csv
import re
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported lazily: model specs read costs in every cell process
    import pandas as pd

PATH = Path(__file__).with_name("published.csv")

NUMERIC = ["params_M", "macs_G", "flops_G", "resolution", "seq_len", "size_bytes", "weight_bits", "act_bits",
           "accuracy_value", "baseline_accuracy", "speedup"]
FIGURES = {
    "fig10": "Fig. 10: weight pruning, top-1 vs parameters",
    "fig11": "Fig. 11: token pruning, top-1 vs FLOPs (MACs)",
    "fig20": "Fig. 20: quantization, top-1 vs model size",
    "fig28": "Fig. 28: lightweight ViTs, top-1 vs parameters",
    "fig30": "Fig. 30: NAS-found ViTs, top-1 vs parameters",
}
# The axis each figure plots its cost on, as (reference column, record column, label).
FIGURE_AXIS = {
    "fig10": ("params_M", "params", "parameters (M)"),
    "fig11": ("macs_G", "macs", "MACs (G)"),
    "fig20": ("size_MB", "weight_bytes", "model size (MB)"),
    "fig28": ("params_M", "params", "parameters (M)"),
    "fig30": ("params_M", "params", "parameters (M)"),
}

_LEADING_NUMBER = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)")
_MARK = re.compile(r"\[([^\]]+)\]")


def _split(cell) -> tuple[float | None, str]:
    """'11.17 [derived]' -> (11.17, 'derived'); a range or text -> (None, text)."""
    if cell is None or (isinstance(cell, float) and cell != cell):
        return None, ""
    text = str(cell).strip()
    mark = "; ".join(_MARK.findall(text))
    m = _LEADING_NUMBER.match(text)
    rest = _MARK.sub("", text[m.end():] if m else text).strip()
    if m and not rest:
        return float(m.group(1)), mark
    # "1.6 (60% faster)" keeps its number; "2.4-4.0" or "<2%" is text only.
    if m and rest.startswith("(") and rest.endswith(")"):
        return float(m.group(1)), mark
    return None, mark


@lru_cache(maxsize=1)
def _load_cached() -> pd.DataFrame:
    import pandas as pd

    raw = pd.read_csv(PATH, dtype=str, keep_default_na=False, na_values=[""])
    df = raw.copy()
    for col in NUMERIC:
        parsed = raw[col].map(_split)
        df[col] = parsed.map(lambda p: p[0]).astype(float)
        df[f"{col}_mark"] = parsed.map(lambda p: p[1])
        df[f"{col}_text"] = raw[col].fillna("")
    for col in ("zoo_model", "optimization", "explanation", "baseline", "speedup_hardware"):
        df[col] = raw[col].fillna("")
    df["figures"] = raw["figure"].map(lambda s: tuple(x.strip() for x in str(s).split(";") if x.strip()))
    df["size_MB"] = df["size_bytes"] / 1e6
    # Fig. 20 plots size; where the source gives only params and bits, size = params x bits / 8.
    derived = df["size_MB"].isna() & df["params_M"].notna() & df["weight_bits"].notna()
    df.loc[derived, "size_MB"] = df.loc[derived, "params_M"] * df.loc[derived, "weight_bits"] / 8
    return df


def load() -> pd.DataFrame:
    """The reference table, numeric columns parsed (a copy: callers may modify it)."""
    return _load_cached().copy()


def for_figure(fig: str) -> pd.DataFrame:
    if fig not in FIGURES and fig != "nlp":
        raise KeyError(f"unknown figure {fig!r}; known: {', '.join([*FIGURES, 'nlp'])}")
    df = load()
    return df[df["figures"].map(lambda f: fig in f)].reset_index(drop=True)


def point(model_or_technique: str) -> pd.Series:
    """One published row by its exact `model_or_technique` name."""
    df = load()
    hit = df[df["model_or_technique"] == model_or_technique]
    if hit.empty:
        raise KeyError(f"no published row named {model_or_technique!r}")
    return hit.iloc[0]


@cache
def published_cost(model_or_technique: str) -> tuple[float | None, float | None]:
    """(params_M, macs_G) of one row, read with the csv module: model specs call this in every
    cell process, which should not pay for importing pandas."""
    with open(PATH, newline="") as f:
        for row in csv.DictReader(f):
            if row["model_or_technique"] == model_or_technique:
                return _split(row["params_M"] or None)[0], _split(row["macs_G"] or None)[0]
    raise KeyError(f"no published row named {model_or_technique!r}")


def within(measured: float, published: float, printed: str, rel_tol: float) -> bool:
    """Whether a measured count matches a published one.

    A paper that prints "1.4M" has said only that the count lies in [1.35, 1.45): the tolerance is
    the larger of `rel_tol` and half a unit in the last printed digit.
    """
    digits = printed.split("[")[0].strip()
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    half_unit = 0.5 * 10 ** (-decimals)
    return abs(measured - published) <= max(rel_tol * abs(published), half_unit) + 1e-12
