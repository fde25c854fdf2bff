"""Exact points: the search for counterexamples and witnesses, the falsification search every
'holds' must survive, and shrinking to the smallest numbers.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from .evaluation import Case, case_variables
from .language import Node, StatementError
from .problem import Problem
from .proof import _hypothesis_parts
from .propositions import Undefined, Unsupported
from .signs import scalar_facts
from .values import _fraction

#: random exact points tried per model shape when looking for a counterexample or a witness
SEARCH_POINTS = 300
#: seeded random points every proved claim is checked on, per model shape
NUMERIC_CHECKS = 3


# -- points: search, shrink, check ------------------------------------------------------------


def _variables(problem: Problem, case: Case) -> list:
    return case_variables(case, vectors=problem.vectors, scalars=problem.scalars, model=problem.model,
                          sequences=problem.sequences)


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
    try:
        env = problem.at(case, point)
        out: list[Fraction] = []
        for eq in equations:
            # both sides as Fractions (a literal is a Fraction, a computed value a flint fmpq)
            left, right = (np.vectorize(_fraction, otypes=[object])(np.asarray(env.value_of(a), dtype=object))
                           for a in eq.args)
            out += list(np.ravel(left - right))
        return out
    except (Undefined, Unsupported, ZeroDivisionError):
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
