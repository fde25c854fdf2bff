"""What a new user meets in the first hour: defaults, help texts and messages of the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from symsteer import Network, save_model
from symsteer.cli import run


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def call(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = run(args)
    out = capsys.readouterr()
    return code, out.out, out.err


# -- float inputs print as floats -------------------------------------------------------------


def test_float_weights_give_float_values_unless_exact_is_asked(capsys, tmp_path) -> None:
    args = ["expand", "--weights", "float", "--layers", "2", "--s", "1,2", "--x", "0.5,1"]
    code, out, _ = call(args, capsys)
    values = out[out.index("values"):]
    assert code == 0 and "/" not in values and len(values) < 2000
    code, exact, _ = call(args + ["--exact"], capsys)
    assert code == 0 and "/" in exact[exact.index("values"):]
    # a float64 model file: the same default
    save_model(Network.random(layers=1, width=2, hidden=2, kind="float", seed=0), tmp_path / "m.npz")
    code, out, _ = call(["expand", "--model", str(tmp_path / "m.npz"), "--s", "1,2", "--x", "1,1", "--format", "json"], capsys)
    assert code == 0 and all(isinstance(v, float) for v in json.loads(out)["values"]["0"]["total"])


def test_exact_weights_and_inputs_stay_exact(capsys) -> None:
    code, out, _ = call(["expand", "--weights", "rational", "--layers", "1", "--s", "1/3,2", "--x", "1,1"], capsys)
    assert code == 0 and "/" in out[out.index("values"):]
    code, out, _ = call(["expand", "--help"], capsys)
    assert "float64 when the weights are floats" in " ".join(out.split())


# -- short reprs, honest labels ---------------------------------------------------------------


def test_reprs_are_short_and_to_text_lists_the_terms() -> None:
    from symsteer import expand, load_model

    net = load_model(EXAMPLES / "digits.npz")  # 3504 float weights
    e = expand(net, steer_at=0)
    for text in (repr(net), str(net), repr(e), str(e), repr(net.layers[0])):
        assert len(text) < 300, text[:100]
    assert repr(e).startswith("Expansion(") and "5 terms" in repr(e)
    assert "alpha^1" in e.to_text()


def test_integer_weights_are_labelled_integer(capsys) -> None:
    code, out, _ = call(["expand", "--layers", "1"], capsys)
    assert code == 0 and "integer weights" in out.splitlines()[0]
    code, out, _ = call(["expand", "--layers", "1", "--weights", "rational"], capsys)
    assert code == 0 and "rational weights" in out.splitlines()[0]


# -- one convention for model files ------------------------------------------------------------

MODEL_COMMANDS = ["expand", "report", "check", "effect", "steer", "gate"]


@pytest.mark.parametrize("command", MODEL_COMMANDS)
def test_every_model_command_reads_files_the_same_way(command: str, capsys) -> None:
    code, out, _ = call([command, "--help"], capsys)
    text = " ".join(out.split())
    assert code == 0
    for option in ("--model", "--keys", "--layout", "--residual / --plain", "--steer-at"):
        if command in ("check", "gate") and option == "--steer-at":
            continue  # check runs every steering point; gate compares outputs
        assert option in text, (command, option)
    assert ".npz, .safetensors or a PyTorch state dict" in text and "bilinear-mlp" in text


def test_effect_takes_model_and_defaults_to_steer_at_zero(capsys) -> None:
    args = ["--s", str(EXAMPLES / "s_3_minus_8.npy"), "--format", "json"]
    code, out, err = call(["effect", "--model", str(EXAMPLES / "digits.npz"), *args], capsys)
    assert code == 0, err
    assert json.loads(out)["steer_at"] == 0
    code, _, err = call(["effect", *args], capsys)
    assert code == 2 and "--model" in err


def test_model_file_options_on_expand_check_and_report(tmp_path, capsys) -> None:
    digits = str(EXAMPLES / "digits.npz")
    code, out, _ = call(["expand", "--model", digits, "--layout", "symsteer", "--max-order", "1"], capsys)
    assert code == 0 and "embed (24, 64)" in out
    code, out, _ = call(["check", "--model", digits, "--layout", "symsteer"], capsys)
    assert code == 0 and "2 passed, 0 failed" in out
    code, _, err = call(["check", "--layout", "symsteer"], capsys)
    assert code == 2 and "need --model" in err
    code, _, err = call(["expand", "--keys", "k.toml"], capsys)
    assert code == 2 and "--keys needs --model" in err


# -- small things ------------------------------------------------------------------------------


def test_report_help_gives_its_residual_default_and_report_says_where_it_wrote(tmp_path, capsys) -> None:
    code, out, _ = call(["report", "--help"], capsys)
    assert code == 0 and "report: residual" in " ".join(out.split())
    code, _, err = call(["report", "--no-claims", "--max-order", "1", "-o", str(tmp_path / "r.tex")], capsys)
    assert code == 0 and f"wrote {tmp_path / 'r.tex'}" in err


def test_claims_text_shows_title_and_the_seeds_words(capsys) -> None:
    code, out, _ = call(["claims", "--only", "c01-homogeneity-biases"], capsys)
    assert code == 0 and "title: With biases a bilinear layer is not homogeneous" in out and "seed: “Bilinear(ax)" in out


def test_verbose_verify_lines_are_wrapped(capsys) -> None:
    code, out, _ = call(["verify", "-v", "--only", "c05-share-residual", "--only", "c10-direction-changes"], capsys)
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 100


def test_messages_use_the_flags_and_point_to_claims(capsys) -> None:
    code, _, err = call(["expand", "--layers", "12", "--residual"], capsys)
    assert code == 2 and "--max-order=512" in err and "max_order" not in err
    code, _, err = call(["expand", "--steer-at", "7"], capsys)
    assert code == 2 and err.startswith("error: --steer-at=7")
    code, _, err = call(["verify", "--only", "c01-homogenity"], capsys)
    assert code == 2 and "`symsteer claims` lists the ids" in err


def test_power_written_with_a_caret_says_use_double_star(tmp_path, capsys) -> None:
    claim = tmp_path / "c.toml"
    claim.write_text('id = "c"\ntitle = "t"\nquote = "q"\nstatement = "B(a*x) == a^2 * B(x)"\nexpected = "holds"\n'
                     '[model]\nlayers = [1]\nsizes = [[1, 1]]\n', encoding="utf-8")
    code, _, err = call(["verify", str(claim)], capsys)
    assert code == 3 and "use ** for powers" in err and "BitXor" not in err


def test_arrows_are_one_kind(capsys) -> None:
    code, out, _ = call(["expand", "--layers", "1"], capsys)
    assert code == 0 and "->" not in out and "x_0 → x_0 + alpha s" in out


def test_plot_without_matplotlib_fails_before_the_work(monkeypatch, capsys) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    code, out, err = call(["effect", "--model", str(EXAMPLES / "digits.npz"), "--s", str(EXAMPLES / "s_3_minus_8.npy"),
                           "--plot", "p.png"], capsys)
    assert code == 2 and "--plot needs matplotlib" in err and out == ""


def test_an_empty_selection_names_the_option(tmp_path, capsys) -> None:
    np.save(tmp_path / "none.npy", np.zeros((0, 64)))
    code, _, err = call(["steer", "--model", str(EXAMPLES / "digits.npz"), "--h", str(tmp_path / "none.npy"),
                         "--q", str(EXAMPLES / "test_inputs.npy"), "-o", str(tmp_path / "s.npy")], capsys)
    assert code == 2 and "--h" in err


def test_licence_file_matches_pyproject() -> None:
    import tomllib

    root = EXAMPLES.parent
    assert tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"] == "MIT"
    assert (root / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def test_effect_plot_is_labelled() -> None:
    pytest.importorskip("matplotlib")
    from symsteer import load_model
    from symsteer.effect import _figure, effect

    net = load_model(EXAMPLES / "digits.npz")
    report = effect(net, np.load(EXAMPLES / "s_3_minus_8.npy"), steer_at=0, inputs=np.load(EXAMPLES / "test_inputs.npy")[:3])
    fig = _figure(report, sample=0, top=3)
    logits, parts = fig.axes[:2]
    assert "alpha" in logits.get_xlabel() and logits.get_ylabel() == "logit"
    assert logits.get_legend().get_title().get_text() == "class"
    assert "alpha" in parts.get_xlabel() and parts.get_ylabel()
    assert any(t.get_text().startswith("self > cross") for t in parts.texts)  # where self overtakes cross
    colorbars = [ax for ax in fig.axes if ax.get_ylabel() == "input weight"]
    assert len(colorbars) == 3


def test_examples_readme_commands_run_from_shipped_files(tmp_path, monkeypatch, capsys) -> None:
    import re
    import shlex

    text = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip().startswith("symsteer ")]
    assert any(c.startswith("symsteer steer ") for c in commands)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(EXAMPLES)
    for command in commands:
        code, out, err = call(shlex.split(command)[1:], capsys)
        assert code == 0, (command, err)
    assert (tmp_path / "s.npy").exists()


def test_training_script_uses_one_blas_thread_and_states_its_time() -> None:
    script = (EXAMPLES / "train_digits.py").read_text(encoding="utf-8")
    assert 'os.environ.setdefault(_var, "1")' in script and script.index("setdefault") < script.index("import numpy")
    assert "about 3 s" not in (EXAMPLES / "README.md").read_text(encoding="utf-8")


def test_readme_documents_every_command(capsys) -> None:
    from symsteer.cli import main

    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    for name in ("expand", "check", "report", "verify", "claims", "effect", "steer"):
        assert name in main.commands and f"symsteer {name}" in readme, name


def test_help_does_not_load_sympy_or_flint():
    """`symsteer --help` answers without importing the algebra (it took 0.6 s with it, 0.12 s
    without): the package's public names load on first use."""
    import subprocess
    import sys

    code = ("import sys; from symsteer.cli import run; run(['--help']); "
            "print(sorted(m for m in ('sympy', 'flint', 'symsteer.numbers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    import symsteer

    assert symsteer.expand.__module__ == "symsteer.expansion" and "verify" in dir(symsteer)
