"""The every-width algebra: vector expressions expanded into nested bilinear terms with formal
layers, which holds for every width d, h at once; each rule says why it is sound and refuses
what it was not proved for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy

from ..numbers import PolyRing
from .evaluation import Case, VECTOR_NAMES
from .language import MAX_EXPONENT, Node, StatementError, steered_form
from .problem import Problem
from .propositions import Truth, Unsupported
from .signs import Fact, prove_sign
from .values import INEXACT, _check_power

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
            # sound: a conjunction of statements each proved at every point holds at every point
            items = [self.value_of(x) for x in node.args]
            if all(isinstance(i, Truth) and i.value for i in items):
                return Truth(True, "; ".join(i.reason for i in items))
            raise NotFormal("and")
        if op == "not":
            inner = node.args[0]
            if inner.op == "call" and inner.value == "depends_on":
                return self._independent(inner.args[0], inner.args[1].value)
            raise NotFormal("not")
        if op == "==":
            return self._equal(node)
        if op in ("<=", "<") and node.args[0].op == "call" and node.args[0].value == "degree_in":
            # sound for an upper bound only: the value is Σ c_k(scalars) T_k, so its degree in a
            # free scalar is at most the largest degree of the c_k (terms may cancel, never add)
            top, bound = self._degree(node.args[0]), self.value_of(node.args[1])
            if isinstance(bound, Fraction) and (top <= bound if op == "<=" else top < bound):
                return Truth(True, f"every coefficient of the expansion of '{node.args[0].args[0].text}' has degree "
                                   f"≤ {top} in {node.args[0].args[1].value}")
            raise NotFormal("degree")
        if op in ("<", ">") and isinstance(self.value_of(node.args[0]), _FEntropy):
            left, right = (self.value_of(x) for x in node.args)
            if not isinstance(right, _FEntropy):  # an entropy against a number: not this lemma
                raise NotFormal("entropy")
            return self._entropy(left.logits, right.logits) if op == "<" else self._entropy(right.logits, left.logits)
        if op == "call":
            method = getattr(self, f"_fn_{node.value}", None)
            if method is None:
                raise NotFormal(node.value)
            return method(node, *node.args)
        raise NotFormal(op)

    def _independent(self, expr: Node, name: str) -> Truth:
        """``not depends_on(expr, name)``. Sound only for a name that is still free: a name bound
        by a substitution is made generic again by the evaluator (the other values stay as they
        were), which the formal values (already substituted) cannot follow.
        A free vector: the expansion is a sum of terms with nonzero coefficients; a term without
        the leaf does not involve the vector, so neither does their sum. A free scalar: it lives
        in the coefficients, never in the leaves; the value is independent of it when no
        coefficient has a positive degree in it."""
        if name in self.values:
            raise NotFormal("depends_on of a substituted name")
        e = self.value_of(expr)
        if not isinstance(e, FVec):
            raise NotFormal("depends_on")
        if name in self.syms:
            index = list(self.syms).index(name)
            if any(int(c.degrees()[index]) > 0 for c in e.terms.values() if hasattr(c, "degrees")):
                raise NotFormal("depends_on")
            return Truth(True, f"no coefficient of the expansion of '{expr.text}' involves the scalar {name}")
        if name not in VECTOR_NAMES:
            raise NotFormal("depends_on")
        if name in self.leaves(e):
            raise NotFormal("depends_on")
        return Truth(True, f"no term of the expansion of '{expr.text}' has a leaf {name}")

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

    def _fn_B3(self, node: Node, *args: Node) -> FVec:
        return self._apply(3, args)

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

    def _fn_from_layer(self, node: Node, arg: Node, index: Node) -> FVec:
        # sound: the same formal layers as f, started at layer m
        z, m = self.value_of(arg), self.value_of(index)
        if not isinstance(z, FVec) or not isinstance(m, Fraction) or not 0 <= m <= self.depth:
            raise NotFormal("from_layer")
        for l in range(int(m), self.depth):
            y = self._layer("B", l, z)
            z = z + y if self.residual else y
        return z

    def _fn_stream(self, node: Node, arg: Node, index: Node) -> FVec:
        z, m = self.value_of(arg), self.value_of(index)
        if not isinstance(z, FVec) or not isinstance(m, Fraction) or not 0 <= m <= self.depth:
            raise NotFormal("stream")
        return self._run(z, int(m))

    def _part(self, arg: Node, kind: str) -> FVec:
        form = steered_form(arg.args[0]) if arg.op == "call" and arg.value in ("f", "B", "B0") and len(arg.args) == 1 else None
        if form is None:
            raise NotFormal("part")
        x_node, _, s_node, _ = form
        # the parts are defined by the leaves x and s of the steered form (as the evaluators
        # split them): sound only when x and s are two distinct free leaves. A substituted name
        # (s == t*x) has no leaf of its own here, and f(x + a*x) has one leaf for both roles.
        if x_node.op != "name" or s_node.op != "name" or x_node.value == s_node.value:
            raise NotFormal("part")
        if x_node.value not in VECTOR_NAMES or s_node.value not in VECTOR_NAMES or \
                x_node.value in self.values or s_node.value in self.values:
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
        # sound: a formal vector is only ever built with sums, products by polynomials in the
        # scalars, division by nonzero constants and the layers (polynomial maps)
        v = self.value_of(expr)
        if not isinstance(v, FVec):
            raise NotFormal("is_polynomial_in")
        return Truth(True, f"'{expr.text}' expands to nested bilinear terms whose coefficients are polynomials in the scalars")

    def _fn_continuous_in(self, node: Node, expr: Node, *_: Node) -> Truth:
        # sound: polynomial maps (see is_polynomial_in) are continuous
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
        # sound: u = c·v term by term gives u = c·v at every point; with c > 0 proved from the
        # assumptions (the sign prover's facts), multiplying by c keeps every order and argmax
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
        # sound: equal formal expansions are equal at every point of every width (each term is a
        # fixed function of the leaves and weights); softmax of equal logits is equal; argmax
        # of positive multiples is equal (see _order). Never used to refute: unequal expansions
        # can still agree as functions, so an inequality raises NotFormal
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


# -- the formal proof (every width) -----------------------------------------------------------


def formal_proof(problem: Problem, case: Case) -> str | None:
    """A reason the statement holds for every d and h at this depth, or None."""
    # the every-width expansion knows no embedding: with E (or onehot) f takes a k-wide input
    # the leaves here never model, so such statements are left to the listed sizes (unsupported)
    used = problem.statement.names() | {n for _, node in problem.substitutions for n in node.names()} \
        | {n for h in problem.hypotheses for n in h.names()}
    if case.embed is not None or used & {"E", "onehot"}:
        return None
    f = Formal(depth=case.depth, residual=case.residual, bias=case.bias, scalars=problem.scalars, m=case.m)
    facts: list[Fact] = []
    try:
        for name, node in problem.substitutions:
            value = f.value_of(node)
            if name in VECTOR_NAMES and not isinstance(value, FVec):  # x == 0: every entry is that number
                value = f.leaf("ones").scale(f._scalar(value))
            f.values[name] = value
    except NotFormal:
        return None
    for h in problem.hypotheses:
        _formal_fact(f, h, facts)
    def positive(expr: sympy.Expr, want: str) -> str | None:
        sign = prove_sign(expr, facts)
        return sign[1] if sign and sign[0] > 0 else None

    f.facts = positive
    try:
        result = f.value_of(problem.statement)
    except (NotFormal, StatementError, ZeroDivisionError):
        return None
    return result.reason if isinstance(result, Truth) and result.value else None


def _formal_fact(f: Formal, node: Node, facts: list[Fact]) -> None:
    try:
        if node.op == "and":
            for arg in node.args:
                _formal_fact(f, arg, facts)
        elif node.op in ("!=", ">", "<") and all(a.type in ("scalar", "int") for a in node.args):
            a, b = (f.ring.to_sympy(f._scalar(f.value_of(x))) for x in node.args)
            facts.append((a - b if node.op != "<" else b - a, "!=0" if node.op == "!=" else ">0"))
        elif node.op == "not" and node.args[0].op == "call" and node.args[0].value == "constant":
            v = f.value_of(node.args[0].args[0])
            f.nonconstant.append(v)
    except NotFormal:
        pass
