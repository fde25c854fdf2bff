from fractions import Fraction

import numpy as np
import pytest
import sympy

from symsteer import Bilinear, ShapeError

x1, x2, s1, s2, a = sympy.symbols("x1 x2 s1 s2 a")

# (W, V, P, u, B(u,u)) computed by hand
LAYER_CASES = [
    ([[1, 0]], [[0, 1]], [[1], [2]], [3, 5], [15, 30]),
    ([[1, 1]], [[1, -1]], [[1]], [2, 1], [3]),
    ([[2], [1]], [[1], [1]], [[1, 1]], [3], [27]),
    ([[Fraction(1, 2), 0]], [[1, 1]], [[3]], [2, 4], [18]),
]


@pytest.mark.parametrize("W, V, P, u, expected", LAYER_CASES)
def test_layer_output_by_hand(W, V, P, u, expected):
    layer = Bilinear(W, V, P)
    assert list(layer(u)) == expected
    assert list(layer.bilinear(u, u)) == expected


def test_tensor_definition_and_symmetric_part(rng):
    layer = Bilinear.random(3, 4, 2, rng=rng, kind="rational")
    B, Bh = layer.tensor(), layer.symmetric()
    W, V, P, _, _ = layer.matrices
    for k in range(2):
        for i in range(3):
            for j in range(3):
                assert B[k, i, j] == sum(P[k, q] * W[q, i] * V[q, j] for q in range(4))
                assert Bh[k, i, j] == Bh[k, j, i] == (B[k, i, j] + B[k, j, i]) / 2


def test_only_symmetric_part_reaches_output(rng):
    layer = Bilinear.symbolic(2, 2)
    x = sympy.Matrix([x1, x2])
    Bh = layer.symmetric()
    via_sym = [sympy.expand(sum(Bh[k, i, j] * x[i] * x[j] for i in range(2) for j in range(2))) for k in range(2)]
    assert list(layer(x)) == via_sym


def test_cross_map_and_self_term():
    layer = Bilinear.symbolic(2, 3)
    x, s = sympy.Matrix([x1, x2]), sympy.Matrix([s1, s2])
    cross = (layer.bilinear(x, s) + layer.bilinear(s, x)).applyfunc(sympy.expand)
    assert (layer.cross_map(s) * x).applyfunc(sympy.expand) == cross
    assert (2 * layer.symmetric_bilinear(x, s)).applyfunc(sympy.expand) == cross
    assert layer.self_term(s) == layer.bilinear(s, s)
    steered = layer(x + a * s).applyfunc(sympy.expand)
    assert steered == (layer(x) + a * cross + a**2 * layer.self_term(s)).applyfunc(sympy.expand)


def test_homogeneous_without_bias_not_with_bias():
    plain = Bilinear([[1]], [[1]], [[1]])
    biased = Bilinear([[1]], [[1]], [[1]], b=[1], c=[0])
    assert plain([2])[0] == 4 * plain([1])[0]
    assert biased([2])[0] == 6 and 4 * biased([1])[0] == 8


def test_weights_keep_their_kind():
    assert Bilinear([[1]], [[2]], [[3]]).field == "rational"
    assert Bilinear(np.array([[1.5]]), [[2]], [[3]]).field == "float"
    assert Bilinear([[sympy.Symbol("w")]], [[2]], [[3]]).field == "symbolic"
    assert Bilinear([[Fraction(1, 3)]], [[2]], [[3]]).W[0, 0] == sympy.Rational(1, 3)


BAD_LAYERS = [
    (dict(W=[[1, 2]], V=[[1]], P=[[1]]), "layer.V has shape (1, 1); expected (1, 2)"),
    (dict(W=[[1]], V=[[1]], P=[[1, 2]]), "layer.P has shape (1, 2); expected (d_out, 1)"),
    (dict(W=[[1]], V=[[1]], P=[[1]], b=[1]), "biases b and c go together"),
    (dict(W=[[1]], V=[[1]], P=[[1]], b=[1, 2], c=[1, 2]), "layer.b has shape (2,); expected (1,)"),
    (dict(W=[[float("nan")]], V=[[1]], P=[[1]]), "expected finite numbers"),
    (dict(W=[["1"]], V=[[1]], P=[[1]]), "expected a number or a sympy expression"),
    (dict(W=[[True]], V=[[1]], P=[[1]]), "boolean"),
    (dict(W=np.zeros((0, 2)), V=np.zeros((0, 2)), P=[[1]]), "expected non-zero widths"),
    (dict(W=[1, 2], V=[[1]], P=[[1]]), "expected a 2-d array"),
]


@pytest.mark.parametrize("kwargs, message", BAD_LAYERS)
def test_bad_layers_name_the_value(kwargs, message):
    with pytest.raises(ShapeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Bilinear(**kwargs)


def test_dense_tensor_refused_for_large_widths():
    layer = Bilinear(np.ones((2, 200)), np.ones((2, 200)), np.ones((200, 2)))
    with pytest.raises(ShapeError, match="two-argument form"):
        layer.tensor()
