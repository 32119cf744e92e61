#!/usr/bin/env python3
"""Derivation time: matdiff.grad against SymPy's matrix-expression diff, with SymPy's answers checked.

    python benchmarks/bench_derivation.py            # the six benchmark problems + the conformance set

For each problem: the median time of ``matdiff.grad`` (parse, differentiate, identify, simplify,
steps) and of SymPy's ``expr.diff(X)``; SymPy's result is evaluated at a random point (n = 3)
and compared with central differences, so a wrong or unsupported answer is reported as such.
The conformance set's median derivation time is printed too (the goal is under 1 ms).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

import matdiff

try:
    import sympy as sp
except ImportError:  # pragma: no cover
    sp = None

N = 3


def median_ms(fn, repeat: int = 30) -> float:
    fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return 1e3 * statistics.median(ts)


def sympy_problems():
    """(name, matdiff expr, wrt, types, sympy builder, values)."""
    rng = np.random.default_rng(0)
    S0 = rng.standard_normal((N, N))
    S0 = S0 @ S0.T + N * np.eye(N)
    C0 = rng.standard_normal((N, N))
    C0 = C0 @ C0.T
    vals = dict(A=rng.standard_normal((N, N)) + 3 * np.eye(N), X=rng.standard_normal((N, N)) + 3 * np.eye(N),
                B=rng.standard_normal((N, N)), S=S0, C=C0, x=rng.standard_normal(N), y=rng.choice([-1.0, 1.0], N),
                w=rng.standard_normal(N), c=0.3)

    def M(name, m=N, n=N):
        return sp.MatrixSymbol(name, m, n)

    out = [
        ("least squares", "norm_fro(A*X-B)^2", "X", None,
         lambda: (lambda A, X, B: (sp.Trace((A * X - B).T * (A * X - B)), X))(M("A"), M("X"), M("B"))),
        ("Gaussian NLL (S spd)", "logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"},
         lambda: (lambda S, C: (sp.log(sp.Determinant(S)) + sp.Trace(sp.Inverse(S) * C), S))(M("S"), M("C"))),
        ("x'*inv(A)*x wrt A", "x'*inv(A)*x", "A", None,
         lambda: (lambda x, A: (x.T * sp.Inverse(A) * x, A))(M("x", N, 1), M("A"))),
        ("logistic loss", "sum(log(1+exp(-y.*(X*w)))) + c*w'*w", "w", None,
         lambda: (lambda y, X, w, c: (sum(sp.log(1 + sp.exp(-sp.HadamardProduct(y, X * w)[i, 0]))
                                          for i in range(N)) + c * (w.T * w)[0, 0], w))(
             M("y", N, 1), M("X"), M("w", N, 1), sp.Symbol("c"))),
        ("det(X)", "det(X)", "X", None, lambda: (lambda X: (sp.Determinant(X), X))(M("X"))),
        ("tr(X'*A*X*B)", "tr(X'*A*X*B)", "X", None,
         lambda: (lambda X, A, B: (sp.Trace(X.T * A * X * B), X))(M("X"), M("A"), M("B"))),
    ]
    return out, vals


def _numeric(expr: str, wrt: str, values: dict, types) -> np.ndarray:
    """The gradient by central differences (the reference)."""
    x = np.asarray(values[wrt], dtype=float)
    g = np.zeros(x.shape)
    h = 1e-6
    for idx in np.ndindex(*x.shape):
        e = np.zeros(x.shape)
        e[idx] = h
        up = dict(values, **{wrt: x + e})
        dn = dict(values, **{wrt: x - e})
        # plain (unstructured) types: single-entry steps leave the symmetric matrices
        g[idx] = (matdiff.evaluate(expr, up) - matdiff.evaluate(expr, dn)) / (2 * h)
    if types and types.get(wrt) in ("spd", "symmetric"):
        g = (g + g.T) / 2  # the gradient on symmetric matrices
    return g


def _sympy_value(res, values: dict, wrt: str, types) -> np.ndarray:
    subs = {}
    for name, v in values.items():
        v = np.asarray(v, dtype=float)
        if v.ndim == 0:
            subs[sp.Symbol(name)] = float(v)
        elif v.ndim == 1:
            subs[sp.MatrixSymbol(name, N, 1)] = sp.Matrix(v.reshape(-1, 1))
        else:
            subs[sp.MatrixSymbol(name, N, N)] = sp.Matrix(v)
    val = res.subs(subs).doit()
    arr = np.array(sp.Matrix(val).evalf(), dtype=float) if hasattr(val, "shape") else np.array(float(val))
    arr = arr.reshape(np.shape(values[wrt])) if arr.size == np.size(values[wrt]) else arr
    if types and types.get(wrt) in ("spd", "symmetric") and arr.ndim == 2:
        arr = (arr + arr.T) / 2
    return arr


def main() -> int:
    rows = []
    if sp is None:
        print("sympy is not installed: only matdiff's times are shown")
    problems, vals = sympy_problems() if sp else ([], {})
    for name, expr, wrt, types, build in problems:
        t_md = median_ms(lambda: matdiff.grad(expr, wrt=wrt, types=types))
        f, X = build()
        try:
            t_sp = median_ms(lambda: f.diff(X), repeat=5)
            res = f.diff(X)
            ref = _numeric(expr, wrt, vals, types)
            got = _sympy_value(res, vals, wrt, types)
            err = np.linalg.norm(got.reshape(ref.shape) - ref) / np.linalg.norm(ref)
            verdict = "right" if err < 1e-5 else f"WRONG (rel. error {err:.1e})"
            if isinstance(res, sp.Derivative) or type(res).__name__ == "ArrayDerivative":
                verdict = "fails: returns the derivative unevaluated"
        except Exception as e:  # noqa: BLE001 - SymPy raising is a result here
            t_sp, verdict = float("nan"), f"fails: {type(e).__name__}"
        rows.append((name, t_md, t_sp, verdict))
        print(f"{name:28s} matdiff {t_md:7.3f} ms   sympy {t_sp:8.2f} ms   sympy: {verdict}", flush=True)
    # the conformance set
    here = os.path.dirname(os.path.abspath(__file__))
    cases_path = os.path.join(here, "..", "..", "shared", "conformance", "cases.py")
    if os.path.exists(cases_path):
        sys.path.insert(0, os.path.dirname(cases_path))
        import cases  # type: ignore

        fns = {"grad": matdiff.grad, "jacobian": matdiff.derivative, "hessian": matdiff.hessian}
        times = []
        for c in cases.CASES:
            if c["kind"] in fns:
                fn = fns[c["kind"]]
                times.append(median_ms(lambda c=c, fn=fn: fn(c["expr"], wrt=c["wrt"], types=c["types"] or None), 20))
        grads = [t for t, c in zip(times, [c for c in cases.CASES if c["kind"] in fns]) if c["kind"] == "grad"]
        print(f"\nconformance set: {len(times)} derivations, median {statistics.median(times):.3f} ms "
              f"(gradients only: median {statistics.median(grads):.3f} ms, max {max(grads):.2f} ms); "
              f"all kinds max {max(times):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
