"""Stacks of bilinear layers: plain or residual, with optional embedding and unembedding."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Sequence

import numpy as np

from .errors import ShapeError
from .layer import Bilinear, Field, as_weight_array, field_of, random_array

__all__ = ["Network"]


@dataclass(frozen=True, eq=False)
class Network:
    """``x_0 = E x_in``; ``x_{l+1} = B_l(x_l)`` (plain) or ``x_l + B_l(x_l)`` (residual); ``y = U x_L``.

    >>> net = Network.random(layers=2, width=3, hidden=4, residual=True, seed=0)
    >>> net.depth, net.d_in, net.d_out
    (2, 3, 3)
    """

    layers: tuple[Bilinear, ...]
    residual: bool = field(default=False, kw_only=True)
    embed: np.ndarray | None = field(default=None, kw_only=True)
    unembed: np.ndarray | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "layers", tuple(self.layers))
        if not self.layers:
            raise ShapeError("layers=() is empty; expected at least one bilinear layer")
        for key in ("embed", "unembed"):
            if getattr(self, key) is not None:
                put(self, key, as_weight_array(getattr(self, key), key, ndim=2))
        width = self.embed.shape[0] if self.embed is not None else self.layers[0].d_in
        for l, layer in enumerate(self.layers):
            if not isinstance(layer, Bilinear):
                raise ShapeError(f"layers[{l}] is a {type(layer).__name__}; expected a Bilinear layer")
            if layer.d_in != width:
                source = "the embedding's output" if l == 0 else f"layers[{l - 1}]'s output"
                raise ShapeError(f"layers[{l}].W has shape {layer.W.shape}; expected (h, {width}) to match {source} width {width}")
            if self.residual and layer.d_out != layer.d_in:
                raise ShapeError(
                    f"layers[{l}].P has shape {layer.P.shape}; a residual block needs ({layer.d_in}, h) so that x + B(x) is defined"
                )
            width = layer.d_out
        if self.unembed is not None and self.unembed.shape[1] != width:
            raise ShapeError(f"unembed has shape {self.unembed.shape}; expected (k, {width}) to match the last stream width {width}")

    # -- shape ------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """L, the number of bilinear layers."""
        return len(self.layers)

    @property
    def d_in(self) -> int:
        return self.embed.shape[1] if self.embed is not None else self.layers[0].d_in

    @property
    def d_out(self) -> int:
        return self.unembed.shape[0] if self.unembed is not None else self.layers[-1].d_out

    def width_at(self, n: int) -> int:
        """Width of ``x_n``, the stream entering layer n (n = L: the last stream, before U)."""
        self.check_steer_at(n)
        return self.layers[n].d_in if n < self.depth else self.layers[-1].d_out

    @property
    def has_bias(self) -> bool:
        return any(layer.has_bias for layer in self.layers)

    @cached_property
    def field(self) -> Field:
        """'symbolic' if any weight is, else 'float' if any is, else 'rational'."""
        kinds = {layer.field for layer in self.layers} | {field_of(self.embed, self.unembed)}
        return "symbolic" if "symbolic" in kinds else "float" if "float" in kinds else "rational"

    def check_steer_at(self, n: int) -> int:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= self.depth:
            raise ShapeError(f"steer_at={n!r} but the model has {self.depth} layers; expected an integer 0 ≤ n ≤ {self.depth}")
        return int(n)

    def describe(self) -> str:
        kind = "residual" if self.residual else "plain"
        widths = " → ".join(str(w) for w in [self.layers[0].d_in] + [layer.d_out for layer in self.layers])
        extra = [f"embed {self.embed.shape}" if self.embed is not None else "", f"unembed {self.unembed.shape}" if self.unembed is not None else ""]
        bias = ", biases" if self.has_bias else ""
        return f"{kind} network, {self.depth} layer(s), widths {widths}, hidden {[l.hidden for l in self.layers]}{bias}" + "".join(
            f", {e}" for e in extra if e
        ) + f", {self._weight_kind()} weights"

    def _weight_kind(self) -> str:
        """'integer' when every exact weight is an integer, else the field's name."""
        if self.field != "rational":
            return self.field
        arrays = [self.embed, self.unembed] + [a for layer in self.layers for a in (layer.W, layer.V, layer.P, layer.b, layer.c)]
        whole = all(v.is_Integer for a in arrays if a is not None for v in a.ravel())
        return "integer" if whole else "rational"

    def __repr__(self) -> str:
        """Short: the shapes, not every weight (``describe()``; the arrays are attributes)."""
        return f"Network({self.describe()})"

    # -- constructors -----------------------------------------------------------------

    @classmethod
    def symbolic(
        cls,
        *,
        layers: int,
        width: int,
        hidden: int,
        residual: bool = False,
        bias: bool = False,
        embed: int | None = None,
        unembed: int | None = None,
    ) -> Network:
        """Generic symbolic weights for every layer (and ``E_{i,j}``, ``U_{k,i}`` if asked for)."""
        _check_sizes("symbolic", layers=layers, width=width, hidden=hidden, embed=embed, unembed=unembed)
        import sympy

        def mat(letter: str, rows: int, cols: int) -> list[list[Any]]:
            return [[sympy.Symbol(f"{letter}_{{{r + 1},{q + 1}}}") for q in range(cols)] for r in range(rows)]

        return cls(
            tuple(Bilinear.symbolic(width, hidden, index=l, bias=bias) for l in range(layers)),
            residual=residual,
            embed=mat("E", width, embed) if embed else None,
            unembed=mat("U", unembed, width) if unembed else None,
        )

    @classmethod
    def random(
        cls,
        *,
        layers: int,
        width: int,
        hidden: int,
        residual: bool = False,
        bias: bool = False,
        embed: int | None = None,
        unembed: int | None = None,
        kind: Literal["int", "rational", "float"] = "int",
        seed: int | np.random.Generator = 0,
    ) -> Network:
        """Seeded random weights; ``embed``/``unembed`` give the input/output widths of E and U."""
        _check_sizes(kind, layers=layers, width=width, hidden=hidden, embed=embed, unembed=unembed)
        if not isinstance(seed, np.random.Generator) and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise ShapeError(f"seed={seed!r}; expected a non-negative integer (or a numpy Generator)")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        return cls(
            tuple(Bilinear.random(width, hidden, rng=rng, kind=kind, bias=bias, index=l) for l in range(layers)),
            residual=residual,
            embed=random_array((width, embed), rng=rng, kind=kind) if embed else None,
            unembed=random_array((unembed, width), rng=rng, kind=kind) if unembed else None,
        )

    @classmethod
    def of(cls, layers: Sequence[Bilinear] | Bilinear, **options: Any) -> Network:
        """A network from one layer or a sequence of layers."""
        return cls((layers,) if isinstance(layers, Bilinear) else tuple(layers), **options)


#: the most weight entries a generated network may have: exact and symbolic entries are Python
#: objects (a million of them take seconds to build), floats take 8 bytes each (800 MB here)
MAX_ENTRIES = {"object": 1_000_000, "float": 100_000_000}


def _check_sizes(kind: str = "object", **sizes: int | None) -> None:
    for name, value in sizes.items():
        if value is None and name in ("embed", "unembed"):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ShapeError(f"{name}={value!r}; expected a positive integer")
    d, h = sizes["width"], sizes["hidden"]
    entries = sizes["layers"] * 3 * h * d + d * ((sizes.get("embed") or 0) + (sizes.get("unembed") or 0))
    limit = MAX_ENTRIES["float" if kind == "float" else "object"]
    if entries > limit:
        what = "float" if kind == "float" else "exact or symbolic"
        raise ShapeError(
            f"layers={sizes['layers']}, width={d}, hidden={h}"
            + "".join(f", {k}={sizes[k]}" for k in ("embed", "unembed") if sizes.get(k))
            + f" make {entries} weights; expected at most {limit} {what} weights (smaller sizes, or load a model file)"
        )
