"""The steered output of a network with per-sample norms as an exact rational function of α.

``f_n(x_n + α s) = N(α) / D(α)``: each block maps its input ``num/den`` to ``num'/den'``
(its ``rational`` method), and common factors are cancelled after every block, so the roots of
``D`` are the poles. From it: the Taylor coefficients about α = 0 to any order (they agree with
:func:`symsteer.coefficients`), their radius of convergence (the smallest modulus of a root of
``D``; for the first norm ``√(‖x_n‖² + d ε) / ‖s‖``), and the large-α limit.

The input / cross / self split is defined for polynomial networks; for normed ones the series
and the limit are what is meaningful, and the split is refused with a message.

>>> from fractions import Fraction
>>> from symsteer import Network
>>> from symsteer.blocks import Bilinear, NormedBilinear, Residual
>>> net = Network([Residual.add(NormedBilinear(Bilinear([[1, 0], [0, 1]], [[1, 0], [0, 1]], [[1, 0], [0, 1]]), eps=1))])
>>> form = rational_form(net, x_n=[1, 0], s=[0, 1], steer_at=0)
>>> form.radius()   # √(‖x‖² + d ε)/‖s‖ = √3
1.7320508075688772
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ._coefficients import _stream_at
from .errors import ShapeError
from .network import Network
from .numbers import EXACT, exact_number

try:
    import flint
except ImportError:  # pragma: no cover - python-flint is a dependency
    flint = None

__all__ = ["RationalForm", "rational_form"]


def _poly(coeffs: Any) -> Any:
    return flint.fmpq_poly([exact_number(c) for c in coeffs])


@dataclass(frozen=True, eq=False)
class RationalForm:
    """``y_k(α) = numerators[k](α) / denominator(α)`` in lowest terms (exact rationals)."""

    numerators: tuple[Any, ...]
    denominator: Any

    def __call__(self, alpha: Any) -> list[Fraction]:
        """The output at a rational α, exactly."""
        a = exact_number(alpha)
        den = self.denominator(a)
        if den == 0:
            raise ShapeError(f"alpha = {alpha} is a pole of the steered output (the denominator vanishes)")
        return [_fraction(n(a) / den) for n in self.numerators]

    def series(self, order: int) -> list[list[Fraction]]:
        """The Taylor coefficients about α = 0 up to ``order``: rows by order, columns by output."""
        d = [_fraction(c) for c in self.denominator.coeffs()]
        if not d or d[0] == 0:
            raise ShapeError("the denominator vanishes at alpha = 0: the output has no Taylor series there")
        out = []
        for n in self.numerators:
            c = [_fraction(v) for v in n.coeffs()]
            q: list[Fraction] = []
            for m in range(order + 1):
                acc = c[m] if m < len(c) else Fraction(0)
                for i in range(1, min(m, len(d) - 1) + 1):
                    acc -= d[i] * q[m - i]
                q.append(acc / d[0])
            out.append(q)
        return [list(row) for row in zip(*out)]

    def poles(self) -> list[complex]:
        """The roots of the denominator (the poles: common factors are cancelled), to double precision."""
        if self.denominator.degree() < 1:
            return []
        return [complex(r) for r, mult in self.denominator.complex_roots() for _ in range(mult)]

    def radius(self) -> float:
        """The radius of convergence of the series about α = 0: the smallest |pole| (inf for a polynomial)."""
        poles = self.poles()
        return min(abs(p) for p in poles) if poles else float("inf")

    def limit(self) -> list[Fraction | float]:
        """``lim_{α→∞} y_k(α)``: the ratio of leading coefficients when the degrees agree, 0 when the
        numerator's is lower, ±inf (the sign of the ratio of leading coefficients) when higher."""
        dd, lead = self.denominator.degree(), _fraction(self.denominator.coeffs()[-1])
        out: list[Fraction | float] = []
        for n in self.numerators:
            nd = n.degree()
            if nd < dd:  # includes the zero polynomial (degree -1)
                out.append(Fraction(0))
            elif nd == dd:
                out.append(_fraction(n.coeffs()[-1]) / lead)
            else:
                out.append(float("inf") if _fraction(n.coeffs()[-1]) / lead > 0 else float("-inf"))
        return out


def _fraction(value: Any) -> Fraction:
    return Fraction(int(value.p), int(value.q)) if hasattr(value, "p") else Fraction(value)


def rational_form(network: Network, *, s: Any, steer_at: int, x: Any = None, x_n: Any = None) -> RationalForm:
    """The steered output for ``x_n → x_n + α s`` as an exact rational function of α (one input:
    ``x`` the network input, or ``x_n`` the stream at ``steer_at``)."""
    if flint is None:  # pragma: no cover
        raise ShapeError("the rational form needs python-flint")
    if network.field != "rational":
        raise ShapeError(f"the rational form needs exact weights; this network has {network.field} weights")
    n = network.check_steer_at(steer_at)
    xs = _stream_at(network, n, x, x_n, EXACT)
    if xs.ndim != 1:
        raise ShapeError(f"x has shape {xs.shape}; the rational form takes one input vector at a time")
    num = np.stack([xs, EXACT.vector(s, "s", network.width_at(n))])
    den = EXACT.array(np.array([1], dtype=object))
    for block in network.blocks[network.block_at(n):]:
        num, den = block.rational(num, den, numbers=EXACT)
        num, den = _lowest_terms(num, den)
    polys = tuple(_poly(num[:, k]) for k in range(num.shape[1]))
    return RationalForm(polys, _poly(den))


def _lowest_terms(num: np.ndarray, den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cancel the common factor of the denominator and every numerator, and scale so that the
    denominator's lowest nonzero coefficient is 1 (the arrays stay short as blocks compose)."""
    d = _poly(den)
    nums = [_poly(num[:, k]) for k in range(num.shape[1])]
    g = d
    for p in nums:
        if g.degree() < 1:
            break
        g = g.gcd(p)
    if g.degree() >= 1:
        d = d // g
        nums = [p // g for p in nums]
    low = next(c for c in d.coeffs() if c != 0)
    d, nums = d / low, [p / low for p in nums]
    width = max([d.degree()] + [p.degree() for p in nums]) + 1
    pad = lambda p: [exact_number(c) for c in p.coeffs()] + [exact_number(0)] * (width - len(p.coeffs()))  # noqa: E731
    out = np.empty((width, len(nums)), dtype=object)
    for k, p in enumerate(nums):
        out[:, k] = pad(p)
    dens = np.empty(d.degree() + 1, dtype=object)
    dens[:] = [exact_number(c) for c in d.coeffs()]
    return out, dens
