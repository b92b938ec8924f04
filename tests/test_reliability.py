"""Faults injected for real, kill -9 and resume, Ctrl-C, determinism, untrusted paths, artifact hygiene.

Every test asserts on what the records and the run directory hold afterwards. Cells use
tinybert-4 at sequence 16 with tiny measurement settings, so each costs a few seconds.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow  # spawns cell processes: the full tier (nox -s tests) runs it

MEASURE = "warmup_iters: 1, warmup_s: 0, min_time_s: 0.05, max_time_s: 0.3, min_samples: 5, retries: 0"

FAULTS = f"""
name: faults
models: [tinybert-4]
optimizations:
  - debug-fault(mode=raise)
  - debug-fault(mode=segfault)
  - debug-fault(mode=abort)
  - debug-fault(mode=oom)
targets: [{{runtime: torch, device: cpu, threads: 1}}]
workloads: {{seq_lens: [16]}}
measure: {{{MEASURE}, timeout_s: 300, memory_limit_mb: 1500}}
"""

HANG = f"""
name: hang
models: [tinybert-4]
optimizations: ["debug-fault(mode=hang)"]
targets: [{{runtime: torch, device: cpu, threads: 1}}]
workloads: {{seq_lens: [16]}}
measure: {{{MEASURE}, timeout_s: 4}}
"""

# Two cells: the suite for resume, Ctrl-C and determinism.
TINY = f"""
name: tiny
models: [tinybert-4]
optimizations: [fp32, torch-dynamic-int8]
targets: [{{runtime: torch, device: cpu, threads: 1}}]
workloads: {{seq_lens: [16]}}
measure: {{{MEASURE}, timeout_s: 300}}
"""
FP32, INT8 = "tinybert-4.fp32.torch-cpu.b1-s16", "tinybert-4.torch-dynamic-int8.torch-cpu.b1-s16"

STATIC = ["params", "macs", "flops", "weight_bytes", "macs_closed_form"]
# Fidelity tolerance between two runs of one suite on one machine (same seed, same threads).
FIDELITY_ABS_TOL = {"max_abs_err": 1e-5, "mean_abs_err": 1e-6, "cosine_sim": 1e-6}


def records(run_dir: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (run_dir / "records").glob("*.json")}


def start_cli(*args, out: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(out, "w") as f:
        return subprocess.Popen([sys.executable, "-m", "bench", *map(str, args)], stdout=f, stderr=subprocess.STDOUT,
                                cwd=ROOT, env=env)


def wait_for(pred, timeout=300, what=""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def processes_mentioning(text: str) -> list[int]:
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                cmd = Path(f"/proc/{d}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmd:
                pids.append(int(d))
    return pids


def no_process_left(run_dir: Path):
    wait_for(lambda: not processes_mentioning(str(run_dir)), timeout=10, what="cell processes to die")


# --- faults -------------------------------------------------------------------------------------------

def test_every_fault_is_recorded_and_the_sweep_goes_on(write_suite, tmp_path):
    res = run_cli("run", write_suite(FAULTS), "--results-dir", tmp_path, "--run-id", "faults")
    assert res.returncode == 0, res.stdout + res.stderr
    run = tmp_path / "faults"
    recs = {r["optimization"]: r for r in records(run).values()}
    assert len(recs) == 4  # each fault has its record: the sweep went on after every one

    raised = recs["debug-fault(mode=raise)"]
    assert (raised["status"], raised["failure"]) == ("failed", "exception")
    assert "injected exception" in raised["error"] and "RuntimeError" in raised["stderr_tail"]
    segv = recs["debug-fault(mode=segfault)"]
    assert (segv["status"], segv["failure"]) == ("failed", "crash") and "SIGSEGV" in segv["error"]
    abort = recs["debug-fault(mode=abort)"]
    assert (abort["status"], abort["failure"]) == ("failed", "crash") and "SIGABRT" in abort["error"]
    oom = recs["debug-fault(mode=oom)"]
    assert (oom["status"], oom["failure"]) == ("failed", "oom")
    assert oom["error"].startswith("out of memory") and "1500 MB" in oom["error"]
    for r in recs.values():
        assert r["stderr_tail"] and len(r["stderr_tail"].splitlines()) <= 20
        assert r["disk_bytes"] > 0  # at least the cell's own stderr and spec
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    # Hygiene: scratch and cache (exports, reference outputs) removed at the end, results kept.
    assert not (run / "scratch").exists() and not (run / "cache").exists()
    assert (run / "records.parquet").exists()
    no_process_left(run)


def test_a_hang_is_killed_at_the_timeout(write_suite, tmp_path):
    res = run_cli("run", write_suite(HANG), "--results-dir", tmp_path, "--run-id", "hang", "--keep-artifacts")
    assert res.returncode == 0, res.stdout + res.stderr
    run = tmp_path / "hang"
    (rec,) = records(run).values()
    assert (rec["status"], rec["failure"]) == ("timeout", "timeout")
    # Killed at the timeout, never before; how long after depends on the machine's load (the run
    # finishing at all, within run_cli's own timeout, is what shows that the hang was killed).
    assert "timeout of 4 s" in rec["error"] and rec["cell_wall_s"] >= 4
    # --keep-artifacts keeps the cell's scratch, with its full stderr.
    assert (run / "scratch" / rec["cell_id"] / "stderr.txt").exists()
    no_process_left(run)


# --- kill -9, resume, torn records --------------------------------------------------------------------

@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    suite = root / "tiny.yaml"
    suite.write_text(TINY)
    run = root / "results" / "tiny"
    proc = start_cli("run", suite, "--results-dir", root / "results", "--run-id", "tiny", out=root / "first.log")
    try:
        wait_for(lambda: (run / "records" / f"{FP32}.json").exists(), what="the first record")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        proc.kill()
    no_process_left(run)  # the cell in flight died with its runner
    before = records(run)
    assert set(before) == {FP32}, "the second cell finished before the kill; the test proves nothing"
    first_bytes = (run / "records" / f"{FP32}.json").read_bytes()
    # What a torn write would leave: a half-written record for the second cell, and a stray temp file.
    (run / "records" / f"{INT8}.json").write_text('{"run_id": "tiny", "cell_id": "tinybert-4.torch-dyn')
    (run / "records" / f".{INT8}.json.tmp999").write_text("{")
    res = run_cli("run", "--resume", run, "--results-dir", root / "results")
    return run, res, first_bytes


def test_kill_9_then_resume_completes_without_remeasuring(killed_and_resumed):
    run, res, first_bytes = killed_and_resumed
    assert res.returncode == 0, res.stdout + res.stderr
    assert INT8 in res.stdout and FP32 not in res.stdout  # only the missing cell ran again
    assert (run / "records" / f"{FP32}.json").read_bytes() == first_bytes
    recs = records(run)
    assert set(recs) == {FP32, INT8} and all(r["status"] == "ok" for r in recs.values())
    assert sorted(p.name for p in (run / "records").iterdir()) == sorted([f"{FP32}.json", f"{INT8}.json"])
    import pandas as pd

    df = pd.read_parquet(run / "records.parquet")
    assert sorted(df.cell_id) == sorted([FP32, INT8])  # no duplicates
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["resumed_at"]) == 1
    assert "Run tiny: 2 ok" in res.stdout


def test_resume_of_a_finished_run_runs_nothing(killed_and_resumed):
    from bench.executor import cells_from_manifest, run_cells
    from bench.store import RunStore

    run, _, _ = killed_and_resumed
    before = {p.name: p.stat().st_mtime_ns for p in (run / "records").iterdir()}
    store = RunStore.open(run.parent, run.name)  # a run id works as well as a path
    ran = []
    recs = run_cells(cells_from_manifest(store.manifest()), store, "tiny", lambda c, r: ran.append(c.cell_id))
    assert ran == [] and [r["cell_id"] for r in recs] == [FP32, INT8]
    assert {p.name: p.stat().st_mtime_ns for p in (run / "records").iterdir()} == before


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("sigint")
    suite = root / "tiny.yaml"
    suite.write_text(TINY)
    run = root / "results" / "int"
    proc = start_cli("run", suite, "--results-dir", root / "results", "--run-id", "int", out=root / "log")
    try:
        wait_for(lambda: (run / "records" / f"{FP32}.json").exists(), what="the first record")
        wait_for(lambda: (run / "scratch" / INT8 / "stderr.txt").exists(), what="the second cell to start")
        os.kill(proc.pid, signal.SIGINT)
        code = proc.wait(60)
    finally:
        proc.kill()
    return run, code, (root / "log").read_text(), json.loads((run / "manifest.json").read_text()), records(run)


def test_ctrl_c_stops_cleanly_after_writing_what_finished(interrupted):
    run, code, log, manifest, recs = interrupted
    assert code == 130, log
    assert "Resume with: bench run --resume" in log and "Traceback" not in log
    assert set(recs) == {FP32}  # the interrupted cell has no record
    assert manifest["status"] == "interrupted" and manifest["interrupted_at"]
    assert not (run / "scratch" / INT8).exists()
    no_process_left(run)


# --- determinism --------------------------------------------------------------------------------------

def test_same_suite_twice_gives_identical_static_metrics(killed_and_resumed, interrupted):
    """Two runs of TINY: one killed with -9 and resumed, one interrupted with Ctrl-C and resumed."""
    run_a, _, _ = killed_and_resumed
    run_b = interrupted[0]
    res = run_cli("run", "--resume", run_b, "--results-dir", run_b.parent)
    assert res.returncode == 0, res.stderr
    a, b = records(run_a), records(run_b)
    assert set(a) == set(b) == {FP32, INT8}
    assert a[FP32]["run_id"] == "tiny" and b[FP32]["run_id"] == "int"
    for cid in a:
        for k in STATIC:
            assert a[cid][k] == b[cid][k], (cid, k)
        for k, tol in FIDELITY_ABS_TOL.items():
            assert abs(a[cid][k] - b[cid][k]) <= tol, (cid, k, a[cid][k], b[cid][k])
    assert a[FP32]["max_abs_err"] == 0 and a[INT8]["weight_bytes"] < a[FP32]["weight_bytes"]


# --- untrusted paths and torn records (in-process, no cells) -------------------------------------------

def test_resume_paths_must_stay_inside_the_results_root(tmp_path):
    from bench.errors import UserError
    from bench.store import RunStore

    root = tmp_path / "results"
    (root / "ok").mkdir(parents=True)
    (root / "ok" / "manifest.json").write_text("{}")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "manifest.json").write_text("{}")
    (root / "link").symlink_to(outside)
    assert RunStore.open(root, root / "ok").dir == (root / "ok").resolve()
    assert RunStore.open(root, "ok").dir == (root / "ok").resolve()
    for bad in [outside, root / "link", root / ".." / "outside", root, "../outside", "/etc"]:
        with pytest.raises(UserError, match="not inside|not allowed|symbolic link"):
            RunStore.open(root, bad)
    with pytest.raises(UserError, match="no manifest"):
        (root / "empty").mkdir()
        RunStore.open(root, "empty")
    with pytest.raises(ValueError, match="safe file name"):
        RunStore(root / "ok").write_record({"cell_id": "../../x", "run_id": "ok", "status": "ok"})


def test_resume_outside_the_root_exits_2(tmp_path, capsys):
    from bench.cli import main

    (tmp_path / "elsewhere").mkdir()
    assert main(["run", "--resume", str(tmp_path / "elsewhere"), "--results-dir", str(tmp_path / "results")]) == 2
    assert "not inside the results directory" in capsys.readouterr().err
    assert main(["report", "/"]) == 2  # the report directory is named after the run: "/" names nothing
    assert "not allowed" in capsys.readouterr().err
    assert main(["run", "--executor", "ray", "--resume", "x", str(tmp_path / "s.yaml")]) == 2


def test_torn_and_foreign_record_files_are_skipped_and_named(tmp_path):
    from bench.store import RunStore, load_records, missing_cells, skipped_record_files

    run = tmp_path / "r"
    (run / "records").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"cells": [{"cell_id": c} for c in "abcdef"]}))
    good = {"run_id": "r", "cell_id": "a", "status": "ok", "latency_ms_p50": 1.0}
    (run / "records" / "a.json").write_text(json.dumps(good))
    (run / "records" / "b.json").write_text('{"run_id": "r", "cell_')  # torn
    (run / "records" / "c.json").write_text(json.dumps({"run_id": "r", "cell_id": "c"}))  # no status
    (run / "records" / "d.json").write_text("[1, 2]")
    (run / "records" / "e.json").write_text(json.dumps({**good, "cell_id": "zzz"}))  # names another cell
    (run / "records" / "f.json").write_bytes(b"\xff\xfe\x00")
    df, bad = load_records(run)
    assert list(df.cell_id) == ["a"]
    assert bad == ["b.json", "c.json", "d.json", "e.json", "f.json"]
    why = skipped_record_files(run)
    assert "torn" in why["b.json"] and "lacks status" in why["c.json"] and "names cell" in why["e.json"]
    assert missing_cells(run) == list("bcdef")
    assert set(RunStore(run).finished_records()) == {"a"}  # a resume re-runs b to f


def test_failure_classification():
    from bench.executor import classify

    assert classify(0, {"status": "ok"}, "", None) is None
    assert classify(1, {"status": "failed", "error": "MemoryError: "}, "", None) == "oom"
    assert classify(1, {"status": "failed", "error": "RuntimeError: DefaultCPUAllocator: can't allocate memory"},
                    "", None) == "oom"
    assert classify(1, {"status": "failed", "error": "ValueError: x"}, "", None) == "exception"
    # A SIGKILL alone is "killed": run_cell_process calls it oom only with evidence (tests/test_hardening.py).
    assert classify(-signal.SIGKILL, {}, "", None) == "killed"
    assert classify(-signal.SIGABRT, {}, "terminate called after throwing an instance of 'std::bad_alloc'",
                    None) == "oom"
    assert classify(-signal.SIGSEGV, {}, "", None) == "crash"
    assert classify(0, {}, "", "timeout") == "timeout"


def test_rss_of_a_process_group_is_measured():
    from bench.executor import group_rss_bytes

    proc = subprocess.Popen([sys.executable, "-c", "import time; x = b'1' * (200 << 20); time.sleep(30)"],
                            start_new_session=True)
    try:
        wait_for(lambda: group_rss_bytes(proc.pid) > 200 << 20, timeout=30, what="RSS to grow")
    finally:
        proc.kill()
        proc.wait()
    assert group_rss_bytes(proc.pid) == 0
