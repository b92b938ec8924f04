"""Intervals and paired tests for a metric measured on a few hundred examples.

A cell's accuracy is a sample estimate: 500 examples put a 95% interval of about +-4 points around
an accuracy of 80%, wider than most quantizations move it. So every metric carries its interval,
and the change against the fp32 model is tested on the same examples, pairing each example with
itself: McNemar's exact test for right/wrong outcomes (only the examples the two models disagree
on carry information), a paired bootstrap for anything else. Pairing removes the spread between
examples, which is most of the spread, and is what lets a 500-example run see a one-point drop.

Only numpy and the standard library: the statistics run in the report process and in tests,
where scipy is not installed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np

DROP, SAME, GAIN = "significant drop", "no significant change", "significant gain"
NAN_PAIR = (float("nan"), float("nan"))


def _tail(level: float) -> float:
    """The probability left out on each side of a two-sided interval at `level`."""
    if not 0 < level < 1:
        raise ValueError(f"a confidence level lies between 0 and 1, not {level}")
    return (1 - level) / 2


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Interval of a proportion k/n. Wilson's, not the normal approximation p +- z*se, because it
    stays inside [0, 1] and keeps its coverage near 0% and 100%, where a good model's error
    rate and a broken model's accuracy sit."""
    z = NormalDist().inv_cdf(1 - _tail(level))
    if not 0 <= k <= n:
        raise ValueError(f"{k} successes of {n} trials is not a proportion")
    if n == 0:
        return NAN_PAIR
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At k = 0 or k = n the bound is 0 or 1 exactly; the formula leaves a rounding error there.
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def _resampled(n: int, fn: Callable[[np.ndarray], float], n_boot: int, level: float,
               seed: int) -> tuple[float, float]:
    """Percentile interval of `fn` over `n_boot` resamples (with replacement) of the indices 0..n-1.

    One resample at a time: `fn` may be any statistic, and memory stays at one index vector
    however many examples there are."""
    tail = _tail(level)
    if n < 2:
        return NAN_PAIR
    rng = np.random.default_rng(seed)
    boots = np.fromiter((fn(rng.integers(0, n, size=n)) for _ in range(n_boot)), dtype=float, count=n_boot)
    lo, hi = np.quantile(boots, [tail, 1 - tail])
    return float(lo), float(hi)


def bootstrap_interval(values, stat: Callable = np.mean, n_boot: int = 2000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of `stat` over examples (resampling rows of `values`).

    `values` may be 2-D, one row per example, for a statistic that needs several numbers per
    example (a ratio of sums). Fewer than two examples give no interval (nan, nan)."""
    x = np.asarray(values, dtype=float)
    return _resampled(len(x), lambda i: stat(x[i]), n_boot, level, seed)


def paired_bootstrap(values_a, values_b, stat: Callable = np.mean, n_boot: int = 2000, level: float = 0.95,
                     seed: int = 0) -> dict:
    """stat(b) - stat(a) with a percentile interval, drawing the same example indices for both in
    each resample: the change is measured example by example, so the spread between examples
    cancels. Rows of `values_a` and `values_b` are the same examples, in the same order."""
    a, b = np.asarray(values_a, dtype=float), np.asarray(values_b, dtype=float)
    if a.shape[:1] != b.shape[:1]:
        raise ValueError(f"paired values need the same examples: {len(a)} against {len(b)}")
    lo, hi = _resampled(len(a), lambda i: stat(b[i]) - stat(a[i]), n_boot, level, seed)
    return {"delta": float(stat(b) - stat(a)), "ci_low": lo, "ci_high": hi, "test": "paired-bootstrap"}


def _log_binomial_cdf_half(k: int, n: int) -> float:
    """log P[X <= k] for X ~ Binomial(n, 1/2), summed in log space: C(n, i) / 2^n under- and
    overflows a float long before n reaches the tens of thousands of a large evaluation."""
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in range(k + 1)]
    top = max(logs)
    return top + math.log(math.fsum(math.exp(v - top) for v in logs)) - n * math.log(2)


def mcnemar(correct_a, correct_b) -> dict:
    """McNemar's exact test of two classifiers on the same examples.

    b counts the examples A gets right and B wrong, c the reverse (the off-diagonal cells of the
    2x2 table, as the textbooks name them). Under "no difference" each of the b + c discordant
    examples is equally likely to fall either way, so the p-value is the two-sided binomial tail
    of min(b, c) at p = 1/2; examples both get right or both get wrong say nothing about which is
    better. Exact rather than the chi-square approximation, which is poor for small b + c, the
    usual case when a quantized model agrees with fp32 on almost every example."""
    a, bb = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.ndim != 1 or a.shape != bb.shape:
        raise ValueError(f"McNemar needs two 1-D outcomes on the same examples, got shapes {a.shape} and {bb.shape}")
    b, c = int(np.sum(a & ~bb)), int(np.sum(~a & bb))
    p = 1.0 if b + c == 0 else min(1.0, 2 * math.exp(_log_binomial_cdf_half(min(b, c), b + c)))
    return {"b": b, "c": c, "p_value": p, "test": "mcnemar-exact"}


def verdict(delta_ci_low: float, delta_ci_high: float, p_value: float | None = None, delta: float | None = None,
            alpha: float = 0.05) -> str:
    """"significant drop", "no significant change" or "significant gain" of B against A.

    The metric is read as higher-is-better: a caller with a lower-is-better metric (perplexity)
    passes the negated change and the negated interval (low and high swapped). With a p-value
    (McNemar) the test decides and the sign of `delta` (else the interval's midpoint) gives the
    direction; without one, the change is significant when the interval leaves out 0. An interval
    that could not be computed (nan) is no significant change."""
    if p_value is not None:
        direction = delta if delta is not None else (delta_ci_low + delta_ci_high) / 2
        if p_value < alpha and direction > 0:
            return GAIN
        if p_value < alpha and direction < 0:
            return DROP
        return SAME
    if delta_ci_low > 0:
        return GAIN
    if delta_ci_high < 0:
        return DROP
    return SAME


def _f1_macro(preds: np.ndarray, labels: np.ndarray) -> float:
    """Unweighted mean F1 over the classes in the labels or the predictions (scikit-learn's
    `f1_score(average="macro")`): a class the model never predicts counts as 0, not as absent."""
    n = labels.size
    if n == 0:
        return float("nan")
    classes, index = np.unique(np.concatenate([labels, preds]), return_inverse=True)
    truth, guess = index[:n], index[n:]
    k = classes.size
    tp = np.bincount(truth[truth == guess], minlength=k)
    f1 = 2 * tp / (np.bincount(truth, minlength=k) + np.bincount(guess, minlength=k))
    return float(f1.mean())


def classification_metrics(scores_or_preds, labels, num_classes: int | None = None) -> dict:
    """Top-1 (with its Wilson interval), top-5 and macro F1 of per-class scores (2-D) or predicted
    class ids (1-D) against integer labels.

    Top-5 needs scores and at least 10 classes: with fewer, five guesses cover half the classes
    and the number says little. `num_classes` (else the score columns) bounds the labels, so a
    label the model cannot output is an error here instead of a silent miss."""
    s = np.asarray(scores_or_preds)
    y = np.asarray(labels)
    if y.ndim != 1 or s.ndim not in (1, 2) or s.shape[0] != y.size:
        raise ValueError(f"scores or predictions of shape {s.shape} do not match {y.size} labels")
    if s.ndim == 2 and num_classes is not None and num_classes != s.shape[1]:
        raise ValueError(f"the scores have {s.shape[1]} classes, not {num_classes}")
    y = y.astype(np.int64)
    bound = s.shape[1] if s.ndim == 2 else num_classes
    if y.size and (y.min() < 0 or (bound is not None and y.max() >= bound)):
        raise ValueError(f"labels run from {y.min()} to {y.max()}, outside the model's classes 0..{bound}")
    preds = s.argmax(axis=1) if s.ndim == 2 else s.astype(np.int64)
    correct = preds == y
    n = int(y.size)
    top5_correct = None
    if s.ndim == 2 and s.shape[1] >= 10:
        top5 = np.argpartition(-s, 4, axis=1)[:, :5]
        top5_correct = (top5 == y[:, None]).any(axis=1)
    return {
        "correct": correct,
        "accuracy": float(correct.mean()) if n else float("nan"),
        "accuracy_ci": wilson_interval(int(correct.sum()), n),
        "top5": (float(top5_correct.mean()) if n else float("nan")) if top5_correct is not None else None,
        "top5_correct": top5_correct,
        "f1_macro": _f1_macro(preds, y),
        "n": n,
    }


def _nll_rows(nll_sums, token_counts) -> np.ndarray:
    nll, tok = np.asarray(nll_sums, dtype=float), np.asarray(token_counts, dtype=float)
    if nll.ndim != 1 or nll.shape != tok.shape:
        raise ValueError(f"one NLL sum per token count: shapes {nll.shape} and {tok.shape}")
    return np.column_stack([nll, tok])


def _perplexity(rows: np.ndarray) -> float:
    """exp(total NLL / total tokens): every token weighs the same, whatever its example's length."""
    tokens = rows[:, 1].sum()
    return float(np.exp(rows[:, 0].sum() / tokens)) if tokens > 0 else float("nan")


def perplexity(nll_sums, token_counts, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """Perplexity of per-example summed NLL (nats) and token counts, with a bootstrap interval
    over examples (tokens within an example are not independent, examples are)."""
    rows = _nll_rows(nll_sums, token_counts)
    return {"perplexity": _perplexity(rows), "ci": bootstrap_interval(rows, _perplexity, n_boot, level, seed),
            "n": len(rows), "tokens": int(round(rows[:, 1].sum()))}


def paired_perplexity(nll_a, tok_a, nll_b, tok_b, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """perplexity(B) - perplexity(A) on the same examples, with a paired bootstrap interval.
    Lower is better: a rise is a loss (negate it for `verdict`)."""
    return paired_bootstrap(_nll_rows(nll_a, tok_a), _nll_rows(nll_b, tok_b), _perplexity, n_boot, level, seed)
