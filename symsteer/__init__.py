"""symsteer: exact steering expansions for networks of bilinear layers."""

from .errors import BudgetError, ClaimFileError, DeadlineError, InputFileError, ShapeError, SymsteerError
from .blocks import Bilinear
from .network import Network
from .numbers import EXACT, FLOAT, PolyRing
from ._coefficients import KINDS, coefficients, forward, split_coefficients, stream
from .terms import Term
from .expansion import Expansion, expand
from ._check import RTOL, CheckResult, check, check_grid
from .io import load_model, load_vector, save_model
from ._latex import latex
from .claims import Claim, Verdict, load_claims, verify, verify_all

__version__ = "0.1.0"

__all__ = [
    "SymsteerError", "ShapeError", "InputFileError", "ClaimFileError", "BudgetError", "DeadlineError",
    "Bilinear", "Network", "Term", "Expansion", "expand",
    "FLOAT", "EXACT", "PolyRing", "KINDS", "forward", "stream", "coefficients", "split_coefficients",
    "check", "check_grid", "CheckResult", "RTOL",
    "load_model", "save_model", "load_vector", "latex",
    "Claim", "Verdict", "load_claims", "verify", "verify_all",
]
