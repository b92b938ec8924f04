"""Sessions: tests, lint, bench-cpu, bench-gpu.

CPU sessions install torch through constraints.txt; the GPU session takes the default (CUDA)
build of torch from the package index, or keeps the one the machine has.
"""

import shutil

import nox

nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "lint"]


def _install_cpu(session, extras="dev"):
    session.install("-c", "constraints.txt", "-e", f".[{extras}]")


@nox.session
def tests(session):
    _install_cpu(session, "dev,ray")  # ray: the Ray executor's tests run in CI too
    session.run("pytest", "-q", *session.posargs)


@nox.session
def lint(session):
    session.install("ruff")
    session.run("ruff", "check", "bench", "tests", "noxfile.py", "benchmarks")


@nox.session(name="bench-cpu")
def bench_cpu(session):
    _install_cpu(session)
    suite = session.posargs[0] if session.posargs else "suites/survey-cpu.yaml"
    session.run("bench", "run", suite, "--report")


@nox.session(name="bench-gpu")
def bench_gpu(session):
    if shutil.which("nvidia-smi") is None:
        session.error("bench-gpu needs an NVIDIA GPU with its driver (nvidia-smi was not found). "
                      "Run `nox -s bench-cpu` on this machine instead.")
    session.install("-e", ".[dev]")
    session.run("python", "-c", "import sys, torch; sys.exit(0 if torch.cuda.is_available() else "
                "'torch sees no CUDA device: install a CUDA build of torch and check the driver')")
    suite = session.posargs[0] if session.posargs else "suites/survey-gpu.yaml"
    session.run("bench", "run", suite, "--report")
