"""The shipped tiny tensor transformer: it retrains bit for bit, and an independent numpy forward
pass written from the formulas reproduces its recorded outputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SHIPPED = EXAMPLES / "tiny_lm"


def _config() -> dict:
    return json.loads((SHIPPED / "config.json").read_text())


def _weights() -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(SHIPPED / "model.safetensors"))


def _script():
    pytest.importorskip("torch", reason="torch trains the tiny LM (pip install torch)")
    sys.path.insert(0, str(EXAMPLES))
    try:
        import train_tiny_lm
    finally:
        sys.path.remove(str(EXAMPLES))
    return train_tiny_lm


def _forward(w: dict[str, np.ndarray], cfg: dict, tokens: list[int]) -> np.ndarray:
    """Logits (T, V) in float64 from the formulas: bilinear attention with RoPE (float32 tables),
    lerp residual for attention, add for the MLPs; no norms, no biases."""
    d, n_head = cfg["d_model"], cfg["n_head"]
    d_h = d // n_head
    t = len(tokens)
    freq = (1.0 / (np.float32(cfg["rope"]["base"]) ** (np.arange(0, d_h, 2, dtype=np.float32) / np.float32(d_h)))).astype(np.float32)
    ang = np.outer(np.arange(t, dtype=np.float32), freq)
    cos = np.concatenate([np.cos(ang), np.cos(ang)], -1).astype(np.float64)
    sin = np.concatenate([np.sin(ang), np.sin(ang)], -1).astype(np.float64)

    def rot(y: np.ndarray) -> np.ndarray:  # (H, T, d_h)
        half = d_h // 2
        return y * cos + np.concatenate([-y[..., half:], y[..., :half]], -1) * sin

    W = {k: v.astype(np.float64) for k, v in w.items()}
    x = W["embed.weight"][tokens]
    mask = np.tril(np.ones((t, t)))
    for i, kind in enumerate(cfg["spec"]):
        if kind == "attn":
            h = {n: (x @ W[f"layers.{i}.{n}.weight"].T).reshape(t, n_head, d_h).transpose(1, 0, 2)
                 for n in ("q1", "k1", "q2", "k2", "v")}
            p = (rot(h["q1"]) @ rot(h["k1"]).transpose(0, 2, 1)) * (rot(h["q2"]) @ rot(h["k2"]).transpose(0, 2, 1)) / d_h**2 * mask
            z = (p @ h["v"]).transpose(1, 0, 2).reshape(t, d)
            x = x + cfg["scale"] * (z @ W[f"layers.{i}.o.weight"].T - x)
        else:
            g = (x @ W[f"layers.{i}.L.weight"].T) * (x @ W[f"layers.{i}.R.weight"].T)
            x = x + g @ W[f"layers.{i}.D.weight"].T
    return x @ W["head.weight"].T


def test_shipped_files_are_small_and_named_as_deep_model_names_them():
    cfg, w = _config(), _weights()
    assert (SHIPPED / "model.safetensors").stat().st_size < 2_000_000
    d, h, v = cfg["d_model"], cfg["d_hidden"], cfg["vocab_size"]
    expected = {"embed.weight": (v, d), "head.weight": (v, d)}
    for i, kind in enumerate(cfg["spec"]):
        names = {"q1": (d, d), "k1": (d, d), "q2": (d, d), "k2": (d, d), "v": (d, d), "o": (d, d)} if kind == "attn" \
            else {"L": (h, d), "R": (h, d), "D": (d, h)}
        expected.update({f"layers.{i}.{n}.weight": shape for n, shape in names.items()})
    assert {k: a.shape for k, a in w.items()} == expected
    assert all(a.dtype == np.float32 for a in w.values())


def test_independent_forward_reproduces_the_recorded_outputs():
    cfg, w = _config(), _weights()
    assert len(cfg["reference"]) >= 3
    for ref in cfg["reference"]:
        got = _forward(w, cfg, ref["tokens"])
        want = np.array(ref["logits"])
        # the reference is torch's float32 forward; this one is float64 from the same weights
        assert np.max(np.abs(got - want)) <= 1e-4 * max(1.0, np.max(np.abs(want))), ref["name"]


def test_shipped_weights_hash_and_a_retrained_prefix_are_bit_for_bit():
    train_tiny_lm = _script()
    import torch

    cfg = _config()
    tr = cfg["training"]
    assert train_tiny_lm.weights_hash(_weights()) == tr["sha256"]
    if torch.__version__ != tr["torch"]:
        pytest.skip(f"bit-for-bit holds for the torch that trained it ({tr['torch']}); this is {torch.__version__}")
    model = train_tiny_lm.train(seed=tr["seed"], steps=tr["steps"], batch_size=tr["batch_size"], lr=tr["lr"],
                                wd=tr["weight_decay"], smoothing=tr["label_smoothing"], stop_after=tr["prefix_steps"])
    assert train_tiny_lm.weights_hash(train_tiny_lm.weights_of(model)) == tr["prefix_sha256"]


def test_the_model_solves_both_tasks_and_its_steering_vector_is_its_own():
    train_tiny_lm = _script()
    model = train_tiny_lm.load_model(SHIPPED)
    acc = train_tiny_lm.accuracy(model, seed=123, n=200)
    assert acc["induction"] >= 0.99 and acc["skip_trigram"] >= 0.99, acc
    info = json.loads((SHIPPED / "steer_K0_minus_K1.json").read_text())
    s, _ = train_tiny_lm.steering_vector(model, seed=_config()["training"]["seed"] + 1, layer=info["layer"],
                                         n=info["samples"])
    assert np.array_equal(s, np.load(SHIPPED / "steer_K0_minus_K1.npy"))


def test_the_language_follows_its_rules():
    train_tiny_lm = _script()
    rng = np.random.default_rng(0)
    for _ in range(50):
        tok, scored = train_tiny_lm.induction_sequence(rng)
        for q in np.nonzero(scored)[0]:
            earlier = [k for k in range(1, q) if tok[k - 1] == tok[q]]
            assert earlier and all(tok[k] == tok[q + 1] for k in earlier)
        tok, scored = train_tiny_lm.skip_trigram_sequence(rng)
        key = int(np.nonzero(np.isin(tok, train_tiny_lm.KEY))[0][0])
        for q in np.nonzero(scored)[0]:
            i, j = tok[key] - train_tiny_lm.KEY[0], tok[q] - train_tiny_lm.QUERY[0]
            assert q > key and tok[q + 1] == train_tiny_lm.answer_of(int(i), int(j))
