"""The large-α limit of a steered output: ``limit(f(x + alpha*s), alpha)`` and ``u / rms(z)``.

Through bilinear layers, pre-norm blocks (an RMSNorm with ε = 0 before each layer) and linear
maps the stream before the final norm is an exact rational function ``N(α) / D(α)`` (each
block's ``rational``). Its behaviour as α → +∞ is read off the leading coefficients:

- at an exact point, from the actual degrees: each output entry tends to the ratio of leading
  coefficients, 0, or ±∞; with a final RMSNorm the output tends to ``U (g ⊙ c) / rms(c)``, c the
  leading coefficient vector of the stream (the norm is scale invariant), kept as a vector over a
  square root (:class:`SurdVal`) so that nothing is rounded;
- over generic weights, only with a certificate that holds for every weight and input: the stream
  is ``α z₁ + O(1)`` when ``N``'s top coefficient is ``z₁`` times ``D``'s and ``D``'s top
  coefficient is ``c ‖z₁‖^(2k)`` with a constant ``c > 0`` (nonzero wherever ``z₁ ≠ 0``, the
  condition the comparison carries). Then the final norm gives ``U (g ⊙ z₁) / rms(z₁)``.
  Anything else has no symbolic meaning here: the search decides it at exact points.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..blocks import Linear, RMSNorm
from ..numbers import PolyRing
from .language import Node, StatementError
from .propositions import All, Sign, Undefined, Unsupported
from .values import INEXACT, _constant_value, _fraction, _is_constant, _numerator

__all__ = ["LimitFunctions", "LimitVal", "RmsVal", "SurdVal"]


@dataclass(frozen=True)
class RmsVal:
    """``rms(z) = √r2``, only ever a divisor."""

    r2: Any


@dataclass(frozen=True)
class SurdVal:
    """The vector ``v / √r2`` (r2 > 0); ``condition``: a polynomial assumed positive (‖z₁‖²)."""

    v: np.ndarray
    r2: Any
    condition: Any = None

    def __neg__(self) -> SurdVal:
        return SurdVal(np.negative(self.v), self.r2, self.condition)


@dataclass(frozen=True)
class LimitVal:
    """A limit entry by entry: exact numbers, or ``±inf`` (floats) where the entry diverges."""

    entries: tuple

    def __neg__(self) -> LimitVal:
        return LimitVal(tuple(-e for e in self.entries))


def _sign(v: Any) -> int:
    return (v > 0) - (v < 0)


class LimitFunctions:
    """Methods of :class:`.evaluation.Evaluator` (a mixin)."""

    def _fn_rms(self, node: Node, arg: Node) -> RmsVal:
        z = self.lift(self.value_of(arg))
        if not isinstance(z, np.ndarray) or z.ndim != 1:
            raise StatementError(f"'{node.text}' needs a vector")
        total = self.numbers.entry(0)
        for e in z:
            total = total + e * e
        return RmsVal(total * self.numbers.entry(Fraction(1, len(z))))

    def _fn_limit(self, node: Node, expr: Node, var: Node) -> Any:
        if not (expr.op == "call" and expr.value == "f" and len(expr.args) == 1):
            raise StatementError(f"limit expects f(z) with z linear in {var.value}, such as limit(f(x + alpha*s), alpha); got '{expr.text}'")
        if self.network is None or self.case.embed:
            raise StatementError("limit(f(…), alpha) needs a network of at least one layer (and no embedding)")
        inner, z, gens = self._bound(expr.args[0], var)
        ring = inner.numbers
        if not isinstance(z, np.ndarray) or z.ndim != 1 or len(z) != self.network.d_in:
            raise StatementError(f"'{expr.text}': f needs a vector of width {self.network.d_in}")
        by_power = [inner._split(ring, ring.entry(0) + e, gens) for e in z]
        if any(sum(k) > 1 for split in by_power for k in split):
            raise Unsupported(f"'{expr.text}': limit is written for a stream linear in {var.value}")
        zero = ring.entry(0)
        num = np.empty((2, len(z)), dtype=object)
        for i, split in enumerate(by_power):
            num[0, i] = next((c for k, c in split.items() if sum(k) == 0), zero)
            num[1, i] = next((c for k, c in split.items() if sum(k) == 1), zero)
        den = np.empty(1, dtype=object)
        den[0] = ring.entry(1)
        blocks = list(self.network.blocks)
        head: list[Any] = []
        norm = None
        while blocks and isinstance(blocks[-1], Linear):
            head.insert(0, blocks.pop())
        if blocks and isinstance(blocks[-1], RMSNorm):
            norm = blocks.pop()
        else:
            blocks += head
            head = []
        z1 = num[1]
        for block in blocks:
            num, den = block.rational(num, den, numbers=ring)
        if self.exact:
            return self._limit_at_point(ring, num, den, norm, head)
        return self._limit_certified(num, den, z1, norm, head, expr)

    def _limit_at_point(self, ring: PolyRing, num: np.ndarray, den: np.ndarray, norm: Any, head: list[Any]) -> Any:
        """Every coefficient is a number here: the degrees are the actual ones."""
        value = lambda e: _constant_value(ring, ring.entry(0) + e)  # noqa: E731
        N = [[value(e) for e in row] for row in num]
        D = [value(e) for e in den]
        dD = max((i for i, e in enumerate(D) if e != 0), default=None)
        if dD is None:
            raise Undefined("the steered stream's denominator vanishes for every alpha")
        if norm is not None:
            dN = max((i for i, row in enumerate(N) if any(e != 0 for e in row)), default=None)
            if dN is None:
                raise Undefined("the stream before the final norm is 0 for every alpha: the norm is undefined")
            c = self.numbers.array(np.array([e / D[dD] for e in N[dN]], dtype=object))
            v, r2 = norm.at_infinity(c, numbers=self.numbers)
            for block in head:
                v = block.forward(v, numbers=self.numbers)
            return SurdVal(v, r2)
        out = []
        for k in range(len(N[0])):
            column = [row[k] for row in N]
            dN = max((i for i, e in enumerate(column) if e != 0), default=None)
            if dN is None or dN < dD:
                out.append(Fraction(0))
            elif dN == dD:
                out.append(_fraction(column[dN]) / _fraction(D[dD]))
            else:
                out.append(float("inf") * _sign(_fraction(column[dN]) / _fraction(D[dD])))
        return LimitVal(tuple(out))

    def _limit_certified(self, num: np.ndarray, den: np.ndarray, z1: np.ndarray, norm: Any, head: list[Any],
                         expr: Node) -> SurdVal:
        """Over generic values: the certificate of the module's docstring, or Unsupported."""
        ring = self.numbers
        why = f"'{expr.text}': no certificate that the stream is alpha z + O(1) for every weight and input"
        if norm is None or len(num) != len(den) + 1:
            raise Unsupported(why)
        top, lead = num[-1], den[-1]
        if any(_numerator(a - b * lead) != 0 for a, b in zip(top, z1)):
            raise Unsupported(why)
        n2 = ring.entry(0)
        for e in z1:
            n2 = n2 + e * e
        rest = lead
        while not _is_constant(rest):  # lead = c (‖z₁‖²)^k exactly, c a constant
            try:
                rest = rest / n2
            except INEXACT:  # not a multiple of ‖z₁‖²: no certificate
                raise Unsupported(why) from None
            if rest == 0:
                raise Unsupported(why)
        if _constant_value(ring, rest) <= 0:
            raise Unsupported(why)
        v, r2 = norm.at_infinity(z1, numbers=ring)
        for block in head:
            v = block.forward(v, numbers=ring)
        return SurdVal(v, r2, condition=n2)

    # -- comparisons ---------------------------------------------------------------------------

    def _limit_compare(self, op: str, left: Any, right: Any, node: Node) -> Any:
        if op not in ("==", "!="):
            raise StatementError(f"'{node.text}': a limit compares with == or != only")
        shapes = [_limit_shape(v, node) for v in (left, right)]
        if shapes[0] != shapes[1]:
            # values of different widths are never equal (as in every other comparison)
            return self.logic.truth(op == "!=", f"the two sides have different shapes {shapes[0]} and {shapes[1]}", node.text)
        if not self.exact:
            if op == "!=" or not (isinstance(left, SurdVal) and isinstance(right, SurdVal)):
                raise Unsupported(f"'{node.text}': decided at exact points only")
            # identical vector and radicand: the same value (a sufficient condition)
            polys = [_numerator(a - b) for a, b in zip(left.v, right.v)] + [_numerator(left.r2 - right.r2)]
            same = self._zero(polys, node, why="the same vector over the same square root")
            conditions = [Sign(c, True, self.numbers, text="the steering direction is not 0") for c in (left.condition, right.condition)
                          if c is not None]
            return All((same, *conditions), text=node.text) if conditions else same
        a, b = (self._limit_entries(v) for v in (left, right))
        if len(a) != len(b):
            return op == "!="
        same = all(_equal(p, q) for p, q in zip(a, b))
        return same if op == "==" else not same

    def _limit_entries(self, v: Any) -> list[tuple]:
        """Entries as (kind, …): ('num', q), ('inf', sign) or ('surd', v_i, r2)."""
        if isinstance(v, SurdVal):
            r2 = _fraction(v.r2)
            if r2 <= 0:
                raise Undefined("rms of a zero vector")
            return [("surd", _fraction(e), r2) for e in v.v]
        if isinstance(v, LimitVal):
            return [("inf", _sign(e)) if isinstance(e, float) else ("num", _fraction(e)) for e in v.entries]
        if isinstance(v, np.ndarray) and v.ndim == 1:
            return [("num", _fraction(e)) for e in v]
        raise StatementError("a limit compares with a vector or u / rms(z)")


def _limit_shape(v: Any, node: Node) -> tuple[int, ...]:
    """The shape of one side of a limit comparison: a vector, never a scalar."""
    shape = np.shape(v.v) if isinstance(v, SurdVal) else (len(v.entries),) if isinstance(v, LimitVal) else np.shape(v)
    if len(shape) != 1:
        raise StatementError(f"'{node.text}': a limit compares vectors (u / rms(z), U @ z, …); got a value of shape {shape}")
    return shape


def _equal(p: tuple, q: tuple) -> bool:
    """Two entries equal exactly: a surd v/√r against a number or another surd by their squares and signs."""
    if p[0] == "inf" or q[0] == "inf":
        return p == q
    def parts(e: tuple) -> tuple[Fraction, Fraction]:  # value² and sign
        return (e[1] * e[1] / e[2], _sign(e[1])) if e[0] == "surd" else (e[1] * e[1], _sign(e[1]))
    return parts(p) == parts(q)
