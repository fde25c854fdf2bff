"""The sequence side of the command line: options, loading, and printing per-position results.

``symsteer expand`` hands over here when it is given a sequence model (a tensor_language file)
or a sequence option (``--tokens``, ``--positions``, ``--heads``, ``--config``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click
import numpy as np

from .errors import InputFileError, ShapeError
from .files import echo, shown

__all__ = ["sequence_options", "wants_sequence", "load_sequence_model", "expand_sequence", "DEFAULT_MAX_ORDER"]

#: the α-order a sequence expansion stops at unless told (degrees grow ×5 per attention block)
DEFAULT_MAX_ORDER = 4
#: the largest run config read (a JSON object of a few dozen keys)
MAX_CONFIG_BYTES = 1 << 20
SEQUENCE_OPTIONS = ("tokens", "positions", "heads", "config_path", "attn_residual", "mlp_residual", "lerp_scale",
                    "freeze_softmax")


def sequence_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options that describe a sequence: its tokens, the steered positions, the model's config."""
    options = [
        click.option("--tokens", help="Sequence models: token ids, comma-separated (e.g. 3,1,4,1)."),
        click.option("--positions", help="Sequence models: steered positions: all, last, from:T or i,j,… (0-based) [default: all]."),
        click.option("--heads", type=int, help="Sequence models: number of attention heads (n_head; not in the state dict)."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help="Sequence models: the run's config (JSON: n_head, residual, scale, mlp_residual, norm, attention)."),
        click.option("--attn-residual", type=click.Choice(["add", "lerp"]), help="Sequence models: attention residual [default: lerp]."),
        click.option("--mlp-residual", type=click.Choice(["add", "lerp"]), help="Sequence models: MLP residual [default: add]."),
        click.option("--lerp-scale", help="Sequence models: λ of lerp residuals, exact as written (0.5 = 1/2) [default: 0.5]."),
        click.option("--freeze-softmax", is_flag=True, default=None,
                     help="Sequence models: analyse softmax attention layers with their pattern frozen at the unsteered "
                          "--tokens (linear in the values; an explicit approximation, never the default)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def wants_sequence(model_path: str | None, options: dict[str, Any]) -> bool:
    """A sequence option given, or a model file in a sequence layout."""
    if any(options.get(k) is not None for k in SEQUENCE_OPTIONS):
        return True
    if model_path is None or not Path(model_path).is_file():
        return False
    from .io import read_arrays
    from .tensor_language import is_tensor_language
    from .tensor_similarity import is_tensor_similarity

    layout = _named_layout(options.get("layout"))
    if layout is not None:
        return bool(getattr(layout, "sequence", False)) or layout.name in _OWN_PATHS
    try:
        arrays = read_arrays(model_path)
        return is_tensor_language(arrays) or is_tensor_similarity(arrays) or _claiming(list(arrays)) is not None
    except InputFileError:
        return False  # the bilinear loader reports what is wrong with the file


#: sequence layouts read by their own paths below (flags for residuals, heads, frozen softmax)
_OWN_PATHS = ("tensor-language", "tensor-similarity-transformer")


def _named_layout(name: str | None) -> Any:
    """The registered layout ``--layout`` names (None when not given)."""
    if name is None:
        return None
    from .layouts import LAYOUTS

    if name not in LAYOUTS:
        raise click.UsageError(f"--layout={echo(name)}; expected one of {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


def _claiming(keys: list[str]) -> Any:
    """The registered sequence layout (the released LMs: ``sequence = True``) that claims ``keys``."""
    from .layouts import LAYOUTS

    found = [layout for layout in LAYOUTS.values() if getattr(layout, "sequence", False) and layout.claims(keys)]
    return found[0] if len(found) == 1 else None


def _config(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    file = Path(path)
    if not file.is_file():
        raise InputFileError(f"--config: {path} is not a file; expected a JSON object (the run's config)")
    if file.stat().st_size > MAX_CONFIG_BYTES:
        raise InputFileError(f"--config: {path} has {file.stat().st_size} bytes; expected a config of at most {MAX_CONFIG_BYTES}")
    from .files import read_input

    from .layouts import config_object

    # a regular file of bounded size, read once (no window between the checks and the read)
    data = config_object(read_input(file, what="--config: a JSON object (the run's config)", limit=MAX_CONFIG_BYTES), f"--config: {shown(path)}")
    return data.get("config", data) if isinstance(data.get("config", data), dict) else data


def load_sequence_model(model_path: str | None, options: dict[str, Any], *, gate: bool = True) -> tuple[Any, Any]:
    """The model and its config from a tensor_language file, through the reference gate."""
    from .io import read_arrays
    from .tensor_language import TensorLanguageConfig, gate as run_gate, is_tensor_language, load_tensor_language

    if model_path is None:
        raise click.UsageError("sequence options need --model: a tensor_language state dict (.pt, .safetensors or .npz)")
    arrays = read_arrays(model_path)
    from .tensor_similarity import is_tensor_similarity

    named = _named_layout(options.get("layout"))
    layout = named if getattr(named, "sequence", False) else _claiming(list(arrays)) if named is None else None
    if layout is not None:
        return _load_registered(layout, model_path, arrays, options, gate=gate)
    if named is not None and named.name not in _OWN_PATHS:
        raise click.UsageError(f"--layout={named.name} is not a sequence layout; sequence options need a sequence model")
    if is_tensor_similarity(arrays) and (named is None or named.name == "tensor-similarity-transformer"):
        return _load_tensor_similarity(model_path, arrays, options, gate=gate)
    if not is_tensor_language(arrays):
        keys = ", ".join(sorted(arrays)[:8])
        raise InputFileError(
            f"{model_path}: not a tensor_language state dict (keys {keys}…); expected embed.weight, layers.{{i}}.q1.weight … "
            "and head.weight"
        )
    from .layouts import read_config

    base = read_config(model_path) or {}  # config.json beside the weights, as load_model reads it
    config = TensorLanguageConfig.of(
        base | _config(options.get("config_path")), n_head=options.get("heads"), residual=options.get("attn_residual"),
        mlp_residual=options.get("mlp_residual"), scale=options.get("lerp_scale"),
        freeze_softmax=options.get("freeze_softmax"),
    )
    tokens = _tokens(options.get("tokens")) if config.freeze_softmax else None
    model = load_tensor_language(arrays, config, source=model_path, tokens=tokens)
    if gate:
        run_gate(model, arrays, config, tokens=tokens)
    _reference(model, options, arrays)
    return model, config


def _reference(model: Any, options: dict[str, Any], arrays: Any) -> None:
    """``--reference OUT.npy --inputs IDS.npy``: the loaded model must reproduce the outputs its
    own code recorded for those token ids (exit 1 naming the largest difference otherwise)."""
    reference, inputs = options.get("reference"), options.get("reference_inputs")
    if reference is None and inputs is None:
        return
    if reference is None or inputs is None or not str(inputs).endswith(".npy"):
        raise click.UsageError("--reference OUT.npy goes with --inputs IDS.npy: the token ids (N, T) and the logits "
                               "(N, T, vocab) the model's own code gave for them")
    from .gate import reference_gate

    dtypes = sorted({str(np.asarray(a).dtype) for a in arrays.values() if np.asarray(a).dtype.kind == "f"})
    reference_gate(model, inputs=inputs, reference=reference, dtypes=dtypes)


def _load_registered(layout: Any, model_path: str, arrays: Any, options: dict[str, Any], *, gate: bool) -> tuple[Any, Any]:
    """A released LM through its registered layout (config.json beside it, then --config, then
    --heads); ``--reference`` gates the model as loaded. A layout with softmax attention
    (``freezes``) is then rebuilt with its patterns frozen at the unsteered --tokens."""
    from .layouts import read_config

    for name in ("attn_residual", "mlp_residual", "lerp_scale", "freeze_softmax"):
        if options.get(name) is not None:
            raise click.UsageError(f"--{name.replace('_', '-')}: the {layout.name} layout reads its residuals from its code "
                                   "and config.json; leave it out")
    config = (read_config(model_path) or {}) | _config(options.get("config_path"))
    if options.get("heads") is not None:
        config["n_head"] = options["heads"]
    model = layout.build(arrays, source=model_path, config=config)
    if gate:
        _reference(model, options, arrays)
    if getattr(layout, "freezes", False):
        tokens = _tokens(options.get("tokens"))
        if tokens is None:
            raise click.UsageError(f"the {layout.name} layout has softmax attention: its analysis freezes the patterns at "
                                   "the unsteered --tokens; give --tokens")
        model = layout.build(arrays, source=model_path, config=config, tokens=tokens)
    return model, config


def _load_tensor_similarity(model_path: str, arrays: Any, options: dict[str, Any], *, gate: bool) -> tuple[Any, Any]:
    """A tensor-similarity Transformer: n_head and scale from config.json beside it, --config, --heads
    and --lerp-scale (its lerp λ); the residual kinds are fixed by its code."""
    from .layouts import read_config
    from .tensor_similarity import TensorSimilarityConfig, gate as run_gate, load_tensor_similarity

    for name in ("attn_residual", "mlp_residual"):
        if options.get(name) is not None:
            raise click.UsageError(f"--{name.replace('_', '-')}: a tensor-similarity Transformer's residuals are lerps of its scale; "
                                   "give --lerp-scale")
    base = read_config(model_path) or {}
    config = TensorSimilarityConfig.of(base | _config(options.get("config_path")), n_head=options.get("heads"),
                                       scale=options.get("lerp_scale"))
    model = load_tensor_similarity(arrays, config, source=model_path)
    if gate:
        run_gate(model, arrays, config)
    _reference(model, options, arrays)
    return model, config


def positions_text(options: dict[str, Any]) -> str:
    """``--positions`` as given, ``all`` when absent (an empty value is refused by the parser, not
    read as ``all``: ``--positions "$UNSET_VAR"`` must not steer every token)."""
    text = options.get("positions")
    return "all" if text is None else text


def _tokens(text: str | None) -> list[int] | None:
    if text is None:
        return None
    out = []
    for i, part in enumerate(text.split(",")):
        part = part.strip()
        if not (part.isascii() and part.lstrip("+").isdigit() and len(part) <= 19):  # "²".isdigit() is True; int("²") fails
            raise ShapeError(f"--tokens: entry {i} is {shown(part)!r}; expected non-negative integer token ids such as 3,1,4,1")
        out.append(int(part))
    return out


def _steering(value: str, *, length: int, width: int) -> Any:
    from .io import load_vector

    arr = load_vector(value, name="--s")
    shape = np.shape(arr)
    if shape not in ((width,), (length, width)):
        raise ShapeError(f"--s has shape {shape}; expected ({width},), one vector, or ({length}, {width}), one per position")
    return arr


def _number(value: Any, exact: bool) -> Any:
    from .numbers import to_sympy_number

    v = to_sympy_number(value)
    return str(v) if exact else float(v)


def _causality(total: np.ndarray, first: int) -> str:
    """The causality line, from the coefficients themselves (a violation would be a bug)."""
    moved = [t for t in range(first) if any(v != 0 for v in np.ravel(total[1:, t]))]
    if moved:
        raise AssertionError(f"outputs at positions {moved} before the first steered position {first} depend on α")
    return f"outputs before position {first} do not depend on α (checked: their coefficients of order ≥ 1 are zero)"


def expand_sequence(model_path: str | None, *, steer_at: int, max_order: int | None, s_value: str | None,
                    x_value: str | None, exact: bool | None, fmt: str, options: dict[str, Any]) -> str:
    """``symsteer expand`` for a sequence model: per-position α-coefficients by kind."""
    from .io import load_vector
    from .numbers import EXACT, FLOAT
    from .positions import SteerSet, steer_direction
    from .series import exactness_text

    model, config = load_sequence_model(model_path, options)
    tokens = _tokens(options.get("tokens"))
    if (tokens is None) == (x_value is None):
        raise click.UsageError("a sequence model needs exactly one of --tokens (token ids) and --x (a (T, d) .npy stream)")
    if s_value is None:
        raise click.UsageError("a sequence model needs --s: the steering vector (d values) or a (T, d) .npy array")
    if exact is None:  # as for every model: float weights give float values unless --exact
        embed = getattr(model, "embed", None)
        exact = not (embed is not None and np.asarray(embed).dtype.kind == "f")
    numbers = EXACT if exact else FLOAT
    x = None
    if tokens is not None:
        x0 = model.inputs(tokens=tokens, numbers=numbers)
    else:
        x = load_vector(x_value, name="--x")
        if np.ndim(x) != 2:
            raise ShapeError(f"--x has shape {np.shape(x)}; expected a (T, {model.d_model}) .npy array for a sequence model")
        x0 = model.inputs(x=x, numbers=numbers)
    T = x0.shape[0]
    n = model.check_steer_at(steer_at)
    positions = SteerSet.parse(positions_text(options))
    D = steer_direction(positions, _steering(s_value, length=T, width=model.width_at(n)), length=T, width=model.width_at(n))
    degree = model.degree(n)
    top = model.order_limit(n, DEFAULT_MAX_ORDER if max_order is None else max_order)
    x_n = model.stream(x0, numbers=numbers)[n]
    parts, exactness = _coefficients_and_statement(model, x_n, D, n=n, top=top, numbers=numbers, tokens=tokens, x=x,
                                                   truncated=degree is None or top < degree, fmt=fmt)
    total = sum(parts.values())
    steered = positions.resolve(T)
    head = {
        "model": model.describe(),
        "steer_at": n,
        "positions": str(positions),
        "steered": list(steered),
        "length": T,
        "degree_bound": degree,
        "max_order": top,
        "truncated": degree is None or top < degree,
        "numbers": "exact" if exact else "float64",
        "exactness": exactness,
    }
    if fmt == "latex":
        from .sequence_latex import sequence_latex

        return sequence_latex(model, parts, x_n, D, steer_at=n, positions=str(positions), steered=steered, numbers=numbers)
    if fmt == "json":
        values = {
            str(m): {**{k: [[_number(v, exact) for v in row] for row in parts[k][m]] for k in parts},
                     "total": [[_number(v, exact) for v in row] for row in total[m]]}
            for m in range(len(total))
        }
        return _json_text({**head, "values": values}, indent=2)
    lines = [model.describe(),
             f"steering block {n} at positions {positions} = {list(steered)} of T = {T}; α-orders 0 … {top}"
             + (f" (truncated; degree ≤ {degree})" if head["truncated"] and degree is not None else
                " (rational in α: a truncated series)" if degree is None else " (the whole polynomial)"),
             _causality(total, steered[0]), exactness_text(exactness)]
    for m in range(len(total)):
        for kind in parts:
            block = parts[kind][m]
            if all(v == 0 for v in np.ravel(block)):
                continue
            lines.append(f"alpha^{m} {kind}:")
            for t, row in enumerate(block):
                if any(v != 0 for v in row):
                    lines.append(f"  position {t}: [{', '.join(str(_number(v, exact)) for v in row)}]")
    return "\n".join(lines)


def _coefficients_and_statement(model: Any, x_n: Any, D: Any, *, n: int, top: int, numbers: Any, tokens: Any, x: Any,
                                truncated: bool, fmt: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The coefficients by kind and what they are. Through a per-sample norm the output is a
    series in α: the split by kind is not kept (the self part, at x_n := 0, is another function
    with its own radius), the total's coefficients are certified (:mod:`symsteer.series`)."""
    from .series import Steered, box_budget, certify_or_say_why, exactness as kind_of, statement

    blocks = model.blocks[n:] + ((model.head,) if model.head is not None else ())
    if kind_of(blocks)["kind"] != "series":
        parts = model.split(x_n, D, steer_at=n, max_order=top, numbers=numbers)
        return parts, statement(blocks, exact_numbers=numbers.name == "exact", truncated=truncated)
    if fmt == "latex":
        raise ShapeError("the LaTeX report lists coefficients by kind, which a per-sample norm after the steering point does "
                         "not have (the output is a certified series): use --format text or json")
    total = model.coefficients(x_n, D, steer_at=n, max_order=top, numbers=numbers)
    certificate, reason = certify_or_say_why(Steered.of_sequence(model, direction=D, steer_at=n, tokens=tokens, x=x),
                                             order=top, budget=box_budget(model, n, np.shape(x_n)[-2]))
    if certificate is not None:  # the certified numbers: the bound is about what is printed
        total = certificate.midpoints().reshape(total.shape)
    return {"total": total}, statement(blocks, exact_numbers=False, truncated=True, certificate=certificate, reason=reason)


def check_sequences(*, seed: int, fmt: str) -> tuple[str, int]:
    """``symsteer check --sequence``: the table and how many rows failed."""
    from ._check import RTOL
    from .sequence_check import check_sequence_grid

    rows = check_sequence_grid(seed=seed)
    failed = sum(not r.passed for _, r in rows)
    if fmt == "json":
        return _json_text([{**case, **r.__dict__, "passed": r.passed} for case, r in rows], indent=2), failed
    lines = [f"{'blocks':<12} {'residual':<8} {'rope':<4} {'n':>2} {'positions':<9} {'forward':>9} {'exact≠':>6} {'causal≠':>7}  ok"]
    for case, r in rows:
        lines.append(f"{'+'.join(case['spec']):<12} {case['residual']:<8} {'yes' if case['rope'] else 'no':<4} {case['steer_at']:>2} "
                     f"{case['positions']:<9} {r.forward_error:9.1e} {r.exact_mismatches:>6} {r.causality_violations:>7}  "
                     f"{'yes' if r.passed else 'NO'}")
    lines.append(f"{len(rows) - failed} passed, {failed} failed (float tolerance {RTOL:.0e} relative; exact: zero difference)")
    return "\n".join(lines), failed


def report_sequence(model_path: str | None, *, steer_at: int, max_order: int | None, s_value: str | None,
                    x_value: str | None, options: dict[str, Any]) -> str:
    """``symsteer report`` for a sequence model: a LaTeX document (float64 numbers)."""
    from .sequence_latex import sequence_document

    model, _ = load_sequence_model(model_path, options)
    body = expand_sequence(model_path, steer_at=steer_at, max_order=max_order, s_value=s_value, x_value=x_value,
                           exact=False, fmt="latex", options=options)
    import textwrap

    plain = model.describe().replace("λ", "lambda").replace("→", "->").replace("·", ".").replace("−", "-")
    lines = [part for line in plain.splitlines() for part in textwrap.wrap(line, 90, subsequent_indent="      ")]
    verbatim = "\n".join([r"\begin{verbatim}", *lines, r"\end{verbatim}"])
    return sequence_document(verbatim + "\n\n" + body)


def effect_sequence(model_path: str | None, *, steer_at: int, s_value: str, alphas: tuple[float, ...],
                    max_order: int | None, fmt: str, options: dict[str, Any]) -> tuple[str, bool]:
    """``symsteer effect`` for a sequence model (float64): the self part per position from the
    weights alone, then on the tokens the polynomial against forward passes at each α and the
    argmax of the last position. Returns the text and whether polynomial and model disagree."""
    from ._check import RTOL, relative_error
    from .numbers import FLOAT
    from .positions import SteerSet, steer_direction
    from .series import exactness_text

    model, _ = load_sequence_model(model_path, options)
    tokens = _tokens(options.get("tokens"))
    if tokens is None:
        raise click.UsageError("a sequence model needs --tokens: the token ids to steer")
    x0 = model.inputs(tokens=tokens, numbers=FLOAT)
    T = x0.shape[0]
    n = model.check_steer_at(steer_at)
    positions = SteerSet.parse(positions_text(options))
    width = model.width_at(n)
    D = steer_direction(positions, _steering(s_value, length=T, width=width), length=T, width=width).astype(np.float64)
    degree = model.degree(n)
    top = model.order_limit(n, 8 if max_order is None else max_order)
    x_n = model.stream(x0, numbers=FLOAT)[n]
    full = degree is not None and top == degree
    parts, exactness = _coefficients_and_statement(model, x_n, D, n=n, top=top, numbers=FLOAT, tokens=tokens, x=None,
                                                   truncated=not full, fmt=fmt)
    total = sum(parts.values())
    steered = positions.resolve(T)
    rho = exactness.get("rho") if exactness["kind"] == "certified series" else None
    rows = []
    for a in alphas:
        with np.errstate(over="ignore", invalid="ignore"):
            poly = sum(total[m] * np.float64(a) ** m for m in range(len(total)))
            direct = model.forward(x0, numbers=FLOAT, steer_at=n, direction=D, alpha=a)
        if not (np.all(np.isfinite(poly)) and np.all(np.isfinite(direct))):  # never inf, nan or a false "bug"
            raise ShapeError(f"alpha={a:g} overflows float64 (the outputs or the polynomial reach inf or nan); "
                             "expected a smaller |alpha| (or smaller weights)")
        row = {"alpha": float(a), "difference": relative_error(poly, direct), "argmax_last": int(np.argmax(direct[-1]))}
        if exactness["kind"] in ("certified series", "series"):
            # the truncated series means something only inside the certified disk
            row["inside_certified_disk"] = rho is not None and abs(a) <= rho
            row["absolute_difference"] = float(np.max(np.abs(poly - direct)))
        rows.append(row)
    # a series and the forward pass further apart than the certified bound is a bug, not a verdict
    bound = exactness.get("tail_bound", 0.0) + exactness.get("coefficient_radius", 0.0) * len(total)
    broken = [r for r in rows if r.get("inside_certified_disk") and r["absolute_difference"] > bound * (1 + 1e-9) + 1e-9 * max(1.0, float(np.max(np.abs(total[0]))))]
    if broken:  # two methods that disagree: a bug in symsteer (exit 4), never a verdict
        raise AssertionError(f"the certified series and the forward pass differ by {broken[0]['absolute_difference']:.3g} at "
                            f"alpha={broken[0]['alpha']:g}, beyond the certified bound {bound:.3g}")
    failed = full and any(r["difference"] > RTOL for r in rows)
    self_norms = {m: [float(np.linalg.norm(parts["self"][m, t])) for t in range(T)] for m in range(1, len(total))} if "self" in parts else {}
    changes = [(rows[i]["alpha"], rows[i + 1]["alpha"], rows[i]["argmax_last"], rows[i + 1]["argmax_last"])
               for i in range(len(rows) - 1) if rows[i]["argmax_last"] != rows[i + 1]["argmax_last"]]
    if fmt == "json":
        return _json_text({"model": model.describe(), "steer_at": n, "positions": str(positions), "steered": list(steered),
                           "degree_bound": degree, "max_order": top, "truncated": not full, "exactness": exactness,
                           "self_norms": {str(m): v for m, v in self_norms.items()}, "alphas": rows,
                           "argmax_changes": [dict(zip(("from_alpha", "to_alpha", "before", "after"), c)) for c in changes]},
                          indent=1), failed
    lines = [model.describe(),
             f"steering block {n} at positions {positions} = {list(steered)} of T = {T}; |s| = {np.linalg.norm(D[steered[0]]):.6g}",
             (f"every output is a polynomial in alpha of degree <= {degree}; orders 0 … {top} kept"
              + ("" if full else " (truncated: the polynomial below is a truncation, valid for small |alpha|)")
              if degree is not None or rho is None and exactness["kind"] != "series" else f"orders 0 … {top} kept"),
             exactness_text(exactness),
             "",
             "from the weights alone: the self part (x_n := 0 at every position), norm per position:"
             if self_norms else "(no self part: through a per-sample norm the split by kind is not defined)"]
    for m, norms in self_norms.items():
        if any(norms):
            lines.append(f"  alpha^{m}: " + "  ".join(f"{t}: {v:.4g}" for t, v in enumerate(norms)))
    lines += ["", f"on the tokens {','.join(map(str, tokens))}: polynomial vs the model's forward passes "
              f"({'must agree' if full else 'truncation error'}), argmax at the last position:"]
    for r in rows:
        where = "" if "inside_certified_disk" not in r else "" if r["inside_certified_disk"] else "  OUTSIDE the certified disk"
        lines.append(f"  alpha={r['alpha']:+.4g}: relative difference {r['difference']:.2e}  argmax {r['argmax_last']}{where}")
    lines.append("  argmax changes: " + ("; ".join(f"{b} -> {c} between alpha={lo:+.4g} and {hi:+.4g}" for lo, hi, b, c in changes)
                                        if changes else "none on this grid"))
    if failed:
        lines.append(f"error: polynomial and forward passes differ beyond {RTOL:.0e}")
    return "\n".join(lines), failed


def _json_text(data: Any, *, indent: int) -> str:
    """Valid JSON (a NaN or infinity becomes null), as the other commands write it."""
    from .cli import _json

    return _json(data, indent=indent)
