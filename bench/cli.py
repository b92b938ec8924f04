"""`bench <command>`: the entry point; each command lives in bench/commands/.

Bad input is a `UserError`: one paragraph on stderr, exit status 2, nothing started.
"""

from __future__ import annotations

import argparse
import sys

from bench.commands import DEFAULT_REPORTS, DEFAULT_RESULTS, all_commands
from bench.errors import UserError

__all__ = ["DEFAULT_REPORTS", "DEFAULT_RESULTS", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="bench", description="Benchmark transformer inference optimizations.")
    sub = ap.add_subparsers(dest="command", required=True)
    for cmd in all_commands():
        p = sub.add_parser(cmd.name, help=cmd.help)
        cmd.add_arguments(p)
        p.set_defaults(fn=cmd.run)
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
