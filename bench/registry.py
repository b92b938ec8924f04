"""One registry pattern for models, optimizations and runtimes.

Each entry is a spec object with a `name`; registering happens where the thing is defined
(one small file per family), so adding one never means editing a central if-chain.

A spec names its implementation as a "package.module:attribute" string, resolved by `load` when
it first runs: checking a suite then reads every spec without importing torch or ONNX Runtime.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import reprlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from bench.errors import UserError

T = TypeVar("T")

SHOWN = 200  # characters of a value an error message echoes, at most


def clip(text: str, limit: int = SHOWN) -> str:
    """`text` cut to `limit` characters, ending with an ellipsis when cut: error messages quote user
    input, and an alias bomb stringifies to hundreds of megabytes (docs/reliability.md)."""
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, SHOWN, SHOWN
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 8


def show(value: object, limit: int = SHOWN) -> str:
    """A value as an error message quotes it: `repr` for what is short, an abridged repr cut to
    `limit` for the rest, without building the full repr of a huge nested value first."""
    if isinstance(value, str) and len(value) <= limit:
        return repr(value)
    return clip(_REPR.repr(value), limit)


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, spec: T) -> T:
        name = spec.name  # type: ignore[attr-defined]
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._items[name] = spec
        return spec

    def replace(self, spec: T) -> T:
        """Register `spec` under its name whatever was there (a suite redefining its own models)."""
        self._items[spec.name] = spec  # type: ignore[attr-defined]
        return spec

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UserError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        # difflib is quadratic in the name's length: a name longer than any known one matches none.
        text = str(name)
        close = difflib.get_close_matches(text, self._items, n=1, cutoff=0.5) if len(text) <= 100 else []
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"Unknown {self.kind} {show(name)}.{hint} Known: {', '.join(sorted(self._items))}."

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items.values())

    def names(self) -> list[str]:
        return sorted(self._items)


@functools.cache
def load(target: str) -> Any:
    """The object a "package.module:attribute" string names, imported on first use.

    A module that exists but fails on a missing dependency of its own re-raises that error as it
    is, so a missing torchao is not misreported as a misspelt target.
    """
    module_name, sep, attribute = target.partition(":")
    if not (sep and module_name and attribute):
        raise ImportError(f"cannot load {target!r}: expected 'package.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is None or not (module_name == e.name or module_name.startswith(e.name + ".")):
            raise
        raise ImportError(f"cannot load {target!r}: there is no module {e.name!r}") from e
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ImportError(f"cannot load {target!r}: module {module_name!r} has no attribute {attribute!r}") from None


def resolve(impl: str | Callable) -> Callable:
    """A spec's implementation: the callable itself, or the one its "module:attribute" string names."""
    return load(impl) if isinstance(impl, str) else impl
