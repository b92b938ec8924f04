"""`bench import BUNDLE_RESULTS RUN_DIR`: records measured on a device, merged into a run.

The records keep their own cell ids (`<cell>.on-device`) and say `emulated: false`, so they sit
beside the emulated cells rather than replacing them. Importing the same results twice changes
nothing; results of another device run for a cell already imported are refused unless `replace`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from bench.errors import UserError
from bench.store import RunStore, read_manifest

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+\-]{0,250}$")
REQUIRED = ("cell_id", "status", "model", "runtime", "device_run_id", "emulated")


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"Cannot read {str(path)!r}: {e}.") from None


def import_results(results_dir: str | Path, run_dir: str | Path, replace: bool = False) -> dict:
    results, run = Path(results_dir), Path(run_dir)
    summary_path = results / "bundle_results.json"
    if not summary_path.is_file():
        raise UserError(f"{str(results)!r} is not a bundle's results directory: it has no bundle_results.json "
                        "(run.py writes it on the device).")
    summary = _read(summary_path)
    manifest = read_manifest(run)
    store = RunStore(run)
    store.records_dir.mkdir(parents=True, exist_ok=True)
    records = [_read(p) for p in sorted((results / "records").glob("*.json"))]
    if not records:
        raise UserError(f"{str(results / 'records')!r} holds no records to import.")
    added, unchanged, replaced = [], [], []
    for rec in records:
        missing = [k for k in REQUIRED if k not in rec]
        if missing or rec.get("emulated") is not False:
            raise UserError(f"Record {rec.get('cell_id', '?')!r} is not a device record from a bundle "
                            f"(missing {', '.join(missing) or 'emulated: false'}).")
        if not SAFE_ID.match(str(rec["cell_id"])):  # it becomes a file name in the run directory
            raise UserError(f"Record cell id {rec['cell_id']!r} is not a safe file name.")
        existing = store.records_dir / f"{rec['cell_id']}.json"
        if existing.exists():
            old = _read(existing)
            if old.get("device_run_id") == rec["device_run_id"]:
                unchanged.append(rec["cell_id"])
                continue
            if not replace:
                raise UserError(f"Run {manifest.get('run_id')!r} already has {rec['cell_id']!r} from device run "
                                f"{old.get('device_run_id')!r}; these results are device run "
                                f"{rec['device_run_id']!r}. Pass --replace to overwrite.")
            replaced.append(rec["cell_id"])
        else:
            added.append(rec["cell_id"])
        store.write_record({**rec, "run_id": manifest.get("run_id", run.name)})
    if added or replaced:
        manifest.setdefault("imports", []).append({
            "source": str(results), "bundle_id": summary.get("bundle_id"),
            "device_run_id": summary.get("device_run_id"), "device": summary.get("environment", {}),
            "records": added + replaced, "imported_at": datetime.now(UTC).isoformat()})
        store.write_manifest(manifest)
    return {"added": added, "unchanged": unchanged, "replaced": replaced}
