"""Smart constructors: build typed nodes with the trivial folds done (0, 1, --x, (A')', I*A).

The rules of the differential are written with these, so each step of a derivation comes
out readable without a full simplification.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from .nodes import (
    Add,
    Call,
    Diff,
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
    Var,
    fold,
)
from .shapes import Dim

if TYPE_CHECKING:
    from ..functions.registry import Function

ZERO = Num(0)
ONE = Num(1)
TWO = Num(2)


def num(v: Fraction | float | int) -> Num:
    return Num(v)


def is_zero(e: Expr) -> bool:
    """0, or 0*ones(...) (a zero that keeps its shape)."""
    if isinstance(e, Num):
        return e.value == 0
    return (isinstance(e, MatMul) and len(e.factors) == 2 and isinstance(e.factors[0], Num)
            and e.factors[0].value == 0 and isinstance(e.factors[1], Ones))


def zero_like(e: Expr) -> Expr:
    """The zero of e's shape: 0 for a scalar, else 0*ones(e)."""
    if e.shape is None or e.is_scalar:
        return ZERO
    return MatMul((ZERO, Ones(shape_like(e))))


def is_one(e: Expr) -> bool:
    return isinstance(e, Num) and e.value == 1


def add(*terms: Expr) -> Expr:
    out: list[Expr] = []
    shaped_zero: Expr | None = None
    number: Fraction | float = 0
    at = -1
    for t in terms:
        if isinstance(t, Add):
            out.extend(t.terms)
        elif isinstance(t, Num):
            number = fold("+", number, t.value)  # numbers fold: 2 - 1 = 1, where the first number stood
            at = len(out) if at < 0 else at
        elif not is_zero(t):
            out.append(t)
        elif not t.is_scalar:
            shaped_zero = t
    if number != 0:
        out.insert(at, Num(number))
    if shaped_zero is not None and all(t.is_scalar for t in out):
        out.append(shaped_zero)  # dropping it would lose the sum's shape
    if not out:
        return ZERO
    return out[0] if len(out) == 1 else Add(tuple(out))


def group_scalar_runs(factors: list[Expr]) -> list[Expr]:
    """Regroup a chain so that a run of matrices whose product is a scalar is one factor:
    x'*A*y*x*y' -> (x'*A*y)*x*y'; then the matrix factors of a chain are one proper product."""
    out: list[Expr] = []
    run: list[Expr] = []
    for f in factors:
        if f.is_scalar:
            out.append(f)  # a scalar commutes with the product: keep it in front of the run
            continue
        run.append(f)
        if len(run) > 1 and run[0].shape[0].size() == 1 and f.shape[1].size() == 1:
            if len(run) == len(factors):  # the whole product is the scalar: nothing to group
                return list(factors)
            out.append(MatMul(tuple(run)))
            run = []
    out.extend(run)
    return out


def mul(*factors: Expr) -> Expr:
    flat: list[Expr] = []
    coef: Fraction | float = 1
    for f in factors:
        if isinstance(f, MatMul) and not f.is_scalar:
            parts = f.factors
        elif isinstance(f, MatMul) and all(p.is_scalar for p in f.factors):
            parts = f.factors
        else:
            parts = (f,)
        for p in parts:
            if isinstance(p, Num):
                coef = fold("*", coef, p.value)  # DomainError where it overflows: 1e308*1e308
            elif isinstance(p, Neg):
                coef = -coef
                flat.append(p.arg)
            else:
                flat.append(p)
    chain = [f for f in flat if not f.is_scalar]
    if coef == 0:
        if not chain:
            return ZERO
        return zero_like(chain[0] if len(chain) == 1 else MatMul(tuple(chain)))
    if len(chain) > 1 and any(isinstance(f, Eye) for f in chain):
        keep = [f for f in chain if not isinstance(f, Eye)]
        if keep:
            flat = [f for f in flat if not isinstance(f, Eye)]
    if len(chain) > 2:
        flat = group_scalar_runs(flat)
    if coef != 1 or not flat:
        flat.insert(0, Num(coef))
    return flat[0] if len(flat) == 1 else MatMul(tuple(flat))


def neg(e: Expr) -> Expr:
    if isinstance(e, Neg):
        return e.arg
    if isinstance(e, Num):
        return Num(-e.value)
    return mul(Num(-1), e)


def sub(a: Expr, b: Expr) -> Expr:
    return add(a, neg(b))


def div(a: Expr, b: Expr) -> Expr:
    if is_one(b) or is_zero(a):
        return a
    if isinstance(b, Num) and isinstance(b.value, (int, Fraction)) and b.value != 0:
        return mul(Num(fold("/", 1, b.value)), a)
    return Div(a, b)


def had(a: Expr, b: Expr) -> Expr:
    if is_zero(a) or is_zero(b):
        return zero_like(b if a.is_scalar else a)
    if a.is_scalar or b.is_scalar:
        return mul(a, b)
    if isinstance(a, Ones):
        return b
    if isinstance(b, Ones):
        return a
    return Hadamard(a, b)


def hdiv(a: Expr, b: Expr) -> Expr:
    if is_zero(a):
        return zero_like(b if a.is_scalar else a)
    if b.is_scalar:
        return div(a, b)
    return HDiv(a, b)


def power(a: Expr, p: Expr) -> Expr:
    if is_one(p):
        return a
    if is_zero(p) and a.is_scalar:
        return ONE
    return Power(a, p)


def epower(a: Expr, p: Expr) -> Expr:
    if is_one(p):
        return a
    if a.is_scalar and p.is_scalar:
        return power(a, p)
    return EPower(a, p)


def call(fn: Function, *args: Expr) -> Expr:
    """fn(args) with the function's trivial folds done (tr of a scalar is the scalar, tr(0) = 0, ...)."""
    if fn.fold is not None:
        got = fn.fold(args)
        if got is not None:
            return got
    return Call(fn, *args)


def T(e: Expr, memo: dict[Expr, Expr] | None = None) -> Expr:
    """The transpose, pushed to the leaves: (AB)' = B'A', (A+B)' = A'+B', S' = S for symmetric S."""
    if memo is None:
        return _T(e, {})
    return _T(e, memo)


def _T(e: Expr, memo: dict[Expr, Expr]) -> Expr:
    got = memo.get(e)
    if got is None:
        got = memo[e] = _T1(e, memo)
    return got


def _T1(e: Expr, memo: dict[Expr, Expr]) -> Expr:
    if e.is_scalar or isinstance(e, (Eye, Num)):
        return e
    if isinstance(e, Transpose):
        return e.arg
    if isinstance(e, Var):
        return e if e.symmetric else Transpose(e)
    if isinstance(e, Add):
        return add(*(_T(t, memo) for t in e.terms))
    if isinstance(e, MatMul):
        return mul(*(_T(f, memo) for f in reversed(e.factors)))
    if isinstance(e, Neg):
        return neg(_T(e.arg, memo))
    if isinstance(e, Div):
        return Div(_T(e.num, memo), e.den)
    if isinstance(e, (Hadamard, HDiv)):
        return type(e)(_T(e.a, memo), _T(e.b, memo))
    if isinstance(e, EPower):
        return EPower(_T(e.a, memo), _T(e.b, memo))
    if isinstance(e, Power):
        return Power(_T(e.base, memo), e.exp)
    if isinstance(e, Ones):
        return Ones(_T(e.like, memo))
    if isinstance(e, Call):
        if e.fn.transpose_inside:  # exp(A)' = exp(A'); adj'(A)[E]' = adj'(A')[E']
            return call(e.fn, *(_T(a, memo) for a in e.args))
        if is_symmetric(e):  # diag(v), inv(S), adj(S)
            return e
    return Transpose(e)


def substitute(e: Expr, values: dict[str, Expr]) -> Expr:
    """e with each variable named in ``values`` replaced, rebuilt by the constructors (so typed
    replacements give a typed tree, shape-checked); an identity of no given size gets its own."""
    if isinstance(e, Var):
        return values.get(e.name, e)
    if isinstance(e, Eye):
        if e.like is not None:
            return Eye(substitute(e.like, values))
        return e if e.dim is not None else Eye(dim=Dim(None, "size(eye)"))
    if isinstance(e, Ones):
        return Ones(substitute(e.like, values))
    if not e.children:
        return e
    return e.rebuild(tuple(substitute(c, values) for c in e.children))


def undiff(e: Expr) -> Expr:
    """e with each dX replaced by X (to name the shape of a linear form)."""
    if isinstance(e, Diff):
        return e.var
    if not e.linear or not e.children:
        return e
    return e.rebuild(tuple(undiff(c) for c in e.children))


def shape_like(e: Expr) -> Expr:
    """A short expression with the shape of e (all that ones(...) and eye(...) use of it)."""
    if isinstance(e, Ones):
        return shape_like(e.like)
    if isinstance(e, Call) and e.fn.transpose_inside:  # shaped like its first argument
        return shape_like(e.args[0])
    if isinstance(e, (Hadamard, HDiv, Add)):
        for c in e.children:
            if not c.is_scalar:
                return shape_like(c)
    if isinstance(e, (Neg, Div)):
        return shape_like(e.children[0])
    if isinstance(e, MatMul):
        chain = [f for f in e.factors if not f.is_scalar]
        if len(chain) == 1:
            return shape_like(chain[0])
        if len(chain) > 2:
            return mul(shape_like(chain[0]), shape_like(chain[-1])) if \
                chain[0].shape[1].find() is chain[-1].shape[0].find() else e
    return e


def is_symmetric(e: Expr) -> bool:
    """True where e equals its transpose by its structure (S, A+A', X'*X, x*x', inv(S), ...)."""
    if e.is_scalar:
        return True
    if isinstance(e, Var):
        return e.symmetric
    if isinstance(e, Eye):
        return True
    if isinstance(e, (Neg, Transpose)):
        return is_symmetric(e.arg)
    if isinstance(e, Call):
        return e.fn.symmetric is not None and e.fn.symmetric(e.args)
    if isinstance(e, Div):
        return is_symmetric(e.num)
    if isinstance(e, (Hadamard, HDiv)):
        return is_symmetric(e.a) and is_symmetric(e.b)
    if isinstance(e, Power):
        return is_symmetric(e.base)
    if isinstance(e, Add):
        terms = [t for t in e.terms if not t.is_scalar]
        if all(is_symmetric(t) for t in terms):
            return True
        return _same([_pushed(t) for t in terms], [_pushed(T(t)) for t in terms], as_set=True)
    if isinstance(e, MatMul):
        chain = [f for f in e.factors if not f.is_scalar]
        if len(chain) == 1:  # c*(d*S)
            return is_symmetric(chain[0])
        return _same([_pushed(f) for f in chain], [_pushed(T(f)) for f in reversed(chain)])
    return False


def _same(a: list[Expr], b: list[Expr], as_set: bool = False) -> bool:
    """Equal lists (sets) of expressions; while typing, by their text too: two eye of sizes not yet unified are
    distinct nodes, but the same identity in the same place."""
    if (set(a) == set(b)) if as_set else (a == b):
        return True
    ta, tb = [str(x) for x in a], [str(x) for x in b]
    return (set(ta) == set(tb)) if as_set else (ta == tb)


def _pushed(e: Expr) -> Expr:
    """e with its transposes pushed to the leaves as T writes them ((X' + Y)' = X + Y', X'' = X, -X as -1*X: the
    parser keeps what was typed), so that equal matrices compare equal."""
    return T(T(e))


__all__ = ["ZERO", "ONE", "TWO", "add", "mul", "neg", "sub", "div", "had", "hdiv", "power", "epower",
           "call", "T", "undiff", "is_symmetric", "Var"]
