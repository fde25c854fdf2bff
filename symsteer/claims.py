"""Claims: one TOML file per claim of the seed, and the verdict the mathematics gives.

>>> claims = load_claims()
>>> verdict = verify(next(c for c in claims if c.id == "c01-homogeneity-bias-free"))
>>> verdict.found, verdict.method, verdict.ok
('holds', 'proof', True)
"""

from __future__ import annotations

import difflib
import os
from fractions import Fraction
import re
import time
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ClaimFileError, DeadlineError, InputFileError, SymsteerError
from .files import echo, read_input, shown, write_output
from .verifier import DEFAULT_TIMEOUT, Decision, Problem, deadline, decide
from .verifier.evaluation import Case
from .verifier.language import MODEL_NAMES, SEQUENCE_NAMES, Node, StatementError, free_names, parse_statement
from .verifier.sequence_functions import PATTERNS, RESIDUALS, SeqSpec

__all__ = ["DEFAULT_TIMEOUT", "PROOFS", "VERDICTS", "Claim", "Verdict", "load_claim", "load_claims", "verify", "verify_all"]

#: the built-in claims
def _builtin_proofs() -> Path:
    # a checkout keeps proofs/ at the repository root; an installed package carries them as
    # symsteer/proofs (setup.py copies one into the other)
    here = Path(__file__).resolve().parent
    inside = here / "proofs"
    return inside if inside.is_dir() else here.parent / "proofs"


PROOFS = _builtin_proofs()
#: what a claim file may expect: 'out_of_scope' is a claim no proof over weights can decide
VERDICTS = ("holds", "fails", "out_of_scope")

_FIELDS = {
    "id": "a short stable id, equal to the file name: c01-homogeneity-bias-free",
    "row": "the row of docs/mathematics.md's table (an integer)",
    "title": "one line saying what the claim is",
    "quote": "the seed's words",
    "reading": "which reading of ambiguous words this file takes",
    "statement": "the precise statement in the statement language",
    "assumptions": "a list of statements assumed, e.g. ['a != 0']",
    "expected": "holds, fails or out_of_scope",
    "note": "what the verdict means, shown with -v",
    "timeout": "seconds for this claim",
    "model": "the model family: layers, sizes, residual, bias, unembed, embed",
}
_REQUIRED = ("id", "title", "quote", "statement", "expected", "model")
_MODEL_FIELDS = {
    "layers": "a list of depths L after the steering point, e.g. [1, 2]",
    "sizes": "a list of [d, h] widths, e.g. [[1, 1], [2, 2]]",
    "residual": "false, true, or [false, true] for both",
    "bias": "false, true, or [false, true] for both",
    "unembed": "the output width of an unembedding U (optional)",
    "embed": "the input width k of an embedding E (d × k, optional): x_0 = E y for a k-wide input y",
    "norm": "false, true or [false, true]: an RMSNorm (ε = 0) before every bilinear layer",
    "final_norm": "true for an RMSNorm (ε = 0) before the unembedding",
    "gain": "true for generic gains on the norms (default: no gain, g = 1)",
}
#: [model] of a sequence model (kind = "sequence")
_SEQUENCE_FIELDS = {
    "kind": "'network' (the default) or 'sequence'",
    "lengths": "a list of sequence lengths T, e.g. [1, 2, 3]",
    "sizes": "a list of [d, h] widths (h: the MLP's hidden width), e.g. [[1, 1], [2, 2]]",
    "blocks": "the block kinds in order, e.g. ['attention', 'mlp'], or a list of such lists",
    "pattern": "'bilinear' (two-branch), 'squared' or 'frozen', or a list of them",
    "heads": "the number of attention heads (it divides d), or a list",
    "rope": "false, true, or [false, true] for both (rotary embeddings on q and k)",
    "residual": "'add', 'lerp' or 'none' around every block (true is 'add', false 'none'), or a list",
    "lerp": "λ of the lerp residual (1 − λ) x + λ B(x): a fraction as a string such as \"1/2\" (default)",
    "unembed": "the output width of an unembedding U (optional)",
}
MAX_LENGTH, MAX_BLOCKS, MAX_SEQUENCE_WIDTH = 4, 4, 3
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
MAX_DEPTH, MAX_WIDTH = 4, 6


@dataclass(frozen=True)
class Claim:
    """One claim file: what the seed says, the precise statement, the model family, the expected verdict."""

    id: str
    quote: str
    statement: str
    reading: str | None
    assumptions: tuple[str, ...]
    expected: str
    path: Path
    title: str
    row: int | None = None
    note: str | None = None
    timeout: float | None = None
    layers: tuple[int, ...] = (1,)
    sizes: tuple[tuple[int, int], ...] = ((1, 1),)
    residual: tuple[bool, ...] = (False,)
    bias: tuple[bool, ...] = (False,)
    unembed: int | None = None
    embed: int | None = None
    #: a sequence model: the lengths T and the families (block kinds, pattern, heads, RoPE, residual)
    lengths: tuple[int, ...] = ()
    families: tuple[SeqSpec, ...] = ()
    norm: tuple[bool, ...] = (False,)
    final_norm: bool = False
    gain: bool = False
    node: Node | None = field(default=None, repr=False, compare=False)
    assumption_nodes: tuple[Node, ...] = field(default=(), repr=False, compare=False)

    @property
    def sequence(self) -> bool:
        return bool(self.families)

    def cases(self) -> list[Case]:
        """Every model shape to decide the claim on, fewest layers and smallest widths first."""
        if self.sequence:
            return self._sequence_cases()
        uses_m = self.node is not None and "m" in self.node.names() | {n for a in self.assumption_nodes for n in a.names()}
        out = []
        for depth in self.layers:
            for d, h in self.sizes:
                for residual in self.residual:
                    for bias in self.bias:
                        for norm in self.norm:
                            for m in (range(depth + 1) if uses_m else [None]):
                                out.append(Case(depth, d, h, residual, bias, self.unembed, m, embed=self.embed, norm=norm,
                                                final_norm=self.final_norm, gain=self.gain))
        return sorted(set(out), key=lambda c: (c.depth, c.d, c.h, c.residual, c.bias, c.m or 0))

    def _sequence_cases(self) -> list[Case]:
        trees = (self.node, *self.assumption_nodes) if self.node is not None else ()
        uses_q = any("q" in free_names(t) for t in trees)
        out = []
        for spec in self.families:
            for T in self.lengths:
                for d, h in self.sizes:
                    if spec.rope and (d // spec.heads) % 2:
                        continue  # RoPE rotates pairs: an odd head width has none
                    for q in (range(T) if uses_q else [None]):
                        out.append(Case(spec.attention_blocks, d, h if spec.mlp else 0, spec.residual != "none", False,
                                        self.unembed, None, length=T, q=q, seq=spec))
        return sorted(set(out), key=lambda c: (len(c.seq.blocks), c.length, c.d, c.h, c.seq, c.q or 0))

    @property
    def family(self) -> str:
        """The model family in a few characters: 'plain, biases, L=1,2'."""
        if self.sequence:
            return "sequence: " + "; ".join(sorted({" → ".join(f.blocks) for f in self.families})) + \
                f", T={','.join(map(str, self.lengths))}"
        if self.node is not None and not (self.node.names() | {n for a in self.assumption_nodes for n in a.names()}) & MODEL_NAMES:
            return "-"
        kinds = "/".join(("residual" if r else "plain") for r in self.residual)
        bias = "/".join(("biases" if b else "bias-free") for b in self.bias)
        out = f"{kinds}, {bias}, L={','.join(map(str, self.layers))}"
        out += "".join(w for w, on in ((", pre-norm", True in self.norm), (", final norm", self.final_norm)) if on)
        return out + (f", d_in={self.embed}" if self.embed else "") + (f", d_out={self.unembed}" if self.unembed else "")

    @property
    def model(self) -> str:
        if self.sequence:
            sizes = ", ".join(f"({d},{h})" for d, h in self.sizes)
            return f"sequence model, T = {', '.join(map(str, self.lengths))}, (d,h) = {sizes}; " + \
                "; ".join(f.describe() for f in self.families)
        kinds = "/".join(("residual" if r else "plain") for r in self.residual)
        bias = "/".join(("biases" if b else "bias-free") for b in self.bias)
        sizes = ", ".join(f"({d},{h})" for d, h in self.sizes)
        norms = "".join(w for w, on in ((", pre-norm" + (" / none" if False in self.norm else ""), True in self.norm),
                                         (", final norm", self.final_norm), (" (gains)", self.gain)) if on)
        return f"{kinds}, {bias}{norms}, L = {', '.join(map(str, self.layers))}, (d,h) = {sizes}"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "row": self.row, "title": self.title, "quote": self.quote, "reading": self.reading,
                "statement": self.statement, "assumptions": list(self.assumptions), "expected": self.expected,
                "model": self.model, "note": self.note, "path": str(self.path)}


@dataclass(frozen=True)
class Verdict:
    """What verification found for one claim, and how."""

    claim: Claim
    #: 'holds' | 'fails' | 'undecided' | 'out_of_scope'; 'error' when the claim cannot be decided
    #: (the reason is in detail); 'bug' when two methods disagree or symsteer failed (exit 4)
    found: str
    method: str  # 'proof' | 'counterexample' | 'numeric' | 'disagreement' | 'none'
    seconds: float
    scope: str
    detail: str
    evidence: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The found verdict is the expected one."""
        return self.found == self.claim.expected

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.claim.id, "expected": self.claim.expected, "found": self.found, "ok": self.ok,
                "method": self.method, "seconds": round(self.seconds, 4), "scope": self.scope, "detail": self.detail,
                "statement": self.claim.statement, "assumptions": list(self.claim.assumptions), "evidence": self.evidence}

    def _repr_latex_(self) -> str:
        """Jupyter renders a one-line math summary."""
        from ._latex import latex

        return latex(self, mode="inline")


# -- loading -------------------------------------------------------------------------------


def load_claims(paths: Sequence[str | Path] | None = None, *, errors: list[ClaimFileError] | None = None) -> list[Claim]:
    """Claims from files and directories (``*.toml`` inside), sorted by id; None: the built-in ``proofs/``.
    A bad file raises :class:`ClaimFileError`; with ``errors`` given, it is appended there instead
    and the other files still load."""

    def bad(exc: ClaimFileError) -> None:
        if errors is None:
            raise exc
        errors.append(exc)

    files: list[Path] = []
    for p in [PROOFS] if paths is None else [Path(p) for p in paths]:
        if p.is_dir():
            found = sorted(p.glob("*.toml"))
            if not found:  # verifying nothing would pass silently
                bad(ClaimFileError(f"{p}: a directory with no claim files; expected *.toml files in it"))
            files += found
        elif os.path.lexists(p):  # a file, or a FIFO, device …: load_claim says which
            files.append(p)
        else:
            bad(ClaimFileError(f"{p}: no such file or directory; expected a claim file (.toml) or a directory of them"))
    claims = []
    for f in files:
        try:
            claims.append(load_claim(f))
        except ClaimFileError as exc:
            bad(exc)
    seen: dict[str, Path] = {}
    unique = []
    for c in claims:
        if c.id in seen and seen[c.id] != c.path:
            bad(ClaimFileError(f"{c.path}: id '{c.id}' is used by {seen[c.id]} too; expected unique ids"))
            continue
        seen[c.id] = c.path
        unique.append(c)
    return sorted({c.id: c for c in unique}.values(), key=lambda c: c.id)


def load_claim(path: str | Path) -> Claim:
    """One claim file; :class:`ClaimFileError` names the file, the line and what was expected."""
    path = Path(path)
    try:  # a regular file of bounded size: a FIFO or /dev/zero would never end
        text = read_input(path, what="a claim file (.toml)").decode("utf-8-sig")
    except InputFileError as exc:
        raise ClaimFileError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise ClaimFileError(f"{shown(path)}: not UTF-8 text ({exc.reason} at byte {exc.start}); expected a claim file (.toml)") from None
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise ClaimFileError(f"{shown(path)}: not valid TOML: {exc}") from None

    def fail(key: str, message: str, table: str | None = None) -> ClaimFileError:
        line = _line_of(text, key, table)
        where = f"line {line}: " if line else ""
        return ClaimFileError(f"{path}: {where}{message}")

    for key in data:
        if key not in _FIELDS:
            raise fail(key, f"unknown field {echo(key)}{_closest(key, _FIELDS)}; expected one of {', '.join(_FIELDS)}")
    for key in _REQUIRED:
        if key not in data:
            raise ClaimFileError(f"{path}: missing field '{key}' ({_FIELDS[key]})")
    for key in ("id", "title", "quote", "statement", "expected", "reading", "note"):
        if key in data and (not isinstance(data[key], str) or not data[key].strip()):
            raise fail(key, f"{key} = {echo(data[key])}; expected a non-empty string ({_FIELDS[key]})")
        # the text is printed on terminals and typeset by LaTeX: an escape sequence, a bell or
        # a bidi override would act there instead of being read
        bad = next((c for c in data.get(key, "") if c not in "\n\t" and unicodedata.category(c) in ("Cc", "Cf", "Co", "Cn")), None)
        if bad is not None:
            raise fail(key, f"{key} contains the control or format character {shown(bad)} at position "
                            f"{data[key].index(bad) + 1}; expected printable text")
    if not _ID.match(data["id"]):
        raise fail("id", f"id = {echo(data['id'])}; expected lowercase letters, digits and '-' (e.g. c01-homogeneity)")
    if data["id"] != path.stem:
        raise fail("id", f"id = {echo(data['id'])} but the file is named {path.name}; expected the id to equal the file name")
    if data["expected"] not in VERDICTS:
        raise fail("expected", f"expected = {echo(data['expected'])}; expected one of {', '.join(VERDICTS)}{_closest(data['expected'], VERDICTS)}")
    assumptions = data.get("assumptions", [])
    if not isinstance(assumptions, list) or not all(isinstance(a, str) for a in assumptions):
        raise fail("assumptions", f"assumptions = {echo(assumptions)}; expected a list of statements (strings)")
    row = data.get("row")
    if row is not None and (isinstance(row, bool) or not isinstance(row, int) or row < 1):
        raise fail("row", f"row = {echo(row)}; expected a positive integer")
    timeout = data.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 3600):
        raise fail("timeout", f"timeout = {echo(timeout)}; expected seconds, 0 < timeout ≤ 3600")
    kind = data["model"].get("kind", "network") if isinstance(data["model"], dict) else "network"
    if kind not in ("network", "sequence"):
        raise fail("kind", f"kind = {echo(kind)}; expected 'sequence' (or leave it out for a network)", "model")
    sequence = kind == "sequence"
    model = _sequence_model(data["model"], fail) if sequence else _model(data["model"], fail)
    try:
        node = parse_statement(data["statement"])
    except StatementError as exc:
        raise fail("statement", f"statement: {exc}") from None
    nodes = []
    for a in assumptions:
        try:
            nodes.append(parse_statement(a))
        except StatementError as exc:
            raise fail("assumptions", f"assumption {echo(a)}: {exc}") from None
    try:  # substitutions that form a cycle, generic(...) inside an assumption: the file is wrong
        Problem(node, tuple(nodes), [], 0.0)
    except StatementError as exc:
        raise fail("assumptions", f"assumptions: {exc}") from None
    if sequence:
        _check_sequence_statement(model, [node, *nodes], fail)
        return Claim(
            id=data["id"], quote=data["quote"].strip(), statement=data["statement"].strip(), reading=data.get("reading"),
            assumptions=tuple(a.strip() for a in assumptions), expected=data["expected"], path=path, title=data["title"].strip(),
            row=row, note=" ".join(data["note"].split()) if "note" in data else None,
            timeout=None if timeout is None else float(timeout), node=node, assumption_nodes=tuple(nodes), **model)
    seq_used = sorted((node.names() | {n for a in nodes for n in a.names()}) & SEQUENCE_NAMES)
    if seq_used:
        raise fail("statement", f"the statement uses {', '.join(seq_used)} (a sequence model) but [model] has no "
                                "kind = \"sequence\"; expected kind = \"sequence\" with lengths and blocks", "model")
    biases = {"b", "c"} | {f"{w}{l}" for w in "bc" for l in range(4)}
    if model["bias"] == (False,) and (biases & (node.names() | {n for a in nodes for n in a.names()})):
        raise fail("statement", "the statement uses the biases b or c but [model] has bias = false")
    used = node.names() | {n for a in nodes for n in a.names()}
    if True in model["norm"] or model["final_norm"]:
        other = sorted(used & (MODEL_NAMES - {"f", "limit", "U", "gain"}))
        loose = [n for t in (node, *nodes) for n in _outside_limit(t) if n.op == "call" and n.value == "f"]
        if other or loose:
            what = f"'{other[0]}'" if other else f"'{loose[0].text}' outside limit(…)"
            raise fail("statement", f"the statement uses {what}, but with norm or final_norm the model is read through "
                                    "limit(f(…), alpha) only (the other model functions do not see the norms)", "model")
    if model["unembed"] is None and "U" in used:
        raise fail("statement", "the statement uses the unembedding U but [model] has no unembed; expected unembed = k", "model")
    if "gain" in used and not (model["final_norm"] and model["gain"]):
        raise fail("statement", "the statement uses gain (the final norm's gain) but [model] has not final_norm = true "
                                "and gain = true", "model")
    if model["embed"] is None and used & {"E", "onehot"}:
        raise fail("statement", "the statement uses the embedding E or onehot(i) but [model] has no embed; expected embed = k", "model")
    for n in (n for tree in (node, *nodes) for n in tree.walk()):
        if n.op == "call" and n.value == "onehot" and not 0 <= n.args[0].value < model["embed"]:
            raise fail("statement", f"'{n.text}': index {n.args[0].value} is out of range; expected 0 … {model['embed'] - 1} (embed = {model['embed']})")
    if 0 in model["layers"] and node.names() & (MODEL_NAMES - {"f", "stream", "E", "onehot"}):
        raise fail("layers", "layers includes 0 but the statement uses a layer; expected depths ≥ 1", "model")
    return Claim(
        id=data["id"], quote=data["quote"].strip(), statement=data["statement"].strip(), reading=data.get("reading"),
        assumptions=tuple(a.strip() for a in assumptions), expected=data["expected"], path=path, title=data["title"].strip(),
        row=row, note=" ".join(data["note"].split()) if "note" in data else None, timeout=None if timeout is None else float(timeout), node=node,
        assumption_nodes=tuple(nodes), **model,
    )


def _model(table: Any, fail: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise fail("model", f"model = {echo(table)}; expected a table [model] with {', '.join(_MODEL_FIELDS)}")
    for key in table:
        if key not in _MODEL_FIELDS and key != "kind":
            raise fail(key, f"unknown field {echo(key)} in [model]{_closest(key, _MODEL_FIELDS)}; expected one of {', '.join(_MODEL_FIELDS)}", "model")
    for key in ("layers", "sizes"):
        if key not in table:
            raise fail("model", f"[model] misses '{key}' ({_MODEL_FIELDS[key]})")
    layers = table["layers"]
    layers = [layers] if isinstance(layers, int) and not isinstance(layers, bool) else layers
    if not isinstance(layers, list) or not layers or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_DEPTH for v in layers):
        raise fail("layers", f"layers = {echo(table['layers'])}; expected a list of depths 0 … {MAX_DEPTH}", "model")
    sizes = table["sizes"]
    if not isinstance(sizes, list) or not sizes or not all(
            isinstance(s, list) and len(s) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_WIDTH for v in s)
            for s in sizes):
        raise fail("sizes", f"sizes = {echo(sizes)}; expected a list of [d, h] pairs with 1 ≤ d, h ≤ {MAX_WIDTH}", "model")
    flags = {}
    for key in ("residual", "bias"):
        value = table.get(key, False)
        value = [value] if isinstance(value, bool) else value
        if not isinstance(value, list) or not value or not all(isinstance(v, bool) for v in value):
            raise fail(key, f"{key} = {echo(table.get(key))}; expected true, false or [false, true]", "model")
        flags[key] = tuple(dict.fromkeys(value))
    unembed = table.get("unembed")
    if unembed is not None and (isinstance(unembed, bool) or not isinstance(unembed, int) or not 1 <= unembed <= MAX_WIDTH):
        raise fail("unembed", f"unembed = {echo(unembed)}; expected an output width 1 … {MAX_WIDTH}", "model")
    embed = table.get("embed")
    if embed is not None and (isinstance(embed, bool) or not isinstance(embed, int) or not 1 <= embed <= MAX_WIDTH):
        raise fail("embed", f"embed = {echo(embed)}; expected an input width 1 … {MAX_WIDTH}", "model")
    norm = _choices(table, "norm", (False, True), False, fail, "true, false or [false, true]")
    final_norm, gain = (_choices(table, key, (False, True), False, fail, "true or false") for key in ("final_norm", "gain"))
    if len(final_norm) > 1 or len(gain) > 1:
        raise fail("final_norm" if len(final_norm) > 1 else "gain", "final_norm and gain take one value; expected true or false", "model")
    if (True in norm or final_norm[0]) and True in flags["bias"]:
        raise fail("norm", "norm and final_norm are written for bias-free layers (a norm before a layer with biases is not "
                           "rational in alpha); expected bias = false", "model")
    if (True in norm or final_norm[0]) and embed is not None:
        raise fail("norm", "norm and final_norm are written without an embedding; expected no embed", "model")
    if gain[0] and not (True in norm or final_norm[0]):
        raise fail("gain", "gain = true but there is no norm; expected norm = true or final_norm = true", "model")
    return {"layers": tuple(dict.fromkeys(layers)), "sizes": tuple(dict.fromkeys(tuple(s) for s in sizes)),
            "unembed": unembed, "embed": embed, "norm": norm, "final_norm": final_norm[0], "gain": gain[0], **flags}


def _choices(table: dict, key: str, allowed: tuple, default: Any, fail: Any, what: str) -> tuple:
    """A value or a list of values among ``allowed`` (refused with one line naming it)."""
    value = table.get(key, default)
    values = value if isinstance(value, list) else [value]
    if not values or any(isinstance(v, bool) != isinstance(allowed[0], bool) or v not in allowed for v in values):
        raise fail(key, f"{key} = {echo(table.get(key))}; expected {what}", "model")
    return tuple(dict.fromkeys(values))


def _sequence_model(table: dict, fail: Any) -> dict[str, Any]:
    """[model] of a sequence model: lengths, sizes, blocks, pattern, heads, rope, residual, lerp, unembed."""
    for key in table:
        if key not in _SEQUENCE_FIELDS:
            raise fail(key, f"unknown field {echo(key)} in [model] of a sequence model{_closest(key, _SEQUENCE_FIELDS)}; "
                            f"expected one of {', '.join(_SEQUENCE_FIELDS)}", "model")
    for key in ("lengths", "sizes", "blocks"):
        if key not in table:
            raise fail("model", f"[model] misses '{key}' ({_SEQUENCE_FIELDS[key]})")
    lengths = table["lengths"]
    if not isinstance(lengths, list) or not lengths or not all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_LENGTH for v in lengths):
        raise fail("lengths", f"lengths = {echo(lengths)}; expected a list of sequence lengths 1 … {MAX_LENGTH}", "model")
    sizes = table["sizes"]
    if not isinstance(sizes, list) or not sizes or not all(
            isinstance(s, list) and len(s) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SEQUENCE_WIDTH
                                                       for v in s) for s in sizes):
        raise fail("sizes", f"sizes = {echo(sizes)}; expected a list of [d, h] pairs with 1 ≤ d, h ≤ {MAX_SEQUENCE_WIDTH}", "model")
    blocks = table["blocks"]
    lists = blocks if isinstance(blocks, list) and blocks and all(isinstance(b, list) for b in blocks) else [blocks]
    for kinds in lists:
        if not isinstance(kinds, list) or not 1 <= len(kinds) <= MAX_BLOCKS:
            raise fail("blocks", f"blocks = {echo(blocks)}; expected a list of 1 … {MAX_BLOCKS} block kinds such as "
                                 "['attention', 'mlp'], or a list of such lists", "model")
        for kind in kinds:
            if kind not in ("attention", "mlp"):
                raise fail("blocks", f"blocks: unknown block kind {echo(kind)}{_closest(kind, ('attention', 'mlp'))}; "
                                     "expected 'attention' or 'mlp'", "model")
    patterns = _choices(table, "pattern", PATTERNS, "bilinear", fail, "'" + "', '".join(PATTERNS) + "' or a list of them")
    heads = table.get("heads", 1)
    heads = heads if isinstance(heads, list) else [heads]
    if not heads or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SEQUENCE_WIDTH for v in heads):
        raise fail("heads", f"heads = {echo(table.get('heads'))}; expected a number of heads 1 … {MAX_SEQUENCE_WIDTH} (or a list)", "model")
    rope = _choices(table, "rope", (False, True), False, fail, "true, false or [false, true]")
    residual = table.get("residual", "add")
    residual = [{True: "add", False: "none"}.get(v, v) if isinstance(v, bool) else v
                for v in (residual if isinstance(residual, list) else [residual])]
    residual = _choices({"residual": residual}, "residual", RESIDUALS, "add", fail, "'add', 'lerp', 'none' (or true, false), or a list")
    lam = table.get("lerp", "1/2")
    try:
        if isinstance(lam, bool) or not isinstance(lam, (str, int)) or len(str(lam)) > 40:
            raise ValueError
        lam = Fraction(lam)
    except (ValueError, ZeroDivisionError):
        raise fail("lerp", f"lerp = {echo(table.get('lerp'))}; expected λ as an exact fraction such as \"1/2\" or \"7/20\"", "model") from None
    if not 0 <= lam <= 1:
        raise fail("lerp", f"lerp = {echo(table.get('lerp'))}; expected 0 ≤ λ ≤ 1", "model")
    for d, _ in sizes:
        for H in heads:
            if d % H:
                raise fail("heads", f"heads = {H} does not divide the width d = {d}; expected heads that divide every d in sizes", "model")
    if True in rope and not any((d // H) % 2 == 0 for d, _ in sizes for H in heads):
        raise fail("rope", "rope = true needs an even head width d / heads at some size; expected a size with d / heads even "
                           "(odd head widths are checked without RoPE only)", "model")
    if patterns == ("frozen",) and rope == (True,):
        raise fail("rope", "rope = true with pattern = 'frozen': a frozen pattern has no queries or keys to rotate", "model")
    unembed = table.get("unembed")
    if unembed is not None and (isinstance(unembed, bool) or not isinstance(unembed, int) or not 1 <= unembed <= MAX_SEQUENCE_WIDTH):
        raise fail("unembed", f"unembed = {echo(unembed)}; expected an output width 1 … {MAX_SEQUENCE_WIDTH}", "model")
    families = tuple(SeqSpec(tuple(kinds), pattern=p, heads=H, rope=r, residual=res, lam=lam)
                     for kinds in lists for p in patterns for H in heads for r in rope for res in residual
                     if not (r and (p == "frozen" or "attention" not in kinds)))
    return {"lengths": tuple(dict.fromkeys(lengths)), "sizes": tuple(dict.fromkeys(tuple(s) for s in sizes)),
            "families": tuple(dict.fromkeys(families)), "unembed": unembed, "layers": (), "residual": (), "bias": ()}


def _check_sequence_statement(model: dict[str, Any], trees: list[Node], fail: Any) -> None:
    """Names of the vector model are refused, and so are literal positions outside some length."""
    from .errors import ShapeError
    from .positions import SteerSet

    parts = {"input_part", "cross_part", "self_part", "const_part"}
    used = sorted({n for t in trees for n in t.names()} & (MODEL_NAMES - SEQUENCE_NAMES - parts))
    if used:
        raise fail("statement", f"the statement uses {', '.join(used)} (names of a network of bilinear layers) but [model] has "
                                "kind = \"sequence\"; expected F, at, row, X … (the sequence model's names)")
    for n in (n for t in trees for n in t.walk()):
        if n.op != "call" or n.value not in ("at", "row"):
            continue
        where = n.args[1]
        for T in model["lengths"]:
            if where.op == "num" and not 0 <= where.value < T:
                raise fail("statement", f"'{n.text}': position {where.text} is out of range for T = {T} (0 … {T - 1}); "
                                        f"expected positions inside every length in lengths")
            if n.value == "at" and where.type in ("str", "vector"):
                spec = where.value if where.type == "str" else [int(v) for v in where.value]
                try:
                    SteerSet.of(spec).resolve(T)
                except ShapeError as exc:
                    raise fail("statement", f"'{n.text}' at T = {T}: {exc}") from None


def _outside_limit(node: Node):
    """The nodes of a statement that are not inside a limit(…) call."""
    yield node
    if not (node.op == "call" and node.value == "limit"):
        for a in node.args:
            yield from _outside_limit(a)


def _closest(word: str, known: Any) -> str:
    close = difflib.get_close_matches(str(word), list(known), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def _line_of(text: str, key: str, table: str | None = None) -> int | None:
    """The line where ``key = …`` is set (inside ``[table]`` if given)."""
    current = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]", stripped)
        if header:
            current = header.group(1)
            if table is None and current == key:
                return number
            continue
        if re.match(rf"^{re.escape(key)}\s*=", stripped) and (table is None or current == table):
            return number
    return None


# -- verifying ------------------------------------------------------------------------------


def verify(claim: Claim, *, timeout: float | None = None) -> Verdict:
    """Decide one claim within its time limit (``timeout``, else the file's, else the default).
    A claim that is not decided in time is 'undecided'; it never hangs."""
    limit = timeout if timeout is not None else claim.timeout if claim.timeout is not None else DEFAULT_TIMEOUT
    start = time.perf_counter()
    node = claim.node if claim.node is not None else parse_statement(claim.statement)
    nodes = claim.assumption_nodes if claim.node is not None else tuple(parse_statement(a) for a in claim.assumptions)
    try:
        with deadline(limit):
            problem = Problem(node, nodes, claim.cases(), time.monotonic() + limit)
            decision = decide(problem)
    except DeadlineError:
        decision = Decision("undecided", "none", "time limit", f"not decided within the time limit of {limit:g} s",
                            {"timeout": limit})
    except SymsteerError as exc:
        # a statement outside what the evaluators can give a meaning to on this model (a layer
        # beyond the depth, vectors that do not fit, a size refused before flint starts): this
        # claim cannot be decided, and the others still are
        decision = Decision("error", "none", "cannot be decided", str(exc), {"error": str(exc)})
    except (MemoryError, RecursionError) as exc:
        what = "ran out of memory" if isinstance(exc, MemoryError) else "nested too deeply"
        decision = Decision("error", "none", "cannot be decided", f"the statement {what}", {"error": what})
    except Exception as exc:  # noqa: BLE001 - a bug is reported as one (exit 4), after the other claims
        import traceback

        if time.perf_counter() - start >= limit:
            # the time limit's signal fired inside library code (numpy, sympy, flint), which may
            # pass it on as another exception: the claim ran out of time, it did not hit a bug
            decision = Decision("undecided", "none", "time limit", f"not decided within the time limit of {limit:g} s",
                                {"timeout": limit})
            return Verdict(claim, decision.found, decision.method, time.perf_counter() - start, decision.scope,
                           decision.detail, decision.evidence)

        where = traceback.extract_tb(exc.__traceback__)[-1]
        text = f"internal error: {type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"
        decision = Decision("bug", "none", "internal error", text, {"error": text})
    return Verdict(claim, decision.found, decision.method, time.perf_counter() - start, decision.scope,
                   decision.detail, decision.evidence)


def evidence_record(verdict: Verdict) -> dict[str, Any]:
    """One claim's evidence as plain data (exact numbers as 'p/q' strings): for 'fails' the
    counterexample (model shape, weights, inputs, both sides); for 'holds' the certificate
    (the proof's reasons, the sizes and shapes it covers, a witness for 'generic'). An
    independent checker (tools/replay.py) replays it without symsteer."""
    c = verdict.claim
    return {"id": c.id, "found": verdict.found, "method": verdict.method, "scope": verdict.scope,
            "statement": c.statement, "assumptions": list(c.assumptions),
            "model": {"layers": list(c.layers), "sizes": [list(s) for s in c.sizes], "residual": list(c.residual),
                      "bias": list(c.bias), "unembed": c.unembed, "embed": c.embed, "norm": list(c.norm),
                      "final_norm": c.final_norm, "gain": c.gain,
                      **({"kind": "sequence", "lengths": list(c.lengths), "families": [f.to_dict() for f in c.families]}
                         if c.sequence else {})},
            "detail": verdict.detail, "evidence": verdict.evidence}


def write_evidence(verdicts: Sequence[Verdict], directory: str | Path) -> list[Path]:
    """One small JSON file per claim, ``<id>.json``, in ``directory`` (created if missing)."""
    import json

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for v in verdicts:
        path = folder / f"{v.claim.id}.json"
        # never a half-written file under the final name, nor a temporary one left on Ctrl-C or SIGTERM
        write_output(path, json.dumps(evidence_record(v), ensure_ascii=False, default=str) + "\n")
        written.append(path)
    return written


def verify_all(claims: Sequence[Claim], *, timeout: float | None = None) -> list[Verdict]:
    """Verify every claim, in order."""
    return [verify(c, timeout=timeout) for c in claims]


def verdicts_text(verdicts: Sequence[Verdict], *, verbose: bool = False, seconds: float | None = None) -> str:
    """One row per claim (id, expected, found, method, time) and a summary line."""
    width = max([len(v.claim.id) for v in verdicts] + [5])
    lines = [f"{'claim':<{width}}  {'expected':<12} {'found':<12} {'method':<14} {'time':>7}"]
    for v in verdicts:
        mark = "" if v.ok else "   <-- internal error" if v.found == "bug" else "   <-- differs"
        lines.append(f"{v.claim.id:<{width}}  {v.claim.expected:<12} {v.found:<12} {v.method:<14} {v.seconds:6.2f}s{mark}")
        if verbose or not v.ok:
            lines.append(f"    statement: {v.claim.statement}" + (f"  [assuming {', '.join(v.claim.assumptions)}]" if v.claim.assumptions else ""))
            lines.append(f"    scope: {v.scope}")
            lines.append(f"    {v.detail}")
            if v.claim.note and verbose:
                lines.append(f"    note: {v.claim.note.strip()}")
    passed = sum(v.ok for v in verdicts)
    failed = len(verdicts) - passed
    undecided = sum(v.found == "undecided" for v in verdicts)
    errors = sum(v.found == "error" for v in verdicts)
    bugs = sum(v.found == "bug" for v in verdicts)
    scope = sum(v.found == "out_of_scope" and v.ok for v in verdicts)
    extra = []
    if scope:
        extra.append(f"{scope} out of scope (reported, not proved)")
    if undecided:
        extra.append(f"{undecided} undecided")
    if errors:
        extra.append(f"{errors} not decidable (error)")
    if bugs:
        extra.append(f"{bugs} internal error{'s' * (bugs > 1)}")
    summary = f"{passed} passed, {failed} failed" + (f" ({', '.join(extra)})" if extra else "")
    if seconds is not None:
        summary += f" in {seconds:.1f} s"
    lines.append(summary)
    return "\n".join(lines)
