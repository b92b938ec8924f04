"""The survey figures render from a small fixture run written through bench.store."""

import re

import numpy as np
import pytest

from bench.report.survey import (
    _ok,
    build,
    canonical,
    points_for,
    render_section,
    survey_section,
    write_survey,
)
from bench.store import RunStore, load_records

CPU = "Fixture CPU @ 2.0GHz"
# The chains bench/reference/published.csv names for the DeiT-S variants (suites/survey-cpu.yaml runs them).
PRUNED_S = "prune-heads(ratio=0.33) -> prune-ffn(ratio=0.35)"  # S2ViTE / WDPruning / SAViT DeiT-S
TOKENS_S = "vit-token-keep(keep_rate=0.7, layers=[3, 6, 9])"  # DynamicViT DeiT-S
EVIT_S = "vit-token-keep(fuse=True, keep_rate=0.7, layers=[3, 6, 9])"  # EViT DeiT-S: dropped tokens fused


def _rec(model, opt, target, *, params, macs, wbytes, p50, size=None, seq=None, device="cpu", runtime="torch",
         energy=None, cosine=1.0):
    rng = np.random.default_rng(abs(hash((model, opt, target))) % 2**32)
    samples = list(p50 * (1 + 0.01 * rng.standard_normal(40)))
    rec = {"run_id": "fx", "cell_id": re.sub(r"[^A-Za-z0-9_.=-]+", "_", f"{model}.{opt}.{target}"), "model": model, "optimization": opt,
           "target": target, "runtime": runtime, "device": device, "threads": 2, "batch_size": 1,
           "image_size": size, "seq_len": seq, "status": "ok", "error": None, "params": params, "macs": macs,
           "flops": 2 * macs, "weight_bytes": wbytes, "latency_ms_p50": float(np.median(samples)),
           "latency_samples_ms": samples, "peak_rss_infer_bytes": 300e6 + wbytes, "cosine_sim": cosine}
    if energy is not None:
        rec["energy_j_per_inference"] = energy
    return rec


# A model brought with trained DeiT-S weights (`published_as: DeiT-S`), evaluated on 2,000 images:
# 1,580 right, 79.0% top-1, Wilson 95% interval 77.16-80.73%.
MEASURED = {"weights_kind": "timm", "weights_published_as": "DeiT-S", "accuracy": 0.79, "accuracy_metric": "accuracy",
            "accuracy_ci_low": 0.7716, "accuracy_ci_high": 0.8073, "accuracy_n": 2000,
            "accuracy_verdict": "no significant change", "accuracy_source": "measured"}


def _user_records():
    fp32 = _rec("my-deit-s", "fp32", "torch-cpu", params=22_050_664, macs=4_598_882_304, wbytes=88_300_000, p50=41.0,
                size=224)
    # Its int8 cell (1,531 of 2,000) is not DeiT-S's published point (that row's chain is fp32): never drawn there.
    int8 = _rec("my-deit-s", "torch-dynamic-int8", "torch-cpu", params=22_050_664, macs=4_598_882_304,
                wbytes=23_100_000, p50=26.0, size=224)
    return [{**fp32, **MEASURED}, {**int8, **MEASURED, "accuracy": 0.7655, "accuracy_ci_low": 0.7464,
                                   "accuracy_ci_high": 0.7835, "accuracy_verdict": "significant drop"}]


# Tooltips (<title>) per figure, (cost, hardware), rendered from `_fixture` before measured accuracy
# could be drawn: a run without `weights_published_as` must keep exactly these points.
TIPS_BEFORE = {"fig10": (63, 14), "fig11": (36, 8), "fig20": (76, 24), "fig28": (105, 6), "fig30": (81, 4)}


def _fixture(tmp_path, energy=False, evil_target="torch-cpu", user=False):
    store = RunStore.create(tmp_path / "results", "fx")
    store.write_manifest({"run_id": "fx", "suite_name": "survey-fixture", "environment": {"cpu_model": CPU}})
    e = (lambda j: j) if energy else (lambda j: None)
    recs = [
        _rec("deit-s", "fp32", evil_target, params=22_050_664, macs=4_598_882_304, wbytes=88_300_000, p50=40.0,
             size=224, energy=e(2.0)),
        _rec("deit-s", "torch-dynamic-int8", evil_target, params=22_050_664, macs=4_598_882_304,
             wbytes=23_100_000, p50=25.0, size=224, energy=e(1.2)),
        # DeiT variants: a structured-pruning chain and a token-keep chain (Fig. 10/11) on torch, and
        # static W8A8 on ONNX Runtime (Fig. 20); deit-ti has only its dense cell.
        _rec("deit-s", PRUNED_S, evil_target, params=14_722_096, macs=3_038_112_768, wbytes=58_900_000, p50=26.0,
             size=224, energy=e(1.3), cosine=0.81),
        _rec("deit-s", TOKENS_S, evil_target, params=22_050_664, macs=2_997_161_472, wbytes=88_300_000, p50=29.0,
             size=224, energy=e(1.4), cosine=0.93),
        _rec("deit-s", EVIT_S, evil_target, params=22_050_664, macs=3_029_497_728, wbytes=88_300_000, p50=29.5,
             size=224, energy=e(1.4), cosine=0.95),
        _rec("deit-s", "ort-static-int8", "onnxruntime-cpu", params=22_050_664, macs=4_598_882_304, wbytes=22_600_000,
             p50=12.0, size=224, runtime="onnxruntime", energy=e(0.6), cosine=0.996),
        _rec("deit-ti", "fp32", evil_target, params=5_717_416, macs=1_253_683_200, wbytes=22_900_000, p50=16.0,
             size=224, energy=e(0.8)),
        _rec("mobilevit-s", "fp32", evil_target, params=5_578_632, macs=2_000_831_488, wbytes=22_400_000,
             p50=30.0, size=256, energy=e(1.5)),
        _rec("mobilenetv2-100", "fp32", evil_target, params=3_504_872, macs=300_774_272, wbytes=14_100_000,
             p50=6.0, size=224, energy=e(0.3)),
        _rec("bert-base", "fp32", evil_target, params=108_891_648, macs=11_173_625_856, wbytes=436e6, p50=100.0,
             seq=128),
        _rec("distilbert", "fp32", evil_target, params=66_362_880, macs=5_586_812_928, wbytes=265e6, p50=50.0,
             seq=128),
        _rec("tinybert-4", "fp32", evil_target, params=14_253_000, macs=623_600_000, wbytes=57e6, p50=10.0, seq=128),
        _rec("bert-base", "fp32", "gpu", params=108_891_648, macs=11_173_625_856, wbytes=436e6, p50=5.0, seq=128,
             device="cuda"),
        _rec("distilbert", "fp32", "gpu", params=66_362_880, macs=5_586_812_928, wbytes=265e6, p50=2.5, seq=128,
             device="cuda"),
    ] + (_user_records() if user else [])
    for r in recs:
        store.write_record(r)
    return store.dir


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("survey")
    run = _fixture(tmp)
    df, _ = load_records(run)
    return run, tmp / "out", write_survey(run, tmp / "out").read_text(), build(df, {"environment": {"cpu_model": CPU}})


@pytest.mark.slow
def test_every_figure_renders_with_published_and_measured_points(rendered):
    run, out, page, _ = rendered
    for fig in ("fig10", "fig11", "fig20", "fig28", "fig30"):
        svg = (out / f"{fig}-cost.svg").read_text()
        assert svg.startswith("<svg") and "published ImageNet top-1" in svg
    # DeiT-S is in Fig. 10/11/20/30 and MobileViT-S in Fig. 28: each gets hardware axes.
    for fig in ("fig10", "fig11", "fig20", "fig28", "fig30"):
        assert (out / f"{fig}-hardware.svg").exists(), fig
    hw = (out / "fig28-hardware.svg").read_text()
    assert "median latency" in hw and "peak memory" in hw and "energy" not in hw
    assert page.count("<svg") == 10
    assert "Reported vs measured" in page and CPU in page


@pytest.mark.slow
def test_reported_vs_measured_ratios(rendered):
    rvm = rendered[3]["rvm"]
    deit = rvm[(rvm["point"] == "DeiT-S") & (rvm["quantity"] == "parameters (M)")].iloc[0]
    assert deit["published"] == pytest.approx(22.05)
    assert deit["ratio"] == pytest.approx(22.050664 / 22.05)
    mv2 = rvm[(rvm["point"] == "MobileNetV2 1.0") & (rvm["quantity"] == "parameters (M)")].iloc[0]
    assert mv2["ratio"] == pytest.approx(3.504872 / 3.4) and "rounds" in mv2["explanation"]
    # W8 size of DeiT-S: published params x 8 bits vs the measured int8 files, one row per runtime format:
    # the row names static W8A8 first (ONNX Runtime) and dynamic int8 where static does not run (torch).
    fq = rvm[(rvm["point"] == "FQ-ViT W8/A8/Attn4 DeiT-S") & rvm["quantity"].str.startswith("model size")]
    by_rt = {q.rsplit("[", 1)[1].rstrip("]"): r for q, r in zip(fq["quantity"], fq.itertuples())}
    assert set(by_rt) == {"torch", "onnxruntime"}
    assert by_rt["torch"].published == pytest.approx(22.05) and by_rt["torch"].measured == pytest.approx(23.1)
    assert by_rt["torch"].optimization == "torch-dynamic-int8"
    assert by_rt["onnxruntime"].optimization == "ort-static-int8"
    assert by_rt["onnxruntime"].ratio == pytest.approx(22.6 / 22.05)
    # A W6 point has no chain on main: its architecture is counted, its size is not faked from fp32.
    w6 = rvm[rvm["point"] == "PTQ-ViT (Liu et al. 2021) W6A6 DeiT-S"]
    assert set(w6["quantity"]) == {"parameters (M)"}  # the row publishes no MACs


@pytest.mark.slow
def test_nlp_speedups_name_both_machines(rendered):
    nlp = rendered[3]["nlp"]
    distil = nlp[nlp["claim"].str.startswith("DistilBERT")]
    assert set(distil["target"]) == {"torch-cpu", "gpu"}
    cpu = distil[distil["target"] == "torch-cpu"].iloc[0]
    assert cpu["measured_speedup"] == pytest.approx(2.0, rel=0.05) and cpu["verdict"] == "faster"
    assert cpu["hardware"].startswith(CPU) and "Xeon" in cpu["published_hardware"]
    assert distil[distil["target"] == "gpu"].iloc[0]["hardware"] == "CUDA GPU (model not recorded)"
    tiny = nlp[nlp["claim"].str.startswith("TinyBERT")].iloc[0]
    assert tiny["measured_speedup"] == pytest.approx(10.0, rel=0.05) and "9.4" in tiny["published_speedup"]


def test_energy_axis_appears_only_with_energy(tmp_path):
    df, _ = load_records(_fixture(tmp_path, energy=True))
    cost_svg, hw_svg = build(df, {}, figures=("fig28",))["figures"]["fig28"]
    assert "energy" not in cost_svg
    # the axis names where its joules come from; these records do not say
    assert "energy per inference (J, source not recorded)" in hw_svg


def test_section_escapes_strings_and_handles_empty_runs(tmp_path):
    df, _ = load_records(_fixture(tmp_path, evil_target="<script>x</script>"))
    html = render_section(build(df, {"environment": {"cpu_model": CPU}}, figures=()))
    assert "<script>x" not in html and "&lt;script&gt;" in html
    import pandas as pd

    assert survey_section(pd.DataFrame(), {}) == ""
    failed_only = pd.DataFrame([{"status": "failed", "model": "deit-s"}])
    parts = build(failed_only, {}, figures=("fig11",))
    assert parts["figures"]["fig11"][1] is None and parts["rvm"].empty and parts["nlp"].empty
    assert "No architecture of this figure ran" in render_section(parts)


@pytest.mark.slow
def test_cli_survey(tmp_path, cli, rendered):
    run = rendered[0]
    r = cli("survey", run, "--out", tmp_path / "cli-out")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cli-out" / "survey.html").exists() and (tmp_path / "cli-out" / "reported_vs_measured.csv").exists()
    bad = cli("survey", tmp_path / "nope")
    assert bad.returncode == 2 and "not a directory" in bad.stderr


def test_hardware_name_for_cpu_and_cuda_records():
    from bench.report.survey import hardware_name

    assert hardware_name({"environment": {"cpu_model": CPU}}, {"device": "cpu", "threads": 2}) == f"{CPU}, 2 threads"
    h100 = {"environment": {"gpus": [{"name": "NVIDIA H100 80GB HBM3"}]}}
    assert hardware_name(h100, {"device": "cuda"}) == "NVIDIA H100 80GB HBM3"
    assert hardware_name({"environment": {"gpu_name": "A100"}}, {"device": "cuda"}) == "A100"
    # the GPU the cells used (cuda:0 = NVML index 1 here), not the machine's first one
    two = {"environment": {"gpu": "NVIDIA H200", "gpus": [{"name": "NVIDIA H100 80GB HBM3"}, {"name": "NVIDIA H200"}]}}
    assert hardware_name(two, {"device": "cuda"}) == "NVIDIA H200"
    rec = {"device": "cuda", "gpu_state": {"before": {"name": "NVIDIA L4"}, "after": {"name": "NVIDIA L4"}}}
    assert hardware_name({"environment": {}}, rec) == "NVIDIA L4"


@pytest.mark.slow
def test_variant_cells_are_the_points_of_their_published_rows(rendered):
    run = rendered[0]
    df, _ = load_records(run)
    ok = _ok(df)
    fig10 = {p.row["model_or_technique"]: p for p in points_for("fig10", ok)}
    for name in ("S2ViTE DeiT-S 40% structured", "WDPruning DeiT-S", "SAViT DeiT-S"):
        p = fig10[name]
        assert p.measured and set(p.records["optimization"]) == {PRUNED_S}
        assert p.static("params") == 14_722_096 and p.static("macs") == 3_038_112_768
    # A pruned row whose cell did not run gets no dense stand-in for its cost (deit-ti fp32 ran).
    ti = fig10["S2ViTE DeiT-Ti 40% structured"]
    assert not ti.measured and ti.static("params") is None
    # The dense baseline keeps its own count; the proxy row reads the dense cell and says so.
    assert fig10["DeiT-S"].static("params") == 22_050_664
    up = fig10["UP-DeiT-S (UP-ViT from DeiT-B)"]
    assert up.proxy and up.static("params") == 22_050_664
    fig11 = {p.row["model_or_technique"]: p for p in points_for("fig11", ok)}
    dyn, evit = fig11["DynamicViT-DeiT-S rho=0.7"], fig11["EViT-DeiT-S keep=0.7"]
    assert dyn.static("macs") == 2_997_161_472 and set(dyn.records["optimization"]) == {TOKENS_S}
    assert evit.static("macs") == 3_029_497_728 and set(evit.records["optimization"]) == {EVIT_S}
    assert not fig11["PS-ViT (Patch Slimming) DeiT-S"].measured


def test_a_gpu_run_with_variants_at_batch_64_only_puts_every_point_at_batch_64(tmp_path):
    """survey-gpu runs DeiT fp32 at batch 1 and 64 and the pruned variants at 64 only: the hardware
    figure must compare batch 64 with batch 64 (a batch-64 variant beside a batch-1 DeiT read as a
    10x slowdown), and MACs are per image whatever the batch."""
    from bench.reference import for_figure
    from bench.report.survey import figure_batch, hardware_axes

    store = RunStore.create(tmp_path / "results", "gpu")
    store.write_manifest({"run_id": "gpu", "suite_name": "survey-gpu"})
    for opt, b, p50, params, macs in [("fp32", 1, 3.2, 22_050_664, 4_598_882_304),
                                      ("fp32", 64, 17.9, 22_050_664, 4_598_882_304),
                                      (PRUNED_S, 64, 12.7, 14_722_096, 3_038_112_768)]:
        r = _rec("deit-s", opt, "torch-cuda", params=params, macs=macs * b, wbytes=params * 4, p50=p50, size=224,
                 device="cuda")
        store.write_record({**r, "batch_size": b, "cell_id": f"{r['cell_id']}.b{b}"})
    ok = _ok(load_records(store.dir)[0])
    assert figure_batch(for_figure("fig10").iterrows(), ok) == 64
    fig10 = {p.row["model_or_technique"]: p for p in points_for("fig10", ok)}
    dense, pruned = fig10["DeiT-S"], fig10["S2ViTE DeiT-S 40% structured"]
    assert list(dense.records["batch_size"]) == [64] and list(pruned.records["batch_size"]) == [64]
    assert dense.records["latency_ms_p50"].iloc[0] > pruned.records["latency_ms_p50"].iloc[0]
    assert dense.static("macs") == 4_598_882_304 and pruned.static("macs") == 3_038_112_768  # per image
    assert hardware_axes(dense.records)[0][1] == "median latency (ms, batch 64)"
    # A figure whose measured rows ran at batch 1 and 64 alike (Fig. 11 here: DeiT-S fp32 only) stays at 1
    assert figure_batch(for_figure("fig11").iterrows(), ok) == 1


@pytest.mark.slow
def test_variant_ratios_in_the_reported_vs_measured_table(rendered):
    _, out, page, parts = rendered
    rvm = parts["rvm"]

    def one(point, quantity):
        hit = rvm[(rvm["point"] == point) & rvm["quantity"].str.startswith(quantity)]
        assert len(hit) == 1, (point, quantity, hit)
        return hit.iloc[0]

    savit = one("SAViT DeiT-S", "parameters")  # Fig. 10: the params ratio
    assert savit["optimization"] == PRUNED_S and savit["ratio"] == pytest.approx(14.722096 / 14.7)
    assert savit["cosine_vs_fp32"] == pytest.approx(0.81) and not savit["proxy"]
    assert one("SAViT DeiT-S", "MACs")["ratio"] == pytest.approx(3.038112768 / 3.1)
    evit = one("EViT-DeiT-S keep=0.7", "MACs")  # Fig. 11: the MACs ratio
    assert evit["optimization"] == EVIT_S and evit["ratio"] == pytest.approx(3.029497728 / 3.0)
    assert one("DynamicViT-DeiT-S rho=0.7", "MACs")["ratio"] == pytest.approx(2.997161472 / 2.9)
    assert one("UP-DeiT-S (UP-ViT from DeiT-B)", "parameters")["proxy"]
    assert "(proxy)" in page and "cosine vs fp32" in page
    table = (out / "reported_vs_measured.csv").read_text()
    assert PRUNED_S in table and TOKENS_S in table
    # The variants are drawn: the token-kept DeiT-S on Fig. 11's hardware axes, the proxy labelled.
    assert "DynamicViT-DeiT-S" in (out / "fig11-hardware.svg").read_text()  # annotations are cut at 22 chars
    hw10 = (out / "fig10-hardware.svg").read_text()
    assert "SAViT DeiT-S" in hw10 and "(proxy)" in hw10


def test_row_chains_match_cell_labels_whatever_the_spelling():
    assert canonical("vit-token-keep(layers=[3,6,9], keep_rate=0.70)") == TOKENS_S
    assert canonical(" prune-heads(ratio=0.33)->prune-ffn( ratio=0.35 ) ") == PRUNED_S
    from bench.report.survey import row_chains

    assert row_chains({"optimization": "ort-static-int8; torch-dynamic-int8"}) == [
        "ort-static-int8", "torch-dynamic-int8", "ort-dynamic-int8"]
    assert row_chains({"optimization": ""}) == []


@pytest.mark.slow
def test_a_run_without_published_weights_draws_what_it_drew_before(rendered):
    run, out, page, parts = rendered
    assert "weights_published_as" not in load_records(run)[0].columns
    tips = {fig: (cost.count("<title>"), hw.count("<title>")) for fig, (cost, hw) in parts["figures"].items()}
    assert tips == TIPS_BEFORE
    assert "measured accuracy (this run)" not in page and "measured on this run" not in page
    assert "published ImageNet top-1 (%)" in (out / "fig11-cost.svg").read_text()
    rvm = parts["rvm"]
    assert rvm["measured_top1"].isna().all() and (rvm["measured_top1_cell"] == "").all()
    deit = rvm[(rvm["point"] == "DeiT-S") & (rvm["quantity"] == "parameters (M)")].iloc[0]
    assert deit["published_top1"] == pytest.approx(79.9) and np.isnan(deit["top1_ratio"])


def test_measured_accuracy_of_published_weights_is_drawn_beside_the_published_point(tmp_path):
    from bench.reference import for_figure

    assert "DeiT-S" in set(for_figure("fig11")["model_or_technique"])
    df, _ = load_records(_fixture(tmp_path, user=True))
    parts = build(df, {"environment": {"cpu_model": CPU}}, figures=("fig11",))
    cost, hw = parts["figures"]["fig11"]
    titles = re.findall(r"<title>([^<]*)</title>", cost)
    stars = [t for t in titles if "measured on this run" in t]
    # one star per cost axis (parameters, MACs, size), at the cost counted on my-deit-s's own cell
    assert len(stars) == 3 and len(titles) == TIPS_BEFORE["fig11"][0] + 3
    assert stars[0] == ("my-deit-s (fp32; weights published as DeiT-S) on torch-cpu, parameters 22.05 counted here: "
                        "top-1 accuracy 79.0%, 95% CI 77.2–80.7%, n=2000, measured on this run&#x27;s evaluation "
                        "data (published: 79.9% ImageNet top-1)")
    assert "model size 88.3 counted here" in stars[2]
    assert "76.5%" not in cost and "76.5%" not in hw  # the int8 cell is no DeiT-S point
    assert "measured accuracy (this run), 95% CI" in cost and "published accuracy, published cost" in cost
    hw_titles = re.findall(r"<title>([^<]*)</title>", hw)
    hw_stars = [t for t in hw_titles if "measured on this run" in t]
    assert len(hw_titles) == TIPS_BEFORE["fig11"][1] + 2  # latency and memory panels
    at = [t.split(": top-1")[0].rsplit(", ", 1)[1].rsplit(" ", 1) for t in hw_stars]
    assert [a for a, _ in at] == ["median latency", "peak memory"]
    assert float(at[0][1]) == pytest.approx(41.0, rel=0.02) and float(at[1][1]) == pytest.approx(388.3)
    assert all("79.0%, 95% CI 77.2–80.7%, n=2000" in t for t in hw_stars)
    assert "measured accuracy (this run), 95% CI" in hw and "published accuracy: technique, bits (shape)" in hw

    rvm = parts["rvm"]
    deit = rvm[rvm["point"] == "DeiT-S"]
    assert len(deit) == 3 and set(deit["measured_top1_cell"]) == {"my-deit-s · fp32 on torch-cpu"}
    one = deit.iloc[0]
    assert one["measured_top1"] == pytest.approx(79.0) and one["published_top1"] == pytest.approx(79.9)
    assert one["top1_ratio"] == pytest.approx(79.0 / 79.9) and one["measured_top1_n"] == 2000
    assert rvm[rvm["point"] != "DeiT-S"]["measured_top1"].isna().all()
    html = render_section(parts)
    assert "measured top-1 (%)" in html and "published top-1 (%)" in html
    assert "79.0 (77.2–80.7, n=2000)" in html and f"{79.0 / 79.9:.3f}" in html


def test_published_weights_without_a_zoo_cell_still_get_their_star(tmp_path):
    """A run of only the user's model (no zoo DeiT-S): the hardware panels exist for its star, and the
    table has a line for the row's accuracy alone where no cost was counted against it."""
    store = RunStore.create(tmp_path / "results", "own")
    store.write_manifest({"run_id": "own", "suite_name": "your-model"})
    store.write_record({**_user_records()[0], "params": None, "macs": None, "weight_bytes": None})
    parts = build(load_records(store.dir)[0], {}, figures=("fig11",))
    cost, hw = parts["figures"]["fig11"]
    stars = [t for t in re.findall(r"<title>([^<]*)</title>", cost) if "measured on this run" in t]
    # no counted cost on the record: the star sits at DeiT-S's published cost (size: 22.05M x 32 bits / 8)
    assert [t.split(" published:")[0].split("torch-cpu, ")[1] for t in stars] == [
        "parameters 22.05", "MACs 4.61", "model size 88.2"]
    assert hw is not None and "on torch-cpu, median latency 4" in hw
    line = parts["rvm"].set_index("point").loc["DeiT-S"]
    assert line["quantity"] == "top-1 only (no counted cost)" and line["measured_top1"] == pytest.approx(79.0)


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    """A survey-sized run (tests/fixture_runs.survey_records: 38 models, ~100 cells on two targets)."""
    from tests.fixture_runs import survey_records, write_run

    run = write_run(tmp_path_factory.mktemp("crowded"), "survey", survey_records())
    return build(load_records(run)[0], {}, figures=("fig20", "fig28"))


def _row_of(html: str, point: str) -> str:
    from bench.report.format import esc

    rows = [r for r in html.split("<tr>") if r.startswith(f'<td class="l" data-v="{esc(point)}">')]
    assert len(rows) == 1, point
    return rows[0]


@pytest.mark.slow
def test_reported_vs_measured_is_one_row_per_point_with_every_number(crowded):
    from bench.report.format import esc, num
    from bench.report.survey_tables import rvm_html

    rvm = crowded["rvm"]
    html = rvm_html(rvm)
    assert len(rvm) > 200 and html.count("<tr>") == rvm["point"].nunique() + 1  # and the heading row
    for r in rvm.itertuples():
        row = _row_of(html, r.point)
        assert f'{num(r.measured, "{:.4g}")} <span class="muted">×{num(r.ratio, "{:.3f}")}</span>' in row, r
        assert num(r.cosine_vs_fp32, "{:.4f}") in row and num(r.published_top1, "{:g}") in row
        assert esc(r.figures) in row and esc(r.status) in row
    for point, g in rvm.groupby("point"):
        text = g["explanation"].iloc[0]
        if text:
            row = _row_of(html, point)
            assert row.count(esc(text)) == 1, point  # said once, not once per quantity
            assert len(text) <= 70 or f"<details><summary>{esc(text[:40])}" in row
    # a size is published once and measured per runtime format, each line with its runtime's chain
    fq = _row_of(html, "FQ-ViT W8/A8/Attn4 DeiT-S")
    assert "onnxruntime " in fq and "torch " in fq and "ort-static-int8" in fq and "torch-dynamic-int8" in fq


def _points(svg: str) -> list[dict]:
    """Each plotted point of a survey panel: its names, marker shape (path) and colour."""
    shapes = dict(re.findall(r'<path id="(m[0-9a-f]+)" d="([^"]*)"', svg))
    out = []
    for attrs, body in re.findall(r'<g id="tip\d+" ([^>]*)><title>[^<]*</title>(.*?)</g>\s*</g>', svg, re.S):
        use = re.search(r'<use xlink:href="#(m[0-9a-f]+)"[^>]*style="fill: (#[0-9a-f]+)', body)
        if use:
            out.append({**dict(re.findall(r'data-(\w+)="([^"]*)"', attrs)), "shape": shapes[use.group(1)],
                        "colour": use.group(2)})
    return out


@pytest.mark.slow
def test_hardware_panels_shape_by_technique_and_colour_by_target(crowded):
    svg = crowded["figures"]["fig20"][1]
    pts = _points(svg)
    assert {p["technique"] for p in pts} >= {"baseline, fp32", "quantization, W8A8", "quantization, W4A8"}
    assert {p["target"] for p in pts} == {"onnxruntime-cpu", "torch-cpu"}
    for key, other in (("technique", "shape"), ("target", "colour")):
        by = {}
        for p in pts:
            by.setdefault(p[key], set()).add(p[other])
        assert all(len(v) == 1 for v in by.values()) and len({min(v) for v in by.values()}) == len(by), key
    for text in ("target (colour)", "technique, bits (shape)", "quantization, W4A8", "onnxruntime-cpu"):
        assert f">{text}</text>" in svg, text
    assert "energy per inference (J, estimate: tdp-x-time)" in svg


@pytest.mark.slow
def test_only_fronts_are_labelled_readably_and_the_rest_are_listed(crowded):
    from bench.report.analysis import pareto_mask
    from bench.report.survey_tables import unlabelled_html

    svg, unlabelled = crowded["figures"]["fig28"][1], crowded["unlabelled"]["fig28"]
    dots = [m.groups() for m in re.finditer(r"<title>(.+?) on (\S+) \([^)]*\): ([\d.]+)% top-1, (.+?) ([\d.e+-]+)</title>",
                                            svg)]
    assert len(dots) == 3 * 2 * 27  # three panels, two targets, 27 measured rows (ViT-S has no published top-1)
    front = set()
    for panel, target in {(d[3], d[1]) for d in dots}:
        mine = [d for d in dots if (d[3], d[1]) == (panel, target)]
        on = pareto_mask([-float(d[2]) for d in mine], [float(d[4]) for d in mine])
        front |= {(d[0], d[1]) for d, f in zip(mine, on) if f}
    labels = re.findall(r'<g id="tip\d+" data-model="([^"]*)" data-target="([^"]*)"[^>]*>\s*<text style="font-size: '
                        r'([\d.]+)px[^>]*>([^<]*)</text>', svg)
    assert labels and all(float(size) >= 7.5 for _, _, size, _ in labels)
    assert {(m.replace("&#x27;", "'"), t) for m, t, _, _ in labels} <= front  # fronts only
    listed = {(r["point"], r["target"]): r for r in unlabelled}
    for name, target in {(d[0], d[1]) for d in dots}:
        n_labels = sum((m, t) == (name, target) for m, t, _, _ in labels)
        assert n_labels == 3 or (name, target) in listed, (name, target)  # labelled on every panel, or listed
        if (name, target) not in front:
            assert n_labels == 0 and listed[(name, target)]["labelled"] == []
    table = unlabelled_html(unlabelled)
    assert table.count("<tr>") == len(unlabelled) + 1 and "hover over a point for its name" in table
    rows = table.split("<tr>")[2:]
    assert all(f">{r['point']}</td><td class=\"l\">{r['target']}</td>" in "".join(rows) for r in unlabelled)


def test_labels_are_placed_apart_or_dropped():
    """Thirty labels asked for around one spot: those placed never overlap each other or leave the
    panel, and the rest are reported as dropped (their points keep their hover titles)."""
    from bench.report import plots
    from bench.report.labels import Request, place

    fig, ax = plots.plt.subplots(figsize=(3, 2))
    ax.plot([0, 10], [0, 10], " ")
    reqs = [Request(ax, 5 + 0.01 * i, 5, f"model-{i}") for i in range(30)] + [Request(ax, 10, 10, "at the corner")]
    done = place(fig, reqs)
    assert 2 < sum(done) < 30 and done[-1]  # the corner label fits inside, to the lower left of its point
    renderer = fig.canvas.get_renderer()
    panel = ax.get_window_extent(renderer)
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) == sum(done)
    assert all(panel.x0 <= b.x0 and b.x1 <= panel.x1 and panel.y0 <= b.y0 and b.y1 <= panel.y1 for b in boxes)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    plots.plt.close(fig)
