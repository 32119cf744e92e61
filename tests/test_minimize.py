"""matdiff.minimize (issue 19): the five guide problems against their references, constraints, structure,
bad problems, errors, the CLI and the stand-alone solver script (run without matdiff importable)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize as so
from scipy.special import expit

import matdiff
from matdiff.cli import main
from matdiff.optimize import ConstraintError, SolverError
from matdiff.optimize.engine import Layout

RNG = np.random.default_rng(19)
A = RNG.standard_normal((30, 8))
Y = RNG.standard_normal(30)
LS = "norm2(A*x - y)^2"


def slsqp_simplex(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    n = A.shape[1]
    res = so.minimize(lambda x: np.sum((A @ x - y) ** 2), np.full(n, 1 / n), jac=lambda x: 2 * A.T @ (A @ x - y),
                      method="SLSQP", bounds=[(0, None)] * n,
                      constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1, "jac": lambda x: np.ones(n)}],
                      options={"ftol": 1e-12, "maxiter": 1000})
    assert res.success, res.message
    return res.x


# -- the five guide problems -------------------------------------------------------------------------------------

def test_ridge_matches_the_closed_form():
    B = RNG.standard_normal((30, 3))
    res = matdiff.minimize("norm_fro(A*X - B)^2 + lam*norm_fro(X)^2", wrt="X", values={"A": A, "B": B, "lam": 0.1})
    ref = np.linalg.solve(A.T @ A + 0.1 * np.eye(8), A.T @ B)
    assert res.success, res.message
    assert res.status == "converged" and res.nit > 0
    assert np.max(np.abs(res.x["X"] - ref)) < 1e-6
    assert res.fun == pytest.approx(np.sum((A @ ref - B) ** 2) + 0.1 * np.sum(ref ** 2), rel=1e-12)


def test_nonnegative_least_squares_matches_nnls():
    res = matdiff.minimize(LS, wrt="x", values={"A": A, "y": Y}, bounds={"x": (0, None)})
    ref, _ = so.nnls(A, Y)
    assert res.success, res.message
    assert np.max(np.abs(res.x["x"] - ref)) < 1e-6
    assert np.all(res.x["x"] >= 0)
    assert np.any(ref == 0)  # the bound is active: the test means something


def test_nonnegativity_as_a_constraint_becomes_a_bound():
    res = matdiff.minimize(LS, wrt="x", values={"A": A, "y": Y}, constraints=["x >= 0"])
    assert res.success and res.method == "L-BFGS-B"
    assert np.max(np.abs(res.x["x"] - so.nnls(A, Y)[0])) < 1e-6


def test_gaussian_mle_gives_the_sample_covariance_and_stays_spd():
    Z = RNG.standard_normal((60, 5)) @ RNG.standard_normal((5, 5))
    C = np.cov(Z.T, bias=True)
    seen = []
    res = matdiff.minimize("logdet(S) + tr(inv(S)*C)", wrt="S", values={"C": C}, types={"S": "spd"},
                           callback=lambda info: seen.append(info["x"]["S"]))
    assert res.success, res.message
    assert np.max(np.abs(res.x["S"] - C)) < 1e-6
    assert len(seen) == res.nit > 3
    for S in seen:  # every iterate symmetric and positive definite
        assert np.array_equal(S, S.T)
        assert np.linalg.eigvalsh(S).min() > 0


def test_logistic_regression_matches_an_expert_lbfgsb():
    X = RNG.standard_normal((200, 10))
    y = np.where(RNG.random(200) < expit(X @ RNG.standard_normal(10)), 1.0, -1.0)

    def expert(w):
        z = -y * (X @ w)
        return np.sum(np.logaddexp(0, z)) + w @ w, -X.T @ (y * expit(z)) + 2 * w

    ref = so.minimize(expert, np.zeros(10), jac=True, method="L-BFGS-B",
                      options={"gtol": 1e-12, "ftol": 0, "maxiter": 10000}).x
    res = matdiff.minimize("sum(log(1 + exp(-y.*(X*w)))) + lam*w'*w", wrt="w", values={"X": X, "y": y, "lam": 1.0})
    assert res.success, res.message
    assert np.max(np.abs(res.x["w"] - ref)) < 1e-6
    newton = matdiff.minimize("sum(log(1 + exp(-y.*(X*w)))) + lam*w'*w", wrt="w",
                              values={"X": X, "y": y, "lam": 1.0}, method="newton")
    assert newton.success and "trust-krylov" in newton.method
    assert np.max(np.abs(newton.x["w"] - ref)) < 1e-6


@pytest.mark.parametrize("method", ["auto", "slsqp"])
def test_least_squares_on_the_simplex_matches_slsqp(method):
    res = matdiff.minimize(LS, wrt="x", values={"A": A, "y": Y}, bounds={"x": (0, None)},
                           constraints=["sum(x) == 1"], method=method)
    ref = slsqp_simplex(A, Y)
    assert res.success, res.message
    assert np.max(np.abs(res.x["x"] - ref)) < 1e-6
    assert abs(np.sum(res.x["x"]) - 1) < 1e-8 and np.all(res.x["x"] >= 0)


# -- constraints, structure, several variables --------------------------------------------------------------------

def test_inequality_constraints_scalar_and_vector_are_satisfied():
    res = matdiff.minimize(LS, wrt="x", values={"A": A, "y": Y}, constraints=["norm2(x)^2 <= 0.1", "A*x <= 0.2"])
    assert res.success, res.message
    x = res.x["x"]
    assert x @ x <= 0.1 + 1e-8 and np.max(A @ x) <= 0.2 + 1e-8
    ref = so.minimize(lambda v: np.sum((A @ v - Y) ** 2), np.zeros(8), method="SLSQP",
                      constraints=[{"type": "ineq", "fun": lambda v: 0.1 - v @ v},
                                   {"type": "ineq", "fun": lambda v: 0.2 - A @ v}],
                      options={"ftol": 1e-15, "maxiter": 1000}).x
    assert np.max(np.abs(x - ref)) < 1e-5


def test_a_ge_constraint_and_the_multiplier():
    # minimise |x|^2 subject to sum(x) >= 2: x = 2/n, the multiplier 2*2/n
    res = matdiff.minimize("x'*x", wrt="x", x0={"x": np.zeros(4)}, constraints=["sum(x) >= 2"])
    assert res.success, res.message
    assert np.allclose(res.x["x"], 0.5, atol=1e-7)
    assert float(res.multipliers[0]) == pytest.approx(1.0, abs=1e-6)


def test_symmetric_variable_stays_symmetric():
    M = RNG.standard_normal((4, 4))
    seen = []
    res = matdiff.minimize("norm_fro(X - M)^2", wrt="X", values={"M": M}, types={"X": "symmetric"},
                           callback=lambda info: seen.append(info["x"]["X"]))
    assert res.success, res.message
    assert np.max(np.abs(res.x["X"] - (M + M.T) / 2)) < 1e-7
    assert all(np.array_equal(X, X.T) for X in seen)


def test_several_variables_at_once():
    B = RNG.standard_normal((30, 3))
    res = matdiff.minimize("norm2(A*x + B*u - y)^2 + norm2(x)^2 + norm2(u)^2", wrt=["x", "u"],
                           values={"A": A, "B": B, "y": Y})
    K = np.hstack([A, B])
    ref = np.linalg.solve(K.T @ K + np.eye(11), K.T @ Y)
    assert res.success, res.message
    assert np.max(np.abs(np.concatenate([res.x["x"], res.x["u"]]) - ref)) < 1e-6


def test_several_variables_by_newton_on_the_compiled_hvp():
    """method="newton" over two variables: trust-krylov on the one generated hvp of the two-variable Hessian."""
    B = RNG.standard_normal((30, 3))
    expr = "sum(log(1 + exp(-y.*(A*x + B*u)))) + norm2(x)^2 + norm2(u)^2"
    labels = np.sign(Y)
    res = matdiff.minimize(expr, wrt=["x", "u"], values={"A": A, "B": B, "y": labels}, method="newton")
    lbfgs = matdiff.minimize(expr, wrt=["x", "u"], values={"A": A, "B": B, "y": labels}, tol=1e-12)
    assert res.success and "trust-krylov" in res.method, res.message
    h = matdiff.hessian(expr, ["x", "u"])
    assert callable(h.compile(hvp=True))
    for n in ("x", "u"):
        assert np.max(np.abs(res.x[n] - lbfgs.x[n])) < 1e-6


def test_a_scalar_objective_decides_the_kinds_use_leaves_open():
    """lam*x'*x reads as a vector by the letter of lam; an objective is a scalar, so lam is one (as in grad)."""
    res = matdiff.minimize("norm2(A*x - y)^2 + lam*x'*x", "x", values={"A": A, "y": Y, "lam": 0.5})
    assert res.success, res.message
    np.testing.assert_allclose(res.x["x"], np.linalg.solve(A.T @ A + 0.5 * np.eye(8), A.T @ Y), atol=1e-6)
    with pytest.raises(matdiff.ShapeError):  # a value of another kind than the objective needs is refused
        matdiff.minimize("norm2(A*x - y)^2 + lam*x'*x", "x", values={"A": A, "y": Y, "lam": np.ones(8)})


def test_layout_keeps_every_point_spd():
    lay = Layout([("S", "spd", (3, 3)), ("x", "vector", (2,))])
    for _ in range(20):
        S = lay.unpack(RNG.standard_normal(lay.size) * 5)["S"]
        assert np.array_equal(S, S.T) and np.linalg.eigvalsh(S).min() > 0
    z = RNG.standard_normal(lay.size)
    assert np.allclose(lay.pack(lay.unpack(z)), z)


def test_layout_pullback_is_the_chain_rule():
    lay = Layout([("S", "spd", (3, 3)), ("T", "symmetric", (3, 3))])
    C = RNG.standard_normal((3, 3))

    def f(z):
        v = lay.unpack(z)
        return np.sum(C * v["S"]) + np.sum(v["T"] ** 3)
    z = RNG.standard_normal(lay.size) * 0.3
    v = lay.unpack(z)
    g = lay.pullback(z, {"S": (C + C.T) / 2, "T": 3 * v["T"] ** 2})
    num = np.array([(f(z + 1e-6 * e) - f(z - 1e-6 * e)) / 2e-6 for e in np.eye(lay.size)])
    assert np.allclose(g, num, atol=1e-6)


# -- bad problems: success False, and the message says which ------------------------------------------------------

def test_infeasible():
    res = matdiff.minimize(LS, wrt="x", values={"A": A, "y": Y}, constraints=["sum(x) == 1", "sum(x) <= 0"])
    assert not res.success and res.status == "infeasible"
    assert "infeasible" in res.message and "sum(x)" in res.message


def test_infeasible_with_bounds():
    res = matdiff.minimize(LS, wrt="x", values={"A": A, "y": Y}, bounds={"x": (0, None)},
                           constraints=["sum(x) == -1"])
    assert not res.success and res.status == "infeasible"


def test_unbounded_below():
    res = matdiff.minimize("sum(x) - 1", wrt="x", types={"x": "vector(3)"})
    assert not res.success and res.status == "unbounded" and "unbounded below" in res.message


def test_unbounded_on_the_feasible_set():
    res = matdiff.minimize("-sum(x)", wrt="x", types={"x": "vector(3)"}, constraints=["x'*x >= 1"])
    assert not res.success and res.status == "unbounded"


def test_nan_objective_at_the_start():
    res = matdiff.minimize("sum(exp(exp(x)))", wrt="x", x0={"x": np.array([10.0, 1.0])})
    assert not res.success and res.status in ("not finite", "domain")
    assert "not finite" in res.message or "NaN" in res.message


def test_domain_left_is_reported_not_taken_for_an_optimum():
    # -log(1 - x) - 5x has its minimum at x = 0.8; L-BFGS's first trial step lands at x = 1
    res = matdiff.minimize("-sum(log(1 - x)) - 5*sum(x)", wrt="x", x0={"x": np.zeros(1)})
    if res.success:  # a solver may recover: then it must be right
        assert res.x["x"][0] == pytest.approx(0.8, abs=1e-6)
    else:
        assert res.status == "domain" and "domain" in res.message


def test_logdet_of_a_matrix_not_declared_spd_leaves_the_domain_or_is_right():
    C = np.diag([1.0, 2.0, 3.0])
    res = matdiff.minimize("logdet(S) + tr(inv(S)*C)", wrt="S", values={"C": C}, x0={"S": np.eye(3) * 10})
    assert (res.success and np.allclose(res.x["S"], C, atol=1e-6)) or res.status in ("domain", "not finite")


def test_iteration_and_time_limits():
    res = matdiff.minimize("sum(log(1 + exp(-y.*(X*w)))) + w'*w", wrt="w",
                           values={"X": A, "y": np.sign(Y)}, maxiter=2)
    assert not res.success and res.status == "maxiter" and res.nit == 2
    res = matdiff.minimize(LS, wrt="x", values={"A": A, "y": Y}, time_limit=0.0)
    assert not res.success and res.status == "time" and "time limit" in res.message


# -- bad input: MatdiffError subclasses with actionable messages --------------------------------------------------

@pytest.mark.parametrize("kwargs, err, words", [
    ({"constraints": ["sum(x) = 1"]}, ConstraintError, "'=='"),
    ({"constraints": ["sum(x) < 1"]}, ConstraintError, "strict"),
    ({"constraints": ["sum(x)"]}, ConstraintError, "no comparison"),
    ({"constraints": ["sum(y) == 1"]}, ConstraintError, "does not involve"),
    ({"bounds": {"z": (0, None)}}, SolverError, "not minimised over"),
    ({"bounds": {"x": 0}}, SolverError, "pair"),
    ({"x0": {"q": 1.0}}, SolverError, "x0 names q"),
    ({"method": "bfgs"}, SolverError, "unknown method"),
    ({"tol": -1}, SolverError, "tol"),
])
def test_bad_input(kwargs, err, words):
    with pytest.raises(err, match=words) as info:
        matdiff.minimize(LS, wrt="x", values={"A": A, "y": Y}, **kwargs)
    assert isinstance(info.value, matdiff.MatdiffError)


def test_bad_input_more():
    with pytest.raises(SolverError, match="no value given for y"):
        matdiff.minimize(LS, wrt="x", values={"A": A})
    with pytest.raises(SolverError, match="x0="):
        matdiff.minimize(LS, wrt="x", values={"A": A, "y": Y, "x": np.zeros(8)})
    with pytest.raises(matdiff.MatdiffError, match="does not occur"):
        matdiff.minimize(LS, wrt="z", values={"A": A, "y": Y})
    with pytest.raises(matdiff.ShapeError):
        matdiff.minimize(LS, wrt="x", values={"A": A, "y": Y[:5]})
    with pytest.raises(SolverError, match="spd"):
        matdiff.minimize("logdet(S) + tr(C*S)", wrt="S", values={"C": np.eye(2)}, types={"S": "spd"},
                         bounds={"S": (0, None)})
    with pytest.raises(SolverError, match="positive definite"):
        matdiff.minimize("logdet(S) + tr(C*S)", wrt="S", values={"C": np.eye(2)}, types={"S": "spd"},
                         x0={"S": -np.eye(2)})
    with pytest.raises(matdiff.ShapeError, match="not fixed by the data"):
        matdiff.minimize("x'*x", wrt="x")
    with pytest.raises(matdiff.ParseError):
        matdiff.minimize(LS, wrt="x", values={"A": A, "y": Y}, constraints=["sum(x)) == 1"])


def test_verbose_prints_progress(capsys):
    matdiff.minimize(LS, wrt="x", values={"A": A, "y": Y}, bounds={"x": (0, None)}, constraints=["sum(x) == 1"],
                     verbose=5)
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("iter")]
    assert len(lines) >= 2 and "objective" in lines[0] and "|grad|" in lines[0] and "infeasibility" in lines[0]


# -- the CLI ------------------------------------------------------------------------------------------------------

def test_cli_minimize_writes_the_solution(tmp_path, capsys):
    np.savez(tmp_path / "data.npz", A=A, y=Y)
    rc = main(["minimize", LS, "--wrt", "x", "--data", str(tmp_path / "data.npz"), "--bounds", "x>=0",
               "--constraint", "sum(x) == 1", "--out", str(tmp_path / "sol.npz")])
    assert rc == 0
    sol = np.load(tmp_path / "sol.npz")
    assert np.max(np.abs(sol["x"] - slsqp_simplex(A, Y))) < 1e-6 and bool(sol["success"])
    assert "success" in capsys.readouterr().out


def test_cli_minimize_failure_and_error_status(tmp_path, capsys):
    np.savez(tmp_path / "data.npz", A=A, y=Y)
    rc = main(["minimize", LS, "--wrt", "x", "--data", str(tmp_path / "data.npz"),
               "--constraint", "sum(x) == 1", "--constraint", "sum(x) <= 0"])
    assert rc == 1 and "infeasible" in capsys.readouterr().out
    rc = main(["minimize", LS, "--wrt", "x", "--data", str(tmp_path / "data.npz"), "--bounds", "x>"])
    assert rc == 2 and "ConstraintError" in capsys.readouterr().err


def test_cli_progress_bar(capsys):
    from matdiff.optimize.cli import ProgressBar
    bar = ProgressBar(1e-8, after=0.0)
    for k, g in enumerate([1.0, 1e-2, 1e-4, 1e-8], 1):
        bar.last_draw = 0.0
        bar({"iteration": k, "objective": 1.0, "grad_norm": g, "infeasibility": None, "elapsed": 2.0})
    bar.close()
    err = capsys.readouterr().err
    assert "[" + "#" * 30 + "]" in err and "iter     4" in err


# -- the stand-alone solver script: NumPy and SciPy only -----------------------------------------------------------

RUN_WITHOUT_MATDIFF = textwrap.dedent("""
    import runpy, sys
    sys.modules["matdiff"] = None          # import matdiff fails inside the script
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


def run_script(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", "-c", RUN_WITHOUT_MATDIFF, str(path), *args],
                          capture_output=True, text=True, cwd=path.parent, timeout=120)


@pytest.mark.parametrize("case", ["simplex", "mle", "vector constraint"])
def test_standalone_script_runs_without_matdiff(tmp_path, case):
    if case == "simplex":
        kw = {"objective": LS, "wrt": "x", "bounds": {"x": (0, None)}, "constraints": ["sum(x) == 1"]}
        data = {"A": A, "y": Y}
    elif case == "mle":
        C = np.cov(RNG.standard_normal((40, 4)).T, bias=True)
        kw = {"objective": "logdet(S) + tr(inv(S)*C)", "wrt": "S", "types": {"S": "spd"}}
        data = {"C": C}
    else:
        kw = {"objective": LS, "wrt": "x", "constraints": ["A*x <= 0.2", "norm2(x)^2 <= 0.1"]}
        data = {"A": A, "y": Y}
    src = matdiff.minimize(**kw, source=True)
    assert isinstance(src, str) and "import matdiff" not in src and "from matdiff" not in src
    script = tmp_path / "solver.py"
    script.write_text(src)
    np.savez(tmp_path / "data.npz", **data)
    p = run_script(script, str(tmp_path / "data.npz"), "--out", str(tmp_path / "sol.npz"))
    assert p.returncode == 0, p.stderr
    assert "success" in p.stdout
    sol = np.load(tmp_path / "sol.npz")
    lib = matdiff.minimize(**kw, values=data)
    for name, value in lib.x.items():
        assert np.max(np.abs(sol[name] - value)) < 1e-9


def test_standalone_script_reports_failure_and_bad_data(tmp_path):
    src = matdiff.minimize(LS, wrt="x", constraints=["sum(x) == 1", "sum(x) <= 0"], source=True)
    script = tmp_path / "solver.py"
    script.write_text(src)
    np.savez(tmp_path / "data.npz", A=A, y=Y)
    p = run_script(script, str(tmp_path / "data.npz"), "--out", str(tmp_path / "sol.npz"))
    assert p.returncode == 1 and "infeasible" in p.stdout
    np.savez(tmp_path / "bad.npz", A=A)
    p = run_script(script, str(tmp_path / "bad.npz"))
    assert p.returncode != 0 and "lacks y" in p.stderr


def test_cli_solver_writes_a_script(tmp_path):
    out = tmp_path / "nnls.py"
    assert main(["solver", LS, "--wrt", "x", "--bounds", "x>=0", "--out", str(out)]) == 0
    np.savez(tmp_path / "data.npz", A=A, y=Y)
    p = run_script(out, str(tmp_path / "data.npz"), "--out", str(tmp_path / "sol.npz"))
    assert p.returncode == 0, p.stderr
    assert np.max(np.abs(np.load(tmp_path / "sol.npz")["x"] - so.nnls(A, Y)[0])) < 1e-6
