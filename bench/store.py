"""The record schema and the results store.

A run lives in `results/<run-id>/`: `manifest.json`, one JSON file per finished cell under
`records/` (written to a temporary name and renamed, so a torn write cannot exist), and
`records.parquet`, rebuilt from those files after every cell. An interrupted run therefore loses
at most the cell in flight, and the per-cell files are the source of truth.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import UserError

# Stable column order for tables and exports; a record may hold more (environment per cell).
COLUMNS = [
    "run_id", "cell_id", "model", "family", "optimization", "runtime", "device", "target", "threads",
    "batch_size", "seq_len", "image_size", "status", "error",
    "params", "macs", "flops", "uncounted_ops", "macs_closed_form", "weight_bytes", "precision",
    "latency_ms_p50", "latency_ms_mean", "latency_ms_p90", "latency_ms_p99", "latency_ms_std",
    "latency_ms_iqr", "latency_ms_min", "latency_ms_ci_low", "latency_ms_ci_high", "n_samples",
    "timing_target_met", "peak_rss_build_bytes", "peak_rss_infer_bytes", "peak_rss_bytes",
    "max_abs_err", "mean_abs_err", "cosine_sim", "top1_agreement",
    "build_s", "optimize_s", "session_s", "cell_wall_s",
]

# Per-record lists: kept in the JSON records, left out of the Parquet/CSV tables.
LIST_COLUMNS = ["latency_samples_ms", "outlier_stats"]

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")


def check_run_id(run_id: str) -> str:
    """A run id becomes a directory name, so it may not climb out of the results root."""
    if not RUN_ID.match(run_id) or ".." in run_id:
        raise UserError(f"Run id {run_id!r} is not allowed: use letters, digits, '.', '_' and '-' only.")
    return run_id


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class RunStore:
    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.records_dir = self.dir / "records"
        self.cache_dir = self.dir / "cache"
        self.scratch_dir = self.dir / "scratch"

    @classmethod
    def create(cls, root: Path, run_id: str) -> RunStore:
        check_run_id(run_id)
        root = Path(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".write-test-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise UserError(f"Results directory {str(root)!r} is not writable ({e.strerror or e}). "
                            "Choose another with --results-dir.") from None
        store = cls(root / run_id)
        if store.dir.exists() and any(store.dir.iterdir()):
            raise UserError(f"Run directory {str(store.dir)!r} already exists; choose another --run-id.")
        for d in (store.records_dir, store.cache_dir, store.scratch_dir):
            d.mkdir(parents=True, exist_ok=True)
        return store

    # manifest -----------------------------------------------------------------
    def write_manifest(self, manifest: dict) -> None:
        atomic_write_text(self.dir / "manifest.json", json.dumps(manifest, indent=2, default=str))

    def manifest(self) -> dict:
        return read_manifest(self.dir)

    # records --------------------------------------------------------------------
    def write_record(self, record: dict[str, Any]) -> None:
        atomic_write_text(self.records_dir / f"{record['cell_id']}.json", json.dumps(record, default=_jsonable))
        self.write_parquet()

    def write_parquet(self) -> None:
        df, _ = load_records(self.dir)
        if not df.empty:
            tmp = self.dir / f".records.parquet.tmp{os.getpid()}"
            df.drop(columns=LIST_COLUMNS, errors="ignore").to_parquet(tmp, index=False)
            os.replace(tmp, self.dir / "records.parquet")
            df.drop(columns=LIST_COLUMNS, errors="ignore").to_csv(self.dir / "records.csv", index=False)

    def finished_cells(self) -> set[str]:
        return {p.stem for p in self.records_dir.glob("*.json")}


def _jsonable(x):
    if hasattr(x, "item"):
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


def read_manifest(run_dir: Path) -> dict:
    p = Path(run_dir) / "manifest.json"
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise UserError(f"{str(run_dir)!r} is not a run directory: it has no manifest.json.") from None
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"The manifest of {str(run_dir)!r} cannot be read: {e}.") from None


def load_records(run_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """All records of a run, and the names of record files that were unreadable (and skipped)."""
    rows, bad = [], []
    for p in sorted((Path(run_dir) / "records").glob("*.json")):
        try:
            rows.append(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            bad.append(p.name)
    df = pd.DataFrame(rows)
    if not df.empty:
        ordered = [c for c in COLUMNS if c in df.columns]
        df = df[ordered + [c for c in df.columns if c not in ordered]]
    return df, bad
