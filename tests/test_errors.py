"""Every error class, raised with a message that says what and where; never a bare Python error."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import matdiff
from conftest import spd, time_limit, well_conditioned
from matdiff import DomainError, LimitError, MatdiffError, ParseError, ShapeError


def test_hierarchy():
    for cls in (ParseError, ShapeError, DomainError, LimitError):
        assert issubclass(cls, MatdiffError)
    assert issubclass(MatdiffError, ValueError)


# ------------------------------------------------------------------ ParseError


def test_parse_error_has_position_and_caret():
    with pytest.raises(ParseError) as info:
        matdiff.grad("x'*A*x +", "x")
    err = info.value
    assert err.position == 8
    lines = str(err).splitlines()
    assert lines[-2].strip() == "x'*A*x +"
    assert lines[-1].rstrip().endswith("^")
    assert "position 8" in str(err)


def test_parse_error_from_evaluate():
    with pytest.raises(ParseError, match="unknown function 'foo'"):
        matdiff.evaluate("foo(x)", {"x": np.ones(2)})


# ------------------------------------------------------------------ ShapeError: operands and sizes


def test_shape_error_names_operands_and_sizes_transpose_product():
    with pytest.raises(ShapeError) as info:
        matdiff.grad("tr(A'*B)", "A", {"A": "matrix(2,3)", "B": "matrix(3,2)"})
    msg = str(info.value)
    assert "A'" in msg and "B" in msg
    assert "3x2" in msg  # A' is 3x2 and so is B
    assert "columns" in msg and "rows" in msg


def test_shape_error_names_operands_and_sizes_quadratic_form():
    with pytest.raises(ShapeError) as info:
        matdiff.grad("x'*A*x", "x", {"x": "vector(3)", "A": "matrix(4,4)"})
    msg = str(info.value)
    assert "x'" in msg and "A" in msg
    assert "3" in msg and "4x4" in msg


@pytest.mark.parametrize(
    "expr, types, words",
    [
        ("A + B", {"A": "matrix(2,3)", "B": "matrix(3,2)"}, ["+", "2x3", "3x2"]),
        ("A .* B", {"A": "matrix(2,3)", "B": "matrix(3,2)"}, [".*", "2x3", "3x2"]),
        ("A ./ B", {"A": "matrix(2,3)", "B": "matrix(3,2)"}, ["./", "2x3", "3x2"]),
        ("det(A)", {"A": "matrix(2,3)"}, ["det", "square", "2x3"]),
        ("inv(A)", {"A": "matrix(2,3)"}, ["inv", "square"]),
        ("logdet(A)", {"A": "matrix(2,3)"}, ["logdet", "square"]),
        ("tr(A)", {"A": "matrix(2,3)"}, ["tr", "square"]),
        ("A^2", {"A": "matrix(2,3)"}, ["^", "square"]),
        ("A^0.5", None, ["integer", ".^"]),
        ("A/B", None, ["/", "scalar", "./"]),
        ("x^2", {"x": "vector"}, ["^", "x"]),
        ("A^x", None, ["exponent", ".^"]),
        ("x + A", {"x": "vector(3)", "A": "matrix(3,3)"}, ["+", "x", "A"]),
    ],
)
def test_shape_errors(expr, types, words):
    with pytest.raises(ShapeError) as info:
        matdiff.evaluate(expr, {}, types)
    for w in words:
        assert w in str(info.value), f"{w!r} not in {str(info.value)!r}"


def test_grad_of_non_scalar_is_a_shape_error():
    with pytest.raises(ShapeError, match="scalar"):
        matdiff.grad("A*x", "x")


# ------------------------------------------------------------------ values of the wrong shape


@pytest.mark.parametrize(
    "expr, values, types, words",
    [
        ("x'*A*x", {"x": np.ones(3), "A": np.ones((4, 4))}, None, ["A", "4", "3"]),
        ("x'*A*y", {"x": np.ones(3), "A": np.ones((3, 4)), "y": np.ones(3)}, None, ["y", "3", "4"]),
        ("x'*x", {"x": np.ones((3, 3))}, None, ["x", "vector", "1-D"]),
        ("tr(A)", {"A": np.ones(3)}, None, ["A", "matrix", "2-D"]),
        ("a*2", {"a": np.ones(3)}, None, ["a", "scalar"]),
        ("x'*x", {"x": np.ones(4)}, {"x": "vector(3)"}, ["x", "3", "4"]),
        ("tr(A)", {"A": np.ones((2, 3))}, None, ["A", "3", "2"]),
        ("tr(A)", {"A": np.ones((3, 4))}, {"A": "matrix(3)"}, ["A", "3", "4"]),
    ],
)
def test_value_shape_mismatch_at_evaluate(expr, values, types, words):
    with pytest.raises(ShapeError) as info:
        matdiff.evaluate(expr, values, types)
    for w in words:
        assert w in str(info.value), f"{w!r} not in {str(info.value)!r}"


def test_value_shape_mismatch_at_gradient_evaluate():
    r = matdiff.grad("x'*A*y", "A")
    with pytest.raises(ShapeError):
        r.evaluate({"x": np.ones(3), "A": np.ones((4, 4)), "y": np.ones(4)})


def test_value_shape_mismatch_at_compiled_gradient():
    """The compiled function checks shapes too (it once returned a 3x4 array for a 4x4 A)."""
    f = matdiff.grad("x'*A*y", "A").compile()
    with pytest.raises(ShapeError):
        f(x=np.ones(3), A=np.ones((4, 4)), y=np.ones(4))


@pytest.mark.parametrize(
    "values, cls, word",
    [
        ({"x": np.ones(2)}, MatdiffError, "A"),  # missing
        ({"x": "abc", "A": np.eye(3)}, MatdiffError, "numeric"),
        ({"x": np.array([1.0, np.nan, 0.0]), "A": np.eye(3)}, DomainError, "NaN"),
        ({"x": np.ones(3), "A": [[1, 2, 3], [4]]}, MatdiffError, "A"),
    ],
)
def test_bad_values(values, cls, word):
    with pytest.raises(cls, match=word):
        matdiff.evaluate("x'*A*x", values)


def test_symmetric_variable_with_non_symmetric_value():
    with pytest.raises(DomainError, match="symmetric"):
        matdiff.evaluate("tr(S)", {"S": np.array([[1.0, 2.0], [3.0, 4.0]])}, {"S": "symmetric"})


# ------------------------------------------------------------------ DomainError


def _both(r, values):
    """The errors of r.evaluate and of the compiled function (each must raise)."""
    errs = []
    for call in (lambda: r.evaluate(values), lambda: r.compile()(**values)):
        with pytest.raises(DomainError) as info:
            call()
        errs.append(str(info.value))
    return errs


def test_norm2_of_difference_at_equal_points(rng):
    x = rng.standard_normal(3)
    for msg in _both(matdiff.grad("norm2(x - y)", "x"), {"x": x, "y": x.copy()}):
        assert "norm2" in msg or "0" in msg


def test_norm_fro_at_zero():
    for msg in _both(matdiff.grad("norm_fro(X)", "X"), {"X": np.zeros((2, 2))}):
        assert "norm_fro" in msg or "0" in msg


def test_compiled_domain_check_comes_before_the_arithmetic():
    """At X = 0 the DomainError comes first, not NumPy's 'divide by zero' warning (-W error)."""
    f = matdiff.grad("norm_fro(X)", "X").compile()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DomainError):
            f(X=np.zeros((2, 2)))


def test_logdet_of_indefinite_spd():
    S = np.diag([1.0, -1.0, 2.0])
    with pytest.raises(DomainError, match="positive definite"):
        matdiff.evaluate("logdet(S)", {"S": S}, {"S": "spd"})
    for msg in _both(matdiff.grad("logdet(S)", "S", {"S": "spd"}), {"S": S}):
        assert "positive definite" in msg


def test_logdet_of_negative_determinant(rng):
    A = well_conditioned(rng, 3)
    if np.linalg.det(A) > 0:
        A[0] *= -1
    with pytest.raises(DomainError, match="det"):
        matdiff.evaluate("logdet(A)", {"A": A})


def test_logdet_of_symmetric_indefinite_with_positive_determinant():
    """logdet(A) = log(det(A)) for an undeclared A (it once required a Cholesky factor of any symmetric A)."""
    A = np.diag([-1.0, -2.0, 3.0])
    assert matdiff.evaluate("logdet(A)", {"A": A}) == pytest.approx(np.log(6.0))
    np.testing.assert_allclose(matdiff.grad("logdet(A)", "A").evaluate({"A": A}), np.linalg.inv(A).T)


def test_log_of_negative():
    x = np.array([1.0, -1.0])
    with pytest.raises(DomainError, match="log"):
        matdiff.evaluate("sum(log(x))", {"x": x})
    for msg in _both(matdiff.grad("sum(log(x))", "x"), {"x": x}):
        assert "log" in msg and "positive" in msg


def test_abs_at_zero():
    x = np.array([1.0, 0.0])
    assert matdiff.evaluate("sum(abs(x))", {"x": x}) == 1.0  # defined, only not differentiable
    for msg in _both(matdiff.grad("sum(abs(x))", "x"), {"x": x}):
        assert "0" in msg


def test_norm1_at_zero_entry():
    X = np.array([[1.0, 0.0], [1.0, 1.0]])
    _both(matdiff.grad("norm1(X)", "X"), {"X": X})


def test_norm2_with_repeated_top_singular_value():
    assert matdiff.evaluate("norm2(X)", {"X": np.eye(3)}) == pytest.approx(1.0)
    for msg in _both(matdiff.grad("norm2(X)", "X"), {"X": np.eye(3)}):
        assert "repeated" in msg


def test_norm_nuc_at_rank_deficient_matrix():
    _both(matdiff.grad("norm_nuc(X)", "X"), {"X": np.ones((3, 3))})


def test_inv_of_singular():
    A = np.ones((3, 3))
    with pytest.raises(DomainError, match="singular"):
        matdiff.evaluate("tr(inv(A))", {"A": A})
    with pytest.raises(DomainError, match="singular"):
        matdiff.evaluate("x'*inv(A)*x", {"A": A, "x": np.ones(3)})
    with pytest.raises(DomainError, match="singular"):
        matdiff.evaluate("A^-1", {"A": A})
    for msg in _both(matdiff.grad("tr(inv(A))", "A"), {"A": A}):
        assert "singular" in msg


@pytest.mark.parametrize(
    "expr, values, word",
    [
        ("a/b", {"a": 1.0, "b": 0.0}, "zero"),
        ("sum(x./y)", {"x": np.ones(2), "y": np.array([1.0, 0.0])}, "zero"),
        ("sqrt(a)", {"a": -1.0}, "sqrt"),
        ("a^0.5", {"a": -1.0}, "power"),
        ("sign(a)", {"a": 0.0}, "sign"),
        ("polar(X)", {"X": np.ones((2, 2))}, "rank"),
        ("top_sv(X)", {"X": np.eye(2)}, "repeated"),
        ("log(a)", {"a": 0.0}, "log"),
    ],
)
def test_domain_errors_at_evaluate(expr, values, word):
    with pytest.raises(DomainError, match=word):
        matdiff.evaluate(expr, values)


def test_det_gradient_is_not_a_domain_error_at_singular():
    A = np.ones((3, 3))
    G = matdiff.grad("det(A)", "A").evaluate({"A": A})
    np.testing.assert_allclose(G, np.zeros((3, 3)), atol=1e-12)  # rank 1 <= n-2: adj(A) = 0


# ------------------------------------------------------------------ wrt


def test_wrt_not_in_expression():
    with pytest.raises(MatdiffError) as info:
        matdiff.grad("x'*A*x", "y")
    assert "y" in str(info.value) and "x" in str(info.value)


def test_wrt_not_a_string():
    with pytest.raises(MatdiffError):
        matdiff.grad("x'*A*x", 3)


# ------------------------------------------------------------------ bad types


@pytest.mark.parametrize(
    "spec",
    [
        "vectr",
        "vector(0)",
        "vector(3,4)",
        "vector(-3)",
        "scalar(3)",
        "spd(2,3)",
        "matrix(1.5,2)",
        3,
        None,
        "matrix(m,n,k)",
    ],
)
def test_bad_type_specs(spec):
    with pytest.raises(MatdiffError) as info:
        matdiff.grad("tr(X)", "X", {"X": spec})
    assert "X" in str(info.value)


def test_bad_type_name():
    with pytest.raises(MatdiffError, match="1x"):
        matdiff.grad("x'*x", "x", {"1x": "vector"})


# ------------------------------------------------------------------ never a bare Python error


NEVER_BARE = [
    ("grad", "tr(X'')", "X"),  # once a bare KeyError (rule_for(Var))
    ("grad", "x'*X''*y", "X"),
    ("grad", "tr(A*inv(X)')", "X"),  # once a derivation that never finished (> 2000 steps)
    ("grad", "tr(adj(X)')", "X"),
    ("grad", "sum(diag(adj(X)'))", "X"),
    ("grad", "norm1(inv(X + 3*eye)')", "X"),
    ("evaluate", "tr(eye*x'*y*X)", None),  # once a bare NumPy ValueError (eye typed 1x1)
]


@pytest.mark.parametrize("kind, expr, wrt", NEVER_BARE)
def test_no_bare_errors_and_a_right_answer(rng, kind, expr, wrt):
    n = 3
    values = {
        "X": well_conditioned(rng, n),
        "A": rng.standard_normal((n, n)),
        "x": rng.standard_normal(n),
        "y": rng.standard_normal(n),
    }
    values = {k: v for k, v in values.items() if k in expr}
    if kind == "evaluate":
        want = float(values["x"] @ values["y"] * np.trace(values["X"]))
        assert matdiff.evaluate(expr, values) == pytest.approx(want)
        return
    from conftest import check_gradient

    check_gradient(expr, wrt, values, rng=rng)


def test_errors_are_matdiff_errors_under_random_garbage(rng):
    """Random token soup never gives anything but a MatdiffError (or a value)."""
    tokens = [
        "x",
        "A",
        "a",
        "2",
        ".5",
        "+",
        "-",
        "*",
        "/",
        ".*",
        "./",
        "^",
        ".^",
        "'",
        "(",
        ")",
        "tr(",
        "eye",
        "inv(",
        "exp(",
        "sum(",
        "diag(",
        " ",
    ]
    values = {"x": rng.standard_normal(3), "A": well_conditioned(rng, 3), "a": 0.7}
    for _ in range(400):
        text = "".join(rng.choice(tokens, size=rng.integers(1, 12)))
        try:
            matdiff.evaluate(text, values)
        except MatdiffError:
            pass


# ------------------------------------------------------------------ limits


def test_long_product_gradient_is_fast_or_refused():
    """The product rule on 3001 factors answers or refuses quickly (it once took ~50 s)."""
    text = "*".join(["a"] * 3001)
    try:
        with time_limit(5):
            r = matdiff.grad(text, "a")
    except LimitError:
        return
    assert r.evaluate({"a": 1.0001}) == pytest.approx(3001 * 1.0001**3000, rel=1e-9)


def test_moderate_product_gradient(rng):
    text = "*".join(["a"] * 40)
    r = matdiff.grad(text, "a")
    assert r.evaluate({"a": 1.01}) == pytest.approx(40 * 1.01**39, rel=1e-12)


def test_spd_helper_is_spd(rng):
    S = spd(rng, 4)
    assert np.all(np.linalg.eigvalsh(S) > 0)
