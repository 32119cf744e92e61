"""Shared helpers for the core-engine tests: random points, numerical derivatives, gradient checks.

Derivatives are verified against central differences with one Richardson extrapolation step,
computed from ``matdiff.evaluate`` of the *original* expression (never from matdiff's own
derivative), at random points along random directions.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

import matdiff

# ---------------------------------------------------------------------------- random points


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


def well_conditioned(rng: np.random.Generator, n: int, lo: float = 1.0, hi: float = 2.0) -> np.ndarray:
    """A general (nonsymmetric) n x n matrix with singular values in [lo, hi]: Q1 diag(s) Q2'."""
    q1, _ = np.linalg.qr(rng.standard_normal((n, n)))
    q2, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = rng.uniform(lo, hi, n)
    return q1 @ np.diag(s) @ q2.T


def positive_det(rng: np.random.Generator, n: int) -> np.ndarray:
    """A well conditioned nonsymmetric matrix with det > 0."""
    a = well_conditioned(rng, n)
    if np.linalg.det(a) < 0:
        a[0] = -a[0]
    return a


def spd(rng: np.random.Generator, n: int, lo: float = 1.0, hi: float = 3.0) -> np.ndarray:
    """A symmetric positive definite matrix with eigenvalues in [lo, hi]."""
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = q @ np.diag(rng.uniform(lo, hi, n)) @ q.T
    return (a + a.T) / 2


def symmetric(rng: np.random.Generator, n: int) -> np.ndarray:
    a = rng.standard_normal((n, n))
    return (a + a.T) / 2


def away_from_zero(rng: np.random.Generator, shape, lo: float = 0.5, hi: float = 1.5) -> np.ndarray:
    """Entries of random sign with |entry| in [lo, hi] (for abs, sign, norm1, ./)."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, size=shape)


def positive(rng: np.random.Generator, shape, lo: float = 0.5, hi: float = 2.0) -> np.ndarray:
    return rng.uniform(lo, hi, size=shape)


def distinct_singular_values(rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    """An m x n matrix with well separated singular values 1, 2, ..., min(m, n) (shuffled bases)."""
    k = min(m, n)
    u, _ = np.linalg.qr(rng.standard_normal((m, k)))
    v, _ = np.linalg.qr(rng.standard_normal((n, k)))
    return u @ np.diag(np.arange(k, 0, -1, dtype=float)) @ v.T


# ---------------------------------------------------------------------------- numerical derivatives


def on_host(x: Any) -> np.ndarray:
    """A backend's result as a NumPy array (a dask array computed, a torch tensor detached)."""
    if hasattr(x, "compute"):
        x = x.compute()
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def central_richardson(f: Callable[[float], float], h: float) -> float:
    """f'(0) by central differences at h and h/2 combined by one Richardson step (error O(h^4))."""
    d1 = (f(h) - f(-h)) / (2 * h)
    d2 = (f(h / 2) - f(-h / 2)) / h
    return (4 * d2 - d1) / 3


def directional_derivative(
    expr: str,
    values: Mapping[str, Any],
    wrt: str,
    direction: Any,
    types: Mapping[str, str] | None = None,
    h: float | None = None,
) -> float:
    """d/dt f(values with wrt + t*direction) at t = 0, numerically, from matdiff.evaluate."""
    x0 = np.asarray(values[wrt], dtype=float)
    d = np.asarray(direction, dtype=float)
    if h is None:
        scale = max(1.0, float(np.max(np.abs(x0)))) if x0.size else 1.0
        h = 1e-3 * scale / max(1.0, float(np.max(np.abs(d))))

    def f(t: float) -> float:
        v = dict(values)
        point = x0 + t * d
        v[wrt] = float(point) if point.ndim == 0 else point
        out = matdiff.evaluate(expr, v, types)
        assert np.ndim(out) == 0, f"{expr} is not scalar-valued"
        return float(out)

    return central_richardson(f, h)


def random_direction(rng: np.random.Generator, value: Any, sym: bool = False) -> Any:
    """A random direction shaped like value (symmetric when sym); a float for a scalar."""
    a = np.asarray(value, dtype=float)
    if a.ndim == 0:
        return float(rng.standard_normal())
    d = rng.standard_normal(a.shape)
    if sym:
        d = (d + d.T) / 2
    return d


def inner(g: Any, d: Any) -> float:
    return float(np.sum(np.asarray(g, dtype=float) * np.asarray(d, dtype=float)))


def is_symmetric_kind(types: Mapping[str, str] | None, name: str) -> bool:
    spec = (types or {}).get(name, "")
    return spec.split("(")[0].strip() in ("symmetric", "spd")


def check_gradient(
    expr: str,
    wrt: str,
    values: Mapping[str, Any],
    types: Mapping[str, str] | None = None,
    rng: np.random.Generator | None = None,
    n_dirs: int = 3,
    rtol: float = 1e-6,
    compiled: bool = True,
) -> Any:
    """Assert <grad, D> equals the numerical directional derivative for n_dirs random D.

    Checks both ``r.evaluate`` and ``r.compile()``; returns the gradient value.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    r = matdiff.grad(expr, wrt=wrt, types=types)
    g = r.evaluate(values)
    x = np.asarray(values[wrt])
    assert np.shape(g) == x.shape, f"gradient of {expr} has shape {np.shape(g)}, the variable {x.shape}"
    assert np.all(np.isfinite(g))
    grads = [("evaluate", g)]
    if compiled:
        gc = r.compile()(**values)
        assert np.shape(gc) == x.shape, f"compiled gradient has shape {np.shape(gc)}, the variable {x.shape}"
        assert np.all(np.isfinite(gc))
        grads.append(("compile", gc))
    sym = is_symmetric_kind(types, wrt)
    for _ in range(n_dirs):
        d = random_direction(rng, x, sym=sym)
        num = directional_derivative(expr, values, wrt, d, types)
        for how, gv in grads:
            got = inner(gv, d)
            tol = rtol * max(
                1.0,
                abs(num),
                float(
                    np.linalg.norm(np.asarray(gv, dtype=float)) * np.linalg.norm(np.asarray(d, dtype=float))
                ),
            )
            assert abs(got - num) <= tol, (
                f"{how}: grad_{wrt} {expr} = {r.gradient}: <G, D> = {got!r} but the finite difference "
                f"gives {num!r} (|diff| {abs(got - num):.3g} > tol {tol:.3g})"
            )
    return g


def same_up_to_spacing(a: str, b: str) -> bool:
    return "".join(a.split()) == "".join(b.split())


# ---------------------------------------------------------------------------- time limits


@contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError if the block runs longer than ``seconds`` (SIGALRM; main thread only)."""

    def on_alarm(signum, frame):
        raise TimeoutError(f"took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
