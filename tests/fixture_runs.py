"""Synthetic run directories for report, compare and export tests: no model is built, nothing is timed.

The records have the shape bench.cell writes (latency samples included), with plausible values,
written through bench.store so the store's layout is the one under test.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from bench.measure.stats import summarize
from bench.store import RunStore

# (model, family, modality, GMACs, params M, fp32 torch p50 ms)
MODELS = [("bert-base", "bert", "text", 11.17, 110, 60.0), ("tinybert-4", "bert", "text", 0.6, 14.5, 4.0),
          ("deit-s", "vit", "vision", 4.6, 22, 30.0)]
# optimization -> (speedup over fp32, weight ratio, cosine, max abs err)
OPTS = {"fp32": (1.0, 1.0, 1.0, 0.0), "torch-dynamic-int8": (1.6, 0.3, 0.998, 3e-2),
        "ort-dynamic-int8": (2.1, 0.27, 0.9991, 2e-2)}
TARGETS = [("torch", "cpu"), ("onnxruntime", "cpu")]
EVIL = "<script>alert(1)</script>"


def cell_id(model, opt, target, wl) -> str:
    return re.sub(r"[^A-Za-z0-9_.=\-]+", "_", f"{model}.{opt}.{target}.{wl}")


def _samples(rng, p50, n, cv=0.03):
    return list(np.round(p50 * rng.lognormal(0.0, cv, size=n), 6))


def make_records(seed=0, n=120, slow: dict[str, float] | None = None, evil=False, extra_fields=True,
                 models: list[str] | None = None) -> list[dict]:
    """Records for 3 models x 3 optimizations x 2 targets, one failure, one skip, one noisy cell and
    (with `extra_fields`) one contended cell: deit-s ort-dynamic-int8 on onnxruntime-cpu.

    `slow` maps a cell id to a factor its latency samples are multiplied by (an injected regression).
    `evil` adds a model and a note whose text is markup.
    """
    rng = np.random.default_rng(seed)
    slow = slow or {}
    records = []
    models = [m for m in MODELS if models is None or m[0] in models] + ([(EVIL, "bert", "text", 1.0, 10, 8.0)] if evil else [])
    for model, family, modality, gmacs, params_m, base_ms in models:
        wl = "b1-s128" if modality == "text" else "b1-i224"
        for runtime, device in TARGETS:
            target = f"{runtime}-{device}"
            for opt, (speed, wratio, cos, err) in OPTS.items():
                cid = cell_id(model, opt, target, wl)
                rec = {"run_id": "fixture", "cell_id": cid, "model": model, "family": family, "optimization": opt,
                       "runtime": runtime, "device": device, "target": target, "threads": 2, "batch_size": 1,
                       "seq_len": 128 if modality == "text" else None,
                       "image_size": 224 if modality == "vision" else None, "steps": [opt]}
                if opt == "ort-dynamic-int8" and runtime == "torch":
                    records.append({**rec, "status": "skipped",
                                    "error": "ort-dynamic-int8 produces an ONNX model; runtime torch needs a torch module"})
                    continue
                if model == "deit-s" and opt == "torch-dynamic-int8" and runtime == "onnxruntime":
                    records.append({**rec, "status": "failed", "error": "RuntimeError: injected failure"
                                    + (f" {EVIL}" if evil else ""), "stderr_tail": "Traceback ...\nRuntimeError"})
                    continue
                ort_gain = 1.15 if runtime == "onnxruntime" else 1.0
                p50 = base_ms / speed / ort_gain
                noisy = model == "tinybert-4" and opt == "fp32" and runtime == "torch"
                samples = _samples(rng, p50, n, cv=0.25 if noisy else 0.03)
                samples = [round(s * slow.get(cid, 1.0), 6) for s in samples]
                rec.update(summarize(samples))
                wbytes = int(params_m * 4e6 * wratio)
                rec.update({"status": "ok", "error": None, "latency_samples_ms": samples, "timing_target_met": not noisy,
                            "params": int(params_m * 1e6), "macs": int(gmacs * 1e9), "flops": int(2 * gmacs * 1e9),
                            "macs_closed_form": int(gmacs * 1e9), "uncounted_ops": [], "weight_bytes": wbytes,
                            "precision": "int8" if "int8" in opt else "fp32",
                            "peak_rss_build_bytes": int(4e8 + 3 * wbytes), "peak_rss_infer_bytes": int(3e8 + 1.5 * wbytes),
                            "max_abs_err": err, "mean_abs_err": err / 10, "cosine_sim": cos,
                            "build_s": 1.2, "optimize_s": 0.4, "session_s": 0.2, "cell_wall_s": 5.0,
                            "state_before": {"loadavg_1m": 1.5, "cpu_governor": None, "cpu_freq_mhz": None},
                            "state_after": {"loadavg_1m": 1.7, "cpu_governor": None, "cpu_freq_mhz": None}})
                if modality == "vision":
                    rec["top1_agreement"] = 1.0 if opt == "fp32" else 0.97
                if extra_fields:
                    s = np.asarray(samples)
                    cv = float(s.std(ddof=1) / s.mean())
                    flops = 2 * gmacs * 1e9
                    ai = flops / (wbytes + 2e6)
                    achieved = flops / (np.median(s) / 1e3)
                    attainable = min(1e12 * (2 if "int8" in opt else 1), ai * 5e10)
                    rec.update({"latency_cv": cv, "noisy": cv > 0.1, "noise_threshold_cv": 0.1,
                                "timing_mode": "per-call", "timing_block_size": 1,
                                "energy_j_per_inference": 15.0 * np.median(s) / 1e3, "energy_source": "tdp-x-time",
                                "energy_tdp_j_per_inference": 15.0 * np.median(s) / 1e3,
                                "arithmetic_intensity": ai, "achieved_flops_per_s": achieved,
                                "attainable_flops_per_s": attainable, "roofline_pct": 100 * achieved / attainable,
                                "roofline_bound": "memory" if ai * 5e10 < 1e12 else "compute",
                                "roofline_device": "measured"})
                    # one cell whose threads waited for a CPU 40% of its timing window; the rest ran alone
                    contended = model == "deit-s" and opt == "ort-dynamic-int8"
                    rec.update({"contended": contended, "runq_wait_share": 0.4 if contended else 0.02,
                                "latency_sample_t_s": list(np.round(np.cumsum([0.0, *samples[:-1]]) / 1e3, 6))})
                records.append(rec)
    return records


def write_run(root: Path, run_id: str, records: list[dict], suite_name="fixture", extra_manifest=True) -> Path:
    store = RunStore.create(Path(root), run_id)
    manifest = {"run_id": run_id, "suite_name": suite_name, "suite_path": "suites/fixture.yaml",
                "suite_text": f"name: {suite_name}\nmodels: [bert-base, tinybert-4, deit-s]\n",
                "cells": [{"cell_id": r["cell_id"]} for r in records], "excluded": [],
                "environment": {"host": "fixture-host", "cpu_model": "Synthetic CPU @ 2.0GHz", "cpu_count": 2,
                                "affinity": [0, 1], "platform": "Linux-6.1-x86_64", "python": "3.11.7",
                                "git_commit": "0123abcd", "loadavg_1m": 1.4, "cpu_governor": "performance",
                                "cpu_freq_mhz": 2000.0, "packages": {"torch": "2.14.1", "onnxruntime": "1.20.0"}},
                "environment_after": {"loadavg_1m": 1.9, "cpu_governor": "performance", "cpu_freq_mhz": 2000.0},
                "started_at": "2026-11-27T07:00:00+00:00", "finished_at": "2026-11-27T07:05:00+00:00", "wall_s": 300.0}
    if extra_manifest:
        manifest["machine_peaks"] = {"matmul_flops_per_s": {"fp32": 1e12, "int8": 2e12}, "mem_bandwidth_Bps": 5e10}
    store.write_manifest(manifest)
    for r in records:
        store.write_record({**r, "run_id": run_id})
    return store.dir


def survey_records(seed=0) -> list[dict]:
    """A survey-sized run (like suites/survey-cpu.yaml, ~100 cells): every zoo model a published row
    names, at its published cost, on torch and ONNX Runtime; the DeiT variants in the chains their
    rows name. Latency follows MACs with a per-model spread, so the survey panels crowd as a real
    run's do."""
    from bench import reference
    from bench.report.survey import row_chains

    rng = np.random.default_rng(seed)
    cells: dict[tuple[str, str, str], dict] = {}
    ref = reference.load()
    dense = {r.zoo_model: r for r in ref.itertuples() if r.zoo_model and row_chains(r._asdict()) == ["fp32"]}
    for r in ref.itertuples():
        base = dense.get(r.zoo_model)
        if base is None:
            continue
        for chain in row_chains(r._asdict()):
            runtimes = (["onnxruntime"] if chain.startswith("ort-") else ["torch"] if chain.startswith(("torch-", "vit-token"))
                        else ["torch", "onnxruntime"])
            for runtime in runtimes:
                cells.setdefault((r.zoo_model, chain, runtime), {"row": r, "base": base})
    records = []
    speed = {m: rng.lognormal(0.0, 0.5) for m in dense}  # architectures differ in how well they run
    for (model, chain, runtime), c in sorted(cells.items()):
        r, base = c["row"], c["base"]
        params = (r.params_M if r.params_M == r.params_M else base.params_M) * 1e6
        macs = (r.macs_G if r.macs_G == r.macs_G else base.macs_G) * 1e9
        macs = macs if macs == macs else 1e9
        bits = 8 if "int8" in chain else 4 if "bits=4" in chain else 32
        p50 = 2.0 + 9.0 * macs / 1e9 * speed[model] * (0.8 if runtime == "onnxruntime" else 1.0) * (0.6 if bits < 32 else 1)
        samples = _samples(rng, p50, 30)
        target = f"{runtime}-cpu"
        text = not (base.resolution == base.resolution)
        wl = "b1-s128" if text else f"b1-i{int(base.resolution)}"
        rec = {"run_id": "survey", "cell_id": cell_id(model, chain, target, wl), "model": model, "optimization": chain,
               "runtime": runtime, "device": "cpu", "target": target, "threads": 2, "batch_size": 1,
               "seq_len": 128 if text else None, "image_size": None if text else int(base.resolution),
               "status": "ok", "error": None, "latency_samples_ms": samples, "params": int(params), "macs": int(macs),
               "weight_bytes": int(params * bits / 8), "peak_rss_infer_bytes": int(3e8 + params * bits / 8 * 1.5),
               "cosine_sim": 1.0 if chain == "fp32" else 0.99, "max_abs_err": 0.0 if chain == "fp32" else 1e-2,
               "energy_j_per_inference": 15.0 * p50 / 1e3, "energy_source": "tdp-x-time", "cell_wall_s": 20.0}
        rec.update(summarize(samples))
        records.append(rec)
    return records
