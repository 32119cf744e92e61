"""Errors of the HTTP API: each becomes ``{"error": {"kind", "message", "position"?, "field"?}}``."""

from __future__ import annotations

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
    return {"error": out}
