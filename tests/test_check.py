import pytest

from symsteer import Network, ShapeError, check, expand
from symsteer._check import RTOL, check_grid, default_grid, relative_error
from symsteer.expansion import Expansion


def test_grid_passes_everywhere():
    rows = check_grid()
    assert len(rows) == len(default_grid()) == 36
    assert all(r.passed for _, r in rows), [c for c, r in rows if not r.passed]
    assert max(r.largest for _, r in rows) <= RTOL


def test_check_catches_a_wrong_expansion(monkeypatch):
    net = Network.random(layers=2, width=2, hidden=2, residual=True, seed=3)
    e = expand(net, steer_at=0)
    good = check(e, s=[1, 2], x=[1, -1])
    assert good.passed and good.exact_mismatches == 0
    broken = expand(net, steer_at=0)
    # drop one cross term: every comparison must notice
    kept = tuple(tm for tm in broken.terms if str(tm[0]) != "B1(x, B0(x, s))")
    monkeypatch.setattr(Expansion, "terms", property(lambda self: kept))
    bad = check(broken, s=[1, 2], x=[1, -1])
    assert not bad.passed
    assert bad.exact_mismatches > 0 and bad.coefficient_error > RTOL and bad.split_error > RTOL and bad.forward_error > RTOL


def test_check_refuses_symbolic_weights():
    with pytest.raises(ShapeError, match="concrete weights"):
        check(expand(Network.symbolic(layers=1, width=1, hidden=1), steer_at=0), s=[1], x=[1])


def test_relative_error_scale():
    assert relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert relative_error([0.0, 101.0], [0.0, 100.0]) == pytest.approx(0.01)
    assert relative_error([1e-13], [0.0]) == pytest.approx(1e-13)
