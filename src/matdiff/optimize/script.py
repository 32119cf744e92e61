"""Stand-alone solver scripts: one Python file that needs only NumPy and SciPy and solves the problem from an .npz.

The script holds, in order: the solver (:mod:`matdiff.optimize.engine`, copied verbatim), the generated
value-and-gradient function of the objective, its Hessian-vector product (one variable: the Newton finish) and
the functions of each constraint, with exactly the runtime helpers they call inlined
(:func:`matdiff.results.compiled.standalone_source`), the problem (variables, kinds, where their sizes come
from, bounds, constraints) and a ``main`` that reads the data, solves and writes the solution.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MatdiffError
from ..results.compiled import standalone_source
from ..syntax.printer import to_text
from . import engine
from .problem import Problem

MAIN = '''

def _load(path):
    with _np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _size(spec, data, name):
    if isinstance(spec, int):
        return spec
    if spec is None or spec[0] not in data:
        raise SystemExit(f"error: the size of {name} is not fixed by the data; give its start as x0_{name} in the .npz")
    return int(_np.shape(data[spec[0]])[spec[1]])


def _as_data(name, kind, a):
    a = _np.asarray(a, dtype=float)
    if kind == "scalar":
        if a.size != 1:
            raise SystemExit(f"error: {name} is a scalar, but its value in the .npz has shape {a.shape}")
        return float(a.reshape(-1)[0])
    if kind == "vector":
        if a.ndim == 2 and 1 in a.shape:
            a = a.reshape(-1)
        if a.ndim != 1:
            raise SystemExit(f"error: {name} is a vector: give a 1-D array, not shape {a.shape}")
        return a
    if a.ndim != 2:
        raise SystemExit(f"error: {name} is a matrix: give a 2-D array, not shape {a.shape}")
    return a


def _call(fn, params, values):
    return fn(*[values[p] for p in params])


def _constraint(spec):
    text, kind, fn, params, vjp, vjp_params, mult, scalar = spec
    fn, vjp = globals()[fn], globals()[vjp] if vjp else None
    if scalar:
        def value_and_vjp(values):
            out = _call(fn, params, values)
            return out[0], lambda w: {k: float(w) * g for k, g in zip(PROBLEM["wrt_of"][text], out[1:])}
    else:
        def value_and_vjp(values):
            c = _call(fn, params, values)
            def back(w):
                out = _call(vjp, vjp_params, {**values, mult: _np.asarray(w, dtype=float)})
                return dict(zip(PROBLEM["wrt_of"][text], out[1:]))
            return c, back
    return Constraint(text, kind, value_and_vjp)


def solve_npz(path, tol=None, maxiter=None, time_limit=None, verbose=0, method=None):
    """Solve the problem with the data in the .npz at path; the engine's Result."""
    data = _load(path)
    missing = [n for n in PROBLEM["data"] if n not in data]
    if missing:
        raise SystemExit(f"error: the .npz lacks {', '.join(missing)} (it needs {', '.join(PROBLEM['data'])})")
    values = {n: _as_data(n, PROBLEM["data_kinds"][n], data[n]) for n in PROBLEM["data"]}
    variables, x0 = [], {}
    for name, kind, dims in PROBLEM["variables"]:
        if "x0_" + name in data:
            start = _np.asarray(data["x0_" + name], dtype=float)
            shape = () if kind == "scalar" else start.shape
        else:
            shape = tuple(_size(d, data, name) for d in dims)
            start = _np.eye(shape[0]) if kind == "spd" else _np.zeros(shape)
        variables.append((name, kind, shape))
        x0[name] = float(start.reshape(-1)[0]) if kind == "scalar" else start
    bounds = {}
    for name, (lo, hi) in PROBLEM["bounds"].items():
        lo = data.get("lower_" + name, lo)
        hi = data.get("upper_" + name, hi)
        bounds[name] = (lo, hi)
    params = PROBLEM["objective_params"]
    wrt = [v[0] for v in PROBLEM["variables"]]

    def fg(vals):
        out = _call(objective, params, vals)
        return out[0], dict(zip(wrt, out[1:]))

    hvp = None
    if PROBLEM["hvp"] and not PROBLEM["constraints"]:
        hparams, direction = PROBLEM["hvp"]

        def hvp(vals, directions):
            d = _np.asarray(directions[wrt[0]], dtype=float)
            out = _call(objective_hvp, hparams, {**vals, direction: d})
            if _np.shape(out) != d.shape:  # a scalar: the Hessian is 0
                out = out * _np.ones_like(d)
            return {wrt[0]: out}

    try:
        return solve(fg, Layout(variables), values, x0, bounds=bounds,
                     constraints=[_constraint(c) for c in PROBLEM["constraints"]],
                     tol=PROBLEM["tol"] if tol is None else tol, method=method or PROBLEM["method"],
                     maxiter=maxiter or PROBLEM["maxiter"], time_limit=time_limit, verbose=verbose, hvp=hvp,
                     domain_errors=(_DomainError, _np.linalg.LinAlgError, ArithmeticError))
    except _BadShapesError:
        shapes = ", ".join(f"{n} {_np.shape(v)}" for n, v in values.items())
        raise SystemExit(f"error: the sizes of the data do not fit the problem ({shapes})") from None


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="the .npz with the data (and optional starts x0_NAME, bounds lower_NAME/upper_NAME)")
    ap.add_argument("--out", default="solution.npz", help="where to write the solution (default solution.npz)")
    ap.add_argument("--tol", type=float, default=None)
    ap.add_argument("--maxiter", type=int, default=None)
    ap.add_argument("--time-limit", type=float, default=None, help="seconds")
    ap.add_argument("--verbose", type=int, default=0, metavar="K", help="print a line every K iterations")
    args = ap.parse_args(argv)
    res = solve_npz(args.data, args.tol, args.maxiter, args.time_limit, args.verbose)
    _np.savez(args.out, **res.x, fun=res.fun, success=res.success, nit=res.nit, message=res.message)
    print(("success" if res.success else "FAILED") + f" ({res.status}): {res.message}")
    print(f"objective {res.fun:.12g}  iterations {res.nit}  method {res.method}  time {res.time:.3f} s")
    print(f"solution written to {args.out}")
    return 0 if res.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
'''


def _engine_body() -> str:
    """engine.py without its docstring and ``from __future__`` line (the script has its own)."""
    spec = importlib.util.find_spec(engine.__name__)
    assert spec is not None and spec.origin is not None
    src = Path(spec.origin).read_text(encoding="utf-8")
    tree = ast.parse(src)
    first = tree.body[0]
    lines = src.splitlines()
    if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant):
        lines = lines[first.end_lineno:]
    return "\n".join(ln for ln in lines if ln.strip() != "from __future__ import annotations").strip() + "\n"


def _program_source(program: Any, name: str) -> str:
    return dataclasses.replace(program, name=name, _source=None).source()


def solver_script(problem: Problem, bounds: Mapping[str, tuple[Any, Any]] | None = None, *, tol: float = 1e-8,
                  method: str = "auto", maxiter: int = 10000) -> str:
    """The text of a stand-alone solver script for the problem (see the module docstring).

    Bounds must be numbers (array bounds go into the .npz as lower_NAME / upper_NAME)."""
    obj = problem.fg.program
    parts = [_program_source(obj, "objective")]
    constraints = []
    wrt_of = {}
    for i, c in enumerate(problem.constraints):
        fg_prog = c.fg.program
        if c.scalar:
            parts.append(_program_source(fg_prog, f"constraint_{i}"))
            constraints.append((c.text, c.kind, f"constraint_{i}", fg_prog.params, None, None, "", True))
        else:
            parts.append(_program_source(c.value_program, f"constraint_{i}"))
            parts.append(_program_source(fg_prog, f"constraint_{i}_vjp"))
            constraints.append((c.text, c.kind, f"constraint_{i}", c.value_program.params,  # type: ignore[union-attr]
                                f"constraint_{i}_vjp", fg_prog.params, c.mult, False))
        wrt_of[c.text] = c.wrt
    hvp_spec = None
    if len(problem.wrt) == 1 and not problem.constraints:
        try:  # the Newton finish where L-BFGS stops short of tol (as minimize does)
            hprog = problem.hessian().hvp_program()
            parts.append(_program_source(hprog, "objective_hvp"))
            hvp_spec = (hprog.params, f"_d_{problem.wrt[0]}")
        except MatdiffError:
            hvp_spec = None
    if any("_D." in part for part in parts):
        raise MatdiffError("the problem uses a function defined with matdiff.define by its NumPy kernel; a solver "
                           "script cannot carry that kernel: define it by an expression instead")
    code = standalone_source("\n\n".join(parts))
    plain_bounds: dict[str, tuple[float | None, float | None]] = {}
    for name, (lo, hi) in (bounds or {}).items():
        pair = []
        for side in (lo, hi):
            if side is not None and np.ndim(side) != 0:
                pair.append(None)  # read from the .npz (lower_NAME / upper_NAME)
            else:
                pair.append(None if side is None or not np.isfinite(float(side)) else float(side))
        plain_bounds[name] = (pair[0], pair[1])
    dims = problem.dim_sources()
    spec = {
        "objective": to_text(problem.objective),
        "objective_params": obj.params,
        "variables": [(n, problem.kinds[n], dims[n]) for n in problem.wrt],
        "data": problem.data_names(),
        "data_kinds": problem.data_kinds(),
        "bounds": plain_bounds,
        "constraints": constraints,
        "wrt_of": wrt_of,
        "hvp": hvp_spec,
        "tol": tol,
        "method": {"augmented-lagrangian": "al", "newton": "lbfgs"}.get(method, method),
        "maxiter": maxiter,
    }
    tail = ("_BadShapesError = BadShapes\n"
            "_DomainError = globals().get('DomainError', ArithmeticError)  # what the generated code raises\n")
    names = ", ".join(problem.wrt)
    cons_doc = "".join(f"\n    subject to  {c.text}" for c in problem.constraints)
    bnd_doc = "".join(f"\n    bounds      {'-inf' if lo is None else lo} <= {n} <= {'inf' if hi is None else hi}"
                      for n, (lo, hi) in plain_bounds.items())
    doc = (f'"""Solver for\n\n    minimise    {to_text(problem.objective)}\n    over        {names}'
           f'{cons_doc}{bnd_doc}\n\n'
           f"generated by matdiff; needs only NumPy and SciPy.\n\n"
           f"usage: python {{this file}} data.npz [--out solution.npz] [--tol T] [--maxiter N] [--time-limit S]\n\n"
           f"data.npz holds {', '.join(spec['data']) or 'nothing'}; optionally x0_NAME (a start), lower_NAME /"
           " upper_NAME (bounds).\n"
           'The solution (each variable, fun, success, nit, message) goes to --out.\n"""\n')
    return "\n".join([
        doc,
        "from __future__ import annotations\n",
        "# ---- the solver (matdiff.optimize.engine) ----",
        _engine_body(),
        "# ---- generated by matdiff: the objective and the constraints, with the helpers they call ----",
        code,
        tail,
        f"PROBLEM = {spec!r}",
        MAIN,
    ])
