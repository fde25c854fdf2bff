"""The values a statement computes with beyond numbers and vectors: quotients and relu over a
polynomial ring, softmax, entropy and argmax at exact points, and the size guards that keep
flint's uninterruptible C code within bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from ..numbers import PolyRing
from .propositions import Undefined, Unsupported

try:  # what an inexact division of polynomials raises: flint's DomainError, or sympy's
    from flint.utils.flint_exceptions import DomainError as _Inexact
except ImportError:  # pragma: no cover - the fallback without flint
    from sympy.polys.polyerrors import ExactQuotientFailed as _Inexact
INEXACT = (_Inexact, ZeroDivisionError)
#: the most terms a layer's product may reach over generic weights; a bigger size is refused
SYMBOLIC_TERMS = 400_000


# -- rational functions in a ring ----------------------------------------------------------


class Frac:
    """``num / den`` over a polynomial ring: shares divide by outputs. Compared by cross-multiplying."""

    __slots__ = ("den", "num")

    def __init__(self, num: Any, den: Any) -> None:
        self.num, self.den = num, den

    @staticmethod
    def of(v: Any) -> Frac:
        return v if isinstance(v, Frac) else Frac(v, 1)

    def __add__(self, o: Any) -> Frac:
        o = Frac.of(o)
        return Frac(_mul(self.num, o.den) + _mul(o.num, self.den), _mul(self.den, o.den))

    __radd__ = __add__

    def __sub__(self, o: Any) -> Frac:
        o = Frac.of(o)
        return Frac(_mul(self.num, o.den) - _mul(o.num, self.den), _mul(self.den, o.den))

    def __rsub__(self, o: Any) -> Frac:
        return Frac.of(o) - self

    def __mul__(self, o: Any) -> Frac:
        o = Frac.of(o)
        return Frac(_mul(self.num, o.num), _mul(self.den, o.den))

    __rmul__ = __mul__

    def __truediv__(self, o: Any) -> Frac:
        o = Frac.of(o)
        return Frac(_mul(self.num, o.den), _mul(self.den, o.num))

    def __rtruediv__(self, o: Any) -> Frac:
        return Frac.of(o) / self

    def __neg__(self) -> Frac:
        return Frac(-self.num, self.den)

    def __pow__(self, e: int) -> Frac:
        out = Frac(1, 1)
        for _ in range(e):
            out = out * self
        return out


def _mul(p: Any, q: Any, *, limit: int = 25 * SYMBOLIC_TERMS, what: str = "rational functions") -> Any:
    """``p * q``, refused when the product could exceed ``limit`` terms: flint multiplies in C,
    where the time limit cannot interrupt it (and a huge product can exhaust the memory)."""
    if not isinstance(p, Frac) and not isinstance(q, Frac):  # Frac guards its own products
        _check_product(p, q, limit=limit, what=what)
    return p * q


def _power_terms(p: Any, e: int) -> int:
    """An upper bound on the number of terms of ``p ** e``: the monomials of its degree in the
    variables p uses, and the multisets of e of p's terms, whichever is smaller."""
    if not hasattr(p, "monoms") or e <= 1:
        return len(p) if hasattr(p, "monoms") else 1
    monoms = [tuple(int(x) for x in m) for m in p.monoms()]
    if len(monoms) <= 1:
        return 1
    used = sum(1 for i in range(len(monoms[0])) if any(m[i] for m in monoms))
    degree = max(sum(m) for m in monoms)
    from math import comb

    return min(comb(used + degree * e, used), comb(len(monoms) + e - 1, e))


def _check_power(p: Any, e: int, *, limit: int = 25 * SYMBOLIC_TERMS) -> None:
    """Refuse ``p ** e`` when it could exceed ``limit`` terms (flint computes it in C, where the
    time limit cannot interrupt it): ``((a + t + k + alpha + 1)**64)**64`` would never return."""
    size = _power_terms(p, e)
    if size > limit:
        raise Unsupported(f"a power of a polynomial with up to {float(size):.1e} terms (limit {limit:.0e})")


def _check_product(p: Any, q: Any, *, limit: int, what: str) -> None:
    """Refuse a product of polynomials that could exceed ``limit`` terms (before it is started)."""
    size = (len(p) if hasattr(p, "monoms") else 1) * (len(q) if hasattr(q, "monoms") else 1)
    if size > limit:
        raise Unsupported(f"a product of {what} with up to {size:.1e} terms (limit {limit:.0e}); "
                          "list smaller sizes in [model]")


def _check_matmul(left: np.ndarray, right: np.ndarray, *, what: str) -> None:
    """Refuse ``left @ right`` over a polynomial ring when an entry Σ_k l_ik r_kj could exceed
    SYMBOLIC_TERMS terms, or all entries together 25 times that: flint multiplies in C, where the
    time limit cannot interrupt it (cross_map(s) @ cross_map(s) @ cross_map(s) at d = h = 6
    would run past any --timeout and exhaust the memory)."""
    size = np.vectorize(lambda p: len(p) if hasattr(p, "monoms") else 1, otypes=[object])
    a, b = size(left).astype(float), size(right).astype(float)
    entries = a @ b  # bound per entry: the sum over k of the products' term counts
    biggest, total = float(np.max(entries, initial=0)), float(np.sum(entries))
    if biggest > SYMBOLIC_TERMS or total > 25 * SYMBOLIC_TERMS:
        raise Unsupported(f"the matrix product {what} with generic weights would have up to {max(biggest, total):.1e} "
                          f"terms (limit {SYMBOLIC_TERMS:.0e} per entry); list smaller sizes in [model]")


class Relu:
    """``rest + Σ coef · relu(arg)`` over a polynomial ring, each arg a non-constant polynomial:
    relu of generic values, with sums and polynomial multiples of it. Equations between such
    values become :class:`ReluZero` for the prover; is_polynomial_in and continuous_in read a
    single ``relu(arg)``."""

    __slots__ = ("rest", "terms")

    def __init__(self, arg: Any = None, *, terms: tuple = (), rest: Any = 0) -> None:
        self.terms = ((arg, 1),) if arg is not None else tuple(terms)
        self.rest = rest

    @property
    def arg(self) -> Any:
        if len(self.terms) != 1 or self.terms[0][1] != 1 or self.rest != 0:
            raise Unsupported("a sum or multiple of relu(...) values can only be compared with '=='")
        return self.terms[0][0]

    def _no(self, *_: Any) -> Any:
        raise Unsupported("relu(...) of a symbolic value can only be added, scaled by a polynomial, compared with '==' "
                          "or passed to is_polynomial_in or continuous_in")

    def __add__(self, o: Any) -> Relu:
        if isinstance(o, Relu):
            return Relu(terms=self.terms + o.terms, rest=self.rest + o.rest)
        if isinstance(o, Frac):
            self._no()
        return Relu(terms=self.terms, rest=self.rest + o)

    __radd__ = __add__

    def __neg__(self) -> Relu:
        return Relu(terms=tuple((a, -c) for a, c in self.terms), rest=-self.rest)

    def __sub__(self, o: Any) -> Relu:
        return self + (-o)

    def __rsub__(self, o: Any) -> Relu:
        return (-self) + o

    def __mul__(self, o: Any) -> Relu:
        if isinstance(o, (Relu, Frac)):
            self._no()
        return Relu(terms=tuple((a, c * o) for a, c in self.terms), rest=self.rest * o)

    __rmul__ = __mul__
    __truediv__ = __rtruediv__ = __pow__ = _no


def _largest(v: Any) -> Any:
    """The entry with the most terms (a polynomial stands for itself)."""
    entries = list(v.ravel()) if isinstance(v, np.ndarray) else [v]
    polys = [e for e in entries if hasattr(e, "monoms")]
    return max(polys, key=len) if polys else 1


def _box(v: Any) -> np.ndarray:
    """A 0-d object array: numpy would unpack a flint polynomial (a sequence) otherwise."""
    out = np.empty((), dtype=object)
    out[()] = v
    return out


def _numerator(v: Any) -> Any:
    return v.num if isinstance(v, Frac) else v


# -- values that are not numbers -------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SoftmaxVal:
    """``softmax(logits)``; exact comparisons go through the logits (equal iff they differ by a constant)."""

    logits: np.ndarray

    def intervals(self) -> list[Any]:
        from mpmath import iv

        iv.prec = 120
        z = [_iv(v) for v in self.logits]
        top = max(self.logits, key=lambda v: _fraction(v))
        e = [iv.exp(v - _iv(top)) for v in z]
        total = sum(e[1:], e[0])
        return [v / total for v in e]


@dataclass(frozen=True, eq=False)
class TransVec:
    """Entries known as rigorous floating intervals (mpmath.iv): softmax values after arithmetic."""

    items: tuple


@dataclass(frozen=True, eq=False)
class EntropyVal:
    logits: np.ndarray


@dataclass(frozen=True, eq=False)
class ArgmaxVal:
    entries: np.ndarray


@dataclass(frozen=True, eq=False)
class DegreeVal:
    """The coefficients of a polynomial by power of the bound scalar (lists of polynomials in the rest)."""

    by_power: dict
    ring: Any


def _fraction(v: Any) -> Fraction:
    if isinstance(v, Fraction):
        return v
    if hasattr(v, "p") and hasattr(v, "q"):
        return Fraction(int(v.p), int(v.q))
    return Fraction(v)


def _iv(v: Any) -> Any:
    from mpmath import iv

    q = _fraction(v)
    return iv.mpf(q.numerator) / iv.mpf(q.denominator)


def _iv_entropy(logits: np.ndarray) -> Any:
    from mpmath import iv

    p = SoftmaxVal(logits).intervals()
    return -sum((pi * iv.log(pi) for pi in p[1:]), p[0] * iv.log(p[0]))


def _iv_compare(a: Any, b: Any, op: str) -> bool:
    """Decide ``a op b`` for intervals, or raise Undefined when they overlap."""
    lo_a, hi_a, lo_b, hi_b = a.a, a.b, b.a, b.b
    if hi_a < lo_b:
        return op in ("<", "<=", "!=")
    if hi_b < lo_a:
        return op in (">", ">=", "!=")
    raise Undefined(f"intervals {a} and {b} overlap: '{op}' cannot be settled at this precision")


def _drop_one(dens: list[Any], den: Any, numbers: Any) -> Any:
    """The product of ``dens`` with one factor equal to ``den`` left out."""
    out, dropped = numbers.entry(1), False
    for d in dens:
        if not dropped and d == den:
            dropped = True
            continue
        out = out * d
    return out


def _minors_const(v: np.ndarray) -> list[Any]:
    return [_numerator(v[i] - v[0]) for i in range(1, len(v))]


def _same_entropy(a: np.ndarray, b: np.ndarray) -> bool:
    """Entropy of softmax is invariant under shifts and permutations of the logits."""
    if len(a) != len(b):
        return False
    sa = sorted(_fraction(v) for v in a)
    sb = sorted(_fraction(v) for v in b)
    return len({p - q for p, q in zip(sa, sb)}) == 1


def _generator_index(ring: PolyRing, e: Any) -> int | None:
    terms = list(ring.terms(e)) if hasattr(e, "monoms") else []
    if len(terms) == 1:
        monom, coeff = terms[0]
        if coeff == 1 and sum(monom) == 1:
            return monom.index(1)
    return None


def _is_constant(e: Any) -> bool:
    return not hasattr(e, "monoms") or e.is_constant()


def _constant_value(ring: PolyRing, e: Any) -> Fraction:
    terms = list(ring.terms(e))
    return _fraction(terms[0][1]) if terms else Fraction(0)


def _changes_sign(ring: PolyRing, poly: Any) -> bool:
    """A univariate polynomial changes sign on the real line: it has a real root of odd multiplicity."""
    expr = ring.to_sympy(poly)
    syms = list(expr.free_symbols)
    if not syms:
        return False
    p = sympy.Poly(expr, syms[0])
    _, factors = p.sqf_list()
    return any(mult % 2 == 1 and f.count_roots() > 0 for f, mult in factors)
