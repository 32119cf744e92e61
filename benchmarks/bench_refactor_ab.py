"""A/B of two checkouts of matdiff in one run: derivation time and compiled-gradient call time.

    python benchmarks/bench_refactor_ab.py --old /path/to/old/src --new src [--repeat 21]

Each side runs in its own subprocess (a package cannot be imported twice), alternately, several
rounds; per case the median over rounds of each side's median is reported, with new/old.  Also checks
that both sides generate the same source for every case (the refactor changed no generated code).
Threads pinned to one; OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CASES = [  # (expr, wrt, types)
    ("norm_fro(A*X - B)^2", "X", None),
    ("logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"}),
    ("x'*inv(A)*x", "A", None),
    ("sum(log(1 + exp(-y.*(X*w))))", "w", {"y": "vector"}),
    ("det(X)", "X", None),
    ("tr(X'*A*X*B)", "X", None),
    ("norm2(A*x - b)^2", "x", {"b": "vector"}),
    ("x'*A*x + log(sum(exp(x)))", "x", None),
]

CHILD = r"""
import json, sys, time, statistics
import numpy as np
import contextlib
try:
    from threadpoolctl import threadpool_limits
except ImportError:  # the environment variables pin the threads already
    threadpool_limits = lambda n: contextlib.nullcontext()
import matdiff
cases = json.loads(sys.argv[1]); repeat = int(sys.argv[2]); n = int(sys.argv[3])
rng = np.random.default_rng(0)
def values(expr, types):
    t, vs = matdiff.api.typed(expr, types)
    out = {}
    sizes = {}
    for name, v in vs.items():
        if v.is_scalar: out[name] = 0.5
        elif v.is_vector: out[name] = rng.standard_normal(n)
        elif v.kind == "spd": M = rng.standard_normal((n, n)); out[name] = M @ M.T / n + np.eye(n)
        else: out[name] = rng.standard_normal((n, n)) + n ** 0.5 * np.eye(n)
    if "y" in out: out["y"] = np.sign(out["y"])
    return out
res = {}
with threadpool_limits(1):
    for expr, wrt, types in cases:
        der = []
        for _ in range(repeat):
            t0 = time.perf_counter(); r = matdiff.grad(expr, wrt=wrt, types=types); der.append(time.perf_counter() - t0)
        f = r.compile(); v = values(expr, types); f(**v)
        call = []
        for _ in range(repeat):
            t0 = time.perf_counter(); f(**v); call.append(time.perf_counter() - t0)
        res[expr] = {"derive": statistics.median(der), "call": statistics.median(call), "source": r.source()}
print(json.dumps(res))
"""


def run(src: str, repeat: int, n: int) -> dict:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(src), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(CASES), str(repeat), str(n)], env=env,
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{src}: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", default="src")
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=100)
    a = ap.parse_args()
    rounds: dict[str, list[dict]] = {"old": [], "new": []}
    for _ in range(a.rounds):
        for side in ("old", "new"):
            rounds[side].append(run(getattr(a, side), a.repeat, a.n))
    print(f"n = {a.n}, {a.rounds} rounds x {a.repeat} repeats, medians; new/old")
    print("| expression | derive old (ms) | derive new/old | call old (µs) | call new/old | same source |")
    print("|---|---|---|---|---|---|")
    for expr, _, _ in CASES:
        d = {s: statistics.median(r[expr]["derive"] for r in rounds[s]) for s in rounds}
        c = {s: statistics.median(r[expr]["call"] for r in rounds[s]) for s in rounds}
        same = rounds["old"][0][expr]["source"] == rounds["new"][0][expr]["source"]
        print(f"| `{expr}` | {1e3 * d['old']:.3f} | {d['new'] / d['old']:.2f} | {1e6 * c['old']:.1f} | "
              f"{c['new'] / c['old']:.2f} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
