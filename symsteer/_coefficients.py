"""Forward passes and exact α-coefficients, propagated block by block (the numeric core).

If the stream is ``Σ_m c_m α^m``, each block maps those coefficients to its output's (its
``propagate``); this module only walks the blocks. The same code runs in float64, exact
rationals and polynomial rings, and on any stream shape: ``(…, d)`` for a :class:`Network`,
``(…, T, d)`` for a :class:`~symsteer.sequence.SequenceModel`, which walks its blocks with
the same functions (:func:`walk`, :func:`propagate`, :func:`truncation`, :func:`split_parts`).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .errors import BudgetError, ShapeError
from .blocks import Block
from .blocks.base import scalar
from .network import Network
from .numbers import EXACT, FLOAT, Numbers

__all__ = ["forward", "stream", "coefficients", "split_coefficients", "degree_bound", "KINDS"]

#: the classes of terms; a term's class depends only on which leaves it has
KINDS = ("input", "cross", "self", "const")


# -- the walk over blocks, shared by Network and SequenceModel ------------------------------
# A stream is (…, d) or, through blocks that mix positions, (…, T, d); steering adds a
# direction array broadcast against it (a vector s, or a (T, d) array per position).


def run_blocks(blocks: Sequence[Block], cur: np.ndarray, numbers: Numbers, where: Callable[[int], str]) -> np.ndarray:
    """``cur`` through ``blocks`` in order; ``where(i)`` names block i in size refusals."""
    for i, block in enumerate(blocks):
        cur = block.forward(cur, numbers=numbers)
        numbers.check_size(cur, f"after {where(i)}")
    return cur


def walk(blocks: Sequence[Block], cur: np.ndarray, *, points: Sequence[int], numbers: Numbers,
         where: Callable[[int], str], steer_at: int | None = None, direction: Any = None,
         alpha: Any = 0) -> list[np.ndarray]:
    """The streams entering blocks ``points`` (ascending; ``len(blocks)``: the last stream),
    with ``α direction`` (a vector s, or a (T, d) array D) added at ``points[steer_at]``."""
    if steer_at is not None:
        added = direction * scalar(numbers.entry(alpha))
    out, done = [], 0
    for l, upto in enumerate(points):
        cur = run_blocks(blocks[done:upto], cur, numbers, lambda i, done=done: where(done + i))
        done = upto
        if steer_at is not None and l == steer_at:
            cur = cur + added
        out.append(cur)
    return out


def propagate(blocks: Sequence[Block], xs: np.ndarray, ds: np.ndarray, *, top: int, numbers: Numbers,
              where: Callable[[int], str]) -> np.ndarray:
    """The α-coefficients (K+1, …, d_out) after ``blocks`` for the stream ``xs + α ds``
    (broadcast together), truncated at order ``top``."""
    shape = np.broadcast_shapes(xs.shape, ds.shape)
    out = np.stack([np.broadcast_to(xs, shape), np.broadcast_to(ds, shape)][: top + 1])
    # float64 overflow is reported with the block it happened in, never returned as inf or nan
    with np.errstate(over="ignore", invalid="ignore"):
        for i, block in enumerate(blocks):
            out = block.propagate(out, top=top, numbers=numbers)
            numbers.check_size(out, f"of the alpha-coefficients after {where(i)}")
            if out.dtype == np.float64 and not np.all(np.isfinite(out)):
                raise BudgetError(f"float64 values of the alpha-coefficients after {where(i)} overflowed (beyond 1.8e308); "
                                  "use exact numbers (--exact), a lower max_order, or steer closer to the output")
    return out


def degree_of(blocks: Sequence[Block]) -> int | None:
    """The α-degree after ``blocks`` of a stream linear in α (None: rational)."""
    k: int | None = 1
    for block in blocks:
        k = block.degree(k) if k is not None else None
    return k


#: the highest α-order computed: steering before 9 layers or fewer needs no truncation
MAX_ORDER = 512


def truncation(bound: int | None, max_order: int | None, *, after: str, rational: str) -> int:
    """``min(max_order, bound)``: the highest α-order that can be nonzero and is asked for;
    ``after`` says how many blocks follow the steering point, ``rational`` why the output is
    a rational function of α when ``bound`` is None."""
    if max_order is not None and (isinstance(max_order, bool) or not isinstance(max_order, (int, np.integer)) or max_order < 0):
        full = "" if bound is None else f" (or None for the full degree {bound})"
        raise ShapeError(f"max_order={max_order!r}; expected a non-negative integer{full}")
    if bound is None and max_order is None:
        raise ShapeError(f"the output is a rational function of alpha ({rational}), not a polynomial: "
                         "give max_order for its Taylor coefficients")
    top = int(max_order) if bound is None else bound if max_order is None else min(int(max_order), bound)
    if top > MAX_ORDER:
        # the work grows with the square of the order; 2^(L-n) for a deep stack would never end
        what = f"has degree {bound} in alpha" if bound is not None else "is a series in alpha (no degree)"
        raise BudgetError(f"the output {what} after {after}; orders above {MAX_ORDER} are refused: pass max_order={MAX_ORDER} or lower")
    return top


def split_parts(total: np.ndarray, at_zero: np.ndarray, numbers: Numbers) -> dict[str, np.ndarray]:
    """The coefficients ``total`` split by kind, given ``at_zero``, those with the steered
    stream set to zero (broadcast against ``total``'s batch axes after the orders).

    ``const`` is order 0 of ``at_zero``; ``self`` its orders ≥ 1; ``input`` the rest of order
    0; ``cross`` everything else. ``total`` may be overwritten (exact numbers).
    """
    # orders come first: a batch of x_n (and one s) needs the batch axes inserted after them
    batch_axes = (1,) * (total.ndim - at_zero.ndim)
    at_zero = np.broadcast_to(at_zero.reshape(at_zero.shape[:1] + batch_axes + at_zero.shape[1:]), total.shape)
    const, own, inp = numbers.zeros(total.shape), at_zero.copy(), numbers.zeros(total.shape)
    const[0], own[0], inp[0] = at_zero[0], numbers.zeros(own[0].shape), total[0] - at_zero[0]
    # cross = total - input - self - const, but only orders ≥ 1 need a subtraction: there
    # input = const = 0 and self = at_zero. Subtracting whole polynomial arrays three times
    # was most of the cost with symbolic weights.
    if total.dtype != object:  # float64 keeps the full formula: rounding stays bit-identical
        cross = numbers.zeros(total.shape)
        cross[1:] = total[1:] - at_zero[1:]
        cross[0] = total[0] - inp[0] - own[0] - const[0]
        return {"input": inp, "cross": cross, "self": own, "const": const}
    # Exact systems: order 0 is zero by construction, and the orders above replace total's
    # entries one order at a time, so a large polynomial array is never held twice: half the
    # peak memory with symbolic weights.
    cross = total
    for m in range(1, len(cross)):
        cross[m] = total[m] - at_zero[m]
    cross[0] = numbers.zeros(cross[0].shape)
    return {"input": inp, "cross": cross, "self": own, "const": const}


# -- a Network: the steering points are its stages ----------------------------------------


def _points(network: Network) -> list[int]:
    return [network.block_at(l) for l in range(network.depth + 1)]


def stream(
    network: Network,
    x: Any,
    *,
    numbers: Numbers = FLOAT,
    steer_at: int | None = None,
    s: Any = None,
    alpha: Any = 0,
) -> list[np.ndarray]:
    """The activations ``[x_0, …, x_L]`` for network input ``x`` (batched on leading axes),
    with ``α s`` added to ``x_n`` when ``steer_at = n`` is given. ``x_n`` is the stream
    entering stage n (the block holding bilinear layer n)."""
    cur = numbers.vector(x, "x (the network input)", network.d_in)
    if steer_at is not None:
        steer_at = network.check_steer_at(steer_at)
        s = numbers.vector(s, "s", network.width_at(steer_at))
    return walk(network.blocks, cur, points=_points(network), numbers=numbers, where=network.where,
                steer_at=steer_at, direction=s, alpha=alpha)


def forward(network: Network, x: Any, *, numbers: Numbers = FLOAT, **steer: Any) -> np.ndarray:
    """The output for network input ``x``, optionally steered (see :func:`stream`)."""
    last = stream(network, x, numbers=numbers, **steer)[-1]
    start = network.block_at(network.depth)
    return run_blocks(network.blocks[start:], last, numbers, lambda i: network.where(start + i))


def _stream_at(network: Network, n: int, x: Any, x_n: Any, numbers: Numbers) -> np.ndarray:
    """``x_n`` from the network input ``x`` (only the blocks before stage n run) or as given:
    exactly one of the two."""
    if (x is None) == (x_n is None):
        raise ShapeError("give exactly one of x (the network input) and x_n (the stream entering layer n = steer_at)")
    if x is not None:
        return run_blocks(network.blocks[: network.block_at(n)], numbers.vector(x, "x (the network input)", network.d_in),
                          numbers, network.where)
    return numbers.vector(x_n, f"x_n (the stream at steer_at={n})", network.width_at(n))


def coefficients(
    network: Network,
    *,
    s: Any,
    steer_at: int,
    x: Any = None,
    x_n: Any = None,
    max_order: int | None = None,
    numbers: Numbers = EXACT,
) -> np.ndarray:
    """The α-coefficients of the output for ``x_n → x_n + α s``: array ``(K+1, …, d_out)``.

    Give the network input ``x``, or ``x_n``, the stream entering layer ``steer_at``;
    ``K = min(max_order, degree)`` (``2^(L-n)`` for a stack of bilinear layers).

    >>> net = Network.random(layers=1, width=2, hidden=2, seed=1)
    >>> coefficients(net, x_n=[1, 0], s=[0, 1], steer_at=1).tolist()
    [[1, 0], [0, 1]]
    """
    n = network.check_steer_at(steer_at)
    width = network.width_at(n)
    top = order_limit(network, n, max_order)
    xs = _stream_at(network, n, x, x_n, numbers)
    start = network.block_at(n)
    return propagate(network.blocks[start:], xs, numbers.vector(s, "s", width), top=top, numbers=numbers,
                     where=lambda i: network.where(start + i))


def degree_bound(network: Network, steer_at: int) -> int | None:
    """The α-degree of the output for steering at ``steer_at``, from the blocks (None: rational)."""
    return degree_of(network.blocks[network.block_at(steer_at):])


def order_limit(network: Network, steer_at: int, max_order: int | None) -> int:
    """``min(max_order, degree)``: the highest α-order that can be nonzero and is asked for."""
    return truncation(degree_bound(network, steer_at), max_order, after=f"{network.depth - steer_at} layer(s)",
                      rational="a per-sample norm")


def split_coefficients(
    network: Network,
    *,
    s: Any,
    steer_at: int,
    x: Any = None,
    x_n: Any = None,
    max_order: int | None = None,
    numbers: Numbers = EXACT,
) -> dict[str, np.ndarray]:
    """The α-coefficients split by kind, without listing terms (``x`` the network input, or
    ``x_n`` the stream at ``steer_at``).

    ``const`` is the output at ``x_n = 0, α = 0``; ``self`` of order m ≥ 1 the coefficient
    with ``x_n := 0``; ``input`` the rest of order 0; ``cross`` everything else. The split is
    defined for polynomial networks only.
    """
    n = network.check_steer_at(steer_at)
    if degree_bound(network, n) is None:
        raise ShapeError("the input / cross / self split is defined for polynomial networks; this one has a per-sample "
                         "norm after the steering point (a rational function of alpha): use coefficients or the rational form")
    width = network.width_at(n)
    x_n = _stream_at(network, n, x, x_n, numbers)
    total = coefficients(network, x_n=x_n, s=s, steer_at=n, max_order=max_order, numbers=numbers)
    zero = numbers.zeros((width,))
    at_zero = coefficients(network, x_n=zero, s=s, steer_at=n, max_order=max_order, numbers=numbers)
    return split_parts(total, at_zero, numbers)
