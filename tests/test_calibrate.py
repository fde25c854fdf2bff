"""effect --calibrate: iso-KL α, turning points, overtakes and flips against forward passes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from symsteer import Network, ShapeError, forward
from symsteer import cli
from symsteer.calibrate import calibrate, calibrate_network, kl_divergence
from symsteer.io import load_model

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DIGITS = EXAMPLES / "digits.npz"
S38 = EXAMPLES / "s_3_minus_8.npy"
INPUTS = EXAMPLES / "test_inputs.npy"


def _digits():
    return load_model(str(DIGITS)), np.load(S38), np.load(INPUTS)[:6]


def test_iso_kl_alpha_spends_the_budget_by_forward_passes():
    net, s, xs = _digits()
    budget = 0.3
    cal = calibrate_network(net, s, xs, steer_at=0, budget=budget, lo=-8, hi=8)
    assert cal.verified
    base = forward(net, xs)
    for i, row in enumerate(cal.rows):
        for a, p in zip(row.iso_kl, row.iso_kl_target):
            assert a is not None  # the digits logits move a lot within |α| ≤ 8
            y = forward(net, xs[i], steer_at=0, s=s, alpha=a)
            kl = float(kl_divergence(base[i], y))
            assert abs(kl - budget) < 1e-9
            assert abs(p - np.exp(y[row.target]) / np.exp(y).sum()) < 1e-12
            # the first crossing: every α strictly between 0 and it spends less
            for t in np.linspace(0, a, 40)[1:-1]:
                assert float(kl_divergence(base[i], forward(net, xs[i], steer_at=0, s=s, alpha=float(t)))) < budget


def test_argmax_and_topk_flips_match_forward_passes_on_a_fine_grid():
    net, s, xs = _digits()
    lo, hi, k = -10.0, 10.0, 3
    cal = calibrate_network(net, s, xs, steer_at=0, lo=lo, hi=hi, top_k=k)
    grid = np.linspace(lo, hi, 4001)
    for i, row in enumerate(cal.rows):
        logits = np.stack([forward(net, xs[i], steer_at=0, s=s, alpha=float(a)) for a in grid])
        winners = logits.argmax(axis=1)
        tops = [tuple(sorted(np.argsort(-y)[:k].tolist())) for y in logits]
        # between consecutive flips the forward passes agree with what the flips say
        for flips, labels in ((row.argmax_flips, [(int(w),) for w in winners]), (row.topk_flips, tops)):
            assert all(f.verified for f in flips)
            edges = [lo, *(f.alpha for f in flips), hi]
            states = [flips[0].before] + [f.after for f in flips] if flips else [labels[0]]
            for (a, b), state in zip(zip(edges[:-1], edges[1:]), states):
                inside = [lab for g, lab in zip(grid, labels) if a + 1e-6 < g < b - 1e-6]
                assert all(lab == state for lab in inside), (row.label, a, b, state)
            # and no change on the grid is missed
            seen = sum(1 for u, v in zip(labels[:-1], labels[1:]) if u != v)
            assert seen <= len(flips)


def test_turning_points_are_where_the_target_logit_turns():
    net = Network.random(layers=2, width=3, hidden=3, residual=True, unembed=4, kind="float", seed=3)
    xs = np.random.default_rng(0).normal(size=(5, 3))
    s = np.array([1.0, -0.5, 0.25])
    cal = calibrate_network(net, s, xs, steer_at=0, lo=-4, hi=4, targets=[0] * 5)
    turning = [(i, t) for i, r in enumerate(cal.rows) for t in r.target_turning_points]
    assert turning, "a degree-4 polynomial in α on five inputs turns somewhere in [-4, 4]"
    for i, t in turning:
        h = 1e-4
        left = forward(net, xs[i], steer_at=0, s=s, alpha=t - h)[0] - forward(net, xs[i], steer_at=0, s=s, alpha=t - 2 * h)[0]
        right = forward(net, xs[i], steer_at=0, s=s, alpha=t + 2 * h)[0] - forward(net, xs[i], steer_at=0, s=s, alpha=t + h)[0]
        assert left * right < 0  # the slope changes sign: a maximum or a minimum of the logit
    monotone = [r for r in cal.rows if not r.non_monotone]
    for r in monotone:
        i = int(r.label.split()[-1])
        ys = np.array([forward(net, xs[i], steer_at=0, s=s, alpha=float(a))[0] for a in np.linspace(-4, 4, 400)])
        assert np.all(np.diff(ys) >= 0) or np.all(np.diff(ys) <= 0)


def test_a_wrong_forward_pass_is_caught():
    """Flips and iso-KL are checked against the forward pass handed in: a model that disagrees
    with the polynomial leaves the calibration unverified."""
    c = np.array([[[0.0, 0.0, -1.0]], [[1.0, -1.0, 0.0]]])  # y = (α, −α, −1)
    ok = calibrate(c, lambda a: np.array([[a, -a, -1.0]]), lo=-3, hi=3, top_k=2)
    assert ok.verified and [f.alpha for f in ok.rows[0].argmax_flips] == [0.0]
    bad = calibrate(c, lambda a: np.array([[a + 0.5, -a, -1.0]]), lo=-3, hi=3, top_k=2)
    assert not bad.verified


def test_bad_arguments_are_refused():
    c = np.zeros((2, 1, 3))
    for kwargs in ({"budget": 0.0}, {"budget": math.inf}, {"lo": 1.0}, {"top_k": 0}, {"targets": [5]}):
        with pytest.raises(ShapeError):
            calibrate(c, lambda a: np.zeros((1, 3)), **kwargs)
    with pytest.raises(ShapeError):
        calibrate(np.zeros((2, 3)), lambda a: np.zeros(3))


def test_cli_calibrate_json_and_plot(tmp_path, capsys):
    plot = tmp_path / "cal.png"
    code = cli.run(["effect", str(DIGITS), "--steer-at", "0", "--s", str(S38), "--inputs", str(INPUTS),
                    "--calibrate", "--kl-budget", "0.25", "--alpha", "-6:6:13", "--top-k", "2", "--format", "json",
                    "--plot", str(plot)])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["verified"] and data["kl_budget"] == 0.25 and data["range"] == [-6.0, 6.0]
    assert len(data["rows"]) == 20 and plot.stat().st_size > 0
    net, s, xs = load_model(str(DIGITS)), np.load(S38), np.load(INPUTS)
    row = data["rows"][0]
    a = row["iso_kl_alpha"][1]
    assert abs(float(kl_divergence(forward(net, xs[0]), forward(net, xs[0], steer_at=0, s=s, alpha=a))) - 0.25) < 1e-9


@pytest.mark.parametrize("args", [["--kl-budget", "-1"], ["--top-k", "0"], ["--alpha", "1:2:3"], []])
def test_cli_calibrate_usage_errors(args, capsys):
    extra = [] if args == [] else ["--inputs", str(INPUTS)]
    code = cli.run(["effect", str(DIGITS), "--steer-at", "0", "--s", str(S38), "--calibrate", *extra, *args])
    assert code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_exact_flips_are_enclosed_by_certified_intervals_where_the_exact_difference_changes_sign():
    from symsteer._coefficients import coefficients, stream
    from symsteer.numbers import EXACT

    net, s, xs = _digits()
    xs = xs[:3]
    cal = calibrate_network(net, s, xs, steer_at=0, lo=-10, hi=10, top_k=3, exact=True)
    assert cal.verified and cal.certified
    exact = coefficients(net, x_n=stream(net, xs, numbers=EXACT)[0], s=s, steer_at=0, numbers=EXACT)
    flips = 0
    for i, row in enumerate(cal.rows):
        for f in row.argmax_flips:
            lo, hi = f.interval
            assert lo <= f.alpha <= hi and hi - lo < 1e-9 * max(1.0, abs(f.alpha))
            diff = exact[:, i, f.before[0]] - exact[:, i, f.after[0]]
            at = [sum(diff[m] * EXACT.entry(x) ** m for m in range(len(diff))) for x in (lo, hi)]
            assert at[0] > 0 > at[1]  # `before` wins just left of the interval, `after` just right
            flips += 1
    assert flips >= 3


def test_cli_calibrate_exact_certifies(capsys):
    code = cli.run(["effect", str(DIGITS), "--steer-at", "0", "--s", str(S38), "--inputs", str(INPUTS),
                    "--calibrate", "--exact", "--alpha", "-5:5:11", "--show", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "every flip's root enclosed by certified ball arithmetic: yes" in out and "(certified)" in out


# -- the shipped tiny tensor transformer ----------------------------------------------------------

TINY = EXAMPLES / "tiny_lm"


def _tiny():
    from symsteer.sequence_cli import load_sequence_model

    model, _ = load_sequence_model(str(TINY / "model.safetensors"), {})
    names = json.loads((TINY / "config.json").read_text())["tokens"]
    return model, names


def test_cli_calibrate_on_the_shipped_lm_against_forward_passes(capsys):
    from symsteer.numbers import FLOAT
    from symsteer.sequence import direction

    model, names = _tiny()
    prompt = ["BOS", "f4", "K1", "f10", "f3", "f16", "Q0"]
    tokens = [names.index(t) for t in prompt]
    code = cli.run(["effect", str(TINY / "model.safetensors"), "--steer-at", "2", "--s", str(TINY / "steer_K0_minus_K1.npy"),
                    "--tokens", ",".join(map(str, tokens)), "--positions", "2", "--calibrate", "--exact",
                    "--kl-budget", "1", "--alpha=-5:5:11", "--target", str(names.index("A0")), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["verified"] and data["certified"]
    assert [r["label"] for r in data["rows"]] == [f"position {t} ({prompt[t]})" for t in range(2, 7)]
    s = np.load(TINY / "steer_K0_minus_K1.npy").astype(np.float64)
    x0 = model.inputs(tokens=tokens, numbers=FLOAT)
    D = direction(model, [2], s, length=len(tokens), steer_at=2)

    def logits(a: float) -> np.ndarray:
        return model.forward(x0, numbers=FLOAT, steer_at=2, direction=D, alpha=a)

    base = logits(0.0)
    last = data["rows"][-1]
    # the vector does what it was built for: at the query the answer turns from A3 to A0, at an exact root
    turn = [f for f in last["argmax_flips"] if names[f["before"][0]] == "A3" and names[f["after"][0]] == "A0"]
    assert len(turn) == 1
    lo, hi = turn[0]["certified_interval"]
    assert names[int(logits(lo - 1e-9)[-1].argmax())] == "A3" and names[int(logits(hi + 1e-9)[-1].argmax())] == "A0"
    for t, row in zip(range(2, 7), data["rows"]):
        for a in row["iso_kl_alpha"]:
            assert abs(float(kl_divergence(base[t], logits(a)[t])) - 1.0) < 1e-9
        # every argmax flip is a change of the forward pass's argmax across its certified interval
        for f in row["argmax_flips"]:
            lo, hi = f["certified_interval"]
            step = 1e-9 * max(1.0, abs(lo))
            assert int(logits(lo - step)[t].argmax()) == f["before"][0] and int(logits(hi + step)[t].argmax()) == f["after"][0]


def test_steering_only_the_last_position_never_gives_the_trained_answer():
    """Which position is steered matters: the same vector at the query instead of the key."""
    from symsteer.calibrate import calibrate_sequence

    model, names = _tiny()
    tokens = [names.index(t) for t in ["BOS", "f4", "K1", "f10", "f3", "f16", "Q0"]]
    s = np.load(TINY / "steer_K0_minus_K1.npy").astype(np.float64)
    at_key = calibrate_sequence(model, s, tokens=tokens, steer_at=2, positions=[2], rows=[6], lo=-5, hi=5, top_k=3)
    at_last = calibrate_sequence(model, s, tokens=tokens, steer_at=2, positions="last", lo=-5, hi=5, top_k=3)
    assert at_key.verified and at_last.verified and len(at_last.rows) == 1
    a0 = names.index("A0")
    assert any(f.after == (a0,) for f in at_key.rows[0].argmax_flips)
    assert not any(f.after == (a0,) for f in at_last.rows[0].argmax_flips)


def test_cli_calibrate_on_a_sequence_model_needs_tokens_and_a_token_target(capsys):
    args = ["effect", str(TINY / "model.safetensors"), "--steer-at", "2", "--s", str(TINY / "steer_K0_minus_K1.npy")]
    assert cli.run(args + ["--calibrate"]) == 2
    assert cli.run(args + ["--calibrate", "--tokens", "0,5", "--target", "99"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_too_many_outputs_for_pairwise_flips_is_refused_before_any_root():
    from symsteer.errors import BudgetError

    v = 700
    c = np.zeros((2, 1, v))
    with pytest.raises(BudgetError, match="700 outputs"):
        calibrate(c, lambda a: np.zeros((1, v)))


def test_iso_kl_inside_the_first_grid_step_is_bisected_from_zero():
    c = np.array([[[0.0, 0.0]], [[100.0, -100.0]]])  # KL(α) = log cosh(100 α): the budget is spent at α ≈ 0.0045
    cal = calibrate(c, lambda a: np.array([[100 * a, -100 * a]]), budget=0.1, lo=-2, hi=2, points=5)
    want = math.acosh(math.exp(0.1)) / 100
    assert abs(cal.rows[0].iso_kl[1] - want) < 1e-12 and abs(cal.rows[0].iso_kl[0] + want) < 1e-12
