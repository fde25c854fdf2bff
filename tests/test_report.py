"""The LaTeX report: what it holds, that it compiles without overfull lines, that page 1 is not
blank, and the ``symsteer report`` command."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sympy

from symsteer.cli import run
from symsteer import Network, SymsteerError, expand
from symsteer.claims import Claim, Verdict, load_claims
from symsteer._latex import SymsteerLatexPrinter, latex
from symsteer.report import compile_pdf, document

needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (Debian: texlive-latex-base)")
needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm is not installed (Debian: poppler-utils)")


# user text as the seed writes it: unicode, TeX's specials, a long unbreakable statement
def claim(id: str, quote: str, statement: str, title: str, expected: str = "holds") -> Claim:
    return Claim(id, quote, statement, None, (), expected, Path(f"proofs/{id}.toml"), title)


VERDICTS = [
    Verdict(claim("c01-homogeneity", "Bilinear(ax)=a²Bilinear(x)", "B(a*x) == a**2 * B(x)", "Homogeneity"),
            "holds", "proof", 0.4, "proved for all d, h", "the difference simplifies to 0",
            {"proofs": ["(d, h) = (1, 1): 1 polynomial(s) expand to 0", "(d, h) = (2, 2): 2 polynomial(s) expand to 0"]}),
    Verdict(claim("c12-u-prime", "u′=[2,2,2,0,0]⊤, then u′⊙v≠av for any a", "not exists(a, hadamard(u, v) == a*v)",
                  "No scalar for u′ & v_i (100% #sure)"),
            "fails", "counterexample", 0.02, "d=5", "coordinate 1 forces a = 2, coordinate 4 forces a = 0 → ≠",
            {"point": {"u": ["2", "2", "2", "0", "0"], "v": [1, 2, 3, 4, 5], "W0": [["1", "-2"], ["1/3", "0"]]},
             "residual": "2*P^{(0)}_{1,1}*P^{(1)}_{1,1}*V^{(0)}_{1,1}*V^{(1)}_{1,1}*W^{(0)}_{1,1}*W^{(1)}_{1,1}*s_1**2*x_1**2"}),
    Verdict(claim("c22-happy", "steer the model into acting more happy", "empirical", "Steering makes the model happy",
                  "out_of_scope"), "out_of_scope", "none", 0.0, "", "an empirical claim: no proof can decide it", {}),
    Verdict(claim("c99-a-very-long-identifier-of-a-claim", "x", "parallel(f(x + alpha*s), f(x + 2*alpha*s))" * 4,
                  "A long title that needs more than one line of a subsection heading to be set"), "fails", "counterexample", 1.5, "", "", {}),
]


def residual2() -> Network:
    return Network.random(layers=2, width=2, hidden=2, residual=True, seed=0)


def overfull(log: str) -> list[float]:
    """The widths of every "Overfull \\hbox (Xpt too wide)" in a pdflatex log."""
    return [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]


def dark_fraction(pdf: Path, tmp_path: Path) -> float:
    """The fraction of non-white pixels of page 1, rendered to a grey PGM at 30 dpi."""
    subprocess.run(["pdftoppm", "-gray", "-r", "30", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(tmp_path / "page")],
                   check=True, capture_output=True)
    data = (tmp_path / "page.pgm").read_bytes()
    head = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    assert head, data[:20]
    width, height, top = (int(v) for v in head.groups())
    pixels = data[head.end(): head.end() + width * height]
    assert len(pixels) == width * height
    return sum(p < 0.8 * top for p in pixels) / len(pixels)


# -- content ----------------------------------------------------------------------------------


def test_document_holds_model_expansion_closed_forms_and_verdicts() -> None:
    net = residual2()
    tex = document(net, steer_at=0, max_order=2, verdicts=VERDICTS)
    assert tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
    for section in ("The model", "The steered expansion", "Closed forms", "Claims"):
        assert f"\\section{{{section}}}" in tex
    assert latex(net) in tex
    assert latex(expand(net, steer_at=0, max_order=2)) in tex
    s = sympy.ImmutableMatrix(sympy.symbols("s_1 s_2"))
    assert "M_s &= " + SymsteerLatexPrinter()._print(net.layers[0].cross_map(s)) in tex
    assert r"\bigl[B_{0}(s, s)\bigr]_{1} &= 4 s_{1}^{2} + 14 s_{1} s_{2} + 8 s_{2}^{2}" in tex
    assert r"\paragraph{\texttt{c12-\allowbreak{}u-\allowbreak{}prime}" in tex and r"\textbf{fails} $\times$ (expected holds)" in tex
    # statements and residuals as mathematics, not Python
    assert r"\emph{Statement:} $B(a x) = a^{2} B(x)$" in tex
    assert r"2 P^{(0)}_{1,1} P^{(1)}_{1,1} V^{(0)}_{1,1} V^{(1)}_{1,1} W^{(0)}_{1,1} W^{(1)}_{1,1} s_{1}^{2} x_{1}^{2}" in tex
    # the verdicts once more in one table in the appendix
    assert "\\appendix" in tex and tex.count("c22-happy &") == 1
    assert "4 claims verified; for 2 the verdict found is the one expected, for 2 it is not" in tex


def test_steering_after_the_last_layer_has_no_closed_forms() -> None:
    tex = document(residual2(), steer_at=2, max_order=1)
    assert "Steering at $n = 2$ is after the last layer" in tex and "M_s" not in tex


def test_document_without_claims_has_no_claims_section() -> None:
    assert "\\section{Claims}" not in document(residual2())


# -- compiling ---------------------------------------------------------------------------------


@needs_tex
@needs_poppler
def test_report_compiles_without_overfull_lines_and_page_one_is_not_blank(tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    log = compile_pdf(document(residual2(), steer_at=0, max_order=2, verdicts=VERDICTS), pdf)
    assert overfull(log) == []
    assert "Warning" not in log and "Missing character" not in log
    assert dark_fraction(pdf, tmp_path) > 0.01


@needs_tex
@needs_poppler
def test_a_blank_page_is_detected(tmp_path: Path) -> None:
    pdf = tmp_path / "blank.pdf"
    compile_pdf("\\documentclass{article}\\begin{document}\\thispagestyle{empty}\\null\\end{document}", pdf)
    assert dark_fraction(pdf, tmp_path) == 0


@needs_tex
def test_an_overfull_line_is_detected(tmp_path: Path) -> None:
    log = compile_pdf("\\documentclass{article}\\begin{document}\\noindent\\hbox{" + "x" * 200 + "}\\end{document}", tmp_path / "o.pdf")
    assert len(overfull(log)) == 1 and overfull(log)[0] > 100


MODELS = [
    ("biases, unembedding, steer at 1", dict(layers=3, width=3, hidden=3, residual=True, bias=True, unembed=2, seed=3), 1, 2),
    ("float weights, full degree", dict(layers=2, width=4, hidden=3, kind="float", seed=3), 0, None),
    ("wide rational, embedding", dict(layers=2, width=6, hidden=8, residual=True, kind="rational", embed=3, seed=3), 0, 1),
]


@needs_tex
@pytest.mark.parametrize("kwargs, steer_at, max_order", [m[1:] for m in MODELS], ids=[m[0] for m in MODELS])
def test_larger_models_fit_the_page(tmp_path: Path, kwargs: dict, steer_at: int, max_order: int | None) -> None:
    tex = document(Network.random(**kwargs), steer_at=steer_at, max_order=max_order)
    assert overfull(compile_pdf(tex, tmp_path / "r.pdf")) == []


@needs_tex
def test_a_tex_error_is_reported_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(SymsteerError, match=r"pdflatex failed .*\n! Undefined control sequence"):
        compile_pdf("\\documentclass{article}\\begin{document}\\nosuchcommand\\end{document}", tmp_path / "x.pdf")
    assert not (tmp_path / "x.pdf").exists()


def test_no_tex_engine_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("symsteer.report.shutil.which", lambda name: None)
    with pytest.raises(SymsteerError, match="no TeX engine: pdflatex is not on PATH; install it"):
        compile_pdf(document(residual2()), tmp_path / "x.pdf")
    assert run(["report", "--no-claims", "-o", str(tmp_path / "r.tex"), "--pdf"]) == 2
    assert (tmp_path / "r.tex").exists() and not (tmp_path / "r.pdf").exists()


# -- the command -------------------------------------------------------------------------------


def test_report_command_writes_the_document(tmp_path: Path) -> None:
    out = tmp_path / "r.tex"
    assert run(["report", "--no-claims", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == document(residual2(), steer_at=0, max_order=2)


def test_report_command_takes_model_options(tmp_path: Path) -> None:
    out = tmp_path / "r.tex"
    assert run(["report", "--no-claims", "--plain", "--layers", "1", "--width", "3", "--max-order", "1", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == document(Network.random(layers=1, width=3, hidden=3, seed=0), max_order=1)


@pytest.mark.parametrize("args, message", [
    (["--pdf"], "--pdf needs -o FILE.tex"),
    (["-o", "r.pdf"], "expected a .tex file"),
    (["--no-claims", "proofs"], "claim PATHs conflict with --no-claims"),
    (["--steer-at", "5", "--no-claims"], "--steer-at=5 but the model has 2 layers"),
])
def test_report_command_usage_errors(args: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert run(["report", *args]) == 2
    assert message in capsys.readouterr().err


@needs_tex
@needs_poppler
def test_report_command_with_the_built_in_claims_compiles(tmp_path: Path) -> None:
    out = tmp_path / "report.tex"
    code = run(["report", "-o", str(out), "--pdf"])
    assert code in (0, 1)  # 1 only if a verdict differs: the document is written either way
    pdf = out.with_suffix(".pdf")
    assert pdf.exists()
    tex = out.read_text(encoding="utf-8")
    assert "\\section{Claims}" in tex
    log = compile_pdf(tex, tmp_path / "again.pdf")
    assert overfull(log) == [] and "Warning" not in log
    assert dark_fraction(pdf, tmp_path) > 0.01
    # fit for a paper: a few lines per claim (89 claims take 16 pages: the model, the expansion and
    # the appendix about 4, then about 6 claims a page), no Python syntax, no repeated proof lines
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    assert 5 <= pages <= 4 + len(load_claims()) // 6, pages
    claims = tex[tex.index("\\section{Claims}"):tex.index("\\appendix")]
    assert "**" not in claims and "==" not in claims and "@" not in claims
    assert claims.count("expands to 0") <= 15  # once per claim proved that way, not once per shape
