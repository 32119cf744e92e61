"""Hessians by the second differential: d(grad f) = H dx, or d²f = tr(dX' H[dX]) for a matrix X.

For a scalar or vector variable the Hessian is identified as a matrix expression
(``x'*A*x`` gives ``A + A'``); for a matrix variable the Hessian is the linear map
``H[V]`` (the hvp, symbolic) and the dense (mn, mn) matrix in column-major vec.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .build import ZERO, add, is_zero, zero_like
from .differential import expand, expand_terms
from .errors import MatdiffError
from .jacobians import NotExpressible, _full, jacobian_matrix, kronecker_form, project, substitute
from .simplify import Simplifier
from .steps import Derived, Step
from .syntax.ast import Diff, Expr, Eye, Var
from .syntax.latex import latex_name, to_latex
from .syntax.printer import to_text


class Hessian(Derived):
    """The Hessian of a scalar expression with respect to one variable."""

    def __init__(self, f: Expr, var: Var, variables: dict[str, Var], gradient: Expr, grad_steps: list[Step]):
        self.expr_f, self.var, self.wrt, self.variables = f, var, var.name, variables
        self.gradient = gradient
        n = var.name
        dg, steps = expand(gradient, var, lhs=f"d(grad_{n} f)",
                           lhs_latex=rf"\mathrm{{d}}\left(\nabla_{{{latex_name(n)}}} f\right)")
        S = Simplifier()
        self.second_differential = S.run(dg) if dg.linear else dg
        self.direction = Var("_d_" + n, var.kind, var.shape)  # "_d_": never a name of generated code
        self.hvp_expr = S.run(substitute(dg, {Diff(var): self.direction})) if dg.linear else dg
        self.expr: Expr | None = None
        all_steps = list(grad_steps) + steps
        if var.is_scalar or var.is_vector:
            try:
                terms = expand_terms(dg) if dg.linear else []
                zero = ZERO if var.is_scalar else zero_like(Eye(like=var))  # f is linear in the variable
                h = S.run(add(*(jacobian_matrix(t, var, S) for t in terms))) if terms else zero
                if h is not None and not is_zero(h) and _has_ones(h):
                    h = None  # a broadcast inside the Hessian matrix: the hvp-based dense form is used instead
                if h is not None:
                    self.expr = h
                    form = f"d(grad_{n} f) = H*d{n}"
                    all_steps.append(Step(f"compare with {form}", f"H_{n}", h,
                                          lhs_latex=rf"\nabla^2_{{{latex_name(n)}}} f"))
            except NotExpressible:
                self.expr = None
        else:
            kron = kronecker_form(dg, var)
            self.kronecker = kron
            if kron is not None:
                lhs = r"\operatorname{vec}\left(\mathrm{d}\nabla_{" + latex_name(n) + r"} f\right)"
                all_steps.append(Step("vec(A*dX*B) = (B' ⊗ A) vec(dX)", f"vec(d(grad_{n} f))", None,
                                      rhs_text=kron[0], rhs_latex=kron[1], lhs_latex=lhs))
        self.steps = all_steps
        self._vars = {**variables, self.direction.name: self.direction}
        self._fn: Callable[..., Any] | None = None
        self._fn_backend: Any = None

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

    def _repr_html_(self) -> str | None:
        from .web.notebook import hessian_html

        return hessian_html(self)

    # -- numbers
    def hvp(self, values: Mapping[str, Any], direction: Any) -> Any:
        """H[V]: the Hessian applied to a direction shaped like the variable."""
        from .numeric.evaluate import Evaluator, check_domain

        ev = Evaluator(self._vars, {**values, self.direction.name: direction})
        check_domain(ev, self.expr_f)
        return ev.external(self.var, _full(ev(self.hvp_expr), self.var, ev))

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The dense Hessian: (n, n) for a vector, (mn, mn) in column-major vec for a matrix."""
        from .numeric.evaluate import Evaluator, check_domain

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
        shape = np.shape(x)
        size = int(np.prod(shape)) if shape else 1
        ev = Evaluator(self._vars, {**values, self.direction.name: np.zeros(shape) if shape else 0.0})
        check_domain(ev, self.expr_f)
        cols = []
        name = self.direction.name
        for j in range(size):
            e = np.zeros(size)
            e[j] = 1.0
            v = project(e.reshape(shape, order="F"), self.var.kind) if shape else 1.0
            ev.bind.values[name] = v.reshape(-1, 1) if self.var.is_vector else v
            ev.forget(name)
            cols.append(np.ravel(np.asarray(_full(ev(self.hvp_expr), self.var, ev)), order="F"))
        return np.stack(cols, axis=1)

    def source(self, backend: str = "numpy", standalone: bool = False) -> str:
        """Generated NumPy source: the Hessian matrix where symbolic, else the hvp."""
        from .numeric.codegen import generate
        from .numeric.codegen import standalone as _standalone

        if standalone:
            return _standalone(self.source(backend))

        if self.expr is not None:
            return generate(f"hessian_{self.wrt}", [self.expr], self.variables, guard_of=self.expr_f,
                            doc=f"Hessian of {to_text(self.expr_f)} w.r.t. {self.wrt}: {to_text(self.expr)}")
        return generate(f"hvp_{self.wrt}", [self.hvp_expr], self._vars, guard_of=self.expr_f,
                        doc=f"Hessian of {to_text(self.expr_f)} w.r.t. {self.wrt} applied to _d_{self.wrt}")

    def compile(self, backend: str = "numpy", batch: Any = False) -> Callable[..., Any]:
        """A function of the variables (keywords) returning the dense Hessian, from generated code.

        ``batch=True`` (or the names of the batched arguments): over a leading batch axis, a (B, n, n)
        result; where the Hessian is symbolic (vector and scalar variables)."""
        key = (backend, batch if isinstance(batch, (bool, str)) else tuple(batch))
        if self._fn is not None and self._fn_backend == key:
            return self._fn
        from .numeric.codegen import build, make_callable

        src = self.source()
        names = list(self.variables)
        if batch is not False:
            if self.expr is None:
                raise MatdiffError("batch= needs a symbolic Hessian (a vector or scalar variable); "
                                   f"the Hessian with respect to {self.wrt} is computed column by column")
            from .numeric.codegen import batched

            bfn = batched(build(src, f"hessian_{self.wrt}", backend), self.variables, names, backend, batch)
            var = self.var

            def batched_hessian(**values: Any) -> Any:
                h = bfn(**values)
                if var.is_scalar or np.ndim(h) == 3:
                    return h
                n = np.shape(values[var.name])[-1]  # (B, n) or (n,): n is last either way
                return np.broadcast_to(np.reshape(h, np.shape(h)[:1] + (1, 1)), np.shape(h)[:1] + (n, n)).copy()
            self._fn, self._fn_backend = batched_hessian, key
            return batched_hessian
        if self.expr is not None:
            fn = make_callable(build(src, f"hessian_{self.wrt}", backend), self.variables, names, outputs=[self.expr])
            var = self.var

            def hessian(**values: Any) -> Any:
                h = fn(**values)
                if var.is_scalar:
                    return h
                n = np.shape(values[var.name])[0]
                return np.broadcast_to(h, (n, n)).copy() if np.shape(h) != (n, n) else h
        else:
            fn = make_callable(build(src, f"hvp_{self.wrt}", backend), self._vars, names + [self.direction.name],
                               outputs=[self.hvp_expr])
            var, dname = self.var, self.direction.name

            def hessian(**values: Any) -> Any:
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
        self._fn, self._fn_backend = hessian, key
        return hessian


def _has_ones(e: Expr) -> bool:
    from .syntax.ast import Ones

    return isinstance(e, Ones) or any(_has_ones(c) for c in e.children)


class MultiHessian:
    """The Hessian with respect to several variables, as blocks H[(a, b)] = d(grad_a f)/db."""

    def __init__(self, expr: Any, wrt: list[str], types: Any = None):
        from .api import derivative, grad

        self.wrt = wrt
        r = grad(expr, wrt=wrt, types=types)
        self.gradient = r
        self.expr_f = r.expr
        self.blocks = {(a, b): derivative(r.results[a].gradient, b, types) if b in
                       r.results[a].gradient.free else None for a in wrt for b in wrt}
        self._r = r

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
