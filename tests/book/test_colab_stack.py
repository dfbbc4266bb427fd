"""Colab's own stack (colab-constraints.txt): the package's requirements resolve against
Colab's versions without changing any of them (pip's dry run; needs the package index)."""

import json
import re
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "colab-constraints.txt"


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def colab_versions() -> dict:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[_name(name)] = version
    return pins


def _req_name(req: str) -> str:
    return _name(re.split(r"[<>=!~ \[;]", req, maxsplit=1)[0])


def requirements() -> list[str]:
    """What a Colab chapter's install cell pulls in: the package's own dependencies (no extras)."""
    return [r for r in requires("nbhelpers") if "extra ==" not in r]


def resolve(reqs, tmp_path) -> subprocess.CompletedProcess:
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
    cmd += ["--report", str(report), "--python-version", "3.13", "--only-binary=:all:"]
    cmd += ["-c", str(CONSTRAINTS), *reqs]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    out.report = json.loads(report.read_text()) if out.returncode == 0 else None
    return out


def test_colab_constraints_list_the_books_dependencies():
    pins = colab_versions()
    for req in requirements():
        name = _req_name(req)
        assert name in pins, f"{name} is a requirement but colab-constraints.txt lacks it"


@pytest.mark.index
def test_requirements_resolve_on_colabs_versions_unchanged(tmp_path):
    out = resolve(requirements(), tmp_path)
    assert out.returncode == 0, f"pip could not resolve on Colab's versions:\n{out.stderr[-3000:]}"
    installs = out.report["install"]
    resolved = {_name(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}
    for name, version in colab_versions().items():
        if name in resolved:  # ipykernel, say, is Colab's but not a requirement
            assert resolved[name] == version, name
    assert {_req_name(r) for r in requirements()} <= set(resolved)


@pytest.mark.index
def test_a_requirement_that_would_replace_colabs_numpy_is_caught(tmp_path):
    """The check can fail: asking for a numpy newer than Colab's does not resolve."""
    out = resolve([*requirements(), "numpy>=2.3"], tmp_path)
    assert out.returncode != 0
    assert "numpy" in out.stderr.lower()


@pytest.mark.parametrize("name", ["tensorflow", "keras", "numpy", "pandas"])
def test_constraints_pin_colabs_core(name):
    assert re.fullmatch(r"\d+(\.\d+)+", colab_versions()[name])
