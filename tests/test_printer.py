"""Printing back to the language (re-parseable, same values) and to LaTeX."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

import matdiff
from conftest import positive, spd, well_conditioned
from matdiff.core import nodes as A_
from matdiff.functions import lookup

N = 3

# ~80 varied expressions, all well defined at the values of `_values` (A, B, C well conditioned,
# P with positive entries, x, y, z vectors, a, b, c positive scalars)
ROUND_TRIP = [
    "a+b*c",
    "-a^2",
    "a^-1",
    "2^3^2",
    "a-b-c",
    "a/b/c",
    "a/b*c",
    "-(a-b)",
    "a - -b",
    "A'*B",
    "(A*B)'",
    "A*B'",
    "A .* B * C",
    "A * B .* C",
    "A ./ (B .* C)",
    "(A ./ B) .* C",
    "2.*A",
    "A.^2",
    "A.^-1",
    "(-A).^2",
    "-A.^2",
    "A^-2",
    "(A+B)^2",
    "(A')^3",
    "x'*x",
    "x*x'",
    "tr(A)^2",
    "tr(A^2)",
    "inv(A)'",
    "inv(A')",
    "det(A')",
    "exp(-x)",
    "-exp(x)",
    "1/(1 + exp(-a))",
    "log(1 + exp(x))",
    "P .^ 0.5",
    "sqrt(abs(x))",
    "norm_fro(A - B)/2",
    "norm2(A)*norm_nuc(B)",
    "norm1(x - y)",
    "diag(diag(A))",
    "diag(x)*A",
    "sum(A*x)",
    "eye(A) + A",
    "A - 2*eye",
    "a*eye(A)*b",
    "ones(A) .* B",
    "sign(A)",
    "polar(A)",
    "top_sv(A)",
    "1e-3*a",
    ".5*a",
    "1/3*a",
    "2/3*A",
    "a^(1/3)",
    "(a^b)^c",
    "a^b^c",
    "(a*b)^2",
    "-(-a)",
    "--a",
    "+a",
    "x'*A'*y",
    "(x'*A*y)'",
    "(A*x + y)'*(A*x - y)",
    "tanh(A)*sin(B) - cos(A)",
    "adj(A)*A",
    "logdet(A'*A + eye)",
    "A*(B*C)",
    "a*(b + c)",
    "(a + b)*c",
    "a - (b - c)",
    "a - (b + c)",
    "-(a*b)",
    "(-a)*b",
    "x'*(-A)*y",
    "(a - b)^2",
    "(-a)^2",
    "a^(-b)",
    "2^-a",
    "1.5e-2*A",
    "1 + exp(x)",
    "x - 1",
    "2 - A",
    "A/(a + b)",
    "(x .* y)./(z .* z + 1)",
    "P .^ a",
    "a .^ P",
    "x' .* y'",
    "exp(a)*A^0",
    "(2*A)^-1",
    "inv(2*A)",
    "det(-A)",
    "tr(A)/tr(B)*tr(C)",
    "tr(A)/(tr(B)*tr(C))",
]


def _values(rng):
    return {
        "a": 1.3,
        "b": 0.7,
        "c": 2.1,
        "A": well_conditioned(rng, N),
        "B": well_conditioned(rng, N),
        "C": well_conditioned(rng, N),
        "P": positive(rng, (N, N)),
        "x": rng.standard_normal(N),
        "y": rng.standard_normal(N),
        "z": rng.standard_normal(N),
    }


def _used(values, text):
    return {k: v for k, v in values.items() if re.search(rf"\b{k}\b", text)}


def test_round_trip_list_is_long_and_distinct():
    assert len(ROUND_TRIP) >= 40 and len(set(ROUND_TRIP)) == len(ROUND_TRIP)


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip_same_values(rng, text):
    values = _values(rng)
    t1 = matdiff.parse(text)
    printed = str(t1)
    t2 = matdiff.parse(printed)
    v1 = matdiff.evaluate(t1, _used(values, text))
    v2 = matdiff.evaluate(t2, _used(values, printed))
    np.testing.assert_allclose(v2, v1, rtol=1e-12, atol=1e-14, err_msg=f"{text!r} printed as {printed!r}")
    # printing is a fixed point after one round
    assert str(t2) == printed


@pytest.mark.parametrize(
    "text, value",
    [
        ("a+b*c", 1.3 + 0.7 * 2.1),
        ("-a^2", -(1.3**2)),
        ("2^3^2", 512.0),
        ("a-b-c", 1.3 - 0.7 - 2.1),
        ("a/b/c", 1.3 / 0.7 / 2.1),
        ("a/b*c", 1.3 / 0.7 * 2.1),
        ("2^-2", 0.25),
        ("-2^2", -4.0),
        ("(-2)^2", 4.0),
        ("1e-3", 1e-3),
        (".5", 0.5),
        ("1/3", 1 / 3),
        ("a - -b", 1.3 + 0.7),
        ("--a", 1.3),
        ("a^-b^c", 1.3 ** -(0.7**2.1)),
    ],
)
def test_scalar_values(text, value):
    assert matdiff.evaluate(text, {"a": 1.3, "b": 0.7, "c": 2.1}) == pytest.approx(value, rel=1e-14)
    assert matdiff.evaluate(str(matdiff.parse(text)), {"a": 1.3, "b": 0.7, "c": 2.1}) == pytest.approx(
        value, rel=1e-14
    )


def test_exact_numbers_print_exactly():
    assert str(matdiff.parse("1/3*a")) == "1/3*a"
    assert str(matdiff.parse("0.1*a")) == "0.1*a"
    assert str(matdiff.parse("1e-3*a")) == "0.001*a"
    # a printed constant re-parses to the same exact number
    t = A_.MatMul((A_.Num(Fraction(2, 7)), A_.Var("a")))
    assert matdiff.parse(str(t)) == t or matdiff.evaluate(str(t), {"a": 7.0}) == pytest.approx(2.0, rel=1e-15)


# ---------------------------------------------------------------- trees the parser never builds

PRINTER_TREES = [
    A_.Neg(A_.Num(-2)),
    A_.Power(A_.Num(-2), A_.Num(2)),
    A_.Power(A_.Neg(A_.Var("a")), A_.Num(3)),
    A_.Power(A_.Var("a"), A_.Num(-2)),
    A_.Power(A_.Var("a"), A_.Num(Fraction(1, 3))),
    A_.Power(A_.Var("a"), A_.Add((A_.Var("b"), A_.Var("c")))),
    A_.Power(A_.Power(A_.Var("a"), A_.Var("b")), A_.Var("c")),
    A_.MatMul((A_.Var("a"), A_.MatMul((A_.Var("b"), A_.Var("c"))))),
    A_.MatMul((A_.Num(-1), A_.Var("a"), A_.Var("b"))),
    A_.MatMul((A_.Var("a"), A_.Num(-1))),
    A_.MatMul((A_.Var("a"), A_.Num(-3), A_.Var("b"))),
    A_.Div(A_.Var("a"), A_.MatMul((A_.Var("b"), A_.Var("c")))),
    A_.Div(A_.Var("a"), A_.Div(A_.Var("b"), A_.Var("c"))),
    A_.Div(A_.Var("a"), A_.Neg(A_.Var("b"))),
    A_.Div(A_.Neg(A_.Var("a")), A_.Var("b")),
    A_.Div(A_.Add((A_.Var("a"), A_.Var("b"))), A_.Var("c")),
    A_.MatMul((A_.Div(A_.Var("a"), A_.Var("b")), A_.Var("c"))),
    A_.Add((A_.Var("a"), A_.Neg(A_.Neg(A_.Var("b"))))),
    A_.Add((A_.Var("a"), A_.Num(-2))),
    A_.Add((A_.Var("a"), A_.MatMul((A_.Num(-2), A_.Var("b"))))),
    A_.Add((A_.Var("a"), A_.Add((A_.Var("b"), A_.Neg(A_.Var("c")))))),
    A_.Add((A_.Var("a"), A_.Neg(A_.Add((A_.Var("b"), A_.Var("c")))))),
    A_.Neg(A_.Add((A_.Var("a"), A_.Var("b")))),
    A_.Hadamard(A_.Var("a"), A_.Hadamard(A_.Var("b"), A_.Var("c"))),
    A_.HDiv(A_.Var("a"), A_.HDiv(A_.Var("b"), A_.Var("c"))),
    A_.HDiv(A_.Var("a"), A_.MatMul((A_.Var("b"), A_.Var("c")))),
    A_.MatMul((A_.Var("a"), A_.Hadamard(A_.Var("b"), A_.Var("c")))),
    A_.EPower(A_.Var("a"), A_.EPower(A_.Var("b"), A_.Var("c"))),
    A_.EPower(A_.Neg(A_.Var("a")), A_.Num(2)),
    A_.Transpose(A_.Neg(A_.Var("A"))),
    A_.Transpose(A_.MatMul((A_.Var("A"), A_.Var("B")))),
    A_.Transpose(A_.Power(A_.Var("A"), A_.Num(2))),
    A_.Power(A_.Transpose(A_.Var("A")), A_.Num(-1)),
    A_.MatMul((A_.Num(Fraction(1, 3)), A_.Var("A"))),
    A_.MatMul((A_.Var("A"), A_.Num(Fraction(-1, 3)))),
    A_.Power(A_.Num(Fraction(1, 3)), A_.Num(2)),
    A_.Power(A_.Var("a"), A_.Num(Fraction(-1, 2))),
    A_.Num(1e-30),
    A_.Num(2.5e300),
]


@pytest.mark.parametrize("tree", PRINTER_TREES, ids=[str(t) for t in PRINTER_TREES])
def test_printer_on_built_trees(rng, tree):
    values = {"a": 1.3, "b": 0.7, "c": 2.1, "A": well_conditioned(rng, N), "B": well_conditioned(rng, N)}
    printed = str(tree)
    want = matdiff.evaluate(tree, _used(values, printed))
    got = matdiff.evaluate(matdiff.parse(printed), _used(values, printed))
    np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"{printed!r}")


# ---------------------------------------------------------------- generated trees (hypothesis)

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_SCALARS = ["a", "b", "c"]
_MATS = ["A", "B"]


def _scalar_trees(depth: int):
    leaf = st.one_of(
        st.sampled_from(_SCALARS).map(A_.Var),
        st.sampled_from([Fraction(1), Fraction(2), Fraction(-3), Fraction(1, 2), Fraction(-2, 3)]).map(
            A_.Num
        ),
    )
    if depth == 0:
        return leaf
    sub = _scalar_trees(depth - 1)
    mats = _matrix_trees(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda a, b: A_.Add((a, b)), sub, sub),
        st.builds(A_.Neg, sub),
        st.builds(lambda a, b: A_.MatMul((a, b)), sub, sub),
        st.builds(A_.Div, sub, sub),
        st.builds(A_.Power, sub, st.sampled_from([2, 3, -1, -2]).map(A_.Num)),
        st.builds(A_.Transpose, sub),
        st.builds(lambda m: A_.Call(lookup("tr"), m), mats),
        st.builds(lambda f, a: A_.Call(lookup(f), a), st.sampled_from(["exp", "sin", "cos", "tanh"]), sub),
    )


def _matrix_trees(depth: int):
    leaf = st.sampled_from(_MATS).map(A_.Var)
    if depth == 0:
        return leaf
    sub = _matrix_trees(depth - 1)
    sc = _scalar_trees(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda a, b: A_.Add((a, b)), sub, sub),
        st.builds(A_.Neg, sub),
        st.builds(lambda a, b: A_.MatMul((a, b)), sub, sub),
        st.builds(lambda s, m: A_.MatMul((s, m)), sc, sub),
        st.builds(A_.Div, sub, sc),
        st.builds(A_.Hadamard, sub, sub),
        st.builds(A_.Transpose, sub),
        st.builds(A_.Power, sub, st.sampled_from([2, -1]).map(A_.Num)),
        st.builds(lambda f, a: A_.Call(lookup(f), a), st.sampled_from(["exp", "sin", "tanh"]), sub),
    )


def _eval_or_error(tree_or_text, values):
    try:
        return matdiff.evaluate(tree_or_text, values)
    except matdiff.DomainError:
        return "DomainError"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_scalar_trees(3), _matrix_trees(2)))
def test_generated_trees_print_to_equivalent_text(tree):
    rng = np.random.default_rng(7)
    values = {"a": 1.3, "b": 0.7, "c": 2.1, "A": well_conditioned(rng, N), "B": well_conditioned(rng, N)}
    printed = str(tree)
    reparsed = matdiff.parse(printed)
    used = _used(values, printed)
    want = _eval_or_error(tree, used)
    got = _eval_or_error(reparsed, used)
    if isinstance(want, str) or isinstance(got, str):
        assert want == got, f"{printed!r}: {want!r} vs {got!r}"
    else:
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=f"{printed!r}")


# ---------------------------------------------------------------- gradients print re-parseably

GRADIENTS = [
    ("norm_fro(X)", "X", None),
    ("x'*A*y", "A", None),
    ("det(A)", "A", None),
    ("logdet(A)", "A", None),
    ("tr(A*X*B)", "X", None),
    ("x'*A*x", "x", None),
    ("det(x*eye - A)", "x", {"x": "scalar"}),
    ("tr(X)", "X", None),
    ("sum(X)", "X", None),
    ("sum(A*X)", "X", None),
    ("sum(X*B)", "X", None),
    ("sum(x)", "x", None),
    ("sum(A*x)", "x", None),
    ("tr(X + eye)", "X", None),
    ("logdet(eye + X'*X)", "X", None),
    ("norm_fro(X - eye)", "X", None),
    ("x'*(A + eye)*x", "x", None),
    ("sum(diag(X))", "X", None),
    ("tr(2*eye*X)", "X", None),
    ("a*tr(X)", "a", None),
    ("sum(a + X)", "a", {"a": "scalar"}),
    ("sum(exp(a*X))", "a", None),
    ("tr(X)*tr(X)", "X", None),
    ("norm1(X)", "X", None),
    ("sum(abs(A*x))", "x", None),
    ("sum(diag(x))", "x", None),
    ("x'*diag(A*B)", "A", None),
    ("tr(diag(x))", "x", None),
    ("sum(eye(X))*tr(X)", "X", None),
    ("tr(A*X^2)", "X", None),
    ("tr(X^-1)", "X", None),
    ("sum(log(1 + exp(X)))", "X", None),
    ("tr(inv(eye + X))", "X", None),
    ("sum(P .^ X)", "X", None),
    ("sum(X .^ a)", "a", None),
    ("sum(X ./ (1 + X .* X))", "X", None),
    ("norm2(X)", "X", None),
    ("norm_nuc(X)", "X", None),
    ("norm2(x - y)", "x", None),
    ("logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"}),
    ("tr(A*S)", "S", {"S": "symmetric"}),
    ("x'*inv(A)*y", "A", None),
    ("tr(A*adj(X))", "X", None),
]


def _grad_values(rng, expr, types):
    n = N
    vals = {
        "X": rng.standard_normal((n, n)) + 3 * np.eye(n),
        "A": well_conditioned(rng, n),
        "B": well_conditioned(rng, n),
        "C": rng.standard_normal((n, n)),
        "P": positive(rng, (n, n)),
        "S": spd(rng, n),
        "x": rng.standard_normal(n),
        "y": rng.standard_normal(n),
        "a": 0.8,
    }
    if "X .^ a" in expr:
        vals["X"] = positive(rng, (n, n))
    if "logdet(A)" in expr and np.linalg.det(vals["A"]) < 0:
        vals["A"][0] *= -1
    if (types or {}).get("x") == "scalar":
        vals["x"] = 0.3
    return _used(vals, expr)


@pytest.mark.parametrize("expr, wrt, types", GRADIENTS, ids=[g[0] + " wrt " + g[1] for g in GRADIENTS])
def test_gradient_text_reparses_to_the_same_values(rng, expr, wrt, types):
    r = matdiff.grad(expr, wrt, types)
    text = str(r.gradient)
    values = _grad_values(rng, expr, types)
    want = r.evaluate(values)
    tree = matdiff.parse(text)
    # the printed gradient evaluates on its own, given the variables it names
    got = matdiff.evaluate(tree, _used(values, text), types)
    np.testing.assert_allclose(
        np.broadcast_to(got, np.shape(want)), want, rtol=1e-10, atol=1e-12, err_msg=f"{text!r}"
    )
    np.testing.assert_allclose(r.compile()(**values), want, rtol=1e-10, atol=1e-12)
    # and prints back to itself
    assert str(tree) == text


def test_gradient_with_no_variable_refuses_with_shape_error():
    """DESIGN.md: only a result that names no variable may refuse with a ShapeError (tr(eye)*a wrt a)."""
    r = matdiff.grad("tr(eye)*a", "a")
    with pytest.raises(matdiff.ShapeError, match="eye"):
        matdiff.evaluate(str(r.gradient), {})


def test_eye_in_gradient_names_its_size():
    assert "eye(X)" in str(matdiff.grad("tr(X)", "X").gradient)
    g = str(matdiff.grad("sum(A*X)", "X").gradient)
    assert "ones(" in g


# ---------------------------------------------------------------- LaTeX

LATEX = [
    ("tr(A*B)", [r"\operatorname{tr}"]),
    ("inv(A)", ["^{-1}"]),
    ("inv(A)'", [r"^{-\top}"]),
    ("A .* B", [r"\odot"]),
    ("A ./ B", [r"\oslash"]),
    ("norm_fro(X)", [r"\left\|X\right\|_{F}"]),
    ("norm2(x)", [r"\left\|x\right\|_{2}"]),
    ("norm_nuc(X)", [r"\left\|X\right\|_{*}"]),
    ("norm1(X)", [r"\left\|X\right\|_{1}"]),
    ("A'", [r"A^{\top}"]),
    ("det(A)", [r"\det"]),
    ("logdet(A)", [r"\log\det"]),
    ("adj(A)", [r"\operatorname{adj}"]),
    ("sqrt(a)", [r"\sqrt{a}"]),
    ("abs(a)", [r"\left|a\right|"]),
    ("a/b", [r"\frac{a}{b}"]),
    ("1/3*a", [r"\frac{1}{3}"]),
    ("A.^2", [r"^{\circ 2}"]),
    ("A^3", ["A^{3}"]),
    ("exp(X)", [r"\exp"]),
    ("eye", ["I"]),
    ("lam*x", [r"\lambda"]),
    ("X1 + alpha", ["X_{1}", r"\alpha"]),
    ("1e-8*a", [r"10^{-8}"]),
    ("diag(x)", [r"\operatorname{diag}"]),
    ("sum(x)", [r"\operatorname{sum}"]),
]


@pytest.mark.parametrize("text, pieces", LATEX, ids=[t for t, _ in LATEX])
def test_latex_contains(text, pieces):
    tex = matdiff.parse(text)._repr_latex_()
    assert tex.startswith("$") and tex.endswith("$")
    for p in pieces:
        assert p in tex, f"{text}: {tex!r} lacks {p!r}"
    assert tex.count("{") == tex.count("}")
    assert tex.count(r"\left") == tex.count(r"\right")


@pytest.mark.parametrize(
    "expr, wrt, pieces",
    [
        ("norm_fro(X)", "X", [r"\left\|X\right\|_{F}", r"\frac"]),
        ("logdet(A)", "A", [r"A^{-\top}"]),
        ("logdet(S)", "S", ["S^{-1}"]),
        ("det(A)", "A", [r"\operatorname{adj}", r"^{\top}"]),
        ("sum(X .* X .* A)", "X", [r"\odot"]),
        ("det(x*eye - A)", "x", [r"\operatorname{tr}", "I"]),
    ],
)
def test_gradient_latex(expr, wrt, pieces):
    types = {"S": "spd"} if "S" in expr else {"x": "scalar"} if "eye" in expr else None
    r = matdiff.grad(expr, wrt, types)
    for p in pieces:
        assert p in r.latex, f"{r.latex!r} lacks {p!r}"
    assert r.latex.count("{") == r.latex.count("}")
    assert r.latex in r._repr_latex_()
