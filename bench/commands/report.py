"""`bench report RUN_DIR`: a run's self-contained HTML report."""

from __future__ import annotations

from pathlib import Path

from bench.commands import DEFAULT_REPORTS, Command


def render(run_dir: Path, out: Path) -> Path:
    from bench.report.html import write_report

    return write_report(Path(run_dir), Path(out))


class Report(Command):
    name = "report"
    help = "render a run's self-contained HTML report"

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_dir")
        parser.add_argument("--out", help="output directory (default: reports/<run-id>)")

    def run(self, args) -> int:
        from bench.store import check_run_id

        run_dir = Path(args.run_dir)
        out = Path(args.out) if args.out else DEFAULT_REPORTS / check_run_id(run_dir.resolve().name)
        print(f"Report: {render(run_dir, out)}")
        return 0
