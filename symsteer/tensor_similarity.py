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
``body.{i}.mlp.d.weight``                      (d, h)        its down projection (``.bias`` (d,) with the QK ones)
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
from .files import echo
from .state_dicts import biases as _all_or_none, is_layout, numbered, head_problem

__all__ = ["TensorSimilarityConfig", "is_tensor_similarity", "load_tensor_similarity", "reference_forward", "gate",
           "is_checkpoint_transformer", "load_checkpoint_transformer"]

_KEY = re.compile(r"body\.(\d+)\.(attn\.(?:q1|k1|q2|k2|v|o)|mlp\.(?:l|r|d))\.(weight|bias)$")
_TOP = ("embed.weight", "head.weight")
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
    return is_layout(arrays, required=_TOP, allowed=_TOP, pattern=_KEY)


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


def _require(arrays: Mapping[str, Any], keys: tuple[str, ...], source: str, layout: str, expected: str) -> None:
    """Refuse a file without ``keys``, naming the keys it has and what the layout expects."""
    missing = [k for k in keys if k not in arrays]
    if missing:
        found = sorted(arrays)
        listing = ", ".join(found[:8]) + (f", … ({len(found)} keys)" if len(found) > 8 else "")
        raise InputFileError(f"{source}: no {', '.join(missing)}: not a {layout} state dict (found {listing or 'no keys'}); "
                             f"expected {expected}")


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
    _all_or_none(out, [f"{k}.bias" for k in _BIASED], name=lambda i: f"body.{i}", source=source)  # Layer(bias=…): all five or none
    return out


def load_tensor_similarity(arrays: Mapping[str, Any], config: TensorSimilarityConfig, *, source: str = "model") -> SequenceModel:
    """A :class:`SequenceModel` from a tensor-similarity ``Transformer`` state dict."""
    if "embed.weight" not in arrays or "head.weight" not in arrays:
        raise InputFileError(f"{source}: a tensor-similarity Transformer needs embed.weight and head.weight")
    embed = _float(arrays["embed.weight"], "embed.weight", (None, None), source)
    d = embed.shape[0]
    head = _float(arrays["head.weight"], "head.weight", (None, d), source)
    if why := head_problem(config.n_head, d):
        raise ShapeError(why)
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
        _all_or_none(_layers(arrays, source), [f"{k}.bias" for k in _BIASED], name=lambda i: f"body.{i}", source=source,
               said=(config or {}).get("bias"))
        model = load_tensor_similarity(arrays, settings, source=source)
        gate(model, arrays, settings)
        return model




# -- CheckpointTransformer: the melephant AttentionLM checkpoints ---------------------------------
#
# Follows tdooms/tensor-similarity src/models/checkpoint_transformer.py @ 429581e (with Attention,
# src/components/attention.py @ 429581e). Keys: ``embed.weight`` (vocab, d) (rows are tokens, as the
# checkpoint stores them), ``layers.{i}.{q1,k1,q2,k2}.weight`` (d, d) with ``.bias`` (d,) when
# ``use_bias_qk`` (the [1; x]-padded QK maps of its tensor network: a bias added before RoPE),
# ``layers.{i}.v.weight``, ``layers.{i}.o.weight``, ``final_norm.running_mean_energy`` (the
# ``tok0_batch`` norm: at inference one scalar 1/√(energy + 10⁻⁶), folded into the unembedding
# exactly as ``_absorb_final_norm`` does) and ``unembed.weight`` (vocab, d). Each layer is bilinear
# attention only, ``x + s · O z`` with ``s = attn_scale`` (0.35 by default): the additive residual of
# the AttentionLM, which the class's ``terms`` and docstring describe. (Its ``forward``, inherited
# from ``Attention``, computes the lerp ``(1 − s) x + s O z`` instead: ``residual: "lerp"`` in the
# config reproduces that.)

_CKPT_KEY = re.compile(r"layers\.(\d+)\.(q1|k1|q2|k2|v|o)\.(weight|bias)$")
_CKPT_TOP = ("embed.weight", "unembed.weight", "final_norm.running_mean_energy")
#: the ε of ``_absorb_final_norm``
BOS_EPS = 1e-6
_CKPT_EXPECTED = ("embed.weight (vocab, d); layers.{l}.q1/k1/q2/k2.weight (and .bias), .v.weight, .o.weight; "
                  "final_norm.running_mean_energy; unembed.weight; model.n_head, attn_scale from config.json")


def is_checkpoint_transformer(keys: Any) -> bool:
    return is_layout(keys, required=("embed.weight", "unembed.weight"), allowed=_CKPT_TOP, pattern=_CKPT_KEY)


def load_checkpoint_transformer(arrays: Mapping[str, Any], config: Mapping[str, Any] | None, *,
                                source: str = "model") -> SequenceModel:
    """A :class:`SequenceModel` from a melephant AttentionLM checkpoint (see above)."""
    given = dict(config or {})
    if isinstance(given.get("model"), Mapping):  # melephant's {"model": {…}}; --heads lands at the top
        given = dict(given["model"]) | {k: given[k] for k in ("n_head", "attn_scale", "residual") if k in given}
    if given.get("attn_type", "bilinear") != "bilinear":
        raise InputFileError(f"{source}: config.json attn_type={given['attn_type']!r}; only bilinear attention is read")
    heads, scale, residual = given.get("n_head"), given.get("attn_scale", 0.35), given.get("residual", "add")
    if heads is None:
        raise InputFileError(f"{source}: the number of heads is not in the state dict: put the checkpoint's config.json "
                             "(model.n_head) beside it or give --heads")
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
        raise InputFileError(f"{source}: config.json n_head={echo(heads)}; expected a positive integer")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not np.isfinite(scale) or residual not in ("add", "lerp"):
        raise InputFileError(f"{source}: config.json attn_scale={scale!r}, residual={residual!r}; expected a number and add or lerp")
    _require(arrays, ("embed.weight", "unembed.weight"), source, "CheckpointTransformer", _CKPT_EXPECTED)
    E = _float(arrays["embed.weight"], "embed.weight", (None, None), source)
    vocab, d = E.shape
    U = _float(arrays["unembed.weight"], "unembed.weight", (None, d), source)
    if why := head_problem(heads, d):
        raise InputFileError(f"{source}: {why}")
    found = numbered(arrays, _CKPT_KEY, allowed=_CKPT_TOP, source=source, what="a CheckpointTransformer", expected=_CKPT_EXPECTED,
                     role=lambda m: f"{m.group(2)}.{m.group(3)}")
    qk = ("q1.bias", "k1.bias", "q2.bias", "k2.bias")  # use_bias_qk: all four in every layer, or none
    _all_or_none(found, qk, name=lambda i: f"layers.{i}", source=source, said=given.get("use_bias_qk"), flag="use_bias_qk")
    _require(arrays, ("final_norm.running_mean_energy",), source, "CheckpointTransformer", _CKPT_EXPECTED)
    rotary = Rotary(d // heads, base=10_000.0)
    blocks = []
    for i in range(len(found)):
        parts, name = found[i], f"layers.{i}"
        missing = [f"{name}.{k}.weight" for k in _ATTN if f"{k}.weight" not in parts]
        bad = [f"{name}.{k}" for k in parts if k in ("v.bias", "o.bias")]
        if missing or bad:
            raise InputFileError(f"{source}: {name} lacks {', '.join(missing)}" if missing else
                                 f"{source}: {bad[0]}: the research class has no bias there")
        w = {k: _float(parts[f"{k}.weight"], f"{name}.{k}.weight", (d, d), source) for k in _ATTN}
        biases = {k: _float(parts[f"{k}.bias"], f"{name}.{k}.bias", (d,), source) for k in ("q1", "k1", "q2", "k2")
                  if f"{k}.bias" in parts}
        attn = Attention(**w, heads=heads, rotary=rotary, biases=biases, name=name)
        blocks.append(Residual.scaled(attn, float(scale)) if residual == "add" else Residual.lerp(attn, float(scale)))
    energy = np.ravel(_float(np.reshape(arrays["final_norm.running_mean_energy"], (-1,)),
                             "final_norm.running_mean_energy", (1,), source))[0]
    if not energy + BOS_EPS > 0:
        raise InputFileError(f"{source}: final_norm.running_mean_energy = {energy}; expected energy + 1e-6 > 0")
    # the tok0_batch norm at inference: one scalar, folded into the unembedding
    raw = np.asarray(arrays["unembed.weight"])
    head = Linear(_absorbed(raw if raw.dtype.kind == "f" else U, energy), name="unembed (BOS norm folded)")
    return SequenceModel(tuple(blocks), embed=E, head=head, name=source)


def _absorbed(U: np.ndarray, energy: float) -> np.ndarray:
    """``U · (energy + ε)^(-1/2)`` as ``_absorb_final_norm`` computes it: in float32 (torch's
    rsqrt when torch is installed), then back in the file's dtype, here held in float64."""
    try:
        import torch
    except ImportError:
        scale = np.float32(1) / np.sqrt(np.float32(energy) + np.float32(BOS_EPS))
        return (U.astype(np.float32) * scale).astype(U.dtype).astype(np.float64)
    t = torch.from_numpy(np.ascontiguousarray(U))
    e = torch.tensor([energy], dtype=torch.float32)
    return (t.to(torch.float32) * (e + BOS_EPS).rsqrt()).to(t.dtype).double().numpy()


class CheckpointLayout:
    """The layout registered as ``tensor-similarity-checkpoint`` (config.json beside the file:
    ``model.n_head``, ``attn_scale``)."""

    name = "tensor-similarity-checkpoint"
    follows = ("tdooms/tensor-similarity CheckpointTransformer, src/models/checkpoint_transformer.py @ 429581e "
               "(melephant AttentionLM checkpoints), with Attention, src/components/attention.py @ 429581e")
    checks_config = True
    sequence = True

    def claims(self, keys: list[str]) -> bool:
        return is_checkpoint_transformer(keys)

    def expected(self) -> str:
        return _CKPT_EXPECTED

    def build(self, arrays: Mapping[str, Any], *, source: str, residual: bool | None = None,
              config: Mapping[str, Any] | None = None) -> SequenceModel:
        if residual is False:
            raise InputFileError(f"{source}: the checkpoint's layers are residual; --plain does not apply")
        try:
            return load_checkpoint_transformer(arrays, config, source=source)
        except ShapeError as exc:
            raise InputFileError(f"{source}: {exc}") from None
