"""The primary matrix functions expm, logm, sqrtm and S^p and their Fréchet derivatives f_d(X, E) = L_f(X, E):
values, gradients at random points through the adjoint identity, the identities L_f(X, I) = f'(X) and
L_f(X, g(X)) = f'(X) g(X), Hessians through the second Fréchet derivatives f_d2, domains, backends."""

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


def near_identity(rng, n=3):
    E = rng.standard_normal((n, n))
    return np.eye(n) + 0.4 * E / np.linalg.norm(E, 2)


def spd(rng, n=3):
    A = rng.standard_normal((n, n))
    return A @ A.T + n * np.eye(n)


SPD = {"S": "spd"}


@pytest.mark.parametrize("expr, wrt, types", [
    ("tr(A*logm(X))", "X", None), ("sum(logm(X))", "X", None), ("norm_fro(logm(X) - B)^2", "X", None),
    ("tr(A*sqrtm(X))", "X", None), ("norm_fro(sqrtm(X))^2", "X", None), ("logdet(sqrtm(X))", "X", None),
    ("tr(logm(S)*A)", "S", SPD), ("norm_fro(sqrtm(S) - B)^2", "S", SPD), ("tr(A*S^1.5)", "S", SPD),
    ("tr(A*S^-0.5*B)", "S", SPD), ("x'*S^0.5*x", "S", SPD), ("tr(expm(S)*A)", "S", {"S": "symmetric"}),
    ("logdet(S^0.5 + eye)", "S", SPD),
])
def test_gradients_at_random_points_of_logm_sqrtm_and_powers(expr, wrt, types, rng):
    values = {"X": near_identity(rng), "S": spd(rng), "A": rng.standard_normal((3, 3)),
              "B": rng.standard_normal((3, 3)), "x": rng.standard_normal(3)}
    _, vs = matdiff.api.typed(expr, types)
    check_gradient(expr, wrt, {k: v for k, v in values.items() if k in vs}, types=types, rng=rng, n_dirs=3)


def test_values_against_scipy(rng):
    X, S = near_identity(rng), spd(rng)
    assert np.allclose(matdiff.evaluate("logm(X)", {"X": X}), scipy.linalg.logm(X))
    assert np.allclose(matdiff.evaluate("sqrtm(X)", {"X": X}), scipy.linalg.sqrtm(X))
    assert np.allclose(matdiff.evaluate("logm(S)", {"S": S}, types=SPD), scipy.linalg.logm(S))
    assert np.allclose(matdiff.evaluate("sqrtm(S)", {"S": S}, types=SPD), scipy.linalg.sqrtm(S))
    assert np.allclose(matdiff.evaluate("expm(S)", {"S": S}, types=SPD), scipy.linalg.expm(S))
    for p in (0.5, -0.5, 1.5, 2.25):
        got = matdiff.evaluate(f"S^{p}", {"S": S}, types=SPD)
        assert np.allclose(got, scipy.linalg.fractional_matrix_power(S, p))
    assert np.isclose(matdiff.evaluate("logm(a) + sqrtm(a)", {"a": 2.0}), np.log(2.0) + np.sqrt(2.0))


def test_textbook_forms():
    def g(expr, wrt, types=None):
        return str(matdiff.grad(expr, wrt=wrt, types=types).gradient)
    assert g("tr(logm(S))", "S", SPD) == "inv(S)"  # L_log(S, I) = inv(S)
    assert g("logdet(expm(X))", "X") == "eye(X)"  # L_exp(X', inv(expm(X))') = expm(X') inv(expm(X'))
    assert g("norm_fro(sqrtm(S))^2", "S", SPD) == "eye(S)"  # 2 L_sqrt(S, sqrtm(S)) = 2 inv(sqrtm(S))/2 sqrtm(S)
    assert g("tr(sqrtm(S))", "S", SPD) == "0.5*inv(sqrtm(S))"
    assert g("tr(S^1.5)", "S", SPD) == "1.5*S^0.5"
    assert g("tr(A*logm(X))", "X") == "logm_d(X', A')"
    for text in ("logm_d(X, E)", "sqrtm_d2(X, E, F)", "powm_d(S, E, 1.5)", "powm_d2(S, E, F, -0.5)", "S^-0.5"):
        e, _ = matdiff.api.typed(text, SPD)
        assert matdiff.api.typed(str(e), SPD)[0] == e, text


@pytest.mark.parametrize("expr, wrt, types", [
    ("tr(A*expm(X))", "X", None), ("norm_fro(expm(X) - B)^2", "X", None), ("tr(A*logm(X))", "X", None),
    ("norm_fro(sqrtm(X))^2", "X", None), ("tr(A*S^1.5)", "S", SPD), ("tr(logm(S)*A)", "S", SPD),
    ("x'*sqrtm(S)*x", "S", SPD),
])
def test_hessians_through_the_second_frechet_derivative(expr, wrt, types, rng):
    """H[V] (the hvp) against central differences of the gradient in the direction V."""
    values = {"X": near_identity(rng), "S": spd(rng), "A": rng.standard_normal((3, 3)),
              "B": rng.standard_normal((3, 3)), "x": rng.standard_normal(3)}
    _, vs = matdiff.api.typed(expr, types)
    values = {k: v for k, v in values.items() if k in vs}
    h = matdiff.hessian(expr, wrt=wrt, types=types)
    g = matdiff.grad(expr, wrt=wrt, types=types)
    V = rng.standard_normal((3, 3))
    V = V + V.T if types else V
    eps = 1e-5
    numeric = (g.evaluate({**values, wrt: values[wrt] + eps * V}) - g.evaluate({**values, wrt: values[wrt] - eps * V}))
    assert np.allclose(h.hvp(values, V), numeric / (2 * eps), rtol=1e-6, atol=1e-7)


def test_the_third_derivative_is_refused_with_a_reason():
    with pytest.raises(matdiff.MatdiffError, match="third derivative of expm"):
        matdiff.hessian("tr(A*expm_d(X, B))", wrt="X")


def test_second_frechet_derivative_is_symmetric_in_its_directions(rng):
    X, E, F = near_identity(rng), rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    for f in ("expm", "logm", "sqrtm"):
        a = matdiff.evaluate(f"{f}_d2(X, E, F)", {"X": X, "E": E, "F": F})
        b = matdiff.evaluate(f"{f}_d2(X, F, E)", {"X": X, "E": E, "F": F})
        assert np.allclose(a, b, rtol=1e-9, atol=1e-12), f


def test_domains():
    neg = np.diag([-1.0, 1.0, 2.0])
    with pytest.raises(matdiff.DomainError, match="eigenvalue -1 on the closed negative real axis"):
        matdiff.evaluate("logm(X)", {"X": neg})
    with pytest.raises(matdiff.DomainError, match="eigenvalue -1"):
        matdiff.evaluate("logm(S)", {"S": neg}, types={"S": "symmetric"})
    with pytest.raises(matdiff.DomainError, match="eigenvalue -1"):
        matdiff.evaluate("sqrtm(X)", {"X": neg + np.triu(np.ones((3, 3)), 1)})
    # a gradient that does not compute logm itself (inv(X)') still refuses where logm is not real
    with pytest.raises(matdiff.DomainError):
        matdiff.grad("tr(logm(X))", wrt="X").evaluate({"X": neg})
    singular = np.diag([0.0, 1.0, 4.0])  # sqrtm is defined at 0, its derivative is not
    assert np.allclose(matdiff.evaluate("sqrtm(S)", {"S": singular}, types=SPD), np.diag([0.0, 1.0, 2.0]))
    with pytest.raises(matdiff.DomainError, match="0 included"):
        matdiff.grad("tr(A*sqrtm(S))", wrt="S", types=SPD).evaluate({"S": singular, "A": np.eye(3)})
    with pytest.raises(matdiff.DomainError, match="positive definite"):
        matdiff.evaluate("S^0.5", {"S": neg}, types=SPD)
    with pytest.raises(matdiff.ShapeError, match="declared spd"):
        matdiff.grad("tr(X^0.5)", wrt="X")


@pytest.mark.parametrize("backend", ["jax", "torch", "dask", "batch"])
def test_symmetric_arguments_on_every_backend(backend, rng):
    S, A = spd(rng), rng.standard_normal((3, 3))
    expr = "tr(A*logm(S)) + norm_fro(sqrtm(S))^2 + tr(A*S^1.5)"
    _, ref = matdiff.compile(expr, wrt="S", types=SPD)(S=S, A=A)
    if backend == "batch":
        _, grads = matdiff.compile(expr, wrt="S", types=SPD, batch="S")(S=np.stack([S, 2 * S]), A=A)
        assert np.allclose(grads["S"][0], ref["S"])
        return
    pytest.importorskip("dask" if backend == "dask" else backend)
    _, grads = matdiff.compile(expr, wrt="S", types=SPD, backend=backend)(S=S, A=A)
    assert np.allclose(np.asarray(grads["S"]), ref["S"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", ["dask", "batch"])
def test_general_logm_and_sqrtm_on_numpy_backends(backend, rng):
    X, A = near_identity(rng), rng.standard_normal((3, 3))
    expr = "tr(A*logm(X)) + tr(A*sqrtm(X))"
    _, ref = matdiff.compile(expr, wrt="X")(X=X, A=A)
    if backend == "batch":
        _, grads = matdiff.compile(expr, wrt="X", batch="X")(X=np.stack([X, X.T]), A=A)
        assert np.allclose(grads["X"][0], ref["X"])
        with pytest.raises(matdiff.DomainError, match="batch element 1"):
            matdiff.compile(expr, wrt="X", batch="X")(X=np.stack([X, np.diag([-1.0, 1, 1])]), A=A)
        return
    pytest.importorskip("dask")
    _, grads = matdiff.compile(expr, wrt="X", backend=backend)(X=X, A=A)
    assert np.allclose(np.asarray(grads["X"]), ref["X"])


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
