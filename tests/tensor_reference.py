"""An independent forward pass for tensor transformers, written from the formulas.

The oracle the sequence code is checked against: it shares no code with symsteer. A model is a
plain dict (weights in PyTorch's ``nn.Linear`` convention, ``y = W x``):

    {"embed": (vocab, d) or None, "head": (vocab, d) or None,
     "layers": [{"kind": "attn", "q1", "k1", "q2", "k2", "v", "o": (d, d) arrays,
                 "heads": H, "rope": None or base, "bias": {"q1": (d,), …} or None,
                 "pattern": "bilinear" | "squared" | "squared-normalized",
                 "residual": "add" | "lerp", "scale": λ},
                {"kind": "mlp", "L", "R": (h, d), "D": (d, h), "residual", "scale"}]}

Two number systems: float64 (numpy, one einsum per product) and exact (plain Python lists of
Fractions, one loop per sum). Rotary tables are float32 numbers computed by torch exactly as the
research code computes them, then taken exactly.

    pattern[q, k] = (q1_q · k1_k)(q2_q · k2_k) / d_h²  for k ≤ q, else 0
    out_q = O concat_h(Σ_k pattern_h[q, k] v_{k,h});  add: x + out;  lerp: x + λ (out − x)
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

# -- rotary tables -----------------------------------------------------------------------


def rotary_tables(d_head: int, length: int, base: float = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin tables (T, d_head), the halves repeated, float32 values as float64 arrays
    (computed by torch, as the research code computes them: RoPE cases need torch)."""
    import pytest

    torch = pytest.importorskip("torch")

    freq = 1.0 / (base ** (torch.arange(0, d_head, 2).float() / d_head))
    angles = torch.outer(torch.arange(length).float(), freq)
    cos, sin = angles.cos(), angles.sin()
    return (torch.cat([cos, cos], -1).double().numpy(), torch.cat([sin, sin], -1).double().numpy())


# -- float64 -----------------------------------------------------------------------------


def _rotate_f(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    # x: (T, H, d_h); cos/sin: (T, d_h)
    half = x.shape[-1] // 2
    turned = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos[:, None, :] + turned * sin[:, None, :]


def _attn_f(layer: dict[str, Any], x: np.ndarray) -> np.ndarray:
    T, d = x.shape
    H = layer["heads"]
    dh = layer["v"].shape[0] // H
    bias = layer.get("bias") or {}
    proj = {}
    for key in ("q1", "k1", "q2", "k2", "v"):
        if key not in layer or layer[key] is None:
            continue
        y = x @ np.asarray(layer[key], dtype=np.float64).T
        if key in bias:
            y = y + np.asarray(bias[key], dtype=np.float64)
        proj[key] = y.reshape(T, H, dh)
    if layer.get("rope") is not None:
        cos, sin = rotary_tables(dh, T, layer["rope"])
        for key in ("q1", "k1", "q2", "k2"):
            if key in proj:
                proj[key] = _rotate_f(proj[key], cos, sin)
    mask = np.tril(np.ones((T, T)))
    a = np.einsum("qhe,khe->hqk", proj["q1"], proj["k1"])
    kind = layer.get("pattern", "bilinear")
    if kind == "bilinear":
        p = a * np.einsum("qhe,khe->hqk", proj["q2"], proj["k2"]) / dh**2 * mask
    else:
        p = a * a / dh**2 * mask
        if kind == "squared-normalized":
            p = p / p.sum(axis=-1, keepdims=True)
    z = np.einsum("hqk,khe->qhe", p, proj["v"]).reshape(T, H * dh)
    return z @ np.asarray(layer["o"], dtype=np.float64).T


def _mlp_f(layer: dict[str, Any], x: np.ndarray) -> np.ndarray:
    f = lambda k: np.asarray(layer[k], dtype=np.float64)  # noqa: E731
    return ((x @ f("L").T) * (x @ f("R").T)) @ f("D").T


def _residual(layer: dict[str, Any], x: Any, out: Any) -> Any:
    if layer["residual"] == "add":
        return x + out
    return x + float(layer["scale"]) * (out - x)


def forward_float(model: dict[str, Any], x: np.ndarray, *, steer: tuple[int, np.ndarray, float] | None = None) -> list[np.ndarray]:
    """The streams ``[x_0, …, x_L]`` and, last, the output (head applied if present), float64.

    ``x``: (T, d) stream (or token ids when the model has an embedding); ``steer = (n, D, α)``
    adds ``α D`` to the stream entering layer n.
    """
    x = np.asarray(x)
    cur = np.asarray(model["embed"], dtype=np.float64)[x] if model.get("embed") is not None else x.astype(np.float64)
    out = []
    layers = model["layers"]
    for n in range(len(layers) + 1):
        if steer is not None and steer[0] == n:
            cur = cur + steer[2] * np.asarray(steer[1], dtype=np.float64)
        out.append(cur)
        if n == len(layers):
            break
        layer = layers[n]
        y = _attn_f(layer, cur) if layer["kind"] == "attn" else _mlp_f(layer, cur)
        cur = _residual(layer, cur, y)
    if model.get("head") is not None:
        out.append(cur @ np.asarray(model["head"], dtype=np.float64).T)
    else:
        out.append(cur)
    return out


# -- exact (Fractions) -------------------------------------------------------------------


def _q(v: Any) -> Fraction:
    if hasattr(v, "p") and hasattr(v, "q"):
        return Fraction(int(v.p), int(v.q))
    return Fraction(float(v)) if isinstance(v, (float, np.floating)) else Fraction(v)


def _matvec(M: Any, v: list[Fraction]) -> list[Fraction]:
    return [sum((_q(m) * vi for m, vi in zip(row, v)), Fraction(0)) for row in np.asarray(M, dtype=object)]


def _attn_q(layer: dict[str, Any], x: list[list[Fraction]]) -> list[list[Fraction]]:
    T = len(x)
    H = layer["heads"]
    d_model = len(layer["v"])
    dh = d_model // H
    bias = layer.get("bias") or {}
    proj: dict[str, list[list[Fraction]]] = {}
    for key in ("q1", "k1", "q2", "k2", "v"):
        if key not in layer or layer[key] is None:
            continue
        rows = [_matvec(layer[key], xt) for xt in x]
        if key in bias:
            rows = [[a + _q(b) for a, b in zip(r, bias[key])] for r in rows]
        proj[key] = rows
    if layer.get("rope") is not None:
        cos, sin = rotary_tables(dh, T, layer["rope"])
        half = dh // 2
        for key in ("q1", "k1", "q2", "k2"):
            if key not in proj:
                continue
            turned_rows = []
            for t, row in enumerate(proj[key]):
                new = []
                for h in range(H):
                    seg = row[h * dh:(h + 1) * dh]
                    turned = [-v for v in seg[half:]] + seg[:half]
                    new += [a * _q(c) + b * _q(s) for a, b, c, s in zip(seg, turned, cos[t], sin[t])]
                turned_rows.append(new)
            proj[key] = turned_rows
    kind = layer.get("pattern", "bilinear")

    def dot(key_q: str, key_k: str, q: int, k: int, h: int) -> Fraction:
        sl = slice(h * dh, (h + 1) * dh)
        return sum((a * b for a, b in zip(proj[key_q][q][sl], proj[key_k][k][sl])), Fraction(0))

    z = [[Fraction(0)] * d_model for _ in range(T)]
    for h in range(H):
        for q in range(T):
            weights = []
            for k in range(q + 1):
                a = dot("q1", "k1", q, k, h)
                weights.append(a * dot("q2", "k2", q, k, h) / dh**2 if kind == "bilinear" else a * a / dh**2)
            if kind == "squared-normalized":
                total = sum(weights, Fraction(0))
                weights = [w / total for w in weights]
            for k, w in enumerate(weights):
                for e in range(h * dh, (h + 1) * dh):
                    z[q][e] += w * proj["v"][k][e]
    return [_matvec(layer["o"], zq) for zq in z]


def _mlp_q(layer: dict[str, Any], x: list[list[Fraction]]) -> list[list[Fraction]]:
    out = []
    for xt in x:
        hidden = [a * b for a, b in zip(_matvec(layer["L"], xt), _matvec(layer["R"], xt))]
        out.append(_matvec(layer["D"], hidden))
    return out


def forward_exact(model: dict[str, Any], x: Any, *, steer: tuple[int, Any, Any] | None = None) -> list[list[list[Fraction]]]:
    """:func:`forward_float` in exact rationals (every weight and table entry taken exactly)."""
    if model.get("embed") is not None:
        E = np.asarray(model["embed"], dtype=object)
        cur = [[_q(v) for v in E[int(t)]] for t in x]
    else:
        cur = [[_q(v) for v in row] for row in np.asarray(x, dtype=object)]
    layers = model["layers"]
    out = []
    for n in range(len(layers) + 1):
        if steer is not None and steer[0] == n:
            a = _q(steer[2])
            D = np.asarray(steer[1], dtype=object)
            cur = [[c + a * _q(v) for c, v in zip(row, D[t])] for t, row in enumerate(cur)]
        out.append(cur)
        if n == len(layers):
            break
        layer = layers[n]
        y = _attn_q(layer, cur) if layer["kind"] == "attn" else _mlp_q(layer, cur)
        if layer["residual"] == "add":
            cur = [[a + b for a, b in zip(r, s)] for r, s in zip(cur, y)]
        else:
            lam = _q(layer["scale"])
            cur = [[a + lam * (b - a) for a, b in zip(r, s)] for r, s in zip(cur, y)]
    out.append([_matvec(model["head"], row) for row in cur] if model.get("head") is not None else cur)
    return out


def degree(model: dict[str, Any], steer_at: int) -> int:
    """The α-degree bound of the output when steering at layer ``steer_at`` (×5 attn, ×2 mlp)."""
    out = 1
    for layer in model["layers"][steer_at:]:
        out *= 2 if layer["kind"] == "mlp" else 5
    return out


def coefficients_exact(model: dict[str, Any], x: Any, steer_at: int, direction: Any) -> list[list[list[Fraction]]]:
    """All α-coefficients (deg + 1, T, d_out) of the steered output, by exact interpolation of
    :func:`forward_exact` at α = 0, 1, …, deg (Newton's divided differences)."""
    if any(layer.get("pattern") == "squared-normalized" for layer in model["layers"][steer_at:] if layer["kind"] == "attn"):
        raise ValueError("row-normalised attention is rational in α: no finite coefficient list")
    deg = degree(model, steer_at)
    points = [Fraction(a) for a in range(deg + 1)]
    values = [forward_exact(model, x, steer=(steer_at, direction, a))[-1] for a in points]
    T, d = len(values[0]), len(values[0][0])
    out = [[[Fraction(0)] * d for _ in range(T)] for _ in range(deg + 1)]
    for t in range(T):
        for e in range(d):
            coef = [v[t][e] for v in values]
            for j in range(1, deg + 1):  # divided differences in place
                for i in range(deg, j - 1, -1):
                    coef[i] = (coef[i] - coef[i - 1]) / (points[i] - points[i - j])
            poly = [Fraction(0)] * (deg + 1)  # Newton form → monomial coefficients
            for i in range(deg, -1, -1):
                # poly = poly * (α − points[i]) + coef[i]
                shifted = [Fraction(0)] + poly[:-1]
                poly = [s - points[i] * p for s, p in zip(shifted, poly)]
                poly[0] += coef[i]
            for m in range(deg + 1):
                out[m][t][e] = poly[m]
    return out


# -- random models -----------------------------------------------------------------------


def _weights(rng: np.random.Generator, shape: tuple[int, ...], kind: str) -> np.ndarray:
    if kind == "float":
        return rng.standard_normal(shape) / np.sqrt(shape[-1])
    p = rng.integers(-3, 4, size=shape)
    if kind == "int":
        return p.astype(object)
    q = rng.integers(1, 4, size=shape)
    return np.vectorize(Fraction, otypes=[object])(p, q)


def random_model(
    spec: list[str],
    *,
    d: int,
    seed: int,
    heads: int = 1,
    hidden: int | None = None,
    vocab: int | None = None,
    rope: float | None = None,
    residual: str = "lerp",
    mlp_residual: str = "add",
    scale: Any = Fraction(1, 2),
    pattern: str = "bilinear",
    qk_bias: bool = False,
    kind: str = "rational",
) -> dict[str, Any]:
    """A seeded random model of the dict form above; ``spec`` lists "attn" and "mlp"."""
    rng = np.random.default_rng(seed)
    layers = []
    for name in spec:
        if name == "attn":
            layer: dict[str, Any] = {k: _weights(rng, (d, d), kind) for k in ("q1", "k1", "q2", "k2", "v", "o")}
            if pattern != "bilinear":
                del layer["q2"], layer["k2"]
            if qk_bias:
                layer["bias"] = {k: _weights(rng, (d,), kind) for k in ("q1", "k1", "q2", "k2") if k in layer}
            layer |= {"kind": "attn", "heads": heads, "rope": rope, "pattern": pattern, "residual": residual, "scale": scale}
        else:
            h = hidden or 2 * d
            layer = {"kind": "mlp", "L": _weights(rng, (h, d), kind), "R": _weights(rng, (h, d), kind),
                     "D": _weights(rng, (d, h), kind), "residual": mlp_residual, "scale": scale}
        layers.append(layer)
    model: dict[str, Any] = {"layers": layers, "embed": None, "head": None}
    if vocab:
        model["embed"] = _weights(rng, (vocab, d), kind)
        model["head"] = _weights(rng, (vocab, d), kind)
    return model


def state_dict(model: dict[str, Any]) -> dict[str, np.ndarray]:
    """The model as a tensor_language ``DeepModel`` / ``CycleModel`` state dict (float32 arrays):
    ``embed.weight`` (vocab, d), ``layers.{i}.{q1,k1,q2,k2,v,o}.weight`` (d, d) and their QK
    ``.bias`` (d,), ``layers.{i}.{L,R}.weight`` (h, d), ``layers.{i}.D.weight`` (d, h),
    ``head.weight`` (vocab, d). The spec, residual kinds and λ are not in it (they are config)."""
    out: dict[str, np.ndarray] = {}
    f32 = lambda a: np.asarray(np.asarray(a, dtype=object).astype(np.float64), dtype=np.float32)  # noqa: E731
    if model.get("embed") is not None:
        out["embed.weight"] = f32(model["embed"])
    for i, layer in enumerate(model["layers"]):
        keys = ("q1", "k1", "q2", "k2", "v", "o") if layer["kind"] == "attn" else ("L", "R", "D")
        for key in keys:
            if key in layer:
                out[f"layers.{i}.{key}.weight"] = f32(layer[key])
        for key, b in (layer.get("bias") or {}).items():
            out[f"layers.{i}.{key}.bias"] = f32(b)
    if model.get("head") is not None:
        out["head.weight"] = f32(model["head"])
    return out


def as_float32(model: dict[str, Any]) -> dict[str, Any]:
    """The same model with every weight rounded to float32 (what a saved state dict holds)."""
    def conv(v: Any) -> Any:
        if isinstance(v, np.ndarray) or isinstance(v, list):
            return np.asarray(np.asarray(v, dtype=object).astype(np.float64), dtype=np.float32).astype(np.float64)
        if isinstance(v, dict):
            return {k: conv(w) for k, w in v.items()}
        return v

    return {"embed": conv(model["embed"]) if model.get("embed") is not None else None,
            "head": conv(model["head"]) if model.get("head") is not None else None,
            "layers": [{k: conv(v) if k not in ("kind", "heads", "rope", "pattern", "residual", "scale") else v
                        for k, v in layer.items()} for layer in model["layers"]]}
