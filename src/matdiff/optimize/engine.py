"""The solver behind ``matdiff.minimize``: NumPy and SciPy only, so that solver scripts embed it verbatim.

The problem reaches this module as plain callables on dicts of arrays: ``fg(values) -> (f, {name: gradient})``
for the objective and, per constraint, ``value_and_vjp(values) -> (c, vjp)`` with ``vjp(w) -> {name: J'w}``.
Nothing here imports matdiff (:mod:`matdiff.optimize.script` copies this file into the scripts it writes).

* :class:`Layout` packs the variables into one parameter vector: entries of scalars, vectors and matrices;
  the diagonal and the upper triangle (scaled by sqrt(2), an isometry) of a symmetric matrix; the Cholesky
  factor of an spd matrix, with the logarithm of its diagonal, so every iterate ``L L'`` is spd.
* :func:`solve` runs L-BFGS-B (bounds entrywise), SciPy's trust-krylov with Hessian-vector products
  (``method="newton"``), an augmented Lagrangian with L-BFGS-B inner solves for constraints (GENO's
  approach), or SciPy's SLSQP (``method="slsqp"``), and says how it ended: converged, infeasible,
  unbounded below, not finite, outside the domain, out of iterations or out of time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import optimize as _sopt

SQRT2 = math.sqrt(2.0)
KINDS = ("scalar", "vector", "matrix", "symmetric", "spd")
UNBOUNDED_FACTOR = 1e12  # f below f(x0) - this * max(1, |f(x0)|): unbounded below
PENALTY_MAX = 1e12  # the augmented Lagrangian's penalty weight at which the constraints count as infeasible

# how a run ended (Result.status)
CONVERGED, INFEASIBLE, UNBOUNDED, NOT_FINITE, DOMAIN, MAXITER, TIME, STALLED = (
    "converged", "infeasible", "unbounded", "not finite", "domain", "maxiter", "time", "stalled")


class Stop(Exception):
    """Raised inside an evaluation to end a run early; ``status`` and ``message`` say why."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Layout:
    """The variables ``[(name, kind, shape)]`` as one parameter vector z (see the module docstring)."""

    def __init__(self, variables: Sequence[tuple[str, str, tuple[int, ...]]]):
        self.variables = [(n, k, tuple(int(s) for s in shape)) for n, k, shape in variables]
        self.slices: dict[str, slice] = {}
        start = 0
        for name, kind, shape in self.variables:
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r} of {name}")
            if kind in ("symmetric", "spd"):
                m = shape[0]
                count = m * (m + 1) // 2
            else:
                count = int(np.prod(shape, dtype=int))
            self.slices[name] = slice(start, start + count)
            start += count
        self.size = start
        self.structured = any(k in ("symmetric", "spd") for _, k, _ in self.variables)

    @staticmethod
    def _tri(m: int) -> tuple[np.ndarray, np.ndarray]:
        return np.triu_indices(m, 1)

    def unpack(self, z: np.ndarray) -> dict[str, Any]:
        """The variables' values at parameters z: floats, 1-D and 2-D arrays."""
        out: dict[str, Any] = {}
        for name, kind, shape in self.variables:
            p = z[self.slices[name]]
            if kind == "scalar":
                out[name] = float(p[0])
            elif kind in ("vector", "matrix"):
                out[name] = p.reshape(shape).copy()
            else:
                m = shape[0]
                iu = self._tri(m)
                if kind == "symmetric":
                    X = np.diag(p[:m])
                    X[iu] = p[m:] / SQRT2
                    X[iu[1], iu[0]] = X[iu]
                else:
                    L = np.diag(np.exp(p[:m]))
                    L[iu[1], iu[0]] = p[m:]
                    X = L @ L.T
                    X = (X + X.T) / 2
                out[name] = X
        return out

    def pack(self, values: Mapping[str, Any]) -> np.ndarray:
        """The parameters of the variables' values (ValueError for an spd value that is not positive definite)."""
        z = np.empty(self.size)
        for name, kind, shape in self.variables:
            a = np.asarray(values[name], dtype=float)
            if a.size != int(np.prod(shape, dtype=int)):
                raise ValueError(f"the start of {name} has shape {a.shape}, not {shape}")
            a = a.reshape(shape)
            if kind in ("scalar", "vector", "matrix"):
                z[self.slices[name]] = a.ravel()
                continue
            m = shape[0]
            S = (a + a.T) / 2
            iu = self._tri(m)
            if kind == "symmetric":
                z[self.slices[name]] = np.concatenate([np.diag(S), SQRT2 * S[iu]])
            else:
                try:
                    L = np.linalg.cholesky(S)
                except np.linalg.LinAlgError:
                    raise ValueError(f"the start of {name} is not positive definite; an spd variable must "
                                     "start at an spd matrix (the default is the identity)") from None
                z[self.slices[name]] = np.concatenate([np.log(np.diag(L)), L[iu[1], iu[0]]])
        return z

    def pullback(self, z: np.ndarray, grads: Mapping[str, Any]) -> np.ndarray:
        """The gradient with respect to z from the gradients with respect to the variables (the chain rule)."""
        g = np.empty(self.size)
        for name, kind, shape in self.variables:
            G = np.asarray(grads[name], dtype=float)
            if kind in ("scalar", "vector", "matrix"):
                g[self.slices[name]] = np.broadcast_to(G, shape).ravel()
                continue
            m = shape[0]
            G = np.broadcast_to(G, shape)
            Gs = (G + G.T) / 2
            iu = self._tri(m)
            if kind == "symmetric":
                g[self.slices[name]] = np.concatenate([np.diag(Gs), SQRT2 * Gs[iu]])
            else:
                p = z[self.slices[name]]
                L = np.diag(np.exp(p[:m]))
                L[iu[1], iu[0]] = p[m:]
                M = 2 * (Gs @ L)
                g[self.slices[name]] = np.concatenate([np.diag(M) * np.diag(L), M[iu[1], iu[0]]])
        return g

    def push(self, directions: Mapping[str, Any]) -> np.ndarray:
        """Directions of plain (unstructured) variables as a vector in z's layout."""
        return np.concatenate([np.asarray(directions[n], dtype=float).ravel() for n, _, _ in self.variables])

    def split(self, v: np.ndarray) -> dict[str, Any]:
        """A vector in z's layout as directions of plain variables."""
        return {n: (float(v[self.slices[n]][0]) if k == "scalar" else v[self.slices[n]].reshape(s))
                for n, k, s in self.variables}

    def bounds(self, bounds: Mapping[str, tuple[Any, Any]] | None) -> list[tuple[float | None, float | None]] | None:
        """Entrywise bounds on the variables as L-BFGS-B's bounds on z (None where there are none)."""
        if not bounds:
            return None
        lo = np.full(self.size, -np.inf)
        hi = np.full(self.size, np.inf)
        for name, kind, shape in self.variables:
            if name not in bounds:
                continue
            if kind == "spd":
                raise ValueError(f"bounds on the spd variable {name} are not supported (its parameters are a "
                                 "Cholesky factor); declare it symmetric, or write the bound as a constraint")
            pair = bounds[name]
            parts = []
            for side, fill in zip(pair, (-np.inf, np.inf)):
                b = np.full(shape, fill) if side is None else np.broadcast_to(np.asarray(side, dtype=float), shape)
                b = np.where(np.isnan(b), fill, b)
                if kind == "symmetric":
                    m = shape[0]
                    iu = self._tri(m)
                    b = np.concatenate([np.diag(b), SQRT2 * b[iu]])
                parts.append(np.ravel(b))
            if np.any(parts[0] > parts[1]):
                raise ValueError(f"the bounds of {name} are empty: a lower bound exceeds its upper bound")
            lo[self.slices[name]], hi[self.slices[name]] = parts
        return [(None if not np.isfinite(a) else float(a), None if not np.isfinite(b) else float(b))
                for a, b in zip(lo, hi)]


class Constraint:
    """``c(x) == 0`` (kind "eq") or ``c(x) <= 0`` (kind "ineq"); ``value_and_vjp(values) -> (c, vjp)``."""

    def __init__(self, text: str, kind: str, value_and_vjp: Callable[[Mapping[str, Any]], tuple[Any, Any]]):
        if kind not in ("eq", "ineq"):
            raise ValueError(f"a constraint is 'eq' or 'ineq', not {kind!r}")
        self.text, self.kind, self.value_and_vjp = text, kind, value_and_vjp


class Result:
    """How a run ended: the variables, the objective, success, iterations and a message that says why."""

    def __init__(self, x: dict[str, Any], fun: float, success: bool, status: str, message: str, nit: int,
                 nfev: int, method: str, grad_norm: float, infeasibility: float, elapsed: float,
                 multipliers: list[Any] | None = None):
        self.x, self.fun, self.success, self.status, self.message = x, fun, success, status, message
        self.nit, self.nfev, self.method = nit, nfev, method
        self.grad_norm, self.infeasibility, self.time = grad_norm, infeasibility, elapsed
        self.multipliers = multipliers or []


def _bad_value_status(err: BaseException) -> str:
    text = str(err)
    return NOT_FINITE if ("not finite" in text or "NaN" in text or "infinite" in text) else DOMAIN


class Objective:
    """f and its gradient on z, with the bookkeeping of a run: evaluations, the best point, limits, progress."""

    def __init__(self, fg: Callable[[Mapping[str, Any]], tuple[float, Mapping[str, Any]]], layout: Layout,
                 data: Mapping[str, Any], domain_errors: tuple[type[BaseException], ...], deadline: float,
                 report: Callable[[dict[str, Any]], None] | None):
        self.fg, self.layout, self.data, self.domain_errors = fg, layout, dict(data), domain_errors
        self.deadline, self.report = deadline, report
        self.nfev = 0
        self.f0: float | None = None
        self.z0_norm = 1.0
        self.last: tuple[np.ndarray, float, np.ndarray] | None = None
        self.domain_hits: list[str] = []
        self.nit = 0
        self.start = time.perf_counter()

    def values(self, z: np.ndarray) -> dict[str, Any]:
        return {**self.data, **self.layout.unpack(z)}

    def __call__(self, z: np.ndarray) -> tuple[float, np.ndarray]:
        if time.perf_counter() > self.deadline:
            raise Stop(TIME, "stopped at the time limit")
        self.nfev += 1
        try:
            f, grads = self.fg(self.values(z))
            f = float(f)
            g = self.layout.pullback(z, grads)
        except self.domain_errors as err:
            if self.f0 is None:
                raise
            self.domain_hits.append(f"{type(err).__name__}: {err}")
            return math.inf, np.zeros_like(z)  # the caller checks the end point: never taken as optimal
        if not (math.isfinite(f) and np.all(np.isfinite(g))):
            if self.f0 is None:
                raise Stop(NOT_FINITE, "the objective or its gradient is NaN or infinite at the start")
            self.domain_hits.append("the objective or its gradient is NaN or infinite")
            return math.inf, np.zeros_like(z)
        if self.f0 is None:
            self.f0 = f
            self.z0_norm = max(1.0, float(np.max(np.abs(z), initial=0.0)))
        elif f < self.f0 - UNBOUNDED_FACTOR * max(1.0, abs(self.f0)) or \
                float(np.max(np.abs(z), initial=0.0)) > 1e15 * self.z0_norm:
            raise Stop(UNBOUNDED, f"the objective looks unbounded below: it fell to {f:.3g} from {self.f0:.3g} "
                                  f"at the start (the iterates grow without bound)")
        self.last = (z.copy(), f, g)
        return f, g


def projected_gradient(z: np.ndarray, g: np.ndarray, bounds: list[tuple[float | None, float | None]] | None,
                       ) -> np.ndarray:
    """The gradient with the components that push against an active bound set to zero (L-BFGS-B's measure)."""
    if not bounds:
        return g
    lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
    hi = np.array([np.inf if b[1] is None else b[1] for b in bounds])
    return z - np.clip(z - g, lo, hi)


def _lbfgsb(obj: Objective, z0: np.ndarray, bounds: Any, gtol: float, maxiter: int,
            on_iter: Callable[[np.ndarray], None]) -> tuple[np.ndarray, str]:
    """One L-BFGS-B run; the end point and SciPy's message (Stop propagates)."""
    res = _sopt.minimize(obj, z0, jac=True, method="L-BFGS-B", bounds=bounds, callback=on_iter,
                         options={"maxiter": maxiter, "maxfun": max(maxiter * 4, 100), "gtol": gtol,
                                  "ftol": 0.0, "maxcor": 20, "maxls": 40})
    return np.asarray(res.x, dtype=float), str(res.message)


def _iter_line(it: int, f: float, gnorm: float, infeas: float | None) -> str:
    extra = f"  infeasibility {infeas:.3e}" if infeas is not None else ""
    return f"iter {it:5d}  objective {f: .10e}  |grad| {gnorm:.3e}{extra}"


def solve(fg: Callable[[Mapping[str, Any]], tuple[float, Mapping[str, Any]]], layout: Layout,
          data: Mapping[str, Any], x0: Mapping[str, Any], *, bounds: Mapping[str, Any] | None = None,
          constraints: Sequence[Constraint] = (), tol: float = 1e-8, method: str = "auto",
          maxiter: int = 10000, time_limit: float | None = None, verbose: int = 0,
          callback: Callable[[dict[str, Any]], None] | None = None,
          hvp: Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]] | None = None,
          domain_errors: tuple[type[BaseException], ...] = (ValueError, ArithmeticError, np.linalg.LinAlgError),
          ) -> Result:
    """Minimise ``fg`` over the variables of ``layout`` from ``x0`` (see the module docstring).

    tol: the run has converged when the largest entry of the projected gradient (of the augmented Lagrangian,
    with constraints) is at most ``tol * max(1, that at x0)`` and, with constraints, the largest violation is
    at most ``tol * max(1, that at x0)``. ``verbose=k`` prints a line every k iterations; ``callback`` gets
    a dict (iteration, objective, grad_norm, infeasibility, elapsed) each iteration."""
    start = time.perf_counter()
    deadline = start + (time_limit if time_limit is not None else math.inf)
    zbounds = layout.bounds(bounds)
    z0 = layout.pack(x0)
    if zbounds:
        lo = np.array([-np.inf if b[0] is None else b[0] for b in zbounds])
        hi = np.array([np.inf if b[1] is None else b[1] for b in zbounds])
        z0 = np.clip(z0, lo, hi)
    obj = Objective(fg, layout, data, domain_errors, deadline, None)
    every = int(verbose) if verbose and verbose is not True else (10 if verbose else 0)

    def report(f: float, gnorm: float, infeas: float | None, z: np.ndarray | None = None) -> None:
        obj.nit += 1
        if every and (obj.nit == 1 or obj.nit % every == 0):
            print(_iter_line(obj.nit, f, gnorm, infeas), flush=True)
        if callback is not None:
            callback({"iteration": obj.nit, "objective": f, "grad_norm": gnorm, "infeasibility": infeas,
                      "elapsed": time.perf_counter() - start,
                      "x": layout.unpack(z) if z is not None else None})

    def finish(z: np.ndarray, success: bool, status: str, message: str, name: str, gnorm: float,
               infeas: float, mult: list[Any] | None = None) -> Result:
        x = layout.unpack(z)
        if not constraints and obj.last is not None and np.array_equal(obj.last[0], z):
            f = obj.last[1]  # the objective itself was evaluated last, at z
        else:
            try:
                f = float(fg({**obj.data, **x})[0])
            except domain_errors:
                f = math.nan
        return Result(x, f, success, status, message, obj.nit, obj.nfev, name, gnorm, infeas,
                      time.perf_counter() - start, mult)

    try:
        f0, g0 = obj(z0)
    except Stop as stop:
        return finish(z0, False, stop.status, stop.message, "none", math.nan, math.nan)
    except domain_errors as err:
        status = _bad_value_status(err)
        what = "not finite" if status == NOT_FINITE else "not defined"
        return Result(layout.unpack(z0), math.nan, False, status,
                      f"the objective is {what} at the start x0 ({type(err).__name__}: {err}); give x0 inside "
                      "its domain", 0, obj.nfev, "none", math.nan, math.nan, 0.0)
    gscale = max(1.0, float(np.max(np.abs(projected_gradient(z0, g0, zbounds)), initial=0.0)))
    gtol = tol * gscale
    if constraints:
        if method in ("auto", "augmented-lagrangian", "al"):
            return _augmented_lagrangian(obj, layout, z0, zbounds, constraints, tol, gtol, maxiter, report, finish,
                                         domain_errors)
        if method == "slsqp":
            return _slsqp(obj, layout, z0, zbounds, constraints, tol, maxiter, report, finish, domain_errors)
        raise ValueError(f"method {method!r} does not take constraints; use 'auto' (augmented Lagrangian) or "
                         "'slsqp'")
    if method == "slsqp":
        method = "lbfgs"
    if method == "newton":
        if hvp is None or zbounds or layout.structured:
            raise ValueError("method='newton' needs Hessian-vector products, no bounds and no symmetric or spd "
                             "variables; use method='lbfgs'")
        return _newton(obj, layout, z0, gtol, maxiter, report, finish, hvp)
    if method not in ("auto", "lbfgs"):
        raise ValueError(f"unknown method {method!r}: one of 'auto', 'lbfgs', 'newton', 'slsqp'")
    return _bounded(obj, z0, zbounds, gtol, maxiter, report, finish)


def _verdict(obj: Objective, z: np.ndarray, g: np.ndarray, zbounds: Any, gtol: float, scipy_message: str,
             maxiter: int) -> tuple[bool, str, str, float]:
    """Whether an L-BFGS-B or Newton end point is a minimiser to the tolerance, and the message."""
    gnorm = float(np.max(np.abs(projected_gradient(z, g, zbounds)), initial=0.0))
    if gnorm <= gtol:
        return True, CONVERGED, f"converged: the largest entry of the projected gradient is {gnorm:.2e}", gnorm
    if obj.domain_hits:
        status = _bad_value_status(Exception(obj.domain_hits[-1]))
        what = ("the objective was NaN or infinite at a trial point" if status == NOT_FINITE
                else "a trial point left the domain of the objective")
        return False, status, (f"not converged: {what} ({obj.domain_hits[-1]}); the search stopped with the "
                               f"gradient at {gnorm:.2e}. Declare a variable spd (types=) if it must stay positive "
                               "definite, add bounds, or start closer to the minimiser"), gnorm
    if obj.nit >= maxiter:
        return False, MAXITER, f"stopped after {obj.nit} iterations (maxiter) with the gradient at {gnorm:.2e}", gnorm
    return False, STALLED, (f"not converged: the line search made no progress with the gradient at {gnorm:.2e} > "
                            f"{gtol:.2e} ({scipy_message}); loosen tol if that is below what float64 resolves "
                            "here"), gnorm


def _bounded(obj: Objective, z0: np.ndarray, zbounds: Any, gtol: float, maxiter: int, report: Any,
             finish: Any) -> Result:
    def on_iter(zk: np.ndarray) -> None:
        if obj.last is not None:
            report(obj.last[1], float(np.max(np.abs(projected_gradient(zk, obj.last[2], zbounds)), initial=0.0)),
                   None, zk)

    try:
        z, msg = _lbfgsb(obj, z0, zbounds, gtol, maxiter, on_iter)
    except Stop as stop:
        z = obj.last[0] if obj.last is not None else z0
        return finish(z, False, stop.status, stop.message, "L-BFGS-B", math.nan, 0.0)
    f, g = obj(z) if obj.last is None or not np.array_equal(obj.last[0], z) else obj.last[1:]
    ok, status, message, gnorm = _verdict(obj, z, g, zbounds, gtol, msg, maxiter)
    return finish(z, ok, status, message, "L-BFGS-B", gnorm, 0.0)


def _newton(obj: Objective, layout: Layout, z0: np.ndarray, gtol: float, maxiter: int, report: Any, finish: Any,
            hvp: Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]]) -> Result:
    def hessp(z: np.ndarray, v: np.ndarray) -> np.ndarray:
        return layout.push(hvp(obj.values(z), layout.split(v)))

    def on_iter(zk: np.ndarray) -> None:
        report(obj.last[1] if obj.last else math.nan,
               float(np.max(np.abs(obj.last[2]))) if obj.last else math.nan, None, zk)

    try:
        res = _sopt.minimize(obj, z0, jac=True, hessp=hessp, method="trust-krylov", callback=on_iter,
                             options={"maxiter": maxiter, "gtol": gtol * 0.5})
    except Stop as stop:
        z = obj.last[0] if obj.last is not None else z0
        return finish(z, False, stop.status, stop.message, "trust-krylov", math.nan, 0.0)
    z = np.asarray(res.x, dtype=float)
    f, g = obj(z)
    ok, status, message, gnorm = _verdict(obj, z, g, None, gtol, str(res.message), maxiter)
    return finish(z, ok, status, message, "trust-krylov (Newton, Hessian-vector products)", gnorm, 0.0)


def _constraint_values(obj: Objective, z: np.ndarray, constraints: Sequence[Constraint]) -> list[tuple[Any, Any]]:
    vals = obj.values(z)
    out = []
    for c in constraints:
        v, vjp = c.value_and_vjp(vals)
        out.append((np.asarray(v, dtype=float), vjp))
    return out


def _violation(cs: Sequence[Constraint], cv: Sequence[tuple[Any, Any]]) -> tuple[float, int]:
    """The largest violation and the constraint where it is."""
    worst, at = 0.0, 0
    for i, (c, (v, _)) in enumerate(zip(cs, cv)):
        viol = float(np.max(np.abs(v) if c.kind == "eq" else np.maximum(v, 0.0), initial=0.0))
        if viol > worst:
            worst, at = viol, i
    return worst, at


def _augmented_lagrangian(obj: Objective, layout: Layout, z0: np.ndarray, zbounds: Any,
                          constraints: Sequence[Constraint], tol: float, gtol: float, maxiter: int, report: Any,
                          finish: Any, domain_errors: tuple[type[BaseException], ...]) -> Result:
    """The PHR augmented Lagrangian (Birgin & Martinez's ALGENCAN updates, as GENO uses them), L-BFGS-B inside.

    L(x) = f + sum_eq (lam.c + rho/2 |c|^2) + sum_ineq rho/2 |max(0, c + mu/rho)|^2 - |mu|^2/(2 rho)."""
    name = "augmented Lagrangian (L-BFGS-B inner solves)"
    try:
        cv0 = _constraint_values(obj, z0, constraints)
    except domain_errors as err:
        return finish(z0, False, DOMAIN, f"a constraint is not defined at the start x0 ({type(err).__name__}: "
                                         f"{err})", name, math.nan, math.nan)
    mult = [np.zeros_like(v) for v, _ in cv0]
    viol0, _ = _violation(constraints, cv0)
    ftol_feas = tol * max(1.0, viol0)
    f0 = obj.f0 if obj.f0 is not None else 0.0
    csq = sum(float(np.sum(v ** 2)) for v, _ in cv0)
    rho = max(1e-4, min(10.0, 2 * max(1.0, abs(f0)) / max(1.0, csq)))
    fg_plain = obj.fg
    state: dict[str, Any] = {"infeas": viol0}

    def al_fg(values: Mapping[str, Any]) -> tuple[float, dict[str, Any]]:
        f, grads = fg_plain(values)
        total = float(f)
        grads = {k: np.array(v, dtype=float, copy=True) for k, v in grads.items()}
        for c, lam in zip(constraints, mult):
            v, vjp = c.value_and_vjp(values)
            v = np.asarray(v, dtype=float)
            if c.kind == "eq":
                w = lam + rho * v
                total += float(np.sum(lam * v) + rho / 2 * np.sum(v * v))
            else:
                w = np.maximum(0.0, lam + rho * v)
                total += float((np.sum(w * w) - np.sum(lam * lam)) / (2 * rho))
            if np.any(w != 0):
                for k, gk in vjp(w).items():
                    grads[k] = grads[k] + np.asarray(gk, dtype=float)
        return total, grads

    obj.fg = al_fg  # type: ignore[assignment]
    obj.f0 = None  # re-anchor the unbounded test on the augmented Lagrangian's first value
    z = z0
    prev = math.inf
    inner_gtol = max(gtol, 1e-2 * gscale_of(obj, z0, zbounds))
    outer = stalls = 0
    status, message, ok, gnorm, infeas = STALLED, "", False, math.nan, viol0

    def on_iter(zk: np.ndarray) -> None:
        if obj.last is not None:
            report(obj.last[1], float(np.max(np.abs(projected_gradient(zk, obj.last[2], zbounds)), initial=0.0)),
                   state["infeas"], zk)

    try:
        while True:
            outer += 1
            remaining = maxiter - obj.nit
            if remaining <= 0:
                status, message = MAXITER, f"stopped after {obj.nit} iterations (maxiter)"
                break
            z, msg = _lbfgsb(obj, z, zbounds, inner_gtol, remaining, on_iter)
            f_al, g_al = obj(z)
            gnorm = float(np.max(np.abs(projected_gradient(z, g_al, zbounds)), initial=0.0))
            if not math.isfinite(f_al):
                status = _bad_value_status(Exception(obj.domain_hits[-1] if obj.domain_hits else "not finite"))
                message = (f"not converged: a trial point left the domain "
                           f"({obj.domain_hits[-1] if obj.domain_hits else 'not finite'})")
                break
            cv = _constraint_values(obj, z, constraints)
            infeas, worst = _violation(constraints, cv)
            state["infeas"] = infeas
            # the ALGENCAN measure: feasibility and complementarity together
            comp = max([float(np.max(np.abs(v) if c.kind == "eq" else np.abs(np.minimum(-v, lam / rho)),
                                     initial=0.0)) for c, (v, _), lam in zip(constraints, cv, mult)] or [0.0])
            if comp <= ftol_feas and gnorm <= gtol:
                ok, status = True, CONVERGED
                message = (f"converged: largest constraint violation {infeas:.2e}, projected gradient of the "
                           f"Lagrangian {gnorm:.2e} ({outer} outer iterations)")
                break
            stuck = "RELATIVE REDUCTION" in msg or "ABNORMAL" in msg
            if comp <= ftol_feas and stuck and gnorm <= 100 * gtol:
                stalls += 1
                if stalls >= 3:
                    ok, status = True, CONVERGED
                    message = (f"converged to the precision float64 resolves here: largest constraint violation "
                               f"{infeas:.2e}, projected gradient of the Lagrangian {gnorm:.2e} (the tolerance asks "
                               f"{gtol:.2e}; the line search can make no further progress)")
                    break
            if rho >= PENALTY_MAX and infeas > ftol_feas:
                status = INFEASIBLE
                message = (f"infeasible: the constraints cannot all be satisfied (with the bounds): the violation "
                           f"of '{constraints[worst].text}' stays at {infeas:.3g} as the penalty weight reaches "
                           f"{rho:.0e}")
                break
            if outer >= 200:
                status, message = STALLED, (f"not converged after {outer} outer iterations: violation {infeas:.2e}, "
                                            f"gradient {gnorm:.2e}")
                break
            for i, (c, (v, _)) in enumerate(zip(constraints, cv)):
                mult[i] = mult[i] + rho * v if c.kind == "eq" else np.maximum(0.0, mult[i] + rho * v)
            if comp > 0.5 * prev and comp > ftol_feas:
                rho = min(rho * 10, PENALTY_MAX)
            prev = comp
            inner_gtol = max(gtol, inner_gtol * 0.1)
    except Stop as stop:
        z = obj.last[0] if obj.last is not None else z
        status, message = stop.status, stop.message
        if stop.status == UNBOUNDED:
            message = stop.message + " on the feasible set (the augmented Lagrangian)"
    obj.fg = fg_plain  # type: ignore[assignment]
    return finish(z, ok, status, message, name, gnorm, infeas, [np.asarray(m) for m in mult])


def gscale_of(obj: Objective, z: np.ndarray, zbounds: Any) -> float:
    """max(1, the largest entry of the projected gradient of the current objective at z)."""
    _, g = obj(z)
    return max(1.0, float(np.max(np.abs(projected_gradient(z, g, zbounds)), initial=0.0)))


def _slsqp(obj: Objective, layout: Layout, z0: np.ndarray, zbounds: Any, constraints: Sequence[Constraint],
           tol: float, maxiter: int, report: Any, finish: Any,
           domain_errors: tuple[type[BaseException], ...]) -> Result:
    """SciPy's SLSQP with the constraints' Jacobians from their vector-Jacobian products (small problems)."""
    name = "SLSQP"

    def cfun(c: Constraint, sign: float) -> tuple[Callable[..., Any], Callable[..., Any]]:
        def val(z: np.ndarray) -> np.ndarray:
            v, _ = c.value_and_vjp(obj.values(z))
            return sign * np.atleast_1d(np.asarray(v, dtype=float)).ravel()

        def jac(z: np.ndarray) -> np.ndarray:
            v, vjp = c.value_and_vjp(obj.values(z))
            v = np.asarray(v, dtype=float)
            rows = []
            for k in range(v.size):
                e = np.zeros(v.size)
                e[k] = 1.0
                rows.append(sign * layout.pullback(z, vjp(e.reshape(v.shape) if v.ndim else 1.0)))
            return np.array(rows)
        return val, jac

    cons = []
    for c in constraints:
        val, jac = cfun(c, -1.0 if c.kind == "ineq" else 1.0)  # SciPy's inequalities are c(x) >= 0
        cons.append({"type": c.kind, "fun": val, "jac": jac})

    def on_iter(zk: np.ndarray) -> None:
        if obj.last is not None:
            report(obj.last[1], float(np.max(np.abs(obj.last[2]))), None, zk)

    try:
        res = _sopt.minimize(obj, z0, jac=True, method="SLSQP", bounds=zbounds, constraints=cons,
                             callback=on_iter, options={"maxiter": maxiter, "ftol": tol * 1e-2})
    except Stop as stop:
        return finish(obj.last[0] if obj.last is not None else z0, False, stop.status, stop.message, name,
                      math.nan, math.nan)
    z = np.asarray(res.x, dtype=float)
    cv = _constraint_values(obj, z, constraints)
    infeas, worst = _violation(constraints, cv)
    if res.success and infeas <= tol * 100:
        return finish(z, True, CONVERGED, f"converged (SLSQP: {res.message}); largest violation {infeas:.2e}",
                      name, math.nan, infeas)
    status = INFEASIBLE if "incompatible" in str(res.message) or infeas > tol * 100 else STALLED
    what = f"infeasible? the violation of '{constraints[worst].text}' is {infeas:.3g}; " if status == INFEASIBLE else ""
    return finish(z, False, status, f"not converged: {what}SLSQP says {res.message}", name, math.nan, infeas)
