"""Differential fuzzing: random well-typed expressions at random points, checked against numerics.

Each property draws an expression (strategies.py), its types and a point, discards the point where
the expression is undefined, huge, or near a kink or a singularity (``guards_hold``), and then
checks one thing against an independent computation:

* gradients -- ``r.evaluate`` and ``r.compile()`` against central differences of
  ``matdiff.evaluate`` along random directions; the printed gradient re-parses and evaluates to the
  same array; LaTeX and the steps render;
* jvp / vjp -- jvp against differences of F, the adjoint identity <C, J V> = <J'C, V>, and the dense
  Jacobian (column-major vec) against the jvp;
* Hessian-vector products -- against differences of the (checked) gradient; <U, H V> = <H U, V>;
  the dense Hessian against the hvp;
* ``matdiff.compile`` -- the value and all gradients against the interpreter;
* ``simplify`` -- preserves values (and its printed form re-parses to the same values);
* printers -- the text re-parses to the same values and prints the same again; LaTeX renders;
* the evaluator against the independent reference interpreter (reference_interpreter.py, a copy of
  shared/conformance/reference.py: it runs in every checkout);
* input dtypes -- integer, boolean, float32 and Python-number values: compiled code (matdiff.compile and
  r.compile()) equals evaluate, computed in float64 with float64 results, and the gradient matches
  central differences;
* extreme scales -- positively homogeneous expressions (f(s V) = s^k f(V), k found numerically with the
  reference interpreter) at points of scale 1e+-100 ... 1e+-300 and at int64 points of scale 3e9: each of
  evaluate, matdiff.compile and r.compile() answers the value s^k f(V) and the gradient s^(k-1) grad f(V)
  (checked against central differences at V), or raises a MatdiffError -- never zeros, inf or another number.

Variables are renamed now and then to names that look like generated code's own (t0, lambda, in_, np,
self, True...; strategies.NAME_FAMILIES).

The number of expressions each property checked is printed at the end of the run (conftest.py).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import matdiff
from matdiff.calculus.simplify import simplify
from matdiff.frontend import typed

from . import reference_interpreter as REFERENCE
from .known_bugs import known, present
from .numerics import (
    arr,
    assert_close,
    assert_derivative,
    balanced_latex,
    discard,
    fro,
    inner,
    numeric_directional,
    rounding_floor,
)
from .strategies import (
    ANSWERS,
    CHECKED,
    VARIABLES,
    Problem,
    as_float64,
    counted,
    fuzz_settings,
    guards_hold,
    is_symmetric_kind,
    problems,
    styled_value,
    value_styles,
)

#: the share of the profile's examples each property gets (they add up to 1)
SHARES = {
    "gradient": 0.27,
    "jvp_vjp": 0.15,
    "hvp": 0.05,
    "compiled": 0.09,
    "simplify": 0.11,
    "printers": 0.14,
    "reference": 0.09,
    "dtypes": 0.05,
    "scales": 0.05,
}

HUGE = 1e6


def admit(p: Problem) -> Any:
    """The value of the expression at the point, or discard the example.

    Discards where matdiff.evaluate raises a DomainError, where the value is huge or not finite,
    and where a guard fails (near a kink, a singularity, or an exp of something large).
    """
    try:
        f0 = matdiff.evaluate(p.text, p.values, p.types)
    except matdiff.DomainError:
        discard("domain error at the point")
    if not np.all(np.isfinite(arr(f0))) or np.max(np.abs(arr(f0)), initial=0.0) > HUGE:
        discard("value huge or not finite")
    reason = guards_hold(p)
    if reason is not None:
        discard("guard: " + reason)
    return f0


def known_bugs_discarded(test):
    """Discard (and count) an example whose failure is the signature of a known bug still present
    (known_bugs.py), so that it does not hide the next bug; anything else fails the test."""
    @functools.wraps(test)
    def run(p: Problem, *args: Any, **kwargs: Any) -> None:
        try:
            test(p, *args, **kwargs)
        except Exception as e:
            name = known(e, p.text)
            if name is None:
                raise
            discard(f"known bug: {name}")
    return run


def with_limits(fn, *args, **kwargs):
    """Call a derivation; a LimitError (a result that grows too large) discards the example."""
    try:
        return fn(*args, **kwargs)
    except matdiff.LimitError:
        discard("LimitError from the derivation")


def names_in(text: str, types: dict[str, str] | None = None) -> list[str]:
    """The variables of a printed expression, typed with the declared types (extra declarations are ignored)."""
    return list(typed(matdiff.parse(text), types or {})[1])


def value_fn(text: str, types: dict[str, str]):
    tree = matdiff.parse(text)
    return lambda vals: matdiff.evaluate(tree, vals, types)


def check_huge(v: Any, what: str) -> None:
    if np.max(np.abs(arr(v)), initial=0.0) > 1e8:
        discard(f"{what} huge")


# ------------------------------------------------------------------------------------ gradients


@counted("gradient", SHARES["gradient"])
@fuzz_settings(SHARES["gradient"])
@given(problems("scalar"))
@known_bugs_discarded
def test_gradient_matches_differences(p: Problem) -> None:
    admit(p)
    w = p.wrt
    r = with_limits(matdiff.grad, p.text, w, p.types)
    g = r.evaluate(p.values)
    x = arr(p.values[w])
    assert np.shape(g) == x.shape, f"grad_{w} {p.text} has shape {np.shape(g)}, {w} has {x.shape}"
    assert np.all(np.isfinite(g)), f"grad_{w} {p.text} = {r.gradient} is not finite: {g}"
    check_huge(g, "gradient")
    gc = r.compile()(**p.values)
    floor = 10 * rounding_floor(r.evaluate, p.values, w, p.direction(w), g)  # both orders round alike, up to noise
    assert_close(gc, g, f"compiled grad_{w} {p.text} = {r.gradient}", atol=1e-13 + floor)
    if is_symmetric_kind(p.types, w):
        assert_close(arr(g).T, g, f"grad_{w} {p.text} of a symmetric variable is not symmetric")

    # the printed gradient re-parses and evaluates to the same values, given its variables' declared types (S^0.5
    # needs S declared spd, as the input did)
    text = str(r.gradient)
    names = names_in(text, p.types)
    declared = {k: v for k, v in p.types.items() if k in names}
    try:
        gp = matdiff.evaluate(text, {k: p.values[k] for k in names}, declared)
    except matdiff.ShapeError as e:
        if names and not known(e, text):
            raise
    else:
        if not names and np.ndim(gp) == 0:
            gp = np.broadcast_to(gp, x.shape)
        assert_close(gp, g, f"printed grad_{w} {p.text} = {text}")

    # LaTeX and the steps render
    assert isinstance(r.latex, str) and r.latex and balanced_latex(r.latex), r.latex
    for s in r.steps:
        assert str(s) and isinstance(s.text, str)
        assert balanced_latex(s.latex), f"step of grad_{w} {p.text}: {s.latex}"

    # against central differences of matdiff.evaluate along a random direction
    d = p.direction(w)
    num, err, noise, fmax = numeric_directional(value_fn(p.text, p.types), p.values, w, d)
    for how, gv in (("evaluate", g), ("compile", gc)):
        assert_derivative(inner(gv, d), num, err, noise, fmax, fro(gv) * fro(d),
                          f"<grad_{w}, D> ({how}) of {p.text}, gradient {text}")
    CHECKED["gradient"] += 1


# ------------------------------------------------------------------------------------ jvp / vjp


@counted("jvp_vjp", SHARES["jvp_vjp"])
@fuzz_settings(SHARES["jvp_vjp"])
@given(problems("any"))
@known_bugs_discarded
def test_jvp_vjp(p: Problem) -> None:
    f0 = admit(p)
    w = p.wrt
    d = with_limits(matdiff.derivative, p.text, w, p.types)
    v = p.direction(w)
    c = p.rng.standard_normal(np.shape(f0)) if np.ndim(f0) else float(p.rng.standard_normal())
    jv = d.jvp(p.values, v)
    try:
        vj = d.vjp(p.values, c)
    except matdiff.ShapeError as e:
        if not known(e, p.text):
            raise
        vj = d.vjp(p.values, np.reshape(c, (1, -1)))  # a known bug: a row vector's cotangent as (1, n)
    assert np.shape(jv) == np.shape(f0), f"jvp of {p.text} has shape {np.shape(jv)}, F {np.shape(f0)}"
    assert np.shape(vj) == np.shape(p.values[w]), f"vjp of {p.text} w.r.t. {w}: shape {np.shape(vj)}"
    check_huge(jv, "jvp")
    check_huge(vj, "vjp")
    lhs, rhs = inner(c, jv), inner(vj, v)
    # the last term is a floor for derivatives that vanish identically, whose jvp and vjp are rounding errors of
    # intermediates that need not be small (det of the rank-2 3x3 product -exp(X).^2.5*X': both ~3e-13)
    scale = fro(c) * fro(jv) + fro(vj) * fro(v) + 1e-3 * fro(c) * fro(v)
    assert abs(lhs - rhs) <= 1e-8 * scale, (
        f"adjoint identity fails for {p.text} w.r.t. {w}: <C, J V> = {lhs!r}, <J'C, V> = {rhs!r}")

    num, err, noise, fmax = numeric_directional(value_fn(p.text, p.types), p.values, w, v)
    assert_derivative(jv, num, err, noise, fmax, 0.0, f"jvp of {p.text} w.r.t. {w}")

    jac = d.jacobian(p.values)
    size_in = arr(p.values[w]).size
    assert jac.shape == (arr(f0).size, size_in), f"jacobian of {p.text}: shape {jac.shape}"
    assert_close(jac @ arr(v).ravel(order="F"), arr(jv).ravel(order="F"),
                 f"jacobian of {p.text} w.r.t. {w} times vec(V) against the jvp", rtol=1e-7)
    CHECKED["jvp_vjp"] += 1


# ------------------------------------------------------------------------------------ Hessians


@counted("hvp", SHARES["hvp"])
@fuzz_settings(SHARES["hvp"])
@given(problems("scalar", max_depth=3, budget=10))
@known_bugs_discarded
def test_hvp(p: Problem) -> None:
    admit(p)
    w = p.wrt
    r = with_limits(matdiff.grad, p.text, w, p.types)
    try:
        h = with_limits(matdiff.hessian, p.text, w, p.types)
    except matdiff.MatdiffError as e:  # a limitation, said clearly: norm2 / norm_nuc of a matrix
        if "has no differential rule" not in str(e):
            raise
        discard("hessian: no second-order rule (norm2/norm_nuc of a matrix)")
    v, u = p.direction(w), p.direction(w)
    hv = h.hvp(p.values, v)
    hu = h.hvp(p.values, u)
    x = arr(p.values[w])
    assert np.shape(hv) == x.shape, f"hvp of {p.text} w.r.t. {w}: shape {np.shape(hv)}, {w} {x.shape}"
    check_huge(hv, "hvp")
    check_huge(hu, "hvp")
    scale = fro(u) * fro(hv) + fro(hu) * fro(v) + 1e-5 * fro(u) * fro(v)
    assert abs(inner(u, hv) - inner(hu, v)) <= 1e-7 * scale, (
        f"the Hessian of {p.text} w.r.t. {w} is not symmetric: <U, H V> = {inner(u, hv)!r}, "
        f"<H U, V> = {inner(hu, v)!r}")

    num, err, noise, fmax = numeric_directional(r.evaluate, p.values, w, v)
    assert_derivative(hv, num, err, noise, fmax, 0.0, f"hvp of {p.text} w.r.t. {w} (gradient {r.gradient})")

    dense = h.evaluate(p.values)
    if x.ndim == 0 and np.ndim(dense) == 0:  # a scalar variable: the Hessian is a number
        dense = np.reshape(dense, (1, 1))
    assert np.shape(dense) == (x.size, x.size), f"Hessian of {p.text} w.r.t. {w}: shape {np.shape(dense)}"
    assert_close(arr(dense) @ arr(v).ravel(order="F"), arr(hv).ravel(order="F"),
                 f"dense Hessian of {p.text} w.r.t. {w} (h.expr = {h.expr}) times vec(V) against the hvp",
                 rtol=1e-7)
    CHECKED["hvp"] += 1


# ------------------------------------------------------------------------------------ compiled code


@counted("compiled", SHARES["compiled"])
@fuzz_settings(SHARES["compiled"])
@given(problems("scalar"))
@known_bugs_discarded
def test_compiled_equals_interpreter(p: Problem) -> None:
    f0 = admit(p)
    wrt = sorted(p.gen.names)
    fg = with_limits(matdiff.compile, p.text, wrt=wrt, types=p.types)
    value, grads = fg(**p.values)
    assert_close(value, f0, f"compiled value of {p.text}", atol=1e-11)
    assert set(grads) == set(wrt)
    symbolic = getattr(fg, "gradients", None)  # the gradients it compiled, as expressions
    for name in wrt:
        if isinstance(symbolic, dict) and name in symbolic:
            g = matdiff.evaluate(symbolic[name], p.values, p.types)
            if np.ndim(g) == 0 and np.ndim(p.values[name]):  # a constant gradient of a matrix
                g = np.broadcast_to(g, np.shape(p.values[name]))
        else:
            g = with_limits(matdiff.grad, p.text, name, p.types).evaluate(p.values)
        assert_close(grads[name], g, f"compiled grad_{name} of {p.text} against the interpreter",
                     rtol=1e-7, atol=1e-11)
    CHECKED["compiled"] += 1


# ------------------------------------------------------------------------------------ simplify


@counted("simplify", SHARES["simplify"])
@fuzz_settings(SHARES["simplify"])
@given(problems("any"))
@known_bugs_discarded
def test_simplify_preserves_values(p: Problem) -> None:
    f0 = admit(p)
    tree, _ = typed(p.text, p.types)
    s = simplify(tree)
    try:
        got = matdiff.evaluate(s, p.values, p.types)
    except matdiff.DomainError as e:
        raise AssertionError(f"simplify({p.text}) = {s} raises {e} where the original evaluates") from e
    assert_close(got, f0, f"simplify({p.text}) = {s}", rtol=1e-7)
    text = str(s)
    assert_close(matdiff.evaluate(text, p.values, p.types), f0, f"printed simplify({p.text}) = {text}",
                 rtol=1e-7)
    CHECKED["simplify"] += 1


# ------------------------------------------------------------------------------------ printers


@counted("printers", SHARES["printers"])
@fuzz_settings(SHARES["printers"])
@given(problems("any"))
@known_bugs_discarded
def test_printers_round_trip(p: Problem) -> None:
    f0 = admit(p)
    tree = matdiff.parse(p.text)
    text = str(tree)
    again = matdiff.parse(text)
    assert str(again) == text, f"printing is not stable: {p.text} -> {text} -> {again}"
    assert_close(matdiff.evaluate(again, p.values, p.types), f0, f"{p.text} printed as {text}", rtol=1e-12)
    latex = tree._repr_latex_()
    assert latex.startswith("$") and latex.endswith("$") and balanced_latex(latex), latex
    CHECKED["printers"] += 1


# ------------------------------------------------------------------------------------ reference


@counted("reference", SHARES["reference"])
@fuzz_settings(SHARES["reference"])
@given(problems("any"))
@known_bugs_discarded
def test_evaluate_matches_reference(p: Problem) -> None:
    f0 = admit(p)
    try:
        ref = REFERENCE.evaluate(p.text, p.values)
    except REFERENCE.RefError as e:
        discard(f"reference: {type(e).__name__}")
    if np.ndim(f0) == 1 and np.shape(ref) == (1, np.size(f0)):  # a row vector: 1-D from matdiff
        ref = np.ravel(ref)
    assert_close(f0, ref, f"matdiff.evaluate({p.text}) against the reference interpreter", rtol=1e-9)
    CHECKED["reference"] += 1


# ------------------------------------------------------------------------------------ input dtypes


def assert_float64(v: Any, what: str) -> None:
    """A result of real input is a float64 array or a float (never int, bool or float32)."""
    dt = np.asarray(v).dtype
    assert dt == np.float64, f"{what}: dtype {dt}, not float64"


@counted("dtypes", SHARES["dtypes"])
@fuzz_settings(SHARES["dtypes"])
@given(problems("scalar"), st.sampled_from(["all", "some"]), st.data())
@known_bugs_discarded
def test_input_dtypes(p: Problem, which: str, data: Any) -> None:
    styles = value_styles()
    style = data.draw(st.sampled_from(styles), label="style")
    special = {}
    for name, v in p.values.items():
        kind = VARIABLES[p.canonical[name]][0]
        keep = which == "some" and data.draw(st.booleans(), label=f"keep {name}")
        special[name] = v if keep else styled_value(p.rng, style, kind, v)
    p.values = {k: as_float64(v) for k, v in special.items()}  # the same point in float64
    f0 = admit(p)
    w = p.wrt
    what = f"{p.text} at {style} values {special!r}"
    e = matdiff.evaluate(p.text, special, p.types)
    assert_float64(e, f"evaluate({what})")
    assert_close(e, f0, f"evaluate({what}) against float64 values", rtol=1e-12, atol=1e-300)

    names = sorted(p.gen.names)
    fg = with_limits(matdiff.compile, p.text, wrt=names, types=p.types)
    value, grads = fg(**special)
    assert_float64(value, f"matdiff.compile value of {what}")
    assert_close(value, f0, f"matdiff.compile value of {what}", atol=1e-11)
    r = with_limits(matdiff.grad, p.text, w, p.types)
    g = r.evaluate(p.values)
    check_huge(g, "gradient")
    for how, got in (("r.evaluate", r.evaluate(special)), ("r.compile()", r.compile()(**special)),
                     ("matdiff.compile", grads[w])):
        assert_float64(got, f"{how} grad_{w} of {what}")
        assert_close(got, g, f"{how} grad_{w} of {what} against float64 values", rtol=1e-7, atol=1e-11)

    d = p.direction(w)
    num, err, noise, fmax = numeric_directional(value_fn(p.text, p.types), p.values, w, d)
    assert_derivative(inner(g, d), num, err, noise, fmax, fro(g) * fro(d), f"<grad_{w}, D> of {what}")
    CHECKED["dtypes"] += 1


# ------------------------------------------------------------------------------------ extreme scales

#: exponents of the scale of the points; the outer ones only once the bugs they found are fixed
SCALE_EXPONENTS = [100, 150, 120, 200, 250, 300]
SCALE_BUGS = {200: "norm_gradient_zero_where_the_norm_overflows", 250: "norm_gradient_zero_where_the_norm_overflows",
              300: "norm_gradient_zero_where_the_norm_overflows"}
BIG = 3_000_000_000  # an int64 point of this scale: its cube overflows int64
OVER, UNDER = 1e305, 1e-290  # beyond these the float64 answer is not representable (or only roughly)


def homogeneity(text: str, values: dict[str, Any]) -> tuple[float, Any] | None:
    """(k, f(V)) if f(t V) = t^k f(V) at t = 1e20 and 1e-20 (by the reference interpreter), else None.

    Far apart scales, so that a sum of terms of different degrees that cancel (X*C + X - X*C, a + 1 - a) is
    not taken for homogeneous: beyond 2^53 its rounding shows, as it would, worse, at 1e200."""
    t = 1e20
    try:
        f1, fu, fd = (np.asarray(REFERENCE.evaluate(text, {n: c * np.asarray(v, dtype=float)
                                                           for n, v in values.items()}), dtype=float)
                      for c in (1.0, t, 1 / t))
    except REFERENCE.RefError:
        return None
    if not (np.all(np.isfinite(f1)) and np.all(np.isfinite(fu)) and np.all(np.isfinite(fd))):
        return None
    big = np.abs(f1) > 1e-6 * max(float(np.max(np.abs(f1), initial=0.0)), 1e-300)
    if not np.any(big):
        return None
    ratio = float(np.median(np.abs(fu[big] / f1[big])))
    if not (ratio > 0 and math.isfinite(ratio)):  # f is 0 up to rounding (det(u*u')): no degree to read
        return None
    k = round(2 * math.log10(ratio) / math.log10(t)) / 2
    for c, fc in ((t, fu), (1 / t, fd)):
        if not np.allclose(fc / c**k, f1, rtol=1e-9, atol=1e-12 * float(np.max(np.abs(f1)))):
            return None
    return k, f1


def scaled(x: Any, s: float) -> Any:
    """s*x without overflow in between (s may be 1e300 and x a few units)."""
    a = np.asarray(x, dtype=float)
    return a * s


def expect_scaled(got: Any, base: Any, k: float, log10s: float, what: str) -> str:
    """got is base * 10^(k log10s) (the exact answer at the scaled point), or the check says why not.

    Returns "right" or "domain error"; got is an exception instance where the call raised."""
    mag = float(np.max(np.abs(np.asarray(base, dtype=float)), initial=0.0))
    e = k * log10s + (math.log10(mag) if mag > 0 else -math.inf)
    if isinstance(got, matdiff.MatdiffError):
        return "domain error"
    if isinstance(got, BaseException):
        raise AssertionError(f"{what}: {type(got).__name__} escaped: {got}") from got
    g = np.asarray(got, dtype=float)
    assert g.shape == np.shape(base), f"{what}: shape {g.shape}, not {np.shape(base)}"
    assert np.all(np.isfinite(g)), f"{what}: returned a value that is not finite: {g!r}"
    if mag == 0:  # 0 at the unit point (the gradient of tr(inv(C)*C)): any rounding noise of its terms is as right
        return "right"
    if e > math.log10(OVER):
        raise AssertionError(f"{what}: the answer is about 1e{e:.0f}, beyond float64, but it returned {g!r} "
                             "(a DomainError is the right answer)")
    if e < math.log10(UNDER):  # the answer underflows: anything as small, or 0, is as good as float64 gets
        assert float(np.max(np.abs(g), initial=0.0)) <= 1e-280, f"{what}: about 1e{e:.0f}, but it returned {g!r}"
        return "right"
    want = np.asarray(base, dtype=float) / mag * 10.0**e  # base * s^k, computed without overflow
    scale = float(np.max(np.abs(want)))
    diff = float(np.max(np.abs(g - want)))
    assert diff <= 1e-6 * scale, (f"{what}: {g!r}, but the answer is {want!r} (s^k f(V), k = {k}; |diff| "
                                  f"{diff:.3g}, scale {scale:.3g})")
    return "right"


def outcome(fn: Any) -> Any:
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - judged by expect_scaled: only MatdiffError may escape
        return e


@counted("scales", SHARES["scales"])
@fuzz_settings(SHARES["scales"])
@given(problems("any", homogeneous=True), st.sampled_from(SCALE_EXPONENTS), st.sampled_from([1, -1]),
       st.sampled_from(["point", "result", "int64"]))
@known_bugs_discarded
def test_extreme_scales(p: Problem, exponent: int, sign: int, how: str) -> None:
    if exponent in SCALE_BUGS and present(SCALE_BUGS[exponent]):
        exponent = 150
    if how == "int64":  # an integer point: ints, then times 3e9 as int64 (exact)
        p.values = {n: as_float64(styled_value(p.rng, "int64", VARIABLES[p.canonical[n]][0], v))
                    for n, v in p.values.items()}
    f0 = admit(p)
    found = homogeneity(p.text, p.values)
    # homogeneous near the point too, not by a coincidence of it (a + b + x'*x at integers with a + b = 0 is
    # t^2 f at this point only; its gradient in a is not of degree 1)
    near = {n: arr(v) + 1e-2 * arr(p.direction(n)) for n, v in p.values.items()}
    again = homogeneity(p.text, {n: float(v) if np.ndim(v) == 0 else v for n, v in near.items()})
    if found is None or again is None or again[0] != found[0]:
        discard("scales: not homogeneous (or the reference refuses)")
    k, ref = found
    if np.ndim(f0) == 1 and np.shape(ref) == (1, np.size(f0)):
        ref = np.ravel(ref)
    assert_close(f0, ref, f"matdiff.evaluate({p.text}) against the reference interpreter", rtol=1e-9)
    if how == "int64":
        log10s = math.log10(BIG)
        big = {n: (np.asarray(v) * BIG).astype(np.int64) if np.ndim(v) else np.int64(int(v) * BIG)
               for n, v in p.values.items()}
    else:
        log10s = sign * exponent / (abs(k) if how == "result" and k else 1.0)
        big = {n: scaled(v, 10.0**log10s) if np.ndim(v) else float(v) * 10.0**log10s for n, v in p.values.items()}
    text, w = p.text, p.wrt
    # the expression as written, in plain float64 (the reference interpreter): where even that leaves float64's
    # range at this scale (a partial product A^-2 ~ 1e-400 of A*a*inv(A)*A^-2 at A ~ 1e200, a*a at a ~ 1e-200),
    # the loss is the written expression's, not matdiff's: such points are not judged (matdiff's own forms, norms,
    # adjugates, inverse powers, scaled products, have their own tests at these scales: test_extreme_scales.py)
    try:
        plain = REFERENCE.evaluate(text, {n: np.asarray(v, dtype=float) for n, v in big.items()})
        with np.errstate(all="ignore"):
            expect_scaled(np.asarray(plain, dtype=float).reshape(np.shape(f0)), f0, k, log10s, "reference")
    except (REFERENCE.RefError, AssertionError, ValueError, FloatingPointError):
        discard("scales: the expression as written leaves float64's range there")
    seen = []
    seen.append(expect_scaled(outcome(lambda: matdiff.evaluate(text, big, p.types)), f0, k, log10s,
                              f"evaluate({text}) at scale 1e{log10s:.3g}"))
    if np.ndim(f0) == 0:  # scalar-valued: its gradient too
        r = with_limits(matdiff.grad, text, w, p.types)
        g = r.evaluate(p.values)
        check_huge(g, "gradient")
        d = p.direction(w)
        num, err, noise, fmax = numeric_directional(value_fn(text, p.types), p.values, w, d)
        assert_derivative(inner(g, d), num, err, noise, fmax, fro(g) * fro(d), f"<grad_{w}, D> of {text}")
        fg = with_limits(matdiff.compile, text, wrt=[w], types=p.types)
        compiled = outcome(lambda: fg(**big))
        value = compiled if isinstance(compiled, BaseException) else compiled[0]
        grad_c = compiled if isinstance(compiled, BaseException) else compiled[1][w]
        at = f"at scale 1e{log10s:.3g} ({how})"
        seen.append(expect_scaled(value, f0, k, log10s, f"matdiff.compile value of {text} {at}"))
        for name, got in (("r.evaluate", outcome(lambda: r.evaluate(big))),
                          ("r.compile()", outcome(lambda: r.compile()(**big))), ("matdiff.compile", grad_c)):
            seen.append(expect_scaled(got, g, k - 1, log10s, f"{name} grad_{w} of {text} = {r.gradient} {at}"))
    for o in seen:
        ANSWERS[f"extreme scales: {o}"] += 1
    CHECKED["scales"] += 1
