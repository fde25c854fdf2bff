"""Lanes: a stream that carries more than the residual stream, and the linear blocks that move
values between its slices.

The modded-nanogpt language models (loganriggs/tensor_language's released LMs) read two
things besides the residual stream ``x`` in every block: the embedding stream ``x0`` (each
block starts with ``x ← λ0 x + λ1 x0``) and block 0's attention values ``v1`` (every block's
values are ``(1 − λ) V h + λ v1``). Both are per-position, so they travel with the stream as
extra channels ``[x | x0 | v1]``: each block reads and writes its slices, and one walk over the
blocks (:mod:`symsteer._coefficients`) carries their α-coefficients too, as it does for ``x``.
Steering adds ``α s`` to the ``x`` lane only (a hook on the residual stream never touches
``x0`` or ``v1``; see :class:`symsteer.sequence.SequenceModel`'s ``steer_width``).

These blocks are linear (degree k for input degree k) and exact in every number system:

* :class:`Slice` — channels ``[start, stop)`` of the input;
* :class:`Fork` — the outputs of several blocks on the same input, side by side;
* :class:`Place` — a block's output written into channels ``[at, at + d)`` of a wider zero vector;
* :class:`LaneMix` — ``lane_i ← Σ_j C_ij lane_j`` for lanes of equal width (``C ⊗ I``).

>>> from symsteer.numbers import EXACT
>>> mix = LaneMix([[2, 1], [0, 1]], width=1)            # x ← 2 x + x0, x0 kept
>>> [str(v) for v in mix.forward(EXACT.vector([3, 5], "x", 2), numbers=EXACT)]
['11', '5']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..numbers import Numbers
from .base import Block, Composite, as_weight_array, scalar

__all__ = ["Slice", "Fork", "Place", "LaneMix"]


def _count(value: Any, name: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ShapeError(f"{name}={value!r}; expected an integer ≥ {low}")
    return int(value)


def _pad_orders(out: np.ndarray, orders: int, numbers: Numbers) -> np.ndarray:
    """``out`` with zero coefficients appended up to ``orders`` (a part of lower degree)."""
    if len(out) >= orders:
        return out
    pad = numbers.zeros((orders - len(out), *out.shape[1:]))
    return np.concatenate([out, pad.astype(out.dtype)])


@dataclass(frozen=True, eq=False)
class Slice(Block):
    """Channels ``[start, stop)`` of a ``d_in``-wide input (a projection: exact, degree k).

    >>> Slice(3, 1, 3).forward(np.array([1.0, 2.0, 3.0]), numbers=FLOAT).tolist()
    [2.0, 3.0]
    """

    width: int
    start: int
    stop: int
    name: str = field(default="slice", kw_only=True)

    def __post_init__(self) -> None:
        width = _count(self.width, f"{self.name}: width", low=1)
        start = _count(self.start, f"{self.name}: start", low=0)
        stop = _count(self.stop, f"{self.name}: stop", low=start + 1)
        if stop > width:
            raise ShapeError(f"{self.name}: channels [{start}, {stop}) of a stream of width {width}; expected stop ≤ {width}")
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "stop", stop)

    @property
    def d_in(self) -> int:
        return self.width

    @property
    def d_out(self) -> int:
        return self.stop - self.start

    def arrays(self) -> dict[str, Any]:
        return {}

    def forward(self, x: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        self._check_input(x)
        return x[..., self.start:self.stop].copy()

    def propagate(self, cs: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
        self._check_input(cs, "the coefficients")
        return cs[: top + 1, ..., self.start:self.stop].copy()

    def degree(self, k: int) -> int:
        return k

    def cost(self, rows: int, orders: int) -> int:
        return orders * rows * self.d_out

    def describe(self) -> str:
        return f"channels [{self.start}, {self.stop}) of {self.width}"


@dataclass(frozen=True, eq=False, init=False)
class Fork(Composite):
    """``concat(part_1(x), …, part_n(x))``: several blocks on one input, outputs side by side.

    >>> f = Fork(Slice(2, 1, 2), Slice(2, 0, 1))           # swap two channels
    >>> f.forward(np.array([1.0, 2.0]), numbers=FLOAT).tolist()
    [2.0, 1.0]
    """

    parts: tuple[Block, ...]
    name: str = field(default="fork")

    def __init__(self, *parts: Block, name: str = "fork") -> None:
        if not parts:
            raise ShapeError("Fork() is empty; expected at least one block")
        for i, part in enumerate(parts):
            if not isinstance(part, Block):
                raise ShapeError(f"Fork part {i} is a {type(part).__name__}; expected a block")
            if part.d_in != parts[0].d_in:
                raise ShapeError(f"Fork: {part.name} takes width {part.d_in}; {parts[0].name} takes {parts[0].d_in} (one input)")
        object.__setattr__(self, "parts", tuple(parts))
        object.__setattr__(self, "name", name)

    @property
    def d_in(self) -> int:
        return self.parts[0].d_in

    @property
    def d_out(self) -> int:
        return sum(p.d_out for p in self.parts)

    def forward(self, x: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        return np.concatenate([p.forward(x, numbers=numbers) for p in self.parts], axis=-1)

    def propagate(self, cs: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
        outs = [p.propagate(cs, top=top, numbers=numbers) for p in self.parts]
        orders = max(len(o) for o in outs)
        dtype = np.result_type(*(o.dtype for o in outs))
        return np.concatenate([_pad_orders(o, orders, numbers).astype(dtype, copy=False) for o in outs], axis=-1)

    def degree(self, k: int) -> int | None:
        degrees = [p.degree(k) for p in self.parts]
        return None if any(d is None for d in degrees) else max(degrees)

    def cost(self, rows: int, orders: int) -> int:
        return sum(p.cost(rows, orders) for p in self.parts)

    def describe(self) -> str:
        return "side by side: " + "; ".join(p.describe() for p in self.parts)


@dataclass(frozen=True, eq=False)
class Place(Block):
    """``inner(x)`` written into channels ``[at, at + inner.d_out)`` of a ``width``-wide zero
    vector: inside :meth:`Residual.add` it updates one lane of the stream and leaves the others.

    >>> from symsteer.blocks import Linear
    >>> Place(Linear([[1.0, 1.0]]), width=3, at=1).forward(np.array([2.0, 3.0]), numbers=FLOAT).tolist()
    [0.0, 5.0, 0.0]
    """

    inner: Block
    width: int = field(kw_only=True)
    at: int = field(default=0, kw_only=True)
    name: str = field(default="", kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.inner, Block):
            raise ShapeError(f"Place wraps a {type(self.inner).__name__}; expected a block")
        width = _count(self.width, f"{self.inner.name}: width", low=1)
        at = _count(self.at, f"{self.inner.name}: at", low=0)
        if at + self.inner.d_out > width:
            raise ShapeError(f"{self.inner.name}: output of width {self.inner.d_out} at channel {at} does not fit a stream of width {width}")
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "at", at)
        if not self.name:
            object.__setattr__(self, "name", self.inner.name)

    @property
    def d_in(self) -> int:
        return self.inner.d_in

    @property
    def d_out(self) -> int:
        return self.width

    @property
    def mixes_positions(self) -> bool:  # type: ignore[override]
        return self.inner.mixes_positions

    @property
    def polynomial(self) -> bool:  # type: ignore[override]
        return self.inner.polynomial

    @property
    def has_bias(self) -> bool:
        return self.inner.has_bias

    @property
    def heads(self) -> int:
        return getattr(self.inner, "heads", 0)

    def arrays(self) -> dict[str, Any]:
        return {f"inner.{k}": v for k, v in self.inner.arrays().items()}

    def _placed(self, y: np.ndarray, numbers: Numbers) -> np.ndarray:
        out = numbers.zeros((*y.shape[:-1], self.width)).astype(y.dtype)
        out[..., self.at:self.at + y.shape[-1]] = y
        return out

    def forward(self, x: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        return self._placed(self.inner.forward(x, numbers=numbers), numbers)

    def propagate(self, cs: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
        return self._placed(self.inner.propagate(cs, top=top, numbers=numbers), numbers)

    def degree(self, k: int) -> int | None:
        return self.inner.degree(k)

    def cost(self, rows: int, orders: int) -> int:
        return self.inner.cost(rows, orders) + orders * rows * self.width

    def describe(self) -> str:
        return f"{self.inner.describe()}, written to channels [{self.at}, {self.at + self.inner.d_out}) of {self.width}"


@dataclass(frozen=True, eq=False)
class LaneMix(Block):
    """``lane_i ← Σ_j C_ij lane_j`` for ``k`` lanes of ``width`` channels (the linear map
    ``C ⊗ I_width``, without building it): the λ0/λ1 mixing ``x ← λ0 x + λ1 x0``.

    ``C`` is ``(k_out, k_in)``; exact entries stay exact.
    """

    C: np.ndarray
    width: int = field(kw_only=True)
    name: str = field(default="lanes", kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "C", as_weight_array(self.C, f"{self.name}.C", ndim=2))
        object.__setattr__(self, "width", _count(self.width, f"{self.name}: width", low=1))

    @property
    def d_in(self) -> int:
        return self.C.shape[1] * self.width

    @property
    def d_out(self) -> int:
        return self.C.shape[0] * self.width

    def arrays(self) -> dict[str, Any]:
        return {"C": self.C}

    def _apply(self, x: np.ndarray, numbers: Numbers) -> np.ndarray:
        C = self.weights(numbers)["C"]
        k_out, k_in = self.C.shape
        lanes = [x[..., j * self.width:(j + 1) * self.width] for j in range(k_in)]
        out = []
        for i in range(k_out):
            acc = None
            for j in range(k_in):
                c = C[i, j]
                if self.C.dtype == object and self.C[i, j] == 0:
                    continue  # exact zeros cost nothing (and keep polynomial entries small)
                term = lanes[j] * scalar(c)
                acc = term if acc is None else acc + term
            out.append(acc if acc is not None else numbers.zeros(lanes[0].shape).astype(x.dtype))
        return np.concatenate(out, axis=-1)

    def forward(self, x: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        self._check_input(x)
        return self._apply(x, numbers)

    def propagate(self, cs: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
        self._check_input(cs, "the coefficients")
        return self._apply(cs[: top + 1], numbers)

    def degree(self, k: int) -> int:
        return k

    def cost(self, rows: int, orders: int) -> int:
        return orders * rows * self.C.size * self.width

    def describe(self) -> str:
        rows = "; ".join(", ".join(str(v) for v in row) for row in self.C.tolist())
        return f"lane mixing [{rows}] over lanes of width {self.width}"


from ..numbers import FLOAT  # noqa: E402  (the doctests)
