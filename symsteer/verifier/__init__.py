"""The verifier: claims in the statement language, decided by proof or exact counterexample.

Its modules, each named for what it holds:

- :mod:`.language`: the statement language (parsed against an allow-list, never evaluated);
- :mod:`.propositions`: what a statement becomes over generic values (zero sets, signs, orders);
- :mod:`.values`: quotients, relu, softmax and entropy values, and the size guards;
- :mod:`.evaluation`: a statement on one model shape, at an exact point or over generic weights
  (propositions made by a strategy: :class:`.evaluation.AtPoint` or :class:`.evaluation.OverGeneric`);
- :mod:`.model_functions`: the model in a statement (layers, f, stream, cross_map, share, parts);
- :mod:`.functions`: the other functions and predicates (relu, softmax, orders, depends_on, …);
- :mod:`.formal`: the every-width algebra of nested bilinear terms;
- :mod:`.signs`: the sign prover for polynomials in the scalars;
- :mod:`.proof`: implications, and the order, relu and entropy lemmas;
- :mod:`.search`: exact points: counterexamples, witnesses, the falsification search, shrinking;
- :mod:`.evidence`: what a point shows, as text and data;
- :mod:`.problem`: a claim as a problem, and the decision's record;
- :mod:`.decision`: deciding it.
"""

from .decision import decide
from .language import MODEL_NAMES, Node, StatementError, parse_statement
from .problem import DEFAULT_TIMEOUT, Decision, Problem, deadline

__all__ = ["DEFAULT_TIMEOUT", "MODEL_NAMES", "Decision", "Node", "Problem", "StatementError", "deadline", "decide",
           "parse_statement"]
