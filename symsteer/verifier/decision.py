"""Deciding a claim: formal proof for every width, symbolic proof at the listed sizes, an exact
counterexample, and the generic (almost everywhere) reading; two methods that disagree are a bug.
"""

from __future__ import annotations

from dataclasses import replace

import sympy

from .evaluation import Case
from .evidence import describe_point
from .formal import formal_proof
from .language import Node
from .problem import Decision, Problem
from .proof import _closed, _is_number, _open_dense, _sign_atoms, prove
from .propositions import All, NotZero, Prop, Sign, Truth, Undefined, Unsupported, Zero
from .search import falsify, numeric_check, search
from .signs import prove_nonnegative, prove_sign, scalar_facts

def _strictly_false(node: Node) -> Node | None:
    """For an order ``A > B`` (``>=``), the condition ``not (A >= B)`` (some entry A_i < B_i),
    an open condition on continuous values; likewise for ``<``. None for other statements."""
    if node.op in (">", ">="):
        inner = replace(node, op=">=", text=f"{node.args[0].text} >= {node.args[1].text}")
        return Node("not", (inner,), type="prop", text=f"not ({inner.text})")
    if node.op in ("<", "<="):
        inner = replace(node, op="<=", text=f"{node.args[0].text} <= {node.args[1].text}")
        return Node("not", (inner,), type="prop", text=f"not ({inner.text})")
    return None


# -- deciding ---------------------------------------------------------------------------------


def _scope(proved: list[tuple[Case, str]], formal: list[Case], *, model: bool) -> str:
    if not model:
        return "proved at d = " + ", ".join(str(d) for d in sorted({c.d for c, _ in proved}))
    if proved[0][0].seq is not None:
        lengths = ", ".join(str(t) for t in sorted({c.length for c, _ in proved}))
        widths = ", ".join(str(d) for d in sorted({c.d for c, _ in proved}))
        families = "; ".join(sorted({c.seq.describe() for c, _ in proved}))
        return f"proved at T = {lengths}, d = {widths} ({families})"

    def sizes(cases: list[Case]) -> str:
        return ", ".join(sorted({f"({c.d},{c.h})" for c in cases}))

    def variants(cases: list[Case]) -> str:
        kinds = sorted({("residual" if c.residual else "plain") + (" with biases" if c.bias else "") for c in cases})
        return "; ".join(kinds)

    depths = ", ".join(str(d) for d in sorted({c.depth for c, _ in proved}))
    symbolic = [c for c, why in proved if not why.startswith("covered by the formal proof")]
    if formal:
        fdepths = ", ".join(str(d) for d in sorted({c.depth for c in formal}))
        also = f"; symbolic at (d,h) = {sizes(symbolic)}" if symbolic else ""
        return f"proved for all d, h (L = {fdepths}; {variants(formal)}){also}"
    return f"proved at (d,h) = {sizes(symbolic)} (L = {depths}; {variants(symbolic)})"


def decide(problem: Problem) -> Decision:
    """Decide the problem; raises DeadlineError when out of time."""
    st = problem.statement
    if "empirical" in st.names():
        texts = [n.args[0].value for n in st.walk() if n.op == "call" and n.value == "empirical"]
        return Decision("out_of_scope", "none", "not decidable by proof",
                        f"'{'; '.join(texts)}' is a claim about the model's behaviour on data; no statement about weights "
                        "and inputs decides it", {"empirical": texts})
    if st.op == "call" and st.value == "generic":
        return _decide_generic(problem)
    if not problem.model and not problem.vectors and not problem.scalars:
        return _evaluate_ground(problem)
    proved: list[tuple[Case, str]] = []
    formal: list[Case] = []
    formal_why: list[str] = []
    failing: list[tuple[Case, str]] = []
    seen_formal: dict = {}
    for case in problem.cases:
        problem.check_time()
        key = (case.depth, case.residual, case.bias, case.m)
        if key not in seen_formal and case.unembed is None and case.embed is None and case.seq is None:
            seen_formal[key] = formal_proof(problem, case)
            if seen_formal[key] is not None:
                formal.append(case)
                formal_why.append(f"{case.describe(model=problem.model)}: {seen_formal[key]}")
        by_formal = seen_formal.get(key) is not None and case.unembed is None and case.embed is None and case.seq is None
        prop = None
        try:
            env = problem.symbolic(case)
            hyps = [env.value_of(h) for h in problem.hypotheses]
            scalars = {sympy.Symbol(a) for a in problem.scalars}
            # the assumptions first: a contradiction among them decides the claim (vacuously)
            # even when the statement itself is too big to expand at this size
            never = _contradiction(hyps)
            if never is not None:  # no point satisfies the assumptions at this size: the claim holds vacuously
                ok, why = True, f"vacuously: the assumptions never hold at this size ({never})"
            else:
                prop = env.value_of(st)
                ok, why = prove(prop, hyps, scalars)
        except (Unsupported, Undefined) as exc:
            ok, why = False, str(exc)
        if not ok and by_formal:
            if prop is not None and _refuted(prop):
                # the formal expansion and generic weights must agree: a nonzero difference here is a bug
                return Decision("bug", "disagreement", "two methods disagree",
                                f"the formal proof ({seen_formal[key]}) and the symbolic check at "
                                f"{case.describe(model=problem.model)} ({why}) disagree",
                                {"formal": seen_formal[key], "symbolic": why, "case": case.describe(model=problem.model)})
            ok, why = True, f"covered by the formal proof for every width (symbolic check not done: {why})"
        if ok:
            proved.append((case, why))
            continue
        failing.append((case, why))
        # not proved here: look for a counterexample at this shape before trying bigger ones,
        # so the first one found has the fewest layers and the smallest widths
        point = search(problem, case, want=False)
        if point is not None:
            text, evidence = describe_point(problem, case, point)
            residual = _residual(prop) if prop is not None else None
            evidence["symbolic"] = why
            if residual:
                evidence["residual"] = residual
            text += f". Symbolic, generic weights: {why}" + (f"; residual {residual}" if residual else "")
            return Decision("fails", "counterexample", f"counterexample at {case.describe(model=problem.model)}", text, evidence)
    if not failing:
        # every 'holds' must survive an exact search inside the assumptions: a point found here
        # contradicts a proof, so one of the two methods has a bug (never a verdict)
        checked = 0
        for case in problem.cases:
            n, bad = falsify(problem, case)
            checked += n
            if bad is not None:
                text, evidence = describe_point(problem, case, bad)
                proof = next((why for c, why in proved if c == case), proved[0][1])
                return Decision("bug", "disagreement", "a proof and an exact counterexample disagree",
                                f"proved ({proof}), but false at an exact point where the assumptions hold: {text}",
                                {"proof": proof, "counterexample": evidence})
        scope = _scope(proved, formal, model=problem.model)
        reasons = [f"{c.describe(model=problem.model)}: {why}" for c, why in proved]
        first = proved[0]
        detail = f"symbolic, generic weights: {first[1]} at {first[0].describe(model=problem.model)}"
        if len(proved) > 1:
            detail += f", and likewise at {len(proved) - 1} more shape(s)"
        if formal_why:
            detail = f"formal (every d, h): {formal_why[0].split(': ', 1)[1]}; " + detail
        vacuous = all(why.startswith("vacuously") for _, why in proved)
        detail += f"; an exact falsification search found no counterexample among {checked} points where the assumptions hold" \
            if checked else ("" if vacuous else "; no point satisfying the assumptions was found by the exact search "
                                                "(they may never hold; the proof covers that case too)")
        return Decision("holds", "proof", scope, detail,
                        {"proofs": reasons, "formal": formal_why, "numeric_checks": checked})
    reasons = "; ".join(f"{c.describe(model=problem.model)}: {why}" for c, why in failing)
    checked = 0
    for case in problem.cases:
        checked += numeric_check(problem, case)[0]
    method = "numeric" if checked else "none"
    return Decision("undecided", method, "no proof and no counterexample",
                    f"not proved ({reasons}); no counterexample in the search; {checked} random exact points satisfy it",
                    {"unproved": reasons, "numeric_checks": checked})


def _evaluate_ground(problem: Problem) -> Decision:
    """A statement with no model and no free vector or scalar: its exact value is its proof (or
    its refutation), at each width it is listed for."""
    values = []
    for case in problem.cases:
        problem.check_time()
        env = problem.at(case, {})
        if not all(env.value_of(h) for h in problem.hypotheses):
            values.append((case, None))
            continue
        values.append((case, bool(env.value_of(problem.statement))))
    false = [c for c, v in values if v is False]
    where = ", ".join(c.describe(model=False) for c, _ in values)
    if false:
        text, evidence = describe_point(problem, false[0], {})
        return Decision("fails", "counterexample", f"counterexample at {false[0].describe(model=False)} (evaluated exactly)",
                        f"the statement has no free variable; evaluated exactly it is false: {text}", evidence)
    if all(v is None for _, v in values):
        return Decision("holds", "proof", f"proved at {where} (vacuously)",
                        "the statement has no free variable and its assumptions are false: it holds vacuously", {})
    return Decision("holds", "proof", f"proved at {where} (evaluated exactly: no free variable)",
                    "the statement has no free variable; evaluated exactly (exact rationals, interval bounds for "
                    "softmax and entropy) it is true", {})


def _contradiction(hyps: list[Prop], *, signs: bool = True) -> str | None:
    """Why some assumption is false everywhere (it reduces to constants), or why the strict signs
    assumed contradict each other (``signs``), or None."""
    for h in hyps:
        if isinstance(h, All):
            why = _contradiction(list(h.items), signs=False)
        elif isinstance(h, Truth):
            why = None if h.value else h.reason
        elif isinstance(h, NotZero):
            why = "every polynomial in it is 0" if all(p == 0 for p in h.polys) else None
        elif isinstance(h, Zero):
            why = "it sets a nonzero constant to 0" if any(p != 0 and _is_number(p) for p in h.polys) else _never_zero(h)
        elif isinstance(h, Sign) and _is_number(h.poly):
            value = h.ring.to_sympy(h.poly)
            why = f"it needs {value} {'>' if h.strict else '≥'} 0" if (value <= 0 if h.strict else value < 0) else None
        else:
            why = None
        if why is not None:
            return f"'{h.text}': {why}" if h.text else why
    return _sign_contradiction(hyps) if signs else None


def _never_zero(h: Zero) -> str | None:
    """Why a polynomial assumed zero is never zero: it has a strict sign everywhere (a² + 1,
    x₁² + x₂² + 1), shown by the sign prover without any facts. Small polynomials only."""
    for p in h.polys:
        if p == 0 or len(list(h.ring.terms(p))) > CONTRADICTION_TERMS:
            continue
        sign = prove_sign(h.ring.to_sympy(p), [])
        if sign is not None:
            return f"it sets {h.ring.to_sympy(p)} to 0, which is never 0 ({sign[1]})"
    return None


#: sign facts beyond this many terms are not tested against each other for a contradiction
CONTRADICTION_TERMS = 12


def _small_signs(hyps: list[Prop]) -> list[Prop]:
    """The strict signs and single nonzero polynomials among the hypotheses (inside conjunctions
    too) of at most CONTRADICTION_TERMS terms: big ones are not even converted to sympy."""
    out: list[Prop] = []
    for h in hyps:
        if isinstance(h, All):
            out += _small_signs(list(h.items))
        elif isinstance(h, Sign) and h.strict and len(list(h.ring.terms(h.poly))) <= CONTRADICTION_TERMS:
            out.append(h)
        elif isinstance(h, NotZero) and len(h.polys) == 1 and len(list(h.ring.terms(h.polys[0]))) <= CONTRADICTION_TERMS:
            out.append(h)
    return out


def _sign_contradiction(hyps: list[Prop]) -> str | None:
    """Why the strict signs assumed cannot all hold (``a > 0`` and ``a < 0``; ``a**2 < 0``): for
    one assumed ``p > 0``, the sign prover shows ``p ≤ 0`` from the other facts alone. None when
    not shown."""
    facts = scalar_facts(_small_signs(hyps))
    for i, (h, kind) in enumerate(facts):
        if kind != ">0":
            continue
        others = facts[:i] + facts[i + 1:]
        why = prove_nonnegative(-h, others)
        if why is not None:
            return f"{h} > 0 is assumed, but {sympy.expand(-h)} ≥ 0 ({why})"
    return None


def _refuted(prop: Prop) -> bool:
    """An equation whose difference is a nonzero polynomial over generic values."""
    if isinstance(prop, All):
        return any(_refuted(p) for p in prop.items)
    return isinstance(prop, Zero) and any(p != 0 for p in prop.polys)


def _residual(prop: Prop) -> str | None:
    """The smallest nonzero difference polynomial of an equation, if it is short enough to print."""
    if isinstance(prop, All):
        for item in prop.items:
            r = _residual(item)
            if r:
                return r
        return None
    if not isinstance(prop, Zero):
        return None
    nonzero = [p for p in prop.polys if p != 0]
    if not nonzero:
        return None
    text = str(prop.ring.to_sympy(min(nonzero, key=lambda p: len(list(prop.ring.terms(p))))))
    return text if len(text) <= 240 else None


def _strict_node(node: Node) -> Node:
    """The assumption with every non-strict order made strict (``a >= 0`` → ``a > 0``): its
    points lie in the interior of the assumption's set of points."""
    if node.op in (">=", "<="):
        return replace(node, op=node.op[0])
    if node.op == "not" and node.args[0].op in ("<", ">"):  # not (p < q) is p >= q
        inner = node.args[0]
        return replace(inner, op={"<": ">", ">": "<"}[inner.op])
    if node.op == "and":
        return replace(node, args=tuple(_strict_node(a) for a in node.args))
    return node


def _open_hypotheses(hyps: list[Prop]) -> bool:
    """Every hypothesis is an open condition: nonzero-ness, a strict sign, or true."""
    for h in hyps:
        if isinstance(h, All):
            if not _open_hypotheses(list(h.items)):
                return False
        elif not (isinstance(h, NotZero) or (isinstance(h, Sign) and h.strict) or (isinstance(h, Truth) and h.value)):
            return False
    return True


def _decide_generic(problem: Problem) -> Decision:
    inner = problem.statement.args[0]
    sub = Problem(inner, problem.assumptions, problem.cases, problem.stop)
    # a witness is looked for where the assumptions hold strictly (a >= 0 as a > 0): there they
    # are open conditions, so the witness has a neighbourhood of points satisfying them, and the
    # set of assumed points has positive measure; where they hold only with equality (a*t >= 0
    # and a*t <= 0: the lines a = 0, t = 0) "almost every" point says nothing
    strict = Problem(inner, tuple(_strict_node(a) for a in problem.assumptions), problem.cases, problem.stop)
    witnesses = []
    vacuous = []
    for case in problem.cases:
        problem.check_time()
        env = problem.symbolic(case)
        try:
            prop = env.value_of(inner)
            hyps = [env.value_of(h) for h in problem.hypotheses]
            strict_env = strict.symbolic(case)
            strict_hyps = [strict_env.value_of(h) for h in strict.hypotheses]
        except (Unsupported, Undefined) as exc:
            return Decision("undecided", "none", "no symbolic form", f"{case.describe(model=problem.model)}: {exc}")
        if _closed(prop) and not witnesses and not vacuous:
            # a polynomial identity holds almost everywhere exactly when it holds everywhere
            # (its failure set is open; if not empty, it has positive measure)
            inner_decision = decide(sub)
            scope = inner_decision.scope
            if inner_decision.found == "holds":
                scope = f"{scope} (an identity: it holds everywhere, so almost everywhere)"
            elif inner_decision.found == "fails":
                scope = f"{scope} (the identity fails on an open set, so not almost everywhere)"
            return replace(inner_decision, scope=scope)
        never_assumed = _contradiction(hyps)
        if never_assumed is not None:  # no point satisfies the assumptions at this size
            vacuous.append((case, never_assumed))
            continue
        never = _contradiction([prop])
        if never is not None:
            # false everywhere: any point where the assumptions hold is a counterexample
            point = search(sub, case, want=False)
            if point is None:
                return Decision("undecided", "none", "no point satisfies the assumptions",
                                f"'{inner.text}' is false everywhere ({never}), but no point satisfying the assumptions "
                                f"was found at {case.describe(model=problem.model)}")
            text, evidence = describe_point(sub, case, point)
            return Decision("fails", "counterexample", f"counterexample at {case.describe(model=problem.model)}",
                            f"'{inner.text}' is false everywhere ({never}); e.g. {text}", evidence)
        hyp_open = _open_hypotheses(strict_hyps)
        facts, scalars = scalar_facts(hyps), {sympy.Symbol(a) for a in problem.scalars}
        if hyp_open and _sign_atoms(prop) and not _open_dense(prop, facts, scalars, hyps):
            # an order false strictly at a point where the assumptions hold strictly is false on a
            # neighbourhood of it (both conditions are open): a set of positive measure
            violated = _strictly_false(inner)
            if violated is not None:
                open_fail = Problem(violated, strict.assumptions, problem.cases, problem.stop)
                point = search(open_fail, case, want=True)
                if point is not None:
                    text, evidence = describe_point(sub, case, point)
                    return Decision("fails", "counterexample", f"counterexample at {case.describe(model=problem.model)}",
                                    f"'{inner.text}' fails strictly at {text}, where the assumptions hold strictly: "
                                    "so on a neighbourhood of that point, a set of positive measure", evidence)
        # every shape needs its own witness: a witness at one shape says nothing about another
        point = search(strict, case, want=True)
        if point is None:
            return Decision("undecided", "none", "no witness",
                            f"no point found where '{inner.text}' holds and the assumptions hold strictly at "
                            f"{case.describe(model=problem.model)}")
        text, evidence = describe_point(sub, case, point)
        if not _open_dense(prop, facts, scalars, hyps) or not hyp_open:
            return Decision("undecided", "numeric", f"witness at {case.describe(model=problem.model)}",
                            f"'{inner.text}' holds at {text}, but its truth set is not shown to be open and dense", evidence)
        witnesses.append((case, text, evidence))
    if not witnesses:
        why = "; ".join(f"{c.describe(model=problem.model)}: {w}" for c, w in vacuous)
        return Decision("holds", "proof", "vacuously: the assumptions never hold at the listed sizes",
                        f"no point satisfies the assumptions ({why}), so the claim holds vacuously", {"vacuous": why})
    shapes = "; ".join(c.describe(model=problem.model) for c, _, _ in witnesses)
    if vacuous:
        shapes += "; vacuously at " + ", ".join(c.describe(model=problem.model) for c, _ in vacuous)
    scope = f"holds for almost every weight and input (a witness at each shape: {shapes})"
    detail = (f"'{inner.text}' is a nonzero-polynomial condition (with identities that hold everywhere): it fails "
              f"only on the zero set of polynomials that are not identically zero, a closed set of measure zero; "
              f"witness: {witnesses[0][1]}" + (f", and {len(witnesses) - 1} more shape(s) with a witness" if len(witnesses) > 1 else ""))
    return Decision("holds", "proof", scope, detail, witnesses[0][2])
