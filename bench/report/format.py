"""How the reports print a value: one home, so that escaping and missing values cannot drift apart.

The run report, the survey section and its standalone page, the Markdown summary and the time
breakdown all print fields that a record may lack (a run written before the field landed) and
text that a suite file or a record supplies (markup included). When each section had its own
escape, its own test for a missing number and its own workload label, a fix reached one section
and not the next: the survey printed a missing value as "nan" where the report printed nothing,
and the Markdown summary merged a ragged workload into the plain one that the report kept apart.
"""

from __future__ import annotations

import html
import json
import math

import numpy as np
import pandas as pd


def is_missing(x) -> bool:
    """None, NaN, NA and NaT are "not recorded"; a container is a value, even an empty one."""
    if x is None:
        return True
    if isinstance(x, float) and math.isnan(x):
        return True
    try:
        return bool(pd.isna(x)) if not isinstance(x, (list, dict, tuple, np.ndarray)) else False
    except (TypeError, ValueError):
        return False


def to_float(x) -> float | None:
    """A field as a number for arithmetic; None where it is absent or is no number."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def num(x, fmt: str = "{:.2f}", missing: str = "—") -> str:
    """A number for people; `missing` where there is none. The HTML sections print a dash so that
    an empty cell is visibly "not recorded"; a Markdown table passes "" and stays terse."""
    v = to_float(x)
    return missing if v is None else fmt.format(v)


def esc(x) -> str:
    """Text for HTML: every stored string goes through here, and a missing value prints as nothing."""
    return html.escape("" if is_missing(x) else str(x), quote=True)


def table(headers: list[str], rows: list[list], left: int = 1, tid: str | None = None, filterable: bool = False,
          text_cols: tuple[int, ...] = (), facets: dict[str, list] | None = None, cls: str = "") -> str:
    """An HTML table whose numbers align right, and whose first `left` columns and `text_cols`
    (prose) align left. `rows` hold HTML, or (HTML, sort key) pairs: the key goes in `data-v` so
    that a formatted number ("1.2 MB", "—") sorts by its value. A table with an id sorts, and
    with `filterable` gets a filter box (assets.JS does both). `facets` name, per row, the values a
    dropdown filters on ({"status": [["ok"], ["contended", "noisy"], ...]}): free text cannot ask
    for "failed" without also matching a cell whose error mentions it."""
    def cls_of(i: int) -> str:
        return "l" if i < left or i in text_cols else ""

    facets = facets or {}
    head = "".join(f'<th class="{cls_of(i)}">{esc(h)}</th>' for i, h in enumerate(headers))
    body = []
    for n, r in enumerate(rows):
        tds = []
        for i, c in enumerate(r):
            content, key = c if isinstance(c, tuple) else (c, None)
            attr = f' data-v="{esc(key)}"' if key is not None else ""
            tds.append(f'<td class="{cls_of(i)}"{attr}>{content}</td>')
        mine = {k: _values(v[n]) for k, v in facets.items()}
        attr = f' data-facets="{esc(json.dumps(mine))}"' if mine else ""
        body.append(f"<tr{attr}>" + "".join(tds) + "</tr>")
    tool = ""
    if tid and (filterable or facets):
        box = (f'<input class="filter" type="search" data-table="{tid}" placeholder="Filter rows: type words, all '
               f'must match" aria-label="Filter {tid}"> ' if filterable else "")
        for k, v in facets.items():
            opts = sorted({x for vals in v for x in _values(vals)})
            box += (f'<label class="facet">{esc(k)} <select class="facet" data-table="{tid}" data-facet="{esc(k)}">'
                    '<option value="">all</option>' + "".join(f'<option value="{esc(o)}">{esc(o)}</option>' for o in opts)
                    + "</select></label> ")
        tool = f'<div class="tools">{box}<span class="muted" id="{tid}-count">{len(rows)} rows</span></div>'
    classes = " ".join(c for c in ("sortable" if tid else "", cls) if c)
    attrs = (f' id="{tid}"' if tid else "") + (f' class="{classes}"' if classes else "")
    return f"{tool}<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _values(v) -> list[str]:
    return [str(x) for x in v if not is_missing(x)] if isinstance(v, (list, tuple)) else [] if is_missing(v) else [str(v)]


def workload_label(row) -> str:
    """A record's workload as every section names it and groups by it.

    The record's own label comes first: it keeps what batch and size alone do not say (ragged
    lengths "-r16_128", generated tokens "-n16"), so a padded and a packed cell never share a row
    or a speedup group. Records from before the field existed get a label from batch and size.
    """
    own = row.get("workload")
    if isinstance(own, str) and own:
        return own
    bs = row.get("batch_size")
    b = f"b{int(bs)}" if not is_missing(bs) else "b?"
    if not is_missing(row.get("seq_len")):
        return f"{b}-s{int(row['seq_len'])}"
    if not is_missing(row.get("image_size")):
        return f"{b}-i{int(row['image_size'])}"
    return b
