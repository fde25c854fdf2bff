"""verify --evidence writes one file per claim, and tools/replay.py (numpy, fractions and sympy
only, nothing from symsteer) replays every one of the built-in claims."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import pytest

from symsteer import cli

REPLAY = Path(__file__).resolve().parent.parent / "tools" / "replay.py"


def _checker():
    spec = importlib.util.spec_from_file_location("replay_checker", REPLAY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_checker_imports_nothing_from_symsteer():
    tree = ast.parse(REPLAY.read_text(encoding="utf-8"))
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert modules <= {"__future__", "ast", "json", "math", "random", "sys", "fractions", "pathlib", "sympy", "mpmath", "numpy"}


@pytest.fixture(scope="module")
def evidence(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("evidence")
    assert cli.run(["verify", "--evidence", str(folder), "-o", str(folder / "verdicts.txt")]) == 0
    return folder


def test_one_file_per_built_in_claim(evidence):
    from symsteer.claims import load_claims

    assert {p.stem for p in evidence.glob("*.json")} == {c.id for c in load_claims()}
    record = json.loads((evidence / "c01-homogeneity-biases.json").read_text())
    assert record["found"] == "fails" and set(record["evidence"]["point"]) >= {"W0", "V0", "P0", "b0", "c0", "x", "a"}


def test_the_checker_replays_every_built_in_claim(evidence, capsys):
    assert _checker().main([str(evidence)]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and out.count(": ok:") >= 66


def test_a_tampered_counterexample_does_not_replay(evidence, tmp_path, capsys):
    record = json.loads((evidence / "c01-homogeneity-biases.json").read_text())
    point = record["evidence"]["point"]
    point["b0"], point["c0"] = ["0"], ["0"]  # without biases B(a x) = a² B(x): no longer a counterexample
    (tmp_path / "c01.json").write_text(json.dumps(record))
    assert _checker().main([str(tmp_path)]) == 1
    assert "FAILED" in capsys.readouterr().out
