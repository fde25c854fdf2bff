"""The sign prover: why a polynomial in the scalars is positive, negative or nonnegative under
the assumed sign facts.
"""

from __future__ import annotations

import itertools
from typing import Any

import sympy

from .propositions import All, NotZero, Prop, Sign

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
