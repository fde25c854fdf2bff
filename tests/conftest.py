"""Shared fixtures and the independent reference the tests compare symsteer against."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import sympy


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: every test sees the same numbers on every run."""
    return np.random.default_rng(20261125)


def _frac(v: Any) -> Fraction:
    if isinstance(v, sympy.Basic):
        return Fraction(int(v.p), int(v.q)) if v.is_Rational else v  # symbols stay symbols
    return Fraction(v) if not isinstance(v, float) else Fraction(v)


def _mat(arr: np.ndarray | None) -> list[list[Fraction]] | None:
    if arr is None:
        return None
    return [[_frac(v) for v in row] for row in np.asarray(arr, dtype=object)]


def reference_output(network: Any, x: list[Any], *, steer_at: int | None = None, s: list[Any] | None = None, alpha: Any = 0) -> list[Any]:
    """The steered output by the definition, in plain Python lists over Fractions or sympy
    expressions: written from docs/mathematics.md, sharing no code with symsteer's numeric core."""

    def matvec(M: list[list[Any]], v: list[Any]) -> list[Any]:
        return [sum((m * vi for m, vi in zip(row, v)), 0) for row in M]

    cur = list(x)
    if network.embed is not None:
        cur = matvec(_mat(network.embed), cur)
    for l in range(network.depth + 1):
        if steer_at == l:
            cur = [c + alpha * si for c, si in zip(cur, s)]
        if l == network.depth:
            break
        layer = network.layers[l]
        wx, vx = matvec(_mat(layer.W), cur), matvec(_mat(layer.V), cur)
        if layer.b is not None:
            wx = [a + _frac(b) for a, b in zip(wx, layer.b)]
            vx = [a + _frac(c) for a, c in zip(vx, layer.c)]
        y = matvec(_mat(layer.P), [a * b for a, b in zip(wx, vx)])
        cur = [c + d for c, d in zip(cur, y)] if network.residual else y
    if network.unembed is not None:
        cur = matvec(_mat(network.unembed), cur)
    return cur


def reference_coefficients(network: Any, x: list[Any], s: list[Any], steer_at: int) -> list[list[Fraction]]:
    """α-coefficients of :func:`reference_output` via sympy's Poly in α (degree bound + 1 rows)."""
    alpha = sympy.Symbol("alpha")
    xs = [sympy.Rational(_frac(v).numerator, _frac(v).denominator) for v in x]
    ss = [sympy.Rational(_frac(v).numerator, _frac(v).denominator) for v in s]
    out = reference_output(network, xs, steer_at=steer_at, s=ss, alpha=alpha)
    top = 2 ** (network.depth - steer_at)
    rows = [[Fraction(0)] * len(out) for _ in range(top + 1)]
    for k, expr in enumerate(out):
        poly = sympy.Poly(sympy.expand(expr), alpha)
        for (m,), c in poly.terms():
            assert m <= top, f"degree {m} exceeds the bound {top}"
            rows[m][k] = Fraction(int(c.p), int(c.q))
    return rows


def as_fractions(arr: Any) -> list:
    """Exact entries (fmpq, Fraction, sympy) as nested lists of Fractions."""
    def conv(v: Any) -> Fraction:
        if hasattr(v, "p") and hasattr(v, "q"):
            return Fraction(int(v.p), int(v.q))
        return Fraction(v)

    return np.vectorize(conv, otypes=[object])(np.asarray(arr, dtype=object)).tolist()
