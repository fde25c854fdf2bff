import numpy as np
import pytest

from symsteer import Bilinear, Network, ShapeError


def test_shapes_validated_with_names():
    a = Bilinear(np.ones((2, 3)), np.ones((2, 3)), np.ones((4, 2)))
    b = Bilinear(np.ones((2, 3)), np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ShapeError, match=r"layers\[1\]\.W has shape \(2, 3\); expected \(h, 4\) to match layers\[0\]'s output width 4"):
        Network((a, b))
    with pytest.raises(ShapeError, match=r"layers\[0\]\.P has shape \(4, 2\); a residual block needs \(3, h\)"):
        Network((a,), residual=True)
    with pytest.raises(ShapeError, match=r"expected \(h, 5\) to match the embedding's output width 5"):
        Network((b,), embed=np.ones((5, 2)))
    with pytest.raises(ShapeError, match=r"unembed has shape \(2, 2\); expected \(k, 3\)"):
        Network((b,), unembed=np.ones((2, 2)))
    with pytest.raises(ShapeError, match="at least one"):
        Network(())


@pytest.mark.parametrize("n", [-1, 3, 1.5, True, "1"])
def test_steer_at_out_of_range(n):
    net = Network.random(layers=2, width=2, hidden=2)
    with pytest.raises(ShapeError, match=f"steer_at={n!r} but the model has 2 layers"):
        net.check_steer_at(n)


@pytest.mark.parametrize("bad", [dict(layers=0), dict(width=0), dict(hidden=-1), dict(embed=0), dict(layers=True)])
def test_random_sizes_must_be_positive(bad):
    opts = dict(layers=1, width=2, hidden=2) | bad
    with pytest.raises(ShapeError, match="expected a positive integer"):
        Network.random(**opts)


def test_random_is_seeded_and_kinds():
    a = Network.random(layers=2, width=3, hidden=2, seed=7, kind="rational")
    b = Network.random(layers=2, width=3, hidden=2, seed=7, kind="rational")
    assert all((la.W == lb.W).all() for la, lb in zip(a.layers, b.layers))
    assert a.field == "rational"
    assert Network.random(layers=1, width=2, hidden=2, kind="float").field == "float"
    assert Network.symbolic(layers=1, width=2, hidden=2, unembed=1).field == "symbolic"


def test_widths():
    net = Network.random(layers=2, width=3, hidden=2, residual=True, embed=5, unembed=4)
    assert (net.d_in, net.d_out, net.depth) == (5, 4, 2)
    assert [net.width_at(n) for n in range(3)] == [3, 3, 3]
