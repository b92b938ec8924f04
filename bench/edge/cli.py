"""The commands for edge bundles and CI summaries, registered on the `bench` parser."""

from __future__ import annotations


def cmd_export_edge(args) -> int:
    from bench.edge.bundle import export_bundle

    m = export_bundle(args.suite, args.out)
    print(f"Bundle {m['bundle_id']}: {len(m['cells'])} cells in {args.out}"
          + (f", {len(m['skipped'])} left out" if m["skipped"] else "") + f". On the device: python3 {args.out}/run.py")
    for s in m["skipped"]:
        print(f"  left out {s['cell_id']}: {s['reason']}")
    return 0


def cmd_import(args) -> int:
    from bench.edge.importer import import_results

    r = import_results(args.results, args.run_dir, replace=args.replace)
    print(f"Imported into {args.run_dir}: {len(r['added'])} new, {len(r['replaced'])} replaced, "
          f"{len(r['unchanged'])} already present.")
    return 0


def cmd_summary(args) -> int:
    from bench.report.markdown import summary_markdown

    print(summary_markdown(args.run_dir), end="")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("export-edge", help="pack a suite's edge cells (ONNX, inputs, runner) for a real device")
    p.add_argument("suite")
    p.add_argument("-o", "--out", required=True, help="bundle directory to create")
    p.set_defaults(fn=cmd_export_edge)

    p = sub.add_parser("import", help="merge the records a bundle's run.py wrote on a device into a run")
    p.add_argument("results", help="the directory run.py wrote (with bundle_results.json)")
    p.add_argument("run_dir")
    p.add_argument("--replace", action="store_true", help="overwrite records of another device run")
    p.set_defaults(fn=cmd_import)

    p = sub.add_parser("summary", help="the headline table of a run (Markdown, for CI job summaries)")
    p.add_argument("run_dir")
    p.add_argument("--markdown", action="store_true", default=True, help="Markdown output (the only format)")
    p.set_defaults(fn=cmd_summary)
