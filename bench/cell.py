"""One cell, in its own process: build -> optimize -> bind runtime -> static and dynamic metrics.

Run as `python -m bench.cell CELL_JSON RECORD_JSON --cache DIR --scratch DIR`. A fresh process
per cell gives an honest memory peak and keeps a crashing kernel from taking the sweep down.
The parent (bench.executor) turns a missing record into a failure record.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import time
import traceback
from pathlib import Path

import numpy as np


def weight_bytes(artifact) -> int:
    """Serialized size: the state dict for torch, the file (plus external data) for ONNX."""
    if artifact.kind == "onnx":
        p = Path(artifact.onnx_path)
        extra = sum(f.stat().st_size for f in p.parent.glob(p.name + ".data"))
        return p.stat().st_size + extra
    import torch

    buf = io.BytesIO()
    torch.save(artifact.module.state_dict(), buf)
    return buf.tell()


def _cached_json(path: Path, compute):
    if path.exists():
        return json.loads(path.read_text())
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)
    return value


def reference_output(model_spec, workload, inputs, cache: Path, seed: int) -> np.ndarray:
    """fp32 torch-eager output on CPU, computed once per run for each model and workload."""
    path = cache / "reference" / f"{model_spec.name}-{workload.label}-seed{seed}.npy"
    if path.exists():
        return np.load(path)
    import torch

    module = model_spec.build(seed)
    with torch.inference_mode():
        out = module(**inputs).float().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.npy")
    np.save(tmp, out)
    os.replace(tmp, path)
    return out


def static_metrics(model_spec, artifact, ctx, applied: list[str]) -> dict:
    from bench.measure.flops import count_macs, count_params
    from bench.zoo.base import per_item_inputs

    chain = re.sub(r"[^A-Za-z0-9_.=+\-]+", "_", "+".join(applied) or "as-built")
    key = f"{model_spec.name}-{ctx.workload.label}-{chain}"

    def compute():
        inputs, scale = per_item_inputs(model_spec, ctx.workload, ctx.inputs)
        count = count_macs(artifact.module, inputs)
        out = {"params": count_params(artifact.module), "macs": count.macs * scale, "flops": count.flops * scale,
               "uncounted_ops": count.uncounted, "macs_counted_batch": ctx.workload.batch_size // scale}
        if model_spec.modality == "decoder":  # prefill and per-token decode MACs, KV cache included
            from bench.measure.decode import decode_static
            out.update(decode_static(model_spec, artifact.module, ctx))
        return out

    return _cached_json(ctx.cache / "static" / f"{key}.json", compute)


def run_cell(cell_json: dict, cache: Path, scratch: Path) -> dict:
    t_cell = time.perf_counter()
    from bench.measure import memory
    from bench.measure.env import machine_state

    state_before = machine_state()
    import torch

    from bench.measure.cell_metrics import CellProbe, activation_estimate
    from bench.measure.env import thread_settings
    from bench.measure.fidelity import compare_outputs, top1_agreement
    from bench.measure.stats import summarize
    from bench.measure.timer import TimerSettings, time_callable
    from bench.optimize import OPTIMIZATIONS, Artifact, Context
    from bench.runtime import RUNTIMES
    from bench.suite import Cell
    from bench.zoo import MODELS

    phase_s = {"imports": time.perf_counter() - t_cell}  # ~0 in a child forked from the warm server
    # Resident memory before the model exists. A forked cell starts low (it has touched few of the
    # libraries' pages), a spawned one high (its imports touched them): peak minus start is the
    # figure that compares across the two.
    rss_start = memory.current_rss_bytes()
    cell = Cell.from_json(cell_json)
    spec = MODELS.get(cell.model)
    torch.set_num_threads(cell.target.threads)
    seed = cell.measure.seed
    t = time.perf_counter()
    probe = CellProbe(cell.target.device, cache)
    phase_s["probe_open"] = time.perf_counter() - t  # NVML on a GPU

    t = time.perf_counter()
    module = spec.build(seed)
    build_s = time.perf_counter() - t
    inputs = spec.inputs(cell.workload, seed)
    ctx = Context(spec, cell.workload, inputs, cell.target.device, scratch, cache, seed)
    t = time.perf_counter()
    ref = reference_output(spec, cell.workload, inputs, cache, seed)
    if spec.modality == "decoder":
        from bench.measure import decode
        ref_tokens = decode.reference_tokens(spec, cell.workload, inputs, cache, seed, module)
    phase_s["reference"] = time.perf_counter() - t

    record: dict = {"family": spec.family, "macs_closed_form": spec.closed_form_macs(cell.workload),
                    "params_closed_form": spec.closed_form_params()}
    artifact = Artifact(kind="torch", module=module)
    applied: list[str] = []
    static = None
    t = time.perf_counter()
    step_s: dict[str, float] = {}
    for step in cell.resolved:
        opt = OPTIMIZATIONS.get(step.name)
        # Count on the float graph of the shape that actually runs: after structural steps,
        # before numeric ones or an export.
        numeric_only = opt.changes_numerics and not opt.changes_shapes  # a lossy structural step counts after
        if static is None and artifact.kind == "torch" and (numeric_only or opt.produces != "torch"):
            t_static = time.perf_counter()
            static = static_metrics(spec, artifact, ctx, applied)
            phase_s["static"] = time.perf_counter() - t_static
        t_step = time.perf_counter()
        artifact = opt.apply(artifact, opt.parse_params(step.params), ctx)
        step_s[step.label] = time.perf_counter() - t_step
        if opt.consumes == "torch" and opt.produces == "onnx":
            record["export_s"] = record.get("export_s", 0.0) + step_s[step.label]
        if opt.changes_shapes:
            applied.append(step.label)
    if static is None and artifact.kind == "torch":
        t_static = time.perf_counter()
        static = static_metrics(spec, artifact, ctx, applied)
        phase_s["static"] = time.perf_counter() - t_static
    optimize_s = time.perf_counter() - t
    record.update(static or {})
    record["weight_bytes"] = weight_bytes(artifact)
    record["precision"] = artifact.precision
    record["optimization_notes"] = "; ".join(artifact.notes)  # what the steps did, e.g. weights zeroed
    record.update(artifact.record)
    record["peak_rss_build_bytes"] = memory.peak_rss_bytes()
    memory.reset_peak_rss()

    runtime = RUNTIMES.get(cell.target.runtime)
    t = time.perf_counter()
    session = runtime.bind(artifact, cell.target, inputs)
    session_s = time.perf_counter() - t

    t = time.perf_counter()
    out = session.output(session.call())
    first_call_s = time.perf_counter() - t  # includes lazy work: torch.compile compilation, ORT allocations
    from bench.optimize.varlen import real_token_outputs  # padded workloads: compare real tokens only

    record.update(compare_outputs(*real_token_outputs(out, ref, inputs, record)))
    if spec.modality in ("vision", "decoder"):
        record["top1_agreement"] = top1_agreement(out, ref)

    m = cell.measure
    settings = TimerSettings(warmup_iters=m.warmup_iters, warmup_s=m.warmup_s, min_time_s=m.min_time_s,
                             max_time_s=m.max_time_s, min_samples=m.min_samples, target_rel_ci=m.target_rel_ci)
    probe.before_timing()
    t = time.perf_counter()
    if spec.modality == "decoder":  # TTFT and per-token decode samples; latency fields hold the latter
        timing, decoder_fields = decode.measure_decode(spec, artifact.module, inputs, cell.workload, settings,
                                                       cell.target.device, session.sync, ref_tokens)
        record.update(decoder_fields)
    else:
        clock = probe.clock(session.sync if session.cuda_events else None)
        timing = time_callable(session.call, settings, session.sync, clock=clock)
    record.update(summarize(timing.samples_ms))
    record["latency_samples_ms"] = [round(x, 6) for x in timing.samples_ms]
    record["timing_target_met"] = timing.target_met
    record.update(timing_mode=timing.mode, timing_block_size=timing.block_size, timing_clock=timing.clock,
                  timing_clock_overhead_ns=timing.clock_overhead_ns)
    phase_s["timing"] = time.perf_counter() - t
    t = time.perf_counter()
    record.update(probe.after_timing(session.call, session.sync))
    phase_s["after_timing"] = time.perf_counter() - t  # allocator peaks, NVML energy window, GPU state
    record["peak_rss_infer_bytes"] = memory.peak_rss_bytes()
    record["peak_rss_bytes"] = max(record["peak_rss_build_bytes"], record["peak_rss_infer_bytes"])
    record["rss_start_bytes"] = rss_start
    chain = re.sub(r"[^A-Za-z0-9_.=+\-]+", "_", "+".join(applied) or "as-built")  # after the RSS peaks
    t = time.perf_counter()
    record["activation_bytes_estimate"] = activation_estimate(
        artifact.module if artifact.kind == "torch" else module, inputs, cache,
        f"{spec.name}-{cell.workload.label}-{chain}")
    phase_s["activation_estimate"] = time.perf_counter() - t
    record.update({"build_s": build_s, "optimize_s": optimize_s, "session_s": session_s,
                   "first_call_s": first_call_s, "step_s": step_s, "phase_s": phase_s,
                   "thread_settings": thread_settings(),
                   "threads": session.info.get("threads", cell.target.threads),
                   "runtime_info": session.info, "state_before": state_before, "state_after": machine_state()})
    record.update(probe.derived(record, modality=spec.modality, batch_size=cell.workload.batch_size,
                                seq_len=cell.workload.seq_len, inputs=inputs, output=out,
                                noise_threshold_cv=m.noise_threshold_cv))
    if session.annotate is not None:  # runtime-specific fields: I/O-binding label, edge projection
        record.update(session.annotate(record))
    record["cell_wall_s"] = time.perf_counter() - t_cell
    return record


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cell")
    ap.add_argument("cell_json")
    ap.add_argument("record_json")
    ap.add_argument("--cache", required=True)
    ap.add_argument("--scratch", required=True)
    args = ap.parse_args(argv)
    cell_json = json.loads(Path(args.cell_json).read_text())
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        record = run_cell(cell_json, Path(args.cache), scratch)
        record["status"], record["error"] = "ok", None
        code = 0
    except Exception as e:  # the cell failed; the sweep goes on
        traceback.print_exc()
        record = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
        code = 1
    Path(args.record_json).write_text(json.dumps(record, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main())
