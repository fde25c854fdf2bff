"""The embedding E (``[model] embed = k``: x_0 = E y for a k-wide input y) and one-hot tokens
``onehot(i)`` in claims: each verdict below was decided by hand first; the every-width prover
stays out (it knows no E); counterexamples and proofs replay in tools/replay.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from symsteer import cli
from symsteer.claims import load_claim, verify
from symsteer.errors import ClaimFileError
from symsteer.verifier.language import StatementError, parse_statement

REPLAY = Path(__file__).resolve().parent.parent / "tools" / "replay.py"

ONE = "layers = [1]\nsizes = [[2, 2]]\nembed = 2"
BOTH = "layers = [1, 2]\nsizes = [[2, 2], [3, 2]]\nembed = 2"

# (statement, assumptions, [model], verdict), each decided by hand:
TABLE = [
    # M_s E is a product of generic matrices: nonzero (s = e2, E = e1 e2ᵀ, … is a witness)
    ("cross_map(s) @ E == 0", [], ONE, "fails"),
    # M_0 = 0 whatever E is
    ("cross_map(s) @ E == 0", ["s == 0"], ONE, "holds"),
    # f(E (a y)) = f(a E y) = a^(2^L) f(E y): plain bias-free f is homogeneous of degree 2^L and E is linear
    ("f(a*onehot(1)) == a**(2**L) * f(onehot(1))", [], BOTH, "holds"),
    # with biases f(0) = P(b ⊙ c) ≠ 0 breaks homogeneity (a = 0)
    ("f(a*onehot(1)) == a**(2**L) * f(onehot(1))", [], ONE + "\nbias = true", "fails"),
    # residual: x + B(x) mixes degrees 1 and 2
    ("f(a*onehot(1)) == a**(2**L) * f(onehot(1))", [], ONE + "\nresidual = true", "fails"),
    # x_0 = E y, and f of the input is the layers applied from the stream at layer 0
    ("stream(onehot(1), 0) == E @ onehot(1)", [], ONE, "holds"),
    ("f(onehot(0)) == from_layer(E @ onehot(0), 0)", [], BOTH, "holds"),
    # E e_0 is E's first column: generic, not zero
    ("E @ onehot(0) == 0", [], ONE, "fails"),
    # M_u v = B(u, v) + B(v, u) is symmetric in u and v, here u, v the embedded tokens
    ("cross_map(E @ onehot(0)) @ E @ onehot(1) == cross_map(E @ onehot(1)) @ E @ onehot(0)", [], ONE, "holds"),
    # one layer: B is quadratic, so f(e0 + α e1) = f(e0) + α M_{E e1} E e0 + α² f(e1), not additive
    ("f(onehot(0) + alpha*onehot(1)) == f(onehot(0)) + alpha*f(onehot(1))", [], ONE, "fails"),
    # the parts split by the leaves X = onehot(0) and S = onehot(1) (E is linear: same as E X, E S)
    ("self_part(f(onehot(0) + alpha*onehot(1))) == alpha**2 * f(onehot(1))", [], ONE, "holds"),
    ("input_part(f(onehot(0) + alpha*onehot(1))) == f(onehot(0))", [], ONE, "holds"),
    ("cross_part(f(onehot(0) + alpha*onehot(1))) == alpha * cross_map(E @ onehot(1)) @ E @ onehot(0)", [], ONE, "holds"),
    # steering a token's input (d = k = 2): the steered output moves with s
    ("f(onehot(0) + alpha*s) == f(onehot(0))", [], ONE, "fails"),
    # a token's output P((W E e0) ⊙ (V E e0)) is generic, not zero
    ("f(onehot(0)) == 0", [], ONE, "fails"),
    # steering on the stream at a token's x_0 = E e0: with s = 0 the output is f of the token
    ("from_layer(E @ onehot(0) + alpha*s, 0) == f(onehot(0))", ["s == 0"], ONE, "holds"),
    # depth 0: f is the embedding itself (k = 3 ≠ d = 2)
    ("f(onehot(2)) == E @ onehot(2)", [], "layers = [0]\nsizes = [[2, 2]]\nembed = 3", "holds"),
    # M_s E e1 is a nonzero polynomial in the weights, E and s: nonzero almost everywhere (a witness replays)
    ("generic(cross_map(s) @ E @ onehot(1) != 0)", [], ONE, "holds"),
]


def _write(folder: Path, i: int, statement: str, assumptions: list[str], model: str, expected: str) -> Path:
    path = folder / f"e{i:02d}.toml"
    listed = "".join(f"assumptions = [{', '.join(json.dumps(a) for a in assumptions)}]\n" if assumptions else "")
    path.write_text(f'id = "e{i:02d}"\ntitle = "embedding"\nquote = "mine"\nstatement = {json.dumps(statement)}\n'
                    f'{listed}expected = "{expected}"\n\n[model]\n{model}\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("i", range(len(TABLE)))
def test_embedding_claims_get_their_verdicts(tmp_path, i):
    statement, assumptions, model, expected = TABLE[i]
    verdict = verify(load_claim(_write(tmp_path, i, statement, assumptions, model, expected)))
    assert verdict.found == expected, verdict.detail
    # the every-width prover knows no E: never a formal "for all d, h" proof here
    assert "all d, h" not in verdict.scope and "every d, h" not in verdict.detail and "every width" not in verdict.detail
    if expected == "fails":
        assert "E" in verdict.evidence["point"] and verdict.evidence["case"]["embed"] == 2


def test_evidence_with_E_replays_independently(tmp_path, capsys):
    folder, out = tmp_path / "claims", tmp_path / "evidence"
    folder.mkdir()
    for i, row in enumerate(TABLE):
        _write(folder, i, *row)
    assert cli.run(["verify", str(folder), "--evidence", str(out), "-o", str(tmp_path / "v.txt")]) == 0
    spec = importlib.util.spec_from_file_location("replay_checker", REPLAY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    capsys.readouterr()
    assert module.main([str(out)]) == 0
    text = capsys.readouterr().out
    assert "skipped" not in text and "FAILED" not in text, text
    # a tampered E no longer replays: the counterexample depends on E
    record = json.loads((out / "e07.json").read_text())
    E = record["evidence"]["point"]["E"]
    record["evidence"]["point"]["E"] = [["0"] * len(row) for row in E]
    with pytest.raises(AssertionError):
        module.replay(record)


@pytest.mark.parametrize("statement, model, fragment", [
    ("f(onehot(2)) == 0", ONE, "index 2 is out of range; expected 0 … 1"),
    ("cross_map(s) @ E == 0", "layers = [1]\nsizes = [[2, 2]]", "no embed"),
    ("f(onehot(0)) == 0", "layers = [1]\nsizes = [[2, 2]]", "no embed"),
    ("f(x) == 0", "layers = [1]\nsizes = [[2, 2]]\nembed = 0", "embed = 0"),
])
def test_refused_claim_files(tmp_path, statement, model, fragment):
    with pytest.raises(ClaimFileError) as info:
        load_claim(_write(tmp_path, 0, statement, [], model, "holds"))
    assert fragment in str(info.value)


@pytest.mark.parametrize("statement, fragment", [
    ("f(onehot(a)) == 0", "onehot(a)"),
    ("f(onehot(1/2)) == 0", "onehot(1/2)"),
    ("f(onehot(-1)) == 0", "onehot(-1)"),
])
def test_onehot_takes_a_literal_index(statement, fragment):
    with pytest.raises(StatementError) as info:
        parse_statement(statement)
    assert fragment in str(info.value)


def test_f_takes_the_k_wide_input(tmp_path):
    # with embed = 2 and d = 3, f(x) gets a stream vector of width 3, not a token: an error verdict
    path = _write(tmp_path, 0, "f(x) == f(x)", [], "layers = [1]\nsizes = [[3, 2]]\nembed = 2", "holds")
    verdict = verify(load_claim(path))
    assert verdict.found == "error" and "expected 2" in verdict.detail
