"""The tree is clean under `ruff check` with pyproject.toml's rules, and pyproject.toml agrees with the code."""

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed: pip install -r requirements.txt")
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_ruff_check_is_clean():
    r = _ruff(".")
    assert r.returncode == 0, f"ruff check found problems (fix them, or `ruff check --fix`):\n{r.stdout}{r.stderr}"


def test_ruff_rules_catch_real_mistakes(tmp_path):
    """The configured rules are not empty: an unused import, an undefined name and a loop-variable closure fail."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f():\n    return [lambda: i for i in range(3)], undefined_name\n")
    r = _ruff("--config", str(ROOT / "pyproject.toml"), str(bad), cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    for code in ("F401", "F821", "B023"):
        assert code in r.stdout, f"{code} not reported:\n{r.stdout}"


def test_console_script_and_version_resolve():
    pyproject = _pyproject()
    module, func = pyproject["project"]["scripts"]["vae"].split(":")
    assert callable(getattr(importlib.import_module(module), func))
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "vae.__version__"}


def test_install_dependencies_match_requirements():
    """`pip install .` and `pip install -r requirements.txt` ask for the same versions of what `vae` needs."""
    lines = [line.split(" #")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    reqs = {line.split(">")[0].split("<")[0].strip(): line for line in lines if line and not line.startswith("#")}
    for dep in _pyproject()["project"]["dependencies"]:
        name = dep.split(">")[0].split("<")[0].strip()
        assert reqs.get(name) == dep, f"pyproject.toml has {dep!r}, requirements.txt has {reqs.get(name)!r}"
