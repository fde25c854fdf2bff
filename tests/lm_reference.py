"""Independent forward passes of the released tensor-transformer LMs, written from their formulas
over the state dicts (keys and shapes as the research classes name them). No symsteer code: the
oracle the layouts are checked against. float64 numpy, one einsum per product; rotary tables as
torch computes them in the research code (float32, or bf16 for the modded-nanogpt LMs).

Steering: ``steer=(n, D, alpha)`` adds ``alpha * D`` (T, d) to the residual stream entering
sublayer n (sublayer 2i is research block i's input, 2i + 1 the stream between its attention
and its MLP).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _torch():
    import pytest

    return pytest.importorskip("torch")


def rope_tables(d_head: int, length: int, *, base: float = 10_000.0, bf16: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Half-width (T, d_head/2) cos and sin: ``t · base^(−2i/d_h)`` in float32, as torch computes them."""
    torch = _torch()
    inv = 1.0 / (base ** (torch.arange(0, d_head, 2).float() / d_head))
    ang = torch.outer(torch.arange(length).float(), inv)
    cos, sin = ang.cos(), ang.sin()
    if bf16:
        cos, sin = cos.bfloat16(), sin.bfloat16()
    return cos.double().numpy(), sin.double().numpy()


def rot(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, *, sign: int = 1) -> np.ndarray:
    """x (T, H, e): halves (a, b) ↦ (a cos − sign·b sin, sign·a sin + b cos)."""
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    c, s = cos[:, None, :], sign * sin[:, None, :]
    return np.concatenate([a * c - b * s, a * s + b * c], axis=-1)


def rms(x: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


def _steered(x: np.ndarray, n: int, steer: Any) -> np.ndarray:
    if steer is not None and steer[0] == n:
        return x + steer[2] * np.asarray(steer[1], dtype=np.float64)
    return x


def causal(T: int) -> np.ndarray:
    return np.tril(np.ones((T, T)))


# -- henrylhale/bilinear-vpd ------------------------------------------------------------------


def bilinear_vpd(sd: dict[str, np.ndarray], tokens: Any, *, norm: str = "rmsnorm", base: float = 10_000.0,
                 steer: Any = None) -> np.ndarray:
    """``x ← x + A(n(x))``, ``x ← x + MLP(n(x))``, logits ``U n(x)``; A one head with
    ``(q1·k1/√e)(q2·k2/√e)`` causal, RoPE on q and k."""
    f = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
    x = f["embed.weight"][np.asarray(tokens)]
    T = x.shape[0]
    L = len({k.split(".")[1] for k in f if k.startswith("blocks.")})

    def n(key: str, y: np.ndarray) -> np.ndarray:
        if key in f:
            return y * f[key]
        return rms(y, 1e-6) if norm == "rmsnorm" else y

    for i in range(L):
        p = f"blocks.{i}"
        x = _steered(x, 2 * i, steer)
        h = n(f"{p}.norm_attn.scale", x)
        e = f[f"{p}.attn.q1_proj.weight"].shape[0]
        cos, sin = rope_tables(e, T, base=base)
        pr = {k: (h @ f[f"{p}.attn.{k}_proj.weight"].T)[:, None, :] for k in ("q1", "q2", "k1", "k2")}
        r = {k: rot(v, cos, sin)[:, 0, :] for k, v in pr.items()}
        a = (r["q1"] @ r["k1"].T / np.sqrt(e)) * (r["q2"] @ r["k2"].T / np.sqrt(e)) * causal(T)
        x = x + (a @ (h @ f[f"{p}.attn.v_proj.weight"].T)) @ f[f"{p}.attn.o_proj.weight"].T
        x = _steered(x, 2 * i + 1, steer)
        h = n(f"{p}.norm_mlp.scale", x)
        x = x + ((h @ f[f"{p}.mlp.w_m.weight"].T) * (h @ f[f"{p}.mlp.w_n.weight"].T)) @ f[f"{p}.mlp.w_proj.weight"].T
    x = _steered(x, 2 * L, steer)
    return n("final_norm.scale", x) @ f["unembed.weight"].T


def bilinear_vpd_state(rng: np.random.Generator, *, vocab: int = 7, d: int = 6, e: int = 4, hidden: int = 5,
                       layers: int = 2, scales: str | None = None) -> dict[str, np.ndarray]:
    """A random state dict named and shaped as ``BilinearTransformer``'s (``scales``: None,
    "scalar" or "channel" learned norm scales)."""
    g = lambda *s: rng.standard_normal(s) * 0.6  # noqa: E731
    sd = {"embed.weight": g(vocab, d), "unembed.weight": g(vocab, d)}
    for i in range(layers):
        p = f"blocks.{i}"
        for k in ("q1", "q2", "k1", "k2", "v"):
            sd[f"{p}.attn.{k}_proj.weight"] = g(e, d)
        sd[f"{p}.attn.o_proj.weight"] = g(d, e)
        sd[f"{p}.mlp.w_m.weight"], sd[f"{p}.mlp.w_n.weight"] = g(hidden, d), g(hidden, d)
        sd[f"{p}.mlp.w_proj.weight"] = g(d, hidden)
        for sub in ("attn", "mlp"):
            if scales:
                sd[f"{p}.norm_{sub}.scale"] = 1 + g() if scales == "scalar" else 1 + g(d)
    if scales:
        sd["final_norm.scale"] = 1 + g() if scales == "scalar" else 1 + g(d)
    return sd


# -- tdooms/bilinear-decomposition ---------------------------------------------------------------


def decomposition(sd: dict[str, np.ndarray], tokens: Any, *, n_head: int, normalization: bool = True,
                  freeze: Any = None, steer: Any = None) -> np.ndarray:
    """``x ← x + A(n(x))/√(2L)``, ``x ← x + P((W n(x)) ⊙ (V n(x)) + …)``, logits ``U n(x)``; A causal
    softmax attention with RoPE (rotate_half). ``freeze``: token ids whose unsteered patterns are used."""
    f = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
    E = f["transformer.wte.weight"]
    L = len({k.split(".")[2] for k in f if k.startswith("transformer.h.")})
    d = E.shape[1]
    dh = d // n_head
    n = (lambda y: rms(y, 1e-8)) if normalization else (lambda y: y)
    patterns = None
    if freeze is not None:
        patterns = []
        decomposition(sd, freeze, n_head=n_head, normalization=normalization, freeze=None, steer=("record", patterns))
    x = E[np.asarray(tokens)]
    T = x.shape[0]
    cos, sin = rope_tables(dh, T)
    for i in range(L):
        p = f"transformer.h.{i}"
        x = _steered(x, 2 * i, steer)
        h = n(x)
        qkv = h @ f[f"{p}.attn.qkv.weight"].T
        q, k, v = (qkv[:, j * d:(j + 1) * d].reshape(T, n_head, dh) for j in range(3))
        q, k = rot(q, cos, sin), rot(k, cos, sin)
        if patterns is not None:
            a = patterns[i]
        else:
            s = np.einsum("qhe,khe->hqk", q, k) / np.sqrt(dh)
            s = np.where(causal(T) > 0, s, -np.inf)
            a = np.exp(s - s.max(-1, keepdims=True))
            a = a / a.sum(-1, keepdims=True)
            if steer is not None and steer[0] == "record":
                steer[1].append(a)
        z = np.einsum("hqk,khe->qhe", a, v).reshape(T, d)
        x = x + (z @ f[f"{p}.attn.o.weight"].T) / np.sqrt(2.0 * L)
        x = _steered(x, 2 * i + 1, steer)
        h = n(x)
        w = h @ f[f"{p}.mlp.w.weight"].T + f.get(f"{p}.mlp.w.bias", 0.0)
        hid = w.shape[-1] // 2
        x = x + (w[:, :hid] * w[:, hid:]) @ f[f"{p}.mlp.p.weight"].T + f.get(f"{p}.mlp.p.bias", 0.0)
    x = _steered(x, 2 * L, steer)
    return n(x) @ f["lm_head.weight"].T


def decomposition_state(rng: np.random.Generator, *, vocab: int = 9, d: int = 8, heads: int = 2, hidden: int = 6,
                        layers: int = 2, bias: bool = False) -> dict[str, np.ndarray]:
    """A random state dict named and shaped as the language ``Transformer``'s (inv_freq float32, as trained)."""
    torch = _torch()
    g = lambda *s: rng.standard_normal(s) * 0.6  # noqa: E731
    dh = d // heads
    inv = (1.0 / (10000 ** (torch.arange(0, dh, 2).float() / dh))).numpy()
    sd = {"transformer.wte.weight": g(vocab, d), "lm_head.weight": g(vocab, d)}
    for i in range(layers):
        p = f"transformer.h.{i}"
        sd[f"{p}.attn.qkv.weight"], sd[f"{p}.attn.o.weight"] = g(3 * d, d), g(d, d)
        sd[f"{p}.attn.rotary.inv_freq"] = inv
        sd[f"{p}.mlp.w.weight"], sd[f"{p}.mlp.p.weight"] = g(2 * hidden, d), g(d, hidden)
        if bias:
            sd[f"{p}.mlp.w.bias"], sd[f"{p}.mlp.p.bias"] = g(2 * hidden), g(d)
    return sd


# -- loganriggs/tensor_language GPT (the released modded-nanogpt LMs) --------------------------------


def gpt(sd: dict[str, np.ndarray], tokens: Any, *, n_head: int, eps: float, steer: Any = None) -> np.ndarray:
    """``x = n(E t)``, ``x0 = x``; per block ``x ← λ0 x + λ1 x0``, ``h = n(x)``, QK-norm per head then
    RoPE (opposite sign, bf16 tables), ``v = (1 − λ) V h + λ v1`` (v1: block 0's ``V h``), pattern
    ``(q1·k1/D)(q2·k2/D)`` causal (one branch: ``(q·k/D)²`` row-normalised), ``x ← x + O z``,
    ``x ← x + MLP(n(x))``; logits ``30 tanh(U n(x) / 30)``. Steering at sublayer 2i adds to x
    before the λ mixing (x0 untouched)."""
    f = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
    x = rms(f["transformer.wte.weight"][np.asarray(tokens)], eps)
    x0, v1 = x, None
    T, d = x.shape
    dh = d // n_head
    cos, sin = rope_tables(dh, T, bf16=True)
    L = len({k.split(".")[2] for k in f if k.startswith("transformer.h.")})
    for i in range(L):
        p = f"transformer.h.{i}"
        x = _steered(x, 2 * i, steer)
        x = f[f"{p}.lambdas"][0] * x + f[f"{p}.lambdas"][1] * x0
        h = rms(x, eps)

        def qk(key: str) -> np.ndarray:
            return rot(rms((h @ f[f"{p}.attn.{key}.weight"].T).reshape(T, n_head, dh), eps), cos, sin, sign=-1)

        v = (h @ f[f"{p}.attn.c_v.weight"].T).reshape(T, n_head, dh)
        v1 = v if v1 is None else v1
        lam = float(f[f"{p}.attn.lamb"])
        v = (1 - lam) * v + lam * v1
        s1 = np.einsum("qhe,khe->hqk", qk("c_q"), qk("c_k")) / dh
        if f"{p}.attn.c_q2.weight" in f:
            a = s1 * np.einsum("qhe,khe->hqk", qk("c_q2"), qk("c_k2")) / dh * causal(T)
        else:
            a = s1 * s1 * causal(T)
            a = a / a.sum(-1, keepdims=True)
        x = x + np.einsum("hqk,khe->qhe", a, v).reshape(T, d) @ f[f"{p}.attn.c_proj.weight"].T
        x = _steered(x, 2 * i + 1, steer)
        h = rms(x, eps)
        if f"{p}.mlp.Left.weight" in f:
            g = (h @ f[f"{p}.mlp.Left.weight"].T) * (h @ f[f"{p}.mlp.Right.weight"].T)
            x = x + g @ f[f"{p}.mlp.Down.weight"].T + f[f"{p}.mlp.Down_bias"]
        else:
            x = x + (h @ f[f"{p}.mlp.c_fc.weight"].T) ** 2 @ f[f"{p}.mlp.c_proj.weight"].T + f[f"{p}.mlp.bias"]
    x = _steered(x, 2 * L, steer)
    return 30 * np.tanh(rms(x, eps) @ f["lm_head.weight"].T / 30)


def gpt_state(rng: np.random.Generator, *, vocab: int = 11, d: int = 8, layers: int = 2, expansion: int = 2,
              two: bool = True, bilinear: bool = True, dtype: Any = np.float64) -> dict[str, np.ndarray]:
    """A random state dict named and shaped as ``GPT``'s (``two``: bilinear_attn; ``bilinear``: Left/Right/Down)."""
    g = lambda *s: (rng.standard_normal(s) * 0.5).astype(dtype)  # noqa: E731
    sd = {"transformer.wte.weight": g(vocab, d), "lm_head.weight": g(vocab, d)}
    for i in range(layers):
        p = f"transformer.h.{i}"
        sd[f"{p}.lambdas"] = np.array([0.8, 0.3], dtype=dtype) + g(2) * 0.2
        for k in ("c_q", "c_k", "c_v", "c_proj") + (("c_q2", "c_k2") if two else ()):
            sd[f"{p}.attn.{k}.weight"] = g(d, d)
        sd[f"{p}.attn.lamb"] = np.asarray(0.3 + 0.4 * rng.random(), dtype=dtype)
        if bilinear:
            sd[f"{p}.mlp.Left.weight"], sd[f"{p}.mlp.Right.weight"] = g(expansion * d, d), g(expansion * d, d)
            sd[f"{p}.mlp.Down.weight"], sd[f"{p}.mlp.Down_bias"] = g(d, expansion * d), g(d)
        else:
            sd[f"{p}.mlp.c_fc.weight"], sd[f"{p}.mlp.c_proj.weight"], sd[f"{p}.mlp.bias"] = g(4 * d, d), g(d, 4 * d), g(d)
    return sd


# -- tdooms/tensor-similarity CheckpointTransformer (melephant AttentionLM) --------------------------


def checkpoint(sd: dict[str, np.ndarray], tokens: Any, *, n_head: int, scale: float = 0.35, residual: str = "add",
               steer: Any = None) -> np.ndarray:
    """Layers of bilinear attention ``(q1·k1)(q2·k2)/d_h²`` (QK biases before RoPE), residual
    ``x + s O z`` (or the lerp); logits ``U x / √(energy + 1e-6)``."""
    f = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
    x = f["embed.weight"][np.asarray(tokens)]
    T, d = x.shape
    dh = d // n_head
    cos, sin = rope_tables(dh, T)
    L = len({k.split(".")[1] for k in f if k.startswith("layers.")})
    for i in range(L):
        p = f"layers.{i}"
        x = _steered(x, i, steer)
        pr = {k: (x @ f[f"{p}.{k}.weight"].T + f.get(f"{p}.{k}.bias", 0.0)).reshape(T, n_head, dh) for k in ("q1", "k1", "q2", "k2", "v")}
        r = {k: rot(pr[k], cos, sin) for k in ("q1", "k1", "q2", "k2")}
        a = np.einsum("qhe,khe->hqk", r["q1"], r["k1"]) * np.einsum("qhe,khe->hqk", r["q2"], r["k2"]) / dh**2 * causal(T)
        out = np.einsum("hqk,khe->qhe", a, pr["v"]).reshape(T, d) @ f[f"{p}.o.weight"].T
        x = x + scale * out if residual == "add" else (1 - scale) * x + scale * out
    x = _steered(x, L, steer)
    energy = float(np.ravel(f.get("final_norm.running_mean_energy", np.ones(1)))[0])
    return x @ f["unembed.weight"].T / np.sqrt(energy + 1e-6)


def checkpoint_state(rng: np.random.Generator, *, vocab: int = 9, d: int = 8, layers: int = 2, bias: bool = True,
                     energy: float = 2.5, dtype: Any = np.float32) -> dict[str, np.ndarray]:
    """A random state dict named and shaped as a melephant checkpoint (embed rows are tokens)."""
    g = lambda *s: (rng.standard_normal(s) * 0.5).astype(dtype)  # noqa: E731
    sd = {"embed.weight": g(vocab, d), "unembed.weight": g(vocab, d),
          "final_norm.running_mean_energy": np.array([energy], dtype=dtype)}
    for i in range(layers):
        for k in ("q1", "k1", "q2", "k2", "v", "o"):
            sd[f"layers.{i}.{k}.weight"] = g(d, d)
            if bias and k in ("q1", "k1", "q2", "k2"):
                sd[f"layers.{i}.{k}.bias"] = g(d)
    return sd


# -- loganriggs/tensor_language DeepModel with norm=True -----------------------------------------


def deep_model(sd: dict[str, np.ndarray], tokens: Any, *, n_head: int, spec: list[str], lam: float = 0.5,
               eps: float = float(np.finfo(np.float64).eps)) -> np.ndarray:
    """Attention ``lerp(x, O z(n(x)), λ)`` (bilinear, RoPE, ``/d_h²``), MLP ``x + D((L n(x)) ⊙ (R n(x)))``."""
    f = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
    x = f["embed.weight"][np.asarray(tokens)]
    T, d = x.shape
    dh = d // n_head
    cos, sin = rope_tables(dh, T)
    for i, kind in enumerate(spec):
        p = f"layers.{i}"
        h = rms(x, eps)
        if kind == "attn":
            pr = {k: (h @ f[f"{p}.{k}.weight"].T).reshape(T, n_head, dh) for k in ("q1", "k1", "q2", "k2", "v")}
            r = {k: rot(pr[k], cos, sin) for k in ("q1", "k1", "q2", "k2")}
            a = np.einsum("qhe,khe->hqk", r["q1"], r["k1"]) * np.einsum("qhe,khe->hqk", r["q2"], r["k2"]) / dh**2 * causal(T)
            out = np.einsum("hqk,khe->qhe", a, pr["v"]).reshape(T, d) @ f[f"{p}.o.weight"].T
            x = x + lam * (out - x)
        else:
            x = x + ((h @ f[f"{p}.L.weight"].T) * (h @ f[f"{p}.R.weight"].T)) @ f[f"{p}.D.weight"].T
    return x @ f["head.weight"].T
