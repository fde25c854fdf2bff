"""The tensor_language layout: loading, the reference gate, refusals."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import tensor_reference as ref
from conftest import as_fractions
from symsteer._check import RTOL, relative_error
from symsteer.errors import InputFileError, ShapeError
from symsteer.io import read_arrays
from symsteer.numbers import EXACT, FLOAT
from symsteer.positions import steer_direction
from symsteer.tensor_language import (TensorLanguageConfig, gate, is_tensor_language, load_tensor_language,
                                      reference_forward)

DATA = Path(__file__).parent / "data"


def test_research_file_reproduces_its_own_forward() -> None:
    """A 2-block DeepModel (attn, mlp, attn, mlp; RoPE; lerp 0.5) saved by the research code,
    with the logits its own forward pass gave in float64: loaded, gated, reproduced."""
    arrays = read_arrays(DATA / "tensor_language_block2/model.npz")
    saved = np.load(DATA / "tensor_language_block2/logits.npz")
    assert is_tensor_language(arrays)
    config = TensorLanguageConfig.of({"n_head": "2", "scale": "0.5", "residual": "lerp", "norm": "False"})
    model = load_tensor_language(arrays, config, source="block2")
    assert gate(model, arrays, config) <= 1e-12
    got = model.forward(model.inputs(tokens=saved["tokens"], numbers=FLOAT), numbers=FLOAT)
    assert relative_error(got, saved["logits"]) <= RTOL
    assert relative_error(reference_forward(arrays, config, saved["tokens"]), saved["logits"]) <= RTOL
    # exact: the same function in rationals (weights and RoPE tables taken exactly)
    exact = model.forward(model.inputs(tokens=saved["tokens"], numbers=EXACT), numbers=EXACT)
    assert relative_error(exact, saved["logits"]) <= RTOL


@pytest.mark.parametrize("spec, residual, mlp_residual", [
    (["attn"], "lerp", "add"),
    (["attn", "attn"], "add", "add"),
    (["attn", "mlp"], "lerp", "lerp"),
])
def test_state_dicts_against_reference(spec: list[str], residual: str, mlp_residual: str) -> None:
    model = ref.random_model(spec, d=4, heads=2, seed=11, hidden=6, vocab=5, rope=10_000, residual=residual,
                             mlp_residual=mlp_residual, scale=Fraction(3, 10), kind="float")
    arrays = ref.state_dict(model)
    config = TensorLanguageConfig.of(n_head=2, residual=residual, mlp_residual=mlp_residual, scale="0.3")
    assert config.scale == Fraction(3, 10)
    seq = load_tensor_language(arrays, config)
    gate(seq, arrays, config)
    stored = ref.as_float32(model)
    tokens = [1, 4, 0, 2]
    assert as_fractions(seq.forward(seq.inputs(tokens=tokens, numbers=EXACT), numbers=EXACT)) == ref.forward_exact(stored, tokens)[-1]
    # per-position coefficients, exact, against the reference's interpolation
    D = steer_direction("last", [1, 0, -1, Fraction(1, 2)], length=4, width=4)
    x0 = seq.inputs(tokens=tokens, numbers=EXACT)
    got = seq.coefficients(x0, D, steer_at=0, max_order=3, numbers=EXACT)
    assert as_fractions(got) == ref.coefficients_exact(stored, tokens, 0, D)[:4]


def test_gate_catches_a_wrong_config() -> None:
    arrays = read_arrays(DATA / "tensor_language_block2/model.npz")
    right = TensorLanguageConfig.of(n_head=2)
    model = load_tensor_language(arrays, right)
    wrong = TensorLanguageConfig.of(n_head=2, residual="add")
    with pytest.raises(InputFileError, match="differs from the tensor_language reference"):
        gate(model, arrays, wrong)


REFUSED_CONFIG = [
    (dict(), "number of heads is not in the state dict"),
    (dict(n_head=2, attention="softmax"), "softmax is refused"),
    (dict(n_head=2, residual="mix"), "residual='mix'"),
    (dict(n_head=2, scale="1.5"), "0 ≤ λ ≤ 1"),
    (dict(n_head=2, scale="half"), "scale='half'"),
    (dict(n_head="two"), "n_head='two'"),
]


@pytest.mark.parametrize("config, message", REFUSED_CONFIG)
def test_refused_config(config: dict, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        TensorLanguageConfig.of(config)


def test_refused_files() -> None:
    arrays = read_arrays(DATA / "tensor_language_block2/model.npz")
    config = TensorLanguageConfig.of(n_head=2)
    cases = [
        ({k: v for k, v in arrays.items() if k != "layers.2.k2.weight"}, "lacks layers.2.k2.weight"),
        ({k: v for k, v in arrays.items() if not k.startswith("layers.2.")}, "layers 2 are missing"),
        ({k: v for k, v in arrays.items() if not k.startswith("layers.0.q2") and not k.startswith("layers.0.k2")}, "softmax attention"),
        (arrays | {"layers.0.v.bias": np.ones(8, dtype=np.float32)}, "bias on v"),
        (arrays | {f"layers.0.{k}.bias": np.ones(8, dtype=np.float32) for k in ("q1", "k1", "q2")}, r"layers\.0\.k2\.bias is missing"),
        (arrays | {"layers.1.q1.weight": np.ones((8, 8), dtype=np.float32)}, "mixes attention and MLP keys"),
        (arrays | {"layers.0.o.weight": np.ones((8, 4), dtype=np.float32)}, r"layers.0.o.weight has shape \(8, 4\)"),
        (arrays | {"extra": np.ones(2)}, "'extra' is not part of a tensor_language model"),
    ]
    for bad, message in cases:
        with pytest.raises(InputFileError, match=message):
            load_tensor_language(bad, config)
    with pytest.raises(ShapeError, match="even width"):
        load_tensor_language(arrays, TensorLanguageConfig.of(n_head=8))
    assert not is_tensor_language({"layers.0.W": np.ones((2, 2))})


def test_registered_layout_and_gate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """load_model finds the tensor-language layout (n_head from config.json beside the file), and
    `symsteer gate` checks a token batch against the logits the research code recorded."""
    from symsteer import cli
    from symsteer.io import load_model
    from symsteer.layouts import LAYOUTS
    from symsteer.sequence import SequenceModel

    assert "tensor-language" in LAYOUTS
    model = load_model(DATA / "tensor_language_block2" / "model.npz")
    assert isinstance(model, SequenceModel) and model.depth == 4
    saved = np.load(DATA / "tensor_language_block2" / "logits.npz")
    np.save(tmp_path / "tokens.npy", saved["tokens"][None])
    np.save(tmp_path / "logits.npy", saved["logits"][None])
    np.save(tmp_path / "wrong.npy", saved["logits"][None] * 1.01)
    path = str(DATA / "tensor_language_block2" / "model.npz")
    assert cli.run(["gate", path, "--inputs", str(tmp_path / "tokens.npy"), "--reference", str(tmp_path / "logits.npy")]) == 0
    out = capsys.readouterr()
    assert "ok: the loaded model matches" in out.out + out.err
    assert cli.run(["gate", path, "--inputs", str(tmp_path / "tokens.npy"), "--reference", str(tmp_path / "wrong.npy")]) == 1
    assert "differs from the reference" in capsys.readouterr().err
    # without config.json the heads are unknown: refused, not guessed
    (tmp_path / "model.npz").write_bytes((DATA / "tensor_language_block2" / "model.npz").read_bytes())
    with pytest.raises(ShapeError, match="number of heads"):
        load_model(tmp_path / "model.npz")


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    """A model built in Python, written in the layout with its config.json, reads back through
    load_model (and the gate) as the same function."""
    from symsteer.io import load_model
    from symsteer.sequence_check import random_sequence_model
    from symsteer.blocks import Linear
    from symsteer.sequence import SequenceModel
    from symsteer.tensor_language import save_tensor_language

    rng = np.random.default_rng(5)
    inner = random_sequence_model(["attn", "mlp", "attn"], d=4, heads=2, rng=rng, rope=True, residual="lerp", kind="int")
    model = SequenceModel(inner.blocks, embed=rng.integers(-2, 3, size=(6, 4)), head=Linear(rng.integers(-2, 3, size=(6, 4))))
    config = save_tensor_language(model, tmp_path / "m.npz")
    assert config["n_head"] == 2 and config["scale"] == "1/2" and config["spec"] == ["attn", "mlp", "attn"]
    back = load_model(tmp_path / "m.npz")
    tokens = [1, 5, 0]
    want = model.forward(model.inputs(tokens=tokens, numbers=EXACT), numbers=EXACT)
    got = back.forward(back.inputs(tokens=tokens, numbers=EXACT), numbers=EXACT)
    assert (want == got).all()
    with pytest.raises(ShapeError, match="cannot hold exactly"):
        third = SequenceModel(inner.blocks, embed=np.full((6, 4), Fraction(1, 3), dtype=object), head=model.head)
        save_tensor_language(third, tmp_path / "t.npz")
    with pytest.raises(ShapeError, match="token embedding"):
        save_tensor_language(inner, tmp_path / "u.npz")


def test_softmax_attention_only_frozen_explicitly(tmp_path: Path) -> None:
    """tensor_language's attention="softmax" layers (q1, k1, v, o): refused by default; with
    --freeze-softmax the pattern is frozen at the tokens' unsteered stream, the model reproduces
    the softmax forward pass there, and the frozen block is linear in α."""
    from symsteer import cli
    from symsteer.blocks import FrozenAttention

    arrays = read_arrays(DATA / "tensor_language_block2" / "model.npz")
    soft = {k: v for k, v in arrays.items() if k not in ("layers.2.q2.weight", "layers.2.k2.weight")}
    with pytest.raises(InputFileError, match="softmax attention"):
        load_tensor_language(soft, TensorLanguageConfig.of(n_head=2))
    with pytest.raises(ShapeError, match="softmax is refused unless"):
        TensorLanguageConfig.of(n_head=2, attention="softmax")
    config = TensorLanguageConfig.of(n_head=2, attention="softmax", freeze_softmax=True)
    tokens = [3, 1, 4, 1, 5]
    model = load_tensor_language(soft, config, tokens=tokens)
    assert isinstance(model.blocks[2].inner, FrozenAttention) and model.degree(0) == 5 * 2 * 1 * 2
    assert gate(model, soft, config, tokens=tokens) <= 1e-12
    # an independent softmax forward (numpy, from the formulas) at the same tokens
    f = {k: np.asarray(v, dtype=np.float64) for k, v in soft.items()}
    x = f["embed.weight"][tokens]
    T, d, H, dh = 5, 8, 2, 4
    import torch

    freq = 1.0 / (10_000 ** (torch.arange(0, dh, 2).float() / dh))
    ang = torch.outer(torch.arange(T).float(), freq)
    cos, sin = (torch.cat([t, t], -1).double().numpy() for t in (ang.cos(), ang.sin()))
    rot = lambda y: y * cos[:, None] + np.concatenate([-y[..., 2:], y[..., :2]], -1) * sin[:, None]  # noqa: E731
    heads = lambda y: y.reshape(T, H, dh)  # noqa: E731
    for i in range(4):
        if i == 1 or i == 3:
            x = x + ((x @ f[f"layers.{i}.L.weight"].T) * (x @ f[f"layers.{i}.R.weight"].T)) @ f[f"layers.{i}.D.weight"].T
            continue
        q, k, v = (heads(x @ f[f"layers.{i}.{n}.weight"].T) for n in ("q1", "k1", "v"))
        q, k = rot(q), rot(k)
        a = np.einsum("qhe,khe->hqk", q, k)
        if i == 0:
            q2, k2 = (rot(heads(x @ f[f"layers.0.{n}.weight"].T)) for n in ("q2", "k2"))
            p = a * np.einsum("qhe,khe->hqk", q2, k2) / dh**2 * np.tril(np.ones((T, T)))
        else:
            a = np.where(np.tril(np.ones((T, T))) > 0, a / np.sqrt(dh), -np.inf)
            p = np.exp(a - a.max(-1, keepdims=True))
            p = p / p.sum(-1, keepdims=True)
        out = np.einsum("hqk,khe->qhe", p, v).reshape(T, d) @ f[f"layers.{i}.o.weight"].T
        x = x + 0.5 * (out - x)
    got = model.forward(model.inputs(tokens=tokens, numbers=FLOAT), numbers=FLOAT)
    assert relative_error(got, x @ f["head.weight"].T) <= RTOL
    # the CLI: refused without the flag, analysed with it
    np.savez(tmp_path / "soft.npz", **soft)
    (tmp_path / "config.json").write_text('{"n_head": 2, "attention": "softmax"}')
    args = ["expand", "--model", str(tmp_path / "soft.npz"), "--tokens", "3,1,4,1,5", "--s", "1,0,0,0,0,0,0,0",
            "--positions", "last", "--steer-at", "2", "--format", "json"]
    assert cli.run(args) == 2
    assert cli.run(args + ["--freeze-softmax"]) == 0
