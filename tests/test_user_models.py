"""Models a suite brings (hf:, timm:, onnx:, factory:), their provenance, and the bad input around them."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from bench.cli import main
from tests import user_models as um

MEASURE = "measure: {warmup_iters: 1, warmup_s: 0, min_time_s: 0.05, max_time_s: 0.3, min_samples: 5, retries: 0}\n"


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return um.tiny_encoder(tmp_path_factory.mktemp("hf") / "tiny-encoder")


def plan(tmp_path, models_yaml: str, optimizations="[fp32]", targets="[{runtime: torch, threads: 1}]",
         extra: str = ""):
    from bench.suite import expand, load_suite

    suite = tmp_path / "suite.yaml"
    suite.write_text(f"name: user\nmodels: {models_yaml}\noptimizations: {optimizations}\ntargets: {targets}\n"
                     f"workloads: {{batch_sizes: [2], seq_lens: [16]}}\n{MEASURE}{extra}")
    return expand(load_suite(suite))


def run(cell, tmp_path) -> dict:
    from bench.cell import run_cell

    scratch = tmp_path / "scratch" / cell.cell_id
    scratch.mkdir(parents=True, exist_ok=True)
    return run_cell(json.loads(json.dumps(cell.to_json())), tmp_path / "cache", scratch)


def test_hf_directory_runs_on_both_runtimes_with_its_provenance(encoder_dir, tmp_path):
    from bench.measure.flops import count_params
    from bench.zoo.user_build import hf_model

    p = plan(tmp_path, f"[{{name: tiny, hf: {str(encoder_dir)!r}}}]",
             targets="[{runtime: torch, threads: 1}, {runtime: onnxruntime, threads: 1}]")
    assert [c.status for c in p.cells] == ["planned", "planned"]
    recs = [run(c, tmp_path) for c in p.runnable]
    digest = hashlib.sha256(b"model.safetensors\0" + (encoder_dir / "model.safetensors").read_bytes()).hexdigest()
    for r in recs:
        assert r["weights_kind"] == "hf" and r["weights_source"] == f"hf:{encoder_dir}"
        assert r["weights_sha256"] == digest and r["cost_source"] == "none" and r["macs_closed_form"] is None
        assert r["params"] == count_params(hf_model(str(encoder_dir), "feature-extraction"))
        assert r["macs"] > 0 and r["latency_ms_p50"] > 0
    assert recs[0]["max_abs_err"] == 0 and recs[1]["max_abs_err"] < 1e-4  # ORT runs the same weights


def test_hub_id_is_resolved_from_the_cache_and_its_commit_recorded(encoder_dir, tmp_path, monkeypatch):
    """A hub id found in the local cache plans offline; the snapshot's directory name is the commit."""
    import shutil

    snap = tmp_path / "hub" / "models--org--tiny" / "snapshots" / ("c0ffee" * 6 + "abcd")
    shutil.copytree(encoder_dir, snap)
    (tmp_path / "hub" / "models--org--tiny" / "refs").mkdir()
    (tmp_path / "hub" / "models--org--tiny" / "refs" / "main").write_text(snap.name)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    p = plan(tmp_path, "['hf:org/tiny']")
    from bench.zoo import MODELS

    w = MODELS.get(p.cells[0].model).weights
    assert w["revision"] == snap.name and w["path"] == str(snap.resolve())


def test_timm_checkpoint_file(tmp_path):
    import timm

    ckpt = um.tiny_vit_checkpoint(tmp_path / "vit.pth")
    p = plan(tmp_path, f"[{{name: my-vit, timm: test_vit, checkpoint: {str(ckpt)!r}, num_classes: 10}}]")
    (cell,) = p.runnable
    r = run(cell, tmp_path)
    assert r["family"] == "vit" and r["weights_kind"] == "timm" and r["image_size"] == 160
    assert r["weights_sha256"] == hashlib.sha256(b"vit.pth\0" + ckpt.read_bytes()).hexdigest()
    from bench.zoo import MODELS

    spec = MODELS.get("my-vit")
    net = timm.create_model("test_vit", num_classes=10)
    net.load_state_dict(torch.load(ckpt))
    x = spec.inputs(cell.workload, 0)["pixel_values"]
    with torch.inference_mode():
        assert torch.equal(spec.build(0)(pixel_values=x), net.eval()(x))  # the checkpoint's weights, not seeded ones


def test_onnx_file_runs_from_onnx_and_is_counted_on_its_graph(encoder_dir, tmp_path):
    from bench.measure.flops import count_macs
    from bench.zoo.user_build import hf_model

    path = um.onnx_export(encoder_dir, tmp_path / "enc.onnx")
    p = plan(tmp_path, f"['onnx:{path}']", optimizations="[fp32, ort-dynamic-int8]",
             targets="[{runtime: torch, threads: 1}, {runtime: onnxruntime, threads: 1}]")
    by = {(c.optimization, c.target.runtime): c for c in p.cells}
    assert by[("fp32", "torch")].status == "skipped" and "an onnx model" in by[("fp32", "torch")].reason
    fp32, int8 = run(by[("fp32", "onnxruntime")], tmp_path), run(by[("ort-dynamic-int8", "onnxruntime")], tmp_path)
    module = hf_model(str(encoder_dir), "feature-extraction")
    counted = count_macs(module, {"input_ids": torch.ones(2, 16, dtype=torch.long),
                                  "attention_mask": torch.ones(2, 16, dtype=torch.long)}).macs
    assert fp32["macs"] == pytest.approx(counted, rel=0.02)  # the graph count agrees with the torch counter
    assert fp32["max_abs_err"] == 0 and int8["precision"] == "int8-dynamic" and int8["cosine_sim"] > 0.9
    assert fp32["weights_sha256"] == hashlib.sha256(b"enc.onnx\0" + path.read_bytes()).hexdigest()


def test_python_factory(tmp_path):
    um.factory_module(tmp_path)
    p = plan(tmp_path, "[{name: fac, factory: 'my_models:make'}]")
    (cell,) = p.runnable
    assert cell.workload.image_size == 32
    r = run(cell, tmp_path)
    assert r["weights_kind"] == "factory" and len(r["weights_sha256"]) == 64 and r["latency_ms_p50"] > 0


def test_manifest_names_where_the_weights_came_from(encoder_dir, tmp_path):
    from bench.commands.run import user_models

    p = plan(tmp_path, f"[bert-base, {{name: tiny2, hf: {str(encoder_dir)!r}}}]")
    models = user_models(p.suite.models)
    assert list(models) == ["tiny2"] and models["tiny2"]["files"] == ["model.safetensors"]


# --- bad input: one line on stderr, exit status 2 ------------------------------------------------------

def _plan_exit(tmp_path, capsys, models_yaml: str, extra: str = "") -> str:
    suite = tmp_path / "bad.yaml"
    suite.write_text(f"name: bad\nmodels: {models_yaml}\noptimizations: [fp32]\ntargets: [{{runtime: torch}}]\n{extra}")
    assert main(["plan", str(suite)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1, err
    return err


def test_a_path_that_does_not_exist(tmp_path, capsys):
    assert "does not exist" in _plan_exit(tmp_path, capsys, "['hf:./no/such/dir']")


def test_a_directory_without_a_config(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert "has no config.json" in _plan_exit(tmp_path, capsys, "['hf:./empty']")


def test_a_hub_id_with_no_network_and_no_cache(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    err = _plan_exit(tmp_path, capsys, "['hf:someone/not-cached-model']")
    assert "'someone/not-cached-model' is not in the Hugging Face cache" in err and str(tmp_path / "hub") in err


def test_an_onnx_file_that_does_not_load(tmp_path, capsys):
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x07garbage, not a protobuf")
    assert "cannot be loaded" in _plan_exit(tmp_path, capsys, "['onnx:./broken.onnx']")


def test_a_factory_that_raises(tmp_path, capsys):
    um.factory_module(tmp_path)
    err = _plan_exit(tmp_path, capsys, "[{name: f, factory: 'my_models:broken'}]")
    assert "RuntimeError: the checkpoint server is down" in err


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    return um.tiny_classifier(tmp_path_factory.mktemp("cls") / "tiny-cls")


def test_evaluation_data_without_a_label_column(classifier_dir, tmp_path, capsys):
    um.write_jsonl(tmp_path / "nolabel.jsonl", [{"text": s} for s, _ in um.sentences(20, 5)])
    err = _plan_exit(tmp_path, capsys, f"[{{name: c, hf: {str(classifier_dir)!r}}}]",
                     "evaluation: {data: nolabel.jsonl}\n")
    assert "label" in err


def test_a_label_outside_the_models_classes(classifier_dir, tmp_path, capsys):
    rows = [{"text": s, "label": y} for s, y in um.sentences(20, 5)] + [{"text": "good dog", "label": 7}]
    um.write_jsonl(tmp_path / "labels.jsonl", rows)
    err = _plan_exit(tmp_path, capsys, f"[{{name: c, hf: {str(classifier_dir)!r}}}]",
                     "evaluation: {data: labels.jsonl}\n")
    assert "7" in err and "2 classes" in err


# --- measured accuracy, end to end --------------------------------------------------------------------

@pytest.mark.slow
def test_accuracy_harmless_is_unchanged_and_destructive_is_a_significant_drop(classifier_dir, tmp_path):
    """A trained classifier: fp32 is accurate, ORT fp32 changes nothing, pruning 95% of the encoder's weights drops it."""
    from tests.conftest import run_cli

    rows = [{"text": s, "label": y} for s, y in um.sentences(200, seed=7)]
    um.write_jsonl(tmp_path / "eval.jsonl", rows)
    (tmp_path / "acc.yaml").write_text(
        f"name: acc\nmodels: [{{name: cls, hf: {str(classifier_dir)!r}}}, tinybert-4]\n"
        "optimizations: [fp32, 'prune-magnitude(sparsity=0.95)']\n"
        "targets: [{runtime: torch, threads: 1}, {runtime: onnxruntime, threads: 1}]\n"
        "workloads: {batch_sizes: [8], seq_lens: [16]}\n" + MEASURE + "evaluation: {data: eval.jsonl, limit: 200}\n")
    res = run_cli("run", tmp_path / "acc.yaml", "--results-dir", tmp_path / "res", "--run-id", "acc")
    assert res.returncode == 0, res.stderr[-2000:]
    recs = {(r["model"], r["optimization"], r["runtime"]): r for r in
            (json.loads(p.read_text()) for p in (tmp_path / "res" / "acc" / "records").glob("*.json"))}
    base = recs[("cls", "fp32", "torch")]
    assert base["accuracy"] > 0.95 and base["accuracy_n"] == 200 and base["accuracy_source"] == "measured"
    assert base["accuracy_ci_low"] < base["accuracy"] < base["accuracy_ci_high"] or base["accuracy"] == 1.0
    assert base["accuracy_verdict"] == "no significant change" and base["eval_s"] > 0
    harmless = recs[("cls", "fp32", "onnxruntime")]
    assert harmless["accuracy_verdict"] == "no significant change" and harmless["accuracy_test"] == "mcnemar-exact"
    for rt in ("torch", "onnxruntime"):
        pruned = recs[("cls", "prune-magnitude(sparsity=0.95)", rt)]
        assert pruned["accuracy_verdict"] == "significant drop", pruned
        assert pruned["accuracy_delta_vs_fp32"] < -0.2 and pruned["accuracy_p_value"] < 0.001
    zoo = recs[("tinybert-4", "fp32", "torch")]
    assert zoo.get("accuracy") is None and "seeded random weights" in zoo["accuracy_note"]
    manifest = json.loads((tmp_path / "res" / "acc" / "manifest.json").read_text())
    assert manifest["models"]["cls"]["sha256"] == base["weights_sha256"]
    assert np.isfinite(base["latency_ms_p50"])


def test_a_causal_lm_measures_perplexity_on_a_text_file(tmp_path):
    lm = um.tiny_gpt2(tmp_path / "gpt")
    (tmp_path / "text.txt").write_text(" ".join(s for s, _ in um.sentences(200, 3)))
    p = plan(tmp_path, f"[{{name: lm, hf: {str(lm)!r}}}]", extra="evaluation: {data: text.txt}\n"
             ).suite  # decoders plan prompt + new tokens: use a small workload
    from bench.suite import expand

    p.workloads.seq_lens, p.workloads.new_tokens = [16], [4]
    (cell,) = expand(p).runnable
    r = run(cell, tmp_path)
    assert r["accuracy_metric"] == "perplexity" and r["accuracy_n"] >= 50
    assert 1 < r["accuracy"] < 1e4 and r["accuracy_ci_low"] <= r["accuracy"] <= r["accuracy_ci_high"]
    assert r["accuracy_verdict"] == "no significant change" and r["accuracy_test"] == "paired-bootstrap"


def test_an_image_classifier_is_evaluated_on_an_image_folder(tmp_path):
    ckpt = um.tiny_vit_checkpoint(tmp_path / "vit.pth")
    um.image_folder(tmp_path / "images", classes=10, per_class=3)
    p = plan(tmp_path, f"[{{name: v, timm: test_vit, checkpoint: {str(ckpt)!r}, num_classes: 10}}]",
             extra="evaluation: {data: images}\n")
    (cell,) = p.runnable
    r = run(cell, tmp_path)
    assert r["accuracy_metric"] == "accuracy" and r["accuracy_n"] == 30 and 0 <= r["accuracy"] <= 1
    assert r["accuracy_metrics"]["top5"] is not None  # ten classes: top-5 is reported
    assert r["accuracy_verdict"] == "no significant change" and r["accuracy_p_value"] == 1.0
