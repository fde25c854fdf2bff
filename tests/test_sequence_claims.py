"""Claims about sequence models and about norms (the large-alpha limit): hostile [model] tables and
statements are refused with one line naming the value (exit 3), and the evidence of a sequence
claim replays without symsteer."""

from __future__ import annotations

import itertools
import json
from fractions import Fraction
import subprocess
import sys
from pathlib import Path

import pytest

from symsteer import cli
from symsteer.claims import load_claim, verify, write_evidence
from symsteer.errors import ClaimFileError

ROOT = Path(__file__).resolve().parents[1]
GOOD_MODEL = 'kind = "sequence"\nlengths = [2]\nsizes = [[1, 1]]\nblocks = ["attention"]\n'
GOOD = "row(F(X + alpha*at(s, 'last')), q) == row(F(X), q)"


def _file(tmp_path: Path, statement: str = GOOD, model: str = GOOD_MODEL, name: str = "c") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'id = "{name}"\ntitle = "t"\nquote = "q"\nstatement = "{statement}"\nexpected = "holds"\n[model]\n{model}')
    return path


@pytest.mark.parametrize("model, words", [
    (GOOD_MODEL.replace("[2]", "[0]"), "lengths = [0]; expected a list of sequence lengths 1"),
    (GOOD_MODEL.replace("[2]", "[]"), "lengths = []"),
    (GOOD_MODEL.replace('["attention"]', '["attention", "conv"]'), "unknown block kind 'conv'"),
    (GOOD_MODEL.replace('["attention"]', '[]'), "expected a list of 1"),
    (GOOD_MODEL + 'pattern = "softmax"\n', "pattern = 'softmax'"),
    (GOOD_MODEL + 'heads = 2\n', "heads = 2 does not divide the width d = 1"),
    (GOOD_MODEL + 'rope = true\n', "rope = true needs an even head width"),
    (GOOD_MODEL.replace("[[1, 1]]", "[[2, 1]]") + 'rope = true\npattern = "frozen"\n', "a frozen pattern has no queries"),
    (GOOD_MODEL + 'residual = "sum"\n', "residual = ['sum']"),
    (GOOD_MODEL + 'residual = "lerp"\nlerp = 0.5\n', "lerp = 0.5; expected λ as an exact fraction"),
    (GOOD_MODEL + 'lerp = "3/2"\n', "expected 0 ≤ λ ≤ 1"),
    (GOOD_MODEL + 'layers = [1]\n', "unknown field 'layers' in [model] of a sequence model"),
    (GOOD_MODEL.replace("lengths = [2]\n", ""), "[model] misses 'lengths'"),
    # a wrong kind is a wrong value, not an unknown field; lookalike letters are escaped
    (GOOD_MODEL.replace('"sequence"', '"Sequence"'), "kind = 'Sequence'; expected 'sequence' (or leave it out for a network)"),
    (GOOD_MODEL.replace('"sequence"', '"sequ\u0435nce"'), "kind = 'sequ\\u0435nce'; expected 'sequence'"),
    (GOOD_MODEL.replace('"sequence"', "1"), "kind = 1; expected 'sequence'"),
    (GOOD_MODEL.replace('"attention"', '"attent\u0456on"'), "unknown block kind 'attent\\u0456on' (did you mean 'attention'?)"),
    (GOOD_MODEL + 'pattern = "b\u0456linear"\n', "pattern = 'b\\u0456linear'; expected"),
    # a long value is cut to about 60 characters in the one-line message
    (GOOD_MODEL.replace('["attention"]', "[" + ", ".join(['"attention"'] * 500) + "]"),
     "blocks = ['attention', 'attention', 'attention', 'attention', 'atten…; expected"),
    (GOOD_MODEL + 'residual = "lerp"\nlerp = "' + "9" * 5000 + '/1"\n', "lerp = '" + "9" * 58 + "…; expected"),
])
def test_hostile_models_are_refused_with_one_line(tmp_path, model, words):
    with pytest.raises(ClaimFileError) as exc:
        load_claim(_file(tmp_path, model=model))
    assert words in str(exc.value) and "\n" not in str(exc.value) and len(str(exc.value)) < 400


@pytest.mark.parametrize("statement, words", [
    ("F(X + alpha*at(s, [])) == F(X)", "the set of positions is empty"),
    ("F(X + alpha*at(s, [3])) == F(X)", "position(s) 3 out of range for a sequence of T=2"),
    ("F(X + alpha*at(s, 'from:2')) == F(X)", "is empty for a sequence of T=2"),
    ("F(X + alpha*at(s, [1, 1])) == F(X)", "more than once"),
    ("F(X + alpha*at(s, [-1])) == F(X)", "is negative"),
    ("F(X + alpha*at(s, 'first')) == F(X)", "'first' is not a position"),
    ("F(X + \u0430lpha*at(s, 'last')) == F(X)", "unknown name '\\u0430lpha' (closest: alpha) at column 7 of 'F(X + \\u0430lpha"),
    ("F(X + alpha*at(s, 'l\u0430st')) == F(X)", "at(…, 'l\\u0430st'): positions='l\\u0430st': 'l\\u0430st' is not a position"),
    ("row(F(X), 2) == row(F(X), 0)", "position 2 is out of range for T = 2"),
    ("f(x) == f(x)", "names of a network of bilinear layers"),
    ("F(x) == F(X)", "F() takes (sequence)"),
    ("sum_over(F(X), T) == F(X)", "sum_over() takes"),
])
def test_hostile_statements_are_refused_with_one_line(tmp_path, statement, words):
    with pytest.raises(ClaimFileError) as exc:
        load_claim(_file(tmp_path, statement=statement.replace('"', "'")))
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_sequence_names_need_a_sequence_model(tmp_path):
    with pytest.raises(ClaimFileError, match="kind = \"sequence\""):
        load_claim(_file(tmp_path, model="layers = [1]\nsizes = [[1, 1]]\n"))


def test_the_cli_exits_3_on_a_bad_sequence_model(tmp_path, capsys):
    assert cli.run(["verify", str(_file(tmp_path, model=GOOD_MODEL.replace('"attention"', '"conv"')))]) == 3
    assert "unknown block kind 'conv'" in capsys.readouterr().err


def test_positions_are_checked_for_every_q(tmp_path):
    claim = load_claim(_file(tmp_path, model=GOOD_MODEL.replace("[2]", "[2, 3]")))
    assert sorted((c.length, c.q) for c in claim.cases()) == [(2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]


def test_evidence_of_sequence_claims_replays_without_symsteer(tmp_path):
    ids = ["t05-steer-all-is-sum-of-each", "t01-causal-steer-last-rope", "t03-frozen-pattern-linear",
           "t02-self-term-same-at-every-position"]
    verdicts = [verify(load_claim(ROOT / "proofs" / f"{i}.toml")) for i in ids]
    assert [v.ok for v in verdicts] == [True] * len(ids)
    write_evidence(verdicts, tmp_path)
    record = json.loads((tmp_path / "t01-causal-steer-last-rope.json").read_text())
    assert record["model"]["kind"] == "sequence"
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "replay.py"), str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "skipped" not in out.stdout, out.stdout
    assert out.stdout.count(": ok") == len(ids)


# -- norms and the large-alpha limit -------------------------------------------------------------

NORMED = "layers = [1]\nsizes = [[1, 1]]\nresidual = true\nnorm = true\nfinal_norm = true\nunembed = 2\n"
LIMIT = "limit(f(x + alpha*s), alpha) == U @ s / rms(s)"


@pytest.mark.parametrize("model, statement, words", [
    (NORMED + "bias = true\n", LIMIT, "expected bias = false"),
    (NORMED.replace("norm = true\nfinal_norm = true\n", "") + "gain = true\n", LIMIT, "gain = true but there is no norm"),
    (NORMED.replace("unembed = 2\n", ""), LIMIT, "has no unembed"),
    (NORMED, "limit(f(x + alpha*s), alpha) == (gain * s) / rms(s)", "has not final_norm = true and gain = true"),
    (NORMED + "final_norm = [true, false]\n", LIMIT, "not valid TOML"),
    (NORMED.replace("norm = true\n", "norm = 'yes'\n", 1), LIMIT, "norm = 'yes'"),
    (NORMED, "rms(s) == 1", "cannot compare"),
    (NORMED, "f(2*x) == f(x)", "'f(2*x)' outside limit"),
    (NORMED, "B(x) == B(x)", "the statement uses 'B'"),
])
def test_hostile_norm_models_are_refused_with_one_line(tmp_path, model, statement, words):
    with pytest.raises(ClaimFileError) as exc:
        load_claim(_file(tmp_path, statement=statement, model=model))
    assert words in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("statement, words", [
    ("limit(f(x) + s, alpha) == U @ s / rms(s)", "limit expects f(z)"),
    ("limit(f(x + alpha*alpha*s), alpha) == U @ s / rms(s)", "linear in alpha"),
])
def test_limits_outside_their_meaning_are_not_decided(tmp_path, statement, words):
    v = verify(load_claim(_file(tmp_path, statement=statement, model=NORMED)))
    assert v.found in ("error", "undecided") and words in v.detail, v.detail


# -- the time limit inside long polynomial products (flint's C calls cannot be interrupted) ------


def _ring_rows(rows: int = 4):
    import numpy as np
    import sympy

    from symsteer.numbers import PolyRing

    syms = sympy.symbols(f"x0:{rows}")
    ring = PolyRing(syms)
    return ring, ring.array(np.array([[s, 1] for s in syms], dtype=object)), ring.array(np.eye(2, dtype=int))


def test_a_polynomial_product_stops_at_its_first_check_after_the_deadline(monkeypatch):
    from symsteer import numbers
    from symsteer.errors import DeadlineError

    ring, v, M = _ring_rows()
    clock = itertools.count()  # one tick per look at the clock
    monkeypatch.setattr(numbers.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(numbers, "STOP", 2.5)
    with pytest.raises(DeadlineError):
        ring.apply(M, v)
    # looked before row 0 (0), its two entries (1, 2), row 1 (3 > 2.5): stopped there
    assert next(clock) == 4


def test_a_lerp_residual_over_polynomials_checks_the_clock(monkeypatch):
    import numpy as np

    from symsteer import numbers
    from symsteer.blocks import Linear, Residual
    from symsteer.errors import DeadlineError

    ring, v, M = _ring_rows()
    block = Residual.lerp(Linear(np.eye(2, dtype=object), name="L"), Fraction(1, 2))
    out = block.forward(v, numbers=ring)  # (1 − 1/2) v + 1/2 v
    assert out.shape == v.shape and all(a == b for a, b in zip(out.ravel(), v.ravel()))
    monkeypatch.setattr(numbers, "STOP", numbers.time.monotonic() - 1)
    with pytest.raises(DeadlineError):
        block.forward(v, numbers=ring)


def test_the_time_limit_sets_the_clock_the_products_check():
    from symsteer import numbers
    from symsteer.verifier import deadline

    assert numbers.STOP is None
    with deadline(50):
        outer = numbers.STOP
        with deadline(100):
            assert numbers.STOP == outer  # an outer limit that ends sooner stays
        with deadline(1):
            assert numbers.STOP < outer
    assert numbers.STOP is None


def test_attention_over_polynomials_mixes_positions_one_row_at_a_time(monkeypatch):
    import numpy as np

    from symsteer import numbers
    from symsteer.blocks.attention import _rows_matmul
    from symsteer.errors import DeadlineError

    ring, v, _ = _ring_rows()
    p = ring.array(np.arange(32, dtype=object).reshape(2, 4, 4))
    stack = np.stack([v, v])
    assert (_rows_matmul(p, stack) == p @ stack).all()
    monkeypatch.setattr(numbers, "STOP", numbers.time.monotonic() - 1)
    with pytest.raises(DeadlineError):
        _rows_matmul(p, stack)
