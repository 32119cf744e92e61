"""Numerical derivatives (central differences + Richardson) and scale-aware comparisons.

Everything numerical here is computed from ``matdiff.evaluate`` of the *original* expression
(or, for Hessian-vector products, from the gradient already checked against it), never from the
derivative under test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import assume

import matdiff

from .strategies import DISCARDED

EPS = np.finfo(float).eps
RTOL = 1e-5  # relative tolerance of a derivative against the numerical one


class Discard(Exception):
    """The point is no good for a numerical check (a domain error nearby, unreliable numerics)."""


def discard(reason: str) -> None:
    """Count the reason and make hypothesis throw the example away."""
    DISCARDED[reason] += 1
    assume(False)


def arr(v: Any) -> np.ndarray:
    return np.asarray(v, dtype=float)


def fro(v: Any) -> float:
    return float(np.linalg.norm(arr(v).ravel()))


def inner(a: Any, b: Any) -> float:
    return float(np.sum(arr(a) * arr(b)))


def shifted(values: dict[str, Any], name: str, direction: Any, t: float) -> dict[str, Any]:
    out = dict(values)
    x = arr(values[name]) + t * arr(direction)
    out[name] = float(x) if x.ndim == 0 else x
    return out


def step_for(x: Any, direction: Any) -> float:
    """The base step h: 2e-3 of the size of x, per unit of the direction."""
    scale = max(1.0, float(np.sqrt(np.mean(arr(x) ** 2))) if arr(x).size else 1.0)
    return 2e-3 * scale / max(float(np.max(np.abs(arr(direction)))), 1e-300)


def richardson(phi: Callable[[float], Any], h: float) -> tuple[np.ndarray, float, float]:
    """phi'(0) from central differences at h, h/2, h/4 and two Richardson steps (error O(h^6)).

    Returns (estimate, error estimate, largest |phi| seen): the error estimate is the change of the
    first Richardson level from h to h/2, a bound of the error for smooth phi.
    """
    d, fmax = [], 0.0
    for k in range(3):
        t = h / 2**k
        fp, fm = arr(phi(t)), arr(phi(-t))
        fmax = max(fmax, float(np.max(np.abs(fp), initial=0.0)), float(np.max(np.abs(fm), initial=0.0)))
        d.append((fp - fm) / (2 * t))
    r1 = (4 * d[1] - d[0]) / 3
    r2 = (4 * d[2] - d[1]) / 3
    est = (16 * r2 - r1) / 15
    err = float(np.max(np.abs(r2 - r1), initial=0.0))
    return est, err, fmax


def numeric_directional(f: Callable[[dict[str, Any]], Any], values: dict[str, Any], name: str,
                        direction: Any) -> tuple[np.ndarray, float, float, float]:
    """d/dt f(values with name += t*direction) at 0: (estimate, error estimate, noise level, fmax).

    A DomainError at a nearby point (the segment leaves the domain) discards the example.
    """
    h = step_for(values[name], direction)

    def phi(t: float) -> Any:
        try:
            return f(shifted(values, name, direction, t))
        except matdiff.DomainError:
            raise Discard("domain error near the point") from None

    try:
        est, err, fmax = richardson(phi, h)
    except Discard as d:
        discard(str(d))
        raise AssertionError("unreachable") from None
    if not np.all(np.isfinite(est)):
        discard("non-finite differences")
    noise = 1e3 * EPS * fmax / h  # rounding in the differences (amplified by Richardson)
    return est, err, noise, fmax


def assert_derivative(got: Any, num: Any, err: float, noise: float, fmax: float, hint: float,
                      what: str) -> None:
    """Assert got == num to RTOL of the scale (max |num|, or hint: |G|*|D| for <G, D>).

    Discards the example when the numerical estimate itself is not reliable to that level.
    """
    got_a, num_a = arr(got), arr(num)
    assert got_a.shape == num_a.shape, f"{what}: shape {got_a.shape}, the numerical one {num_a.shape}"
    assert np.all(np.isfinite(got_a)), f"{what}: not finite: {got_a}"
    scale = max(float(np.max(np.abs(num_a), initial=0.0)), hint, 1e-12 * fmax)
    floor = noise + 1e-10 * fmax + 1e-12
    if err > 1e-6 * scale + floor:
        discard("numerical derivative unreliable")
    diff = float(np.max(np.abs(got_a - num_a), initial=0.0))
    tol = RTOL * scale + 10 * err + floor
    assert diff <= tol, (f"{what}: matdiff gives {got_a!r}, central differences {num_a!r} "
                         f"(|diff| {diff:.3g} > tol {tol:.3g}; scale {scale:.3g}, est. error {err:.2g})")


def rounding_floor(fn: Callable[[dict[str, Any]], Any], values: dict[str, Any], name: str, direction: Any,
                   base: Any) -> float:
    """How far fn's value moves when the variable moves by ~1e-13 of its size along a valid direction.

    Two computations of the same quantity in another order (compiled code, evaluate) may differ by the rounding
    noise of the result, which is as large as the result where it is all cancellation (the zero gradient of
    det(X*X') for a tall X); a move of 1e-13 relative shows that noise (and adds only ~1e-13 of the
    derivative's own change)."""
    t = 1e-13 * max(1.0, fro(values[name])) / max(fro(direction), 1e-300)
    try:
        moved = fn(shifted(values, name, direction, t))
    except matdiff.MatdiffError:
        return 0.0
    return float(np.max(np.abs(arr(moved) - arr(base)), initial=0.0))


def assert_close(a: Any, b: Any, what: str, rtol: float = 1e-8, atol: float = 1e-13) -> None:
    """Two computations of the same value agree to rtol of their scale (and atol)."""
    a_, b_ = arr(a), arr(b)
    assert a_.shape == b_.shape, f"{what}: shapes {a_.shape} and {b_.shape}"
    scale = max(float(np.max(np.abs(a_), initial=0.0)), float(np.max(np.abs(b_), initial=0.0)), 1e-300)
    diff = float(np.max(np.abs(a_ - b_), initial=0.0))
    assert diff <= rtol * scale + atol, f"{what}: {a_!r} vs {b_!r} (|diff| {diff:.3g}, scale {scale:.3g})"


def balanced_latex(s: str) -> bool:
    """Braces balanced (never negative) and \\left / \\right paired."""
    depth = 0
    for i, ch in enumerate(s):
        if ch in "{}" and i and s[i - 1] == "\\":
            continue
        depth += ch == "{"
        depth -= ch == "}"
        if depth < 0:
            return False
    return depth == 0 and s.count("\\left") == s.count("\\right")
