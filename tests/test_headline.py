"""The report's headline: the fastest cell within tolerance of fp32, per model and target."""

import pandas as pd
import pytest

from bench.report import headline
from bench.report.analysis import speedups
from bench.report.data import load_run
from tests.fixture_runs import cell_id, make_records, write_run


@pytest.fixture
def run(tmp_path):
    return load_run(write_run(tmp_path, "h", make_records(models=["bert-base"])))


def test_the_fastest_cell_within_tolerance_wins_and_compares_with_one_baseline(run):
    sp = speedups(run.ok, run.samples)
    head = headline.table(run.ok, sp, 0.01, run.samples, "torch-cpu").set_index("target")
    # bert-base: torch-dynamic-int8 (cosine 0.998) is within 1% on torch; on ORT, ort-dynamic-int8 (0.9991).
    assert head.loc["torch-cpu", "optimization"] == "torch-dynamic-int8"
    assert head.loc["onnxruntime-cpu", "optimization"] == "ort-dynamic-int8"
    assert head.loc["torch-cpu", "basis"] == "fidelity (cosine to fp32)"
    ort = head.loc["onnxruntime-cpu"]
    assert ort["speedup"] == pytest.approx(2.1, rel=0.05)  # against fp32 on its own target
    assert ort["ref_speedup"] == pytest.approx(2.1 * 1.15, rel=0.05)  # against fp32 on torch-cpu
    assert ort["ref_verdict"] == "faster"


def test_a_tighter_tolerance_keeps_only_fp32(run):
    head = headline.table(run.ok, speedups(run.ok, run.samples), 0.0001, run.samples, "torch-cpu")
    assert set(head["optimization"]) == {"fp32"}


def test_measured_accuracy_decides_before_fidelity():
    base = pd.Series({"accuracy": 0.90, "accuracy_metric": "accuracy", "cosine_sim": 1.0})
    near = pd.Series({"accuracy": 0.895, "accuracy_metric": "accuracy", "cosine_sim": 0.5})
    far = pd.Series({"accuracy": 0.88, "accuracy_metric": "accuracy", "cosine_sim": 0.9999})
    assert headline.within(near, base, 0.01) == (True, "measured accuracy")  # cosine 0.5 does not matter
    assert headline.within(far, base, 0.01)[0] is False
    ppl = pd.Series({"accuracy": 20.1, "accuracy_metric": "perplexity"})
    assert headline.within(ppl, pd.Series({"accuracy": 20.0}), 0.01)[0] is True  # lower is better
    assert headline.within(pd.Series({"accuracy": 20.5, "accuracy_metric": "perplexity"}),
                           pd.Series({"accuracy": 20.0}), 0.01)[0] is False


def test_the_reference_target_is_the_suites_first(run):
    first = {"cell_id": cell_id("bert-base", "fp32", "onnxruntime-cpu", "b1-s128")}
    assert headline.reference_target({"cells": [first]}, run.ok) == "onnxruntime-cpu"
    assert headline.reference_target({}, run.ok) in {"torch-cpu", "onnxruntime-cpu"}
