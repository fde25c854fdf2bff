"""The functions and predicates of the statement language beyond the model: sums and products
of entries, relu, softmax, entropy, argmax, orders, parallel, and the functions of a named
variable (depends_on, degree_in, coeff, is_polynomial_in, continuous_in).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from ..numbers import PolyRing, object_array
from .language import MAX_EXPONENT, Node, StatementError
from .propositions import Empirical, Generic, Opaque, Order, Unsupported
from .values import ArgmaxVal, DegreeVal, EntropyVal, Frac, Relu, SYMBOLIC_TERMS, SoftmaxVal, TransVec, _changes_sign, _check_product, _constant_value, _drop_one, _generator_index, _is_constant, _minors_const, _mul, _numerator


class Functions:
    """Methods of :class:`.evaluation.Evaluator` (a mixin: it uses the evaluator's values and number system)."""

    # -- sums and products of entries ------------------------------------------------------

    def _entries_of(self, node: Node, arg: Node) -> np.ndarray:
        v = self.lift(self.value_of(arg))
        if not isinstance(v, np.ndarray) or v.ndim != 1:
            raise StatementError(f"'{node.text}' needs a vector")
        return v

    def _fn_dot(self, node: Node, left: Node, right: Node) -> Any:
        u, v = self._entries_of(node, left), self._entries_of(node, right)
        if len(u) != len(v):
            raise StatementError(f"'{node.text}': vectors of widths {len(u)} and {len(v)}")
        total = self.numbers.entry(0)
        for p, q in zip(u, v):
            if isinstance(self.numbers, PolyRing):  # flint multiplies in C: refuse a huge product first
                _check_product(p, q, limit=SYMBOLIC_TERMS, what=f"the entries of '{node.text}'")
            total = total + p * q
        return total

    def _fn_norm2(self, node: Node, arg: Node) -> Any:
        return self._fn_dot(node, arg, arg)

    def _fn_sum(self, node: Node, arg: Node) -> Any:
        total = self.numbers.entry(0)
        for e in self._entries_of(node, arg):
            total = total + e
        return total

    def _exact_only(self, node: Node) -> None:
        # |·|, max and min are piecewise: over generic values they have no polynomial form
        if isinstance(self.numbers, PolyRing):
            raise Unsupported(f"'{node.text}' (abs, max, min) is decided at exact points only")

    def _fn_abs(self, node: Node, arg: Node) -> Any:
        v = self.value_of(arg)
        if isinstance(self.numbers, PolyRing):  # |p| = 2 relu(p) - p, for the relu prover
            one = lambda e: self._relu(self.lift(e)) * 2 - self.lift(e)
            return object_array([one(e) for e in v]) if isinstance(v, np.ndarray) else one(v)
        if isinstance(v, np.ndarray):
            return object_array([e if e >= 0 else -e for e in v])
        return v if v >= 0 else -v

    def _extreme(self, node: Node, args: tuple[Node, ...], pick: Any) -> Any:
        if isinstance(self.numbers, PolyRing) and len(args) == 2:
            # max(p, q) = q + relu(p - q) and min(p, q) = p - relu(p - q), for the relu prover
            p, r = (self.lift(self.value_of(a)) for a in args)
            return r + self._relu(p - r) if pick is max else p - self._relu(p - r)
        self._exact_only(node)
        values = list(self._entries_of(node, args[0])) if len(args) == 1 else [self.value_of(a) for a in args]
        return pick(values)

    def _fn_max(self, node: Node, *args: Node) -> Any:
        return self._extreme(node, args, max)

    def _fn_min(self, node: Node, *args: Node) -> Any:
        return self._extreme(node, args, min)

    def _fn_coeff(self, node: Node, expr: Node, var: Node, power: Node) -> Any:
        m = self.value_of(power)
        if not isinstance(m, Fraction) or m.denominator != 1 or not 0 <= m <= MAX_EXPONENT:
            raise StatementError(f"'{node.text}': the power must be an integer 0 … {MAX_EXPONENT}")
        inner, value, gens = self._bound(expr, var)
        out = []
        values = list(value.ravel()) if isinstance(value, np.ndarray) else [value]
        for e in values:
            e = inner.lift(e)
            if isinstance(e, (Frac, Relu)):
                raise Unsupported(f"'{node.text}': the coefficient of a quotient or a relu has no polynomial form")
            split = self._split(inner.numbers, e, gens)
            c = split.get((int(m),), inner.numbers.entry(0))
            # a ring of its own (at an exact point): the coefficient is a number
            out.append(c if inner is self else self.numbers.entry(_constant_value(inner.numbers, c)))
        if isinstance(value, np.ndarray):
            return object_array(out, value.shape)
        return out[0]

    # -- elementwise and probability functions -------------------------------------------

    def _fn_relu(self, node: Node, arg: Node) -> Any:
        v = self.value_of(arg)
        one = lambda e: self._relu(self.lift(e))
        if isinstance(v, np.ndarray):
            return object_array([one(e) for e in v])
        return one(v)

    def _relu(self, e: Any) -> Any:
        if isinstance(e, Relu) and isinstance(self.numbers, PolyRing):
            constant = [_constant_value(self.numbers, self.lift(c)) if _is_constant(self.lift(c)) else None
                        for c in [e.rest] + [c for _, c in e.terms]]
            if all(c is not None and c >= 0 for c in constant):
                return e  # relu(p) ≥ 0, so a combination with constant coefficients ≥ 0 is ≥ 0: relu is the identity there
            if all(c is not None and c <= 0 for c in constant):
                return self.numbers.entry(0)  # likewise ≤ 0, where relu is 0
        if isinstance(e, (Frac, Relu)):
            raise Unsupported("relu of a quotient or of a relu has no symbolic meaning here")
        if isinstance(self.numbers, PolyRing):
            if _is_constant(e):
                value = _constant_value(self.numbers, e)
                return self.numbers.entry(max(value, Fraction(0)))
            return Relu(e)
        return e if e > 0 else self.numbers.entry(0)

    def _fn_softmax(self, node: Node, arg: Node) -> SoftmaxVal:
        v = self.value_of(arg)
        return SoftmaxVal(self._vector(v, node.text, len(v) if isinstance(v, np.ndarray) else 0))

    def _fn_entropy(self, node: Node, arg: Node) -> EntropyVal:
        v = self.value_of(arg)
        if not isinstance(v, SoftmaxVal):
            raise StatementError(f"entropy needs softmax(...); got '{arg.text}'")
        return EntropyVal(v.logits)

    def _order_entries(self, v: Any) -> Any:
        """Quotient entries (symbolic only) times D², D the product of their distinct
        denominators: D² > 0 wherever they are defined, so every order between entries is kept."""
        if self.exact or not isinstance(v, np.ndarray) or v.ndim != 1 or not any(isinstance(e, Frac) for e in v):
            return v
        dens: list[Any] = []
        for e in v:
            if isinstance(e, Frac) and not any(e.den == d for d in dens):
                dens.append(e.den)
        if len(dens) > 3:
            raise Unsupported("an order between quotients with more than 3 different denominators")
        total = self.numbers.entry(1)
        for d in dens:
            total = total * d
        out = []
        for e in v:
            if isinstance(e, Frac):  # (num / den) · D² = num · (D / den) · D
                out.append(e.num * _drop_one(dens, e.den, self.numbers) * total)
            else:
                out.append(e * total * total)
        return object_array(out)

    def _fn_argmax(self, node: Node, arg: Node) -> Any:
        v = self._order_entries(self.value_of(arg))
        entries = v.logits if isinstance(v, SoftmaxVal) else self._vector(v, node.text, len(v) if isinstance(v, np.ndarray) else 0)
        if self.exact:
            top = max(entries)
            return frozenset(i for i, e in enumerate(entries) if e == top)
        return ArgmaxVal(entries)

    def _fn_same_ranking(self, node: Node, left: Node, right: Node) -> Any:
        u, v = (self._order_entries(self.value_of(a)) for a in (left, right))
        u, v = (self._vector(w, node.text, len(w) if isinstance(w, np.ndarray) else 0) for w in (u, v))
        if len(u) != len(v):
            raise StatementError(f"{node.text}: vectors of lengths {len(u)} and {len(v)}")
        if self.exact:
            sign = lambda q: (q > 0) - (q < 0)
            return all(sign(u[i] - u[j]) == sign(v[i] - v[j]) for i in range(len(u)) for j in range(i + 1, len(u)))
        return Order("ranking", tuple(u), tuple(v), self.numbers, text=node.text)

    def _fn_parallel(self, node: Node, left: Node, right: Node) -> Any:
        u, v = (self.value_of(a) for a in (left, right))
        if not (isinstance(u, np.ndarray) and isinstance(v, np.ndarray)) or len(u) != len(v):
            raise StatementError(f"{node.text}: parallel needs two vectors of one length")
        # the same bound as a layer's product over generic weights (see _stream)
        mul = lambda p, q: _mul(p, q, limit=SYMBOLIC_TERMS, what="the entries of a 2×2 minor")
        minors = [_numerator(mul(u[i], v[j]) - mul(u[j], v[i])) for i in range(len(u)) for j in range(i + 1, len(u))]
        return self._zero(minors, node, why="u ∥ v exactly when every 2×2 minor u_i v_j − u_j v_i vanishes")

    def _fn_constant(self, node: Node, arg: Node) -> Any:
        v = self.value_of(arg)
        if isinstance(v, SoftmaxVal):  # softmax(z) is constant exactly when z is
            v = v.logits
        if not isinstance(v, np.ndarray):
            raise StatementError(f"{node.text}: constant needs a vector")
        return self._zero(_minors_const(v), node, why="all entries equal")

    # -- names bound by a function ---------------------------------------------------------

    def _bound(self, expr: Node, var: Node) -> tuple[Any, Any, set[int]]:
        """Evaluate ``expr`` with ``var`` generic: in this ring if it is generic already, else in
        a ring of its own with every other value a number. Returns the evaluator, the value and
        the indices of var's generators."""
        name = var.value
        current = self.values.get(name)
        ring = self.numbers if isinstance(self.numbers, PolyRing) else None
        entries = list(current.ravel()) if isinstance(current, np.ndarray) else [current]
        if ring is not None and all(_generator_index(ring, e) is not None for e in entries):
            return self, self.value_of(expr), {_generator_index(ring, e) for e in entries}
        if not self.exact:
            raise Unsupported(f"'{name}' is not a free generic value here (it was substituted)")
        shape = current.shape if isinstance(current, np.ndarray) else None
        syms = [sympy.Symbol(f"{name}_{i + 1}") for i in range(current.size)] if shape else [sympy.Symbol(name)]
        sub = PolyRing(syms)
        values = {k: (sub.array(v) if isinstance(v, np.ndarray) else sub.entry(v)) for k, v in self.values.items()
                  if not isinstance(v, (SoftmaxVal, TransVec))}
        values[name] = sub.array(np.array(syms, dtype=object).reshape(shape)) if shape else sub.entry(syms[0])
        unembed = sub.array(self.unembed) if self.unembed is not None else None
        inner = type(self)(numbers=sub, network=self.network, case=self.case, values=values, exact=True, unembed=unembed,
                           sequence_model=self.sequence_model)
        inner.position = self.position
        return inner, inner.value_of(expr), set(range(len(syms)))

    def _split(self, ring: PolyRing, poly: Any, gens: set[int]) -> dict[tuple[int, ...], Any]:
        """``poly`` as a polynomial in the generators ``gens`` with coefficients in the rest."""
        groups: dict[tuple[int, ...], dict] = {}
        for monom, coeff in ring.terms(poly):
            key = tuple(monom[i] for i in sorted(gens))
            rest = tuple(0 if i in gens else e for i, e in enumerate(monom))
            groups.setdefault(key, {})[rest] = coeff
        return {key: ring.from_terms(terms) for key, terms in groups.items()}

    def _entries(self, v: Any, what: str) -> list[Any]:
        if isinstance(v, np.ndarray):
            return list(v.ravel())
        if isinstance(v, (SoftmaxVal, TransVec, EntropyVal, ArgmaxVal, DegreeVal, frozenset)):
            raise StatementError(f"{what} needs a number, vector or matrix")
        return [v]

    def _fn_depends_on(self, node: Node, expr: Node, var: Node) -> Any:
        inner, value, gens = self._bound(expr, var)
        polys = []
        for e in self._entries(inner.lift(value), node.text):
            if isinstance(e, Relu):
                raise Unsupported("depends_on of a relu has no symbolic meaning here")
            if isinstance(e, Frac):
                # num / den with den free of the variable (and nonzero where defined): it depends
                # on the variable exactly when num does
                if not isinstance(inner.numbers, PolyRing) or any(any(k) for k in self._split(inner.numbers, inner.lift(e.den), gens)):
                    raise Unsupported("depends_on of a quotient whose denominator involves the variable")
                e = e.num
            for key, coeff in self._split(inner.numbers, inner.lift(e), gens).items():
                if any(key):
                    polys.append(coeff)
        why = f"the value is a polynomial in {var.value}; it depends on {var.value} exactly when a coefficient of a non-constant monomial is nonzero"
        return self._retext(self._not(self._zero(polys, node, why=why)), node)

    def _fn_degree_in(self, node: Node, expr: Node, var: Node) -> DegreeVal:
        inner, value, gens = self._bound(expr, var)
        by_power: dict[int, list] = {}
        for e in self._entries(inner.lift(value), node.text):
            if isinstance(e, (Frac, Relu)):
                raise Unsupported("degree_in needs a polynomial")
            for key, coeff in self._split(inner.numbers, e, gens).items():
                by_power.setdefault(sum(key), []).append(coeff)
        return DegreeVal(by_power, inner.numbers)

    def _fn_is_polynomial_in(self, node: Node, expr: Node, var: Node, vec: Node | None = None) -> Any:
        inner, value, gens = self._bound(expr, var)
        entries = self._entries(value, node.text)
        if any(isinstance(e, Frac) for e in entries):
            raise Unsupported("is_polynomial_in of a quotient is decided at exact points only")
        relus = [e for e in entries if isinstance(e, Relu)]
        if not relus:
            return self.logic.truth(True, f"'{expr.text}' is computed with sums and products only, so it is a polynomial", node.text)
        if vec is not None:
            raise Unsupported("is_polynomial_in with a vector of relu values is decided at exact points only")
        slopes, higher = [], []
        for r in relus:
            split = self._split(inner.numbers, r.arg, gens)
            degree = max(sum(k) for k in split)
            (higher if degree > 1 else slopes).append((r, split))
        if higher:
            if self.exact and len(gens) == 1:
                return not any(_changes_sign(inner.numbers, r.arg) for r, _ in higher) and all(
                    all(c == 0 for key, c in split.items() if sum(key) == 1) for _, split in slopes)
            return Opaque("relu of a polynomial of degree > 1 in the variable is decided at exact points only", text=node.text)
        polys = [c for _, split in slopes for key, c in split.items() if sum(key) == 1]
        why = (f"relu(p) with p linear in {var.value} is a polynomial in {var.value} only if p's slope vanishes: where the slope "
               "is nonzero, relu(p) equals p on a half-line and 0 on the other half-line, and a polynomial equal to p on "
               "infinitely many points and to 0 on infinitely many points would have to be both")
        return self._zero(polys, node, why=why)

    def _fn_continuous_in(self, node: Node, expr: Node, var: Node) -> Any:
        self._bound(expr, var)  # evaluates: a statement that cannot be evaluated is an error, not 'continuous'
        reason = ("every number-, vector- and matrix-valued operation of the language (sums, products, @, relu, "
                  "softmax, the layers and the network) is continuous where it is defined")
        return self.logic.truth(True, reason, node.text)

    # -- meta ------------------------------------------------------------------------------

    def _fn_generic(self, node: Node, arg: Node) -> Any:
        if self.exact:
            return self.value_of(arg)
        return Generic(self.value_of(arg), text=node.text)

    def _fn_empirical(self, node: Node, arg: Node) -> Any:
        if self.exact:
            raise Unsupported(f"empirical({arg.value!r}) cannot be evaluated")
        return Empirical(arg.value, text=node.text)
