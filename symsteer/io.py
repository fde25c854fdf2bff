"""Model and vector files in and out. Files are data: never unpickled, never evaluated.

Formats: ``.npz`` (``allow_pickle=False``), ``.safetensors`` (the numpy API: no torch
needed) and PyTorch state dicts ``.pt`` / ``.pth`` / ``.bin`` (``torch.load(weights_only=True)``,
when torch is installed). Key layouts: symsteer's own (``layers.{l}.W`` …), the bilinear-MLP
research code's (one linear layer of width 2h holding W and V stacked), and any other one
through a key map: a small TOML file naming the key of each role.
"""

from __future__ import annotations

import fnmatch
import io as _bytes_io
import re
import zipfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import readers
from .errors import InputFileError, ShapeError, SymsteerError
from .files import open_input, read_input, shown, write_output
from .layer import Bilinear
from .network import Network

__all__ = [
    "load_model", "save_model", "load_vector", "parse_vector", "model_arrays", "write_atomic",
    "read_arrays", "model_to_arrays", "save_vector", "KeyMap", "LAYOUTS", "load_key_map",
]

#: file suffixes and the reader each one gets; other suffixes are recognised by their first bytes
_SUFFIXES = {".npz": "npz", ".safetensors": "safetensors", ".pt": "torch", ".pth": "torch", ".bin": "torch"}
_FORMATS = ".npz, .safetensors, .pt/.pth/.bin (PyTorch state dict)"


# -- reading arrays ---------------------------------------------------------------------


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Every named array in a weight file, as numpy arrays (nothing unpickled; sizes checked
    from the file's headers before anything is materialised, see :mod:`symsteer.readers`)."""
    kind = _SUFFIXES.get(Path(path).suffix.lower()) or _sniff(path)
    return {"npz": readers.read_npz, "safetensors": readers.read_safetensors, "torch": readers.read_torch}[kind](path)


def _sniff(path: str | Path) -> str:
    """The format from the first bytes, for files without a known suffix."""
    with open_input(path, what=f"a model file ({_FORMATS})") as handle:
        head = handle.read(9)
        if head[:4] == b"PK\x03\x04":  # a zip: numpy's archive, or torch's (which holds a .pkl member)
            handle.seek(0)
            try:
                with zipfile.ZipFile(handle) as archive:
                    return "torch" if any(n.endswith(".pkl") for n in archive.namelist()) else "npz"
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
                return "npz"  # the .npz reader says what is wrong with it
    if len(head) == 9 and head[8:9] == b"{":  # safetensors: 8-byte header length, then JSON
        return "safetensors"
    if head[:1] == b"\x80":  # a bare pickle: only torch.load(weights_only=True) may read it
        return "torch"
    return "npz"


# -- key layouts --------------------------------------------------------------------------

#: what each role of a key map holds
ROLES = {
    "W": "left factor W, (h, d)",
    "V": "right factor V, (h, d)",
    "WV": "W and V stacked, (2h, d): W the first h rows",
    "P": "output projection P, (d_out, h)",
    "b": "left bias b, (h,)",
    "c": "right bias c, (h,)",
    "bc": "b and c stacked, (2h,)",
    "embed": "embedding E, (d, d_in)",
    "unembed": "unembedding U, (k, d)",
    "residual": "0-d boolean: residual blocks x + B(x)",
}
_PER_LAYER_NDIM = {"W": 2, "V": 2, "WV": 2, "P": 2, "b": 1, "c": 1, "bc": 1}
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
}, residual=False)

_MLP_PREFIXES = ("blocks.{l}.mlp", "transformer.h.{l}.mlp")

#: the bilinear-MLP research code (tdooms/bilinear-decomposition): ``MLP.w`` is one
#: ``nn.Linear(d, 2h)`` whose output halves are ``w_l`` and ``w_r``; ``MLP.p`` (``o`` in some
#: versions) projects back; its models also expose the arrays ``w_e``, ``w_u``, ``w_l``,
#: ``w_r``, ``w_p`` (per-layer ones stacked on a leading axis)
BILINEAR_MLP = KeyMap("bilinear-mlp", {
    "WV": tuple(f"{p}.w.weight" for p in _MLP_PREFIXES),
    "bc": tuple(f"{p}.w.bias" for p in _MLP_PREFIXES),
    "P": tuple(f"{p}.{o}.weight" for p in _MLP_PREFIXES for o in ("p", "o")) + ("w_p",),
    "W": ("w_l",), "V": ("w_r",),
    "embed": ("embed.weight", "w_e"),
    "unembed": ("unembed.weight", "head.weight", "lm_head.weight", "w_u"),
})

#: the research code's image classifiers: ``embed`` (Linear d_in → d), ``blocks.{l}`` bare
#: bilinear layers ``nn.Linear(d, 2d)`` with no output projection, ``head`` (Linear d → k)
BILINEAR_BLOCKS = KeyMap("bilinear-blocks", {
    "WV": ("blocks.{l}.weight",), "bc": ("blocks.{l}.bias",), "embed": ("embed.weight",), "unembed": ("head.weight",),
}, identity_p=True)

#: the research code's one-layer toy models: ``left``, ``right`` (d → h) and ``head`` (h → k) = P
BILINEAR_TOY = KeyMap("bilinear-toy", {
    "W": ("left.weight",), "V": ("right.weight",), "P": ("head.weight",), "b": ("left.bias",), "c": ("right.bias",),
})

#: the layouts tried, in order, when no key map is given
LAYOUTS: dict[str, KeyMap] = {m.name: m for m in (SYMSTEER, BILINEAR_MLP, BILINEAR_BLOCKS, BILINEAR_TOY)}

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


def _detect(arrays: Mapping[str, np.ndarray], source: str) -> tuple[KeyMap, dict[str, tuple[str, int | None]]]:
    keys = sorted(arrays)
    tried = []
    for keymap in LAYOUTS.values():
        found, rest = keymap.match(keys)
        has_layer = any(role in _PER_LAYER_NDIM for role, _ in found.values())
        if not rest and has_layer:
            return keymap, found
        tried.append((len(rest) + (0 if has_layer else 1), keymap.name, rest))
    _, closest, rest = min(tried)
    layouts = "\n".join(f"  {m.name}: {m.expected()}" for m in LAYOUTS.values())
    raise InputFileError(
        f"{source}: the keys fit no known layout.\n"
        f"found {len(keys)} array(s): {_listing(arrays, keys) or 'none'}\n"
        f"expected one of these layouts ({{l}} = layer index 0, 1, …):\n{layouts}\n"
        f"closest: {closest}, which leaves unmatched: {', '.join(shown(k, name=True) for k in rest[:12]) or '(no layer weights)'}\n"
        "for other names give a key map (a TOML file, --keys) mapping roles to keys"
    )


def model_arrays(
    arrays: Mapping[str, np.ndarray],
    *,
    source: str,
    residual: bool | None = None,
    keys: KeyMap | None = None,
) -> Network:
    """A network from named arrays, in any known key layout (or the one ``keys`` describes).

    ``residual`` overrides what the file or the key map says.

    >>> W = np.eye(2)
    >>> model_arrays({"blocks.0.mlp.w.weight": np.vstack([W, W]), "blocks.0.mlp.p.weight": W},
    ...              source="demo", residual=True).describe()
    'residual network, 1 layer(s), widths 2 → 2, hidden [2], float weights'
    """
    arrays = dict(arrays)
    if keys is None:
        keys, found = _detect(arrays, source)
    else:
        found, rest = keys.match(list(arrays))
        if rest:
            raise InputFileError(
                f"{source}: key map {keys.name!r} leaves unmatched: {_listing(arrays, rest)}\n"
                f"found {len(arrays)} array(s): {_listing(arrays, sorted(arrays))}\n"
                f"the key map expects: {keys.expected()}\n"
                "add the missing keys to the map, or list them under ignore"
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
    residual = _residual(residual, other.get("residual"), keys, source)
    built = []
    try:
        for l in range(len(layers)):
            built.append(_layer(layers[l], l, keys, source))
        embed, unembed = (other[r][1] if r in other else None for r in ("embed", "unembed"))
        return Network(tuple(built), residual=residual, embed=embed, unembed=unembed)
    except InputFileError:
        raise
    except SymsteerError as exc:
        raise InputFileError(f"{source}: {exc}") from None


def _checked(arr: np.ndarray, key: str, role: str, source: str) -> np.ndarray:
    """Numbers only, finite; floats widened to float64 (exactly), integers kept exact."""
    arr = np.asarray(arr)
    if role == "residual":
        if arr.shape != () or arr.dtype.kind not in "biu":
            raise InputFileError(f"{source}: {key!r} has shape {arr.shape} and dtype {arr.dtype}; expected a 0-d boolean")
        return arr
    if arr.dtype.kind not in "fiu":
        raise InputFileError(f"{source}: array {shown(key, name=True)} has dtype {arr.dtype}; expected integers or floats")
    expected = _PER_LAYER_NDIM.get(role, 2)
    if arr.ndim not in (expected, expected + 1) or (role not in _PER_LAYER_NDIM and arr.ndim != 2):
        raise InputFileError(f"{source}: array {shown(key, name=True)} ({ROLES[role]}) has shape {arr.shape}; expected {expected} dimensions")
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float64)
        bad = np.argwhere(~np.isfinite(arr))
        if len(bad):
            where = tuple(int(i) for i in bad[0])
            raise InputFileError(f"{source}: array {shown(key, name=True)}{list(where)} = {arr[where]}; expected finite numbers ({len(bad)} bad entries)")
    return arr


def _residual(given: bool | None, flag: tuple[str, np.ndarray] | None, keys: KeyMap, source: str) -> bool:
    if given is not None:
        return bool(given)
    if flag is not None:
        return bool(flag[1])
    if keys.residual is not None:
        return keys.residual
    raise InputFileError(
        f"{source}: the file ({keys.name} layout) does not say whether its blocks are residual (x + B(x)) or plain; "
        "pass residual=True or False (--residual / --plain), or set residual in a key map"
    )


def _halves(key: str, arr: np.ndarray, what: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    if arr.shape[0] % 2:
        raise InputFileError(f"{source}: array {shown(key, name=True)} has shape {arr.shape}; expected an even first axis (2h): {what}")
    h = arr.shape[0] // 2
    return arr[:h], arr[h:]


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
        stacked = {"W": "WV", "V": "WV"}
        hint = "; ".join(f"{r}: {' | '.join(keys.roles.get(r, ()) + keys.roles.get(stacked.get(r, ''), ())) or 'no key in the map'}" for r in missing)
        raise InputFileError(f"{source}: layer {l} misses {', '.join(missing)}; expected keys like {hint.replace('{l}', str(l))}")
    b, c = got.get("b"), got.get("c")
    return Bilinear(got["W"][1], got["V"][1], got["P"][1], b=None if b is None else b[1], c=None if c is None else c[1], name=f"layers[{l}]")


def load_model(
    path: str | Path,
    *,
    residual: bool | None = None,
    keys: KeyMap | str | Path | None = None,
    layout: str | None = None,
) -> Network:
    """Load a network from ``.npz``, ``.safetensors`` or a PyTorch state dict.

    The key layout is detected (symsteer's, bilinear-mlp, bilinear-blocks, bilinear-toy)
    unless ``layout`` names one or ``keys`` gives a key map (a :class:`KeyMap` or a TOML
    file). ``residual`` overrides the file's flag; a symsteer file without one is plain,
    other layouts must be told.
    """
    path = Path(path)
    if keys is not None and layout is not None:
        raise SymsteerError("keys and layout both given; expected at most one")
    if layout is not None:
        if layout not in LAYOUTS:
            raise SymsteerError(f"layout={layout!r}; expected one of {', '.join(LAYOUTS)}")
        keys = LAYOUTS[layout]
    elif keys is not None and not isinstance(keys, KeyMap):
        keys = load_key_map(keys)
    return model_arrays(read_arrays(path), source=str(path), residual=residual, keys=keys)


# -- network → files ----------------------------------------------------------------------


def model_to_arrays(network: Network) -> dict[str, np.ndarray]:
    """The network's weights under symsteer's keys (float64, or int64 for integer weights)."""
    if network.field == "symbolic":
        raise SymsteerError("cannot save symbolic weights; expected a network with numbers")
    arrays: dict[str, Any] = {"residual": np.bool_(network.residual)}
    for l, layer in enumerate(network.layers):
        for key in ("W", "V", "P", "b", "c"):
            if getattr(layer, key) is not None:
                arrays[f"layers.{l}.{key}"] = _plain(getattr(layer, key), f"layers[{l}].{key}")
    for key in ("embed", "unembed"):
        if getattr(network, key) is not None:
            arrays[key] = _plain(getattr(network, key), key)
    return arrays


def save_model(network: Network, path: str | Path) -> None:
    """Save a network with concrete weights in symsteer's layout, atomically.

    ``.safetensors`` writes a safetensors file; anything else an ``.npz`` archive (the
    suffix is added when missing, as numpy does).
    """
    path = Path(path)
    arrays = model_to_arrays(network)
    if path.suffix.lower() == ".safetensors":
        from safetensors.numpy import save

        data = save({k: np.array(v, order="C") for k, v in arrays.items()}, metadata={"format": "symsteer"})
    elif _SUFFIXES.get(path.suffix.lower()) == "torch":
        raise SymsteerError(f"{path}: saving PyTorch files is not supported; expected a .npz or .safetensors path")
    else:
        if path.suffix.lower() != ".npz":
            path = path.with_name(path.name + ".npz")
        buffer = _bytes_io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        data = buffer.getvalue()
    write_atomic(path, data)


def _plain(arr: np.ndarray, name: str = "weights") -> np.ndarray:
    """int64 for integer weights, float64 otherwise; an entry neither holds exactly is refused
    (a file of an exact model must give back the same model)."""
    if arr.dtype != object:
        return arr
    if all(v.is_Integer for v in arr.ravel()):
        big = next((v for v in arr.ravel() if not -(2**63) <= int(v) < 2**63), None)
        if big is None:
            return arr.astype(np.int64)
    out = np.array([float(v) for v in arr.ravel()]).reshape(arr.shape)
    for v, f in zip(arr.ravel(), out.ravel()):
        if not np.isfinite(f) or Fraction(f) != Fraction(int(v.p), int(v.q)):
            raise SymsteerError(
                f"{name} has the entry {v}, which a file cannot hold exactly (float64 gives {float(f)!r}); "
                "expected integers within int64 or numbers float64 represents (convert the network to floats first)"
            )
    return out


def save_vector(path: str | Path, vector: Any) -> None:
    """Save a float64 vector (or batch) as ``.npy``, atomically."""
    arr = np.asarray(vector, dtype=np.float64)
    buffer = _bytes_io.BytesIO()
    np.save(buffer, arr, allow_pickle=False)
    write_atomic(path, buffer.getvalue())


# -- vectors --------------------------------------------------------------------------------


#: the largest decimal exponent a typed number may have (``1e400`` is a fine rational; ``1e999999999`` is
#: a number with a billion digits)
MAX_DECIMAL_EXPONENT = 4000
#: the longest typed number, in characters (parsing digits takes time quadratic in their count)
MAX_NUMBER_CHARS = 10_000


def parse_vector(text: str, *, name: str) -> list[Fraction]:
    """Comma-separated exact numbers: integers, decimals or fractions (``1, -2/3, 0.5``)."""
    out = []
    for i, part in enumerate(text.split(",")):
        part = part.strip()
        if len(part) > MAX_NUMBER_CHARS:  # parsing digits is quadratic; a typed number this long is a mistake
            raise SymsteerError(f"{name}: entry {i} has {len(part)} characters; expected a number of at most {MAX_NUMBER_CHARS}")
        exponent = re.search(r"[eE]\s*([+-]?\d+)\s*$", part)
        if exponent and abs(int(exponent.group(1))) > MAX_DECIMAL_EXPONENT:
            # Fraction('1e999999999') builds 10**999999999 exactly: it would never finish
            raise SymsteerError(
                f"{name}: entry {i} is {shown(part)!r}: exponent {int(exponent.group(1))} is out of range; "
                f"expected a number with |exponent| ≤ {MAX_DECIMAL_EXPONENT}"
            )
        try:
            out.append(Fraction(part))
        except (ValueError, ZeroDivisionError):
            raise SymsteerError(f"{name}: entry {i} is {shown(part)!r}; expected a number such as 2, -1/3 or 0.5") from None
    return out


def load_vector(value: str, *, name: str) -> Any:
    """A vector from a ``.npy`` file (``allow_pickle=False``) or from comma-separated numbers."""
    if value.endswith(".npy"):
        arr = readers.read_npy(value, what=f"{name}: a .npy array (1-d, or a 2-d batch)")
        if arr.dtype.kind not in "fiu" or arr.ndim not in (1, 2):
            raise InputFileError(f"{name}: {shown(value)} holds dtype {arr.dtype}, shape {arr.shape}; expected a 1-d (or batch 2-d) numeric array")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise InputFileError(f"{name}: {shown(value)} has NaN or infinite entries; expected finite numbers")
        return arr
    return parse_vector(value, name=name)


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Write a whole file or nothing (see :func:`symsteer.files.write_output`): a regular file is
    replaced atomically and keeps its mode, a device or pipe is written straight."""
    write_output(path, text)
