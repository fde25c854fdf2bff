"""The blocks against formulas written here in plain Fractions and numpy (no symsteer code):
forward passes in float64, exact rationals and polynomial rings, α-propagation against
forward passes at many α, truncation, and the residual wrappers."""

from __future__ import annotations

from fractions import Fraction as Fr

import numpy as np
import pytest
import sympy

from symsteer.blocks import Bilinear, Block, Linear, Residual, cauchy
from symsteer.errors import ShapeError
from symsteer.numbers import EXACT, FLOAT, PolyRing


def ints(rng, *shape):
    return rng.integers(-3, 4, size=shape).tolist()


def fr(v):
    return [fr(e) for e in v] if isinstance(v, (list, tuple, np.ndarray)) else Fr(int(v.p), int(v.q)) if isinstance(v, sympy.Basic) else Fr(v)


def matvec(M, v):
    return [sum((m * e for m, e in zip(row, v)), Fr(0)) for row in M]


def bilinear_by_hand(W, V, P, x, b=None, c=None):
    wx, vx = matvec(W, x), matvec(V, x)
    if b is not None:
        wx = [u + t for u, t in zip(wx, b)]
        vx = [u + t for u, t in zip(vx, c)]
    return matvec(P, [u * v for u, v in zip(wx, vx)])


def as_fracs(arr):
    return [Fr(int(v.p), int(v.q)) if hasattr(v, "p") and not isinstance(v, int) else Fr(v) for v in np.asarray(arr, dtype=object).ravel()]


def interpolate(values, alphas):
    """The coefficients of the polynomial through (α_i, values_i), exact (Lagrange via a solve)."""
    n = len(alphas)
    A = sympy.Matrix([[sympy.Rational(a) ** j for j in range(n)] for a in alphas])
    out = []
    for k in range(len(values[0])):
        col = A.LUsolve(sympy.Matrix([sympy.Rational(v[k]) for v in values]))
        out.append([Fr(int(e.p), int(e.q)) for e in col])
    return [[out[k][m] for k in range(len(out))] for m in range(n)]


@pytest.fixture
def layer(rng):
    h, d = 4, 3
    return Bilinear(ints(rng, h, d), ints(rng, h, d), ints(rng, d, h), b=ints(rng, h), c=ints(rng, h))


# -- the truncated Cauchy product -------------------------------------------------------------


@pytest.mark.parametrize("top", [0, 1, 3, 10])
def test_cauchy_is_polynomial_multiplication_truncated(rng, top):
    a, b = rng.integers(-5, 6, size=(3, 4)), rng.integers(-5, 6, size=(4, 4))
    full = np.array([np.convolve(a[:, k], b[:, k]) for k in range(4)]).T  # shape (6, 4)
    got = cauchy(a.astype(float), b.astype(float), top=top, numbers=FLOAT)
    assert np.array_equal(got, full[: top + 1])
    exact = cauchy(EXACT.array(a), EXACT.array(b), top=top, numbers=EXACT)
    assert [int(v) for v in exact.ravel()] == full[: top + 1].ravel().tolist()


# -- the bilinear block -----------------------------------------------------------------------


def test_bilinear_forward_exact_and_float(layer, rng):
    x = [Fr(int(p), int(q)) for p, q in zip(rng.integers(-5, 6, 3), rng.integers(1, 5, 3))]
    want = bilinear_by_hand(fr(layer.W.tolist()), fr(layer.V.tolist()), fr(layer.P.tolist()), x, fr(list(layer.b)), fr(list(layer.c)))
    got = layer.forward(EXACT.vector(x, "x", 3), numbers=EXACT)
    assert as_fracs(got) == want
    xf = np.array([float(v) for v in x])
    W, V, P, b, c = (np.array(a, dtype=float) for a in (layer.W, layer.V, layer.P, layer.b, layer.c))
    np.testing.assert_allclose(layer.forward(xf, numbers=FLOAT), P @ ((W @ xf + b) * (V @ xf + c)), rtol=1e-14)


def test_bilinear_forward_in_a_ring(layer):
    x = sympy.symbols("x1:4")
    ring = PolyRing(list(x))
    got = [ring.to_sympy(v) for v in layer.forward(ring.vector(list(x), "x", 3), numbers=ring)]
    W, V, P, b, c = (sympy.Matrix(a.tolist()) for a in (layer.W, layer.V, layer.P, layer.b, layer.c))
    X = sympy.Matrix(x)
    want = P * (W * X + b).multiply_elementwise(V * X + c)
    assert all(sympy.expand(g - w) == 0 for g, w in zip(got, want))


@pytest.mark.parametrize("top", [0, 1, 2, 4])
def test_bilinear_propagation_matches_forward_passes(layer, rng, top):
    x, s = ints(rng, 3), ints(rng, 3)
    cs = EXACT.array(np.array([x, s], dtype=object))
    got = layer.propagate(cs, top=top, numbers=EXACT)
    alphas = [Fr(-2), Fr(-1, 2), Fr(0), Fr(1, 3), Fr(1)]
    values = [bilinear_by_hand(fr(layer.W.tolist()), fr(layer.V.tolist()), fr(layer.P.tolist()),
                               [Fr(u) + a * Fr(v) for u, v in zip(x, s)], fr(list(layer.b)), fr(list(layer.c))) for a in alphas]
    want = interpolate(values, alphas)  # degree 2, so rows 3, 4 are zero
    assert got.shape == (min(top, 2) + 1, 3)
    assert [as_fracs(row) for row in got] == want[: min(top, 2) + 1]
    assert layer.degree(1) == 2 and layer.degree(3) == 6


def test_bilinear_propagation_in_a_ring_gives_the_coefficients_of_alpha(layer):
    x, s, a = sympy.symbols("x1:4"), sympy.symbols("s1:4"), sympy.Symbol("a")
    ring = PolyRing([*x, *s, a])
    cs = np.stack([ring.vector(list(x), "x", 3), ring.vector(list(s), "s", 3)])
    got = layer.propagate(cs, top=2, numbers=ring)
    steered = layer.forward(ring.vector([u + a * v for u, v in zip(x, s)], "x", 3), numbers=ring)
    for k in range(3):
        poly = sympy.Poly(ring.to_sympy(steered[k]), a)
        for m in range(3):
            assert sympy.expand(poly.coeff_monomial(a**m) - ring.to_sympy(got[m][k])) == 0


def test_bilinear_float_propagation_batched(rng):
    h, d = 5, 4
    W, V, P = rng.standard_normal((h, d)), rng.standard_normal((h, d)), rng.standard_normal((d, h))
    block = Bilinear(W, V, P)
    x, s = rng.standard_normal((6, d)), rng.standard_normal((6, d))
    got = block.propagate(np.stack([x, s]), top=2, numbers=FLOAT)
    # (W(x+αs)) ⊙ (V(x+αs)) by hand, coefficient by coefficient
    want = [((W @ x.T) * (V @ x.T)).T @ P.T,
            ((W @ x.T) * (V @ s.T) + (W @ s.T) * (V @ x.T)).T @ P.T,
            ((W @ s.T) * (V @ s.T)).T @ P.T]
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-12, atol=1e-12)


def test_bilinear_refuses_a_wrong_width(layer):
    with pytest.raises(ShapeError, match="width 2; expected 3"):
        layer.forward(np.zeros(2), numbers=FLOAT)


# -- the linear block and the residual wrappers -----------------------------------------------


def test_linear_bias_reaches_order_zero_only(rng):
    M, t = ints(rng, 2, 3), ints(rng, 2)
    block = Linear(M, bias=t)
    cs = EXACT.array(np.array([ints(rng, 3), ints(rng, 3), ints(rng, 3)], dtype=object))
    got = block.propagate(cs, top=5, numbers=EXACT)
    rows = [[Fr(int(v)) for v in row] for row in cs]
    want = [[a + b for a, b in zip(matvec(fr(M), rows[0]), fr(t))], matvec(fr(M), rows[1]), matvec(fr(M), rows[2])]
    assert [as_fracs(r) for r in got] == want
    assert block.degree(4) == 4


def test_folded_norm_is_a_diagonal_affine_map():
    block = Linear.diagonal([Fr(1, 2), 3], [1, Fr(-1, 3)])
    assert as_fracs(block.forward(EXACT.vector([4, 1], "x", 2), numbers=EXACT)) == [Fr(3), Fr(8, 3)]


@pytest.mark.parametrize("make", ["add", "lerp", "scaled"])
def test_residual_wrappers_exact(layer, rng, make):
    lam = Fr(7, 20)
    block = {"add": Residual.add(layer), "lerp": Residual.lerp(layer, lam), "scaled": Residual.scaled(layer, Fr(-2, 3))}[make]
    keep, scale = {"add": (1, 1), "lerp": (1 - lam, lam), "scaled": (1, Fr(-2, 3))}[make]
    x, s = ints(rng, 3), ints(rng, 3)
    args = (fr(layer.W.tolist()), fr(layer.V.tolist()), fr(layer.P.tolist()))
    by_hand = lambda v: [keep * Fr(u) + scale * y for u, y in zip(v, bilinear_by_hand(*args, v, fr(list(layer.b)), fr(list(layer.c))))]  # noqa: E731
    assert as_fracs(block.forward(EXACT.vector(x, "x", 3), numbers=EXACT)) == by_hand([Fr(v) for v in x])
    alphas = [Fr(-1), Fr(0), Fr(1, 2)]
    want = interpolate([by_hand([Fr(u) + a * Fr(v) for u, v in zip(x, s)]) for a in alphas], alphas)
    got = block.propagate(EXACT.array(np.array([x, s], dtype=object)), top=2, numbers=EXACT)
    assert [as_fracs(r) for r in got] == want
    assert block.degree(1) == 2


def test_lerp_residual_float_against_numpy(rng):
    h, d = 6, 4
    W, V, P = rng.standard_normal((h, d)), rng.standard_normal((h, d)), rng.standard_normal((d, h))
    block = Residual.lerp(Bilinear(W, V, P), 0.35)
    x = rng.standard_normal((3, d))
    np.testing.assert_allclose(block.forward(x, numbers=FLOAT), 0.65 * x + 0.35 * (((x @ W.T) * (x @ V.T)) @ P.T), rtol=1e-13)


def test_residual_needs_a_square_block(rng):
    with pytest.raises(ShapeError, match="residual block needs output width 3"):
        Residual.add(Bilinear(ints(rng, 2, 3), ints(rng, 2, 3), ints(rng, 2, 2)))


def test_every_block_kind_follows_the_protocol(layer):
    for block in (layer, Linear([[1, 2]]), Residual.add(layer)):
        assert isinstance(block, Block) and block.mixes_positions is False
        for name in ("forward", "propagate", "degree", "arrays"):
            assert getattr(type(block), name) is not getattr(Block, name), (type(block).__name__, name)


@pytest.mark.parametrize("kind", ["linear with bias", "lerp", "scaled", "add"])
def test_every_kind_propagates_exactly_in_a_ring(layer, kind):
    """Generic x and s (and α a generator): the propagated coefficients are those of α^m in the
    forward pass on x + α s, for each kind of block."""
    block = {"linear with bias": Linear([[1, -2, 0], [Fr(1, 2), 1, 3]], bias=[2, -1]),
             "lerp": Residual.lerp(layer, Fr(7, 20)), "scaled": Residual.scaled(layer, Fr(-3, 2)), "add": Residual.add(layer)}[kind]
    x, s, a = sympy.symbols("x1:4"), sympy.symbols("s1:4"), sympy.Symbol("a")
    ring = PolyRing([*x, *s, a])
    cs = np.stack([ring.vector(list(x), "x", 3), ring.vector(list(s), "s", 3)])
    top = block.degree(1)
    got = block.propagate(cs, top=top, numbers=ring)
    steered = block.forward(ring.vector([u + a * v for u, v in zip(x, s)], "x", 3), numbers=ring)
    assert got.shape == (top + 1, block.d_out)
    for k in range(block.d_out):
        poly = sympy.Poly(ring.to_sympy(steered[k]), a)
        assert poly.degree() <= top
        for m in range(top + 1):
            assert sympy.expand(poly.coeff_monomial(a**m) - ring.to_sympy(got[m][k])) == 0


def test_shape_errors_say_which_input_was_expected():
    from symsteer import Network, coefficients

    net = Network([Linear([[1, 0, 0, 0], [0, 1, 0, 0]], name="embed"), Bilinear([[1, 1]], [[1, 0]], [[1], [2]])])
    with pytest.raises(ShapeError, match=r"x_n \(the stream at steer_at=0\) has shape \(4,\); expected a vector of length 2"):
        coefficients(net, x_n=[1, 2, 3, 4], s=[1, 0], steer_at=0)
    with pytest.raises(ShapeError, match=r"x \(the network input\) has shape \(2,\); expected a vector of length 4"):
        coefficients(net, x=[1, 2], s=[1, 0], steer_at=0)
    with pytest.raises(ShapeError, match="give exactly one of x"):
        coefficients(net, s=[1, 0], steer_at=0)
    with pytest.raises(TypeError):
        coefficients(net, [1, 2], [1, 0], steer_at=0)  # inputs are keyword-only: x or x_n must be named


def test_batchnorm_in_eval_mode_folds_exactly(rng):
    mean, var, gamma, beta = rng.standard_normal(4), rng.random(4) + 0.5, rng.standard_normal(4), rng.standard_normal(4)
    block = Linear.batchnorm(mean, var, weight=gamma, bias=beta, eps=1e-5)
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(block.forward(x, numbers=FLOAT), (x - mean) / np.sqrt(var + 1e-5) * gamma + beta, rtol=1e-13)
    # σ² + ε a rational square: the fold is exact
    exact = Linear.batchnorm([1, Fr(-1, 2)], [Fr(9, 4) - Fr(1, 100), 4 - Fr(1, 100)], weight=[2, 1], bias=[0, Fr(1, 3)],
                             eps=Fr(1, 100))
    assert exact.field == "rational"
    got = exact.forward(EXACT.vector([4, 5], "x", 2), numbers=EXACT)
    assert as_fracs(got) == [(4 - 1) / Fr(3, 2) * 2, (5 + Fr(1, 2)) / 2 + Fr(1, 3)]


def test_linear_layers_between_blocks_and_the_steering_points(rng):
    """[B0, L, B1]: x_1 is the stream after L (entering B1); propagation through L and B1 equals
    forward passes at many α, exactly."""
    from symsteer import Network, coefficients, forward

    B0 = Bilinear(ints(rng, 3, 2), ints(rng, 3, 2), ints(rng, 3, 3))
    L = Linear(ints(rng, 2, 3), bias=[1, -1], name="between")
    B1 = Residual.lerp(Bilinear(ints(rng, 2, 2), ints(rng, 2, 2), ints(rng, 2, 2)), Fr(1, 4))
    net = Network([B0, L, B1])
    assert net.depth == 2 and net.width_at(1) == 2 and not net.is_stack
    x, s = [1, -2], [2, 1]
    x1 = as_fracs(L.forward(B0.forward(EXACT.vector(x, "x", 2), numbers=EXACT), numbers=EXACT))
    alphas = [Fr(-1), Fr(0), Fr(1, 2)]
    values = [[Fr(int(v.p), int(v.q)) for v in forward(net, x, numbers=EXACT, steer_at=1, s=s, alpha=a)] for a in alphas]
    want = interpolate(values, alphas)
    got = coefficients(net, x=x, s=s, steer_at=1, numbers=EXACT)
    assert [as_fracs(r) for r in got] == want
    # the steering point 1 is after L: B1 on x_1 + α s is the output
    steered = [u + Fr(1, 2) * v for u, v in zip(x1, s)]
    assert as_fracs(B1.forward(EXACT.vector(steered, "x", 2), numbers=EXACT)) == values[2]
