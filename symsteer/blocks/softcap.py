"""The logit softcap ``c · tanh(y / c)`` of the modded-nanogpt language models (c = 30).

It is monotone (so the argmax of the logits is unchanged) and not a polynomial: the block runs
in float64 and in ball numbers (certified enclosures) and gives the α-series of its output by
the recurrence of ``t = tanh(w)``: ``t' = (1 − t²) w'``, i.e.
``m t_m = Σ_{j=1..m} j w_j (δ_{m−j,0} − (t²)_{m−j})`` with ``w = y / c``. The series of tanh
about ``w_0`` converges while ``|w(α) − w_0|`` stays below the distance to tanh's nearest pole
``w_0 ± iπ/2`` (at least π/2).

>>> from symsteer.numbers import FLOAT
>>> Softcap(2, cap=30).forward(np.array([0.0, 30.0]), numbers=FLOAT).round(6).tolist()
[0.0, 22.847825]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..numbers import BranchError, Centered, Numbers
from .base import SameWidth, as_scalar

__all__ = ["Softcap", "tanh_series"]


def _tanh(u: np.ndarray, numbers: Numbers, name: str) -> np.ndarray:
    if numbers.name == "float":
        return np.tanh(u)
    flat = np.ravel(u)
    if numbers.roots and flat.size and all(hasattr(v, "tanh") or isinstance(v, Centered) for v in flat):
        out = np.empty(np.shape(u), dtype=object)
        out.ravel()[:] = [_centred_tanh(v, name) if isinstance(v, Centered) else v.tanh() for v in flat]
        return out if out.ndim else out[()]
    raise ShapeError(f"{name}: the softcap c·tanh(y/c) is not rational; {numbers.name} numbers cannot hold it: use float64")


def _centred_tanh(q: Centered, name: str) -> Centered:
    """tanh in the mean-value form: ``tanh(q(c))`` and the slope ``(1 − tanh²) q'`` over the box
    (refused when the box may hold one of tanh's poles ``iπ(k + ½)``)."""
    t = q.enclosure().tanh()
    if not t.is_finite():
        raise BranchError(f"{name}: tanh of {q.enclosure()} may meet a pole (iπ/2 + iπk); nothing is certified there")
    return Centered(q.v.tanh(), q.d * (1 - t * t), q.delta)


def tanh_series(w: np.ndarray, *, top: int, numbers: Numbers, name: str = "softcap") -> np.ndarray:
    """The α-series of ``tanh(w(α))`` to order ``top`` for ``w = Σ_j w_j α^j`` (orders on axis 0).

    >>> from symsteer.numbers import FLOAT
    >>> (tanh_series(np.array([[0.0], [1.0]]), top=5, numbers=FLOAT).ravel().round(6) + 0.0).tolist()  # tanh α
    [0.0, 1.0, 0.0, -0.333333, 0.0, 0.133333]
    """
    t = [_tanh(w[0], numbers, name)]
    square: list[Any] = [t[0] * t[0]]  # (t²)_m, grown as the t_m appear
    for m in range(1, top + 1):
        acc = None
        for j in range(1, min(m, len(w) - 1) + 1):
            factor = (1 - square[0]) if m == j else -square[m - j]
            term = w[j] * factor * float(j)
            acc = term if acc is None else acc + term
        t.append(acc / m if acc is not None else t[0] * 0)  # / m, not * (1/m): a rounded 1/m would break ball runs
        square.append(sum((t[i] * t[m - i] for i in range(m + 1)), start=t[0] * 0))
    return np.stack(t)


@dataclass(frozen=True, eq=False)
class Softcap(SameWidth):
    """``y ↦ cap · tanh(y / cap)`` entry by entry (per position)."""

    width: int
    cap: Any = field(default=30, kw_only=True)
    name: str = field(default="softcap", kw_only=True)

    polynomial = False  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self._check_width()
        cap = as_scalar(self.cap, f"{self.name}.cap")
        if not float(cap) > 0:
            raise ShapeError(f"{self.name}.cap = {cap}; expected a positive number (30 in the research code)")
        object.__setattr__(self, "cap", cap)

    def arrays(self) -> dict[str, Any]:
        return {"cap": np.asarray([self.cap], dtype=np.float64 if isinstance(self.cap, float) else object)}

    def _cap(self, numbers: Numbers) -> Any:
        return numbers.weights(self, {"cap": np.asarray([self.cap], dtype=object)})["cap"][0]

    def forward(self, x: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        self._check_input(x)
        cap = self._cap(numbers)
        return _tanh(x * (1 / cap), numbers, self.name) * cap

    def propagate(self, cs: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
        """``cap · tanh(y(α)/cap)`` to order ``top`` (:func:`tanh_series`)."""
        self._check_input(cs, "the coefficients")
        cap = self._cap(numbers)
        return tanh_series(cs[: top + 1] * (1 / cap), top=top, numbers=numbers, name=self.name) * cap

    def degree(self, k: int) -> None:
        return None  # not a polynomial

    def cost(self, rows: int, orders: int) -> int:
        return orders * orders * rows * self.width  # the recurrence's sums over orders

    def rational(self, num: np.ndarray, den: np.ndarray, *, numbers: Numbers) -> tuple[np.ndarray, np.ndarray]:
        raise ShapeError(f"{self.name}: c·tanh(y/c) is not a rational function of alpha")

    def describe(self) -> str:
        return f"softcap {self.cap}·tanh(y/{self.cap}) on {self.width} outputs"

