"""Per-sample RMSNorm, ``n(x) = g ⊙ x / r(x)`` with ``r² = ‖x‖²/d + ε``, in two blocks.

:class:`RMSNorm` is the norm on its own, anywhere (before attention, QK-norm, the final norm):
the value path keeps an odd power of ``r``, so the output is algebraic in α (a square root of a
polynomial), not rational. It runs in float64 and in ball numbers; its α-series comes from the
recurrence for ``u^(-1/2)`` and converges inside the nearest complex zero of ``r²(α)``
(:mod:`symsteer.series` certifies a radius and a truncation bound).

:class:`NormedBilinear` is the norm feeding a bias-free bilinear layer: since B is homogeneous
of degree 2, ``B(g ⊙ x / r) = B(g ⊙ x) / r²``; no square root is left, and a stack of such
pre-norm blocks is an exact rational function of α (:mod:`symsteer.rational`). Norms that fold
at inference (fixed scalars, a static or running rms, BatchNorm in eval mode) are neither: they
are :meth:`Linear.diagonal`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..numbers import Numbers, PolyRing
from .base import Block, SameWidth, as_scalar, as_weight_array, cauchy, poly_add, poly_scale, scalar
from .bilinear import Bilinear

__all__ = ["RMSNorm", "NormedBilinear", "norm_parameters"]


def norm_parameters(gain: Any, eps: Any, width: int, name: str) -> tuple[np.ndarray | None, Any]:
    """A norm's gain (None, or ``(width,)`` weights) and ε ≥ 0, checked."""
    if gain is not None:
        gain = as_weight_array(gain, f"{name}.gain", ndim=1)
        if gain.shape != (width,):
            raise ShapeError(f"{name}.gain has shape {gain.shape}; expected ({width},)")
    eps = as_scalar(eps, f"{name}.eps")
    if float(eps) < 0:
        raise ShapeError(f"{name}.eps = {eps}; expected ε ≥ 0")
    return gain, eps


def _refuse_exact(name: str, numbers: Numbers) -> None:
    if not numbers.roots:
        raise ShapeError(
            f"{name}: a per-sample RMSNorm divides by r = √(mean(x²) + ε), a square root, which {numbers.name} numbers "
            "cannot hold; use float64 (FLOAT), or certified ball numbers (symsteer.series); a norm right before a "
            "bias-free bilinear layer is exact rational as NormedBilinear"
        )


def rsqrt_series(u: np.ndarray, *, top: int, numbers: Numbers, what: str) -> np.ndarray:
    """The α-series of ``u^(-1/2)`` to order ``top`` for ``u = Σ_j u_j α^j`` (orders on axis 0),
    ``u_0`` positive: from ``u w' = -½ u' w``, ``m u_0 w_m = Σ_{j=1..m} (−j/2 − (m−j)) u_j w_{m−j}``.

    >>> from symsteer.numbers import FLOAT
    >>> (rsqrt_series(np.array([4.0, 0.0, 1.0]), top=4, numbers=FLOAT, what="u") + 0.0).tolist()  # (4 + α²)^(-1/2)
    [0.5, 0.0, -0.0625, 0.0, 0.01171875]
    """
    w = [numbers.rsqrt(u[0], what)]
    inv = 1 / u[0]
    for m in range(1, top + 1):
        acc = None
        for j in range(1, min(m, len(u) - 1) + 1):
            term = u[j] * w[m - j] * (j - 2 * m)  # 2(−j/2 − (m−j)), halved below
            acc = term if acc is None else acc + term
        # integers only: 1/(2m) as a float would round, and a ball run must not
        w.append(acc * inv / (2 * m) if acc is not None else w[0] * 0)
    return np.stack(w)


@dataclass(frozen=True, eq=False)
class RMSNorm(SameWidth):
    """``n(x) = g ⊙ x / √(mean(x²) + ε)`` at each position (last axis), g optional.

    >>> from symsteer.numbers import FLOAT
    >>> RMSNorm(2).forward(np.array([3.0, 4.0]), numbers=FLOAT).round(6).tolist()   # r = √12.5
    [0.848528, 1.131371]
    """

    width: int
    gain: Any = field(default=None, kw_only=True)
    eps: Any = field(default=Fraction(0), kw_only=True)
    name: str = field(default="norm", kw_only=True)

    polynomial = False  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self._check_width()
        gain, eps = norm_parameters(self.gain, self.eps, self.width, self.name)
        object.__setattr__(self, "gain", gain)
        object.__setattr__(self, "eps", eps)

    def arrays(self) -> dict[str, Any]:
        return {"gain": self.gain, "eps": np.asarray([self.eps], dtype=np.float64 if isinstance(self.eps, float) else object)}

    def _own(self, numbers: Numbers) -> tuple[Any, Any, Any]:
        _refuse_exact(self.name, numbers)
        a = numbers.weights(self, {"gain": self.gain, "eps": np.asarray([self.eps], dtype=object)})
        return a["gain"], a["eps"][0], numbers.entry(Fraction(1, self.width))

    def forward(self, x: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        """``g ⊙ x / √(‖x‖²/d + ε)``."""
        self._check_input(x)
        gain, eps, inv_d = self._own(numbers)
        with np.errstate(over="ignore", invalid="ignore"):
            u = (x * x).sum(axis=-1, keepdims=True) * inv_d + eps
        if u.dtype == np.float64 and not np.all(np.isfinite(u)):  # 1/√inf = 0 would be silent garbage
            raise ShapeError(f"{self.name}: mean(x²) overflows float64 (|x| up to {float(np.max(np.abs(x))):.3g}); "
                             "expected a stream below about 1e154 (the weights or alpha are too large for float64)")
        out = x * numbers.rsqrt(u, f"{self.name}: mean(x²) + ε")
        return out * gain if gain is not None else out

    def propagate(self, cs: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
        """The Taylor coefficients of ``g ⊙ x(α) · u(α)^(-1/2)``, ``u = ‖x(α)‖²/d + ε``, to
        order ``top`` (:func:`rsqrt_series`); refused when ``u(0)`` is not positive."""
        self._check_input(cs, "the coefficients")
        gain, eps, inv_d = self._own(numbers)
        cs = cs[: top + 1]
        with np.errstate(over="ignore", invalid="ignore"):
            u = cauchy(cs, cs, top=top, numbers=numbers).sum(axis=-1, keepdims=True) * inv_d
        u[0] = u[0] + eps
        if u.dtype == np.float64 and not np.all(np.isfinite(u)):
            raise ShapeError(f"{self.name}: the α-series of mean(x²) overflows float64; expected a smaller stream, "
                             "steering vector or max_order")
        w = rsqrt_series(u, top=top, numbers=numbers,
                         what=f"{self.name}: mean(x²) + ε at α = 0 (the α-series of 1/r exists only where it is positive)")
        out = cauchy(cs * gain if gain is not None else cs, w, top=top, numbers=numbers)
        return out

    def degree(self, k: int) -> None:
        return None  # algebraic in α: no polynomial degree

    def cost(self, rows: int, orders: int) -> int:
        # the squared norm's order convolution, the series of u^(-1/2), and x times it
        return orders * orders * rows * (2 * self.width + 1)

    def at_infinity(self, c: np.ndarray, *, numbers: Numbers) -> tuple[np.ndarray, Any]:
        """The limit of ``n(y(α))`` when ``y(α) = α^p (c + o(1))``, c ≠ 0, as ``(g ⊙ c, ‖c‖²/d)``:
        the value is the first over the square root of the second (ε = 0: n is scale invariant, so
        only the direction c matters; kept as a pair, the square root stays exact)."""
        if self.eps != 0:
            raise ShapeError(f"{self.name}: the limit at large alpha is written for ε = 0; this norm has ε = {self.eps}")
        a = numbers.weights(self, {"gain": self.gain})
        inv_d = numbers.entry(Fraction(1, self.width))
        r2 = sum((e * e for e in c[1:]), c[0] * c[0]) * inv_d
        return (c * a["gain"] if a["gain"] is not None else c), r2

    def rational(self, num: np.ndarray, den: np.ndarray, *, numbers: Numbers) -> tuple[np.ndarray, np.ndarray]:
        raise ShapeError(f"{self.name}: a per-sample RMSNorm on its own is x/√(…), not a rational function of alpha; "
                         "only a norm right before a bias-free bilinear layer (NormedBilinear) is rational")

    def describe(self) -> str:
        return f"RMSNorm {self.width} (ε = {self.eps}{', gain' if self.gain is not None else ''})"


@dataclass(frozen=True, eq=False)
class NormedBilinear(Block):
    """``B(RMSNorm(x))`` with ``RMSNorm(x) = g ⊙ x / √(‖x‖²/d + ε)`` and B bias-free.

    >>> from symsteer.numbers import EXACT
    >>> block = NormedBilinear(Bilinear([[1, 0]], [[1, 0]], [[1]]), eps=0)
    >>> block.forward(EXACT.vector([3, 4], "x", 2), numbers=EXACT).tolist()   # 9 / (25/2)
    [18/25]
    """

    inner: Bilinear
    gain: Any = field(default=None, kw_only=True)
    eps: Any = field(default=Fraction(0), kw_only=True)
    name: str = field(default="", kw_only=True)

    polynomial = False  # type: ignore[assignment]

    def __post_init__(self) -> None:
        put = object.__setattr__
        if not isinstance(self.inner, Bilinear):
            raise ShapeError(f"NormedBilinear wraps a {type(self.inner).__name__}; expected a Bilinear layer")
        if self.inner.has_bias:
            raise ShapeError(
                f"{self.inner.name}: a per-sample norm before a bilinear layer with biases is not a rational function of alpha "
                "(B(x/r) keeps a 1/r term); expected a bias-free layer"
            )
        if not self.name:
            put(self, "name", self.inner.name)
        if self.gain is not None:
            gain = as_weight_array(self.gain, f"{self.name}.gain", ndim=1)
            if gain.shape != (self.inner.d_in,):
                raise ShapeError(f"{self.name}.gain has shape {gain.shape}; expected ({self.inner.d_in},)")
            put(self, "gain", gain)
        eps = as_scalar(self.eps, f"{self.name}.eps")
        if float(eps) < 0:
            raise ShapeError(f"{self.name}.eps = {eps}; expected ε ≥ 0")
        put(self, "eps", eps)

    @property
    def d_in(self) -> int:
        return self.inner.d_in

    @property
    def d_out(self) -> int:
        return self.inner.d_out

    def arrays(self) -> dict[str, Any]:
        return {"gain": self.gain, "eps": np.asarray([self.eps], dtype=object if not isinstance(self.eps, float) else float),
                **{f"inner.{k}": v for k, v in self.inner.arrays().items()}}

    def _own(self, numbers: Numbers, *, divides: bool = True) -> tuple[Any, Any, Any]:
        if divides and isinstance(numbers, PolyRing):
            raise ShapeError(f"{self.name}: a per-sample norm divides by a polynomial; polynomial rings cannot hold the result. "
                             "Use exact numbers (its Taylor coefficients, or symsteer.rational for the exact rational function)")
        a = numbers.weights(self, {"gain": self.gain, "eps": np.asarray([self.eps], dtype=object)})
        return a["gain"], a["eps"][0], numbers.entry(Fraction(1, self.d_in))

    def forward(self, x: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        """``B(g ⊙ x) / (‖x‖²/d + ε)``."""
        self._check_input(x)
        gain, eps, inv_d = self._own(numbers)
        y = self.inner.forward(x * gain if gain is not None else x, numbers=numbers)
        r2 = (x * x).sum(axis=-1, keepdims=True) * inv_d + eps
        if np.any(r2 == 0):
            raise ShapeError(f"{self.name}: the norm of the stream is 0 and ε = 0; the block is undefined there")
        return y / r2

    def propagate(self, cs: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
        """The Taylor coefficients of ``N(α) / D(α)`` to order ``top``: ``N`` the bilinear layer's
        coefficients on ``g ⊙ x(α)``, ``D = ‖x(α)‖²/d + ε``, by power-series division."""
        self._check_input(cs, "the coefficients")
        gain, eps, inv_d = self._own(numbers)
        N = self.inner.propagate(cs * gain if gain is not None else cs, top=top, numbers=numbers)
        D = cauchy(cs, cs, top=top, numbers=numbers).sum(axis=-1, keepdims=True) * inv_d
        D[0] = D[0] + eps
        if np.any(D[0] == 0):
            raise ShapeError(f"{self.name}: ‖x‖²/d + ε = 0 at α = 0; the series about α = 0 does not exist")
        q: list[np.ndarray] = []
        for m in range(top + 1):
            acc = N[m] if m < len(N) else N[0] * 0
            for i in range(1, min(m, len(D) - 1) + 1):
                acc = acc - D[i] * q[m - i]
            q.append(acc / D[0])
        return np.stack(q)

    def degree(self, k: int) -> None:
        return None  # a rational function of α: no polynomial degree

    def cost(self, rows: int, orders: int) -> int:
        # the layer, the squared norm's convolution and the series division
        return self.inner.cost(rows, orders) + orders * orders * rows * (self.d_in + self.d_out)

    def rational(self, num: np.ndarray, den: np.ndarray, *, numbers: Numbers) -> tuple[np.ndarray, np.ndarray]:
        """``x = num/den`` ↦ ``B(g ⊙ num) / (‖num‖²/d + ε den²)`` (the den² cancels; no division,
        so polynomial rings hold it too)."""
        gain, eps, inv_d = self._own(numbers, divides=False)
        top = 1 << 30
        n, _ = self.inner.rational(num * gain if gain is not None else num, den, numbers=numbers)
        # 1/d and eps as 0-d arrays: numpy would unpack a polynomial ring's entry (a sequence of terms)
        norm = cauchy(num, num, top=top, numbers=numbers).sum(axis=-1) * scalar(inv_d)
        return n, poly_add(norm, poly_scale(cauchy(den, den, top=top, numbers=numbers), scalar(eps)), numbers)

    def describe(self) -> str:
        return f"bilinear {self.d_in} → {self.d_out} after a per-sample RMSNorm (ε = {self.eps})"
