"""Fuzzing what users hand in: statements, claim files and weight files, valid and corrupted.

The only exception that may escape the library is a SymsteerError; the CLI exits 0, 1, 2 or 3
and never prints a traceback. Deterministic (derandomized) and bounded, so CI runs it.
"""

from __future__ import annotations

import io
import string
import zipfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symsteer import cli
from symsteer import SymsteerError, load_model
from symsteer.claims import load_claim, verify
from symsteer.verifier.language import parse_statement

def fuzz(examples: int) -> settings:
    return settings(derandomize=True, deadline=None, max_examples=examples, suppress_health_check=list(HealthCheck))

NAMES = ["x", "s", "u", "v", "z", "a", "alpha", "t", "k", "L", "m", "W", "V", "P", "b", "c", "ones", "y", "q"]
FUNCS = ["B", "B0", "B1", "f", "g", "relu", "softmax", "entropy", "argmax", "parallel", "share", "degree_in",
         "is_polynomial_in", "self_part", "cross_part", "input_part", "const_part", "cross_map", "stream",
         "same_ranking", "constant", "depends_on", "generic", "empirical", "continuous_in", "open", "__import__", "eval"]
OPS = [" + ", " - ", " * ", " / ", " ** ", " @ ", " == ", " != ", " < ", " <= ", " and ", " or ", ".", "[0]", ", "]


@st.composite
def junk(draw, depth: int = 3) -> str:
    """Expressions from the language's alphabet, mostly ill-formed."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.one_of(st.sampled_from(NAMES), st.integers(-10**12, 10**12).map(str),
                              st.sampled_from(["1/2", "0.5", "'unit'", "'weight'", "[1, 2]", "lambda: 1", "()", ""])))
    kind = draw(st.integers(0, 2))
    if kind == 0:
        args = ", ".join(draw(st.lists(junk(depth - 1), min_size=0, max_size=3)))
        return f"{draw(st.sampled_from(FUNCS))}({args})"
    if kind == 1:
        return f"{draw(junk(depth - 1))}{draw(st.sampled_from(OPS))}{draw(junk(depth - 1))}"
    return f"({draw(junk(depth - 1))})"


scalars = st.sampled_from(["a", "alpha", "t", "2", "1/2", "-1", "a**2", "(a + 1)"])


@st.composite
def vectors(draw, depth: int = 2) -> str:
    """Well-typed vector expressions."""
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(["x", "s", "u", "x + alpha*s", "ones"]))
    inner = draw(vectors(depth - 1))
    form = draw(st.sampled_from(["B({})", "f({})", "relu({})", "{} + {}", "{} - s", "{s} * ({})", "B({}, s)", "g({})"]))
    if form == "{} + {}":
        return f"{inner} + {draw(vectors(depth - 1))}"
    return form.format(inner, s=draw(scalars)) if "{s}" in form else form.format(inner)


@st.composite
def predicates(draw) -> str:
    u, v = draw(vectors()), draw(vectors())
    form = draw(st.sampled_from([
        "{u} == {v}", "parallel({u}, {v})", "degree_in({u}, alpha) <= 2**L", "is_polynomial_in({u}, alpha)",
        "same_ranking({u}, {v})", "{u} != {v}", "constant({u})", "depends_on({u}, x)",
        "self_part(f(x + alpha*s)) == {u}", "softmax({u}) == softmax({v})", "not parallel({u}, {v})",
    ]))
    return form.format(u=u, v=v)


def statements() -> st.SearchStrategy[str]:
    return st.one_of(predicates(), predicates(), predicates(), junk())


@fuzz(600)
@given(st.one_of(statements(), st.text(alphabet=string.printable, max_size=40)))
def test_statements_parse_or_raise_a_symsteer_error(text):
    try:
        parse_statement(text)
    except SymsteerError:
        pass


FIELDS = {
    "id": '"c"', "title": '"t"', "quote": '"q"', "statement": None, "expected": None,
    "assumptions": '["a != 0"]', "timeout": "1",
}


@st.composite
def claim_texts(draw) -> str:
    lines = []
    for key, value in FIELDS.items():
        if draw(st.integers(0, 29)) == 29:
            continue  # a missing field
        if key == "statement":
            value = '"' + draw(statements()).replace('"', "'").replace("\\", "") + '"'
        elif key == "expected":
            value = '"' + draw(st.sampled_from(["holds", "fails", "holds", "fails", "out_of_scope", "maybe", ""])) + '"'
        lines.append(f"{key} = {value}")
    if draw(st.integers(0, 3)) == 3:
        lines.append(draw(st.sampled_from(["colour = 1", "id = 2", "[", "timeout = -1", "row = 'x'"])))
    lines.append("[model]")
    lines.append(f"layers = {draw(st.sampled_from(['[1]', '[1]', '[1, 2]', '[2]', '[0]', '[]', '1', '[-1]']))}")
    lines.append(f"sizes = {draw(st.sampled_from(['[[1, 1]]', '[[2, 1]]', '[[2, 2]]', '[[1, 1]]', '[[0, 1]]', '[1]', 'x']))}")
    for key in ("residual", "bias"):
        if draw(st.booleans()):
            lines.append(f"{key} = {draw(st.sampled_from(['true', 'false', '[false, true]', '3']))}")
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 7)) == 7:  # corrupt a byte
        i = draw(st.integers(0, len(text) - 1))
        text = text[:i] + draw(st.sampled_from(['"', "=", "\n", "[", "\x00", "é"])) + text[i + 1:]
    return text


@fuzz(120)
@given(claim_texts())
def test_claim_files_load_and_verify_or_raise_a_symsteer_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("claims") / "c.toml"
    path.write_text(text, encoding="utf-8")
    try:
        verify(load_claim(path), timeout=1.0)
    except SymsteerError:
        pass


@fuzz(25)
@given(claim_texts())
def test_verify_command_exits_with_a_documented_code(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("claims") / "c.toml"
    path.write_text(text, encoding="utf-8")
    import contextlib

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.run(["verify", str(path), "--timeout", "1"])
    assert code in (0, 1, 3), err.getvalue()
    assert "Traceback" not in err.getvalue()


KEYS = ["layers.0.W", "layers.0.V", "layers.0.P", "layers.0.b", "layers.0.c", "layers.1.W", "layers.1.V",
        "layers.1.P", "embed", "unembed", "residual", "junk", "w_e", "w_u", "blocks.0.mlp.w.weight", "blocks.0.mlp.p.weight"]


@st.composite
def weight_files(draw) -> bytes:
    arrays = {}
    for key in draw(st.lists(st.sampled_from(KEYS), min_size=0, max_size=7, unique=True)):
        shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=3)))
        dtype = draw(st.sampled_from(["f8", "f4", "i8", "u1", "?", "c16", "U1"]))
        arr = np.zeros(shape, dtype=dtype)
        if arr.size and dtype in ("f8", "f4") and draw(st.booleans()):
            arr.flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e30, 3.0]))
        arrays[key] = arr
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    corruption = draw(st.integers(0, 3))
    if corruption == 1 and len(data) > 10:  # truncate
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif corruption == 2 and data:  # flip bytes
        raw = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        data = bytes(raw)
    return data


def _valid_model() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{"layers.0.W": np.ones((2, 2)), "layers.0.V": np.eye(2), "layers.0.P": np.ones((2, 2))})
    return buf.getvalue()


@fuzz(300)
@given(st.one_of(weight_files(), st.just(_valid_model()), st.binary(max_size=64)))
def test_weight_files_load_or_raise_a_symsteer_error(tmp_path_factory, data):
    for suffix in (".npz", ".safetensors", ".pt"):
        path = tmp_path_factory.mktemp("w") / f"m{suffix}"
        path.write_bytes(data)
        try:
            load_model(path)
        except SymsteerError:
            pass


@fuzz(40)
@given(st.one_of(weight_files(), st.just(_valid_model())), st.sampled_from(["0", "1", "2"]), st.sampled_from(["1,1", "1", "x", "1/2,-3"]))
def test_expand_command_on_fuzzed_files_exits_with_a_documented_code(tmp_path_factory, data, steer_at, vector):
    path = tmp_path_factory.mktemp("w") / "m.npz"
    path.write_bytes(data)
    import contextlib

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.run(["expand", "--model", str(path), "--steer-at", steer_at, "--s", vector, "--x", vector])
    assert code in (0, 2, 3), err.getvalue()
    assert "Traceback" not in err.getvalue()


def test_a_zip_with_a_pickle_inside_is_refused(tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "m.npz", "w") as z:
        z.writestr("layers.0.W.npy", buf.getvalue())
    try:
        load_model(tmp_path / "m.npz")
    except SymsteerError as exc:
        assert "unpickling" in str(exc)
    else:
        raise AssertionError("a pickled array was loaded")
