"""Steer sets: which positions of a sequence get ``α s``.

Steering a sequence model adds ``α s`` to the stream entering block n at a set of positions
P: ``x_n[t] → x_n[t] + α s`` for t ∈ P, or ``α S[t]`` with one vector per position. The set
is written once, parsed once into a frozen :class:`SteerSet`, and resolved against the
sequence length T when the sequence is known:

========== ============================================== ===========================
text       positions (T = 5: 0 … 4)                        steering libraries' name
========== ============================================== ===========================
``all``    0 1 2 3 4                                       every token
``last``   4 (only T − 1)                                  the newest token
``from:2`` 2 3 4 (2 … T − 1; ``from:0`` is ``all``)        ``min_token_index = 2``
``0,3``    0 and 3 (an explicit list, 0-based)
========== ============================================== ===========================

Positions are 0-based and never counted from the end: ``-1`` is refused (write ``last``).
A set that resolves to no position (``from:5`` when T = 5), an index past T − 1 and an index
given twice are refused with a message naming them: each has a plausible but different
meaning (steer nothing, steer a padded slot, add ``2 α s``), which is where users of
steering libraries lose their tokens.

>>> SteerSet.parse("from:2").resolve(5)
(2, 3, 4)
>>> SteerSet.parse("last").resolve(5)
(4,)
>>> str(SteerSet.parse(" 3, 0 "))
'0,3'
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

import numpy as np

from .errors import ShapeError
from .files import echo

__all__ = ["SteerSet", "steer_direction"]

Kind = Literal["all", "last", "from", "list"]

_SYNTAX = "'all', 'last', 'from:T' or a list of 0-based positions 'i,j,…'"
_INDEX = re.compile(r"[+-]?\d+")


#: the most digits a position may have (int() refuses past 4300; no sequence is that long)
_MAX_DIGITS = 18


def _listing(values: list[int], limit: int = 5) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown if len(values) <= limit else f"{shown} … ({len(values)} in all)"


def _index(text: str, spec: str) -> int:
    if not _INDEX.fullmatch(text):
        raise ShapeError(f"positions={echo(spec)}: {echo(text, 20)} is not a position; expected {_SYNTAX}")
    if len(text.lstrip("+-")) > _MAX_DIGITS:
        raise ShapeError(f"positions={echo(spec)}: {echo(text, 20)} has {len(text.lstrip('+-'))} digits; "
                         f"expected a 0-based position (at most {_MAX_DIGITS} digits)")
    value = int(text)
    if value < 0:
        raise ShapeError(f"positions={echo(spec)}: position {value} is negative; positions are 0-based (write 'last' for T − 1)")
    return value


@dataclass(frozen=True)
class SteerSet:
    """A set of positions to steer, before the sequence length is known (see the module).

    Build one with :meth:`parse` (text) or :meth:`of` (text, an int, a list of ints).
    """

    kind: Kind
    #: the first steered position of ``from:t``
    start: int = field(default=0, kw_only=True)
    #: the positions of an explicit list, sorted, each once
    indices: tuple[int, ...] = field(default=(), kw_only=True)

    def __post_init__(self) -> None:
        if self.kind not in ("all", "last", "from", "list"):
            raise ShapeError(f"kind={self.kind!r}; expected 'all', 'last', 'from' or 'list'")
        if self.kind == "list":
            if not self.indices:
                raise ShapeError("positions=[] is empty; expected at least one position to steer")
            if list(self.indices) != sorted(set(self.indices)) or self.indices[0] < 0:
                raise ShapeError(f"indices={self.indices!r}; expected distinct 0-based positions in increasing order")
        if self.kind == "from" and self.start < 0:
            raise ShapeError(f"start={self.start}; expected a 0-based position")

    @classmethod
    def parse(cls, text: str) -> SteerSet:
        """``all``, ``last``, ``from:t`` or ``i,j,…`` (spaces allowed, order free, no repeats)."""
        if not isinstance(text, str):
            raise ShapeError(f"positions={text!r}; expected text: {_SYNTAX}")
        spec = text.strip().lower()
        if spec in ("all", "last"):
            return cls(spec)  # type: ignore[arg-type]
        if spec.startswith("from:"):
            return cls("from", start=_index(spec[5:].strip(), text))
        if not spec:
            raise ShapeError(f"positions={text!r} is empty; expected {_SYNTAX}")
        items = [_index(part.strip(), text) for part in spec.split(",")]
        return cls._listed(items, text)

    @classmethod
    def of(cls, value: SteerSet | str | int | Iterable[int]) -> SteerSet:
        """A steer set from its text, one position, or a list of positions."""
        if isinstance(value, SteerSet):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, (bool, np.bool_)):
            raise ShapeError(f"positions={value!r}; expected {_SYNTAX}")
        if isinstance(value, (int, np.integer)):
            return cls._listed([_index(str(int(value)), str(value))], str(value))
        try:
            items = list(value)
        except TypeError:
            raise ShapeError(f"positions={value!r}; expected {_SYNTAX}") from None
        spec = ",".join(str(v) for v in items)
        for v in items:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise ShapeError(f"positions={items!r}: {v!r} is not an integer position; expected {_SYNTAX}")
        return cls._listed([_index(str(int(v)), spec) for v in items], spec)

    @classmethod
    def _listed(cls, items: list[int], spec: str) -> SteerSet:
        if not items:
            raise ShapeError(f"positions={echo(spec)} is empty; expected at least one position to steer")
        repeated = sorted(v for v, n in Counter(items).items() if n > 1)  # linear: a list may be long
        if repeated:
            raise ShapeError(
                f"positions={echo(spec)} names position(s) {_listing(repeated)} more than once; "
                "list each position once (to steer one position twice as hard, scale s)"
            )
        return cls("list", indices=tuple(sorted(items)))

    def resolve(self, length: int) -> tuple[int, ...]:
        """The steered positions of a sequence of ``length`` positions, increasing.

        >>> SteerSet.parse("0,2").resolve(3)
        (0, 2)
        """
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
            raise ShapeError(f"sequence length T={length!r}; expected a positive integer")
        T = int(length)
        if self.kind == "all":
            return tuple(range(T))
        if self.kind == "last":
            return (T - 1,)
        if self.kind == "from":
            if self.start >= T:
                raise ShapeError(
                    f"positions='{self}' is empty for a sequence of T={T} positions (0 … {T - 1}); "
                    f"expected from:t with t ≤ {T - 1}"
                )
            return tuple(range(self.start, T))
        outside = [i for i in self.indices if i >= T]
        if outside:
            raise ShapeError(
                f"positions={echo(str(self))}: position(s) {_listing(outside)} out of range for a sequence of "
                f"T={T} positions (0 … {T - 1})"
            )
        return self.indices

    def mask(self, length: int) -> np.ndarray:
        """Booleans of shape (T,): True at the steered positions."""
        out = np.zeros(length, dtype=bool)
        out[list(self.resolve(length))] = True
        return out

    def first(self, length: int) -> int:
        """min(P): by causality no output before it changes."""
        return self.resolve(length)[0]

    def __str__(self) -> str:
        if self.kind == "from":
            return f"from:{self.start}"
        if self.kind == "list":
            return ",".join(map(str, self.indices))
        return self.kind


def steer_direction(positions: SteerSet | str | Iterable[int], s: Any, *, length: int, width: int) -> np.ndarray:
    """The (T, d) array ``D`` with ``x_n + α D`` the steered stream: row t is ``s`` (or ``S[t]``
    for a per-position ``S`` of shape (T, d)) when t is steered, zero otherwise.

    Entries keep their type (ints, Fractions, floats, sympy numbers): the caller converts them
    into its number system. A per-position ``S`` with a nonzero row at a position outside the
    set is refused: it would be dropped silently.

    >>> steer_direction("last", [1, 2], length=3, width=2).tolist()
    [[0, 0], [0, 0], [1, 2]]
    """
    steer = SteerSet.of(positions)
    chosen = steer.resolve(length)
    arr = np.asarray(s, dtype=object) if not isinstance(s, np.ndarray) else s
    if arr.ndim == 1:
        if arr.shape != (width,):
            raise ShapeError(f"s has shape {arr.shape}; expected ({width},), one vector, or ({length}, {width}), one per position")
        rows = np.broadcast_to(arr, (length, width))
    elif arr.ndim == 2:
        if arr.shape != (length, width):
            raise ShapeError(f"s has shape {arr.shape}; expected ({length}, {width}): one vector per position")
        rows = arr
    else:
        raise ShapeError(f"s has shape {arr.shape}; expected ({width},) or ({length}, {width})")
    if arr.ndim == 2:
        dropped = [t for t in range(length) if t not in chosen and any(v != 0 for v in rows[t])]
        if dropped:
            raise ShapeError(
                f"s has nonzero rows at position(s) {', '.join(map(str, dropped))}, outside positions='{steer}'; "
                "zero those rows or steer those positions"
            )
    out = np.zeros((length, width), dtype=object if rows.dtype == object else rows.dtype)
    if out.dtype == object:
        out[...] = 0
    for t in chosen:
        out[t] = rows[t]
    return out
