"""Norms and the singular-vector functions their derivatives need.

``norm_fro(X) = sqrt(tr(X'*X))``; ``norm2`` (the largest singular value; the 2-norm of a vector),
``norm_nuc`` (the sum of the singular values), ``norm1`` (the sum of |entries|).  Their gradients
are ``top_sv(X) = u1*v1'`` (the top singular pair, unique where the top singular value is simple)
and ``polar(X) = U*V'`` (X = U S V', full rank), functions results print; both refuse, with a
DomainError, the points where the derivative does not exist.
"""

from __future__ import annotations

from typing import Any

from ..core.build import TWO, T, div, had, mul
from ..core.nodes import Expr, MatMul
from .elementwise import lower_sign_of_scalar, sign, sqrt
from .linalg import tr
from .reductions import sum_
from .registry import Function, identity, no_rule, register, same_shape, scalar

FAMILY = "norms"


def _sq(a: Expr) -> Expr:
    """tr(A'*A) (or a'*a, a*a): the squared Frobenius norm, as the textbook writes it."""
    return mul(a, a) if a.is_scalar else mul(T(a), a) if a.is_vector else tr(mul(T(a), a))


def _norm_latex(sub: str) -> Any:
    return lambda p, e: rf"\left\|{p.doprint(e.arg)}\right\|_{{{sub}}}"


def _like_vector(e: Expr) -> bool:
    """The argument is a scalar or a vector (a row too): its 2-norm and nuclear norm are its Frobenius norm."""
    a = e.arg  # type: ignore[attr-defined]
    return a.is_scalar or a.is_vector or a.shape[0].find().value == 1


def _lower_norm(kernel: str) -> Any:
    def lower(low: Any, e: Expr) -> str:
        a = e.arg  # type: ignore[attr-defined]
        if a.is_scalar:
            return low.emit(f"abs({low(a)})")
        if kernel == "norm_fro" or _like_vector(e):
            return low.emit(f"_K.norm_fro({low(a)})")  # rescaled where the squares over- or underflow
        return low.emit(f"_K.{kernel}({low(a)})")
    return lower


def _norm_rule(singular: Function) -> Any:
    """d norm(X): of a vector as norm_fro; of a scalar sign(x) dx; of a matrix tr(G' dX), G = singular(X)."""
    return lambda e, d: (div(d(_sq(e.arg)), mul(TWO, e)) if e.arg.is_vector
                         else had(sign(e.arg), d(e.arg)) if e.arg.is_scalar
                         else tr(mul(T(singular(e.arg)), d(e.arg))))


def _norm_name(name: str, e: Expr, matrix: str) -> str:
    """The rule's name for the argument's kind: the vector rule d norm(u) = u'*du/norm(u) for a vector (a norm of a
    vector is its Euclidean norm), sign(t)*dt for a scalar, ``matrix`` else."""
    a = e.arg  # type: ignore[attr-defined]
    if a.is_scalar:
        return f"d {name}(t) = sign(t)*dt"
    if a.is_vector:
        return f"vector norm, chain rule: {name}(u) = (u'*u)^(1/2), d {name}(u) = u'*du/{name}(u)"
    return matrix


def _singular(name: str, tex: str, doc: str) -> Function:
    """polar or top_sv: the gradient of a matrix norm; of a scalar, its sign (not at 0)."""
    def lower(low: Any, e: Expr) -> str:
        a = e.arg  # type: ignore[attr-defined]
        return lower_sign_of_scalar(low, e) if a.is_scalar else low.emit(f"_K.{name}({low(a)})")

    return register(Function(
        name=name, calls=(f"_K.{name}", "_np.sign", "_nonzero"), family=FAMILY, shape=same_shape, same_shape=True,
        analytic="no", printed_only=True,
        rule=("", no_rule(name, "it is a derivative already")),
        latex=lambda p, e: tex + r"\left(" + p.doprint(e.arg) + r"\right)",
        lower=lower, doc=doc))


top_sv = _singular("top_sv", r"\operatorname{top}_{\sigma}",
                   "u1*v1', the top singular pair (the gradient of norm2 of a matrix)")
polar = _singular("polar", r"\operatorname{polar}",
                  "U*V' of the thin SVD X = U S V' (the gradient of norm_nuc of a full-rank matrix)")

norm_fro = register(Function(
    name="norm_fro", calls=("_K.norm_fro",),
    family=FAMILY, shape=scalar, transpose_invariant=True,
    rule=(lambda e: _norm_name("norm_fro", e, "chain rule: norm_fro(U) = (tr(U'*U))^(1/2)"),
          lambda e, d: div(d(_sq(e.arg)), mul(TWO, e)) if not e.arg.is_scalar
          else had(sign(e.arg), d(e.arg))),  # the norm of a scalar is its abs
    latex=_norm_latex("F"), lower=_lower_norm("norm_fro"),
    doc="the Frobenius norm sqrt(tr(X'*X))"))

norm2 = register(Function(
    name="norm2", calls=("_K.norm2", "_K.norm_fro"),
    family=FAMILY, shape=scalar, transpose_invariant=True, analytic="vectors",
    rule=(lambda e: _norm_name("norm2", e, "d norm2(W) = tr(top_sv(W)'*dW), top_sv(W) = u1*v1' for the top singular "
                               "pair u1, v1 of W"), _norm_rule(top_sv)),
    latex=_norm_latex("2"), lower=_lower_norm("norm2"),
    doc="the 2-norm: the largest singular value (of a vector, its Euclidean norm)"))

norm_nuc = register(Function(
    name="norm_nuc", calls=("_K.norm_nuc", "_K.norm_fro"),
    family=FAMILY, shape=scalar, transpose_invariant=True, analytic="vectors",
    rule=(lambda e: _norm_name("norm_nuc", e, "d norm_nuc(W) = tr(polar(W)'*dW), polar(W) = U*V' for the thin SVD "
                               "W = U*S*V'"), _norm_rule(polar)),
    latex=_norm_latex("*"), lower=_lower_norm("norm_nuc"),
    doc="the nuclear norm: the sum of the singular values"))


norm1 = register(Function(
    name="norm1", calls=("_np.abs",),
    family=FAMILY, shape=scalar, analytic="no",
    rule=("d norm1(U) = sum(sign(U) .* dU)", lambda e, d: sum_(had(sign(e.arg), d(e.arg)))),
    latex=_norm_latex("1"),
    lower=lambda low, e: low.emit(f"abs({low(e.arg)})" if e.arg.is_scalar else f"_np.abs({low(e.arg)}).sum()"),
    doc="the sum of the absolute values of the entries"))




def _sqrt_of_gram(S: Any, args: tuple[Expr, ...]) -> Expr | None:
    """sqrt(tr(A'*A)) = norm_fro(A) and sqrt(x'*x) = norm2(x) (the norms, by their definitions)."""
    a = args[0]
    if not a.is_scalar:
        return None
    if getattr(a, "fn", None) is tr:
        a = a.arg  # type: ignore[attr-defined]
    if not (isinstance(a, MatMul) and len(a.factors) == 2):
        return None
    f, g = a.factors
    if f.is_scalar or S.T(f) != g:
        return None
    return S.call(norm2 if g.is_vector else norm_fro, g)


identity(sqrt, _sqrt_of_gram)


__all__ = ["norm_fro", "norm2", "norm_nuc", "norm1", "top_sv", "polar"]
