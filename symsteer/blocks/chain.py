"""Blocks applied one after another as one block: a pre-norm sublayer is
``Residual.add(Chain(RMSNorm(d), inner))``, ``x + inner(n(x))`` (:func:`prenorm` builds it).

>>> from symsteer.blocks import Linear, Residual, RMSNorm
>>> from symsteer.numbers import FLOAT
>>> block = prenorm(Linear([[1, 0], [0, 1]]))            # x + x / rms(x)
>>> block.forward(np.array([3.0, 4.0]), numbers=FLOAT).round(4).tolist()
[3.8485, 5.1314]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..numbers import Numbers
from .base import Block, Composite, Residual

__all__ = ["Chain", "prenorm"]


@dataclass(frozen=True, eq=False, init=False)
class Chain(Composite):
    """``parts[-1](… parts[1](parts[0](x)))``: mixes positions when any part does; polynomial
    when every part is (its degree the composition of theirs)."""

    parts: tuple[Block, ...]
    name: str = field(default="")

    def __init__(self, *parts: Block, name: str = "") -> None:
        if not parts:
            raise ShapeError("Chain() is empty; expected at least one block")
        for i, part in enumerate(parts):
            if not isinstance(part, Block):
                raise ShapeError(f"Chain part {i} is a {type(part).__name__}; expected a block")
        for i in range(1, len(parts)):
            if parts[i].d_in != parts[i - 1].d_out:
                raise ShapeError(f"Chain: {parts[i].name} takes width {parts[i].d_in}; "
                                 f"{parts[i - 1].name} before it gives width {parts[i - 1].d_out}")
        object.__setattr__(self, "parts", tuple(parts))
        object.__setattr__(self, "name", name or parts[-1].name)

    @property
    def d_in(self) -> int:
        return self.parts[0].d_in

    @property
    def d_out(self) -> int:
        return self.parts[-1].d_out

    @property
    def hidden(self) -> int:
        return max(getattr(p, "hidden", p.d_out) for p in self.parts)

    def forward(self, x: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        for part in self.parts:
            x = part.forward(x, numbers=numbers)
        return x

    def propagate(self, cs: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
        for part in self.parts:
            cs = part.propagate(cs, top=top, numbers=numbers)
        return cs

    def degree(self, k: int) -> int | None:
        return reduce(lambda d, p: None if d is None else p.degree(d), self.parts, k)

    def cost(self, rows: int, orders: int) -> int:
        return sum(p.cost(rows, orders) for p in self.parts)

    def rational(self, num: np.ndarray, den: np.ndarray, *, numbers: Numbers) -> tuple[np.ndarray, np.ndarray]:
        for part in self.parts:
            num, den = part.rational(num, den, numbers=numbers)
        return num, den

    def describe(self) -> str:
        return ", then ".join(p.describe() for p in self.parts)

    def __repr__(self) -> str:
        return f"Chain({self.describe()})"


def prenorm(inner: Block, *, eps: Any = 0, gain: Any = None, name: str = "") -> Residual:
    """``x + inner(RMSNorm(x))``: the pre-norm sublayer of a tensor transformer."""
    from .norm import RMSNorm

    label = name or inner.name
    return Residual.add(Chain(RMSNorm(inner.d_in, eps=eps, gain=gain, name=f"{label}.norm"), inner, name=label))
