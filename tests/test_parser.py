"""The parser: precedence, associativity, numbers, functions, errors with position and caret, limits."""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import pytest

import matdiff
from conftest import time_limit, well_conditioned
from matdiff import LimitError, MatdiffError, ParseError
from matdiff.core import nodes as A_

P = matdiff.parse


def same(a: str, b: str) -> None:
    """a and b parse to the same tree."""
    assert P(a) == P(b), f"{a!r} -> {P(a)!r}, {b!r} -> {P(b)!r}"


# ------------------------------------------------------------------ precedence and associativity


@pytest.mark.parametrize(
    "text, explicit",
    [
        ("a+b*c", "a+(b*c)"),
        ("a*b+c", "(a*b)+c"),
        ("-x^2", "-(x^2)"),
        ("-a^2", "-(a^2)"),
        ("x^-1", "x^(-1)"),
        ("a^-b^c", "a^(-(b^c))"),
        ("2^3^2", "2^(3^2)"),  # ^ is right associative
        ("A'*B", "(A')*B"),
        ("A*B'", "A*(B')"),
        ("x'^2", "(x')^2"),  # postfix ' binds tighter than ^
        ("A'^-1", "(A')^(-1)"),
        ("-A'", "-(A')"),
        ("A*B.*C", "(A*B).*C"),  # * and .* are one level, left to right
        ("A.*B*C", "(A.*B)*C"),
        ("A./B.*C", "(A./B).*C"),
        ("A.*B./C", "(A.*B)./C"),
        ("a/b*c", "(a/b)*c"),
        ("a/b/c", "(a/b)/c"),
        ("a-b-c", "a+(-b)+(-c)"),  # a sum is one n-ary node; '-' negates the next term
        ("a-b*c", "a+(-(b*c))"),
        ("A.^2'", "A.^(2')"),
        ("2.*x", "2 .* x"),  # 2.*x is 2 .* x, not 2. * x
        ("2./x", "2 ./ x"),
        ("2.^x", "2 .^ x"),
        ("x.^-1", "x.^(-1)"),
        ("+a", "a"),
        ("a - -b", "a - (-b)"),
        ("tr(A)^2", "(tr(A))^2"),
        ("exp(x)'", "(exp(x))'"),
        ("x'*A*x", "(x')*A*x"),
        ("  a \t+\n b ", "a+b"),
    ],
)
def test_precedence(text, explicit):
    same(text, explicit)


def test_precedence_trees():
    a, b, c, x, A, B = (A_.Var(n) for n in "abcxAB")
    assert P("a+b*c") == A_.Add((a, A_.MatMul((b, c))))
    assert P("-x^2") == A_.Neg(A_.Power(x, A_.Num(2)))
    assert P("x^-1") == A_.Power(x, A_.Neg(A_.Num(1)))
    assert P("A'*B") == A_.MatMul((A_.Transpose(A), B))
    assert P("2.*x") == A_.Hadamard(A_.Num(2), x)
    assert P("a-b") == A_.Add((a, A_.Neg(b)))
    assert P("A*B*x") == A_.MatMul((A, B, x))  # a product is one n-ary node


@pytest.mark.parametrize(
    "text, value",
    [
        ("2+3*4", 14.0),
        ("(2+3)*4", 20.0),
        ("-2^2", -4.0),
        ("(-2)^2", 4.0),
        ("2^-1", 0.5),
        ("2^3^2", 512.0),
        ("10-4-3", 3.0),
        ("10-4+3", 9.0),
        ("10-(4+3)", 3.0),
        ("12/3/2", 2.0),
        ("12/3*2", 8.0),
        ("2*3.*4", 24.0),
        ("1e-3", 1e-3),
        (".5", 0.5),
        ("1.5e2", 150.0),
        ("2E3", 2000.0),
        ("1e+2", 100.0),
        ("0.25", 0.25),
        ("007", 7.0),
        ("--3", 3.0),
        ("-3'", -3.0),
        ("2^-2^-1", 2 ** -(2**-1)),
    ],
)
def test_numeric_values(text, value):
    assert matdiff.evaluate(text, {}) == pytest.approx(value, rel=1e-15)


def test_numbers_are_exact():
    assert P("0.1") == A_.Num(Fraction(1, 10))
    assert P("1e-3") == A_.Num(Fraction(1, 1000))
    assert P(".5") == A_.Num(Fraction(1, 2))


def test_matrix_precedence_values(rng):
    A, B, C = (well_conditioned(rng, 3) for _ in range(3))
    x = rng.standard_normal(3)
    v = {"A": A, "B": B, "C": C, "x": x}
    np.testing.assert_allclose(matdiff.evaluate("A'*B", v), A.T @ B)
    np.testing.assert_allclose(matdiff.evaluate("A*B.*C", v), (A @ B) * C)
    np.testing.assert_allclose(matdiff.evaluate("A.*B*C", v), (A * B) @ C)
    np.testing.assert_allclose(matdiff.evaluate("-A^2", v), -(A @ A))
    np.testing.assert_allclose(matdiff.evaluate("A^-1*x", v), np.linalg.solve(A, x))
    np.testing.assert_allclose(matdiff.evaluate("A'^-1", v), np.linalg.inv(A.T))
    np.testing.assert_allclose(matdiff.evaluate("2.*A", v), 2 * A)
    np.testing.assert_allclose(matdiff.evaluate("A.^2", v), A**2)
    np.testing.assert_allclose(matdiff.evaluate("x'*A*x", v), x @ A @ x)
    np.testing.assert_allclose(matdiff.evaluate("x*x'", v), np.outer(x, x))


# ------------------------------------------------------------------ names and functions

FUNCTIONS = [
    "tr",
    "det",
    "logdet",
    "inv",
    "adj",
    "norm_fro",
    "norm2",
    "norm_nuc",
    "norm1",
    "sum",
    "diag",
    "exp",
    "log",
    "sin",
    "cos",
    "tanh",
    "sqrt",
    "abs",
    "sign",
    "polar",
    "top_sv",
]


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_every_function_parses(fn):
    t = P(f"{fn}(X)")
    assert isinstance(t, A_.Call) and t.fn.name == fn and t.arg == A_.Var("X")
    t = P(f"{fn}( A*B + C )'")
    assert isinstance(t, A_.Transpose) and t.arg.fn.name == fn


@pytest.mark.parametrize("fn", FUNCTIONS + ["eye", "ones"])
def test_function_names_are_reserved(fn):
    with pytest.raises(ParseError):
        P(f"{fn} + x") if fn != "eye" else P("eye x")


def test_eye_and_ones():
    assert P("eye") == A_.Eye()
    assert P("eye(X)") == A_.Eye(A_.Var("X"))
    assert P("ones(X)") == A_.Ones(A_.Var("X"))
    assert P("2*eye - A") == A_.Add((A_.MatMul((A_.Num(2), A_.Eye())), A_.Neg(A_.Var("A"))))


def test_identifiers():
    for name in ["lam", "X1", "x_2", "Sigma", "a_b_c", "trX", "expo", "eyes", "S0"]:
        assert P(name) == A_.Var(name)


# ------------------------------------------------------------------ errors: position and caret


def caret_position(err: ParseError) -> int:
    """The column of the caret under the echoed text (the message ends with the text and the caret line)."""
    lines = str(err).split("\n")
    caret = lines[-1]
    assert caret.strip() == "^", str(err)
    return caret.index("^") - (len(lines[-2]) - len(lines[-2].lstrip(" ")))


@pytest.mark.parametrize(
    "text, position, words",
    [
        ("(x'*A*x", 7, ["')'"]),
        ("x'*A*x +", 8, ["end"]),
        ("bar(x)", 0, ["unknown function", "bar"]),
        ("sum(", 4, ["end"]),
        ("tr", 2, ["tr"]),
        ("A $ B", 2, ["'$'"]),
        ("", 0, ["empty"]),
        ("   ", 0, ["empty"]),
        ("x)", 1, ["')'"]),
        ("a + * b", 4, ["'*'"]),
        ("2x", 1, ["'x'"]),
        ("x y", 2, ["'y'"]),
        ("tr()", 3, ["argument"]),
        ("eye()", 4, ["argument"]),
        ("A[1]", 1, ["'['"]),
        ("f(x, y)", 3, ["comma"]),
        ("exp(x", 5, ["')'", "exp"]),
        ("x^", 2, ["end"]),
        ("1.e3", 1, ["'.'"]),
        ("'x", 0, ['"\'"']),
    ],
)
def test_parse_error_position_and_caret(text, position, words):
    with pytest.raises(ParseError) as info:
        P(text)
    err = info.value
    assert isinstance(err, MatdiffError) and isinstance(err, ValueError)
    assert err.position == position, str(err)
    if text.strip():
        assert caret_position(err) == position, str(err)
        assert text in str(err)  # the text is echoed above the caret
    for w in words:
        assert w in str(err), f"{w!r} not in {str(err)!r}"


def test_parse_error_caret_window_for_long_text():
    text = "x + " * 1000 + "$" + " + x" * 1000
    with pytest.raises(ParseError) as info:
        P(text)
    err = info.value
    assert err.position == 4000
    lines = str(err).split("\n")
    assert len(lines[-2]) < 400  # a window, not the whole text
    col = lines[-1].index("^")
    assert lines[-2][col] == "$"


def test_parse_rejects_non_strings():
    for bad in (None, 3, b"x", ["x"]):
        with pytest.raises(ParseError):
            P(bad)


def test_unicode_is_a_parse_error():
    with pytest.raises(ParseError) as info:
        P("x + λ")
    assert info.value.position == 4


# ------------------------------------------------------------------ limits: fast, no RecursionError


def _refused_fast(text: str, seconds: float = 2.0) -> Exception:
    t0 = time.perf_counter()
    with pytest.raises((ParseError, LimitError)) as info:  # LimitError: DESIGN names it for size limits
        with time_limit(seconds):
            P(text)
    assert time.perf_counter() - t0 < seconds
    assert isinstance(info.value, MatdiffError)
    return info.value


def test_deep_parentheses():
    _refused_fast("(" * 5000 + "x" + ")" * 5000)


def test_deep_unary_minus():
    _refused_fast("-" * 100000 + "x")
    _refused_fast("-" * 10000 + "x")


def test_deep_transposes():
    _refused_fast("x" + "'" * 10000)


def test_deep_functions_and_powers():
    _refused_fast("exp(" * 3000 + "x" + ")" * 3000)
    _refused_fast("a^" * 5000 + "a")


def test_very_long_input():
    _refused_fast("x+" * 500000 + "x")  # 1e6 characters
    _refused_fast("x" * 1_000_000)


def test_long_flat_input_that_fits_is_accepted():
    text = "+".join(["a"] * 2000)
    assert matdiff.evaluate(text, {"a": 1.0}) == 2000.0


def test_moderate_nesting_is_accepted():
    assert matdiff.evaluate("(" * 50 + "a" + ")" * 50, {"a": 2.0}) == 2.0
    assert matdiff.evaluate("-" * 50 + "a", {"a": 2.0}) == 2.0


def test_many_transposes_no_recursion_error():
    """Postfix transposes count towards the depth limit (once a RecursionError at 900)."""
    text = "a" + "'" * 900
    try:
        value = matdiff.evaluate(text, {"a": 2.0})
    except MatdiffError:
        return  # refusing as too deep is fine
    assert value == 2.0
    str(P(text))
