"""Deciding a claim: a proof over generic weights (formal, for every width, and symbolic at the
listed sizes), checked at seeded random exact points; or a small exact counterexample.

The pieces, each small: a sign prover for polynomials in the scalars, an implication prover
(Rabinowitsch's trick and a Gröbner basis: no point with the hypotheses and not the
conclusion), the entropy and order lemmas for softmax, and a search for exact points that
shrinks what it finds to the smallest numbers it can.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from .errors import DeadlineError
from .semantics import (
    INEXACT,
    SCALAR_NAMES,
    VECTOR_NAMES,
    All,
    Any_,
    ArgmaxVal,
    Case,
    DegreeVal,
    EntropyLess,
    EntropyVal,
    Evaluator,
    FVec,
    Formal,
    NotFormal,
    NotZero,
    Opaque,
    Order,
    Prop,
    ReluSign,
    ReluZero,
    Sign,
    SoftmaxVal,
    TransVec,
    Truth,
    Undefined,
    Unsupported,
    Zero,
    case_variables,
    point_env,
    symbolic_env,
)
from .statements import MODEL_NAMES, Node, StatementError

__all__ = ["DEFAULT_TIMEOUT", "Decision", "deadline", "decide"]

#: seconds a claim may take unless its file or the caller says otherwise
DEFAULT_TIMEOUT = 20.0
#: random exact points tried per model shape when looking for a counterexample or a witness
SEARCH_POINTS = 300
#: seeded random points every proved claim is checked on, per model shape
NUMERIC_CHECKS = 3


@dataclass(frozen=True)
class Decision:
    """What the mathematics says about one claim, before it is compared with the expected verdict."""

    found: str
    method: str
    scope: str
    detail: str
    evidence: dict = field(default_factory=dict)


# -- the time limit --------------------------------------------------------------------------


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`DeadlineError` inside the block after ``seconds`` (SIGALRM, main thread
    only; elsewhere the search loops check the clock themselves). The old handler comes back."""
    usable = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if not usable or seconds <= 0:
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        if frame is not None and (frame.f_code.co_name == "__del__" or frame.f_code.co_filename.endswith("weakref.py")):
            # an exception raised in a finalizer or a weakref callback (run by the garbage
            # collector) is unraisable: Python prints and drops it, and the time limit would be
            # lost. Fire again a moment later, back in ordinary code.
            signal.setitimer(signal.ITIMER_REAL, 1e-3)
            return
        raise DeadlineError(f"time limit {seconds:g} s reached")

    old = signal.signal(signal.SIGALRM, fire)
    previous = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if previous[0] > 0:  # an outer timer was running: give it back what is left
            signal.setitimer(signal.ITIMER_REAL, max(previous[0] - seconds, 1e-3))


# -- the problem ------------------------------------------------------------------------------


@dataclass
class Problem:
    """A statement, its assumptions and the model shapes to decide it on."""

    statement: Node
    assumptions: tuple[Node, ...]
    cases: list[Case]
    stop: float  # time.monotonic() deadline for loops that cannot rely on SIGALRM
    substitutions: list[tuple[str, Node]] = field(default_factory=list)
    hypotheses: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        for node in self.assumptions:
            if "generic" in node.names():
                raise StatementError(f"the assumption '{node.text}' uses generic(...), a sentence about all weights and "
                                     "inputs, not a condition on them; expected it only as the whole statement")
            target = _substitution(node)
            if target is not None and target not in {n for n, _ in self.substitutions}:
                self.substitutions.append((target, node.args[1]))
            else:
                self.hypotheses.append(node)
        self.substitutions = _dependency_order(self.substitutions)
        names = set(self.statement.names())
        for node in self.assumptions:
            names |= node.names()
        bound = {n for n, _ in self.substitutions}
        self.vectors = [v for v in VECTOR_NAMES if v in names and v not in bound]
        self.scalars = [a for a in SCALAR_NAMES if a in names and a not in bound]
        self.model = bool(names & MODEL_NAMES)
        if not self.model:  # without the model only the width d matters
            self.cases = list({c.d: c for c in reversed(self.cases)}.values())[::-1]

    def check_time(self) -> None:
        if time.monotonic() > self.stop:
            raise DeadlineError("time limit reached")

    # -- environments -------------------------------------------------------------------

    def symbolic(self, case: Case) -> Evaluator:
        env = symbolic_env(case, vectors=self.vectors, scalars=self.scalars, model=self.model)
        for name, node in self.substitutions:
            env.bind(name, node)
        return env

    def at(self, case: Case, point: dict[str, Any]) -> Evaluator:
        env = point_env(case, point, model=self.model)
        for name, node in self.substitutions:
            env.bind(name, node)
        return env

    def truth_at(self, case: Case, point: dict[str, Any], node: Node | None = None) -> bool | None:
        """The statement (or ``node``) at a point where every hypothesis holds; None when a
        hypothesis fails or something is undefined there."""
        try:
            env = self.at(case, point)
            if not all(env.value_of(h) for h in self.hypotheses):
                return None
            return bool(env.value_of(node or self.statement))
        except (Undefined, Unsupported, ZeroDivisionError):
            return None


def _substitution(node: Node) -> str | None:
    """``name == expr`` with a free vector or scalar name that does not occur in expr. A vector
    equal to a number (``x == 0``) is one too: entrywise, x is that number times ones."""
    if node.op != "==" or node.args[0].op != "name":
        return None
    name = node.args[0].value
    if name not in VECTOR_NAMES + SCALAR_NAMES or name in node.args[1].names():
        return None
    if name in SCALAR_NAMES and node.args[1].type not in ("int", "scalar"):
        return None
    return name


def _dependency_order(substitutions: list[tuple[str, Node]]) -> list[tuple[str, Node]]:
    """Substitutions ordered so that each is bound after the ones its expression uses
    (``s == t*x`` after ``t == 2``, whatever the file order); a cycle is a bad claim file."""
    pending = dict(substitutions)
    out: list[tuple[str, Node]] = []
    while pending:
        ready = [n for n, e in pending.items() if not (e.names() & set(pending))]
        if not ready:
            cycle = ", ".join(f"{n} == {e.text}" for n, e in pending.items())
            raise StatementError(f"the substitutions {cycle} depend on each other in a cycle; expected each name "
                                 "to be defined without itself")
        for n in ready:
            out.append((n, pending.pop(n)))
    return out


# -- sign prover ------------------------------------------------------------------------------


Fact = tuple[sympy.Expr, str]  # (expression, '>0', '>=0' or '!=0')


def scalar_facts(hypotheses: list[Prop]) -> list[Fact]:
    """Sign facts about polynomials in the scalars only, read off the hypotheses."""
    out: list[Fact] = []
    for h in hypotheses:
        if isinstance(h, All):
            out += scalar_facts(list(h.items))
        elif isinstance(h, Sign):
            out.append((h.ring.to_sympy(h.poly), ">0" if h.strict else ">=0"))
        elif isinstance(h, NotZero) and len(h.polys) == 1:
            out.append((h.ring.to_sympy(h.polys[0]), "!=0"))
    return out


def prove_sign(expr: sympy.Expr, facts: list[Fact], *, depth: int = 0) -> tuple[int, str] | None:
    """(+1 or −1, reason) when ``expr`` is provably strictly positive or negative under ``facts``."""
    expr = sympy.expand(expr)
    if expr.is_number:
        return None if expr == 0 else ((1 if expr > 0 else -1), f"{expr} is a number")
    if depth > 6:
        return None
    syms = sorted(expr.free_symbols, key=str)
    for h, kind in facts:
        if kind != ">0" or h.is_number:
            continue
        q, r = sympy.div(expr, h, *syms) if set(h.free_symbols) <= set(syms) else (None, 1)
        if r == 0:
            if q == 1:
                return 1, f"{h} > 0 assumed"
            inner = prove_sign(q, facts, depth=depth + 1)
            if inner is not None:
                return inner[0], f"{expr} = ({h})·({sympy.factor(q)}) with {h} > 0 assumed and {inner[1]}"
    by_terms = _sign_by_terms(expr, syms, facts)
    if by_terms is not None:
        return by_terms
    shifted = _sign_by_shift(expr, syms, facts, strict=True)
    if shifted is not None:
        return shifted
    gram = _quadratic_sign(expr, syms, strict=True)
    if gram is not None:
        return gram
    form = _definite_form(expr, syms, facts)
    if form is not None:
        return form
    c, factors = sympy.factor_list(expr)
    if len(factors) == 1 and factors[0][1] == 1:
        return None
    sign, reasons = (1 if c > 0 else -1), []
    for f, e in factors:
        if e % 2 == 0:
            if _nonzero(f, facts) is None:
                return None
            reasons.append(f"({f})^{e} > 0 since {f} ≠ 0")
            continue
        inner = prove_sign(f, facts, depth=depth + 1)
        if inner is None:
            return None
        sign *= inner[0] ** e
        reasons.append(inner[1])
    return sign, f"{sympy.factor(expr)}: " + "; ".join(reasons)


def prove_nonnegative(expr: sympy.Expr, facts: list[Fact], *, depth: int = 0) -> str | None:
    """Why ``expr ≥ 0`` under ``facts``: a strict sign, terms that are even powers (or powers of
    positive variables) with positive coefficients, a positive semidefinite quadratic form, or a
    factorization into such factors and even powers. None when not shown."""
    expr = sympy.expand(expr)
    if expr.is_number:
        return f"{expr} is a number ≥ 0" if expr >= 0 else None
    strict = prove_sign(expr, facts, depth=depth)
    if strict is not None:
        return strict[1] if strict[0] > 0 else None
    if depth > 6:
        return None
    syms = sorted(expr.free_symbols, key=str)
    positive = {h for h, kind in facts if kind in (">0", ">=0") and h.is_Symbol}
    terms = sympy.Poly(expr, *syms).terms()
    # a positive multiple of even powers and powers of variables assumed ≥ 0 is ≥ 0
    if all(coeff > 0 and all(e % 2 == 0 or sym in positive for sym, e in zip(syms, monom)) for monom, coeff in terms):
        return f"every term of {expr} is a positive multiple of even powers" + (" and powers of nonnegative variables" if positive else "")
    shifted = _sign_by_shift(expr, syms, facts, strict=False)
    if shifted is not None:
        return shifted[1] if shifted[0] > 0 else None
    gram = _quadratic_sign(expr, syms, strict=False)
    if gram is not None:
        return gram[1] if gram[0] > 0 else None
    c, factors = sympy.factor_list(expr)
    if len(factors) == 1 and factors[0][1] == 1:
        return None
    sign, reasons = (1 if c > 0 else -1), []
    for f, e in factors:
        if e % 2 == 0:
            reasons.append(f"({f})^{e} ≥ 0")
            continue
        inner = prove_nonnegative(f, facts, depth=depth + 1)
        if inner is None:
            inner_neg = prove_nonnegative(-f, facts, depth=depth + 1)
            if inner_neg is None:
                return None
            sign, inner = -sign, f"{f} ≤ 0 ({inner_neg})"
        reasons.append(inner)
    return f"{sympy.factor(expr)}: " + "; ".join(reasons) if sign > 0 else None


def _quadratic_sign(expr: sympy.Expr, syms: list[sympy.Symbol], *, strict: bool) -> tuple[int, str] | None:
    """A polynomial of degree ≤ 2 is [1, y]ᵀ Q [1, y] for one symmetric Q: positive (negative)
    definite Q makes it strictly positive (negative) everywhere, semidefinite ≥ 0 (≤ 0)."""
    poly = sympy.Poly(expr, *syms)
    if poly.total_degree() != 2 or len(syms) > 12:
        return None
    n = len(syms) + 1
    Q = sympy.zeros(n, n)
    for monom, coeff in poly.terms():
        idx = [i + 1 for i, e in enumerate(monom) for _ in range(e)] + [0, 0]
        i, j = idx[0], idx[1]
        if i == j:
            Q[i, i] += coeff
        else:
            Q[i, j] += coeff / 2
            Q[j, i] += coeff / 2
    for sign in (1, -1):
        M = sign * Q
        if M.is_positive_definite if strict else M.is_positive_semidefinite:
            what = "definite" if strict else "semidefinite"
            return sign, f"{expr} = [1, {', '.join(map(str, syms))}] Q [1, …]ᵀ with Q {'positive' if sign > 0 else 'negative'} {what}"
    return None


def _nonzero(f: sympy.Expr, facts: list[Fact]) -> str | None:
    for h, kind in facts:
        if kind == ">=0":  # h ≥ 0 allows h = 0
            continue
        ratio = sympy.cancel(f / h)
        if ratio.is_number and ratio != 0:
            return f"{h} {'≠ 0' if kind == '!=0' else '> 0'} assumed"
    s = prove_sign(f, facts, depth=5)
    return s[1] if s else None


def _sign_by_terms(expr: sympy.Expr, syms: list[sympy.Symbol], facts: list[Fact], *,
                   strict: bool = True) -> tuple[int, str] | None:
    """All terms of one sign: each variable of odd power known positive (or, for a term that need
    not be strict, nonnegative); some term strictly signed (when ``strict``)."""
    positive = {h for h, kind in facts if kind == ">0" and h.is_Symbol}
    nonneg = positive | {h for h, kind in facts if kind == ">=0" and h.is_Symbol}
    nonzero = positive | {h for h, kind in facts if kind == "!=0" and h.is_Symbol}
    poly = sympy.Poly(expr, *syms)
    signs, some_strict = set(), False
    for monom, coeff in poly.terms():
        # a term c·Π v^e has the sign of c wherever every odd-power v is ≥ 0 (even powers are ≥ 0),
        # and that sign strictly when moreover every v in it is nonzero
        for sym, e in zip(syms, monom):
            if e % 2 == 1 and sym not in nonneg:
                return None
        signs.add(1 if coeff > 0 else -1)
        some_strict = some_strict or all(e == 0 or (sym in nonzero and (e % 2 == 0 or sym in positive))
                                         for sym, e in zip(syms, monom))
    # a sum of terms of one sign, one of them strictly signed, has that sign strictly
    if len(signs) != 1 or (strict and not some_strict):
        return None
    sign = signs.pop()
    known = ", ".join(f"{s} > 0" if s in positive else f"{s} ≥ 0" if s in nonneg else f"{s} ≠ 0"
                      for s in syms if s in nonzero | nonneg)
    return sign, f"every term of {expr} is {'positive' if sign > 0 else 'negative'}" + (f" ({known})" if known else "")


#: at most this many ways of shifting the variables are tried by _sign_by_shift
SHIFT_CHOICES = 16


def _one_variable_bounds(facts: list[Fact], syms: list[sympy.Symbol]) -> dict[sympy.Symbol, list[tuple[Any, Any, str]]]:
    """For each variable v, the assumed α v + β > 0 (or ≥ 0) with α ≠ 0: [(α, β, kind)]."""
    out: dict[sympy.Symbol, list[tuple[Any, Any, str]]] = {}
    for h, kind in facts:
        if kind not in (">0", ">=0") or len(h.free_symbols) != 1:
            continue
        (v,) = h.free_symbols
        if v not in syms:
            continue
        poly = sympy.Poly(h, v)
        if poly.degree() != 1:
            continue
        alpha, beta = poly.coeff_monomial(v), poly.coeff_monomial(1)
        out.setdefault(v, []).append((alpha, beta, kind))
    return out


def _sign_by_shift(expr: sympy.Expr, syms: list[sympy.Symbol], facts: list[Fact], *,
                   strict: bool) -> tuple[int, str] | None:
    """A Positivstellensatz-lite: for assumed α v + β > 0 write v = (u − β)/α with a new
    variable u > 0 (≥ 0); if the polynomial in the u's has all terms of one sign, so has expr."""
    bounds = _one_variable_bounds(facts, syms)
    if not bounds:
        return None
    options = [[None] + bounds[v] for v in bounds]
    tried = 0
    for choice in itertools.product(*options):
        if all(c is None for c in choice):
            continue
        tried += 1
        if tried > SHIFT_CHOICES:
            return None
        subs, new_facts, shifted, said = {}, [], set(), []
        for v, c in zip(bounds, choice):
            if c is None:
                continue
            alpha, beta, kind = c
            u = sympy.Dummy(f"{v}_")
            subs[v] = (u - beta) / alpha  # u = α v + β, assumed > 0 (≥ 0)
            new_facts.append((u, kind))
            shifted.add(v)
            said.append(f"{v} = {subs[v].subs(u, sympy.Symbol('u'))} with u = {alpha * v + beta} {'>' if kind == '>0' else '≥'} 0")
        # facts about the shifted variables are dropped (fewer facts: still sound)
        new_facts += [(h, kind) for h, kind in facts if not (h.free_symbols & shifted)]
        new = sympy.expand(expr.subs(subs))
        if new.is_number:
            if new != 0 or not strict:
                return (1 if new >= 0 else -1), f"{expr} = {new} after {'; '.join(said)}"
            continue
        new_syms = sorted(new.free_symbols, key=str)
        found = _sign_by_terms(new, new_syms, new_facts, strict=strict)
        if found is not None:
            return found[0], f"{'; '.join(said)}: {found[1]}"
    return None


def _definite_form(expr: sympy.Expr, syms: list[sympy.Symbol], facts: list[Fact]) -> tuple[int, str] | None:
    """A quadratic form (every term of degree 2) with a definite matrix vanishes only where all
    its variables do: one variable assumed nonzero makes it strictly signed."""
    poly = sympy.Poly(expr, *syms)
    if len(syms) > 12 or any(sum(m) != 2 for m in poly.monoms()):
        return None
    known = [v for v in syms if any(h == v and kind in ("!=0", ">0") for h, kind in facts)]
    if not known:
        return None
    n = len(syms)
    Q = sympy.zeros(n, n)
    for monom, coeff in poly.terms():
        idx = [i for i, e in enumerate(monom) for _ in range(e)]
        i, j = idx
        if i == j:
            Q[i, i] += coeff
        else:
            Q[i, j] += coeff / 2
            Q[j, i] += coeff / 2
    for sign in (1, -1):
        if (sign * Q).is_positive_definite:
            return sign, (f"{expr} is a {'positive' if sign > 0 else 'negative'} definite quadratic form in "
                          f"{', '.join(map(str, syms))}, zero only where all are, and {known[0]} ≠ 0 is assumed")
    return None


# -- implication prover -----------------------------------------------------------------------


def _hypothesis_parts(hypotheses: list[Prop]) -> tuple[list, list, list]:
    """(polynomials assumed zero, polynomials assumed nonzero, lists of which some is nonzero)."""
    zeros, nonzero, some = [], [], []
    for h in hypotheses:
        if isinstance(h, All):
            z, n, s = _hypothesis_parts(list(h.items))
            zeros, nonzero, some = zeros + z, nonzero + n, some + s
        elif isinstance(h, Zero):
            zeros += [h.ring.to_sympy(p) for p in h.polys]
        elif isinstance(h, NotZero):
            polys = [h.ring.to_sympy(p) for p in h.polys if p != 0]
            if len(polys) == 1:
                nonzero.append(polys[0])
            elif polys:
                some.append(polys)
    return zeros, nonzero, some


#: Gröbner bases beyond this many terms in the input are not attempted: the claim is then not proved
GROEBNER_TERMS = 400


#: implications whose polynomials have more terms than this in all are not attempted
IMPLICATION_TERMS = 3000


def _terms(ring: Any, p: Any) -> int:
    return len(p) if hasattr(p, "monoms") else 1


def _hypothesis_terms(hypotheses: list[Prop]) -> int:
    total = 0
    for h in hypotheses:
        if isinstance(h, All):
            total += _hypothesis_terms(list(h.items))
        elif isinstance(h, (Zero, NotZero)):
            total += sum(_terms(h.ring, p) for p in h.polys)
    return total


def _no_common_point(polys: list[sympy.Expr], product: sympy.Expr, *, hypotheses: bool) -> str | None:
    """Why no complex point makes every poly vanish while ``product`` does not (so no real
    point either): a nonzero constant, ``product`` a multiple of one poly, or 1 in the ideal
    (polys, 1 − t·product) (Rabinowitsch), shown by a Gröbner basis. None when not shown."""
    polys = [p for p in polys if p != 0]
    if any(p.is_number for p in polys):
        return "a nonzero constant"
    if not hypotheses and all(_at_origin(p) == 0 for p in polys):
        return None  # every poly vanishes at the origin, where the product (1) does not
    for p in polys:
        _, r = sympy.div(product, p, *sorted(product.free_symbols | p.free_symbols, key=str))
        if r == 0:
            return f"the product of the assumed-nonzero factors is a multiple of {_short(p)}"
    if sum(len(sympy.Add.make_args(p)) for p in polys) + len(sympy.Add.make_args(sympy.expand(product))) > GROEBNER_TERMS:
        return None
    t = sympy.Dummy("t")
    gens = sorted(set().union(*(p.free_symbols for p in polys), product.free_symbols), key=str) + [t]
    try:
        basis = sympy.groebner(polys + [1 - t * product], *gens, order="grevlex")
    except sympy.polys.polyerrors.BasePolynomialError:
        return None
    return "the Gröbner basis of (polynomials, 1 − t·assumed-nonzero factors) is {1}" if list(basis.exprs) == [1] else None


def _at_origin(p: sympy.Expr) -> sympy.Expr:
    return p.subs({sym: 0 for sym in p.free_symbols})


def _short(p: sympy.Expr) -> str:
    text = str(p)
    return text if len(text) <= 60 else text[:57] + "..."


def prove_implication(conclusion: Prop, hypotheses: list[Prop]) -> str | None:
    """A reason why the hypotheses imply a Zero or NotZero conclusion, or None."""
    ring = conclusion.ring
    # converting big polynomials to sympy (before any rule can use them) costs more than the
    # whole time limit; they are refused on their flint term counts first
    if sum(_terms(ring, p) for p in conclusion.polys) + _hypothesis_terms(hypotheses) > IMPLICATION_TERMS:
        return None
    zeros, nonzero, some = _hypothesis_parts(hypotheses)
    target = [ring.to_sympy(p) for p in conclusion.polys]
    base = sympy.Mul(*nonzero)
    choices = list(itertools.product(*some)) if some else [()]
    if len(choices) > 64:
        return None
    assumed = bool(zeros or nonzero or some)
    reasons = []
    if isinstance(conclusion, NotZero):
        for choice in choices:
            why = _no_common_point(zeros + target, base * sympy.Mul(*choice), hypotheses=assumed)
            if why is None:
                return None
            reasons.append(why)
        return "no point satisfies the assumptions and makes every polynomial vanish: " + "; ".join(dict.fromkeys(reasons))
    if not zeros:
        return None
    for g in target:
        for choice in choices:
            why = _no_common_point(zeros, g * base * sympy.Mul(*choice), hypotheses=True) if g != 0 else "0"
            if why is None:
                return None
            reasons.append(why)
    return "each polynomial vanishes wherever the assumptions hold: " + "; ".join(dict.fromkeys(reasons))


# -- the prover ------------------------------------------------------------------------------


def prove(prop: Prop, hypotheses: list[Prop], scalars: set[sympy.Symbol]) -> tuple[bool, str]:
    """(proved, reason) for a proposition over generic values, under the hypotheses."""
    if isinstance(prop, Truth):
        return prop.value, prop.reason
    if isinstance(prop, Zero):
        nonzero = [p for p in prop.polys if p != 0]
        if not prop.polys:
            return True, f"'{prop.text}': no polynomial condition remains at this size" + (f" ({prop.why})" if prop.why else "")
        if not nonzero:
            what = "the difference expands to 0" if len(prop.polys) == 1 else f"all {len(prop.polys)} differences expand to 0"
            return True, f"'{prop.text}': {what}" + (f" ({prop.why})" if prop.why else "")
        why = prove_implication(prop, hypotheses)
        if why:
            return True, f"'{prop.text}': {why}"
        biggest = max(len(list(prop.ring.terms(p))) for p in nonzero)
        if len(prop.polys) == 1:
            return False, f"'{prop.text}': the difference is a nonzero polynomial ({biggest} term{'s' * (biggest > 1)})"
        return False, f"'{prop.text}': {len(nonzero)} of {len(prop.polys)} differences are nonzero polynomials (up to {biggest} terms)"
    if isinstance(prop, NotZero):
        if any(p != 0 and _is_number(p) for p in prop.polys):
            return True, f"'{prop.text}': a nonzero constant" + (f" ({prop.why})" if prop.why else "")
        why = prove_implication(prop, hypotheses)
        if why:
            return True, f"'{prop.text}': {why}" + (f" ({prop.why})" if prop.why else "")
        for p in prop.polys:  # nonzero over the reals: one polynomial of a fixed strict sign
            if p != 0 and _small(prop.ring, p, scalars):
                s = prove_sign(prop.ring.to_sympy(p), scalar_facts(hypotheses))
                if s is not None:
                    return True, f"'{prop.text}': {s[1]}, so it is never 0"
        return False, f"'{prop.text}': not implied by the assumptions"
    if isinstance(prop, Sign):
        # polynomials in the scalars, or small ones in anything (a sign proof of a big one is costly)
        if _small(prop.ring, prop.poly, scalars):
            expr = prop.ring.to_sympy(prop.poly)
            if prop.strict:
                s = prove_sign(expr, scalar_facts(hypotheses))
                why = s[1] if s is not None and s[0] > 0 else None
            else:
                why = prove_nonnegative(expr, scalar_facts(hypotheses))
            if why is not None:
                return True, f"'{prop.text}': {why}"
        return False, f"'{prop.text}': no sign certificate"
    if isinstance(prop, Order) and not prop.negated:
        return _prove_order(prop, hypotheses, scalars)
    if isinstance(prop, ReluZero):
        return _prove_relu_zero(prop, hypotheses, scalars)
    if isinstance(prop, ReluSign):
        return _prove_relu_sign(prop, hypotheses, scalars)
    if isinstance(prop, EntropyLess) and not prop.negated:
        return _prove_entropy(prop, hypotheses, scalars)
    if isinstance(prop, All):
        reasons = []
        for item in prop.items:
            ok, why = prove(item, hypotheses, scalars)
            if not ok:
                return False, why
            reasons.append(why)
        return True, "; ".join(reasons)
    if isinstance(prop, Any_):
        fails = []
        for item in prop.items:
            ok, why = prove(item, hypotheses, scalars)
            if ok:
                return True, why
            fails.append(why)
        return False, "; ".join(fails)
    if isinstance(prop, Opaque):
        return False, prop.reason
    return False, f"'{prop.text}': no symbolic strategy"


#: polynomials beyond this many terms (outside the scalars) get no sign proof: factoring them is costly
SIGN_TERMS = 40


def _small(ring: Any, poly: Any, scalars: set[sympy.Symbol]) -> bool:
    """A polynomial in the scalars only, or one of at most SIGN_TERMS terms."""
    terms = list(ring.terms(poly))
    if len(terms) <= SIGN_TERMS:
        return True
    used = {sym for monom, _ in terms for sym, e in zip(ring.symbols, monom) if e}
    return used <= scalars


def _is_number(p: Any) -> bool:
    return not hasattr(p, "monoms") or p.is_constant()


def _ratio(ring: Any, u: tuple, v: tuple, scalars: set[sympy.Symbol]) -> sympy.Expr | None:
    """c, a polynomial in the scalars, with u = c v entrywise; or None."""
    idx = next((i for i, e in enumerate(v) if e != 0), None)
    if idx is None:
        return None
    try:
        c = u[idx] / v[idx]
    except INEXACT:
        return None
    if any(a != c * b for a, b in zip(u, v)):
        return None
    expr = ring.to_sympy(c)
    return expr if expr.free_symbols <= scalars else None


def _prove_order(prop: Order, hypotheses: list[Prop], scalars: set[sympy.Symbol]) -> tuple[bool, str]:
    # orders only see differences of entries: left = c · right + k · ones with c > 0 keeps them all
    what = "the argmax" if prop.kind == "argmax" else "every order"
    if len(prop.left) != len(prop.right):
        return False, f"'{prop.text}': the two sides have different lengths"
    du = tuple(e - prop.left[0] for e in prop.left[1:])
    dv = tuple(e - prop.right[0] for e in prop.right[1:])
    if all(e == 0 for e in du) and all(e == 0 for e in dv):
        return True, f"'{prop.text}': both sides are constant vectors, so every entry is a largest one on both sides"
    c, flipped = _ratio(prop.ring, du, dv, scalars), False
    if c is None:  # right = c · left + k · ones with c > 0 serves as well (orders are symmetric)
        c, flipped = _ratio(prop.ring, dv, du, scalars), True
    if c is None:
        return False, f"'{prop.text}': the two sides are not c · each other plus a constant vector"
    s = prove_sign(c, scalar_facts(hypotheses))
    if s is None or s[0] < 0:
        return False, f"'{prop.text}': left = c · right + k · ones with c = {c}, whose sign is not fixed by the assumptions"
    cp = prop.ring.entry(c)
    one, other = ("right", "left") if flipped else ("left", "right")
    pairs = zip(prop.right, prop.left) if flipped else zip(prop.left, prop.right)
    shift = "" if all(a == cp * b for a, b in pairs) else \
        " + k · ones (adding the same number to every entry changes no difference)"
    return True, f"'{prop.text}': {one} = c · {other}{shift} with c = {c} > 0 ({s[1]}), and multiplying by c > 0 keeps {what}"


def _signed_multiple(ring: Any, p: Any, q: Any, facts: list[Fact], scalars: set[sympy.Symbol]) -> tuple[Any, int, str] | None:
    """(k, sign, why) with p = k · q, k a polynomial in the scalars shown ≥ 0 (sign 1) or ≤ 0
    (sign −1) under the facts; or None."""
    try:
        k = p / q
    except INEXACT:
        return None
    if k * q != p:
        return None
    expr = ring.to_sympy(k)
    if not expr.free_symbols <= scalars:
        return None
    for sign in (1, -1):
        why = prove_nonnegative(sign * expr, facts)
        if why is not None:
            return k, sign, f"{expr} {'≥' if sign > 0 else '≤'} 0 ({why})"
    return None


def _normal_relu(ring: Any, entry: Any, facts: list[Fact], scalars: set[sympy.Symbol],
                 used: list[str]) -> tuple[list[list[Any]], Any]:
    """``entry`` = rest + Σ coef · relu(arg) rewritten with fewer relu terms: ([[arg, coef], …], rest)."""

    def merge(groups: list[list[Any]], arg: Any, coef: Any, rest: Any) -> tuple[bool, Any]:
        for g in groups:
            found = _signed_multiple(ring, arg, g[0], facts, scalars)
            if found is not None:
                k, sign, why = found
                if sign > 0:  # relu(k q) = k relu(q) for k ≥ 0
                    g[1] = g[1] + coef * k
                else:  # relu(k q) = −k relu(−q) = −k (relu(q) − q) for k ≤ 0, since relu(−q) = relu(q) − q
                    g[1], rest = g[1] - coef * k, rest + coef * k * g[0]
                used.append(why)
                return True, rest
            found = _signed_multiple(ring, g[0], arg, facts, scalars)
            if found is not None:  # the same with the roles swapped: the group is rebased on arg
                k, sign, why = found
                if sign > 0:
                    g[0], g[1] = arg, g[1] * k + coef
                else:
                    g[0], g[1], rest = arg, coef - g[1] * k, rest + g[1] * k * arg
                used.append(why)
                return True, rest
        return False, rest

    groups: list[list[Any]] = []
    rest = entry.rest
    for arg, coef in entry.terms:
        merged, rest = merge(groups, arg, coef, rest)
        if not merged:
            groups.append([arg, coef])
    changed = True
    while changed:  # groups may merge with each other once rebased (relu(a x), relu(t x), relu(x))
        changed = False
        for i in range(len(groups)):
            others = groups[:i] + groups[i + 1:]
            merged, rest = merge(others, groups[i][0], groups[i][1], rest)
            if merged:
                groups, changed = others, True
                break
    return [g for g in groups if g[1] != 0], rest


def _prove_relu_zero(prop: ReluZero, hypotheses: list[Prop], scalars: set[sympy.Symbol]) -> tuple[bool, str]:
    """Every entry rest + Σ c · relu(p) is 0: merge relu(p) and relu(q) when p = k · q with k ≥ 0
    (relu(k q) = k relu(q)) or k ≤ 0 (relu(k q) = −k (relu(q) − q)); then every coefficient and
    the rest must vanish."""
    facts, ring, used = scalar_facts(hypotheses), prop.ring, []
    for entry in prop.entries:
        groups, rest = _normal_relu(ring, entry, facts, scalars, used)
        if groups:
            return False, f"'{prop.text}': the relu terms do not cancel (relu(k p) = k relu(p) needs k ≥ 0 shown)"
        if rest != 0:
            return False, f"'{prop.text}': a polynomial part remains outside the relu terms"
    why = "; ".join(dict.fromkeys(used)) or "the relu terms cancel"
    return True, f"'{prop.text}': relu(k p) = k relu(p) for k ≥ 0, relu(−p) = relu(p) − p, and the relu terms cancel ({why})"


#: at most this many relu terms per entry are bounded below by _prove_relu_sign (2^n subsets)
RELU_SIGN_TERMS = 4


def _prove_relu_sign(prop: ReluSign, hypotheses: list[Prop], scalars: set[sympy.Symbol]) -> tuple[bool, str]:
    """Every entry rest + Σ c · relu(p) is > 0 (≥ 0): with every c ≥ 0, relu(p) ≥ 0 and relu(p) ≥ p
    give entry ≥ rest + Σ_{p in S} c · p for any subset S; one such lower bound with the sign does."""
    facts, ring, used, reasons = scalar_facts(hypotheses), prop.ring, [], []
    for entry in prop.entries:
        groups, rest = _normal_relu(ring, entry, facts, scalars, used)
        if len(groups) > RELU_SIGN_TERMS:
            return False, f"'{prop.text}': too many relu terms to bound"
        coefs = []
        for arg, coef in groups:
            c = ring.to_sympy(ring.entry(coef) if not hasattr(coef, "monoms") else coef)
            if not (c.free_symbols <= scalars) or prove_nonnegative(c, facts) is None:
                return False, f"'{prop.text}': the coefficient {c} of relu({ring.to_sympy(arg)}) is not shown ≥ 0"
            coefs.append(c)
        base = ring.to_sympy(ring.entry(rest) if not hasattr(rest, "monoms") else rest)
        args = [ring.to_sympy(arg) for arg, _ in groups]
        for n in range(len(groups) + 1):
            found = None
            for subset in itertools.combinations(range(len(groups)), n):
                bound = sympy.expand(base + sum((coefs[i] * args[i] for i in subset), sympy.Integer(0)))
                if len(sympy.Add.make_args(bound)) > SIGN_TERMS:
                    continue
                if prop.strict:
                    s = prove_sign(bound, facts)
                    why = s[1] if s is not None and s[0] > 0 else None
                else:
                    why = prove_nonnegative(bound, facts)
                if why is not None:
                    found = f"≥ {bound} ({why})"
                    break
            if found is not None:
                break
        if found is None:
            return False, f"'{prop.text}': no lower bound rest + Σ c · p (from relu(p) ≥ 0, relu(p) ≥ p) with the sign"
        reasons.append(found)
    return True, (f"'{prop.text}': relu(p) ≥ 0 and relu(p) ≥ p with coefficients ≥ 0 bound each entry below: "
                  + "; ".join(dict.fromkeys(reasons)))


def _nonconstant(ring: Any, v: tuple, hypotheses: list[Prop]) -> str | None:
    diffs = tuple(e - v[0] for e in v[1:])
    if any(d != 0 and _is_number(d) for d in diffs):
        return "its entries differ by a nonzero constant"
    return prove_implication(NotZero(diffs, ring), hypotheses)


def _prove_entropy(prop: EntropyLess, hypotheses: list[Prop], scalars: set[sympy.Symbol]) -> tuple[bool, str]:
    from .semantics import _ENTROPY_LEMMA

    facts = scalar_facts(hypotheses)
    c = _ratio(prop.ring, prop.left, prop.right, scalars)
    if c is not None:
        s = prove_sign(c - 1, facts)
        if s is not None and s[0] > 0 and _nonconstant(prop.ring, prop.right, hypotheses):
            return True, f"'{prop.text}': " + _ENTROPY_LEMMA.format(rel=f"left = c · right with c = {c} > 1 ({s[1]})")
    c = _ratio(prop.ring, prop.right, prop.left, scalars)
    if c is not None:
        pos, below = prove_sign(c, facts), prove_sign(1 - c, facts)
        if pos and below and pos[0] > 0 and below[0] > 0 and _nonconstant(prop.ring, prop.left, hypotheses):
            return True, f"'{prop.text}': " + _ENTROPY_LEMMA.format(rel=f"right = c · left with 0 < c = {c} < 1 ({pos[1]}; {below[1]})")
    return False, f"'{prop.text}': the logits are not c · each other with c provably on the right side of 1"


def _closed(prop: Prop) -> bool:
    """Polynomial identities (Zero atoms and conjunctions of them)."""
    if isinstance(prop, All):
        return all(_closed(p) for p in prop.items)
    return isinstance(prop, Zero)


def _open_dense(prop: Prop, facts: list[Fact] | None = None, scalars: set[sympy.Symbol] | None = None,
                hypotheses: list[Prop] | None = None) -> bool:
    """Conditions whose truth set (among the assumed points), if not empty, is open and dense:
    the complement of a zero set. With ``facts``: also ``p > 0`` and ``p >= 0`` where p ≥ 0 is
    proved under them (true except on the zero set of p)."""
    if isinstance(prop, NotZero):
        return True
    if isinstance(prop, Zero):  # an identity (every polynomial is 0) holds everywhere
        return all(p == 0 for p in prop.polys)
    if isinstance(prop, Truth):
        return prop.value
    if isinstance(prop, Sign) and facts is not None and _small(prop.ring, prop.poly, scalars or set()):
        # p ≥ 0 wherever the assumptions hold: p > 0 fails only where p = 0, a zero set
        return prove_nonnegative(prop.ring.to_sympy(prop.poly), facts) is not None
    if isinstance(prop, ReluSign) and hypotheses is not None:
        # proved outright (relu combinations may vanish on open sets: nothing weaker will do)
        return _prove_relu_sign(prop, hypotheses, scalars or set())[0]
    if isinstance(prop, (All, Any_)):
        return all(_open_dense(p, facts, scalars, hypotheses) for p in prop.items)
    return False


def _sign_atoms(prop: Prop) -> bool:
    """A sign condition, or a conjunction of them: false on an open set wherever it is false strictly."""
    if isinstance(prop, All):
        return all(_sign_atoms(p) for p in prop.items)
    return isinstance(prop, (Sign, ReluSign))


def _strictly_false(node: Node) -> Node | None:
    """For an order ``A > B`` (``>=``), the condition ``not (A >= B)`` (some entry A_i < B_i),
    an open condition on continuous values; likewise for ``<``. None for other statements."""
    if node.op in (">", ">="):
        inner = replace(node, op=">=", text=f"{node.args[0].text} >= {node.args[1].text}")
        return Node("not", (inner,), type="prop", text=f"not ({inner.text})")
    if node.op in ("<", "<="):
        inner = replace(node, op="<=", text=f"{node.args[0].text} <= {node.args[1].text}")
        return Node("not", (inner,), type="prop", text=f"not ({inner.text})")
    return None


# -- the formal proof (every width) -----------------------------------------------------------


def formal_proof(problem: Problem, case: Case) -> str | None:
    """A reason the statement holds for every d and h at this depth, or None."""
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


# -- points: search, shrink, check ------------------------------------------------------------


def _variables(problem: Problem, case: Case) -> list:
    return case_variables(case, vectors=problem.vectors, scalars=problem.scalars, model=problem.model)


_SCALAR_FRACTIONS = [Fraction(1, 2), Fraction(-1, 2), Fraction(1, 3), Fraction(-2, 3), Fraction(3, 2)]


def _random_point(variables: list, rng: np.random.Generator, *, spread: int, sparsity: float) -> dict[str, Any]:
    point: dict[str, Any] = {}
    for var in variables:
        values = rng.integers(-spread, spread + 1, size=var.shape)
        values = np.where(rng.random(var.shape) < sparsity, 0, values)
        if var.shape:
            point[var.name] = values.tolist()
        elif rng.random() < 0.3:  # scalars may need fractions: 0 < a < 1, a**2 < 1, …
            point[var.name] = _SCALAR_FRACTIONS[int(rng.integers(len(_SCALAR_FRACTIONS)))]
        else:
            point[var.name] = int(values)
    return point


def _flat(point: dict[str, Any]) -> list[tuple[str, tuple[int, ...]]]:
    out = []
    for name, value in point.items():
        arr = np.asarray(value, dtype=object)
        out += [(name, idx) for idx in np.ndindex(arr.shape)]
    return out


def _get(point: dict[str, Any], name: str, idx: tuple[int, ...]) -> Any:
    return np.asarray(point[name], dtype=object)[idx] if idx else point[name]


def _set(point: dict[str, Any], name: str, idx: tuple[int, ...], value: Any) -> dict[str, Any]:
    out = dict(point)
    if idx:
        arr = np.array(point[name], dtype=object)
        arr[idx] = value
        out[name] = arr.tolist()
    else:
        out[name] = value
    return out


def _size(v: Any) -> tuple:
    q = Fraction(v)
    return (max(abs(q.numerator), q.denominator), q.denominator, q < 0)


def _smaller(v: Any) -> list[Any]:
    """Candidate replacements for an entry, simplest first: 0, 1, −1, 2, −2, 1/2, … below v."""
    bound = _size(v)
    out: list[Any] = [0]
    top = max(abs(Fraction(v).numerator), Fraction(v).denominator)
    for m in range(1, top + 1):
        out += [m, -m]
    out += [Fraction(p, q) for q in range(2, top + 1) for p in range(1, top + 1) if Fraction(p, q).denominator == q for p in (p, -p)]
    return sorted({c for c in out if _size(c) < bound}, key=_size)


def _shrink(problem: Problem, case: Case, point: dict[str, Any], want: bool) -> dict[str, Any]:
    """Make a point (where the statement is ``want``) as simple as possible, entry by entry."""
    changed = True
    while changed:
        changed = False
        for name, idx in _flat(point):
            problem.check_time()
            for cand in _smaller(_get(point, name, idx)):
                trial = _set(point, name, idx, cand)
                if problem.truth_at(case, trial) is want:
                    point, changed = trial, True
                    break
    return point


def search(problem: Problem, case: Case, *, want: bool, seed: int = 0) -> dict[str, Any] | None:
    """An exact point where every hypothesis holds and the statement is ``want`` (False: a
    counterexample; True: a witness), shrunk; or None."""
    variables = _variables(problem, case)
    rng = np.random.default_rng([seed, case.depth, case.d, case.h])
    zero = {v.name: (np.zeros(v.shape, dtype=int).tolist() if v.shape else 0) for v in variables}
    candidates = [zero]
    for i in range(SEARCH_POINTS):
        candidates.append(_random_point(variables, rng, spread=1 + i % 3, sparsity=(0.5, 0.2, 0.0)[i % 3]))
    for point in candidates:
        problem.check_time()
        if problem.truth_at(case, point) is want:
            return _shrink(problem, case, point, want)
    # a second round, only when the first found nothing (so earlier results stay as they were):
    # the scalars from a wider pool of small fractions and values near the hypotheses' boundaries
    names = [v.name for v in variables if not v.shape]
    pool = _scalar_pool(problem, case) if names else []
    if not pool:
        return None
    for i in range(SEARCH_POINTS):
        problem.check_time()
        point = _random_point(variables, rng, spread=1 + i % 3, sparsity=(0.5, 0.2, 0.0)[i % 3])
        for name in names:
            point[name] = pool[int(rng.integers(len(pool)))]
        if problem.truth_at(case, point) is want:
            return _shrink(problem, case, point, want)
    return None


#: small numbers the second search round draws scalars from: denominators 1 … 4
_SMALL = sorted({Fraction(p, q) for q in (1, 2, 3, 4) for p in range(-3 * q, 3 * q + 1)}, key=_size)


def _scalar_pool(problem: Problem, case: Case) -> list[Any]:
    """Small fractions, and points just beside and between the boundaries c of the hypotheses
    that are linear in one scalar (a > c, a != c): where a sign may change."""
    cuts: set[Fraction] = set()
    try:
        env = problem.symbolic(case)
        hyps = [env.value_of(h) for h in problem.hypotheses]
        facts = scalar_facts(hyps) + [(sympy.expand(p), "!=0") for p in _hypothesis_parts(hyps)[1]]
    except (Unsupported, Undefined, StatementError):
        facts = []
    for h, _ in facts:
        if len(h.free_symbols) == 1 and h.is_polynomial() and sympy.Poly(h).degree() == 1:
            poly = sympy.Poly(h)
            root = -poly.coeff_monomial(1) / poly.LC()
            if root.is_Rational and abs(root.q) <= 1000 and abs(root.p) <= 10**6:
                cuts.add(Fraction(int(root.p), int(root.q)))
    near = set()
    ordered = sorted(cuts)
    for c in ordered:
        near |= {c + d for d in (Fraction(1, 2), Fraction(1, 3), Fraction(1, 4), Fraction(1, 10))}
        near |= {c - d for d in (Fraction(1, 2), Fraction(1, 3), Fraction(1, 4), Fraction(1, 10))}
    near |= {(p + q) / 2 for p, q in zip(ordered, ordered[1:])}
    return list(_SMALL) + sorted(near, key=_size)


#: the falsification search every 'holds' must survive, per model shape: it stops after this many
#: points where the assumptions hold, or after this many candidates (when none of them satisfied
#: the assumptions, a second round of HARDER times as many structured candidates follows)
FALSIFY_POINTS = 16
FALSIFY_CANDIDATES = 48
HARDER = 4


def _structured_point(variables: list, rng: np.random.Generator, pool: list[Any]) -> dict[str, Any]:
    """A point whose arrays are each random, zero, an identity, one-hot or all ones, and whose
    scalars come from ``pool``: assumptions such as ``cross_map(s) == 0`` or ``W @ s == 0``
    hold on such special points (a zero layer, a kernel vector) and almost never at random ones."""
    point: dict[str, Any] = {}
    for var in variables:
        if not var.shape:
            point[var.name] = pool[int(rng.integers(len(pool)))]
            continue
        r = rng.random()
        if r < 0.45:
            values = rng.integers(-2, 3, size=var.shape)
            values = np.where(rng.random(var.shape) < 0.4, 0, values)
        elif r < 0.6:
            values = np.zeros(var.shape, dtype=int)
        elif r < 0.8:
            values = np.zeros(var.shape, dtype=int)
            if len(var.shape) == 2:
                values = np.eye(*var.shape, dtype=int)
            else:
                values[int(rng.integers(var.shape[0]))] = 1
        elif r < 0.9:
            values = np.zeros(var.shape, dtype=int)
            values[tuple(int(rng.integers(n)) for n in var.shape)] = int(rng.choice([1, -1, 2]))
        else:
            values = np.ones(var.shape, dtype=int)
        point[var.name] = values.tolist()
    return point


def _equations(node: Node) -> list[Node]:
    """The equations ``l == r`` among a hypothesis' conjuncts (substitutions are bound already)."""
    if node.op == "and":
        return [e for a in node.args for e in _equations(a)]
    if node.op == "==" and all(a.type in ("int", "scalar", "vector", "matrix") for a in node.args):
        return [node]
    return []


def _residuals(problem: Problem, case: Case, point: dict[str, Any], equations: list[Node]) -> list[Fraction] | None:
    """Every entry of ``l - r`` over the equations at the point (exact), or None where undefined."""
    from .semantics import _fraction

    try:
        env = problem.at(case, point)
        out: list[Fraction] = []
        for eq in equations:
            left, right = (env.value_of(a) for a in eq.args)
            diff = np.asarray(left - right, dtype=object) if not isinstance(left, np.ndarray) or not isinstance(right, np.ndarray) \
                else np.asarray(left, dtype=object) - np.asarray(right, dtype=object)
            out += [_fraction(v) for v in np.ravel(diff)]
        return out
    except (Undefined, Unsupported, ZeroDivisionError, TypeError):
        return None


def _solve_equalities(problem: Problem, case: Case, point: dict[str, Any], equations: list[Node],
                      rng: np.random.Generator) -> dict[str, Any]:
    """Move single entries of the point so that the equations hold: for the first entry of a
    residual that is not zero, an entry of the point on which it depends affinely (checked at
    three values) is set to the root. Exact; gives up quietly (the caller checks the point)."""
    flat = _flat(point)
    for _ in range(3 * len(flat)):
        res = _residuals(problem, case, point, equations)
        if res is None:
            return point
        k = next((i for i, r in enumerate(res) if r != 0), None)
        if k is None:
            return point
        for j in rng.permutation(len(flat))[:24]:
            name, idx = flat[int(j)]
            v0 = Fraction(_get(point, name, idx))
            r1 = _residuals(problem, case, _set(point, name, idx, v0 + 1), equations)
            r2 = _residuals(problem, case, _set(point, name, idx, v0 + 2), equations)
            if r1 is None or r2 is None:
                continue
            slope = r1[k] - res[k]
            if slope == 0 or r2[k] - r1[k] != slope:  # not affine in this entry (or not involved)
                continue
            root = v0 - res[k] / slope
            if max(abs(root.numerator), root.denominator) > 10**6:
                continue
            point = _set(point, name, idx, root)
            break
        else:
            return point
    return point


def falsify(problem: Problem, case: Case, *, seed: int = 1) -> tuple[int, dict[str, Any] | None]:
    """(points where the assumptions hold, a counterexample among them or None): the exact
    search every 'holds' must survive. Random and structured points, scalars from small
    fractions and the hypotheses' boundaries, equations among the assumptions solved entry by
    entry; when no candidate satisfies the assumptions, a harder round."""
    variables = _variables(problem, case)
    rng = np.random.default_rng([seed, case.depth, case.d, case.h, int(case.residual), int(case.bias), case.m or 0, 7])
    equations = [e for h in problem.hypotheses for e in _equations(h)]
    pool = (_scalar_pool(problem, case) if problem.hypotheses else list(_SMALL)) if problem.scalars else [0]
    checked = 0
    for round_, count in ((0, FALSIFY_CANDIDATES), (1, HARDER * FALSIFY_CANDIDATES)):
        if round_ == 1 and (checked or not problem.hypotheses):
            break
        for i in range(count):
            if checked >= FALSIFY_POINTS:
                break
            problem.check_time()
            if round_ == 0 and i % 2 == 0:
                point = _random_point(variables, rng, spread=1 + i % 3, sparsity=(0.1, 0.3, 0.5)[i % 3])
            else:
                point = _structured_point(variables, rng, pool)
            if equations:
                point = _solve_equalities(problem, case, point, equations, rng)
            truth = problem.truth_at(case, point)
            if truth is None:
                continue
            checked += 1
            if truth is False:
                return checked, _shrink(problem, case, point, False)
    return checked, None


def numeric_check(problem: Problem, case: Case, *, seed: int = 1) -> tuple[int, dict[str, Any] | None]:
    """(points checked, a point where the statement is False or None) at seeded random points."""
    variables = _variables(problem, case)
    rng = np.random.default_rng([seed, case.depth, case.d, case.h, 7])
    checked = 0
    for i in range(60):
        if checked >= NUMERIC_CHECKS:
            break
        problem.check_time()
        point = _random_point(variables, rng, spread=3, sparsity=0.1)
        truth = problem.truth_at(case, point)
        if truth is None:
            continue
        checked += 1
        if truth is False:
            return checked, point
    return checked, None


# -- evidence ---------------------------------------------------------------------------------


def _text(v: Any) -> Any:
    """Exact, JSON-able text of a value: 'p/q' strings, nested lists, sets as sorted lists."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, np.ndarray):
        return [_text(e) for e in v]
    if isinstance(v, (list, tuple)):
        return [_text(e) for e in v]
    if isinstance(v, frozenset):
        return sorted(int(i) for i in v)
    if isinstance(v, SoftmaxVal):
        return {"softmax": _text(v.logits), "approx": [_iv_text(p) for p in v.intervals()]}
    if isinstance(v, TransVec):
        return {"approx": [_iv_text(p) for p in v.items]}
    if isinstance(v, EntropyVal):
        from .semantics import _iv_entropy

        return {"entropy_of_softmax": _text(v.logits), "approx": _iv_text(_iv_entropy(v.logits))}
    if isinstance(v, ArgmaxVal):
        return _text(v.entries)
    if isinstance(v, DegreeVal):
        degrees = [p for p, cs in v.by_power.items() if any(c != 0 for c in cs)]
        return max(degrees) if degrees else "-oo (the zero polynomial)"
    if isinstance(v, Fraction):
        return str(v)
    if hasattr(v, "p") and hasattr(v, "q"):
        return str(Fraction(int(v.p), int(v.q)))
    return str(v)


def _iv_text(x: Any) -> str:
    return f"{float(x.mid):.6g}"


def _show(v: Any) -> str:
    t = _text(v)
    if isinstance(t, list):
        return "[" + ", ".join(_show_item(e) for e in t) + "]"
    if isinstance(t, dict):
        if "softmax" in t:
            return f"softmax({_show(t['softmax'])}) ≈ [{', '.join(t['approx'])}]"
        if "entropy_of_softmax" in t:
            return f"≈ {t['approx']}"
        return "≈ [" + ", ".join(t["approx"]) + "]"
    return str(t)


def _show_item(e: Any) -> str:
    return "[" + ", ".join(_show_item(x) for x in e) + "]" if isinstance(e, list) else str(e)


def _operands(node: Node) -> list[Node]:
    """The sub-expressions worth printing next to a counterexample."""
    if node.op in ("==", "!=", "<", "<=", ">", ">="):
        return [a for a in node.args if a.op not in ("num",)]
    if node.op in ("not", "and"):
        return [o for a in node.args for o in _operands(a)]
    if node.op == "call" and node.type == "prop":
        if node.value in ("depends_on", "degree_in", "is_polynomial_in", "continuous_in"):
            return [node.args[0]]
        return [o for a in node.args for o in (_operands(a) if a.type == "prop" else [a]) if o.op not in ("name", "str")]
    return []


def describe_point(problem: Problem, case: Case, point: dict[str, Any]) -> tuple[str, dict]:
    """(text, evidence) for a point: the model, the inputs and both sides of the statement."""
    env = problem.at(case, point)
    pieces = [f"{name}={_show_item(_text_nested(value))}" for name, value in point.items()]
    for name, node in problem.substitutions:
        pieces.append(f"{name}={_show(env.values[name])}")
    values = []
    for node in {n.text: n for n in _operands(problem.statement)}.values():
        try:
            value = env.value_of(node)
        except (Undefined, Unsupported, ZeroDivisionError) as exc:
            values.append({"expression": node.text, "value": None, "note": str(exc)})
            continue
        values.append({"expression": node.text, "value": _text(value)})
    for node in problem.statement.walk():
        if node.op == "call" and node.value == "depends_on":
            values += _depends_witness(env, node)
    text = f"{case.describe(model=problem.model)}: " + ", ".join(pieces)
    if values:
        text += "; " + "; ".join(f"{v['expression']} = {_show_value(v['value'])}" for v in values)
    evidence = {
        "case": {"layers": case.depth, "d": case.d, "h": case.h, "residual": case.residual, "bias": case.bias,
                 "unembed": case.unembed, "m": case.m},
        "point": {name: _text_nested(value) for name, value in point.items()},
        "substituted": {name: _text(env.values[name]) for name, _ in problem.substitutions},
        "values": values,
    }
    return text, evidence


def _show_value(t: Any) -> str:
    if isinstance(t, list):
        return "[" + ", ".join(_show_value(e) for e in t) + "]"
    if isinstance(t, dict):
        if "softmax" in t:
            return f"softmax({_show_value(t['softmax'])}) ≈ [{', '.join(t['approx'])}]"
        if "entropy_of_softmax" in t:
            return f"≈ {t['approx']}"
        return "≈ [" + ", ".join(t["approx"]) + "]"
    return str(t)


def _text_nested(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_text_nested(v) for v in value]
    return str(Fraction(value))



def _depends_witness(env: Evaluator, node: Node) -> list[dict]:
    """Two values of the bound vector that give different values of the expression."""
    expr, var = node.args
    current = env.values.get(var.value)
    if current is None:
        return []
    width = len(current) if isinstance(current, np.ndarray) else None
    from .numbers import EXACT, object_array

    def trial(values: list[int]) -> Any:
        saved = env.values[var.value]
        env.values[var.value] = object_array([EXACT.entry(v) for v in values]) if width else EXACT.entry(values[0])
        try:
            return _text(env.value_of(expr))
        finally:
            env.values[var.value] = saved

    n = width or 1
    base = [0] * n
    first = trial(base)
    for i in range(n):
        for sign in (1, -1, 2):
            other = [0] * n
            other[i] = sign
            value = trial(other)
            if value != first:
                fmt = (lambda v: _show_value(_text_nested(v))) if width else (lambda v: str(v[0]))
                return [{"expression": f"{expr.text} at {var.value}={fmt(base)}", "value": first},
                        {"expression": f"{expr.text} at {var.value}={fmt(other)}", "value": value}]
    return []


# -- deciding ---------------------------------------------------------------------------------


def _scope(proved: list[tuple[Case, str]], formal: list[Case], *, model: bool) -> str:
    if not model:
        return "proved at d = " + ", ".join(str(d) for d in sorted({c.d for c, _ in proved}))

    def sizes(cases: list[Case]) -> str:
        return ", ".join(sorted({f"({c.d},{c.h})" for c in cases}))

    def variants(cases: list[Case]) -> str:
        kinds = sorted({("residual" if c.residual else "plain") + (" with biases" if c.bias else "") for c in cases})
        return "; ".join(kinds)

    depths = ", ".join(str(d) for d in sorted({c.depth for c, _ in proved}))
    symbolic = [c for c, why in proved if not why.startswith("covered by the formal proof")]
    if formal:
        fdepths = ", ".join(str(d) for d in sorted({c.depth for c in formal}))
        also = f"; symbolic at (d,h) = {sizes(symbolic)}" if symbolic else ""
        return f"proved for all d, h (L = {fdepths}; {variants(formal)}){also}"
    return f"proved at (d,h) = {sizes(symbolic)} (L = {depths}; {variants(symbolic)})"


def decide(problem: Problem) -> Decision:
    """Decide the problem; raises DeadlineError when out of time."""
    st = problem.statement
    if "empirical" in st.names():
        texts = [n.args[0].value for n in st.walk() if n.op == "call" and n.value == "empirical"]
        return Decision("out_of_scope", "none", "not decidable by proof",
                        f"'{'; '.join(texts)}' is a claim about the model's behaviour on data; no statement about weights "
                        "and inputs decides it", {"empirical": texts})
    if st.op == "call" and st.value == "generic":
        return _decide_generic(problem)
    proved: list[tuple[Case, str]] = []
    formal: list[Case] = []
    formal_why: list[str] = []
    failing: list[tuple[Case, str]] = []
    seen_formal: dict = {}
    for case in problem.cases:
        problem.check_time()
        key = (case.depth, case.residual, case.bias, case.m)
        if key not in seen_formal and case.unembed is None:
            seen_formal[key] = formal_proof(problem, case)
            if seen_formal[key] is not None:
                formal.append(case)
                formal_why.append(f"{case.describe(model=problem.model)}: {seen_formal[key]}")
        by_formal = seen_formal.get(key) is not None and case.unembed is None
        prop = None
        try:
            env = problem.symbolic(case)
            hyps = [env.value_of(h) for h in problem.hypotheses]
            prop = env.value_of(st)
            scalars = {sympy.Symbol(a) for a in problem.scalars}
            never = _contradiction(hyps)
            if never is not None:  # no point satisfies the assumptions at this size: the claim holds vacuously
                ok, why = True, f"vacuously: the assumptions never hold at this size ({never})"
            else:
                ok, why = prove(prop, hyps, scalars)
        except (Unsupported, Undefined) as exc:
            ok, why = False, str(exc)
        if not ok and by_formal:
            if prop is not None and _refuted(prop):
                # the formal expansion and generic weights must agree: a nonzero difference here is a bug
                return Decision("bug", "disagreement", "two methods disagree",
                                f"the formal proof ({seen_formal[key]}) and the symbolic check at "
                                f"{case.describe(model=problem.model)} ({why}) disagree",
                                {"formal": seen_formal[key], "symbolic": why, "case": case.describe(model=problem.model)})
            ok, why = True, f"covered by the formal proof for every width (symbolic check not done: {why})"
        if ok:
            proved.append((case, why))
            continue
        failing.append((case, why))
        # not proved here: look for a counterexample at this shape before trying bigger ones,
        # so the first one found has the fewest layers and the smallest widths
        point = search(problem, case, want=False)
        if point is not None:
            text, evidence = describe_point(problem, case, point)
            residual = _residual(prop) if prop is not None else None
            evidence["symbolic"] = why
            if residual:
                evidence["residual"] = residual
            text += f". Symbolic, generic weights: {why}" + (f"; residual {residual}" if residual else "")
            return Decision("fails", "counterexample", f"counterexample at {case.describe(model=problem.model)}", text, evidence)
    if not failing:
        # every 'holds' must survive an exact search inside the assumptions: a point found here
        # contradicts a proof, so one of the two methods has a bug (never a verdict)
        checked = 0
        for case in problem.cases:
            n, bad = falsify(problem, case)
            checked += n
            if bad is not None:
                text, evidence = describe_point(problem, case, bad)
                proof = next((why for c, why in proved if c == case), proved[0][1])
                return Decision("bug", "disagreement", "a proof and an exact counterexample disagree",
                                f"proved ({proof}), but false at an exact point where the assumptions hold: {text}",
                                {"proof": proof, "counterexample": evidence})
        scope = _scope(proved, formal, model=problem.model)
        reasons = [f"{c.describe(model=problem.model)}: {why}" for c, why in proved]
        first = proved[0]
        detail = f"symbolic, generic weights: {first[1]} at {first[0].describe(model=problem.model)}"
        if len(proved) > 1:
            detail += f", and likewise at {len(proved) - 1} more shape(s)"
        if formal_why:
            detail = f"formal (every d, h): {formal_why[0].split(': ', 1)[1]}; " + detail
        vacuous = all(why.startswith("vacuously") for _, why in proved)
        detail += f"; an exact falsification search found no counterexample among {checked} points where the assumptions hold" \
            if checked else ("" if vacuous else "; no point satisfying the assumptions was found by the exact search "
                                                "(they may never hold; the proof covers that case too)")
        return Decision("holds", "proof", scope, detail,
                        {"proofs": reasons, "formal": formal_why, "numeric_checks": checked})
    reasons = "; ".join(f"{c.describe(model=problem.model)}: {why}" for c, why in failing)
    checked = 0
    for case in problem.cases:
        checked += numeric_check(problem, case)[0]
    method = "numeric" if checked else "none"
    return Decision("undecided", method, "no proof and no counterexample",
                    f"not proved ({reasons}); no counterexample in the search; {checked} random exact points satisfy it",
                    {"unproved": reasons, "numeric_checks": checked})


def _contradiction(hyps: list[Prop], *, signs: bool = True) -> str | None:
    """Why some assumption is false everywhere (it reduces to constants), or why the strict signs
    assumed contradict each other (``signs``), or None."""
    for h in hyps:
        if isinstance(h, All):
            why = _contradiction(list(h.items), signs=False)
        elif isinstance(h, Truth):
            why = None if h.value else h.reason
        elif isinstance(h, NotZero):
            why = "every polynomial in it is 0" if all(p == 0 for p in h.polys) else None
        elif isinstance(h, Zero):
            why = "it sets a nonzero constant to 0" if any(p != 0 and _is_number(p) for p in h.polys) else None
        elif isinstance(h, Sign) and _is_number(h.poly):
            value = h.ring.to_sympy(h.poly)
            why = f"it needs {value} {'>' if h.strict else '≥'} 0" if (value <= 0 if h.strict else value < 0) else None
        else:
            why = None
        if why is not None:
            return f"'{h.text}': {why}" if h.text else why
    return _sign_contradiction(hyps) if signs else None


#: sign facts beyond this many terms are not tested against each other for a contradiction
CONTRADICTION_TERMS = 12


def _small_signs(hyps: list[Prop]) -> list[Prop]:
    """The strict signs and single nonzero polynomials among the hypotheses (inside conjunctions
    too) of at most CONTRADICTION_TERMS terms: big ones are not even converted to sympy."""
    out: list[Prop] = []
    for h in hyps:
        if isinstance(h, All):
            out += _small_signs(list(h.items))
        elif isinstance(h, Sign) and h.strict and len(list(h.ring.terms(h.poly))) <= CONTRADICTION_TERMS:
            out.append(h)
        elif isinstance(h, NotZero) and len(h.polys) == 1 and len(list(h.ring.terms(h.polys[0]))) <= CONTRADICTION_TERMS:
            out.append(h)
    return out


def _sign_contradiction(hyps: list[Prop]) -> str | None:
    """Why the strict signs assumed cannot all hold (``a > 0`` and ``a < 0``; ``a**2 < 0``): for
    one assumed ``p > 0``, the sign prover shows ``p ≤ 0`` from the other facts alone. None when
    not shown."""
    facts = scalar_facts(_small_signs(hyps))
    for i, (h, kind) in enumerate(facts):
        if kind != ">0":
            continue
        others = facts[:i] + facts[i + 1:]
        why = prove_nonnegative(-h, others)
        if why is not None:
            return f"{h} > 0 is assumed, but {sympy.expand(-h)} ≥ 0 ({why})"
    return None


def _refuted(prop: Prop) -> bool:
    """An equation whose difference is a nonzero polynomial over generic values."""
    if isinstance(prop, All):
        return any(_refuted(p) for p in prop.items)
    return isinstance(prop, Zero) and any(p != 0 for p in prop.polys)


def _residual(prop: Prop) -> str | None:
    """The smallest nonzero difference polynomial of an equation, if it is short enough to print."""
    if isinstance(prop, All):
        for item in prop.items:
            r = _residual(item)
            if r:
                return r
        return None
    if not isinstance(prop, Zero):
        return None
    nonzero = [p for p in prop.polys if p != 0]
    if not nonzero:
        return None
    text = str(prop.ring.to_sympy(min(nonzero, key=lambda p: len(list(prop.ring.terms(p))))))
    return text if len(text) <= 240 else None


def _strict_node(node: Node) -> Node:
    """The assumption with every non-strict order made strict (``a >= 0`` → ``a > 0``): its
    points lie in the interior of the assumption's set of points."""
    if node.op in (">=", "<="):
        return replace(node, op=node.op[0])
    if node.op == "not" and node.args[0].op in ("<", ">"):  # not (p < q) is p >= q
        inner = node.args[0]
        return replace(inner, op={"<": ">", ">": "<"}[inner.op])
    if node.op == "and":
        return replace(node, args=tuple(_strict_node(a) for a in node.args))
    return node


def _open_hypotheses(hyps: list[Prop]) -> bool:
    """Every hypothesis is an open condition: nonzero-ness, a strict sign, or true."""
    for h in hyps:
        if isinstance(h, All):
            if not _open_hypotheses(list(h.items)):
                return False
        elif not (isinstance(h, NotZero) or (isinstance(h, Sign) and h.strict) or (isinstance(h, Truth) and h.value)):
            return False
    return True


def _decide_generic(problem: Problem) -> Decision:
    inner = problem.statement.args[0]
    sub = Problem(inner, problem.assumptions, problem.cases, problem.stop)
    # a witness is looked for where the assumptions hold strictly (a >= 0 as a > 0): there they
    # are open conditions, so the witness has a neighbourhood of points satisfying them, and the
    # set of assumed points has positive measure; where they hold only with equality (a*t >= 0
    # and a*t <= 0: the lines a = 0, t = 0) "almost every" point says nothing
    strict = Problem(inner, tuple(_strict_node(a) for a in problem.assumptions), problem.cases, problem.stop)
    witnesses = []
    vacuous = []
    for case in problem.cases:
        problem.check_time()
        env = problem.symbolic(case)
        try:
            prop = env.value_of(inner)
            hyps = [env.value_of(h) for h in problem.hypotheses]
            strict_env = strict.symbolic(case)
            strict_hyps = [strict_env.value_of(h) for h in strict.hypotheses]
        except (Unsupported, Undefined) as exc:
            return Decision("undecided", "none", "no symbolic form", f"{case.describe(model=problem.model)}: {exc}")
        if _closed(prop) and not witnesses and not vacuous:
            # a polynomial identity holds almost everywhere exactly when it holds everywhere
            # (its failure set is open; if not empty, it has positive measure)
            inner_decision = decide(sub)
            scope = inner_decision.scope
            if inner_decision.found == "holds":
                scope = f"{scope} (an identity: it holds everywhere, so almost everywhere)"
            elif inner_decision.found == "fails":
                scope = f"{scope} (the identity fails on an open set, so not almost everywhere)"
            return replace(inner_decision, scope=scope)
        never_assumed = _contradiction(hyps)
        if never_assumed is not None:  # no point satisfies the assumptions at this size
            vacuous.append((case, never_assumed))
            continue
        never = _contradiction([prop])
        if never is not None:
            # false everywhere: any point where the assumptions hold is a counterexample
            point = search(sub, case, want=False)
            if point is None:
                return Decision("undecided", "none", "no point satisfies the assumptions",
                                f"'{inner.text}' is false everywhere ({never}), but no point satisfying the assumptions "
                                f"was found at {case.describe(model=problem.model)}")
            text, evidence = describe_point(sub, case, point)
            return Decision("fails", "counterexample", f"counterexample at {case.describe(model=problem.model)}",
                            f"'{inner.text}' is false everywhere ({never}); e.g. {text}", evidence)
        hyp_open = _open_hypotheses(strict_hyps)
        facts, scalars = scalar_facts(hyps), {sympy.Symbol(a) for a in problem.scalars}
        if hyp_open and _sign_atoms(prop) and not _open_dense(prop, facts, scalars, hyps):
            # an order false strictly at a point where the assumptions hold strictly is false on a
            # neighbourhood of it (both conditions are open): a set of positive measure
            violated = _strictly_false(inner)
            if violated is not None:
                open_fail = Problem(violated, strict.assumptions, problem.cases, problem.stop)
                point = search(open_fail, case, want=True)
                if point is not None:
                    text, evidence = describe_point(sub, case, point)
                    return Decision("fails", "counterexample", f"counterexample at {case.describe(model=problem.model)}",
                                    f"'{inner.text}' fails strictly at {text}, where the assumptions hold strictly: "
                                    "so on a neighbourhood of that point, a set of positive measure", evidence)
        # every shape needs its own witness: a witness at one shape says nothing about another
        point = search(strict, case, want=True)
        if point is None:
            return Decision("undecided", "none", "no witness",
                            f"no point found where '{inner.text}' holds and the assumptions hold strictly at "
                            f"{case.describe(model=problem.model)}")
        text, evidence = describe_point(sub, case, point)
        if not _open_dense(prop, facts, scalars, hyps) or not hyp_open:
            return Decision("undecided", "numeric", f"witness at {case.describe(model=problem.model)}",
                            f"'{inner.text}' holds at {text}, but its truth set is not shown to be open and dense", evidence)
        witnesses.append((case, text, evidence))
    if not witnesses:
        why = "; ".join(f"{c.describe(model=problem.model)}: {w}" for c, w in vacuous)
        return Decision("holds", "proof", "vacuously: the assumptions never hold at the listed sizes",
                        f"no point satisfies the assumptions ({why}), so the claim holds vacuously", {"vacuous": why})
    shapes = "; ".join(c.describe(model=problem.model) for c, _, _ in witnesses)
    if vacuous:
        shapes += "; vacuously at " + ", ".join(c.describe(model=problem.model) for c, _ in vacuous)
    scope = f"holds for almost every weight and input (a witness at each shape: {shapes})"
    detail = (f"'{inner.text}' is a nonzero-polynomial condition (with identities that hold everywhere): it fails "
              f"only on the zero set of polynomials that are not identically zero, a closed set of measure zero; "
              f"witness: {witnesses[0][1]}" + (f", and {len(witnesses) - 1} more shape(s) with a witness" if len(witnesses) > 1 else ""))
    return Decision("holds", "proof", scope, detail, witnesses[0][2])
