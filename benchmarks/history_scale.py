"""How long `bench history` takes over 1000 runs of 100 cells, and how much memory: the target is
under 10 s on the project's 2-core machine.

Usage:  python benchmarks/history_scale.py [--runs 1000] [--cells 100] [--dir DIR] [--keep]

The runs are synthetic (tests/history_runs.py): written through bench.store like real ones, with
tables and manifests as wide as a real run's (about 150 columns, the planned cells), latency,
energy and memory noise, and a few steps. Writing them takes minutes and is not timed. The figure
is the wall time of one `bench history` process, start to exit, with the trends page written and
the gate evaluated, as the scheduled job runs it; then the same work in this process phase by
phase, and the peak memory of the command beside the memory of its imports alone. A shared
machine slows every figure: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


WRAP = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
        "c = subprocess.run(sys.argv[1:], capture_output=True); t = time.perf_counter() - t; "
        "sys.stderr.buffer.write(c.stderr); "
        "print(c.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, t)")


def peak_rss_mb(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) and exit status of one child process, each measured alone: a
    wrapper process has that one child, so its children's peak is the child's, and it times the
    child from start to exit without its own start-up."""
    proc = subprocess.run([sys.executable, "-c", WRAP, sys.executable, *args], env=ENV, capture_output=True, cwd=ROOT)
    code, peak_kb, wall = proc.stdout.split()
    code, peak_kb, wall = int(code), int(peak_kb), float(wall)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(args)} exited {code}: {proc.stderr.decode()[-800:]}")
    return wall, peak_kb / 1024, code


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--cells", type=int, default=100)
    ap.add_argument("--dir", help="where to write the runs (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="reuse runs already in --dir")
    args = ap.parse_args()
    from tests.history_runs import cells, write_history

    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="history-scale-"))
    root = base / "results"
    if not (args.keep and root.is_dir()):
        t = time.perf_counter()
        ids = [c["cell_id"] for c in cells(args.cells)]
        steps = {ids[i]: (int(args.runs * f), 1.1) for i, f in ((1, 0.3), (7, 0.6), (42 % len(ids), 0.9))}
        write_history(root, args.runs, args.cells, noise=0.03, steps=steps, wide=120)
        print(f"wrote {args.runs} runs x {args.cells} cells in {time.perf_counter() - t:.0f} s to {root}")
    load = os.getloadavg()[0]
    # the first read warms the page cache, as the scheduled job's freshly unpacked artifact is warm
    cmd = ["-m", "bench", "history", str(root), "--out", str(base / "trends"), "--fail-on-regression", "10"]
    peak_rss_mb(cmd)
    wall, rss, code = peak_rss_mb(cmd)
    _, base_rss, _ = peak_rss_mb(["-c", "import bench.history.analyze, bench.history.index, bench.report.trends, "
                                  "pyarrow.parquet, pandas"])
    print(f"bench history over {args.runs} runs x {args.cells} cells: {wall:.2f} s wall, peak RSS {rss:.0f} MB "
          f"(its imports alone: {base_rss:.0f} MB), exit {code}; load average {load:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after")

    from bench.history.analyze import analyze
    from bench.history.index import index
    from bench.report.trends import render

    t0 = time.perf_counter()
    h = index([root])
    t1 = time.perf_counter()
    tr = analyze(h)
    t2 = time.perf_counter()
    page = render(tr)
    t3 = time.perf_counter()
    mb = h.points.memory_usage(deep=True).sum() / 2**20
    print(f"in process: index {t1 - t0:.2f} s ({len(h.points)} points, {mb:.1f} MB), detect {t2 - t1:.2f} s "
          f"({len(tr.series)} series, {len(tr.changes())} change points), page {t3 - t2:.2f} s "
          f"({len(page) / 2**20:.1f} MB)")


if __name__ == "__main__":
    main()
