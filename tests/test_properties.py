"""Hypothesis property tests for the identities of docs/mathematics.md, in exact arithmetic."""

from fractions import Fraction

import numpy as np
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from symsteer import EXACT, Bilinear, Network, expand, forward, stream
from symsteer import coefficients

from conftest import as_fractions, reference_coefficients

settings.register_profile("symsteer", derandomize=True, max_examples=40, deadline=None)
settings.load_profile("symsteer")

small = st.fractions(min_value=-3, max_value=3, max_denominator=4)


@st.composite
def layer_and_vectors(draw):
    d, h, k = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    mat = lambda r, c: [[draw(small) for _ in range(c)] for _ in range(r)]  # noqa: E731
    layer = Bilinear(mat(h, d), mat(h, d), mat(k, h))
    return layer, [draw(small) for _ in range(d)], [draw(small) for _ in range(d)]


@st.composite
def model_case(draw):
    layers = draw(st.integers(1, 3))
    case = dict(
        layers=layers, residual=draw(st.booleans()), bias=draw(st.booleans()),
        width=draw(st.integers(1, 2)), hidden=draw(st.integers(1, 2)),
        embed=draw(st.sampled_from([None, 2])), unembed=draw(st.sampled_from([None, 1, 3])),
    )
    net = Network.random(**case, kind="rational", seed=draw(st.integers(0, 2**16)))
    n = draw(st.integers(0, layers))
    x = [draw(small) for _ in range(net.d_in)]
    s = [draw(small) for _ in range(net.width_at(n))]
    return net, n, x, s


@given(layer_and_vectors())
def test_symmetric_part_is_symmetric_and_reaches_the_output(args):
    layer, x, _ = args
    Bh = layer.symmetric()
    for k in range(layer.d_out):
        for i in range(layer.d_in):
            for j in range(layer.d_in):
                assert Bh[k, i, j] == Bh[k, j, i]
    assert layer.bilinear(x, x) == layer.symmetric_bilinear(x, x)


@given(layer_and_vectors())
def test_cross_term_is_twice_symmetric_form_and_cross_map(args):
    layer, x, s = args
    cross = layer.bilinear(x, s) + layer.bilinear(s, x)
    assert cross == 2 * layer.symmetric_bilinear(x, s)
    assert cross == layer.cross_map(s) * sympy.Matrix([sympy.Rational(v.numerator, v.denominator) for v in x])


@given(model_case())
def test_degree_bound_and_top_coefficient(args):
    net, n, x, s = args
    ref = reference_coefficients(net, x, s, n)  # asserts degree ≤ 2^(L-n) itself
    assert len(ref) == 2 ** (net.depth - n) + 1
    v = sympy.Matrix([sympy.Rational(q.numerator, q.denominator) for q in s])
    for layer in net.layers[n:]:
        v = layer.bilinear(v, v)
    if net.unembed is not None:
        v = sympy.Matrix(net.unembed.tolist()) * v
    assert ref[-1] == [Fraction(int(c.p), int(c.q)) for c in v]


@given(model_case(), st.lists(small, min_size=1, max_size=4))
def test_parts_sum_to_the_steered_output_for_every_alpha(args, alphas):
    net, n, x, s = args
    parts = expand(net, steer_at=n, budget=10**6).evaluate(s, x=x, numbers=EXACT)
    total = sum(parts.values())
    for alpha in alphas:
        a = EXACT.entry(alpha)
        poly = sum(total[m] * a**m for m in range(total.shape[0]))
        assert as_fractions(poly) == as_fractions(forward(net, x, numbers=EXACT, steer_at=n, s=s, alpha=alpha))


@given(model_case())
def test_self_part_is_output_at_zero_input(args):
    net, n, x, s = args
    parts = expand(net, steer_at=n, budget=10**6).evaluate(s, x=x, numbers=EXACT)
    zero = coefficients(net, x_n=[0] * len(s), s=s, steer_at=n)
    own = np.array(as_fractions(parts["self"]), dtype=object)
    own[0] = as_fractions(parts["const"])[0]
    assert own.tolist() == as_fractions(zero)
    # and the input part is the unsteered output minus the constant part
    x_n = stream(net, x, numbers=EXACT)[n]
    assert as_fractions(parts["input"][0] + parts["const"][0]) == as_fractions(coefficients(net, x_n=x_n, s=s, steer_at=n)[0])
