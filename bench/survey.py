"""`bench survey RUN_DIR [--out DIR]`: the survey's figures redrawn from a run.

Kept apart from bench/report/survey.py so that building the CLI parser imports no plotting stack.
"""

from __future__ import annotations

from pathlib import Path

from bench.errors import UserError


def cmd_survey(args) -> int:
    from bench.report.survey import write_survey

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{str(run_dir)!r} is not a directory; pass a run directory such as results/<run-id>.")
    out = Path(args.out) if args.out else Path("reports") / run_dir.name / "survey"
    path = write_survey(run_dir, out)
    print(f"Survey figures: {path}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("survey", help="redraw the survey's figures from a run, beside the published points")
    p.add_argument("run_dir")
    p.add_argument("--out", help="output directory (default: reports/<run-id>/survey)")
    p.set_defaults(fn=cmd_survey)
