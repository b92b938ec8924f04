"""torch.compile (inductor), as a step any torch chain can end with."""

from typing import Literal

from pydantic import BaseModel, ConfigDict

from bench.optimize.base import OPTIMIZATIONS, OptimizationSpec

INDUCTOR = ("Ansel et al., PyTorch 2: Faster Machine Learning Through Dynamic Python Bytecode Transformation and "
            "Graph Compilation (ASPLOS 2024); survey Sec. VIII (operator fusion)")


class CompileParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = "default"
    dynamic: bool = False  # False: specialise on the cell's shapes, as a fixed-shape deployment would
    fullgraph: bool = False  # True: fail instead of falling back to eager at a graph break


OPTIMIZATIONS.add(OptimizationSpec(
    "torch-compile", "bench.optimize.compile:torch_compile", params=CompileParams, exportable=False,
    paper=INDUCTOR,
    description="torch.compile (inductor): traced and fused into generated kernels. Compile time is "
                "recorded as cold-start (compile_s), apart from the timed latency."))
