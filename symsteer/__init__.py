"""symsteer: exact steering expansions for networks of bilinear layers.

The public API, at a glance. Submodules load on first use, so ``symsteer --help`` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_WHERE = {
    # errors
    "SymsteerError": "errors", "ShapeError": "errors", "InputFileError": "errors",
    "ClaimFileError": "errors", "BudgetError": "errors", "DeadlineError": "errors",
    # layers and networks
    "Bilinear": "layer", "Network": "network",
    # terms and the expansion
    "Term": "terms", "Expansion": "expansion", "expand": "expansion",
    # numbers and the numeric core
    "FLOAT": "numbers", "EXACT": "numbers", "PolyRing": "numbers",
    "forward": "coefficients", "stream": "coefficients",
    # the module ``coefficients`` shadows a function of the same name, so it is exported as
    "alpha_coefficients": "coefficients",
    "split_coefficients": "coefficients", "KINDS": "coefficients",
    # checks
    "check": "check", "check_grid": "check", "CheckResult": "check", "RTOL": "check",
    # files
    "load_model": "io", "save_model": "io", "load_vector": "io",
}

__all__ = ["__version__", *_WHERE]


_RENAMED = {"alpha_coefficients": "coefficients"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(f".{_WHERE[name]}", __name__), _RENAMED.get(name, name))
        globals()[name] = value
        return value
    raise AttributeError(f"module 'symsteer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
