"""Evaluation executes the code generator's lowering (numeric.codegen.Executor): one numeric implementation."""

import numpy as np
import pytest

import matdiff
from matdiff.numeric.evaluate import Evaluator


def test_complex_values_take_the_analytic_continuations():
    x = np.array([0.3 + 1e-3j, -0.7 + 2e-3j, 1.1 - 1e-3j])
    X = np.array([[0.5 + 1e-3j, -1.0], [2.0, 0.25 - 2e-3j]])
    got = matdiff.evaluate("sum(abs(x)) + sum(sigmoid(x)) + norm_fro(X) + sum(log(1 + exp(x)))", {"x": x, "X": X})
    want = (np.sum(x * np.sign(x.real)) + np.sum(1 / (1 + np.exp(-x))) + np.sqrt(np.sum(X * X))
            + np.sum(np.log(1 + np.exp(x))))
    assert isinstance(got, complex) and np.isclose(got, want, rtol=1e-13)


def test_an_spd_matrix_with_complex_values_is_factored_by_lu():
    S = np.array([[2.0, 0.5], [0.5, 1.0]]) + 1e-20j * np.array([[1.0, 2.0], [2.0, -1.0]])
    got = matdiff.evaluate("logdet(S)", {"S": S}, {"S": "spd"})
    assert np.isclose(got, np.log(np.linalg.det(S)), rtol=1e-14) and got.imag != 0


@pytest.mark.parametrize("text, values, words", [
    ("sum(exp(-1 ./ y))", {"y": np.array([1.0, 0.0])}, ["division by zero", "y"]),
    ("sum(log(x))", {"x": np.array([1.0, -1.0])}, ["log(x)"]),
    ("a^0.5", {"a": -2.0}, ["power"]),
    ("tr(inv(A))", {"A": np.ones((2, 2))}, ["inv(A)", "singular"]),
])
def test_domain_errors_say_where(text, values, words):
    with pytest.raises(matdiff.DomainError) as info:
        matdiff.evaluate(text, values)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_an_evaluation_again_replays_its_statements_at_another_point():
    r = matdiff.grad("norm_fro(X*u*u')/norm_fro(X*u) + sum(sigmoid(X*u))", "u")
    f = r.compile()
    rng = np.random.default_rng(1)
    for _ in range(3):  # lowered once, then replayed: the same numbers as generated code
        X, u = rng.standard_normal((3, 3)), rng.standard_normal(3)
        assert np.allclose(r.evaluate({"X": X, "u": u}), f(X=X, u=u), rtol=1e-13)
    with pytest.raises(matdiff.DomainError):  # a replay that fails is lowered again, which says where
        r.evaluate({"X": np.zeros((3, 3)), "u": u})


def test_forget_computes_what_depends_on_the_variable_again():
    from matdiff.frontend import typed

    t, vs = typed("tr(inv(A)*d)", {"A": "matrix", "d": "matrix"})
    A0 = np.array([[2.0, 1.0], [0.0, 3.0]])
    ev = Evaluator(vs, {"A": A0, "d": np.eye(2)})
    assert np.isclose(ev(t), np.trace(np.linalg.inv(A0)))
    ev.bind.values["d"] = np.array([[0.0, 1.0], [0.0, 0.0]])
    ev.forget("d")
    assert np.isclose(ev(t), np.linalg.inv(A0)[1, 0])
