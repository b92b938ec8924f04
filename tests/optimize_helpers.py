"""Apply an optimization chain and run the result, without the cell process, for fast tests."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from bench.measure.fidelity import compare_outputs
from bench.optimize import OPTIMIZATIONS, Artifact, Context
from bench.runtime import RUNTIMES
from bench.suite import Target
from bench.zoo import MODELS, Workload


def make_ctx(model: str, tmp: Path, seq: int = 16, device: str = "cpu") -> Context:
    spec = MODELS.get(model)
    w = Workload(1, seq_len=seq) if spec.modality == "text" else Workload(1, image_size=spec.default_size)
    (tmp / "scratch").mkdir(parents=True, exist_ok=True)
    return Context(spec, w, spec.inputs(w, 0), device, tmp / "scratch", tmp / "cache", 0)


_BUILT: dict[str, torch.nn.Module] = {}


def built(ctx: Context) -> torch.nn.Module:
    """A fresh copy of the model with seed 0; building once per test session keeps the tests fast."""
    if ctx.model.name not in _BUILT:
        _BUILT[ctx.model.name] = ctx.model.build(0)
    return copy.deepcopy(_BUILT[ctx.model.name])


def reference(ctx: Context) -> np.ndarray:
    with torch.inference_mode():
        return built(ctx)(**ctx.inputs).float().numpy()


def apply_chain(ctx: Context, chain: list[tuple[str, dict]], module: torch.nn.Module | None = None) -> Artifact:
    artifact = Artifact(kind="torch", module=module if module is not None else built(ctx))
    for name, params in chain:
        opt = OPTIMIZATIONS.get(name)
        artifact = opt.apply(artifact, opt.parse_params(params), ctx)
    return artifact


def run(artifact: Artifact, ctx: Context) -> np.ndarray:
    runtime = "onnxruntime" if artifact.kind == "onnx" else "torch"
    session = RUNTIMES.get(runtime).bind(artifact, Target(runtime=runtime, device=ctx.device, threads=2), ctx.inputs)
    return session.output(session.call())


def fidelity(artifact: Artifact, ctx: Context, ref: np.ndarray) -> dict:
    return compare_outputs(run(artifact, ctx), ref)
