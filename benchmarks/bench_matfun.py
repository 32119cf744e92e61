#!/usr/bin/env python3
"""Speed of matdiff's compiled gradients through expm and logm against hand-written SciPy, JAX, torch.

    python benchmarks/bench_matfun.py                    # threads pinned to one (the figures we quote)
    python benchmarks/bench_matfun.py --threads default
    python benchmarks/bench_matfun.py --sizes 100 300 --repeat 7 --markdown out.md

Two problems, float64, each timed twice, like with like:

* ``grad``: the gradient alone: ``matdiff.grad(expr, wrt).compile()`` against the hand-written gradient,
  ``jax.jit(jax.grad(f))`` and torch (forward and backward);
* ``value+grad``: the value and the gradient: ``matdiff.compile(expr, wrt)`` against the hand-written value
  and gradient, ``jax.jit(jax.value_and_grad(f))`` and torch (forward and backward, which gives both: the
  same measurement as in the ``grad`` row).

The hand-written baselines are what an expert would write with SciPy/NumPy: for ``norm_fro(expm(X) - B)^2``,
``scipy.linalg.expm`` and ``scipy.linalg.expm_frechet(X', 2 (expm(X) - B), compute_expm=False)``; for
``tr(logm(S)*C)`` with S symmetric positive definite, one ``eigh`` and the Daleckii–Krein formula
U (F .* (U' Csym U)) U' (F the divided differences of log at the eigenvalues, Csym = (C + C')/2, the
symmetric gradient, matdiff's convention for a symmetric variable).  JAX has no logm, torch neither: theirs
are eigh-based, U diag(log w) U' of (S + S')/2, so that their gradients are the symmetric ones too.

Every function runs in this one process, side by side, on the same inputs; each time is the median of
``--repeat`` calls after a warm-up call (which also triggers JIT compilation); matdiff's and the hand-written
calls alternate, so that a load that comes and goes (other jobs on the machine) shifts both alike.  Results
are checked against the hand-written ones before they are timed (matdiff to 1e-8 relative: an error
otherwise; a competitor off by more than 1e-6 is shown as —).  OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
are unset (they slow a current OpenBLAS down); the kernel OpenBLAS then picks is printed (by threadpoolctl,
else by asking the loaded OpenBLAS libraries).  Competitors that are not installed are reported as such.
"""

from __future__ import annotations

import argparse
import ctypes
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
import scipy  # noqa: E402
import scipy.linalg as sla  # noqa: E402

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
    import jax.scipy.linalg as jsla  # noqa: E402
torch = _optional("torch")
threadpoolctl = _optional("threadpoolctl")


# ------------------------------------------------------------------------------------ problems
def spd(n: int, rng: np.random.Generator) -> np.ndarray:
    b = rng.standard_normal((n, n))
    return b @ b.T / n + np.eye(n)


# expm: E = expm(X), G = 2 (E - B); the gradient is L_exp(X', G) (adjoint identity)
def expm_grad(X, B):
    G = 2 * (sla.expm(X) - B)
    return sla.expm_frechet(X.T, G, compute_expm=False)


def expm_value_and_grad(X, B):
    D = sla.expm(X) - B
    return np.vdot(D, D), sla.expm_frechet(X.T, 2 * D, compute_expm=False)


# logm of an spd S: S = U diag(w) U', gradient U (F .* (U' Csym U)) U' (Daleckii–Krein)
def _log_divided_differences(w):
    lw = np.log(w)
    dw = w[:, None] - w[None, :]
    same = dw == 0  # the diagonal (and exact ties): f'(w) = 1/w
    F = np.where(same, 1 / w[:, None], (lw[:, None] - lw[None, :]) / np.where(same, 1.0, dw))
    return lw, F


def logm_grad(S, C):
    w, U = np.linalg.eigh(S)
    _, F = _log_divided_differences(w)
    M = U.T @ ((C + C.T) / 2) @ U
    return U @ (F * M) @ U.T


def logm_value_and_grad(S, C):
    w, U = np.linalg.eigh(S)
    lw, F = _log_divided_differences(w)
    M = U.T @ ((C + C.T) / 2) @ U
    return lw @ np.diagonal(M), U @ (F * M) @ U.T  # tr(logm(S) C) = tr(logm(S) Csym) = sum(log w .* diag(M))


def _jax_logm(S):
    w, U = jnp.linalg.eigh((S + S.T) / 2)
    return (U * jnp.log(w)) @ U.T


def _torch_logm(S):
    w, U = torch.linalg.eigh((S + S.T) / 2)
    return (U * torch.log(w)) @ U.T


def problems(n: int, rng: np.random.Generator) -> list[dict]:
    out = []
    X, B = rng.standard_normal((n, n)) / np.sqrt(n), rng.standard_normal((n, n))
    out.append(dict(
        name="norm_fro(expm(X)-B)^2", expr="norm_fro(expm(X) - B)^2", wrt="X", types=None,
        values=dict(X=X, B=B), hand=expm_grad, hand_vg=expm_value_and_grad,
        jax=lambda X, B: jnp.sum((jsla.expm(X) - B) ** 2),
        torch=lambda X, B: ((torch.linalg.matrix_exp(X) - B) ** 2).sum()))
    S, C = spd(n, rng), rng.standard_normal((n, n))
    out.append(dict(
        name="tr(logm(S)*C), S spd", expr="tr(logm(S)*C)", wrt="S", types={"S": "spd"},
        values=dict(S=S, C=C), hand=logm_grad, hand_vg=logm_value_and_grad,
        jax=lambda S, C: jnp.trace(_jax_logm(S) @ C),
        torch=lambda S, C: torch.trace(_torch_logm(S) @ C)))
    return out


# ---------------------------------------------------------------------------------------- timing
def median_time(fn, repeat: int) -> float:
    fn()  # warm-up (and JIT compilation)
    times = []
    budget = time.perf_counter() + 20.0
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if time.perf_counter() > budget and len(times) >= 3:
            break
    return statistics.median(times)


def paired_times(fa, fb, repeat: int) -> tuple[float, float]:
    """The medians of fa's and fb's times, their calls alternated (a load that drifts hits both alike)."""
    fa()  # warm-up
    fb()
    ta, tb = [], []
    budget = time.perf_counter() + 40.0
    for _ in range(repeat):
        for f, ts in ((fa, ta), (fb, tb)):
            t = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t)
        if time.perf_counter() > budget and len(ta) >= 3:
            break
    return statistics.median(ta), statistics.median(tb)


def _rel(got, ref) -> float:
    return float(np.linalg.norm(np.asarray(got) - ref) / np.linalg.norm(ref))


def competitors(p: dict) -> dict:
    """name -> (grad-only function, value-and-grad function), each returning NumPy arrays (value, gradient)."""
    vals = p["values"]
    k = list(vals).index(p["wrt"])
    args = list(vals.values())
    out: dict = {}
    if jax is not None:
        jargs = [jnp.asarray(a) for a in args]
        g = jax.jit(jax.grad(p["jax"], argnums=k))
        vg = jax.jit(jax.value_and_grad(p["jax"], argnums=k))

        def jax_vg():
            v, d = vg(*jargs)
            return float(v), np.asarray(d.block_until_ready())
        out["jax"] = (lambda: (None, np.asarray(g(*jargs).block_until_ready())), jax_vg)
    if torch is not None:
        targs = [torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in args]

        def torch_fb():  # forward and backward: value and gradient
            a = list(targs)
            a[k] = targs[k].clone().requires_grad_(True)
            v = p["torch"](*a)
            (d,) = torch.autograd.grad(v, a[k])
            return v.item(), d.numpy()
        out["torch"] = (torch_fb, torch_fb)
    return out


def run(sizes: list[int], repeat: int) -> list[dict]:
    rows = []
    for n in sizes:
        rng = np.random.default_rng(n)
        for p in problems(n, rng):
            vals = p["values"]
            g_md = matdiff.grad(p["expr"], wrt=p["wrt"], types=p["types"]).compile()
            vg_md = matdiff.compile(p["expr"], wrt=p["wrt"], types=p["types"])
            ref = np.asarray(p["hand"](**vals))
            ref_v, ref_vg = p["hand_vg"](**vals)
            assert _rel(ref_vg, ref) < 1e-12, "the two hand-written gradients differ"
            err = _rel(g_md(**vals), ref)
            v_md, d_md = vg_md(**vals)
            err_vg = max(_rel(d_md[p["wrt"]], ref), abs(v_md - ref_v) / abs(ref_v))
            if max(err, err_vg) > 1e-8:
                raise AssertionError(f"{p['name']} n={n}: matdiff differs from the hand-written result "
                                     f"(gradient {err:.1e}, value and gradient {err_vg:.1e})")
            t_md, t_hand = paired_times(lambda: g_md(**vals), lambda: p["hand"](**vals), repeat)
            row_g = dict(problem=p["name"], kind="grad", n=n, err=err, hand=t_hand, matdiff=t_md)
            t_md, t_hand = paired_times(lambda: vg_md(**vals), lambda: p["hand_vg"](**vals), repeat)
            row_vg = dict(problem=p["name"], kind="value+grad", n=n, err=err_vg, hand=t_hand, matdiff=t_md)
            for name, (fg, fvg) in competitors(p).items():
                _, d = fg()
                ok_g = _rel(d.reshape(ref.shape), ref) < 1e-6
                v, d = fvg()
                ok_vg = _rel(d.reshape(ref.shape), ref) < 1e-6 and abs(v - ref_v) <= 1e-6 * abs(ref_v)
                t_g = median_time(fg, repeat) if ok_g else float("nan")
                row_g[name] = t_g
                row_vg[name] = (t_g if fvg is fg else median_time(fvg, repeat)) if ok_vg else float("nan")
            for row in (row_g, row_vg):
                rows.append(row)
                print(_fmt_row(row), flush=True)
    return rows


COLS = ["jax", "torch"]


def _us(t: float) -> str:
    return f"{1e6 * t:.0f}" if t == t else "—"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if a == a and b == b else "—"


def _fmt_row(r: dict) -> str:
    parts = [f"{r['problem']:24s} {r['kind']:10s} n={r['n']:5d}  matdiff {_us(r['matdiff']):>8s} us"
             f"  hand {_us(r['hand']):>8s} us  (matdiff / hand {_ratio(r['matdiff'], r['hand'])})"]
    for c in COLS:
        if c in r:
            parts.append(f"{c} {_us(r[c]):>8s} us")
    parts.append(f"(matdiff rel. err {r['err']:.1e})")
    return "  ".join(parts)


def markdown(rows: list[dict], title: str) -> str:
    cols = [c for c in COLS if any(c in r for r in rows)]
    head = "| " + " | ".join(["problem", "n", "matdiff (µs)", "hand (µs)"] + [f"{c} (µs)" for c in cols]
                              + ["matdiff÷hand"] + [f"matdiff÷{c}" for c in cols]) + " |"
    lines = [f"### {title}", "", head, "|" + "---|" * (5 + 2 * len(cols))]
    for r in rows:
        nan = float("nan")
        cells = ([f"{r['problem']} ({r['kind']})", str(r["n"]), _us(r["matdiff"]), _us(r["hand"])]
                 + [_us(r.get(c, nan)) for c in cols] + [_ratio(r["matdiff"], r["hand"])]
                 + [_ratio(r["matdiff"], r.get(c, nan)) for c in cols])
        lines.append("| " + " | ".join(cells) + " |")
    missing = [c for c in COLS if not any(c in r for r in rows)]
    if missing:
        lines += ["", f"not installed: {', '.join(missing)}"]
    return "\n".join(lines)


def _openblas_ctypes() -> list[str]:
    """The OpenBLAS libraries loaded in this process, asked directly (config, core, threads)."""
    try:
        with open("/proc/self/maps") as fh:
            paths = sorted({ln.split()[-1] for ln in fh if "openblas" in ln.lower() and "/" in ln})
    except OSError:
        return []
    out = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        found = {}
        for what in ("get_config", "get_corename", "get_num_threads"):
            for pre, suf in (("openblas_", ""), ("scipy_openblas_", ""), ("scipy_openblas_", "64_")):
                fn = getattr(lib, f"{pre}{what}{suf}", None)
                if fn is not None:
                    fn.restype = ctypes.c_char_p if what != "get_num_threads" else ctypes.c_int
                    v = fn()
                    found[what] = v.decode() if isinstance(v, bytes) else v
                    break
        if found:
            out.append(f"{os.path.basename(path)}: {found.get('get_config', '?')}, "
                       f"core {found.get('get_corename', '?')}, threads={found.get('get_num_threads', '?')}")
    return out


def blas_info() -> str:
    if threadpoolctl is not None:
        info = threadpoolctl.threadpool_info()
        return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
                         f"threads={i.get('num_threads')}" for i in info)
    got = _openblas_ctypes()
    return "; ".join(got) if got else "threadpoolctl not installed, no OpenBLAS found"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--threads", choices=["pinned", "default"], default="pinned")
    ap.add_argument("--markdown", help="also write the table to this file")
    args = ap.parse_args()
    if torch is not None and args.threads == "pinned":
        torch.set_num_threads(1)
    ctx = threadpoolctl.threadpool_limits(1) if (threadpoolctl and args.threads == "pinned") else None
    print(f"matdiff {matdiff.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores, threads {args.threads}")
    print(f"BLAS: {blas_info()}")
    print(f"jax {getattr(jax, '__version__', 'not installed')}, torch {getattr(torch, '__version__', 'not installed')}")
    try:
        rows = run(args.sizes, args.repeat)
    finally:
        if ctx is not None:
            ctx.unpin() if hasattr(ctx, "unpin") else None
    worst = max(r["matdiff"] / r["hand"] for r in rows)
    text = markdown(rows, f"Gradients through expm and logm (threads {args.threads})") + \
        f"\n\nworst matdiff / hand-written {worst:.2f}"
    print()
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
