"""symsteer: exact steering expansions for networks of bilinear layers.

The public names load on first use (PEP 562): ``symsteer --help`` and ``from symsteer import
__version__`` do not pay for sympy and flint.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import BudgetError, ClaimFileError, DeadlineError, InputFileError, ShapeError, SymsteerError

__version__ = "0.1.0"

#: public name -> the module that defines it
_LAZY = {
    "Bilinear": ".blocks", "Network": ".network", "EXACT": ".numbers", "FLOAT": ".numbers", "PolyRing": ".numbers",
    "KINDS": "._coefficients", "coefficients": "._coefficients", "forward": "._coefficients",
    "split_coefficients": "._coefficients", "stream": "._coefficients", "Term": ".terms", "Expansion": ".expansion",
    "expand": ".expansion", "RTOL": "._check", "CheckResult": "._check", "check": "._check", "check_grid": "._check",
    "load_model": ".io", "load_vector": ".io", "save_model": ".io", "latex": "._latex", "Claim": ".claims",
    "Verdict": ".claims", "load_claims": ".claims", "verify": ".claims", "verify_all": ".claims",
}

__all__ = [
    "SymsteerError", "ShapeError", "InputFileError", "ClaimFileError", "BudgetError", "DeadlineError",
    "Bilinear", "Network", "Term", "Expansion", "expand",
    "FLOAT", "EXACT", "PolyRing", "KINDS", "forward", "stream", "coefficients", "split_coefficients",
    "check", "check_grid", "CheckResult", "RTOL",
    "load_model", "save_model", "load_vector", "latex",
    "Claim", "Verdict", "load_claims", "verify", "verify_all",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'symsteer' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
