"""Optimization steps and chains as suites write them: `a -> b(k=v)`, and the YAML loader that
reads suites and step parameters.

Kept apart from bench.suite (which imports the optimization registry, hence torch) so that the
report can read the chains named in bench/reference/published.csv and match them with cells'
`optimization` labels without importing torch.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from bench.errors import UserError
from bench.registry import show

# Values in a document once every alias is followed. An honest suite has a few hundred (the survey
# suites 100 to 250); nine levels of nine aliases in 649 bytes make 9^9, which pydantic and the
# error messages would copy out in full (7 GB, then an abort).
MAX_NODES = 100_000


class SuiteLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing what it would silently accept: a repeated mapping key (the
    second `models:` replaced the first) and a value Python cannot build (an integer of more than
    4300 digits, the 13th month), which raised a bare ValueError."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except ValueError as e:  # from int(), date(): the innermost node says which value
            raise UserError(f"the value {show(node.value if isinstance(node, yaml.ScalarNode) else node.tag, 60)} "
                            f"at line {node.start_mark.line + 1} cannot be read ({str(e).split(';')[0]})") from None

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _ in node.value:
                # A merge (`<<: *base`) may be overridden by the mapping's own keys: YAML says so.
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node)
                try:
                    seen = first.setdefault(key, key_node)
                except TypeError:  # unhashable: the safe constructor says so below
                    continue
                if seen is not key_node:
                    lines = seen.start_mark.line + 1, key_node.start_mark.line + 1
                    where = f"on line {lines[0]}" if lines[0] == lines[1] else f"at lines {lines[0]} and {lines[1]}"
                    raise UserError(f"the key {show(key, 60)} appears twice in one mapping, {where}; the second "
                                    "would silently replace the first")
        return super().construct_mapping(node, deep)


def expanded_size(root: yaml.Node, limit: int = MAX_NODES) -> int:
    """Nodes under `root` with every alias expanded, counted up to `limit + 1` (an alias inside its own
    anchor is infinite): each distinct node is visited once, so a bomb is measured in microseconds.
    Iterative, so a document nested as deeply as the parser allows cannot overflow the stack here."""

    def children(node):
        if isinstance(node, yaml.SequenceNode):
            return node.value
        if isinstance(node, yaml.MappingNode):
            return [n for pair in node.value for n in pair]
        return ()

    sizes: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose subtree is being counted: meeting one again is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        if leaving:
            open_.discard(key)
            sizes[key] = min(limit + 1, 1 + sum(sizes[id(c)] for c in children(node)))
        elif key not in sizes:
            if key in open_:
                return limit + 1
            open_.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in children(node))
    return sizes[id(root)]


def load_yaml(text: str, limit: int = MAX_NODES) -> Any:
    """One YAML document, safely: yaml.YAMLError for a syntax error, UserError for a document that
    expands past `limit` values, a repeated key or a value that cannot be built."""
    loader = SuiteLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if expanded_size(node, limit) > limit:
            raise UserError(f"the YAML expands to more than {limit:,} values once its aliases (*name) are "
                            "followed; a suite has a few hundred. Write the values out, or use fewer aliases")
        return loader.construct_document(node)
    finally:
        loader.dispose()

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
            raise ValueError(f"parameters of {show(name)} must be a mapping, got {show(params)}")
        return Step(name=str(name), params=params or {})
    if isinstance(raw, str):
        m = _STEP.match(raw)
        if not m:
            raise ValueError(f"cannot read optimization step {show(raw)}; write it as name or name(key=value)")
        params: dict[str, Any] = {}
        inner = (m.group(2) or "").strip()
        if inner:
            # `k=v, k2=[1, 2]` is a YAML flow mapping once each `key=` becomes `key: `.
            flow = "{" + re.sub(r"(^|,)\s*([A-Za-z_][A-Za-z0-9_]*)\s*=", r"\1 \2: ", inner) + "}"
            why = ""
            try:
                params = load_yaml(flow)
            except (yaml.YAMLError, RecursionError):
                params = None
            except UserError as e:  # too large once aliases are followed, a key twice, an unreadable value
                params, why = None, f" ({e})"
            if not isinstance(params, dict) or any(v is None and f"{k}=" not in inner.replace(" ", "")
                                                   for k, v in params.items()):
                raise ValueError(f"cannot read the parameters of {show(raw)}{why}; write them as key=value, "
                                 "key2=[1, 2]")
        return Step(name=m.group(1), params=params)
    raise ValueError(f"an optimization step is a name or a one-key mapping, got {show(raw)}")


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
