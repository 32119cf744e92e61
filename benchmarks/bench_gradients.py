#!/usr/bin/env python3
"""Speed of matdiff's compiled gradients and Hessians against hand-written NumPy, JAX, autograd, torch.

    python benchmarks/bench_gradients.py                 # threads pinned to one (the figures we quote)
    python benchmarks/bench_gradients.py --threads default
    python benchmarks/bench_gradients.py --sizes 100 300 --repeat 7 --markdown out.md
    python benchmarks/bench_gradients.py --sizes 1000 --only logistic "log(sum" --repeat 5

``--only`` keeps the problems whose name contains one of the words given.  The AD frameworks' dense Hessians
are not run above n = AD_HESSIAN_MAX_N (jacfwd of jacrev vmaps n reverse passes: at n = 1000 with X 4000 x 1000
that holds gigabytes of intermediates); their hvp rows are.

Every function runs in this one process, side by side, float64, on the same inputs; each time is the median of
``--repeat`` calls after a warm-up call (which also triggers JIT compilation).
Results are checked against the hand-written gradient before they are timed.  OPENBLAS_CORETYPE
and OPENBLAS_L2_SIZE are unset (they slow a current OpenBLAS down); the kernel OpenBLAS then
picks is printed.  Optional competitors that are not installed are reported as such.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

for _k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(_k, None)
if "--threads" not in sys.argv or "pinned" in sys.argv:  # must precede the imports of numpy/jax/torch
    for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_k] = "1"
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    if hasattr(os, "sched_setaffinity"):  # and the process on one core: XLA's CPU client keeps a thread pool
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})  # whatever the flags (1.6 cores, measured)

import numpy as np  # noqa: E402
import scipy.linalg as sla  # noqa: E402
from scipy.linalg.blas import dsyrk  # noqa: E402
from scipy.special import expit  # noqa: E402

import matdiff  # noqa: E402


def _optional(name: str):
    try:
        return __import__(name)
    except Exception:
        return None


jax = _optional("jax")
if jax is not None:
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp  # noqa: E402
torch = _optional("torch")
autograd = _optional("autograd")
if autograd is not None:
    import autograd.numpy as anp  # noqa: E402
threadpoolctl = _optional("threadpoolctl")


# ------------------------------------------------------------------------------------ problems
def spd(n: int, rng: np.random.Generator) -> np.ndarray:
    b = rng.standard_normal((n, n))
    return b @ b.T / n + np.eye(n)


def well(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.eye(n) + rng.standard_normal((n, n)) / (3 * np.sqrt(n))


def problems(n: int, rng: np.random.Generator) -> list[dict]:
    out = []
    A, X, B = rng.standard_normal((n, n)), rng.standard_normal((n, n)), rng.standard_normal((n, n))
    out.append(dict(
        name="least squares norm_fro(A*X-B)^2", expr="norm_fro(A*X-B)^2", wrt="X", types=None,
        values=dict(A=A, X=X, B=B),
        numpy=lambda A, X, B: 2 * A.T @ (A @ X - B),
        jax=lambda A, X, B: jnp.sum((A @ X - B) ** 2),
        torch=lambda A, X, B: ((A @ X - B) ** 2).sum(),
        autograd=lambda A, X, B: anp.sum((anp.dot(A, X) - B) ** 2)))
    S, C = spd(n, rng), spd(n, rng)

    def nll_numpy(S, C):
        c = sla.cho_factor(S, lower=True)
        Si = sla.cho_solve(c, np.eye(S.shape[0]))
        return Si - Si @ C @ Si
    out.append(dict(
        name="Gaussian NLL logdet(S)+tr(inv(S)*C), S spd", expr="logdet(S) + tr(inv(S)*C)", wrt="S",
        types={"S": "spd"}, values=dict(S=S, C=C), numpy=nll_numpy,
        jax=lambda S, C: jnp.linalg.slogdet(S)[1] + jnp.trace(jnp.linalg.solve(S, C)),
        torch=lambda S, C: torch.linalg.slogdet(S)[1] + torch.trace(torch.linalg.solve(S, C)),
        autograd=lambda S, C: anp.linalg.slogdet(S)[1] + anp.trace(anp.linalg.solve(S, C))))
    A2, x = well(n, rng), rng.standard_normal(n)

    def quad_inv_numpy(x, A):
        lu = sla.lu_factor(A)
        u, v = sla.lu_solve(lu, x, trans=1), sla.lu_solve(lu, x)
        return -np.outer(u, v)
    out.append(dict(
        name="x'*inv(A)*x wrt A", expr="x'*inv(A)*x", wrt="A", types=None, values=dict(x=x, A=A2),
        numpy=quad_inv_numpy,
        jax=lambda x, A: x @ jnp.linalg.solve(A, x),
        torch=lambda x, A: x @ torch.linalg.solve(A, x),
        autograd=lambda x, A: anp.dot(x, anp.linalg.solve(A, x))))
    Xd = rng.standard_normal((4 * n, n)) / np.sqrt(n)
    y = rng.choice([-1.0, 1.0], 4 * n)
    w = rng.standard_normal(n)
    c = 0.1

    def logistic_numpy(y, X, w, c):  # an expert's: expit, in place, two passes over X
        s = X @ w
        s *= -y
        s = expit(s, out=s)
        s *= y
        g = s @ X
        g *= -1
        g += 2 * c * w
        return g
    out.append(dict(
        name="logistic loss (X 4n x n)", expr="sum(log(1+exp(-y.*(X*w)))) + c*w'*w", wrt="w", types=None,
        values=dict(y=y, X=Xd, w=w, c=c), numpy=logistic_numpy,
        jax=lambda y, X, w, c: jnp.sum(jnp.log1p(jnp.exp(-y * (X @ w)))) + c * w @ w,
        torch=lambda y, X, w, c: torch.log1p(torch.exp(-y * (X @ w))).sum() + c * w @ w,
        autograd=lambda y, X, w, c: anp.sum(anp.log1p(anp.exp(-y * anp.dot(X, w)))) + c * anp.dot(w, w)))
    Xw = well(n, rng)

    def det_numpy(X):  # one LU: det from its pivots, X^-T by its solves
        lu, piv = sla.lu_factor(X)
        d = np.prod(np.diag(lu)) * (-1.0 if np.count_nonzero(piv != np.arange(len(piv))) % 2 else 1.0)
        return d * sla.lu_solve((lu, piv), np.eye(X.shape[0]), trans=1)
    out.append(dict(
        name="det(X)", expr="det(X)", wrt="X", types=None, values=dict(X=Xw),
        numpy=det_numpy,
        jax=lambda X: jnp.linalg.det(X),
        torch=lambda X: torch.linalg.det(X),
        autograd=lambda X: anp.linalg.det(X)))
    X4, A4, B4 = rng.standard_normal((n, n)), rng.standard_normal((n, n)), rng.standard_normal((n, n))
    out.append(dict(
        name="tr(X'*A*X*B)", expr="tr(X'*A*X*B)", wrt="X", types=None, values=dict(X=X4, A=A4, B=B4),
        numpy=lambda X, A, B: A @ X @ B + A.T @ X @ B.T,
        jax=lambda X, A, B: jnp.trace(X.T @ A @ X @ B),
        torch=lambda X, A, B: torch.trace(X.T @ A @ X @ B),
        autograd=lambda X, A, B: anp.trace(anp.dot(anp.dot(anp.dot(X.T, A), X), B))))
    return out


def hessian_problems(n: int, rng: np.random.Generator) -> list[dict]:
    out = []
    X = rng.standard_normal((4 * n, n)) / np.sqrt(n)
    y = rng.choice([-1.0, 1.0], 4 * n)
    w = rng.standard_normal(n)
    c = 0.1

    def logistic_h(y, X, w, c):  # X' diag(s (1 - s)) X + 2c I, s = sigmoid(y .* Xw): dsyrk, mirror, one buffer
        s = expit(y * (X @ w))
        s *= 1 - s
        W = X * np.sqrt(s)[:, None]
        H = dsyrk(1.0, W.T, trans=0)  # W' is Fortran-ordered: no copy
        H += np.triu(H, 1).T
        H.flat[::H.shape[0] + 1] += 2 * c
        return H

    def logistic_hvp(y, X, w, c, v):  # three passes over X
        s = expit(y * (X @ w))
        s *= 1 - s
        s *= X @ v
        out = s @ X
        out += 2 * c * v
        return out
    out.append(dict(
        name="Hessian: logistic loss", expr="sum(log(1+exp(-y.*(X*w)))) + c*w'*w", wrt="w",
        values=dict(y=y, X=X, w=w, c=c), numpy=logistic_h, hvp=logistic_hvp,
        jax=lambda y, X, w, c: jnp.sum(jnp.log1p(jnp.exp(-y * (X @ w)))) + c * w @ w,
        torch=lambda y, X, w, c: torch.log1p(torch.exp(-y * (X @ w))).sum() + c * w @ w))
    A = rng.standard_normal((n, n))
    x = rng.standard_normal(n)

    def lse_h(x, A):  # one output buffer
        p = np.exp(x - x.max())
        p /= p.sum()
        H = A + A.T
        H -= np.outer(p, p)
        H.flat[::H.shape[0] + 1] += p
        return H

    def lse_hvp(x, A, v):
        p = np.exp(x - x.max())
        p /= p.sum()
        out = A @ v
        out += v @ A
        out += p * (v - p @ v)
        return out
    out.append(dict(
        name="Hessian: x'*A*x + log(sum(exp(x)))", expr="x'*A*x + log(sum(exp(x)))", wrt="x",
        values=dict(x=x, A=A), numpy=lse_h, hvp=lse_hvp,
        jax=lambda x, A: x @ A @ x + jnp.log(jnp.sum(jnp.exp(x))),
        torch=lambda x, A: x @ A @ x + torch.log(torch.exp(x).sum())))
    return out


# ---------------------------------------------------------------------------------------- timing
def _calls_per_sample(fn) -> int:
    """How many calls one timed sample makes: one where a call takes 2 ms or more, else a loop of about 2 ms
    (a single call of 10 us is mostly the timer and the loop around it).  Also the warm-up (and JIT compilation)."""
    fn()
    t = time.perf_counter()
    fn()
    t = time.perf_counter() - t
    return max(1, min(1000, int(2e-3 / max(t, 1e-7))))


def _sample(fn, number: int) -> float:
    t = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t) / number


def median_time(fn, repeat: int) -> float:
    """The median over ``repeat`` samples of one call's time (a sample of a fast function: a loop of calls)."""
    number = _calls_per_sample(fn)
    times = []
    budget = time.perf_counter() + 20.0
    for _ in range(repeat):
        times.append(_sample(fn, number))
        if time.perf_counter() > budget and len(times) >= 3:
            break
    return statistics.median(times)


def _argnum(p: dict) -> int:
    return list(p["values"]).index(p["wrt"])


def competitors(p: dict, hessian: bool = False, direction=None) -> dict:
    """The AD frameworks' gradient, Hessian, or (direction given) Hessian-vector product by forward-over-reverse."""
    vals, k = p["values"], _argnum(p)
    args = list(vals.values())
    out: dict = {}
    if jax is not None:
        jargs = [jnp.asarray(a) for a in args]
        if direction is not None:
            jv = jnp.asarray(direction)

            def jhvp(*a):
                g = jax.grad(p["jax"], argnums=k)
                *head, v = a
                return jax.jvp(lambda t: g(*head[:k], t, *head[k + 1:]), (head[k],), (v,))[1]
            fh = jax.jit(jhvp)
            out["jax.jit"] = (lambda: np.asarray(fh(*jargs, jv).block_until_ready()))
        else:
            f = jax.jit(jax.hessian(p["jax"], argnums=k) if hessian else jax.grad(p["jax"], argnums=k))
            out["jax.jit"] = (lambda: np.asarray(f(*jargs).block_until_ready()))
    if torch is not None:
        import torch.func as tf
        targs = [torch.as_tensor(np.asarray(a, dtype=float)) for a in args]
        if direction is not None:
            tv = torch.as_tensor(direction)

            def thvp():
                g = tf.grad(p["torch"], argnums=k)
                return tf.jvp(lambda t: g(*targs[:k], t, *targs[k + 1:]), (targs[k],), (tv,))[1].numpy()
            out["torch.func"] = thvp
            return out
        g = tf.hessian(p["torch"], argnums=k) if hessian else tf.grad(p["torch"], argnums=k)
        out["torch.func"] = (lambda: g(*targs).numpy())
    if autograd is not None and not hessian and "autograd" in p:
        from autograd import grad as agrad
        g2 = agrad(p["autograd"], k)
        out["autograd"] = (lambda: g2(*args))
    return out


def derive_compile_ms(make) -> float:
    """Milliseconds to derive and compile (the first call of make(), as a user's first line runs it)."""
    t = time.perf_counter()
    make()
    return 1e3 * (time.perf_counter() - t)


AD_HESSIAN_MAX_N = 500


def _wanted(name: str, only: list[str] | None) -> bool:
    return not only or any(w in name for w in only)


def run(sizes: list[int], repeat: int, threads: str, only: list[str] | None = None) -> tuple[list[dict], list[dict]]:
    rows, hrows = [], []
    for n in sizes:
        rng = np.random.default_rng(n)
        for p in problems(n, rng):
            if not _wanted(p["name"], only):
                continue
            vals = p["values"]
            ref = np.asarray(p["numpy"](**vals))
            fn = matdiff.grad(p["expr"], wrt=p["wrt"], types=p["types"]).compile()
            if n == sizes[0]:
                DERIVE[p["name"]] = derive_compile_ms(
                    lambda: matdiff.grad(p["expr"] + " + 0", wrt=p["wrt"], types=p["types"]).compile())
            got = np.asarray(fn(**vals))
            err = np.linalg.norm(got - ref) / np.linalg.norm(ref)
            t_hand, t_md = paired(lambda: p["numpy"](**vals), lambda: fn(**vals), repeat)
            row = dict(problem=p["name"], n=n, hand=t_hand, matdiff=t_md, err=err)
            for name, f in competitors(p).items():
                g = np.asarray(f())
                e2 = np.linalg.norm(g.reshape(ref.shape) - ref) / np.linalg.norm(ref)
                row[name] = median_time(f, repeat) if e2 < 1e-6 else float("nan")
            rows.append(row)
            print(_fmt_row(row), flush=True)
        for p in hessian_problems(n, rng):
            if not _wanted(p["name"], only):
                continue
            vals = p["values"]
            ref = p["numpy"](**vals)
            h = matdiff.hessian(p["expr"], wrt=p["wrt"]).compile()
            err = np.linalg.norm(h(**vals) - ref) / np.linalg.norm(ref)
            t_hand, t_md = paired(lambda: p["numpy"](**vals), lambda: h(**vals), repeat)
            row = dict(problem=p["name"], n=n, hand=t_hand, matdiff=t_md, err=err)
            for name, f in (competitors(p, hessian=True) if n <= AD_HESSIAN_MAX_N else {}).items():
                e2 = np.linalg.norm(np.asarray(f()) - ref) / np.linalg.norm(ref)
                row[name] = median_time(f, max(3, repeat // 2)) if e2 < 1e-6 else float("nan")
            hrows.append(row)
            print(_fmt_row(row), flush=True)
            # the Hessian-vector product: compiled once (h.compile(hvp=True)), against the expert's and the AD
            # frameworks' forward-over-reverse
            hs = matdiff.hessian(p["expr"], wrt=p["wrt"])
            f_hvp = hs.compile(hvp=True)
            v = rng.standard_normal(np.shape(vals[p["wrt"]]))
            ref = p["hvp"](**vals, v=v)
            err = np.linalg.norm(f_hvp(v, **vals) - ref) / np.linalg.norm(ref)
            hand = p["hvp"]
            t_hand, t_md = paired(lambda: hand(**vals, v=v), lambda: f_hvp(v, **vals), repeat)
            row = dict(problem=p["name"].replace("Hessian", "hvp"), n=n, hand=t_hand, matdiff=t_md, err=err)
            for name, f in competitors(p, direction=v).items():
                e2 = np.linalg.norm(np.asarray(f()) - ref) / np.linalg.norm(ref)
                row[name] = median_time(f, repeat) if e2 < 1e-6 else float("nan")
            hrows.append(row)
            print(_fmt_row(row), flush=True)
    return rows, hrows


DERIVE: dict[str, float] = {}


def paired(a, b, repeat: int) -> tuple[float, float]:
    """Medians of a and b sampled alternately (the machine's load hits both alike), each sample as in
    median_time: a loop of calls where one call is fast, the same number of calls for both."""
    number = min(_calls_per_sample(a), _calls_per_sample(b))
    ta, tb = [], []
    budget = time.perf_counter() + 20.0
    for _ in range(repeat):
        ta.append(_sample(a, number))
        tb.append(_sample(b, number))
        if time.perf_counter() > budget and len(ta) >= 3:
            break
    return statistics.median(ta), statistics.median(tb)


COLS = ["matdiff", "jax.jit", "autograd", "torch.func"]


def _fmt_row(r: dict) -> str:
    parts = [f"{r['problem']:45s} n={r['n']:5d} hand {1e3 * r['hand']:9.3f} ms"]
    for c in COLS:
        if c in r:
            parts.append(f"{c} {r[c] / r['hand']:6.2f}x")
    parts.append(f"(matdiff rel. err {r['err']:.1e})")
    return "  ".join(parts)


def markdown(rows: list[dict], title: str) -> str:
    cols = [c for c in COLS if any(c in r for r in rows)]
    head = "| problem | n | hand-written (ms) | " + " | ".join(f"{c} (x hand)" for c in cols) + " |"
    lines = [f"### {title}", "", head, "|" + "---|" * (3 + len(cols))]
    for r in rows:
        cells = [f"{r[c] / r['hand']:.2f}" if c in r and r[c] == r[c] else "—" for c in cols]
        lines.append(f"| {r['problem']} | {r['n']} | {1e3 * r['hand']:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    lines = []
    if any("jax.jit" in r for r in rows):
        ratios = [r["matdiff"] / r["jax.jit"] for r in rows if "jax.jit" in r and r["jax.jit"] == r["jax.jit"]]
        if ratios:
            gm = float(np.exp(np.mean(np.log(ratios))))
            lines.append(f"matdiff / jax.jit: geometric mean {gm:.2f}, worst {max(ratios):.2f}")
    for n in sorted({r["n"] for r in rows}):
        worst = max(r["matdiff"] / r["hand"] for r in rows if r["n"] == n)
        lines.append(f"n = {n}: worst matdiff / hand-written {worst:.2f}")
    return "\n".join(lines)


def blas_info() -> str:
    if threadpoolctl is None:
        return "threadpoolctl not installed"
    info = threadpoolctl.threadpool_info()
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
                     f"threads={i.get('num_threads')}" for i in info)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--threads", choices=["pinned", "default"], default="pinned")
    ap.add_argument("--markdown", help="also write the tables to this file")
    ap.add_argument("--only", nargs="+", help="only the problems whose name contains one of these words")
    args = ap.parse_args()
    if torch is not None and args.threads == "pinned":
        torch.set_num_threads(1)
    ctx = threadpoolctl.threadpool_limits(1) if (threadpoolctl and args.threads == "pinned") else None
    print(f"matdiff {matdiff.__version__}, numpy {np.__version__}, python {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} cores, threads {args.threads}"
          f"{', on CPU ' + str(sorted(os.sched_getaffinity(0))) if hasattr(os, 'sched_getaffinity') else ''}")
    print(f"BLAS: {blas_info()}")
    print(f"jax {getattr(jax, '__version__', 'not installed')}, torch {getattr(torch, '__version__', 'not installed')}"
          f", autograd {'installed' if autograd else 'not installed'}")
    try:
        rows, hrows = run(args.sizes, args.repeat, args.threads, args.only)
    finally:
        if ctx is not None:
            ctx.unpin() if hasattr(ctx, "unpin") else None
    derive = "\n".join(["### Derive + compile (first call, ms)", "", "| problem | ms |", "|---|---|"]
                       + [f"| {k} | {v:.1f} |" for k, v in DERIVE.items()])
    text = "\n\n".join([markdown(rows, f"Gradients (threads {args.threads})"), summary(rows),
                        markdown(hrows, f"Hessians and Hessian-vector products (threads {args.threads})"),
                        summary(hrows), summary(rows + hrows).split("\n")[0], derive])
    print()
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
