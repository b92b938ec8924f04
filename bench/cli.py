"""`bench plan | run | report | compare | export`: the command line.

Bad input is a `UserError`: one paragraph on stderr, exit status 2, nothing started.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.errors import UserError

DEFAULT_RESULTS = Path("results")
DEFAULT_REPORTS = Path("reports")


def _plan(suite_path: str):
    from bench.suite import expand, load_suite

    return expand(load_suite(suite_path))


def cmd_plan(args) -> int:
    from rich.console import Console
    from rich.table import Table

    plan = _plan(args.suite)
    console = Console(width=max(Console().width, 140))
    table = Table(title=f"Suite {plan.suite.name}: {len(plan.runnable)} cells to run, "
                        f"{len(plan.skipped)} skipped, {len(plan.excluded)} excluded")
    for col in ("model", "optimization", "target", "workload", "status / reason"):
        table.add_column(col, overflow="fold")
    for c in plan.cells:
        note = "run" if c.status == "planned" else f"skip: {c.reason}"
        table.add_row(c.model, c.optimization, f"{c.target.label} x{c.target.threads}", c.workload.label, note)
    console.print(table)
    return 0


def cmd_run(args) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from bench.executor import run_cells
    from bench.measure.env import capture
    from bench.store import RunStore

    plan = _plan(args.suite)
    run_id = args.run_id or f"{plan.suite.name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    store = RunStore.create(Path(args.results_dir), run_id)
    suite_text = Path(args.suite).read_text()
    manifest = {
        "run_id": run_id, "suite_name": plan.suite.name, "suite_path": str(args.suite), "suite_text": suite_text,
        "cells": [c.to_json() for c in plan.cells], "excluded": [c.cell_id for c in plan.excluded],
        "environment": capture(), "started_at": datetime.now(UTC).isoformat(), "finished_at": None,
    }
    store.write_manifest(manifest)
    from bench.measure.cell_metrics import measure_run_peaks

    manifest.update(measure_run_peaks(plan.cells, store.cache_dir))  # roofline ceilings, once per run
    store.write_manifest(manifest)
    t0 = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), transient=False) as progress:
        task = progress.add_task(f"{plan.suite.name}", total=len(plan.cells))

        def on_record(cell, rec):
            status = rec["status"]
            lat = rec.get("latency_ms_p50")
            detail = f"{lat:.2f} ms p50" if lat is not None else (rec.get("error") or "")[:100]
            progress.console.print(f"{status:>7}  {cell.cell_id}: {detail}", markup=False, highlight=False)
            progress.advance(task)

        records = run_cells(plan.cells, store, run_id, on_record)
    manifest.update(finished_at=datetime.now(UTC).isoformat(), wall_s=time.perf_counter() - t0,
                    environment_after=capture())
    store.write_manifest(manifest)
    counts = {s: sum(r["status"] == s for r in records) for s in ("ok", "failed", "timeout", "skipped")}
    print(f"Run {run_id}: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + f". Results in {store.dir}")
    if args.report:
        out = Path(args.reports_dir) / run_id
        path = _render(store.dir, out)
        print(f"Report: {path}")
    return 0


def _render(run_dir: Path, out: Path) -> Path:
    from bench.report.html import write_report

    return write_report(Path(run_dir), Path(out))


def cmd_report(args) -> int:
    run_dir = Path(args.run_dir)
    out = Path(args.out) if args.out else DEFAULT_REPORTS / run_dir.name
    path = _render(run_dir, out)
    print(f"Report: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="bench", description="Benchmark transformer inference optimizations.")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plan", help="print the cells a suite expands to, and the skips, without running")
    p.add_argument("suite")
    p.set_defaults(fn=cmd_plan)

    p = sub.add_parser("run", help="run a suite, one process per cell")
    p.add_argument("suite")
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS), help="root of run directories (default: results)")
    p.add_argument("--run-id", help="name of the run directory (default: <suite>-<UTC time>)")
    p.add_argument("--report", action="store_true", help="render the HTML report when the run ends")
    p.add_argument("--reports-dir", default=str(DEFAULT_REPORTS))
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("report", help="render a run's self-contained HTML report")
    p.add_argument("run_dir")
    p.add_argument("--out", help="output directory (default: reports/<run-id>)")
    p.set_defaults(fn=cmd_report)

    from bench import compare, export

    compare.add_parser(sub)
    export.add_parser(sub)

    from bench.edge.cli import add_commands  # export-edge, import, summary

    add_commands(sub)

    from bench.survey import add_parser as add_survey_parser  # `bench survey RUN_DIR`

    add_survey_parser(sub)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("Interrupted: finished cells are saved in the run directory.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
