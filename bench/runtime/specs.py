"""The runtimes' specs, their options and their plan-time hooks, importable without torch or
onnxruntime: the hooks import onnxruntime in their bodies, so only a suite with an ONNX Runtime
target pays for it, and only when it is planned on this host."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bench.edge.profiles import get_profile
from bench.runtime.base import RUNTIMES, RuntimeSpec
from bench.runtime.providers import edge_provider_problem, provider_problem


class OrtOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # "excluded": inputs on the device before timing, outputs left there (I/O binding).
    # "timed": every timed call copies inputs in and outputs out.
    copies: Literal["excluded", "timed"] = "excluded"
    # ORT's intra-op threads spin while they wait for work (its default): the lowest latency
    # closed-loop, but CPU taken from anything else in the process, such as a server scenario's
    # load generator (docs/scenarios.md). false sets session.intra_op.allow_spinning = 0.
    spinning: bool = True


class EdgeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile: str


def available_providers() -> list[str]:
    import onnxruntime

    return onnxruntime.get_available_providers()


def ort_configure(target, opts: OrtOptions) -> dict:
    if target.device == "cpu" and opts.copies == "timed":
        raise ValueError("options.copies applies to device cuda only: on cpu there are no host-device copies")
    return {}


def cuda_problem() -> str:
    """Why this machine cannot run a `device: cuda` cell ("" when it may), without importing torch or
    touching the driver: the planner runs before the fork server, which must find CUDA uninitialised.
    Without this every cuda cell was planned on a CPU machine and failed in its first call."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU from this process"
    if not (Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidiactl").exists()
            or shutil.which("nvidia-smi")):
        return ("this machine has no NVIDIA GPU driver (no /proc/driver/nvidia, /dev/nvidiactl or nvidia-smi): "
                "device cuda cannot run here")
    return ""


def torch_unavailable(target, opts) -> str:
    return cuda_problem() if target.device == "cuda" else ""


def ort_unavailable(target, opts) -> str:
    # The build's providers first: a CPU-only onnxruntime is the reason to name even on a GPU machine.
    return provider_problem(target, available_providers()) or (cuda_problem() if target.device == "cuda" else "")


def edge_configure(target, opts: EdgeOptions) -> dict:
    profile = get_profile(opts.profile)
    if target.threads is None:
        return {"threads": profile.threads}
    if target.threads > profile.threads:
        raise ValueError(f"target threads {target.threads} exceed the {profile.threads} that edge profile "
                         f"{profile.name} allows")
    return {}


def edge_unavailable(target, opts) -> str:
    return edge_provider_problem(target, available_providers())


RUNTIMES.add(RuntimeSpec("onnxruntime", accepts="onnx", devices=("cpu", "cuda"), impl="bench.runtime.ort:bind_ort",
                         description="ONNX Runtime (CPU, CUDA or TensorRT execution provider)",
                         options=OrtOptions, configure=ort_configure, unavailable=ort_unavailable))
RUNTIMES.add(RuntimeSpec("onnxruntime-edge", accepts="onnx", devices=("cpu",), impl="bench.runtime.ort_edge:bind_edge",
                         description="ONNX Runtime emulating an edge profile on this host, with a roofline "
                                     "projection onto the profile's hardware",
                         options=EdgeOptions, configure=edge_configure, unavailable=edge_unavailable,
                         batches=False))
RUNTIMES.add(RuntimeSpec("torch", accepts="torch", devices=("cpu", "cuda"), impl="bench.runtime.torch_rt:bind_torch",
                         description="PyTorch eager mode", unavailable=torch_unavailable))
