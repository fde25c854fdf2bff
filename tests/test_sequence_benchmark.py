"""benchmarks/sequence.py --quick: its methods agree (nested jvp, sympy by hand); times are never asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import sequence as bench  # noqa: E402


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_quick_run_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--quick", "--jvp-budget", "0"]) == 0
    out = capsys.readouterr().out
    assert "identical coefficients" in out and "agrees to" in out
