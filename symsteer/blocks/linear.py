"""The linear (affine) block ``y = M x + t``: the embedding E, the unembedding U, head and
output biases, linear layers between blocks, and norms that fold at inference."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy
from fractions import Fraction  # noqa: F401  (the doctest)

from ..errors import ShapeError
from ..numbers import EXACT, Numbers  # noqa: F401  (EXACT: the doctest)
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

    @classmethod
    def batchnorm(cls, mean: Any, var: Any, *, weight: Any = None, bias: Any = None, eps: Any = 0, name: str = "batchnorm") -> Linear:
        """BatchNorm in eval mode (running statistics), folded: ``(x − μ) / √(σ² + ε) · γ + β``.
        Exact when every ``σ² + ε`` is the square of a rational (then ``√`` is exact), float64
        otherwise. A static rms is ``mean=0, var=rms², eps=0``; a fixed scalar c is ``Linear.diagonal([c] * d)``.

        >>> Linear.batchnorm([1], [Fraction(9, 4)], eps=0).forward(np.array([4], dtype=object), numbers=EXACT).tolist()
        [2]
        """
        mean = as_weight_array(mean, f"{name}.mean", ndim=1)
        var = as_weight_array(var, f"{name}.var", ndim=1)
        d = len(mean)
        gamma = as_weight_array(weight if weight is not None else [1] * d, f"{name}.weight", ndim=1)
        beta = as_weight_array(bias if bias is not None else [0] * d, f"{name}.bias", ndim=1)
        if not len(var) == len(gamma) == len(beta) == d:
            raise ShapeError(f"{name}: mean, var, weight, bias have lengths {len(mean)}, {len(var)}, {len(gamma)}, {len(beta)}; expected one width")
        root = [_sqrt(v + eps, f"{name}.var + eps") for v in var]
        scale = [g / r for g, r in zip(gamma, root)]
        shift = [b - m * c for b, m, c in zip(beta, mean, scale)]
        return cls.diagonal(scale, shift, name=name)

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

    def __repr__(self) -> str:
        """Short: what the block is, not its weights (they are attributes)."""
        return f"{type(self).__name__}({self.describe()})"

    def rational(self, num: np.ndarray, den: np.ndarray, *, numbers: Numbers) -> tuple[np.ndarray, np.ndarray]:
        """``M num/den + t = (M num + t den) / den``."""
        a = self.weights(numbers)
        out = numbers.apply(a["M"], num)
        if a["bias"] is not None:
            out = poly_add(out, den[:, None] * a["bias"], numbers)
        return out, den

    def describe(self) -> str:
        return f"linear {self.d_in} → {self.d_out}" + (", bias" if self.has_bias else "")


def _sqrt(value: Any, name: str) -> Any:
    """√value: exact for the square of a rational, float64 otherwise."""
    if isinstance(value, (float, np.floating)):
        if value <= 0:
            raise ShapeError(f"{name} = {value}; expected a positive number")
        return float(np.sqrt(value))
    value = sympy.nsimplify(value) if not isinstance(value, sympy.Basic) else value
    if not value.is_positive:
        raise ShapeError(f"{name} = {value}; expected a positive number")
    root = sympy.sqrt(value)
    return root if root.is_Rational else float(root)
