"""The load generator on a fake model with a known service time, on a virtual clock: the behaviour
under test is the queueing, not this machine's scheduler, so the checks hold whatever else runs."""

import math

import numpy as np
import pytest

from bench.scenarios.loadgen import min_queries, percentile_supported, poisson_arrivals, search_rate, serve


class VirtualClock:
    """Time that passes only when the server sleeps or the fake model serves a batch."""

    def __init__(self):
        self.t = 0.0

    def clock(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.t += max(dt, 1e-9)


def fake_server(service_s, max_batch=1, max_wait_s=0.0):
    """serve() against a model whose batch of k takes service_s(k) seconds."""
    def run(arrivals):
        vc = VirtualClock()
        return serve(lambda k: vc.sleep(service_s(k)), arrivals, max_batch, max_wait_s, clock=vc.clock, sleep=vc.sleep)

    return run


def test_arrivals_have_the_target_rate_and_exponential_gaps():
    a = poisson_arrivals(50.0, 20_000, seed=1)
    assert len(a) / a[-1] == pytest.approx(50.0, rel=0.02)
    gaps = np.sort(np.diff(np.concatenate([[0.0], a])))
    ecdf = np.arange(1, gaps.size + 1) / gaps.size
    ks = np.max(np.abs(ecdf - (1 - np.exp(-50.0 * gaps))))  # Kolmogorov-Smirnov against Exp(50)
    assert ks < 1.36 / math.sqrt(gaps.size)  # not rejected at 5%
    with pytest.raises(ValueError):
        poisson_arrivals(0.0, 10)


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_queueing_matches_m_d_1(rho):
    """One server, deterministic service D, Poisson arrivals: mean wait in queue rho D / (2 (1 - rho))."""
    d = 0.01
    res = fake_server(lambda k: d)(poisson_arrivals(rho / d, 40_000, seed=2))
    assert res.queue_s.mean() == pytest.approx(rho * d / (2 * (1 - rho)), rel=0.1)
    assert res.latencies_s.mean() == pytest.approx(res.queue_s.mean() + d, rel=1e-6)


def test_queueing_delay_grows_as_the_rate_nears_capacity():
    run = fake_server(lambda k: 0.01)
    waits = [run(poisson_arrivals(r, 5000, seed=3)).queue_s.mean() for r in (20, 50, 80, 95)]
    assert waits == sorted(waits) and waits[-1] > 10 * waits[0]


def test_the_batcher_respects_its_maximum_batch_and_wait():
    busy = fake_server(lambda k: 0.002 + 0.001 * k, max_batch=4, max_wait_s=0.005)(poisson_arrivals(2000, 4000, 4))
    assert max(busy.batch_sizes) == 4 and sum(busy.batch_sizes) == 4000
    # Sparse arrivals: a lone query waits for company exactly max_wait, never longer.
    sparse = fake_server(lambda k: 0.001, max_batch=8, max_wait_s=0.005)(poisson_arrivals(5, 200, 5))
    assert sparse.queue_s.max() <= 0.005 + 1e-6 and np.median(sparse.queue_s) == pytest.approx(0.005, abs=1e-6)
    assert sparse.batch_sizes.count(1) > 0.9 * len(sparse.batch_sizes)  # a pair within 5 ms rides together


def test_the_rate_search_finds_the_known_capacity():
    """Capacity 100 queries/s (10 ms per query): a rate is sustained when the run keeps up and p99 stays
    within 0.5 s over 3000 queries; the search brackets the capacity within 10%."""
    run = fake_server(lambda k: 0.01)

    def meets(rate):
        r = run(poisson_arrivals(rate, 3000, seed=6))
        return np.percentile(r.latencies_s, 99) <= 0.5

    lo, hi = search_rate(meets, start=10.0, rel_tol=0.05)
    assert hi / lo <= 1.05 and lo == pytest.approx(100.0, rel=0.1)


def test_sample_counts_that_support_a_percentile():
    assert min_queries(99) == 459 and min_queries(90) == 44
    assert percentile_supported(459, 0, 99) and not percentile_supported(458, 0, 99)
    assert not percentile_supported(500, 3, 99) and percentile_supported(1200, 3, 99)
