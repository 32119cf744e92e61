"""Derivatives of vector- and matrix-valued expressions: jvp, vjp, the dense Jacobian, Kronecker forms.

``dF`` comes from the same rules as a gradient.  The jvp puts a direction in place of dX; the
vjp is the adjoint identified symbolically from tr(C' dF) = tr(M' dX) (so reverse mode costs
what forward mode does); the dense Jacobian uses column-major vec:
vec(A dX B) = (B' ⊗ A) vec(dX), vec(dX') = K vec(dX) (K the commutation matrix),
vec(G .* dX) = diag(vec(G)) vec(dX).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .build import ONE, ZERO, T, add, hdiv, mul, neg
from .differential import adjoint, expand, expand_terms
from .errors import MatdiffError, ShapeError
from .functions.reductions import diag
from .simplify import Simplifier, split_coefficient, symmetric_part
from .steps import Derived, Step
from .syntax.ast import (
    Add,
    Call,
    Diff,
    Div,
    Expr,
    Eye,
    Hadamard,
    HDiv,
    MatMul,
    Neg,
    Ones,
    Transpose,
    Var,
)
from .syntax.latex import to_latex
from .syntax.printer import to_text
from .syntax.typing import variables as variables_of


def substitute(e: Expr, mapping: Mapping[Expr, Expr]) -> Expr:
    """e with each occurrence of a key replaced by its value (structural match)."""
    memo: dict[Expr, Expr] = {}

    def go(x: Expr) -> Expr:
        got = mapping.get(x)
        if got is not None:
            return got
        if not x.children:
            return x
        if x in memo:
            return memo[x]
        kids = tuple(go(c) for c in x.children)
        out = x if all(a is b for a, b in zip(kids, x.children)) else x.rebuild(kids)
        memo[x] = out
        return out

    return go(e)


def _kind_of(e: Expr) -> str:
    return "scalar" if e.is_scalar else "vector" if e.is_vector else "matrix"


def fresh_name(base: str, taken: Mapping[str, Any]) -> str:
    name, k = base, 1
    while name in taken:
        name, k = f"{base}{k}", k + 1
    return name


class Derivative(Derived):
    """The derivative of F (any shape) with respect to X: dF, jvp, vjp, the dense Jacobian."""

    def __init__(self, f: Expr, var: Var, variables: dict[str, Var], df: Expr, steps: list[Step]):
        self.expr, self.var, self.wrt, self.variables = f, var, var.name, variables
        self.differential = df
        S = Simplifier()
        self.direction = Var("_d_" + var.name, var.kind, var.shape)
        self.jvp_expr = S.run(substitute(df, {Diff(var): self.direction})) if df.linear else df
        # the adjoint: tr(C' dF) = tr(M' dX), M = vjp(C)
        self.cotangent = Var("_c", _kind_of(f), f.shape)
        terms = expand_terms(df) if df.linear else []
        m = S.run(add(*(adjoint(t, self.cotangent, []) for t in terms))) if terms else ZERO
        if var.kind == "diagonal" and not var.is_scalar:
            m = S.run(diag(diag(m)))
        elif var.symmetric and not var.is_scalar:
            m = symmetric_part(m, S)
        self.vjp_expr = m
        shown = Var(fresh_name("C", variables), _kind_of(f), f.shape)
        self.kronecker = kronecker_form(df, var)
        steps = list(steps)
        if self.kronecker is not None:
            steps.append(Step("vec(A*dX*B) = (B' ⊗ A) vec(dX); vec(dX') = K vec(dX)", "vec(dF)", None,
                              rhs_text=self.kronecker[0], rhs_latex=self.kronecker[1],
                              lhs_latex=r"\operatorname{vec}(\mathrm{d}F)"))
        steps.append(Step(f"adjoint: tr({shown.name}'*dF) = tr(M'*d{var.name})", f"vjp({shown.name})",
                          substitute(m, {self.cotangent: shown})))
        self.steps = steps
        self._jvp_vars = {**variables, self.direction.name: self.direction}
        self._vjp_vars = {**variables, self.cotangent.name: self.cotangent}

    # -- display
    @property
    def latex(self) -> str:
        return to_latex(self.differential)

    def __str__(self) -> str:
        return f"d({to_text(self.expr)}) = {to_text(self.differential)}"

    def _repr_latex_(self) -> str:
        return rf"$\mathrm{{d}}\left({to_latex(self.expr)}\right) = {self.latex}$"

    def _repr_html_(self) -> str | None:
        from .web.notebook import derivative_html

        return derivative_html(self)

    # -- numbers
    def _eval(self, expr: Expr, names: dict[str, Var], values: Mapping[str, Any], extra: dict[str, Any]) -> Any:
        from .numeric.evaluate import Evaluator, check_domain

        ev = Evaluator(names, {**values, **extra})
        check_domain(ev, self.expr)
        return ev, ev(expr)

    def jvp(self, values: Mapping[str, Any], direction: Any) -> Any:
        """dF for dX = direction, shaped like F."""
        try:
            ev, out = self._eval(self.jvp_expr, self._jvp_vars, values, {self.direction.name: direction})
        except ShapeError as err:
            raise ShapeError(str(err).replace(self.direction.name, f"the direction d{self.wrt}")) from None
        return ev.external(self.expr, _full(out, self.expr, ev))

    def vjp(self, values: Mapping[str, Any], cotangent: Any) -> Any:
        """The adjoint applied to a cotangent C shaped like F: M with tr(C' dF) = tr(M' dX), shaped like X."""
        if not self.expr.is_scalar and self.expr.shape[0].find().value == 1 and np.ndim(cotangent) == 1:
            cotangent = np.reshape(cotangent, (1, -1))  # F is a row vector, given 1-D as evaluate gives it
        try:
            ev, out = self._eval(self.vjp_expr, self._vjp_vars, values, {self.cotangent.name: cotangent})
        except ShapeError as err:
            raise ShapeError(str(err).replace(self.cotangent.name, "the cotangent (shaped like F)")) from None
        return ev.external(self.var, _full(out, self.var, ev))

    def jacobian(self, values: Mapping[str, Any]) -> np.ndarray:
        """The dense Jacobian, shape (F.size, X.size), rows and columns in column-major vec order."""
        from .numeric.evaluate import Evaluator, check_domain

        x = np.asarray(values[self.wrt]) if self.wrt in values else None
        if x is None:
            raise MatdiffError(f"no value given for {self.wrt}")
        shape = np.shape(x)
        n_in = int(np.prod(shape)) if shape else 1
        probe = np.zeros(shape) if shape else 0.0
        ev = Evaluator(self._jvp_vars, {**values, self.direction.name: probe})
        check_domain(ev, self.expr)
        cols = []
        dname = self.direction.name
        for j in range(n_in):
            e = np.zeros(n_in)
            e[j] = 1.0
            v = project(e.reshape(shape, order="F"), self.var.kind) if shape else 1.0
            ev.bind.values[dname] = v.reshape(-1, 1) if self.var.is_vector else v
            ev.forget(dname)
            out = _full(ev(self.jvp_expr), self.expr, ev)
            cols.append(np.ravel(np.asarray(out), order="F"))
        return np.stack(cols, axis=1)


def project(v: np.ndarray, kind: str) -> np.ndarray:
    """A direction projected on the variable's space: symmetric part, or diagonal part."""
    if kind in ("symmetric", "spd"):
        return (v + v.T) / 2
    if kind == "diagonal":
        return np.diag(np.diag(v))
    return v


def _full(value: Any, like: Expr, ev: Any) -> Any:
    """A zero (or scalar) broadcast to the shape of like."""
    if like.is_scalar:
        return value
    shape = (ev.bind.size(like.shape[0]), ev.bind.size(like.shape[1]))
    if np.shape(value) != shape:
        value = np.broadcast_to(value, shape).copy()
    return value


# ------------------------------------------------------------------------------ Kronecker form
def kronecker_form(df: Expr, var: Var) -> tuple[str, str] | None:
    """vec(dF) = (sum of Kronecker terms) vec(dX) as (text, LaTeX), or None where not expressible."""
    if not df.linear:
        return ("0", "0")
    parts_t: list[str] = []
    parts_l: list[str] = []
    S = Simplifier()
    for t in expand_terms(df):
        got = _kron_term(S.run(t), var, S)
        if got is None:
            return None
        parts_t.append(got[0])
        parts_l.append(got[1])
    text = " + ".join(parts_t).replace("+ -", "- ")
    latex = " + ".join(parts_l).replace("+ -", "- ")
    if len(parts_t) > 1:
        text, latex = f"({text})", rf"\left({latex}\right)"
    return f"{text} vec(d{var.name})", rf"{latex}\operatorname{{vec}}(\mathrm{{d}}{var.name})"


def _kron_term(t: Expr, var: Var, S: Simplifier) -> tuple[str, str] | None:
    coef, rest = split_coefficient(t)
    factors = list(rest.factors) if isinstance(rest, MatMul) else [rest]
    scal = [f for f in factors if f.is_scalar and not f.linear]
    chain = [f for f in factors if not (f.is_scalar and not f.linear)]
    ks = [i for i, f in enumerate(chain) if f.linear]
    if len(ks) != 1:
        return None
    k = ks[0]
    lin = chain[k]
    transposed = isinstance(lin, Transpose) and isinstance(lin.arg, Diff)
    if not (isinstance(lin, Diff) or transposed):
        if isinstance(lin, Hadamard) and len(chain) == 1:
            d, g = (lin.a, lin.b) if lin.a.linear else (lin.b, lin.a)
            if isinstance(d, Diff):
                c = S.run(mul(*scal, coef_num(coef), g))
                return f"diag(vec({to_text(c)}))", rf"\operatorname{{diag}}(\operatorname{{vec}}({to_latex(c)}))"
        return None
    left = S.run(mul(*chain[:k])) if k else None
    right = S.run(mul(*chain[k + 1:])) if k + 1 < len(chain) else None
    c = S.run(mul(coef_num(coef), *scal)) if (scal or coef != 1) else None
    a_t = _wrap(to_text(left)) if left is not None else "I"
    b_t = _wrap(to_text(S.run(T(right)))) if right is not None else "I"
    a_l = _wrap_latex(left) if left is not None else "I"
    b_l = _wrap_latex(S.run(T(right))) if right is not None else "I"
    text = f"({b_t} ⊗ {a_t})" + (" K" if transposed else "")
    latex = rf"\left({b_l} \otimes {a_l}\right)" + (" K" if transposed else "")
    if c is not None:
        text = f"{to_text(c)}*{text}"
        latex = f"{to_latex(c)} {latex}"
    return text, latex


def _wrap(text: str) -> str:
    """Parentheses around a sum beside the Kronecker sign."""
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and ch in "+-" and text.strip()[0] != ch:
            return f"({text})"
    return text


def _wrap_latex(e: Expr) -> str:
    return rf"\left({to_latex(e)}\right)" if isinstance(e, Add) else to_latex(e)


def coef_num(c: Any) -> Expr:
    from .syntax.ast import Num

    return Num(c)


# ------------------------------------------------------------------------------ J in dg = J dx
class NotExpressible(Exception):
    pass


def jacobian_matrix(e: Expr, var: Var, S: Simplifier) -> Expr:
    """J with e = J * dx for a linear form e in a vector (or scalar) dx; NotExpressible otherwise."""
    if e.is_scalar:
        return S.run(T(adjoint(e, ONE, [])))  # a row: the gradient, transposed
    if isinstance(e, Diff):
        return Eye(like=var)
    if isinstance(e, Add):
        return add(*(jacobian_matrix(t, var, S) if not t.is_scalar else
                     mul(Ones(shape_of(e)), jacobian_matrix(t, var, S)) for t in e.terms if t.linear))
    if isinstance(e, Neg):
        return neg(jacobian_matrix(e.arg, var, S))
    if isinstance(e, Div):
        return mul(jacobian_matrix(e.num, var, S), hdiv(ONE, e.den))
    if isinstance(e, MatMul):
        fs = e.factors
        k = next(i for i, f in enumerate(fs) if f.linear)
        f = fs[k]
        scal = [g for i, g in enumerate(fs) if i != k and g.is_scalar]
        left = [g for g in fs[:k] if not g.is_scalar]
        right = [g for g in fs[k + 1:] if not g.is_scalar]
        if f.is_scalar:
            return mul(*scal, *left, *right, jacobian_matrix(f, var, S))
        if right:
            raise NotExpressible
        return mul(*scal, *left, jacobian_matrix(f, var, S))
    if isinstance(e, Hadamard):
        lin, g = (e.a, e.b) if e.a.linear else (e.b, e.a)
        if g.is_scalar or lin.is_scalar:  # a scalar times the other: its Jacobian scaled (or an outer product)
            return mul(g, jacobian_matrix(lin, var, S))
        if not g.is_vector:
            raise NotExpressible
        return mul(diag(g), jacobian_matrix(lin, var, S))
    if isinstance(e, HDiv):
        if e.a.is_scalar:
            return mul(hdiv(ONE, e.b), jacobian_matrix(e.a, var, S))
        if not e.b.is_vector:
            raise NotExpressible
        return mul(diag(hdiv(ONE, e.b)), jacobian_matrix(e.a, var, S))
    raise NotExpressible


def shape_of(e: Expr) -> Expr:
    from .build import shape_like, undiff

    return shape_like(undiff(e))


def derivative(f: Expr, var: Var, variables: dict[str, Var]) -> Derivative:
    df, steps = expand(f, var)
    return Derivative(f, var, variables, df, steps)


__all__ = ["Derivative", "derivative", "substitute", "kronecker_form", "jacobian_matrix", "NotExpressible",
           "variables_of", "Call"]
