"""The bilinear block ``y = P((W x + b) ⊙ (V x + c))``: its forward pass in every number
system, its α-propagation, its tensor ``B[k,i,j]`` and closed forms (the only place the
formula is written)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import sympy

from ..errors import ShapeError
from ..numbers import FLOAT, Numbers
from .base import Block, Field, as_weight_array, cauchy, field_of, poly_add, random_array

__all__ = ["Bilinear"]

#: widths beyond which the dense tensor B[k,i,j] is refused: it is never needed for
#: the expansion (the factored W, V, P are contracted instead) and grows as d_out d².
DENSE_TENSOR_LIMIT = 2_000_000


@dataclass(frozen=True, eq=False)
class Bilinear(Block):
    """A bilinear layer ``y = P((W x + b) ⊙ (V x + c))``; ``b``, ``c`` optional.

    ``W``, ``V`` have shape ``(h, d)``, ``P`` has shape ``(d_out, h)``. Entries may be
    integers, fractions, floats or sympy expressions.

    >>> layer = Bilinear([[1, 0]], [[0, 1]], [[1], [2]])
    >>> list(layer([3, 5]))
    [15, 30]
    """

    W: np.ndarray
    V: np.ndarray
    P: np.ndarray
    b: np.ndarray | None = field(default=None, kw_only=True)
    c: np.ndarray | None = field(default=None, kw_only=True)
    name: str = field(default="layer", kw_only=True)

    def __post_init__(self) -> None:
        n = self.name
        put = object.__setattr__  # frozen: normalise once, here
        for key in ("W", "V", "P"):
            put(self, key, as_weight_array(getattr(self, key), f"{n}.{key}", ndim=2))
        if (self.b is None) != (self.c is None):
            raise ShapeError(f"{n}: biases b and c go together; got only {'b' if self.c is None else 'c'}")
        h, d = self.W.shape
        if self.V.shape != (h, d):
            raise ShapeError(f"{n}.V has shape {self.V.shape}; expected {(h, d)} like W")
        if self.P.shape[1] != h:
            raise ShapeError(f"{n}.P has shape {self.P.shape}; expected (d_out, {h}) to match the hidden width of W")
        if self.b is not None:
            for key in ("b", "c"):
                arr = as_weight_array(getattr(self, key), f"{n}.{key}", ndim=1)
                if arr.shape != (h,):
                    raise ShapeError(f"{n}.{key} has shape {arr.shape}; expected ({h},), the hidden width")
                put(self, key, arr)

    # -- shape and kind -------------------------------------------------------------

    @property
    def d_in(self) -> int:
        return self.W.shape[1]

    @property
    def hidden(self) -> int:
        return self.W.shape[0]

    @property
    def d_out(self) -> int:
        return self.P.shape[0]

    @property
    def has_bias(self) -> bool:
        return self.b is not None

    @cached_property
    def field(self) -> Field:
        return field_of(self.W, self.V, self.P, self.b, self.c)

    def arrays(self) -> dict[str, np.ndarray | None]:
        return {"W": self.W, "V": self.V, "P": self.P, "b": self.b, "c": self.c}

    def with_output_bias(self, t: Any) -> Bilinear:
        """``P((W x + b) ⊙ (V x + c)) + t`` as a bilinear layer, exactly: one more hidden unit
        with zero rows in W and V, biases 1 and 1, and the column t in P.

        >>> from symsteer.numbers import EXACT
        >>> Bilinear([[1]], [[1]], [[2]]).with_output_bias([5]).forward(EXACT.vector([3], "x", 1), numbers=EXACT).tolist()
        [23]
        """
        t = as_weight_array(t, f"{self.name}.t", ndim=1)
        if t.shape != (self.d_out,):
            raise ShapeError(f"{self.name}: output bias of shape {t.shape}; expected ({self.d_out},), the output width")
        zero_row = np.zeros((1, self.d_in), dtype=self.W.dtype if self.W.dtype != object else np.int64)
        b = self.b if self.b is not None else np.zeros(self.hidden, dtype=np.int64)
        c = self.c if self.c is not None else np.zeros(self.hidden, dtype=np.int64)
        return Bilinear(
            _stack([self.W, zero_row]), _stack([self.V, zero_row]), _stack([self.P, t.reshape(-1, 1)], axis=1),
            b=_stack([b, np.ones(1, dtype=np.int64)]), c=_stack([c, np.ones(1, dtype=np.int64)]), name=self.name,
        )

    # -- the block protocol -------------------------------------------------------------

    def forward(self, x: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        """``P((W x + b) ⊙ (V x + c))`` on the last axis of ``x`` (already in ``numbers``)."""
        self._check_input(x)
        wx, vx = self.factors(x, numbers=numbers)
        return numbers.apply(self.weights(numbers)["P"], wx * vx)

    def factors(self, x: np.ndarray, *, numbers: Numbers) -> tuple[np.ndarray, np.ndarray]:
        """The two hidden factors ``(W x + b, V x + c)``; their product is the hidden
        activation ``g(x)`` that ``P`` maps out."""
        a = self.weights(numbers)
        wx, vx = numbers.apply(a["W"], x), numbers.apply(a["V"], x)
        if a["b"] is not None:
            wx, vx = wx + a["b"], vx + a["c"]
        return wx, vx

    def propagate(self, cs: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
        """``e_m = Σ_{i+j=m} P((W c_i + [i=0] b) ⊙ (V c_j + [j=0] c))``, one matmul per weight
        matrix on the stacked orders and the order convolution in :func:`cauchy`."""
        self._check_input(cs, "the coefficients")
        a = self.weights(numbers)
        wc, vc = numbers.apply(a["W"], cs), numbers.apply(a["V"], cs)
        if a["b"] is not None:
            wc[0] += a["b"]
            vc[0] += a["c"]
        return numbers.apply(a["P"], cauchy(wc, vc, top=top, numbers=numbers))

    def degree(self, k: int) -> int:
        return 2 * k

    def cost(self, rows: int, orders: int) -> int:
        # two hidden maps and P per order, and the order convolution of the hidden factors
        return orders * rows * (2 * self.d_in + self.d_out) * self.hidden + orders * orders * rows * self.hidden

    def rational(self, num: np.ndarray, den: np.ndarray, *, numbers: Numbers) -> tuple[np.ndarray, np.ndarray]:
        """``B(num/den) = P((W num + b den) ⊙ (V num + c den)) / den²``."""
        a = self.weights(numbers)
        wn, vn = numbers.apply(a["W"], num), numbers.apply(a["V"], num)
        if a["b"] is not None:
            wn = poly_add(wn, den[:, None] * a["b"], numbers)
            vn = poly_add(vn, den[:, None] * a["c"], numbers)
        top = 1 << 30
        return numbers.apply(a["P"], cauchy(wn, vn, top=top, numbers=numbers)), cauchy(den, den, top=top, numbers=numbers)

    def pair(self, u: np.ndarray | None, v: np.ndarray | None, *, numbers: Numbers, same: bool = False) -> np.ndarray:
        """The structured expansion's node: ``B̂(u, v) = (B(u, v) + B(v, u)) / 2`` on operands
        in ``numbers``, ``None`` standing for the bias leaf 1 (``W·1 = b``, ``V·1 = c``);
        ``same``: ``B(u, u)``."""
        a = self.weights(numbers)

        def lin(key: str, bias: str, w: np.ndarray | None) -> np.ndarray:
            return a[bias] if w is None else numbers.apply(a[key], w)

        wl, vr = lin("W", "b", u), lin("V", "c", v)
        if same:
            return numbers.apply(a["P"], wl * vr)
        wr, vl = lin("W", "b", v), lin("V", "c", u)
        half = np.empty((), dtype=object)
        half[()] = numbers.half()
        return numbers.apply(a["P"], wl * vr + wr * vl) * (half if numbers.name != "float" else 0.5)

    def cross_matrix(self, s: Any, *, numbers: Numbers = FLOAT) -> np.ndarray:
        """``M_s = P (diag(V s) W + diag(W s) V)``, so that ``B(x, s) + B(s, x) = M_s x``."""
        a = self.weights(numbers)
        s = numbers.vector(s, "s", self.d_in)
        return a["P"] @ ((a["V"] @ s)[:, None] * a["W"] + (a["W"] @ s)[:, None] * a["V"])

    def interaction_matrix(self, u: Any, *, numbers: Numbers = FLOAT) -> np.ndarray:
        """``Q = Σ_k u_k B̂[k] = sym(Wᵀ diag(Pᵀ u) V)``, so that ``u · B(x, x) = xᵀ Q x``, from
        the factors (never the dense tensor)."""
        a = self.weights(numbers)
        u = numbers.vector(u, "u", self.d_out)
        Q = a["W"].T @ ((a["P"].T @ u)[:, None] * a["V"])
        return (Q + Q.T) * numbers.half()

    def __repr__(self) -> str:
        """Short: what the block is, not its weights (they are attributes)."""
        return f"{type(self).__name__}({self.describe()})"

    def describe(self) -> str:
        return f"bilinear {self.d_in} → {self.d_out}, hidden {self.hidden}" + (", biases" if self.has_bias else "")

    # -- constructors -----------------------------------------------------------------

    @classmethod
    def symbolic(cls, d: int, h: int, d_out: int | None = None, *, index: int = 0, bias: bool = False) -> Bilinear:
        """Generic weights: entries ``W^{(l)}_{a,i}``, ``V^{(l)}_{a,i}``, ``P^{(l)}_{k,a}`` (1-based)."""

        def mat(letter: str, rows: int, cols: int) -> list[list[sympy.Symbol]]:
            return [[sympy.Symbol(f"{letter}^{{({index})}}_{{{r + 1},{q + 1}}}") for q in range(cols)] for r in range(rows)]

        def vec(letter: str) -> list[sympy.Symbol] | None:
            return [sympy.Symbol(f"{letter}^{{({index})}}_{{{a + 1}}}") for a in range(h)] if bias else None

        return cls(mat("W", h, d), mat("V", h, d), mat("P", d_out or d, h), b=vec("b"), c=vec("c"), name=f"layers[{index}]")

    @classmethod
    def random(
        cls,
        d: int,
        h: int,
        d_out: int | None = None,
        *,
        rng: np.random.Generator,
        kind: Literal["int", "rational", "float"] = "int",
        bias: bool = False,
        index: int = 0,
    ) -> Bilinear:
        """Random weights: small integers in [-2, 2], rationals p/q with |p| ≤ 3, q ≤ 3, or normal floats."""
        shapes = {"W": (h, d), "V": (h, d), "P": (d_out or d, h)}
        if bias:
            shapes |= {"b": (h,), "c": (h,)}
        arrays = {k: random_array(shape, rng=rng, kind=kind) for k, shape in shapes.items()}
        return cls(**arrays, name=f"layers[{index}]")

    # -- the tensor and its forms -----------------------------------------------------

    @cached_property
    def matrices(self) -> tuple[sympy.ImmutableMatrix, ...]:
        """(W, V, P, b, c) as sympy matrices (b, c as columns, or None)."""
        col = lambda a: None if a is None else sympy.ImmutableMatrix(list(a))  # noqa: E731
        return (*(sympy.ImmutableMatrix(a.tolist()) for a in (self.W, self.V, self.P)), col(self.b), col(self.c))

    def tensor(self) -> sympy.ImmutableDenseNDimArray:
        """``B[k,i,j] = Σ_a P[k,a] W[a,i] V[a,j]`` (bias-free part), output axis first."""
        size = self.d_out * self.d_in**2
        if size > DENSE_TENSOR_LIMIT:
            raise ShapeError(
                f"{self.name}: the dense tensor would have {size} entries (limit {DENSE_TENSOR_LIMIT}); "
                "use the two-argument form B(u, v), which contracts the factored weights"
            )
        W, V, P, _, _ = self.matrices
        entries = [
            sympy.expand(sum(P[k, a] * W[a, i] * V[a, j] for a in range(self.hidden)))
            for k in range(self.d_out)
            for i in range(self.d_in)
            for j in range(self.d_in)
        ]
        return sympy.ImmutableDenseNDimArray(entries, (self.d_out, self.d_in, self.d_in))

    def symmetric(self) -> sympy.ImmutableDenseNDimArray:
        """``B̂[k] = (B[k] + B[k]ᵀ)/2``: the only part of B that reaches the output."""
        B = self.tensor()
        n = self.d_in
        entries = [(B[k, i, j] + B[k, j, i]) / 2 for k in range(self.d_out) for i in range(n) for j in range(n)]
        return sympy.ImmutableDenseNDimArray(entries, B.shape)

    def bilinear(self, u: Any, v: Any) -> sympy.ImmutableMatrix:
        """``B(u, v) = P((W u) ⊙ (V v))``, bias-free, exact or symbolic."""
        W, V, P, _, _ = self.matrices
        wu, vv = W * self._column(u), V * self._column(v)
        return sympy.ImmutableMatrix(P * wu.multiply_elementwise(vv)).applyfunc(sympy.expand)

    def symmetric_bilinear(self, u: Any, v: Any) -> sympy.ImmutableMatrix:
        """``B̂(u, v) = (B(u, v) + B(v, u)) / 2``."""
        return ((self.bilinear(u, v) + self.bilinear(v, u)) / 2).applyfunc(sympy.expand)

    def __call__(self, x: Any) -> sympy.ImmutableMatrix:
        """The layer's output ``P((W x + b) ⊙ (V x + c))``, exact or symbolic."""
        W, V, P, b, c = self.matrices
        col = self._column(x)
        wx, vx = W * col, V * col
        if b is not None:
            wx, vx = wx + b, vx + c
        return sympy.ImmutableMatrix(P * wx.multiply_elementwise(vx)).applyfunc(sympy.expand)

    def self_term(self, s: Any) -> sympy.ImmutableMatrix:
        """``B(s, s)``: the steering vector's interaction with itself, from the weights alone."""
        return self.bilinear(s, s)

    def cross_map(self, s: Any) -> sympy.ImmutableMatrix:
        """``M_s`` with ``B(x, s) + B(s, x) = M_s x``: ``M_s = P (diag(V s) W + diag(W s) V)``."""
        W, V, P, _, _ = self.matrices
        col = self._column(s)
        vs, ws = V * col, W * col
        inner = sympy.diag(*vs) * W + sympy.diag(*ws) * V
        return sympy.ImmutableMatrix(P * inner).applyfunc(sympy.expand)

    def _column(self, v: Any) -> sympy.ImmutableMatrix:
        arr = as_weight_array(v, "vector", ndim=1) if not isinstance(v, sympy.MatrixBase) else np.array(list(v), dtype=object)
        if arr.shape != (self.d_in,):
            raise ShapeError(f"{self.name}: vector of length {arr.shape[0]}; expected {self.d_in}, the layer's input width")
        return sympy.ImmutableMatrix([sympy.Float(v) if isinstance(v, float) else v for v in arr.tolist()])


def _stack(parts: list[np.ndarray], axis: int = 0) -> np.ndarray:
    """Concatenate weight arrays, keeping exact entries exact (object dtype when any part is)."""
    if any(p.dtype == object for p in parts):
        parts = [p.astype(object) for p in parts]
    return np.concatenate(parts, axis=axis)
