"""LaTeX printer: the notation of the Matrix Cookbook (A^{-1}, \\operatorname{tr}, \\|X\\|_F, \\odot)."""

from __future__ import annotations

import re

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
)
from ..functions.linalg import inv
from .printer import ADD, ATOM, MUL, NEG, POST, _leading_negative, format_number, precedence, split_fraction

GREEK = frozenset("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma "
                  "tau upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega".split())
_ALIASES = {"lam": "lambda", "eps": "epsilon"}

def latex_name(name: str) -> str:
    m = re.fullmatch(r"([A-Za-z]+?)_?(\d+)", name)
    base, sub = (m.group(1), m.group(2)) if m else (name, "")
    base = _ALIASES.get(base, base)
    if base in GREEK:
        text = "\\" + base
    elif len(base) == 1:
        text = base
    else:
        text = r"\mathit{" + base.replace("_", r"\_") + "}"
    return f"{text}_{{{sub}}}" if sub else text


class LatexPrinter:
    def doprint(self, e: Expr) -> str:
        return getattr(self, "_print_" + type(e).__name__)(e)

    def wrap(self, e: Expr, parens: bool) -> str:
        s = self.doprint(e)
        return rf"\left({s}\right)" if parens else s

    def _print_Num(self, e: Num) -> str:
        s = format_number(e.value)
        if "/" in s:
            p, q = s.split("/")
            return rf"\frac{{{p}}}{{{q}}}"
        if "e" in s:
            m, x = s.split("e")
            return rf"{m} \cdot 10^{{{int(x)}}}"
        return s

    def _print_Var(self, e: Var) -> str:
        return latex_name(e.name)

    def _print_Diff(self, e: Diff) -> str:
        return r"\mathrm{d}" + latex_name(e.var.name)

    def _print_D(self, e: D) -> str:
        if isinstance(e.arg, Var):
            return r"\mathrm{d}" + latex_name(e.arg.name)
        return r"\mathrm{d}\left(" + self.doprint(e.arg) + r"\right)"

    def _print_Eye(self, e: Eye) -> str:
        return "I"

    def _print_Ones(self, e: Ones) -> str:
        return r"\mathbf{1}" if e.is_vector else r"\mathbf{1}\mathbf{1}^{\top}"

    def atomic(self, e: Expr) -> bool:
        """e needs no parentheses before a postfix (a power, ^{-1})."""
        return precedence(e) >= ATOM

    def _print_Call(self, e: Call) -> str:
        if e.fn.latex is not None:  # the function's own LaTeX, from its registry entry
            return e.fn.latex(self, e)
        args = ", ".join(self.doprint(a) for a in e.args)
        return r"\operatorname{" + e.fn.name.replace("_", r"\_") + r"}\left(" + args + r"\right)"

    def _print_Add(self, e: Add) -> str:
        out = []
        for i, t in enumerate(e.terms):
            s = self.wrap(t, precedence(t) <= ADD)
            if i and not s.startswith("-"):
                s = "+ " + s
            elif i:
                s = "- " + s[1:].lstrip()
            out.append(s)
        return " ".join(out)

    def _print_Neg(self, e: Neg) -> str:
        return "-" + self.wrap(e.arg, precedence(e.arg) <= NEG)

    def _product(self, factors: list[Expr]) -> str:
        parts: list[str] = []
        sign = ""
        for i, f in enumerate(factors):
            if i == 0 and isinstance(f, Num) and f.value < 0:
                sign = "-"
                if f.value == -1 and len(factors) > 1:
                    continue
                f = Num(-f.value)
            s = self.wrap(f, precedence(f) <= (ADD if not parts else NEG) and not isinstance(f, Num))
            if parts and (isinstance(f, Num) or s[0].isdigit()):
                s = r"\cdot " + s
            parts.append(s)
        return sign + (r"\," .join(parts) if parts else "1")

    def _print_MatMul(self, e: MatMul) -> str:
        if is_zero(e):  # 0*ones(E), the zero matrix
            return r"\mathbf{0}"
        top, bottom = split_fraction(e) if e.typed else (list(e.factors), [])
        if not bottom:
            return self._product(top)
        sign = ""
        if top and isinstance(top[0], Num) and top[0].value < 0:
            sign, top = "-", [Num(-top[0].value)] + top[1:]
        return sign + rf"\frac{{{self._product(top)}}}{{{self._product(bottom)}}}"

    def _print_Div(self, e: Div) -> str:
        return rf"\frac{{{self.doprint(e.num)}}}{{{self.doprint(e.den)}}}"

    def _print_Hadamard(self, e: Hadamard) -> str:
        return self.wrap(e.a, precedence(e.a) < MUL) + r" \odot " + self.wrap(e.b, precedence(e.b) <= NEG)

    def _print_HDiv(self, e: HDiv) -> str:
        return self.wrap(e.a, precedence(e.a) < MUL) + r" \oslash " + self.wrap(e.b, precedence(e.b) <= NEG)

    def _print_Power(self, e: Power) -> str:
        return self.wrap(e.base, precedence(e.base) < POST or isinstance(e.base, Transpose)) + \
            "^{" + self.doprint(e.exp) + "}"

    def _print_EPower(self, e: EPower) -> str:
        return self.wrap(e.a, precedence(e.a) < POST or isinstance(e.a, Transpose)) + \
            r"^{\circ " + self.doprint(e.b) + "}"

    def _print_Transpose(self, e: Transpose) -> str:
        a = e.arg
        if isinstance(a, Call) and a.fn is inv:
            return self.wrap(a.arg, precedence(a.arg) < ATOM) + r"^{-\top}"
        return self.wrap(a, precedence(a) < POST or isinstance(a, Transpose)) + r"^{\top}"


def to_latex(e: Expr) -> str:
    """e in LaTeX math (without the surrounding $...$)."""
    return LatexPrinter().doprint(e)


_nodes._PRINTERS["latex"] = to_latex  # a node's _repr_latex_ prints through here


__all__ = ["to_latex", "latex_name", "_leading_negative"]
