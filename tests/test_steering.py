"""Steering vectors from activations and from inputs run through a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from symsteer import cli
from symsteer import Network, ShapeError, stream
from symsteer.io import load_model, save_model
from symsteer.steering import activations, steering_from_inputs, steering_vector

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("h, q, expected", [
    ([[1.0, 2.0], [3.0, 2.0]], [[0.0, 1.0]], [2.0, 1.0]),
    ([[1, 1]], [[1, 1], [3, 5]], [-1.0, -2.0]),            # integers, unequal counts
    ([0.5, 0.25], [[0.0, 0.0], [1.0, 0.5]], [0.0, 0.0]),   # one vector is a batch of one
])
def test_mean_difference(h, q, expected):
    assert steering_vector(h, q).tolist() == expected


def test_normalised_vector_has_unit_norm(rng):
    h, q = rng.standard_normal((7, 5)), rng.standard_normal((4, 5))
    s = steering_vector(h, q, normalize=True)
    assert np.isclose(np.linalg.norm(s), 1.0) and np.allclose(s * np.linalg.norm(steering_vector(h, q)), steering_vector(h, q))


@pytest.mark.parametrize("h, q, kwargs, message", [
    ([[1.0, 2.0]], [[1.0, 2.0, 3.0]], {}, "h has width 2 but q has width 3"),
    (np.zeros((0, 2)), [[1.0, 2.0]], {}, "expected a non-empty batch"),
    ([[1.0, np.nan]], [[1.0, 2.0]], {}, "h has NaN or infinite entries"),
    ([["a", "b"]], [[1.0, 2.0]], {}, "h has dtype <U1; expected real numbers"),
    ([[1.0, 2.0]], [[1.0, 2.0]], {"normalize": True}, "zero vector; it cannot be normalised"),
    (np.zeros((2, 2, 2)), [[1.0, 2.0]], {}, "expected a non-empty batch (N, width)"),
])
def test_bad_activations(h, q, kwargs, message):
    with pytest.raises(ShapeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        steering_vector(h, q, **kwargs)


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_activations_are_the_stream_at_layer_n(rng, layer):
    net = Network.random(layers=2, width=3, hidden=2, residual=True, embed=4, kind="float", seed=2)
    x = rng.standard_normal((6, 4))
    assert np.array_equal(activations(net, x, layer=layer), stream(net, x)[layer])
    s = steering_from_inputs(net, x[:3], x[3:], steer_at=layer)
    acts = stream(net, x)[layer]
    assert np.allclose(s, acts[:3].mean(0) - acts[3:].mean(0), rtol=0, atol=1e-12)


def test_inputs_of_the_wrong_width():
    net = Network.random(layers=1, width=2, hidden=2, embed=4, kind="float", seed=0)
    with pytest.raises(ShapeError, match=r"inputs has shape \(1, 3\); expected \(N, 4\)"):
        activations(net, [[1.0, 2.0, 3.0]], layer=0)
    with pytest.raises(ShapeError, match="steer_at=2 but the model has 1 layers"):
        activations(net, [[1.0, 2.0, 3.0, 4.0]], layer=2)


def test_digits_three_minus_eight_matches_the_shipped_vector():
    """The shipped s was built by train_digits.py in plain numpy; symsteer rebuilds it exactly."""
    pytest.importorskip("sklearn", reason="the digits data come with scikit-learn")
    import sys

    sys.path.insert(0, str(EXAMPLES))
    try:
        from train_digits import load_data
    finally:
        sys.path.remove(str(EXAMPLES))
    x_tr, _, y_tr, _ = load_data()
    net = load_model(EXAMPLES / "digits.npz")
    s = steering_from_inputs(net, x_tr[y_tr == 3], x_tr[y_tr == 8], steer_at=0)
    assert np.array_equal(s, np.load(EXAMPLES / "s_3_minus_8.npy"))


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_steer_from_activations_and_from_inputs(tmp_path, rng, capsys):
    net = Network.random(layers=2, width=3, hidden=2, residual=True, embed=4, kind="float", seed=1)
    save_model(net, tmp_path / "m.safetensors")
    h, q = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
    np.save(tmp_path / "h.npy", h)
    np.save(tmp_path / "q.npy", q)
    code = cli.run(["steer", "--model", str(tmp_path / "m.safetensors"), "--steer-at", "1", "--h", str(tmp_path / "h.npy"),
                    "--q", str(tmp_path / "q.npy"), "--normalize", "-o", str(tmp_path / "s.npy")])
    out = capsys.readouterr().out
    assert code == 0 and "5 vs 3 vector(s), width 3" in out and "(normalised)" in out
    assert np.array_equal(np.load(tmp_path / "s.npy"), steering_from_inputs(net, h, q, steer_at=1, normalize=True))
    np.save(tmp_path / "ah.npy", activations(net, h, layer=1))
    np.save(tmp_path / "aq.npy", activations(net, q, layer=1))
    code = cli.run(["steer", "--h", str(tmp_path / "ah.npy"), "--q", str(tmp_path / "aq.npy"), "-o", str(tmp_path / "s2.npy")])
    assert code == 0
    assert np.array_equal(np.load(tmp_path / "s2.npy"), steering_from_inputs(net, h, q, steer_at=1))


COMMON = ["--q", "q.npy", "-o", "s.npy"]


@pytest.mark.parametrize("args, code, message", [
    (["--h", "h.npy", "--model", "m.npz"], 2, "--model and --steer-at go together"),
    (["--h", "h.npy", "--residual"], 2, "need --model"),
    (["--h", "h.txt"], 2, "--h='h.txt'; expected a .npy file"),
    (["--h", "missing.npy"], 3, "missing.npy: no such file"),
    (["--h", "wide.npy"], 2, "h has width 4 but q has width 3"),
    (["--h", "h.npy", "--model", "none.npz", "--steer-at", "0"], 3, "none.npz: no such file"),
])
def test_cli_steer_errors(tmp_path, capsys, monkeypatch, args, code, message):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "h.npy", np.ones((2, 3)))
    np.save(tmp_path / "wide.npy", np.ones((2, 4)))
    np.save(tmp_path / "q.npy", np.zeros((2, 3)))
    got = cli.run(["steer", *args, *COMMON])
    err = capsys.readouterr().err
    assert got == code and message in err and "Traceback" not in err
    assert not (tmp_path / "s.npy").exists()
