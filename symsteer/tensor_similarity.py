"""The tensor-similarity layout: tdooms/tensor-similarity's ``Transformer`` as a sequence model.

Follows tdooms/tensor-similarity ``src/models/transformer.py`` @ b59b8ff4 with its components
``src/components/attention.py`` @ 1d893719, ``mlp.py`` @ 39488d9a and ``linear.py``. Keys (``nn.Linear``'s ``y = W x``):

=============================================  ============  =========================================
key                                            shape         role
=============================================  ============  =========================================
``embed.weight``                               (d, d_in)     ``Linear(d_in, d)``: token t is column t
``body.{i}.attn.{q1,k1,q2,k2}.weight``         (d, d)        query/key branches (``.bias`` (d,) when
                                                             the model was built with ``bias=True``)
``body.{i}.attn.v.weight``, ``…attn.o.weight``  (d, d)        values, output
``body.{i}.mlp.l.weight``, ``…mlp.r.weight``    (h, d)        bilinear MLP
``body.{i}.mlp.d.weight``                      (d, h)        its down projection (``.bias`` (d,) optional)
``head.weight``                                (d_out, d)    unembedding
=============================================  ============  =========================================

Each layer is attention then MLP, both lerp residuals with the model's ``scale`` s (not in the
state dict; the class's default is 1, which keeps no residual at all):

    x ← (1 − s) x + s O z,   z_q = Σ_{k ≤ q} (q1_q·k1_k)(q2_q·k2_k)/d_h² v_k   (RoPE base 10000 on
                                                                              q1, k1, q2, k2 after their biases)
    x ← (1 − s) x + s (D((L x) ⊙ (R x)) + b_D)

Only the causal mask is a model of a language; ``mask="none"`` or ``"diag"`` is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping

import numpy as np

from .blocks import Attention, Bilinear, Linear, Residual, Rotary
from .errors import InputFileError, ShapeError
from .sequence import SequenceModel

__all__ = ["TensorSimilarityConfig", "is_tensor_similarity", "load_tensor_similarity", "reference_forward", "gate"]

_KEY = re.compile(r"body\.(\d+)\.(attn\.(?:q1|k1|q2|k2|v|o)|mlp\.(?:l|r|d))\.(weight|bias)$")
_ATTN = ("q1", "k1", "q2", "k2", "v", "o")
_MLP = ("l", "r", "d")
_BIASED = ("attn.q1", "attn.k1", "attn.q2", "attn.k2", "mlp.d")
#: the gate's bound on max |symsteer − reference| / max(|reference|, 1)
GATE_RTOL = 1e-9


@dataclass(frozen=True)
class TensorSimilarityConfig:
    """What the state dict does not hold: heads, the residual scale, the mask."""

    n_head: int
    scale: Fraction = Fraction(1)

    @classmethod
    def of(cls, config: Mapping[str, Any] | None = None, **overrides: Any) -> TensorSimilarityConfig:
        given = dict(config or {}) | {k: v for k, v in overrides.items() if v is not None}
        if str(given.get("mask", "causal")) != "causal":
            raise ShapeError(f"mask={given['mask']!r}: only the causal mask is read (a language model's)")
        if "n_head" not in given:
            raise ShapeError("the number of heads is not in the state dict: give n_head (in config.json or the call)")
        try:
            heads = int(str(given["n_head"]))
        except ValueError:
            raise ShapeError(f"n_head={str(given.get('n_head'))[:40]!r}; expected a positive integer") from None
        from .tensor_language import _exact_scalar

        scale = _exact_scalar(given.get("scale", "1"), "scale")
        if heads < 1 or not 0 <= scale <= 1:
            raise ShapeError(f"n_head={heads}, scale={scale}; expected n_head ≥ 1 and 0 ≤ scale ≤ 1")
        return cls(n_head=heads, scale=scale)


def is_tensor_similarity(arrays: Mapping[str, Any]) -> bool:
    """True when the keys are those of a tensor-similarity ``Transformer`` (and nothing else)."""
    keys = set(arrays)
    return {"embed.weight", "head.weight"} <= keys and any(_KEY.match(k) for k in keys) and all(
        k in ("embed.weight", "head.weight") or _KEY.match(k) for k in keys
    )


def _float(arr: Any, key: str, shape: tuple[int | None, ...], source: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiu":
        raise InputFileError(f"{source}: {key} has dtype {arr.dtype}; expected real numbers")
    if arr.ndim != len(shape) or any(w is not None and g != w for g, w in zip(arr.shape, shape)):
        want = "(" + ", ".join("*" if w is None else str(w) for w in shape) + ")"
        raise InputFileError(f"{source}: {key} has shape {arr.shape}; expected {want}")
    out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise InputFileError(f"{source}: {key} has NaN or infinite entries")
    return out


def _layers(arrays: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for key, arr in arrays.items():
        match = _KEY.match(key)
        if match:
            found.setdefault(int(match.group(1)), {})[f"{match.group(2)}.{match.group(3)}"] = arr
    if not found:
        raise InputFileError(f"{source}: no body.{{i}} keys; expected attention and MLP layers")
    if sorted(found) != list(range(len(found))):
        missing = sorted(set(range(max(found) + 1)) - set(found))
        raise InputFileError(f"{source}: layers {', '.join(map(str, missing))} are missing; expected body.0 … body.{max(found)}")
    out = []
    for i in range(len(found)):
        need = {f"attn.{k}.weight" for k in _ATTN} | {f"mlp.{k}.weight" for k in _MLP}
        missing = sorted(need - set(found[i]))
        if missing:
            raise InputFileError(f"{source}: body.{i} lacks {', '.join(f'body.{i}.{m}' for m in missing)}")
        bad = [k for k in found[i] if k.endswith(".bias") and k[: -len(".bias")] not in _BIASED]
        if bad:
            raise InputFileError(f"{source}: body.{i}.{bad[0]}: the research code has no bias there")
        out.append(found[i])
    return out


def load_tensor_similarity(arrays: Mapping[str, Any], config: TensorSimilarityConfig, *, source: str = "model") -> SequenceModel:
    """A :class:`SequenceModel` from a tensor-similarity ``Transformer`` state dict."""
    if "embed.weight" not in arrays or "head.weight" not in arrays:
        raise InputFileError(f"{source}: a tensor-similarity Transformer needs embed.weight and head.weight")
    embed = _float(arrays["embed.weight"], "embed.weight", (None, None), source)
    d = embed.shape[0]
    head = _float(arrays["head.weight"], "head.weight", (None, d), source)
    if d % config.n_head or (d // config.n_head) % 2:
        raise ShapeError(f"n_head={config.n_head} with d_model={d}: each head needs an even width (RoPE rotates halves)")
    rotary = Rotary(d // config.n_head, base=10_000.0)
    blocks = []
    for i, parts in enumerate(_layers(arrays, source)):
        name = f"body.{i}"
        w = {k: _float(parts[f"attn.{k}.weight"], f"{name}.attn.{k}.weight", (d, d), source) for k in _ATTN}
        biases = {k: _float(parts[f"attn.{k}.bias"], f"{name}.attn.{k}.bias", (d,), source)
                  for k in ("q1", "k1", "q2", "k2") if f"attn.{k}.bias" in parts}
        attn = Attention(**w, heads=config.n_head, rotary=rotary, biases=biases, name=f"{name}.attn")
        hidden = np.asarray(parts["mlp.l.weight"]).shape[0]
        L, R = (_float(parts[f"mlp.{k}.weight"], f"{name}.mlp.{k}.weight", (hidden, d), source) for k in ("l", "r"))
        D = _float(parts["mlp.d.weight"], f"{name}.mlp.d.weight", (d, hidden), source)
        mlp = Bilinear(L, R, D, name=f"{name}.mlp")
        if "mlp.d.bias" in parts:
            mlp = mlp.with_output_bias(_float(parts["mlp.d.bias"], f"{name}.mlp.d.bias", (d,), source))
        blocks += [Residual.lerp(attn, config.scale), Residual.lerp(mlp, config.scale)]
    return SequenceModel(tuple(blocks), embed=embed.T.copy(), head=Linear(head, name="head"), name=source)


def reference_forward(arrays: Mapping[str, Any], config: TensorSimilarityConfig, tokens: Any) -> np.ndarray:
    """The research code's forward pass re-derived from the state dict in float64 with einsum (no
    symsteer block involved): one-hot tokens in, logits (T, d_out) out."""
    f = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
    tokens = np.asarray(tokens)
    x = np.eye(f["embed.weight"].shape[1])[tokens] @ f["embed.weight"].T
    T, d = x.shape
    H = config.n_head
    dh = d // H
    cos, sin = Rotary(dh, base=10_000.0).tables(T)
    s = float(config.scale)

    def rope(y: np.ndarray) -> np.ndarray:  # (T, H, dh)
        turned = np.concatenate([-y[..., dh // 2:], y[..., : dh // 2]], axis=-1)
        return y * cos[:, None, :] + turned * sin[:, None, :]

    for i in range(len(_layers(arrays, "model"))):
        p = f"body.{i}"
        proj = {k: (x @ f[f"{p}.attn.{k}.weight"].T + f.get(f"{p}.attn.{k}.bias", 0.0)).reshape(T, H, dh)
                for k in ("q1", "k1", "q2", "k2", "v")}
        r = {k: rope(proj[k]) for k in ("q1", "k1", "q2", "k2")}
        pattern = np.einsum("qhe,khe->hqk", r["q1"], r["k1"]) * np.einsum("qhe,khe->hqk", r["q2"], r["k2"])
        pattern = pattern / dh**2 * np.tril(np.ones((T, T)))
        out = np.einsum("hqk,khe->qhe", pattern, proj["v"]).reshape(T, d) @ f[f"{p}.attn.o.weight"].T
        x = (1 - s) * x + s * out
        g = (x @ f[f"{p}.mlp.l.weight"].T) * (x @ f[f"{p}.mlp.r.weight"].T)
        x = (1 - s) * x + s * (g @ f[f"{p}.mlp.d.weight"].T + f.get(f"{p}.mlp.d.bias", 0.0))
    return x @ f["head.weight"].T


def gate(model: SequenceModel, arrays: Mapping[str, Any], config: TensorSimilarityConfig, *, length: int = 8,
         seed: int = 0, sequences: int = 3) -> float:
    """The largest relative difference between the loaded model and :func:`reference_forward` over
    seeded random token sequences; raises :class:`InputFileError` above :data:`GATE_RTOL`."""
    from .numbers import FLOAT

    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(sequences):
        tokens = rng.integers(0, model.vocab, size=length)
        got = model.forward(model.inputs(tokens=tokens, numbers=FLOAT), numbers=FLOAT)
        want = reference_forward(arrays, config, tokens)
        worst = max(worst, float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1.0)))
    if not worst <= GATE_RTOL:
        raise InputFileError(f"{model.name}: the loaded model differs from the tensor-similarity reference by {worst:.2e} "
                             f"(relative; limit {GATE_RTOL:.0e}): refused")
    return worst


class TensorSimilarityLayout:
    """The layout registered as ``tensor-similarity-transformer``: ``n_head`` and ``scale`` from
    ``config.json`` beside the file; every model built passes :func:`gate` first."""

    name = "tensor-similarity-transformer"
    follows = ("tdooms/tensor-similarity Transformer, src/models/transformer.py @ b59b8ff4, with Attention, "
               "src/components/attention.py @ 1d893719, and MLP, src/components/mlp.py @ 39488d9a")
    checks_config = True

    def claims(self, keys: list[str]) -> bool:
        return is_tensor_similarity(dict.fromkeys(keys))

    def expected(self) -> str:
        return ("embed.weight; body.{l}.attn.q1/k1/q2/k2(.bias)/v/o.weight; body.{l}.mlp.l/r/d.weight (d.bias); "
                "head.weight; n_head and scale from config.json")

    def build(self, arrays: Mapping[str, Any], *, source: str, residual: bool | None = None,
              config: Mapping[str, Any] | None = None) -> SequenceModel:
        if residual is False:
            raise InputFileError(f"{source}: tensor-similarity layers are lerp residuals; --plain does not apply")
        settings = TensorSimilarityConfig.of(config)
        model = load_tensor_similarity(arrays, settings, source=source)
        gate(model, arrays, settings)
        return model


def _register() -> None:
    from .layouts import LAYOUTS, register

    if TensorSimilarityLayout.name not in LAYOUTS:
        register(TensorSimilarityLayout())


_register()
