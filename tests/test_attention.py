"""Attention blocks and sequence models against the independent forward in tensor_reference."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import tensor_reference as ref
from conftest import as_fractions
from symsteer.blocks import Attention, Bilinear, Linear, Residual
from symsteer.blocks.attention import FrozenAttention, cauchy_matmul
from symsteer.blocks.rotary import Rotary
from symsteer._check import RTOL, relative_error
from symsteer.errors import BudgetError, ShapeError
from symsteer.numbers import EXACT, FLOAT, PolyRing
from symsteer.positions import steer_direction
from symsteer.sequence import SequenceModel


def build(model: dict[str, Any]) -> SequenceModel:
    """The reference's dict model as symsteer blocks (written against the dict's documentation)."""
    blocks = []
    for i, layer in enumerate(model["layers"]):
        if layer["kind"] == "attn":
            dh = len(layer["q1"]) // layer["heads"]
            inner = Attention(q1=layer["q1"], k1=layer["k1"], q2=layer.get("q2"), k2=layer.get("k2"), v=layer["v"],
                              o=layer["o"], heads=layer["heads"], pattern=layer["pattern"],
                              rotary=Rotary(dh, base=layer["rope"]) if layer["rope"] else None,
                              biases=layer.get("bias") or {}, name=f"layers[{i}]")
        else:
            inner = Bilinear(layer["L"], layer["R"], layer["D"], name=f"layers[{i}]")
        blocks.append(Residual.add(inner) if layer["residual"] == "add" else Residual.lerp(inner, layer["scale"]))
    head = Linear(model["head"], name="head") if model.get("head") is not None else None
    return SequenceModel(tuple(blocks), embed=model.get("embed"), head=head)


def _inputs(model: dict[str, Any], rng: np.random.Generator, T: int) -> Any:
    if model.get("embed") is not None:
        return rng.integers(0, len(model["embed"]), size=T)
    first = model["layers"][0]
    d = len((first["v"] if first["kind"] == "attn" else first["L"])[0])
    return np.vectorize(Fraction, otypes=[object])(rng.integers(-2, 3, size=(T, d)), 1)


def _x0(seq: SequenceModel, inputs: Any, numbers: Any) -> np.ndarray:
    if seq.embed is not None:
        return seq.inputs(tokens=inputs, numbers=numbers)
    return seq.inputs(x=inputs, numbers=numbers)


def test_cauchy_matmul_against_pairs(rng: np.random.Generator) -> None:
    a, b = rng.standard_normal((3, 2, 4, 5)), rng.standard_normal((4, 2, 5, 3))
    got = cauchy_matmul(a, b, top=4)
    for m in range(5):
        want = sum(a[i] @ b[m - i] for i in range(3) if 0 <= m - i < 4)
        assert np.allclose(got[m], want)
    assert len(cauchy_matmul(a, b, top=9)) == 6  # degree 2 + 3


# -- one block, forward ----------------------------------------------------------------------

FORWARD = [
    dict(pattern="bilinear", rope=None, qk_bias=False, heads=1),
    dict(pattern="bilinear", rope=10_000, qk_bias=False, heads=2),
    dict(pattern="bilinear", rope=100, qk_bias=True, heads=2),
    dict(pattern="squared", rope=10_000, qk_bias=False, heads=2),
    dict(pattern="squared-normalized", rope=None, qk_bias=True, heads=1),
    dict(pattern="squared-normalized", rope=10_000, qk_bias=False, heads=2),
]


@pytest.mark.parametrize("case", FORWARD)
@pytest.mark.parametrize("residual", ["add", "lerp"])
def test_forward_matches_reference(case: dict[str, Any], residual: str) -> None:
    model = ref.random_model(["attn"], d=4, seed=len(str(case)), residual=residual, scale=Fraction(3, 10), **case)
    seq = build(model)
    x = _inputs(model, np.random.default_rng(7), 4)
    want = ref.forward_exact(model, x)[-1]
    assert as_fractions(seq.forward(_x0(seq, x, EXACT), numbers=EXACT)) == want
    got = seq.forward(_x0(seq, x, FLOAT), numbers=FLOAT)
    assert relative_error(got, ref.forward_float(model, x)[-1]) <= RTOL
    assert relative_error(got, np.array(want, dtype=object).astype(float)) <= RTOL


# -- sequence models, coefficients against exact interpolation of the reference --------------

MODELS = [
    dict(spec=["attn"], rope=None, residual="lerp"),
    dict(spec=["attn"], rope=10_000, residual="add", heads=2),
    dict(spec=["attn", "mlp"], rope=10_000, residual="lerp", heads=2, vocab=5),
    dict(spec=["mlp", "attn"], rope=None, residual="add", qk_bias=True),
    dict(spec=["attn", "attn"], rope=10_000, residual="lerp", heads=2),
    dict(spec=["attn"], rope=10_000, residual="add", pattern="squared", heads=2, vocab=4),
]
STEER = ["all", "last", "from:1", "0,2", [0]]


def _cases() -> list[tuple[dict[str, Any], Any, int]]:
    out = []
    for i, m in enumerate(MODELS):
        for j, positions in enumerate(STEER):
            n = (i + j) % (len(m["spec"]) + 1)  # every n over the table
            out.append((m, positions, n))
    return out


@pytest.mark.parametrize("case, positions, steer_at", _cases())
def test_coefficients_exact_and_float(case: dict[str, Any], positions: Any, steer_at: int) -> None:
    opts = dict(case)
    spec = opts.pop("spec")
    model = ref.random_model(spec, d=4, seed=len(spec) + steer_at, hidden=3, **opts)
    seq = build(model)
    rng = np.random.default_rng(steer_at)
    T = 3
    x = _inputs(model, rng, T)
    s = np.vectorize(Fraction, otypes=[object])(rng.integers(-2, 3, size=4), 2)
    D = steer_direction(positions, s, length=T, width=4)
    want = ref.coefficients_exact(model, x, steer_at, D)
    top = min(6, len(want) - 1)
    x_n = seq.stream(_x0(seq, x, EXACT), numbers=EXACT)[steer_at]
    got = seq.coefficients(x_n, D, steer_at=steer_at, max_order=top, numbers=EXACT)
    assert as_fractions(got) == want[: top + 1]  # zero difference in rationals
    # untruncated: the whole polynomial, and no order beyond the degree bound is nonzero
    full = seq.coefficients(x_n, D, steer_at=steer_at, numbers=EXACT)
    assert len(full) == seq.degree(steer_at) + 1 and as_fractions(full) == want
    # float64: the same coefficients within the tolerance, and forward passes at many α
    xf = seq.stream(_x0(seq, x, FLOAT), numbers=FLOAT)[steer_at]
    gotf = seq.coefficients(xf, D, steer_at=steer_at, numbers=FLOAT)
    assert relative_error(gotf, np.array(want, dtype=object).astype(float)) <= RTOL
    for alpha in (-1.5, -0.25, 0.5, 1.0):
        poly = sum(gotf[m] * alpha**m for m in range(len(gotf)))
        direct = ref.forward_float(model, x, steer=(steer_at, D.astype(float), alpha))[-1]
        assert relative_error(poly, direct) <= 1e3 * RTOL


@pytest.mark.parametrize("positions", ["all", "last", "from:1", "1"])
def test_split_by_kind(positions: str) -> None:
    model = ref.random_model(["attn", "mlp"], d=4, heads=2, seed=3, rope=10_000, hidden=3, qk_bias=True)
    seq = build(model)
    T = 3
    x = _inputs(model, np.random.default_rng(1), T)
    D = steer_direction(positions, [1, -1, Fraction(1, 2), 0], length=T, width=4)
    parts = seq.split(x, D, steer_at=0, max_order=4, numbers=EXACT)
    total = seq.coefficients(x, D, steer_at=0, max_order=4, numbers=EXACT)
    assert as_fractions(sum(parts.values())) == as_fractions(total)
    # self: steering alone from x := 0 at every position, by the reference
    zero = [[0] * 4 for _ in range(T)]
    self_ref = ref.coefficients_exact(model, zero, 0, D)
    assert as_fractions(parts["self"][1:]) == self_ref[1:5]
    assert as_fractions(parts["const"][0]) == self_ref[0]
    assert all(v == 0 for v in parts["cross"][0].ravel()) and all(v == 0 for v in parts["input"][1:].ravel())
    assert as_fractions(parts["input"][0] + parts["const"][0]) == ref.forward_exact(model, x)[-1]


def test_rational_pattern_series() -> None:
    """Row-normalised attention is rational in α: its truncated series matches a Taylor
    expansion of the reference (finite differences would not be exact; use the identity
    den(α) · p(α) = raw(α) instead, checked through the block on one position set)."""
    model = ref.random_model(["attn"], d=4, heads=1, seed=5, pattern="squared-normalized", residual="add")
    seq = build(model)
    T = 3
    x = _inputs(model, np.random.default_rng(2), T)
    D = steer_direction("all", [1, 0, -1, 1], length=T, width=4)
    with pytest.raises(ShapeError, match="give max_order"):
        seq.coefficients(x, D, steer_at=0, numbers=EXACT)
    c = seq.coefficients(x, D, steer_at=0, max_order=7, numbers=FLOAT)
    # the series converges near α = 0: compare with the forward pass at small α
    for alpha in (1e-3, -2e-3):
        poly = sum(c[m] * alpha**m for m in range(len(c)))
        assert relative_error(poly, ref.forward_float(model, x, steer=(0, D.astype(float), alpha))[-1]) < 1e-12
    exact = seq.coefficients(x, D, steer_at=0, max_order=3, numbers=EXACT)
    assert relative_error(exact, c[:4]) <= RTOL
    with pytest.raises(ShapeError, match="not polynomials"):
        seq.forward(PolyRing([]).vector(x, "x", 4), numbers=PolyRing([]))


def test_causality_before_first_steered_position() -> None:
    model = ref.random_model(["attn", "mlp", "attn"], d=4, heads=2, seed=9, rope=10_000, hidden=3)
    seq = build(model)
    T = 5
    x = _inputs(model, np.random.default_rng(4), T)
    D = steer_direction("from:3", [1, 2, 0, -1], length=T, width=4)
    c = seq.coefficients(x, D, steer_at=0, max_order=6, numbers=EXACT)
    assert all(v == 0 for v in c[1:, :3].ravel())
    assert any(v != 0 for v in c[1:, 3:].ravel())


def test_frozen_attention_is_linear(rng: np.random.Generator) -> None:
    T, d = 4, 4
    q, k, v, o = (rng.standard_normal((d, d)) for _ in range(4))
    x = rng.standard_normal((T, d))
    block = FrozenAttention.from_softmax(q, k, v, o, x, heads=2, rotary=Rotary(2))
    assert np.allclose(block.frozen.sum(-1), 1) and np.all(np.triu(block.frozen[0], 1) == 0)
    seq = SequenceModel((Residual.lerp(block, 0.5),))
    D = rng.standard_normal((T, d))
    c = seq.coefficients(x, D, steer_at=0, numbers=FLOAT)
    assert len(c) == 2  # linear in α
    # the unsteered output is softmax attention itself
    heads = lambda y: np.moveaxis((x @ y.T).reshape(T, 2, 2), 0, 1)  # noqa: E731
    cos, sin = Rotary(2).tables(T)
    rot = lambda y: y * cos + np.concatenate([-y[..., 1:], y[..., :1]], -1) * sin  # noqa: E731
    scores = rot(heads(q)) @ np.swapaxes(rot(heads(k)), -1, -2) / np.sqrt(2)
    scores = np.where(np.tril(np.ones((T, T))) > 0, scores, -np.inf)
    p = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    z = np.moveaxis(p @ heads(v), 0, 1).reshape(T, d)
    assert np.allclose(c[0], 0.5 * x + 0.5 * z @ o.T)


BAD = [
    (dict(q2=None), "needs q2 and k2"),
    (dict(heads=3), "multiple of heads=3"),
    (dict(pattern="softmax"), "pattern='softmax'"),
    (dict(v=np.ones((4, 5))), r"v has shape \(4, 5\)"),
    (dict(o=np.ones((4, 2))), r"o has shape \(4, 2\)"),
    (dict(biases={"v": np.ones(4)}), "a bias for 'v'"),
    (dict(biases={"q1": np.ones(3)}), r"q1.bias has shape \(3,\)"),
    (dict(rotary=Rotary(4), heads=2), "rotary tables for heads of width 4"),
]


@pytest.mark.parametrize("change, message", BAD)
def test_refused(change: dict[str, Any], message: str) -> None:
    w = {k: np.eye(4) for k in ("q1", "k1", "q2", "k2", "v", "o")}
    with pytest.raises(ShapeError, match=message):
        Attention(**(w | change))


def test_refused_inputs() -> None:
    att = Attention(**{k: np.eye(2) for k in ("q1", "k1", "q2", "k2", "v", "o")}, context=3)
    with pytest.raises(ShapeError, match="at most 3"):
        att.forward(np.ones((4, 2)), numbers=FLOAT)
    with pytest.raises(ShapeError, match="expected a sequence"):
        att.forward(np.ones(2), numbers=FLOAT)
    with pytest.raises(ShapeError, match="even head width"):
        Rotary(3)
    seq = SequenceModel((Residual.add(att),), embed=np.eye(2))
    with pytest.raises(ShapeError, match=r"token id\(s\) 2 outside the vocabulary 0 … 1"):
        seq.embed_tokens([0, 2])
    with pytest.raises(ShapeError, match="steer_at=2"):
        seq.coefficients(np.ones((2, 2)), np.ones((2, 2)), steer_at=2)
    with pytest.raises(BudgetError, match="orders above 512"):
        SequenceModel((Residual.add(att),) * 4).order_limit(0, None)


def test_exact_work_counted_before_any_work() -> None:
    rng = np.random.default_rng(0)
    att = Residual.add(Attention.random(16, heads=2, rng=rng))
    seq = SequenceModel((att, att, att))
    T = 64
    with pytest.raises(BudgetError, match="exact coefficients up to order 40 for T=64 would take about"):
        seq.coefficients(np.zeros((T, 16), dtype=np.int64), np.ones((T, 16), dtype=np.int64), steer_at=0, max_order=40)


# -- closed forms ------------------------------------------------------------------------------

from symsteer.blocks.attention import cross_map, last_position, self_pattern  # noqa: E402

CLOSED = [
    dict(pattern="bilinear", rope=None, heads=1),
    dict(pattern="bilinear", rope=10_000, heads=2),
    dict(pattern="squared", rope=10_000, heads=2),
]


@pytest.mark.parametrize("case", CLOSED)
def test_cross_map_is_the_first_order(case: dict[str, Any]) -> None:
    model = ref.random_model(["attn"], d=4, seed=21, residual="add", **case)
    att = build(model).blocks[0].inner
    seq = SequenceModel((att,))  # the block alone, no residual
    T = 3
    x = _inputs(model, np.random.default_rng(5), T)
    for q in range(T):
        for k in range(T):
            J = cross_map(att, x, q, k, numbers=EXACT)
            for j in range(4):
                D = np.zeros((T, 4), dtype=np.int64)
                D[k, j] = 1
                c = seq.coefficients(x, D, steer_at=0, max_order=1, numbers=EXACT)
                assert as_fractions(J[:, j]) == as_fractions(c[1, q])
            if k > q:
                assert all(v == 0 for v in J.ravel())


@pytest.mark.parametrize("case", CLOSED)
def test_self_term_by_position(case: dict[str, Any]) -> None:
    model = ref.random_model(["attn"], d=4, seed=22, residual="lerp", **case)
    block = build(model).blocks[0]
    seq = SequenceModel((block,))
    T = 4
    D = steer_direction("all", [1, -1, 2, 1], length=T, width=4)
    parts = seq.split(np.zeros((T, 4), dtype=np.int64), D, steer_at=0, numbers=EXACT)
    c = self_pattern(block.inner, D, numbers=EXACT)
    H, dv = block.inner.heads, block.inner.d_value
    w = block.inner.weights(EXACT)
    want = sum(EXACT.apply(w["o"][:, h * dv:(h + 1) * dv], c[h] @ EXACT.apply(w["v"][h * dv:(h + 1) * dv], EXACT.vector(D, "D", 4)))
               for h in range(H))
    assert as_fractions(parts["self"][5]) == as_fractions(want * EXACT.entry(block.scale))
    if case["rope"] is None and H == 1:
        # one s everywhere, no RoPE: one weight per head, the self term grows as (q + 1)
        assert len({v for v in c[0][np.tril_indices(T)]}) == 1
        first = as_fractions(parts["self"][5][0])
        for q in range(T):
            assert as_fractions(parts["self"][5][q]) == [(q + 1) * v for v in first]


@pytest.mark.parametrize("case", CLOSED)
def test_last_position_is_bilinear_in_the_last_row(case: dict[str, Any]) -> None:
    model = ref.random_model(["attn"], d=4, seed=23, residual="add", **case)
    att = build(model).blocks[0].inner
    T = 3
    x = np.array(_inputs(model, np.random.default_rng(6), T), dtype=object)
    form = last_position(att, x, numbers=EXACT)
    assert form.context.hidden == att.heads * (T - 1)
    rng = np.random.default_rng(7)
    for _ in range(3):
        u = np.vectorize(Fraction, otypes=[object])(rng.integers(-3, 4, size=4), 2)
        y = x.copy()
        y[-1] = u
        want = att.forward(EXACT.vector(y, "x", 4), numbers=EXACT)[-1]
        assert as_fractions(form(EXACT.vector(u, "u", 4), numbers=EXACT)) == as_fractions(want)
    # float64 agrees
    formf = last_position(att, x.astype(float), numbers=FLOAT)
    u = rng.standard_normal(4)
    y = x.astype(float)
    y[-1] = u
    assert relative_error(formf(u, numbers=FLOAT), att.forward(y, numbers=FLOAT)[-1]) <= RTOL


# -- terms ------------------------------------------------------------------------------------

from symsteer.attention_terms import attention_terms, terms_by_order  # noqa: E402


@pytest.mark.parametrize("case", CLOSED)
@pytest.mark.parametrize("positions", ["all", "last", "0,2"])
def test_terms_sum_to_the_coefficients(case: dict[str, Any], positions: str) -> None:
    model = ref.random_model(["attn"], d=4, seed=24, residual="add", **case)
    att = build(model).blocks[0].inner
    T = 3
    x = _inputs(model, np.random.default_rng(8), T)
    D = steer_direction(positions, [1, 0, -1, Fraction(1, 3)], length=T, width=4)
    terms = attention_terms(att, x, D, numbers=EXACT, index=0)
    steered = set(steer_direction(positions, [1, 1, 1, 1], length=T, width=4).nonzero()[0].tolist())
    for t in terms:  # every leaf s sits at a steered position; kinds follow the leaves
        assert all(t.query in steered for leaf in t.leaves[:2] if leaf == "s")
        assert all(t.key in steered for leaf in t.leaves[2:] if leaf == "s")
        assert t.key <= t.query and t.kind == {0: "input", 5: "self"}.get(t.order, "cross")
    c = SequenceModel((att,)).coefficients(x, D, steer_at=0, numbers=EXACT)
    assert as_fractions(terms_by_order(terms, T, 4, EXACT)) == as_fractions(c)
    assert terms[0].latex().startswith(r"\mathcal{A}")


def test_long_sequences_refused_before_any_work() -> None:
    rng = np.random.default_rng(0)
    seq = SequenceModel((Residual.add(Attention.random(4, heads=2, rng=rng, kind="float")),))
    with pytest.raises(BudgetError, match="attention-pattern entries"):
        seq.stream(np.zeros((20_000, 4)), numbers=FLOAT)
    with pytest.raises(BudgetError, match="attention-pattern entries"):
        seq.coefficients(np.zeros((7_000, 4)), np.ones((7_000, 4)), steer_at=0, max_order=5, numbers=FLOAT)


def test_steering_all_is_the_sum_of_each_only_at_first_order() -> None:
    """Order 1 is linear in the steering direction: steering all positions gives the sum of steering
    each one alone. From order 2 on the positions interact (through the gates): not the sum."""
    model = ref.random_model(["attn"], d=4, heads=2, seed=30, rope=10_000, residual="lerp")
    seq = build(model)
    T = 3
    x = _inputs(model, np.random.default_rng(9), T)
    s = [1, -1, 0, 2]
    every = seq.coefficients(x, steer_direction("all", s, length=T, width=4), steer_at=0, numbers=EXACT)
    each = sum(seq.coefficients(x, steer_direction([t], s, length=T, width=4), steer_at=0, numbers=EXACT) for t in range(T))
    assert as_fractions(every[1]) == as_fractions(each[1])
    assert as_fractions(every[2]) != as_fractions(each[2])


def test_symbolic_steering_vector_in_a_polynomial_ring() -> None:
    """The same propagation over polynomials: s symbolic gives each coefficient as a polynomial
    map of s; substituting numbers gives the exact coefficients."""
    import sympy

    model = ref.random_model(["attn"], d=2, heads=1, seed=31, rope=10_000, residual="lerp")
    seq = build(model)
    s0, s1 = sympy.symbols("s0 s1")
    ring = PolyRing([s0, s1])
    T = 2
    x = _inputs(model, np.random.default_rng(10), T)
    D = np.array([[0, 0], [s0, s1]], dtype=object)
    poly = seq.coefficients(ring.vector(x, "x", 2), ring.vector(D, "D", 2), steer_at=0, numbers=ring)
    value = {s0: sympy.Rational(1, 2), s1: -2}
    exact = seq.coefficients(x, np.array([[0, 0], [Fraction(1, 2), -2]], dtype=object), steer_at=0, numbers=EXACT)
    for m in range(len(exact)):
        for t in range(T):
            for e in range(2):
                got = ring.to_sympy(poly[m, t, e]).subs(value)
                want = exact[m, t, e]
                assert got == sympy.Rational(int(want.p), int(want.q))
    assert sympy.Poly(ring.to_sympy(poly[5, 1, 0]), s0, s1).total_degree() <= 5


def test_exact_work_counts_the_growth_of_the_numbers() -> None:
    """Seven attention blocks on a tiny input plan few multiply-adds, but their exact numbers
    grow ×5 per block (56 bits to about four million): refused before the work (which would
    take minutes before the numbers' size limit stops it), saying why; float64 and a
    shallower exact run go on."""
    rng = np.random.default_rng(3)
    seq = SequenceModel(tuple(Residual.lerp(Attention.random(4, heads=1, rng=rng), Fraction(1, 2)) for _ in range(7)))
    x, s = rng.standard_normal((3, 4)), np.ones((3, 4))
    assert seq.work(0, 3, 2) < 10**6  # the plain count alone would let it start
    with pytest.raises(BudgetError, match=r"grow from 5\d bits by the degree of every block"):
        seq.coefficients(x, s, steer_at=0, max_order=2)
    assert seq.coefficients(x, s, steer_at=5, max_order=2).shape == (3, 3, 4)
    assert seq.coefficients(x, s, steer_at=3, max_order=2, numbers=FLOAT).shape == (3, 3, 4)


def test_float_overflow_is_refused_with_the_block() -> None:
    """A float64 run whose coefficients pass 1.8e308 says where, never returns inf or nan."""
    rng = np.random.default_rng(3)
    seq = SequenceModel(tuple(Residual.add(Attention.random(4, heads=1, rng=rng)) for _ in range(7)))
    big = np.full((3, 4), 1e30)
    with pytest.raises(BudgetError, match=r"float64 values of the alpha-coefficients after block \d overflowed"):
        seq.coefficients(big, big, steer_at=0, max_order=2, numbers=FLOAT)
