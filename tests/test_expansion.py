"""The expansion against an independent reference, over a table of model shapes."""

from fractions import Fraction

import numpy as np
import pytest
import sympy

from symsteer import EXACT, FLOAT, BudgetError, Network, ShapeError, expand, split_coefficients, stream
from symsteer import coefficients
from symsteer._check import RTOL, relative_error
from symsteer.expansion import COUNT_CAP

from conftest import as_fractions, reference_coefficients, reference_output

# plain and residual, with and without biases, embed/unembed, depth 1–3, every steer_at
CASES = [
    dict(layers=layers, residual=residual, bias=bias, embed=embed, unembed=unembed, steer_at=n)
    for layers in (1, 2, 3)
    for residual in (False, True)
    for bias in (False, True)
    for embed, unembed in ((None, None), (3, 2))
    for n in range(layers + 1)
]


def _ids(case):
    return "{}-L{}{}{}-n{}".format(
        "res" if case["residual"] else "plain", case["layers"], "-bias" if case["bias"] else "",
        "-EU" if case["embed"] else "", case["steer_at"],
    )


def _model(case, seed, kind="rational"):
    rng = np.random.default_rng(seed)
    opts = {k: v for k, v in case.items() if k != "steer_at"}
    net = Network.random(width=2, hidden=2, kind=kind, seed=rng, **opts)
    x = [Fraction(int(v), 2) for v in rng.integers(-3, 4, size=net.d_in)]
    s = [Fraction(int(v), 3) for v in rng.integers(-3, 4, size=net.width_at(case["steer_at"]))]
    return net, x, s


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_expansion_matches_reference_exactly(case):
    net, x, s = _model(case, seed=len(_ids(case)) * 7 + case["layers"])
    n = case["steer_at"]
    ref = reference_coefficients(net, x, s, n)
    e = expand(net, steer_at=n)
    parts = e.evaluate(s, x=x, numbers=EXACT)
    assert as_fractions(sum(parts.values())) == ref
    stream_x = stream(net, x, numbers=EXACT)[n]
    assert as_fractions(coefficients(net, x_n=stream_x, s=s, steer_at=n)) == ref
    split = split_coefficients(net, x_n=stream_x, s=s, steer_at=n)
    for kind in parts:
        assert as_fractions(parts[kind]) == as_fractions(split[kind]), kind


@pytest.mark.parametrize("case", CASES[::3], ids=_ids)
def test_float_agrees_to_tolerance(case):
    net, x, s = _model(case, seed=3, kind="float")
    n = case["steer_at"]
    ref = reference_coefficients(net, x, s, n)
    got = expand(net, steer_at=n).evaluate([float(v) for v in s], x=[float(v) for v in x], numbers=FLOAT)
    assert relative_error(sum(got.values()), np.array(ref, dtype=float)) <= RTOL


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_kinds_match_monomials_of_the_symbolic_output(residual, bias):
    """input = no s, self = no x, cross = both, const = neither: read off sympy's expansion."""
    net = Network.random(layers=2, width=2, hidden=2, residual=residual, bias=bias, seed=5, unembed=1)
    e = expand(net, steer_at=0)
    xs, ss = e.leaf_symbols("x"), e.leaf_symbols("s")
    alpha = sympy.Symbol("alpha")
    out = sympy.expand(reference_output(net, xs, steer_at=0, s=ss, alpha=alpha)[0])
    want = {k: {} for k in ("input", "cross", "self", "const")}
    for term in sympy.Add.make_args(out):
        syms = term.free_symbols
        has_x, has_s = bool(syms & set(xs)), bool(syms & set(ss))
        kind = ("cross" if has_s else "input") if has_x else ("self" if has_s else "const")
        m = sympy.degree(term, alpha)
        want[kind][m] = want[kind].get(m, 0) + term / alpha**m
    for kind, by_order in want.items():
        for m in e.orders:
            assert sympy.expand(e.coefficient(m, kind)[0] - by_order.get(m, 0)) == 0, (kind, m)


def test_symbolic_weights_single_layer_closed_form():
    net = Network.symbolic(layers=1, width=2, hidden=2)
    layer = net.layers[0]
    e = expand(net, steer_at=0)
    x, s = sympy.Matrix(e.leaf_symbols("x")), sympy.Matrix(e.leaf_symbols("s"))
    assert e.coefficient(0) == layer(x)
    assert e.coefficient(1, "cross") == (layer.cross_map(s) * x).applyfunc(sympy.expand)
    assert e.coefficient(2, "self") == layer.self_term(s)
    assert e.coefficient(1, "self") == sympy.zeros(2, 1)


# distinct formal terms after l layers (docs/mathematics.md)
RESIDUAL = [5, 20, 230, 26795, 359026205]
PLAIN = [3, 6, 21, 231, 26796]
RESIDUAL_ORDER1 = [4, 11, 56, 986, 201431]
RESIDUAL_ORDER2 = [5, 17, 113, 2849, 917930]


@pytest.mark.parametrize("layers", [1, 2, 3, 4, 5])
def test_term_counts(layers):
    res = Network.random(layers=layers, width=1, hidden=1, residual=True)
    plain = Network.random(layers=layers, width=1, hidden=1)
    assert expand(res, steer_at=0).total_terms == RESIDUAL[layers - 1]
    assert expand(plain, steer_at=0).total_terms == PLAIN[layers - 1]
    assert expand(res, steer_at=0, max_order=1).total_terms == RESIDUAL_ORDER1[layers - 1]
    assert expand(res, steer_at=0, max_order=2).total_terms == RESIDUAL_ORDER2[layers - 1]


@pytest.mark.parametrize("layers", [1, 2, 3, 4])
def test_listed_terms_agree_with_counts(layers):
    for residual in (False, True):
        for bias in (False, True):
            e = expand(Network.random(layers=layers, width=1, hidden=1, residual=residual, bias=bias), steer_at=0,
                       max_order=None if layers < 4 else 1)
            listed = {m: {k: len(v) for k, v in kinds.items()} for m, kinds in e.grouped().items()}
            assert listed == e.counts()


def test_plain_stack_input_only_at_order_zero_self_only_at_top():
    e = expand(Network.random(layers=3, width=2, hidden=2), steer_at=0)
    counts = e.counts()
    assert counts[0] == {"input": 1, "cross": 0, "self": 0, "const": 0}
    assert counts[8] == {"input": 0, "cross": 0, "self": 1, "const": 0}
    assert all(counts[m]["self"] == 0 for m in range(8))


def test_residual_has_self_terms_at_every_order():
    counts = expand(Network.random(layers=3, width=2, hidden=2, residual=True), steer_at=0).counts()
    assert all(counts[m]["self"] > 0 for m in range(1, 9))


def test_budget_stops_before_the_work_and_suggests_max_order():
    net = Network.random(layers=5, width=2, hidden=2, residual=True)
    e = expand(net, steer_at=0)
    assert e.total_terms == 359026205  # counted, never built
    with pytest.raises(BudgetError, match=r"builds \d+ terms \(budget 300000\); pass max_order=1 or lower, or a larger budget"):
        e.terms
    assert len(expand(net, steer_at=0, max_order=1).terms) == 201431


def test_top_coefficient_is_plain_composition_of_s():
    """The α^(2^(L-n)) coefficient is U (B_{L-1} ∘ … ∘ B_n)(s), bias-free, for residual and biased nets too."""
    for residual in (False, True):
        for bias in (False, True):
            net = Network.random(layers=2, width=2, hidden=2, residual=residual, bias=bias, seed=11, unembed=2)
            s = [1, -2]
            top = coefficients(net, x_n=[3, 1], s=s, steer_at=0)[-1]
            v = sympy.Matrix(s)
            for layer in net.layers:
                v = layer.bilinear(v, v)
            expected = sympy.Matrix(net.unembed.tolist()) * v
            assert as_fractions(top) == [Fraction(int(c.p), int(c.q)) for c in expected]


def test_split_directions_residual():
    net = Network.random(layers=3, width=2, hidden=2, residual=True, seed=2)
    e = expand(net, steer_at=2, split_directions=True)
    assert e.leaves == ("x0", "d0", "d1", "s")
    x, s = [1, 2], [2, -1]
    whole = expand(net, steer_at=2).evaluate(s, x=x)
    split = e.evaluate(s, x=x)
    for kind in whole:
        assert as_fractions(whole[kind]) == as_fractions(split[kind])
    # B̂_2(d_0, s): the seed's "interaction of s with the directions d"
    assert any(str(t) == "B2(d0, s)" for t, _ in e.terms)
    with pytest.raises(ShapeError, match="needs a residual network"):
        expand(Network.random(layers=2, width=2, hidden=2), steer_at=1, split_directions=True)


def test_truncation_keeps_the_low_orders():
    net = Network.random(layers=3, width=2, hidden=3, residual=True, bias=True, seed=4)
    full = expand(net, steer_at=0).evaluate([1, 1], x=[2, -1])
    cut = expand(net, steer_at=0, max_order=2)
    assert cut.truncated and cut.degree_bound == 8
    part = cut.evaluate([1, 1], x=[2, -1])
    for kind in full:
        assert as_fractions(part[kind]) == as_fractions(full[kind][:3])
    assert "+ O(alpha^3)" in cut.to_text()


@pytest.mark.parametrize("bad, message", [
    (dict(steer_at=3), "steer_at=3 but the model has 2 layers"),
    (dict(steer_at=0, max_order=-1), "max_order=-1; expected a non-negative integer"),
    (dict(steer_at=0, budget=0), "budget=0; expected a positive integer"),
])
def test_bad_options(bad, message):
    with pytest.raises(ShapeError, match=message):
        expand(Network.random(layers=2, width=2, hidden=2), **bad)


def test_evaluate_needs_one_kind_of_input():
    e = expand(Network.random(layers=1, width=2, hidden=2), steer_at=0)
    with pytest.raises(ShapeError, match="exactly one of x"):
        e.evaluate([1, 1])
    with pytest.raises(ShapeError, match=r"s has shape \(3,\); expected a vector of length 2"):
        e.evaluate([1, 1, 1], x=[1, 1])


@pytest.mark.parametrize("residual, bias", [(False, False), (True, False), (True, True)])
def test_terms_as_sympy_expressions_sum_to_the_output(residual, bias):
    net = Network.symbolic(layers=2, width=1, hidden=1, residual=residual, bias=bias, unembed=1)
    e = expand(net, steer_at=0)
    alpha = sympy.Symbol("alpha")
    total = sum(mult * alpha**t.order * e.term_expression(t)[0] for t, mult in e.terms)
    ref = reference_output(net, e.leaf_symbols("x"), steer_at=0, s=e.leaf_symbols("s"), alpha=alpha)[0]
    assert sympy.expand(total - ref) == 0


@pytest.mark.parametrize("residual", [False, True])
def test_order_zero_truncation_keeps_only_the_unsteered_output(residual):
    net = Network.random(layers=2, width=2, hidden=2, residual=residual, bias=True, seed=8)
    e = expand(net, steer_at=1, max_order=0)
    assert set(e.counts()) == {0} and all(t.order == 0 for t, _ in e.terms)
    got = e.evaluate([1, 1], x=[1, 2])
    full = expand(net, steer_at=1).evaluate([1, 1], x=[1, 2])
    for kind in got:
        assert as_fractions(got[kind]) == as_fractions(full[kind][:1])


def test_deep_stacks_need_truncation_and_stay_bounded():
    net = Network.random(layers=40, width=2, hidden=2, residual=True)
    with pytest.raises(BudgetError, match=r"degree 1099511627776 in alpha after 40 layer\(s\); orders above 512 are refused"):
        expand(net, steer_at=0)
    with pytest.raises(BudgetError, match="pass max_order=512 or lower"):
        coefficients(net, x_n=[1, 1], s=[1, 0], steer_at=0)
    e = expand(net, steer_at=0, max_order=2)
    assert e.total_terms == COUNT_CAP  # counted (saturated), never built
    with pytest.raises(BudgetError, match="builds more than 10.60 terms .budget 300000.; pass a larger budget"):
        e.terms
    got = coefficients(net, x_n=[0, 0], s=[1, 0], steer_at=0, max_order=2, numbers=FLOAT)
    assert got.shape == (3, 2)


def test_evaluate_from_network_input_in_a_plain_stack_whose_widths_change():
    # the earlier activations of a plain stack have other widths; they are no leaves there
    # (regression: evaluate(x=...) built x0 and d_l anyway and failed to broadcast)
    from symsteer import Bilinear, Network as Net

    net = Net((Bilinear([[1, 2]], [[1, -1]], [[1], [2], [3]]), Bilinear([[1, 0, 1]], [[2, 1, 0]], [[1], [1]])))
    e = expand(net, steer_at=1)
    x = [1, 2]
    x1 = stream(net, x, numbers=EXACT)[1]
    by_input, by_stream = e.total([1, 0, 1], x=x), e.total([1, 0, 1], x_n=x1)
    assert as_fractions(by_input) == as_fractions(by_stream)
    assert as_fractions(by_input) == as_fractions(coefficients(net, x_n=x1, s=[1, 0, 1], steer_at=1))


def test_deep_plain_stack_terms_print_short_and_evaluate_without_recursion():
    # a plain stack shares sub-terms: written out, the order-0 term has 2^L leaves
    # (regression: str() never finished at L = 40 and hit the recursion limit at L = 1000)
    from symsteer import latex

    net = Network.random(layers=1000, width=1, hidden=1, seed=0, kind="float")
    e = expand(net, steer_at=0, max_order=1)
    (t0, _), (t1, m1) = e.terms
    assert t0.size == 2**1000 and m1 == 2**1000
    assert str(t0) == "B999(B998(…, …), B998(…, …))"
    assert all(len(line) < 400 for line in e.to_text().splitlines()[2:]) and "degree <= 2^1000" in e.to_text()
    assert "\\dots" in latex(e) and len(latex(e)) < 2000
    assert t0.layers == frozenset(range(1000)) and t1.leaf_names == {"x", "s"}
    values = e.evaluate([0.5], x_n=[0.5], numbers=FLOAT)
    assert values["input"].shape == (2, 1)
    small = expand(Network.random(layers=2, width=1, hidden=1, seed=0), steer_at=0)
    assert {str(t) for t, _ in small.terms} >= {"B1(B0(x, x), B0(x, x))", "B1(B0(x, s), B0(s, s))", "B1(B0(s, s), B0(s, s))"}


def test_long_terms_print_short_and_stay_distinct():
    # written out, a term of an 8-layer plain stack has 256 leaves; the short form keeps the
    # sub-terms that carry s, so distinct terms print differently
    from symsteer import latex

    e = expand(Network.random(layers=8, width=1, hidden=1, seed=0), steer_at=0, max_order=2)
    texts = [str(t) for t, _ in e.terms]
    assert len(set(texts)) == len(texts) == 10
    assert max(len(s) for s in texts) < 200 and texts[0] == "B7(…, …)"
    assert "B1(B0(x, x), B0(s, s))" in texts[2]
    body = latex(e)
    assert len({line.split("\\tag")[0].split("+", 1)[-1] for line in body.splitlines()}) >= 10


def test_exact_numbers_that_outgrow_the_limit_are_refused():
    # a plain stack squares its activations: after 60 layers the numbers would have 2^60 digits
    from symsteer import Bilinear
    from symsteer.numbers import MAX_EXACT_BITS

    net = Network(tuple(Bilinear([[1]], [[1]], [[3]]) for _ in range(60)))
    for run in (lambda: coefficients(net, x_n=[2], s=[1], steer_at=0, max_order=2),
                lambda: expand(net, steer_at=0, max_order=2).evaluate([1], x=[2]),
                lambda: expand(net, steer_at=0, max_order=2).evaluate([1], x_n=[2])):
        with pytest.raises(BudgetError, match=f"limit {MAX_EXACT_BITS}"):
            run()
    assert np.isfinite(coefficients(net, x_n=[0.5], s=[0.25], steer_at=50, max_order=2, numbers=FLOAT)).all()


def test_symbolic_products_too_large_are_refused_before_they_start():
    # regression: `symsteer report --weights symbolic --layers 3 --width 3` grew past every memory
    # limit inside flint's C code, where no time limit reaches
    import time

    net = Network.symbolic(layers=3, width=3, hidden=3, residual=True)
    start = time.perf_counter()
    with pytest.raises(BudgetError, match="symbolic products of one layer would have up to more than 200000000 terms"):
        expand(net, steer_at=0).polynomials()
    assert time.perf_counter() - start < 10
    ring, parts = expand(Network.symbolic(layers=2, width=2, hidden=2, residual=True), steer_at=0).polynomials()
    assert parts["cross"].shape == (5, 2)
