"""The reference gate: a loaded model must reproduce the outputs its own code recorded before
anything is said about it.

Record the outputs in the research code (``np.save("out.npy", model(x).detach().numpy())``
with ``np.save("in.npy", x.numpy())``); :func:`reference_gate` runs symsteer's forward pass of
the loaded network on the same inputs and refuses (:class:`ReferenceMismatch`, exit 1) when the
largest difference, relative to the largest reference entry, exceeds the tolerance of the
coarsest dtype involved (:data:`symsteer._check.REFERENCE_RTOL`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ._check import ATOL, REFERENCE_RTOL
from ._coefficients import forward
from .errors import InputFileError, ReferenceMismatch, ShapeError
from .network import Network
from .numbers import FLOAT

__all__ = ["GateResult", "reference_gate", "gate_arrays", "read_array", "tolerance_for"]

#: dtypes from finest to coarsest, as the tolerance table names them
_ORDER = ("float64", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class GateResult:
    """The comparison of a loaded model's forward pass with recorded outputs."""

    #: largest |difference| / max(largest |reference entry|, tiny)
    relative: float
    #: index (sample, output …) of the largest difference
    where: tuple[int, ...]
    got: float
    expected: float
    tolerance: float
    #: the dtype that set the tolerance
    dtype: str
    samples: int

    @property
    def passed(self) -> bool:
        return self.relative <= self.tolerance

    def describe(self) -> str:
        verdict = "matches" if self.passed else "differs from"
        return (f"the loaded model {verdict} the reference on {self.samples} input(s): largest difference "
                f"{abs(self.got - self.expected):.3e} ({self.relative:.3e} relative) at output {list(self.where)}: "
                f"symsteer {self.got!r}, reference {self.expected!r}; tolerance {self.tolerance:.0e} ({self.dtype})")


def tolerance_for(dtypes: Iterable[Any]) -> tuple[float, str]:
    """The tolerance of the coarsest of ``dtypes`` (integers count as exact, i.e. float64)."""
    names = []
    for dtype in dtypes:
        name = str(np.dtype(dtype)) if not isinstance(dtype, str) else dtype
        names.append(name if name in REFERENCE_RTOL else "float64")
    coarsest = max(names or ["float64"], key=_ORDER.index)
    return REFERENCE_RTOL[coarsest], coarsest


def read_array(path: str | Path, *, name: str) -> np.ndarray:
    """A numeric ``.npy`` array (never unpickled)."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise InputFileError(f"{name}={str(path)!r}; expected a .npy file")
    from .readers import read_npy  # a regular file, its header (and size) checked before its data

    arr = read_npy(path, what=f"{name}: a .npy array")
    if arr.dtype.kind not in "fiu" or arr.ndim == 0 or arr.size == 0:
        raise InputFileError(f"{name}: {path} holds dtype {arr.dtype}, shape {arr.shape}; expected a non-empty numeric array")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise InputFileError(f"{name}: {path} has NaN or infinite entries; expected finite numbers")
    return arr


def _rows(arr: np.ndarray, width: int, name: str, what: str) -> np.ndarray:
    """(N, width): one vector, a batch, or a batch of images flattened as the research code does."""
    if arr.ndim == 1:
        arr = arr[None, :]
    flat = arr.reshape(arr.shape[0], -1)
    if flat.shape[1] != width:
        raise ShapeError(f"{name} has shape {arr.shape}; expected (N, {width}), {what} (trailing axes are flattened)")
    return flat


def gate_arrays(network: Network, inputs: np.ndarray, reference: np.ndarray, *, dtypes: Iterable[Any] = ()) -> GateResult:
    """Compare ``forward(network, inputs)`` with ``reference`` (float64)."""
    from .sequence import SequenceModel

    if isinstance(network, SequenceModel):  # token ids (N, T) in, logits (N, T, vocab) out
        from .sequence import gate_sequence

        return gate_sequence(network, inputs, reference, dtypes=dtypes)
    xs = _rows(np.asarray(inputs), network.d_in, "--inputs", "the network input width")
    ref = _rows(np.asarray(reference), network.d_out, "--reference", "the network output width")
    if xs.shape[0] != ref.shape[0]:
        raise ShapeError(f"--inputs has {xs.shape[0]} row(s) but --reference has {ref.shape[0]}; expected one output per input")
    tolerance, dtype = tolerance_for([*dtypes, inputs.dtype, reference.dtype])
    got = forward(network, xs.astype(np.float64), numbers=FLOAT)
    want = ref.astype(np.float64)
    diff = np.abs(got - want)
    where = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
    scale = max(float(np.max(np.abs(want))), ATOL)
    return GateResult(float(diff[where]) / scale, where, float(got[where]), float(want[where]), tolerance, dtype, xs.shape[0])


def reference_gate(network: Network, *, inputs: str | Path, reference: str | Path, dtypes: Iterable[Any] = ()) -> GateResult:
    """Read ``inputs`` and ``reference`` (.npy) and refuse a model that does not reproduce them.

    Raises :class:`ReferenceMismatch` (exit 1) naming the largest difference and where.
    """
    result = gate_arrays(network, read_array(inputs, name="--inputs"), read_array(reference, name="--reference"), dtypes=dtypes)
    if not result.passed:
        raise ReferenceMismatch(result.describe() + "; refusing to analyse a model that is not the one recorded "
                                "(check the layout, --residual/--plain, config.json)")
    return result
