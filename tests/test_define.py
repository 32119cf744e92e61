"""matdiff.define: functions added to the language, by an expression and as primitives.

Every derivative is checked numerically (random points, random directions) against finite
differences of the values, which the definition alone gives; the printed forms re-parse."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from conftest import check_gradient, directional_derivative, inner, random_direction
from matdiff.functions import registry


@pytest.fixture
def defined():
    """Definitions made in a test are removed after it (the registry is per process)."""
    before = set(registry.names())
    yield matdiff.define
    for name in set(registry.names()) - before:
        registry.unregister(name)


def soft_ref(u):
    return np.logaddexp(0, u)


# ------------------------------------------------------------------------------ by an expression
def test_expression_form_gradient_evaluate_compile(defined, rng):
    defined("soft(U) = log(1 + exp(U))")
    X, w = rng.standard_normal((6, 3)), rng.standard_normal(3)
    assert np.isclose(matdiff.evaluate("sum(soft(X*w))", {"X": X, "w": w}), soft_ref(X @ w).sum())
    r = matdiff.grad("sum(soft(X*w))", wrt="w")
    expect = X.T @ (1 / (1 + np.exp(-(X @ w))))
    assert np.allclose(r.evaluate({"X": X, "w": w}), expect, rtol=1e-12)
    assert np.allclose(r.compile()(X=X, w=w), expect, rtol=1e-12)
    value, grads = matdiff.compile("sum(soft(X*w))", wrt=["w", "X"])(X=X, w=w)
    assert np.isclose(value, soft_ref(X @ w).sum())
    assert np.allclose(grads["w"], expect)
    check_gradient("sum(soft(X*w))", "X", {"X": X, "w": w}, rng=rng, n_dirs=3)


def test_expression_form_steps_name_the_definition_and_print(defined):
    defined("soft(U) = log(1 + exp(U))")
    r = matdiff.grad("sum(soft(X*w))", wrt="w")
    assert "[definition: soft(U) = log(1 + exp(U))]" in r.steps_text
    assert "soft(X*w)" in r.steps_text
    e = matdiff.parse("soft(A*x)' * y")
    assert matdiff.parse(str(e)) == e  # prints as written and re-parses
    assert r"\operatorname{soft}" in matdiff.grad("sum(soft(X*w))", wrt="w").steps_latex


def test_expression_form_several_arguments_and_matrix_valued(defined, rng):
    defined("quad(A, x) = x'*A*x")
    defined("gram(Z) = Z'*Z")
    A, x = rng.standard_normal((4, 4)), rng.standard_normal(4)
    assert np.allclose(matdiff.grad("quad(A, x)", wrt="x").evaluate({"A": A, "x": x}), (A + A.T) @ x)
    assert np.allclose(matdiff.grad("quad(A, x)", wrt="A").evaluate({"A": A, "x": x}), np.outer(x, x))
    X = rng.standard_normal((5, 3))
    check_gradient("logdet(gram(X))", "X", {"X": X}, rng=rng, n_dirs=3)
    d = matdiff.derivative("gram(X)", wrt="X")
    V = rng.standard_normal(X.shape)
    assert np.allclose(d.jvp({"X": X}, V), V.T @ X + X.T @ V)


def test_expression_form_hessian(defined, rng):
    defined("soft(U) = log(1 + exp(U))")
    X, w = rng.standard_normal((6, 3)), rng.standard_normal(3)
    H = matdiff.hessian("sum(soft(X*w))", wrt="w").evaluate({"X": X, "w": w})
    s = 1 / (1 + np.exp(-(X @ w)))
    assert np.allclose(H, X.T @ np.diag(s * (1 - s)) @ X, rtol=1e-10)


def test_expression_form_keeps_the_domain_guards_of_its_body(defined):
    defined("safe_log(U) = log(U)")
    r = matdiff.grad("sum(safe_log(x))", wrt="x")
    with pytest.raises(matdiff.DomainError, match="log"):
        r.evaluate({"x": np.array([1.0, -2.0])})
    with pytest.raises(matdiff.DomainError):
        r.compile()(x=np.array([1.0, -2.0]))


def test_expression_form_shapes_are_checked_through_the_body(defined):
    defined("quad(A, x) = x'*A*x")
    with pytest.raises(matdiff.ShapeError, match="quad"):
        matdiff.grad("quad(A, x) + y'*x", wrt="x", types={"A": "matrix(3,3)", "x": "vector(4)"})


def test_expression_form_elementwise_is_detected(defined, rng):
    fn = defined("sq_plus(U) = U.^2 + 1")
    assert fn.elementwise and fn.transpose_inside
    assert not defined("tq(U) = U'*U").elementwise
    X = rng.standard_normal((3, 3))
    check_gradient("tr(A*sq_plus(X)')", "X", {"A": rng.standard_normal((3, 3)), "X": X}, rng=rng, n_dirs=2)


def test_same_definition_again_is_accepted_another_needs_replace(defined):
    a = defined("soft(U) = log(1 + exp(U))")
    assert defined("soft(U) = log(1 + exp(U))") is a  # a notebook cell run twice
    with pytest.raises(matdiff.MatdiffError, match="replace=True"):
        defined("soft(U) = log(2 + exp(U))")
    b = defined("soft(U) = log(2 + exp(U))", replace=True)
    assert matdiff.evaluate("soft(a)", {"a": 0.0}) == pytest.approx(np.log(3.0))
    assert b is not a


@pytest.mark.parametrize("text, match", [
    ("tr(U) = U", "built-in"),
    ("eye(U) = U", "built-in"),
    ("f(U) = U + y", "y, which is not among its arguments"),
    ("f(U, U) = U", "distinct"),
    ("f(exp) = 1", "name of a function"),
    ("f(U)", "needs a body"),
    ("f(U) = ", "empty"),
    ("f U = U", "starts with the function"),
])
def test_bad_definitions_are_refused(defined, text, match):
    with pytest.raises(matdiff.MatdiffError, match=match):
        defined(text)


def test_parse_error_in_a_body_points_into_the_definition(defined):
    with pytest.raises(matdiff.ParseError) as err:
        defined("g(U) = U + * 2")
    assert err.value.text == "g(U) = U + * 2" and err.value.position == 11


def test_a_defined_name_is_reserved(defined):
    defined("soft(U) = log(1 + exp(U))")
    with pytest.raises(matdiff.ParseError, match="soft is a function"):
        matdiff.parse("soft + 1")


# --------------------------------------------------------------------------------- primitives
def test_primitive_with_kernel_and_differential(defined, rng):
    calls = []

    def cube(u):
        calls.append(np.shape(u))
        return np.asarray(u, dtype=float) ** 3

    defined("cube(U)", numpy=cube, differential="3*U.^2.*dU", elementwise=True)
    x = rng.standard_normal(4)
    r = matdiff.grad("sum(cube(x))", wrt="x")
    assert str(r.gradient) == "3*x.^2"
    assert "[d cube(U) = 3*U.^2.*dU]" in r.steps_text
    assert np.allclose(r.evaluate({"x": x}), 3 * x**2)
    value, grads = matdiff.compile("sum(cube(x))", wrt="x")(x=x)
    assert np.isclose(value, np.sum(x**3)) and np.allclose(grads["x"], 3 * x**2)
    assert (4,) in calls  # compiled code called the kernel on the 1-D vector
    assert "_D.cube(" in matdiff.compile("sum(cube(x))", wrt="x").source()
    H = matdiff.hessian("sum(cube(x))", wrt="x").evaluate({"x": x})
    assert np.allclose(H, np.diag(6 * x))
    assert matdiff.check("sum(cube(x))", wrt="x").ok


def test_primitive_not_elementwise_takes_its_shape_from_the_differential(defined, rng):
    # logsumexp of a vector, with its differential softmax(x)'*dx written out
    defined("lse(x)", numpy=lambda v: float(np.log(np.sum(np.exp(v)))),
            differential="(exp(x)/sum(exp(x)))'*dx")
    x = rng.standard_normal(5)
    g = matdiff.grad("lse(x)", wrt="x").evaluate({"x": x})
    assert np.allclose(g, np.exp(x) / np.exp(x).sum())
    d = random_direction(rng, x)
    assert np.isclose(inner(g, d), directional_derivative("lse(x)", {"x": x}, "x", d), rtol=1e-7)
    assert np.isclose(matdiff.evaluate("lse(x)", {"x": x}), np.log(np.exp(x).sum()))


def test_primitive_kernel_per_backend(defined):
    jnp = pytest.importorskip("jax.numpy")
    defined("cube(U)", numpy=lambda u: u**3, differential="3*U.^2.*dU", elementwise=True)
    with pytest.raises(matdiff.MatdiffError, match="no kernel for the jax backend"):
        matdiff.compile("sum(cube(x))", wrt="x", backend="jax")
    defined("cube(U)", numpy=lambda u: u**3, differential="3*U.^2.*dU", elementwise=True,
            jax=lambda u: u**3, replace=True)
    value, _ = matdiff.compile("sum(cube(x))", wrt="x", backend="jax")(x=jnp.array([1.0, 2.0]))
    assert float(value) == pytest.approx(9.0)


def test_primitive_errors(defined):
    with pytest.raises(matdiff.MatdiffError, match="dU"):
        defined("f(U)", numpy=np.sin, differential="cos(U)")  # no differential of the argument
    with pytest.raises(matdiff.MatdiffError, match="uses V"):
        defined("f(U)", numpy=np.sin, differential="V.*dU")
    with pytest.raises(matdiff.MatdiffError, match="unknown keyword"):
        defined("f(U)", numpy=np.sin, differential="cos(U).*dU", tensorflow=np.sin)
    defined("bad(U)", numpy=lambda u: np.ones(7), differential="dU", elementwise=True)
    with pytest.raises(matdiff.ShapeError, match="kernel of bad returned shape"):
        matdiff.evaluate("sum(bad(x))", {"x": np.ones(3)})


def test_redefining_a_builtin_is_refused_and_the_builtins_stay(defined):
    for text in ("exp(U) = U", "sum(U) = U"):
        with pytest.raises(matdiff.MatdiffError, match="built-in"):
            defined(text)
    with pytest.raises(matdiff.MatdiffError, match="built-in"):
        defined("inv(U)", numpy=np.linalg.inv, differential="dU")
    with pytest.raises(matdiff.MatdiffError, match="built-in"):
        registry.unregister("inv")
    assert str(matdiff.grad("tr(inv(X))", wrt="X").gradient)  # still the built-in


def test_definitions_are_visible_to_other_threads(defined):
    import threading

    defined("twice(U) = 2*U")
    out = []
    t = threading.Thread(target=lambda: out.append(matdiff.evaluate("twice(a)", {"a": 2.0})))
    t.start()
    t.join()
    assert out == [4.0]


def test_a_defined_function_is_symmetric_where_its_body_is(defined, rng):
    defined("gram(Z) = Z'*Z")
    r = matdiff.grad("logdet(gram(X))", wrt="X")
    assert str(r.gradient) == "2*X*inv(gram(X))"
    X = rng.standard_normal((5, 3))
    assert np.allclose(r.evaluate({"X": X}), 2 * X @ np.linalg.inv(X.T @ X))


def test_primitive_in_a_batch_runs_per_example(defined, rng):
    calls = []

    def cube(u):
        calls.append(np.shape(u))
        return u**3

    defined("cube(U)", numpy=cube, differential="3*U.^2.*dU", elementwise=True)
    xs = rng.standard_normal((4, 3))
    value, grads = matdiff.compile("sum(cube(x))", wrt="x", batch=True)(x=xs)
    assert np.allclose(value, np.sum(xs**3, axis=1)) and np.allclose(grads["x"], 3 * xs**2)
    assert calls.count((3,)) == 4  # once per example, each a 1-D vector as the kernel expects


def test_a_builtin_restated_by_an_expression_is_the_builtin(defined, rng):
    # DESIGN.md's own example: softplus is a built-in, and this is the same function
    fn = defined("softplus(U) = log(1 + exp(U))")
    assert fn is registry.lookup("softplus") and fn.builtin
    assert defined("sigmoid(U) = 1./(1 + exp(-U))") is registry.lookup("sigmoid")
    X, w = rng.standard_normal((6, 3)), rng.standard_normal(3)
    g = matdiff.grad("sum(softplus(X*w))", wrt="w").evaluate({"X": X, "w": w})
    assert np.allclose(g, X.T @ (1 / (1 + np.exp(-(X @ w)))))
    with pytest.raises(matdiff.MatdiffError, match="differs from"):
        defined("softplus(U) = log(2 + exp(U))")
