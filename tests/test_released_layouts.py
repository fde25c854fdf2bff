"""The released tensor-transformer LMs: each loaded from a state dict named and shaped as its
class names it, checked against an independent forward (tests/lm_reference.py), refused when it
fits no layout; the lane, fork and softcap blocks those layouts need; α-series against forward
passes at small α."""

from __future__ import annotations

import json

import numpy as np
import pytest

from symsteer.blocks import Attention, Chain, Fork, LaneMix, Linear, Place, Residual, RMSNorm, Slice, Softcap
from symsteer.blocks.softcap import tanh_series
from symsteer.errors import InputFileError, ShapeError
from symsteer.layouts import LAYOUTS, load_model, model_arrays
from symsteer.numbers import EXACT, FLOAT
from symsteer.sequence import SequenceModel

import lm_reference as ref

pytest.importorskip("torch")  # rotary tables as the research code computes them


def _save(tmp_path, sd, config=None, name="model.npz"):
    path = tmp_path / name
    np.savez(path, **sd)
    if config is not None:
        (tmp_path / "config.json").write_text(json.dumps(config))
    return path


def _relative(got, want):
    return float(np.max(np.abs(np.asarray(got) - want)) / max(float(np.max(np.abs(want))), 1.0))


def _series_matches_forward(model: SequenceModel, tokens, *, steer_at: int, K: int = 6, alpha: float = 2e-3,
                            seed: int = 0, positions=None) -> float:
    """Σ_m c_m α^m (float64, K orders) against the model's forward pass at α: returns the error."""
    rng = np.random.default_rng(seed)
    x0 = model.inputs(tokens=tokens, numbers=FLOAT)
    T = x0.shape[0]
    D = np.zeros((T, model.width_at(steer_at)))
    for t in (range(T) if positions is None else positions):
        D[t] = rng.standard_normal(model.width_at(steer_at))
    x_n = model.stream(x0, numbers=FLOAT)[steer_at]
    c = model.coefficients(x_n, D, steer_at=steer_at, max_order=K, numbers=FLOAT)
    poly = sum(c[m] * alpha**m for m in range(len(c)))
    direct = model.forward(x0, numbers=FLOAT, steer_at=steer_at, direction=D, alpha=alpha)
    return _relative(poly, direct)


# -- blocks -----------------------------------------------------------------------------------


def test_lane_blocks_are_exact_linear_maps():
    x = EXACT.vector([[1, 2, 3, 4], [5, 6, 7, 8]], "x", 4)
    assert Slice(4, 1, 3).forward(x, numbers=EXACT).tolist() == [[2, 3], [6, 7]]
    fork = Fork(Slice(4, 2, 4), Slice(4, 0, 1))
    assert fork.forward(x, numbers=EXACT).tolist() == [[3, 4, 1], [7, 8, 5]]
    placed = Place(Slice(4, 0, 2), width=5, at=3).forward(x, numbers=EXACT).tolist()
    assert placed == [[0, 0, 0, 1, 2], [0, 0, 0, 5, 6]]
    mix = LaneMix([[3, -1], [0, 1]], width=2).forward(x, numbers=EXACT).tolist()  # x ← 3 x − x0, x0 kept
    assert mix == [[0, 2, 3, 4], [8, 10, 7, 8]]
    # as α-coefficient maps they act on every order alike
    cs = np.stack([np.asarray(x), np.asarray(x) * 2])
    assert LaneMix([[3, -1], [0, 1]], width=2).propagate(cs, top=3, numbers=EXACT)[1].tolist() == [[0, 4, 6, 8], [16, 20, 14, 16]]


def test_lane_blocks_refuse_bad_shapes():
    with pytest.raises(ShapeError, match="stop ≤ 4"):
        Slice(4, 2, 6)
    with pytest.raises(ShapeError, match="does not fit"):
        Place(Slice(4, 0, 3), width=4, at=2)
    with pytest.raises(ShapeError, match="one input"):
        Fork(Slice(4, 0, 1), Slice(3, 0, 1))


def test_fork_pads_a_part_of_lower_degree():
    rng = np.random.default_rng(1)
    att = Attention.random(2, heads=1, rng=rng)
    fork = Fork(att, Slice(2, 0, 2))
    cs = rng.standard_normal((2, 3, 2))
    out = fork.propagate(cs, top=5, numbers=FLOAT)
    assert out.shape == (6, 3, 4)
    assert np.allclose(out[:2, :, 2:], cs) and np.all(out[2:, :, 2:] == 0)


def test_softcap_series_is_the_taylor_series_of_its_forward():
    rng = np.random.default_rng(2)
    cap = Softcap(3, cap=30)
    cs = rng.standard_normal((2, 3)) * 20  # y(α) = y0 + α y1, entries of size 30: tanh far from linear
    series = cap.propagate(cs, top=8, numbers=FLOAT)
    for a in (1e-2, -3e-2):
        want = cap.forward(cs[0] + a * cs[1], numbers=FLOAT)
        got = sum(series[m] * a**m for m in range(9))
        assert np.max(np.abs(got - want)) < 1e-9
    # the known series of tanh
    assert np.allclose(tanh_series(np.array([[0.0], [1.0]]), top=7, numbers=FLOAT).ravel(),
                       [0, 1, 0, -1 / 3, 0, 2 / 15, 0, -17 / 315])
    assert np.all(np.abs(cap.forward(np.array([1e3, -1e3, 0.0]), numbers=FLOAT)) <= 30)
    with pytest.raises(ShapeError, match="not rational"):
        cap.forward(EXACT.vector([1, 2, 3], "x", 3), numbers=EXACT)


def test_steer_width_leaves_the_carried_lanes_unsteered():
    rng = np.random.default_rng(3)
    # stream [x | x0]: the block adds x0 to x; steering must not touch x0
    block = LaneMix([[1, 1], [0, 1]], width=2)
    model = SequenceModel((block, block), steer_width=2)
    x0 = rng.standard_normal((3, 4))
    D = np.ones((3, 2))
    out = model.forward(x0, numbers=FLOAT, steer_at=1, direction=D, alpha=2.0)
    plain = model.forward(x0, numbers=FLOAT)
    assert np.allclose(out[:, :2] - plain[:, :2], 2.0) and np.allclose(out[:, 2:], plain[:, 2:])
    assert model.width_at(1) == 2 and model.stream_width(1) == 4
    c = model.coefficients(model.stream(x0, numbers=FLOAT)[1], D, steer_at=1, numbers=FLOAT)
    assert np.allclose(c[1][:, :2], 1) and np.allclose(c[1][:, 2:], 0)
    with pytest.raises(ShapeError, match="steer_width"):
        SequenceModel((block,), steer_width=5)


# -- henrylhale/bilinear-vpd ---------------------------------------------------------------------


@pytest.mark.parametrize("scales,norm", [(None, "rmsnorm"), (None, "none"), ("channel", None), ("scalar", None)])
def test_bilinear_vpd_loads_and_matches_the_reference(tmp_path, scales, norm):
    rng = np.random.default_rng(4)
    sd = ref.bilinear_vpd_state(rng, scales=scales)
    config = {"model": {"use_rmsnorm": norm == "rmsnorm", "rope_base": 10000.0, "seq_len": 8}} if norm else None
    model = load_model(_save(tmp_path, sd, config))
    assert isinstance(model, SequenceModel) and model.depth == 4
    for tokens in ([1, 4, 0, 6, 2], [3, 3, 5, 1, 0, 2, 6, 4]):
        want = ref.bilinear_vpd(sd, tokens, norm=norm or "channel")
        assert _relative(model.forward(model.inputs(tokens=tokens, numbers=FLOAT), numbers=FLOAT), want) < 1e-12
    D = rng.standard_normal((5, 6))
    got = model.forward(model.inputs(tokens=[1, 4, 0, 6, 2], numbers=FLOAT), numbers=FLOAT, steer_at=1, direction=D, alpha=0.3)
    assert _relative(got, ref.bilinear_vpd(sd, [1, 4, 0, 6, 2], norm=norm or "channel", steer=(1, D, 0.3))) < 1e-12


def test_bilinear_vpd_series_matches_forward_passes_at_small_alpha(tmp_path):
    sd = ref.bilinear_vpd_state(np.random.default_rng(5))
    model = load_model(_save(tmp_path, sd, {"model": {"use_rmsnorm": True}}))
    for n in (0, 1, 3):
        assert _series_matches_forward(model, [2, 0, 5, 1], steer_at=n) < 1e-10
    # a truncation: the error falls like alpha^(K+1)
    coarse = [_series_matches_forward(model, [2, 0, 5, 1], steer_at=0, K=2, alpha=a) for a in (4e-2, 2e-2)]
    assert 4 < coarse[0] / coarse[1] < 16
    # with learned scales only the model is a polynomial: the series is the whole of it
    sd = ref.bilinear_vpd_state(np.random.default_rng(5), scales="channel")
    model = model_arrays(sd, source="vpd")
    assert model.degree(2) is not None
    assert _series_matches_forward(model, [2, 0, 5, 1], steer_at=2, K=model.degree(2), alpha=0.7) < 1e-10


def test_bilinear_vpd_refuses_what_it_cannot_tell_or_read(tmp_path):
    sd = ref.bilinear_vpd_state(np.random.default_rng(6))
    with pytest.raises(InputFileError, match="cannot tell"):
        load_model(_save(tmp_path, sd))  # RMSNorm or identity: only the config says
    with pytest.raises(InputFileError, match="d_mlp=7"):
        model_arrays(sd, source="vpd", layout=LAYOUTS["bilinear-vpd"], config={"model": {"use_rmsnorm": True, "d_mlp": 7}})
    bad = dict(sd)
    del bad["blocks.1.mlp.w_n.weight"]
    with pytest.raises(InputFileError, match="blocks.1.mlp.w_n.weight"):
        model_arrays(bad, source="vpd", layout=LAYOUTS["bilinear-vpd"], config={"model": {"use_rmsnorm": True}})
    bad = dict(sd)
    bad["blocks.0.attn.q1_proj.weight"] = np.zeros((3, 6))
    with pytest.raises(InputFileError, match="q2_proj.weight has shape"):
        model_arrays(bad, source="vpd", layout=LAYOUTS["bilinear-vpd"], config={"model": {"use_rmsnorm": True}})


# -- tdooms/bilinear-decomposition (softmax attention, frozen for the analysis) ---------------------


def _decomposition_config(norm=True, bias=False):
    return {"n_head": 2, "n_layer": 2, "n_ctx": 16, "d_model": 8, "d_hidden": 6, "bilinear": True, "gate": None,
            "bias": bias, "normalization": norm}


@pytest.mark.parametrize("norm,bias", [(True, False), (False, True)])
def test_decomposition_loads_with_true_softmax_and_freezes_for_analysis(tmp_path, norm, bias):
    from symsteer.bilinear_decomposition import DecompositionConfig, load_bilinear_decomposition

    sd = ref.decomposition_state(np.random.default_rng(7), bias=bias)
    model = load_model(_save(tmp_path, sd, _decomposition_config(norm, bias)))
    tokens = [3, 1, 4, 1, 5, 0]
    x0 = model.inputs(tokens=tokens, numbers=FLOAT)
    assert _relative(model.forward(x0, numbers=FLOAT), ref.decomposition(sd, tokens, n_head=2, normalization=norm)) < 1e-12
    with pytest.raises(ShapeError, match="frozen at the unsteered tokens"):
        model.coefficients(model.stream(x0, numbers=FLOAT)[0], np.ones((6, 8)), steer_at=0, max_order=2, numbers=FLOAT)
    frozen = load_bilinear_decomposition(sd, DecompositionConfig.of(_decomposition_config(norm, bias), source="m"), tokens=tokens)
    assert "frozen" in frozen.describe() and "frozen at the unsteered tokens 3,1,4,1,5,0" in frozen.name
    # unsteered, the frozen model is the model; steered, it is the reference with the patterns frozen
    assert _relative(frozen.forward(x0, numbers=FLOAT), ref.decomposition(sd, tokens, n_head=2, normalization=norm)) < 1e-12
    D = np.random.default_rng(8).standard_normal((6, 8))
    got = frozen.forward(x0, numbers=FLOAT, steer_at=1, direction=D, alpha=0.4)
    want = ref.decomposition(sd, tokens, n_head=2, normalization=norm, freeze=tokens, steer=(1, D, 0.4))
    assert _relative(got, want) < 1e-12
    true = ref.decomposition(sd, tokens, n_head=2, normalization=norm, steer=(1, D, 0.4))
    assert _relative(got, true) > 1e-6  # the frozen analysis is an approximation, not the model
    assert _series_matches_forward(frozen, tokens, steer_at=0) < 1e-10
    if not norm:  # without norms a frozen block is linear: the whole polynomial, at any α
        assert _series_matches_forward(frozen, tokens, steer_at=1, K=frozen.degree(1), alpha=0.9) < 1e-10


def test_decomposition_refuses_what_it_cannot_read(tmp_path):
    sd = ref.decomposition_state(np.random.default_rng(9))
    with pytest.raises(InputFileError, match="n_head, normalization"):
        load_model(_save(tmp_path, sd))
    with pytest.raises(InputFileError, match="gate"):
        model_arrays(sd, source="m", config=_decomposition_config() | {"gate": "relu"})
    with pytest.raises(InputFileError, match="n_layer=3"):
        model_arrays(sd, source="m", config=_decomposition_config() | {"n_layer": 3})
    bad = dict(sd)
    bad["transformer.h.0.attn.rotary.inv_freq"] = sd["transformer.h.0.attn.rotary.inv_freq"] * 2
    with pytest.raises(InputFileError, match="inv_freq"):
        model_arrays(bad, source="m", config=_decomposition_config())
    bad = dict(sd)
    bad["transformer.h.1.ln_1.weight"] = np.ones(8)
    with pytest.raises(InputFileError, match="fit no known layout|ln_1"):
        model_arrays(bad, source="m", config=_decomposition_config())


# -- the command line on each layout --------------------------------------------------------------


def _cli(capsys, *args):
    from symsteer import cli

    code = cli.run([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out + out.err


def _recorded(tmp_path, outputs, ids):
    np.save(tmp_path / "ids.npy", np.asarray(ids))
    np.save(tmp_path / "out.npy", np.asarray(outputs))
    return tmp_path / "out.npy", tmp_path / "ids.npy"


def test_cli_expand_effect_and_gate_on_a_bilinear_vpd_file(tmp_path, capsys):
    sd = ref.bilinear_vpd_state(np.random.default_rng(10), layers=1)
    path = _save(tmp_path, sd, {"model": {"use_rmsnorm": True}})
    ids = np.array([[1, 2, 3, 4], [0, 6, 5, 1]])
    out, inp = _recorded(tmp_path, [ref.bilinear_vpd(sd, row) for row in ids], ids)
    s = ",".join(["0.3"] * 6)
    code, text = _cli(capsys, "expand", "--model", path, "--layout", "bilinear-vpd", "--tokens", "1,2,3,4", "--s", s,
                      "--positions", "last", "--max-order", "2", "--format", "json", "--reference", out, "--inputs", inp)
    assert code == 0, text
    data = json.loads(text)
    assert data["steered"] == [3] and data["truncated"] and "RMSNorm" in data["model"]
    code, text = _cli(capsys, "effect", "--model", path, "--tokens", "1,2,3,4", "--s", s, "--steer-at", "1",
                      "--alpha=-0.01,0,0.01", "--max-order", "4", "--reference", out, "--inputs", inp)
    assert code == 0, text
    assert "relative difference" in text
    code, text = _cli(capsys, "gate", "--model", path, "--inputs", inp, "--reference", out)
    assert code == 0 and text.startswith("ok:"), text
    code, text = _cli(capsys, "check", "--model", path)  # bilinear networks only: refused in one line
    assert code == 2 and "sequence model" in text, text
    # a model that is not the one recorded is refused before anything is said about it
    wrong = dict(sd)
    wrong["blocks.0.mlp.w_m.weight"] = sd["blocks.0.mlp.w_m.weight"] * 1.01
    other = _save(tmp_path, wrong, name="wrong.npz")
    code, text = _cli(capsys, "expand", "--model", other, "--tokens", "1,2,3,4", "--s", s, "--max-order", "1",
                      "--reference", out, "--inputs", inp)
    assert code == 1 and "differs from the reference" in text, text


def test_cli_freezes_the_decomposition_transformer_and_says_so(tmp_path, capsys):
    sd = ref.decomposition_state(np.random.default_rng(11))
    path = _save(tmp_path, sd, _decomposition_config())
    ids = np.array([[3, 1, 4, 1, 5]])
    out, inp = _recorded(tmp_path, [ref.decomposition(sd, ids[0], n_head=2)], ids)
    s = ",".join(["0.2"] * 8)
    code, text = _cli(capsys, "effect", "--model", path, "--tokens", "3,1,4,1,5", "--s", s, "--steer-at", "1",
                      "--alpha=-0.0001,0,0.0001", "--max-order", "4", "--format", "json", "--reference", out, "--inputs", inp)
    assert code == 0, text
    data = json.loads(text)
    assert data["model"].count("softmax frozen at the unsteered stream") == 2
    assert "softmax frozen" in data["exactness"]["frozen_attention"]  # the statement is about the frozen model
    assert max(r["difference"] for r in data["alphas"]) < 1e-9
    code, text = _cli(capsys, "expand", "--model", path, "--x", str(inp), "--s", s)
    assert code != 0 and "--tokens" in text


# -- loganriggs/tensor_language GPT (the released LMs) ----------------------------------------------


_F64_EPS = float(np.finfo(np.float64).eps)
_F32_EPS = float(np.finfo(np.float32).eps)


@pytest.mark.parametrize("two,bilinear", [(True, True), (False, False)])
def test_gpt_loads_and_matches_the_reference(tmp_path, two, bilinear):
    sd = ref.gpt_state(np.random.default_rng(12), two=two, bilinear=bilinear)
    config = {"n_head": 2, "bilinear_attn": two, "squared_attn": True, "bilinear": bilinear, "squared_mlp": not bilinear}
    model = load_model(_save(tmp_path, sd, config))
    assert model.steer_width == 8 and model.width_at(0) == 8 and model.stream_width(0) == 16 and model.stream_width(1) == 24
    tokens = [3, 1, 4, 1, 5, 9, 2]
    x0 = model.inputs(tokens=tokens, numbers=FLOAT)
    assert _relative(model.forward(x0, numbers=FLOAT), ref.gpt(sd, tokens, n_head=2, eps=_F64_EPS)) < 1e-12
    S = np.random.default_rng(13).standard_normal((7, 8))
    for n in (0, 1, 2, 3, 4):  # block inputs (x0 untouched), between attention and MLP, the last stream
        got = model.forward(x0, numbers=FLOAT, steer_at=n, direction=S, alpha=0.6)
        assert _relative(got, ref.gpt(sd, tokens, n_head=2, eps=_F64_EPS, steer=(n, S, 0.6))) < 1e-12, n
    # a float32 file runs with float32's ε, as F.rms_norm(eps=None) does
    sd32 = {k: v.astype(np.float32) for k, v in sd.items()}
    model32 = model_arrays(sd32, source="gpt32", config=config)
    got = model32.forward(model32.inputs(tokens=tokens, numbers=FLOAT), numbers=FLOAT)
    assert _relative(got, ref.gpt(sd32, tokens, n_head=2, eps=_F32_EPS)) < 1e-12


def test_gpt_series_matches_forward_passes_at_small_alpha():
    sd = ref.gpt_state(np.random.default_rng(14))
    model = model_arrays(sd, source="gpt", config={"n_head": 2, "bilinear_attn": True, "squared_attn": True, "bilinear": True})
    for n in (0, 1, 3):
        assert _series_matches_forward(model, [2, 7, 1, 8, 2], steer_at=n) < 1e-10, n
    assert _series_matches_forward(model, [2, 7, 1, 8, 2], steer_at=0, positions=[4]) < 1e-10
    coarse = [_series_matches_forward(model, [2, 7, 1, 8, 2], steer_at=2, K=2, alpha=a) for a in (2e-2, 1e-2)]
    assert 4 < coarse[0] / coarse[1] < 16  # a truncation: the error falls like alpha^(K+1)


def test_gpt_refuses_what_is_not_a_polynomial_or_not_said():
    sd = ref.gpt_state(np.random.default_rng(15))
    config = {"n_head": 2, "bilinear_attn": True, "squared_attn": True, "bilinear": True}
    with pytest.raises(InputFileError, match="number of heads"):
        model_arrays(sd, source="gpt", config={})
    with pytest.raises(InputFileError, match="differential softmax"):
        model_arrays(sd | {"transformer.h.1.attn.bilinear_lamb": np.asarray(0.8)}, source="gpt", config=config)
    with pytest.raises(InputFileError, match="gated"):
        model_arrays(sd, source="gpt", config=config | {"gated": True})
    one = ref.gpt_state(np.random.default_rng(15), two=False, bilinear=False)
    with pytest.raises(InputFileError, match="softmax attention"):
        model_arrays(one, source="gpt", config={"n_head": 2, "squared_mlp": True})
    with pytest.raises(InputFileError, match="relu"):
        model_arrays(one, source="gpt", config={"n_head": 2, "squared_attn": True})
    with pytest.raises(InputFileError, match="n_layer=3"):
        model_arrays(sd, source="gpt", config=config | {"n_layer": 3, "n_embd": 8, "vocab_size": 11, "expansion_factor": 2})
    with pytest.raises(InputFileError, match="bilinear_attn=false"):
        model_arrays(sd, source="gpt", config=config | {"bilinear_attn": False})
    with pytest.raises(InputFileError, match="bilinear=false"):
        model_arrays(sd, source="gpt", config=config | {"bilinear": False, "squared_mlp": True})
    bad = dict(sd)
    del bad["transformer.h.0.attn.lamb"]
    with pytest.raises(InputFileError, match="transformer.h.0.attn.lamb"):
        model_arrays(bad, source="gpt", config=config)
    with pytest.raises(InputFileError, match="fit no known layout|_orig_mod"):
        model_arrays({f"_orig_mod.{k}": v for k, v in sd.items()}, source="gpt", config=config)


def test_cli_on_a_gpt_file_with_its_recorded_logits(tmp_path, capsys):
    sd = ref.gpt_state(np.random.default_rng(16), layers=1, d=4, vocab=7)
    path = _save(tmp_path, sd, {"n_head": 2, "bilinear_attn": True, "squared_attn": True, "bilinear": True})
    ids = np.array([[3, 1, 4, 1], [2, 6, 1, 5]])
    out, inp = _recorded(tmp_path, [ref.gpt(sd, row, n_head=2, eps=_F64_EPS) for row in ids], ids)
    s = ",".join(["0.25"] * 4)
    code, text = _cli(capsys, "effect", "--model", path, "--layout", "tensor-language-gpt", "--tokens", "3,1,4,1", "--s", s,
                      "--steer-at", "1", "--positions", "from:2", "--alpha=-0.001,0,0.001", "--max-order", "4",
                      "--format", "json", "--reference", out, "--inputs", inp)
    assert code == 0, text
    data = json.loads(text)
    assert "softcap" in data["model"] and max(r["difference"] for r in data["alphas"]) < 1e-9
    code, text = _cli(capsys, "expand", "--model", path, "--tokens", "3,1,4,1", "--s", s, "--max-order", "2")
    assert code == 0 and "outputs before position 0" in text, text
    code, text = _cli(capsys, "gate", "--model", path, "--inputs", inp, "--reference", out)
    assert code == 0, text


# -- tdooms/tensor-similarity CheckpointTransformer ------------------------------------------------


@pytest.mark.parametrize("residual", ["add", "lerp"])
def test_checkpoint_transformer_folds_the_bos_norm_and_matches_the_reference(tmp_path, residual):
    sd = ref.checkpoint_state(np.random.default_rng(17), dtype=np.float64)
    config = {"model": {"n_head": 2, "attn_scale": 0.35, "attn_type": "bilinear"}} | ({"residual": "lerp"} if residual == "lerp" else {})
    model = load_model(_save(tmp_path, sd, config))
    tokens = [1, 8, 2, 8, 1, 8]
    x0 = model.inputs(tokens=tokens, numbers=FLOAT)
    want = ref.checkpoint(sd, tokens, n_head=2, residual=residual)
    # the fold is computed in float32, as _absorb_final_norm does: float32 rounding of U/√(e + ε)
    assert _relative(model.forward(x0, numbers=FLOAT), want) < 1e-6
    D = np.random.default_rng(18).standard_normal((6, 8))
    got = model.forward(x0, numbers=FLOAT, steer_at=1, direction=D, alpha=0.5)
    assert _relative(got, ref.checkpoint(sd, tokens, n_head=2, residual=residual, steer=(1, D, 0.5))) < 1e-6
    # polynomial: the whole expansion is exact at any α
    assert _series_matches_forward(model, tokens, steer_at=1, K=model.degree(1), alpha=0.8) < 1e-10
    folded = model.head.M
    assert np.allclose(folded, sd["unembed.weight"] / np.sqrt(2.5 + 1e-6), rtol=1e-6)


def test_checkpoint_transformer_refusals():
    sd = ref.checkpoint_state(np.random.default_rng(19))
    with pytest.raises(InputFileError, match="number of heads"):
        model_arrays(sd, source="ckpt", config={"model": {"attn_scale": 0.35}})
    with pytest.raises(InputFileError, match="attn_type"):
        model_arrays(sd, source="ckpt", config={"model": {"n_head": 2, "attn_type": "softmax"}})
    with pytest.raises(InputFileError, match="no bias there"):
        model_arrays(sd | {"layers.0.v.bias": np.zeros(8, np.float32)}, source="ckpt", config={"model": {"n_head": 2}})
    assert load_model is not None and LAYOUTS["tensor-similarity-checkpoint"].claims(list(sd))
    assert not LAYOUTS["tensor-language"].claims(list(sd))


# -- loganriggs/tensor_language DeepModel built with norm=True -----------------------------------


def test_deep_model_with_norms_loads_and_matches_the_reference(tmp_path):
    rng = np.random.default_rng(20)
    g = lambda *s: rng.standard_normal(s) * 0.5  # noqa: E731
    spec = ["attn", "mlp", "attn"]
    sd = {"embed.weight": g(11, 8), "head.weight": g(11, 8)}
    for i, kind in enumerate(spec):
        keys = ("q1", "k1", "q2", "k2", "v", "o") if kind == "attn" else ()
        sd |= {f"layers.{i}.{k}.weight": g(8, 8) for k in keys}
        if kind == "mlp":
            sd |= {f"layers.{i}.L.weight": g(10, 8), f"layers.{i}.R.weight": g(10, 8), f"layers.{i}.D.weight": g(8, 10)}
    model = load_model(_save(tmp_path, sd, {"n_head": 2, "norm": True, "scale": "0.5"}))
    tokens = [4, 2, 9, 0, 7]
    got = model.forward(model.inputs(tokens=tokens, numbers=FLOAT), numbers=FLOAT)
    assert _relative(got, ref.deep_model(sd, tokens, n_head=2, spec=spec)) < 1e-12
    assert model.degree(0) is None and "RMSNorm" in model.describe()
    assert _series_matches_forward(model, tokens, steer_at=1) < 1e-10


def test_softcap_in_balls_encloses_the_float_value():
    from symsteer.numbers import BALL

    cap = Softcap(2, cap=30)
    x = np.array([12.5, -40.0])
    got = cap.forward(BALL.vector(x.tolist(), "x", 2), numbers=BALL)
    want = cap.forward(x, numbers=FLOAT)
    assert all(float(g.mid()) == pytest.approx(w, rel=1e-14) and g.rad() < 1e-12 for g, w in zip(got, want))
    series = cap.propagate(BALL.vector([x.tolist(), [1.0, 2.0]], "cs", 2), top=3, numbers=BALL)
    floats = cap.propagate(np.array([x, [1.0, 2.0]]), top=3, numbers=FLOAT)
    assert np.allclose([[float(v.mid()) for v in row] for row in series], floats, rtol=1e-12)


def test_polynomial_released_layouts_are_exact_in_rationals():
    """Learned-scale bilinear-vpd and the checkpoint transformer have no per-sample norm: their
    α-coefficients in exact rationals reproduce exact forward passes with zero difference."""
    from fractions import Fraction

    vpd = model_arrays(ref.bilinear_vpd_state(np.random.default_rng(21), scales="channel", d=4, e=2, hidden=3),
                       source="vpd")
    ckpt = model_arrays(ref.checkpoint_state(np.random.default_rng(22), d=4, dtype=np.float64), source="ckpt",
                        config={"model": {"n_head": 1, "attn_scale": 0.25}})
    for model, n in ((vpd, 3), (ckpt, 1)):
        tokens = [1, 3, 2]
        x0 = model.inputs(tokens=tokens, numbers=EXACT)
        x_n = model.stream(x0, numbers=EXACT)[n]
        D = EXACT.vector([[0, 0, 0, 0], [1, -2, 0, 1], [Fraction(1, 2), 0, 1, 0]], "D", 4)
        c = model.coefficients(x_n, D, steer_at=n, numbers=EXACT)
        assert len(c) == model.degree(n) + 1
        for a in (Fraction(1, 3), Fraction(-2)):
            direct = model.forward(x0, numbers=EXACT, steer_at=n, direction=D, alpha=a)
            ae = EXACT.entry(a)
            poly = sum((c[m] * ae**m for m in range(len(c))), start=EXACT.zeros(direct.shape))
            assert all(v == 0 for v in np.ravel(poly - direct))


def test_cli_layout_flag_on_the_older_sequence_layouts(capsys):
    from pathlib import Path

    model = Path(__file__).parent / "data" / "tensor_language_block2" / "model.npz"
    code, text = _cli(capsys, "expand", "--model", model, "--layout", "tensor-language", "--heads", "2", "--tokens", "3,1,4",
                      "--s", "1,0,0,0,0,0,0,0", "--max-order", "1")
    assert code == 0 and text.startswith("sequence model"), text
    code, text = _cli(capsys, "expand", "--model", model, "--layout", "bilinear-vpd", "--tokens", "3,1,4", "--s", "1,0,0,0,0,0,0,0")
    assert code == 3 and "bilinear-vpd" in text, text


@pytest.mark.parametrize("layout", ["bilinear-vpd", "bilinear-decomposition-transformer", "tensor-language-gpt",
                                    "tensor-similarity-checkpoint"])
def test_a_named_layout_that_does_not_fit_is_refused_naming_the_keys(layout):
    arrays = {"embed.weight": np.ones((3, 4)), "head.weight": np.ones((3, 4)), "layers.0.q1.weight": np.ones((4, 4))}
    with pytest.raises(InputFileError) as err:
        model_arrays(arrays, source="f", layout=LAYOUTS[layout], config={"n_head": 2, "normalization": True,
                                                                          "model": {"use_rmsnorm": True}})
    assert "found" in str(err.value) or "embed.weight" in str(err.value)
    assert "expected" in str(err.value)


def test_softcap_certified_series_finds_tanh_poles_and_bounds_the_tail():
    """y = 10 + 45α at the first output: tanh(y/30) has poles where y/30 = ±iπ/2, i.e. at
    α = (−10 ± 15πi)/45, |α| ≈ 1.0703; the certified radius may not exceed it, and inside ρ the
    forward pass lies within the certified bound of the truncated series."""
    from symsteer.series import Steered, certify

    block = (Linear([[40.0, 10.0], [-20.0, 5.0]]), Softcap(2, cap=30))
    steered = Steered(block, x_n=[0.3, -0.2], direction=[1.0, 0.5])
    cert = certify(steered, order=6)
    pole = abs(complex(-10, 15 * np.pi) / 45)
    assert 0.5 * pole < cert.radius <= pole
    series = np.array([[float(v.mid()) for v in row] for row in cert.coefficients])
    for a in (cert.rho, -cert.rho / 2):
        direct = block[1].forward(block[0].forward(np.array([0.3 + a, -0.2 + 0.5 * a]), numbers=FLOAT), numbers=FLOAT)
        assert np.all(np.abs(sum(series[m] * a**m for m in range(len(series))) - direct) <= cert.error_bound(a))


def test_biases_are_all_or_none_and_the_energy_buffer_is_required():
    """A missing bias or BOS-norm buffer is refused, never filled in (zero, energy 1)."""
    sd = ref.checkpoint_state(np.random.default_rng(19))
    cfg = {"model": {"n_head": 2}}
    with pytest.raises(InputFileError, match=r"layers\.0\.q2\.bias is missing"):
        model_arrays({k: v for k, v in sd.items() if k != "layers.0.q2.bias"}, source="ckpt", config=cfg)
    with pytest.raises(InputFileError, match="no final_norm.running_mean_energy"):
        model_arrays({k: v for k, v in sd.items() if k != "final_norm.running_mean_energy"}, source="ckpt", config=cfg)
    with pytest.raises(InputFileError, match="use_bias_qk=false"):
        model_arrays(sd, source="ckpt", config={"model": {"n_head": 2, "use_bias_qk": False}})
    dec = ref.decomposition_state(np.random.default_rng(9), bias=True)
    with pytest.raises(InputFileError, match=r"transformer\.h\.1\.mlp\.p\.bias is missing"):
        model_arrays({k: v for k, v in dec.items() if k != "transformer.h.1.mlp.p.bias"}, source="m",
                     config=_decomposition_config(bias=True))


def test_config_n_head_that_is_no_positive_integer_is_named():
    from symsteer.tensor_language_gpt import GPTConfig

    sd = ref.checkpoint_state(np.random.default_rng(19))
    with pytest.raises(InputFileError, match=r"config.json n_head='2'; expected a positive integer$"):
        model_arrays(sd, source="ckpt", config={"model": {"n_head": "2"}})
    with pytest.raises(InputFileError, match=r"^m: config.json n_head=-1; expected a positive integer and true/false flags$"):
        GPTConfig.of({"n_head": -1}, source="m")
