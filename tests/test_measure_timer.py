"""Timer: blocked timing of very short calls, per-call timing of longer ones, CUDA-event clock (faked)."""

import time

import pytest

from bench.measure.timer import (
    MAX_TIMER_OVERHEAD,
    CudaEventClock,
    TimerSettings,
    choose_block_size,
    clock_overhead_ns,
    time_callable,
)

FAST = TimerSettings(warmup_iters=2, warmup_s=0.01, min_time_s=0.05, max_time_s=0.5, min_samples=10,
                     target_rel_ci=0.5)


def test_block_size_keeps_timer_overhead_under_one_percent():
    assert choose_block_size(call_ns=1000, overhead_ns=50) == 5
    assert choose_block_size(call_ns=1e6, overhead_ns=50) == 1
    for call in (10, 100, 3000, 7e4):
        b = choose_block_size(call, 60)
        assert 60 / (b * call) <= MAX_TIMER_OVERHEAD
        assert b == 1 or 60 / ((b - 1) * call) > MAX_TIMER_OVERHEAD  # and it is the smallest such block


def test_clock_overhead_is_measured_and_small():
    assert 0 < clock_overhead_ns() < 10_000


def test_very_short_calls_are_timed_in_blocks():
    t = time_callable(lambda: None, FAST)
    assert t.mode == "blocked" and t.block_size > 1
    assert len(t.samples_ms) >= FAST.min_samples
    per_call_ns = sorted(t.samples_ms)[len(t.samples_ms) // 2] * 1e6
    assert t.clock_overhead_ns / (t.block_size * per_call_ns) < 2 * MAX_TIMER_OVERHEAD
    assert t.calls == len(t.samples_ms) * t.block_size


def test_longer_calls_are_timed_one_by_one():
    t = time_callable(lambda: time.sleep(0.002), FAST)
    assert t.mode == "per-call" and t.block_size == 1
    assert min(t.samples_ms) >= 2.0
    assert t.clock == "perf_counter"


def test_forced_block_size():
    t = time_callable(lambda: time.sleep(0.001), TimerSettings(warmup_iters=1, warmup_s=0, min_time_s=0.02,
                                                               max_time_s=0.2, min_samples=3, block_size=4))
    assert t.block_size == 4 and t.mode == "blocked" and min(t.samples_ms) >= 1.0


class FakeCuda:
    """A GPU whose kernels take `kernel_ms` of device time while the host returns at once."""

    def __init__(self, kernel_ms: float):
        self.kernel_ms = kernel_ms
        self.device_ms = 0.0  # device timeline: where the stream's last enqueued work ends
        self.syncs = 0
        self.recorded = 0

    def launch(self):
        self.device_ms += self.kernel_ms

    def synchronize(self):
        self.syncs += 1

    def Event(self, enable_timing=False):  # noqa: N802 (torch's name)
        assert enable_timing
        cuda = self

        class Event:
            def record(self):
                cuda.recorded += 1
                self.at = cuda.device_ms

            def synchronize(self):
                cuda.syncs += 1

            def elapsed_time(self, end):
                return end.at - self.at

        return Event()


def test_cuda_event_clock_times_device_work_not_host_launches():
    cuda = FakeCuda(kernel_ms=3.0)
    clock = CudaEventClock(cuda)
    assert clock.time_block(cuda.launch, 1) == pytest.approx(3.0)
    assert clock.time_block(cuda.launch, 4) == pytest.approx(12.0)
    assert cuda.syncs >= 4 and cuda.recorded == 4  # synchronised before, waited on the end event


def test_timer_uses_cuda_events_and_blocks_on_their_readings():
    cuda = FakeCuda(kernel_ms=0.5)
    t = time_callable(cuda.launch, FAST, clock=CudaEventClock(cuda))
    assert t.clock == "cuda-event" and t.mode == "per-call"
    assert all(s == pytest.approx(0.5) for s in t.samples_ms)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_cuda_event_clock_on_a_real_gpu():
    import torch

    a = torch.randn(2048, 2048, device="cuda")
    t = time_callable(lambda: a @ a, FAST, clock=CudaEventClock())
    assert t.clock == "cuda-event" and min(t.samples_ms) > 0
