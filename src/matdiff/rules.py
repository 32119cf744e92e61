"""The differential of each operation: one line a rule.

A rule takes the node ``e`` (its operands are ``e.arg`` or ``e.a, e.b`` ...) and ``d``,
which gives the differential of an operand (``0`` for a constant, ``dX`` for the
variable, else a pending ``d(...)`` that the next step expands).  Each entry is
``(name shown in the steps, rule)``.
"""

from __future__ import annotations

from collections.abc import Callable

from .build import TWO, ZERO, T, add, adj_d, call, div, epower, had, hdiv, mul, neg, power, sub, tr
from .errors import MatdiffError
from .syntax.ast import (
    Add,
    AdjD,
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

Rule = Callable[[Expr, Callable[[Expr], Expr]], Expr]


def _sq(a: Expr) -> Expr:
    """tr(A'*A) (or a'*a, a*a): the squared Frobenius norm, as the textbook writes it."""
    return mul(a, a) if a.is_scalar else mul(T(a), a) if a.is_vector else tr(mul(T(a), a))


def _emul(u: Expr, v: Expr) -> Expr:
    return had(u, v)


def _no_rule(fn: str) -> Rule:
    def rule(e: Expr, d: Callable[[Expr], Expr]) -> Expr:
        raise MatdiffError(f"{fn}(...) has no differential rule here (it is a derivative already); "
                           "differentiate the original expression instead")
    return rule


# d f(A), f a function of the language
CALL_RULES: dict[str, tuple[str, Rule]] = {
    "tr":       ("d tr = tr d", lambda e, d: tr(d(e.arg))),
    "det":      ("Jacobi's formula: d det(A) = tr(adj(A) dA)", lambda e, d: tr(mul(call("adj", e.arg), d(e.arg)))),
    "logdet":   ("d logdet(A) = tr(inv(A) dA)", lambda e, d: tr(mul(call("inv", e.arg), d(e.arg)))),
    "inv":      ("d inv(A) = -inv(A) dA inv(A)", lambda e, d: neg(mul(e, d(e.arg), e))),
    "adj":      ("d adj(A) = adj_d(A, dA): tr(inv(A) dA) adj(A) - adj(A) dA inv(A) where A is invertible, "
                 "and its limit (adj is a polynomial) at singular A",
                 lambda e, d: ZERO if e.arg.is_scalar else adj_d(e.arg, d(e.arg))),  # adj of a scalar is 1
    "norm_fro": ("chain rule: norm_fro(X) = (tr(X'*X))^(1/2)",
                 lambda e, d: div(d(_sq(e.arg)), mul(TWO, e)) if not e.arg.is_scalar
                 else _emul(call("sign", e.arg), d(e.arg))),  # the norm of a scalar is its abs
    "norm2":    ("d norm2(X) = tr((u1*v1')' dX), u1, v1 the top singular pair",
                 lambda e, d: div(d(_sq(e.arg)), mul(TWO, e)) if e.arg.is_vector
                 else _emul(call("sign", e.arg), d(e.arg)) if e.arg.is_scalar
                 else tr(mul(T(call("top_sv", e.arg)), d(e.arg)))),
    "norm_nuc": ("d norm_nuc(X) = tr((U*V')' dX), X = U S V' the thin SVD",
                 lambda e, d: div(d(_sq(e.arg)), mul(TWO, e)) if e.arg.is_vector
                 else _emul(call("sign", e.arg), d(e.arg)) if e.arg.is_scalar
                 else tr(mul(T(call("polar", e.arg)), d(e.arg)))),
    "norm1":    ("d norm1(X) = sum(sign(X) .* dX)", lambda e, d: call("sum", _emul(call("sign", e.arg), d(e.arg)))),
    "sum":      ("d sum = sum d", lambda e, d: call("sum", d(e.arg))),
    "diag":     ("d diag = diag d", lambda e, d: call("diag", d(e.arg))),
    "exp":      ("d exp(X) = exp(X) .* dX", lambda e, d: _emul(e, d(e.arg))),
    "log":      ("d log(X) = dX ./ X", lambda e, d: hdiv(d(e.arg), e.arg)),
    "sin":      ("d sin(X) = cos(X) .* dX", lambda e, d: _emul(call("cos", e.arg), d(e.arg))),
    "cos":      ("d cos(X) = -sin(X) .* dX", lambda e, d: neg(_emul(call("sin", e.arg), d(e.arg)))),
    "tanh":     ("d tanh(X) = (1 - tanh(X).^2) .* dX",
                 lambda e, d: _emul(sub(Num(1), epower(e, TWO)), d(e.arg))),
    "sqrt":     ("d sqrt(X) = dX ./ (2 sqrt(X))", lambda e, d: hdiv(d(e.arg), mul(TWO, e))),
    "abs":      ("d abs(X) = sign(X) .* dX", lambda e, d: _emul(call("sign", e.arg), d(e.arg))),
    "sign":     ("d sign(X) = 0 (away from 0)", lambda e, d: ZERO),
    "sigmoid":  ("d sigmoid(X) = sigmoid(X) .* (1 - sigmoid(X)) .* dX",
                 lambda e, d: _emul(_emul(e, sub(Num(1), e)), d(e.arg))),
    "polar":    ("", _no_rule("polar")),
    "top_sv":   ("", _no_rule("top_sv")),
}


MAX_PRODUCT_WORK = 10_000
MAX_MATRIX_POWER = 500


def _adj_d(e: Expr, d: Callable[[Expr], Expr]) -> Expr:
    a, v = e.a, e.e  # type: ignore[attr-defined]
    if isinstance(d(a), Num):  # linear in E
        return adj_d(a, d(v))
    # A varies too (a second derivative of adj, a third of det): differentiate the form that holds where A is
    # invertible, adj_d(A, E) = tr(adj(A) E) inv(A) - adj(A) E inv(A); its value at a singular A is refused
    adj, inv = call("adj", a), call("inv", a)
    return d(sub(mul(tr(mul(adj, v)), inv), mul(adj, v, inv)))


def _product(e: Expr, d: Callable[[Expr], Expr]) -> Expr:
    fs = e.factors  # type: ignore[attr-defined]
    varying = [i for i, f in enumerate(fs) if not isinstance(d(f), Num)]
    if len(varying) * len(fs) > MAX_PRODUCT_WORK:
        from .errors import LimitError

        raise LimitError(f"the product rule on a product of {len(fs)} factors would write {len(varying)} "
                         f"terms of {len(fs)} factors each; write repeated factors as a power (a^k)")
    return add(*(mul(*fs[:i], d(fs[i]), *fs[i + 1:]) for i in varying))


def _power(e: Expr, d: Callable[[Expr], Expr]) -> Expr:
    a, p = e.base, e.exp  # type: ignore[attr-defined]
    if a.is_scalar:
        if not p.free:  # d(u^p) = p u^(p-1) du
            return mul(p, power(a, add(p, Num(-1))), d(a))
        return mul(e, add(mul(call("log", a), d(p)), div(mul(p, d(a)), a)))
    k = integer_value(p)
    if k is None:  # pragma: no cover - refused when typing
        raise MatdiffError("a matrix power needs an integer exponent")
    if k < 0:  # A^-k = inv(A)^k
        return d(power(call("inv", a), Num(-k)))
    if k > MAX_MATRIX_POWER:
        from .errors import LimitError

        raise LimitError(f"d(A^{k}) has {k} terms A^i dA A^({k}-1-i) (A and dA need not commute); "
                         f"powers above {MAX_MATRIX_POWER} are refused")
    # d(A^k) = sum_i A^i dA A^(k-1-i)
    return add(*(mul(power(a, Num(i)) if i else Num(1), d(a), power(a, Num(k - 1 - i)) if k - 1 - i else Num(1))
                 for i in range(k)))


def _epower(e: Expr, d: Callable[[Expr], Expr]) -> Expr:
    a, p = e.a, e.b  # type: ignore[attr-defined]
    if not p.free:  # d(X.^p) = p X.^(p-1) .* dX
        return _emul(mul(p, epower(a, add(p, Num(-1)))), d(a))
    return _emul(e, add(_emul(call("log", a), d(p)), hdiv(_emul(p, d(a)), a)))


# d of an operator node; the name may depend on the node
OP_RULES: dict[type, tuple[str | Callable[[Expr], str], Rule]] = {
    Add:       ("linearity: d(U + V) = dU + dV", lambda e, d: add(*(d(t) for t in e.terms))),
    Neg:       ("linearity", lambda e, d: neg(d(e.arg))),
    MatMul:    ("product rule", _product),
    Div:       ("quotient rule: d(U/c) = dU/c - U dc/c^2",
                lambda e, d: sub(div(d(e.num), e.den), div(mul(e.num, d(e.den)), power(e.den, TWO)))),
    Hadamard:  ("product rule: d(U .* V) = dU .* V + U .* dV",
                lambda e, d: add(_emul(d(e.a), e.b), _emul(e.a, d(e.b)))),
    HDiv:      ("quotient rule: d(U ./ V) = dU ./ V - U .* dV ./ V.^2",
                lambda e, d: sub(hdiv(d(e.a), e.b), hdiv(_emul(e.a, d(e.b)), epower(e.b, TWO)))),
    Power:     ("power rule", _power),
    EPower:    ("power rule: d(U.^p) = p U.^(p-1) .* dU", _epower),
    Transpose: ("d(X') = (dX)'", lambda e, d: T(d(e.arg))),
    AdjD:      ("d adj_d(A, E) = adj_d(A, dE) for constant A; where A varies, of "
                "adj_d(A, E) = tr(adj(A) E) inv(A) - adj(A) E inv(A), A invertible", _adj_d),
    Eye:       ("dI = 0", lambda e, d: ZERO),
    Ones:      ("d1 = 0", lambda e, d: ZERO),
    Num:       ("d(constant) = 0", lambda e, d: ZERO),
}


def rule_for(e: Expr) -> tuple[str, Rule]:
    """The (name, rule) that gives d(e)."""
    if isinstance(e, Call):
        return CALL_RULES[e.fn]
    name, rule = OP_RULES[type(e)]
    return (name(e) if callable(name) else name), rule
