"""Limits with clear errors, each within a time bound.

* size and depth: text past MAX_LENGTH, nesting past MAX_DEPTH (parentheses, functions, unary minus,
  powers, transposes) -> ParseError quickly; just under the limits -> parses, and the gradient comes
  within time or is refused with a LimitError (never a RecursionError);
* derivative blow-up: expressions whose derivative grows fast (towers of powers, long products,
  nested inverses and determinants) -> a result within time, or a LimitError;
* NaN / Inf values -> DomainError, on every path (evaluate, r.evaluate, compiled, jvp, vjp, hvp);
* mismatched shapes -> ShapeError naming the variable, on every path;
* non-differentiable points (norm_fro at 0, norm2 with a repeated top singular value, abs at 0,
  norm1 at a zero entry, norm_nuc at a rank-deficient matrix, logdet of a non-PD spd-declared
  matrix, sqrt/log at 0) -> DomainError naming the function (where) and the reason (why).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import matdiff
from matdiff import DomainError, LimitError, MatdiffError, ParseError, ShapeError

from .timing import BOUND, time_limit


def grad_or_limit(text: str, wrt: str, types=None, seconds: float = BOUND):
    """matdiff.grad within the time bound: the result, or None for a LimitError."""
    with time_limit(seconds):
        try:
            r = matdiff.grad(text, wrt, types)
            str(r.gradient)
            return r
        except LimitError as e:
            assert str(e)
            return None


# ------------------------------------------------------------------------------------ size and depth


def test_text_past_max_length_is_refused_quickly():
    from matdiff.syntax.parser import MAX_LENGTH

    text = "x'*x + " * (MAX_LENGTH // 7 + 1) + "1"
    t0 = time.perf_counter()
    with pytest.raises(MatdiffError, match="limit"):
        matdiff.parse(text)
    assert time.perf_counter() - t0 < 0.5


@pytest.mark.parametrize("make", [
    lambda d: "(" * d + "x" + ")" * d,
    lambda d: "exp(" * d + "a" + ")" * d,
    lambda d: "-" * d + "a",
    lambda d: "a^" * d + "2",
    lambda d: "tr(" * d + "A" + ")" * d,
    lambda d: "(" * d + "x",
], ids=["parens", "exp", "neg", "power", "tr", "unclosed"])
@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_deep_nesting_is_refused_quickly(make, depth):
    text = make(depth)
    if len(text) > 20_000:
        text = text[:20_000]  # the length limit would refuse it first: test the depth limit
    with time_limit(1.0), pytest.raises(ParseError) as info:
        matdiff.parse(text)
    assert "deep" in str(info.value) or "nest" in str(info.value) or "limit" in str(info.value) \
        or "expected" in str(info.value)


def test_transposes_past_the_limit():
    with time_limit(1.0), pytest.raises(ParseError):
        matdiff.parse("X" + "'" * 5000)


def _xfail(bug: str):
    return pytest.mark.xfail(reason=f"BUG: {bug} (known_bugs.py)", strict=True)


LEGAL = [  # within the parser's limits (a parenthesis or a call is two levels of its depth count)
    pytest.param("(" * 95 + "x'*x" + ")" * 95, "x", id="parens"),
    pytest.param("exp(" * 95 + "a" + ")" * 95, "a", id="exp"),
    pytest.param("sin(" * 95 + "a" + ")" * 95, "a", id="sin"),
    pytest.param("sum(exp(" * 47 + "x" + "))" * 47, "x", id="sum_exp"),
    pytest.param("-" * 190 + "a*a", "a", id="neg"),
    pytest.param("tr(" + "inv(" * 60 + "A" + ")" * 60 + ")", "A", id="inv"),
    pytest.param("tr(A" + "'" * 150 + ")", "A", id="transposes"),
    pytest.param("x'*" + "A*" * 60 + "x", "A", id="product_60"),
    pytest.param("x'*" + "A*" * 300 + "x", "A", id="product_300"),
    pytest.param(" + ".join(f"{i}*x'*A*x" for i in range(1, 1000)), "A", id="sum_1000"),
    pytest.param(" + ".join(["sin(a)*cos(b)"] * 600), "a", id="sum_600"),
    pytest.param(" + ".join(["sin(a)*cos(b)"] * 1200), "a", id="sum_1200"),
    pytest.param("a^" * 198 + "2", "a", id="tower_198"),  # known_bugs.limit_error_comes_late
    pytest.param("adj(" * 15 + "a" + ")" * 15, "a", id="adj_scalar_15"),
]


@pytest.mark.parametrize("text, wrt", LEGAL)
def test_deep_or_long_but_legal_expressions_answer_in_time(text, wrt):
    """Within the parser's limits: the gradient in time, or a LimitError; never a RecursionError."""
    matdiff.parse(text)
    grad_or_limit(text, wrt)


# ------------------------------------------------------------------------------------ blow-up


def _tower(k: int) -> str:
    return "^".join(["a"] * k)


BLOWUPS = [
    ("a^a^a^a^a^a^a^a", "a"),
    ("det(" * 6 + "A" + ")" * 6, "A"),
    ("det(inv(det(A)*A + eye)*A)", "A"),
    ("tr(" + "*".join(["inv(A + eye)", "A"] * 40) + ")", "A"),
    ("tr(" + "*".join(["exp(X)'*X"] * 40) + ")", "X"),
    ("x'*" + "*".join(["(A + B)"] * 60) + "*x", "A"),
    ("sum(exp(" * 12 + "x" + "))" * 12, "x"),
    ("norm_fro(" + "*".join(["X'*X"] * 30) + ")", "X"),
    ("logdet(" + "+".join([f"{i}*X'*X" for i in range(1, 30)]) + " + eye)", "X"),
]


@pytest.mark.parametrize("text, wrt", BLOWUPS, ids=range(len(BLOWUPS)))
def test_derivative_blow_up_is_bounded(text, wrt):
    grad_or_limit(text, wrt)


@pytest.mark.parametrize("k", [40, 100])
def test_tower_of_powers(k):
    """d/da a^a^...^a grows like k^3 in print (k = 100, the most the depth limit allows: 688k
    characters, about 3 s): a result within the bound (doubled here), or a LimitError."""
    grad_or_limit(_tower(k), "a", seconds=2 * BOUND)


def test_large_matrix_power_is_bounded():
    """A huge integer power: refused with a LimitError, or fast (known_bugs: once no answer)."""
    grad_or_limit("tr(A^1000000)", "A")
    grad_or_limit("x'*A^-100000*x", "A")
    grad_or_limit("tr(A^100)", "A")


# ------------------------------------------------------------------------------------ NaN / Inf

RNG = np.random.default_rng(7)
X0 = RNG.standard_normal((3, 3)) + 3 * np.eye(3)
x0 = RNG.standard_normal(3)


NAN_TEXT = "x'*A*x*a + tr(A)"
NAN_PATHS = {
    "evaluate": lambda v: matdiff.evaluate(NAN_TEXT, v),
    "r.evaluate": lambda v: matdiff.grad(NAN_TEXT, "A").evaluate(v),
    "r.compile": lambda v: matdiff.grad(NAN_TEXT, "A").compile()(**v),
    "compile": lambda v: matdiff.compile(NAN_TEXT, wrt=["A", "x"],
                                         types={"A": "matrix(3,3)", "x": "vector(3)"})(**v),
    "jvp": lambda v: matdiff.derivative(NAN_TEXT, "A").jvp(v, np.ones((3, 3))),
    "vjp": lambda v: matdiff.derivative(NAN_TEXT, "A").vjp(v, 1.0),
    "hvp": lambda v: matdiff.hessian(NAN_TEXT, "x").hvp(v, np.ones(3)),
}


@pytest.mark.parametrize("path", NAN_PATHS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("where", ["A", "x", "a"])
def test_nan_and_inf_values_are_domain_errors(where, bad, path):
    values = {"A": X0.copy(), "x": x0.copy(), "a": 1.5}
    if where == "a":
        values["a"] = bad
    else:
        values[where].flat[1] = bad
    with time_limit():
        try:
            got = NAN_PATHS[path](values)
        except DomainError as err:
            msg = str(err)
            assert where in msg and ("NaN" in msg or "inf" in msg), msg
            return
    # compiled code checks its results, not its inputs (issue 17): no error is right only where the result
    # does not read the bad value -- finite, and the same at a finite value in its place
    clean = {"A": X0.copy(), "x": x0.copy(), "a": 1.5}
    want = NAN_PATHS[path](clean)
    for g, w in zip(_leaves(got), _leaves(want)):
        assert np.all(np.isfinite(g)) and np.allclose(g, w), f"{path}: a {bad} in {where} gave {got}"


def _leaves(v: object) -> list[np.ndarray]:
    if isinstance(v, dict):
        return [x for k in sorted(v) for x in _leaves(v[k])]
    if isinstance(v, tuple):
        return [x for item in v for x in _leaves(item)]
    return [np.asarray(v, dtype=float)]


def test_nan_direction_and_cotangent():
    values = {"A": X0, "x": x0}
    d = matdiff.derivative("A*x", "A")
    with pytest.raises(DomainError):
        d.jvp(values, np.full((3, 3), np.nan))
    with pytest.raises(DomainError):
        d.vjp(values, np.array([1.0, np.inf, 0.0]))


# ------------------------------------------------------------------------------------ shapes


@pytest.mark.parametrize("values, name", [
    ({"A": np.ones((3, 4)), "x": np.ones(3), "y": np.ones(3)}, "A"),
    ({"A": np.ones((3, 3)), "x": np.ones(4), "y": np.ones(3)}, "x"),
    ({"A": np.ones((3, 3)), "x": np.ones((3, 3)), "y": np.ones(3)}, "x"),
    ({"A": np.ones(3), "x": np.ones(3), "y": np.ones(3)}, "A"),
    ({"A": np.ones((3, 3)), "x": np.ones(3), "y": np.ones(3), "a": np.ones(2)}, None),
])
def test_mismatched_shapes_are_shape_errors(values, name):
    text = "x'*A*y"
    r = matdiff.grad(text, "A")
    d = matdiff.derivative(text, "A")
    h = matdiff.hessian(text + " + x'*x", "x")
    fg = matdiff.compile(text, wrt=["A"], types={"A": "matrix(3,3)"})
    calls = [lambda: matdiff.evaluate(text, values), lambda: r.evaluate(values), lambda: r.compile()(**values),
             lambda: d.jvp(values, np.ones((3, 3))), lambda: h.hvp(values, np.ones(3)), lambda: fg(**values)]
    for call in calls:
        if name is None:  # an extra value of a variable that does not occur: ignored, or a ShapeError
            try:
                with time_limit():
                    call()
            except ShapeError:
                pass
            continue
        with time_limit(), pytest.raises(MatdiffError) as info:
            call()
        assert isinstance(info.value, ShapeError) and name in str(info.value), str(info.value)


def test_wrong_direction_and_cotangent_shapes():
    values = {"A": X0, "x": x0}
    d = matdiff.derivative("A*x", "A")
    with pytest.raises(ShapeError):
        d.jvp(values, np.ones((3, 2)))
    with pytest.raises(ShapeError):
        d.vjp(values, np.ones(4))
    h = matdiff.hessian("x'*A*x", "x")
    with pytest.raises(ShapeError):
        h.hvp(values, np.ones(5))


def test_declared_size_against_value():
    with pytest.raises(ShapeError, match="X"):
        matdiff.evaluate("sum(X)", {"X": np.ones((3, 3))}, {"X": "matrix(3,4)"})


# ------------------------------------------------------------------------------------ kinks

KINKS = {
    # id: (expression, wrt, values, types, where: the function (or divisor) the message must name,
    #      why: a word the message must hold)
    "norm_fro_0": ("norm_fro(X)", "X", {"X": np.zeros((3, 2))}, None, "norm_fro", "0"),
    "norm_fro_diff_0": ("norm_fro(X - Y)", "X", {"X": np.ones((2, 2)), "Y": np.ones((2, 2))}, None,
                        "norm_fro", "0"),
    "norm2_vec_0": ("norm2(x)", "x", {"x": np.zeros(3)}, None, "norm2", "0"),
    "norm2_repeated": ("norm2(X)", "X", {"X": np.diag([2.0, 2.0, 1.0])}, None, "norm2", "repeated"),
    "norm2_eye": ("norm2(X)", "X", {"X": np.eye(3)}, None, "norm2", "repeated"),
    "abs_vec_0": ("sum(abs(x))", "x", {"x": np.array([1.0, 0.0, -2.0])}, None, "abs", "0"),
    "abs_0": ("abs(a)", "a", {"a": 0.0}, None, "abs", "0"),
    "norm1_0": ("norm1(X)", "X", {"X": np.array([[1.0, 0.0], [2.0, -1.0]])}, None, "norm1", "0"),
    "norm_nuc_rank": ("norm_nuc(X)", "X", {"X": np.ones((3, 3))}, None, "norm_nuc", "rank"),
    "logdet_spd_indef": ("logdet(S)", "S", {"S": np.diag([1.0, -1.0, 2.0])}, {"S": "spd"}, "logdet",
                         "positive definite"),
    "logdet_spd_negdef": ("logdet(S)", "S", {"S": np.diag([1.0, -1.0, -2.0])}, {"S": "spd"}, "logdet",
                          "positive definite"),
    "logdet_neg_det": ("logdet(A)", "A", {"A": np.diag([1.0, -1.0, 2.0])}, None, "logdet", "det"),
    "inv_singular": ("tr(inv(A))", "A", {"A": np.ones((3, 3))}, None, "inv", "singular"),
    "sqrt_0": ("sum(sqrt(x))", "x", {"x": np.array([1.0, 0.0])}, None, "sqrt", "0"),
    "log_0": ("sum(log(x))", "x", {"x": np.array([1.0, 0.0])}, None, "log", "positive"),
    "div_0": ("a/b", "b", {"a": 1.0, "b": 0.0}, None, "b", "0"),
    "hdiv_0": ("sum(x ./ y)", "y", {"x": np.ones(2), "y": np.array([1.0, 0.0])}, None, "y", "0"),
}


def _kink_call(path: str, text: str, wrt: str, values: dict, types):
    if path == "r.evaluate":
        return lambda: matdiff.grad(text, wrt, types).evaluate(values)
    if path == "r.compile":
        return lambda: matdiff.grad(text, wrt, types).compile()(**values)
    if path == "compile":
        return lambda: matdiff.compile(text, wrt=[wrt], types=types)(**values)
    direction = np.ones_like(np.asarray(values[wrt], dtype=float))
    if types and types.get(wrt) in ("spd", "symmetric"):
        direction = np.eye(direction.shape[0])
    d = float(direction) if direction.ndim == 0 else direction
    return lambda: matdiff.derivative(text, wrt, types).jvp(values, d)


def _kink_cases(bugs: dict[str, str]) -> list:
    """(case, path) params, the ones in bugs ({"case/path" or "case": bug}) as strict xfails."""
    out = []
    for case in KINKS:
        for path in ("r.evaluate", "r.compile", "compile", "jvp"):
            bug = bugs.get(f"{case}/{path}") or bugs.get(case)
            out.append(pytest.param(case, path, id=f"{case}-{path}", marks=_xfail(bug) if bug else []))
    return out


@pytest.mark.parametrize("case, path", _kink_cases({}))
def test_non_differentiable_points_are_domain_errors(case, path):
    """A DomainError within the time bound that says why (zero, repeated, rank, definite...)."""
    text, wrt, values, types, where, why = KINKS[case]
    with time_limit(), pytest.raises(DomainError) as info:
        _kink_call(path, text, wrt, values, types)()
    assert why in str(info.value), f"{path}: the DomainError for {text} does not say why: {info.value}"


@pytest.mark.parametrize("case, path", [p for p in _kink_cases({}) if not p.id.endswith("-jvp")])
def test_domain_errors_say_where(case, path):
    """The message names the function the user wrote (where), e.g. norm2, not an internal one."""
    text, wrt, values, types, where, why = KINKS[case]
    with time_limit(), pytest.raises(DomainError) as info:
        _kink_call(path, text, wrt, values, types)()
    assert where in str(info.value), f"{path}: the DomainError for {text} does not name {where}: {info.value}"
