"""Replay symsteer's evidence files without symsteer: numpy, fractions and sympy only.

    python tools/replay.py DIR        # every DIR/*.json written by `symsteer verify --evidence DIR`

For a 'fails' file it rebuilds the network from the counterexample's exact weights, checks
that every assumption holds at the point and that the statement is false there. For a
'holds' file it evaluates the statement at seeded random exact points of each listed model
shape where the assumptions hold (and at the witness of a 'generic' claim): none may be false.
The statement is read with Python's ``ast`` and interpreted here, never evaluated.
Exit 0 when every file replays, 1 when one does not (each named on its own line).
"""

from __future__ import annotations

import ast
import json
import random
import sys
from fractions import Fraction
from pathlib import Path

import sympy

VECTORS, SCALARS = ("x", "s", "u", "v", "z"), ("a", "alpha", "t", "k")
SEQUENCES = ("X", "Y")
LAM, MU = sympy.Symbol("lam_"), sympy.Symbol("mu_")


class Skip(Exception):
    """A statement outside what this checker interprets (said so, never counted as replayed)."""


def q(text):
    return sympy.Rational(str(Fraction(text)))


class Model:
    """Weights W0, V0, P0, b0, c0, …, U and E of one shape; the layer formulas written out once here."""

    def __init__(self, case, w):
        self.depth, self.residual, self.w = case["layers"], case["residual"], w
        self.norm, self.final_norm = bool(case.get("norm")), bool(case.get("final_norm"))
        self.tidy = None  # applied to the stream after each layer (limit: one rational function of α each)

    def sublayer(self, l, z):
        """B_l(z), or B_l(g_l ⊙ z / r(z)) = B_l(g_l ⊙ z) / r(z)² with an RMSNorm (ε = 0) before it."""
        if not self.norm:
            return self.layer(l, z)
        g = self.w.get(f"gain{l}", sympy.ones(z.rows, 1))
        return self.layer(l, g.multiply_elementwise(z)) / (sum(e * e for e in z) / z.rows)

    def layer(self, l, z, z2=None, bias=True):
        W, V, P = self.w[f"W{l}"], self.w[f"V{l}"], self.w[f"P{l}"]
        left, right = W * z, V * (z if z2 is None else z2)
        if bias and f"b{l}" in self.w:
            left, right = left + self.w[f"b{l}"], right + self.w[f"c{l}"]
        return P * left.multiply_elementwise(right)

    def hidden(self, z):
        left, right = self.w["W0"] * z, self.w["V0"] * z
        if "b0" in self.w:
            left, right = left + self.w["b0"], right + self.w["c0"]
        return left.multiply_elementwise(right)

    def stream(self, z, m):
        """x_m for the network input z (x_0 = E z with an embedding)."""
        if "E" in self.w:
            z = self.w["E"] * z
        for l in range(m):
            y = self.sublayer(l, z)
            z = z + y if self.residual else y
        return z

    def f(self, z):
        return self.from_layer(self.stream(z, 0), 0)

    def from_layer(self, z, m):
        """Layers m … L−1 applied to the stream z at layer m, then U."""
        for l in range(m, self.depth):
            y = self.sublayer(l, z)
            z = z + y if self.residual else y
            if self.tidy is not None:
                z = z.applyfunc(self.tidy)
        return self.head(z)

    def head(self, z):
        """The final norm g ⊙ z / √(‖z‖²/d) (exact: sympy keeps the square root), then U."""
        if self.final_norm:
            z = self.w.get("gainF", sympy.ones(z.rows, 1)).multiply_elementwise(z) / sympy.sqrt(sum(e * e for e in z) / z.rows)
        return self.w["U"] * z if "U" in self.w else z


class SequenceModel:
    """A sequence model of one case (``case["sequence"]``): attention (two-branch, squared or frozen;
    heads; RoPE from the recorded float32 tables), bilinear MLPs, the residual, U; the formulas
    written out once here, one position at a time."""

    def __init__(self, case, w):
        self.spec, self.T, self.w = case["sequence"], case["length"], w
        self.depth = sum(1 for b in self.spec["blocks"] if b == "attention")
        rope = case.get("rope")
        self.cos = [[q(v) for v in row] for row in rope["cos"]] if rope else None
        self.sin = [[q(v) for v in row] for row in rope["sin"]] if rope else None

    def rotate(self, y, t, dh):
        """R_t on each head of y: y cos_t + rotate_half(y) sin_t."""
        if self.cos is None:
            return y
        out = []
        for h in range(len(y) // dh):
            seg = list(y[h * dh:(h + 1) * dh])
            turned = [-e for e in seg[dh // 2:]] + seg[:dh // 2]
            out += [a * self.cos[t][i] + b * self.sin[t][i] for i, (a, b) in enumerate(zip(seg, turned))]
        return sympy.Matrix(out)

    def attention(self, l, X):
        w = lambda k: self.w[f"att{l}.{k}"]  # noqa: E731
        H, T = self.spec["heads"], self.T
        rows = [X.row(t).T for t in range(T)]
        vals = [w("v") * r for r in rows]
        dv = vals[0].rows // H
        z = [sympy.zeros(vals[0].rows, 1) for _ in range(T)]
        if self.spec["pattern"] == "frozen":
            weight = lambda h, i, k: w("pattern")[h][i, k] if k <= i else 0  # noqa: E731
        else:
            dh = w("q1").rows // H
            proj = {key: [self.rotate(w(key) * r, t, dh) for t, r in enumerate(rows)]
                    for key in (("q1", "k1", "q2", "k2") if self.spec["pattern"] == "bilinear" else ("q1", "k1"))}

            def dot(a, b, h, i, k):
                return sum((proj[a][i][h * dh + e] * proj[b][k][h * dh + e] for e in range(dh)), sympy.Integer(0))

            def weight(h, i, k):
                if k > i:
                    return 0
                g1 = dot("q1", "k1", h, i, k)
                g2 = dot("q2", "k2", h, i, k) if "q2" in proj else g1
                return g1 * g2 / sympy.Integer(dh) ** 2
        for h in range(H):
            for i in range(T):
                for k in range(i + 1):
                    p = weight(h, i, k)
                    for e in range(h * dv, (h + 1) * dv):
                        z[i][e] += p * vals[k][e]
        return sympy.Matrix.vstack(*[(w("o") * zi).T for zi in z])

    def mlp(self, l, X):
        W, V, P = self.w[f"mlp{l}.W"], self.w[f"mlp{l}.V"], self.w[f"mlp{l}.P"]
        return sympy.Matrix.vstack(*[(P * (W * X.row(t).T).multiply_elementwise(V * X.row(t).T)).T for t in range(X.rows)])

    def F(self, X):
        lam = q(self.spec["lerp"])
        for l, kind in enumerate(self.spec["blocks"]):
            out = self.attention(l, X) if kind == "attention" else self.mlp(l, X)
            X = {"none": out, "add": X + out, "lerp": (1 - lam) * X + lam * out}[self.spec["residual"]]
        return sympy.Matrix.vstack(*[(self.w["U"] * X.row(t).T).T for t in range(X.rows)]) if "U" in self.w else X


def vec(value):
    return sympy.Matrix([value]) if not isinstance(value, sympy.MatrixBase) else value


class Env:
    def __init__(self, model, values, m=None, q=None):
        self.model, self.values, self.m, self.q, self.position = model, dict(values), m, q, None

    # -- expressions --------------------------------------------------------------------
    def ev(self, node):
        kind = type(node).__name__
        if kind == "Constant":
            if isinstance(node.value, str):
                return node.value
            return sympy.Integer(node.value)
        if kind == "Name":
            return self.name(node.id)
        if kind == "List":
            return sympy.Matrix([self.ev(e) for e in node.elts])
        if kind == "UnaryOp":
            v = self.ev(node.operand)
            if isinstance(node.op, ast.Not):
                return not v
            return -v if isinstance(node.op, ast.USub) else v
        if kind == "BoolOp":
            items = [self.ev(v) for v in node.values]
            return all(items) if isinstance(node.op, ast.And) else any(items)
        if kind == "BinOp":
            return self.binop(node)
        if kind == "Compare":
            parts = [self.ev(node.left)] + [self.ev(c) for c in node.comparators]
            return all(self.compare(op, parts[i], parts[i + 1]) for i, op in enumerate(node.ops))
        if kind == "Subscript":
            return self.ev(node.value)[node.slice.value]
        if kind == "Call":
            return getattr(self, "fn_" + node.func.id)(*node.args)
        raise Skip(f"{kind} expressions")

    def name(self, n):
        if n in self.values:
            return self.values[n]
        if n == "T":
            return sympy.Integer(self.model.T)
        if n == "q":
            return sympy.Integer(self.position if self.position is not None else self.q)
        if n == "L":
            return sympy.Integer(self.model.depth)
        if n == "m":
            return sympy.Integer(self.m)
        if n == "ones":
            return sympy.ones(self.width, 1)
        if n in ("W", "V", "P", "b", "c"):
            n += "0"
        if n == "gain":
            n = "gainF"
        if n in self.model.w:
            return self.model.w[n]
        raise Skip(f"the name {n}")

    @property
    def width(self):
        return next(v.rows for k, v in self.values.items() if k in VECTORS) if any(k in VECTORS for k in self.values) \
            else self.model.w["W0"].cols

    def binop(self, node):
        a, b = self.ev(node.left), self.ev(node.right)
        op = type(node.op).__name__
        if isinstance(a, tuple) or isinstance(b, tuple):  # arithmetic on probabilities: high-precision numbers
            return ("probs", arith(op, probs(a), probs(b)))
        mat = lambda v: isinstance(v, sympy.MatrixBase)
        if op == "Add":
            return a + b
        if op == "Sub":
            return a - b
        if op == "Mult":
            if mat(a) and mat(b):
                return a.multiply_elementwise(b)
            return a * b
        if op == "Div":
            if mat(b):
                return sympy.Matrix([x / y for x, y in zip(a, b)])
            return a / b
        if op == "Pow":
            return a ** b
        if op == "MatMult":
            return a * b
        raise Skip(op)

    def compare(self, op, a, b):
        op = type(op).__name__
        if isinstance(a, tuple) and a[0] == "entropy" or isinstance(b, tuple) and b[0] == "entropy":
            import mpmath

            a, b = (entropy(v[1]) if isinstance(v, tuple) else mpmath.mpf(sympy.Rational(v).p) / sympy.Rational(v).q
                    for v in (a, b))
            if abs(a - b) <= mpmath.mpf(10) ** -45 * max(abs(a), abs(b)):  # equal at this precision: a tie
                return op in ("Eq", "LtE", "GtE")
            return {"Eq": False, "NotEq": True, "Lt": a < b, "LtE": a < b, "Gt": a > b, "GtE": a > b}[op]
        if isinstance(a, tuple) and a[0] == "probs" or isinstance(b, tuple) and b[0] == "probs":
            import mpmath

            a, b = probs(a), probs(b)
            pairs = list(zip(a, b)) if isinstance(a, list) and isinstance(b, list) else \
                [(x, b) for x in a] if isinstance(a, list) else [(a, y) for y in b]
            test = {"Eq": lambda p, r: abs(p - r) < mpmath.mpf(10) ** -45, "NotEq": lambda p, r: abs(p - r) >= mpmath.mpf(10) ** -45,
                    "Lt": lambda p, r: p < r, "LtE": lambda p, r: p <= r, "Gt": lambda p, r: p > r, "GtE": lambda p, r: p >= r}[op]
            return all(test(p, r) for p, r in pairs) if op != "NotEq" else any(test(p, r) for p, r in pairs)
        if isinstance(a, tuple) and isinstance(b, tuple):  # softmax values: equal iff the logits differ by a constant
            same = len(set(sympy.simplify(x - y) for x, y in zip(a[1], b[1]))) <= 1
            return same if op == "Eq" else not same
        if isinstance(a, frozenset) or isinstance(b, frozenset):
            return (a == b) if op == "Eq" else (a != b)
        pairs = list(zip(a, b)) if isinstance(a, sympy.MatrixBase) and isinstance(b, sympy.MatrixBase) else \
            [(x, b) for x in a] if isinstance(a, sympy.MatrixBase) else [(a, y) for y in b] if isinstance(b, sympy.MatrixBase) else [(a, b)]
        if isinstance(a, sympy.MatrixBase) and isinstance(b, sympy.MatrixBase) and a.shape != b.shape:
            return op == "NotEq"
        diffs = [_difference(x, y) for x, y in pairs]
        if op == "Eq":
            return all(d == 0 for d in diffs)
        if op == "NotEq":
            return any(d != 0 for d in diffs)
        test = {"Lt": lambda d: d < 0, "LtE": lambda d: d <= 0, "Gt": lambda d: d > 0, "GtE": lambda d: d >= 0}[op]
        return all(bool(test(sympy.N(d, 60) if not d.is_Rational else d)) for d in diffs)

    # -- sequence models ------------------------------------------------------------------
    def fn_F(self, X):
        return self.model.F(self.ev(X))

    def fn_at(self, s, where):
        s, T = vec(self.ev(s)), self.model.T
        if isinstance(where, ast.List):
            chosen = [int(e.value) for e in where.elts]
        elif isinstance(where, ast.Constant) and isinstance(where.value, str):
            spec = where.value.strip().lower()
            chosen = list(range(T)) if spec == "all" else [T - 1] if spec == "last" else \
                list(range(int(spec[5:]), T)) if spec.startswith("from:") else [int(p) for p in spec.split(",")]
        else:
            chosen = [int(self.ev(where))]
        assert chosen and all(0 <= t < T for t in chosen), f"positions {chosen} outside 0 … {T - 1}"
        return sympy.Matrix.vstack(*[(s if t in chosen else sympy.zeros(s.rows, 1)).T for t in range(T)])

    def fn_row(self, X, where):
        t = int(self.ev(where))
        assert 0 <= t < self.model.T, f"row {t} outside 0 … {self.model.T - 1}"
        return self.ev(X).row(t).T

    def fn_sum_over(self, expr, var):
        saved, total = self.position, None
        try:
            for t in range(self.model.T):
                self.position = t
                value = self.ev(expr)
                total = value if total is None else total + value
        finally:
            self.position = saved
        return total

    # -- the model ----------------------------------------------------------------------
    def fn_f(self, z):
        return self.model.f(vec(self.ev(z)))

    def _B(self, l, args):
        if len(args) == 1:
            return self.model.layer(l, vec(self.ev(args[0])))
        return self.model.layer(l, vec(self.ev(args[0])), vec(self.ev(args[1])), bias=False)

    def fn_B(self, *a):
        return self._B(0, a)

    fn_B0 = fn_B

    def fn_B1(self, *a):
        return self._B(1, a)

    def fn_B2(self, *a):
        return self._B(2, a)

    def fn_B3(self, *a):
        return self._B(3, a)

    def fn_g(self, z):
        return self.model.hidden(vec(self.ev(z)))

    def fn_from_layer(self, z, m):
        m = int(self.ev(m))
        assert 0 <= m <= self.model.depth, f"from_layer at {m} outside 0 … {self.model.depth}"
        return self.model.from_layer(vec(self.ev(z)), m)

    def fn_onehot(self, i):
        k, i = self.model.w["E"].cols, int(self.ev(i))
        assert 0 <= i < k, f"onehot({i}) outside 0 … {k - 1}"
        return sympy.Matrix([1 if j == i else 0 for j in range(k)])

    def fn_stream(self, z, m):
        return self.model.stream(vec(self.ev(z)), int(self.ev(m)))

    def fn_cross_map(self, s):
        s = vec(self.ev(s))
        W, V, P = self.model.w["W0"], self.model.w["V0"], self.model.w["P0"]
        return P * (sympy.diag(*(V * s)) * W + sympy.diag(*(W * s)) * V)

    def fn_share(self, z, kind=None):
        """Each contribution to the last layer's output y_k (the stream's last value) over y_k."""
        how = "unit" if kind is None else self.ev(kind)
        m = self.model
        x, y = m.stream(vec(self.ev(z)), m.depth - 1), m.stream(vec(self.ev(z)), m.depth)
        l = m.depth - 1
        W, V, P = m.w[f"W{l}"], m.w[f"V{l}"], m.w[f"P{l}"]
        bias = f"b{l}" in m.w
        wx, vx = W * x, V * x
        if bias:
            wx, vx = wx + m.w[f"b{l}"], vx + m.w[f"c{l}"]
        d, h = P.rows, P.cols
        if how == "unit":
            parts = [[[P[k, a] * wx[a] * vx[a] for a in range(h)] for k in range(d)]]
        elif how == "entry":
            xa, Wa, Va = list(x), W, V
            if bias:
                xa, Wa, Va = xa + [1], W.row_join(m.w[f"b{l}"]), V.row_join(m.w[f"c{l}"])
            n = len(xa)
            parts = [[[sum(P[k, a] * Wa[a, i] * Va[a, j] for a in range(h)) * xa[i] * xa[j] for i in range(n) for j in range(n)]
                      for k in range(d)]]
        else:  # weight × gradient: P, then W and V, then the biases
            n = len(x)
            parts = [[[P[k, a] * wx[a] * vx[a] for a in range(h)] for k in range(d)],
                     [[P[k, a] * vx[a] * W[a, i] * x[i] for a in range(h) for i in range(n)] for k in range(d)],
                     [[P[k, a] * wx[a] * V[a, i] * x[i] for a in range(h) for i in range(n)] for k in range(d)]]
            if bias:
                b, c = m.w[f"b{l}"], m.w[f"c{l}"]
                parts += [[[P[k, a] * b[a] * vx[a] for a in range(h)] for k in range(d)],
                          [[P[k, a] * wx[a] * c[a] for a in range(h)] for k in range(d)]]
        out = []
        for part in parts:
            for k, row in enumerate(part):
                if y[k] == 0:
                    raise ZeroDivisionError("a share at an output y_k = 0 is undefined")
                out += [e / y[k] for e in row]
        return sympy.Matrix(out)

    # -- steered parts: f(λ X + μ A S), by their degrees in λ (X leaves) and μ (S leaves) ----------
    def _part(self, arg, kind):
        call, inner = arg.func.id, arg.args[0]
        form = steered(inner)
        x, a, s, sign = form
        if call == "F":
            z = LAM * self.ev(x) + MU * sign * self.ev(a) * self.ev(s)
            total = self.model.F(z)
        else:
            z = LAM * vec(self.ev(x)) + MU * sign * self.ev(a) * vec(self.ev(s))
        total = total if call == "F" else self.model.f(z) if call == "f" else self.model.layer(0 if call in ("B", "B0") else int(call[1]), z)
        out = []
        for e in total:
            poly = sympy.Poly(sympy.expand(e), LAM, MU)
            keep = 0
            for (i, j), c in poly.terms():
                k = ("cross" if j else "input") if i else ("self" if j else "const")
                keep += c if k == kind else 0
            out.append(keep)
        return sympy.Matrix(out).reshape(*total.shape)

    def fn_input_part(self, arg):
        return self._part(arg, "input")

    def fn_cross_part(self, arg):
        return self._part(arg, "cross")

    def fn_self_part(self, arg):
        return self._part(arg, "self")

    def fn_const_part(self, arg):
        return self._part(arg, "const")

    # -- entrywise and probability functions -------------------------------------------------
    def fn_relu(self, v):
        v = self.ev(v)
        one = lambda e: (e if e > 0 else sympy.Integer(0)) if e.is_number else sympy.Max(e, 0)
        return v.applyfunc(one) if isinstance(v, sympy.MatrixBase) else one(v)

    def fn_abs(self, v):
        v = self.ev(v)
        return v.applyfunc(abs) if isinstance(v, sympy.MatrixBase) else abs(v)

    def fn_max(self, *a):
        vals = list(self.ev(a[0])) if len(a) == 1 else [self.ev(x) for x in a]
        return max(vals)

    def fn_min(self, *a):
        vals = list(self.ev(a[0])) if len(a) == 1 else [self.ev(x) for x in a]
        return min(vals)

    def fn_dot(self, u, v):
        return sum((p * r for p, r in zip(vec(self.ev(u)), vec(self.ev(v)))), sympy.Integer(0))

    def fn_norm2(self, u):
        return self.fn_dot(u, u)

    def fn_sum(self, u):
        return sum(vec(self.ev(u)), sympy.Integer(0))

    def fn_softmax(self, v):
        return ("softmax", list(vec(self.ev(v))))

    def fn_entropy(self, v):
        val = self.ev(v)
        if not (isinstance(val, tuple) and val[0] == "softmax"):
            raise Skip("entropy of something other than softmax(...)")
        return ("entropy", val[1])

    def fn_argmax(self, v):
        val = self.ev(v)
        entries = val[1] if isinstance(val, tuple) else list(val)
        top = max(entries)
        return frozenset(i for i, e in enumerate(entries) if e == top)

    def fn_same_ranking(self, u, v):
        a, b = (self._entries(x) for x in (u, v))
        sign = lambda d: int(bool(d > 0)) - int(bool(d < 0))
        return all(sign(a[i] - a[j]) == sign(b[i] - b[j]) for i in range(len(a)) for j in range(i + 1, len(a)))

    def _entries(self, node):
        val = self.ev(node)
        return val[1] if isinstance(val, tuple) else list(val)

    def fn_parallel(self, u, v):
        a, b = list(vec(self.ev(u))), list(vec(self.ev(v)))
        return all(sympy.expand(a[i] * b[j] - a[j] * b[i]) == 0 for i in range(len(a)) for j in range(i + 1, len(a)))

    def fn_constant(self, v):
        entries = self._entries(v)
        return all(sympy.simplify(e - entries[0]) == 0 for e in entries)

    # -- functions of a named variable: the variable made a symbol ---------------------------
    def _with_symbol(self, expr, var):
        name = var.id
        old = self.values[name]
        syms = sympy.Matrix(old.rows, old.cols, [sympy.Symbol(f"{name}_{i}_") for i in range(len(old))]) \
            if isinstance(old, sympy.MatrixBase) else sympy.Symbol(f"{name}_")
        self.values[name] = syms
        try:
            value = self.ev(expr)
        finally:
            self.values[name] = old
        entries = list(value) if isinstance(value, sympy.MatrixBase) else [value]
        return [sympy.expand(e) for e in entries], set(syms) if isinstance(syms, sympy.MatrixBase) else {syms}

    def fn_depends_on(self, expr, var):
        entries, syms = self._with_symbol(expr, var)
        return any(e.free_symbols & syms for e in entries)

    def fn_degree_in(self, expr, var):
        entries, syms = self._with_symbol(expr, var)
        (sym,) = syms
        degrees = [sympy.Poly(e, sym).degree() for e in entries if e != 0]
        return sympy.Integer(max(degrees)) if degrees else sympy.Integer(-1)

    def fn_coeff(self, expr, var, power):
        entries, syms = self._with_symbol(expr, var)
        (sym,) = syms
        n = int(self.ev(power))
        out = [sympy.Poly(e, sym).coeff_monomial(sym ** n) for e in entries]
        value = self.ev(expr)
        return sympy.Matrix(out).reshape(*value.shape) if isinstance(value, sympy.MatrixBase) else out[0]

    def fn_is_polynomial_in(self, expr, var, vector=None):
        entries, syms = self._with_symbol(expr, var)
        if vector is not None:
            more, extra = self._with_symbol(expr, vector)
            return all(e.is_polynomial(*syms) for e in entries) and all(e.is_polynomial(*extra) for e in more)
        return all(e.is_polynomial(*syms) for e in entries)

    def fn_continuous_in(self, expr, var):
        entries, syms = self._with_symbol(expr, var)
        return all(not (sympy.denom(sympy.together(e)).free_symbols & syms) for e in entries)

    def fn_limit(self, expr, var):
        """lim f(z(α)), α → +∞, from the leading terms of the stream's rational functions: with a
        final norm (scale invariant) the head of the leading direction, else entry by entry."""
        assert isinstance(expr, ast.Call) and expr.func.id == "f", "limit of something other than f(...)"
        model = self.model
        saved = model.final_norm, model.w.get("U"), self.values[var.id]
        a = sympy.Symbol(f"{var.id}_")
        model.final_norm, model.tidy, self.values[var.id] = False, sympy.cancel, a
        model.w.pop("U", None)
        try:
            stream = list(self.ev(expr))
        finally:
            model.final_norm, model.tidy, self.values[var.id] = saved[0], None, saved[2]
            if saved[1] is not None:
                model.w["U"] = saved[1]
        def lead(e):  # (degree, leading coefficient) of a rational function of a at +∞
            n, d = (sympy.Poly(p, a) for p in sympy.fraction(sympy.together(e)))
            return (n.degree() - d.degree(), n.LC() / d.LC()) if not n.is_zero else (None, 0)
        if saved[0]:
            leads = [lead(e) for e in stream]
            top = max(p for p, _ in leads if p is not None)
            return model.head(sympy.Matrix([c if p == top else 0 for p, c in leads]))
        out = []
        for e in (model.w["U"] * sympy.Matrix(stream) if "U" in model.w else stream):
            p, c = lead(e)
            out.append(0 if p is None or p < 0 else c if p == 0 else sympy.oo * sympy.sign(c))
        return sympy.Matrix(out)

    def fn_rms(self, z):
        z = vec(self.ev(z))
        return sympy.sqrt(sum(e * e for e in z) / z.rows)

    def fn_generic(self, inner):
        return self.ev(inner)

    def fn_empirical(self, text):
        raise Skip("empirical(...) claims are about data")


def _difference(x, y):
    """x − y exactly: a number (rational, or a sum of rational multiples of square roots, which
    sympy keeps in a canonical form: 0 only when it is 0) as it is, anything else simplified."""
    d = x - y
    if d.is_Rational:
        return d
    e = sympy.expand(d)
    if e.is_number and not e.free_symbols:
        return e
    return sympy.nsimplify(sympy.simplify(d))


def probs(v):
    """softmax values (or a number) as 60-digit numbers."""
    import mpmath

    with mpmath.workdps(60):
        if isinstance(v, tuple) and v[0] == "probs":
            return v[1]
        if isinstance(v, tuple):
            z = [mpmath.mpf(int(e.p)) / int(e.q) for e in (sympy.Rational(x) for x in v[1])]
            top = max(z)
            exps = [mpmath.exp(e - top) for e in z]
            total = mpmath.fsum(exps)
            return [e / total for e in exps]
        r = sympy.Rational(v)
        return mpmath.mpf(int(r.p)) / int(r.q)


def arith(op, a, b):
    import mpmath

    with mpmath.workdps(60):
        f = {"Add": lambda p, r: p + r, "Sub": lambda p, r: p - r, "Mult": lambda p, r: p * r, "Div": lambda p, r: p / r}[op]
        if isinstance(a, list) and isinstance(b, list):
            return [f(p, r) for p, r in zip(a, b)]
        return [f(p, b) for p in a] if isinstance(a, list) else [f(a, r) for r in b]


def entropy(logits):
    """H(softmax(z)) = Σ p_i (log Z − z_i) after shifting the top logit to 0: every term is ≥ 0
    and the top one uses log1p, so tiny entropies keep their relative precision."""
    import mpmath

    with mpmath.workdps(60):
        z = [mpmath.mpf(int(e.p)) / int(e.q) for e in (sympy.Rational(v) for v in logits)]
        top = max(z)
        z = [e - top for e in z]
        rest = mpmath.fsum(mpmath.exp(e) for e in z if e != 0) + (sum(1 for e in z if e == 0) - 1)
        log_total = mpmath.log1p(rest)
        total = 1 + rest
        return mpmath.fsum(mpmath.exp(e) / total * (log_total - e) for e in z)


def steered(inner):
    """(X, A, S, sign) of X + A*S, A*S + X or X - A*S."""
    kinds = {ast.Add: 1, ast.Sub: -1}
    sign = kinds[type(inner.op)]
    for x, steer in ((inner.left, inner.right), (inner.right, inner.left) if sign > 0 else (None, None)):
        if steer is None:
            continue
        s = sign
        if isinstance(steer, ast.UnaryOp) and isinstance(steer.op, ast.USub):
            steer, s = steer.operand, -s
        if isinstance(steer, ast.BinOp) and isinstance(steer.op, ast.Mult):
            for a, v in ((steer.left, steer.right), (steer.right, steer.left)):
                if isinstance(v, ast.Name) and v.id in VECTORS or isinstance(v, ast.List):
                    return x, a, v, s
                if isinstance(v, ast.BinOp) or isinstance(v, ast.Call):
                    return x, a, v, s
    raise Skip("a steered form this checker does not read")


def substitution(node):
    """name == expr with a free vector or scalar name (bound, as symsteer binds it)."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq) \
            and isinstance(node.left, ast.Name) and node.left.id in VECTORS + SCALARS + SEQUENCES:
        used = {n.id for n in ast.walk(node.comparators[0]) if isinstance(n, ast.Name)}
        if node.left.id not in used:
            return node.left.id, node.comparators[0]
    return None


def parse(text):
    return ast.parse(text.strip(), mode="eval").body


def env_at(case, point, assumptions):
    """The environment of a point, with the substitutions bound in the order they can be."""
    weights, values = {}, {}
    for name, value in point.items():
        if name in VECTORS:
            values[name] = sympy.Matrix([q(e) for e in value])
        elif name in SCALARS:
            values[name] = q(value)
        elif name in SEQUENCES:
            values[name] = sympy.Matrix([[q(e) for e in row] for row in value])
        elif name.endswith(".pattern"):  # a frozen pattern (heads, T, T)
            weights[name] = [sympy.Matrix([[q(e) for e in row] for row in head]) for head in value]
        else:
            arr = sympy.Matrix([[q(e) for e in row] for row in value]) if isinstance(value[0], list) \
                else sympy.Matrix([q(e) for e in value])
            weights[name] = arr
    model = SequenceModel(case, weights) if case.get("sequence") else Model(case, weights)
    env = Env(model, values, case.get("m"), case.get("q"))
    subs = [s for s in (substitution(parse(a)) for a in assumptions) if s is not None]
    subs = [s for s in subs if s[0] not in values]
    for _ in range(len(subs)):
        for name, expr in list(subs):
            used = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
            if used & {n for n, _ in subs}:
                continue
            value = env.ev(expr)
            if name in VECTORS and not isinstance(value, sympy.MatrixBase):
                value = value * sympy.ones(env.width, 1)
            if name in SEQUENCES and not isinstance(value, sympy.MatrixBase):
                value = value * sympy.ones(case["length"], case["d"])
            env.values[name] = value
            subs.remove((name, expr))
    return env


def holds_at(record, case, point):
    """(assumptions hold, statement) at a point."""
    env = env_at(case, point, record["assumptions"])
    if not all(env.ev(parse(a)) for a in record["assumptions"]):
        return False, None
    return True, bool(env.ev(parse(record["statement"])))


def random_point(record, case, rng):
    names = set()
    texts = [record["statement"]] + record["assumptions"]
    for t in texts:
        names |= {n.id for n in ast.walk(parse(t)) if isinstance(n, ast.Name)}
    bound = {s[0] for s in (substitution(parse(a)) for a in record["assumptions"]) if s is not None}
    d, h = case["d"], case["h"]
    small = lambda: str(rng.choice([-2, -1, 0, 1, 2, 3, Fraction(1, 2), Fraction(-1, 3)]))
    point = {}
    seq = case.get("sequence")
    for l, kind in enumerate(seq["blocks"] if seq else ()):
        keys = ("q1", "k1", "q2", "k2", "v", "o") if seq["pattern"] == "bilinear" else \
            ("pattern", "v", "o") if seq["pattern"] == "frozen" else ("q1", "k1", "v", "o")
        if kind == "mlp":
            point[f"mlp{l}.W"], point[f"mlp{l}.V"] = ([[small() for _ in range(d)] for _ in range(h)] for _ in range(2))
            point[f"mlp{l}.P"] = [[small() for _ in range(h)] for _ in range(d)]
            continue
        for key in keys:
            T = case["length"]
            point[f"att{l}.{key}"] = [[[small() for _ in range(T)] for _ in range(T)] for _ in range(seq["heads"])] \
                if key == "pattern" else [[small() for _ in range(d)] for _ in range(d)]
    for n in SEQUENCES:
        if n in names and n not in bound:
            point[n] = [[small() for _ in range(d)] for _ in range(case["length"])]
    for l in range(case["layers"] if not seq else 0):
        point[f"W{l}"] = [[small() for _ in range(d)] for _ in range(h)]
        point[f"V{l}"] = [[small() for _ in range(d)] for _ in range(h)]
        point[f"P{l}"] = [[small() for _ in range(h)] for _ in range(d)]
        if case["bias"]:
            point[f"b{l}"], point[f"c{l}"] = [small() for _ in range(h)], [small() for _ in range(h)]
    if case.get("unembed"):
        point["U"] = [[small() for _ in range(d)] for _ in range(case["unembed"])]
    if case.get("gain"):
        for l in range(case["layers"] if case.get("norm") else 0):
            point[f"gain{l}"] = [small() for _ in range(d)]
        if case.get("final_norm"):
            point["gainF"] = [small() for _ in range(d)]
    if case.get("embed"):
        point["E"] = [[small() for _ in range(case["embed"])] for _ in range(d)]
    for n in VECTORS:
        if n in names and n not in bound:
            point[n] = [small() for _ in range(d)]
    for n in SCALARS:
        if n in names and n not in bound:
            point[n] = small()
    return point


def replay(record, *, points=6):
    """'ok: …' or raises AssertionError (a failed replay) or Skip."""
    found = record["found"]
    ev = record["evidence"]
    if found == "fails" and "point" in ev:
        case = ev["case"]
        ok, value = holds_at(record, case, ev["point"])
        assert ok, "the assumptions do not hold at the counterexample"
        statement = parse(record["statement"])
        if isinstance(statement, ast.Call) and statement.func.id == "generic":
            return "ok: the generic claim's inner statement is false at the point"
        assert value is False, "the statement is true at the counterexample"
        return "ok: counterexample replayed"
    if found == "holds":
        rng = random.Random(record["id"])
        if "point" in ev:  # a witness of a generic claim
            ok, value = holds_at(record, ev["case"], ev["point"])
            assert ok and value, "the witness does not satisfy the statement"
        checked = 0
        if record["statement"].strip().startswith("generic("):
            # almost every point, not every one: the witness above is what replays
            return "ok: the witness replayed" if "point" in ev else "ok: nothing to replay (no witness)"
        model = record["model"]
        if model.get("kind") == "sequence":
            return replay_sequence(record, rng, points)
        cases = [{"layers": L, "d": d, "h": h, "residual": r, "bias": b, "unembed": model["unembed"], "m": m,
                  "embed": model.get("embed"), "norm": nm, "final_norm": model.get("final_norm"), "gain": model.get("gain")}
                 for L in model["layers"] for d, h in model["sizes"] for r in model["residual"] for b in model["bias"]
                 for nm in model.get("norm", [False])
                 for m in (range(L + 1) if "m" in {n.id for t in [record["statement"]] + record["assumptions"]
                                                      for n in ast.walk(parse(t)) if isinstance(n, ast.Name)} else [None])]
        for case in cases:
            if case["d"] * case["h"] * case["layers"] > 32:
                continue  # the exact sympy replay of big shapes is slow; the small ones carry the check
            for _ in range(points):
                point = random_point(record, case, rng)
                try:
                    ok, value = holds_at(record, case, point)
                except ZeroDivisionError:
                    continue
                if ok:
                    checked += 1
                    assert value, f"false at a random point: {json.dumps(point)} ({case})"
        return f"ok: true at {checked} random exact point(s)"
    raise Skip(f"verdict {found}")


def replay_sequence(record, rng, points):
    """A 'holds' about sequence models: random exact points of each family, length and size (the
    rotary tables computed here as the float32 numbers numpy gives; only small shapes)."""
    import numpy as np

    model, checked = record["model"], 0
    texts = [record["statement"]] + record["assumptions"]
    uses_q = any(isinstance(n, ast.Name) and n.id == "q" for t in texts for n in ast.walk(parse(t)))
    for family in model["families"]:
        for T in model["lengths"]:
            for d, h in model["sizes"]:
                if T * d > 6 or len(family["blocks"]) > 2 or family["rope"] and (d // family["heads"]) % 2:
                    continue  # the exact sympy replay of big shapes is slow; the small ones carry the check
                case = {"sequence": family, "length": T, "d": d, "h": h, "layers": 0, "bias": False,
                        "unembed": model.get("unembed")}
                if family["rope"] and family["pattern"] != "frozen":
                    dh = d // family["heads"]
                    freq = np.float32(1.0) / (np.float64(10000.0) ** (np.arange(0, dh, 2, dtype=np.float32) / np.float32(dh))
                                              .astype(np.float64)).astype(np.float32)
                    ang = (np.arange(T, dtype=np.float32)[:, None] * freq[None, :]).astype(np.float64)
                    cos, sin = (np.concatenate([f(ang).astype(np.float32)] * 2, -1).astype(np.float64) for f in (np.cos, np.sin))
                    case["rope"] = {"cos": [[str(Fraction(float(v))) for v in r] for r in cos],
                                    "sin": [[str(Fraction(float(v))) for v in r] for r in sin]}
                for qv in (range(T) if uses_q else [None]):
                    case["q"] = qv
                    for _ in range(max(1, points // 3)):
                        point = random_point(record, case, rng)
                        ok, value = holds_at(record, case, point)
                        if ok:
                            checked += 1
                            assert value, f"false at a random point: {json.dumps(point)} ({family}, T = {T}, d = {d})"
    return f"ok: true at {checked} random exact point(s)"


def main(argv):
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    files = sorted(Path(argv[0]).glob("*.json"))
    bad = 0
    for path in files:
        record = json.loads(path.read_text(encoding="utf-8"))
        try:
            result = replay(record)
        except Skip as exc:
            result = f"skipped: {exc}"
        except AssertionError as exc:
            result, bad = f"FAILED: {exc}", bad + 1
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:  # values this checker does not model
            result = f"skipped: {type(exc).__name__}: {exc}"
        print(f"{record['id']}: {result}")
    print(f"{len(files)} file(s), {bad} failed")
    return 1 if bad or not files else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
