"""What a researcher would do without symsteer, and the references the float results meet.

(a) sympy by hand: the steered output ``f(x + α s)`` as a nested sympy expression built from
    sympy matrices, ``sympy.expand``, then the powers of α collected with ``sympy.Poly``;
(b) the same with symengine (``expand``, then ``coeff(α, m)``);
(c) float64: evaluate at D+1 values of α and solve the Vandermonde system.

Plus an independent long-double propagation (the reference for float64 accuracy) and a
canonical form that makes every method's exact result comparable entry by entry. Nothing
here calls symsteer: the baselines only read the weight arrays.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from typing import Any, Iterable, Sequence

import numpy as np

#: a monomial as sorted (generator name, exponent) pairs; () is the constant monomial
Monomial = tuple[tuple[str, int], ...]
#: {(α-order m, output coordinate k): sorted ((monomial, rational as text), ...)}; zero
#: coefficients are left out, so every method's form is comparable with ``==``
Canonical = dict[tuple[int, int], tuple[tuple[Monomial, str], ...]]

#: the weights of one layer: (W, V, P, b, c), b and c None without biases
Weights = tuple[Any, Any, Any, Any, Any]


# -- (a) sympy by hand --------------------------------------------------------------------


def sympy_layers(layers: Sequence[Weights]) -> list[Weights]:
    """The weight arrays as sympy matrices (biases as columns)."""
    import sympy

    def mat(a: Any) -> Any:
        return None if a is None else sympy.Matrix(np.asarray(a, dtype=object).tolist())

    return [tuple(mat(a) for a in layer) for layer in layers]  # type: ignore[misc]


def sympy_by_hand(layers: Sequence[Weights], x: Sequence[Any], s: Sequence[Any], *, residual: bool) -> list[Any]:
    """One ``sympy.Poly`` in α per output coordinate, from the nested expression of f(x + α s)."""
    import sympy

    alpha = sympy.Symbol("alpha")
    cur = sympy.Matrix(list(x)) + alpha * sympy.Matrix(list(s))
    for W, V, P, b, c in layers:
        wx, vx = W * cur, V * cur
        if b is not None:
            wx, vx = wx + b, vx + c
        y = P * wx.multiply_elementwise(vx)
        cur = cur + y if residual else y
    return [sympy.Poly(sympy.expand(e), alpha) for e in cur]


def canonical_sympy(polys: Sequence[Any]) -> Canonical:
    """The canonical form of :func:`sympy_by_hand`'s result."""
    out: Canonical = {}
    for k, poly in enumerate(polys):
        for (m,), coeff in poly.as_dict().items():
            terms = _split_terms(coeff.as_coefficients_dict().items())
            if terms:
                out[(m, k)] = terms
    return out


# -- (b) symengine ------------------------------------------------------------------------


def symengine_layers(layers: Sequence[Weights]) -> list[Weights]:
    """The weight arrays as symengine matrices (entries: integers, rationals, symbols)."""
    import symengine

    def mat(a: Any) -> Any:
        if a is None:
            return None
        arr = np.asarray(a, dtype=object)
        rows = arr.reshape(arr.shape[0], -1).tolist()
        return symengine.DenseMatrix([[to_symengine(v) for v in row] for row in rows])

    return [tuple(mat(a) for a in layer) for layer in layers]  # type: ignore[misc]


def to_symengine(value: Any) -> Any:
    """A number or a sympy symbol as a symengine object (by name: never parses text)."""
    import symengine

    if hasattr(value, "is_Symbol") and value.is_Symbol:
        return symengine.Symbol(value.name)
    if hasattr(value, "is_Rational") and value.is_Rational:
        return symengine.Rational(int(value.p), int(value.q))
    frac = Fraction(value)
    return symengine.Rational(frac.numerator, frac.denominator)


def symengine_by_hand(layers: Sequence[Weights], x: Sequence[Any], s: Sequence[Any], *, residual: bool,
                      degree: int) -> list[list[Any]]:
    """``[[coefficient of α^m for m ≤ degree] per output coordinate]`` via ``symengine.expand``."""
    import symengine

    alpha = symengine.Symbol("alpha")
    cur = symengine.DenseMatrix([to_symengine(v) for v in x]) + symengine.DenseMatrix([to_symengine(v) for v in s]) * alpha
    for W, V, P, b, c in layers:
        wx, vx = W.mul_matrix(cur), V.mul_matrix(cur)
        if b is not None:
            wx, vx = wx + b, vx + c
        y = P.mul_matrix(wx.multiply_elementwise(vx))
        cur = cur + y if residual else y
    out = []
    for e in cur:
        full = symengine.expand(e)
        out.append([full.coeff(alpha, m) for m in range(degree + 1)])
    return out


def canonical_symengine(coeffs: Sequence[Sequence[Any]]) -> Canonical:
    """The canonical form of :func:`symengine_by_hand`'s result."""
    out: Canonical = {}
    for k, per_order in enumerate(coeffs):
        for m, coeff in enumerate(per_order):
            terms = _split_terms(coeff.as_coefficients_dict().items())
            if terms:
                out[(m, k)] = terms
    return out


def _split_terms(items: Iterable[tuple[Any, Any]]) -> tuple[tuple[Monomial, str], ...]:
    """``as_coefficients_dict`` items (sympy or symengine) as sorted (monomial, rational) pairs."""
    merged: dict[Monomial, Fraction] = {}
    for term, coeff in items:
        if term.is_Number:  # symengine keys a constant by its value, sympy by 1
            monomial: Monomial = ()
            value = _rational(term) * _rational(coeff)
        else:
            powers = term.as_powers_dict()
            monomial = tuple(sorted((str(base), int(exp)) for base, exp in powers.items()))
            value = _rational(coeff)
        merged[monomial] = merged.get(monomial, Fraction(0)) + value
    return tuple(sorted((mono, str(v)) for mono, v in merged.items() if v != 0))


def _rational(value: Any) -> Fraction:
    # every library prints a rational as "p/q" or "p" (fmpq, sympy, symengine alike)
    return Fraction(str(value))


# -- symsteer's results in the same form ----------------------------------------------------


def canonical_arrays(coeffs: np.ndarray, ring: Any = None) -> Canonical:
    """The canonical form of an array ``(K+1, d_out)`` of rationals, or of polynomials of
    ``ring`` (a symsteer ``PolyRing``: its ``symbols`` and ``terms`` are read)."""
    out: Canonical = {}
    names = None if ring is None else [str(sym) for sym in ring.symbols]
    for (m, k), value in np.ndenumerate(coeffs):
        if names is None:
            terms = (((), str(_rational(value))),) if value != 0 else ()
        else:
            terms = tuple(sorted(
                (tuple(sorted((names[i], int(e)) for i, e in enumerate(exps) if e)), str(_rational(c)))
                for exps, c in ring.terms(value)
            ))
        if terms:
            out[(m, k)] = terms
    return out


def digests(form: Canonical, orders: int) -> dict[str, str]:
    """``{str(K): sha256 of the coefficients of order ≤ K}`` for K < orders, so a result
    truncated at order K compares with the K-prefix of a full one."""
    out = {}
    h = hashlib.sha256()
    for m in range(orders):
        for key in sorted(key for key in form if key[0] == m):
            h.update(repr((key, form[key])).encode())
        out[str(m)] = h.copy().hexdigest()[:16]
    return out


def monomials(form: Canonical) -> int:
    """Number of (α-order, output, monomial) terms."""
    return sum(len(terms) for terms in form.values())


# -- (c) evaluate at D+1 points, solve the Vandermonde system -------------------------------


def float_layers(layers: Sequence[Weights]) -> list[Weights]:
    return [tuple(None if a is None else np.asarray(a, dtype=np.float64) for a in layer) for layer in layers]  # type: ignore[misc]


def float_forward(layers: Sequence[Weights], X: np.ndarray, *, residual: bool) -> np.ndarray:
    """Plain numpy forward pass on a batch of rows."""
    for W, V, P, b, c in layers:
        wx, vx = X @ W.T, X @ V.T
        if b is not None:
            wx += b
            vx += c
        y = (wx * vx) @ P.T
        X = X + y if residual else y
    return X


def chebyshev_nodes(count: int) -> np.ndarray:
    """The best-conditioned choice of α values on [-1, 1] for interpolation."""
    return np.cos(np.pi * (np.arange(count) + 0.5) / count)


def vandermonde_coefficients(layers: Sequence[Weights], x: np.ndarray, s: np.ndarray, *, residual: bool,
                             degree: int) -> tuple[np.ndarray, float]:
    """α-coefficients ``(D+1, …, d_out)`` from D+1 forward passes (run as one batch, the fastest
    way) and a Vandermonde solve; and the system's condition number."""
    x, s = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(s, dtype=np.float64))
    nodes = chebyshev_nodes(degree + 1)
    X = x[None] + nodes.reshape(-1, *([1] * x.ndim)) * s[None]
    Y = float_forward(layers, X.reshape(-1, x.shape[-1]), residual=residual)
    Y = Y.reshape(degree + 1, -1)
    vander = np.vander(nodes, degree + 1, increasing=True)  # vander[j, m] = node_j ** m
    coeffs = np.linalg.solve(vander, Y)
    return coeffs.reshape((degree + 1,) + x.shape[:-1] + (-1,)), float(np.linalg.cond(vander))


# -- the long-double reference ----------------------------------------------------------------


def longdouble_coefficients(layers: Sequence[Weights], x: np.ndarray, s: np.ndarray, *, residual: bool,
                            max_order: int) -> np.ndarray:
    """The α-coefficient recursion ``e_m = Σ_{i+j=m} P((W c_i + [i=0] b) ⊙ (V c_j + [j=0] c))``
    in ``np.longdouble`` (64-bit mantissa on x86-64): an independent, more precise reference."""
    ld = np.longdouble
    cs = [np.asarray(x, dtype=ld), np.asarray(s, dtype=ld)][: max_order + 1]
    for W, V, P, b, c in layers:
        W, V, P = (np.asarray(a, dtype=ld) for a in (W, V, P))
        wc, vc = [ci @ W.T for ci in cs], [ci @ V.T for ci in cs]
        if b is not None:
            wc[0] = wc[0] + np.asarray(b, dtype=ld)
            vc[0] = vc[0] + np.asarray(c, dtype=ld)
        deg = len(cs) - 1
        out = []
        for m in range(min(max_order, 2 * deg) + 1):
            g = sum(wc[i] * vc[m - i] for i in range(max(0, m - deg), min(m, deg) + 1))
            out.append(g @ P.T)
        if residual:
            out = [o + cs[m] if m < len(cs) else o for m, o in enumerate(out)]
        cs = out
    return np.stack(cs)


def coefficient_errors(value: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per coefficient vector (one α-order, one batch row): ``max_k |v − r| / max_k |r|``."""
    ref = np.asarray(reference, dtype=np.longdouble)
    diff = np.abs(np.asarray(value, dtype=np.longdouble) - ref).max(axis=-1)
    scale = np.abs(ref).max(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(scale > 0, diff / np.where(scale > 0, scale, 1), np.where(diff > 0, np.inf, 0))
    return err.astype(np.float64)
