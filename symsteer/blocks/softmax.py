"""Softmax attention as the research code computes it, for forward passes only.

``softmax(R q · R k / √d_h, causal) · V x`` then ``O``: not a polynomial (nor rational) in its
input, so it has no α-series here. The one analysis symsteer makes of it is the explicit choice
of freezing the pattern at the unsteered stream (:meth:`SoftmaxAttention.frozen_at`, a
:class:`~symsteer.blocks.attention.FrozenAttention`, linear in the values). The forward pass
goes through :meth:`FrozenAttention.from_softmax` on each sequence: the softmax pattern is
written once, there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import ShapeError
from ..numbers import Numbers
from .attention import FrozenAttention
from .base import Block, as_weight_array
from .rotary import Rotary

__all__ = ["SoftmaxAttention"]


@dataclass(frozen=True, eq=False)
class SoftmaxAttention(Block):
    """Causal softmax attention with ``heads`` heads (weights ``(H·d_h, d)``, ``o (d, H·d_h)``),
    RoPE when ``rotary`` is given, scores divided by ``√d_h``. Float64 forward only."""

    q: np.ndarray = field(kw_only=True)
    k: np.ndarray = field(kw_only=True)
    v: np.ndarray = field(kw_only=True)
    o: np.ndarray = field(kw_only=True)
    heads: int = field(default=1, kw_only=True)
    rotary: Rotary | None = field(default=None, kw_only=True)
    name: str = field(default="attention", kw_only=True)

    mixes_positions: ClassVar[bool] = True
    polynomial = False  # type: ignore[assignment]

    def __post_init__(self) -> None:
        for key in ("q", "k", "v", "o"):
            arr = as_weight_array(getattr(self, key), f"{self.name}.{key}", ndim=2)
            if arr.dtype == object:
                arr = arr.astype(np.float64)  # softmax is a float choice
            object.__setattr__(self, key, arr)
        d = self.q.shape[1]
        if self.k.shape != self.q.shape or self.v.shape[1] != d or self.o.shape[1] != self.v.shape[0]:
            raise ShapeError(f"{self.name}: q {self.q.shape}, k {self.k.shape}, v {self.v.shape}, o {self.o.shape}; "
                             "expected q, k of one shape (H·d_h, d), v (H·d_v, d) and o (d_out, H·d_v)")
        if isinstance(self.heads, bool) or not isinstance(self.heads, (int, np.integer)) or self.heads < 1 \
                or self.q.shape[0] % self.heads or self.v.shape[0] % self.heads:
            raise ShapeError(f"{self.name}: heads={self.heads!r}; expected a positive integer dividing {self.q.shape[0]}")
        if self.rotary is not None and self.rotary.d_head != self.q.shape[0] // self.heads:
            raise ShapeError(f"{self.name}: rotary tables for heads of width {self.rotary.d_head}; the heads have width "
                             f"{self.q.shape[0] // self.heads}")

    @property
    def d_in(self) -> int:
        return self.q.shape[1]

    @property
    def d_out(self) -> int:
        return self.o.shape[0]

    def arrays(self) -> dict[str, Any]:
        return {"q": self.q, "k": self.k, "v": self.v, "o": self.o}

    def frozen_at(self, x: Any) -> FrozenAttention:
        """This attention with its pattern frozen at the stream ``x`` (T, d) entering it."""
        return FrozenAttention.from_softmax(self.q, self.k, self.v, self.o, x, heads=self.heads, rotary=self.rotary,
                                            name=self.name)

    def forward(self, x: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        if numbers.name != "float":
            raise ShapeError(f"{self.name}: softmax attention is not rational; {numbers.name} numbers cannot hold it: use float64")
        self._check_input(x)
        if x.ndim < 2:
            raise ShapeError(f"{self.name}: input has shape {x.shape}; expected a sequence (…, T, {self.d_in})")
        rows = x.reshape(-1, *x.shape[-2:])
        out = np.stack([self.frozen_at(r).forward(r, numbers=numbers) for r in rows])
        return out.reshape(*x.shape[:-1], self.d_out)

    def propagate(self, cs: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
        raise ShapeError(f"{self.name}: softmax attention has no α-series here; analyse it with its pattern frozen at the "
                         "unsteered tokens (an explicit choice: give --tokens; the model is then rebuilt frozen)")

    def degree(self, k: int) -> None:
        return None

    def cost(self, rows: int, orders: int) -> int:
        return orders * rows * (3 * self.q.size + self.o.size + 2 * rows * self.q.shape[0])

    def describe(self) -> str:
        return f"softmax attention ({self.heads} head(s){', RoPE' if self.rotary is not None else ''}) {self.d_in} → {self.d_out}"
