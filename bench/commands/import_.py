"""`bench import RESULTS RUN_DIR`: a device's bundle results merged into a run (bench/edge/importer.py).

The module name has a trailing underscore because `import` is a keyword.
"""

from __future__ import annotations

from bench.commands import Command


class Import(Command):
    name = "import"
    help = "merge the records a bundle's run.py wrote on a device into a run"

    def add_arguments(self, parser) -> None:
        parser.add_argument("results", help="the directory run.py wrote (with bundle_results.json)")
        parser.add_argument("run_dir")
        parser.add_argument("--replace", action="store_true", help="overwrite records of another device run")

    def run(self, args) -> int:
        from bench.edge.importer import import_results

        r = import_results(args.results, args.run_dir, replace=args.replace)
        print(f"Imported into {args.run_dir}: {len(r['added'])} new, {len(r['replaced'])} replaced, "
              f"{len(r['unchanged'])} already present.")
        return 0
