"""The tensor-language GPT layout: loganriggs/tensor_language's released LMs (a modded-nanogpt
fork, ``jacclust/tt_model.py`` ``GPT``; ``basis_aligned/qk_mdl/tier2_model.py`` loads the
checkpoints ``Elriggs/gpt2-bilinear-sqrd-attn-18l-9h-1152embd`` and ``…-sqrd-attn-12l-…`` into
it) as a sequence model.

Keys (``nn.Linear``'s ``y = W x``; ``e`` = ``expansion_factor``):

=================================================  ============  =====================================
key                                                shape         role
=================================================  ============  =====================================
``transformer.wte.weight``                         (vocab, d)    token table
``transformer.h.{i}.lambdas``                      (2,)          ``x ← λ0 x + λ1 x0``
``transformer.h.{i}.attn.c_q/c_k.weight``          (d, d)        first QK branch
``transformer.h.{i}.attn.c_q2/c_k2.weight``        (d, d)        second branch (``bilinear_attn``)
``transformer.h.{i}.attn.c_v/c_proj.weight``       (d, d)        values, output
``transformer.h.{i}.attn.lamb``                    ()            value mixing λ
``transformer.h.{i}.mlp.Left/Right.weight``        (e·d, d)      bilinear MLP (``bilinear``)
``transformer.h.{i}.mlp.Down.weight``              (d, e·d)      its output, ``.Down_bias`` (d,)
``transformer.h.{i}.mlp.c_fc/c_proj.weight``       (4d, d) …     the squared MLP (``squared_mlp``)
``lm_head.weight``                                 (vocab, d)    unembedding
=================================================  ============  =====================================

The forward pass, as the class computes it (``n`` = ``F.rms_norm`` without a weight, whose ε is
``torch.finfo(dtype).eps`` for the dtype the model runs in — the file's, float32 for a bf16 or
f16 file as ``load_elriggs`` runs it; ``dtype`` in the config overrides)::

    x = n(E[tokens]);  x0 = x;  v1 = block 0's values
    block i:  x ← λ0 x + λ1 x0;  h = n(x)
              q_b = R n_h(Q_b h), k_b = R n_h(K_b h)     (QK-norm per head, then RoPE)
              v = (1 − λ) V h + λ v1
              x ← x + O concat_h(Σ_{k≤q} (q1·k1/D)(q2·k2/D) v_k)      (bilinear_attn, squared_attn)
              x ← x + Down((Left n(x)) ⊙ (Right n(x))) + Down_bias
    logits = 30 · tanh(U n(x) / 30)

RoPE here rotates the other way (``(a cos + b sin, −a sin + b cos)``) with bf16 tables
(``freqs.cos().bfloat16()``). The single-branch ``squared_attn`` pattern ``(q·k/D)²`` is
row-normalised (``tier2_model``'s reading of the trained checkpoint). The class clamps a row sum
below 10⁻⁹ up to 10⁻⁹; symsteer divides by the sum itself (and refuses a zero row): the two
differ only on rows that small, a query nearly orthogonal to every key up to it. Refused: softmax attention
(``c_q`` without ``c_q2`` and without ``squared_attn``; the differential softmax with
``bilinear_lamb``), a ReLU² or gated MLP.

The stream carries the embedding stream ``x0`` and block 0's values ``v1`` beside ``x`` as lanes
``[x | x0 | v1]`` (:mod:`symsteer.blocks.lanes`), so one walk over the blocks carries their
α-coefficients too. Steering adds ``α s`` to ``x`` only (``steer_width = d``): a hook on the
residual stream never touches ``x0`` (the normed embedding, never steered) nor ``v1`` — which
does change with α when steering at block 0, since block 0 computes it from the steered stream,
and not when steering later. Each sublayer is one block: ``steer_at`` 2i is research block i's
input (before the λ mixing), 2i + 1 the stream between its attention and its MLP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .blocks import Attention, Bilinear, Block, Chain, Fork, LaneMix, Linear, Place, Residual, RMSNorm, Rotary, Slice, Softcap
from .errors import InputFileError, ShapeError
from .numbers import FLOAT
from .sequence import SequenceModel
from .files import echo
from .state_dicts import is_layout, numbered, head_problem
from .tensor_similarity import _float, _require

__all__ = ["GPTConfig", "is_tensor_language_gpt", "load_tensor_language_gpt", "CAP"]

_KEY = re.compile(r"transformer\.h\.(\d+)\.(lambdas|attn\.(?:c_q|c_k|c_q2|c_k2|c_v|c_proj)\.weight|attn\.(?:lamb|bilinear_lamb)"
                  r"|mlp\.(?:Left|Right|Down|c_fc|c_proj)\.weight|mlp\.(?:Down_bias|bias))$")
_TOP = ("transformer.wte.weight", "lm_head.weight")
#: the logit softcap ``30 · tanh(logits / 30)``
CAP = 30
_EPS = {"float64": float(np.finfo(np.float64).eps), "float32": float(np.finfo(np.float32).eps),
        "bfloat16": 2.0 ** -7, "float16": float(np.finfo(np.float16).eps)}


@dataclass(frozen=True)
class GPTConfig:
    """What the state dict does not hold: ``n_head`` (required), the ``GPTConfig`` flags (class
    defaults when absent; the keys must agree with them) and the dtype the model runs in."""

    n_head: int
    squared_attn: bool = False
    squared_mlp: bool = False
    gated: bool = False
    dtype: str | None = None
    #: as the config says (None: not said); the keys must agree (c_q2/c_k2, Left/Right/Down)
    bilinear_attn: bool | None = None
    bilinear: bool | None = None
    #: the sizes the config states (vocab_size, n_embd, n_layer, expansion_factor): checked against the shapes
    said: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, config: Mapping[str, Any] | None, *, source: str) -> GPTConfig:
        given = dict(config or {})
        if "n_head" not in given:
            raise InputFileError(f"{source}: the number of heads is not in the state dict: put the checkpoint's config.json "
                                 "(GPTConfig: n_head, squared_attn, …) beside it, or give --config / --heads")
        heads = given["n_head"]
        try:
            heads = int(str(heads))
        except ValueError:
            heads = 0
        flags = {k: given.get(k, False) for k in ("squared_attn", "squared_mlp", "gated", "bilinear", "bilinear_attn")}
        bad = {k: v for k, v in flags.items() if not isinstance(v, bool)}
        if heads < 1 or bad:
            said = ", ".join([f"n_head={echo(given['n_head'])}"] + [f"{k}={echo(v)}" for k, v in bad.items()])
            raise InputFileError(f"{source}: config.json {said}; expected a positive integer and true/false flags")
        dtype = given.get("dtype")
        if dtype is not None and str(dtype).replace("torch.", "") not in _EPS:
            raise InputFileError(f"{source}: config.json dtype={dtype!r}; expected one of {', '.join(_EPS)}")
        return cls(n_head=heads, squared_attn=flags["squared_attn"], squared_mlp=flags["squared_mlp"], gated=flags["gated"],
                   dtype=None if dtype is None else str(dtype).replace("torch.", ""),
                   bilinear_attn=given.get("bilinear_attn"), bilinear=given.get("bilinear"),
                   said={k: given[k] for k in ("vocab_size", "n_embd", "n_layer", "expansion_factor") if k in given})


def is_tensor_language_gpt(keys: Any) -> bool:
    return is_layout(keys, required=_TOP, allowed=_TOP, pattern=_KEY)


def _expected() -> str:
    return ("transformer.wte.weight; transformer.h.{i}.lambdas; transformer.h.{i}.attn.c_q/c_k(/c_q2/c_k2)/c_v/c_proj.weight, "
            ".attn.lamb; transformer.h.{i}.mlp.Left/Right/Down.weight and .mlp.Down_bias (or .mlp.c_fc/c_proj.weight, .mlp.bias); "
            "lm_head.weight; n_head from config.json")


def _blocks(arrays: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
    return numbered(arrays, _KEY, allowed=_TOP, source=source, what="a tensor_language GPT", expected=_expected())


def _eps(config: GPTConfig, arrays: Mapping[str, Any]) -> float:
    """``F.rms_norm``'s default ε: ``torch.finfo(dtype).eps`` of the dtype the model runs in."""
    if config.dtype is not None:
        return _EPS[config.dtype]
    kinds = {str(np.asarray(a).dtype) for a in arrays.values() if np.asarray(a).dtype.kind == "f"}
    return _EPS["float64"] if kinds == {"float64"} else _EPS["float32"]


def _scalar(arr: Any, key: str, source: str) -> float:
    return float(_float(np.reshape(np.asarray(arr), (1,)) if np.size(arr) == 1 else arr, key, (1,), source)[0])


def _need(parts: dict[str, Any], keys: tuple[str, ...], i: int, source: str) -> None:
    missing = [f"transformer.h.{i}.{k}" for k in keys if k not in parts]
    if missing:
        raise InputFileError(f"{source}: block {i} lacks {', '.join(missing)}; found {', '.join(sorted(parts))}")


def load_tensor_language_gpt(arrays: Mapping[str, Any], config: GPTConfig, *, source: str = "model") -> SequenceModel:
    """A :class:`SequenceModel` over the lanes ``[x | x0 | v1]`` (see the module)."""
    _require(arrays, _TOP, source, "tensor_language GPT", _expected())
    E = _float(arrays["transformer.wte.weight"], "transformer.wte.weight", (None, None), source)
    vocab, d = E.shape
    U = _float(arrays["lm_head.weight"], "lm_head.weight", (None, d), source)
    found = _blocks(arrays, source)
    left = found[0].get("mlp.Left.weight")
    shapes = {"vocab_size": vocab, "n_embd": d, "n_layer": len(found),
              "expansion_factor": None if left is None else np.shape(left)[0] / d}
    clash = [f"{k}={config.said[k]!r} (the file: {shapes[k]!r})" for k in config.said
             if shapes[k] is not None and config.said[k] != shapes[k]]
    if clash:
        raise InputFileError(f"{source}: config.json says {', '.join(clash)}: the file is not the model the config describes")
    H = config.n_head
    if why := head_problem(H, d):
        raise InputFileError(f"{source}: {why}")
    dh = d // H
    eps = _eps(config, arrays)
    rotary = Rotary(dh, precision="bfloat16", sign=-1)

    def norm(name: str) -> RMSNorm:
        return RMSNorm(d, eps=eps, name=name)

    def normed_x(name: str) -> Chain:
        """``n(x)`` from the lanes [x | x0 | v1]."""
        return Chain(Slice(3 * d, 0, d), norm(name), name=name)

    blocks: list[Block] = []
    for i, parts in enumerate(found):
        p = f"transformer.h.{i}"
        _need(parts, ("lambdas", "attn.c_q.weight", "attn.c_k.weight", "attn.c_v.weight", "attn.c_proj.weight", "attn.lamb"), i, source)
        if "attn.bilinear_lamb" in parts:
            raise InputFileError(f"{source}: {p}.attn.bilinear_lamb: the differential softmax attention "
                                 "(softmax(q·k/D) − λ softmax(q2·k2/D)) is not a polynomial; refused")
        two = "attn.c_q2.weight" in parts or "attn.c_k2.weight" in parts
        if two:
            _need(parts, ("attn.c_q2.weight", "attn.c_k2.weight"), i, source)
        if config.bilinear_attn is not None and config.bilinear_attn != two:
            raise InputFileError(f"{source}: config.json says bilinear_attn={str(config.bilinear_attn).lower()} but {p}.attn "
                                 f"{'has' if two else 'has no'} c_q2/c_k2: the file is not the model the config describes")
        if not two and not config.squared_attn:
            raise InputFileError(f"{source}: {p}.attn has one QK branch and config.json does not say squared_attn: "
                                 "scaled-dot-product softmax attention, not a polynomial; refused")
        w = {k: _float(parts[f"attn.c_{k}.weight"], f"{p}.attn.c_{k}.weight", (d, d), source)
             for k in ("q", "k", "v", "proj") + (("q2", "k2") if two else ())}
        lam0, lam1 = _float(parts["lambdas"], f"{p}.lambdas", (2,), source)
        lamb = _scalar(parts["attn.lamb"], f"{p}.attn.lamb", source)
        zero, eye = np.zeros((d, d)), np.eye(d)
        wide = lambda m: np.hstack([m, zero])  # noqa: E731  (q, k read h, not v1)
        qk = {"q1": wide(w["q"]), "k1": wide(w["k"])} | ({"q2": wide(w["q2"]), "k2": wide(w["k2"])} if two else {})
        attention = Attention(**qk, v=np.hstack([(1 - lamb) * w["v"], lamb * eye]), o=w["proj"], heads=H, rotary=rotary,
                              pattern="bilinear" if two else "squared-normalized", qk_norm=RMSNorm(dh, eps=eps, name=f"{p}.qk_norm"),
                              name=f"{p}.attn")
        attn_sub = Residual.add(Place(Chain(Fork(normed_x(f"{p}.attn.norm"), Slice(3 * d, 2 * d, 3 * d), name=f"{p}.[h|v1]"),
                                            attention, name=f"{p}.attn"), width=3 * d, at=0))
        parts_of_block: list[Block] = []
        if i == 0:
            # the stream enters as [x | x0]: v1's lane is opened (zeros), then filled with block
            # 0's values V n(x) after the λ mixing, as the class computes them
            parts_of_block.append(Place(Slice(2 * d, 0, 2 * d), width=3 * d, at=0, name="lanes [x | x0 | v1]"))
        parts_of_block.append(LaneMix([[lam0, lam1, 0], [0, 1, 0], [0, 0, 1]], width=d, name=f"{p}.lambdas"))
        if i == 0:
            parts_of_block.append(Residual.add(Place(Chain(normed_x(f"{p}.attn.norm"), Linear(w["v"], name=f"{p}.attn.c_v"),
                                                           name="v1"), width=3 * d, at=2 * d)))
        parts_of_block.append(attn_sub)
        blocks.append(Chain(*parts_of_block, name=f"{p}.attn"))
        blocks.append(Residual.add(Place(Chain(normed_x(f"{p}.mlp.norm"), _mlp(parts, p, d, config, source), name=f"{p}.mlp"),
                                         width=3 * d, at=0)))
    x0 = norm("transformer.wte.norm").forward(E, numbers=FLOAT)  # x = n(wte(idx)): per token, never steered
    head = Chain(Slice(3 * d, 0, d), norm("final_norm"), Linear(U, name="lm_head"), Softcap(vocab, cap=CAP), name="head")
    return SequenceModel(tuple(blocks), embed=np.hstack([x0, x0]), head=head, name=source, steer_width=d)


def _mlp(parts: dict[str, Any], p: str, d: int, config: GPTConfig, source: str) -> Bilinear:
    bilinear = "mlp.Left.weight" in parts or "mlp.Right.weight" in parts
    if config.bilinear is not None and config.bilinear != bilinear:
        raise InputFileError(f"{source}: config.json says bilinear={str(config.bilinear).lower()} but {p}.mlp "
                             f"{'has' if bilinear else 'has no'} Left/Right/Down: the file is not the model the config describes")
    if bilinear:
        if config.gated:
            raise InputFileError(f"{source}: config.json says gated: silu(Left x) ⊙ Right x is not bilinear; refused")
        _need(parts, ("mlp.Left.weight", "mlp.Right.weight", "mlp.Down.weight", "mlp.Down_bias"), int(p.split(".")[-1]), source)
        hidden = np.shape(parts["mlp.Left.weight"])[0]
        L, R = (_float(parts[f"mlp.{k}.weight"], f"{p}.mlp.{k}.weight", (hidden, d), source) for k in ("Left", "Right"))
        D = _float(parts["mlp.Down.weight"], f"{p}.mlp.Down.weight", (d, hidden), source)
        bias = _float(parts["mlp.Down_bias"], f"{p}.mlp.Down_bias", (d,), source)
    else:
        _need(parts, ("mlp.c_fc.weight", "mlp.c_proj.weight", "mlp.bias"), int(p.split(".")[-1]), source)
        if not config.squared_mlp:
            raise InputFileError(f"{source}: {p}.mlp is relu(c_fc x)² (config.json does not say squared_mlp): not a polynomial; refused")
        hidden = np.shape(parts["mlp.c_fc.weight"])[0]
        L = R = _float(parts["mlp.c_fc.weight"], f"{p}.mlp.c_fc.weight", (hidden, d), source)  # (c_fc x)²
        D = _float(parts["mlp.c_proj.weight"], f"{p}.mlp.c_proj.weight", (d, hidden), source)
        bias = _float(parts["mlp.bias"], f"{p}.mlp.bias", (d,), source)
    return Bilinear(L, R, D, name=f"{p}.mlp").with_output_bias(bias)


class GPTLayout:
    """The layout registered as ``tensor-language-gpt`` (config.json beside the file: n_head)."""

    name = "tensor-language-gpt"
    follows = ("loganriggs/tensor_language GPT, jacclust/tt_model.py @ 89f5b4a (as basis_aligned/qk_mdl/tier2_model.py "
               "@ 89f5b4a loads the released checkpoints)")
    checks_config = True
    sequence = True

    def claims(self, keys: list[str]) -> bool:
        return is_tensor_language_gpt(keys)

    def expected(self) -> str:
        return _expected()

    def build(self, arrays: Mapping[str, Any], *, source: str, residual: bool | None = None,
              config: Mapping[str, Any] | None = None) -> SequenceModel:
        if residual is False:
            raise InputFileError(f"{source}: the GPT's blocks are residual; --plain does not apply")
        try:
            return load_tensor_language_gpt(arrays, GPTConfig.of(config, source=source), source=source)
        except ShapeError as exc:
            raise InputFileError(f"{source}: {exc}") from None
