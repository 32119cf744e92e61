"""Primary matrix functions through their Fréchet derivatives (Higham, *Functions of Matrices*, ch. 3).

``expm(X)``, ``logm(X)`` (principal), ``sqrtm(X)`` (principal), and ``S^p`` for an spd S and a real number
p that is not an integer (the ``^`` node; its derivatives are the ``powm_*`` functions below).  Of a
scalar argument they are exp, log and sqrt.

The differential of f(X) is its Fréchet derivative ``f_d(X, E) = L_f(X, E)`` (linear in E), a node of the
printed language as ``adj_d`` is: d expm(X) = expm_d(X, dX).  Identification goes through the adjoint
identity tr(G' L_f(X, E)) = tr(L_f(X', G)' E) (f has a real power series), so grad tr(B*expm(X)) =
expm_d(X', B'); and L_f(X, I) = f'(X) (X commutes with I): L_exp(X, I) = expm(X), L_log(X, I) = inv(X),
L_sqrt(X, I) = inv(sqrtm(X))/2, L_pow(S, I) = p S^(p-1).  Second derivatives are the second Fréchet
derivatives ``f_d2(X, E, F)`` (symmetric in E and F, linear in each): d f_d(X, E) = f_d2(X, E, dX) +
f_d(X, dE), with the same adjoint identity in F: <C, f_d2(X, E, F)> = <f_d2(X', E', C), F>.

Numbers (``runtime.matfun``): for an argument symmetric by its type or structure, one eigh and the
Daleckii–Krein formula (``_K.sym_fun``, ``_K.sym_frechet``); otherwise SciPy's expm, logm, sqrtm and
expm_frechet, the block form f([[X, E], [0, X]]) = [[f(X), L_f(X, E)], [0, f(X)]] and, for sqrtm, the
Sylvester equation sqrtm(X) L + L sqrtm(X) = E.  A backend without a general logm or sqrtm (torch, JAX,
CuPy) says so at compile time; symmetric arguments run everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..core.build import T, add, is_symmetric, is_zero, mul, neg, power, zero_like
from ..core.nodes import Add, Expr, Eye, MatMul, Neg, Num, Power, Transpose, number_value
from ..errors import MatdiffError, ShapeError
from .elementwise import exp, log, sqrt
from .linalg import inv
from .registry import (
    Function,
    describe,
    direction_fold,
    direction_shape,
    direction_simplify,
    register,
    square,
    square_of_square,
)

FAMILY = "matfun"
HALF = Num(Fraction(1, 2))


@dataclass(frozen=True)
class Primary:
    """What differs between the primary matrix functions f: its name (also the runtime's key), the scalar
    function it is at a scalar, LaTeX, L_f(X, I) = f'(X), and the scalar f', f'' for the lowering of a scalar."""

    name: str
    scalar: Function
    tex: Callable[[Any, str], str]
    short: str  # the subscript of L_f in LaTeX
    at_identity: Callable[[Expr], Expr]
    d1: str  # L_f(a, e) at a scalar a
    d2: str  # L2_f(a, e, f) at a scalar a
    domain: str
    doc: str
    factors: str = ""  # a runtime kernel whose result f and L_f of a general X share (expm_pade)


def _direction2_shape(point: str, extra: int = 0) -> Callable[[Function, tuple[Expr, ...]], Any]:
    """f_d2(X, E, F[, p]): X square, E and F shaped like it; shaped like X."""
    first = direction_shape(point)

    def shape(fn: Function, args: tuple[Expr, ...]) -> Any:
        first(fn, args[:2])
        first(fn, (args[0], args[2]))
        if extra:
            _exponent(fn, args[3])
        return args[0].shape
    return shape


def _exponent(fn: Function, p: Expr) -> None:
    if number_value(p) is None:
        raise ShapeError(f"{fn.name} needs a number as its exponent, not {describe(p)}")


def _fold2() -> Callable[[tuple[Expr, ...]], Expr | None]:
    def fold(args: tuple[Expr, ...]) -> Expr | None:
        if is_zero(args[1]) or is_zero(args[2]):
            return zero_like(args[0])
        return None
    return fold


def _rule(f: Primary, fns: dict[str, Function]) -> tuple[str, Callable[..., Expr]]:
    def rule(e: Expr, d: Any) -> Expr:
        a = e.arg  # type: ignore[attr-defined]
        if a.is_scalar:
            return d(f.scalar(a))
        return fns["d"](a, d(a))
    return f"d {f.name}(U) = {f.name}_d(U, dU), the Fréchet derivative L(U, dU)", rule


def _d_rule(f: Primary, fns: dict[str, Function]) -> tuple[str, Callable[..., Expr]]:
    def rule(e: Expr, d: Any) -> Expr:
        a, v = e.args  # type: ignore[attr-defined]
        first = fns["d"](a, d(v))
        if isinstance(d(a), Num):
            return first
        return add(fns["d2"](a, v, d(a)), first)
    return (f"d {f.name}_d(U, E) = {f.name}_d2(U, E, dU) + {f.name}_d(U, dE), {f.name}_d2 the second Fréchet "
            "derivative", rule)


def _d2_rule(f: Primary, fns: dict[str, Function]) -> tuple[str, Callable[..., Expr]]:
    def rule(e: Expr, d: Any) -> Expr:
        a, u, v = e.args  # type: ignore[attr-defined]
        if not isinstance(d(a), Num):
            raise MatdiffError(f"the third derivative of {f.name} (its second Fréchet derivative varying with X) "
                               "is not available: differentiate at most twice")
        # linear in E and in F, symmetric in them: the differential goes last, where the adjoint identity reads it
        return add(fns["d2"](a, v, d(u)), fns["d2"](a, u, d(v)))
    return f"d {f.name}_d2(P, E, F) = {f.name}_d2(P, F, dE) + {f.name}_d2(P, E, dF) for constant P", rule


def _lower(f: Primary) -> Callable[[Any, Expr], str]:
    def lower(low: Any, e: Expr) -> str:
        a = e.arg  # type: ignore[attr-defined]
        if a.is_scalar:
            return low(f.scalar(a))
        if is_symmetric(a):  # one eigh: U diag(f(w)) U'
            return low.emit(f"_K.sym_fun({low.emit(f'_K.eigh({low(a)})')}, {f.name!r})")
        if f.factors:
            return low.emit(f"_K.{f.name}({low.emit(f'_K.{f.factors}({low(a)})')})")
        return low.emit(f"_K.{f.name}({low(a)})")
    return lower


def _lower_d(f: Primary) -> Callable[[Any, Expr], str]:
    def lower(low: Any, e: Expr) -> str:
        a, v = e.args  # type: ignore[attr-defined]
        if a.is_scalar:
            return low.emit(f.d1.format(a=low(a), e=low(v)))
        if is_symmetric(a):  # Daleckii–Krein
            return low.emit(f"_K.sym_frechet({low.emit(f'_K.eigh({low(a)})')}, {low(v)}, {f.name!r})")
        if f.factors and isinstance(a, Transpose):  # L(X', G) = L(X, G')': the factors of X, shared with f(X)
            factors = low.emit(f"_K.{f.factors}({low(a.arg)})")
            return low.emit(f"_K.{f.name}_frechet({factors}, {_transposed(low(v))}).T")
        if f.factors:
            return low.emit(f"_K.{f.name}_frechet({low.emit(f'_K.{f.factors}({low(a)})')}, {low(v)})")
        return low.emit(f"_K.{f.name}_frechet({low(a)}, {low(v)})")
    return lower


def _transposed(code: str) -> str:
    return code[:-2] if code.endswith(".T") and code[:-2].isidentifier() else f"({code}).T"


def _lower_d2(f: Primary) -> Callable[[Any, Expr], str]:
    def lower(low: Any, e: Expr) -> str:
        a, u, v = e.args  # type: ignore[attr-defined]
        if a.is_scalar:
            return low.emit(f.d2.format(a=low(a), e=low(u), f=low(v)))
        return low.emit(f"_K.{f.name}_frechet2({low(a)}, {low(u)}, {low(v)})")
    return lower


def _check(f: Primary) -> Callable[[Any, Expr], Any]:
    """The guard's code: the spectrum of a symmetric argument (its eigh is shared with the derivative's), else the
    value itself."""
    def check(low: Any, e: Expr) -> Any:
        a = e.arg  # type: ignore[attr-defined]
        if a.is_scalar or not is_symmetric(a):
            return low(e)
        return low.emit(f"_K.sym_check({low.emit(f'_K.eigh({low(a)})')}, {f.name!r})")
    return check


def _guard(f: Primary) -> Callable[[Expr], list[tuple[str, Expr, str]]] | None:
    if not f.domain:
        return None
    # the gradient of tr(logm(X)) is inv(X)': computing logm(X) itself refuses a point outside its domain
    return lambda e: [("evaluates", e, str(e))]


def commutes(P: Expr, E: Expr) -> bool:
    """E commutes with P by its form: P itself, I, a scalar, a function of P (a primary matrix function, the
    inverse, a power: each a polynomial in P), or sums, products and transposes of those (E' with P')."""
    if E == P or E.is_scalar or isinstance(E, (Eye, Num)):
        return True
    if isinstance(E, Transpose):
        return commutes(T(P), E.arg)
    if isinstance(E, Neg):
        return commutes(P, E.arg)
    if isinstance(E, (MatMul, Add)):
        return all(commutes(P, x) for x in E.children)
    if isinstance(E, Power):
        return E.base == P or commutes(P, E.base)
    fn = getattr(E, "fn", None)
    return fn is not None and fn.arity == 1 and fn.family in (FAMILY, "linalg") and fn.same_shape and \
        commutes(P, E.arg)  # type: ignore[attr-defined]


def _simplify_d(f: Primary, fns: dict[str, Function]) -> Callable[[Any, tuple[Expr, ...]], Expr | None]:
    """The direction's identities (direction_simplify), and L_f(P, E) = f'(P) E where E commutes with P (a
    function of P: L_sqrt(S, sqrtm(S)) = I/2); f'(P) E = (E' f'(P'))' where P is a transpose."""
    base = direction_simplify(lambda: fns["d"], at_identity=lambda S, a: S.run(f.at_identity(a)))

    def simplify(S: Any, args: tuple[Expr, ...]) -> Expr | None:
        got = base(S, args)
        if got is not None:
            return got
        P, E = args
        if not commutes(P, E):
            return None
        if isinstance(P, Transpose):
            return S.run(T(S.run(mul(T(E), f.at_identity(P.arg)))))
        return S.run(mul(f.at_identity(P), E))
    return simplify


def primary(f: Primary) -> tuple[Function, Function, Function]:
    """Register f, its Fréchet derivative f_d(X, E) and its second Fréchet derivative f_d2(X, E, F)."""
    fns: dict[str, Function] = {}
    n = f.name
    fns["f"] = register(Function(
        name=n, calls=(f"_K.{n}", "_K.sym_fun", "_K.eigh", "_K.sym_check", *f.scalar.calls,
               *((f"_K.{f.factors}",) if f.factors else ())), family=FAMILY,
        shape=square_of_square,
        same_shape=True, transpose_inside=True, symmetric=lambda args: is_symmetric(args[0]),
        rule=_rule(f, fns), fold=lambda args: f.scalar(args[0]) if args[0].is_scalar else None,
        latex=lambda p, e: f.tex(p, p.doprint(e.arg)), lower=_lower(f), guard=_guard(f), check=_check(f),
        doc=f.doc + (f"; {f.domain}" if f.domain else "")))
    fns["d"] = register(Function(
        name=n + "_d", family=FAMILY, arity=2,
        calls=(f"_K.{n}_frechet", "_K.sym_frechet", "_K.eigh", *(c for c in f.scalar.calls if c in f.d1),
               *((f"_K.{f.factors}",) if f.factors else ())),
        shape=direction_shape("X"), same_shape=True, transpose_inside=True, linear_in=1, printed_only=True,
        rule=_d_rule(f, fns),
        # the adjoint of E -> L(X, E) is C -> L(X', C): tr(C' L(X, E)) = tr(L(X', C)' E)
        adjoint=lambda e, c: (f"<M, {n}_d(U, E)> = <{n}_d(U', M), E>", e.args[1], fns["d"](T(e.args[0]), c)),
        fold=direction_fold(lambda: fns["d"], at_identity=f.at_identity),
        simplify=_simplify_d(f, fns),
        latex=lambda p, e: rf"L_{{{f.short}}}\left({p.doprint(e.args[0])}, {p.doprint(e.args[1])}\right)",
        lower=_lower_d(f),
        doc=f"{n}_d(X, E) = L(X, E), the Fréchet derivative of {n} at X in the direction E"))
    fns["d2"] = register(Function(
        name=n + "_d2", calls=(f"_K.{n}_frechet2", *(c for c in f.scalar.calls if c in f.d2)), family=FAMILY,
        arity=3, shape=_direction2_shape("X"),
        same_shape=True, transpose_inside=True, linear_in=2, printed_only=True, rule=_d2_rule(f, fns),
        adjoint=lambda e, c: (f"<M, {n}_d2(P, E, F)> = <{n}_d2(P', E', M), F>", e.args[2],
                              fns["d2"](T(e.args[0]), T(e.args[1]), c)),
        fold=_fold2(),
        latex=lambda p, e: rf"L^{{(2)}}_{{{f.short}}}\left({', '.join(p.doprint(x) for x in e.args)}\right)",
        lower=_lower_d2(f),
        doc=f"{n}_d2(X, E, F), the second Fréchet derivative of {n} at X in the directions E and F"))
    return fns["f"], fns["d"], fns["d2"]


def _operator(tex: str) -> Callable[[Any, str], str]:
    return lambda p, s: tex + r"\left(" + s + r"\right)"


expm, expm_d, expm_d2 = primary(Primary(
    name="expm", scalar=exp, tex=_operator(r"\exp"), short=r"\exp",
    at_identity=lambda a: expm(a),  # L_exp(X, I) = expm(X)
    d1="_np.exp({a}) * {e}", d2="_np.exp({a}) * {e} * {f}", domain="",
    doc="the matrix exponential (of a scalar, exp)", factors="expm_pade"))

logm, logm_d, logm_d2 = primary(Primary(
    name="logm", scalar=log, tex=_operator(r"\log"), short=r"\log",
    at_identity=lambda a: inv(a),  # L_log(X, I) = inv(X)
    d1="{e} / {a}", d2="-({e}) * ({f}) / ({a}) ** 2",
    domain="a DomainError where X has an eigenvalue on the closed negative real axis",
    doc="the principal matrix logarithm (of a scalar, log)"))

sqrtm, sqrtm_d, sqrtm_d2 = primary(Primary(
    name="sqrtm", scalar=sqrt, tex=lambda p, s: r"\left(" + s + r"\right)^{1/2}", short=r"\sqrt{\cdot}",
    at_identity=lambda a: mul(HALF, inv(sqrtm(a))),  # sqrtm(X) L + L sqrtm(X) = I: L = inv(sqrtm(X))/2
    d1="0.5 * {e} / _np.sqrt({a})", d2="-0.25 * ({e}) * ({f}) / ({a}) ** 1.5",
    domain="its derivative a DomainError where X has an eigenvalue on the closed negative real axis, 0 included",
    doc="the principal matrix square root (of a scalar, sqrt)"))


# -- S^p, S spd and p a number that is not an integer (the ^ node): its derivatives powm_d and powm_d2
def _p(e: Expr) -> float:
    v = number_value(e)
    assert v is not None  # checked by the shape rule
    return float(v)


def _powm_d_shape(fn: Function, args: tuple[Expr, ...]) -> Any:
    direction_shape("S")(fn, args[:2])
    _exponent(fn, args[2])
    return args[0].shape


def _powm_fold(args: tuple[Expr, ...]) -> Expr | None:
    """0 where E is 0, -L(S, E) for -E, numbers taken out of E, p S^(p-1) at E = I."""
    a, e, p = args
    if is_zero(e):
        return zero_like(a)
    if isinstance(e, Neg):
        return neg(powm_d(a, e.arg, p))
    if isinstance(e, MatMul) and isinstance(e.factors[0], Num):
        return mul(e.factors[0], powm_d(a, mul(*e.factors[1:]), p))
    if isinstance(e, Eye):
        return _pow_at_identity(a, p)
    return None


def _pow_at_identity(S: Expr, p: Expr) -> Expr:
    """L_pow(S, I) = p S^(p-1)."""
    q = number_value(p)
    assert q is not None
    return mul(p, power(S, Num(q - 1)))


def _powm_simplify(S: Any, args: tuple[Expr, ...]) -> Expr | None:
    a, e, p = args
    if is_zero(e):
        return Num(0)
    if isinstance(e, Eye):
        return S.run(_pow_at_identity(a, p))
    return None


def _powm_d_rule(e: Expr, d: Any) -> Expr:
    a, v, p = e.args  # type: ignore[attr-defined]
    first = powm_d(a, d(v), p)
    return first if isinstance(d(a), Num) else add(powm_d2(a, v, d(a), p), first)


def _powm_d2_rule(e: Expr, d: Any) -> Expr:
    a, u, v, p = e.args  # type: ignore[attr-defined]
    if not isinstance(d(a), Num):
        raise MatdiffError("the third derivative of S^p is not available: differentiate at most twice")
    return add(powm_d2(a, v, d(u), p), powm_d2(a, u, d(v), p))


def _spd_power_shape(S: Expr) -> None:
    square(powm_d, S)
    if not is_symmetric(S):
        raise ShapeError(f"a non-integer power needs an spd matrix, but {describe(S)} is not symmetric")


powm_d = register(Function(
    name="powm_d", calls=("_K.sym_frechet", "_K.eigh"), family=FAMILY, arity=3, shape=_powm_d_shape, same_shape=True,
    transpose_inside=True, linear_in=1, printed_only=True,
    rule=("d powm_d(S, E, p) = powm_d2(S, E, dS, p) + powm_d(S, dE, p)", _powm_d_rule),
    adjoint=lambda e, c: ("<M, powm_d(S, E, p)> = <powm_d(S', M, p), E>", e.args[1],
                          powm_d(T(e.args[0]), c, e.args[2])),
    fold=_powm_fold, simplify=_powm_simplify,
    latex=lambda p, e: rf"L_{{\cdot^{{{p.doprint(e.args[2])}}}}}\left({p.doprint(e.args[0])}, "
                       rf"{p.doprint(e.args[1])}\right)",
    lower=lambda low, e: low.emit(f"_K.sym_frechet({low.emit(f'_K.eigh({low(e.args[0])})')}, {low(e.args[1])}, "
                                  f"'powm', {_p(e.args[2])!r})"),
    doc="powm_d(S, E, p) = L(S, E), the Fréchet derivative of S^p (S spd, p a number) in the direction E"))

powm_d2 = register(Function(
    name="powm_d2", calls=("_K.powm_frechet2",), family=FAMILY, arity=4, shape=_direction2_shape("S", extra=1),
    same_shape=True, transpose_inside=True, linear_in=2, printed_only=True,
    rule=("d powm_d2(S, E, F, p) = powm_d2(S, F, dE, p) + powm_d2(S, E, dF, p) for constant S", _powm_d2_rule),
    adjoint=lambda e, c: ("<M, powm_d2(S, E, F, p)> = <powm_d2(S', E', M, p), F>", e.args[2],
                          powm_d2(T(e.args[0]), T(e.args[1]), c, e.args[3])),
    fold=_fold2(),
    latex=lambda p, e: rf"L^{{(2)}}_{{\cdot^{{{p.doprint(e.args[3])}}}}}\left("
                       rf"{', '.join(p.doprint(x) for x in e.args[:3])}\right)",
    lower=lambda low, e: low.emit(f"_K.powm_frechet2({low(e.args[0])}, {low(e.args[1])}, {low(e.args[2])}, "
                                  f"{_p(e.args[3])!r})"),
    doc="powm_d2(S, E, F, p), the second Fréchet derivative of S^p in the directions E and F"))


def spd_power_differential(S: Expr, dS: Expr, p: Expr) -> Expr:
    """d(S^p) = powm_d(S, dS, p) for S spd and a number p that is not an integer (the ^ node's rule)."""
    _spd_power_shape(S)
    return powm_d(S, dS, p)


__all__ = ["expm", "expm_d", "expm_d2", "logm", "logm_d", "logm_d2", "sqrtm", "sqrtm_d", "sqrtm_d2",
           "powm_d", "powm_d2", "spd_power_differential"]
