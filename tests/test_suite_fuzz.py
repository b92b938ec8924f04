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


def _check(text: str) -> str | None:
    """The plan's error message, or None when the text planned."""
    try:
        plan = expand(parse_suite(text, source="fuzz.yaml"))
    except UserError as e:
        msg = str(e)
        assert msg and "Traceback" not in msg
        assert len(msg) <= 2100, msg[:300]  # values are quoted cut (bench.registry.show), never in full
        return msg
    assert plan.cells and all(c.cell_id for c in plan.cells)
    for c in plan.runnable:
        c.to_json()
    assert len({c.cell_id for c in plan.cells}) == len(plan.cells)  # no cell silently merged into another
    assert all(len(c.cell_id) <= 200 for c in plan.cells)
    return None


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


@st.composite
def alias_bombs(draw):
    """The valid suite with one value replaced by `levels` anchors of `width` aliases each: up to 12^12
    values from a few hundred bytes (billion laughs)."""
    levels, width = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    leaf = draw(st.sampled_from(["fp32", "1", "{a: 1}", "[]", "x"]))
    inner = f"&a0 [{', '.join([leaf] * width)}]"
    for i in range(1, levels):
        inner = f"&a{i} [{inner}, {', '.join([f'*a{i - 1}'] * (width - 1)) or f'*a{i - 1}'}]"
    key = draw(st.sampled_from([line.split(":", 1)[0] for line in LINES if not line.startswith(" ")]))
    lines, skipping = [], False
    for line in LINES:  # the key's value, block lines and all, becomes the bomb
        if not line.startswith(" "):
            skipping = line.startswith(key + ":")
            lines.append(f"{key}: {inner}" if skipping else line)
        elif not skipping:
            lines.append(line)
    return "\n".join(lines) + "\n", levels, width


@st.composite
def duplicate_keys(draw):
    """The valid suite with one key written twice in its mapping: at the top level, in a flow mapping
    or in a block mapping, with the same or another value."""
    lines = list(LINES)
    where = draw(st.sampled_from(["top", "flow", "block"]))
    if where == "top":
        top = [k for k, line in enumerate(lines) if not line.startswith(" ")]
        i = draw(st.sampled_from(top))
        at = draw(st.sampled_from([k for k in top if k > i] + [len(lines)]))  # before another top-level key
        key = lines[i].split(":", 1)[0]
        value = yaml.safe_dump(draw(YAML_VALUES), default_flow_style=True, width=10**6).strip().removesuffix("...")
        lines.insert(at, f"{key}: {value.strip()}")
        first, second = i + 1, at + 1
    elif where == "flow":
        i = draw(st.sampled_from([k for k, line in enumerate(lines) if "{" in line and ":" in line.split("{", 1)[1]]))
        head, body = lines[i].split("{", 1)
        key = body.split(":", 1)[0].strip()
        lines[i] = f"{head}{{{key}: {draw(st.sampled_from(['1', 'x', '[]', 'null']))}, {body}"
        first = second = i + 1
    else:
        lines += ["measure:", "  warmup_iters: 1", "  retries: 0", "  warmup_iters: 2"]
        lines = [line for line in lines if not line.startswith("measure: {")]
        key, first, second = "warmup_iters", len(lines) - 2, len(lines)
    return "\n".join(lines) + "\n", key, first, second


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


@FUZZ
@given(alias_bombs())
def test_alias_bombs_are_refused_or_planned_never_expanded(case):
    text, levels, width = case
    msg = _check(text)
    if width ** levels > 2 * 100_000:  # surely past the loader's bound, whichever value was replaced
        assert msg is not None and "more than 100,000 values" in msg


@FUZZ
@given(duplicate_keys())
def test_a_key_written_twice_is_an_error_naming_both_lines(case):
    text, key, first, second = case
    msg = _check(text)
    assert msg is not None and f"the key {key!r} appears twice in one mapping" in msg
    assert (f"on line {first}" if first == second else f"at lines {first} and {second}") in msg


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
    "name: x\nmodels: [tinybert-4]\noptimizations: [fp32]\ntargets: [{runtime: torch}]\n"
    "measure: {seed: " + "9" * 5000 + "}\n",  # past Python's 4300-digit int conversion: a bare ValueError
    "name: 2001-13-45\n",  # a date with no 13th month: another ValueError from the constructor
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
