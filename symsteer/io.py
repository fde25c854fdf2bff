"""Model and vector files in and out. Files are data: never unpickled, never evaluated."""

from __future__ import annotations

import re
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputFileError, SymsteerError
from .layer import Bilinear
from .network import Network

__all__ = ["load_model", "save_model", "load_vector", "parse_vector", "model_arrays", "write_atomic"]

_LAYER_KEY = re.compile(r"^layers\.(\d+)\.(W|V|P|b|c)$")
_OTHER_KEYS = {"embed", "unembed", "residual"}


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise InputFileError(f"{path}: no such file; expected a model file (.npz)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise InputFileError(f"{path}: holds a single array; expected an .npz archive of named arrays")
            return {key: data[key] for key in data.files}
    except InputFileError:
        raise
    except ValueError as exc:  # object arrays need pickle, which we refuse
        raise InputFileError(f"{path}: cannot be read without unpickling ({exc}); expected plain numeric arrays") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise InputFileError(f"{path}: not a readable .npz archive ({exc.__class__.__name__}: {exc})") from None


def model_arrays(arrays: dict[str, np.ndarray], *, source: str, residual: bool | None = None) -> Network:
    """A network from arrays named ``layers.{l}.W|V|P|b|c``, ``embed``, ``unembed``, ``residual``."""
    layers: dict[int, dict[str, np.ndarray]] = {}
    unknown = []
    for key, arr in arrays.items():
        m = _LAYER_KEY.match(key)
        if m:
            layers.setdefault(int(m[1]), {})[m[2]] = arr
        elif key not in _OTHER_KEYS:
            unknown.append(key)
    expected = "layers.{l}.W, layers.{l}.V, layers.{l}.P (optional layers.{l}.b, layers.{l}.c), embed, unembed, residual"
    if unknown:
        raise InputFileError(f"{source}: unknown arrays {sorted(unknown)}; expected {expected}")
    if not layers:
        raise InputFileError(f"{source}: no layer arrays among {sorted(arrays)}; expected {expected}")
    if sorted(layers) != list(range(len(layers))):
        raise InputFileError(f"{source}: layer indices {sorted(layers)}; expected 0 … {len(layers) - 1} without gaps")
    for key, arr in arrays.items():
        if arr.dtype.kind not in "fiu" and key != "residual":
            raise InputFileError(f"{source}: array {key} has dtype {arr.dtype}; expected integers or floats")
    if residual is None:
        flag = arrays.get("residual")
        if flag is not None and (flag.shape != () or flag.dtype.kind not in "biu"):
            raise InputFileError(f"{source}: 'residual' has shape {flag.shape} and dtype {flag.dtype}; expected a 0-d boolean")
        residual = bool(flag) if flag is not None else False
    built = []
    try:
        for l in range(len(layers)):
            parts = layers[l]
            missing = [k for k in "WVP" if k not in parts]
            if missing:
                raise InputFileError(f"{source}: layer {l} misses {', '.join(f'layers.{l}.{k}' for k in missing)}")
            built.append(Bilinear(parts["W"], parts["V"], parts["P"], b=parts.get("b"), c=parts.get("c"), name=f"layers[{l}]"))
        return Network(tuple(built), residual=residual, embed=arrays.get("embed"), unembed=arrays.get("unembed"))
    except InputFileError:
        raise
    except SymsteerError as exc:
        raise InputFileError(f"{source}: {exc}") from None


def load_model(path: str | Path, *, residual: bool | None = None) -> Network:
    """Load a network from an ``.npz`` file in symsteer's layout (``allow_pickle=False``).

    ``residual`` overrides the file's ``residual`` flag (plain if the file has none).
    """
    path = Path(path)
    return model_arrays(_read_npz(path), source=str(path), residual=residual)


def save_model(network: Network, path: str | Path) -> None:
    """Save a network with concrete weights in symsteer's ``.npz`` layout (float64 or int64)."""
    if network.field == "symbolic":
        raise SymsteerError("cannot save symbolic weights; expected a network with numbers")
    arrays: dict[str, Any] = {"residual": np.bool_(network.residual)}
    for l, layer in enumerate(network.layers):
        for key in ("W", "V", "P", "b", "c"):
            if getattr(layer, key) is not None:
                arrays[f"layers.{l}.{key}"] = _plain(getattr(layer, key))
    for key in ("embed", "unembed"):
        if getattr(network, key) is not None:
            arrays[key] = _plain(getattr(network, key))
    np.savez_compressed(path, **arrays)


def _plain(arr: np.ndarray) -> np.ndarray:
    if arr.dtype != object:
        return arr
    if all(v.is_Integer for v in arr.ravel()):
        return arr.astype(np.int64)
    return np.array([float(v) for v in arr.ravel()]).reshape(arr.shape)


def parse_vector(text: str, *, name: str) -> list[Fraction]:
    """Comma-separated exact numbers: integers, decimals or fractions (``1, -2/3, 0.5``)."""
    out = []
    for i, part in enumerate(text.split(",")):
        part = part.strip()
        try:
            out.append(Fraction(part))
        except (ValueError, ZeroDivisionError):
            raise SymsteerError(f"{name}: entry {i} is {part!r}; expected a number such as 2, -1/3 or 0.5") from None
    return out


def load_vector(value: str, *, name: str) -> Any:
    """A vector from a ``.npy`` file (``allow_pickle=False``) or from comma-separated numbers."""
    if value.endswith(".npy"):
        path = Path(value)
        if not path.exists():
            raise InputFileError(f"{name}: {path} does not exist; expected a .npy file or comma-separated numbers")
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputFileError(f"{name}: {path} is not a readable .npy array ({exc})") from None
        if arr.dtype.kind not in "fiu" or arr.ndim not in (1, 2):
            raise InputFileError(f"{name}: {path} holds dtype {arr.dtype}, shape {arr.shape}; expected a 1-d (or batch 2-d) numeric array")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise InputFileError(f"{name}: {path} has NaN or infinite entries; expected finite numbers")
        return arr
    return parse_vector(value, name=name)


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Write a whole file or nothing: a temporary file beside it, then a rename.

    An interrupted run (Ctrl-C, a crash) leaves no partial file behind.
    """
    import os
    import tempfile

    path = Path(path)
    mode = "wb" if isinstance(text, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
