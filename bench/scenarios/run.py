"""The offline and server scenarios of one cell, run on the cell's own built artifact after its
single-stream timing (docs/scenarios.md).

Every scenario of a cell runs in the cell's process on the artifact it built and optimized once
(and the ONNX export the run cache shares), so a suite that asks for three scenarios pays for one
build. Inputs of other batch sizes come from the model's own input generator; the runtime binds
one session per batch size, once, before anything is timed.

- offline: items per second at each batch size of the sweep (median of short timed loops), and
  the best batch;
- server: open-loop Poisson arrivals through a dynamic batcher (bench.scenarios.loadgen), the
  latency each query sees including its queueing, and a search for the largest rate whose p99
  stays within the bound. Decoders are served with static batching per step: a batch's prompts
  are prefilled together, then decoded step by step until its longest request ends; each request
  has its time to first token and its time per output token, and goodput counts the requests
  per second that meet both bounds.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np

from bench.scenarios.loadgen import min_queries, percentile_supported, poisson_arrivals, search_rate, serve


class Sessions:
    """Sessions bound at each batch size a scenario needs, made once and kept."""

    def __init__(self, prep, opt, runtime):
        self.prep, self.opt, self.runtime, self._by_batch = prep, opt, runtime, {}

    def inputs(self, b: int) -> dict:
        w = dataclasses.replace(self.prep.cell.workload, batch_size=b)
        return self.prep.spec.inputs(w, self.prep.cell.measure.seed)

    def at(self, b: int):
        if b not in self._by_batch:
            self._by_batch[b] = self.runtime.bind(self.opt.artifact, self.prep.cell.target, self.inputs(b))
        return self._by_batch[b]


def _per_item_energy(tdp_w: float | None, seconds: float, items: int) -> float | None:
    return None if not tdp_w or items <= 0 else tdp_w * seconds / items


class Energy:
    """Energy per item of a scenario: the cell's hardware counter where it has one (NVML, RAPL),
    else the labelled TDP x busy-time estimate."""

    def __init__(self, probe, tdp_w: float | None):
        self.probe, self.tdp_w = probe, tdp_w
        self.meter = getattr(probe, "meter", None)

    @property
    def source(self) -> str | None:
        return self.meter.source if self.meter is not None else ("tdp-x-time" if self.tdp_w else None)

    def around(self, fn):
        """fn() under the counter: (fn's result, joules or None)."""
        if self.meter is None:
            return fn(), None
        self.meter.start()
        out = fn()
        return out, self.meter.stop()[0]

    def per_item(self, joules: float | None, seconds: float, items: int) -> float | None:
        if items <= 0:
            return None
        if self.meter is not None:
            return joules / items if joules is not None else None
        return _per_item_energy(self.tdp_w, seconds, items)


def offline(sessions: Sessions, batch_sizes: list[int], settings, energy: Energy) -> dict[str, Any]:
    """Throughput at each batch size; the best one, with the sweep kept for the curve."""
    from bench.measure.stats import bootstrap_ci
    from bench.measure.timer import time_callable

    sweep = []
    for b in batch_sizes:
        try:
            s = sessions.at(b)
            t = time_callable(s.call, settings, s.sync)
        except Exception as e:  # noqa: BLE001 - a batch size the artifact cannot take: said, not fatal
            sweep.append({"batch": b, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"})
            continue
        x = np.asarray(t.samples_ms)
        lo, hi = bootstrap_ci(x)
        p50 = float(np.median(x))
        sweep.append({"batch": b, "p50_ms": p50, "items_per_s": b / (p50 / 1e3),
                      "items_per_s_ci": [b / (hi / 1e3), b / (lo / 1e3)] if lo == lo else None, "samples": int(x.size)})
    done = [r for r in sweep if "items_per_s" in r]
    if not done:
        return {"offline_sweep": sweep, "offline_note": "no batch size of the sweep could run"}
    best = max(done, key=lambda r: r["items_per_s"])
    if energy.meter is not None:  # the counter over back-to-back calls at the best batch, as single-stream's
        s = sessions.at(best["batch"])
        w = energy.probe.energy_window(s.call, s.sync)
        per_item = w["energy_counter_j_per_call"] / best["batch"]
    else:
        per_item = energy.per_item(None, best["p50_ms"] / 1e3, best["batch"])
    return {"offline_sweep": sweep, "offline_best_batch": best["batch"], "offline_items_per_s": best["items_per_s"],
            "offline_items_per_s_ci": best["items_per_s_ci"],
            "offline_energy_j_per_item": per_item, "offline_energy_source": energy.source if per_item else None}


def queries_at(rate: float, cfg) -> int:
    """Queries to offer at `rate`: `server.queries`, or what fits in `max_seconds_per_rate` at a low
    rate (20 at least); a point with fewer than 459 says its p99 is not supported."""
    return max(20, min(cfg.queries, int(rate * cfg.max_seconds_per_rate)))


def _encoder_point(sessions: Sessions, cfg, rate: float, seed: int, energy: Energy) -> dict:
    n = queries_at(rate, cfg)
    res, joules = energy.around(lambda: serve(lambda k: _call(sessions.at(k)), poisson_arrivals(rate, n, seed),
                                              cfg.max_batch, cfg.max_wait_ms / 1e3, deadline_s=cfg.max_seconds_per_rate))
    lat = res.latencies_s * 1e3
    over = int((lat > cfg.p99_bound_ms).sum())
    served = int(lat.size)
    return {"rate": rate, "achieved_rate": res.achieved_rate, "queries": served, "offered": n,
            "p50_ms": float(np.percentile(lat, 50)) if served else None,
            "p90_ms": float(np.percentile(lat, 90)) if served else None,
            "p99_ms": float(np.percentile(lat, 99)) if served else None,
            "queue_p99_ms": float(np.percentile(res.queue_s * 1e3, 99)) if served else None,
            "mean_batch": float(np.mean(res.batch_sizes)) if res.batch_sizes else None,
            "over_bound": over + (n - served), "busy_s": res.wall_s, "energy_j": joules,
            "p99_supported": percentile_supported(served, over, 99) and served == n}


def _call(session) -> None:
    session.call()
    if session.sync is not None:
        session.sync()


def _meets(point: dict, bound_ms: float) -> bool:
    """A rate is sustained when every offered query was served and the p99 is within the bound."""
    return point["queries"] == point["offered"] and point["p99_ms"] is not None and point["p99_ms"] <= bound_ms


def server(sessions: Sessions, cfg, single_stream_ms: float, energy: Energy, seed: int) -> dict[str, Any]:
    """The largest Poisson rate whose p99 (queueing included) stays within the bound, and the curve."""
    out: dict[str, Any] = {"server_p99_bound_ms": cfg.p99_bound_ms, "server_max_batch": cfg.max_batch,
                           "server_max_wait_ms": cfg.max_wait_ms, "server_min_queries_p99": min_queries(99)}
    if single_stream_ms > cfg.p99_bound_ms:
        out["server_note"] = (f"infeasible: the p99 bound ({cfg.p99_bound_ms:g} ms) is below the single-stream "
                              f"median ({single_stream_ms:.3g} ms); no rate can meet it")
        return out
    curve: list[dict] = []

    def meets(rate: float) -> bool:
        p = _encoder_point(sessions, cfg, rate, seed + len(curve), energy)
        curve.append(p)
        return _meets(p, cfg.p99_bound_ms)

    for k in range(1, cfg.max_batch + 1):  # bind and warm every batch size before anything is timed
        _call(sessions.at(k))
    start = cfg.start_rate or 0.5 * 1e3 / single_stream_ms  # half the closed-loop rate: a safe first step
    lo, hi = search_rate(meets, start, rel_tol=cfg.rel_tol, max_steps=cfg.max_steps)
    at = max((p for p in curve if _meets(p, cfg.p99_bound_ms)), key=lambda p: p["rate"], default=None)
    out.update(server_curve=sorted(curve, key=lambda p: p["rate"]), server_max_rate_qps=lo if lo > 0 else None,
               server_rate_bracket=[lo, None if math.isinf(hi) else hi], server_at_max=at)
    if at is not None:
        out["server_p99_supported"] = at["p99_supported"]
        out["server_energy_j_per_query"] = energy.per_item(at["energy_j"], at["busy_s"], at["queries"])
        out["server_energy_source"] = energy.source if out["server_energy_j_per_query"] else None
        if not at["p99_supported"]:
            out["server_note"] = (f"the p99 at the sustained rate rests on {at['queries']} queries; "
                                  f"{min_queries(99)} with none over the bound would support it (LoadGen's "
                                  "binomial rule): raise server.queries")
    else:
        out["server_note"] = "no rate tried met the bound"
    return out


# --- decoders: static batching per step ---------------------------------------------------------------

def decoder_server(prep, opt, cfg, energy: Energy, seed: int) -> dict[str, Any]:
    """Requests of random prompt and output lengths, batched statically; TTFT, TPOT and goodput."""
    import torch

    from bench.zoo.decoders import new_cache

    module, device = opt.artifact.module, prep.cell.target.device
    rng = np.random.default_rng(seed)
    vocab = prep.spec.vocab or 1000

    def requests(n):
        p = rng.integers(cfg.prompt_lens[0], cfg.prompt_lens[1] + 1, size=n)
        t = rng.integers(cfg.new_tokens[0], cfg.new_tokens[1] + 1, size=n)
        return list(zip(p.tolist(), t.tolist(), strict=True))

    def run_at(rate: float) -> dict:
        reqs = requests(queries_at(rate, cfg))
        order = iter(range(len(reqs)))
        timings: dict[int, tuple[float, float]] = {}

        def call_batch(k: int) -> None:
            ids = [next(order) for _ in range(k)]
            prompt = max(reqs[i][0] for i in ids)
            steps = max(reqs[i][1] for i in ids)
            x = torch.randint(10, vocab, (k, prompt), device=device)
            cache = new_cache()
            t0 = time.perf_counter()
            with torch.inference_mode():
                tok = module(x, cache).argmax(-1, keepdim=True)
                _sync(device)
                ttft = time.perf_counter() - t0
                ends = {}
                for step in range(1, steps):
                    tok = module(tok, cache).argmax(-1, keepdim=True)
                    _sync(device)
                    now = time.perf_counter() - t0
                    for i in ids:
                        if reqs[i][1] == step + 1:
                            ends[i] = now
            for i in ids:
                n = reqs[i][1]
                tpot = (ends.get(i, ttft) - ttft) / (n - 1) if n > 1 else 0.0
                timings[i] = (ttft, tpot)

        res, joules = energy.around(lambda: serve(call_batch, poisson_arrivals(rate, len(reqs), seed), cfg.max_batch,
                                                  cfg.max_wait_ms / 1e3, deadline_s=cfg.max_seconds_per_rate))
        served = sorted(timings)
        q = res.queue_s[: len(served)]
        ttft = np.array([timings[i][0] for i in served]) + q  # queueing before the prefill counts
        tpot = np.array([timings[i][1] for i in served])
        good = int(((ttft * 1e3 <= cfg.ttft_bound_ms) & (tpot * 1e3 <= cfg.tpot_bound_ms)).sum())
        return {"rate": rate, "queries": len(served), "offered": len(reqs),
                "ttft_p50_ms": float(np.percentile(ttft, 50) * 1e3) if served else None,
                "ttft_p99_ms": float(np.percentile(ttft, 99) * 1e3) if served else None,
                "tpot_p50_ms": float(np.percentile(tpot, 50) * 1e3) if served else None,
                "tpot_p99_ms": float(np.percentile(tpot, 99) * 1e3) if served else None,
                "goodput_rps": good / res.wall_s if res.wall_s > 0 else None, "good": good, "busy_s": res.wall_s,
                "energy_j": joules}

    curve: list[dict] = []

    def meets(rate: float) -> bool:
        p = run_at(rate)
        curve.append(p)
        return p["queries"] == p["offered"] and p["good"] >= 0.99 * p["offered"]

    lo, hi = search_rate(meets, cfg.start_rate or 1.0, rel_tol=cfg.rel_tol, max_steps=cfg.max_steps)
    best = max(curve, key=lambda p: p["goodput_rps"] or 0, default=None)
    per_query = energy.per_item(best["energy_j"], best["busy_s"], best["queries"]) if best else None
    return {"server_curve": sorted(curve, key=lambda p: p["rate"]), "server_max_rate_qps": lo if lo > 0 else None,
            "server_rate_bracket": [lo, None if math.isinf(hi) else hi], "server_at_max": best,
            "server_goodput_rps": best["goodput_rps"] if best else None,
            "server_ttft_bound_ms": cfg.ttft_bound_ms, "server_tpot_bound_ms": cfg.tpot_bound_ms,
            "server_max_batch": cfg.max_batch, "server_max_wait_ms": cfg.max_wait_ms,
            "server_note": "static batching per step: a batch runs until its longest request ends "
                           "(continuous batching belongs to serving engines)",
            "server_energy_j_per_query": per_query, "server_energy_source": energy.source if per_query else None}


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def run_scenarios(prep, opt, session, record: dict, probe) -> dict[str, Any]:
    """The scenarios a cell's suite asked for past single-stream, as record fields."""
    from bench.measure.timer import TimerSettings
    from bench.runtime import RUNTIMES
    from bench.scenarios.settings import OfflineSettings, ServerSettings

    cell = prep.cell
    asked = cell.scenarios or {}
    energy = Energy(probe, probe.tdp_w(record.get("threads")))
    seed = cell.measure.seed
    out: dict[str, Any] = {"scenarios_run": ["single-stream", *asked]}
    if prep.spec.modality == "decoder":
        if "offline" in asked:
            out["offline_note"] = ("not run for a decoder: its throughput is tokens_per_s at each workload batch size "
                                   "(bench/measure/decode.py), and its server run below batches requests")
        if "server" in asked:
            out.update(decoder_server(prep, opt, ServerSettings(**asked["server"]), energy, seed))
        return out
    sessions = Sessions(prep, opt, RUNTIMES.get(cell.target.runtime))
    sessions._by_batch[cell.workload.batch_size] = session  # the cell's own, already bound
    if "offline" in asked:
        m = cell.measure
        short = TimerSettings(warmup_iters=2, warmup_s=0.1, min_time_s=min(m.min_time_s, 0.5),
                              max_time_s=min(m.max_time_s, 2.0), min_samples=min(m.min_samples, 10),
                              target_rel_ci=max(m.target_rel_ci, 0.05))
        out.update(offline(sessions, OfflineSettings(**asked["offline"]).batch_sizes, short, energy))
    if "server" in asked:
        single = record.get("latency_ms_p50") or 0.0
        if cell.workload.batch_size != 1:  # a query is one item: the single-stream figure is per batch
            single = single / cell.workload.batch_size
        out.update(server(sessions, ServerSettings(**asked["server"]), single, energy, seed))
    return out
