"""An independent review of the sequence-model machinery: an exact Fraction forward pass of
tensor transformers written from the formulas alone (plain Python lists, no symsteer code), and
α-coefficients from it by exact polynomial interpolation, compared with
:meth:`SequenceModel.coefficients` and the closed forms at zero difference."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

from symsteer.blocks import Attention, Bilinear, Linear, Residual, Rotary
from symsteer.blocks.attention import cross_map, last_position, self_pattern
from symsteer.numbers import EXACT
from symsteer.positions import steer_direction
from symsteer.sequence import SequenceModel

# -- exact rational rotary tables (Pythagorean rotations, powers computed exactly) -----------

_TRIPLES = [(F(3, 5), F(4, 5)), (F(5, 13), F(12, 13)), (F(8, 17), F(15, 17)), (F(7, 25), F(24, 25))]


def exact_tables(d_head: int, T: int) -> tuple[list[list[F]], list[list[F]]]:
    cos, sin = [], []
    for t in range(T):
        c_row, s_row = [], []
        for i in range(d_head // 2):
            c, s = _TRIPLES[i % len(_TRIPLES)]
            re, im = F(1), F(0)
            for _ in range(t):
                re, im = re * c - im * s, re * s + im * c
            c_row.append(re)
            s_row.append(im)
        cos.append(c_row + c_row)
        sin.append(s_row + s_row)
    return cos, sin


class ExactRotary(Rotary):
    """The library's rotary block fed with the exact tables above."""

    def tables(self, length: int):  # type: ignore[override]
        cos, sin = exact_tables(self.d_head, length)
        return np.array(cos, dtype=object), np.array(sin, dtype=object)


# -- my forward ------------------------------------------------------------------------------


def mv(W, x):
    return [sum((w * v for w, v in zip(row, x)), F(0)) for row in W]


def dot(a, b):
    return sum((u * v for u, v in zip(a, b)), F(0))


def rot(y, c, s):
    h = len(y) // 2
    turned = [-v for v in y[h:]] + y[:h]
    return [y[i] * c[i] + turned[i] * s[i] for i in range(len(y))]


def attention_out(L, xs):
    """The attention sublayer's output (no residual) for a stream xs (T rows)."""
    T, H = len(xs), L["heads"]
    dh = len(L["q1"]) // H
    dv = len(L["v"]) // H
    scale = F(1, dh * dh)
    tabs = L["tables"](dh, T) if L["rope"] else None

    def branch(key, t, h):
        y = mv(L[key], xs[t])
        if key in L["biases"]:
            y = [a + b for a, b in zip(y, L["biases"][key])]
        y = y[h * dh:(h + 1) * dh]
        return rot(y, tabs[0][t], tabs[1][t]) if tabs else y

    outs = []
    for q in range(T):
        z = []
        for h in range(H):
            acc = [F(0)] * dv
            ps = []
            for k in range(q + 1):
                g1 = dot(branch("q1", q, h), branch("k1", k, h))
                ps.append(g1 * g1 * scale if L["pattern"] != "bilinear" else g1 * dot(branch("q2", q, h), branch("k2", k, h)) * scale)
            if L["pattern"] == "squared-normalized":
                total = sum(ps[1:], ps[0])
                ps = [p / total for p in ps]
            for k, p in enumerate(ps):
                v = mv(L["v"], xs[k])[h * dv:(h + 1) * dv]
                acc = [a + p * b for a, b in zip(acc, v)]
            z += acc
        outs.append(mv(L["o"], z))
    return outs


def mlp_out(L, xs):
    return [mv(L["D"], [a * b for a, b in zip(mv(L["L"], x), mv(L["R"], x))]) for x in xs]


def layer(L, xs):
    out = attention_out(L, xs) if L["kind"] == "attn" else mlp_out(L, xs)
    if L["res"] == "add":
        return [[a + b for a, b in zip(x, o)] for x, o in zip(xs, out)]
    lam = L["lam"]
    return [[a + lam * (b - a) for a, b in zip(x, o)] for x, o in zip(xs, out)]


def my_forward(spec, xs, start=0):
    for L in spec["layers"][start:]:
        xs = layer(L, xs)
    return [mv(spec["head"], x) for x in xs]


def interpolate(f, degree):
    """Monomial coefficients (degree+1, …) of the polynomial f(α) (values: nested lists)."""
    pts = list(range(degree + 1))
    coef = [np.array(f(F(a)), dtype=object) for a in pts]
    for j in range(1, degree + 1):
        for i in range(degree, j - 1, -1):
            coef[i] = (coef[i] - coef[i - 1]) / F(pts[i] - pts[i - j])
    poly = [coef[degree]]
    for k in range(degree - 1, -1, -1):
        # poly · (α − k) + coef[k]
        new = [None] * (len(poly) + 1)
        new[0] = poly[0] * (-pts[k]) + coef[k]
        for m in range(1, len(poly)):
            new[m] = poly[m - 1] + poly[m] * (-pts[k])
        new[len(poly)] = poly[-1]
        poly = new
    return np.stack(poly)


# -- random models, mine and the library's -------------------------------------------------


def rnd(rng, shape):
    p, q = rng.integers(-3, 4, size=shape), rng.integers(1, 4, size=shape)
    return [[F(int(a), int(b)) for a, b in zip(pr, qr)] for pr, qr in zip(np.atleast_2d(p), np.atleast_2d(q))]


def random_spec(rng, kinds, *, d, heads, rope, bias, pattern="bilinear", d_out=3, hidden=3):
    layers = []
    for kind in kinds:
        res = ["add", "lerp"][int(rng.integers(2))]
        L = {"kind": kind, "res": res, "lam": F(int(rng.integers(1, 4)), 4)}
        if kind == "attn":
            keys = ("q1", "k1", "q2", "k2") if pattern == "bilinear" else ("q1", "k1")
            L |= {k: rnd(rng, (d, d)) for k in (*keys, "v", "o")}
            L |= {"heads": heads, "pattern": pattern, "rope": rope, "tables": exact_tables,
                  "biases": {k: rnd(rng, (1, d))[0] for k in keys} if bias else {}}
        else:
            L |= {"L": rnd(rng, (hidden, d)), "R": rnd(rng, (hidden, d)), "D": rnd(rng, (d, hidden))}
        layers.append(L)
    return {"layers": layers, "head": rnd(rng, (d_out, d)), "d": d}


def arr(rows):
    return np.array(rows, dtype=object)


def library_block(L):
    if L["kind"] == "attn":
        two = L["pattern"] == "bilinear"
        inner = Attention(q1=arr(L["q1"]), k1=arr(L["k1"]), q2=arr(L["q2"]) if two else None,
                          k2=arr(L["k2"]) if two else None, v=arr(L["v"]), o=arr(L["o"]), heads=L["heads"],
                          pattern=L["pattern"], biases={k: arr(b) for k, b in L["biases"].items()},
                          rotary=ExactRotary(len(L["q1"]) // L["heads"]) if L["rope"] else None)
    else:
        inner = Bilinear(arr(L["L"]), arr(L["R"]), arr(L["D"]))
    return Residual.add(inner) if L["res"] == "add" else Residual.lerp(inner, L["lam"])


def library_model(spec):
    return SequenceModel(tuple(library_block(L) for L in spec["layers"]), head=Linear(arr(spec["head"])))


def frac(a):
    def one(v):
        return F(int(v.p), int(v.q)) if hasattr(v, "p") else F(v)
    return np.vectorize(one, otypes=[object])(np.asarray(a, dtype=object))


def same(a, b):
    a, b = frac(a), frac(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert all(u == v for u, v in zip(a.ravel(), b.ravel())), "exact coefficients differ"


def degree_of(spec, n):
    k = 1
    for L in spec["layers"][n:]:
        k *= 5 if L["kind"] == "attn" else 2
    return k


def mine(spec, x_n, D, n):
    deg = degree_of(spec, n)
    steered = lambda a: my_forward(spec, [[u + a * w for u, w in zip(r, dr)] for r, dr in zip(x_n, D)], n)  # noqa: E731
    return interpolate(steered, deg)


# (kinds, d, heads, rope, bias, pattern, T)
CASES = [
    (("attn",), 2, 1, False, False, "bilinear", 3),
    (("attn",), 4, 2, True, False, "bilinear", 3),
    (("attn",), 4, 2, True, True, "bilinear", 3),
    (("attn",), 2, 1, True, True, "squared", 3),
    (("attn", "mlp"), 2, 1, True, False, "bilinear", 3),
    (("mlp", "attn"), 4, 2, False, True, "bilinear", 2),
    (("attn", "attn"), 2, 1, True, False, "bilinear", 2),
    (("attn", "mlp"), 4, 1, True, True, "squared", 2),
]
STEERS = ["all", "last", "from:1", "0,2", "per-position"]


def _direction(rng, steer, T, d):
    if steer == "per-position":
        S = [[F(0)] * d for _ in range(T)]
        for t in range(1, T):
            S[t] = rnd(rng, (1, d))[0]
        return steer_direction(list(range(1, T)), arr(S), length=T, width=d), 1
    positions = steer if (steer != "0,2" or T > 2) else "0,1"
    s = arr(rnd(rng, (1, d))[0])
    D = steer_direction(positions, s, length=T, width=d)
    first = {"all": 0, "last": T - 1, "from:1": 1}.get(steer, 0)
    return D, first


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("seed", range(3))
def test_coefficients_equal_my_exact_forward(case, seed):
    kinds, d, heads, rope, bias, pattern, T = CASES[case]
    rng = np.random.default_rng(1000 * case + seed)
    spec = random_spec(rng, kinds, d=d, heads=heads, rope=rope, bias=bias, pattern=pattern)
    model = library_model(spec)
    x0 = rnd(rng, (T, d))
    for n in range(len(kinds) + 1):
        x_n = x0
        for L in spec["layers"][:n]:
            x_n = layer(L, x_n)
        for steer in STEERS:
            D, first = _direction(rng, steer, T, d)
            want = mine(spec, x_n, D.tolist(), n)
            got = model.coefficients(arr(x_n), D, steer_at=n)
            assert model.degree(n) == degree_of(spec, n) == len(want) - 1
            same(got, want)
            # causality: nothing before min(P) moves
            assert all(v == 0 for v in frac(got)[1:, :first].ravel())
            # truncation below the degree: the low orders of the full coefficients
            for K in {0, 1, min(3, len(want) - 2)}:
                same(model.coefficients(arr(x_n), D, steer_at=n, max_order=K), want[: K + 1])
            # the split per position, from my forward at x_n := 0
            zero = [[F(0)] * d for _ in range(T)]
            at_zero = mine(spec, zero, D.tolist(), n)
            parts = model.split(arr(x_n), D, steer_at=n)
            same(parts["const"][0], at_zero[0])
            same(parts["input"][0], want[0] - at_zero[0])
            same(parts["self"][1:], at_zero[1:])
            same(parts["cross"][1:], want[1:] - at_zero[1:])
            for key in ("const", "input"):
                assert all(v == 0 for v in frac(parts[key][1:]).ravel())
            for key in ("self", "cross"):
                assert all(v == 0 for v in frac(parts[key][0]).ravel())
            total = sum(frac(parts[k]) for k in parts)
            same(total, want)


@pytest.mark.parametrize("kinds", [("attn",), ("attn", "mlp"), ("mlp", "attn"), ("attn", "attn")])
def test_degree_bound_attained(kinds):
    rng = np.random.default_rng(7)
    spec = random_spec(rng, kinds, d=2, heads=1, rope=True, bias=False)
    model = library_model(spec)
    T = 2
    D = steer_direction("all", arr(rnd(rng, (1, 2))[0]), length=T, width=2)
    got = frac(model.coefficients(arr(rnd(rng, (T, 2))), D, steer_at=0))
    assert len(got) - 1 == degree_of(spec, 0)
    assert any(v != 0 for v in got[-1].ravel())


# -- row-normalised squared attention: a power series, checked with truncated series arithmetic --


class Series:
    """A power series in α truncated after order K (exact Fractions)."""

    def __init__(self, c, K):
        self.c, self.K = (list(c) + [F(0)] * (K + 1))[: K + 1], K

    def _of(self, o):
        return o if isinstance(o, Series) else Series([F(o)], self.K)

    def __add__(self, o):
        o = self._of(o)
        return Series([a + b for a, b in zip(self.c, o.c)], self.K)

    __radd__ = __add__

    def __neg__(self):
        return Series([-a for a in self.c], self.K)

    def __sub__(self, o):
        return self + (-self._of(o))

    def __rsub__(self, o):
        return self._of(o) - self

    def __mul__(self, o):
        o = self._of(o)
        return Series([sum((self.c[i] * o.c[m - i] for i in range(m + 1)), F(0)) for m in range(self.K + 1)], self.K)

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = self._of(o)
        assert o.c[0] != 0
        out = []
        for m in range(self.K + 1):
            out.append((self.c[m] - sum((o.c[j] * out[m - j] for j in range(1, m + 1)), F(0))) / o.c[0])
        return Series(out, self.K)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("pattern", ["squared-normalized", "bilinear"])
def test_series_forward(seed, pattern):
    rng = np.random.default_rng(600 + seed)
    d, T, K = 2, 3, 4
    kinds = ("attn", "mlp") if seed % 2 else ("attn",)
    spec = random_spec(rng, kinds, d=d, heads=1, rope=bool(seed % 2), bias=bool(seed // 2),
                       pattern="squared-normalized" if pattern != "bilinear" else "bilinear")
    model = library_model(spec)
    x = rnd(rng, (T, d))
    D = steer_direction("from:1", arr(rnd(rng, (1, d))[0]), length=T, width=d)
    xs = [[Series([u, w], K) for u, w in zip(r, dr)] for r, dr in zip(x, D.tolist())]
    out = my_forward(spec, xs)
    want = np.array([[[e.c[m] for e in row] for row in out] for m in range(K + 1)], dtype=object)
    same(model.coefficients(arr(x), D, steer_at=0, max_order=K), want)


# -- closed forms ----------------------------------------------------------------------------


def _bare(rng, d, heads, rope, pattern="bilinear"):
    spec = random_spec(rng, ("attn",), d=d, heads=heads, rope=rope, bias=False, pattern=pattern)
    L = spec["layers"][0]
    return L, library_block(L).inner


@pytest.mark.parametrize("rope", [False, True])
@pytest.mark.parametrize("pattern", ["bilinear", "squared"])
@pytest.mark.parametrize("seed", range(3))
def test_closed_forms(rope, pattern, seed):
    rng = np.random.default_rng(50 + seed)
    d, heads, T = 4, 2, 3
    L, block = _bare(rng, d, heads, rope, pattern)
    x = rnd(rng, (T, d))
    # self pattern: my pattern with S in place of the stream (order 5 of the self term)
    S = rnd(rng, (T, d))
    dh = d // heads
    tabs = exact_tables(dh, T)
    got = frac(self_pattern(block, arr(S), numbers=EXACT))

    def br(key, t, h, xs):
        y = mv(L[key], xs[t])[h * dh:(h + 1) * dh]
        return rot(y, tabs[0][t], tabs[1][t]) if rope else y

    for h in range(heads):
        for q in range(T):
            for k in range(T):
                g1 = dot(br("q1", q, h, S), br("k1", k, h, S))
                g = g1 * g1 if pattern == "squared" else g1 * dot(br("q2", q, h, S), br("k2", k, h, S))
                assert got[h, q, k] == (g * F(1, dh * dh) if k <= q else 0)
    # cross map: the α¹ coefficient of out_q when only x_k moves
    for q in range(T):
        for k in range(T):
            s = rnd(rng, (1, d))[0]
            first = interpolate(lambda a: attention_out(L, [[u + (a * w if t == k else 0) for u, w in zip(r, s)]
                                                            for t, r in enumerate(x)])[q], 5)[1]
            same(frac(cross_map(block, arr(x), q, k, numbers=EXACT)) @ arr(s), first)
    # last position: out_{T-1} as a function of u = x_{T-1}
    lp = last_position(block, arr(x), numbers=EXACT)
    for _ in range(3):
        u = rnd(rng, (1, d))[0]
        same(lp(EXACT.vector(arr(u), "u", d), numbers=EXACT), attention_out(L, x[:-1] + [u])[-1])


# -- the loaders: state dicts by their parameter names, against my forward ----------------------


def torch_tables(d_head: int, T: int) -> tuple[list[list[F]], list[list[F]]]:
    """RoPE as the research code builds it: float32 torch tables, taken exactly."""
    torch = pytest.importorskip("torch")
    inv = 1.0 / (10_000 ** (torch.arange(0, d_head, 2).float() / d_head))
    ang = torch.arange(T).float()[:, None] * inv[None, :]
    c, s = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)
    return [[F(float(v)) for v in row] for row in c.tolist()], [[F(float(v)) for v in row] for row in s.tolist()]


def dyadic(rng, shape):
    return rng.integers(-8, 9, size=shape).astype(np.float32) / 8


def _fr(a):
    return [[F(float(v)) for v in row] for row in np.asarray(a, dtype=np.float64)]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("residual,mlp_residual,scale", [("lerp", "add", "0.5"), ("add", "lerp", "0.3"), ("lerp", "lerp", "0.25")])
def test_tensor_language_loader_matches_my_forward(seed, residual, mlp_residual, scale):
    from symsteer.tensor_language import TensorLanguageConfig, load_tensor_language

    rng = np.random.default_rng(300 + seed)
    d, vocab, hidden, heads, T = 4, 4, 3, 2, 3  # a square, non-symmetric embedding
    spec = ["attn", "mlp", "attn"]
    sd = {"embed.weight": dyadic(rng, (vocab, d)), "head.weight": dyadic(rng, (5, d))}
    sd["embed.weight"][0, 1] = 1.0; sd["embed.weight"][1, 0] = -0.5  # noqa: E702
    lam = F(scale)
    layers = []
    for i, kind in enumerate(spec):
        if kind == "attn":
            w = {k: dyadic(rng, (d, d)) for k in ("q1", "k1", "q2", "k2", "v", "o")}
            layers.append({"kind": "attn", "heads": heads, "pattern": "bilinear", "rope": True, "tables": torch_tables,
                           "biases": {}, "res": residual, "lam": lam} | {k: _fr(v) for k, v in w.items()})
        else:
            w = {"L": dyadic(rng, (hidden, d)), "R": dyadic(rng, (hidden, d)), "D": dyadic(rng, (d, hidden))}
            layers.append({"kind": "mlp", "res": mlp_residual, "lam": lam} | {k: _fr(v) for k, v in w.items()})
        sd |= {f"layers.{i}.{k}.weight": v for k, v in w.items()}
    config = TensorLanguageConfig.of({"n_head": heads, "residual": residual, "mlp_residual": mlp_residual, "scale": scale})
    model = load_tensor_language(sd, config)
    tokens = [1, 0, 3]
    x0 = [[F(float(v)) for v in sd["embed.weight"][t]] for t in tokens]  # nn.Embedding: rows
    want = my_forward({"layers": layers, "head": _fr(sd["head.weight"])}, x0)
    got = model.forward(model.inputs(tokens=tokens, numbers=EXACT), numbers=EXACT)
    same(got, want)


@pytest.mark.parametrize("seed", range(3))
def test_tensor_similarity_loader_matches_my_forward(seed):
    from symsteer.tensor_similarity import TensorSimilarityConfig, load_tensor_similarity

    rng = np.random.default_rng(400 + seed)
    d, heads, hidden, T = 4, 2, 3, 3
    sd = {"embed.weight": dyadic(rng, (d, d)), "head.weight": dyadic(rng, (5, d))}  # Linear(d_in, d): (d, d_in)
    sd["embed.weight"][0, 1] = 1.0; sd["embed.weight"][1, 0] = -0.5  # noqa: E702
    lam = F(3, 4)
    layers = []
    for i in range(2):
        w = {k: dyadic(rng, (d, d)) for k in ("q1", "k1", "q2", "k2", "v", "o")}
        b = {k: dyadic(rng, (d,)) for k in ("q1", "k1", "q2", "k2")}
        m = {"l": dyadic(rng, (hidden, d)), "r": dyadic(rng, (hidden, d)), "d": dyadic(rng, (d, hidden))}
        bd = dyadic(rng, (d,))
        sd |= {f"body.{i}.attn.{k}.weight": v for k, v in w.items()} | {f"body.{i}.attn.{k}.bias": v for k, v in b.items()}
        sd |= {f"body.{i}.mlp.{k}.weight": v for k, v in m.items()} | {f"body.{i}.mlp.d.bias": bd}
        layers.append({"kind": "attn", "heads": heads, "pattern": "bilinear", "rope": True, "tables": torch_tables,
                       "biases": {k: [F(float(v)) for v in x] for k, x in b.items()}, "res": "lerp", "lam": lam}
                      | {k: _fr(v) for k, v in w.items()})
        # the MLP's output bias as one more hidden unit with constant gates 1·1
        D = [row + [F(float(t))] for row, t in zip(_fr(m["d"]), bd)]
        layers.append({"kind": "mlp", "res": "lerp", "lam": lam, "L": _fr(m["l"]) + [[F(0)] * d],
                       "R": _fr(m["r"]) + [[F(0)] * d], "D": D})
    model = load_tensor_similarity(sd, TensorSimilarityConfig.of({"n_head": heads, "scale": "0.75"}))
    tokens = [2, 0, 1]
    x0 = [[F(float(v)) for v in sd["embed.weight"][:, t]] for t in tokens]  # token t is column t
    spec = {"layers": layers, "head": _fr(sd["head.weight"])}
    # the constant unit: (0·x + 1)(0·x + 1) — my MLP has no biases, so fold it in by hand
    got = model.forward(model.inputs(tokens=tokens, numbers=EXACT), numbers=EXACT)

    def fwd(xs):
        for L in spec["layers"]:
            if L["kind"] == "mlp":
                out = [[a + t for a, t in zip(mv([r[:-1] for r in L["D"]], [u * v for u, v in zip(mv(L["L"][:-1], x), mv(L["R"][:-1], x))]),
                                              [r[-1] for r in L["D"]])] for x in xs]
                xs = [[a + L["lam"] * (b - a) for a, b in zip(x, o)] for x, o in zip(xs, out)]
            else:
                xs = layer(L, xs)
        return [mv(spec["head"], x) for x in xs]

    same(got, fwd(x0))


# -- hostile sequence options on the command line ------------------------------------------------

MODEL = str(__import__("pathlib").Path(__file__).parent / "data/tensor_language_block2/model.npz")
S8 = "1,0,0,0,0,0,0,0"
LONG = ",".join(str(i) for i in range(20_000))

HOSTILE = [
    # (extra arguments, a word the one-line message must hold)
    (["--tokens", "3,1,4,1", "--s", S8, "--positions", ""], "empty"),
    (["--tokens", "3,1,4,1", "--s", S8, "--positions", " , "], "not a position"),
    (["--tokens", "3,1,4,1", "--s", S8, "--positions", "1,,2"], "not a position"),
    (["--tokens", "3,1,4,1", "--s", S8, "--positions", "from:"], "not a position"),
    (["--tokens", "3,1,4,1", "--s", S8, "--positions", "from:4"], "empty"),
    (["--tokens", "3,1,4,1", "--s", S8, "--positions", "9"], "out of range"),
    (["--tokens", "3,1,4,1", "--s", S8, "--positions", "-1"], "negative"),
    (["--tokens", "3,1,4,1", "--s", S8, "--positions", "1,1"], "more than once"),
    (["--tokens", "3,1,4,1", "--s", S8, "--positions", "9" * 5000], "digits"),
    (["--tokens", "3,1,4,1", "--s", S8, "--positions", "from:" + "9" * 5000], "digits"),
    (["--tokens", "3,1,4,1", "--s", S8, "--positions", LONG], "out of range"),
    (["--tokens", "3,1,4,1", "--s", S8, "--positions", LONG + ",7,7"], "more than once"),
    (["--tokens", "", "--s", S8], "--tokens"),
    (["--tokens", "3,99", "--s", S8], "vocabulary"),
    (["--tokens", "3,-1", "--s", S8], "--tokens"),
    (["--tokens", "3,1", "--s", "1,0"], "--s has shape"),
    (["--tokens", "3,1", "--s", S8, "--max-order", "-1"], "max-order"),
]


@pytest.mark.parametrize("case", range(len(HOSTILE)))
def test_hostile_sequence_options(case, capsys):
    from symsteer import cli

    extra, word = HOSTILE[case]
    code = cli.run(["expand", "--model", MODEL, "--heads", "2", *extra])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 2, text[:500]
    assert "Traceback" not in text and word in text, text[:500]
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and len(lines[0]) < 400, text[:500]


def test_huge_sequence_refused_before_the_work(capsys):
    from symsteer import cli

    code = cli.run(["expand", "--model", MODEL, "--heads", "2", "--tokens", ",".join(["1"] * 60_000), "--s", S8])
    out = capsys.readouterr()
    assert code != 0 and "T=60000" in out.err and "Traceback" not in out.out + out.err


def _tl_dict(rng, keys, d=4):
    sd = {"embed.weight": rng.standard_normal((5, d)), "head.weight": rng.standard_normal((5, d))}
    for k in keys:
        sd[f"layers.0.{k}.weight"] = rng.standard_normal((d, d))
    return sd


@pytest.mark.parametrize("keys,bias,word", [
    (("k1", "q2", "k2", "v", "o"), "q1", "lacks layers.0.q1.weight"),      # a bias without its weight
    (("q1", "k1", "v", "o"), "q1", "bias on q1"),                          # softmax: the bias would be dropped
])
def test_tensor_language_bias_keys_refused(keys, bias, word):
    from symsteer.errors import InputFileError
    from symsteer.tensor_language import TensorLanguageConfig, load_tensor_language

    rng = np.random.default_rng(0)
    sd = _tl_dict(rng, keys) | {f"layers.0.{bias}.bias": rng.standard_normal(4)}
    with pytest.raises(InputFileError, match=word):
        load_tensor_language(sd, TensorLanguageConfig.of({"n_head": 2, "freeze_softmax": True}), tokens=[1, 2, 3])


@pytest.mark.parametrize("shape,word,exit_code", [((3,), "--s has shape", 2), ((2, 8), "--s has shape", 2),
                                                  ((1, 4, 8), "expected a 1-d", 3), ((4, 8), "outside positions", 2)])
def test_hostile_steering_arrays(shape, word, exit_code, tmp_path, capsys):
    from symsteer import cli

    s = np.ones(shape)
    path = tmp_path / "s.npy"
    np.save(path, s)
    code = cli.run(["expand", "--model", MODEL, "--heads", "2", "--tokens", "3,1,4,1", "--s", str(path), "--positions", "last"])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == exit_code and word in text and "Traceback" not in text, text[:500]
    assert len([line for line in text.splitlines() if line.strip()]) == 1


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("pattern", ["bilinear", "squared"])
def test_attention_terms_sum_to_my_coefficients(seed, pattern):
    from symsteer.attention_terms import attention_terms, terms_by_order

    rng = np.random.default_rng(700 + seed)
    d, heads, T = 4, 2, 3
    L, block = _bare(rng, d, heads, bool(seed % 2), pattern)
    x = rnd(rng, (T, d))
    S = [[F(0)] * d] + rnd(rng, (T - 1, d))  # position 0 unsteered
    terms = attention_terms(block, arr(x), arr(S), numbers=EXACT)
    got = terms_by_order(terms, T, d, EXACT)
    want = interpolate(lambda a: attention_out(L, [[u + a * w for u, w in zip(r, sr)] for r, sr in zip(x, S)]), 5)
    same(got, want)
    for t in terms:  # the kind of a term is the kind of its leaves
        assert t.kind == ("input" if "s" not in t.leaves else "self" if "x" not in t.leaves else "cross")


@pytest.mark.parametrize("entry", ['"n_ctx": "abc"', '"n_ctx": 16.5', '"n_ctx": 0', '"n_ctx": true', '"rope_base": "x"'])
def test_malformed_config_values(entry, tmp_path, capsys):
    from symsteer import cli

    config = tmp_path / "run.json"
    config.write_text("{\"n_head\": 2, " + entry + "}")
    code = cli.run(["expand", "--model", MODEL, "--config", str(config), "--tokens", "3,1", "--s", S8])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 2 and ("n_ctx" in text or "rope_base" in text) and "bug" not in text, text[:500]


@pytest.mark.parametrize("value,word", [("1e-5000", "exponent"), ("abc", "scale=.abc."), ("1/0", "expected a number"),
                                        ("2", "lerp weight"), ("0.5,0.5", "one number")])
@pytest.mark.parametrize("layout", ["tensor_language", "tensor_similarity"])
def test_lerp_scale_parsed_with_bounds(value, word, layout):
    from symsteer.errors import ShapeError
    from symsteer.tensor_language import TensorLanguageConfig
    from symsteer.tensor_similarity import TensorSimilarityConfig

    config = TensorLanguageConfig if layout == "tensor_language" else TensorSimilarityConfig
    with pytest.raises(ShapeError, match=word):
        config.of({"n_head": 2, "scale": value})
    assert config.of({"n_head": 2, "scale": "0.3"}).scale == F(3, 10)
