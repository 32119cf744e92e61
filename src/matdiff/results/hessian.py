"""The Hessian of a scalar expression: w.r.t. one variable (matrix, hvp, dense), or several (blocks)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..calculus.hessians import hessian_forms
from ..calculus.jacobians import full, project
from ..calculus.steps import Derived, Step
from ..core.nodes import Expr, Var
from ..errors import MatdiffError
from ..numeric.evaluate import Evaluator, check_domain
from ..syntax.latex import latex_name, to_latex
from ..syntax.printer import to_text
from .compiled import Batch, Compilable, Program
from .derivative import Derivative, basis_columns
from .gradient import MultiGradient


class Hessian(Derived, Compilable):
    """The Hessian of a scalar expression with respect to one variable."""

    def __init__(self, f: Expr, var: Var, variables: dict[str, Var], gradient: Expr, grad_steps: list[Step]):
        self.expr_f, self.var, self.wrt, self.variables = f, var, var.name, variables
        self.gradient = gradient
        forms = hessian_forms(var, gradient, grad_steps)
        self.second_differential = forms.second_differential
        self.direction = forms.direction
        self.hvp_expr = forms.hvp_expr
        self.expr: Expr | None = forms.expr
        self.kronecker = forms.kronecker
        self.steps = forms.steps
        self._vars = {**variables, self.direction.name: self.direction}

    # -- display
    @property
    def latex(self) -> str:
        if self.expr is not None:
            return to_latex(self.expr)
        return to_latex(self.hvp_expr)

    def __str__(self) -> str:
        if self.expr is not None:
            return f"hessian_{self.wrt} {to_text(self.expr_f)} = {to_text(self.expr)}"
        return f"hessian_{self.wrt} {to_text(self.expr_f)}: H[d{self.wrt}] = {to_text(self.second_differential)}"

    def _repr_latex_(self) -> str:
        return rf"$\nabla^2_{{{latex_name(self.wrt)}}}\, {to_latex(self.expr_f)} = {self.latex}$"

    # -- numbers
    def hvp(self, values: Mapping[str, Any], direction: Any) -> Any:
        """H[V]: the Hessian applied to a direction shaped like the variable."""
        ev = Evaluator(self._vars, {**values, self.direction.name: direction})
        check_domain(ev, self.expr_f)
        return ev.external(self.var, full(ev(self.hvp_expr), self.var, ev))

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The dense Hessian: (n, n) for a vector, (mn, mn) in column-major vec for a matrix."""
        if self.expr is not None:
            ev = Evaluator(self.variables, values)
            check_domain(ev, self.expr_f)
            h = ev(self.expr)
            if self.var.is_scalar:
                return ev.external(self.expr, h) if np.ndim(h) == 0 else float(np.asarray(h).reshape(-1)[0])
            n = ev.bind.size(self.var.shape[0])
            return np.broadcast_to(h, (n, n)).copy() if np.shape(h) != (n, n) else h
        x = values.get(self.wrt) if isinstance(values, Mapping) else None
        if x is None:
            raise MatdiffError(f"no value given for {self.wrt}")
        return basis_columns(self._vars, values, self.expr_f, self.var, self.direction, self.hvp_expr, self.var,
                             np.shape(x))

    def _program(self) -> Program:
        """The Hessian matrix where symbolic, else the hvp (a function of the variables and _d_X)."""
        if self.expr is not None:
            return Program(f"hessian_{self.wrt}", [self.expr], self.variables, guard_of=self.expr_f,
                           doc=f"Hessian of {to_text(self.expr_f)} w.r.t. {self.wrt}: {to_text(self.expr)}")
        return Program(f"hvp_{self.wrt}", [self.hvp_expr], self._vars, guard_of=self.expr_f,
                       doc=f"Hessian of {to_text(self.expr_f)} w.r.t. {self.wrt} applied to _d_{self.wrt}")

    def compile(self, backend: str = "numpy", batch: Batch = False) -> Callable[..., Any]:
        """A function of the variables (keywords) returning the dense Hessian, from generated code.

        ``batch=True`` (or the names of the batched arguments): over a leading batch axis, a (B, n, n)
        result; where the Hessian is symbolic (vector and scalar variables)."""
        if batch is not False and self.expr is None:
            raise MatdiffError("batch= needs a symbolic Hessian (a vector or scalar variable); "
                               f"the Hessian with respect to {self.wrt} is computed column by column")
        return super().compile(backend, batch)

    def _finish(self, fn: Callable[..., Any], backend: str, batch: Batch) -> Callable[..., Any]:
        var = self.var
        if batch is not False:
            def batched_hessian(**values: Any) -> Any:
                h = fn(**values)
                if var.is_scalar or np.ndim(h) == 3:
                    return h
                n = np.shape(values[var.name])[-1]  # (B, n) or (n,): n is last either way
                return np.broadcast_to(np.reshape(h, np.shape(h)[:1] + (1, 1)), np.shape(h)[:1] + (n, n)).copy()
            return batched_hessian
        if self.expr is not None:
            def hessian(**values: Any) -> Any:
                h = fn(**values)
                if var.is_scalar:
                    return h
                n = np.shape(values[var.name])[0]
                return np.broadcast_to(h, (n, n)).copy() if np.shape(h) != (n, n) else h
            return hessian
        dname = self.direction.name

        def hessian_by_columns(**values: Any) -> Any:
            x = np.asarray(values[var.name])
            size = x.size
            cols = []
            for j in range(size):
                e = np.zeros(size)
                e[j] = 1.0
                vals = {**values, dname: project(e.reshape(x.shape, order="F"), var.kind)}
                out = fn(**vals)
                cols.append(np.ravel(np.broadcast_to(out, x.shape), order="F"))
            return np.stack(cols, axis=1)
        return hessian_by_columns


class MultiHessian:
    """The Hessian with respect to several variables, as blocks H[(a, b)] = d(grad_a f)/db.

    Made from the gradients (one derivation each) and the blocks derived from them
    (:func:`matdiff.results.derive.multi_hessian`)."""

    def __init__(self, gradients: MultiGradient, blocks: dict[tuple[str, str], Derivative | None]):
        self.wrt = gradients.wrt
        self.gradient = gradients
        self.expr_f = gradients.expr
        self.blocks = blocks

    def hvp(self, values: Mapping[str, Any], directions: Mapping[str, Any]) -> dict[str, Any]:
        """{a: sum_b H_ab[V_b]} for directions {b: V_b}."""
        out: dict[str, Any] = {}
        for a in self.wrt:
            acc = None
            for b in self.wrt:
                blk = self.blocks[(a, b)]
                if blk is None or b not in directions:
                    continue
                v = blk.jvp(values, directions[b])
                acc = v if acc is None else acc + v
            x = np.asarray(values[a])
            out[a] = np.zeros(x.shape) if acc is None else acc
        return out

    def evaluate(self, values: Mapping[str, Any]) -> np.ndarray:
        """The full Hessian, blocks in the order of wrt, each in column-major vec."""
        sizes = [int(np.asarray(values[a]).size) for a in self.wrt]
        rows = []
        for a, na in zip(self.wrt, sizes):
            row = []
            for b, nb in zip(self.wrt, sizes):
                blk = self.blocks[(a, b)]
                row.append(np.zeros((na, nb)) if blk is None else blk.jacobian(values))
            rows.append(np.hstack(row))
        return np.vstack(rows)

    def __str__(self) -> str:
        return "\n".join(f"H[{a},{b}]: {'0' if blk is None else to_text(blk.differential)}"
                         for (a, b), blk in self.blocks.items())
