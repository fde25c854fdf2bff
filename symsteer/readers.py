"""Arrays out of files, sizes first: every reader learns each array's shape and dtype from the
file's headers (npy headers, an .npz's zip directory, safetensors metadata, torch tensors'
shapes) and refuses, with the size, anything over :data:`MAX_ENTRIES` before it materialises
a single array. Nothing is unpickled; torch files are read with ``weights_only=True``.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Mapping

import numpy as np

from .errors import InputFileError
from .files import open_input, shown

__all__ = ["MAX_ENTRIES", "MAX_ARRAYS", "read_npy", "read_npz", "read_safetensors", "read_torch"]

#: the most numbers one file may hold, all its arrays together (800 MB as float64)
MAX_ENTRIES = 10**8
#: the most arrays one file may hold
MAX_ARRAYS = 100_000
#: the largest bytes per entry (complex128; strings are refused later, but must not be huge here)
_MAX_ITEMSIZE = 16
#: the largest .npy header numpy itself reads without being told to trust the file
_MAX_NPY_HEADER = 10_000
#: the largest safetensors JSON header
_MAX_JSON_HEADER = 1 << 24

_MODEL = "a model file (.npz, .safetensors, .pt/.pth/.bin)"


class _Budget:
    """Entries counted over one file's arrays, refused once past :data:`MAX_ENTRIES`."""

    def __init__(self, source: str) -> None:
        self.source, self.total, self.count = source, 0, 0

    def add(self, key: str, shape: tuple[int, ...], itemsize: int) -> int:
        if any(not isinstance(n, int) or n < 0 for n in shape):
            raise InputFileError(f"{self.source}: array {shown(key, name=True)} declares shape {shape}; expected non-negative sizes")
        entries = math.prod(shape)
        self.total += entries
        self.count += 1
        if self.count > MAX_ARRAYS:
            raise InputFileError(f"{self.source}: more than {MAX_ARRAYS} arrays; expected at most {MAX_ARRAYS}")
        if self.total > MAX_ENTRIES:
            raise InputFileError(
                f"{self.source}: array {shown(key, name=True)} of shape {shape} brings the file to {self.total} numbers; "
                f"expected at most {MAX_ENTRIES} (checked before reading them)"
            )
        if itemsize > _MAX_ITEMSIZE:
            raise InputFileError(f"{self.source}: array {shown(key, name=True)} has {itemsize}-byte entries; expected numbers")
        return entries * itemsize


# -- .npy ----------------------------------------------------------------------------------------


def _npy_header(handle: BinaryIO, source: str, key: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(handle, max_header_size=_MAX_NPY_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(handle, max_header_size=_MAX_NPY_HEADER)
        else:
            raise ValueError(f"format version {version}; expected 1.0 or 2.0")
    except Exception as exc:  # noqa: BLE001 - numpy parses the header with tokenize and ast: many kinds
        text = str(exc)
        if "allow_pickle" in text or "max_header_size" in text:  # numpy's advice is to trust the file: never
            text = f"header longer than {_MAX_NPY_HEADER} bytes"
        raise InputFileError(f"{source}: {key} is not a readable .npy array ({shown(text.splitlines()[0] if text else exc.__class__.__name__)})") from None
    if dtype.hasobject:
        raise InputFileError(f"{source}: {key} holds Python objects (dtype {dtype}) and cannot be read without unpickling; expected plain numeric arrays")
    return tuple(shape), bool(fortran), dtype


def _npy_data(handle: BinaryIO, shape: tuple[int, ...], fortran: bool, dtype: np.dtype, nbytes: int, source: str, key: str) -> np.ndarray:
    data = handle.read(nbytes)
    if len(data) != nbytes:
        raise InputFileError(f"{source}: {key} is truncated ({len(data)} of {nbytes} bytes of data); expected a whole .npy array")
    arr = np.frombuffer(data, dtype=dtype)
    return arr.reshape(shape, order="F" if fortran else "C").copy()


def read_npy(path: str | Path, *, what: str) -> np.ndarray:
    """One array from a ``.npy`` file, its header checked before its data is read."""
    source = shown(path)
    with open_input(path, what=what) as handle:
        head = handle.read(6)
        if head[:4] == b"PK\x03\x04":
            raise InputFileError(f"{source}: is an .npz archive (a zip of arrays); expected {what}")
        handle.seek(0)
        shape, fortran, dtype = _npy_header(handle, source, "the file")
        nbytes = _Budget(source).add("the array", shape, dtype.itemsize)
        return _npy_data(handle, shape, fortran, dtype, nbytes, source, "the file")


# -- .npz ----------------------------------------------------------------------------------------


def _zip_members(archive: zipfile.ZipFile, source: str) -> list[zipfile.ZipInfo]:
    """The members of a zip, refused when numpy (or torch) never writes them that way."""
    infos = archive.infolist()
    if len(infos) > MAX_ARRAYS:
        raise InputFileError(f"{source}: {len(infos)} members; expected at most {MAX_ARRAYS}")
    for info in infos:
        name = shown(info.filename, name=True)
        if info.flag_bits & 0x1:
            raise InputFileError(f"{source}: member {name} is encrypted; expected an unencrypted archive")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise InputFileError(f"{source}: member {name} uses compression method {info.compress_type}; expected stored or deflated (what numpy and torch write)")
    return infos


def _zip_error(source: str, exc: BaseException) -> InputFileError:
    if isinstance(exc, zlib.error):
        return InputFileError(f"{source}: corrupt compressed data ({shown(exc)}); expected an intact .npz archive")
    return InputFileError(f"{source}: not a readable .npz archive ({exc.__class__.__name__}: {shown(exc)})")


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz``: the zip directory and each member's npy header are read (and
    the sizes checked) before any data is inflated."""
    source = shown(path)
    with open_input(path, what=_MODEL) as handle:
        head = handle.read(6)
        if head == b"\x93NUMPY":
            raise InputFileError(f"{source}: holds a single array; expected an .npz archive of named arrays")
        if head[:4] == b"PK\x05\x06":  # only the end of a zip directory: np.savez() given no arrays
            raise InputFileError(f"{source}: an empty zip archive (no arrays); expected an .npz archive of named arrays")
        if head[:4] != b"PK\x03\x04":  # numpy would otherwise try it as a pickle
            raise InputFileError(f"{source}: not a readable .npz archive (it {'is empty' if not head else 'does not start like a zip file'})")
        handle.seek(0)
        try:
            with zipfile.ZipFile(handle) as archive:
                infos = _zip_members(archive, source)
                budget = _Budget(source)
                plan = []
                seen: set[str] = set()
                for info in infos:
                    if not info.filename.endswith(".npy"):
                        raise InputFileError(f"{source}: member {shown(info.filename, name=True)} is not a .npy array; expected only .npy members")
                    key = info.filename[:-4]
                    if key in seen:
                        raise InputFileError(f"{source}: two members named {shown(info.filename, name=True)}; expected unique names")
                    seen.add(key)
                    with archive.open(info) as member:
                        shape, fortran, dtype = _npy_header(member, source, f"member {shown(info.filename, name=True)}")
                    plan.append((info, key, shape, fortran, dtype, budget.add(key, shape, dtype.itemsize)))
                out = {}
                for info, key, shape, fortran, dtype, nbytes in plan:
                    with archive.open(info) as member:
                        _npy_header(member, source, key)
                        out[key] = _npy_data(member, shape, fortran, dtype, nbytes, source, f"member {shown(info.filename, name=True)}")
                return out
        except InputFileError:
            raise
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError, NotImplementedError, RuntimeError) as exc:
            raise _zip_error(source, exc) from None


# -- .safetensors -------------------------------------------------------------------------------

#: safetensors dtypes numpy can hold (BF16 widened to float32 exactly)
_SAFETENSORS = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
                "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice")
        out[key] = value
    return out


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a ``.safetensors`` file, from its JSON header: dtypes, shapes and byte
    ranges are checked (and the sizes counted) before any data is read."""
    source = shown(path)

    def bad(why: str) -> InputFileError:
        return InputFileError(f"{source}: not a readable .safetensors file ({why})")

    with open_input(path, what=_MODEL) as handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(8)
        if len(head) < 8:
            raise bad("shorter than its 8-byte header length")
        (length,) = struct.unpack("<Q", head)
        if length > _MAX_JSON_HEADER or 8 + length > size:
            raise bad(f"header length {length} for a file of {size} bytes; expected at most {min(_MAX_JSON_HEADER, size - 8)}")
        try:
            header = json.loads(handle.read(length).decode("utf-8"), object_pairs_hook=_no_duplicates)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise bad(f"header is not JSON: {shown(exc)}") from None
        if not isinstance(header, dict):
            raise bad("header is not a JSON object")
        budget = _Budget(source)
        specs = []
        end = 0
        for key, spec in header.items():
            if key == "__metadata__":
                continue
            name = shown(key, name=True)
            if not isinstance(spec, dict) or not {"dtype", "shape", "data_offsets"} <= set(spec):
                raise bad(f"tensor {name} has no dtype, shape and data_offsets")
            dtype, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
            if not isinstance(dtype, str) or dtype not in _SAFETENSORS:
                raise InputFileError(f"{source}: tensor {name} has dtype {shown(dtype)}; expected one of {', '.join(_SAFETENSORS)}")
            if (not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape)
                    or not isinstance(offsets, list) or len(offsets) != 2 or not all(type(n) is int and n >= 0 for n in offsets)
                    or offsets[0] > offsets[1]):
                raise bad(f"tensor {name} has shape {shown(shape)} and data_offsets {shown(offsets)}; expected lists of non-negative integers")
            item = np.dtype(_SAFETENSORS[dtype])
            nbytes = budget.add(key, tuple(shape), item.itemsize)
            if offsets[1] - offsets[0] != nbytes:
                raise bad(f"tensor {name} of shape {tuple(shape)} and dtype {dtype} needs {nbytes} bytes; data_offsets give {offsets[1] - offsets[0]}")
            end = max(end, offsets[1])
            specs.append((key, dtype, tuple(shape), offsets[0], offsets[1]))
        if 8 + length + end > size:
            raise bad(f"the tensors need {end} bytes of data; the file holds {size - 8 - length}")
        data = handle.read(end)
    out = {}
    for key, dtype, shape, start, stop in specs:
        arr = np.frombuffer(data, dtype=_SAFETENSORS[dtype], count=math.prod(shape), offset=start) if stop > start else np.zeros(0, _SAFETENSORS[dtype])
        if dtype == "BF16":  # numpy has no bfloat16; float32 holds it exactly
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[key] = arr.reshape(shape).copy()
    return out


# -- PyTorch --------------------------------------------------------------------------------------

#: where a training checkpoint keeps its weights, when the file holds more than a state dict
_STATE_KEYS = ("state_dict", "model_state_dict", "model")


def _torch_refusal(exc: BaseException) -> str:
    """torch's error, one line, without its advice to load with ``weights_only=False`` (never)."""
    text = str(exc)
    unsupported = re.search(r"WeightsUnpickler error:\s*([^\n]*?)(?: was not an allowed global| Please|\n|$)", text)
    if unsupported and unsupported.group(1).startswith("Unsupported operand"):  # not a pickle torch.save writes
        return f"not a readable PyTorch state dict (its pickle is corrupt: {shown(unsupported.group(1))}); expected a state dict of tensors"
    if "weights_only" in text or unsupported:
        what = unsupported.group(1) if unsupported else "objects outside the allowed tensor types"
        return f"holds Python objects that only unpickling could build ({shown(what)}); refused: files are data, expected a state dict of tensors"
    first = next((line for line in text.splitlines() if line.strip()), exc.__class__.__name__)
    return f"not a readable PyTorch state dict ({exc.__class__.__name__}: {shown(first[:300])})"


def read_torch(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch state dict (``torch.load(weights_only=True)``): the zip's
    directory is checked first, each tensor's kind, dtype and shape before it is converted
    (a stride-0 ``expand`` view counts its full shape)."""
    source = shown(path)
    try:
        import torch
    except ImportError:
        raise InputFileError(
            f"{source}: a PyTorch file needs torch (pip install torch, symsteer's optional 'torch' extra); "
            "or save the state dict as .safetensors"
        ) from None
    with open_input(path, what=_MODEL) as handle:
        head = handle.read(4)
        handle.seek(0)
        if head[:1] != b"\x80" and head != b"PK\x03\x04":  # neither a zip nor a pickle (protocol 2+)
            raise InputFileError(f"{source}: not a PyTorch file ({'it is empty' if not head else 'it starts neither like a zip nor like a pickle'}); "
                                 "expected the zip format torch.save writes, or .safetensors")
        if head != b"PK\x03\x04":
            raise InputFileError(
                f"{source}: a PyTorch file in the legacy format (before torch 1.6), whose sizes cannot be checked before "
                "loading; expected the zip format torch.save writes, or .safetensors"
            )
        try:
            with zipfile.ZipFile(handle) as archive:
                declared = sum(i.file_size for i in _zip_members(archive, source))
        except InputFileError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise InputFileError(f"{source}: not a readable PyTorch file ({exc.__class__.__name__}: {shown(exc)})") from None
        if declared > MAX_ENTRIES * 8:
            raise InputFileError(f"{source}: its members hold {declared} bytes; expected at most {MAX_ENTRIES * 8}")
        handle.seek(0)
        try:
            with warnings.catch_warnings():  # torch's deprecation notes are not the user's business
                warnings.simplefilter("ignore")
                obj = torch.load(handle, weights_only=True, map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - torch raises many kinds; the message says which
            raise InputFileError(f"{source}: {_torch_refusal(exc)}") from None
    if isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        nested = [k for k in _STATE_KEYS if isinstance(obj.get(k), Mapping)]
        if nested:
            obj = obj[nested[0]]
    if not isinstance(obj, Mapping):
        raise InputFileError(f"{source}: holds a {type(obj).__name__}; expected a state dict (name → tensor)")
    allowed = {torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
               torch.int8, torch.uint8, torch.bool}
    budget = _Budget(source)
    for key, value in obj.items():
        name = shown(key, name=True)
        if isinstance(value, torch.Tensor):
            kind = ("sparse" if value.layout != torch.strided else "quantized" if value.is_quantized else
                    "nested" if value.is_nested else "meta (no data)" if value.is_meta else None)
            if kind:
                raise InputFileError(f"{source}: tensor {name} is a {kind} tensor; expected a dense tensor of numbers")
            if value.dtype not in allowed:
                raise InputFileError(f"{source}: tensor {name} has dtype {value.dtype}; expected integers, floats or bool")
            budget.add(str(key), tuple(value.shape), value.element_size())
        elif not isinstance(value, (bool, int, float)):
            raise InputFileError(f"{source}: entry '{name}' is a {type(value).__name__}; expected tensors (a state dict)")
    out = {}
    for key, value in obj.items():
        if isinstance(value, torch.Tensor):
            t = value.detach()
            if t.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it exactly
                t = t.float()
            out[str(key)] = t.numpy()
        else:
            out[str(key)] = np.asarray(value)
    return out
