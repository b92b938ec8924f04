"""A run as the report sees it: records with every optional column present, samples by cell.

Fields arrive from several branches of work (noise, energy, roofline, decoders, edge); a run
written before one of them landed simply lacks the columns, so every reader here tolerates absence
rather than each plot checking for itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.format import is_missing, workload_label
from bench.store import COLUMNS, load_records, read_manifest

OPTIONAL = [
    "noisy", "latency_cv", "noise_threshold_cv", "timing_mode", "timing_block_size", "gpu_throttled",
    "energy_j_per_inference", "energy_source", "cuda_peak_allocated_bytes", "nvml_used_bytes",
    "arithmetic_intensity", "achieved_flops_per_s", "attainable_flops_per_s", "roofline_pct", "roofline_bound",
    "roofline_device", "emulated", "projected_latency_ms", "stderr_tail", "top1_agreement",
    "accuracy", "accuracy_metric", "accuracy_delta_vs_fp32", "accuracy_verdict", "accuracy_note",
    "contended", "imprecise", "runq_wait_share", "latency_sample_t_s", "attempts", "attempt_kept",
    "server_curve", "offline_sweep", "server_max_rate_qps", "server_rate_bracket", "offline_items_per_s",
    "server_note", "server_p99_bound_ms",
]
LIST_COLUMNS = ("latency_samples_ms", "latency_sample_t_s")


@dataclass
class Run:
    dir: Path
    manifest: dict
    df: pd.DataFrame
    bad_files: list[str]
    samples: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def ok(self) -> pd.DataFrame:
        return self.df[self.df["status"] == "ok"]

    @property
    def name(self) -> str:
        return str(self.manifest.get("run_id") or self.dir.name)


def flag(x) -> bool:
    """True only for a recorded true value: a missing flag is not a raised one."""
    return not is_missing(x) and bool(x)


def load_run(run_dir: Path) -> Run:
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    df, bad = load_records(run_dir)
    for col in COLUMNS + OPTIONAL:
        if col not in df.columns:
            df[col] = None if col in ("status", "cell_id", "model", "optimization", "target", "error") else np.nan
    if "latency_samples_ms" not in df.columns:
        df["latency_samples_ms"] = None
    df["status"] = df["status"].fillna("unknown")
    df["target"] = df["target"].fillna(df["runtime"].astype(str) + "-" + df["device"].astype(str))
    df["workload"] = [workload_label(r) for r in df.to_dict("records")] if len(df) else []
    df["noisy"] = df["noisy"].map(lambda v: bool(v) if not is_missing(v) else None) if len(df) else df["noisy"]
    samples = {}
    for cid, s in zip(df["cell_id"], df["latency_samples_ms"]):
        if isinstance(s, (list, tuple, np.ndarray)) and len(s):
            samples[cid] = np.asarray(s, dtype=float)
    return Run(run_dir, manifest, df.reset_index(drop=True), bad, samples)


def records_csv(df: pd.DataFrame) -> str:
    """The records for people: one row per cell, no sample lists, nested values as JSON text."""
    out = df.drop(columns=[c for c in LIST_COLUMNS if c in df.columns])
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, (dict, list, tuple))).any():
            out[col] = out[col].map(lambda v: json.dumps(v, default=str) if isinstance(v, (dict, list, tuple)) else v)
    return out.to_csv(index=False)
