"""The survey suites plan, cover the figures' architectures and the NLP claims, and fit their budgets."""

from bench import reference
from bench.suite import expand, load_suite

# Measured: 3.2 s per cell on this idle 2-core machine, cells forked from the warm server (325 s for
# 103 cells, docs/survey.md); 10 s leaves room for a shared machine.
SECONDS_PER_CELL_CPU = 10


def _models(plan):
    return {c.model for c in plan.runnable}


def test_survey_cpu_covers_figures_and_nlp_within_30_minutes():
    plan = expand(load_suite("suites/survey-cpu.yaml"))
    assert not plan.skipped
    assert len(plan.runnable) == 104  # suites/survey-cpu.yaml header
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


def test_survey_gpu_uses_cuda_targets_and_large_batches(monkeypatch):
    monkeypatch.setattr("bench.runtime.specs.cuda_problem", lambda: "")  # plan it as a GPU machine would
    plan = expand(load_suite("suites/survey-gpu.yaml"))
    assert {c.target.device for c in plan.cells} == {"cuda"}
    assert {c.target.runtime for c in plan.cells} == {"torch", "onnxruntime"}
    assert max(c.workload.batch_size for c in plan.runnable) >= 64
    assert 1 in {c.workload.batch_size for c in plan.runnable}
    ref = reference.load()
    assert set(ref["zoo_model"]) - {""} <= _models(plan)


# --- the DeiT variants of Fig. 10, 11 and 20 ------------------------------------------------------

FIGS = ("fig10", "fig11", "fig20")
PARAMS_TOL = 0.02  # Fig. 10: the chain is chosen for the published parameter count
MACS_TOL = 0.035  # Fig. 11: DynamicViT's 2.9G is +3.3% (it drops tokens before the selecting blocks)
DEPTH_PRUNED = ("WDPruning",)  # prunes width and depth: the chain keeps every block, so more MACs


def _variant_rows():
    from bench.report.survey import architecture_chain, row_chains

    ref = reference.load()
    ref = ref[ref["figures"].map(lambda f: bool(set(f) & set(FIGS)) and set(f) <= set(FIGS))]
    return [(r, row_chains(r)) for _, r in ref.iterrows()
            if any(architecture_chain(c) != "fp32" for c in row_chains(r))]


def _cost(model: str, chain: str) -> tuple[int, int]:
    """(params, MACs) of a zoo DeiT after a pruning or token chain: counted on the built model for
    DeiT-Ti/S, from the closed forms (which tests/test_optimize_structural.py equates with the
    counter) for DeiT-B."""
    from bench.chains import parse_chain
    from bench.optimize import prune, tokens
    from bench.zoo import MODELS, Workload

    spec, w = MODELS.get(model), Workload(1, image_size=224)
    steps = {s.name: s.params for s in parse_chain(chain)}
    if "vit-token-keep" in steps:
        p = steps["vit-token-keep"]
        form = tokens.token_closed_form(spec, w, p["keep_rate"], p["layers"], p.get("fuse", False))
    else:
        form = prune.pruned_closed_form(spec, w, head_ratio=steps.get("prune-heads", {}).get("ratio", 0.0),
                                        ffn_ratio=steps.get("prune-ffn", {}).get("ratio", 0.0))
    if model == "deit-b":
        return form
    counted = _counted(model, chain)
    assert counted == form, (model, chain)
    return counted


_COUNTED: dict = {}


def _counted(model: str, chain: str) -> tuple[int, int]:
    if (model, chain) not in _COUNTED:
        from bench.chains import parse_chain
        from bench.measure.flops import count_macs, count_params
        from bench.optimize import OPTIMIZATIONS, Artifact
        from bench.zoo import MODELS, Workload

        spec = MODELS.get(model)
        artifact = Artifact(kind="torch", module=spec.build(0))
        for s in parse_chain(chain):
            opt = OPTIMIZATIONS.get(s.name)
            artifact = opt.apply(artifact, opt.parse_params(s.params), None)
        macs = count_macs(artifact.module, spec.inputs(Workload(1, image_size=224), 0)).macs
        _COUNTED[(model, chain)] = (count_params(artifact.module), macs)
    return _COUNTED[(model, chain)]


def test_variant_chains_match_the_published_cost():
    rows = _variant_rows()
    assert {r["model_or_technique"].split()[0].split("-")[0] for r, _ in rows} >= {
        "S2ViTE", "VTP", "WDPruning", "SAViT", "DynamicViT", "EViT"}
    for r, chains in rows:
        params, macs = _cost(r["zoo_model"], chains[0])
        name = r["model_or_technique"]
        if "fig10" in r["figures"]:
            assert reference.within(params / 1e6, r["params_M"], r["params_M_text"], PARAMS_TOL), (name, params)
            if r["macs_G"] == r["macs_G"] and not reference.within(macs / 1e9, r["macs_G"], r["macs_G_text"], 0.03):
                # Only a paper that also removes blocks may miss its MACs, and the row must say so.
                assert name.startswith(DEPTH_PRUNED) and macs / 1e9 > r["macs_G"], (name, macs)
                assert "depth" in r["explanation"], name
        if "fig11" in r["figures"]:
            assert params == 22_050_664  # token keeping removes no weight
            assert reference.within(macs / 1e9, r["macs_G"], r["macs_G_text"], MACS_TOL), (name, macs)


def test_quantized_rows_map_only_to_matching_bit_widths():
    from bench.report.survey import is_proxy, row_chains

    ref = reference.for_figure("fig20")
    for _, r in ref[ref["zoo_model"] != ""].iterrows():
        chains = row_chains(r)
        w, a = int(r["weight_bits"]), int(r["act_bits"])
        if (w, a) == (32, 32):
            assert chains == ["fp32"]
        elif (w, a) == (8, 8):
            assert chains[0] == "ort-static-int8" and set(chains) <= {"ort-static-int8", "torch-dynamic-int8",
                                                                      "ort-dynamic-int8"}
        elif (w, a) == (4, 8):  # 4-bit weights, int8 activations inside the kernel: not weight-only
            assert chains == ["ort-matmulnbits(accuracy_level=4, bits=4, block_size=32)"], r["model_or_technique"]
        else:  # no 6-bit step: such rows have no cell
            assert chains == [], r["model_or_technique"]
        assert not is_proxy(r)


def test_survey_cpu_plans_each_variant_on_its_deit_and_nothing_else():
    from bench.report.survey import row_chains

    plan = expand(load_suite("suites/survey-cpu.yaml"))
    cells = {(c.model, c.optimization, c.target.runtime) for c in plan.runnable}
    ref = reference.load()
    named = set()  # (model, chain) pairs the published rows name
    for _, r in ref[ref["figures"].map(lambda f: bool(set(f) & set(FIGS)))].iterrows():
        chains = row_chains(r)
        if r["zoo_model"] and chains:
            assert any((r["zoo_model"], c) == (m, o) for m, o, _ in cells for c in chains), r["model_or_technique"]
            named |= {(r["zoo_model"], c) for c in chains}
    baselines = {"fp32", "torch-dynamic-int8", "ort-dynamic-int8"}
    variants = {(m, o, rt) for m, o, rt in cells if o not in baselines}
    assert {(m, o) for m, o, _ in variants} <= named  # no variant cell without a published row
    assert {m for m, _, _ in variants} == {"deit-ti", "deit-s", "deit-b"}
    assert len(variants) == 22
    for m, o, rt in variants:  # pruning on both runtimes, token keeping on torch, ORT quantizers on ORT
        if o.startswith("prune-"):
            assert (m, o, "torch") in cells and (m, o, "onnxruntime") in cells
        else:
            assert rt == ("torch" if o.startswith("vit-token-keep") else "onnxruntime"), (m, o, rt)
