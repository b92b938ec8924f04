"""Zoo variants with planted activation outliers, labelled as synthetic (bench/zoo/outliers.py says
why and how they are planted)."""

from __future__ import annotations

import dataclasses

from bench.zoo.base import MODELS
from bench.zoo.specs import vision  # noqa: F401  (registers the models these are variants of)

N_CHANNELS = 4  # outlier channels per LayerNorm (OS+ reports a handful)
GAMMA = 30.0  # their scale against ~1 elsewhere
BETA = 50.0  # and their offset: asymmetric, as in OS+'s Fig. 1


def _variant(base_name: str) -> None:
    base = MODELS.get(base_name)
    MODELS.add(dataclasses.replace(
        base, name=f"{base_name}-outliers", build_fn="bench.zoo.outliers:with_outliers",
        build_args={"base": base_name},
        description=f"{base.description}, with synthetic LayerNorm outlier channels ({N_CHANNELS} per norm, "
                    f"gamma {GAMMA}, beta +-{BETA}) planted as trained ViTs show them"))


for _name in ("deit-ti", "deit-s"):
    _variant(_name)
