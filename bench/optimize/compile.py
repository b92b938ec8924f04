"""torch.compile with the inductor backend, as a step any torch chain can end with.

Compilation is lazy in torch: the first call traces and generates kernels, which can take far
longer than many inferences. The step therefore makes that first call itself, on the cell's
inputs, and records the time as `compile_s`, a cold-start cost (it is part of `optimize_s` too)
kept apart from the steady-state latency the timer measures afterwards.
"""

from __future__ import annotations

import time
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict

from bench.optimize.base import Artifact, Context, register

INDUCTOR = ("Ansel et al., PyTorch 2: Faster Machine Learning Through Dynamic Python Bytecode Transformation and "
            "Graph Compilation (ASPLOS 2024); survey Sec. VIII (operator fusion)")


class CompileParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = "default"
    dynamic: bool = False  # False: specialise on the cell's shapes, as a fixed-shape deployment would
    fullgraph: bool = False  # True: fail instead of falling back to eager at a graph break


@register("torch-compile", params=CompileParams, exportable=False, paper=INDUCTOR,
          description="torch.compile (inductor): traced and fused into generated kernels. Compile time is "
                      "recorded as cold-start (compile_s), apart from the timed latency.")
def torch_compile(artifact: Artifact, params: CompileParams, ctx: Context) -> Artifact:
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
