"""How strongly to steer, from the exact α-polynomials of the logits.

Steering makes every logit a polynomial ``y(α) = Σ_m c_m α^m``. For each output row (an input,
or a prompt at a position) this module reads off:

* ``KL(α) = KL(softmax(y(0)) ‖ softmax(y(α)))`` on a grid, and the **iso-KL** α on each side:
  the α nearest 0 where the KL first reaches a budget (bisection on the polynomial), checked by
  a forward pass;
* the **target** logit's curve and its turning points (real roots of ``y_t'``): steering is
  non-monotone in α exactly when one lies inside the range;
* where the **self** part (``x_n := 0``) overtakes the **cross** part;
* the **argmax** and **top-k flips**: real roots of ``y_i − y_j`` inside the range where the
  winner (or the top-k set) changes, each checked by forward passes just before and after.

The polynomials and a forward pass come from the caller (:func:`calibrate_network` wires a
:class:`~symsteer.network.Network`), so any model whose logit coefficients symsteer computes
plugs in.

Through a per-sample norm the logits are not polynomials but series in α (a square root): the
coefficients are then a truncation, valid only inside the certified disk ``|α| ≤ ρ`` of
:mod:`symsteer.series`. The range is clipped to it (nothing is computed or claimed outside), the
series is checked against forward passes within its certified bound, and every output says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ._check import RTOL, relative_error
from .effect import _batch, _overtake, _real_roots, _vector
from .errors import BudgetError, ShapeError

__all__ = [
    "Flip", "RowCalibration", "Calibration", "kl_divergence", "calibrate", "calibrate_network", "calibrate_sequence",
    "DEFAULT_BUDGET",
]

#: the KL budget (nats) unless told otherwise
DEFAULT_BUDGET = 0.1
#: bisection steps for the iso-KL α (each halves the bracket of one grid step)
_BISECT = 80
#: the most logit pairs whose differences' roots one row's flips may take (632 outputs)
MAX_PAIRS = 200_000


def kl_divergence(base: np.ndarray, steered: np.ndarray) -> np.ndarray:
    """``KL(softmax(base) ‖ softmax(steered))`` over the last axis, in nats (log-sum-exp stable).

    >>> float(kl_divergence(np.array([0.0, 0.0]), np.array([0.0, 0.0])))
    0.0
    """
    base = np.asarray(base, dtype=np.float64)
    steered = np.asarray(steered, dtype=np.float64)
    lp = base - _logsumexp(base)
    lq = steered - _logsumexp(steered)
    return np.maximum(np.sum(np.exp(lp) * (lp - lq), axis=-1), 0.0)


def _logsumexp(y: np.ndarray) -> np.ndarray:
    top = np.max(y, axis=-1, keepdims=True)
    return top + np.log(np.sum(np.exp(y - top), axis=-1, keepdims=True))


def _polyval(coeffs: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """``Σ_m coeffs[m] α^m`` for coefficients (K+1, …) (Horner)."""
    out = np.zeros(np.shape(alpha) + coeffs.shape[1:])
    a = np.asarray(alpha, dtype=np.float64).reshape(np.shape(alpha) + (1,) * (coeffs.ndim - 1))
    for c in coeffs[::-1]:
        out = out * a + c
    return out


@dataclass(frozen=True)
class Flip:
    """The argmax (or the top-k set) changes at ``alpha``, a real root of ``y_i − y_j``.

    ``before``/``after``: the winner (argmax) or the sorted top-k set on either side;
    ``verified``: forward passes just before and after agree with the polynomial;
    ``interval``: with exact coefficients, a certified enclosure ``[lo, hi]`` of the root of the
    exact polynomial ``y_i − y_j`` (python-flint's ball arithmetic), ``alpha`` its midpoint."""

    alpha: float
    before: tuple[int, ...]
    after: tuple[int, ...]
    verified: bool
    interval: tuple[float, float] | None = None


@dataclass(frozen=True, eq=False)
class RowCalibration:
    """Calibration of one output row."""

    label: str
    #: the output whose curve is followed
    target: int
    #: α-coefficients of the target logit, low → high
    target_coefficients: np.ndarray
    #: real roots of the target logit's derivative inside the range (non-monotone iff any)
    target_turning_points: tuple[float, ...]
    #: α nearest 0 on each side where KL first reaches the budget (None: not inside the range)
    iso_kl: tuple[float | None, float | None]
    #: KL from forward passes at those α (None where there is no such α)
    iso_kl_forward: tuple[float | None, float | None]
    #: the target's probability at those α, from the forward passes (None where there is no such α)
    iso_kl_target: tuple[float | None, float | None]
    #: (α₋, α₊): beyond them the self part is larger than the cross part (see effect.Sweep)
    overtake: tuple[float, float] | None
    argmax_flips: tuple[Flip, ...]
    topk_flips: tuple[Flip, ...]
    #: KL(α) on the calibration's grid, from the polynomial
    kl: np.ndarray
    #: softmax probability of the target on the grid, from the polynomial
    target_probability: np.ndarray

    @property
    def non_monotone(self) -> bool:
        return len(self.target_turning_points) > 0


@dataclass(frozen=True, eq=False)
class Calibration:
    """How strongly to steer, per row, within ``[lo, hi]``."""

    budget: float
    top_k: int
    lo: float
    hi: float
    grid: np.ndarray
    rows: tuple[RowCalibration, ...]
    #: largest relative error of the polynomial against forward passes over the grid checks
    forward_error: float
    #: whether exact coefficients were given (flips then carry certified intervals)
    exact: bool = False
    #: names of the outputs (token names), for the text
    names: tuple[str, ...] | None = None
    #: what the coefficients are (symsteer.series.statement); None: the exact polynomial
    validity: dict[str, Any] | None = None
    #: the α range asked for, when the certified disk clipped it
    requested: tuple[float, float] | None = None
    #: every forward check within the series' certified bound (None: no series)
    within_bound: bool | None = None

    @property
    def verified(self) -> bool:
        """Every flip confirmed, every iso-KL α's forward KL equal to the budget within tolerance,
        and the polynomial equal to the forward passes."""
        flips = all(f.verified for r in self.rows for f in r.argmax_flips + r.topk_flips)
        iso = all(v is None or abs(v - self.budget) <= _kl_tolerance(self.budget)
                  for r in self.rows for v in r.iso_kl_forward)
        forward = self.forward_error <= _FORWARD_RTOL if self.within_bound is None else self.within_bound
        return flips and iso and forward

    @property
    def certified(self) -> bool | None:
        """Every flip's root enclosed by certified ball arithmetic (None: no exact coefficients given)."""
        if not self.exact:
            return None
        return all(f.interval is not None for r in self.rows for f in r.argmax_flips + r.topk_flips)

    def to_json(self) -> dict[str, Any]:
        def num(v: float | None) -> float | str | None:
            if v is None:
                return None
            return v if math.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")

        def flips(fs: tuple[Flip, ...]) -> list[dict[str, Any]]:
            return [{"alpha": f.alpha, "before": list(f.before), "after": list(f.after), "verified": f.verified,
                     "certified_interval": None if f.interval is None else list(f.interval)} for f in fs]

        return {
            "kl_budget": self.budget, "top_k": self.top_k, "range": [self.lo, self.hi],
            "forward_error": self.forward_error, "verified": self.verified, "certified": self.certified,
            "exactness": self.validity or {"kind": "exact polynomial", "what": "a polynomial in alpha"},
            "requested_range": None if self.requested is None else list(self.requested),
            "within_certified_bound": self.within_bound,
            "rows": [{
                "label": r.label, "target": r.target,
                "target_coefficients": [float(c) for c in r.target_coefficients],
                "target_turning_points": list(r.target_turning_points), "non_monotone": r.non_monotone,
                "iso_kl_alpha": [num(v) for v in r.iso_kl], "iso_kl_forward": [num(v) for v in r.iso_kl_forward],
                "iso_kl_target_probability": [num(v) for v in r.iso_kl_target],
                "self_overtakes_cross": None if r.overtake is None else [num(v) for v in r.overtake],
                "argmax_flips": flips(r.argmax_flips), "topk_flips": flips(r.topk_flips),
                "kl_curve": {"alpha": [float(a) for a in self.grid], "kl": [float(v) for v in r.kl],
                             "target_probability": [float(v) for v in r.target_probability]},
            } for r in self.rows],
        }

    def to_text(self, *, show: int = 5) -> str:
        lines = [f"calibration: KL budget {self.budget:g} nats, top-{self.top_k}, α in [{self.lo:g}, {self.hi:g}]",
                 f"polynomial vs forward passes: largest relative error {self.forward_error:.2e}"
                 + ("" if self.within_bound is None else
                    f" (a certified series: within its bound {'yes' if self.within_bound else 'NO'})"),
                 f"all flips and iso-KL α checked by forward passes: {'yes' if self.verified else 'NO'}"]
        if self.certified is not None:
            lines.append(f"every flip's root enclosed by certified ball arithmetic: {'yes' if self.certified else 'NO'}")
        if self.validity is not None:
            from .series import exactness_text

            lines.append(exactness_text(self.validity))
        if self.requested is not None:
            lines.append(f"the α range {list(self.requested)} was clipped to the certified disk: [{self.lo:g}, {self.hi:g}]; "
                         "roots and flips beyond it are not computed")
        for r in self.rows[:show]:
            neg, pos = (("—" if v is None else f"{v:.6g}" + ("" if p is None else f" (P {p:.3g})"))
                        for v, p in zip(r.iso_kl, r.iso_kl_target))
            lines.append(f"{r.label}: iso-KL α = {neg} / {pos}; target {_set((r.target,), self.names)} "
                         + (f"non-monotone (turns at {', '.join(f'{t:.4g}' for t in r.target_turning_points)})"
                            if r.non_monotone else "monotone in range"))
            if r.overtake is not None and all(math.isinf(v) for v in r.overtake):
                lines.append("  self never overtakes cross")
            elif r.overtake is not None:
                neg, pos = (("never" if math.isinf(v) else "undefined (both zero)" if math.isnan(v) else f"{v:.4g}")
                            for v in r.overtake)
                lines.append(f"  self overtakes cross for α < {neg} and for α > {pos}")
            for name, fs in (("argmax", r.argmax_flips), (f"top-{self.top_k}", r.topk_flips)):
                shown = ", ".join(f"{f.alpha:.6g}{'' if f.interval is None else ' (certified)'} "
                                  f"({_set(f.before, self.names)}→{_set(f.after, self.names)}{'' if f.verified else ' UNVERIFIED'})"
                                  for f in fs[:8])
                lines.append(f"  {name} flips: {shown or 'none'}" + (f" (+{len(fs) - 8} more)" if len(fs) > 8 else ""))
        if len(self.rows) > show:
            lines.append(f"({len(self.rows) - show} more rows: --format json lists them all)")
        return "\n".join(lines)

    def plot(self, path: str, *, rows: int = 4) -> None:
        try:  # a bare Figure: no pyplot, so the caller's backend is left alone
            from matplotlib.figure import Figure
        except ImportError:
            from .errors import SymsteerError

            raise SymsteerError("--plot needs matplotlib (pip install matplotlib, symsteer's optional 'plot' extra)") from None
        picked = self.rows[:rows]
        fig = Figure(figsize=(9, 2.6 * len(picked)))
        for i, r in enumerate(picked):
            ax = fig.add_subplot(len(picked), 2, 2 * i + 1)
            ax.plot(self.grid, r.kl, color="k")
            ax.axhline(self.budget, color="tab:red", lw=0.8, ls="--")
            for a in r.iso_kl:
                if a is not None:
                    ax.axvline(a, color="tab:red", lw=0.8)
            ax.set_yscale("symlog", linthresh=max(self.budget / 10, 1e-6))
            ax.set_ylim(bottom=0)
            ax.set_title(f"{r.label}: KL(base ‖ steered), budget dashed", fontsize=9)
            bx = fig.add_subplot(len(picked), 2, 2 * i + 2)
            bx.plot(self.grid, r.target_probability, color="tab:blue")
            for f in r.argmax_flips:
                bx.axvline(f.alpha, color="tab:orange", lw=0.8)
            for t in r.target_turning_points:
                bx.axvline(t, color="tab:green", lw=0.8, ls=":")
            name = self.names[r.target] if self.names is not None else str(r.target)
            bx.set_ylim(-0.02, 1.02)
            bx.set_title(f"P({name}) (orange: argmax flips, green: the logit turns)", fontsize=9)
            for a in (ax, bx):
                a.set_xlabel("α", fontsize=8)
                a.tick_params(labelsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=110)


def _set(v: tuple[int, ...], names: tuple[str, ...] | None = None) -> str:
    shown = [names[i] if names is not None else str(i) for i in v]
    return shown[0] if len(shown) == 1 else "{" + ",".join(shown) + "}"


#: KL from a forward pass may differ from the polynomial's by rounding only; it is compared
#: relative to the budget (KL near the budget is a sum of terms of that size)
def _kl_tolerance(budget: float) -> float:
    return 1e3 * RTOL * max(budget, 1.0)


#: the polynomial against forward passes, relative (check.relative_error), at every α checked
_FORWARD_RTOL = RTOL


def _iso(kl_of: Callable[[float], float], grid_side: np.ndarray, kl_side: np.ndarray, budget: float) -> float | None:
    """The first crossing of the budget walking away from 0 on the grid (KL(0) = 0), refined by
    bisection between the grid points around it (a crossing and recrossing inside one grid step
    is not seen: the grid has ``points`` values)."""
    hit = np.nonzero(kl_side >= budget)[0]
    if len(hit) == 0:
        return None
    j = int(hit[0])
    a, b = (0.0 if j == 0 else float(grid_side[j - 1])), float(grid_side[j])
    for _ in range(_BISECT):
        mid = (a + b) / 2
        if mid in (a, b):
            break
        if kl_of(mid) >= budget:
            b = mid
        else:
            a = mid
    return b


def _certify(exact: np.ndarray | None, pairs: list[tuple[int, int]], r: float) -> tuple[float, float] | None:
    """A certified enclosure of the real root near ``r`` of ``y_i − y_j`` for one of ``pairs``,
    from exact (rational) coefficients (K+1, V); None when none isolates a real root there."""
    if exact is None:
        return None
    import flint

    for i, j in pairs:
        p = flint.fmpq_poly([flint.fmpq(int(u.p), int(u.q)) if not isinstance(u, flint.fmpq) else u
                             for u in (exact[:, i] - exact[:, j])])
        if p.degree() < 1:
            continue
        for root, mult in p.complex_roots():
            if mult != 1 or not root.imag.is_zero():
                continue
            lo_, hi_ = float(root.real.lower()), float(root.real.upper())
            lo_, hi_ = float(np.nextafter(lo_, -np.inf)), float(np.nextafter(hi_, np.inf))  # outward past float rounding
            if lo_ - 1e-6 * max(1.0, abs(r)) <= r <= hi_ + 1e-6 * max(1.0, abs(r)):
                return lo_, hi_
    return None


def _rank_flips(poly: np.ndarray, lo: float, hi: float, k: int, forward: Callable[[float], np.ndarray],
                exact: np.ndarray | None = None) -> tuple[tuple[Flip, ...], tuple[Flip, ...]]:
    """Argmax and top-k changes in (lo, hi) for one row's logit polynomial (K+1, V); with exact
    coefficients each change's root is also enclosed by certified ball arithmetic."""
    v = poly.shape[-1]
    if v < 2:
        return (), ()
    if v * (v - 1) // 2 > MAX_PAIRS:
        raise BudgetError(
            f"flips among {v} outputs take the roots of {v * (v - 1) // 2} logit differences per row (limit {MAX_PAIRS}): "
            "calibrate a model with at most 632 outputs"
        )
    diffs = poly[:, :, None] - poly[:, None, :]
    iu = np.triu_indices(v, 1)
    owners: dict[float, list[tuple[int, int]]] = {}
    for i, j in zip(*iu):
        for r in _real_roots(diffs[:, i, j]):
            if lo < r < hi:
                owners.setdefault(float(r), []).append((int(i), int(j)))
    points = sorted(owners)
    edges = np.array([lo, *points, hi])
    mids = (edges[:-1] + edges[1:]) / 2
    vals = _polyval(poly, mids)  # (len(mids), V)
    order = np.argsort(-vals, axis=1, kind="stable")
    winners = [(int(o[0]),) for o in order]
    tops = [tuple(sorted(int(t) for t in o[:k])) for o in order]
    out_arg, out_top = [], []
    for i, r in enumerate(points):
        changed_arg = winners[i] != winners[i + 1]
        changed_top = k < v and tops[i] != tops[i + 1]
        if not (changed_arg or changed_top):
            continue
        interval = _certify(exact, owners[r], r)
        if interval is not None:
            r = (interval[0] + interval[1]) / 2
        step = min(1e-6 * max(1.0, abs(r)), (r - edges[i]) / 2, (edges[i + 2] - r) / 2)
        left, right = forward(r - step), forward(r + step)
        if changed_arg:
            ok = int(np.argmax(left)) == winners[i][0] and int(np.argmax(right)) == winners[i + 1][0]
            out_arg.append(Flip(r, winners[i], winners[i + 1], ok, interval))
        if changed_top:
            ok = (tuple(sorted(np.argsort(-left, kind="stable")[:k].tolist())) == tops[i]
                  and tuple(sorted(np.argsort(-right, kind="stable")[:k].tolist())) == tops[i + 1])
            out_top.append(Flip(r, tops[i], tops[i + 1], ok, interval))
    return tuple(out_arg), tuple(out_top)


def calibrate(
    total: Any,
    forward: Callable[[float], np.ndarray],
    *,
    budget: float = DEFAULT_BUDGET,
    lo: float = -10.0,
    hi: float = 10.0,
    top_k: int = 5,
    targets: Sequence[int] | None = None,
    self_part: Any = None,
    cross_part: Any = None,
    labels: Sequence[str] | None = None,
    points: int = 401,
    exact: Any = None,
    names: Sequence[str] | None = None,
    validity: dict[str, Any] | None = None,
    bound: Callable[[float], np.ndarray] | None = None,
) -> Calibration:
    """Calibrate rows of logits given their α-coefficients ``total`` (K+1, R, V).

    ``forward(α)`` is the model's own steered forward pass, (R, V). ``targets``: the output
    followed in each row (default: the one the α¹ coefficient raises most). ``self_part`` and
    ``cross_part`` (same shape as ``total``) give where self overtakes cross. ``exact``: the
    same coefficients as exact rationals (an object array of ``flint.fmpq``), to enclose each
    flip's root in a certified interval. ``names``: the outputs' names (tokens), for the text.
    ``validity``: a certified-series statement (:func:`symsteer.series.statement`): the range is
    clipped to its disk ``|α| ≤ ρ``, and ``bound(α)`` (R, V) bounds ``|series − forward|`` there.

    >>> c = np.array([[[0.0, 0.0]], [[1.0, -1.0]]])    # y(α) = (α, −α): KL(α) = log cosh α
    >>> cal = calibrate(c, lambda a: np.array([[a, -a]]), budget=0.1, lo=-2, hi=2)
    >>> [f.alpha for f in cal.rows[0].argmax_flips], abs(cal.rows[0].iso_kl[1] - math.acosh(math.exp(0.1))) < 1e-12
    ([0.0], True)
    """
    total = np.asarray(total, dtype=np.float64)
    if total.ndim != 3 or total.shape[0] < 1 or total.shape[2] < 1:
        raise ShapeError(f"logit coefficients have shape {total.shape}; expected (K+1, rows, outputs)")
    if not (budget > 0 and math.isfinite(budget)):
        raise ShapeError(f"KL budget {budget}; expected a positive number")
    if not (lo < 0 < hi and math.isfinite(lo) and math.isfinite(hi)):
        raise ShapeError(f"α range [{lo}, {hi}]; expected finite lo < 0 < hi")
    if not 1 <= top_k:
        raise ShapeError(f"top-k {top_k}; expected a positive integer")
    requested = None
    if validity is not None and validity.get("kind") == "certified series":
        rho = float(validity["rho"])
        if lo < -rho or hi > rho:  # a truncated series says nothing beyond its certified disk
            requested, lo, hi = (float(lo), float(hi)), max(lo, -rho), min(hi, rho)
    n_rows, v = total.shape[1], total.shape[2]
    targets = [int(np.argmax(total[1, r])) if total.shape[0] > 1 else 0 for r in range(n_rows)] if targets is None else list(targets)
    if len(targets) != n_rows or not all(0 <= t < v for t in targets):
        raise ShapeError(f"targets {targets}; expected {n_rows} output indices in 0…{v - 1}")
    labels = [f"row {r}" for r in range(n_rows)] if labels is None else list(labels)
    grid = np.unique(np.concatenate([np.linspace(lo, hi, points), [0.0]]))
    values = _polyval(total, grid)  # (A, R, V)
    base = total[0]
    kl = kl_divergence(base[None], values)  # (A, R)
    probs = np.exp(values - _logsumexp(values))  # (A, R, V)
    # the polynomial against forward passes at a handful of grid points (both ends and 0)
    checks = [grid[0], grid[len(grid) // 4], 0.0, grid[3 * len(grid) // 4], grid[-1]]
    err = max(relative_error(_polyval(total, a), forward(float(a))) for a in checks)
    within = None
    if bound is not None:  # a float64 evaluation of the series may add rounding to the certified bound
        within = all(bool(np.all(np.abs(_polyval(total, a) - forward(float(a)))
                                 <= bound(float(a)) + RTOL * max(1.0, float(np.max(np.abs(total[0]))))))
                     for a in checks)
    overtake = None
    if self_part is not None and cross_part is not None:
        overtake = _overtake(np.asarray(self_part, dtype=np.float64), np.asarray(cross_part, dtype=np.float64))
    rows = []
    neg, pos = grid < 0, grid > 0
    for r in range(n_rows):
        def kl_of(a: float, r: int = r) -> float:
            return float(kl_divergence(base[r], _polyval(total[:, r], a)))

        iso = (_iso(kl_of, grid[neg][::-1], kl[neg, r][::-1], budget), _iso(kl_of, grid[pos], kl[pos, r], budget))
        iso_fwd = tuple(None if a is None else float(kl_divergence(forward(0.0)[r], forward(a)[r])) for a in iso)
        iso_target = tuple(None if a is None else float(np.exp(forward(a)[r] - _logsumexp(forward(a)[r]))[targets[r]])
                           for a in iso)
        coeffs = total[:, r, targets[r]]
        deriv = coeffs[1:] * np.arange(1, len(coeffs))
        turning = tuple(float(t) for t in _real_roots(deriv) if lo < t < hi) if len(deriv) else ()
        arg, top = _rank_flips(total[:, r], lo, hi, top_k, lambda a, r=r: forward(a)[r],
                               None if exact is None else np.asarray(exact)[:, r])
        rows.append(RowCalibration(labels[r], targets[r], coeffs.copy(), turning, iso, iso_fwd, iso_target,
                                   None if overtake is None else (float(overtake[r, 0]), float(overtake[r, 1])),
                                   arg, top, kl[:, r].copy(), probs[:, r, targets[r]].copy()))
    if names is not None and len(names) != v:
        raise ShapeError(f"{len(names)} output names for {v} outputs")
    return Calibration(budget, top_k, float(lo), float(hi), grid, tuple(rows), float(err), exact is not None,
                       None if names is None else tuple(str(x) for x in names), validity, requested, within)


def calibrate_network(network: Any, s: Any, inputs: Any, *, steer_at: int, exact: bool = False,
                      **options: Any) -> Calibration:
    """:func:`calibrate` for a per-position network on inputs (N, d_in): the coefficients and
    the self/cross split come from the core, the forward passes from the model. ``exact``:
    also the coefficients in exact rationals, to certify each flip's root."""
    from ._coefficients import coefficients, forward, split_coefficients, stream
    from .numbers import EXACT, FLOAT

    n = network.check_steer_at(steer_at)
    s = _vector(s, network.width_at(n))
    xs = _batch(inputs, network)
    options.setdefault("labels", [f"input {i}" for i in range(xs.shape[0])])
    if _series(network.blocks[network.block_at(n):]):
        if exact:
            raise ShapeError("exact certification of flips needs exact coefficients; a per-sample norm after the steering point "
                             "makes the logits a series in alpha (a square root): calibrate without --exact")
        from .series import Steered, certify

        order = options.pop("max_order", None) or SERIES_ORDER
        total = coefficients(network, x_n=stream(network, xs, numbers=FLOAT)[n], s=s, steer_at=n, max_order=order, numbers=FLOAT)
        cert = certify(Steered.of_network(network, x=xs, s=s, steer_at=n), order=order, rho=options.pop("rho", None),
                       budget=options.pop("boxes", CALIBRATE_BOXES))
        total = cert.midpoints().reshape(total.shape)  # the certified numbers: error_bound is about them
        return calibrate(total, lambda a: forward(network, xs, steer_at=n, s=s, alpha=float(a)),
                         validity=_statement(network.blocks[network.block_at(n):], cert), bound=cert.error_bound, **options)
    parts = split_coefficients(network, x_n=stream(network, xs, numbers=FLOAT)[n], s=s, steer_at=n, numbers=FLOAT)
    parts["cross"][0] = 0.0  # no α⁰ term by definition; the split leaves round-off there
    parts["self"][0] = 0.0
    total = sum(parts.values())
    rational = coefficients(network, x_n=stream(network, xs, numbers=EXACT)[n], s=s, steer_at=n, numbers=EXACT) if exact else None
    return calibrate(total, lambda a: forward(network, xs, steer_at=n, s=s, alpha=float(a)),
                     self_part=parts["self"], cross_part=parts["cross"], exact=rational, **options)


def calibrate_sequence(model: Any, s: Any, *, tokens: Any, steer_at: int, positions: Any = "last",
                       rows: Sequence[int] | None = None, max_order: int | None = None,
                       token_names: Sequence[str] | None = None, exact: bool = False, **options: Any) -> Calibration:
    """:func:`calibrate` for a :class:`~symsteer.sequence.SequenceModel` on one token sequence:
    ``α s`` enters block ``steer_at`` at ``positions`` ("last", "all", "from:t" or a list);
    ``rows`` are the output positions calibrated (default: from the first steered one to the
    end). Coefficients and the self/cross split come from the model's blocks, in float64;
    ``exact`` also computes them in exact rationals, to certify each flip's root (the model
    must be a polynomial: no truncation)."""
    from .numbers import EXACT, FLOAT
    from .positions import SteerSet
    from .sequence import direction

    x0 = model.inputs(tokens=tokens, numbers=FLOAT)
    length = x0.shape[0]
    n = model.check_steer_at(steer_at)
    steered = SteerSet.of(positions)
    d = direction(model, steered, s, length=length, steer_at=n)
    rows = list(range(steered.first(length), length)) if rows is None else [int(r) for r in rows]
    if not rows or not all(0 <= r < length for r in rows):
        raise ShapeError(f"rows {rows}; expected output positions in 0…{length - 1}")
    x_n = model.stream(x0, numbers=FLOAT)[n]
    toks = np.asarray(tokens).ravel()
    series = _series(model.blocks[n:] + ((model.head,) if model.head is not None else ()))
    if series:
        if exact:
            raise ShapeError("exact certification of flips needs exact coefficients; a per-sample norm after the steering point "
                             "makes the logits a series in alpha (a square root): calibrate without --exact")
        from .series import Steered, box_budget, certify_or_say_why

        order = SERIES_ORDER if max_order is None else max_order
        total = model.coefficients(x_n, d, steer_at=n, max_order=order, numbers=FLOAT)[:, rows]
        cert, why = certify_or_say_why(Steered.of_sequence(model, direction=d, steer_at=n, tokens=tokens), order=order,
                                       rho=options.pop("rho", None),
                                       budget=options.pop("boxes", box_budget(model, n, length, most=CALIBRATE_BOXES)))
        if cert is None:  # without a certified disk nothing about flips or iso-KL α can be claimed
            raise BudgetError(f"calibrating through per-sample norms needs a certified radius, and {why}; "
                              "steer closer to the output or use a shorter prompt")
        total = cert.midpoints()[:, rows]  # the certified numbers: error_bound is about them
        return calibrate(total, lambda a: model.forward(x0, numbers=FLOAT, steer_at=n, direction=d, alpha=float(a))[rows],
                         validity=_statement(model.blocks[n:], cert), bound=lambda a: cert.error_bound(a)[rows],
                         **_row_names(options, rows, toks, token_names))
    parts = model.split(x_n, d, steer_at=n, max_order=max_order, numbers=FLOAT)
    parts["cross"][0] = 0.0  # no α⁰ term by definition; the split leaves round-off there
    parts["self"][0] = 0.0
    pick = {k: v[:, rows] for k, v in parts.items()}
    total = sum(pick.values())
    options = _row_names(options, rows, toks, token_names)
    rational = None
    if exact:
        if max_order is not None:
            raise ShapeError("exact certification needs the whole polynomial: leave max_order unset")
        xe = model.stream(model.inputs(tokens=tokens, numbers=EXACT), numbers=EXACT)[n]
        rational = model.coefficients(xe, EXACT.vector(d, "direction", model.width_at(n)), steer_at=n, numbers=EXACT)[:, rows]
    return calibrate(total, lambda a: model.forward(x0, numbers=FLOAT, steer_at=n, direction=d, alpha=float(a))[rows],
                     self_part=pick["self"], cross_part=pick["cross"], exact=rational, **options)


#: the α-order of a calibration through per-sample norms unless told (a certified series)
SERIES_ORDER = 12
#: forward passes over complex boxes the certificate of a calibration may run
CALIBRATE_BOXES = 2000


def _series(blocks: Sequence[Any]) -> bool:
    from .series import exactness

    return exactness(blocks)["kind"] == "series"


def _statement(blocks: Sequence[Any], cert: Any) -> dict[str, Any]:
    from .series import statement

    return statement(blocks, exact_numbers=False, truncated=True, certificate=cert)


def _row_names(options: dict[str, Any], rows: Sequence[int], toks: np.ndarray,
               token_names: Sequence[str] | None) -> dict[str, Any]:
    names = (lambda t: str(token_names[t])) if token_names is not None else (lambda t: str(t))
    options.setdefault("labels", [f"position {r} ({names(int(toks[r]))})" for r in rows])
    if token_names is not None:
        options.setdefault("names", list(token_names))
    return options
