"""Steering vectors from activations: ``s = mean(h) − mean(q)`` at a layer n.

The seed's recipe: record the activation ``x_n`` on inputs that show the behaviour ("happy",
here the digit 3) and on inputs that do not ("neutral", the digit 8), and take the
difference of the means. Activations come from the float64 forward pass of the core.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._coefficients import stream
from .errors import ShapeError
from .network import Network
from .numbers import FLOAT

__all__ = ["activations", "steering_vector", "steering_from_inputs"]


def _batch(values: Any, name: str, width: int | None = None) -> np.ndarray:
    """A float64 batch ``(N, width)``; one vector counts as a batch of one."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "fiu":
        raise ShapeError(f"{name} has dtype {arr.dtype}; expected real numbers")
    arr = arr.astype(np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ShapeError(f"{name} has shape {np.shape(values)}; expected a non-empty batch (N, width) of vectors")
    if width is not None and arr.shape[1] != width:
        raise ShapeError(f"{name} has shape {arr.shape}; expected (N, {width})")
    if not np.all(np.isfinite(arr)):
        raise ShapeError(f"{name} has NaN or infinite entries; expected finite numbers")
    return arr


def activations(network: Network, inputs: Any, *, layer: int, name: str = "inputs") -> np.ndarray:
    """``x_n`` for a batch of network inputs ``(N, d_in)``: the activation entering layer ``n``
    (after the embedding; ``n = L`` is the last stream), float64, shape ``(N, width_at(n))``;
    ``name`` is what a message calls the inputs."""
    n = network.check_steer_at(layer)
    return stream(network, _batch(inputs, name, network.d_in), numbers=FLOAT)[n]


def steering_vector(h: Any, q: Any, *, normalize: bool = False) -> np.ndarray:
    """``mean(h) − mean(q)`` over two batches of recorded activations ``(N, width)``;
    ``normalize`` scales it to unit Euclidean norm.

    >>> steering_vector([[1.0, 2.0], [3.0, 2.0]], [[0.0, 1.0]]).tolist()
    [2.0, 1.0]
    """
    hs, qs = _batch(h, "h"), _batch(q, "q")
    if hs.shape[1] != qs.shape[1]:
        raise ShapeError(f"h has width {hs.shape[1]} but q has width {qs.shape[1]}; expected activations of one layer")
    s = hs.mean(axis=0) - qs.mean(axis=0)
    if normalize:
        norm = float(np.linalg.norm(s))
        if norm == 0.0:
            raise ShapeError("mean(h) − mean(q) is the zero vector; it cannot be normalised")
        s = s / norm
    return s


def steering_from_inputs(network: Network, h_inputs: Any, q_inputs: Any, *, steer_at: int, normalize: bool = False) -> np.ndarray:
    """Run both batches of network inputs to layer ``steer_at`` and take :func:`steering_vector`."""
    return steering_vector(
        activations(network, h_inputs, layer=steer_at, name="h (--h)"),
        activations(network, q_inputs, layer=steer_at, name="q (--q)"), normalize=normalize,
    )
