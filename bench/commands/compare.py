"""`bench compare RUN_A RUN_B`: the printed table, the HTML page, and the CI regression gate.

The statistics and the rendering are in bench/compare.py; this is the command's arguments and
its exit status (1 when the gate trips).
"""

from __future__ import annotations

from pathlib import Path

from bench.commands import DEFAULT_REPORTS, Command
from bench.errors import UserError


class Compare(Command):
    name = "compare"
    help = "compare two runs cell by cell, with confidence intervals"

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_a", help="the reference run directory (A)")
        parser.add_argument("run_b", help="the new run directory (B)")
        parser.add_argument("--out", help="output directory of the HTML (default: reports/compare-A-vs-B)")
        parser.add_argument("--fail-on-regression", type=float, metavar="PCT",
                            help="exit 1 when a cell is significantly slower in B by more than PCT percent, "
                                 "or finished in A and failed in B")

    def run(self, args) -> int:
        from bench.compare import compare_runs, render_html, text_table

        pct = args.fail_on_regression
        if pct is not None and not pct >= 0:
            raise UserError(f"--fail-on-regression takes a percentage >= 0, not {pct}.")
        cmp = compare_runs(Path(args.run_a), Path(args.run_b))
        print(text_table(cmp))
        from bench.store import check_run_id

        # The default name comes from the run directories, never from their manifests' contents.
        names = [check_run_id(Path(r).resolve().name) for r in (args.run_a, args.run_b)]
        out = Path(args.out) if args.out else DEFAULT_REPORTS / f"compare-{names[0]}-vs-{names[1]}"
        out.mkdir(parents=True, exist_ok=True)
        (out / "index.html").write_text(render_html(cmp, pct), encoding="utf-8")
        print(f"Report: {out / 'index.html'}")
        if pct is not None and cmp.hardware:
            print(f"Regression gate not applied: the runs used different hardware ({cmp.hardware}). Their "
                  "latencies are listed above but do not measure a change in the code; runs after this one "
                  "compare with it.")
            return 0
        if pct is not None:
            regs = cmp.regressions(pct)
            for g in regs:
                print(f"REGRESSION {g['cell_id']}: {g['why']}")
            if regs:
                print(f"{len(regs)} cell(s) regressed by more than {pct:g}%.")
                return 1
        return 0
