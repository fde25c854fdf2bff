"""Forward passes and exact α-coefficients, propagated layer by layer (the numeric core).

If ``x_l(α) = Σ_m c_m α^m`` then a layer gives
``e_m = Σ_{i+j=m} P((W c_i + [i=0] b) ⊙ (V c_j + [j=0] c))``, plus ``c_m`` in a residual
block. The same code runs in float64, exact rationals and polynomial rings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import BudgetError, ShapeError
from .network import Network
from .numbers import EXACT, FLOAT, Numbers

__all__ = ["forward", "stream", "coefficients", "split_coefficients", "KINDS"]

#: the classes of terms; a term's class depends only on which leaves it has
KINDS = ("input", "cross", "self", "const")


def _layer_arrays(network: Network, l: int, numbers: Numbers) -> dict[str, np.ndarray | None]:
    layer = network.layers[l]
    return numbers.weights(layer, {"W": layer.W, "V": layer.V, "P": layer.P, "b": layer.b, "c": layer.c})


def _linear(network: Network, key: str, numbers: Numbers) -> np.ndarray | None:
    return numbers.weights(network, {key: getattr(network, key)})[key]


def _apply(M: np.ndarray, v: np.ndarray, numbers: Numbers = FLOAT) -> np.ndarray:
    """``M v`` on the last axis of a vector or a batch of vectors, the number system's fastest way."""
    return numbers.apply(M, v)


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
    with ``α s`` added to ``x_n`` when ``steer_at = n`` is given."""
    xs = numbers.vector(x, "x", network.d_in)
    E = _linear(network, "embed", numbers)
    cur = _apply(E, xs, numbers) if E is not None else xs
    if steer_at is not None:
        n = network.check_steer_at(steer_at)
        steer = numbers.vector(s, "s", network.width_at(n)) * numbers.entry(alpha)
    out = []
    for l in range(network.depth + 1):
        if steer_at is not None and l == steer_at:
            cur = cur + steer
        out.append(cur)
        if l < network.depth:
            a = _layer_arrays(network, l, numbers)
            wx, vx = _apply(a["W"], cur, numbers), _apply(a["V"], cur, numbers)
            if a["b"] is not None:
                wx, vx = wx + a["b"], vx + a["c"]
            y = _apply(a["P"], wx * vx, numbers)
            cur = cur + y if network.residual else y
            numbers.check_size(cur, f"after layer {l}")
    return out


def forward(network: Network, x: Any, *, numbers: Numbers = FLOAT, **steer: Any) -> np.ndarray:
    """The output ``y = U x_L`` (or ``x_L`` without U), optionally steered (see :func:`stream`)."""
    last = stream(network, x, numbers=numbers, **steer)[-1]
    U = _linear(network, "unembed", numbers)
    return _apply(U, last, numbers) if U is not None else last


def coefficients(
    network: Network,
    x_n: Any,
    s: Any,
    *,
    steer_at: int,
    max_order: int | None = None,
    numbers: Numbers = EXACT,
) -> np.ndarray:
    """The α-coefficients of the output for ``x_n → x_n + α s``: array ``(K+1, …, d_out)``.

    ``x_n`` is the activation entering layer ``steer_at``; ``K = min(max_order, 2^(L-n))``.

    >>> net = Network.random(layers=1, width=2, hidden=2, seed=1)
    >>> coefficients(net, [1, 0], [0, 1], steer_at=1).tolist()
    [[1, 0], [0, 1]]
    """
    n = network.check_steer_at(steer_at)
    width = network.width_at(n)
    top = order_limit(network, n, max_order)
    xs, ss = numbers.vector(x_n, "x", width), numbers.vector(s, "s", width)
    shape = np.broadcast_shapes(xs.shape, ss.shape)
    out = np.stack([np.broadcast_to(xs, shape), np.broadcast_to(ss, shape)][: top + 1])
    for l in range(n, network.depth):
        out = _layer(network, l, out, top, numbers)
        numbers.check_size(out, f"of the alpha-coefficients after layer {l}")
    U = _linear(network, "unembed", numbers)
    return _apply(U, out, numbers) if U is not None else out


#: the highest α-order computed: steering before 9 layers or fewer needs no truncation
MAX_ORDER = 512


def order_limit(network: Network, steer_at: int, max_order: int | None) -> int:
    """``min(max_order, 2^(L-n))``: the highest α-order that can be nonzero and is asked for."""
    bound = 2 ** (network.depth - steer_at)
    if max_order is not None and (isinstance(max_order, bool) or not isinstance(max_order, (int, np.integer)) or max_order < 0):
        raise ShapeError(f"max_order={max_order!r}; expected a non-negative integer (or None for the full degree {bound})")
    top = bound if max_order is None else min(int(max_order), bound)
    if top > MAX_ORDER:
        # the work grows with the square of the order; 2^(L-n) for a deep stack would never end
        raise BudgetError(
            f"the output has degree {bound} in alpha after {network.depth - steer_at} layer(s); orders above "
            f"{MAX_ORDER} are refused: pass max_order={MAX_ORDER} or lower"
        )
    return top


def _layer(network: Network, l: int, cs: np.ndarray, top: int, numbers: Numbers) -> np.ndarray:
    """One layer on the stacked coefficients ``cs`` (orders first): one matmul per weight
    matrix, and the order convolution accumulated in place into one preallocated array, so
    float64 runs do not allocate (and page-fault) a fresh array per product."""
    a = _layer_arrays(network, l, numbers)
    wc, vc = _apply(a["W"], cs, numbers), _apply(a["V"], cs, numbers)
    if a["b"] is not None:
        wc[0] += a["b"]
        vc[0] += a["c"]
    deg = len(cs) - 1
    orders = min(top, 2 * deg) + 1
    numbers.check_products(wc, vc, [(i, m - i) for m in range(orders) for i in range(max(0, m - deg), min(m, deg) + 1)])
    hidden = np.empty((orders, *wc.shape[1:]), dtype=wc.dtype)
    product = np.empty(wc.shape[1:], dtype=wc.dtype)
    for m in range(len(hidden)):
        lo, hi = max(0, m - deg), min(m, deg)
        g = hidden[m]
        np.multiply(wc[lo], vc[m - lo], out=g)
        for i in range(lo + 1, hi + 1):
            np.multiply(wc[i], vc[m - i], out=product)
            g += product
    out = _apply(a["P"], hidden, numbers)
    if network.residual:
        both = min(len(cs), len(out))
        out[:both] += cs[:both]
    return out


def split_coefficients(
    network: Network,
    x_n: Any,
    s: Any,
    *,
    steer_at: int,
    max_order: int | None = None,
    numbers: Numbers = EXACT,
) -> dict[str, np.ndarray]:
    """The α-coefficients split by kind, without listing terms.

    ``const`` is the output at ``x_n = 0, α = 0``; ``self`` of order m ≥ 1 the coefficient
    with ``x_n := 0``; ``input`` the rest of order 0; ``cross`` everything else.
    """
    width = network.width_at(network.check_steer_at(steer_at))
    total = coefficients(network, x_n, s, steer_at=steer_at, max_order=max_order, numbers=numbers)
    zero = numbers.zeros((width,))
    at_zero = coefficients(network, zero, s, steer_at=steer_at, max_order=max_order, numbers=numbers)
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
