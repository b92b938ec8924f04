"""The history: many runs in two tables, indexed from what each run already stores.

A run keeps its flat records in `records.parquet` (rebuilt after every cell) and its provenance
in `manifest.json`. The index reads one row per run from each manifest and, from each Parquet
file, only the columns the trends need. At 1000 runs of 100 cells that is 100,000 rows of a dozen
values, which pyarrow reads in a few seconds, so DuckDB would be one more dependency that saves
nothing. A Parquet file that disagrees with its run's record files (a runner killed between a
record and the table) or cannot be read is rebuilt from the records by `bench.store.load_records`,
which validates them and skips damaged ones, as every other reader of a run does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from bench.errors import UserError

TEXT = ["cell_id", "model", "optimization", "target", "workload", "runtime", "device", "status",
        "energy_source", "accuracy_metric"]
NUMBER = ["latency_ms_p50", "latency_ms_ci_low", "latency_ms_ci_high", "energy_j_per_item", "energy_j_per_inference",
          "peak_rss_infer_bytes", "cuda_peak_allocated_bytes", "cosine_sim", "accuracy", "batch_size", "seq_len",
          "image_size"]
FLAG = ["contended"]
SCHEMA = pa.schema([(c, pa.string()) for c in TEXT] + [(c, pa.float64()) for c in NUMBER]
                   + [(c, pa.bool_()) for c in FLAG])


@dataclass
class History:
    runs: pd.DataFrame     # one row per run, oldest first: run, run_id, dir, suite, hardware, started_at, commit
    points: pd.DataFrame   # one row per record: run (the row in `runs`) and the SCHEMA columns
    skipped: list[str] = field(default_factory=list)  # runs or files left out, with the reason


def find_runs(paths: list[Path]) -> list[Path]:
    """Run directories: each path is one (it has a manifest) or holds them (a results root)."""
    out, seen = [], set()
    for p in map(Path, paths):
        if not p.is_dir():
            raise UserError(f"{str(p)!r} is not a directory: pass run directories or folders that hold them.")
        dirs = [p] if (p / "manifest.json").is_file() else sorted(
            d for d in p.iterdir() if not d.name.startswith(".") and (d / "manifest.json").is_file())
        for d in dirs:
            key = d.resolve()
            if key not in seen:
                seen.add(key)
                out.append(d)
    if not out:
        raise UserError("No runs found in " + ", ".join(repr(str(p)) for p in paths)
                        + ": a run directory holds a manifest.json.")
    return out


def _record_count(run_dir: Path) -> int | None:
    """How many record files the run has (None: no records folder, as in a history artifact)."""
    try:
        with os.scandir(run_dir / "records") as it:
            return sum(1 for e in it if e.name.endswith(".json") and not e.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return None


def _conform(table: pa.Table, where: str, skipped: list[str]) -> pa.Table:
    """The SCHEMA columns of a run's table, each cast to its type; absent ones all null."""
    cols = []
    for f in SCHEMA:
        if f.name not in table.column_names:
            cols.append(pa.nulls(table.num_rows, f.type))
            continue
        col = table.column(f.name)
        try:
            cols.append(col.cast(f.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            skipped.append(f"{where}: column {f.name} holds {col.type}, not {f.type}; left out")
            cols.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(cols, schema=SCHEMA)


def _read_points(run_dir: Path, skipped: list[str]) -> pa.Table:
    import pyarrow.parquet as pq

    path = run_dir / "records.parquet"
    n_files = _record_count(run_dir)
    if path.is_file():
        try:
            pf = pq.ParquetFile(path)
            if n_files is None or pf.metadata.num_rows == n_files:
                names = set(pf.schema_arrow.names)
                return _conform(pf.read(columns=[f.name for f in SCHEMA if f.name in names]), str(run_dir), skipped)
        except (OSError, pa.ArrowException) as e:
            skipped.append(f"{run_dir}: records.parquet unreadable ({type(e).__name__}); read from the record files")
    from bench.store import load_records

    df, bad = load_records(run_dir)
    skipped += [f"{run_dir}: record file {b} unreadable or torn; left out" for b in bad]
    if df.empty:
        return SCHEMA.empty_table()
    arrays = {}
    for c in SCHEMA.names:
        if c in df.columns:
            try:
                arrays[c] = pa.array(df[c], from_pandas=True)
            except (pa.ArrowException, TypeError, ValueError):
                arrays[c] = pa.array(df[c].map(lambda v: None if v is None else str(v)), pa.string(), from_pandas=True)
    return _conform(pa.table(arrays) if arrays else pa.table({"_": pa.nulls(len(df))}), str(run_dir), skipped)


def _run_row(run_dir: Path, manifest: dict) -> dict:
    from bench.compare import hardware_key
    from bench.report.format import is_missing

    env = manifest.get("environment") or {}
    key = hardware_key(env)
    hw = env.get(key)
    return {"run_id": str(manifest.get("run_id") or run_dir.name), "dir": str(run_dir),
            "suite": str(manifest.get("suite_name") or ""),
            "hardware": "not recorded" if is_missing(hw) else f"{'GPU' if key == 'gpu' else 'CPU'} {hw}",
            "started_at": manifest.get("started_at"), "commit": str(env.get("git_commit") or "")}


def _read_run(d: Path) -> tuple[dict | None, pa.Table | None, list[str]]:
    from bench.store import read_manifest

    skipped: list[str] = []
    try:
        manifest = read_manifest(d)
    except UserError as e:
        return None, None, [f"{d}: {e}"]
    return _run_row(d, manifest), _read_points(d, skipped), skipped


def index(paths: list[Path]) -> History:
    """Every readable run under `paths`, oldest first, with its records' trend columns."""
    from concurrent.futures import ThreadPoolExecutor

    from bench.report.format import workload_label

    skipped: list[str] = []
    rows, tables, pending, seen = [], [], [], {}
    # Two readers: Parquet decoding releases the GIL, so one thread parses a manifest while the other
    # reads. Every 64 runs the small tables are merged into one, so that a run costs its values and
    # not a table's worth of Arrow objects kept to the end.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for row, t, why in pool.map(_read_run, find_runs(paths)):
            skipped += why
            if row is None:
                continue
            if row["run_id"] in seen:
                skipped.append(f"{row['dir']}: run {row['run_id']} already read from {seen[row['run_id']]}; left out")
                continue
            seen[row["run_id"]] = row["dir"]
            rows.append(row)
            pending.append(t.append_column("run", pa.array([len(rows) - 1] * t.num_rows, pa.int32())))
            if len(pending) == 64:
                tables.append(pa.concat_tables(pending).combine_chunks())
                pending = []
    tables += pending
    if not rows:
        raise UserError("None of the runs could be read: " + "; ".join(skipped))
    runs = pd.DataFrame(rows, columns=["run_id", "dir", "suite", "hardware", "started_at", "commit"])
    runs["started_at"] = pd.to_datetime(runs["started_at"], utc=True, errors="coerce", format="ISO8601")
    # Oldest first; a run without a start time (written before the field) counts as the oldest.
    order = runs.assign(_t=runs["started_at"].fillna(pd.Timestamp.min.tz_localize("UTC"))).sort_values(
        ["_t", "run_id"], kind="stable").index.to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))  # read position -> position in time
    runs = runs.loc[order].reset_index(drop=True)
    runs.insert(0, "run", range(len(runs)))
    points = pa.concat_tables(tables).to_pandas(strings_to_categorical=True) if tables else \
        SCHEMA.empty_table().to_pandas()
    if len(points):
        points["run"] = rank[points["run"].to_numpy()]
        missing = points["workload"].isna()
        if missing.any():  # runs from before the record named its workload
            points["workload"] = points["workload"].astype(object)
            points.loc[missing, "workload"] = [workload_label(r) for r in points.loc[missing].to_dict("records")]
    return History(runs, points, skipped)
