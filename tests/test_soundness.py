"""The verifier never proves a false claim: the two false 'holds' of issue 12 and their variants
are refuted with exact counterexamples, re-checked here with plain Fractions; a proof that an
exact point contradicts is a bug (exit 4), never a verdict."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from symsteer.claims import load_claim, verify

SCALARS = ("t", "alpha", "a", "k")


def _claim(tmp_path: Path, name: str, statement: str, assumptions: list[str], *, layers: int, sizes: list,
           residual: bool = False, bias: bool = False, expected: str = "fails"):
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'id = "{name}"\ntitle = "t"\nquote = "q"\nstatement = "{statement}"\n'
        f"assumptions = {assumptions!r}\n".replace("'", '"') + f'expected = "{expected}"\n'
        f"[model]\nlayers = [{layers}]\nsizes = {sizes!r}\nresidual = {str(residual).lower()}\nbias = {str(bias).lower()}\n")
    return load_claim(path)


def _q(v):
    return Fraction(v)


def _matvec(M, v):
    return [sum((_q(m) * x for m, x in zip(row, v)), Fraction(0)) for row in M]


def _layer(point, l, z, bias):
    w, v = _matvec(point[f"W{l}"], z), _matvec(point[f"V{l}"], z)
    if bias:
        w = [a + _q(b) for a, b in zip(w, point[f"b{l}"])]
        v = [a + _q(c) for a, c in zip(v, point[f"c{l}"])]
    return _matvec(point[f"P{l}"], [a * b for a, b in zip(w, v)])


def _f(point, z, *, depth, residual, bias):
    for l in range(depth):
        y = _layer(point, l, z, bias)
        z = [a + b for a, b in zip(z, y)] if residual else y
    return z


# -- 1. independence of a scalar was 'proved' by looking for it among the vector leaves -------------


MODELS = [dict(layers=2, sizes=[[3, 4]], residual=True), dict(layers=2, sizes=[[2, 2]], bias=True),
          dict(layers=1, sizes=[[2, 2]], residual=True)]


@pytest.mark.parametrize("scalar", SCALARS)
@pytest.mark.parametrize("model", range(len(MODELS)))
def test_independence_of_a_scalar_is_refuted(tmp_path, scalar, model):
    spec = MODELS[model]
    claim = _claim(tmp_path, "dep", f"not depends_on(f(x + {scalar}*s), {scalar})", ["cross_map(s) == 0"], **spec)
    verdict = verify(claim)
    assert verdict.found == "fails", verdict.detail
    # re-check independently: the point satisfies cross_map(s) = 0 and f(x + t s) takes two values
    ev = verdict.evidence
    point = ev["point"]
    x, s = [_q(v) for v in point["x"]], [_q(v) for v in point["s"]]
    d = len(x)
    for i in range(d):  # M_s e_i = B(e_i, s) + B(s, e_i) = P((W e_i) ⊙ (V s) + (W s) ⊙ (V e_i))
        e = [Fraction(int(j == i)) for j in range(d)]
        ws, vs, we, ve = (_matvec(point[n], u) for n, u in (("W0", s), ("V0", s), ("W0", e), ("V0", e)))
        col = _matvec(point["P0"], [a * b + c * g for a, b, c, g in zip(we, vs, ws, ve)])
        assert all(c == 0 for c in col)
    opts = dict(depth=spec["layers"], residual=spec.get("residual", False), bias=spec.get("bias", False))
    values = {tuple(_f(point, [a + t * b for a, b in zip(x, s)], **opts)) for t in (Fraction(0), Fraction(1), Fraction(2))}
    assert len(values) > 1


def test_independence_holds_on_a_plain_bias_free_stack(tmp_path):
    # M_s = 0 gives B(s) = M_s s / 2 = 0, so B(x + t s) = B(x) + t M_s x + t² B(s) = B(x)
    claim = _claim(tmp_path, "plain", "not depends_on(f(x + t*s), t)", ["cross_map(s) == 0"], layers=1,
                   sizes=[[2, 2]], expected="holds")
    assert verify(claim).found == "holds"


def test_independence_at_the_issues_widths(tmp_path):
    # (5, 5): the symbolic check is skipped for size; only the exact search can refute it
    claim = _claim(tmp_path, "dep5", "not depends_on(f(x + t*s), t)", ["cross_map(s) == 0"], layers=2,
                   sizes=[[5, 5]], residual=True)
    assert verify(claim).found == "fails"


@pytest.mark.parametrize("scalar", SCALARS)
def test_independence_of_an_absent_scalar_still_holds(tmp_path, scalar):
    other = "alpha" if scalar != "alpha" else "t"
    claim = _claim(tmp_path, "indep", f"not depends_on(f(x + {other}*s) + 0*{scalar}*x, {scalar})", [], layers=2,
                   sizes=[[2, 2]], residual=True, expected="holds")
    verdict = verify(claim)
    assert verdict.found == "holds", verdict.detail


def test_independence_of_a_substituted_vector_is_not_formal(tmp_path):
    # s == 0 binds s; depends_on makes it generic again, and f(x + t*s) depends on it
    claim = _claim(tmp_path, "subst", "not depends_on(f(x + t*s), s)", ["s == 0", "t == 1"], layers=1, sizes=[[2, 2]])
    assert verify(claim).found == "fails"


# -- 2. the parts were split after substituting s := t x --------------------------------------------


@pytest.mark.parametrize("scalar", ("alpha", "a", "k"))
@pytest.mark.parametrize("model", [dict(), dict(residual=True), dict(bias=True)])
def test_parts_after_a_substitution_are_refuted(tmp_path, scalar, model):
    statement = f"same_ranking(input_part(f(x + {scalar}*s)), f(x + {scalar}*s))"
    claim = _claim(tmp_path, "part", statement, ["s == t*x", "t > 1"], layers=1, sizes=[[2, 2]], **model)
    verdict = verify(claim)
    assert verdict.found == "fails", verdict.detail


@pytest.mark.parametrize("scalar", ("alpha", "a", "k"))
def test_parts_with_the_substitution_inline_are_refuted(tmp_path, scalar):
    statement = f"same_ranking(input_part(f(x + {scalar}*(t*x))), f(x + {scalar}*(t*x)))"
    claim = _claim(tmp_path, "inline", statement, ["t > 1"], layers=1, sizes=[[2, 2]])
    assert verify(claim).found == "fails"


def test_the_issues_point_refutes_the_parts_claim():
    # W = V = P = I, x = [1, 2], t = 2, α = −1/2: the input part f(x) = [1, 4], the output 0
    x = [Fraction(1), Fraction(2)]
    point = {"W0": [[1, 0], [0, 1]], "V0": [[1, 0], [0, 1]], "P0": [[1, 0], [0, 1]]}
    t, alpha = Fraction(2), Fraction(-1, 2)
    s = [t * v for v in x]
    assert _f(point, x, depth=1, residual=False, bias=False) == [1, 4]
    assert _f(point, [a + alpha * b for a, b in zip(x, s)], depth=1, residual=False, bias=False) == [0, 0]


def test_formal_rules_refuse_what_they_were_not_proved_for(tmp_path):
    from symsteer.verifier.formal import formal_proof
    from symsteer.verifier.problem import Problem

    cases = [
        ("not depends_on(f(x + t*s), t)", ["cross_map(s) == 0"]),
        ("same_ranking(input_part(f(x + alpha*s)), f(x + alpha*s))", ["s == t*x", "t > 1"]),
        ("cross_part(f(x + a*x)) == 0*x", []),
    ]
    for statement, assumptions in cases:
        claim = _claim(tmp_path, "formal", statement, assumptions, layers=1, sizes=[[2, 2]])
        problem = Problem(claim.node, claim.assumption_nodes, claim.cases(), 1e18)
        assert formal_proof(problem, claim.cases()[0]) is None, statement



# -- a run never aborts --------------------------------------------------------------------------


def _file(folder: Path, name: str, statement: str, expected: str = "fails") -> None:
    (folder / f"{name}.toml").write_text(f'id = "{name}"\ntitle = "t"\nquote = "q"\nstatement = "{statement}"\n'
                                         f'expected = "{expected}"\n[model]\nlayers = [1]\nsizes = [[2, 2]]\n')


def test_undecidable_claims_and_bad_files_do_not_stop_the_run(tmp_path, capsys):
    import json

    from symsteer import cli

    _file(tmp_path, "good", "B(2*x) == 4*B(x)", "holds")
    _file(tmp_path, "softmax-order", "same_ranking(softmax(f(x)), f(x))")
    _file(tmp_path, "bad-name", "Bq(x) == x")
    out = tmp_path / "out.json"
    code = cli.run(["verify", str(tmp_path), "--format", "json", "-o", str(out)])
    assert code == 3  # the bad file, alone
    report = json.loads(out.read_text())
    found = {v["id"]: v["found"] for v in report["verdicts"]}
    assert found == {"good": "holds", "softmax-order": "error"}
    assert "bad-name.toml" in capsys.readouterr().err


def test_a_bug_in_one_claim_is_exit_4_after_the_others(tmp_path, monkeypatch, capsys):
    import json

    from symsteer import cli, claims

    real = claims.decide

    def broken(problem):
        if "7*x" in problem.statement.text:
            raise TypeError("unsupported operand type(s) for +: 'NoneType' and 'int'")
        return real(problem)

    monkeypatch.setattr(claims, "decide", broken)
    _file(tmp_path, "a-good", "B(2*x) == 4*B(x)", "holds")
    _file(tmp_path, "b-bug", "B(7*x) == 49*B(x)", "holds")
    _file(tmp_path, "c-good", "B(3*x) == 9*B(x)", "holds")
    out = tmp_path / "out.json"
    assert cli.run(["verify", str(tmp_path), "--format", "json", "-o", str(out)]) == 4
    found = {v["id"]: v["found"] for v in json.loads(out.read_text())["verdicts"]}
    assert found == {"a-good": "holds", "b-bug": "bug", "c-good": "holds"}
    assert "TypeError" in capsys.readouterr().err


def test_a_proof_contradicted_by_an_exact_point_is_a_bug(tmp_path, monkeypatch):
    from symsteer.verifier import decision as prover

    # a formal rule that proves everything: the falsification search must catch it
    monkeypatch.setattr(prover, "formal_proof", lambda problem, case: "a broken rule")
    monkeypatch.setattr(prover, "prove", lambda prop, hyps, scalars: (False, "not proved"))
    claim = _claim(tmp_path, "broken", "B(a*x) == a*B(x)", [], layers=1, sizes=[[2, 2]])
    verdict = verify(claim)
    assert verdict.found == "bug" and verdict.method == "disagreement"
    assert "broken rule" in verdict.detail



def test_matrix_products_are_size_guarded_and_the_timeout_holds(tmp_path):
    # issue 16: cross_map(s) @ cross_map(s) @ cross_map(s) @ x at d = h = 6 multiplied out in flint's
    # C code (uninterruptible), ignored --timeout 5 and aborted at 3.8 GB; now refused before it starts
    import json
    import resource
    import subprocess
    import sys

    path = tmp_path / "mm.toml"
    path.write_text('id = "mm"\ntitle = "t"\nquote = "q"\nstatement = "cross_map(s) @ cross_map(s) @ cross_map(s) @ x == x"\n'
                    'expected = "fails"\n[model]\nlayers = [1]\nsizes = [[6, 6]]\n')
    out = tmp_path / "out.json"

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))

    root = Path(__file__).resolve().parent.parent
    code = subprocess.run([sys.executable, "-c", "import sys; from symsteer import cli; sys.exit(cli.run(sys.argv[1:]))",
                           "verify", str(path), "--timeout", "5", "--format", "json", "-o", str(out)], cwd=root,
                          preexec_fn=cap, capture_output=True, timeout=60, check=False).returncode
    assert code in (0, 1)
    (verdict,) = json.loads(out.read_text())["verdicts"]
    assert verdict["found"] in ("fails", "undecided") and verdict["seconds"] < 10
