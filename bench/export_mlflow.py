"""A run into a local MLflow store (a folder), for teams whose dashboards are MLflow's.

The export writes MLflow's file store under a folder, never to a tracking URI: a URI may name a
remote server, and exporting a run should not send it anywhere by accident. Point MLflow at the
folder to browse it, or copy it into a server with `mlflow migrate-filestore` (docs/history.md).

Layout: one experiment per suite ("bench: <suite>"); one MLflow run per bench run, tagged with
its run id, commit and hardware; under it one nested run per cell, with model, optimization,
target and workload as params and the cell's figures as metrics, stamped with the time the bench
run started. Exports of successive runs into one folder accumulate, so MLflow's own charts show
the history; the same run exported twice is refused, since it would count twice there.

MLflow 3 refuses the file store ("maintenance mode") unless MLFLOW_ALLOW_FILE_STORE is set; the
export sets it around its own calls and nowhere else.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bench.errors import UserError

if TYPE_CHECKING:
    from bench.report.data import Run

METRICS = ["latency_ms_p50", "latency_ms_ci_low", "latency_ms_ci_high", "latency_ms_mean", "n_samples",
           "energy_j_per_item", "energy_j_per_inference", "peak_rss_infer_bytes", "cuda_peak_allocated_bytes",
           "cosine_sim", "max_abs_err", "top1_agreement", "accuracy"]
PARAMS = ["model", "optimization", "target", "workload", "runtime", "device", "batch_size", "threads", "precision"]
TAGS = ["status", "contended", "noisy", "energy_source", "accuracy_metric", "error"]


@contextmanager
def _file_store_allowed():
    old = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
        else:
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = old


def client(store: Path):
    """An MLflow client on the file store in `store`; a clear error where MLflow is not installed."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UserError("The MLflow export needs MLflow: pip install 'transformer-inference-bench[mlflow]' "
                        "(or mlflow-skinny).") from None
    return MlflowClient(tracking_uri=Path(store).resolve().as_uri())


def experiment_name(run: Run) -> str:
    return f"bench: {run.manifest.get('suite_name') or 'suite'}"


def to_mlflow(run: Run, store: Path) -> int:
    """Log the run into the store; returns the number of cells logged."""
    from bench.report.format import is_missing, to_float

    store = Path(store)
    if store.exists() and not store.is_dir():
        raise UserError(f"{str(store)!r} is a file; the MLflow export writes a folder.")
    store.mkdir(parents=True, exist_ok=True)
    env = run.manifest.get("environment") or {}
    started = run.manifest.get("started_at")
    import pandas as pd

    ts = pd.Timestamp(started) if started else pd.Timestamp.now(tz="UTC")
    ms = int((ts.tz_localize("UTC") if ts.tzinfo is None else ts).timestamp() * 1000)
    with _file_store_allowed():
        c = client(store)
        from mlflow.entities import Metric, Param, RunTag

        exp = c.get_experiment_by_name(experiment_name(run))
        eid = exp.experiment_id if exp else c.create_experiment(experiment_name(run))
        if c.search_runs([eid], filter_string=f"tags.`bench.run_id` = '{run.name}'", max_results=1):
            raise UserError(f"Run {run.name!r} is already in the MLflow store {str(store)!r}.")
        parent = c.create_run(eid, start_time=ms, run_name=run.name, tags={
            "bench.run_id": run.name, "bench.suite": str(run.manifest.get("suite_name") or ""),
            "mlflow.source.git.commit": str(env.get("git_commit") or "").removesuffix("+dirty"),
            "bench.commit": str(env.get("git_commit") or ""), "bench.hardware": str(env.get("gpu") or env.get("cpu_model") or ""),
            "bench.host": str(env.get("host") or "")}).info.run_id
        n = 0
        for r in run.df.to_dict("records"):
            tags = {"mlflow.parentRunId": parent, "bench.run_id": run.name, "bench.cell_id": str(r["cell_id"])}
            tags.update({f"bench.{k}": str(r[k])[:5000] for k in TAGS if k in r and not is_missing(r[k])})
            child = c.create_run(eid, start_time=ms, run_name=str(r["cell_id"]), tags=tags).info.run_id
            metrics = [Metric(k, v, ms, 0) for k in METRICS if (v := to_float(r.get(k))) is not None]
            params = [Param(k, str(r[k])) for k in PARAMS if k in r and not is_missing(r[k])]
            c.log_batch(child, metrics=metrics, params=params, tags=[RunTag("bench.exported_by", "bench export")])
            c.set_terminated(child, status="FINISHED" if r.get("status") == "ok" else "FAILED", end_time=ms)
            n += 1
        c.set_terminated(parent, status="FINISHED", end_time=ms)
    return n


def read_back(store: Path, run_id: str) -> dict[str, dict[str, float]]:
    """The metrics of each cell of a bench run, as MLflow stores them: cell id -> {metric: value}."""
    with _file_store_allowed():
        c = client(store)
        out = {}
        for exp in c.search_experiments():
            for r in c.search_runs([exp.experiment_id], filter_string=f"tags.`bench.run_id` = '{run_id}'",
                                   max_results=50_000):
                if "bench.cell_id" in r.data.tags:
                    out[r.data.tags["bench.cell_id"]] = dict(r.data.metrics)
        return out
