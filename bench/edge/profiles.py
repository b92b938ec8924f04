"""Edge profiles as data (profiles.yaml): the threads, precisions and memory budget a board allows."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from bench.errors import UserError

PROFILES_FILE = Path(__file__).with_name("profiles.yaml")


@dataclass(frozen=True)
class EdgeProfile:
    name: str
    device: str  # a spec name in bench/hardware/edge.yaml
    description: str
    threads: int
    precisions: tuple[str, ...]
    memory_budget_bytes: int
    providers: tuple[str, ...]  # tried in order by the bundle's runner on the real device


@cache
def load_profiles() -> dict[str, EdgeProfile]:
    out: dict[str, EdgeProfile] = {}
    for raw in yaml.safe_load(PROFILES_FILE.read_text()):
        p = EdgeProfile(name=raw["name"], device=raw["device"], description=raw["description"],
                        threads=int(raw["threads"]), precisions=tuple(raw["precisions"]),
                        memory_budget_bytes=int(raw["memory_budget_bytes"]), providers=tuple(raw["providers"]))
        if p.name in out:
            raise ValueError(f"edge profile {p.name!r} defined twice")
        out[p.name] = p
    return out


def get_profile(name: str) -> EdgeProfile:
    profiles = load_profiles()
    if name not in profiles:
        raise UserError(f"Unknown edge profile {name!r}. Known: {', '.join(sorted(profiles))}.")
    return profiles[name]


def precision_family(precision: str) -> str:
    """"int8-dynamic" -> "int8": the number format the profile must allow and the peak to project with."""
    return precision.split("-", 1)[0].lower()
