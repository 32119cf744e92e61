"""Checks that cost O(size of the result) (issue 17, item 1): generated code makes no pass over its inputs;
a result with NaN/Inf entries is a DomainError that names the input to blame."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff

LOGISTIC = "sum(log(1+exp(-y.*(X*w)))) + c*w'*w"


def _logistic_values(rng: np.random.Generator) -> dict:
    return {"y": rng.choice([-1.0, 1.0], 20), "X": rng.standard_normal((20, 5)), "w": rng.standard_normal(5),
            "c": 0.1}


def test_source_makes_no_pass_over_the_inputs() -> None:
    src = matdiff.grad(LOGISTIC, wrt="w").source()
    assert "_finite_inputs" not in src
    assert src.count("X @") + src.count("@ X") == 2  # two passes over X, as an expert's


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("bad", ["X", "w", "y", "c"])
def test_nan_input_named(backend: str, bad: str, rng: np.random.Generator) -> None:
    if backend != "numpy":
        pytest.importorskip(backend)
    vals = _logistic_values(rng)
    v = np.array(vals[bad], dtype=float)
    if v.ndim:
        v.flat[3] = np.nan
    else:
        v = np.inf
    vals[bad] = v
    f = matdiff.grad(LOGISTIC, wrt="w").compile(backend=backend)
    with pytest.raises(matdiff.DomainError, match=f"value of {bad} has NaN"):
        f(**vals)


def test_finite_result_unchanged(rng: np.random.Generator) -> None:
    vals = _logistic_values(rng)
    r = matdiff.grad(LOGISTIC, wrt="w")
    np.testing.assert_allclose(r.compile()(**vals), r.evaluate(vals), rtol=1e-12)


def test_nan_in_spd_input_named_before_the_factorization(rng: np.random.Generator) -> None:
    S = np.eye(4) * 2.0
    S[1, 2] = S[2, 1] = np.nan
    f = matdiff.grad("logdet(S) + tr(inv(S)*C)", wrt="S", types={"S": "spd"}).compile()
    with pytest.raises(matdiff.DomainError, match="value of S has NaN"):
        f(S=S, C=np.eye(4))


def test_batched_nan_input_named_with_its_element(rng: np.random.Generator) -> None:
    X = rng.standard_normal((3, 4, 4))
    X[2, 1, 1] = np.nan
    f = matdiff.grad("norm_fro(A*X)^2", wrt="X").compile(batch=["X"])
    with pytest.raises(matdiff.DomainError, match=r"value of X has NaN.*batch element 2"):
        f(A=rng.standard_normal((4, 4)), X=X)
