"""Eigenvalues of symmetric matrices: values, gradients u*u' and diag(U'*dS*U), the symmetry rule, repeated
eigenvalues, backends."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from conftest import check_gradient

SYM = {"S": "symmetric"}


def sym(rng, n=4):
    M = rng.standard_normal((n, n))
    return M + M.T


def test_gradient_of_eigmax_is_the_outer_product_of_its_eigenvector(rng):
    S = sym(rng)
    r = matdiff.grad("eigmax(S)", wrt="S", types=SYM)
    assert str(r.gradient) == "eigvec_max(S)*eigvec_max(S)'"
    w, U = np.linalg.eigh(S)
    assert np.allclose(r.evaluate({"S": S}), np.outer(U[:, -1], U[:, -1]))
    assert np.allclose(r.compile()(S=S), np.outer(U[:, -1], U[:, -1]))
    assert np.isclose(matdiff.evaluate("eigmax(S) - eigmin(S)", {"S": S}, SYM), w[-1] - w[0])
    assert np.allclose(matdiff.evaluate("eigvals(S)", {"S": S}, SYM), w)


@pytest.mark.parametrize("expr, wrt, types", [
    ("eigmax(S) - 2*eigmin(S)", "S", SYM),
    ("y'*eigvals(S)", "S", SYM),
    ("eigmax(X'*X)", "X", None),
    ("y'*eigvals(A + A')", "A", None),
    ("sum(eigvals(S).^2)", "S", {"S": "spd"}),
])
def test_gradients_at_random_points(expr, wrt, types, rng):
    values = {"S": sym(rng) + (8 * np.eye(4) if types and types.get("S") == "spd" else 0),
              "X": rng.standard_normal((5, 4)), "A": rng.standard_normal((4, 4)), "y": rng.standard_normal(4)}
    _, vs = matdiff.api.typed(expr, types)
    check_gradient(expr, wrt, {k: v for k, v in values.items() if k in vs}, types, rng=rng, n_dirs=3)


def test_a_matrix_not_symmetric_is_a_shape_error_that_says_how_to_declare_it():
    with pytest.raises(matdiff.ShapeError, match="declare it"):
        matdiff.grad("eigmax(A)", wrt="A")
    with pytest.raises(matdiff.ShapeError, match="symmetric"):
        matdiff.evaluate("eigvals(A*B)", {"A": np.eye(2), "B": np.eye(2)})


def test_repeated_eigenvalue_refuses_the_derivative_not_the_value():
    S = np.diag([1.0, 3.0, 3.0])
    assert matdiff.evaluate("eigmax(S)", {"S": S}, SYM) == pytest.approx(3.0)
    with pytest.raises(matdiff.DomainError, match="largest eigenvalue is repeated"):
        matdiff.grad("eigmax(S)", wrt="S", types=SYM).evaluate({"S": S})
    assert matdiff.grad("eigmin(S)", wrt="S", types=SYM).evaluate({"S": S})[0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize("backend", ["jax", "torch", "dask", "batch"])
def test_backends(backend, rng):
    S, y = sym(rng), rng.standard_normal(4)
    expr = "eigmax(S) + y'*eigvals(S)"
    ref_value, ref = matdiff.compile(expr, wrt="S", types=SYM)(S=S, y=y)
    if backend == "batch":
        value, grads = matdiff.compile(expr, wrt="S", types=SYM, batch=True)(S=np.stack([S, S]), y=np.stack([y, y]))
        assert np.allclose(value, ref_value) and np.allclose(grads["S"][0], ref["S"])
        return
    pytest.importorskip("dask" if backend == "dask" else backend)
    value, grads = matdiff.compile(expr, wrt="S", types=SYM, backend=backend)(S=S, y=y)
    assert np.allclose(np.asarray(value), ref_value, rtol=1e-5)
    assert np.allclose(np.asarray(grads["S"]), ref["S"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("expr, wrt, types", [("eigmax(S)", "S", {"S": "symmetric"}), ("eigmin(X'*X)", "X", None),
                                               ("eigmax(S)^2 + eigmin(S)", "S", {"S": "spd"})])
def test_hessians_through_the_eigenvector_derivative(expr, wrt, types, rng):
    """d u = (lambda*I - S)^+ dS u: the Hessian-vector product against central differences of the gradient."""
    A = rng.standard_normal((4, 4))
    values = {"S": A @ A.T + np.eye(4), "X": rng.standard_normal((5, 4))}
    values = {wrt: values[wrt]}
    h, g = matdiff.hessian(expr, wrt=wrt, types=types), matdiff.grad(expr, wrt=wrt, types=types)
    V = rng.standard_normal(values[wrt].shape)
    V = V + V.T if types else V
    eps = 1e-6
    numeric = (g.evaluate({wrt: values[wrt] + eps * V}) - g.evaluate({wrt: values[wrt] - eps * V})) / (2 * eps)
    assert np.allclose(h.hvp(values, V), numeric, rtol=1e-5, atol=1e-7)


def test_second_derivative_of_all_eigenvalues_is_refused_with_a_reason():
    with pytest.raises(matdiff.MatdiffError, match="eigvecs.*no differential rule"):
        matdiff.hessian("y'*eigvals(S)", wrt="S", types={"S": "symmetric"})
