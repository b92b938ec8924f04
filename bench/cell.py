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

    chain = re.sub(r"[^A-Za-z0-9_.=+\-]+", "_", "+".join(applied) or "as-built")
    key = f"{model_spec.name}-{ctx.workload.label}-{chain}"

    def compute():
        count = count_macs(artifact.module, ctx.inputs)
        return {"params": count_params(artifact.module), "macs": count.macs, "flops": count.flops,
                "uncounted_ops": count.uncounted}

    return _cached_json(ctx.cache / "static" / f"{key}.json", compute)


def run_cell(cell_json: dict, cache: Path, scratch: Path) -> dict:
    t_cell = time.perf_counter()
    from bench.measure import memory
    from bench.measure.env import machine_state

    state_before = machine_state()
    import torch

    from bench.measure.fidelity import compare_outputs, top1_agreement
    from bench.measure.stats import summarize
    from bench.measure.timer import TimerSettings, time_callable
    from bench.optimize import OPTIMIZATIONS, Artifact, Context
    from bench.runtime import RUNTIMES
    from bench.suite import Cell
    from bench.zoo import MODELS

    cell = Cell.from_json(cell_json)
    spec = MODELS.get(cell.model)
    torch.set_num_threads(cell.target.threads)
    seed = cell.measure.seed

    t = time.perf_counter()
    module = spec.build(seed)
    build_s = time.perf_counter() - t
    inputs = spec.inputs(cell.workload, seed)
    ctx = Context(spec, cell.workload, inputs, cell.target.device, scratch, cache, seed)
    ref = reference_output(spec, cell.workload, inputs, cache, seed)

    record: dict = {"family": spec.family, "macs_closed_form": spec.closed_form_macs(cell.workload),
                    "params_closed_form": spec.closed_form_params()}
    artifact = Artifact(kind="torch", module=module)
    applied: list[str] = []
    static = None
    t = time.perf_counter()
    for step in cell.resolved:
        opt = OPTIMIZATIONS.get(step.name)
        # Count on the float graph of the shape that actually runs: after structural steps,
        # before numeric ones or an export.
        if static is None and artifact.kind == "torch" and (opt.changes_numerics or opt.produces != "torch"):
            static = static_metrics(spec, artifact, ctx, applied)
        artifact = opt.apply(artifact, opt.parse_params(step.params), ctx)
        if opt.changes_shapes:
            applied.append(step.label)
    if static is None and artifact.kind == "torch":
        static = static_metrics(spec, artifact, ctx, applied)
    optimize_s = time.perf_counter() - t
    record.update(static or {})
    record["weight_bytes"] = weight_bytes(artifact)
    record["precision"] = artifact.precision
    record.update(artifact.record)
    record["peak_rss_build_bytes"] = memory.peak_rss_bytes()
    memory.reset_peak_rss()

    runtime = RUNTIMES.get(cell.target.runtime)
    t = time.perf_counter()
    session = runtime.bind(artifact, cell.target, inputs)
    session_s = time.perf_counter() - t

    out = session.output(session.call())
    record.update(compare_outputs(out, ref))
    if spec.modality == "vision":
        record["top1_agreement"] = top1_agreement(out, ref)

    m = cell.measure
    settings = TimerSettings(warmup_iters=m.warmup_iters, warmup_s=m.warmup_s, min_time_s=m.min_time_s,
                             max_time_s=m.max_time_s, min_samples=m.min_samples, target_rel_ci=m.target_rel_ci)
    timing = time_callable(session.call, settings, session.sync)
    record.update(summarize(timing.samples_ms))
    record["latency_samples_ms"] = [round(x, 6) for x in timing.samples_ms]
    record["timing_target_met"] = timing.target_met
    record["peak_rss_infer_bytes"] = memory.peak_rss_bytes()
    record["peak_rss_bytes"] = max(record["peak_rss_build_bytes"], record["peak_rss_infer_bytes"])
    record.update({"build_s": build_s, "optimize_s": optimize_s, "session_s": session_s,
                   "threads": session.info.get("threads", cell.target.threads),
                   "runtime_info": session.info, "state_before": state_before, "state_after": machine_state()})
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
