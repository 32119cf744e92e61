"""Bugs the fuzzers found, each as a minimal reproduction.

``test_regressions.py`` runs every reproduction as a strict xfail (remove the mark when the core is
fixed).  While a bug still reproduces, the expression generator steers clear of the feature that
triggers it (``avoid``), so that one known bug does not hide the next; once it is fixed, the
probe passes and the generator covers the feature again by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np

import matdiff

BUGS: dict[str, Callable[[], None]] = {}


def bug(fn: Callable[[], None]) -> Callable[[], None]:
    BUGS[fn.__name__] = fn
    return fn


@cache
def present(name: str) -> bool:
    """Whether the bug ``name`` still reproduces (its reproduction fails)."""
    try:
        BUGS[name]()
    except Exception:
        return True
    return False


# ------------------------------------------------------------------------------------ the bugs


@bug
def inv_of_scalar_compiled() -> None:
    """r.compile() of any expression with inv of a scalar fails where r.evaluate works.

    matdiff.grad("inv(a)", "a").compile()(a=0.5) raises MatdiffError("evaluation failed: ValueError:
    diag requires an array of at least two dimensions"); r.evaluate gives -4.0.
    """
    r = matdiff.grad("inv(a)", "a")
    assert np.isclose(r.compile()(a=0.5), -4.0)
    r = matdiff.grad("inv(2) + a", "a")
    assert np.isclose(r.compile()(a=0.5), 1.0)


@bug
def zero_gradient_compiled_is_scalar() -> None:
    """r.compile() of a gradient that is identically 0 returns the scalar 0.0, not zeros shaped like
    the variable (r.evaluate broadcasts to the variable's shape).

    matdiff.grad("tr(A^0)", "A").compile()(A=np.eye(3)) -> 0.0 (shape ()), expected zeros((3, 3)).
    """
    r = matdiff.grad("tr(A^0)", "A")
    assert np.shape(r.compile()(A=np.eye(3))) == (3, 3)
    r = matdiff.grad("x'*x - x'*x", "x")
    assert np.shape(r.compile()(x=np.ones(3))) == (3,)


@bug
def zero_gradient_steps_unify_rows_and_cols() -> None:
    """Rendering the steps of a gradient that is identically 0 (w.r.t. a non-square X) writes the
    canonical form tr(M'*dX) with an empty M, i.e. tr(dX): with numeric sizes that is a ShapeError
    ("tr needs a square matrix, but dX (3x2 matrix) is not square"); with symbolic sizes it silently
    unifies the rows and columns of X, after which r.evaluate refuses every rectangular X.

    r = matdiff.grad("tr((X-X)*(X-X)')", "X"); [s.text for s in r.steps]
    r.evaluate({"X": np.ones((3, 2))})  -> ShapeError "X has 2 columns, but X fixes cols(X) = 3"
    """
    r = matdiff.grad("tr((X-X)*(X-X)')", "X", {"X": "matrix(3,2)"})
    [s.text for s in r.steps]
    r = matdiff.grad("tr((X-X)*(X-X)')", "X")
    [s.text for s in r.steps]
    assert np.shape(r.evaluate({"X": np.ones((3, 2))})) == (3, 2)


@bug
def printed_gradient_loses_size_of_eye() -> None:
    """A printed gradient that names a variable but holds an identity whose size only a variable
    that dropped out fixed: str(grad("logdet(exp(a)*(0*A + eye))", "a").gradient) is
    "exp(a)*tr(inv(exp(a)*eye))", which names a but cannot be evaluated (ShapeError: the size of eye
    is not determined).  DESIGN.md: the printed language writes that size through a variable of the
    expression.
    """
    r = matdiff.grad("logdet(exp(a)*(0*A + eye))", "a")
    assert np.isclose(r.evaluate({"a": 0.5, "A": np.ones((3, 3))}), 3.0)
    assert np.isclose(matdiff.evaluate(str(r.gradient), {"a": 0.5, "A": np.ones((3, 3))}), 3.0)


@bug
def vjp_refuses_row_vector_cotangent() -> None:
    """For a row-vector output F (x'*A), matdiff.evaluate and d.jvp return a 1-D array, but d.vjp
    refuses a cotangent of that same shape: ShapeError "_c is a matrix: give a 2-D array, not shape
    (3,)" (it accepts only (1, 3)); the message also names the internal variable _c.
    """
    d = matdiff.derivative("x'*A", "x")
    v = {"x": np.ones(3), "A": np.eye(3)}
    assert np.shape(d.jvp(v, np.ones(3))) == (3,)
    assert np.allclose(d.vjp(v, np.ones(3)), np.ones(3))


@bug
def scalar_power_by_computed_scalar() -> None:
    """A scalar to the power of a computed scalar such as x'*x escapes as a bare TypeError ("only
    0-dimensional arrays can be converted to Python scalars", from numeric/evaluate.py
    _scalar_power) from matdiff.evaluate, and from r.evaluate of gradients that contain one.

    matdiff.evaluate("a^(x'*x)", {"a": 0.6, "x": np.array([0.5, 0.1, -0.4])})  -> TypeError
    matdiff.grad("exp(a).^(x'*x)", "a").evaluate(...)                          -> TypeError
    """
    v = {"a": 0.6, "x": np.array([0.5, 0.1, -0.4])}
    assert np.isclose(matdiff.evaluate("a^(x'*x)", v), 0.6 ** 0.42)
    r = matdiff.grad("exp(a).^(x'*x)", "a")
    assert np.isclose(r.evaluate(v), 0.42 * np.exp(0.6 * 0.42))
