"""Gradients of a scalar expression: with respect to one variable, or several at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..calculus.jacobians import full
from ..calculus.steps import Derived, Step
from ..core.build import mul
from ..core.nodes import Expr, Ones, Var
from ..html_hook import HTMLDisplay
from ..numeric.evaluate import Evaluator, check_domain
from ..syntax.latex import latex_name, to_latex
from ..syntax.printer import to_text
from .compiled import Batch, Compilable, Program
from .value_and_grad import CompiledFunction


class GradientResult(Derived, Compilable):
    """The gradient of a scalar expression with respect to one variable, with its derivation."""

    def __init__(self, f: Expr, var: Var, variables: dict[str, Var], gradient: Expr,
                 differential: Callable[[], Expr], steps: list[Step]):
        self.expr = f
        self.var = var
        self.wrt = var.name
        self.variables = variables
        self.gradient = gradient
        self._differential = differential
        self._df: Expr | None = None
        self.steps = steps

    @property
    def differential(self) -> Expr:
        """df in the form tr(M'*dX) (g'*dx for a vector, c*dt for a scalar)."""
        if self._df is None:
            self._df = self._differential()
        return self._df

    # -- display
    @property
    def latex(self) -> str:
        """LaTeX of the gradient."""
        return to_latex(self.gradient)

    def __str__(self) -> str:
        return f"grad_{self.wrt} {to_text(self.expr)} = {to_text(self.gradient)}"

    def __repr__(self) -> str:
        return f"<GradientResult {self}>"

    def _repr_latex_(self) -> str:
        return rf"$\nabla_{{{latex_name(self.wrt)}}}\, {to_latex(self.expr)} = {self.latex}$"

    # -- numbers
    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The gradient at ``values``: an array shaped like the variable (a float for a scalar)."""
        ev = Evaluator(self.variables, values)
        check_domain(ev, self.expr)
        return ev.external(self.var, full(ev(self.gradient), self.var, ev))

    def outputs(self) -> list[Expr]:
        """What generated code computes: the gradient, a constant one shaped like the variable."""
        g = self.gradient
        if g.is_scalar and not self.var.is_scalar:
            g = mul(g, Ones(self.var))
        return [g]

    def _program(self) -> Program:
        doc = f"Gradient of {to_text(self.expr)} with respect to {self.wrt}: {to_text(self.gradient)}"
        form = "tr(M'*d" + self.wrt + ")" if not (self.var.is_scalar or self.var.is_vector) else "the form above"
        comment = ["derivation (matdiff):", f"  df = {to_text(self.differential)}",
                   f"  compare with {form}: M = {to_text(self.gradient)}"]
        return Program(f"grad_{self.wrt}", self.outputs(), self.variables, guard_of=self.expr, doc=doc,
                       comment=comment, where=to_text(self.expr),
                       callable_doc=f"Gradient of {to_text(self.expr)} w.r.t. {self.wrt}.")

    def value_and_grad(self, backend: str = "numpy", batch: Batch = False) -> CompiledFunction:
        """``fg(**values) -> (value, {wrt: gradient})`` from one generated function, from this derivation."""
        return CompiledFunction(self.expr, self.variables, [self], backend, batch)


class MultiGradient(HTMLDisplay, Compilable):
    """Gradients with respect to several variables; compiled code shares their common work."""

    def __init__(self, results: dict[str, GradientResult]):
        self.results = results
        first = next(iter(results.values()))
        self.expr = first.expr
        self.variables = first.variables
        self.wrt = list(results)

    @property
    def gradient(self) -> dict[str, Expr]:
        return {k: r.gradient for k, r in self.results.items()}

    gradients = gradient

    @property
    def steps(self) -> dict[str, list[Step]]:
        return {k: r.steps for k, r in self.results.items()}

    @property
    def latex(self) -> dict[str, str]:
        return {k: r.latex for k, r in self.results.items()}

    def __getitem__(self, name: str) -> GradientResult:
        return self.results[name]

    def __str__(self) -> str:
        return "\n".join(str(r) for r in self.results.values())

    def _repr_latex_(self) -> str:
        rows = [rf"\nabla_{{{latex_name(k)}}} f &= {r.latex}" for k, r in self.results.items()]
        return "$$\\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}$$"

    def evaluate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Each gradient at ``values``, by name (one evaluation: shared subexpressions once)."""
        ev = Evaluator(self.variables, values)
        check_domain(ev, self.expr)
        return {k: ev.external(r.var, full(ev(r.gradient), r.var, ev)) for k, r in self.results.items()}

    def _program(self) -> Program:
        outs = [g for r in self.results.values() for g in r.outputs()]
        doc = f"Gradients of {to_text(self.expr)} with respect to {', '.join(self.wrt)}"
        return Program("gradients", outs, self.variables, guard_of=self.expr, doc=doc, where=to_text(self.expr))

    def _finish(self, fn: Callable[..., Any], backend: str, batch: Batch) -> Callable[..., dict[str, Any]]:
        wrt = self.wrt

        def gradients(**values: Any) -> dict[str, Any]:
            out = fn(**values)
            return dict(zip(wrt, out if len(wrt) > 1 else (out,)))
        return gradients

    def compile(self, backend: str = "numpy", batch: Batch = False) -> Callable[..., dict[str, Any]]:
        """A function of the variables returning {name: gradient}, from one generated function."""
        return super().compile(backend, batch)

    def value_and_grad(self, backend: str = "numpy", batch: Batch = False) -> CompiledFunction:
        """``fg(**values) -> (value, {name: gradient})`` from one generated function, from these derivations."""
        return CompiledFunction(self.expr, self.variables, list(self.results.values()), backend, batch)
