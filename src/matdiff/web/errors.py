"""Errors of the HTTP API: each becomes ``{"error": {"kind", "message", "position"?, "end"?, "field"?}}``."""

from __future__ import annotations

import re
from typing import Any

from ..errors import DomainError, LimitError, MatdiffError, ParseError, ShapeError

_PUBLIC = (ParseError, ShapeError, DomainError, LimitError)


class ApiError(Exception):
    """An error answered as JSON with an HTTP status (never a traceback)."""

    def __init__(self, status: int, kind: str, message: str, position: int | None = None,
                 field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.position = position
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        err: dict[str, Any] = {"kind": self.kind, "message": self.message}
        if self.position is not None:
            err["position"] = self.position
        if self.field is not None:
            err["field"] = self.field
        return {"error": err}


def request_error(message: str, field: str | None = None) -> ApiError:
    """A request the API cannot read: bad JSON, a missing field, a field of the wrong type."""
    return ApiError(400, "RequestError", message, field=field)


def limit_error(message: str, field: str | None = None, status: int = 400) -> ApiError:
    """A request past one of the server's limits."""
    return ApiError(status, "LimitError", message, field=field)


def from_matdiff(err: MatdiffError, expr: str) -> dict[str, Any]:
    """The error body of a matdiff exception raised while working on ``expr`` (JSON-able, picklable)."""
    kind = next((c.__name__ for c in _PUBLIC if isinstance(err, c)), "MatdiffError")
    out: dict[str, Any] = {"kind": kind}
    if isinstance(err, ParseError):
        out["message"] = err.reason
        if err.position is not None and err.text == expr:
            out["position"] = err.position
            out["field"] = "expr"
        elif err.text is not None and err.text != expr:
            out["field"] = "types"
    else:
        out["message"] = str(err)
        span = _span(err, expr) if isinstance(err, ShapeError) else None
        if span is not None:
            out["position"], out["end"] = span
            out["field"] = "expr"
    return {"error": out}


# The operands a ShapeError names: "cannot multiply x' (row vector ...) by A (2x2 matrix)", "cannot apply + to
# X (...) and x (...)", "cannot subtract A (...) from x*eye (...)": each is printed text followed by " (" and sizes,
# the first after "cannot <verb>", the next after the ")" that ends the sizes before it.
_OPERAND = re.compile(r"(?:\bcannot (?:multiply|apply \S+ to|subtract|add)|\) (?:by|and|from|to))\s+(\S.*?)\s+\(")


def _span(err: Exception, expr: str) -> tuple[int, int] | None:
    """Where in ``expr`` a ShapeError happened: its own position where it carries one; else the stretch of the
    user's text from the first operand it names to the last (each found as printed, spaces ignored); else None."""
    pos = getattr(err, "position", None)
    if isinstance(pos, int) and 0 <= pos <= len(expr):
        end = getattr(err, "end", None)
        return pos, end if isinstance(end, int) and pos < end <= len(expr) else min(pos + 1, len(expr))
    found = []
    for operand in _OPERAND.findall(str(err).split("\n")[0]):
        pattern = r"\s*".join(re.escape(c) for c in operand if not c.isspace())
        m = re.search(pattern, expr) if pattern else None
        if m:
            found.append((m.start(), m.end()))
    if not found:
        return None
    return min(a for a, _ in found), max(b for _, b in found)
