"""The statement language: what it accepts, what it refuses (and how it says so), and that
refusals in a claim file exit 3."""

from __future__ import annotations

import builtins

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symsteer import cli
from symsteer.claims import load_claim, verify
from symsteer.verifier.language import MAX_EXPONENT, StatementError, parse_statement

ACCEPTED = [
    ("B(a*x) == a**2 * B(x)", "=="),
    ("f(a*x) == a**(2**L) * f(x)", "=="),
    ("parallel(f(x + alpha*s), f(x))", "call"),
    ("not parallel(x + alpha*s, x + 2*alpha*s)", "not"),
    ("0 < a < 1", "and"),
    ("softmax(f(a*x)) == softmax(a**(2**L) * f(x))", "=="),
    ("entropy(softmax(f(a*x))) < entropy(softmax(f(x)))", "<"),
    ("argmax(softmax(f(a*x))) == argmax(softmax(f(x)))", "=="),
    ("share(a*x, 'weight') == share(x, 'weight')", "=="),
    ("degree_in(f(x + alpha*s), alpha) <= 2**L", "<="),
    ("not is_polynomial_in(relu(1 - alpha), alpha)", "not"),
    ("generic(depends_on(-(W@x + b) / (W@s), x))", "call"),
    ("self_part(f(x + alpha*s)) == f(alpha*s) - f(0*s)", "=="),
    ("u*v == a*v", "=="),
    ("[1, -2, 1/2] == x", "=="),
    ("cross_map(s) != 0", "!="),
    ("share(x) >= 0 and share(x) <= 1", "and"),
    ("empirical('acts happier')", "call"),
]

#: (statement, a fragment the error message must contain)
REFUSED = [
    ("__import__('os')", "'__import__' is refused"),
    ("__import__('os').system('true') == 0", "not part of the language"),
    ("x.real == x", "attribute access"),
    ("x.__class__ == x", "attribute access"),
    ("(lambda: 1)() == 1", "lambda"),
    ("[i for i in x] == x", "comprehensions"),
    ("{i for i in x} == x", "comprehensions"),
    ("softmax(i for i in x) == a", "comprehensions"),
    ("sum(i for i in x) == a", "comprehensions are not part of the language"),
    ("x[a] == a", "an index must be a literal integer"),
    ("x[0].__class__ == a", "not part of the language"),
    ("alpa*x == x", "unknown name 'alpa' (closest: alpha)"),
    ("sotfmax(x) == x", "unknown function 'sotfmax' (closest: softmax"),
    ("eval('1') == 1", "unknown function 'eval'"),
    ("open('/etc/passwd') == x", "unknown function 'open'"),
    ("getattr(x, 'real') == x", "unknown function 'getattr'"),
    ("a**(10**9) == a", "out of range"),
    ("a**(10**10**10) == a", "out of range"),
    (f"a**{MAX_EXPONENT + 1} == a", "out of range"),
    ("a**-1 == a", "exponent"),
    ("a**alpha == a", "exponent must be a non-negative integer"),
    ("1000001*x == x", "too large"),
    ("0.5*x == x", "not exact"),
    ("True == x", "not a number"),
    ("x if a else s", "conditional expressions"),
    ("(y := x) == x", "assignment expressions"),
    ("a // 2 == a", "FloorDiv"),
    ("a^2 == 1", "use ** for powers"),
    ("a is a", "comparison Is"),
    ("B(x)", "not a statement"),
    ("B(x) + a == x", "cannot apply '+'"),
    ("B(x, key=1) == x", "no keyword arguments"),
    ("softmax(x, s) == x", "softmax() takes"),
    ("f'{x}' == x", "f-strings"),
    ("x ==", "not a valid expression"),
    ("", "empty"),
    ("x == x and " * 300 + "x == x", "characters"),
    ("(" * 250 + "x" + ")" * 250 + " == x", "not a valid expression"),
    ("-" * 500 + "a == a", "syntax nodes"),
]


@pytest.mark.parametrize("text, op", ACCEPTED)
def test_accepted_statements_parse_to_propositions(text, op):
    node = parse_statement(text)
    assert node.type == "prop" and node.op == op


@pytest.mark.parametrize("text, fragment", REFUSED)
def test_refused_statements_say_why(text, fragment):
    with pytest.raises(StatementError) as info:
        parse_statement(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize("text, fragment", [r for r in REFUSED if r[0] and len(r[0]) < 300])
def test_refused_statement_in_a_claim_file_exits_3(tmp_path, capsys, text, fragment):
    path = tmp_path / "bad-statement.toml"
    path.write_text(
        'id = "bad-statement"\ntitle = "t"\nquote = "q"\n'
        f"statement = '''{text}'''\n"
        'expected = "holds"\n\n[model]\nlayers = [1]\nsizes = [[1, 1]]\n'
    )
    assert cli.run(["verify", str(path)]) == 3
    err = capsys.readouterr().err
    assert "bad-statement.toml" in err and "line 4" in err and fragment in err


def test_refused_assumption_exits_3_naming_the_assumption(tmp_path, capsys):
    path = tmp_path / "bad-assumption.toml"
    path.write_text('id = "bad-assumption"\ntitle = "t"\nquote = "q"\nstatement = "B(a*x) == a**2 * B(x)"\n'
                    'assumptions = ["a.real != 0"]\nexpected = "holds"\n\n[model]\nlayers = [1]\nsizes = [[1, 1]]\n')
    assert cli.run(["verify", str(path)]) == 3
    err = capsys.readouterr().err
    assert "line 5" in err and "a.real != 0" in err and "attribute access" in err


def test_no_eval_or_exec_anywhere(tmp_path, monkeypatch):
    """Parsing and verifying user text never reaches Python's eval or exec."""
    path = tmp_path / "user-claim.toml"
    path.write_text('id = "user-claim"\ntitle = "t"\nquote = "q"\nstatement = "f(a*x) == a**(2**L) * f(x)"\n'
                    'expected = "holds"\n\n[model]\nlayers = [1, 2]\nsizes = [[1, 1], [2, 1]]\n')
    claim = load_claim(path)
    assert verify(claim).found == "holds"  # imports happen here: importing a module runs exec

    def refuse(*args, **kwargs):
        raise AssertionError("eval/exec was called")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    assert verify(claim).found == "holds"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="xsabfBLuv()+-*/@=<>!,.[]_ 0123456789'", max_size=40))
def test_any_text_parses_or_is_refused_cleanly(text):
    """Arbitrary text either parses to a checked node or raises StatementError, nothing else."""
    try:
        node = parse_statement(text)
    except StatementError:
        return
    assert node.type == "prop"


def test_number_comparison_over_generic_values_is_a_proposition() -> None:
    from symsteer.verifier.evaluation import Case, symbolic_env
    from symsteer.verifier.propositions import Truth

    env = symbolic_env(Case(1, 1, 1), vectors=[], scalars=[], model=False)
    for text, value in (("2**L == 2", True), ("L >= 2", False), ("1/2 < 1", True)):
        prop = env.value_of(parse_statement(text))
        assert isinstance(prop, Truth) and prop.value is value and prop.text == text
