"""`bench plan SUITE`: the cells a suite expands to, and why any are skipped, before anything runs."""

from __future__ import annotations

from pathlib import Path

from bench.commands import DEFAULT_RESULTS, Command


def add_ignore_prior(parser) -> None:
    parser.add_argument("--ignore-prior", action="store_true",
                        help="do not refuse a server p99 bound that an earlier run on this hardware measured "
                             "below the cell's single-stream latency (docs/scenarios.md)")


def expand_suite(suite_path: str, require_runnable: bool = True):
    from bench.suite import expand, load_suite

    return expand(load_suite(suite_path), require_runnable)


class Plan(Command):
    name = "plan"
    help = "print the cells a suite expands to, and the skips, without running"

    def add_arguments(self, parser) -> None:
        parser.add_argument("suite")
        parser.add_argument("--results-dir", default=str(DEFAULT_RESULTS),
                            help="where earlier runs are, for the server-bound check (default: results)")
        add_ignore_prior(parser)

    def run(self, args) -> int:
        from rich.console import Console
        from rich.table import Table

        plan = expand_suite(args.suite, require_runnable=False)
        if not args.ignore_prior:
            from bench.scenarios.prior import check_server_bounds

            check_server_bounds(plan, Path(args.results_dir))
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
            console.print(f"Measuring time under the suite's measure settings: {lo / 60:.1f} to {hi / 60:.1f} min "
                          f"for {len(plan.runnable)} cells (warm-up, sampling, the 1 s energy window on GPU "
                          "cells, and the offline sweeps and server searches a suite asks for). Starting, building and exporting cells come on top: a run's report and "
                          "`bench summary` say how much.", markup=False, highlight=False)
        else:
            console.print("No cell of this suite can run on this machine (every one is skipped, reasons above); "
                          "`bench run` would refuse it here.", markup=False, highlight=False)
        return 0
