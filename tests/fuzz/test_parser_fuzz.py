"""Parser and API fuzzing with hypothesis (the fast version of scripts/fuzz_parser.py).

Only MatdiffError subclasses may escape ``matdiff.parse`` and ``matdiff.grad``, each within a time
bound: never RecursionError, IndexError, KeyError, TypeError, a hang or a crash.  Inputs: random text
over the language's alphabet, random Unicode, valid expressions from strategies.py with random text
spliced in, and pathological nesting around the depth limit.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

import matdiff
from matdiff.frontend import typed

from .known_bugs import known
from .strategies import CHECKED, NAME_FAMILIES, counted, expressions, fuzz_settings, renamed, renamings
from .timing import time_limit

GRAD_MAX_LEN = 400

FUNCS = ("tr det logdet inv adj norm_fro norm2 norm_nuc norm1 sum diag exp log sin cos tanh sqrt abs "
         "sign polar top_sv eye ones adj_d").split()
#: names a user may choose that look like generated code's (t0, lambda, lambda_, np, self, True, ...)
ODD_NAMES = sorted({n for fam in NAME_FAMILIES.values() for names in fam.values() for n in names})
TOKENS = FUNCS + list("abxyzuABSTX") + ODD_NAMES[::3] + ["lam", "X1", "x_2", "_t0", "0", "1", "2", "0.5", ".5",
                                                         "1e3", "1e-3", "1e400", "3000000000", "1e300", "1e-300",
                                                         "+", "-", "*", "/", ".*", "./", "^", ".^", "'", "(", ")",
                                                         "(", ")", " "]
OTHER = list("[]{},;:!@#$%&|~`\"?<>=\\_.\t\n") + ["\x00", "\u2032", "\u2212", "\u03bb", "\ufeff", "é"]

OUTCOMES: Counter[str] = Counter()

token_text = st.lists(st.sampled_from(TOKENS + OTHER), max_size=30).map("".join)
char_text = st.text(alphabet=st.sampled_from(sorted(set("".join(TOKENS + OTHER)))), max_size=60)
any_text = st.text(max_size=40)


@st.composite
def spliced(draw) -> str:
    """A valid expression with random text inserted, or a slice deleted, somewhere."""
    g = draw(expressions("any", max_depth=3, budget=8))
    mapping = draw(renamings(g.names))
    text = renamed(g, mapping).text if mapping else g.text
    i = draw(st.integers(0, len(text)))
    if draw(st.booleans()):
        return text[:i] + draw(token_text) + text[i:]
    j = draw(st.integers(i, len(text)))
    return text[:i] + text[j:]


@st.composite
def pathological(draw) -> str:
    d = draw(st.sampled_from([1, 50, 99, 100, 101, 150, 199, 200, 201, 250, 400]))
    v = draw(st.sampled_from(["x", "A", "a", "S"]))
    kind = draw(st.integers(0, 6))
    fn = draw(st.sampled_from(FUNCS[:18]))
    return ["(" * d + v + ")" * d, f"{fn}(" * d + v + ")" * d, v + "'" * d, "-" * d + v, "*".join([v] * d),
            f"{v}^" * d + "2", "(" * d + v][kind]


def only_matdiff_errors(text: str) -> None:
    """parse, then grad w.r.t. each variable (short inputs): only MatdiffErrors, within BOUND."""
    CHECKED["parser inputs"] += 1
    try:
        with time_limit():
            try:
                tree = matdiff.parse(text)
            except matdiff.MatdiffError as e:
                OUTCOMES[f"parse: {type(e).__name__}"] += 1
                return
            if len(text) > GRAD_MAX_LEN:
                OUTCOMES["parsed"] += 1
                return
            try:
                names = list(typed(tree)[1]) or ["x"]
                for wrt in names[:3]:
                    r = matdiff.grad(text, wrt)
                    matdiff.parse(str(r.gradient))
                OUTCOMES["grad ok"] += 1
            except matdiff.MatdiffError as e:
                OUTCOMES[f"grad: {type(e).__name__}"] += 1
    except matdiff.MatdiffError:
        raise
    except Exception as e:
        name = known(e, text)
        if name is None:
            raise AssertionError(f"{type(e).__name__} escaped for {text!r}: {e}") from e
        OUTCOMES[f"known bug: {name}"] += 1


@counted("parser inputs", 0.12)
@fuzz_settings(0.12)
@given(st.one_of(token_text, char_text, any_text))
def test_random_text(text):
    only_matdiff_errors(text)


@counted("parser inputs", 0.1)
@fuzz_settings(0.1)
@given(spliced())
def test_spliced_expressions(text):
    only_matdiff_errors(text)


@counted("parser inputs", 0.01)
@fuzz_settings(0.01)
@given(pathological())
def test_pathological_nesting(text):
    only_matdiff_errors(text)


@counted("parser inputs", 0.02)
@fuzz_settings(0.02)
@given(st.binary(max_size=64))
def test_random_bytes(raw):
    only_matdiff_errors(raw.decode("utf-8", errors="replace"))
    only_matdiff_errors(raw.decode("latin-1"))


@pytest.mark.parametrize("bad", [None, 3, b"x", ["x"], 1.5, {"x": 1}], ids=repr)
def test_non_string_input(bad):
    """Not a string: a ParseError (a MatdiffError), from parse and from the API, never a result."""
    with pytest.raises(matdiff.MatdiffError):
        matdiff.parse(bad)  # type: ignore[arg-type]
    with pytest.raises(matdiff.MatdiffError):
        matdiff.grad(bad, "x")  # type: ignore[arg-type]
