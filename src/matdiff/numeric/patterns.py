"""Forms of products that the evaluator and the generated code compute alike: A^-k in a product as
k solves (``inverse_powers``), and which factor a product's scalars scale (``scaled_factor``).
(The exponential forms, log(1 + exp(u)) and the logistic quotients, are recognised beside exp in
:mod:`matdiff.functions.elementwise`.)"""

from __future__ import annotations

from ..core.nodes import Call, Expr, Power, Transpose, integer_value
from ..core.shapes import Dim
from ..functions.linalg import inv
from ..functions.reductions import is_diag_of_vector

MAX_SOLVES = 16  # A^-k with k above this stays a power of the inverse


def inverse_powers(factors: list[Expr]) -> list[Expr]:
    """The factors of a product with each A^-k (k <= MAX_SOLVES) written as k factors inv(A), which the
    product computes as solves: A^-2*x is solve(A, solve(A, x)), never inv(A)^2 formed (which underflows
    to 0 where A is large, 2.5e-401 at A ~ 2e200, and costs a product)."""
    if len(factors) < 2:  # c*inv(A)^2 too: the scalar goes between the solves (no underflow)
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
        return Call(inv, f.base), -k
    b = f.base
    if _is_inverse(b):
        return b, k
    return None


UNKNOWN = 1000  # the size assumed for a dimension unknown when the code is generated


def size_estimate(d: Dim) -> int:
    """A dimension's size where it is known, else UNKNOWN (for choosing an order of computation)."""
    v = d.find().value
    return v if v is not None else UNKNOWN


def _is_inverse(e: Expr) -> bool:
    """e is inv(A) or inv(A)'."""
    return (isinstance(e, Call) and e.fn is inv) or (isinstance(e, Transpose) and isinstance(e.arg, Call)
                                                    and e.arg.fn is inv)


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


__all__ = ["inverse_powers", "inverse_power", "size_estimate", "is_diag_of_vector", "scaled_factor", "UNKNOWN"]
