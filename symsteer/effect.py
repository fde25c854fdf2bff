"""What the weights say about a steering vector s, before anything is run.

Steering ``x_n → x_n + α s`` makes every output an exact polynomial in α. From the weights
and s alone: the **self** part of every α-order (the coefficients with ``x_n := 0``), and the
**cross map** ``M_s`` of layer n (``B(x, s) + B(s, x) = M_s x``), composed with U when it
feeds the logits and with E when x_n is the embedded input, with its singular values and
input directions. With inputs: the polynomial of every logit next to the model's own forward
passes, the α at which the self part overtakes the cross part, and where the argmax changes.

The **eigen-analysis** of the bilinear-MLP papers: for an output direction u, the interaction
matrix ``Q = Σ_k u_k B̂[k] = sym(Wᵀ diag(Pᵀ u) V)`` (from the factored weights, never the
dense tensor), its eigenvectors, and how much of a class logit the top-k of them explain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ._check import RTOL, relative_error
from ._coefficients import coefficients, forward, split_coefficients, stream
from .errors import ShapeError, SymsteerError
from .blocks import Bilinear
from .network import Network
from .numbers import EXACT, FLOAT

__all__ = [
    "DEFAULT_ALPHAS", "parse_alphas", "self_terms", "cross_map", "CrossMap", "sweep", "Sweep", "ArgmaxChange",
    "effect", "Effect", "interaction_matrix", "eigen", "Eigen", "class_eigen", "truncated_logits", "eigen_explained",
]

#: the α values of a sweep unless told otherwise: −10, −9, …, 10
DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.linspace(-10, 10, 21))


#: the most α values a grid may have (every one is a forward pass per input)
MAX_ALPHAS = 100_000


def parse_alphas(text: str) -> tuple[float, ...]:
    """α values from ``"start:stop:count"`` (evenly spaced, both ends included) or ``"a, b, c"``.

    >>> parse_alphas("-1:1:3"), parse_alphas("0.5, 2")
    ((-1.0, 0.0, 1.0), (0.5, 2.0))
    """
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            n = int(count)
            if n < 1:
                raise ValueError
            if n > MAX_ALPHAS:  # checked before numpy allocates the grid
                values = range(n)
            else:
                values = np.linspace(float(start), float(stop), n)
        else:
            values = np.array([float(part) for part in text.split(",")])
    except ValueError:
        raise ShapeError(f"--alpha={text!r}; expected start:stop:count (e.g. -10:10:21) or numbers a,b,c") from None
    if len(values) > MAX_ALPHAS:
        raise ShapeError(f"--alpha={text!r} asks for {len(values)} values; expected at most {MAX_ALPHAS}")
    if not np.all(np.isfinite(values)):
        raise ShapeError(f"--alpha={text!r} has a non-finite value; expected finite numbers")
    return tuple(float(v) for v in values)


def _batch(inputs: Any, network: Network) -> np.ndarray:
    """Network inputs as a float64 batch ``(N, d_in)`` (one input is a batch of one)."""
    xs = np.asarray(inputs, dtype=np.float64)
    xs = xs[None, :] if xs.ndim == 1 else xs
    if xs.ndim != 2 or xs.shape[0] == 0:
        raise ShapeError(f"inputs have shape {np.shape(inputs)}; expected a non-empty batch (N, {network.d_in})")
    return xs


def _vector(s: Any, width: int, name: str = "s") -> np.ndarray:
    arr = FLOAT.vector(s, name, width)
    if arr.ndim != 1:
        raise ShapeError(f"{name} has shape {arr.shape}; expected one vector of length {width}")
    return arr


# -- from the weights alone -----------------------------------------------------------------


def self_terms(network: Network, s: Any, *, steer_at: int) -> np.ndarray:
    """The output's α-coefficients with ``x_n := 0``, float64, shape ``(K+1, d_out)``: row 0 is
    the constant (bias) part, row m ≥ 1 the self part of order m, from the weights and s alone.

    >>> net = Network.random(layers=1, width=2, hidden=2, residual=True, seed=0)
    >>> self_terms(net, [1, 0], steer_at=0).tolist()   # 0, s, B(s, s)
    [[0.0, 0.0], [1.0, 0.0], [4.0, -2.0]]
    """
    n = network.check_steer_at(steer_at)
    width = network.width_at(n)
    return coefficients(network, x_n=np.zeros(width), s=_vector(s, width), steer_at=n, numbers=FLOAT)


@dataclass(frozen=True, eq=False)
class CrossMap:
    """Layer n's cross map ``M_s = P (diag(V s) W + diag(W s) V)`` as it reaches the outside:
    ``U M_s`` when layer n feeds U directly, ``M_s E`` when x_n is the embedded input."""

    #: the map, shape (rows, cols)
    matrix: np.ndarray
    #: the formula, e.g. ``"U M_s E"``
    formula: str
    #: what the rows and columns are, e.g. ``"logits"`` and ``"network input"``
    rows: str
    cols: str
    #: singular values, largest first
    singular_values: np.ndarray
    #: right singular vectors as rows: the input directions the map is most sensitive to
    directions: np.ndarray
    #: left singular vectors as rows: where each direction goes
    outputs: np.ndarray


def cross_map(network: Network, s: Any, *, steer_at: int) -> CrossMap | None:
    """The cross map of layer ``steer_at`` with its SVD; ``None`` when n = L (no layer after
    the steering point: steering there is purely additive).

    In a residual network ``x_{n+1}`` gains ``α (s + M_s x_n) + α² B(s, s)``; the cross map is
    the only part that needs the input.
    """
    n = network.check_steer_at(steer_at)
    if n == network.depth:
        return None
    network.require_stack("the cross map")
    M = network.layers[n].cross_matrix(_vector(s, network.width_at(n)), numbers=FLOAT)
    formula, rows, cols = "M_s", f"x_{n + 1}", f"x_{n}"
    if n == network.depth - 1 and network.unembed is not None:
        M, formula, rows = FLOAT.array(network.unembed, "unembed") @ M, "U " + formula, "logits"
    if n == 0 and network.embed is not None:
        M, formula, cols = M @ FLOAT.array(network.embed, "embed"), formula + " E", "network input"
    u, sv, vt = np.linalg.svd(M, full_matrices=False)
    # fix the sign of each pair so that the largest entry of a direction is positive
    flip = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    flip[flip == 0] = 1.0
    return CrossMap(M, formula, rows, cols, sv, vt * flip[:, None], (u * flip[None, :]).T)


# -- with inputs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ArgmaxChange:
    """The predicted class changes from ``before`` to ``after`` at ``alpha`` (a root of
    ``y_before − y_after``); ``verified`` when forward passes just before and after agree."""

    alpha: float
    before: int
    after: int
    verified: bool


@dataclass(frozen=True, eq=False)
class Sweep:
    """Steering a batch of inputs: exact polynomials in α against forward passes."""

    alphas: np.ndarray
    #: α-coefficients by kind (input, cross, self, const), each (K+1, N, d_out), float64
    parts: dict[str, np.ndarray]
    #: the polynomial at each α, (A, N, d_out)
    values: np.ndarray
    #: the model's own steered forward pass at each α, (A, N, d_out)
    forward: np.ndarray
    #: relative error (check.relative_error) of the polynomial against the forward pass, per α
    errors: np.ndarray
    #: entries that differ when both are computed in exact rationals (None: not asked)
    exact_mismatches: int | None
    #: per input, (α₋, α₊): beyond these (α < α₋ or α > α₊) the self part is larger than the
    #: cross part, ‖self(α)‖ > ‖cross(α)‖ over the outputs; 0 when self dominates for every
    #: α ≠ 0 on that side, ±inf when cross dominates however large |α|, nan when equal
    overtake: np.ndarray
    #: per input, the changes of the argmax inside [min α, max α]
    changes: tuple[tuple[ArgmaxChange, ...], ...]

    @property
    def total(self) -> np.ndarray:
        """All kinds summed: (K+1, N, d_out)."""
        return sum(self.parts.values())

    @property
    def error(self) -> float:
        """The largest relative error over all α."""
        return float(self.errors.max()) if len(self.errors) else 0.0


def _gram_poly(vectors: np.ndarray) -> np.ndarray:
    """Coefficients (low → high) of ‖Σ_m α^m v_m‖², for vectors (K+1, …, d)."""
    k = vectors.shape[0] - 1
    gram = np.einsum("i...d,j...d->ij...", vectors, vectors)
    out = np.zeros((2 * k + 1,) + gram.shape[2:])
    for i in range(k + 1):
        for j in range(k + 1):
            out[i + j] += gram[i, j]
    return out


def _real_roots(coeffs: np.ndarray) -> np.ndarray:
    """Real roots of a polynomial given low → high (imaginary parts below RTOL, relative)."""
    c = np.trim_zeros(np.asarray(coeffs, dtype=np.float64), "b")
    if len(c) < 2:
        return np.zeros(0)
    roots = np.roots(c[::-1])
    real = roots[np.abs(roots.imag) <= RTOL * np.maximum(1.0, np.abs(roots))].real
    return np.sort(real)


def _beyond(coeffs: np.ndarray) -> float:
    """``sup {t > 0 : p(t) < 0}`` for p given low → high: 0 if p ≥ 0 on (0, ∞), inf if p < 0
    for arbitrarily large t, nan if p is identically zero."""
    c = np.trim_zeros(np.asarray(coeffs, dtype=np.float64), "b")
    if len(c) == 0:
        return math.nan
    if c[-1] < 0:
        return math.inf
    roots = [r for r in _real_roots(c) if r > 0]
    edges = [0.0] + roots + [2.0 * (roots[-1] if roots else 1.0) + 1.0]
    for lo, hi in reversed(list(zip(edges[:-1], edges[1:]))):
        if np.polyval(c[::-1], (lo + hi) / 2) < 0:
            return float(hi)
    return 0.0


def _overtake(self_part: np.ndarray, cross_part: np.ndarray) -> np.ndarray:
    """(N, 2) thresholds α₋ ≤ 0 ≤ α₊ from ‖self(α)‖² − ‖cross(α)‖² (see :class:`Sweep`)."""
    diff = _gram_poly(self_part) - _gram_poly(cross_part)  # (2K+1, N)
    out = np.zeros((diff.shape[1], 2))
    signs = (-1.0) ** np.arange(diff.shape[0])
    for i in range(diff.shape[1]):
        out[i, 0] = -_beyond(diff[:, i] * signs)
        out[i, 1] = _beyond(diff[:, i])
    return out


def _argmax_changes(network: Network, x: np.ndarray, s: np.ndarray, n: int, poly: np.ndarray, lo: float, hi: float) -> tuple[ArgmaxChange, ...]:
    """Where argmax_k y_k(α) changes on [lo, hi], from the roots of every difference
    ``y_i − y_j``; each change checked by forward passes just before and after."""
    d_out = poly.shape[-1]
    if d_out < 2:
        return ()
    points = sorted({float(r) for i in range(d_out) for j in range(i + 1, d_out)
                     for r in _real_roots(poly[:, i] - poly[:, j]) if lo < r < hi})
    edges = np.array([lo, *points, hi])
    mids = (edges[:-1] + edges[1:]) / 2
    powers = mids[:, None] ** np.arange(poly.shape[0])[None, :]
    winners = np.argmax(powers @ poly, axis=1)
    out = []
    for i, r in enumerate(points):
        before, after = int(winners[i]), int(winners[i + 1])
        if before == after:
            continue
        step = min(1e-6 * max(1.0, abs(r)), (r - edges[i]) / 2, (edges[i + 2] - r) / 2)
        probe = np.stack([forward(network, x, steer_at=n, s=s, alpha=r + d) for d in (-step, step)])
        verified = int(np.argmax(probe[0])) == before and int(np.argmax(probe[1])) == after
        out.append(ArgmaxChange(r, before, after, verified))
    return tuple(out)


def sweep(
    network: Network,
    s: Any,
    inputs: Any,
    *,
    steer_at: int,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    exact: bool = False,
) -> Sweep:
    """Steer a batch of network inputs ``(N, d_in)``: the α-polynomial of every output (float64
    α-coefficients from the core), forward passes at every α, their largest relative error,
    where self overtakes cross, and where the argmax changes. ``exact`` also compares the two
    in exact rationals (floats convert exactly), entry by entry."""
    n = network.check_steer_at(steer_at)
    s = _vector(s, network.width_at(n))
    xs = _batch(inputs, network)
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1 or len(alphas) == 0 or not np.all(np.isfinite(alphas)):
        raise ShapeError(f"alphas={alphas.tolist()}; expected a non-empty list of finite numbers")
    x_n = stream(network, xs, numbers=FLOAT)[n]
    parts = split_coefficients(network, x_n=x_n, s=s, steer_at=n, numbers=FLOAT)
    # by definition neither part has an α⁰ term; the subtraction that splits them leaves round-off there
    parts["cross"][0] = 0.0
    parts["self"][0] = 0.0
    total = sum(parts.values())
    with np.errstate(over="ignore", invalid="ignore"):
        powers = alphas[:, None] ** np.arange(total.shape[0])[None, :]
        values = np.einsum("am,mnk->ank", powers, total)
        passes = np.stack([forward(network, xs, steer_at=n, s=s, alpha=float(a)) for a in alphas])
    finite = np.isfinite(values).reshape(len(alphas), -1).all(axis=1) & np.isfinite(passes).reshape(len(alphas), -1).all(axis=1)
    if not finite.all():  # a relative error of nan would compare as "not above the tolerance"
        a = float(alphas[np.argmin(finite)])
        raise ShapeError(f"alpha={a:g} overflows float64 (the outputs or the polynomial reach inf or nan); expected a smaller |alpha|")
    errors = np.array([relative_error(v, f) for v, f in zip(values, passes)])
    mismatches = _exact_mismatches(network, xs, s, n, alphas) if exact else None
    overtake = _overtake(parts["self"], parts["cross"])
    lo, hi = float(alphas.min()), float(alphas.max())
    changes = tuple(_argmax_changes(network, xs[i], s, n, total[:, i], lo, hi) for i in range(xs.shape[0]))
    return Sweep(alphas, parts, values, passes, errors, mismatches, overtake, changes)


def _exact_mismatches(network: Network, xs: np.ndarray, s: np.ndarray, n: int, alphas: np.ndarray) -> int:
    x_n = stream(network, xs, numbers=EXACT)[n]
    total = coefficients(network, x_n=x_n, s=s, steer_at=n, numbers=EXACT)
    bad = 0
    for a in alphas:
        a_exact = EXACT.entry(float(a))
        poly = sum(total[m] * a_exact**m for m in range(total.shape[0]))
        ref = forward(network, xs, numbers=EXACT, steer_at=n, s=s, alpha=a_exact)
        bad += int(sum(1 for u, v in zip(np.ravel(poly), np.ravel(ref)) if u != v))
    return bad


# -- the report ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Effect:
    """Everything :func:`effect` found: weights-only parts, and a sweep when inputs were given."""

    network: Network
    steer_at: int
    s: np.ndarray
    #: (K+1, d_out): row 0 the constant part, row m the self part of order m (x_n := 0)
    self_part: np.ndarray
    cross: CrossMap | None
    sweep: Sweep | None = None
    #: (rows, cols) to draw input directions as images, or None
    image_shape: tuple[int, int] | None = field(default=None, kw_only=True)

    @property
    def degree_bound(self) -> int:
        return 2 ** (self.network.depth - self.steer_at)

    def exactness(self) -> dict[str, Any]:
        """What the numbers are (see :func:`symsteer.series.statement`): the whole polynomial, in float64."""
        from .series import statement

        return statement(self.network.blocks[self.network.block_at(self.steer_at):], exact_numbers=False, truncated=False)

    def to_text(self, *, top: int = 3, show: int = 3) -> str:
        """The report as text: ``top`` cross-map directions, ``show`` inputs in detail."""
        n = self.steer_at
        lines = [
            f"steering effect on a {self.network.describe()}",
            f"steer at n={n}: x_{n} → x_{n} + alpha s, |s| = {np.linalg.norm(self.s):.6g}; "
            f"every output is a polynomial in alpha of degree <= {self.degree_bound}",
            "",
            "from the weights alone",
            f"  self part (x_{n} := 0), by order; the classes it pushes up and down most:",
        ]
        if np.any(self.self_part[0]):
            lines.append(f"    alpha^0 (const)  |.| = {np.linalg.norm(self.self_part[0]):.6g}")
        for m in range(1, self.self_part.shape[0]):
            v = self.self_part[m]
            lines.append(f"    alpha^{m}  |.| = {np.linalg.norm(v):<9.5g} {_extremes(v)}")
        if self.cross is None and not self.network.is_stack:
            lines.append("  cross map: shown for plain or residual stacks between bias-free E and U; this network has other blocks "
                         "(the coefficients above and the sweep below cover it)")
        elif self.cross is None:
            lines.append(f"  no layer after x_{n}: steering adds alpha U s and nothing depends on the input")
        else:
            c = self.cross
            lines.append(f"  cross map {c.formula} ({c.cols} {c.matrix.shape[1]} → {c.rows} {c.matrix.shape[0]}), "
                         f"M_s = P (diag(V s) W + diag(W s) V) of layer {n}:")
            lines.append("    singular values: " + " ".join(f"{v:.4g}" for v in c.singular_values))
            lines.extend(_directions_text(c, top, self.image_shape))
        if self.sweep is not None:
            lines.append("")
            lines.extend(_sweep_text(self.sweep, show))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON data (``null`` for an infinite threshold)."""
        out: dict[str, Any] = {
            "network": self.network.describe(),
            "steer_at": self.steer_at,
            "s_norm": float(np.linalg.norm(self.s)),
            "degree_bound": self.degree_bound,
            "const": self.self_part[0].tolist(),
            "self": {str(m): self.self_part[m].tolist() for m in range(1, self.self_part.shape[0])},
            "self_norms": {str(m): float(np.linalg.norm(self.self_part[m])) for m in range(1, self.self_part.shape[0])},
            "cross_map": None,
            "exactness": self.exactness(),
        }
        if self.cross is not None:
            c = self.cross
            out["cross_map"] = {
                "formula": c.formula, "rows": c.rows, "cols": c.cols, "shape": list(c.matrix.shape),
                "singular_values": c.singular_values.tolist(), "directions": c.directions.tolist(),
                "outputs": c.outputs.tolist(), "image_shape": list(self.image_shape) if self.image_shape else None,
            }
        if self.sweep is not None:
            sw = self.sweep
            total = sw.total
            out["inputs"] = {
                "count": int(total.shape[1]),
                "alphas": sw.alphas.tolist(),
                "max_relative_error": sw.error,
                "relative_errors": sw.errors.tolist(),
                "tolerance": RTOL,
                "exact_mismatches": sw.exact_mismatches,
                "argmax_at_0": np.argmax(total[0], axis=1).tolist(),
                "coefficients": np.moveaxis(total, 0, -1).tolist(),
                "order_norms": _order_norms(sw),
                "overtake": [[_finite(a) for a in row] for row in sw.overtake],
                "argmax_changes": [[{"alpha": c.alpha, "from": c.before, "to": c.after, "verified": c.verified} for c in row]
                                   for row in sw.changes],
            }
        return out

    def plot(self, path: str, *, sample: int = 0, top: int = 3) -> None:
        """A PNG: logits of one input and the size of each part against α, and the top
        input directions of the cross map (as images when they are images). Needs matplotlib."""
        _plot(self, path, sample=sample, top=top)


def _finite(value: float) -> float | None:
    return None if math.isinf(value) or math.isnan(value) else float(value)


def _extremes(v: np.ndarray, k: int = 3) -> str:
    order = np.argsort(v)
    up = [i for i in order[::-1][:k] if v[i] > 0]
    down = [i for i in order[:k] if v[i] < 0]
    return "  ".join(filter(None, [
        "up: " + ", ".join(f"{i} {v[i]:+.4g}" for i in up) if up else "",
        "down: " + ", ".join(f"{i} {v[i]:+.4g}" for i in down) if down else "",
    ]))


#: characters for an image direction, from strongly negative to strongly positive
_SHADES = ("==", "--", " .", "++", "##")


def _grid(v: np.ndarray, shape: tuple[int, int]) -> list[str]:
    scale = float(np.max(np.abs(v))) or 1.0
    t = v / scale
    idx = np.digitize(t, [-0.5, -0.15, 0.15, 0.5])
    return ["".join(_SHADES[i] for i in row) for row in idx.reshape(shape)]


def _directions_text(c: CrossMap, top: int, image_shape: tuple[int, int] | None) -> list[str]:
    k = min(top, len(c.singular_values))
    lines = []
    heads = []
    for i in range(k):
        out = c.outputs[i]
        big = np.argsort(-np.abs(out))[:2]
        heads.append(f"direction {i + 1} (sigma {c.singular_values[i]:.4g}) → "
                     + ", ".join(f"{c.rows if c.rows != 'logits' else 'class'} {j} {out[j]:+.2f}" for j in big))
    if image_shape is not None:
        lines.append("    top input directions as images (## strongly +, ++ +, == strongly -, -- -):")
        lines.extend(f"    {head}" for head in heads)
        grids = [_grid(c.directions[i], image_shape) for i in range(k)]
        for row in zip(*grids):
            lines.append("      " + "   ".join(row))
    else:
        for i, head in enumerate(heads):
            d = c.directions[i]
            big = np.argsort(-np.abs(d))[:5]
            lines.append(f"    {head}; largest input entries: " + ", ".join(f"[{j}] {d[j]:+.3f}" for j in big))
    return lines


def _order_norms(sw: Sweep) -> dict[str, dict[str, float]]:
    """Mean Euclidean norm over the inputs of each order's coefficient, by kind (nonzero ones)."""
    out: dict[str, dict[str, float]] = {}
    for m in range(sw.total.shape[0]):
        row = {k: float(np.linalg.norm(v[m], axis=-1).mean()) for k, v in sw.parts.items()}
        out[str(m)] = {k: v for k, v in row.items() if v > 0}
    return out


def _fmt_alpha(a: float) -> str:
    return "never" if math.isinf(a) else "undefined" if math.isnan(a) else f"{a:+.4g}"


def _sweep_text(sw: Sweep, show: int) -> list[str]:
    total = sw.total
    count = total.shape[1]
    lo, hi = sw.alphas.min(), sw.alphas.max()
    lines = [f"with {count} input(s), {len(sw.alphas)} values of alpha in [{lo:g}, {hi:g}]",
             f"  polynomial vs the model's forward pass: largest relative error {sw.error:.2e} "
             f"(tolerance {RTOL:.0e}) {'ok' if sw.error <= RTOL else 'FAILED'}"]
    if sw.exact_mismatches is not None:
        lines.append(f"  in exact rationals: {sw.exact_mismatches} entries differ")
    lines.append("  mean |coefficient| over the inputs, by order and kind:")
    for m, row in _order_norms(sw).items():
        lines.append(f"    alpha^{m}: " + "  ".join(f"{k} {v:.5g}" for k, v in row.items()))
    pos, neg = sw.overtake[:, 1], sw.overtake[:, 0]
    lines.append("  self overtakes cross (|self(alpha)| > |cross(alpha)| over the outputs) for alpha > a+ and alpha < a-:")
    for name, vals in (("a+", pos), ("a-", neg)):
        finite = vals[np.isfinite(vals)]
        summary = f"median {np.median(finite):+.4g}, range {finite.min():+.4g} .. {finite.max():+.4g}" if len(finite) else "none finite"
        never = int(np.sum(np.isinf(vals)))
        lines.append(f"    {name}: {summary}" + (f"; {never} input(s) never" if never else ""))
    changed = [row for row in sw.changes if row]
    n_changes = sum(len(row) for row in sw.changes)
    verified = sum(c.verified for row in sw.changes for c in row)
    lines.append(f"  argmax changes on [{lo:g}, {hi:g}]: {len(changed)} of {count} input(s), {n_changes} change(s), "
                 f"{verified} verified by forward passes just before and after")
    ends = [(float(sw.alphas[j]), np.argmax(sw.forward[j], axis=-1)) for j in (int(np.argmin(sw.alphas)), int(np.argmax(sw.alphas)))]
    ends.insert(1, (0.0, np.argmax(total[0], axis=-1)))
    lines.append("    argmax over the inputs: " + "; ".join(
        f"alpha={a:g}: " + ", ".join(f"{c} x{n}" for c, n in zip(*np.unique(w, return_counts=True))) for a, w in ends))
    for i in range(min(show, count)):
        at0 = int(np.argmax(total[0, i]))
        path = " ".join(f"→ {c.after} at alpha={c.alpha:+.6g}{'' if c.verified else ' (UNVERIFIED)'}" for c in sw.changes[i])
        lines.append(f"    input {i}: argmax {at0} at alpha=0; from alpha={lo:g}: "
                     f"{sw.changes[i][0].before if sw.changes[i] else at0} {path}".rstrip())
    for i in range(min(show, count)):
        lines.append(f"  polynomials of input {i}: a+ = {_fmt_alpha(pos[i])}, a- = {_fmt_alpha(neg[i])}")
        for k in range(total.shape[2]):
            terms = " ".join(f"{c:+.6g}" + ("" if m == 0 else " alpha" if m == 1 else f" alpha^{m}") for m, c in enumerate(total[:, i, k]))
            lines.append(f"    y_{k} = {terms}")
    if count > show:
        lines.append(f"  ({count - show} more input(s): --show N to list them, --format json for all)")
    return lines


def _image_shape(network: Network, cross: CrossMap | None, image_shape: Any) -> tuple[int, int] | None:
    if image_shape is None or cross is None:
        return None
    width = cross.matrix.shape[1]
    if image_shape == "auto":
        side = math.isqrt(width)
        return (side, side) if cross.cols == "network input" and side * side == width and side >= 2 else None
    rows, cols = image_shape
    if rows * cols != width:
        raise ShapeError(f"image_shape={image_shape}; expected rows × cols = {width}, the width of the map's input")
    return (int(rows), int(cols))


def effect(
    network: Network,
    s: Any,
    *,
    steer_at: int,
    inputs: Any = None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    exact: bool = False,
    image_shape: tuple[int, int] | str | None = "auto",
) -> Effect:
    """What steering with ``s`` at layer ``steer_at`` does: weights-only parts, and with
    ``inputs`` (network inputs, (N, d_in)) a :class:`Sweep` over ``alphas``.

    ``image_shape``: draw input directions as images of this shape; ``"auto"`` when the map
    reads the network input and its width is a square (64 → 8×8).

    >>> net = Network.random(layers=1, width=2, hidden=2, residual=True, unembed=3, kind="float", seed=0)
    >>> e = effect(net, [1.0, 0.0], steer_at=0, inputs=[[0.5, -1.0]])
    >>> e.sweep.error < 1e-12, e.cross.formula
    (True, 'U M_s')
    """
    n = network.check_steer_at(steer_at)
    if network.field == "symbolic":
        raise SymsteerError("effect needs concrete weights; this network has symbolic ones")
    s = _vector(s, network.width_at(n))
    cross = cross_map(network, s, steer_at=n) if network.is_stack else None
    result = sweep(network, s, inputs, steer_at=n, alphas=alphas, exact=exact) if inputs is not None else None
    return Effect(network, n, s, self_terms(network, s, steer_at=n), cross, result,
                  image_shape=_image_shape(network, cross, image_shape))


def _plot(e: Effect, path: str, *, sample: int, top: int) -> None:
    fig = _figure(e, sample=sample, top=top)
    from .io import write_atomic
    import io as _bytes_io

    buffer = _bytes_io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    write_atomic(path, buffer.getvalue())


def _figure(e: Effect, *, sample: int, top: int) -> Any:
    """The figure :meth:`Effect.plot` draws: labelled axes (α, logits), a legend by class, the
    α where the self part overtakes the cross part, the input directions with colour bars."""
    try:  # a bare Figure: no pyplot, so the caller's backend (a notebook's, say) is left alone
        from matplotlib.figure import Figure
    except ImportError:
        raise SymsteerError("--plot needs matplotlib (pip install matplotlib, symsteer's optional 'plot' extra)") from None
    sw = e.sweep
    lo, hi = (float(sw.alphas.min()), float(sw.alphas.max())) if sw is not None else (-10.0, 10.0)
    grid = np.linspace(lo, hi, 401)
    powers = grid[:, None] ** np.arange(e.self_part.shape[0])[None, :]
    k = min(top, len(e.cross.singular_values)) if e.cross is not None else 0
    fig = Figure(figsize=(11, 7.5 if k else 4), layout="constrained")
    spec = fig.add_gridspec(2 if k else 1, max(2, k))
    ax1 = fig.add_subplot(spec[0, : max(2, k) // 2])
    ax2 = fig.add_subplot(spec[0, max(2, k) // 2 :])
    logits = e.cross is not None and e.cross.rows == "logits" or e.network.unembed is not None
    what = "class" if logits else "output"
    if sw is not None:
        if not 0 <= sample < sw.total.shape[1]:
            raise ShapeError(f"sample={sample}; expected 0 ≤ sample < {sw.total.shape[1]}")
        curves = powers @ sw.total[:, sample]
        for j in range(curves.shape[1]):
            line = ax1.plot(grid, curves[:, j], lw=1.2, label=str(j))[0]
            ax1.plot(sw.alphas, sw.forward[:, sample, j], "o", ms=3, color=line.get_color())
        ax1.set_title(f"{'logits' if logits else 'outputs'} of input {sample}: polynomial (lines), forward passes (dots)", fontsize=9)
        for kind in ("input", "cross", "self"):
            values = np.einsum("am,mnk->ank", powers, sw.parts[kind])
            ax2.plot(grid, np.linalg.norm(values[:, sample], axis=-1), label=f"{kind}")
        # where the self part overtakes the cross part for this input (α < a− and α > a+)
        for a, side in zip(sw.overtake[sample], ("a−", "a+")):
            if np.isfinite(a) and lo <= a <= hi:
                ax2.axvline(a, color="0.3", ls="--", lw=0.8)
                ax2.annotate(f"self > cross ({side} = {a:.3g})", (a, 0.98), xycoords=("data", "axes fraction"),
                             rotation=90, va="top", ha="right", fontsize=7)
        ax2.set_title(f"size of each part of the output of input {sample}", fontsize=9)
    else:
        curves = powers @ e.self_part
        for j in range(curves.shape[1]):
            ax1.plot(grid, curves[:, j], lw=1.2, label=str(j))
        ax1.set_title("self part of the outputs (x_n := 0)", fontsize=9)
        ax2.plot(grid, np.linalg.norm(powers @ e.self_part, axis=-1), label="self")
        ax2.set_title("size of the self part", fontsize=9)
    ax1.legend(fontsize=7, ncol=2, title=what, title_fontsize=7)
    ax1.set_xlabel(r"$\alpha$ (steering x_n + $\alpha$ s)")
    ax1.set_ylabel("logit" if logits else "output")
    ax2.set_yscale("symlog", linthresh=1e-3)
    ax2.set_ylim(bottom=0)  # sizes: no negative half
    ax2.set_xlabel(r"$\alpha$")
    ax2.set_ylabel(r"$\|\mathrm{part}(\alpha)\|$ (Euclidean, over the outputs)")
    ax2.legend(fontsize=7)
    for i in range(k):
        ax = fig.add_subplot(spec[1, i])
        d = e.cross.directions[i]
        out = e.cross.outputs[i]
        big = int(np.argmax(np.abs(out)))
        if e.image_shape is not None:
            scale = float(np.max(np.abs(d))) or 1.0
            im = ax.imshow(d.reshape(e.image_shape), cmap="RdBu_r", vmin=-scale, vmax=scale)
            fig.colorbar(im, ax=ax, shrink=0.8, label="input weight")
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ax.bar(np.arange(len(d)), d)
            ax.set_xlabel("input entry")
        ax.set_title(f"{e.cross.formula}: direction {i + 1}, sigma {e.cross.singular_values[i]:.3g}\n"
                     f"moves {what} {big} most ({out[big]:+.2f})", fontsize=8)
    return fig


# -- eigen-analysis ------------------------------------------------------------------------------


def interaction_matrix(layer: Bilinear, u: Any) -> np.ndarray:
    """``Q = Σ_k u_k B̂[k]``, so that ``u · B(x, x) = xᵀ Q x``: computed from the factors as
    ``sym(Wᵀ diag(Pᵀ u) V)``, never from the dense tensor.

    >>> layer = Bilinear([[1.0, 0.0]], [[0.0, 1.0]], [[2.0]])
    >>> interaction_matrix(layer, [1.0]).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    return layer.interaction_matrix(_vector(u, layer.d_out, "u"), numbers=FLOAT)


@dataclass(frozen=True, eq=False)
class Eigen:
    """Eigendecomposition of an interaction matrix, sorted by |eigenvalue|, largest first."""

    values: np.ndarray
    #: eigenvectors as columns, in the layer's input space
    vectors: np.ndarray
    #: eigenvectors pulled back through E to the network input (rows), when the layer reads E x
    inputs: np.ndarray | None = None

    def contributions(self, x: Any) -> np.ndarray:
        """``λ_i (v_i · x)²`` for each eigenvector: (…, d); they sum to ``xᵀ Q x``."""
        return self.values * (np.asarray(x, dtype=np.float64) @ self.vectors) ** 2


def eigen(layer: Bilinear, u: Any) -> Eigen:
    """The eigenvalues and eigenvectors of :func:`interaction_matrix`, by |λ|, largest first."""
    values, vectors = np.linalg.eigh(interaction_matrix(layer, u))
    order = np.argsort(-np.abs(values), kind="stable")
    return Eigen(values[order], vectors[:, order])


def _last_layer_direction(network: Network, k: int) -> np.ndarray:
    if network.unembed is not None:
        U = FLOAT.array(network.unembed, "unembed")
        if not 0 <= k < U.shape[0]:
            raise ShapeError(f"class {k}; expected 0 ≤ class < {U.shape[0]}")
        return U[k]
    width = network.layers[-1].d_out
    if not 0 <= k < width:
        raise ShapeError(f"class {k}; expected 0 ≤ class < {width}")
    return np.eye(width)[k]


def class_eigen(network: Network, k: int) -> Eigen:
    """The eigen-analysis of output k's quadratic form in the last layer (u = row k of U);
    in a one-layer network with E the eigenvectors are also pulled back to the input (Eᵀ v)."""
    network.require_stack("the eigen-analysis")
    e = eigen(network.layers[-1], _last_layer_direction(network, k))
    if network.depth == 1 and network.embed is not None:
        return Eigen(e.values, e.vectors, (FLOAT.array(network.embed, "embed").T @ e.vectors).T)
    return e


def truncated_logits(network: Network, inputs: Any, k: int) -> np.ndarray:
    """The outputs with each class's quadratic form in the last layer cut to its top-k
    eigenvectors; everything else (the residual stream, bias terms) is kept exactly."""
    xs = np.asarray(inputs, dtype=np.float64)
    acts = stream(network, xs, numbers=FLOAT)
    full = forward(network, xs, numbers=FLOAT)
    x = acts[network.depth - 1]
    out = full.copy()
    for c in range(full.shape[-1]):
        contrib = class_eigen(network, c).contributions(x)
        out[..., c] = full[..., c] - contrib.sum(axis=-1) + contrib[..., :k].sum(axis=-1)
    return out


def eigen_explained(network: Network, inputs: Any, *, labels: Any = None, ks: Sequence[int] = (1, 2, 4, 8)) -> list[dict[str, Any]]:
    """How much of each class logit the top-k eigenvectors explain, per k: ``r2`` per class
    (1 − Σ(y − y_k)² / Σ(y − ȳ)² over the inputs), the share of inputs whose argmax is kept,
    and the accuracy when ``labels`` are given."""
    full = forward(network, np.asarray(inputs, dtype=np.float64), numbers=FLOAT)
    rows = []
    for k in ks:
        cut = truncated_logits(network, inputs, int(k))
        spread = ((full - full.mean(axis=0)) ** 2).sum(axis=0)
        r2 = 1.0 - ((full - cut) ** 2).sum(axis=0) / np.where(spread > 0, spread, 1.0)
        row = {"k": int(k), "r2": r2.tolist(), "r2_mean": float(r2.mean()), "r2_min": float(r2.min()),
               "argmax_kept": float(np.mean(np.argmax(cut, -1) == np.argmax(full, -1)))}
        if labels is not None:
            row["accuracy"] = float(np.mean(np.argmax(cut, -1) == np.asarray(labels)))
        rows.append(row)
    return rows
