"""Stand-alone solver scripts: one Python file that needs only NumPy and SciPy and solves the problem from an .npz.

The script holds, in order: the solver (:mod:`matdiff.optimize.engine`, copied verbatim), matdiff's NumPy
runtime kernels that the generated code calls (copied under the private package name ``_matdiff_rt`` and
served by an import hook, so matdiff need not be installed), the generated value-and-gradient function of the
objective and the functions of each constraint, the problem (variables, kinds, where their sizes come from,
bounds, constraints) and a ``main`` that reads the data, solves and writes the solution.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..syntax.printer import to_text
from . import engine
from .problem import Problem

VENDOR = "_matdiff_rt"
_ENTRY = ("matdiff.runtime", "matdiff.runtime.factor", "matdiff.runtime.kernels", "matdiff.runtime.numpy",
          "matdiff.runtime.protocol")


def _module_source(name: str) -> tuple[str, bool]:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:  # pragma: no cover - the runtime is part of the package
        raise ImportError(name)
    return Path(spec.origin).read_text(encoding="utf-8"), spec.submodule_search_locations is not None


def _imports_of(name: str, source: str, is_package: bool) -> list[str]:
    """The matdiff modules a module imports (absolute and relative), as absolute names."""
    pkg = name.split(".") if is_package else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            else:
                base = (node.module or "").split(".")
            if base[0] != "matdiff":
                continue
            mod = ".".join(base)
            out.append(mod)
            for a in node.names:  # ``from . import factor``: a submodule
                sub = f"{mod}.{a.name}"
                if importlib.util.find_spec(mod) is not None and _is_module(sub):
                    out.append(sub)
        elif isinstance(node, ast.Import):
            out.extend(a.name for a in node.names if a.name.split(".")[0] == "matdiff")
    return out


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def vendored_runtime(entry: tuple[str, ...] = _ENTRY) -> dict[str, tuple[str, bool]]:
    """{private module name: (source, is a package)} of the runtime modules generated code needs, and theirs."""
    seen: dict[str, tuple[str, bool]] = {}
    todo = list(entry)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        src, is_pkg = _module_source(name)
        seen[name] = (src, is_pkg)
        todo.extend(m for m in _imports_of(name, src, is_pkg) if m not in seen)
    seen.setdefault("matdiff", ("", True))
    out = {}
    for name, (src, is_pkg) in seen.items():
        if name == "matdiff":
            src = ""  # the package itself: empty (its __init__ would import everything)
        private = VENDOR + name[len("matdiff"):]
        out[private] = (re.sub(r"\bmatdiff\.", VENDOR + ".", src), is_pkg)
    return out


LOADER = '''
import importlib.abc as _ilabc
import importlib.util as _ilutil
import sys as _sys


class _RuntimeFinder(_ilabc.MetaPathFinder, _ilabc.Loader):
    """Serves matdiff's NumPy runtime from the sources in this file (matdiff need not be installed)."""

    def find_spec(self, name, path=None, target=None):
        if name in _RUNTIME:
            return _ilutil.spec_from_loader(name, self, is_package=_RUNTIME[name][1])
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        code = compile(_RUNTIME[module.__name__][0], "<matdiff runtime " + module.__name__ + ">", "exec")
        exec(code, module.__dict__)


if not any(isinstance(f, _RuntimeFinder) for f in _sys.meta_path):
    _sys.meta_path.insert(0, _RuntimeFinder())
'''

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

    try:
        return solve(fg, Layout(variables), values, x0, bounds=bounds,
                     constraints=[_constraint(c) for c in PROBLEM["constraints"]],
                     tol=PROBLEM["tol"] if tol is None else tol, method=method or PROBLEM["method"],
                     maxiter=maxiter or PROBLEM["maxiter"], time_limit=time_limit, verbose=verbose,
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
    src, _ = _module_source(engine.__name__)
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
    code = "\n\n".join(parts)
    if "_D." in code:
        from ..errors import MatdiffError
        raise MatdiffError("the problem uses a function defined with matdiff.define by its NumPy kernel; a solver "
                           "script cannot carry that kernel: define it by an expression instead")
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
        "tol": tol,
        "method": {"augmented-lagrangian": "al", "newton": "lbfgs"}.get(method, method),
        "maxiter": maxiter,
    }
    runtime = vendored_runtime()
    header = (f"import numpy as _np\nfrom scipy.special import expit as _expit\n"
              f"from {VENDOR}.runtime import factor as _F, kernels as _K\n"
              f"from {VENDOR}.runtime.numpy import (arg as _arg, arg0 as _arg0, check as _check, "
              "check_positive as _check_positive,\n"
              "    dot as _dot, finite_inputs as _finite_inputs, nonzero as _nonzero, scalar as _scalar)\n"
              f"from {VENDOR}.runtime.protocol import BadShapes as _BadShapes\n"
              f"from {VENDOR}.errors import DomainError as _DomainError\n"
              "_BadShapesError = _BadShapes\n")
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
    runtime_src = "_RUNTIME = {\n" + "".join(f"    {k!r}: ({v[0]!r}, {v[1]!r}),\n" for k, v in runtime.items()) + "}\n"
    return "\n".join([
        doc,
        "from __future__ import annotations\n",
        "# ---- the solver (matdiff.optimize.engine) ----",
        _engine_body(),
        "# ---- matdiff's NumPy runtime, served from this file ----",
        runtime_src,
        LOADER,
        header,
        "# ---- generated by matdiff: the objective and the constraints ----",
        code,
        "",
        f"PROBLEM = {spec!r}",
        MAIN,
    ])
