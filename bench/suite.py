"""Suite files: a typed schema, and the expansion into cells.

A suite is YAML naming models, optimization chains, targets, workloads and measurement settings.
It expands to the cross product; `exclude:` rules remove combinations, and combinations that
cannot run (a chain a runtime cannot execute, a family an optimization does not apply to) become
skipped cells with their reason, so the report can say what was not measured and why.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bench.chains import Step, chain_label, load_yaml, parse_chain, parse_step  # noqa: F401  (re-exported)
from bench.errors import UserError
from bench.fsio import fitting_name
from bench.measure.contention import CONTENDED_WAIT_SHARE
from bench.measure.noise import DEFAULT_CV_THRESHOLD
from bench.modality import MODALITIES
from bench.optimize import OPTIMIZATIONS
from bench.optimize.base import CONVERSIONS
from bench.registry import clip, show
from bench.runtime import RUNTIMES
from bench.scenarios.settings import OfflineSettings, Scenario, ServerSettings
from bench.zoo import MODELS, Workload
from bench.zoo.user import ModelDecl, declare, default_name, ensure_registered, parse_model_entry

# A target's or a declared model's name goes into the cell id, and the cell id into file and directory
# names (results/<run>/scratch/<cell_id>/, records/<cell_id>.json), which Linux caps at 255 bytes.
NAME_MAX = 64
CELL_ID_MAX = 200  # a longer id keeps its first characters and ends with a hash of the whole id
MESSAGE_MAX = 2000  # a suite error, all of it: the values it quotes are cut to a few hundred characters


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    runtime: str
    device: Literal["cpu", "cuda"] = "cpu"
    threads: int | None = Field(default=None, ge=1, le=1024)
    provider: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # runtime-specific; the runtime's model validates
    name: str | None = None
    accelerator_type: str | None = None  # Ray scheduling: e.g. "A100", "H100" (a Ray accelerator type)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        extra = [self.provider.removesuffix("ExecutionProvider").lower()] if self.provider else []
        extra += [str(v) for _, v in sorted(self.options.items())]
        return "-".join([self.runtime, self.device, *extra])


class Workloads(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batch_sizes: list[int] = Field(default_factory=lambda: [1], min_length=1)
    seq_lens: list[int] = Field(default_factory=lambda: [128], min_length=1)
    image_sizes: list[int] | None = None  # None: each model's native resolution
    # Text only: [lo, hi] draws each sequence's real length uniformly (the rest is padding);
    # null means every token is real. Each entry is one more workload.
    real_lengths: list[tuple[int, int] | None] = Field(default_factory=lambda: [None], min_length=1)

    @field_validator("real_lengths")
    @classmethod
    def _ranges(cls, v):
        for r in v:
            if r is not None and not 1 <= r[0] <= r[1]:
                raise ValueError(f"a real_lengths range is [lo, hi] with 1 <= lo <= hi, got {list(r)}")
        return v
    # Decoder models only: prompt lengths (None: seq_lens) and tokens to generate per prompt.
    prompt_lens: list[int] | None = None
    new_tokens: list[int] = Field(default_factory=lambda: [32], min_length=1)

    @field_validator("batch_sizes", "seq_lens", "image_sizes", "prompt_lens")
    @classmethod
    def _positive(cls, v):
        if v is not None and any(x < 1 for x in v):
            raise ValueError("sizes must be positive integers")
        return v

    @field_validator("batch_sizes", "seq_lens", "image_sizes", "prompt_lens", "new_tokens", "real_lengths")
    @classmethod
    def _once(cls, v):
        # A value listed twice is the same cell twice; the planner used to drop the second silently.
        seen: set = set()
        for x in v or []:
            if x in seen:
                raise ValueError(f"{show(list(x) if isinstance(x, tuple) else x)} is listed twice")
            seen.add(x)
        return v

    @field_validator("new_tokens")
    @classmethod
    def _two_tokens(cls, v):
        if any(x < 2 for x in v):
            raise ValueError("new_tokens must be at least 2: the prefill makes the first token, decode the rest")
        return v


class Measure(BaseModel):
    # No infinite or NaN times: `timeout_s: .inf` planned, then no cell could ever time out.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    warmup_iters: int = Field(default=3, ge=0)
    warmup_s: float = Field(default=0.2, ge=0)
    min_time_s: float = Field(default=1.0, ge=0)
    max_time_s: float = Field(default=5.0, gt=0)
    min_samples: int = Field(default=10, ge=1)
    target_rel_ci: float = Field(default=0.02, gt=0)
    noise_threshold_cv: float = Field(default=DEFAULT_CV_THRESHOLD, gt=0)  # above it a cell is `noisy`
    timeout_s: float = Field(default=600, gt=0)
    seed: int = 0
    # Per-cell memory cap; a cell over it is recorded as out of memory (docs/reliability.md).
    memory_limit_mb: int | None = Field(default=None, ge=64)
    # Contention (docs/metrics.md): a cell whose threads waited on the run queue for more than this
    # share of the timing window is `contended`; at the end of the sweep, contended or noisy cells are
    # measured again up to `retries` times, after waiting up to `quiet_wait_s` for the machine to quieten.
    contention_threshold: float = Field(default=CONTENDED_WAIT_SHARE, gt=0, le=1)
    retries: int = Field(default=2, ge=0, le=10)
    quiet_wait_s: float = Field(default=60.0, ge=0, le=3600)
    # A short profiled pass after timing (operator breakdown, trace, hardware counters): docs/profiling.md.
    profile: bool = False

    @field_validator("seed")
    @classmethod
    def _seed_bits(cls, v):
        # torch.manual_seed takes -2**63 .. 2**64 - 1; past it every cell failed with an OverflowError.
        if not -2**63 <= v < 2**64:
            raise ValueError(f"a seed must fit in 64 bits (-2**63 to 2**64 - 1), got {show(v)}")
        return v

    @model_validator(mode="after")
    def _time_window(self):
        if self.min_time_s > self.max_time_s:
            raise ValueError(f"min_time_s {self.min_time_s:g} is above max_time_s {self.max_time_s:g}: sampling "
                             "stops at max_time_s, so the minimum could never be met")
        return self


class ExcludeRule(BaseModel):
    """Glob patterns; a cell is excluded when every given field matches."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    optimization: str | None = None
    runtime: str | None = None
    device: str | None = None
    target: str | None = None
    workload: str | None = None  # the workload label, e.g. "b8-s128-r16_128"

    def matches(self, cell: Cell) -> bool:
        fields = {"model": cell.model, "optimization": cell.optimization, "runtime": cell.target.runtime,
                  "device": cell.target.device, "target": cell.target.label, "workload": cell.workload.label}
        given = {k: getattr(self, k) for k in fields if getattr(self, k) is not None}
        return bool(given) and all(fnmatch.fnmatchcase(fields[k], str(p)) for k, p in given.items())


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str
    description: str = ""
    # Zoo names, or models the suite brings (bench.zoo.user): declared and registered as the suite
    # loads, after which every entry is the model's name.
    models: list[Any] = Field(min_length=1)
    optimizations: list[Any] = Field(min_length=1)
    targets: list[Target] = Field(min_length=1)
    workloads: Workloads = Field(default_factory=Workloads)
    measure: Measure = Field(default_factory=Measure)
    exclude: list[ExcludeRule] = Field(default_factory=list)
    # Data every cell measures its task accuracy on (bench.evaluate), and how far below fp32 a
    # cell may fall and still count as "within tolerance" in the report's headline (0.01: MLPerf's
    # 99% of fp32). The tolerance applies to measured accuracy, or to fidelity where none is measured.
    evaluation: dict[str, Any] | None = None
    accuracy_tolerance: float = Field(default=0.01, ge=0, lt=1)
    # MLPerf-style scenarios every cell runs on its one built artifact (bench/scenarios, docs/scenarios.md).
    scenarios: list[Scenario] = Field(default_factory=lambda: ["single-stream"], min_length=1)
    offline: OfflineSettings = Field(default_factory=OfflineSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    suite_dir: str | None = Field(default=None, exclude=True)  # set by the loader: relative paths start here

    @field_validator("optimizations")
    @classmethod
    def _chains(cls, v):
        return [parse_chain(c) for c in v]

    @field_validator("models")
    @classmethod
    def _model_entries(cls, v):
        return [parse_model_entry(m) for m in v]

    @model_validator(mode="after")
    def _names_exist(self, info: ValidationInfo):
        base = (info.context or {}).get("base")
        names = [m.name or default_name(m) if isinstance(m, ModelDecl) else m for m in self.models]
        for m, n in zip(self.models, names):
            if isinstance(m, ModelDecl) and len(n) > NAME_MAX:
                raise ValueError(f"model name {show(n, 80)} is {len(n)} characters long; a name becomes part of "
                                 f"file names, so keep it to {NAME_MAX} (give the model a shorter `name:`)")
        for i, t in enumerate(self.targets):
            if t.name is not None and len(t.name) > NAME_MAX:
                raise ValueError(f"target {i + 1}'s name {show(t.name, 80)} is {len(t.name)} characters long; "
                                 f"a name becomes part of file names, so keep it to {NAME_MAX}")
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"model {show(twice[0])} is listed twice; give each declared model its own `name:`")
        self.models = [declare(m, base).name if isinstance(m, ModelDecl) else m for m in self.models]
        for m in self.models:
            if m not in MODELS:
                raise ValueError(MODELS.unknown_message(m))
        self.suite_dir = str(base) if base else None
        if self.evaluation is not None:
            self.evaluation = check_evaluation(self.evaluation, self.models, base)
        for chain in self.optimizations:
            for step in chain:
                if step.name not in OPTIMIZATIONS:
                    raise ValueError(OPTIMIZATIONS.unknown_message(step.name))
                spec = OPTIMIZATIONS.get(step.name)
                try:
                    spec.parse_params(step.params)
                except ValidationError as e:
                    raise ValueError(f"bad parameters for {show(step.name)}: {_first_error(e)}") from None
        for i, t in enumerate(self.targets):
            if t.runtime not in RUNTIMES:
                raise ValueError(RUNTIMES.unknown_message(t.runtime))
            self.targets[i] = _configure(RUNTIMES.get(t.runtime), t)
        batched = sorted(set(self.scenarios) & {"offline", "server"})
        for t in self.targets:
            if batched and not RUNTIMES.get(t.runtime).batches:
                raise ValueError(f"scenario {batched[0]} runs other batch sizes, and runtime {t.runtime} (target "
                                 f"{show(t.label)}) cannot bind them: leave that target out of this suite, or the "
                                 "scenario")
        return self


def scenario_settings(suite: Suite) -> dict | None:
    """What a cell needs of the suite's scenarios (None: single-stream only, as every cell is timed)."""
    extra = [s for s in suite.scenarios if s != "single-stream"]
    return {s: getattr(suite, s).model_dump() for s in extra} or None


def check_evaluation(raw: dict, models: list[str], base: Path | None) -> dict:
    """The evaluation block, checked against the models at plan time: data that cannot be read, a
    missing label column or a label outside a classifier's classes is bad input (exit 2), not a
    failure in every cell."""
    from bench.evaluate.data import EvalSpec, check_labels, load_eval_data
    from bench.evaluate.run import applicable, model_task

    spec = EvalSpec(**raw)
    for name in models:
        model = MODELS.get(name)
        if applicable(model, spec):
            continue
        task = model_task(model)
        data = load_eval_data(spec, base, need_labels=task.endswith("classification"))
        if task.endswith("classification"):
            try:
                check_labels(data, model.config.get("num_classes"), model.config.get("label_names"))
            except UserError as e:
                raise UserError(f"model {name!r}: {e}") from None
    return spec.model_dump()


def _configure(runtime, target: Target) -> Target:
    """Validate a target's runtime options and apply the runtime's defaults (an edge profile's threads)."""
    try:
        opts = runtime.parse_options(target.options)
    except ValidationError as e:
        raise ValueError(f"bad options for target {show(target.label)}: {_first_error(e)}") from None
    updates = runtime.configure(target, opts) if runtime.configure else {}
    return target.model_copy(update=updates) if updates else target


@dataclass
class Cell:
    model: str
    steps: tuple[Step, ...]
    target: Target
    workload: Workload
    measure: Measure
    # The steps actually applied: the suite's chain plus any conversion the runtime needs.
    resolved: tuple[Step, ...] = ()
    status: str = "planned"  # "planned" or "skipped"
    reason: str = ""
    evaluation: dict | None = None  # the suite's evaluation block (bench.evaluate.data.EvalSpec)
    suite_dir: str | None = None
    # The scenarios past single-stream, with their settings: {"offline": {...}, "server": {...}}.
    scenarios: dict | None = None

    @property
    def optimization(self) -> str:
        return chain_label(self.steps)

    @property
    def cell_id(self) -> str:
        raw = f"{self.model}.{self.optimization}.{self.target.label}.{self.workload.label}"
        ident = re.sub(r"[^A-Za-z0-9_.=\-]+", "_", raw.replace(" -> ", "+"))
        return fitting_name(ident, CELL_ID_MAX, raw)  # a file name: a readable start, a hash of the whole

    def to_json(self) -> dict:
        return {
            "cell_id": self.cell_id, "model": self.model, "optimization": self.optimization,
            "steps": [s.model_dump() for s in self.steps], "resolved": [s.model_dump() for s in self.resolved],
            "target": self.target.model_dump(), "workload": vars(self.workload),
            "measure": self.measure.model_dump(), "status": self.status, "reason": self.reason,
            "model_declaration": MODELS.get(self.model).declaration if self.model in MODELS else None,
            "evaluation": self.evaluation, "suite_dir": self.suite_dir, "scenarios": self.scenarios,
        }

    @classmethod
    def from_json(cls, d: dict) -> Cell:
        ensure_registered(d.get("model_declaration"))  # a user model: the same spec as the planner's
        return cls(model=d["model"], steps=tuple(Step(**s) for s in d["steps"]),
                   target=Target(**d["target"]), workload=Workload(**d["workload"]),
                   measure=Measure(**d["measure"]), resolved=tuple(Step(**s) for s in d["resolved"]),
                   status=d["status"], reason=d["reason"], evaluation=d.get("evaluation"),
                   suite_dir=d.get("suite_dir"), scenarios=d.get("scenarios"))


@dataclass
class Plan:
    suite: Suite
    cells: list[Cell] = field(default_factory=list)  # planned and skipped
    excluded: list[Cell] = field(default_factory=list)

    @property
    def runnable(self) -> list[Cell]:
        return [c for c in self.cells if c.status == "planned"]

    @property
    def skipped(self) -> list[Cell]:
        return [c for c in self.cells if c.status == "skipped"]


def _first_error(e: ValidationError) -> str:
    err = e.errors(include_input=False, include_url=False)[0]
    loc = ".".join(clip(str(x), 60) for x in err["loc"])  # a mapping key is user text too
    msg = clip(err["msg"].removeprefix("Value error, "), MESSAGE_MAX // 2)
    return f"{loc}: {msg}" if loc else msg


def load_suite(path: str | Path) -> Suite:
    p = Path(path)
    if not p.exists():
        raise UserError(f"Suite file {str(p)!r} does not exist.")
    if not p.is_file():
        raise UserError(f"Suite path {str(p)!r} is not a file.")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"Cannot read suite file {str(p)!r}: {e}.") from None
    return parse_suite(text, source=str(p), base=p.resolve().parent)


def parse_suite(text: str, source: str = "<suite>", base: Path | None = None) -> Suite:
    """`base`: the directory relative paths in the suite (user models, evaluation data) start from."""
    try:
        data = load_yaml(text)  # safe loading; bounded once aliases are followed; no key twice
    except RecursionError:
        raise UserError(f"{source}: the YAML is nested too deeply to read.") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = clip(getattr(e, "problem", None) or str(e).splitlines()[0])
        raise UserError(f"{source}: YAML syntax error{where}: {problem}.") from None
    except UserError as e:
        raise UserError(f"{source}: {e}.") from None
    if data is None:
        raise UserError(f"{source}: the suite file is empty. A suite needs at least name, models, "
                        "optimizations and targets.")
    if not isinstance(data, dict):
        raise UserError(f"{source}: a suite must be a mapping (name:, models:, ...), not {type(data).__name__}.")
    try:
        return Suite.model_validate(data, context={"base": base})
    except ValidationError as e:
        raise UserError(f"{source}: invalid suite: {_first_error(e)}.") from None
    except UserError as e:
        raise UserError(f"{source}: {clip(str(e), MESSAGE_MAX)}") from None


def _unsupported(opt, model) -> str:
    """Why an optimization's declared modalities exclude this model, or ""."""
    if opt.modalities is not None and model.modality not in opt.modalities:
        return f"{opt.name} applies to {', '.join(opt.modalities)} models, not {model.modality} models"
    return ""


def _convert(kind: str, wanted: str, blocker: str | None, model) -> tuple[Step | None, str]:
    """The implicit step that turns a `kind` artifact into a `wanted` one, or why there is none."""
    name = CONVERSIONS.get((kind, wanted))
    if name is None:
        return None, f"nothing converts a {kind} model into a {wanted} model"
    if why := _unsupported(OPTIMIZATIONS.get(name), model):
        return None, why
    if blocker is not None:
        return None, f"{blocker} produces a torch model that {name} cannot convert to {wanted}"
    return Step(name=name), ""


def _shape_problem(model, w: Workload) -> str:
    """Why the model cannot take the workload's shape, from what its spec's config says ("" when it
    can, or when the config does not say): a cell that would fail in its first call, known here."""
    cfg = model.config or {}
    if w.seq_len is not None and model.modality == "decoder":
        limit, need = cfg.get("max_positions"), w.seq_len + (w.new_tokens or 1) - 1  # bench.measure.decode
        if limit and need > limit:
            return f"{model.name} has {limit} positions; prompt {w.seq_len} + {w.new_tokens} new tokens needs {need}"
    elif w.seq_len is not None:
        limit = cfg.get("max_position_embeddings") or cfg.get("max_positions")
        if limit and w.seq_len > limit:
            return f"{model.name} has {limit} positions; a sequence of {w.seq_len} tokens does not fit"
    if w.image_size is not None:
        side, native, patch = w.image_size, model.default_size, cfg.get("patch")
        if cfg.get("fixed_size") and side != native:
            why = (f"a fixed position table of {native // patch}x{native // patch} patches of {patch} pixels" if patch
                   else "its layers are sized for that resolution")
            return f"{model.name} takes {native}x{native} images only ({why}), not {side}x{side}"
        if patch and side % patch:
            return f"{model.name} cuts images into {patch}-pixel patches: {side} is not a multiple of {patch}"
    return ""


def check(cell: Cell, on_this_host: bool = True) -> tuple[tuple[Step, ...], str]:
    """Resolve the steps a cell runs (with implicit conversions), or say why it cannot run.

    `on_this_host=False` leaves out what only this machine lacks (a provider its ORT build does not
    have), for cells that will run elsewhere (an edge bundle)."""
    model = MODELS.get(cell.model)
    runtime = RUNTIMES.get(cell.target.runtime)
    if cell.target.device not in runtime.devices:
        return (), f"runtime {runtime.name} does not run on {cell.target.device}"
    if why := _shape_problem(model, cell.workload):
        return (), why
    # blocker: the latest step whose torch model cannot be exported, however many steps follow it.
    kind, last, blocker, resolved = model.artifact_kind, None, None, []
    for step in cell.steps:
        opt = OPTIMIZATIONS.get(step.name)
        if opt.consumes == "any":  # the baseline: the model as it comes, whatever its kind
            resolved.append(step)
            continue
        if opt.families is not None and model.family not in opt.families:
            return (), f"{opt.name} applies to {', '.join(opt.families)} models, not {model.family}"
        if why := _unsupported(opt, model):
            return (), why
        if opt.devices is not None and cell.target.device not in opt.devices:
            return (), f"{opt.name} runs on {', '.join(opt.devices)} only, not {cell.target.device}"
        if opt.consumes != kind:
            conv, why = _convert(kind, opt.consumes, blocker, model)
            if conv is None:
                return (), f"{opt.name} needs a {opt.consumes} model: {why}"
            resolved.append(conv)
        elif kind == "torch" and opt.produces != "torch" and blocker is not None:  # an explicit export
            return (), f"{blocker} produces a torch model that {opt.name} cannot convert to {opt.produces}"
        resolved.append(step)
        kind, last = opt.produces, step.name
        blocker = step.name if kind == "torch" and not opt.exportable else (blocker if kind == "torch" else None)
    if kind != runtime.accepts:
        if runtime.accepts == "torch":
            made = f"{last} produces" if last else f"{model.name} is"
            return (), f"runtime {runtime.name} runs torch models; {made} an {kind} model"
        conv, why = _convert(kind, runtime.accepts, blocker, model)
        if conv is None:
            return (), f"runtime {runtime.name} runs {runtime.accepts} models: {why}"
        resolved.append(conv)
    # What this machine lacks (a provider its ORT build does not have) comes after what no machine
    # could run, so the reason names the more fundamental problem.
    if on_this_host and runtime.unavailable is not None:
        why = runtime.unavailable(cell.target, runtime.parse_options(cell.target.options))
        if why:
            return (), why
    return tuple(resolved), ""


def distinct_targets(targets: list[Target]) -> list[Target]:
    """Targets that share a label, told apart by what differs between them (threads, accelerator type).

    The label is part of the cell id, so two targets differing only in `threads` made one cell and
    the second vanished. Only targets that would collide are renamed (through `name`, which the cell
    JSON keeps): every other label, and so every existing cell id, stays as it was."""
    groups: dict[str, list[Target]] = {}
    for t in targets:
        groups.setdefault(t.label, []).append(t)
    out = []
    for t in targets:
        group = groups[t.label]
        parts = []
        if len(group) > 1 and not t.name:
            if len({g.threads for g in group}) > 1:
                parts.append(f"t{t.threads}")
            if len({g.accelerator_type for g in group}) > 1 and t.accelerator_type:
                parts.append(t.accelerator_type.lower())
        out.append(t.model_copy(update={"name": "-".join([t.label, *parts])}) if parts else t)
    return out


def _same_cell(suite: Suite, targets: list[Target], cell_id: str, a: tuple, b: tuple) -> UserError:
    """Two entries of the suite that make one cell, named by where they are (counting from 1)."""
    what = []
    if a[0] != b[0]:
        what.append(f"models {show(suite.models[a[0]])} and {show(suite.models[b[0]])}")
    if a[1] != b[1]:
        what.append(f"entries {a[1] + 1} and {b[1] + 1} of optimizations "
                    f"({show(chain_label(suite.optimizations[a[1]]))} and {show(chain_label(suite.optimizations[b[1]]))})")
    if a[2] != b[2]:
        what.append(f"entries {a[2] + 1} and {b[2] + 1} of targets (labels {show(targets[a[2]].label)} and "
                    f"{show(targets[b[2]].label)}; a `name:` tells targets apart)")
    if a[3] != b[3]:
        what.append(f"workloads {a[3]} and {b[3]}")
    return UserError(f"Suite {show(suite.name)}: {' and '.join(what)} make the same cell {show(cell_id)}; "
                     "list each combination once.")


def expand(suite: Suite, require_runnable: bool = True) -> Plan:
    """The suite's cells, each planned or skipped with its reason. A run needs at least one runnable
    cell (`require_runnable`); `bench plan` shows a plan of skips too (a GPU suite on a laptop)."""
    plan = Plan(suite)
    default_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    targets = distinct_targets([t if t.threads else t.model_copy(update={"threads": default_threads})
                                for t in suite.targets])
    origin: dict[str, tuple] = {}  # cell id -> (model, chain, target, workload) it came from
    for mi, model_name in enumerate(suite.models):
        model = MODELS.get(model_name)
        # A modality may map two settings to one shape (a real-length range clipped to the sequence
        # length): that is one measurement, planned once.
        workloads: dict[str, Workload] = {}
        for w in MODALITIES.get(model.modality).workloads(suite.workloads, model.default_size):
            workloads.setdefault(w.label, w)
        for workload in workloads.values():
            for ci, steps in enumerate(suite.optimizations):
                for ti, target in enumerate(targets):
                    cell = Cell(model_name, steps, target, workload, suite.measure, evaluation=suite.evaluation,
                                suite_dir=suite.suite_dir, scenarios=scenario_settings(suite))
                    here = (mi, ci, ti, workload.label)
                    there = origin.setdefault(cell.cell_id, here)
                    if there != here:
                        raise _same_cell(suite, targets, cell.cell_id, there, here)
                    if any(rule.matches(cell) for rule in suite.exclude):
                        plan.excluded.append(cell)
                        continue
                    cell.resolved, cell.reason = check(cell)
                    cell.status = "skipped" if cell.reason else "planned"
                    plan.cells.append(cell)
    if not plan.cells:
        raise UserError(f"Suite {show(suite.name)} expands to no cells: every combination was excluded.")
    if require_runnable and not plan.runnable:
        raise UserError(f"Suite {show(suite.name)} has no runnable cell; every combination was skipped "
                        f"(first reason: {plan.skipped[0].reason}).")
    return plan
