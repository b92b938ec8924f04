"""Published task accuracy of the pretrained models the zoo builds, read from bench/reference.

One source for every published number: `bench/reference/published.csv`. A model's accuracy is
its own row there: the first `verified` row whose `zoo_model` is the model and whose chain is
`fp32`, leaving out proxies (a compressed network that merely reuses the architecture, like
UP-DeiT on DeiT-Ti's shape, has an explanation starting with "proxy"). These are the accuracies of the released checkpoints: the suite
builds seeded random weights, so the report places them beside measured latency only for the fp32
model and says so. Figures under different metrics or splits are never put on one axis.
"""

from __future__ import annotations

from functools import cache


@cache
def _table() -> dict[str, tuple[str, float, str]]:
    from bench.reference import load

    df = load()
    rows = df[(df["status"] == "verified") & (df["optimization"] == "fp32") & (df["zoo_model"] != "")
              & ~df["explanation"].str.startswith("proxy") & df["accuracy_value"].notna()]
    out: dict[str, tuple[str, float, str]] = {}
    for r in rows.itertuples():
        out.setdefault(r.zoo_model, (r.accuracy_metric, float(r.accuracy_value), str(r.source)))
    return out


def published_accuracy(model: str) -> tuple[str, float, str] | None:
    """(metric, value in %, source) of the model's released checkpoint, or None."""
    return _table().get(model)
