"""The survey suites plan, cover the figures' architectures and the NLP claims, and fit their budgets."""

from bench import reference
from bench.suite import expand, load_suite

# Measured on this 2-core machine: 8-20 s per cell including process start (docs/survey.md).
SECONDS_PER_CELL_CPU = 20


def _models(plan):
    return {c.model for c in plan.runnable}


def test_survey_cpu_covers_figures_and_nlp_within_30_minutes():
    plan = expand(load_suite("suites/survey-cpu.yaml"))
    assert not plan.skipped
    assert len(plan.runnable) * SECONDS_PER_CELL_CPU < 30 * 60
    ref = reference.load()
    figure_models = set(ref[ref["figures"].map(lambda f: any(x.startswith("fig") for x in f))]["zoo_model"]) - {""}
    assert figure_models - _models(plan) == {"vit-s"}  # the DeiT-S architecture, measured as deit-s
    assert {"bert-base", "distilbert", "tinybert-4", "mobilebert"} <= _models(plan)
    chains = {(c.model, c.optimization, c.target.runtime) for c in plan.runnable}
    for m in ("deit-ti", "deit-s", "deit-b"):  # Fig. 20 compares the W8 sizes with int8 cells
        assert (m, "torch-dynamic-int8", "torch") in chains and (m, "ort-dynamic-int8", "onnxruntime") in chains
    assert ("bert-base", "ort-dynamic-int8", "onnxruntime") in chains
    sizes = {c.model: c.workload.image_size for c in plan.runnable}
    assert sizes["mobilevit-s"] == sizes["edgenext-s"] == 256 and sizes["levit-256"] == 224


def test_survey_gpu_uses_cuda_targets_and_large_batches():
    plan = expand(load_suite("suites/survey-gpu.yaml"))
    assert {c.target.device for c in plan.cells} == {"cuda"}
    assert {c.target.runtime for c in plan.cells} == {"torch", "onnxruntime"}
    assert max(c.workload.batch_size for c in plan.runnable) >= 64
    assert 1 in {c.workload.batch_size for c in plan.runnable}
    ref = reference.load()
    assert set(ref["zoo_model"]) - {""} <= _models(plan)
