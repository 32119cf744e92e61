"""Tests of matdiff.verify: random points, directional derivatives, check, sweep and its plot."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import matdiff
from matdiff.errors import DomainError, MatdiffError
from matdiff.verify.check import CheckReport, check, plot_sweep, sweep
from matdiff.verify.differences import EPS, analytic, directional_derivative
from matdiff.verify.sampling import random_direction, sample_values

SPD = {"S": "spd"}

# ---------------------------------------------------------------------------- check: correct gradients

CORRECT = [
    ("norm_fro(X)", "X", None, "complex"),
    ("x'*A*x", "x", None, "complex"),
    ("logdet(S)", "S", SPD, "complex"),
    ("det(A)", "A", None, "complex"),
    ("sum(exp(x))", "x", None, "complex"),
    ("norm1(x)", "x", None, "richardson"),
    ("tr(inv(S)*C)", "S", {"S": "symmetric"}, "complex"),
    ("norm2(X)", "X", None, "richardson"),
    ("det(x*eye - A)", "x", {"x": "scalar"}, "complex"),
]


@pytest.mark.parametrize("expr, wrt, types, method", CORRECT)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_check_passes_for_correct_gradients(expr, wrt, types, method, seed):
    rep = check(expr, wrt, types=types, seed=seed)
    assert rep.ok, str(rep)
    assert rep.method == method
    assert rep.max_rel_error < 1e-9
    assert rep.max_rel_error <= rep.tolerance
    assert len(rep.details) == 3
    assert np.shape(rep.gradient) == np.shape(rep.values[wrt])


@pytest.mark.parametrize("expr, wrt, types", [("x'*A*x", "x", None), ("det(A)", "A", None),
                                              ("logdet(S)", "S", SPD), ("norm_fro(X)", "X", None)])
def test_complex_step_reaches_round_off(expr, wrt, types):
    rep = check(expr, wrt, types=types, method="complex", seed=3)
    assert rep.method == "complex"
    assert rep.max_rel_error <= 1e-13, str(rep)
    assert rep.expected_error < 1e-14


@pytest.mark.parametrize("method", ["forward", "central", "richardson", "complex", "auto"])
def test_every_method_passes_a_correct_gradient(method):
    rep = check("log(sum(exp(x))) + x'*A*x", "x", method=method, seed=4)
    assert rep.ok, str(rep)
    assert rep.method == (method if method != "auto" else "complex")


def test_check_at_given_values():
    rng = np.random.default_rng(5)
    x, A = rng.standard_normal(3), rng.standard_normal((3, 3))
    rep = check("x'*A*x", "x", values={"x": x, "A": A})
    assert rep.ok
    np.testing.assert_allclose(rep.gradient, (A + A.T) @ x, rtol=1e-12)
    assert rep.values["x"] is x or np.array_equal(rep.values["x"], x)


# ---------------------------------------------------------------------------- check: wrong gradients


@pytest.mark.parametrize("method", ["auto", "forward", "central", "richardson", "complex"])
def test_check_detects_a_slightly_wrong_gradient(method):
    r = matdiff.grad("det(A)", wrt="A")
    rep = check("det(A)", "A", seed=2, method=method, gradient=lambda v: r.evaluate(v) + 1e-3)
    assert not rep.ok, str(rep)
    assert rep.max_rel_error > 10 * rep.tolerance
    assert "FAILED" in str(rep)


def test_check_detects_a_transposed_gradient():
    r = matdiff.grad("x'*A*y", wrt="A")
    assert check("x'*A*y", "A", seed=0, gradient=r.evaluate).ok
    rep = check("x'*A*y", "A", seed=0, gradient=lambda v: r.evaluate(v).T)
    assert not rep.ok
    assert rep.max_rel_error > 1e-2


def test_check_detects_a_subclassed_result():
    class Off(matdiff.GradientResult):
        def evaluate(self, values):
            return 2 * super().evaluate(values)

    r = matdiff.grad("sum(exp(x))", wrt="x")
    wrong = Off(r.expr, r.var, r.variables, r.gradient, r.differential, r.steps)
    rep = check("sum(exp(x))", "x", seed=1, gradient=wrong.evaluate)
    assert not rep.ok
    assert 0.1 < rep.max_rel_error <= 0.5 + 1e-12  # |<2G, V> - <G, V>| / (2 ||G|| ||V||)


def test_wrong_shape_fails_the_check():
    rep = check("x'*A*x", "x", seed=0, gradient=lambda v: np.zeros(2))
    assert not rep.ok
    assert rep.max_rel_error == np.inf
    assert "shape" in rep.note


def test_non_finite_gradient_fails_the_check():
    rep = check("x'*A*x", "x", seed=0, gradient=lambda v: np.full(np.shape(v["x"]), np.nan))
    assert not rep.ok and "not finite" in rep.note
    assert "FAILED" in str(rep)


def test_zero_gradient_is_wrong_where_the_derivative_is_not():
    rep = check("sum(exp(x))", "x", seed=0, method="forward", gradient=lambda v: np.zeros_like(v["x"]))
    assert not rep.ok
    assert rep.max_rel_error == pytest.approx(1.0)


def test_explicit_tolerance():
    r = matdiff.grad("det(A)", wrt="A")
    wrong = check("det(A)", "A", seed=2, gradient=lambda v: r.evaluate(v) + 1e-3, tol=0.1)
    assert wrong.ok and wrong.tolerance == 0.1


# ---------------------------------------------------------------------------- accuracy of the methods


def test_forward_central_complex_accuracy_ordering():
    errs = {m: check("det(A)", "A", method=m, seed=7).max_rel_error
            for m in ("forward", "central", "complex")}
    assert 1e-11 < errs["forward"] < 1e-6  # ~ sqrt(eps) = 1.5e-8
    assert errs["central"] < errs["forward"] / 10  # ~ eps^(2/3) = 3.7e-11
    assert errs["central"] < 1e-8
    assert errs["complex"] < errs["central"] / 10  # ~ eps
    assert errs["complex"] <= 1e-13


def test_expected_errors_follow_the_step_analysis():
    reps = {m: check("sum(exp(x))", "x", method=m, seed=0)
            for m in ("forward", "central", "richardson", "complex")}
    assert reps["forward"].expected_error >= np.sqrt(EPS)
    assert EPS ** (2 / 3) <= reps["central"].expected_error < reps["forward"].expected_error
    assert reps["richardson"].expected_error < 1e-9
    assert reps["complex"].expected_error == pytest.approx(10 * EPS)
    for rep in reps.values():
        assert rep.tolerance == min(max(100 * rep.expected_error, 1e-6), 1e-4)
        assert rep.max_rel_error <= rep.tolerance


def test_richardson_beats_plain_central_differences():
    cen = check("sum(sin(x)) + norm1(x)", "x", method="central", seed=3).max_rel_error
    ric = check("sum(sin(x)) + norm1(x)", "x", method="richardson", seed=3).max_rel_error
    assert ric < cen
    assert ric < 1e-11


def test_richardson_near_a_kink_shrinks_its_first_step():
    # an entry 1e-3 from the kink of |.|: a first step of 0.1 crosses it, the table does not settle
    x = np.array([1e-3, -0.7, 1.3, 0.4])
    rep = check("norm1(x)", "x", values={"x": x}, seed=0)
    assert rep.method == "richardson"
    assert rep.ok and rep.max_rel_error < 1e-10, str(rep)
    assert max(d["step"] for d in rep.details) < 0.1 * np.max(np.abs(x)) / 2  # smaller than h0 = 0.1 s


def test_untrustworthy_estimate_fails_rather_than_passes():
    # f is large compared with its change: forward differences lose ~ 1e6 * sqrt(eps) to round-off
    rep = check("1e6 + x'*x", "x", method="forward", seed=0)
    assert rep.expected_error > rep.tolerance == 1e-4
    assert not rep.ok and "cannot be trusted" in rep.note
    assert check("1e6 + x'*x", "x", seed=0).ok  # the complex step has no cancellation


# ---------------------------------------------------------------------------- method selection


def test_auto_picks_complex_step_for_analytic_expressions():
    rep = check("x'*A*x", "x", seed=0)
    assert rep.method == "complex"
    assert "analytic" in rep.note


@pytest.mark.parametrize("expr, wrt, culprit", [("norm1(x)", "x", "norm1"), ("sum(abs(X))", "X", "abs"),
                                                ("norm_nuc(X)", "X", "norm_nuc")])
def test_auto_picks_richardson_for_non_analytic_expressions(expr, wrt, culprit):
    rep = check(expr, wrt, seed=0)
    assert rep.method == "richardson"
    assert culprit in rep.note
    assert rep.ok


def test_complex_step_refused_where_not_analytic():
    with pytest.raises(MatdiffError, match="not analytic"):
        check("norm1(x)", "x", method="complex", seed=0)


def test_unknown_method():
    with pytest.raises(MatdiffError, match="unknown method"):
        check("x'*x", "x", method="spline", seed=0)


def test_analytic_probe_at_run_time():
    x, v = np.array([1.0, 2.0]), np.array([0.6, 0.8])
    assert analytic(lambda z: np.sum(np.sin(z)), x, v) == (True, "")
    ok, why = analytic(lambda z: float(np.sum(np.real(z))), x, v)  # drops the imaginary part
    assert not ok and "real" in why

    def real_only(z):
        if np.iscomplexobj(z):
            raise TypeError("no complex input")
        return float(np.sum(z))

    ok, why = analytic(real_only, x, v)
    assert not ok and "fails" in why
    ok, why = analytic(lambda z: np.sum(z * np.inf), x, v)
    assert not ok and "finite" in why
    ok, why = analytic(lambda z: np.sum(np.real(z) ** 2 + 0j * z), x, v)  # complex, but not the continuation
    assert not ok and "disagrees" in why


# ---------------------------------------------------------------------------- directions and points


@pytest.mark.parametrize("kind", ["symmetric", "spd"])
def test_symmetric_variables_get_symmetric_directions(kind):
    rng = np.random.default_rng(0)
    for _ in range(5):
        v = random_direction(rng, kind, np.eye(4))
        np.testing.assert_array_equal(v, v.T)
        assert np.linalg.norm(v) == pytest.approx(1.0)


def test_directions_of_other_kinds():
    rng = np.random.default_rng(1)
    v = random_direction(rng, "matrix", np.zeros((3, 2)))
    assert v.shape == (3, 2) and not np.allclose(v[:2], v[:2].T)
    d = random_direction(rng, "diagonal", np.eye(3))
    np.testing.assert_array_equal(d, np.diag(np.diag(d)))
    assert random_direction(rng, "scalar", 1.0) in (-1.0, 1.0)


def test_check_of_a_symmetric_variable_tests_only_the_symmetric_part():
    # tr(A*S) with S symmetric: the gradient is sym(A'); A' itself has the same inner product with every
    # symmetric direction, so it passes too, while the entrywise 2G - diag(G) does not.
    expr, types = "tr(A*S)", {"S": "symmetric"}
    rep = check(expr, "S", types=types, seed=0)
    assert rep.ok
    np.testing.assert_allclose(rep.gradient, rep.gradient.T, atol=1e-15)
    A = rep.values["A"]
    assert check(expr, "S", types=types, seed=0, gradient=lambda v: v["A"].T).ok
    g = (A + A.T) / 2
    assert not check(expr, "S", types=types, seed=0, gradient=lambda v: 2 * g - np.diag(np.diag(g))).ok


def test_sample_values_kinds_and_shared_sizes():
    types = {"S": "spd", "T": "symmetric", "C": "matrix(2,n)"}
    vals = sample_values("x'*A*y + tr(S) + tr(T) + sum(C*z) + a", types=types, seed=0)
    assert set(vals) == {"x", "A", "y", "S", "T", "C", "z", "a"}
    assert vals["A"].shape == (len(vals["x"]), len(vals["y"]))
    assert vals["C"].shape[0] == 2 and vals["C"].shape[1] == len(vals["z"])
    assert isinstance(vals["a"], float) and 0.5 <= vals["a"] <= 1.5
    S, T = vals["S"], vals["T"]
    np.testing.assert_array_equal(S, S.T)
    assert np.min(np.linalg.eigvalsh(S)) >= 1 - 1e-12
    np.testing.assert_array_equal(T, T.T)
    ev = np.sort(np.abs(np.linalg.eigvalsh(T)))
    assert np.min(np.diff(ev)) > 0.1  # distinct eigenvalues, distinct in absolute value too
    s = np.linalg.svd(vals["A"], compute_uv=False)
    assert 0.5 < s.min() and s.max() <= 2 + 1e-12  # well conditioned


def test_sample_values_sizes_and_seed():
    vals = sample_values("x'*A*y", sizes={"A": (2, 6)}, seed=1)
    assert vals["A"].shape == (2, 6) and vals["x"].shape == (2,) and vals["y"].shape == (6,)
    assert sample_values("x'*A*y", sizes={"y": 7})["A"].shape[1] == 7
    again = sample_values("x'*A*y", sizes={"A": (2, 6)}, seed=1)
    assert all(np.array_equal(vals[k], again[k]) for k in vals)
    with pytest.raises(MatdiffError):
        sample_values("x'*A*y", sizes={"B": 3})


def test_sample_values_moves_into_the_domain():
    vals = sample_values("sum(log(x))", seed=0)
    assert np.all(vals["x"] > 0)
    for seed in range(6):  # the random A has det < 0 about half the time: shifted to A + c I
        assert np.linalg.det(sample_values("logdet(A)", seed=seed)["A"]) > 0
    vals = sample_values("sum(log(X)) + logdet(X)", seed=0)
    assert np.all(vals["X"] > 0) and np.linalg.det(vals["X"]) > 0


def test_sample_values_gives_up_with_a_domain_error():
    with pytest.raises(DomainError, match="found no point"):
        sample_values("log(-sum(exp(x)))", seed=0)


def test_fresh_seed_is_reported_and_reproduces_the_point():
    rep = check("x'*A*x", "x")
    assert isinstance(rep.seed, int)
    again = check("x'*A*x", "x", seed=rep.seed)
    np.testing.assert_array_equal(rep.values["x"], again.values["x"])
    assert f"seed {rep.seed}" in str(rep)


def test_domain_error_propagates():
    with pytest.raises(DomainError):
        check("norm_fro(X)", "X", values={"X": np.zeros((3, 3))})
    with pytest.raises(DomainError):
        check("logdet(S)", "S", types=SPD, values={"S": -np.eye(3)})


# ---------------------------------------------------------------------------- directional_derivative


@pytest.mark.parametrize("method, tol", [("forward", 1e-6), ("central", 1e-9), ("richardson", 1e-11),
                                         ("complex", 1e-15)])
def test_directional_derivative_of_a_plain_function(method, tol):
    x = np.array([0.3, -1.2, 2.0])
    v = np.array([1.0, 2.0, -0.5])
    exact = float(np.cos(x) @ v)
    got = directional_derivative(lambda z: np.sum(np.sin(z)), x, v, method)
    assert abs(got - exact) <= tol * abs(exact)


def test_directional_derivative_of_a_scalar_function():
    got = directional_derivative(lambda t: np.exp(t), 0.5, 1.0, "complex")
    assert got == pytest.approx(np.exp(0.5), rel=1e-15)
    assert directional_derivative(np.log, 2.0, 1.0) == pytest.approx(0.5, rel=1e-11)


# ---------------------------------------------------------------------------- report


def test_report_text_and_html():
    rep = check("det(A)", "A", seed=0)
    assert isinstance(rep, CheckReport)
    text = str(rep)
    assert "det(A)" in text and "complex" in text and "ok" in text
    assert len(text.splitlines()) >= 5 + len(rep.details)
    html = rep._repr_html_()
    assert "<table>" in html and "det(A)" in html
    for d in rep.details:
        assert {"analytic", "numeric", "rel_error"} <= set(d)


# ---------------------------------------------------------------------------- sweep and plot


def test_sweep_shows_the_v_of_forward_differences():
    res = sweep("det(A)", "A", seed=0)
    assert res.h[0] == pytest.approx(1e-1) and res.h[-1] == pytest.approx(1e-16)
    assert set(res.errors) == {"forward", "central", "complex"}
    fwd = res.errors["forward"]
    assert fwd.shape == res.h.shape
    k = int(np.nanargmin(fwd))
    assert 0 < k < len(fwd) - 1
    assert np.all(np.diff(np.log10(fwd[: k + 1]))[:6] < 0)  # truncation error falls with h ...
    assert fwd[0] > 100 * fwd[k] and fwd[-1] > 100 * fwd[k]  # ... until round-off makes it rise
    assert 1e-10 < res.best["forward"][1] < 1e-6
    assert res.best["central"][1] < res.best["forward"][1]
    assert res.best["complex"][1] <= 1e-14
    assert np.nanmax(res.errors["complex"][-10:]) < 1e-13  # no round-off rise for the complex step
    h_best = res.best["forward"][0]
    assert 1e-10 <= h_best <= 1e-6  # near sqrt(eps)


def test_sweep_without_complex_step_where_not_analytic():
    res = sweep("norm1(x)", "x", seed=0)
    assert set(res.errors) == {"forward", "central"}
    assert "norm1" in res.note


def test_plot_sweep_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    res = sweep("x'*A*x", "x", seed=0)
    path = tmp_path / "sweep.png"
    assert plot_sweep(res, path) == str(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5000


def test_plot_sweep_without_matplotlib(tmp_path, monkeypatch):
    res = sweep("x'*x", "x", seed=0, steps=[1e-2, 1e-4])
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(MatdiffError, match=r"pip install matdiff\[plot\]"):
        plot_sweep(res, tmp_path / "x.png")
