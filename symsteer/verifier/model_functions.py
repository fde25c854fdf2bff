"""The model in a statement: the layers B0 … B3, g, f, stream, cross_map, share and the parts
of a steered output, in every number system (the layer's algebra is its block's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._coefficients import forward, run_blocks, stream
from ..expansion import expand
from ..network import Network
from ..numbers import PolyRing, object_array
from .language import Node, StatementError, steered_form
from .propositions import Undefined, Unsupported
from .values import Frac, Relu, SYMBOLIC_TERMS, _box


class ModelFunctions:
    """Methods of :class:`.evaluation.Evaluator` (a mixin: it uses the evaluator's values and number system)."""

    # -- the model -----------------------------------------------------------------------

    def _vector(self, v: Any, what: str, width: int) -> np.ndarray:
        if not isinstance(v, np.ndarray) or v.ndim != 1:
            raise StatementError(f"{what} needs a vector")
        if v.shape[0] != width:
            raise StatementError(f"{what} got a vector of length {v.shape[0]}; expected {width}")
        if any(isinstance(e, (Frac, Relu)) for e in v):
            raise Unsupported(f"{what} of a quotient or a relu has no polynomial meaning here")
        return v

    def _layer_fn(self, l: int, node: Node, args: tuple[Node, ...]) -> np.ndarray:
        # the layer's algebra is its block's: B(z) its forward pass, B(u, v) = P((W u) ⊙ (V v))
        # its pair of two operands (the biases belong to B(z) only)
        layer = self._layer(l)
        if len(args) == 1:
            z = self._vector(self.value_of(args[0]), node.text, layer.d_in)
            return forward(self._single_layer(l), z, numbers=self.numbers)
        u, v = (self._vector(self.value_of(x), node.text, layer.d_in) for x in args)
        return layer.pair(u, v, numbers=self.numbers, same=True)

    def _single_layer(self, l: int, *, residual: bool = False) -> Network:
        if (l, residual) not in self._single:
            self._single[(l, residual)] = Network((self._layer(l),), residual=residual)
        return self._single[(l, residual)]

    def _fn_B(self, node: Node, *args: Node) -> np.ndarray:
        return self._layer_fn(0, node, args)

    _fn_B0 = _fn_B

    def _fn_B1(self, node: Node, *args: Node) -> np.ndarray:
        return self._layer_fn(1, node, args)

    def _fn_B2(self, node: Node, *args: Node) -> np.ndarray:
        return self._layer_fn(2, node, args)

    def _fn_B3(self, node: Node, *args: Node) -> np.ndarray:
        return self._layer_fn(3, node, args)

    def _fn_g(self, node: Node, arg: Node) -> np.ndarray:
        layer = self._layer(0)
        wz, vz = layer.factors(self._vector(self.value_of(arg), node.text, layer.d_in), numbers=self.numbers)
        return wz * vz

    def _embedded(self, z: Any, what: str) -> Any:
        """x_0 = E y for a network input y of width k when the model has an embedding; else z."""
        if not self.case.embed:
            return z
        return self._embed_matrix() @ self._vector(z, what, self.case.embed)

    def _embed_matrix(self) -> np.ndarray:
        if "E" not in self.values:
            raise StatementError("the embedding E is used but the model has none; set embed = k in [model]")
        return self.values["E"]

    def _fn_onehot(self, node: Node, index: Node) -> np.ndarray:
        k = self.case.embed
        i = int(index.value)
        if not k:
            raise StatementError(f"onehot({i}) needs an embedding; set embed = k in [model]")
        if not 0 <= i < k:
            raise StatementError(f"onehot({i}): index {i} is out of range; expected 0 … {k - 1} (embed = {k})")
        return object_array([self.numbers.entry(1 if j == i else 0) for j in range(k)])

    def _fn_f(self, node: Node, arg: Node) -> np.ndarray:
        z = self._embedded(self.value_of(arg), node.text)
        if self.case.depth == 0:
            z = self._vector(z, node.text, self.case.d)
            return z if self.unembed is None else self.unembed @ z
        if self.network is None:
            raise StatementError("f needs the model")  # pragma: no cover
        z = self._vector(z, node.text, self.network.d_in)
        if not isinstance(self.numbers, PolyRing):
            return forward(self.network, z, numbers=self.numbers)
        return self._head(self._stream(z)[-1])

    def _head(self, y: np.ndarray) -> np.ndarray:
        """The blocks after the last layer (the unembedding, if any), applied to ``x_L``."""
        net = self.network
        start = net.block_at(net.depth)
        return run_blocks(net.blocks[start:], y, self.numbers, lambda i: net.where(start + i))

    def _stream(self, z: np.ndarray) -> list[np.ndarray]:
        """The activations x_0 … x_L. Over a polynomial ring one layer at a time, refusing a layer
        whose product would be too large: flint multiplies in C, where no time limit reaches."""
        if not isinstance(self.numbers, PolyRing):
            return stream(self.network, z, numbers=self.numbers)
        out = [z]
        for l, layer in enumerate(self.network.layers):
            _check_layer(layer, out[-1], l)
            out.append(stream(self._single_layer(l, residual=self.network.residual), out[-1], numbers=self.numbers)[1])
        return out

    def _fn_stream(self, node: Node, arg: Node, index: Node) -> np.ndarray:
        m = int(self.value_of(index))
        if not 0 <= m <= self.case.depth:
            raise StatementError(f"stream(z, {m}) but the model has {self.case.depth} layer(s); expected 0 ≤ m ≤ {self.case.depth}")
        z = self._embedded(self.value_of(arg), node.text)  # z is the network input; stream(z, 0) = x_0 = E z
        if self.case.depth == 0:
            return self._vector(z, node.text, self.case.d)
        z = self._vector(z, node.text, self.network.d_in)
        return self._stream(z)[m]

    def _fn_from_layer(self, node: Node, arg: Node, index: Node) -> np.ndarray:
        """Layers m … L−1 of the network (plain or residual, then U) applied to z: steering at
        layer m of a deeper stack, written without unrolling the layers by hand."""
        m = int(self.value_of(index))
        if not 0 <= m <= self.case.depth:
            raise StatementError(f"from_layer(z, {m}) but the model has {self.case.depth} layer(s); expected 0 ≤ m ≤ {self.case.depth}")
        z = self.value_of(arg)
        if self.case.depth == 0:
            z = self._vector(z, node.text, self.case.d)
            return z if self.unembed is None else self.unembed @ z
        z = self._vector(z, node.text, self.network.d_in)
        for l in range(m, self.case.depth):
            if isinstance(self.numbers, PolyRing):
                _check_layer(self.network.layers[l], z, l)
            z = stream(self._single_layer(l, residual=self.network.residual), z, numbers=self.numbers)[1]
        return self._head(z)

    def _fn_cross_map(self, node: Node, arg: Node) -> np.ndarray:
        layer = self._layer(0)
        return layer.cross_matrix(self._vector(self.value_of(arg), node.text, layer.d_in), numbers=self.numbers)

    def _fn_share(self, node: Node, arg: Node, kind: Node | None = None) -> np.ndarray:
        how = "unit" if kind is None else kind.value
        if self.case.depth == 0 or self.network is None:
            raise StatementError("share needs at least one layer")
        net = self.network
        z = self._vector(self._embedded(self.value_of(arg), node.text), node.text, net.d_in)  # z is f's input
        acts = self._stream(z)
        x, y = acts[-2], acts[-1]
        a = self._weights(net.depth - 1)
        wx, vx = self._layer(net.depth - 1).factors(x, numbers=self.numbers)
        P = a["P"]
        if how == "unit":
            parts = [P * (wx * vx)[None, :]]
        elif how == "entry":
            W, V, xa = a["W"], a["V"], x
            if a["b"] is not None:  # the augmented form x' = [x, 1], W' = [W b], V' = [V c]
                W, V = np.concatenate([W, a["b"][:, None]], axis=1), np.concatenate([V, a["c"][:, None]], axis=1)
                xa = np.concatenate([x, object_array([self.numbers.entry(1)])])
            B = np.einsum("ka,ai,aj->kij", P, W, V)
            parts = [B * xa[None, :, None] * xa[None, None, :]]
        else:
            parts = [P * (wx * vx)[None, :],
                     (P * vx[None, :])[:, :, None] * (a["W"] * x[None, :])[None],
                     (P * wx[None, :])[:, :, None] * (a["V"] * x[None, :])[None]]
            if a["b"] is not None:
                parts += [P * (a["b"] * vx)[None, :], P * (wx * a["c"])[None, :]]
        out = []
        for contrib in parts:
            flat = contrib.reshape(contrib.shape[0], -1)
            for k in range(flat.shape[0]):
                for e in flat[k]:
                    out.append(self._quotient(e, y[k], node))
        return object_array(out)

    def _quotient(self, num: Any, den: Any, node: Node) -> Any:
        if self.exact and not isinstance(self.numbers, PolyRing):
            if den == 0:
                raise Undefined(f"'{node.text}' divides by an output y_k = 0")
            return num / den
        return Frac(num, den)

    # -- steered parts -------------------------------------------------------------------

    def _steered(self, node: Node, arg: Node) -> tuple[Network, Any, Any, Any]:
        """``f(X + A*S)`` or ``B(X + A*S)`` (also ``A*S + X`` and ``X - A*S``): the network, X, S
        and A (negated for a difference)."""
        fn = arg.value if arg.op == "call" else None
        inner = arg.args[0] if arg.op == "call" and len(arg.args) == 1 else None
        if fn not in ("f", "B", "B0", "B1", "B2", "B3") or inner is None:
            raise StatementError(f"{node.value} expects f(X + A*S) or B(X + A*S); got '{arg.text}'")
        form = steered_form(inner)
        if form is None:
            raise StatementError(f"{node.value} expects f(X + A*S) with a scalar A times a vector S; got '{inner.text}'")
        x_node, a_node, s_node, sign = form
        if fn == "f":
            if self.case.depth == 0 or self.network is None:
                raise StatementError(f"{node.value} needs at least one layer")
            net = self.network
        else:
            net = self._single_layer(0 if fn in ("B", "B0") else int(fn[1]))
        width = net.d_in
        a = self.lift(self.value_of(a_node))
        x, s = self.value_of(x_node), self.value_of(s_node)
        if fn == "f" and self.case.embed:
            # f(X + A*S) = net(E X + A E S): E is linear, so the terms of the expansion at (E X, E S)
            # split by the leaves X and S exactly as they split by E X and E S
            x, s = self._embedded(x, node.text), self._embedded(s, node.text)
        return (net, self._vector(x, node.text, width), self._vector(s, node.text, width), a if sign > 0 else -a)

    def _part(self, node: Node, arg: Node, kind: str) -> np.ndarray:
        if arg.op == "call" and arg.value == "F":
            return self._sequence_part(node, arg, kind)
        net, x, s, a = self._steered(node, arg)
        e = self._expansions.get(id(net))
        if e is None:
            e = self._expansions[id(net)] = (net, expand(net, steer_at=0))
        parts = e[1].evaluate(s, x_n=x, numbers=self.numbers)[kind]
        total = parts[0]
        power = self.numbers.entry(1)
        for m in range(1, parts.shape[0]):
            power = power * a
            total = total + parts[m] * _box(power)
        return total

    def _fn_input_part(self, node: Node, arg: Node) -> np.ndarray:
        return self._part(node, arg, "input")

    def _fn_cross_part(self, node: Node, arg: Node) -> np.ndarray:
        return self._part(node, arg, "cross")

    def _fn_self_part(self, node: Node, arg: Node) -> np.ndarray:
        return self._part(node, arg, "self")

    def _fn_const_part(self, node: Node, arg: Node) -> np.ndarray:
        return self._part(node, arg, "const")


def _check_layer(layer: Any, z: np.ndarray, l: int) -> None:
    """Refuse a layer over a polynomial ring whose product would be too large: flint multiplies
    in C, where no time limit reaches."""
    terms = max((len(e) if hasattr(e, "monoms") else 1) for e in z)
    size = layer.hidden * (layer.d_in * terms + layer.has_bias) ** 2
    if size > SYMBOLIC_TERMS:
        raise Unsupported(f"layer {l} with generic weights would multiply out to about {size:.1e} terms "
                          f"(limit {SYMBOLIC_TERMS:.0e}); list smaller sizes in [model]")
