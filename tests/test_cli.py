"""The CLI for the core: expand and check, their output and exit codes."""

import json

import numpy as np
import pytest

from symsteer import cli
from symsteer import Network, save_model


def run(args, capsys):
    code = cli.run(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_expand_readable_terms_grouped_by_order_and_kind(capsys):
    code, out, _ = run(["expand", "--layers", "2", "--residual", "--width", "2", "--hidden", "2", "--max-order", "2"], capsys)
    assert code == 0
    assert "17 distinct terms" in out
    assert "alpha^1: cross 5, self 1" in out
    assert "    4*B1(x, B0(x, s))" in out
    assert out.rstrip().endswith("+ O(alpha^3)")


def test_expand_json_exact_values_match_library(capsys):
    args = ["expand", "--layers", "2", "--residual", "--bias", "--width", "2", "--weights", "rational",
            "--s", "1,-1/2", "--x", "2,1", "--format", "json"]
    code, out, _ = run(args, capsys)
    assert code == 0
    data = json.loads(out)
    assert data["degree_bound"] == 4 and not data["truncated"]
    from symsteer import EXACT, Network, forward

    net = Network.random(layers=2, width=2, hidden=2, residual=True, bias=True, kind="rational", seed=0)
    from fractions import Fraction

    y = forward(net, [2, 1], numbers=EXACT, steer_at=0, s=[1, Fraction(-1, 2)], alpha=3)

    total = [sum(Fraction(data["values"][str(m)]["total"][k]) * 3**m for m in range(5)) for k in range(2)]
    assert total == [Fraction(int(v.p), int(v.q)) for v in y]
    for m in range(5):
        row = data["values"][str(m)]
        assert [sum(Fraction(row[k][i]) for k in ("input", "cross", "self", "const")) for i in range(2)] == [Fraction(v) for v in row["total"]]


def test_expand_coefficients_symbolic(capsys):
    code, out, _ = run(["expand", "--layers", "1", "--width", "1", "--weights", "symbolic", "--coefficients"], capsys)
    assert code == 0
    assert "alpha^2 self: [P^{(0)}_{1,1}*V^{(0)}_{1,1}*W^{(0)}_{1,1}*s_1**2]" in out


def test_expand_from_model_file(tmp_path, capsys):
    net = Network.random(layers=1, width=2, hidden=3, residual=True, seed=1, unembed=2)
    save_model(net, tmp_path / "m.npz")
    np.save(tmp_path / "s.npy", np.array([1.0, 0.5]))
    code, out, _ = run(["expand", "--model", str(tmp_path / "m.npz"), "--s", str(tmp_path / "s.npy"), "--x", "1,1", "--float"], capsys)
    assert code == 0 and "residual network, 1 layer(s)" in out and "total=[" in out


@pytest.mark.parametrize("args, code, message", [
    (["expand", "--steer-at", "5"], 2, "--steer-at=5 but the model has 2 layers"),
    (["expand", "--layers", "0"], 2, "layers=0; expected a positive integer"),
    (["expand", "--width", "0"], 2, "width=0; expected a positive integer"),
    (["expand", "--max-order", "-1"], 2, "--max-order=-1"),
    (["expand", "--s", "1,2"], 2, "--s and --x go together"),
    (["expand", "--s", "1,zz", "--x", "1,2"], 2, "--s: entry 1 is 'zz'"),
    (["expand", "--s", "1,2,3", "--x", "1,2"], 2, "has shape (3,); expected a vector of length 2"),
    (["expand", "--model", "missing.npz"], 3, "missing.npz: no such file"),
    (["expand", "--model", "m.npz", "--layers", "2"], 2, "--model conflicts with --layers"),
    (["expand", "--weights", "symbolic", "--seed", "1"], 2, "--seed conflicts with --weights symbolic"),
    (["expand", "--layers", "5", "--residual", "--s", "1,1", "--x", "1,1"], 2, "budget 300000); pass --max-order=1 or lower"),
    (["expand", "--bogus"], 2, "No such option"),
])
def test_bad_input_exit_codes(args, code, message, capsys):
    got, out, err = run(args, capsys)
    assert got == code
    assert message in err
    assert "Traceback" not in err + out


def test_bad_model_file(tmp_path, capsys):
    (tmp_path / "m.npz").write_bytes(b"not a zip")
    code, _, err = run(["expand", "--model", str(tmp_path / "m.npz")], capsys)
    assert code == 3 and "m.npz" in err
    np.savez(tmp_path / "w.npz", **{"layers.0.W": np.ones((2, 2)), "layers.0.V": np.ones((2, 2)), "layers.0.P": np.ones((3, 2)), "layers.1.W": np.ones((2, 2)), "layers.1.V": np.ones((2, 2)), "layers.1.P": np.ones((2, 2))})
    code, _, err = run(["expand", "--model", str(tmp_path / "w.npz")], capsys)
    assert code == 3 and "layers[1].W has shape (2, 2); expected (h, 3)" in err


def test_over_budget_text_lists_counts_only(capsys):
    code, out, _ = run(["expand", "--layers", "6", "--residual"], capsys)
    assert code == 0
    assert "alpha^1: cross" in out and "terms not listed" in out


def test_output_file_written_atomically(tmp_path, capsys):
    target = tmp_path / "out.json"
    code, out, _ = run(["expand", "--layers", "1", "--format", "json", "-o", str(target)], capsys)
    assert code == 0 and out == ""
    assert json.loads(target.read_text())["total_terms"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_check_command(capsys):
    code, out, _ = run(["check"], capsys)
    assert code == 0
    assert out.strip().splitlines()[-1].startswith("36 passed, 0 failed")


def test_version_and_help(capsys):
    assert run(["--version"], capsys)[1].startswith("symsteer ")
    code, out, _ = run(["-h"], capsys)
    assert code == 0 and "Exit codes" in out
