"""Model layouts: how the research code names its weights, and how each file becomes blocks.

A *layout* says which keys a weight file holds, which research class wrote them (and at which
commit), and builds the :class:`~symsteer.network.Network` that class computes. Layouts are
registered in :data:`LAYOUTS` (:func:`register` adds one: the sequence layouts of tensor
transformers register here too — tensor_language's models and released GPTs, bilinear-vpd,
tensor-similarity's transformers, bilinear-decomposition's; each builds a
:class:`~symsteer.sequence.SequenceModel`). A file is loaded only when exactly one layout claims
all of its keys; a file that fits none, a gated model, a transformer no sequence layout reads or a
model whose config names something that is not bilinear is refused, listing the keys found and
what each layout expects. ``config.json`` beside the weights (what the research code's hub helper
and ``PretrainedConfig`` write) is read as data: ``residual``, ``gate``, ``bias``,
``normalization`` / ``rms_norm``, ``activation``, ``bilinear``, ``scale``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from weakref import WeakKeyDictionary
from typing import Any, Literal, Mapping, Protocol

import numpy as np

from .blocks import Bilinear, Block, Linear, Residual
from .errors import InputFileError, SymsteerError
from .files import echo, read_input, shown
from .network import Network

__all__ = ["Layout", "KeyMap", "LAYOUTS", "register", "load_model", "model_arrays", "load_key_map", "read_config", "file_dtypes", "ROLES"]


class Layout(Protocol):
    """What a registered layout provides (a :class:`KeyMap` is one; sequence layouts add their own)."""

    name: str
    #: the research class it follows: repository, file, class and commit
    follows: str

    def claims(self, keys: list[str]) -> bool:
        """True when this layout accounts for every key of a file."""

    def expected(self) -> str:
        """The keys it looks for, one line."""

    def build(self, arrays: Mapping[str, np.ndarray], *, source: str, residual: bool | None = None,
              config: Mapping[str, Any] | None = None) -> Network:
        """The network the file describes (raises :class:`InputFileError` when it cannot)."""


#: what each role of a key map holds
ROLES = {
    "W": "left factor W, (h, d)",
    "V": "right factor V, (h, d)",
    "WV": "W and V stacked, (2h, d): W the first h rows",
    "P": "output projection P, (d_out, h)",
    "b": "left bias b, (h,)",
    "c": "right bias c, (h,)",
    "bc": "b and c stacked, (2h,)",
    "t": "output bias t of a layer, P(…) + t, (d_out,)",
    "embed": "embedding E, (d, d_in)",
    "unembed": "unembedding U, (k, d)",
    "head_bias": "bias of the unembedding, U x + t, (k,)",
    "residual": "0-d boolean: residual blocks x + B(x)",
}
_PER_LAYER_NDIM = {"W": 2, "V": 2, "WV": 2, "P": 2, "b": 1, "c": 1, "bc": 1, "t": 1}
_OTHER_NDIM = {"embed": 2, "unembed": 2, "head_bias": 1}
_TRANSPOSABLE = ("W", "V", "WV", "P", "embed", "unembed")


@dataclass(frozen=True)
class KeyMap:
    """Where a network's weights sit in a file: for each role (``W``, ``V``, ``WV``, ``P``, ``b``,
    ``c``, ``bc``, ``embed``, ``unembed``, ``residual``) the keys that hold it; ``{l}`` in a key
    stands for the layer index. A per-layer key without ``{l}`` holds one layer, or all layers
    stacked on a leading axis.

    >>> KeyMap("mine", {"W": ("l{l}.left",), "V": ("l{l}.right",), "P": ("l{l}.out",)}).expected()
    'W = l{l}.left; V = l{l}.right; P = l{l}.out'
    """

    name: str
    roles: Mapping[str, tuple[str, ...]]
    #: keys to leave out (fnmatch globs, e.g. ``blocks.*.attn.*``); any other key must fit a role
    ignore: tuple[str, ...] = field(default=(), kw_only=True)
    #: roles stored transposed, e.g. an ``nn.Embedding`` weight (d_in, d) for ``embed``
    transpose: tuple[str, ...] = field(default=(), kw_only=True)
    #: the layers have no output projection (``y = (W x) ⊙ (V x)``): P is the identity
    identity_p: bool = field(default=False, kw_only=True)
    #: residual blocks or not, when the file does not say
    residual: bool | None = field(default=None, kw_only=True)
    #: the research class (repository, file, class, commit) this layout follows
    follows: str = field(default="", kw_only=True)
    #: where residual or plain comes from: the file or the user ("flag"), or the config's
    #: ``scale`` (the lerp residual ``(1 − λ) x + λ B(x)`` with λ = scale)
    mixing: Literal["flag", "scale"] = field(default="flag", kw_only=True)
    #: keys that show the model is not bilinear (fnmatch globs) and why
    refuse: Mapping[str, str] = field(default_factory=dict, kw_only=True)

    def __post_init__(self) -> None:
        roles = {}
        for role, keys in dict(self.roles).items():
            if role not in ROLES:
                raise SymsteerError(f"key map {self.name!r}: unknown role {role!r}; expected one of {', '.join(ROLES)}")
            keys = (keys,) if isinstance(keys, str) else tuple(keys)
            for key in keys:
                if not isinstance(key, str) or not key:
                    raise SymsteerError(f"key map {self.name!r}: role {role} has key {key!r}; expected a non-empty string")
                rest = key.replace("{l}", "")
                if "{" in rest or "}" in rest or key.count("{l}") > 1:
                    raise SymsteerError(f"key map {self.name!r}: key {key!r}; expected at most one {{l}} and no other braces")
                if "{l}" in key and role not in _PER_LAYER_NDIM:
                    raise SymsteerError(f"key map {self.name!r}: {role} key {key!r} has {{l}}; {role} is not per layer")
            roles[role] = keys
        object.__setattr__(self, "roles", roles)
        globs = sum(1 for g in self.ignore if _WILDCARD.search(g))
        if globs > MAX_GLOBS or sum(map(len, roles.values())) > MAX_GLOBS:
            raise SymsteerError(f"key map {self.name!r}: {globs} ignore globs, {sum(map(len, roles.values()))} keys; expected at most {MAX_GLOBS} of each")
        bad = [r for r in self.transpose if r not in _TRANSPOSABLE]
        if bad:
            raise SymsteerError(f"key map {self.name!r}: transpose={bad}; expected roles among {', '.join(_TRANSPOSABLE)}")

    def claims(self, keys: list[str]) -> bool:
        """Every key fits a role (or is ignored or refused) and some layer weights are present."""
        found, rest = self.match(keys)
        rest = [k for k in rest if not any(fnmatch.fnmatchcase(k, g) for g in self.refuse)]
        return not rest and any(role in _PER_LAYER_NDIM for role, _ in found.values())

    def build(self, arrays: Mapping[str, np.ndarray], *, source: str, residual: bool | None = None,
              config: Mapping[str, Any] | None = None) -> Network:
        """The network these keys describe (see :func:`model_arrays`)."""
        return _build(self, arrays, source=source, residual=residual, config=config)

    def expected(self) -> str:
        """The keys this map looks for, one line."""
        text = "; ".join(f"{role} = {' | '.join(keys)}" for role, keys in self.roles.items())
        return text + ("; P = identity" if self.identity_p else "")

    def match(self, keys: list[str]) -> tuple[dict[str, tuple[str, int | None]], list[str]]:
        """``{key: (role, layer or None)}`` for the keys this map knows, and the unmatched rest.

        Linear in the number of keys: a key is looked up whole, then with each run of digits in
        it replaced by ``{l}``; ignore globs without wildcards are a set, the others one regex.
        """
        exact: dict[str, tuple[int, str]] = {}
        layered: dict[str, tuple[int, str]] = {}
        for rank, (role, key) in enumerate((r, k) for r, ks in self.roles.items() for k in ks):
            (layered if "{l}" in key else exact).setdefault(key, (rank, role))
        plain = {g for g in self.ignore if not _WILDCARD.search(g)}
        globbed = [g for g in dict.fromkeys(self.ignore) if _WILDCARD.search(g)]
        ignored = re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globbed)) if globbed else None
        found: dict[str, tuple[str, int | None]] = {}
        rest = []
        for key in keys:
            candidates = [(*exact[key], None)] if key in exact else []
            if layered:
                for m in re.finditer(r"\d+", key):
                    hit = layered.get(key[: m.start()] + "{l}" + key[m.end() :])
                    if hit:
                        candidates.append((*hit, int(m.group())))
            if candidates:
                _, role, layer = min(candidates, key=lambda c: c[0])
                found[key] = (role, layer)
            elif key not in plain and not (ignored and ignored.match(key)):
                rest.append(key)
        return found, rest


#: characters that make an ignore entry a glob rather than a literal key
_WILDCARD = re.compile(r"[*?\[]")
#: the most ignore globs with wildcards, and keys, a key map may list (each glob is a regex)
MAX_GLOBS = 1000


#: symsteer's own layout (what save_model writes)
SYMSTEER = KeyMap("symsteer", {
    "W": "layers.{l}.W", "V": "layers.{l}.V", "P": "layers.{l}.P", "b": "layers.{l}.b", "c": "layers.{l}.c",
    "embed": "embed", "unembed": "unembed", "residual": "residual",
}, residual=False, follows="symsteer's save_model")

_DECOMP = "tdooms/bilinear-decomposition"
_INTERP = "tdooms/bilinear-interp"
_SIM = "tdooms/tensor-similarity"

#: a stack of bilinear MLPs ``blocks.{l}.mlp.w`` (``nn.Linear(d, 2h)``, W on top of V) and
#: ``blocks.{l}.mlp.p`` (``o`` in some versions), the MLP of shared/components.py without the
#: transformer around it; the research files that hold these MLPs are transformers and are refused
BILINEAR_MLP = KeyMap("bilinear-mlp", {
    "WV": ("blocks.{l}.mlp.w.weight",), "bc": ("blocks.{l}.mlp.w.bias",),
    "P": ("blocks.{l}.mlp.p.weight", "blocks.{l}.mlp.o.weight"), "t": ("blocks.{l}.mlp.p.bias", "blocks.{l}.mlp.o.bias"),
    "embed": ("embed.weight",), "unembed": ("unembed.weight", "head.weight"), "head_bias": ("unembed.bias", "head.bias"),
}, follows=f"{_DECOMP} shared/components.py MLP @ 81841098 (the MLP alone)")

#: the image classifiers: ``embed`` (Linear d_in → d), ``blocks.{l}`` bare bilinear layers
#: ``Bilinear(d, d)`` = ``nn.Linear(d, 2d)`` with no output projection, ``head`` (Linear d → k)
BILINEAR_BLOCKS = KeyMap("bilinear-blocks", {
    "WV": ("blocks.{l}.weight",), "bc": ("blocks.{l}.bias",), "embed": ("embed.weight",), "unembed": ("head.weight",),
}, identity_p=True,
    follows=f"{_DECOMP} src/image/model.py Model @ e96af283; {_INTERP} image/model.py Model @ 38d87f71 (config.json from shared/hub.py)")

#: the one-layer toy models: ``head(left(x) * right(x))``, biases on all three or none
BILINEAR_TOY = KeyMap("bilinear-toy", {
    "W": ("left.weight",), "V": ("right.weight",), "P": ("head.weight",), "b": ("left.bias",), "c": ("right.bias",),
    "t": ("head.bias",),
}, residual=False, follows=f"{_DECOMP} src/toy/model.py Model @ e96af283")

#: the MNIST models: optional ``linear_in``, layers ``linear1(x) * linear2(x)`` (no output
#: projection, plain), ``linear_out`` with its logit bias; a ReLU layer (``layers.{l}.linear``) is refused
BILINEAR_MNIST = KeyMap("bilinear-mnist", {
    "W": ("layers.{l}.linear1.weight",), "V": ("layers.{l}.linear2.weight",),
    "b": ("layers.{l}.linear1.bias",), "c": ("layers.{l}.linear2.bias",),
    "embed": ("linear_in.weight",), "unembed": ("linear_out.weight",), "head_bias": ("linear_out.bias",),
}, identity_p=True, residual=False, refuse={"layers.*.linear.*": "a ReLU layer (activation='relu'), not bilinear"},
    follows=f"{_DECOMP} mnist/model.py MnistModel @ 1a6222f4")

#: DeepMLP: ``embed``, ``body.{l}`` = MLP ``(1 − scale) x + scale · d(l(x) * r(x))``, ``head``
TENSOR_SIM_DEEP = KeyMap("tensor-sim-deep-mlp", {
    "W": ("body.{l}.l.weight",), "V": ("body.{l}.r.weight",), "P": ("body.{l}.d.weight",), "t": ("body.{l}.d.bias",),
    "embed": ("embed.weight",), "unembed": ("head.weight",),
}, mixing="scale",
    follows=f"{_SIM} src/models/deep_mlp.py DeepMLP @ 429581ed with src/components/mlp.py MLP @ 39488d9a")

#: ToyModel: ``embed``, one MLP ``body`` at its default scale 1 (plain), ``head``
TENSOR_SIM_TOY = KeyMap("tensor-sim-toy", {
    "W": ("body.l.weight",), "V": ("body.r.weight",), "P": ("body.d.weight",), "t": ("body.d.bias",),
    "embed": ("embed.weight",), "unembed": ("head.weight",),
}, residual=False, follows=f"{_SIM} src/models/toy.py ToyModel @ eed19531 with src/components/mlp.py MLP @ 39488d9a")

#: the pure bilinear layer ``down(left(x) * right(x))`` of the toy models
TENSOR_SIM_BILINEAR = KeyMap("tensor-sim-bilinear", {
    "W": ("left.weight",), "V": ("right.weight",), "P": ("down.weight",),
    "b": ("left.bias",), "c": ("right.bias",), "t": ("down.bias",),
}, residual=False, follows=f"{_SIM} src/components/bilinear.py Bilinear @ b5a6de6e")

#: the registered layouts, tried in order when none is named
LAYOUTS: dict[str, Layout] = {}


def register(layout: Layout) -> Layout:
    """Add a layout to :data:`LAYOUTS` (its name must be new)."""
    if layout.name in LAYOUTS:
        raise SymsteerError(f"layout {layout.name!r} is registered already")
    LAYOUTS[layout.name] = layout
    return layout


for _layout in (SYMSTEER, BILINEAR_MLP, BILINEAR_BLOCKS, BILINEAR_TOY, BILINEAR_MNIST, TENSOR_SIM_DEEP, TENSOR_SIM_TOY,
                TENSOR_SIM_BILINEAR):
    register(_layout)

_KEYMAP_OPTIONS = ("name", "ignore", "transpose", "identity_p")


def load_key_map(path: str | Path) -> KeyMap:
    """A key map from a TOML file: ``role = "key"`` or ``role = ["key", …]``; ``{l}`` = layer.

    Example::

        name = "my-mlp"
        WV = "net.{l}.proj_in.weight"     # W on top of V, shape (2h, d)
        P = "net.{l}.proj_out.weight"
        embed = "embedding.weight"
        transpose = ["embed"]             # an nn.Embedding stores (d_in, d)
        unembed = "classifier.weight"
        residual = true                   # or the key of a 0-d flag array
        ignore = ["net.*.norm.*"]
    """
    import tomllib

    raw = read_input(path, what="a key map (.toml)")
    path = Path(path)
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))  # -sig: a byte-order mark from an editor is not an error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InputFileError(f"{shown(path)}: not valid TOML ({shown(exc)})") from None
    allowed = (*ROLES, *_KEYMAP_OPTIONS)
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise InputFileError(f"{path}: unknown entries {unknown}; expected roles {', '.join(ROLES)} and options {', '.join(_KEYMAP_OPTIONS)}")
    residual = data.get("residual")
    roles = {k: v for k, v in data.items() if k in ROLES and not (k == "residual" and isinstance(v, bool))}
    for role, value in roles.items():
        if not (isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(v, str) for v in value))):
            raise InputFileError(f"{path}: {role} = {value!r}; expected a key or a list of keys (strings)")
    for option in ("ignore", "transpose"):
        value = data.get(option, [])
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise InputFileError(f"{path}: {option} = {value!r}; expected a list of strings")
    if not isinstance(data.get("identity_p", False), bool):
        raise InputFileError(f"{path}: identity_p = {data['identity_p']!r}; expected true or false")
    if not any(r in roles for r in ("W", "WV")):
        raise InputFileError(f"{path}: no key for W or WV; a key map needs at least the layers' W and V (or WV)")
    try:
        return KeyMap(
            str(data.get("name", path.stem)), roles,
            ignore=tuple(data.get("ignore", [])), transpose=tuple(data.get("transpose", [])),
            identity_p=data.get("identity_p", False), residual=residual if isinstance(residual, bool) else None,
        )
    except SymsteerError as exc:
        raise InputFileError(f"{path}: {exc}") from None


# -- arrays → network -----------------------------------------------------------------------


def _listing(arrays: Mapping[str, np.ndarray], keys: list[str], limit: int = 12) -> str:
    text = ", ".join(f"{shown(k, name=True)} {tuple(np.shape(arrays[k]))}" for k in keys[:limit])
    return text + (f", … and {len(keys) - limit} more" if len(keys) > limit else "")


#: keys that only a transformer (attention, token embeddings, per-block norms) has
_TRANSFORMER_KEYS = ("transformer.h.*", "*.attn.*", "*attention*", "*.qkv.*", "*wte*", "*wpe*", "*.n1.*", "*.n2.*",
                     "*.ln_*", "*.norm*.weight", "*rotary*", "*.q_proj.*", "*.k_proj.*", "*.v_proj.*")

#: roles ``{l}`` sits in, for messages
_STACKED = {"W": "WV", "V": "WV", "b": "bc", "c": "bc"}


def _transformer_keys(keys: list[str]) -> list[str]:
    return [k for k in keys if any(fnmatch.fnmatchcase(k, g) for g in _TRANSFORMER_KEYS)]


def _no_layout(arrays: Mapping[str, np.ndarray], source: str) -> InputFileError:
    keys = sorted(arrays)
    layouts = "\n".join(f"  {m.name}: {m.expected()}" for m in LAYOUTS.values())
    found = f"found {len(keys)} array(s): {_listing(arrays, keys) or 'none'}\n"
    attention = _transformer_keys(keys)
    if attention:
        return InputFileError(
            f"{source}: a transformer (attention, norms or token embeddings: {', '.join(attention[:6])}"
            f"{' …' if len(attention) > 6 else ''}); no registered layout reads it, and its bilinear MLPs alone are a "
            f"different function: refused.\n{found}expected one of these layouts ({{l}} = layer index 0, 1, …):\n{layouts}"
        )
    tried = []
    for layout in LAYOUTS.values():
        if isinstance(layout, KeyMap):
            got, rest = layout.match(keys)
            has_layer = any(role in _PER_LAYER_NDIM for role, _ in got.values())
            tried.append((len(rest) + (0 if has_layer else 1), layout.name, rest))
    closest = ""
    if tried:
        _, name, rest = min(tried)
        closest = f"closest: {name}, which leaves unmatched: {', '.join(shown(k, name=True) for k in rest[:12]) or '(no layer weights)'}\n"
    exported = [k for k in keys if k in ("w_e", "w_u", "w_l", "w_r", "w_p", "w_lr")]
    hint = ("the arrays w_e, w_u, w_l, w_r, w_p are exported properties: they carry no biases, residual flag or "
            "attention, so they do not say which function the model computed; load the state dict instead, or give a "
            "key map if you know the model is exactly these weights\n") if exported else ""
    return InputFileError(
        f"{source}: the keys fit no known layout.\n{found}"
        f"expected one of these layouts ({{l}} = layer index 0, 1, …):\n{layouts}\n{closest}{hint}"
        "for other names give a key map (a TOML file, --keys) mapping roles to keys"
    )


def _detect(arrays: Mapping[str, np.ndarray], source: str) -> Layout:
    keys = sorted(arrays)
    claiming = [layout for layout in LAYOUTS.values() if layout.claims(keys)]
    if len(claiming) > 1:
        raise InputFileError(f"{source}: the keys fit the layouts {', '.join(l.name for l in claiming)}; "
                             "name one with --layout (layout=…)")
    if not claiming:
        raise _no_layout(arrays, source)
    return claiming[0]


# -- config.json ---------------------------------------------------------------------------


def read_config(path: str | Path) -> dict[str, Any] | None:
    """``config.json`` beside a weight file (as data), or None when there is none. One that is
    there but is no regular file (a directory, a FIFO) is refused, not skipped."""
    config = Path(path).parent / "config.json"
    if not os.path.lexists(config):
        return None
    return config_object(read_input(config, what="a model config (JSON)"), shown(config))


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {echo(key)} appears twice")
        out[key] = value
    return out


def config_object(raw: bytes, name: str) -> dict[str, Any]:
    """A model config's JSON object, with no key twice (as safetensors headers) and an ``n_head``
    (at the top, under ``model`` or ``config``) that is a positive integer."""
    try:  # bounded: a config is a few hundred bytes
        data = json.loads(raw.decode("utf-8-sig"), object_pairs_hook=_unique)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InputFileError(f"{name}: not valid JSON ({shown(exc)})") from None
    if not isinstance(data, dict):
        raise InputFileError(f"{name}: holds a {type(data).__name__}; expected a JSON object (the model's config)")
    for block in (data, data.get("model"), data.get("config")):
        heads = block.get("n_head", 1) if isinstance(block, dict) else 1
        if isinstance(heads, bool) or not (isinstance(heads, int) and heads >= 1 or isinstance(heads, str) and re.fullmatch(r"[1-9][0-9]{0,8}", heads)):
            raise InputFileError(f"{name}: n_head={echo(heads)}; expected a positive integer")
    return data


def _off(value: Any) -> bool:
    return value is None or value is False or value == 0 or (isinstance(value, str) and value.lower() in ("", "none", "false", "identity"))


def _check_config(config: Mapping[str, Any], source: str) -> None:
    """Refuse a config naming anything that is not a bilinear layer."""
    checks = [
        ("gate", lambda v: not _off(v), "a gated MLP (gate={v!r}): gate(W x) ⊙ V x is not bilinear"),
        ("bilinear", lambda v: v is False, "bilinear=false: an ordinary MLP, not bilinear"),
        ("activation", lambda v: v not in (None, "bilinear"), "activation={v!r}: not bilinear"),
        ("normalization", lambda v: not _off(v), "normalization={v!r}: per-sample norms inside the blocks are not read by this layout"),
        ("rms_norm", lambda v: not _off(v), "rms_norm={v!r}: the layers divide by ‖x‖ per sample; not read by this layout"),
        ("n_head", lambda v: not _off(v), "n_head={v!r}: a transformer (attention)"),
    ]
    for key, bad, why in checks:
        if key in config and bad(config[key]):
            raise InputFileError(f"{source}: config.json says {why.format(v=config[key])}; refused")


# -- building ------------------------------------------------------------------------------


def model_arrays(
    arrays: Mapping[str, np.ndarray],
    *,
    source: str,
    residual: bool | None = None,
    keys: KeyMap | None = None,
    layout: Layout | None = None,
    config: Mapping[str, Any] | None = None,
) -> Network:
    """A network from named arrays, in the layout that claims them (or ``layout`` / the key
    map ``keys``). ``residual`` overrides what the file or its config says; ``config`` is the
    model's config (``config.json``).

    >>> W = np.eye(2)
    >>> model_arrays({"blocks.0.weight": np.vstack([W, W]), "embed.weight": W, "head.weight": W},
    ...              source="demo", config={"residual": True}).describe()
    'residual network, 1 layer(s), widths 2 → 2, hidden [2], embed (2, 2), unembed (2, 2), float weights'
    """
    arrays = dict(arrays)
    chosen = keys or layout
    if chosen is None:
        chosen = _detect(arrays, source)
    if config is not None and not getattr(chosen, "checks_config", False):  # sequence layouts read n_head themselves
        _check_config(config, source)
    return chosen.build(arrays, source=source, residual=residual, config=config)


def _build(keys: KeyMap, arrays: Mapping[str, np.ndarray], *, source: str, residual: bool | None,
           config: Mapping[str, Any] | None) -> Network:
    found, rest = keys.match(list(arrays))
    refused = {k: why for k in rest for glob, why in keys.refuse.items() if fnmatch.fnmatchcase(k, glob)}
    if refused:
        key, why = next(iter(refused.items()))
        raise InputFileError(f"{source}: {shown(key, name=True)} is {why}; refused (the {keys.name} layout reads bilinear layers only)")
    if rest:
        raise InputFileError(
            f"{source}: key map {keys.name!r} leaves unmatched: {_listing(arrays, rest)}\n"
            f"found {len(arrays)} array(s): {_listing(arrays, sorted(arrays))}\n"
            f"the key map expects: {keys.expected()}\n"
            "add the missing keys to a key map, or list them under ignore"
        )
    layers: dict[int, dict[str, tuple[str, np.ndarray]]] = {}
    other: dict[str, tuple[str, np.ndarray]] = {}
    for key, (role, index) in found.items():
        arr = _checked(arrays[key], key, role, source)
        if role in keys.transpose and arr.ndim >= 2:
            arr = np.swapaxes(arr, -1, -2)
        if role not in _PER_LAYER_NDIM:
            other[role] = (key, arr)
            continue
        if index is None and arr.ndim == _PER_LAYER_NDIM[role] + 1:  # stacked over layers
            pieces = list(enumerate(arr))
        elif index is None:
            pieces = [(0, arr)]
        else:
            pieces = [(index, arr)]
        for l, piece in pieces:
            slot = layers.setdefault(l, {})
            if role in slot:
                raise InputFileError(f"{source}: {shown(slot[role][0], name=True)} and {shown(key, name=True)} both give layer {l}'s {role}; expected one")
            slot[role] = (key, piece)
    if not layers:
        raise InputFileError(f"{source}: no layer weights among {_listing(arrays, sorted(arrays))}; expected {keys.expected()}")
    if sorted(layers) != list(range(len(layers))):
        raise InputFileError(f"{source}: layer indices {sorted(layers)}; expected 0 … {len(layers) - 1} without gaps")
    if config is not None:
        _check_counts(config, layers, source)
    try:
        built = [_layer(layers[l], l, keys, source) for l in range(len(layers))]
        wrap = _mixing(keys, residual, other.get("residual"), config, source)
        blocks: list[Block] = []
        if "embed" in other:
            blocks.append(Linear(other["embed"][1], name="embed"))
        blocks += [wrap(layer) for layer in built]
        if "unembed" in other:
            bias = other["head_bias"][1] if "head_bias" in other else None
            blocks.append(Linear(other["unembed"][1], bias=bias, name="unembed"))
        elif "head_bias" in other:
            raise InputFileError(f"{source}: {other['head_bias'][0]} is a head bias without the head's weight")
        return Network(blocks)
    except InputFileError:
        raise
    except SymsteerError as exc:
        raise InputFileError(f"{source}: {exc}") from None


def _check_counts(config: Mapping[str, Any], layers: dict[int, Any], source: str) -> None:
    for key in ("n_layer", "n_layers"):
        if isinstance(config.get(key), int) and config[key] != len(layers):
            raise InputFileError(f"{source}: config.json says {key}={config[key]} but the file has {len(layers)} layer(s)")
    if isinstance(config.get("bias"), bool):
        with_bias = [l for l, parts in layers.items() if any(r in parts for r in ("b", "c", "bc"))]
        if config["bias"] is False and with_bias:
            raise InputFileError(f"{source}: config.json says bias=false but layer {with_bias[0]} has biases")


def _mixing(keys: KeyMap, given: bool | None, flag: tuple[str, np.ndarray] | None,
            config: Mapping[str, Any] | None, source: str) -> Any:
    """How each layer enters the stream: B(x), x + B(x), or (1 − λ) x + λ B(x)."""
    if keys.mixing == "scale":
        scale = None if config is None else config.get("scale")
        if scale is None:
            if given is False:
                scale = 1.0
            else:
                raise InputFileError(
                    f"{source}: the {keys.name} layout computes (1 − scale) x + scale · B(x) and the file does not say its "
                    "scale; put config.json (with \"scale\") beside it, or pass --plain for the class default scale = 1"
                )
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not np.isfinite(scale):
            raise InputFileError(f"{source}: config.json scale={scale!r}; expected a finite number")
        if given is not None and given != (scale != 1):
            raise InputFileError(f"{source}: config.json has scale={scale} but {'--residual' if given else '--plain'} was given")
        return (lambda layer: layer) if scale == 1 else (lambda layer: Residual.lerp(layer, float(scale)))
    res = _residual(given, flag, keys, config, source)
    return (lambda layer: Residual.add(layer)) if res else (lambda layer: layer)


def _residual(given: bool | None, flag: tuple[str, np.ndarray] | None, keys: KeyMap,
              config: Mapping[str, Any] | None, source: str) -> bool:
    from_config = None if config is None else config.get("residual")
    if from_config is not None and not isinstance(from_config, bool):
        raise InputFileError(f"{source}: config.json residual={from_config!r}; expected true or false")
    if given is not None:
        if from_config is not None and from_config != given:
            raise InputFileError(f"{source}: config.json says residual={str(from_config).lower()} but "
                                 f"{'--residual' if given else '--plain'} was given")
        return bool(given)
    if flag is not None:
        return bool(flag[1])
    if from_config is not None:
        return from_config
    if keys.residual is not None:
        return keys.residual
    raise InputFileError(
        f"{source}: the file ({keys.name} layout) does not say whether its blocks are residual (x + B(x)) or plain; "
        "put the model's config.json beside it, pass residual=True or False (--residual / --plain), or set residual in a key map"
    )


def _layer(parts: dict[str, tuple[str, np.ndarray]], l: int, keys: KeyMap, source: str) -> Bilinear:
    got = dict(parts)
    for both, (first, second) in (("WV", ("W", "V")), ("bc", ("b", "c"))):
        if both in got:
            clash = [r for r in (first, second) if r in got]
            if clash:
                raise InputFileError(f"{source}: layer {l} has both {got[both][0]} ({both}) and {got[clash[0]][0]} ({clash[0]}); expected one")
            key, arr = got.pop(both)
            top, bottom = _halves(key, arr, f"{first} on top of {second}", source)
            got[first], got[second] = (key, top), (key, bottom)
    if keys.identity_p:
        if "P" in got:
            raise InputFileError(f"{source}: layer {l} has {got['P'][0]} but the {keys.name} layout has no output projection")
        if "W" in got:
            got["P"] = ("identity", np.eye(got["W"][1].shape[0]))
    missing = [r for r in ("W", "V", "P") if r not in got]
    if missing:
        hint = "; ".join(f"{r}: {' | '.join(keys.roles.get(r, ()) + keys.roles.get(_STACKED.get(r, ''), ())) or 'no key in the map'}" for r in missing)
        raise InputFileError(f"{source}: layer {l} misses {', '.join(missing)}; expected keys like {hint.replace('{l}', str(l))}")
    if ("b" in got) != ("c" in got):
        have, lack = ("b", "c") if "b" in got else ("c", "b")
        # the research layers set bias on both branches or on neither; a zero bias is exact
        got[lack] = ("zero", np.zeros(got["W"][1].shape[0]))
    b, c = got.get("b"), got.get("c")
    layer = Bilinear(got["W"][1], got["V"][1], got["P"][1], b=None if b is None else b[1], c=None if c is None else c[1], name=f"layers[{l}]")
    if "t" in got:
        layer = layer.with_output_bias(got["t"][1])
    return layer


def load_model(
    path: str | Path,
    *,
    residual: bool | None = None,
    keys: KeyMap | str | Path | None = None,
    layout: str | None = None,
    config: Mapping[str, Any] | None | Literal["beside"] = "beside",
) -> Network:
    """Load a network from ``.npz``, ``.safetensors`` or a PyTorch state dict.

    The layout is the one registered layout that claims every key, unless ``layout`` names one
    or ``keys`` gives a key map (a :class:`KeyMap` or a TOML file). ``config`` is the model's
    config: by default ``config.json`` beside the file, when there is one. ``residual``
    overrides the file's flag (and must agree with the config).
    """
    from .io import read_arrays

    path = Path(path)
    if keys is not None and layout is not None:
        raise SymsteerError("keys and layout both given; expected at most one")
    chosen: Layout | None = None
    if layout is not None:
        if layout not in LAYOUTS:
            raise SymsteerError(f"layout={echo(layout)}; expected one of {', '.join(LAYOUTS)}")
        chosen = LAYOUTS[layout]
    elif keys is not None:
        chosen = keys if isinstance(keys, KeyMap) else load_key_map(keys)
    arrays = read_arrays(path)
    if config == "beside":
        config = read_config(path)
    network = model_arrays(arrays, source=str(path), residual=residual, layout=chosen, config=config)
    _DTYPES[network] = tuple(sorted({str(a.dtype) for a in arrays.values() if np.asarray(a).dtype.kind == "f"}))
    return network


def file_dtypes(network: Network) -> tuple[str, ...]:
    """The float dtypes of the weight file a network was loaded from (empty if not loaded)."""
    return _DTYPES.get(network, ())


#: the dtypes each loaded network's file held (the reference gate's tolerance depends on them)
_DTYPES: "WeakKeyDictionary[Network, tuple[str, ...]]" = WeakKeyDictionary()


def _checked(arr: np.ndarray, key: str, role: str, source: str) -> np.ndarray:
    """Numbers only, finite; floats widened to float64 (exactly), integers kept exact."""
    arr = np.asarray(arr)
    if role == "residual":
        if arr.shape != () or arr.dtype.kind not in "biu":
            raise InputFileError(f"{source}: {key!r} has shape {arr.shape} and dtype {arr.dtype}; expected a 0-d boolean")
        return arr
    if arr.dtype.kind not in "fiu":
        raise InputFileError(f"{source}: array {shown(key, name=True)} has dtype {arr.dtype}; expected integers or floats")
    expected = _PER_LAYER_NDIM.get(role) or _OTHER_NDIM[role]
    if arr.ndim not in (expected, expected + 1) or (role not in _PER_LAYER_NDIM and arr.ndim != expected):
        raise InputFileError(f"{source}: array {shown(key, name=True)} ({ROLES[role]}) has shape {arr.shape}; expected {expected} dimensions")
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float64)
        bad = np.argwhere(~np.isfinite(arr))
        if len(bad):
            where = tuple(int(i) for i in bad[0])
            raise InputFileError(f"{source}: array {shown(key, name=True)}{list(where)} = {arr[where]}; expected finite numbers ({len(bad)} bad entries)")
    return arr


def _halves(key: str, arr: np.ndarray, what: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    if arr.shape[0] % 2:
        raise InputFileError(f"{source}: array {shown(key, name=True)} has shape {arr.shape}; expected an even first axis (2h): {what}")
    h = arr.shape[0] // 2
    return arr[:h], arr[h:]

# the sequence layouts live beside their loaders; registered here, once, after the ones above
from .bilinear_decomposition import DecompositionLayout  # noqa: E402
from .bilinear_vpd import BilinearVPDLayout  # noqa: E402
from .tensor_language import TensorLanguageLayout  # noqa: E402
from .tensor_language_gpt import GPTLayout  # noqa: E402
from .tensor_similarity import CheckpointLayout, TensorSimilarityLayout  # noqa: E402

for _layout in (TensorLanguageLayout(), TensorSimilarityLayout(), CheckpointLayout(), BilinearVPDLayout(), DecompositionLayout(),
                GPTLayout()):
    register(_layout)
