"""ONNX Runtime execution providers by name: what the planner checks a target against.

Kept apart from the bind code so that plan time reads them without importing onnxruntime; the
list of providers a build has is passed in by the caller, who imports it only when a suite has
an ONNX Runtime target.
"""

from __future__ import annotations

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}  # default per device
ALIASES = {
    "cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider", "xnnpack": "XnnpackExecutionProvider",
}
GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
# Nodes the first provider does not take go to the next one; this is the order ORT tries them in.
FALLBACKS = {
    "TensorrtExecutionProvider": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "CUDAExecutionProvider": ["CPUExecutionProvider"],
}
EMULATION_PROVIDERS = ("CPUExecutionProvider", "XnnpackExecutionProvider")  # an edge profile runs on this host


def provider_name(target) -> str:
    if target.provider:
        return ALIASES.get(target.provider.lower(), target.provider)
    return PROVIDERS[target.device]


def provider_chain(target) -> list[str]:
    """The providers handed to ORT, in priority order."""
    first = provider_name(target)
    rest = FALLBACKS.get(first, [] if first == "CPUExecutionProvider" else ["CPUExecutionProvider"])
    return [first, *rest]


def provider_problem(target, available: list[str]) -> str:
    """Why this target's provider cannot run with the ORT build at hand ("" when it can)."""
    first = provider_name(target)
    if target.device == "cpu" and first in GPU_PROVIDERS:
        return f"ONNX Runtime provider {first} runs on cuda, but the target's device is cpu"
    if target.device == "cuda" and first not in GPU_PROVIDERS:
        return f"ONNX Runtime provider {first} does not run on cuda; use provider cuda or tensorrt"
    missing = [p for p in provider_chain(target) if p not in available]
    if missing:
        hint = (" Install onnxruntime-gpu (with the CUDA and cuDNN versions it was built for)."
                if set(missing) & set(GPU_PROVIDERS) else "")
        return (f"ONNX Runtime provider {missing[0]} is not available in this build "
                f"(available: {', '.join(available)}).{hint}")
    return ""


def edge_provider_problem(target, available: list[str]) -> str:
    """Why an edge-emulation target's provider cannot run here ("" when it can)."""
    name = provider_name(target)
    if name not in EMULATION_PROVIDERS:
        return f"the edge emulation runs on this host's CPU: provider {name} is not one of cpu, xnnpack"
    why = provider_problem(target, available)
    if why and name == "XnnpackExecutionProvider":
        why += (" XNNPACK comes with ONNX Runtime's mobile packages and with builds configured --use_xnnpack; "
                "use provider: cpu to emulate without it.")
    return why
