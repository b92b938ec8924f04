"""Hostile or damaged run directories, writes outside the results root, signals before the cells,
a killed fork server, a SIGKILL that is not the OOM killer, and a full disk.

Each test reproduces a way a run could crash, lie or write where it should not, and checks the
clear error or the correct behaviour instead.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.cli import main
from tests.fixture_runs import make_records, write_run

GOOD = "bert-base.fp32.torch-cpu.b1-s128"


def _call(args, capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out + out.err


# --- 7. readers never crash on damaged files -----------------------------------------------------------

WRONG_RECORDS = {
    "string samples": {"latency_samples_ms": ["1.0", "2.0"]},
    "integer status": {"status": 1},
    "nan samples": {"latency_samples_ms": [1.0, float("nan")]},
    "inf samples": {"latency_samples_ms": [float("inf"), 1.0]},
    "ok with only the required keys": "bare",
    "list batch": {"batch_size": [1, 2]},
}


def _damaged(tmp_path: Path, damage: str) -> Path:
    recs = make_records(seed=1, models=["bert-base"])
    run = write_run(tmp_path, "damaged", recs)
    victim = run / "records" / f"{GOOD}.json"
    if damage == "deep array":
        victim.write_text("[" * 100_000 + "]" * 100_000)
    elif damage == "binary manifest":
        (run / "manifest.json").write_bytes(b"\xff\xfe\x00\x81binary")
    elif damage == "environment is a list":
        m = json.loads((run / "manifest.json").read_text())
        (run / "manifest.json").write_text(json.dumps({**m, "environment": [1, 2]}))
    elif damage == "records is a file":
        import shutil

        shutil.rmtree(run / "records")
        (run / "records").write_text("not a directory")
    else:
        spec = WRONG_RECORDS[damage]
        rec = json.loads(victim.read_text())
        bad = ({k: rec[k] for k in ("run_id", "cell_id")} | {"status": "ok"}) if spec == "bare" else {**rec, **spec}
        victim.write_text(json.dumps(bad))
    return run


READERS = [("report", "{run}", "--out", "{tmp}/rep"), ("summary", "{run}"), ("compare", "{good}", "{run}", "--out", "{tmp}/cmp"),
           ("export", "{run}", "--format", "csv", "-o", "{tmp}/x.csv"),
           ("export", "{run}", "--format", "pytest-benchmark", "-o", "{tmp}/x.json")]
DAMAGES = [*WRONG_RECORDS, "deep array", "binary manifest", "environment is a list", "records is a file"]


@pytest.mark.slow  # renders a report and a comparison per damage
@pytest.mark.parametrize("damage", DAMAGES)
def test_every_reader_skips_and_names_what_is_damaged(tmp_path, capsys, damage):
    run = _damaged(tmp_path, damage)
    good = write_run(tmp_path, "good", make_records(seed=2, models=["bert-base"]))
    for reader in READERS:
        args = [a.format(run=run, good=good, tmp=tmp_path) for a in reader]
        code, text = _call(args, capsys)  # a traceback fails the test here
        assert code in (0, 2), (reader, text)
        if code == 2:
            assert text.startswith("error:") and len(text.strip().splitlines()) == 1, text
    if damage in WRONG_RECORDS or damage == "deep array":
        code, text = _call(["summary", run], capsys)
        assert code == 0 and f"{GOOD}.json" in text  # named, not only counted
        from bench.store import skipped_record_files

        assert GOOD + ".json" in skipped_record_files(run)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["status", "latency_ms_p50", "n_samples", "latency_samples_ms", "model", "noisy",
                              "batch_size", "cosine_sim", "attempts"]),
       value=st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                       st.lists(st.text(max_size=3), max_size=3), st.none(), st.booleans(),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
def test_typed_but_wrong_records_never_crash_a_reader(tmp_path_factory, capsys, field, value):
    tmp = tmp_path_factory.mktemp("typed")
    recs = make_records(seed=1, models=["bert-base"])
    recs[0][field] = value
    run = write_run(tmp, "wrong", recs)
    for reader in READERS[1:2] + READERS[3:]:  # the HTML readers: the slow test above, per damage
        code, text = _call([a.format(run=run, good=run, tmp=tmp) for a in reader], capsys)
        assert code in (0, 2), text
    from bench.compare import compare_runs, text_table

    text_table(compare_runs(run, run))  # the comparison's numbers, without its HTML


def test_compare_says_unreadable_not_only_in_a(tmp_path, capsys):
    run = _damaged(tmp_path, "string samples")
    good = write_run(tmp_path, "good", make_records(seed=2, models=["bert-base"]))
    code, text = _call(["compare", good, run, "--out", tmp_path / "c"], capsys)
    assert code == 0 and f"only in A: {GOOD}" not in text and "B unreadable" in text


def test_resume_refuses_a_records_file_and_a_symlinked_records_dir(tmp_path, capsys):
    run = _damaged(tmp_path, "records is a file")
    code, text = _call(["run", "--resume", run, "--results-dir", tmp_path], capsys)
    assert code == 2 and "not a directory of this run" in text
    run2 = write_run(tmp_path, "linked", make_records(seed=1, models=["bert-base"]))
    outside = tmp_path / "outside"
    (run2 / "records").rename(outside)
    (run2 / "records").symlink_to(outside)
    code, text = _call(["run", "--resume", run2, "--results-dir", tmp_path], capsys)
    assert code == 2 and "symbolic link" in text


# --- 8. no write outside the results root --------------------------------------------------------------

SUITE = ("name: tiny\nmodels: [tinybert-4]\noptimizations: [fp32]\ntargets: [{runtime: torch, threads: 1}]\n"
         "workloads: {seq_lens: [16]}\nmeasure: {warmup_iters: 1, warmup_s: 0, min_time_s: 0.05, max_time_s: 0.2, "
         "min_samples: 3, retries: 0}\n")


def _long(seconds: float) -> str:
    """The suite with a timing loop of `seconds`, long enough to act on a cell while it runs."""
    return SUITE.replace("min_time_s: 0.05, max_time_s: 0.2", f"min_time_s: {seconds}, max_time_s: {seconds}")


def test_a_run_id_that_is_a_symlink_out_of_the_root_is_refused(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text(SUITE)
    root, outside = tmp_path / "results", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "evil").symlink_to(outside)
    code, text = _call(["run", tmp_path / "s.yaml", "--results-dir", root, "--run-id", "evil"], capsys)
    assert code == 2 and "symbolic link" in text and list(outside.iterdir()) == []


def test_compare_names_its_output_after_the_directories_not_the_manifests(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = write_run(tmp_path, "a", make_records(seed=1, models=["bert-base"]))
    b = write_run(tmp_path, "b", make_records(seed=2, models=["bert-base"]))
    m = json.loads((b / "manifest.json").read_text())
    (b / "manifest.json").write_text(json.dumps({**m, "run_id": "../../../tmp/x"}))
    code, text = _call(["compare", a, b], capsys)
    assert code == 0 and (tmp_path / "reports" / "compare-a-vs-b" / "index.html").exists()


def test_an_empty_run_id_is_refused(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text(SUITE)
    code, text = _call(["run", tmp_path / "s.yaml", "--results-dir", tmp_path / "r", "--run-id", ""], capsys)
    assert code == 2 and "--run-id" in text and not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


# --- 9. the run directory appears with its manifest, or not at all -----------------------------------

def test_a_new_run_directory_appears_with_its_manifest(tmp_path, monkeypatch):
    from bench.store import RunStore

    store = RunStore.create(tmp_path, "r1", {"run_id": "r1", "status": "running"})
    assert json.loads((store.dir / "manifest.json").read_text())["status"] == "running"

    def boom(self, manifest):
        raise KeyboardInterrupt  # the runner killed between creating the directory and its manifest

    monkeypatch.setattr(RunStore, "write_manifest", boom)
    with pytest.raises(KeyboardInterrupt):
        RunStore.create(tmp_path, "r2", {"run_id": "r2"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r1"]  # no half-made r2, no temporary left


# --- 13. a full disk ----------------------------------------------------------------------------------

def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "manifest.json")


def test_a_full_disk_before_the_run_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    import bench.store

    (tmp_path / "s.yaml").write_text(SUITE)
    monkeypatch.setattr(bench.store, "atomic_write_text", _enospc)
    code, text = _call(["run", tmp_path / "s.yaml", "--results-dir", tmp_path / "r", "--run-id", "full"], capsys)
    assert code == 2 and "the disk is full" in text and len(text.strip().splitlines()) == 1
    assert [p.name for p in (tmp_path / "r").iterdir()] == []


def test_a_full_disk_while_writing_the_parquet_is_one_clear_error(tmp_path, monkeypatch):
    from bench.errors import UserError
    from bench.store import RunStore

    store = RunStore.create(tmp_path, "p", {"run_id": "p"})
    monkeypatch.setattr(RunStore, "write_parquet", lambda self: _enospc())
    with pytest.raises(UserError, match="the disk is full"):
        store.write_record({"run_id": "p", "cell_id": "c", "status": "skipped"})
    assert not [p for p in store.records_dir.iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_cell_that_failed_on_a_full_disk_is_retried_by_resume(tmp_path):
    from bench.executor import classify
    from bench.store import RunStore

    child = {"status": "failed", "error": "OSError: [Errno 28] No space left on device: 'x.onnx'"}
    assert classify(1, child, "", None) == "disk-full"
    store = RunStore.create(tmp_path, "d", {"run_id": "d"})
    store.write_record({"run_id": "d", "cell_id": "a", "status": "failed", "failure": "disk-full"})
    store.write_record({"run_id": "d", "cell_id": "b", "status": "failed", "failure": "exception"})
    assert set(store.finished_records()) == {"b"}  # a is measured again by --resume


# --- 10-12. signals before the cells, a killed fork server, a SIGKILL that is not OOM -------------------

def _procs(text: str) -> list[int]:
    from tests.test_reliability import processes_mentioning

    return processes_mentioning(text)


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _forked_cells() -> list[int]:
    """Processes forked by a fork server (they carry its command line): the cells in flight."""
    servers = set(_procs("bench.forkserver"))
    return [p for p in servers if _parent(p) in servers]


@pytest.mark.slow
def test_sigterm_during_the_peak_measurement_marks_the_run_and_kills_the_child(tmp_path):
    from tests.test_reliability import start_cli, wait_for

    (tmp_path / "s.yaml").write_text(SUITE)
    run = tmp_path / "r" / "peaks"
    proc = start_cli("run", tmp_path / "s.yaml", "--results-dir", tmp_path / "r", "--run-id", "peaks",
                     out=tmp_path / "log")
    try:
        wait_for(lambda: _procs("bench.measure.cell_metrics"), timeout=120, what="the peak measurement")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 130
    finally:
        proc.kill()
    log = (tmp_path / "log").read_text()
    assert "Resume with: bench run --resume" in log
    assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"
    wait_for(lambda: not _procs("bench.measure.cell_metrics"), timeout=10, what="the peaks child to die")
    assert not list((run / "scratch").glob("peaks-*"))


def _kill_in_flight(tmp_path: Path, seconds: float, victims) -> tuple[dict, str]:
    """Run a one-cell suite timed for `seconds`; once its cell is forked, SIGKILL `victims(cells)`.
    The run must still finish (exit 0); returns its one record and its log."""
    from tests.test_reliability import start_cli, wait_for

    (tmp_path / "s.yaml").write_text(_long(seconds))
    proc = start_cli("run", tmp_path / "s.yaml", "--results-dir", tmp_path / "r", "--run-id", "k",
                     out=tmp_path / "log")
    try:
        wait_for(lambda: _forked_cells(), what="the cell to be forked")
        time.sleep(1)
        for pid in victims(_forked_cells()):
            os.kill(pid, signal.SIGKILL)
        assert proc.wait(300) == 0
    finally:
        proc.kill()
    (rec,) = [json.loads(p.read_text()) for p in (tmp_path / "r" / "k" / "records").glob("*.json")]
    return rec, (tmp_path / "log").read_text()


@pytest.mark.slow
def test_a_killed_fork_server_reruns_the_cell_as_a_new_process(tmp_path):
    # The server, not the cell: the cell dies with it.
    rec, log = _kill_in_flight(tmp_path, 3, lambda cells: {_parent(c) for c in cells})
    assert rec["status"] == "ok" and rec["cell_process"] == "spawned"
    assert log.count("the fork server died") == 1


@pytest.mark.slow
def test_a_sigkill_from_outside_is_killed_not_out_of_memory(tmp_path):
    rec, _ = _kill_in_flight(tmp_path, 30, lambda cells: cells)
    assert rec["status"] == "failed" and rec["failure"] == "killed", rec
    assert "not the OOM killer" in rec["error"]
