"""The `bench` parser: every command registered from bench/commands/, and none of them loading torch."""

import subprocess
import sys

from bench.cli import build_parser
from tests.conftest import ROOT


def test_building_the_parser_does_not_import_torch():
    """`bench --help` and a mistyped flag must answer at once; torch takes seconds to import."""
    code = "import sys, bench.cli; bench.cli.build_parser(); print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_help_lists_every_command_with_its_line():
    text = build_parser().format_help()
    for name in ("plan", "run", "report", "compare", "export", "export-edge", "import", "summary", "survey",
                 "history", "profile-diff"):
        assert f"\n    {name} " in text, name
