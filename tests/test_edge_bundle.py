"""An emulated edge cell end to end, and the bundle round trip: export -> run.py with plain python -> import."""

import json
import subprocess
import sys

import numpy as np
import pytest

from bench.errors import UserError
from tests.conftest import ROOT

SUITE = """
name: edge-rt
models: [tinybert-4]
optimizations: [ort-dynamic-int8]
targets:
  - {runtime: onnxruntime-edge, options: {profile: rpi5}}
  - {runtime: onnxruntime-edge, options: {profile: rpi5}, provider: xnnpack}
workloads: {batch_sizes: [1], seq_lens: [16]}
measure: {warmup_iters: 1, warmup_s: 0, min_time_s: 0.05, max_time_s: 0.5, min_samples: 5, timeout_s: 120, retries: 0}
"""

FAST = ["--min-time-s", "0.05", "--max-time-s", "0.5", "--min-samples", "5", "--warmup-s", "0"]


@pytest.fixture(scope="module")
def edge_run(tmp_path_factory):
    """One emulated cell, run in-process by the cell code, stored in a run directory."""
    from bench.cell import run_cell
    from bench.record import base_record
    from bench.store import RunStore
    from bench.suite import expand, parse_suite

    root = tmp_path_factory.mktemp("edge")
    suite_path = root / "edge.yaml"
    suite_path.write_text(SUITE)
    plan = expand(parse_suite(SUITE))
    cell = plan.runnable[0]
    store = RunStore.create(root / "results", "edge-rt")
    store.write_manifest({"run_id": "edge-rt", "suite_name": "edge-rt", "cells": [c.to_json() for c in plan.cells]})
    scratch = store.scratch_dir / cell.cell_id
    scratch.mkdir(parents=True)
    rec = run_cell(cell.to_json(), store.cache_dir, scratch)
    record = {**base_record(cell, "edge-rt"), **rec, "status": "ok", "error": None}
    store.write_record(record)
    return root, suite_path, store, record


def test_emulated_record_is_labelled_and_projected(edge_run):
    _, _, _, r = edge_run
    assert r["emulated"] is True and r["edge_profile"] == "rpi5" and r["edge_device"] == "raspberry-pi-5"
    assert r["threads"] == 4 and r["runtime_info"]["ort_intra_op_num_threads"] == 4
    assert r["precision"] == "int8-dynamic" and r["cosine_sim"] > 0.99
    # the projection uses the record's own FLOPs and bytes
    assert r["projected_arithmetic_intensity"] > 0
    expected_ms = r["flops"] / r["projected_attainable_flops_per_s"] * 1e3
    assert r["projected_latency_ms"] == pytest.approx(expected_ms)
    assert r["projected_energy_j"] is None  # the Pi has no power figure with a source
    assert "int8" in r["projection_assumptions"] and "roofline" in r["projection_assumptions"]
    assert r["edge_memory_within_budget"] is True


@pytest.fixture(scope="module")
def bundle(edge_run):
    from bench.edge.bundle import export_bundle

    root, suite_path, _, _ = edge_run
    out = root / "bundle"
    manifest = export_bundle(suite_path, out)
    return out, manifest


def test_bundle_contents(bundle):
    out, m = bundle
    # the xnnpack cell is skipped on this host's ORT but kept for the device, with XNNPACK required
    assert [c["required_provider"] for c in m["cells"]] == [None, "XnnpackExecutionProvider"]
    cpu = m["cells"][0]
    assert cpu["threads"] == 4 and cpu["providers"] == ["XnnpackExecutionProvider", "CPUExecutionProvider"]
    assert (out / cpu["model_file"]).is_file() and (out / "run.py").is_file()
    assert m["cells"][0]["model_file"] == m["cells"][1]["model_file"]  # one copy of a shared model
    assert set(cpu["inputs"]) == {"input_ids", "attention_mask"}
    ids = np.load(out / cpu["inputs"]["input_ids"])
    assert ids.shape == (1, 16)
    assert cpu["record"]["projected_latency_ms"] > 0 and cpu["record"]["flops"] > 0
    assert json.loads((out / "bundle.json").read_text())["bundle_id"] == m["bundle_id"]


def test_export_refuses_a_suite_without_edge_targets(tmp_path):
    from bench.edge.bundle import export_bundle

    p = tmp_path / "s.yaml"
    p.write_text(SUITE.replace("onnxruntime-edge, options: {profile: rpi5}", "onnxruntime"))
    with pytest.raises(UserError, match="no runnable onnxruntime-edge target"):
        export_bundle(p, tmp_path / "b")


@pytest.fixture(scope="module")
def device_results(bundle, tmp_path_factory):
    out, _ = bundle
    results = tmp_path_factory.mktemp("device") / "results"
    # Plain python, isolated (-I: no PYTHONPATH, no user site), from another directory: the runner
    # must work with onnxruntime and numpy alone. The check after it proves torch and bench stayed out.
    code = ("import runpy, sys; sys.argv = ['run.py', '--out', sys.argv[1], *sys.argv[2:]]\n"
            "try:\n    runpy.run_path(sys.argv[0].replace('run.py', '') + 'run.py', run_name='__main__')\n"
            "except SystemExit as e:\n    code = e.code\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'bench', 'transformers')]\n"
            "assert not bad, bad\nsys.exit(code)\n")
    proc = subprocess.run([sys.executable, "-I", "-c", code.replace("sys.argv[0].replace('run.py', '')", repr(str(out) + "/")),
                           str(results), *FAST], capture_output=True, text=True, cwd=results.parent, timeout=300)
    return results, proc


def test_runner_writes_device_records(device_results):
    results, proc = device_results
    import onnxruntime

    has_xnnpack = "XnnpackExecutionProvider" in onnxruntime.get_available_providers()
    assert proc.returncode == (0 if has_xnnpack else 1), proc.stdout + proc.stderr
    recs = {p.name: json.loads(p.read_text()) for p in (results / "records").glob("*.json")}
    assert len(recs) == 2
    ok = [r for r in recs.values() if r["status"] == "ok"]
    assert ok and all(r["emulated"] is False and r["cell_id"].endswith(".on-device") for r in recs.values())
    r = ok[0]
    assert r["target"] == "onnxruntime-edge-cpu-rpi5@device" and r["n_samples"] >= 5
    assert r["cosine_sim"] > 0.999 and r["latency_ms_p50"] > 0 and len(r["latency_samples_ms"]) == r["n_samples"]
    assert r["measured_on"]["onnxruntime"] == onnxruntime.__version__
    if not has_xnnpack:
        failed = [x for x in recs.values() if x["status"] == "failed"]
        assert "XnnpackExecutionProvider is not in this ONNX Runtime build" in failed[0]["error"]
    summary = json.loads((results / "bundle_results.json").read_text())
    assert summary["device_run_id"] == r["device_run_id"]


def test_import_merges_once_and_refuses_another_device_run(edge_run, device_results, cli):
    _, _, store, _ = edge_run
    results, _ = device_results
    res = cli("import", results, store.dir)
    assert res.returncode == 0, res.stderr
    assert "2 new" in res.stdout
    from bench.edge.importer import import_results
    from bench.report.markdown import summary_markdown
    from bench.store import load_records, read_manifest

    again = import_results(results, store.dir)
    assert again["added"] == [] and len(again["unchanged"]) == 2

    df, _ = load_records(store.dir)
    assert len(df) == 3 and df.cell_id.is_unique  # one emulated cell + two device records, no duplicate
    assert set(df.run_id) == {"edge-rt"}
    assert sorted(df.emulated.tolist()) == [False, False, True]
    assert len(read_manifest(store.dir)["imports"]) == 1
    # results of another device run for the same cells are refused, then replace on request
    rec_path = next((results / "records").glob("*.json"))
    other = results.parent / "other"
    (other / "records").mkdir(parents=True)
    (other / "bundle_results.json").write_text((results / "bundle_results.json").read_text())
    r = json.loads(rec_path.read_text())
    (other / "records" / rec_path.name).write_text(json.dumps({**r, "device_run_id": "someone-else"}))
    refused = cli("import", other, store.dir)
    assert refused.returncode == 2 and "--replace" in refused.stderr
    assert import_results(other, store.dir, replace=True)["replaced"] == [r["cell_id"]]
    assert json.loads((store.records_dir / rec_path.name).read_text())["device_run_id"] == "someone-else"
    assert "| onnxruntime-edge-cpu-rpi5@device |" in summary_markdown(store.dir)


def test_import_rejects_what_is_not_bundle_results(edge_run, tmp_path):
    from bench.edge.importer import import_results

    _, _, store, _ = edge_run
    with pytest.raises(UserError, match="bundle_results.json"):
        import_results(tmp_path, store.dir)
    (tmp_path / "bundle_results.json").write_text("{}")
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "x.json").write_text(json.dumps({"cell_id": "x", "status": "ok"}))
    with pytest.raises(UserError, match="not a device record"):
        import_results(tmp_path, store.dir)


def test_runner_statistics_match_the_suite_s():
    from bench.edge import runner
    from bench.measure.stats import summarize

    samples = list(np.random.default_rng(1).gamma(5, 1, size=150))
    assert runner.summarize(samples) == pytest.approx(summarize(samples), nan_ok=True)
    assert runner.summarize(samples[:7]) == pytest.approx(summarize(samples[:7]), nan_ok=True)


def test_runner_chooses_providers_the_device_has():
    from bench.edge.runner import choose_providers

    cell = {"providers": ["XnnpackExecutionProvider", "CPUExecutionProvider"], "required_provider": None}
    assert choose_providers(cell, ["CPUExecutionProvider"]) == (["CPUExecutionProvider"], "")
    assert choose_providers(cell, ["XnnpackExecutionProvider", "CPUExecutionProvider"])[0][0] == "XnnpackExecutionProvider"
    trt = {"providers": ["TensorrtExecutionProvider"], "required_provider": "TensorrtExecutionProvider"}
    chosen, why = choose_providers(trt, ["CPUExecutionProvider"])
    assert chosen is None and "TensorrtExecutionProvider is not in this ONNX Runtime build" in why
    assert ROOT.joinpath("bench/edge/runner.py").read_text().count("import bench") == 0


def test_bundle_counts_a_pruned_model_as_the_cell_does(tmp_path):
    """One pipeline: the bundle's static metrics for a head-pruned DeiT are the cell path's (the
    bundle once counted the unpruned model: 1.254 GMACs and 5.72M parameters for 0.902 and 4.53M)."""
    from bench.edge.bundle import export_bundle
    from bench.pipeline import PhaseTimer, optimize, prepare, static_fields
    from bench.suite import expand, parse_suite

    suite = tmp_path / "pruned.yaml"
    suite.write_text("name: pruned-edge\nmodels: [deit-ti]\noptimizations: ['prune-heads(ratio=0.5)']\n"
                     "targets: [{runtime: onnxruntime-edge, options: {profile: rpi5}}]\n")
    cell = expand(parse_suite(suite.read_text())).runnable[0]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    prep = prepare(cell, tmp_path / "cache", scratch, PhaseTimer())
    cell_static = static_fields(prep, optimize(prep, PhaseTimer()))
    rec = export_bundle(suite, tmp_path / "bundle")["cells"][0]["record"]
    assert rec["macs"] == cell_static["macs"] and rec["params"] == cell_static["params"]
    assert rec["macs"] == pytest.approx(0.902e9, rel=0.01) and rec["params"] == pytest.approx(4.53e6, rel=0.01)
    assert rec["macs"] < 0.75 * prep.spec.closed_form_macs(cell.workload)  # not the unpruned model's
