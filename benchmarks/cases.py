"""The benchmark cases and how each method is measured on them (one call per subprocess).

A case fixes a model and a question (concrete x, s in exact rationals; x, s symbolic; all
weights symbolic; float64 at real model sizes). A method answers it: symsteer, or one of the
baselines in :mod:`benchmarks.baselines`. :func:`measure` returns the best wall time, the
peak memory of the process and what is needed to compare results across methods.
"""

from __future__ import annotations

import resource
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks import baselines as bl

#: polynomial results with more terms than this get no canonical form (only a count):
#: listing them in Python costs more than computing them, and no baseline gets that far
CANONICAL_LIMIT = 1_500_000
#: batch rows of the float64 models checked against the long-double reference
REFERENCE_ROWS = 4


@dataclass(frozen=True)
class Case:
    """One model and one question; ``methods`` measured on it, each in its own process."""

    key: str
    target: int
    what: str
    kind: str  # "concrete" | "symbolic-x" | "symbolic-w" | "float" | "float-exact"
    d: int
    h: int
    layers: int
    methods: tuple[str, ...]
    max_order: int | None = None
    batch: int = 1
    residual: bool = True
    bias: bool = False
    #: the case whose baseline results this one is compared with (a truncated variant)
    base: str | None = None
    #: a baseline is skipped when it already exceeded the time limit on a smaller case of
    #: the same family
    family: str | None = None
    #: the max_order values a "float-orders" case times against each other
    orders: tuple[int, ...] = ()

    @property
    def degree(self) -> int:
        return 2**self.layers

    @property
    def top(self) -> int:
        """The highest α-order computed."""
        return self.degree if self.max_order is None else min(self.max_order, self.degree)


BASELINES = ("sympy", "symengine")
_SYM = ("symsteer", "symsteer-coefficients", *BASELINES)

FULL: tuple[Case, ...] = (
    Case("t1-d16", 1, "concrete x, s; exact; residual L=3, d=h=16", "concrete", 16, 16, 3,
         ("symsteer", *BASELINES, "vandermonde")),
    Case("t1-d64", 1, "concrete x, s; exact; residual L=3, d=h=64", "concrete", 64, 64, 3,
         ("symsteer", "symengine", "vandermonde")),
    Case("t1-d256", 1, "concrete x, s; exact; residual L=3, d=h=256", "concrete", 256, 256, 3, ("symsteer",)),
    Case("t2-333", 2, "x, s symbolic; residual (d,h,L)=(3,3,3)", "symbolic-x", 3, 3, 3, _SYM, family="t2"),
    Case("t2-334", 2, "x, s symbolic; residual (3,3,4)", "symbolic-x", 3, 3, 4, _SYM, family="t2"),
    Case("t2-334-K1", 2, "x, s symbolic; residual (3,3,4), max_order=1", "symbolic-x", 3, 3, 4, ("symsteer",),
         max_order=1, base="t2-334"),
    Case("t2-882", 2, "x, s symbolic; residual (8,8,2)", "symbolic-x", 8, 8, 2, _SYM),
    Case("t3-332", 3, "W, V, P symbolic too; residual (3,3,2)", "symbolic-w", 3, 3, 2, _SYM, family="t3"),
    Case("t3-332-K1", 3, "W, V, P symbolic; residual (3,3,2), max_order=1", "symbolic-w", 3, 3, 2, ("symsteer",),
         max_order=1, base="t3-332"),
    Case("t3-442", 3, "W, V, P symbolic too; residual (4,4,2)", "symbolic-w", 4, 4, 2, _SYM, family="t3"),
    Case("t3-442-K1", 3, "W, V, P symbolic; residual (4,4,2), max_order=1", "symbolic-w", 4, 4, 2, ("symsteer",),
         max_order=1, base="t3-442"),
    Case("t4-L4", 4, "float64, d=768, h=3072, batch 32, residual L=4", "float", 768, 3072, 4,
         ("symsteer", "vandermonde", "reference"), batch=32),
    Case("t4-L6", 4, "float64, d=768, h=3072, batch 32, residual L=6", "float", 768, 3072, 6,
         ("symsteer", "vandermonde", "reference"), batch=32),
    Case("t4-L6-K", 4, "float64, d=768, h=3072, batch 32, residual L=6, max_order=K", "float-orders", 768, 3072, 6,
         ("symsteer",), batch=32, orders=(1, 2, 4, 8, 16, 64)),
    Case("t4-exact", 4, "float64 vs exact rationals, same recursion: d=32, h=128, batch 2, residual L=4",
         "float-exact", 32, 128, 4, ("check",), batch=2),
)

QUICK: tuple[Case, ...] = (
    Case("q1-concrete", 1, "concrete x, s; exact; residual L=3, d=h=4", "concrete", 4, 4, 3,
         ("symsteer", *BASELINES, "vandermonde")),
    Case("q1-bias", 1, "concrete x, s; exact; plain L=2 with biases, d=3, h=4", "concrete", 3, 4, 2,
         ("symsteer", *BASELINES, "vandermonde"), residual=False, bias=True),
    Case("q2-symbolic-x", 2, "x, s symbolic; residual (2,2,3)", "symbolic-x", 2, 2, 3, _SYM),
    Case("q2-symbolic-x-K1", 2, "x, s symbolic; residual (2,2,3), max_order=1", "symbolic-x", 2, 2, 3,
         ("symsteer", "symsteer-coefficients"), max_order=1, base="q2-symbolic-x"),
    Case("q3-symbolic-w", 3, "W, V, P symbolic too; residual (d,h,L)=(2,1,2)", "symbolic-w", 2, 1, 2, _SYM),
    Case("q3-symbolic-w-K1", 3, "W, V, P symbolic; residual (2,1,2), max_order=1", "symbolic-w", 2, 1, 2,
         ("symsteer", "symsteer-coefficients"), max_order=1, base="q3-symbolic-w"),
    Case("q4-float", 4, "float64, d=16, h=32, batch 4, residual L=3", "float", 16, 32, 3,
         ("symsteer", "vandermonde", "reference"), batch=4),
    Case("q4-orders", 4, "float64, d=16, h=32, batch 4, residual L=3, max_order=K", "float-orders", 16, 32, 3,
         ("symsteer",), batch=4, orders=(1, 2, 4, 8)),
    Case("q4-exact", 4, "float64 vs exact rationals: d=8, h=16, batch 2, residual L=3", "float-exact", 8, 16, 3,
         ("check",), batch=2),
)

CASES = {case.key: case for case in FULL + QUICK}


# -- models and inputs ----------------------------------------------------------------------


def network(case: Case) -> Any:
    """The case's model: seeded integer weights, generic symbols, or scaled Gaussian floats."""
    from symsteer import Bilinear, Network

    if case.kind == "symbolic-w":
        return Network.symbolic(layers=case.layers, width=case.d, hidden=case.h, residual=case.residual, bias=case.bias)
    if case.kind in ("concrete", "symbolic-x"):
        return Network.random(layers=case.layers, width=case.d, hidden=case.h, residual=case.residual,
                              bias=case.bias, kind="int", seed=0)
    # Gaussian weights scaled so that activations stay of order one through the stack, as in
    # a trained model; plain N(0, 1) weights overflow float64 within a few layers at this width.
    rng = np.random.default_rng(0)
    d, h = case.d, case.h
    return Network(tuple(
        Bilinear(rng.standard_normal((h, d)) / np.sqrt(d), rng.standard_normal((h, d)) / np.sqrt(d),
                 0.5 * rng.standard_normal((d, h)) / np.sqrt(h), name=f"layers[{l}]")
        for l in range(case.layers)
    ), residual=case.residual)


def inputs(case: Case, net: Any) -> tuple[Any, Any]:
    """x and s: small integers, the generic symbols x_i, s_i, or a Gaussian batch."""
    if case.kind == "concrete":
        rng = np.random.default_rng(1)
        return [int(v) for v in rng.integers(-2, 3, case.d)], [int(v) for v in rng.integers(-2, 3, case.d)]
    if case.kind in ("symbolic-x", "symbolic-w"):
        from symsteer import expand

        e = expand(net, steer_at=0, max_order=0)
        return e.leaf_symbols("x"), e.leaf_symbols("s")
    rng = np.random.default_rng(1)
    return rng.standard_normal((case.batch, case.d)), rng.standard_normal((case.batch, case.d))


def fresh(net: Any) -> Any:
    """The same weights in new objects: symsteer caches converted weights per layer, and
    every timed run should pay for the conversion, as a first call does."""
    from symsteer import Bilinear, Network

    layers = tuple(Bilinear(l.W, l.V, l.P, b=l.b, c=l.c, name=l.name) for l in net.layers)
    return Network(layers, residual=net.residual, embed=net.embed, unembed=net.unembed)


def weights(net: Any) -> list[bl.Weights]:
    return [(l.W, l.V, l.P, l.b, l.c) for l in net.layers]


def weight_symbols(net: Any) -> list[Any]:
    found = {v for w in weights(net) for a in w if a is not None and a.dtype == object for e in a.ravel()
             for v in e.free_symbols}
    return sorted(found, key=str)


# -- timing -------------------------------------------------------------------------------------


def best_time(prepare: Callable[[], Any], run: Callable[[Any], Any], *, min_total: float = 2.0,
              max_reps: int = 5) -> tuple[float, int, Any]:
    """Best wall time of ``run(prepare())`` over repetitions (until ``min_total`` seconds or
    ``max_reps`` runs), the number of runs, and the last result. ``prepare`` is not timed."""
    times: list[float] = []
    result = None
    while True:
        args = prepare()
        result = None  # a big earlier result must not double the peak memory
        start = time.perf_counter()
        result = run(args)
        times.append(time.perf_counter() - start)
        if len(times) >= max_reps or sum(times) >= min_total:
            return min(times), len(times), result


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- one method on one case ----------------------------------------------------------------------


def measure(case: Case, method: str, out_dir: Path) -> dict[str, Any]:
    """Run ``method`` on ``case`` and return its figures (JSON-ready)."""
    net = network(case)
    x, s = inputs(case, net)
    setup_mb = peak_rss_mb()
    runner = {
        "concrete": _concrete, "symbolic-x": _polynomial, "symbolic-w": _polynomial,
        "float": _float, "float-orders": _float_orders, "float-exact": _float_exact,
    }[case.kind]
    result = runner(case, method, net, x, s, out_dir)
    return {"setup_mb": round(setup_mb, 1), **result}


def _concrete(case: Case, method: str, net: Any, x: Any, s: Any, out_dir: Path) -> dict[str, Any]:
    from symsteer import coefficients

    if method == "symsteer":
        seconds, reps, coeffs = best_time(lambda: fresh(net), lambda n: coefficients(n, x=x, s=s, steer_at=0, max_order=case.max_order))
        peak = peak_rss_mb()
        return _exact_result(seconds, reps, peak, bl.canonical_arrays(coeffs), case.top)
    if method in BASELINES:
        return _baseline(case, method, net, x, s)
    if method == "vandermonde":
        layers = bl.float_layers(weights(net))
        seconds, reps, (values, cond) = best_time(
            lambda: None, lambda _: bl.vandermonde_coefficients(layers, np.array(x), np.array(s), residual=case.residual,
                                                               degree=case.degree))
        peak = peak_rss_mb()
        exact = coefficients(net, x=x, s=s, steer_at=0)
        reference = np.array([[float(v) for v in row] for row in exact])
        errors = bl.coefficient_errors(values, reference)
        return {"seconds": seconds, "reps": reps, "peak_mb": round(peak, 1), "error": float(errors.max()),
                "cond": cond}
    raise ValueError(f"method {method!r} does not apply to a {case.kind} case")


def _polynomial(case: Case, method: str, net: Any, x: Any, s: Any, out_dir: Path) -> dict[str, Any]:
    from symsteer import coefficients, expand
    from symsteer.numbers import PolyRing

    if method == "symsteer":
        def run(n: Any) -> Any:
            return expand(n, steer_at=0, max_order=case.max_order).polynomials()

        seconds, reps, (ring, parts) = best_time(lambda: fresh(net), run)
        peak = peak_rss_mb()
        total = parts["input"] + parts["cross"] + parts["self"] + parts["const"]
    elif method == "symsteer-coefficients":
        def run(n: Any) -> Any:
            ring = PolyRing(weight_symbols(n) + list(x) + list(s))
            return ring, coefficients(n, x=x, s=s, steer_at=0, max_order=case.max_order, numbers=ring)

        seconds, reps, (ring, total) = best_time(lambda: fresh(net), run)
        peak = peak_rss_mb()
    elif method in BASELINES:
        return _baseline(case, method, net, x, s)
    else:
        raise ValueError(f"method {method!r} does not apply to a {case.kind} case")
    count = sum(len(p) for p in total.ravel())
    if count > CANONICAL_LIMIT:
        return {"seconds": seconds, "reps": reps, "peak_mb": round(peak, 1), "monomials": count, "digests": None}
    return _exact_result(seconds, reps, peak, bl.canonical_arrays(total, ring), case.top)


def _baseline(case: Case, method: str, net: Any, x: Any, s: Any) -> dict[str, Any]:
    if method == "sympy":
        layers = bl.sympy_layers(weights(net))
        seconds, reps, polys = best_time(lambda: None, lambda _: bl.sympy_by_hand(layers, x, s, residual=case.residual))
        peak = peak_rss_mb()
        form = bl.canonical_sympy(polys)
    else:
        layers = bl.symengine_layers(weights(net))
        seconds, reps, coeffs = best_time(lambda: None, lambda _: bl.symengine_by_hand(
            layers, x, s, residual=case.residual, degree=case.degree))
        peak = peak_rss_mb()
        form = bl.canonical_symengine(coeffs)
    return _exact_result(seconds, reps, peak, form, case.degree)


def _exact_result(seconds: float, reps: int, peak: float, form: bl.Canonical, top: int) -> dict[str, Any]:
    return {"seconds": seconds, "reps": reps, "peak_mb": round(peak, 1), "monomials": bl.monomials(form),
            "digests": bl.digests(form, top + 1)}


def race(runs: dict[str, Callable[[], Any]], *, rounds: int = 5,
         min_total: float = 8.0) -> tuple[dict[str, float], dict[str, Any], int]:
    """Best wall time of each of ``runs``, timed in turns (A, B, A, B, …) so that load from
    other processes on a shared machine hits every contender alike; the last results; the
    number of turns."""
    best = dict.fromkeys(runs, float("inf"))
    last: dict[str, Any] = {}
    spent, done = 0.0, 0
    while done < rounds and (done < 2 or spent < min_total):
        for name, run in runs.items():
            last[name] = None
            start = time.perf_counter()
            last[name] = run()
            took = time.perf_counter() - start
            best[name], spent = min(best[name], took), spent + took
        done += 1
    return best, last, done


def traced_mb(run: Callable[[], Any]) -> float:
    """Peak memory numpy allocates during ``run()`` (numpy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _float(case: Case, method: str, net: Any, x: Any, s: Any, out_dir: Path) -> dict[str, Any]:
    """symsteer's propagation and (c) timed in turns in this one process (their ratio is the
    target), each one's own memory traced; the long-double reference on its own."""
    from symsteer import FLOAT, coefficients

    rows = min(REFERENCE_ROWS, case.batch)
    if method == "reference":
        start = time.perf_counter()
        values = bl.longdouble_coefficients(weights(net), x[:rows], s[:rows], residual=case.residual, max_order=case.top)
        seconds = time.perf_counter() - start
        np.save(out_dir / f"{case.key}-reference.npy", values, allow_pickle=False)
        return {"seconds": seconds, "reps": 1, "peak_mb": round(peak_rss_mb(), 1), "rows": rows}
    if method != "symsteer":
        raise ValueError(f"method {method!r} is measured with symsteer's in a float case")
    layers = bl.float_layers(weights(net))
    runs = {
        "symsteer": lambda: coefficients(net, x=x, s=s, steer_at=0, max_order=case.max_order, numbers=FLOAT),
        "vandermonde": lambda: bl.vandermonde_coefficients(layers, x, s, residual=case.residual, degree=case.degree),
    }
    for run in runs.values():
        run()  # warm: BLAS threads, first-touch pages
    best, last, turns = race(runs)
    out = {}
    for name, run in runs.items():
        values = last[name] if name == "symsteer" else last[name][0]
        # the rows the reference covers, for the parent to compare (plain .npy: no pickle)
        np.save(out_dir / f"{case.key}-{name}.npy", np.ascontiguousarray(values[:, :rows]), allow_pickle=False)
        out[name] = {"seconds": best[name], "reps": turns, "traced_mb": round(traced_mb(run), 1)}
    out["vandermonde"]["cond"] = last["vandermonde"][1]
    return {**out["symsteer"], "peak_mb": round(peak_rss_mb(), 1), "rival": {"status": "ok", **out["vandermonde"]}}


def _float_orders(case: Case, method: str, net: Any, x: Any, s: Any, out_dir: Path) -> dict[str, Any]:
    """The propagation truncated at each max_order K, timed in turns."""
    from symsteer import FLOAT, coefficients

    runs = {str(k): (lambda k=k: coefficients(net, x=x, s=s, steer_at=0, max_order=k, numbers=FLOAT)) for k in case.orders}
    for run in runs.values():
        run()
    best, _, turns = race(runs, min_total=4.0)
    return {"seconds": best[str(max(case.orders))], "reps": turns, "peak_mb": round(peak_rss_mb(), 1), "by_order": best}


def _float_exact(case: Case, method: str, net: Any, x: Any, s: Any, out_dir: Path) -> dict[str, Any]:
    """float64 propagation, the long-double reference and (c) against exact rationals on the
    same float weights (every float is a rational): how far each is from the truth."""
    import flint

    from symsteer import EXACT, FLOAT, coefficients

    start = time.perf_counter()
    exact = coefficients(net, x=x, s=s, steer_at=0, numbers=EXACT)
    exact_seconds = time.perf_counter() - start
    start = time.perf_counter()
    floats = coefficients(net, x=x, s=s, steer_at=0, numbers=FLOAT)
    float_seconds = time.perf_counter() - start
    longd = bl.longdouble_coefficients(weights(net), x, s, residual=case.residual, max_order=case.degree)
    vander, cond = bl.vandermonde_coefficients(bl.float_layers(weights(net)), x, s, residual=case.residual,
                                               degree=case.degree)

    def errors(values: np.ndarray) -> float:
        """Largest per-coefficient-vector error, computed exactly in rationals."""
        worst = flint.fmpq(0)
        for idx in np.ndindex(exact.shape[:-1]):
            ref = exact[idx]
            got = [flint.fmpq(*np.longdouble(v).as_integer_ratio()) for v in values[idx]]
            scale = max(abs(r) for r in ref)
            diff = max(abs(g - r) for g, r in zip(got, ref))
            if scale != 0:
                worst = max(worst, diff / scale)
        return int(worst.p) / int(worst.q)  # exact big-integer division, rounded once

    return {
        "seconds": float_seconds, "exact_seconds": exact_seconds, "reps": 1, "peak_mb": round(peak_rss_mb(), 1),
        "float_error": errors(floats), "longdouble_error": errors(longd), "vandermonde_error": errors(vander),
        "cond": cond,
    }
