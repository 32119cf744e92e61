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

from ..core.build import T, is_symmetric
from ..core.nodes import Expr, Num
from ..errors import MatdiffError
from .registry import Function, direction_fold, direction_shape, direction_simplify, register, square_of_square

FAMILY = "matfun"


def _operator(tex: str) -> Any:
    return lambda p, e: tex + r"\left(" + p.doprint(e.arg) + r"\right)"


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
    name="expm_d", calls=("_K.expm_frechet", "_np.exp"), family=FAMILY, arity=2, shape=direction_shape("X"),
    same_shape=True, transpose_inside=True, linear_in=1, printed_only=True,
    rule=("d expm_d(X, E) = expm_d(X, dE) for constant X", _expm_d_rule),
    # the adjoint of E -> L(X, E) is C -> L(X', C): tr(C' L(X, E)) = tr(L(X', C)' E)
    adjoint=lambda e, c: ("<C, expm_d(X, E)> = <expm_d(X', C), E>", e.args[1], expm_d(T(e.args[0]), c)),
    fold=direction_fold(lambda: expm_d, at_identity=lambda a: expm(a)),  # L_exp(X, I) = expm(X)
    simplify=direction_simplify(lambda: expm_d, at_identity=lambda S, a: S.call(expm, a)),
    latex=lambda p, e: rf"L_{{\exp}}\left({p.doprint(e.args[0])}, {p.doprint(e.args[1])}\right)",
    lower=_lower_expm_d,
    doc="expm_d(X, E) = L_exp(X, E), the Fréchet derivative of expm at X in the direction E"))


__all__ = ["expm", "expm_d"]
