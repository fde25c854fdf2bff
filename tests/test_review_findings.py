"""Regression tests for an independent review of the certified series and the limit claims:
each test failed before its fix."""

from __future__ import annotations

import json
from fractions import Fraction

import flint
import mpmath
import numpy as np
import pytest

from symsteer import cli
from symsteer.blocks import Attention, Chain, Linear, Residual, RMSNorm, Softcap
from symsteer.sequence import SequenceModel
from symsteer.series import Steered, ball_coefficients, certify, exactness

LIMIT_CLAIM = """id = "{id}"
title = "t"
quote = "q"
statement = "{statement}"
assumptions = {assumptions}
expected = "fails"
[model]
layers = [1]
sizes = [[2, 1]]
residual = true
unembed = 1
"""


def _verdict(tmp_path, capsys, statement: str, assumptions: str) -> str:
    path = tmp_path / "r.toml"
    path.write_text(LIMIT_CLAIM.format(id="r", statement=statement, assumptions=assumptions))
    cli.run(["verify", str(path), "--format", "json", "-o", str(tmp_path / "v.json")])
    capsys.readouterr()
    return json.loads((tmp_path / "v.json").read_text())["verdicts"][0]["found"]


@pytest.mark.parametrize("assumptions", ["[]", '["norm2(s) == 3"]'])
def test_vectors_over_a_square_root_of_different_widths_are_never_equal(tmp_path, capsys, assumptions):
    """A 1-wide side against a 2-wide one was compared on the first entry only (zip), and with
    assumptions no rational point satisfies, that false claim was 'holds'."""
    found = _verdict(tmp_path, capsys, "(U @ s) / rms(s) == ((U @ s) * ones) / rms(s)", assumptions)
    assert found != "holds"
    if assumptions == "[]":
        assert found == "fails"


def test_softcap_balls_hold_the_exact_taylor_coefficients():
    """tanh α = α − α³/3 + 2α⁵/15 − 17α⁷/315: a float 1/m in the recurrence made balls of
    radius 0 around rounded centres."""
    c = ball_coefficients(Steered((Softcap(1, cap=1),), x_n=[0.0], direction=[1.0]), 7, prec=128)
    for k, q in {1: Fraction(1), 3: Fraction(-1, 3), 5: Fraction(2, 15), 7: Fraction(-17, 315)}.items():
        with flint.ctx.workprec(400):
            assert c[k].ravel()[0].contains(flint.arb(flint.fmpq(q.numerator, q.denominator))), k


def test_a_softcap_alone_is_a_series_not_an_exact_rational_function():
    rng = np.random.default_rng(0)
    model = SequenceModel((Residual.add(Attention.random(2, heads=1, rng=rng, kind="float")),), embed=rng.standard_normal((3, 2)),
                          head=Chain(Linear(rng.standard_normal((3, 2))), Softcap(3, cap=1)))
    info = exactness(model.blocks + (model.head,))
    assert info["kind"] == "series" and "tanh" in info["what"]


def test_the_bound_covers_the_printed_float64_coefficients():
    """error_bound bounded the distance to the exact ball centres; outputs print float64 ones,
    whose rounding (1e-17 on c_0) is far above a tail of 1e-54 at a small rho."""
    cert = certify(Steered((RMSNorm(2, eps=1),), x_n=[1.0, 0.0], direction=[0.0, 1.0]), order=12, rho=1e-4)
    mpmath.mp.dps = 60
    mids = cert.midpoints()[:, 0]
    for a in (mpmath.mpf(1e-4), mpmath.mpf(-1e-4), mpmath.mpf(3e-5)):
        f0 = 1 / mpmath.sqrt((1 + a * a) / 2 + 1)
        series = mpmath.fsum(mpmath.mpf(float(c)) * a**k for k, c in enumerate(mids))
        assert abs(f0 - series) <= cert.error_bound(float(a))[0]
    assert cert.exactness()["tail_bound"] >= float(abs(f0 - series))


# -- a hostile-input review of the same surfaces ------------------------------------------------

from symsteer.errors import ShapeError  # noqa: E402
from symsteer.numbers import FLOAT  # noqa: E402


def test_a_norm_refuses_a_stream_whose_square_overflows():
    """mean(x²) = inf made 1/r = 0: a finite output of zeros, silent garbage."""
    with pytest.raises(ShapeError, match=r"mean\(x²\) overflows float64"):
        RMSNorm(2).forward(np.array([1e200, 1.0]), numbers=FLOAT)
    with pytest.raises(ShapeError, match="overflows float64"):
        RMSNorm(2).propagate(np.array([[1e200, 1.0], [1.0, 0.0]]), top=2, numbers=FLOAT)


def test_a_tiny_steering_vector_is_refused_not_an_internal_error():
    """s = 1e-200 next to x = 1: the series holds out to |α| ≈ 1e200, where α^4 overflows."""
    with pytest.raises(ShapeError, match="steering vector is tiny next to the stream"):
        certify(Steered((RMSNorm(2, eps=1),), x_n=[1.0, 0.0], direction=[1e-200, 0.0]), order=4)

