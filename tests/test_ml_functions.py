"""softmax, relu, softplus (and step, relu's derivative): values, derivatives at random points, stability,
domains, shapes, backends."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from conftest import check_gradient


def softmax(v):
    e = np.exp(v - v.max())
    return e / e.sum()


def test_values_are_stable_at_large_inputs():
    x = np.array([1000.0, 1001.0, -1000.0])
    assert np.allclose(matdiff.evaluate("softmax(x)", {"x": x}), softmax(x))
    assert np.allclose(matdiff.evaluate("softplus(x)", {"x": x}), [1000.0, 1001.0, 0.0])
    assert matdiff.evaluate("sum(relu(x))", {"x": x}) == 2001.0


@pytest.mark.parametrize("expr, wrt", [
    ("sum(softplus(x)) + sum(relu(x))", "x"),
    ("sum(softplus(A*X*B))", "X"),
    ("tr(C*relu(X))", "X"),
    ("y'*softmax(W*x)", "W"),
    ("y'*log(softmax(W*x))", "W"),
    ("y'*log(softmax(W*x))", "x"),
    ("logsumexp(W*x) - y'*W*x", "W"),
])
def test_gradients_at_random_points(expr, wrt, rng):
    t, vs = matdiff.api.typed(expr)
    values = {}
    for name, v in vs.items():
        shape = () if v.is_scalar else (4,) if v.is_vector else (4, 4)
        values[name] = rng.uniform(0.2, 1.2, shape) * rng.choice([-1, 1], shape)  # entries away from 0
    check_gradient(expr, wrt, values, rng=rng, n_dirs=3)


def test_cross_entropy_gradient_is_the_textbook_one(rng):
    W, x, y = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.uniform(size=4)
    g = matdiff.grad("y'*log(softmax(W*x))", wrt="W").evaluate({"W": W, "x": x, "y": y})
    assert np.allclose(g, np.outer(y - y.sum() * softmax(W @ x), x))


def test_softmax_jacobian_and_logsumexp_hessian(rng):
    x = rng.standard_normal(5)
    s = softmax(x)
    J = matdiff.derivative("softmax(x)", wrt="x").jacobian({"x": x})
    assert np.allclose(J, np.diag(s) - np.outer(s, s))
    h = matdiff.hessian("logsumexp(x)", wrt="x")
    assert str(h) == "hessian_x logsumexp(x) = diag(softmax(x)) - softmax(x)*softmax(x)'"
    assert np.allclose(h.evaluate({"x": x}), np.diag(s) - np.outer(s, s))
    assert str(matdiff.grad("logsumexp(x)", wrt="x").gradient) == "softmax(x)"


def test_relu_derivative_refuses_a_zero_entry():
    r = matdiff.grad("sum(relu(x))", wrt="x")
    assert str(r.gradient) == "step(x)"
    with pytest.raises(matdiff.DomainError, match="relu is not differentiable"):
        r.evaluate({"x": np.array([1.0, 0.0])})
    with pytest.raises(matdiff.DomainError, match="relu is not differentiable"):
        r.compile()(x=np.array([1.0, 0.0]))
    assert matdiff.evaluate("sum(relu(x))", {"x": np.array([1.0, 0.0])}) == 1.0  # the value is fine at 0


def test_softmax_of_a_matrix_is_a_shape_error():
    with pytest.raises(matdiff.ShapeError, match="softmax takes a vector"):
        matdiff.grad("sum(softmax(X))", wrt="X")


@pytest.mark.parametrize("backend", ["jax", "torch", "dask", "batch"])
def test_backends(backend, rng):
    expr = "logsumexp(x) + sum(relu(x)) + sum(softplus(x)) + y'*softmax(x)"
    x, y = rng.uniform(0.2, 1.0, 5) * np.array([1, -1, 1, -1, 1]), rng.standard_normal(5)
    ref_value, ref = matdiff.compile(expr, wrt="x")(x=x, y=y)
    if backend == "batch":
        value, grads = matdiff.compile(expr, wrt="x", batch=True)(x=np.stack([x, x]), y=np.stack([y, y]))
        assert np.allclose(value, ref_value) and np.allclose(grads["x"][1], ref["x"])
        return
    if backend == "dask":
        da = pytest.importorskip("dask.array")
        value, grads = matdiff.compile(expr, wrt="x", backend="dask")(x=da.from_array(x, chunks=2), y=y)
    else:
        pytest.importorskip(backend)
        value, grads = matdiff.compile(expr, wrt="x", backend=backend)(x=x, y=y)
    assert np.allclose(np.asarray(value), ref_value, rtol=1e-5)
    assert np.allclose(np.asarray(grads["x"]), ref["x"], rtol=1e-5)


def test_the_jacobian_of_softmax_is_diag_s_minus_s_s_transposed(rng):
    """dF = J*dx collected for a vector of a vector: J = diag(s) - s*s', and J*A through an affine argument; its
    value is the dense Jacobian (basis columns)."""
    d = matdiff.derivative("softmax(x)", wrt="x")
    assert d.jacobian_text == "diag(softmax(x)) - softmax(x)*softmax(x)'"
    x = rng.standard_normal(4)
    s = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    assert np.allclose(d.jacobian({"x": x}), np.diag(s) - np.outer(s, s))
    d = matdiff.derivative("softmax(A*x)", wrt="x")
    assert d.jacobian_text == "(diag(softmax(A*x)) - softmax(A*x)*softmax(A*x)')*A"
    A = rng.standard_normal((4, 3))
    x = rng.standard_normal(3)
    J = matdiff.evaluate(d.jacobian_text, {"A": A, "x": x})
    assert np.allclose(J, d.jacobian({"A": A, "x": x}))
    assert matdiff.derivative("X*A", wrt="X").jacobian_text is None  # a matrix: the Kronecker form instead
