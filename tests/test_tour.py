"""``matdiff tour``: the textbook page's derivations, checks and the p'(x) experiment."""

from __future__ import annotations

import re

import numpy as np
import pytest

import matdiff
from matdiff.cli import main


@pytest.fixture(scope="module")
def tour_output() -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["tour"])
    return status, out.getvalue(), err.getvalue()


def test_tour_exits_0(tour_output):
    status, out, err = tour_output
    assert status == 0, out + err
    assert "Traceback" not in out + err
    assert "FAILED" not in out
    assert "all checks passed" in out


@pytest.mark.parametrize("text", ["Jacobi", "X/norm_fro(X)", "x*y'", "adj(A)'", "p'(x)"])
def test_tour_shows(tour_output, text):
    assert text in tour_output[1]


def _row(out: str, starts: str) -> tuple[float, float]:
    line = next(ln for ln in out.splitlines() if ln.startswith(starts))
    nums = re.findall(r"[-+]?\d+\.\d+(?:e[-+]?\d+)?", line[len(starts):])
    return float(nums[0]), float(nums[1])


def _jacobi_value(out: str) -> float:
    line = next(ln for ln in out.splitlines() if ln.startswith("p'(x) = tr(adj(x*eye - A))"))
    return float(line.rsplit("=", 1)[1])


def test_forward_difference_error_in_the_expected_band(tour_output):
    out = tour_output[1]
    value, err = _row(out, "forward difference")
    assert 1e-10 < err < 1e-6, f"forward-difference relative error {err:g}"
    # the reported error is what the reported numbers give
    exact = _jacobi_value(out)
    assert abs(value - exact) / abs(exact) == pytest.approx(err, rel=0.05)


def test_central_and_complex_step_are_better(tour_output):
    out = tour_output[1]
    _, fwd = _row(out, "forward difference")
    _, cen = _row(out, "central difference")
    _, cplx = _row(out, "complex step")
    assert cen < fwd
    assert cplx <= 1e-13


def test_tour_experiment_reproduced_independently(tour_output):
    """The page's A (np.random.seed(0); randn(4, 4)), x = 5: p'(x) = tr(adj(xI - A)) by brute-force cofactors,
    and the page's own numbers: p(5) = 344.4097, the forward difference at dx = 1e-8 off by 5.4e-8."""
    np.random.seed(0)
    A = np.random.randn(4, 4)
    p5 = float(np.linalg.det(5.0 * np.eye(4) - A))
    assert p5 == pytest.approx(344.4097, abs=5e-5)
    assert "344.409679612486" in tour_output[1] and "5.4e-08" in tour_output[1]
    M = 5.0 * np.eye(4) - A
    cof = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(M, i, 0), j, 1)) for j in range(4)]
                    for i in range(4)])
    want = float(np.trace(cof))  # tr(adj) = tr(cof')
    assert _jacobi_value(tour_output[1]) == pytest.approx(want, rel=1e-12)
    p = matdiff.charpoly(A)
    assert p.derivative(5.0) == pytest.approx(want, rel=1e-12)
    r = matdiff.grad("det(x*eye - A)", wrt="x")  # x*eye - A makes x a scalar
    assert r.evaluate({"x": 5.0, "A": A}) == pytest.approx(want, rel=1e-12)


def test_charpoly_newton_and_eigenvalue_derivative():
    A = np.random.default_rng(0).standard_normal((4, 4))
    p = matdiff.charpoly(A)
    eig = np.linalg.eigvals(A)
    assert abs(p(5.0) - np.prod(5.0 - eig)) < 1e-10 * abs(p(5.0))
    for x0 in (5.0, -0.5 + 2j):
        lam = p.newton(x0)
        assert np.min(np.abs(eig - lam)) < 1e-9
        path = p.newton_path(x0)
        assert len(path) >= 2 and abs(path[-1] - lam) < 1e-12
    # p'(λ) at a simple eigenvalue = prod over the other eigenvalues of (λ - μ)
    lam = eig[np.argmax(eig.real)]
    want = np.prod([lam - mu for mu in eig if mu is not lam and abs(mu - lam) > 1e-12])
    assert abs(p.derivative(lam) - want) < 1e-9 * max(1.0, abs(want))


def test_tour_latex_option(capsys):
    status = main(["tour", "--latex"])
    out = capsys.readouterr().out
    assert status == 0
    assert "\\" in out and "Jacobi" in out
