"""Certified series through norms: ball coefficients hold mpmath's and float64's, the certified
radius sits below the known first-norm radius, and the tail bound holds against forward passes
(float64 at real α, mpmath at complex α) everywhere inside rho."""

from __future__ import annotations

import cmath
import math

import mpmath
import numpy as np
import pytest

from symsteer import Network
from symsteer.blocks import Bilinear, Linear, RMSNorm, prenorm
from symsteer.errors import ShapeError
from symsteer.numbers import BALL, COMPLEX_BALL, BranchError, CenteredBoxes, FLOAT
from symsteer.sequence import SequenceModel
from symsteer.series import Steered, certified_radius, certify, exactness

from test_norms import mpmath_taylor, polyval, prenorm_model


def single_norm(rng, d=4, eps=0.1):
    gain = 1 + 0.2 * rng.standard_normal(d)
    x, s = rng.standard_normal(d), rng.standard_normal(d)
    return Steered((RMSNorm(d, eps=eps, gain=gain),), x_n=x, direction=s), x, s, gain, eps


def test_ball_coefficients_hold_mpmath_taylor(rng):
    steered, x, s, gain, eps = single_norm(rng)
    cert = certify(steered, order=9)
    want = mpmath_taylor(x, s, gain, eps, 9)
    for m in range(10):
        for i in range(4):
            ball = cert.coefficients[m, i]
            # mpmath's numerical Taylor coefficients are good to far more than the ball's width
            assert abs(float(ball.mid()) - want[m, i]) <= float(ball.rad()) + 1e-13 * max(1, abs(want[m, i]))
    floats = RMSNorm(4, eps=eps, gain=gain).propagate(np.stack([x, s]), top=9, numbers=FLOAT)
    assert np.allclose(cert.midpoints(), floats, rtol=1e-9, atol=1e-12)
    assert cert.coefficient_radius() < 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_radius_is_below_the_first_norm_radius_and_close_to_it(seed):
    rng = np.random.default_rng(seed)
    steered, x, s, gain, eps = single_norm(rng, eps=[0.0, 0.1, 1.0, 0.01][seed])
    known = math.sqrt(x @ x + 4 * eps) / math.sqrt(s @ s)  # |zeros of r²(x + αs)|
    disk = certified_radius(steered, outer=2 * known)
    assert disk.ended == "failure"
    assert 0.8 * known < disk.radius <= known


def test_tail_bound_holds_against_forward_passes_inside_rho(rng):
    steered, x, s, gain, eps = single_norm(rng)
    cert = certify(steered, order=12)
    rho = cert.rho
    mids = cert.midpoints()
    block = steered.blocks[0]
    assert cert.tail_bound < 1.0
    for alpha in np.linspace(-rho, rho, 41):  # real α: float64 forward passes
        got = block.forward(x + alpha * s, numbers=FLOAT)
        assert np.all(np.abs(polyval(mids, alpha) - got) <= cert.error_bound(alpha) + 1e-12)
    with mpmath.workdps(30):  # complex α on the circle |α| = rho: mpmath's own formula
        for theta in np.linspace(0, 2 * np.pi, 24, endpoint=False):
            a = mpmath.mpc(rho * (1 - 1e-12) * math.cos(theta), rho * (1 - 1e-12) * math.sin(theta))
            v = [mpmath.mpf(float(x[k])) + a * float(s[k]) for k in range(4)]
            r = mpmath.sqrt(mpmath.fsum(e * e for e in v) / 4 + eps)
            for i in range(4):
                series = sum(mids[m, i] * complex(a) ** m for m in range(13))
                assert abs(complex(float(gain[i]) * v[i] / r) - series) <= cert.error_bound(complex(a))[i] + 1e-12


def test_the_bound_is_not_vacuous_it_fails_beyond_the_radius(rng):
    """Outside the radius the truncated series is far from the function: the check above could fail."""
    steered, x, s, gain, eps = single_norm(rng)
    cert = certify(steered, order=12)
    alpha = 1.5 * cert.radius
    got = steered.blocks[0].forward(x + alpha * s, numbers=FLOAT)
    assert np.max(np.abs(polyval(cert.midpoints(), alpha) - got)) > cert.tail_bound
    with pytest.raises(ShapeError, match="outside the certified disk"):
        cert.error_bound(alpha)


def test_prenorm_attention_model_certificate(rng):
    model = prenorm_model(rng)
    x0 = rng.standard_normal((3, 4))
    D = np.zeros((3, 4))
    D[1] = rng.standard_normal(4)
    steered = Steered.of_sequence(model, direction=D, steer_at=0, x=x0)
    cert = certify(steered, order=16)
    assert np.isfinite(cert.tail_bound) and cert.radius > 0
    mids = cert.midpoints()
    for alpha in np.linspace(-cert.rho, cert.rho, 21):
        got = model.forward(x0, numbers=FLOAT, steer_at=0, direction=D, alpha=alpha)
        assert np.all(np.abs(polyval(mids, alpha) - got) <= cert.error_bound(alpha) + 1e-9)
    # the same blocks in balls: the float forward pass lies in the ball one
    ball = model.forward(BALL.array(x0), numbers=BALL, steer_at=0, direction=D, alpha=0.05)
    flt = model.forward(x0, numbers=FLOAT, steer_at=0, direction=D, alpha=0.05)
    assert all(abs(float(b.mid()) - f) <= float(b.rad()) + 1e-12 for b, f in zip(ball.ravel(), flt.ravel()))
    info = cert.exactness()
    assert info["kind"] == "certified series" and info["order"] == 16 and info["rho"] < info["radius_lower_bound"]


def test_complex_boxes_refuse_the_branch_cut():
    boxes = CenteredBoxes()
    st = Steered((RMSNorm(2, eps=0),), x_n=[1.0, 0.0], direction=[0.0, 1.0])  # r² = (1 + α²)/2: zeros at ±i
    with pytest.raises(BranchError, match="negative real axis"):
        st.forward(boxes.alpha(1j, 0.01), boxes)
    st.forward(boxes.alpha(0.5, 0.01), boxes)
    with pytest.raises(BranchError):
        COMPLEX_BALL.rsqrt(np.array([COMPLEX_BALL.entry(-1.0)]), "u")


def test_network_with_a_prenorm_stage(rng):
    layers = [prenorm(Bilinear.random(3, 4, rng=rng, kind="float", index=l), eps=0.1) for l in range(2)]
    net = Network(layers)
    x, s = rng.standard_normal(3), rng.standard_normal(3)
    cert = certify(Steered.of_network(net, x=x, s=s, steer_at=0), order=10)
    from symsteer._coefficients import forward

    for alpha in np.linspace(-cert.rho, cert.rho, 11):
        got = forward(net, x, steer_at=0, s=s, alpha=alpha)
        assert np.all(np.abs(polyval(cert.midpoints(), alpha) - got) <= cert.error_bound(alpha) + 1e-9)


def test_exactness_says_what_is_exact(rng):
    lin = Linear(np.eye(2))
    assert exactness([lin])["kind"] == "exact"
    assert exactness([prenorm(lin)])["kind"] == "series"
    with pytest.raises(ShapeError, match="polynomial"):
        certify(Steered((lin,), x_n=[1.0, 0.0], direction=[0.0, 1.0]), order=3)


def test_rational_model_radius_is_below_its_nearest_pole(rng):
    """A norm before a bilinear layer is exact rational: its poles are known exactly, and the
    certified radius must not pass the nearest one (the division by a box holding 0 is refused)."""
    from fractions import Fraction as Fr

    from symsteer.blocks import NormedBilinear, Residual
    from symsteer.rational import rational_form

    layer = Bilinear([[1, 0, 1], [0, 1, -1]], [[1, 1, 0], [0, 1, 1]], [[1, 0], [0, 1], [1, 1]])
    net = Network([Residual.add(NormedBilinear(layer, eps=Fr(1, 10)))])
    x, s = [1, 2, -1], [1, 0, 1]
    nearest = min(abs(p) for p in rational_form(net, x_n=x, s=s, steer_at=0).poles())
    disk = certified_radius(Steered.of_network(net, x_n=x, s=s, steer_at=0), outer=2 * nearest)
    assert 0.8 * nearest < disk.radius <= nearest


def test_qk_norm_with_rope_certificate(rng):
    from symsteer.blocks import Attention, Residual, Rotary

    from test_norms import qk_attention

    att, _ = qk_attention(rng, per_branch=True)
    att = Attention(q1=att.q1, k1=att.k1, q2=att.q2, k2=att.k2, v=att.v, o=att.o, heads=2, qk_norm=att.qk_norm,
                    rotary=Rotary(2, source="numpy"))
    model = SequenceModel((Residual.add(att),))
    x = rng.standard_normal((3, 4))
    D = np.zeros((3, 4))
    D[2] = rng.standard_normal(4)
    cert = certify(Steered.of_sequence(model, direction=D, steer_at=0, x=x), order=12)
    assert np.isfinite(cert.tail_bound)
    for alpha in np.linspace(-cert.rho, cert.rho, 15):
        got = model.forward(x, numbers=FLOAT, steer_at=0, direction=D, alpha=alpha)
        assert np.all(np.abs(polyval(cert.midpoints(), alpha) - got) <= cert.error_bound(alpha) + 1e-9)


# -- what the outputs say ----------------------------------------------------------------------


def normed_lm(rng, d=4, vocab=6):
    model = prenorm_model(rng, d=d)
    return SequenceModel(model.blocks, embed=rng.standard_normal((vocab, d)), head=model.head)


@pytest.fixture
def normed_cli(rng, monkeypatch):
    import symsteer.sequence_cli as sc

    model = normed_lm(rng)
    monkeypatch.setattr(sc, "load_sequence_model", lambda path, options, gate=True: (model, None))
    return sc, model


def test_expand_says_certified_series_within_rho(normed_cli):
    import json

    sc, model = normed_cli
    options = {"tokens": "0,3,5", "positions": "last"}
    data = json.loads(sc.expand_sequence("m", steer_at=0, max_order=10, s_value="1,0.5,0,-1", x_value=None, exact=None,
                                         fmt="json", options=options))
    info = data["exactness"]
    assert info["kind"] == "certified series" and info["order"] == 10
    assert 0 < info["rho"] < info["radius_lower_bound"] and math.isfinite(info["tail_bound"])
    assert set(data["values"]["0"]) == {"total"}
    text = sc.expand_sequence("m", steer_at=0, max_order=10, s_value="1,0.5,0,-1", x_value=None, exact=None, fmt="text",
                              options=options)
    assert "certified series" in text and "nothing is claimed outside" in text
    with pytest.raises(ShapeError, match="certified series"):
        sc.expand_sequence("m", steer_at=0, max_order=10, s_value="1,0.5,0,-1", x_value=None, exact=None, fmt="latex",
                           options=options)
    with pytest.raises(ShapeError, match="square root"):
        sc.expand_sequence("m", steer_at=0, max_order=10, s_value="1,0.5,0,-1", x_value=None, exact=True, fmt="json",
                           options=options)


def test_effect_flags_alphas_outside_the_certified_disk(normed_cli):
    import json

    sc, model = normed_cli
    options = {"tokens": "0,3,5", "positions": "last"}
    text, failed = sc.effect_sequence("m", steer_at=0, s_value="1,0.5,0,-1", alphas=(-0.01, 0.01, 5.0), max_order=10,
                                      fmt="json", options=options)
    data = json.loads(text)
    assert not failed and data["exactness"]["kind"] == "certified series"
    inside = [r["inside_certified_disk"] for r in data["alphas"]]
    assert inside == [True, True, False]
    text, _ = sc.effect_sequence("m", steer_at=0, s_value="1,0.5,0,-1", alphas=(0.01, 5.0), max_order=10, fmt="text",
                                 options=options)
    assert "OUTSIDE the certified disk" in text and "split by kind is not defined" in text


# -- calibration through norms ------------------------------------------------------------------


def test_calibrate_sequence_clips_to_the_certified_disk(rng):
    from symsteer.calibrate import calibrate_sequence

    model = normed_lm(rng)
    cal = calibrate_sequence(model, [1, 0.5, 0, -1], tokens=[0, 3, 5], steer_at=0, positions="last", lo=-10, hi=10)
    rho = cal.validity["rho"]
    assert cal.validity["kind"] == "certified series" and cal.requested == (-10.0, 10.0)
    assert cal.lo == -rho and cal.hi == rho and cal.within_bound
    for row in cal.rows:
        assert all(abs(f.alpha) <= rho for f in row.argmax_flips + row.topk_flips)
        assert all(a is None or abs(a) <= rho for a in row.iso_kl)
    data = cal.to_json()
    assert data["exactness"]["kind"] == "certified series" and data["requested_range"] == [-10.0, 10.0]
    assert "clipped to the certified disk" in cal.to_text()
    with pytest.raises(ShapeError, match="without --exact"):
        calibrate_sequence(model, [1, 0.5, 0, -1], tokens=[0, 3, 5], steer_at=0, exact=True)


def test_calibrate_finds_a_flip_inside_the_disk_and_checks_it(rng):
    """A large steering vector: the argmax at the steered position changes well inside ρ, and
    the flip is confirmed by forward passes on either side."""
    from symsteer.calibrate import calibrate_sequence

    model = normed_lm(rng)
    found = None
    for scale in (1.0, 2.0, 4.0, 8.0):
        cal = calibrate_sequence(model, scale * np.array([1, 0.5, 0, -1.0]), tokens=[0, 3, 5], steer_at=1,
                                 positions="last", lo=-10, hi=10, top_k=2)
        flips = [f for r in cal.rows for f in r.argmax_flips]
        if flips:
            found = (cal, flips)
            break
    assert found is not None, "no flip inside the certified disk for any scale"
    cal, flips = found
    assert all(f.verified for f in flips) and cal.within_bound


def test_calibrate_network_with_norms(rng):
    from symsteer.calibrate import calibrate_network

    layers = [prenorm(Bilinear.random(3, 4, rng=rng, kind="float", index=l), eps=0.1) for l in range(2)]
    net = Network(layers, unembed=rng.standard_normal((4, 3)))
    cal = calibrate_network(net, rng.standard_normal(3), rng.standard_normal((2, 3)), steer_at=0, lo=-5, hi=5)
    assert cal.validity["kind"] == "certified series" and cal.within_bound and cal.hi <= cal.validity["rho"]


# -- Taylor models over boxes of alpha ------------------------------------------------------------


@pytest.mark.parametrize("name,build,exact", [
    ("polynomial", lambda a: a * a * 3 + a * 2 + 5, lambda z: 3 * z * z + 2 * z + 5),
    ("rsqrt", lambda a: (a * a * 3 + a * 2 + 5).rsqrt(), lambda z: 1 / cmath.sqrt(3 * z * z + 2 * z + 5)),
    ("inverse", lambda a: 1 / (a * a * 3 + a * 2 + 5), lambda z: 1 / (3 * z * z + 2 * z + 5)),
    ("exp", lambda a: (a * 4).exp(), lambda z: cmath.exp(4 * z)),
    ("tanh", lambda a: (a * 3).tanh(), lambda z: cmath.tanh(3 * z)),
    ("degree 8", lambda a: (a * a * a * a * a * a * a * a * 10 + 1).rsqrt(), lambda z: 1 / cmath.sqrt(10 * z**8 + 1)),
])
def test_taylor_models_enclose_the_function_on_the_box(rng, name, build, exact):
    from flint import acb

    from symsteer.numbers import TaylorBoxes

    c, h = 0.3 + 0.1j, 0.05
    tm = build(TaylorBoxes(6).alpha(c, h))
    box = tm.enclosure()
    for _ in range(100):
        z = c + complex(rng.uniform(-h, h), rng.uniform(-h, h))
        p = tm.c[-1]
        for coeff in reversed(tm.c[:-1]):
            p = p * acb(z.real - c.real, z.imag - c.imag) + coeff
        value = exact(z)
        assert abs(complex(float(p.real.mid()), float(p.imag.mid())) - value) <= float(tm.r.upper()) + float(abs(p).rad()) + 1e-13
        assert box.contains(acb(value.real, value.imag))
    assert float(tm.r.upper()) < 0.05  # and the remainder is small: the model is tight, not just sound


def test_taylor_boxes_refuse_what_they_cannot_certify():
    from symsteer.numbers import TaylorBoxes

    a = TaylorBoxes(4).alpha(0j, 0.5)
    with pytest.raises(BranchError, match="varies by a factor"):
        (a * a * 100 + 1).inverse()          # 1 + 100 α² has zeros at ±0.1 i, inside the box
    with pytest.raises(BranchError):
        TaylorBoxes(4).rsqrt(np.array([a * 4 - 1]), "u")    # u crosses the negative axis on the box


def test_a_model_too_large_for_the_box_search_is_reported_uncertified(normed_cli, monkeypatch):
    import json

    import symsteer.series as series
    from symsteer.calibrate import calibrate_sequence
    from symsteer.errors import BudgetError

    sc, model = normed_cli
    monkeypatch.setattr(series, "BOX_WORK", 10)  # one box is already more work than allowed
    data = json.loads(sc.expand_sequence("m", steer_at=0, max_order=6, s_value="1,0.5,0,-1", x_value=None, exact=None,
                                         fmt="json", options={"tokens": "0,3,5", "positions": "last"}))
    assert data["exactness"]["kind"] == "series" and data["exactness"]["certified"] is False
    assert "too much work" in data["exactness"]["reason"]
    with pytest.raises(BudgetError, match="needs a certified radius"):
        calibrate_sequence(model, [1, 0.5, 0, -1], tokens=[0, 3, 5], steer_at=0)


def test_cli_calibrate_on_a_pre_norm_released_layout(tmp_path, capsys):
    """effect --calibrate on a bilinear-vpd file with RMSNorms: the range is clipped to the
    certified disk and the JSON says what the numbers are."""
    import json

    import lm_reference as ref
    from symsteer import cli

    sd = ref.bilinear_vpd_state(np.random.default_rng(10))
    np.savez(tmp_path / "model.npz", **{k: np.asarray(v) for k, v in sd.items()})
    (tmp_path / "config.json").write_text(json.dumps({"model": {"use_rmsnorm": True}}))
    code = cli.run(["effect", str(tmp_path / "model.npz"), "--tokens", "1,2,3,4", "--s", ",".join(["0.3"] * 6),
                    "--steer-at", "0", "--positions", "last", "--calibrate", "--alpha=-5:5:11", "--format", "json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    info = data["exactness"]
    assert info["kind"] == "certified series" and info["coefficient_radius"] < 1e-20
    assert data["requested_range"] == [-5.0, 5.0] and data["range"] == [-info["rho"], info["rho"]]
    assert data["within_certified_bound"] and data["verified"]
