"""Nested bilinear terms: leaves ``x``, ``s``, the bias leaf ``1`` and the directions ``d_l``,
and symmetric layer applications ``B̂_l(u, v)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .errors import BudgetError

__all__ = ["Term", "leaf", "apply", "kind_of", "ONE"]

#: terms with more leaf occurrences are printed with their inner parts elided (``…``): a term of a
#: deep plain stack shares its sub-terms and has 2^depth leaves written out
MAX_PRINTED_LEAVES = 64
#: how many leaf positions an elided term keeps (its two outer layers)
ABBREVIATED_LEAVES = 4
#: the deepest term whose s-carrying skeleton is written out
MAX_SKELETON_HEIGHT = 40
#: the most leaf occurrences :attr:`Term.leaves` lists
MAX_LISTED_LEAVES = 1_000_000


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
    #: number of leaf occurrences: terms share sub-terms, so in a deep plain stack this is
    #: 2^depth while the term itself is only depth nodes
    size: int = field(default=1, kw_only=True)
    #: nesting depth (0 for a leaf)
    height: int = field(default=0, kw_only=True)

    @property
    def is_leaf(self) -> bool:
        return self.name is not None

    @property
    def kind(self) -> str:
        return kind_of(self.has_input, self.order > 0)

    @cached_property
    def layers(self) -> frozenset[int]:
        """The layers this term passes through."""
        return frozenset(n.layer for n in self.nodes() if not n.is_leaf)

    @cached_property
    def leaf_names(self) -> frozenset[str]:
        """The distinct leaf names (cheap even where :attr:`leaves` would be exponentially long)."""
        return frozenset(n.name for n in self.nodes() if n.is_leaf)

    @cached_property
    def leaves(self) -> tuple[str, ...]:
        """Leaf names in order, with repeats (the term is linear in each occurrence).

        There are :attr:`size` of them: 2^depth in a deep plain stack."""
        if self.size > MAX_LISTED_LEAVES:
            raise BudgetError(f"{self.abbreviated()} has {self.size} leaf occurrences; listing is refused above {MAX_LISTED_LEAVES}")
        out: list[str] = []
        stack = [self]
        while stack:  # iterative: deep terms would exceed Python's recursion limit
            t = stack.pop()
            if t.is_leaf:
                out.append(t.name)
            else:
                stack += [t.right, t.left]
        return tuple(out)

    def nodes(self) -> list[Term]:
        """Every distinct node (shared sub-terms once), without recursion."""
        seen: dict[int, Term] = {}
        stack = [self]
        while stack:
            t = stack.pop()
            if id(t) in seen:
                continue
            seen[id(t)] = t
            if not t.is_leaf:
                stack += [t.left, t.right]
        return list(seen.values())

    def abbreviated(self, room: int | None = None, *, dots: str = "…", fmt: Any = None, leaf: Any = None) -> str:
        """The term written out if it has at most ``room`` leaf occurrences; otherwise its outer
        layers, with sub-terms that do not fit shown as ``dots`` (the text stays short where the
        full term would have 2^depth leaves)."""
        if room is None:  # whole if it is short, else its outer layers
            room = self.size if self.size <= MAX_PRINTED_LEAVES else ABBREVIATED_LEAVES
        fmt = fmt or (lambda layer, left, right: f"B{layer}({left}, {right})")
        if self.is_leaf:
            return self.name if leaf is None else leaf(self.name)
        if room < 2:
            return dots
        half = room // 2
        left = self.left.abbreviated(self.left.size if self.left.size <= half else half, dots=dots, fmt=fmt, leaf=leaf)
        right = self.right.abbreviated(self.right.size if self.right.size <= room - half else room - half, dots=dots, fmt=fmt, leaf=leaf)
        return fmt(self.layer, left, right)

    def short(self, *, dots: str = "…", fmt: Any = None, leaf: Any = None) -> str:
        """The term written out if it is short. Otherwise, if it is not too deep, every sub-term
        that carries ``s`` is written out and the large sub-terms without ``s`` are ``dots`` (in a
        plain stack that is the unsteered stream there): distinct terms stay distinct. Deeper
        still, only the outer layers (:meth:`abbreviated`)."""
        if self.size <= MAX_PRINTED_LEAVES or self.height > MAX_SKELETON_HEIGHT:
            return self.abbreviated(dots=dots, fmt=fmt, leaf=leaf)
        fmt = fmt or (lambda layer, left, right: f"B{layer}({left}, {right})")

        def skeleton(t: Term, root: bool) -> str:
            if t.size <= 2 or (t.order == 0 and not root and t.size > 2):
                return t.abbreviated(t.size if t.size <= 2 else 0, dots=dots, fmt=fmt, leaf=leaf)
            return fmt(t.layer, skeleton(t.left, False), skeleton(t.right, False))

        return skeleton(self, True)

    def __str__(self) -> str:
        return self.short()

    def __repr__(self) -> str:
        return f"Term({self})"

    def _repr_latex_(self) -> str:
        """Jupyter renders the LaTeX printer's output."""
        from ._latex import latex

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
        size=left.size + right.size,
        height=1 + max(left.height, right.height),
    )
