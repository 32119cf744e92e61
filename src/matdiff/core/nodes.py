"""Immutable expression trees of the matdiff language.

A node is equal to another when it has the same structure (its hash is cached), so equal
subexpressions are recognised wherever they occur: the simplifier combines like terms and
the evaluator and code generator compute a repeated subexpression once.

A node made from typed children carries ``shape`` = (rows, cols) of
:class:`~matdiff.core.shapes.Dim`; the parser builds untyped trees (shape ``None``) and
:func:`matdiff.syntax.typing.typecheck` rebuilds them typed.  Constructors check and unify
shapes, so an ill-shaped tree cannot be built.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

from ..errors import DomainError, ShapeError
from .shapes import SCALAR_SHAPE, SYMMETRIC_KINDS, Dim, is_one, shape_str, unify

if TYPE_CHECKING:
    from ..functions.registry import Function

Shape = tuple[Dim, Dim]

_PRINTERS: dict[str, object] = {}  # "text" -> the printer of the language, set by syntax.printer


def _text(e: Expr) -> str:
    printer = _PRINTERS.get("text")
    return printer(e) if printer is not None else f"<{type(e).__name__}>"  # type: ignore[operator]


def _describe(e: Expr) -> str:
    return f"{_text(e)} ({shape_str(e.shape)})" if e.shape else _text(e)


class Expr:
    """Base of all nodes: structural equality, cached hash, children and rebuilding."""

    __slots__ = ("shape", "free", "linear", "pending", "_key", "_hash", "_scalar")
    children: tuple[Expr, ...] = ()

    def _init(self, key: tuple, children: tuple[Expr, ...], shape: Shape | None) -> None:
        self._key = key
        self._hash = hash(key)
        self.shape = shape
        self._scalar: bool | None = None
        free: frozenset[str] = frozenset()
        linear = pending = False
        for c in children:
            if c.free:
                free = free | c.free if free else c.free
            linear = linear or c.linear
            pending = pending or c.pending
        self.free = free
        self.linear = linear  # holds a differential (dX or a pending d(...))
        self.pending = pending  # holds a pending d(...)

    def __eq__(self, other: object) -> bool:
        return self is other or (type(self) is type(other) and self._hash == other._hash  # type: ignore
                                 and self._key == other._key)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return _text(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {_text(self)}>"

    def _repr_latex_(self) -> str | None:
        printer = _PRINTERS.get("latex")
        return f"${printer(self)}$" if printer is not None else None  # type: ignore[operator]

    @property
    def typed(self) -> bool:
        return self.shape is not None

    @property
    def is_scalar(self) -> bool:
        got = self._scalar
        if got is None:
            s = self.shape
            got = s is not None and is_one(s[0]) and is_one(s[1])
            if s is not None and (got or (s[0].find().value is not None and s[1].find().value is not None)
                                  or not (s[0].find().unit_ok and s[1].find().unit_ok)):
                self._scalar = got  # settled: it cannot change by a later unification
        return got

    @property
    def is_vector(self) -> bool:
        s = self.shape
        return s is not None and is_one(s[1]) and not is_one(s[0])

    def rebuild(self, children: tuple[Expr, ...]) -> Expr:
        raise NotImplementedError

    def depends_on(self, name: str) -> bool:
        return name in self.free


def _typed(*children: Expr) -> bool:
    return all(c.shape is not None for c in children)


Number = Fraction | float | int


def format_number(v: Fraction | float) -> str:
    """Shortest exact text of a number: 2, 0.5, 1/3, 1e-08."""
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Fraction):
        if v.denominator == 1:
            return str(v.numerator)
        d = v.denominator
        while d % 2 == 0:
            d //= 2
        while d % 5 == 0:
            d //= 5
        if d == 1:  # a finite decimal
            f = float(v)
            if Fraction(repr(f)) == v:
                return repr(f)
        return f"{v.numerator}/{v.denominator}"
    return repr(float(v))


def _number_text(v: Number) -> str:
    s = format_number(v)
    if len(s) > 20:  # a long exact number, shown as the float it stands for: 1e+40
        try:
            s = repr(float(v))
        except OverflowError:
            s = f"{s[:12]}...({len(s)} characters)"
    return s.replace("e+", "e")  # 1e308, as the user writes it


def fold(op: str, a: Number, b: Number) -> Number:
    """a op b for two numbers of an expression (op one of + * / ^), exact where both are rational.

    Folding constants never makes an infinity or a NaN silently: a DomainError names the
    constant expression and the reason ("the constant 1e308*1e308 overflows").
    """
    rational = isinstance(a, (int, Fraction)) and isinstance(b, (int, Fraction))

    def text() -> str:
        right = _number_text(b)
        return f"{_number_text(a)}{op}{f'({right})' if b < 0 else right}"

    try:
        if op == "+":
            v: Number = a + b
        elif op == "*":
            v = a * b
        elif op == "/":
            v = Fraction(a) / b if rational else a / b
        elif op == "^":
            # exact for a moderate integer exponent (2^(1/2) is a float; 2^100000 needs no digits)
            exact = rational and isinstance(b, int) and abs(b) <= 1024
            v = Fraction(a) ** b if exact else float(a) ** float(b)
        else:  # pragma: no cover - callers pass one of the four
            raise ValueError(f"unknown operation {op}")
    except ZeroDivisionError:
        raise DomainError(f"the constant {text()} divides by 0: it is undefined") from None
    except OverflowError:
        raise DomainError(f"the constant {text()} overflows (it is beyond the floating-point range)") from None
    if isinstance(v, complex):  # (-8)^(1/3) in floats
        raise DomainError(f"the constant {text()} is not a real number")
    reason = _not_a_number(v)
    if reason is not None:
        raise DomainError(f"the constant {text()} {reason}")
    return v


def _not_a_number(v: Number) -> str | None:
    """Why v cannot be a constant of an expression (inf, nan, beyond the floats), or None."""
    if isinstance(v, float):
        if math.isnan(v):
            return "is undefined (not a number)"
        if math.isinf(v):
            return "overflows (it is beyond the floating-point range)"
        return None
    # an exact rational must still be a float when evaluated: |v| <= the largest float
    return "overflows (it is beyond the floating-point range)" if abs(v) > _FLOAT_MAX else None


_FLOAT_MAX = int(1.7976931348623157e308)  # the largest float, an integer: compared exactly with int and Fraction


class Num(Expr):
    """A number (kept exact as a Fraction where the literal allows); always finite.

    A value that is not a finite float (inf, nan, an integer past the floats) is refused with a
    DomainError: :func:`fold` names the constant expression it came from first where it can.
    """

    __slots__ = ("value",)

    def __init__(self, value: Fraction | float | int):
        # integers as int (fast arithmetic), other rationals as Fraction, the rest as float
        if isinstance(value, Fraction):
            if value.denominator == 1:
                value = int(value.numerator)
        elif isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)
        elif not isinstance(value, (int, float)):
            value = float(value)
        reason = _not_a_number(value)
        if reason is not None:
            raise DomainError(f"the constant {_number_text(value)} {reason}")
        self.value = value
        self._init(("num", value), (), SCALAR_SHAPE)

    def rebuild(self, children: tuple[Expr, ...]) -> Expr:
        return self


class Var(Expr):
    """A variable; ``kind`` is scalar, vector, matrix, symmetric, spd or diagonal."""

    __slots__ = ("name", "kind")

    def __init__(self, name: str, kind: str | None = None, shape: Shape | None = None):
        self.name = name
        self.kind = kind
        self._init(("var", name), (), shape)
        self.free = frozenset((name,))

    @property
    def symmetric(self) -> bool:
        return self.kind in SYMMETRIC_KINDS

    def rebuild(self, children: tuple[Expr, ...]) -> Expr:
        return self


class Eye(Expr):
    """The identity; its size comes from the context, or from ``like`` (as many rows as like)."""

    __slots__ = ("like", "dim")

    def __init__(self, like: Expr | None = None, dim: Dim | None = None):
        if isinstance(like, (Eye, Ones)) and like.shape is not None:
            # eye(eye(E)) and eye(ones(E)) have E's rows: the size is carried by E (or by the dim
            # of a bare identity), never by another eye, whose printed text may not fix a size
            like, dim = like.like, like.shape[0]
        self.like = like
        if like is not None and like.shape is not None:
            dim = like.shape[0]
        self.dim = dim
        key_size = like if dim is None else _dim_key(dim)
        self._init(("eye", key_size), (), None if dim is None else (dim, dim))

    def rebuild(self, children: tuple[Expr, ...]) -> Expr:
        return self


def _dim_key(d: Dim) -> object:
    r = d.find()
    return r.value if r.value is not None else id(r)


class Ones(Expr):
    """The matrix of ones shaped like ``like`` (only its shape is used, never its value)."""

    __slots__ = ("like",)

    def __init__(self, like: Expr):
        while isinstance(like, Ones) and like.shape is not None:
            like = like.like  # ones(ones(E)) is shaped like E
        self.like = like
        # equal when the shapes are (like is only a way to write the shape)
        key = ("ones", _dim_key(like.shape[0]), _dim_key(like.shape[1])) if like.shape is not None else ("ones", like)
        self._init(key, (), like.shape)


class Add(Expr):
    """A sum of terms; a scalar term added to a matrix adds entrywise."""

    __slots__ = ("terms",)

    def __init__(self, terms: tuple[Expr, ...]):
        self.terms = terms
        shape = None
        if _typed(*terms):
            shape = _broadcast("+", terms)
        self._init(("add",) + terms, terms, shape)

    @property
    def children(self) -> tuple[Expr, ...]:  # type: ignore[override]
        return self.terms

    def rebuild(self, children: tuple[Expr, ...]) -> Expr:
        return Add(children)


def _broadcast(op: str, operands: tuple[Expr, ...]) -> Shape:
    shape = None
    first = None
    for t in operands:
        if t.is_scalar:
            continue
        if shape is None:
            shape, first = t.shape, t
            continue
        if shape[0].find() is t.shape[0].find() and shape[1].find() is t.shape[1].find():
            continue
        a, b = first, t
        unify(shape[0], t.shape[0], lambda a=a, b=b: _mismatch(op, a, b))
        unify(shape[1], t.shape[1], lambda a=a, b=b: _mismatch(op, a, b))
    return shape if shape is not None else SCALAR_SHAPE


def _mismatch(op: str, a: Expr, b: Expr) -> str:
    if op == "+" and isinstance(b, Neg):  # a - b is parsed as a + (-b): say what was written
        return f"cannot subtract {_describe(b.arg)} from {_describe(a)}: the sizes differ"
    return f"cannot apply {op} to {_describe(a)} and {_describe(b)}: the sizes differ"


class Neg(Expr):
    __slots__ = ("arg",)

    def __init__(self, arg: Expr):
        self.arg = arg
        self._init(("neg", arg), (arg,), arg.shape)

    @property
    def children(self) -> tuple[Expr, ...]:  # type: ignore[override]
        return (self.arg,)

    def rebuild(self, children: tuple[Expr, ...]) -> Expr:
        return Neg(children[0])


class MatMul(Expr):
    """``*``: the matrix product, and scaling where a factor is a scalar."""

    __slots__ = ("factors",)

    def __init__(self, factors: tuple[Expr, ...]):
        self.factors = factors
        shape = None
        if _typed(*factors):
            shape = SCALAR_SHAPE
            left: Expr | None = None
            for f in factors:
                if f.is_scalar:
                    continue
                if left is None or (is_one(shape[0]) and is_one(shape[1])):
                    shape, left = f.shape, f
                    continue
                if shape[1].find() is not f.shape[0].find():
                    a, b = left, f
                    unify(shape[1], f.shape[0], lambda a=a, b=b: (
                        f"cannot multiply {_describe(a)} by {_describe(b)}: "
                        f"{a.shape[1]} columns against {b.shape[0]} rows"))
                shape = (shape[0], f.shape[1])
                left = f
        self._init(("mul",) + factors, factors, shape)

    @property
    def children(self) -> tuple[Expr, ...]:  # type: ignore[override]
        return self.factors

    def rebuild(self, children: tuple[Expr, ...]) -> Expr:
        return MatMul(children)


class Div(Expr):
    """``a / b`` with a scalar b."""

    __slots__ = ("num", "den")

    def __init__(self, num: Expr, den: Expr):
        self.num, self.den = num, den
        shape = None
        if _typed(num, den):
            if not den.is_scalar:
                raise ShapeError(f"/ divides by a scalar only, but {_describe(den)} is not one: "
                                 "use ./ for entrywise division or inv(...) for a matrix")
            shape = num.shape
        self._init(("div", num, den), (num, den), shape)

    @property
    def children(self) -> tuple[Expr, ...]:  # type: ignore[override]
        return (self.num, self.den)

    def rebuild(self, children: tuple[Expr, ...]) -> Expr:
        return Div(*children)


class _Binary(Expr):
    __slots__ = ("a", "b")
    OP = "?"
    TAG = "?"

    def __init__(self, a: Expr, b: Expr):
        self.a, self.b = a, b
        shape = _broadcast(self.OP, (a, b)) if _typed(a, b) else None
        self._init((self.TAG, a, b), (a, b), shape)

    @property
    def children(self) -> tuple[Expr, ...]:  # type: ignore[override]
        return (self.a, self.b)

    def rebuild(self, children: tuple[Expr, ...]) -> Expr:
        return type(self)(*children)


class Hadamard(_Binary):
    """``a .* b``, the entrywise (Hadamard) product."""

    __slots__ = ()
    OP, TAG = ".*", "had"


class HDiv(_Binary):
    """``a ./ b``, entrywise division."""

    __slots__ = ()
    OP, TAG = "./", "hdiv"


class EPower(_Binary):
    """``a .^ b``, the entrywise power."""

    __slots__ = ()
    OP, TAG = ".^", "epow"


class Power(Expr):
    """``a ^ b``: a scalar power, or a square matrix to an integer power."""

    __slots__ = ("base", "exp")

    def __init__(self, base: Expr, exp: Expr):
        self.base, self.exp = base, exp
        shape = None
        if _typed(base, exp):
            if not exp.is_scalar:
                raise ShapeError(f"the exponent {_describe(exp)} of ^ must be a scalar; "
                                 "use .^ for an entrywise power")
            if base.is_scalar:
                shape = SCALAR_SHAPE
            else:
                if integer_value(exp) is None and not (number_value(exp) is not None and is_spd(base)):
                    shown = _text(base) if isinstance(base, (Var, Call)) else f"({_text(base)})"
                    name = base.name if isinstance(base, Var) else "S"
                    raise ShapeError(f"{shown}^{_text(exp)}: a matrix power needs an integer exponent, or a number "
                                     f"and a matrix declared spd (types={{'{name}': 'spd'}}); use .^ for an "
                                     "entrywise power")
                unify(base.shape[0], base.shape[1], lambda: f"^ needs a square matrix, "
                      f"but {_describe(base)} is not square")
                shape = base.shape
        self._init(("pow", base, exp), (base, exp), shape)

    @property
    def children(self) -> tuple[Expr, ...]:  # type: ignore[override]
        return (self.base, self.exp)

    def rebuild(self, children: tuple[Expr, ...]) -> Expr:
        return Power(*children)


def is_spd(e: Expr) -> bool:
    """e is a variable declared spd (a non-integer power S^p is defined for it: U diag(w^p) U')."""
    return isinstance(e, Var) and e.kind == "spd"


def integer_value(e: Expr) -> int | None:
    """The integer an expression is literally (2, -1, -(3)), or None."""
    if isinstance(e, Neg):
        v = integer_value(e.arg)
        return None if v is None else -v
    if isinstance(e, Num) and isinstance(e.value, int):
        return e.value
    return None


def number_value(e: Expr) -> Fraction | float | None:
    if isinstance(e, Neg):
        v = number_value(e.arg)
        return None if v is None else -v
    if isinstance(e, Num):
        return e.value
    return None


class Transpose(Expr):
    """Postfix ``'``: the transpose (never the conjugate)."""

    __slots__ = ("arg",)

    def __init__(self, arg: Expr):
        self.arg = arg
        self._init(("T", arg), (arg,), None if arg.shape is None else (arg.shape[1], arg.shape[0]))

    @property
    def children(self) -> tuple[Expr, ...]:  # type: ignore[override]
        return (self.arg,)

    def rebuild(self, children: tuple[Expr, ...]) -> Expr:
        return Transpose(children[0])


class Call(Expr):
    """A function of the language applied to its arguments: tr(A), det(A), exp(X), adj_d(A, E), ...

    ``fn`` is the registry entry (:class:`matdiff.functions.registry.Function`), which gives the
    shape rule and everything else about the function; ``arg`` is the first argument.
    """

    __slots__ = ("fn", "args")

    def __init__(self, fn: Function, *args: Expr):
        if len(args) != fn.arity:
            raise ShapeError(f"{fn.name} takes {fn.arity} argument{'s' * (fn.arity != 1)}, not {len(args)}")
        self.fn, self.args = fn, args
        typed = all(a.shape is not None for a in args)
        self._init(("call", fn) + args, args, fn.shape(fn, args) if typed else None)

    @property
    def arg(self) -> Expr:
        return self.args[0]

    @property
    def children(self) -> tuple[Expr, ...]:  # type: ignore[override]
        return self.args

    def rebuild(self, children: tuple[Expr, ...]) -> Expr:
        return Call(self.fn, *children)


class D(Expr):
    """d(arg): a differential still to be expanded by the rules."""

    __slots__ = ("arg",)

    def __init__(self, arg: Expr):
        self.arg = arg
        self._init(("D", arg), (arg,), arg.shape)
        self.linear = self.pending = True

    @property
    def children(self) -> tuple[Expr, ...]:  # type: ignore[override]
        return (self.arg,)

    def rebuild(self, children: tuple[Expr, ...]) -> Expr:
        return D(children[0])


class Diff(Expr):
    """dX: the differential of the variable (the leaf of a linear form)."""

    __slots__ = ("var",)

    def __init__(self, var: Var):
        self.var = var
        self._init(("d", var.name), (), var.shape)
        self.linear = True

    def rebuild(self, children: tuple[Expr, ...]) -> Expr:
        return self


LEAVES = (Num, Var, Eye, Ones, Diff)
