"""Specs are plan-time data: checking a suite must not pay for torch or ONNX Runtime (~6 s)."""

import subprocess
import sys

import pytest

from bench.optimize import OPTIMIZATIONS, Artifact, OptimizationSpec
from bench.registry import load
from bench.runtime import RUNTIMES, RuntimeSpec
from tests.conftest import ROOT

HEAVY = ("torch", "transformers", "timm", "onnx", "onnxruntime", "torchao")

# Each of these, imported alone in a fresh interpreter, must leave every HEAVY module unimported.
LIGHT_MODULES = ["bench.optimize", "bench.runtime", "bench.zoo", "bench.modality", "bench.suite", "bench.cli",
                 "bench.record", "bench.manifest"]


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_importing_specs_imports_no_heavy_library(module):
    code = f"import sys, {module}; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_declared_implementation_resolves():
    from bench.zoo import MODELS

    for spec in [*OPTIMIZATIONS, *RUNTIMES]:
        assert isinstance(spec.impl, str), spec.name  # a callable here would have imported its module
        assert callable(load(spec.impl)), spec.name
    for model in MODELS:
        assert isinstance(model.build_fn, str) and callable(load(model.build_fn)), model.name


def test_planning_a_suite_imports_no_heavy_library():
    code = ("import sys; from bench.suite import expand, load_suite; expand(load_suite('suites/survey-cpu.yaml')); "
            f"print([m for m in {HEAVY!r} if m in sys.modules and m != 'onnxruntime'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"  # ORT is asked which providers it has, only when a target uses it


@pytest.mark.parametrize(("impl", "message"), [
    ("bench.optimize.no_such_family:fn", "there is no module 'bench.optimize.no_such_family'"),
    ("bench.optimize.baseline:no_such_fn", "module 'bench.optimize.baseline' has no attribute 'no_such_fn'"),
    ("bench.optimize.baseline.fp32", "expected 'package.module:attribute'"),
])
def test_a_missing_implementation_is_named_when_applied(impl, message):
    opt = OptimizationSpec("broken", impl)
    with pytest.raises(ImportError, match=message):
        opt.apply(Artifact("torch"), opt.parse_params({}), None)
    runtime = RuntimeSpec("broken", accepts="torch", devices=("cpu",), impl=impl)
    with pytest.raises(ImportError, match=message):
        runtime.bind(Artifact("torch"), None, {})


def test_a_missing_dependency_of_an_implementation_is_not_reported_as_a_missing_module(tmp_path, monkeypatch):
    (tmp_path / "needs_missing_dep.py").write_text("import no_such_dependency_xyz\n\ndef fn(a, p, c):\n    return a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as e:
        load("needs_missing_dep:fn")
    assert e.value.name == "no_such_dependency_xyz"


def test_a_callable_implementation_is_called_as_given():
    art = Artifact("torch")
    opt = OptimizationSpec("identity", lambda artifact, params, ctx: artifact.evolve(notes=["ran"]))
    assert opt.apply(art, opt.parse_params({}), None).notes == ["ran"]


def test_configs_written_out_in_specs_match_the_transformers_defaults_they_copy():
    """MobileBERT and OPT-125m are transformers' default configs; their specs hold the numbers (a
    spec may not import transformers), so a release that changed a default would show here."""
    import transformers as tf

    from bench.zoo.specs.decoders import OPT_125M
    from bench.zoo.specs.text import MOBILEBERT

    for numbers, config in ((MOBILEBERT, tf.MobileBertConfig()), (OPT_125M, tf.OPTConfig())):
        assert {k: getattr(config, k) for k in numbers} == numbers
