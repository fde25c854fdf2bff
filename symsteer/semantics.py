"""What a statement means on one model shape.

One evaluator runs a checked statement (:mod:`symsteer.statements`) in a number system of
the core: exact rationals at a point (every proposition is then True or False), or a
polynomial ring over generic weights, vectors and scalars (propositions become the
polynomial conditions the prover works on). A second evaluator expands vector expressions
into nested bilinear terms with formal layers, which holds for every width d, h at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from ._coefficients import forward, stream
from .errors import SymsteerError
from .expansion import expand
from .layer import Bilinear
from .network import Network
from .numbers import EXACT, Numbers, PolyRing, object_array
from .statements import MAX_EXPONENT, Node, StatementError

__all__ = [
    "All",
    "Any_",
    "Case",
    "Empirical",
    "EntropyLess",
    "Evaluator",
    "Formal",
    "Generic",
    "NotFormal",
    "NotZero",
    "Opaque",
    "Order",
    "Prop",
    "ReluSign",
    "ReluZero",
    "Sign",
    "Truth",
    "Undefined",
    "Unsupported",
    "Zero",
    "case_variables",
    "negate",
    "point_env",
    "symbolic_env",
]

try:  # what an inexact division of polynomials raises: flint's DomainError, or sympy's
    from flint.utils.flint_exceptions import DomainError as _Inexact
except ImportError:  # pragma: no cover - the fallback without flint
    from sympy.polys.polyerrors import ExactQuotientFailed as _Inexact
INEXACT = (_Inexact, ZeroDivisionError)

VECTOR_NAMES = ("x", "s", "u", "v", "z")
#: the most terms a layer's product may reach over generic weights; a bigger size is refused
SYMBOLIC_TERMS = 400_000
SCALAR_NAMES = ("a", "alpha", "t", "k")


class Undefined(SymsteerError):
    """The statement has no value at this point (a division by zero, or an interval
    comparison that floating intervals cannot settle)."""


class Unsupported(SymsteerError):
    """The statement has no symbolic meaning here; only exact points can test it."""


# -- model shapes --------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Case:
    """One model shape: depth L, widths (d, h), plain or residual, biases, unembedding, and
    the layer index m when the statement uses it."""

    depth: int
    d: int
    h: int
    residual: bool = False
    bias: bool = False
    unembed: int | None = None
    m: int | None = None

    def describe(self, *, model: bool = True) -> str:
        if not model:
            return f"d = {self.d}"
        kind = ("residual" if self.residual else "plain") + (", biases" if self.bias else "")
        extra = f", d_out = {self.unembed}" if self.unembed else ""
        at = f", m = {self.m}" if self.m is not None else ""
        return f"L = {self.depth}, (d, h) = ({self.d}, {self.h}), {kind}{extra}{at}"


@dataclass(frozen=True)
class Variable:
    """A number the search may choose: a weight array or a free vector or scalar."""

    name: str
    shape: tuple[int, ...]


def case_variables(case: Case, *, vectors: Iterable[str], scalars: Iterable[str], model: bool) -> list[Variable]:
    """The numbers that make one point of ``case``: weights (if the statement uses the model),
    then the free vectors and scalars."""
    out = []
    if model:
        for l in range(case.depth):
            out += [Variable(f"W{l}", (case.h, case.d)), Variable(f"V{l}", (case.h, case.d)), Variable(f"P{l}", (case.d, case.h))]
            if case.bias:
                out += [Variable(f"b{l}", (case.h,)), Variable(f"c{l}", (case.h,))]
        if case.unembed:
            out.append(Variable("U", (case.unembed, case.d)))
    out += [Variable(v, (case.d,)) for v in vectors]
    out += [Variable(a, ()) for a in scalars]
    return out


def _network(case: Case, arrays: dict[str, Any]) -> Network | None:
    if case.depth == 0:
        return None
    layers = []
    for l in range(case.depth):
        bias = {"b": arrays[f"b{l}"], "c": arrays[f"c{l}"]} if case.bias else {}
        layers.append(Bilinear(arrays[f"W{l}"], arrays[f"V{l}"], arrays[f"P{l}"], **bias, name=f"layers[{l}]"))
    return Network(tuple(layers), residual=case.residual, unembed=arrays.get("U"))


def point_env(case: Case, point: dict[str, Any], *, model: bool) -> Evaluator:
    """An exact evaluator at one point: ``point`` maps variable names to integer or Fraction arrays."""
    network = _network(case, {k: np.asarray(v, dtype=object).tolist() for k, v in point.items()}) if model else None
    values: dict[str, Any] = {}
    for name, value in point.items():
        if name in VECTOR_NAMES:
            values[name] = EXACT.array(np.asarray(value, dtype=object))
        elif name in SCALAR_NAMES:
            values[name] = EXACT.entry(value)
    # at depth 0 there is no Network to carry U, but f is still U x
    unembed = EXACT.array(np.asarray(point["U"], dtype=object)) if model and case.depth == 0 and "U" in point else None
    return Evaluator(numbers=EXACT, network=network, case=case, values=values, exact=True, unembed=unembed)


def symbolic_env(case: Case, *, vectors: Iterable[str], scalars: Iterable[str], model: bool) -> Evaluator:
    """An evaluator over generic weights (``Network.symbolic``), vectors ``x_1 … x_d`` and scalars,
    all generators of one sparse polynomial ring."""
    network = None
    if model and case.depth > 0:
        network = Network.symbolic(layers=case.depth, width=case.d, hidden=case.h, residual=case.residual,
                                   bias=case.bias, unembed=case.unembed)
    # at depth 0 there is no Network to carry U, but f is still U x
    u_syms = ([[sympy.Symbol(f"U_{{{r + 1},{q + 1}}}") for q in range(case.d)] for r in range(case.unembed)]
              if model and case.depth == 0 and case.unembed else None)
    vec_syms = {v: [sympy.Symbol(f"{v}_{i + 1}") for i in range(case.d)] for v in vectors}
    scal_syms = {a: sympy.Symbol(a) for a in scalars}
    weight_syms = sorted(_weight_symbols(network), key=str) if network is not None else []
    weight_syms += [sym for row in u_syms or [] for sym in row]
    ring = PolyRing(weight_syms + [s for syms in vec_syms.values() for s in syms] + list(scal_syms.values()))
    values: dict[str, Any] = {v: ring.array(np.array(syms, dtype=object)) for v, syms in vec_syms.items()}
    values |= {a: ring.entry(sym) for a, sym in scal_syms.items()}
    unembed = ring.array(np.array(u_syms, dtype=object)) if u_syms else None
    return Evaluator(numbers=ring, network=network, case=case, values=values, exact=False, unembed=unembed)


def _weight_symbols(network: Network) -> set[sympy.Symbol]:
    arrays = [network.unembed] + [arr for layer in network.layers for arr in (layer.W, layer.V, layer.P, layer.b, layer.c)]
    return {sym for arr in arrays if arr is not None for v in arr.ravel() for sym in v.free_symbols}


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


# -- the evaluator --------------------------------------------------------------------------


class Evaluator:
    """Evaluate checked statements on one model shape.

    ``exact=True``: every free value is a number (except names bound by depends_on & co.,
    which get a ring of their own) and propositions are bools. ``exact=False``: values are
    polynomials of ``numbers`` (a :class:`PolyRing`) and propositions are :class:`Prop` trees.
    """

    def __init__(self, *, numbers: Numbers, network: Network | None, case: Case, values: dict[str, Any], exact: bool,
                 unembed: np.ndarray | None = None) -> None:
        self.numbers, self.network, self.case, self.exact = numbers, network, case, exact
        self.unembed = unembed  # U at depth 0 (deeper networks carry their own)
        self.values = dict(values)
        self._single: dict[tuple[int, bool], Network] = {}
        self._expansions: dict[int, Any] = {}

    # -- plumbing -----------------------------------------------------------------------

    def bind(self, name: str, node: Node) -> None:
        """Bind a substitution assumption ``name == node``; a vector equal to a number is that
        number in every entry."""
        value = self.value_of(node)
        if name in VECTOR_NAMES and not isinstance(value, np.ndarray):
            value = object_array([self.lift(value)] * self.case.d)
        self.values[name] = value

    def lift(self, v: Any) -> Any:
        if isinstance(v, (int, Fraction)):
            return self.numbers.entry(v)
        return v

    def value_of(self, node: Node) -> Any:
        op = node.op
        if op == "num":
            return node.value
        if op == "str":
            return node.value
        if op == "name":
            return self._name(node)
        if op == "vec":
            return object_array([self.numbers.entry(v) for v in node.value])
        if op == "neg":
            v = self.value_of(node.args[0])
            return -v if not isinstance(v, np.ndarray) else np.negative(v)
        if op == "not":
            p = self.value_of(node.args[0])
            return (not p) if self.exact else replace(negate(p), text=node.text)
        if op == "and":
            items = [self.value_of(a) for a in node.args]
            return all(items) if self.exact else All(tuple(items), text=node.text)
        if op in ("+", "-", "*", "/", "**", "@"):
            return self._binary(node)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return self._compare(node)
        if op == "call":
            return getattr(self, f"_fn_{node.value}")(node, *node.args)
        raise StatementError(f"cannot evaluate '{node.text}'")  # pragma: no cover - the parser refuses it first

    def _name(self, node: Node) -> Any:
        name = node.value
        if name == "L":
            return Fraction(self.case.depth)
        if name == "m":
            if self.case.m is None:
                raise StatementError("m is only defined when the claim iterates over layers")
            return Fraction(self.case.m)
        if name == "ones":
            return object_array([self.numbers.entry(1)] * self.case.d)
        if name in ("W", "V", "P", "b", "c"):
            arrays = self._weights(0)
            if arrays[name] is None:
                raise StatementError(f"'{name}' is a bias and the model has none; set bias = true in [model]")
            return arrays[name]
        if name not in self.values:
            raise StatementError(f"'{name}' has no value here")  # pragma: no cover - every free name is bound
        return self.values[name]

    def _layer(self, l: int) -> Bilinear:
        if self.network is None or l >= self.network.depth:
            depth = 0 if self.network is None else self.network.depth
            raise StatementError(f"layer {l} is used but the model has {depth} layer(s); set layers in [model]")
        return self.network.layers[l]

    def _weights(self, l: int) -> dict[str, Any]:
        layer = self._layer(l)
        return self.numbers.weights(layer, {"W": layer.W, "V": layer.V, "P": layer.P, "b": layer.b, "c": layer.c})

    # -- arithmetic ---------------------------------------------------------------------

    def _binary(self, node: Node) -> Any:
        left, right = (self.value_of(a) for a in node.args)
        op = node.op
        if op == "**":
            e = int(right)
            if not 0 <= e <= MAX_EXPONENT:
                raise StatementError(f"exponent {node.args[1].text} = {e} is out of range; expected 0 … {MAX_EXPONENT}")
            if isinstance(left, Fraction):
                return left**e
            base = self.lift(left)
            _check_power(base, e)
            return base ** e
        if isinstance(left, Fraction) and isinstance(right, Fraction):
            if op == "/" and right == 0:
                raise Undefined(f"division by zero in '{node.text}'")
            return {"+": left + right, "-": left - right, "*": left * right, "/": left / right if right else None}[op]
        if isinstance(left, (SoftmaxVal, TransVec)) or isinstance(right, (SoftmaxVal, TransVec)):
            return self._trans_binary(op, left, right, node)
        left, right = self.lift(left), self.lift(right)
        if op == "@":
            return np.matmul(left, right)
        if op == "/":
            return self._divide(left, right, node)
        if op == "*" and isinstance(self.numbers, PolyRing):
            _check_product(_largest(left), _largest(right), limit=SYMBOLIC_TERMS, what=f"the entries of '{node.text}'")
        if isinstance(left, np.ndarray) or isinstance(right, np.ndarray):
            left = left if isinstance(left, np.ndarray) else _box(left)
            right = right if isinstance(right, np.ndarray) else _box(right)
        return {"+": lambda: left + right, "-": lambda: left - right, "*": lambda: left * right}[op]()

    def _divide(self, left: Any, right: Any, node: Node) -> Any:
        rights = right.ravel() if isinstance(right, np.ndarray) else [right]
        if any((r.num if isinstance(r, Frac) else r) == 0 for r in rights):
            raise Undefined(f"division by zero in '{node.text}'")
        if isinstance(self.numbers, PolyRing):
            lift = np.vectorize(Frac.of, otypes=[object])
            left = lift(left) if isinstance(left, np.ndarray) else Frac.of(left)
        if isinstance(left, np.ndarray) or isinstance(right, np.ndarray):
            left = left if isinstance(left, np.ndarray) else _box(left)
            right = right if isinstance(right, np.ndarray) else _box(right)
        return left / right

    def _trans_binary(self, op: str, left: Any, right: Any, node: Node) -> TransVec:
        if not self.exact:
            raise Unsupported(f"arithmetic on softmax values ('{node.text}') has no symbolic meaning")

        def items(v: Any) -> list[Any] | Any:
            if isinstance(v, SoftmaxVal):
                return v.intervals()
            if isinstance(v, TransVec):
                return list(v.items)
            if isinstance(v, np.ndarray):
                return [_iv(e) for e in v]
            return _iv(v)

        a, b = items(left), items(right)
        n = len(a) if isinstance(a, list) else len(b)
        a = a if isinstance(a, list) else [a] * n
        b = b if isinstance(b, list) else [b] * n
        fn = {"+": lambda p, q: p + q, "-": lambda p, q: p - q, "*": lambda p, q: p * q, "/": lambda p, q: p / q}.get(op)
        if fn is None:
            raise Unsupported(f"'{op}' on softmax values is not supported")
        return TransVec(tuple(fn(p, q) for p, q in zip(a, b)))

    # -- comparisons -------------------------------------------------------------------

    def _compare(self, node: Node) -> Any:
        op = node.op
        left, right = (self.value_of(a) for a in node.args)
        if isinstance(left, DegreeVal) or isinstance(right, DegreeVal):
            return self._degree_compare(op, left, right, node)
        if isinstance(left, EntropyVal):
            return self._entropy_compare(op, left, right, node)
        if isinstance(left, (frozenset, ArgmaxVal)):
            return self._argmax_compare(op, left, right, node)
        if isinstance(left, SoftmaxVal) and isinstance(right, SoftmaxVal) and op in ("==", "!="):
            same = self._zero(_minors_const(left.logits - right.logits), node, why="softmax(u) = softmax(v) exactly when u − v is a constant vector")
            return same if op == "==" else self._not(same)
        if isinstance(left, (SoftmaxVal, TransVec)) or isinstance(right, (SoftmaxVal, TransVec)):
            if not self.exact:
                return Opaque("comparisons of softmax values are decided at exact points only", text=node.text)
            a, b = (self._trans_items(v) for v in (left, right))
            return all(_iv_compare(p, q, op) for p, q in zip(a, b)) if op != "!=" else any(_iv_compare(p, q, op) for p, q in zip(a, b))
        if isinstance(left, Fraction) and isinstance(right, Fraction):
            value = {"==": left == right, "!=": left != right, "<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
            # over generic values too a comparison of two numbers is decided: a proposition, not a bool
            return value if self.exact else Truth(value, f"{left} {op} {right} is {'true' if value else 'false'} (numbers)", text=node.text)
        left, right = self.lift(left), self.lift(right)
        if isinstance(left, np.ndarray) and isinstance(right, np.ndarray) and left.shape != right.shape:
            if op not in ("==", "!="):
                raise StatementError(f"'{node.text}' compares values of shapes {left.shape} and {right.shape} with '{op}'; "
                                     "expected equal shapes")
            # values of different shapes (e.g. U x of width d_out against x) are never equal
            value = op == "!="
            return value if self.exact else Truth(value, f"the two sides have different shapes {left.shape} and {right.shape}",
                                                  text=node.text)
        diff = (left if isinstance(left, np.ndarray) else _box(left)) - (right if isinstance(right, np.ndarray) else _box(right))
        entries = list(diff.ravel()) if isinstance(diff, np.ndarray) else [diff]
        if any(isinstance(e, Relu) for e in entries):
            if any(isinstance(e, Frac) for e in entries):
                raise Unsupported(f"'{node.text}' compares relu(...) with a quotient of symbolic values")
            if not self.exact and op not in ("==", "!="):
                # an order: entrywise 'right - left > 0' for '<', as for polynomials below
                signed = [(-e if op in ("<", "<=") else e) for e in entries]
                return ReluSign(tuple(e if isinstance(e, Relu) else Relu(rest=e) for e in signed), op in ("<", ">"),
                                self.numbers, text=node.text)
            if self.exact:
                raise Unsupported(f"'{node.text}' compares relu(...) of symbolic values; only '==' and '!=' are supported")
            same = ReluZero(tuple(e if isinstance(e, Relu) else Relu(rest=e) for e in entries), self.numbers, text=node.text)
            return same if op == "==" else self._retext(self._not(same), node)
        if op in ("==", "!="):
            same = self._zero([_numerator(e) for e in entries], node)
            return same if op == "==" else self._retext(self._not(same), node)
        # order: entrywise; '<' is 'right - left > 0'
        signed = [(-e if op in ("<", "<=") else e) for e in entries]
        strict = op in ("<", ">")
        if self.exact:
            return all((e > 0) if strict else (e >= 0) for e in signed)
        atoms = tuple(Sign(e.num * e.den if isinstance(e, Frac) else e, strict, self.numbers, text=node.text) for e in signed)
        return atoms[0] if len(atoms) == 1 else All(atoms, text=node.text)

    def _trans_items(self, v: Any) -> list[Any]:
        if isinstance(v, SoftmaxVal):
            return v.intervals()
        if isinstance(v, TransVec):
            return list(v.items)
        return [_iv(e) for e in (v if isinstance(v, np.ndarray) else [v])]

    def _zero(self, polys: list[Any], node: Node | None, *, why: str = "") -> Any:
        if self.exact:
            return all(p == 0 for p in polys)
        return Zero(tuple(polys), self.numbers, why, text=node.text if node is not None else "")

    def _not(self, p: Any) -> Any:
        return (not p) if self.exact else negate(p)

    def _retext(self, p: Any, node: Node) -> Any:
        return p if self.exact else replace(p, text=node.text)

    def _degree_compare(self, op: str, left: Any, right: Any, node: Node) -> Any:
        if isinstance(right, DegreeVal):
            left, right = right, left
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        if isinstance(right, DegreeVal):
            raise Unsupported(f"'{node.text}' compares two degrees; expected a degree and a number")
        if hasattr(right, "monoms"):  # a polynomial: only a constant one is a number
            if not right.is_constant():
                raise Unsupported(f"'{node.text}' compares a degree with a symbolic value; expected a number such as 2**L")
            right = _constant_value(self.numbers, right)
        right = _fraction(right)
        if right.denominator != 1:
            # a degree is an integer (or −∞): never equal to k, and on one side of it exactly
            # when on that side of floor(k) or ceil(k) (int() would truncate 1/2 to 0)
            if op in ("==", "!="):
                return (op == "!=") if self.exact else Truth(op == "!=", f"a degree is never the non-integer {right}", text=node.text)
            op, right = ("<=", Fraction(math.floor(right))) if op in ("<", "<=") else (">=", Fraction(math.ceil(right)))
        k = int(right)
        above = lambda j: [p for power, ps in left.by_power.items() if power > j for p in ps]
        # degree <= j  ⟺  every coefficient above j vanishes
        le = lambda j: self._zero(above(j), node, why=f"degree ≤ {j}")
        if op == "<=":
            return le(k)
        if op == "<":
            return le(k - 1)
        if op == ">":
            return self._not(le(k))
        if op == ">=":
            return self._not(le(k - 1))
        both = [le(k), self._not(le(k - 1))]
        same = all(both) if self.exact else All(tuple(both), text=node.text)
        return same if op == "==" else self._not(same)

    def _entropy_compare(self, op: str, left: EntropyVal, right: EntropyVal, node: Node) -> Any:
        if self.exact:
            if _same_entropy(left.logits, right.logits):
                return op in ("==", "<=", ">=")
            a, b = _iv_entropy(left.logits), _iv_entropy(right.logits)
            return _iv_compare(a, b, op)
        if op in ("<", "<="):
            return EntropyLess(tuple(left.logits), tuple(right.logits), op == "<", self.numbers, text=node.text)
        if op in (">", ">="):
            return EntropyLess(tuple(right.logits), tuple(left.logits), op == ">", self.numbers, text=node.text)
        return Opaque("equality of entropies is decided at exact points only", text=node.text)

    def _argmax_compare(self, op: str, left: Any, right: Any, node: Node) -> Any:
        if self.exact:
            same = left == right
        else:
            same = Order("argmax", tuple(left.entries), tuple(right.entries), self.numbers, text=node.text)
        return same if op == "==" else self._not(same)

    # -- the model -----------------------------------------------------------------------

    def _vector(self, v: Any, what: str, width: int) -> np.ndarray:
        if not isinstance(v, np.ndarray) or v.ndim != 1:
            raise StatementError(f"{what} needs a vector")
        if v.shape[0] != width:
            raise StatementError(f"{what} got a vector of length {v.shape[0]}; expected {width}")
        if any(isinstance(e, (Frac, Relu)) for e in v):
            raise Unsupported(f"{what} of a quotient or a relu has no polynomial meaning here")
        return v

    def _layer_fn(self, l: int, node: Node, args: tuple[Node, ...]) -> np.ndarray:
        layer = self._layer(l)
        a = self._weights(l)
        if len(args) == 1:
            z = self._vector(self.value_of(args[0]), node.text, layer.d_in)
            return forward(self._single_layer(l), z, numbers=self.numbers)
        u, v = (self._vector(self.value_of(x), node.text, layer.d_in) for x in args)
        return (u @ a["W"].T * (v @ a["V"].T)) @ a["P"].T

    def _single_layer(self, l: int, *, residual: bool = False) -> Network:
        if (l, residual) not in self._single:
            self._single[(l, residual)] = Network((self._layer(l),), residual=residual)
        return self._single[(l, residual)]

    def _fn_B(self, node: Node, *args: Node) -> np.ndarray:
        return self._layer_fn(0, node, args)

    _fn_B0 = _fn_B

    def _fn_B1(self, node: Node, *args: Node) -> np.ndarray:
        return self._layer_fn(1, node, args)

    def _fn_B2(self, node: Node, *args: Node) -> np.ndarray:
        return self._layer_fn(2, node, args)

    def _fn_g(self, node: Node, arg: Node) -> np.ndarray:
        layer, a = self._layer(0), self._weights(0)
        z = self._vector(self.value_of(arg), node.text, layer.d_in)
        wz, vz = z @ a["W"].T, z @ a["V"].T
        if a["b"] is not None:
            wz, vz = wz + a["b"], vz + a["c"]
        return wz * vz

    def _fn_f(self, node: Node, arg: Node) -> np.ndarray:
        z = self.value_of(arg)
        if self.case.depth == 0:
            z = self._vector(z, node.text, self.case.d)
            return z if self.unembed is None else self.unembed @ z
        if self.network is None:
            raise StatementError("f needs the model")  # pragma: no cover
        z = self._vector(z, node.text, self.network.d_in)
        if not isinstance(self.numbers, PolyRing):
            return forward(self.network, z, numbers=self.numbers)
        y = self._stream(z)[-1]
        U = self.numbers.weights(self.network, {"unembed": self.network.unembed})["unembed"]
        return y if U is None else y @ U.T

    def _stream(self, z: np.ndarray) -> list[np.ndarray]:
        """The activations x_0 … x_L. Over a polynomial ring one layer at a time, refusing a layer
        whose product would be too large: flint multiplies in C, where no time limit reaches."""
        if not isinstance(self.numbers, PolyRing):
            return stream(self.network, z, numbers=self.numbers)
        out = [z]
        for l, layer in enumerate(self.network.layers):
            terms = max((len(e) if hasattr(e, "monoms") else 1) for e in out[-1])
            size = layer.hidden * (layer.d_in * terms + layer.has_bias) ** 2
            if size > SYMBOLIC_TERMS:
                raise Unsupported(f"layer {l} with generic weights would multiply out to about {size:.1e} terms "
                                  f"(limit {SYMBOLIC_TERMS:.0e}); list smaller sizes in [model]")
            out.append(stream(self._single_layer(l, residual=self.network.residual), out[-1], numbers=self.numbers)[1])
        return out

    def _fn_stream(self, node: Node, arg: Node, index: Node) -> np.ndarray:
        m = int(self.value_of(index))
        if not 0 <= m <= self.case.depth:
            raise StatementError(f"stream(z, {m}) but the model has {self.case.depth} layer(s); expected 0 ≤ m ≤ {self.case.depth}")
        z = self.value_of(arg)
        if self.case.depth == 0:
            return self._vector(z, node.text, self.case.d)
        z = self._vector(z, node.text, self.network.d_in)
        return self._stream(z)[m]

    def _fn_cross_map(self, node: Node, arg: Node) -> np.ndarray:
        layer, a = self._layer(0), self._weights(0)
        s = self._vector(self.value_of(arg), node.text, layer.d_in)
        ws, vs = s @ a["W"].T, s @ a["V"].T
        inner = a["W"] * vs[:, None] + a["V"] * ws[:, None]
        return a["P"] @ inner

    def _fn_share(self, node: Node, arg: Node, kind: Node | None = None) -> np.ndarray:
        how = "unit" if kind is None else kind.value
        if self.case.depth == 0 or self.network is None:
            raise StatementError("share needs at least one layer")
        net = self.network
        z = self._vector(self.value_of(arg), node.text, net.d_in)
        acts = self._stream(z)
        x, y = acts[-2], acts[-1]
        a = self._weights(net.depth - 1)
        wx, vx = x @ a["W"].T, x @ a["V"].T
        if a["b"] is not None:
            wx, vx = wx + a["b"], vx + a["c"]
        P = a["P"]
        if how == "unit":
            parts = [P * (wx * vx)[None, :]]
        elif how == "entry":
            W, V, xa = a["W"], a["V"], x
            if a["b"] is not None:  # the augmented form x' = [x, 1], W' = [W b], V' = [V c]
                W, V = np.concatenate([W, a["b"][:, None]], axis=1), np.concatenate([V, a["c"][:, None]], axis=1)
                xa = np.concatenate([x, object_array([self.numbers.entry(1)])])
            B = np.einsum("ka,ai,aj->kij", P, W, V)
            parts = [B * xa[None, :, None] * xa[None, None, :]]
        else:
            parts = [P * (wx * vx)[None, :],
                     (P * vx[None, :])[:, :, None] * (a["W"] * x[None, :])[None],
                     (P * wx[None, :])[:, :, None] * (a["V"] * x[None, :])[None]]
            if a["b"] is not None:
                parts += [P * (a["b"] * vx)[None, :], P * (wx * a["c"])[None, :]]
        out = []
        for contrib in parts:
            flat = contrib.reshape(contrib.shape[0], -1)
            for k in range(flat.shape[0]):
                for e in flat[k]:
                    out.append(self._quotient(e, y[k], node))
        return object_array(out)

    def _quotient(self, num: Any, den: Any, node: Node) -> Any:
        if self.exact and not isinstance(self.numbers, PolyRing):
            if den == 0:
                raise Undefined(f"'{node.text}' divides by an output y_k = 0")
            return num / den
        return Frac(num, den)

    # -- steered parts -------------------------------------------------------------------

    def _steered(self, node: Node, arg: Node) -> tuple[Network, Any, Any, Any]:
        """``f(X + A*S)`` or ``B(X + A*S)``: the network, X, S and A."""
        fn = arg.value if arg.op == "call" else None
        inner = arg.args[0] if arg.op == "call" and len(arg.args) == 1 else None
        if fn not in ("f", "B", "B0", "B1", "B2") or inner is None or inner.op != "+":
            raise StatementError(f"{node.value} expects f(X + A*S) or B(X + A*S); got '{arg.text}'")
        x_node, steer = inner.args
        if steer.op != "*":
            raise StatementError(f"{node.value} expects f(X + A*S) with a scalar A times a vector S; got '{inner.text}'")
        a_node, s_node = steer.args if steer.args[0].type in ("scalar", "int") else steer.args[::-1]
        if fn == "f":
            if self.case.depth == 0 or self.network is None:
                raise StatementError(f"{node.value} needs at least one layer")
            net = self.network
        else:
            net = self._single_layer(0 if fn in ("B", "B0") else int(fn[1]))
        width = net.d_in
        return net, self._vector(self.value_of(x_node), node.text, width), self._vector(self.value_of(s_node), node.text, width), self.lift(self.value_of(a_node))

    def _part(self, node: Node, arg: Node, kind: str) -> np.ndarray:
        net, x, s, a = self._steered(node, arg)
        e = self._expansions.get(id(net))
        if e is None:
            e = self._expansions[id(net)] = (net, expand(net, steer_at=0))
        parts = e[1].evaluate(s, x_n=x, numbers=self.numbers)[kind]
        total = parts[0]
        power = self.numbers.entry(1)
        for m in range(1, parts.shape[0]):
            power = power * a
            total = total + parts[m] * _box(power)
        return total

    def _fn_input_part(self, node: Node, arg: Node) -> np.ndarray:
        return self._part(node, arg, "input")

    def _fn_cross_part(self, node: Node, arg: Node) -> np.ndarray:
        return self._part(node, arg, "cross")

    def _fn_self_part(self, node: Node, arg: Node) -> np.ndarray:
        return self._part(node, arg, "self")

    def _fn_const_part(self, node: Node, arg: Node) -> np.ndarray:
        return self._part(node, arg, "const")

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
        if not isinstance(v, np.ndarray):
            raise StatementError(f"{node.text}: constant needs a vector")
        return self._zero(_minors_const(v), node, why="all entries equal")

    # -- names bound by a function ---------------------------------------------------------

    def _bound(self, expr: Node, var: Node) -> tuple[Evaluator, Any, set[int]]:
        """Evaluate ``expr`` with ``var`` generic: in this ring if it is generic already, else in
        a ring of its own with every other value a number. Returns the evaluator, the value and
        the indices of var's generators."""
        name = var.value
        current = self.values.get(name)
        ring = self.numbers if isinstance(self.numbers, PolyRing) else None
        entries = list(current) if isinstance(current, np.ndarray) else [current]
        if ring is not None and all(_generator_index(ring, e) is not None for e in entries):
            return self, self.value_of(expr), {_generator_index(ring, e) for e in entries}
        if not self.exact:
            raise Unsupported(f"'{name}' is not a free generic value here (it was substituted)")
        width = len(current) if isinstance(current, np.ndarray) else None
        syms = [sympy.Symbol(f"{name}_{i + 1}") for i in range(width)] if width else [sympy.Symbol(name)]
        sub = PolyRing(syms)
        values = {k: (sub.array(v) if isinstance(v, np.ndarray) else sub.entry(v)) for k, v in self.values.items()
                  if not isinstance(v, (SoftmaxVal, TransVec))}
        values[name] = sub.array(np.array(syms, dtype=object)) if width else sub.entry(syms[0])
        unembed = sub.array(self.unembed) if self.unembed is not None else None
        inner = Evaluator(numbers=sub, network=self.network, case=self.case, values=values, exact=True, unembed=unembed)
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
            return True if self.exact else Truth(True, f"'{expr.text}' is computed with sums and products only, so it is a polynomial", text=node.text)
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
        return True if self.exact else Truth(True, reason, text=node.text)

    # -- meta ------------------------------------------------------------------------------

    def _fn_generic(self, node: Node, arg: Node) -> Any:
        if self.exact:
            return self.value_of(arg)
        return Generic(self.value_of(arg), text=node.text)

    def _fn_empirical(self, node: Node, arg: Node) -> Any:
        if self.exact:
            raise Unsupported(f"empirical({arg.value!r}) cannot be evaluated")
        return Empirical(arg.value, text=node.text)


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


# -- the formal algebra: any width at once --------------------------------------------------


class NotFormal(Exception):
    """The expression is outside the formal algebra (elementwise products, literals, shares …)."""


@dataclass(frozen=True, eq=False)
class FVec:
    """A formal vector: {term id: coefficient}, terms over named leaves and formal layers.

    A term (interned to an int by :class:`Formal`) is a leaf ``(name,)`` (``('1',)`` is the
    bias leaf, b in a W slot and c in a V slot) or ``(kind, layer, i, j)`` over the ids i, j of
    two terms. Every bilinear map splits uniquely as B(u, v) = B̂(u, v) + Ǎ(u, v), symmetric plus
    antisymmetric; kind 'BS' is B̂ on the unordered pair i ≤ j, 'BA' is Ǎ on i < j (Ǎ(j, i) =
    −Ǎ(i, j), Ǎ(i, i) = 0), and 'GS', 'GA' the same for the hidden activations. B(z, z) = B̂(z, z)
    then keeps only unordered pairs (docs/mathematics.md's counts). Identities between formal vectors hold
    for every width d and h: they only use that each layer is linear in each slot.
    """

    terms: dict
    space: str = "d"

    def __add__(self, o: FVec) -> FVec:
        _same_space(self, o)
        out = dict(self.terms)
        for k, c in o.terms.items():
            out[k] = out.get(k, 0) + c
        return FVec({k: c for k, c in out.items() if c != 0}, self.space)

    def scale(self, c: Any) -> FVec:
        if c == 0:
            return FVec({}, self.space)
        return FVec({k: v * c for k, v in self.terms.items()}, self.space)

    def __sub__(self, o: FVec) -> FVec:
        return self + o.scale(-1)


def _same_space(a: FVec, b: FVec) -> None:
    if a.space != b.space:
        raise NotFormal("vectors of different spaces")


@dataclass(frozen=True, eq=False)
class _FSoftmax:
    logits: FVec


@dataclass(frozen=True, eq=False)
class _FArgmax:
    vec: FVec


@dataclass(frozen=True, eq=False)
class _FEntropy:
    logits: FVec


class Formal:
    """Evaluate statements in the formal algebra at one depth, for every width at once.

    Every method returns a formal value or a :class:`Truth`; anything outside the algebra
    raises :class:`NotFormal`. A proof here is an identity of formal expansions.
    """

    def __init__(self, *, depth: int, residual: bool, bias: bool, scalars: Iterable[str], m: int | None = None,
                 facts: Any = None) -> None:
        self.depth, self.residual, self.bias, self.m = depth, residual, bias, m
        self.syms = {a: sympy.Symbol(a) for a in scalars}
        self.ring = PolyRing(list(self.syms.values()))
        self.values: dict[str, Any] = {}
        self.facts = facts  # callable(sympy expr, want) -> reason | None: the sign prover with the hypotheses
        self.nonconstant: list[FVec] = []
        # interned terms: hashing small tuples of ints instead of deeply nested ones
        self._ids: dict[tuple, int] = {}
        self._leafsets: list[frozenset] = []

    def _term(self, key: tuple) -> int:
        """The id of a term (a leaf ``(name,)`` or ``(kind, layer, i, j)``)."""
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self._leafsets)
            self._leafsets.append(frozenset(key[:1]) if len(key) == 1 else self._leafsets[key[2]] | self._leafsets[key[3]])
        return found

    def leaves(self, v: FVec) -> frozenset:
        """Every leaf name in some term of ``v``."""
        return frozenset().union(*(self._leafsets[k] for k in v.terms))

    def leaf(self, name: str) -> FVec:
        return FVec({self._term((name,)): self.ring.entry(1)})

    def value(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in VECTOR_NAMES or name == "ones":
            return self.leaf(name)
        if name in self.syms:
            return self.ring.entry(self.syms[name])
        if name == "L":
            return Fraction(self.depth)
        if name == "m" and self.m is not None:
            return Fraction(self.m)
        raise NotFormal(name)

    def value_of(self, node: Node) -> Any:
        op = node.op
        if op == "num":
            return node.value
        if op == "name":
            return self.value(node.value)
        if op == "neg":
            v = self.value_of(node.args[0])
            return v.scale(-1) if isinstance(v, FVec) else -v
        if op in ("+", "-"):
            a, b = (self.value_of(x) for x in node.args)
            if isinstance(a, FVec) != isinstance(b, FVec):
                raise NotFormal(op)
            if isinstance(a, FVec):
                return a + b if op == "+" else a - b
            return self._scalar(a) + self._scalar(b) if op == "+" else self._scalar(a) - self._scalar(b)
        if op == "*":
            a, b = (self.value_of(x) for x in node.args)
            if isinstance(a, FVec) and isinstance(b, FVec):
                raise NotFormal("elementwise product")
            if isinstance(b, FVec):
                return b.scale(self._scalar(a))
            if isinstance(a, FVec):
                return a.scale(self._scalar(b))
            return self._scalar(a) * self._scalar(b)
        if op == "/":
            a, b = (self.value_of(x) for x in node.args)
            if not isinstance(b, Fraction) or b == 0:
                raise NotFormal("division")
            return a.scale(self.ring.entry(1 / b)) if isinstance(a, FVec) else self._scalar(a) * self.ring.entry(1 / b)
        if op == "**":
            a, e = (self.value_of(x) for x in node.args)
            if not isinstance(e, Fraction) or not 0 <= e <= MAX_EXPONENT:
                raise NotFormal("exponent")
            if isinstance(a, Fraction):
                return a ** int(e)
            base = self._scalar(a)
            try:
                _check_power(base, int(e))
            except Unsupported as exc:
                raise NotFormal(str(exc)) from None
            return base ** int(e)
        if op == "and":
            items = [self.value_of(x) for x in node.args]
            if all(isinstance(i, Truth) and i.value for i in items):
                return Truth(True, "; ".join(i.reason for i in items))
            raise NotFormal("and")
        if op == "not":
            inner = node.args[0]
            if inner.op == "call" and inner.value == "depends_on":
                e = self.value_of(inner.args[0])
                if isinstance(e, FVec) and inner.args[1].value not in self.leaves(e):
                    return Truth(True, f"no term of the expansion of '{inner.args[0].text}' has a leaf {inner.args[1].value}")
            raise NotFormal("not")
        if op == "==":
            return self._equal(node)
        if op in ("<=", "<") and node.args[0].op == "call" and node.args[0].value == "degree_in":
            top, bound = self._degree(node.args[0]), self.value_of(node.args[1])
            if isinstance(bound, Fraction) and (top <= bound if op == "<=" else top < bound):
                return Truth(True, f"every coefficient of the expansion of '{node.args[0].args[0].text}' has degree "
                                   f"≤ {top} in {node.args[0].args[1].value}")
            raise NotFormal("degree")
        if op in ("<", ">") and isinstance(self.value_of(node.args[0]), _FEntropy):
            left, right = (self.value_of(x) for x in node.args)
            return self._entropy(left.logits, right.logits) if op == "<" else self._entropy(right.logits, left.logits)
        if op == "call":
            method = getattr(self, f"_fn_{node.value}", None)
            if method is None:
                raise NotFormal(node.value)
            return method(node, *node.args)
        raise NotFormal(op)

    def _scalar(self, v: Any) -> Any:
        if isinstance(v, Fraction):
            return self.ring.entry(v)
        if isinstance(v, (FVec, _FSoftmax, _FArgmax, _FEntropy)):
            raise NotFormal("not a scalar")
        return v

    # -- layers ---------------------------------------------------------------------------

    def _bilinear(self, kind: str, l: int, u: FVec, v: FVec) -> FVec:
        if u.space != "d" or v.space != "d":
            raise NotFormal("layer input")
        out: dict = {}
        term, sym, anti = self._term, kind + "S", kind + "A"

        def add(key: tuple, c: Any) -> None:
            t = term(key)
            out[t] = out[t] + c if t in out else c

        if u.terms == v.terms:  # B(z, z) = B̂(z, z): each unordered pair once, the cross pairs twice
            items = sorted(u.terms.items())
            for n, (i, ci) in enumerate(items):
                add((sym, l, i, i), ci * ci)
                two = 2 * ci
                for j, cj in items[n + 1:]:
                    add((sym, l, i, j), two * cj)
        else:
            for i, ci in u.terms.items():
                for j, cj in v.terms.items():
                    c = ci * cj
                    if i == j:
                        add((sym, l, i, i), c)
                    else:
                        lo, hi = (i, j) if i < j else (j, i)
                        add((sym, l, lo, hi), c)
                        add((anti, l, lo, hi), c if i < j else -c)
        return FVec({k: c for k, c in out.items() if c != 0}, "h" if kind == "G" else "d")

    def _layer(self, kind: str, l: int, z: FVec) -> FVec:
        if l >= self.depth:
            raise NotFormal("layer")
        if self.bias:
            z = z + self.leaf("1")
        return self._bilinear(kind, l, z, z)

    def _apply(self, l: int, args: tuple[Node, ...]) -> FVec:
        vals = [self.value_of(a) for a in args]
        if not all(isinstance(v, FVec) for v in vals):
            raise NotFormal("layer argument")
        if l >= self.depth:
            raise NotFormal("layer")
        return self._layer("B", l, vals[0]) if len(vals) == 1 else self._bilinear("B", l, vals[0], vals[1])

    def _fn_B(self, node: Node, *args: Node) -> FVec:
        return self._apply(0, args)

    _fn_B0 = _fn_B

    def _fn_B1(self, node: Node, *args: Node) -> FVec:
        return self._apply(1, args)

    def _fn_B2(self, node: Node, *args: Node) -> FVec:
        return self._apply(2, args)

    def _fn_g(self, node: Node, arg: Node) -> FVec:
        z = self.value_of(arg)
        if not isinstance(z, FVec):
            raise NotFormal("g")
        return self._layer("G", 0, z)

    def _run(self, z: FVec, layers: int) -> FVec:
        for l in range(layers):
            y = self._layer("B", l, z)
            z = z + y if self.residual else y
        return z

    def _fn_f(self, node: Node, arg: Node) -> FVec:
        z = self.value_of(arg)
        if not isinstance(z, FVec):
            raise NotFormal("f")
        return self._run(z, self.depth)

    def _fn_stream(self, node: Node, arg: Node, index: Node) -> FVec:
        z, m = self.value_of(arg), self.value_of(index)
        if not isinstance(z, FVec) or not isinstance(m, Fraction) or not 0 <= m <= self.depth:
            raise NotFormal("stream")
        return self._run(z, int(m))

    def _part(self, arg: Node, kind: str) -> FVec:
        if arg.op != "call" or arg.value not in ("f", "B", "B0") or len(arg.args) != 1 or arg.args[0].op != "+":
            raise NotFormal("part")
        x_node, steer = arg.args[0].args
        if steer.op != "*":
            raise NotFormal("part")
        _, s_node = steer.args if steer.args[0].type in ("scalar", "int") else steer.args[::-1]
        if x_node.op != "name" or s_node.op != "name":
            raise NotFormal("part")
        total = self.value_of(arg)
        x, s = x_node.value, s_node.value
        keep = {}
        for key, c in total.terms.items():
            leaves = self._leafsets[key]
            has_x, has_s = x in leaves, s in leaves
            k = ("cross" if has_s else "input") if has_x else ("self" if has_s else "const")
            if k == kind:
                keep[key] = c
        return FVec(keep, total.space)

    def _fn_input_part(self, node: Node, arg: Node) -> FVec:
        return self._part(arg, "input")

    def _fn_cross_part(self, node: Node, arg: Node) -> FVec:
        return self._part(arg, "cross")

    def _fn_self_part(self, node: Node, arg: Node) -> FVec:
        return self._part(arg, "self")

    def _fn_const_part(self, node: Node, arg: Node) -> FVec:
        return self._part(arg, "const")

    # -- predicates -------------------------------------------------------------------------

    def _fn_softmax(self, node: Node, arg: Node) -> _FSoftmax:
        v = self.value_of(arg)
        if not isinstance(v, FVec):
            raise NotFormal("softmax")
        return _FSoftmax(v)

    def _fn_argmax(self, node: Node, arg: Node) -> _FArgmax:
        v = self.value_of(arg)
        v = v.logits if isinstance(v, _FSoftmax) else v
        if not isinstance(v, FVec):
            raise NotFormal("argmax")
        return _FArgmax(v)

    def _fn_entropy(self, node: Node, arg: Node) -> _FEntropy:
        v = self.value_of(arg)
        if not isinstance(v, _FSoftmax):
            raise NotFormal("entropy")
        return _FEntropy(v.logits)

    def _degree(self, node: Node) -> int:
        """The largest degree in the scalar over the coefficients of a formal vector."""
        expr, var = node.args
        v = self.value_of(expr)
        if not isinstance(v, FVec) or var.value not in self.syms:
            raise NotFormal("degree_in")
        index = list(self.syms).index(var.value)
        return max((int(c.degrees()[index]) if hasattr(c, "degrees") else 0 for c in v.terms.values()), default=0)

    def _fn_is_polynomial_in(self, node: Node, expr: Node, *_: Node) -> Truth:
        v = self.value_of(expr)
        if not isinstance(v, FVec):
            raise NotFormal("is_polynomial_in")
        return Truth(True, f"'{expr.text}' expands to nested bilinear terms whose coefficients are polynomials in the scalars")

    def _fn_continuous_in(self, node: Node, expr: Node, *_: Node) -> Truth:
        if not isinstance(self.value_of(expr), FVec):
            raise NotFormal("continuous_in")
        return Truth(True, f"'{expr.text}' is a polynomial map, hence continuous")

    def _fn_parallel(self, node: Node, left: Node, right: Node) -> Truth:
        u, v = (self.value_of(a) for a in (left, right))
        if not isinstance(u, FVec) or not isinstance(v, FVec):
            raise NotFormal("parallel")
        keys = list(set(u.terms) | set(v.terms))
        zero = self.ring.entry(0)
        cu, cv = [u.terms.get(k, zero) for k in keys], [v.terms.get(k, zero) for k in keys]
        # rank one: every 2×2 minor of the coefficient rows vanishes, so at every value of the
        # scalars one row is a multiple of the other, and so are the vectors. Over the field of
        # rational functions it suffices that every column is proportional to one nonzero column
        # (then all are multiples of it): one minor per column instead of all pairs.
        pivot = next((p for p in range(len(keys)) if cu[p] != 0 or cv[p] != 0), None)
        for i in range(len(keys)) if pivot is not None else ():
            if cu[pivot] * cv[i] - cu[i] * cv[pivot] != 0:
                raise NotFormal("parallel")
        return Truth(True, f"the expansions of '{left.text}' and '{right.text}' are proportional term by term")

    def _fn_same_ranking(self, node: Node, left: Node, right: Node) -> Truth:
        return self._order(self.value_of(left), self.value_of(right), node)

    def _ratio(self, u: FVec, v: FVec) -> Any:
        """c with u = c v term by term, c a polynomial in the scalars; or None."""
        if not v.terms or set(u.terms) - set(v.terms):
            return None
        key0, c0 = next(iter(v.terms.items()))
        if key0 not in u.terms:
            return None
        try:
            c = u.terms[key0] / c0
        except INEXACT:
            return None
        return c if all(u.terms.get(k, 0) == c * cv for k, cv in v.terms.items()) else None

    def _order(self, u: Any, v: Any, node: Node) -> Truth:
        if not isinstance(u, FVec) or not isinstance(v, FVec) or self.facts is None:
            raise NotFormal("order")
        c = self._ratio(u, v)
        if c is None:
            raise NotFormal("order")
        why = self.facts(self.ring.to_sympy(c), ">0")
        if why is None:
            raise NotFormal("order")
        return Truth(True, f"left = c · right term by term with c = {self.ring.to_sympy(c)} > 0 ({why}); "
                           "multiplying by c > 0 keeps every order")

    def _entropy(self, u: FVec, v: FVec) -> Truth:
        if self.facts is None:
            raise NotFormal("entropy")
        c = self._ratio(u, v)
        if c is not None and any(v.terms == n.terms for n in self.nonconstant):
            why = self.facts(self.ring.to_sympy(c) - 1, ">0")
            if why is not None:
                return Truth(True, _ENTROPY_LEMMA.format(rel=f"left = c · right with c = {self.ring.to_sympy(c)} > 1 ({why})"))
        c = self._ratio(v, u)
        if c is not None and any(u.terms == n.terms for n in self.nonconstant):
            cs = self.ring.to_sympy(c)
            pos, below = self.facts(cs, ">0"), self.facts(1 - cs, ">0")
            if pos is not None and below is not None:
                return Truth(True, _ENTROPY_LEMMA.format(rel=f"right = c · left with 0 < c = {cs} < 1 ({pos}; {below})"))
        raise NotFormal("entropy")

    def _equal(self, node: Node) -> Truth:
        a, b = (self.value_of(x) for x in node.args)
        if isinstance(a, _FArgmax) and isinstance(b, _FArgmax):
            return self._order(a.vec, b.vec, node)
        if isinstance(a, _FSoftmax) and isinstance(b, _FSoftmax):
            a, b = a.logits, b.logits
        if isinstance(a, FVec) and isinstance(b, FVec):
            diff = a - b
            if not diff.terms:
                return Truth(True, f"both sides expand to the same {len(a.terms)} nested bilinear term(s)")
            raise NotFormal("==")
        if isinstance(a, FVec) or isinstance(b, FVec):
            raise NotFormal("==")
        if self._scalar(a) - self._scalar(b) == 0:
            return Truth(True, "both sides are the same polynomial")
        raise NotFormal("==")


_ENTROPY_LEMMA = ("{rel}, and the right-hand logits are not constant; the entropy H(c) of softmax(c z) has "
                  "dH/dc = −c · Var_softmax(cz)(z) < 0 for c > 0 and non-constant z, so it falls strictly as c grows")
