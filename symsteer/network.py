"""A network: a sequence of blocks (the usual stack: embedding, plain or residual bilinear layers, unembedding)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, Sequence

import numpy as np

from .blocks import Bilinear, Block, Linear, Residual
from .blocks.base import Field, random_array
from .errors import ShapeError

__all__ = ["Network"]


@dataclass(frozen=True, eq=False, init=False)
class Network:
    """A sequence of blocks. The usual stack: ``x_0 = E x_in``; ``x_{l+1} = B_l(x_l)`` (plain)
    or ``x_l + B_l(x_l)`` (residual); ``y = U x_L``, with E and U linear blocks.

    ``Network(layers, residual=…, embed=…, unembed=…)`` builds that stack; any sequence of
    blocks (lerp residuals, linear layers between blocks, folded norms, head biases) is a
    network too: ``Network([Linear(E), Residual.lerp(B, 0.35), Linear(U, bias=t)])``. The
    steering points are the streams entering each block that holds a bilinear layer (its
    *stage*), and the stream after the last one.

    >>> net = Network.random(layers=2, width=3, hidden=4, residual=True, seed=0)
    >>> net.depth, net.d_in, net.d_out, len(net.blocks)
    (2, 3, 3, 2)
    """

    blocks: tuple[Block, ...]

    def __init__(
        self,
        layers: Sequence[Block] | Block,
        *,
        residual: bool = False,
        embed: Any = None,
        unembed: Any = None,
    ) -> None:
        items = (layers,) if isinstance(layers, Block) else tuple(layers)
        for l, block in enumerate(items):
            if not isinstance(block, Block):
                raise ShapeError(f"layers[{l}] is a {type(block).__name__}; expected a Bilinear layer or another block")
        if not any(_stage_layer(b) is not None for b in items):
            raise ShapeError("layers=() is empty; expected at least one bilinear layer" if not items else
                             "the network has no bilinear layer; expected at least one")
        if residual:
            for l, block in enumerate(items):
                if isinstance(block, Bilinear) and block.d_out != block.d_in:
                    raise ShapeError(
                        f"layers[{l}].P has shape {block.P.shape}; a residual block needs ({block.d_in}, h) so that x + B(x) is defined"
                    )
            items = tuple(Residual.add(b) if isinstance(b, Bilinear) else b for b in items)
        blocks = ((Linear(embed, name="embed"),) if embed is not None else ()) + items + (
            (Linear(unembed, name="unembed"),) if unembed is not None else ())
        width = blocks[0].d_in
        for i, block in enumerate(blocks):
            if block.d_in != width:
                raise ShapeError(_width_message(blocks, i, width))
            width = block.d_out
        object.__setattr__(self, "blocks", blocks)

    # -- the stages (blocks holding a bilinear layer) and the stack view ---------------

    @cached_property
    def _stages(self) -> tuple[int, ...]:
        return tuple(i for i, b in enumerate(self.blocks) if _stage_layer(b) is not None)

    @property
    def layers(self) -> tuple[Bilinear, ...]:
        """The bilinear layer of every stage, in order."""
        return tuple(_stage_layer(self.blocks[i]) for i in self._stages)  # type: ignore[misc]

    @cached_property
    def is_stack(self) -> bool:
        """A plain or residual stack of bilinear layers between bias-free E and U: what the
        structured expansion, the verifier and the LaTeX printer describe."""
        first, last = self._stages[0], self._stages[-1]
        ends = self.blocks[:first] + self.blocks[last + 1:]
        if first > 1 or len(self.blocks) - last > 2 or any(not isinstance(b, Linear) or b.has_bias for b in ends):
            return False
        inner = self.blocks[first: last + 1]
        return all(isinstance(b, Bilinear) for b in inner) or all(
            isinstance(b, Residual) and b.plain_add and isinstance(b.inner, Bilinear) for b in inner)

    def require_stack(self, what: str) -> None:
        if not self.is_stack:
            kinds = ", ".join(b.describe() for b in self.blocks)
            raise ShapeError(
                f"{what} covers plain or residual stacks of bilinear layers between bias-free E and U; this network is "
                f"[{kinds}]: use coefficients / forward, which go through any blocks"
            )

    @property
    def residual(self) -> bool:
        """Every stage is ``x + B(x)``."""
        return all(isinstance(self.blocks[i], Residual) and self.blocks[i].plain_add for i in self._stages)

    @property
    def embed(self) -> np.ndarray | None:
        """E, when the network begins with one bias-free linear block before its first stage."""
        return self.blocks[0].M if self._stages[0] == 1 and isinstance(self.blocks[0], Linear) and not self.blocks[0].has_bias else None

    @property
    def unembed(self) -> np.ndarray | None:
        """U, when the network ends with one bias-free linear block after its last stage."""
        last = self.blocks[-1]
        after = len(self.blocks) - 1 - self._stages[-1]
        return last.M if after == 1 and isinstance(last, Linear) and not last.has_bias else None

    def block_at(self, n: int) -> int:
        """The index of the first block after steering point n (len(blocks) when none)."""
        n = self.check_steer_at(n)
        return self._stages[n] if n < self.depth else self._stages[-1] + 1

    def where(self, i: int) -> str:
        """Block i in words: ``layer l`` for a stage, else the block's name."""
        return f"layer {self._stages.index(i)}" if i in self._stages else f"block {i} ({self.blocks[i].name})"

    # -- shape ------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """L, the number of bilinear layers."""
        return len(self._stages)

    @property
    def d_in(self) -> int:
        return self.blocks[0].d_in

    @property
    def d_out(self) -> int:
        return self.blocks[-1].d_out

    def width_at(self, n: int) -> int:
        """Width of ``x_n``, the stream entering stage n (n = L: the stream after the last stage)."""
        i = self.block_at(n)
        return self.blocks[i].d_in if i < len(self.blocks) else self.blocks[-1].d_out

    @property
    def has_bias(self) -> bool:
        return any(block.has_bias for block in self.blocks)

    @cached_property
    def field(self) -> Field:
        """'symbolic' if any weight is, else 'float' if any is, else 'rational'."""
        kinds = {block.field for block in self.blocks}
        return "symbolic" if "symbolic" in kinds else "float" if "float" in kinds else "rational"

    def check_steer_at(self, n: int) -> int:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= self.depth:
            raise ShapeError(f"steer_at={n!r} but the model has {self.depth} layers; expected an integer 0 ≤ n ≤ {self.depth}")
        return int(n)

    def describe(self) -> str:
        if not self.is_stack:
            return f"network of {len(self.blocks)} blocks: " + "; ".join(b.describe() for b in self.blocks) + f"; {self.field} weights"
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
    def of(cls, layers: Sequence[Block] | Block, **options: Any) -> Network:
        """A network from one layer or a sequence of layers (or blocks)."""
        return cls(layers, **options)


def _stage_layer(block: Block) -> Bilinear | None:
    """The bilinear layer a block holds (itself, or the one a wrapper holds), if any."""
    while True:
        if isinstance(block, Bilinear):
            return block
        inner = getattr(block, "inner", None)
        if not isinstance(inner, Block):
            # a chain (a pre-norm sublayer: norm, then the layer) is a stage when one part is
            held = [p for p in getattr(block, "parts", ()) if _stage_layer(p) is not None]
            return _stage_layer(held[0]) if len(held) == 1 else None
        block = inner


def _width_message(blocks: tuple[Block, ...], i: int, width: int) -> str:
    block = blocks[i]
    before = blocks[i - 1] if i else None
    if before is None:
        source = "the network input"
    elif before.name == "embed":
        source = "the embedding's output"
    elif _stage_layer(before) is not None:
        source = f"layers[{sum(_stage_layer(b) is not None for b in blocks[:i - 1])}]'s output"
    else:
        source = f"{before.name}'s output"
    layer = _stage_layer(block)
    if block.name == "unembed":
        return f"unembed has shape {block.M.shape}; expected (k, {width}) to match the last stream width {width}"
    if layer is not None and layer is block:
        l = sum(_stage_layer(b) is not None for b in blocks[:i])
        return f"layers[{l}].W has shape {layer.W.shape}; expected (h, {width}) to match {source} width {width}"
    return f"{block.name} has input width {block.d_in}; expected {width} to match {source} width {width}"


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
