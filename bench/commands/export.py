"""`bench export RUN_DIR --format pytest-benchmark|csv -o FILE`; the formats are in bench/export.py."""

from __future__ import annotations

from pathlib import Path

from bench.commands import Command


class Export(Command):
    name = "export"
    help = "export a run as pytest-benchmark JSON or CSV"

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_dir")
        parser.add_argument("--format", choices=["pytest-benchmark", "csv"], required=True)
        parser.add_argument("-o", "--output", required=True, help="file to write")

    def run(self, args) -> int:
        from bench.export import export

        n = export(Path(args.run_dir), args.format, Path(args.output))
        what = "records" if args.format == "csv" else "benchmarks"
        print(f"Wrote {n} {what} to {args.output}")
        return 0
