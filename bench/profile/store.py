"""Profiles on disk: `results/<run>/profiles/<cell>.parquet` and `<cell>.trace.json`, with the run.

The Parquet file holds one row per op and layer (bench.profile.table.COLUMNS) and the pass's
description (runtime, basis, calls, per-call time, overhead) as JSON in the schema's metadata, so
that a profile is one self-describing file. Files are written through bench.fsio (a temporary
name, then a rename) like every other file of a run, into a `profiles/` directory that must be a
real directory of the run: a symbolic link there (a damaged or hostile run directory) would send
the writes elsewhere, so it is refused. `bench run` removes a run's cache and scratch when it ends;
profiles are results, and stay.

Readers find a cell's files by its cell id, never by a path a record names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.fsio import atomic_write
from bench.profile.table import COLUMNS, Profile

DIR = "profiles"
META_KEY = b"bench.profile"
CELL_ID = re.compile(r"^[A-Za-z0-9_=\-][A-Za-z0-9_.=\-]{0,254}$")  # bench.store.CELL_ID


def profiles_dir(run_dir: Path, create: bool = True) -> Path:
    d = Path(run_dir) / DIR
    if d.is_symlink() or (d.exists() and not d.is_dir()):
        raise RuntimeError(f"{str(d)!r} is not a directory of this run (a symbolic link or a file); "
                           "the profile is not written")
    if create:
        d.mkdir(exist_ok=True)
    return d


def paths(run_dir: Path, cell_id: str, create: bool = False) -> tuple[Path, Path]:
    """(profile, trace) of a cell."""
    if not CELL_ID.match(str(cell_id)):
        raise ValueError(f"cell id {cell_id!r} is not a safe file name")
    d = profiles_dir(run_dir, create)
    return d / f"{cell_id}.parquet", d / f"{cell_id}.trace.json"


def _schema():
    import pyarrow as pa

    types = {"calls": pa.float64(), "self_ms": pa.float64(), "total_ms": pa.float64(), "macs": pa.int64(),
             "flops": pa.float64(), "bytes": pa.int64()}
    return pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS])


def write_profile(path: Path, profile: Profile) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def cast(col, v):
        if v is None:
            return None
        return int(round(v)) if col in ("macs", "bytes") else v

    data = {c: [cast(c, r.get(c)) for r in profile.rows] for c in COLUMNS}
    table = pa.table(data, schema=_schema()).replace_schema_metadata(
        {META_KEY: json.dumps(profile.meta, default=str).encode()})
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def read_profile(path: Path) -> Profile:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {}).get(META_KEY, b"{}"))
    return Profile(table.to_pylist(), meta)


def load_profile(run_dir: Path, record: dict) -> Profile | None:
    """A cell's profile: its Parquet file, or (a run whose profiles were not kept, or copied
    without them) the category sums its record holds; None when the cell was not profiled."""
    if record.get("profile_status") != "ok":
        return None
    try:
        path, _ = paths(run_dir, record["cell_id"])
        if path.is_file():
            return read_profile(path)
    except (OSError, ValueError, RuntimeError, KeyError):
        pass
    return from_summary(record)


def from_summary(record: dict) -> Profile | None:
    cats = record.get("profile_category_ms")
    if not isinstance(cats, dict) or not cats:
        return None
    rows = [{"name": c, "op_type": None, "kind": "summary", "category": c, "how": "record", "layer": None,
             "parent": None, "provider": None, "calls": None, "self_ms": float(v), "total_ms": float(v),
             "macs": None, "flops": None, "flops_source": None, "bytes": None} for c, v in cats.items()]
    return Profile(rows, {"basis": "summary", "call_ms": record.get("profile_call_ms")})
