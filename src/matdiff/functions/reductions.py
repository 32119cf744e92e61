"""Reductions and their adjoints: ``sum`` of the entries and ``diag`` (a vector to its diagonal matrix,
a square matrix to the vector of its diagonal).  Both are linear: the identification of a gradient
passes through them by their adjoints, <C, sum(F)> = <C ones(F), F> and <C, diag(F)> = <diag(C), F>."""

from __future__ import annotations

from typing import Any

from ..core.build import ZERO, T, had, is_zero, mul, shape_like, sub, undiff
from ..core.nodes import Expr, Eye, Hadamard, MatMul, Ones
from ..errors import ShapeError
from .elementwise import exp
from .registry import Function, describe, register, scalar, vector_or_matrix

FAMILY = "reductions"


def _operator(tex: str) -> Any:
    return lambda p, e: tex + r"\left(" + p.doprint(e.arg) + r"\right)"


def _sum_fold(args: tuple[Expr, ...]) -> Expr | None:
    a = args[0]
    if a.is_scalar:
        return a
    return ZERO if is_zero(a) else None


def _sum_adjoint(e: Expr, c: Expr) -> tuple[str | None, Expr, Expr]:
    a = e.arg  # type: ignore[attr-defined]
    return "sum(U) = tr(ones(U)'*U)", a, (c if a.is_scalar else mul(c, Ones(shape_like(undiff(a)))))


sum_ = register(Function(
    name="sum", calls=("_np.sum",),
    family=FAMILY, shape=scalar, zero_at_zero=True, linear_in=0,
    rule=("d sum(U) = sum(dU)", lambda e, d: sum_(d(e.arg))), adjoint=_sum_adjoint, fold=_sum_fold,
    latex=_operator(r"\operatorname{sum}"),
    lower=lambda low, e: low.emit(low(e.arg) if e.arg.is_scalar else f"_np.sum({low(e.arg)})"),
    positive=lambda args, positive: positive(args[0]), doc="the sum of the entries"))


def _diag_simplify(S: Any, args: tuple[Expr, ...]) -> Expr | None:
    a = args[0]
    if a.is_vector:
        if isinstance(a, Ones):
            return Eye(like=a.like)
        if isinstance(a, MatMul):  # diag(c*v) = c*diag(v)
            scal = [f for f in a.factors if f.is_scalar]
            chain = [f for f in a.factors if not f.is_scalar]
            if scal and len(chain) == 1:
                return S.product(scal + [S.call(diag, chain[0])])
    elif isinstance(a, MatMul) and not a.is_scalar:  # diag(c*u*v') = c*u.*v (the diagonal of an outer product)
        scal = [f for f in a.factors if f.is_scalar]
        chain = [f for f in a.factors if not f.is_scalar]
        if len(chain) == 2 and chain[0].is_vector and chain[1].shape[0].size() == 1:
            return S.product(scal + [S.hadamard(Hadamard(chain[0], S.T(chain[1])))])
    return None


diag = register(Function(
    name="diag", calls=("_np.diag",),
    family=FAMILY, shape=vector_or_matrix, zero_at_zero=True, linear_in=0,
    symmetric=lambda args: args[0].is_vector,
    rule=("d diag(U) = diag(dU)", lambda e, d: diag(d(e.arg))),
    adjoint=lambda e, c: ("<M, diag(U)> = <diag(M), U>", e.arg, diag(c)),  # type: ignore[attr-defined]
    simplify=_diag_simplify, latex=_operator(r"\operatorname{diag}"),
    lower=lambda low, e: low.emit(low(e.arg) if e.arg.is_scalar else f"_np.diag({low(e.arg)})"),
    doc="a vector to its diagonal matrix; a square matrix to the vector of its diagonal"))


def _softmax_shape(fn: Function, args: tuple[Expr, ...]) -> Any:
    a = args[0]
    if not (a.is_scalar or a.is_vector):
        raise ShapeError(f"softmax takes a vector, but {describe(a)} is not one (for all the entries of a matrix "
                         "write exp(X - logsumexp(X)))")
    return a.shape


softmax = register(Function(
    name="softmax", calls=("_K.softmax",), family=FAMILY, shape=_softmax_shape, same_shape=True,
    rule=("d softmax(u) = softmax(u) .* du - softmax(u)*(softmax(u)'*du)",
          lambda e, d: sub(had(e, d(e.arg)), mul(e, mul(T(e), d(e.arg))))),
    latex=_operator(r"\operatorname{softmax}"), lower=lambda low, e: low.emit(f"_K.softmax({low(e.arg)})"),
    positive=lambda args, positive: True, doc="exp(x)/sum(exp(x)) of a vector, without overflow"))


def _logsumexp_rule(e: Expr, d: Any) -> Expr:
    """d logsumexp(X) = <softmax, dX>: softmax(x) for a vector, exp(X - logsumexp(X)) for the entries of a matrix."""
    a = e.arg  # type: ignore[attr-defined]
    weights = softmax(a) if a.is_vector else exp(sub(a, e))
    return sum_(had(weights, d(a)))


logsumexp = register(Function(
    name="logsumexp", calls=("_K.logsumexp",), family=FAMILY, shape=scalar, transpose_invariant=True,
    rule=(lambda e: "d logsumexp(u) = sum(softmax(u) .* du)" if e.arg.is_vector  # type: ignore[attr-defined]
          else "d logsumexp(U) = sum(exp(U - logsumexp(U)) .* dU)", _logsumexp_rule),
    latex=_operator(r"\operatorname{logsumexp}"),
    lower=lambda low, e: low.emit(low(e.arg) if e.arg.is_scalar else f"_K.logsumexp({low(e.arg)})"),
    doc="log(sum(exp(X))) over all entries, without overflow"))


def is_diag_of_vector(e: Expr) -> bool:
    """e is diag(v) of a vector v (a product multiplies by it as a broadcast, never a dense matrix)."""
    return getattr(e, "fn", None) is diag and e.arg.is_vector  # type: ignore[attr-defined]


__all__ = ["sum_", "diag", "softmax", "logsumexp", "is_diag_of_vector"]
