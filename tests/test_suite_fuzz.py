"""Property-based: the suite loader turns any text into a valid plan or one UserError, never a traceback."""

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.errors import UserError
from bench.suite import expand, parse_suite

VALID = """\
name: fuzz
description: a valid suite that the strategies mutate
models: [tinybert-4, deit-ti]
optimizations:
  - fp32
  - torch-dynamic-int8(embeddings=false)
  - [onnx-export, ort-dynamic-int8]
  - {onnx-export: {opset: 17}}
targets:
  - {runtime: torch, device: cpu, threads: 1}
  - {runtime: onnxruntime, device: cpu, threads: 2, name: ort}
workloads: {batch_sizes: [1, 2], seq_lens: [16], image_sizes: [224]}
measure: {warmup_iters: 1, min_time_s: 0.05, max_time_s: 0.5, min_samples: 5, timeout_s: 30, memory_limit_mb: 4000, retries: 0}
exclude:
  - {model: deit-*, runtime: onnxruntime}
"""

LINES = VALID.splitlines()
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from([".inf", "-.nan", "~", "0x1F", "1e400", "&a", "*a",
                                                          "!!binary AAAA", "!!python/object:os.system", "{", "]",
                                                          "'", "\"", ":", "- ", "? ", "|", "%YAML 1.1", "\t"]))
YAML_VALUES = st.recursive(SCALARS, lambda c: st.one_of(st.lists(c, max_size=3),
                                                       st.dictionaries(SCALARS, c,
                                                                       max_size=3)), max_leaves=8)


def _check(text: str) -> None:
    try:
        plan = expand(parse_suite(text, source="fuzz.yaml"))
    except UserError as e:
        msg = str(e)
        assert msg and "Traceback" not in msg
        return
    assert plan.cells and all(c.cell_id for c in plan.cells)
    for c in plan.runnable:
        c.to_json()


@st.composite
def mutated(draw):
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["del_line", "dup_line", "swap_line", "replace_value", "del_chars",
                                   "insert_chars", "replace_char"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == "del_line":
            del lines[i]
        elif op == "dup_line":
            lines.insert(i, lines[i])
        elif op == "swap_line":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "replace_value":
            key = lines[i].split(":", 1)[0]
            value = yaml.safe_dump(draw(YAML_VALUES), default_flow_style=True, width=10**6).strip()
            value = value.removesuffix("\n...").removesuffix("...").strip()
            lines[i] = f"{key}: {value}"
        else:
            text = lines[i]
            k = draw(st.integers(0, len(text)))
            if op == "del_chars":
                lines[i] = text[:k] + text[k + draw(st.integers(1, 5)):]
            elif op == "insert_chars":
                lines[i] = text[:k] + draw(st.text(max_size=4)) + text[k:]
            else:
                lines[i] = text[:k] + draw(st.characters()) + text[k + 1:]
    return "\n".join(lines) + "\n"


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def test_the_unmutated_suite_is_valid():
    plan = expand(parse_suite(VALID))
    assert len(plan.runnable) > 0


@FUZZ
@given(mutated())
def test_mutated_suites_are_valid_or_a_user_error(text):
    _check(text)


@FUZZ
@given(st.dictionaries(st.sampled_from(["name", "models", "optimizations", "targets", "workloads", "measure",
                                        "exclude", "description", "extra"]), YAML_VALUES, max_size=8))
def test_random_documents_are_valid_or_a_user_error(doc):
    _check(yaml.safe_dump(doc))


@FUZZ
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_random_text_is_valid_or_a_user_error(text):
    _check(text)


@pytest.mark.parametrize("text", [
    "[" * 5000,  # deep nesting: the parser's recursion limit
    "name: x\nmodels: [tinybert-4]\noptimizations: ['fp32(a=[)']\ntargets: [{runtime: torch}]\n",
    "name: x\nmodels: [tinybert-4]\noptimizations: [fp32]\ntargets: [{runtime: torch}]\nmeasure: {timeout_s: .nan}\n",
    "name: x\nmodels: [tinybert-4]\noptimizations: [{1: 2}]\ntargets: [{runtime: torch}]\n",
    "? [a]\n: b\n",
    "1: x\nname: x\n",
    "name: x\nmodels: [tinybert-4]\noptimizations: [fp32]\ntargets: [{runtime: torch, threads: 1}]\n"
    "exclude: [{model: 1}]\nworkloads: {batch_sizes: [true]}\n",
    "name: x\nmodels: [tinybert-4]\noptimizations: [fp32]\ntargets: [{runtime: torch}]\n"
    "workloads: {seq_lens: [100000000000000000000]}\n",
])
def test_known_hard_inputs(text):
    _check(text)


@pytest.mark.parametrize("text", ["[" * 5000 + "\n", "name: x\nmodels: [tinybert-4]\noptimizations: ['fp32(a=[)']\n"
                                  "targets: [{runtime: torch}]\n"], ids=["deep-nesting", "bad-step-value"])
def test_cli_exits_2_on_what_the_fuzzer_found(write_suite, capsys, text):
    from bench.cli import main

    assert main(["plan", str(write_suite(text))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1
