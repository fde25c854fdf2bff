"""What a user installs: the README's first two commands, the wheel's contents, the installed
package run from outside the checkout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert block, "the README opens with a bash block of commands"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_first_command_installs_only_the_package_and_verifies() -> None:
    first, second = readme_commands()[:2]
    install, run = (part.strip() for part in first.split("&&"))
    assert install == "pip install ."  # no extras: the main job needs only the dependencies
    assert run == "symsteer verify"
    assert "[test]" in second and second.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    install, run = (part.strip() for part in readme_commands()[1].split("&&"))
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert any(line.strip() == f"python -m {install}".replace("pip install", "pip install -q", 1) for line in ci), install
    assert run in [line.strip() for line in ci]
    assert ".ci/wheel-check" in [line.strip() for line in ci]


def test_test_extras_are_what_the_tests_and_examples_import() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base = {re.split(r"[<>=]", d)[0] for d in project["dependencies"]}
    test = {re.split(r"[<>=]", d)[0] for d in project["optional-dependencies"]["test"]}
    assert "pytest" not in base and "matplotlib" not in base and not base & test


def _copy_checkout(dest: Path) -> Path:
    skip = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis",
                                  ".pytest_cache", "tests", "benchmarks", "examples")
    shutil.copytree(ROOT, dest, ignore=skip)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the checkout (the build writes build/ beside its sources)."""
    pytest.importorskip("setuptools")
    tmp = tmp_path_factory.mktemp("wheel")
    src = _copy_checkout(tmp / "src")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (built,) = (tmp / "dist").glob("symsteer-*.whl")
    return built


def test_wheel_claims_only_symsteer_and_carries_the_claims_and_licence(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"symsteer"}
    shipped = sorted(n.removeprefix("symsteer/proofs/") for n in names if n.startswith("symsteer/proofs/"))
    assert shipped == sorted(p.name for p in (ROOT / "proofs").glob("*.toml"))
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    # every subpackage of the checkout is in the wheel
    packages = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "symsteer").rglob("__init__.py")}
    assert packages <= {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}


def test_installed_wheel_verifies_from_another_folder(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # a pure-Python wheel installs by unpacking
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run([sys.executable, "-c", "import symsteer, symsteer.claims as c; print(symsteer.__file__); print(c.PROOFS)"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines() == [str(site / "symsteer" / "__init__.py"), str(site / "symsteer" / "proofs")]
    proc = subprocess.run([sys.executable, "-m", "symsteer", "verify", "--only", "c01-homogeneity-biases",
                           "--only", "c02-linearity-additive"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "2 passed, 0 failed" in proc.stdout


def test_editable_checkout_beside_a_folder_named_symsteer(tmp_path: Path) -> None:
    """An editable install puts the checkout on sys.path: run from the folder that holds a clone
    named symsteer, the clone folder (no __init__.py) must not win as a namespace package."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    # setuptools picks the static .pth for an editable install only for this simple layout
    assert project["tool"]["setuptools"]["package-dir"] == {"": "."}
    clone = tmp_path / "symsteer"
    _copy_checkout(clone)
    env = {**os.environ, "PYTHONPATH": str(clone)}  # what the editable install's .pth adds
    proc = subprocess.run([sys.executable, "-c", "import symsteer; print(symsteer.Network.__name__)"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "Network", proc.stderr
