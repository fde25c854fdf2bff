"""Fuzzing the core: whatever arrays and options come in, only SymsteerError escapes."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from symsteer import Bilinear, Network, SymsteerError, expand, forward

FUZZ = settings(derandomize=True, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

dtypes = st.sampled_from([np.float64, np.float32, np.int64, np.int8, np.bool_, np.complex128, np.str_, object])


@st.composite
def weird_arrays(draw):
    dtype = draw(dtypes)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    if dtype is object:
        return np.array(draw(st.lists(st.one_of(st.integers(-3, 3), st.text(max_size=2), st.none(), st.floats()), min_size=1, max_size=4)), dtype=object)
    if dtype is np.str_:
        return np.full(shape, "1")
    elements = st.floats(allow_nan=True, allow_infinity=True, width=32) if dtype in (np.float32, np.float64) else None
    return draw(hnp.arrays(dtype, shape, elements=elements))


@FUZZ
@given(weird_arrays(), weird_arrays(), weird_arrays(), st.one_of(st.none(), weird_arrays()))
def test_layer_construction_only_raises_symsteer_errors(W, V, P, b):
    try:
        layer = Bilinear(W, V, P, b=b, c=b)
    except SymsteerError:
        return
    # whatever was accepted must compute
    x = np.ones(layer.d_in)
    forward(Network((layer,)), x)


@FUZZ
@given(
    st.integers(-2, 5), st.integers(-2, 4), st.integers(-2, 4), st.booleans(), st.booleans(),
    st.one_of(st.none(), st.integers(-1, 3)), st.integers(-2, 6), st.one_of(st.none(), st.integers(-2, 40)),
)
def test_expand_options_only_raise_symsteer_errors(layers, width, hidden, residual, bias, embed, steer_at, max_order):
    try:
        net = Network.random(layers=layers, width=width, hidden=hidden, residual=residual, bias=bias, embed=embed)
        e = expand(net, steer_at=steer_at, max_order=max_order, budget=5000)
        e.counts()
        e.terms
    except SymsteerError:
        return


@FUZZ
@given(st.lists(st.one_of(st.integers(-5, 5), st.floats(), st.text(max_size=3), st.none(), st.booleans()), min_size=0, max_size=4))
def test_vectors_only_raise_symsteer_errors(values):
    net = Network.random(layers=1, width=2, hidden=2)
    try:
        expand(net, steer_at=0).evaluate(values, x=[1, 2])
    except SymsteerError:
        return
