"""Calibrate the `contended` threshold: run-queue wait of a timed loop, idle and under deliberate load.

Usage:  python benchmarks/contention_calibration.py [--burners 0 1 2] [--repeat 3] [--threads 2]

Each trial starts a fresh process that times a 2-thread torch matmul loop for two seconds inside a
`bench.measure.contention.Window`, while N busy-loop processes ("burners") run on the same CPUs.
It prints, per N, the run-queue wait share, CPU pressure, steal and the other processes' CPU share,
and the loop's median per-call time, so the threshold sits between what an idle machine shows and
what one other busy process does. Run it on an otherwise idle machine: the idle row is the point.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRIAL = """
import json, statistics, time, torch
from bench.measure.contention import Window
torch.set_num_threads({threads})
a = torch.randn(256, 256)
for _ in range(50):
    a @ a
ms = []
with Window() as w:
    end = time.perf_counter() + 2.0
    while time.perf_counter() < end:
        t = time.perf_counter(); a @ a; ms.append((time.perf_counter() - t) * 1e3)
print(json.dumps({{**w.fields, "median_ms": statistics.median(ms)}}))
"""


def trial(burners: int, threads: int) -> dict:
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(burners)]
    try:
        time.sleep(0.5)
        env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(threads))
        out = subprocess.run([sys.executable, "-c", TRIAL.format(threads=threads)], capture_output=True, text=True,
                             check=True, env=env)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--burners", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    print(f"cpus {os.cpu_count()}, load average before {os.getloadavg()[0]:.2f}")
    keys = ("runq_wait_share", "cpu_pressure_some", "steal_share", "other_cpu_share", "median_ms")
    for n in args.burners:
        rows = [trial(n, args.threads) for _ in range(args.repeat)]
        summary = {k: [round(r[k], 4) if isinstance(r[k], float) else r[k] for r in rows] for k in keys}
        med = statistics.median(r["runq_wait_share"] for r in rows if r["runq_wait_share"] is not None)
        print(f"burners={n}: median runq_wait_share {med:.4f}; " + json.dumps(summary))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
