"""Lexer and recursive-descent parser: text -> untyped expression tree.

Grammar, loosest to tightest (as in DESIGN.md)::

    sum     := product (('+' | '-') product)*
    product := unary (('*' | '/' | '.*' | './') unary)*
    unary   := ('-' | '+') unary | postfix (('^' | '.^') unary)?
    postfix := primary "'"*
    primary := number | name | function '(' sum { ',' sum } ')'   (as many as the function's arity)
             | 'eye' ['(' sum ')'] | '(' sum ')'

A comma occurs only between the arguments of a function of several (``adj_d(A, E)``, a printed result's).

Text is only ever parsed, never evaluated as Python.  Nesting deeper than MAX_DEPTH and
text longer than MAX_LENGTH are refused with a ParseError (no RecursionError, no hang).
"""

from __future__ import annotations

import difflib
import math
import re
from fractions import Fraction

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
    Var,
)
from ..errors import ParseError
from ..functions import registry

MAX_LENGTH = 20_000
MAX_DEPTH = 200

_TOKEN = re.compile(r"""(?P<num>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
                      |(?P<name>[A-Za-z][A-Za-z0-9_]*)
                      |(?P<op>\.\*|\./|\.\^|[-+*/^'(),])""", re.X)
_SPACE = re.compile(r"\s*")


def number(text: str, source: str = "", position: int = 0) -> Fraction | float:
    """A literal as an exact Fraction, or a float where it is huge; ParseError past the floats."""
    value = float(text)
    if not math.isfinite(value):
        raise ParseError(f"the number {text[:30]}{'...' if len(text) > 30 else ''} is too large", source, position)
    m = re.search(r"[eE]([-+]?\d+)$", text)
    if (m and abs(int(m.group(1))) > 40) or len(text) > 60:
        return value
    return Fraction(text)


# Python, NumPy and MATLAB habits, answered with the language's own way
HABITS = {
    "trace": "tr(X)",
    "transpose": "the postfix ' (X')",
    "norm": "norm_fro(X) for the Frobenius norm, norm2(x) for the Euclidean (or spectral) norm, or norm1, norm_nuc",
    "inverse": "inv(A)",
    "determinant": "det(A)",
    "matmul": "* (A*B)",
    "dot": "x'*y",
    "expit": "sigmoid(x)",
    "logistic": "sigmoid(x)",
    "ln": "log(x)",
    "sqr": "x.^2",
    "square": "x.^2",
    "mean": "sum(x)/n with a declared n, or sum(x) scaled",
    "max": "relu, eigmax or norm2 (there is no elementwise max)",
    "identity": "eye (the identity of the size that fits) or eye(A)",
    "zeros_like": "zeros(A)",
    "ones_like": "ones(A)",
    "diagonal": "diag(X)",
    "logsoftmax": "log(softmax(x))",
    "log_softmax": "log(softmax(x))",
    "frobenius": "norm_fro(X)",
}


def suggestion(name: str) -> str:
    """'; did you mean ...' for an unknown function name: a habit from another language, or the nearest name."""
    if name.lower() in HABITS:
        return f"; use {HABITS[name.lower()]}"
    names = list(registry.names()) + ["eye", "ones", "zeros"]
    close = difflib.get_close_matches(name, names, n=2, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def _habit(text: str, pos: int) -> str | None:
    """A message for an operator from Python or NumPy at text[pos], or None."""
    ch = text[pos]
    if ch == "@":
        return "'@' is not an operator here: use * for the matrix product (A*B)"
    if text.startswith("**", pos):
        return "'**' is not an operator here: use ^ for a power (X^2, a matrix power) or .^ entrywise (X.^2)"
    if text.startswith(".T", pos) and not text[pos + 2:pos + 3].isalnum():
        return "'.T' is not the transpose here: use ' (X')"
    return None


def tokenize(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, position) triples ending with ('end', '', len(text))."""
    if not isinstance(text, str):
        raise ParseError(f"an expression must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the expression is {len(text)} characters long; the limit is {MAX_LENGTH}")
    toks: list[tuple[str, str, int]] = []
    pos = _SPACE.match(text).end()  # type: ignore[union-attr]
    n = len(text)
    opened: list[bool] = []  # for each open '(': whether it opened a function of two arguments
    while pos < n:
        m = _TOKEN.match(text, pos)
        ch = text[pos]
        if m and ch == "(":
            opened.append(bool(toks) and toks[-1][0] == "name" and _arity(toks[-1][1]) > 1)
        elif m and ch == ")" and opened:
            opened.pop()
        habit = _habit(text, pos)
        if habit is not None:
            raise ParseError(habit, text, pos)
        if m and m.lastgroup == "num" and m.end() < n and (text[m.end()].isalpha() or text[m.end()] == "("):
            raise ParseError(f"a number directly before {text[m.end()]!r}: write a product with *, "
                             f"such as {m.group()}*{text[m.end()]}", text, m.end())
        if not m or (ch == "," and not (opened and opened[-1])):
            hint = ""
            if ch in "[]{},;":
                hint = (": the language has no brackets, commas or semicolons (a comma only separates "
                        "the arguments of a function of several, such as adj_d(A, E))")
            elif ch == ".":
                hint = ": '.' starts .* ./ .^ or a number such as .5"
            raise ParseError(f"unexpected character {ch!r}{hint}", text, pos)
        toks.append((m.lastgroup or "", m.group(), pos))
        pos = _SPACE.match(text, m.end()).end()  # type: ignore[union-attr]
    toks.append(("end", "", n))
    return toks


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0

    # -- helpers
    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def at(self, *ops: str) -> bool:
        kind, val, _ = self.toks[self.i]
        return kind == "op" and val in ops

    def take(self) -> str:
        self.i += 1
        return self.toks[self.i - 1][1]

    def fail(self, what: str) -> ParseError:
        kind, val, pos = self.toks[self.i]
        found = "the end of the input" if kind == "end" else repr(val)
        return ParseError(f"{what}, found {found}", self.text, pos)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError(f"the expression is nested more than {MAX_DEPTH} levels deep",
                             self.text, self.toks[self.i][2])

    # -- grammar
    def whole(self) -> Expr:
        if self.toks[0][0] == "end":
            raise ParseError("the expression is empty", self.text, 0)
        node = self.sum()
        if self.toks[self.i][0] != "end":
            if self.at(")"):
                raise self.fail("unmatched ')'")
            kind, _, _ = self.peek()
            tail = " (a product is written with *: 2*X, A*(B + C))" if kind in ("name", "num") or self.at("(") else ""
            raise self.fail(f"expected an operator (+ - * / .* ./ ^ .^ ') or the end{tail}")
        return node

    def sum(self) -> Expr:
        self.enter()
        terms = [self.product()]
        while self.at("+", "-"):
            op = self.take()
            t = self.product()
            terms.append(Neg(t) if op == "-" else t)
        self.depth -= 1
        return terms[0] if len(terms) == 1 else Add(tuple(terms))

    def product(self) -> Expr:
        node = self.unary()
        chain: list[Expr] = [node]
        while self.at("*", "/", ".*", "./"):
            op = self.take()
            rhs = self.unary()
            if op == "*":
                chain.append(rhs)
                continue
            left = chain[0] if len(chain) == 1 else MatMul(tuple(chain))
            node = Div(left, rhs) if op == "/" else Hadamard(left, rhs) if op == ".*" else HDiv(left, rhs)
            chain = [node]
        return chain[0] if len(chain) == 1 else MatMul(tuple(chain))

    def unary(self) -> Expr:
        self.enter()
        if self.at("-"):
            self.take()
            node: Expr = Neg(self.unary())
        elif self.at("+"):
            self.take()
            node = self.unary()
        else:
            node = self.postfix()
            if self.at("^", ".^"):
                op = self.take()
                exp = self.unary()
                node = Power(node, exp) if op == "^" else EPower(node, exp)
        self.depth -= 1
        return node

    def postfix(self) -> Expr:
        node = self.primary()
        count = 0
        while self.at("'"):
            count += 1
            if self.depth + count > MAX_DEPTH:
                raise ParseError(f"more than {MAX_DEPTH} transposes and levels of nesting", self.text,
                                 self.toks[self.i][2])
            self.take()
            node = Transpose(node)
        return node

    def call_arg(self, name: str) -> Expr:
        _, _, pos = self.peek()
        if not self.at("("):
            raise self.fail(f"{name} is a function: write {name}(...)")
        self.take()
        if self.at(")"):
            raise self.fail(f"{name}( needs an argument")
        arg = self.sum()
        if not self.at(")"):
            raise self.fail(f"expected ')' to close {name}( opened at position {pos}")
        self.take()
        return arg

    def call_args(self, fn: registry.Function) -> Expr:
        """name(a, b, ...): a function of several arguments (adj_d(A, E))."""
        name, n = fn.name, fn.arity
        _, _, pos = self.peek()
        if not self.at("("):
            raise self.fail(f"{name} is a function of {n} arguments: write {name}({', '.join(_PLACES[:n])})")
        self.take()
        args = []
        for k in range(n):
            if self.at(")", ","):
                raise self.fail(f"{name}( needs {n} arguments, {name}({', '.join(_PLACES[:n])})")
            args.append(self.sum())
            if k < n - 1 and not self.at(","):
                raise self.fail(f"expected ',' before argument {k + 2} of {name}( opened at position {pos}")
            if k < n - 1:
                self.take()
        if not self.at(")"):
            raise self.fail(f"expected ')' to close {name}( opened at position {pos}")
        self.take()
        return Call(fn, *args)

    def primary(self) -> Expr:
        kind, val, pos = self.peek()
        if kind == "num":
            self.take()
            return Num(number(val, self.text, pos))
        if kind == "name":
            self.take()
            fn = registry.get(val)
            if fn is not None:
                return Call(fn, self.call_arg(val)) if fn.arity == 1 else self.call_args(fn)
            if val == "ones":
                return Ones(self.call_arg(val))
            if val == "zeros":  # zeros(E) = 0*ones(E): the zero matrix shaped like E
                return MatMul((Num(0), Ones(self.call_arg(val))))
            if val == "eye":
                return Eye(self.call_arg(val)) if self.at("(") else Eye()
            if self.at("("):
                hint = suggestion(val) or "; the functions are " + ", ".join(registry.names())
                raise ParseError(f"unknown function {val!r}{hint}", self.text, pos)
            return Var(val)
        if self.at("("):
            self.take()
            node = self.sum()
            if not self.at(")"):
                raise self.fail(f"expected ')' to close the '(' at position {pos}")
            self.take()
            return node
        if kind == "end":
            raise self.fail("expected a number, a name or '('")
        raise self.fail(f"{val!r} cannot start an operand; expected a number, a name or '('")


_PLACES = ("A", "E", "C", "D", "F", "G", "H")


def _arity(name: str) -> int:
    fn = registry.get(name)
    return 0 if fn is None else fn.arity


def parse(text: str) -> Expr:
    """The untyped tree of ``text``; a ParseError with position and caret on bad input."""
    return _Parser(text).whole()
