"""`bench summary RUN_DIR [--format markdown|text]`: a run's headline table (bench/report/markdown.py).

Markdown is for CI job summaries; text is the same rows aligned for a terminal. `--markdown`,
the flag from before there was a choice, is still accepted (hidden) so that existing scripts and
.github/workflows/gpu-bench.yml keep working.
"""

from __future__ import annotations

import argparse

from bench.commands import Command


class Summary(Command):
    name = "summary"
    help = "the headline table of a run (Markdown for CI job summaries, or plain text)"

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_dir")
        parser.add_argument("--format", choices=["markdown", "text"], default="markdown",
                            help="markdown (default) or text: the same table aligned in plain text")
        parser.add_argument("--markdown", dest="format", action="store_const", const="markdown",
                            default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def run(self, args) -> int:
        from bench.report.markdown import summary_markdown, summary_text

        render = summary_text if args.format == "text" else summary_markdown
        print(render(args.run_dir), end="")
        return 0
