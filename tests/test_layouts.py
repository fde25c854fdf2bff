"""The research layouts: state dicts built with the parameter names and shapes the research
classes use (nn.Linear weights are (out, in)), read back through load_model, and compared with
a numpy forward written here from each class's formula; exact integer weights in rationals;
and the files that must be refused (gated, transformers, ReLU layers, unknown keys)."""

from __future__ import annotations

import json
from fractions import Fraction as Fr
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from symsteer import EXACT, FLOAT, forward
from symsteer.errors import InputFileError
from symsteer.layouts import LAYOUTS, KeyMap, load_model

RNG = np.random.default_rng(20261130)


def lin(d_out, d_in, *, rng=RNG, ints=False):
    return rng.integers(-2, 3, size=(d_out, d_in)) if ints else rng.standard_normal((d_out, d_in)) / np.sqrt(d_in)


def vec(n, *, rng=RNG, ints=False):
    return rng.integers(-2, 3, size=n) if ints else 0.3 * rng.standard_normal(n)


def save(arrays, folder: Path, name="model.safetensors", config=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if path.suffix == ".safetensors":
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, path)
    elif path.suffix == ".pt":
        import torch

        torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}, path)
    else:
        np.savez(path, **arrays)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return path


# -- the formulas, as each research class computes them -----------------------------------------


def image_model(sd, x, *, residual):
    """Model.forward: embed, x + layer(x) or layer(x) with layer = left * right of one Linear(d, 2d), head."""
    x = x @ sd["embed.weight"].T
    l = 0
    while f"blocks.{l}.weight" in sd:
        out = x @ sd[f"blocks.{l}.weight"].T + sd.get(f"blocks.{l}.bias", 0)
        left, right = np.split(out, 2, axis=-1)
        x = x + left * right if residual else left * right
        l += 1
    return x @ sd["head.weight"].T


def toy_model(sd, x):
    """head(left(x) * right(x))."""
    a = x @ sd["left.weight"].T + sd.get("left.bias", 0)
    b = x @ sd["right.weight"].T + sd.get("right.bias", 0)
    return (a * b) @ sd["head.weight"].T + sd.get("head.bias", 0)


def mnist_model(sd, x):
    """MnistModel.forward at inference with rms_norm off: linear_in, linear1(x) * linear2(x) per layer, linear_out."""
    if "linear_in.weight" in sd:
        x = x @ sd["linear_in.weight"].T
    l = 0
    while f"layers.{l}.linear1.weight" in sd:
        x = (x @ sd[f"layers.{l}.linear1.weight"].T + sd.get(f"layers.{l}.linear1.bias", 0)) * (
            x @ sd[f"layers.{l}.linear2.weight"].T + sd.get(f"layers.{l}.linear2.bias", 0))
        l += 1
    return x @ sd["linear_out.weight"].T + sd.get("linear_out.bias", 0)


def mlp(sd, prefix, x, scale):
    """tensor-similarity MLP.forward: (1 - scale) x + d(l(x) * r(x)) * scale."""
    inner = (x @ sd[f"{prefix}.l.weight"].T) * (x @ sd[f"{prefix}.r.weight"].T)
    return x * (1 - scale) + (inner @ sd[f"{prefix}.d.weight"].T + sd.get(f"{prefix}.d.bias", 0)) * scale


def deep_mlp(sd, x, *, scale):
    x = x @ sd["embed.weight"].T
    l = 0
    while f"body.{l}.l.weight" in sd:
        x = mlp(sd, f"body.{l}", x, scale)
        l += 1
    return x @ sd["head.weight"].T


# -- state dicts with the research parameter names ------------------------------------------------


def image_sd(d_in=7, d=4, k=3, layers=2, bias=False, ints=False):
    sd = {"embed.weight": lin(d, d_in, ints=ints), "head.weight": lin(k, d, ints=ints)}
    for l in range(layers):
        sd[f"blocks.{l}.weight"] = lin(2 * d, d, ints=ints)
        if bias:
            sd[f"blocks.{l}.bias"] = vec(2 * d, ints=ints)
    return sd


def toy_sd(n_in=4, h=5, n_out=6, bias=True, ints=False):
    sd = {"left.weight": lin(h, n_in, ints=ints), "right.weight": lin(h, n_in, ints=ints), "head.weight": lin(n_out, h, ints=ints)}
    if bias:
        sd |= {"left.bias": vec(h, ints=ints), "right.bias": vec(h, ints=ints), "head.bias": vec(n_out, ints=ints)}
    return sd


def mnist_sd(d_in=9, d=5, k=3, layers=2, bias=True, logit_bias=True, embed=True, ints=False):
    sd = {"linear_out.weight": lin(k, d, ints=ints)}
    if embed:
        sd["linear_in.weight"] = lin(d, d_in, ints=ints)
    if logit_bias:
        sd["linear_out.bias"] = vec(k, ints=ints)
    for l in range(layers):
        sd[f"layers.{l}.linear1.weight"] = lin(d, d, ints=ints)
        sd[f"layers.{l}.linear2.weight"] = lin(d, d, ints=ints)
        if bias:
            sd[f"layers.{l}.linear1.bias"] = vec(d, ints=ints)
            sd[f"layers.{l}.linear2.bias"] = vec(d, ints=ints)
    return sd


def deep_sd(d_in=6, d=4, h=5, k=3, layers=2, bias=True, ints=False):
    sd = {"embed.weight": lin(d, d_in, ints=ints), "head.weight": lin(k, d, ints=ints)}
    for l in range(layers):
        sd |= {f"body.{l}.l.weight": lin(h, d, ints=ints), f"body.{l}.r.weight": lin(h, d, ints=ints),
               f"body.{l}.d.weight": lin(d, h, ints=ints)}
        if bias:
            sd[f"body.{l}.d.bias"] = vec(d, ints=ints)
    return sd


CASES = {
    # name: (state dict, config or None, load options, reference forward, expected layout)
    "image plain": (image_sd(), {"residual": False, "bias": False, "n_layer": 2}, {}, lambda sd, x: image_model(sd, x, residual=False), "bilinear-blocks"),
    "image residual, biases": (image_sd(bias=True), {"residual": True, "bias": True, "gate": None}, {},
                               lambda sd, x: image_model(sd, x, residual=True), "bilinear-blocks"),
    "image, no config, --residual": (image_sd(layers=1), None, {"residual": True}, lambda sd, x: image_model(sd, x, residual=True), "bilinear-blocks"),
    "toy with head bias": (toy_sd(), None, {}, toy_model, "bilinear-toy"),
    "toy without biases": (toy_sd(bias=False), None, {}, toy_model, "bilinear-toy"),
    "mnist, logit bias": (mnist_sd(), None, {}, mnist_model, "bilinear-mnist"),
    "mnist, no embed, config": (mnist_sd(embed=False, d_in=5, bias=False), {"activation": "bilinear", "rms_norm": False, "n_layers": 2},
                                {}, mnist_model, "bilinear-mnist"),
    "deep mlp, lerp 0.35": (deep_sd(), {"scale": 0.35}, {}, lambda sd, x: deep_mlp(sd, x, scale=0.35), "tensor-sim-deep-mlp"),
    "deep mlp, scale 1 (plain)": (deep_sd(bias=False), {"scale": 1.0}, {}, lambda sd, x: deep_mlp(sd, x, scale=1.0), "tensor-sim-deep-mlp"),
    "deep mlp, --plain": (deep_sd(), None, {"residual": False}, lambda sd, x: deep_mlp(sd, x, scale=1.0), "tensor-sim-deep-mlp"),
    "tensor-sim toy": ({"embed.weight": lin(4, 6), "body.l.weight": lin(8, 4), "body.r.weight": lin(8, 4), "body.d.weight": lin(4, 8),
                        "body.d.bias": vec(4), "head.weight": lin(3, 4)}, None, {},
                       lambda sd, x: mlp(sd, "body", x @ sd["embed.weight"].T, 1.0) @ sd["head.weight"].T, "tensor-sim-toy"),
    "tensor-sim bilinear": ({"left.weight": lin(5, 3), "left.bias": vec(5), "right.weight": lin(5, 3), "right.bias": vec(5),
                             "down.weight": lin(2, 5), "down.bias": vec(2)}, None, {},
                            lambda sd, x: ((x @ sd["left.weight"].T + sd["left.bias"]) * (x @ sd["right.weight"].T + sd["right.bias"]))
                            @ sd["down.weight"].T + sd["down.bias"], "tensor-sim-bilinear"),
}


@pytest.mark.parametrize("suffix", [".safetensors", ".npz", ".pt"])
@pytest.mark.parametrize("case", CASES)
def test_research_files_compute_what_their_class_computes(tmp_path, case, suffix):
    sd, config, options, reference, layout = CASES[case]
    path = save(sd, tmp_path, "model" + suffix, config)
    net = load_model(path, **options)
    x = np.random.default_rng(1).standard_normal((5, net.d_in))
    got = forward(net, x, numbers=FLOAT)
    want = reference(sd, x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert LAYOUTS[layout].claims(sorted(sd))
    assert LAYOUTS[layout].follows  # the README table names it


def test_lerp_residual_is_not_read_as_a_plain_residual(tmp_path):
    """DeepMLP at scale 0.35 used to load as x + B(x): the forward passes must differ from that."""
    sd = deep_sd()
    net = load_model(save(sd, tmp_path, config={"scale": 0.35}))
    x = np.random.default_rng(2).standard_normal((3, 6))
    plain_residual = x @ sd["embed.weight"].T
    for l in range(2):
        plain_residual = plain_residual + mlp(sd, f"body.{l}", plain_residual, 1.0)
    assert not np.allclose(forward(net, x), plain_residual @ sd["head.weight"].T)


@pytest.mark.parametrize("case", ["image residual, biases", "toy with head bias", "mnist, logit bias", "deep mlp, lerp 0.35"])
def test_integer_research_weights_stay_exact(tmp_path, case):
    builders = {"image residual, biases": (lambda: image_sd(bias=True, ints=True), {"residual": True}),
                "toy with head bias": (lambda: toy_sd(ints=True), None),
                "mnist, logit bias": (lambda: mnist_sd(ints=True), None),
                "deep mlp, lerp 0.35": (lambda: deep_sd(ints=True), {"scale": 0.25})}
    make, config = builders[case]
    sd = make()
    net = load_model(save(sd, tmp_path, "model.npz", config))
    x = np.random.default_rng(3).integers(-3, 4, size=(2, net.d_in))
    got = forward(net, x.tolist(), numbers=EXACT)
    # the same formula over Fractions, entry by entry
    frac = {k: np.vectorize(Fr, otypes=[object])(v) for k, v in sd.items()}
    xs = np.vectorize(Fr, otypes=[object])(x)
    reference = CASES[case][3] if case != "deep mlp, lerp 0.35" else (lambda s, v: deep_mlp(s, v, scale=Fr(1, 4)))
    want = reference(frac, xs)
    assert [[Fr(int(v.p), int(v.q)) for v in row] for row in got] == want.tolist()


# -- refused -------------------------------------------------------------------------------------


def transformer_sd(d=4, h=8, vocab=6):
    return {"transformer.wte.weight": lin(vocab, d), "lm_head.weight": lin(vocab, d),
            "transformer.h.0.attn.qkv.weight": lin(3 * d, d), "transformer.h.0.attn.o.weight": lin(d, d),
            "transformer.h.0.n1.norm.weight": np.ones(d), "transformer.h.0.n2.norm.weight": np.ones(d),
            "transformer.h.0.mlp.w.weight": lin(2 * h, d), "transformer.h.0.mlp.p.weight": lin(d, h),
            "transformer.n_f.norm.weight": np.ones(d)}


REFUSED = {
    "gated image model": (image_sd(), {"residual": True, "gate": "silu"}, ["gated MLP (gate='silu')", "not bilinear"]),
    "relu gate flag": (image_sd(), {"residual": False, "gate": True}, ["gated MLP (gate=True)"]),
    "ordinary MLP": (image_sd(), {"residual": False, "bilinear": False}, ["bilinear=false"]),
    "normalised": (image_sd(), {"residual": False, "normalization": True}, ["normalization=True"]),
    "mnist rms norm": (mnist_sd(), {"rms_norm": True}, ["rms_norm=True"]),
    "mnist relu": ({"layers.0.linear.weight": lin(5, 5), "layers.0.linear.bias": vec(5), "linear_out.weight": lin(3, 5)}, None,
                   ["fit no known layout"]),
    "mnist relu next to bilinear": ({**mnist_sd(layers=1), "layers.1.linear.weight": lin(5, 5)}, None, ["layers.1.linear.weight is a ReLU layer"]),
    "transformer": (transformer_sd(), None, ["a transformer", "transformer.h.0.attn.qkv.weight", "refused", "bilinear-mlp:"]),
    "transformer MLPs alone": ({"transformer.h.0.mlp.w.weight": lin(8, 4), "transformer.h.0.mlp.p.weight": lin(4, 4)}, None,
                               ["a transformer", "transformer.h.0.mlp.w.weight"]),
    "deep mlp without its scale": (deep_sd(), None, ["does not say its scale", "config.json"]),
    "config contradicts the layer count": (image_sd(layers=2), {"residual": True, "n_layer": 3}, ["n_layer=3 but the file has 2 layer(s)"]),
    "config says no bias": (image_sd(bias=True), {"residual": True, "bias": False}, ["bias=false but layer 0 has biases"]),
    "image without residual flag": (image_sd(), None, ["does not say whether its blocks are residual", "config.json"]),
    "unknown keys": ({"net.0.weight": lin(2, 2)}, None, ["fit no known layout", "found 1 array(s): net.0.weight (2, 2)", "bilinear-toy:"]),
}


@pytest.mark.parametrize("case", REFUSED)
def test_refused_files_say_why(tmp_path, case):
    sd, config, messages = REFUSED[case]
    path = save(sd, tmp_path, config=config)
    with pytest.raises(InputFileError) as info:
        load_model(path)
    for message in messages:
        assert message in str(info.value), (message, str(info.value))


def test_config_and_option_must_agree(tmp_path):
    path = save(image_sd(), tmp_path, config={"residual": True})
    with pytest.raises(InputFileError, match="says residual=true but --plain was given"):
        load_model(path, residual=False)


def test_a_square_embedding_is_never_transposed_by_guess(tmp_path):
    """An nn.Embedding weight (vocab, d) is E transposed; with vocab = d its shape cannot tell. A key
    map says so explicitly, and only then is it transposed."""
    d = 3
    emb, w = lin(d, d), lin(2 * d, d)
    sd = {"tok.weight": emb, "blocks.0.weight": w, "out.weight": lin(2, d)}
    roles = {"WV": "blocks.{l}.weight", "embed": "tok.weight", "unembed": "out.weight"}
    onehot = np.eye(d)[[2, 0]]
    as_embedding = load_model(save(sd, tmp_path), keys=KeyMap("emb", roles, transpose=("embed",), identity_p=True), residual=False)
    as_linear = load_model(save(sd, tmp_path), keys=KeyMap("lin", roles, identity_p=True), residual=False)
    np.testing.assert_allclose(forward(as_embedding, onehot, numbers=FLOAT), image_model(
        {"embed.weight": emb.T, "blocks.0.weight": w, "head.weight": sd["out.weight"]}, onehot, residual=False))
    np.testing.assert_allclose(forward(as_linear, onehot, numbers=FLOAT), image_model(
        {"embed.weight": emb, "blocks.0.weight": w, "head.weight": sd["out.weight"]}, onehot, residual=False))
    # and detection never reads an embedding key it does not know
    with pytest.raises(InputFileError, match="token embeddings: wte.weight.*refused"):
        load_model(save({"wte.weight": emb, "blocks.0.weight": w, "head.weight": sd["out.weight"]}, tmp_path / "x"), residual=False)


def test_registered_layouts_are_unambiguous():
    """No state dict of one research layout is claimed by another."""
    samples = {"bilinear-blocks": image_sd(bias=True), "bilinear-toy": toy_sd(), "bilinear-mnist": mnist_sd(),
               "tensor-sim-deep-mlp": deep_sd(), "tensor-sim-bilinear": CASES["tensor-sim bilinear"][0],
               "tensor-sim-toy": CASES["tensor-sim toy"][0]}
    for name, sd in samples.items():
        assert [l.name for l in LAYOUTS.values() if l.claims(sorted(sd))] == [name]


def test_the_readme_table_names_every_layout_with_its_class_and_commit():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    import re

    for name, layout in LAYOUTS.items():
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert row is not None, f"README: no weight-file table row for {name}"
        commits = re.findall(r"@ ?([0-9a-f]{7,})", layout.follows)
        assert commits or "/" not in layout.follows, (name, layout.follows)  # a research repository names its commit
        for commit in commits:
            assert commit in row, (name, commit)
