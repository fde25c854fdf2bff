"""What a point shows: both sides of the statement, exact, as text and as data for the evidence files.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from .evaluation import Case, Evaluator
from .language import Node
from .problem import Problem
from .propositions import Undefined, Unsupported
from .limits import LimitVal, SurdVal
from .values import ArgmaxVal, DegreeVal, EntropyVal, SoftmaxVal, TransVec

# -- evidence ---------------------------------------------------------------------------------


def _text(v: Any) -> Any:
    """Exact, JSON-able text of a value: 'p/q' strings, nested lists, sets as sorted lists."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, np.ndarray):
        return [_text(e) for e in v]
    if isinstance(v, (list, tuple)):
        return [_text(e) for e in v]
    if isinstance(v, frozenset):
        return sorted(int(i) for i in v)
    if isinstance(v, SoftmaxVal):
        return {"softmax": _text(v.logits), "approx": [_iv_text(p) for p in v.intervals()]}
    if isinstance(v, TransVec):
        return {"approx": [_iv_text(p) for p in v.items]}
    if isinstance(v, EntropyVal):
        from .values import _iv_entropy

        return {"entropy_of_softmax": _text(v.logits), "approx": _iv_text(_iv_entropy(v.logits))}
    if isinstance(v, ArgmaxVal):
        return _text(v.entries)
    if isinstance(v, DegreeVal):
        degrees = [p for p, cs in v.by_power.items() if any(c != 0 for c in cs)]
        return max(degrees) if degrees else "-oo (the zero polynomial)"
    if isinstance(v, SurdVal):  # a vector over a square root, exactly
        return {"vector": _text(v.v), "over_sqrt_of": _text(v.r2)}
    if isinstance(v, LimitVal):
        return [("inf" if e > 0 else "-inf") if isinstance(e, float) else _text(e) for e in v.entries]
    if isinstance(v, Fraction):
        return str(v)
    if hasattr(v, "p") and hasattr(v, "q"):
        return str(Fraction(int(v.p), int(v.q)))
    return str(v)


def _iv_text(x: Any) -> str:
    return f"{float(x.mid):.6g}"


def _show(v: Any) -> str:
    t = _text(v)
    if isinstance(t, list):
        return "[" + ", ".join(_show_item(e) for e in t) + "]"
    if isinstance(t, dict):
        if "softmax" in t:
            return f"softmax({_show(t['softmax'])}) ≈ [{', '.join(t['approx'])}]"
        if "entropy_of_softmax" in t:
            return f"≈ {t['approx']}"
        return "≈ [" + ", ".join(t["approx"]) + "]"
    return str(t)


def _show_item(e: Any) -> str:
    return "[" + ", ".join(_show_item(x) for x in e) + "]" if isinstance(e, list) else str(e)


def _operands(node: Node) -> list[Node]:
    """The sub-expressions worth printing next to a counterexample."""
    if node.op in ("==", "!=", "<", "<=", ">", ">="):
        return [a for a in node.args if a.op not in ("num",)]
    if node.op in ("not", "and"):
        return [o for a in node.args for o in _operands(a)]
    if node.op == "call" and node.type == "prop":
        if node.value in ("depends_on", "degree_in", "is_polynomial_in", "continuous_in"):
            return [node.args[0]]
        return [o for a in node.args for o in (_operands(a) if a.type == "prop" else [a]) if o.op not in ("name", "str")]
    return []


def describe_point(problem: Problem, case: Case, point: dict[str, Any]) -> tuple[str, dict]:
    """(text, evidence) for a point: the model, the inputs and both sides of the statement."""
    env = problem.at(case, point)
    pieces = [f"{name}={_show_item(_text_nested(value))}" for name, value in point.items()]
    for name, node in problem.substitutions:
        pieces.append(f"{name}={_show(env.values[name])}")
    values = []
    for node in {n.text: n for n in _operands(problem.statement)}.values():
        try:
            value = env.value_of(node)
        except (Undefined, Unsupported, ZeroDivisionError) as exc:
            values.append({"expression": node.text, "value": None, "note": str(exc)})
            continue
        values.append({"expression": node.text, "value": _text(value)})
    for node in problem.statement.walk():
        if node.op == "call" and node.value == "depends_on":
            values += _depends_witness(env, node)
    text = f"{case.describe(model=problem.model)}: " + ", ".join(pieces)
    if values:
        text += "; " + "; ".join(f"{v['expression']} = {_show_value(v['value'])}" for v in values)
    evidence = {
        "case": {"layers": case.depth, "d": case.d, "h": case.h, "residual": case.residual, "bias": case.bias,
                 "unembed": case.unembed, "m": case.m, "embed": case.embed, **_sequence_case(case),
                 **({"norm": case.norm, "final_norm": case.final_norm, "gain": case.gain} if case.norm or case.final_norm else {})},
        "point": {name: _text_nested(value) for name, value in point.items()},
        "substituted": {name: _text(env.values[name]) for name, _ in problem.substitutions},
        "values": values,
    }
    return text, evidence


def _sequence_case(case: Case) -> dict:
    """What a replay needs to rebuild a sequence model: its family, T, q and the rotary tables
    (float32 values, exactly)."""
    if case.seq is None:
        return {}
    from .sequence_functions import rotary

    out = {"sequence": case.seq.to_dict(), "length": case.length, "q": case.q}
    rot = rotary(case.seq, case.d)
    if rot is not None:
        cos, sin = rot.tables(case.length)
        out["rope"] = {"cos": [[str(Fraction(float(v))) for v in row] for row in cos],
                       "sin": [[str(Fraction(float(v))) for v in row] for row in sin]}
    return out


def _show_value(t: Any) -> str:
    if isinstance(t, list):
        return "[" + ", ".join(_show_value(e) for e in t) + "]"
    if isinstance(t, dict) and "over_sqrt_of" in t:
        return f"{_show_value(t['vector'])} / √({t['over_sqrt_of']})"
    if isinstance(t, dict):
        if "softmax" in t:
            return f"softmax({_show_value(t['softmax'])}) ≈ [{', '.join(t['approx'])}]"
        if "entropy_of_softmax" in t:
            return f"≈ {t['approx']}"
        return "≈ [" + ", ".join(t["approx"]) + "]"
    return str(t)


def _text_nested(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_text_nested(v) for v in value]
    return str(Fraction(value))



def _depends_witness(env: Evaluator, node: Node) -> list[dict]:
    """Two values of the bound vector that give different values of the expression."""
    expr, var = node.args
    current = env.values.get(var.value)
    if current is None:
        return []
    width = current.size if isinstance(current, np.ndarray) else None
    from ..numbers import EXACT, object_array

    def trial(values: list[int]) -> Any:
        saved = env.values[var.value]
        env.values[var.value] = object_array([EXACT.entry(v) for v in values], current.shape) if width else EXACT.entry(values[0])
        try:
            return _text(env.value_of(expr))
        finally:
            env.values[var.value] = saved

    n = width or 1
    base = [0] * n
    first = trial(base)
    for i in range(n):
        for sign in (1, -1, 2):
            other = [0] * n
            other[i] = sign
            value = trial(other)
            if value != first:
                fmt = (lambda v: _show_value(_text_nested(v))) if width else (lambda v: str(v[0]))
                return [{"expression": f"{expr.text} at {var.value}={fmt(base)}", "value": first},
                        {"expression": f"{expr.text} at {var.value}={fmt(other)}", "value": value}]
    return []
