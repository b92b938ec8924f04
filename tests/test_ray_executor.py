"""The Ray executor: resource requests from targets, and a real local Ray instance with 2 CPUs."""

import json
import sys

import pytest

from bench.errors import UserError
from bench.suite import expand, parse_suite

pytestmark = pytest.mark.slow  # spawns cell processes: the full tier (nox -s tests) runs it

SUITE = """
name: ray
models: [tinybert-4]
optimizations: [fp32, torch-dynamic-int8, "debug-fault(mode=segfault)"]
targets:
  - {runtime: torch, device: cpu, threads: 1}
  - {runtime: torch, device: cpu, threads: 4, name: wide}
workloads: {seq_lens: [16]}
measure: {warmup_iters: 1, warmup_s: 0, min_time_s: 0.05, max_time_s: 0.3, min_samples: 5, timeout_s: 300, retries: 0}
"""


def _cells(text=SUITE):
    return expand(parse_suite(text)).cells


def test_task_options_follow_the_target():
    from bench.ray_executor import task_options

    cpu = next(c for c in _cells() if c.target.threads == 4)
    opts = task_options(cpu)
    assert opts["num_cpus"] == 4 and "num_gpus" not in opts and opts["max_retries"] == 0
    gpu_suite = SUITE.replace("- {runtime: torch, device: cpu, threads: 4, name: wide}",
                              "- {runtime: torch, device: cuda, threads: 2, accelerator_type: H100}")
    gpu_suite = gpu_suite.replace("timeout_s: 300", "timeout_s: 300, memory_limit_mb: 8000")
    gpu = next(c for c in _cells(gpu_suite) if c.target.device == "cuda" and c.optimization == "fp32")
    opts = task_options(gpu)
    assert opts["num_gpus"] == 1 and opts["accelerator_type"] == "H100" and opts["num_cpus"] == 2
    assert opts["memory"] == 8000 * 2**20


def test_infeasible_requests_are_named_not_queued_forever():
    from bench.ray_executor import infeasible

    nodes = [{"Alive": True, "Resources": {"CPU": 16.0, "memory": 64e9}},
             {"Alive": True, "Resources": {"CPU": 8.0, "GPU": 1.0, "accelerator_type:A100": 1.0}},
             {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0, "accelerator_type:H100": 1.0}}]
    assert infeasible({"num_cpus": 16}, nodes) is None
    assert infeasible({"num_cpus": 4, "num_gpus": 1, "accelerator_type": "A100"}, nodes) is None
    why = infeasible({"num_cpus": 4, "num_gpus": 1, "accelerator_type": "H100"}, nodes)
    assert "accelerator_type=H100" in why  # only a dead node has one
    assert "CPU=32" in infeasible({"num_cpus": 32}, nodes)


def test_a_clear_error_without_ray(monkeypatch):
    from bench.ray_executor import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(UserError, match=r"pip install 'transformer-inference-bench\[ray\]'"):
        require_ray()


ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_cells_run_as_ray_tasks_into_the_same_store(local_ray, tmp_path):
    from bench.executor import run_cells
    from bench.store import RunStore, load_records

    cells = _cells()
    store = RunStore.create(tmp_path, "ray")
    store.write_manifest({"run_id": "ray", "cells": [c.to_json() for c in cells]})
    seen = []
    recs = run_cells(cells, store, "ray", lambda c, r: seen.append(c.cell_id), executor="ray",
                     keep_artifacts=False)
    assert len(recs) == len(cells) == 6 and sorted(seen) == sorted(c.cell_id for c in cells)
    by = {(r["optimization"], r["target"]): r for r in recs}
    fp32, int8 = by[("fp32", "torch-cpu")], by[("torch-dynamic-int8", "torch-cpu")]
    assert fp32["status"] == int8["status"] == "ok" and fp32["executor"] == "ray" and fp32["ray_node_id"]
    assert fp32["params"] == fp32["params_closed_form"] and fp32["max_abs_err"] == 0
    assert abs(fp32["macs"] / fp32["macs_closed_form"] - 1) < 0.01
    assert int8["weight_bytes"] < 0.5 * fp32["weight_bytes"] and int8["cosine_sim"] > 0.99
    assert fp32["disk_bytes"] > 0
    segv = by[("debug-fault(mode=segfault)", "torch-cpu")]
    assert (segv["status"], segv["failure"]) == ("failed", "crash") and "SIGSEGV" in segv["error"]
    for opt in ("fp32", "torch-dynamic-int8", "debug-fault(mode=segfault)"):
        wide = by[(opt, "wide")]  # 4 threads on a 2-CPU cluster: failed at once, with the reason
        assert (wide["status"], wide["failure"]) == ("failed", "scheduling") and "CPU=4" in wide["error"]
    df, bad = load_records(store.dir)
    assert len(df) == 6 and bad == []
    assert not (store.dir / "scratch").exists() and not (store.dir / "cache").exists()
    assert json.loads((store.dir / "records" / f"{fp32['cell_id']}.json").read_text())["status"] == "ok"
