"""Fidelity of an optimized model's output against the fp32 reference on identical inputs."""

from __future__ import annotations

import numpy as np


def compare_outputs(out, ref) -> dict[str, float | None]:
    a = np.asarray(out, dtype=np.float64).ravel()
    r = np.asarray(ref, dtype=np.float64).ravel()
    if a.shape != r.shape:
        raise ValueError(f"output has {a.size} values, the reference {r.size}")
    diff = np.abs(a - r)
    cos = float(np.dot(a, r) / (np.linalg.norm(a) * np.linalg.norm(r) + 1e-30))
    result: dict[str, float | None] = {
        "max_abs_err": float(diff.max()),
        "mean_abs_err": float(diff.mean()),
        "cosine_sim": cos,
        "top1_agreement": None,
    }
    return result


def top1_agreement(out, ref) -> float:
    """Share of rows whose argmax over the last axis agrees (for classifier logits)."""
    a = np.asarray(out)
    r = np.asarray(ref)
    return float(np.mean(a.argmax(-1) == r.argmax(-1)))
