"""The derivative of an expression of any shape: dF, jvp, vjp and the dense Jacobian."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..calculus.jacobians import (
    NotExpressible,
    adjoint_form,
    fresh_name,
    full,
    jacobian_matrix,
    kind_of,
    kronecker_form,
    project,
    substitute,
)
from ..calculus.simplify import Simplifier
from ..calculus.steps import Derived, Step
from ..core.nodes import Diff, Expr, Var
from ..errors import MatdiffError, ShapeError
from ..numeric.evaluate import Evaluator, check_domain
from ..syntax.latex import to_latex
from ..syntax.printer import to_text
from .compiled import Compilable, Program


class Derivative(Derived, Compilable):
    """The derivative of F (any shape) with respect to X: dF, jvp, vjp, the dense Jacobian.

    ``compile()``/``source()``: the Jacobian J (dF = J*dx) where F and x are vectors or scalars, else the
    jvp, a function of the variables and the direction ``_d_X``."""

    def _program(self) -> Program:
        if self.matrix is not None:
            return Program(f"jacobian_{self.wrt}", [self.matrix], self.variables, guard_of=self.expr,
                           doc=f"Jacobian of {to_text(self.expr)} w.r.t. {self.wrt}: {to_text(self.matrix)}")
        return Program(f"jvp_{self.wrt}", [self.jvp_expr], self._jvp_vars, guard_of=self.expr,
                       doc=f"d({to_text(self.expr)}) along the direction _d_{self.wrt} of {self.wrt}")

    def __init__(self, f: Expr, var: Var, variables: dict[str, Var], df: Expr, steps: list[Step]):
        self.expr, self.var, self.wrt, self.variables = f, var, var.name, variables
        self.differential = df
        S = Simplifier()
        self.direction = Var("_d_" + var.name, var.kind, var.shape)
        self.jvp_expr = S.run(substitute(df, {Diff(var): self.direction})) if df.linear else df
        # the adjoint: tr(C' dF) = tr(M' dX), M = vjp(C)
        self.cotangent = Var("_c", kind_of(f), f.shape)
        m = self.vjp_expr = adjoint_form(df, var, self.cotangent, S)
        shown = Var(fresh_name("C", variables), kind_of(f), f.shape)
        self.kronecker = kronecker_form(df, var)
        steps = list(steps)
        self.matrix = _jacobian_matrix(f, var, df, S)
        if self.matrix is not None:
            steps.append(Step(f"collect: dF = J*d{var.name}", "J", self.matrix))
        elif self.kronecker is not None:
            steps.append(Step("vec(A*dX*B) = (B' ⊗ A) vec(dX); vec(dX') = K vec(dX)", "vec(dF)", None,
                              rhs_text=self.kronecker[0], rhs_latex=self.kronecker[1],
                              lhs_latex=r"\operatorname{vec}(\mathrm{d}F)"))
        steps.append(Step(f"adjoint: tr({shown.name}'*dF) = tr(M'*d{var.name})", f"vjp({shown.name})",
                          S.run(substitute(m, {self.cotangent: shown}))))
        self.steps = steps
        self._jvp_vars = {**variables, self.direction.name: self.direction}
        self._vjp_vars = {**variables, self.cotangent.name: self.cotangent}

    # -- display
    @property
    def jacobian_text(self) -> str | None:
        """J with dF = J*dx, for a vector-valued F of a vector or scalar x (``diag(s) - s*s'`` for softmax(x))."""
        return to_text(self.matrix) if self.matrix is not None else None

    @property
    def latex(self) -> str:
        return to_latex(self.differential)

    def __str__(self) -> str:
        return f"d({to_text(self.expr)}) = {to_text(self.differential)}"

    def _repr_latex_(self) -> str:
        return rf"$\mathrm{{d}}\left({to_latex(self.expr)}\right) = {self.latex}$"

    # -- numbers
    def _eval(self, expr: Expr, names: dict[str, Var], values: Mapping[str, Any], extra: dict[str, Any]) -> Any:
        ev = Evaluator(names, {**values, **extra})
        check_domain(ev, self.expr)
        return ev, ev(expr)

    def jvp(self, values: Mapping[str, Any], direction: Any) -> Any:
        """dF for dX = direction, shaped like F."""
        try:
            ev, out = self._eval(self.jvp_expr, self._jvp_vars, values, {self.direction.name: direction})
        except ShapeError as err:
            raise ShapeError(str(err).replace(self.direction.name, f"the direction d{self.wrt}")) from None
        return ev.external(self.expr, full(out, self.expr, ev))

    def vjp(self, values: Mapping[str, Any], cotangent: Any) -> Any:
        """The adjoint applied to a cotangent C shaped like F: M with tr(C' dF) = tr(M' dX), shaped like X."""
        if not self.expr.is_scalar and self.expr.shape[0].find().value == 1 and np.ndim(cotangent) == 1:
            cotangent = np.reshape(cotangent, (1, -1))  # F is a row vector, given 1-D as evaluate gives it
        try:
            ev, out = self._eval(self.vjp_expr, self._vjp_vars, values, {self.cotangent.name: cotangent})
        except ShapeError as err:
            raise ShapeError(str(err).replace(self.cotangent.name, "the cotangent (shaped like F)")) from None
        return ev.external(self.var, full(out, self.var, ev))

    def jacobian(self, values: Mapping[str, Any]) -> np.ndarray:
        """The dense Jacobian, shape (F.size, X.size), rows and columns in column-major vec order."""
        x = np.asarray(values[self.wrt]) if self.wrt in values else None
        if x is None:
            raise MatdiffError(f"no value given for {self.wrt}")
        return basis_columns(self._jvp_vars, values, self.expr, self.var, self.direction, self.jvp_expr, self.expr,
                             np.shape(x))


def basis_columns(variables: Mapping[str, Var], values: Mapping[str, Any], guarded: Expr, var: Var, direction: Var,
                  linear: Expr, like: Expr, shape: tuple[int, ...]) -> np.ndarray:
    """The matrix of a linear map V -> linear(V) (a jvp, an hvp), column j its value at the j-th unit direction
    (projected on the variable's space), rows and columns in column-major vec order; one evaluator, the domain of
    ``guarded`` checked once, only what depends on the direction recomputed per column."""
    n = int(np.prod(shape)) if shape else 1
    ev = Evaluator(variables, {**values, direction.name: np.zeros(shape) if shape else 0.0})
    check_domain(ev, guarded)
    cols = []
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1.0
        v = project(e.reshape(shape, order="F"), var.kind) if shape else 1.0
        ev.bind.values[direction.name] = v.reshape(-1, 1) if var.is_vector else v
        ev.forget(direction.name)
        cols.append(np.ravel(np.asarray(full(ev(linear), like, ev)), order="F"))
    return np.stack(cols, axis=1)


def _jacobian_matrix(f: Expr, var: Var, df: Expr, S: Simplifier) -> Expr | None:
    """J with dF = J*dx where F is a vector and x a vector or a scalar, else None."""
    if not (f.is_vector and (var.is_vector or var.is_scalar)) or not df.linear:
        return None
    try:
        J = S.run(jacobian_matrix(df, var, S))
    except (NotExpressible, ShapeError):  # a form jacobian_matrix does not collect (the dF shown stays right)
        return None
    if J.is_scalar and not (f.is_scalar and var.is_scalar) or J.shape is None or \
            J.shape[0].size() != f.shape[0].size() or J.shape[1].size() != var.shape[0].size():
        return None
    return J
