"""What a statement means on one model shape: the exact evaluator at a point (propositions are
True or False) and over generic weights, vectors and scalars (propositions become
:mod:`.propositions` for the provers).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from .._coefficients import forward, stream
from ..expansion import expand
from ..layer import Bilinear
from ..network import Network
from ..numbers import EXACT, Numbers, PolyRing, object_array
from .language import MAX_EXPONENT, Node, StatementError, layer_of, steered_form
from .propositions import All, Any_, Empirical, EntropyLess, Generic, Opaque, Order, ReluSign, ReluZero, Sign, Truth, Undefined, Unsupported, Zero, negate
from .values import ArgmaxVal, DegreeVal, EntropyVal, Frac, Relu, SYMBOLIC_TERMS, SoftmaxVal, TransVec, _box, _changes_sign, _check_matmul, _check_power, _check_product, _constant_value, _drop_one, _fraction, _generator_index, _is_constant, _iv, _iv_compare, _iv_entropy, _largest, _minors_const, _mul, _numerator, _same_entropy

VECTOR_NAMES = ("x", "s", "u", "v", "z")
SCALAR_NAMES = ("a", "alpha", "t", "k")


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
        if op == "or":
            items = [self.value_of(a) for a in node.args]
            return any(items) if self.exact else Any_(tuple(items), text=node.text)
        if op == "index":
            v = self.value_of(node.args[0])
            if not isinstance(v, np.ndarray) or v.ndim != 1:
                raise StatementError(f"'{node.text}': only vectors can be indexed")
            if node.value >= len(v):
                raise StatementError(f"'{node.text}': index {node.value} is out of range for a vector of width {len(v)} "
                                     f"(entries count from 0)")
            return v[node.value]
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
        weight = layer_of(name)
        if weight is not None:
            letter, l = weight
            arrays = self._weights(l)
            if arrays[letter] is None:
                raise StatementError(f"'{name}' is a bias and the model has none; set bias = true in [model]")
            return arrays[letter]
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
            if isinstance(self.numbers, PolyRing):
                _check_matmul(left, right, what=f"'{node.text}'")
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
        if isinstance(right, EntropyVal):  # 1 >= entropy(...) is entropy(...) <= 1
            flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}[op]
            return self._entropy_compare(flipped, right, left, node)
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

    def _entropy_compare(self, op: str, left: EntropyVal, right: Any, node: Node) -> Any:
        if not isinstance(right, EntropyVal):  # an entropy against a number: intervals at exact points
            if not self.exact or isinstance(self.numbers, PolyRing):
                return _entropy_bound(op, len(left.logits), right, node)
            bound = _iv(right)
            return _iv_compare(_iv_entropy(left.logits), bound, op) if op not in ("==",) else False
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
        # the layer's algebra is its block's: B(z) its forward pass, B(u, v) = P((W u) ⊙ (V v))
        # its pair of two operands (the biases belong to B(z) only)
        layer = self._layer(l)
        if len(args) == 1:
            z = self._vector(self.value_of(args[0]), node.text, layer.d_in)
            return forward(self._single_layer(l), z, numbers=self.numbers)
        u, v = (self._vector(self.value_of(x), node.text, layer.d_in) for x in args)
        return layer.pair(u, v, numbers=self.numbers, same=True)

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

    def _fn_B3(self, node: Node, *args: Node) -> np.ndarray:
        return self._layer_fn(3, node, args)

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
        layer = self._layer(0)
        return layer.cross_matrix(self._vector(self.value_of(arg), node.text, layer.d_in), numbers=self.numbers)

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
        """``f(X + A*S)`` or ``B(X + A*S)`` (also ``A*S + X`` and ``X - A*S``): the network, X, S
        and A (negated for a difference)."""
        fn = arg.value if arg.op == "call" else None
        inner = arg.args[0] if arg.op == "call" and len(arg.args) == 1 else None
        if fn not in ("f", "B", "B0", "B1", "B2", "B3") or inner is None:
            raise StatementError(f"{node.value} expects f(X + A*S) or B(X + A*S); got '{arg.text}'")
        form = steered_form(inner)
        if form is None:
            raise StatementError(f"{node.value} expects f(X + A*S) with a scalar A times a vector S; got '{inner.text}'")
        x_node, a_node, s_node, sign = form
        if fn == "f":
            if self.case.depth == 0 or self.network is None:
                raise StatementError(f"{node.value} needs at least one layer")
            net = self.network
        else:
            net = self._single_layer(0 if fn in ("B", "B0") else int(fn[1]))
        width = net.d_in
        a = self.lift(self.value_of(a_node))
        return (net, self._vector(self.value_of(x_node), node.text, width), self._vector(self.value_of(s_node), node.text, width),
                a if sign > 0 else -a)

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
        if isinstance(v, SoftmaxVal):  # softmax(z) is constant exactly when z is
            v = v.logits
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


def _entropy_bound(op: str, n: int, bound: Any, node: Node) -> Any:
    """``H(softmax(z)) op r`` for every z of width n, or Opaque: 0 < H ≤ ln n (n ≥ 2), with
    H = ln n exactly at constant z and H = 0 only when n = 1 (a distribution with full support)."""
    if not isinstance(bound, Fraction):
        return Opaque("an entropy compared with a symbolic value is decided at exact points only", text=node.text)
    from mpmath import iv

    top = iv.log(n)
    r = iv.mpf(bound.numerator) / iv.mpf(bound.denominator)
    if n == 1:
        holds = {"<": bound > 0, "<=": bound >= 0, ">": bound < 0, ">=": bound <= 0, "==": bound == 0, "!=": bound != 0}[op]
        return Truth(holds, f"softmax of one entry is 1, whose entropy is 0", text=node.text)
    reason = f"0 < H(softmax(z)) ≤ ln {n} for z of width {n}, with H = ln {n} at constant z"
    if op in ("<=", "<") and top.b < r.a:  # r above ln n: every entropy is below it
        return Truth(True, reason, text=node.text)
    if op in (">=", ">") and bound <= 0:
        return Truth(True, reason, text=node.text)
    if op == "<=" and r.b < 0 or op == "<" and bound <= 0:  # never below 0
        return Truth(False, reason, text=node.text)
    return Opaque("an entropy compared with a number between 0 and ln n is decided at exact points only", text=node.text)
