"""Two small ASGI middlewares: the Host check (against DNS rebinding) and the security headers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

Scope = dict[str, Any]
ASGIApp = Any

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """Adds a strict Content-Security-Policy (nothing loads from outside) and friends to every answer."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in HEADERS if k not in have]
                if scope.get("path", "").startswith("/api") and NO_STORE[0] not in have:
                    extra.append(NO_STORE)
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _hostname(value: str) -> str:
    """The name in a Host header, without the port (``[::1]:8765`` -> ``::1``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HostCheck:
    """Answers 400 (JSON) to a request whose Host is not one of ``allowed`` ("*" allows any)."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]):
        self.app = app
        self.allowed = {h.lower().strip("[]") for h in allowed}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or "*" in self.allowed:
            await self.app(scope, receive, send)
            return
        host = ""
        for k, v in scope.get("headers", []):
            if k == b"host":
                host = v.decode("latin-1")
                break
        if _hostname(host) in self.allowed:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": {"kind": "RequestError", "message": f"host {host!r} is not served here"}})
        await send({"type": "http.response.start", "status": 400,
                    "headers": [(b"content-type", b"application/json"), *HEADERS]})
        await send({"type": "http.response.body", "body": body.encode()})
