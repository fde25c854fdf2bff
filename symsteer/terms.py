"""Nested bilinear terms: leaves ``x``, ``s``, the bias leaf ``1`` and the directions ``d_l``,
and symmetric layer applications ``B̂_l(u, v)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

from .errors import BudgetError

__all__ = ["Term", "leaf", "apply", "kind_of", "ONE", "SubtermNames", "listing"]

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
        # a side gets all it needs when the other side leaves room for it: only what does not
        # fit is abbreviated (an even split would elide parts of a term that fits whole)
        left_room = min(self.left.size, max(room // 2, room - self.right.size))
        left = self.left.abbreviated(left_room, dots=dots, fmt=fmt, leaf=leaf)
        right = self.right.abbreviated(room - left_room, dots=dots, fmt=fmt, leaf=leaf)
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


class SubtermNames:
    """Names for the input-only sub-terms of an expansion's terms, each defined once: how a
    listing abbreviates a term too large to write out while distinct terms stay distinct.

    In a plain stack without biases the input-only term entering layer l is the unsteered
    stream itself, x_l (``x_{l+1} = B̂_l(x_l, x_l)``, ``x_n = x``): label ``("x", l)``. Any other
    input-only sub-term of more than two leaves is ``("u", k)``, numbered so that a definition
    uses only earlier names. Sub-terms with ``s`` are never named.
    """

    def __init__(self, e: Any) -> None:
        self.network, self.steer_at, self.split = e.network, e.steer_at, e.split_directions
        self.streams = False  # whether any x_l is used
        self.printed: dict[tuple[int, bool], tuple[str, int]] = {}
        self._stream: dict[int, int | None] = {}
        self._seen: dict[int, tuple[Term, int]] = {}
        self._visited: set[int] = set()
        self._number: dict[int, int] = {}

    def stream(self, t: Term) -> int | None:
        """l if ``t`` is the unsteered stream x_l of a plain, bias-free stack (else None)."""
        chain = []
        u = t
        while not u.is_leaf and u.left is u.right and id(u) not in self._stream:
            chain.append(u)
            u = u.left
        if id(u) in self._stream:
            base = self._stream[id(u)]
        else:
            base = self.steer_at if u.is_leaf and u.name == "x" and not self.split else None
            self._stream[id(u)] = base
        for node in reversed(chain):
            plain = not self.network.residual and not self.network.layers[node.layer].has_bias
            base = node.layer + 1 if base is not None and plain and node.layer == base else None
            self._stream[id(node)] = base
        return self._stream[id(t)]

    def collect(self, terms: Any) -> None:
        """Record the names the terms and the definitions they need use (before :meth:`label`)."""
        stack = [(term, True) for term in reversed(list(terms))]
        while stack:
            t, root = stack.pop()
            if t.is_leaf or (not root and id(t) in self._visited):
                continue
            if not root:
                self._visited.add(id(t))
            if not root and t.order == 0:
                if self.stream(t) is not None:
                    self.streams = True
                    continue
                if t.size > 2:
                    self._seen[id(t)] = (t, len(self._seen))
            stack += [(t.right, False), (t.left, False)]
        # definitions only use earlier names: shallower terms first, then by first appearance
        ranked = sorted(self._seen.values(), key=lambda ts: (ts[0].height, ts[1]))
        self._number = {id(t): k + 1 for k, (t, _) in enumerate(ranked)}

    def label(self, t: Term) -> tuple[str, int] | None:
        """("x", l) for the stream x_l, ("u", k) for a named sub-term, None when written out."""
        if t.order != 0 or t.is_leaf:
            return None
        l = self.stream(t)
        if l is not None:
            return "x", l
        k = self._number.get(id(t))
        return None if k is None else ("u", k)

    def numbered(self) -> list[tuple[Term, int]]:
        """The named sub-terms ``u_k`` in order."""
        terms = sorted((t for t, _ in self._seen.values()), key=lambda t: self._number[id(t)])
        return [(t, self._number[id(t)]) for t in terms]


def _text_name(label: tuple[str, int]) -> str:
    return f"{label[0]}_{label[1]}" if label[0] == "x" else f"u{label[1]}"


def fold_skeleton(term: Term, *, leaf: Callable[[Term], Any], named: Callable[[Term], Any],
                  node: Callable[[Term, Any, Any], Any], done: dict[tuple[int, bool], Any] | None = None) -> Any:
    """Fold a term bottom-up, its input-only sub-terms replaced by ``named(t)`` where that is not
    None (never at the root), without recursion: a deep stack nests a term per layer. ``done``
    caches folded sub-terms across calls (keyed by identity and whether at the root)."""
    done = {} if done is None else done

    def ready(t: Term, root: bool) -> Any:
        if t.is_leaf:
            return leaf(t)
        value = None if root else named(t)
        return value if value is not None else done.get((id(t), root))

    stack = [(term, True)]
    while stack:
        t, root = stack[-1]
        if ready(t, root) is not None:
            stack.pop()
            continue
        todo = [(u, False) for u in (t.left, t.right) if ready(u, False) is None]
        if todo:
            stack += todo
            continue
        done[(id(t), root)] = node(t, ready(t.left, False), ready(t.right, False))
        stack.pop()
    return ready(term, True)


def skeleton_text(term: Term, names: SubtermNames) -> str:
    """The term in text with its input-only sub-terms as their names (its root written out)."""

    def named(t: Term) -> str | None:
        label = names.label(t)
        return None if label is None else _text_name(label)

    return fold_skeleton(term, leaf=lambda t: t.name, named=named, node=lambda t, a, b: f"B{t.layer}({a}, {b})")


def listing(e: Any, terms: list[Term]) -> tuple[list[str], list[str]]:
    """The terms of an expansion as text, and the definitions of the names they use.

    A term of at most MAX_PRINTED_LEAVES leaf occurrences is written out. When one is larger,
    every term is written with its input-only sub-terms named (x_l, the unsteered stream of a
    plain stack; u1, u2, … otherwise) and the names are defined after the list. Terms deeper
    than MAX_SKELETON_HEIGHT keep only their outer layers; should two such abbreviations
    coincide, each gets a number, ``[#k]``: a listing never prints two distinct terms alike.
    """
    texts: list[str]
    defs: list[str] = []
    large = any(t.size > MAX_PRINTED_LEAVES for t in terms)
    if large and all(t.height <= MAX_SKELETON_HEIGHT for t in terms):
        names = SubtermNames(e)
        names.collect(terms)
        texts = [skeleton_text(t, names) for t in terms]
        if names.streams:
            n = e.steer_at
            defs.append(f"x_{n} = x and x_(l+1) = Bl(x_l, x_l) (the unsteered stream)")
        defs += [f"u{k} = {skeleton_text(t, names)}" for t, k in names.numbered()]
    else:
        texts = [str(t) for t in terms]
    seen: dict[str, int] = {}
    for text in texts:
        seen[text] = seen.get(text, 0) + 1
    if any(c > 1 for c in seen.values()):
        count: dict[str, int] = {}
        for i, text in enumerate(texts):
            if seen[text] > 1:
                count[text] = count.get(text, 0) + 1
                texts[i] = f"{text} [#{count[text]}]"
    return texts, defs
