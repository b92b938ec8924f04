"""Cells as Ray tasks: the scale-out executor (`bench run SUITE --executor ray [--address ADDR]`).

Ray schedules; it does not measure. Each task asks for the resources its target needs
(`num_cpus` = the target's threads; one GPU, of the target's `accelerator_type` if given, for a
CUDA target; `memory` = the cell's memory limit) and, on whichever node Ray picks, starts the same
per-cell child process as the local executor (`run_cell_process`), so crashes, timeouts and OOMs
are caught and recorded the same way. Records travel back to the driver as task results and the
driver writes them into the one run store as tasks finish, so a Ray run's directory is read,
resumed and reported exactly like a local one.

A task on the driver's node works in the run directory itself; a task on another node works in a
private temporary directory on that node, removed when the task ends.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.errors import UserError
from bench.executor import check_interrupted, run_cell_process
from bench.record import base_record, checked
from bench.store import RunStore
from bench.suite import Cell


def require_ray():
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray, which is not installed. Install the extra: "
                        "pip install 'transformer-inference-bench[ray]' (or pip install ray), "
                        "or use the default local executor.") from None
    return ray


def task_options(cell: Cell) -> dict:
    """Ray resource requests for one cell, from its target and measure settings."""
    opts: dict = {"num_cpus": cell.target.threads, "max_retries": 0, "retry_exceptions": False,
                  "name": f"bench-cell:{cell.cell_id}"[:200]}
    if cell.target.device == "cuda":
        opts["num_gpus"] = 1
        if cell.target.accelerator_type:
            opts["accelerator_type"] = cell.target.accelerator_type
    limit_mb = getattr(cell.measure, "memory_limit_mb", None)
    if limit_mb:
        opts["memory"] = limit_mb * 2**20
    return opts


def infeasible(opts: dict, nodes: list[dict]) -> str | None:
    """Why no alive node could ever run a task with `opts` (Ray would wait for it forever)."""
    need = {"CPU": opts.get("num_cpus", 1), "GPU": opts.get("num_gpus", 0), "memory": opts.get("memory", 0)}
    if opts.get("accelerator_type"):
        need[f"accelerator_type:{opts['accelerator_type']}"] = 0.001
    for node in nodes:
        if not node.get("Alive", node.get("alive", True)):
            continue
        res = node.get("Resources", {})
        if all(res.get(k, 0) >= v for k, v in need.items() if v):
            return None
    wanted = ", ".join(f"{k}={v:g}" if k != "memory" else f"memory={v / 2**20:.0f} MB"
                       for k, v in need.items() if v and not k.startswith("accelerator_type:"))
    if opts.get("accelerator_type"):
        wanted += f", accelerator_type={opts['accelerator_type']}"
    return f"no node of the Ray cluster offers {wanted}"


def run_task(cell_json: dict, run_dir: str, run_id: str, driver_node: str, keep_artifacts: bool) -> dict:
    """The body of one Ray task (runs on a worker)."""
    import ray

    cell = Cell.from_json(cell_json)
    node = ray.get_runtime_context().get_node_id()
    here = node == driver_node and (Path(run_dir) / "manifest.json").is_file()
    tmp = None
    if here:
        store = RunStore(Path(run_dir))
    else:
        tmp = Path(tempfile.mkdtemp(prefix=f"bench-{run_id}-"))
        store = RunStore(tmp)
    try:
        rec = run_cell_process(cell, store, run_id, keep_artifacts=keep_artifacts and here)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return checked({**rec, "executor": "ray", "ray_node_id": node, "host": socket.gethostname()})


def _task_failed(cell: Cell, run_id: str, why: str) -> dict:
    return checked({**base_record(cell, run_id), "status": "failed", "failure": "scheduling",
                    "error": why, "executor": "ray"})


def run_on_ray(cells: list[Cell], store: RunStore, run_id: str, emit: Callable[[Cell, dict], None], *,
               address: str | None = None, keep_artifacts: bool = True) -> None:
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as e:
            where = f"at {address!r}" if address else "locally"
            raise UserError(f"Cannot start or reach a Ray cluster {where}: {e}") from None
        started = True
    remote = ray.remote(run_task)
    driver_node = ray.get_runtime_context().get_node_id()
    nodes = ray.nodes()
    pending: dict = {}
    try:
        for cell in cells:
            if cell.status == "skipped":
                emit(cell, checked({**base_record(cell, run_id), "status": "skipped", "error": cell.reason}))
                continue
            opts = task_options(cell)
            why = infeasible(opts, nodes)
            if why:
                emit(cell, _task_failed(cell, run_id, why))
                continue
            ref = remote.options(**opts).remote(cell.to_json(), str(store.dir), run_id, driver_node,
                                                keep_artifacts)
            pending[ref] = cell
        while pending:
            check_interrupted()
            done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in done:
                cell = pending.pop(ref)
                try:
                    rec = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - the worker died or Ray lost the task: a record
                    first = (str(e).strip().splitlines() or [""])[0][:300]
                    rec = {**_task_failed(cell, run_id, f"Ray task failed: {type(e).__name__}: {first}"),
                           "failure": "ray"}
                emit(cell, rec)
    except KeyboardInterrupt:
        for ref in pending:  # killing the worker kills the cell (it dies with its parent)
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
