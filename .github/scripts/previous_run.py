"""Print `run_id=<id>` of the newest successful scheduled run of a workflow, for $GITHUB_OUTPUT.

The GPU job compares each scheduled run with the previous good one. Finding that run takes one
REST call; the official actions/download-artifact then fetches its artifact by run id. Standard
library only: a self-hosted runner is promised python3, not gh or jq. Prints nothing (and exits
0) when there is no such run, so the job goes on without a comparison.

Environment: GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL (set by Actions), WORKFLOW_FILE.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


def previous_run_id(api: str, repo: str, workflow: str, token: str) -> int | None:
    url = f"{api}/repos/{repo}/actions/workflows/{workflow}/runs?event=schedule&status=success&per_page=1"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}",
                                               "Accept": "application/vnd.github+json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        runs = json.load(resp).get("workflow_runs") or []
    return int(runs[0]["id"]) if runs else None


def main() -> int:
    try:
        run_id = previous_run_id(os.environ.get("GITHUB_API_URL", "https://api.github.com"),
                                 os.environ["GITHUB_REPOSITORY"], os.environ.get("WORKFLOW_FILE", "gpu-bench.yml"),
                                 os.environ.get("GITHUB_TOKEN", ""))
    except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
        print(f"warning: could not look up the previous scheduled run: {e}", file=sys.stderr)
        return 0
    if run_id is not None:
        print(f"run_id={run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
