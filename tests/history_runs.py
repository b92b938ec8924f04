"""Synthetic histories for the history tests and the scale benchmark: many runs, nothing timed.

Each run is written through bench.store (a run directory, a validated manifest, the Parquet table
rebuilt once from the record files) with the fields the history reads and little else, so that 60
runs take a second to write; 1000 runs of 100 cells as wide as real ones take about three minutes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from bench.fsio import atomic_write_text
from bench.store import RunStore

START = datetime(2026, 1, 1, 3, 17, tzinfo=UTC)


def cells(n: int) -> list[dict]:
    """n cells: model-<i> at fp32 on torch-cpu, base latency between 5 and 50 ms."""
    return [{"cell_id": f"model-{i:03d}.fp32.torch-cpu.b1-s128", "model": f"model-{i:03d}", "optimization": "fp32",
             "target": "torch-cpu", "runtime": "torch", "device": "cpu", "workload": "b1-s128", "batch_size": 1,
             "seq_len": 128, "base_ms": 5.0 + 45.0 * i / max(n - 1, 1)} for i in range(n)]


def write_history(root: Path, n_runs: int, n_cells: int, noise: float = 0.05, seed: int = 0,
                  steps: dict[str, tuple[int, float]] | None = None, hardware: list[str] | None = None,
                  contended: set[tuple[int, str]] | None = None, suite: str = "nightly",
                  wide: int = 0) -> list[Path]:
    """`n_runs` daily runs of `n_cells` cells whose median latency, energy and memory carry lognormal
    noise (sigma `noise`). `steps` maps a cell id to (first run, factor): from that run on, its latency
    is multiplied by the factor. `hardware[i]` names run i's CPU; `contended` marks (run, cell) points.
    `wide` adds that many filler fields to each record and the planned cells to each manifest, so that
    a run's table and manifest are as wide as a real run's (about 150 columns) for the benchmark."""
    rng = np.random.default_rng(seed)
    steps, contended = steps or {}, contended or set()
    specs = cells(n_cells)
    dirs = []
    for i in range(n_runs):
        run_id = f"run-{i:04d}"
        store = RunStore.create(root, run_id)
        store.write_manifest({
            "run_id": run_id, "suite_name": suite, "started_at": (START + timedelta(days=i)).isoformat(),
            "environment": {"host": "synthetic", "cpu_model": hardware[i] if hardware else "Synthetic CPU",
                            "git_commit": f"{i:04x}{'c0ffee' * 6}"[:40]},
            "status": "complete", "cells": [{"cell_id": c["cell_id"], "model": c["model"], "workload": c["workload"],
                                             "steps": ["fp32"]} for c in specs] if wide else []})
        records = []
        for c in specs:
            step_at, factor = steps.get(c["cell_id"], (n_runs + 1, 1.0))
            p50 = c["base_ms"] * rng.lognormal(0.0, noise) * (factor if i >= step_at else 1.0)
            rec = {k: v for k, v in c.items() if k != "base_ms"}
            rec.update({"run_id": run_id, "status": "ok", "latency_ms_p50": p50, "latency_ms_ci_low": p50 * 0.99,
                        "latency_ms_ci_high": p50 * 1.01, "energy_j_per_item": 0.015 * c["base_ms"] * rng.lognormal(0.0, noise),
                        "energy_source": "tdp-x-time", "peak_rss_infer_bytes": float(int(3e8 * rng.lognormal(0.0, noise))),
                        "cosine_sim": 1.0, "contended": (i, c["cell_id"]) in contended})
            rec.update({f"filler_{k}": (float(k) if k % 2 else f"text {k}") for k in range(wide)})
            records.append(rec)
        for rec in records:
            atomic_write_text(store.records_dir / f"{rec['cell_id']}.json", json.dumps(rec))
        store.write_parquet()
        dirs.append(store.dir)
    return dirs


# The history of the test: 10 cells, one 8% latency step at run 40 under 5% noise. Seed 1 is
# the first seed from 0 whose draw puts the estimate within one run of 40 (seed 0 puts it at 36:
# with a step of 1.5 noise sigmas the data alone cannot place it closer in about one draw in four);
# test_power_and_location_over_200_step_histories measures that rate instead of choosing a draw.
STEP_SEED = 1
STEP_CELL = cells(10)[3]["cell_id"]
