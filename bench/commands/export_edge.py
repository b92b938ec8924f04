"""`bench export-edge SUITE -o DIR`: a bundle that runs a suite's edge cells on a real device.

The bundle itself is made in bench/edge/bundle.py; see docs/edge.md for the round trip.
"""

from __future__ import annotations

from bench.commands import Command


class ExportEdge(Command):
    name = "export-edge"
    help = "pack a suite's edge cells (ONNX, inputs, runner) for a real device"

    def add_arguments(self, parser) -> None:
        parser.add_argument("suite")
        parser.add_argument("-o", "--out", required=True, help="bundle directory to create")

    def run(self, args) -> int:
        from bench.edge.bundle import export_bundle

        m = export_bundle(args.suite, args.out)
        print(f"Bundle {m['bundle_id']}: {len(m['cells'])} cells in {args.out}"
              + (f", {len(m['skipped'])} left out" if m["skipped"] else "")
              + f". On the device: python3 {args.out}/run.py")
        for s in m["skipped"]:
            print(f"  left out {s['cell_id']}: {s['reason']}")
        return 0
