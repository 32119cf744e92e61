#!/usr/bin/env python3
"""matdiff's generated gradients on each backend, next to jax.jit(jax.grad) and torch.func.grad.

    PYTHONPATH=src python benchmarks/bench_backends.py                  # threads pinned to one
    PYTHONPATH=src python benchmarks/bench_backends.py --sizes 100 300 1000 --batch 256 --markdown out.md
    PYTHONPATH=src python benchmarks/bench_backends.py --device cuda    # torch/jax/cupy on a GPU

The problems are benchmarks/bench_gradients.py's (imported, so its thread pinning and its
hand-written NumPy gradients apply).  Columns, each as a multiple of the hand-written NumPy time:

* ``numpy``: matdiff's generated code (the built-in backend);
* ``jax.jit``: matdiff's code under ``jax.jit``; ``jax.jit(grad)``: JAX's own gradient, jitted;
* ``torch``: matdiff's code on tensors (eager); ``torch.func``: ``torch.func.grad``;
* ``cupy``: matdiff's code on CuPy arrays (GPU only).

A second table times ``batch=True`` (a stack of small problems) against a Python loop.  Every
result is checked against the hand-written gradient before it is timed; a backend that is not
installed is left out.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

for _k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(_k, None)
if "--threads" not in sys.argv or "pinned" in sys.argv:  # before numpy/jax/torch are imported
    for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_k] = "1"
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_gradients as bg  # noqa: E402  (the problems; imports jax/torch with x64 on)
import numpy as np  # noqa: E402

import matdiff  # noqa: E402
from matdiff.numeric.codegen import batched, build  # noqa: E402
from matdiff.runtime import wrapped  # noqa: E402

jax, torch = bg.jax, bg.torch
try:
    import cupy  # noqa: E402

    cupy.cuda.runtime.getDeviceCount()
except Exception:  # noqa: BLE001 - not installed, or no GPU
    cupy = None

COLS = ["numpy", "jax.jit", "jax.jit(grad)", "torch", "torch.func", "cupy"]


def _rel(got, ref) -> float:
    got = np.asarray(got).reshape(np.shape(ref))
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


def _sync(x):
    if jax is not None and isinstance(x, jax.Array):
        x.block_until_ready()
    elif torch is not None and isinstance(x, torch.Tensor) and x.is_cuda:
        torch.cuda.synchronize()
    elif cupy is not None and isinstance(x, cupy.ndarray):
        cupy.cuda.Device().synchronize()
    return x


def _host(x):
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if cupy is not None and isinstance(x, cupy.ndarray):
        return cupy.asnumpy(x)
    return np.asarray(x)


def contenders(p: dict, device: str) -> dict:
    """name -> zero-argument callable returning the gradient (on the backend's device)."""
    r = matdiff.grad(p["expr"], wrt=p["wrt"], types=p["types"])
    names = list(r.variables)
    vals = p["values"]
    args = [vals[k] for k in names]
    out: dict = {}
    f_np = r.compile()
    out["numpy"] = lambda: f_np(**vals)
    if jax is not None:
        import jax.numpy as jnp

        dev = jax.devices("gpu")[0] if device == "cuda" and jax.default_backend() == "gpu" else None
        jargs = [jax.device_put(jnp.asarray(a), dev) if isinstance(a, np.ndarray) else a for a in args]
        fj = jax.jit(wrapped(build(r.source(), f"grad_{r.wrt}", "jax")))
        out["jax.jit"] = lambda: _sync(fj(*jargs))
        order = list(vals)
        gj = jax.jit(jax.grad(p["jax"], argnums=order.index(p["wrt"])))
        jargs2 = [jax.device_put(jnp.asarray(vals[n]), dev) if isinstance(vals[n], np.ndarray) else vals[n]
                  for n in order]
        out["jax.jit(grad)"] = lambda: _sync(gj(*jargs2))
    if torch is not None:
        import torch.func as tf

        tdev = device if device == "cuda" and torch.cuda.is_available() else "cpu"
        ft = wrapped(build(r.source(), f"grad_{r.wrt}", "torch"))
        targs = [torch.as_tensor(a, device=tdev) if isinstance(a, np.ndarray) else a for a in args]
        out["torch"] = lambda: _sync(ft(*targs))
        order = list(vals)
        gt = tf.grad(p["torch"], argnums=order.index(p["wrt"]))
        targs2 = [torch.as_tensor(vals[n], device=tdev) if isinstance(vals[n], np.ndarray) else vals[n]
                  for n in order]
        out["torch.func"] = lambda: _sync(gt(*targs2))
    if cupy is not None and device == "cuda":
        fc = wrapped(build(r.source(), f"grad_{r.wrt}", "cupy"))
        cargs = [cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
        out["cupy"] = lambda: _sync(fc(*cargs))
    return out


def run(sizes: list[int], repeat: int, device: str) -> list[dict]:
    rows = []
    for n in sizes:
        rng = np.random.default_rng(n)
        for p in bg.problems(n, rng):
            vals = p["values"]
            ref = np.asarray(p["numpy"](**vals))
            row = dict(problem=p["name"], n=n, hand=bg.median_time(lambda: p["numpy"](**vals), repeat))
            for name, f in contenders(p, device).items():
                err = _rel(_host(f()), ref)
                row[name] = bg.median_time(f, repeat) if err < 1e-6 else float("nan")
                row[name + " err"] = err
            rows.append(row)
            print(_fmt(row), flush=True)
    return rows


# ------------------------------------------------------------------------------------- batches
def batch_problems(n: int, size: int, rng: np.random.Generator) -> list[dict]:
    S = np.stack([bg.spd(n, rng) for _ in range(size)])
    C = bg.spd(n, rng)
    A = np.stack([bg.well(n, rng) for _ in range(size)])
    x = rng.standard_normal((size, n))
    X = rng.standard_normal((size, 4 * n, n)) / np.sqrt(n)
    y = rng.choice([-1.0, 1.0], (size, 4 * n))
    w = rng.standard_normal((size, n))
    return [
        dict(name="Gaussian NLL, S spd (S batched)", expr="logdet(S) + tr(inv(S)*C)", wrt="S", types={"S": "spd"},
             values=dict(S=S, C=C), batch=["S"]),
        dict(name="x'*inv(A)*x wrt A (all batched)", expr="x'*inv(A)*x", wrt="A", types=None,
             values=dict(x=x, A=A), batch=True),
        dict(name="logistic loss (all batched)", expr="sum(log(1+exp(-y.*(X*w)))) + c*w'*w", wrt="w", types=None,
             values=dict(y=y, X=X, w=w, c=0.1), batch=["y", "X", "w"]),
    ]


def run_batches(n: int, size: int, repeat: int) -> list[dict]:
    rows = []
    for p in batch_problems(n, size, np.random.default_rng(n + size)):
        r = matdiff.grad(p["expr"], p["wrt"], p["types"])
        names = list(r.variables)
        vals = p["values"]
        bnames = names if p["batch"] is True else p["batch"]
        f1 = r.compile()

        def loop(f1=f1, vals=vals, bnames=bnames):
            return np.stack([f1(**{k: (v[i] if k in bnames else v) for k, v in vals.items()}) for i in range(size)])
        ref = loop()
        row = dict(problem=p["name"], n=n, size=size, hand=bg.median_time(loop, repeat))
        for backend in ("numpy", "jax", "torch"):
            if (backend == "jax" and jax is None) or (backend == "torch" and torch is None):
                continue
            fb = batched(build(r.source(), f"grad_{r.wrt}", backend), r.variables, names, backend, p["batch"])

            def call(fb=fb, vals=vals):
                return _sync(fb(**vals))
            err = _rel(_host(call()), ref)
            row[backend] = bg.median_time(call, repeat) if err < 1e-8 else float("nan")
        rows.append(row)
        print(f"{p['name']:40s} n={n} B={size}  loop {1e3 * row['hand']:8.2f} ms  " + "  ".join(
            f"{b} {row[b] / row['hand']:6.3f}x" for b in ("numpy", "jax", "torch") if b in row), flush=True)
    return rows


# ------------------------------------------------------------------------------------- output
def _fmt(r: dict) -> str:
    parts = [f"{r['problem']:45s} n={r['n']:5d} hand {1e3 * r['hand']:9.3f} ms"]
    parts += [f"{c} {r[c] / r['hand']:6.2f}x" for c in COLS if c in r]
    return "  ".join(parts)


def markdown(rows: list[dict], title: str) -> str:
    cols = [c for c in COLS if any(c in r for r in rows)]
    lines = [f"### {title}", "", "| problem | n | hand-written NumPy (ms) | " + " | ".join(cols) + " |",
             "|" + "---|" * (3 + len(cols))]
    for r in rows:
        cells = [f"{r[c] / r['hand']:.2f}" if c in r and r[c] == r[c] else "—" for c in cols]
        lines.append(f"| {r['problem']} | {r['n']} | {1e3 * r['hand']:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_batches(rows: list[dict]) -> str:
    cols = [c for c in ("numpy", "jax", "torch") if any(c in r for r in rows)]
    lines = ["### batch=True against a Python loop of the NumPy gradient (x loop time)", "",
             "| problem | n | batch | loop (ms) | " + " | ".join(f"{c} batch" for c in cols) + " |",
             "|" + "---|" * (4 + len(cols))]
    for r in rows:
        cells = [f"{r[c] / r['hand']:.3f}" if c in r and r[c] == r[c] else "—" for c in cols]
        lines.append(f"| {r['problem']} | {r['n']} | {r['size']} | {1e3 * r['hand']:.2f} | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    out = []
    for a, b in (("jax.jit", "jax.jit(grad)"), ("torch", "torch.func"), ("numpy", "jax.jit(grad)")):
        ratios = [r[a] / r[b] for r in rows if a in r and b in r and r[a] == r[a] and r[b] == r[b]]
        if ratios:
            gm = float(np.exp(np.mean(np.log(ratios))))
            out.append(f"matdiff {a} / {b}: geometric mean {gm:.2f}, range {min(ratios):.2f}-{max(ratios):.2f}")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", choices=["pinned", "default"], default="pinned")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--batch", type=int, default=256, help="batch size of the batch table (0: skip it)")
    ap.add_argument("--batch-n", type=int, default=8, help="matrix size in the batch table")
    ap.add_argument("--markdown", help="also write the tables to this file")
    args = ap.parse_args()
    if torch is not None and args.threads == "pinned":
        torch.set_num_threads(1)
    ctx = bg.threadpoolctl.threadpool_limits(1) if (bg.threadpoolctl and args.threads == "pinned") else None
    print(f"matdiff {matdiff.__version__}, numpy {np.__version__}, python {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} cores, threads {args.threads}, device {args.device}")
    print(f"BLAS: {bg.blas_info()}")
    print(f"jax {getattr(jax, '__version__', '—')} ({jax.default_backend() if jax else '—'}), "
          f"torch {getattr(torch, '__version__', '—')}, cupy {getattr(cupy, '__version__', '—')}")
    t0 = time.perf_counter()
    rows = run(args.sizes, args.repeat, args.device)
    brows = run_batches(args.batch_n, args.batch, args.repeat) if args.batch else []
    del ctx
    text = "\n\n".join(t for t in [markdown(rows, f"Gradients, x hand-written NumPy (threads {args.threads}, "
                                                  f"{args.device})"), summary(rows),
                                   markdown_batches(brows) if brows else ""] if t)
    print()
    print(text)
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
