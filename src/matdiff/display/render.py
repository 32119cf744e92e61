"""LaTeX to MathML, and the derivation's steps as rows of (left side, right side, rule).

Used by the page's JSON API and by the notebook display alike. MathML comes from latex2mathml;
where that is not installed the LaTeX source is shown as code instead.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from typing import Any

from ..syntax.latex import to_latex

# latex2mathml turns \mathrm{d} into a bare <mi>, which a browser draws in italics; the differential's
# d is upright (ISO 80000-2), so mark it normal.
_UPRIGHT_D = re.compile(r"<mi>&#x00064;</mi>")
# \operatorname{tr} and \det come out as <mo>, which gets an operator's wide spacing ("tr  (X)"); a
# function name is an <mi> (upright, being several letters), with a thin space between two of them.
_NAMED_OPERATOR = re.compile(r"<mo(?: [^>]*)?>([A-Za-z]{2,})</mo>")
_TWO_NAMES = re.compile(r"(<mi>[A-Za-z]{2,}</mi>)(?=<mi>[A-Za-z]{2,}</mi>)")


def mathml(latex: str, display: bool = False, alttext: str | None = None) -> str:
    """The MathML ``<math>`` element of a LaTeX formula (display style when ``display``; ``alttext``: the
    formula in words or plain text, for readers that do not render MathML)."""
    pieces = mathml_lines(latex, display=display, alttext=alttext, split=False)
    return pieces[0]


def _convert(latex: str, display: bool) -> str | None:
    try:
        from latex2mathml.converter import convert
    except ImportError:  # pragma: no cover - the web extra installs it
        return None
    try:
        out = convert(latex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - a converter gap must not lose the result: show the LaTeX
        return None
    out = _UPRIGHT_D.sub('<mi mathvariant="normal">d</mi>', out)
    out = _NAMED_OPERATOR.sub(r"<mi>\1</mi>", out)
    return _TWO_NAMES.sub(r'\1<mspace width="0.1667em"/>', out)


def mathml_lines(latex: str, display: bool = True, alttext: str | None = None, split: bool = True) -> list[str]:
    """The formula as one ``<math>`` element, or with ``split`` as several, cut before each top-level ``=``,
    binary ``+`` and ``-``: a page sets them side by side and lets them wrap, since browsers do not break
    MathML over lines. Typography is fixed on the way (see :func:`_typeset`)."""
    raw = _convert(latex, display)
    if raw is None:
        return [f'<code class="latex">{html.escape(latex)}</code>']
    try:
        root = ET.fromstring(raw.replace(f' xmlns="{_NS}"', "", 1))
    except ET.ParseError:  # pragma: no cover - latex2mathml writes XML
        return [raw]
    _typeset(root)
    chunks = _split(root) if split else [root]
    if alttext is not None and len(chunks) == 1:  # pieces: the page labels the line that holds them
        chunks[0].set("alttext", alttext)
    return [_serialize(m) for m in chunks]


_NS = "http://www.w3.org/1998/Math/MathML"
_MINUS, _PLUS = "\u2212", "+"
_CLOSING = set(")]}|\u2016\u27e9\u230b\u2309")
_TALL = {"mfrac", "munder", "mover", "munderover", "mtable", "msqrt", "mroot"}
_SCRIPTED = {"msup", "msub", "msubsup"}
_ROWS = {"math", "mrow", "mstyle", "mpadded", "mphantom", "menclose", "msqrt", "mtd"}


def _typeset(node: ET.Element) -> None:
    """Fix what latex2mathml leaves to a TeX engine: a unary minus (or plus) is a sign, set tight against
    its operand (``-y``, not ``- y``); parentheses stretch only around something tall (a fraction), since a
    stretched fence gets wide side bearings in Chromium (``det ( A )``); a function name stays an ``<mi>``."""
    children = list(node)
    if node.tag in _ROWS:
        for i, child in enumerate(children):
            if child.tag == "mo" and (child.text or "") in (_MINUS, _PLUS) and _opens(_before(children, i)):
                child.set("form", "prefix")
                child.set("lspace", "0")
                child.set("rspace", "0")
    if node.tag in _SCRIPTED:  # no operator spacing in a script: S^{-T}, not S^{- T}
        for script in children[1:]:
            for mo in script.iter("mo"):
                mo.set("lspace", "0")
                mo.set("rspace", "0")
    for child in children:
        if child.tag == "mo" and child.get("fence") == "true" and child.get("stretchy") == "true":
            if not any(d.tag in _TALL for d in node.iter()):
                child.set("stretchy", "false")
        _typeset(child)


def _before(items: list[ET.Element], i: int) -> ET.Element | None:
    """The sibling before items[i], spaces skipped."""
    while i > 0 and items[i - 1].tag == "mspace":
        i -= 1
    return items[i - 1] if i else None


def _opens(prev: ET.Element | None) -> bool:
    """Whether a sign after ``prev`` is unary: at the start of a row, or after an operator (``=``, ``\\nabla_x``)
    or an opening fence."""
    if prev is None:
        return True
    if prev.tag in _SCRIPTED and len(prev) and prev[0].tag == "mo":  # an operator with a script: nabla_x
        return True
    if prev.tag != "mo":
        return False
    return prev.get("form") != "postfix" and (prev.text or "") not in _CLOSING


def _split(root: ET.Element) -> list[ET.Element]:
    """The ``<math>`` root cut into several before each top-level relation and binary + or -."""
    row = root[0] if len(root) == 1 and root[0].tag == "mrow" else root
    items = list(row)
    breaks = [i for i, c in enumerate(items) if i and c.tag == "mo" and c.get("form") != "prefix"
              and (c.text or "") in ("=", _MINUS, _PLUS) and not _opens(_before(items, i))]
    if not breaks:
        return [root]
    out = []
    for start, stop in zip([0, *breaks], [*breaks, len(items)]):
        part = items[start:stop]
        while part and part[-1].tag == "mspace":
            part.pop()
        m = ET.Element("math", dict(root.attrib))
        r = ET.SubElement(m, "mrow")
        r.extend(part)
        if start:
            part[0].set("form", "infix")  # the operator that starts a continued line keeps its spacing
        out.append(m)
    return out


def _serialize(m: ET.Element) -> str:
    m.set("xmlns", _NS)
    text = ET.tostring(m, encoding="unicode", short_empty_elements=True)
    return _NON_ASCII.sub(lambda c: f"&#x{ord(c.group()):05X};", text)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


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
