"""Value and gradients in one generated function (matrixcalculus.org's fAndG, JAX's value_and_grad)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import ShapeError
from ..simplify import Simplifier
from ..syntax.ast import Expr, Ones
from ..syntax.printer import to_text
from .codegen import build, generate, make_callable, pyname


class CompiledFunction:
    """``fg(**values) -> (value, {name: gradient})`` from one generated NumPy function."""

    def __init__(self, expr: str | Expr, wrt: str | Sequence[str], types: Mapping[str, str] | None = None,
                 backend: str = "numpy", batch: bool | str | Sequence[str] = False):
        from ..api import grad, typed

        names = [wrt] if isinstance(wrt, str) else list(wrt)
        f, variables = typed(expr, types)
        if not f.is_scalar:
            raise ShapeError(f"compile needs a scalar expression; {to_text(f)} is not one")
        results = [grad(f, n, types) for n in names]
        self.expr, self.wrt, self.variables = f, names, variables
        self.gradients = {n: r.gradient for n, r in zip(names, results)}
        S = Simplifier()
        outputs: list[Expr] = [S.run(f)]
        for r in results:
            g = r.gradient
            if g.is_scalar and not r.var.is_scalar:  # a constant gradient: broadcast to X's shape
                g = _broadcast(g, r.var)
            outputs.append(g)
        summary = [f"d{n}: {to_text(r.differential)}" if r.differential is not None else "" for n, r in
                   zip(names, results)]
        comment = ["derivation (matdiff):"] + [f"  grad_{n} = {to_text(r.gradient)}  from  {s}"
                                               for n, r, s in zip(names, results, summary)]
        doc = f"Value and gradients of {to_text(f)} with respect to {', '.join(names)}"
        self._source = generate("value_and_grad", outputs, variables, guard_of=f, doc=doc, comment=comment)
        self.backend = backend
        raw = build(self._source, "value_and_grad", backend)
        if batch is not False:  # value (B,) and gradients (B, ...) over a leading batch axis
            from .codegen import batched

            self._fn = batched(raw, variables, list(variables), backend, batch, where=to_text(f))
        else:
            self._fn = make_callable(raw, variables, list(variables), where=to_text(f), outputs=outputs)
        self._names = names
        self.__doc__ = doc

    def __call__(self, /, **values: Any) -> tuple[Any, dict[str, Any]]:  # a variable may be named self
        out = self._fn(**values)
        return out[0], dict(zip(self._names, out[1:]))

    def source(self, standalone: bool = False) -> str:
        """The generated Python/NumPy source; ``standalone=True`` adds the imports it needs."""
        from .codegen import standalone as _standalone

        return _standalone(self._source) if standalone else self._source

    def __repr__(self) -> str:
        return f"<matdiff compiled value_and_grad of {to_text(self.expr)} w.r.t. {', '.join(self.wrt)}>"


def _broadcast(g: Expr, var: Any) -> Expr:
    from ..build import mul

    return mul(g, Ones(var))


def compile_function(expr: str | Expr, wrt: str | Sequence[str], types: Mapping[str, str] | None = None,
                     backend: str = "numpy", batch: bool | str | Sequence[str] = False) -> CompiledFunction:
    """The function returning the value of expr and its gradients, computed together.

    ``batch=True`` (or the names of the batched arguments): over a leading batch axis, no Python loop."""
    return CompiledFunction(expr, wrt, types, backend, batch)


def compile_source(expr: str, wrt: Sequence[str], types: Mapping[str, str] | None = None) -> str:
    """The source that compile_function generates."""
    return CompiledFunction(expr, wrt, types).source()


__all__ = ["CompiledFunction", "compile_function", "compile_source", "pyname", "Callable"]
