"""Each kind of layer is written once, in its block: no other module of the package computes a
layer's formula (products of W and V maps, P or U applied, sympy's elementwise products)."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import symsteer

PACKAGE = Path(symsteer.__file__).parent

#: arithmetic that only a block may do, on a line's tokens joined by spaces
FORMULA = re.compile(
    r"""(?x)
    \b[WVPU] \s* (\. \s* T \s*)? @ | @ \s* [WVPU]\b           # W x, W.T @ u, x @ W
    | \. \s* [WVP] \s* @ | @ \s* \w+ \s* \. \s* [WVP]\b       # layer.W @ x, x @ layer.W
    | \[ \s* "[WVP]" \s* \] \s* (@|\.) | @ \s* \w+ \s* \[ \s* "[WVP]" \s* \]   # a["W"] @ x, x @ a["W"].T
    | apply \s* \( \s* \w+ \s* \[ \s* "[WVPMU]" \s* \]       # numbers.apply(a["W"], x)
    | multiply_elementwise                                     # sympy's ⊙
    | \bdiag \s* \( \s* [WV]\b                                 # diag(W s) V
    """
)

#: modules allowed to write a layer formula outside the blocks (none: the verifier goes through them too)
PENDING: set[str] = set()


def offending_lines(text: str) -> list[str]:
    """Lines whose code (strings longer than one character, comments and docstrings left out:
    they print, they do not compute) matches :data:`FORMULA`."""
    lines: dict[int, list[str]] = {}
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            continue
        if tok.type == tokenize.STRING and len(tok.string) > 3:
            continue
        if tok.type == getattr(tokenize, "FSTRING_START", None):
            continue
        lines.setdefault(tok.start[0], []).append(tok.string)
    source = text.splitlines()
    return [source[n - 1].strip() for n, toks in sorted(lines.items()) if FORMULA.search(" ".join(toks))]


def test_no_module_outside_the_blocks_writes_a_layer_formula():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "blocks" or rel.as_posix() in PENDING:
            continue
        lines = offending_lines(path.read_text(encoding="utf-8"))
        if lines:
            found[str(rel)] = lines
    assert not found, f"layer formulas outside symsteer/blocks: {found}"


def test_the_check_catches_the_formulas_it_forbids():
    """The old places the formula lived, as they were written: each must be caught."""
    old = [
        'wx, vx = _apply(a["W"], cur, numbers), _apply(a["V"], cur, numbers)',
        'y = _apply(a["P"], wx * vx, numbers)',
        'return (wl * vr) @ a["P"].T',
        'M = P @ ((V @ s)[:, None] * W + (W @ s)[:, None] * V)',
        'Q = W.T @ ((P.T @ u)[:, None] * V)',
        'return sympy.ImmutableMatrix(P * wx.multiply_elementwise(vx))',
        'out = numbers.apply(a["M"], cs)',
    ]
    assert all(offending_lines(line) for line in old)
    assert all((PACKAGE / name).exists() for name in PENDING)
    # the blocks themselves do write them
    assert offending_lines((PACKAGE / "blocks" / "bilinear.py").read_text(encoding="utf-8"))
