"""The suite's timer agrees with the peers: torch.utils.benchmark and onnxruntime's bert_perf_test.

Tolerance 10% on medians; each pair is sandwiched (see benchmarks/peer_agreement.py) and retaken up
to three times, because this project's CI machine is a shared 2-core VM whose load bursts swing one
side by 40% (seen in CI: 6.41 vs 4.52 ms, then 4.62 vs 6.66 ms). A systematic bias of the suite's
timer fails every try.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("peer_agreement", ROOT / "benchmarks" / "peer_agreement.py")
peer = importlib.util.module_from_spec(spec)
sys.modules["peer_agreement"] = peer
spec.loader.exec_module(peer)

THREADS = 2
RETRIES = 3


def test_agree_retakes_once_and_reports_every_try():
    values = iter([(10.0, 13.0), (10.0, 10.5)])

    def measure():
        s, p = next(values)
        return {"suite_ms": s, "peer_ms": p}

    r = peer.agree(measure, tolerance=0.10, retries=1)
    assert r["agrees"] and r["tries"] == 2 and r["all_tries"] == [(10.0, 13.0), (10.0, 10.5)]
    values = iter([(10.0, 13.0), (10.0, 14.0)])
    r = peer.agree(measure, tolerance=0.10, retries=1)
    assert not r["agrees"] and r["rel_diff"] == pytest.approx(3 / 13)


@pytest.mark.slow
def test_matmul_median_agrees_with_torch_benchmark_timer():
    r = peer.agree(lambda: peer.matmul_pair(THREADS, min_run_time=0.5), retries=RETRIES)
    assert r["peer"] == "torch.utils.benchmark"
    assert r["agrees"], f"suite {r['suite_ms']:.3f} ms vs torch.utils.benchmark {r['peer_ms']:.3f} ms: {r['all_tries']}"


@pytest.mark.slow
def test_ort_bert_latency_agrees_with_bert_perf_test(tmp_path):
    pytest.importorskip("psutil")  # bert_perf_test imports it
    path, inputs = peer.export_bert(tmp_path, "tinybert-4", batch=1, seq_len=128)
    r = peer.agree(lambda: peer.ort_pair(path, inputs, 1, 128, THREADS, min_time_s=1.0), retries=RETRIES)
    assert r["agrees"], f"suite {r['suite_ms']:.3f} ms vs bert_perf_test {r['peer_ms']:.3f} ms: {r['all_tries']}"
