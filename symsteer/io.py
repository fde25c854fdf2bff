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
import json
import re
import struct
import zipfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import InputFileError, ShapeError, SymsteerError
from .blocks import Bilinear
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
    """Every named array in a weight file, as numpy arrays (nothing unpickled)."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such file; expected a model file ({_FORMATS})")
    if path.is_dir():
        raise InputFileError(f"{path}: is a directory; expected a model file ({_FORMATS})")
    kind = _SUFFIXES.get(path.suffix.lower()) or _sniff(path)
    return {"npz": _read_npz, "safetensors": _read_safetensors, "torch": _read_torch}[kind](path)


def _sniff(path: Path) -> str:
    """The format from the first bytes, for files without a known suffix."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if head[:4] == b"PK\x03\x04":  # a zip: numpy's archive, or torch's (which holds a .pkl member)
        try:
            with zipfile.ZipFile(path) as archive:
                return "torch" if any(n.endswith(".pkl") for n in archive.namelist()) else "npz"
        except zipfile.BadZipFile:
            return "npz"
    if len(head) == 9 and head[8:9] == b"{":  # safetensors: 8-byte header length, then JSON
        return "safetensors"
    if head[:1] == b"\x80":  # a bare pickle: only torch.load(weights_only=True) may read it
        return "torch"
    return "npz"


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as handle:
        head = handle.read(6)
    if head[:4] != b"PK\x03\x04" and head != b"\x93NUMPY":  # numpy would otherwise try it as a pickle
        raise InputFileError(f"{path}: not a readable .npz archive (it does not start like a zip file)")
    try:
        # our own handle: numpy leaks the file it opened when the archive turns out broken
        with open(path, "rb") as handle:
            data = np.load(handle, allow_pickle=False)
            if not hasattr(data, "files"):
                raise InputFileError(f"{path}: holds a single array; expected an .npz archive of named arrays")
            with data:
                return {key: data[key] for key in data.files}
    except InputFileError:
        raise
    except ValueError as exc:  # object arrays need pickle, which we refuse
        raise InputFileError(f"{path}: cannot be read without unpickling ({exc}); expected plain numeric arrays") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise InputFileError(f"{path}: not a readable .npz archive ({exc.__class__.__name__}: {exc})") from None


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    try:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
    except ImportError:  # pragma: no cover - safetensors is a dependency
        raise InputFileError(f"{path}: reading .safetensors needs the safetensors package (pip install safetensors)") from None
    try:
        return load_file(path)
    except TypeError as exc:
        if "bfloat16" in str(exc):  # numpy has no bfloat16: widen it ourselves
            return _read_safetensors_bf16(path)
        raise InputFileError(f"{path}: not a readable .safetensors file ({exc})") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputFileError(f"{path}: not a readable .safetensors file ({exc})") from None


def _read_safetensors_bf16(path: Path) -> dict[str, np.ndarray]:
    """A safetensors file with bfloat16 tensors, read from its JSON header (bfloat16 → float32 exactly)."""
    from safetensors import safe_open

    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    data = memoryview(raw)[8 + size :]
    out = {}
    with safe_open(path, framework="np") as handle:
        for key, spec in header.items():
            if key == "__metadata__":
                continue
            if spec["dtype"] == "BF16":
                start, stop = spec["data_offsets"]
                half = np.frombuffer(data[start:stop], dtype="<u2").astype(np.uint32) << 16
                out[key] = half.view(np.float32).reshape(spec["shape"])
            else:
                out[key] = handle.get_tensor(key)
    return out


#: where a training checkpoint keeps its weights, when the file holds more than a state dict
_STATE_KEYS = ("state_dict", "model_state_dict", "model")


def _read_torch(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise InputFileError(
            f"{path}: a PyTorch file needs torch (pip install torch, symsteer's optional 'torch' extra); "
            "or save the state dict as .safetensors"
        ) from None
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds; the message says which
        raise InputFileError(f"{path}: not a readable PyTorch state dict with weights_only=True ({exc.__class__.__name__}: {exc})") from None
    if isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        nested = [k for k in _STATE_KEYS if isinstance(obj.get(k), Mapping)]
        if nested:
            obj = obj[nested[0]]
    if not isinstance(obj, Mapping):
        raise InputFileError(f"{path}: holds a {type(obj).__name__}; expected a state dict (name → tensor)")
    out = {}
    for key, value in obj.items():
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu()
            if t.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it exactly
                t = t.float()
            out[str(key)] = t.numpy()
        elif isinstance(value, (bool, int, float)):
            out[str(key)] = np.asarray(value)
        else:
            raise InputFileError(f"{path}: entry {key!r} is a {type(value).__name__}; expected tensors (a state dict)")
    return out


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


def parse_vector(text: str, *, name: str) -> list[Fraction]:
    """Comma-separated exact numbers: integers, decimals or fractions (``1, -2/3, 0.5``)."""
    out = []
    for i, part in enumerate(text.split(",")):
        part = part.strip()
        exponent = re.search(r"[eE]\s*([+-]?\d+)\s*$", part)
        if exponent and abs(int(exponent.group(1))) > MAX_DECIMAL_EXPONENT:
            # Fraction('1e999999999') builds 10**999999999 exactly: it would never finish
            raise SymsteerError(
                f"{name}: entry {i} is {part!r}: exponent {int(exponent.group(1))} is out of range; "
                f"expected a number with |exponent| ≤ {MAX_DECIMAL_EXPONENT}"
            )
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
    if path.is_dir():
        raise ShapeError(f"output {path} is a directory; expected a file name")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # no such folder, no permission, read-only file system
        raise ShapeError(f"output {path} cannot be written ({exc.strerror}); expected a file in an existing, writable folder") from None
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def __getattr__(name: str) -> Any:
    # the layouts moved to symsteer.layouts; old imports (symsteer.io.LAYOUTS …) keep working
    if name in ("KeyMap", "LAYOUTS", "load_key_map", "model_arrays", "ROLES"):
        from . import layouts

        return getattr(layouts, name)
    raise AttributeError(f"module 'symsteer.io' has no attribute {name!r}")
