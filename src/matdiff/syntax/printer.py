"""Printing back to the language: the text re-parses to an expression with the same values.

Dispatch is by node class (``_print_Add``, ``_print_MatMul``, ...), as in SymPy's printers.
An identity whose size its context does not fix is written ``eye(V)`` (as many rows as V),
and a matrix of ones ``ones(E)`` (shaped like E), so a printed result evaluates on its own.
"""

from __future__ import annotations

from fractions import Fraction

from ..core import nodes as _nodes
from ..core.build import is_zero
from ..core.nodes import (
    Add,
    Call,
    D,
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
    format_number,
)
from ..core.shapes import Dim, same_dim
from .typing import variables

ADD, MUL, NEG, POW, POST, ATOM = 1, 2, 3, 4, 5, 6


def num_precedence(v: Fraction | float) -> int:
    if v < 0:
        return NEG
    if isinstance(v, Fraction) and v.denominator != 1 and "/" in format_number(v):
        return MUL
    return ATOM


def precedence(e: Expr) -> int:
    if isinstance(e, Add):
        return ADD
    if isinstance(e, (Div, Hadamard, HDiv)):
        return MUL
    if isinstance(e, MatMul):
        return NEG if _leading_negative(e) else MUL
    if isinstance(e, Neg):
        return NEG
    if isinstance(e, (Power, EPower)):
        return POW
    if isinstance(e, Transpose):
        return POST
    if isinstance(e, Num):
        return num_precedence(e.value)
    return ATOM


def _leading_negative(e: MatMul) -> bool:
    f = e.factors[0]
    return isinstance(f, Num) and f.value < 0


def split_fraction(e: MatMul) -> tuple[list[Expr], list[Expr]]:
    """Numerator and denominator factors: scalar powers with negative exponents go below."""
    top: list[Expr] = []
    bottom: list[Expr] = []
    for f in e.factors:
        if (isinstance(f, Power) and f.base.is_scalar and isinstance(f.exp, Num)
                and f.exp.value < 0):
            p = -f.exp.value
            bottom.append(f.base if p == 1 else Power(f.base, Num(p)))
        elif isinstance(f, Num) and isinstance(f.value, Fraction) and "/" in format_number(f.value):
            if f.value.numerator != 1:
                top.append(Num(f.value.numerator))
            bottom.insert(0, Num(f.value.denominator))
        else:
            top.append(f)
    return top, bottom


def needs_context(e: Expr) -> bool:
    """True where the printed text of e does not fix its size (a bare eye, 2*eye, ...)."""
    if isinstance(e, Eye):
        return True
    if isinstance(e, (Neg, Transpose)):
        return needs_context(e.arg)
    if isinstance(e, Div):
        return needs_context(e.num)
    if isinstance(e, (MatMul, Add)):
        parts = [c for c in e.children if not c.is_scalar]
        return bool(parts) and all(needs_context(c) for c in parts)
    if isinstance(e, (Hadamard, HDiv, EPower)):  # a scalar operand broadcasts: it fixes no size
        parts = [c for c in (e.a, e.b) if not c.is_scalar]
        return bool(parts) and all(needs_context(c) for c in parts)
    if isinstance(e, Power):
        return needs_context(e.base)
    if isinstance(e, Call):  # exp(eye) is as large as its argument; adj_d(A, E) as A and E
        return e.fn.same_shape and all(needs_context(a) for a in e.args)
    return False


def rows_like(e: Expr) -> Expr:
    """A short expression with as many rows as e (to write the size of an identity).

    It goes through identities and ones to what sizes them (eye(A) and ones(A) have A's rows),
    so the size is written through a variable, never as eye(eye). A bare identity (no ``like``)
    is returned as it is: only the printer, which knows the variables, can name its size.
    """
    if isinstance(e, (Var, Diff)) or not e.typed:
        return e
    if isinstance(e, (Eye, Ones)):
        return e if e.like is None else rows_like(e.like)
    if isinstance(e, Transpose):
        return Transpose(rows_like(e.arg)) if isinstance(e.arg, Var) else _cols_like(e.arg)
    if isinstance(e, MatMul):
        for f in e.factors:
            if not f.is_scalar:
                return rows_like(f)
    if isinstance(e, Add):
        for t in e.terms:
            if not t.is_scalar:
                return rows_like(t)
    if isinstance(e, (Neg, Div, Hadamard, HDiv, Power, EPower, Call)):
        for c in e.children:
            if not c.is_scalar:
                return rows_like(c)
    return e


def _cols_like(e: Expr) -> Expr:
    """A short expression with as many rows as e has columns."""
    if isinstance(e, Var):
        return Transpose(e)
    if isinstance(e, Eye) and e.like is not None:  # eye(A) is square: its columns are A's rows
        return rows_like(e.like)
    if isinstance(e, Ones):  # ones(A) has A's columns
        return _cols_like(e.like)
    if isinstance(e, Transpose):
        return rows_like(e.arg)
    if isinstance(e, MatMul):
        for f in reversed(e.factors):
            if not f.is_scalar:
                return _cols_like(f)
    return Transpose(e)


class TextPrinter:
    """Prints typed or untyped trees in the language."""

    def __init__(self, root: Expr):
        self.root = root
        self._vars: list[Var] | None = None

    def doprint(self, e: Expr) -> str:
        return self.p(e, False)

    def p(self, e: Expr, sized: bool) -> str:
        return getattr(self, "_print_" + type(e).__name__)(e, sized)

    def wrap(self, e: Expr, sized: bool, parens: bool) -> str:
        s = self.p(e, sized)
        return f"({s})" if parens else s

    # -- leaves
    def _print_Num(self, e: Num, sized: bool) -> str:
        return format_number(e.value)

    def _print_Var(self, e: Var, sized: bool) -> str:
        return e.name

    def _print_Diff(self, e: Diff, sized: bool) -> str:
        return "d" + e.var.name

    def _print_D(self, e: D, sized: bool) -> str:
        inner = self.p(e.arg, sized)
        return f"d{inner}" if isinstance(e.arg, Var) else f"d({inner})"

    def _print_Eye(self, e: Eye, sized: bool) -> str:
        if not e.typed:  # as parsed: keep what was written
            return "eye" if e.like is None else f"eye({self.doprint(e.like)})"
        if sized:
            return "eye"
        like = rows_like(e.like) if e.like is not None else None
        if like is None or needs_context(like):  # no carrier, or one that is itself an identity
            like = self._var_with_rows(e.dim) or like
        # eye(E) gives E no size: E's text must fix its own (printed unsized)
        return "eye" if like is None else f"eye({self.p(like, False)})"

    def _var_with_rows(self, dim: Dim | None) -> Expr | None:
        if dim is None:
            return None
        if self._vars is None:

            self._vars = [v for v in variables(self.root).values() if v.typed]
        for v in self._vars:
            if not v.is_scalar and same_dim(v.shape[0], dim):
                return v
        for v in self._vars:
            if not v.is_scalar and same_dim(v.shape[1], dim):
                return Transpose(v)
        return None

    def _print_Ones(self, e: Ones, sized: bool) -> str:
        # ones(E) is taken as sizing itself (needs_context is False for it), so E's text must
        # fix its size: ones(eye(A)), never ones(eye)
        return f"ones({self.p(e.like, False)})"

    def _print_Call(self, e: Call, sized: bool) -> str:
        # a same-shaped function passes the size its context gives on to its arguments, and the
        # arguments of one shape (adj_d(A, E)) each fix the size of the others
        args = e.args
        if not e.fn.same_shape:
            return f"{e.fn.name}({', '.join(self.p(a, False) for a in args)})"
        texts = [self.p(a, sized or any(not needs_context(b) for j, b in enumerate(args) if j != i))
                 for i, a in enumerate(args)]
        return f"{e.fn.name}({', '.join(texts)})"

    # -- operators
    def _print_Add(self, e: Add, sized: bool) -> str:
        out: list[str] = []
        free = [t for t in e.terms if not t.is_scalar and not needs_context(t)]
        terms = list(e.terms)
        if _negative(terms[0]):  # a positive term first, as a person writes it: c - y, not -y + c
            first = next((i for i, t in enumerate(terms) if not _negative(t)), 0)
            terms.insert(0, terms.pop(first))
        for i, t in enumerate(terms):
            s_t = sized or any(u is not t for u in free)
            neg = None
            if isinstance(t, Neg):
                neg = t.arg
            elif isinstance(t, MatMul) and (first := _negated(t.factors[0])) is not None:  # (-C'*s)*s: - C'*s*s
                neg = MatMul((first,) + t.factors[1:])
            elif isinstance(t, MatMul) and _leading_negative(t):
                c = -t.factors[0].value  # type: ignore[attr-defined]
                neg = MatMul(t.factors[1:]) if c == 1 else MatMul((Num(c),) + t.factors[1:])
                if len(t.factors) == 2 and c == 1:
                    neg = t.factors[1]
            elif isinstance(t, Num) and t.value < 0:
                neg = Num(-t.value)
            if neg is not None and i > 0:
                out.append(" - " + self.wrap(neg, s_t, precedence(neg) <= ADD))
            else:
                s = self.wrap(t, s_t, precedence(t) <= ADD)
                out.append(s if i == 0 else " + " + s)
        return "".join(out)

    def _print_Neg(self, e: Neg, sized: bool) -> str:
        return "-" + self.wrap(e.arg, sized, precedence(e.arg) <= NEG)

    def _print_MatMul(self, e: MatMul, sized: bool) -> str:
        if is_zero(e):  # 0*ones(E): the zero that keeps E's shape
            return f"zeros({self.p(e.factors[1].like, False)})"  # type: ignore[attr-defined]
        top, bottom = split_fraction(e) if e.typed else (list(e.factors), [])
        free = [f for f in top if not f.is_scalar and not needs_context(f)]
        parts: list[str] = []
        for i, f in enumerate(top):
            s_f = sized or any(u is not f for u in free)
            if i == 0 and isinstance(f, Num) and f.value == -1 and len(top) > 1:
                parts.append("-")
                continue
            first = i == 0 or (i == 1 and parts == ["-"])
            limit = ADD if first else NEG
            if first and isinstance(f, Num) and f.value < 0:
                parts.append(format_number(f.value))
            elif (u := _untransposed_sum(f)) is not None:  # x' - m' as a person writes it: (x - m)'
                parts.append("(" + self.p(u, s_f) + ")'")
            else:
                parts.append(self.wrap(f, s_f, precedence(f) <= limit))
        text = parts[0] + "".join(("" if parts[0] == "-" and k == 1 else "*") + s
                                  for k, s in enumerate(parts[1:], 1)) if parts else "1"
        if bottom:
            den = bottom[0] if len(bottom) == 1 else MatMul(tuple(bottom))
            text += "/" + self.wrap(den, True, precedence(den) <= NEG or len(bottom) > 1)
        return text

    def _print_Div(self, e: Div, sized: bool) -> str:
        return (self.wrap(e.num, sized, precedence(e.num) < MUL) + "/"
                + self.wrap(e.den, True, precedence(e.den) <= NEG))

    @staticmethod
    def _sizes(e: Hadamard | HDiv | EPower, sized: bool) -> tuple[bool, bool]:
        """Whether each operand's size is fixed by the context or by the other operand (not a scalar)."""
        return (sized or (not e.b.is_scalar and not needs_context(e.b)),
                sized or (not e.a.is_scalar and not needs_context(e.a)))

    def _binary(self, e: Hadamard | HDiv, op: str, sized: bool) -> str:
        s_a, s_b = self._sizes(e, sized)
        return (self.wrap(e.a, s_a, precedence(e.a) < MUL) + op
                + self.wrap(e.b, s_b, precedence(e.b) <= NEG))

    def _print_Hadamard(self, e: Hadamard, sized: bool) -> str:
        return self._binary(e, ".*", sized)

    def _print_HDiv(self, e: HDiv, sized: bool) -> str:
        return self._binary(e, "./", sized)

    def _power(self, base: Expr, exp: Expr, op: str, sized: bool, sized_exp: bool = True) -> str:
        return (self.wrap(base, sized, precedence(base) < POST) + op
                + self.wrap(exp, sized_exp, precedence(exp) < NEG or isinstance(exp, MatMul)))

    def _print_Power(self, e: Power, sized: bool) -> str:
        return self._power(e.base, e.exp, "^", sized)

    def _print_EPower(self, e: EPower, sized: bool) -> str:
        return self._power(e.a, e.b, ".^", *self._sizes(e, sized))

    def _print_Transpose(self, e: Transpose, sized: bool) -> str:
        return self.wrap(e.arg, sized, precedence(e.arg) < POST) + "'"


def _negative(t: Expr) -> bool:
    """t prints with a leading minus."""
    if isinstance(t, MatMul):
        return _leading_negative(t) or _negated(t.factors[0]) is not None
    return isinstance(t, Neg) or (isinstance(t, Num) and t.value < 0)


def _negated(f: Expr) -> Expr | None:
    """-f where the factor f prints with a leading minus (-C', -1*C'*s), else None."""
    if isinstance(f, Neg):
        return f.arg
    if isinstance(f, MatMul) and _leading_negative(f):
        c = -f.factors[0].value  # type: ignore[attr-defined]
        rest = f.factors[1:] if c == 1 else (Num(c),) + f.factors[1:]
        return rest[0] if len(rest) == 1 else MatMul(rest)
    return None


def _untransposed_product(t: Expr) -> tuple[Expr, int] | None:
    """(P, k) where t = c*F1'*...*Fk' (every matrix factor transposed) and P = c*Fk*...*F1."""
    factors = list(t.factors) if isinstance(t, MatMul) else [t]
    c = [f for f in factors if isinstance(f, Num)]
    rest = [f for f in factors if not isinstance(f, Num)]
    if len(c) > 1 or not rest or not all(isinstance(f, Transpose) for f in rest):
        return None
    inner = tuple(c) + tuple(f.arg for f in reversed(rest))  # type: ignore[attr-defined]
    return (inner[0] if len(inner) == 1 else MatMul(inner)), len(rest)


def _untransposed(e: Expr, fewest: int) -> tuple[Expr, int] | None:
    """(S, k) where e = S' is a sum (or a product) of transposed factors, k transposes in all, at least fewest:
    x' - m' = (x - m)', B'*X' + X'*B' = (X*B + B*X)'."""
    if e.shape is None or e.is_scalar:
        return None
    if isinstance(e, MatMul):
        got = _untransposed_product(e)
        return got if got is not None and got[1] >= fewest and got[1] > 1 else None
    if not isinstance(e, Add):
        return None
    terms: list[Expr] = []
    primes = 0
    for t in e.terms:
        got = _untransposed_product(t)
        if got is None:
            return None
        terms.append(got[0])
        primes += got[1]
    return (Add(tuple(terms)), primes) if primes >= fewest else None


def _untransposed_sum(e: Expr) -> Expr | None:
    """S where a factor e of a product is S' for a sum S (the parentheses are there anyway)."""
    got = _untransposed(e, 2) if isinstance(e, Add) else None
    return got[0] if got is not None else None


def to_text(e: Expr) -> str:
    """e in the language of matdiff (re-parseable)."""
    printer = TextPrinter(e)
    # a result that is the transpose of a shorter one, as the Cookbook writes it: (X*B + B*X)',
    # -(inv(X)*B*A*inv(X))' (four transposes or more become one and a pair of parentheses)
    got = _untransposed(e, 4)
    if got is not None:
        inner = got[0]
        sign = ""
        if isinstance(inner, MatMul) and isinstance(inner.factors[0], Num):
            c = inner.factors[0].value
            sign = "-" if c == -1 else f"{format_number(c)}*"
            inner = inner.factors[1] if len(inner.factors) == 2 else MatMul(inner.factors[1:])
        return f"{sign}({printer.p(inner, False)})'"
    return printer.doprint(e)


_nodes._PRINTERS["text"] = to_text  # str(node) prints through here (the nodes know no printer)
