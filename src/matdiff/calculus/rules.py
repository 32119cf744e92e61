"""The differential of each operator: one line a rule (a function's own rule is in its registry entry).

A rule takes the node ``e`` (its operands are ``e.arg`` or ``e.a, e.b`` ...) and ``d``,
which gives the differential of an operand (``0`` for a constant, ``dX`` for the
variable, else a pending ``d(...)`` that the next step expands).  Each entry is
``(name shown in the steps, rule)``.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.build import TWO, ZERO, T, add, div, epower, had, hdiv, mul, neg, power, sub
from ..core.nodes import (
    Add,
    Call,
    Div,
    EPower,
    Expr,
    Eye,
    Hadamard,
    HDiv,
    MatMul,
    Neg,
    Num,
    Ones,
    Power,
    Transpose,
    integer_value,
)
from ..errors import LimitError, MatdiffError
from ..functions.elementwise import log
from ..functions.linalg import inv
from ..functions.matfun import spd_power_differential

Rule = Callable[[Expr, Callable[[Expr], Expr]], Expr]


MAX_PRODUCT_WORK = 10_000
MAX_MATRIX_POWER = 500


def _product(e: Expr, d: Callable[[Expr], Expr]) -> Expr:
    fs = e.factors  # type: ignore[attr-defined]
    varying = [i for i, f in enumerate(fs) if not isinstance(d(f), Num)]
    if len(varying) * len(fs) > MAX_PRODUCT_WORK:

        raise LimitError(f"the product rule on a product of {len(fs)} factors would write {len(varying)} "
                         f"terms of {len(fs)} factors each; write repeated factors as a power (a^k)")
    return add(*(mul(*fs[:i], d(fs[i]), *fs[i + 1:]) for i in varying))


def _power(e: Expr, d: Callable[[Expr], Expr]) -> Expr:
    a, p = e.base, e.exp  # type: ignore[attr-defined]
    if a.is_scalar:
        if not p.free:  # d(u^p) = p u^(p-1) du
            return mul(p, power(a, add(p, Num(-1))), d(a))
        return mul(e, add(mul(log(a), d(p)), div(mul(p, d(a)), a)))
    k = integer_value(p)
    if k is None:  # S^p, S spd (checked when typing): the Fréchet derivative of U diag(w^p) U'
        return spd_power_differential(a, d(a), p)
    if k < 0:  # A^-k = inv(A)^k
        return d(power(inv(a), Num(-k)))
    if k > MAX_MATRIX_POWER:

        raise LimitError(f"d(A^{k}) has {k} terms A^i dA A^({k}-1-i) (A and dA need not commute); "
                         f"powers above {MAX_MATRIX_POWER} are refused")
    # d(A^k) = sum_i A^i dA A^(k-1-i)
    return add(*(mul(power(a, Num(i)) if i else Num(1), d(a), power(a, Num(k - 1 - i)) if k - 1 - i else Num(1))
                 for i in range(k)))


def _epower(e: Expr, d: Callable[[Expr], Expr]) -> Expr:
    a, p = e.a, e.b  # type: ignore[attr-defined]
    if not p.free:  # d(X.^p) = p X.^(p-1) .* dX
        return had(mul(p, epower(a, add(p, Num(-1)))), d(a))
    return had(e, add(had(log(a), d(p)), hdiv(had(p, d(a)), a)))


# d of an operator node; the name may depend on the node
OP_RULES: dict[type, tuple[str | Callable[[Expr], str], Rule]] = {
    Add:       ("linearity: d(U + V) = dU + dV", lambda e, d: add(*(d(t) for t in e.terms))),
    Neg:       ("linearity", lambda e, d: neg(d(e.arg))),
    MatMul:    ("product rule", _product),
    Div:       ("quotient rule: d(U/c) = dU/c - U dc/c^2",
                lambda e, d: sub(div(d(e.num), e.den), div(mul(e.num, d(e.den)), power(e.den, TWO)))),
    Hadamard:  ("product rule: d(U .* V) = dU .* V + U .* dV",
                lambda e, d: add(had(d(e.a), e.b), had(e.a, d(e.b)))),
    HDiv:      ("quotient rule: d(U ./ V) = dU ./ V - U .* dV ./ V.^2",
                lambda e, d: sub(hdiv(d(e.a), e.b), hdiv(had(e.a, d(e.b)), epower(e.b, TWO)))),
    Power:     ("power rule", _power),
    EPower:    ("power rule: d(U.^p) = p U.^(p-1) .* dU", _epower),
    Transpose: ("d(X') = (dX)'", lambda e, d: T(d(e.arg))),
    Eye:       ("dI = 0", lambda e, d: ZERO),
    Ones:      ("d1 = 0", lambda e, d: ZERO),
    Num:       ("d(constant) = 0", lambda e, d: ZERO),
}


def rule_for(e: Expr) -> tuple[str, Rule]:
    """The (name, rule) that gives d(e)."""
    if isinstance(e, Call):  # the function's own rule, from its registry entry
        if e.fn.rule is None:
            raise MatdiffError(f"{e.fn.name} has no differential rule")
        return e.fn.rule
    name, rule = OP_RULES[type(e)]
    return (name(e) if callable(name) else name), rule
