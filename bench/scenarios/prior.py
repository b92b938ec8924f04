"""A server bound that an earlier run already shows cannot be met, refused at plan time.

No plan can know a latency before it is measured, but the results directory often has one: the
same cell (model, optimization, target with its threads, workload) timed on the same hardware.
When that run's single-stream median per item is above the suite's p99 bound even at the low end
of its 95% interval, and the cell was not contended, no rate can meet the bound, and the suite
says so before building anything. Without such a run the cell finds out itself, after its
single-stream timing, and records "infeasible" (bench/scenarios/run.py).

Light on purpose (json and os only): `bench plan` stays under a second.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench.errors import UserError

MAX_RUNS = 50  # the newest run directories looked at: enough history, a bounded plan time


def _this_hardware() -> dict:
    from bench.measure.env import cpu_model

    return {"cpu_model": cpu_model(), "cpu_count": os.cpu_count()}


def _same_cpu(env: dict, here: dict) -> bool:
    """The CPU name alone is weak ("AMD EPYC" on a 2-core VM and on a 96-core server): the core
    count must match too. GPU cells are not judged: naming the GPU here would need a driver call."""
    return bool(env.get("cpu_model")) and env.get("cpu_model") == here["cpu_model"] \
        and env.get("cpu_count") == here["cpu_count"]


def _runs_newest_first(results_dir: Path) -> list[Path]:
    try:
        runs = [p for p in results_dir.iterdir() if (p / "manifest.json").is_file() and not p.is_symlink()]
    except OSError:
        return []
    return sorted(runs, key=lambda p: (p / "manifest.json").stat().st_mtime, reverse=True)[:MAX_RUNS]


def prior_single_stream(results_dir: Path, threads: dict[str, int]) -> dict[str, tuple[float, float, str]]:
    """cell id -> (median ms per item, CI low ms per item, run id) from the newest run on this
    hardware that timed the cell, at the same thread count, without contention."""
    cell_ids = set(threads)
    here, found = _this_hardware(), {}
    for run in _runs_newest_first(results_dir):
        todo = cell_ids - set(found)
        if not todo:
            break
        try:
            env = json.loads((run / "manifest.json").read_text()).get("environment") or {}
        except (OSError, ValueError):
            continue
        if not isinstance(env, dict) or not _same_cpu(env, here):
            continue
        for cid in todo:
            try:
                rec = json.loads((run / "records" / f"{cid}.json").read_text())
                batch = int(rec.get("batch_size") or 1)
                p50, low = float(rec["latency_ms_p50"]) / batch, float(rec["latency_ms_ci_low"]) / batch
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if rec.get("status") == "ok" and rec.get("contended") is False and rec.get("threads") == threads[cid] \
                    and 0 < low <= p50:
                found[cid] = (p50, low, run.name)
    return found


def check_server_bounds(plan, results_dir: Path) -> None:
    """Refuse a server bound that an earlier run on this hardware shows no rate can meet."""
    cells = {c.cell_id: c for c in plan.runnable
             if "server" in (c.scenarios or {}) and c.target.device == "cpu" and c.workload.new_tokens is None}
    if not cells:
        return
    for cid, (p50, low, run_id) in sorted(prior_single_stream(results_dir, {k: c.target.threads for k, c in cells.items()}).items()):
        bound = cells[cid].scenarios["server"]["p99_bound_ms"]
        if low > bound:
            raise UserError(f"server.p99_bound_ms ({bound:g} ms) is below the single-stream latency of {cid} "
                            f"on this hardware: {p50:.3g} ms per query (95% CI from {low:.3g} ms) in run "
                            f"{run_id}, so no rate can meet it; raise the bound, or pass --ignore-prior to "
                            "measure again")
