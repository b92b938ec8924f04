"""Harness speed: fixed cost per cell, and wall time of the smoke and survey-cpu suites.

Usage:  python benchmarks/harness_overhead.py [--suites smoke survey-cpu] [--out FILE.json]

The fixed cost of a cell is what every cell pays before its timed loop: a fresh Python process,
the imports of torch/transformers/timm/onnxruntime and the bench package, and the model build.
Suite wall times run the real `bench run` in a temporary results directory. Run this on an idle
machine; figures on a shared machine include the other load (the load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def timed(cmd: list[str], repeat: int = 3) -> float:
    walls = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, env=ENV, capture_output=True)
        walls.append(time.perf_counter() - t)
    return statistics.median(walls)


def build_seconds(model: str) -> float:
    code = (f"import time; from bench.zoo import MODELS; s = MODELS.get({model!r}); s.build(); t = time.perf_counter(); "
            "s.build(); print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], check=True, env=ENV, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def suite_wall(name: str, keep: str | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bench", "run", str(ROOT / "suites" / f"{name}.yaml"),
                        "--results-dir", keep or tmp, "--run-id", f"overhead-{name}"], check=True, env=ENV,
                       capture_output=True)
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suites", nargs="*", default=["smoke"])
    ap.add_argument("--out")
    ap.add_argument("--keep", help="keep the suites' run directories under this results root")
    args = ap.parse_args()
    fig = {"loadavg_1m_start": os.getloadavg()[0]}
    fig["python_start_s"] = timed([sys.executable, "-c", "pass"])
    fig["imports_s"] = timed([sys.executable, "-c", "import bench.zoo, bench.optimize, bench.runtime, bench.cell"])
    for model in ("bert-base", "deit-s"):
        fig[f"build_{model}_s"] = build_seconds(model)
    for s in args.suites:
        fig[f"suite_{s}_wall_s"] = suite_wall(s, args.keep)
    fig["loadavg_1m_end"] = os.getloadavg()[0]
    for k, v in fig.items():
        print(f"{k:28s} {v:9.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps(fig, indent=2))


if __name__ == "__main__":
    main()
