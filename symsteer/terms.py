"""Nested bilinear terms: leaves ``x``, ``s``, the bias leaf ``1`` and the directions ``d_l``,
and symmetric layer applications ``B̂_l(u, v)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

__all__ = ["Term", "leaf", "apply", "kind_of", "ONE"]


def kind_of(has_input: bool, has_s: bool) -> str:
    """input (no s leaf), self (no input-side leaf), cross (both), const (only bias leaves)."""
    return ("cross" if has_s else "input") if has_input else ("self" if has_s else "const")


@dataclass(frozen=True, eq=False)
class Term:
    """A leaf (``name`` set) or ``B̂_layer(left, right)``; terms are shared, compare by identity.

    >>> t = apply(0, leaf("x"), leaf("s"))
    >>> str(t), t.order, t.kind
    ('B0(x, s)', 1, 'cross')
    """

    name: str | None = None
    layer: int | None = field(default=None, kw_only=True)
    left: Term | None = field(default=None, kw_only=True)
    right: Term | None = field(default=None, kw_only=True)
    #: α-order: the number of s leaves
    order: int = field(default=0, kw_only=True)
    #: whether any input-side leaf (x, x0, d_l) is present
    has_input: bool = field(default=False, kw_only=True)

    @property
    def is_leaf(self) -> bool:
        return self.name is not None

    @property
    def kind(self) -> str:
        return kind_of(self.has_input, self.order > 0)

    @cached_property
    def layers(self) -> frozenset[int]:
        """The layers this term passes through."""
        if self.is_leaf:
            return frozenset()
        return frozenset({self.layer}) | self.left.layers | self.right.layers

    @cached_property
    def leaves(self) -> tuple[str, ...]:
        """Leaf names in order, with repeats (the term is linear in each occurrence)."""
        return (self.name,) if self.is_leaf else self.left.leaves + self.right.leaves

    def __str__(self) -> str:
        return self.name if self.is_leaf else f"B{self.layer}({self.left}, {self.right})"

    def __repr__(self) -> str:
        return f"Term({self})"

    def _repr_latex_(self) -> str:
        """Jupyter renders the LaTeX printer's output."""
        from .latex import latex

        return f"$\\displaystyle {latex(self)}$"


def leaf(name: str) -> Term:
    """A leaf: ``x`` (the stream at the steering point), ``s``, ``1`` (bias), ``x0``, ``d0``, …"""
    return Term(name, order=int(name == "s"), has_input=name not in ("s", "1"))


ONE = leaf("1")


def apply(layer: int, left: Term, right: Term) -> Term:
    """``B̂_layer(left, right)``."""
    return Term(
        layer=layer,
        left=left,
        right=right,
        order=left.order + right.order,
        has_input=left.has_input or right.has_input,
    )
