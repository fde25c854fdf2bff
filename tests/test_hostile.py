"""Hostile input: each row builds a hostile file or situation, runs the CLI, and checks the exit
code, the one line it prints, and that nothing was written, replaced or left behind.

Rows that could hang (FIFOs, /dev/zero) or eat memory (size bombs) run in a subprocess with a
time limit and an address-space cap (RLIMIT_AS), so a regression fails instead of hanging or
swapping. The README's tables of bad inputs and limits describe what these rows check.
"""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from symsteer import cli

ROOT = Path(cli.__file__).parent.parent
GOOD = {"layers.0.W": np.ones((2, 2)), "layers.0.V": np.ones((2, 2)), "layers.0.P": np.ones((2, 2))}

CLAIM = '''id = "c"
title = "t"
quote = "q"
statement = "B(a*x) == a**2 * B(x)"
expected = "holds"

[model]
layers = [1]
sizes = [[1, 1]]
'''


# -- builders --------------------------------------------------------------------------------


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=arr.dtype.hasobject)
    return buf.getvalue()


def npy_header(descr: str, shape: tuple, *, version: int = 1, pad: int = 0) -> bytes:
    """An .npy header declaring ``shape`` and ``descr`` (no data follows unless appended)."""
    text = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape!r}, }}" + " " * pad
    size = 4 if version >= 2 else 2
    total = 6 + 2 + size + len(text) + 1
    text += " " * (-total % 64) + "\n"
    length = struct.pack("<I" if version >= 2 else "<H", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + length + text.encode("latin1")


def npz(members: dict[str, bytes] | None = None, *, deflate: bool = False, **arrays: np.ndarray) -> bytes:
    import warnings

    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        warnings.simplefilter("ignore")  # duplicate names are one of the hostile cases
        for name, arr in arrays.items():
            z.writestr(name + ".npy", npy(arr))
        for name, data in (members or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


def patched_zip(data: bytes, *, flags: int | None = None, method: int | None = None) -> bytes:
    """A zip with the general-purpose flags or the compression method of every member changed,
    in the local headers and the central directory alike."""
    out = bytearray(data)
    for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = out.find(sig)
        while i >= 0:
            if flags is not None:
                out[i + at : i + at + 2] = struct.pack("<H", flags)
            if method is not None:
                out[i + at + 2 : i + at + 4] = struct.pack("<H", method)
            i = out.find(sig, i + 4)
    return bytes(out)


def _central_version(data: bytes, version: int) -> bytes:
    """A zip whose central directory says its first member needs zip version ``version / 10``."""
    out = bytearray(data)
    i = out.find(b"PK\x01\x02")
    out[i + 6 : i + 8] = struct.pack("<H", version)
    return bytes(out)


def corrupt_deflate() -> bytes:
    data = npz(deflate=True, **{k: np.arange(400.0).reshape(20, 20) for k in GOOD})
    out = bytearray(data)
    start = 30 + len("layers.0.W.npy")
    out[start + 5 : start + 60] = b"\xff" * 55
    return bytes(out)


def bomb_npz(shape: tuple, descr: str = "|u1") -> bytes:
    """An .npz whose member declares ``shape`` and holds all its (zero) bytes, deflated: small on
    disk, large in memory."""
    count = int(np.prod(shape)) * np.dtype(descr).itemsize
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("layers.0.W.npy", "w", force_zip64=True) as member:
            member.write(npy_header(descr, shape))
            chunk = bytes(1 << 24)
            for _ in range(count >> 24):
                member.write(chunk)
            member.write(bytes(count & ((1 << 24) - 1)))
        for k in ("layers.0.V", "layers.0.P"):
            z.writestr(k + ".npy", npy(np.ones((2, 2))))
    return buf.getvalue()


def st(header: Any, data: bytes = b"", *, length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def st_tensor(dtype: str = "F64", shape: list | None = None, offsets: list | None = None) -> dict:
    shape = [2, 2] if shape is None else shape
    return {"dtype": dtype, "shape": shape, "data_offsets": offsets or [0, 32]}


def st_good(**override: dict) -> dict:
    header = {}
    for i, k in enumerate(GOOD):
        header[k] = st_tensor(offsets=[32 * i, 32 * i + 32])
    header.update(override)
    return header


def torch_file(build: Callable[[Any], Any]) -> Callable[[Path], None]:
    """A builder that saves what ``build(torch)`` returns (the row is skipped without torch)."""

    def make(path: Path) -> None:
        torch = pytest.importorskip("torch")
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.save(build(torch), path)

    return make


def torch_good(torch: Any, **override: Any) -> dict:
    return {**{k: torch.ones(2, 2, dtype=torch.float64) for k in GOOD}, **override}


def legacy_torch(path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.save(torch_good(torch), path, _use_new_zipfile_serialization=False)


class Evil:
    def __reduce__(self) -> tuple:
        return (eval, ("print('PAYLOAD RAN')",))


def fifo(path: Path) -> None:
    os.mkfifo(path)


def link_to(target: str) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(target)


def directory(path: Path) -> None:
    path.mkdir()


def full_device(path: Path) -> None:
    """A private /dev/full (a regression that replaces devices replaces this one, not the system's)."""
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))


def big_text(size: int) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(b"# " + b"x" * size + b"\n" + CLAIM.encode())


# -- the table --------------------------------------------------------------------------------

M = ["expand", "--model", "m.npz"]
MS = ["expand", "--model", "m.safetensors"]
MT = ["expand", "--model", "m.pt"]
S = ["expand", "--model", "g.npz", "--x", "1,1", "--s"]
SN = S + ["s.npy"]
KEYS = ["effect", "g.npz", "--steer-at", "0", "--s", "1,1", "--keys", "k.toml"]
V = ["verify", "c.toml"]
FILES_GOOD = {"g.npz": npz(**GOOD)}
SLOW, MULTI = "subprocess", "multi-line"

# (id, files, args, exit code, message part[, "subprocess"]); a file's content is bytes, text, or a
# builder called with its path
HOSTILE: list[tuple] = [
    # .npy vectors
    ("npy bad magic", {"s.npy": b"NOTNUMPY" + b"\0" * 40}, SN, 3, "s.npy: the file is not a readable .npy array"),
    ("npy empty file", {"s.npy": b""}, SN, 3, "s.npy: the file is not a readable .npy array"),
    ("npy truncated header", {"s.npy": npy(np.ones(2))[:20]}, SN, 3, "not a readable .npy array"),
    ("npy header too long", {"s.npy": npy_header("<f8", (2,), version=2, pad=20000)}, SN, 3, "header longer than 10000 bytes"),
    ("npy version 3", {"s.npy": b"\x93NUMPY\x03\x00" + npy(np.ones(2))[8:]}, SN, 3, "format version (3, 0); expected 1.0 or 2.0"),
    ("npy object dtype", {"s.npy": npy(np.array([1, None], dtype=object))}, SN, 3, "cannot be read without unpickling"),
    ("npy 10^12 entries", {"s.npy": npy_header("<f8", (10**12,))}, SN, 3, "brings the file to 1000000000000 numbers; expected at most 100000000"),
    ("npy 10^12 entries 2-d", {"s.npy": npy_header("<f8", (10**6, 10**6))}, SN, 3, "expected at most 100000000 (checked before reading them)"),
    ("npy huge itemsize", {"s.npy": npy_header("|V1000000", (3,))}, SN, 3, "has 1000000-byte entries; expected numbers"),
    ("npy data truncated", {"s.npy": npy(np.ones(100))[:-8]}, SN, 3, "is truncated (792 of 800 bytes of data)"),
    ("npy 3-d", {"s.npy": npy(np.ones((2, 1, 1)))}, SN, 3, "holds dtype float64, shape (2, 1, 1); expected a 1-d"),
    ("npy 0-d", {"s.npy": npy(np.float64(1))}, SN, 3, "shape (); expected a 1-d"),
    ("npy strings", {"s.npy": npy(np.array(["a", "b"]))}, SN, 3, "holds dtype <U1"),
    ("npy complex", {"s.npy": npy(np.ones(2, complex))}, SN, 3, "holds dtype complex128"),
    ("npy structured", {"s.npy": npy(np.zeros(2, dtype=[("a", "<f8")]))}, SN, 3, "holds dtype"),
    ("npy NaN", {"s.npy": npy(np.array([1.0, np.nan]))}, SN, 3, "s.npy has NaN or infinite entries"),
    ("npy inf", {"s.npy": npy(np.array([np.inf, 1.0]))}, SN, 3, "s.npy has NaN or infinite entries"),
    ("npy is an npz", {"s.npy": npz(**GOOD)}, SN, 3, "s.npy: is an .npz archive (a zip of arrays); expected --s: a .npy array"),
    ("npy missing", {}, SN, 3, "s.npy: no such file; expected --s"),
    ("npy is a directory", {"s.npy": directory}, SN, 3, "s.npy: is a directory, not a regular file; expected --s"),
    ("npy parent is a file", {"d": b"x"}, S + ["d/s.npy"], 3, "d/s.npy: not a path to a file (a part of it is not a directory)"),
    ("npy FIFO", {"s.npy": fifo}, SN, 3, "s.npy: is a FIFO (named pipe), not a regular file", SLOW),
    ("npy /dev/zero", {"s.npy": link_to("/dev/zero")}, SN, 3, "s.npy: is a character device, not a regular file", SLOW),
    ("npy --x empty", {"x.npy": npy(np.ones(0))}, ["expand", "--model", "g.npz", "--s", "1,1", "--x", "x.npy"], 2, "expected"),
    ("npy --h is npz", {"h.npy": npz(**GOOD), "q.npy": npy(np.ones((2, 2)))}, ["steer", "--h", "h.npy", "--q", "q.npy", "-o", "s.npy"], 3,
     "h.npy: is an .npz archive"),
    ("npy --inputs FIFO", {"i.npy": fifo}, ["effect", "g.npz", "--steer-at", "0", "--s", "1,1", "--inputs", "i.npy"], 3,
     "i.npy: is a FIFO", SLOW),
    # typed vectors
    ("text escape sequence", {}, S + ["1,\x1b[31mred"], 2, "entry 1 is '\\\\x1b[31mred'"),
    ("text byte-order mark", {}, S + ["\ufeff1,1"], 2, "entry 0 is '\\\\ufeff1'"),
    ("text 10001 digits", {}, S + ["1" * 10001 + ",1"], 2, "entry 0 has 10001 characters; expected a number of at most 10000"),
    ("text huge exponent digits", {}, S + ["1e" + "9" * 4000 + ",1"], 2, "expected a number with |exponent| ≤ 4000"),
    ("text nan", {}, S + ["nan,1"], 2, "entry 0 is 'nan'; expected a number"),
    ("text inf", {}, S + ["1,inf"], 2, "entry 1 is 'inf'; expected a number"),
    ("text empty", {}, S + [""], 2, "entry 0 is ''; expected a number"),
    ("text newline", {}, S + ["1\n2,1"], 2, "entry 0 is '1\\\\x0a2'"),
    ("text 1e4000 prints", {}, ["expand", "--model", "g.npz", "--exact", "--x", "1,1", "--s", "1e4000,1"], 0, "alpha^1"),
    ("text 5000-digit fraction", {}, ["expand", "--model", "g.npz", "--exact", "--x", "1,1", "--s", "1/" + "3" * 5000 + ",1"], 0, "alpha^1"),
    ("text 1e4000 in float64", {}, S + ["1e4000,1"], 2, "is too large for float64; expected |x| < 1.8e308, or exact numbers"),
    # .npz weights
    ("npz not a zip", {"m.npz": b"\x80\x04pickle"}, M, 3, "m.npz: not a readable .npz archive (it does not start like a zip file)"),
    ("npz empty file", {"m.npz": b""}, M, 3, "m.npz: not a readable .npz archive (it is empty)"),
    ("npz zip header only", {"m.npz": b"PK\x03\x04" + b"\0" * 26}, M, 3, "m.npz: not a readable .npz archive (BadZipFile"),
    ("npz corrupt deflate", {"m.npz": corrupt_deflate()}, M, 3, "m.npz: "),
    ("npz encrypted", {"m.npz": patched_zip(npz(**GOOD), flags=1)}, M, 3, "is encrypted; expected an unencrypted archive"),
    ("npz method 99", {"m.npz": patched_zip(npz(**GOOD), method=99)}, M, 3, "uses compression method 99; expected stored or deflated"),
    ("npz method bzip2", {"m.npz": patched_zip(npz(**GOOD), method=12)}, M, 3, "uses compression method 12"),
    ("npz member not npy", {"m.npz": npz({"readme.txt": b"hi"}, **GOOD)}, M, 3, "member readme.txt is not a .npy array; expected only .npy members"),
    ("npz malformed member", {"m.npz": npz({"layers.0.W.npy": b"garbage"}, **{k: v for k, v in GOOD.items() if k != "layers.0.W"})}, M, 3,
     "member layers.0.W.npy is not a readable .npy array"),
    ("npz malformed member is not a pickle", {"m.npz": npz({"layers.0.W.npy": b"\x80\x04garbage"})}, M, 3, "is not a readable .npy array"),
    ("npz duplicate member", {"m.npz": npz({"layers.0.W.npy": npy(np.ones((2, 2)))}, **GOOD)}, M, 3, "two members named layers.0.W.npy"),
    ("npz object member", {"m.npz": npz(**GOOD, evil=np.array([Evil()], dtype=object))}, M, 3, "member evil.npy holds Python objects"),
    ("npz member truncated", {"m.npz": npz({"layers.0.W.npy": npy(np.ones((2, 2)))[:-8]}, **{k: v for k, v in GOOD.items() if k != "layers.0.W"})},
     M, 3, "member layers.0.W.npy is truncated"),
    ("npz member declares 10^12", {"m.npz": npz({"layers.0.W.npy": npy_header("<f8", (10**6, 10**6))})}, M, 3,
     "array layers.0.W of shape (1000000, 1000000) brings the file to 1000000000000 numbers"),
    ("npz sum of members over limit", {"m.npz": npz({f"a{i}.npy": npy_header("<f8", (6 * 10**7,)) for i in range(2)})}, M, 3,
     "brings the file to 120000000 numbers; expected at most 100000000"),
    ("npz negative shape", {"m.npz": npz({"layers.0.W.npy": npy_header("<f8", (-1, 2))})}, M, 3, "m.npz: "),
    ("npz escape in member name", {"m.npz": npz(**GOOD, **{"\x1b[2Jx": np.ones(2)})}, M, 3, "\\x1b[2Jx", MULTI),
    ("npz Cyrillic in name", {"m.npz": npz(**{**GOOD, "l\u0430yers.0.P": np.ones((2, 2))})}, M, 3, "l\\u0430yers.0.P", MULTI),
    ("npz empty archive", {"m.npz": npz()}, M, 3, "m.npz: an empty zip archive (no arrays); expected an .npz archive of named arrays"),
    ("npz is a directory", {"m.npz": directory}, M, 3, "m.npz: is a directory, not a regular file; expected a model file"),
    ("npz parent is a file", {"d": b"x"}, ["expand", "--model", "d/m.npz"], 3, "d/m.npz: not a path to a file"),
    ("npz FIFO", {"m.npz": fifo}, M, 3, "m.npz: is a FIFO (named pipe), not a regular file; expected a model file", SLOW),
    ("npz /dev/zero", {"m.npz": link_to("/dev/zero")}, M, 3, "m.npz: is a character device, not a regular file", SLOW),
    ("model without suffix /dev/zero", {"m": link_to("/dev/zero")}, ["expand", "--model", "m"], 3, "m: is a character device", SLOW),
    ("npz single npy", {"m.npz": npy(np.ones(3))}, M, 3, "holds a single array; expected an .npz archive"),
    ("npz bomb", {"m.npz": lambda p: p.write_bytes(bomb_npz((11000, 10000)))}, M, 3, "brings the file to 110000000 numbers; expected at most 100000000", SLOW),
    ("npz bomb in report", {"m.npz": lambda p: p.write_bytes(bomb_npz((11000, 10000)))}, ["report", "--no-claims", "--model", "m.npz"], 3,
     "expected at most 100000000", SLOW),
    # .safetensors weights
    ("safetensors empty", {"m.safetensors": b""}, MS, 3, "shorter than its 8-byte header length"),
    ("safetensors header past end", {"m.safetensors": st({}, length=10**9)}, MS, 3, "header length 1000000000 for a file of"),
    ("safetensors header 2^64-1", {"m.safetensors": st(b"{}", length=2**64 - 1)}, MS, 3, "header length 18446744073709551615"),
    ("safetensors not JSON", {"m.safetensors": st(b"{nope")}, MS, 3, "header is not JSON"),
    ("safetensors not UTF-8", {"m.safetensors": st(b'{"\xff": 1}')}, MS, 3, "header is not JSON"),
    ("safetensors list header", {"m.safetensors": st([1, 2])}, MS, 3, "header is not a JSON object"),
    ("safetensors deep JSON", {"m.safetensors": st(b"[" * 100000 + b"]" * 100000)}, MS, 3, "header is not JSON"),
    ("safetensors float8", {"m.safetensors": st(st_good(**{"layers.0.W": st_tensor("F8_E4M3", offsets=[0, 4])}), bytes(96))}, MS, 3,
     "tensor layers.0.W has dtype F8_E4M3; expected one of F64"),
    ("safetensors float8 e5m2", {"m.safetensors": st(st_good(**{"layers.0.W": st_tensor("F8_E5M2", offsets=[0, 4])}), bytes(96))}, MS, 3,
     "dtype F8_E5M2"),
    ("safetensors unknown dtype", {"m.safetensors": st(st_good(**{"layers.0.W": st_tensor("\x1b[31m")}), bytes(96))}, MS, 3,
     "has dtype \\x1b[31m"),
    ("safetensors dtype a list", {"m.safetensors": st(st_good(**{"layers.0.W": st_tensor(["F64"])}), bytes(96))}, MS, 3, "has dtype ['F64']; expected one of"),
    ("safetensors metadata a list", {"m.safetensors": st({**st_good(), "__metadata__": [1]}, np.ones(12).tobytes())}, MS + ["--residual"], 0, "steered output"),
    ("npy header tokenizer error", {"s.npy": b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8\n"}, SN, 3, "s.npy: the file is not a readable .npy array"),
    ("npy header not a dict", {"s.npy": b"\x93NUMPY\x01\x00\x10\x00[1, 2, 3]      \n"}, SN, 3, "s.npy: the file is not a readable .npy array"),
    ("torch zip version 22.9", {"m.pt": lambda p: (torch_file(torch_good)(p), p.write_bytes(_central_version(p.read_bytes(), 229)))},
     MT, 3, "m.pt: "),
    ("safetensors spec not object", {"m.safetensors": st({"layers.0.W": 5})}, MS, 3, "tensor layers.0.W has no dtype, shape and data_offsets"),
    ("safetensors negative shape", {"m.safetensors": st(st_good(**{"layers.0.W": st_tensor(shape=[-2, 2])}), bytes(96))}, MS, 3,
     "expected lists of non-negative integers"),
    ("safetensors float shape", {"m.safetensors": st(st_good(**{"layers.0.W": st_tensor(shape=[2.0, 2])}), bytes(96))}, MS, 3,
     "expected lists of non-negative integers"),
    ("safetensors offsets reversed", {"m.safetensors": st(st_good(**{"layers.0.W": st_tensor(offsets=[32, 0])}), bytes(96))}, MS, 3,
     "expected lists of non-negative integers"),
    ("safetensors offsets mismatch", {"m.safetensors": st(st_good(**{"layers.0.W": st_tensor(offsets=[0, 8])}), bytes(96))}, MS, 3,
     "needs 32 bytes; data_offsets give 8"),
    ("safetensors data missing", {"m.safetensors": st(st_good(), bytes(40))}, MS, 3, "the tensors need 96 bytes of data; the file holds 40"),
    ("safetensors duplicate key", {"m.safetensors": st(b'{"a": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}, '
                                                       b'"a": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}', bytes(8))},
     MS, 3, "the key 'a' appears twice"),
    ("safetensors declares 10^12", {"m.safetensors": st(st_good(**{"layers.0.W": st_tensor(shape=[10**6, 10**6], offsets=[0, 8 * 10**12])}))},
     MS, 3, "brings the file to 1000000000000 numbers"),
    ("safetensors NaN", {"m.safetensors": st(st_good(), np.array([np.nan] * 12).tobytes())}, MS, 3, "expected finite numbers"),
    ("safetensors FIFO", {"m.safetensors": fifo}, MS, 3, "m.safetensors: is a FIFO", SLOW),
    # PyTorch weights
    ("torch pickle payload", {"m.pt": torch_file(lambda t: {"a": Evil()})}, MT, 3, "holds Python objects that only unpickling could build"),
    ("torch legacy format", {"m.pt": legacy_torch}, MT, 3, "a PyTorch file in the legacy format"),
    ("torch bare pickle .bin", {"m.bin": b"\x80\x04K\x01."}, ["expand", "--model", "m.bin"], 3, "legacy format"),
    ("torch sparse", {"m.pt": torch_file(lambda t: torch_good(t, **{"layers.0.W": t.eye(2, dtype=t.float64).to_sparse()}))}, MT, 3,
     "tensor layers.0.W is a sparse tensor; expected a dense tensor"),
    ("torch float8", {"m.pt": torch_file(lambda t: torch_good(t, **{"layers.0.W": t.ones(2, 2).to(t.float8_e4m3fn)}))}, MT, 3,
     "tensor layers.0.W has dtype torch.float8_e4m3fn; expected integers, floats or bool"),
    ("torch complex32", {"m.pt": torch_file(lambda t: torch_good(t, **{"layers.0.W": t.ones(2, 2, dtype=t.complex32)}))}, MT, 3,
     "has dtype torch.complex32"),
    ("torch complex64", {"m.pt": torch_file(lambda t: torch_good(t, **{"layers.0.W": t.ones(2, 2, dtype=t.complex64)}))}, MT, 3,
     "has dtype torch.complex64"),
    ("torch meta", {"m.pt": torch_file(lambda t: torch_good(t, **{"layers.0.W": t.ones(2, 2, device="meta")}))}, MT, 3,
     "tensor layers.0.W is a meta (no data) tensor"),
    ("torch quantized", {"m.pt": torch_file(lambda t: torch_good(t, **{"layers.0.W": t.quantize_per_tensor(t.ones(2, 2), 0.1, 0, t.qint8)}))}, MT, 3,
     "tensor layers.0.W is a quantized tensor"),
    ("torch nested", {"m.pt": torch_file(lambda t: torch_good(t, **{"layers.0.W": t.nested.nested_tensor([t.ones(2), t.ones(3)])}))}, MT, 3,
     "tensor layers.0.W is a nested tensor"),
    ("torch expand view 4e8", {"m.pt": torch_file(lambda t: torch_good(t, **{"layers.0.W": t.zeros(1, dtype=t.float64).expand(20000, 20000)}))},
     MT, 3, "of shape (20000, 20000) brings the file to 4000000", SLOW),
    ("torch string entry", {"m.pt": torch_file(lambda t: torch_good(t, note="\x1b]0;title\x07"))}, MT, 3, "entry 'note' is a str"),
    ("torch list", {"m.pt": torch_file(lambda t: [t.ones(2)])}, MT, 3, "holds a list; expected a state dict"),
    ("torch encrypted zip", {"m.pt": lambda p: (torch_file(torch_good)(p), p.write_bytes(patched_zip(p.read_bytes(), flags=1)))}, MT, 3,
     "is encrypted"),
    ("torch zip method 99", {"m.pt": lambda p: (torch_file(torch_good)(p), p.write_bytes(patched_zip(p.read_bytes(), method=99)))}, MT, 3,
     "uses compression method 99"),
    ("torch truncated", {"m.pt": lambda p: (torch_file(torch_good)(p), p.write_bytes(p.read_bytes()[:300]))}, MT, 3, "m.pt: not a readable PyTorch"),
    ("torch FIFO", {"m.pt": fifo}, MT, 3, "m.pt: is a FIFO", SLOW),
    ("torch empty file", {"m.pt": b""}, MT, 3, "m.pt: not a PyTorch file (it is empty)"),
    ("torch neither zip nor pickle", {"m.pt": b"garbage!"}, MT, 3, "m.pt: not a PyTorch file (it starts neither like a zip nor like a pickle)"),
    ("torch garbage data.pkl", {"m.pt": npz({"archive/data.pkl": b"garbage", "archive/version": b"3\n", "archive/byteorder": b"little"})}, MT, 3,
     "m.pt: not a readable PyTorch state dict (its pickle is corrupt: Unsupported operand 103)"),
    # key maps
    ("keys /dev/zero", {**FILES_GOOD, "k.toml": link_to("/dev/zero")}, KEYS, 3, "k.toml: is a character device, not a regular file; expected a key map", SLOW),
    ("keys FIFO", {**FILES_GOOD, "k.toml": fifo}, KEYS, 3, "k.toml: is a FIFO (named pipe), not a regular file; expected a key map", SLOW),
    ("keys directory", {**FILES_GOOD, "k.toml": directory}, KEYS, 3, "k.toml: is a directory, not a regular file"),
    ("keys missing", FILES_GOOD, KEYS, 3, "k.toml: no such file; expected a key map"),
    ("keys not TOML", {**FILES_GOOD, "k.toml": "W = \n"}, KEYS, 3, "k.toml: not valid TOML"),
    ("keys not UTF-8", {**FILES_GOOD, "k.toml": b'W = "\xff"\n'}, KEYS, 3, "k.toml: not valid TOML"),
    ("keys too large", {**FILES_GOOD, "k.toml": big_text(1 << 20)}, KEYS, 3, "bytes; expected a key map (.toml) of at most 1048576 bytes"),
    ("keys deep nesting", {**FILES_GOOD, "k.toml": "W = " + "[" * 50000 + "]" * 50000 + "\n"}, KEYS, 3, "k.toml: not valid TOML"),
    ("keys 1001 globs", {**FILES_GOOD, "k.toml": 'WV = "x"\nignore = [' + ", ".join(f'"g{i}*"' for i in range(1001)) + "]\n"}, KEYS, 3,
     "1001 ignore globs, 1 keys; expected at most 1000 of each"),
    ("keys byte-order mark", {**FILES_GOOD, "k.toml": "\ufeffW = \"layers.{l}.W\"\nV = \"layers.{l}.V\"\nP = \"layers.{l}.P\"\nresidual = false\n"},
     KEYS, 0, "cross map"),
    ("keys escape in unknown entry", {**FILES_GOOD, "k.toml": '"\\u001b[31m" = 1\nW = "a"\n'}, KEYS, 3, "unknown entries"),
    # claim files
    ("claim FIFO", {"c.toml": fifo}, V, 3, "c.toml: is a FIFO (named pipe), not a regular file; expected a claim file", SLOW),
    ("claim /dev/zero", {"c.toml": link_to("/dev/zero")}, V, 3, "c.toml: is a character device, not a regular file", SLOW),
    ("claim dir with /dev/zero", {"d/c.toml": CLAIM, "d/z.toml": link_to("/dev/zero")}, ["verify", "d"], 3, "d/z.toml: is a character device", SLOW),
    ("claim dir with FIFO", {"d/c.toml": CLAIM, "d/f.toml": fifo}, ["verify", "d"], 3, "d/f.toml: is a FIFO", SLOW),
    ("claim dir with a directory", {"d/c.toml": CLAIM, "d/sub.toml/x": b""}, ["verify", "d"], 3, "d/sub.toml: is a directory, not a regular file; expected a claim file"),
    ("claim dangling link", {"c.toml": link_to("nowhere.toml")}, V, 3, "c.toml: no such file; expected a claim file"),
    ("claim too large", {"c.toml": big_text(1 << 20)}, V, 3, "bytes; expected a claim file (.toml) of at most 1048576 bytes"),
    ("claim not UTF-8", {"c.toml": CLAIM.encode().replace(b'"t"', b'"\xff"')}, V, 3, "c.toml: not UTF-8 text (invalid start byte at byte"),
    ("claim deep nesting", {"c.toml": "x = " + "[" * 50000 + "]" * 50000 + "\n"}, V, 3, "c.toml: not valid TOML"),
    ("claim byte-order mark", {"c.toml": "\ufeff" + CLAIM}, V, 0, "1 passed"),
    ("claim parent is a file", {"d": b"x"}, ["verify", "d/c.toml"], 3, "d/c.toml: no such file or directory"),
    ("claims listing FIFO", {"c.toml": fifo}, ["claims", "c.toml"], 3, "c.toml: is a FIFO", SLOW),
    ("only with a Cyrillic a", {"c.toml": CLAIM}, V + ["--only", "c\u0430"], 2, "--only c\\u0430: no claim with this id"),
    ("only with escape", {"c.toml": CLAIM}, V + ["--only", "\x1b[5mc"], 2, "--only \\x1b[5mc: no claim with this id"),
    # time limits: usage errors before any work, on the group and on every command that takes one
    *[(f"--timeout {v} {where}", {}, args, 2, f"'--timeout': '{v}'; expected a number of seconds")
      for v in ("inf", "nan", "-1", "0", "1e300", "-inf")
      for where, args in (("group", ["--timeout", v, "expand"]), ("verify", ["verify", "--timeout", v]),
                          ("report", ["report", "--timeout", v, "-o", "r.tex"]))],
    ("--timeout word", {}, ["--timeout", "soon", "expand"], 2, "'soon' is not a number of seconds"),
    # effect's α grid
    ("alpha overflow", FILES_GOOD, ["effect", "g.npz", "--steer-at", "0", "--s", "1,1", "--inputs", "1,1", "--alpha", "1e200,2e200"], 2,
     "alpha=1e+200 overflows float64"),
    ("alpha overflow json", FILES_GOOD, ["effect", "g.npz", "--steer-at", "0", "--s", "1,1", "--inputs", "1,1", "--alpha", "0,1e300",
                                         "--format", "json", "-o", "e.json"], 2, "alpha=1e+300 overflows float64"),
    ("alpha nan", FILES_GOOD, ["effect", "g.npz", "--steer-at", "0", "--s", "1,1", "--alpha", "nan"], 2, "has a non-finite value"),
    # the reference gate's arrays and a model's config.json
    ("gate inputs FIFO", {"i.npy": fifo, "r.npy": npy(np.ones((1, 2)))}, ["gate", "g.npz", "--inputs", "i.npy", "--reference", "r.npy"], 3,
     "i.npy: is a FIFO", SLOW),
    ("gate reference is an npz", {"i.npy": npy(np.ones((1, 2))), "r.npy": npz(**GOOD)}, ["gate", "g.npz", "--inputs", "i.npy", "--reference", "r.npy"], 3,
     "r.npy: is an .npz archive"),
    ("gate reference declares 10^12", {"i.npy": npy(np.ones((1, 2))), "r.npy": npy_header("<f8", (10**6, 10**6))},
     ["gate", "g.npz", "--inputs", "i.npy", "--reference", "r.npy"], 3, "expected at most 100000000 (checked before reading them)"),
    ("config.json nested too deep", {"d/m.npz": npz(**GOOD), "d/config.json": "[" * 100000 + "]" * 100000}, ["expand", "--model", "d/m.npz"], 3,
     "d/config.json: not valid JSON"),
    ("config.json too large", {"d/m.npz": npz(**GOOD), "d/config.json": b" " * (1 << 20) + b"{}"}, ["expand", "--model", "d/m.npz"], 3,
     "bytes; expected a model config (JSON) of at most 1048576 bytes"),
    *[(f"config.json {what}", {"d/m.npz": (ROOT / "tests/data/tensor_language_block2/model.npz").read_bytes(), "d/config.json": cfg},
       ["expand", "--model", "d/m.npz", "--tokens", "1,2", "--s", "1,0,0,0,0,0,0,0"], code, message, *extra)
      for what, cfg, code, message, *extra in (
          ("duplicate key", '{"n_head": 2, "n_head": 4}', 3, "d/config.json: not valid JSON (the key 'n_head' appears twice)"),
          ("n_head NaN", '{"n_head": NaN}', 3, "d/config.json: n_head=nan; expected a positive integer"),
          ("n_head 5000 digits", '{"n_head": ' + "9" * 5000 + "}", 2, "d/m.npz: n_head=" + "9" * 59 + "… does not divide d_model=8"),
          ("n_head 10^20", '{"n_head": 100000000000000000000}', 2, "n_head=100000000000000000000 does not divide d_model=8"),
          ("n_head 3", '{"n_head": 3}', 2, "n_head=3 does not divide d_model=8; expected a divisor of it"),
          ("is a directory", directory, 3, "d/config.json: is a directory, not a regular file; expected a model config (JSON)"),
          ("is a FIFO", fifo, 3, "d/config.json: is a FIFO (named pipe), not a regular file", SLOW))],
    # sequence models: token ids
    *[(f"tokens {shown_}", {}, ["expand", "--model", str(ROOT / "tests/data/tensor_language_block2/model.npz"), "--heads", "2", "--tokens", t,
                            "--s", "1,0,0,0,0,0,0,0"], 2, "--tokens: entry 1 is")
      for shown_, t in (("superscript two", "1,\u00b2"), ("Arabic-Indic digit", "1,\u0663"), ("30 digits", "1," + "9" * 30),
                        ("escape", "1,\x1b[31m"))],
    # outputs that must not be replaced
    ("output is a directory", {"out": directory}, ["expand", "-o", "out"], 2, "is a directory"),
    ("output parent is a file", {"d": b"x"}, ["expand", "-o", "d/out.txt"], 2, "output d/out.txt cannot be written (Not a directory)"),
    ("output a full device", {"full": full_device}, ["expand", "-o", "full"], 5, "output full cannot be written (No space left on device)"),
    ("steer output a full device", {"full": full_device, "h.npy": npy(np.ones((2, 2))), "q.npy": npy(np.zeros((2, 2)))},
     ["steer", "--h", "h.npy", "--q", "q.npy", "-o", "full"], 5, "No space left on device"),
    ("report output a full device", {"full": full_device}, ["report", "--no-claims", "-o", "full"], 5, "No space left on device"),
    ("plot into a directory", {**FILES_GOOD, "p.png": directory}, ["effect", "g.npz", "--steer-at", "0", "--s", "1,1", "--plot", "p.png"], 2,
     "is a directory"),
    ("output escape in name", {}, ["expand", "-o", "nowhere/\x1b[31mx"], 2, "output nowhere/\\x1b[31mx cannot be written"),
]

#: files each row starts with; compared after the run (nothing written, replaced or left behind)
def _snapshot(root: Path) -> dict[str, tuple[int, int, bytes | None]]:
    out = {}
    for p in sorted(root.rglob("*")):
        st_ = p.lstat()
        content = p.read_bytes() if stat.S_ISREG(st_.st_mode) else None
        out[str(p.relative_to(root))] = (st_.st_mode, st_.st_ino, content)
    return out


def _build(tmp_path: Path, files: dict[str, Any]) -> None:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    cap = 3 << 30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def run_capped(args: list[str], cwd: Path, *, timeout: float = 120) -> tuple[int, str, str]:
    """The CLI in a subprocess under a 3 GB address-space cap and a time limit."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "symsteer", *args], cwd=cwd, env=env, capture_output=True,
                          preexec_fn=_limit_memory, timeout=timeout, stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")


@pytest.mark.parametrize("row", HOSTILE, ids=[row[0] for row in HOSTILE])
def test_hostile(row, tmp_path, monkeypatch, capsys):
    name, files, args, code, message = row[:5]
    _build(tmp_path, {**FILES_GOOD, **files})
    before = _snapshot(tmp_path)
    if SLOW in row[5:]:
        got, out, err = run_capped(args, tmp_path)
    else:
        monkeypatch.chdir(tmp_path)
        got = cli.run(args)
        captured = capsys.readouterr()
        out, err = captured.out, captured.err
    assert got == code, err
    assert message in err + out, err
    assert "Traceback" not in err and "PAYLOAD" not in out + err and "weights_only=False" not in err
    assert "\x1b" not in err and "\ufeff" not in err
    if code:
        lines = err.strip().splitlines()
        if MULTI in row[5:]:  # the layout listing: the keys found and expected, one per line
            lines = lines[:1]
        if lines and lines[0].startswith("Usage:"):  # click's usage errors: usage, hint, then one Error: line
            lines = [line for line in lines if line.startswith("Error:")]
        assert len(lines) == 1, err
        assert _snapshot(tmp_path) == before  # nothing written, replaced or left behind


def test_the_corpus_is_large():
    assert len(HOSTILE) >= 100


def test_readme_tables_match_the_code():
    """The exit codes and the limits the README states are the ones the code uses."""
    import re

    from symsteer import io as sio, layouts, readers
    from symsteer.files import MAX_TEXT_BYTES

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    codes = {int(m) for m in re.findall(r"^\| (\d+) \|", readme.split("## Exit codes")[1].split("##")[0], re.M)}
    assert codes == {v for k, v in vars(cli).items() if k.startswith("EXIT_")}
    limits = readme.split("Limits, with their defaults and flags:")[1].split("\n\n")[1]
    assert readers.MAX_ENTRIES == 10**8 and "| 10^8 (800 MB as float64) |" in limits
    assert readers.MAX_ARRAYS == 100_000 and "| 100 000; 16 bytes |" in limits and readers._MAX_ITEMSIZE == 16
    assert MAX_TEXT_BYTES == 1 << 20 and "| a claim file or key map | 1 MiB |" in limits
    assert sio.MAX_NUMBER_CHARS == 10_000 and sio.MAX_DECIMAL_EXPONENT == 4000 and "10 000 characters, \\|exponent\\| ≤ 4000" in limits
    assert layouts.MAX_GLOBS == 1000 and "| 1 000 each" in limits
    assert cli.COMMAND_SECONDS.most == 604800 and cli.CLAIM_SECONDS.most == 3600 and "0 < t ≤ 604 800 s (a week) on the group; ≤ 3 600 s per claim" in limits
