"""The public functions (DESIGN.md's contract): text and names in, results out.

A thin façade: each function types the user's text (:mod:`matdiff.frontend`), finds the
variables named by ``wrt``, and hands the typed tree to the derivation that makes the result
(:mod:`matdiff.results.derive`); ``check`` and ``sweep`` are :mod:`matdiff.verify.check`'s, which
take an expression or a result already derived.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TypeVar

from .calculus.steps import Step
from .core.nodes import Expr
from .errors import ShapeError
from .frontend import Types, deep, evaluate, parse, typed, typed_assuming, wrt_list, wrt_var
from .results import derive
from .results.derivative import Derivative
from .results.gradient import GradientResult, MultiGradient
from .results.hessian import Hessian, MultiHessian
from .results.value_and_grad import CompiledFunction
from .syntax.printer import to_text
from .syntax.typing import variables
from .verify.check import CheckReport, check, sweep

__all__ = ["parse", "typed", "evaluate", "grad", "derivative", "hessian", "compile", "check", "sweep",
           "GradientResult", "MultiGradient", "Derivative", "Hessian", "MultiHessian", "CompiledFunction",
           "CheckReport"]


R = TypeVar("R")


def _assuming(result: R, assumed: dict[str, str]) -> R:
    """The result with ``assumed_types`` (the kinds that came from use) and, first in its steps, a line naming them."""
    parts = [result] + list(getattr(result, "results", {}).values())
    for r in parts:
        r.assumed_types = dict(assumed)  # type: ignore[attr-defined]
        steps = getattr(r, "steps", None)
        if assumed and isinstance(steps, list):
            text = "; ".join(f"{n}: {t}" for n, t in assumed.items())
            steps.insert(0, Step("types from use", f"assuming {text}", None))
    return result


@deep
def grad(expr: str | Expr, wrt: str | list[str], types: Types = None) -> GradientResult | MultiGradient:
    """The gradient of a scalar expression w.r.t. ``wrt`` (a name, or a list for several at once), with the steps.

    >>> str(grad("x'*A*y", wrt="A").gradient)
    "x*y'"
    >>> str(grad("norm2(A*x - b)^2", wrt="x").gradient)   # b is a vector by its use
    "2*A'*(A*x - b)"
    """
    names = wrt_list(wrt)
    f, assumed = typed_assuming(expr, types, scalar=True)
    vs = variables(f)
    derive.require_scalar(f)
    if names is None:
        return _assuming(derive.gradient(f, wrt_var(f, vs, wrt), vs), assumed)  # type: ignore[arg-type]
    return _assuming(derive.gradients(f, [wrt_var(f, vs, n) for n in names], vs), assumed)


@deep
def derivative(expr: str | Expr, wrt: str, types: Types = None) -> Derivative:
    """The derivative of an expression of any shape w.r.t. ``wrt``: dF, jvp, vjp and the Jacobian.

    >>> print(derivative("A*X*B", wrt="X").kronecker[0])
    (B' ⊗ A) vec(dX)
    """
    f, assumed = typed_assuming(expr, types)
    vs = variables(f)
    return _assuming(derive.derivative(f, wrt_var(f, vs, wrt), vs), assumed)


@deep
def hessian(expr: str | Expr, wrt: str | list[str], types: Types = None) -> Hessian | MultiHessian:
    """The Hessian of a scalar expression w.r.t. ``wrt`` (a list of two or more gives the blocks).

    >>> str(hessian("x'*A*x", wrt="x").expr)
    "A + A'"
    """
    names = wrt_list(wrt)
    f, assumed = typed_assuming(expr, types, scalar=True)
    vs = variables(f)
    derive.require_scalar(f)
    if names is None:
        return _assuming(derive.hessian(f, wrt_var(f, vs, wrt), vs), assumed)  # type: ignore[arg-type]
    return _assuming(derive.multi_hessian(f, [wrt_var(f, vs, n) for n in names], vs), assumed)


def compile(expr: str | Expr, wrt: str | Sequence[str], types: Types = None, backend: str = "numpy",
            batch: bool | str | Collection[str] = False) -> CompiledFunction:
    """The function returning the value of expr and its gradients, computed together.

    ``batch=True`` (or the names of the batched arguments): over a leading batch axis, no Python loop."""
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    f, vs = typed(expr, types, scalar=True)
    if not f.is_scalar:
        raise ShapeError(f"compile needs a scalar expression; {to_text(f)} is not one")
    results = [derive.gradient(f, wrt_var(f, vs, n), vs) for n in names]
    return CompiledFunction(f, vs, results, backend, batch)
