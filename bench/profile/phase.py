"""The profile phase of a cell: a short profiled pass after the timed one, and its record fields.

It runs after the timed samples and the memory peaks are read (bench.pipeline.run), so profiler
overhead touches neither. The pass is short: enough calls to fill about a second, at least 3 and
at most 20, after one warm-up call the profiler discards. Its per-call wall time against the timed
median is the profiler's overhead, recorded as `profile_overhead_ratio`: a breakdown taken at
1.3x the timed latency is a breakdown of a slightly different execution, and the reader should
know by how much.

A profiler that fails, or a runtime that has none, must not cost the cell its timing: the phase
catches the failure and records `profile_status: failed` with the reason.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.profile.table import Profile

BUDGET_S, MIN_CALLS, MAX_CALLS = 1.0, 3, 20
PROFILERS = {"torch": "torch", "onnxruntime": "ort", "onnxruntime-edge": "ort"}


class NoProfiler(RuntimeError):
    pass


def profiled_calls(reference_ms: float | None) -> int:
    if not reference_ms or reference_ms <= 0:
        return MIN_CALLS
    return int(min(MAX_CALLS, max(MIN_CALLS, math.ceil(BUDGET_S * 1e3 / reference_ms))))


def reference_ms(prep, known: dict) -> float | None:
    """What one profiled call is compared with: the timed median, or for a decoder (whose samples
    are per token, and whose session call is one forward over the prompt) the time to first token."""
    if getattr(prep.modality, "name", "") == "decoder":
        return known.get("ttft_ms")
    return known.get("latency_ms_p50")


def profile(prep, opt, session, known: dict, run_dir: Path) -> dict:
    """The record's profile fields; a failure is recorded, never raised."""
    try:
        return _profile(prep, opt, session, known, Path(run_dir))
    except Exception as e:  # any profiler failure: the cell keeps its timing
        return {"profile_status": "failed", "profile_error": f"{type(e).__name__}: {e}"[:2000]}


def _profile(prep, opt, session, known: dict, run_dir: Path) -> dict:
    from bench.fsio import atomic_write
    from bench.profile.store import paths, write_profile

    cell = prep.cell
    kind = PROFILERS.get(cell.target.runtime)
    if kind is None:
        raise NoProfiler(f"no profiler for runtime {cell.target.runtime!r}: profiles are taken on "
                         f"{', '.join(sorted(PROFILERS))}")
    parquet, trace = paths(run_dir, cell.cell_id, create=True)
    ref = reference_ms(prep, known)
    calls = profiled_calls(ref)
    got: dict = {}

    def run_profiler(tmp: Path) -> None:
        if kind == "torch":
            from bench.profile.macs import torch_work
            from bench.profile.torch_profile import profile_torch

            module = opt.artifact.module
            got["rows"], got["meta"] = profile_torch(module, session.call, session.sync, cell.target.device,
                                                     calls, tmp)
            got["meta"]["category_work"] = torch_work(module, prep.inputs, got["rows"])
        else:
            from bench.profile.ort_profile import profile_ort

            got["rows"], got["meta"] = profile_ort(opt.artifact, cell.target, prep.inputs, calls, tmp,
                                                   prep.ctx.scratch)

    atomic_write(trace, run_profiler)
    meta = got["meta"]
    overhead = meta["call_ms"] / ref if ref else None
    meta.update(cell_id=cell.cell_id, runtime=cell.target.runtime, device=cell.target.device,
                reference_ms=ref, overhead_ratio=overhead)
    prof = Profile(got["rows"], meta)
    write_profile(parquet, prof)
    return {"profile_status": "ok", "profile_tool": meta["profiler"], "profile_calls": calls,
            "profile_call_ms": meta["call_ms"], "profile_overhead_ratio": overhead,
            "profile_file": f"{parquet.parent.name}/{parquet.name}", "trace_file": f"{trace.parent.name}/{trace.name}",
            **prof.summary()}
