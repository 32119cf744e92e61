"""Hessians by the second differential: d(grad f) = H dx, or d²f = tr(dX' H[dX]) for a matrix X.

For a scalar or vector variable the Hessian is identified as a matrix expression
(``x'*A*x`` gives ``A + A'``); for a matrix variable the Hessian is the linear map
``H[V]`` (the hvp, symbolic) and, where it has one, its Kronecker form.  The result class is
:class:`matdiff.results.hessian.Hessian`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.build import ZERO, add, is_zero, zero_like
from ..core.nodes import Diff, Expr, Eye, Ones, Var
from ..syntax.latex import latex_name
from .differential import expand, expand_terms
from .jacobians import NotExpressible, jacobian_matrix, kronecker_form, substitute
from .simplify import Simplifier
from .steps import Step


@dataclass(frozen=True)
class HessianForms:
    """What the second differential gives: d(grad f), the hvp in a direction, the matrix, the vec form."""

    second_differential: Expr
    direction: Var  # the variable standing for dX in hvp_expr
    hvp_expr: Expr
    expr: Expr | None  # the Hessian matrix (scalar and vector variables), where expressible
    kronecker: tuple[str, str] | None  # vec(d grad f) = (... ⊗ ...) vec(dX) as (text, LaTeX), matrix variables
    steps: list[Step]  # the gradient's steps, then the second differential's


def hessian_forms(var: Var, gradient: Expr, grad_steps: list[Step]) -> HessianForms:
    """The Hessian of f with respect to var from its gradient: d(grad f) differentiated by the same rules."""
    n = var.name
    dg, steps = expand(gradient, var, lhs=f"d(grad_{n} f)",
                       lhs_latex=rf"\mathrm{{d}}\left(\nabla_{{{latex_name(n)}}} f\right)")
    S = Simplifier()
    second = S.run(dg) if dg.linear else dg
    direction = Var("_d_" + n, var.kind, var.shape)  # "_d_": never a name of generated code
    hvp_expr = S.run(substitute(dg, {Diff(var): direction})) if dg.linear else dg
    expr: Expr | None = None
    kron: tuple[str, str] | None = None
    all_steps = list(grad_steps) + steps
    if var.is_scalar or var.is_vector:
        try:
            terms = expand_terms(dg) if dg.linear else []
            zero = ZERO if var.is_scalar else zero_like(Eye(like=var))  # f is linear in the variable
            h = S.run(add(*(jacobian_matrix(t, var, S) for t in terms))) if terms else zero
            if h is not None and not is_zero(h) and _has_ones(h):
                h = None  # a broadcast inside the Hessian matrix: the hvp-based dense form is used instead
            if h is not None:
                expr = h
                form = f"d(grad_{n} f) = H*d{n}"
                all_steps.append(Step(f"compare with {form}", f"H_{n}", h,
                                      lhs_latex=rf"\nabla^2_{{{latex_name(n)}}} f"))
        except NotExpressible:
            expr = None
    else:
        kron = kronecker_form(dg, var)
        if kron is not None:
            lhs = r"\operatorname{vec}\left(\mathrm{d}\nabla_{" + latex_name(n) + r"} f\right)"
            all_steps.append(Step("vec(A*dX*B) = (B' ⊗ A) vec(dX)", f"vec(d(grad_{n} f))", None,
                                  rhs_text=kron[0], rhs_latex=kron[1], lhs_latex=lhs))
    return HessianForms(second, direction, hvp_expr, expr, kron, all_steps)


def _has_ones(e: Expr) -> bool:
    return isinstance(e, Ones) or any(_has_ones(c) for c in e.children)
