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

from ..blocks import Linear, NormedBilinear, Residual, RMSNorm
from ..layer import Bilinear
from ..network import Network
from ..numbers import EXACT, Numbers, PolyRing, object_array
from .functions import Functions
from .language import MAX_EXPONENT, Node, StatementError, layer_of
from .limits import LimitFunctions, LimitVal, RmsVal, SurdVal
from .model_functions import ModelFunctions
from .sequence_functions import SeqSpec, SequenceFunctions, build_sequence_model, generic_arrays, sequence_variables
from .propositions import All, Any_, EntropyLess, Opaque, Order, ReluSign, ReluZero, Sign, Truth, Undefined, Unsupported, Zero, negate
from .values import ArgmaxVal, DegreeVal, EntropyVal, Frac, Relu, SYMBOLIC_TERMS, SoftmaxVal, TransVec, _box, _check_matmul, _check_power, _check_product, _constant_value, _fraction, _iv, _iv_compare, _iv_entropy, _largest, _minors_const, _numerator, _same_entropy

VECTOR_NAMES = ("x", "s", "u", "v", "z")
SCALAR_NAMES = ("a", "alpha", "t", "k")
SEQUENCE_VARS = ("X", "Y")


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
    embed: int | None = None
    #: a sequence model: its length T, the position q when the statement uses it, the family
    length: int | None = None
    q: int | None = None
    seq: SeqSpec | None = None
    #: RMSNorms (ε = 0): before every bilinear layer, before U; generic gains on them
    norm: bool = False
    final_norm: bool = False
    gain: bool = False

    def describe(self, *, model: bool = True) -> str:
        if self.seq is not None:
            at = f", q = {self.q}" if self.q is not None else ""
            hidden = f", h = {self.h}" if self.seq.mlp else ""
            out = f", d_out = {self.unembed}" if self.unembed else ""
            return f"T = {self.length}, d = {self.d}{hidden}{out}, {self.seq.describe()}{at}"
        if not model:
            return f"d = {self.d}"
        kind = ("residual" if self.residual else "plain") + (", biases" if self.bias else "")
        extra = (f", d_in = {self.embed}" if self.embed else "") + (f", d_out = {self.unembed}" if self.unembed else "")
        at = f", m = {self.m}" if self.m is not None else ""
        norms = (", pre-norm" if self.norm else "") + (", final norm" if self.final_norm else "") + \
            (" (gains)" if self.gain and (self.norm or self.final_norm) else "")
        return f"L = {self.depth}, (d, h) = ({self.d}, {self.h}), {kind}{norms}{extra}{at}"


@dataclass(frozen=True)
class Variable:
    """A number the search may choose: a weight array or a free vector or scalar."""

    name: str
    shape: tuple[int, ...]


def case_variables(case: Case, *, vectors: Iterable[str], scalars: Iterable[str], model: bool,
                   sequences: Iterable[str] = ()) -> list[Variable]:
    """The numbers that make one point of ``case``: weights (if the statement uses the model),
    then the free sequences, vectors and scalars."""
    out = []
    if case.seq is not None:
        if model:
            out += [Variable(n, shape) for n, shape in
                    sequence_variables(case.seq, d=case.d, h=case.h, length=case.length, unembed=case.unembed)]
        out += [Variable(n, (case.length, case.d)) for n in sequences]
        out += [Variable(v, (case.d,)) for v in vectors]
        out += [Variable(a, ()) for a in scalars]
        return out
    if model:
        for l in range(case.depth):
            out += [Variable(f"W{l}", (case.h, case.d)), Variable(f"V{l}", (case.h, case.d)), Variable(f"P{l}", (case.d, case.h))]
            if case.bias:
                out += [Variable(f"b{l}", (case.h,)), Variable(f"c{l}", (case.h,))]
            if case.norm and case.gain:
                out.append(Variable(f"gain{l}", (case.d,)))
        if case.final_norm and case.gain:
            out.append(Variable("gainF", (case.d,)))
        if case.unembed:
            out.append(Variable("U", (case.unembed, case.d)))
        if case.embed:
            out.append(Variable("E", (case.d, case.embed)))
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
    if not (case.norm or case.final_norm):
        return Network(tuple(layers), residual=case.residual, unembed=arrays.get("U"))
    blocks: list[Any] = []
    for l, layer in enumerate(layers):  # an RMSNorm (ε = 0, gain g_l) before every bilinear layer
        block = NormedBilinear(layer, gain=arrays.get(f"gain{l}")) if case.norm else layer
        blocks.append(Residual.add(block) if case.residual else block)
    if case.final_norm:
        blocks.append(RMSNorm(case.d, gain=arrays.get("gainF"), name="final norm"))
    if arrays.get("U") is not None:
        blocks.append(Linear(arrays["U"], name="unembed"))
    return Network(tuple(blocks))


def point_env(case: Case, point: dict[str, Any], *, model: bool) -> Evaluator:
    """An exact evaluator at one point: ``point`` maps variable names to integer or Fraction arrays."""
    if case.seq is not None:
        seq_model = None
        if model:
            arrays = {n: np.asarray(point[n], dtype=object) for n, _ in
                      sequence_variables(case.seq, d=case.d, h=case.h, length=case.length, unembed=case.unembed)}
            seq_model = build_sequence_model(case.seq, arrays, d=case.d, length=case.length)
        values = {}
        for name, value in point.items():
            if name in VECTOR_NAMES or name in SEQUENCE_VARS:
                values[name] = EXACT.array(np.asarray(value, dtype=object))
            elif name in SCALAR_NAMES:
                values[name] = EXACT.entry(value)
        return Evaluator(numbers=EXACT, network=None, case=case, values=values, exact=True, sequence_model=seq_model)
    network = _network(case, {k: np.asarray(v, dtype=object).tolist() for k, v in point.items()}) if model else None
    values: dict[str, Any] = {}
    for name, value in point.items():
        if name in VECTOR_NAMES:
            values[name] = EXACT.array(np.asarray(value, dtype=object))
        elif name in SCALAR_NAMES:
            values[name] = EXACT.entry(value)
        elif name == "E":
            values[name] = EXACT.array(np.asarray(value, dtype=object))
    # at depth 0 there is no Network to carry U, but f is still U x
    unembed = EXACT.array(np.asarray(point["U"], dtype=object)) if model and case.depth == 0 and "U" in point else None
    return Evaluator(numbers=EXACT, network=network, case=case, values=values, exact=True, unembed=unembed)


def symbolic_env(case: Case, *, vectors: Iterable[str], scalars: Iterable[str], model: bool,
                 sequences: Iterable[str] = ()) -> Evaluator:
    """An evaluator over generic weights (``Network.symbolic``), vectors ``x_1 … x_d`` and scalars,
    all generators of one sparse polynomial ring."""
    if case.seq is not None:
        return _symbolic_sequence_env(case, vectors=vectors, scalars=scalars, model=model, sequences=sequences)
    network = None
    if model and case.depth > 0 and (case.norm or case.final_norm):
        network = _network(case, _generic_normed(case))
    elif model and case.depth > 0:
        network = Network.symbolic(layers=case.depth, width=case.d, hidden=case.h, residual=case.residual,
                                   bias=case.bias, unembed=case.unembed)
    # at depth 0 there is no Network to carry U, but f is still U x
    u_syms = ([[sympy.Symbol(f"U_{{{r + 1},{q + 1}}}") for q in range(case.d)] for r in range(case.unembed)]
              if model and case.depth == 0 and case.unembed else None)
    vec_syms = {v: [sympy.Symbol(f"{v}_{i + 1}") for i in range(case.d)] for v in vectors}
    scal_syms = {a: sympy.Symbol(a) for a in scalars}
    weight_syms = sorted(_weight_symbols(network), key=str) if network is not None else []
    weight_syms += [sym for row in u_syms or [] for sym in row]
    # E is not part of the Network (the network starts at x_0 = E y): its own generic entries
    e_syms = ([[sympy.Symbol(f"E_{{{r + 1},{q + 1}}}") for q in range(case.embed)] for r in range(case.d)]
              if model and case.embed else [])
    weight_syms += [sym for row in e_syms for sym in row]
    ring = PolyRing(weight_syms + [s for syms in vec_syms.values() for s in syms] + list(scal_syms.values()))
    values: dict[str, Any] = {v: ring.array(np.array(syms, dtype=object)) for v, syms in vec_syms.items()}
    values |= {a: ring.entry(sym) for a, sym in scal_syms.items()}
    if e_syms:
        values["E"] = ring.array(np.array(e_syms, dtype=object))
    unembed = ring.array(np.array(u_syms, dtype=object)) if u_syms else None
    return Evaluator(numbers=ring, network=network, case=case, values=values, exact=False, unembed=unembed)


def _symbolic_sequence_env(case: Case, *, vectors: Iterable[str], scalars: Iterable[str], model: bool,
                           sequences: Iterable[str]) -> Evaluator:
    """Generic weights of a sequence model, sequences ``X_{t,i}``, vectors and scalars: one ring."""
    arrays = generic_arrays(case.seq, d=case.d, h=case.h, length=case.length, unembed=case.unembed) if model else {}
    weight_syms = [sym for arr in arrays.values() for sym in arr.ravel()]
    seq_syms = {n: np.array([[sympy.Symbol(f"{n}_{{{t},{i + 1}}}") for i in range(case.d)] for t in range(case.length)],
                            dtype=object) for n in sequences}
    vec_syms = {v: [sympy.Symbol(f"{v}_{i + 1}") for i in range(case.d)] for v in vectors}
    scal_syms = {a: sympy.Symbol(a) for a in scalars}
    ring = PolyRing(weight_syms + [s for arr in seq_syms.values() for s in arr.ravel()]
                    + [s for syms in vec_syms.values() for s in syms] + list(scal_syms.values()))
    values: dict[str, Any] = {n: ring.array(arr) for n, arr in seq_syms.items()}
    values |= {v: ring.array(np.array(syms, dtype=object)) for v, syms in vec_syms.items()}
    values |= {a: ring.entry(sym) for a, sym in scal_syms.items()}
    seq_model = build_sequence_model(case.seq, arrays, d=case.d, length=case.length) if model else None
    return Evaluator(numbers=ring, network=None, case=case, values=values, exact=False, sequence_model=seq_model)


def _generic_normed(case: Case) -> dict[str, Any]:
    """Generic weights of a normed stack: the layers, the norms' gains and U."""
    def mat(name: str, shape: tuple[int, ...]) -> np.ndarray:
        arr = np.empty(shape, dtype=object)
        for idx in np.ndindex(shape):
            arr[idx] = sympy.Symbol(f"{name}_{{{','.join(str(i + 1) for i in idx)}}}")
        return arr

    return {v.name: mat(v.name, v.shape) for v in case_variables(case, vectors=(), scalars=(), model=True)}


def _weight_symbols(network: Network) -> set[sympy.Symbol]:
    arrays = [network.unembed] + [arr for layer in network.layers for arr in (layer.W, layer.V, layer.P, layer.b, layer.c)]
    arrays += [getattr(b, "gain", None) for b in network.blocks] + [getattr(getattr(b, "inner", None), "gain", None) for b in network.blocks]
    arrays += [b.M for b in network.blocks if isinstance(b, Linear)]
    return {sym for arr in arrays if arr is not None for v in arr.ravel() for sym in v.free_symbols}


# -- the evaluator --------------------------------------------------------------------------


class AtPoint:
    """Propositions at an exact point: Python bools."""

    exact = True

    @staticmethod
    def truth(value: bool, reason: str, text: str) -> Any:
        return value

    @staticmethod
    def conj(items: list[Any], text: str) -> Any:
        return all(items)

    @staticmethod
    def disj(items: list[Any], text: str) -> Any:
        return any(items)

    @staticmethod
    def neg(p: Any, text: str | None = None) -> Any:
        return not p

    @staticmethod
    def retext(p: Any, text: str) -> Any:
        return p

    @staticmethod
    def zero(polys: list[Any], ring: Any, why: str, text: str) -> Any:
        return all(p == 0 for p in polys)


class OverGeneric:
    """Propositions over generic values: :mod:`.propositions` trees for the provers."""

    exact = False

    @staticmethod
    def truth(value: bool, reason: str, text: str) -> Any:
        return Truth(value, reason, text=text)

    @staticmethod
    def conj(items: list[Any], text: str) -> Any:
        return All(tuple(items), text=text)

    @staticmethod
    def disj(items: list[Any], text: str) -> Any:
        return Any_(tuple(items), text=text)

    @staticmethod
    def neg(p: Any, text: str | None = None) -> Any:
        q = negate(p)
        return q if text is None else replace(q, text=text)

    @staticmethod
    def retext(p: Any, text: str) -> Any:
        return replace(p, text=text)

    @staticmethod
    def zero(polys: list[Any], ring: Any, why: str, text: str) -> Any:
        return Zero(tuple(polys), ring, why, text=text)


class Evaluator(SequenceFunctions, LimitFunctions, ModelFunctions, Functions):
    """Evaluate checked statements on one model shape.

    ``exact=True``: every free value is a number (except names bound by depends_on & co.,
    which get a ring of their own) and propositions are bools. ``exact=False``: values are
    polynomials of ``numbers`` (a :class:`PolyRing`) and propositions are :class:`Prop` trees.
    """

    def __init__(self, *, numbers: Numbers, network: Network | None, case: Case, values: dict[str, Any], exact: bool,
                 unembed: np.ndarray | None = None, sequence_model: Any = None) -> None:
        self.numbers, self.network, self.case = numbers, network, case
        self.sequence_model = sequence_model
        self.position: int | None = None  # q while sum_over(…, q) runs
        # how propositions are made: bools at a point, proposition trees over generic values
        self.logic = AtPoint if exact else OverGeneric
        self.exact = exact
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
        if name in SEQUENCE_VARS and not isinstance(value, np.ndarray):
            value = object_array([self.lift(value)] * (self.case.d * self.case.length), (self.case.length, self.case.d))
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
            return self.logic.neg(p, node.text)
        if op == "and":
            items = [self.value_of(a) for a in node.args]
            return self.logic.conj(items, node.text)
        if op == "or":
            items = [self.value_of(a) for a in node.args]
            return self.logic.disj(items, node.text)
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
        if name == "T":
            if self.case.length is None:
                raise StatementError("T is the sequence length; set kind = \"sequence\" in [model]")
            return Fraction(self.case.length)
        if name == "q":
            q = self.position if self.position is not None else self.case.q
            if q is None:
                raise StatementError("q is only defined when the claim iterates over positions")
            return Fraction(q)
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
        if name == "U":
            if self.network is None:
                if self.unembed is None:
                    raise StatementError("'U' is the unembedding and the model has none; set unembed = k in [model]")
                return self.unembed
            U = next((b for b in reversed(self.network.blocks) if isinstance(b, Linear)), None)
            if U is None or U is self.network.blocks[0] and self.case.embed:
                raise StatementError("'U' is the unembedding and the model has none; set unembed = k in [model]")
            return U.weights(self.numbers)["M"]
        if name == "gain":
            norm = next((b for b in self.network.blocks if isinstance(b, RMSNorm)), None) if self.network is not None else None
            if norm is None or norm.gain is None:
                raise StatementError("'gain' is the final norm's gain; set final_norm = true and gain = true in [model]")
            return norm.weights(self.numbers)["gain"]
        if name == "E" and "E" not in self.values:
            raise StatementError("'E' is the embedding and the model has none; set embed = k in [model]")
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
        if isinstance(right, RmsVal):  # u / rms(z): a vector over a square root, kept exact
            return SurdVal(self.lift(left), right.r2)
        if isinstance(left, (SurdVal, LimitVal, RmsVal)) or isinstance(right, (SurdVal, LimitVal)):
            raise StatementError(f"'{node.text}': a limit or u / rms(z) is only compared, not computed with")
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
        if isinstance(left, (SurdVal, LimitVal)) or isinstance(right, (SurdVal, LimitVal)):
            return self._limit_compare(op, left, right, node)
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
            return self.logic.truth(value, f"{left} {op} {right} is {'true' if value else 'false'} (numbers)", node.text)
        left, right = self.lift(left), self.lift(right)
        if isinstance(left, np.ndarray) and isinstance(right, np.ndarray) and left.shape != right.shape:
            if op not in ("==", "!="):
                raise StatementError(f"'{node.text}' compares values of shapes {left.shape} and {right.shape} with '{op}'; "
                                     "expected equal shapes")
            # values of different shapes (e.g. U x of width d_out against x) are never equal
            value = op == "!="
            return self.logic.truth(value, f"the two sides have different shapes {left.shape} and {right.shape}", node.text)
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
        return self.logic.zero(polys, self.numbers, why, node.text if node is not None else "")

    def _not(self, p: Any) -> Any:
        return self.logic.neg(p)

    def _retext(self, p: Any, node: Node) -> Any:
        return self.logic.retext(p, node.text)

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
                return self.logic.truth(op == "!=", f"a degree is never the non-integer {right}", node.text)
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
        same = self.logic.conj(both, node.text)
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
        return Truth(holds, "softmax of one entry is 1, whose entropy is 0", text=node.text)
    reason = f"0 < H(softmax(z)) ≤ ln {n} for z of width {n}, with H = ln {n} at constant z"
    if op in ("<=", "<") and top.b < r.a:  # r above ln n: every entropy is below it
        return Truth(True, reason, text=node.text)
    if op in (">=", ">") and bound <= 0:
        return Truth(True, reason, text=node.text)
    if op == "<=" and r.b < 0 or op == "<" and bound <= 0:  # never below 0
        return Truth(False, reason, text=node.text)
    return Opaque("an entropy compared with a number between 0 and ln n is decided at exact points only", text=node.text)
