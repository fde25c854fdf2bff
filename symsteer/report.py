"""A whole LaTeX document: the model, its steered expansion, the closed forms of the first
layer after the steering point, and verified claims with their verdicts; compiled to PDF
when a TeX engine is installed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable

import sympy

from .errors import DeadlineError, SymsteerError
from .expansion import expand
from .io import write_atomic
from ._latex import SymsteerLatexPrinter, escape_text, preamble
from .network import Network

__all__ = ["document", "compile_pdf", "TEX_ENGINE"]

#: the engine ``compile_pdf`` runs; Debian: texlive-latex-base texlive-latex-recommended lmodern
TEX_ENGINE = "pdflatex"


def document(
    network: Network,
    *,
    steer_at: int = 0,
    max_order: int | None = 2,
    verdicts: Iterable[Any] = (),
    title: str = "Steering a network of bilinear layers",
    coefficients: bool = True,
    **settings: Any,
) -> str:
    """The report as a LaTeX document (a string); ``settings`` go to the printer.

    >>> net = Network.random(layers=1, width=2, hidden=2, seed=0)
    >>> document(net).startswith("\\\\documentclass")
    True
    """
    printer = SymsteerLatexPrinter({"heading": "paragraph", **settings})
    e = expand(network, steer_at=steer_at, max_order=max_order)
    n, L = e.steer_at, network.depth
    order = f"up to order {e.max_order} in $\\alpha$" if e.truncated else "in full"
    parts = [
        "\\documentclass[10pt,a4paper]{article}",
        preamble(),
        "\\usepackage[hmargin=2.2cm,vmargin=2cm]{geometry}",
        "\\usepackage{array,longtable,booktabs}",
        "\\allowdisplaybreaks",
        # claims are many short blocks: their headings close above and below
        "\\makeatletter\\renewcommand\\paragraph{\\@startsection{paragraph}{4}{\\z@}{1ex \\@plus .5ex \\@minus .2ex}"
        "{.2ex}{\\normalfont\\normalsize\\bfseries\\raggedright}}\\makeatother",
        f"\\title{{{escape_text(title)}}}",
        "\\author{symsteer}",
        "\\date{}",
        "\\begin{document}",
        "\\maketitle",
        "\\section{The model}",
        f"A {escape_text(network.describe())}.",
        printer.doprint(network),
        "\\section{The steered expansion}",
        _prose(printer, f"Steering replaces the stream $x_{{{n}}}$ entering layer {n} by $x_{{{n}}} + \\alpha s$. "
               f"The output is a polynomial in $\\alpha$ of degree at most $2^{{{L - n}}} = {e.degree_bound}$, "
               f"shown here {order}. Each term is a nested application of the symmetric parts "
               f"$\\hat B_{{l}}$ of the layers to the leaves $x = x_{{{n}}}$ and $s$"
               + (" and the bias leaf $\\mathbf{1}$" if network.has_bias else "")
               + (", with the unembedding $U$ applied" if network.unembed is not None else "")
               + "; the labels say which terms depend on the input alone (input), on the input and "
               "$s$ (cross), or on the weights and $s$ alone (self)"
               + (", or on the biases alone (const)." if network.has_bias else ".")),
        printer.doprint(e),
    ]
    if coefficients:
        parts += [
            _prose(printer, "The same coefficients as exact polynomials in the entries of $x$ and $s$: "
                   "$\\bigl[y_{m}^{\\text{kind}}\\bigr]_{i}$ is entry $i$ of the part of the "
                   "$\\alpha^{m}$ coefficient of that kind."),
            printer._expansion_coefficients(e),
        ]
    parts += _closed_forms(printer, e)
    verdicts = list(verdicts)
    parts += _claims(printer, verdicts)
    parts += _appendix(verdicts)
    parts.append("\\end{document}")
    return "\n\n".join(parts) + "\n"


def _closed_forms(printer: SymsteerLatexPrinter, e: Any) -> list[str]:
    network, n = e.network, e.steer_at
    head = ["\\section{Closed forms}"]
    if n == network.depth:
        U = "U " if network.unembed is not None else ""
        return head + [_prose(printer, f"Steering at $n = {n}$ is after the last layer: the output is $y + \\alpha\\, {U}s$; no layer acts on $s$.")]
    layer = network.layers[n]
    s = sympy.ImmutableMatrix(e.leaf_symbols("s"))
    B = printer._settings["layer_symbol"]
    bias = " (their bias-free parts)" if layer.has_bias else ""
    intro = _prose(printer, (
        f"The first layer after the steering point, layer {n}, on a generic $s${bias}: its self term "
        f"$B_{{{n}}}(s, s)$ needs only the weights and $s$; its cross term $B_{{{n}}}(x, s) + B_{{{n}}}(s, x) = M_s x$ "
        "needs the input, but the matrix $M_s$ comes from the weights and $s$ alone."
    ))
    floats = layer.field == "float"
    lines = []
    for i, value in enumerate(layer.self_term(s)):
        lines += printer._long_sum(value, rf"\bigl[{B}_{{{n}}}(s, s)\bigr]_{{{i + 1}}} &= ", floats=floats)
    cross = layer.cross_map(s)
    if floats:
        digits = printer._settings["float_digits"]
        cross = cross.applyfunc(lambda v: v.xreplace({f: sympy.Float(f, digits) for f in v.atoms(sympy.Float)}))
    if printer._matrix_width("M_s", cross) is not None:
        lines.append("M_s &= " + printer._print(cross))
    else:  # too wide for a page as a matrix: entry by entry
        for k in range(cross.rows):
            for i in range(cross.cols):
                if cross[k, i] != 0:
                    lines += printer._long_sum(cross[k, i], rf"(M_s)_{{{k + 1},{i + 1}}} &= ", floats=floats)
    body = "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}"
    return head + [intro, body]


def _prose(printer: SymsteerLatexPrinter, text: str) -> str:
    """The report's own sentences in the printer's notation (its layer letter and α)."""
    letter = printer._settings["layer_symbol"]
    return text.replace("B_{", f"{letter}_{{").replace("\\alpha", printer._settings["alpha_symbol"])


def _claims(printer: SymsteerLatexPrinter, verdicts: list[Any]) -> list[str]:
    if not verdicts:
        return []
    ok = sum(bool(getattr(v, "ok", True)) for v in verdicts)
    summary = (
        f"{len(verdicts)} claims verified; for {ok} the verdict found is the one expected"
        + ("." if ok == len(verdicts) else f", for {len(verdicts) - ok} it is not (marked $\\times$).")
        + " Each claim gives the seed's words, the statement, the verdict with its scope, and the"
        " counterexample (with the difference of the two sides over generic weights) or the essence"
        " of the proof. Appendix~\\ref{sec:verdicts} lists every verdict with its method and time."
    )
    # many short blocks: set a size smaller, as a paper's appendix would
    return ["\\section{Claims}", summary, "\\begingroup\\small", *(printer.doprint(v) for v in verdicts), "\\endgroup"]


def _appendix(verdicts: list[Any]) -> list[str]:
    if not verdicts:
        return []
    return ["\\appendix", "\\section{Verdicts}\\label{sec:verdicts}", _table(verdicts)]


def _table(verdicts: list[Any]) -> str:
    """One row per claim: id, found, method, exact checks, time, the mark (with the expected
    verdict where it differs); a page break may fall between rows."""
    rows = []
    for v in verdicts:
        ok = bool(getattr(v, "ok", True))
        mark = "$\\checkmark$" if ok else f"$\\times$ (expected {escape_text(str(v.claim.expected).replace('_', ' '))})"
        evidence = getattr(v, "evidence", None)
        checks = evidence.get("numeric_checks") if isinstance(evidence, dict) else None
        cells = [escape_text(str(v.claim.id))] + [escape_text(str(w).replace("_", " ")) for w in (v.found, v.method)]
        cells += [str(checks) if isinstance(checks, int) else "", f"{float(v.seconds):.2f}", mark]
        rows.append(" & ".join(cells) + " \\\\")
    head = "claim & found & method & exact checks & seconds & \\\\ \\midrule\n\\endhead"
    return ("\\begin{footnotesize}\n\\begin{longtable}{@{}>{\\ttfamily}lllrrl@{}}\n\\toprule\n"
            + head + "\n" + "\n".join(rows) + "\n\\bottomrule\n\\end{longtable}\n\\end{footnotesize}")


def compile_pdf(tex: str, pdf_path: str | Path, *, timeout: float = 120.0) -> str:
    """Compile ``tex`` with pdflatex in a temporary directory, move the PDF to ``pdf_path``
    (atomically) and return the log, which callers may scan for overfull boxes."""
    engine = shutil.which(TEX_ENGINE)
    if engine is None:
        raise SymsteerError(
            f"no TeX engine: {TEX_ENGINE} is not on PATH; install it (Debian: apt-get install "
            "texlive-latex-base texlive-latex-recommended lmodern) or leave out --pdf and compile the .tex yourself"
        )
    with tempfile.TemporaryDirectory(prefix="symsteer-tex-") as tmp:
        source = Path(tmp) / "report.tex"
        source.write_text(tex, encoding="utf-8")
        log_path = source.with_suffix(".log")
        for _ in range(3):  # again while LaTeX asks for it: longtable settles its columns on the second run
            try:
                done = subprocess.run(
                    [engine, "-halt-on-error", "-interaction=nonstopmode", "-no-shell-escape", source.name],
                    cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                raise DeadlineError(f"{TEX_ENGINE} ran past timeout={timeout} s on {pdf_path}") from None
            log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else done.stdout.decode(errors="replace")
            if done.returncode != 0 or "Rerun" not in log:
                break
        pdf = source.with_suffix(".pdf")
        if done.returncode != 0 or not pdf.exists():
            raise SymsteerError(f"{TEX_ENGINE} failed (exit {done.returncode}) on the document for {pdf_path}:\n{_first_error(log)}")
        write_atomic(pdf_path, pdf.read_bytes())
    return log


def _first_error(log: str) -> str:
    """The log from its first error line (``! …``), a few lines of it: what went wrong where."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("!"):
            return "\n".join(lines[i:i + 8])
    return "\n".join(lines[-8:])
