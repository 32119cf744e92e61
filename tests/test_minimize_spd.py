"""matdiff.minimize over spd matrices (issue 19, follow-up): the Gaussian covariance MLE at condition numbers up to
1e4 and n = 10..30 reaches the sample covariance within 1e-6; the exponential-map coordinates re-based at the
iterate (Layout.rebase), their chain rule and curvature against finite differences; the Newton finish."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.optimize import engine
from matdiff.optimize.engine import Layout

MLE = "logdet(S) + tr(inv(S)*C)"


def sample_covariance(n: int, cond: float, seed: int) -> np.ndarray:
    """The sample covariance of 20 n draws from N(0, Q diag(1 .. 1/cond) Q')."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    ev = np.logspace(0, -np.log10(cond), n)
    Z = rng.standard_normal((20 * n, n)) @ (Q * np.sqrt(ev)).T
    return np.cov(Z.T, bias=True)


def spread_covariance(n: int, cond: float, seed: int) -> np.ndarray:
    """Q diag(eigenvalues from cond^-1/2 to cond^1/2) Q': entries up to about sqrt(cond)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    C = (Q * np.logspace(-0.5 * np.log10(cond), 0.5 * np.log10(cond), n)) @ Q.T
    return (C + C.T) / 2


@pytest.mark.parametrize("n", [10, 20, 30])
@pytest.mark.parametrize("cond", [1e2, 1e3, 1e4])
def test_mle_reaches_the_sample_covariance(n, cond):
    for seed in (0, 1):
        C = sample_covariance(n, cond, seed)
        assert np.linalg.cond(C) > cond / 3
        res = matdiff.minimize(MLE, wrt="S", values={"C": C}, types={"S": "spd"})
        assert res.success, res.message
        assert np.max(np.abs(res.x["S"] - C)) < 1e-6


def test_mle_at_the_issue_size_from_a_sample():
    # the case the first version missed (4e-6 .. 1.4e-5): 10 x 10, Z = N(0, 1) @ a random matrix
    for seed in range(4):
        rng = np.random.default_rng(seed)
        C = np.cov((rng.standard_normal((500, 10)) @ rng.standard_normal((10, 10))).T, bias=True)
        res = matdiff.minimize(MLE, wrt="S", values={"C": C}, types={"S": "spd"})
        assert res.success, res.message
        assert np.max(np.abs(res.x["S"] - C)) < 1e-6


@pytest.mark.parametrize("n", [10, 30])
def test_mle_with_large_entries_to_a_tighter_tol(n):
    # entries up to 100: the gradient at the identity is ~100, so tol=1e-8 asks only ~1e-6 relative there;
    # tol=1e-10 asks for what 1e-6 in the entries needs, and gets it
    C = spread_covariance(n, 1e4, 0)
    res = matdiff.minimize(MLE, wrt="S", values={"C": C}, types={"S": "spd"}, tol=1e-10)
    assert res.success, res.message
    assert np.max(np.abs(res.x["S"] - C)) < 1e-6


def test_every_mle_iterate_is_spd_and_the_start_is_kept():
    C = sample_covariance(10, 1e4, 3)
    S0 = np.diag(np.linspace(1, 2, 10))
    seen = []
    res = matdiff.minimize(MLE, wrt="S", values={"C": C}, types={"S": "spd"}, x0={"S": S0},
                           callback=lambda info: seen.append(info["x"]["S"]))
    assert res.success and np.max(np.abs(res.x["S"] - C)) < 1e-6
    assert len(seen) == res.nit
    for S in seen:
        assert np.array_equal(S, S.T) and np.linalg.eigvalsh(S).min() > 0


def test_spd_with_a_mean():
    # the Gaussian MLE with its mean: m = u, S = C
    rng = np.random.default_rng(4)
    C = sample_covariance(6, 1e3, 4)
    mu = rng.standard_normal(6)
    res = matdiff.minimize("logdet(S) + tr(inv(S)*C) + (m - u)'*inv(S)*(m - u)", wrt=["S", "m"],
                           values={"C": C, "u": mu}, types={"S": "spd"})
    assert res.success, res.message
    assert np.max(np.abs(res.x["m"] - mu)) < 1e-6
    assert np.max(np.abs(res.x["S"] - C)) < 1e-6


def _layout_at_a_base(seed: int) -> tuple[Layout, np.ndarray]:
    rng = np.random.default_rng(seed)
    lay = Layout([("S", "spd", (4, 4)), ("T", "symmetric", (3, 3)), ("x", "vector", (2,))])
    z = lay.rebase(rng.standard_normal(lay.size) * 0.7)  # a base that is not the identity
    z = z + rng.standard_normal(lay.size) * 0.3
    return lay, z


def test_rebase_keeps_the_point():
    lay, z = _layout_at_a_base(0)
    before = lay.unpack(z)
    zr = lay.rebase(z)
    after = lay.unpack(zr)
    assert np.all(zr[lay.slices["S"]] == 0)
    for k in before:
        assert np.allclose(after[k], before[k], rtol=1e-12, atol=1e-12)
    assert np.allclose(lay.pack(after), zr, atol=1e-10)


def test_pullback_and_tangent_are_the_chain_rule_at_a_base():
    lay, z = _layout_at_a_base(1)
    rng = np.random.default_rng(1)
    P, Q = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
    a = rng.standard_normal(2)

    def f(z):
        v = lay.unpack(z)
        return np.sum(P * v["S"]) + np.sum(np.linalg.inv(v["S"])) + np.sum(v["T"] ** 3 * Q) + a @ np.sin(v["x"])

    v = lay.unpack(z)
    Si = np.linalg.inv(v["S"])
    grads = {"S": P - Si @ np.ones((4, 4)) @ Si, "T": 3 * v["T"] ** 2 * Q, "x": a * np.cos(v["x"])}
    g = lay.pullback(z, grads)
    E = np.eye(lay.size)
    num = np.array([(f(z + 1e-6 * e) - f(z - 1e-6 * e)) / 2e-6 for e in E])
    assert np.allclose(g, num, rtol=1e-6, atol=1e-6)
    d = rng.standard_normal(lay.size)
    tan = lay.tangent(z, d)
    for k in v:
        fd = (lay.unpack(z + 1e-6 * d)[k] - lay.unpack(z - 1e-6 * d)[k]) / 2e-6
        assert np.allclose(tan[k], fd, rtol=1e-6, atol=1e-7)


def test_hessp_at_the_base_point_matches_differences_of_the_gradient():
    C = sample_covariance(5, 1e2, 5)
    fg = matdiff.compile(MLE, ["S"], {"S": "spd"})
    h = matdiff.hessian(MLE, "S", {"S": "spd"})
    lay = Layout([("S", "spd", (5, 5))])
    z = lay.rebase(lay.pack({"S": np.eye(5) + 0.3 * C}))

    def grad(z):
        return lay.pullback(z, fg(S=lay.unpack(z)["S"], C=C)[1])

    _, grads = fg(S=lay.unpack(z)["S"], C=C)
    rng = np.random.default_rng(5)
    for _ in range(3):
        v = rng.standard_normal(lay.size)
        dS = lay.tangent(z, v)["S"]
        hv = lay.hessp(z, v, grads, {"S": h.hvp({"S": lay.unpack(z)["S"], "C": C}, dS)})
        fd = (grad(z + 1e-5 * v) - grad(z - 1e-5 * v)) / 2e-5
        assert np.allclose(hv, fd, rtol=1e-5, atol=1e-7)


def test_newton_finish_takes_over_where_lbfgs_stalls(monkeypatch):
    # an L-BFGS that stops after 3 iterations and then makes no progress: Newton steps finish the solve
    C = sample_covariance(8, 1e3, 6)
    real = engine._lbfgsb
    calls = []

    def stalling(obj, z0, bounds, gtol, maxiter, on_iter):
        calls.append(1)
        return real(obj, z0, bounds, gtol, 3, on_iter) if len(calls) == 1 else (z0, "ABNORMAL (stalled)")

    monkeypatch.setattr(engine, "_lbfgsb", stalling)
    res = matdiff.minimize(MLE, wrt="S", values={"C": C}, types={"S": "spd"})
    assert res.success, res.message
    assert "Newton" in res.method and len(calls) == 3
    assert np.max(np.abs(res.x["S"] - C)) < 1e-6


def test_a_stalled_lbfgs_without_the_finish_says_so(monkeypatch):
    C = sample_covariance(8, 1e3, 6)
    real = engine._lbfgsb
    calls = []

    def stalling(obj, z0, bounds, gtol, maxiter, on_iter):
        calls.append(1)
        return real(obj, z0, bounds, gtol, 3, on_iter) if len(calls) == 1 else (z0, "ABNORMAL (stalled)")

    monkeypatch.setattr(engine, "_lbfgsb", stalling)
    monkeypatch.setattr(engine, "NEWTON_FINISH_STEPS", 0)
    res = matdiff.minimize(MLE, wrt="S", values={"C": C}, types={"S": "spd"})
    assert not res.success and res.status == "stalled" and "no progress" in res.message
