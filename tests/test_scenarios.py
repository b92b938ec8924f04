"""Scenarios in suites: plan-time errors, and TinyBERT-4 in single-stream, offline and server."""

from __future__ import annotations

import json

import pytest

from bench.cli import main

BASE = ("name: sc\nmodels: [tinybert-4]\noptimizations: [fp32]\nworkloads: {batch_sizes: [1], seq_lens: [16]}\n"
        "measure: {warmup_iters: 1, warmup_s: 0, min_time_s: 0.05, max_time_s: 0.3, min_samples: 5, retries: 0}\n")


def _plan_exit(tmp_path, capsys, text: str) -> str:
    (tmp_path / "s.yaml").write_text(text)
    assert main(["plan", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1, err
    return err


def test_a_rate_of_zero_is_a_plan_time_error(tmp_path, capsys):
    err = _plan_exit(tmp_path, capsys, BASE + "targets: [{runtime: torch}]\nscenarios: [server]\nserver: {start_rate: 0}\n")
    assert "start_rate" in err and "above 0" in err


def test_a_bound_not_above_the_batchers_wait_is_a_plan_time_error(tmp_path, capsys):
    err = _plan_exit(tmp_path, capsys, BASE + "targets: [{runtime: torch}]\nscenarios: [server]\n"
                                              "server: {p99_bound_ms: 2, max_wait_ms: 5}\n")
    assert "max_wait_ms" in err


def test_a_server_on_a_runtime_that_cannot_batch_is_a_plan_time_error(tmp_path, capsys):
    err = _plan_exit(tmp_path, capsys, BASE + "targets: [{runtime: onnxruntime-edge, options: {profile: rpi5}}]\n"
                                              "scenarios: [single-stream, server]\n")
    assert "cannot bind them" in err and "onnxruntime-edge" in err


def _cell(tmp_path, scenarios: str):
    from bench.suite import expand, parse_suite

    (cell,) = expand(parse_suite(BASE + "targets: [{runtime: torch, threads: 1}]\n" + scenarios)).runnable
    return cell


def test_a_bound_below_the_single_stream_latency_is_infeasible_not_searched(tmp_path):
    from bench.cell import run_cell

    cell = _cell(tmp_path, "scenarios: [server]\nserver: {p99_bound_ms: 0.01, max_wait_ms: 0}\n")
    r = run_cell(cell.to_json(), tmp_path / "cache", tmp_path / "scratch")
    assert r["server_note"].startswith("infeasible") and r.get("server_curve") is None
    assert r["latency_ms_p50"] > 0.01  # the single-stream timing ran as always


def test_offline_sweeps_its_batch_sizes_and_keeps_the_best(tmp_path):
    from bench.cell import run_cell

    cell = _cell(tmp_path, "scenarios: [single-stream, offline]\noffline: {batch_sizes: [1, 4]}\n")
    r = run_cell(cell.to_json(), tmp_path / "cache", tmp_path / "scratch")
    sweep = {s["batch"]: s for s in r["offline_sweep"]}
    assert set(sweep) == {1, 4} and r["offline_best_batch"] in (1, 4)
    assert r["offline_items_per_s"] == max(s["items_per_s"] for s in sweep.values())
    for b, s in sweep.items():
        assert s["items_per_s"] == pytest.approx(b / (s["p50_ms"] / 1e3))
    assert r["scenarios_run"] == ["single-stream", "offline"]


@pytest.mark.slow
def test_tinybert_in_all_three_scenarios_end_to_end(tmp_path):
    from tests.conftest import run_cli

    (tmp_path / "s.yaml").write_text(
        BASE + "targets: [{runtime: torch, threads: 2}]\nscenarios: [single-stream, offline, server]\n"
               "offline: {batch_sizes: [1, 2, 4]}\n"
               "server: {p99_bound_ms: 50, max_batch: 4, max_wait_ms: 2, queries: 200, max_seconds_per_rate: 5}\n")
    res = run_cli("run", tmp_path / "s.yaml", "--results-dir", tmp_path / "r", "--run-id", "sc", "--report",
                  "--reports-dir", tmp_path / "rep")
    assert res.returncode == 0, res.stderr[-2000:]
    (rec,) = [json.loads(p.read_text()) for p in (tmp_path / "r" / "sc" / "records").glob("*.json")]
    assert rec["latency_ms_p50"] > 0 and rec["offline_items_per_s"] > 0
    lo, hi = rec["server_rate_bracket"]
    assert rec["server_max_rate_qps"] == lo > 0 and (hi is None or hi > lo)
    met = [p for p in rec["server_curve"] if p["queries"] == p["offered"] and p["p99_ms"] <= 50]
    assert max(p["rate"] for p in met) == lo  # the reported rate is one that met the bound
    assert all(p["mean_batch"] <= 4 for p in rec["server_curve"])
    assert rec["server_p99_supported"] is False and "459" in rec["server_note"]  # 200 queries cannot support a p99
    page = (tmp_path / "rep" / "sc" / "index.html").read_text()
    assert 'id="scenarios"' in page and "Best optimization per scenario" in page


def test_a_decoder_server_reports_ttft_tpot_and_goodput():
    """Static batching per step on a tiny GPT-2: each request has a TTFT (queueing included) and a
    TPOT, and goodput counts the requests within both bounds."""
    from types import SimpleNamespace

    import torch
    import transformers as tf

    from bench.scenarios.run import Energy, decoder_server
    from bench.scenarios.settings import ServerSettings
    from bench.zoo.decoders import CausalLM

    torch.manual_seed(0)
    lm = tf.GPT2LMHeadModel(tf.GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=100, n_positions=64)).eval()
    prep = SimpleNamespace(cell=SimpleNamespace(target=SimpleNamespace(device="cpu")), spec=SimpleNamespace(vocab=100))
    opt = SimpleNamespace(artifact=SimpleNamespace(module=CausalLM(lm)))
    cfg = ServerSettings(p99_bound_ms=1000, max_batch=4, max_wait_ms=2, queries=20, max_seconds_per_rate=3,
                         start_rate=20, max_steps=3, prompt_lens=(4, 8), new_tokens=(2, 5),
                         ttft_bound_ms=1000, tpot_bound_ms=1000)
    out = decoder_server(prep, opt, cfg, Energy(None, tdp_w=10.0), seed=0)
    curve = out["server_curve"]
    assert 1 <= len(curve) <= 3 and [p["rate"] for p in curve] == sorted(p["rate"] for p in curve)
    for p in curve:
        assert p["queries"] <= p["offered"] and 0 <= p["good"] <= p["queries"]
        if p["queries"]:
            assert 0 < p["ttft_p50_ms"] <= p["ttft_p99_ms"] and 0 < p["tpot_p50_ms"] <= p["tpot_p99_ms"]
            assert p["goodput_rps"] == pytest.approx(p["good"] / p["busy_s"])
    lo, hi = out["server_rate_bracket"]
    assert out["server_max_rate_qps"] == (lo if lo > 0 else None)
    met = [p["rate"] for p in curve if p["queries"] == p["offered"] and p["good"] >= 0.99 * p["offered"]]
    assert (max(met) if met else 0) == lo  # the reported rate is the highest that met both bounds
    assert "static batching" in out["server_note"] and out["server_energy_source"] == "tdp-x-time"
    assert out["server_energy_j_per_query"] > 0


def _prior_run(root, *, p50=9.0, low=8.8, contended=False, cpu_count=None, threads=1):
    import os

    from bench.measure.env import cpu_model

    run = root / "earlier"
    (run / "records").mkdir(parents=True)
    env = {"cpu_model": cpu_model(), "cpu_count": cpu_count or os.cpu_count()}
    (run / "manifest.json").write_text(json.dumps({"environment": env}))
    rec = {"status": "ok", "batch_size": 1, "threads": threads, "contended": contended,
           "latency_ms_p50": p50, "latency_ms_ci_low": low}
    (run / "records" / "tinybert-4.fp32.torch-cpu.b1-s16.json").write_text(json.dumps(rec))


SERVER = BASE + "targets: [{runtime: torch, threads: 1}]\nscenarios: [server]\nserver: {p99_bound_ms: 5, max_wait_ms: 1}\n"


def test_a_bound_below_an_earlier_runs_single_stream_latency_is_a_plan_time_error(tmp_path, capsys):
    _prior_run(tmp_path / "results")
    (tmp_path / "s.yaml").write_text(SERVER)
    args = ["plan", str(tmp_path / "s.yaml"), "--results-dir", str(tmp_path / "results")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "p99_bound_ms (5 ms) is below the single-stream latency" in err and "9 ms per query" in err
    assert "run earlier" in err and "--ignore-prior" in err
    assert main([*args, "--ignore-prior"]) == 0  # the escape: measure again


@pytest.mark.parametrize("prior", [dict(contended=True), dict(cpu_count=999), dict(threads=2), dict(p50=6.0, low=4.9)])
def test_an_earlier_run_that_cannot_vouch_for_the_latency_does_not_refuse_the_bound(tmp_path, prior):
    """A contended cell, other hardware, another thread count, or an interval reaching the bound."""
    _prior_run(tmp_path / "results", **prior)
    (tmp_path / "s.yaml").write_text(SERVER)
    assert main(["plan", str(tmp_path / "s.yaml"), "--results-dir", str(tmp_path / "results")]) == 0


def test_the_plans_measuring_time_counts_the_sweep_and_the_search():
    from bench.report.run_time import measuring_bounds

    plain = _cell(None, "")
    both = _cell(None, "scenarios: [offline, server]\noffline: {batch_sizes: [1, 2, 4]}\n"
                       "server: {max_steps: 4, max_seconds_per_rate: 5}\n")
    (lo0, hi0), (lo, hi) = measuring_bounds([plain]), measuring_bounds([both])
    # BASE: min_time_s 0.05, max_time_s 0.3: three batch sizes of 0.1 s warm-up plus 0.05-0.3 s each;
    # the search adds up to 4 rates x 5 s and nothing at the least.
    assert lo - lo0 == pytest.approx(3 * 0.15) and hi - hi0 == pytest.approx(3 * 0.4 + 20)


class _Meter:
    """A 10 W energy counter: what RAPL or NVML would read, made up so the arithmetic can be checked."""
    source, min_window_s, watts = "fake-counter", 0.01, 10.0

    def start(self):
        import time

        self.t0 = time.perf_counter()

    def stop(self):
        import time

        s = time.perf_counter() - self.t0
        return self.watts * s, s


def test_scenario_energy_comes_from_the_counter_where_there_is_one(tmp_path, monkeypatch):
    from bench.cell import run_cell

    monkeypatch.setattr("bench.measure.energy.counter_meter", lambda *a, **k: _Meter())
    cell = _cell(tmp_path, "scenarios: [offline, server]\noffline: {batch_sizes: [1, 2]}\n"
                           "server: {p99_bound_ms: 200, max_batch: 2, max_wait_ms: 1, queries: 20, "
                           "max_seconds_per_rate: 1, max_steps: 2}\n")
    r = run_cell(cell.to_json(), tmp_path / "cache", tmp_path / "scratch")
    assert r["offline_energy_source"] == r["server_energy_source"] == "fake-counter"
    best = next(s for s in r["offline_sweep"] if s["batch"] == r["offline_best_batch"])
    # 10 W over back-to-back calls at the best batch, per item: close to 10 W x the median call per item.
    expect = 10.0 * best["p50_ms"] / 1e3 / best["batch"]
    assert 0.5 * expect < r["offline_energy_j_per_item"] < 2.0 * expect
    at = r["server_at_max"]  # a 200 ms bound over a ~3 ms model: some rate meets it
    assert at is not None and at["energy_j"] > 0  # 10 W over the served point's run, per query served
    assert r["server_energy_j_per_query"] == pytest.approx(10.0 * at["busy_s"] / at["queries"], rel=0.2)


@pytest.mark.parametrize("asked", ["server", "offline"])
def test_the_report_of_a_run_with_one_scenario_renders_and_says_which_is_missing(tmp_path, asked):
    """A run with a server scenario and no offline sweep (or the reverse) leaves NaN in the other's
    columns; the section draws what ran and names what did not."""
    from bench.report.html import render
    from tests.fixture_runs import make_records, write_run

    recs = [r for r in make_records(models=["tinybert-4"]) if r["status"] == "ok"]
    for i, r in enumerate(recs):
        if i % 2:  # half the cells without any scenario fields at all
            continue
        if asked == "server":
            r.update(server_curve=[{"rate": 10.0, "p99_ms": 5.0, "queries": 500, "offered": 500},
                                   {"rate": 20.0, "p99_ms": 80.0, "queries": 500, "offered": 500}],
                     server_max_rate_qps=10.0, server_rate_bracket=[10.0, 20.0], server_p99_bound_ms=50.0)
        else:
            r.update(offline_sweep=[{"batch": 1, "p50_ms": 2.0, "items_per_s": 500.0},
                                    {"batch": 4, "p50_ms": 6.0, "items_per_s": 666.7}],
                     offline_best_batch=4, offline_items_per_s=666.7)
    page = render(write_run(tmp_path, "one", recs))
    assert 'id="scenarios"' in page
    missing = "offline" if asked == "server" else "server"
    assert f"no {missing} scenario in this run" in page and f"no {asked} scenario in this run" not in page
