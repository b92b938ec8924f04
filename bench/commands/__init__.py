"""The `bench` subcommands, one module each, after asv's `asv/commands/`.

A command module imports nothing heavy at import time: torch, pandas and the report stack come
in inside `run`, so that `bench --help`, and a mistyped flag, answer at once instead of after
seconds of imports. `bench.cli` builds the parser from `all_commands()` and dispatches.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_RESULTS = Path("results")
DEFAULT_REPORTS = Path("reports")


class Command:
    """One shape for every command, so that bench.cli registers them all alike and `bench --help`
    gives each its one line; the previous mix of `add_parser` hooks let every module do it its own way.
    """

    name: str = ""
    help: str = ""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        pass

    def run(self, args: argparse.Namespace) -> int:
        raise NotImplementedError


def all_commands() -> list[Command]:
    """In the order `bench --help` lists them: a run's life, then what reads a finished run."""
    from bench.commands import (
        compare,
        export,
        export_edge,
        history,
        import_,
        plan,
        profile_diff,
        report,
        run,
        summary,
        survey,
    )

    return [plan.Plan(), run.Run(), report.Report(), compare.Compare(), history.History(), export.Export(),
            export_edge.ExportEdge(), import_.Import(), summary.Summary(), survey.Survey(),
            profile_diff.ProfileDiff()]
