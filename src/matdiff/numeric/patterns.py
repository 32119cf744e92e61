"""Forms that overflow when computed as written, recognised so both the evaluator and the
generated code compute them stably: log(1 + exp(u)) = logaddexp(0, u), and
exp(u)^j ./ (1 + exp(u))^k = s^j .* (1 - s)^(k - j) with s = expit(u) (the logistic sigmoid)."""

from __future__ import annotations

from ..syntax.ast import Add, Call, EPower, Expr, Hadamard, HDiv, Num, integer_value


def one_plus_exp(e: Expr) -> Expr | None:
    """u where e is 1 + exp(u)."""
    if isinstance(e, Add) and len(e.terms) == 2:
        a, b = e.terms
        if isinstance(b, Num):
            a, b = b, a
        if isinstance(a, Num) and a.value == 1 and isinstance(b, Call) and b.fn == "exp":
            return b.arg
    return None


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
        if isinstance(f, Call) and f.fn == "exp" and f.arg == u:
            j += 1
        elif isinstance(f, EPower) and isinstance(f.a, Call) and f.a.fn == "exp" and f.a.arg == u \
                and (integer_value(f.b) or 0) > 0:
            j += integer_value(f.b)  # type: ignore[operator]
        else:
            rest.append(f)
    return (u, j, k, rest) if j <= k else None
