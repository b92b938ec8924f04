"""The cell record, typed: sections a phase of the cell fills, flattened to columns in one place.

A record used to be a dict that eight places wrote keys into; a typo made a new column and a
missing key went unnoticed. Here each part of a cell's measurement has a section with named,
typed fields (identity, static, timing, memory, energy, roofline, fidelity, cost, state, decode,
profile),
and `CellRecord.flat()` is the only place sections become the flat columns that the JSON record
files, Parquet, CSV and every reader use. Column names are unchanged from the untyped record.

Two sections are open by design: `steps` holds what optimization steps return for the record
(`Artifact.record`: outlier statistics, compile time, ORT node counts) and `runtime` what a
runtime adds once the metrics are known (an edge projection, I/O-binding labels). Those depend on
the optimization or runtime, which declares them; the rest is fixed here.

Only fields that were set are written, so a failed cell's record holds what is known about it and
no column of nulls. `CellRecord.from_flat` reads a flat record back into its sections.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Json = Any  # nested values kept as they are (environment dicts, per-layer statistics)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Identity(Section):
    """Which cell this is: enough to find it, group it and compare it with its fp32 baseline."""

    run_id: str | None = None
    cell_id: str
    model: str | None = None
    family: str | None = None
    modality: str | None = None
    optimization: str | None = None
    runtime: str | None = None
    device: str | None = None
    target: str | None = None
    threads: int | None = None
    batch_size: int | None = None
    seq_len: int | None = None
    image_size: int | None = None
    workload: str | None = None
    steps: list[str] | None = None
    status: str | None = None  # ok | failed | timeout | skipped
    error: str | None = None
    failure: str | None = None  # exception | crash | oom | timeout (bench.executor.classify)
    note: str | None = None


class Static(Section):
    """Counted on the graph that runs (bench.measure.flops), with the closed form beside it."""

    params: int | None = None
    macs: int | float | None = None
    flops: int | float | None = None
    uncounted_ops: list[str] | None = None
    macs_counted_batch: int | None = None
    macs_closed_form: int | None = None
    params_closed_form: int | None = None
    cost_source: str | None = None  # of the closed forms: closed-form | published | none (a user model)
    weight_bytes: int | None = None
    precision: str | None = None
    optimization_notes: str | None = None


class Weights(Section):
    """Where the weights came from (bench.zoo.user): enough to fetch the same ones again."""

    weights_kind: str | None = None  # seeded-random (the zoo) | hf | timm | onnx | factory
    weights_source: str | None = None  # zoo:NAME, hf:ID-OR-PATH, ...
    weights_path: str | None = None
    weights_revision: str | None = None  # hub commit, or the package that shipped them
    weights_sha256: str | None = None  # of the weight files (of the state dict for a factory)
    weights_published_as: str | None = None  # the published row (bench/reference) these weights are


def _finite_numbers(v):
    """Samples are numbers a statistic can use: not strings, not booleans, not NaN or infinity."""
    import math

    if v is None:
        return v
    if not isinstance(v, list):
        raise ValueError("must be a list of numbers")
    for x in v:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0:
            raise ValueError(f"holds {x!r}, not a finite number of zero or more")
    return v


class Timing(Section):
    latency_ms_p50: float | None = None
    latency_ms_mean: float | None = None
    latency_ms_p90: float | None = None
    latency_ms_p99: float | None = None
    latency_ms_std: float | None = None
    latency_ms_iqr: float | None = None
    latency_ms_min: float | None = None
    latency_ms_ci_low: float | None = None
    latency_ms_ci_high: float | None = None
    n_samples: int | None = None
    timing_target_met: bool | None = None
    latency_samples_ms: list[float] | None = None
    latency_sample_t_s: list[float] | None = None  # when each sample started, from the first (a trace)

    @field_validator("latency_samples_ms", "latency_sample_t_s", mode="before")
    @classmethod
    def _samples(cls, v):
        return _finite_numbers(v)
    timing_mode: str | None = None
    timing_block_size: int | None = None
    timing_clock: str | None = None
    timing_clock_overhead_ns: float | None = None
    latency_cv: float | None = None
    latency_iqr_over_median: float | None = None
    latency_p99_over_p50: float | None = None
    noisy: bool | None = None
    noise_threshold_cv: float | None = None


class Contention(Section):
    """Was the machine the cell's while it was timed? From the kernel (bench.measure.contention),
    and the attempts the runner made when it was not."""

    runq_wait_share: float | None = None  # the cell's threads' run-queue wait / (threads x window)
    runq_wait_ms: float | None = None
    runq_active_threads: int | None = None
    contention_window_s: float | None = None
    cpu_pressure_some: float | None = None  # PSI: share of the window some task waited for a CPU
    steal_share: float | None = None  # hypervisor steal on the cell's CPUs
    other_cpu_share: float | None = None  # other processes' busy share of the cell's CPUs
    contention_threshold: float | None = None
    contended: bool | None = None
    imprecise: bool | None = None  # precision target missed, or fewer samples than asked for
    attempts: list[dict[str, Json]] | None = None  # every measurement of this cell, in order
    attempt_kept: int | None = None  # the index in `attempts` of the one reported (the best isolated)
    remeasured: bool | None = None


class Memory(Section):
    peak_rss_build_bytes: int | None = None
    peak_rss_infer_bytes: int | None = None
    peak_rss_bytes: int | None = None
    rss_start_bytes: int | None = None
    cuda_peak_allocated_bytes: int | None = None
    cuda_peak_reserved_bytes: int | None = None
    nvml_used_bytes: int | None = None
    activation_bytes_estimate: int | None = None
    disk_bytes: int | None = None


class Energy(Section):
    energy_counter_j_per_call: float | None = None
    energy_counter_source: str | None = None
    energy_window_s: float | None = None
    energy_window_calls: int | None = None
    energy_idle_w_subtracted: float | None = None
    energy_j_per_inference: float | None = None
    energy_j_per_item: float | None = None
    energy_item_unit: str | None = None
    energy_source: str | None = None
    energy_analytic_j_per_inference: float | None = None
    energy_tdp_j_per_inference: float | None = None
    energy_tdp_w: float | None = None
    energy_spec_device: str | None = None
    energy_note: str | None = None


class Roofline(Section):
    min_bytes_moved: int | float | None = None
    arithmetic_intensity: float | None = None
    achieved_flops_per_s: float | None = None
    attainable_flops_per_s: float | None = None
    roofline_pct: float | None = None
    roofline_bound: str | None = None
    roofline_device: str | None = None
    roofline_dtype: str | None = None


class Fidelity(Section):
    """Against the fp32 torch-eager reference on identical inputs."""

    max_abs_err: float | None = None
    mean_abs_err: float | None = None
    cosine_sim: float | None = None
    top1_agreement: float | None = None
    real_tokens: int | None = None  # padded text: fidelity is taken on the real tokens only


class Accuracy(Section):
    """Task accuracy measured on the suite's evaluation data with the artifact that ran
    (bench.evaluate), and its paired change against the fp32 model on the same examples."""

    accuracy: float | None = None
    accuracy_metric: str | None = None  # accuracy | perplexity | embedding_cosine_to_fp32
    accuracy_n: int | None = None
    accuracy_ci_low: float | None = None
    accuracy_ci_high: float | None = None
    accuracy_delta_vs_fp32: float | None = None
    accuracy_delta_ci_low: float | None = None
    accuracy_delta_ci_high: float | None = None
    accuracy_verdict: str | None = None  # significant drop | no significant change | significant gain
    accuracy_p_value: float | None = None  # McNemar's exact test (classification)
    accuracy_test: str | None = None  # mcnemar-exact | paired-bootstrap
    accuracy_source: str | None = None  # measured (published figures live in bench/reference)
    accuracy_metrics: dict[str, Json] | None = None  # top-5, macro F1, the fp32 figure, discordant pairs
    accuracy_data: str | None = None
    accuracy_note: str | None = None  # why a cell has no measured accuracy


class Scenarios(Section):
    """The offline and server scenarios (bench/scenarios, docs/scenarios.md); single-stream is Timing."""

    scenarios_run: list[str] | None = None
    offline_sweep: list[dict[str, Json]] | None = None  # per batch size: p50, items/s with its interval
    offline_best_batch: int | None = None
    offline_items_per_s: float | None = None
    offline_items_per_s_ci: list[float] | None = None
    offline_energy_j_per_item: float | None = None
    offline_energy_source: str | None = None
    offline_note: str | None = None
    server_p99_bound_ms: float | None = None
    server_max_batch: int | None = None
    server_max_wait_ms: float | None = None
    server_min_queries_p99: int | None = None
    server_curve: list[dict[str, Json]] | None = None  # per rate tried: achieved, percentiles, queueing
    server_max_rate_qps: float | None = None  # the highest rate tried whose p99 met the bound
    server_rate_bracket: list[float | None] | None = None  # [that rate, the lowest that failed]
    server_at_max: dict[str, Json] | None = None
    server_p99_supported: bool | None = None
    server_goodput_rps: float | None = None  # decoders: requests/s meeting both TTFT and TPOT bounds
    server_ttft_bound_ms: float | None = None
    server_tpot_bound_ms: float | None = None
    server_energy_j_per_query: float | None = None
    server_energy_source: str | None = None
    server_note: str | None = None


class Cost(Section):
    """Where the cell's own time went: cold-start phases, steps, and what the runner saw."""

    build_s: float | None = None
    optimize_s: float | None = None
    export_s: float | None = None
    session_s: float | None = None
    first_call_s: float | None = None
    eval_s: float | None = None  # the evaluation, after timing: never inside a timed sample
    step_s: dict[str, float] | None = None
    phase_s: dict[str, float] | None = None
    cell_wall_s: float | None = None
    process_wall_s: float | None = None
    cell_process: str | None = None  # forked | spawned
    executor: str | None = None  # set by the Ray executor, with the node and host that ran the cell
    ray_node_id: str | None = None
    host: str | None = None


class State(Section):
    """The machine around the cell, so that a number can be traced and distrusted."""

    state_before: Json = None
    state_after: Json = None
    gpu_state: Json = None
    gpu_throttled: bool | None = None
    thread_settings: Json = None
    runtime_info: Json = None
    stderr_tail: str | None = None


class Decode(Section):
    """Decoder cells: the prefill and per-token phases (bench.measure.decode)."""

    prefill_macs: int | None = None
    prefill_macs_closed_form: int | None = None
    decode_macs_per_token: float | None = None
    decode_macs_per_token_closed_form: float | None = None
    decode_macs_first: int | None = None
    decode_macs_last: int | None = None
    decode_uncounted_ops: list[str] | None = None
    prompt_len: int | None = None
    new_tokens: int | None = None
    decode_reps: int | None = None
    ttft_ms: float | None = None
    ttft_ms_ci_low: float | None = None
    ttft_ms_ci_high: float | None = None
    ttft_samples_ms: list[float] | None = None
    tpot_ms: float | None = None
    tokens_per_s: float | None = None
    decode_tokens_per_s: float | None = None
    kv_cache_bytes: int | None = None
    kv_cache_positions: int | None = None
    kv_cache_bytes_closed_form: int | None = None
    greedy_match_prefix: int | None = None
    greedy_token_agreement: float | None = None


class Profile(Section):
    """The profiled pass after timing (bench.profile, docs/profiling.md): where the time went, per
    category of the one operator taxonomy, and the hardware counters of the timed window. The rows
    themselves are in `profile_file` (Parquet) and the timeline in `trace_file` (Chrome trace),
    both relative to the run directory."""

    profile_status: str | None = None  # ok | failed (unset when the cell was not profiled)
    profile_error: str | None = None  # why the profile failed; the cell's timing stands
    profile_tool: str | None = None
    profile_calls: int | None = None  # calls in the profiled pass, after its warm-up call
    profile_call_ms: float | None = None  # their mean wall time, profiler included
    profile_overhead_ratio: float | None = None  # profile_call_ms over the timed median (decoders: over TTFT)
    profile_basis: str | None = None  # op (torch CPU operators) | kernel (GPU kernels) | node (ORT nodes)
    profile_op_ms: float | None = None  # the breakdown's total per inference
    profile_category_ms: dict[str, float] | None = None
    profile_category_share: dict[str, float] | None = None
    profile_top_ops: list[dict[str, Json]] | None = None
    profile_other_ops: list[str] | None = None  # ops the taxonomy does not know, by name
    profile_category_flops: dict[str, float] | None = None  # counted (2 x MACs) or estimated, per inference
    profile_category_bytes: dict[str, float] | None = None
    profile_file: str | None = None
    trace_file: str | None = None
    hw_ipc: float | None = None
    hw_instructions_per_inference: float | None = None
    hw_cycles_per_inference: float | None = None
    hw_cache_misses_per_inference: float | None = None
    hw_llc_misses_per_inference: float | None = None
    hw_counters_note: str | None = None  # what was counted, or why nothing was


SECTIONS: dict[str, type[Section]] = {
    "identity": Identity, "static": Static, "weights": Weights, "timing": Timing, "contention": Contention,
    "memory": Memory, "energy": Energy,
    "roofline": Roofline, "fidelity": Fidelity, "accuracy": Accuracy, "scenarios": Scenarios, "cost": Cost, "state": State, "decode": Decode,
    "profile": Profile,
}
OPEN_SECTIONS = ("steps", "runtime")  # fields declared by the optimization or runtime that adds them
SECTION_OF: dict[str, str] = {f: name for name, cls in SECTIONS.items() for f in cls.model_fields}


class CellRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: Identity
    static: Static = Field(default_factory=Static)
    weights: Weights = Field(default_factory=Weights)
    timing: Timing = Field(default_factory=Timing)
    contention: Contention = Field(default_factory=Contention)
    memory: Memory = Field(default_factory=Memory)
    energy: Energy = Field(default_factory=Energy)
    roofline: Roofline = Field(default_factory=Roofline)
    fidelity: Fidelity = Field(default_factory=Fidelity)
    accuracy: Accuracy = Field(default_factory=Accuracy)
    scenarios: Scenarios = Field(default_factory=Scenarios)
    cost: Cost = Field(default_factory=Cost)
    state: State = Field(default_factory=State)
    decode: Decode = Field(default_factory=Decode)
    profile: Profile = Field(default_factory=Profile)
    steps: dict[str, Json] = Field(default_factory=dict)
    runtime: dict[str, Json] = Field(default_factory=dict)

    def flat(self) -> dict[str, Any]:
        """The record's columns: every field that was set, sections in a fixed order."""
        out: dict[str, Any] = {}
        for name in SECTIONS:
            out.update(getattr(self, name).model_dump(exclude_unset=True))
        for name in OPEN_SECTIONS:
            for k, v in getattr(self, name).items():
                if k in SECTION_OF or k in out:
                    raise ValueError(f"{name} field {k!r} would overwrite the record's own {k!r}")
                out[k] = v
        return out

    @classmethod
    def from_flat(cls, flat: dict[str, Any], open_section: str = "runtime") -> CellRecord:
        """Sections from flat columns; a column no section declares goes to `open_section`."""
        parts: dict[str, dict] = {name: {} for name in (*SECTIONS, *OPEN_SECTIONS)}
        for k, v in flat.items():
            parts[SECTION_OF.get(k, open_section)][k] = v
        return cls.model_validate(parts)

    def update(self, fields: dict[str, Any], open_section: str = "runtime") -> CellRecord:
        """Set flat fields on their sections (validated); others go to `open_section`."""
        for k, v in fields.items():
            section = SECTION_OF.get(k)
            if section is None:
                getattr(self, open_section)[k] = v
            else:
                setattr(getattr(self, section), k, v)
        return self


def identity(cell, run_id: str | None = None) -> Identity:
    """A planned cell's identity fields, the part every record has whatever happened to it. A cell
    process does not know its run: without `run_id` the field stays unset (and unwritten)."""
    run = {"run_id": run_id} if run_id is not None else {}
    return Identity(
        **run, cell_id=cell.cell_id, model=cell.model, optimization=cell.optimization,
        runtime=cell.target.runtime, device=cell.target.device, target=cell.target.label,
        threads=cell.target.threads, batch_size=cell.workload.batch_size, seq_len=cell.workload.seq_len,
        image_size=cell.workload.image_size, workload=cell.workload.label, steps=[s.label for s in cell.resolved])


STATUSES = ("ok", "failed", "timeout", "skipped")


def read_record(rec: dict[str, Any]) -> dict[str, Any] | str:
    """A record read back from disk, validated against the sections (its values in their declared
    types), or why it cannot be used. Readers skip such a file and name it, so a hand-edited or
    foreign record cannot crash a report, a comparison, an export or a resume."""
    if rec.get("status") not in STATUSES:
        return f"has status {str(rec.get('status'))[:40]!r}, not one of {', '.join(STATUSES)}"
    huge = next((k for k, v in rec.items() if isinstance(v, int) and not -2**63 <= v < 2**63), None)
    if huge is not None:  # no table or statistic can hold it; no measurement makes one
        return f"has an integer too large for a 64-bit column at {huge}"
    try:
        typed = CellRecord.from_flat(rec).flat()
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"][1:]) or "a field"
        return f"has a wrong type at {where}: {err['msg'][:120]}"
    except (RecursionError, ValueError, TypeError) as e:
        return f"cannot be read as a record ({type(e).__name__})"
    if rec["status"] == "ok" and typed.get("latency_ms_p50") is None and typed.get("ttft_ms") is None:
        return "says ok but holds no latency"
    return typed


def base_record(cell, run_id: str | None) -> dict[str, Any]:
    return identity(cell, run_id).model_dump(exclude_unset=True)


def checked(flat: dict[str, Any]) -> dict[str, Any]:
    """A flat record as the runner is about to store it, validated against the sections.

    A record that does not validate is a bug in the harness, not in the cell; it is still stored
    (losing a measurement to a schema slip helps nobody), as a failure that names the problem."""
    try:
        return CellRecord.from_flat(flat).flat()
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        return {**flat, "status": "failed", "failure": "record",
                "error": f"the cell's record does not match its schema at {where}: {err['msg']}"}
