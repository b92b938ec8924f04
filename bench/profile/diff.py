"""Why B is faster than A: two profiles subtracted category by category, and op by op.

A speedup of 2.4x says nothing about where it came from. Subtracting two breakdowns in the same
taxonomy does: int8 made the matmuls 3x faster, added quantize/dequantize work, and left attention
as it was. Each category gets a verdict:

- unchanged: the difference is within 10% of the larger time, or under 1% of A's profiled time
  (profiled op times of one pass vary by a few percent between passes);
- added / removed: one side has (next to) none of it (at most 0.1% of A's time), the other more,
  e.g. quantize/dequantize in an int8 cell;
- faster / slower otherwise, with the ratio and the milliseconds.

The times are the profiled pass's (per inference, profiler overhead included), not the timed
medians; both are shown, so a reader sees how much of the measured difference the profile
accounts for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.profile.table import Profile
from bench.profile.taxonomy import CATEGORIES, LABELS

UNCHANGED_REL = 0.10
NEGLIGIBLE_SHARE = 0.01  # of A's profiled op time
ABSENT_SHARE = 0.001  # at most this share of A's op time: the category is absent from that side
OP_SHARE = 0.005  # ops under this share of A's op time are not listed


def verdict(a: float, b: float, scale: float) -> str:
    tol = max(UNCHANGED_REL * max(a, b), NEGLIGIBLE_SHARE * scale)
    tiny = ABSENT_SHARE * scale
    if a <= tiny < b:  # however small: work the optimization brought (ORT's few unfused DynamicQuantizeLinear)
        return "added"
    if b <= tiny < a:
        return "removed"
    if abs(b - a) <= tol:
        return "unchanged"
    return "faster" if b < a else "slower"


@dataclass
class Change:
    category: str
    a_ms: float
    b_ms: float
    verdict: str
    share_of_saved: float | None = None  # of all the time the categories that got faster saved

    @property
    def delta_ms(self) -> float:
        return self.b_ms - self.a_ms

    @property
    def ratio(self) -> float | None:
        """A over B: above 1, B is faster."""
        return self.a_ms / self.b_ms if self.b_ms > 0 else None


@dataclass
class Attribution:
    a: str
    b: str
    a_total_ms: float
    b_total_ms: float
    changes: list[Change]
    ops_added: list[tuple[str, str, float]] = field(default_factory=list)  # (op, category, ms)
    ops_removed: list[tuple[str, str, float]] = field(default_factory=list)
    ops_changed: list[tuple[str, str, float, float]] = field(default_factory=list)  # (op, category, a, b)
    ops_unchanged: list[tuple[str, str, float]] = field(default_factory=list)
    a_measured_ms: float | None = None
    b_measured_ms: float | None = None
    a_call_ms: float | None = None
    b_call_ms: float | None = None

    def change(self, category: str) -> Change | None:
        return next((c for c in self.changes if c.category == category), None)


def attribute(a: Profile, b: Profile, a_name: str = "A", b_name: str = "B",
              a_measured_ms: float | None = None, b_measured_ms: float | None = None) -> Attribution:
    ca, cb = a.category_ms(), b.category_ms()
    scale = sum(ca.values())
    changes = [Change(c, ca.get(c, 0.0), cb.get(c, 0.0), verdict(ca.get(c, 0.0), cb.get(c, 0.0), scale))
               for c in CATEGORIES if c in ca or c in cb]
    saved = sum(-c.delta_ms for c in changes if c.delta_ms < 0)
    for c in changes:
        c.share_of_saved = (-c.delta_ms / saved) if saved > 0 and c.delta_ms < 0 else None
    changes.sort(key=lambda c: -abs(c.delta_ms))
    out = Attribution(a_name, b_name, scale, sum(cb.values()), changes, a_measured_ms=a_measured_ms,
                      b_measured_ms=b_measured_ms, a_call_ms=a.meta.get("call_ms"), b_call_ms=b.meta.get("call_ms"))
    if "summary" in (a.basis, b.basis):  # a record without its Parquet file: categories only
        return out
    oa, ob = a.op_ms(), b.op_ms()
    floor = OP_SHARE * scale
    for key in sorted(set(oa) | set(ob), key=lambda k: -max(oa.get(k, {}).get("ms", 0), ob.get(k, {}).get("ms", 0))):
        ta, tb = oa.get(key, {}).get("ms", 0.0), ob.get(key, {}).get("ms", 0.0)
        op, cat = key
        if max(ta, tb) < floor:
            continue
        v = verdict(ta, tb, scale)
        if key not in oa or v == "added":
            out.ops_added.append((op, cat, tb))
        elif key not in ob or v == "removed":
            out.ops_removed.append((op, cat, ta))
        elif v == "unchanged":
            out.ops_unchanged.append((op, cat, tb))
        else:
            out.ops_changed.append((op, cat, ta, tb))
    out.ops_changed.sort(key=lambda t: t[3] - t[2])
    return out


def ms(x: float) -> str:
    """Milliseconds to the precision the number can carry: 41, 6.2, 0.35."""
    ax = abs(x)
    return f"{x:.0f}" if ax >= 10 else f"{x:.1f}" if ax >= 1 else f"{x:.2f}"


def describe(c: Change) -> str:
    label = LABELS[c.category]
    if c.verdict == "faster":
        return f"{label} {c.ratio:.1f}x faster ({ms(c.delta_ms)} ms)"
    if c.verdict == "slower":
        return f"{label} {c.b_ms / c.a_ms:.1f}x slower (+{ms(c.delta_ms)} ms)"
    if c.verdict == "added":
        return f"{label} +{ms(c.b_ms)} ms"
    if c.verdict == "removed":
        return f"{label} removed ({ms(-c.a_ms)} ms)"
    return f"{label} unchanged"


def summary_line(att: Attribution, min_share: float = 0.05) -> str:
    """One line: "ort-dynamic-int8: linear/matmul 3.1x faster (-41 ms), quantize/dequantize +6 ms,
    attention unchanged". Unchanged categories are named when they hold `min_share` of A's time."""
    moved = [c for c in att.changes if c.verdict != "unchanged"]
    still = [c for c in att.changes if c.verdict == "unchanged" and att.a_total_ms
             and c.a_ms >= min_share * att.a_total_ms]
    parts = [describe(c) for c in moved] + [describe(c) for c in sorted(still, key=lambda c: -c.a_ms)]
    return f"{att.b}: " + (", ".join(parts) if parts else "no category changed")


def render_text(att: Attribution) -> str:
    """The terminal table of `bench profile-diff`."""
    lines = [f"{att.b} against {att.a}"]
    if att.a_measured_ms and att.b_measured_ms:
        lines.append(f"  timed median:      {ms(att.a_measured_ms)} -> {ms(att.b_measured_ms)} ms "
                     f"({att.a_measured_ms / att.b_measured_ms:.2f}x)")
    lines.append(f"  profiled op time:  {ms(att.a_total_ms)} -> {ms(att.b_total_ms)} ms per inference"
                 + (f" (profiled calls took {ms(att.a_call_ms)} and {ms(att.b_call_ms)} ms)"
                    if att.a_call_ms and att.b_call_ms else ""))
    head = f"  {'category':<20} {'A ms':>8} {'B ms':>8}   {'B against A':<34} share of the time saved"
    lines += ["", f"  A = {att.a}, B = {att.b}; milliseconds per inference, profiled", head,
              "  " + "-" * (len(head) - 2)]
    for c in att.changes:
        share = f"{c.share_of_saved:.0%}" if c.share_of_saved is not None else ""
        change = describe(c).removeprefix(LABELS[c.category]).strip()
        lines.append(f"  {LABELS[c.category]:<20} {ms(c.a_ms):>8} {ms(c.b_ms):>8}   {change:<34} {share}")
    for title, items in (("Added by the optimization", [(o, k, f"+{ms(t)} ms") for o, k, t in att.ops_added]),
                         ("Removed", [(o, k, f"-{ms(t)} ms") for o, k, t in att.ops_removed]),
                         ("Changed", [(o, k, f"{ms(x)} -> {ms(y)} ms") for o, k, x, y in att.ops_changed]),
                         ("Unchanged", [(o, k, f"{ms(t)} ms") for o, k, t in att.ops_unchanged])):
        if items:
            lines += ["", f"  {title}:"] + [f"    {o} ({LABELS[k]}): {t}" for o, k, t in items[:12]]
            if len(items) > 12:
                lines.append(f"    ... and {len(items) - 12} more")
    lines += ["", "  " + summary_line(att)]
    return "\n".join(lines)


def baseline_of(records: list[dict], rec: dict, against: str = "fp32") -> dict | None:
    """The profiled `against` cell of `rec`'s model, target and workload (what it is attributed to)."""
    for r in records:
        if (r.get("optimization") == against and r.get("profile_status") == "ok" and r.get("cell_id") != rec.get("cell_id")
                and all(r.get(k) == rec.get(k) for k in ("model", "target", "workload"))):
            return r
    return None


def names(a: dict, b: dict) -> tuple[str, str]:
    """How the two sides are named: by optimization, or where that is the same, by target and workload."""
    for key in ("optimization", "target", "workload", "cell_id"):
        if a.get(key) != b.get(key):
            return str(a.get(key)), str(b.get(key))
    return "A", "B"


def attribute_records(run_dir, a: dict, b: dict) -> Attribution | None:
    """Attribution of two cells of a run (their Parquet profiles, or their records' sums)."""
    from bench.profile.store import load_profile

    pa, pb = load_profile(run_dir, a), load_profile(run_dir, b)
    if pa is None or pb is None:
        return None
    na, nb = names(a, b)
    measured = "ttft_ms" if a.get("latency_ms_p50") is None else "latency_ms_p50"
    return attribute(pa, pb, na, nb, a.get(measured), b.get(measured))
