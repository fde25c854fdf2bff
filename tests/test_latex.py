"""The LaTeX printer: exact strings for a table of small cases, and every snippet compiles."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import sympy

from symsteer import Bilinear, Network, ShapeError, expand
from symsteer.claims import Claim, Verdict
from symsteer._latex import OWN_SETTINGS, SymsteerLatexPrinter, escape_text, latex, preamble
from symsteer.terms import ONE, apply, leaf

x, s = leaf("x"), leaf("s")
xs = apply(0, x, s)


CLAIM = Claim("01-homogeneity", "Bilinear(ax)=a²Bilinear(x)", "B(a*x) == a**2*B(x)", "degree 2",
              ("bias = false",), "holds", Path("proofs/01.toml"), "Homogeneity", note="Degree 2,\n  not linearity.")
VERDICT = Verdict(CLAIM, "fails", "counterexample", 0.25, "d=1", "6 ≠ 8", {"x": [1, 2]})


def verdict(found: str = "holds", method: str = "proof", seconds: float = 1.0, **fields: Any) -> Verdict:
    return Verdict(fields.pop("claim", CLAIM), found, method, seconds, fields.pop("scope", ""), fields.pop("detail", ""), **fields)


def plain1(**options: Any) -> Network:
    return Network.of(Bilinear([[2]], [[3]], [[1]]), **options)


def residual(layers: int) -> Network:
    return Network.of([Bilinear([[1]], [[1]], [[1]])] * layers, residual=True)


# -- terms ----------------------------------------------------------------------------------

TERMS = [
    (x, {}, "x"),
    (s, {}, "s"),
    (ONE, {}, r"\mathbf{1}"),
    (leaf("x0"), {}, "x_{0}"),
    (leaf("d0"), {}, "d_{0}"),
    (leaf("d12"), {}, "d_{12}"),
    (xs, {}, r"\hat B_{0}(x, s)"),
    (apply(0, ONE, s), {}, r"\hat B_{0}(\mathbf{1}, s)"),
    (apply(1, xs, s), {}, r"\hat B_{1}\bigl(\hat B_{0}(x, s), s\bigr)"),
    (apply(1, xs, xs), {}, r"\hat B_{1}\bigl(\hat B_{0}(x, s), \hat B_{0}(x, s)\bigr)"),
    (apply(2, apply(1, xs, x), s), {}, r"\hat B_{2}\Bigl(\hat B_{1}\bigl(\hat B_{0}(x, s), x\bigr), s\Bigr)"),
    (apply(3, apply(2, apply(1, xs, x), s), x), {},
     r"\hat B_{3}\biggl(\hat B_{2}\Bigl(\hat B_{1}\bigl(\hat B_{0}(x, s), x\bigr), s\Bigr), x\biggr)"),
    (xs, {"layer_symbol": "T"}, r"\hat T_{0}(x, s)"),
    (xs, {"mode": "inline"}, r"$\hat B_{0}(x, s)$"),
]


@pytest.mark.parametrize("term, settings, expected", TERMS, ids=[t[2] for t in TERMS])
def test_term(term: Any, settings: dict, expected: str) -> None:
    assert latex(term, **settings) == expected


def test_term_repr_latex_is_display_math() -> None:
    assert xs._repr_latex_() == r"$\displaystyle \hat B_{0}(x, s)$"


# -- expansions -----------------------------------------------------------------------------

PLAIN1 = r"""\begin{align*}
y(\alpha) &= \hat B_{0}(x, x) \tag*{input} \\
&\quad + 2 \alpha \hat B_{0}(x, s) \tag*{cross} \\
&\quad + \alpha^{2} \hat B_{0}(s, s) \tag*{self}
\end{align*}"""

RESIDUAL1 = r"""\begin{align*}
y(\alpha) &= x + \hat B_{0}(x, x) \tag*{input} \\
&\quad + \alpha \bigl[\, 2 \hat B_{0}(x, s) \tag*{cross} \\
&\qquad + s \,\bigr] \tag*{self} \\
&\quad + O(\alpha^{2})
\end{align*}"""

RESIDUAL1_UNGROUPED = r"""\begin{align*}
y(\alpha) &= x + \hat B_{0}(x, x) \\
&\quad + \alpha \bigl[\, 2 \hat B_{0}(x, s) + s \,\bigr] + O(\alpha^{2})
\end{align*}"""

UNEMBED = r"""\begin{align*}
y(\varepsilon) &= U \hat B_{0}(x, x) \tag*{input} \\
&\quad + 2 \varepsilon U \hat B_{0}(x, s) \tag*{cross} \\
&\quad + \varepsilon^{2} U \hat B_{0}(s, s) \tag*{self}
\end{align*}"""

BIAS = r"""\begin{align*}
y(\alpha) &= \hat B_{0}(x, x) + 2 \hat B_{0}(x, \mathbf{1}) \tag*{input} \\
&\quad + \hat B_{0}(\mathbf{1}, \mathbf{1}) \tag*{const} \\
&\quad + \alpha \bigl[\, 2 \hat B_{0}(x, s) \tag*{cross} \\
&\qquad + 2 \hat B_{0}(\mathbf{1}, s) \,\bigr] \tag*{self} \\
&\quad + \alpha^{2} \hat B_{0}(s, s) \tag*{self}
\end{align*}"""

SPLIT = r"""\begin{align*}
y(\alpha) &= x_{0} + d_{0} + \hat B_{1}(x_{0}, x_{0}) + 2 \hat B_{1}(x_{0}, d_{0}) + \hat B_{1}(d_{0}, d_{0}) \tag*{input} \\
&\quad + \alpha \bigl[\, 2 \hat B_{1}(x_{0}, s) + 2 \hat B_{1}(d_{0}, s) \tag*{cross} \\
&\qquad + s \,\bigr] \tag*{self} \\
&\quad + O(\alpha^{2})
\end{align*}"""

# two layers to order 2: the order-2 group breaks over three lines, the α-bracket spans them
RESIDUAL2 = r"""\begin{align*}
y(\alpha) &= x + \hat B_{0}(x, x) + \hat B_{1}(x, x) + 2 \hat B_{1}\bigl(x, \hat B_{0}(x, x)\bigr) \tag*{input} \\
&\quad + \hat B_{1}\bigl(\hat B_{0}(x, x), \hat B_{0}(x, x)\bigr) \\
&\quad + \alpha \bigl[\, 2 \hat B_{0}(x, s) + 2 \hat B_{1}(x, s) + 4 \hat B_{1}\bigl(x, \hat B_{0}(x, s)\bigr) \tag*{cross} \\
&\qquad + 2 \hat B_{1}\bigl(\hat B_{0}(x, x), s\bigr) + 4 \hat B_{1}\bigl(\hat B_{0}(x, x), \hat B_{0}(x, s)\bigr) \\
&\qquad + s \,\bigr] \tag*{self} \\
&\quad + \alpha^{2} \bigl[\, 2 \hat B_{1}\bigl(x, \hat B_{0}(s, s)\bigr) + 2 \hat B_{1}\bigl(\hat B_{0}(x, x), \hat B_{0}(s, s)\bigr) \tag*{cross} \\
&\qquad + 4 \hat B_{1}\bigl(s, \hat B_{0}(x, s)\bigr) + 4 \hat B_{1}\bigl(\hat B_{0}(x, s), \hat B_{0}(x, s)\bigr) \\
&\qquad + \hat B_{0}(s, s) + \hat B_{1}(s, s) \,\bigr] \tag*{self} \\
&\quad + O(\alpha^{3})
\end{align*}"""

COUNTS = r"""\begin{align*}
&17\ \text{distinct terms}\text{ up to }\alpha^{2}\text{, too many to list (more than }3\text{)} \\
\alpha^{0} &\colon\ 5\ \text{input} \\
\alpha^{1} &\colon\ 5\ \text{cross},\ 1\ \text{self} \\
\alpha^{2} &\colon\ 4\ \text{cross},\ 2\ \text{self} \\
&\quad + O(\alpha^{3})
\end{align*}"""

COEFFICIENTS = PLAIN1 + "\n" + r"""\begin{align*}
\bigl[y_{0}^{\text{input}}\bigr]_{1} &= 6 x_{1}^{2} \\
\bigl[y_{1}^{\text{cross}}\bigr]_{1} &= 12 s_{1} x_{1} \\
\bigl[y_{2}^{\text{self}}\bigr]_{1} &= 6 s_{1}^{2}
\end{align*}"""

EXPANSIONS = [
    ("plain 1 layer", lambda: expand(plain1(), steer_at=0), {}, PLAIN1),
    ("residual truncated", lambda: expand(residual(1), steer_at=0, max_order=1), {}, RESIDUAL1),
    ("ungrouped", lambda: expand(residual(1), steer_at=0, max_order=1), {"group": False}, RESIDUAL1_UNGROUPED),
    ("unembedding", lambda: expand(plain1(unembed=[[1]]), steer_at=0), {"alpha_symbol": r"\varepsilon"}, UNEMBED),
    ("biases", lambda: expand(Network.of(Bilinear([[1]], [[1]], [[1]], b=[1], c=[2])), steer_at=0), {}, BIAS),
    ("split directions", lambda: expand(residual(2), steer_at=1, max_order=1, split_directions=True), {}, SPLIT),
    ("residual 2 layers", lambda: expand(residual(2), steer_at=0, max_order=2), {}, RESIDUAL2),
    ("counts", lambda: expand(residual(2), steer_at=0, max_order=2), {"max_terms": 3}, COUNTS),
    ("coefficients", lambda: expand(plain1(), steer_at=0), {"coefficients": True}, COEFFICIENTS),
]


# a term too wide for a line: every term prints its s-carrying skeleton, the input-only
# sub-terms named by the unsteered stream x_l, defined once below (exact: nothing is elided)
PLAIN4 = r"""\begin{align*}
y(\alpha) &= \hat B_{3}(x_{3}, x_{3}) \tag*{input} \\
&\quad + 16 \alpha \hat B_{3}\biggl(x_{3}, \hat B_{2}\Bigl(x_{2}, \hat B_{1}\bigl(x_{1}, \hat B_{0}(x, s)\bigr)\Bigr)\biggr) \tag*{cross} \\
&\quad + \alpha^{2} \bigl[\, 8 \hat B_{3}\biggl(x_{3}, \hat B_{2}\Bigl(x_{2}, \hat B_{1}\bigl(x_{1}, \hat B_{0}(s, s)\bigr)\Bigr)\biggr) \tag*{cross} \\
&\qquad + 16 \hat B_{3}\biggl(x_{3}, \hat B_{2}\Bigl(x_{2}, \hat B_{1}\bigl(\hat B_{0}(x, s), \hat B_{0}(x, s)\bigr)\Bigr)\biggr) \\
&\qquad + 32 \hat B_{3}\biggl(x_{3}, \hat B_{2}\Bigl(\hat B_{1}\bigl(x_{1}, \hat B_{0}(x, s)\bigr), \hat B_{1}\bigl(x_{1}, \hat B_{0}(x, s)\bigr)\Bigr)\biggr) \\
&\qquad + 64 \hat B_{3}\biggl(\hat B_{2}\Bigl(x_{2}, \hat B_{1}\bigl(x_{1}, \hat B_{0}(x, s)\bigr)\Bigr), \hat B_{2}\Bigl(x_{2}, \hat B_{1}\bigl(x_{1}, \hat B_{0}(x, s)\bigr)\Bigr)\biggr) \,\bigr] \\
&\quad + O(\alpha^{3}) \\
&\text{where }x_{0} = x\text{ and }x_{l+1} = \hat B_{l}(x_{l}, x_{l})\text{ (the unsteered stream)}
\end{align*}"""

# still too wide with names: the term breaks after a comma inside its (fixed-size) delimiters
PLAIN12 = r"""\begin{align*}
y(\alpha) &= \hat B_{11}(x_{11}, x_{11}) \tag*{input} \\
&\quad + 4096 \alpha \hat B_{11}\Biggl(x_{11}, \hat B_{10}\Biggl(x_{10}, \hat B_{9}\Biggl(x_{9}, \hat B_{8}\Biggl(x_{8}, \hat B_{7}\Biggl(x_{7}, \hat B_{6}\Biggl(x_{6}, \hat B_{5}\Biggl(x_{5}, \hat B_{4}\Biggl(x_{4}, \tag*{cross} \\
&\qquad\qquad \hat B_{3}\biggl(x_{3}, \hat B_{2}\Bigl(x_{2}, \hat B_{1}\bigl(x_{1}, \hat B_{0}(x, s)\bigr)\Bigr)\biggr)\Biggr)\Biggr)\Biggr)\Biggr)\Biggr)\Biggr)\Biggr)\Biggr) \\
&\quad + O(\alpha^{2}) \\
&\text{where }x_{0} = x\text{ and }x_{l+1} = \hat B_{l}(x_{l}, x_{l})\text{ (the unsteered stream)}
\end{align*}"""

# a residual stream is no single term: larger input-only sub-terms are u_k, defined in order
RESIDUAL3_NARROW_WHERE = r"""&\text{where }u_{1} = \hat B_{1}\bigl(x, \hat B_{0}(x, x)\bigr),\quad u_{2} = \hat B_{1}\bigl(\hat B_{0}(x, x), \hat B_{0}(x, x)\bigr)
\end{align*}"""


def plain(layers: int) -> Network:
    return Network.of([Bilinear([[1]], [[1]], [[1]])] * layers)


EXPANSIONS += [
    ("plain 4 layers named", lambda: expand(plain(4), steer_at=0, max_order=2), {}, PLAIN4),
    ("plain 12 layers broken", lambda: expand(plain(12), steer_at=0, max_order=1), {}, PLAIN12),
]


def test_residual_names_input_only_sub_terms_and_defines_them() -> None:
    out = latex(expand(residual(3), steer_at=0, max_order=1), line_length=40)
    assert out.endswith(RESIDUAL3_NARROW_WHERE)
    assert r"\dots" not in out and "x_{1}" not in out  # residual: x_l is no term; nothing elided


@pytest.mark.parametrize("make, settings, expected", [c[1:] for c in EXPANSIONS], ids=[c[0] for c in EXPANSIONS])
def test_expansion(make: Any, settings: dict, expected: str) -> None:
    assert latex(make(), **settings) == expected


def test_expansion_over_its_own_budget_prints_counts() -> None:
    e = expand(residual(3), steer_at=0, budget=10)
    out = latex(e)
    assert r"230\ \text{distinct terms}" in out and r"\hat B" not in out


def test_expansion_repr_latex_is_its_own_environment() -> None:
    assert expand(plain1(), steer_at=0)._repr_latex_() == PLAIN1


def test_long_sums_break_within_the_line_length() -> None:
    e = expand(Network.random(layers=3, width=2, hidden=2, residual=True, seed=1), steer_at=0, max_order=1)
    out = latex(e, line_length=40)
    rows = out.splitlines()[1:-1]
    assert len(rows) > 10
    from symsteer._latex import _glyphs

    # a row may pass the limit only when it holds a single summand
    for row in rows:
        body = re.sub(r" \\tag\*\{\w+\}", "", row).rstrip(" \\")
        assert _glyphs(body) <= 40 or body.count(" + ") <= 1, row


def test_coefficients_over_max_terms_print_their_size() -> None:
    e = expand(Network.random(layers=2, width=2, hidden=2, residual=True, seed=0), steer_at=0, max_order=1)
    out = latex(e, coefficients=True, max_terms=3)
    assert r"\text{a polynomial of 13 monomials (not shown)}" in out


# -- layers, networks, sympy objects --------------------------------------------------------

LAYER = r"W = \left[\begin{matrix}1 & 0\end{matrix}\right],\quad V = \left[\begin{matrix}0 & 1\end{matrix}\right],\quad P = \left[\begin{matrix}1\\2\end{matrix}\right]"

OBJECTS = [
    ("layer", lambda: Bilinear([[1, 0]], [[0, 1]], [[1], [2]]), {}, LAYER),
    ("float weights", lambda: Bilinear([[0.123456]], [[2.5]], [[1.0]]), {"float_digits": 3},
     r"W = \left[\begin{matrix}0.123\end{matrix}\right],\quad V = \left[\begin{matrix}2.5\end{matrix}\right],\quad P = \left[\begin{matrix}1.0\end{matrix}\right]"),
    ("biases", lambda: Bilinear([[1]], [[1]], [[1]], b=[sympy.Rational(1, 2)], c=[-1]), {},
     r"W = \left[\begin{matrix}1\end{matrix}\right],\quad V = \left[\begin{matrix}1\end{matrix}\right],\quad P = \left[\begin{matrix}1\end{matrix}\right],\quad "
     r"b^{\top} = \left[\begin{matrix}\frac{1}{2}\end{matrix}\right],\quad c^{\top} = \left[\begin{matrix}-1\end{matrix}\right]"),
    ("shapes only", lambda: Bilinear([[1, 0]], [[0, 1]], [[1], [2]]), {"max_entries": 1},
     r"W \in \mathbb{R}^{1 \times 2},\quad V \in \mathbb{R}^{1 \times 2},\quad P \in \mathbb{R}^{2 \times 1}"),
    ("symbolic", lambda: Bilinear.symbolic(1, 1), {},
     r"W = \left[\begin{matrix}W^{(0)}_{1,1}\end{matrix}\right],\quad V = \left[\begin{matrix}V^{(0)}_{1,1}\end{matrix}\right],\quad P = \left[\begin{matrix}P^{(0)}_{1,1}\end{matrix}\right]"),
    ("network", lambda: plain1(embed=[[1, 1]]), {},
     "\\begin{align*}\n"
     r"x_{0} &= E\, x_{\mathrm{in}} \\" "\n"
     r"x_{l+1} &= B_{l}(x_{l}), \quad B_{l}(x) = P_{l}\bigl((W_{l} x) \odot (V_{l} x)\bigr), \quad l = 0 \\" "\n"
     r"y &= x_{1} \\" "\n"
     r"\text{embedding}\colon\quad &E = \left[\begin{matrix}1 & 1\end{matrix}\right] \\" "\n"
     r"\text{layer 0}\colon\quad &W_{0} = \left[\begin{matrix}2\end{matrix}\right],\quad V_{0} = \left[\begin{matrix}3\end{matrix}\right],\quad P_{0} = \left[\begin{matrix}1\end{matrix}\right]"
     "\n\\end{align*}"),
    ("residual network", lambda: Network.of([Bilinear([[1]], [[1]], [[1]], b=[0], c=[0])] * 4, residual=True, unembed=[[2]]),
     {"max_entries": 0 + 1, "layer_symbol": "T"}, None),
    ("sympy expression", lambda: 2 * sympy.Symbol("x_1") ** 2, {}, "2 x_{1}^{2}"),
]


@pytest.mark.parametrize("make, settings, expected", [c[1:] for c in OBJECTS], ids=[c[0] for c in OBJECTS])
def test_objects(make: Any, settings: dict, expected: str | None) -> None:
    out = latex(make(), **settings)
    if expected is None:  # spot checks where the whole string says little more
        assert r"x_{l+1} &= x_{l} + T_{l}(x_{l})" in out and r"(W_{l} x + b_{l}) \odot (V_{l} x + c_{l})" in out
        assert r"l = 0, \dots, 3" in out and r"y &= U x_{4}" in out
    else:
        assert out == expected


# -- claims and verdicts --------------------------------------------------------------------

LIST = r"\begin{list}{}{\setlength{\leftmargin}{1.5em}\setlength{\itemsep}{0pt}\setlength{\parsep}{0pt}\setlength{\topsep}{1pt}}\raggedright"

CLAIM_TEX = r"""\paragraph{\texttt{01-\allowbreak{}homogeneity} --- Homogeneity}
""" + LIST + r"""
\item \emph{Seed:} \emph{``Bilinear(ax)\allowbreak{}=\allowbreak{}a\ensuremath{^{2}}Bilinear(x)''} (read as: degree 2)
\item \emph{Statement:} $B(a x) = a^{2} B(x)$ assuming \texttt{bias = false}
\item \emph{Note:} Degree 2, not linearity.
\item \emph{Expected:} holds
\end{list}"""

VERDICT_TEX = r"""\subsection{\raggedright \texttt{01-\allowbreak{}homogeneity} --- Homogeneity}
""" + LIST + r"""
\item \emph{Seed:} \emph{``Bilinear(ax)\allowbreak{}=\allowbreak{}a\ensuremath{^{2}}Bilinear(x)''} (read as: degree 2)
\item \emph{Statement:} $B(a x) = a^{2} B(x)$ assuming \texttt{bias = false}
\item \emph{Verdict:} \textbf{fails} $\times$ (expected holds) by counterexample, d=1. 6 \ensuremath{\neq} 8
\item \emph{Evidence:} \begin{itemize}\setlength{\itemsep}{0pt}
\item \emph{x}: \ensuremath{\left[\begin{matrix}1 & 2\end{matrix}\right]}
\end{itemize}
\item \emph{Note:} Degree 2, not linearity.
\end{list}"""


def test_claim() -> None:
    assert latex(CLAIM) == CLAIM_TEX


def test_verdict() -> None:
    assert latex(VERDICT, heading="subsection") == VERDICT_TEX


ITEMS = "\\begin{itemize}\\setlength{\\itemsep}{0pt}\n"
FAILS = r"\item \emph{Verdict:} \textbf{fails} $\times$ (expected holds) by counterexample"

# evidence as the verifier writes it: exact numbers as strings, nested dicts and lists; what
# the printer knows (a point, its values, a residual, proofs) reads as math in the verdict's
# line, anything else is listed as it is
EVIDENCE = [
    ({"x": [Fraction(1, 3), 2]}, ITEMS + r"\item \emph{x}: \ensuremath{\left[\begin{matrix}\frac{1}{3} & 2\end{matrix}\right]}"),
    ({"W0": [["1", "0"], ["0", "-1/2"]]}, r"\item \emph{W0}: \ensuremath{\left[\begin{matrix}1 & 0\\0 & - \frac{1}{2}\end{matrix}\right]}"),
    ({"residual": sympy.Integer(0), "a": Fraction(-1, 2), "t": "0.5"},
     FAILS + r"; over generic weights the two sides differ by $0$" "\n" r"\item \emph{Evidence:} " + ITEMS
     + r"\item \emph{a}: \ensuremath{- \frac{1}{2}}" "\n" r"\item \emph{t}: \ensuremath{\frac{1}{2}}"),
    ({"f": 2 * sympy.Symbol("a") ** 2}, r"\item \emph{f}: \ensuremath{2 a^{2}}"),
    ({"point": {"x": ["1", "0"], "a": "2"}, "substituted": {}}, FAILS + r" at $x = (1, 0)$, $a = 2$" "\n"),
    ({"case": {"layers": 1, "d": 2, "h": 2, "residual": True, "bias": False}, "point": {"W0": [["1", "0"], ["0", "-1/2"]], "x": ["1", "0"]},
      "values": [{"expression": "B(x)", "value": ["4"]}, {"expression": "2*x", "value": ["2"]}]},
     FAILS + r" at $L = 1$, $d = h = 2$, residual, $W_{0} = \left(\begin{smallmatrix}1 & 0 \\ 0 & -\tfrac{1}{2}\end{smallmatrix}\right)$, "
     r"$x = (1, 0)$; then $B(x) = (4)$, $2 x = (2)$"),
    ({"residual": "P^{(0)}_{1,1}*a**2*x_1 - 1/2*x_1"}, FAILS + r"; over generic weights the two sides differ by $P^{(0)}_{1,1} a^{2} x_{1} - \tfrac{1}{2} x_{1}$"),
    ({"error": "-oo (zero polynomial)", "case": {"bias": True, "unembed": None}}, r"\item \emph{error}: -oo (zero polynomial)" "\n"),
    ("B(2) = 4 ≠ 2", r"\item \emph{evidence}: B(2) = 4 \ensuremath{\neq} 2"),
    (["ragged", [1, 2], [3]], r"\item \emph{evidence}: ragged, \ensuremath{\left[\begin{matrix}1 & 2\end{matrix}\right]}, \ensuremath{\left[\begin{matrix}3\end{matrix}\right]}"),
    ({"term": apply(0, x, s)}, r"\item \emph{term}: \ensuremath{\hat B_{0}(x, s)}"),
]


@pytest.mark.parametrize("evidence, tex", EVIDENCE, ids=[str(e[0])[:40] for e in EVIDENCE])
def test_evidence(evidence: Any, tex: str) -> None:
    assert tex in latex(verdict("fails", "counterexample", 0.1, evidence=evidence))


def test_proof_in_a_line_with_its_essence() -> None:
    evidence = {"formal": ["L = 1, (d, h) = (1, 1), plain: both sides expand to the same 1 nested bilinear term(s)"],
                "proofs": [f"(d, h) = ({k}, {k}): 'B(a*x) == a**2*B(x)': the difference expands to 0" for k in (1, 2, 3)],
                "numeric_checks": 9}
    out = latex(verdict("holds", "proof", 0.1, scope="proved for all d, h", evidence=evidence))
    assert (r"\item \emph{Verdict:} \textbf{holds} $\checkmark$ by proof, proved for all d, h. Proof: for every $d, h$, "
            r"both sides expand to the same 1 nested bilinear term(s); checked at 9 seeded random exact points") in out
    assert "expands to 0" not in out  # the symbolic proofs at fixed widths repeat the formal one
    symbolic = latex(verdict("holds", "proof", 0.1, evidence={"proofs": evidence["proofs"]}))
    assert r"Proof: over generic symbolic weights, the difference expands to 0 (and likewise at 2 more shape(s))" in symbolic


STATEMENTS = [
    ("B(a*x) == a**2 * B(x)", r"B(a x) = a^{2} B(x)"),
    ("not parallel(x + alpha*s, x + 2*alpha*s)", r"x + \alpha s \nparallel x + 2 \alpha s"),
    ("(t*z + ones - z) * x == x + (t - 1) * (z*x)", r"(t z + \mathbf{1} - z) \odot x = x + (t - 1) (z \odot x)"),
    ("degree_in(f(x + alpha*s), alpha) <= 2**L", r"\deg_{\alpha} f(x + \alpha s) \le 2^{L}"),
    ("generic(depends_on(-(W@x + b) / (W@s), x))", r"\text{for almost every weight and input: } \frac{-(W x + b)}{W s} \text{ depends on } x"),
    ("share(a*x, 'unit') == share(x, 'unit')", r"\operatorname{share}_{\text{unit}}(a x) = \operatorname{share}_{\text{unit}}(x)"),
    ("self_part(f(x + alpha*s)) == f(alpha*s) - f(0*s)", r"\bigl[f(x + \alpha s)\bigr]_{\text{self}} = f(\alpha s) - f(0 s)"),
    ("B(z, s) + B(s, z) == cross_map(s) @ z", r"B(z, s) + B(s, z) = M_{s} z"),
    ("f(a*x) == a**(2**L) * f(x)", r"f(a x) = a^{2^{L}} f(x)"),
    ("B(t*x) / norm2(t*x) == B(x) / norm2(x)", r"\frac{B(t x)}{\lVert t x \rVert^{2}} = \frac{B(x)}{\lVert x \rVert^{2}}"),
]


@pytest.mark.parametrize("statement, tex", STATEMENTS)
def test_statements_print_as_mathematics(statement: str, tex: str) -> None:
    from symsteer.claim_latex import statement_latex

    assert statement_latex(statement) == tex


def test_verdict_words_read_as_words() -> None:
    out = latex(verdict("out_of_scope", "none", 0.0, claim=replace(CLAIM, expected="out_of_scope")))
    assert r"\item \emph{Verdict:} \textbf{out of scope} $\checkmark$" in out


def test_verdict_inline_for_notebooks() -> None:
    assert latex(verdict(seconds=1.5), mode="inline") == r"$\checkmark\ \text{01-homogeneity: holds (expected holds), proof, 1.50\,s}$"


# -- escaping -------------------------------------------------------------------------------

ESCAPES = [
    ("plain text", "plain text"),
    ("\\", r"\textbackslash{}"),
    ("{x}", r"\{x\}"),
    ("$5 & 10% #1 x_i", r"\$5 \& 10\% \#1 x\_i"),
    ("a^2 ~ b", r"a\textasciicircum{}2 \textasciitilde{} b"),
    ("<|>", r"\textless{}\textbar{}\textgreater{}"),
    ("α ⊙ ≠ →", r"\ensuremath{\alpha} \ensuremath{\odot} \ensuremath{\neq} \ensuremath{\to}"),
    ("u′=[2,0]⊤", r"u\ensuremath{'}=[2,0]\ensuremath{\top}"),
    ("it’s “happy” — ‘neutral’", "it's ``happy'' --- `neutral'"),
    ("B̂(x)", r"\ensuremath{\hat{B}}(x)"),
    ("x₀ + 10⁸", r"x\ensuremath{_{0}} + 10\ensuremath{^{8}}"),
    ("café", "café"),
    ("ﬁne", "fine"),
    ("snow ☃", r"snow \texttt{[U+2603]}"),
    ("\\input{/etc/passwd}", r"\textbackslash{}input\{/etc/passwd\}"),
]


@pytest.mark.parametrize("text, expected", ESCAPES, ids=[e[0] for e in ESCAPES])
def test_escape(text: str, expected: str) -> None:
    assert escape_text(text) == expected


# -- settings -------------------------------------------------------------------------------


def test_unknown_setting_names_it_and_the_known_ones() -> None:
    with pytest.raises(ShapeError, match=r"unknown LaTeX setting 'line_lenght' \(did you mean 'line_length'\?\); known settings: .*alpha_symbol.*mul_symbol"):
        latex(x, line_lenght=40)


@pytest.mark.parametrize("settings, match", [
    ({"line_length": 0}, "line_length=0; expected a positive integer"),
    ({"max_terms": True}, "max_terms=True; expected a positive integer"),
    ({"heading": "chapter"}, "heading='chapter'; expected one of"),
])
def test_bad_setting_values(settings: dict, match: str) -> None:
    with pytest.raises(ShapeError, match=re.escape(match)):
        SymsteerLatexPrinter(settings)


def test_own_settings_are_printer_defaults() -> None:
    assert set(OWN_SETTINGS) <= set(SymsteerLatexPrinter._default_settings)


# -- every snippet compiles -----------------------------------------------------------------

needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (Debian: texlive-latex-base)")


def overfull(log: str) -> list[str]:
    """Every "Overfull \\hbox (Xpt too wide)" in a pdflatex log."""
    return re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)


# deep stacks: every term of each must fit the page (names for input-only sub-terms, lines broken
# inside a term); (network, steer_at, max_order, settings)
DEEP = [
    ("plain 4 layers to order 2", lambda: expand(plain(4), steer_at=0, max_order=2), {}),
    ("plain 4 layers in full", lambda: expand(plain(4), steer_at=0), {"max_terms": 300}),
    ("plain 5 layers to order 1", lambda: expand(plain(5), steer_at=0, max_order=1), {}),
    ("plain 5 layers to order 2, unembedding", lambda: expand(Network.of([Bilinear([[1]], [[1]], [[1]])] * 5, unembed=[[1]]), steer_at=0, max_order=2), {}),
    ("plain 6 layers to order 1", lambda: expand(plain(6), steer_at=0, max_order=1), {}),
    ("plain 6 layers steered at 2", lambda: expand(plain(6), steer_at=2, max_order=2), {}),
    ("plain 12 layers to order 1", lambda: expand(plain(12), steer_at=0, max_order=1), {}),
    ("plain 30 layers to order 1", lambda: expand(plain(30), steer_at=0, max_order=1), {}),
    ("plain 5 layers, coefficients", lambda: expand(plain(5), steer_at=0, max_order=1), {"coefficients": True}),
    ("plain 3 layers with biases", lambda: expand(Network.of([Bilinear([[1]], [[1]], [[1]], b=[1], c=[1])] * 3), steer_at=1, max_order=2), {"max_terms": 2000}),
    ("residual 3 layers, narrow", lambda: expand(residual(3), steer_at=0, max_order=1), {"line_length": 40}),
    ("residual 4 layers to order 1", lambda: expand(residual(4), steer_at=0, max_order=1), {"max_terms": 1000}),
    ("residual 4 layers, split directions", lambda: expand(residual(4), steer_at=2, max_order=1, split_directions=True), {"max_terms": 2000}),
]


@pytest.mark.parametrize("make, settings", [c[1:] for c in DEEP], ids=[c[0] for c in DEEP])
def test_deep_expansions_are_exact(make: Any, settings: dict) -> None:
    out = latex(make(), **settings)
    assert r"\dots" not in out and "\x00" not in out
    if "u_{" in out or "x_{l+1}" in out:  # every name is defined
        where = out[out.index(r"\text{where }"):]
        for name in set(re.findall(r"u_\{\d+\}", out)):
            assert f"{name} = " in where, name


@needs_tex
def test_deep_expansions_fit_the_page(tmp_path: Any) -> None:
    from symsteer.report import compile_pdf

    body = "\n\n".join(latex(make(), **st) for _, make, st in DEEP)
    tex = "\\documentclass[11pt,a4paper]{article}\n" + preamble() + "\n\\usepackage[margin=2.5cm]{geometry}\n" \
        "\\allowdisplaybreaks\n\\begin{document}\n" + body + "\n\\end{document}\n"
    log = compile_pdf(tex, tmp_path / "deep.pdf")
    assert "Warning" not in log, log
    assert overfull(log) == []


@needs_tex
def test_every_snippet_compiles_in_one_document(tmp_path: Any) -> None:
    from symsteer.report import compile_pdf

    math = [latex(t, **st) for t, st, _ in TERMS if "mode" not in st]
    math += [latex(make(), **st) for _, make, st, _ in OBJECTS if "align" not in latex(make(), **st)]
    blocks = [latex(make(), **st) for _, make, st, _ in EXPANSIONS]
    blocks += [latex(make(), **st) for _, make, st, _ in OBJECTS if "align" in latex(make(), **st)]
    paragraphs = replace(CLAIM, id="two\n\nparagraphs", quote="a quote\n\nin two", statement="f(x)\n\n== x", title="a\n\ntitle",
                         note="a note\n\nin two")
    text = [latex(CLAIM), latex(VERDICT), latex(verdict()), latex(paragraphs),
            *(latex(verdict("fails", "counterexample", 0.1, evidence=e)) for e, _ in EVIDENCE),
            escape_text("".join(t for t, _ in ESCAPES))]
    inline = [latex(VERDICT, mode="inline"), latex(xs, mode="inline"), latex(verdict("holds\n\n", claim=paragraphs), mode="inline")]
    body = "\n\n".join([*(f"\\[ {m} \\]" for m in math), *blocks, *text, *inline])
    tex = "\\documentclass[11pt,a4paper]{article}\n" + preamble() + "\n\\usepackage[margin=2.5cm]{geometry}\n" \
        "\\begin{document}\n" + body + "\n\\end{document}\n"
    log = compile_pdf(tex, tmp_path / "snippets.pdf")
    assert (tmp_path / "snippets.pdf").stat().st_size > 1000
    assert "Warning" not in log, log
    assert overfull(log) == []


def test_norm_bars_print_as_math() -> None:
    assert escape_text("‖x‖²") == r"\ensuremath{\|}x\ensuremath{\|}\ensuremath{^{2}}"
