"""`bench history RESULTS_DIR...`: trends and change points over many runs, and the CI gate.

The index, the detector and the gate are in bench/history/; the page is bench/report/trends.py.
This is the command's arguments, its printed summary and its exit status: 1 when the newest run
made a regression significant (with --fail-on-regression), never for "insufficient data".
"""

from __future__ import annotations

from pathlib import Path

from bench.commands import DEFAULT_REPORTS, Command
from bench.errors import UserError


class History(Command):
    name = "history"
    help = "index many runs: trends per cell, change points, the trends report and a gate"

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", metavar="RESULTS_DIR",
                            help="run directories, or folders that hold them (a results root, a history artifact)")
        parser.add_argument("--out", help="output directory of the trends report (default: reports/trends)")
        parser.add_argument("--alpha", type=float, default=None,
                            help="significance level per series (default 0.01; see docs/history.md)")
        parser.add_argument("--fail-on-regression", type=float, metavar="PCT",
                            help="exit 1 when the newest run made a regression of more than PCT percent "
                                 "significant over the history (fidelity: beyond its own minimum)")
        parser.add_argument("--repo-url", help="the repository's web address (https://github.com/OWNER/REPO): "
                                               "change points link to the diff between their commits")
        parser.add_argument("--json", metavar="FILE", help="also write what was found as JSON")

    def run(self, args) -> int:
        import json

        from bench.history import detect
        from bench.history.analyze import analyze, to_json
        from bench.history.index import index
        from bench.report.trends import summary_lines, write_trends

        alpha = detect.ALPHA if args.alpha is None else args.alpha
        if not 0 < alpha < 1:
            raise UserError(f"--alpha takes a level between 0 and 1, not {alpha}.")
        pct = args.fail_on_regression
        if pct is not None and not pct >= 0:
            raise UserError(f"--fail-on-regression takes a percentage >= 0, not {pct}.")
        if args.repo_url and not args.repo_url.startswith(("https://", "http://")):
            raise UserError(f"--repo-url takes an http(s) address, not {args.repo_url!r}.")
        trends = analyze(index([Path(p) for p in args.paths]), alpha)
        gate = trends.gate(pct) if pct is not None else None
        for line in summary_lines(trends, gate, pct):
            print(line)
        out = Path(args.out) if args.out else DEFAULT_REPORTS / "trends"
        page = write_trends(trends, out, repo_url=args.repo_url, gate=gate, pct=pct)
        print(f"Report: {page}")
        if args.json:
            Path(args.json).write_text(json.dumps(to_json(trends, gate), indent=1, default=str), encoding="utf-8")
        return 1 if gate else 0
