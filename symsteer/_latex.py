"""LaTeX for write-ups: one printer, built on sympy's, for terms, expansions, layers, networks,
claims and verdicts.

What each object prints as:

- a ``Term``, a ``Bilinear`` layer, a sympy expression or matrix: math, without delimiters
  (like ``sympy.latex``);
- an ``Expansion`` or a ``Network``: a whole ``align*`` environment, lines broken to fit a page;
- a ``Claim`` or a ``Verdict``: text (a heading and a ``description`` list); with
  ``mode="inline"`` a one-line math summary instead.

Documents need ``amsmath`` and ``amssymb`` (and ``\\usepackage[T1]{fontenc}`` for accented
letters in user text); ``preamble()`` gives the lines.

>>> from symsteer.terms import apply, leaf
>>> latex(apply(1, apply(0, leaf("x"), leaf("s")), leaf("s")))
'\\\\hat B_{1}\\\\bigl(\\\\hat B_{0}(x, s), s\\\\bigr)'
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from fractions import Fraction
from typing import Any

import numpy as np
import sympy
from sympy.printing.latex import LatexPrinter

from ._coefficients import KINDS
from .errors import BudgetError, ShapeError
from .expansion import Expansion
from .blocks import Bilinear
from .network import Network
from .terms import MAX_PRINTED_LEAVES, MAX_SKELETON_HEIGHT, SubtermNames, Term, fold_skeleton
from .claim_latex import claim_items, note_item, verdict_items

__all__ = ["SymsteerLatexPrinter", "latex", "escape_text", "preamble", "OWN_SETTINGS"]

#: symsteer's settings and their defaults; every setting of sympy's ``LatexPrinter`` works too
OWN_SETTINGS: dict[str, Any] = {
    # the letter of the layers: terms show its symmetric part \hat B_{l}, equations B_{l}
    "layer_symbol": "B",
    # the steering scalar
    "alpha_symbol": r"\alpha",
    # one line per kind of term, labelled input / cross / self / const at the right margin
    "group": True,
    # about how many glyphs (of a roman letter's width) a line of an align* holds, leaving room
    # for a label: a page at 11pt with 2.5 cm margins holds about 70
    "line_length": 58,
    # an expansion with more terms than this prints its counts instead of its terms; also the
    # most monomials printed for one coefficient
    "max_terms": 200,
    # also print the exact α-coefficients (sympy polynomials in x, s), by order and kind
    "coefficients": False,
    # matrices with more entries than this print as their shape
    "max_entries": 64,
    # significant digits of float weights (exact weights always print exactly)
    "float_digits": 4,
    # heading command of claims and verdicts
    "heading": "paragraph",
}

# glyphs a label such as \tag*{cross} takes at the right margin, free for rows without one
_TAG_ROOM = 10

_HEADINGS = {"section", "subsection", "subsubsection", "paragraph", "subparagraph"}

# a term nested this deep gets these delimiters: readers see the structure at a glance
_DELIMITERS = ("(", ")"), (r"\bigl(", r"\bigr)"), (r"\Bigl(", r"\Bigr)"), (r"\biggl(", r"\biggr)"), (r"\Biggl(", r"\Biggr)")


class SymsteerLatexPrinter(LatexPrinter):
    """sympy's ``LatexPrinter`` with ``_print_…`` methods for symsteer's objects.

    >>> SymsteerLatexPrinter({"layer_symbol": "T"}).doprint(Term("1"))
    '\\\\mathbf{1}'
    """

    _default_settings = {**LatexPrinter._default_settings, **OWN_SETTINGS}

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        settings = dict(settings or {})
        _check_settings(settings, self._default_settings)
        super().__init__(settings)
        # terms are shared between the terms of an expansion: print each once; the term is
        # kept so that its id stays its own; the depth picks the size of the parentheses
        self._memo: dict[int, tuple[Term, str, int]] = {}

    def doprint(self, expr: Any) -> str:
        # blocks (environments, text) are never wrapped in math delimiters
        if isinstance(expr, (Expansion, Network)) or (_is_claim(expr) and self._settings["mode"] != "inline"):
            return self._print(expr)
        return super().doprint(expr)

    # -- names -------------------------------------------------------------------------

    def _layer(self, l: int) -> str:
        """The symmetric part of layer l, the only part a term sees: ``\\hat B_{l}``."""
        return f"\\hat {self._settings['layer_symbol']}_{{{l}}}"

    @property
    def _alpha(self) -> str:
        return self._settings["alpha_symbol"]

    @property
    def _untagged(self) -> int:
        """The line length of rows without a kind label at the right margin."""
        return self._settings["line_length"] + _TAG_ROOM

    def _alpha_power(self, m: int) -> str:
        return "" if m == 0 else self._alpha if m == 1 else f"{self._alpha}^{{{m}}}"

    # -- terms -------------------------------------------------------------------------

    def _print_Term(self, term: Term, **kwargs: Any) -> str:
        got = self._memo.get(id(term))
        if got is not None:
            return got[1]
        if term.is_leaf:
            tex, depth = _leaf(term.name), 0
        elif term.size > MAX_PRINTED_LEAVES:
            # a deep plain stack shares sub-terms: written out the term has 2^depth leaves
            tex = term.short(dots="\\dots", leaf=_leaf, fmt=lambda l, a, b: f"{self._layer(l)}({a}, {b})")
            depth = 1
        else:
            inner = f"{self._print(term.left)}, {self._print(term.right)}"
            depth = 1 + max(self._memo[id(term.left)][2], self._memo[id(term.right)][2])
            left, right = _DELIMITERS[min(depth, len(_DELIMITERS)) - 1]
            tex = f"{self._layer(term.layer)}{left}{inner}{right}"
        self._memo[id(term)] = (term, tex, depth)
        return tex

    def _summand(self, term: Term, multiplicity: int, network: Network, alpha: str = "", names: _Names | None = None) -> str:
        """``2 \\alpha U \\hat B_{0}(x, s)``: multiplicity, α-power, unembedding, term (with
        ``names``: its skeleton, see :meth:`_skeleton`)."""
        parts = [self._print(sympy.Integer(multiplicity))] if multiplicity != 1 else []
        parts += [alpha] if alpha else []
        parts += ["U"] if network.unembed is not None else []
        return " ".join([*parts, self._print(term) if names is None else self._skeleton(term, names)])

    # -- expansions --------------------------------------------------------------------

    def _print_Expansion(self, e: Expansion, **kwargs: Any) -> str:
        terms = None
        if e.total_terms <= self._settings["max_terms"]:
            try:
                terms = e.terms
            except BudgetError:  # listing would build too many intermediate terms
                terms = None
        body = self._expansion_counts(e) if terms is None else self._expansion_terms(e, terms)
        out = _environment("align*", body)
        if self._settings["coefficients"]:
            out += "\n" + self._expansion_coefficients(e)
        return out

    def _expansion_terms(self, e: Expansion, terms: tuple[tuple[Term, int], ...]) -> list[str]:
        rows = _Rows(self._settings["line_length"], f"y({self._alpha}) &= ")
        group = self._settings["group"]
        # a summand too wide for a line: every term prints its s-carrying skeleton, its
        # input-only sub-terms named (x_l, the unsteered stream; u_k otherwise) and defined below
        # (deeper than MAX_SKELETON_HEIGHT layers the text shows only the outer layers: so does this)
        deep = any(term.height > MAX_SKELETON_HEIGHT for term, _ in terms)
        names = _Names(e) if not deep and any(self._too_wide(term, mult, e.network, rows) for term, mult in terms) else None
        if names is not None:
            names.collect(term for term, _ in terms)
        orders: dict[int, list[tuple[Term, int]]] = {}
        for term, mult in terms:
            orders.setdefault(term.order, []).append((term, mult))
        for m, items in orders.items():
            lead = "+ " if rows.rows else ""
            if len(items) == 1:  # a lone term needs no bracket: 4 \alpha^{2} \hat B(…)
                term, mult = items[0]
                rows.add(lead + self._summand(term, mult, e.network, self._alpha_power(m), names),
                         indent=r"\quad ", new=bool(rows.rows), tag=term.kind if group else None)
                continue
            opener = f"{self._alpha_power(m)} \\bigl[\\, " if m else ""
            indent = r"\qquad " if m else r"\quad "
            kind = None
            for i, (term, mult) in enumerate(items):
                new_kind = group and term.kind != kind
                kind = term.kind
                if i == 0:
                    rows.add(lead + opener + self._summand(term, mult, e.network, names=names), indent=r"\quad ",
                             new=bool(rows.rows), tag=kind if group else None)
                else:
                    rows.add("+ " + self._summand(term, mult, e.network, names=names), indent=indent, new=new_kind,
                             tag=kind if new_kind else None)
            if m:
                rows.append(r" \,\bigr]")
        if not rows.rows:
            rows.add("0", indent="")
        if e.truncated:  # on its own line when labels are on, so no label seems to cover it
            rows.add(f"+ O({self._alpha_power(e.max_order + 1)})", indent=r"\quad ", new=group)
        lines = rows.lines()
        if names is not None:
            lines += self._where(names)
        return [line.replace(_BREAK, "") for line in lines]

    # -- long terms: named input-only sub-terms, lines broken inside a term -----------------

    def _too_wide(self, term: Term, mult: int, network: Network, rows: _Rows) -> bool:
        """Whether the term written out would not fit a line (with its sign and indent)."""
        if term.size > MAX_PRINTED_LEAVES:
            return True
        return rows._width(r"\qquad + " + self._summand(term, mult, network, self._alpha_power(term.order))) > rows.width

    def _skeleton(self, term: Term, names: _Names) -> str:
        """The term with its input-only sub-terms as their names (its root written out), a
        break point after every comma."""

        def named(t: Term) -> tuple[str, int] | None:
            name = names.name(t)
            return None if name is None else (name, 0)

        def node(t: Term, left_part: tuple[str, int], right_part: tuple[str, int]) -> tuple[str, int]:
            (a, da), (b, db) = left_part, right_part
            depth = 1 + max(da, db)
            left, right = _DELIMITERS[min(depth, len(_DELIMITERS)) - 1]
            return f"{self._layer(t.layer)}{left}{a},{_BREAK} {b}{right}", depth

        return fold_skeleton(term, leaf=lambda t: (_leaf(t.name), 0), named=named, node=node, done=names.printed)[0]

    def _where(self, names: _Names) -> list[str]:
        """The definitions of the names, packed into lines: ``where x_{l+1} = …, u_{1} = …``."""
        defs = []
        if names.streams:
            n = names.steer_at
            defs.append(rf"x_{{{n}}} = x\text{{ and }}x_{{l+1}} = {self._layer('l')}(x_{{l}}, x_{{l}})\text{{ (the unsteered stream)}}")
        for term, name in names.defined():
            defs.append(f"{name} = {self._skeleton(term, names)}")
        rows = _Rows(self._untagged, r"&\text{where }")
        for i, d in enumerate(defs):
            rows.add(d + (r",\quad" if i + 1 < len(defs) else ""), indent=r"\qquad ")
        return rows.lines()

    def _expansion_counts(self, e: Expansion) -> list[str]:
        counts = e.counts()
        # no math nested in \text: notebooks (MathJax) show it as it is
        top = rf"\text{{ up to }}{self._alpha_power(e.max_order)}" if e.truncated else ""
        lines = [rf"&{_thousands(e.total_terms)}\ \text{{distinct terms}}{top}\text{{, too many to list (more than }}"
                 rf"{_thousands(self._settings['max_terms'])}\text{{)}}"]
        for m in e.orders:
            cells = [rf"{_thousands(counts[m][k])}\ \text{{{k}}}" for k in KINDS if counts[m][k]]
            lines.append(rf"\alpha^{{{m}}} &\colon\ " + (r",\ ".join(cells) or r"\text{no terms}"))
        if e.truncated:
            lines.append(rf"&\quad + O({self._alpha_power(e.max_order + 1)})")
        return [line.replace(r"\alpha", self._alpha) for line in lines]

    def _expansion_coefficients(self, e: Expansion) -> str:
        """Each nonzero ``[y_m^kind]_i``, the i-th entry of the kind part of the α^m coefficient."""
        lines: list[str] = []
        for m in e.orders:
            for kind in KINDS:
                vector = e.coefficient(m, kind)
                for i, value in enumerate(vector):
                    if value != 0:
                        name = rf"\bigl[y_{{{m}}}^{{\text{{{kind}}}}}\bigr]_{{{i + 1}}} &= "
                        lines += self._long_sum(value, name, floats=e.network.field == "float")
        return _environment("align*", lines or [r"&\text{every coefficient is zero}"])

    def _long_sum(self, expr: sympy.Expr, head: str, *, floats: bool = False) -> list[str]:
        """A sum broken over as many align* lines as it needs; ``floats``: coefficients shortened
        to ``float_digits`` (float weights give exact fractions with huge denominators)."""
        expr = sympy.expand(expr)
        monomials = self._as_ordered_terms(expr) if expr.is_Add else [expr]
        if len(monomials) > self._settings["max_terms"]:
            return [head + rf"\text{{a polynomial of {_thousands(len(monomials))} monomials (not shown)}}"]
        rows = _Rows(self._untagged, head)
        for i, mono in enumerate(monomials):
            coeff, rest = mono.as_coeff_Mul()
            negative = bool(coeff < 0)
            coeff = -coeff if negative else coeff
            if floats and not coeff.is_Integer:
                coeff = sympy.Float(coeff, self._settings["float_digits"])
            tex = self._print(coeff * rest)
            sign = ("- " if negative else "") if i == 0 else ("- " if negative else "+ ")
            rows.add(sign + tex, indent=r"\quad ")
        return rows.lines()

    # -- closed forms --------------------------------------------------------------------

    def _matrix(self, name: str, matrix: sympy.MatrixBase) -> tuple[str, float]:
        """``name = [...]`` and about how wide it typesets; its shape when it would not fit a line."""
        width = self._matrix_width(name, matrix)
        if width is None:
            shape = rf"{name} \in \mathbb{{R}}^{{{matrix.rows} \times {matrix.cols}}}"
            return shape, _glyphs(shape)
        return f"{name} = {self._print(matrix)}", width

    def _matrix_width(self, name: str, matrix: sympy.MatrixBase) -> float | None:
        """About how wide ``name = [...]`` typesets, or None if it is too big to show."""
        if matrix.rows * matrix.cols > self._settings["max_entries"]:
            return None
        cells = [[self._print(v) for v in matrix.row(r)] for r in range(matrix.rows)]
        width = _glyphs(name) + 3 + sum(max(_glyphs(row[c]) for row in cells) + 2 for c in range(matrix.cols))
        return width if width <= self._untagged else None

    def _weights(self, arr: np.ndarray) -> sympy.ImmutableMatrix:
        digits = self._settings["float_digits"]
        # floats shortened for reading; exact and symbolic entries print exactly
        entry = (lambda v: sympy.Float(float(v), digits)) if arr.dtype.kind == "f" else sympy.sympify
        grid = arr.reshape(arr.shape[0], -1) if arr.ndim == 2 else arr.reshape(1, -1)
        return sympy.ImmutableMatrix([[entry(v) for v in row] for row in grid.tolist()])

    def _layer_parts(self, layer: Bilinear, index: int | None) -> list[tuple[str, float]]:
        sub = "" if index is None else f"_{{{index}}}"
        names = {key: f"{key}{sub}" for key in "WVP"} | ({f"{k}": f"{k}{sub}^{{\\top}}" for k in "bc"} if layer.has_bias else {})
        return [self._matrix(name, self._weights(getattr(layer, key))) for key, name in names.items()]

    def _print_Bilinear(self, layer: Bilinear, *, index: int | None = None, **kwargs: Any) -> str:
        return r",\quad ".join(tex for tex, _ in self._layer_parts(layer, index))

    def _print_Network(self, net: Network, **kwargs: Any) -> str:
        net.require_stack("the LaTeX printer")
        B, L = self._settings["layer_symbol"], net.depth
        bias = net.has_bias
        inner = r"(W_{l} x + b_{l}) \odot (V_{l} x + c_{l})" if bias else r"(W_{l} x) \odot (V_{l} x)"
        step = rf"x_{{l}} + {B}_{{l}}(x_{{l}})" if net.residual else rf"{B}_{{l}}(x_{{l}})"
        span = ", ".join(str(l) for l in range(L)) if L <= 3 else rf"0, \dots, {L - 1}"
        lines = []
        if net.embed is not None:
            lines.append(r"x_{0} &= E\, x_{\mathrm{in}}")
        lines.append(rf"x_{{l+1}} &= {step}, \quad {B}_{{l}}(x) = P_{{l}}\bigl({inner}\bigr), \quad l = {span}")
        lines.append(rf"y &= {'U ' if net.unembed is not None else ''}x_{{{L}}}")
        rows = [(f"{key}ding", [self._matrix(key[0].upper(), self._weights(getattr(net, key)))])
                for key in ("embed", "unembed") if getattr(net, key) is not None]
        rows += [(f"layer {l}", self._layer_parts(layer, l)) for l, layer in enumerate(net.layers)]
        for label, parts in rows:
            # the label column takes about 10 glyphs; the matrices share the rest of the line
            packed: list[list[str]] = [[]]
            used = 10.0
            for tex, width in parts:
                if packed[-1] and used + 3 + width > self._untagged:
                    packed.append([])
                    used = 10.0
                packed[-1].append(tex)
                used += 3 + width
            lines += [(rf"\text{{{label}}}\colon\quad &" if i == 0 else "&") + r",\quad ".join(group) for i, group in enumerate(packed)]
        return _environment("align*", lines)

    # -- claims and verdicts (text) ------------------------------------------------------

    def _text(self, value: Any, depth: int = 0) -> str:
        """Plain data of a claim or a verdict as text: numbers (also exact numbers written as
        strings, "-1/2") and grids of them as math, a top-level dict as a list of items."""
        if isinstance(value, bool) or value is None:
            return {True: "true", False: "false", None: "none"}[value]
        number = _number(value)
        if number is not None:
            return _math_in_text(self._print(number))
        if isinstance(value, str):
            return _line(value)
        if isinstance(value, (sympy.Basic, sympy.MatrixBase, Term, Bilinear)):
            return _math_in_text(self._print(value))
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if isinstance(value, dict):
            pairs = [(k, v) for k, v in value.items() if not _empty(v)]
            if depth == 0 and pairs:
                return _itemize([rf"\emph{{{_line(k)}}}: {self._text(v, 1)}" for k, v in pairs])
            return ", ".join(f"{_line(k)} = {self._text(v, depth + 1)}" for k, v in pairs)
        if isinstance(value, (list, tuple, set, frozenset)):
            value = list(value)
            if _numeric_grid(value):
                rows = [list(r) for r in value] if isinstance(value[0], (list, tuple)) else [value]
                return _math_in_text(self._print(sympy.ImmutableMatrix([[_number(v) for v in r] for r in rows])))
            if depth == 1 and len(value) > 1 and all(isinstance(v, str) for v in value):
                return _itemize([_line(v) for v in value])
            return ("; " if any(isinstance(v, dict) for v in value) else ", ").join(self._text(v, depth + 1) for v in value)
        return _line(value)

    def _heading(self, claim: Any) -> str:
        title = getattr(claim, "title", None)
        tail = f" --- {_line(title)}" if title else ""
        # ids are long hyphenated words in typewriter type, which TeX does not hyphenate
        name = r"-\allowbreak{}".join(escape_text(part) for part in "".join(str(claim.id).split()).split("-"))
        command = self._settings["heading"]
        # a displayed heading set ragged: justified, a long id leaves no good line break
        ragged = "" if command.rstrip("*") in ("paragraph", "subparagraph") else r"\raggedright "
        return rf"\{command}{{{ragged}\texttt{{{name}}}{tail}}}"

    def _print_Claim(self, claim: Any, **kwargs: Any) -> str:
        if self._settings["mode"] == "inline":
            return rf"\text{{{_plain(claim.id)}: expected {_word(claim.expected)}}}"
        items = claim_items(claim) + note_item(claim)
        if not _empty(getattr(claim, "expected", None)):
            items.append(("Expected", _word(claim.expected)))
        return self._heading(claim) + "\n" + _items(items)

    def _print_Verdict(self, verdict: Any, **kwargs: Any) -> str:
        """A claim in a few lines: the seed's words, the statement as math, the verdict with
        its scope, then the counterexample and residual or the essence of the proof."""
        claim = verdict.claim
        ok = bool(getattr(verdict, "ok", True))
        if self._settings["mode"] == "inline":
            mark = r"\checkmark" if ok else r"\times"
            how = [_word(v) for v in (getattr(verdict, "method", None),) if v]
            seconds = getattr(verdict, "seconds", None)
            if seconds is not None:
                how.append(f"{float(seconds):.2f}\\,s")
            return rf"{mark}\ \text{{{_plain(claim.id)}: {_word(verdict.found)} (expected {_word(claim.expected)}), {', '.join(how)}}}"
        items = claim_items(claim) + verdict_items(verdict, self._text) + note_item(claim)
        return self._heading(claim) + "\n" + _items(items)


# -- helpers ------------------------------------------------------------------------------


def _check_settings(settings: dict[str, Any], known: dict[str, Any]) -> None:
    for key in settings:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ShapeError(f"unknown LaTeX setting {key!r}{hint}; known settings: {', '.join(sorted(known))}")
    for key in ("line_length", "max_terms", "max_entries", "float_digits"):
        value = settings.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ShapeError(f"LaTeX setting {key}={value!r}; expected a positive integer")
    if settings.get("heading", "paragraph").rstrip("*") not in _HEADINGS:
        raise ShapeError(f"LaTeX setting heading={settings['heading']!r}; expected one of {', '.join(sorted(_HEADINGS))} (optionally starred)")


def _number(value: Any) -> sympy.Number | None:
    """An exact or float number as sympy's, also from a string such as "-1/2"; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return sympy.Integer(int(value))
    if isinstance(value, (float, np.floating)):
        return sympy.Float(float(value))
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    if isinstance(value, sympy.Number):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(/\d+|\.\d*)?\s*", value):
        exact = Fraction(value.strip())  # a literal, parsed: never evaluated
        return sympy.Rational(exact.numerator, exact.denominator)
    return None


def _numeric_grid(value: list) -> bool:
    """Numbers, or equally long rows of numbers: evidence that reads best as a matrix."""

    def numbers(row: Any) -> bool:
        return isinstance(row, (list, tuple)) and bool(row) and all(_number(v) is not None for v in row)

    return numbers(value) or (bool(value) and all(numbers(r) for r in value) and len({len(r) for r in value}) == 1)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, tuple, dict, set)) and not value)


def _itemize(items: list[str]) -> str:
    return "\\begin{itemize}\\setlength{\\itemsep}{0pt}\n" + "\n".join(rf"\item {item}" for item in items) + "\n\\end{itemize}"


def _is_claim(obj: Any) -> bool:
    return type(obj).__name__ in ("Claim", "Verdict")


def _leaf(name: str) -> str:
    if name == "1":
        return r"\mathbf{1}"
    m = re.fullmatch(r"([a-zA-Z])(\d+)", name)
    return f"{m[1]}_{{{m[2]}}}" if m else name


def _environment(name: str, lines: list[str]) -> str:
    return f"\\begin{{{name}}}\n" + " \\\\\n".join(lines) + f"\n\\end{{{name}}}"


def _items(items: list[tuple[str, str]]) -> str:
    """Labelled lines set close together and ragged right, each label in italics: a claim
    reads as one compact block; long math breaks at its operators."""
    body = "\n".join(rf"\item \emph{{{label}:}} {tex}" for label, tex in items)
    return ("\\begin{list}{}{\\setlength{\\leftmargin}{1.5em}\\setlength{\\itemsep}{0pt}\\setlength{\\parsep}{0pt}"
            "\\setlength{\\topsep}{1pt}}\\raggedright\n" + body + "\n\\end{list}")


def _thousands(n: int) -> str:
    """``2\\,849``: thin spaces between groups of three digits."""
    return f"{n:,}".replace(",", r"\,")


def _math_in_text(tex: str) -> str:
    return rf"\ensuremath{{{tex}}}"


def _word(text: Any) -> str:
    """A verdict word as words: out_of_scope reads "out of scope"."""
    return _plain(str(text).replace("_", " "))


def _plain(text: Any) -> str:
    """Short text on one line, without break hints (notebooks show \\allowbreak as it is)."""
    return escape_text(" ".join(str(text).split()))


def _line(text: Any) -> str:
    """User text on one line (a blank line would end the paragraph inside \\text{…} or a
    heading); long words, such as a residual ``2*P^{(0)}_{1,1}*…``, breakable after operators."""
    return " ".join(_word_breaks(word) for word in str(text).split())


def _word_breaks(word: str) -> str:
    if len(word) <= 20:
        return escape_text(word)
    return r"\allowbreak{}".join(escape_text(part) for part in re.split(r"(?<=[-*+,)/=\]])(?=.)", word))


_GLYPHLESS = re.compile(r"\\(?:hat|mathbf|mathrm|text|left|right|[bB]igg?[lr]|displaystyle|colon)(?![a-zA-Z])")


def _glyphs(tex: str) -> float:
    """About how wide ``tex`` typesets, in glyphs: enough to break lines before a page is full."""
    tex = tex.replace(r"\qquad", "mmmm").replace(r"\quad", "mm")
    tex = _GLYPHLESS.sub("", tex)
    tex = re.sub(r"\\[a-zA-Z]+", "m", tex)  # one glyph per symbol (\alpha, \odot)
    tex = re.sub(r"\\.", "", tex)  # \, \{ and the like
    # sub- and superscripts set small: W^{(0)}_{1,1} is about as wide as three letters
    scripts = 0.0
    while True:
        found = re.search(r"[_^](\{[^{}]*\}|.)", tex)
        if not found:
            break
        scripts += 0.6 * len(found[1].strip("{}").replace(" ", ""))
        tex = tex[:found.start()] + tex[found.end():]
    tex = tex.replace("&", "").replace("{", "").replace("}", "")
    binary = tex.count(" + ") + tex.count(" - ") + tex.count("=")
    return len(tex.replace(" ", "")) + scripts + 1.5 * binary


# where a line may break inside a term (after a comma); never in the output. The delimiters are
# fixed sizes (\bigl( … \bigr)), not \left … \right pairs, so a term breaks over lines as it is
_BREAK = "\x00"


class _Names(SubtermNames):
    """:class:`SubtermNames` written as LaTeX: ``x_{l}`` and ``u_{k}``."""

    def name(self, t: Term) -> str | None:
        label = self.label(t)
        if label is None:
            return None
        kind, k = label
        return f"{kind}_{{{k}}}"

    def defined(self) -> list[tuple[Term, str]]:  # type: ignore[override]
        return [(t, f"u_{{{k}}}") for t, k in self.numbered()]


class _Rows:
    """Lines of an align*: pieces added until a line is full, then a new line."""

    def __init__(self, width: int, head: str) -> None:
        self.width, self.head = width, head
        # the left column (before &) widens every row of the environment, not just the first
        self.left = _glyphs(head.split("&")[0])
        self.rows: list[list[Any]] = []  # [text, tag]

    def _width(self, text: str) -> float:
        return _glyphs(text.replace(_BREAK, "")) + (self.left if not text.startswith(self.head) else 0)

    def add(self, piece: str, *, indent: str, new: bool = False, tag: str | None = None) -> None:
        """``piece`` on the current line if it fits, else on a new one; a piece too wide for any
        line breaks at its break points (:data:`_BREAK`), continued deeper indented."""
        if self.rows and not new and self._width(self.rows[-1][0] + " " + piece) <= self.width:
            self.rows[-1][0] += " " + piece
            return
        first, *rest = piece.split(_BREAK)
        self.rows.append([(self.head if not self.rows else "&" + indent) + first, tag])
        for chunk in rest:
            if self._width(self.rows[-1][0] + chunk) <= self.width:
                self.rows[-1][0] += chunk
            else:
                self.rows.append([r"&\qquad\qquad " + chunk.lstrip(), None])

    def append(self, text: str) -> None:
        self.rows[-1][0] += text

    def lines(self) -> list[str]:
        return [text + (rf" \tag*{{{tag}}}" if tag else "") for text, tag in self.rows]


# -- escaping user text -------------------------------------------------------------------

_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "%": r"\%", "#": r"\#",
    "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}", "<": r"\textless{}",
    ">": r"\textgreater{}", "|": r"\textbar{}",
}
# unicode that pdflatex cannot take as it is, as math (wrapped in \ensuremath) …
_UNICODE_MATH = {
    "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "ε": r"\varepsilon", "θ": r"\theta",
    "λ": r"\lambda", "μ": r"\mu", "π": r"\pi", "σ": r"\sigma", "τ": r"\tau", "φ": r"\varphi", "ω": r"\omega",
    "Δ": r"\Delta", "Σ": r"\Sigma", "Π": r"\Pi", "Ω": r"\Omega", "∑": r"\sum", "∏": r"\prod",
    "⊙": r"\odot", "⊗": r"\otimes", "⊕": r"\oplus", "∘": r"\circ", "·": r"\cdot", "×": r"\times", "÷": r"\div",
    "≠": r"\neq", "≤": r"\leq", "≥": r"\geq", "≈": r"\approx", "≡": r"\equiv", "∝": r"\propto",
    "→": r"\to", "←": r"\leftarrow", "↦": r"\mapsto", "⇒": r"\Rightarrow", "⇔": r"\Leftrightarrow",
    "∥": r"\parallel", "∦": r"\nparallel", "‖": r"\|", "⊤": r"\top", "⊥": r"\perp", "ᵀ": r"^{\top}", "′": r"'",
    "∈": r"\in", "∉": r"\notin", "∀": r"\forall", "∃": r"\exists", "∞": r"\infty", "±": r"\pm", "∓": r"\mp",
    "∂": r"\partial", "∇": r"\nabla", "√": r"\surd", "−": "-", "ℝ": r"\mathbb{R}", "ℚ": r"\mathbb{Q}",
    "ℤ": r"\mathbb{Z}", "ℕ": r"\mathbb{N}", "⟨": r"\langle", "⟩": r"\rangle", "∅": r"\emptyset",
    **{chr(0x2070 + i): f"^{{{i}}}" for i in (0, 4, 5, 6, 7, 8, 9)}, "¹": "^{1}", "²": "^{2}", "³": "^{3}",
    **{chr(0x2080 + i): f"_{{{i}}}" for i in range(10)},
}
# … or as text
_UNICODE_TEXT = {
    "‘": "`", "’": "'", "“": "``", "”": "''", "—": "---", "–": "--", "…": r"\ldots{}", "\u00a0": "~",
    "•": r"\textbullet{}", "°": r"\textdegree{}", "\t": " ",
}
_COMBINING = {"\u0302": r"\hat", "\u0303": r"\tilde", "\u0304": r"\bar", "\u0307": r"\dot", "\u20d7": r"\vec"}


def escape_text(text: str) -> str:
    """User text (a quote, a statement, a detail) as LaTeX text that always compiles.

    TeX's special characters are escaped, mathematical unicode becomes math, typographic
    quotes and dashes become TeX's, accented Latin letters stay; anything else shows as its
    code point.

    >>> escape_text("B(ax) = a²B(x) for 100% of x_i & α ≠ 0")
    'B(ax) = a\\\\ensuremath{^{2}}B(x) for 100\\\\% of x\\\\_i \\\\& \\\\ensuremath{\\\\alpha} \\\\ensuremath{\\\\neq} 0'
    """
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    for i, ch in enumerate(text):
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if ch in _COMBINING:
            continue  # applied to the character before it
        if nxt in _COMBINING:
            base = ch if ch.isascii() and ch.isalnum() else "{}"
            out.append(_math_in_text(rf"{_COMBINING[nxt]}{{{base}}}"))
        elif ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ch.isascii():
            out.append(ch if ch.isprintable() or ch == "\n" else " ")
        elif ch in _UNICODE_MATH:
            out.append(_math_in_text(_UNICODE_MATH[ch]))
        elif ch in _UNICODE_TEXT:
            out.append(_UNICODE_TEXT[ch])
        elif "\u00c0" <= ch <= "\u00ff":  # accented Latin letters: LaTeX's utf8 input handles them
            out.append(ch)
        else:
            plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(escape_text(plain) if plain else rf"\texttt{{[U+{ord(ch):04X}]}}")
    return "".join(out)


def preamble() -> str:
    """The ``\\usepackage`` lines a document needs for the printer's output."""
    return "\\usepackage[T1]{fontenc}\n\\usepackage{lmodern}\n\\usepackage{amsmath,amssymb}"


def latex(obj: Any, **settings: Any) -> str:
    """LaTeX for a term, an expansion, a layer, a network, a claim, a verdict or a sympy object.

    Settings: ``OWN_SETTINGS`` and those of ``sympy.latex``; an unknown one is an error.

    >>> from symsteer.terms import leaf
    >>> latex(leaf("d0")), latex(leaf("x0"))
    ('d_{0}', 'x_{0}')
    """
    return SymsteerLatexPrinter(settings).doprint(obj)


# the documented ``symsteer.latex.preamble()``: the function carries what a document needs
latex.preamble = preamble  # type: ignore[attr-defined]
latex.escape_text = escape_text  # type: ignore[attr-defined]
