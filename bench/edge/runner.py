#!/usr/bin/env python3
"""Runs an edge bundle on the real device and writes one record per cell.

Copied into every bundle as `run.py`. It needs only Python 3.8+, numpy and onnxruntime, so it
imports nothing from `bench` and repeats the few formulas it needs (the latency summary follows
bench/measure/stats.py; a test checks the two agree). On the device:

    python3 run.py --out results          # then bring results/ back and run
    bench import results RUN_DIR          # to merge the records into a run

Each cell runs with its edge profile's thread count and the first of the profile's providers
that this ONNX Runtime build has (a target that named a provider gets that one or fails). The
records say `emulated: false`: these latencies were measured on this device.
"""

import argparse
import datetime
import json
import os
import platform
import socket
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import onnxruntime as ort

FORMAT = 1


def bootstrap_ci(x, n_boot=2000, level=0.95, seed=0):
    x = np.asarray(x, dtype=float)
    if x.size < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    boots = np.median(x[rng.integers(0, x.size, size=(n_boot, x.size))], axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    return float(lo), float(hi)


def summarize(samples_ms):
    x = np.asarray(samples_ms, dtype=float)
    n = int(x.size)
    if n == 0:
        return {"n_samples": 0}
    q1, q3 = np.percentile(x, [25, 75])
    lo, hi = bootstrap_ci(x)
    return {
        "latency_ms_p50": float(np.median(x)), "latency_ms_mean": float(x.mean()),
        "latency_ms_p90": float(np.percentile(x, 90)) if n >= 10 else None,
        "latency_ms_p99": float(np.percentile(x, 99)) if n >= 100 else None,
        "latency_ms_std": float(x.std(ddof=1)) if n > 1 else 0.0, "latency_ms_iqr": float(q3 - q1),
        "latency_ms_min": float(x.min()), "latency_ms_ci_low": lo, "latency_ms_ci_high": hi, "n_samples": n,
    }


def time_calls(fn, measure):
    t0 = time.perf_counter()
    n = 0
    while n < measure["warmup_iters"] or time.perf_counter() - t0 < measure["warmup_s"]:
        fn()
        n += 1
    samples = []
    start = time.perf_counter()
    while True:
        s = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - s) * 1e3)
        elapsed = time.perf_counter() - start
        if elapsed >= measure["max_time_s"]:
            break
        if len(samples) >= measure["min_samples"] and elapsed >= measure["min_time_s"]:
            break
    lo, hi = bootstrap_ci(samples, n_boot=400)
    med = float(np.median(samples))
    target_met = len(samples) >= 5 and med > 0 and (hi - lo) / 2 / med <= measure["target_rel_ci"]
    return samples, target_met


def device_environment():
    env = {"host": socket.gethostname(), "machine": platform.machine(), "platform": platform.platform(),
           "python": platform.python_version(), "numpy": np.__version__, "onnxruntime": ort.__version__,
           "available_providers": ort.get_available_providers(), "cpu_count": os.cpu_count()}
    for path, key in (("/proc/device-tree/model", "board"), ("/proc/cpuinfo", "cpu_model")):
        try:
            text = Path(path).read_text(errors="replace").strip("\x00\n ")
        except OSError:
            continue
        if key == "cpu_model":
            names = [ln.split(":", 1)[1].strip() for ln in text.splitlines()
                     if ln.lower().startswith(("model name", "hardware", "processor\t: ")) and ":" in ln]
            text = names[0] if names else ""
        if text:
            env[key] = text
    return env


def choose_providers(cell, available):
    """The cell's providers that this build has, in order, or a reason why none fits."""
    if cell.get("required_provider") and cell["required_provider"] not in available:
        return None, (f"provider {cell['required_provider']} is not in this ONNX Runtime build "
                      f"(available: {', '.join(available)})")
    chosen = [p for p in cell["providers"] if p in available]
    if not chosen:
        return None, f"none of {', '.join(cell['providers'])} is in this ONNX Runtime build"
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen, ""


def open_session(path, providers, threads):
    opts = ort.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    provider_options = None
    if providers[0] == "XnnpackExecutionProvider":
        opts.intra_op_num_threads = 1  # XNNPACK's own pool takes the threads
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        provider_options = [{"intra_op_num_threads": str(threads)}] + [{} for _ in providers[1:]]
    else:
        opts.intra_op_num_threads = threads
    kwargs = {"provider_options": provider_options} if provider_options else {}
    return ort.InferenceSession(str(path), opts, providers=providers, **kwargs)


def fidelity(out, ref, modality):
    a = np.asarray(out, dtype=np.float64).ravel()
    b = np.asarray(ref, dtype=np.float64).ravel()
    res = {"max_abs_err": float(np.max(np.abs(a - b))), "mean_abs_err": float(np.mean(np.abs(a - b)))}
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    res["cosine_sim"] = float(a @ b / denom) if denom > 0 else None
    if modality == "vision" and np.ndim(ref) == 2:
        res["top1_agreement"] = float(np.mean(np.argmax(out, axis=-1) == np.argmax(ref, axis=-1)))
    return res


def run_cell(bundle, cell, measure, device_run_id, env):
    record = dict(cell["record"])
    record.update(cell_id=cell["cell_id"] + ".on-device", source_cell_id=cell["cell_id"],
                  target=record["target"] + "@device", emulated=False, device_run_id=device_run_id,
                  measured_on=env, threads=cell["threads"])
    providers, why = choose_providers(cell, ort.get_available_providers())
    if providers is None:
        record.update(status="failed", error=why)
        return record
    t = time.perf_counter()
    sess = open_session(bundle / cell["model_file"], providers, cell["threads"])
    record["session_s"] = time.perf_counter() - t
    feeds = {name: np.load(bundle / f) for name, f in cell["inputs"].items()}
    out = sess.run(None, feeds)[0]
    record.update(fidelity(out, np.load(bundle / cell["reference_file"]), cell.get("modality")))
    samples, target_met = time_calls(lambda: sess.run(None, feeds), measure)
    record.update(summarize(samples))
    record.update(latency_samples_ms=[round(x, 6) for x in samples], timing_target_met=target_met,
                  providers=sess.get_providers(), runtime_info={"providers": sess.get_providers(),
                                                                "threads": cell["threads"]},
                  status="ok", error=None)
    return record


def write_json(path, obj):
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run an edge bundle on this device.")
    ap.add_argument("--out", default="results", help="directory for the records (default: results)")
    ap.add_argument("--only", help="run only cells whose id contains this text")
    for name in ("min_time_s", "max_time_s", "warmup_s"):
        ap.add_argument("--" + name.replace("_", "-"), type=float, dest=name)
    ap.add_argument("--min-samples", type=int, dest="min_samples")
    args = ap.parse_args(argv)
    bundle = Path(__file__).resolve().parent
    manifest = json.loads((bundle / "bundle.json").read_text())
    if manifest.get("format") != FORMAT:
        sys.exit(f"bundle format {manifest.get('format')} is not {FORMAT}: use the run.py that came with it")
    out = Path(args.out)
    (out / "records").mkdir(parents=True, exist_ok=True)
    device_run_id = uuid.uuid4().hex[:12]
    env = device_environment()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat()  # noqa: UP017 (Python 3.8 on devices)
    counts = {"ok": 0, "failed": 0}
    for cell in manifest["cells"]:
        if args.only and args.only not in cell["cell_id"]:
            continue
        measure = dict(cell["measure"])
        measure.update({k: v for k, v in vars(args).items() if k in measure and v is not None})
        try:
            record = run_cell(bundle, cell, measure, device_run_id, env)
        except Exception as e:  # one cell's failure is a record, and the others still run
            record = dict(cell["record"], cell_id=cell["cell_id"] + ".on-device", source_cell_id=cell["cell_id"],
                          target=cell["record"]["target"] + "@device", emulated=False, device_run_id=device_run_id,
                          measured_on=env, status="failed", error=f"{type(e).__name__}: {e}")
        counts[record["status"]] = counts.get(record["status"], 0) + 1
        write_json(out / "records" / (record["cell_id"] + ".json"), record)
        lat = record.get("latency_ms_p50")
        print(f"{record['status']:>7}  {record['cell_id']}: " + (f"{lat:.3f} ms p50" if lat else record["error"] or ""))
    write_json(out / "bundle_results.json", {
        "format": FORMAT, "bundle_id": manifest["bundle_id"], "suite_name": manifest["suite_name"],
        "device_run_id": device_run_id, "environment": env, "started_at": started,
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),  # noqa: UP017
        "counts": counts})
    print(f"{counts['ok']} ok, {counts['failed']} failed. Records in {out}; merge them with `bench import {out} RUN_DIR`.")
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
