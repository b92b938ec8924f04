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

from bench.chains import Step, chain_label, parse_chain, parse_step  # noqa: F401  (re-exported)
from bench.errors import UserError
from bench.measure.contention import CONTENDED_WAIT_SHARE
from bench.measure.noise import DEFAULT_CV_THRESHOLD
from bench.modality import MODALITIES
from bench.optimize import OPTIMIZATIONS
from bench.optimize.base import CONVERSIONS
from bench.runtime import RUNTIMES
from bench.zoo import MODELS, Workload
from bench.zoo.user import ModelDecl, declare, default_name, ensure_registered, parse_model_entry


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

    @field_validator("new_tokens")
    @classmethod
    def _two_tokens(cls, v):
        if any(x < 2 for x in v):
            raise ValueError("new_tokens must be at least 2: the prefill makes the first token, decode the rest")
        return v


class Measure(BaseModel):
    model_config = ConfigDict(extra="forbid")
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
    model_config = ConfigDict(extra="forbid")
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
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"model {twice[0]!r} is listed twice; give each declared model its own `name:`")
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
                    raise ValueError(f"bad parameters for {step.name!r}: {_first_error(e)}") from None
        for i, t in enumerate(self.targets):
            if t.runtime not in RUNTIMES:
                raise ValueError(RUNTIMES.unknown_message(t.runtime))
            self.targets[i] = _configure(RUNTIMES.get(t.runtime), t)
        return self


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
        raise ValueError(f"bad options for target {target.label!r}: {_first_error(e)}") from None
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

    @property
    def optimization(self) -> str:
        return chain_label(self.steps)

    @property
    def cell_id(self) -> str:
        raw = f"{self.model}.{self.optimization}.{self.target.label}.{self.workload.label}"
        return re.sub(r"[^A-Za-z0-9_.=\-]+", "_", raw.replace(" -> ", "+"))

    def to_json(self) -> dict:
        return {
            "cell_id": self.cell_id, "model": self.model, "optimization": self.optimization,
            "steps": [s.model_dump() for s in self.steps], "resolved": [s.model_dump() for s in self.resolved],
            "target": self.target.model_dump(), "workload": vars(self.workload),
            "measure": self.measure.model_dump(), "status": self.status, "reason": self.reason,
            "model_declaration": MODELS.get(self.model).declaration if self.model in MODELS else None,
            "evaluation": self.evaluation, "suite_dir": self.suite_dir,
        }

    @classmethod
    def from_json(cls, d: dict) -> Cell:
        ensure_registered(d.get("model_declaration"))  # a user model: the same spec as the planner's
        return cls(model=d["model"], steps=tuple(Step(**s) for s in d["steps"]),
                   target=Target(**d["target"]), workload=Workload(**d["workload"]),
                   measure=Measure(**d["measure"]), resolved=tuple(Step(**s) for s in d["resolved"]),
                   status=d["status"], reason=d["reason"], evaluation=d.get("evaluation"),
                   suite_dir=d.get("suite_dir"))


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
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
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
        data = yaml.safe_load(text)
    except RecursionError:
        raise UserError(f"{source}: the YAML is nested too deeply to read.") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"{source}: YAML syntax error{where}: {problem}.") from None
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
        raise UserError(f"{source}: {e}") from None


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


def check(cell: Cell, on_this_host: bool = True) -> tuple[tuple[Step, ...], str]:
    """Resolve the steps a cell runs (with implicit conversions), or say why it cannot run.

    `on_this_host=False` leaves out what only this machine lacks (a provider its ORT build does not
    have), for cells that will run elsewhere (an edge bundle)."""
    model = MODELS.get(cell.model)
    runtime = RUNTIMES.get(cell.target.runtime)
    if cell.target.device not in runtime.devices:
        return (), f"runtime {runtime.name} does not run on {cell.target.device}"
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


def expand(suite: Suite) -> Plan:
    plan = Plan(suite)
    default_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    targets = [t if t.threads else t.model_copy(update={"threads": default_threads}) for t in suite.targets]
    seen: set[str] = set()
    for model_name in suite.models:
        model = MODELS.get(model_name)
        for workload in MODALITIES.get(model.modality).workloads(suite.workloads, model.default_size):
            for steps in suite.optimizations:
                for target in targets:
                    cell = Cell(model_name, steps, target, workload, suite.measure, evaluation=suite.evaluation,
                                suite_dir=suite.suite_dir)
                    if cell.cell_id in seen:
                        continue
                    seen.add(cell.cell_id)
                    if any(rule.matches(cell) for rule in suite.exclude):
                        plan.excluded.append(cell)
                        continue
                    cell.resolved, cell.reason = check(cell)
                    cell.status = "skipped" if cell.reason else "planned"
                    plan.cells.append(cell)
    if not plan.cells:
        raise UserError(f"Suite {suite.name!r} expands to no cells: every combination was excluded.")
    if not plan.runnable:
        raise UserError(f"Suite {suite.name!r} has no runnable cell; every combination was skipped "
                        f"(first reason: {plan.skipped[0].reason}).")
    return plan
