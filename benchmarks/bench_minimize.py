"""matdiff.minimize: the five guide problems against their references, and time to solution on logistic
regression (X 5000 x 200) against SciPy's L-BFGS-B driven by an expert's value-and-gradient and by
jax.jit(jax.value_and_grad).

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset and BLAS/XLA threads pinned to one (as bench_gradients.py).
Every solver runs to the same stopping rule: the largest entry of the projected gradient at most
tol * max(1, that at the start), with ftol = 0. Timing is paired: each round runs every solver once, in an
order that rotates from round to round, and the ratio to the expert is taken within the round; the table
gives the median time, and the median ratio with its spread (min, quartiles, max) over --repeat rounds.
Derivation + compilation (matdiff) and tracing + XLA compilation (jax.jit) are timed apart, cold (matdiff's
problem cache cleared, a fresh jit), and the ratios are given without and with them.

Also: the Gaussian MLE over spd S at n = 10, 20, 30 and condition numbers 1e2..1e4 (error against the sample
covariance), and L-BFGS against trust-krylov with compiled Hessian-vector products (method="newton").

    python benchmarks/bench_minimize.py [--repeat 21] [--n 5000 --p 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

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


def mle_sweep() -> list[tuple[int, float, float, float, bool, str]]:
    """(n, target cond, max |S - C|, seconds, success, method) for sample covariances of N(0, Q diag(1..1/cond) Q'),
    20 n draws, two seeds each."""
    out = []
    for n in (10, 20, 30):
        for cond in (1e2, 1e3, 1e4):
            for seed in (0, 1):
                rng = np.random.default_rng(seed)
                Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
                Z = rng.standard_normal((20 * n, n)) @ (Q * np.sqrt(np.logspace(0, -np.log10(cond), n))).T
                C = np.cov(Z.T, bias=True)
                t = time.perf_counter()
                r = matdiff.minimize("logdet(S) + tr(inv(S)*C)", wrt="S", values={"C": C}, types={"S": "spd"})
                out.append((n, cond, float(np.max(np.abs(r.x["S"] - C))), time.perf_counter() - t, r.success,
                            r.method))
    return out


def _logistic_data(n: int, p: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = np.where(rng.random(n) < expit(X @ (rng.standard_normal(p) * 3 / np.sqrt(p))), 1.0, -1.0)
    return X, y


EXPR = "sum(log(1 + exp(-y.*(X*w)))) + lam*w'*w"


COLD = """
import time, matdiff
from matdiff.optimize.problem import make_problem
t = time.perf_counter()
prob, _ = make_problem(%r, ["w"], {"lam": "scalar"}, [])
prob.raw_objective()
print(time.perf_counter() - t)
"""


def cold_derive_compile(runs: int = 3) -> float:
    """Seconds to derive and compile the logistic objective in a fresh process (matdiff imported first; the
    median of ``runs`` processes)."""
    import subprocess
    out = [float(subprocess.run([sys.executable, "-c", COLD % EXPR], capture_output=True, text=True, check=True,
                                env=os.environ).stdout.split()[-1]) for _ in range(runs)]
    return statistics.median(out)


def logistic_timing(n: int, p: int, repeat: int, tol: float) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Times to solution per solver (paired rounds) and the one-off costs (derive + compile, jit)."""
    X, y = _logistic_data(n, p)
    lam = 1.0
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
    once: dict[str, float] = {"matdiff derive + compile": cold_derive_compile()}
    runs: dict[str, Any] = {
        "matdiff.minimize": lambda: matdiff.minimize(EXPR, wrt="w", values=values, tol=tol).x["w"],
        "L-BFGS-B + expert fg": lambda: so.minimize(expert, w0, jac=True, method="L-BFGS-B", options=opts).x,
    }
    if jax is not None:
        Xj, yj = jnp.asarray(X), jnp.asarray(y)
        vg = jax.jit(jax.value_and_grad(lambda w: jnp.sum(jnp.logaddexp(0.0, -yj * (Xj @ w))) + lam * w @ w))

        def jax_fg(w):
            v, g = vg(w)
            return float(v), np.asarray(g, dtype=float)
        t0 = time.perf_counter()
        jax_fg(w0)  # trace and compile
        once["jax.jit trace + compile"] = time.perf_counter() - t0
        runs["L-BFGS-B + jax.jit(value_and_grad)"] = lambda: so.minimize(jax_fg, w0, jac=True, method="L-BFGS-B",
                                                                         options=opts).x
    ref = runs["L-BFGS-B + expert fg"]()
    for fn in runs.values():  # warm: one untimed run each
        fn()
    names = list(runs)
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeat):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t = time.perf_counter()
            x = runs[name]()
            times[name].append(time.perf_counter() - t)
            assert np.max(np.abs(x - ref)) < 1e-5, (name, np.max(np.abs(x - ref)))
    return times, once


def newton_vs_lbfgs(repeat: int) -> list[tuple[str, float, float, int, int]]:
    """(problem, median ms L-BFGS, median ms trust-krylov with compiled hvp, their iterations), paired rounds."""
    rng = np.random.default_rng(3)
    cases = []
    for n, p in ((5000, 200), (500, 20), (200, 5)):
        X, y = _logistic_data(n, p, seed=n + p)
        cases.append((f"logistic X {n} x {p}", EXPR, {"X": X, "y": y, "lam": 1.0}))
    A, b = rng.standard_normal((300, 50)), rng.standard_normal(300)
    A[:, 0] *= 100  # ill-conditioned least squares
    cases.append(("least squares, A 300 x 50, cond ~1e4", "norm2(A*x - b)^2 + 1e-3*norm2(x)^2", {"A": A, "b": b}))
    out = []
    for name, expr, values in cases:
        t_l, t_n = [], []
        wrt = "w" if "w" in expr else "x"
        for method in ("lbfgs", "newton"):  # derive + compile (and the Hessian) before timing
            matdiff.minimize(expr, wrt=wrt, values=values, method=method)
        for r in range(repeat):
            for method in (("lbfgs", "newton") if r % 2 == 0 else ("newton", "lbfgs")):
                t = time.perf_counter()
                res = matdiff.minimize(expr, wrt=wrt, values=values, method=method)
                (t_l if method == "lbfgs" else t_n).append(time.perf_counter() - t)
                assert res.success, (name, method, res.message)
                if method == "lbfgs":
                    nit_l = res.nit
                else:
                    nit_n = res.nit
        out.append((name, statistics.median(t_l) * 1e3, statistics.median(t_n) * 1e3, nit_l, nit_n))
    return out


def _spread(ratios: list[float]) -> str:
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f} / {q[0]:.2f}-{q[2]:.2f} / {max(ratios):.2f})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=21)
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
    print("\nGaussian MLE over spd S, sample covariance of 20 n draws of N(0, Q diag(1 .. 1/cond) Q'), 2 seeds")
    print("| n | cond | max abs error (worst of 2) | time (ms, worst) | success | method |\n|---|---|---|---|---|---|")
    sweep = mle_sweep()
    for i in range(0, len(sweep), 2):
        a, b = sweep[i], sweep[i + 1]
        meth = "L-BFGS + Newton finish" if "Newton" in a[5] + b[5] else "L-BFGS"
        print(f"| {a[0]} | {a[1]:.0e} | {max(a[2], b[2]):.1e} | {max(a[3], b[3]) * 1e3:.0f} | {a[4] and b[4]} | "
              f"{meth} |")
    times, once = logistic_timing(args.n, args.p, args.repeat, args.tol)
    base = times["L-BFGS-B + expert fg"]
    print(f"\nlogistic regression X {args.n} x {args.p}, tol {args.tol:g}, {args.repeat} paired rounds "
          "(ratio: median (min / quartiles / max))")
    print("| solver | median time to solution (ms) | ratio to expert, solve only | ratio with the one-off cost |\n"
          "|---|---|---|---|")
    one_off = {"matdiff.minimize": once.get("matdiff derive + compile", 0.0),
               "L-BFGS-B + jax.jit(value_and_grad)": once.get("jax.jit trace + compile", 0.0)}
    for name, ts in times.items():
        ratios = [t / e for t, e in zip(ts, base)]
        with_once = [(t + one_off.get(name, 0.0)) / e for t, e in zip(ts, base)]
        print(f"| {name} | {statistics.median(ts) * 1e3:.1f} | {_spread(ratios)} | {_spread(with_once)} |")
    for name, t in once.items():
        print(f"one-off: {name} {t * 1e3:.1f} ms")
    print("\nL-BFGS (auto) against trust-krylov with compiled Hessian-vector products (method='newton'), "
          f"median of {max(3, args.repeat // 3)} paired rounds")
    print("| problem | L-BFGS (ms) | trust-krylov (ms) | iterations L-BFGS / trust-krylov |\n|---|---|---|---|")
    for name, tl, tn, il, inn in newton_vs_lbfgs(max(3, args.repeat // 3)):
        print(f"| {name} | {tl:.1f} | {tn:.1f} | {il} / {inn} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
