#!/usr/bin/env python3
"""matdiff's generated gradients on tall Dask arrays: scaling with chunks and workers.

    PYTHONPATH=src python benchmarks/bench_dask.py                         # 10^6 and 10^7 rows
    PYTHONPATH=src python benchmarks/bench_dask.py --rows 1000000 --workers 1 2 --chunks 8 32 128

Problems (X of N rows and n columns, chunked by rows; w, c NumPy):

* least squares   ``norm2(X*w - y)^2`` wrt w: ``2*X'*(X*w - y)``: one pass, one tree reduction;
* logistic loss   ``sum(log(1+exp(-y.*(X*w)))) + c*w'*w``: value and gradient together, one pass.

Each time is the gradient alone (the median of ``--repeat`` computes; BLAS pinned to one thread):

* ``numpy (in memory)``: matdiff's NumPy code on the whole arrays, one thread;
* ``threads (local)``: dask's threaded scheduler (``num_workers`` threads) on the in-memory arrays;
* ``distributed``: a ``dask.distributed`` LocalCluster (``threads_per_worker=1``; threads, or
  processes with ``--processes``) holding X and y, generated there and persisted first.

Next to matdiff's graphs, the same computations written by hand in dask.array, to tell matdiff's
code from dask's own cost per chunk.  Scaling is bounded by the machine: this one has 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

for _k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(_k, None)
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one BLAS thread per worker
    os.environ[_k] = "1"

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import numpy as np  # noqa: E402
from dask.distributed import Client, LocalCluster, wait  # noqa: E402
from scipy.special import expit  # noqa: E402

import matdiff  # noqa: E402
from matdiff.numeric.codegen import build  # noqa: E402
from matdiff.runtime import wrapped  # noqa: E402

LSQ = "norm2(X*w - y)^2"
LOGISTIC = "sum(log(1+exp(-y.*(X*w)))) + c*w'*w"


def median(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


BASE_CHUNK = 250_000  # the data are generated in chunks of this many rows (the same numbers whatever --chunks)


def data(N: int, n: int):
    """X (N x n), y for least squares, y for logistic regression: the same numbers for every chunking."""
    rng = da.random.default_rng(N)
    base = min(BASE_CHUNK, N)
    X = rng.standard_normal((N, n), chunks=(base, n)) / np.sqrt(n)
    w_true = np.random.default_rng(0).standard_normal(n)
    y_lsq = X @ w_true + 0.1 * rng.standard_normal(N, chunks=base)
    y_log = da.where(X @ w_true + 0.5 * rng.standard_normal(N, chunks=base) > 0, 1.0, -1.0)
    return X, y_lsq, y_log


def rechunked(arrays, N: int, nchunks: int):
    chunk = -(-N // nchunks)
    X, y1, y2 = arrays
    return X.rechunk((chunk, X.shape[1])), y1.rechunk(chunk), y2.rechunk(chunk)


def hand_lsq(X, w, y):
    return 2 * (X.T @ (X @ w - y))


def hand_logistic(y, X, w, c):
    z = -y * (X @ w)
    return da.sum(da.logaddexp(0, z)) + c * (w @ w), -(X.T @ (y * expit(z))) + 2 * c * w


class Problems:
    def __init__(self, n: int):
        self.w = np.random.default_rng(1).standard_normal(n)
        self.r_lsq = matdiff.grad(LSQ, "w")
        self.fg = matdiff.compile(LOGISTIC, ["w"])
        self.f_lsq = wrapped(build(self.r_lsq.source(), "grad_w", "dask"))
        self.f_log = wrapped(build(self.fg.source(), "value_and_grad", "dask"))

    def graphs(self, X, y1, y2):
        w = self.w
        return {("matdiff", "lsq"): [self.f_lsq(X, w, y1)], ("matdiff", "log"): list(self.f_log(y2, X, w, 0.1)),
                ("hand", "lsq"): [hand_lsq(X, w, y1)], ("hand", "log"): list(hand_logistic(y2, X, w, 0.1))}


def check(got: list, ref) -> None:
    if len(got) == 1:
        err = np.linalg.norm(got[0] - ref) / np.linalg.norm(ref)
    else:
        err = max(abs(got[0] - ref[0]) / abs(ref[0]),
                  np.linalg.norm(got[1] - ref[1]["w"]) / np.linalg.norm(ref[1]["w"]))
    assert err < 1e-10, err


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--cols", type=int, default=10)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--chunks", type=int, nargs="+", default=[4, 16, 64], help="numbers of row chunks")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--processes", action="store_true", help="distributed workers as processes (default: threads)")
    ap.add_argument("--markdown", help="also write the table to this file")
    args = ap.parse_args()
    P = Problems(args.cols)
    print(f"matdiff {matdiff.__version__}, dask {dask.__version__}, numpy {np.__version__}, {os.cpu_count()} cores")
    rows = []
    for N in args.rows:
        # NumPy in memory (one thread), and dask's local threaded scheduler on the same in-memory data
        Xn, y1n, y2n = dask.compute(*data(N, args.cols), scheduler="threads")
        g_np = P.r_lsq.compile()
        ref = {"lsq": g_np(X=Xn, w=P.w, y=y1n), "log": P.fg(y=y2n, X=Xn, w=P.w, c=0.1)}
        rows.append(dict(N=N, scheduler="numpy (in memory)", workers=1, chunks="—",
                         lsq=median(lambda: g_np(X=Xn, w=P.w, y=y1n), args.repeat),
                         log=median(lambda: P.fg(y=y2n, X=Xn, w=P.w, c=0.1), args.repeat)))
        print(_line(rows[-1]), flush=True)
        local = [da.from_array(a, chunks=a.shape) for a in (Xn, y1n, y2n)]
        for k in args.workers:
            for nchunks in args.chunks:
                g = P.graphs(*rechunked(local, N, nchunks))
                row = dict(N=N, scheduler="threads (local)", workers=k, chunks=nchunks)
                for (who, prob), arrays in g.items():
                    check(list(dask.compute(*arrays, scheduler="threads", num_workers=k)), ref[prob])
                    row[f"{who} {prob}"] = median(
                        lambda a=arrays: dask.compute(*a, scheduler="threads", num_workers=k), args.repeat)
                row["lsq"], row["log"] = row["matdiff lsq"], row["matdiff log"]
                rows.append(row)
                print(_line(row), flush=True)
        Xn = y1n = y2n = local = None  # free the in-memory copies before the clusters start
        for k in args.workers:
            with LocalCluster(n_workers=k, threads_per_worker=1, processes=args.processes,
                              dashboard_address=None) as cl, Client(cl) as client:
                base = client.persist(list(data(N, args.cols)))
                wait(base)
                for nchunks in args.chunks:
                    arrays = client.persist(list(rechunked(base, N, nchunks)))
                    wait(arrays)
                    g = P.graphs(*arrays)
                    row = dict(N=N, scheduler="distributed " + ("processes" if args.processes else "threads"),
                               workers=k, chunks=nchunks)
                    for (who, prob), arrs in g.items():
                        check(client.compute(arrs, sync=True), ref[prob])
                        row[f"{who} {prob}"] = median(lambda a=arrs: client.compute(a, sync=True), args.repeat)
                    row["lsq"], row["log"] = row["matdiff lsq"], row["matdiff log"]
                    rows.append(row)
                    print(_line(row), flush=True)
                    del arrays, g
                del base
    text = table(rows)
    print()
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(text + "\n")
    return 0


def _line(r: dict) -> str:
    hand = (f"  (hand-written dask: {1e3 * r['hand lsq']:7.1f} / {1e3 * r['hand log']:7.1f} ms)"
            if "hand lsq" in r else "")
    return (f"N={r['N']:>10,d}  {r['scheduler']:22s} workers {r['workers']}  chunks {r['chunks']!s:>4s}: "
            f"least squares {1e3 * r['lsq']:7.1f} ms, logistic {1e3 * r['log']:7.1f} ms{hand}")


def table(rows: list[dict]) -> str:
    lines = ["### Tall data: ms per gradient (least squares) and per value+gradient (logistic), X of N x 10", "",
             "| rows | scheduler | workers | chunks | least squares | logistic | hand-written dask (lsq / log) | "
             "speed-up vs 1 worker (lsq / log) |", "|---|---|---|---|---|---|---|---|"]
    one = {(r["N"], r["scheduler"], r["chunks"]): r for r in rows if r["workers"] == 1}
    for r in rows:
        base = one.get((r["N"], r["scheduler"], r["chunks"]))
        sp = f"{base['lsq'] / r['lsq']:.2f} / {base['log'] / r['log']:.2f}" if r["chunks"] != "—" else "—"
        hand = f"{1e3 * r['hand lsq']:.1f} / {1e3 * r['hand log']:.1f}" if "hand lsq" in r else "—"
        lines.append(f"| {r['N']:,} | {r['scheduler']} | {r['workers']} | {r['chunks']} | {1e3 * r['lsq']:.1f} | "
                     f"{1e3 * r['log']:.1f} | {hand} | {sp} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
