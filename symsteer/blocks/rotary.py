"""Rotary position embeddings as the small tensor transformers compute them.

Position t rotates each head's query and key: ``R_t y = y · cos_t + rotate_half(y) · sin_t``,
``rotate_half([a, b]) = [−b, a]`` (halves of the head width), with the tables
``cos/sin(t · base^(−2i/d_h))``, ``i < d_h/2``, each half repeated. The research code
(loganriggs/tensor_language, tdooms/tensor-similarity) computes them in float32 with torch;
a model reproduces its own forward pass only with those very numbers, so the tables are
computed by torch when it is installed (bit for bit the research code's) and otherwise by a
float32 emulation in numpy that can differ from torch's in the last bit of a few entries.
Exact arithmetic takes the float32 values exactly: ``cos² + sin²`` is then close to, not
exactly, 1, and ``R_qᵀ R_k`` close to ``R_{k−q}``.

>>> cos, sin = Rotary(4).tables(2)
>>> cos.tolist()[0], sin.tolist()[0]
([1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..numbers import Numbers

__all__ = ["Rotary", "rotate"]

#: the longest sequence tables are built for (a (T, d_h) table each; exact entries are objects)
MAX_POSITIONS = 1 << 16


@lru_cache(maxsize=64)
def _tables(d_head: int, base: float, length: int, source: str, precision: str = "float32",
            sign: int = 1) -> tuple[np.ndarray, np.ndarray]:
    if source == "torch":
        import torch

        # the research code's own expressions: frequencies in float32, then angles and tables in
        # float32 (bf16: rounded after, as modded-nanogpt does; float64: a model run in double
        # whose frequencies became a float64 buffer)
        freq = 1.0 / (base ** (torch.arange(0, d_head, 2).float() / d_head))
        if precision == "float64":
            freq = freq.double()
        angles = torch.outer(torch.arange(length).type_as(freq), freq)
        cos, sin = angles.cos(), angles.sin()
        if precision == "bfloat16":
            cos, sin = cos.bfloat16(), sin.bfloat16()
        cos, sin = torch.cat([cos, cos], -1).double().numpy(), torch.cat([sin, sin], -1).double().numpy()
    else:
        if precision == "bfloat16":
            raise ShapeError("bfloat16 rotary tables need torch (numpy has no bfloat16): pip install torch")
        exponent = np.arange(0, d_head, 2, dtype=np.float32) / np.float32(d_head)
        freq = np.float32(1.0) / (np.float64(base) ** exponent.astype(np.float64)).astype(np.float32)
        if precision == "float64":
            angles = np.arange(length, dtype=np.float64)[:, None] * freq.astype(np.float64)[None, :]
            cos, sin = np.cos(angles), np.sin(angles)
        else:
            angles = (np.arange(length, dtype=np.float32)[:, None] * freq[None, :]).astype(np.float64)
            cos, sin = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
        cos, sin = np.concatenate([cos, cos], -1).astype(np.float64), np.concatenate([sin, sin], -1).astype(np.float64)
    if sign < 0:  # the opposite rotation: (a cos + b sin, −a sin + b cos)
        sin = -sin
    cos.setflags(write=False)
    sin.setflags(write=False)
    return cos, sin


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True, eq=False)
class Rotary:
    """Rotary tables for heads of width ``d_head`` (even) and frequency base ``base``.

    ``source``: "torch" (the research code's float32 numbers), "numpy" (a float32 emulation),
    or "auto" (torch when installed).
    """

    d_head: int
    base: float = field(default=10_000.0, kw_only=True)
    source: str = field(default="auto", kw_only=True)
    #: the tables' numbers: "float32" (the small models), "bfloat16" (modded-nanogpt's cached
    #: tables), "float64" (angles in double, for a model run in double with a frequency buffer)
    precision: str = field(default="float32", kw_only=True)
    #: +1: ``y cos + rotate_half(y) sin``; −1: the opposite rotation (modded-nanogpt's
    #: ``(a cos + b sin, −a sin + b cos)``), i.e. the sin table negated
    sign: int = field(default=1, kw_only=True)

    def __post_init__(self) -> None:
        if isinstance(self.d_head, bool) or not isinstance(self.d_head, (int, np.integer)) or self.d_head < 2 or self.d_head % 2:
            raise ShapeError(f"rotary d_head={self.d_head!r}; expected an even head width ≥ 2")
        base = float(self.base)
        if not np.isfinite(base) or base <= 1:
            raise ShapeError(f"rotary base={self.base!r}; expected a finite number > 1 (10000 in the research code)")
        if self.source not in ("auto", "torch", "numpy"):
            raise ShapeError(f"rotary source={self.source!r}; expected 'auto', 'torch' or 'numpy'")
        object.__setattr__(self, "d_head", int(self.d_head))
        object.__setattr__(self, "base", base)
        if self.precision not in ("float32", "bfloat16", "float64"):
            raise ShapeError(f"rotary precision={self.precision!r}; expected 'float32', 'bfloat16' or 'float64'")
        if self.sign not in (1, -1):
            raise ShapeError(f"rotary sign={self.sign!r}; expected 1 or -1")
        if self.source == "auto":
            object.__setattr__(self, "source", "torch" if _torch_available() else "numpy")

    def tables(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """``(cos, sin)`` of shape (T, d_head): float32 values held in float64 arrays."""
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or not 1 <= length <= MAX_POSITIONS:
            raise ShapeError(f"sequence length T={length!r}; expected 1 … {MAX_POSITIONS}")
        return _tables(self.d_head, self.base, int(length), self.source, self.precision, self.sign)

    def converted(self, length: int, numbers: Numbers) -> tuple[Any, Any]:
        """The tables in ``numbers`` (exact: the float32 values as rationals), cached."""
        cos, sin = self.tables(length)
        got = numbers.weights(self, {f"cos{length}": cos, f"sin{length}": sin})
        return got[f"cos{length}"], got[f"sin{length}"]

    def describe(self) -> str:
        turn = "rotate_half" if self.sign > 0 else "rotate_half, opposite sign"
        return f"RoPE ({turn}, base {self.base:g}, {self.precision} tables from {self.source})"


def rotate(y: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """``y · cos_t + rotate_half(y) · sin_t`` for ``y`` of shape (…, T, d_head)."""
    half = y.shape[-1] // 2
    turned = np.concatenate([-y[..., half:], y[..., :half]], axis=-1)
    return y * cos + turned * sin
