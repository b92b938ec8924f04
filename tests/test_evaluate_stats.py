"""Accuracy statistics against values worked out by hand or printed in textbooks."""

import math
import subprocess
import sys
from statistics import NormalDist

import numpy as np
import pytest

from bench.evaluate.stats import (
    bootstrap_interval,
    classification_metrics,
    mcnemar,
    paired_bootstrap,
    paired_perplexity,
    perplexity,
    verdict,
    wilson_interval,
)
from tests.conftest import ROOT
from tests.test_specs_light import HEAVY


@pytest.mark.parametrize("module", ["bench.evaluate.stats", "bench.evaluate.data"])
def test_the_statistics_and_the_data_import_no_model_library(module):
    unwanted = (*HEAVY, "scipy", "datasets")
    code = f"import sys, {module}; print(sorted(set({unwanted!r}) & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=ROOT).stdout == "[]\n"


def outcomes(b: int, c: int, both_right: int = 0, both_wrong: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right/wrong per example for A and B with b examples only A gets right and c only B does."""
    a = [True] * b + [False] * c + [True] * both_right + [False] * both_wrong
    other = [False] * b + [True] * c + [True] * both_right + [False] * both_wrong
    return np.array(a), np.array(other)


def test_wilson_interval_of_8_in_10_is_the_textbook_one():
    lo, hi = wilson_interval(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)


def test_wilson_interval_of_no_successes_starts_at_zero():
    lo, hi = wilson_interval(0, 10)
    z2 = NormalDist().inv_cdf(0.975) ** 2
    assert lo == 0.0 and hi == pytest.approx(z2 / (10 + z2))  # 0.2775: never the normal approximation's [0, 0]
    assert wilson_interval(10, 10)[1] == 1.0


def test_wilson_interval_without_trials_is_empty_and_a_higher_level_is_wider():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    lo95, hi95 = wilson_interval(40, 50)
    lo99, hi99 = wilson_interval(40, 50, level=0.99)
    assert lo99 < lo95 < 0.8 < hi95 < hi99
    with pytest.raises(ValueError, match="not a proportion"):
        wilson_interval(11, 10)


def test_mcnemar_exact_p_of_10_against_2():
    r = mcnemar(*outcomes(10, 2, both_right=70, both_wrong=18))
    assert (r["b"], r["c"], r["test"]) == (10, 2, "mcnemar-exact")
    assert r["p_value"] == pytest.approx(2 * (1 + 12 + 66) / 2 ** 12)  # 2 * P[X <= 2], X ~ Bin(12, 1/2)
    assert round(r["p_value"], 4) == 0.0386


def test_mcnemar_without_a_difference_is_p_one():
    assert mcnemar(*outcomes(6, 6, both_right=50))["p_value"] == 1.0
    r = mcnemar(*outcomes(0, 0, both_right=30, both_wrong=5))
    assert (r["b"], r["c"], r["p_value"]) == (0, 0, 1.0)


def test_mcnemar_is_symmetric_and_stays_finite_for_tens_of_thousands_of_discordant_pairs():
    b, c = 5000, 5200
    r = mcnemar(*outcomes(b, c))
    assert r["p_value"] == mcnemar(*outcomes(c, b))["p_value"]
    # The normal approximation with continuity correction is close at this size.
    z = (abs(b - c) - 1) / math.sqrt(b + c)
    assert r["p_value"] == pytest.approx(2 * (1 - NormalDist().cdf(z)), abs=2e-3)
    assert 0 <= mcnemar(*outcomes(20000, 10000))["p_value"] < 1e-100


def test_mcnemar_needs_the_same_examples():
    with pytest.raises(ValueError, match="same examples"):
        mcnemar([True, False], [True])


def test_paired_bootstrap_of_identical_values_is_exactly_zero():
    x = np.random.default_rng(0).normal(size=200)
    assert paired_bootstrap(x, x) == {"delta": 0.0, "ci_low": 0.0, "ci_high": 0.0, "test": "paired-bootstrap"}


def test_paired_bootstrap_of_a_constant_shift_is_tight_despite_a_wide_spread():
    # Resampled unpaired, means of a spread of 10 over 300 examples would wander by about +-1.1.
    x = np.random.default_rng(1).normal(0, 10, size=300)
    r = paired_bootstrap(x, x + 1)
    assert r["delta"] == pytest.approx(1)
    assert r["ci_low"] == pytest.approx(1) and r["ci_high"] == pytest.approx(1)


def test_paired_bootstrap_needs_the_same_examples():
    with pytest.raises(ValueError, match="same examples"):
        paired_bootstrap(np.ones(3), np.ones(4))


def test_bootstrap_interval_of_a_mean_is_near_the_normal_one():
    x = np.random.default_rng(2).normal(5, 2, size=400)
    lo, hi = bootstrap_interval(x)
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert lo == pytest.approx(x.mean() - half, abs=0.04) and hi == pytest.approx(x.mean() + half, abs=0.04)
    assert bootstrap_interval(x, seed=3) != (lo, hi) and bootstrap_interval(x) == (lo, hi)
    assert all(math.isnan(v) for v in bootstrap_interval([1.0]))


@pytest.mark.parametrize(("args", "kwargs", "expected"), [
    ((0.01, 0.05), {}, "significant gain"),
    ((-0.05, -0.01), {}, "significant drop"),
    ((-0.01, 0.02), {}, "no significant change"),
    ((float("nan"), float("nan")), {}, "no significant change"),
    # With a p-value the test decides, and the change's sign gives the direction.
    ((-0.03, 0.01), {"p_value": 0.01, "delta": -0.02}, "significant drop"),
    ((-0.01, 0.03), {"p_value": 0.01, "delta": 0.02}, "significant gain"),
    ((-0.09, -0.01), {"p_value": 0.2, "delta": -0.05}, "no significant change"),
    ((-0.09, -0.01), {"p_value": 0.05, "delta": -0.05}, "no significant change"),
    ((-0.09, -0.01), {"p_value": 0.05, "delta": -0.05, "alpha": 0.1}, "significant drop"),
    ((-0.09, -0.01), {"p_value": 0.01}, "significant drop"),
])
def test_verdict(args, kwargs, expected):
    assert verdict(*args, **kwargs) == expected


def test_macro_f1_counts_every_class_seen_in_labels_or_predictions():
    labels = [0, 0, 1, 1, 2]
    preds = [0, 1, 1, 1, 0]
    m = classification_metrics(np.array(preds), labels)
    # Class 0: tp 1, fp 1, fn 1 -> 1/2. Class 1: tp 2, fp 1 -> 4/5. Class 2: never predicted -> 0.
    assert m["f1_macro"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert m["accuracy"] == 0.6 and m["n"] == 5
    assert m["correct"].tolist() == [True, False, True, True, False]
    assert m["accuracy_ci"] == wilson_interval(3, 5)
    assert m["top5"] is None and m["top5_correct"] is None
    scores = np.eye(3)[preds]  # the same predictions as logits
    assert classification_metrics(scores, labels)["f1_macro"] == m["f1_macro"]


def test_top5_only_with_ten_classes_or_more():
    scores = np.tile(np.arange(10, dtype=float), (3, 1))  # class 9 ranks first, class 0 last
    m = classification_metrics(scores, [9, 6, 2])
    assert m["accuracy"] == pytest.approx(1 / 3)
    assert m["top5_correct"].tolist() == [True, True, False] and m["top5"] == pytest.approx(2 / 3)
    assert classification_metrics(scores[:, :9], [8, 6, 2])["top5"] is None


def test_a_label_the_scores_cannot_express_is_an_error():
    with pytest.raises(ValueError, match="outside the model's classes"):
        classification_metrics(np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError, match="not 4"):
        classification_metrics(np.zeros((2, 3)), [0, 1], num_classes=4)


def test_perplexity_of_uniform_predictions_is_the_vocabulary_size():
    vocab = 50
    tokens = np.array([10, 20, 31, 7, 64])
    r = perplexity(tokens * math.log(vocab), tokens)
    assert r["perplexity"] == pytest.approx(vocab)
    assert r["ci"] == pytest.approx((vocab, vocab))
    assert (r["n"], r["tokens"]) == (5, 132)


def test_perplexity_weighs_tokens_not_examples():
    r = perplexity([10 * 1.0, 30 * 2.0], [10, 30])
    assert r["perplexity"] == pytest.approx(math.exp(70 / 40))  # not exp((1 + 2) / 2)


def test_paired_perplexity_is_the_change_in_perplexity():
    rng = np.random.default_rng(4)
    tokens = rng.integers(50, 200, size=100)
    nll = tokens * rng.uniform(2.0, 3.0, size=100)
    same = paired_perplexity(nll, tokens, nll, tokens)
    assert (same["delta"], same["ci_low"], same["ci_high"]) == (0.0, 0.0, 0.0)
    worse = paired_perplexity(nll, tokens, nll + 0.05 * tokens, tokens)  # every token 0.05 nats less likely
    expected = math.exp(nll.sum() / tokens.sum()) * (math.exp(0.05) - 1)
    assert worse["delta"] == pytest.approx(expected)
    assert 0 < worse["ci_low"] < expected < worse["ci_high"]
    assert verdict(-worse["ci_high"], -worse["ci_low"]) == "significant drop"
