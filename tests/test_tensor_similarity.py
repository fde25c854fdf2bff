"""tdooms/tensor-similarity's Transformer: state dicts named as its classes name them load as
sequence models that reproduce a torch forward written from the formulas."""

from __future__ import annotations

import json

import numpy as np
import pytest

from symsteer.errors import InputFileError, ShapeError
from symsteer.layouts import load_model
from symsteer.numbers import EXACT, FLOAT
from symsteer.sequence import SequenceModel, direction
from symsteer.tensor_similarity import TensorSimilarityConfig, gate, is_tensor_similarity, load_tensor_similarity


def _state(*, d=8, heads=2, hidden=6, vocab=7, layers=2, bias=True, seed=0) -> dict[str, np.ndarray]:
    """Parameter names and shapes as Transformer(d_input=vocab, d_model=d, n_head=heads, d_hidden=hidden,
    d_output=vocab, n_layer=layers, bias=bias) registers them."""
    rng = np.random.default_rng(seed)
    w = lambda *shape: rng.normal(0, 0.5, size=shape).astype(np.float32)  # noqa: E731
    out = {"embed.weight": w(d, vocab), "head.weight": w(vocab, d)}
    for i in range(layers):
        for k in ("q1", "k1", "q2", "k2", "v", "o"):
            out[f"body.{i}.attn.{k}.weight"] = w(d, d)
        if bias:
            for k in ("q1", "k1", "q2", "k2"):
                out[f"body.{i}.attn.{k}.bias"] = w(d)
            out[f"body.{i}.mlp.d.bias"] = w(d)
        out[f"body.{i}.mlp.l.weight"] = w(hidden, d)
        out[f"body.{i}.mlp.r.weight"] = w(hidden, d)
        out[f"body.{i}.mlp.d.weight"] = w(d, hidden)
    return out


def _torch_forward(state, tokens, *, heads, scale):
    """The formulas in torch, float64, from the state dict (one-hot tokens through embed)."""
    torch = pytest.importorskip("torch")
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in state.items()}
    vocab = state["embed.weight"].shape[1]
    x = torch.nn.functional.one_hot(torch.tensor(tokens), vocab).double() @ t["embed.weight"].T
    T, d = x.shape
    dh = d // heads
    freq = 1.0 / (10_000 ** (torch.arange(0, dh, 2).float() / dh))
    ang = torch.outer(torch.arange(T).float(), freq)
    cos, sin = (torch.cat([f(ang), f(ang)], -1).double()[:, None, :] for f in (torch.cos, torch.sin))
    layers = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("body."))
    for i in range(layers):
        p = f"body.{i}.attn."
        lin = lambda k: (x @ t[p + k + ".weight"].T + t.get(p + k + ".bias", 0.0)).view(T, heads, dh)  # noqa: E731
        rot = lambda y: y * cos + torch.cat([-y[..., dh // 2:], y[..., : dh // 2]], -1) * sin  # noqa: E731
        q1, k1, q2, k2 = (rot(lin(k)) for k in ("q1", "k1", "q2", "k2"))
        v = lin("v")
        pat = torch.einsum("qhe,khe->hqk", q1, k1) * torch.einsum("qhe,khe->hqk", q2, k2) / dh**2 * torch.tril(torch.ones(T, T, dtype=torch.float64))
        z = torch.einsum("hqk,khe->qhe", pat, v).reshape(T, d)
        x = torch.lerp(x, z @ t[p + "o.weight"].T, scale)
        m = f"body.{i}.mlp."
        y = ((x @ t[m + "l.weight"].T) * (x @ t[m + "r.weight"].T)) @ t[m + "d.weight"].T + t.get(m + "d.bias", 0.0)
        x = x * (1 - scale) + y * scale
    return (x @ t["head.weight"].T).numpy()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("scale", ["1", "0.35"])
def test_loaded_model_reproduces_a_torch_forward_from_the_formulas(bias, scale):
    state = _state(bias=bias)
    config = TensorSimilarityConfig.of({"n_head": 2, "scale": scale})
    model = load_tensor_similarity(state, config)
    assert gate(model, state, config) < 1e-12
    tokens = [3, 1, 4, 1, 5, 6]
    got = model.forward(model.inputs(tokens=tokens, numbers=FLOAT), numbers=FLOAT)
    want = _torch_forward(state, tokens, heads=2, scale=float(scale))
    assert np.max(np.abs(got - want)) <= 1e-9 * max(1.0, np.max(np.abs(want)))


def test_exact_coefficients_of_the_loaded_model_match_exact_forward_passes():
    state = _state(d=4, heads=1, hidden=3, vocab=5, layers=1)
    model = load_tensor_similarity(state, TensorSimilarityConfig.of({"n_head": 1, "scale": "0.35"}))
    tokens = [1, 4, 2]
    x0 = model.inputs(tokens=tokens, numbers=EXACT)
    D = direction(model, "last", [1, 0, -1, 2], length=3)
    c = model.coefficients(x0, EXACT.vector(D, "d", 4), steer_at=0, numbers=EXACT)
    a = EXACT.entry(3) / 7
    poly = sum(c[m] * a**m for m in range(len(c)))
    ref = model.forward(x0, numbers=EXACT, steer_at=0, direction=EXACT.vector(D, "d", 4), alpha=a)
    assert all(u == v for u, v in zip(poly.ravel(), ref.ravel()))


def test_the_layout_is_registered_and_reads_config_json_beside_the_file(tmp_path):
    from safetensors.numpy import save_file

    state = _state()
    save_file(state, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"n_head": 2, "scale": 0.35, "mask": "causal"}))
    model = load_model(tmp_path / "model.safetensors")
    assert isinstance(model, SequenceModel) and model.depth == 4 and model.vocab == 7
    assert is_tensor_similarity(state) and not is_tensor_similarity({**state, "extra.weight": state["head.weight"]})


def test_what_the_layout_refuses(tmp_path):
    state = _state()
    with pytest.raises(ShapeError, match="n_head"):
        TensorSimilarityConfig.of({})
    with pytest.raises(ShapeError, match="causal"):
        TensorSimilarityConfig.of({"n_head": 2, "mask": "none"})
    with pytest.raises(ShapeError, match="scale"):
        TensorSimilarityConfig.of({"n_head": 2, "scale": "1.5"})
    broken = {k: v for k, v in state.items() if k != "body.1.mlp.r.weight"}
    with pytest.raises(InputFileError, match="body.1 lacks body.1.mlp.r.weight"):
        load_tensor_similarity(broken, TensorSimilarityConfig.of({"n_head": 2}))
    with pytest.raises(InputFileError, match="no bias there"):
        load_tensor_similarity({**state, "body.0.attn.v.bias": state["body.0.attn.q1.bias"]}, TensorSimilarityConfig.of({"n_head": 2}))
    with pytest.raises(InputFileError, match="shape"):
        load_tensor_similarity({**state, "body.0.attn.o.weight": state["body.0.mlp.l.weight"]}, TensorSimilarityConfig.of({"n_head": 2}))
    with pytest.raises(InputFileError, match=r"body\.1\.mlp\.d\.bias is missing"):  # Layer(bias=…): all five or none
        load_tensor_similarity({k: v for k, v in state.items() if k != "body.1.mlp.d.bias"}, TensorSimilarityConfig.of({"n_head": 2}))
    with pytest.raises(ShapeError, match="even width"):  # 8 heads of width 1: RoPE needs pairs
        load_tensor_similarity(state, TensorSimilarityConfig.of({"n_head": 8}))


def test_a_model_built_with_another_scale_fails_the_gate():
    state = _state()
    config = TensorSimilarityConfig.of({"n_head": 2, "scale": "0.35"})
    wrong = load_tensor_similarity(state, TensorSimilarityConfig.of({"n_head": 2, "scale": "0.5"}))
    with pytest.raises(InputFileError, match="refused"):
        gate(wrong, state, config)


def test_the_command_line_reads_it_as_a_sequence_model(tmp_path, capsys):
    from safetensors.numpy import save_file

    from symsteer import cli

    save_file(_state(), str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"n_head": 2, "scale": 0.35}))
    code = cli.run(["expand", "--model", str(tmp_path / "model.safetensors"), "--steer-at", "2", "--s", "1,0,0,0,0,0,0,-1",
                    "--tokens", "1,2,3", "--positions", "last", "--max-order", "1", "--float"])
    out = capsys.readouterr().out
    assert code == 0 and "λ = 7/20 around bilinear attention" in out and "QK biases" in out
    code = cli.run(["effect", str(tmp_path / "model.safetensors"), "--steer-at", "2", "--s", "1,0,0,0,0,0,0,-1",
                    "--tokens", "1,2,3", "--positions", "last", "--calibrate", "--alpha=-1:1:3", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["verified"] and len(data["rows"]) == 1
