"""Per-sample RMSNorm before bilinear layers: the exact rational function of α against exact
forward passes, its series against the propagated Taylor coefficients, the radius against the
denominator's roots, and the large-α limit against forward passes far out."""

from __future__ import annotations

from fractions import Fraction as Fr

import numpy as np
import pytest

from symsteer import EXACT, FLOAT, Network, coefficients, expand, forward, split_coefficients
from symsteer.blocks import Bilinear, Linear, NormedBilinear, Residual
from symsteer.errors import ShapeError
from symsteer.numbers import PolyRing
from symsteer.rational import rational_form


def ints(rng, *shape):
    return rng.integers(-2, 3, size=shape).tolist()


def fr(v):
    return Fr(int(v.p), int(v.q)) if hasattr(v, "p") else Fr(v)


def normed_stack(rng, *, d=3, h=3, layers=2, eps=Fr(1, 2)):
    blocks = [Linear(ints(rng, d, 4), name="embed")]
    for l in range(layers):
        gain = [Fr(int(v), 2) for v in rng.integers(1, 4, size=d)]
        blocks.append(Residual.add(NormedBilinear(Bilinear(ints(rng, h, d), ints(rng, h, d), ints(rng, d, h), name=f"layers[{l}]"),
                                                  gain=gain, eps=eps)))
    blocks.append(Linear(ints(rng, 2, d), bias=[1, -1], name="unembed"))
    return Network(blocks)


def by_hand(net_parts, x, alpha, s):
    """The stack written from its formula over Fractions: x0 = E x + α s, x ← x + B(g x / r), y = U x + t."""
    E, layers, U, t = net_parts
    cur = [sum(Fr(e) * v for e, v in zip(row, x)) + alpha * sv for row, sv in zip(E, s)]
    for W, V, P, g, eps in layers:
        d = len(cur)
        r2 = sum(v * v for v in cur) / d + eps
        z = [gi * v for gi, v in zip(g, cur)]
        hidden = [sum(Fr(w) * v for w, v in zip(Wr, z)) * sum(Fr(w) * v for w, v in zip(Vr, z)) for Wr, Vr in zip(W, V)]
        cur = [c + sum(Fr(p) * u for p, u in zip(Pr, hidden)) / r2 for c, Pr in zip(cur, P)]
    return [sum(Fr(u) * v for u, v in zip(row, cur)) + Fr(tt) for row, tt in zip(U, t)]


def parts(net):
    E = net.blocks[0].M.tolist()
    layers = [(b.inner.inner.W.tolist(), b.inner.inner.V.tolist(), b.inner.inner.P.tolist(), [fr(g) for g in b.inner.gain], fr(b.inner.eps))
              for b in net.blocks[1:-1]]
    return E, layers, net.blocks[-1].M.tolist(), [fr(v) for v in net.blocks[-1].bias]


@pytest.fixture
def setup(rng):
    net = normed_stack(rng)
    x, s = ints(rng, 4), [1, -1, 2]
    return net, x, s


def test_forward_is_the_formula_exactly(setup):
    net, x, s = setup
    for alpha in (Fr(0), Fr(3, 2), Fr(-7)):
        got = forward(net, x, numbers=EXACT, steer_at=0, s=s, alpha=alpha)
        assert [fr(v) for v in got] == by_hand(parts(net), x, alpha, s)


def test_rational_function_agrees_with_forward_passes_exactly(setup):
    net, x, s = setup
    form = rational_form(net, x=x, s=s, steer_at=0)
    for alpha in (Fr(0), Fr(1, 3), Fr(-5, 2), Fr(11)):
        assert form(alpha) == by_hand(parts(net), x, alpha, s)
    assert form.denominator.degree() >= 2


def test_series_agrees_with_the_propagated_coefficients(setup):
    net, x, s = setup
    form = rational_form(net, x=x, s=s, steer_at=0)
    K = 7
    propagated = coefficients(net, x=x, s=s, steer_at=0, max_order=K, numbers=EXACT)
    assert [[fr(v) for v in row] for row in propagated] == form.series(K)
    floats = coefficients(net, x=x, s=s, steer_at=0, max_order=K, numbers=FLOAT)
    np.testing.assert_allclose(floats, np.array(form.series(K), dtype=float), rtol=1e-9)
    with pytest.raises(ShapeError, match="give max_order"):
        coefficients(net, x=x, s=s, steer_at=0)


def test_radius_is_the_smallest_root_of_the_denominator(setup):
    net, x, s = setup
    form = rational_form(net, x=x, s=s, steer_at=0)
    coeffs = [float(fr(c)) for c in form.denominator.coeffs()]
    roots = np.roots(coeffs[::-1])  # numpy wants the leading coefficient first
    assert form.radius() == pytest.approx(min(abs(roots)), rel=1e-9)
    # lowest terms: no root is shared with every numerator, so each root is a pole of some output
    common = form.denominator
    for n in form.numerators:
        common = common.gcd(n)
    assert common.degree() == 0


def test_first_norm_radius_is_the_closed_form(rng):
    d, eps = 3, Fr(1, 4)
    layer = Bilinear(ints(rng, 4, d), ints(rng, 4, d), ints(rng, d, 4))
    net = Network([Residual.add(NormedBilinear(layer, eps=eps))])
    x, s = [1, 2, -1], [0, 1, 1]
    form = rational_form(net, x_n=x, s=s, steer_at=0)
    want = np.sqrt(float(sum(v * v for v in x) + d * eps)) / np.sqrt(float(sum(v * v for v in s)))
    assert form.radius() == pytest.approx(want, rel=1e-12)


def test_large_alpha_limit_against_forward_passes(setup):
    net, x, s = setup
    form = rational_form(net, x=x, s=s, steer_at=0)
    limit = form.limit()
    far = forward(net, x, numbers=EXACT, steer_at=0, s=s, alpha=Fr(10**9))
    for got, lim in zip(far, limit):
        if isinstance(lim, float):  # ±inf: the output grows without bound
            assert np.sign(float(fr(got))) == np.sign(lim) and abs(float(fr(got))) > 1e6
        else:
            assert abs(float(fr(got) - lim)) <= 1e-6 * max(1.0, abs(float(lim)))


def test_a_normed_block_alone_tends_to_a_constant(rng):
    """B(x/r) is homogeneous of degree 0 for ε = 0 and bounded for ε > 0: its limit is B(ŝ) d/‖s‖²."""
    d = 2
    layer = Bilinear([[1, 0], [1, 1]], [[0, 1], [1, -1]], [[1, 2], [0, 1]])
    net = Network([NormedBilinear(layer, eps=Fr(1, 3))])
    s = [1, 2]
    form = rational_form(net, x_n=[3, -1], s=s, steer_at=0)
    Bs = [fr(v) for v in layer.forward(EXACT.vector(s, "s", d), numbers=EXACT)]
    norm2 = Fr(sum(v * v for v in s), d)
    assert form.limit() == [v / norm2 for v in Bs]


def test_the_split_and_the_expansion_are_refused_with_a_reason(setup):
    net, x, s = setup
    with pytest.raises(ShapeError, match="input / cross / self split is defined for polynomial networks"):
        split_coefficients(net, x=x, s=s, steer_at=0, max_order=2, numbers=EXACT)
    with pytest.raises(ShapeError, match="structured expansion covers plain or residual stacks"):
        expand(net, steer_at=0)
    with pytest.raises(ShapeError, match="polynomial rings cannot hold the result"):
        coefficients(net, x=x, s=s, steer_at=0, max_order=2, numbers=PolyRing([]))


def test_a_norm_before_a_biased_layer_is_refused(rng):
    with pytest.raises(ShapeError, match="not a rational function of alpha"):
        NormedBilinear(Bilinear(ints(rng, 2, 2), ints(rng, 2, 2), ints(rng, 2, 2), b=[1, 0], c=[0, 1]))


def test_float_forward_matches_the_research_rmsnorm(rng):
    """RMSNorm as the research code writes it: x * rsqrt(mean(x²) + eps) * weight, then the bilinear layer."""
    d, h = 4, 5
    W, V, P = rng.standard_normal((h, d)), rng.standard_normal((h, d)), rng.standard_normal((d, h))
    g, eps = rng.standard_normal(d), 1e-8
    block = NormedBilinear(Bilinear(W, V, P), gain=g, eps=eps)
    x = rng.standard_normal((3, d))
    z = x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + eps) * g
    np.testing.assert_allclose(block.forward(x, numbers=FLOAT), ((z @ W.T) * (z @ V.T)) @ P.T, rtol=1e-12)
