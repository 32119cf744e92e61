"""matdiff.minimize: the five guide problems against their references, and time to solution on logistic
regression (X 5000 x 200) against SciPy's L-BFGS-B driven by an expert's value-and-gradient and by
jax.jit(jax.value_and_grad).

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset and BLAS/XLA threads pinned to one (as bench_gradients.py).
Every solver runs to the same stopping rule: the largest entry of the projected gradient at most
tol * max(1, that at the start), with ftol = 0; times are medians over --repeat runs, interleaved.

    python benchmarks/bench_minimize.py [--repeat 7] [--n 5000 --p 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

for _k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(_k, None)
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

import numpy as np  # noqa: E402
import scipy.optimize as so  # noqa: E402
from scipy.special import expit  # noqa: E402

import matdiff  # noqa: E402

try:
    import jax  # noqa: E402

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp  # noqa: E402
except ImportError:  # pragma: no cover
    jax = None


def five_problems() -> list[tuple[str, float, str]]:
    """(problem, max |x - reference|, solver) for the five guide problems."""
    rng = np.random.default_rng(0)
    out = []
    A, B = rng.standard_normal((100, 20)), rng.standard_normal((100, 4))
    r = matdiff.minimize("norm_fro(A*X - B)^2 + lam*norm_fro(X)^2", wrt="X", values={"A": A, "B": B, "lam": 0.1})
    ref = np.linalg.solve(A.T @ A + 0.1 * np.eye(20), A.T @ B)
    out.append(("ridge (closed form)", float(np.max(np.abs(r.x["X"] - ref))), r.method, r.success))
    y = rng.standard_normal(100)
    r = matdiff.minimize("norm2(A*x - y)^2", wrt="x", values={"A": A, "y": y}, bounds={"x": (0, None)})
    out.append(("nonnegative least squares (scipy nnls)", float(np.max(np.abs(r.x["x"] - so.nnls(A, y)[0]))),
                r.method, r.success))
    Z = rng.standard_normal((500, 10)) @ rng.standard_normal((10, 10))
    C = np.cov(Z.T, bias=True)
    r = matdiff.minimize("logdet(S) + tr(inv(S)*C)", wrt="S", values={"C": C}, types={"S": "spd"})
    out.append(("Gaussian MLE over spd S (sample covariance)", float(np.max(np.abs(r.x["S"] - C))), r.method,
                r.success))
    X = rng.standard_normal((500, 20))
    t = np.where(rng.random(500) < expit(X @ rng.standard_normal(20)), 1.0, -1.0)

    def expert(w):
        z = -t * (X @ w)
        return np.sum(np.logaddexp(0, z)) + w @ w, -X.T @ (t * expit(z)) + 2 * w
    ref = so.minimize(expert, np.zeros(20), jac=True, method="L-BFGS-B",
                      options={"gtol": 1e-12, "ftol": 0, "maxiter": 10000}).x
    r = matdiff.minimize("sum(log(1 + exp(-y.*(X*w)))) + lam*w'*w", wrt="w", values={"X": X, "y": t, "lam": 1.0})
    out.append(("logistic regression (L-BFGS-B, expert gradient, gtol 1e-12)", float(np.max(np.abs(r.x["w"] - ref))),
                r.method, r.success))
    r = matdiff.minimize("norm2(A*x - y)^2", wrt="x", values={"A": A, "y": y}, bounds={"x": (0, None)},
                         constraints=["sum(x) == 1"])
    n = A.shape[1]
    ref = so.minimize(lambda v: np.sum((A @ v - y) ** 2), np.full(n, 1 / n), jac=lambda v: 2 * A.T @ (A @ v - y),
                      method="SLSQP", bounds=[(0, None)] * n,
                      constraints=[{"type": "eq", "fun": lambda v: v.sum() - 1, "jac": lambda v: np.ones(n)}],
                      options={"ftol": 1e-12, "maxiter": 1000}).x
    out.append(("least squares on the simplex (SLSQP)", float(np.max(np.abs(r.x["x"] - ref))), r.method, r.success))
    return out


def logistic_timing(n: int, p: int, repeat: int, tol: float) -> dict[str, list[float]]:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, p))
    y = np.where(rng.random(n) < expit(X @ (rng.standard_normal(p) * 3 / np.sqrt(p))), 1.0, -1.0)
    lam = 1.0
    expr = "sum(log(1 + exp(-y.*(X*w)))) + lam*w'*w"
    values = {"X": X, "y": y, "lam": lam}

    def expert(w):  # in place where it can be: two passes over X
        z = X @ w
        z *= -y
        v = np.logaddexp(0, z).sum() + lam * (w @ w)
        s = expit(z)
        s *= -y
        g = X.T @ s
        g += 2 * lam * w
        return v, g

    w0 = np.zeros(p)
    gtol = tol * max(1.0, float(np.max(np.abs(expert(w0)[1]))))  # matdiff's rule, for the others too
    opts = {"gtol": gtol, "ftol": 0.0, "maxiter": 10000, "maxcor": 20, "maxls": 40}
    runs: dict[str, callable] = {
        "matdiff.minimize": lambda: matdiff.minimize(expr, wrt="w", values=values, tol=tol).x["w"],
        "L-BFGS-B + expert fg": lambda: so.minimize(expert, w0, jac=True, method="L-BFGS-B", options=opts).x,
    }
    if jax is not None:
        Xj, yj = jnp.asarray(X), jnp.asarray(y)
        vg = jax.jit(jax.value_and_grad(lambda w: jnp.sum(jnp.logaddexp(0.0, -yj * (Xj @ w))) + lam * w @ w))

        def jax_fg(w):
            v, g = vg(w)
            return float(v), np.asarray(g, dtype=float)
        jax_fg(w0)  # compile
        runs["L-BFGS-B + jax.jit(value_and_grad)"] = lambda: so.minimize(jax_fg, w0, jac=True, method="L-BFGS-B",
                                                                         options=opts).x
    t0 = time.perf_counter()
    matdiff.minimize(expr, wrt="w", values=values, tol=tol)  # first call: derive and compile (timed apart)
    first = time.perf_counter() - t0
    ref = runs["L-BFGS-B + expert fg"]()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeat):
        for name, fn in runs.items():
            t = time.perf_counter()
            x = fn()
            times[name].append(time.perf_counter() - t)
            assert np.max(np.abs(x - ref)) < 1e-5, (name, np.max(np.abs(x - ref)))
    times["matdiff.minimize, first call (derivation + compile + solve)"] = [first]
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--p", type=int, default=200)
    ap.add_argument("--tol", type=float, default=1e-8)
    args = ap.parse_args(argv)
    import scipy
    print(f"Python {sys.version.split()[0]}, NumPy {np.__version__}, SciPy {scipy.__version__}"
          f", JAX {jax.__version__ if jax else 'not installed'}; threads pinned to one")
    print("\n| problem | max abs error vs reference | solver | success |\n|---|---|---|---|")
    for name, err, method, ok in five_problems():
        print(f"| {name} | {err:.1e} | {method} | {ok} |")
    times = logistic_timing(args.n, args.p, args.repeat, args.tol)
    base = statistics.median(times["L-BFGS-B + expert fg"])
    print(f"\nlogistic regression X {args.n} x {args.p}, tol {args.tol:g}, median of {args.repeat}")
    print("| solver | time to solution (ms) | x expert |\n|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med * 1e3:.1f} | {med / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
