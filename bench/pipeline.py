"""The cell pipeline: prepare -> optimize -> bind -> measure -> annotate, one function per phase.

Every consumer of a built, optimized model goes through these phases: the cell process
(bench.cell) runs all five, and the edge bundle (bench.edge.bundle) runs prepare and optimize to
pack the very graph a cell would time. Keeping one copy matters: the bundle once had its own
optimize loop, which counted a head-pruned DeiT's MACs before the pruning (1.25 GMACs for a 0.90
GMAC model), so every edge projection of a pruned model used the wrong work.

What each phase may touch:
- prepare: the model spec, the workload, the run cache (fp32 reference). Builds the module.
- optimize: the artifact and the Context (scratch, cache); counts static metrics on the float
  graph of the shape that runs (after structural steps, before numeric ones or an export).
- bind: the runtime and the target; nothing measured yet.
- measure: the session, the modality's timed loop, the probe (memory, energy, GPU state).
- profile (when the suite asks): a short profiled pass after the timed one (bench.profile).
- annotate: what the record already holds (noise, roofline, energy, runtime labels).
Each phase returns what it found; only `run` assembles the typed record (bench.record).
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.fsio import cached_json


class PhaseTimer:
    """Seconds per named phase of a cell, recorded as the cell's `phase_s`."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t


@dataclass
class Prepared:
    """The model as built, its inputs and its fp32 reference: what every later phase starts from."""

    cell: Any
    spec: Any
    modality: Any
    module: Any
    inputs: dict
    ctx: Any
    reference: Any


@dataclass
class Optimized:
    artifact: Any
    static: dict | None  # params/MACs; None when the chain never held a countable torch module
    step_s: dict[str, float] = field(default_factory=dict)
    export_s: float | None = None
    applied: list[str] = field(default_factory=list)  # shape-changing steps: the counted graph's key

    @property
    def chain_key(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.=+\-]+", "_", "+".join(self.applied) or "as-built")


def prepare(cell, cache: Path, scratch: Path, phases: PhaseTimer, device: str | None = None) -> Prepared:
    from bench.modality import modality_of
    from bench.optimize import Context
    from bench.zoo import MODELS

    spec = MODELS.get(cell.model)
    modality = modality_of(spec)
    seed = cell.measure.seed
    with phases("build"):  # a model that arrives as an ONNX file has no torch module
        module = spec.build(seed) if spec.artifact_kind == "torch" else None
    inputs = spec.inputs(cell.workload, seed)
    ctx = Context(spec, cell.workload, inputs, device or cell.target.device, scratch, cache, seed)
    with phases("reference"):
        reference = modality.reference(spec, cell.workload, inputs, cache, seed, module)
    prep = Prepared(cell, spec, modality, module, inputs, ctx, reference)
    if cell.evaluation is not None:
        from bench.evaluate.run import prepare_baseline

        with phases("eval_baseline"):  # the fp32 model's results, before any step edits the module
            prepare_baseline(prep)
    return prep


def static_metrics(prep: Prepared, module, applied_key: str) -> dict:
    """Params and MACs of `module`, once per run for each model, workload and shape-changing chain."""
    from bench.fsio import fitting_name

    key = fitting_name(f"{prep.spec.name}-{prep.ctx.workload.label}-{applied_key}", 200)
    return cached_json(prep.ctx.cache / "static" / f"{key}.json",
                       lambda: prep.modality.static(prep.spec, module, prep.ctx))


def optimize(prep: Prepared, phases: PhaseTimer) -> Optimized:
    """Apply the cell's resolved chain; count static metrics on the float graph that runs."""
    from bench.optimize import OPTIMIZATIONS, Artifact

    onnx = Path(prep.spec.onnx_path) if prep.spec.onnx_path else None
    result = Optimized(Artifact(kind=prep.spec.artifact_kind, module=prep.module, onnx_path=onnx), static=None)

    def count() -> None:
        if result.static is None and result.artifact.kind == "torch":
            with phases("static"):
                result.static = static_metrics(prep, result.artifact.module, result.chain_key)

    with phases("optimize"):
        for step in prep.cell.resolved:
            opt = OPTIMIZATIONS.get(step.name)
            # Before a purely numeric step (a lossy structural step counts after) or an export.
            if (opt.changes_numerics and not opt.changes_shapes) or opt.produces != "torch":
                count()
            t = time.perf_counter()
            result.artifact = opt.apply(result.artifact, opt.parse_params(step.params), prep.ctx)
            result.step_s[step.label] = time.perf_counter() - t
            if opt.consumes == "torch" and opt.produces == "onnx":
                result.export_s = (result.export_s or 0.0) + result.step_s[step.label]
            if opt.changes_shapes:
                result.applied.append(step.label)
        count()
        if result.static is None and onnx is not None:  # counted on the file as it came (the float graph)
            with phases("static"):
                result.static = onnx_static(prep, onnx)
    return result


def onnx_static(prep: Prepared, path: Path) -> dict:
    from bench.measure.onnx_flops import count_onnx

    shapes = {k: tuple(v.shape) for k, v in prep.inputs.items()}

    def compute() -> dict:
        c = count_onnx(path, shapes)
        return {"params": c["params"], "macs": c["macs"], "flops": 2 * c["macs"], "uncounted_ops": c["uncounted"],
                "macs_counted_batch": prep.cell.workload.batch_size}

    return cached_json(prep.ctx.cache / "static" / f"{prep.spec.name}-{prep.ctx.workload.label}-onnx.json", compute)


def weight_bytes(artifact) -> int:
    """Serialized size: the state dict for torch, the file (plus external data) for ONNX."""
    if artifact.kind == "onnx":
        p = Path(artifact.onnx_path)
        return p.stat().st_size + sum(f.stat().st_size for f in p.parent.glob(p.name + ".data"))
    import torch

    buf = io.BytesIO()
    torch.save(artifact.module.state_dict(), buf)
    return buf.tell()


def static_fields(prep: Prepared, opt: Optimized) -> dict:
    """The record's static section: counted, closed-form and serialized size; where the weights came from."""
    spec, artifact = prep.spec, opt.artifact
    w = spec.weights or {"kind": "seeded-random", "source": f"zoo:{spec.name}"}
    return {"params_closed_form": spec.closed_form_params(), "macs_closed_form": spec.closed_form_macs(prep.cell.workload),
            "cost_source": spec.cost_source, **(opt.static or {}), "weight_bytes": weight_bytes(artifact),
            "precision": artifact.precision,
            "optimization_notes": "; ".join(artifact.notes),  # what the steps did, e.g. weights zeroed
            "weights_kind": w["kind"], "weights_source": w["source"], "weights_path": w.get("path"),
            "weights_revision": w.get("revision"), "weights_sha256": w.get("sha256"),
            "weights_published_as": w.get("published_as")}


def bind(prep: Prepared, opt: Optimized, phases: PhaseTimer):
    from bench.runtime import RUNTIMES

    runtime = RUNTIMES.get(prep.cell.target.runtime)
    with phases("session"):
        return runtime.bind(opt.artifact, prep.cell.target, prep.inputs)


def timer_settings(measure):
    from bench.measure.timer import TimerSettings

    return TimerSettings(warmup_iters=measure.warmup_iters, warmup_s=measure.warmup_s, min_time_s=measure.min_time_s,
                         max_time_s=measure.max_time_s, min_samples=measure.min_samples,
                         target_rel_ci=measure.target_rel_ci)


def measure(prep: Prepared, opt: Optimized, session, probe, phases: PhaseTimer) -> tuple[dict, Any]:
    """First call and fidelity, then the modality's timed loop, then what the probe saw around it;
    the fields and the first call's output (a host array)."""
    from bench.measure import contention
    from bench.measure.stats import summarize

    cell = prep.cell
    with phases("first_call"):  # includes lazy work: torch.compile compilation, ORT allocations
        out = session.output(session.call())
    fields = prep.modality.fidelity(out, prep.reference, prep.inputs)
    fields["first_call_s"] = phases.seconds["first_call"]
    probe.before_timing()
    hw = nullcontext()
    if cell.measure.profile:  # hardware counters over the timed window, where perf can read them
        from bench.profile.perf import PerfWindow

        hw = PerfWindow()
    with hw, phases("timing"), contention.Window(cell.measure.contention_threshold) as window:
        timing, extra = prep.modality.measure(prep.spec, opt.artifact, session, prep.inputs, cell.workload,
                                              timer_settings(cell.measure), cell.target.device, probe, prep.reference)
    if cell.measure.profile:
        from bench.profile.perf import calls_in_window

        fields.update(hw.fields(calls_in_window(timing)))
    fields.update(extra)
    fields.update(summarize(timing.samples_ms))
    fields.update(latency_samples_ms=[round(x, 6) for x in timing.samples_ms], timing_target_met=timing.target_met,
                  timing_mode=timing.mode, timing_block_size=timing.block_size, timing_clock=timing.clock,
                  timing_clock_overhead_ns=timing.clock_overhead_ns, **window.fields,
                  # Missed its precision target, or stopped (at max_time_s) short of the samples asked for.
                  imprecise=not timing.target_met or len(timing.samples_ms) < cell.measure.min_samples)
    if timing.sample_t_s is not None:
        fields["latency_sample_t_s"] = [round(t, 6) for t in timing.sample_t_s]
    with phases("after_timing"):  # allocator peaks, NVML energy window, GPU state
        fields.update(probe.after_timing(session.call, session.sync))
    return fields, out


def annotate(prep: Prepared, opt: Optimized, probe, known: dict, out, phases: PhaseTimer) -> dict:
    """Fields derived from the measured ones (`known`): activation estimate, noise, roofline, energy."""
    from bench.measure.cell_metrics import activation_estimate

    cell = prep.cell
    extra: dict = {}
    module = opt.artifact.module if opt.artifact.kind == "torch" else prep.module
    if module is not None:  # an ONNX file has no modules to hook
        with phases("activation_estimate"):
            extra["activation_bytes_estimate"] = activation_estimate(
                module, prep.inputs, prep.ctx.cache, f"{prep.spec.name}-{cell.workload.label}-{opt.chain_key}")
    items, unit = prep.modality.items(cell.workload)
    extra.update(probe.derived({**known, **extra}, items=items, item_unit=unit, inputs=prep.inputs, output=out,
                               noise_threshold_cv=cell.measure.noise_threshold_cv))
    return extra


def run(cell, cache: Path, scratch: Path, t_start: float | None = None) -> dict:
    """Every phase of one cell, in its own process; the flat record (bench.record)."""
    t_cell = t_start if t_start is not None else time.perf_counter()
    from bench.measure import memory
    from bench.measure.env import machine_state

    state_before = machine_state()
    import torch

    from bench.measure.cell_metrics import CellProbe
    from bench.measure.env import thread_settings
    from bench.record import CellRecord, identity

    phases = PhaseTimer()
    phases.seconds["imports"] = time.perf_counter() - t_cell  # ~0 in a child forked from the warm server
    # Resident memory before the model exists. A forked cell starts low (it has touched few of the
    # libraries' pages), a spawned one high (its imports touched them): peak minus start is the
    # figure that compares across the two.
    rss_start = memory.current_rss_bytes()
    torch.set_num_threads(cell.target.threads)
    with phases("probe_open"):  # NVML on a GPU
        probe = CellProbe(cell.target.device, cache)

    prep = prepare(cell, cache, scratch, phases)
    opt = optimize(prep, phases)
    rec = CellRecord(identity=identity(cell))
    rec.update({"family": prep.spec.family})
    rec.update(static_fields(prep, opt))
    rec.steps.update(opt.artifact.record)  # what the steps returned for the record
    rec.update({"peak_rss_build_bytes": memory.peak_rss_bytes()})
    memory.reset_peak_rss()

    session = bind(prep, opt, phases)
    rec.update({"threads": session.info.get("threads", cell.target.threads)})
    measured, out = measure(prep, opt, session, probe, phases)
    rec.update(measured)
    peak_infer = memory.peak_rss_bytes()
    rec.update({"peak_rss_infer_bytes": peak_infer, "peak_rss_bytes": max(rec.memory.peak_rss_build_bytes, peak_infer),
                "rss_start_bytes": rss_start})
    if cell.evaluation is not None:  # after timing and the memory peaks: it overlaps neither
        from bench.evaluate.run import evaluate

        with phases("evaluate"):
            rec.update(evaluate(prep, opt, session))
    if cell.scenarios:  # offline and server, on the same built artifact, after single-stream timing
        from bench.scenarios.run import run_scenarios

        with phases("scenarios"):
            rec.update(run_scenarios(prep, opt, session, rec.flat(), probe))
    if cell.measure.profile:  # a separate profiled pass, after timing and the memory peaks (bench.profile)
        from bench.profile.phase import profile

        with phases("profile"):
            rec.update(profile(prep, opt, session, rec.flat(), cache.parent))
    rec.update(annotate(prep, opt, probe, rec.flat(), out, phases))
    rec.update({"build_s": phases.seconds["build"], "optimize_s": phases.seconds["optimize"],
                "session_s": phases.seconds["session"], "step_s": opt.step_s, "phase_s": phases.seconds,
                "thread_settings": thread_settings(), "runtime_info": session.info,
                "state_before": state_before, "state_after": machine_state()})
    if opt.export_s is not None:
        rec.update({"export_s": opt.export_s})
    if session.annotate is not None:  # runtime-specific fields: I/O-binding label, edge projection
        rec.runtime.update(session.annotate(rec.flat()))
    rec.update({"cell_wall_s": time.perf_counter() - t_cell})
    return rec.flat()
