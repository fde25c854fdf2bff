"""Every row of the README's table of bad inputs: its message, its exit code, no traceback.

Each row: (name, how to build the files, the command, the exit code, a part of the message).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from symsteer import cli

GOOD = {"layers.0.W": np.ones((2, 2)), "layers.0.V": np.ones((2, 2)), "layers.0.P": np.ones((2, 2))}

CLAIM = """id = "{id}"
title = "t"
quote = "q"
statement = "{statement}"
expected = "{expected}"

[model]
layers = [1]
sizes = [[1, 1]]
"""


def claim(statement: str = "B(a*x) == a**2 * B(x)", expected: str = "holds", extra: str = "") -> str:
    return CLAIM.format(id="c", statement=statement, expected=expected) + extra


def npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=arr.dtype == object)
    return buf.getvalue()


def pickled_npz() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("layers.0.W.npy", npy(np.array([{"a": 1}], dtype=object)))
    return buf.getvalue()


EXPAND = ["expand", "--model", "m.npz"]
VERIFY = ["verify", "c.toml"]

# (id, files, args, exit code, message)
BAD_INPUTS = [
    # claim files
    ("claim not TOML", {"c.toml": 'id = "c"\ntitle = \n'}, VERIFY, 3, "c.toml: not valid TOML: Invalid value (at line 2"),
    ("claim missing field", {"c.toml": claim().replace('quote = "q"\n', "")}, VERIFY, 3, "missing field 'quote'"),
    ("claim unknown field", {"c.toml": claim().replace('title = "t"', 'title = "t"\ncolour = "red"')}, VERIFY, 3,
     "line 3: unknown field 'colour'; expected one of id, row, title"),
    ("claim wrong verdict word", {"c.toml": claim(expected="maybe")}, VERIFY, 3, "expected = 'maybe'; expected one of holds, fails, out_of_scope"),
    ("claim unknown function", {"c.toml": claim("B(a*x) == a**2 * Bx(x)")}, VERIFY, 3, "unknown function 'Bx' (closest: B"),
    ("claim unknown name", {"c.toml": claim("B(a*y) == a**2 * B(y)")}, VERIFY, 3, "'y'"),
    ("claim __import__", {"c.toml": claim("__import__('os')")}, VERIFY, 3, "'__import__' is refused"),
    ("claim attribute", {"c.toml": claim("x.__class__")}, VERIFY, 3, "attribute access (a.b) is not part of the language"),
    ("claim lambda", {"c.toml": claim("(lambda: 1)()")}, VERIFY, 3, "lambda is not part of the language"),
    ("claim comprehension", {"c.toml": claim("[i for i in x]")}, VERIFY, 3, "comprehensions are not part of the language"),
    ("claim huge exponent", {"c.toml": claim("a**(10**9) == a")}, VERIFY, 3, "exponent 10**9 = 1000000000 is out of range"),
    ("claim huge integer", {"c.toml": claim("9999999999 * x == x")}, VERIFY, 3, "integer 9999999999 is too large"),
    ("claim subscript", {"c.toml": claim("x[k] == x[0]")}, VERIFY, 3, "an index must be a literal integer"),
    ("claim wrong verdict", {"c.toml": claim(expected="fails")}, VERIFY, 1, "differs"),
    ("claim file missing", {}, VERIFY, 3, "c.toml: no such file or directory; expected a claim file (.toml)"),
    ("claim directory empty", {"empty/.keep": ""}, ["verify", "empty"], 3, "empty: a directory with no claim files; expected *.toml files in it"),
    ("unknown --only id", {"c.toml": claim()}, VERIFY + ["--only", "d"], 2, "d"),
    # weight files
    ("weights a single .npy", {"m.npz": npy(np.ones(3))}, EXPAND, 3, "holds a single array; expected an .npz archive"),
    ("weights not npz", {"m.npz": b"hello world"}, EXPAND, 3, "m.npz: not a readable .npz archive"),
    ("weights missing", {}, EXPAND, 3, "m.npz: no such file"),
    ("weights truncated", {"m.npz": npz(**GOOD)[:100]}, EXPAND, 3, "m.npz: not a readable .npz archive"),
    ("weights pickled", {"m.npz": pickled_npz()}, EXPAND, 3, "cannot be read without unpickling"),
    ("weights missing array", {"m.npz": npz(**{k: v for k, v in GOOD.items() if k != "layers.0.P"})}, EXPAND, 3, "layer 0 misses P"),
    ("weights extra array", {"m.npz": npz(**GOOD, junk=np.ones(3))}, EXPAND, 3, "the keys fit no known layout"),
    ("weights wrong shapes", {"m.npz": npz(**GOOD, **{"layers.1.W": np.ones((2, 3)), "layers.1.V": np.ones((2, 3)), "layers.1.P": np.ones((2, 2))})},
     EXPAND, 3, "layers[1].W has shape (2, 3); expected (h, 2) to match layers[0]'s output width 2"),
    ("weights wrong dtype", {"m.npz": npz(**{**GOOD, "layers.0.W": np.array([["a", "b"], ["c", "d"]])})}, EXPAND, 3,
     "array layers.0.W has dtype <U1; expected integers or floats"),
    ("weights complex", {"m.npz": npz(**{**GOOD, "layers.0.V": np.ones((2, 2), dtype=complex)})}, EXPAND, 3, "dtype complex128"),
    ("weights NaN", {"m.npz": npz(**{**GOOD, "layers.0.W": np.array([[1, np.nan], [0, 1]])})}, EXPAND, 3,
     "array layers.0.W[0, 1] = nan; expected finite numbers"),
    ("weights infinity", {"m.npz": npz(**{**GOOD, "layers.0.P": np.array([[1, np.inf], [0, 1]])})}, EXPAND, 3, "= inf; expected finite numbers"),
    # vectors
    ("vector wrong length", {"m.npz": npz(**GOOD)}, EXPAND + ["--s", "1,2,3", "--x", "1,1"], 2, "has shape (3,); expected a vector of length 2"),
    ("vector not a number", {"m.npz": npz(**GOOD)}, EXPAND + ["--s", "1,x", "--x", "1,1"], 2, "--s: entry 1 is 'x'; expected a number"),
    ("vector divides by zero", {"m.npz": npz(**GOOD)}, EXPAND + ["--s", "1,3/0", "--x", "1,1"], 2, "--s: entry 1 is '3/0'"),
    ("vector file NaN", {"m.npz": npz(**GOOD), "s.npy": npy(np.array([1.0, np.nan]))}, EXPAND + ["--s", "s.npy", "--x", "1,1"], 3,
     "s.npy has NaN or infinite entries"),
    ("vector file strings", {"m.npz": npz(**GOOD), "s.npy": npy(np.array(["a", "b"]))}, EXPAND + ["--s", "s.npy", "--x", "1,1"], 3,
     "holds dtype <U1"),
    ("vector file pickled", {"m.npz": npz(**GOOD), "s.npy": npy(np.array([1, None], dtype=object))}, EXPAND + ["--s", "s.npy", "--x", "1,1"], 3,
     "cannot be read without unpickling"),
    # options
    ("steer-at outside", {}, ["expand", "--steer-at", "3"], 2, "--steer-at=3 but the model has 2 layers"),
    ("steer-at negative", {}, ["expand", "--steer-at", "-1"], 2, "--steer-at=-1 but the model has 2 layers"),
    ("zero layers", {}, ["expand", "--layers", "0"], 2, "layers=0; expected a positive integer"),
    ("zero width", {}, ["expand", "--width", "0"], 2, "width=0; expected a positive integer"),
    ("zero hidden", {}, ["expand", "--hidden", "0"], 2, "hidden=0; expected a positive integer"),
    ("negative max-order", {}, ["expand", "--max-order", "-1"], 2, "--max-order=-1; expected a non-negative integer"),
    ("model and shape", {"m.npz": npz(**GOOD)}, EXPAND + ["--layers", "2"], 2, "--model conflicts with --layers"),
    ("symbolic and seed", {}, ["expand", "--weights", "symbolic", "--seed", "1"], 2, "--seed conflicts with --weights symbolic"),
    ("s without x", {}, ["expand", "--s", "1,1"], 2, "--s and --x go together"),
    ("split on plain", {}, ["expand", "--split-directions"], 2, "split_directions=True needs a residual network"),
    ("over budget", {}, ["expand", "--layers", "5", "--residual", "--s", "1,1", "--x", "1,1"], 2,
     "builds 359026203 terms (budget 300000); pass --max-order=1 or lower"),
    ("degree too high", {}, ["expand", "--layers", "12", "--residual"], 2, "orders above 512 are refused: pass --max-order=512 or lower"),
    ("zero timeout", {}, ["--timeout", "0", "expand"], 2, "'--timeout': '0'; expected a number of seconds, 0 < t ≤ 604800"),
    ("output folder missing", {}, ["expand", "-o", "nowhere/out.txt"], 2,
     "output nowhere/out.txt cannot be written (No such file or directory); expected a file in an existing, writable folder"),
    ("report folder missing", {}, ["report", "--no-claims", "-o", "nowhere/r.tex"], 2, "output nowhere/r.tex cannot be written"),
    ("vector huge exponent", {}, ["expand", "--s", "1e999999999,1", "--x", "1,1"], 2,
     "--s: entry 0 is '1e999999999': exponent 999999999 is out of range; expected a number with |exponent| ≤ 4000"),
    ("huge width", {}, ["expand", "--width", "100000"], 2,
     "width=100000, hidden=100000 make 60000000000 weights; expected at most 1000000 exact or symbolic weights"),
    ("huge float width", {}, ["expand", "--width", "100000", "--weights", "float"], 2, "expected at most 100000000 float weights"),
    ("negative seed", {}, ["expand", "--seed", "-1"], 2, "seed=-1; expected a non-negative integer"),
    ("check negative seed", {}, ["check", "--seed", "-1"], 2, "seed=-1; expected a non-negative integer"),
    ("check huge width", {}, ["check", "--width", "100000"], 2, "width=100000; expected an integer 1 … 64"),
    ("effect huge alpha count", {"m.npz": npz(**GOOD)}, ["effect", "m.npz", "--steer-at", "0", "--s", "1,1", "--alpha", "0:1:100000000000"], 2,
     "--alpha='0:1:100000000000' asks for 100000000000 values; expected at most 100000"),
    ("budget too large", {}, ["expand", "--layers", "5", "--residual", "--budget", "10000000000"], 2,
     "budget=10000000000; expected a positive integer of at most 2000000"),
    ("polynomial maps too large", {}, ["report", "--no-claims", "--layers", "30", "--max-order", "1"], 2,
     "the polynomial maps of 30 layer(s) from --steer-at=0 have degree up to 2^30 in 4 generic variables: more than 2000000 monomials"),
    ("coefficients too large", {}, ["expand", "--layers", "7", "--max-order", "1", "--coefficients"], 2,
     "have degree up to 128 in 4 generic variables: up to 12082785 monomials per output (limit 2000000)"),
    ("exact numbers too large", {"m.npz": npz(**{f"layers.{l}.{k}": np.array([[3 if k == "P" else 1]]) for l in range(30) for k in "WVP"})},
     EXPAND + ["--max-order", "1", "--s", "1", "--x", "2"], 2,
     "exact numbers after layer 18 have grown to 1355264 bits (limit 1048576): the digits double with every layer; use float64"),
    ("symbolic products too large", {}, ["report", "--no-claims", "--weights", "symbolic", "--layers", "3", "--width", "3"], 2,
     "the symbolic products of one layer would have up to more than 200000000 terms: too large to build"),
    ("unknown option", {}, ["expand", "--bogus"], 2, "No such option '--bogus'"),
    ("unknown command", {}, ["expnd"], 2, "No such command 'expnd'"),
]


@pytest.mark.parametrize("name, files, args, code, message", BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS])
def test_bad_input(name, files, args, code, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for fname, content in files.items():
        (tmp_path / fname).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / fname).write_bytes(content if isinstance(content, bytes) else content.encode())
    got = cli.run(args)
    out = capsys.readouterr()
    assert got == code, out
    assert message in out.err + out.out
    assert "Traceback" not in out.err + out.out


def test_table_is_large_enough():
    assert len(BAD_INPUTS) >= 45


def _symsteer(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).parent.parent)}
    return subprocess.Popen([sys.executable, "-m", "symsteer", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_ctrl_c_exits_130_and_leaves_no_partial_file(tmp_path):
    proc = _symsteer("verify", "-o", "out.txt", cwd=tmp_path)
    time.sleep(2.5)  # well inside the verification, which takes several seconds
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_command_timeout_exits_1_and_writes_nothing(tmp_path):
    proc = _symsteer("--timeout", "1", "verify", "-o", "out.txt", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "stopped after --timeout=1 s" in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch, capsys):
    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    assert cli.run(["expand", "--layers", "1", "-o", str(tmp_path / "out.txt")]) == 130
    assert list(tmp_path.iterdir()) == []


def test_internal_errors_are_reported_not_traced(monkeypatch, capsys):
    import symsteer

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(symsteer, "expand", boom)
    assert cli.run(["expand"]) == 4
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom" in err and "Traceback" not in err
