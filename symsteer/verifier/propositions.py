"""Propositions over generic values: what a statement becomes in a polynomial ring (a zero set,
a sign, an order, …), for the provers to work on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import SymsteerError

class Undefined(SymsteerError):
    """The statement has no value at this point (a division by zero, or an interval
    comparison that floating intervals cannot settle)."""


class Unsupported(SymsteerError):
    """The statement has no symbolic meaning here; only exact points can test it."""


# -- propositions in a polynomial ring -----------------------------------------------------


@dataclass(frozen=True, eq=False)
class Prop:
    """A proposition over generic values; ``text`` is the part of the statement it came from."""

    text: str = field(default="", kw_only=True)


@dataclass(frozen=True, eq=False)
class Truth(Prop):
    value: bool
    reason: str


@dataclass(frozen=True, eq=False)
class Zero(Prop):
    """Every polynomial vanishes."""

    polys: tuple
    ring: Any
    why: str = ""


@dataclass(frozen=True, eq=False)
class NotZero(Prop):
    """Some polynomial does not vanish."""

    polys: tuple
    ring: Any
    why: str = ""


@dataclass(frozen=True, eq=False)
class Sign(Prop):
    """``poly > 0`` (strict) or ``poly >= 0``."""

    poly: Any
    strict: bool
    ring: Any


@dataclass(frozen=True, eq=False)
class ReluZero(Prop):
    """Every entry ``rest + Σ coef · relu(arg)`` (a :class:`Relu`) is zero."""

    entries: tuple
    ring: Any


@dataclass(frozen=True, eq=False)
class ReluSign(Prop):
    """Every entry ``rest + Σ coef · relu(arg)`` (a :class:`Relu`) is > 0 (strict) or >= 0."""

    entries: tuple
    strict: bool
    ring: Any


@dataclass(frozen=True, eq=False)
class Order(Prop):
    """``argmax(left) == argmax(right)`` (kind 'argmax') or ``same_ranking(left, right)``."""

    kind: str
    left: tuple
    right: tuple
    ring: Any
    negated: bool = False


@dataclass(frozen=True, eq=False)
class EntropyLess(Prop):
    """``H(softmax(left)) < H(softmax(right))`` (or ``<=``)."""

    left: tuple
    right: tuple
    strict: bool
    ring: Any
    negated: bool = False


@dataclass(frozen=True, eq=False)
class Opaque(Prop):
    """No symbolic strategy: only exact points can test it."""

    reason: str


@dataclass(frozen=True, eq=False)
class All(Prop):
    items: tuple


@dataclass(frozen=True, eq=False)
class Any_(Prop):
    items: tuple


@dataclass(frozen=True, eq=False)
class Generic(Prop):
    """The inner proposition holds for almost every weight and input."""

    inner: Prop


@dataclass(frozen=True, eq=False)
class Empirical(Prop):
    """A claim about behaviour on data."""

    claim: str


def negate(p: Prop) -> Prop:
    """``not p``, pushed down to the atoms."""
    t = f"not {p.text}" if p.text else ""
    if isinstance(p, Truth):
        return Truth(not p.value, p.reason, text=t)
    if isinstance(p, Zero):
        return NotZero(p.polys, p.ring, p.why, text=t)
    if isinstance(p, NotZero):
        return Zero(p.polys, p.ring, p.why, text=t)
    if isinstance(p, Sign):
        return Sign(-p.poly, not p.strict, p.ring, text=t)
    if isinstance(p, Order):
        return Order(p.kind, p.left, p.right, p.ring, negated=not p.negated, text=t)
    if isinstance(p, EntropyLess):
        return EntropyLess(p.left, p.right, p.strict, p.ring, negated=not p.negated, text=t)
    if isinstance(p, All):
        return Any_(tuple(negate(i) for i in p.items), text=t)
    if isinstance(p, Any_):
        return All(tuple(negate(i) for i in p.items), text=t)
    return Opaque(f"the negation of {p.text or type(p).__name__} has no symbolic strategy", text=t)
