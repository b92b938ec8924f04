"""`bench export RUN_DIR --format pytest-benchmark|csv|openmetrics|mlflow -o OUT`; the formats are in bench/export.py."""

from __future__ import annotations

from pathlib import Path

from bench.commands import Command


class Export(Command):
    name = "export"
    help = "export a run as pytest-benchmark JSON, CSV, an OpenMetrics text file or a local MLflow store"

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_dir")
        parser.add_argument("--format", choices=["pytest-benchmark", "csv", "openmetrics", "mlflow"], required=True)
        parser.add_argument("-o", "--output", required=True,
                            help="file to write; for mlflow, the folder of the local MLflow store (made if absent)")

    def run(self, args) -> int:
        from bench.export import export

        n = export(Path(args.run_dir), args.format, Path(args.output))
        what = {"csv": "records", "openmetrics": "cells", "mlflow": "cells"}.get(args.format, "benchmarks")
        print(f"Wrote {n} {what} to {args.output}")
        return 0
