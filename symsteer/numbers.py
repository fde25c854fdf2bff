"""The number systems the algebra runs in: float64, exact rationals, polynomial rings, and
balls (python-flint's ``arb`` real intervals and ``acb`` complex boxes, :data:`BALL` and
:data:`COMPLEX_BALL`): every result of a ball run encloses the exact real (or complex) value,
so the same blocks give certified enclosures (:mod:`symsteer.series`).

Every computation downstream (forward passes, α-coefficients, term values) is written once
over numpy arrays; only the entries differ: float64, ``fmpq`` (python-flint) or
``fractions.Fraction`` when flint is missing, and sparse multivariate polynomials
(``fmpq_mpoly``, or sympy's ``rings`` as the fallback).
"""

from __future__ import annotations

import time
import weakref
from fractions import Fraction
from typing import Any, Callable, Iterable, Sequence
from weakref import WeakKeyDictionary

import numpy as np
import sympy

from .budgets import MAX_EXACT_BITS
from .errors import BudgetError, DeadlineError, ShapeError

try:  # flint is the fast path; the fallbacks are exact too, only slower
    import flint
except ImportError:  # pragma: no cover - exercised by the fallback tests
    flint = None

__all__ = ["Numbers", "FLOAT", "EXACT", "BALL", "COMPLEX_BALL", "Balls", "BranchError", "Centered", "CenteredBoxes", "Taylor", "TaylorBoxes", "PolyRing", "exact_number", "object_array"]


def object_array(values: Sequence[Any], shape: tuple[int, ...] | None = None) -> np.ndarray:
    """An object array filled entry by entry: flint polynomials are sequences, and numpy
    would otherwise unpack them into a deeper array."""
    flat = list(values)
    out = np.empty(len(flat), dtype=object)
    for i, v in enumerate(flat):
        out[i] = v
    return out.reshape(shape if shape is not None else (len(flat),))


def exact_number(value: Any) -> Any:
    """A rational (``fmpq`` or ``Fraction``) equal to ``value``; floats convert exactly."""
    if flint is not None and isinstance(value, flint.fmpq):
        return value
    if isinstance(value, sympy.Basic):
        if not value.is_Rational:
            raise ShapeError(f"{value} is not a rational number; expected exact numbers (or use symbolic weights)")
        p, q = int(value.p), int(value.q)
    else:
        if flint is not None and isinstance(value, flint.fmpz):
            value = int(value)
        frac = Fraction(value) if not isinstance(value, (float, np.floating)) else Fraction(float(value))
        p, q = frac.numerator, frac.denominator
    return flint.fmpq(p, q) if flint is not None else Fraction(p, q)


def to_sympy_number(value: Any) -> sympy.Expr:
    if isinstance(value, (float, np.floating)):
        return sympy.Float(float(value))
    if flint is not None and isinstance(value, flint.fmpq):
        return sympy.Rational(int(value.p), int(value.q))
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    return sympy.Integer(int(value)) if isinstance(value, (int, np.integer)) else value


class Numbers:
    """A number system: converts weights and vectors into arrays its arithmetic runs on."""

    name = "abstract"

    def __init__(self) -> None:
        self._cache: WeakKeyDictionary[Any, dict[int, np.ndarray]] = WeakKeyDictionary()

    def entry(self, value: Any) -> Any:
        raise NotImplementedError

    def check_size(self, arr: np.ndarray, where: str) -> None:
        """Refuse numbers grown too large to go on with (exact rationals only): the next layer
        would square them."""

    def check_products(self, left: np.ndarray, right: np.ndarray, pairs: Sequence[tuple[int, int]]) -> None:
        """Refuse a layer's products ``left[i] * right[j]`` over ``pairs`` that would be too large
        to form (polynomial rings only: a product of polynomials with a and b terms has up to a·b)."""

    def array(self, arr: np.ndarray | None, name: str = "array") -> np.ndarray | None:
        if arr is None:
            return None
        try:
            return object_array([self.entry(v) for v in np.asarray(arr, dtype=object).ravel()], arr.shape)
        except (TypeError, ValueError) as exc:
            raise ShapeError(f"{name} cannot be used with {self.name} numbers: {exc}") from None

    def weights(self, owner: Any, arrays: dict[str, np.ndarray | None]) -> dict[str, np.ndarray | None]:
        """Converted weights, cached per owner object (a layer or a network)."""
        cache = self._cache.setdefault(owner, {})
        return {k: cache[k] if k in cache else cache.setdefault(k, self.array(v, k)) for k, v in arrays.items()}

    def vector(self, values: Any, name: str, length: int) -> np.ndarray:
        """A user's vector (or a batch of them, last axis the width) in this number system."""
        if isinstance(values, sympy.MatrixBase):
            values = list(values)
        arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
        if arr.ndim == 0 or arr.shape[-1] != length:
            raise ShapeError(f"{name} has shape {arr.shape}; expected a vector of length {length}")
        if arr.dtype.kind in "bcUSV":
            raise ShapeError(f"{name} has dtype {arr.dtype}; expected real numbers")
        return self.array(arr, name)

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.array(np.zeros(shape, dtype=np.int64))

    def half(self) -> Any:
        return self.entry(sympy.Rational(1, 2))

    #: True when the system takes square roots (float64, balls): a per-sample RMSNorm needs them
    roots = False

    def rsqrt(self, u: np.ndarray, what: str) -> np.ndarray:
        """``1/√u`` entry by entry, every entry certainly positive (else one line naming ``what``)."""
        raise ShapeError(f"{what}: {self.name} numbers have no square roots")

    def apply(self, M: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``M v`` on the last axis of a vector or a batch of vectors (``v @ M.T``)."""
        if v.ndim > 2:
            # one 2-d product: numpy runs a stacked (3-d) matmul as one BLAS call per
            # slice, 1.5-5x slower for the (orders, batch, width) stacks of coefficients
            return (v.reshape(-1, v.shape[-1]) @ M.T).reshape(v.shape[:-1] + (M.shape[0],))
        return v @ M.T


class _MatrixProducts:
    """``M v`` as one flint matrix product (exact rationals, balls): in C, 25-45x faster than
    numpy's object matmul calling ``__mul__`` and ``__add__`` once per pair, with the same
    numbers. ``_mat`` is the flint matrix type; a weight's converted transpose is kept while the
    weight array lives (weights are cached)."""

    _mat: Any
    _mats: dict[int, tuple[weakref.ref, Any]]

    def apply(self, M: np.ndarray, v: np.ndarray) -> np.ndarray:
        if flint is None or v.size == 0 or M.size == 0:
            return v @ M.T
        try:
            rows = self._mat(v.reshape(-1, v.shape[-1]).tolist()) * self._transposed(M)
        except (TypeError, ValueError):  # entries the matrix type does not hold: numpy's generic product
            return v @ M.T
        out = np.empty(rows.nrows() * rows.ncols(), dtype=object)
        out[:] = rows.entries()
        return out.reshape(v.shape[:-1] + (M.shape[0],))

    def _transposed(self, M: np.ndarray) -> Any:
        return kept(self._mats, M, lambda: self._mat(M.T.tolist()))


def kept(cache: dict[int, tuple[weakref.ref, Any]], M: np.ndarray, make: Callable[[], Any]) -> Any:
    """``make()`` for the array ``M``, computed once and kept in ``cache`` while ``M`` lives.

    No weakref callback forgets an entry: the garbage collector may run one anywhere, and a time
    limit's signal arriving inside it would be dropped as unraisable. Entries of arrays that are
    gone are dropped when the cache grows instead."""
    hit = cache.get(id(M))
    if hit is None or hit[0]() is not M:
        if len(cache) >= 256:
            for key in [k for k, v in cache.items() if v[0]() is None]:
                del cache[key]
        hit = cache[id(M)] = (weakref.ref(M), make())
    return hit[1]


class _Float(Numbers):
    name = "float"

    def entry(self, value: Any) -> float:
        if isinstance(value, sympy.Basic) and value.free_symbols:
            raise ShapeError(f"{value} is symbolic; float evaluation needs numbers")
        if flint is not None and isinstance(value, flint.fmpq):
            return int(value.p) / int(value.q)
        try:
            out = float(value)
        except OverflowError:  # an exact number beyond float64 (1e4000): bad input, not a bug
            raise ShapeError(f"entry {str(value)[:40]}… is too large for float64; expected |x| < 1.8e308, or exact numbers") from None
        if not np.isfinite(out):
            raise ShapeError(f"entry {value!r} is not finite; expected finite numbers")
        return out

    def array(self, arr: np.ndarray | None, name: str = "array") -> np.ndarray | None:
        if arr is None:
            return None
        if arr.dtype.kind in "fiu":
            out = arr.astype(np.float64)
            if not np.all(np.isfinite(out)):
                raise ShapeError(f"{name} has a NaN or infinite entry; expected finite numbers")
            return out
        try:
            return np.array([self.entry(v) for v in arr.ravel()], dtype=np.float64).reshape(arr.shape)
        except (TypeError, ValueError) as exc:
            raise ShapeError(f"{name} cannot be used with float numbers: {exc}") from None

    def half(self) -> float:
        return 0.5

    roots = True

    def rsqrt(self, u: np.ndarray, what: str) -> np.ndarray:
        if not np.all(u > 0):
            raise ShapeError(f"{what} is {float(np.min(u)):g}, not positive: the norm divides by its square root")
        return 1.0 / np.sqrt(u)

    def weights(self, owner: Any, arrays: dict[str, np.ndarray | None]) -> dict[str, np.ndarray | None]:
        # float64 weights are used as they are: the layer checked them finite when it was
        # built, and a copy would double the memory of a large model (and its first call).
        ready = {k: v for k, v in arrays.items() if v is not None and v.dtype == np.float64}
        rest = super().weights(owner, {k: v for k, v in arrays.items() if k not in ready})
        return {k: ready[k] if k in ready else rest[k] for k in arrays}


class _Exact(_MatrixProducts, Numbers):
    name = "exact"

    def __init__(self) -> None:
        super().__init__()
        self._mats: dict[int, tuple[weakref.ref, Any]] = {}
        self._mat = flint.fmpq_mat if flint is not None else None

    def entry(self, value: Any) -> Any:
        if isinstance(value, (float, np.floating)) and not np.isfinite(value):
            raise ShapeError(f"entry {value!r} is not finite; expected finite numbers")
        if isinstance(value, str):
            raise TypeError(f"entry {value!r} is a string; expected a number")
        return exact_number(value)

    def check_size(self, arr: np.ndarray, where: str) -> None:
        # A plain stack squares its activations with every layer: their digits double, and
        # exact arithmetic after a few dozen layers would never finish.
        if arr.dtype != object or arr.size == 0:
            return
        bits = max(_bits(v) for v in arr.ravel())
        if bits > MAX_EXACT_BITS:
            raise BudgetError(
                f"exact numbers {where} have grown to {bits} bits (limit {MAX_EXACT_BITS}): the digits double "
                "with every layer; use float64 (--float, numbers=FLOAT), truncate the stack, or steer closer to the output"
            )

#: the most terms (before like terms merge) the polynomial products of one layer may have
MAX_PRODUCT_TERMS = 200_000_000



def _bits(value: Any) -> int:
    if isinstance(value, Fraction):
        return max(value.numerator.bit_length(), value.denominator.bit_length())
    if flint is not None and isinstance(value, flint.fmpq):
        return max(value.p.bit_length(), value.q.bit_length())
    if isinstance(value, int):
        return value.bit_length()
    return 0


FLOAT: Numbers = _Float()
EXACT: Numbers = _Exact()


def array_bits(arr: np.ndarray) -> int:
    """The largest numerator or denominator of an exact array, in bits (0 for float64)."""
    return max((_bits(v) for v in arr.ravel()), default=0) if arr.dtype == object else 0


def weight_bits(block: Any) -> int:
    """The largest numerator or denominator of a block's weights taken exactly, in bits."""
    out = 0
    for value in block.arrays().values():
        if value is None:
            continue
        arr = value if isinstance(value, np.ndarray) else np.asarray([value], dtype=object)
        if arr.dtype.kind == "f" and arr.size:
            # m · 2^e with a 53-bit m: the numerator or the denominator carries the exponent
            _, e = np.frexp(arr[arr != 0]) if np.any(arr != 0) else (None, np.zeros(1, dtype=int))
            out = max(out, 53 + max(int(e.max()), 0), 53 - min(int(e.min()), 0))
        elif arr.dtype == object:
            out = max(out, max((_bits(exact_number(v)) for v in arr.ravel() if not getattr(v, "free_symbols", None)), default=0))
    return out


class BranchError(ShapeError):
    """A ball run could not certify that a square root's argument stays off its branch cut
    (the argument's enclosure meets the closed negative real axis): no enclosure is given."""


#: bits a rational weight or input is rounded to when it becomes a ball
RATIONAL_BITS = 192


class Balls(_MatrixProducts, Numbers):
    """Real balls (``arb``) or complex boxes (``acb``) at flint's working precision
    (``flint.ctx.prec``, 53 bits unless a caller raises it). Weights convert exactly when
    they are floats or integers, and to the nearest enclosing ball when they are rationals.

    >>> from fractions import Fraction
    >>> x = BALL.vector([Fraction(1, 3), 2.0], "x", 2)
    >>> str(x[0] * 3), str(x[1])
    ('[1.00000000000000 +/- 2.23e-16]', '2.00000000000000')
    """

    roots = True

    def __init__(self, *, complex: bool = False) -> None:
        super().__init__()
        self.complex = complex
        self.name = "complex ball" if complex else "ball"
        self._kind = flint.acb if complex else flint.arb
        self._mat = flint.acb_mat if complex else flint.arb_mat
        self._mats: dict[int, tuple[weakref.ref, Any]] = {}

    def entry(self, value: Any) -> Any:
        if isinstance(value, (flint.arb, flint.acb)):
            if isinstance(value, flint.acb) and not self.complex:
                raise ShapeError(f"entry {value} is complex; expected a real ball")
            return self._kind(value)
        if isinstance(value, (float, np.floating)):
            if not np.isfinite(value):
                raise ShapeError(f"entry {value!r} is not finite; expected finite numbers")
            return self._kind(float(value))  # a double is a dyadic rational: exact
        if isinstance(value, complex):
            if not self.complex:
                raise ShapeError(f"entry {value!r} is complex; expected a real number")
            return flint.acb(value.real, value.imag)
        if isinstance(value, str):
            raise TypeError(f"entry {value!r} is a string; expected a number")
        q = exact_number(value)
        if q.q == 1:
            return self._kind(int(q.p))
        # weights are converted once and cached: round them finely enough for any later precision
        with flint.ctx.workprec(max(flint.ctx.prec, RATIONAL_BITS)):
            return self._kind(flint.arb(q))

    def rsqrt(self, u: np.ndarray, what: str) -> np.ndarray:
        """``1/√u`` on the principal branch, refused (:class:`BranchError`) unless every
        enclosure certainly misses the closed negative real axis, where that branch is not
        analytic (real balls: certainly positive)."""
        flat = np.ravel(u)
        if self.complex:
            bad = [v for v in flat if not (v.real > 0 or v.imag > 0 or v.imag < 0)]
        else:
            bad = [v for v in flat if not v > 0]
        if bad:
            raise BranchError(f"{what} is {bad[0]}, not certainly off the negative real axis (≤ 0): "
                              "the square root is not certified there")
        out = np.empty(np.shape(u), dtype=object)
        out.ravel()[:] = [v.rsqrt() for v in flat]
        return out if out.ndim else out[()]


#: real balls: certified enclosures of real values (α-coefficients, forward passes at a real α)
BALL: Balls = Balls() if flint is not None else None  # type: ignore[assignment]
#: complex boxes: forward passes over a region of complex α (the radius of convergence)
COMPLEX_BALL: Balls = Balls(complex=True) if flint is not None else None  # type: ignore[assignment]


#: ``time.monotonic()`` after which :func:`in_time` raises :class:`DeadlineError` (set by the
#: verifier's time limit). flint multiplies in C, where the limit's signal waits until the call
#: returns: long products over polynomials go one row at a time and check the clock in between.
STOP: float | None = None


def in_time() -> None:
    """Raise :class:`DeadlineError` once the time limit :data:`STOP` has passed."""
    if STOP is not None and time.monotonic() > STOP:
        raise DeadlineError("time limit reached")


def by_rows(v: np.ndarray, step: Any) -> np.ndarray:
    """``step(row)`` for every row of an object array, the clock checked before each (see :data:`STOP`)."""
    rows = []
    for row in v:
        in_time()
        rows.append(step(row))
    return np.stack(rows) if rows else step(v)


def by_entries(shape: tuple[int, ...], step: Any) -> np.ndarray:
    """An object array of ``step(index)``, the clock checked before each entry (see :data:`STOP`)."""
    out = np.empty(shape, dtype=object)
    for i in np.ndindex(shape):
        in_time()
        out[i] = step(i)
    return out


class PolyRing(Numbers):
    """Sparse multivariate polynomials with rational coefficients over the given symbols.

    >>> x, y = sympy.symbols("x y")
    >>> R = PolyRing([x, y])
    >>> R.to_sympy(R.entry(x + 2 * y) ** 2)
    x**2 + 4*x*y + 4*y**2
    """

    name = "polynomial"

    def __init__(self, symbols: Sequence[sympy.Symbol]) -> None:
        super().__init__()
        self.symbols = tuple(symbols)
        if len(set(self.symbols)) != len(self.symbols):
            raise ShapeError("polynomial ring with repeated generators")
        self.index = {sym: i for i, sym in enumerate(self.symbols)}
        names = tuple(str(sym) for sym in self.symbols) or ("_",)
        if flint is not None:
            self.ctx = flint.fmpq_mpoly_ctx.get(names, "lex")
            self.gens = self.ctx.gens()[: len(self.symbols)]
        else:  # pragma: no cover - exercised by the fallback tests
            from sympy.polys.domains import QQ
            from sympy.polys.rings import ring

            self.ctx, *gens = ring(list(self.symbols) or [sympy.Symbol("_")], QQ)
            self.gens = tuple(gens[: len(self.symbols)])

    def apply(self, M: np.ndarray, v: np.ndarray) -> np.ndarray:
        if v.ndim > 1:
            return by_rows(v, lambda row: self.apply(M, row))
        return by_entries((len(M),), lambda j: v @ M[j])

    def check_products(self, left: np.ndarray, right: np.ndarray, pairs: Sequence[tuple[int, int]]) -> None:
        # flint's C code cannot be interrupted: refuse a product that would blow up before it starts
        if left.dtype != object:
            return
        size = np.vectorize(len, otypes=[object])
        lw, lv = size(left), size(right)
        bound = 0
        for i, j in pairs:
            bound += int(np.sum(lw[i] * lv[j]))
            if bound > MAX_PRODUCT_TERMS:
                raise BudgetError(
                    f"the symbolic products of one layer would have up to more than {MAX_PRODUCT_TERMS} terms: too large to "
                    "build; use fewer symbolic weights (numbers for x and s, smaller widths), fewer layers or a lower max_order"
                )

    def const(self, value: Any) -> Any:
        if flint is not None:
            return self.ctx.constant(exact_number(value)) if hasattr(self.ctx, "constant") else self.ctx.from_dict({(0,) * self.ctx.nvars(): exact_number(value)})
        return self.ctx(exact_number(value))

    def entry(self, value: Any) -> Any:
        if getattr(value, "ring", None) is self.ctx or (flint is not None and isinstance(value, flint.fmpq_mpoly)):
            return value  # already a polynomial of this ring
        if isinstance(value, sympy.Symbol) and value in self.index:
            return self.gens[self.index[value]]
        if isinstance(value, sympy.Basic) and value.free_symbols:
            unknown = value.free_symbols - set(self.index)
            if unknown:
                raise ShapeError(f"entry {value} has symbols {sorted(map(str, unknown))} outside the ring")
            poly = sympy.Poly(value, *self.symbols)
            if not poly.domain.is_QQ and not poly.domain.is_ZZ:
                raise ShapeError(f"entry {value} is not a polynomial with rational coefficients")
            return self.from_terms({m: c for m, c in poly.as_dict().items()})
        return self.const(value)

    def from_terms(self, terms: dict[tuple[int, ...], Any]) -> Any:
        if flint is not None:
            n = self.ctx.nvars()
            return self.ctx.from_dict({m + (0,) * (n - len(m)): exact_number(c) for m, c in terms.items()})
        return self.ctx.from_dict({m: exact_number(c) for m, c in terms.items()})

    def terms(self, poly: Any) -> Iterable[tuple[tuple[int, ...], Any]]:
        """(exponent tuple, rational coefficient) pairs of a polynomial."""
        if not hasattr(poly, "monoms"):  # a plain number that never met the ring
            return [((0,) * len(self.symbols), poly)] if poly != 0 else []
        if flint is not None:
            return [(tuple(int(e) for e in m)[: len(self.symbols)], c) for m, c in zip(poly.monoms(), poly.coeffs())]
        return list(poly.terms())  # pragma: no cover

    def to_sympy(self, poly: Any) -> sympy.Expr:
        out = []
        for monom, coeff in self.terms(poly):
            factors = [sym**e for sym, e in zip(self.symbols, monom) if e]
            out.append(sympy.Mul(to_sympy_number(coeff), *factors))
        return sympy.Add(*out)


class Centered:
    """A quantity ``q(α)`` analytic on a complex box B of α (centre c), held in the mean-value
    form: ``q(c) ∈ v`` and ``q'(z) ∈ d`` for every z in B, so ``q(α) ∈ v + d (α − c)`` for α in B
    (``q(α) − q(c) = (α − c) ∫₀¹ q'(c + t(α − c)) dt``, and the mean lies in the convex box d).
    Products, quotients and ``u^(-1/2)`` keep the form (the chain rule with enclosures over B), so
    widths grow with |q'| · |B| rather than with the dependency blow-up of plain boxes."""

    __slots__ = ("v", "d", "delta")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, v: Any, d: Any, delta: Any) -> None:
        self.v, self.d, self.delta = v, d, delta

    def enclosure(self) -> Any:
        """An ``acb`` box holding ``q(α)`` for every α in B."""
        return self.v + self.d * self.delta

    def _pair(self, other: Any) -> tuple[Any, Any, Any]:
        if isinstance(other, Centered):
            return other.v, other.d, other.enclosure()
        return other, 0, other

    def __add__(self, other: Any) -> Centered:
        v, d, _ = self._pair(other)
        return Centered(self.v + v, self.d + d, self.delta)

    __radd__ = __add__

    def __neg__(self) -> Centered:
        return Centered(-self.v, -self.d, self.delta)

    def __sub__(self, other: Any) -> Centered:
        v, d, _ = self._pair(other)
        return Centered(self.v - v, self.d - d, self.delta)

    def __rsub__(self, other: Any) -> Centered:
        return (-self) + other

    def __mul__(self, other: Any) -> Centered:
        if not isinstance(other, Centered):
            return Centered(self.v * other, self.d * other, self.delta)
        # (fg)' = f' g + f g', each factor enclosed over B
        return Centered(self.v * other.v, self.d * other.enclosure() + self.enclosure() * other.d, self.delta)

    __rmul__ = __mul__

    def inverse(self) -> Centered:
        whole = self.enclosure()
        if whole.contains(0):  # a pole may lie in the box: nothing is certified there
            raise BranchError(f"a divisor's enclosure {whole} over the box of alpha holds 0")
        return Centered(1 / self.v, -self.d / (whole * whole), self.delta)

    def __truediv__(self, other: Any) -> Centered:
        return self * other.inverse() if isinstance(other, Centered) else Centered(self.v / other, self.d / other, self.delta)

    def __rtruediv__(self, other: Any) -> Centered:
        return self.inverse() * other

    def __eq__(self, other: Any) -> bool:  # type: ignore[override]
        # "is it exactly this number": only a point box is (the blocks' "== 0" refusals)
        return bool(self.enclosure() == (other.enclosure() if isinstance(other, Centered) else other))

    def __repr__(self) -> str:
        return f"Centered({self.v}, slope {self.d})"


class CenteredBoxes(Balls):
    """Complex boxes of α in the mean-value form (:class:`Centered`): weights are constant
    ``acb`` boxes; :meth:`alpha` gives α over a box. For certifying where a model with norms
    is analytic in α and bounding it there (:mod:`symsteer.series`)."""

    def __init__(self) -> None:
        super().__init__(complex=True)
        self.name = "centred complex box"

    def alpha(self, centre: complex, half_width: float) -> Centered:
        """α over the square ``|Re(α − c)|, |Im(α − c)| ≤ half_width``."""
        delta = flint.acb(flint.arb(0, half_width), flint.arb(0, half_width))
        return Centered(flint.acb(centre.real, centre.imag), flint.acb(1), delta)

    def entry(self, value: Any) -> Any:
        return value if isinstance(value, Centered) else super().entry(value)

    def rsqrt(self, u: np.ndarray, what: str) -> np.ndarray:
        """``u^(-1/2)`` on the principal branch, refused unless every box ``u(B)`` certainly misses
        the closed negative real axis (there the branch is analytic; so is the composite on B)."""
        flat = list(np.ravel(u))
        if not any(isinstance(v, Centered) for v in flat):
            return super().rsqrt(u, what)
        whole = [v.enclosure() if isinstance(v, Centered) else v for v in flat]
        root = super().rsqrt(np.array(whole, dtype=object), what)
        out = np.empty(len(flat), dtype=object)
        for i, (v, r) in enumerate(zip(flat, root)):
            if isinstance(v, Centered):  # (u^(-1/2))' = -u'/2 · u^(-3/2), over B
                out[i] = Centered(v.v.rsqrt(), -v.d * r * r * r / 2, v.delta)
            else:
                out[i] = r
        out = out.reshape(np.shape(u))
        return out if out.ndim else out[()]

    def apply(self, M: np.ndarray, v: np.ndarray) -> np.ndarray:
        # linear: the centres and the slopes go through the same matrix (flint products)
        flat = v.reshape(-1)
        if v.size == 0 or not any(isinstance(e, Centered) for e in flat):
            return super().apply(M, v)
        delta = next(e.delta for e in flat if isinstance(e, Centered))
        centres = super().apply(M, np.array([e.v if isinstance(e, Centered) else e for e in flat], dtype=object).reshape(v.shape))
        slopes = super().apply(M, np.array([e.d if isinstance(e, Centered) else flint.acb(0) for e in flat], dtype=object).reshape(v.shape))
        out = np.empty(centres.size, dtype=object)
        out[:] = [Centered(a, b, delta) for a, b in zip(centres.ravel(), slopes.ravel())]
        return out.reshape(centres.shape)


class _Box:
    """A square box B of α: ``delta`` the box of α − c (an ``acb``), ``mag`` an upper bound of
    |α − c| (an ``arb``), ``order`` the Taylor models' degree."""

    __slots__ = ("delta", "mag", "order")

    def __init__(self, half_width: float, order: int) -> None:
        self.delta = flint.acb(flint.arb(0, half_width), flint.arb(0, half_width))
        self.mag = flint.arb(half_width) * flint.arb(2).sqrt()
        self.mag = flint.arb(self.mag.upper())
        self.order = order


_ZERO = flint.acb(0) if flint is not None else 0  # flint numbers are immutable: one zero serves all


def _zero() -> Any:
    return _ZERO


def _acb(value: Any) -> Any:
    """A constant as an ``acb`` (numpy integers and floats included)."""
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    return value if isinstance(value, flint.acb) else flint.acb(value)


class Taylor:
    """A quantity ``q(α)`` analytic on a box B of α (centre c) as a Taylor model: a polynomial in
    ``α − c`` of degree ≤ K with ``acb`` coefficients and a remainder radius r (an ``arb``), such
    that ``|q(α) − Σ_k c_k (α − c)^k| ≤ r`` for every α in B. Sums, products, quotients, ``u^(-1/2)``
    and tanh keep the form (products truncate at K and bound the dropped terms over B;
    ``(1 + t)^p`` and ``exp`` keep K terms of their series and bound the rest by ``|t| ≤ τ``), so
    cancellations between the polynomial parts stay exact and only the small remainder is wrapped."""

    __slots__ = ("c", "r", "box", "_size")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, c: list[Any], r: Any, box: _Box) -> None:
        self.c, self.r, self.box, self._size = c, r, box, None

    def _is_constant(self) -> bool:
        """No α in it: every coefficient above the constant and the remainder are exactly 0."""
        return self.r == 0 and all(a == 0 for a in self.c[1:])

    def _polynomial_abs(self) -> Any:
        """An upper bound of the polynomial part's modulus over B (computed once: models are immutable)."""
        if self._size is None:
            self._size = flint.arb(self.polynomial().abs_upper())
        return self._size

    # -- ranges ------------------------------------------------------------------------

    def polynomial(self) -> Any:
        """An ``acb`` box holding the polynomial part over B (Horner in ball arithmetic)."""
        out = self.c[-1]
        for coeff in reversed(self.c[:-1]):
            out = out * self.box.delta + coeff
        return out

    def enclosure(self) -> Any:
        """An ``acb`` box holding ``q(α)`` for every α in B."""
        r = flint.arb(self.r.upper())
        return self.polynomial() + flint.acb(flint.arb(0, r), flint.arb(0, r))

    def _abs(self) -> Any:
        """An upper bound of |q| over B (an ``arb``)."""
        return self._polynomial_abs() + self.r

    @property
    def v(self) -> Any:
        """The value at the box's centre (within the remainder)."""
        return self.c[0]

    def _lift(self, other: Any) -> Taylor:
        if isinstance(other, Taylor):
            return other
        return Taylor([_acb(other)] + [_zero()] * self.box.order, flint.arb(0), self.box)

    # -- arithmetic ----------------------------------------------------------------------

    def __add__(self, other: Any) -> Taylor:
        if not isinstance(other, Taylor):
            return Taylor([self.c[0] + _acb(other)] + self.c[1:], self.r, self.box)
        return Taylor([a + b for a, b in zip(self.c, other.c)], self.r + other.r, self.box)

    __radd__ = __add__

    def __neg__(self) -> Taylor:
        return Taylor([-a for a in self.c], self.r, self.box)

    def __sub__(self, other: Any) -> Taylor:
        return self + (-other if isinstance(other, Taylor) else -other)

    def __rsub__(self, other: Any) -> Taylor:
        return (-self) + other

    def __mul__(self, other: Any) -> Taylor:
        if not isinstance(other, Taylor):
            k = _acb(other)
            if k == 1:  # rotary tables, lane mixing and masks are full of exact ones and zeros
                return self
            if k == 0:
                return Taylor([_ZERO] * len(self.c), flint.arb(0), self.box)
            return Taylor([a * k for a in self.c], self.r * flint.arb(k.abs_upper()), self.box)
        # positions before the steered ones never see α: their models are constants, and most
        # products in attention are with them
        if other._is_constant():
            return self * other.c[0]
        if self._is_constant():
            return other * self.c[0]
        K = self.box.order
        prod = [_zero() for _ in range(2 * K + 1)]
        for i, a in enumerate(self.c):
            if a == 0:
                continue
            for j, b in enumerate(other.c):
                if b != 0:
                    prod[i + j] += a * b
        high = flint.arb(0)
        power = self.box.mag ** (K + 1)
        for k in range(K + 1, 2 * K + 1):  # the dropped degrees, bounded over B
            if prod[k] != 0:
                high += flint.arb(prod[k].abs_upper()) * power
            power *= self.box.mag
        A = self._polynomial_abs()
        B = other._polynomial_abs()
        return Taylor(prod[: K + 1], A * other.r + B * self.r + self.r * other.r + high, self.box)

    __rmul__ = __mul__

    def _series(self, coeffs: list[Any], tail: Any, t: Taylor) -> Taylor:
        """``Σ_j coeffs[j] t^j`` (Horner in Taylor arithmetic) plus the remainder ``tail``."""
        out = self._lift(coeffs[-1])
        for a in reversed(coeffs[:-1]):
            out = out * t + a
        return Taylor(out.c, out.r + tail, self.box)

    def _relative(self, what: str) -> tuple[Any, Taylor, Any]:
        """``q = q0 (1 + t)``: q0 the centre's midpoint (exact), t with |t| ≤ τ < 1 over B."""
        q0 = flint.acb(self.c[0].mid())
        if q0 == 0:
            raise BranchError(f"{what} is 0 at the box's centre; nothing is certified there")
        t = (self + (-q0)) * (1 / q0)
        tau = t._abs()
        if not tau < 1:
            raise BranchError(f"{what} varies by a factor {float(tau.upper()):.3g} ≥ 1 over the box of alpha; "
                              "its series is not certified there")
        return q0, t, tau

    def _power(self, p: Any, what: str) -> Taylor:
        """``q^p`` on the principal branch for p = −1 or −1/2: ``q0^p (1 + t)^p``, the binomial
        series to degree K with remainder ``τ^(K+1) / (1 − τ)`` (|binom(p, j)| ≤ 1)."""
        q0, t, tau = self._relative(what)
        K = self.box.order
        coeffs, b = [], flint.arb(1)
        for j in range(K + 1):
            coeffs.append(b)
            b = b * (p - j) / (j + 1)
        tail = tau ** (K + 1) / (1 - tau)
        scale = q0 ** p if p == -1 else q0.rsqrt()
        return self._series(coeffs, tail, t) * scale

    def inverse(self) -> Taylor:
        return self._power(-1, "a divisor")

    def __truediv__(self, other: Any) -> Taylor:
        return self * other.inverse() if isinstance(other, Taylor) else self * (1 / flint.acb(other))

    def __rtruediv__(self, other: Any) -> Taylor:
        return self.inverse() * other

    def rsqrt(self) -> Taylor:
        return self._power(flint.arb(-1) / 2, "the argument of a square root")

    def exp(self) -> Taylor:
        """``e^q0 Σ_{j≤K} t^j / j!`` with remainder ``τ^(K+1) / (K+1)! · e^τ``, t = q − q0."""
        K = self.box.order
        q0 = flint.acb(self.c[0].mid())
        t = self + (-q0)
        tau = t._abs()
        coeffs, f = [], flint.arb(1)
        for j in range(K + 1):
            coeffs.append(1 / f)
            f = f * (j + 1)
        tail = tau ** (K + 1) / f * tau.exp()
        return self._series(coeffs, tail, t) * q0.exp()

    def tanh(self) -> Taylor:
        """``1 − 2 / (e^(2q) + 1)``: refused where ``e^(2q) + 1`` may vanish (tanh's poles)."""
        return 1 - 2 * ((self * 2).exp() + 1).inverse()

    def __eq__(self, other: Any) -> bool:  # type: ignore[override]
        return bool(self.enclosure() == (other.enclosure() if isinstance(other, Taylor) else other))

    def __repr__(self) -> str:
        return f"Taylor({self.c[0]}, degree {self.box.order}, remainder {self.r})"


class TaylorBoxes(Balls):
    """Complex boxes of α carrying Taylor models of degree ``order`` in α − c (:class:`Taylor`):
    weights are constant ``acb`` boxes; :meth:`alpha` gives α over a box. Tighter than the
    mean-value form where a model has many layers (widths grow with the remainder only)."""

    def __init__(self, order: int = 6) -> None:
        super().__init__(complex=True)
        self.name = "complex Taylor box"
        self.order = order
        self._abs: dict[int, tuple[weakref.ref, Any]] = {}

    def alpha(self, centre: complex, half_width: float) -> Taylor:
        box = _Box(half_width, self.order)
        c = [flint.acb(centre.real, centre.imag), flint.acb(1)] + [_zero()] * (self.order - 1)
        return Taylor(c[: self.order + 1], flint.arb(0), box)

    def entry(self, value: Any) -> Any:
        return value if isinstance(value, Taylor) else super().entry(value)

    def rsqrt(self, u: np.ndarray, what: str) -> np.ndarray:
        """``u^(-1/2)`` on the principal branch, refused unless every enclosure ``u(B)`` certainly
        misses the closed negative real axis (where the branch is analytic) and the series of
        ``(1 + t)^(-1/2)`` about the box's centre is certified."""
        flat = list(np.ravel(u))
        if not any(isinstance(v, Taylor) for v in flat):
            return super().rsqrt(u, what)
        whole = np.array([v.enclosure() if isinstance(v, Taylor) else v for v in flat], dtype=object)
        super().rsqrt(whole, what)  # the branch check
        out = np.empty(len(flat), dtype=object)
        roots = super().rsqrt(np.array([v for v in flat if not isinstance(v, Taylor)], dtype=object), what) \
            if not all(isinstance(v, Taylor) for v in flat) else []
        it = iter(roots)
        for i, v in enumerate(flat):
            out[i] = v.rsqrt() if isinstance(v, Taylor) else next(it)
        out = out.reshape(np.shape(u))
        return out if out.ndim else out[()]

    def apply(self, M: np.ndarray, v: np.ndarray) -> np.ndarray:
        # linear: each coefficient through the matrix (flint products); remainders through |M|
        flat = v.reshape(-1)
        if v.size == 0 or not any(isinstance(e, Taylor) for e in flat):
            return super().apply(M, v)
        box = next(e.box for e in flat if isinstance(e, Taylor))
        K = box.order
        cells = [e if isinstance(e, Taylor) else Taylor([flint.acb(e)] + [_zero()] * K, flint.arb(0), box) for e in flat]
        coeffs = [super(TaylorBoxes, self).apply(M, np.array([c.c[k] for c in cells], dtype=object).reshape(v.shape))
                  for k in range(K + 1)]
        radii = flint.arb_mat([[c.r] for c in cells])
        rows = v.shape[-1]
        r = np.array([radii[i, 0] for i in range(len(cells))], dtype=object).reshape(-1, rows)
        absM = self._absolute(M)
        out_r = (flint.arb_mat(r.tolist()) * absM) if r.size else None
        out = np.empty(coeffs[0].size, dtype=object)
        first = coeffs[0].ravel()
        cs = [c.ravel() for c in coeffs]
        for i in range(len(first)):
            out[i] = Taylor([cs[k][i] for k in range(K + 1)], out_r[i // M.shape[0], i % M.shape[0]], box)
        return out.reshape(coeffs[0].shape)

    def _absolute(self, M: np.ndarray) -> Any:
        """``|M|ᵀ`` as an ``arb_mat`` of upper bounds, kept while ``M`` lives."""
        return kept(self._abs, M, lambda: flint.arb_mat([[flint.arb(self.entry(e).abs_upper()) for e in row] for row in M.T]))
