"""Numerical directional derivatives of f(X + tV): forward, central, Richardson, the complex step;
f's round-off near X, each method's noise floor, and whether the complex step applies.

The step sizes and error analysis are in :mod:`matdiff.verify`'s docstring.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..core.nodes import Add, Call, Expr, Neg, Var
from ..errors import DomainError, MatdiffError
from ..frontend import evaluate, parse, typed
from ..numeric.evaluate import Evaluator
from ..syntax.printer import to_text

EPS = float(np.finfo(float).eps)
METHODS = ("forward", "central", "richardson", "complex")
NOISE_FACTOR = 100.0  # a difference within 100 noise floors of a method is round-off (see the module doc)


Types = Mapping[str, str] | None

# ----------------------------------------------------------------------------- the expression


def _complex_types(types: Types) -> dict[str, str]:
    """The types to evaluate with at complex points: ``spd`` read as ``symmetric``.

    The same function on the spd cone; ``spd`` only selects a real Cholesky factorisation for
    ``logdet``, which does not continue to complex symmetric matrices, while ``symmetric`` goes
    through LU (``slogdet``), which does.
    """
    return {name: re.sub(r"^\s*spd\b", "symmetric", spec) if isinstance(spec, str) else spec
            for name, spec in (types or {}).items()}


def function_of(expr: str | Expr, values: Mapping[str, Any], wrt: str, types: Types = None
                ) -> Callable[[Any], Any]:
    """``f(x)``: the expression as a function of the variable ``wrt``, the others fixed at ``values``.

    Accepts complex ``x`` (for the complex step); the value is a float (complex at a complex point).
    """
    tree = parse(expr) if isinstance(expr, str) else expr
    fixed = dict(values)
    ctypes = _complex_types(types)

    def f(x: Any) -> Any:
        fixed[wrt] = x
        return evaluate(tree, fixed, ctypes if np.iscomplexobj(x) else types)

    return f


def non_analytic_functions(expr: str | Expr, types: Types = None) -> list[str]:
    """The functions of expr that are not analytic (abs, norm1, sign, norm2 of a matrix, ...)."""
    t, _ = typed(expr, types)
    found: list[str] = []
    stack, seen = [t], set()
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        stack.extend(e.children)
        if isinstance(e, Call):
            # |.| or sign in the definition: not the restriction of a holomorphic function (the entry's
            # ``analytic``); norm2 / norm_nuc are so for matrices (singular values), not for vectors (sqrt(x'x))
            matrix_arg = not (e.arg.is_scalar or e.arg.is_vector)
            if e.fn.analytic == "no" or (e.fn.analytic == "vectors" and matrix_arg):
                name = f"{e.fn.name}({to_text(e.arg)})"
                if name not in found:
                    found.append(name)
    return found


# ----------------------------------------------------------------------------- directional derivatives


class Estimate(NamedTuple):
    """A numerical directional derivative: its value, the step used and (Richardson) an error estimate."""

    value: float
    step: float
    error: float = float("nan")


def _scale(x: Any) -> float:
    """The scale of the input: max(1, max |x_ij|)."""
    a = np.abs(np.asarray(x, dtype=complex if np.iscomplexobj(x) else float))
    return max(1.0, float(np.max(a))) if a.size else 1.0


def default_step(method: str, x: Any, v: Any) -> float:
    """The step h (the point moves by h v) that balances truncation and round-off for the method."""
    per_unit = {"forward": np.sqrt(EPS),  # truncation h f''/2 = round-off 2 eps f / h
                "central": EPS ** (1 / 3),  # truncation h^2 f'''/6 = round-off eps f / h
                "richardson": 0.1,  # the first (largest) step of the table
                "complex": 1e-20}  # no subtraction: any small h; truncation h^2 f'''/6 << eps
    if method not in per_unit:
        raise MatdiffError(f"unknown method {method!r}: use one of {', '.join(METHODS)} or 'auto'")
    return float(per_unit[method] * _scale(x) / max(float(np.linalg.norm(v)), 1e-300))


def _real(y: Any) -> float:
    return float(np.real(y))


def _forward(f: Callable[[Any], Any], x: Any, v: Any, h: float) -> float:
    return (_real(f(x + h * v)) - _real(f(x))) / h


def _central(f: Callable[[Any], Any], x: Any, v: Any, h: float) -> float:
    return (_real(f(x + h * v)) - _real(f(x - h * v))) / (2 * h)


def _complex_step(f: Callable[[Any], Any], x: Any, v: Any, h: float) -> float:
    y = f(x + 1j * h * v)
    if not np.iscomplexobj(y):
        raise MatdiffError("the function gave a real value at a complex point: "
                           "the complex step does not apply")
    return float(np.imag(y)) / h


def _richardson(f: Callable[[Any], Any], x: Any, v: Any, h0: float, levels: int = 10) -> Estimate:
    """Central differences at h0, h0/2, ... extrapolated by a Neville table (Ridders' method).

    D(h) = D + c1 h^2 + c2 h^4 + ...; with T[i][0] = D(h0 / 2^i),
    T[i][j] = T[i][j-1] + (T[i][j-1] - T[i-1][j-1]) / (4^j - 1) removes the h^(2j) term.  Each
    entry's error is estimated by its change from its two parents; the entry with the smallest
    change is returned.  The table stops once the diagonal grows worse by 2x (round-off has won).
    """
    best, best_err, best_h = float("nan"), float("inf"), h0
    prev: list[float] = []
    for i in range(levels):
        h = h0 / 2**i
        row = [_central(f, x, v, h)]
        for j in range(1, i + 1):
            row.append(row[j - 1] + (row[j - 1] - prev[j - 1]) / (4**j - 1))
            err = max(abs(row[j] - row[j - 1]), abs(row[j] - prev[j - 1]))
            if err <= best_err:
                best, best_err, best_h = row[j], err, h
        if i and abs(row[i] - prev[i - 1]) >= 2 * best_err:
            break
        prev = row
    if not np.isfinite(best_err):
        best, best_err = prev[0] if prev else row[0], float("inf")
    return Estimate(best, best_h, best_err)


def estimate(f: Callable[[Any], Any], x: Any, v: Any, method: str, h: float | None = None) -> Estimate:
    """The directional derivative of f at x along v by ``method``, with the step used."""
    if h is None:
        h = default_step(method, x, v)
    if method == "forward":
        return Estimate(_forward(f, x, v, h), h)
    if method == "central":
        return Estimate(_central(f, x, v, h), h)
    if method == "complex":
        return Estimate(_complex_step(f, x, v, h), h)
    if method != "richardson":
        raise MatdiffError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    return _richardson_adaptive(f, x, v, h)


def _richardson_adaptive(f: Callable[[Any], Any], x: Any, v: Any, h0: float) -> Estimate:
    """Richardson from h0, h0/10, ... down to h0/1e4 until the table vouches for ~1e-9 relative accuracy.

    A first step that crosses a kink (norm1 near a zero entry) or a singularity gives a table
    whose entries do not settle (a large error estimate), and one that leaves the domain a
    DomainError: both are retried with a smaller first step; the best estimate is returned.
    """
    best: Estimate | None = None
    failure: DomainError | None = None
    h = h0
    for _ in range(5):
        try:
            est = _richardson(f, x, v, h)
        except DomainError as err:
            failure = err
        else:
            if best is None or est.error < best.error:
                best = est
            if est.error <= 1e-9 * abs(est.value):
                break
        h /= 10
    if best is None:
        assert failure is not None
        raise failure
    return best


def directional_derivative(f: Callable[[Any], Any], x: Any, v: Any, method: str = "richardson",
                           h: float | None = None) -> float:
    """``d/dt f(x + t v)`` at ``t = 0`` by forward, central or Richardson differences, or the complex step.

    ``f`` maps a value shaped like ``x`` to a scalar (complex input too, for ``method="complex"``);
    ``h`` overrides the default step (see the module's table).
    """
    return estimate(f, np.asarray(x) if np.ndim(x) else x, v, method, h).value


# ----------------------------------------------------------------------------- round-off of f


def terms_size(tree: Expr, variables: Mapping[str, Var], values: Mapping[str, Any]) -> float:
    """``sum |t_k|`` over the terms of f = t_1 + t_2 - ... (through sums and negations); ``|f|`` if f is no sum.

    The round-off of a sum is ``eps sum |t_k|``, however much the terms cancel: ``tr(X'*X) - tr(X*X')``
    is 0 with a round-off of ``~ 2 eps ||X||^2``.
    """
    ev = Evaluator(variables, values)

    def size(e: Expr) -> float:
        if isinstance(e, Add):
            return sum(size(t) for t in e.terms)
        if isinstance(e, Neg):
            return size(e.arg)
        return float(np.max(np.abs(ev(e)))) if np.size(ev(e)) else 0.0

    try:
        out = size(tree)
    except (MatdiffError, ArithmeticError, ValueError, np.linalg.LinAlgError):
        return 0.0
    return out if np.isfinite(out) else 0.0


def round_off(f: Callable[[Any], Any], x: Any, v: Any, fx: float | None = None, terms: float = 0.0) -> float:
    """The round-off noise (absolute) in the values of f near x: ``delta_f`` of the module doc.

    f is sampled at ``x + j delta v``, ``j = -3 .. 3``, with ``delta`` an eighth of the central
    step: there the smooth part of the 3rd and 4th differences (``delta^k f^(k)``, ~1e-19) is far
    below round-off, so they are noise.  k-th differences of independent noise of deviation
    ``sigma`` have deviation ``sigma sqrt(C(2k, k))`` (sqrt(20), sqrt(70)): their rms over those
    constants estimates ``sigma`` (Moré and Wild's ECnoise, without its adaptivity).  At least
    ``eps max(|f(x)|, terms)`` (``terms``: :func:`terms_size`; seven points can all round alike, to
    an exact 0 say); that alone where a nearby point leaves the domain.
    """
    if fx is None:
        fx = _real(f(x))
    least = EPS * max(abs(fx), terms)
    delta = default_step("central", x, v) / 8
    try:
        pts = np.array([fx if j == 0 else _real(f(x + j * delta * v)) for j in range(-3, 4)])
    except (MatdiffError, ArithmeticError, ValueError, np.linalg.LinAlgError):
        return least
    if not np.all(np.isfinite(pts)):
        return least
    d3, d4 = np.diff(pts, 3), np.diff(pts, 4)
    sigma = max(float(np.sqrt(np.mean(d3**2) / 20)), float(np.sqrt(np.mean(d4**2) / 70)))
    return max(least, sigma)


def noise_floor(method: str, noise: float, x: Any, step: float) -> float:
    """The absolute error of the method's estimate of a zero derivative, from f's round-off ``noise``.

    Differences divide the round-off of f by the step (forward: two values, each off by ``noise``);
    the complex step subtracts nothing, but its ``Im f(X + ihV) / h`` carries the relative
    round-off of the terms of f, ``noise / |f|``-sized, times their derivative, ``~ |f| / s``,
    accumulated over the N entries of X: ``N noise / s`` (generous: for the complex step the floor
    only decides when a derivative counts as 0, it never loosens a relative error).
    """
    if method == "forward":
        return 2 * noise / step
    if method in ("central", "richardson"):
        return noise / step
    return max(1, int(np.size(x))) * noise / _scale(x)


# ----------------------------------------------------------------------------- analyticity


def analytic(f: Callable[[Any], Any], x: Any, v: Any, nonanalytic: Sequence[str] = (),
             noise: float | None = None) -> tuple[bool, str]:
    """Whether the complex step applies to f at x along v, and why not.

    No if the expression has non-analytic functions, or if evaluation at ``x + ihv`` raises,
    is not finite or not complex, or disagrees with central differences (a complex evaluation
    that is not the analytic continuation).  "Disagrees" allows for the round-off of both:
    ``noise`` (f's round-off near x, :func:`round_off` if None) over the central step and over
    the scale, so that a zero derivative (a polynomial such as ``tr(X'*X) - tr(X*X')``, f = 0 up to
    round-off) is not taken for a non-analytic one.
    """
    if nonanalytic:
        return False, f"{', '.join(nonanalytic)} {'is' if len(nonanalytic) == 1 else 'are'} not analytic"
    h = default_step("complex", x, v)
    try:
        y = f(x + 1j * h * v)
    except Exception as err:  # noqa: BLE001 -- any failure at a complex point means: not usable
        return False, f"evaluation at a complex point fails ({type(err).__name__}: {err})"
    if not np.iscomplexobj(y):
        return False, "evaluation at a complex point gives a real value"
    if not np.isfinite(y):
        return False, "evaluation at a complex point is not finite"
    cs = float(np.imag(y)) / h
    hc = default_step("central", x, v)
    try:
        cd = _central(f, x, v, hc)
        fx = _real(f(x))
        if noise is None:
            noise = round_off(f, x, v, fx)
    except DomainError:
        return True, ""
    scale = abs(cs) + abs(cd) + abs(fx) / _scale(x)
    # 1e-5: the accuracy of central differences (eps^(2/3) ~ 4e-11) with a wide margin; plus both
    # methods' noise floors, which decide when the derivative itself is 0 up to round-off
    slack = NOISE_FACTOR * (noise_floor("central", noise, x, hc) + noise_floor("complex", noise, x, h))
    if abs(cs - cd) > 1e-5 * scale + slack:
        return False, (f"the complex step ({cs:.6g}) disagrees with central differences ({cd:.6g}): "
                       "the complex evaluation is not analytic")
    return True, ""
