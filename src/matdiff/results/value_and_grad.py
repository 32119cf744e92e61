"""Value and gradients in one generated function (matrixcalculus.org's fAndG, JAX's value_and_grad)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..calculus.simplify import Simplifier
from ..core.nodes import Expr, Var
from ..syntax.printer import to_text
from .compiled import Batch, Program

if TYPE_CHECKING:
    from .gradient import GradientResult


def value_and_grad_program(f: Expr, variables: Mapping[str, Var], results: Sequence[GradientResult]) -> Program:
    """The generated function returning f and each result's gradient, from those derivations."""
    names = [r.wrt for r in results]
    outputs: list[Expr] = [Simplifier().run(f)]
    for r in results:
        outputs.extend(r.outputs())  # a constant gradient broadcast to X's shape
    summary = [f"d{r.wrt}: {to_text(r.differential)}" if r.differential is not None else "" for r in results]
    comment = ["derivation (matdiff):"] + [f"  grad_{r.wrt} = {to_text(r.gradient)}  from  {s}"
                                           for r, s in zip(results, summary)]
    doc = f"Value and gradients of {to_text(f)} with respect to {', '.join(names)}"
    return Program("value_and_grad", outputs, variables, guard_of=f, doc=doc, comment=comment, where=to_text(f))


class CompiledFunction:
    """``fg(**values) -> (value, {name: gradient})`` from one generated NumPy function."""

    def __init__(self, f: Expr, variables: Mapping[str, Var], results: Sequence[GradientResult],
                 backend: str = "numpy", batch: Batch = False):
        names = [r.wrt for r in results]
        self.expr, self.wrt, self.variables = f, names, dict(variables)
        self.gradients = {r.wrt: r.gradient for r in results}
        self.program = value_and_grad_program(f, variables, results)
        self.backend = backend
        # value (B,) and gradients (B, ...) over a leading batch axis where batch is not False
        self._fn = self.program.build(backend, batch)
        self._names = names
        self.__doc__ = self.program.doc

    def __call__(self, /, **values: Any) -> tuple[Any, dict[str, Any]]:  # a variable may be named self
        out = self._fn(**values)
        return out[0], dict(zip(self._names, out[1:]))

    def source(self, standalone: bool = False) -> str:
        """The generated Python/NumPy source; ``standalone=True`` adds the imports it needs."""
        return self.program.source(standalone)

    def __repr__(self) -> str:
        return f"<matdiff compiled value_and_grad of {to_text(self.expr)} w.r.t. {', '.join(self.wrt)}>"
