"""`bench export RUN_DIR --format pytest-benchmark|csv|openmetrics|mlflow -o OUT`.

The formats meet the tools analysts already run: pytest-benchmark's JSON (below), CSV, an
OpenMetrics / Prometheus text file (bench/export_openmetrics.py) and a local MLflow store
(bench/export_mlflow.py; MLflow is the optional extra `[mlflow]`).

The pytest-benchmark format (pytest-benchmark 5.x `--benchmark-json` output) lets its own
`pytest-benchmark compare`, and dashboards built on it, read a run: one benchmark per finished cell
with samples, times in seconds, and the statistics computed the way pytest_benchmark.stats.Stats
computes them (its quartile methods included), so the numbers it shows match the ones it would
have measured from the same samples. Cells without samples (failed, skipped) are left out, as
pytest-benchmark leaves out benchmarks with errors.
"""

from __future__ import annotations

import json
import math
import statistics
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench.errors import UserError

if TYPE_CHECKING:
    from bench.report.data import Run

FORMAT_VERSION = "5.2.3"  # the pytest-benchmark release whose JSON layout this follows
EXTRA = ["model", "optimization", "runtime", "device", "target", "threads", "batch_size", "seq_len", "image_size",
         "macs", "flops", "params", "weight_bytes", "precision", "cosine_sim", "max_abs_err", "top1_agreement",
         "peak_rss_infer_bytes", "energy_j_per_inference", "energy_source", "noisy", "latency_ms_ci_low",
         "latency_ms_ci_high", "timing_target_met"]


def _quartiles(d: list[float]) -> tuple[float, float]:
    """pytest-benchmark's q1/q3: Wikipedia methods 3 (odd n) and 2 (even n)."""
    n = len(d)
    if n == 1:
        return d[0], d[0]
    if n % 2:
        k, q = n // 4, n % 4
        q1 = 0.25 * d[k - 1] + 0.75 * d[k] if q == 1 else 0.75 * d[k] + 0.25 * d[k + 1]
        q3 = 0.75 * d[3 * k] + 0.25 * d[3 * k + 1] if q == 1 else 0.25 * d[3 * k + 1] + 0.75 * d[3 * k + 2]
        return q1, q3
    return statistics.median(d[: n // 2]), statistics.median(d[n // 2:])


def pb_stats(samples_s: list[float]) -> dict:
    data = [float(x) for x in samples_s]
    d = sorted(data)
    n = len(d)
    mean = statistics.mean(d)
    sd = statistics.stdev(d) if n > 1 else 0
    q1, q3 = _quartiles(d)
    iqr = q3 - q1
    ld = d[0] if n == 1 else d[bisect_left(d, q1 - 1.5 * iqr)]
    pos = bisect_right(d, q3 + 1.5 * iqr)
    hd = d[0] if n == 1 else (d[-1] if pos == n else d[pos])
    sd_out = sum(1 for v in d if v < mean - sd or v > mean + sd)
    iqr_out = sum(1 for v in d if v < q1 - 1.5 * iqr or v > q3 + 1.5 * iqr)
    total = sum(d)
    return {"min": d[0], "max": d[-1], "mean": mean, "stddev": sd, "rounds": n, "median": statistics.median(d),
            "iqr": iqr, "q1": q1, "q3": q3, "iqr_outliers": iqr_out, "stddev_outliers": sd_out,
            "outliers": f"{sd_out};{iqr_out}", "ld15iqr": ld, "hd15iqr": hd, "ops": n / total if total else 0,
            "total": total, "data": data, "iterations": 1}


def _plain(v):
    from bench.report.format import is_missing

    if is_missing(v):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def to_pytest_benchmark(run: Run) -> dict:
    env = run.manifest.get("environment") or {}
    commit = str(env.get("git_commit") or "")
    machine_info = {"node": env.get("host"), "processor": env.get("cpu_model"), "machine": None,
                    "python_implementation": "CPython", "python_version": env.get("python"),
                    "python_compiler": None, "release": None, "system": None, "platform": env.get("platform"),
                    "cpu": {"brand_raw": env.get("cpu_model"), "count": env.get("cpu_count")},
                    "packages": env.get("packages") or {}}
    commit_info = {"id": commit.replace("+dirty", "") or None, "dirty": commit.endswith("+dirty"),
                   "project": "transformer-inference-bench", "branch": None, "time": run.manifest.get("started_at")}
    benchmarks = []
    suite = run.manifest.get("suite_name") or "suite"
    for r in run.ok.to_dict("records"):
        x = run.samples.get(r["cell_id"])
        if x is None:
            continue
        params = {k: _plain(r.get(k)) for k in ("model", "optimization", "target", "workload")}
        benchmarks.append({
            "group": f"{r['model']} {r['workload']}", "name": r["cell_id"], "fullname": f"{suite}::{r['cell_id']}",
            "params": params, "param": f"{r['optimization']}-{r['target']}",
            "extra_info": {k: _plain(r.get(k)) for k in EXTRA if k in r},
            "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": int(len(x)), "max_time": None,
                        "min_time": None, "warmup": True},
            "stats": pb_stats([v / 1e3 for v in x]),
        })
    started = run.manifest.get("started_at") or datetime.now(UTC).isoformat()
    return {"machine_info": machine_info, "commit_info": commit_info, "benchmarks": benchmarks,
            "datetime": started, "version": FORMAT_VERSION}


def export(run_dir: Path, fmt: str, out: Path) -> int:
    from bench.report.data import load_run, records_csv

    run = load_run(Path(run_dir))
    if run.bad_files:  # said, not silently dropped: the export holds fewer cells than the run
        import sys

        from bench.store import skipped_record_files

        why = skipped_record_files(Path(run_dir))
        print(f"warning: {len(why)} record file(s) skipped, not exported: "
              + "; ".join(f"{k} ({v})" for k, v in why.items()), file=sys.stderr)
    out = Path(out)
    if fmt == "mlflow":  # a folder, made if absent
        from bench.export_mlflow import to_mlflow

        return to_mlflow(run, out)
    if out.parent and not out.parent.exists():
        raise UserError(f"The folder of the output file {str(out)!r} does not exist.")
    if fmt == "openmetrics":
        from bench.export_openmetrics import to_openmetrics

        text, n = to_openmetrics(run)
        out.write_text(text, encoding="utf-8")
        return n
    if fmt == "csv":
        out.write_text(records_csv(run.df), encoding="utf-8")
        return len(run.df)
    doc = to_pytest_benchmark(run)
    out.write_text(json.dumps(doc, indent=1, default=lambda v: None if isinstance(v, float) and math.isnan(v) else str(v)),
                   encoding="utf-8")
    return len(doc["benchmarks"])
