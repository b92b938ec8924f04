"""The record schema and the results store.

A run lives in `results/<run-id>/`: `manifest.json`, one JSON file per finished cell under
`records/` (written to a temporary name and renamed, so a torn write cannot exist), and
`records.parquet`, rebuilt from those files after every cell. An interrupted run therefore loses
at most the cell in flight, and the per-cell files are the source of truth. A record file that
cannot be parsed, or lacks the keys every record has, counts as torn: readers skip it and name it,
and a resumed run measures that cell again.

Paths from users are not trusted: a run id is one safe directory name, a resumed run directory
must lie inside the results root, and a record's file name comes from a checked cell id.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import UserError
from bench.fsio import atomic_write, atomic_write_text

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
LIST_COLUMNS = ["latency_samples_ms", "latency_sample_t_s", "outlier_stats"]

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
CELL_ID = re.compile(r"^[A-Za-z0-9_=\-][A-Za-z0-9_.=\-]{0,254}$")
# Every record, whatever its status, has these; a file without them is a torn or foreign write.
REQUIRED_KEYS = ("run_id", "cell_id", "status")


def check_run_id(run_id: str) -> str:
    """A run id becomes a directory name, so it may not climb out of the results root."""
    if not RUN_ID.match(run_id) or ".." in run_id:
        raise UserError(f"Run id {run_id!r} is not allowed: use letters, digits, '.', '_' and '-' only.")
    return run_id


def disk_error(e: OSError, what: str) -> Exception:
    """A full disk (or another OS refusal) as one clear line for the CLI, not a traceback."""
    if e.errno == errno.ENOSPC:
        return UserError(f"{what}: the disk is full ({e.filename or 'no space left on device'}). Free some space "
                         "and finish the run with `bench run --resume RUN_DIR`.")
    return UserError(f"{what}: {e.strerror or e}.")


def inside(root: Path, path: Path) -> Path:
    """`path` resolved (symlinks followed), if it lies strictly inside `root`; else a UserError."""
    r, p = Path(root).resolve(), Path(path).resolve()
    if p == r or not p.is_relative_to(r):
        raise UserError(f"{str(path)!r} is not inside the results directory {str(root)!r}; "
                        "pass --results-dir for the root that holds this run.")
    return p


def record_problem(rec: Any, name: str | None = None) -> str | None:
    """Why a parsed record file is not a record (None if it is one)."""
    if not isinstance(rec, dict):
        return f"holds a {type(rec).__name__}, not a record"
    missing = [k for k in REQUIRED_KEYS if k not in rec]
    if missing:
        return f"lacks {', '.join(missing)}"
    if name is not None and rec["cell_id"] != name:
        return f"names cell {rec['cell_id']!r}"
    return None


class RunStore:
    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.records_dir = self.dir / "records"
        self.cache_dir = self.dir / "cache"
        self.scratch_dir = self.dir / "scratch"
        self._lock_fd: int | None = None

    @classmethod
    def open(cls, root: Path, run: str | Path) -> RunStore:
        """An existing run directory, for --resume: a path inside `root`, or a run id under it."""
        given = Path(run)
        if len(given.parts) == 1 and not given.is_absolute() and (Path(root) / given).exists():
            given = Path(root) / given  # a run id
        if given.is_symlink():
            raise UserError(f"{str(run)!r} is a symbolic link; resume the run directory itself.")
        path = inside(root, given)
        check_run_id(path.name)
        if not (path / "manifest.json").is_file():
            raise UserError(f"{str(run)!r} is not a run directory: it has no manifest.json.")
        store = cls(path)
        store._make_subdirs()
        return store

    def _make_subdirs(self) -> None:
        """records/, cache/, scratch/ as real directories inside the run: a symlink or a file in their
        place (a hostile or damaged run directory) would send writes elsewhere, so it is refused."""
        for d in (self.records_dir, self.cache_dir, self.scratch_dir):
            if d.is_symlink() or (d.exists() and not d.is_dir()):
                raise UserError(f"{str(d)!r} is not a directory of this run (a symbolic link or a file); "
                                "this run directory cannot be written to.")
            d.mkdir(parents=True, exist_ok=True)

    def lock(self) -> None:
        """One runner per run directory. The kernel drops the lock when the runner dies, even by kill -9."""
        fd = os.open(self.dir / ".lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(f"Another bench process is running in {str(self.dir)!r}.") from None
        self._lock_fd = fd

    @classmethod
    def create(cls, root: Path, run_id: str, manifest: dict | None = None) -> RunStore:
        """A new run directory, which appears with its manifest or not at all: it is filled under a
        hidden temporary name and renamed into place, so a runner killed in between leaves nothing
        that `--resume` cannot read or a new run cannot reuse."""
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
        final = root / run_id
        if final.is_symlink() or (final.exists() and not final.is_dir()):
            raise UserError(f"{str(final)!r} is a symbolic link or a file; choose another --run-id.")
        if final.exists() and any(final.iterdir()):
            raise UserError(f"Run directory {str(final)!r} already exists; choose another --run-id.")
        tmp = cls(root / f".{run_id}.tmp{os.getpid()}")
        shutil.rmtree(tmp.dir, ignore_errors=True)
        try:
            tmp._make_subdirs()
            if manifest is not None:
                tmp.write_manifest(manifest)
            os.replace(tmp.dir, final)  # onto an absent or empty directory
        except OSError as e:
            shutil.rmtree(tmp.dir, ignore_errors=True)
            raise disk_error(e, f"cannot create run directory {str(final)!r}") from None
        except BaseException:
            shutil.rmtree(tmp.dir, ignore_errors=True)
            raise
        return cls(final)

    # manifest -----------------------------------------------------------------
    def write_manifest(self, manifest: dict) -> None:
        from bench.manifest import validate

        try:
            atomic_write_text(self.dir / "manifest.json", json.dumps(validate(manifest), indent=2, default=str))
        except OSError as e:
            raise disk_error(e, f"cannot write the manifest of {str(self.dir)!r}") from None

    def manifest(self) -> dict:
        return read_manifest(self.dir)

    # records --------------------------------------------------------------------
    def write_record(self, record: dict[str, Any]) -> None:
        cell_id = str(record["cell_id"])
        if not CELL_ID.match(cell_id):
            raise ValueError(f"cell id {cell_id!r} is not a safe file name")
        path = self.records_dir / f"{cell_id}.json"
        if path.is_symlink():
            raise UserError(f"{str(path)!r} is a symbolic link; this run directory cannot be written to.")
        try:
            atomic_write_text(path, json.dumps(record, default=_jsonable))
            self.write_parquet()
        except OSError as e:
            raise disk_error(e, f"cannot write the record of {cell_id!r}") from None

    def write_parquet(self) -> None:
        df, _ = load_records(self.dir)
        if not df.empty:
            flat = flat_table(df)
            try:
                atomic_write(self.dir / "records.parquet", lambda tmp: flat.to_parquet(tmp, index=False))
            except (OverflowError, TypeError, ValueError) as e:  # pyarrow cannot type a column: the
                # JSON records stay the source of truth; the table is a convenience, rebuilt next time
                import sys

                print(f"warning: records.parquet not updated ({type(e).__name__}: {str(e)[:200]})", file=sys.stderr)
            atomic_write(self.dir / "records.csv", lambda tmp: flat.to_csv(tmp, index=False))

    def finished_records(self) -> dict[str, dict]:
        """Readable records by cell id; torn ones, and cells that failed only because the disk was
        full, are left out, so their cells run again."""
        out = {}
        for p in record_files(self.dir):
            rec = _read_record(p)
            if isinstance(rec, dict) and rec.get("failure") != "disk-full":
                out[p.stem] = rec
        return out

    def finished_cells(self) -> set[str]:
        return set(self.finished_records())

    def remove_partial_writes(self) -> None:
        """Temporary files a killed writer left behind (never a finished record)."""
        for p in [*self.records_dir.glob(".*.tmp*"), *self.dir.glob(".*.tmp*")]:
            p.unlink(missing_ok=True)

    def remove_artifacts(self) -> None:
        """Exports, calibration data and per-cell scratch: not results, and often large."""
        for d in (self.scratch_dir, self.cache_dir):
            shutil.rmtree(d, ignore_errors=True)


def flat_table(df: pd.DataFrame) -> pd.DataFrame:
    """The records as a flat table: per-iteration samples dropped, nested values (environment
    dicts, per-layer statistics) kept as JSON text, which Parquet and CSV both hold faithfully."""
    flat = df.drop(columns=LIST_COLUMNS, errors="ignore").copy()
    for col in flat.columns:
        if flat[col].dtype == object and flat[col].map(
                lambda v: isinstance(v, dict) or (isinstance(v, list) and any(isinstance(x, dict) for x in v))).any():
            flat[col] = flat[col].map(lambda v: None if v is None else json.dumps(v, default=_jsonable))
    return flat


def _jsonable(x):
    if hasattr(x, "item"):
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


def read_manifest(run_dir: Path) -> dict:
    p = Path(run_dir) / "manifest.json"
    try:
        manifest = json.loads(p.read_text())
    except FileNotFoundError:
        raise UserError(f"{str(run_dir)!r} is not a run directory: it has no manifest.json.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"The manifest of {str(run_dir)!r} cannot be read: {e}.") from None
    if not isinstance(manifest, dict):
        raise UserError(f"The manifest of {str(run_dir)!r} is not a JSON object.")
    from pydantic import ValidationError

    from bench.manifest import validate

    try:
        return validate(manifest)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "the manifest"
        raise UserError(f"The manifest of {str(run_dir)!r} is not valid: {where}: {err['msg']}.") from None


def _read_record(p: Path) -> dict | str:
    """The record in `p`, or why it is not one."""
    from bench.record import read_record

    try:
        rec = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError) as e:
        return f"unreadable ({type(e).__name__})"
    except json.JSONDecodeError:
        return "not valid JSON (torn or corrupt)"
    except RecursionError:
        return "nested too deeply to read"
    return record_problem(rec, p.stem) or read_record(rec)


def record_files(run_dir: Path) -> list[Path]:
    """The run's record files; a `records` that is not a directory (replaced by a file) holds none."""
    d = Path(run_dir) / "records"
    return sorted(p for p in d.glob("*.json") if p.is_file()) if d.is_dir() else []


def skipped_record_files(run_dir: Path) -> dict[str, str]:
    """Record files that readers skip, with the reason for each."""
    out = {}
    for p in record_files(run_dir):
        rec = _read_record(p)
        if isinstance(rec, str):
            out[p.name] = rec
    return out


def missing_cells(run_dir: Path) -> list[str]:
    """Cells the manifest planned that have no readable record (not run yet, interrupted, or torn)."""
    try:
        planned = [c.get("cell_id") for c in read_manifest(run_dir).get("cells", []) if isinstance(c, dict)]
    except UserError:
        return []
    have = {p.stem for p in record_files(run_dir) if isinstance(_read_record(p), dict)}
    return [c for c in planned if c and c not in have]


def load_records(run_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """All records of a run, and the names of record files that were unreadable or torn (and skipped)."""
    rows, bad = [], []
    for p in record_files(run_dir):
        rec = _read_record(p)
        if isinstance(rec, dict):
            rows.append(rec)
        else:
            bad.append(p.name)
    df = pd.DataFrame(rows)
    if not df.empty:
        ordered = [c for c in COLUMNS if c in df.columns]
        df = df[ordered + [c for c in df.columns if c not in ordered]]
    return df, bad
