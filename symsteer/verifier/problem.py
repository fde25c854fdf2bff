"""A claim as a problem to decide: the statement, its assumptions (substitutions and hypotheses),
the model shapes, the time limit; and the decision's record.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..errors import DeadlineError
from .evaluation import Case, Evaluator, SCALAR_NAMES, SEQUENCE_VARS, VECTOR_NAMES, point_env, symbolic_env
from .language import MODEL_NAMES, SEQUENCE_NAMES, Node, StatementError
from .propositions import Undefined, Unsupported

#: seconds a claim may take unless its file or the caller says otherwise
DEFAULT_TIMEOUT = 20.0


@dataclass(frozen=True)
class Decision:
    """What the mathematics says about one claim, before it is compared with the expected verdict."""

    found: str
    method: str
    scope: str
    detail: str
    evidence: dict = field(default_factory=dict)


# -- the time limit --------------------------------------------------------------------------


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`DeadlineError` inside the block after ``seconds`` (SIGALRM, main thread
    only; elsewhere the search loops check the clock themselves). The old handler comes back."""
    from .. import numbers

    saved = numbers.STOP
    if seconds > 0:  # an outer limit that ends sooner stays
        numbers.STOP = min(time.monotonic() + seconds, saved or float("inf"))
    try:
        yield from _alarm(seconds)
    finally:
        numbers.STOP = saved


def _alarm(seconds: float) -> Iterator[None]:
    usable = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if not usable or seconds <= 0:
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        if frame is not None and (frame.f_code.co_name == "__del__" or frame.f_code.co_filename.endswith("weakref.py")):
            # an exception raised in a finalizer or a weakref callback (run by the garbage
            # collector) is unraisable: Python prints and drops it, and the time limit would be
            # lost. Fire again a moment later, back in ordinary code.
            signal.setitimer(signal.ITIMER_REAL, 1e-3)
            return
        raise DeadlineError(f"time limit {seconds:g} s reached")

    old = signal.signal(signal.SIGALRM, fire)
    previous = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if previous[0] > 0:  # an outer timer was running: give it back what is left
            signal.setitimer(signal.ITIMER_REAL, max(previous[0] - seconds, 1e-3))


# -- the problem ------------------------------------------------------------------------------


@dataclass
class Problem:
    """A statement, its assumptions and the model shapes to decide it on."""

    statement: Node
    assumptions: tuple[Node, ...]
    cases: list[Case]
    stop: float  # time.monotonic() deadline for loops that cannot rely on SIGALRM
    substitutions: list[tuple[str, Node]] = field(default_factory=list)
    hypotheses: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        for node in self.assumptions:
            if "generic" in node.names():
                raise StatementError(f"the assumption '{node.text}' uses generic(...), a sentence about all weights and "
                                     "inputs, not a condition on them; expected it only as the whole statement")
            target = _substitution(node)
            if target is not None and target not in {n for n, _ in self.substitutions}:
                self.substitutions.append((target, node.args[1]))
            else:
                self.hypotheses.append(node)
        self.substitutions = _dependency_order(self.substitutions)
        names = set(self.statement.names())
        for node in self.assumptions:
            names |= node.names()
        bound = {n for n, _ in self.substitutions}
        self.vectors = [v for v in VECTOR_NAMES if v in names and v not in bound]
        self.scalars = [a for a in SCALAR_NAMES if a in names and a not in bound]
        self.sequences = [n for n in SEQUENCE_VARS if n in names and n not in bound]
        self.model = bool(names & (MODEL_NAMES | SEQUENCE_NAMES))
        if not self.model:  # without the model only the width d matters
            self.cases = list({c.d: c for c in reversed(self.cases)}.values())[::-1]

    def check_time(self) -> None:
        if time.monotonic() > self.stop:
            raise DeadlineError("time limit reached")

    # -- environments -------------------------------------------------------------------

    def symbolic(self, case: Case) -> Evaluator:
        env = symbolic_env(case, vectors=self.vectors, scalars=self.scalars, model=self.model, sequences=self.sequences)
        for name, node in self.substitutions:
            env.bind(name, node)
        return env

    def at(self, case: Case, point: dict[str, Any]) -> Evaluator:
        env = point_env(case, point, model=self.model)
        for name, node in self.substitutions:
            env.bind(name, node)
        return env

    def truth_at(self, case: Case, point: dict[str, Any], node: Node | None = None) -> bool | None:
        """The statement (or ``node``) at a point where every hypothesis holds; None when a
        hypothesis fails or something is undefined there."""
        try:
            env = self.at(case, point)
            if not all(env.value_of(h) for h in self.hypotheses):
                return None
            return bool(env.value_of(node or self.statement))
        except (Undefined, Unsupported, ZeroDivisionError):
            return None


def _substitution(node: Node) -> str | None:
    """``name == expr`` with a free vector or scalar name that does not occur in expr. A vector
    equal to a number (``x == 0``) is one too: entrywise, x is that number times ones."""
    if node.op != "==" or node.args[0].op != "name":
        return None
    name = node.args[0].value
    if name not in VECTOR_NAMES + SCALAR_NAMES + SEQUENCE_VARS or name in node.args[1].names():
        return None
    if name in SCALAR_NAMES and node.args[1].type not in ("int", "scalar"):
        return None
    return name


def _dependency_order(substitutions: list[tuple[str, Node]]) -> list[tuple[str, Node]]:
    """Substitutions ordered so that each is bound after the ones its expression uses
    (``s == t*x`` after ``t == 2``, whatever the file order); a cycle is a bad claim file."""
    pending = dict(substitutions)
    out: list[tuple[str, Node]] = []
    while pending:
        ready = [n for n, e in pending.items() if not (e.names() & set(pending))]
        if not ready:
            cycle = ", ".join(f"{n} == {e.text}" for n, e in pending.items())
            raise StatementError(f"the substitutions {cycle} depend on each other in a cycle; expected each name "
                                 "to be defined without itself")
        for n in ready:
            out.append((n, pending.pop(n)))
    return out
