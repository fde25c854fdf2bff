"""The package's public names: none shadows a module, and the documented module-style calls work."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import symsteer


def test_no_public_name_shadows_a_module() -> None:
    modules = {m.name for m in pkgutil.iter_modules(symsteer.__path__)} - {"__main__"}  # importing it runs the CLI
    assert not set(symsteer.__all__) & modules, set(symsteer.__all__) & modules
    for name in modules:
        module = importlib.import_module(f"symsteer.{name}")
        # the attribute of the package is the module itself, not something bound over it
        assert getattr(symsteer, name, module) is module, name


def test_import_of_a_submodule_gives_a_module_in_a_fresh_interpreter() -> None:
    code = ("import types, symsteer, symsteer.claims as c; "
            "assert isinstance(c, types.ModuleType); "
            "assert callable(symsteer.check) and callable(symsteer.coefficients) and callable(symsteer.latex); "
            "assert '\\\\usepackage' in symsteer.latex.preamble()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_documented_latex_preamble() -> None:
    assert symsteer.latex.preamble().startswith("\\usepackage")
