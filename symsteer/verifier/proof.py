"""Proofs over generic values: implications (Rabinowitsch's trick and a Gröbner basis), and the
order, relu and entropy lemmas.
"""

from __future__ import annotations

import itertools
from typing import Any

import sympy

from .propositions import All, Any_, EntropyLess, NotZero, Opaque, Order, Prop, ReluSign, ReluZero, Sign, Truth, Zero, negate
from .signs import Fact, prove_nonnegative, prove_sign, scalar_facts
from .values import INEXACT

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
        excluded = _cases_exhaust(prop, hypotheses)
        if excluded is not None:
            return True, excluded
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
        if found is None and len(groups) == 1:
            found = _relu_cases(base, coefs[0], args[0], facts, strict=prop.strict)
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
    from .formal import _ENTROPY_LEMMA

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


def _cases_exhaust(prop: Any_, hypotheses: list[Prop]) -> str | None:
    """Why a disjunction of signs holds everywhere (a > 0 or a <= 0): the negations of its
    cases, with the assumed sign facts, contradict each other (one strict p > 0 among them
    while the rest show -p ≥ 0). Sound: a point where every case fails satisfies every negation."""
    negations = [negate(item) for item in prop.items]
    if not all(isinstance(n, Sign) for n in negations):
        return None
    if any(len(list(n.ring.terms(n.poly))) > SIGN_TERMS for n in negations):
        return None
    facts = scalar_facts(negations) + scalar_facts(hypotheses)
    for i, (h, kind) in enumerate(facts):
        others = facts[:i] + facts[i + 1:]
        if kind == ">0":
            why = prove_nonnegative(-h, others)
        elif kind == ">=0":  # h ≥ 0 against -h > 0
            sign = prove_sign(-h, others)
            why = sign[1] if sign is not None and sign[0] > 0 else None
        else:
            continue
        if why is not None:
            return f"the cases cover every point: where all fail, {h} {'>' if kind == '>0' else '≥'} 0 and {sympy.expand(-h)} ≥ 0 ({why})"
    return None


def _relu_cases(rest: sympy.Expr, c: sympy.Expr, p: sympy.Expr, facts: list, *, strict: bool) -> str | None:
    """rest + c·relu(p) ≥ 0 (> 0) by its two cases: where p ≤ 0 it is rest, where p ≥ 0 it is
    rest + c·p; each shown from the facts and the case's own sign (every point lies in one case,
    so the two together cover every point)."""
    reasons = []
    for value, case in ((rest, -p), (sympy.expand(rest + c * p), p)):
        ratio = sympy.cancel(value / case) if case != 0 else None
        if ratio is not None and ratio.is_number and (ratio > 0 if strict else ratio >= 0) and not strict:
            reasons.append(f"{value} = {ratio}·({case}) ≥ 0 where {case} ≥ 0")
            continue
        extra = facts + [(case, ">=0")]
        if strict:
            sign = prove_sign(value, extra)
            why = sign[1] if sign is not None and sign[0] > 0 else None
        else:
            why = prove_nonnegative(value, extra)
        if why is None:
            return None
        reasons.append(f"{value} where {case} ≥ 0: {why}")
    return "by cases on the sign of " + f"{p}: " + "; ".join(reasons)
