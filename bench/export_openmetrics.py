"""A run as an OpenMetrics / Prometheus text file, for the node exporter's textfile collector.

One gauge family per figure, one sample per finished cell, labelled model, optimization, target
and workload. The run's identity (id, suite, commit, hardware) is one `bench_run_info` sample
rather than labels on every cell, which would make every run a new set of series in Prometheus.
The file is valid in both formats: OpenMetrics 1.0 (it ends in `# EOF`) and the Prometheus 0.0.4
text format (which reads `# EOF` as a comment). Missing values are left out, never written as NaN.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.report.data import Run

LABELS = ("model", "optimization", "target", "workload")
# (name, help, record column, scale)
FAMILIES = [
    ("bench_latency_median_seconds", "Median latency of one inference call, from the cell's timed samples.",
     "latency_ms_p50", 1e-3),
    ("bench_latency_median_ci_low_seconds", "Lower end of the 95% bootstrap interval of the median latency.",
     "latency_ms_ci_low", 1e-3),
    ("bench_latency_median_ci_high_seconds", "Upper end of the 95% bootstrap interval of the median latency.",
     "latency_ms_ci_high", 1e-3),
    ("bench_energy_per_item_joules", "Energy per item (see energy_source in the records: measured or estimated).",
     "energy_j_per_item", 1.0),
    ("bench_energy_per_inference_joules", "Energy per inference call (see energy_source: measured or estimated).",
     "energy_j_per_inference", 1.0),
    ("bench_peak_rss_bytes", "Peak resident memory of the cell process while it ran inference.",
     "peak_rss_infer_bytes", 1.0),
    ("bench_cuda_peak_allocated_bytes", "Peak memory held by the CUDA caching allocator.",
     "cuda_peak_allocated_bytes", 1.0),
    ("bench_cosine_similarity", "Cosine similarity of the outputs to the fp32 reference on identical inputs.",
     "cosine_sim", 1.0),
]


def label_value(v) -> str:
    from bench.report.format import is_missing

    return ("" if is_missing(v) else str(v)).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs) -> str:
    return "{" + ",".join(f'{k}="{label_value(v)}"' for k, v in pairs) + "}"


def _number(v: float) -> str:
    return "+Inf" if v == math.inf else "-Inf" if v == -math.inf else repr(float(v))


def to_openmetrics(run: Run) -> tuple[str, int]:
    """The exposition text, and how many cells it holds."""
    from bench.report.data import flag
    from bench.report.format import is_missing, to_float

    env = run.manifest.get("environment") or {}
    records, seen = [], set()
    for r in run.df.to_dict("records"):
        key = tuple(str(r.get(k)) for k in LABELS)
        if key in seen:  # Prometheus refuses two samples with one label set
            print(f"warning: {r['cell_id']} has the labels of an earlier cell; left out", file=sys.stderr)
            continue
        seen.add(key)
        records.append(r)
    lines = ["# HELP bench_run_info The run these figures come from.", "# TYPE bench_run_info gauge",
             "bench_run_info" + _labels([("run_id", run.name), ("suite", run.manifest.get("suite_name") or ""),
                                         ("commit", env.get("git_commit") or ""),
                                         ("hardware", env.get("gpu") or env.get("cpu_model") or "")]) + " 1"]
    started = run.manifest.get("started_at")
    if started:
        import pandas as pd

        ts = pd.Timestamp(started)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
        lines += ["# HELP bench_run_start_timestamp_seconds When the run started.",
                  "# TYPE bench_run_start_timestamp_seconds gauge",
                  f"bench_run_start_timestamp_seconds {_number(ts.timestamp())}"]
    lines += ["# HELP bench_cell_ok 1 when the cell finished and was measured, 0 when it failed, timed out or was skipped.",
              "# TYPE bench_cell_ok gauge"]
    lines += [f"bench_cell_ok{_labels((k, r.get(k)) for k in LABELS)} {1 if r.get('status') == 'ok' else 0}"
              for r in records]
    ok = [r for r in records if r.get("status") == "ok"]
    lines += ["# HELP bench_cell_contended 1 when other work competed for the cell's CPUs while it was timed.",
              "# TYPE bench_cell_contended gauge"]
    lines += [f"bench_cell_contended{_labels((k, r.get(k)) for k in LABELS)} {1 if flag(r.get('contended')) else 0}"
              for r in ok if not is_missing(r.get("contended"))]
    for name, text, col, scale in FAMILIES:
        samples = [(r, to_float(r.get(col))) for r in ok]
        samples = [(r, v) for r, v in samples if v is not None]
        if samples:
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge"]
            lines += [f"{name}{_labels((k, r.get(k)) for k in LABELS)} {_number(v * scale)}" for r, v in samples]
    acc = [(r, to_float(r.get("accuracy"))) for r in ok]
    acc = [(r, v) for r, v in acc if v is not None]
    if acc:
        lines += ["# HELP bench_accuracy Task accuracy measured on the suite's evaluation data (metric: what it is).",
                  "# TYPE bench_accuracy gauge"]
        lines += [f"bench_accuracy{_labels([*((k, r.get(k)) for k in LABELS), ('metric', r.get('accuracy_metric') or '')])}"
                  f" {_number(v)}" for r, v in acc]
    return "\n".join(lines + ["# EOF"]) + "\n", len(records)
