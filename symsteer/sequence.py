"""Sequence models: a stream of T positions through blocks, some of which mix positions.

``x_0`` is the embedding of the tokens (rows of the (vocab, d) table) or a given (T, d) array;
each block maps the (T, d) stream to the next (attention mixes positions, a bilinear MLP acts on
each one); the head (a linear block) gives the logits per position. Steering adds ``α D`` to
the stream entering block n, where ``D`` (T, d) holds ``s`` (or ``S[t]``) at the steered
positions and zero elsewhere (:func:`symsteer.positions.steer_direction`).

The α-coefficients of every output position come from propagating the stacked coefficients
(K+1, T, d) block by block (each block's ``propagate``), truncated at order K: the walk a
:class:`~symsteer.network.Network` uses too (``symsteer._coefficients``); this module adds the
token embedding, the per-position steering direction and the work budget.

>>> from symsteer.blocks import Attention, Residual
>>> rng = np.random.default_rng(0)
>>> model = SequenceModel((Residual.lerp(Attention.random(2, heads=1, rng=rng), Fraction(1, 2)),))
>>> c = model.coefficients([[1, 0], [0, 1]], direction(model, "last", [1, 1], length=2), steer_at=0)
>>> c.shape  # orders 0 … 5, T = 2, d = 2
(6, 2, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction  # noqa: F401  (the module's doctest)
from typing import Any, Sequence

import numpy as np

from .blocks.base import Block, as_weight_array
from ._coefficients import MAX_ORDER, degree_of, propagate, split_parts, truncation, walk
from .errors import BudgetError, ShapeError
from .numbers import EXACT, FLOAT, Numbers, array_bits, weight_bits
from .positions import SteerSet, steer_direction

__all__ = ["SequenceModel", "direction", "MAX_ORDER", "MAX_EXACT_WORK"]

#: the most word operations an exact propagation may plan before it starts: a multiply-add of
#: b-bit numbers counts (b/64)^1.6 (see :meth:`SequenceModel.work`); one costs 0.3–4 ns with
#: flint, so the limit is about a minute
MAX_EXACT_WORK = 2 * 10**10
#: the same for float64 (about a minute of BLAS on a laptop core)
MAX_FLOAT_WORK = 2 * 10**11
#: the most attention-pattern entries (heads × T × T) one block may hold at once (4 GB of float64)
MAX_PATTERN_ENTRIES = 500_000_000


@dataclass(frozen=True, eq=False)
class SequenceModel:
    """``x_0 = E[tokens]`` (or a given (T, d) stream) → blocks → ``head`` per position.

    ``embed`` is the token table (vocab, d) (rows are embeddings, as ``nn.Embedding``);
    ``head`` a block mapping the last stream to the output (e.g. a :class:`Linear` unembedding).
    """

    blocks: tuple[Block, ...]
    embed: np.ndarray | None = field(default=None, kw_only=True)
    head: Block | None = field(default=None, kw_only=True)
    name: str = field(default="model", kw_only=True)
    #: the leading channels of the stream that steering adds to (None: all of them). A model
    #: that carries state beside the residual stream (the embedding stream x0 and block 0's
    #: values v1 of the modded-nanogpt LMs, :mod:`symsteer.blocks.lanes`) steers only its first
    #: ``steer_width`` channels: a hook on the residual stream never touches the carried lanes.
    steer_width: int | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "blocks", tuple(self.blocks))
        if not self.blocks:
            raise ShapeError("blocks=() is empty; expected at least one block")
        if self.embed is not None:
            put(self, "embed", as_weight_array(self.embed, "embed", ndim=2))
        width = self.embed.shape[1] if self.embed is not None else self.blocks[0].d_in
        for i, block in enumerate(self.blocks):
            if not isinstance(block, Block):
                raise ShapeError(f"blocks[{i}] is a {type(block).__name__}; expected a block")
            if block.d_in != width:
                raise ShapeError(f"blocks[{i}] ({block.name}) takes width {block.d_in}; the stream entering it has width {width}")
            width = block.d_out
        if self.head is not None and self.head.d_in != width:
            raise ShapeError(f"head takes width {self.head.d_in}; the last stream has width {width}")
        if self.steer_width is not None:
            narrowest = min([self.d_model] + [b.d_out for b in self.blocks])
            if isinstance(self.steer_width, bool) or not isinstance(self.steer_width, (int, np.integer)) \
                    or not 1 <= self.steer_width <= narrowest:
                raise ShapeError(f"steer_width={self.steer_width!r}; expected an integer 1 … {narrowest} (the stream's width)")
            put(self, "steer_width", int(self.steer_width))

    # -- shape ------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        return len(self.blocks)

    @property
    def d_model(self) -> int:
        return self.embed.shape[1] if self.embed is not None else self.blocks[0].d_in

    @property
    def d_out(self) -> int:
        return self.head.d_out if self.head is not None else self.blocks[-1].d_out

    @property
    def vocab(self) -> int | None:
        return None if self.embed is None else self.embed.shape[0]

    def width_at(self, n: int) -> int:
        """Width of the steering vector at block n: the stream entering it (n = depth: the last
        stream), or its first ``steer_width`` channels."""
        return self.steer_width if self.steer_width is not None else self.stream_width(n)

    def stream_width(self, n: int) -> int:
        """Width of the whole stream entering block n, carried lanes included."""
        n = self.check_steer_at(n)
        return self.blocks[n].d_in if n < self.depth else self.blocks[-1].d_out

    def widened(self, direction: np.ndarray, n: int, numbers: Numbers) -> np.ndarray:
        """A steering direction padded with zeros over the carried lanes (see ``steer_width``)."""
        extra = self.stream_width(n) - direction.shape[-1]
        if not extra:
            return direction
        zeros = numbers.zeros((*direction.shape[:-1], extra)).astype(direction.dtype)
        return np.concatenate([direction, zeros], axis=-1)

    def check_steer_at(self, n: int) -> int:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= self.depth:
            raise ShapeError(f"steer_at={n!r} but the model has {self.depth} blocks; expected an integer 0 ≤ n ≤ {self.depth}")
        return int(n)

    def degree(self, steer_at: int) -> int | None:
        """Bound on the output's α-degree when steering at block ``steer_at`` (None: rational)."""
        return degree_of(self.blocks[self.check_steer_at(steer_at):])

    def describe(self) -> str:
        lines = [f"sequence model, {self.depth} block(s), width {self.d_model}"
                 + (f", vocabulary {self.vocab}" if self.vocab else "") + f", output width {self.d_out}"
                 + (f"; steering adds to the first {self.steer_width} channels (the residual stream; the rest is "
                    "state carried beside it)" if self.steer_width is not None else "")]
        lines += [f"  block {i}: {b.describe()}" for i, b in enumerate(self.blocks)]
        if self.head is not None:
            lines.append(f"  head: {self.head.describe()}")
        return "\n".join(lines)

    # -- the stream ---------------------------------------------------------------------

    def embed_tokens(self, tokens: Any, *, numbers: Numbers = FLOAT) -> np.ndarray:
        """``x_0`` (T, d): the embedding rows of the token ids."""
        if self.embed is None:
            raise ShapeError("tokens given but the model has no embedding; give the stream x (T, d) instead")
        ids = np.asarray(tokens)
        if ids.ndim != 1 or ids.size == 0 or ids.dtype.kind not in "iu":
            raise ShapeError(f"tokens={np.asarray(tokens).tolist()!r}; expected a non-empty list of integer token ids")
        bad = [int(t) for t in ids if not 0 <= int(t) < self.vocab]
        if bad:
            raise ShapeError(f"token id(s) {', '.join(map(str, bad[:5]))} outside the vocabulary 0 … {self.vocab - 1}")
        return numbers.array(self.embed[ids], "embed")

    def inputs(self, *, numbers: Numbers, tokens: Any = None, x: Any = None) -> np.ndarray:
        """``x_0`` from token ids or from a (T, d) array (exactly one of them)."""
        if (tokens is None) == (x is None):
            raise ShapeError("give exactly one of tokens and x (the (T, d) stream entering block 0)")
        if tokens is not None:
            return self.embed_tokens(tokens, numbers=numbers)
        arr = numbers.vector(x, "x", self.d_model)
        if arr.ndim != 2:
            raise ShapeError(f"x has shape {arr.shape}; expected (T, {self.d_model}), one row per position")
        return arr

    def check_length(self, length: int, *, orders: int = 1) -> None:
        """Refuse a sequence whose attention patterns (heads × T × T per order) would not fit."""
        heads = max((getattr(getattr(b, "inner", b), "heads", 0) for b in self.blocks if b.mixes_positions), default=0)
        entries = heads * length * length * orders
        if entries > MAX_PATTERN_ENTRIES:
            raise BudgetError(
                f"a sequence of T={length} positions needs {entries:.2e} attention-pattern entries at once "
                f"({heads} heads × T² × {orders} order(s); limit {MAX_PATTERN_ENTRIES:.0e}); use a shorter sequence"
            )

    def stream(self, x0: np.ndarray, *, numbers: Numbers, steer_at: int | None = None, direction: Any = None,
               alpha: Any = 0) -> list[np.ndarray]:
        """``[x_0, …, x_L]`` from ``x_0`` (in ``numbers``), with ``α D`` added to ``x_n``."""
        if np.ndim(x0) >= 2:
            self.check_length(np.shape(x0)[-2])
        if steer_at is not None:
            steer_at = self.check_steer_at(steer_at)
            direction = self.widened(numbers.vector(direction, "direction", self.width_at(steer_at)), steer_at, numbers)
        return walk(self.blocks, x0, points=range(self.depth + 1), numbers=numbers, where=lambda i: f"block {i}",
                    steer_at=steer_at, direction=direction, alpha=alpha)

    def output(self, last: np.ndarray, *, numbers: Numbers) -> np.ndarray:
        return self.head.forward(last, numbers=numbers) if self.head is not None else last

    def forward(self, x0: np.ndarray, *, numbers: Numbers, **steer: Any) -> np.ndarray:
        """The output per position (T, d_out), optionally steered (see :meth:`stream`)."""
        return self.output(self.stream(x0, numbers=numbers, **steer)[-1], numbers=numbers)

    # -- α-coefficients -------------------------------------------------------------------

    def order_limit(self, steer_at: int, max_order: int | None) -> int:
        """``min(max_order, degree)``; a rational model (row normalisation) needs ``max_order``."""
        return truncation(self.degree(steer_at), max_order, after=f"{self.depth - steer_at} block(s)",
                          rational="row-normalised attention")

    def work(self, steer_at: int, length: int, top: int, *, bits: int | None = None) -> int:
        """Multiply-adds one propagation takes, counted before any of it is done (each
        block's :meth:`~symsteer.blocks.base.Block.cost`).

        For exact runs, ``bits`` is the size of the inputs' numerators and denominators: each
        block multiplies the larger of it and its weights' by its degree (the α-coefficients are sums of products of that many
        input entries and weights; about ×5 per attention block), and a multiply-add of b-bit
        numbers is counted as ``(b/64)^1.6`` word operations (GMP's Karatsuba–Toom range), so
        that a deep exact run is refused before it starts rather than after an hour.
        """
        total, k = 0, 1
        blocks = self.blocks[steer_at:] + ((self.head,) if self.head is not None else ())
        for block in blocks:
            if bits is None:
                total += block.cost(length, top + 1)
            else:
                grown = (block.degree(1) or 2) * max(bits, weight_bits(block))
                total += block.cost(length, top + 1) * max(1, round((grown / 64) ** 1.6))
                bits = grown
            deg = block.degree(k)
            k = top if deg is None else min(top, deg)
        return total

    def coefficients(self, x_n: Any, direction: Any, *, steer_at: int, max_order: int | None = None,
                     numbers: Numbers = EXACT) -> np.ndarray:
        """The α-coefficients (K+1, T, d_out) of the output for ``x_n → x_n + α D``.

        ``x_n`` (T, d) is the unsteered stream entering block ``steer_at``; ``D`` (T, d) the
        steering per position (see :func:`direction`); ``K = min(max_order, degree)``.
        """
        n = self.check_steer_at(steer_at)
        width = self.stream_width(n)
        top = self.order_limit(n, max_order)
        xs = numbers.vector(x_n, "x_n", width)
        ds = self.widened(numbers.vector(direction, "direction", self.width_at(n)), n, numbers)
        if xs.ndim != 2 or ds.shape != xs.shape:
            raise ShapeError(f"x_n has shape {xs.shape} and the direction {ds.shape}; expected both (T, {width})")
        self.check_length(xs.shape[0], orders=top + 1)
        bits = max(1, array_bits(xs), array_bits(ds)) if numbers is EXACT else None
        planned = self.work(n, xs.shape[0], top, bits=bits)
        limit = MAX_FLOAT_WORK if numbers is FLOAT else MAX_EXACT_WORK
        if planned > limit:
            what = "float64" if numbers is FLOAT else "exact"
            grown = f" (the exact numbers grow from {bits} bits by the degree of every block)" if bits is not None else ""
            raise BudgetError(
                f"{what} coefficients up to order {top} for T={xs.shape[0]} would take about {planned:.2e} "
                f"multiply-adds{grown} (limit {limit:.0e}); use a lower max_order, a shorter sequence or steer closer to the output"
                + ("" if numbers is FLOAT else ", or float64")
            )
        blocks = self.blocks[n:] + ((self.head,) if self.head is not None else ())
        return propagate(blocks, xs, ds, top=top, numbers=numbers,
                         where=lambda i: f"block {n + i}" if n + i < self.depth else "the head")

    def split(self, x_n: Any, direction: Any, *, steer_at: int, max_order: int | None = None,
              numbers: Numbers = EXACT) -> dict[str, np.ndarray]:
        """The coefficients by kind, per position: ``const`` is order 0 at ``x_n := 0`` (every
        position), ``self`` the orders ≥ 1 there (weights and s alone), ``input`` the rest of
        order 0, ``cross`` everything else."""
        total = self.coefficients(x_n, direction, steer_at=steer_at, max_order=max_order, numbers=numbers)
        zero = numbers.zeros(np.shape(numbers.vector(x_n, "x_n", self.stream_width(steer_at))))
        at_zero = self.coefficients(zero, direction, steer_at=steer_at, max_order=max_order, numbers=numbers)
        return split_parts(total, at_zero, numbers)


def direction(model: SequenceModel, positions: SteerSet | str | Sequence[int], s: Any, *, length: int,
              steer_at: int = 0) -> np.ndarray:
    """The steering direction (T, d) for ``s`` (d,) or (T, d) at ``positions``."""
    return steer_direction(positions, s, length=length, width=model.width_at(steer_at))


def gate_sequence(model: SequenceModel, inputs: Any, reference: Any, *, dtypes: Any = ()) -> Any:
    """The reference gate for a sequence model: token ids (N, T) (or one sequence (T,)) and the
    outputs its own code recorded, (N, T, d_out); see :func:`symsteer.gate.gate_arrays`."""
    from .gate import ATOL, GateResult, tolerance_for

    ids, ref = np.asarray(inputs), np.asarray(reference)
    if ids.ndim == 1:
        ids, ref = ids[None], ref[None] if ref.ndim == 2 else ref
    if ids.ndim != 2 or ids.dtype.kind not in "iu":
        raise ShapeError(f"--inputs has shape {np.shape(inputs)} and dtype {np.asarray(inputs).dtype}; expected token ids (N, T)")
    if ref.shape != (*ids.shape, model.d_out):
        raise ShapeError(f"--reference has shape {np.shape(reference)}; expected {(*ids.shape, model.d_out)}, the outputs per position")
    tolerance, dtype = tolerance_for([*dtypes, ref.dtype])
    got = np.stack([model.forward(model.inputs(tokens=row, numbers=FLOAT), numbers=FLOAT) for row in ids])
    want = ref.astype(np.float64)
    diff = np.abs(got - want)
    where = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
    scale = max(float(np.max(np.abs(want))), ATOL)
    return GateResult(float(diff[where]) / scale, where, float(got[where]), float(want[where]), tolerance, dtype, ids.shape[0])
