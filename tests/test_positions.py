"""Steer sets: parsing, resolution against T, and the boundaries users trip on."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from symsteer.errors import ShapeError, SymsteerError
from symsteer.positions import SteerSet, steer_direction

RESOLVED = [
    ("all", 1, (0,)),
    ("all", 4, (0, 1, 2, 3)),
    ("last", 1, (0,)),
    ("last", 4, (3,)),
    ("from:0", 3, (0, 1, 2)),
    ("from:2", 3, (2,)),  # the last position only
    ("from:1", 4, (1, 2, 3)),
    ("0", 1, (0,)),  # first position of the shortest sequence
    ("3,0", 4, (0, 3)),  # first and last, order free
    (" 1 , 2 ", 4, (1, 2)),
    ("ALL", 2, (0, 1)),
    ("From: 1", 3, (1, 2)),
]


@pytest.mark.parametrize("text, T, expected", RESOLVED)
def test_resolve(text: str, T: int, expected: tuple[int, ...]) -> None:
    steer = SteerSet.parse(text)
    assert steer.resolve(T) == expected
    assert steer.first(T) == expected[0]
    assert steer.mask(T).tolist() == [t in expected for t in range(T)]
    # the canonical text parses back to the same set
    assert SteerSet.parse(str(steer)) == steer


REFUSED_SYNTAX = [
    ("", "empty"),
    ("   ", "empty"),
    ("first", "'first' is not a position"),
    ("-1", "position -1 is negative"),
    ("from:-2", "position -2 is negative"),
    ("from:", "'' is not a position"),
    ("1,,2", "'' is not a position"),
    ("1.5", "'1.5' is not a position"),
    ("2,1,2", "position(s) 2 more than once"),
    ("0,0", "position(s) 0 more than once"),
]


@pytest.mark.parametrize("text, message", REFUSED_SYNTAX)
def test_refused_syntax(text: str, message: str) -> None:
    with pytest.raises(ShapeError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        SteerSet.parse(text)
    assert repr(text) in str(info.value) or text.strip() == ""


REFUSED_RANGE = [
    ("from:3", 3, "positions='from:3' is empty for a sequence of T=3 positions"),
    ("from:7", 3, "is empty for a sequence of T=3"),
    ("3", 3, r"position\(s\) 3 out of range for a sequence of T=3 positions \(0 … 2\)"),
    ("0,5,9", 4, r"position\(s\) 5, 9 out of range"),
]


@pytest.mark.parametrize("text, T, message", REFUSED_RANGE)
def test_refused_range(text: str, T: int, message: str) -> None:
    steer = SteerSet.parse(text)
    with pytest.raises(ShapeError, match=message):
        steer.resolve(T)


@pytest.mark.parametrize("T", [0, -1, True, 2.0])
def test_bad_length(T: object) -> None:
    with pytest.raises(ShapeError, match="sequence length T="):
        SteerSet.parse("all").resolve(T)  # type: ignore[arg-type]


def test_of() -> None:
    assert SteerSet.of(2) == SteerSet("list", indices=(2,))
    assert SteerSet.of([3, 1]) == SteerSet("list", indices=(1, 3))
    assert SteerSet.of(np.array([0, 2])).resolve(3) == (0, 2)
    same = SteerSet.parse("last")
    assert SteerSet.of(same) is same
    for bad, message in [([], "empty"), ([1, 1], "more than once"), ([True], "not an integer"), (-1, "negative"),
                         ([0.5], "not an integer"), (None, "expected 'all'"), (True, "expected 'all'")]:
        with pytest.raises(ShapeError, match=message):
            SteerSet.of(bad)  # type: ignore[arg-type]


def test_frozen_and_validated() -> None:
    steer = SteerSet.parse("1,2")
    with pytest.raises(AttributeError):
        steer.kind = "all"  # type: ignore[misc]
    with pytest.raises(ShapeError):
        SteerSet("list", indices=(2, 1))
    with pytest.raises(ShapeError):
        SteerSet("middle")  # type: ignore[arg-type]
    assert issubclass(ShapeError, SymsteerError)


def test_direction_one_vector() -> None:
    d = steer_direction("from:1", [Fraction(1, 2), 3], length=3, width=2)
    assert d.tolist() == [[0, 0], [Fraction(1, 2), 3], [Fraction(1, 2), 3]]
    assert steer_direction("all", np.array([1.0, -1.0]), length=2, width=2).dtype == np.float64


def test_direction_per_position() -> None:
    S = np.array([[0, 0], [1, 2], [3, 4]])
    assert steer_direction("from:1", S, length=3, width=2).tolist() == S.tolist()
    assert steer_direction("all", S, length=3, width=2).tolist() == S.tolist()
    # a nonzero row outside the set would be dropped silently: refused, naming the row
    with pytest.raises(ShapeError, match=r"nonzero rows at position\(s\) 1, outside positions='last'"):
        steer_direction("last", S, length=3, width=2)


@pytest.mark.parametrize("shape", [(3,), (2, 2), (3, 3), (1, 3, 2)])
def test_direction_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ShapeError, match="s has shape"):
        steer_direction("all", np.ones(shape), length=3, width=2)
