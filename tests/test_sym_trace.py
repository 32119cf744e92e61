"""tr(f(S)*C) of a symmetric S as sum(f(w) .* diag(U'*E*U)), U'*E*U shared with the gradient (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla

import matdiff
from matdiff.errors import DomainError
from matdiff.runtime import kernels, matfun


def _spd(n: int, rng: np.random.Generator) -> np.ndarray:
    b = rng.standard_normal((n, n))
    return b @ b.T / n + np.eye(n)


def _hand_logm(S, C):
    w, U = np.linalg.eigh(S)
    lw = np.log(w)
    dw = w[:, None] - w[None, :]
    same = np.abs(dw) < 1e-300
    F = np.where(same, 1 / w[:, None], (lw[:, None] - lw[None, :]) / np.where(same, 1.0, dw))
    M = U.T @ ((C + C.T) / 2) @ U
    return lw @ np.diagonal(M), U @ (F * M) @ U.T


def test_value_and_gradient_source_shares_the_inner_product() -> None:
    src = matdiff.compile("tr(logm(S)*C)", wrt="S", types={"S": "spd"}).source()
    assert "_K.sym_trace(" in src and "_K.sym_fun(" not in src
    assert src.count("C.T + C") == 1  # one E, given to the value and the gradient alike


@pytest.mark.parametrize("n", [1, 2, 7, 30])
def test_logm_value_and_gradient_match_the_hand_written(n: int, rng: np.random.Generator) -> None:
    S, C = _spd(n, rng), rng.standard_normal((n, n))
    val, grads = matdiff.compile("tr(logm(S)*C)", wrt="S", types={"S": "spd"})(S=S, C=C)
    ref_v, ref_g = _hand_logm(S, C)
    assert val == pytest.approx(ref_v, rel=1e-11, abs=1e-12)
    assert val == pytest.approx(np.trace(sla.logm(S).real @ C), rel=1e-9, abs=1e-10)
    np.testing.assert_allclose(grads["S"], ref_g, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("expr,types", [("3*tr(C*expm(S))", {"S": "symmetric", "C": "symmetric"}),
                                        ("tr(sqrtm(S)*C) - tr(logm(S)*C)", {"S": "spd"}),
                                        ("tr(expm(S)*C)", {"S": "symmetric"})])
def test_other_functions_match_scipy(expr: str, types: dict, rng: np.random.Generator) -> None:
    n = 6
    S, C = _spd(n, rng), rng.standard_normal((n, n))
    if types.get("C") == "symmetric":
        C = C + C.T
    fns = {"expm": sla.expm, "logm": lambda a: sla.logm(a).real, "sqrtm": lambda a: sla.sqrtm(a).real}
    ref = eval(expr.replace("tr(", "np.trace(").replace("*C", " @ C").replace("C*", "C @ "),  # noqa: S307
               {"np": np, "S": S, "C": C, **fns})
    f = matdiff.compile(expr, wrt="S", types=types)
    assert "_K.sym_trace(" in f.source()
    val, grads = f(S=S, C=C)
    assert val == pytest.approx(ref, rel=1e-9)
    g = matdiff.grad(expr, wrt="S", types=types).compile()(S=S, C=C)
    np.testing.assert_allclose(grads["S"], g, rtol=1e-12, atol=1e-12)
    # the gradient alone computes no value: no sym_trace there
    assert "_K.sym_trace(" not in matdiff.grad(expr, wrt="S", types=types).source()


def test_kernel_shares_and_matches_the_general_path(rng: np.random.Generator) -> None:
    S, C = _spd(5, rng), rng.standard_normal((5, 5))
    E = C + C.T
    e = matfun.eigh(S)
    v = 0.5 * kernels.sym_trace(e, E, "logm")
    assert e._inner is not None and e._inner[0] is E
    M = e._inner[1]
    kernels.sym_frechet(e, E, "logm")
    assert e._inner[1] is M  # the same U' E U, not computed again
    assert v == pytest.approx(np.trace(sla.logm(S).real @ C), rel=1e-11)
    # complex values (the complex-step check): the general logm
    Sc = S + 1e-20j * np.eye(5)
    assert 0.5 * kernels.sym_trace(Sc, E, "logm").real == pytest.approx(v, rel=1e-11)
    E2 = E.copy()  # another array: computed for it
    assert kernels.sym_trace(e, E2, "expm") == pytest.approx(np.trace(sla.expm(S) @ E2), rel=1e-11)


def test_domain_errors(rng: np.random.Generator) -> None:
    f = matdiff.compile("tr(logm(S)*C)", wrt="S", types={"S": "spd"})
    S, C = _spd(4, rng), rng.standard_normal((4, 4))
    with pytest.raises(DomainError):
        f(S=-S, C=C)
    C[1, 1] = np.nan
    with pytest.raises(DomainError, match="value of C"):
        f(S=S, C=C)


@pytest.mark.parametrize("backend", ["jax", "torch", "dask"])
def test_backends(backend: str, rng: np.random.Generator) -> None:
    mod = pytest.importorskip(backend)
    if backend == "jax":
        mod.config.update("jax_enable_x64", True)
    S, C = _spd(5, rng), rng.standard_normal((5, 5))
    ref_v, ref_g = _hand_logm(S, C)
    val, grads = matdiff.compile("tr(logm(S)*C)", wrt="S", types={"S": "spd"}, backend=backend)(S=S, C=C)
    assert float(np.asarray(val)) == pytest.approx(ref_v, rel=1e-8)
    np.testing.assert_allclose(np.asarray(grads["S"]), ref_g, rtol=1e-8, atol=1e-10)


def test_batched(rng: np.random.Generator) -> None:
    Ss = np.stack([_spd(4, rng) for _ in range(3)])
    C = rng.standard_normal((4, 4))
    val, grads = matdiff.compile("tr(logm(S)*C)", wrt="S", types={"S": "spd"}, batch=["S"])(S=Ss, C=C)
    for i in range(3):
        rv, rg = _hand_logm(Ss[i], C)
        assert val[i] == pytest.approx(rv, rel=1e-10)
        np.testing.assert_allclose(grads["S"][i], rg, rtol=1e-9, atol=1e-12)
