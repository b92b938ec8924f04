"""`bench survey RUN_DIR [--out DIR]`: the survey's figures redrawn from a run (bench/report/survey.py)."""

from __future__ import annotations

from pathlib import Path

from bench.commands import DEFAULT_REPORTS, Command
from bench.errors import UserError


class Survey(Command):
    name = "survey"
    help = "redraw the survey's figures from a run, beside the published points"

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_dir")
        parser.add_argument("--out", help="output directory (default: reports/<run-id>/survey)")

    def run(self, args) -> int:
        from bench.report.survey import write_survey

        run_dir = Path(args.run_dir)
        if not run_dir.is_dir():
            raise UserError(f"{str(run_dir)!r} is not a directory; pass a run directory such as results/<run-id>.")
        from bench.store import check_run_id

        out = Path(args.out) if args.out else DEFAULT_REPORTS / check_run_id(run_dir.resolve().name) / "survey"
        print(f"Survey figures: {write_survey(run_dir, out)}")
        return 0
