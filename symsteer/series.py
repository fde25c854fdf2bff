"""Certified α-series for models with per-sample norms: ball coefficients, a radius, a tail bound.

With an RMSNorm after the steering point the output is not a polynomial in α (before attention it
is not even rational: ``x/√u``). Its Taylor series about α = 0 is what symsteer computes, and this
module says how far it can be trusted, rigorously, with the same blocks and the same walk as every
other number system (no layer formula here):

- **coefficients**: the blocks' ``propagate`` in real balls (:data:`~symsteer.numbers.BALL`),
  from the model's input: each ball holds the exact Taylor coefficient of the model as its
  weights define it (floats are dyadic rationals, converted exactly).
- **radius**: R such that the output is analytic on the disk ``|α| < R``, so the series converges
  there (R is a lower bound on the radius of convergence). The disk is covered by complex boxes
  of α, nearest first, each run through the blocks forward with Taylor models in ``α − c``
  (:class:`~symsteer.numbers.TaylorBoxes`: every intermediate value is a polynomial of degree 6
  plus a remainder bounded over the box). A box is certified when every norm's ``u = r²``
  enclosure certainly misses the closed negative real axis and the series of ``u^(-1/2)`` about
  the centre converges over it (and no divisor or tanh pole may lie in it): the principal square
  root is analytic off that axis, so the composite of the blocks is analytic on the box; the boxes
  with ``|α|`` below the first failure cover the disk, which is connected and holds α = 0, where
  the principal root is the real one the model takes — so the composite is the analytic
  continuation of the series, and the series converges on the disk. A box too small to split
  further (half-width below ``2^-depth`` of its distance from 0) that fails ends the search: R is
  its distance from 0; so does the budget of forward passes (every nearer box is certified).
- **tail**: for ``|α| ≤ ρ < R`` Cauchy's estimate on a circle ``|α| = R' < R`` (covered by
  certified boxes that bound ``|f|`` by M) gives ``|c_k| ≤ M / R'^k`` and
  ``|f(α) − Σ_{k≤K} c_k α^k| ≤ M (ρ/R')^(K+1) / (1 − ρ/R')``; the smallest over a few R'.

For a single norm the radius is at most ``√(‖x‖² + d ε) / ‖s‖`` (the modulus of the zeros of
``r²(x + αs)``).

>>> from symsteer.blocks import RMSNorm
>>> steered = Steered((RMSNorm(2, eps=1),), x_n=[1.0, 0.0], direction=[0.0, 1.0])
>>> cert = certify(steered, order=12, rho=0.5)
>>> round(cert.radius, 3), round(3 ** 0.5, 3)      # certified R vs √(‖x‖² + dε)/‖s‖ = √3
(1.698, 1.732)
>>> cert.tail_bound < 1e-5
True
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ._coefficients import degree_of, propagate, run_blocks
from .blocks import Block
from .errors import BudgetError, ShapeError
from .numbers import BALL, BranchError, Centered, Numbers, Taylor, TaylorBoxes

try:
    import flint
except ImportError:  # pragma: no cover - python-flint is a dependency
    flint = None

__all__ = ["Steered", "CertifiedSeries", "certify", "certify_or_say_why", "box_budget", "ball_coefficients", "certified_radius",
           "exactness", "statement", "exactness_text", "MAX_BOXES", "CLI_BOXES"]

#: the most complex boxes (forward passes) one certificate may run
MAX_BOXES = 6000
#: the same for the command line (a stopped search still gives a sound, smaller radius)
CLI_BOXES = 2000
#: the most multiply-adds (the model's own count, at the boxes' Taylor degree) a certificate may
#: plan over all its boxes: a couple of minutes of Python-level ball arithmetic
BOX_WORK = 6 * 10**8
#: fewer boxes than this certify too little to be worth running: the series is reported uncertified
MIN_BOXES = 20


def _up(value: Any) -> float:
    """A float ≥ the arb ``value`` (its upper end, rounded outward)."""
    hi = float(value.upper()) if hasattr(value, "upper") else float(value)
    return math.nextafter(hi, math.inf) if math.isfinite(hi) else math.inf


def _down(value: float) -> float:
    return math.nextafter(value, 0.0) if value > 0 else 0.0


@dataclass(frozen=True, eq=False)
class Steered:
    """The output as a function of α: ``blocks`` (those after the steering point, a head
    included) applied to ``x_n + α direction``. ``x_n`` and ``direction`` are numbers in any form
    the number systems take (floats, exact rationals, real balls)."""

    blocks: tuple[Block, ...]
    x_n: Any
    direction: Any
    where: Callable[[int], str] = field(default=lambda i: f"block {i}", kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(self.blocks))
        if not self.blocks:
            raise ShapeError("no blocks after the steering point: the output is x_n + α s, exact")
        width = self.blocks[0].d_in
        for name in ("x_n", "direction"):
            arr = np.asarray(getattr(self, name), dtype=object)
            if arr.ndim == 0 or arr.shape[-1] != width:
                raise ShapeError(f"{name} has shape {arr.shape}; expected (…, {width}), the width entering the blocks")
            object.__setattr__(self, name, arr)

    @classmethod
    def of_network(cls, network: Any, *, s: Any, steer_at: int, x: Any = None, x_n: Any = None) -> Steered:
        """From a :class:`~symsteer.network.Network` (``x`` its input, run in balls, or ``x_n``)."""
        n = network.check_steer_at(steer_at)
        start = network.block_at(n)
        if (x is None) == (x_n is None):
            raise ShapeError("give exactly one of x (the network input) and x_n (the stream entering layer steer_at)")
        if x is not None:
            x_n = run_blocks(network.blocks[:start], BALL.vector(x, "x (the network input)", network.d_in), BALL, network.where)
        return cls(network.blocks[start:], x_n, BALL.vector(s, "s", network.width_at(n)),
                   where=lambda i: network.where(start + i))

    @classmethod
    def of_sequence(cls, model: Any, *, direction: Any, steer_at: int, x: Any = None, tokens: Any = None,
                    x_n: Any = None) -> Steered:
        """From a :class:`~symsteer.sequence.SequenceModel`: ``tokens`` or ``x`` (T, d) run in
        balls through the blocks before ``steer_at``, or the stream ``x_n`` there."""
        n = model.check_steer_at(steer_at)
        if x_n is None:
            x0 = model.inputs(numbers=BALL, tokens=tokens, x=x)
            x_n = run_blocks(model.blocks[:n], x0, BALL, lambda i: f"block {i}")
        blocks = model.blocks[n:] + ((model.head,) if model.head is not None else ())
        # steering adds to the residual lanes only (a model carrying x0 and v1 beside x)
        return cls(blocks, x_n, model.widened(BALL.vector(direction, "direction", model.width_at(n)), n, BALL),
                   where=lambda i: f"block {n + i}" if n + i < model.depth else "the head")

    @property
    def polynomial(self) -> bool:
        return degree_of(self.blocks) is not None

    def forward(self, alpha: Any, numbers: Numbers) -> np.ndarray:
        """The output at ``alpha`` (a number of ``numbers``: a float, a ball, a centred box)."""
        a = numbers.entry(alpha)
        cur = numbers.array(self.x_n, "x_n") + numbers.array(self.direction, "direction") * _box(a)
        return run_blocks(self.blocks, cur, numbers, self.where)

    def coefficients(self, order: int, numbers: Numbers) -> np.ndarray:
        xs, ds = numbers.array(self.x_n, "x_n"), numbers.array(self.direction, "direction")
        return propagate(self.blocks, xs, ds, top=order, numbers=numbers, where=self.where)


def _box(value: Any) -> Any:
    out = np.empty((), dtype=object)
    out[()] = value
    return out


def ball_coefficients(steered: Steered, order: int, *, prec: int = 128) -> np.ndarray:
    """The Taylor coefficients (K+1, …, d_out) as real balls (``arb``), each holding the exact one,
    computed at ``prec`` bits (the recurrences and sums of a deep model lose some of them)."""
    _check_order(order)
    with flint.ctx.workprec(prec):
        return steered.coefficients(order, BALL)


def _check_order(order: int) -> None:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 0 <= order <= 256:
        raise ShapeError(f"order={order!r} (--max-order, the order of a certified series); expected an integer 0 … 256")


# -- the radius: boxes of α, nearest first ------------------------------------------------------


def _distance(cx: float, cy: float, h: float) -> float:
    """The least |α| over the square of centre (cx, cy) and half-width h (rounded down)."""
    dx, dy = max(abs(cx) - h, 0.0), max(abs(cy) - h, 0.0)
    return _down(math.hypot(dx, dy) * (1 - 1e-12))


#: the degree of the Taylor models carried over each box of α
BOX_ORDER = 6


def _boxes() -> TaylorBoxes:
    return TaylorBoxes(BOX_ORDER)


def _run_box(steered: Steered, boxes: Numbers, centre: complex, h: float) -> tuple[np.ndarray, float] | None:
    """Upper bounds of |output| over the box and the largest |output| at its centre (a value the
    function takes, for judging how tight the bounds are), or None when the box is not certified."""
    try:
        out = steered.forward(boxes.alpha(centre, h), boxes)
    except BranchError:
        return None
    whole = [v.enclosure() if isinstance(v, (Centered, Taylor)) else flint.acb(v) for v in np.ravel(out)]
    centres = [v.v if isinstance(v, (Centered, Taylor)) else flint.acb(v) for v in np.ravel(out)]
    if not all(v.is_finite() for v in whole):
        return None  # a division by a box holding 0 (a pole of a rational block)
    bound = np.array([_up(v.abs_upper()) for v in whole]).reshape(np.shape(out))
    return bound, max(float(abs(c).mid()) for c in centres)


@dataclass(frozen=True)
class _Disk:
    radius: float  # analytic on |α| < radius
    #: why the search ended: "failure" (a smallest box there was not certified), "budget" (its
    #: forward passes ran out), or "outer" (every box out to its outer limit was certified)
    ended: str
    boxes: int


def certified_radius(steered: Steered, *, outer: float, depth: int = 8, budget: int = MAX_BOXES) -> _Disk:
    """The largest r ≤ ``outer`` the box search certifies (see the module): a box that fails is
    split until its half-width is below ``2^-depth`` times its distance from 0 (so R is found to
    about that relative accuracy, and boxes near 0 may be as small as they need); at most
    ``budget`` forward passes."""
    if not (outer > 0 and math.isfinite(outer)):
        raise ShapeError(f"outer={outer!r}; expected a positive radius")
    boxes = _boxes()
    floor = outer / 4**depth  # boxes at the origin: as small as this
    heap: list[tuple[float, float, float, float]] = [(0.0, 0.0, 0.0, outer)]
    runs = 0
    while heap:
        dist, cx, cy, h = heapq.heappop(heap)
        if dist >= outer:
            continue
        if runs >= budget:  # every box nearer than this one is certified
            return _Disk(dist, "budget", runs)
        runs += 1
        if _run_box(steered, boxes, complex(cx, cy), h) is not None:
            continue
        if h <= max(dist, floor) / 2**depth:  # the first failure, in order of distance: the disk below it is covered
            return _Disk(dist, "failure", runs)
        k = h / 2
        for sx in (-1, 1):
            for sy in (-1, 1):
                heapq.heappush(heap, (_distance(cx + sx * k, cy + sy * k, k), cx + sx * k, cy + sy * k, k))
    return _Disk(outer, "outer", runs)


def _circle_bound(steered: Steered, radius: float, count: int, *, depth: int, budget: int) -> tuple[np.ndarray | None, int]:
    """Upper bounds of |f| on the circle ``|α| = radius`` from boxes covering it: ``count`` boxes
    centred on it (half-width ≥ the arc to the next centre; a box that is not certified is split,
    keeping the quarters that meet the circle, down to ``depth`` levels). The count doubles while
    the bound is more than 1.25 times the largest value seen at the boxes' centres (smaller boxes,
    tighter enclosures) and the ``budget`` of forward passes allows. None if a box still fails."""
    best, runs = None, 0
    while True:
        got = _one_circle(steered, radius, count, depth=depth, budget=budget - runs)
        runs += got[2]
        if got[0] is None:
            return best, runs
        best = got[0] if best is None else np.minimum(best, got[0])  # each is a bound: so is their minimum
        count *= 2
        if float(best.max()) <= 1.25 * got[1] or runs + 2 * count > budget:
            return best, runs


def _one_circle(steered: Steered, radius: float, count: int, *, depth: int, budget: int) -> tuple[np.ndarray | None, float, int]:
    boxes = _boxes()
    h0 = math.pi * radius / count * 1.01  # ≥ 2 r sin(π/2N): each arc point lies in a box
    todo = [(radius * math.cos(2 * math.pi * j / count), radius * math.sin(2 * math.pi * j / count), h0, 0)
            for j in range(count)]
    bound, seen, runs = None, 0.0, 0
    while todo:
        cx, cy, h, level = todo.pop()
        if runs >= budget:
            return None, seen, runs
        runs += 1
        got = _run_box(steered, boxes, complex(cx, cy), h)
        if got is None:
            if level >= depth:
                return None, seen, runs
            todo += _quarters_on_circle((cx, cy, h, level), radius)
            continue
        bound = got[0] if bound is None else np.maximum(bound, got[0])
        seen = max(seen, got[1])
    return bound, seen, runs


def _quarters_on_circle(box: tuple[float, float, float, int], radius: float) -> list[tuple[float, float, float, int]]:
    cx, cy, h, level = box
    k, out = h / 2, []
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = cx + sx * k, cy + sy * k
            far = math.hypot(abs(x) + k, abs(y) + k) * (1 + 1e-12)
            if _distance(x, y, k) <= radius <= far:
                out.append((x, y, k, level + 1))
    return out


def _guess(coeffs: np.ndarray) -> float:
    """A rough radius from the coefficients' growth (root test on the higher orders); not a
    certificate, only where the box search starts. In logarithms of the balls' centres: a tiny
    steering vector's coefficients (1e-400) underflow float64."""
    def log_abs(v: Any) -> float:
        mid = abs(v.mid())
        return -math.inf if mid == 0 else float(mid.log())

    logs = np.array([[log_abs(v) for v in np.ravel(c)] for c in coeffs])
    best = math.inf
    for m in range(max(1, len(logs) // 2), len(logs)):
        top = float(logs[m].max())
        if top > -math.inf:
            best = min(best, math.exp(min(-top / m, 700.0)))
    if not math.isfinite(best):
        best = math.exp(min(float(logs[0].max()), 700.0)) if float(logs[0].max()) > -math.inf else 1.0
    return best


# -- the certificate -------------------------------------------------------------------------------

#: how the radius search ended, in words (R is a lower bound on the radius of convergence either way)
_ENDED = {
    "failure": "the box search met a box at that |alpha| it could not certify",
    "budget": "the box search ran out of forward passes there; a larger budget may certify more",
    "outer": "the box search reached its outer limit; the radius may be larger",
}


@dataclass(frozen=True, eq=False)
class CertifiedSeries:
    """``f(α) = Σ_{k≤K} c_k α^k + tail`` with ``|tail| ≤ tail_bound`` entry by entry for ``|α| ≤ rho``,
    ``c_k`` real balls, and f analytic on ``|α| < radius``."""

    coefficients: np.ndarray
    order: int
    radius: float
    #: why the radius search ended ("failure", "budget" or "outer"; see certified_radius)
    radius_search: str
    rho: float
    tail: np.ndarray
    circle: float | None
    boxes: int

    def midpoints(self) -> np.ndarray:
        """The coefficients' centres in float64."""
        return np.vectorize(lambda v: float(v.mid()), otypes=[float])(self.coefficients)

    def coefficient_radius(self) -> float:
        """The largest radius of a coefficient ball (how much rounding the run accumulated)."""
        return max(_up(v.rad()) for v in np.ravel(self.coefficients))

    @property
    def tail_bound(self) -> float:
        return float(np.max(self.tail)) if self.tail.size else 0.0

    def error_bound(self, alpha: float) -> np.ndarray:
        """A bound on ``|f(α) − Σ_k m_k α^k|`` for real or complex ``|α| ≤ rho``, ``m_k`` the
        float64 :meth:`midpoints` (the numbers outputs print): the tail plus, per coefficient,
        how far the exact Taylor coefficient can be from ``m_k`` (its ball's radius and the
        rounding of the centre to float64)."""
        a = abs(complex(alpha))
        if a > self.rho:
            raise ShapeError(f"|alpha| = {a:g} is outside the certified disk |alpha| <= rho = {self.rho:g}")
        rad = self._printed_radius()
        powers = np.array([a**k for k in range(self.order + 1)]).reshape((-1,) + (1,) * (rad.ndim - 1))
        return self.tail + (rad * powers).sum(axis=0) * (1 + 1e-12)

    def _printed_radius(self) -> np.ndarray:
        """``|c_k − m_k| ≤`` this, entry by entry: the ball around the float64 midpoint."""
        return np.vectorize(lambda v: _up(abs(v - flint.arb(float(v.mid()))).upper()), otypes=[float])(self.coefficients)

    def exactness(self) -> dict[str, Any]:
        """What the numbers are, for every output (JSON)."""
        return {
            "kind": "certified series",
            "order": self.order,
            "radius_lower_bound": self.radius,
            "radius_search": _ENDED[self.radius_search],
            "rho": self.rho,
            # what the outputs print: the float64 midpoints, within this of f for |α| ≤ rho
            "tail_bound": float(np.max(self.error_bound(self.rho))) if self.tail.size else 0.0,
            "coefficient_radius": self.coefficient_radius(),
            "cauchy_circle": self.circle,
            "boxes": self.boxes,
        }

    def describe(self) -> str:
        more = f" ({_ENDED[self.radius_search]})"
        return (f"certified series to order {self.order}: analytic for |alpha| < {self.radius:.6g}{more}; "
                f"for |alpha| <= {self.rho:.6g} every output is within {self.tail_bound:.3g} of its truncated series "
                f"(coefficient balls of radius <= {self.coefficient_radius():.2g})")


def certify(steered: Steered, *, order: int, rho: float | None = None, outer: float | None = None, depth: int = 6,
            circle_boxes: int = 48, budget: int = MAX_BOXES) -> CertifiedSeries:
    """Ball coefficients to ``order``, a certified radius R, and the tail bound on ``|α| ≤ rho``
    (default R/2). ``outer`` bounds the radius search (default: 3× the coefficients' growth rate);
    ``depth`` how finely boxes split; ``budget`` the most forward passes over boxes."""
    _check_order(order)
    if steered.polynomial:
        raise ShapeError("the output is a polynomial in alpha after these blocks (no per-sample norm): "
                         "its coefficients are exact, no series certificate is needed")
    coeffs = ball_coefficients(steered, order)
    if outer is None:
        outer = 3 * _guess(coeffs)
        if outer > 0 and order * math.log10(outer) > 300:
            # a steering vector tiny next to the stream: its effect starts where α^order overflows
            raise ShapeError(f"the series would hold out to |alpha| ≈ {outer:.1e}, where alpha^{order} overflows float64: the "
                             "steering vector is tiny next to the stream; scale s up (alpha scales it back)")
    # half of the forward passes for the radius, the rest for the circles of the tail bound
    nowhere = ShapeError("the series is certified nowhere (radius 0): the stream entering a norm is (numerically) zero at "
                         "alpha = 0, where the norm's square root branches; steer a nonzero stream, or use forward passes")
    if not outer > 0:
        raise nowhere
    disk = certified_radius(steered, outer=float(outer), depth=depth, budget=max(1, budget // 2))
    R = disk.radius
    runs = disk.boxes
    if R <= 0:
        raise nowhere
    if rho is None:
        rho = R / 2
    rho = float(rho)
    if not 0 <= rho < R:
        raise ShapeError(f"rho = {rho:g}; expected 0 <= rho < {R:.6g}, the certified radius")
    tail = np.full(coeffs.shape[1:], math.inf)
    used = None
    for t in (0.9, 0.7):
        Rc = R * t
        if Rc <= rho:
            continue
        if runs >= budget:
            break
        M, spent = _circle_bound(steered, Rc, circle_boxes, depth=depth, budget=budget - runs)
        runs += spent
        if M is None:
            continue
        q = flint.arb(rho) / flint.arb(Rc)
        factor = _up(q ** (order + 1) / (1 - q))
        bound = np.array([_up(flint.arb(m) * factor) for m in M.ravel()]).reshape(M.shape)
        if used is None or float(bound.max()) < float(tail.max()):
            used = Rc
        tail = np.minimum(tail, bound)
    return CertifiedSeries(coeffs, int(order), R, disk.ended, rho, tail, used, runs)


def exactness(blocks: Sequence[Block]) -> dict[str, Any]:
    """What kind of numbers a model's outputs are after ``blocks``, before any certificate:
    ``exact`` (a polynomial in α), ``exact rational`` (norms only right before bias-free bilinear
    layers, row normalisation), or ``series`` (a per-sample norm elsewhere, a square root, or a
    softcap, tanh: a certified series at best)."""
    if degree_of(blocks) is not None:
        return {"kind": "exact", "what": "a polynomial in alpha"}
    found = _beyond_rational(blocks)
    if found == "rmsnorm":
        return {"kind": "series", "what": "per-sample norms: the output is algebraic in alpha"}
    if found == "softcap":
        return {"kind": "series", "what": "a softcap: the output is transcendental in alpha (tanh)"}
    return {"kind": "exact rational", "what": "a rational function of alpha (norms before bilinear layers, row normalisation)"}


def _beyond_rational(blocks: Sequence[Block]) -> str | None:
    """'rmsnorm' or 'softcap' when a block (nested in residuals and chains too) makes the output
    not a rational function of α; None when every block is rational."""
    from .blocks import RMSNorm
    from .blocks.softcap import Softcap

    for b in blocks:
        if isinstance(b, RMSNorm) or getattr(b, "qk_norm", None) is not None:
            return "rmsnorm"
        if isinstance(b, Softcap):
            return "softcap"
        inner = [getattr(b, "inner", None), *getattr(b, "parts", ())]
        found = _beyond_rational([p for p in inner if isinstance(p, Block)])
        if found:
            return found
    return None


def box_budget(model: Any, steer_at: int, length: int, *, most: int = CLI_BOXES) -> int:
    """How many boxes a certificate of a :class:`~symsteer.sequence.SequenceModel` may run: ``most``,
    or fewer when one box's work (the model's own count at the boxes' Taylor degree) is large."""
    per_box = max(1, model.work(steer_at, length, BOX_ORDER))
    return int(min(most, BOX_WORK // per_box))


def certify_or_say_why(steered: Steered, *, order: int, budget: int, **options: Any) -> tuple[CertifiedSeries | None, str | None]:
    """A certificate, or None and the reason (the model is too large for the box search, or its
    ball coefficients exceed the exact budget): outputs then say the series is not certified."""
    if budget < MIN_BOXES:
        return None, (f"one forward pass over a box of alpha is too much work here for the {MIN_BOXES} the search needs "
                      f"at least (limit {BOX_WORK:.0e} multiply-adds in all)")
    try:
        return certify(steered, order=order, budget=budget, **options), None
    except BudgetError as exc:
        return None, str(exc)


def _frozen(blocks: Sequence[Block]) -> list[str]:
    """Where the frozen attention patterns among ``blocks`` came from (their ``origin``)."""
    out: list[str] = []
    for b in blocks:
        if getattr(b, "origin", ""):
            out.append(b.origin)
        out += _frozen([p for p in [getattr(b, "inner", None), *getattr(b, "parts", ())] if isinstance(p, Block)])
    return out


def statement(blocks: Sequence[Block], *, exact_numbers: bool, truncated: bool,
              certificate: CertifiedSeries | None = None, reason: str | None = None) -> dict[str, Any]:
    """The ``exactness`` entry of an output (JSON): what is exact, what is a certified series and
    within which |α|. ``exact_numbers``: the coefficients were computed in exact rationals;
    ``truncated``: orders above the ones shown exist. A model with frozen attention patterns
    (softmax frozen at the unsteered stream) says so: the statement is about that model."""
    info = _statement(blocks, exact_numbers=exact_numbers, truncated=truncated, certificate=certificate, reason=reason)
    frozen = sorted(set(_frozen(blocks)))
    return {**info, "frozen_attention": "; ".join(frozen)} if frozen else info


def _statement(blocks: Sequence[Block], *, exact_numbers: bool, truncated: bool,
               certificate: CertifiedSeries | None = None, reason: str | None = None) -> dict[str, Any]:
    base = exactness(blocks)
    if base["kind"] == "series":
        if certificate is None:
            return {**base, "kind": "series", "certified": False, "reason": reason}
        return {**certificate.exactness(), "what": base["what"]}
    if base["kind"] == "exact rational":
        return {**base, "numbers": "exact" if exact_numbers else "float64",
                "truncated": truncated, "note": "the Taylor series of an exact rational function; symsteer.rational gives it whole"}
    kind = "exact" if exact_numbers else "exact polynomial, float64 coefficients"
    return {**base, "kind": kind, "truncated": truncated}


def exactness_text(info: dict[str, Any]) -> str:
    """One line for text outputs from a :func:`statement`."""
    if info["kind"] == "certified series":
        more = f" ({info['radius_search']})" if info.get("radius_search") else ""
        return (f"certified series ({info['what']}): coefficients are balls of radius "
                f"<= {info['coefficient_radius']:.2g}; analytic for |alpha| < {info['radius_lower_bound']:.6g}{more}; "
                f"for |alpha| <= {info['rho']:.6g} each output is within {info['tail_bound']:.3g} of the series to order "
                f"{info['order']}; nothing is claimed outside" + _frozen_text(info))
    if info["kind"] == "series":
        why = f" ({info['reason']})" if info.get("reason") else ""
        return f"a series ({info['what']}); NOT certified{why}: no radius or error bound is claimed" + _frozen_text(info)
    if info["kind"] == "exact rational":
        return "exact rational function of alpha: its Taylor series" + (" (truncated)" if info.get("truncated") else "") + _frozen_text(info)
    return f"{info['kind']}: a polynomial in alpha" + (" (truncated)" if info.get("truncated") else " (whole)") + _frozen_text(info)


def _frozen_text(info: dict[str, Any]) -> str:
    return f", of the model with its attention patterns frozen ({info['frozen_attention']})" if info.get("frozen_attention") else ""
