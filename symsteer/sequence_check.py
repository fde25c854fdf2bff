"""Checking per-position α-coefficients of sequence models against steered forward passes.

For a seeded random model of each shape in the table (attention only, attention + MLP, add and
lerp residuals, RoPE on and off, every steer set, every steering block n), the propagated
coefficients must give the steered forward pass at many α: exactly (zero difference in
rationals) and in float64 within :data:`symsteer.check.RTOL`; and no output before the first
steered position may depend on α (causality).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable

import numpy as np

from .blocks import Attention, Bilinear, Residual, Rotary
from ._check import RTOL, relative_error
from .errors import ShapeError
from .numbers import EXACT, FLOAT
from .positions import SteerSet, steer_direction
from .sequence import SequenceModel

__all__ = ["SequenceCheck", "check_sequence", "sequence_grid", "check_sequence_grid", "random_sequence_model"]

ALPHAS = (Fraction(-3, 2), -1, Fraction(-1, 3), Fraction(1, 2), 1, 2)


@dataclass(frozen=True)
class SequenceCheck:
    """Largest errors of one model's coefficients against its forward passes."""

    #: float64 polynomial against float64 forward passes, relative
    forward_error: float
    #: entries that differ in exact rationals (polynomial vs forward passes; split sums)
    exact_mismatches: int
    #: outputs before the first steered position whose coefficients of order ≥ 1 are nonzero
    causality_violations: int
    compared: int

    @property
    def passed(self) -> bool:
        return self.exact_mismatches == 0 and self.causality_violations == 0 and self.forward_error <= RTOL


def check_sequence(model: SequenceModel, x0: Any, s: Any, *, positions: SteerSet | str, steer_at: int,
                   alphas: Iterable[Any] = ALPHAS, max_order: int | None = None) -> SequenceCheck:
    """Compare the α-coefficients with steered forward passes (float64 and exact).

    With ``max_order`` below the degree only causality and the split are checked exactly (a
    truncated series is not the forward pass)."""
    alphas = list(alphas)
    T = np.shape(x0)[0]
    D = steer_direction(positions, s, length=T, width=model.width_at(steer_at))
    first = SteerSet.of(positions).first(T)
    worst, mismatches, violations, compared = 0.0, 0, 0, 0
    for numbers in (FLOAT, EXACT):
        x = numbers.vector(x0, "x", model.d_model)
        x_n = model.stream(x, numbers=numbers)[steer_at]
        parts = model.split(x_n, D, steer_at=steer_at, max_order=max_order, numbers=numbers)
        total = sum(parts.values())
        full = len(total) - 1 == model.degree(steer_at)
        violations += int(sum(1 for v in np.ravel(total[1:, :first]) if v != 0)) if numbers is EXACT else 0
        if numbers is EXACT:
            direct = model.coefficients(x_n, D, steer_at=steer_at, max_order=max_order, numbers=numbers)
            mismatches += int(sum(1 for a, b in zip(np.ravel(total), np.ravel(direct)) if a != b))
            compared += 1
        if not full:
            continue
        for alpha in alphas:
            a = numbers.entry(alpha)
            poly = sum(total[m] * a**m for m in range(len(total)))
            want = model.forward(x, numbers=numbers, steer_at=steer_at, direction=D, alpha=a)
            compared += 1
            if numbers is EXACT:
                mismatches += int(sum(1 for u, v in zip(np.ravel(poly), np.ravel(want)) if u != v))
            else:
                worst = max(worst, relative_error(poly, want))
    return SequenceCheck(worst, mismatches, violations, compared)


def random_sequence_model(spec: Iterable[str], *, d: int, heads: int, rng: np.random.Generator, rope: bool,
                          residual: str, hidden: int | None = None, kind: str = "rational") -> SequenceModel:
    """Seeded random blocks: "attn" (bilinear attention) and "mlp" (bilinear MLP, add residual)."""
    blocks = []
    for i, name in enumerate(spec):
        if name == "attn":
            inner = Attention.random(d, heads=heads, rng=rng, kind=kind, rotary=Rotary(d // heads) if rope else None, index=i)
            blocks.append(Residual.add(inner) if residual == "add" else Residual.lerp(inner, Fraction(1, 2)))
        elif name == "mlp":
            blocks.append(Residual.add(Bilinear.random(d, hidden or d, rng=rng, kind=kind, index=i)))
        else:
            raise ShapeError(f"block kind {name!r}; expected 'attn' or 'mlp'")
    return SequenceModel(tuple(blocks))


def sequence_grid() -> list[dict[str, Any]]:
    """Shapes for ``symsteer check --sequence``: attention only and attention + MLP, add and
    lerp, RoPE on and off, each steer set, every steering block n."""
    grid = []
    specs = (["attn"], ["attn", "mlp"], ["mlp", "attn"])
    sets = ("all", "last", "from:1", "0,2")
    for spec in specs:
        for residual in ("add", "lerp"):
            for rope in (False, True):
                for n in range(len(spec) + 1):
                    positions = sets[(len(grid)) % len(sets)]
                    grid.append(dict(spec=spec, residual=residual, rope=rope, steer_at=n, positions=positions))
    return grid


def check_sequence_grid(grid: Iterable[dict[str, Any]] | None = None, *, seed: int = 0, width: int = 4, heads: int = 2,
                        length: int = 3) -> list[tuple[dict[str, Any], SequenceCheck]]:
    """Run :func:`check_sequence` on a seeded random model, input and s for every shape."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ShapeError(f"seed={seed!r}; expected a non-negative integer")
    if isinstance(width, bool) or not isinstance(width, int) or not 2 <= width <= 16 or width % (2 * heads):
        raise ShapeError(f"width={width!r}; expected 2 … 16, a multiple of 2·heads (RoPE rotates head halves)")
    rows = []
    for i, case in enumerate(grid if grid is not None else sequence_grid()):
        rng = np.random.default_rng([seed, i])
        model = random_sequence_model(case["spec"], d=width, heads=heads, rng=rng, rope=case["rope"], residual=case["residual"])
        x = rng.integers(-2, 3, size=(length, width)).tolist()
        s = rng.integers(-2, 3, size=width).tolist()
        rows.append((case, check_sequence(model, x, s, positions=case["positions"], steer_at=case["steer_at"])))
    return rows
