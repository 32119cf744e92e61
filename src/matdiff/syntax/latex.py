"""LaTeX printer: the notation of the Matrix Cookbook (A^{-1}, \\operatorname{tr}, \\|X\\|_F, \\odot)."""

from __future__ import annotations

import re
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
        q = simple_ratio(e.value)
        if q is not None:  # 0.5 as a textbook writes it: \frac{1}{2}
            sign = "-" if q < 0 else ""
            return rf"{sign}\frac{{{abs(q.numerator)}}}{{{q.denominator}}}"
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
        if e.fn is inv:
            return _base(self.wrap(e.arg, not self.atomic(e.arg))) + "^{-1}"  # {S^{1/2}}^{-1}, not S^{1/2}^{-1}
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
        if bottom:  # a simple ratio in front goes into the fraction: tr(X)/(2 a), not 0.5 tr(X)/a
            q = simple_ratio(top[0].value) if top and isinstance(top[0], Num) else None
            if q is not None and len(top) > 1:
                top = ([Num(q.numerator)] if q.numerator != 1 else []) + top[1:]
                bottom = [Num(q.denominator)] + bottom
                if q.numerator == -1:
                    top = [Num(-1)] + top
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
        return _base(self.wrap(e.base, precedence(e.base) < POST or isinstance(e.base, Transpose))) + \
            "^{" + self.doprint(e.exp) + "}"

    def _print_EPower(self, e: EPower) -> str:
        return _base(self.wrap(e.a, precedence(e.a) < POST or isinstance(e.a, Transpose))) + \
            r"^{\circ " + self.doprint(e.b) + "}"

    def _print_Transpose(self, e: Transpose) -> str:
        a = e.arg
        if isinstance(a, Call) and a.fn is inv:
            return _base(self.wrap(a.arg, precedence(a.arg) < ATOM)) + r"^{-\top}"
        return _base(self.wrap(a, precedence(a) < POST or isinstance(a, Transpose))) + r"^{\top}"


_RATIO_DENOMINATORS = frozenset({2, 3, 4, 6, 8, 9, 12, 16})


def simple_ratio(v: object) -> Fraction | None:
    """v as p/q where a textbook writes a fraction (0.5 = 1/2, 0.75 = 3/4, 1/3): q one of 2, 3, 4, 6, 8, 9, 12, 16;
    None for integers and other numbers (0.1 stays a decimal)."""
    if isinstance(v, bool) or not isinstance(v, (Fraction, float)):
        return None
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return None
        q = Fraction(v).limit_denominator(16)
        if float(q) != v:
            return None
    else:
        q = v
    return q if q.denominator in _RATIO_DENOMINATORS else None


def _base(s: str) -> str:
    """A printed base that ends in a superscript (A^{-1}, (X)^{1/2}, A^{\\top}) in braces, so that a second
    superscript is not a double one: {A^{-1}}^{2}."""
    if not s.endswith("}"):
        return s
    depth = 0
    for i in range(len(s) - 1, -1, -1):  # the group that closes at the end: is it a superscript's?
        if s[i] == "}":
            depth += 1
        elif s[i] == "{":
            depth -= 1
            if depth == 0:
                return "{" + s + "}" if i > 0 and s[i - 1] == "^" else s
    return s


def to_latex(e: Expr) -> str:
    """e in LaTeX math (without the surrounding $...$)."""
    return LatexPrinter().doprint(e)


_nodes._PRINTERS["latex"] = to_latex  # a node's _repr_latex_ prints through here


__all__ = ["to_latex", "latex_name", "_leading_negative"]


# ------------------------------------------------------------------------------ rule labels
# A rule label is words and formulas in the language's text ("Jacobi's formula: d det(U) = tr(adj(U)*dU)"):
# the words go into \text{...}, the formulas are typeset as mathematics, token by token.
_LABEL_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<name>[^\W\d][\w]*(?:'s(?![\w]))?)
  | (?P<op>\.\*|\./|\.\^|[-+*/^=<>,;:()\[\]'|.])
  | (?P<other>.)
""", re.VERBOSE)

_FUNCTION_TEX = {"tr": r"\operatorname{tr}", "det": r"\det", "log": r"\log", "exp": r"\exp", "sin": r"\sin",
                 "cos": r"\cos", "tanh": r"\tanh", "logdet": r"\log\det"}
_WORDS_NOT_MATH = frozenset({"a", "A", "I"})  # English words of one letter (A and I only where used as words)
_MATH_WORDS = frozenset({"eye", "ones", "lambda", "sum_i"})


def _is_math_name(tok: str, nxt: str) -> bool:
    if tok.endswith("'s"):
        return False
    if nxt == "(" or tok in _MATH_WORDS or tok in _FUNCTION_TEX:
        return True
    if re.fullmatch(r"[A-Za-z]\d*", tok):
        return tok != "a"
    return bool(re.fullmatch(r"d[A-Za-z]\d*", tok))  # a differential: dU, dt, du1


def _text(s: str) -> str:
    out = (s.replace("\\", r"\textbackslash ").replace("{", r"\{").replace("}", r"\}").replace("_", r"\_")
           .replace("^", r"\^{}").replace("&", r"\&").replace("%", r"\%").replace("#", r"\#").replace("$", r"\$"))
    return r"\text{" + out + "}"


def _math_name(tok: str, nxt: str) -> str:
    if tok in _FUNCTION_TEX:
        return _FUNCTION_TEX[tok]
    if tok == "eye":
        return "I"
    if tok == "ones":
        return r"\mathbf{1}"
    if tok == "sum_i":
        return r"\sum_{i}"
    if nxt == "(" and len(tok) > 1:
        return r"\operatorname{" + tok.replace("_", r"\_") + "}"
    m = re.fullmatch(r"d([A-Za-z]\d*)", tok)
    if m and nxt != "(":
        return r"\mathrm{d}" + latex_name(m.group(1))
    if tok == "d":
        return r"\mathrm{d}"
    return latex_name(tok)


_MATH_OP = {"*": r"\,", ".*": r" \odot ", "./": r" \oslash ", "'": r"^{\top}", "<": r"\langle ", ">": r"\rangle ",
            "=": " = ", "+": " + ", "-": " - ", ",": ", ", "|": r"\|", ";": ";\\ ", ":": ":\\ "}


def rule_latex(label: str) -> str:
    """A rule label as LaTeX math: its formulas typeset (dU as \\mathrm{d}U, U' as U^{\\top}, .* as \\odot, tr as
    \\operatorname{tr}), its words in \\text{...}; braces balanced."""
    toks = [(m.lastgroup, m.group()) for m in _LABEL_TOKEN.finditer(label)]
    significant = [i for i, (k, _) in enumerate(toks) if k != "space"]
    nxt_of = {i: toks[j][1] for i, j in zip(significant, significant[1:])}
    kinds: list[str] = []  # "m" (math) or "w" (words) per token
    parens: list[str] = []
    for i, (k, t) in enumerate(toks):
        nxt = nxt_of.get(i, "")
        if k == "name":
            kinds.append("m" if _is_math_name(t, nxt) else "w")
        elif k == "num":
            kinds.append("m")
        elif k == "op" and t == "(":
            nk = next((toks[j] for j in significant if j > i), ("", ""))
            mode = "w" if nk[0] == "name" and not _is_math_name(nk[1], nxt_of.get(toks.index(nk), "")) else "m"
            # an opening parenthesis belongs to what it encloses: words "(away from 0)", math "(1/2)"
            parens.append(mode)
            kinds.append(mode)
        elif k == "op" and t == ")":
            kinds.append(parens.pop() if parens else "m")
        elif k == "op" and t in ",;:.":
            inside_math = bool(parens) and parens[-1] == "m"
            kinds.append("m" if inside_math or (t == "," and nxt_of.get(i, "") and _follows_math(toks, i)) else "w")
        elif k == "op" and t == "-" and kinds and kinds[-1] == "w" and i + 1 < len(toks) \
                and toks[i + 1][0] == "name" and not _is_math_name(toks[i + 1][1], nxt_of.get(i + 1, "")):
            kinds.append("w")  # a hyphen between words: pseudo-inverse
        elif k == "op":
            kinds.append("m")
        elif k == "space":
            kinds.append("")
        else:
            kinds.append("w")
    # spaces go with the run around them: inside a run of one kind they join it, between kinds the words take them
    for i, k in enumerate(kinds):
        if k == "":
            before = next((kinds[j] for j in range(i - 1, -1, -1) if kinds[j]), "w")
            after = next((kinds[j] for j in range(i + 1, len(kinds)) if kinds[j]), "w")
            kinds[i] = before if before == after else "w"
    out: list[str] = []
    i = 0
    while i < len(toks):
        j = i
        while j < len(toks) and kinds[j] == kinds[i]:
            j += 1
        run = toks[i:j]
        out.append(_math(run) if kinds[i] == "m" else _text("".join(t for _, t in run)))
        i = j
    return " ".join(x for x in out if x)


def _follows_math(toks: list[tuple[str | None, str]], i: int) -> bool:
    """A comma between two formulas (``u1, v1``) is part of the mathematics."""
    after = [t for t in toks[i + 1:] if t[0] != "space"][:2]
    if not after:
        return False
    if after[0][0] == "name":
        nxt = after[1][1] if len(after) > 1 else ""
        return _is_math_name(after[0][1], nxt) and not (len(after) > 1 and after[1][0] == "name")
    return after[0][0] == "num"


def _math(run: list[tuple[str | None, str]]) -> str:
    toks = [(k, t) for k, t in run if k != "space"]
    out: list[str] = []
    i = 0
    while i < len(toks):
        k, t = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else ""
        if t in ("^", ".^"):  # the exponent: the next atom or parenthesised group, in braces
            j = i + 1
            sign = ""
            if j < len(toks) and toks[j][1] == "-":
                sign, j = "-", j + 1
            if j < len(toks) and toks[j][1] == "(":
                depth, k2 = 0, j
                while k2 < len(toks):
                    depth += toks[k2][1] == "("
                    depth -= toks[k2][1] == ")"
                    if depth == 0:
                        break
                    k2 += 1
                inner = _math(toks[j + 1:k2])
                j = k2 + 1
            elif j < len(toks):
                inner = _math(toks[j:j + 1])
                j += 1
            else:
                inner = ""
            out.append(("^{" if t == "^" else r"^{\circ ") + sign + inner + "}")
            i = j
            continue
        if k == "name":
            out.append(_math_name(t, nxt))
        elif k == "num":
            out.append(t)
        elif t in _MATH_OP:
            out.append(_MATH_OP[t])
        elif t in "()[]/.":
            out.append(t)
        else:
            out.append(_text(t))
        i += 1
    s = "".join(out)
    return re.sub(r"(?<=[A-Za-z0-9}])(?=\\(?:mathrm|operatorname|det|log|exp|sin|cos|tanh|sum)\b)", " ", s)
