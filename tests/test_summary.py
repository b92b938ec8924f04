"""`bench summary RUN_DIR [--format markdown|text]`: the headline table a CI job summary shows."""

import pytest

from bench.store import RunStore


def rec(cell_id, opt, p50, status="ok", **kw):
    return {"run_id": "r", "cell_id": cell_id, "model": "bert-base", "optimization": opt, "runtime": "torch",
            "device": "cuda", "target": "torch-cuda", "batch_size": 1, "seq_len": 128, "image_size": None,
            "status": status, "latency_ms_p50": p50, "latency_ms_ci_low": p50 and p50 * 0.9,
            "latency_ms_ci_high": p50 and p50 * 1.1, "macs": 11.17e9, "cosine_sim": 1.0, **kw}


def test_headline_table(tmp_path, cli):
    store = RunStore.create(tmp_path, "r")
    store.write_manifest({"run_id": "r", "suite_name": "survey-gpu", "environment": {"host": "h", "cpu_model": "x"}})
    store.write_record(rec("a", "fp32", 4.0, error=None))
    store.write_record(rec("b", "fp16 | cast", 2.0, error=None))
    store.write_record(rec("c", "fp8", None, status="failed", error="RuntimeError: no fp8 kernels on sm_80"))
    res = cli("summary", store.dir, "--markdown")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "### Run `r` (suite survey-gpu)" in out and "2 ok, 1 failed, 0 timeout, 0 skipped" in out
    assert "| bert-base | fp32 | torch-cuda | b1-s128 | 4.000 | 3.6 to 4.4 | 1.00x | 11.17 | 1.00000 |" in out
    assert "| bert-base | fp16 \\| cast | torch-cuda | b1-s128 | 2.000 | 1.8 to 2.2 | 2.00x |" in out
    assert "- `c` (failed): RuntimeError: no fp8 kernels on sm_80" in out
    bad = cli("summary", tmp_path / "nope")
    assert bad.returncode == 2 and "not a run directory" in bad.stderr



def test_text_format_is_the_same_table_aligned(tmp_path, cli):
    """`--format text` is for a terminal: the same rows and lines, columns padded instead of piped."""
    store = RunStore.create(tmp_path, "r")
    store.write_manifest({"run_id": "r", "suite_name": "survey-gpu"})
    store.write_record(rec("a", "fp32", 4.0, error=None))
    store.write_record(rec("b", "fp16 | cast", 2.0, error=None))
    store.write_record(rec("c", "fp8", None, status="failed", error="RuntimeError: no fp8 kernels on sm_80"))
    res = cli("summary", store.dir, "--format", "text")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "Run `r` (suite survey-gpu)" and "2 ok, 1 failed, 0 timeout, 0 skipped" in lines
    head = next(i for i, x in enumerate(lines) if x.startswith("model "))
    assert lines[head].split() == ["model", "optimization", "target", "workload", "p50", "ms", "95%", "CI",
                                   "speedup", "vs", "fp32", "GMACs", "cosine"]
    assert set(lines[head + 1]) == {"-", " "}
    rows = lines[head + 2:head + 4]
    assert rows[0] == "bert-base  fp16 | cast   torch-cuda  b1-s128    2.000  1.8 to 2.2            2.00x  11.17  1.00000"
    assert rows[1] == "bert-base  fp32          torch-cuda  b1-s128    4.000  3.6 to 4.4            1.00x  11.17  1.00000"
    assert len({len(x) for x in lines[head:head + 4]}) == 1  # aligned: every line of the table as wide
    assert "|" not in lines[head] and "- `c` (failed): RuntimeError: no fp8 kernels on sm_80" in lines
    assert cli("summary", store.dir).stdout == cli("summary", store.dir, "--format", "markdown").stdout \
        == cli("summary", store.dir, "--markdown").stdout  # the old flag still works, as the CI job uses it


@pytest.mark.slow
def test_the_summary_and_the_report_say_where_the_time_went(tmp_path, cli):
    """The GPU suite's 20-minute budget is checked on every scheduled run: wall time, the median
    cell, and how much of the cells' time was measuring rather than starting and building."""
    from bench.report.html import render

    store = RunStore.create(tmp_path, "r")
    store.write_manifest({"run_id": "r", "suite_name": "survey-gpu", "wall_s": 630.0, "peaks_s": 21.0})
    store.write_record(rec("a", "fp32", 4.0, error=None, process_wall_s=6.0,
                           phase_s={"imports": 0.0, "timing": 2.0, "after_timing": 1.0}))
    store.write_record(rec("b", "torch-fp16", 2.0, error=None, process_wall_s=4.0,
                           phase_s={"imports": 0.0, "timing": 1.5, "after_timing": 1.0}))
    store.write_record(rec("c", "torch-fp8", None, status="failed", error="RuntimeError: x", process_wall_s=2.0,
                           target="ort-cuda"))  # a failed cell's time counts; it has no phases
    out = cli("summary", store.dir, "--markdown").stdout
    line = next(x for x in out.splitlines() if x.startswith("Time: "))
    assert line.startswith("Time: 10.5 min for 3 cells; plus 21 s measuring the machine's peaks; "
                           "a cell took 4.0 s at the median (slowest 6.0 s: a)")
    assert "55% of cell time was warm-up, sampling and energy windows" in line  # (3 + 2.5) / (6 + 4)
    assert "by target: ort-cuda 1 cell in 0.0 min, torch-cuda 2 cells in 0.2 min" in line
    page = render(store.dir)
    assert "Where the time went</td><td class=\"l\">10.5 min for 3 cells" in page

    store.write_manifest({"run_id": "r", "suite_name": "survey-gpu", "wall_s": 60.0, "resumed_at": ["t"]})
    line = next(x for x in cli("summary", store.dir, "--markdown").stdout.splitlines() if x.startswith("Time: "))
    assert line.startswith("Time: 3 cells; the run was resumed 1 time(s) and its last part took 1.0 min")
    assert "the cells' own times add up to 0.2 min" in line

    old = RunStore.create(tmp_path, "old")  # records from before the field: no line, no error
    old.write_manifest({"run_id": "old", "suite_name": "s"})
    old.write_record(rec("a", "fp32", 4.0, error=None))
    assert "Time:" not in cli("summary", old.dir, "--markdown").stdout
