"""The exceptions symsteer raises: one root, and the few kinds a caller would catch."""

from __future__ import annotations

__all__ = [
    "SymsteerError",
    "ShapeError",
    "InputFileError",
    "ClaimFileError",
    "BudgetError",
    "DeadlineError",
    "EnvironmentFault",
    "ReferenceMismatch",
]


class SymsteerError(Exception):
    """Root of every error symsteer raises on purpose; the CLI turns it into a message."""

    exit_code = 2


class ShapeError(SymsteerError, ValueError):
    """Weights, vectors or options whose shapes or values do not fit together."""


class InputFileError(SymsteerError):
    """A file handed in by the user (weights, vectors) that cannot be read as expected."""

    exit_code = 3


class ClaimFileError(InputFileError):
    """A claim file that is not valid TOML, misses a field, or has a bad statement."""


class BudgetError(SymsteerError):
    """An expansion that would exceed its term budget; the message gives the count."""


class DeadlineError(SymsteerError):
    """A computation that ran past its time limit."""

    exit_code = 1


class EnvironmentFault(SymsteerError):
    """The machine failed a request that was fine: a full disk, an output device that refuses
    writes, memory exhausted."""

    exit_code = 5


class ReferenceMismatch(SymsteerError):
    """A loaded model whose forward pass differs from the outputs recorded with its own code."""

    exit_code = 1
