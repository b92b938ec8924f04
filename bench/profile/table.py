"""A profile as rows, one per operator (node, kernel) and layer, and the sums the record keeps.

Every runtime's profiler is reduced to the same columns, per inference (the profiled pass's totals
over its calls): `name`, `op_type`, `kind` (op: a torch CPU operator; node: an ONNX Runtime node;
kernel: a GPU kernel), `category`, `how` (which taxonomy rule decided), `layer`, `parent` (the
operator a nested one ran inside), `calls`, `self_ms`, `total_ms`, and the work the op did:
`macs` (counted), `flops` (2 x MACs, or an estimate for ops the MAC counter has no formula for,
`flops_source` says which) and `bytes` (inputs and outputs, each once).

The time a breakdown sums is `self_ms` of one kind of row (the `basis`): CPU operators for a torch
CPU cell, kernels for a torch GPU cell, nodes for ONNX Runtime. Self times of one kind do not
overlap, so categories add up to the profiled operator time and two profiles subtract.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from bench.profile.taxonomy import ACTIVATION, ATTENTION, CATEGORIES, ELEMENTWISE, NORM, OTHER, QUANT

COLUMNS = ("name", "op_type", "kind", "category", "how", "layer", "parent", "provider", "calls", "self_ms",
           "total_ms", "macs", "flops", "flops_source", "bytes")
TOP_N = 5

# FLOPs per output element for ops without a MAC formula: an order of magnitude, enough to place
# softmax, normalization and quantization on the intensity axis of a roofline (where they sit far
# left of any matmul), never used as a count. Data movement does no arithmetic.
ELEMENT_FLOPS = {NORM: 5, ATTENTION: 5, ACTIVATION: 4, ELEMENTWISE: 1, QUANT: 3}


@dataclass
class Profile:
    rows: list[dict]
    meta: dict = field(default_factory=dict)  # runtime, device, basis, profiled calls, call_ms, ...

    @property
    def basis(self) -> str:
        return self.meta.get("basis") or ("kernel" if any(r["kind"] == "kernel" for r in self.rows) else
                                          "node" if any(r["kind"] == "node" for r in self.rows) else "op")

    def timed_rows(self) -> list[dict]:
        """The rows whose self times make the breakdown (one kind: they never overlap)."""
        return [r for r in self.rows if r["kind"] == self.basis]

    def category_ms(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for r in self.timed_rows():
            out[r["category"]] += float(r["self_ms"] or 0.0)
        return {c: out[c] for c in CATEGORIES if c in out}

    def total_ms(self) -> float:
        return sum(self.category_ms().values())

    def op_ms(self) -> dict[tuple[str, str], dict]:
        """Per operator type and category, across layers, largest first: {(op, category): {ms, calls}}.
        An op can be in two categories (ONNX MatMul as a projection and as attention scores; the bias
        copy of a Linear and a free-standing copy): they are kept apart."""
        out: dict[tuple[str, str], dict] = {}
        for r in self.timed_rows():
            d = out.setdefault((r["op_type"] or r["name"], r["category"]), {"ms": 0.0, "calls": 0.0})
            d["ms"] += float(r["self_ms"] or 0.0)
            d["calls"] += float(r["calls"] or 0.0)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]["ms"]))

    def summary(self) -> dict:
        """The record's profile fields (bench.record.Profile)."""
        cats = self.category_ms()
        total = sum(cats.values())
        top = [{"op": op, "category": cat, "ms": round(v["ms"], 6), "calls": round(v["calls"], 3),
                "share": round(v["ms"] / total, 6) if total else None}
               for (op, cat), v in list(self.op_ms().items())[:TOP_N]]
        work = self.category_work()
        return {"profile_basis": self.basis, "profile_op_ms": round(total, 6),
                "profile_category_ms": {c: round(v, 6) for c, v in cats.items()},
                "profile_category_share": {c: round(v / total, 6) if total else 0.0 for c, v in cats.items()},
                "profile_top_ops": top,
                "profile_other_ops": sorted({r["op_type"] or r["name"] for r in self.rows if r["category"] == OTHER}),
                "profile_category_flops": {c: w["flops"] for c, w in work.items() if w["flops"]},
                "profile_category_bytes": {c: w["bytes"] for c, w in work.items() if w["bytes"]}}

    def category_work(self) -> dict[str, dict]:
        """FLOPs (counted or estimated) and bytes per category. The profiler may have summed them
        itself (torch: every counted op, including those no profile row matched); otherwise they
        come from the rows that carry them."""
        if self.meta.get("category_work"):
            return self.meta["category_work"]
        out: dict[str, dict] = {}
        for r in self.rows:
            if r["kind"] == "kernel":  # a kernel's work is its operator's, already on the op row
                continue
            d = out.setdefault(r["category"], {"flops": 0.0, "bytes": 0.0, "counted_flops": 0.0})
            d["flops"] += float(r.get("flops") or 0.0)
            d["bytes"] += float(r.get("bytes") or 0.0)
            if r.get("flops_source") == "counted":
                d["counted_flops"] += float(r.get("flops") or 0.0)
        return out


def category_roofline(category_ms: dict, flops: dict, bytes_: dict) -> list[dict]:
    """Per category: arithmetic intensity and achieved FLOP/s over its profiled time.

    Only categories with both work and time are placed; data movement (no arithmetic) never is."""
    out = []
    for c, ms in category_ms.items():
        f, b = float((flops or {}).get(c) or 0.0), float((bytes_ or {}).get(c) or 0.0)
        if ms and ms > 0 and f > 0 and b > 0:
            out.append({"category": c, "ms": ms, "flops": f, "bytes": b, "intensity": f / b,
                        "flops_per_s": f / (ms / 1e3)})
    return out


def estimate_flops(category: str, out_elements: float, macs: float | None) -> tuple[float | None, str | None]:
    """(FLOPs, source): twice the counted MACs, else the per-element estimate for the category."""
    if macs:
        return 2.0 * float(macs), "counted"
    per = ELEMENT_FLOPS.get(category)
    if per and out_elements:
        return float(per * out_elements), "estimated"
    return None, None
