"""Evaluation time: matdiff.evaluate, GradientResult.evaluate, Derivative.jacobian (min of 7 x 50 calls, n = 5).

    PYTHONPATH=<old checkout>/src python benchmarks/bench_evaluate.py   # before
    python benchmarks/bench_evaluate.py                                 # after
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

import matdiff


def cases(n: int = 5) -> list[tuple[str, Callable[[], object]]]:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n)) + 3 * np.eye(n)
    B = rng.standard_normal((n, n))
    x, y = rng.standard_normal(n), rng.standard_normal(n)
    X, w = rng.standard_normal((4 * n, n)), rng.standard_normal(n)
    labels = np.sign(rng.standard_normal(4 * n))
    quad = matdiff.grad("x'*inv(A)*x", wrt="A")
    logistic = matdiff.grad("sum(log(1 + exp(-y.*(X*w))))", wrt="w", types={"y": "vector"})
    jac = matdiff.derivative("inv(A)*B", wrt="A")
    return [
        ("evaluate x'*A*y", lambda: matdiff.evaluate("x'*A*y", {"x": x, "A": A, "y": y})),
        ("grad x'*inv(A)*x .evaluate", lambda: quad.evaluate({"x": x, "A": A})),
        ("grad logistic .evaluate", lambda: logistic.evaluate({"X": X, "w": w, "y": labels})),
        ("jacobian inv(A)*B", lambda: jac.jacobian({"A": A, "B": B})),
    ]


def main() -> None:
    for name, f in cases():
        f()
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            for _ in range(50):
                f()
            times.append((time.perf_counter() - t0) / 50)
        print(f"{name:32s} {min(times) * 1e6:8.1f} us")


if __name__ == "__main__":
    main()
