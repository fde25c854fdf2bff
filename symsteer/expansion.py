"""The steered output ``f_n(x_n + α s)`` as nested bilinear terms, by α-order and kind.

Terms are built layer by layer from the leaves: a layer pairs every two operands once
(``B(u, v) + B(v, u) = 2 B̂(u, v)``), so equal terms never arise twice and shared
sub-terms are built once. Counts come from the same recursion on classes, without
building anything, so an expansion over budget stops before the work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import sympy

from ._coefficients import KINDS, order_limit, split_coefficients, stream
from .errors import BudgetError, ShapeError
from .network import Network
from .numbers import EXACT, Numbers, PolyRing
from .terms import ONE, Term, apply, leaf, listing

__all__ = ["Expansion", "expand", "DEFAULT_BUDGET"]

#: the most terms an expansion builds unless told otherwise (a 4-layer residual stack
#: builds 26 795; the next layer would need 359 million)
DEFAULT_BUDGET = 300_000

#: the most monomials (per output) a generic polynomial map may be estimated to have
MAX_POLYNOMIAL_TERMS = 2_000_000

#: the largest term budget: building a million terms takes seconds and a gigabyte
MAX_BUDGET = 2_000_000

#: term counts saturate here: deeper stacks have more terms than atoms in the universe
COUNT_CAP = 10**60


def expand(
    network: Network,
    *,
    steer_at: int,
    max_order: int | None = None,
    split_directions: bool = False,
    budget: int = DEFAULT_BUDGET,
) -> Expansion:
    """The output for ``x_n → x_n + α s`` at ``n = steer_at``, up to α-order ``max_order``.

    >>> net = Network.random(layers=2, width=2, hidden=2, residual=True, seed=0)
    >>> e = expand(net, steer_at=0, max_order=1)
    >>> e.counts()[1]
    {'input': 0, 'cross': 5, 'self': 1, 'const': 0}
    """
    network.require_stack("the structured expansion")
    n = network.check_steer_at(steer_at)
    top = order_limit(network, n, max_order)
    if split_directions and not network.residual:
        raise ShapeError("split_directions=True needs a residual network: only there does x_n split into x_0 + d_0 + … ")
    if isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= MAX_BUDGET:
        raise ShapeError(f"budget={budget!r}; expected a positive integer of at most {MAX_BUDGET}")
    return Expansion(network, n, top, split_directions=split_directions, budget=budget)


@dataclass(frozen=True, eq=False)
class Expansion:
    """``y(α) = Σ_m α^m Σ_terms multiplicity · U term``, terms classed input / cross / self / const."""

    network: Network
    steer_at: int
    max_order: int
    split_directions: bool = field(default=False, kw_only=True)
    budget: int = field(default=DEFAULT_BUDGET, kw_only=True)

    # -- shape of the polynomial ------------------------------------------------------

    @property
    def degree_bound(self) -> int:
        """``2^(L-n)``: the degree in α is at most this."""
        return 2 ** (self.network.depth - self.steer_at)

    @property
    def truncated(self) -> bool:
        return self.max_order < self.degree_bound

    @property
    def orders(self) -> range:
        return range(self.max_order + 1)

    @cached_property
    def leaves(self) -> tuple[str, ...]:
        if self.split_directions:
            return ("x0", *(f"d{l}" for l in range(self.steer_at)), "s")
        return ("x", "s")

    @property
    def _kept_leaves(self) -> tuple[str, ...]:
        # at max_order = 0 the steering vector itself is already beyond the truncation
        return tuple(n for n in self.leaves if n != "s" or self.max_order >= 1)

    # -- counting without building ----------------------------------------------------

    @cached_property
    def _census(self) -> tuple[dict[bool, np.ndarray], np.ndarray]:
        """Distinct output terms by has_input and order, and the nodes building them takes, by order.

        A layer pairs every two operands once, so by order the new counts are a self-convolution:
        pairs within a set X number ``(X * X + X²)/2`` (``X²[o] = X[o/2]``, the pairs of a term
        with itself); pairs of input-free operands stay input-free (self or const).
        """
        size = self.max_order + 1
        count = {flag: np.zeros(size, dtype=object) for flag in (True, False)}
        for name in self._kept_leaves:
            count[name != "s"][int(name == "s")] += 1

        def pairs_within(X: np.ndarray) -> np.ndarray:
            square = np.zeros(size, dtype=object)
            square[0::2] = X[: (size + 1) // 2]
            return (np.convolve(X, X)[:size] + square) // 2

        created = np.zeros(size, dtype=object)  # nodes built, by order
        for l in range(self.steer_at, self.network.depth):
            A, S = count[True], count[False].copy()
            S[0] += int(self.network.layers[l].has_bias)  # the bias leaf 1 is an operand, not a term
            new_S = pairs_within(S)
            new_A = pairs_within(A) + np.convolve(A, S)[:size]
            created = created + new_A + new_S
            if self.network.residual:
                count = {True: A + new_A, False: count[False] + new_S}
            else:
                count = {True: new_A, False: new_S}
            # counts square with every layer (their digits double): saturate instead of
            # multiplying numbers with millions of digits
            count = {k: np.minimum(v, COUNT_CAP) for k, v in count.items()}
            created = np.minimum(created, COUNT_CAP)
        return count, created

    def counts(self) -> dict[int, dict[str, int]]:
        """Number of distinct terms per α-order and kind (exact, even when far too many to list)."""
        count, _ = self._census
        out = {}
        for m in self.orders:
            with_input, without = int(count[True][m]), int(count[False][m])
            # order 0 has no s leaf (input or const); higher orders have one (cross or self)
            out[m] = {"input": 0, "cross": 0, "self": 0, "const": 0}
            out[m]["cross" if m else "input"] = with_input
            out[m]["self" if m else "const"] = without
        return out

    @property
    def total_terms(self) -> int:
        return min(int(sum(c.sum() for c in self._census[0].values())), COUNT_CAP)

    # -- the terms --------------------------------------------------------------------

    @cached_property
    def terms(self) -> tuple[tuple[Term, int], ...]:
        """Every distinct term with its multiplicity, sorted by order then kind."""
        if self._built > self.budget:
            raise BudgetError(self._over_budget())
        current = [(leaf(name), 1) for name in self._kept_leaves]
        top = self.max_order
        for l in range(self.steer_at, self.network.depth):
            ops = current + ([(ONE, 1)] if self.network.layers[l].has_bias else [])
            ops.sort(key=lambda tm: tm[0].order)
            new = []
            for i, (t, m) in enumerate(ops):
                if 2 * t.order > top:
                    break
                for u, k in ops[i:]:
                    if t.order + u.order > top:
                        break
                    new.append((apply(l, t, u), m * m if u is t else 2 * m * k))
            current = current + new if self.network.residual else new
        rank = {kind: i for i, kind in enumerate(KINDS)}
        return tuple(sorted(current, key=lambda tm: (tm[0].order, rank[tm[0].kind])))

    @property
    def _built(self) -> int:
        return min(int(self._census[1].sum()), COUNT_CAP)

    def _over_budget(self) -> str:
        # truncating at k builds exactly the nodes of order ≤ k: orders only add up
        within = np.cumsum(self._census[1]) <= self.budget
        fits = int(np.argmin(within)) - 1 if not within.all() else self.max_order
        hint = f"pass max_order={fits} or lower, or a larger budget" if fits >= 0 else "pass a larger budget"
        return (
            f"expanding {self.network.depth - self.steer_at} layer(s) from steer_at={self.steer_at} up to order "
            f"{self.max_order} builds {_count_text(self._built)} terms (budget {self.budget}); {hint}"
        )

    def grouped(self) -> dict[int, dict[str, list[tuple[Term, int]]]]:
        """The terms as ``{order: {kind: [(term, multiplicity), …]}}``."""
        out: dict[int, dict[str, list[tuple[Term, int]]]] = {m: {k: [] for k in KINDS} for m in self.orders}
        for term, mult in self.terms:
            out[term.order][term.kind].append((term, mult))
        return out

    # -- exact polynomial maps ----------------------------------------------------------

    def leaf_symbols(self, name: str) -> list[sympy.Symbol]:
        """The generic symbols of a leaf vector, e.g. ``x_1 … x_d`` or ``d_{0,1} …``."""
        width = self.network.width_at(self.steer_at)
        if name in ("x", "s"):
            return [sympy.Symbol(f"{name}_{i + 1}") for i in range(width)]
        return [sympy.Symbol(f"{name[0]}_{{{name[1:]},{i + 1}}}") for i in range(width)]

    def polynomials(self, *, x: Any = None, s: Any = None) -> tuple[PolyRing, dict[str, np.ndarray]]:
        """The exact α-coefficients as polynomials, split by kind: ``(ring, {kind: (K+1, d_out)})``.

        ``x`` (the stream ``x_n``) and ``s`` stay generic unless given as numbers; symbolic
        weights are generators of the ring too. Built layer by layer in a sparse ring.
        """
        if x is not None and self.split_directions:
            raise ShapeError("x cannot be given when split_directions=True: the leaves x0, d_l stay symbolic")
        names = [n for n in self.leaves if n != "s" and x is None] + (["s"] if s is None else [])
        self._check_polynomial_size(len(names) * self.network.width_at(self.steer_at), x is None)
        leaf_syms = {n: self.leaf_symbols(n) for n in names}
        weight_syms = sorted(_weight_symbols(self.network), key=str)
        ring = PolyRing(weight_syms + [sym for n in names for sym in leaf_syms[n]])
        if x is None:
            x = [sympy.Add(*col) for col in zip(*(leaf_syms[n] for n in names if n != "s"))]
        s = leaf_syms["s"] if s is None else s
        parts = split_coefficients(self.network, x_n=x, s=s, steer_at=self.steer_at, max_order=self.max_order, numbers=ring)
        return ring, parts

    def _check_polynomial_size(self, variables: int, generic_x: bool) -> None:
        """Refuse polynomial maps that cannot be built: in ``v`` generic leaf variables a coefficient
        has total degree up to ``2^(L-n)`` (``m`` in s, the rest in x), so up to
        ``C(2^(L-n) + v, v)`` monomials per output: the degree doubles with every layer."""
        if variables == 0:
            return
        from math import comb

        # the α^m coefficient is homogeneous of degree m in s; with x generic too, up to 2^(L-n) in all
        degree = self.degree_bound if generic_x else self.max_order
        # C(D + v, v) ≥ D + 1, and ≥ (D + 1)(D + 2)/2 from v = 2 on: a huge D needs no exact count
        exact = degree < 10**6 or variables == 1
        bound = comb(degree + variables, variables) if exact else MAX_POLYNOMIAL_TERMS + 1
        if bound > MAX_POLYNOMIAL_TERMS:
            raise BudgetError(
                f"the polynomial maps of {self.network.depth - self.steer_at} layer(s) from steer_at={self.steer_at} have "
                f"degree up to {_power_text(self.network.depth - self.steer_at) if degree == self.degree_bound else degree} "
                f"in {variables} generic variables: {f'up to {_count_text(min(bound, COUNT_CAP))}' if exact else f'more than {MAX_POLYNOMIAL_TERMS}'} monomials per output "
                f"(limit {MAX_POLYNOMIAL_TERMS}); give x and s as numbers, or steer closer to the output"
            )

    def coefficient(self, order: int, kind: str | None = None, *, x: Any = None, s: Any = None) -> sympy.ImmutableMatrix:
        """The α^order coefficient (or its ``kind`` part) as a sympy column vector."""
        if order not in self.orders:
            raise ShapeError(f"order={order!r}; expected one of 0 … {self.max_order}")
        if kind is not None and kind not in KINDS:
            raise ShapeError(f"kind={kind!r}; expected one of {', '.join(KINDS)}")
        ring, parts = self._polys(x, s)
        chosen = [kind] if kind else list(KINDS)
        return sympy.ImmutableMatrix([sum((ring.to_sympy(parts[k][order][i]) for k in chosen), sympy.Integer(0)) for i in range(parts["input"].shape[-1])])

    def _polys(self, x: Any, s: Any) -> tuple[PolyRing, dict[str, np.ndarray]]:
        if x is None and s is None:
            return self._generic_polys
        return self.polynomials(x=x, s=s)

    @cached_property
    def _generic_polys(self) -> tuple[PolyRing, dict[str, np.ndarray]]:
        return self.polynomials()

    # -- values on concrete inputs --------------------------------------------------------

    def leaf_values(self, s: Any, *, x: Any = None, x_n: Any = None, numbers: Numbers = EXACT) -> dict[str, np.ndarray]:
        """Values of the leaves from the network input ``x`` (or the stream ``x_n`` directly)."""
        if (x is None) == (x_n is None):
            raise ShapeError("give exactly one of x (the network input) and x_n (the stream at the steering point)")
        n, width = self.steer_at, self.network.width_at(self.steer_at)
        values = {"s": numbers.vector(s, "s", width)}
        if x_n is not None:
            if self.split_directions:
                raise ShapeError("x_n cannot be split into x0 and d_l; give the network input x instead")
            values["x"] = numbers.vector(x_n, f"x_n (the stream at steer_at={n})", width)
            return values
        acts = stream(self.network, x, numbers=numbers)
        values["x"] = acts[n]
        if self.split_directions:
            # x_n = x_0 + d_0 + … + d_{n-1}: only a residual stream splits (widths agree there);
            # in a plain stack the earlier activations may have other widths and are no leaves
            values["x0"] = acts[0]
            for l in range(n):
                values[f"d{l}"] = acts[l + 1] - acts[l]
        return values

    def evaluate(self, s: Any, *, x: Any = None, x_n: Any = None, numbers: Numbers = EXACT) -> dict[str, np.ndarray]:
        """Sum the listed terms on concrete vectors: ``{kind: (K+1, …, d_out)}``."""
        leaves = self.leaf_values(s, x=x, x_n=x_n, numbers=numbers)
        value = self._valuer(leaves, numbers)
        shape = np.broadcast_shapes(*(v.shape for v in leaves.values()))
        parts = {k: [numbers.zeros(shape[:-1] + (self.network.d_out,)) for _ in self.orders] for k in KINDS}
        for term, mult in self.terms:
            parts[term.kind][term.order] = parts[term.kind][term.order] + value(term) * _scalar(numbers.entry(mult))
        return {k: np.stack(v) for k, v in parts.items()}

    def term_expression(self, term: Term) -> sympy.ImmutableMatrix:
        """One term (``U`` applied) as a sympy column over generic leaves and the weights."""
        names = sorted(term.leaf_names - {"1"})
        syms = {n: self.leaf_symbols(n) for n in names}
        ring = PolyRing(sorted(_weight_symbols(self.network), key=str) + [v for n in names for v in syms[n]])
        leaves = {n: ring.vector(syms[n], n, len(syms[n])) for n in names}
        return sympy.ImmutableMatrix([ring.to_sympy(p) for p in self._valuer(leaves, ring)(term)])

    def _valuer(self, leaves: dict[str, np.ndarray], numbers: Numbers) -> Any:
        """``term -> U · value``, memoised so shared sub-terms are computed once."""
        memo: dict[int, np.ndarray] = {}

        def value(t: Term) -> np.ndarray:
            # children before parents, without recursion: a deep plain stack nests a term per layer
            stack = [t]
            while stack:
                top = stack[-1]
                if id(top) in memo:
                    stack.pop()
                elif top.is_leaf:
                    memo[id(top)] = leaves[top.name]
                    stack.pop()
                else:
                    todo = [u for u in (top.left, top.right) if u is not ONE and id(u) not in memo]
                    if todo:
                        stack += todo
                    else:
                        operand = lambda u: None if u is ONE else memo[id(u)]  # noqa: E731
                        layer = self.network.layers[top.layer]
                        memo[id(top)] = layer.pair(operand(top.left), operand(top.right), numbers=numbers, same=top.left is top.right)
                        numbers.check_size(memo[id(top)], f"in a term of layer {top.layer}")
                        stack.pop()
            return memo[id(t)]

        if self.network.unembed is None:
            return value
        U = self.network.blocks[-1]
        return lambda t: U.forward(value(t), numbers=numbers)

    def total(self, s: Any, **kwargs: Any) -> np.ndarray:
        """The α-coefficients (all kinds summed) of the listed terms: ``(K+1, …, d_out)``."""
        parts = self.evaluate(s, **kwargs)
        return sum(parts.values())

    def _repr_latex_(self) -> str:
        """Jupyter renders the LaTeX printer's output: an align* environment of its own."""
        from ._latex import latex

        return latex(self)

    # -- text ---------------------------------------------------------------------------

    def __repr__(self) -> str:
        """Short: what was expanded and how many terms; ``to_text()`` lists them."""
        order = "" if self.max_order is None or not self.truncated else f", max_order={self.max_order}"
        return (f"Expansion({self.network.describe()}; steer_at={self.steer_at}{order}, "
                f"{_count_text(self.total_terms)} terms)")

    def to_text(self, *, limit: int = 200) -> str:
        """Terms grouped by order and kind, with counts; at most ``limit`` terms listed."""
        counts = self.counts()
        head = [
            f"steered output of a {self.network.describe()}",
            f"steer at n={self.steer_at}: x_{self.steer_at} → x_{self.steer_at} + alpha s; "
            f"degree <= {_power_text(self.network.depth - self.steer_at)}" + (f", truncated at order {self.max_order}" if self.truncated else ""),
            f"{_count_text(self.total_terms)} distinct terms",
        ]
        lines = []
        shown = 0
        listable = self._built <= self.budget
        texts: dict[int, str] = {}
        defs: list[str] = []
        if listable:  # distinct terms print distinctly: too large ones name their input-only parts
            listed = [t for t, _ in self.terms[:limit]]
            strings, defs = listing(self, listed)
            texts = {id(t): text for t, text in zip(listed, strings)}
        for m in self.orders:
            kinds = ", ".join(f"{k} {_count_text(counts[m][k])}" for k in KINDS if counts[m][k])
            lines.append(f"alpha^{m}: {kinds or 'no terms'}")
            if not listable:
                continue
            for kind, items in self.grouped()[m].items():
                if not items:
                    continue
                lines.append(f"  {kind} ({len(items)}):")
                for term, mult in items:
                    if shown >= limit:
                        break
                    lines.append(f"    {'' if mult == 1 else f'{mult}*'}{'U ' if self.network.unembed is not None else ''}{texts[id(term)]}")
                    shown += 1
        if shown >= limit:
            lines.append(f"... {self.total_terms - limit} more terms (raise --limit to list them)")
        if not listable:
            lines.append(f"(terms not listed: {self._over_budget()})")
        if self.truncated:
            lines.append(f"+ O(alpha^{self.max_order + 1})")
        if defs:
            lines.append("where " + ";\n      ".join(defs))
        return "\n".join(head + lines)


def _power_text(k: int) -> str:
    """``2^k``, written out while it is short."""
    return str(2**k) if k < 20 else f"2^{k}"


def _count_text(n: int) -> str:
    return f"more than 10^{len(str(COUNT_CAP)) - 1}" if n >= COUNT_CAP else str(n)


def _scalar(value: Any) -> Any:
    """A 0-d array: numpy would unpack a flint polynomial (a sequence of terms) into an axis."""
    if isinstance(value, float):
        return value
    out = np.empty((), dtype=object)
    out[()] = value
    return out


def _weight_symbols(network: Network) -> set[sympy.Symbol]:
    if network.field != "symbolic":
        return set()
    arrays = [network.embed, network.unembed] + [
        arr for layer in network.layers for arr in (layer.W, layer.V, layer.P, layer.b, layer.c)
    ]
    return {sym for arr in arrays if arr is not None and arr.dtype == object for v in arr.ravel() for sym in v.free_symbols}
