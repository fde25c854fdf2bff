"""Properties of steering sequence models, over generated models, sequences and steer sets."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from symsteer.numbers import EXACT
from symsteer.positions import SteerSet, steer_direction
from symsteer.sequence_check import random_sequence_model


@st.composite
def cases(draw: st.DrawFn) -> tuple:
    spec = draw(st.lists(st.sampled_from(["attn", "mlp"]), min_size=1, max_size=2))
    T = draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["all", "last", "from", "list"]))
    if kind == "from":
        positions = f"from:{draw(st.integers(0, T - 1))}"
    elif kind == "list":
        positions = ",".join(map(str, draw(st.sets(st.integers(0, T - 1), min_size=1))))
    else:
        positions = kind
    seed = draw(st.integers(0, 2**16))
    return spec, T, positions, seed, draw(st.booleans()), draw(st.sampled_from(["add", "lerp"]))


@settings(max_examples=40, deadline=None)
@given(cases())
def test_no_output_before_the_first_steered_position_moves(case: tuple) -> None:
    """Causality: every α-coefficient of order ≥ 1 is exactly zero before min(P), at every block."""
    spec, T, positions, seed, rope, residual = case
    rng = np.random.default_rng(seed)
    model = random_sequence_model(spec, d=4, heads=2, rng=rng, rope=rope, residual=residual, kind="int")
    first = SteerSet.parse(positions).first(T)
    x = rng.integers(-2, 3, size=(T, 4))
    D = steer_direction(positions, rng.integers(-2, 3, size=4), length=T, width=4)
    for n in range(model.depth + 1):
        x_n = model.stream(EXACT.vector(x, "x", 4), numbers=EXACT)[n]
        c = model.coefficients(x_n, D, steer_at=n, max_order=3, numbers=EXACT)
        assert all(v == 0 for v in c[1:, :first].ravel())
        if n == 0:  # and order 0 is the unsteered forward pass itself
            assert (c[0] == model.forward(x_n, numbers=EXACT)).all()


@settings(max_examples=25, deadline=None)
@given(cases())
def test_orders_beyond_the_degree_vanish(case: tuple) -> None:
    """Asking for more orders than the degree bound returns exactly degree + 1 of them."""
    spec, T, positions, seed, rope, residual = case
    rng = np.random.default_rng(seed)
    model = random_sequence_model(spec, d=2, heads=1, rng=rng, rope=rope, residual=residual, kind="int")
    D = steer_direction(positions, [1, -1], length=T, width=2)
    x = rng.integers(-2, 3, size=(T, 2))
    c = model.coefficients(x, D, steer_at=0, max_order=500, numbers=EXACT)
    assert len(c) == model.degree(0) + 1


@settings(max_examples=15, deadline=None)
@given(cases())
def test_self_part_depends_on_the_weights_and_s_only(case: tuple) -> None:
    """The self part (x_n := 0 at every position) is the same whatever the context."""
    spec, T, positions, seed, rope, residual = case
    rng = np.random.default_rng(seed)
    model = random_sequence_model(spec, d=2, heads=1, rng=rng, rope=rope, residual=residual, kind="int")
    D = steer_direction(positions, [1, -1], length=T, width=2)
    one, other = rng.integers(-2, 3, size=(T, 2)), rng.integers(-2, 3, size=(T, 2))
    a = model.split(one, D, steer_at=0, max_order=6, numbers=EXACT)["self"]
    b = model.split(other, D, steer_at=0, max_order=6, numbers=EXACT)["self"]
    assert (a == b).all()


def test_degree_bound_is_attained() -> None:
    """5^L after L attention blocks (×2 per MLP): the top coefficient of a random model is nonzero."""
    rng = np.random.default_rng(3)
    for spec in (["attn"], ["attn", "attn"], ["attn", "mlp"]):
        model = random_sequence_model(spec, d=4, heads=2, rng=rng, rope=True, residual="add", kind="rational")
        x = rng.integers(-2, 3, size=(2, 4))
        D = steer_direction("all", [1, 2, -1, 1], length=2, width=4)
        c = model.coefficients(x, D, steer_at=0, numbers=EXACT)
        assert len(c) == model.degree(0) + 1 == {("attn",): 6, ("attn", "attn"): 26, ("attn", "mlp"): 11}[tuple(spec)]
        assert any(v != 0 for v in c[-1].ravel())
