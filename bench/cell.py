"""One cell, in its own process: the phases of bench.pipeline, and a record file for the parent.

Run as `python -m bench.cell CELL_JSON RECORD_JSON --cache DIR --scratch DIR`. A fresh process
per cell gives an honest memory peak and keeps a crashing kernel from taking the sweep down.
The parent (bench.executor) turns a missing record into a failure record.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path


def run_cell(cell_json: dict, cache: Path, scratch: Path) -> dict:
    t_cell = time.perf_counter()
    from bench.pipeline import run
    from bench.suite import Cell

    return run(Cell.from_json(cell_json), cache, scratch, t_start=t_cell)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cell")
    ap.add_argument("cell_json")
    ap.add_argument("record_json")
    ap.add_argument("--cache", required=True)
    ap.add_argument("--scratch", required=True)
    args = ap.parse_args(argv)
    cell_json = json.loads(Path(args.cell_json).read_text())
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        record = run_cell(cell_json, Path(args.cache), scratch)
        record["status"], record["error"] = "ok", None
        code = 0
    except Exception as e:  # the cell failed; the sweep goes on
        traceback.print_exc()
        record = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
        code = 1
    Path(args.record_json).write_text(json.dumps(record, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main())
