"""Atomic writes and the run cache: the one place files are written so that no reader sees half.

A cell can be killed at any moment (timeout, OOM, Ctrl-C) and a resumed run or a sibling cell
reads what it left. Every file the package writes for another process to read therefore goes to
a temporary name in the same directory and is renamed into place; a killed writer leaves only a
`.NAME.tmpPID` file, which readers never match and `RunStore.remove_partial_writes` deletes.

The run cache (`results/<run-id>/cache/`) holds values computed once per run and shared by cells
(fp32 reference outputs, static counts, activation estimates, ONNX exports): `cached` computes a
value only when its file is missing, and two cells racing on one key both write a whole file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

V = TypeVar("V")


def fitting_name(ident: str, limit: int, whole: str | None = None) -> str:
    """`ident` as a file name of at most `limit` characters: a longer one keeps its start and ends
    with a hash of `whole` (default: `ident`), so two long names never meet and a name never
    exceeds the 255 bytes most file systems allow."""
    if len(ident) <= limit:
        return ident
    import hashlib

    return f"{ident[:limit - 17]}-{hashlib.sha256((whole or ident).encode()).hexdigest()[:16]}"


def temp_path(path: Path) -> Path:
    """The temporary name a writer of `path` uses: hidden, in the same directory (same filesystem,
    so the rename is atomic), and unique to the writing process. The suffix is kept, because some
    writers (numpy, ONNX) pick the format from it."""
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


def atomic_write(path: Path, write: Callable[[Path], Any], *, fsync: bool = False) -> Path:
    """Call `write(tmp)` to fill a temporary file, then rename it to `path`; on any failure remove
    the temporary file and re-raise. `fsync` makes the data durable before the rename (records and
    manifests, which must survive a machine crash, not only a killed process)."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        write(tmp)
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str, *, fsync: bool = True) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text), fsync=fsync)


def write_json(path: Path, value: Any, **dump: Any) -> Path:
    return atomic_write_text(path, json.dumps(value, **dump), fsync=False)


def cached(path: Path, compute: Callable[[], V], load: Callable[[Path], V], save: Callable[[V, Path], Any]) -> V:
    """`load(path)` if the file exists, else `compute()`, saved atomically with `save(value, tmp)`."""
    path = Path(path)
    if path.exists():
        return load(path)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: save(value, tmp))
    return value


def cached_json(path: Path, compute: Callable[[], V]) -> V:
    return cached(path, compute, lambda p: json.loads(p.read_text()), lambda v, p: p.write_text(json.dumps(v)))


def cached_npy(path: Path, compute: Callable[[], Any]):
    import numpy as np

    return cached(path, compute, np.load, lambda v, p: np.save(p, v))
