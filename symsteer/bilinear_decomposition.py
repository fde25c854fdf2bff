"""The bilinear-decomposition layout: tdooms/bilinear-decomposition's language ``Transformer``
(softmax attention, bilinear MLPs, RMSNorm) as a sequence model.

Follows ``src/language/transformer.py`` @ e96af28 with ``MLP`` and ``Norm`` from
``src/shared/components.py`` @ e96af28. Keys (``nn.Linear``'s ``y = W x``):

=================================================  ============  ======================================
key                                                shape         role
=================================================  ============  ======================================
``transformer.wte.weight``                         (vocab, d)    token table
``transformer.h.{i}.attn.qkv.weight``              (3d, d)       q, k, v stacked (heads contiguous)
``transformer.h.{i}.attn.o.weight``                (d, d)        attention output
``transformer.h.{i}.attn.rotary.inv_freq``         (d_h/2,)      RoPE frequencies (checked: base 10000)
``transformer.h.{i}.mlp.w.weight``                 (2h, d)       bilinear MLP, left on top of right
``transformer.h.{i}.mlp.p.weight``                 (d, h)        its output (``.bias`` with ``bias=True``)
``lm_head.weight``                                 (vocab, d)    unembedding
=================================================  ============  ======================================

Per layer ``x ← x + s · A(n(x))`` with ``s = 1/√(2 n_layer)``, ``x ← x + P((W n(x)) ⊙ (V n(x)))``;
logits ``U n(x)``; ``n`` the parameter-free RMSNorm ``x / √(mean(x²) + 10⁻⁸)`` when
``normalization`` (``config.json``, as ``PretrainedConfig`` writes it), the identity otherwise.
``A`` is causal softmax attention (scores ``/ √d_h``, RoPE with rotate_half): not a polynomial.
The model loads with its true softmax for forward passes (the reference gate); every analysis
uses it **with its attention patterns frozen at the unsteered tokens** (:func:`load_bilinear_decomposition` with ``tokens``, an
explicit approximation that every description of the model states), linear in the values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .blocks import Bilinear, Block, Chain, Linear, Residual, RMSNorm, Rotary
from .blocks.softmax import SoftmaxAttention
from .errors import InputFileError, ShapeError
from .sequence import SequenceModel
from .files import echo
from .state_dicts import biases as _all_or_none, is_layout, numbered, head_problem
from .tensor_similarity import _float, _require

__all__ = ["DecompositionConfig", "is_bilinear_decomposition", "load_bilinear_decomposition", "RMS_EPS"]

_KEY = re.compile(r"transformer\.h\.(\d+)\.(attn\.qkv\.weight|attn\.o\.weight|attn\.rotary\.inv_freq|mlp\.[wp]\.(?:weight|bias))$")
_TOP = ("transformer.wte.weight", "lm_head.weight")
#: the research RMSNorm's ε (``self.eps = 1e-8``)
RMS_EPS = 1e-8


@dataclass(frozen=True)
class DecompositionConfig:
    """What the state dict does not hold: heads, norms (and the checks that it is bilinear)."""

    n_head: int
    normalization: bool
    n_ctx: int | None = None
    #: what else the config says (n_layer, d_model, d_hidden, bias): checked against the shapes
    said: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, config: Mapping[str, Any] | None, *, source: str) -> DecompositionConfig:
        given = dict(config or {})
        missing = [k for k in ("n_head", "normalization") if k not in given]
        if missing:
            raise InputFileError(f"{source}: no {' or '.join(missing)}, which the state dict does not hold: "
                                 "put the model's config.json (n_head, normalization) beside it, or give --config")
        if given.get("bilinear", True) is not True or given.get("gate") not in (None, "none"):
            raise InputFileError(f"{source}: config.json says bilinear={given.get('bilinear')!r}, gate={given.get('gate')!r}; "
                                 "only bilinear MLPs without a gate are polynomial: refused")
        heads, norm = given["n_head"], given["normalization"]
        if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1 or not isinstance(norm, bool):
            raise InputFileError(f"{source}: config.json n_head={echo(heads)}, normalization={echo(norm)}; expected a positive integer and true/false")
        ctx = given.get("n_ctx")
        return cls(n_head=heads, normalization=norm, n_ctx=ctx if isinstance(ctx, int) and not isinstance(ctx, bool) else None,
                   said={k: given[k] for k in ("n_layer", "d_model", "d_hidden", "bias") if k in given})


def is_bilinear_decomposition(keys: Any) -> bool:
    return is_layout(keys, required=_TOP, allowed=_TOP, pattern=_KEY)


def _expected() -> str:
    return ("transformer.wte.weight; transformer.h.{i}.attn.qkv.weight, .attn.o.weight, .attn.rotary.inv_freq; "
            "transformer.h.{i}.mlp.w.weight, .mlp.p.weight (and .bias); lm_head.weight; n_head, normalization from config.json")


def _layers(arrays: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
    layers = numbered(arrays, _KEY, allowed=_TOP, source=source, what="a bilinear-decomposition Transformer", expected=_expected())
    need = ("attn.qkv.weight", "attn.o.weight", "mlp.w.weight", "mlp.p.weight")
    for i, parts in enumerate(layers):
        missing = [f"transformer.h.{i}.{k}" for k in need if k not in parts]
        if missing:
            raise InputFileError(f"{source}: layer {i} lacks {', '.join(missing)}")
    _all_or_none(layers, ("mlp.w.bias", "mlp.p.bias"), name=lambda i: f"transformer.h.{i}", source=source)  # MLP(bias=…)
    return layers


def load_bilinear_decomposition(arrays: Mapping[str, Any], config: DecompositionConfig, *, source: str = "model",
                                tokens: Any = None) -> SequenceModel:
    """The model; without ``tokens`` its attention is the true softmax (forward passes only),
    with ``tokens`` every attention pattern is frozen at the unsteered stream of those tokens."""
    _require(arrays, _TOP, source, "bilinear-decomposition Transformer", _expected())
    embed = _float(arrays["transformer.wte.weight"], "transformer.wte.weight", (None, None), source)
    vocab, d = embed.shape
    head = _float(arrays["lm_head.weight"], "lm_head.weight", (None, d), source)
    layers = _layers(arrays, source)
    shapes = {"n_layer": len(layers), "d_model": d, "d_hidden": np.shape(layers[0]["mlp.w.weight"])[0] // 2,
              "bias": "mlp.w.bias" in layers[0] or "mlp.p.bias" in layers[0]}
    clash = [f"{k}={config.said[k]!r} (the file: {shapes[k]!r})" for k in config.said if config.said[k] != shapes[k]]
    if clash:
        raise InputFileError(f"{source}: config.json says {', '.join(clash)}: the file is not the model the config describes")
    H = config.n_head
    if why := head_problem(H, d):
        raise InputFileError(f"{source}: {why}")
    dh = d // H
    # the tables follow the frequency buffer's dtype: a float32 checkpoint computes them in
    # float32, a state dict saved from a model run in double (a float64 buffer) in float64
    doubled = any(np.asarray(p["attn.rotary.inv_freq"]).dtype == np.float64 for p in _layers(arrays, source)
                  if "attn.rotary.inv_freq" in p)
    rotary = Rotary(dh, base=10_000.0, precision="float64" if doubled else "float32")
    scale = 1.0 / (2.0 * len(_layers(arrays, source))) ** 0.5  # Layer.scale, in the research code's float
    norm = (lambda name: RMSNorm(d, eps=RMS_EPS, name=name)) if config.normalization else (lambda name: None)
    blocks: list[Block] = []
    for i, parts in enumerate(_layers(arrays, source)):
        p = f"transformer.h.{i}"
        if "attn.rotary.inv_freq" in parts:
            inv = np.asarray(parts["attn.rotary.inv_freq"], dtype=np.float64)
            want = _inv_freq(dh)
            if inv.shape != want.shape or not np.array_equal(inv, want):
                raise InputFileError(f"{source}: {p}.attn.rotary.inv_freq is not 1/10000^(2i/d_h) for d_h = {dh}: "
                                     "another RoPE base or head count than n_head says; refused")
        qkv = _float(parts["attn.qkv.weight"], f"{p}.attn.qkv.weight", (3 * d, d), source)
        o = _float(parts["attn.o.weight"], f"{p}.attn.o.weight", (d, d), source)
        attn: Block = SoftmaxAttention(q=qkv[:d], k=qkv[d:2 * d], v=qkv[2 * d:], o=o, heads=H, rotary=rotary, name=f"{p}.attn")
        n1 = norm(f"{p}.n1")
        if tokens is not None:  # freeze at the stream entering this attention, unsteered
            x_i = SequenceModel(tuple(blocks), embed=embed).stream(embed[np.asarray(tokens)], numbers=_FLOAT)[-1] \
                if blocks else embed[np.asarray(tokens)]
            attn = attn.frozen_at(n1.forward(x_i, numbers=_FLOAT) if n1 is not None else x_i)
        blocks.append(Residual.scaled(attn if n1 is None else Chain(n1, attn, name=f"{p}.attn"), scale))
        w = np.asarray(parts["mlp.w.weight"])
        h = w.shape[0] // 2
        w = _float(w, f"{p}.mlp.w.weight", (2 * h, d), source)
        b = _float(parts["mlp.w.bias"], f"{p}.mlp.w.bias", (2 * h,), source) if "mlp.w.bias" in parts else None
        mlp = Bilinear(w[:h], w[h:], _float(parts["mlp.p.weight"], f"{p}.mlp.p.weight", (d, h), source),
                       b=None if b is None else b[:h], c=None if b is None else b[h:], name=f"{p}.mlp")
        if "mlp.p.bias" in parts:
            mlp = mlp.with_output_bias(_float(parts["mlp.p.bias"], f"{p}.mlp.p.bias", (d,), source))
        n2 = norm(f"{p}.n2")
        blocks.append(Residual.add(mlp if n2 is None else Chain(n2, mlp, name=f"{p}.mlp")))
    n_f = norm("transformer.n_f")
    unembed = Linear(head, name="lm_head")
    name = source if tokens is None else f"{source} (softmax attention frozen at the unsteered tokens {','.join(map(str, tokens))})"
    return SequenceModel(tuple(blocks), embed=embed, head=unembed if n_f is None else Chain(n_f, unembed, name="head"), name=name)


def _inv_freq(dh: int) -> np.ndarray:
    try:
        import torch
    except ImportError:
        exponent = np.arange(0, dh, 2, dtype=np.float32) / np.float32(dh)
        return (np.float32(1.0) / (np.float64(10_000.0) ** exponent.astype(np.float64)).astype(np.float32)).astype(np.float64)
    return (1.0 / (10_000 ** (torch.arange(0, dh, 2).float() / dh))).double().numpy()


class DecompositionLayout:
    """The layout registered as ``bilinear-decomposition-transformer``: loads with true softmax
    attention (forward passes, the reference gate); analyses freeze it at the tokens."""

    name = "bilinear-decomposition-transformer"
    follows = ("tdooms/bilinear-decomposition Transformer, src/language/transformer.py @ e96af28, with MLP and Norm, "
               "src/shared/components.py @ e96af28 (softmax attention: analysed frozen)")
    checks_config = True
    sequence = True
    #: analyses rebuild it with ``tokens``: softmax patterns frozen at the unsteered stream
    freezes = True

    def claims(self, keys: list[str]) -> bool:
        return is_bilinear_decomposition(keys)

    def expected(self) -> str:
        return _expected()

    def build(self, arrays: Mapping[str, Any], *, source: str, residual: bool | None = None,
              config: Mapping[str, Any] | None = None, tokens: Any = None) -> SequenceModel:
        if residual is False:
            raise InputFileError(f"{source}: the Transformer's layers are residual; --plain does not apply")
        try:
            return load_bilinear_decomposition(arrays, DecompositionConfig.of(config, source=source), source=source,
                                               tokens=tokens)
        except ShapeError as exc:
            raise InputFileError(f"{source}: {exc}") from None


from .numbers import FLOAT as _FLOAT  # noqa: E402
