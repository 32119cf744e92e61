"""Primary matrix functions through their Fréchet derivatives (Higham, *Functions of Matrices*, ch. 3).

``expm(X)``: the matrix exponential (of a scalar, exp). Its differential is the Fréchet derivative
``expm_d(X, E) = L_exp(X, E)`` (linear in E), a node of the printed language as ``adj_d`` is:
d expm(X) = expm_d(X, dX). Identification goes through the adjoint identity
tr(G' L_exp(X, E)) = tr(L_exp(X', G)' E), so grad tr(B*expm(X)) = expm_d(X', B'), and
L_exp(X, I) = expm(X) (X commutes with I): grad tr(expm(X)) = expm(X)'.

Numbers: L_exp(X, E) is the upper right block of expm([[X, E], [0, X]]) (Higham, (3.16)), which every
backend computes with its own expm; NumPy uses SciPy's expm_frechet (the scaling-and-squaring
derivative, Al-Mohy and Higham 2009).
"""

from __future__ import annotations

from typing import Any

from ..core.build import ZERO, T, is_symmetric, is_zero, mul, neg, zero_like
from ..core.nodes import Call, Expr, Eye, MatMul, Neg, Num
from ..core.shapes import unify
from ..errors import MatdiffError
from .registry import Function, describe, register, square, square_of_square

FAMILY = "matfun"


def _operator(tex: str) -> Any:
    return lambda p, e: tex + r"\left(" + p.doprint(e.arg) + r"\right)"


def _expm_d_shape(fn: Function, args: tuple[Expr, ...]) -> Any:
    a, e = args
    square(fn, a)

    def mismatch() -> str:
        return f"expm_d(X, E) needs a direction E shaped like X, but X is {describe(a)} and E is {describe(e)}"
    unify(a.shape[0], e.shape[0], mismatch)
    unify(a.shape[1], e.shape[1], mismatch)
    return a.shape


def _expm_d_fold(args: tuple[Expr, ...]) -> Expr | None:
    """L(X, E) is linear in E: 0 where E is 0, -L(X, E) for -E, numbers taken out; L(X, I) = expm(X)."""
    a, e = args
    if is_zero(e):
        return e if not e.is_scalar else zero_like(a)
    if isinstance(e, Neg):
        return neg(expm_d(a, e.arg))
    if isinstance(e, MatMul) and isinstance(e.factors[0], Num):
        return mul(e.factors[0], expm_d(a, mul(*e.factors[1:])))
    if isinstance(e, Eye):
        return expm(a)
    return None


def _expm_d_simplify(S: Any, args: tuple[Expr, ...]) -> Expr | None:
    a, e = args
    if is_zero(e):
        return ZERO
    if isinstance(e, Eye):
        return S.call(expm, a)
    if isinstance(e, MatMul):
        scal = [f for f in e.factors if f.is_scalar]
        chain = [f for f in e.factors if not f.is_scalar]
        if scal and chain:
            return S.product(scal + [Call(expm_d, a, S.product(chain))])
    return None


def _expm_d_rule(e: Expr, d: Any) -> Expr:
    a, v = e.args  # type: ignore[attr-defined]
    if not isinstance(d(a), Num):
        raise MatdiffError("the second derivative of expm (a Fréchet derivative that varies with X) is not "
                           "available yet: differentiate expm once")
    return expm_d(a, d(v))


def _lower_expm(low: Any, e: Expr) -> str:
    a = e.arg  # type: ignore[attr-defined]
    return low.emit(f"_np.exp({low(a)})" if a.is_scalar else f"_K.expm({low(a)})")


def _lower_expm_d(low: Any, e: Expr) -> str:
    a, v = e.args  # type: ignore[attr-defined]
    if a.is_scalar:  # L_exp(a, e) = exp(a) e
        return low.emit(f"_np.exp({low(a)}) * {low(v)}")
    return low.emit(f"_K.expm_frechet({low(a)}, {low(v)})")


expm = register(Function(
    name="expm", calls=("_K.expm", "_np.exp"), family=FAMILY, shape=square_of_square, same_shape=True,
    transpose_inside=True, symmetric=lambda args: is_symmetric(args[0]),
    rule=("d expm(X) = expm_d(X, dX), the Fréchet derivative L_exp(X, dX)", lambda e, d: expm_d(e.arg, d(e.arg))),
    latex=_operator(r"\exp"), lower=_lower_expm,
    doc="the matrix exponential (of a scalar, exp)"))

expm_d = register(Function(
    name="expm_d", calls=("_K.expm_frechet", "_np.exp"), family=FAMILY, arity=2, shape=_expm_d_shape,
    same_shape=True, transpose_inside=True, linear_in=1, printed_only=True,
    rule=("d expm_d(X, E) = expm_d(X, dE) for constant X", _expm_d_rule),
    # the adjoint of E -> L(X, E) is C -> L(X', C): tr(C' L(X, E)) = tr(L(X', C)' E)
    adjoint=lambda e, c: ("<C, expm_d(X, E)> = <expm_d(X', C), E>", e.args[1], expm_d(T(e.args[0]), c)),
    fold=_expm_d_fold, simplify=_expm_d_simplify,
    latex=lambda p, e: rf"L_{{\exp}}\left({p.doprint(e.args[0])}, {p.doprint(e.args[1])}\right)",
    lower=_lower_expm_d,
    doc="expm_d(X, E) = L_exp(X, E), the Fréchet derivative of expm at X in the direction E"))


__all__ = ["expm", "expm_d"]
