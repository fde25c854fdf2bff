"""The reference gate: a model file must reproduce the outputs its own code recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from symsteer import cli
from symsteer._check import REFERENCE_RTOL
from symsteer.errors import ReferenceMismatch
from symsteer.gate import gate_arrays, reference_gate, tolerance_for
from symsteer.layouts import load_model


def image_forward(sd, x, residual):
    """The research image classifier written out: embed, x + left * right, head."""
    h = x.reshape(len(x), -1) @ sd["embed.weight"].T
    out = h @ sd["blocks.0.weight"].T
    left, right = np.split(out, 2, axis=-1)
    h = h + left * right if residual else left * right
    return h @ sd["head.weight"].T


@pytest.fixture
def recorded(tmp_path):
    rng = np.random.default_rng(11)
    sd = {"embed.weight": rng.standard_normal((4, 6)), "head.weight": rng.standard_normal((3, 4)),
          "blocks.0.weight": rng.standard_normal((8, 4)) / 2}
    save_file(sd, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({"residual": True}))
    x = rng.standard_normal((5, 2, 3))  # images: the research code flattens them
    np.save(tmp_path / "in.npy", x)
    np.save(tmp_path / "out.npy", image_forward(sd, x, residual=True))
    np.save(tmp_path / "plain.npy", image_forward(sd, x, residual=False))
    return tmp_path


def run(*args, capsys):
    code = cli.run(list(map(str, args)))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_gate_passes_the_model_as_its_code_computes_it(recorded, capsys):
    code, text = run("gate", recorded / "model.safetensors", "--inputs", recorded / "in.npy", "--reference", recorded / "out.npy", capsys=capsys)
    assert code == 0 and text.startswith("ok: the loaded model matches the reference on 5 input(s)")


def test_a_different_function_is_refused_naming_where(recorded, capsys):
    """The recorded model was plain: the file's config says residual, so the loaded function differs."""
    code, text = run("gate", recorded / "model.safetensors", "--inputs", recorded / "in.npy", "--reference", recorded / "plain.npy", capsys=capsys)
    assert code == 1 and "differs from the reference" in text and "at output [" in text and "tolerance 1e-09 (float64)" in text
    code, _ = run("gate", recorded / "model.safetensors", "--plain", "--inputs", recorded / "in.npy", "--reference", recorded / "plain.npy",
                  capsys=capsys)
    assert code == 3  # --plain contradicts config.json: refused as a bad file (exit 3) before any comparison


@pytest.mark.parametrize("command", [
    ["effect", "{model}", "--steer-at", "1", "--s", "1,0,0,0", "--inputs", "{inputs}", "--reference", "{ref}"],
    ["expand", "--model", "{model}", "--max-order", "1", "--inputs", "{inputs2d}", "--reference", "{ref}"],
    ["steer", "--h", "{h}", "--q", "{h}", "--model", "{model}", "--steer-at", "0", "-o", "{s}", "--inputs", "{inputs2d}", "--reference", "{ref}"],
])
def test_every_model_command_refuses_behind_a_wrong_reference(recorded, capsys, command):
    x = np.load(recorded / "in.npy").reshape(5, 6)
    np.save(recorded / "in2d.npy", x)
    np.save(recorded / "h.npy", x[:2])
    paths = {"model": recorded / "model.safetensors", "inputs": recorded / "in2d.npy", "inputs2d": recorded / "in2d.npy",
             "h": recorded / "h.npy", "s": recorded / "s.npy"}
    bad = [a.format(ref=recorded / "plain.npy", **paths) for a in command]
    code, text = run(*bad, capsys=capsys)
    assert code == 1 and "refusing to analyse a model that is not the one recorded" in text
    assert not (recorded / "s.npy").exists()
    good = [a.format(ref=recorded / "out.npy", **paths) for a in command]
    code, text = run(*good, capsys=capsys)
    assert code in (0, 1) and "refusing" not in text  # effect exits 1 only when its own checks fail


def test_reference_needs_inputs(recorded, capsys):
    code, text = run("expand", "--model", recorded / "model.safetensors", "--reference", recorded / "out.npy", capsys=capsys)
    assert code == 2 and "--reference OUT.npy goes with --inputs IN.npy" in text
    code, text = run("expand", "--inputs", recorded / "in.npy", "--reference", recorded / "out.npy", capsys=capsys)
    assert code == 2 and "need --model" in text


def test_tolerance_follows_the_coarsest_dtype(recorded):
    net = load_model(recorded / "model.safetensors")
    x = np.load(recorded / "in.npy")
    y = np.load(recorded / "out.npy")
    y32 = y.astype(np.float32)
    result = gate_arrays(net, x, y32)
    assert result.dtype == "float32" and result.tolerance == REFERENCE_RTOL["float32"] and result.passed
    assert tolerance_for(["float64", np.dtype(np.int64)]) == (REFERENCE_RTOL["float64"], "float64")
    assert tolerance_for(["float32", "float16"])[1] == "float16"
    # a float32 recording is not accepted against a float64 tolerance it cannot meet, nor a wrong model against a loose one
    shifted = y32.copy()
    shifted[2, 1] += 0.01 * np.abs(y).max()
    assert not gate_arrays(net, x, shifted).passed


def test_shapes_are_named(recorded):
    net = load_model(recorded / "model.safetensors")
    np.save(recorded / "short.npy", np.ones((5, 2)))
    with pytest.raises(Exception, match=r"--reference has shape \(5, 2\); expected \(N, 3\)"):
        reference_gate(net, inputs=recorded / "in.npy", reference=recorded / "short.npy")
    np.save(recorded / "few.npy", np.ones((4, 3)))
    with pytest.raises(Exception, match="--inputs has 5 row"):
        reference_gate(net, inputs=recorded / "in.npy", reference=recorded / "few.npy")
    with pytest.raises(ReferenceMismatch):
        reference_gate(net, inputs=recorded / "in.npy", reference=recorded / "plain.npy")
