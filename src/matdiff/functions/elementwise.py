"""Elementwise functions: f applied to every entry, df = f'(X) .* dX.

Each entry is one call of :func:`elementwise`: the name, the differential (one line), the
NumPy code, and what differs from the default (a domain, the LaTeX, the scalar code).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.build import TWO, ZERO, T, epower, had, hdiv, is_symmetric, mul, neg, sub
from ..core.nodes import Add, EPower, Expr, Hadamard, HDiv, Num, Ones, integer_value
from . import registry
from .registry import Function, Rule, register, same_shape

FAMILY = "elementwise"


def _symmetric_if_arg(args: tuple[Expr, ...]) -> bool:
    return is_symmetric(args[0])


def _operator(tex: str) -> Callable[[Any, Expr], str]:
    return lambda p, e: tex + r"\left(" + p.doprint(e.arg) + r"\right)"


def _code(template: str) -> Callable[[Any, Expr], str]:
    """Lowering by a template of the argument's code, ``{a}``."""
    return lambda low, e: low.emit(template.format(a=low(e.arg)))


def elementwise(name: str, calls: tuple[str, ...], rule: tuple[str | Callable[[Expr], str], Rule], code: str,
                latex: Callable[[Any, Expr], str] | None = None, **flags: Any) -> Function:
    """Register the elementwise function ``name``; ``code`` is the NumPy template of its lowering."""
    return register(Function(
        name=name, calls=calls, family=FAMILY, shape=same_shape, same_shape=True, elementwise=True,
        transpose_inside=True,
        symmetric=_symmetric_if_arg, rule=rule, lower=flags.pop("lower", None) or _code(code),
        latex=latex or _operator(rf"\{name}"), **flags))


def _positive_arg(what: str) -> Callable[[Expr], list[tuple[str, Expr, str]]]:
    return lambda e: [("positive", e.arg, f"{what}({e.arg})")]


# -- the exponential family
def _lower_log(low: Any, e: Expr) -> str:
    u = one_plus_exp(e.arg)
    if u is not None and not e.arg.is_scalar:  # log(1 + exp(u)) without overflow
        return low.emit(f"_np.logaddexp(0, {low(u)})")
    return low.emit(f"_np.log({low(e.arg)})")


exp = elementwise("exp", ("_np.exp",),
                  ("d exp(U) = exp(U) .* dU", lambda e, d: had(e, d(e.arg))),
                  "_np.exp({a})", positive=lambda args, positive: True)
def _log_rule(e: Expr, d: Any) -> Expr:
    """d log(X) = dX ./ X; of a softmax, d log(softmax(u)) = du - 1*(softmax(u)'*du) (log softmax(u) = u -
    logsumexp(u): the cross-entropy's gradient comes out as y - sum(y)*softmax(u))."""
    a = e.arg  # type: ignore[attr-defined]
    softmax = registry.get("softmax")
    if softmax is not None and getattr(a, "fn", None) is softmax:
        u = a.arg  # type: ignore[attr-defined]
        return sub(d(u), mul(Ones(u), mul(T(a), d(u))))
    return hdiv(d(a), a)


def _log_name(e: Expr) -> str:
    softmax = registry.get("softmax")
    if softmax is not None and getattr(e.arg, "fn", None) is softmax:  # type: ignore[attr-defined]
        return "d log(softmax(u)) = du - ones(u)*(softmax(u)'*du)"
    return "d log(U) = dU ./ U"


log = elementwise("log", ("_np.log", "_np.logaddexp"),
                  (_log_name, _log_rule),
                  "", lower=_lower_log, guard=_positive_arg("log"))
sqrt = elementwise("sqrt", ("_np.sqrt",),
                   ("d sqrt(U) = dU ./ (2*sqrt(U))", lambda e, d: hdiv(d(e.arg), mul(TWO, e))),
                   "_np.sqrt({a})", latex=lambda p, e: rf"\sqrt{{{p.doprint(e.arg)}}}",
                   zero_at_zero=True, guard=_positive_arg("sqrt"),
                   positive=lambda args, positive: positive(args[0]))


# -- trigonometric and hyperbolic
sin = elementwise("sin", ("_np.sin",),
                  ("d sin(U) = cos(U) .* dU", lambda e, d: had(cos(e.arg), d(e.arg))),
                  "_np.sin({a})", zero_at_zero=True)
cos = elementwise("cos", ("_np.cos",),
                  ("d cos(U) = -sin(U) .* dU", lambda e, d: neg(had(sin(e.arg), d(e.arg)))),
                  "_np.cos({a})")
tanh = elementwise("tanh", ("_np.tanh",),
                   ("d tanh(U) = (1 - tanh(U).^2) .* dU",
                    lambda e, d: had(sub(Num(1), epower(e, TWO)), d(e.arg))),
                   "_np.tanh({a})", zero_at_zero=True)


# -- the logistic function (``_expit``: scipy's, continued analytically for complex values in evaluation)
sigmoid = elementwise("sigmoid", ("_expit",),
                      ("d sigmoid(U) = sigmoid(U) .* (1 - sigmoid(U)) .* dU",
                       lambda e, d: had(had(e, sub(Num(1), e)), d(e.arg))),
                      "_expit({a})", latex=_operator(r"\sigma"), positive=lambda args, positive: True)


# -- abs and its derivative sign
def lower_sign_of_scalar(low: Any, e: Expr) -> str:
    """sign(a) of a scalar, refused at 0 (the derivative of abs/norm1 there does not exist)."""
    what = f"{e.arg} (abs and norm1 are not differentiable at 0)"
    return low.emit(f"_np.sign(_nonzero({low(e.arg)}, {what!r}))")


def _lower_abs(low: Any, e: Expr) -> str:
    return low.emit(f"abs({low(e.arg)})" if e.arg.is_scalar else f"_np.abs({low(e.arg)})")


def _lower_sign(low: Any, e: Expr) -> str:
    return lower_sign_of_scalar(low, e) if e.arg.is_scalar else low.emit(f"_K.sign({low(e.arg)})")


# -- the rectifier and its smooth cousin
step = elementwise("step", ("_K.step",), ("d step(U) = 0 (away from 0)", lambda e, d: ZERO), "_K.step({a})",
                   latex=_operator(r"\operatorname{step}"), analytic="no", printed_only=True,
                   doc="1 where x > 0, 0 where x < 0 (the derivative of relu); a DomainError at an entry 0")
relu = elementwise("relu", ("_K.relu",), ("d relu(U) = step(U) .* dU", lambda e, d: had(step(e.arg), d(e.arg))),
                   "_K.relu({a})", latex=_operator(r"\operatorname{relu}"), analytic="no", zero_at_zero=True,
                   doc="max(x, 0) entrywise; its derivative is a DomainError at a zero entry")
softplus = elementwise("softplus", ("_np.logaddexp",),
                       ("d softplus(U) = sigmoid(U) .* dU", lambda e, d: had(sigmoid(e.arg), d(e.arg))),
                       "_np.logaddexp(0, {a})", latex=_operator(r"\operatorname{softplus}"),
                       positive=lambda args, positive: True, doc="log(1 + exp(x)) entrywise, without overflow")


abs_ = elementwise("abs", ("_np.abs",),
                   ("d abs(U) = sign(U) .* dU", lambda e, d: had(sign(e.arg), d(e.arg))),
                   "", lower=_lower_abs, latex=lambda p, e: rf"\left|{p.doprint(e.arg)}\right|",
                   zero_at_zero=True, analytic="no")
sign = elementwise("sign", ("_K.sign", "_np.sign", "_nonzero"),
                   ("d sign(U) = 0 (away from 0)", lambda e, d: ZERO), "", lower=_lower_sign,
                   latex=_operator(r"\operatorname{sign}"), analytic="no", printed_only=True)


# -- forms that overflow as written, recognised so that evaluation and generated code compute them stably:
# log(1 + exp(u)) = logaddexp(0, u), and exp(u)^j ./ (1 + exp(u))^k = s^j .* (1 - s)^(k - j), s = sigmoid(u)
def one_plus_exp(e: Expr) -> Expr | None:
    """u where e is 1 + exp(u)."""
    if isinstance(e, Add) and len(e.terms) == 2:
        a, b = e.terms
        if isinstance(b, Num):
            a, b = b, a
        if isinstance(a, Num) and a.value == 1 and is_call(b, exp):
            return b.arg
    return None


def is_call(e: Expr, fn: Function) -> bool:
    """e is fn(...)."""
    return getattr(e, "fn", None) is fn


def hadamard_factors(e: Expr) -> list[Expr]:
    if isinstance(e, Hadamard):
        return hadamard_factors(e.a) + hadamard_factors(e.b)
    return [e]


def logistic(e: HDiv) -> tuple[Expr, int, int, list[Expr]] | None:
    """(u, j, k, rest) where e = exp(u)^j .* rest ./ (1 + exp(u))^k with 0 <= j <= k."""
    den, k = e.b, 1
    if isinstance(den, EPower):
        p = integer_value(den.b)
        if p is None or p <= 0:
            return None
        den, k = den.a, p
    u = one_plus_exp(den)
    if u is None:
        return None
    j, rest = 0, []
    for f in hadamard_factors(e.a):
        if is_call(f, exp) and f.arg == u:  # type: ignore[attr-defined]
            j += 1
        elif isinstance(f, EPower) and is_call(f.a, exp) and f.a.arg == u \
                and (integer_value(f.b) or 0) > 0:  # type: ignore[attr-defined]
            j += integer_value(f.b)  # type: ignore[operator]
        else:
            rest.append(f)
    return (u, j, k, rest) if j <= k else None
