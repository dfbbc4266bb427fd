"""The project's formatter and linter (ruff, configured in pyproject.toml) pass on everything:
the package, tests, benchmarks and the chapters' code cells. CI fails on a violation."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _ruff() -> list[str]:
    beside = Path(sys.executable).with_name("ruff")  # the venv's, installed with the test extra
    found = str(beside) if beside.exists() else shutil.which("ruff")
    assert found, "ruff is not installed: pip install -e '.[test]'"
    return [found]


@pytest.mark.parametrize("args", [["format", "--check", "."], ["check", "."]], ids=" ".join)
def test_ruff(args):
    done = subprocess.run(_ruff() + args, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"ruff {' '.join(args)} found:\n{done.stdout}{done.stderr}"
