"""Forms that overflow when computed as written, recognised so both the evaluator and the
generated code compute them stably: log(1 + exp(u)) = logaddexp(0, u),
exp(u)^j ./ (1 + exp(u))^k = s^j .* (1 - s)^(k - j) with s = expit(u) (the logistic sigmoid), and
A^-k in a product as k solves (``inverse_powers``)."""

from __future__ import annotations

from ..shapes import Dim
from ..syntax.ast import Add, Call, EPower, Expr, Hadamard, HDiv, Num, Power, Transpose, integer_value


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


MAX_SOLVES = 16  # A^-k with k above this stays a power of the inverse


def inverse_powers(factors: list[Expr]) -> list[Expr]:
    """The factors of a product with each A^-k (k <= MAX_SOLVES) written as k factors inv(A), which the
    product computes as solves: A^-2*x is solve(A, solve(A, x)), never inv(A)^2 formed (which underflows
    to 0 where A is large, 2.5e-401 at A ~ 2e200, and costs a product)."""
    if sum(1 for f in factors if not f.is_scalar) < 2:
        return factors
    out: list[Expr] = []
    for f in factors:
        got = inverse_power(f)
        out += [got[0]] * got[1] if got is not None else [f]
    return out


def inverse_power(f: Expr) -> tuple[Expr, int] | None:
    """(inv(A), k) where f is A^-k, inv(A)^k or inv(A)'^k (the latter as (inv(A)', k)), 1 <= k <= MAX_SOLVES."""
    if not isinstance(f, Power) or f.base.is_scalar:
        return None
    k = integer_value(f.exp)
    if k is None or k == 0 or abs(k) > MAX_SOLVES:
        return None
    if k < 0:
        return Call("inv", f.base), -k
    b = f.base
    if (isinstance(b, Call) and b.fn == "inv") or (isinstance(b, Transpose) and isinstance(b.arg, Call)
                                                   and b.arg.fn == "inv"):
        return b, k
    return None


UNKNOWN = 1000  # the size assumed for a dimension unknown when the code is generated


def size_estimate(d: Dim) -> int:
    """A dimension's size where it is known, else UNKNOWN (for choosing an order of computation)."""
    v = d.find().value
    return v if v is not None else UNKNOWN


def is_diag_of_vector(e: Expr) -> bool:
    return isinstance(e, Call) and e.fn == "diag" and e.arg.is_vector


def _is_inverse(e: Expr) -> bool:
    return (isinstance(e, Call) and e.fn == "inv") or (isinstance(e, Transpose) and isinstance(e.arg, Call)
                                                      and e.arg.fn == "inv")


def scaled_factor(chain: list[Expr]) -> int | None:
    """Which factor of a product of matrices its scalar factors scale: the smallest, where it is smaller than
    the product and not an inverse (c*x*y' = (c*x)*y', diag(v)/c = diag(v/c)); None: scale the product.

    Fewer multiplications, and no underflow of a product that the scalars would have brought back into range
    (X*u*u'/norm_fro(X*u) at entries ~1e-150 is X*(u/norm)*u').  Evaluation and generated code choose alike,
    from the typed sizes, so that they round alike."""
    if not chain:
        return None
    sizes = [size_estimate(f.arg.shape[0]) if is_diag_of_vector(f) else
             size_estimate(f.shape[0]) * size_estimate(f.shape[1]) for f in chain]
    k = sizes.index(min(sizes))
    out = size_estimate(chain[0].shape[0]) * size_estimate(chain[-1].shape[1])
    return k if sizes[k] < out and not _is_inverse(chain[k]) else None
