"""Print `run_id=<id>` of the newest workflow run that left a history artifact, for $GITHUB_OUTPUT.

The GPU job carries its history (every past run's manifest and records table) from run to run as
one artifact. It must come from the newest run that uploaded one, whatever that run's conclusion:
a run the gate failed still measured a day, and leaving it out would let the next run find the
same regression new again. One REST call lists the artifacts of that name, newest first; the
official actions/download-artifact then fetches it by run id. Standard library only, like
previous_run.py. Prints nothing (and exits 0) when there is none: the history starts afresh.

Environment: GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL and GITHUB_RUN_ID (set by Actions),
ARTIFACT (default gpu-bench-history).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


def history_run_id(api: str, repo: str, artifact: str, token: str, this_run: str) -> int | None:
    url = f"{api}/repos/{repo}/actions/artifacts?name={artifact}&per_page=20"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}",
                                               "Accept": "application/vnd.github+json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        found = json.load(resp).get("artifacts") or []
    runs = [int(a["workflow_run"]["id"]) for a in sorted(found, key=lambda a: a.get("created_at") or "", reverse=True)
            if not a.get("expired") and a.get("workflow_run") and str(a["workflow_run"]["id"]) != this_run]
    return runs[0] if runs else None


def main() -> int:
    try:
        run_id = history_run_id(os.environ.get("GITHUB_API_URL", "https://api.github.com"),
                                os.environ["GITHUB_REPOSITORY"], os.environ.get("ARTIFACT", "gpu-bench-history"),
                                os.environ.get("GITHUB_TOKEN", ""), os.environ.get("GITHUB_RUN_ID", ""))
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as e:
        print(f"warning: could not look up the history artifact: {e}", file=sys.stderr)
        return 0
    if run_id is not None:
        print(f"run_id={run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
