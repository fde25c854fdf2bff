"""The linear (affine) block ``y = M x + t``: the embedding E, the unembedding U, head and
output biases, linear layers between blocks, and norms that fold at inference."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..numbers import Numbers
from .base import Block, as_weight_array, poly_add

__all__ = ["Linear"]


@dataclass(frozen=True, eq=False)
class Linear(Block):
    """``y = M x + t`` (``t`` optional): ``M`` of shape ``(d_out, d_in)``.

    >>> from symsteer.numbers import EXACT
    >>> Linear([[1, 2]], bias=[3]).forward(EXACT.vector([1, 1], "x", 2), numbers=EXACT).tolist()
    [6]
    """

    M: np.ndarray
    bias: np.ndarray | None = field(default=None, kw_only=True)
    name: str = field(default="linear", kw_only=True)

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "M", as_weight_array(self.M, f"{self.name}.M", ndim=2))
        if self.bias is not None:
            bias = as_weight_array(self.bias, f"{self.name}.bias", ndim=1)
            if bias.shape != (self.M.shape[0],):
                raise ShapeError(f"{self.name}.bias has shape {bias.shape}; expected ({self.M.shape[0]},), the output width")
            put(self, "bias", bias)

    @classmethod
    def diagonal(cls, scale: Any, shift: Any = None, *, name: str = "norm") -> Linear:
        """``y = scale ⊙ x + shift``: a norm folded at inference (a fixed scalar, a static or
        running rms, BatchNorm in eval mode), exact when its numbers are."""
        scale = as_weight_array(scale, f"{name}.scale", ndim=1)
        M = np.zeros((len(scale), len(scale)), dtype=scale.dtype)
        if M.dtype == object:
            M[:] = 0
        M[np.arange(len(scale)), np.arange(len(scale))] = scale
        return cls(M, bias=shift, name=name)

    @property
    def d_in(self) -> int:
        return self.M.shape[1]

    @property
    def d_out(self) -> int:
        return self.M.shape[0]

    @property
    def has_bias(self) -> bool:
        return self.bias is not None

    def arrays(self) -> dict[str, np.ndarray | None]:
        return {"M": self.M, "bias": self.bias}

    def forward(self, x: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        self._check_input(x)
        a = self.weights(numbers)
        y = numbers.apply(a["M"], x)
        return y + a["bias"] if a["bias"] is not None else y

    def propagate(self, cs: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
        """``M c_m`` for every order, and the bias added to order 0 only."""
        self._check_input(cs, "the coefficients")
        a = self.weights(numbers)
        out = numbers.apply(a["M"], cs[: top + 1])
        if a["bias"] is not None:
            out[0] += a["bias"]
        return out

    def degree(self, k: int) -> int:
        return k

    def rational(self, num: np.ndarray, den: np.ndarray, *, numbers: Numbers) -> tuple[np.ndarray, np.ndarray]:
        """``M num/den + t = (M num + t den) / den``."""
        a = self.weights(numbers)
        out = numbers.apply(a["M"], num)
        if a["bias"] is not None:
            out = poly_add(out, den[:, None] * a["bias"], numbers)
        return out, den

    def describe(self) -> str:
        return f"linear {self.d_in} → {self.d_out}" + (", bias" if self.has_bias else "")
