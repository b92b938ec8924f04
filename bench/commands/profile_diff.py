"""`bench profile-diff RUN [CELL_A [CELL_B]]`: why one cell is faster than another, by operator category.

Two cells of a profiled run (`bench run --profile`, or `measure: {profile: true}`) are subtracted
category by category (bench.profile.diff): which categories got faster or slower and by how many
milliseconds, what the optimization added (quantize/dequantize work, layout changes) and which ops
ran unchanged. With one cell, it is compared with the `--against` optimization (fp32) of the same
model, target and workload; with none, every profiled cell is.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.commands import DEFAULT_RESULTS, Command
from bench.errors import UserError


def run_dir(run: str, results_dir: str) -> Path:
    """A run directory given as a path, or as a run id under the results root."""
    p = Path(run)
    if not (p / "manifest.json").is_file():
        from bench.store import check_run_id

        p = Path(results_dir) / check_run_id(run)
    if not (p / "manifest.json").is_file():
        raise UserError(f"{run!r} is not a run directory (no manifest.json there or under {results_dir!r}).")
    return p


def records(path: Path) -> list[dict]:
    from bench.report.format import workload_label
    from bench.store import load_records

    df, _ = load_records(path)
    clean = []
    for r in df.to_dict("records"):
        r = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        clean.append({**r, "workload": workload_label(r)})  # as the report names it (older records lack it)
    return clean


def find(recs: list[dict], name: str) -> dict:
    """A cell by its id, or by a part of its id that only one cell (or one profiled cell) has."""
    exact = [r for r in recs if r.get("cell_id") == name]
    if exact:
        return exact[0]
    hits = [r for r in recs if name in str(r.get("cell_id"))]
    if len(hits) > 1:
        hits = [r for r in hits if r.get("profile_status") == "ok"] or hits
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise UserError(f"No cell matches {name!r}.")
    raise UserError(f"{name!r} matches {len(hits)} profiled cells: {', '.join(r['cell_id'] for r in hits[:8])}. "
                    "Give more of the cell id.")


def profiled(rec: dict) -> dict:
    if rec.get("profile_status") == "ok":
        return rec
    why = rec.get("profile_error") or "the run was not profiled (bench run --profile)"
    raise UserError(f"Cell {rec.get('cell_id')!r} has no profile: {why}")


class ProfileDiff(Command):
    name = "profile-diff"
    help = "attribute the speedup between two profiled cells to operator categories"

    def add_arguments(self, parser) -> None:
        parser.add_argument("run", help="the run directory, or its run id under --results-dir")
        parser.add_argument("cell_a", nargs="?", help="the reference cell (A); alone: compared with --against")
        parser.add_argument("cell_b", nargs="?", help="the cell to explain (B)")
        parser.add_argument("--against", default="fp32",
                            help="with one cell or none: the optimization to compare with (default: fp32)")
        parser.add_argument("--results-dir", default=str(DEFAULT_RESULTS))

    def run(self, args) -> int:
        from bench.profile.diff import attribute_records, baseline_of, render_text

        path = run_dir(args.run, args.results_dir)
        recs = records(path)
        if args.cell_a and args.cell_b:
            pairs = [(profiled(find(recs, args.cell_a)), profiled(find(recs, args.cell_b)))]
        else:
            cells = [profiled(find(recs, args.cell_a))] if args.cell_a else \
                [r for r in recs if r.get("profile_status") == "ok" and r.get("optimization") != args.against]
            pairs = []
            for b in cells:
                a = baseline_of(recs, b, args.against)
                if a is None:
                    if args.cell_a:
                        raise UserError(f"Cell {b['cell_id']!r} has no profiled {args.against!r} cell of the same "
                                        "model, target and workload; name both cells.")
                    continue
                pairs.append((a, b))
            if not pairs:
                raise UserError(f"No profiled cell has a profiled {args.against!r} cell to compare with in {str(path)!r}.")
        for i, (a, b) in enumerate(pairs):
            att = attribute_records(path, a, b)
            if att is None:
                raise UserError(f"The profiles of {a['cell_id']!r} and {b['cell_id']!r} could not be read.")
            where = f"{b.get('model')} on {b.get('target')} ({b.get('workload')})"
            if any(a.get(k) != b.get(k) for k in ("model", "workload")):
                where += f"; A is {a.get('model')} ({a.get('workload')}): different work, compare with care"
            print(("\n" if i else "") + where)
            print(render_text(att))
        return 0
