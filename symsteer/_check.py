"""Checking symbolic expansions against numeric models. The tolerances live here, and only here."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable

import numpy as np

from ._coefficients import KINDS, forward, split_coefficients, stream
from .errors import ShapeError
from .expansion import Expansion, expand
from .network import Network
from .numbers import EXACT, FLOAT, to_sympy_number

__all__ = ["RTOL", "ATOL", "REFERENCE_RTOL", "CheckResult", "check", "check_grid", "relative_error", "assert_close", "default_grid"]

#: float64 results must agree with the exact ones to this relative error (scaled by the
#: largest entry of the reference, so cancellation in one entry does not count twice)
RTOL = 1e-9
#: absolute floor, for references that are exactly zero
ATOL = 1e-12


#: the reference gate's tolerance (largest |difference| / largest |reference entry|), by the
#: coarsest dtype among the weight file, the inputs and the recorded outputs: float64 research
#: forwards agree with symsteer's to ~1e-15; float32 ones accumulate ~1e-6 over a few layers
REFERENCE_RTOL = {"float64": 1e-9, "float32": 1e-4, "float16": 2e-2, "bfloat16": 5e-2}


def relative_error(value: Any, reference: Any) -> float:
    """``max |value − reference| / max(|reference|, 1)`` over all entries, in float64."""
    a = np.asarray(_floats(value), dtype=np.float64)
    b = np.asarray(_floats(reference), dtype=np.float64)
    a, b = np.broadcast_arrays(a, b)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1.0))


def assert_close(value: Any, reference: Any, *, rtol: float = RTOL, what: str = "value") -> None:
    """Raise ``AssertionError`` naming ``what`` and the error if the two differ beyond ``rtol``."""
    err = relative_error(value, reference)
    if not err <= rtol:
        raise AssertionError(f"{what}: relative error {err:.3e} exceeds {rtol:.0e}")


def _floats(value: Any) -> Any:
    arr = np.asarray(value)
    if arr.dtype != object:
        return arr
    return np.vectorize(lambda v: float(to_sympy_number(v)) if not isinstance(v, float) else v, otypes=[float])(arr)


def _exact_mismatches(a: np.ndarray, b: np.ndarray) -> int:
    a, b = np.broadcast_arrays(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
    return int(sum(1 for u, v in zip(a.ravel(), b.ravel()) if u != v))


@dataclass(frozen=True)
class CheckResult:
    """Largest errors of one expansion against the numeric model; ``passed`` holds all of them."""

    #: steered forward passes at many α against the float polynomial (full expansions only)
    forward_error: float
    #: listed terms against propagated α-coefficients, float64
    coefficient_error: float
    #: per-kind sums of the terms against the propagated split (x := 0), float64
    split_error: float
    #: entries that differ in exact rational arithmetic (terms, propagation, forward passes)
    exact_mismatches: int
    #: how many comparisons were made
    compared: int

    @property
    def largest(self) -> float:
        return max(self.forward_error, self.coefficient_error, self.split_error)

    @property
    def passed(self) -> bool:
        return self.exact_mismatches == 0 and self.largest <= RTOL


def check(
    expansion: Expansion,
    *,
    s: Any,
    x: Any,
    alphas: Iterable[Any] = (Fraction(-3, 2), -1, Fraction(-1, 3), 0, Fraction(1, 2), 1, 2),
    exact: bool = True,
) -> CheckResult:
    """Compare ``expansion`` on network input ``x`` and steering vector ``s`` with
    (a) steered forward passes at each α, (b) propagated α-coefficients, (c) the per-kind split,
    in float64 and (if ``exact``) in exact rationals.

    >>> net = Network.random(layers=2, width=2, hidden=3, residual=True, seed=0)
    >>> check(expand(net, steer_at=1), s=[1, 2], x=[0, 1]).passed
    True
    """
    net, n, top = expansion.network, expansion.steer_at, expansion.max_order
    if net.field == "symbolic":
        raise ShapeError("check needs concrete weights; this network has symbolic ones")
    alphas = list(alphas)
    errors = {"forward": 0.0, "coefficients": 0.0, "split": 0.0}
    mismatches, compared = 0, 0
    systems = [FLOAT] + ([EXACT] if exact else [])
    for numbers in systems:
        # the stream once, the propagation once (the split's parts sum to the total)
        x_n = stream(net, x, numbers=numbers)[n]
        parts = expansion.evaluate(s, **({"x": x} if expansion.split_directions else {"x_n": x_n}), numbers=numbers)
        total = sum(parts.values())
        split = split_coefficients(net, x_n=x_n, s=s, steer_at=n, max_order=top, numbers=numbers)
        propagated = sum(split.values())
        pairs = [("coefficients", total, propagated)] + [("split", parts[k], split[k]) for k in KINDS]
        if not expansion.truncated:
            for alpha in alphas:
                a = numbers.entry(alpha)
                poly = sum(total[m] * a**m for m in expansion.orders)
                pairs.append(("forward", poly, forward(net, x, numbers=numbers, steer_at=n, s=s, alpha=a)))
        for name, got, ref in pairs:
            compared += 1
            if numbers is EXACT:
                mismatches += _exact_mismatches(got, ref)
            else:
                errors[name] = max(errors[name], relative_error(got, ref))
    return CheckResult(errors["forward"], errors["coefficients"], errors["split"], mismatches, compared)


def default_grid() -> list[dict[str, Any]]:
    """Model shapes for ``symsteer check``: plain and residual, with and without biases,
    embed/unembed, depth 1–3, every ``steer_at``."""
    grid = []
    for residual in (False, True):
        for bias in (False, True):
            for layers in (1, 2, 3):
                for steer_at in range(layers + 1):
                    edge = (layers + steer_at + bias) % 2 == 0
                    grid.append(
                        dict(layers=layers, residual=residual, bias=bias, steer_at=steer_at,
                             embed=3 if edge else None, unembed=2 if not edge else None)
                    )
    return grid


#: the widest model the check grid builds (36 shapes, each also in exact rationals: width 64 takes ~20 s)
MAX_GRID_WIDTH = 64


def check_grid(
    grid: Iterable[dict[str, Any]] | None = None,
    *,
    seed: int = 0,
    width: int = 3,
    hidden: int = 3,
    kind: str = "rational",
) -> list[tuple[dict[str, Any], CheckResult]]:
    """Run :func:`check` on a seeded random model and input for every shape in ``grid``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ShapeError(f"seed={seed!r}; expected a non-negative integer")
    for name, value in (("width", width), ("hidden", hidden)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_GRID_WIDTH:
            # every shape of the grid is checked in exact rationals too: the time grows as width²
            raise ShapeError(f"{name}={value!r}; expected an integer 1 … {MAX_GRID_WIDTH} (the grid is checked in exact rationals)")
    rows = []
    for i, case in enumerate(grid if grid is not None else default_grid()):
        rng = np.random.default_rng([seed, i])
        opts = {k: v for k, v in case.items() if k != "steer_at"}
        net = Network.random(width=width, hidden=hidden, kind=kind, seed=rng, **opts)
        x = rng.integers(-3, 4, size=net.d_in).tolist()
        s = rng.integers(-3, 4, size=net.width_at(case["steer_at"])).tolist()
        rows.append((case, check(expand(net, steer_at=case["steer_at"]), s=s, x=x)))
    return rows
