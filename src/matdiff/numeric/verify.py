"""Verification of gradients: finite differences, Richardson extrapolation and the complex step.

A gradient ``G`` of ``f`` with respect to ``X`` is checked through the identity
``<G, V> = D_V f(X) = d/dt f(X + t V) at t = 0`` (Frobenius inner product) along a few
random directions ``V`` (symmetric ones for symmetric/spd variables, where ``G`` is the
Riesz representer on the symmetric matrices).  The directional derivative is computed
numerically from :func:`matdiff.evaluate` of the *expression*, never from matdiff's own
derivative.

Step sizes, for a direction of norm 1 and ``s = max(1, max|X_ij|)`` (the scale of the input;
``eps`` = 2.2e-16, the unit round-off of float64):

=============  ==================================  ===========================  ===================
method         formula                             step                         error
=============  ==================================  ===========================  ===================
forward        (f(X+hV) - f(X)) / h                h = sqrt(eps) s  (1.5e-8 s)  ~ sqrt(eps) = 1.5e-8
central        (f(X+hV) - f(X-hV)) / 2h            h = eps^(1/3) s  (6e-6 s)    ~ eps^(2/3) = 3.7e-11
richardson     central at h0, h0/2, ... extrapol.  h0 = 0.1 s                   ~ 1e-12 .. 1e-10
complex        Im f(X + ihV) / h                   h = 1e-20 s                  ~ eps = 2.2e-16
=============  ==================================  ===========================  ===================

The forward difference has truncation error ``h |f''| / 2`` and round-off ``2 eps |f| / h``:
their sum is smallest at ``h ~ sqrt(eps)``, where both are ``~ sqrt(eps)``.  Central differences
cancel the ``h`` term: truncation ``h^2 |f'''| / 6``, round-off ``eps |f| / h``, best at
``h ~ eps^(1/3)`` with error ``~ eps^(2/3)``.  Richardson extrapolation removes the ``h^2, h^4, ...``
terms of the central difference, so a large first step (little round-off) still gives a
small truncation error.  The complex step subtracts nothing (``Im f(X + ihV) = h D_V f + O(h^3)``),
so ``h`` can be tiny and the error is round-off of f itself: ``~ eps``; it needs ``f`` to be
analytic (the real restriction of a holomorphic function near ``X``).  When ``|f|`` is large
compared with its change over the scale ``s``, round-off in the difference methods grows with
the ratio ``kappa = |f| / (|D| s)``: the expected errors above are multiplied by ``1 + kappa``.

A derivative that is 0 (``tr(X*inv(X))``, ``tr(X'*X) - tr(X*X')``) has no relative error: each
method has an absolute *noise floor*, what its estimate of a zero derivative is made of.  With
``delta_f`` the round-off in the values of f near X (measured: the rms of 3rd and 4th differences
of f at 7 nearby points, ECnoise-style, at least ``eps |f|``; for ``tr(X'*X) - tr(X*X')`` it is the
round-off of the terms, ``~ eps ||X||^2``, although f = 0), the floor is

    forward  2 delta_f / h      central  delta_f / h      richardson  delta_f / h_used
    complex  delta_f / s        (Im f(X + ihV) / h carries the relative round-off of the terms of f)

and the error of a direction is judged against ``max(||G|| ||V||, |D_V f|, 100 floor / tol)``:
``|<G, V> - D_V f| <= max(tol ||G|| ||V||, tol |D_V f|, 100 floor)``.  A direction whose derivative
is below 100 floors counts as 0 within round-off and does not enter ``kappa``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..errors import DomainError, MatdiffError, ShapeError
from ..shapes import Dim
from ..syntax.ast import Call, Expr, Var
from ..syntax.printer import to_text

EPS = float(np.finfo(float).eps)
METHODS = ("forward", "central", "richardson", "complex")
DEFAULT_SIZES = (4, 3, 5)  # sizes given in turn to the distinct symbolic dims (distinct: catches transposes)
TOL_FLOOR = 1e-6  # the default tolerance is never below this ...
TOL_CAP = 1e-4  # ... nor above this: a check whose numerical derivative is that poor fails, not passes
NOISE_FACTOR = 100.0  # a difference within 100 noise floors of a method is round-off (see the module doc)
ZERO_FACTOR = 10.0  # a derivative (and <G, V>) below 10 noise floors is 0 up to round-off


Values = dict[str, Any]
Types = Mapping[str, str] | None


# ----------------------------------------------------------------------------- the expression


def _parse(expr: str | Expr) -> Expr:
    from .. import api

    return api.parse(expr) if isinstance(expr, str) else expr


def _typed(expr: str | Expr, types: Types) -> tuple[Expr, dict[str, Var]]:
    from .. import api

    return api.typed(expr, types)


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
    tree = _parse(expr)
    fixed = dict(values)
    ctypes = _complex_types(types)

    def f(x: Any) -> Any:
        from .. import api

        fixed[wrt] = x
        return api.evaluate(tree, fixed, ctypes if np.iscomplexobj(x) else types)

    return f


def non_analytic_functions(expr: str | Expr, types: Types = None) -> list[str]:
    """The functions of expr that are not analytic (abs, norm1, sign, norm2 of a matrix, ...)."""
    t, _ = _typed(expr, types)
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


# ----------------------------------------------------------------------------- random points


def _orthogonal(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """n x k with orthonormal columns, Haar-distributed (QR of a Gaussian, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((n, k)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def _spread(k: int) -> np.ndarray:
    """k well separated values in [0.6, 2] (distinct singular values / |eigenvalues|)."""
    return np.linspace(2.0, 0.6, k) if k > 1 else np.array([1.3])


def _sample(rng: np.random.Generator, kind: str, m: int, n: int) -> Any:
    """A random well-conditioned value of a variable of this kind and size."""
    if kind == "scalar":
        return float(rng.uniform(0.5, 1.5))
    if kind == "vector":
        return rng.standard_normal(m)
    signs = rng.choice([-1.0, 1.0], size=min(m, n))
    if kind == "diagonal":
        return np.diag(signs * rng.permutation(_spread(n)))
    if kind == "spd":
        b = rng.standard_normal((n, n))
        s = b @ b.T / n + np.eye(n)
        return (s + s.T) / 2
    if kind == "symmetric":  # distinct eigenvalues, distinct in absolute value too
        q = _orthogonal(rng, n, n)
        s = q @ np.diag(signs * _spread(n)) @ q.T
        return (s + s.T) / 2
    k = min(m, n)  # a general matrix: U diag(spread) V'
    return _orthogonal(rng, m, k) @ np.diag(_spread(k)) @ _orthogonal(rng, n, k).T


def _sizes(variables: Mapping[str, Var], sizes: Mapping[str, Any] | None) -> dict[Dim, int]:
    """A size for each distinct root dim: known, from ``sizes``, or a default."""
    chosen: dict[Dim, int] = {}

    def assign(d: Dim, k: int, why: str) -> None:
        r = d.find()
        known = r.value if r.value is not None else chosen.get(r)
        if known is not None and known != k:
            raise ShapeError(f"sample_values: {why} asks for size {k}, "
                             f"but the expression fixes {r} = {known}")
        chosen[r] = k

    for name, given in (sizes or {}).items():
        var = variables.get(name)
        if var is None:
            raise MatdiffError(f"sample_values: sizes names {name}, "
                               "which is not a variable of the expression")
        if var.is_scalar:
            continue
        shape = tuple(int(k) for k in np.atleast_1d(given))
        if var.is_vector:
            shape = shape[:1]
        elif len(shape) == 1:
            shape = shape * 2
        for axis, k in enumerate(shape):
            assign(var.shape[axis], k, f"sizes[{name!r}]")
    defaults = iter(DEFAULT_SIZES * 1000)
    for var in variables.values():
        for d in var.shape:
            r = d.find()
            if r.value is None and r not in chosen:
                chosen[r] = next(defaults)
    return chosen


def _shape(var: Var, chosen: Mapping[Dim, int]) -> tuple[int, int]:
    def size(d: Dim) -> int:
        r = d.find()
        return r.value if r.value is not None else chosen[r]

    return size(var.shape[0]), size(var.shape[1])


def _positive_entries(kind: str, a: Any) -> Any:
    """Entries made positive (|a| + 0.5), keeping the kind's structure."""
    if kind in ("scalar", "spd"):
        return a
    if kind == "diagonal":
        return np.diag(np.abs(np.diag(a)) + 0.5)
    return np.abs(a) + 0.5


def _positive_definite(kind: str, a: Any) -> Any:
    """Square matrices shifted so that A + A' is positive definite; vectors made positive."""
    if kind == "vector":
        return np.abs(a) + 0.5
    if kind in ("scalar", "spd") or a.shape[0] != a.shape[1]:
        return a
    # A + c I with c = ||A||_2 + 1: (A + A')/2 + c I >= (c - ||A||_2) I = I
    return a + (np.linalg.norm(a, 2) + 1.0) * np.eye(a.shape[0])


NUDGES: list[tuple[str, Callable[[str, Any], Any]]] = [
    ("the random point", lambda kind, a: a),
    ("positive entries", _positive_entries),
    ("positive definite matrices", _positive_definite),
    ("positive entries and positive definite matrices",
     lambda kind, a: _positive_definite(kind, _positive_entries(kind, a))),
]


def _in_domain(tree: Expr, variables: Mapping[str, Var], values: Values, guards: bool) -> None:
    """Raise DomainError unless f is defined at values (and differentiable, with ``guards``)."""
    from .evaluate import Evaluator, check_domain

    ev = Evaluator(variables, values)
    value = ev(tree)
    if not np.all(np.isfinite(value)):
        raise DomainError(f"{to_text(tree)} is not finite at this point")
    if guards:
        check_domain(ev, tree)


def sample_values(expr: str | Expr, types: Types = None, sizes: Mapping[str, Any] | None = None,
                  seed: int | None = 0, wrt: str | None = None) -> Values:
    """A random point for every variable of expr, where expr is defined.

    Scalars are uniform in [0.5, 1.5], vectors standard normal, matrices ``U diag(s) V'`` with
    random orthonormal ``U, V`` and singular values ``s`` spread over [0.6, 2]; ``symmetric``
    matrices have distinct eigenvalues (distinct in absolute value), ``spd`` ones are
    ``B B'/n + I``.  Variables sharing a symbolic size get the same size: its declared value,
    ``sizes[name]`` (an int, or ``(m, n)`` for a matrix), or a default (4, then 3, 5, ...).
    Where expr is undefined at the random point (a DomainError), the point is made positive
    entrywise and/or positive definite; a DomainError if none of these works.  With ``wrt``
    the point must also be one where expr is differentiable (no ``norm_fro`` at 0, ...).
    """
    tree, variables = _typed(expr, types)
    if wrt is not None and wrt not in variables:
        raise MatdiffError(f"{wrt} does not occur in {to_text(tree)} (its variables: {', '.join(variables)})")
    chosen = _sizes(variables, sizes)
    rng = np.random.default_rng(seed)
    raw = {name: _sample(rng, var.kind, *_shape(var, chosen)) for name, var in variables.items()}
    last: DomainError | None = None
    for _, nudge in NUDGES:
        values = {name: nudge(variables[name].kind, a) for name, a in raw.items()}
        try:
            _in_domain(tree, variables, values, guards=wrt is not None)
            return values
        except DomainError as err:
            last = err
    tried = ", ".join(what for what, _ in NUDGES)
    raise DomainError(f"sample_values: found no point where {to_text(tree)} is defined"
                      f"{' and differentiable' if wrt else ''} (tried {tried}); last error: {last}. "
                      "Give the point with values=")


def random_direction(rng: np.random.Generator, kind: str, like: Any) -> Any:
    """A random direction of unit Frobenius norm shaped like ``like``, in the variable's space.

    Symmetric for symmetric/spd variables, diagonal for diagonal ones, +-1 for a scalar.
    """
    if kind == "scalar" or np.ndim(like) == 0:
        return float(rng.choice([-1.0, 1.0]))
    v = rng.standard_normal(np.shape(like))
    if kind in ("symmetric", "spd"):
        v = (v + v.T) / 2
    elif kind == "diagonal":
        v = np.diag(np.diag(v))
    return v / np.linalg.norm(v)


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
    from ..syntax.ast import Add, Neg
    from .evaluate import Evaluator

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


# ----------------------------------------------------------------------------- check


@dataclass
class CheckReport:
    """The result of :func:`check`.

    ``max_rel_error`` is the largest over the directions V of
    ``|<G, V> - D_V f| / max(||G|| ||V||, |D_V f|, 100 floor / tolerance)`` (Frobenius norms): by
    Cauchy-Schwarz ``|<G, V>| <= ||G|| ||V||``, so this is an error relative to the size of the
    derivative that does not blow up when ``<G, V>`` happens to be near 0, and is 1 for G = 0
    against a nonzero derivative; ``floor`` is the method's noise floor (module doc), so that a
    derivative that is 0 up to round-off (``tr(X*inv(X))``) passes with G = 0.
    ``expected_error`` is what the method's step analysis promises (module doc);
    ``ok`` is ``max_rel_error <= tolerance``.
    """

    ok: bool
    method: str
    max_rel_error: float
    expected_error: float
    tolerance: float
    details: list[dict[str, float]]
    values: Values
    gradient: Any
    expr: str = ""
    wrt: str = ""
    note: str = ""
    seed: int | None = None

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        lines = [
            f"check of grad_{self.wrt} {self.expr}: {verdict}",
            f"  method          {self.method}" + (f" ({self.note})" if self.note else ""),
            f"  max rel. error  {self.max_rel_error:.3g}",
            f"  expected error  {self.expected_error:.3g}",
            f"  tolerance       {self.tolerance:.3g}",
        ]
        if self.seed is not None:
            lines.append(f"  point           random, seed {self.seed}")
        if self.details:
            lines.append("  direction   <G, V>                   numerical                rel. error")
            for i, d in enumerate(self.details, 1):
                lines.append(f"  {i:<9}   {d['analytic']:<+23.16g}  {d['numeric']:<+23.16g}  "
                             f"{d['rel_error']:.3g}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = "green" if self.ok else "red"
        head = (f"<p><b>check of grad<sub>{html.escape(self.wrt)}</sub> {html.escape(self.expr)}</b>: "
                f"<span style='color:{colour}'>{'ok' if self.ok else 'FAILED'}</span> &mdash; "
                f"{html.escape(self.method)}{' (' + html.escape(self.note) + ')' if self.note else ''}, "
                f"max rel. error {self.max_rel_error:.3g} (expected {self.expected_error:.3g}, "
                f"tolerance {self.tolerance:.3g})</p>")
        rows = "".join(f"<tr><td>{i}</td><td>{d['analytic']:.16g}</td><td>{d['numeric']:.16g}</td>"
                       f"<td>{d['rel_error']:.3g}</td></tr>" for i, d in enumerate(self.details, 1))
        return (head + "<table><tr><th>V</th><th>&lt;G, V&gt;</th><th>numerical</th><th>rel. error</th></tr>"
                + rows + "</table>")


def _inner(g: Any, v: Any) -> float:
    return float(np.sum(np.asarray(g, dtype=float) * np.asarray(v, dtype=float)))


def _norm(a: Any) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=float).ravel()))


def expected_error(method: str, kappa: float, richardson_estimate: float = 0.0) -> float:
    """The relative error the method's step analysis promises, given kappa = |f| / (|D| scale)."""
    cancel = 1.0 + kappa  # round-off of the differences grows with |f| relative to its change
    if method == "forward":
        return float(np.sqrt(EPS) * cancel)
    if method == "central":
        return float(EPS ** (2 / 3) * cancel)
    if method == "richardson":
        return float(max(richardson_estimate, 1e-12 * cancel))
    return 10 * EPS  # complex step: no cancellation


def default_tolerance(expected: float) -> float:
    """100 x expected, within [1e-6, 1e-4].

    The factor 100 leaves room for the constants the step analysis drops; the floor keeps an
    ill-conditioned point from failing a correct gradient (a derivation bug gives an O(1) error);
    the cap keeps a numerical derivative that cannot be trusted (forward differences of an f
    that is large compared with its change, Richardson across a kink) from passing anything.
    """
    return min(max(100.0 * expected, TOL_FLOOR), TOL_CAP)


def _choose_method(method: str, f: Callable[[Any], Any], x: Any, v: Any, tree: Expr, types: Types,
                   noise: float | None = None) -> tuple[str, str]:
    """The method to use, and a note on the choice."""
    if method not in ("auto", "complex"):
        if method not in METHODS:
            raise MatdiffError(f"unknown method {method!r}: use one of {', '.join(METHODS)} or 'auto'")
        return method, ""
    ok, why = analytic(f, x, v, non_analytic_functions(tree, types), noise)
    if method == "complex":
        if not ok:
            raise MatdiffError(f"the complex step does not apply: {why}; use method='richardson'")
        return "complex", ""
    return ("complex", "auto: the expression is analytic") if ok else ("richardson", f"auto: {why}")


GradientFunction = Callable[[Mapping[str, Any]], Any]


def _gradient_function(expr: str | Expr, wrt: str, types: Types,
                       gradient: GradientFunction | None) -> GradientFunction:
    if gradient is not None:
        return gradient
    from .. import api

    return api.grad(expr, wrt=wrt, types=types).evaluate


def check(expr: str | Expr, wrt: str, types: Types = None, values: Mapping[str, Any] | None = None,
          method: str = "auto", seed: int | None = None, directions: int = 3, tol: float | None = None,
          gradient: GradientFunction | None = None) -> CheckReport:
    """Check the gradient of expr with respect to wrt against numerical directional derivatives.

    At ``values`` (a random point from :func:`sample_values` with ``seed`` if not given; a fresh
    seed, reported, if ``seed`` is None), along ``directions`` random directions, by ``method``:
    "forward", "central", "richardson", "complex", or "auto" (the complex step where the
    expression is analytic, else Richardson).  ``gradient`` (a function of the values) checks
    that function instead of matdiff's derivation.  ``tol`` defaults to
    :func:`default_tolerance` of the expected error.  A DomainError at the point propagates.
    """
    tree, variables = _typed(expr, types)
    if wrt not in variables:
        raise MatdiffError(f"{wrt} does not occur in {to_text(tree)} (its variables: {', '.join(variables)})")
    kind = variables[wrt].kind
    if values is None:
        if seed is None:
            seed = int(np.random.default_rng().integers(2**31))
        values = sample_values(tree, types, seed=seed, wrt=wrt)
    values = dict(values)
    gfun = _gradient_function(expr, wrt, types, gradient)
    f = function_of(expr, values, wrt, types)
    x = values[wrt] if np.ndim(values[wrt]) == 0 else np.asarray(values[wrt])
    fx = _real(f(x))  # DomainError at the point propagates
    if not np.isfinite(fx):
        raise DomainError(f"{to_text(tree)} is not finite at this point")
    g = gfun(values)
    rng = np.random.default_rng((0 if seed is None else seed, 1))
    vs = [random_direction(rng, kind, x) for _ in range(max(1, directions))]
    text = to_text(tree)
    wrong = (f"the gradient has shape {np.shape(g)}, the variable {np.shape(x)}" if np.shape(g) != np.shape(x)
             else "the gradient is not finite" if not np.all(np.isfinite(g)) else "")
    if wrong:
        return CheckReport(False, method, float("inf"), float("nan"), float("nan"), [], values, g, text, wrt,
                           wrong, seed)
    # f's round-off near x: sets each method's noise floor
    noise = round_off(f, x, vs[0], fx, terms_size(tree, variables, values))
    used, note = _choose_method(method, f, x, vs[0], tree, types, noise)
    rows: list[tuple[float, Estimate, float, float]] = []
    kappa, rich_err = 0.0, 0.0
    for v in vs:
        est = estimate(f, x, v, used)
        analytic_value = _inner(g, v)
        size = max(_norm(g) * _norm(v), abs(est.value))  # the size of the derivative (Cauchy-Schwarz)
        floor = noise_floor(used, noise * _norm(v), x, est.step)
        rows.append((analytic_value, est, size, floor))
        if size <= ZERO_FACTOR * floor:
            continue  # G and the estimate are both round-off: a zero derivative, no relative error
        # resolved: the round-off relative to the derivative grows with kappa = |f| / (|D| s)
        kappa = max(kappa, abs(fx) * _norm(v) / (size * _scale(x)))
        if used == "richardson":
            rich_err = max(rich_err, est.error / size)
    expected = expected_error(used, kappa, rich_err)
    tolerance = default_tolerance(expected) if tol is None else float(tol)
    details: list[dict[str, float]] = []
    for analytic_value, est, size, floor in rows:
        # relative to the derivative where it stands above the noise; where it does not (G and the
        # estimate both below 10 floors), |<G, V> - D| <= 100 floor is the pass mark
        zero = size <= ZERO_FACTOR * floor and tolerance > 0
        denom = max(size, NOISE_FACTOR * floor / tolerance if zero else 0.0, 1e-300)
        err = abs(analytic_value - est.value) / denom
        details.append({"analytic": analytic_value, "numeric": est.value, "rel_error": err if np.isfinite(err)
                        else float("inf"), "step": est.step})
    worst = max(d["rel_error"] for d in details)
    if expected > tolerance:
        note = "; ".join(filter(None, [note, f"the {used} estimate cannot be trusted to the tolerance here "
                                       "(try method='complex' or 'richardson', or another point)"]))
    return CheckReport(bool(worst <= tolerance), used, worst, expected, tolerance, details, values, g, text,
                       wrt, note, seed)


# ----------------------------------------------------------------------------- step-size sweep


@dataclass
class SweepResult:
    """Relative errors of the difference methods over a range of steps (see :func:`sweep`).

    ``errors[method][k]`` is ``|D_h - <G, V>| / max(||G|| ||V||, |<G, V>|)`` at step ``h[k]`` (NaN
    where a step left the domain); ``best[method]`` is ``(h, error)`` at the smallest error.
    "complex" is present only where the expression is analytic.
    """

    h: np.ndarray
    errors: dict[str, np.ndarray]
    best: dict[str, tuple[float, float]]
    expr: str = ""
    wrt: str = ""
    exact: float = float("nan")
    note: str = ""


def sweep(expr: str | Expr, wrt: str, types: Types = None, values: Mapping[str, Any] | None = None,
          seed: int | None = None, steps: Sequence[float] | None = None) -> SweepResult:
    """The relative errors of forward, central and complex-step derivatives for steps 1e-1 .. 1e-16.

    Along one random direction of unit norm (the point moves by h V), against matdiff's gradient:
    the forward and central errors fall with h (truncation) until round-off makes them rise
    again, the "V" of finite differences; the complex step does not rise.  ``seed`` (0 if None)
    draws the point (unless ``values``) and the direction; ``steps`` replaces the default
    ``logspace(-1, -16, 31)``.
    """
    from .. import api

    tree, variables = _typed(expr, types)
    if wrt not in variables:
        raise MatdiffError(f"{wrt} does not occur in {to_text(tree)} (its variables: {', '.join(variables)})")
    seed = 0 if seed is None else seed
    values = dict(values) if values is not None else sample_values(tree, types, seed=seed, wrt=wrt)
    hs = np.logspace(-1, -16, 31) if steps is None else np.asarray(steps, dtype=float)
    f = function_of(expr, values, wrt, types)
    x = values[wrt] if np.ndim(values[wrt]) == 0 else np.asarray(values[wrt])
    f(x)  # a DomainError at the point propagates
    g = api.grad(expr, wrt=wrt, types=types).evaluate(values)
    v = random_direction(np.random.default_rng((seed, 1)), variables[wrt].kind, x)
    exact = _inner(g, v)
    noise = round_off(f, x, v, terms=terms_size(tree, variables, values))
    denom = max(_norm(g) * _norm(v), abs(exact))
    zero = denom <= NOISE_FACTOR * noise_floor("complex", noise, x, 0.0)
    if zero:  # a zero derivative: errors relative to the derivative of the terms of f, ~ their size / s
        denom = max(denom, noise / (EPS * _scale(x)))
    denom = max(denom, 1e-300)
    ok, why = analytic(f, x, v, non_analytic_functions(tree, types), noise)
    methods = ["forward", "central"] + (["complex"] if ok else [])
    errors: dict[str, np.ndarray] = {}
    for m in methods:
        errs = np.full(hs.shape, np.nan)
        for k, h in enumerate(hs):
            try:
                errs[k] = abs(estimate(f, x, v, m, float(h)).value - exact) / denom
            except DomainError:
                pass  # this step leaves the domain
        errors[m] = errs
    best = {m: (float(hs[np.nanargmin(e)]), float(np.nanmin(e))) for m, e in errors.items()
            if np.any(np.isfinite(e))}
    notes = ["the derivative is 0 up to round-off: errors relative to |terms of f| / scale" if zero else "",
             "" if ok else f"no complex step: {why}"]
    return SweepResult(hs, errors, best, to_text(tree), wrt, exact, "; ".join(filter(None, notes)))


def plot_sweep(result: SweepResult, path: str | Any) -> str:
    """Write the sweep as a log-log PNG at path: error against step, with the eps reference lines."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MatdiffError("plot_sweep needs matplotlib: pip install matdiff[plot]") from None
    fig = Figure(figsize=(7, 4.8))
    FigureCanvasAgg(fig)  # the Agg backend, without touching pyplot's global state
    ax = fig.add_subplot(1, 1, 1)
    floor = EPS / 100  # an exact 0 error is drawn at the bottom of the plot
    styles = {"forward": "o-", "central": "s-", "complex": "^-"}
    for m, errs in result.errors.items():
        ax.loglog(result.h, np.maximum(errs, floor), styles.get(m, ".-"), ms=4, label=m)
    for value, label, style in ((np.sqrt(EPS), r"$\sqrt{\varepsilon}$", ":"),
                                (EPS ** (2 / 3), r"$\varepsilon^{2/3}$", "--"),
                                (EPS, r"$\varepsilon$", "-.")):
        ax.axhline(value, color="grey", linestyle=style, linewidth=1, label=label)
    ax.set_xlabel("step h (the point moves by h V, ||V|| = 1)")
    ax.set_ylabel("relative error of the directional derivative")
    ax.set_title(f"step-size sweep: d/d{result.wrt} {result.expr}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(str(path), format="png", dpi=100)
    return str(path)
