"""Forward passes and exact α-coefficients, propagated block by block (the numeric core).

If the stream is ``Σ_m c_m α^m``, each block maps those coefficients to its output's (its
``propagate``); this module only walks the blocks. The same code runs in float64, exact
rationals and polynomial rings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import BudgetError, ShapeError
from .blocks import Block
from .network import Network
from .numbers import EXACT, FLOAT, Numbers

__all__ = ["forward", "stream", "coefficients", "split_coefficients", "degree_bound", "KINDS"]

#: the classes of terms; a term's class depends only on which leaves it has
KINDS = ("input", "cross", "self", "const")


def _blocks_from(network: Network, n: int) -> tuple[Block, ...]:
    return network.blocks[network.block_at(n):]


def _run(network: Network, start: int, stop: int, cur: np.ndarray, numbers: Numbers) -> np.ndarray:
    for i in range(start, stop):
        cur = network.blocks[i].forward(cur, numbers=numbers)
        numbers.check_size(cur, f"after {network.where(i)}")
    return cur


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
        n = network.check_steer_at(steer_at)
        steer = numbers.vector(s, "s", network.width_at(n)) * numbers.entry(alpha)
    out, done = [], 0
    for l in range(network.depth + 1):
        upto = network.block_at(l)
        cur = _run(network, done, upto, cur, numbers)
        done = upto
        if steer_at is not None and l == steer_at:
            cur = cur + steer
        out.append(cur)
    return out


def forward(network: Network, x: Any, *, numbers: Numbers = FLOAT, **steer: Any) -> np.ndarray:
    """The output for network input ``x``, optionally steered (see :func:`stream`)."""
    last = stream(network, x, numbers=numbers, **steer)[-1]
    start = network.block_at(network.depth)
    return _run(network, start, len(network.blocks), last, numbers)


def _stream_at(network: Network, n: int, x: Any, x_n: Any, numbers: Numbers) -> np.ndarray:
    """``x_n`` from the network input ``x`` (only the blocks before stage n run) or as given:
    exactly one of the two."""
    if (x is None) == (x_n is None):
        raise ShapeError("give exactly one of x (the network input) and x_n (the stream entering layer n = steer_at)")
    if x is not None:
        return _run(network, 0, network.block_at(n), numbers.vector(x, "x (the network input)", network.d_in), numbers)
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
    ss = numbers.vector(s, "s", width)
    shape = np.broadcast_shapes(xs.shape, ss.shape)
    out = np.stack([np.broadcast_to(xs, shape), np.broadcast_to(ss, shape)][: top + 1])
    start = network.block_at(n)
    for i, block in enumerate(network.blocks[start:]):
        out = block.propagate(out, top=top, numbers=numbers)
        numbers.check_size(out, f"of the alpha-coefficients after {network.where(start + i)}")
    return out


#: the highest α-order computed: steering before 9 layers or fewer needs no truncation
MAX_ORDER = 512


def degree_bound(network: Network, steer_at: int) -> int | None:
    """The α-degree of the output for steering at ``steer_at``, from the blocks (None: rational)."""
    k: int | None = 1
    for block in _blocks_from(network, steer_at):
        k = block.degree(k) if k is not None else None
    return k


def order_limit(network: Network, steer_at: int, max_order: int | None) -> int:
    """``min(max_order, degree)``: the highest α-order that can be nonzero and is asked for."""
    bound = degree_bound(network, steer_at)
    if max_order is not None and (isinstance(max_order, bool) or not isinstance(max_order, (int, np.integer)) or max_order < 0):
        full = "" if bound is None else f" (or None for the full degree {bound})"
        raise ShapeError(f"max_order={max_order!r}; expected a non-negative integer{full}")
    if bound is None and max_order is None:
        raise ShapeError("the output is a rational function of alpha (a per-sample norm), not a polynomial: "
                         "give max_order for its Taylor coefficients")
    top = int(max_order) if bound is None else bound if max_order is None else min(int(max_order), bound)
    if top > MAX_ORDER:
        # the work grows with the square of the order; 2^(L-n) for a deep stack would never end
        raise BudgetError(
            f"the output has degree {bound} in alpha after {network.depth - steer_at} layer(s); orders above "
            f"{MAX_ORDER} are refused: pass max_order={MAX_ORDER} or lower"
        )
    return top


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
    # entries one order at a time (total is this call's own array), so a large polynomial
    # array is never held twice: half the peak memory with symbolic weights.
    cross = total
    for m in range(1, len(cross)):
        cross[m] = total[m] - at_zero[m]
    cross[0] = numbers.zeros(cross[0].shape)
    return {"input": inp, "cross": cross, "self": own, "const": const}
