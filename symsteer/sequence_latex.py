"""LaTeX for sequence models: a per-position table of the α-coefficients by order and kind, and
the terms of the attention block at the steering point with their positions."""

from __future__ import annotations

from typing import Any

import numpy as np

from .attention_terms import attention_terms
from .blocks import Attention, Residual
from .errors import BudgetError, ShapeError
from .numbers import FLOAT, Numbers
from .sequence import SequenceModel

__all__ = ["position_table", "terms_latex", "sequence_latex", "sequence_document"]

KIND_ORDER = ("input", "cross", "self", "const")
_SHORT = {"input": "i", "cross": "c", "self": "s", "const": "k"}


def _number(v: float) -> str:
    if v == 0:
        return "0"
    mantissa, exponent = f"{v:.3e}".split("e")
    e = int(exponent)
    return f"{mantissa}" if e == 0 else rf"{mantissa}\cdot 10^{{{e}}}"


def _norm(arr: Any) -> float:
    return float(np.linalg.norm(np.asarray(FLOAT.array(np.asarray(arr, dtype=object)) if np.asarray(arr).dtype == object else arr, dtype=np.float64)))


def position_table(parts: dict[str, np.ndarray], *, steered: tuple[int, ...]) -> str:
    """Rows: positions (steered ones marked); columns: ``‖c_m‖`` per order, the kind(s) present."""
    total = sum(parts.values())
    orders, T = total.shape[0], total.shape[1]
    head = " & ".join(rf"$\|c_{{{m}}}\|$" for m in range(orders))
    # wide tables (many orders) are scaled to the line: the fragment needs graphicx then
    wrap = (r"\noindent\resizebox{\linewidth}{!}{", "}") if orders > 5 else (r"{\small", "}")
    lines = [wrap[0], rf"\begin{{tabular}}{{r|{'r' * orders}}}", rf"position & {head} \\", r"\hline"]
    for t in range(T):
        cells = []
        for m in range(orders):
            kinds = [_SHORT[k] for k in KIND_ORDER if any(v != 0 for v in np.ravel(parts[k][m, t]))]
            value = _norm(total[m, t])
            cells.append(f"${_number(value)}$" + (rf"\,\textsuperscript{{{','.join(kinds)}}}" if value and m else ""))
        mark = r"$^\ast$" if t in steered else ""
        lines.append(rf"{t}{mark} & {' & '.join(cells)} \\")
    lines.append(r"\end{tabular}" + wrap[1])
    return "\n".join(lines)


def terms_latex(model: SequenceModel, x_n: Any, D: Any, *, steer_at: int, numbers: Numbers, limit: int = 200) -> str | None:
    """The attention block at the steering point written as its terms (None when the block there
    is not bilinear attention, or has biases, or lists more than ``limit`` terms)."""
    if steer_at >= model.depth:
        return None
    block = model.blocks[steer_at]
    inner = block.inner if isinstance(block, Residual) else block
    if not isinstance(inner, Attention) or inner.biases or inner.pattern == "squared-normalized":
        return None
    try:
        terms = attention_terms(inner, x_n, D, numbers=numbers, index=steer_at)
    except (BudgetError, ShapeError):
        return None
    if len(terms) > limit:
        return None
    lines = [r"\begin{align*}"]
    for q in range(np.shape(x_n)[0]):
        mine = sorted((t for t in terms if t.query == q), key=lambda t: (t.order, t.key, t.leaves))
        if not mine:
            continue
        for i, t in enumerate(mine):
            coef = rf"\alpha^{{{t.order}}}\," if t.order > 1 else (r"\alpha\," if t.order == 1 else "")
            start = rf"\mathcal{{A}}_{{{steer_at}}}(x)_{{{q}}} &\ni " if i == 0 else r"&\quad + "
            lines.append(rf"{start}{coef}{t.latex()} \tag*{{{t.kind}}} \\")
    lines[-1] = lines[-1].removesuffix(r" \\")
    lines.append(r"\end{align*}")
    return "\n".join(lines)


def sequence_latex(model: SequenceModel, parts: dict[str, np.ndarray], x_n: Any, D: Any, *, steer_at: int,
                   positions: str, steered: tuple[int, ...], numbers: Numbers) -> str:
    """The fragment ``symsteer expand --format latex`` prints for a sequence model."""
    orders = sum(parts.values()).shape[0]
    out = [
        rf"Steering block {steer_at} at positions \texttt{{{positions}}} $= \{{{', '.join(map(str, steered))}\}}$ "
        rf"($^\ast$), $x_n \to x_n + \alpha s$; norms of the $\alpha$-coefficients of every output position, "
        rf"orders $0, \dots, {orders - 1}$ (superscripts: the kinds present, i input, c cross, s self, k const).",
        "",
        position_table(parts, steered=steered),
    ]
    terms = terms_latex(model, x_n, D, steer_at=steer_at, numbers=numbers)
    if terms is not None:
        out += ["", rf"The attention of block {steer_at} at each query position, term by term "
                r"(head, then the query's two leaves; the key's two gates and its value):", "", terms]
    return "\n".join(out)


def sequence_document(body: str, *, title: str = "Steering a tensor transformer") -> str:
    """A complete LaTeX document around :func:`sequence_latex`."""
    return "\n".join([
        r"\documentclass[10pt]{article}",
        r"\usepackage[margin=2cm]{geometry}",
        r"\usepackage{amsmath,amssymb,graphicx}",
        r"\allowdisplaybreaks",
        rf"\title{{{title}}}",
        r"\date{}",
        r"\begin{document}",
        r"\maketitle",
        body,
        r"\end{document}",
        "",
    ])
