"""The ``matdiff minimize`` and ``matdiff solver`` subcommands (registered by :func:`add_minimize_parsers`)."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..errors import MatdiffError
from .minimize import MinimizeResult, SolverError, minimize
from .problem import parse_bounds

NOT_SOLVED = 1
"""The exit status of ``matdiff minimize`` when the solver did not succeed (the message says why); 2: an error."""

EXAMPLES = """\
examples:
  matdiff minimize "norm2(A*x - y)^2" --wrt x --data data.npz --bounds "x>=0" --out solution.npz
  matdiff minimize "norm2(A*x - y)^2" --wrt x --data data.npz --constraint "sum(x) == 1" --bounds "x>=0"
  matdiff minimize "logdet(S) + tr(inv(S)*C)" --wrt S --type S=spd --data cov.npz --out mle.npz
  matdiff solver "norm2(A*x - y)^2" --wrt x --bounds "x>=0" --out nnls_solver.py
  python nnls_solver.py data.npz --out solution.npz      # NumPy and SciPy only

exit status of minimize: 0 solved, 1 not solved (infeasible, unbounded, limits: the message says which),
2 an error in the command line, the expression or the data.
"""


def _types(pairs: Sequence[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in pairs or []:
        if "=" not in p:
            raise SolverError(f"--type takes NAME=TYPE (e.g. S=spd), not {p!r}")
        name, spec = p.split("=", 1)
        out[name.strip()] = spec.strip()
    return out


def _npz(path: str, what: str) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError) as err:
        raise SolverError(f"cannot read the {what} from {path}: {err} (give an .npz written by numpy.savez)") from None


class ProgressBar:
    """A one-line progress bar on stderr, drawn once a solve has run for ``after`` seconds.

    The bar fills with the gradient's progress towards the tolerance, on a log scale."""

    def __init__(self, tol: float, stream: TextIO | None = None, after: float = 1.0, width: int = 30):
        self.tol, self.stream, self.after, self.width = tol, stream or sys.stderr, after, width
        self.first: float | None = None
        self.drawn = False
        self.last_draw = 0.0

    def __call__(self, info: dict[str, Any]) -> None:
        g = info.get("grad_norm")
        if g is not None and math.isfinite(g) and self.first is None:
            self.first = max(g, 1e-300)
        elapsed = float(info.get("elapsed", 0.0))
        now = time.perf_counter()
        if elapsed < self.after or now - self.last_draw < 0.1:
            return
        self.last_draw = now
        target = self.tol * max(1.0, self.first or 1.0)
        frac = 0.0
        if self.first and g and math.isfinite(g) and self.first > target:
            frac = min(1.0, max(0.0, math.log(self.first / max(g, 1e-300)) / math.log(self.first / target)))
        filled = int(round(frac * self.width))
        infeas = info.get("infeasibility")
        extra = f"  infeas {infeas:.1e}" if infeas is not None else ""
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] iter {info['iteration']:5d}  "
                          f"f {info['objective']:.6e}  |g| {g:.1e}{extra}  {elapsed:.1f}s ")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def cmd_minimize(args: argparse.Namespace) -> int:
    """``matdiff minimize``: solve, print the outcome, write the solution .npz."""
    data = _npz(args.data, "data") if args.data else {}
    x0 = None
    if args.x0:
        x0 = {k[3:] if k.startswith("x0_") else k: v for k, v in _npz(args.x0, "start").items()}
    wrt = args.wrt
    bounds = parse_bounds(args.bounds or [], wrt)
    bar = ProgressBar(args.tol) if not args.no_progress and not args.verbose else None
    try:
        res = minimize(args.expr, wrt if len(wrt) > 1 else wrt[0], values=data, x0=x0, types=_types(args.type),
                       bounds=bounds, constraints=args.constraint or [], tol=args.tol, method=args.method,
                       maxiter=args.maxiter, time_limit=args.time_limit, verbose=args.verbose or False,
                       callback=bar)
    finally:
        if bar is not None:
            bar.close()
    assert isinstance(res, MinimizeResult)
    print(res)
    if args.out:
        np.savez(args.out, **res.x, fun=res.fun, success=res.success, nit=res.nit, status=res.status,
                 message=res.message)
        print(f"solution written to {args.out} ({', '.join(res.x)}, fun, success, nit, status, message)")
    else:
        with np.printoptions(precision=10, linewidth=120):
            for name, value in res.x.items():
                print(f"{name} =\n{np.asarray(value)}")
    return 0 if res.success else NOT_SOLVED


def cmd_solver(args: argparse.Namespace) -> int:
    """``matdiff solver``: write the stand-alone solver script."""
    wrt = args.wrt
    src = minimize(args.expr, wrt if len(wrt) > 1 else wrt[0], types=_types(args.type),
                   bounds=parse_bounds(args.bounds or [], wrt), constraints=args.constraint or [], tol=args.tol,
                   method=args.method, maxiter=args.maxiter, source=True)
    assert isinstance(src, str)
    if args.out:
        try:
            Path(args.out).write_text(src, encoding="utf-8")
        except OSError as err:
            raise MatdiffError(f"cannot write {args.out}: {err}") from None
        print(f"solver written to {args.out}; run: python {args.out} data.npz --out solution.npz")
    else:
        sys.stdout.write(src)
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("expr", help="the objective, a scalar expression, e.g. \"norm2(A*x - y)^2\"")
    p.add_argument("--wrt", action="append", required=True, metavar="NAME",
                   help="a variable to minimise over (repeat for several)")
    p.add_argument("--type", action="append", metavar="NAME=TYPE",
                   help="declare a type: scalar, vector, matrix, symmetric, spd (an spd variable stays spd)")
    p.add_argument("--bounds", action="append", metavar="BOUND", help="entrywise bounds: \"x>=0\", \"0<=x<=1\"")
    p.add_argument("--constraint", action="append", metavar="CONSTRAINT",
                   help="a constraint with ==, <= or >=: \"sum(x) == 1\", \"norm2(x)^2 <= 1\" (repeat for several)")
    p.add_argument("--tol", type=float, default=1e-8, help="the tolerance (default 1e-8)")
    p.add_argument("--maxiter", type=int, default=10000, help="the most iterations (default 10000)")
    p.add_argument("--method", default="auto",
                   choices=["auto", "lbfgs", "newton", "augmented-lagrangian", "slsqp"])


def add_minimize_parsers(sub: Any) -> None:
    """Register ``minimize`` and ``solver`` on the ``matdiff`` command's subparsers."""
    m = sub.add_parser("minimize", help="minimise an expression over some of its variables, the data from an .npz",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(m)
    m.add_argument("--data", metavar="NPZ", help="the .npz holding every other variable (numpy.savez)")
    m.add_argument("--x0", metavar="NPZ", help="an .npz with the start (x0_NAME or NAME)")
    m.add_argument("--time-limit", type=float, default=None, metavar="SECONDS")
    m.add_argument("--verbose", type=int, default=0, metavar="K", help="print a line every K iterations")
    m.add_argument("--no-progress", action="store_true", help="no progress bar (shown on solves over a second)")
    m.add_argument("--out", metavar="NPZ", help="write the solution here (else it is printed)")
    m.set_defaults(run=cmd_minimize)

    s = sub.add_parser("solver", help="write a stand-alone solver script (NumPy and SciPy only) for a problem",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(s)
    s.add_argument("--out", metavar="FILE", help="write the script here (else to stdout)")
    s.set_defaults(run=cmd_solver)
