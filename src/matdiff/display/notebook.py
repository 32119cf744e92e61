"""HTML for Jupyter (``_repr_html_``): the result as MathML, the steps collapsible under it.

Importing this module registers the renderers with :mod:`matdiff.html_hook`, where the result
classes' ``_repr_html_`` finds them (the results never import this layer).

Each function returns None where latex2mathml is not installed, so that Jupyter falls back to the
result's ``_repr_latex_`` (MathJax) instead of showing LaTeX source.
"""

from __future__ import annotations

import html
from typing import Any

from ..calculus.steps import Step
from ..html_hook import register_html
from ..results.derivative import Derivative
from ..results.gradient import GradientResult, MultiGradient
from ..results.hessian import Hessian
from ..syntax.latex import latex_name, to_latex
from ..syntax.printer import to_text
from .render import mathml, steps_table_html

STYLE = """<style>
.md-result { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; line-height: 1.45; }
.md-result math { font-family: "STIX Two Math", "Latin Modern Math", "Cambria Math", "DejaVu Math TeX Gyre", math;
                  font-size: 1.15em; }
.md-result .md-head { font-size: 1.25em; margin: 4px 0; }
.md-result .md-text { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85em; color: #555; }
.md-result details { margin-top: 6px; }
.md-result summary { cursor: pointer; color: #3d5afe; font-size: 0.9em; }
.md-steps { border-collapse: collapse; margin-top: 4px; }
.md-steps td { padding: 3px 6px; vertical-align: middle; border: none; }
.md-steps td.md-lhs { text-align: right; }
.md-steps td.md-rule { color: #667085; font-size: 0.8em; text-align: left; }
.md-steps .md-note { color: #8a5a00; }
</style>"""


def available() -> bool:
    """Whether MathML can be made here (latex2mathml is installed)."""
    try:
        import latex2mathml.converter  # noqa: F401
    except ImportError:
        return False
    return True


def _wrap(parts: list[str]) -> str:
    return STYLE + '<div class="md-result">' + "".join(parts) + "</div>"


def _head(latex: str) -> str:
    return f'<div class="md-head">{mathml(latex, display=True)}</div>'


def _text(text: str) -> str:
    return f'<div class="md-text">{html.escape(text)}</div>'


def _details(title: str, steps: list[Any]) -> str:
    return (f"<details><summary>{html.escape(title)} ({len(steps)} steps)</summary>"
            f"{steps_table_html(steps)}</details>")


def gradient_html(r: Any) -> str | None:
    """A GradientResult: the gradient, its text form, df, and the derivation (collapsed)."""
    if not available():
        return None
    name = latex_name(r.wrt)
    head = _head(rf"\nabla_{{{name}}}\, {to_latex(r.expr)} = {r.latex}")
    df = "<div>" + mathml(rf"\mathrm{{d}}f = {to_latex(r.differential)}") + "</div>"
    return _wrap([head, _text(str(r.gradient)), df, _details("derivation", r.steps)])


def multigradient_html(m: Any) -> str | None:
    """A MultiGradient: each gradient with its derivation."""
    if not available():
        return None
    parts = []
    for r in m.results.values():
        parts.append(_head(rf"\nabla_{{{latex_name(r.wrt)}}}\, f = {r.latex}"))
        parts.append(_text(str(r.gradient)))
        parts.append(_details(f"derivation for {r.wrt}", r.steps))
    return _wrap(parts)


def derivative_html(d: Any) -> str | None:
    """A Derivative: dF, its vec (Kronecker) form where there is one, and the steps."""
    if not available():
        return None
    parts = [_head(rf"\mathrm{{d}}F = {d.latex}"), _text(f"d({to_text(d.expr)}) = {to_text(d.differential)}")]
    if d.kronecker is not None:
        parts.append("<div>" + mathml(rf"\operatorname{{vec}}(\mathrm{{d}}F) = {d.kronecker[1]}") + "</div>")
    parts.append(_details("derivation", d.steps))
    return _wrap(parts)


def hessian_html(h: Any) -> str | None:
    """A Hessian: the matrix where there is one, else the second differential (and its vec form)."""
    if not available():
        return None
    name = latex_name(h.wrt)
    if getattr(h, "expr", None) is not None:
        parts = [_head(rf"\nabla^2_{{{name}}}\, f = {to_latex(h.expr)}"), _text(to_text(h.expr))]
    else:
        d2 = h.second_differential
        parts = [_head(rf"\mathrm{{d}}\left(\nabla_{{{name}}} f\right) = {to_latex(d2)}"), _text(to_text(d2))]
    kron = getattr(h, "kronecker", None)
    if kron:
        parts.append(f"<div>{mathml(kron[1])}</div>")
    parts.append(_details("derivation", h.steps))
    return _wrap(parts)


def steps_html(steps: list[Any]) -> str | None:
    """A derivation on its own, as a table of equations and rules."""
    if not available():
        return None
    return _wrap([steps_table_html(steps)])


def check_html(rep: Any) -> str:
    """A CheckReport: verdict, method and errors (plain HTML, no math)."""
    verdict = "ok" if rep.ok else "MISMATCH"
    color = "#1a7f4b" if rep.ok else "#c0362c"
    rows = [("method", str(rep.method)), ("max. relative error", f"{rep.max_rel_error:.3g}"),
            ("expected error", f"{rep.expected_error:.3g}"), ("tolerance", f"{rep.tolerance:.3g}")]
    body = "".join(f"<tr><th style='text-align:left;padding-right:12px'>{k}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in rows)
    return (f'<div class="md-result"><b style="color:{color}">check: {verdict}</b>'
            f"<table>{body}</table></div>")


def register() -> None:
    """Register the renderers above with :mod:`matdiff.html_hook` (done on import)."""
    register_html(GradientResult, gradient_html)
    register_html(MultiGradient, multigradient_html)
    register_html(Derivative, derivative_html)
    register_html(Hessian, hessian_html)
    register_html(Step, lambda step: steps_html([step]))


register()
