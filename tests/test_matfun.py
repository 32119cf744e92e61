"""expm and its Fréchet derivative expm_d(X, E) = L_exp(X, E): values, gradients at random points through the
adjoint identity, the identities L_exp(X, I) = expm(X), Jacobians, backends."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import matdiff
from conftest import check_gradient


@pytest.mark.parametrize("expr", ["sum(expm(X))", "tr(A*expm(X)*B)", "norm_fro(expm(X) - B)^2",
                                  "logdet(expm(X))", "tr(expm(X)) + x'*expm(X)*x"])
def test_gradients_at_random_points(expr, rng):
    values = {"X": 0.5 * rng.standard_normal((3, 3)), "A": rng.standard_normal((3, 3)),
              "B": rng.standard_normal((3, 3)), "x": rng.standard_normal(3)}
    _, vs = matdiff.api.typed(expr)
    check_gradient(expr, "X", {k: v for k, v in values.items() if k in vs}, rng=rng, n_dirs=3)


def test_forms_and_values(rng):
    X, A, B = rng.standard_normal((3, 3)), rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    assert np.allclose(matdiff.evaluate("expm(X)", {"X": X}), scipy.linalg.expm(X))
    r = matdiff.grad("tr(A*expm(X)*B)", wrt="X")
    assert str(r.gradient) == "expm_d(X', A'*B')"  # grad tr(G'*L(X, E)) = L(X', G), G = (B*A)'
    assert np.allclose(r.evaluate({"X": X, "A": A, "B": B}), scipy.linalg.expm_frechet(X.T, A.T @ B.T)[1])
    assert str(matdiff.grad("tr(expm(X))", wrt="X").gradient) == "expm(X')"  # L(X', I) = expm(X')
    e = matdiff.parse("expm_d(X, E)")
    assert matdiff.parse(str(e)) == e
    assert np.allclose(matdiff.evaluate("expm_d(X, E)", {"X": X, "E": A}), scipy.linalg.expm_frechet(X, A)[1])
    assert np.isclose(matdiff.evaluate("expm(a)", {"a": 0.3}), np.exp(0.3))


def test_jacobian_of_a_scalar_multiple(rng):
    A = rng.standard_normal((3, 3))
    d = matdiff.derivative("expm(a*A)", wrt="a")
    h = 1e-6
    numeric = (scipy.linalg.expm((0.7 + h) * A) - scipy.linalg.expm((0.7 - h) * A)) / (2 * h)
    assert np.allclose(d.jvp({"a": 0.7, "A": A}, 1.0), numeric, rtol=1e-6, atol=1e-8)


def test_second_derivative_is_refused_with_a_reason():
    with pytest.raises(matdiff.MatdiffError, match="second derivative of expm"):
        matdiff.hessian("tr(A*expm(X))", wrt="X")


@pytest.mark.parametrize("backend", ["jax", "torch", "dask", "batch"])
def test_backends(backend, rng):
    X, A, B = 0.5 * rng.standard_normal((3, 3)), rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    expr = "tr(A*expm(X)*B)"
    _, ref = matdiff.compile(expr, wrt="X")(X=X, A=A, B=B)
    if backend == "batch":
        _, grads = matdiff.compile(expr, wrt="X", batch="X")(X=np.stack([X, X]), A=A, B=B)
        assert np.allclose(grads["X"][1], ref["X"])
        return
    pytest.importorskip("dask" if backend == "dask" else backend)
    _, grads = matdiff.compile(expr, wrt="X", backend=backend)(X=X, A=A, B=B)
    assert np.allclose(np.asarray(grads["X"]), ref["X"], rtol=1e-5, atol=1e-6)
