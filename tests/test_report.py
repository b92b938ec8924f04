"""The report's numbers and markup, without a browser: fronts, speedups, escaping, missing fields."""

import csv
import io
import json
import re

import numpy as np
import pytest

from bench.report.analysis import pareto_mask, speedups
from bench.report.data import load_run
from bench.report.html import render, write_report
from tests.fixture_runs import EVIL, make_records, write_run


def test_pareto_mask_keeps_only_undominated_points():
    # (fidelity loss, cost): b dominates d; a, b, c trade off; e ties a on x and is worse on y.
    x = [0.0, 1e-3, 1e-2, 2e-3, 0.0]
    y = [10.0, 5.0, 2.0, 6.0, 11.0]
    assert pareto_mask(x, y).tolist() == [True, True, True, False, False]


def test_speedups_use_the_fp32_cell_of_the_same_target(tmp_path):
    run = load_run(write_run(tmp_path, "r", make_records(models=["bert-base"])))
    sp = speedups(run.ok, run.samples).set_index("cell_id")
    fast = sp.loc["bert-base.ort-dynamic-int8.onnxruntime-cpu.b1-s128"]
    assert fast.speedup == pytest.approx(2.1, rel=0.03) and fast.verdict == "faster" and fast.ci_low > 1
    base = sp.loc["bert-base.fp32.torch-cpu.b1-s128"]
    assert base.speedup == 1.0 and base.verdict == "no significant difference"
    assert set(sp.target) == {"torch-cpu", "onnxruntime-cpu"}


@pytest.fixture(scope="module")
def evil_page(tmp_path_factory):
    root = tmp_path_factory.mktemp("evil")
    return render(write_run(root, "evil", make_records(evil=True, models=["bert-base", "deit-s"])))


@pytest.mark.slow
def test_markup_from_records_is_escaped(evil_page):
    assert "<script>alert(1)" not in evil_page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in evil_page
    # exactly two script elements: the report's own code and the inert JSON payload
    assert len(re.findall(r"<script\b", evil_page)) == 2
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'", evil_page)


@pytest.mark.slow
def test_report_has_every_section_and_no_external_reference(evil_page):
    for sid in ("overview", "pareto", "speedup", "roofline", "cells", "detail", "problems"):
        assert f'id="{sid}"' in evil_page, sid
    survey = evil_page[evil_page.index('id="survey"'):] if 'id="survey"' in evil_page else ""
    survey = survey[:survey.index("</section>")] if survey else ""
    # pareto per target and workload (2 x 2); per target: heatmap, roofline (no accuracy panel: no
    # metric has two published models here); the MACs plot; 14 cell histograms and their traces; survey figures
    assert evil_page.count("<svg") - survey.count("<svg") == 4 + 2 + 2 + 1 + 14 + 14
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", evil_page)
    assert "injected failure" in evil_page and "CV" in evil_page  # failed cell and the noisy cell's reason
    assert "Energy per inference (J, estimate: tdp-x-time)" in evil_page  # the Pareto axis names its source


@pytest.mark.slow
def test_embedded_csv_holds_every_record(evil_page):
    payload = re.search(r'<script type="application/json" id="records-csv">(.*?)</script>', evil_page, re.S).group(1)
    text = json.loads(payload)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3 * 6  # 3 models x 3 optimizations x 2 targets, skipped and failed cells included
    assert {r["model"] for r in rows} == {"bert-base", "deit-s", EVIL}
    assert "latency_samples_ms" not in rows[0] and float(rows[0]["latency_ms_p50"]) > 0


@pytest.mark.slow
def test_cells_table_shows_cv_contention_and_cell_time_and_offers_facets(evil_page):
    import html

    cells = evil_page[evil_page.index('<section id="cells">'):]
    cells = cells[:cells.index("</section>")]
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", cells)
    assert heads[-4:] == ["samples", "CV", "contention", "cell time s"] and heads[5] == "p50 ms"
    assert 'class="sortable sticky"' in cells
    rows = {}
    for attr, body in re.findall(r'<tr data-facets="([^"]*)">(.*?)</tr>', cells):
        f = json.loads(html.unescape(attr))
        rows[(f["model"][0], f["optimization"][0], f["target"][0])] = (f, body)
    assert len(rows) == 18
    f, body = rows[("deit-s", "ort-dynamic-int8", "onnxruntime-cpu")]  # the fixture's contended cell
    assert f["status"] == ["contended"] and 'badge ok' not in body
    assert '<td class="" data-v="0.4">40% <span class="badge contended">contended</span></td>' in body
    f, body = rows[("bert-base", "fp32", "torch-cpu")]
    assert f["status"] == ["ok"] and body.endswith('<td class="" data-v="0.02">2%</td><td class="" data-v="5.0">5.0</td>')
    assert re.search(r'<td class="" data-v="120.0">120</td><td class="" data-v="0.0\d+">\d\.\d%</td>', body)
    assert rows[("deit-s", "torch-dynamic-int8", "onnxruntime-cpu")][0]["status"] == ["failed"]
    status = re.search(r'<select class="facet" data-table="cells-table" data-facet="status">(.*?)</select>', cells).group(1)
    assert re.findall(r'<option value="([^"]*)"', status) == ["", "contended", "failed", "ok", "skipped"]
    for facet in ("model", "optimization", "target"):
        assert f'data-facet="{facet}"' in cells


def test_energy_axes_name_their_source():
    from bench.report.plots import energy_label

    assert energy_label(["nvml-counter"] * 3) == "energy per inference (J, measured: nvml-counter)"
    assert energy_label(["tdp-x-time", None, "rapl"], "Energy per inference") == \
        "Energy per inference (J, measured: rapl; estimate: tdp-x-time)"
    assert energy_label([np.nan]) == "energy per inference (J, source not recorded)"


@pytest.mark.slow
def test_runs_without_the_optional_fields_still_render(tmp_path):
    """A run from before noise, energy and roofline fields landed: those parts drop out, nothing fails."""
    run_dir = write_run(tmp_path, "old", make_records(models=["tinybert-4"], extra_fields=False), extra_manifest=False)
    page = write_report(run_dir, tmp_path / "rep").read_text()
    assert 'id="roofline"' not in page and "noise not assessed" in page
    assert 'id="pareto"' in page and 'id="speedup"' in page and "Energy per inference" not in page
    assert "badge contended" not in page and 'data-facet="status"' in page  # no contention recorded: a dash


@pytest.mark.slow
def test_survey_section_is_included_when_present(tmp_path, monkeypatch):
    import sys
    import types

    mod = types.ModuleType("bench.report.survey")
    mod.survey_section = lambda df, manifest: f"<h2>Survey figures</h2><p>{len(df)} cells seen</p>"
    monkeypatch.setitem(sys.modules, "bench.report.survey", mod)
    page = render(write_run(tmp_path, "s", make_records(models=["tinybert-4"], extra_fields=False)))
    assert '<section id="survey"><h2>Survey figures</h2><p>6 cells seen</p>' in page


@pytest.mark.slow
def test_published_accuracy_is_labelled_as_published(tmp_path):
    """The accuracies come from bench/reference/published.csv: the model's own verified row, not a
    proxy that reuses its architecture (UP-DeiT-T is built as DeiT-Ti and scores 75.79)."""
    from bench.report.published import published_accuracy

    assert published_accuracy("deit-ti")[:2] == ("ImageNet-1k top-1", 72.2)
    assert published_accuracy("autoformer-t")[:2] == ("ImageNet-1k top-1", 75.3)
    assert published_accuracy("vit-s") is None  # its row is unverified
    recs = make_records(models=["bert-base", "deit-s"], extra_fields=False)
    recs += [{**r, "model": "distilbert", "cell_id": r["cell_id"].replace("bert-base", "distilbert")}
             for r in recs if r["model"] == "bert-base"]
    page = render(write_run(tmp_path, "p", recs))
    acc = page[page.index("Latency against published accuracy"):]
    acc = acc[:acc.index("</details>")]
    assert "not measured here" in acc and "facebookresearch/deit" in acc
    # GLUE has two models, so a panel; ImageNet has one (deit-s): table row, no panel
    assert acc.count("<svg") == 2 and "Published GLUE dev macro-score" in acc and "ImageNet-1k top-1 (%)" not in acc
    assert "<td class=\"l\">deit-s</td><td class=\"l\">ImageNet-1k top-1</td><td class=\"l\">79.9</td>" in acc


@pytest.mark.slow
def test_every_plotted_point_has_a_hover_title_with_a_unique_id(tmp_path):
    page = render(write_run(tmp_path, "t", make_records()))
    groups = re.findall(r'<g id="(tip\d+)"([^>]*)>(?:<title>([^<]+)</title>)?', page)
    assert len(groups) == len({i for i, _, _ in groups})
    titled = [(attrs, t) for _, attrs, t in groups if t]
    assert len(titled) > 50
    # each point names its model, target and optimization, for the show/hide panels
    pareto = [a for a, t in titled if t.startswith("deit-s · ort-dynamic-int8: Median latency (ms)")]
    assert pareto and all(a == ' data-model="deit-s" data-target="onnxruntime-cpu" data-opt="ort-dynamic-int8"'
                          for a in pareto)
    roof = [a for a, t in titled if re.match(r"bert-base\.fp32\.torch-cpu\.b1-s128: [\d.]+ FLOP/B", t)]
    assert roof == [' data-model="bert-base" data-target="torch-cpu" data-opt="fp32"']
    # a front line and error bars are named like their points but carry no title of their own
    assert any(not t and 'data-model="bert-base"' in a for _, a, t in groups)
    assert "<title></title>" not in page


def test_log_axis_when_values_span_decades():
    from bench.report.plots import spans_decades

    assert spans_decades([1.0, 50.0]) and not spans_decades([1.0, 5.0]) and not spans_decades([np.nan, 3.0])


def test_a_run_with_no_finished_cell_still_renders(tmp_path):
    assert "No cell finished" in render(write_run(tmp_path, "empty", []))
    recs = [r for r in make_records(models=["deit-s"], extra_fields=False) if r["status"] != "ok"]
    page = render(write_run(tmp_path, "bad", recs))
    assert "injected failure" in page and "No cell finished" in page and "<svg" not in page


@pytest.mark.slow
def test_planned_cells_without_a_record_are_listed(tmp_path):
    recs = make_records(models=["tinybert-4"], extra_fields=False)
    run_dir = write_run(tmp_path, "cut", recs)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["cells"].append({"cell_id": "deit-b.fp32.torch-cpu.b1-i224"})
    manifest["status"] = "interrupted"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    page = write_report(run_dir, tmp_path / "rep").read_text()
    assert "1 planned without a record" in page
    assert "deit-b.fp32.torch-cpu.b1-i224" in page and "the run is interrupted" in page
    assert "bench run --resume cut" in page
    complete = write_report(write_run(tmp_path, "whole", recs), tmp_path / "rep2").read_text()
    assert "planned without a record" not in complete


def test_padded_and_packed_workloads_are_compared_only_within_their_own_workload(tmp_path):
    """A ragged (padded) workload and a plain one of the same batch and length are different rows:
    the packed cell is compared with the padded fp32 cell, not with the full-length one."""
    rng = np.random.default_rng(0)

    def rec(opt, workload, p50):
        cid = f"tinybert-4.{opt}.torch-cpu.{workload}"
        samples = list(p50 * (1 + 0.01 * rng.standard_normal(50)))
        return {"cell_id": cid, "model": "tinybert-4", "optimization": opt, "runtime": "torch", "device": "cpu",
                "target": "torch-cpu", "batch_size": 8, "seq_len": 128, "workload": workload, "status": "ok",
                "latency_ms_p50": p50, "latency_samples_ms": samples}

    recs = [rec("fp32", "b8-s128", 30.0), rec("fp32", "b8-s128-r16_128", 20.0),
            rec("varlen-packed", "b8-s128-r16_128", 10.0)]
    run = load_run(write_run(tmp_path, "ragged", recs))
    assert sorted(run.df["workload"]) == ["b8-s128", "b8-s128-r16_128", "b8-s128-r16_128"]
    sp = speedups(run.ok, run.samples).set_index("cell_id")
    packed = sp.loc["tinybert-4.varlen-packed.torch-cpu.b8-s128-r16_128"]
    assert packed.workload == "b8-s128-r16_128" and packed.speedup == pytest.approx(2.0, rel=0.02)
    assert (sp.workload == "b8-s128").sum() == 1  # the full-length fp32 cell stands alone


@pytest.mark.slow
def test_fronts_and_speedups_leave_out_single_optimization_models_and_name_them(tmp_path):
    """A model that ran only fp32 has no front and no speedup: it is listed, not drawn, and the
    models that do have fronts keep distinct colours however many fp32-only models the run has."""
    from bench.report import plots

    recs = make_records(models=["bert-base", "deit-s"], extra_fields=False)
    lonely = [f"vit-{i}" for i in range(9)]  # more fp32-only models than the palette has colours
    base = next(r for r in recs if r["cell_id"] == "deit-s.fp32.torch-cpu.b1-i224")
    recs += [{**base, "model": m, "cell_id": f"{m}.fp32.torch-cpu.b1-i224"} for m in lonely]
    # the same model at a second batch size: a different job, so a different figure, not a dominated point
    recs += [{**base, "cell_id": "deit-s.fp32.torch-cpu.b8-i224", "batch_size": 8, "workload": "b8-i224"}]
    run_dir = write_run(tmp_path, "many", recs)
    page = render(run_dir)
    pareto = page[page.index('id="pareto"'):page.index('id="speedup"')]
    assert "Target torch-cpu, workload b1-i224" in pareto and "Target torch-cpu, workload b8-i224" in pareto
    assert f"Single optimization, no front (9): {', '.join(sorted(lonely))}" in pareto
    assert "Single optimization, no front (1): deit-s" in pareto  # its b8 cell
    speedup = page[page.index('id="speedup"'):]
    speedup = speedup[:speedup.index("</section>")]
    assert "fp32 only, nothing to compare (10)" in speedup and "deit-s (b8-i224)" in speedup
    assert "vit-0 (b1-i224)" not in speedup.split("fp32 only")[0]  # no heatmap row for it
    colors, markers = plots.styles(load_run(run_dir).df)
    assert markers["fp32"] == "o" and len(set(markers.values())) == len(markers)
    assert colors["bert-base"] != colors["deit-s"]
    assert {colors["bert-base"], colors["deit-s"]}.isdisjoint(colors[m] for m in lonely[:6])


def test_many_model_scatters_colour_by_family_and_few_by_model():
    import pandas as pd

    from bench.report import plots

    many = pd.DataFrame({"model": [f"m{i:02d}" for i in range(12)], "optimization": "fp32",
                         "family": ["vit"] * 6 + ["cnn"] * 5 + [None]})
    colors, _ = plots.styles(many)
    key, cmap = plots.colour_by(many, colors)
    assert key == "family" and set(cmap) == {"vit", "cnn", "other"} and len(set(cmap.values())) == 3
    few = many.iloc[[0, 8, 9]]  # m00, m08, m09: colours 0, 0 and 1 of the report-wide cycle
    assert colors["m00"] == colors["m08"]
    key, cmap = plots.colour_by(few, colors)
    assert key == "model" and len(set(cmap.values())) == 3


@pytest.mark.slow
def test_the_overview_names_the_gpu_the_cells_used(tmp_path):
    run_dir = write_run(tmp_path, "g", make_records(models=["tinybert-4"], extra_fields=False))
    m = json.loads((run_dir / "manifest.json").read_text())
    m["environment"].update(gpu="NVIDIA H200", gpus=[{"name": "NVIDIA H100 80GB HBM3"}, {"name": "NVIDIA H200"}],
                            gpu_selected_by="index 1", nvidia_driver="580.159.04")
    (run_dir / "manifest.json").write_text(json.dumps(m))
    page = render(run_dir)
    assert "NVIDIA H200 (index 1 of 2 GPUs; driver 580.159.04)" in page
    assert "none recorded" in render(write_run(tmp_path, "c", make_records(models=["tinybert-4"], extra_fields=False)))
