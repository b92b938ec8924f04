"""torch.compile with the inductor backend, as a step any torch chain can end with.

Compilation is lazy in torch: the first call traces and generates kernels, which can take far
longer than many inferences. The step therefore makes that first call itself, on the cell's
inputs, and records the time as `compile_s`, a cold-start cost (it is part of `optimize_s` too)
kept apart from the steady-state latency the timer measures afterwards.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
import time

import torch

from bench.optimize.base import Artifact, Context
from bench.optimize.specs.compile import CompileParams


def toolchain_problem(device: str, which=shutil.which, include_dir: str | None = None) -> str:
    """Why inductor cannot build kernels here ("" when it can), said before it fails deep inside.

    Inductor writes C++ for a CPU and compiles it; on CUDA, Triton compiles a small C launcher.
    Both need a compiler and the Python headers (`Python.h`), which a slim image or a runner
    without python3-dev lacks; the failure would otherwise surface as a page of compiler output.
    """
    names = ("g++", "c++", "clang++") if device == "cpu" else ("gcc", "cc", "clang")
    if not (os.environ.get("CXX" if device == "cpu" else "CC") or any(which(n) for n in names)):
        kind = "C++" if device == "cpu" else "C"
        return (f"torch.compile on {device} needs a {kind} compiler ({', '.join(names)} not found): install one "
                "(Debian/Ubuntu: apt install build-essential)")
    include_dir = include_dir if include_dir is not None else sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include_dir, "Python.h")):
        return (f"torch.compile on {device} needs the Python headers ({include_dir}/Python.h not found): install "
                "them (Debian/Ubuntu: apt install python3-dev)")
    return ""


def torch_compile(artifact: Artifact, params: CompileParams, ctx: Context) -> Artifact:
    problem = toolchain_problem(ctx.device)
    if problem:
        raise RuntimeError(problem)
    device = torch.device(ctx.device)
    module = artifact.module.to(device).eval()
    compiled = torch.compile(module, backend="inductor", mode=params.mode, dynamic=params.dynamic,
                             fullgraph=params.fullgraph)
    feeds = {k: v.to(device) for k, v in ctx.inputs.items()}
    t = time.perf_counter()
    with torch.inference_mode():
        compiled(**feeds)
    if device.type == "cuda":
        torch.cuda.synchronize()
    compile_s = time.perf_counter() - t
    return artifact.evolve(module=compiled, notes=[*artifact.notes, f"torch-compile({params.mode})"],
                           record={**artifact.record, "compile_s": compile_s, "compile_mode": params.mode,
                                   "cold_start_includes_compile": True})
