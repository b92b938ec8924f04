"""Statistics and noise flags on synthetic samples whose answers are known."""

import numpy as np
import pytest

from bench.measure.noise import DEFAULT_CV_THRESHOLD, noise_fields
from bench.measure.stats import bootstrap_ci, compare, summarize


def test_percentiles_of_known_samples():
    s = summarize(np.arange(1, 101, dtype=float))
    assert s["latency_ms_p50"] == pytest.approx(50.5)
    assert s["latency_ms_p90"] == pytest.approx(90.1)
    assert s["latency_ms_p99"] == pytest.approx(99.01)
    assert s["latency_ms_iqr"] == pytest.approx(75.25 - 25.75)
    assert s["n_samples"] == 100


def test_unsupported_percentiles_are_empty_not_invented():
    assert summarize(np.ones(9))["latency_ms_p90"] is None
    s = summarize(np.ones(99))
    assert s["latency_ms_p90"] == 1.0 and s["latency_ms_p99"] is None


def test_bootstrap_interval_covers_true_median_at_about_its_level():
    rng = np.random.default_rng(1)
    true_median = np.exp(1.0)  # lognormal(mu=1): median e^mu
    hits = 0
    trials = 200
    for i in range(trials):
        x = rng.lognormal(1.0, 0.3, size=60)
        lo, hi = bootstrap_ci(x, n_boot=1000, seed=i)
        hits += lo <= true_median <= hi
    # Nominal 95%; the percentile bootstrap of a median runs a little under or over at n=60.
    assert 0.88 <= hits / trials <= 0.995


def test_compare_identical_distributions_is_mostly_no_difference():
    rng = np.random.default_rng(2)
    verdicts = [compare(rng.normal(10, 1, 80), rng.normal(10, 1, 80), seed=i)["verdict"] for i in range(40)]
    assert verdicts.count("no significant difference") >= 34  # ~95% expected


def test_compare_same_samples_is_exactly_one():
    x = np.random.default_rng(3).normal(10, 1, 50)
    r = compare(x, x)
    assert r["speedup"] == 1.0 and r["verdict"] == "no significant difference"


def test_compare_clearly_different_distributions():
    rng = np.random.default_rng(4)
    fast, slow = rng.normal(5, 0.3, 60), rng.normal(10, 0.5, 60)
    r = compare(fast, slow)
    assert r["verdict"] == "faster"
    assert r["speedup"] == pytest.approx(2.0, rel=0.05)
    assert 1.8 < r["ci_low"] <= r["speedup"] <= r["ci_high"] < 2.2
    assert compare(slow, fast)["verdict"] == "slower"


def test_compare_with_too_few_samples_says_so():
    assert compare([1.0], [2.0])["verdict"] == "insufficient data"


def test_noise_fields_quiet_and_noisy():
    quiet = noise_fields(np.random.default_rng(5).normal(10, 0.1, 200))
    assert quiet["noisy"] is False and quiet["latency_cv"] == pytest.approx(0.01, rel=0.2)
    assert quiet["noise_threshold_cv"] == DEFAULT_CV_THRESHOLD
    assert quiet["latency_p99_over_p50"] == pytest.approx(1.023, abs=0.02)
    noisy = noise_fields(np.random.default_rng(6).normal(10, 2.0, 200))
    assert noisy["noisy"] is True and noisy["latency_cv"] > DEFAULT_CV_THRESHOLD


def test_noise_tail_ratio_flags_rare_stalls_and_needs_samples():
    x = np.full(200, 10.0)
    x[:3] = 50.0  # 1.5% of calls stalled 5x: CV 0.34 also trips, but the tail ratio is the signal here
    f = noise_fields(x, threshold_cv=10.0)
    assert f["latency_p99_over_p50"] == pytest.approx(5.0) and f["noisy"] is True
    assert noise_fields(x[:50], threshold_cv=10.0)["latency_p99_over_p50"] is None
    assert noise_fields([3.0])["noisy"] is None
    assert noise_fields(np.full(20, 2.0))["latency_iqr_over_median"] == 0.0
