"""The check of a gradient against numerical directional derivatives, and the step-size sweep.

``check`` and ``sweep`` take a derived result (:class:`~matdiff.results.gradient.GradientResult`:
nothing is derived again) or an expression, which they derive once.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.nodes import Expr
from ..errors import DomainError, MatdiffError
from ..frontend import evaluate, typed
from ..results.derive import gradient as derive_gradient
from ..results.gradient import GradientResult
from ..syntax.printer import to_text
from .differences import (
    EPS,
    METHODS,
    NOISE_FACTOR,
    Estimate,
    _real,
    _scale,
    analytic,
    estimate,
    function_of,
    noise_floor,
    non_analytic_functions,
    round_off,
    terms_size,
)
from .sampling import Values, random_direction, sample_values

TOL_FLOOR = 1e-6  # the default tolerance is never below this ...
TOL_CAP = 1e-4  # ... nor above this: a check whose numerical derivative is that poor fails, not passes
ZERO_FACTOR = 10.0  # a derivative (and <G, V>) below 10 noise floors is 0 up to round-off

Types = Mapping[str, str] | None

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
    what: str = "grad"  # what was checked: the gradient, a Jacobian's jvp, a Hessian's hvp

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        lines = [
            f"check of {self.what}_{self.wrt} {self.expr}: {verdict}",
            f"  method          {self.method}" + (f" ({self.note})" if self.note else ""),
            f"  max rel. error  {self.max_rel_error:.3g}",
            f"  expected error  {self.expected_error:.3g}",
            f"  tolerance       {self.tolerance:.3g}",
        ]
        if self.seed is not None:
            lines.append(f"  point           random, seed {self.seed}")
        if self.details:
            head = "<G, V>" if self.what == "grad" else f"|{self.what}(V)|"
            lines.append(f"  direction   {head:<23s}  numerical                rel. error")
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


Subject = str | Expr | GradientResult


class _Subject:
    """What a check is about: f as given (evaluated at the points), its typed tree and variables, the
    variable, and its gradient: the result given, or derived once on first use."""

    def __init__(self, expr: Subject, wrt: str | None, types: Types):
        self.result: GradientResult | None = None
        if isinstance(expr, GradientResult):
            if wrt is not None and wrt != expr.wrt:
                raise MatdiffError(f"the result is the gradient with respect to {expr.wrt}, not {wrt}")
            if types is not None:
                raise MatdiffError("a result carries its types: give types= only with an expression")
            self.result, self.expr, self.types = expr, expr.expr, None
            self.tree, self.variables, self.wrt = expr.expr, expr.variables, expr.wrt
            return
        self.expr, self.types = expr, types
        self.tree, self.variables = typed(expr, types)
        if wrt not in self.variables:
            raise MatdiffError(f"{wrt} does not occur in {to_text(self.tree)} "
                               f"(its variables: {', '.join(self.variables)})")
        self.wrt = wrt

    def gradient(self) -> GradientResult:
        if self.result is None:
            self.result = derive_gradient(self.tree, self.variables[self.wrt], self.variables)
        return self.result


def check(expr: Subject, wrt: str | None = None, types: Types = None, values: Mapping[str, Any] | None = None,
          method: str = "auto", seed: int | None = None, directions: int = 3, tol: float | None = None,
          gradient: GradientFunction | None = None) -> CheckReport:
    """Check the gradient of expr with respect to wrt against numerical directional derivatives.

    ``expr`` is a derived :class:`GradientResult` (its gradient is checked, its wrt and types are its
    own) or an expression (text or tree) with ``wrt`` and ``types``, derived here once.
    At ``values`` (a random point from :func:`sample_values` with ``seed`` if not given; a fresh
    seed, reported, if ``seed`` is None), along ``directions`` random directions, by ``method``:
    "forward", "central", "richardson", "complex", or "auto" (the complex step where the
    expression is analytic, else Richardson).  ``gradient`` (a function of the values) checks
    that function instead of matdiff's derivation.  ``tol`` defaults to
    :func:`default_tolerance` of the expected error.  A DomainError at the point propagates.
    """
    sub = _Subject(expr, wrt, types)
    tree, variables, wrt, types = sub.tree, sub.variables, sub.wrt, sub.types
    kind = variables[wrt].kind
    if values is None:
        if seed is None:
            seed = int(np.random.default_rng().integers(2**31))
        values = sample_values(tree, types, seed=seed, wrt=wrt)
    values = dict(values)
    gfun = gradient if gradient is not None else sub.gradient().evaluate
    f = function_of(sub.expr, values, wrt, types)
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


def sweep(expr: Subject, wrt: str | None = None, types: Types = None, values: Mapping[str, Any] | None = None,
          seed: int | None = None, steps: Sequence[float] | None = None) -> SweepResult:
    """The relative errors of forward, central and complex-step derivatives for steps 1e-1 .. 1e-16.

    Along one random direction of unit norm (the point moves by h V), against matdiff's gradient:
    the forward and central errors fall with h (truncation) until round-off makes them rise
    again, the "V" of finite differences; the complex step does not rise.  ``seed`` (0 if None)
    draws the point (unless ``values``) and the direction; ``steps`` replaces the default
    ``logspace(-1, -16, 31)``.  ``expr``: a derived :class:`GradientResult`, or an expression with
    ``wrt`` and ``types``, as for :func:`check`.
    """
    sub = _Subject(expr, wrt, types)
    tree, variables, wrt, types = sub.tree, sub.variables, sub.wrt, sub.types
    seed = 0 if seed is None else seed
    values = dict(values) if values is not None else sample_values(tree, types, seed=seed, wrt=wrt)
    hs = np.logspace(-1, -16, 31) if steps is None else np.asarray(steps, dtype=float)
    f = function_of(sub.expr, values, wrt, types)
    x = values[wrt] if np.ndim(values[wrt]) == 0 else np.asarray(values[wrt])
    f(x)  # a DomainError at the point propagates
    g = sub.gradient().evaluate(values)
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


# ----------------------------------------------------------------------------- Jacobians and Hessians
LINEAR_TOL = 1e-6  # relative error allowed to a jvp or hvp against Richardson-extrapolated differences


def _richardson(f: Callable[[Any], Any], x: Any, v: Any, h: float) -> np.ndarray:
    """d/dt f(x + t v) at 0 by central differences at h, h/2, h/4 and two Richardson steps (error O(h^6))."""
    x = np.asarray(x, dtype=float) if np.ndim(x) else float(x)
    d = [(np.asarray(f(x + s * v), dtype=float) - np.asarray(f(x - s * v), dtype=float)) / (2 * s)
         for s in (h, h / 2, h / 4)]
    r1 = [(4 * d[1] - d[0]) / 3, (4 * d[2] - d[1]) / 3]
    return (16 * r1[1] - r1[0]) / 15


def check_linear(what: str, expr: str, wrt: str, kind: str, x: Any, apply: Callable[[Any], Any],
                 func: Callable[[Any], Any], values: Values, seed: int = 0, directions: int = 3,
                 tol: float = LINEAR_TOL) -> CheckReport:
    """Check a linear map (a jvp, an hvp) against differences of ``func`` along random directions.

    ``apply(v)`` is the analytic derivative along v, ``func(x)`` the function it differentiates (the
    expression for a jvp, the gradient for an hvp)."""
    rng = np.random.default_rng((seed, 2))
    scale = max(1.0, float(np.sqrt(np.mean(np.square(np.asarray(x, dtype=float))))))
    details: list[dict[str, float]] = []
    worst = 0.0
    for _ in range(max(1, directions)):
        v = random_direction(rng, kind, x)
        analytic = np.asarray(apply(v), dtype=float)
        numeric = _richardson(func, x, v, 1e-2 * scale)
        size = max(_norm(numeric), _norm(analytic), 1e-300)
        err = _norm(analytic - numeric) / size if np.all(np.isfinite(analytic)) else float("inf")
        worst = max(worst, err)
        details.append({"analytic": _norm(analytic), "numeric": _norm(numeric), "rel_error": err, "step": 1e-2})
    return CheckReport(bool(worst <= tol), "central differences + Richardson", worst, 1e-10, tol, details,
                       values, None, expr, wrt, f"{what}: norms of the analytic and numerical derivatives", seed,
                       what=what)


def check_derivative(d: Any, values: Mapping[str, Any] | None = None, seed: int = 0) -> CheckReport:
    """Check a :class:`~matdiff.results.derivative.Derivative`'s jvp against differences of the expression."""
    values = dict(values) if values is not None else sample_values(d.expr, None, seed=seed)
    x = values[d.wrt]
    f = function_of(d.expr, values, d.wrt)
    return check_linear("jvp", to_text(d.expr), d.wrt, d.var.kind, x, lambda v: d.jvp(values, v), f, values, seed)


def check_hessian(h: Any, values: Mapping[str, Any] | None = None, seed: int = 0) -> CheckReport:
    """Check a Hessian's hvp against differences of its gradient (itself checkable with :func:`check`)."""
    values = dict(values) if values is not None else sample_values(h.expr_f, None, seed=seed, wrt=h.wrt)

    def gfun(x: Any) -> Any:
        return evaluate(h.gradient, {**values, h.wrt: x})
    return check_linear("hvp", to_text(h.expr_f), h.wrt, h.var.kind, values[h.wrt], lambda v: h.hvp(values, v),
                        gfun, values, seed)
