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
* the evaluator against the independent reference interpreter of shared/conformance (skipped when
  shared/ is not beside the repository).

The number of expressions each property checked is printed at the end of the run (conftest.py).
"""

from __future__ import annotations

import functools
import importlib.util
import pathlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given

import matdiff
from matdiff.api import typed
from matdiff.simplify import simplify

from .known_bugs import known
from .numerics import (
    arr,
    assert_close,
    assert_derivative,
    balanced_latex,
    discard,
    fro,
    inner,
    numeric_directional,
)
from .strategies import (
    CHECKED,
    Problem,
    fuzz_settings,
    guards_hold,
    is_symmetric_kind,
    problems,
)

#: the share of the profile's examples each property gets (they add up to 1)
SHARES = {
    "gradient": 0.30,
    "jvp_vjp": 0.17,
    "hvp": 0.05,
    "compiled": 0.10,
    "simplify": 0.12,
    "printers": 0.16,
    "reference": 0.10,
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
    def run(p: Problem, *args: Any) -> None:
        try:
            test(p, *args)
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


def names_in(text: str) -> list[str]:
    return list(typed(matdiff.parse(text))[1])


def value_fn(text: str, types: dict[str, str]):
    tree = matdiff.parse(text)
    return lambda vals: matdiff.evaluate(tree, vals, types)


def check_huge(v: Any, what: str) -> None:
    if np.max(np.abs(arr(v)), initial=0.0) > 1e8:
        discard(f"{what} huge")


# ------------------------------------------------------------------------------------ gradients


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
    assert_close(gc, g, f"compiled grad_{w} {p.text} = {r.gradient}")
    if is_symmetric_kind(p.types, w):
        assert_close(arr(g).T, g, f"grad_{w} {p.text} of a symmetric variable is not symmetric")

    # the printed gradient re-parses and evaluates (without types) to the same values
    text = str(r.gradient)
    names = names_in(text)
    try:
        gp = matdiff.evaluate(text, {k: p.values[k] for k in names})
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


def _reference() -> Any:
    here = pathlib.Path(__file__).resolve()
    for root in (here.parents[3] / "shared", here.parents[2] / "shared", here.parents[2] / "../shared"):
        path = root / "conformance" / "reference.py"
        if path.is_file():
            spec = importlib.util.spec_from_file_location("matdiff_conformance_reference", path)
            mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            spec.loader.exec_module(mod)  # type: ignore[union-attr]
            return mod
    return None


REFERENCE = _reference()


@pytest.mark.skipif(REFERENCE is None, reason="shared/conformance/reference.py is not beside the repo")
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
