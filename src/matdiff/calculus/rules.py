"""The differential of each operator: one line a rule (a function's own rule is in its registry entry).

A rule takes the node ``e`` (its operands are ``e.arg`` or ``e.a, e.b`` ...) and ``d``,
which gives the differential of an operand (``0`` for a constant, ``dX`` for the
variable, else a pending ``d(...)`` that the next step expands).  Each entry is
``(name shown in the steps, rule)``; the name may be a function of the node (``d(t^p)`` for a scalar power,
``d(U^k)`` for a matrix power).

The names use neutral letters, the same in every rule here and in every registry entry: U, V, W for
varying operands (u, v, w for vectors), P, Q for constant matrices, c, t for scalars, p, k for numbers,
E, F for directions, M for a generic matrix (a cotangent, the gradient), S for a symmetric argument.
:func:`neutral` renames a letter that the expression itself uses (the user's A in ``tr(A*X*B)`` wrt A
never reads as a constant of a rule).
"""

from __future__ import annotations

import re
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
def _power_name(e: Expr) -> str:
    a, p = e.base, e.exp  # type: ignore[attr-defined]
    if a.is_scalar:
        return "power rule: d(t^p) = p*t^(p-1)*dt" if not p.free else \
            "power rule: d(t^c) = t^c*(log(t)*dc + c*dt/t)"
    k = integer_value(p)
    if k is None:
        return "d(S^p) = powm_d(S, dS, p), the Fréchet derivative of S^p (S spd)"
    if k < 0:
        return "d(U^-k) = d(inv(U)^k)"
    return "power rule: d(U^k) = sum_i U^i*dU*U^(k-1-i)"


OP_RULES: dict[type, tuple[str | Callable[[Expr], str], Rule]] = {
    Add:       ("linearity: d(U + V) = dU + dV", lambda e, d: add(*(d(t) for t in e.terms))),
    Neg:       ("linearity: d(-U) = -dU", lambda e, d: neg(d(e.arg))),
    MatMul:    ("product rule: d(U*V) = dU*V + U*dV", _product),
    Div:       ("quotient rule: d(U/t) = dU/t - U*dt/t^2",
                lambda e, d: sub(div(d(e.num), e.den), div(mul(e.num, d(e.den)), power(e.den, TWO)))),
    Hadamard:  ("product rule: d(U .* V) = dU .* V + U .* dV",
                lambda e, d: add(had(d(e.a), e.b), had(e.a, d(e.b)))),
    HDiv:      ("quotient rule: d(U ./ V) = dU ./ V - U .* dV ./ V.^2",
                lambda e, d: sub(hdiv(d(e.a), e.b), hdiv(had(e.a, d(e.b)), epower(e.b, TWO)))),
    Power:     (_power_name, _power),
    EPower:    ("power rule: d(U.^p) = p*U.^(p-1) .* dU", _epower),
    Transpose: ("d(U') = (dU)'", lambda e, d: T(d(e.arg))),
    Eye:       ("dI = 0", lambda e, d: ZERO),
    Ones:      ("d1 = 0", lambda e, d: ZERO),
    Num:       ("d(constant) = 0", lambda e, d: ZERO),
}


def rule_for(e: Expr) -> tuple[str, Rule]:
    """The (name, rule) that gives d(e)."""
    if isinstance(e, Call):  # the function's own rule, from its registry entry
        if e.fn.rule is None:
            raise MatdiffError(f"{e.fn.name} has no differential rule")
        name, rule = e.fn.rule
    else:
        name, rule = OP_RULES[type(e)]
    return (name(e) if callable(name) else name), rule


# the letters a rule's name may use, and the ones that replace a letter the expression uses
_UPPER_SPARE = "UVWPQKLGHNRTYZJ"
_LOWER_SPARE = "uvwctsrqhjmn"
_NEUTRAL = frozenset("UVWPQEFMSKL") | frozenset("uvwctpk")
_WORD = re.compile(r"[^\W\d][\w]*(?:'s(?!\w))?")


def neutral(label: str, avoid: frozenset[str] | set[str]) -> str:
    """The rule name with each neutral letter that is also a name in ``avoid`` (the expression's variables)
    replaced by a letter neither uses: "d(P*U*Q) = P*dU*Q for constant P, Q" for tr(A*X*B) wrt A, and
    "d(K*U*Q) = ..." where the expression has a P.  Words and function names are left alone."""
    used = {m.group() for m in _WORD.finditer(label)}
    letters = {w for w in used if len(w) == 1} | {w[1:] for w in used if len(w) == 2 and w[0] == "d"}
    clash = sorted(x for x in letters if x in _NEUTRAL and x in avoid)
    if not clash:
        return label
    taken = set(avoid) | letters
    rename: dict[str, str] = {}
    for x in clash:
        spare = next((c for c in (_UPPER_SPARE if x.isupper() else _LOWER_SPARE) if c not in taken), None)
        if spare is None:
            continue
        rename[x] = spare
        taken.add(spare)

    def sub(m: re.Match[str]) -> str:
        w = m.group()
        if w in rename:
            return rename[w]
        if len(w) == 2 and w[0] == "d" and w[1] in rename:
            return "d" + rename[w[1]]
        return w
    return _WORD.sub(sub, label)
