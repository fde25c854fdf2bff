"""Weight files: every format round-trips, every known layout loads, bad files say what is wrong."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from symsteer import cli
from symsteer import Bilinear, InputFileError, Network, SymsteerError, forward
from symsteer.io import LAYOUTS, KeyMap, load_key_map, load_model, model_to_arrays, read_arrays, save_model, save_vector

DIGITS = Path(__file__).resolve().parent.parent / "examples" / "digits.npz"

NETWORKS = {
    "int weights, plain": dict(layers=2, width=3, hidden=2, kind="int"),
    "float, residual, E and U": dict(layers=2, width=3, hidden=4, residual=True, embed=5, unembed=2, kind="float"),
    "float, biases": dict(layers=1, width=2, hidden=3, bias=True, kind="float"),
    "int, residual, biases, U": dict(layers=3, width=2, hidden=2, residual=True, bias=True, unembed=3, kind="int"),
}


def same_arrays(a: Network, b: Network) -> None:
    """Identical weights (value and kind: exact stays exact, float stays float64) and structure."""
    assert a.residual == b.residual and a.depth == b.depth
    for key in ("embed", "unembed"):
        x, y = getattr(a, key), getattr(b, key)
        assert (x is None) == (y is None)
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y), key
    for la, lb in zip(a.layers, b.layers):
        for key in ("W", "V", "P", "b", "c"):
            x, y = getattr(la, key), getattr(lb, key)
            assert (x is None) == (y is None)
            if x is not None:
                assert x.dtype == y.dtype and np.array_equal(x, y), key


def float_net(**shape) -> Network:
    return Network.random(kind="float", seed=3, **shape)


# -- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
@pytest.mark.parametrize("name", NETWORKS)
def test_save_load_round_trip(tmp_path, suffix, name):
    net = Network.random(seed=1, **NETWORKS[name])
    path = tmp_path / f"m{suffix}"
    save_model(net, path)
    same_arrays(net, load_model(path))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # written atomically: no leftovers


def test_round_trip_of_the_digits_model_in_both_formats(tmp_path):
    net = load_model(DIGITS)
    for suffix in (".npz", ".safetensors"):
        save_model(net, tmp_path / f"d{suffix}")
        same_arrays(net, load_model(tmp_path / f"d{suffix}"))
    assert read_arrays(tmp_path / "d.safetensors").keys() == read_arrays(DIGITS).keys()


def test_npz_suffix_added_like_numpy(tmp_path):
    net = Network.random(layers=1, width=2, hidden=2, seed=0)
    save_model(net, tmp_path / "plain")
    same_arrays(net, load_model(tmp_path / "plain.npz"))


def test_format_sniffed_when_the_suffix_says_nothing(tmp_path):
    net = float_net(layers=1, width=2, hidden=2, residual=True)
    save_model(net, tmp_path / "a.safetensors")
    (tmp_path / "a.safetensors").rename(tmp_path / "weights")
    same_arrays(net, load_model(tmp_path / "weights"))


def test_save_vector_round_trip(tmp_path):
    v = np.array([1.5, -2.0, 1e-300])
    save_vector(tmp_path / "s.npy", v)
    assert np.array_equal(np.load(tmp_path / "s.npy", allow_pickle=False), v)


# -- the research layouts ---------------------------------------------------------------------


def bilinear_mlp_dict(net: Network) -> dict[str, np.ndarray]:
    """A bilinear-MLP state dict: blocks.{l}.mlp.w.weight holds W on top of V (2h, d)."""
    out = {"embed.weight": net.embed, "head.weight": net.unembed}
    for l, layer in enumerate(net.layers):
        out[f"blocks.{l}.mlp.w.weight"] = np.vstack([layer.W, layer.V])
        out[f"blocks.{l}.mlp.p.weight"] = layer.P
        if layer.b is not None:
            out[f"blocks.{l}.mlp.w.bias"] = np.concatenate([layer.b, layer.c])
    return out


def properties_dict(net: Network) -> dict[str, np.ndarray]:
    """The research models' properties: w_e, w_u and per-layer w_l, w_r, w_p stacked."""
    return {"w_e": net.embed, "w_u": net.unembed, "w_l": np.stack([l.W for l in net.layers]),
            "w_r": np.stack([l.V for l in net.layers]), "w_p": np.stack([l.P for l in net.layers])}


LAYOUT_CASES = {
    "bilinear-mlp": (lambda: float_net(layers=2, width=3, hidden=4, residual=True, embed=5, unembed=2), bilinear_mlp_dict),
    "bilinear-mlp, biases": (lambda: float_net(layers=1, width=3, hidden=2, residual=True, bias=True, embed=4, unembed=2), bilinear_mlp_dict),
    "bilinear-blocks": (
        lambda: Network(tuple(Bilinear(w, v, np.eye(3)) for w, v in np.random.default_rng(5).standard_normal((2, 2, 3, 3))),
                        embed=np.random.default_rng(6).standard_normal((3, 7)), unembed=np.random.default_rng(7).standard_normal((4, 3))),
        lambda net: {"embed.weight": net.embed, "head.weight": net.unembed,
                     **{f"blocks.{l}.weight": np.vstack([layer.W, layer.V]) for l, layer in enumerate(net.layers)}},
    ),
    "bilinear-toy": (
        lambda: float_net(layers=1, width=3, hidden=4, bias=True),
        lambda net: {"left.weight": net.layers[0].W, "right.weight": net.layers[0].V, "head.weight": net.layers[0].P,
                     "left.bias": net.layers[0].b, "right.bias": net.layers[0].c},
    ),
}


def write(arrays: dict[str, np.ndarray], path: Path) -> Path:
    if path.suffix == ".npz":
        np.savez(path, **arrays)
    else:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, path)
    return path


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
@pytest.mark.parametrize("case", LAYOUT_CASES)
def test_research_layouts_load_to_the_same_network(tmp_path, case, suffix):
    make, export = LAYOUT_CASES[case]
    net = make()
    path = write(export(net), tmp_path / f"m{suffix}")
    loaded = load_model(path, residual=net.residual)
    same_arrays(net, loaded)
    x = np.random.default_rng(0).standard_normal(net.d_in)
    assert np.array_equal(forward(net, x), forward(loaded, x))


def test_research_layout_needs_to_be_told_residual(tmp_path):
    net = float_net(layers=1, width=2, hidden=2, residual=True, embed=3, unembed=2)
    path = write(bilinear_mlp_dict(net), tmp_path / "m.safetensors")
    with pytest.raises(InputFileError, match="does not say whether its blocks are residual"):
        load_model(path)


def test_float32_and_bfloat16_widen_exactly(tmp_path):
    net = float_net(layers=1, width=2, hidden=2, residual=True, embed=3, unembed=2)
    arrays = {k: v.astype(np.float32) for k, v in bilinear_mlp_dict(net).items()}
    loaded = load_model(write(arrays, tmp_path / "f32.safetensors"), residual=True)
    assert loaded.layers[0].P.dtype == np.float64 and np.array_equal(loaded.layers[0].P, arrays["blocks.0.mlp.p.weight"])
    # a hand-made bfloat16 file: 1.0 is 0x3f80, -2.0 is 0xc000, 0.5 is 0x3f00, 3.0 is 0x4040
    header = {"left.weight": {"dtype": "BF16", "shape": [1, 2], "data_offsets": [0, 4]},
              "right.weight": {"dtype": "F64", "shape": [1, 2], "data_offsets": [4, 20]},
              "head.weight": {"dtype": "BF16", "shape": [2, 1], "data_offsets": [20, 24]}}
    raw = json.dumps(header).encode()
    data = struct.pack("<HH", 0x3F80, 0xC000) + np.array([0.25, 4.0]).tobytes() + struct.pack("<HH", 0x3F00, 0x4040)
    (tmp_path / "bf.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    toy = load_model(tmp_path / "bf.safetensors", residual=False)
    assert toy.layers[0].W.tolist() == [[1.0, -2.0]] and toy.layers[0].P.tolist() == [[0.5], [3.0]]
    assert toy.layers[0].V.tolist() == [[0.25, 4.0]]


def test_layout_can_be_forced(tmp_path):
    net = float_net(layers=1, width=2, hidden=2, residual=True, embed=3, unembed=2)
    path = write(bilinear_mlp_dict(net), tmp_path / "m.npz")
    same_arrays(net, load_model(path, residual=True, layout="bilinear-mlp"))
    with pytest.raises(InputFileError, match="key map 'symsteer' leaves unmatched"):
        load_model(path, layout="symsteer")
    with pytest.raises(SymsteerError, match="layout='nope'; expected one of symsteer, bilinear-mlp"):
        load_model(path, layout="nope")


# -- key maps -----------------------------------------------------------------------------------

KEYMAP = """
name = "custom"
WV = "net.{l}.proj_in.weight"
P = "net.{l}.proj_out.weight"
embed = "tok.weight"
transpose = ["embed"]        # stored like an nn.Embedding: (d_in, d)
unembed = "classifier.weight"
residual = true
ignore = ["net.*.norm.*", "step"]
"""


def test_key_map_from_toml(tmp_path):
    net = float_net(layers=2, width=3, hidden=2, residual=True, embed=4, unembed=2)
    arrays = {"tok.weight": net.embed.T, "classifier.weight": net.unembed, "step": np.array(7),
              **{f"net.{l}.proj_in.weight": np.vstack([layer.W, layer.V]) for l, layer in enumerate(net.layers)},
              **{f"net.{l}.proj_out.weight": layer.P for l, layer in enumerate(net.layers)},
              **{f"net.{l}.norm.scale": np.ones(3) for l in range(2)}}
    path = write(arrays, tmp_path / "m.safetensors")
    (tmp_path / "keys.toml").write_text(KEYMAP)
    same_arrays(net, load_model(path, keys=tmp_path / "keys.toml"))
    with pytest.raises(InputFileError, match="fit no known layout"):
        load_model(path)


def test_key_map_through_the_cli(tmp_path, capsys):
    net = float_net(layers=1, width=2, hidden=2, residual=True)
    arrays = {"net.0.proj_in.weight": np.vstack([net.layers[0].W, net.layers[0].V]), "net.0.proj_out.weight": net.layers[0].P}
    write(arrays, tmp_path / "m.npz")
    (tmp_path / "keys.toml").write_text('WV = "net.{l}.proj_in.weight"\nP = "net.{l}.proj_out.weight"\nresidual = true\n')
    code = cli.run(["effect", str(tmp_path / "m.npz"), "--steer-at", "0", "--s", "1,0", "--keys", str(tmp_path / "keys.toml")])
    assert code == 0
    assert "residual network, 1 layer(s)" in capsys.readouterr().out


BAD_KEYMAPS = [
    ("W = 3\n", "W = 3; expected a key or a list of keys"),
    ("colour = 'x'\nW = 'a'\n", "unknown entries ['colour']"),
    ("W = 'a.{l}.{l}'\n", "expected at most one {l}"),
    ("embed = 'e.{l}'\nW = 'a'\n", "embed is not per layer"),
    ("W = 'a'\ntranspose = ['b']\n", "transpose=['b']"),
    ("embed = 'e'\n", "no key for W or WV"),
    ("W = [\n", "not valid TOML"),
]


@pytest.mark.parametrize("text, message", BAD_KEYMAPS)
def test_bad_key_maps(tmp_path, text, message):
    (tmp_path / "k.toml").write_text(text)
    with pytest.raises(InputFileError, match=message.replace("[", r"\[").replace("{", r"\{")):
        load_key_map(tmp_path / "k.toml")


def test_key_map_describes_itself():
    assert "WV = blocks.{l}.weight" in LAYOUTS["bilinear-blocks"].expected()
    with pytest.raises(SymsteerError, match="unknown role 'Q'"):
        KeyMap("x", {"Q": "q"})


# -- bad files --------------------------------------------------------------------------------


def good(**extra):
    W = np.ones((2, 2))
    return {"layers.0.W": W, "layers.0.V": W, "layers.0.P": W, **extra}


BAD_FILES = [
    # (arrays, message fragments)
    ({"foo": np.zeros(3), "bar": np.ones((2, 2))},
     ["fit no known layout", "found 2 array(s): bar (2, 2), foo (3,)", "symsteer: W = layers.{l}.W",
      "bilinear-mlp: WV = blocks.{l}.mlp.w.weight", "closest:", "key map"]),
    ({**good(), "extra": np.zeros(2)}, ["fit no known layout", "closest: symsteer, which leaves unmatched: extra"]),
    ({"layers.0.W": np.ones((2, 2)), "layers.0.V": np.ones((2, 2))}, ["layer 0 misses P; expected keys like P: layers.0.P"]),
    ({"blocks.0.mlp.w.weight": np.ones((3, 2)), "blocks.0.mlp.p.weight": np.ones((2, 1))}, ["shape (3, 2); expected an even first axis"]),
    ({"blocks.0.mlp.w.weight": np.ones((4, 2))}, ["layer 0 misses P; expected keys like P: blocks.0.mlp.p.weight"]),
    (good(**{"layers.0.W": np.array([[1.0, np.nan], [0.0, 1.0]])}), ["layers.0.W[0, 1] = nan; expected finite numbers"]),
    (good(**{"layers.0.V": np.array([[1.0, np.inf], [0.0, 1.0]])}), ["layers.0.V[0, 1] = inf"]),
    (good(**{"layers.0.W": np.ones((2, 2), dtype=bool)}), ["layers.0.W has dtype bool; expected integers or floats"]),
    (good(**{"layers.0.P": np.ones((2, 2), dtype=complex)}), ["dtype complex128"]),
    (good(**{"layers.0.P": np.ones((2, 3))}), ["P has shape (2, 3); expected (d_out, 2)"]),
    (good(**{"layers.0.W": np.ones((2, 2, 2, 2))}), ["layers.0.W (left factor W, (h, d)) has shape (2, 2, 2, 2); expected 2 dimensions"]),
    (good(**{"layers.2.W": np.ones((2, 2)), "layers.2.V": np.ones((2, 2)), "layers.2.P": np.ones((2, 2))}), ["layer indices [0, 2]"]),
    (good(residual=np.array([1, 0])), ["'residual' has shape (2,)"]),
    (good(embed=np.ones(3)), ["embed (embedding E, (d, d_in)) has shape (3,)"]),
    ({"w_l": np.ones((2, 2)), "w_r": np.ones((2, 2)), "w_p": np.ones((2, 2)), "blocks.0.mlp.p.weight": np.ones((2, 2))},
     ["fit no known layout", "exported properties: they carry no biases"]),
    (properties_dict(float_net(layers=3, width=2, hidden=3, residual=True, embed=4, unembed=2)),
     ["fit no known layout", "exported properties"]),
]


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
@pytest.mark.parametrize("arrays, messages", BAD_FILES)
def test_bad_files_name_the_problem(tmp_path, arrays, messages, suffix):
    if suffix == ".safetensors" and any(a.dtype.kind == "c" for a in arrays.values()):
        pytest.skip("safetensors has no complex dtype")
    path = write(arrays, tmp_path / f"m{suffix}")
    with pytest.raises(InputFileError) as info:
        load_model(path, residual=None if "layers.0.W" in arrays else True)
    for message in messages:
        assert message in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name, content, message", [
    ("m.safetensors", b"garbage", "not a readable .safetensors file"),
    ("m.npz", b"garbage", "not a readable .npz archive"),
    ("m.pt", b"garbage", "PyTorch"),
    ("m", b"", "not a readable .npz archive"),
])
def test_unreadable_files(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputFileError, match=message):
        load_model(tmp_path / name)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        load_model(tmp_path / "none.safetensors")
    with pytest.raises(InputFileError, match="is a directory"):
        load_model(tmp_path)


def test_object_arrays_are_never_unpickled(tmp_path):
    np.savez(tmp_path / "m.npz", **good(), evil=np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputFileError, match="without unpickling"):
        load_model(tmp_path / "m.npz")


def test_symbolic_weights_cannot_be_saved(tmp_path):
    with pytest.raises(SymsteerError, match="cannot save symbolic weights"):
        save_model(Network.symbolic(layers=1, width=2, hidden=1), tmp_path / "m.npz")
    with pytest.raises(SymsteerError, match="saving PyTorch files is not supported"):
        save_model(Network.random(layers=1, width=2, hidden=1), tmp_path / "m.pt")


def test_cli_exit_code_3_for_a_bad_layout(tmp_path, capsys):
    write({"foo": np.zeros(3)}, tmp_path / "m.safetensors")
    code = cli.run(["effect", str(tmp_path / "m.safetensors"), "--steer-at", "0", "--s", "1"])
    err = capsys.readouterr().err
    assert code == 3 and "found 1 array(s): foo (3,)" in err and "Traceback" not in err


# -- PyTorch (optional) ----------------------------------------------------------------------


def test_torch_file_without_torch_says_how_to_read_it(tmp_path):
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("torch is installed")
    (tmp_path / "m.pt").write_bytes(b"PK\x03\x04")
    with pytest.raises(InputFileError, match=r"needs torch \(pip install torch"):
        load_model(tmp_path / "m.pt")


@pytest.mark.parametrize("nest", [None, "state_dict", "model"])
def test_torch_state_dicts(tmp_path, nest):
    torch = pytest.importorskip("torch")
    net = float_net(layers=2, width=3, hidden=2, residual=True, embed=4, unembed=2)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in bilinear_mlp_dict(net).items()}
    torch.save(state if nest is None else {nest: state, "epoch": 3}, tmp_path / "m.pt")
    same_arrays(net, load_model(tmp_path / "m.pt", residual=True))


def test_torch_bfloat16_and_refused_objects(tmp_path):
    torch = pytest.importorskip("torch")
    state = {"left.weight": torch.tensor([[1.0, -2.0]], dtype=torch.bfloat16), "right.weight": torch.ones(1, 2),
             "head.weight": torch.ones(2, 1)}
    torch.save(state, tmp_path / "m.pth")
    assert load_model(tmp_path / "m.pth", residual=False).layers[0].W.tolist() == [[1.0, -2.0]]
    torch.save({**state, "note": "text"}, tmp_path / "bad.pt")
    with pytest.raises(InputFileError, match="entry 'note' is a str; expected tensors"):
        load_model(tmp_path / "bad.pt", residual=False)


def test_model_to_arrays_keys_are_the_symsteer_layout():
    net = Network.random(layers=2, width=2, hidden=2, bias=True, embed=3, unembed=2, seed=0)
    found, rest = LAYOUTS["symsteer"].match(list(model_to_arrays(net)))
    assert rest == [] and sorted(found) == sorted(model_to_arrays(net))


def test_save_refuses_what_a_file_cannot_hold_exactly(tmp_path):
    # regression: integers beyond int64 raised OverflowError (exit 4) and 1/3 was silently
    # rounded, so loading the file gave another model
    import sympy

    from symsteer import Bilinear, Network, SymsteerError, load_model, save_model

    for bad, shown in ((sympy.Rational(1, 3), "1/3"), (sympy.Integer(3**50), str(3**50))):
        with pytest.raises(SymsteerError, match=f"layers\\[0\\].W has the entry {shown}, which a file cannot hold exactly"):
            save_model(Network((Bilinear([[bad]], [[1]], [[1]]),)), tmp_path / "m.npz")
    exact = Network((Bilinear([[sympy.Rational(1, 4)]], [[sympy.Integer(2**70)]], [[-3]]),))
    for suffix in (".npz", ".safetensors"):
        save_model(exact, tmp_path / f"m{suffix}")
        back = load_model(tmp_path / f"m{suffix}")
        assert [float(back.layers[0].W[0, 0]), float(back.layers[0].V[0, 0]), float(back.layers[0].P[0, 0])] == [0.25, 2.0**70, -3.0]
