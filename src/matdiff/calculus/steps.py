"""The recorded derivation: each step is an equation and the rule that justifies it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.nodes import Expr
from ..html_hook import HTMLDisplay
from ..syntax.latex import rule_latex, to_latex
from ..syntax.printer import to_text


@dataclass(frozen=True)
class Step(HTMLDisplay):
    """One line of a derivation: ``lhs = rhs`` by ``rule`` (``note`` says more where needed)."""

    rule: str
    lhs: str
    rhs: Expr | None
    note: str = ""
    lhs_latex: str = ""
    rhs_text: str | None = None
    rhs_latex: str | None = None
    later: Callable[[], Expr] | None = field(default=None, repr=False, compare=False)

    @property
    def expr(self) -> Expr | None:
        """The right-hand side (built on first use where the step was recorded lazily)."""
        if self.rhs is None and self.later is not None:
            object.__setattr__(self, "rhs", self.later())
            object.__setattr__(self, "later", None)
        return self.rhs

    @property
    def text(self) -> str:
        e = self.expr
        rhs = self.rhs_text if self.rhs_text is not None else to_text(e) if e is not None else ""
        line = f"{self.lhs} = {rhs}" if rhs else self.lhs
        tail = f"    [{self.rule}]" if self.rule else ""
        note = f"\n      {self.note}" if self.note else ""
        return line + tail + note

    @property
    def latex(self) -> str:
        e = self.expr
        rhs = self.rhs_latex if self.rhs_latex is not None else to_latex(e) if e is not None else ""
        lhs = self.lhs_latex or self.lhs
        eq = f"{lhs} = {rhs}" if rhs else lhs
        return eq + (rf" \qquad {rule_latex(self.rule)}" if self.rule else "")

    def __str__(self) -> str:
        return self.text

    def _repr_latex_(self) -> str:
        return f"$${self.latex}$$"


def distinct(steps: list[Step]) -> list[Step]:
    """The steps without a continuation line that repeats the line above it (a rule that changed nothing)."""
    out: list[Step] = []
    for s in steps:
        if out and not s.lhs.strip() and not s.note and s.expr is not None and out[-1].expr is not None \
                and to_text(s.expr) == to_text(out[-1].expr):
            continue
        out.append(s)
    return out


def render_text(steps: list[Step]) -> str:
    return "\n".join(s.text for s in distinct(steps))


def render_latex(steps: list[Step]) -> str:
    """The steps as a LaTeX ``align*`` block."""
    lines = []
    for s in distinct(steps):
        e = s.expr
        rhs = s.rhs_latex if s.rhs_latex is not None else to_latex(e) if e is not None else ""
        lhs = s.lhs_latex or s.lhs
        rule = rf" && {rule_latex(s.rule)}" if s.rule else ""
        lines.append(f"{lhs} &= {rhs}{rule}" if rhs else lhs + rule)
    return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}"


class Derived(HTMLDisplay):
    """A result with a recorded derivation: ``steps``, shown as text, LaTeX or (notebooks) HTML."""

    steps: list[Step]
    assumed_types: dict[str, str] = {}  # noqa: RUF012 - replaced, never mutated: the kinds that came from use

    @property
    def steps_text(self) -> str:
        """The derivation, one rule a line."""
        return render_text(self.steps)

    @property
    def steps_latex(self) -> str:
        """The derivation as a LaTeX align* block."""
        return render_latex(self.steps)
