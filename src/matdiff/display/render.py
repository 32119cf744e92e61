"""LaTeX to MathML, and the derivation's steps as rows of (left side, right side, rule).

Used by the page's JSON API and by the notebook display alike. MathML comes from latex2mathml;
where that is not installed the LaTeX source is shown as code instead.
"""

from __future__ import annotations

import html
import re
from typing import Any

from ..syntax.latex import to_latex

# latex2mathml turns \mathrm{d} into a bare <mi>, which a browser draws in italics; the differential's
# d is upright (ISO 80000-2), so mark it normal.
_UPRIGHT_D = re.compile(r"<mi>&#x00064;</mi>")
# \operatorname{tr} and \det come out as <mo>, which gets an operator's wide spacing ("tr  (X)"); a
# function name is an <mi> (upright, being several letters), with a thin space between two of them.
_NAMED_OPERATOR = re.compile(r"<mo(?: [^>]*)?>([A-Za-z]{2,})</mo>")
_TWO_NAMES = re.compile(r"(<mi>[A-Za-z]{2,}</mi>)(?=<mi>[A-Za-z]{2,}</mi>)")


def mathml(latex: str, display: bool = False) -> str:
    """The MathML ``<math>`` element of a LaTeX formula (display style when ``display``)."""
    try:
        from latex2mathml.converter import convert
    except ImportError:  # pragma: no cover - the web extra installs it
        return f'<code class="latex">{html.escape(latex)}</code>'
    try:
        out = convert(latex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - a converter gap must not lose the result: show the LaTeX
        return f'<code class="latex">{html.escape(latex)}</code>'
    out = _UPRIGHT_D.sub('<mi mathvariant="normal">d</mi>', out)
    out = _NAMED_OPERATOR.sub(r"<mi>\1</mi>", out)
    return _TWO_NAMES.sub(r'\1<mspace width="0.1667em"/>', out)


def step_latex(step: Any) -> tuple[str, str]:
    """The LaTeX of a step's left and right sides (the rule apart)."""
    lhs = getattr(step, "lhs_latex", "") or ""
    if not lhs:
        plain = (getattr(step, "lhs", "") or "").strip()
        lhs = _lhs_latex(plain)
    rhs_latex = getattr(step, "rhs_latex", None)
    if rhs_latex is None:
        expr = getattr(step, "expr", None)
        rhs_latex = to_latex(expr) if expr is not None else ""
    return lhs, rhs_latex


_LHS_RULES = [
    (re.compile(r"grad_(\w+) f"), r"\\nabla_{\1} f"),
    (re.compile(r"\bH_(\w+)"), r"H_{\1}"),
    (re.compile(r"\b(vec|vjp|jvp|sym)\("), r"\\operatorname{\1}("),
    (re.compile(r"\bd\("), r"\\mathrm{d}("),
    (re.compile(r"\bd([A-Za-z]\w*)"), r"\\mathrm{d}\1"),
]


def _lhs_latex(plain: str) -> str:
    """A plain-text left side (``df``, ``grad_X f``, ``vec(d(grad_X f))``, ``H_x``) as LaTeX."""
    for pattern, repl in _LHS_RULES:
        plain = pattern.sub(repl, plain)
    return plain


def step_rows(steps: list[Any]) -> list[dict[str, str]]:
    """Each step as a dict: text, latex (rule included), MathML of the equation and of each side, rule, note."""
    rows = []
    for s in steps:
        lhs, rhs = step_latex(s)
        equation = f"{lhs} = {rhs}" if rhs else lhs
        rows.append({
            "text": str(s),
            "latex": s.latex,
            "mathml": mathml(equation),
            "lhs_mathml": mathml(lhs) if lhs else "",
            "rhs_mathml": mathml(rhs) if rhs else "",
            "rule": getattr(s, "rule", "") or "",
            "note": getattr(s, "note", "") or "",
        })
    return rows


def steps_table_html(steps: list[Any]) -> str:
    """The steps as an HTML table: left side, '=', right side, the rule in words."""
    out = ['<table class="md-steps">']
    for row in step_rows(steps):
        eq = "=" if row["rhs_mathml"] else ""
        rule = html.escape(row["rule"])
        note = f'<div class="md-note">{html.escape(row["note"])}</div>' if row["note"] else ""
        out.append(f'<tr><td class="md-lhs">{row["lhs_mathml"]}</td><td class="md-eq">{eq}</td>'
                   f'<td class="md-rhs">{row["rhs_mathml"]}</td><td class="md-rule">{rule}{note}</td></tr>')
    out.append("</table>")
    return "".join(out)
