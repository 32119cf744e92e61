"""The exceptions matdiff raises: every one is a MatdiffError and a ValueError."""

from __future__ import annotations


class MatdiffError(ValueError):
    """Base class of every error matdiff raises on bad input or an undefined point."""


class ParseError(MatdiffError):
    """Text that is not an expression of the language; carries the position and a caret line."""

    def __init__(self, message: str, text: str | None = None, position: int | None = None):
        self.reason = message
        self.text = text
        self.position = position
        if text is not None and position is not None:
            line = text.replace("\n", " ").replace("\t", " ")
            if len(line) > 200:  # show a window around the position
                start = max(0, position - 100)
                line, caret_at = line[start:start + 200], position - start
            else:
                caret_at = position
            message = f"{message} (at position {position})\n  {line}\n  {' ' * caret_at}^"
        super().__init__(message)


class ShapeError(MatdiffError):
    """Operands whose sizes do not fit, or a value whose shape is not the declared one."""


class DomainError(MatdiffError):
    """Evaluation at a point where the function is undefined or not differentiable."""


class LimitError(MatdiffError):
    """Input past a size or depth limit (long text, deep nesting, a result that grows too large)."""
