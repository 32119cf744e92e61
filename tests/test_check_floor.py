"""Issue 13 item 8: a derivative that is 0 up to round-off passes its check, and polynomials are analytic.

The error of a direction is judged against a noise floor set by the round-off of f near the point (the
round-off of its terms, ``eps sum |t_k|``, for sums that cancel), divided by the step for differences
and by the input scale for the complex step; a wrong gradient still fails.
"""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.verify.check import check, sweep
from matdiff.verify.differences import EPS, analytic, function_of, round_off
from matdiff.verify.sampling import sample_values

ZERO = ["tr(X*inv(X))", "tr(X'*X) - tr(X*X')", "det(X) - det(X')", "x'*A*x - x'*A'*x"]


@pytest.mark.parametrize("expr", ZERO)
@pytest.mark.parametrize("method", ["auto", "forward", "central", "richardson"])
@pytest.mark.parametrize("seed", [0, 1, 2, 19])
def test_zero_gradient_passes_with_a_sane_expected_error(expr, method, seed):
    wrt = "x" if expr.startswith("x") else "X"
    rep = check(expr, wrt, method=method, seed=seed)
    assert rep.ok, str(rep)
    assert rep.method == ("complex" if method == "auto" else method)  # polynomials are analytic
    assert 0 < rep.expected_error < 1e-6
    assert rep.max_rel_error <= rep.tolerance <= 1e-4
    assert "not analytic" not in rep.note and "cannot be trusted" not in rep.note


def test_the_issues_examples():
    rep = matdiff.check("tr(X*inv(X))", wrt="X", seed=0)
    assert rep.ok and rep.max_rel_error < 1e-6, str(rep)
    rep = matdiff.check("tr(X'*X) - tr(X*X')", wrt="X", seed=0)
    assert rep.ok and rep.method == "complex", str(rep)
    assert rep.expected_error < 1e-12  # was 6.38e+272
    np.testing.assert_array_equal(rep.gradient, 0)


def test_a_polynomial_is_analytic_at_run_time():
    values = sample_values("tr(X'*X) - tr(X*X')", seed=0, wrt="X")
    f = function_of("tr(X'*X) - tr(X*X')", values, "X")
    v = np.random.default_rng(1).standard_normal(values["X"].shape)
    assert analytic(f, values["X"], v / np.linalg.norm(v)) == (True, "")


def test_round_off_of_a_cancelling_sum_is_that_of_its_terms():
    x = sample_values("tr(X'*X)", seed=0)["X"]
    v = np.ones_like(x) / x.shape[0]
    f = function_of("tr(X'*X) - tr(X*X')", {"X": x}, "X")
    noise = round_off(f, x, v, terms=2 * np.sum(x * x))
    assert EPS * np.sum(x * x) <= noise < 1e-12


@pytest.mark.parametrize("expr", ["tr(X*inv(X))", "tr(X'*X) - tr(X*X')"])
@pytest.mark.parametrize("method", ["auto", "central", "richardson"])
@pytest.mark.parametrize("wrong", [1e-3, 1e-6])
def test_a_nonzero_gradient_of_a_zero_derivative_fails(expr, method, wrong):
    rep = check(expr, "X", method=method, seed=0, gradient=lambda v: wrong * np.ones_like(v["X"]))
    assert not rep.ok, str(rep)
    assert rep.max_rel_error > 0.1


@pytest.mark.parametrize("method", ["auto", "central", "richardson"])
def test_a_wrong_gradient_of_a_perturbed_function_fails(method):
    # the gradient of tr(X'*X) - tr(X*X') (0) checked against f + 1e-4 tr(X): off by 1e-4 I
    rep = check("tr(X'*X) - tr(X*X') + 1e-4*tr(X)", "X", method=method, seed=0,
                gradient=lambda v: np.zeros_like(v["X"]))
    assert not rep.ok, str(rep)


def test_sweep_of_a_zero_derivative_is_finite():
    res = sweep("tr(X'*X) - tr(X*X')", "X", seed=0)
    assert "complex" in res.errors and "round-off" in res.note
    assert np.nanmax(res.errors["complex"]) < 1e-10
    assert np.nanmax(res.errors["central"]) < 1e3  # relative to |terms of f| / scale, not to 1e-300
