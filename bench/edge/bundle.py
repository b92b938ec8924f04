"""`bench export-edge SUITE -o BUNDLE`: the suite's edge cells packed for a real device.

A bundle holds the ONNX files (after the cell's optimization chain), each cell's inputs and its
fp32 reference output as .npy, `bundle.json` (the cells: profile, threads, providers, measure
settings, the static metrics and the roofline projection), and `run.py`, which needs only
onnxruntime and numpy. The models are built and optimized here, exactly as a cell process does,
so the device runs the same graph the emulated cell ran.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.edge.profiles import get_profile, precision_family
from bench.edge.runner import FORMAT
from bench.errors import UserError

EDGE_RUNTIME = "onnxruntime-edge"
RUNNER = Path(__file__).with_name("runner.py")


def edge_cells(plan) -> list:
    """The suite's edge cells that can run on their device: those skipped here only because this
    host's ORT lacks their provider are kept (the device may have XNNPACK where this host has not)."""
    from bench.suite import check

    cells = []
    for cell in plan.cells:
        if cell.target.runtime != EDGE_RUNTIME:
            continue
        if cell.status != "planned":
            resolved, why = check(cell, on_this_host=False)
            if why:
                continue
            cell.resolved = resolved
        cells.append(cell)
    return cells


def _build_artifact(cell, work: Path):
    """Build, optimize and count one cell through the cell pipeline: (artifact, inputs, reference, record)."""
    from bench.pipeline import PhaseTimer, optimize, prepare, static_fields

    scratch = work / "scratch" / cell.cell_id
    scratch.mkdir(parents=True, exist_ok=True)
    phases = PhaseTimer()
    prep = prepare(cell, work / "cache", scratch, phases, device="cpu")
    opt = optimize(prep, phases)
    record = {"family": prep.spec.family, "modality": prep.spec.modality, **static_fields(prep, opt)}
    return opt.artifact, prep.inputs, prep.reference.output, record


def _onnx_input_names(path: Path) -> list[str]:
    import onnx

    return [i.name for i in onnx.load(str(path), load_external_data=False).graph.input]


def _copy_model(src: Path, models_dir: Path) -> str:
    """Models are stored once per content; external data keeps the file name the graph refers to."""
    digest = hashlib.sha1(src.read_bytes()).hexdigest()[:16]
    dest_dir = models_dir / digest
    if not dest_dir.exists():
        dest_dir.mkdir(parents=True)
        shutil.copy2(src, dest_dir / src.name)
        for extra in src.parent.glob(src.name + ".data"):
            shutil.copy2(extra, dest_dir / extra.name)
    return f"models/{digest}/{src.name}"


def export_bundle(suite_path: str | Path, out: str | Path) -> dict:
    from bench.edge.projection import project
    from bench.hardware import get_device
    from bench.record import base_record
    from bench.runtime.ort import provider_name
    from bench.suite import expand, load_suite

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"Bundle directory {str(out)!r} already exists and is not empty; choose another -o.")
    plan = expand(load_suite(suite_path))
    cells = edge_cells(plan)
    if not cells:
        raise UserError(f"Suite {plan.suite.name!r} has no runnable {EDGE_RUNTIME} target to export; add one, "
                        f"e.g. {{runtime: {EDGE_RUNTIME}, options: {{profile: rpi5}}}}.")
    out.mkdir(parents=True, exist_ok=True)
    bundle_id = uuid.uuid4().hex[:12]
    entries, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        work = Path(tmp)
        for cell in cells:
            profile = get_profile(cell.target.options["profile"])
            artifact, inputs, ref, record = _build_artifact(cell, work)
            if precision_family(artifact.precision) not in profile.precisions:
                skipped.append({"cell_id": cell.cell_id, "reason": f"edge profile {profile.name} allows "
                                f"{', '.join(profile.precisions)}; this chain produces {artifact.precision}"})
                continue
            model_file = _copy_model(Path(artifact.onnx_path), out / "models")
            cell_dir = out / "inputs" / cell.cell_id
            cell_dir.mkdir(parents=True, exist_ok=True)
            feeds = {}
            for name in _onnx_input_names(out / model_file):
                np.save(cell_dir / f"{name}.npy", inputs[name].numpy())
                feeds[name] = f"inputs/{cell.cell_id}/{name}.npy"
            (out / "reference").mkdir(exist_ok=True)
            np.save(out / "reference" / f"{cell.cell_id}.npy", ref)
            base = base_record(cell, None)
            base.update(record, edge_profile=profile.name, edge_device=profile.device, bundle_id=bundle_id)
            bytes_moved = record["weight_bytes"] + sum(inputs[n].numpy().nbytes for n in feeds) + ref.nbytes
            if record.get("flops"):
                proj = project(float(record["flops"]), float(bytes_moved), get_device(profile.device),
                               precision_family(artifact.precision))
                base.update(proj.fields())
            required = provider_name(cell.target) if cell.target.provider else None
            providers = [required] if required else list(profile.providers)
            entries.append({
                "cell_id": cell.cell_id, "model_file": model_file, "inputs": feeds,
                "reference_file": f"reference/{cell.cell_id}.npy", "modality": record["modality"],
                "threads": cell.target.threads, "profile": profile.name, "providers": providers,
                "required_provider": required, "measure": cell.measure.model_dump(include={
                    "warmup_iters", "warmup_s", "min_time_s", "max_time_s", "min_samples", "target_rel_ci"}),
                "record": base,
            })
    manifest = {"format": FORMAT, "bundle_id": bundle_id, "suite_name": plan.suite.name,
                "suite_path": str(suite_path), "created_at": datetime.now(UTC).isoformat(),
                "cells": entries, "skipped": skipped}
    (out / "bundle.json").write_text(json.dumps(manifest, indent=1, default=str))
    shutil.copy2(RUNNER, out / "run.py")
    (out / "README.txt").write_text(
        f"Edge bundle {bundle_id} from suite {plan.suite.name}: {len(entries)} cells.\n"
        "On the device (Python 3.8+ with numpy and onnxruntime; onnxruntime-gpu on a Jetson):\n"
        "    python3 run.py --out results\n"
        "Bring results/ back and merge it into a run with: bench import results RUN_DIR\n")
    return manifest
