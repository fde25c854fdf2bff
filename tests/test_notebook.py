"""The digits notebook runs from top to bottom (in a copy of examples/, so nothing is written there)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NEEDS = ("digits.ipynb", "digits.npz", "train_digits.py", "s_3_minus_8.npy", "test_inputs.npy")


def test_digits_notebook_runs(tmp_path):
    for module, why in (("nbclient", "nbclient runs notebooks"), ("nbformat", "nbformat reads them"),
                        ("ipykernel", "ipykernel is the kernel"), ("sklearn", "scikit-learn ships the digits")):
        pytest.importorskip(module, reason=f"{module} is not installed ({why}); pip install nbclient nbformat ipykernel scikit-learn")
    import nbformat
    from nbclient import NotebookClient

    for name in NEEDS:
        shutil.copy(EXAMPLES / name, tmp_path / name)
    before = {p.name for p in tmp_path.iterdir()}
    nb = nbformat.read(tmp_path / "digits.ipynb", as_version=4)
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)
    assert "test accuracy 0.9733 on 450 images" in text
    assert "largest relative error, polynomial vs forward pass" in text
    assert "exact_mismatches=0" in text
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs if out.output_type == "error"]
    assert not errors
    # running it leaves nothing behind in the folder (plots go to a temporary one)
    assert {p.name for p in tmp_path.iterdir()} - before <= {"__pycache__"}


def test_digits_notebook_is_committed_with_its_outputs():
    """A reader on GitHub sees the results: every code cell was run, in order, without errors."""
    import json

    nb = json.loads((EXAMPLES / "digits.ipynb").read_text(encoding="utf-8"))
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    assert [cell["execution_count"] for cell in code] == list(range(1, len(code) + 1))
    assert all(cell["outputs"] for cell in code[1:])  # the first cell only imports
    assert not [out for cell in code for out in cell["outputs"] if out["output_type"] == "error"]
    assert any("image/png" in out.get("data", {}) for cell in code for out in cell["outputs"])



def test_tiny_lm_notebook_runs(tmp_path):
    for module in ("nbclient", "nbformat", "ipykernel"):
        pytest.importorskip(module, reason=f"{module} is not installed; pip install nbclient nbformat ipykernel")
    import nbformat
    from nbclient import NotebookClient

    shutil.copy(EXAMPLES / "tiny_lm.ipynb", tmp_path / "tiny_lm.ipynb")
    shutil.copytree(EXAMPLES / "tiny_lm", tmp_path / "tiny_lm")
    nb = nbformat.read(tmp_path / "tiny_lm.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs if out.output_type == "error"]
    assert not errors
    text = "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)
    assert "prediction at the last position: A3" in text
    assert "exact_mismatches=0" in text
    assert "all flips and iso-KL α checked by forward passes: yes" in text
    assert "A3 → A0" in text  # the steering vector does what it was built for, at an exact root
