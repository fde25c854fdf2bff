"""What the keys of a research state dict say: whether they are a layout's, and its numbered layers.

Every research layout names its parameters ``<prefix>.<i>.<role>`` plus a few top-level keys
(an embedding, an unembedding); these two readers are written once for all of them.

>>> import re
>>> key = re.compile(r"layers\\.(\\d+)\\.(w|v)$")
>>> is_layout({"embed", "layers.0.w", "layers.0.v"}, required={"embed"}, allowed={"embed"}, pattern=key)
True
>>> [sorted(layer) for layer in numbered({"embed": 0, "layers.0.w": 1, "layers.1.w": 2}, key, allowed={"embed"},
...                                       source="m.npz", what="a toy", expected="layers.{i}.w")]
[['w'], ['w']]
"""

from __future__ import annotations

import re
from typing import Any, Callable, Collection, Mapping

from .errors import InputFileError

__all__ = ["is_layout", "numbered", "biases", "head_problem"]


def is_layout(keys: Collection[str], *, required: Collection[str], allowed: Collection[str], pattern: re.Pattern[str]) -> bool:
    """True when ``keys`` hold every ``required`` key and at least one numbered key (``pattern``),
    and nothing that is neither numbered nor ``allowed``."""
    keys = set(keys)
    return set(required) <= keys and any(pattern.match(k) for k in keys) and all(k in allowed or pattern.match(k) for k in keys)


def numbered(arrays: Mapping[str, Any], pattern: re.Pattern[str], *, allowed: Collection[str], source: str, what: str,
             expected: str, role: Callable[[re.Match[str]], str] = lambda m: m.group(2)) -> list[dict[str, Any]]:
    """The layers 0 … n−1 of a state dict, each a dict role → array: ``pattern`` matches a layer's
    keys with the index as group 1 (the role is group 2 unless ``role`` says otherwise). A key that
    is neither numbered nor ``allowed`` is refused, naming it and what the layout (``what``)
    ``expected``; so is a gap in the numbering."""
    found: dict[int, dict[str, Any]] = {}
    for key in arrays:
        match = pattern.match(key)
        if match:
            found.setdefault(int(match.group(1)), {})[role(match)] = arrays[key]
        elif key not in allowed:
            raise InputFileError(f"{source}: key {key!r} is not part of {what}; expected {expected}")
    if not found or sorted(found) != list(range(len(found))):
        raise InputFileError(f"{source}: layers {sorted(found)}; expected layers numbered 0 … n−1 without gaps ({expected})")
    return [found[i] for i in range(len(found))]


def biases(layers: list[Mapping[str, Any]], roles: Collection[str], *, name: Callable[[int], str], source: str,
           said: Any = None, flag: str = "bias") -> bool:
    """Whether ``layers`` carry the biases ``roles``: all of them in every layer, or none anywhere
    (the research classes make them together from one flag and load strictly). A partial set is
    refused naming the first key missing, and so is a config ``flag`` (a bool ``said``) that
    disagrees; a missing bias is never taken as zero."""
    present = [[r in parts for r in roles] for parts in layers]
    some = any(map(any, present))
    for i, has in enumerate(present):
        if some and not all(has):
            gone = [r for r, h in zip(roles, has) if not h][0]
            raise InputFileError(f"{source}: {name(i)}.{gone} is missing but the model has other biases; "
                                 f"expected {', '.join(roles)} in every layer, or none")
    if isinstance(said, bool) and said != some:
        raise InputFileError(f"{source}: config.json says {flag}={str(said).lower()} but the file has "
                             f"{'biases' if some else 'no biases'}")
    return some


def head_problem(heads: int, d: int) -> str | None:
    """Why ``heads`` RoPE heads do not fit a width ``d`` (None when they do)."""
    from .files import echo

    if d % heads:
        return f"n_head={echo(heads)} does not divide d_model={d}; expected a divisor of it"
    if (d // heads) % 2:
        return f"n_head={heads} with d_model={d} gives heads of odd width {d // heads}; expected an even width (RoPE rotates halves)"
    return None
