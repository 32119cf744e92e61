"""Results travel, not text (issue 14, item 3): one derivation per request, compiled and checked as an object.

Every gradient matdiff derives is a GradientResult built by ``results.derive`` from a tree typed
once by ``frontend.typed``; the counters below wrap those (the class's constructor, the
differential's expansion and the type checker), so a second derivation or a re-typing anywhere in
a command line run or a page job shows up as a count above one.
"""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
import matdiff.frontend as frontend
import matdiff.results.derive as derive
from matdiff.cli import main
from matdiff.results.gradient import GradientResult
from matdiff.verify.check import check, sweep
from matdiff.web.jobs import run_job


@pytest.fixture
def count(monkeypatch):
    """Counts of gradients made, differentials expanded and trees typed (each typing infers the kinds once)."""
    counts = {"gradients": 0, "expansions": 0, "typechecks": 0}
    init, expand, typecheck = GradientResult.__init__, derive.expand, frontend.infer

    def counted_init(self, *args, **kwargs):
        counts["gradients"] += 1
        init(self, *args, **kwargs)

    def counted_expand(*args, **kwargs):
        counts["expansions"] += 1
        return expand(*args, **kwargs)

    def counted_typecheck(*args, **kwargs):
        counts["typechecks"] += 1
        return typecheck(*args, **kwargs)

    monkeypatch.setattr(GradientResult, "__init__", counted_init)
    monkeypatch.setattr(derive, "expand", counted_expand)
    monkeypatch.setattr(frontend, "infer", counted_typecheck)
    return counts


# ------------------------------------------------------------------------------ the command line


def test_cli_grad_with_code_and_check_derives_once(count, capsys):
    status = main(["grad", "logdet(S) + tr(inv(S)*C)", "--wrt", "S", "--type", "S=spd", "--code", "numpy",
                   "--check"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "def value_and_grad(" in out and ": ok" in out
    assert count == {"gradients": 1, "expansions": 1, "typechecks": 1}


def test_cli_check_with_plot_derives_once(count, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "sweep.png"
    assert main(["check", "norm_fro(A*X-B)^2", "--wrt", "X", "--plot", str(png)]) == 0
    assert png.stat().st_size > 0
    capsys.readouterr()
    assert count == {"gradients": 1, "expansions": 1, "typechecks": 1}


def test_cli_code_is_the_value_and_gradient_of_the_derivation_shown(capsys):
    main(["grad", "x'*A*x", "--wrt", "x", "--code", "numpy"])
    out = capsys.readouterr().out
    r = matdiff.grad("x'*A*x", wrt="x")
    assert r.value_and_grad().source() in out
    assert f"grad_x = {r.gradient}" in out  # the derivation comment names the gradient printed above


# ------------------------------------------------------------------------------ the page's jobs


def test_page_grad_job_derives_once(count):
    status, body = run_job("grad", {"expr": "x'*A*x + log(sum(exp(x)))", "wrt": "x", "types": {}})
    assert status == 200, body
    assert body["code"] and "def value_and_grad(" in body["code"] and body["code_note"] == ""
    assert count == {"gradients": 1, "expansions": 1, "typechecks": 1}


def test_page_check_job_derives_once_for_the_check_and_the_sweep(count):
    status, body = run_job("check", {"expr": "logdet(S)", "wrt": "S", "types": {"S": "spd"}, "seed": 0})
    assert status == 200, body
    assert body["ok"] and body["sweep"]["errors"]
    assert count == {"gradients": 1, "expansions": 1, "typechecks": 1}


@pytest.mark.parametrize("job", ["hessian", "jacobian"])
def test_page_hessian_and_jacobian_jobs_type_once(count, job):
    status, body = run_job(job, {"expr": "x'*A*x", "wrt": "x", "types": {}})
    assert status == 200, body
    assert count["typechecks"] == 1


# ------------------------------------------------------------------------------ the API


def test_hessian_of_several_variables_types_once_and_derives_each_gradient_once(count):
    h = matdiff.hessian("x'*A*y + norm_fro(A)^2", wrt=["x", "A"])
    assert count["typechecks"] == 1
    assert count["gradients"] == 2  # grad_x f and grad_A f; the blocks differentiate those
    rng = np.random.default_rng(0)
    x, y, A = rng.standard_normal(3), rng.standard_normal(4), rng.standard_normal((3, 4))
    H = h.evaluate({"x": x, "A": A, "y": y})
    assert H.shape == (15, 15)
    np.testing.assert_allclose(H, H.T, atol=1e-12)


def test_check_and_sweep_of_a_result_derive_nothing(count):
    r = matdiff.grad("det(A)", wrt="A")
    before = dict(count)
    rep = check(r, seed=1)
    sw = sweep(r, seed=1)
    assert rep.ok and rep.wrt == "A" and sw.errors
    assert count == before


def test_check_of_a_result_reports_what_the_check_of_its_text_does():
    for expr, wrt, types in [("logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"}), ("norm1(x)", "x", None),
                             ("tr(X*inv(X))", "X", None)]:
        by_text = matdiff.check(expr, wrt, types=types, seed=2)
        by_result = matdiff.check(matdiff.grad(expr, wrt, types), seed=2)
        assert (by_result.ok, by_result.method, by_result.max_rel_error) == \
               (by_text.ok, by_text.method, by_text.max_rel_error)


def test_check_of_a_result_refuses_another_variable_or_types():
    r = matdiff.grad("x'*A*x", wrt="x")
    with pytest.raises(matdiff.MatdiffError, match="with respect to x, not A"):
        check(r, "A")
    with pytest.raises(matdiff.MatdiffError, match="carries its types"):
        check(r, types={"x": "vector"})
    assert check(r, "x", seed=0).ok


def test_value_and_grad_of_a_result_is_compile():
    rng = np.random.default_rng(3)
    S = rng.standard_normal((4, 4))
    S = S @ S.T + 4 * np.eye(4)
    C = rng.standard_normal((4, 4))
    r = matdiff.grad("logdet(S) + tr(inv(S)*C)", wrt="S", types={"S": "spd"})
    fg = r.value_and_grad()
    ref = matdiff.compile("logdet(S) + tr(inv(S)*C)", wrt=["S"], types={"S": "spd"})
    assert fg.source() == ref.source()
    (v1, g1), (v2, g2) = fg(S=S, C=C), ref(S=S, C=C)
    assert v1 == pytest.approx(v2, rel=1e-14)
    np.testing.assert_allclose(g1["S"], g2["S"], rtol=1e-13)
    np.testing.assert_allclose(g1["S"], r.evaluate({"S": S, "C": C}), rtol=1e-10)


def test_compiled_results_are_cached_per_backend_and_batch_mode():
    r = matdiff.grad("x'*A*x", wrt="x")
    assert r.compile() is r.compile()
    assert r.compile(batch=True) is r.compile(batch=True) and r.compile(batch=True) is not r.compile()
    assert r.source() is r.source()
    h = matdiff.hessian("x'*A*x", wrt="x")
    assert h.compile() is h.compile() and h.compile(batch=True) is not h.compile()
