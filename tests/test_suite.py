"""Suite schema, expansion, exclusion, skips and every bad-input case."""

import os

import pytest

from bench.errors import UserError
from bench.suite import expand, parse_chain, parse_suite

BASE = """
name: t
models: [tinybert-4, deit-ti]
optimizations: [fp32, torch-dynamic-int8, "ort-dynamic-int8"]
targets:
  - {runtime: torch, device: cpu, threads: 1}
  - {runtime: onnxruntime, device: cpu, threads: 1}
workloads: {batch_sizes: [1, 4], seq_lens: [32]}
"""


def test_expansion_is_the_cross_product_with_reasoned_skips():
    plan = expand(parse_suite(BASE))
    # 2 models x 2 batch sizes x 3 chains x 2 targets
    assert len(plan.cells) == 24
    assert len(plan.runnable) == 16 and len(plan.skipped) == 8
    skip = next(c for c in plan.skipped if c.optimization == "ort-dynamic-int8" and c.target.runtime == "torch")
    assert "runtime torch runs torch models" in skip.reason
    skip = next(c for c in plan.skipped if c.optimization == "torch-dynamic-int8" and c.target.runtime == "onnxruntime")
    assert "cannot convert" in skip.reason
    vision = [c for c in plan.cells if c.model == "deit-ti"]
    assert {c.workload.image_size for c in vision} == {224}  # native resolution when image_sizes is absent


def test_implicit_export_is_resolved():
    plan = expand(parse_suite(BASE))
    cell = next(c for c in plan.runnable if c.optimization == "ort-dynamic-int8")
    assert [s.name for s in cell.resolved] == ["onnx-export", "ort-dynamic-int8"]
    cell = next(c for c in plan.runnable if c.optimization == "fp32" and c.target.runtime == "onnxruntime")
    assert [s.name for s in cell.resolved] == ["fp32", "onnx-export"]


def test_exclude_rules_remove_combinations():
    text = BASE + "exclude:\n  - {model: deit-*, runtime: onnxruntime}\n  - {optimization: 'torch-*'}\n"
    plan = expand(parse_suite(text))
    assert not any(c.model == "deit-ti" and c.target.runtime == "onnxruntime" for c in plan.cells)
    assert not any(c.optimization.startswith("torch-") for c in plan.cells)
    # deit on ORT: 2 batches x 3 chains = 6; torch-*: 2 models x 2 batches x 2 targets = 8; 2 in both
    assert len(plan.excluded) == 6 + 8 - 2


def test_chain_syntax_and_parameters():
    steps = parse_chain("torch-dynamic-int8(embeddings=false) -> fp32")
    assert steps[0].name == "torch-dynamic-int8" and steps[0].params == {"embeddings": False}
    assert parse_chain([{"onnx-export": {"opset": 18}}, "ort-dynamic-int8"])[0].params == {"opset": 18}
    suite = parse_suite(BASE.replace("[fp32, torch-dynamic-int8,", "[[onnx-export, ort-dynamic-int8], fp32,"))
    plan = expand(suite)
    assert any(c.optimization == "onnx-export -> ort-dynamic-int8" for c in plan.runnable)


def test_threads_default_to_the_affinity_and_are_recorded():
    plan = expand(parse_suite(BASE.replace(", threads: 1}", "}")))
    assert {c.target.threads for c in plan.cells} == {len(os.sched_getaffinity(0))}


@pytest.mark.parametrize("text, fragment", [
    ("name: t\nmodels: [bert-base\n", "YAML syntax error at line"),
    ("", "empty"),
    ("- just\n- a list\n", "must be a mapping"),
    (BASE.replace("tinybert-4", "bert-bsae"), "Did you mean 'bert-base'"),
    (BASE.replace("torch-dynamic-int8", "torch-dynamic-int9"), "Did you mean 'torch-dynamic-int8'"),
    (BASE.replace("runtime: torch,", "runtime: torh,"), "Did you mean 'torch'"),
    (BASE.replace("threads: 1", "threads: two"), "threads"),
    (BASE.replace("batch_sizes: [1, 4]", "batch_sizes: 3"), "batch_sizes"),
    (BASE.replace("fp32,", "fp32(bogus=1),"), "bad parameters for 'fp32'"),
    (BASE + "colour: blue\n", "colour"),
    (BASE.replace("models: [tinybert-4, deit-ti]", "models: []"), "models"),
])
def test_bad_suites_raise_one_clear_error(text, fragment):
    with pytest.raises(UserError) as e:
        expand(parse_suite(text, source="s.yaml"))
    assert fragment in str(e.value)
    assert "Traceback" not in str(e.value)


def test_empty_cross_product_is_an_error():
    with pytest.raises(UserError, match="expands to no cells"):
        expand(parse_suite(BASE + "exclude:\n  - {model: '*'}\n"))


def test_all_skipped_is_an_error():
    text = BASE.replace("[fp32, torch-dynamic-int8, \"ort-dynamic-int8\"]", "[ort-dynamic-int8]")
    text = text.replace("  - {runtime: onnxruntime, device: cpu, threads: 1}\n", "")
    with pytest.raises(UserError, match="no runnable cell"):
        expand(parse_suite(text))


def test_plan_command_prints_cells_and_skips(cli, write_suite):
    res = cli("plan", write_suite(BASE))
    assert res.returncode == 0, res.stderr
    assert "16 cells to run, 8 skipped" in res.stdout
    assert "skip: runtime torch runs torch models" in res.stdout
    # default measure settings (0.2 s warm-up, 1-5 s sampling) for the 16 cells: 19.2 s to 83.2 s
    assert "Measuring time under the suite's measure settings: 0.3 to 1.4 min for 16 cells" in " ".join(res.stdout.split())


def test_measuring_bounds_add_the_energy_window_on_gpu_cells():
    from bench.report.run_time import measuring_bounds

    text = BASE + "measure: {warmup_s: 0.5, min_time_s: 1.0, max_time_s: 3.0}\n"
    cpu = expand(parse_suite(text)).runnable
    assert measuring_bounds(cpu) == pytest.approx((16 * 1.5, 16 * 3.5))
    gpu = expand(parse_suite(text.replace("device: cpu, threads: 1}\n  - {runtime: onnxruntime, device: cpu",
                                          "device: cuda}\n  - {runtime: onnxruntime, device: cpu"))).runnable
    n_gpu = sum(c.target.device == "cuda" for c in gpu)
    assert n_gpu > 0 and measuring_bounds(gpu)[0] == pytest.approx(len(gpu) * 1.5 + n_gpu * 1.0)


@pytest.mark.parametrize("case", ["missing", "syntax", "unknown", "unwritable"])
def test_cli_bad_input_exits_2_with_one_paragraph(cli, write_suite, tmp_path, case):
    args = {
        "missing": ["run", tmp_path / "nope.yaml"],
        "syntax": ["run", write_suite("name: [x\n", "syntax.yaml")],
        "unknown": ["plan", write_suite(BASE.replace("deit-ti", "deit-tiny"), "unknown.yaml")],
        "unwritable": ["run", write_suite(BASE, "ok.yaml"), "--results-dir", "/proc/no-such-dir"],
    }[case]
    res = cli(*args)
    assert res.returncode == 2
    assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    if case == "unwritable":
        assert "not writable" in res.stderr


def test_bad_run_id_is_refused(cli, write_suite, tmp_path):
    res = cli("run", write_suite(BASE), "--results-dir", tmp_path, "--run-id", "../escape")
    assert res.returncode == 2 and "not allowed" in res.stderr
    assert not (tmp_path.parent / "escape").exists()


def test_step_parameters_may_be_lists():
    step = parse_chain("torch-dynamic-int8(embeddings=false) -> fp32")[0]
    assert step.params == {"embeddings": False}
    from bench.suite import parse_step

    assert parse_step("vit-token-keep(keep_rate=0.7, layers=[3, 6, 9])").params == {"keep_rate": 0.7, "layers": [3, 6, 9]}
    for bad in ("fp32(x)", "fp32(x=1, 2)", "fp32(x=[1)"):
        with pytest.raises(ValueError, match="key=value"):
            parse_step(bad)
