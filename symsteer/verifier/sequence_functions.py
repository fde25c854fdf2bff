"""Sequence models in a statement: ``F`` (the blocks after the steering point), ``at`` (a steering
direction at a set of positions), ``row``, ``sum_over`` and the parts of ``F(X + A*S)``.

Every forward pass is the library's own: a :class:`~symsteer.sequence.SequenceModel` of
:class:`~symsteer.blocks.Attention` / :class:`~symsteer.blocks.FrozenAttention` /
:class:`~symsteer.blocks.Bilinear` blocks (in residual wrappers), run in the evaluator's number
system: exact rationals at a point, a polynomial ring over generic weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from ..blocks import Attention, Bilinear, FrozenAttention, Linear, Residual, Rotary
from ..errors import ShapeError
from ..numbers import PolyRing, in_time
from ..positions import SteerSet
from ..sequence import SequenceModel
from .language import Node, StatementError, steered_form
from .propositions import Unsupported
from .values import _box

__all__ = ["SeqSpec", "SequenceFunctions", "build_sequence_model", "sequence_variables", "PATTERNS", "RESIDUALS"]

#: the attention patterns a claim may name: two-branch bilinear, single-branch squared, frozen
PATTERNS = ("bilinear", "squared", "frozen")
RESIDUALS = ("none", "add", "lerp")
#: a bound on the terms one attention block may produce over generic weights (T d^8 t^5 for
#: inputs of t terms: every product of the block is at most that): flint multiplies in C, where
#: the time limit cannot interrupt it, so a bigger block is refused before it starts
ATTENTION_TERMS = 40_000_000


@dataclass(frozen=True, order=True)
class SeqSpec:
    """One sequence model family: the block kinds in order, the attention pattern, heads, RoPE,
    the residual around every block (none, add, lerp with λ)."""

    blocks: tuple[str, ...]
    pattern: str = "bilinear"
    heads: int = 1
    rope: bool = False
    residual: str = "add"
    lam: Fraction = Fraction(1, 2)

    @property
    def attention_blocks(self) -> int:
        return sum(1 for b in self.blocks if b == "attention")

    @property
    def mlp(self) -> bool:
        return "mlp" in self.blocks

    def describe(self) -> str:
        kinds = " → ".join(self.blocks)
        att = f"{self.pattern} attention, {self.heads} head(s)" + (", RoPE" if self.rope else "")
        res = {"none": "no residual", "add": "residual add", "lerp": f"residual lerp λ = {self.lam}"}[self.residual]
        return f"{kinds} ({att}; {res})"

    def to_dict(self) -> dict[str, Any]:
        return {"blocks": list(self.blocks), "pattern": self.pattern, "heads": self.heads, "rope": self.rope,
                "residual": self.residual, "lerp": str(self.lam)}


def _attention_keys(pattern: str) -> tuple[str, ...]:
    return ("q1", "k1", "q2", "k2", "v", "o") if pattern == "bilinear" else ("pattern", "v", "o") if pattern == "frozen" \
        else ("q1", "k1", "v", "o")


def sequence_variables(spec: SeqSpec, *, d: int, h: int, length: int, unembed: int | None) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every weight of the model: ``att0.q1`` (d × d), ``att0.pattern`` (heads × T × T,
    frozen; entries above the diagonal are not used: the pattern is causal), ``mlp1.W`` (h × d), ``U``."""
    out = []
    for l, kind in enumerate(spec.blocks):
        if kind == "attention":
            for key in _attention_keys(spec.pattern):
                out.append((f"att{l}.{key}", (spec.heads, length, length) if key == "pattern" else (d, d)))
        else:
            out += [(f"mlp{l}.W", (h, d)), (f"mlp{l}.V", (h, d)), (f"mlp{l}.P", (d, h))]
    if unembed:
        out.append(("U", (unembed, d)))
    return out


def _symbol(name: str, idx: tuple[int, ...]) -> sympy.Symbol:
    block, key = name.split(".") if "." in name else ("", name)
    return sympy.Symbol(f"{key}^{{({block})}}_{{{','.join(str(i + 1) for i in idx)}}}")


def generic_arrays(spec: SeqSpec, *, d: int, h: int, length: int, unembed: int | None) -> dict[str, np.ndarray]:
    """Generic (symbolic) weights for every variable of :func:`sequence_variables`."""
    out = {}
    for name, shape in sequence_variables(spec, d=d, h=h, length=length, unembed=unembed):
        arr = np.empty(shape, dtype=object)
        for idx in np.ndindex(shape):
            arr[idx] = _symbol(name, idx)
        out[name] = arr
    return out


def rotary(spec: SeqSpec, d: int) -> Rotary | None:
    """The rotary tables of a claim's model: float32 values (the numpy emulation, the same with
    or without torch installed, so evidence files replay anywhere)."""
    return Rotary(d // spec.heads, source="numpy") if spec.rope and spec.pattern != "frozen" else None


def build_sequence_model(spec: SeqSpec, arrays: dict[str, Any], *, d: int, length: int) -> SequenceModel:
    """The library's sequence model for one point (exact arrays) or generic weights (sympy symbols)."""
    blocks = []
    for l, kind in enumerate(spec.blocks):
        w = lambda key: np.asarray(arrays[f"{'att' if kind == 'attention' else 'mlp'}{l}.{key}"], dtype=object)  # noqa: E731
        if kind == "mlp":
            inner = Bilinear(w("W"), w("V"), w("P"), name=f"block {l}")
        elif spec.pattern == "frozen":
            pattern = w("pattern").copy()
            pattern[:, ~np.tril(np.ones((length, length), dtype=bool))] = 0  # a causal pattern (frozen at a causal softmax)
            inner = FrozenAttention(pattern, v=w("v"), o=w("o"), name=f"block {l}")
        else:
            keys = {k: w(k) for k in _attention_keys(spec.pattern)}
            inner = Attention(**keys, heads=spec.heads, pattern=spec.pattern, rotary=rotary(spec, d), name=f"block {l}")
        if spec.residual == "add":
            inner = Residual.add(inner)
        elif spec.residual == "lerp":
            inner = Residual.lerp(inner, spec.lam)
        blocks.append(inner)
    head = Linear(np.asarray(arrays["U"], dtype=object), name="U") if "U" in arrays else None
    return SequenceModel(tuple(blocks), head=head, name="F")


def _terms(x: np.ndarray) -> int:
    return max((len(e) if hasattr(e, "monoms") else 1) for e in x.ravel())


class SequenceFunctions:
    """Methods of :class:`.evaluation.Evaluator` for sequence models (a mixin)."""

    def _sequence(self, v: Any, what: str) -> np.ndarray:
        case = self.case
        if not isinstance(v, np.ndarray) or v.shape != (case.length, case.d):
            shape = v.shape if isinstance(v, np.ndarray) else "a number"
            raise StatementError(f"{what} needs a sequence of shape ({case.length}, {case.d}); got {shape}")
        return v

    def _seq_model(self) -> SequenceModel:
        if self.sequence_model is None:
            raise StatementError("F needs a sequence model; set kind = \"sequence\" in [model]")
        return self.sequence_model

    def _fn_F(self, node: Node, arg: Node) -> np.ndarray:
        return self._run_F(self._sequence(self.value_of(arg), node.text), node)

    def _run_F(self, x: np.ndarray, node: Node) -> np.ndarray:
        model = self._seq_model()
        for block in model.blocks:
            in_time()
            if isinstance(self.numbers, PolyRing):
                _check_block(block, x, self.case)
            try:
                x = block.forward(x, numbers=self.numbers)
            except ShapeError as exc:
                raise Unsupported(f"'{node.text}': {exc}") from None
        return model.output(x, numbers=self.numbers)

    def _fn_at(self, node: Node, vec: Node, where: Node) -> np.ndarray:
        s = self._vector(self.value_of(vec), node.text, self.case.d)
        positions = self.value_of(where)
        if isinstance(positions, Fraction):
            positions = int(positions)
        elif isinstance(positions, np.ndarray):  # a literal list [0, 2]
            positions = [int(v) for v in where.value]
        try:
            chosen = SteerSet.of(positions).resolve(self.case.length)
        except ShapeError as exc:
            raise StatementError(f"'{node.text}': {exc}") from None
        out = self.numbers.zeros((self.case.length, self.case.d))
        for t in chosen:
            out[t] = s
        return out

    def _fn_row(self, node: Node, seq: Node, pos: Node) -> np.ndarray:
        value = self._sequence(self.value_of(seq), node.text)
        q = int(self.value_of(pos))
        if not 0 <= q < self.case.length:
            raise StatementError(f"'{node.text}': position {q} is out of range for T = {self.case.length} (0 … {self.case.length - 1})")
        return value[q]

    def _fn_sum_over(self, node: Node, expr: Node, var: Node) -> Any:
        saved = self.position
        total = None
        try:
            for q in range(self.case.length):
                self.position = q
                value = self.lift(self.value_of(expr))
                total = value if total is None else total + value
        finally:
            self.position = saved
        return total

    # -- parts of F(X + A*S): by the leaves X and S, from four forward passes ---------------------

    def _sequence_part(self, node: Node, arg: Node, kind: str) -> np.ndarray:
        """For a polynomial F, with X and S independent leaves: const = F(0), input = F(X) − F(0),
        self = F(A S) − F(0), cross = F(X + A S) − F(X) − F(A S) + F(0) (every term of the expansion
        falls in exactly one class by which of the leaves it has)."""
        form = steered_form(arg.args[0])
        if form is None:
            raise StatementError(f"{node.value} expects F(X + A*S) with a scalar A times a sequence S; got '{arg.args[0].text}'")
        x_node, a_node, s_node, sign = form
        x = self._sequence(self.value_of(x_node), node.text)
        s = self._sequence(self.value_of(s_node), node.text)
        a = self.lift(self.value_of(a_node))
        a = a if sign > 0 else -a
        zero = self.numbers.zeros(x.shape)
        steer = s * _box(a)
        at_zero = self._run_F(zero, node)
        if kind == "const":
            return at_zero
        if kind == "input":
            return self._run_F(x, node) - at_zero
        if kind == "self":
            return self._run_F(steer, node) - at_zero
        return self._run_F(x + steer, node) - self._run_F(x, node) - self._run_F(steer, node) + at_zero


def _check_block(block: Any, x: np.ndarray, case: Any) -> None:
    """Refuse a block over a polynomial ring whose products could grow too large (see ATTENTION_TERMS)."""
    inner = getattr(block, "inner", block)
    t, d = _terms(x), case.d
    if isinstance(inner, Bilinear):
        size = inner.hidden * (inner.d_in * t) ** 2
        limit = 400_000
    elif isinstance(inner, FrozenAttention):
        size, limit = case.length * d * d * t, ATTENTION_TERMS
    else:
        size, limit = case.length * d ** 8 * t ** 5, ATTENTION_TERMS
    if size > limit:
        raise Unsupported(f"{inner.name} with generic weights could multiply out to about {float(size):.1e} terms "
                          f"(limit {limit:.0e}); list smaller sizes or lengths in [model]")


