"""How fast `bench plan` answers, and how fast a bad suite is refused: the target is under 1 s.

Usage:  python benchmarks/plan_time.py [--repeat 5]

Checking a suite used to import torch (about 6 s) before it could say "unknown model". Specs are
now apart from their implementations (docs/architecture.md), so planning pays only for Python,
pydantic, numpy and, for suites with ONNX Runtime targets, ORT's provider list. Each figure is
the median wall time of a fresh `bench` process, start to exit. A shared machine slows every
figure; the load average is printed beside them, and docs quote only figures from a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
BAD = "name: bad\nmodels: [bert-bsae]\noptimizations: [fp32]\ntargets: [{runtime: torch}]\n"


def wall(args: list[str], repeat: int, expect: int) -> float:
    walls = []
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "bench", *args], env=ENV, capture_output=True, cwd=ROOT)
        walls.append(time.perf_counter() - t)
        if proc.returncode != expect:
            raise SystemExit(f"bench {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return statistics.median(walls)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    rows = []
    for suite in sorted((ROOT / "suites").glob("*.yaml")):
        rows.append((f"bench plan {suite.relative_to(ROOT)}", wall(["plan", str(suite)], args.repeat, 0)))
    with tempfile.TemporaryDirectory() as d:
        bad = Path(d) / "bad.yaml"
        bad.write_text(BAD)
        rows.append(("bench plan <suite with an unknown model> (exit 2)", wall(["plan", str(bad)], args.repeat, 2)))
    rows.append(("bench --help", wall(["--help"], args.repeat, 0)))
    width = max(len(r[0]) for r in rows)
    for name, s in rows:
        print(f"{name:<{width}}  {s:6.2f} s{'' if s < 1 else '   (over the 1 s target)'}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
