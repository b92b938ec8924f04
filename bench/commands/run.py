"""`bench run SUITE` (or `--resume RUN_DIR`): every cell of a suite, one process per cell, into a run directory."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.commands import DEFAULT_REPORTS, DEFAULT_RESULTS, Command
from bench.commands.plan import add_ignore_prior
from bench.errors import UserError


def warn_untrusted(trust: dict) -> None:
    """Loudly, on stderr: numbers taken on a machine that was not the run's alone."""
    if trust["machine_never_quiet"]:
        print("WARNING: the machine never became quiet while cells were measured again; their numbers include "
              "other work on this machine.", file=sys.stderr)
    if trust["still_contended"]:
        print(f"WARNING: {len(trust['still_contended'])} cell(s) stayed contended (other work competed for their "
              f"CPUs while they were timed): {', '.join(trust['still_contended'][:5])}"
              + (" ..." if len(trust["still_contended"]) > 5 else ""), file=sys.stderr)
    if trust["remeasured"]:
        print(f"{len(trust['remeasured'])} cell(s) were measured again; each record keeps every attempt.",
              file=sys.stderr)


def user_models(names: list[str]) -> dict:
    """The weights' provenance of every model the suite brought (none for the zoo's)."""
    from bench.zoo import MODELS

    return {n: MODELS.get(n).weights for n in names if MODELS.get(n).weights}


class Run(Command):
    name = "run"
    help = "run a suite, one process per cell"

    def add_arguments(self, parser) -> None:
        p = parser
        p.add_argument("suite", nargs="?", help="suite file (omit with --resume)")
        p.add_argument("--results-dir", default=str(DEFAULT_RESULTS),
                       help="root of run directories (default: results)")
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
        p.add_argument("--strict", action="store_true",
                       help="exit with status 3 if any cell is still contended after its re-measurements")
        p.add_argument("--reports-dir", default=str(DEFAULT_REPORTS))
        p.add_argument("--profile", action="store_true",
                       help="after timing each cell, a short profiled pass: operator breakdown, trace, hardware "
                            "counters (as `measure: {profile: true}`; docs/profiling.md)")
        add_ignore_prior(p)

    def run(self, args) -> int:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from bench.commands.plan import expand_suite
        from bench.executor import run_cells
        from bench.measure.env import capture
        from bench.scenarios.prior import check_server_bounds
        from bench.store import RunStore

        if args.resume and (args.suite or args.run_id):
            raise UserError("--resume takes the run directory alone: the suite and run id come from its manifest.")
        if args.resume and args.profile:
            raise UserError("--profile starts a run; a resumed run profiles its cells as the run it resumes did.")
        if args.executor == "ray":
            from bench.ray_executor import require_ray

            require_ray()  # before any run directory exists
        if args.resume:  # re-plan from the manifest; cells with a readable record are not run again
            from bench.executor import cells_from_manifest

            store = RunStore.open(Path(args.results_dir), args.resume)
            store.lock()
            manifest = store.manifest()
            # Names of paths come from the directory, never from the file's contents.
            run_id, suite_name, cells = store.dir.name, manifest.get("suite_name", ""), cells_from_manifest(manifest)
            manifest.setdefault("resumed_at", []).append(datetime.now(UTC).isoformat())
            manifest.update(status="running", executor=args.executor)
            store.write_manifest(manifest)
        else:
            if not args.suite:
                raise UserError("bench run needs a suite file, or --resume RUN_DIR to finish an earlier run.")
            if args.run_id is not None and not args.run_id.strip():
                raise UserError("--run-id is empty: give the run a name, or leave the option out for the default.")
            plan = expand_suite(args.suite)
            if not args.ignore_prior:
                check_server_bounds(plan, Path(args.results_dir))
            if args.profile:  # every cell, before the manifest records them (a resumed run keeps it)
                for c in plan.cells:
                    c.measure = c.measure.model_copy(update={"profile": True})
            run_id = args.run_id or f"{plan.suite.name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
            suite_name, cells = plan.suite.name, plan.cells
            manifest = {
                "run_id": run_id, "suite_name": plan.suite.name, "suite_path": str(args.suite),
                "suite_text": Path(args.suite).read_text(), "cells": [c.to_json() for c in plan.cells],
                "excluded": [c.cell_id for c in plan.excluded], "environment": capture(),
                "models": user_models(plan.suite.models), "accuracy_tolerance": plan.suite.accuracy_tolerance,
                "started_at": datetime.now(UTC).isoformat(), "finished_at": None, "status": "running",
                "executor": args.executor,
            }
            store = RunStore.create(Path(args.results_dir), run_id, manifest)  # appears with its manifest
            store.lock()
        from bench.executor import interruptible
        from bench.measure.cell_metrics import measure_run_peaks

        # Roofline ceilings, once per run (again on resume: the cells read them from the run cache).
        t_peaks = time.perf_counter()
        with interruptible(store, len(cells)):
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
                flags = " ".join(f for f in ("contended", "noisy") if rec.get(f))
                again = (f" (attempt {rec['attempt_kept'] + 1} of {len(rec['attempts'])} kept)"
                         if rec.get("remeasured") else "")
                progress.console.print(f"{status:>7}  {cell.cell_id}: {detail}{' ' + flags if flags else ''}{again}",
                                       markup=False, highlight=False)
                if not rec.get("remeasured"):  # a re-measured cell was counted on its first attempt
                    progress.advance(task)

            records = run_cells(cells, store, run_id, on_record, executor=args.executor, address=args.address,
                                keep_artifacts=args.keep_artifacts, fork_server=not args.no_fork_server)
        from bench.remeasure import run_summary

        trust = run_summary(records)
        manifest.update(finished_at=datetime.now(UTC).isoformat(), wall_s=time.perf_counter() - t0,
                        environment_after=capture(), status="complete", contention=trust)
        store.write_manifest(manifest)
        counts = {s: sum(r["status"] == s for r in records) for s in ("ok", "failed", "timeout", "skipped")}
        print(f"Run {run_id}: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + f". Results in {store.dir}")
        warn_untrusted(trust)
        if args.report:
            from bench.commands.report import render

            path = render(store.dir, Path(args.reports_dir) / run_id)
            print(f"Report: {path}")
        if args.strict and trust["still_contended"]:
            print(f"--strict: {len(trust['still_contended'])} cell(s) stayed contended; failing the run.",
                  file=sys.stderr)
            return 3
        return 0
