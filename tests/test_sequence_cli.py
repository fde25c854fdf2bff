"""The command line on sequence models: expand (text, json), check --sequence, refusals."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tensor_reference as ref
from symsteer import cli

_CAPSYS: Any = None

DATA = Path(__file__).parent / "data"
MODEL = str(DATA / "tensor_language_block2/model.npz")


@pytest.fixture(autouse=True)
def _capture(capsys: pytest.CaptureFixture[str]) -> None:
    global _CAPSYS
    _CAPSYS = capsys


def run(*args: str) -> tuple[int, str]:
    """The command as a user runs it (errors mapped to exit codes); stdout and stderr together."""
    code = cli.run(list(args))
    out = _CAPSYS.readouterr()
    return code, out.out + out.err


def test_expand_json_per_position_by_kind() -> None:
    code, out = run("expand", "--model", MODEL, "--heads", "2", "--tokens", "3,1,4,1", "--s", "1,0,0,0,0,0,0,-1/2",
                    "--positions", "from:2", "--max-order", "2", "--format", "json", "--exact")
    assert code == 0, out
    data = json.loads(out)
    assert data["positions"] == "from:2" and data["steered"] == [2, 3] and data["degree_bound"] == 100
    assert data["truncated"] and data["max_order"] == 2 and sorted(data["values"]) == ["0", "1", "2"]
    assert sorted(data["values"]["1"]) == ["const", "cross", "input", "self", "total"]
    table = np.array(data["values"]["1"]["total"], dtype=object)
    assert table.shape == (4, 7)  # (T, vocab)
    # exact entries are "p/q"; positions 0 and 1 come before the steered ones: zero
    assert all(v == "0" for v in table[:2].ravel()) and any(v != "0" for v in table[2:].ravel())
    # against the reference: the α¹ coefficient by exact interpolation of the independent forward
    arrays = dict(np.load(MODEL))
    model = {"embed": arrays["embed.weight"].astype(np.float64), "head": arrays["head.weight"].astype(np.float64), "layers": []}
    for i, kind in enumerate(["attn", "mlp", "attn", "mlp"]):
        keys = ("q1", "k1", "q2", "k2", "v", "o") if kind == "attn" else ("L", "R", "D")
        layer = {k: arrays[f"layers.{i}.{k}.weight"].astype(np.float64) for k in keys}
        layer |= {"kind": kind, "heads": 2, "rope": 10_000, "pattern": "bilinear",
                  "residual": "lerp" if kind == "attn" else "add", "scale": Fraction(1, 2)}
        model["layers"].append(layer)
    total = [[Fraction(v) for v in row] for row in table]
    # the α¹ coefficient is exact: compare it with the derivative of the reference forward in float
    s = np.array([1, 0, 0, 0, 0, 0, 0, -0.5])
    D = np.zeros((4, 8))
    D[2:] = s
    h = 1e-6
    plus = ref.forward_float(model, [3, 1, 4, 1], steer=(0, D, h))[-1]
    minus = ref.forward_float(model, [3, 1, 4, 1], steer=(0, D, -h))[-1]
    assert np.allclose(np.array([[float(v) for v in row] for row in total]), (plus - minus) / (2 * h), rtol=1e-5, atol=1e-9)


def test_expand_text_float_per_position_array(tmp_path: Path) -> None:
    S = np.zeros((3, 8))
    S[2, 0] = 1.0
    np.save(tmp_path / "S.npy", S)
    code, out = run("expand", "--model", MODEL, "--heads", "2", "--tokens", "0,5,6", "--s", str(tmp_path / "S.npy"),
                    "--positions", "last", "--float", "--max-order", "1")
    assert code == 0, out
    assert "steering block 0 at positions last = [2] of T = 3" in out
    assert "outputs before position 2 do not depend on α" in out
    assert "alpha^1 cross:" in out and "position 2:" in out


def test_expand_config_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"config": {"n_head": "2", "scale": "0.5", "norm": "False"}}))
    code, out = run("expand", "--model", MODEL, "--config", str(tmp_path / "config.json"), "--tokens", "1,2",
                    "--s", "1,1,1,1,1,1,1,1", "--max-order", "0", "--format", "json")
    assert code == 0, out
    assert json.loads(out)["values"]["0"]["total"]


@pytest.mark.parametrize("args, code, message", [
    (["--heads", "3", "--tokens", "1,2", "--s", "1,0,0,0,0,0,0,0"], 2, "n_head=3 does not divide d_model=8"),
    (["--heads", "2", "--tokens", "1,9", "--s", "1,0,0,0,0,0,0,0"], 2, "outside the vocabulary 0 … 6"),
    (["--heads", "2", "--tokens", "1,x", "--s", "1,0,0,0,0,0,0,0"], 2, "entry 1 is 'x'"),
    (["--heads", "2", "--tokens", "1,2", "--s", "1,0"], 2, "--s has shape (2,)"),
    (["--heads", "2", "--tokens", "1,2", "--s", "1,0,0,0,0,0,0,0", "--positions", "from:2"], 2, "is empty for a sequence of T=2"),
    (["--heads", "2", "--tokens", "1,2", "--s", "1,0,0,0,0,0,0,0", "--positions", "0,0"], 2, "more than once"),
    (["--heads", "2", "--tokens", "1,2"], 2, "needs --s"),
    (["--heads", "2", "--s", "1,0,0,0,0,0,0,0"], 2, "exactly one of --tokens"),
    (["--heads", "2", "--tokens", "1,2", "--s", "1,0,0,0,0,0,0,0", "--lerp-scale", "2"], 2, "0 ≤ λ ≤ 1"),
    (["--heads", "2", "--tokens", "1,2", "--s", "1,0,0,0,0,0,0,0", "--steer-at", "5"], 2, "--steer-at=5"),
])
def test_refused(args: list[str], code: int, message: str) -> None:
    got, out = run("expand", "--model", MODEL, *args)
    assert got == code, out
    assert message in out and "Traceback" not in out


def test_check_sequence() -> None:
    code, out = run("check", "--sequence")
    assert code == 0, out
    assert "32 passed, 0 failed" in out


def test_latex_and_report(tmp_path: Path) -> None:
    code, out = run("expand", "--model", MODEL, "--tokens", "3,1", "--s", "1,0,0,0,0,0,0,-1", "--positions", "last",
                    "--max-order", "6", "--float", "--format", "latex")
    assert code == 0, out
    assert r"\mathcal{A}^{(1)}_{0}(s_{1}, s_{1};\, s_{1}, s_{1}, s_{1}) \tag*{self}" in out
    assert r"\mathcal{A}^{(0)}_{0}(x_{1}, x_{1};\, x_{0}, x_{0}, x_{0}) \tag*{input}" in out
    assert "1$^\\ast$ &" in out  # the steered position is marked in the per-position table
    import shutil

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed")
    tex = tmp_path / "report.tex"
    code, out = run("report", "--model", MODEL, "--tokens", "3,1,4", "--s", "1,0,0,0,0,0,0,-1", "--positions", "from:1",
                    "--max-order", "8", "-o", str(tex), "--pdf")
    assert code == 0, out
    assert tex.with_suffix(".pdf").stat().st_size > 0
    assert r"\begin{tabular}" in tex.read_text()


def test_effect_on_a_sequence_model() -> None:
    # the whole polynomial (degree 100): it must reproduce the forward passes at every α
    code, out = run("effect", MODEL, "--steer-at", "0", "--s", "4,0,0,0,0,0,0,-4", "--tokens", "3,1,4,1",
                    "--positions", "last", "--alpha", "-2:2:5", "--max-order", "100", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert not data["truncated"] and data["degree_bound"] == 100
    assert all(r["difference"] <= 1e-9 for r in data["alphas"])
    assert all(v == 0 for v in data["self_norms"]["1"][:3]) and data["self_norms"]["1"][3] > 0
    # truncated: reported as a truncation error, not a failure
    code, out = run("effect", MODEL, "--steer-at", "0", "--s", "4,0,0,0,0,0,0,-4", "--tokens", "3,1,4,1",
                    "--positions", "last", "--alpha", "-2:2:9")
    assert code == 0, out
    assert "truncation error" in out and "argmax changes:" in out
