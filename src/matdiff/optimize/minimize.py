"""``matdiff.minimize``: minimise what was derived, with the compiled value and gradient (DESIGN.md's contract)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.nodes import Expr
from ..errors import DomainError, MatdiffError
from . import engine
from .problem import DOMAIN_ERRORS, ConstraintError, Problem, make_problem

METHODS = ("auto", "lbfgs", "newton", "augmented-lagrangian", "slsqp")


class SolverError(MatdiffError):
    """Bad input to minimize: a start, bounds or options that cannot be used (the message says how to fix it)."""


@dataclass
class MinimizeResult:
    """The outcome of :func:`minimize`.

    ``x``: the variables at the end ({name: value}); ``fun``: the objective there; ``success``: whether it is a
    minimiser to the tolerance (and feasible), or, status "precision", to the augmented Lagrangian's relaxed
    test (feasible and complementary to tol, the Lagrangian's gradient within 100x tol where float64 lets the
    line search go no further: ``grad_norm`` says how far); ``status``: "converged", "precision", "infeasible",
    "unbounded", "not finite", "domain", "maxiter", "time" or "stalled"; ``message`` says which in words;
    ``nit``: iterations (of all inner solves); ``nfev``: evaluations of the objective and gradient; ``method``:
    the solver used;
    ``grad_norm``: the largest entry of the projected gradient (of the Lagrangian, with constraints);
    ``infeasibility``: the largest constraint violation; ``multipliers``: the constraints' Lagrange multipliers
    (augmented Lagrangian); ``time``: seconds spent solving."""

    x: dict[str, Any]
    fun: float
    success: bool
    nit: int
    message: str
    status: str = "converged"
    method: str = ""
    nfev: int = 0
    grad_norm: float = math.nan
    infeasibility: float = 0.0
    multipliers: list[Any] = field(default_factory=list)
    time: float = 0.0

    def __repr__(self) -> str:
        return (f"MinimizeResult(success={self.success}, status={self.status!r}, fun={self.fun!r}, nit={self.nit}, "
                f"method={self.method!r}, message={self.message!r})")

    def __str__(self) -> str:
        lines = [f"{'success' if self.success else 'FAILED'} ({self.status}): {self.message}",
                 f"objective {self.fun:.12g}  iterations {self.nit}  evaluations {self.nfev}  method {self.method}  "
                 f"time {self.time:.3f} s"]
        if self.infeasibility:
            lines.append(f"largest constraint violation {self.infeasibility:.3e}")
        return "\n".join(lines)


def _names(wrt: str | Sequence[str]) -> list[str]:
    if isinstance(wrt, str):
        return [wrt]
    if isinstance(wrt, (list, tuple)) and wrt and all(isinstance(w, str) for w in wrt):
        if len(set(wrt)) != len(wrt):
            raise SolverError(f"wrt names a variable twice: {list(wrt)}")
        return list(wrt)
    raise SolverError(f"wrt must be a variable name or a non-empty list of names, not {wrt!r}")


def _constraint_list(constraints: str | Sequence[str] | None) -> list[str]:
    if constraints is None:
        return []
    if isinstance(constraints, str):
        return [constraints]
    out = list(constraints)
    for c in out:
        if not isinstance(c, str):
            raise ConstraintError(f"constraints are text like \"sum(x) == 1\", not {c!r}")
    return out


def _data(problem: Problem, values: Mapping[str, Any]) -> dict[str, Any]:
    """The data as the generated code takes them: floats, 1-D vectors, 2-D matrices (checked at the start)."""
    for n in problem.wrt:
        if n in values:
            raise SolverError(f"{n} is minimised over: give its start as x0={{'{n}': ...}}, not in values")
    kinds = problem.data_kinds()
    missing = [n for n in problem.data_names() if n not in values]
    if missing:
        raise SolverError(f"no value given for {', '.join(missing)}: values= must hold every variable that is not "
                          f"minimised over ({', '.join(problem.data_names())})")
    out: dict[str, Any] = {}
    for n in problem.data_names():
        a = np.asarray(values[n])
        if a.dtype.kind in "biuf" and a.dtype != np.float64:
            a = a.astype(np.float64)
        if kinds[n] == "scalar" and a.size == 1:
            out[n] = float(a.reshape(-1)[0]) if a.dtype.kind != "c" else complex(a.reshape(-1)[0])
        elif kinds[n] == "vector" and a.ndim == 2 and 1 in a.shape:
            out[n] = a.reshape(-1)
        else:
            out[n] = a
    return out


def _types_from_values(types: Mapping[str, str] | None, values: Mapping[str, Any] | None,
                       x0: Mapping[str, Any] | None) -> dict[str, str]:
    """The declared types, and for names not declared the kind their value shows: 0-d a scalar, 1-D a vector,
    2-D a matrix (so ``lam`` given as 0.1 is a scalar, whatever its first letter says)."""
    out = dict(types or {})
    for given in (values or {}), (x0 or {}):
        for name, v in given.items():
            if name in out or not isinstance(name, str):
                continue
            nd = np.ndim(v)
            if nd in (0, 1, 2):
                out[name] = ("scalar", "vector", "matrix")[nd]
    return out


def _start(problem: Problem, shapes: Mapping[str, tuple[int, ...]], x0: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kinds = problem.kinds
    for n in problem.wrt:
        if x0 is not None and n in x0:
            a = np.array(x0[n], dtype=float)
            out[n] = float(a.reshape(-1)[0]) if kinds[n] == "scalar" and a.size == 1 else a
            if kinds[n] == "vector" and np.ndim(a) == 2 and 1 in np.shape(a):
                out[n] = a.reshape(-1)
        elif kinds[n] == "scalar":
            out[n] = 0.0
        elif kinds[n] == "spd":
            out[n] = np.eye(shapes[n][0])
        else:
            out[n] = np.zeros(shapes[n])
    if x0 is not None:
        unknown = [n for n in x0 if n not in problem.wrt]
        if unknown:
            raise SolverError(f"x0 names {', '.join(unknown)}, which is not minimised over ({', '.join(problem.wrt)})")
    return out


def _bounds(bounds: Mapping[str, Any] | None, wrt: Sequence[str],
            extra: Mapping[str, tuple[float | None, float | None]]) -> dict[str, tuple[Any, Any]]:
    out: dict[str, tuple[Any, Any]] = {}
    for name, pair in (bounds or {}).items():
        if name not in wrt:
            raise SolverError(f"bounds name {name}, which is not minimised over ({', '.join(wrt)})")
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise SolverError(f"the bounds of {name} must be a pair (lower, upper) with None for no bound, e.g. "
                              f"{{'{name}': (0, None)}}; not {pair!r}")
        out[name] = (pair[0], pair[1])
    for name, (lo, hi) in extra.items():
        old = out.get(name, (None, None))
        new_lo = lo if old[0] is None else old[0] if lo is None else np.maximum(old[0], lo)
        new_hi = hi if old[1] is None else old[1] if hi is None else np.minimum(old[1], hi)
        out[name] = (new_lo, new_hi)
    return out


def choose_method(problem: Problem, method: str, bounds: Mapping[str, Any], constraints: Sequence[Any]) -> str:
    """The solver ``method="auto"`` picks: the augmented Lagrangian with constraints, else L-BFGS(-B).

    L-BFGS is the default without constraints: on every problem of benchmarks/bench_minimize.py it reaches the
    tolerance sooner than trust-krylov with compiled Hessian-vector products (logistic regression 5000 x 200:
    about 15 against 55 ms; 200 x 5: 0.7 against 1.3 ms), each Newton step costing several products of about a
    gradient each, see docs/minimize.md. Newton steps are taken where L-BFGS stalls short of the tolerance (the
    engine's Newton finish); ``method="newton"`` asks for trust-krylov from the start."""
    if method not in METHODS:
        raise SolverError(f"unknown method {method!r}: one of {', '.join(METHODS)}")
    if method != "auto":
        if method == "newton" and (bounds or constraints or any(k in ("symmetric", "spd")
                                                               for k in problem.kinds.values())):
            raise SolverError("method='newton' (trust-krylov with Hessian-vector products) takes no bounds, no "
                              "constraints and no symmetric or spd variables; use method='lbfgs'")
        return method
    return "augmented-lagrangian" if constraints else "lbfgs"


def minimize(objective: str | Expr, wrt: str | Sequence[str], values: Mapping[str, Any] | None = None,
             x0: Mapping[str, Any] | None = None, types: Mapping[str, str] | None = None,
             bounds: Mapping[str, tuple[Any, Any]] | None = None, constraints: str | Sequence[str] | None = None,
             tol: float = 1e-8, *, method: str = "auto", maxiter: int = 10000, time_limit: float | None = None,
             verbose: bool | int = False, callback: Callable[[dict[str, Any]], None] | None = None,
             source: bool = False) -> MinimizeResult | str:
    """Minimise a scalar expression over the variables ``wrt``, the others fixed at ``values``.

    Uses the compiled value and gradient (:func:`matdiff.compile`): L-BFGS without bounds, L-BFGS-B with entrywise
    ``bounds`` ({"x": (0, None)}, arrays allowed), and with ``constraints`` (["sum(x) == 1", "norm2(x)^2 <= 1"],
    ==, <= and >=) an augmented Lagrangian with L-BFGS-B inner solves, the constraints' gradients derived by
    matdiff too (a constraint ``x >= 0`` on a variable becomes a bound). ``method``: "auto", "lbfgs", "newton"
    (trust-krylov with Hessian-vector products), "augmented-lagrangian" or "slsqp" (small constrained problems).

    ``types`` as for :func:`matdiff.grad`; an "spd" variable stays spd at every iterate (it is S = B expm(X) B' with X
    symmetric, B the factor of a base point moved to the iterate between rounds; it starts at the identity by
    default), a "symmetric" one symmetric. ``x0``: the start, by name (zeros by
    default). ``tol``: converged when the largest entry of the projected gradient is at most tol times
    max(1, that at x0), and with constraints the largest violation at most tol times max(1, that at x0).

    Returns a :class:`MinimizeResult`; ``success`` is False, and ``message`` says why, where the problem is
    infeasible, unbounded below, NaN, leaves the objective's domain, or the run hits ``maxiter`` or
    ``time_limit`` (seconds). ``verbose=True`` (or k) prints a line every 10 (k) iterations; ``callback(info)``
    is called every iteration. ``source=True`` returns the text of a stand-alone solver script instead (NumPy
    and SciPy only; it reads the data from an .npz file), see :func:`matdiff.optimize.solver_script`.

    Raises a MatdiffError subclass (ParseError, ShapeError, SolverError, ConstraintError) for bad input."""
    names = _names(wrt)
    cons = _constraint_list(constraints)
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise SolverError(f"tol must be a positive number, not {tol!r}")
    if not (isinstance(maxiter, int) and maxiter > 0):
        raise SolverError(f"maxiter must be a positive integer, not {maxiter!r}")
    problem, extra = make_problem(objective, names, _types_from_values(types, values, x0), cons)
    all_bounds = _bounds(bounds, names, extra)
    chosen = choose_method(problem, method, all_bounds, problem.constraints)
    if source:
        from .script import solver_script  # the script generator is needed only here
        return solver_script(problem, all_bounds, tol=tol, method=chosen, maxiter=maxiter)
    data = _data(problem, values or {})
    shapes = problem.shapes(data, x0)
    start = _start(problem, shapes, x0)
    for n, k in problem.kinds.items():
        if k in ("symmetric", "spd") and np.ndim(start[n]) == 2 and np.max(np.abs(start[n] - start[n].T),
                                                                            initial=0.0) > 1e-12:
            raise SolverError(f"the start of the {k} variable {n} is not symmetric")
        if k == "spd":
            try:
                np.linalg.cholesky(start[n])
            except np.linalg.LinAlgError:
                raise SolverError(f"the start of the spd variable {n} is not positive definite; give an spd x0 "
                                  "(the default is the identity)") from None
    raw = problem.raw_objective()
    first = None
    try:  # the generated function at the start; where it fails, the public callable says why (shapes, NaN, domain)
        first = raw({**data, **start})
        if not (math.isfinite(float(first[0])) and all(np.all(np.isfinite(g)) for g in first[1].values())):
            first = None
    except Exception:  # noqa: BLE001 - re-raised with its explanation by the checked call below
        first = None
    try:
        if first is None:
            problem.fg(**data, **start)
        for c in problem.constraints:
            c.bind().value_and_vjp({**data, **start})
    except DomainError as err:
        return MinimizeResult(start, math.nan, False, 0, f"the objective or a constraint is not defined at the start "
                              f"x0 ({err}); give x0 inside the domain", status=engine.DOMAIN, method="none")
    layout = engine.Layout([(n, problem.kinds[n], tuple(np.shape(start[n]))) for n in names])
    try:
        res = engine.solve(raw, layout, data, start, bounds=all_bounds, first=first,
                           constraints=[c.bind() for c in problem.constraints], tol=float(tol),
                           method={"augmented-lagrangian": "al", "lbfgs": "lbfgs"}.get(chosen, chosen),
                           maxiter=maxiter, time_limit=time_limit, verbose=int(verbose) if verbose else 0,
                           callback=callback, hvp=problem.hvp if not problem.constraints else None,
                           domain_errors=DOMAIN_ERRORS)
    except engine.Stop as stop:  # pragma: no cover - the engine turns these into results
        raise SolverError(stop.message) from None
    except MatdiffError:
        raise
    except ValueError as err:  # the engine's checks of starts and bounds
        raise SolverError(str(err)) from None
    return MinimizeResult(x=res.x, fun=res.fun, success=res.success, nit=res.nit, message=res.message,
                          status=res.status, method=res.method, nfev=res.nfev, grad_norm=res.grad_norm,
                          infeasibility=res.infeasibility, multipliers=res.multipliers, time=res.time)
