"""Decoder cells: prefill and decode timed separately, KV-cache bytes, and MACs per phase.

Generation is two workloads in one. The prefill reads the prompt at once and yields the first
token (time to first token, TTFT); each decode step then feeds one token through the model with
the KV cache and attends over every cached position (time per output token, TPOT). A single
latency figure would hide which phase an optimization helps, so both are measured.

One repetition = one greedy generation of `new_tokens` tokens from a fresh cache: one TTFT sample
and `new_tokens - 1` per-token decode samples. Repetitions continue under the suite's timer
settings (warm-up, minimum time, minimum samples, precision target on both medians, maximum
time). The record's standard latency fields hold the per-token decode samples, so tables and
comparisons read TPOT; TTFT has its own fields.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from bench.fsio import cached_npy
from bench.measure.flops import count_macs
from bench.measure.stats import bootstrap_ci, relative_ci_halfwidth
from bench.measure.timer import SamplingRule, TimerSettings, Timing
from bench.zoo.decoders import DECODERS, new_cache


def kv_cache_bytes(cache) -> int:
    """Bytes held by the keys and values of a transformers cache."""
    total = 0
    for layer in getattr(cache, "layers", []):
        for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()
    return total


def _kv_element_size(cache) -> int:
    for layer in getattr(cache, "layers", []):
        if isinstance(getattr(layer, "keys", None), torch.Tensor):
            return layer.keys.element_size()
    return 4


def generate(module, input_ids: torch.Tensor, new_tokens: int, sync: Callable[[], None] | None = None):
    """Greedy generation with a KV cache: (ttft_ms, per-step decode ms, tokens [B, N], cache)."""
    sync = sync or (lambda: None)
    clock = time.perf_counter
    cache = new_cache()
    with torch.inference_mode():
        sync()
        s = clock()
        tok = module(input_ids, cache).argmax(-1, keepdim=True)
        sync()
        ttft = (clock() - s) * 1e3
        tokens, steps = [tok], []
        for _ in range(new_tokens - 1):
            s = clock()
            tok = module(tok, cache).argmax(-1, keepdim=True)
            sync()
            steps.append((clock() - s) * 1e3)
            tokens.append(tok)
    return ttft, steps, torch.cat(tokens, dim=1).cpu(), cache


def check_context(spec, workload) -> None:
    positions = workload.seq_len + workload.new_tokens - 1
    limit = spec.config.get("max_positions")
    if limit is not None and positions > limit:
        raise ValueError(f"{spec.name} has {limit} positions; prompt {workload.seq_len} + "
                         f"{workload.new_tokens} new tokens needs {positions}")


def reference_tokens(spec, workload, inputs, cache_dir, seed: int, fresh=None) -> np.ndarray:
    """Greedy tokens of the fp32 model on CPU, computed once per run for each model and workload.

    `fresh` may be the model as just built (before any optimization), to save building it twice.
    """
    def compute():
        check_context(spec, workload)
        module = fresh if fresh is not None else spec.build(seed)
        return generate(module, inputs["input_ids"], workload.new_tokens)[2].numpy()

    return cached_npy(cache_dir / "reference" / f"{spec.name}-{workload.label}-seed{seed}-tokens.npy", compute)


def decode_static(spec, module, ctx) -> dict:
    """MACs counted on the real forward passes: the prefill with a cache, then every decode step."""
    w = ctx.workload
    check_context(spec, w)
    cache = new_cache()
    first = count_macs(module, {"input_ids": ctx.inputs["input_ids"], "cache": cache})
    tok = torch.zeros((w.batch_size, 1), dtype=torch.long)
    steps, uncounted = [], set(first.uncounted)
    for _ in range(w.new_tokens - 1):
        c = count_macs(module, {"input_ids": tok, "cache": cache})
        steps.append(c.macs)
        uncounted.update(c.uncounted)
    arch = DECODERS.get(spec.name)  # None for a user model: no closed form
    closed = [arch.decode_macs(w.batch_size, w.seq_len + i) for i in range(w.new_tokens - 1)] if arch else None
    return {
        "prefill_macs": first.macs,
        "prefill_macs_closed_form": arch.prefill_macs(w.batch_size, w.seq_len) if arch else None,
        # Mean over the timed decode steps (cache lengths P .. P+N-2); MACs grow linearly with t.
        "decode_macs_per_token": float(np.mean(steps)),
        "decode_macs_per_token_closed_form": float(np.mean(closed)) if closed else None,
        "decode_macs_first": steps[0], "decode_macs_last": steps[-1],
        "decode_uncounted_ops": sorted(uncounted),
    }


def _median_ci(samples) -> tuple[float, float, float]:
    lo, hi = bootstrap_ci(samples)
    return float(np.median(samples)), lo, hi


def measure_decode(spec, module, inputs, workload, settings: TimerSettings, device: str,
                   sync: Callable[[], None] | None, ref_tokens: np.ndarray) -> tuple[Timing, dict]:
    """Time repeated greedy generations; returns per-token decode samples and the decoder fields."""
    check_context(spec, workload)
    ids = inputs["input_ids"].to(device)
    n = workload.new_tokens
    clock = time.perf_counter
    t0 = clock()
    rule = SamplingRule(settings)
    n_warm = rule.warm_up(lambda: generate(module, ids, n, sync), min_iters=1)  # one at least: lazy init

    ttfts: list[float] = []
    tpots: list[float] = []
    totals: list[float] = []
    last: dict = {}

    def rep() -> None:
        ttft, steps, last["tokens"], last["cache"] = generate(module, ids, n, sync)
        ttfts.append(ttft)
        tpots.extend(steps)
        totals.append(ttft + sum(steps))

    # Both medians must reach the precision target (a TTFT median needs 5 repetitions at least).
    target_met = rule.sample(rep, count=tpots.__len__,
                             precision=lambda: max(relative_ci_halfwidth(tpots), relative_ci_halfwidth(ttfts)))
    tokens, cache = last["tokens"], last["cache"]

    b, p = workload.batch_size, workload.seq_len
    positions = p + n - 1  # the last generated token is never fed back
    kv = kv_cache_bytes(cache)
    ref = np.asarray(ref_tokens)
    got = tokens.numpy()
    agree = (got == ref).all(axis=0)
    prefix = int(np.argmin(agree)) if not agree.all() else n
    ttft_ms, ttft_lo, ttft_hi = _median_ci(ttfts)
    tpot_ms = float(np.median(tpots))
    extra = {
        "prompt_len": p, "new_tokens": n, "decode_reps": len(ttfts),
        "ttft_ms": ttft_ms, "ttft_ms_ci_low": ttft_lo, "ttft_ms_ci_high": ttft_hi,
        "ttft_samples_ms": [round(x, 6) for x in ttfts],
        "tpot_ms": tpot_ms,
        # End to end: B*N tokens over the median generation time, prefill included.
        "tokens_per_s": b * n / (float(np.median(totals)) / 1e3),
        "decode_tokens_per_s": b * 1e3 / tpot_ms,
        "kv_cache_bytes": kv, "kv_cache_positions": positions,
        "kv_cache_bytes_closed_form": (DECODERS[spec.name].kv_cache_bytes(b, positions, _kv_element_size(cache))
                                       if spec.name in DECODERS else None),
        # Share of the N greedy tokens generated before the first disagreement with fp32.
        "greedy_match_prefix": prefix, "greedy_token_agreement": prefix / n,
    }
    return Timing(tpots, target_met, n_warm, clock() - t0), extra
