"""`bench summary RUN_DIR --markdown`: the headline table a CI job summary shows."""

from bench.store import RunStore


def rec(cell_id, opt, p50, status="ok", **kw):
    return {"run_id": "r", "cell_id": cell_id, "model": "bert-base", "optimization": opt, "runtime": "torch",
            "device": "cuda", "target": "torch-cuda", "batch_size": 1, "seq_len": 128, "image_size": None,
            "status": status, "latency_ms_p50": p50, "latency_ms_ci_low": p50 and p50 * 0.9,
            "latency_ms_ci_high": p50 and p50 * 1.1, "macs": 11.17e9, "cosine_sim": 1.0, **kw}


def test_headline_table(tmp_path, cli):
    store = RunStore.create(tmp_path, "r")
    store.write_manifest({"run_id": "r", "suite_name": "survey-gpu", "environment": {"host": "h", "cpu_model": "x"}})
    store.write_record(rec("a", "fp32", 4.0, error=None))
    store.write_record(rec("b", "fp16 | cast", 2.0, error=None))
    store.write_record(rec("c", "fp8", None, status="failed", error="RuntimeError: no fp8 kernels on sm_80"))
    res = cli("summary", store.dir, "--markdown")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "### Run `r` (suite survey-gpu)" in out and "2 ok, 1 failed, 0 timeout, 0 skipped" in out
    assert "| bert-base | fp32 | torch-cuda | b1-s128 | 4.000 | 3.6 to 4.4 | 1.00x | 11.17 | 1.00000 |" in out
    assert "| bert-base | fp16 \\| cast | torch-cuda | b1-s128 | 2.000 | 1.8 to 2.2 | 2.00x |" in out
    assert "- `c` (failed): RuntimeError: no fp8 kernels on sm_80" in out
    bad = cli("summary", tmp_path / "nope")
    assert bad.returncode == 2 and "not a run directory" in bad.stderr
