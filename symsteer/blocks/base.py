"""What every block shares: the protocol, weight normalisation, the truncated Cauchy product
over α-orders, and the residual wrappers.

A block is one kind of layer, written once. It maps a stream ``x`` of shape ``(…, d_in)``
(a sequence model: ``(…, T, d_in)``, positions on axis -2) to ``(…, d_out)`` in any number
system, and maps the α-coefficients of its input, stacked orders first as ``(K+1, …, d_in)``,
to those of its output truncated at order ``top``.

>>> from symsteer.blocks import Linear, Residual
>>> from symsteer.numbers import EXACT
>>> block = Residual.lerp(Linear([[2, 0], [0, 2]]), 0.5)
>>> [float(v) for v in block.forward(EXACT.vector([1, 3], "x", 2), numbers=EXACT)]
[1.5, 4.5]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from numbers import Integral, Rational
from typing import Any, ClassVar, Literal

import numpy as np
import sympy

from ..errors import ShapeError
from ..numbers import Numbers, PolyRing, by_entries

__all__ = ["Block", "Composite", "Residual", "SameWidth", "cauchy", "poly_add", "poly_scale", "poly_times_scalar_poly", "as_weight_array", "as_scalar", "field_of", "random_array", "Field"]

Field = Literal["float", "rational", "symbolic"]


# -- weights -------------------------------------------------------------------------------


def _entry(value: Any, name: str) -> Any:
    """One weight entry as a sympy number or expression, or a Python float."""
    if isinstance(value, (bool, np.bool_)):
        raise ShapeError(f"{name} has a boolean entry {value!r}; expected a number or a sympy expression")
    if isinstance(value, (Integral, np.integer)):
        return sympy.Integer(int(value))
    if isinstance(value, (Fraction, Rational)) and not isinstance(value, sympy.Basic):
        return sympy.Rational(int(value.numerator), int(value.denominator))
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, sympy.Expr):
        return value
    # Strings in particular are refused: turning them into expressions would mean sympify, i.e. eval.
    raise ShapeError(f"{name} has an entry {value!r} of type {type(value).__name__}; expected a number or a sympy expression")


def as_weight_array(value: Any, name: str, *, ndim: int) -> np.ndarray:
    """Normalise weights to a float64 array or an object array of sympy expressions.

    Integers, fractions and sympy rationals stay exact; a float anywhere makes the whole
    array float64 unless a symbol is present too.

    >>> as_weight_array([[1, 2]], "W", ndim=2).dtype
    dtype('O')
    """
    if isinstance(value, sympy.MatrixBase):
        value = value.tolist() if ndim == 2 else list(value)
    arr = np.asarray(value, dtype=object if not isinstance(value, np.ndarray) else None)
    if arr.ndim != ndim:
        raise ShapeError(f"{name} has shape {arr.shape}; expected a {ndim}-d array")
    if arr.size == 0:
        raise ShapeError(f"{name} has shape {arr.shape}; expected non-zero widths")
    if arr.dtype != object:
        if arr.dtype.kind == "f":
            out = arr.astype(np.float64)
            _check_finite(out, name)
            return out
        if arr.dtype.kind not in "iu":
            raise ShapeError(f"{name} has dtype {arr.dtype}; expected real numbers")
    flat = [_entry(v, name) for v in arr.ravel()]
    if any(isinstance(v, float) for v in flat) and not any(
        isinstance(v, sympy.Basic) and v.free_symbols for v in flat
    ):
        out = np.array([float(v) for v in flat], dtype=np.float64).reshape(arr.shape)
        _check_finite(out, name)
        return out
    out = np.empty(arr.shape, dtype=object)
    out.ravel()[:] = [sympy.Float(v) if isinstance(v, float) else v for v in flat]
    if any(isinstance(v, sympy.Basic) and (v.has(sympy.nan, sympy.zoo) or v.is_infinite) for v in flat):
        raise ShapeError(f"{name} has a NaN or infinite entry; expected finite numbers")
    return out


def as_scalar(value: Any, name: str) -> Any:
    """One scalar weight (λ of a lerp residual, a ReZero gain): exact stays exact."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item() if value.dtype != object else value.reshape(())[()]
    return as_weight_array([value], name, ndim=1)[0]


def _check_finite(arr: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ShapeError(f"{name}{list(bad)} = {arr[bad]}; expected finite numbers")


def field_of(*arrays: Any) -> Field:
    """'float' if any array is float64, 'symbolic' if any entry has a free symbol, else 'rational'."""
    present = [np.asarray(a, dtype=object) if not isinstance(a, np.ndarray) else a for a in arrays if a is not None]
    if not present:
        return "rational"
    if any(a.dtype != object for a in present):
        if any(a.dtype == object and any(getattr(v, "free_symbols", None) for v in a.ravel()) for a in present):
            return "symbolic"
        return "float"
    for a in present:
        for v in a.ravel():
            if isinstance(v, float):
                return "float"
            if v.free_symbols or not v.is_Rational:
                return "symbolic"
    return "rational"


def random_array(shape: tuple[int, ...], *, rng: np.random.Generator, kind: str) -> np.ndarray:
    """Seeded random entries: 'int' in [-2, 2], 'rational' p/q (|p| ≤ 3, 1 ≤ q ≤ 3), 'float' normal."""
    if kind == "float":
        return rng.standard_normal(shape)
    if kind == "int":
        return np.vectorize(sympy.Integer, otypes=[object])(rng.integers(-2, 3, size=shape))
    if kind == "rational":
        p, q = rng.integers(-3, 4, size=shape), rng.integers(1, 4, size=shape)
        return np.vectorize(lambda a, b: sympy.Rational(int(a), int(b)), otypes=[object])(p, q)
    raise ShapeError(f"kind={kind!r}; expected 'int', 'rational' or 'float'")


# -- the truncated Cauchy product over orders ----------------------------------------------


def cauchy(a: np.ndarray, b: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
    """``e_m = Σ_{i+j=m} a_i ⊙ b_j`` for ``m ≤ min(top, deg a + deg b)``, orders on axis 0.

    The sum is accumulated in place into one preallocated array, so float64 runs do not
    allocate (and page-fault) a fresh array per product.

    >>> from symsteer.numbers import FLOAT
    >>> cauchy(np.array([[1.0], [2.0]]), np.array([[3.0], [4.0]]), top=5, numbers=FLOAT).ravel().tolist()
    [3.0, 10.0, 8.0]
    """
    if a.ndim == 1 and b.ndim == 1:  # scalar polynomials: numpy's in-place products need an axis
        return cauchy(a[:, None], b[:, None], top=top, numbers=numbers)[:, 0]
    da, db = len(a) - 1, len(b) - 1
    orders = min(top, da + db) + 1
    pairs = [(i, m - i) for m in range(orders) for i in range(max(0, m - db), min(m, da) + 1)]
    numbers.check_products(a, b, pairs)
    shape = np.broadcast_shapes(a.shape[1:], b.shape[1:])
    dtype = np.result_type(a.dtype, b.dtype)
    out = np.empty((orders, *shape), dtype=dtype)
    product = np.empty(shape, dtype=dtype)
    for m in range(orders):
        lo, hi = max(0, m - db), min(m, da)
        g = out[m]
        np.multiply(a[lo], b[m - lo], out=g)
        for i in range(lo + 1, hi + 1):
            np.multiply(a[i], b[m - i], out=product)
            g += product
    return out


def scalar(value: Any) -> Any:
    """A number to multiply arrays by: a 0-d object array for exact and polynomial entries
    (numpy would unpack a flint polynomial, a sequence of terms, into a new axis)."""
    if isinstance(value, (float, np.floating)):
        return value
    out = np.empty((), dtype=object)
    out[()] = value
    return out


def poly_add(a: np.ndarray, b: np.ndarray, numbers: Numbers) -> np.ndarray:
    """The sum of two polynomials in α stored as coefficient arrays (orders on axis 0)."""
    if len(a) < len(b):
        a, b = b, a
    out = a.copy()
    out[: len(b)] = out[: len(b)] + b
    return out


def poly_scale(a: np.ndarray, c: Any) -> np.ndarray:
    """A polynomial (coefficient array) times a constant."""
    return a * c


def poly_times_scalar_poly(a: np.ndarray, p: np.ndarray, numbers: Numbers) -> np.ndarray:
    """``a(α) · p(α)`` for a vector polynomial ``a`` (orders, …) and a scalar one ``p`` (orders,)."""
    return cauchy(a, p.reshape(p.shape + (1,) * (a.ndim - 1)), top=1 << 30, numbers=numbers)


# -- the protocol --------------------------------------------------------------------------


class Block:
    """One kind of layer. Subclasses are frozen dataclasses and define ``d_in``, ``d_out``,
    ``forward``, ``propagate``, ``degree`` and ``arrays``; ``mixes_positions`` is True for a
    block acting across positions (axis -2 of a ``(…, T, d)`` stream), e.g. attention."""

    mixes_positions: ClassVar[bool] = False
    #: True when the block's output is a polynomial in its input (a rational block is not)
    polynomial: ClassVar[bool] = True
    name: str

    @property
    def d_in(self) -> int:
        raise NotImplementedError

    @property
    def d_out(self) -> int:
        raise NotImplementedError

    def arrays(self) -> dict[str, Any]:
        """The block's weights by name (None where absent), as the number systems convert them."""
        raise NotImplementedError

    def forward(self, x: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        """The block's output for a stream ``x`` already in ``numbers``."""
        raise NotImplementedError

    def propagate(self, cs: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
        """α-coefficients ``(K+1, …, d_in)`` in, ``(min(top, degree(K))+1, …, d_out)`` out."""
        raise NotImplementedError

    def degree(self, k: int) -> int | None:
        """A bound on the output's α-degree for input degree ``k`` (None: not a polynomial)."""
        raise NotImplementedError

    def cost(self, rows: int, orders: int) -> int:
        """Multiply-adds of one :meth:`propagate` over ``rows`` positions with ``orders``
        α-orders, counted before any work (budgets refuse a run from it). The default is one
        ``d_out × d_in`` map per order and position; blocks with more work override it."""
        return orders * rows * self.d_in * self.d_out

    def weights(self, numbers: Numbers) -> dict[str, Any]:
        """The weights in ``numbers``, converted once per block and number system."""
        return numbers.weights(self, self.arrays())

    @cached_property
    def field(self) -> Field:
        return field_of(*(np.asarray([v], dtype=object) if not isinstance(v, np.ndarray) else v
                          for v in self.arrays().values() if v is not None))

    @property
    def has_bias(self) -> bool:
        return False

    def rational(self, num: np.ndarray, den: np.ndarray, *, numbers: Numbers) -> tuple[np.ndarray, np.ndarray]:
        """For an input ``num(α) / den(α)`` (coefficient arrays, orders on axis 0; ``den`` a
        scalar polynomial), the output as ``(num', den')``, exactly (see :mod:`symsteer.rational`)."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{type(self).__name__.lower()} {self.d_in} → {self.d_out}"

    def _check_input(self, x: np.ndarray, what: str = "x") -> None:
        if x.shape[-1] != self.d_in:
            raise ShapeError(f"{self.name}: {what} has width {x.shape[-1]}; expected {self.d_in}, the block's input width")


class SameWidth(Block):
    """A per-position block that keeps the stream's ``width`` (a norm, a softcap)."""

    width: int

    def _check_width(self) -> None:
        if isinstance(self.width, bool) or not isinstance(self.width, (int, np.integer)) or self.width < 1:
            raise ShapeError(f"{self.name}: width={self.width!r}; expected a positive integer")
        object.__setattr__(self, "width", int(self.width))

    @property
    def d_in(self) -> int:
        return self.width

    @property
    def d_out(self) -> int:
        return self.width


class Composite(Block):
    """What a block made of other blocks (its ``parts``: a chain, a fork) reads from them: it
    mixes positions, has biases or heads when any part does, and is a polynomial when all are."""

    parts: tuple[Block, ...]

    @property
    def mixes_positions(self) -> bool:  # type: ignore[override]
        return any(p.mixes_positions for p in self.parts)

    @property
    def polynomial(self) -> bool:  # type: ignore[override]
        return all(p.polynomial for p in self.parts)

    @property
    def has_bias(self) -> bool:
        return any(p.has_bias for p in self.parts)

    @property
    def heads(self) -> int:
        """The most attention heads of a part (the sequence model's pattern budget reads it)."""
        return max((getattr(p, "heads", 0) for p in self.parts), default=0)

    def arrays(self) -> dict[str, Any]:
        return {f"{i}.{k}": v for i, p in enumerate(self.parts) for k, v in p.arrays().items()}


@dataclass(frozen=True, eq=False)
class Residual(Block):
    """``y = keep · x + scale · inner(x)``: the plain residual (keep = scale = 1), the lerp
    residual ``(1 − λ) x + λ inner(x)``, or a ReZero / scalar-scaled residual ``x + a inner(x)``.

    >>> from symsteer.blocks import Linear
    >>> Residual.scaled(Linear([[1]]), 3).forward(np.array([2.0]), numbers=FLOAT).tolist()
    [8.0]
    """

    inner: Block
    keep: Any = field(default=1, kw_only=True)
    scale: Any = field(default=1, kw_only=True)
    kind: Literal["add", "lerp", "scaled"] = field(default="add", kw_only=True)
    name: str = field(default="", kw_only=True)

    def __post_init__(self) -> None:
        put = object.__setattr__
        if not isinstance(self.inner, Block):
            raise ShapeError(f"Residual wraps a {type(self.inner).__name__}; expected a block")
        if self.inner.d_in != self.inner.d_out:
            raise ShapeError(
                f"{self.inner.name}: a residual block needs output width {self.inner.d_in} (its input width) so that "
                f"x + B(x) is defined; got {self.inner.d_out}"
            )
        if self.kind not in ("add", "lerp", "scaled"):
            raise ShapeError(f"kind={self.kind!r}; expected 'add', 'lerp' or 'scaled'")
        put(self, "keep", as_scalar(self.keep, f"{self.inner.name}.keep"))
        put(self, "scale", as_scalar(self.scale, f"{self.inner.name}.scale"))
        if not self.name:
            put(self, "name", self.inner.name)

    @classmethod
    def add(cls, inner: Block) -> Residual:
        """``x + inner(x)``."""
        return cls(inner)

    @classmethod
    def lerp(cls, inner: Block, lam: Any) -> Residual:
        """``(1 − λ) x + λ inner(x)``; λ exact when given exactly (e.g. ``Fraction(7, 20)``)."""
        lam = as_scalar(lam, f"{inner.name}.lambda")
        return cls(inner, keep=1 - lam, scale=lam, kind="lerp")

    @classmethod
    def scaled(cls, inner: Block, gain: Any) -> Residual:
        """``x + a · inner(x)`` (ReZero: a learned scalar a, zero at initialisation)."""
        return cls(inner, scale=gain, kind="scaled")

    @property
    def plain_add(self) -> bool:
        """``x + inner(x)`` exactly (what the structured expansion covers)."""
        return self.kind == "add" and self.keep == 1 and self.scale == 1

    @property
    def d_in(self) -> int:
        return self.inner.d_in

    @property
    def d_out(self) -> int:
        return self.inner.d_out

    @property
    def has_bias(self) -> bool:
        return self.inner.has_bias

    @property
    def polynomial(self) -> bool:  # type: ignore[override]
        return self.inner.polynomial

    @property
    def mixes_positions(self) -> bool:  # type: ignore[override]
        return self.inner.mixes_positions

    def arrays(self) -> dict[str, Any]:
        return {"keep": self.keep, "scale": self.scale, **{f"inner.{k}": v for k, v in self.inner.arrays().items()}}

    def _scalars(self, numbers: Numbers) -> tuple[Any, Any]:
        return scalar(numbers.entry(self.keep)), scalar(numbers.entry(self.scale))

    def forward(self, x: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        y = self.inner.forward(x, numbers=numbers)
        if self.plain_add:
            return x + y
        keep, scale = self._scalars(numbers)
        if isinstance(numbers, PolyRing) and x.shape == y.shape:  # long products: one entry at a time, the clock checked between
            return by_entries(x.shape, lambda i: x[i] * keep[()] + y[i] * scale[()])
        return x * keep + y * scale

    def propagate(self, cs: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
        out = self.inner.propagate(cs, top=top, numbers=numbers)
        kept = cs[: top + 1]
        if len(out) < len(kept):  # an inner block of lower degree than its input (never for a bilinear one)
            pad = numbers.zeros((len(kept) - len(out), *out.shape[1:]))
            out = np.concatenate([out, pad.astype(out.dtype)])
        if not self.plain_add:
            keep, scale = self._scalars(numbers)
            out = out * scale
            kept = kept * keep
        out[: len(kept)] += kept
        return out

    def degree(self, k: int) -> int | None:
        inner = self.inner.degree(k)
        return None if inner is None else max(k, inner)

    def cost(self, rows: int, orders: int) -> int:
        return self.inner.cost(rows, orders) + orders * rows * self.d_in

    def __repr__(self) -> str:
        """Short: what the block is, not its weights (they are attributes)."""
        return f"{type(self).__name__}({self.describe()})"

    def rational(self, num: np.ndarray, den: np.ndarray, *, numbers: Numbers) -> tuple[np.ndarray, np.ndarray]:
        """``keep · num/den + scale · n/d = (keep · num d + scale · n den) / (den d)``."""
        n, d = self.inner.rational(num, den, numbers=numbers)
        keep, scale = self._scalars(numbers)
        left = poly_times_scalar_poly(num, d, numbers) * keep
        right = poly_times_scalar_poly(n, den, numbers) * scale
        return poly_add(left, right, numbers), cauchy(den, d, top=1 << 30, numbers=numbers)

    def describe(self) -> str:
        how = {"add": "x + B(x)", "lerp": f"(1 − λ) x + λ B(x), λ = {self.scale}", "scaled": f"x + a B(x), a = {self.scale}"}
        return f"residual {how[self.kind]} around {self.inner.describe()}"


from ..numbers import FLOAT  # noqa: E402  (used by the doctests above)
