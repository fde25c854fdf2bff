"""Bilinear attention: the block that mixes positions (the only place its formula is written).

For a stream ``x`` of shape (…, T, d) and each head h of width ``d_h``, with ``R_t`` the
rotary rotation at position t (identity without RoPE):

    q1_t = R_t (Q1 x_t + b_q1),  k1_t = R_t (K1 x_t + b_k1),  q2, k2 likewise,  v_t = V x_t
    pattern[q, k] = (q1_q · k1_k)(q2_q · k2_k) · scale   for k ≤ q (causal), else 0
    z_q = Σ_k pattern[q, k] v_k,   out_q = O concat_h(z_q)

``scale`` is ``1/d_h²`` in the research code (tensor_language, tensor-similarity). Variants:
``pattern="squared"`` uses one branch, ``(q1·k1)² · scale``; ``"squared-normalized"`` divides
each row of that by its sum (rational in the input: α-coefficients are then a power series,
always truncated). :class:`FrozenAttention` is softmax (or any) attention whose pattern is
frozen at given values — linear in the values, and only ever an explicit choice.

α-coefficients go through as Cauchy products over orders: with ``x_t(α) = Σ_m c_{t,m} α^m``,
``a_m[q,k] = Σ_{i+j=m} q1_{q,i} · k1_{k,j}``, ``p_m = Σ_{i+j=m} a_i ⊙ b_j · scale`` (masked),
``z_{q,m} = Σ_{k≤q} Σ_{i+j=m} p_i[q,k] v_{k,j}``. Degree: 5k for input degree k.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar, Literal

import numpy as np

from ..errors import ShapeError
from ..numbers import Numbers, PolyRing, by_rows
from .base import Block, as_scalar, as_weight_array, cauchy, random_array, scalar
from .rotary import Rotary, rotate

__all__ = ["Attention", "FrozenAttention", "LastPosition", "PATTERNS", "cauchy_matmul", "cross_map", "last_position", "self_pattern"]

Pattern = Literal["bilinear", "squared", "squared-normalized"]
PATTERNS: tuple[str, ...] = ("bilinear", "squared", "squared-normalized")
_BRANCHES = ("q1", "k1", "q2", "k2")


def cauchy_matmul(a: np.ndarray, b: np.ndarray, *, top: int) -> np.ndarray:
    """``e_m = Σ_{i+j=m} a_i @ b_j`` for ``m ≤ min(top, deg a + deg b)``, orders on axis 0.

    One matmul per order: the pairs are stacked along the contracted axis, so float64 runs
    make ``top + 1`` BLAS calls instead of ``(top + 1)(top + 2)/2``.

    >>> a = np.array([[[1.0]], [[2.0]]]); b = np.array([[[3.0]], [[4.0]]])
    >>> cauchy_matmul(a, b, top=5).ravel().tolist()
    [3.0, 10.0, 8.0]
    """
    da, db = len(a) - 1, len(b) - 1
    out = []
    for m in range(min(top, da + db) + 1):
        lo, hi = max(0, m - db), min(m, da)
        left = np.concatenate([a[i] for i in range(lo, hi + 1)], axis=-1)
        right = np.concatenate([b[m - i] for i in range(lo, hi + 1)], axis=-2)
        out.append(left @ right)
    return np.stack(out)


def _scalar(value: Any, numbers: Numbers) -> Any:
    """``value`` in ``numbers``, ready to multiply arrays by (see :func:`.base.scalar`)."""
    return scalar(numbers.entry(value))


def _check_heads(width: int, heads: int, what: str, name: str) -> int:
    if width % heads:
        raise ShapeError(f"{name}.{what} has {width} rows; expected a multiple of heads={heads}")
    return width // heads


@dataclass(frozen=True, eq=False)
class Attention(Block):
    """Bilinear attention ``(q1·k1)(q2·k2) · scale`` with a causal mask (see the module).

    Weights in ``nn.Linear``'s convention (``y = W x``): ``q1, k1, q2, k2`` of shape
    (H·d_h, d), ``v`` (H·d_v, d), ``o`` (d_out, H·d_v); QK biases optional (added before the
    rotation, as ``nn.Linear(bias=True)`` does).

    >>> from symsteer.numbers import EXACT
    >>> att = Attention(q1=[[1]], k1=[[1]], q2=[[1]], k2=[[1]], v=[[1]], o=[[1]], heads=1)
    >>> [str(v) for v in att.forward(EXACT.vector([[1], [2]], "x", 1), numbers=EXACT).ravel()]
    ['1', '36']
    """

    q1: np.ndarray = field(kw_only=True)
    k1: np.ndarray = field(kw_only=True)
    v: np.ndarray = field(kw_only=True)
    o: np.ndarray = field(kw_only=True)
    q2: np.ndarray | None = field(default=None, kw_only=True)
    k2: np.ndarray | None = field(default=None, kw_only=True)
    heads: int = field(default=1, kw_only=True)
    pattern: Pattern = field(default="bilinear", kw_only=True)
    rotary: Rotary | None = field(default=None, kw_only=True)
    #: QK biases by branch name ("q1", "k1", "q2", "k2"), each (H·d_h,)
    biases: dict[str, np.ndarray] = field(default_factory=dict, kw_only=True)
    #: the pattern's factor; None: 1/d_h² (exact), as the research code divides
    scale: Any = field(default=None, kw_only=True)
    #: the longest sequence the model was built for (its rotary and mask buffers); None: any
    context: int | None = field(default=None, kw_only=True)
    #: QK-norm: an RMSNorm (width d_h) on each head's q and k after the projection, before RoPE;
    #: one norm for every branch, or one per branch name ("q1", "k1", …). The block is then
    #: algebraic in α (a series, see symsteer.series), not a polynomial.
    qk_norm: Any = field(default=None, kw_only=True)
    name: str = field(default="attention", kw_only=True)

    mixes_positions: ClassVar[bool] = True

    def __post_init__(self) -> None:
        n, put = self.name, object.__setattr__
        if isinstance(self.heads, bool) or not isinstance(self.heads, (int, np.integer)) or self.heads < 1:
            raise ShapeError(f"{n}: heads={self.heads!r}; expected a positive integer")
        put(self, "heads", int(self.heads))
        if self.pattern not in PATTERNS:
            raise ShapeError(f"{n}: pattern={self.pattern!r}; expected one of {', '.join(PATTERNS)}")
        two = self.pattern == "bilinear"
        if two and (self.q2 is None or self.k2 is None):
            raise ShapeError(f"{n}: the bilinear pattern needs q2 and k2; got {'no q2' if self.q2 is None else 'no k2'}")
        if not two and (self.q2 is not None or self.k2 is not None):
            raise ShapeError(f"{n}: pattern={self.pattern!r} has one branch; q2 and k2 must be absent")
        for key in ("q1", "k1", "q2", "k2", "v", "o"):
            if getattr(self, key) is not None:
                put(self, key, as_weight_array(getattr(self, key), f"{n}.{key}", ndim=2))
        d = self.q1.shape[1]
        for key in ("k1", "q2", "k2", "v"):
            arr = getattr(self, key)
            if arr is not None and arr.shape[1] != d:
                raise ShapeError(f"{n}.{key} has shape {arr.shape}; expected (…, {d}) like q1 (the input width)")
        dh = _check_heads(self.q1.shape[0], self.heads, "q1", n)
        for key in ("k1", "q2", "k2"):
            arr = getattr(self, key)
            if arr is not None and arr.shape[0] != self.q1.shape[0]:
                raise ShapeError(f"{n}.{key} has shape {arr.shape}; expected ({self.q1.shape[0]}, {d}) like q1")
        dv = _check_heads(self.v.shape[0], self.heads, "v", n)
        if self.o.shape[1] != self.heads * dv:
            raise ShapeError(f"{n}.o has shape {self.o.shape}; expected (d_out, {self.heads * dv}) to match v")
        if self.rotary is not None:
            if not isinstance(self.rotary, Rotary):
                raise ShapeError(f"{n}: rotary is a {type(self.rotary).__name__}; expected a Rotary")
            if self.rotary.d_head != dh:
                raise ShapeError(f"{n}: rotary tables for heads of width {self.rotary.d_head}; the heads have width {dh}")
        biases = dict(self.biases or {})
        for key in biases:
            if key not in _BRANCHES or getattr(self, key) is None:
                raise ShapeError(f"{n}: a bias for {key!r}; expected biases of {', '.join(k for k in _BRANCHES if getattr(self, k) is not None)}")
            arr = as_weight_array(biases[key], f"{n}.{key}.bias", ndim=1)
            if arr.shape != (self.q1.shape[0],):
                raise ShapeError(f"{n}.{key}.bias has shape {arr.shape}; expected ({self.q1.shape[0]},)")
            biases[key] = arr
        put(self, "biases", biases)
        put(self, "qk_norm", _qk_norms(self.qk_norm, [k for k in _BRANCHES if getattr(self, k) is not None], dh, n))
        put(self, "scale", as_scalar(Fraction(1, dh * dh) if self.scale is None else self.scale, f"{n}.scale"))
        if self.context is not None and (isinstance(self.context, bool) or not isinstance(self.context, (int, np.integer)) or self.context < 1):
            raise ShapeError(f"{n}: context={self.context!r}; expected a positive integer or None")

    # -- shape and kind -------------------------------------------------------------

    @property
    def d_in(self) -> int:
        return self.q1.shape[1]

    @property
    def d_out(self) -> int:
        return self.o.shape[0]

    @property
    def d_head(self) -> int:
        return self.q1.shape[0] // self.heads

    @property
    def d_value(self) -> int:
        return self.v.shape[0] // self.heads

    @property
    def polynomial(self) -> bool:  # type: ignore[override]
        return self.pattern != "squared-normalized" and self.qk_norm is None

    @property
    def has_bias(self) -> bool:
        return bool(self.biases)

    def arrays(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in ("q1", "k1", "q2", "k2", "v", "o")}
        out |= {f"{k}.bias": b for k, b in self.biases.items()}
        out["scale"] = np.array([self.scale], dtype=object if not isinstance(self.scale, float) else np.float64)
        for key, norm in (self.qk_norm or {}).items():
            out |= {f"{key}.norm.{k}": v for k, v in norm.arrays().items()}
        return out

    def degree(self, k: int) -> int | None:
        # two from the query, two from the key's gates, one from the value
        return None if self.pattern == "squared-normalized" or self.qk_norm else 5 * k

    def cost(self, rows: int, orders: int) -> int:
        # five projections and O per order and position; the gates, the pattern and the values
        # convolve orders over every (query, key) pair
        own = orders * rows * self.d_in * 6 * self.d_out + 3 * orders * orders * rows * rows * self.d_in
        return own + sum(norm.cost(rows * self.heads, orders) for norm in (self.qk_norm or {}).values())

    def describe(self) -> str:
        kind = {"bilinear": "bilinear attention (q1·k1)(q2·k2)", "squared": "squared attention (q·k)²",
                "squared-normalized": "row-normalised squared attention"}[self.pattern]
        extra = [f"{self.heads} head(s) of width {self.d_head}", f"scale {self.scale}"]
        if self.rotary is not None:
            extra.append(self.rotary.describe())
        if self.biases:
            extra.append("QK biases")
        if self.qk_norm:
            extra.append("QK-norm " + ", ".join(sorted({v.describe() for v in self.qk_norm.values()})))
        return f"{kind} {self.d_in} → {self.d_out}, " + ", ".join(extra)

    # -- the pieces -----------------------------------------------------------------

    def _length(self, x: np.ndarray) -> int:
        if x.ndim < 2:
            raise ShapeError(f"{self.name}: input has shape {x.shape}; expected a sequence (…, T, {self.d_in})")
        T = x.shape[-2]
        if self.context is not None and T > self.context:
            raise ShapeError(f"{self.name}: a sequence of T={T} positions; the model was built for at most {self.context}")
        return T

    def _heads(self, y: np.ndarray) -> np.ndarray:
        """(…, T, H·w) → (…, H, T, w)."""
        *lead, T, width = y.shape
        return np.moveaxis(y.reshape(*lead, T, self.heads, width // self.heads), -2, -3)

    def _merge(self, z: np.ndarray) -> np.ndarray:
        """(…, H, T, w) → (…, T, H·w)."""
        z = np.moveaxis(z, -3, -2)
        return z.reshape(*z.shape[:-2], z.shape[-2] * z.shape[-1])

    def _branch(self, key: str, x: np.ndarray, w: dict[str, Any], T: int, numbers: Numbers, *, orders: bool,
                top: int = 0) -> np.ndarray:
        """Heads of ``R_t n(W x_t + b)`` (n the QK-norm, if any); with ``orders`` the bias goes to
        order 0 only, and the norm's series is truncated at ``top``."""
        y = numbers.apply(w[key], x)
        bias = w.get(f"{key}.bias")
        if bias is not None:
            if orders:
                y[0] = y[0] + bias
            else:
                y = y + bias
        y = self._heads(y)
        if self.qk_norm and key in self.qk_norm:
            norm = self.qk_norm[key]
            y = norm.propagate(y, top=top, numbers=numbers) if orders else norm.forward(y, numbers=numbers)
        if self.rotary is not None and key != "v":
            cos, sin = self.rotary.converted(T, numbers)
            y = rotate(y, cos, sin)
        return y

    def _masked(self, p: np.ndarray, T: int, numbers: Numbers) -> np.ndarray:
        """``p`` with the entries k > q set to zero. Object arrays go through ``np.where``:
        flint polynomials multiplied by numpy integers come out wrong (numpy unpacks them)."""
        mask = np.tril(np.ones((T, T), dtype=bool))
        if p.dtype != object:
            return p * mask
        return np.where(mask, p, numbers.zeros(p.shape))

    def _check_divides(self, numbers: Numbers) -> None:
        if isinstance(numbers, PolyRing):
            raise ShapeError(f"{self.name}: row normalisation divides; it needs float or exact numbers, not polynomials")

    def _normalize(self, raw: np.ndarray, numbers: Numbers) -> np.ndarray:
        self._check_divides(numbers)
        total = raw.sum(axis=-1, keepdims=True)
        if any(v == 0 for v in np.ravel(total)):
            raise ShapeError(f"{self.name}: a row of the squared pattern sums to zero; row normalisation is undefined there")
        return raw / total

    # -- the block protocol -------------------------------------------------------------

    def forward(self, x: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        """``O concat_h(Σ_{k≤q} pattern[q,k] v_k)`` for a stream (…, T, d) in ``numbers``."""
        self._check_input(x)
        T = self._length(x)
        w = self.weights(numbers)
        q1, k1 = (self._branch(k, x, w, T, numbers, orders=False) for k in ("q1", "k1"))
        a = q1 @ np.swapaxes(k1, -1, -2)
        if self.pattern == "bilinear":
            q2, k2 = (self._branch(k, x, w, T, numbers, orders=False) for k in ("q2", "k2"))
            p = a * (q2 @ np.swapaxes(k2, -1, -2))
        else:
            p = a * a
        p = self._masked(p * _scalar(self.scale, numbers), T, numbers)
        if self.pattern == "squared-normalized":
            p = self._normalize(p, numbers)
        v = self._branch("v", x, w, T, numbers, orders=False)
        z = _rows_matmul(p, v) if isinstance(numbers, PolyRing) else p @ v
        return numbers.apply(w["o"], self._merge(z))

    def propagate(self, cs: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
        """α-coefficients (K+1, …, T, d) → (min(top, 5K)+1, …, T, d_out) by Cauchy products
        over orders (:func:`cauchy_matmul` for the dot products, :func:`cauchy` for the gates)."""
        self._check_input(cs, "the coefficients")
        T = self._length(cs[0])
        w = self.weights(numbers)
        cs = cs[: top + 1]
        q1, k1 = (self._branch(k, cs, w, T, numbers, orders=True, top=top) for k in ("q1", "k1"))
        a = cauchy_matmul(q1, np.swapaxes(k1, -1, -2), top=top)
        if self.pattern == "bilinear":
            q2, k2 = (self._branch(k, cs, w, T, numbers, orders=True, top=top) for k in ("q2", "k2"))
            b = cauchy_matmul(q2, np.swapaxes(k2, -1, -2), top=top)
        else:
            b = a
        p = self._masked(cauchy(a, b, top=top, numbers=numbers) * _scalar(self.scale, numbers), T, numbers)
        if self.pattern == "squared-normalized":
            p = self._series_quotient(p, top, numbers)
        z = cauchy_matmul(p, self._branch("v", cs, w, T, numbers, orders=True), top=top)
        return numbers.apply(w["o"], self._merge(z))

    def _series_quotient(self, raw: np.ndarray, top: int, numbers: Numbers) -> np.ndarray:
        """``raw / Σ_k raw`` as a power series in α truncated at ``top`` (rows nonzero at α = 0)."""
        self._check_divides(numbers)
        den = raw.sum(axis=-1, keepdims=True)
        if any(v == 0 for v in np.ravel(den[0])):
            raise ShapeError(
                f"{self.name}: a row of the squared pattern sums to zero at α = 0; its α-series does not exist there"
            )
        out = []
        for m in range(top + 1):
            acc = raw[m] if m < len(raw) else numbers.zeros(raw.shape[1:])
            for j in range(1, min(m, len(den) - 1) + 1):
                acc = acc - den[j] * out[m - j]
            out.append(acc / den[0])
        return np.stack(out)

    # -- constructors -----------------------------------------------------------------

    @classmethod
    def random(
        cls,
        d: int,
        *,
        heads: int,
        rng: np.random.Generator,
        kind: Literal["int", "rational", "float"] = "rational",
        pattern: Pattern = "bilinear",
        rotary: Rotary | None = None,
        qk_bias: bool = False,
        index: int = 0,
    ) -> Attention:
        """Random square weights (d, d); see :func:`symsteer.blocks.base.random_array`."""
        keys = ("q1", "k1", "q2", "k2", "v", "o") if pattern == "bilinear" else ("q1", "k1", "v", "o")
        arrays = {k: random_array((d, d), rng=rng, kind=kind) for k in keys}
        if kind == "float":
            arrays = {k: v / np.sqrt(d) for k, v in arrays.items()}
        biases = {k: random_array((d,), rng=rng, kind=kind) for k in keys if qk_bias and k in _BRANCHES}
        return cls(**arrays, heads=heads, pattern=pattern, rotary=rotary, biases=biases, name=f"layers[{index}]")


@dataclass(frozen=True, eq=False)
class FrozenAttention(Block):
    """Attention with its pattern frozen at given values (H, T, T): ``out_q = O concat_h(Σ_k
    pattern_h[q, k] V x_k)``, linear in the values. Softmax attention is analysed this way
    only as an explicit choice: :meth:`from_softmax` freezes it at an unsteered stream.

    >>> from symsteer.numbers import EXACT
    >>> att = FrozenAttention([[[1, 0], [Fraction(1, 2), Fraction(1, 2)]]], v=[[2]], o=[[1]])
    >>> [str(v) for v in att.forward(EXACT.vector([[1], [3]], "x", 1), numbers=EXACT).ravel()]
    ['2', '4']
    """

    frozen: np.ndarray
    v: np.ndarray = field(kw_only=True)
    o: np.ndarray = field(kw_only=True)
    name: str = field(default="attention", kw_only=True)
    #: where the pattern came from, said in every description (e.g. softmax at the unsteered stream)
    origin: str = field(default="", kw_only=True)

    mixes_positions: ClassVar[bool] = True

    def __post_init__(self) -> None:
        n, put = self.name, object.__setattr__
        put(self, "frozen", as_weight_array(self.frozen, f"{n}.pattern", ndim=3))
        put(self, "v", as_weight_array(self.v, f"{n}.v", ndim=2))
        put(self, "o", as_weight_array(self.o, f"{n}.o", ndim=2))
        H, T, T2 = self.frozen.shape
        if T != T2:
            raise ShapeError(f"{n}.pattern has shape {self.frozen.shape}; expected (heads, T, T)")
        dv = _check_heads(self.v.shape[0], H, "v", n)
        if self.o.shape[1] != H * dv:
            raise ShapeError(f"{n}.o has shape {self.o.shape}; expected (d_out, {H * dv}) to match v")

    @property
    def d_in(self) -> int:
        return self.v.shape[1]

    @property
    def d_out(self) -> int:
        return self.o.shape[0]

    @property
    def heads(self) -> int:
        return self.frozen.shape[0]

    def arrays(self) -> dict[str, Any]:
        return {"pattern": self.frozen, "v": self.v, "o": self.o}

    def degree(self, k: int) -> int:
        return k

    def cost(self, rows: int, orders: int) -> int:
        return orders * rows * (self.d_in * self.v.shape[0] + self.o.size + rows * self.v.shape[0])

    def describe(self) -> str:
        origin = f": {self.origin}" if self.origin else ""
        return f"attention with a frozen pattern{origin} ({self.heads} head(s), T = {self.frozen.shape[1]}) {self.d_in} → {self.d_out}"

    def _apply(self, x: np.ndarray, numbers: Numbers) -> np.ndarray:
        self._check_input(x)
        if x.ndim < 2 or x.shape[-2] != self.frozen.shape[1]:
            raise ShapeError(f"{self.name}: input has shape {x.shape}; the frozen pattern is for T={self.frozen.shape[1]} positions")
        w = self.weights(numbers)
        y = numbers.apply(w["v"], x)
        *lead, T, width = y.shape
        heads = np.moveaxis(y.reshape(*lead, T, self.heads, width // self.heads), -2, -3)
        z = np.moveaxis(w["pattern"] @ heads, -3, -2)
        return numbers.apply(w["o"], z.reshape(*z.shape[:-2], z.shape[-2] * z.shape[-1]))

    def forward(self, x: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        return self._apply(x, numbers)

    def propagate(self, cs: np.ndarray, *, top: int, numbers: Numbers) -> np.ndarray:
        """Linear: every order through the same map."""
        return self._apply(cs[: top + 1], numbers)

    @classmethod
    def from_softmax(cls, q: Any, k: Any, v: Any, o: Any, x: Any, *, heads: int, rotary: Rotary | None = None,
                     name: str = "attention") -> FrozenAttention:
        """Softmax attention ``softmax(q·k/√d_h, causal)`` frozen at the unsteered stream ``x``
        (T, d), in float64 (softmax is not rational: the frozen pattern is a float choice)."""
        q, k, x = (np.asarray(a, dtype=np.float64) for a in (q, k, x))
        T = x.shape[0]
        dh = q.shape[0] // heads

        def split(y: np.ndarray) -> np.ndarray:
            y = np.moveaxis(y.reshape(T, heads, dh), 0, 1)
            if rotary is not None:
                cos, sin = rotary.tables(T)
                y = rotate(y, cos, sin)
            return y

        scores = split(x @ q.T) @ np.swapaxes(split(x @ k.T), -1, -2) / np.sqrt(dh)
        scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        return cls(scores / scores.sum(axis=-1, keepdims=True), v=v, o=o, name=name,
                   origin="softmax frozen at the unsteered stream (an approximation: linear in the values)")


# -- closed forms from the weights --------------------------------------------------------------


def _rotation_matrices(block: Attention, T: int, numbers: Numbers) -> list[np.ndarray]:
    """``R_t`` (d_h, d_h) for t < T in ``numbers``: ``R_t y = y cos_t + rotate_half(y) sin_t``
    (the identity without RoPE)."""
    dh = block.d_head
    eye = numbers.array(np.eye(dh, dtype=np.int64))
    if block.rotary is None:
        return [eye] * T
    cos, sin = block.rotary.converted(T, numbers)
    return [rotate(eye, cos[t], sin[t]).T for t in range(T)]  # rotate acts on rows: transpose to act on columns


@dataclass(frozen=True, eq=False)
class LastPosition:
    """Steering only position T − 1 of one attention block, as a function of ``u = x_{T−1}``:
    ``out_{T−1}(u) = context(u) + diagonal(u)``.

    ``context`` is a bilinear layer (hidden width H·(T−1)) whose weights come from the earlier
    positions: unit (h, k) has ``W`` row ``Q1_hᵀ R_{T−1}ᵀ k1_{h,k}``, ``V`` row the same with
    the second branch, and ``P`` column ``scale · O_h V_h x_k`` — the gates with the earlier keys
    times their values. ``diagonal`` is the degree-5 term k = q = T − 1:
    ``scale · O_h (uᵀ G1_h u)(uᵀ G2_h u) V_h u`` with ``G_i = Q_iᵀ R_{T−1}ᵀ R_{T−1} K_i``.
    """

    context: Any
    gates: np.ndarray  # (2, H, d, d) object or float: G1_h, G2_h
    block: Attention

    def diagonal(self, u: Any, *, numbers: Numbers) -> np.ndarray:
        """The k = q = T − 1 term for ``u`` (…, d)."""
        b, w = self.block, self.block.weights(numbers)
        out = None
        dv = b.d_value
        for h in range(b.heads):
            g1 = np.sum(u * numbers.apply(self.gates[0, h], u), axis=-1, keepdims=True)
            g2 = np.sum(u * numbers.apply(self.gates[1, h], u), axis=-1, keepdims=True)
            vh = numbers.apply(w["v"][h * dv:(h + 1) * dv], u)
            term = numbers.apply(w["o"][:, h * dv:(h + 1) * dv], g1 * g2 * _scalar(b.scale, numbers) * vh)
            out = term if out is None else out + term
        return out

    def __call__(self, u: Any, *, numbers: Numbers) -> np.ndarray:
        return self.context.forward(u, numbers=numbers) + self.diagonal(u, numbers=numbers)


def _plain_number(v: Any) -> Any:
    """fmpq → Fraction (what weight arrays take); floats and the rest unchanged."""
    return Fraction(int(v.p), int(v.q)) if hasattr(v, "p") and hasattr(v, "q") and not isinstance(v, float) else v


def _branches(block: Attention) -> tuple[tuple[str, str], tuple[str, str]]:
    return (("q1", "k1"), ("q2", "k2")) if block.pattern == "bilinear" else (("q1", "k1"), ("q1", "k1"))


def _qk_norms(value: Any, branches: list[str], d_head: int, name: str) -> dict[str, Any] | None:
    """QK-norm as one RMSNorm per branch (the same one for all when one is given)."""
    from .norm import RMSNorm

    if value is None:
        return None
    given = value if isinstance(value, dict) else {k: value for k in branches}
    for key, norm in given.items():
        if key not in branches:
            raise ShapeError(f"{name}: a QK-norm for {key!r}; expected norms of {', '.join(branches)}")
        if not isinstance(norm, RMSNorm) or norm.width != d_head:
            raise ShapeError(f"{name}: qk_norm[{key!r}] is {norm!r}; expected an RMSNorm of width {d_head} (the head width)")
    return dict(given)


def _closed_form_check(block: Attention, what: str) -> None:
    if block.pattern == "squared-normalized":
        raise ShapeError(f"{block.name}: the {what} is written for polynomial patterns; row normalisation is rational")
    if block.biases:
        raise ShapeError(f"{block.name}: the {what} is written for attention without QK biases")
    if block.qk_norm:
        raise ShapeError(f"{block.name}: the {what} is written for polynomial attention; QK-norm makes it algebraic in alpha")


def _rotated(block: Attention, x: np.ndarray, numbers: Numbers) -> dict[str, np.ndarray]:
    w = block.weights(numbers)
    T = x.shape[-2]
    keys = {k for pair in _branches(block) for k in pair} | {"v"}
    return {k: block._branch(k, x, w, T, numbers, orders=False) for k in keys}


def self_pattern(block: Attention, S: Any, *, numbers: Numbers) -> np.ndarray:
    """The self term's weights (H, T, T): ``scale (R_q Q1 S_q · R_k K1 S_k)(R_q Q2 S_q · R_k K2 S_k)``
    for k ≤ q. The self term at query q is ``O concat_h Σ_k c_h[q, k] V_h S_k`` (order 5 when
    steering from x := 0): with one s at every position and no RoPE ``c_h[q, k]`` is one number
    c_h, and the self term grows linearly with the position, ``(q + 1) c_h O_h V_h s``; with RoPE
    ``R_qᵀ R_k`` makes it a sum over the relative offsets k − q (up to the float32 tables)."""
    _closed_form_check(block, "self term")
    S = numbers.vector(S, "S", block.d_in)
    r = _rotated(block, S, numbers)
    (a1, b1), (a2, b2) = _branches(block)
    g = (r[a1] @ np.swapaxes(r[b1], -1, -2)) * (r[a2] @ np.swapaxes(r[b2], -1, -2))
    return block._masked(g * _scalar(block.scale, numbers), S.shape[-2], numbers)


def cross_map(block: Attention, x: Any, q: int, k: int, *, numbers: Numbers) -> np.ndarray:
    """``∂ out_q / ∂ x_k`` (d_out, d_in) at the stream ``x`` (T, d): the α¹ coefficient of output q
    is ``Σ_k cross_map(x, q, k) s_k``. Zero for k > q (causality); through the value, the key's
    gates, and (k = q) the query's gates with every earlier key."""
    _closed_form_check(block, "cross map")
    x = numbers.vector(x, "x", block.d_in)
    T = x.shape[-2]
    if not (0 <= k < T and 0 <= q < T):
        raise ShapeError(f"positions q={q}, k={k}; expected 0 ≤ q, k < T = {T}")
    w = block.weights(numbers)
    out = numbers.zeros((block.d_out, block.d_in))
    if k > q:
        return out
    R = _rotation_matrices(block, T, numbers)
    r = _rotated(block, x, numbers)
    (a1, b1), (a2, b2) = _branches(block)
    sc = _scalar(block.scale, numbers)
    dh, dv = block.d_head, block.d_value
    for h in range(block.heads):
        rows, vrows = slice(h * dh, (h + 1) * dh), slice(h * dv, (h + 1) * dv)
        OV = w["o"][:, vrows] @ w["v"][vrows]
        g1 = lambda kk: (r[a1][h, q] * r[b1][h, kk]).sum()  # noqa: E731
        g2 = lambda kk: (r[a2][h, q] * r[b2][h, kk]).sum()  # noqa: E731
        ov = lambda kk: numbers.apply(w["o"][:, vrows], r["v"][h, kk])  # noqa: E731
        # through the value at k
        out = out + OV * (g1(k) * g2(k) * sc)
        # through the key's gates at k: d g_i(q, k) / d x_k = (rotated query)ᵀ R_k K_i
        dk = (r[a1][h, q] @ R[k] @ w[b1][rows]) * g2(k) + (r[a2][h, q] @ R[k] @ w[b2][rows]) * g1(k)
        out = out + np.outer(ov(k), dk) * sc
        if k == q:  # through the query's gates, with every key k' ≤ q
            for kk in range(q + 1):
                dq = (r[b1][h, kk] @ R[q] @ w[a1][rows]) * g2(kk) + (r[b2][h, kk] @ R[q] @ w[a2][rows]) * g1(kk)
                out = out + np.outer(ov(kk), dq) * sc
    return out


def last_position(block: Attention, x: Any, *, numbers: Numbers) -> LastPosition:
    """Steering only the last position: :class:`LastPosition` from the context ``x`` (T, d) (its
    last row is not used: it is the argument u)."""
    from .bilinear import Bilinear

    _closed_form_check(block, "last-position form")
    x = numbers.vector(x, "x", block.d_in)
    T = x.shape[-2]
    if T < 2:
        raise ShapeError(f"a sequence of T={T} position(s): the last position has no context; expected T ≥ 2")
    w = block.weights(numbers)
    R = _rotation_matrices(block, T, numbers)
    r = _rotated(block, x, numbers)
    (a1, b1), (a2, b2) = _branches(block)
    sc = _scalar(block.scale, numbers)
    dh, dv = block.d_head, block.d_value
    W, V, P = [], [], []
    gates = np.empty((2, block.heads, block.d_in, block.d_in), dtype=object)
    last = R[T - 1]
    for h in range(block.heads):
        rows, vrows = slice(h * dh, (h + 1) * dh), slice(h * dv, (h + 1) * dv)
        Q1, Q2 = last @ w[a1][rows], last @ w[a2][rows]
        for k in range(T - 1):
            W.append(r[b1][h, k] @ Q1)
            V.append(r[b2][h, k] @ Q2)
            P.append(numbers.apply(w["o"][:, vrows], r["v"][h, k]) * sc)
        gates[0, h] = Q1.T @ (last @ w[b1][rows])
        gates[1, h] = Q2.T @ (last @ w[b2][rows])
    plain = lambda rows: np.vectorize(_plain_number, otypes=[object])(np.array(rows, dtype=object))  # noqa: E731
    context = Bilinear(plain(W), plain(V), plain(P).T, name=f"{block.name}.context")
    if numbers.name == "float":
        gates = gates.astype(np.float64)
    return LastPosition(context, gates, block)


def _rows_matmul(p: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``p @ v`` one row of ``p`` at a time, the clock checked between rows (long polynomial
    products: see :data:`symsteer.numbers.STOP`)."""
    lead = np.broadcast_shapes(p.shape[:-2], v.shape[:-2])
    P = np.broadcast_to(p, lead + p.shape[-2:]).reshape(-1, *p.shape[-2:])
    V = np.broadcast_to(v, lead + v.shape[-2:]).reshape(-1, *v.shape[-2:])
    out = by_rows(np.arange(len(P)), lambda i: by_rows(P[i], lambda row: row @ V[i]))
    return out.reshape(lead + (p.shape[-2], v.shape[-1]))
