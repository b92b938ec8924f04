"""Contention from the kernel, the `contended` flag, and re-measuring once the machine is quiet."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from bench.measure import contention
from bench.measure.contention import Snapshot
from bench.remeasure import best, needs_retry, remeasure, run_summary, wait_for_quiet


def _snap(t, threads, psi=None, cpu=None, own=None):
    return Snapshot(t, threads, psi, cpu, own, {0, 1})


def test_fields_from_two_snapshots():
    # Two threads ran for a 2 s window; together they waited 1 s on the run queue: a quarter of 2 x 2 s.
    before = _snap(10.0, {"1": (0, 0), "2": (5, 5), "3": (7, 7)}, psi=1_000_000, cpu=(100, 0, 400), own=40)
    after = _snap(12.0, {"1": (1_500_000_000, 600_000_000), "2": (1_000_000_005, 400_000_005), "3": (7, 7)},
                  psi=1_500_000, cpu=(400, 10, 800), own=240)
    f = contention.fields(before, after, threshold=0.1)
    assert f["runq_active_threads"] == 2 and f["runq_wait_share"] == pytest.approx(1.0 / (2 * 2.0))
    assert f["runq_wait_ms"] == pytest.approx(1000.0) and f["contended"] is True
    assert f["cpu_pressure_some"] == pytest.approx(0.25)  # 0.5 s of "some" pressure in 2 s
    assert f["steal_share"] == pytest.approx(10 / 400)
    assert f["other_cpu_share"] == pytest.approx((300 - 200) / 400)  # busy ticks not ours, over all ticks
    quiet = contention.fields(before, _snap(12.0, {"1": (1_000_000_000, 1_000_000)}), threshold=0.1)
    assert quiet["contended"] is False and quiet["cpu_pressure_some"] is None


def test_no_schedstat_means_no_verdict():
    f = contention.fields(_snap(0.0, {}), _snap(1.0, {}))
    assert f["runq_wait_share"] is None and f["contended"] is None  # unknown, never "not contended"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_window_around_real_work_reads_this_process():
    with contention.Window() as w:
        end = time.perf_counter() + 0.3
        while time.perf_counter() < end:
            sum(range(1000))
    f = w.fields
    assert f["runq_active_threads"] >= 1 and 0 <= f["runq_wait_share"] <= 1
    assert f["contention_window_s"] == pytest.approx(0.3, abs=0.2)


def _rec(p50, contended=False, noisy=False, share=0.0, cv=0.02, status="ok"):
    return {"cell_id": "c", "status": status, "latency_ms_p50": p50, "contended": contended, "noisy": noisy,
            "runq_wait_share": share, "latency_cv": cv}


class _Cell:
    class measure:  # noqa: N801 - stands in for a suite's Measure
        retries = 2
        quiet_wait_s = 0


def test_remeasure_keeps_every_attempt_and_reports_the_best_isolated(monkeypatch):
    monkeypatch.setattr("bench.remeasure.wait_for_quiet", lambda max_wait: (True, 0.0, {"busy_share": 0.01}))
    later = iter([_rec(11.0, contended=True, share=0.3), _rec(10.0, share=0.01)])
    out = remeasure(_Cell, _rec(30.0, contended=True, share=0.5), lambda: next(later), lambda: None)
    assert out["latency_ms_p50"] == 10.0 and out["attempt_kept"] == 2 and out["remeasured"] is True
    assert [a["latency_ms_p50"] for a in out["attempts"]] == [30.0, 11.0, 10.0]
    assert out["attempts"][1]["machine_quiet_before"] is True and not needs_retry(out)


def test_a_clean_attempt_stops_the_retries(monkeypatch):
    monkeypatch.setattr("bench.remeasure.wait_for_quiet", lambda max_wait: (True, 0.0, {}))
    calls = []
    out = remeasure(_Cell, _rec(20.0, noisy=True, cv=0.4), lambda: calls.append(1) or _rec(10.0), lambda: None)
    assert len(calls) == 1 and out["attempt_kept"] == 1


@pytest.mark.parametrize("kept_first", [True, False])
def test_the_kept_attempts_profile_is_the_one_left(monkeypatch, tmp_path, kept_first):
    """Each attempt writes its profile under the cell's one name: the file left is the kept one's."""
    from bench.remeasure import AttemptFiles

    monkeypatch.setattr("bench.remeasure.wait_for_quiet", lambda max_wait: (True, 0.0, {}))
    prof, trace = tmp_path / "c.parquet", tmp_path / "c.trace.json"
    prof.write_text("attempt 0"), trace.write_text("trace 0")
    # kept_first: attempt 0 waited least and the two after it are worse; else attempt 1 is clean.
    later = iter([_rec(11.0, contended=True, share=0.3), _rec(12.0, contended=True, share=0.5)] if kept_first
                 else [_rec(9.0)])

    def run():
        n = len(list(tmp_path.glob(".attempt*c.parquet")))
        prof.write_text(f"attempt {n}"), trace.write_text(f"trace {n}")
        return next(later)

    first = _rec(10.0, contended=True, share=0.2 if kept_first else 0.9)
    out = remeasure(_Cell, first, run, lambda: None, AttemptFiles([prof, trace]))
    k = out["attempt_kept"]
    assert k == (0 if kept_first else 1)
    assert prof.read_text() == f"attempt {k}" and trace.read_text() == f"trace {k}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.parquet", "c.trace.json"]  # no attempt left aside


def test_best_prefers_finished_then_uncontended_then_least_wait():
    recs = [_rec(5.0, status="failed"), _rec(9.0, contended=True, share=0.2), _rec(12.0, share=0.05),
            _rec(11.0, share=0.01)]
    assert best(recs) == 3


def test_waiting_for_quiet_is_bounded():
    looks = []

    def busy(seconds):
        looks.append(seconds)
        return {"busy_share": 0.9}

    quiet, waited, last = wait_for_quiet(0.0, look=busy)
    assert quiet is False and looks == [1.0] and last["busy_share"] == 0.9
    assert wait_for_quiet(10.0, look=lambda s: {"busy_share": 0.01})[0] is True


def test_run_summary_says_when_the_machine_never_quietened():
    recs = [{**_rec(10.0, contended=True), "cell_id": "a", "remeasured": True,
             "attempts": [{"attempt": 0}, {"attempt": 1, "machine_quiet_before": False}]},
            {**_rec(5.0), "cell_id": "b"}]
    s = run_summary(recs)
    assert s == {"remeasured": ["a"], "still_contended": ["a"], "still_noisy": [], "machine_never_quiet": True}


# --- deliberate contention, end to end -------------------------------------------------------------

SUITE = """
name: contended
models: [tinybert-4]
optimizations: [fp32]
targets: [{runtime: torch, threads: 2}]
workloads: {batch_sizes: [1], seq_lens: [64]}
measure: {warmup_iters: 3, warmup_s: 0.2, min_time_s: 2.0, max_time_s: 3.0, min_samples: 20, timeout_s: 300,
          retries: 1, quiet_wait_s: 60}
"""


def _burners(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _stop(procs) -> None:
    for p in procs:
        p.kill()
        p.wait()


@pytest.mark.slow
def test_burners_during_timing_flag_the_cell_and_the_clean_retry_is_kept(tmp_path):
    """CPU burners on the cell's cores while it is timed: flagged contended; the burners stop when
    its first record lands; the runner waits for quiet, measures again, and keeps that attempt,
    which agrees with an uncontended run of the same cell (ratio, same machine, minutes apart)."""
    from tests.conftest import ROOT

    (tmp_path / "s.yaml").write_text(SUITE)
    env_cmd = [sys.executable, "-m", "bench", "run", str(tmp_path / "s.yaml"), "--results-dir", str(tmp_path / "r")]

    def records(run_id):
        return [json.loads(p.read_text()) for p in (tmp_path / "r" / run_id / "records").glob("*.json")]

    for attempt in range(2):  # a shared CI machine can swing a clean run too: one retake
        burners = _burners(2)
        try:
            proc = subprocess.Popen([*env_cmd, "--run-id", f"hot{attempt}", "--strict"], cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
            deadline = time.monotonic() + 600
            while not records(f"hot{attempt}") and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            _stop(burners)
        out, err = proc.communicate(timeout=600)
        (rec,) = records(f"hot{attempt}")
        assert rec["remeasured"] is True and rec["attempts"][0]["contended"] is True, rec.get("attempts")
        assert rec["attempts"][0]["runq_wait_share"] > rec["contention_threshold"]
        retry = rec["attempts"][1]
        if not retry["machine_quiet_before"]:
            # Other work (not ours) kept the machine busy past quiet_wait_s: the record must say so,
            # and --strict must fail the run if the retry was contended too; the rest needs quiet.
            assert retry["waited_s"] >= 59 and (proc.returncode == 3) == bool(rec["contended"]), err[-2000:]
            pytest.skip("the machine never became quiet for the retry (load from outside this test)")
        assert rec["attempt_kept"] == 1 and rec["contended"] is False, rec["attempts"]
        assert proc.returncode == 0, err[-2000:]  # --strict passes: nothing stayed contended
        clean = subprocess.run([*env_cmd, "--run-id", f"clean{attempt}"], cwd=ROOT, capture_output=True, text=True,
                               env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
        assert clean.returncode == 0, clean.stderr[-2000:]
        (ref,) = records(f"clean{attempt}")
        ratio = rec["latency_ms_p50"] / ref["latency_ms_p50"]
        if abs(ratio - 1) <= 0.15:
            break
    assert abs(ratio - 1) <= 0.15, (rec["latency_ms_p50"], ref["latency_ms_p50"])
    assert rec["attempts"][0]["latency_ms_p50"] > 1.3 * ref["latency_ms_p50"]  # the contended attempt was slow
