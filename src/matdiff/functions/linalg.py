"""Linear algebra: the trace, the determinant (Jacobi's formula), logdet, the inverse, the adjugate
and the adjugate's derivative ``adj_d(A, E) = adj'(A)[E]``.

Numbers: det, logdet and adj of a matrix come from one factorization shared in generated code
(Cholesky for a declared spd matrix, else LU); adj is a polynomial in A's entries and is exact
at singular A (the kernels switch to the SVD there), so the gradient of det stays finite.
"""

from __future__ import annotations

from typing import Any

from ..core.build import ZERO, T, is_symmetric, is_zero, mul, neg, shape_like, sub, undiff
from ..core.nodes import Add, Call, Expr, Eye, MatMul, Num, Power, Transpose, Var
from .reductions import diag, sum_
from .registry import (
    Function,
    direction_fold,
    direction_shape,
    direction_simplify,
    register,
    scalar_of_square,
    square_of_square,
)

FAMILY = "linalg"


def _symmetric_if_arg(args: tuple[Expr, ...]) -> bool:
    return is_symmetric(args[0])


def _operator(tex: str) -> Any:
    return lambda p, e: tex + r"\left(" + p.doprint(e.arg) + r"\right)"


def _spd(a: Expr) -> bool:
    return isinstance(a, Var) and a.kind == "spd"


# -- the trace ------------------------------------------------------------------------------------
def _tr_fold(args: tuple[Expr, ...]) -> Expr | None:
    a = args[0]
    if a.is_scalar:
        return a  # a scalar is its own trace
    return ZERO if is_zero(a) else None


def _tr_adjoint(e: Expr, c: Expr) -> tuple[str | None, Expr, Expr]:
    """<c, tr(E)> = <c I, E>."""
    return None, e.arg, mul(c, Eye(like=shape_like(undiff(e.arg))))  # type: ignore[attr-defined]


def _tr_simplify(S: Any, args: tuple[Expr, ...]) -> Expr | None:
    a = args[0]
    if a.linear and S.transposed_diff(a):  # tr(B) = tr(B'): write dX untransposed, tr(M'*dX)
        t = S.run(S.T(a))
        if not S.transposed_diff(t):
            a = t
    if isinstance(a, Add) and not any(t.is_scalar for t in a.terms):
        return S.sum([S.call(tr, t) for t in a.terms])
    if isinstance(a, MatMul):
        scal = [f for f in a.factors if f.is_scalar]
        chain = [f for f in a.factors if not f.is_scalar]
        if scal and chain:
            return S.product(scal + [S.call(tr, S.product(chain))])
        # cyclic: rotate a row vector to the front and the trace is a plain product
        for i, f in enumerate(chain):
            if i and f.shape[0].size() == 1:
                return S.product(chain[i:] + chain[:i])
    if getattr(a, "fn", None) is diag and a.arg.is_vector:  # type: ignore[attr-defined]
        return S.call(sum_, a.arg)  # type: ignore[attr-defined]
    return None if a is args[0] else Call(tr, a)


tr = register(Function(
    name="tr", calls=("_np.trace", "_dot"),
    family=FAMILY, shape=scalar_of_square, transpose_invariant=True, zero_at_zero=True, linear_in=0,
    rule=("d tr(U) = tr(dU)", lambda e, d: tr(d(e.arg))), adjoint=_tr_adjoint, fold=_tr_fold, simplify=_tr_simplify,
    latex=_operator(r"\operatorname{tr}"),
    lower=lambda low, e: low.emit(low(e.arg)) if e.arg.is_scalar else low.trace(e.arg),
    doc="the trace of a square matrix"))


# -- the determinant and logdet -------------------------------------------------------------------
def _factored(kernel: str, scalar: str) -> Any:
    """Lowering through the argument's shared factorization (_F.kernel(LU or Cholesky)); ``scalar`` for 1x1."""
    return lambda low, e: (low.emit(scalar.format(a=low(e.arg))) if e.arg.is_scalar
                           else low.emit(f"_F.{kernel}({low.factor(e.arg)})"))


det = register(Function(
    name="det", calls=("_F.det", "_F.lu", "_F.chol"),
    family=FAMILY, shape=scalar_of_square, transpose_invariant=True,
    rule=("Jacobi's formula: d det(U) = tr(adj(U)*dU)", lambda e, d: tr(mul(adj(e.arg), d(e.arg)))),
    latex=_operator(r"\det"),
    lower=_factored("det", "{a}"), doc="the determinant"))

logdet = register(Function(
    name="logdet", calls=("_F.logdet", "_F.lu", "_F.chol", "_np.log", "_check_positive"),
    family=FAMILY, shape=scalar_of_square, transpose_invariant=True,
    rule=("d logdet(U) = tr(inv(U)*dU)", lambda e, d: tr(mul(inv(e.arg), d(e.arg)))),
    latex=_operator(r"\log\det"),
    guard=lambda e: [("evaluates", e, f"logdet({e.arg})")],  # type: ignore[attr-defined]
    lower=_factored("logdet", "_np.log(_check_positive({a}, 'logdet'))"),
    doc="log det(A), for det(A) > 0 (Cholesky where A is declared spd)"))


# -- the inverse ------------------------------------------------------------------------------------
def _lower_inv(low: Any, e: Expr) -> str:
    a = e.arg  # type: ignore[attr-defined]
    return low.emit(f"1 / {low.divisor(a)}") if a.is_scalar else low.inverse(a)


inv = register(Function(
    name="inv", calls=("_F.inv", "_F.lu", "_F.chol", "_F.solve", "_F.solve_t", "_nonzero"),
    family=FAMILY, shape=square_of_square, same_shape=True, symmetric=_symmetric_if_arg,
    rule=("d inv(U) = -inv(U)*dU*inv(U)", lambda e, d: neg(mul(e, d(e.arg), e))),
    simplify=lambda S, args: args[0].arg if getattr(args[0], "fn", None) is inv else None,  # inv(inv(A)) = A
    latex=lambda p, e: p.wrap(e.arg, not p.atomic(e.arg)) + "^{-1}",
    guard=lambda e: [("invertible", e, f"inv({e.arg})")],  # type: ignore[attr-defined]
    lower=_lower_inv, doc="the inverse of a square matrix (computed as solves inside products)"))


# -- the adjugate and its derivative ----------------------------------------------------------------
def _adj_simplify(S: Any, args: tuple[Expr, ...]) -> Expr | None:
    a = args[0]
    if a.is_scalar:
        return None
    if getattr(a, "fn", None) is inv:  # adj(inv(A)) = det(inv(A)) * A
        return S.product([S.call(det, a), a.arg])  # type: ignore[attr-defined]
    if isinstance(a, Transpose):  # adj(A') = adj(A)'
        return S.T(Call(adj, a.arg))
    if isinstance(a, Power) and isinstance(a.exp, Num) and isinstance(a.exp.value, int) and a.exp.value > 1:
        return S.power(S.call(adj, a.base), a.exp)  # adj(A^k) = adj(A)^k (adj(A*B) = adj(B)*adj(A))
    return None


adj = register(Function(
    name="adj", calls=("_F.adj", "_F.lu", "_F.chol"),
    family=FAMILY, shape=square_of_square, same_shape=True, symmetric=_symmetric_if_arg,
    rule=("d adj(U) = adj_d(U, dU): tr(inv(U)*dU)*adj(U) - adj(U)*dU*inv(U) where U is invertible, "
          "and its limit (adj is a polynomial) at singular U",
          lambda e, d: ZERO if e.arg.is_scalar else adj_d(e.arg, d(e.arg))),  # adj of a scalar is 1
    latex=_operator(r"\operatorname{adj}"), simplify=_adj_simplify,
    lower=_factored("adj", "1.0"), doc="the adjugate det(A) inv(A), defined at singular A too"))


def _adj_d_rule(e: Expr, d: Any) -> Expr:
    a, v = e.args  # type: ignore[attr-defined]
    if isinstance(d(a), Num):  # linear in E
        return adj_d(a, d(v))
    # A varies too (a second derivative of adj, a third of det): differentiate the form that holds where A is
    # invertible, adj_d(A, E) = tr(adj(A) E) inv(A) - adj(A) E inv(A); its value at a singular A is refused
    return d(sub(mul(tr(mul(adj(a), v)), inv(a)), mul(adj(a), v, inv(a))))


def _adj_d_lower(low: Any, e: Expr) -> str:
    a, x = e.args  # type: ignore[attr-defined]
    if a.is_scalar:  # adj of a scalar is 1: its derivative is 0
        return low.emit(f"0.0 * {low(x)}")
    return low.emit(f"_F.adj_d({low.factor(a)}, {low(x)})")


adj_d = register(Function(
    name="adj_d", calls=("_F.adj_d", "_F.lu", "_F.chol"),
    family=FAMILY, arity=2, shape=direction_shape("A"), same_shape=True, transpose_inside=True,
    linear_in=1, printed_only=True, symmetric=lambda args: is_symmetric(args[0]) and is_symmetric(args[1]),
    rule=("d adj_d(P, E) = adj_d(P, dE) for constant P; where the point U varies, of "
          "adj_d(U, E) = tr(adj(U)*E)*inv(U) - adj(U)*E*inv(U), U invertible", _adj_d_rule),
    # the adjoint of E -> adj'(A)[E] is C -> adj'(A)[C']' = adj'(A')[C]
    adjoint=lambda e, c: ("<M, adj_d(U, E)> = <adj_d(U', M), E>", e.args[1], adj_d(T(e.args[0]), c)),
    fold=direction_fold(lambda: adj_d), simplify=direction_simplify(lambda: adj_d),
    latex=lambda p, e: rf"\operatorname{{adj}}'\left({p.doprint(e.args[0])}\right)\left[{p.doprint(e.args[1])}\right]",
    lower=_adj_d_lower,
    doc="adj_d(A, E) = adj'(A)[E], the derivative of the adjugate at A in the direction E"))


def is_inverse(e: Expr) -> Expr | None:
    """A where e is inv(A), A' where e is inv(A)' (a factor a product computes by solving)."""
    if getattr(e, "fn", None) is inv:
        return e.arg  # type: ignore[attr-defined]
    if isinstance(e, Transpose) and getattr(e.arg, "fn", None) is inv:
        return Transpose(e.arg.arg)  # type: ignore[attr-defined]
    return None


__all__ = ["tr", "det", "logdet", "inv", "adj", "adj_d", "is_inverse"]
