"""`bench compare` as a regression gate, and `bench export` read back by pytest-benchmark itself."""

import csv
import json
import subprocess
import sys

import pytest

from bench.cli import main
from tests.conftest import run_cli
from tests.fixture_runs import cell_id, make_records, write_run


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def bench(capsys):
    """The CLI in this process (fast); one test below runs it as a subprocess, as a user would."""
    def call(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return call

SLOW = cell_id("bert-base", "fp32", "torch-cpu", "b1-s128")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    models = ["bert-base", "tinybert-4"]
    a = write_run(root, "a", make_records(seed=1, models=models))
    same = write_run(root, "same", make_records(seed=2, models=models))  # same machine, fresh samples
    slow_recs = [r for r in make_records(seed=3, models=models, slow={SLOW: 1.2})
                 if r["cell_id"] != cell_id("tinybert-4", "fp32", "onnxruntime-cpu", "b1-s128")]
    slow = write_run(root, "slow", slow_recs)
    return root, a, same, slow


def test_injected_regression_fails_the_gate_and_names_the_cell(runs):
    root, a, _, slow = runs
    res = run_cli("compare", a, slow, "--out", root / "cmp", "--fail-on-regression", "10")
    assert res.returncode == 1, res.stdout + res.stderr
    regressions = [line for line in res.stdout.splitlines() if line.startswith("REGRESSION")]
    assert len(regressions) == 1 and SLOW in regressions[0]
    change = float(regressions[0].split(": ")[1].split("%")[0])
    assert 17 < change < 23  # the injected 20%, within sampling noise
    assert f"only in A: {cell_id('tinybert-4', 'fp32', 'onnxruntime-cpu', 'b1-s128')}" in res.stdout
    page = (root / "cmp" / "index.html").read_text()
    assert SLOW in page and "regressed" in page and "<svg" in page


def test_a_regression_under_the_threshold_passes(bench, runs):
    root, a, _, slow = runs
    res = bench("compare", a, slow, "--out", root / "cmp25", "--fail-on-regression", "25")
    assert res.returncode == 0, res.stdout
    assert "B SLOWER" in res.stdout  # still reported, just under the gate


def test_identical_runs_raise_no_false_alarm(bench, runs):
    root, a, same, _ = runs
    res = bench("compare", a, same, "--out", root / "same", "--fail-on-regression", "5")
    assert res.returncode == 0, res.stdout
    assert "REGRESSION" not in res.stdout and "10 cells compared" in res.stdout
    res = bench("compare", a, a, "--out", root / "self", "--fail-on-regression", "0")
    assert res.returncode == 0 and "0 slower in B" in res.stdout


def test_failed_in_b_fails_the_gate(bench, tmp_path):
    recs = make_records(seed=1, models=["tinybert-4"], extra_fields=False)
    a = write_run(tmp_path, "a", recs)
    broke = [dict(r, status="failed", error="RuntimeError: boom", latency_samples_ms=None)
             if r["cell_id"] == cell_id("tinybert-4", "fp32", "torch-cpu", "b1-s128") else r for r in recs]
    b = write_run(tmp_path, "b", broke)
    res = bench("compare", a, b, "--out", tmp_path / "c", "--fail-on-regression", "50")
    assert res.returncode == 1 and "ok in A, failed in B" in res.stdout


def test_a_run_on_another_gpu_is_compared_but_not_gated(bench, runs, tmp_path):
    """After the runner moves to a slower GPU every cell "regresses"; gated, the scheduled job would
    fail every day, since it compares with its last successful run. It reports instead."""
    root, a, _, slow = runs

    def on_gpu(run, name):
        m = json.loads((run / "manifest.json").read_text())
        m["environment"].update(gpu=name, gpu_uuid=f"GPU-{name}")
        (run / "manifest.json").write_text(json.dumps(m))

    import shutil

    a2, slow2 = tmp_path / "a", tmp_path / "slow"
    shutil.copytree(a, a2)
    shutil.copytree(slow, slow2)
    on_gpu(a2, "NVIDIA H100 80GB HBM3")
    on_gpu(slow2, "NVIDIA A100-SXM4-80GB")
    res = bench("compare", a2, slow2, "--out", tmp_path / "c", "--fail-on-regression", "10")
    assert res.returncode == 0, res.stdout
    assert "Regression gate not applied: the runs used different hardware (gpu: A NVIDIA H100 80GB HBM3 | " \
           "B NVIDIA A100-SXM4-80GB)" in res.stdout
    assert "B SLOWER" in res.stdout and "REGRESSION" not in res.stdout  # still shown, not gated
    assert "not applied: different hardware" in (tmp_path / "c" / "index.html").read_text()
    on_gpu(slow2, "NVIDIA H100 80GB HBM3")  # same GPU again: the gate applies
    assert bench("compare", a2, slow2, "--out", tmp_path / "d", "--fail-on-regression", "10").returncode == 1


def test_compare_rejects_a_non_run(bench, tmp_path, runs):
    res = bench("compare", tmp_path, runs[1], "--out", tmp_path / "x")
    assert res.returncode == 2 and "no manifest.json" in res.stderr


def test_pytest_benchmark_json_matches_its_own_stats_and_loads_in_its_cli(runs, tmp_path):
    from pytest_benchmark.stats import Stats

    _, a, _, _ = runs
    out = tmp_path / "a.json"
    res = run_cli("export", a, "--format", "pytest-benchmark", "-o", out)
    assert res.returncode == 0 and "Wrote 10 benchmarks" in res.stdout, res.stderr
    doc = json.loads(out.read_text())
    assert set(doc) == {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
    rec = json.loads((a / "records" / f"{SLOW}.json").read_text())
    bench = {b["name"]: b for b in doc["benchmarks"]}[SLOW]
    ref = Stats()
    for ms in rec["latency_samples_ms"]:
        ref.update(ms / 1e3)
    for field in Stats.fields:
        assert bench["stats"][field] == pytest.approx(getattr(ref, field)), field
    assert bench["extra_info"]["model"] == "bert-base" and bench["fullname"] == f"fixture::{SLOW}"
    csv_out = tmp_path / "pb"
    proc = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(out), f"--csv={csv_out}",
                           "--columns=min,median,max"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert SLOW in proc.stdout
    rows = list(csv.DictReader((tmp_path / "pb.csv").open()))
    assert len(rows) == 10
    got = {r["name"].split("::")[1]: float(r["median"]) for r in rows}
    assert got[SLOW] == pytest.approx(rec["latency_ms_p50"] / 1e3)


def test_csv_export_has_one_row_per_record(bench, runs, tmp_path):
    _, a, _, _ = runs
    out = tmp_path / "a.csv"
    res = bench("export", a, "--format", "csv", "-o", out)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 12 and "latency_samples_ms" not in rows[0]
    assert {r["status"] for r in rows} == {"ok", "skipped"}
    res = bench("export", a, "--format", "csv", "-o", tmp_path / "nope" / "a.csv")
    assert res.returncode == 2 and "does not exist" in res.stderr


def test_a_contended_run_is_never_gated_as_a_regression(bench, tmp_path):
    """Same code, one run taken on a busy machine: the slow cell is flagged contended by its own
    record, so the comparison shows it, marked, and the gate does not fail the job."""
    models = ["bert-base", "tinybert-4"]
    clean = write_run(tmp_path, "clean", make_records(seed=1, models=models))
    hot = [{**r, "contended": True, "runq_wait_share": 0.45} if r["cell_id"] == SLOW else r
           for r in make_records(seed=4, models=models, slow={SLOW: 3.0})]
    busy = write_run(tmp_path, "busy", hot)
    res = bench("compare", clean, busy, "--out", tmp_path / "cmp", "--fail-on-regression", "10")
    assert res.returncode == 0, res.stdout
    line = next(x for x in res.stdout.splitlines() if x.startswith(SLOW))
    assert "B SLOWER" in line and "CONTENDED: not gated" in line
    assert "contended" in (tmp_path / "cmp" / "index.html").read_text()


def test_every_cell_slower_together_is_named_as_the_machine_or_a_shared_change(bench, tmp_path):
    """A host that is slower under the same name slows every cell alike; the contention fields do
    not see it. The comparison says so, beside the regressions it still reports."""
    models = ["bert-base", "tinybert-4"]
    a = write_run(tmp_path, "a", make_records(seed=1, models=models))
    ids = [r["cell_id"] for r in make_records(seed=1, models=models)]
    slower = write_run(tmp_path, "host", make_records(seed=5, models=models, slow={c: 1.5 for c in ids}))
    res = bench("compare", a, slower, "--out", tmp_path / "cmp", "--fail-on-regression", "10")
    assert res.returncode == 1  # the gate still applies: the reader decides
    note = next(x for x in res.stdout.splitlines() if x.startswith("NOTE:"))
    assert note.startswith("NOTE: 10 of 10 cells are slower in B (median change +") and "the machine" in note
    assert 45 <= float(note.split("median change +")[1].split("%")[0]) <= 55  # the injected 50%, within noise
    assert 'id="shared-shift"' in (tmp_path / "cmp" / "index.html").read_text()
    # One regressed cell among ten is not a shared shift.
    one = write_run(tmp_path, "one", make_records(seed=6, models=models, slow={SLOW: 1.5}))
    assert "NOTE:" not in bench("compare", a, one, "--out", tmp_path / "cmp1").stdout
