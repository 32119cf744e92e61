"""The public functions (DESIGN.md's contract): text and names in, results out.

A thin façade: each function types the user's text (:mod:`matdiff.frontend`), finds the
variables named by ``wrt``, and hands the typed tree to the derivation that makes the result
(:mod:`matdiff.results.derive`); ``check`` and ``sweep`` are :mod:`matdiff.verify.check`'s, which
take an expression or a result already derived.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from .core.nodes import Expr
from .errors import ShapeError
from .frontend import Types, deep, evaluate, parse, typed, wrt_list, wrt_var
from .results import derive
from .results.derivative import Derivative
from .results.gradient import GradientResult, MultiGradient
from .results.hessian import Hessian, MultiHessian
from .results.value_and_grad import CompiledFunction
from .syntax.printer import to_text
from .verify.check import CheckReport, check, sweep

__all__ = ["parse", "typed", "evaluate", "grad", "derivative", "hessian", "compile", "check", "sweep",
           "GradientResult", "MultiGradient", "Derivative", "Hessian", "MultiHessian", "CompiledFunction",
           "CheckReport"]


@deep
def grad(expr: str | Expr, wrt: str | list[str], types: Types = None) -> GradientResult | MultiGradient:
    """The gradient of a scalar expression w.r.t. ``wrt`` (a name, or a list for several at once), with the steps."""
    names = wrt_list(wrt)
    f, vs = typed(expr, types)
    derive.require_scalar(f)
    if names is None:
        return derive.gradient(f, wrt_var(f, vs, wrt), vs)  # type: ignore[arg-type]
    return derive.gradients(f, [wrt_var(f, vs, n) for n in names], vs)


@deep
def derivative(expr: str | Expr, wrt: str, types: Types = None) -> Derivative:
    """The derivative of an expression of any shape w.r.t. ``wrt``: dF, jvp, vjp and the Jacobian."""
    f, vs = typed(expr, types)
    return derive.derivative(f, wrt_var(f, vs, wrt), vs)


@deep
def hessian(expr: str | Expr, wrt: str | list[str], types: Types = None) -> Hessian | MultiHessian:
    """The Hessian of a scalar expression w.r.t. ``wrt`` (a list of two or more gives the blocks)."""
    names = wrt_list(wrt)
    f, vs = typed(expr, types)
    derive.require_scalar(f)
    if names is None:
        return derive.hessian(f, wrt_var(f, vs, wrt), vs)  # type: ignore[arg-type]
    return derive.multi_hessian(f, [wrt_var(f, vs, n) for n in names], vs)


def compile(expr: str | Expr, wrt: str | Sequence[str], types: Types = None, backend: str = "numpy",
            batch: bool | str | Collection[str] = False) -> CompiledFunction:
    """The function returning the value of expr and its gradients, computed together.

    ``batch=True`` (or the names of the batched arguments): over a leading batch axis, no Python loop."""
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    f, vs = typed(expr, types)
    if not f.is_scalar:
        raise ShapeError(f"compile needs a scalar expression; {to_text(f)} is not one")
    results = [derive.gradient(f, wrt_var(f, vs, n), vs) for n in names]
    return CompiledFunction(f, vs, results, backend, batch)
