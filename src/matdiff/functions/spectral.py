"""Eigenvalues of a symmetric matrix: ``eigvals(S)`` (ascending, a vector), ``eigmax(S)``, ``eigmin(S)``.

Their differentials (Magnus & Neudecker, ch. 8): for a simple eigenvalue with unit eigenvector u,
d lambda = u' dS u; for all of them, d eigvals(S) = diag(U' dS U) with U the eigenvectors. So
grad eigmax(S) = u*u', printed with ``eigvec_max(S)``; ``eigvec_max``, ``eigvec_min`` and ``eigvecs``
are functions results print (the eigenvectors), a DomainError where the eigenvalue involved is
repeated (there the eigenvector is not unique and the eigenvalue not differentiable).

The argument must be symmetric by its type (declared symmetric or spd) or by its structure
(``X'*X``, ``A + A'``): a ShapeError otherwise, which says how to declare it.
"""

from __future__ import annotations

from typing import Any

from ..core.build import T, add, is_symmetric, mul, neg, sub
from ..core.nodes import Expr, Eye, Num
from ..core.shapes import ONE, SCALAR_SHAPE
from ..errors import ShapeError
from .linalg import inv
from .reductions import diag
from .registry import Function, describe, no_rule, register, square

FAMILY = "spectral"


def _symmetric(fn: Function, a: Expr) -> None:
    square(fn, a)
    if not (a.is_scalar or is_symmetric(a)):
        raise ShapeError(f"{fn.name} needs a symmetric matrix, but {describe(a)} is not symmetric by its type or "
                         "its structure: declare it (types={'S': 'symmetric'} or 'spd') or write it symmetric "
                         "(X'*X, A + A')")


def _vector_shape(fn: Function, args: tuple[Expr, ...]) -> Any:
    _symmetric(fn, args[0])
    return (args[0].shape[0], ONE)


def _scalar_shape(fn: Function, args: tuple[Expr, ...]) -> Any:
    _symmetric(fn, args[0])
    return SCALAR_SHAPE


def _matrix_shape(fn: Function, args: tuple[Expr, ...]) -> Any:
    _symmetric(fn, args[0])
    return args[0].shape


def _operator(tex: str) -> Any:
    return lambda p, e: tex + r"\left(" + p.doprint(e.arg) + r"\right)"


def _kernel(name: str, scalar: str = "{a}") -> Any:
    """Lowering by the runtime's kernel; of a scalar (a 1x1 matrix) its own eigenvalue (eigenvector 1)."""
    return lambda low, e: low.emit(scalar.format(a=low(e.arg)) if e.arg.is_scalar
                                   else f"_K.{name}({low(e.arg)})")


def _eigvec_rule(value: Any) -> Any:
    """d u = (lambda I - S)^+ dS u for the unit eigenvector u of a simple eigenvalue lambda (Magnus & Neudecker,
    ch. 8, Theorem 1), the pseudo-inverse written (lambda I - S + u u')^-1 - u u' (u u' replaces the zero
    eigenvalue of lambda I - S by 1): d u = inv(lambda*eye - S + u*u')*dS*u - u*(u'*dS*u)."""
    def rule(e: Expr, d: Any) -> Expr:
        S = e.arg  # type: ignore[attr-defined]
        dS = d(S)
        if S.is_scalar:
            return mul(Num(0), dS)
        u, lam = e, value()(S)
        M = add(mul(lam, Eye(like=S)), neg(S), mul(u, T(u)))
        return sub(mul(inv(M), dS, u), mul(u, mul(T(u), dS, u)))
    return rule


def _vectors(name: str, shape: Any, doc: str, value: Any = None) -> Function:
    rule = _eigvec_rule(value) if value is not None else no_rule(name, "the derivative of all eigenvectors")
    return register(Function(
        name=name, calls=(f"_K.{name}",), family=FAMILY, shape=shape, analytic="no", printed_only=True,
        rule=("d u = inv(lambda*eye - S + u*u')*dS*u - u*(u'*dS*u), the pseudo-inverse of lambda*eye - S"
              if value is not None else "", rule),
        latex=_operator(r"\operatorname{" + name.replace("_", r"\_") + "}"),
        lower=_kernel(name, "1.0 + 0 * {a}"), doc=doc))


eigvecs = _vectors("eigvecs", _matrix_shape, "the unit eigenvectors of a symmetric matrix as columns, eigenvalues "
                   "ascending (a DomainError where an eigenvalue is repeated)")
eigvec_max = _vectors("eigvec_max", _vector_shape, "the unit eigenvector of the largest eigenvalue (its sign is "
                      "arbitrary; u*u' is not); a DomainError where that eigenvalue is repeated", lambda: eigmax)
eigvec_min = _vectors("eigvec_min", _vector_shape, "the unit eigenvector of the smallest eigenvalue",
                      lambda: eigmin)


def _extreme(name: str, vector: Function, which: str) -> Function:
    def rule(e: Expr, d: Any) -> Expr:
        S = e.arg  # type: ignore[attr-defined]
        if S.is_scalar:
            return d(S)
        u = vector(S)
        return mul(T(u), d(S), u)

    return register(Function(
        name=name, calls=(f"_K.{name}",), family=FAMILY, shape=_scalar_shape, analytic="no",
        rule=(f"d {name}(S) = u'*dS*u, u = {vector.name}(S) the unit eigenvector of the {which} eigenvalue", rule),
        latex=_operator(r"\lambda_{\max}" if which == "largest" else r"\lambda_{\min}"), lower=_kernel(name),
        doc=f"the {which} eigenvalue of a symmetric matrix"))


eigmax = _extreme("eigmax", eigvec_max, "largest")
eigmin = _extreme("eigmin", eigvec_min, "smallest")


def _eigvals_rule(e: Expr, d: Any) -> Expr:
    S = e.arg  # type: ignore[attr-defined]
    if S.is_scalar:
        return d(S)
    U = eigvecs(S)
    return diag(mul(T(U), d(S), U))


eigvals = register(Function(
    name="eigvals", calls=("_K.eigvals",), family=FAMILY, shape=_vector_shape, analytic="no",
    rule=("d eigvals(S) = diag(U'*dS*U), U = eigvecs(S) the eigenvectors", _eigvals_rule),
    latex=_operator(r"\lambda"), lower=_kernel("eigvals"),
    doc="the eigenvalues of a symmetric matrix, ascending, as a vector"))


__all__ = ["eigvals", "eigmax", "eigmin", "eigvecs", "eigvec_max", "eigvec_min"]
