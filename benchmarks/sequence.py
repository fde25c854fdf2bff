"""Per-position α-coefficients of tensor transformers against the other ways to get them.

    python benchmarks/sequence.py            # the sizes of the issue (about a minute)
    python benchmarks/sequence.py --quick    # small sizes, checks agreement only (seconds)

Measured in one run, printed as a markdown table:

1. float64: 2 blocks of bilinear attention + bilinear MLP (d = 512, 8 heads, hidden 2048),
   T = 128 steered at every position, orders 0 … K = 8: symsteer's propagation against K + 1
   plain forward passes of the same model (the matmul bound: the same products, one order at
   a time) and against nested forward-mode autodiff (``torch.func.jvp`` K levels deep, which
   gives the order-K derivative only) when torch is installed;
2. exact rationals: two attention blocks, d = 16, T = 8, K = 4;
3. the anchor: the smallest case (one attention block, d = 2, T = 2) by hand in sympy — the
   steered output as an expression in α, expanded — against symsteer exact.

Each result is checked against another method: float64 coefficients against the order-K
derivative from jvp (relative, ``symsteer.check.RTOL`` × 10³: K derivatives of a degree-100
polynomial), exact coefficients against the sympy anchor (identical). Exit 1 on a disagreement.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from symsteer.blocks import Attention, Bilinear, Residual
from symsteer._check import RTOL, relative_error
from symsteer.numbers import EXACT, FLOAT
from symsteer.positions import steer_direction
from symsteer.sequence import SequenceModel


def best(run: Callable[[], Any], *, repeat: int = 3) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return min(times), out


def model(d: int, heads: int, hidden: int, spec: list[str], *, seed: int, kind: str = "float") -> SequenceModel:
    rng = np.random.default_rng(seed)
    blocks = []
    for i, name in enumerate(spec):
        if name == "attn":
            blocks.append(Residual.lerp(Attention.random(d, heads=heads, rng=rng, kind=kind, index=i), Fraction(1, 2)))
        else:
            b = Bilinear.random(d, hidden, rng=rng, kind=kind, index=i)
            if kind == "float":
                b = Bilinear(b.W / np.sqrt(d), b.V / np.sqrt(d), b.P / np.sqrt(hidden), name=b.name)
            blocks.append(Residual.add(b))
    return SequenceModel(tuple(blocks))


def torch_forward(seq: SequenceModel) -> Callable[[Any], Any]:
    """The same model in torch float64, from the formulas (for jvp)."""
    import torch

    layers = []
    for block in seq.blocks:
        inner = block.inner
        keep, scale = float(block.keep), float(block.scale)
        if isinstance(inner, Attention):
            w = {k: torch.tensor(getattr(inner, k)) for k in ("q1", "k1", "q2", "k2", "v", "o")}
            layers.append(("attn", w, inner.heads, float(inner.scale), keep, scale))
        else:
            layers.append(("mlp", {k: torch.tensor(getattr(inner, k)) for k in ("W", "V", "P")}, 0, 0.0, keep, scale))

    def f(x: Any) -> Any:
        T, d = x.shape
        mask = torch.tril(torch.ones(T, T, dtype=x.dtype))
        for kind, w, H, sc, keep, scale in layers:
            if kind == "attn":
                h = lambda y: (y @ w_.T).reshape(T, H, d // H).transpose(0, 1)  # noqa: E731
                w_ = w["q1"]; q1 = h(x)
                w_ = w["k1"]; k1 = h(x)
                w_ = w["q2"]; q2 = h(x)
                w_ = w["k2"]; k2 = h(x)
                w_ = w["v"]; v = h(x)
                p = (q1 @ k1.transpose(-1, -2)) * (q2 @ k2.transpose(-1, -2)) * sc * mask
                out = (p @ v).transpose(0, 1).reshape(T, d) @ w["o"].T
            else:
                out = ((x @ w["W"].T) * (x @ w["V"].T)) @ w["P"].T
            x = keep * x + scale * out
        return x

    return f


def nested_jvp(f: Callable[[Any], Any], x: Any, D: Any, order: int) -> Any:
    """The order-th derivative of α ↦ f(x + α D) at 0, by ``order`` nested jvp calls."""
    import torch
    from torch.func import jvp

    def g(k: int) -> Callable[[Any], Any]:
        if k == 0:
            return lambda a: f(x + a * D)
        inner = g(k - 1)
        return lambda a: jvp(inner, (a,), (torch.ones_like(a),))[1]

    return g(order)(torch.zeros((), dtype=torch.float64))


def sympy_anchor(seq: SequenceModel, x: Any, D: Any) -> tuple[float, list[Any]]:
    """By hand: the steered output as a sympy expression in α, expanded, coefficients read off."""
    import sympy

    alpha = sympy.Symbol("alpha")
    start = time.perf_counter()
    X = sympy.Matrix(x) + alpha * sympy.Matrix(D)
    for block in seq.blocks:
        inner = block.inner
        M = {k: sympy.Matrix(getattr(inner, k).tolist()) for k in ("q1", "k1", "q2", "k2", "v", "o")}
        T = X.shape[0]
        rows = []
        for q in range(T):
            z = sympy.zeros(1, X.shape[1])
            for k in range(q + 1):
                g1 = ((M["q1"] * X[q, :].T).T * (M["k1"] * X[k, :].T))[0]
                g2 = ((M["q2"] * X[q, :].T).T * (M["k2"] * X[k, :].T))[0]
                z += g1 * g2 * sympy.Rational(inner.scale) * (M["v"] * X[k, :].T).T
            rows.append((M["o"] * z.T).T)
        out = sympy.Matrix.vstack(*rows)
        X = sympy.Rational(block.keep) * X + sympy.Rational(block.scale) * out
    polys = [sympy.Poly(sympy.expand(e), alpha) for e in X]
    elapsed = time.perf_counter() - start
    return elapsed, polys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; agreement only")
    parser.add_argument("--jvp-budget", type=float, default=60.0, help="stop nesting jvp after a level takes this long [s]")
    args = parser.parse_args(argv)
    ok = True
    rows = []

    # 1. float64 at scale
    d, H, hidden, T, K = (512, 8, 2048, 128, 8) if not args.quick else (16, 2, 32, 6, 3)
    seq = model(d, H, hidden, ["attn", "mlp", "attn", "mlp"], seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, d))
    D = steer_direction("all", rng.standard_normal(d) / np.sqrt(d), length=T, width=d)
    t_coef, coef = best(lambda: seq.coefficients(x, D, steer_at=0, max_order=K, numbers=FLOAT))
    t_fwd, _ = best(lambda: [seq.forward(x + a * D, numbers=FLOAT) for a in np.linspace(-1, 1, K + 1)])
    rows.append(("symsteer float64 coefficients, 2×(attn+MLP), d=%d, H=%d, h=%d, T=%d, K=%d" % (d, H, hidden, T, K), t_coef, "1"))
    rows.append((f"{K + 1} plain forward passes (numpy float64)", t_fwd, f"symsteer takes {t_coef / t_fwd:.2f}× this (target ≤ 2)"))
    try:
        import torch

        f = torch_forward(seq)
        xt, Dt = torch.tensor(x), torch.tensor(D.astype(np.float64))
        nested_jvp(f, xt, Dt, 1)  # warm-up: torch.func sets itself up on the first call
        # nested jvp costs about 3× more per level: levels are measured while one takes under
        # --jvp-budget seconds, and the rest extrapolated (and said so)
        level_times = []
        for k in range(1, K + 1):
            t_k, deriv = best(lambda: nested_jvp(f, xt, Dt, k), repeat=1)
            err = relative_error(coef[k], deriv.numpy() / math.factorial(k))
            ok &= err <= 1e3 * RTOL
            level_times.append(t_k)
            rows.append((f"torch.func.jvp nested {k} level(s) (order {k} only; agrees to {err:.1e})", t_k,
                         f"{t_k / t_coef:.2f}× symsteer's time (which gives all {K + 1} orders)"))
            if t_k > args.jvp_budget:
                break
        if len(level_times) < K:
            growth = level_times[-1] / level_times[-2] if len(level_times) > 1 else 3.0
            guess = level_times[-1] * growth ** (K - len(level_times))
            rows.append((f"torch.func.jvp nested {K} levels: not run (×{growth:.1f} per level; estimated)", guess,
                         f"≈ {guess / t_coef:.0f}× symsteer's time (estimated)"))
    except ImportError:
        rows.append(("torch.func.jvp: torch not installed", float("nan"), "-"))

    # 2. exact, two attention blocks
    d, H, T, K = (16, 2, 8, 4) if not args.quick else (4, 2, 3, 2)
    seq = model(d, H, 0, ["attn", "attn"], seed=2, kind="rational")
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, size=(T, d))
    D = steer_direction("all", rng.integers(-2, 3, size=d), length=T, width=d)
    t_exact, exact = best(lambda: seq.coefficients(x, D, steer_at=0, max_order=K, numbers=EXACT))
    rows.append((f"symsteer exact coefficients, 2 attention blocks, d={d}, T={T}, K={K}", t_exact,
                 "met (target < 1 s)" if t_exact < 1 else "missed (target < 1 s)"))

    # 3. the sympy anchor on the smallest case
    seq = model(2, 1, 0, ["attn"], seed=4, kind="rational")
    x, D = [[1, 2], [Fraction(-1, 2), 1]], [[1, 0], [0, Fraction(1, 3)]]
    t_mine, mine = best(lambda: seq.coefficients(x, D, steer_at=0, numbers=EXACT))
    t_sympy, polys = sympy_anchor(seq, x, D)
    by_hand = np.array([[int(0)] * 2] * 2, dtype=object)
    same = True
    for i, poly in enumerate(polys):
        for m in range(len(mine)):
            c = poly.coeff_monomial(poly.gens[0] ** m)
            same &= Fraction(int(c.p), int(c.q)) == Fraction(int(mine[m].ravel()[i].p), int(mine[m].ravel()[i].q))
    ok &= bool(same)
    del by_hand
    rows.append(("smallest case (1 attention block, d=2, T=2, degree 5) symsteer exact", t_mine, "1"))
    rows.append(("… by hand in sympy (expand, Poly; identical coefficients)" if same else "… by hand in sympy: DISAGREES",
                 t_sympy, f"{t_sympy / t_mine:.0f}× symsteer's time"))

    print("| what | seconds | ratio |\n|---|---:|---:|")
    for name, seconds, ratio in rows:
        print(f"| {name} | {seconds:.4f} | {ratio} |")
    if not ok:
        print("DISAGREEMENT between methods", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
