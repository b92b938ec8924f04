"""torch.profiler over a few calls of the session that was timed, with each op's layer.

torch.profiler records module hierarchy only for TorchScript; for an eager model the layer comes
from forward hooks that open a `record_function` range named after the module (`module::NAME`)
for as long as it runs. The ops inside a range belong to its innermost module, and the ranges
show in the trace as the model's structure. The hooks cost a few microseconds per module call:
they are part of the profiled pass's overhead, which the record states, never of the timed samples.

A compiled module (torch.compile) is profiled without hooks: a hook added after compilation either
recompiles the graph or is not seen by it. Its ops then have no layer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from bench.profile.taxonomy import OTHER, QUANT, TORCH_OPS, base_name, kernel_category, torch_category

MODULE_PREFIX = "module::"
ROOT = ""  # the layer of ops the model's own forward runs, outside any submodule


def is_compiled(module) -> bool:
    return hasattr(module, "_orig_mod") or type(module).__name__ == "OptimizedModule"


def annotate_layers(module) -> tuple[list, dict[str, str]]:
    """Forward hooks that open and close a profiler range per module call; (handles, type by name)."""
    from torch.autograd.profiler import record_function

    types: dict[str, str] = {}
    handles = []
    if module is None or is_compiled(module) or not hasattr(module, "named_modules"):
        return handles, types
    open_ranges: list = []

    def enter(name):
        def hook(mod, args):
            rf = record_function(MODULE_PREFIX + name)
            rf.__enter__()
            open_ranges.append(rf)
        return hook

    def leave(mod, args, out):
        if open_ranges:
            open_ranges.pop().__exit__(None, None, None)

    for name, m in module.named_modules():
        types[name] = type(m).__name__
        handles.append(m.register_forward_pre_hook(enter(name)))
        handles.append(m.register_forward_hook(leave))
    return handles, types


def _ours(e) -> bool:
    """A range this module or the profiler's schedule opened: structure, not work."""
    return e.name.startswith(MODULE_PREFIX) or e.name.startswith("ProfilerStep")  # "ProfilerStep#3", "ProfilerStep*"


def place(e) -> tuple[object, str | None]:
    """The outermost operator `e` runs inside (itself if none), and the innermost module around it."""
    top, p = e, e.cpu_parent
    while p is not None and not _ours(p):
        top, p = p, p.cpu_parent
    while p is not None and not p.name.startswith(MODULE_PREFIX):
        p = p.cpu_parent
    return top, (p.name[len(MODULE_PREFIX):] if p is not None else None)


def rows_from_events(events, types: dict[str, str], calls: int) -> list[dict]:
    """Profile rows (bench.profile.table), per inference, from torch.profiler's function events.

    A nested op (the `aten::addmm` under an `aten::linear`) takes the category of the outermost op
    it ran inside, unless it is itself a quantize/dequantize; kernels take the category of the op
    that launched them."""
    from torch.autograd import DeviceType

    acc: dict[tuple, dict] = {}
    category_of: dict[int, tuple[str, str]] = {}

    def add(key, category, how, count, self_us, total_us, provider):
        r = acc.get(key)
        if r is None:
            kind, name, parent, layer = key
            r = acc[key] = {"name": name, "op_type": name, "kind": kind, "category": category, "how": how,
                            "layer": layer, "parent": parent, "provider": provider, "calls": 0.0, "self_ms": 0.0,
                            "total_ms": 0.0, "macs": None, "flops": None, "flops_source": None, "bytes": None}
        r["calls"] += count / calls
        r["self_ms"] += self_us / 1e3 / calls
        r["total_ms"] += total_us / 1e3 / calls

    for e in events:
        if getattr(e, "device_type", DeviceType.CPU) != DeviceType.CPU or e.name.startswith("[") or _ours(e):
            continue
        top, layer = place(e)
        key = id(top)
        if key not in category_of:
            category_of[key] = torch_category(top.name, types.get(layer) if layer is not None else None, layer)
        category, how = category_of[key]
        if top is not e:
            category, how = (QUANT, "table") if TORCH_OPS.get(base_name(e.name)) == QUANT else (category, "inherited")
        parent = top.name if top is not e else None
        add(("op", e.name, parent, layer), category, how, 1, e.self_cpu_time_total, e.cpu_time_total, "torch-cpu")
        for k in getattr(e, "kernels", None) or []:  # launched by this op (or by its runtime call)
            cat, kh = (category, "inherited") if category != OTHER else kernel_category(k.name)
            add(("kernel", k.name, top.name, layer), cat, kh, 1, k.duration, k.duration, f"cuda:{k.device}")
    return list(acc.values())


def profile_torch(module, call: Callable[[], object], sync: Callable[[], None] | None, device: str, calls: int,
                  trace_path: Path) -> tuple[list[dict], dict]:
    """Profile `calls` calls (after one the profiler warms up on); write the Chrome trace to
    `trace_path`. Returns the rows and what the pass measured (its per-call wall time)."""
    import torch
    from torch.profiler import ProfilerActivity, profile, schedule

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    handles, types = annotate_layers(module)
    walls: list[float] = []
    try:
        with profile(activities=activities, schedule=schedule(wait=0, warmup=1, active=calls, repeat=1)) as prof:
            for i in range(calls + 1):
                t = time.perf_counter()
                call()
                if sync is not None:
                    sync()
                if i:  # the first call is the profiler's warm-up, discarded
                    walls.append(time.perf_counter() - t)
                prof.step()
    finally:
        for h in handles:
            h.remove()
    prof.export_chrome_trace(str(trace_path))
    check_trace(trace_path)
    rows = rows_from_events(prof.events(), types, calls)
    meta = {"profiler": f"torch.profiler (torch {torch.__version__})", "calls": calls,
            "call_ms": 1e3 * sum(walls) / len(walls), "layers": bool(types),
            "basis": "kernel" if device == "cuda" and any(r["kind"] == "kernel" for r in rows) else "op"}
    return rows, meta


def check_trace(path: Path) -> None:
    """A trace that Perfetto and chrome://tracing open: JSON, with events."""
    data = json.loads(Path(path).read_text())
    events = data.get("traceEvents") if isinstance(data, dict) else data
    if not isinstance(events, list) or not events:
        raise ValueError(f"the profiler wrote a trace with no events ({Path(path).name})")
