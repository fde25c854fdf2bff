"""Model and vector files in and out. Files are data: never unpickled, never evaluated.

Formats: ``.npz`` (``allow_pickle=False``), ``.safetensors`` (the numpy API: no torch
needed) and PyTorch state dicts ``.pt`` / ``.pth`` / ``.bin`` (``torch.load(weights_only=True)``,
when torch is installed). Key layouts: symsteer's own (``layers.{l}.W`` …), the bilinear-MLP
research code's (one linear layer of width 2h holding W and V stacked), and any other one
through a key map: a small TOML file naming the key of each role.
"""

from __future__ import annotations

import io as _bytes_io
import re
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from . import readers
from .errors import InputFileError, SymsteerError
from .files import open_input, shown, write_output
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


# -- model layouts live in symsteer.layouts; re-exported here for existing imports ------------


def load_model(path: str | Path, **options: Any) -> Network:
    """Load a network from a weight file (see :func:`symsteer.layouts.load_model`)."""
    from .layouts import load_model as _load

    return _load(path, **options)


# -- network → files ----------------------------------------------------------------------


def model_to_arrays(network: Network) -> dict[str, np.ndarray]:
    """The network's weights under symsteer's keys (float64, or int64 for integer weights)."""
    if network.field == "symbolic":
        raise SymsteerError("cannot save symbolic weights; expected a network with numbers")
    network.require_stack("symsteer's file layout")
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


def __getattr__(name: str) -> Any:
    # the layouts moved to symsteer.layouts; old imports (symsteer.io.LAYOUTS …) keep working
    if name in ("KeyMap", "LAYOUTS", "load_key_map", "model_arrays", "ROLES"):
        from . import layouts

        return getattr(layouts, name)
    raise AttributeError(f"module 'symsteer.io' has no attribute {name!r}")
