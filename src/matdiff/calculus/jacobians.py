"""The calculus of derivatives of vector- and matrix-valued expressions: adjoints, Kronecker forms, J in dg = J dx.

``dF`` comes from the same rules as a gradient.  The jvp puts a direction in place of dX; the
vjp is the adjoint identified symbolically from tr(C' dF) = tr(M' dX) (:func:`adjoint_form`, so
reverse mode costs what forward mode does); the dense Jacobian uses column-major vec:
vec(A dX B) = (B' ⊗ A) vec(dX), vec(dX') = K vec(dX) (K the commutation matrix),
vec(G .* dX) = diag(vec(G)) vec(dX).  The result class is :class:`matdiff.results.derivative.Derivative`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core.build import ONE, ZERO, T, add, hdiv, mul, neg, shape_like, undiff
from ..core.nodes import (
    Add,
    Diff,
    Div,
    Expr,
    Eye,
    Hadamard,
    HDiv,
    MatMul,
    Neg,
    Num,
    Ones,
    Transpose,
    Var,
)
from ..functions.reductions import diag
from ..syntax.latex import to_latex
from ..syntax.printer import to_text
from .differential import adjoint, expand_terms
from .simplify import Simplifier, split_coefficient, symmetric_part


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


def kind_of(e: Expr) -> str:
    return "scalar" if e.is_scalar else "vector" if e.is_vector else "matrix"


def fresh_name(base: str, taken: Mapping[str, Any]) -> str:
    name, k = base, 1
    while name in taken:
        name, k = f"{base}{k}", k + 1
    return name


def adjoint_form(df: Expr, var: Var, cotangent: Var, S: Simplifier) -> Expr:
    """M with tr(C' dF) = tr(M' dX) for the cotangent C: the vjp, projected on the variable's space."""
    terms = expand_terms(df) if df.linear else []
    m = S.run(add(*(adjoint(t, cotangent, []) for t in terms))) if terms else ZERO
    if var.kind == "diagonal" and not var.is_scalar:
        m = S.run(diag(diag(m)))
    elif var.symmetric and not var.is_scalar:
        m = symmetric_part(m, S)
    return m


def project(v: np.ndarray, kind: str) -> np.ndarray:
    """A direction projected on the variable's space: symmetric part, or diagonal part."""
    if kind in ("symmetric", "spd"):
        return (v + v.T) / 2
    if kind == "diagonal":
        return np.diag(np.diag(v))
    return v


def full(value: Any, like: Expr, ev: Any) -> Any:
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
        text, latex = got
        if len(expand_terms(df)) > 1 and text.startswith("(") and text.endswith(")"):
            text, latex = text[1:-1], latex[len(r"\left("):-len(r"\right)")]  # ⊗ binds tighter than +
        parts_t.append(text)
        parts_l.append(latex)
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
    if c == Num(-1):  # -(B' ⊗ A), not -1*(B' ⊗ A)
        text, latex = f"-{text}", f"-{latex}"
    elif c is not None:
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
    return shape_like(undiff(e))
