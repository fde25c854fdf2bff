"""The benchmark's --quick mode, and the pieces it trusts: the hand-written baselines agree
with symsteer exactly, the canonical form notices a difference, the float references are
accurate. Correctness only: times are measured by the benchmark, never asserted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the benchmarks live beside the package, not in it
    sys.path.insert(0, str(ROOT))

from benchmarks import baselines as bl  # noqa: E402
from benchmarks.cases import QUICK, Case, inputs, network, weights  # noqa: E402
from symsteer import EXACT, FLOAT, Bilinear, Network, coefficients, expand  # noqa: E402
from symsteer._check import assert_close  # noqa: E402

#: (kind, d, h, layers, residual, bias): small enough for sympy by hand
EXACT_CASES = [
    ("concrete", 3, 3, 2, True, False),
    ("concrete", 2, 3, 3, False, False),
    ("concrete", 3, 2, 2, False, True),
    ("concrete", 2, 2, 2, True, True),
    ("symbolic-x", 2, 2, 2, True, False),
    ("symbolic-x", 2, 3, 2, False, True),
    ("symbolic-w", 2, 1, 2, True, False),
    ("symbolic-w", 2, 2, 1, False, True),
]


def _case(kind: str, d: int, h: int, layers: int, residual: bool, bias: bool, max_order: int | None = None) -> Case:
    return Case("test", 0, "test", kind, d, h, layers, (), residual=residual, bias=bias, max_order=max_order)


def _symsteer_form(case: Case, net: Network, x, s) -> bl.Canonical:
    if case.kind == "concrete":
        return bl.canonical_arrays(coefficients(net, x_n=x, s=s, steer_at=0, max_order=case.max_order))
    ring, parts = expand(net, steer_at=0, max_order=case.max_order).polynomials()
    return bl.canonical_arrays(sum(parts.values()), ring)


@pytest.mark.parametrize("spec", EXACT_CASES, ids=lambda spec: "-".join(map(str, spec)))
def test_baselines_agree_with_symsteer_exactly(spec):
    case = _case(*spec)
    net = network(case)
    x, s = inputs(case, net)
    ours = _symsteer_form(case, net, x, s)
    by_sympy = bl.canonical_sympy(bl.sympy_by_hand(bl.sympy_layers(weights(net)), x, s, residual=case.residual))
    by_symengine = bl.canonical_symengine(bl.symengine_by_hand(
        bl.symengine_layers(weights(net)), x, s, residual=case.residual, degree=case.degree))
    assert ours == by_sympy == by_symengine
    assert bl.monomials(ours) > 0
    assert bl.digests(ours, case.degree + 1) == bl.digests(by_sympy, case.degree + 1)


@pytest.mark.parametrize("spec", EXACT_CASES[:2] + EXACT_CASES[4:5], ids=lambda spec: "-".join(map(str, spec)))
def test_canonical_form_sees_one_changed_weight(spec):
    case = _case(*spec)
    net = network(case)
    x, s = inputs(case, net)
    layer = net.layers[-1]
    P = layer.P.copy()
    P[0, 0] = P[0, 0] + 1
    changed = Network((*net.layers[:-1], Bilinear(layer.W, layer.V, P, b=layer.b, c=layer.c)), residual=net.residual)
    assert bl.digests(_symsteer_form(case, net, x, s), case.degree + 1) != bl.digests(
        _symsteer_form(case, changed, x, s), case.degree + 1)


@pytest.mark.parametrize("kind", ["concrete", "symbolic-x", "symbolic-w"])
def test_truncated_results_match_the_prefix_of_full_ones(kind):
    full, cut = _case(kind, 2, 2, 2, True, False), _case(kind, 2, 2, 2, True, False, max_order=1)
    net = network(full)
    x, s = inputs(full, net)
    a = bl.digests(_symsteer_form(full, net, x, s), full.degree + 1)
    b = bl.digests(_symsteer_form(cut, net, x, s), cut.top + 1)
    assert b["1"] == a["1"] and b["0"] == a["0"]
    assert a["1"] != a[str(full.degree)]  # higher orders are there and change the digest


def test_canonical_form_of_numbers_and_symbols():
    x, y = sympy.symbols("x y")
    form = bl.canonical_sympy([sympy.Poly(3 * x * y**2 + sympy.Rational(1, 2) + sympy.Symbol("alpha") * x,
                                          sympy.Symbol("alpha"))])
    assert form == {(0, 0): (((), "1/2"), ((("x", 1), ("y", 2)), "3")), (1, 0): (((("x", 1),), "1"),)}


# (kind of network, residual, bias): float64 models small enough to run exactly
FLOAT_CASES = [(True, False), (False, False), (True, True)]


@pytest.mark.parametrize("residual,bias", FLOAT_CASES)
def test_float_references_are_accurate(rng, residual, bias):
    net = Network.random(layers=3, width=4, hidden=5, residual=residual, bias=bias, kind="float", seed=rng)
    x, s = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    exact = coefficients(net, x_n=x, s=s, steer_at=0, numbers=EXACT)
    longd = bl.longdouble_coefficients(weights(net), x, s, residual=residual, max_order=8)
    assert_close(longd.astype(np.float64), exact, what="long-double propagation")
    assert_close(coefficients(net, x_n=x, s=s, steer_at=0, numbers=FLOAT), longd.astype(np.float64), what="float64 propagation")
    vander, cond = bl.vandermonde_coefficients(bl.float_layers(weights(net)), x, s, residual=residual, degree=8)
    assert vander.shape == exact.shape and cond > 1
    # truncation: the first orders of the recursion do not depend on the orders cut off
    assert np.array_equal(bl.longdouble_coefficients(weights(net), x, s, residual=residual, max_order=2), longd[:3])


def test_coefficient_errors():
    ref = np.array([[[1.0, -2.0]], [[0.0, 0.0]]])
    assert bl.coefficient_errors(ref, ref).tolist() == [[0.0], [0.0]]
    got = ref + np.array([[[0.0, 1e-3]], [[1e-9, 0.0]]])
    err = bl.coefficient_errors(got, ref)
    assert err[0, 0] == pytest.approx(5e-4) and err[1, 0] == np.inf


def test_quick_cases_cover_every_target_kind():
    assert {c.kind for c in QUICK} == {"concrete", "symbolic-x", "symbolic-w", "float", "float-orders", "float-exact"}
    assert all(c.layers <= 3 and c.d <= 16 for c in QUICK)


def test_quick_benchmark_runs_and_agrees_with_the_baselines():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "## Measurements" in out and "SYMPY_GROUND_TYPES" in out
    assert "DIFFERENT" not in out
    # every exact baseline row (sympy and symengine on 4 cases) matched symsteer exactly
    assert out.count("identical to symsteer") >= 8 + 4
    assert "largest error" in out and "vs exact" in out
