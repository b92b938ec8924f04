"""The figures a history follows per cell, and how each is read from a record.

Each metric names a basis as well as a value: energy measured by an NVML counter and energy
estimated from a TDP differ by factors, and a cell's memory is the CUDA allocator's peak on a GPU
but the process's RSS on a CPU. A change of method is not a change of the code, so the history
keeps one series per basis and never joins two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str
    relative: bool          # changes are ratios (latency, energy, memory), else differences (fidelity)
    min_change: float       # smaller significant changes are marked but not listed as regressions
    interval: tuple[str, str] | None = None  # the record's per-run interval, when it has one

    def worse(self, size: float, basis: str) -> bool:
        """Is a change of this size a regression? Higher is worse for costs and for perplexity."""
        higher_is_worse = self.relative or basis == "perplexity"
        return size > 0 if higher_is_worse else size < 0


LATENCY = Metric("latency", "median latency", "ms", True, 0.01, ("latency_ms_ci_low", "latency_ms_ci_high"))
ENERGY = Metric("energy", "energy per item", "J", True, 0.01)
MEMORY = Metric("memory", "peak memory", "bytes", True, 0.01)
COSINE = Metric("fidelity", "cosine similarity to fp32", "", False, 0.0005)
ACCURACY = Metric("accuracy", "measured accuracy", "", False, 0.005)
METRICS = [LATENCY, ENERGY, MEMORY, COSINE, ACCURACY]
BY_NAME = {m.name: m for m in METRICS}


def values(points: pd.DataFrame, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
    """A metric's value for every point, and its basis (the series it belongs to); NaN where absent."""
    n = len(points)
    if metric is LATENCY:
        return points["latency_ms_p50"].to_numpy(float), np.full(n, "", dtype=object)
    if metric is ENERGY:
        per_item = points["energy_j_per_item"].to_numpy(float)
        per_call = points["energy_j_per_inference"].to_numpy(float)
        has_item = ~np.isnan(per_item)
        source = points["energy_source"].astype(object).fillna("source not recorded").to_numpy()
        basis = np.where(has_item, "per item, " + source.astype(str), "per inference, " + source.astype(str))
        return np.where(has_item, per_item, per_call), basis.astype(object)
    if metric is MEMORY:
        cuda = points["cuda_peak_allocated_bytes"].to_numpy(float)
        on_gpu = points["device"].astype(str).str.startswith("cuda").to_numpy() & ~np.isnan(cuda)
        rss = points["peak_rss_infer_bytes"].to_numpy(float)
        return np.where(on_gpu, cuda, rss), np.where(on_gpu, "CUDA allocator peak", "process RSS peak").astype(object)
    if metric is COSINE:
        return points["cosine_sim"].to_numpy(float), np.full(n, "", dtype=object)
    basis = points["accuracy_metric"].astype(object).fillna("accuracy").to_numpy()
    return points["accuracy"].to_numpy(float), basis.astype(str).astype(object)


def fmt_size(metric: Metric, size: float) -> str:
    return f"{size * 100:+.1f}%" if metric.relative else f"{size:+.4g}"
