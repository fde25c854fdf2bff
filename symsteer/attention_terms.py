"""The terms of one attention block under steering, each with its head, query and key positions
and its five leaves.

Bilinear attention at query q is a sum over heads h and keys k ≤ q of a 5-linear form

    A_h(a, b; c, e, f) = scale · (R_q Q1_h a · R_k K1_h c)(R_q Q2_h b · R_k K2_h e) · O_h V_h f

with ``a = b = x_q`` (the query's two slots) and ``c = e = f = x_k`` (the key's two gates and
its value). Steering ``x_t → x_t + α S_t`` puts ``x`` or ``s`` in each slot: 2⁵ terms per (h, q, k),
of α-order the number of ``s`` leaves; a term is *input* with no ``s``, *self* with no ``x``,
*cross* otherwise. (For the squared pattern the second branch repeats the first.) Terms with
a zero leaf (``s`` at an unsteered position) are left out. Written ``\\mathcal{A}^{(h)}_n(x_2,
s_2;\\, x_0, s_0, x_0)``: the block n, the head, then the query's leaves and the key's.

>>> from symsteer.blocks import Attention
>>> from symsteer.numbers import EXACT
>>> att = Attention(q1=[[1]], k1=[[1]], q2=[[1]], k2=[[1]], v=[[1]], o=[[1]], heads=1)
>>> terms = attention_terms(att, [[1], [2]], [[0], [1]], numbers=EXACT, index=0)
>>> [t.latex() for t in terms if t.query == 1 and t.key == 0 and t.order == 2]
['\\\\mathcal{A}_{0}(s_{1}, s_{1};\\\\, x_{0}, x_{0}, x_{0})']
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np

from .blocks.attention import Attention, _branches, _scalar
from .errors import BudgetError, ShapeError
from .numbers import Numbers

__all__ = ["AttentionTerm", "attention_terms", "MAX_TERMS"]

#: the most terms listed for one block (2⁵ per head and causal pair of positions)
MAX_TERMS = 100_000


@dataclass(frozen=True)
class AttentionTerm:
    """One term of an attention block's output at ``query``: its leaves ``"x"``/``"s"`` in the
    slots (query branch 1, query branch 2; key branch 1, key branch 2, value) and its value."""

    block: int
    head: int
    heads: int
    query: int
    key: int
    leaves: tuple[str, str, str, str, str]
    value: Any  # (d_out,) in the number system it was computed in

    @property
    def order(self) -> int:
        return sum(leaf == "s" for leaf in self.leaves)

    @property
    def kind(self) -> str:
        return "input" if self.order == 0 else "self" if self.order == 5 else "cross"

    @property
    def layers(self) -> tuple[int, ...]:
        return (self.block,)

    def _leaf(self, i: int) -> str:
        return f"{self.leaves[i]}_{{{self.query if i < 2 else self.key}}}"

    def latex(self) -> str:
        head = f"^{{({self.head})}}" if self.heads > 1 else ""
        query = ", ".join(self._leaf(i) for i in range(2))
        key = ", ".join(self._leaf(i) for i in range(2, 5))
        return rf"\mathcal{{A}}{head}_{{{self.block}}}({query};\, {key})"

    def __str__(self) -> str:
        head = f"[h{self.head}]" if self.heads > 1 else ""
        leaves = [f"{leaf}{self.query if i < 2 else self.key}" for i, leaf in enumerate(self.leaves)]
        return f"A{self.block}{head}({', '.join(leaves[:2])}; {', '.join(leaves[2:])})"


def attention_terms(block: Attention, x: Any, S: Any, *, numbers: Numbers, index: int = 0) -> list[AttentionTerm]:
    """Every nonzero-leaf term of ``block`` (bias-free, polynomial pattern) at stream ``x`` (T, d)
    steered by ``S`` (T, d); their values at order m summed over k and h give the block's
    α^m coefficient at each query (checked in the tests)."""
    if block.pattern == "squared-normalized" or block.biases or block.qk_norm:
        raise ShapeError(f"{block.name}: terms are listed for bias-free attention with a polynomial pattern (no QK-norm)")
    xs, ss = numbers.vector(x, "x", block.d_in), numbers.vector(S, "S", block.d_in)
    if xs.ndim != 2 or ss.shape != xs.shape:
        raise ShapeError(f"x has shape {xs.shape} and S {ss.shape}; expected both (T, {block.d_in})")
    T, H = xs.shape[0], block.heads
    steered = [any(v != 0 for v in ss[t]) for t in range(T)]
    live = sum(2 ** (2 * steered[q] + 3 * steered[k]) for q in range(T) for k in range(q + 1)) * H
    if live > MAX_TERMS:
        raise BudgetError(f"{block.name} has {live} terms for T={T} (limit {MAX_TERMS}); list a shorter sequence")
    w = block.weights(numbers)
    leaves = {"x": {}, "s": {}}
    for name, arr in (("x", xs), ("s", ss)):
        keys = {k for pair in _branches(block) for k in pair} | {"v"}
        leaves[name] = {key: block._branch(key, arr, w, T, numbers, orders=False) for key in keys}
    (a1, b1), (a2, b2) = _branches(block)
    sc = _scalar(block.scale, numbers)
    dv = block.d_value
    out = []
    for h in range(H):
        Oh = w["o"][:, h * dv:(h + 1) * dv]
        for q in range(T):
            for k in range(q + 1):
                for slots in product("xs", repeat=5):
                    if any(leaf == "s" and not steered[q if i < 2 else k] for i, leaf in enumerate(slots)):
                        continue
                    g1 = (leaves[slots[0]][a1][h, q] * leaves[slots[2]][b1][h, k]).sum()
                    g2 = (leaves[slots[1]][a2][h, q] * leaves[slots[3]][b2][h, k]).sum()
                    value = numbers.apply(Oh, leaves[slots[4]]["v"][h, k] * (g1 * g2 * sc))
                    out.append(AttentionTerm(index, h, H, q, k, slots, value))  # type: ignore[arg-type]
    return out


def terms_by_order(terms: list[AttentionTerm], length: int, d_out: int, numbers: Numbers) -> np.ndarray:
    """Σ of the terms' values by (order, query): (6, T, d_out)."""
    total = numbers.zeros((6, length, d_out))
    for term in terms:
        total[term.order, term.query] = total[term.order, term.query] + term.value
    return total
