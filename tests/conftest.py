import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=None, timeout=900):
    """Run the `bench` CLI in a subprocess, as a user would."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "bench", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def write_suite(tmp_path):
    def write(text: str, name="suite.yaml") -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p

    return write
