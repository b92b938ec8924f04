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
    if plan.runnable:
        from bench.report.run_time import measuring_bounds

        lo, hi = measuring_bounds(plan.runnable)
        console.print(f"Measuring time under the suite's measure settings: {lo / 60:.1f} to {hi / 60:.1f} min for "
                      f"{len(plan.runnable)} cells (warm-up, sampling, and the 1 s energy window on GPU cells). "
                      "Starting, building and exporting cells come on top: a run's report and `bench summary` "
                      "say how much.", markup=False, highlight=False)
    return 0


def cmd_run(args) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from bench.executor import run_cells
    from bench.measure.env import capture
    from bench.store import RunStore

    if args.resume and (args.suite or args.run_id):
        raise UserError("--resume takes the run directory alone: the suite and run id come from its manifest.")
    if args.executor == "ray":
        from bench.ray_executor import require_ray

        require_ray()  # before any run directory exists
    if args.resume:  # re-plan from the manifest; cells with a readable record are not run again
        from bench.executor import cells_from_manifest

        store = RunStore.open(Path(args.results_dir), args.resume)
        store.lock()
        manifest = store.manifest()
        run_id, suite_name, cells = manifest.get("run_id", store.dir.name), manifest.get("suite_name", ""), \
            cells_from_manifest(manifest)
        manifest.setdefault("resumed_at", []).append(datetime.now(UTC).isoformat())
    else:
        if not args.suite:
            raise UserError("bench run needs a suite file, or --resume RUN_DIR to finish an earlier run.")
        plan = _plan(args.suite)
        run_id = args.run_id or f"{plan.suite.name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
        store = RunStore.create(Path(args.results_dir), run_id)
        store.lock()
        suite_text = Path(args.suite).read_text()
        suite_name, cells = plan.suite.name, plan.cells
        manifest = {
            "run_id": run_id, "suite_name": plan.suite.name, "suite_path": str(args.suite), "suite_text": suite_text,
            "cells": [c.to_json() for c in plan.cells], "excluded": [c.cell_id for c in plan.excluded],
            "environment": capture(), "started_at": datetime.now(UTC).isoformat(), "finished_at": None,
        }
    manifest.update(status="running", executor=args.executor)
    store.write_manifest(manifest)
    from bench.measure.cell_metrics import measure_run_peaks

    # Roofline ceilings, once per run (again on resume: the cells read them from the run cache).
    t_peaks = time.perf_counter()
    manifest.update(measure_run_peaks(cells, store.cache_dir))
    manifest["peaks_s"] = time.perf_counter() - t_peaks
    store.write_manifest(manifest)
    t0 = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), transient=False) as progress:
        task = progress.add_task(f"{suite_name}", total=len(cells))

        def on_record(cell, rec):
            status = rec["status"]
            lat = rec.get("latency_ms_p50")
            detail = f"{lat:.2f} ms p50" if lat is not None else (rec.get("error") or "")[:100]
            progress.console.print(f"{status:>7}  {cell.cell_id}: {detail}", markup=False, highlight=False)
            progress.advance(task)

        records = run_cells(cells, store, run_id, on_record, executor=args.executor, address=args.address,
                            keep_artifacts=args.keep_artifacts, fork_server=not args.no_fork_server)
    manifest.update(finished_at=datetime.now(UTC).isoformat(), wall_s=time.perf_counter() - t0,
                    environment_after=capture(), status="complete")
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
    from bench.store import check_run_id

    run_dir = Path(args.run_dir)
    out = Path(args.out) if args.out else DEFAULT_REPORTS / check_run_id(run_dir.resolve().name)
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
    p.add_argument("suite", nargs="?", help="suite file (omit with --resume)")
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS), help="root of run directories (default: results)")
    p.add_argument("--run-id", help="name of the run directory (default: <suite>-<UTC time>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="finish an interrupted run (a directory in --results-dir)")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: one process per cell, in turn (default); ray: cells as Ray tasks")
    p.add_argument("--address", help="Ray cluster address for --executor ray (default: start a local Ray)")
    p.add_argument("--no-fork-server", action="store_true",
                   help="start each cell's process from scratch instead of forking it from a warm process "
                        "that imported torch once (slower; still one process per cell either way)")
    p.add_argument("--keep-artifacts", action="store_true",
                   help="keep ONNX exports, calibration data and per-cell scratch under the run directory")
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
