"""Shapes: unification of symbolic sizes, named sizes, type specs, the naming convention, broadcasting."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from conftest import check_gradient
from matdiff import MatdiffError, ShapeError

# ------------------------------------------------------------------ unification


def test_matrix_vector_product_fixes_columns(rng):
    A = rng.standard_normal((2, 3))
    x = rng.standard_normal(3)
    np.testing.assert_allclose(matdiff.evaluate("A*x", {"A": A, "x": x}), A @ x)
    with pytest.raises(ShapeError, match="x"):
        matdiff.evaluate("A*x", {"A": A, "x": np.ones(4)})
    # with x declared of length 3, A*x makes A's columns 3: a value with 4 columns is refused, naming A
    with pytest.raises(ShapeError) as info:
        matdiff.evaluate("A*x", {"A": np.ones((2, 4)), "x": x}, {"x": "vector(3)"})
    assert "A" in str(info.value) and "3" in str(info.value) and "4" in str(info.value)


@pytest.mark.parametrize(
    "expr, values",
    [
        ("A'*x", {"A": np.ones((3, 2)), "x": np.ones(2)}),  # A's rows = len(x)
        ("(A + B)*x", {"A": np.ones((2, 3)), "B": np.ones((2, 4)), "x": np.ones(3)}),
        ("(A .* B)*x", {"A": np.ones((2, 3)), "B": np.ones((2, 3)), "x": np.ones(4)}),
        ("x'*A*B*y", {"x": np.ones(2), "A": np.ones((2, 3)), "B": np.ones((4, 5)), "y": np.ones(5)}),
        ("inv(A)*x", {"A": np.ones((3, 3)), "x": np.ones(2)}),
        ("exp(A)*x", {"A": np.ones((2, 3)), "x": np.ones(2)}),
        ("tr(A)", {"A": np.ones((2, 3))}),
        ("diag(x)*A", {"x": np.ones(3), "A": np.ones((2, 2))}),
        ("x'*y", {"x": np.ones(3), "y": np.ones(2)}),
        ("x*y' + A", {"x": np.ones(3), "y": np.ones(2), "A": np.ones((3, 3))}),
        ("A*B", {"A": np.ones((2, 3)), "B": np.ones((2, 3))}),
        ("A + eye", {"A": np.ones((2, 3))}),
    ],
)
def test_unification_refuses_values_that_do_not_fit(expr, values):
    with pytest.raises(ShapeError):
        matdiff.evaluate(expr, values)


@pytest.mark.parametrize(
    "expr, values, shape",
    [
        ("A'*x", {"A": np.ones((2, 3)), "x": np.ones(2)}, (3,)),
        ("x'*A", {"A": np.ones((2, 3)), "x": np.ones(2)}, (3,)),  # a row vector comes back 1-D
        ("x*y'", {"x": np.ones(2), "y": np.ones(3)}, (2, 3)),
        ("A*B", {"A": np.ones((2, 3)), "B": np.ones((3, 4))}, (2, 4)),
        ("A*eye", {"A": np.ones((2, 3))}, (2, 3)),  # eye takes whatever size fits: 3 here
        ("eye*A", {"A": np.ones((2, 3))}, (2, 3)),  # and 2 here
        ("diag(x)", {"x": np.ones(3)}, (3, 3)),
        ("diag(A)", {"A": np.ones((3, 3))}, (3,)),
        ("x'*x", {"x": np.ones(3)}, ()),
        ("eye(x)", {"x": np.ones(3)}, (3, 3)),
        ("eye(A)", {"A": np.ones((2, 3))}, (2, 2)),
        ("ones(A)", {"A": np.ones((2, 3))}, (2, 3)),
        ("ones(x)", {"x": np.ones(3)}, (3,)),
    ],
)
def test_result_shapes(expr, values, shape):
    assert np.shape(matdiff.evaluate(expr, values)) == shape


def test_eye_without_size_is_a_shape_error():
    for text in ("eye", "tr(eye)", "2*eye"):
        with pytest.raises(ShapeError, match="eye"):
            matdiff.evaluate(text, {})


def test_vector_is_not_broadcast_against_a_matrix():
    with pytest.raises(ShapeError, match=r"\+"):
        matdiff.evaluate("x + A", {"x": np.ones(2), "A": np.zeros((2, 2))})
    with pytest.raises(ShapeError):
        matdiff.evaluate("x + y'", {"x": np.ones(2), "y": np.ones(2)})


def test_vector_times_vector_needs_a_transpose():
    with pytest.raises(ShapeError, match="multiply"):
        matdiff.evaluate("x*y", {"x": np.ones(3), "y": np.ones(3)})


# ------------------------------------------------------------------ named sizes


def test_named_sizes_are_shared(rng):
    types = {"A": "matrix(m,n)", "x": "vector(m)", "y": "vector(n)"}
    A, x, y = rng.standard_normal((2, 3)), rng.standard_normal(2), rng.standard_normal(3)
    assert matdiff.evaluate("x'*A*y", {"A": A, "x": x, "y": y}, types) == pytest.approx(x @ A @ y)
    with pytest.raises(ShapeError, match="m"):
        matdiff.evaluate("x'*A*y", {"A": A, "x": np.ones(3), "y": y}, types)


def test_named_sizes_are_shared_through_variables_that_do_not_occur():
    types = {"A": "matrix(n,n)", "x": "vector(n)", "y": "vector(n)"}
    with pytest.raises(ShapeError, match="n"):
        matdiff.evaluate("x'*y + 0*x'*x", {"x": np.ones(2), "y": np.ones(3)}, types)


def test_named_and_numeric_sizes_conflict():
    with pytest.raises(ShapeError):
        matdiff.evaluate("x'*A*x", {"A": np.eye(2), "x": np.ones(2)}, {"A": "matrix(n,n)", "x": "vector(3)"})
    with pytest.raises(ShapeError):
        matdiff.evaluate("x'*S*x", {"S": np.eye(2), "x": np.ones(3)}, {"S": "spd(n)", "x": "vector(n)"})


def test_declared_sizes_conflict_at_typing():
    with pytest.raises(ShapeError):
        matdiff.grad("x'*A*x", "x", {"x": "vector(3)", "A": "matrix(4,4)"})
    with pytest.raises(ShapeError):
        matdiff.grad("tr(A*B)", "A", {"A": "matrix(2,3)", "B": "matrix(2,3)"})


def test_square_shorthand():
    assert matdiff.evaluate("tr(A)", {"A": np.eye(3)}, {"A": "matrix(3)"}) == 3.0
    with pytest.raises(ShapeError):
        matdiff.evaluate("tr(A)", {"A": np.ones((3, 4))}, {"A": "matrix(3)"})


def test_named_sizes_in_gradients(rng):
    types = {"A": "matrix(m,n)", "x": "vector(m)", "y": "vector(n)"}
    r = matdiff.grad("x'*A*y", "A", types)
    A, x, y = rng.standard_normal((2, 3)), rng.standard_normal(2), rng.standard_normal(3)
    np.testing.assert_allclose(r.evaluate({"A": A, "x": x, "y": y}), np.outer(x, y))


# ------------------------------------------------------------------ type specs


@pytest.mark.parametrize(
    "spec",
    [
        "scalar",
        "vector",
        "matrix",
        "symmetric",
        "spd",
        "vector(3)",
        "vector(n)",
        "matrix(3,4)",
        "matrix(m,n)",
        "matrix(3)",
        "spd(n)",
        "symmetric(3)",
        " matrix ( m , n ) ",
    ],
)
def test_good_type_specs(spec):
    matdiff.grad("a*sum(Z) + a", "a", {"Z": spec})


@pytest.mark.parametrize(
    "spec",
    [
        "vectr",
        "Matrix",
        "vector(0)",
        "vector(3,4)",
        "vector(-3)",
        "scalar(3)",
        "spd(2,3)",
        "matrix(1.5,2)",
        "matrix(m,n,k)",
        "matrix(",
        "matrix()x",
        "",
        3,
        None,
        ["matrix"],
    ],
)
def test_bad_type_specs(spec):
    with pytest.raises(MatdiffError) as info:
        matdiff.grad("a*sum(Z) + a", "a", {"Z": spec})
    assert "Z" in str(info.value)


def test_type_overrides_convention(rng):
    x = rng.standard_normal(3)
    A = rng.standard_normal((3, 3))
    assert matdiff.evaluate("x*a", {"x": 2.0, "a": 3.0}, {"x": "scalar"}) == 6.0
    np.testing.assert_allclose(
        matdiff.evaluate("A*a", {"A": 2.0, "a": x}, {"A": "scalar", "a": "vector"}), 2 * x
    )
    r = matdiff.grad("x*tr(A)", "x", {"x": "scalar"})
    assert r.evaluate({"x": 1.5, "A": A}) == pytest.approx(np.trace(A))


# ------------------------------------------------------------------ the naming convention


@pytest.mark.parametrize(
    "name, kind",
    [
        ("a", "scalar"),
        ("g", "scalar"),
        ("alpha", "scalar"),
        ("h", "vector"),
        ("x", "vector"),
        ("lam", "vector"),
        ("z2", "vector"),
        ("A", "matrix"),
        ("X1", "matrix"),
        ("Sigma", "matrix"),
        ("Z", "matrix"),
    ],
)
def test_naming_convention(name, kind):
    value = {"scalar": 2.0, "vector": np.ones(3), "matrix": np.ones((2, 3))}[kind]
    np.testing.assert_allclose(matdiff.evaluate(name, {name: value}), value)
    for other, v in {"scalar": 2.0, "vector": np.ones(3), "matrix": np.ones((2, 3))}.items():
        if other != kind:  # a value of another rank is refused
            with pytest.raises(ShapeError, match=name):
                matdiff.evaluate(name, {name: v})


# ------------------------------------------------------------------ values


def test_value_forms_accepted(rng):
    assert matdiff.evaluate("a*2", {"a": np.array(2.0)}) == 4.0
    assert matdiff.evaluate("a*2", {"a": 3}) == 6.0
    assert matdiff.evaluate("a*2", {"a": np.float32(1.5)}) == 3.0
    assert matdiff.evaluate("x'*x", {"x": np.ones((3, 1))}) == 3.0  # a column is a vector
    assert matdiff.evaluate("x'*x", {"x": [1, 2, 2]}) == 9.0  # lists and ints
    assert matdiff.evaluate("det(A)", {"A": [[2, 1], [1, 2]]}) == pytest.approx(3.0)


def test_value_row_for_vector_is_refused():
    with pytest.raises(ShapeError):
        matdiff.evaluate("x'*x", {"x": np.ones((1, 3))})


def test_one_by_one_sizes():
    assert matdiff.evaluate("tr(A)", {"A": np.ones((1, 1))}) == 1.0
    assert matdiff.evaluate("x'*x", {"x": np.ones(1)}, {"x": "vector(1)"}) == 1.0
    np.testing.assert_allclose(matdiff.evaluate("A*x", {"A": np.ones((3, 1)), "x": np.ones(1)}), np.ones(3))


# ------------------------------------------------------------------ scalar broadcasting


@pytest.mark.parametrize(
    "expr, fn",
    [
        ("1 + exp(v)", lambda v, X, a: 1 + np.exp(v)),
        ("a + X", lambda v, X, a: a + X),
        ("X - 1", lambda v, X, a: X - 1),
        ("1 - X", lambda v, X, a: 1 - X),
        ("a .* X", lambda v, X, a: a * X),
        ("a ./ X", lambda v, X, a: a / X),
        ("X ./ a", lambda v, X, a: X / a),
        ("X .^ a", lambda v, X, a: X**a),
        ("a .^ X", lambda v, X, a: a**X),
        ("v'*v + X", lambda v, X, a: v @ v + X),
        ("X/a", lambda v, X, a: X / a),
        ("a*X*a", lambda v, X, a: a * X * a),
    ],
)
def test_scalar_broadcasting(rng, expr, fn):
    v, X, a = rng.uniform(0.5, 1.5, 3), rng.uniform(0.5, 1.5, (2, 3)), 1.7
    values = {k: val for k, val in {"v": v, "X": X, "a": a}.items() if k in expr}
    # a scalar broadcast is what the declaration asks for: undeclared, a + X makes a a matrix (types from use)
    np.testing.assert_allclose(matdiff.evaluate(expr, values, {"a": "scalar"}), fn(v, X, a), rtol=1e-14)


def test_a_name_used_as_a_matrix_is_one():
    """Types from use: a + X, a .* X make a a matrix (never a silent scalar broadcast); declared, a scalar."""
    X = np.ones((2, 3))
    for expr in ("a + X", "a .* X", "X ./ a", "X - a"):
        r = matdiff.grad(f"sum({expr})", wrt="a")
        assert r.variables["a"].kind == "matrix" and "a" in r.assumed_types, expr
        assert np.shape(r.evaluate({"a": 2 * X, "X": X})) == (2, 3)
    assert matdiff.evaluate("a + X", {"a": 2.0, "X": X}, {"a": "scalar"}).shape == (2, 3)


@pytest.mark.parametrize(
    "expr, wrt",
    [
        ("sum(1 + exp(v))", "v"),
        ("sum(a + X)", "a"),
        ("sum(log(a + X))", "X"),
        ("v'*(a - v)", "a"),
        ("sum((X - a).^2)", "a"),
    ],
)
def test_scalar_broadcasting_gradients(rng, expr, wrt):
    values = {"v": rng.uniform(0.5, 1.5, 3), "X": rng.uniform(0.5, 1.5, (2, 3)), "a": 1.7}
    values = {k: val for k, val in values.items() if k in expr}
    check_gradient(expr, wrt, values, rng=rng, types={"a": "scalar"})


# ------------------------------------------------------------------ gradients are shaped like the variable


@pytest.mark.parametrize(
    "expr, wrt, values",
    [
        ("tr(A*X*B)", "X", {"A": np.ones((4, 2)), "X": np.ones((2, 3)), "B": np.ones((3, 4))}),
        ("x'*A*y", "A", {"x": np.ones(2), "A": np.ones((2, 5)), "y": np.ones(5)}),
        ("x'*A*y", "y", {"x": np.ones(2), "A": np.ones((2, 5)), "y": np.ones(5)}),
        ("sum(X)", "X", {"X": np.ones((2, 5))}),
        ("sum(A*X)", "X", {"A": np.ones((3, 2)), "X": np.ones((2, 5))}),
        ("norm_fro(X)", "X", {"X": np.ones((2, 5))}),
        ("a*tr(X)", "a", {"a": 2.0, "X": np.ones((3, 3))}),
        ("tr(X)", "X", {"X": np.ones((3, 3))}),
        ("a", "a", {"a": 2.0}),
        ("x'*x", "x", {"x": np.ones(4)}),
        ("sum(a*X)", "a", {"a": 2.0, "X": np.ones((2, 5))}),
    ],
)
def test_gradient_shape_is_variable_shape(expr, wrt, values):
    r = matdiff.grad(expr, wrt)
    g = r.evaluate(values)
    assert np.shape(g) == np.shape(values[wrt])
    assert np.shape(r.compile()(**values)) == np.shape(values[wrt])
    if np.ndim(values[wrt]) == 0:
        assert isinstance(g, float)
