"""Per-sample RMSNorm anywhere in a model: the block against formulas written here (numpy,
mpmath's own Taylor expansion), its α-series against forward passes, the exact rational form of a
norm before a bilinear layer, and pre-norm residual models with attention."""

from __future__ import annotations

from fractions import Fraction as Fr

import mpmath
import numpy as np
import pytest

from symsteer import Network
from symsteer._check import RTOL, assert_close
from symsteer._coefficients import coefficients
from symsteer.blocks import Attention, Bilinear, Chain, Linear, NormedBilinear, Residual, RMSNorm, prenorm
from symsteer.errors import ShapeError
from symsteer.numbers import EXACT, FLOAT, PolyRing
from symsteer.rational import rational_form
from symsteer.sequence import SequenceModel


def numpy_rmsnorm(x, gain=None, eps=0.0):
    out = x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + eps)
    return out if gain is None else out * gain


def polyval(cs, alpha):
    """Σ_m c_m α^m with numpy's polynomial evaluation, entry by entry (orders on axis 0)."""
    flat = cs.reshape(len(cs), -1)
    return np.array([np.polynomial.polynomial.polyval(alpha, flat[:, i]) for i in range(flat.shape[1])]).reshape(cs.shape[1:])


# -- the block -----------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [0.0, 1e-3, 0.5])
@pytest.mark.parametrize("with_gain", [False, True])
def test_forward_matches_numpy(rng, eps, with_gain):
    gain = rng.standard_normal(5) if with_gain else None
    x = rng.standard_normal((3, 4, 5))  # batch, positions, width: the norm acts on the last axis
    got = RMSNorm(5, gain=gain, eps=eps).forward(x, numbers=FLOAT)
    assert_close(got, numpy_rmsnorm(x, gain, eps), what="RMSNorm forward")


def mpmath_taylor(x, s, gain, eps, order):
    """The Taylor coefficients of g ⊙ (x + αs)/√(mean((x + αs)²) + ε), by mpmath at 40 digits."""
    d = len(x)
    out = []
    with mpmath.workdps(40):
        for i in range(d):
            def f(a, i=i):
                v = [mpmath.mpf(float(x[k])) + a * mpmath.mpf(float(s[k])) for k in range(d)]
                r = mpmath.sqrt(mpmath.fsum(e * e for e in v) / d + mpmath.mpf(eps))
                return mpmath.mpf(float(gain[i])) * v[i] / r
            out.append([float(c) for c in mpmath.taylor(f, 0, order)])
    return np.array(out).T


@pytest.mark.parametrize("eps", [0.0, 0.25])
def test_series_matches_mpmath_taylor(rng, eps):
    d, K = 4, 7
    x, s, gain = rng.standard_normal(d), rng.standard_normal(d), rng.standard_normal(d)
    cs = RMSNorm(d, gain=gain, eps=eps).propagate(np.stack([x, s]), top=K, numbers=FLOAT)
    assert cs.shape == (K + 1, d)
    want = mpmath_taylor(x, s, gain, eps, K)
    # coefficients grow like 1/R^m (R the radius): compare each order relative to its own size
    for m in range(K + 1):
        assert_close(cs[m], want[m], rtol=1e4 * RTOL * max(1.0, float(np.max(np.abs(want[m])))), what=f"order {m}")


def test_series_against_forward_passes_at_small_alpha(rng):
    d, K = 6, 5
    block = RMSNorm(d, eps=0.1)
    x, s = rng.standard_normal((2, d)), rng.standard_normal((2, d))  # a batch of two
    cs = block.propagate(np.stack([x, s]), top=K, numbers=FLOAT)
    errors = []
    for alpha in (0.02, 0.01):
        series = polyval(cs, alpha)
        forward = block.forward(x + alpha * s, numbers=FLOAT)
        errors.append(float(np.max(np.abs(series - forward))))
    # the truncation error is O(α^(K+1)): halving α divides it by about 2^(K+1) = 64
    assert errors[0] < 1e-7
    assert errors[0] / errors[1] > 40


def test_rational_form_of_a_norm_before_a_bilinear_layer(rng):
    """RMSNorm then a bias-free bilinear layer is NormedBilinear: the series of the chain (through
    the square root) equals the exact rational form's Taylor coefficients."""
    d, h, K = 3, 4, 6
    W, V, P = (rng.integers(-2, 3, size=shape).tolist() for shape in ((h, d), (h, d), (d, h)))
    gain, eps = [1, 2, Fr(1, 2)], Fr(1, 4)
    layer = Bilinear(W, V, P)
    chain = Network([Residual.add(Chain(RMSNorm(d, gain=gain, eps=eps), layer))])
    exact = Network([Residual.add(NormedBilinear(layer, gain=gain, eps=eps))])
    x, s = [1, -2, 1], [Fr(1, 2), 1, -1]
    series = np.array(rational_form(exact, x_n=x, s=s, steer_at=0).series(K), dtype=object).astype(float)
    got = coefficients(chain, x_n=x, s=s, steer_at=0, max_order=K, numbers=FLOAT)
    assert_close(got, series, rtol=1e-12, what="chain vs exact rational series")
    assert chain.depth == 1 and chain.layers == (layer,)


def test_exact_numbers_are_refused_with_the_reason(rng):
    block = RMSNorm(2)
    for numbers in (EXACT, PolyRing([])):
        with pytest.raises(ShapeError, match=r"square root.*float64.*ball.*NormedBilinear"):
            block.forward(EXACT.vector([1, 2], "x", 2), numbers=numbers)
        with pytest.raises(ShapeError, match="square root"):
            block.propagate(np.stack([EXACT.vector([1, 2], "x", 2)] * 2), top=3, numbers=numbers)


def test_zero_norm_at_alpha_zero_is_refused():
    block = RMSNorm(3, eps=0)
    with pytest.raises(ShapeError, match=r"mean\(x²\) \+ ε at α = 0.*not positive"):
        block.propagate(np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]), top=3, numbers=FLOAT)
    with pytest.raises(ShapeError, match="not positive"):
        block.forward(np.zeros(3), numbers=FLOAT)
    # with ε > 0 the series exists at x = 0
    cs = RMSNorm(3, eps=0.25).propagate(np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]), top=3, numbers=FLOAT)
    assert cs[:, 0].tolist() == pytest.approx([0, 2, 0, -4 / 3])  # α/√(α²/3 + 1/4)


@pytest.mark.parametrize("bad", [{"width": 0}, {"width": 2, "eps": -1}, {"width": 2, "gain": [1, 2, 3]}])
def test_bad_parameters_name_the_value(bad):
    with pytest.raises(ShapeError, match="expected"):
        RMSNorm(**bad)


def test_rmsnorm_is_not_rational():
    with pytest.raises(ShapeError, match="not a rational function"):
        Network([Residual.add(Chain(RMSNorm(2), Linear([[1, 0], [0, 1]]))), Bilinear([[1, 0]], [[0, 1]], [[1], [1]])])\
            .blocks[0].rational(np.array([[1, 0]], dtype=object), np.array([1], dtype=object), numbers=EXACT)


# -- pre-norm models -------------------------------------------------------------------------


def prenorm_model(rng, *, d=4, heads=2, eps=0.01):
    att = Attention.random(d, heads=heads, rng=rng, kind="float")
    mlp = Bilinear(*(rng.standard_normal(shape) / np.sqrt(d) for shape in ((6, d), (6, d), (d, 6))), name="mlp")
    final = Chain(RMSNorm(d, eps=eps, name="final"), Linear(rng.standard_normal((5, d)), name="unembed"))
    return SequenceModel((prenorm(att, eps=eps, gain=1 + 0.1 * rng.standard_normal(d)), prenorm(mlp, eps=eps)), head=final)


def test_prenorm_sequence_model_forward_matches_numpy(rng):
    model = prenorm_model(rng)
    x = rng.standard_normal((3, 4))
    att, mlp = model.blocks[0].inner.parts[1], model.blocks[1].inner.parts[1]
    g = model.blocks[0].inner.parts[0].gain
    # the stream by hand: numpy's norm, then the blocks' own forwards (checked in their tests)
    h = x + att.forward(numpy_rmsnorm(x, g, 0.01), numbers=FLOAT)
    h = h + mlp.forward(numpy_rmsnorm(h, None, 0.01), numbers=FLOAT)
    want = model.head.parts[1].forward(numpy_rmsnorm(h, None, 0.01), numbers=FLOAT)
    assert_close(model.forward(x, numbers=FLOAT), want, what="pre-norm model")
    assert model.blocks[0].mixes_positions and not model.blocks[1].mixes_positions
    assert model.degree(0) is None


@pytest.mark.parametrize("steer_at", [0, 1])
def test_prenorm_sequence_model_series_against_forward_passes(rng, steer_at):
    model = prenorm_model(rng)
    T, K = 3, 4
    x0 = rng.standard_normal((T, 4))
    x_n = model.stream(x0, numbers=FLOAT)[steer_at]
    D = np.zeros((T, 4))
    D[1] = rng.standard_normal(4)  # steer position 1: attention carries it to position 2
    cs = model.coefficients(x_n, D, steer_at=steer_at, max_order=K, numbers=FLOAT)
    assert cs.shape == (K + 1, T, 5)
    assert np.allclose(cs[1:, 0], 0, atol=1e-14)  # causal: position 0 does not see position 1
    errors = []
    for alpha in (0.02, 0.01):  # well inside the radius (about 0.2 here: the coefficients grow like 5^m)
        steered = model.forward(x0, numbers=FLOAT, steer_at=steer_at, direction=D, alpha=alpha)
        errors.append(float(np.max(np.abs(polyval(cs, alpha) - steered))))
    assert errors[0] < 1e-5
    assert errors[0] / errors[1] > 2 ** (K + 1) / 2


def test_prenorm_in_a_network_is_a_stage(rng):
    d = 3
    layers = [prenorm(Bilinear.random(d, 4, rng=rng, kind="float", index=l), eps=0.1) for l in range(2)]
    net = Network(layers)
    assert net.depth == 2 and not net.is_stack
    x, s = rng.standard_normal(d), rng.standard_normal(d)
    cs = coefficients(net, x=x, s=s, steer_at=1, max_order=3, numbers=FLOAT)
    x1 = layers[0].forward(x, numbers=FLOAT)
    alpha = 1e-3
    got = layers[1].forward(x1 + alpha * s, numbers=FLOAT)
    assert np.max(np.abs(polyval(cs, alpha) - got)) < 1e-9
    with pytest.raises(ShapeError, match="max_order"):
        coefficients(net, x=x, s=s, steer_at=0, numbers=FLOAT)


# -- QK-norm ---------------------------------------------------------------------------------


def numpy_attention_qk_norm(att, x, eps, gains):
    """Bilinear attention with an RMSNorm on each head's q and k, written here from the formula
    (no RoPE): pattern = (n(q1)·n(k1))(n(q2)·n(k2)) · scale, causal; out = O concat(Σ_k p v_k)."""
    T, H = x.shape[0], att.heads
    dh = att.q1.shape[0] // H

    def heads(W, key):
        y = (x @ W.T).reshape(T, H, dh).transpose(1, 0, 2)
        return numpy_rmsnorm(y, gains.get(key), eps)

    q1, k1, q2, k2 = (heads(getattr(att, k), k) for k in ("q1", "k1", "q2", "k2"))
    p = np.einsum("hqi,hki->hqk", q1, k1) * np.einsum("hqi,hki->hqk", q2, k2) * float(att.scale)
    p = p * np.tril(np.ones((T, T)))
    v = (x @ att.v.T).reshape(T, H, -1).transpose(1, 0, 2)
    z = (p @ v).transpose(1, 0, 2).reshape(T, -1)
    return z @ att.o.T


def qk_attention(rng, *, d=4, heads=2, eps=0.05, per_branch=False):
    base = Attention.random(d, heads=heads, rng=rng, kind="float")
    dh = d // heads
    if per_branch:
        gains = {k: 1 + 0.3 * rng.standard_normal(dh) for k in ("q1", "k1", "q2", "k2")}
        norm = {k: RMSNorm(dh, eps=eps, gain=g, name=f"{k}_norm") for k, g in gains.items()}
    else:
        gains, norm = {}, RMSNorm(dh, eps=eps, name="qk_norm")
    att = Attention(q1=base.q1, k1=base.k1, q2=base.q2, k2=base.k2, v=base.v, o=base.o, heads=heads, qk_norm=norm)
    return att, gains


@pytest.mark.parametrize("per_branch", [False, True])
def test_qk_norm_forward_matches_numpy(rng, per_branch):
    att, gains = qk_attention(rng, per_branch=per_branch)
    x = rng.standard_normal((5, 4))
    assert_close(att.forward(x, numbers=FLOAT), numpy_attention_qk_norm(att, x, 0.05, gains), what="QK-norm attention")
    assert att.degree(1) is None and not att.polynomial and "QK-norm" in att.describe()


def test_qk_norm_series_against_forward_passes(rng):
    att, _ = qk_attention(rng, per_branch=True)
    model = SequenceModel((Residual.add(att),))
    x = rng.standard_normal((3, 4))
    D = np.zeros((3, 4))
    D[0] = rng.standard_normal(4)
    K = 5
    cs = model.coefficients(x, D, steer_at=0, max_order=K, numbers=FLOAT)
    errors = []
    for alpha in (0.01, 0.005):
        errors.append(float(np.max(np.abs(polyval(cs, alpha) - model.forward(x, numbers=FLOAT, steer_at=0, direction=D, alpha=alpha)))))
    assert errors[0] < 1e-6 and errors[0] / errors[1] > 2 ** (K + 1) / 2


def test_qk_norm_is_refused_where_a_formula_assumes_a_polynomial(rng):
    from symsteer.blocks.attention import cross_map

    att, _ = qk_attention(rng)
    with pytest.raises(ShapeError, match="QK-norm"):
        cross_map(att, rng.standard_normal((2, 4)), 1, 0, numbers=FLOAT)
    with pytest.raises(ShapeError, match="width 2"):
        Attention(q1=att.q1, k1=att.k1, q2=att.q2, k2=att.k2, v=att.v, o=att.o, heads=2, qk_norm=RMSNorm(4))
    with pytest.raises(ShapeError, match="'v'"):
        Attention(q1=att.q1, k1=att.k1, q2=att.q2, k2=att.k2, v=att.v, o=att.o, heads=2, qk_norm={"v": RMSNorm(2)})
