"""Claims as mathematics: a statement of the claim language, a counterexample's point and
values, and a residual polynomial, typeset as LaTeX math (for the report and ``latex(verdict)``).

Statements are parsed with :mod:`ast` and walked, never evaluated; anything the walk does not
know prints as typewriter text, so user text always compiles.

>>> statement_latex("B(a*x) == a**2 * B(x)")
'B(a x) = a^{2} B(x)'
>>> statement_latex("not parallel(x + alpha*s, x + 2*alpha*s)")
'x + \\\\alpha s \\\\nparallel x + 2 \\\\alpha s'
>>> polynomial_latex("P^{(0)}_{1,1}*a**2*x_1**3 - 1/2*alpha*x_1")
'P^{(0)}_{1,1} a^{2} x_{1}^{3} - \\\\tfrac{1}{2} \\\\alpha x_{1}'
"""

from __future__ import annotations

import ast
import re
from fractions import Fraction
from typing import Any

__all__ = ["statement_latex", "statement_text", "polynomial_latex", "value_latex", "name_latex", "prose_latex"]

_VECTORS = {"x", "s", "u", "v", "z", "ones", "X", "Y"}
_NAMES = {"alpha": r"\alpha", "ones": r"\mathbf{1}"}
# functions whose value is a vector (so * between two of them is the entrywise product)
_VECTOR_FUNCTIONS = {"B", "B0", "B1", "B2", "f", "g", "stream", "relu", "softmax", "input_part", "cross_part",
                     "self_part", "const_part", "share", "F", "at", "row", "sum_over"}
_OPERATORS = {"relu": r"\operatorname{relu}", "softmax": r"\operatorname{softmax}", "entropy": "H",
              "argmax": r"\operatorname{argmax}"}
_COMPARE = {ast.Eq: "=", ast.NotEq: r"\neq", ast.Lt: "<", ast.LtE: r"\le", ast.Gt: ">", ast.GtE: r"\ge"}
_NEGATED = {ast.Eq: r"\neq", ast.NotEq: "=", ast.Lt: r"\ge", ast.LtE: ">", ast.Gt: r"\le", ast.GtE: "<"}
_PRECEDENCE = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.MatMult: 2, ast.Div: 2, ast.Pow: 4}


def name_latex(name: str) -> str:
    """A variable's name as math: ``alpha`` → ``\\alpha``, ``W0`` → ``W_{0}``, ``x_1`` → ``x_{1}``."""
    if name in _NAMES:
        return _NAMES[name]
    m = re.fullmatch(r"([A-Za-z]+?)_?(\d+)", name)
    if m:
        return f"{_NAMES.get(m[1], m[1])}_{{{m[2]}}}"
    return name if re.fullmatch(r"[A-Za-z]", name) else rf"\mathit{{{name}}}"


def _text(text: str) -> str:
    from ._latex import escape_text

    return rf"\text{{{escape_text(text)}}}"


def _code(text: str) -> str:
    from ._latex import escape_text

    return rf"\text{{\ttfamily {escape_text(text)}}}"


def statement_latex(text: str) -> str:
    """A statement (or an assumption, or an expression) of the claim language as LaTeX math."""
    try:
        return _statement(text)
    except (SyntaxError, ValueError, RecursionError, _Unknown):
        return _code(text)


def statement_text(text: str) -> str:
    """A statement for running text: ``$…$``, or, outside the language, typewriter text that
    may break after commas and parentheses."""
    try:
        return f"${_statement(text)}$"
    except (SyntaxError, ValueError, RecursionError, _Unknown):
        from ._latex import _plain

        return r"\texttt{" + re.sub(r"([,()])(?=\S)", r"\1\\allowbreak{}", _plain(text)) + "}"


def _statement(text: str) -> str:
    return _Printer().print(ast.parse(text.strip(), mode="eval").body)


class _Unknown(Exception):
    """A construct outside the language: the caller falls back to typewriter text."""


class _Printer:
    def print(self, node: ast.AST) -> str:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise _Unknown(type(node).__name__)
        return method(node)

    # -- logic ----------------------------------------------------------------------------

    def _BoolOp(self, node: ast.BoolOp) -> str:
        if not isinstance(node.op, ast.And):
            raise _Unknown("or")
        return r" \quad\text{and}\quad ".join(self.print(v) for v in node.values)

    def _UnaryOp(self, node: ast.UnaryOp) -> str:
        if isinstance(node.op, ast.Not):
            return self._not(node.operand)
        if isinstance(node.op, ast.USub):
            return "-" + self._operand(node.operand, 3)
        if isinstance(node.op, ast.UAdd):
            return self.print(node.operand)
        raise _Unknown("unary")

    def _not(self, node: ast.AST) -> str:
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            return f"{self.print(node.left)} {_NEGATED[type(node.ops[0])]} {self.print(node.comparators[0])}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            negated = self._predicate(node.func.id, node.args, negated=True)
            if negated is not None:
                return negated
        return rf"\neg\bigl({self.print(node)}\bigr)"

    def _Compare(self, node: ast.Compare) -> str:
        parts = [self.print(node.left)]
        for op, right in zip(node.ops, node.comparators):
            if type(op) not in _COMPARE:
                raise _Unknown("comparison")
            parts += [_COMPARE[type(op)], self.print(right)]
        return " ".join(parts)

    # -- arithmetic -----------------------------------------------------------------------

    def _operand(self, node: ast.AST, level: int) -> str:
        tex = self.print(node)
        inner = _PRECEDENCE.get(type(node.op), 5) if isinstance(node, ast.BinOp) else 5
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = 1.5
        if isinstance(node, (ast.Compare, ast.BoolOp)):
            inner = 0
        return f"({tex})" if inner < level else tex

    def _BinOp(self, node: ast.BinOp) -> str:
        op = type(node.op)
        if op is ast.Add:
            return f"{self.print(node.left)} + {self._operand(node.right, 1)}"
        if op is ast.Sub:
            return f"{self.print(node.left)} - {self._operand(node.right, 2)}"
        if op is ast.Div:
            return rf"\frac{{{self.print(node.left)}}}{{{self.print(node.right)}}}"
        if op is ast.Pow:
            return f"{self._operand(node.left, 5)}^{{{self.print(node.right)}}}"
        if op is ast.MatMult:
            return f"{self._operand(node.left, 2)} {self._operand(node.right, 3)}"
        if op is ast.Mult:
            left, right = self._operand(node.left, 2), self._operand(node.right, 3)
            if _is_vector(node.left) and _is_vector(node.right):
                return rf"{left} \odot {right}"
            if isinstance(node.right, ast.Constant) or (isinstance(node.left, ast.Constant) and _starts_with_digit(right)):
                return rf"{left} \cdot {right}"
            return f"{left} {right}"
        raise _Unknown("operator")

    def _Constant(self, node: ast.Constant) -> str:
        if isinstance(node.value, bool) or node.value is None:
            raise _Unknown("constant")
        if isinstance(node.value, int):
            return str(node.value)
        if isinstance(node.value, str):
            return _text(node.value)
        raise _Unknown("constant")

    def _Name(self, node: ast.Name) -> str:
        return name_latex(node.id)

    def _List(self, node: ast.List) -> str:
        return "(" + ", ".join(self.print(e) for e in node.elts) + ")"

    # -- functions and predicates ---------------------------------------------------------

    def _Call(self, node: ast.Call) -> str:
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise _Unknown("call")
        name, args = node.func.id, node.args
        predicate = self._predicate(name, args, negated=False)
        if predicate is not None:
            return predicate
        inner = ", ".join(self.print(a) for a in args)
        if name == "cross_map" and len(args) == 1:
            arg = self.print(args[0])
            return f"M_{{{arg}}}" if isinstance(args[0], ast.Name) else f"M_{{({arg})}}"
        if name in ("input_part", "cross_part", "self_part", "const_part") and len(args) == 1:
            return rf"\bigl[{inner}\bigr]_{{\text{{{name.split('_')[0]}}}}}"
        if name == "share" and len(args) == 2 and isinstance(args[1], ast.Constant):
            return rf"\operatorname{{share}}_{{\text{{{args[1].value}}}}}({self.print(args[0])})"
        if name == "coeff" and len(args) == 3:  # the coefficient of alpha^m: [alpha^m] e
            return rf"[{self.print(args[1])}^{{{self.print(args[2])}}}]\,{self._operand(args[0], 3)}"
        if name == "at" and len(args) == 2:
            return rf"{self._operand(args[0], 3)}\,\mathbf{{1}}_{{{_positions(args[1], self)}}}"
        if name == "row" and len(args) == 2:
            return rf"\bigl[{self.print(args[0])}\bigr]_{{{self.print(args[1])}}}"
        if name == "sum_over" and len(args) == 2:
            return rf"\sum_{{{self.print(args[1])}=0}}^{{T-1}} {self._operand(args[0], 2)}"
        if name == "stream" and len(args) == 2:
            return rf"x_{{{self.print(args[1])}}}({self.print(args[0])})"
        if name == "norm2" and len(args) == 1:
            return rf"\lVert {inner} \rVert^{{2}}"
        if name == "empirical" and len(args) == 1 and isinstance(args[0], ast.Constant):
            return _text(f"“{args[0].value}” (an empirical claim)")
        head = _OPERATORS.get(name, name_latex(name))
        return f"{head}({inner})"

    def _predicate(self, name: str, args: list[ast.expr], *, negated: bool) -> str | None:
        p = [self.print(a) for a in args]
        no = negated
        if name == "parallel" and len(p) == 2:
            rel = r"\nparallel" if no else r"\parallel"
            return f"{p[0]} {rel} {p[1]}"
        if name == "same_ranking" and len(p) == 2:
            rel = r"\neq" if no else "="
            return rf"\operatorname{{rank}}({p[0]}) {rel} \operatorname{{rank}}({p[1]})"
        if name == "depends_on" and len(p) == 2:
            return rf"{p[0]} \text{{ {'does not depend' if no else 'depends'} on }} {p[1]}"
        if name == "constant" and len(p) == 1:
            return rf"{p[0]} \text{{ is {'not ' if no else ''}constant}}"
        if name == "continuous_in" and len(p) == 2:
            return rf"{p[0]} \text{{ is {'not ' if no else ''}continuous in }} {p[1]}"
        if name == "is_polynomial_in" and len(p) >= 2:
            rel = r"\notin" if no else r"\in"
            return rf"{p[0]} {rel} \mathbb{{R}}[{', '.join(p[1:])}]"
        if name == "degree_in" and len(p) == 2 and not no:
            return rf"\deg_{{{p[1]}}} {self._operand(args[0], 5)}"
        if name == "generic" and len(p) == 1 and not no:
            return rf"\text{{for almost every weight and input: }} {p[0]}"
        return None


def _positions(node: ast.AST, printer: _Printer) -> str:
    """The positions of at(s, P) as a set: 'last' → {T−1}, 'from:2' → {2, …, T−1}, [0, 2] → {0, 2}."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        spec = node.value.strip().lower()
        if spec == "all":
            return r"\{0, \dots, T-1\}"
        if spec == "last":
            return r"\{T-1\}"
        if spec.startswith("from:") and spec[5:].strip().isdigit():
            return rf"\{{{int(spec[5:])}, \dots, T-1\}}"
        if all(p.strip().isdigit() for p in spec.split(",")):
            return r"\{" + ", ".join(p.strip() for p in spec.split(",")) + r"\}"
        raise _Unknown("positions")
    if isinstance(node, ast.List):
        return r"\{" + ", ".join(printer.print(e) for e in node.elts) + r"\}"
    return r"\{" + printer.print(node) + r"\}"


def _is_vector(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in _VECTORS
    if isinstance(node, ast.List):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in _VECTOR_FUNCTIONS or node.func.id == "cross_map"
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, (ast.Add, ast.Sub)):
            return _is_vector(node.left) or _is_vector(node.right)
        if isinstance(node.op, ast.MatMult):
            return True
        if isinstance(node.op, (ast.Mult, ast.Div)):
            return _is_vector(node.left) or _is_vector(node.right)
    if isinstance(node, ast.UnaryOp):
        return _is_vector(node.operand)
    return False


def _starts_with_digit(tex: str) -> bool:
    return bool(re.match(r"\s*\d", tex))


# -- numbers, points and polynomials --------------------------------------------------------


def _number_latex(value: Any) -> str | None:
    """``"-1/2"`` → ``-\\tfrac{1}{2}``; None when ``value`` is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value).strip()
    if not re.fullmatch(r"-?\d+(/\d+)?|-?\d*\.\d+(e-?\d+)?", text):
        return None
    if "/" not in text:
        return text
    q = Fraction(text)
    sign = "-" if q < 0 else ""
    return rf"{sign}\tfrac{{{abs(q.numerator)}}}{{{q.denominator}}}"


def value_latex(value: Any) -> str:
    """A counterexample's value as math: a number, a vector ``(1, -\\tfrac{1}{2})`` or a small
    matrix; anything else as typewriter text."""
    number = _number_latex(value)
    if number is not None:
        return number
    if isinstance(value, (list, tuple)) and value:
        if all(isinstance(r, (list, tuple)) for r in value):
            if len(value) == 1 and len(value[0]) == 1:
                return f"({value_latex(value[0][0])})"
            rows = [" & ".join(value_latex(v) for v in r) for r in value]
            return r"\left(\begin{smallmatrix}" + r" \\ ".join(rows) + r"\end{smallmatrix}\right)"
        return "(" + ", ".join(value_latex(v) for v in value) + ")"
    if isinstance(value, dict) and "approx" in value:  # softmax and entropy: exact logits, approximate values
        approx = r"\approx " + value_latex(value["approx"])
        if "softmax" in value:
            return rf"\operatorname{{softmax}}{_tuple(value['softmax'])} {approx}"
        if "entropy_of_softmax" in value:
            return rf"H(\operatorname{{softmax}}{_tuple(value['entropy_of_softmax'])}) {approx}"
        return approx
    if isinstance(value, dict):
        return ", ".join(f"{name_latex(str(k))} = {value_latex(v)}" for k, v in value.items())
    if isinstance(value, str):
        return statement_latex(value)
    return _code(str(value))


def _tuple(value: Any) -> str:
    tex = value_latex(value)
    return tex if tex.startswith("(") else f"({tex})"


_FACTOR = re.compile(r"(?P<base>[A-Za-z]\w*(?:\^\{[^}]*\})?(?:_\{[^}]*\})?|\d+(?:/\d+)?)(?:\^(?P<exp>\d+))?")


def polynomial_latex(text: str) -> str:
    """A polynomial as sympy writes it (``2*a**2*x_1 - P^{(0)}_{1,1}*s_2``) as math; anything
    that is not a plain sum of products of powers prints as typewriter text."""
    terms = re.split(r"\s+([+-])\s+", text.strip().replace("**", "^"))
    out = []
    for i in range(0, len(terms), 2):
        sign = "" if i == 0 else f" {terms[i - 1]} "
        term = terms[i]
        if term.startswith("-"):
            sign, term = sign + "-", term[1:]
        factors = []
        for factor in term.split("*"):
            m = _FACTOR.fullmatch(factor)
            if m is None:
                return _code(text)
            base = m["base"]
            tex = _number_latex(base) if base[0].isdigit() else (base if "{" in base else name_latex(base))
            factors.append(tex + (f"^{{{m['exp']}}}" if m["exp"] else ""))
        out.append(sign + " ".join(factors))
    return "".join(out)


# -- prose with polynomials -------------------------------------------------------------------

_POLY_FACTOR = r"(?:\d+(?:/\d+)?|[A-Za-z]\w*(?:\^\{[^}]*\})?(?:_\{[^}]*\})?)(?:\*\*\d+)?"
_POLY_TERM = rf"-?(?:{_POLY_FACTOR}(?:\*{_POLY_FACTOR})+|[A-Za-z]\w*\*\*\d+)"
_POLY_SPAN = re.compile(rf"{_POLY_TERM}(?:\s[+-]\s(?:{_POLY_TERM}|{_POLY_FACTOR}))*")


_QUOTED = re.compile(r"'([^\n]+?)'(?=: )")


def prose_latex(text: str) -> str:
    """A verifier's sentence as text: the statements quoted in it (``'B(a*x) == …': …``) and
    the polynomials in it (``-alpha*s_1*x_2 + …``) as math."""
    from ._latex import _line

    def words(piece: str) -> str:  # keeps the spaces at its ends: "c = " + math + " < 1"
        inner = _line(piece)
        return (" " if piece[:1].isspace() else "") + inner + (" " if piece[-1:].isspace() and inner else "")

    def polynomials(piece: str) -> list[str]:
        out, last = [], 0
        for m in _POLY_SPAN.finditer(piece):
            out += [words(piece[last:m.start()]), f"${polynomial_latex(m.group())}$"]
            last = m.end()
        return out + [words(piece[last:])]

    out, last = [], 0
    for m in _QUOTED.finditer(text):
        out += polynomials(text[last:m.start()]) + [statement_text(m[1])]
        last = m.end()
    out += polynomials(text[last:])
    return "".join(out).strip()


# -- a verdict in a few lines -----------------------------------------------------------------


def case_text(case: dict[str, Any]) -> str:
    """``{"layers": 1, "d": 1, "h": 1, "residual": False, "bias": True}`` → "$L = 1$, $d = h = 1$, plain, biases"."""
    parts = []
    seq = case.get("sequence")
    if isinstance(seq, dict):
        parts.append(f"$T = {case.get('length')}$, $d = {case.get('d')}$")
        parts.append(" $\\to$ ".join(str(b) for b in seq.get("blocks", ())))
        att = f"{seq.get('pattern')} pattern" + (", RoPE" if seq.get("rope") else "")
        res = {"add": "residual add", "lerp": f"lerp $\\lambda = {value_latex(seq.get('lerp'))}$", "none": "no residual"}
        parts.append(f"{att}, {res.get(seq.get('residual'), '')}")
        if case.get("q") is not None:
            parts.append(f"$q = {case['q']}$")
        return ", ".join(parts)
    if case.get("layers") is not None:
        parts.append(f"$L = {case['layers']}$")
    d, h = case.get("d"), case.get("h")
    if d is not None:
        parts.append(f"$d = h = {d}$" if d == h or h is None else f"$d = {d}$, $h = {h}$")
    if case.get("residual") is not None:
        parts.append("residual" if case["residual"] else "plain")
    if case.get("bias"):
        parts.append("biases")
    if case.get("unembed"):
        parts.append(f"unembedding to width ${case['unembed']}$")
    if case.get("m") is not None:
        parts.append(f"$m = {case['m']}$")
    return ", ".join(parts)


def _value_line(expression: str, value: Any) -> str:
    m = re.fullmatch(r"(.*) at (\w+)=(.*)", expression)
    if m:  # "e at x=[0]": e evaluated with x replaced
        return rf"{statement_latex(m[1])}\big|_{{{statement_latex(f'{m[2]} == {m[3]}')}}} = {value_latex(value)}"
    tex = value_latex(value)
    return f"{statement_latex(expression)} {tex}" if tex.startswith(r"\approx") else f"{statement_latex(expression)} = {tex}"


def point_latex(evidence: dict[str, Any]) -> str | None:
    """A counterexample or witness in one sentence: where, the point, and what each side is."""
    point = evidence.get("point")
    values = [v for v in evidence.get("values") or () if isinstance(v, dict) and "expression" in v]
    if not isinstance(point, dict) and not values:
        return None
    where = case_text(evidence["case"]) if isinstance(evidence.get("case"), dict) else ""
    at = ", ".join(f"${name_latex(k)} = {value_latex(v)}$" for k, v in (point or {}).items())
    subs = evidence.get("substituted") or {}
    if isinstance(subs, dict) and subs:
        at += "; substituted " + ", ".join(f"${name_latex(k)} = {value_latex(v)}$" for k, v in subs.items())
    sides = ", ".join(f"${_value_line(str(v['expression']), v.get('value'))}$" for v in values)
    text = ", ".join(t for t in (where, at) if t)
    return ((text + "; then " if text else "") + sides) if sides else text


def residual_latex(evidence: dict[str, Any]) -> str | None:
    """The difference of the two sides over generic weights, when the verifier kept it."""
    residual = evidence.get("residual")
    if residual is not None and not isinstance(residual, str):
        residual = str(residual)  # a sympy polynomial prints as the verifier writes it
    if not isinstance(residual, str) or not residual.strip():
        return None
    terms = re.split(r"\s+[+-]\s+", residual.strip())
    if len(terms) > 4:  # the essence: its size and first terms; the whole is in the JSON output
        head = residual.strip()
        cut = [m.start() for m in re.finditer(r"\s[+-]\s", head)][3]
        return f"${polynomial_latex(head[:cut])} + \\dots$ ({len(terms)} terms)"
    return f"${polynomial_latex(residual)}$"


def _strip_prefix(message: str) -> str:
    """ "L = 1, (d, h) = (1, 1), plain: 'B(a*x) == …': the difference expands to 0" → the reason."""
    return message.split("': ", 1)[1] if "': " in message else message.split(": ", 1)[-1]


def proof_latex(evidence: dict[str, Any]) -> str | None:
    """The essence of a proof: the formal argument if there is one, else the first symbolic
    one, and how many exact points checked it."""
    parts = []
    formal = [m for m in evidence.get("formal") or () if isinstance(m, str)]
    proofs = [m for m in evidence.get("proofs") or () if isinstance(m, str)]
    if formal:  # the argument for every width; the symbolic proofs at fixed widths repeat it
        parts.append("for every $d, h$, " + prose_latex(_strip_prefix(formal[0])))
    elif proofs:
        reason = _strip_prefix(proofs[0])
        more = f" (and likewise at {len(proofs) - 1} more shape(s))" if len(proofs) > 1 else ""
        parts.append("over generic symbolic weights, " + prose_latex(reason) + more)
    checks = evidence.get("numeric_checks")
    if isinstance(checks, int) and checks:
        parts.append(f"checked at {checks} seeded random exact points")
    return "; ".join(parts) if parts else None


_KNOWN = {"case", "point", "substituted", "values", "symbolic", "residual", "formal", "proofs", "numeric_checks", "empirical"}


def verdict_items(verdict: Any, text: Any) -> list[tuple[str, str]]:
    """(label, LaTeX) lines of a verdict: the verdict with its method and scope, and in the same
    line the counterexample (or witness) or the essence of the proof; then the residual over
    generic weights. ``text`` prints evidence of a kind this module does not know."""
    from ._latex import _word

    claim = verdict.claim
    ok = bool(getattr(verdict, "ok", True))
    mark = r"\checkmark" if ok else r"\times"
    line = rf"\textbf{{{_word(verdict.found)}}} ${mark}$"
    expected = getattr(claim, "expected", None)
    if expected is not None and not ok:
        line += rf" (expected {_word(expected)})"
    method = getattr(verdict, "method", None)
    evidence = getattr(verdict, "evidence", None) or {}
    if not isinstance(evidence, dict):
        evidence = {"evidence": evidence}
    point = point_latex(evidence)
    scope = getattr(verdict, "scope", "")
    if point and verdict.found != "holds":
        line += f" by counterexample at {point}"  # the point names its shape: the scope would repeat it
    else:
        if method and method != "none":
            line += f" by {_word(method)}"
        if scope:
            line += ", " + prose_latex(scope)
        proof = proof_latex(evidence) if verdict.found == "holds" else None
        if point:
            line += f". Witness: {point}"
        elif proof:
            line += f". Proof: {proof}"
        elif getattr(verdict, "detail", ""):
            line += ". " + prose_latex(verdict.detail)
    residual = residual_latex(evidence)
    if residual:
        line += "; over generic weights the two sides differ by " + residual
    items = [("Verdict", line)]
    unknown = {k: v for k, v in evidence.items() if k not in _KNOWN}
    if unknown:
        items.append(("Evidence", text(unknown)))
    return items


def claim_items(claim: Any) -> list[tuple[str, str]]:
    """(label, LaTeX) lines of a claim: the seed's words and the statement as math, with its assumptions."""
    from ._latex import _line

    items = []
    quote = getattr(claim, "quote", None)
    if quote:
        reading = getattr(claim, "reading", None)
        items.append(("Seed", rf"\emph{{``{_line(quote)}''}}" + (f" (read as: {_line(reading)})" if reading else "")))
    statement = getattr(claim, "statement", None)
    if statement:
        line = statement_text(statement)
        assumptions = [a for a in getattr(claim, "assumptions", ()) or () if isinstance(a, str)]
        if assumptions:
            line += " assuming " + ", ".join(statement_text(a) for a in assumptions)
        items.append(("Statement", line))
    return items


def note_item(claim: Any) -> list[tuple[str, str]]:
    """The claim file's note, if any: why the verdict is what it is."""
    from ._latex import _line

    note = getattr(claim, "note", None)
    return [("Note", _line(note))] if note else []
