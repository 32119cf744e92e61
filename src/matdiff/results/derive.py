"""The derivations that make results, from a typed tree and its variables (no text, no name lookup).

Each function derives once and returns the result object that then evaluates, compiles, prints
and is checked: ``gradient``, ``gradients``, ``derivative``, ``hessian``, ``multi_hessian``.
The public functions of :mod:`matdiff.api` type the user's text and call these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..calculus.differential import expand, identify
from ..core.build import is_zero
from ..core.nodes import Expr, MatMul, Num, Ones, Var
from ..core.shapes import shape_str
from ..errors import ShapeError
from ..syntax.printer import to_text
from ..syntax.typing import variables as variables_of
from .derivative import Derivative
from .gradient import GradientResult, MultiGradient
from .hessian import Hessian, MultiHessian


def require_scalar(f: Expr) -> None:
    """A ShapeError unless f is a scalar (a gradient needs one)."""
    if not f.is_scalar:
        raise ShapeError(f"a gradient needs a scalar expression, but {to_text(f)} is a {shape_str(f.shape)}; "
                         "for the derivative of a vector or matrix expression take its Jacobian "
                         "(matdiff.derivative in Python, matdiff jacobian on the command line)")


def gradient(f: Expr, var: Var, variables: dict[str, Var]) -> GradientResult:
    """The gradient of the scalar f with respect to var: df by the rules, then M read off df = tr(M' dX)."""
    require_scalar(f)
    df, steps = expand(f, var)
    ident = identify(df, var)
    g = ident.gradient
    if is_zero(g) and not var.is_scalar:  # identically zero: zeros(X), the zero shaped like the variable
        g = MatMul((Num(0), Ones(var)))
    return GradientResult(f, var, variables, g, ident.differential_form, steps + ident.steps)


def gradients(f: Expr, wrt: Sequence[Var], variables: dict[str, Var]) -> MultiGradient:
    """The gradients with respect to each of wrt, one derivation each."""
    return MultiGradient({v.name: gradient(f, v, variables) for v in wrt})


def derivative(f: Expr, var: Var, variables: dict[str, Var]) -> Derivative:
    """dF for F of any shape, with the jvp, the vjp (the adjoint) and the Kronecker form."""
    df, steps = expand(f, var, lhs="dF", lhs_latex=r"\mathrm{d}F")
    return Derivative(f, var, variables, df, steps)


def hessian(f: Expr, var: Var, variables: dict[str, Var]) -> Hessian:
    """The Hessian with respect to var: the gradient, then its differential."""
    r = gradient(f, var, variables)
    return Hessian(r.expr, r.var, r.variables, r.gradient, r.steps)


def multi_hessian(f: Expr, wrt: Sequence[Var], variables: dict[str, Var]) -> MultiHessian:
    """The blocks d(grad_a f)/db: each gradient derived once, each block from that typed gradient."""
    g = gradients(f, wrt, variables)
    blocks: dict[tuple[str, str], Derivative | None] = {}
    for a in g.wrt:
        ga = g.results[a].gradient
        used: Mapping[str, Var] = variables_of(ga)
        for b in g.wrt:
            blocks[(a, b)] = derivative(ga, used[b], dict(used)) if b in ga.free else None
    return MultiHessian(g, blocks)
