"""Runs cells, one process each, and turns every outcome into a record.

The parent never imports torch for a cell: it writes the cell to JSON, starts
`python -m bench.cell`, waits with a timeout, and reads the record the child wrote. A child that
raised, crashed on a signal or overran its timeout still yields a record, with its status,
the reason and the last lines of its stderr, and the sweep goes on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.store import RunStore
from bench.suite import Cell

STDERR_TAIL_LINES = 20


def base_record(cell: Cell, run_id: str) -> dict:
    return {
        "run_id": run_id, "cell_id": cell.cell_id, "model": cell.model, "optimization": cell.optimization,
        "runtime": cell.target.runtime, "device": cell.target.device, "target": cell.target.label,
        "threads": cell.target.threads, "batch_size": cell.workload.batch_size,
        "seq_len": cell.workload.seq_len, "image_size": cell.workload.image_size,
        "workload": cell.workload.label,
        "steps": [s.label for s in cell.resolved],
    }


def _tail(path: Path, n: int = STDERR_TAIL_LINES) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def run_cell_process(cell: Cell, store: RunStore, run_id: str) -> dict:
    record = base_record(cell, run_id)
    if cell.status == "skipped":
        return {**record, "status": "skipped", "error": cell.reason}
    work = store.scratch_dir / cell.cell_id
    work.mkdir(parents=True, exist_ok=True)
    cell_path, out_path, err_path = work / "cell.json", work / "record.json", work / "stderr.txt"
    cell_path.write_text(json.dumps(cell.to_json()))
    out_path.unlink(missing_ok=True)
    env = dict(os.environ)
    threads = str(cell.target.threads)
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "bench.cell", str(cell_path), str(out_path),
           "--cache", str(store.cache_dir), "--scratch", str(work)]
    t0 = time.perf_counter()
    with open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=err, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            code = proc.wait(timeout=cell.measure.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
    wall = time.perf_counter() - t0
    tail = _tail(err_path)
    if code is None:
        return {**record, "status": "timeout", "error": f"exceeded the cell timeout of {cell.measure.timeout_s:g} s",
                "stderr_tail": tail, "cell_wall_s": wall}
    child: dict = {}
    if out_path.exists():
        try:
            child = json.loads(out_path.read_text())
        except json.JSONDecodeError:
            child = {}
    if code < 0:
        return {**record, "status": "failed", "error": f"crashed: killed by {_signal_name(code)}",
                "stderr_tail": tail, "cell_wall_s": wall}
    if not child:
        return {**record, "status": "failed", "error": f"cell process exited with status {code} and wrote no record",
                "stderr_tail": tail, "cell_wall_s": wall}
    if child.get("status") != "ok":
        child["stderr_tail"] = tail
    return {**record, **child, "cell_wall_s": child.get("cell_wall_s", wall)}


def run_cells(cells: list[Cell], store: RunStore, run_id: str,
              on_record: Callable[[Cell, dict], None] | None = None) -> list[dict]:
    records = []
    for cell in cells:
        rec = run_cell_process(cell, store, run_id)
        store.write_record(rec)
        records.append(rec)
        if on_record:
            on_record(cell, rec)
    return records
