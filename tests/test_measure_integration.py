"""A real cell carries the measurement fields; the run measures machine peaks once for its cells."""

import pytest

PEAKS = {"matmul_flops_per_s": {"fp32": 1e11, "bf16": 4e11}, "mem_bandwidth_Bps": 2e10, "threads": 2}

SUITE = """
name: measure-fields
models: [tinybert-4]
optimizations: [fp32]
targets: [{runtime: torch, device: cpu, threads: 2}]
workloads: {batch_sizes: [1], seq_lens: [16]}
measure: {warmup_iters: 2, warmup_s: 0.02, min_time_s: 0.05, max_time_s: 5, min_samples: 5, timeout_s: 180,
          noise_threshold_cv: 0.5}
"""


def _cell(write_suite):
    from bench.suite import expand, load_suite

    (cell,) = expand(load_suite(write_suite(SUITE))).runnable
    return cell


def test_run_peaks_go_to_the_manifest_and_the_cache(write_suite, tmp_path, monkeypatch):
    from bench.measure import cell_metrics

    monkeypatch.setattr(cell_metrics, "run_peaks_subprocess", lambda device, work: {**PEAKS, "device": device})
    out = cell_metrics.measure_run_peaks([_cell(write_suite)], tmp_path)
    assert out["machine_peaks"]["matmul_flops_per_s"] == PEAKS["matmul_flops_per_s"]
    assert set(out["machine_peaks_by_device"]) == {"cpu"}
    assert cell_metrics.read_machine_peaks(tmp_path, "cpu")["mem_bandwidth_Bps"] == PEAKS["mem_bandwidth_Bps"]


def test_cell_record_has_noise_energy_roofline_and_state(write_suite, tmp_path):
    """The cell runs in this process (the CLI path is covered by the end-to-end tests)."""
    from bench.cell import run_cell
    from bench.measure.cell_metrics import write_machine_peaks

    cache = tmp_path / "cache"
    write_machine_peaks(cache, {**PEAKS, "device": "cpu"})
    r = run_cell(_cell(write_suite).to_json(), cache, tmp_path / "scratch")
    assert r["noise_threshold_cv"] == 0.5 and isinstance(r["noisy"], bool) and r["latency_cv"] >= 0
    assert r["timing_mode"] in ("per-call", "blocked") and r["timing_block_size"] >= 1
    assert r["state_before"]["loadavg_1m"] >= 0 and "cpu_governor" in r["state_after"]
    assert r["thread_settings"]["torch_threads"] == 2 and r["thread_settings"]["affinity"]
    assert r["gpu_throttled"] is None and r["gpu_state"] is None
    assert r["first_call_s"] > 0 and r["build_s"] > 0
    # Roofline: FLOPs over weights + inputs + outputs, against this run's measured ceilings.
    assert r["min_bytes_moved"] > r["weight_bytes"]
    assert r["arithmetic_intensity"] == pytest.approx(r["flops"] / r["min_bytes_moved"])
    assert r["achieved_flops_per_s"] == pytest.approx(r["flops"] / (r["latency_ms_p50"] / 1e3))
    assert r["roofline_device"] == "measured"
    ai = r["arithmetic_intensity"]
    assert r["attainable_flops_per_s"] == pytest.approx(min(1e11, ai * 2e10))  # the peaks written above
    assert r["roofline_bound"] == ("memory" if ai < 1e11 / 2e10 else "compute")
    assert r["roofline_pct"] == pytest.approx(100 * r["achieved_flops_per_s"] / r["attainable_flops_per_s"])
    # Energy: no readable counter on a VM, so the analytic proxy, labelled; per token = per inference / 16.
    assert r["energy_source"] in ("rapl", "analytic-model")
    assert r["energy_j_per_item"] == pytest.approx(r["energy_j_per_inference"] / 16)
    assert r["energy_analytic_j_per_inference"] > 0
    assert r["activation_bytes_estimate"] > 0


@pytest.mark.slow
def test_peaks_subprocess_measures_this_machine(tmp_path):
    from bench.measure import cell_metrics

    p = cell_metrics.run_peaks_subprocess("cpu", tmp_path)
    assert list(tmp_path.iterdir()) == []  # its output and stderr files are removed
    assert p["device"] == "cpu" and p["matmul_flops_per_s"]["fp32"] > 1e8 and p["mem_bandwidth_Bps"] > 1e8
    assert p["measure_s"] > 0
