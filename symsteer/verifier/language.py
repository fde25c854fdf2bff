"""The statement language of claim files: Python expression syntax, parsed with ``ast`` and
checked against an allow-list, never evaluated by Python.

>>> parse_statement("B(a*x) == a**2 * B(x)").type
'prop'
>>> parse_statement("x.real == x")
Traceback (most recent call last):
...
symsteer.verifier.language.StatementError: attribute access (a.b) is not part of the language at column 1 of 'x.real == x'
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..errors import ClaimFileError
from ..files import echo, shown

__all__ = [
    "FUNCTIONS",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "MAX_LITERAL",
    "MAX_NODES",
    "NAMES",
    "Node",
    "SEQUENCE_NAMES",
    "StatementError",
    "parse_statement",
]

#: limits that keep a statement small: its text, its syntax tree, its numbers and exponents
MAX_LENGTH = 2000
MAX_NODES = 400
MAX_LITERAL = 10**6
MAX_EXPONENT = 64
MAX_VECTOR = 64


class StatementError(ClaimFileError):
    """A statement outside the language: bad syntax, a refused construct, an unknown name, a type error."""


# -- the names ----------------------------------------------------------------------------

#: name -> (type, meaning); every other name is refused
NAMES: dict[str, tuple[str, str]] = {
    "x": ("vector", "the activation at the steering point (generic, width d)"),
    "s": ("vector", "the steering vector (generic, width d)"),
    "u": ("vector", "a generic vector of width d"),
    "v": ("vector", "a generic vector of width d"),
    "z": ("vector", "a generic vector of width d"),
    "a": ("scalar", "a real scalar"),
    "alpha": ("scalar", "the steering strength α"),
    "t": ("scalar", "a real scalar"),
    "k": ("scalar", "a real scalar"),
    "L": ("int", "the depth of f (layers after the steering point)"),
    "m": ("int", "a layer index 0 ≤ m ≤ L; every value is checked"),
    "ones": ("vector", "the all-ones vector of width d"),
    "W": ("matrix", "layer 0's W (h × d)"),
    "V": ("matrix", "layer 0's V (h × d)"),
    "P": ("matrix", "layer 0's P (d × h)"),
    "b": ("vector", "layer 0's bias b (width h; needs bias = true)"),
    "c": ("vector", "layer 0's bias c (width h; needs bias = true)"),
    "E": ("matrix", "the embedding E (d × k; needs embed = k): the network input y is k-wide and x_0 = E y"),
    "U": ("matrix", "the unembedding U (needs unembed = k)"),
    "gain": ("vector", "the final RMSNorm's gain (needs final_norm = true and gain = true)"),
    # sequence models ([model] kind = "sequence")
    "X": ("sequence", "the stream at the steering point, T × d (generic; a sequence model)"),
    "Y": ("sequence", "a generic sequence, T × d"),
    "T": ("int", "the sequence length (every length in [model] lengths)"),
    "q": ("int", "a position 0 ≤ q < T; every value is checked (or bound by sum_over)"),
}
#: the weights of every layer l < MAX_LAYERS: W0 (= W), V1, P2, b3, …
MAX_LAYERS = 4
for _l in range(MAX_LAYERS):
    NAMES |= {f"W{_l}": ("matrix", f"layer {_l}'s W (h × d)"), f"V{_l}": ("matrix", f"layer {_l}'s V (h × d)"),
              f"P{_l}": ("matrix", f"layer {_l}'s P (d × h)"),
              f"b{_l}": ("vector", f"layer {_l}'s bias b (width h; needs bias = true)"),
              f"c{_l}": ("vector", f"layer {_l}'s bias c (width h; needs bias = true)")}


@dataclass(frozen=True)
class Function:
    """A callable name: its accepted argument types (one tuple per form), result type, meaning."""

    forms: tuple[tuple[str, ...], ...]
    result: str
    doc: str


_V, _S, _P = ("vector",), ("scalar",), ("prop",)
FUNCTIONS: dict[str, Function] = {
    "B": Function((_V, ("vector", "vector")), "vector", "layer 0: B(z) its output (with biases if any), B(u, v) its bilinear form P((W u) ⊙ (V v))"),
    "B0": Function((_V, ("vector", "vector")), "vector", "layer 0 of f (same as B)"),
    "B1": Function((_V, ("vector", "vector")), "vector", "layer 1 of f"),
    "B2": Function((_V, ("vector", "vector")), "vector", "layer 2 of f"),
    "B3": Function((_V, ("vector", "vector")), "vector", "layer 3 of f"),
    "g": Function((_V,), "vector", "layer 0's hidden activations (W z + b) ⊙ (V z + c)"),
    "f": Function((_V,), "vector", "the network after the steering point: L layers, plain or residual (identity when L = 0)"),
    "stream": Function((("vector", "int"),), "vector", "stream(z, m): the activation after m layers of f"),
    "from_layer": Function((("vector", "int"),), "vector",
                           "from_layer(z, m): layers m … L−1 of f applied to z, the output when z is the stream at layer m "
                           "(steering at layer m: from_layer(stream(x, m) + alpha*s, m))"),
    "onehot": Function((("int",),), "vector", "onehot(i): the i-th standard basis vector of the embedding's input width k "
                       "(i a literal 0 … k−1; needs embed = k)"),
    "relu": Function((_V, _S), "same", "max(·, 0) entrywise"),
    "softmax": Function((_V,), "vector", "softmax of a vector of logits"),
    "entropy": Function((_V,), "entropy", "entropy of softmax(...) (natural log)"),
    "argmax": Function((_V,), "set", "the set of indices of the largest entries"),
    "same_ranking": Function((("vector", "vector"),), "prop", "u_i < u_j exactly when v_i < v_j, ties included"),
    "parallel": Function((("vector", "vector"),), "prop", "u and v are linearly dependent (every 2×2 minor vanishes)"),
    "constant": Function((_V,), "prop", "all entries equal"),
    "share": Function((_V, ("vector", "str")), "vector",
                      "share(z, kind): each contribution to the last layer's output y_k divided by y_k; kind 'unit' "
                      "(hidden unit P[k,a] g_a, the default), 'entry' (B[k,i,j] z_i z_j) or 'weight' (weight × gradient)"),
    "cross_map": Function((_V,), "matrix", "M_s of layer 0: B(x, s) + B(s, x) = M_s x"),
    "degree_in": Function((("any", "var:scalar"),), "degree", "degree of a polynomial in a scalar"),
    "is_polynomial_in": Function((("any", "var:scalar"), ("any", "var:scalar", "var:vector")), "prop",
                                 "the value is a polynomial in the scalar (and the vector's entries)"),
    "continuous_in": Function((("any", "var:scalar"),), "prop", "the value is continuous in the scalar"),
    "depends_on": Function((("any", "var:any"),), "prop", "the value is not constant in the named vector or scalar"),
    "input_part": Function((_V, ("sequence",)), "same", "terms of f(X + A*S) with no S leaf and an X leaf"),
    "cross_part": Function((_V, ("sequence",)), "same", "terms of f(X + A*S) with both X and S leaves"),
    "self_part": Function((_V, ("sequence",)), "same", "terms of f(X + A*S) with S leaves and no X leaf"),
    "const_part": Function((_V, ("sequence",)), "same", "terms of f(X + A*S) with bias leaves only"),
    "coeff": Function((("any", "var:scalar", "int"),), "same", "coeff(e, a, m): the coefficient of a**m in e (a polynomial in a)"),
    "dot": Function((("vector", "vector"),), "scalar", "dot(u, v) = Σ u_i v_i"),
    "norm2": Function((_V,), "scalar", "the squared norm Σ u_i²"),
    "sum": Function((_V,), "scalar", "the sum of the entries"),
    "abs": Function((_V, _S), "same", "|·| entrywise"),
    "max": Function((_V, ("scalar", "scalar")), "scalar", "the largest entry of a vector, or of two scalars"),
    "min": Function((_V, ("scalar", "scalar")), "scalar", "the smallest entry of a vector, or of two scalars"),
    "F": Function((("sequence",),), "sequence", "the sequence model after the steering point: its blocks (attention, MLP) "
                  "and the unembedding, T × d in, one output row per position"),
    "at": Function((("vector", "str"), ("vector", "int"), ("vector", "vector")), "sequence",
                   "at(s, P): the T × d direction with s at the positions P ('all', 'last', 'from:t', a position q or a "
                   "literal list [0, 2]) and 0 elsewhere"),
    "row": Function((("sequence", "int"),), "vector", "row(Y, q): position q's row of a sequence (0-based)"),
    "sum_over": Function((("any", "var:int"),), "same", "sum_over(e, q): the sum of e over the positions q = 0 … T−1"),
    "limit": Function((("vector", "var:scalar"),), "limit", "limit(e, alpha): the limit of e as alpha → +∞ (entries ±∞ where "
                      "it diverges; with a final norm a vector over a square root, kept exact)"),
    "rms": Function((_V,), "rms", "rms(z) = √(‖z‖²/d) (a divisor: u / rms(z))"),
    "generic": Function((_P,), "prop", "holds for almost every weight and input (an open polynomial condition with a witness)"),
    "empirical": Function((("str",),), "prop", "a claim about behaviour on data, which no proof over weights decides"),
}

#: the named weights and biases, and the functions that use the model
MODEL_NAMES = frozenset({"W", "V", "P", "b", "c", "E", "U", "gain", "limit", "onehot", "B", "B0", "B1", "B2", "B3", "g", "f", "stream", "from_layer", "share", "cross_map",
                         "input_part", "cross_part", "self_part", "const_part"}
                        | {f"{w}{l}" for w in "WVPbc" for l in range(MAX_LAYERS)})
#: the names that speak about a sequence model (they need [model] kind = "sequence")
SEQUENCE_NAMES = frozenset({"X", "Y", "T", "q", "F", "at", "row", "sum_over"})


def free_names(node: Node) -> set[str]:
    """The names used, without the position q where only sum_over(…, q) binds it."""
    out: set[str] = set()

    def visit(n: Node, bound: bool) -> None:
        if n.op == "name" and not (bound and n.value == "q"):
            out.add(n.value)
        if n.op == "call":
            out.add(n.value)
        inner = bound or (n.op == "call" and n.value == "sum_over")
        for a in n.args:
            visit(a, inner)

    visit(node, False)
    return out


def layer_of(name: str) -> tuple[str, int] | None:
    """('W', 2) for 'W2', ('W', 0) for 'W'; None for a name that is not a weight."""
    if name in ("W", "V", "P", "b", "c"):
        return name, 0
    if len(name) == 2 and name[0] in "WVPbc" and name[1].isdigit():
        return name[0], int(name[1])
    return None


def steered_form(inner: Node) -> tuple[Node, Node, Node, int] | None:
    """(X, A, S, sign) of a steered input X + A*S, A*S + X, X - A*S or -A*S + X (the scalar on
    either side of S); None for anything else."""
    if inner.op not in ("+", "-"):
        return None
    left, right = inner.args
    candidates = [(left, right, 1 if inner.op == "+" else -1)]
    if inner.op == "+":
        candidates.append((right, left, 1))
    for x, steer, sign in candidates:
        if steer.op == "neg" and steer.args[0].op == "*":
            steer, sign = steer.args[0], -sign
        if steer.op != "*" or x.type not in ("vector", "sequence"):
            continue
        a, v = steer.args if steer.args[0].type in ("scalar", "int") else steer.args[::-1]
        if a.type in ("scalar", "int") and v.type == x.type:
            return x, a, v, sign
    return None

_REFUSED = {
    ast.Attribute: "attribute access (a.b) is",
    ast.Lambda: "lambda is",
    ast.ListComp: "comprehensions are",
    ast.SetComp: "comprehensions are",
    ast.DictComp: "comprehensions are",
    ast.GeneratorExp: "comprehensions are",
    ast.Starred: "starred arguments are",
    ast.IfExp: "conditional expressions are",
    ast.NamedExpr: "assignment expressions are",
    ast.Dict: "dict literals are",
    ast.Set: "set literals are",
    ast.Tuple: "tuples are",
    ast.JoinedStr: "f-strings are",
    ast.Await: "await is",
    ast.Yield: "yield is",
    ast.YieldFrom: "yield is",
}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}
_CMPOPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


@dataclass(frozen=True, eq=False)
class Node:
    """One node of a checked statement.

    ``op`` is 'num', 'str', 'name', 'vec', 'neg', 'not', 'and', 'call', a binary operator
    ('+', '-', '*', '/', '**', '@') or a comparison ('==', '!=', '<', '<=', '>', '>=');
    ``value`` holds the number, string, name or function name; ``type`` the checked type.
    """

    op: str
    args: tuple[Node, ...] = ()
    value: Any = None
    type: str = ""
    col: int = 0
    text: str = field(default="", compare=False)

    def walk(self):
        """This node and every node below it."""
        yield self
        for arg in self.args:
            yield from arg.walk()

    def names(self) -> set[str]:
        """Every name and function used."""
        return {n.value for n in self.walk() if n.op in ("name", "call")}

    def __str__(self) -> str:
        return self.text


def parse_statement(text: str) -> Node:
    """Parse and type-check a statement (or an assumption); raise :class:`StatementError` if it is
    outside the language. The result's ``type`` is 'prop' for a statement."""
    if not isinstance(text, str):
        raise StatementError(f"statement {text!r} is a {type(text).__name__}; expected a string")
    source = text.strip()
    if not source:
        raise StatementError("statement is empty; expected an expression such as 'B(a*x) == a**2 * B(x)'")
    if len(source) > MAX_LENGTH:
        raise StatementError(f"statement has {len(source)} characters; at most {MAX_LENGTH} are allowed")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise StatementError(f"not a valid expression: {exc.msg} at column {exc.offset}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise StatementError(f"not a valid expression: {exc}") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise StatementError(f"statement has {count} syntax nodes; at most {MAX_NODES} are allowed")
    node = _Builder(source).build(tree.body)
    if node.type != "prop":
        raise StatementError(f"'{source}' is a {node.type}, not a statement; expected a comparison or a predicate such as parallel(u, v)")
    # generic(P) is a sentence about all weights and inputs, not a condition at a point: inside
    # 'not', 'and' or another generic it would be read as P at each point (not generic(a > 0)
    # would then be refuted at a = 1), so it may only be the whole statement
    for inner in (node.args if node.op == "call" and node.value == "generic" else (node,)):
        for n in inner.walk():
            if n.op == "call" and n.value == "generic":
                raise StatementError(f"generic(...) may only be the whole statement, not a part of one ('{n.text}' in "
                                     f"'{source}'); expected a statement of the form generic(P)")
    return node


def _closest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    return f" (closest: {', '.join(close)})" if close else f" (known: {', '.join(sorted(known))})"


class _Builder:
    """ast -> Node, with the allow-list, the limits and the types."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, tree: ast.AST, message: str) -> StatementError:
        col = getattr(tree, "col_offset", None)
        where = f" at column {col + 1}" if col is not None else ""
        return StatementError(f"{message}{where} of '{shown(self.source, name=True)}'")

    def node(self, tree: ast.AST, op: str, args: tuple[Node, ...] = (), value: Any = None, type: str = "") -> Node:
        text = ast.get_source_segment(self.source, tree) or ""
        return Node(op, args, value, type, getattr(tree, "col_offset", 0), text)

    def build(self, tree: ast.AST) -> Node:
        for kind, what in _REFUSED.items():
            if isinstance(tree, kind):
                raise self.fail(tree, f"{what} not part of the language")
        method = getattr(self, f"_{type(tree).__name__}", None)
        if method is None:
            raise self.fail(tree, f"{type(tree).__name__} expressions are not part of the language")
        return method(tree)

    # -- leaves -------------------------------------------------------------------------

    def _Constant(self, tree: ast.Constant) -> Node:
        value = tree.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise self.fail(tree, f"{echo(value)} is not a number; expected an integer")
        if isinstance(value, int):
            if abs(value) > MAX_LITERAL:
                raise self.fail(tree, f"integer {value} is too large; at most {MAX_LITERAL} in magnitude")
            return self.node(tree, "num", value=Fraction(value), type="int")
        if isinstance(value, float):
            raise self.fail(tree, f"float {echo(value)} is not exact; write a fraction such as 1/2")
        if isinstance(value, str):
            if len(value) > 200:
                raise self.fail(tree, "string is too long; at most 200 characters")
            return self.node(tree, "str", value=value, type="str")
        raise self.fail(tree, f"{type(value).__name__} constants are not part of the language")

    def _Name(self, tree: ast.Name) -> Node:
        name = tree.id
        if name.startswith("__"):
            raise self.fail(tree, f"{echo(name)} is refused: names beginning with '__' are not part of the language")
        if name in NAMES:
            return self.node(tree, "name", value=name, type=NAMES[name][0])
        if name in FUNCTIONS:
            raise self.fail(tree, f"'{name}' is a function; call it, e.g. {name}(x)")
        raise self.fail(tree, f"unknown name {echo(name)}{_closest(name, list(NAMES) + list(FUNCTIONS))}")

    def _List(self, tree: ast.List) -> Node:
        if not tree.elts or len(tree.elts) > MAX_VECTOR:
            raise self.fail(tree, f"a vector literal needs 1 to {MAX_VECTOR} entries; got {len(tree.elts)}")
        items = []
        for elt in tree.elts:
            value = _constant(self.build(elt))
            if value is None:
                raise self.fail(elt, "vector literals hold numbers only, such as [1, -2, 1/2]")
            items.append(value)
        return self.node(tree, "vec", value=tuple(items), type="vector")

    # -- operators ----------------------------------------------------------------------

    def _UnaryOp(self, tree: ast.UnaryOp) -> Node:
        arg = self.build(tree.operand)
        if isinstance(tree.op, ast.Not):
            if arg.type != "prop":
                raise self.fail(tree, f"'not' needs a statement; got a {arg.type}")
            return self.node(tree, "not", (arg,), type="prop")
        if isinstance(tree.op, (ast.USub, ast.UAdd)):
            if arg.type not in ("int", "scalar", "vector", "matrix", "sequence", "limit"):
                raise self.fail(tree, f"cannot negate a {arg.type}")
            if isinstance(tree.op, ast.UAdd):
                return arg
            return self.node(tree, "neg", (arg,), type=arg.type)
        raise self.fail(tree, f"operator {type(tree.op).__name__} is not part of the language")

    def _BoolOp(self, tree: ast.BoolOp) -> Node:
        word = "and" if isinstance(tree.op, ast.And) else "or"
        args = tuple(self.build(v) for v in tree.values)
        for arg, v in zip(args, tree.values):
            if arg.type != "prop":
                raise self.fail(v, f"'{word}' joins statements; got a {arg.type}")
        return self.node(tree, word, args, type="prop")

    def _Subscript(self, tree: ast.Subscript) -> Node:
        value = self.build(tree.value)
        if value.type != "vector":
            raise self.fail(tree, f"only vectors can be indexed, u[i]; got a {value.type}")
        index = tree.slice
        if not (isinstance(index, ast.Constant) and isinstance(index.value, int) and not isinstance(index.value, bool)
                and 0 <= index.value < MAX_VECTOR):
            raise self.fail(tree, f"an index must be a literal integer 0 … {MAX_VECTOR - 1} (entries count from 0)")
        return self.node(tree, "index", (value,), value=index.value, type="scalar")

    def _BinOp(self, tree: ast.BinOp) -> Node:
        op = _BINOPS.get(type(tree.op))
        if isinstance(tree.op, ast.BitXor):
            raise self.fail(tree, "'^' is not a power here (in Python it is exclusive or); use ** for powers, e.g. a**2")
        if op is None:
            raise self.fail(tree, f"operator {type(tree.op).__name__} is not part of the language (use + - * / ** @)")
        left, right = self.build(tree.left), self.build(tree.right)
        if op == "**":
            return self._power(tree, left, right)
        t = _binary_type(op, left.type, right.type)
        if t is None:
            raise self.fail(tree, f"cannot apply '{op}' to {_an(left.type)} and {_an(right.type)}")
        if op == "/" and _constant(right) == 0:
            raise self.fail(tree, "division by zero")
        return self.node(tree, op, (left, right), type=t)

    def _power(self, tree: ast.BinOp, base: Node, exp: Node) -> Node:
        if exp.type != "int":
            raise self.fail(tree, f"exponent must be a non-negative integer (a literal, L, m or arithmetic on them); got a {exp.type}")
        value = _constant(exp, bounded=True)
        if value is not None and not 0 <= value <= MAX_EXPONENT:
            raise self.fail(tree, f"exponent {exp.text} = {value} is out of range; expected 0 … {MAX_EXPONENT}")
        if value is None and _constant_overflows(exp):
            raise self.fail(tree, f"exponent {exp.text} is too large; expected 0 … {MAX_EXPONENT}")
        if base.type not in ("int", "scalar"):
            raise self.fail(tree, f"only numbers and scalars can be raised to a power; got a {base.type}")
        return self.node(tree, "**", (base, exp), type=base.type)

    def _Compare(self, tree: ast.Compare) -> Node:
        parts = [self.build(tree.left)] + [self.build(c) for c in tree.comparators]
        pairs = []
        for i, op_tree in enumerate(tree.ops):
            op = _CMPOPS.get(type(op_tree))
            if op is None:
                raise self.fail(tree, f"comparison {type(op_tree).__name__} is not part of the language (use == != < <= > >=)")
            left, right = parts[i], parts[i + 1]
            if not _comparable(op, left.type, right.type):
                raise self.fail(tree, f"cannot compare {_an(left.type)} and {_an(right.type)} with '{op}'")
            text = f"{left.text} {op} {right.text}"
            pairs.append(Node(op, (left, right), None, "prop", left.col, text))
        if len(pairs) == 1:
            return Node(pairs[0].op, pairs[0].args, None, "prop", tree.col_offset, ast.get_source_segment(self.source, tree) or "")
        return self.node(tree, "and", tuple(pairs), type="prop")

    def _Call(self, tree: ast.Call) -> Node:
        if not isinstance(tree.func, ast.Name):
            self.build(tree.func)  # reports the refused construct (attribute access, lambda, …) first
            raise self.fail(tree, "only named functions can be called, such as softmax(x)")
        name = tree.func.id
        if name.startswith("__"):
            raise self.fail(tree, f"{echo(name)} is refused: names beginning with '__' are not part of the language")
        if name not in FUNCTIONS:
            if name in NAMES:
                raise self.fail(tree, f"'{name}' is a {NAMES[name][0]}, not a function")
            raise self.fail(tree, f"unknown function {echo(name)}{_closest(name, list(FUNCTIONS))}")
        if tree.keywords:
            raise self.fail(tree, f"{name}() takes no keyword arguments")
        if name == "at" and len(tree.args) == 2 and isinstance(tree.args[1], ast.List) and not tree.args[1].elts:
            raise self.fail(tree, "at(s, []): the set of positions is empty; expected at least one position, 'all', 'last' or 'from:t'")
        fn = FUNCTIONS[name]
        args = tuple(self.build(a) for a in tree.args)
        for form in fn.forms:
            if len(form) == len(args) and all(_accepts(want, arg) for want, arg in zip(form, args)):
                break
        else:
            got = ", ".join(a.type for a in args) or "nothing"
            wanted = " or ".join("(" + ", ".join(f.replace("var:", "a name of a ") for f in form) + ")" for form in fn.forms)
            raise self.fail(tree, f"{name}() takes {wanted}; got ({got})")
        if name == "onehot" and (args[0].op != "num" or args[0].value.denominator != 1 or not 0 <= args[0].value < MAX_VECTOR):
            raise self.fail(tree, f"onehot({args[0].text}): the index must be a literal integer 0 … k−1 (k = embed); got {args[0].text}")
        if name == "at":
            _check_positions(self, tree, args[1])
        if name == "sum_over" and args[1].value != "q":
            raise self.fail(tree, f"sum_over binds the position q; got '{args[1].text}'")
        if name == "share" and len(args) == 2 and args[1].value not in ("unit", "entry", "weight"):
            raise self.fail(tree, f"share kind {echo(args[1].value)}; expected 'unit', 'entry' or 'weight'")
        result = args[0].type if fn.result == "same" else fn.result
        return self.node(tree, "call", args, value=name, type=result)


def _check_positions(builder: _Builder, tree: ast.Call, where: Node) -> None:
    """at(s, P): P a steer set the library reads ('all', 'last', 'from:t', a list), checked now
    (its range is checked against the lengths when the claim file is loaded)."""
    from ..errors import ShapeError
    from ..positions import SteerSet

    if where.type == "int":
        if where.op == "num" and where.value < 0:
            raise builder.fail(tree, f"at(…, {where.text}): position {where.text} is negative; positions are 0-based (write 'last' for T − 1)")
        return
    try:
        if where.type == "str":
            SteerSet.parse(where.value)
        else:
            if where.op != "vec" or any(v.denominator != 1 for v in where.value):
                raise builder.fail(tree, f"at(…, {where.text}): expected a literal list of integer positions such as [0, 2]")
            SteerSet.of([int(v) for v in where.value])
    except ShapeError as exc:
        raise builder.fail(tree, f"at(…, {shown(where.text, name=True)}): {exc}") from None


def _accepts(want: str, arg: Node) -> bool:
    if want.startswith("var:"):
        kind = want[4:]
        kinds = ("scalar", "vector", "sequence") if kind == "any" else (kind,)
        return arg.op == "name" and NAMES[arg.value][0] in kinds and arg.value not in ("ones", "b", "c", "L", "m", "T")
    if want == "any":
        return arg.type in ("scalar", "int", "vector", "matrix", "sequence")
    if want == "scalar":
        return arg.type in ("scalar", "int")
    return arg.type == want


def _binary_type(op: str, left: str, right: str) -> str | None:
    num = ("int", "scalar")
    if op in ("+", "-"):
        if left == right == "int":
            return "int"
        if left in num and right in num:
            return "scalar"
        return left if left == right and left in ("vector", "matrix", "sequence") else None
    if op == "*":
        if left == right == "int":
            return "int"
        if left in num and right in num:
            return "scalar"
        if left in num and right in ("vector", "matrix", "sequence"):
            return right
        if right in num and left in ("vector", "matrix", "sequence"):
            return left
        return "vector" if left == right == "vector" else None
    if op == "/":
        if left in num and right in num:
            return "scalar"
        if left == "vector" and right in (*num, "vector"):
            return "vector"
        if left == "vector" and right == "rms":
            return "limit"
        return None
    if op == "@" and left == "matrix" and right in ("vector", "matrix"):
        return right
    return None


def _comparable(op: str, left: str, right: str) -> bool:
    num = ("int", "scalar")
    if left in num and right in num:
        return True
    if "degree" in (left, right):
        return {left, right} <= {"degree", "int"}
    if "entropy" in (left, right) and (left in num or right in num):  # entropy(softmax(z)) <= 1
        return True
    if op in ("==", "!="):
        if "limit" in (left, right):  # a limit against a vector or u / rms(z)
            return {left, right} <= {"limit", "vector"}
        if left in ("vector", "matrix", "sequence") and right in num:  # entrywise against a number, e.g. M != 0
            return True
        return left == right and left in ("vector", "matrix", "sequence", "set", "entropy")
    if left == "vector" and right in num:  # entrywise, e.g. share(x) >= 0
        return True
    return left == right and left in ("vector", "entropy")


def _constant(node: Node, *, bounded: bool = False) -> Fraction | None:
    """The value of a subtree made of numbers only, or None. ``bounded``: give up on powers
    whose result would be huge instead of computing them."""
    if node.op == "num":
        return node.value
    if node.op == "neg":
        v = _constant(node.args[0], bounded=bounded)
        return None if v is None else -v
    if node.op in ("+", "-", "*", "/", "**") and len(node.args) == 2:
        a, b = (_constant(arg, bounded=bounded) for arg in node.args)
        if a is None or b is None:
            return None
        if node.op == "**":
            if b.denominator != 1 or not 0 <= b <= MAX_EXPONENT or abs(a) > MAX_LITERAL:
                return None
            return a ** int(b)
        if node.op == "/":
            return a / b if b else None
        return a + b if node.op == "+" else a - b if node.op == "-" else a * b
    return None


def _constant_overflows(node: Node) -> bool:
    """True when a number-only exponent is a power beyond the bounds (e.g. 10**9)."""
    return all(n.op in ("num", "neg", "+", "-", "*", "/", "**") for n in node.walk()) and _constant(node) is None


def _an(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"
