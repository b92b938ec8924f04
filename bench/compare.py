"""`bench compare RUN_A RUN_B`: what got faster, slower or stayed the same between two runs.

Cells are matched by `cell_id`. Each matched pair goes through bench.measure.stats.compare on
the per-iteration samples, so "slower" means the bootstrap interval of the median ratio excludes
1. With `--fail-on-regression PCT` the command is a CI gate: it exits 1 when a cell is
significantly slower in B and its median grew by more than PCT percent, or when a cell that
finished in A failed in B. A cell contended in either run (bench.measure.contention: other work
competed for its CPUs while it was timed) is listed, marked, and never gated: its interval covers
sampling noise, not a machine that changed between the runs. A run compared with itself never trips the gate (every ratio is 1).
Runs on different hardware (another GPU model, or for CPU runs another CPU model) are compared
but not gated: every cell would "regress" after a runner moved to a slower GPU, and since the
scheduled job compares with its last *successful* run, it would then fail every day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench.errors import UserError

if TYPE_CHECKING:
    from bench.report.data import Run

ENV_KEYS = ["host", "cpu_model", "cpu_count", "platform", "python", "git_commit", "cpu_governor", "gpu", "gpu_uuid",
            "nvidia_driver", "cuda_visible_devices"]


def hardware_key(*envs: dict) -> str:
    """The environment field that names the hardware runs are timed on: the GPU model when any of
    them has one, else the CPU model. `bench compare` gates only within it; `bench history` keeps
    one series per value of it."""
    from bench.report.format import is_missing

    return "gpu" if any(not is_missing(e.get("gpu")) for e in envs) else "cpu_model"


def hardware_change(ea: dict, eb: dict) -> str:
    """What hardware differs between two runs' environments ("" when it is the same, or unknown)."""
    from bench.report.format import is_missing

    key = hardware_key(ea, eb)
    va, vb = ea.get(key), eb.get(key)
    if is_missing(va) or is_missing(vb):  # a run from before the field: nothing to judge by
        return ""
    return f"{key}: A {va} | B {vb}" if str(va) != str(vb) else ""


@dataclass
class Comparison:
    a: Run
    b: Run
    rows: list[dict] = field(default_factory=list)      # matched cells with samples on both sides
    rates: list[dict] = field(default_factory=list)     # matched cells with a sustained server rate on both sides
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    not_comparable: list[dict] = field(default_factory=list)  # matched, but not ok or without samples
    env_diff: list[tuple[str, str, str]] = field(default_factory=list)
    hardware: str = ""  # set when the runs used different hardware: the regression gate does not apply
    shift: str = ""  # set when nearly every cell moved the same way: the machine, or something all cells share

    def regressions(self, pct: float) -> list[dict]:
        # A contended cell measured other work on the machine: shown, marked, never a regression.
        slow = [r for r in self.rows if r["verdict"] == "slower" and r["change_pct"] > pct and not r["contended"]]
        broke = [{"cell_id": n["cell_id"], "why": f"ok in A, {n['status_b']} in B"} for n in self.not_comparable
                 if n["status_a"] == "ok" and n["status_b"] in ("failed", "timeout")]
        return [{"cell_id": r["cell_id"], "why": f"{r['change_pct']:+.1f}% median latency "
                 f"(B/A {r['ratio']:.3f}, 95% CI {r['ratio_low']:.3f}–{r['ratio_high']:.3f})"} for r in slow] + broke


def compare_runs(run_a: Path, run_b: Path) -> Comparison:
    from bench.measure.stats import compare
    from bench.report.data import flag, load_run
    from bench.report.format import is_missing

    a, b = load_run(Path(run_a)), load_run(Path(run_b))
    if a.df.empty or b.df.empty:
        empty = run_a if a.df.empty else run_b
        raise UserError(f"Run {str(empty)!r} has no records to compare.")
    ra, rb = a.df.set_index("cell_id"), b.df.set_index("cell_id")
    # A cell whose record file is unreadable on one side is not "only" on the other: say which.
    bad_a, bad_b = ({f.removesuffix(".json") for f in r.bad_files} for r in (a, b))
    cmp = Comparison(a, b, only_a=sorted(set(ra.index) - set(rb.index) - bad_b),
                     only_b=sorted(set(rb.index) - set(ra.index) - bad_a))
    for cid in sorted((set(ra.index) & bad_b) | (set(rb.index) & bad_a)):
        cmp.not_comparable.append({"cell_id": cid, "status_a": "unreadable" if cid in bad_a else ra.loc[cid]["status"],
                                   "status_b": "unreadable" if cid in bad_b else rb.loc[cid]["status"],
                                   "why": "its record file is unreadable (bench summary names the reason)"})
    for cid in sorted(set(ra.index) & set(rb.index)):
        x, y = ra.loc[cid], rb.loc[cid]
        sa, sb = a.samples.get(cid), b.samples.get(cid)
        if x["status"] != "ok" or y["status"] != "ok" or sa is None or sb is None:
            cmp.not_comparable.append({"cell_id": cid, "status_a": x["status"], "status_b": y["status"],
                                       "why": "no latency samples" if x["status"] == y["status"] == "ok" else ""})
            continue
        c = compare(sb, sa)  # speedup of B over A: median_A / median_B
        ratio = 1 / c["speedup"]
        lo = 1 / c["ci_high"] if not math.isnan(c["ci_high"]) else float("nan")
        hi = 1 / c["ci_low"] if not math.isnan(c["ci_low"]) else float("nan")
        verdict = {"faster": "faster", "slower": "slower"}.get(c["verdict"], c["verdict"])
        cmp.rows.append({"cell_id": cid, "model": x["model"], "optimization": x["optimization"], "target": x["target"],
                         "p50_a": float(x["latency_ms_p50"]), "p50_b": float(y["latency_ms_p50"]),
                         "ratio": ratio, "ratio_low": lo, "ratio_high": hi, "change_pct": (ratio - 1) * 100,
                         "verdict": verdict, "n_a": int(sa.size), "n_b": int(sb.size),
                         "noisy": flag(x.get("noisy")) or flag(y.get("noisy")),
                         "contended": flag(x.get("contended")) or flag(y.get("contended"))})
    cmp.rates = compare_rates(ra, rb)
    cmp.shift = shared_shift(cmp.rows)
    ea, eb = a.manifest.get("environment") or {}, b.manifest.get("environment") or {}
    for k in ENV_KEYS:
        if str(ea.get(k)) != str(eb.get(k)) and not (is_missing(ea.get(k)) and is_missing(eb.get(k))):
            cmp.env_diff.append((k, str(ea.get(k)), str(eb.get(k))))
    cmp.hardware = hardware_change(ea, eb)
    pa, pb = ea.get("packages") or {}, eb.get("packages") or {}
    for k in sorted(set(pa) | set(pb)):
        if pa.get(k) != pb.get(k):
            cmp.env_diff.append((f"package {k}", str(pa.get(k)), str(pb.get(k))))
    return cmp


def _interval(iv: tuple[float, float]) -> str:
    return f"{iv[0]:.4g}-{iv[1]:.4g}" if math.isfinite(iv[1]) else f"at least {iv[0]:.4g}"


SHIFT_MIN_CELLS, SHIFT_SHARE, SHIFT_MIN_PCT = 5, 0.8, 10.0


def shared_shift(rows: list[dict]) -> str:
    """A sentence when nearly every matched cell moved the same way by much: one optimization does not
    slow every model and runtime alike, a slower host or a shared package does. The contention
    signals cannot see a host that is slower under the same name (docs/metrics.md), so this is what
    is left to say it; the gate still applies, the reader decides."""
    import statistics

    rows = [r for r in rows if not r["contended"]]
    if len(rows) < SHIFT_MIN_CELLS:
        return ""
    median = statistics.median(r["change_pct"] for r in rows)
    if abs(median) < SHIFT_MIN_PCT:
        return ""
    word = "slower" if median > 0 else "faster"
    moved = [r for r in rows if r["verdict"] == word]
    if len(moved) >= SHIFT_SHARE * len(rows):
        return (f"{len(moved)} of {len(rows)} cells are {word} in B (median change {median:+.0f}%): a change "
                "every model and runtime shares looks like the machine (a slower or faster host under the "
                "same name, which the contention fields cannot see: docs/metrics.md) or a shared package "
                "(see the environment differences), more than like one optimization")
    return ""


def compare_rates(ra, rb) -> list[dict]:
    """Sustained server rates of matched cells as intervals (from the last rate that met the bound to
    the first that did not): B sustains more or less only when the two intervals do not overlap."""
    from bench.report.scenarios import rate_interval

    out = []
    for cid in sorted(set(ra.index) & set(rb.index)):
        if "server_max_rate_qps" not in ra.columns or "server_max_rate_qps" not in rb.columns:
            break
        ia, ib = rate_interval(ra.loc[cid]), rate_interval(rb.loc[cid])
        if ia is None or ib is None:
            continue
        verdict = ("B sustains more" if ib[0] > ia[1] else "B sustains less" if ib[1] < ia[0]
                   else "no clear difference")
        out.append({"cell_id": cid, "a": ia, "b": ib, "ratio": ib[0] / ia[0] if ia[0] else math.nan, "verdict": verdict})
    return out


def text_table(cmp: Comparison) -> str:
    """The printed summary: one line per matched cell, then what could not be compared."""
    w = max([len(r["cell_id"]) for r in cmp.rows] + [4])
    lines = [f"A = {cmp.a.name}   B = {cmp.b.name}   (B/A < 1: B faster; 95% bootstrap CI of the median ratio)",
             f"{'cell':<{w}}  {'A p50 ms':>9}  {'B p50 ms':>9}  {'B/A':>6}  {'95% CI':>13}  {'change':>8}  verdict"]
    for r in sorted(cmp.rows, key=lambda r: -r["change_pct"]):
        verdict = {"faster": "B faster", "slower": "B SLOWER"}.get(r["verdict"], r["verdict"])
        lines.append(f"{r['cell_id']:<{w}}  {r['p50_a']:>9.3f}  {r['p50_b']:>9.3f}  {r['ratio']:>6.3f}  "
                     f"{r['ratio_low']:>6.3f}–{r['ratio_high']:<6.3f}  {r['change_pct']:>+7.1f}%  {verdict}"
                     + ("  (noisy)" if r["noisy"] else "")
                     + ("  (CONTENDED: not gated)" if r["contended"] else ""))
    counts = {v: sum(r["verdict"] == v for r in cmp.rows) for v in ("faster", "slower", "no significant difference")}
    lines.append(f"{len(cmp.rows)} cells compared: {counts['faster']} faster in B, {counts['slower']} slower in B, "
                 f"{counts['no significant difference']} no significant difference.")
    for n in cmp.not_comparable:
        lines.append(f"not compared: {n['cell_id']} (A {n['status_a']}, B {n['status_b']}{', ' + n['why'] if n['why'] else ''})")
    for cid in cmp.only_a:
        lines.append(f"only in A: {cid}")
    for cid in cmp.only_b:
        lines.append(f"only in B: {cid}")
    for r in cmp.rates:
        lines.append(f"server rate {r['cell_id']}: A {_interval(r['a'])}/s, B {_interval(r['b'])}/s "
                     f"(B/A {r['ratio']:.3f}): {r['verdict']}")
    for k, va, vb in cmp.env_diff:
        lines.append(f"environment differs: {k}: A {va} | B {vb}")
    if cmp.shift:
        lines.append(f"NOTE: {cmp.shift}.")
    return "\n".join(lines)


def render_html(cmp: Comparison, pct: float | None = None) -> str:
    from bench.report import plots
    from bench.report.assets import CSS, JS, csp
    from bench.report.format import esc, table
    from bench.report.html import N, T, _badge, _figure

    rows = []
    for r in sorted(cmp.rows, key=lambda r: -r["change_pct"]):
        verdict = {"faster": "B faster", "slower": "B slower"}.get(r["verdict"], r["verdict"])
        badge = {"B faster": "ok", "B slower": "failed"}.get(verdict, "skipped")
        rows.append([T(r["cell_id"]), T(r["model"]), T(r["optimization"]), T(r["target"]), N(r["p50_a"], "{:.3f}"),
                     N(r["p50_b"], "{:.3f}"), N(r["ratio"], "{:.3f}"),
                     (f"{r['ratio_low']:.3f}–{r['ratio_high']:.3f}", repr(r["ratio_low"])),
                     N(r["change_pct"], "{:+.1f}", suffix="%"),
                     (f'<span class="badge {badge}">{esc(verdict)}</span>' + (" " + _badge("noisy") if r["noisy"] else "")
                      + (" " + _badge("contended") + " not gated" if r["contended"] else ""), verdict)])
    missing = ([[T(c), T("only in A")] for c in cmp.only_a] + [[T(c), T("only in B")] for c in cmp.only_b]
               + [[T(n["cell_id"]), T(f"A {n['status_a']}, B {n['status_b']} {n['why']}".strip())] for n in cmp.not_comparable])
    gate = ""
    if pct is not None and cmp.hardware:
        gate = f'<p class="bad">Regression gate ({pct:g}%) not applied: different hardware ({esc(cmp.hardware)}).</p>'
    elif pct is not None:
        regs = cmp.regressions(pct)
        gate = (f'<p class="bad">Regression gate ({pct:g}%): {len(regs)} cell(s) regressed: '
                + esc("; ".join(f"{g['cell_id']}: {g['why']}" for g in regs)) + "</p>") if regs else \
            f"<p>Regression gate ({pct:g}%): passed.</p>"
    env = table(["", "A", "B"], [[T(k), T(va), T(vb)] for k, va, vb in cmp.env_diff], left=3) if cmp.env_diff \
        else "<p>Same host, CPU, platform, commit and packages.</p>"
    if cmp.shift:
        gate += f'<p class="bad" id="shared-shift">Note: {esc(cmp.shift)}.</p>'
    title = f"Comparison: {cmp.b.name} (B) against {cmp.a.name} (A)"
    body = (f"<h1>{esc(title)}</h1>{gate}<p class=\"note\">B/A is the ratio of median latencies with a bootstrap "
            "95% interval; a verdict is significant when the interval excludes 1. Cells are matched by cell id.</p>"
            '<section id="changes"><h2>Changes</h2>' + _figure(plots.forest_plot(sorted(cmp.rows, key=lambda r: -r["change_pct"])))
            + table(["cell", "model", "optimization", "target", "A p50 ms", "B p50 ms", "B/A", "95% CI", "change",
                      "verdict"], rows, left=4, tid="compare-table", filterable=True) + "</section>"
            + (('<section id="rates"><h2>Sustained server rates</h2><p class="note">Each rate is an interval: from the '
                "highest rate that met the p99 bound to the lowest that did not. B is called higher or lower only "
                "when the intervals do not overlap.</p>" + table(["cell", "A queries/s", "B queries/s", "B/A", "verdict"],
                [[T(r["cell_id"]), T(_interval(r["a"])), T(_interval(r["b"])), N(r["ratio"], "{:.3f}"), T(r["verdict"])]
                 for r in cmp.rates], left=1) + "</section>") if cmp.rates else "")
            + '<section id="unmatched"><h2>Not compared</h2>'
            + (table(["cell", "why"], missing, left=2) if missing else "<p>Every cell matched.</p>") + "</section>"
            + f'<section id="environment"><h2>Environment differences</h2>{env}</section>')
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{csp()}"><link rel="icon" href="data:,">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}<script>{JS}</script></body></html>")
