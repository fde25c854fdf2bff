"""What the weights say about a steering vector, checked against forward passes and the reference."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sympy

from symsteer import cli
import symsteer.effect as effect_module
from symsteer import RTOL, Network, ShapeError, forward, stream
from symsteer._check import relative_error
from symsteer.effect import (
    class_eigen, cross_map, effect, eigen, eigen_explained, interaction_matrix, parse_alphas, self_terms, sweep,
    truncated_logits,
)
from symsteer.io import load_model

from conftest import reference_coefficients

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DIGITS = EXAMPLES / "digits.npz"
S38 = EXAMPLES / "s_3_minus_8.npy"
INPUTS = EXAMPLES / "test_inputs.npy"


# -- the digits model: the acceptance test ---------------------------------------------


def test_digits_effect_agrees_with_forward_passes_for_20_alphas(capsys):
    """`symsteer effect` on the digits model: every logit's α-polynomial against the model's
    own forward pass at 20 values of α in [−10, 10], to 1e-9 relative, recomputed here."""
    code = cli.run(["effect", str(DIGITS), "--steer-at", "0", "--s", str(S38), "--inputs", str(INPUTS),
                    "--alpha", "-10:10:20", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    alphas = data["inputs"]["alphas"]
    assert len(alphas) == 20 and min(alphas) == -10 and max(alphas) == 10
    assert data["inputs"]["max_relative_error"] <= RTOL
    net, s, x = load_model(DIGITS), np.load(S38), np.load(INPUTS)
    coeffs = np.array(data["inputs"]["coefficients"])        # (N, d_out, K+1)
    assert coeffs.shape == (20, 10, 3)
    for a in alphas:
        predicted = coeffs @ (a ** np.arange(3))
        assert relative_error(predicted, forward(net, x, steer_at=0, s=s, alpha=a)) <= RTOL


def test_digits_effect_text_report(capsys):
    code = cli.run(["effect", str(DIGITS), "--steer-at", "0", "--s", str(S38), "--inputs", str(INPUTS), "--exact", "--show", "1"])
    out = capsys.readouterr().out
    assert code == 0
    for fragment in ["cross map U M_s E (network input 64 → logits 10)", "singular values: 20.31", "alpha^2  |.| = 7.0799",
                     "in exact rationals: 0 entries differ", "68 change(s), 68 verified", "y_9 = ", "## strongly +"]:
        assert fragment in out, fragment
    grid_rows = [line for line in out.splitlines() if line.startswith("      ") and set(line.strip()) <= set("=-.+# ")]
    assert len(grid_rows) == 8 and all(len(r.strip().split("   ")) == 3 for r in grid_rows)


def test_digits_self_terms_are_U_s_and_U_B_s_s():
    net, s = load_model(DIGITS), np.load(S38)
    layer = net.layers[0]
    got = self_terms(net, s, steer_at=0)
    assert np.array_equal(got[0], np.zeros(10))
    assert relative_error(got[1], net.unembed @ s) <= RTOL
    assert relative_error(got[2], net.unembed @ (layer.P @ ((layer.W @ s) * (layer.V @ s)))) <= RTOL


# -- weights-only parts against the independent reference ---------------------------------------

SHAPES = [
    # (layers, residual, bias, steer_at, embed, unembed)
    (1, True, False, 0, 3, 2),
    (2, True, False, 0, None, 2),
    (2, True, False, 1, 3, None),
    (2, False, False, 0, None, None),
    (3, False, False, 1, 2, 3),
    (2, True, True, 0, None, 2),
    (1, False, True, 0, 3, None),
    (2, True, False, 2, None, 2),
]


@pytest.mark.parametrize("layers, residual, bias, steer_at, embed, unembed", SHAPES)
def test_self_terms_are_the_reference_at_x_zero(layers, residual, bias, steer_at, embed, unembed, rng):
    net = Network.random(layers=layers, width=2, hidden=2, residual=residual, bias=bias, embed=embed, unembed=unembed,
                         kind="rational", seed=rng)
    s = rng.integers(-3, 4, size=2).tolist()
    x_zero = [0] * net.d_in  # x = 0 gives x_n = 0 here: no biases before the steering point
    reference = np.array(reference_coefficients(net, x_zero, s, steer_at), dtype=object).astype(float)
    assert relative_error(self_terms(net, s, steer_at=steer_at), reference) <= RTOL


@pytest.mark.parametrize("layers, residual, bias, steer_at, embed, unembed", SHAPES)
def test_cross_map_is_the_layers_exact_cross_map(layers, residual, bias, steer_at, embed, unembed, rng):
    net = Network.random(layers=layers, width=3, hidden=2, residual=residual, bias=bias, embed=embed, unembed=unembed,
                         kind="rational", seed=rng)
    s = [Fraction(int(v), 3) for v in rng.integers(-3, 4, size=3)]
    got = cross_map(net, s, steer_at=steer_at)
    if steer_at == layers:
        assert got is None
        return
    M = sympy.Matrix(net.layers[steer_at].cross_map(s))
    formula = "M_s"
    if steer_at == layers - 1 and unembed:
        M, formula = sympy.Matrix(net.unembed.tolist()) * M, "U M_s"
    if steer_at == 0 and embed:
        M, formula = M * sympy.Matrix(net.embed.tolist()), formula + " E"
    assert got.formula == formula
    assert relative_error(got.matrix, np.array(M.tolist(), dtype=float)) <= RTOL
    # the SVD reassembles the map, and each direction's largest entry is positive
    assert relative_error(got.outputs.T @ np.diag(got.singular_values) @ got.directions, got.matrix) <= RTOL
    assert np.all(got.directions[np.arange(len(got.directions)), np.argmax(np.abs(got.directions), axis=1)] > 0)


def test_cross_map_times_the_input_is_the_order_one_cross_part(rng):
    net = Network.random(layers=1, width=4, hidden=3, residual=True, embed=5, unembed=3, kind="float", seed=rng)
    s, x = rng.standard_normal(4), rng.standard_normal((6, 5))
    sw = sweep(net, s, x, steer_at=0)
    assert relative_error(sw.parts["cross"][1], x @ cross_map(net, s, steer_at=0).matrix.T) <= RTOL


# -- sweeps: overtaking and argmax changes -------------------------------------------------------


def norms_at(sw, alpha):
    powers = alpha ** np.arange(sw.total.shape[0])
    own = np.linalg.norm(np.einsum("m,mnk->nk", powers, sw.parts["self"]), axis=-1)
    cross = np.linalg.norm(np.einsum("m,mnk->nk", powers, sw.parts["cross"]), axis=-1)
    return own, cross


@pytest.mark.parametrize("layers, residual, steer_at", [(1, True, 0), (2, True, 0), (2, False, 0), (2, True, 1), (3, True, 1)])
def test_self_overtakes_cross_beyond_the_thresholds(layers, residual, steer_at, rng):
    net = Network.random(layers=layers, width=3, hidden=3, residual=residual, unembed=4, kind="float", seed=rng)
    s, x = rng.standard_normal(3), rng.standard_normal((5, 3))
    sw = sweep(net, s, x, steer_at=steer_at)
    grid = np.linspace(-30, 30, 6001)
    own, cross = np.array([norms_at(sw, a) for a in grid]).transpose(1, 0, 2)  # (G, N) each
    for i in range(x.shape[0]):
        lo, hi = sw.overtake[i]
        assert lo <= 0 <= hi
        beyond = ((grid > hi) | (grid < lo)) & (np.abs(grid) > 1e-9)
        assert np.all(own[beyond, i] >= cross[beyond, i] * (1 - 1e-9))
        for edge in (lo, hi):
            if np.isfinite(edge) and edge != 0 and abs(edge) < 29:
                inside = np.abs(grid - edge * (1 - 1e-3)) < 0.02  # just inside: cross still at least as large
                assert np.any(own[inside, i] <= cross[inside, i] * (1 + 1e-6))


@pytest.mark.parametrize("seed", range(4))
def test_argmax_changes_match_a_dense_grid_of_forward_passes(seed):
    rng = np.random.default_rng(seed)
    net = Network.random(layers=2, width=3, hidden=3, residual=True, embed=4, unembed=5, kind="float", seed=rng)
    s, x = rng.standard_normal(3), rng.standard_normal((4, 4))
    sw = sweep(net, s, x, steer_at=0, alphas=np.linspace(-5, 5, 11))
    grid = np.linspace(-5, 5, 4001)
    for i in range(x.shape[0]):
        changes = sw.changes[i]
        assert all(c.verified for c in changes)
        predicted = np.full(grid.shape, changes[0].before if changes else np.argmax(sw.total[0, i]))
        for c in changes:
            predicted[grid > c.alpha] = c.after
        near = np.zeros(grid.shape, dtype=bool)
        for c in changes:
            near |= np.abs(grid - c.alpha) < 1e-6
        actual = np.array([np.argmax(forward(net, x[i], steer_at=0, s=s, alpha=a)) for a in grid])
        assert np.array_equal(predicted[~near], actual[~near])


def test_exact_mode_finds_no_difference_on_float_weights(rng):
    net = Network.random(layers=2, width=2, hidden=2, residual=True, bias=True, unembed=3, kind="float", seed=rng)
    sw = sweep(net, rng.standard_normal(2), rng.standard_normal((3, 2)), steer_at=0, alphas=[-2.5, 0.1, 3.0], exact=True)
    assert sw.exact_mismatches == 0 and sw.error <= RTOL


def test_a_wrong_polynomial_is_caught(monkeypatch, capsys):
    """The comparison can fail: perturb the core's coefficients and the CLI exits 1."""
    real = effect_module.split_coefficients

    def wrong(*args, **kwargs):
        parts = real(*args, **kwargs)
        parts["self"][2] = parts["self"][2] * (1 + 1e-6)
        return parts

    monkeypatch.setattr(effect_module, "split_coefficients", wrong)
    code = cli.run(["effect", str(DIGITS), "--steer-at", "0", "--s", str(S38), "--inputs", str(INPUTS)])
    out = capsys.readouterr().out
    assert code == 1 and "FAILED" in out


# -- reports ------------------------------------------------------------------------------------


def test_report_without_inputs_and_at_the_last_stream():
    net = Network.random(layers=2, width=3, hidden=2, residual=True, unembed=2, kind="float", seed=0)
    text = effect(net, [1.0, 0.0, -1.0], steer_at=2).to_text()
    assert "no layer after x_2" in text and "with " not in text
    data = effect(net, [1.0, 0.0, -1.0], steer_at=1).to_json()
    assert data["cross_map"]["formula"] == "U M_s" and "inputs" not in data
    assert data["self"]["1"] == self_terms(net, [1.0, 0.0, -1.0], steer_at=1)[1].tolist()
    text = effect(net, [1.0, 0.0, -1.0], steer_at=0).to_text()
    assert "cross map M_s (x_0 3 → x_1 3)" in text and "largest input entries" in text


def test_json_is_plain_json(tmp_path, capsys):
    out = tmp_path / "e.json"
    code = cli.run(["effect", str(DIGITS), "--steer-at", "0", "--s", str(S38), "--inputs", str(INPUTS), "--format", "json",
                    "-o", str(out)])
    data = json.loads(out.read_text())
    assert code == 0 and capsys.readouterr().out == ""
    assert data["cross_map"]["image_shape"] == [8, 8] and len(data["cross_map"]["directions"][0]) == 64
    assert len(data["inputs"]["overtake"]) == 20 and data["inputs"]["exact_mismatches"] is None
    assert all(c["verified"] for row in data["inputs"]["argmax_changes"] for c in row)


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    net, s = load_model(DIGITS), np.load(S38)
    for inputs in (None, np.load(INPUTS)[:3]):
        path = tmp_path / "e.png"
        effect(net, s, steer_at=0, inputs=inputs).plot(str(path))
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        path.unlink()


@pytest.mark.parametrize("text, expected", [
    ("-10:10:21", tuple(float(v) for v in range(-10, 11))),
    ("0.5, -2, 1e1", (0.5, -2.0, 10.0)),
    ("3:3:1", (3.0,)),
])
def test_parse_alphas(text, expected):
    assert parse_alphas(text) == expected


@pytest.mark.parametrize("args, code, message", [
    (["--alpha", "1:2"], 2, "--alpha='1:2'; expected start:stop:count"),
    (["--alpha", "1,__import__('os')"], 2, "expected start:stop:count"),
    (["--alpha", "0:1:0"], 2, "expected start:stop:count"),
    (["--alpha", "nan"], 2, "non-finite"),
    (["--image-shape", "8by8"], 2, "--image-shape='8by8'; expected RxC"),
    (["--image-shape", "4x4"], 2, "image_shape=(4, 4); expected rows × cols = 64"),
    (["--s", "1,2"], 2, "s has shape (2,); expected a vector of length 24"),
    (["--steer-at", "2"], 2, "--steer-at=2 but the model has 1 layers"),
    (["--top", "-1"], 2, "--top=-1"),
    (["--keys", "k.toml", "--layout", "symsteer"], 2, "--keys conflicts with --layout"),
])
def test_cli_effect_errors(args, code, message, capsys):
    base = {"--steer-at": "0", "--s": str(S38), "--inputs": str(INPUTS)}
    extra = []
    for flag, value in zip(args[::2], args[1::2]):
        if flag in base:
            base[flag] = value
        else:
            extra += [flag, value]
    got = cli.run(["effect", str(DIGITS), *[x for kv in base.items() for x in kv], *extra])
    err = capsys.readouterr().err
    assert got == code and message in err and "Traceback" not in err


def test_cli_effect_missing_model(capsys):
    assert cli.run(["effect", "nowhere.safetensors", "--steer-at", "0", "--s", "1"]) == 3
    assert "nowhere.safetensors: no such file" in capsys.readouterr().err


# -- eigen-analysis ------------------------------------------------------------------------------


@pytest.mark.parametrize("d, h, d_out", [(2, 2, 2), (3, 4, 2), (3, 2, 3)])
def test_interaction_matrix_is_the_contracted_symmetric_tensor(d, h, d_out, rng):
    net = Network.random(layers=1, width=d, hidden=h, kind="int", seed=rng)
    from symsteer import Bilinear

    layer = Bilinear(net.layers[0].W, net.layers[0].V, Network.random(layers=1, width=h, hidden=d_out, kind="int", seed=rng).layers[0].W)
    u = rng.integers(-3, 4, size=d_out)
    B = layer.symmetric()
    dense = np.array([[sum(int(u[k]) * B[k, i, j] for k in range(d_out)) for j in range(d)] for i in range(d)], dtype=float)
    Q = interaction_matrix(layer, u)
    assert np.array_equal(Q, Q.T) and relative_error(Q, dense) <= RTOL
    x = rng.standard_normal(d)
    y = np.array(layer.bilinear(x.tolist(), x.tolist()), dtype=float).ravel()
    assert relative_error(x @ Q @ x, u @ y) <= RTOL
    e = eigen(layer, u)
    assert np.all(np.diff(np.abs(e.values)) <= 1e-12) and relative_error(e.contributions(x).sum(), x @ Q @ x) <= RTOL


def test_truncation_keeps_everything_else_exactly(rng):
    net = Network.random(layers=2, width=3, hidden=4, residual=True, bias=True, embed=5, unembed=4, kind="float", seed=rng)
    x = rng.standard_normal((7, 5))
    assert relative_error(truncated_logits(net, x, 3), forward(net, x)) <= RTOL  # k = d: nothing cut
    cut = truncated_logits(net, x, 0)
    last = stream(net, x)[1]
    for c in range(4):
        Q = interaction_matrix(net.layers[1], net.unembed[c])
        assert relative_error(cut[:, c], forward(net, x)[:, c] - np.einsum("ni,ij,nj->n", last, Q, last)) <= RTOL


def test_digits_few_eigenvectors_explain_most_of_each_logit():
    net, x = load_model(DIGITS), np.load(INPUTS)
    labels = np.load(EXAMPLES / "test_labels.npy")
    rows = {r["k"]: r for r in eigen_explained(net, x, labels=labels, ks=(1, 4, 8, 24))}
    assert rows[24]["r2_min"] > 1 - 1e-9 and rows[24]["argmax_kept"] == 1.0
    assert rows[8]["r2_mean"] > 0.99 and rows[8]["argmax_kept"] == 1.0
    assert rows[1]["r2_mean"] < rows[4]["r2_mean"] < rows[8]["r2_mean"]
    e = class_eigen(net, 3)
    assert e.inputs.shape == (24, 64)
    assert relative_error(e.inputs[0], net.embed.T @ e.vectors[:, 0]) <= RTOL
    # the self term of class c is the class's quadratic form at s
    s = np.load(S38)
    assert relative_error(class_eigen(net, 1).contributions(s).sum(), self_terms(net, s, steer_at=0)[2][1]) <= RTOL


def test_bad_class_and_shapes():
    net = load_model(DIGITS)
    with pytest.raises(ShapeError, match="class 10; expected 0 ≤ class < 10"):
        class_eigen(net, 10)
    with pytest.raises(ShapeError, match="u has shape"):
        interaction_matrix(net.layers[0], [1.0, 2.0])
    with pytest.raises(ShapeError, match="expected one vector of length 24"):
        effect(net, np.ones((2, 24)), steer_at=0)
