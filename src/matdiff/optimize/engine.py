"""The solver behind ``matdiff.minimize``: NumPy and SciPy only, so that solver scripts embed it verbatim.

The problem reaches this module as plain callables on dicts of arrays: ``fg(values) -> (f, {name: gradient})``
for the objective and, per constraint, ``value_and_vjp(values) -> (c, vjp)`` with ``vjp(w) -> {name: J'w}``.
Nothing here imports matdiff (:mod:`matdiff.optimize.script` copies this file into the scripts it writes).

* :class:`Layout` packs the variables into one parameter vector: entries of scalars, vectors and matrices;
  the diagonal and the upper triangle (scaled by sqrt(2), an isometry) of a symmetric matrix; for an spd
  matrix the same coordinates of X in ``S = B expm(X) B'``, B the factor of a base point, so every iterate
  is spd. The base moves to the iterate between rounds of L-BFGS (:meth:`Layout.rebase`): near the iterate
  the coordinates are those of the affine-invariant metric, and as well conditioned as the problem allows.
* Where L-BFGS stops short of the tolerance (its line search compares objective values, which float64 stops
  resolving before the gradient does) and there are no bounds, a few Newton steps with Hessian-vector
  products finish (:func:`_newton_finish`).
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
NEWTON_FINISH_STEPS = 8  # at most this many Newton steps where L-BFGS stops short of the tolerance
REBASE_EVERY = 20  # L-BFGS iterations between re-basings of the spd variables' coordinates (S = B expm(X) B')

# how a run ended (Result.status)
CONVERGED, INFEASIBLE, UNBOUNDED, NOT_FINITE, DOMAIN, MAXITER, TIME, STALLED = (
    "converged", "infeasible", "unbounded", "not finite", "domain", "maxiter", "time", "stalled")
# the augmented Lagrangian's relaxed success: feasible and complementary to tol, the Lagrangian's gradient above
# tol but within FLOOR_FACTOR times it, and three outer iterations in a row where the line search could not go on
PRECISION = "precision"
FLOOR_FACTOR = 100.0


class Stop(Exception):
    """Raised inside an evaluation to end a run early; ``status`` and ``message`` say why."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Layout:
    """The variables ``[(name, kind, shape)]`` as one parameter vector z (see the module docstring).

    An spd variable is ``S = B expm(X) B'`` with X symmetric in z (its diagonal and upper triangle scaled by
    sqrt(2)) and a base factor B (``S0 = B B'``, the identity unless :meth:`rebase` moved it): every z gives an
    spd S, computed as F F' with F = B U exp(diag(lam)/2) from X = U diag(lam) U'. With B the factor of the
    iterate this is the exponential map of the affine-invariant metric, and the gradient at X = 0 is B' G B."""

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
        self.spd = [n for n, k, _ in self.variables if k == "spd"]
        # one vector or matrix variable: z is its entries (the fast path of unpack and pullback)
        self.single = self.variables[0] if len(self.variables) == 1 and self.variables[0][1] in ("vector",
                                                                                                 "matrix") else None
        self.base: dict[str, np.ndarray | None] = {n: None for n in self.spd}  # B of each spd variable (None: I)

    @staticmethod
    def _tri(m: int) -> tuple[np.ndarray, np.ndarray]:
        return np.triu_indices(m, 1)

    @classmethod
    def _sym(cls, p: np.ndarray, m: int) -> np.ndarray:
        """The symmetric matrix of its isometric coordinates (the diagonal, the upper triangle times sqrt(2))."""
        iu = cls._tri(m)
        X = np.diag(p[:m])
        X[iu] = p[m:] / SQRT2
        X[iu[1], iu[0]] = X[iu]
        return X

    @classmethod
    def _coords(cls, Y: np.ndarray) -> np.ndarray:
        """The isometric coordinates of the symmetric part of Y (the adjoint of :meth:`_sym`)."""
        Ys = (Y + Y.T) / 2
        return np.concatenate([np.diag(Ys), SQRT2 * Ys[cls._tri(Y.shape[0])]])

    def _eig(self, name: str, p: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lam, U, F) of an spd variable at its parameters p: X = U diag(lam) U', S = F F'."""
        lam, U = np.linalg.eigh(self._sym(p, m))
        F = U * np.exp(lam / 2)
        B = self.base.get(name)
        return lam, U, F if B is None else B @ F

    @staticmethod
    def _phi(lam: np.ndarray) -> np.ndarray:
        """(exp(a) - exp(b)) / (a - b) for the pairs of lam (exp(a) where a = b): the Frechet derivative of
        expm at X = U diag(lam) U' is U (phi .* (U' dX U)) U' (Daleckii-Krein)."""
        a, b = lam[:, None], lam[None, :]
        h = (a - b) / 2
        with np.errstate(invalid="ignore", divide="ignore"):
            shc = np.where(np.abs(h) < 1e-8, 1.0, np.sinh(h) / np.where(h == 0, 1.0, h))
        return np.exp((a + b) / 2) * shc

    def unpack(self, z: np.ndarray, copy: bool = True) -> dict[str, Any]:
        """The variables' values at parameters z: floats, 1-D and 2-D arrays (``copy=False``: views of z where
        they can be, for a call that does not keep them)."""
        if self.single is not None:
            name, _, shape = self.single
            v = z.reshape(shape)
            return {name: v.copy() if copy else v}
        out: dict[str, Any] = {}
        for name, kind, shape in self.variables:
            p = z[self.slices[name]]
            if kind == "scalar":
                out[name] = float(p[0])
            elif kind in ("vector", "matrix"):
                out[name] = p.reshape(shape).copy()
            elif kind == "symmetric":
                out[name] = self._sym(p, shape[0])
            else:
                F = self._eig(name, p, shape[0])[2]
                X = F @ F.T
                out[name] = (X + X.T) / 2
        return out

    def rebase(self, z: np.ndarray) -> np.ndarray:
        """Move the base of every spd variable to its factor at z (S = F expm(X) F', X = 0 there) and return the
        parameters of the same point in the new coordinates: zero for the spd variables, z elsewhere.

        In coordinates based at the iterate the objective is about as well conditioned as the problem allows
        (logdet(S) + tr(inv(S)*C) becomes the same problem with C near I), where coordinates based at the
        start inherit cond(S); :func:`solve` re-bases between L-BFGS rounds."""
        out = np.array(z, dtype=float, copy=True)
        for name, kind, shape in self.variables:
            if kind == "spd":
                sl = self.slices[name]
                self.base[name] = self._eig(name, z[sl], shape[0])[2]
                out[sl] = 0.0
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
            S = (a + a.T) / 2
            if kind == "symmetric":
                z[self.slices[name]] = self._coords(S)
                continue
            try:
                np.linalg.cholesky(S)
            except np.linalg.LinAlgError:
                raise ValueError(f"the start of {name} is not positive definite; an spd variable must "
                                 "start at an spd matrix (the default is the identity)") from None
            B = self.base.get(name)
            if B is not None:  # B^-1 S B^-T
                S = np.linalg.solve(B, np.linalg.solve(B, S).T)
                S = (S + S.T) / 2
            lam, U = np.linalg.eigh(S)
            z[self.slices[name]] = self._coords((U * np.log(lam)) @ U.T)
        return z

    def pullback(self, z: np.ndarray, grads: Mapping[str, Any]) -> np.ndarray:
        """The gradient with respect to z from the gradients with respect to the variables (the chain rule)."""
        if self.single is not None:
            name, _, shape = self.single
            G = grads[name]
            if type(G) is np.ndarray and G.shape == shape and G.dtype == np.float64:
                return G.reshape(-1)
        g = np.empty(self.size)
        for name, kind, shape in self.variables:
            G = np.asarray(grads[name], dtype=float)
            if kind in ("scalar", "vector", "matrix"):
                g[self.slices[name]] = np.broadcast_to(G, shape).ravel()
                continue
            G = np.broadcast_to(G, shape)
            if kind == "symmetric":
                g[self.slices[name]] = self._coords(G)
                continue
            lam, U, _ = self._eig(name, z[self.slices[name]], shape[0])
            W = (G + G.T) / 2
            B = self.base.get(name)
            if B is not None:
                W = B.T @ W @ B
            g[self.slices[name]] = self._coords(U @ (self._phi(lam) * (U.T @ W @ U)) @ U.T)
        return g

    def tangent(self, z: np.ndarray, v: np.ndarray) -> dict[str, Any]:
        """The directions of the variables that the step v in z gives (the Jacobian of unpack at z, times v)."""
        out: dict[str, Any] = {}
        for name, kind, shape in self.variables:
            d = v[self.slices[name]]
            if kind == "scalar":
                out[name] = float(d[0])
            elif kind in ("vector", "matrix"):
                out[name] = d.reshape(shape)
            elif kind == "symmetric":
                out[name] = self._sym(d, shape[0])
            else:  # dS = B U (phi .* (U' dX U)) U' B'
                lam, U, _ = self._eig(name, z[self.slices[name]], shape[0])
                D = U @ (self._phi(lam) * (U.T @ self._sym(d, shape[0]) @ U)) @ U.T
                B = self.base.get(name)
                if B is not None:
                    D = B @ D @ B.T
                out[name] = (D + D.T) / 2
        return out

    def hessp(self, z: np.ndarray, v: np.ndarray, grads: Mapping[str, Any], hv: Mapping[str, Any]) -> np.ndarray:
        """The Hessian in z applied to v, from ``hv`` (the Hessian in the variables applied to
        :meth:`tangent` (z, v)) and the gradient ``grads``: the pullback of hv plus, for an spd variable, the
        curvature of expm, (W V + V W)/2 with W = B' G B; exact where the spd parameters are 0 (after
        :meth:`rebase`, where :func:`_newton_finish` uses it)."""
        out = self.pullback(z, hv)
        for name, kind, shape in self.variables:
            if kind != "spd":
                continue
            G = np.broadcast_to(np.asarray(grads[name], dtype=float), shape)
            W = (G + G.T) / 2
            B = self.base.get(name)
            if B is not None:
                W = B.T @ W @ B
            V = self._sym(v[self.slices[name]], shape[0])
            out[self.slices[name]] += self._coords(W @ V + V @ W) / 2
        return out

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
                raise ValueError(f"bounds on the spd variable {name} are not supported (its parameters are "
                                 "the symmetric X of S = B expm(X) B'); declare it symmetric, or write the bound "
                                 "as a constraint")
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
        self.last_grads: Mapping[str, Any] = {}  # the gradient in the variables at last[0]
        self.first: tuple[float, Mapping[str, Any]] | None = None  # fg at the start, evaluated by the caller
        self.domain_hits: list[str] = []
        self.nit = 0
        self.start = time.perf_counter()

    def values(self, z: np.ndarray, copy: bool = True) -> dict[str, Any]:
        return {**self.data, **self.layout.unpack(z, copy)}

    def __call__(self, z: np.ndarray) -> tuple[float, np.ndarray]:
        if time.perf_counter() > self.deadline:
            raise Stop(TIME, "stopped at the time limit")
        if self.last is not None and np.array_equal(self.last[0], z):
            return self.last[1], self.last[2]  # L-BFGS-B's first call at the point the run measured already
        self.nfev += 1
        try:
            if self.first is not None:
                (f, grads), self.first = self.first, None
            else:
                f, grads = self.fg(self.values(z, copy=False))
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
        self.last, self.last_grads = (z.copy(), f, g), grads
        return f, g

    def rebase(self, z: np.ndarray) -> np.ndarray:
        """:meth:`Layout.rebase` at z, the last evaluation (when it was at z) carried into the new coordinates."""
        same = self.last is not None and np.array_equal(self.last[0], z)
        zr = self.layout.rebase(z)
        if same:
            f = self.last[1]  # type: ignore[index]
            self.last = (zr.copy(), f, self.layout.pullback(zr, self.last_grads))
        return zr


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
          first: tuple[float, Mapping[str, Any]] | None = None) -> Result:
    """Minimise ``fg`` over the variables of ``layout`` from ``x0`` (see the module docstring).

    tol: the run has converged when the largest entry of the projected gradient (of the augmented Lagrangian,
    with constraints) is at most ``tol * max(1, that at x0)`` and, with constraints, the largest violation is
    at most ``tol * max(1, that at x0)``. ``verbose=k`` prints a line every k iterations; ``callback`` gets
    a dict (iteration, objective, grad_norm, infeasibility, elapsed) each iteration. ``first``: ``fg`` at x0
    where the caller evaluated it already (not evaluated again)."""
    start = time.perf_counter()
    deadline = start + (time_limit if time_limit is not None else math.inf)
    zbounds = layout.bounds(bounds)
    z0 = layout.rebase(layout.pack(x0))  # spd variables: coordinates based at the start (zero there)
    if zbounds:
        lo = np.array([-np.inf if b[0] is None else b[0] for b in zbounds])
        hi = np.array([np.inf if b[1] is None else b[1] for b in zbounds])
        z0 = np.clip(z0, lo, hi)
    obj = Objective(fg, layout, data, domain_errors, deadline, None)
    obj.first = first
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
    return _bounded(obj, z0, zbounds, gtol, maxiter, report, finish, layout, hvp)


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
             finish: Any, layout: Layout | None = None, hvp: Any = None) -> Result:
    """L-BFGS(-B); with spd variables in rounds of at most REBASE_EVERY iterations, the coordinates S = B expm(X) B'
    re-based at the iterate between rounds (:meth:`Layout.rebase`) and L-BFGS restarted there. Where it stops
    short of the tolerance without bounds and ``hvp`` is given, Newton steps finish (:func:`_newton_finish`)."""
    def on_iter(zk: np.ndarray) -> None:
        if obj.last is not None:
            report(obj.last[1], float(np.max(np.abs(projected_gradient(zk, obj.last[2], zbounds)), initial=0.0)),
                   None, zk)

    rounds = layout is not None and bool(layout.spd)
    z, msg, name = z0, "", "L-BFGS-B"
    try:
        best, idle = math.inf, 0
        while True:
            remaining = maxiter - obj.nit
            if remaining <= 0:
                break
            if not rounds:
                z, msg = _lbfgsb(obj, z, zbounds, gtol, remaining, on_iter)
                break
            z, msg = _lbfgsb(obj, z, zbounds, gtol, min(remaining, REBASE_EVERY), on_iter)
            z = obj.rebase(z)
            f, g = obj(z) if obj.last is None or not np.array_equal(obj.last[0], z) else obj.last[1:]
            if not math.isfinite(f) or float(np.max(np.abs(projected_gradient(z, g, zbounds)), initial=0.0)) <= gtol:
                break
            if best == math.inf or f < best - 1e-15 * max(1.0, abs(best)):
                best, idle = f, 0
            else:
                idle += 1  # a round that gained nothing: float64's floor, or the domain's edge
                if idle >= 2:
                    break
        if hvp is not None and not zbounds and obj.nit < maxiter:
            f, g = obj(z) if obj.last is None or not np.array_equal(obj.last[0], z) else obj.last[1:]
            if math.isfinite(f) and float(np.max(np.abs(g), initial=0.0)) > gtol:
                z, steps = _newton_finish(obj, z, gtol, maxiter, hvp, report)
                if steps:
                    name = f"L-BFGS-B, then {steps} Newton step{'s' if steps > 1 else ''} (Hessian-vector products)"
    except Stop as stop:
        z = obj.last[0] if obj.last is not None else z0
        return finish(z, False, stop.status, stop.message, name, math.nan, 0.0)
    f, g = obj(z) if obj.last is None or not np.array_equal(obj.last[0], z) else obj.last[1:]
    ok, status, message, gnorm = _verdict(obj, z, g, zbounds, gtol, msg, maxiter)
    return finish(z, ok, status, message, name, gnorm, 0.0)


def _cg(hessp: Callable[[np.ndarray], np.ndarray], b: np.ndarray, maxiter: int, rtol: float,
        deadline: float) -> np.ndarray | None:
    """Conjugate gradients for H x = b; None where H shows negative curvature at once (not near a minimum)."""
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = float(r @ r)
    stop_at = rtol * math.sqrt(rr)
    for i in range(maxiter):
        if time.perf_counter() > deadline:
            raise Stop(TIME, "stopped at the time limit")
        Hp = hessp(p)
        pHp = float(p @ Hp)
        if not (pHp > 0 and math.isfinite(pHp)):
            return x if i else None
        a = rr / pHp
        x += a * p
        r -= a * Hp
        rr_new = float(r @ r)
        if math.sqrt(rr_new) <= stop_at:
            break
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def _newton_finish(obj: Objective, z: np.ndarray, gtol: float, maxiter: int,
                   hvp: Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]], report: Any,
                   ) -> tuple[np.ndarray, int]:
    """Newton steps from z where L-BFGS stopped short of the tolerance (its line search compares objective
    values, which float64 stops resolving about sqrt(eps) before the gradient does): each step solves
    H d = -g by conjugate gradients with Hessian-vector products in z, and is kept only if it lowers the largest
    entry of the gradient without raising the objective beyond rounding, or lowers the objective (halved up to
    three times). At most NEWTON_FINISH_STEPS; the
    end point and the number of steps kept."""
    layout = obj.layout
    steps = 0
    if layout.spd:
        z = obj.rebase(z)  # the spd parameters at 0, where Layout.hessp is exact
    for _ in range(NEWTON_FINISH_STEPS):
        if obj.nit >= maxiter:
            break
        if obj.last is None or not np.array_equal(obj.last[0], z):
            obj(z)
        _, f, g = obj.last  # type: ignore[misc]
        grads, values = obj.last_grads, obj.values(z)
        gnorm = float(np.max(np.abs(g), initial=0.0))
        if gnorm <= gtol or not math.isfinite(f):
            break

        def hessp(v: np.ndarray, z: np.ndarray = z, grads: Any = grads, values: Any = values) -> np.ndarray:
            return layout.hessp(z, v, grads, hvp(values, layout.tangent(z, v)))

        try:
            d = _cg(hessp, -g, min(layout.size, 200), 1e-10, obj.deadline)
        except Stop:
            raise
        except Exception:  # the Hessian cannot be derived or evaluated here: no finish  # noqa: BLE001
            break
        if d is None or not np.all(np.isfinite(d)):
            break
        noise = 1e-12 * max(1.0, abs(f))
        for t in (1.0, 0.5, 0.25, 0.125):  # the full step, else halved (far from the minimiser)
            f_new, g_new = obj(z + t * d)
            gnorm_new = float(np.max(np.abs(g_new), initial=0.0))
            if math.isfinite(f_new) and f_new <= f + noise and (gnorm_new < gnorm or f_new < f - noise):
                break
        else:
            break
        z = obj.last[0]  # type: ignore[index]
        steps += 1
        report(f_new, gnorm_new, None, z)
        if layout.spd:
            z = obj.rebase(z)
    return z, steps


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
    obj.last = None  # the last evaluation was of the objective alone
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
            if layout.spd:
                z = obj.rebase(z)  # the next inner solve starts from coordinates based at the iterate
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
            if comp <= ftol_feas and stuck and gnorm <= FLOOR_FACTOR * gtol:
                stalls += 1
                if stalls >= 3:
                    ok, status = True, PRECISION
                    message = (f"converged to float64's precision, not to tol (the relaxed test): largest constraint "
                               f"violation {infeas:.2e} (asked {ftol_feas:.2e}), projected gradient of the "
                               f"Lagrangian {gnorm:.2e}, above the {gtol:.2e} asked but within {FLOOR_FACTOR:g}x; "
                               "the line search made no further progress in 3 outer iterations")
                    break
            else:
                stalls = 0
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
            obj.last = None  # the augmented Lagrangian changed with the multipliers: no reuse of its last value
    except Stop as stop:
        z = obj.last[0] if obj.last is not None else z
        status, message = stop.status, stop.message
        if stop.status == UNBOUNDED:
            message = stop.message + " on the feasible set (the augmented Lagrangian)"
    obj.fg = fg_plain  # type: ignore[assignment]
    obj.last = None
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
