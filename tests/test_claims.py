"""The claims of the seed: every file in proofs/ gets the verdict of docs/mathematics.md; counterexamples
are re-checked here with plain Fractions; bad claim files exit 3 naming file and line."""

from __future__ import annotations

import json
import math
import shutil
from fractions import Fraction
from pathlib import Path

import pytest
import sympy

from symsteer import cli
from symsteer.claims import (
    PROOFS,
    Claim,
    Verdict,
    load_claim,
    load_claims,
    verify,
    verify_all,
)
from symsteer.errors import ClaimFileError

#: every built-in claim and the verdict the mathematics gives (docs/mathematics.md's table, one file per condition)
EXPECTED = {
    "c06-scale-invariance-pre-rmsnorm": "holds",
    "c07-argmax-final-rmsnorm": "holds",
    "c07-argmax-layernorm-beta": "fails",
    "c01-homogeneity-bias-free": "holds",
    "c01-homogeneity-biases": "fails",
    "c02-linearity-additive": "fails",
    "c02-linearity-degree-one": "fails",
    "c03-added-steering-vector-separates": "fails",
    "c03-any-input-same-direction": "holds",
    "c04-hidden-proportions-bias-free": "holds",
    "c04-hidden-proportions-biases": "fails",
    "c05-entry-share-plain": "holds",
    "c05-share-biases": "fails",
    "c05-share-is-percentage": "fails",
    "c05-share-residual": "fails",
    "c05-unit-share-plain": "holds",
    "c05-weight-share-plain": "holds",
    "c06-every-layer-homogeneity-plain": "holds",
    "c06-network-homogeneity-biases": "fails",
    "c06-network-homogeneity-plain": "holds",
    "c06-network-homogeneity-residual": "fails",
    "c06-large-alpha-limit-negative": "holds",
    "c06-large-alpha-limit-no-final-norm": "fails",
    "c06-large-alpha-limit-no-pre-norms": "fails",
    "c06-large-alpha-limit-pre-norm": "holds",
    "c06-large-alpha-logits-grow-without-norms": "holds",
    "c06-relative-magnitudes-biases": "fails",
    "c06-relative-magnitudes-plain": "holds",
    "c06-relative-magnitudes-residual": "fails",
    "c07-argmax-kept-plain": "holds",
    "c07-argmax-residual": "fails",
    "c07-flatter-when-scaled-down": "holds",
    "c07-minor-effect": "fails",
    "c07-ranking-biases": "fails",
    "c07-ranking-depth-zero-negative": "fails",
    "c07-ranking-kept-plain": "holds",
    "c07-sharper-when-scaled-up": "holds",
    "c07-softmax-temperature-plain": "holds",
    "c08-steering-is-scaling": "fails",
    "c08-steering-one-output": "holds",
    "c08-steering-parallel-to-x": "holds",
    "c08-steering-parallel-to-x-biases": "fails",
    "c08-steering-parallel-to-x-residual": "fails",
    "c09-alpha-and-2alpha-one-output": "holds",
    "c09-alpha-and-2alpha-parallel": "fails",
    "c09-alpha-and-2alpha-parallel-to-x": "holds",
    "c09-alpha-and-2alpha-parallel-to-x-residual": "fails",
    "c10-direction-changes": "holds",
    "c10-direction-changes-alpha-zero": "fails",
    "c10-direction-changes-dependent": "fails",
    "c11-hadamard-is-scaling": "holds",
    "c11-hadamard-is-scaling-any-a": "fails",
    "c12-partial-hadamard-not-scaling": "holds",
    "c13-partial-scaling-always-breaks": "fails",
    "c13-partial-scaling-breaks-invariance": "holds",
    "c13-partial-scaling-seed-example": "holds",
    "c14-partial-scaling-is-steering": "holds",
    "c14-seed-example-zero-off-support": "fails",
    "c15-degree-bound": "holds",
    "c15-degree-exact": "fails",
    "c15-trace-from-weights": "holds",
    "c16-self-interaction-from-weights": "holds",
    "c16-self-interaction-input-free": "holds",
    "c17-direction-amount-input-free": "fails",
    "c17-direction-interaction-map": "holds",
    "c18-input-interaction-any-s": "fails",
    "c18-input-interaction-needs-input": "holds",
    "c19-bilinear-split-from-weights": "holds",
    "c19-relu-flip-points-depend-on-input": "holds",
    "c19-stack-split-from-weights": "holds",
    "c20-relu-layer-not-polynomial": "holds",
    "c20-relu-not-polynomial": "holds",
    "c21-bilinear-smooth": "holds",
    "c21-relu-discrete": "fails",
    "c22-steering-makes-happier": "out_of_scope",
    # sequence models (tensor transformers)
    "t01-causal-steer-last": "holds",
    "t01-causal-steer-last-mlp": "holds",
    "t01-causal-steer-last-rope": "holds",
    "t02-self-term-context-free": "holds",
    "t02-self-term-same-at-every-position": "fails",
    "t03-bilinear-pattern-not-linear": "fails",
    "t03-frozen-pattern-linear": "holds",
    "t04-degree-attention": "holds",
    "t04-degree-attention-mlp": "holds",
    "t04-degree-attention-mlp-bound": "holds",
    "t04-degree-exact": "holds",
    "t05-steer-all-first-order": "holds",
    "t05-steer-all-frozen": "holds",
    "t05-steer-all-is-sum-of-each": "fails",
}

#: claims whose proof works for every width (formal expansion), not only at the listed sizes
FOR_ALL_WIDTHS = {
    "c01-homogeneity-bias-free", "c03-any-input-same-direction", "c04-hidden-proportions-bias-free",
    "c06-network-homogeneity-plain", "c06-every-layer-homogeneity-plain", "c06-relative-magnitudes-plain",
    "c07-softmax-temperature-plain", "c07-ranking-kept-plain", "c07-argmax-kept-plain", "c07-sharper-when-scaled-up",
    "c07-flatter-when-scaled-down", "c08-steering-parallel-to-x", "c09-alpha-and-2alpha-parallel-to-x",
    "c15-degree-bound", "c15-trace-from-weights", "c16-self-interaction-from-weights", "c16-self-interaction-input-free", "c21-bilinear-smooth",
    "c19-stack-split-from-weights", "c07-argmax-final-rmsnorm",
}


@pytest.fixture(scope="module")
def verdicts() -> dict[str, Verdict]:
    return {v.claim.id: v for v in verify_all(load_claims())}


# -- the built-in claims ---------------------------------------------------------------------


def test_the_set_of_claims_and_their_expected_verdicts_is_pinned():
    claims = load_claims()
    assert {c.id: c.expected for c in claims} == EXPECTED
    rows = {c.row for c in claims if c.row is not None}
    assert rows == set(range(1, 23)), "every row of docs/mathematics.md's table has at least one claim file"


@pytest.mark.parametrize("claim_id", sorted(EXPECTED))
def test_every_claim_gets_its_verdict(verdicts, claim_id):
    v = verdicts[claim_id]
    assert v.found == EXPECTED[claim_id], v.detail
    assert v.ok
    assert v.method == {"holds": "proof", "fails": "counterexample", "out_of_scope": "none"}[v.found]
    json.dumps(v.to_dict())  # evidence is JSON-able


def test_proofs_for_every_width_say_so(verdicts):
    for claim_id, v in verdicts.items():
        if claim_id in FOR_ALL_WIDTHS:
            assert v.scope.startswith("proved for all d, h"), (claim_id, v.scope)
        elif v.found == "holds" and "almost every" not in v.scope:
            assert v.scope.startswith("proved at"), (claim_id, v.scope)


def test_out_of_scope_is_reported_and_explained_not_failed(verdicts):
    v = verdicts["c22-steering-makes-happier"]
    assert v.found == "out_of_scope" and v.ok and "behaviour on data" in v.detail


MATHEMATICS = Path(__file__).resolve().parents[1] / "docs" / "mathematics.md"


def _plain(text: str) -> str:
    return " ".join(text.replace("’", "'").replace("²", "2").split())


def test_every_quote_is_in_the_mathematical_reference():
    """docs/mathematics.md quotes the seed by row; every claim file's quote is among them."""
    quotes = _plain(MATHEMATICS.read_text(encoding="utf-8"))
    for c in load_claims():
        assert c.title and c.statement
        assert _plain(c.quote) in quotes, c.id


def test_nothing_points_outside_the_repository():
    root = Path(__file__).resolve().parents[1]
    files = [*root.glob("*.md"), *root.glob("docs/*.md"), *root.glob("proofs/*.toml"), *root.glob("symsteer/*.py"),
             *root.glob("tests/*.py"), *root.glob("examples/*.md")]
    for f in files:
        text = f.read_text(encoding="utf-8")
        for banned in ("MATH" + ".md", "seed" + " discussion", "/work/" + "shared"):
            assert banned not in text, f"{f.relative_to(root)} cites {banned!r}, which is not in the repository"
    assert "Tensor-Transformer Variants are Surprisingly Performant" in MATHEMATICS.read_text(encoding="utf-8")


# -- counterexamples, re-checked with plain Fractions -----------------------------------------


class Point:
    """The model and inputs of a counterexample, from its evidence alone (no symsteer code)."""

    def __init__(self, evidence: dict) -> None:
        case = evidence["case"]
        self.L, self.residual, self.m, self.case = case["layers"], case["residual"], case["m"], case
        conv = lambda t: [conv(e) for e in t] if isinstance(t, list) else Fraction(t)
        self.v = {k: conv(t) for k, t in {**evidence["point"], **evidence["substituted"]}.items()}
        self.layers = [(self.v[f"W{l}"], self.v[f"V{l}"], self.v[f"P{l}"], self.v.get(f"b{l}"), self.v.get(f"c{l}"))
                       for l in range(self.L) if f"W{l}" in self.v]

    def __getitem__(self, name: str):
        return self.v[name]

    def hidden(self, l, x, bias=True):
        W, V, _, b, c = self.layers[l]
        wx = [sum(w * xi for w, xi in zip(row, x)) + (b[j] if b and bias else 0) for j, row in enumerate(W)]
        vx = [sum(w * xi for w, xi in zip(row, x)) + (c[j] if c and bias else 0) for j, row in enumerate(V)]
        return wx, vx

    def B(self, l, x):
        wx, vx = self.hidden(l, x)
        P = self.layers[l][2]
        return [sum(p * a * b for p, a, b in zip(row, wx, vx)) for row in P]

    def form(self, l, u, v):
        W, V, P, _, _ = self.layers[l]
        wu = [sum(w * e for w, e in zip(row, u)) for row in W]
        vv = [sum(w * e for w, e in zip(row, v)) for row in V]
        return [sum(p * a * b for p, a, b in zip(row, wu, vv)) for row in P]

    def g(self, x):
        wx, vx = self.hidden(0, x)
        return [a * b for a, b in zip(wx, vx)]

    def stream(self, x, m):
        for l in range(m):
            if self.case.get("norm"):  # B(n(x)) = B(g ⊙ x) / (‖x‖²/d), ε = 0
                g = self.v.get(f"gain{l}", [1] * len(x))
                r2 = sum(e * e for e in x) / len(x)
                y = [e / r2 for e in self.B(l, [a * b for a, b in zip(g, x)])]
            else:
                y = self.B(l, x)
            x = add(x, y) if self.residual else y
        return x

    def f(self, x):
        y = self.stream(x, self.L)
        return [sum(u * e for u, e in zip(row, y)) for row in self["U"]] if "U" in self.v else y

    # -- sequence models: the independent forward of tests/tensor_reference.py -----------------
    def F(self, X):
        from tensor_reference import forward_exact

        seq = self.case["sequence"]
        res = {"add": ("add", 1), "lerp": ("lerp", Fraction(seq["lerp"])), "none": ("lerp", 1)}[seq["residual"]]
        layers = []
        for l, kind in enumerate(seq["blocks"]):
            assert kind == "attention" and seq["pattern"] != "frozen" and not seq["rope"]  # what the rechecks need
            w = {k: self.v[f"att{l}.{k}"] for k in ("q1", "k1", "q2", "k2", "v", "o") if f"att{l}.{k}" in self.v}
            if seq["pattern"] == "squared":
                w |= {"q2": w["q1"], "k2": w["k1"]}
            layers.append({"kind": "attn", **w, "heads": seq["heads"], "rope": None, "pattern": "bilinear",
                           "residual": res[0], "scale": res[1]})
        return forward_exact({"layers": layers}, X)[-1]

    def at(self, s, positions):
        T = self.case["length"]
        chosen = range(T) if positions == "all" else [T - 1] if positions == "last" else positions
        return [list(s) if t in chosen else [Fraction(0)] * len(s) for t in range(T)]

    def unembed(self, y):
        return [sum(u * e for u, e in zip(row, y)) for row in self["U"]]

    def top_direction(self):
        """(U (g ⊙ c), ‖c‖²/d) for c the top α-coefficient of the stream x_L(x + α s)."""
        y = [sympy.Poly(sympy.expand(e), ALPHA) for e in self.stream(add(self["x"], scale(ALPHA, self["s"])), self.L)]
        top = max(e.degree() for e in y)
        c = [Fraction(str(e.coeff_monomial(ALPHA ** top))) for e in y]
        return self.unembed([g * e for g, e in zip(self["gainF"], c)]), sum(e * e for e in c) / len(c)

    def unit_shares(self, x):
        xs, y = self.stream(x, self.L - 1), self.f(x)
        wx, vx = self.hidden(self.L - 1, xs)
        P = self.layers[self.L - 1][2]
        return [P[k][j] * wx[j] * vx[j] / y[k] for k in range(len(y)) for j in range(len(wx))]


def add(u, v):
    return [a + b for a, b in zip(u, v)]


def scale(a, u):
    return [a * e for e in u]


def parallel(u, v):
    return all(u[i] * v[j] == u[j] * v[i] for i in range(len(u)) for j in range(len(u)))


def argmax(u):
    return {i for i, e in enumerate(u) if e == max(u)}


def softmax(u):
    top = max(u)
    e = [math.exp(float(v - top)) for v in u]
    return [v / sum(e) for v in e]


def ranking(u):
    return [(u[i] > u[j]) - (u[i] < u[j]) for i in range(len(u)) for j in range(len(u))]


def depends(fn, width):
    base = fn([Fraction(0)] * width)
    units = [[Fraction(int(i == j)) for j in range(width)] for i in range(width)]
    return any(fn(e) != base or fn(scale(2, e)) != base for e in units)


def top_difference(fn, n):
    """n-th finite difference of fn at 0, 1, …, n: n! times the α^n coefficient of a polynomial of degree ≤ n."""
    return [sum((-1) ** (n - k) * math.comb(n, k) * fn(Fraction(k))[i] for k in range(n + 1)) for i in range(len(fn(Fraction(0))))]


def relu(u):
    return [max(e, 0) for e in u]


ALPHA = sympy.Symbol("alpha")


def same_direction(left, right, s):
    """left / rms(top) == right / rms(s) exactly (left already carries rms(top) as its second part)."""
    (u, r2u), r2s = left, sum(e * e for e in s) / len(s)
    return all(a * a * r2s == b * b * r2u and (a > 0) - (a < 0) == (b > 0) - (b < 0) for a, b in zip(u, right))


def seq_add(X, Y):
    return [[a + b for a, b in zip(r, t)] for r, t in zip(X, Y)]


def seq_sub(X, Y):
    return [[a - b for a, b in zip(r, t)] for r, t in zip(X, Y)]


def seq_scale(a, X):
    return [[a * e for e in r] for r in X]


def zeros(p):
    return [[Fraction(0)] * len(p["s"]) for _ in range(p.case["length"])]


#: claim id -> the statement evaluated at the counterexample's point (must be False)
STATEMENTS = {
    "c01-homogeneity-biases": lambda p: p.B(0, scale(p["a"], p["x"])) == scale(p["a"] ** 2, p.B(0, p["x"])),
    "c02-linearity-additive": lambda p: p.B(0, add(p["x"], p["z"])) == add(p.B(0, p["x"]), p.B(0, p["z"])),
    "c02-linearity-degree-one": lambda p: p.B(0, scale(p["a"], p["x"])) == scale(p["a"], p.B(0, p["x"])),
    "c03-added-steering-vector-separates": lambda p: p.B(0, add(p["x"], p["s"])) == add(p.B(0, p["x"]), p.B(0, p["s"])),
    "c04-hidden-proportions-biases": lambda p: p.g(scale(p["a"], p["x"])) == scale(p["a"] ** 2, p.g(p["x"])),
    "c05-share-biases": lambda p: p.unit_shares(scale(p["a"], p["x"])) == p.unit_shares(p["x"]),
    "c05-share-residual": lambda p: p.unit_shares(scale(p["a"], p["x"])) == p.unit_shares(p["x"]),
    "c05-share-is-percentage": lambda p: all(0 <= e <= 1 for e in p.unit_shares(p["x"])),
    "c06-network-homogeneity-biases": lambda p: p.f(scale(p["a"], p["x"])) == scale(p["a"] ** (2**p.L), p.f(p["x"])),
    "c06-network-homogeneity-residual": lambda p: p.f(scale(p["a"], p["x"])) == scale(p["a"] ** (2**p.L), p.f(p["x"])),
    "c06-relative-magnitudes-biases": lambda p: parallel(p.stream(scale(p["t"], p["x"]), p.m), p.stream(p["x"], p.m)),
    "c06-relative-magnitudes-residual": lambda p: parallel(p.stream(scale(p["t"], p["x"]), p.m), p.stream(p["x"], p.m)),
    "c07-argmax-residual": lambda p: argmax(p.f(scale(p["a"], p["x"]))) == argmax(p.f(p["x"])),
    "c07-argmax-layernorm-beta": lambda p: argmax(add(scale(p["t"], p.f(p["x"])), p["u"])) == argmax(p.f(p["x"])),
    "c07-minor-effect": lambda p: all(q >= r / 2 for q, r in zip(softmax(p.f(scale(p["a"], p["x"]))), softmax(p.f(p["x"])))),
    "c07-ranking-depth-zero-negative": lambda p: ranking(scale(p["a"], p["x"])) == ranking(p["x"]),
    "c07-ranking-biases": lambda p: ranking(p.f(scale(p["a"], p["x"]))) == ranking(p.f(p["x"])),
    "c08-steering-is-scaling": lambda p: parallel(p.f(add(p["x"], scale(p["alpha"], p["s"]))), p.f(p["x"])),
    "c08-steering-parallel-to-x-biases": lambda p: parallel(p.f(add(p["x"], scale(p["alpha"], p["s"]))), p.f(p["x"])),
    "c08-steering-parallel-to-x-residual": lambda p: parallel(p.f(add(p["x"], scale(p["alpha"], p["s"]))), p.f(p["x"])),
    "c09-alpha-and-2alpha-parallel": lambda p: parallel(p.f(add(p["x"], scale(p["alpha"], p["s"]))),
                                                        p.f(add(p["x"], scale(2 * p["alpha"], p["s"])))),
    "c09-alpha-and-2alpha-parallel-to-x-residual": lambda p: parallel(p.f(add(p["x"], scale(p["alpha"], p["s"]))),
                                                                      p.f(add(p["x"], scale(2 * p["alpha"], p["s"])))),
    "c10-direction-changes-alpha-zero": lambda p: not parallel(add(p["x"], scale(p["alpha"], p["s"])),
                                                               add(p["x"], scale(2 * p["alpha"], p["s"]))),
    "c10-direction-changes-dependent": lambda p: not parallel(add(p["x"], scale(p["alpha"], p["s"])),
                                                              add(p["x"], scale(2 * p["alpha"], p["s"]))),
    "c11-hadamard-is-scaling-any-a": lambda p: [a * b for a, b in zip(p["u"], p["v"])] == scale(p["a"], p["v"]),
    "c13-partial-scaling-always-breaks": lambda p: not parallel(p.f([a * b for a, b in zip(p["u"], p["x"])]), p.f(p["x"])),
    "c14-seed-example-zero-off-support": lambda p: all(
        (1 - z) * (u * v - v) == 0 for z, u, v in zip(p["z"], p["u"], p["v"])),
    "c15-degree-exact": lambda p: any(top_difference(lambda al: p.f(add(p["x"], scale(al, p["s"]))), 2**p.L)),
    "c17-direction-amount-input-free": lambda p: not depends(
        lambda x: add(p.form(1, p.B(0, x), p["s"]), p.form(1, p["s"], p.B(0, x))), len(p["s"])),
    "c18-input-interaction-any-s": lambda p: depends(lambda x: add(p.form(0, x, p["s"]), p.form(0, p["s"], x)), len(p["s"])),
    # the logits grow without bound: some entry of f(x + α s) has positive degree in α
    "c06-large-alpha-limit-no-final-norm": lambda p: all(
        sympy.degree(n, ALPHA) <= sympy.degree(d, ALPHA)
        for n, d in (sympy.fraction(sympy.together(e)) for e in p.f(add(p["x"], scale(ALPHA, p["s"]))))),
    # the stream's top coefficient c: the final norm sends U (g ⊙ y) / rms(y) to U (g ⊙ c) / rms(c)
    "c06-large-alpha-limit-no-pre-norms": lambda p: same_direction(
        p.top_direction(), [e for e in p.unembed([g * e for g, e in zip(p["gainF"], p["s"])])], p["s"]),
    "t02-self-term-same-at-every-position": lambda p: seq_sub(p.F(p.at(scale(p["alpha"], p["s"]), "all")), p.F(zeros(p)))[1]
    == seq_sub(p.F(p.at(scale(p["alpha"], p["s"]), "all")), p.F(zeros(p)))[0],
    "t03-bilinear-pattern-not-linear": lambda p: p.F(seq_add(seq_scale(p["a"], p["X"]), p["Y"]))
    == seq_add(seq_scale(p["a"], p.F(p["X"])), p.F(p["Y"])),
    "t05-steer-all-is-sum-of-each": lambda p: seq_sub(p.F(seq_add(p["X"], p.at(scale(p["alpha"], p["s"]), "all"))), p.F(p["X"]))
    == [[sum(col) for col in zip(*rows)] for rows in zip(*[
        seq_sub(p.F(seq_add(p["X"], p.at(scale(p["alpha"], p["s"]), [q]))), p.F(p["X"])) for q in range(p.case["length"])])],
    # continuity at the counterexample's weights: |relu(p(α + h)) − relu(p(α))| ≤ |W s| h on a grid
    "c21-relu-discrete": lambda p: not all(
        abs(a - b) <= abs(ws) * Fraction(1, 8) + 0
        for al in [Fraction(k, 8) for k in range(-16, 17)]
        for a, b, ws in zip(relu(add(p.hidden(0, add(p["x"], scale(al, p["s"])))[0], [0])),
                            relu(add(p.hidden(0, add(p["x"], scale(al + Fraction(1, 8), p["s"])))[0], [0])),
                            p.hidden(0, p["s"], bias=False)[0])),
}

#: claim id -> the inner condition at the witness of a 'generic' proof (must be True)
WITNESSES = {
    "c13-partial-scaling-breaks-invariance": lambda p: not parallel(p.f([a * b for a, b in zip(p["u"], p["x"])]), p.f(p["x"])),
    "c13-partial-scaling-seed-example": lambda p: not parallel(p.f([a * b for a, b in zip(p["u"], p["x"])]), p.f(p["x"])),
    "c19-relu-flip-points-depend-on-input": lambda p: all(e != 0 for e in p.hidden(0, p["s"], bias=False)[0]) and depends(
        lambda x: [-w / ws for w, ws in zip(p.hidden(0, x)[0], p.hidden(0, p["s"], bias=False)[0])], len(p["x"])),
    "c20-relu-layer-not-polynomial": lambda p: any(e != 0 for e in p.hidden(0, p["s"], bias=False)[0]),
}


def test_every_failing_claim_has_a_recheck():
    assert set(STATEMENTS) == {k for k, v in EXPECTED.items() if v == "fails"}


@pytest.mark.parametrize("claim_id", sorted(STATEMENTS))
def test_counterexamples_recheck_independently(verdicts, claim_id):
    v = verdicts[claim_id]
    point = Point(v.evidence)
    assert STATEMENTS[claim_id](point) is False, v.detail
    if claim_id == "c01-homogeneity-biases":
        assert (point.L, len(point["x"])) == (1, 1), "the smallest shape comes first"


@pytest.mark.parametrize("claim_id", sorted(WITNESSES))
def test_generic_witnesses_recheck_independently(verdicts, claim_id):
    v = verdicts[claim_id]
    assert "almost every" in v.scope
    assert WITNESSES[claim_id](Point(v.evidence)) is True, v.detail


def test_counterexamples_are_small(verdicts):
    for claim_id in STATEMENTS:
        point = verdicts[claim_id].evidence["point"]
        entries = [Fraction(e) for value in point.values() for e in (_flatten(value))]
        assert max((abs(e) for e in entries), default=0) <= 3, (claim_id, point)


def _flatten(value):
    return [e for item in value for e in _flatten(item)] if isinstance(value, list) else [value]


# -- the CLI ---------------------------------------------------------------------------------


def _copy(tmp_path: Path, claim_id: str, **changes: str) -> Path:
    text = (PROOFS / f"{claim_id}.toml").read_text()
    for old, new in changes.items():
        assert old.replace("_", " ") in text or old in text
        text = text.replace(old, new)
    path = tmp_path / f"{claim_id}.toml"
    path.write_text(text)
    return path


def test_verify_exits_0_when_every_verdict_is_expected(capsys):
    assert cli.run(["verify", "--only", "c01-homogeneity-bias-free", "--only", "c01-homogeneity-biases"]) == 0
    out = capsys.readouterr().out
    assert "c01-homogeneity-biases" in out and out.strip().splitlines()[-1].startswith("2 passed, 0 failed")


@pytest.mark.parametrize("claim_id, wrong", [("c01-homogeneity-bias-free", "fails"), ("c01-homogeneity-biases", "holds"),
                                             ("c22-steering-makes-happier", "holds")])
def test_a_wrong_expected_verdict_exits_1(tmp_path, capsys, claim_id, wrong):
    right = EXPECTED[claim_id]
    path = _copy(tmp_path, claim_id, **{f'expected = "{right}"': f'expected = "{wrong}"'})
    assert cli.run(["verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert "differs" in out and "0 passed, 1 failed" in out


def test_a_users_own_claim_file(tmp_path, capsys):
    path = tmp_path / "my-claim.toml"
    path.write_text('id = "my-claim"\ntitle = "steering is additive through a layer"\nquote = "mine"\n'
                    'statement = "f(x + alpha*s) == f(x) + alpha*f(s)"\nexpected = "fails"\n\n'
                    '[model]\nlayers = [1]\nsizes = [[1, 1]]\n')
    assert cli.run(["verify", str(tmp_path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (row,) = data["verdicts"]
    assert row["found"] == "fails" and row["method"] == "counterexample" and row["evidence"]["point"]


def test_tiny_timeout_reports_undecided_and_exits_1(tmp_path, capsys):
    path = tmp_path / "slow-claim.toml"
    path.write_text('id = "slow-claim"\ntitle = "slow"\nquote = "q"\n'
                    "statement = \"share(a*x, 'weight') == share(x, 'weight')\"\nassumptions = [\"a != 0\"]\n"
                    'expected = "holds"\n\n[model]\nlayers = [2, 3]\nsizes = [[3, 3]]\n')
    assert cli.run(["verify", str(path), "--timeout", "0.05"]) == 1
    out = capsys.readouterr().out
    assert "undecided" in out and "time limit" in out


def test_timeout_in_the_claim_file(tmp_path):
    path = tmp_path / "slow-claim.toml"
    path.write_text('id = "slow-claim"\ntitle = "slow"\nquote = "q"\ntimeout = 0.05\n'
                    "statement = \"share(a*x, 'weight') == share(x, 'weight')\"\nassumptions = [\"a != 0\"]\n"
                    'expected = "holds"\n\n[model]\nlayers = [2, 3]\nsizes = [[3, 3]]\n')
    claim = load_claim(path)
    assert claim.timeout == 0.05
    v = verify(claim)
    assert (v.found, v.ok) == ("undecided", False)


def test_unknown_only_id_is_a_usage_error_with_closest_matches(capsys):
    assert cli.run(["verify", "--only", "c01-homogenity"]) == 2
    err = capsys.readouterr().err
    assert "c01-homogeneity-biases" in err and "closest" in err


def test_claims_lists_ids_and_statements(capsys):
    assert cli.run(["claims"]) == 0
    out = capsys.readouterr().out
    assert "c06-network-homogeneity-plain" in out and "f(a*x) == a**(2**L) * f(x)" in out
    assert out.strip().endswith(f"{len(EXPECTED)} claim(s)")


def test_verbose_shows_counterexample_and_json_and_output_file(tmp_path, capsys):
    assert cli.run(["verify", "--only", "c02-linearity-additive", "-v"]) == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())  # -v wraps long lines
    assert "B(x + z) = [4]" in flat and "B(x) + B(z) = [2]" in flat
    target = tmp_path / "out.json"
    assert cli.run(["verify", "--only", "c02-linearity-additive", "--format", "json", "-o", str(target)]) == 0
    data = json.loads(target.read_text())
    assert data["passed"] == 1 and data["verdicts"][0]["evidence"]["values"][0]["value"] == ["4"]


BAD_FILES = [
    # (file text, fragment of the message)
    ('id = "bad"\ntitle = "t"\nquote = "q"\nstatement = "B(x) == x\nexpected = "holds"\n', "line 4"),
    ('id = "bad"\ntitle = "t"\nquote = "q"\nstatement = "B(a*x) == a**2 * B(x)"\n\n[model]\nlayers = [1]\nsizes = [[1, 1]]\n',
     "missing field 'expected'"),
    ('id = "bad"\ntitle = "t"\nquote = "q"\nstatment = "B(a*x) == a**2 * B(x)"\nexpected = "holds"\n\n[model]\nlayers = [1]\nsizes = [[1, 1]]\n',
     "line 4: unknown field 'statment' (did you mean 'statement'?)"),
    ('id = "bad"\ntitle = "t"\nquote = "q"\nstatement = "B(a*x) == a**2 * B(x)"\nexpected = "true"\n\n[model]\nlayers = [1]\nsizes = [[1, 1]]\n',
     "line 5: expected = 'true'; expected one of holds, fails, out_of_scope"),
    ('id = "bad"\ntitle = "t"\nquote = "q"\nstatement = "B(a*x) == a**2 * B(x)"\nexpected = "holds"\n\n[model]\nlayers = [1]\nsizes = [[1, 1]]\nwidth = 3\n',
     "line 10: unknown field 'width' in [model]"),
    ('id = "bad"\ntitle = "t"\nquote = "q"\nstatement = "B(a*x) == a**2 * B(x)"\nexpected = "holds"\n\n[model]\nkind = "netw\u043erk"\nlayers = [1]\nsizes = [[1, 1]]\n',
     "line 8: kind = 'netw\\u043erk'; expected 'sequence' (or leave it out for a network)"),
    ('id = "bad"\ntitle = "t"\nquote = "q"\nstatement = "B(a*x) == a**2 * B(x)"\nexpected = "holds"\n\n[model]\nkind = "network"\nlayers = [1]\nsizes = [[1, 1]]\n"w\u0456dth" = 3\n',
     "unknown field 'w\\u0456dth' in [model]"),
    ('id = "bad"\ntitle = "t"\nquote = "q"\nstatement = "B(a*x) == a**2 * B(x)"\nexpected = "holds"\n\n[model]\nlayers = [' + "1, " * 400 + '9]\nsizes = [[1, 1]]\n',
     "line 8: layers = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1…; expected"),
    ('id = "bad"\ntitle = "t"\nquote = "q"\nstatement = "B(a*x) == a**2 * B(x)"\nexpected = "holds"\n\n[model]\nlayers = [1]\nsizes = [[0, 1]]\n',
     "line 9: sizes = [[0, 1]]"),
    ('id = "other"\ntitle = "t"\nquote = "q"\nstatement = "B(a*x) == a**2 * B(x)"\nexpected = "holds"\n\n[model]\nlayers = [1]\nsizes = [[1, 1]]\n',
     "line 1: id = 'other' but the file is named bad.toml"),
    ('id = "bad"\ntitle = "t"\nquote = "q"\nstatement = "B(a*x) == a**2 * alpa"\nexpected = "holds"\n\n[model]\nlayers = [1]\nsizes = [[1, 1]]\n',
     "line 4: statement: unknown name 'alpa' (closest: alpha)"),
    ('id = "bad"\ntitle = "t"\nquote = "q"\nstatement = "B(a*x) == a**2 * B(x)"\nexpected = "holds"\ntimeout = -1\n\n[model]\nlayers = [1]\nsizes = [[1, 1]]\n',
     "line 6: timeout = -1"),
    # text that a terminal or LaTeX would act on instead of printing
    ('id = "bad"\ntitle = "red \\u001b[31m"\nquote = "q"\nstatement = "B(a*x) == a**2 * B(x)"\nexpected = "holds"\n\n[model]\nlayers = [1]\nsizes = [[1, 1]]\n',
     "line 2: title contains the control or format character \\x1b at position 5; expected printable text"),
    ('id = "bad"\ntitle = "t"\nquote = "q \\u202e"\nstatement = "B(a*x) == a**2 * B(x)"\nexpected = "holds"\nnote = "a\\nb \\u0007"\n\n[model]\nlayers = [1]\nsizes = [[1, 1]]\n',
     "quote contains the control or format character \\u202e at position 3"),
]


@pytest.mark.parametrize("text, fragment", BAD_FILES)
def test_bad_claim_files_exit_3_naming_file_line_and_expectation(tmp_path, capsys, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert cli.run(["verify", str(path)]) == 3
    err = capsys.readouterr().err
    assert "bad.toml" in err and fragment in err
    with pytest.raises(ClaimFileError):
        load_claim(path)


def test_missing_path_exits_3(tmp_path, capsys):
    assert cli.run(["verify", str(tmp_path / "nowhere.toml")]) == 3
    assert "no such file" in capsys.readouterr().err


def test_claim_and_verdict_interface():
    claim = next(c for c in load_claims() if c.id == "c06-network-homogeneity-plain")
    assert isinstance(claim, Claim) and claim.path.name == "c06-network-homogeneity-plain.toml"
    assert claim.assumptions == () and claim.reading is None and claim.layers == (1, 2, 3)
    v = verify(claim)
    assert isinstance(v.seconds, float) and v.ok and v.evidence["numeric_checks"] > 0
    latex = v._repr_latex_()
    assert latex is None or latex.startswith("$")


def test_directory_argument_verifies_every_file_in_it(tmp_path, capsys):
    for claim_id in ("c02-linearity-additive", "c04-hidden-proportions-bias-free"):
        shutil.copy(PROOFS / f"{claim_id}.toml", tmp_path)
    assert cli.run(["verify", str(tmp_path)]) == 0
    assert "2 passed, 0 failed" in capsys.readouterr().out


# -- the sign prover: non-strict signs ----------------------------------------------------------


@pytest.mark.parametrize(("text", "facts", "shown"), [
    ("a**2", [], True),
    ("a**2 - 2*a*t + t**2", [], True),         # a square (factorization)
    ("a**2 - a*t + t**2", [], True),           # positive semidefinite quadratic form
    ("a**3", [("a", ">0")], True),             # odd power of a positive variable
    ("a**3", [], False),
    ("a*t", [], False),
    ("a**2 - 2*a", [], False),
    ("-(a**2)", [], False),
])
def test_prove_nonnegative_is_sound(text: str, facts: list, shown: bool) -> None:
    import sympy

    from symsteer.verifier.signs import prove_nonnegative

    a, t = sympy.symbols("a t")
    expr = {"a**2": a**2, "a**2 - 2*a*t + t**2": a**2 - 2 * a * t + t**2, "a**2 - a*t + t**2": a**2 - a * t + t**2,
            "a**3": a**3, "a*t": a * t, "a**2 - 2*a": a**2 - 2 * a, "-(a**2)": -(a**2)}[text]
    assert (prove_nonnegative(expr, [(sympy.Symbol(h), k) for h, k in facts]) is not None) is shown
