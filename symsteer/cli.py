"""The ``symsteer`` command: options in, one library call, output out.

Exit codes: 0 ok · 1 a check failed, a verdict differs or --timeout ran out · 2 usage error ·
3 bad input file · 4 internal error (a bug) · 5 environment (full disk, out of memory) ·
130 interrupted · 143 terminated (SIGTERM).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, Callable

import click

from symsteer import __version__
from symsteer.sequence_cli import sequence_options

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BAD_FILE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_ENVIRONMENT, EXIT_TERMINATED = 5, 143


class Seconds(click.ParamType):
    """A time limit: a finite number of seconds, 0 < t ≤ ``most`` (inf, nan, 0, negatives and
    1e300 are usage errors before any work: a timer cannot wait that long)."""

    name = "seconds"

    def __init__(self, most: float) -> None:
        self.most = most

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not 0 < seconds <= self.most:  # also false for nan
            self.fail(f"{value!r}; expected a number of seconds, 0 < t ≤ {self.most:g}", param, ctx)
        return seconds


#: a whole command may run a week; a claim an hour (as in a claim file's ``timeout``)
COMMAND_SECONDS, CLAIM_SECONDS = Seconds(7 * 24 * 3600.0), Seconds(3600.0)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(version=__version__, message="symsteer %(version)s")
@click.option("--timeout", type=COMMAND_SECONDS, metavar="SECONDS",
              help="Stop the whole command after this many seconds (exit 1).")
def main(timeout: float | None) -> None:
    """Exact steering expansions for networks of bilinear layers.

    Exit codes: 0 ok, 1 a check failed, a verdict differs or --timeout ran out,
    2 usage error, 3 bad input file, 4 internal error (a bug: please report it),
    5 environment (full disk, out of memory), 130 interrupted, 143 terminated.
    """
    if timeout is not None:
        _start_watchdog(timeout)


_TIMED_OUT: list[float] = []


def _start_watchdog(seconds: float) -> None:
    """Interrupt the main thread after ``seconds``; ``run`` reports it as a time-out.

    A thread rather than SIGALRM: the verifier's per-claim time limits own the alarm.
    """
    import _thread
    import threading

    def fire() -> None:
        _TIMED_OUT.append(seconds)
        _thread.interrupt_main()

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()


# -- shared options ----------------------------------------------------------------------


MODEL_HELP = ("Model file: .npz, .safetensors or a PyTorch state dict (.pt, .pth, .bin; needs torch), in a registered "
              "key layout (symsteer, bilinear-mlp, bilinear-blocks, bilinear-toy, …; detected; README: weight files), "
              "or any layout with --keys.")


def file_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """How to read a model file: a key map or a named layout (the same on every command)."""
    options = [
        click.option("--keys", "keys_path", type=click.Path(),
                     help="With --model: a key map (TOML) from roles (W, V, P, …) to the file's keys."),
        click.option("--layout", metavar="NAME",
                     help="With --model: force a registered layout (symsteer, bilinear-blocks, bilinear-toy, bilinear-mnist, "
                          "tensor-sim-deep-mlp, …; README: weight files) [default: detected]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options that describe a network: a model file, or a random / symbolic one."""
    options = [
        click.option("--model", "model_path", type=click.Path(), help=MODEL_HELP),
        click.option("--layers", type=int, help="Number of bilinear layers [default: 2]."),
        click.option("--width", type=int, help="Stream width d [default: 2]."),
        click.option("--hidden", type=int, help="Hidden width h [default: the width]."),
        click.option("--residual/--plain", default=None,
                     help="Residual blocks x + B(x), or a plain stack [default: plain (report: residual); with --model, "
                          "what the file says]."),
        click.option("--bias", is_flag=True, default=None, help="Biases: (W x + b) ⊙ (V x + c)."),
        click.option("--embed", type=int, help="Add an embedding E from this input width."),
        click.option("--unembed", type=int, help="Add an unembedding U to this output width."),
        click.option("--weights", type=click.Choice(["symbolic", "int", "rational", "float"]),
                     help="Generic symbolic weights, or seeded random ones [default: int]."),
        click.option("--seed", type=int, help="Seed for random weights [default: 0]."),
        click.option("--reference", "reference_path", type=click.Path(),
                     help="With --model: outputs the model's own code recorded for --inputs (.npy); exit 1 if the loaded model differs."),
        click.option("--inputs", "reference_inputs", type=click.Path(),
                     help="With --reference: the network inputs (.npy, N × d_in; trailing axes flattened)."),
    ]
    for option in reversed(options):
        func = option(func)
    return file_options(func)


_SHAPE_OPTIONS = ("layers", "width", "hidden", "residual", "bias", "embed", "unembed", "weights", "seed")


def build_network(model_path: str | None, keys_path: str | None = None, layout: str | None = None, **opts: Any) -> Any:
    from symsteer import Network

    given = [k for k in _SHAPE_OPTIONS if opts.get(k) is not None]
    reference, inputs = opts.pop("reference_path", None), opts.pop("reference_inputs", None)
    if (reference is not None or inputs is not None) and model_path is None:
        raise click.UsageError("--reference and --inputs check a model file: they need --model")
    if model_path is not None:
        clash = [k for k in given if k != "residual"]
        if clash:
            raise click.UsageError(f"--model conflicts with --{clash[0]}: the model file fixes the weights and shapes")
        return _load_file_model(model_path, opts.get("residual"), keys_path, layout, reference, inputs)
    if keys_path is not None or layout is not None:
        raise click.UsageError(f"--{'keys' if keys_path is not None else 'layout'} needs --model: it says how to read a model file")
    layers = 2 if opts["layers"] is None else opts["layers"]
    width = 2 if opts["width"] is None else opts["width"]
    shape = dict(
        layers=layers,
        width=width,
        hidden=width if opts["hidden"] is None else opts["hidden"],
        residual=bool(opts["residual"]),
        bias=bool(opts["bias"]),
        embed=opts["embed"],
        unembed=opts["unembed"],
    )
    weights = opts["weights"] or "int"
    if weights == "symbolic":
        if opts["seed"] is not None:
            raise click.UsageError("--seed conflicts with --weights symbolic: symbolic weights are not random")
        return Network.symbolic(**shape)
    return Network.random(**shape, kind=weights, seed=opts["seed"] or 0)


def _number(value: Any, exact: bool) -> Any:
    from symsteer.numbers import to_sympy_number

    v = to_sympy_number(value)
    if exact:
        return str(v)
    return float(v)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json(data: Any, *, indent: int) -> str:
    """Valid JSON: a NaN or infinity (which JSON cannot hold) is written as null."""
    return json.dumps(_finite(data), indent=indent, allow_nan=False)


def emit(text: str, output: str | None) -> None:
    if output is None:
        click.echo(text)
    else:
        from symsteer.io import write_atomic

        write_atomic(output, text if text.endswith("\n") else text + "\n")


# -- expand ------------------------------------------------------------------------------


@main.command()
@model_options
@click.option("--steer-at", type=int, default=0, show_default=True, help="Layer n whose input x_n gets α s.")
@click.option("--max-order", type=int, help="Keep α-orders up to this (truncation) [default: all].")
@click.option("--split-directions", is_flag=True, help="Residual only: leaves x_0 and d_l = B_l(x_l) instead of x_n.")
@click.option("--s", "s_value", help="Steering vector: comma-separated numbers or a .npy file.")
@click.option("--x", "x_value", help="Network input: comma-separated numbers or a .npy file.")
@click.option("--exact/--float", default=None,
              help="Evaluate --s/--x in exact rationals or float64 [default: exact, but float64 when the weights are "
                   "floats (a float64 model file, --weights float): their exact values are 50-digit fractions].")
@click.option("--coefficients", "show_coefficients", is_flag=True, help="Print each α-coefficient as a polynomial, by kind.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "latex"]), default="text", show_default=True)
@click.option("--limit", type=int, default=200, show_default=True, help="List at most this many terms.")
@click.option("--budget", type=int, default=None, help="Most terms to build [default: 300000].")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout.")
@sequence_options
def expand(model_path: str | None, steer_at: int, max_order: int | None, split_directions: bool, s_value: str | None,
           x_value: str | None, exact: bool | None, show_coefficients: bool, fmt: str, limit: int, budget: int | None,
           output: str | None, **shape: Any) -> None:
    """Expand the steered output x_n → x_n + α s into input / cross / self terms by α-order.

    Sequence models (a tensor_language file, or --tokens/--positions): the per-position
    α-coefficients by kind, orders up to --max-order [default: 4]."""
    from symsteer import EXACT, FLOAT, expand as do_expand
    from symsteer.expansion import DEFAULT_BUDGET
    from symsteer.io import load_vector
    from symsteer.sequence_cli import SEQUENCE_OPTIONS, expand_sequence, wants_sequence

    sequence = {k: shape.pop(k) for k in SEQUENCE_OPTIONS}
    sequence.update(layout=shape.get("layout"), reference=shape.get("reference_path"), reference_inputs=shape.get("reference_inputs"))
    if wants_sequence(model_path, sequence):
        emit(expand_sequence(model_path, steer_at=steer_at, max_order=max_order, s_value=s_value, x_value=x_value,
                             exact=exact, fmt=fmt, options=sequence), output)
        return

    if (s_value is None) != (x_value is None):
        raise click.UsageError("--s and --x go together: evaluating needs both the steering vector and the input")
    if limit < 0:
        raise click.UsageError(f"--limit={limit}; expected a non-negative integer")
    network = build_network(model_path, **shape)
    e = do_expand(network, steer_at=steer_at, max_order=max_order, split_directions=split_directions,
                  budget=DEFAULT_BUDGET if budget is None else budget)
    values = None
    if exact is None:  # exact inputs stay exact; float weights give float values unless --exact
        exact = network.field != "float"
    if s_value is not None:
        numbers = EXACT if exact else FLOAT
        values = e.evaluate(load_vector(s_value, name="--s"), x=load_vector(x_value, name="--x"), numbers=numbers)
    if fmt == "latex":
        from symsteer._latex import latex

        emit(latex(e, coefficients=show_coefficients), output)
        return
    if fmt == "json":
        emit(_json(_expansion_json(e, values, exact, limit, show_coefficients), indent=2), output)
        return
    parts = [_as_flags(e.to_text(limit=limit))]
    if show_coefficients:
        parts.append(_coefficients_text(e))
    if values is not None:
        parts.append(_values_text(values, exact))
    emit("\n\n".join(parts), output)


def _coefficients_text(e: Any) -> str:
    from symsteer._coefficients import KINDS

    lines = ["polynomial maps (α-coefficients by kind):"]
    for m in e.orders:
        for kind in KINDS:
            vec = e.coefficient(m, kind)
            if any(v != 0 for v in vec):
                lines.append(f"alpha^{m} {kind}: [{', '.join(str(v) for v in vec)}]")
    return "\n".join(lines)


def _values_text(values: dict[str, Any], exact: bool) -> str:
    lines = ["values (per order: input, cross, self, const; total):"]
    total = sum(values.values())
    for m in range(total.shape[0]):
        cells = [f"{k}=[{', '.join(str(_number(v, exact)) for v in values[k][m].ravel())}]" for k in values]
        lines.append(f"alpha^{m}: " + "  ".join(cells) + f"  total=[{', '.join(str(_number(v, exact)) for v in total[m].ravel())}]")
    return "\n".join(lines)


def _expansion_json(e: Any, values: dict[str, Any] | None, exact: bool, limit: int, show_coefficients: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "network": e.network.describe(),
        "steer_at": e.steer_at,
        "max_order": e.max_order,
        "degree_bound": e.degree_bound,
        "truncated": e.truncated,
        "total_terms": e.total_terms,
        "counts": {str(m): c for m, c in e.counts().items()},
    }
    if e.total_terms <= limit:
        from symsteer.terms import listing

        texts, defs = listing(e, [t for t, _ in e.terms])
        out["terms"] = [
            {"order": t.order, "kind": t.kind, "multiplicity": m, "term": text, "layers": sorted(t.layers)}
            for (t, m), text in zip(e.terms, texts)
        ]
        if defs:
            out["names"] = defs
    if show_coefficients:
        out["coefficients"] = {
            str(m): {k: [str(v) for v in e.coefficient(m, k)] for k in ("input", "cross", "self", "const")} for m in e.orders
        }
    if values is not None:
        total = sum(values.values())
        out["values"] = {
            str(m): {**{k: [_number(v, exact) for v in values[k][m].ravel()] for k in values},
                     "total": [_number(v, exact) for v in total[m].ravel()]}
            for m in range(total.shape[0])
        }
    return out


# -- check -------------------------------------------------------------------------------


@main.command()
@click.option("--model", "model_path", type=click.Path(),
              help="Check this model file at every steering point instead of the grid of random models. " + MODEL_HELP)
@file_options
@click.option("--residual/--plain", default=None, help="With --model: residual blocks or a plain stack [default: what the file says].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the random models and vectors.")
@click.option("--width", type=int, default=3, show_default=True, help="Stream width d of the grid's models.")
@click.option("--hidden", type=int, default=3, show_default=True, help="Hidden width h of the grid's models.")
@click.option("--weights", type=click.Choice(["int", "rational", "float"]), default="rational", show_default=True,
              help="Kind of random weights of the grid's models.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--sequence", is_flag=True, help="Check sequence models (attention, positions, steer sets) instead.")
def check(model_path: str | None, keys_path: str | None, layout: str | None, residual: bool | None, seed: int, width: int,
          hidden: int, weights: str, fmt: str, sequence: bool) -> None:
    """Check expansions against numeric models (exit 1 on any failure): forward passes at several
    α, propagated coefficients and the split by kind, in float64 (relative tolerance) and exact
    rationals (zero difference). Default: a grid of random models of every shape; with --model,
    that model at every steering point, on seeded random integer inputs and steering vectors."""
    from symsteer._check import RTOL, check_grid

    if model_path is None and (keys_path is not None or layout is not None or residual is not None):
        raise click.UsageError("--keys, --layout and --residual/--plain need --model: they say how to read a model file")
    if sequence:
        if model_path is not None:
            raise click.UsageError("--sequence conflicts with --model: it checks a grid of sequence models")
        from symsteer.sequence_cli import check_sequences

        text, failed = check_sequences(seed=seed, fmt=fmt)
        click.echo(text)
        if failed:
            sys.exit(EXIT_FAILED)
        return
    if model_path is not None:
        rows = _check_model(_network_only(_load_file_model(model_path, residual, keys_path, layout), "check"), seed)
    else:
        rows = check_grid(seed=seed, width=width, hidden=hidden, kind=weights)
    failed = sum(not r.passed for _, r in rows)
    if fmt == "json":
        click.echo(_json([{**case, **r.__dict__, "passed": r.passed} for case, r in rows], indent=2))
    else:
        click.echo(f"{'model':<34} {'n':>2} {'forward':>9} {'coeffs':>9} {'split':>9} {'exact≠':>6}  ok")
        for case, r in rows:
            kind = ("residual" if case["residual"] else "plain") + (" +bias" if case["bias"] else "")
            kind += (f" E{case['embed']}" if case["embed"] else "") + (f" U{case['unembed']}" if case["unembed"] else "")
            click.echo(f"{kind + ' L=' + str(case['layers']):<34} {case['steer_at']:>2} {r.forward_error:9.1e} "
                       f"{r.coefficient_error:9.1e} {r.split_error:9.1e} {r.exact_mismatches:>6}  {'yes' if r.passed else 'NO'}")
        click.echo(f"{len(rows) - failed} passed, {failed} failed (float tolerance {RTOL:.0e} relative; exact: zero difference)")
    if failed:
        sys.exit(EXIT_FAILED)


def _check_model(network: Any, seed: int) -> list[tuple[dict[str, Any], Any]]:
    """Rows like ``check_grid``'s for one loaded model, one per steering point."""
    import numpy as np

    from symsteer import check as do_check, expand as do_expand

    if isinstance(seed, bool) or seed < 0:
        raise click.UsageError(f"--seed={seed}; expected a non-negative integer")
    rows = []
    for n in range(network.depth + 1):
        rng = np.random.default_rng([seed, n])
        x = rng.integers(-3, 4, size=network.d_in).tolist()
        s = rng.integers(-3, 4, size=network.width_at(n)).tolist()
        case = {"layers": network.depth, "residual": network.residual, "bias": network.has_bias, "steer_at": n,
                "embed": None if network.embed is None else network.embed.shape[1],
                "unembed": None if network.unembed is None else network.unembed.shape[0]}
        rows.append((case, do_check(do_expand(network, steer_at=n), s=s, x=x)))
    return rows


# -- report ------------------------------------------------------------------------------


@main.command()
@model_options
@click.option("--steer-at", type=int, default=0, show_default=True, help="Layer n whose input x_n gets α s.")
@click.option("--max-order", type=int, default=2, show_default=True, help="List the expansion up to this α-order.")
@click.option("--claims/--no-claims", "with_claims", default=True, show_default=True, help="Verify claims and add their verdicts.")
@click.option("--timeout", type=CLAIM_SECONDS, help="Time limit per claim in seconds [default: the verifier's].")
@click.option("--pdf", is_flag=True, help="Also compile the .tex to a .pdf beside it (needs pdflatex).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="The .tex file to write (atomically) [default: stdout].")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--s", "s_value", help="Sequence models: the steering vector (d values) or a (T, d) .npy array.")
@click.option("--x", "x_value", help="Sequence models: the stream entering block 0, a (T, d) .npy array (instead of --tokens).")
@sequence_options
def report(model_path: str | None, steer_at: int, max_order: int, with_claims: bool, timeout: float | None, pdf: bool,
           output: str | None, paths: tuple[str, ...], s_value: str | None, x_value: str | None, **shape: Any) -> None:
    """A LaTeX report: the model (default: 2-layer residual), its expansion, the closed forms of the
    first layer after the steering point, and the claims in PATHs (default: the built-in ones) with
    their verdicts. Exit 1 when a verdict differs from the expected one.

    Sequence models (a tensor_language file, or --tokens/--positions, with --s): the per-position
    table of α-coefficients and the attention block's terms with their positions."""
    from pathlib import Path

    from symsteer.report import document
    from symsteer.sequence_cli import SEQUENCE_OPTIONS, report_sequence, wants_sequence

    if pdf and output is None:
        raise click.UsageError("--pdf needs -o FILE.tex: the PDF is written beside it")
    if output is not None and output.endswith(".pdf"):
        raise click.UsageError(f"-o {output}: expected a .tex file (--pdf writes the .pdf beside it)")
    sequence = {k: shape.pop(k) for k in SEQUENCE_OPTIONS}
    sequence.update(layout=shape.get("layout"), reference=shape.get("reference_path"), reference_inputs=shape.get("reference_inputs"))
    if wants_sequence(model_path, sequence):
        tex = report_sequence(model_path, steer_at=steer_at, max_order=max_order, s_value=s_value, x_value=x_value,
                              options=sequence)
        _write_report(tex, output, pdf)
        return
    if s_value is not None or x_value is not None:
        raise click.UsageError("--s and --x are for sequence models (a tensor_language --model)")
    if paths and not with_claims:
        raise click.UsageError("claim PATHs conflict with --no-claims")
    if model_path is None and shape["residual"] is None:
        shape["residual"] = True  # the report's default model is residual
    network = build_network(model_path, **shape)
    verdicts: list[Any] = []
    if with_claims:
        from symsteer.claims import load_claims, verify_all

        verdicts = list(verify_all(load_claims(list(paths) or None), **({} if timeout is None else {"timeout": timeout})))
    tex = document(network, steer_at=steer_at, max_order=max_order, verdicts=verdicts)
    _write_report(tex, output, pdf)
    if output is not None:  # stdout carries the document itself otherwise
        wrote = [output] + ([str(Path(output).with_suffix(".pdf"))] if pdf else [])
        click.echo(f"wrote {' and '.join(wrote)}", err=True)
    if any(not getattr(v, "ok", True) for v in verdicts):
        sys.exit(EXIT_FAILED)


def _write_report(tex: str, output: str | None, pdf: bool) -> None:
    """The .tex, and with --pdf the .pdf beside it. The PDF is compiled first, so an interruption
    while pdflatex runs leaves neither file; when LaTeX is missing or fails, the .tex is still
    written (to compile by hand) before the error."""
    from pathlib import Path

    from symsteer.errors import SymsteerError
    from symsteer.report import compile_pdf

    if pdf:
        try:
            compile_pdf(tex, Path(output).with_suffix(".pdf"))
        except SymsteerError:
            emit(tex, output)
            raise
    emit(tex, output)


# -- effect and steer (real models) ------------------------------------------------------


def _residual_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--residual/--plain", default=None,
                        help="Residual blocks or a plain stack [default: what the file says].")(func)


def _reference_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--reference", "reference_path", type=click.Path(),
                        help="Outputs the model's own code recorded for --inputs (.npy); exit 1 if the loaded model differs.")(func)


def _load_file_model(path: str, residual: bool | None, keys_path: str | None, layout: str | None,
                     reference: str | None = None, inputs: str | None = None) -> Any:
    from symsteer.io import load_model

    if keys_path is not None and layout is not None:
        raise click.UsageError("--keys conflicts with --layout: give a key map or a layout name, not both")
    return _gated(load_model(path, residual=residual, keys=keys_path, layout=layout), reference, inputs)


def _network_only(model: Any, command: str) -> Any:
    """Refuse a sequence model (a transformer file) where a command reads bilinear networks only."""
    from symsteer.sequence import SequenceModel

    if isinstance(model, SequenceModel):
        raise click.UsageError(f"{command} --model reads bilinear networks; this file is a sequence model (a transformer): "
                               "use effect --model FILE --tokens … (the expansion against forward passes) or gate")
    return model


def _gated(network: Any, reference: str | None, inputs: str | None) -> Any:
    """The reference gate, when asked for: the loaded model must reproduce the recorded outputs."""
    if reference is None and inputs is None:
        return network
    if reference is None or inputs is None or not inputs.endswith(".npy"):
        raise click.UsageError("--reference OUT.npy goes with --inputs IN.npy: the outputs the model's own code gave for those inputs")
    from symsteer.gate import reference_gate
    from symsteer.layouts import file_dtypes

    reference_gate(network, inputs=inputs, reference=reference, dtypes=file_dtypes(network))
    return network


@main.command()
@click.argument("model_arg", metavar="[MODEL]", required=False, type=click.Path())
@click.option("--model", "model_path", type=click.Path(), help=MODEL_HELP + " (The model may also come first, as MODEL.)")
@click.option("--inputs", "inputs_path", required=True, type=click.Path(), help="Network inputs (.npy, N × d_in; trailing axes flattened).")
@click.option("--reference", "reference_path", required=True, type=click.Path(),
              help="The outputs the model's own code gave for --inputs (.npy, N × d_out).")
@click.option("--residual/--plain", default=None, help="Residual blocks or a plain stack [default: what the file or its config.json says].")
@click.option("--keys", "keys_path", type=click.Path(), help="Key map (TOML): roles → the file's keys.")
@click.option("--layout", metavar="NAME", help="Force a registered layout (README: weight files) [default: detected].")
def gate(model_arg: str | None, model_path: str | None, inputs_path: str, reference_path: str, residual: bool | None,
         keys_path: str | None, layout: str | None) -> None:
    """Check only: does the --model, as loaded, reproduce the outputs its own code recorded? Exit 0
    with the largest difference, or 1 naming it and where. Every command taking a model file accepts
    the same --reference/--inputs and refuses to analyse a model that fails this check."""
    from symsteer.gate import gate_arrays, read_array
    from symsteer.io import load_model
    from symsteer.layouts import file_dtypes

    if model_arg is not None and model_path is not None:
        raise click.UsageError(f"MODEL {model_arg!r} and --model {model_path!r} both given; expected one model")
    model_path = model_path or model_arg
    if model_path is None:
        raise click.UsageError("missing --model: the model file to check")

    if keys_path is not None and layout is not None:
        raise click.UsageError("--keys conflicts with --layout: give a key map or a layout name, not both")
    network = load_model(model_path, residual=residual, keys=keys_path, layout=layout)
    result = gate_arrays(network, read_array(inputs_path, name="--inputs"), read_array(reference_path, name="--reference"),
                         dtypes=file_dtypes(network))
    click.echo(("ok: " if result.passed else "error: ") + result.describe(), err=not result.passed)
    if not result.passed:
        sys.exit(EXIT_FAILED)


@main.command()
@click.argument("model_arg", metavar="[MODEL]", required=False, type=click.Path())
@click.option("--model", "model_path", type=click.Path(), help=MODEL_HELP + " (The model may also come first, as MODEL.)")
@click.option("--steer-at", type=int, default=0, show_default=True, help="Layer n whose input x_n gets α s.")
@click.option("--s", "s_value", required=True, help="Steering vector: a .npy file or comma-separated numbers.")
@click.option("--inputs", "inputs_value", help="Network inputs (N, d_in) as .npy (or one input, comma-separated).")
@click.option("--alpha", "alpha_spec", default="-10:10:21", show_default=True, help="α values: start:stop:count or a,b,c.")
@click.option("--exact", is_flag=True, help="Also compare polynomial and forward passes in exact rationals.")
@click.option("--top", type=int, default=3, show_default=True, help="Cross-map directions to show.")
@click.option("--show", type=int, default=3, show_default=True, help="Inputs whose polynomials are listed (text).")
@click.option("--image-shape", default="auto", show_default=True,
              help="Draw input directions as images: RxC, 'auto' (square network inputs) or 'off'.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Also draw logits and term norms against α (PNG; needs matplotlib).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout.")
@click.option("--calibrate", is_flag=True,
              help="How strongly to steer (needs --inputs): KL(α), the iso-KL α for --kl-budget, the target logit's "
                   "turning points, where self overtakes cross, argmax and top-k flips, within the --alpha range.")
@click.option("--kl-budget", type=float, default=0.1, show_default=True, help="With --calibrate: the KL budget (nats).")
@click.option("--target", type=int, help="With --calibrate: the output to follow [default: the one α¹ raises most].")
@click.option("--top-k", type=int, default=5, show_default=True, help="With --calibrate: report top-k set changes.")
@file_options
@_residual_option
@_reference_option
@sequence_options
@click.option("--max-order", type=int, help="Sequence models: α-orders kept [default: 8, or the degree when lower].")
def effect(model_arg: str | None, model_path: str | None, steer_at: int, s_value: str, inputs_value: str | None,
           alpha_spec: str, exact: bool, top: int, show: int, image_shape: str, fmt: str, plot_path: str | None,
           output: str | None, calibrate: bool, kl_budget: float, target: int | None, top_k: int, residual: bool | None,
           keys_path: str | None, layout: str | None, reference_path: str | None = None, max_order: int | None = None,
           **sequence: Any) -> None:
    """What steering the --model with α s at layer n does, from the weights (and on --inputs).

    Weights alone: the self part of every α-order, the cross map M_s with its singular values
    and top input directions. With --inputs: every output's exact polynomial in α against the
    model's forward passes (exit 1 if they differ beyond the tolerance), where the self part
    overtakes the cross part, and where the argmax changes.
    """
    from symsteer._check import RTOL
    from symsteer.effect import effect as do_effect, parse_alphas

    if model_arg is not None and model_path is not None:
        raise click.UsageError(f"MODEL {model_arg!r} and --model {model_path!r} both given; expected one model")
    model_path = model_path or model_arg
    if model_path is None:
        raise click.UsageError("missing --model: the model file to steer (.npz, .safetensors or a PyTorch state dict)")
    if plot_path is not None:  # before the work: a missing plotter should not cost the whole report
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise click.UsageError("--plot needs matplotlib: pip install matplotlib (or symsteer[plot]), or leave out --plot")
    from symsteer.io import load_vector
    from symsteer.sequence_cli import effect_sequence, wants_sequence

    sequence.update(layout=layout, reference=reference_path, reference_inputs=inputs_value if reference_path else None)
    if wants_sequence(model_path, sequence):
        if calibrate:
            _calibrate_sequence(model_path, sequence, steer_at=steer_at, s_value=s_value, alpha_spec=alpha_spec,
                                kl_budget=kl_budget, target=target, top_k=top_k, show=show, fmt=fmt, plot_path=plot_path,
                                output=output, exact=exact, max_order=max_order)
            return
        text, failed = effect_sequence(model_path, steer_at=steer_at, s_value=s_value, alphas=parse_alphas(alpha_spec),
                                       max_order=max_order, fmt=fmt, options=sequence)
        emit(text, output)
        if failed:
            sys.exit(EXIT_FAILED)
        return
    for name, value in (("--top", top), ("--show", show)):
        if value < 0:
            raise click.UsageError(f"{name}={value}; expected a non-negative integer")
    shape: Any = image_shape
    if image_shape == "off":
        shape = None
    elif image_shape != "auto":
        try:
            shape = tuple(int(v) for v in image_shape.lower().split("x"))
            assert len(shape) == 2 and min(shape) > 0
        except (ValueError, AssertionError):
            raise click.UsageError(f"--image-shape={image_shape!r}; expected RxC (e.g. 8x8), auto or off") from None
    if reference_path is not None and (inputs_value is None or not inputs_value.endswith(".npy")):
        raise click.UsageError("--reference OUT.npy goes with --inputs IN.npy: the outputs the model's own code gave for those inputs")
    network = _load_file_model(model_path, residual, keys_path, layout, reference_path, inputs_value if reference_path else None)
    s = load_vector(s_value, name="--s")
    inputs = load_vector(inputs_value, name="--inputs") if inputs_value is not None else None
    if calibrate:
        _calibrate(network, s, inputs, steer_at=steer_at, alpha_spec=alpha_spec, kl_budget=kl_budget, target=target,
                   top_k=top_k, show=show, fmt=fmt, plot_path=plot_path, output=output, exact=exact)
        return
    result = do_effect(network, s, steer_at=steer_at, inputs=inputs, alphas=parse_alphas(alpha_spec), exact=exact, image_shape=shape)
    if fmt == "json":
        emit(_json(result.to_json(), indent=1), output)
    else:
        emit(result.to_text(top=top, show=show), output)
    if plot_path is not None:
        result.plot(plot_path, top=top)
    sw = result.sweep
    if sw is not None and (not sw.error <= RTOL or sw.exact_mismatches or not all(c.verified for row in sw.changes for c in row)):
        sys.exit(EXIT_FAILED)


def _calibration_range(alpha_spec: str, kl_budget: float, top_k: int) -> tuple[float, float]:
    import math

    from symsteer.effect import parse_alphas

    if not (kl_budget > 0 and math.isfinite(kl_budget)):
        raise click.UsageError(f"--kl-budget={kl_budget}; expected a positive number of nats")
    if top_k < 1:
        raise click.UsageError(f"--top-k={top_k}; expected a positive integer")
    alphas = parse_alphas(alpha_spec)
    lo, hi = min(alphas), max(alphas)
    if not lo < 0 < hi:
        raise click.UsageError(f"--alpha={alpha_spec!r} spans [{lo:g}, {hi:g}]; --calibrate needs a range with min < 0 < max")
    return lo, hi


def _emit_calibration(result: Any, *, fmt: str, show: int, plot_path: str | None, output: str | None) -> None:
    emit(_json(result.to_json(), indent=1) if fmt == "json" else result.to_text(show=show), output)
    if plot_path is not None:
        result.plot(plot_path, rows=max(1, min(show, 4)))
    if not result.verified or result.certified is False:
        sys.exit(EXIT_FAILED)


def _calibrate_sequence(model_path: str, options: dict[str, Any], *, steer_at: int, s_value: str, alpha_spec: str,
                        kl_budget: float, target: int | None, top_k: int, show: int, fmt: str, plot_path: str | None,
                        output: str | None, exact: bool, max_order: int | None) -> None:
    """effect --calibrate on a sequence model: rows are the output positions from the first
    steered one to the end of --tokens (with --max-order below the degree the series is
    truncated, and the checks against forward passes say how far it is from the model)."""
    from symsteer.calibrate import calibrate_sequence
    from symsteer.layouts import read_config
    from symsteer.sequence_cli import _steering, _tokens, load_sequence_model, positions_text

    lo, hi = _calibration_range(alpha_spec, kl_budget, top_k)
    model, _ = load_sequence_model(model_path, options)
    tokens = _tokens(options.get("tokens"))
    if tokens is None:
        raise click.UsageError("--calibrate on a sequence model needs --tokens (the prompt's token ids)")
    n = model.check_steer_at(steer_at)
    s = _steering(s_value, length=len(tokens), width=model.width_at(n))
    names = (read_config(model_path) or {}).get("tokens")
    names = names if isinstance(names, list) and len(names) == model.vocab and all(isinstance(v, str) for v in names) else None
    result = calibrate_sequence(model, s, tokens=tokens, steer_at=n, positions=positions_text(options),
                                max_order=max_order,
                                budget=kl_budget, lo=lo, hi=hi, top_k=top_k, token_names=names, exact=exact,
                                targets=None if target is None else _targets(target, model.vocab, len(tokens), options))
    _emit_calibration(result, fmt=fmt, show=show, plot_path=plot_path, output=output)


def _targets(target: int, vocab: int | None, length: int, options: dict[str, Any]) -> list[int]:
    from symsteer.positions import SteerSet
    from symsteer.sequence_cli import positions_text

    first = SteerSet.parse(positions_text(options)).first(length)
    if vocab is not None and not 0 <= target < vocab:
        raise click.UsageError(f"--target={target}; expected a token id in 0…{vocab - 1}")
    return [target] * (length - first)


def _calibrate(network: Any, s: Any, inputs: Any, *, steer_at: int, alpha_spec: str, kl_budget: float,
               target: int | None, top_k: int, show: int, fmt: str, plot_path: str | None, output: str | None,
               exact: bool) -> None:
    """effect --calibrate: the calibration on --inputs over the --alpha range (exit 1 unless every
    check holds); with --exact every flip's root is also enclosed by certified ball arithmetic."""
    from symsteer.calibrate import calibrate_network

    if inputs is None:
        raise click.UsageError("--calibrate needs --inputs (the rows whose logits are calibrated)")
    lo, hi = _calibration_range(alpha_spec, kl_budget, top_k)
    rows = 1 if getattr(inputs, "ndim", 1) == 1 else len(inputs)
    targets = None if target is None else [target] * rows
    result = calibrate_network(network, s, inputs, steer_at=steer_at, budget=kl_budget, lo=lo, hi=hi, top_k=top_k,
                               targets=targets, exact=exact)
    _emit_calibration(result, fmt=fmt, show=show, plot_path=plot_path, output=output)


@main.command()
@click.option("--h", "h_path", required=True, type=click.Path(), help="Activations (or, with --model, inputs) showing the behaviour: .npy (N, width).")
@click.option("--q", "q_path", required=True, type=click.Path(), help="Activations (or inputs) without it: .npy (N, width).")
@click.option("--model", "model_path", type=click.Path(), help="Run --h and --q through this model to layer --steer-at first. " + MODEL_HELP)
@click.option("--steer-at", type=int, help="With --model: the layer n whose input x_n is recorded.")
@click.option("--normalize", is_flag=True, help="Scale s to unit Euclidean norm.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Where to write s (.npy).")
@click.option("--inputs", "reference_inputs", type=click.Path(), help="With --reference: network inputs (.npy) it was recorded for.")
@file_options
@_residual_option
@_reference_option
def steer(h_path: str, q_path: str, model_path: str | None, steer_at: int | None, normalize: bool, output: str,
          residual: bool | None, keys_path: str | None, layout: str | None, reference_path: str | None = None,
          reference_inputs: str | None = None) -> None:
    """Build a steering vector s = mean(h) − mean(q) and save it as .npy.

    Without --model, --h and --q are recorded activations x_n. With --model and --steer-at,
    they are network inputs, run through the model to x_n first.
    """
    import numpy as np

    from symsteer.io import load_vector, save_vector
    from symsteer.steering import steering_from_inputs, steering_vector

    if (model_path is None) != (steer_at is None):
        raise click.UsageError("--model and --steer-at go together: inputs are run to layer --steer-at of the model")
    if model_path is None and (residual is not None or keys_path or layout or reference_path or reference_inputs):
        raise click.UsageError("--residual/--plain, --keys, --layout, --reference and --inputs need --model")
    for name, path in (("--h", h_path), ("--q", q_path)):
        if not path.endswith(".npy"):
            raise click.UsageError(f"{name}={path!r}; expected a .npy file of vectors (N, width)")
    h, q = (np.asarray(load_vector(path, name=name)) for name, path in (("--h", h_path), ("--q", q_path)))
    if model_path is not None:
        network = _network_only(_load_file_model(model_path, residual, keys_path, layout, reference_path, reference_inputs), "steer")
        s = steering_from_inputs(network, h, q, steer_at=steer_at, normalize=normalize)
        where = f"x_{steer_at} of {model_path}"
    else:
        s = steering_vector(h, q, normalize=normalize)
        where = "the recorded activations"
    save_vector(output, s)
    count = lambda a: 1 if a.ndim == 1 else a.shape[0]  # noqa: E731
    click.echo(f"s = mean(h) - mean(q) at {where}: {count(h)} vs {count(q)} vector(s), width {s.shape[0]}, "
               f"|s| = {np.linalg.norm(s):.6g}{' (normalised)' if normalize else ''}; wrote {output}")


# -- claims ------------------------------------------------------------------------------


def _select_claims(paths: tuple[str, ...], only: tuple[str, ...], errors: list | None = None) -> list[Any]:
    import difflib

    from symsteer.claims import load_claims

    claims = load_claims(list(paths) or None, errors=errors)
    if only:
        known = {c.id: c for c in claims}
        for wanted in only:
            if wanted not in known:
                close = difflib.get_close_matches(wanted, list(known), n=3, cutoff=0.4)
                hint = f"; closest matches: {', '.join(close)}" if close else ""
                from symsteer.files import shown

                # name=True: a Cyrillic "а" in "clаim" must not look like the id it is not
                raise click.UsageError(f"--only {shown(wanted, name=True)}: no claim with this id{hint}; `symsteer claims` lists the ids")
        claims = [known[w] for w in dict.fromkeys(only)]
    return claims


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--only", multiple=True, metavar="ID", help="Verify only this claim (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="Show each proof's residual or counterexample.")
@click.option("--timeout", type=CLAIM_SECONDS, help="Seconds per claim (overrides the claim files) [default: 20].")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout.")
@click.option("--evidence", "evidence", type=click.Path(file_okay=False), metavar="DIR",
              help="Write one JSON file per claim here: the counterexample or the certificate (replay: tools/replay.py DIR).")
def verify(paths: tuple[str, ...], only: tuple[str, ...], fmt: str, verbose: bool, timeout: float | None,
           output: str | None, evidence: str | None) -> None:
    """Prove or refute every claim in PATHS (claim files or directories; default: the built-in proofs/).

    Exit 0 when every found verdict is the expected one, 1 when one differs, is undecided or
    cannot be decided (error), 3 for a bad claim file (the other files are still verified),
    4 when two methods disagree or symsteer failed on a claim (after deciding the rest). The
    output is written in every case.
    """
    import time

    from symsteer.claims import verdicts_text, verify_all

    if timeout is not None and not timeout > 0:
        raise click.UsageError(f"--timeout={timeout}; expected a positive number of seconds")
    bad_files: list[Any] = []
    claims = _select_claims(paths, only, bad_files)
    start = time.perf_counter()
    verdicts = verify_all(claims, timeout=timeout)
    elapsed = time.perf_counter() - start
    if fmt == "json":
        passed = sum(v.ok for v in verdicts)
        emit(_json({"verdicts": [v.to_dict() for v in verdicts], "passed": passed,
                    "failed": len(verdicts) - passed, "seconds": round(elapsed, 3)}, indent=2), output)
    else:
        text = verdicts_text(verdicts, verbose=verbose, seconds=elapsed)
        if verbose:  # proofs and counterexamples run long: wrap them, keeping each line's indent
            text = "\n".join(w for line in text.splitlines() for w in _wrap(line))
        emit(text, output)
    if evidence is not None:
        from symsteer.claims import write_evidence

        try:
            write_evidence(verdicts, evidence)
        except OSError as exc:
            raise click.UsageError(f"--evidence {evidence}: cannot write there ({exc.strerror})") from None
    for exc in bad_files:
        click.echo(f"error: {exc}", err=True)
    for v in verdicts:
        if v.found == "bug":
            click.echo(f"internal error in claim {v.claim.id}: {v.detail}\n(a bug in symsteer; please report it)", err=True)
    if any(v.found == "bug" for v in verdicts):
        sys.exit(EXIT_INTERNAL)
    if bad_files:
        sys.exit(EXIT_BAD_FILE)
    if not all(v.ok for v in verdicts):
        sys.exit(EXIT_FAILED)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--only", multiple=True, metavar="ID", help="List only this claim (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout.")
def claims(paths: tuple[str, ...], only: tuple[str, ...], fmt: str, output: str | None) -> None:
    """List the claims in PATHS (default: the built-in proofs/): id, expected verdict, statement."""
    selected = _select_claims(paths, only)
    if fmt == "json":
        emit(_json([c.to_dict() for c in selected], indent=2), output)
        return
    width = max([len(c.id) for c in selected] + [5])
    models = [c.family for c in selected]
    mwidth = max([len(m) for m in models] + [5])
    lines = [f"{'claim':<{width}}  {'expected':<12} {'model':<{mwidth}}  statement"]
    pad = " " * (width + 2)
    for c, model in zip(selected, models):
        assume = f"  [assuming {', '.join(c.assumptions)}]" if c.assumptions else ""
        lines.append(f"{c.id:<{width}}  {c.expected:<12} {model:<{mwidth}}  {c.statement}{assume}")
        # what the claim says in words, and the seed's words it comes from
        for label, text in (("title", getattr(c, "title", None)), ("seed", getattr(c, "quote", None))):
            if text:
                lines += _wrap(f"{label}: " + (f"“{text}”" if label == "seed" else text), indent=pad)
    lines.append(f"{len(selected)} claim(s)")
    emit("\n".join(lines), output)


def _wrap(line: str, *, indent: str | None = None, width: int = 100) -> list[str]:
    """A long line as lines of at most ``width`` characters, continuation lines indented four
    more than the line itself. Breaks fall after "; " where they can, so a value such as
    ``B(x + z) = [4]`` stays on one line; only a part longer than a line breaks at its spaces
    (words longer than that stay whole)."""
    import re
    import textwrap

    lead = indent if indent is not None else line[:len(line) - len(line.lstrip())]
    body = line.lstrip()
    if len(lead + body) <= width:
        return [lead + body]
    more = lead + "    "
    out: list[str] = []
    ind, cur = lead, ""
    for part in re.split(r"(?<=; )", body):
        if len(ind) + len(cur) + len(part) <= width:
            cur += part
            continue
        if cur:
            out.append(ind + cur.rstrip())
            ind, cur = more, ""
        if len(ind) + len(part) <= width:
            cur = part
            continue
        # a part longer than a line: break it at its spaces
        pieces = textwrap.wrap(part, width=width, initial_indent=ind, subsequent_indent=more,
                               break_long_words=False, break_on_hyphens=False)
        out += pieces[:-1]
        prefix = ind if len(pieces) == 1 else more
        ind, cur = prefix, pieces[-1][len(prefix):] + (" " if part.endswith(" ") else "")
    if cur.strip():
        out.append(ind + cur.rstrip())
    return out


_FLAGS = {"max_order": "--max-order", "steer_at": "--steer-at", "budget": "--budget"}


def _as_flags(message: str) -> str:
    """A library message in the CLI's words: ``max_order=3`` reads ``--max-order=3``."""
    import re

    message = re.sub(r"(?<![\w-])budget=", "--budget=", message)
    return re.sub(r"(?<![\w-])(max_order|steer_at)\b", lambda m: _FLAGS[m.group(1)], message)


# -- entry point -------------------------------------------------------------------------


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C (temporary files removed)."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated


#: digits Python may convert between int and str while a command runs: enough for the largest
#: exact number symsteer computes (budgets.MAX_EXACT_BITS), bounded so that parsing stays fast
def _int_digits() -> int:
    from symsteer.budgets import MAX_EXACT_BITS

    return int(MAX_EXACT_BITS * math.log10(2)) + 10


def _say(text: str) -> None:
    """One message on stderr, control characters escaped (a message may echo a user's bytes)."""
    from symsteer.files import shown

    click.echo("\n".join(shown(line) for line in str(text).split("\n")), err=True)


def _stopped(what: str) -> str:
    from symsteer.files import written

    done = written()
    return f"{what}; wrote {', '.join(done)} before that" if done else f"{what}; no output was written"


def _environment(exc: BaseException) -> str | None:
    """The message for a failure of the machine rather than of the input, or None."""
    import errno

    if isinstance(exc, MemoryError):
        return "out of memory; give a smaller model or input (see the limits in the README)"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.ENOMEM):
        return f"cannot write the output ({exc.strerror})"
    return None


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and map errors to exit codes: no traceback for a user's mistake."""
    import os
    import signal
    import threading

    from symsteer.files import forget_written, shown

    _TIMED_OUT.clear()
    forget_written()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    digits = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(max(digits, _int_digits()) if digits else 0)
    try:
        main.main(args=argv, prog_name="symsteer", standalone_mode=False)
        sys.stdout.flush()  # a full device or closed pipe fails here, not silently at exit
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.message = shown(exc.message)
        exc.show()
        return EXIT_USAGE if exc.exit_code == 2 else exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        if isinstance(exc, Terminated) or isinstance(exc.__cause__, Terminated):  # click wraps it in Abort
            _say(_stopped("terminated (SIGTERM)"))
            return EXIT_TERMINATED
        if _TIMED_OUT:
            _say(_stopped(f"error: stopped after --timeout={_TIMED_OUT[0]:g} s"))
            return EXIT_FAILED
        _say(_stopped("interrupted"))
        return EXIT_INTERRUPTED
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_FAILED
    except BrokenPipeError:  # output piped into `head`: not an error
        _discard_stdout()
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - every escape is mapped to an exit code
        from symsteer.errors import SymsteerError

        if isinstance(exc, SymsteerError):
            _say(f"error: {_as_flags(str(exc))}")
            return exc.exit_code
        environment = _environment(exc)
        if environment is not None:
            _discard_stdout()
            _say(f"error: {environment}")
            return EXIT_ENVIRONMENT
        if os.environ.get("SYMSTEER_DEBUG"):
            raise
        _say(f"internal error: {type(exc).__name__}: {exc}\n(a bug in symsteer; rerun with SYMSTEER_DEBUG=1 "
             "for the traceback and please report it)")
        return EXIT_INTERNAL
    finally:
        sys.set_int_max_str_digits(digits)
        if in_main and previous is not None:  # None: a handler not set from Python, left alone
            signal.signal(signal.SIGTERM, previous)
    return EXIT_OK


def _discard_stdout() -> None:
    """Point stdout at /dev/null so Python's flush at exit cannot fail a second time."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # pytest's capture has no real descriptor
        pass


def entry() -> None:
    sys.exit(run())


if __name__ == "__main__":
    entry()
