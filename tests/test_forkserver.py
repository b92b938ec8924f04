"""Cells forked from the warm server: still one process per cell, faults isolated, fallback to spawning.

The fault, kill -9 and timeout tests in test_reliability.py run through the fork server too (it
is the default); these cover what is specific to it.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.executor import run_cell_process, run_cells
from bench.forkserver import ForkServer
from bench.store import RunStore
from bench.suite import expand, load_suite
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # spawns cell processes: the full tier (nox -s tests) runs it

MEASURE = "warmup_iters: 1, warmup_s: 0, min_time_s: 0.05, max_time_s: 0.3, min_samples: 5, timeout_s: 300, retries: 0"


def _plan(tmp_path, optimizations, device="cpu"):
    suite = tmp_path / "s.yaml"
    target = "{runtime: torch, device: cpu, threads: 1}" if device == "cpu" else "{runtime: torch, device: cuda}"
    suite.write_text(f"""
name: fork
models: [tinybert-4]
optimizations: {json.dumps(optimizations)}
targets: [{target}]
workloads: {{seq_lens: [16]}}
measure: {{{MEASURE}}}
""")
    return expand(load_suite(suite))


def test_a_crash_kills_only_its_cell_and_the_next_cell_is_forked_again(tmp_path):
    plan = _plan(tmp_path, ["debug-fault(mode=segfault)", "fp32"])
    store = RunStore(tmp_path / "run")
    (store.dir / "records").mkdir(parents=True)
    recs = run_cells(plan.runnable, store, "fork")
    crash, ok = recs
    assert (crash["status"], crash["failure"], crash["cell_process"]) == ("failed", "crash", "forked")
    assert "SIGSEGV" in crash["error"]
    assert ok["status"] == "ok" and ok["cell_process"] == "forked"
    assert ok["process_wall_s"] >= ok["cell_wall_s"] > 0
    assert ok["phase_s"]["imports"] < 0.5  # torch and the zoo were imported once, by the server
    assert 0 < ok["rss_start_bytes"] < ok["peak_rss_bytes"]
    assert ok["threads"] == 1 and ok["thread_settings"]["env"]["OMP_NUM_THREADS"] == "1"


def test_without_the_server_cells_are_spawned(tmp_path):
    plan = _plan(tmp_path, ["fp32"])
    store = RunStore(tmp_path / "run")
    (store.dir / "records").mkdir(parents=True)
    (rec,) = run_cells(plan.runnable, store, "fork", fork_server=False)
    assert (rec["status"], rec["cell_process"]) == ("ok", "spawned")
    assert rec["phase_s"]["imports"] > 0.5  # torch, transformers and timm, imported by this cell


def test_closing_the_server_removes_its_log(tmp_path):
    """The log lives in the run's scratch folder (a runner killed with -9 cannot remove it, and it
    must not pile up in TMPDIR) and is gone once the server closes."""
    from bench.executor import child_env

    plan = _plan(tmp_path, ["fp32"])
    store = RunStore(tmp_path / "run")
    (store.dir / "records").mkdir(parents=True)
    server = ForkServer(child_env(1, tmp_path), label=str(store.dir), log_dir=store.scratch_dir)
    rec = run_cell_process(plan.runnable[0], store, "fork", server=server)
    log = Path(server.log_path)
    assert rec["cell_process"] == "forked" and log.exists() and log.parent == store.scratch_dir
    server.close()
    assert not log.exists() and server.proc is None


def test_a_server_that_cannot_start_falls_back_to_spawning(tmp_path, capsys):
    plan = _plan(tmp_path, ["fp32"])
    store = RunStore(tmp_path / "run")
    (store.dir / "records").mkdir(parents=True)
    broken = ForkServer({}, cmd=[sys.executable, "-c", "import sys; sys.exit(3)"])
    rec = run_cell_process(plan.runnable[0], store, "fork", server=broken)
    assert (rec["status"], rec["cell_process"]) == ("ok", "spawned")
    assert broken.failure and "did not start" in capsys.readouterr().err
    assert broken.log_path is None  # its log is removed once read
    rec = run_cell_process(plan.runnable[0], store, "fork", server=broken)  # no second attempt, no warning
    assert rec["cell_process"] == "spawned" and capsys.readouterr().err == ""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_forked_cell_gets_its_own_cuda_context(tmp_path):
    plan = _plan(tmp_path, ["fp32", "torch-fp16"], device="cuda")
    store = RunStore(tmp_path / "run")
    (store.dir / "records").mkdir(parents=True)
    recs = run_cells(plan.runnable, store, "fork")
    assert [(r["status"], r["cell_process"]) for r in recs] == [("ok", "forked")] * 2, recs
    assert all(r["cuda_peak_allocated_bytes"] > 0 for r in recs)


FAKE_LIBCUDA = """
int initialised = 0;
int cuInit(unsigned flags) { initialised = 1; return 0; }
int cuDeviceGetCount(int *n) { if (!initialised) return 3; *n = 1; return 0; }
"""


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler to build a fake libcuda")
def test_the_guard_tells_a_mapped_driver_from_an_initialised_one(tmp_path):
    src = tmp_path / "fake.c"
    src.write_text(FAKE_LIBCUDA)
    lib = tmp_path / "libcuda.so.1"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    probe = f"""
import ctypes
from bench.forkserver import cuda_driver_initialised, mapped_libcuda

assert mapped_libcuda() is None and not cuda_driver_initialised()
lib = ctypes.CDLL({str(lib)!r})
assert mapped_libcuda().endswith("libcuda.so.1")
assert not cuda_driver_initialised()  # mapped, never initialised: forking is safe
lib.cuInit(0)
assert cuda_driver_initialised()  # after cuInit the server must not fork
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "ok", out.stderr


def test_a_forked_cell_that_cannot_use_cuda_is_run_again_spawned(tmp_path, monkeypatch):
    import bench.executor as ex

    plan = _plan(tmp_path, ["fp32"])
    store = RunStore(tmp_path / "run")
    (store.dir / "records").mkdir(parents=True)
    calls = []

    def fake(cell, store, run_id, keep_artifacts=True, server=None):
        calls.append(server.failure)
        if server.failure is None:
            return {"cell_id": cell.cell_id, "status": "failed", "cell_process": "forked",
                    "error": "RuntimeError: CUDA driver initialization failed, you might not have a CUDA gpu."}
        return {"cell_id": cell.cell_id, "status": "ok", "cell_process": "spawned"}

    monkeypatch.setattr(ex, "run_cell_process", fake)
    (rec,) = run_cells(plan.runnable, store, "fork")
    assert (rec["status"], rec["cell_process"]) == ("ok", "spawned")
    assert calls[0] is None and "could not use CUDA" in calls[1]
    assert not ex.forked_cuda_failure({"cell_process": "forked", "status": "failed", "error": "ValueError: bad"})
