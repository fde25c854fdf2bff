"""Text and JSON listings of terms: a term that fits is written whole, and two distinct terms
never print alike (names for the input-only parts of large terms, numbers as a last resort)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from symsteer import Network, expand
from symsteer.cli import run
from symsteer.terms import MAX_PRINTED_LEAVES, MAX_SKELETON_HEIGHT, apply, leaf, listing

x, s = leaf("x"), leaf("s")


def test_a_term_that_fits_is_written_whole() -> None:
    inner = apply(1, apply(0, x, x), apply(0, x, s))  # 4 leaves on the left, 1 on the right
    assert str(apply(2, inner, s)) == "B2(B1(B0(x, x), B0(x, s)), s)"


def test_residual_listings_print_every_term_distinctly(capsys) -> None:
    for layers in (3, 4):
        e = expand(Network.random(layers=layers, width=2, hidden=2, residual=True, seed=0), steer_at=0)
        text = e.to_text(limit=10**6)
        listed = [line.strip().split("*", 1)[-1] if line.strip()[0].isdigit() else line.strip()
                  for line in text.splitlines() if line.startswith("    ")]
        assert len(listed) == e.total_terms and len(set(listed)) == len(listed)
        assert "…" not in text
    code = run(["expand", "--layers", "3", "--residual", "--format", "json", "--limit", "1000"])
    terms = [t["term"] for t in json.loads(capsys.readouterr().out)["terms"]]
    assert code == 0 and len(terms) == 230 and len(set(terms)) == 230


def test_large_terms_of_a_plain_stack_name_the_stream() -> None:
    e = expand(Network.random(layers=7, width=2, hidden=2, seed=0), steer_at=0, max_order=1)
    text = e.to_text()
    assert "128*B6(x_6, B5(x_5, B4(x_4, B3(x_3, B2(x_2, B1(x_1, B0(x, s)))))))" in text
    assert text.rstrip().endswith("where x_0 = x and x_(l+1) = Bl(x_l, x_l) (the unsteered stream)")


def _input_only(bottom_layer: int):
    """An input-only term of 64 leaves (x squared six times), its innermost layer given."""
    t = apply(bottom_layer, x, x)
    for l in range(1, 6):
        t = apply(l, t, t)
    return t


def test_large_residual_terms_name_their_input_only_parts_distinctly() -> None:
    a = apply(7, _input_only(0), apply(6, x, s))
    b = apply(7, _input_only(6), apply(6, x, s))
    assert a.size > MAX_PRINTED_LEAVES and str(a) == str(b)  # the old abbreviation: alike
    e = SimpleNamespace(network=SimpleNamespace(residual=True, layers=[SimpleNamespace(has_bias=False)] * 8),
                        steer_at=0, split_directions=False)
    texts, defs = listing(e, [a, b])
    assert texts == ["B7(u11, B6(x, s))", "B7(u10, B6(x, s))"] or (texts[0] != texts[1] and "…" not in "".join(texts))
    assert len(defs) >= 2 and all(d.startswith("u") for d in defs)


def test_deep_abbreviations_are_numbered_when_they_coincide() -> None:
    def deep(first: str) -> object:
        t = apply(0, leaf(first), s)
        for l in range(1, MAX_SKELETON_HEIGHT + 3):
            t = apply(l, apply(l - 1, x, x) if l > 1 else x, t)
        return t

    e = SimpleNamespace(network=SimpleNamespace(residual=True, layers=[]), steer_at=0, split_directions=False)
    texts, _ = listing(e, [deep("x"), deep("s")])
    assert texts[0] != texts[1]
