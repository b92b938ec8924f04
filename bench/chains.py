"""Optimization steps and chains as suites write them: `a -> b(k=v)`.

Kept apart from bench.suite (which imports the optimization registry, hence torch) so that the
report can read the chains named in bench/reference/published.csv and match them with cells'
`optimization` labels without importing torch.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

_STEP = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\((.*)\))?\s*$")


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in sorted(self.params.items()))})"


def parse_step(raw: Any) -> Step:
    """`"name"`, `"name(k=v, k2=v2)"` or `{name: {k: v}}`."""
    if isinstance(raw, Step):
        return raw
    if isinstance(raw, dict) and len(raw) == 1:
        (name, params), = raw.items()
        if params is not None and not isinstance(params, dict):
            raise ValueError(f"parameters of {name!r} must be a mapping, got {params!r}")
        return Step(name=str(name), params=params or {})
    if isinstance(raw, str):
        m = _STEP.match(raw)
        if not m:
            raise ValueError(f"cannot read optimization step {raw!r}; write it as name or name(key=value)")
        params: dict[str, Any] = {}
        inner = (m.group(2) or "").strip()
        if inner:
            # `k=v, k2=[1, 2]` is a YAML flow mapping once each `key=` becomes `key: `.
            flow = "{" + re.sub(r"(^|,)\s*([A-Za-z_][A-Za-z0-9_]*)\s*=", r"\1 \2: ", inner) + "}"
            try:
                params = yaml.safe_load(flow)
            except (yaml.YAMLError, RecursionError):
                params = None
            if not isinstance(params, dict) or any(v is None and f"{k}=" not in inner.replace(" ", "")
                                                   for k, v in params.items()):
                raise ValueError(f"cannot read the parameters of {raw!r}; write them as key=value, key2=[1, 2]")
        return Step(name=m.group(1), params=params)
    raise ValueError(f"an optimization step is a name or a one-key mapping, got {raw!r}")


def parse_chain(raw: Any) -> tuple[Step, ...]:
    if isinstance(raw, str):
        parts = [p for p in raw.split("->")]
        steps = tuple(parse_step(p) for p in parts)
    elif isinstance(raw, list):
        steps = tuple(parse_step(p) for p in raw)
    else:
        steps = (parse_step(raw),)
    if not steps:
        raise ValueError("an optimization chain needs at least one step")
    return steps


def chain_label(steps: tuple[Step, ...]) -> str:
    return " -> ".join(s.label for s in steps)
