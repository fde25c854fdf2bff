"""The bilinear-vpd layout: henrylhale/bilinear-vpd's ``BilinearTransformer`` as a sequence model.

Follows ``phase1/model.py`` @ 2675236 (``use_rmsnorm``) and its later ``norm_type`` variants
(@ 7d5a5a9: ``none``, ``scalar``, ``channel``, ``rmsnorm``; @ b105e74: ``channel``). Keys
(``nn.Linear``'s ``y = W x``; one head of width d_head per layer):

===============================================  ==============  =============================
key                                              shape           role
===============================================  ==============  =============================
``embed.weight``                                 (vocab, d)      token table (``nn.Embedding``)
``blocks.{i}.attn.{q1,q2,k1,k2,v}_proj.weight``  (d_head, d)     bilinear attention
``blocks.{i}.attn.o_proj.weight``                (d, d_head)     its output
``blocks.{i}.mlp.{w_m,w_n}.weight``              (d_mlp, d)      bilinear MLP
``blocks.{i}.mlp.w_proj.weight``                 (d, d_mlp)      its output
``blocks.{i}.norm_{attn,mlp}.scale``             () or (d,)      a learned scale (``scalar`` /
                                                                 ``channel``), when present
``final_norm.scale``                             () or (d,)      likewise, before the unembedding
``unembed.weight``                               (vocab, d)      unembedding
===============================================  ==============  =============================

Per block ``x ← x + A(n(x))``, ``x ← x + D((W_m n(x)) ⊙ (W_n n(x)))``; logits ``U n(x)``, where
``A`` is bilinear attention with RoPE (split halves, float32 tables, base ``rope_base``) and
``(q1·k1/√d_head)(q2·k2/√d_head)`` per pair — a factor ``1/d_head`` (taken exactly) — with
the causal mask and no softmax. ``n`` is the block's norm: without ``scale`` keys either the
parameter-free RMSNorm (``x / √(mean(x²) + 10⁻⁶)``) or the identity, which the state dict cannot
tell apart: ``use_rmsnorm`` or ``norm_type`` from ``config.json`` (``{"model": {…}}``, as the
training script writes it) decides, and a file without it is refused. Each sublayer is one block
(``steer_at`` 2i is the stream entering research block i, 2i + 1 the one between its attention
and its MLP).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Mapping

import numpy as np

from .blocks import Attention, Bilinear, Block, Chain, Linear, Residual, RMSNorm, Rotary
from .errors import InputFileError, ShapeError
from .sequence import SequenceModel
from .state_dicts import is_layout
from .tensor_similarity import _float, _require

__all__ = ["BilinearVPDConfig", "is_bilinear_vpd", "load_bilinear_vpd", "RMS_EPS"]

_KEY = re.compile(r"blocks\.(\d+)\.(attn\.(?:q1|q2|k1|k2|v|o)_proj\.weight|mlp\.(?:w_m|w_n|w_proj)\.weight|norm_(?:attn|mlp)\.scale)$")
_TOP = ("embed.weight", "unembed.weight", "final_norm.scale")
_ATTN = ("q1", "q2", "k1", "k2", "v", "o")
#: the research RMSNorm's ε (``RMSNorm(eps=1e-6)``)
RMS_EPS = 1e-6


@dataclass(frozen=True)
class BilinearVPDConfig:
    """What the state dict does not hold: the norm kind (when it has no scale keys), the RoPE
    base and the context length the rotary buffers were built for."""

    norm: str | None = None
    rope_base: float = 10_000.0
    seq_len: int | None = None
    #: what else the config says (widths, layer count): checked against the shapes
    said: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, config: Mapping[str, Any] | None) -> BilinearVPDConfig:
        given = dict(config or {})
        given = dict(given.get("model", given)) if isinstance(given.get("model", given), Mapping) else given
        norm = given.get("norm_type")
        if norm is None and "use_rmsnorm" in given:
            if not isinstance(given["use_rmsnorm"], bool):
                raise ShapeError(f"use_rmsnorm={given['use_rmsnorm']!r}; expected true or false")
            norm = "rmsnorm" if given["use_rmsnorm"] else "none"
        if norm is not None and norm not in ("none", "scalar", "channel", "rmsnorm"):
            raise ShapeError(f"norm_type={norm!r}; expected none, scalar, channel or rmsnorm")
        try:
            base = float(given.get("rope_base", 10_000.0))
            seq = given.get("seq_len")
            seq = None if seq is None else int(seq)
        except (TypeError, ValueError):
            raise ShapeError(f"rope_base={given.get('rope_base')!r}, seq_len={given.get('seq_len')!r}; expected numbers") from None
        said = {k: given[k] for k in ("vocab_size", "d_model", "d_head", "d_mlp", "n_layers") if k in given}
        return cls(norm=norm, rope_base=base, seq_len=seq, said=said)


def is_bilinear_vpd(keys: Any) -> bool:
    """True when the keys are those of a ``BilinearTransformer`` (and nothing else)."""
    return is_layout(keys, required=("embed.weight", "unembed.weight"), allowed=_TOP, pattern=_KEY)


def _expected() -> str:
    return ("embed.weight; blocks.{i}.attn.{q1,q2,k1,k2,v,o}_proj.weight; blocks.{i}.mlp.{w_m,w_n,w_proj}.weight; "
            "optional blocks.{i}.norm_attn.scale, blocks.{i}.norm_mlp.scale, final_norm.scale; unembed.weight")


def _blocks(arrays: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for key in arrays:
        match = _KEY.match(key)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = key
        elif key not in _TOP:
            raise InputFileError(f"{source}: key {key!r} is not part of a bilinear-vpd BilinearTransformer; expected {_expected()}")
    if not found or sorted(found) != list(range(len(found))):
        raise InputFileError(f"{source}: blocks {sorted(found)}; expected blocks 0 … n−1 without gaps ({_expected()})")
    need = [f"attn.{k}_proj.weight" for k in _ATTN] + [f"mlp.{k}.weight" for k in ("w_m", "w_n", "w_proj")]
    for i, parts in found.items():
        missing = [f"blocks.{i}.{k}" for k in need if k not in parts]
        if missing:
            raise InputFileError(f"{source}: block {i} lacks {', '.join(missing)}; found {', '.join(sorted(parts.values()))}")
    return [found[i] for i in range(len(found))]


def _norm(key: str | None, arrays: Mapping[str, Any], kind: str | None, d: int, source: str, name: str) -> Block | None:
    """The block's norm: a learned scale (Linear.diagonal), the RMSNorm, or None (identity)."""
    if key is not None:
        scale = np.asarray(arrays[key])
        if scale.shape == ():
            scale = np.full(d, float(scale))
        if kind not in (None, "scalar", "channel"):
            raise InputFileError(f"{source}: {key} is a learned scale but config.json says norm_type={kind!r}")
        return Linear.diagonal(_float(scale, key, (d,), source), name=name)
    if kind in ("scalar", "channel"):
        raise InputFileError(f"{source}: config.json says norm_type={kind!r} but {name}.scale is missing")
    if kind is None:
        raise InputFileError(
            f"{source}: without scale keys the norms are either RMSNorm or the identity, and the state dict cannot tell: "
            "put the run's config.json (model.use_rmsnorm or model.norm_type) beside the file, or give --config")
    return RMSNorm(d, eps=RMS_EPS, name=name) if kind == "rmsnorm" else None


def _sublayer(norm: Block | None, inner: Block, name: str) -> Residual:
    """``x + inner(n(x))``."""
    return Residual.add(inner if norm is None else Chain(norm, inner, name=name))


def load_bilinear_vpd(arrays: Mapping[str, Any], config: BilinearVPDConfig, *, source: str = "model") -> SequenceModel:
    """A :class:`SequenceModel` from a ``BilinearTransformer`` state dict (see the module)."""
    _require(arrays, ("embed.weight", "unembed.weight"), source, "bilinear-vpd BilinearTransformer", _expected())
    embed = _float(arrays["embed.weight"], "embed.weight", (None, None), source)
    vocab, d = embed.shape
    unembed = _float(arrays["unembed.weight"], "unembed.weight", (None, d), source)
    found = _blocks(arrays, source)
    shapes = {"vocab_size": vocab, "d_model": d, "n_layers": len(found),
              "d_head": np.shape(arrays[found[0]["attn.q1_proj.weight"]])[0], "d_mlp": np.shape(arrays[found[0]["mlp.w_m.weight"]])[0]}
    clash = [f"{k}={config.said[k]!r} (the file: {shapes[k]!r})" for k in config.said if config.said[k] != shapes[k]]
    if clash:
        raise InputFileError(f"{source}: config.json says {', '.join(clash)}: the file is not the model the config describes")
    blocks: list[Block] = []
    for i, parts in enumerate(found):
        p = f"blocks.{i}"
        dh = np.shape(arrays[parts["attn.q1_proj.weight"]])[0]
        w = {k: _float(arrays[parts[f"attn.{k}_proj.weight"]], f"{p}.attn.{k}_proj.weight", (dh, d), source)
             for k in ("q1", "q2", "k1", "k2", "v")}
        w["o"] = _float(arrays[parts["attn.o_proj.weight"]], f"{p}.attn.o_proj.weight", (d, dh), source)
        if dh % 2:
            raise InputFileError(f"{source}: {p}.attn has heads of width {dh}; RoPE needs an even width")
        attn = Attention(**w, heads=1, rotary=Rotary(dh, base=config.rope_base), scale=Fraction(1, dh),
                         context=config.seq_len, name=f"{p}.attn")
        hidden = np.shape(arrays[parts["mlp.w_m.weight"]])[0]
        mlp = Bilinear(_float(arrays[parts["mlp.w_m.weight"]], f"{p}.mlp.w_m.weight", (hidden, d), source),
                       _float(arrays[parts["mlp.w_n.weight"]], f"{p}.mlp.w_n.weight", (hidden, d), source),
                       _float(arrays[parts["mlp.w_proj.weight"]], f"{p}.mlp.w_proj.weight", (d, hidden), source),
                       name=f"{p}.mlp")
        for sub, inner in (("attn", attn), ("mlp", mlp)):
            norm = _norm(parts.get(f"norm_{sub}.scale"), arrays, config.norm, d, source, f"{p}.norm_{sub}")
            blocks.append(_sublayer(norm, inner, f"{p}.{sub}"))
    final = _norm("final_norm.scale" if "final_norm.scale" in arrays else None, arrays, config.norm, d, source, "final_norm")
    head: Block = Linear(unembed, name="unembed")
    if final is not None:
        head = Chain(final, head, name="head")
    return SequenceModel(tuple(blocks), embed=embed, head=head, name=source)


class BilinearVPDLayout:
    """The layout registered as ``bilinear-vpd``; the norm kind from ``config.json`` beside the
    file when the state dict has no scale keys."""

    name = "bilinear-vpd"
    follows = ("henrylhale/bilinear-vpd BilinearTransformer, phase1/model.py @ 2675236 (use_rmsnorm), "
               "@ 7d5a5a9 (norm_type), @ b105e74 (channel scales)")
    checks_config = True
    sequence = True

    def claims(self, keys: list[str]) -> bool:
        return is_bilinear_vpd(keys)

    def expected(self) -> str:
        return _expected() + "; use_rmsnorm / norm_type from config.json"

    def build(self, arrays: Mapping[str, Any], *, source: str, residual: bool | None = None,
              config: Mapping[str, Any] | None = None) -> SequenceModel:
        if residual is False:
            raise InputFileError(f"{source}: bilinear-vpd blocks are residual (x + f(n(x))); --plain does not apply")
        try:
            return load_bilinear_vpd(arrays, BilinearVPDConfig.of(config), source=source)
        except ShapeError as exc:
            raise InputFileError(f"{source}: {exc}") from None
