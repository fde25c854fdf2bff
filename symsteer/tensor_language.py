"""The tensor_language layout: ``CycleModel`` and ``DeepModel`` state dicts as sequence models.

Keys (PyTorch ``nn.Linear`` convention, ``y = W x``):

==================================================  =======================  ================
key                                                 shape                    role
==================================================  =======================  ================
``embed.weight``                                    (vocab, d)               token table
``layers.{i}.q1/k1/q2/k2/v/o.weight``               (d, d)                   bilinear attention
``layers.{i}.L.weight``, ``layers.{i}.R.weight``    (h, d)                   bilinear MLP
``layers.{i}.D.weight``                             (d, h)                   bilinear MLP
``head.weight``                                     (vocab, d)               unembedding
==================================================  =======================  ================

Each layer's kind is read from its keys (q1 … o: attention; L, R, D: MLP). What the state dict
does not hold comes from the run's config or the caller: the number of heads ``n_head``
(required), the attention residual (``"lerp"`` with ``scale`` λ = 0.5 by default, or ``"add"``)
and the MLP residual (``mlp_residual``, ``"add"`` by default; a lerp uses the same λ). Every
attention layer applies RoPE (base 10000, float32 tables as torch computes them) and divides
the pattern by ``d_head²``. A model built with ``norm`` on has an affine-free RMSNorm
(``nn.RMSNorm(d, elementwise_affine=False)``: ε = ``torch.finfo(dtype).eps`` of the file's
dtype) before each sublayer, ``x + f(n(x))`` or ``lerp(x, f(n(x)), λ)``: not a polynomial (its
α-series and exactness statement come from the norm block). Softmax attention
(``attention="softmax"``: only q1 and k1) is refused unless frozen explicitly: it is never
silently analysed as something else.

λ is taken as the exact rational its decimal text names (``0.3`` → 3/10).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping

import numpy as np

from .blocks import Attention, Bilinear, Chain, FrozenAttention, Linear, Residual, RMSNorm, Rotary
from .errors import InputFileError, ShapeError
from .files import shown
from .sequence import SequenceModel
from .state_dicts import biases as _all_or_none, is_layout, head_problem

__all__ = ["TensorLanguageConfig", "is_tensor_language", "load_tensor_language", "reference_forward", "gate", "save_tensor_language"]

_KEY = re.compile(r"layers\.(\d+)\.(q1|k1|q2|k2|v|o|L|R|D)\.(weight|bias)$")
_TOP = ("embed.weight", "head.weight")
_ATTN = ("q1", "k1", "q2", "k2", "v", "o")
_MLP = ("L", "R", "D")


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "rms", "none"):
        return value.strip().lower() in ("true", "rms")
    if value is None:
        return False
    raise ShapeError(f"{name}={value!r}; expected true or false")


def _exact_scalar(value: Any, name: str) -> Fraction:
    from .errors import SymsteerError
    from .io import MAX_DECIMAL_EXPONENT, parse_vector

    if isinstance(value, Fraction):
        out = value
    else:  # the typed-number parser: bounded length and exponent (Fraction("1e-99999999") never finishes)
        text = str(value).strip()
        try:
            parts = parse_vector(text, name=name)
        except SymsteerError:
            raise ShapeError(f"{name}={shown(text[:40])!r}; expected a number such as 0.5 "
                             f"(with a decimal exponent of at most {MAX_DECIMAL_EXPONENT})") from None
        if len(parts) != 1:
            raise ShapeError(f"{name}={shown(text[:40])!r}; expected one number such as 0.5")
        out = parts[0]
    if not 0 <= out <= 1:
        raise ShapeError(f"{name}={value!r}; expected a lerp weight 0 ≤ λ ≤ 1")
    return out


@dataclass(frozen=True)
class TensorLanguageConfig:
    """What a tensor_language state dict does not hold (from the run's config or flags)."""

    n_head: int
    residual: str = "lerp"
    scale: Fraction = Fraction(1, 2)
    mlp_residual: str = "add"
    rope_base: float = 10_000.0
    n_ctx: int | None = None
    #: softmax attention layers frozen at the unsteered pattern of the given tokens (explicit only)
    freeze_softmax: bool = False
    #: an affine-free RMSNorm before each sublayer (``norm`` in the run's config)
    norm: bool = False

    @classmethod
    def of(cls, config: Mapping[str, Any] | None = None, **overrides: Any) -> TensorLanguageConfig:
        """From a run's config (values may be strings, as the research code records them) and
        explicit overrides (None means: not given)."""
        given = {k: v for k, v in dict(config or {}).items()} | {k: v for k, v in overrides.items() if v is not None}
        norm = _flag(given.get("norm"), "norm")
        freeze = _flag(given.get("freeze_softmax", False), "freeze_softmax")
        attention = str(given.get("attention", "bilinear"))
        if attention not in ("bilinear", "softmax") or (attention == "softmax" and not freeze):
            raise ShapeError(f"attention={given['attention']!r}; only bilinear attention is a polynomial (softmax is refused "
                             "unless its pattern is frozen explicitly: --freeze-softmax)")
        if "n_head" not in given:
            raise ShapeError("the number of heads is not in the state dict: give n_head (--heads, or n_head in the config)")
        try:
            heads = int(str(given["n_head"]))
        except ValueError:
            raise ShapeError(f"n_head={given['n_head']!r}; expected a positive integer") from None
        if heads < 1:
            raise ShapeError(f"n_head={heads}; expected a positive integer")
        residual = str(given.get("residual", "lerp"))
        mlp_residual = str(given.get("mlp_residual", "add"))
        for name, value in (("residual", residual), ("mlp_residual", mlp_residual)):
            if value not in ("add", "lerp"):
                raise ShapeError(f"{name}={value!r}; expected 'add' or 'lerp'")
        n_ctx = given.get("n_ctx")
        try:  # values from a config file: refuse what they are not, in one line
            ctx = None if n_ctx is None else int(str(n_ctx).strip())
            base = float(str(given.get("rope_base", 10_000.0)).strip())
        except ValueError:
            raise ShapeError(f"n_ctx={shown(str(n_ctx)[:40])!r}, rope_base={shown(str(given.get('rope_base', 10_000.0))[:40])!r}; "
                             "expected a positive integer and a number > 1") from None
        if ctx is not None and ctx < 1:
            raise ShapeError(f"n_ctx={ctx}; expected a positive integer (the longest sequence the model was built for)")
        return cls(
            n_head=heads,
            residual=residual,
            scale=_exact_scalar(given.get("scale", "0.5"), "scale"),
            mlp_residual=mlp_residual,
            rope_base=base,
            n_ctx=ctx,
            freeze_softmax=freeze,
            norm=norm,
        )


def is_tensor_language(arrays: Mapping[str, Any]) -> bool:
    """True when the keys are those of a tensor_language model (and nothing else)."""
    return is_layout(arrays, required=_TOP, allowed=_TOP, pattern=_KEY)


def _layers(arrays: Mapping[str, Any], source: str) -> list[tuple[str, dict[str, np.ndarray]]]:
    found: dict[int, dict[str, np.ndarray]] = {}
    for key, arr in arrays.items():
        match = _KEY.match(key)
        if match:
            role = match.group(2) + (".bias" if match.group(3) == "bias" else "")
            found.setdefault(int(match.group(1)), {})[role] = np.asarray(arr)
        elif key not in _TOP:
            raise InputFileError(f"{source}: key {key!r} is not part of a tensor_language model")
    if sorted(found) != list(range(len(found))):
        missing = sorted(set(range(max(found) + 1)) - set(found)) if found else [0]
        raise InputFileError(f"{source}: layers {', '.join(map(str, missing))} are missing; expected layers 0 … {max(found, default=0)}")
    out = []
    for i in range(len(found)):
        parts = found[i]
        roles = {r.split(".")[0] for r in parts}
        if roles <= set(_ATTN) and roles & {"q1"}:
            if not roles & {"q2", "k2"}:  # tensor_language's attention="softmax": one branch
                need, kind = {"q1", "k1", "v", "o"}, "softmax"
            else:
                need, kind = set(_ATTN), "attn"
        elif roles <= set(_MLP):
            need, kind = set(_MLP), "mlp"
        else:
            raise InputFileError(f"{source}: layers.{i} mixes attention and MLP keys ({', '.join(sorted(parts))})")
        missing = sorted(need - {r for r in parts if not r.endswith(".bias")})  # a bias does not stand for its weight
        if missing:
            raise InputFileError(f"{source}: layers.{i} lacks {', '.join(f'layers.{i}.{m}.weight' for m in missing)}")
        # frozen softmax takes no biases: one there would be dropped silently
        biased = ("q1", "k1", "q2", "k2") if kind == "attn" else ()
        bad_bias = [r for r in parts if r.endswith(".bias") and r.split(".")[0] not in biased]
        if bad_bias:
            raise InputFileError(f"{source}: layers.{i} has a bias on {bad_bias[0].split('.')[0]}; only QK biases of bilinear attention are understood")
        out.append((kind, parts))
    attn = [i for i, (kind, _) in enumerate(out) if kind == "attn"]  # QK biases: all four in every attention layer, or none
    _all_or_none([out[i][1] for i in attn], ("q1.bias", "k1.bias", "q2.bias", "k2.bias"), name=lambda j: f"layers.{attn[j]}",
                 source=source)
    return out


def _matrix(arr: np.ndarray, key: str, shape: tuple[int | None, int | None], source: str) -> np.ndarray:
    if arr.ndim != len(shape) or any(want is not None and got != want for got, want in zip(arr.shape, shape)):
        want = tuple("*" if w is None else w for w in shape)
        raise InputFileError(f"{source}: {key} has shape {arr.shape}; expected {want}".replace("'*'", "*"))
    if arr.dtype.kind not in "fiu":
        raise InputFileError(f"{source}: {key} has dtype {arr.dtype}; expected real numbers")
    out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise InputFileError(f"{source}: {key} has NaN or infinite entries")
    return out


def load_tensor_language(arrays: Mapping[str, Any], config: TensorLanguageConfig, *, source: str = "model",
                         tokens: Any = None) -> SequenceModel:
    """A :class:`SequenceModel` from a tensor_language state dict and its config.

    Softmax attention layers are refused unless ``config.freeze_softmax``: then each is frozen
    at its unsteered pattern on ``tokens`` (the stream entering it, float64), a block linear in
    its values, valid for that sequence only."""
    if "embed.weight" not in arrays or "head.weight" not in arrays:
        raise InputFileError(f"{source}: a tensor_language model needs embed.weight and head.weight")
    embed = _matrix(np.asarray(arrays["embed.weight"]), "embed.weight", (None, None), source)
    vocab, d = embed.shape
    head = _matrix(np.asarray(arrays["head.weight"]), "head.weight", (None, d), source)
    if why := head_problem(config.n_head, d):  # a flag (--heads) or the config: exit 2, as TensorLanguageConfig's checks
        raise ShapeError(f"{source}: {why}")
    dh = d // config.n_head
    rotary = Rotary(dh, base=config.rope_base)
    eps = rms_eps(arrays)
    blocks = []
    for i, (kind, parts) in enumerate(_layers(arrays, source)):
        name = f"layers.{i}"
        norm = RMSNorm(d, eps=eps, name=f"{name}.norm") if config.norm else None
        if kind == "softmax":
            if not config.freeze_softmax:
                raise InputFileError(f"{source}: layers.{i} has q1, k1 but no q2, k2: softmax attention, which is not a "
                                     "polynomial; freeze its pattern explicitly (--freeze-softmax, with --tokens) or refuse")
            if tokens is None:
                raise ShapeError(f"{source}: freezing layers.{i}'s softmax pattern needs the tokens it is frozen at")
            w = {k: _matrix(parts[k], f"{name}.{k}.weight", (d, d), source) for k in ("q1", "k1", "v", "o")}
            x_i = embed[np.asarray(tokens)]
            if blocks:
                from .numbers import FLOAT

                x_i = SequenceModel(tuple(blocks), embed=embed).stream(embed[np.asarray(tokens)], numbers=FLOAT)[-1]
            if norm is not None:  # the pattern is computed from the normed stream
                from .numbers import FLOAT

                x_i = norm.forward(x_i, numbers=FLOAT)
            inner = FrozenAttention.from_softmax(w["q1"], w["k1"], w["v"], w["o"], x_i, heads=config.n_head, rotary=rotary,
                                                 name=name)
            residual = config.residual
        elif kind == "attn":
            w = {k: _matrix(parts[k], f"{name}.{k}.weight", (d, d), source) for k in _ATTN}
            biases = {r.split(".")[0]: _matrix(v, f"{name}.{r}", (d,), source) for r, v in parts.items() if r.endswith(".bias")}
            inner = Attention(**w, heads=config.n_head, rotary=rotary, biases=biases, context=config.n_ctx, name=name)
            residual = config.residual
        else:
            hidden = parts["L"].shape[0]
            L, R = (_matrix(parts[k], f"{name}.{k}.weight", (hidden, d), source) for k in ("L", "R"))
            D = _matrix(parts["D"], f"{name}.D.weight", (d, hidden), source)
            inner = Bilinear(L, R, D, name=name)
            residual = config.mlp_residual
        if norm is not None:
            inner = Chain(norm, inner, name=name)
        blocks.append(Residual.add(inner) if residual == "add" else Residual.lerp(inner, config.scale))
    if not blocks:
        raise InputFileError(f"{source}: no layers.{{i}} keys; expected attention or MLP layers")
    return SequenceModel(tuple(blocks), embed=embed, head=Linear(head, name="head"), name=source)


def rms_eps(arrays: Mapping[str, Any]) -> float:
    """``nn.RMSNorm``'s ε when none is given: ``torch.finfo(dtype).eps`` of the dtype the model
    runs in, the file's (float32 for half-precision files, which are run in float32)."""
    kinds = {np.asarray(a).dtype for a in arrays.values() if np.asarray(a).dtype.kind == "f"}
    return float(np.finfo(np.float64 if kinds == {np.dtype(np.float64)} else np.float32).eps)


# -- the reference gate ----------------------------------------------------------------------


def reference_forward(arrays: Mapping[str, Any], config: TensorLanguageConfig, tokens: Any) -> np.ndarray:
    """The research code's forward pass re-derived from the state dict in float64 with einsum
    (no symsteer block involved): the logits (T, vocab) of one token sequence."""
    E = np.asarray(arrays["embed.weight"], dtype=np.float64)
    x = E[np.asarray(tokens)]
    T, d = x.shape
    H = config.n_head
    dh = d // H
    cos, sin = Rotary(dh, base=config.rope_base).tables(T)
    lam = float(config.scale)

    def heads(y: np.ndarray) -> np.ndarray:
        return y.reshape(T, H, dh)

    def rope(y: np.ndarray) -> np.ndarray:
        turned = np.concatenate([-y[..., dh // 2:], y[..., : dh // 2]], axis=-1)
        return y * cos[:, None, :] + turned * sin[:, None, :]

    eps = rms_eps(arrays)
    for kind, parts in _layers(arrays, "model"):
        f = {k: np.asarray(v, dtype=np.float64) for k, v in parts.items()}
        h = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) if config.norm else x  # the sublayer's input
        if kind == "softmax":
            q, k = rope(heads(h @ f["q1"].T)), rope(heads(h @ f["k1"].T))
            scores = np.where(np.tril(np.ones((T, T), dtype=bool)), np.einsum("qhe,khe->hqk", q, k) / np.sqrt(dh), -np.inf)
            weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
            weights = weights / weights.sum(axis=-1, keepdims=True)
            out = np.einsum("hqk,khe->qhe", weights, heads(h @ f["v"].T)).reshape(T, d) @ f["o"].T
            mode = config.residual
        elif kind == "attn":
            proj = {k: heads(h @ f[k].T + f.get(f"{k}.bias", 0.0)) for k in ("q1", "k1", "q2", "k2", "v")}
            r = {k: rope(proj[k]) for k in ("q1", "k1", "q2", "k2")}
            pattern = np.einsum("qhe,khe->hqk", r["q1"], r["k1"]) * np.einsum("qhe,khe->hqk", r["q2"], r["k2"])
            pattern = pattern / dh**2 * np.tril(np.ones((T, T)))
            out = np.einsum("hqk,khe->qhe", pattern, proj["v"]).reshape(T, d) @ f["o"].T
            mode = config.residual
        else:
            out = ((h @ f["L"].T) * (h @ f["R"].T)) @ f["D"].T
            mode = config.mlp_residual
        x = x + out if mode == "add" else x + lam * (out - x)
    return x @ np.asarray(arrays["head.weight"], dtype=np.float64).T


#: the gate's bound on max |symsteer − reference| / max(|reference|, 1) over its sequences
GATE_RTOL = 1e-9


def gate(model: SequenceModel, arrays: Mapping[str, Any], config: TensorLanguageConfig, *, length: int = 8,
         seed: int = 0, sequences: int = 3, tokens: Any = None) -> float:
    """The largest relative difference between the loaded model's float64 forward pass and
    :func:`reference_forward` over seeded random token sequences; raises when above
    :data:`GATE_RTOL` (the model does not compute what the research code computes)."""
    from .numbers import FLOAT

    rng = np.random.default_rng(seed)
    T = min(length, config.n_ctx or length)
    frozen = any(isinstance(getattr(b, "inner", b), FrozenAttention) for b in model.blocks)
    if frozen and tokens is None:
        raise ShapeError("a model with frozen softmax patterns is gated on the tokens it was frozen at; give them")
    batches = [np.asarray(tokens)] if frozen else [rng.integers(0, model.vocab, size=T) for _ in range(sequences)]
    worst = 0.0
    for row in batches:
        got = model.forward(model.inputs(tokens=row, numbers=FLOAT), numbers=FLOAT)
        want = reference_forward(arrays, config, row)
        worst = max(worst, float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1.0)))
    if not worst <= GATE_RTOL:
        raise InputFileError(
            f"{model.name}: the loaded model's forward pass differs from the tensor_language reference by {worst:.2e} "
            f"(relative; limit {GATE_RTOL:.0e}): refused"
        )
    return worst


# -- the registered layout --------------------------------------------------------------------


class TensorLanguageLayout:
    """The layout registered as ``tensor-language`` in :data:`symsteer.layouts.LAYOUTS`: the config
    (``config.json`` beside the file) supplies ``n_head`` and the residuals; every model built
    passes :func:`gate` before it is returned."""

    name = "tensor-language"
    follows = ("loganriggs/tensor_language `CycleModel`, model.py @ 53727465, with `Attention`; `DeepModel`, "
               "deep_model.py @ 3c0bcb98, with `BilinearMLP`")
    #: the config names attention (n_head): this layout reads it instead of the bilinear checks
    checks_config = True

    def claims(self, keys: list[str]) -> bool:
        return is_tensor_language(dict.fromkeys(keys))

    def expected(self) -> str:
        return ("embed.weight; layers.{l}.q1/k1/q2/k2/v/o.weight (bilinear attention) or layers.{l}.L/R/D.weight "
                "(bilinear MLP); head.weight; n_head, residual, scale, mlp_residual from config.json")

    def build(self, arrays: Mapping[str, Any], *, source: str, residual: bool | None = None,
              config: Mapping[str, Any] | None = None) -> SequenceModel:
        if residual is False:
            raise InputFileError(f"{source}: tensor_language blocks are residual (lerp or add); --plain does not apply")
        settings = TensorLanguageConfig.of(config)
        model = load_tensor_language(arrays, settings, source=source)
        gate(model, arrays, settings)
        return model




# -- writing ---------------------------------------------------------------------------------


def save_tensor_language(model: SequenceModel, path: Any) -> dict[str, Any]:
    """Write ``model`` as a tensor_language state dict (``.npz``) with its ``config.json`` beside
    it, so that :func:`symsteer.io.load_model` reads it back through the layout and its gate.

    Only what the layout can say is written: bilinear attention with RoPE (one base, one head
    count), bilinear MLPs without biases, add or lerp residuals (one λ), an embedding and a
    head; anything else is refused. Weights are stored as float64 (exact rationals that are
    not floats are refused, as :func:`symsteer.io.save_model` does). Returns the config."""
    import json
    from pathlib import Path

    from .io import write_atomic

    path = Path(path)
    if path.suffix != ".npz":
        raise ShapeError(f"path={str(path)!r}; expected a .npz file (config.json is written beside it)")
    if model.embed is None or not isinstance(model.head, Linear) or model.head.bias is not None:
        raise ShapeError("the tensor_language layout needs a token embedding and a bias-free linear head")
    arrays: dict[str, np.ndarray] = {"embed.weight": _float_array(model.embed, "embed"),
                                     "head.weight": _float_array(model.head.M, "head")}
    settings: dict[str, Any] = {}

    def agree(key: str, value: Any) -> None:
        if settings.setdefault(key, value) != value:
            raise ShapeError(f"blocks disagree on {key} ({settings[key]!r} and {value!r}); the layout has one {key}")

    for i, block in enumerate(model.blocks):
        if not isinstance(block, Residual) or block.kind not in ("add", "lerp"):
            raise ShapeError(f"blocks[{i}] is not an add or lerp residual block; the layout has no other")
        inner, kind = block.inner, block.kind
        if isinstance(inner, Attention):
            if inner.pattern != "bilinear" or inner.rotary is None or inner.scale != Fraction(1, inner.d_head**2):
                raise ShapeError(f"blocks[{i}]: the layout holds two-branch attention with RoPE and scale 1/d_head²")
            agree("n_head", inner.heads)
            agree("rope_base", inner.rotary.base)
            agree("residual", kind)
            for key in _ATTN:
                arrays[f"layers.{i}.{key}.weight"] = _float_array(getattr(inner, key), f"blocks[{i}].{key}")
            for key, bias in inner.biases.items():
                arrays[f"layers.{i}.{key}.bias"] = _float_array(bias, f"blocks[{i}].{key}.bias")
        elif isinstance(inner, Bilinear) and inner.b is None:
            agree("mlp_residual", kind)
            for key, arr in (("L", inner.W), ("R", inner.V), ("D", inner.P)):
                arrays[f"layers.{i}.{key}.weight"] = _float_array(arr, f"blocks[{i}].{key}")
        else:
            raise ShapeError(f"blocks[{i}] is a {type(inner).__name__}; the layout holds bilinear attention and bias-free bilinear MLPs")
        if kind == "lerp":
            agree("scale", str(Fraction(str(block.scale)) if not isinstance(block.scale, float) else Fraction(block.scale)))
    config = {"n_head": settings.get("n_head", 1), "residual": settings.get("residual", "lerp"),
              "mlp_residual": settings.get("mlp_residual", "add"), "scale": settings.get("scale", "1/2"),
              "rope_base": settings.get("rope_base", 10_000.0), "norm": False, "attention": "bilinear",
              "spec": ["attn" if isinstance(getattr(b, "inner", b), Attention) else "mlp" for b in model.blocks]}
    if not any(isinstance(getattr(b, "inner", b), Attention) for b in model.blocks):
        raise ShapeError("no attention block: save a bilinear network with symsteer.io.save_model instead")
    import io as _io

    buffer = _io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())
    write_atomic(path.parent / "config.json", json.dumps(config, indent=1) + "\n")
    return config


def _float_array(arr: Any, name: str) -> np.ndarray:
    values = np.asarray(arr, dtype=object)
    out = np.array([float(v) for v in values.ravel()], dtype=np.float64).reshape(values.shape)
    exact = [v for v in values.ravel() if not isinstance(v, float)]
    if any(Fraction(float(v)) != Fraction(int(v.p), int(v.q)) if hasattr(v, "p") else Fraction(float(v)) != Fraction(v)
           for v in exact if not isinstance(v, (np.floating,))):
        raise ShapeError(f"{name} has entries a float64 file cannot hold exactly (e.g. 1/3); round them first")
    return out
