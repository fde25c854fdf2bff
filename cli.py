"""The ``symsteer`` command: options in, one library call, output out.

Exit codes: 0 ok · 1 a check failed or a verdict differs · 2 usage error · 3 bad input file ·
130 interrupted.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

import click

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BAD_FILE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="symsteer", message="symsteer %(version)s")
def main() -> None:
    """Exact steering expansions for networks of bilinear layers.

    Exit codes: 0 ok, 1 a check failed or a verdict differs, 2 usage error,
    3 bad input file, 130 interrupted.
    """


# -- shared options ----------------------------------------------------------------------


def model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options that describe a network: a model file, or a random / symbolic one."""
    options = [
        click.option("--model", "model_path", type=click.Path(dir_okay=False), help="Model file (.npz in symsteer's layout)."),
        click.option("--layers", type=int, help="Number of bilinear layers [default: 2]."),
        click.option("--width", type=int, help="Stream width d [default: 2]."),
        click.option("--hidden", type=int, help="Hidden width h [default: the width]."),
        click.option("--residual/--plain", default=None, help="Residual blocks x + B(x), or a plain stack [default: plain]."),
        click.option("--bias", is_flag=True, default=None, help="Biases: (W x + b) ⊙ (V x + c)."),
        click.option("--embed", type=int, help="Add an embedding E from this input width."),
        click.option("--unembed", type=int, help="Add an unembedding U to this output width."),
        click.option("--weights", type=click.Choice(["symbolic", "int", "rational", "float"]),
                     help="Generic symbolic weights, or seeded random ones [default: int]."),
        click.option("--seed", type=int, help="Seed for random weights [default: 0]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


_SHAPE_OPTIONS = ("layers", "width", "hidden", "residual", "bias", "embed", "unembed", "weights", "seed")


def build_network(model_path: str | None, **opts: Any) -> Any:
    from symsteer import Network, load_model

    given = [k for k in _SHAPE_OPTIONS if opts.get(k) is not None]
    if model_path is not None:
        clash = [k for k in given if k != "residual"]
        if clash:
            raise click.UsageError(f"--model conflicts with --{clash[0]}: the model file fixes the weights and shapes")
        return load_model(model_path, residual=opts.get("residual"))
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
@click.option("--exact/--float", default=True, show_default=True, help="Evaluate in exact rationals or float64.")
@click.option("--coefficients", "show_coefficients", is_flag=True, help="Print each α-coefficient as a polynomial, by kind.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "latex"]), default="text", show_default=True)
@click.option("--limit", type=int, default=200, show_default=True, help="List at most this many terms.")
@click.option("--budget", type=int, default=None, help="Most terms to build [default: 300000].")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout.")
def expand(model_path: str | None, steer_at: int, max_order: int | None, split_directions: bool, s_value: str | None,
           x_value: str | None, exact: bool, show_coefficients: bool, fmt: str, limit: int, budget: int | None,
           output: str | None, **shape: Any) -> None:
    """Expand the steered output x_n → x_n + α s into input / cross / self terms by α-order."""
    from symsteer import EXACT, FLOAT, expand as do_expand
    from symsteer.expansion import DEFAULT_BUDGET
    from symsteer.io import load_vector

    if (s_value is None) != (x_value is None):
        raise click.UsageError("--s and --x go together: evaluating needs both the steering vector and the input")
    if limit < 0:
        raise click.UsageError(f"--limit={limit}; expected a non-negative integer")
    network = build_network(model_path, **shape)
    e = do_expand(network, steer_at=steer_at, max_order=max_order, split_directions=split_directions,
                  budget=DEFAULT_BUDGET if budget is None else budget)
    values = None
    if s_value is not None:
        numbers = EXACT if exact else FLOAT
        values = e.evaluate(load_vector(s_value, name="--s"), x=load_vector(x_value, name="--x"), numbers=numbers)
    if fmt == "latex":
        from symsteer.latex import latex

        emit(latex(e), output)
        return
    if fmt == "json":
        emit(json.dumps(_expansion_json(e, values, exact, limit, show_coefficients), indent=2), output)
        return
    parts = [e.to_text(limit=limit)]
    if show_coefficients:
        parts.append(_coefficients_text(e))
    if values is not None:
        parts.append(_values_text(values, exact))
    emit("\n\n".join(parts), output)


def _coefficients_text(e: Any) -> str:
    from symsteer.coefficients import KINDS

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
        out["terms"] = [
            {"order": t.order, "kind": t.kind, "multiplicity": m, "term": str(t), "layers": sorted(t.layers)}
            for t, m in e.terms
        ]
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
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the random models and vectors.")
@click.option("--width", type=int, default=3, show_default=True)
@click.option("--hidden", type=int, default=3, show_default=True)
@click.option("--weights", type=click.Choice(["int", "rational", "float"]), default="rational", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def check(seed: int, width: int, hidden: int, weights: str, fmt: str) -> None:
    """Check expansions against numeric models over a grid of shapes (exit 1 on any failure)."""
    from symsteer.check import RTOL, check_grid

    rows = check_grid(seed=seed, width=width, hidden=hidden, kind=weights)
    failed = sum(not r.passed for _, r in rows)
    if fmt == "json":
        click.echo(json.dumps([{**case, **r.__dict__, "passed": r.passed} for case, r in rows], indent=2))
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


# -- entry point -------------------------------------------------------------------------


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and map errors to exit codes: no traceback for a user's mistake."""
    try:
        main.main(args=argv, prog_name="symsteer", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if exc.exit_code == 2 else exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - mapped below, re-raised if not ours
        from symsteer.errors import SymsteerError

        if isinstance(exc, SymsteerError):
            click.echo(f"error: {exc}", err=True)
            return exc.exit_code
        raise
    return EXIT_OK


def entry() -> None:
    sys.exit(run())


if __name__ == "__main__":
    entry()
