"""uvicorn's HTTP/1.1 protocol with a deadline for a request's headers (slow clients are cut off).

uvicorn times out idle keep-alive connections but not a client that connects and sends nothing, or
stalls half-way through its headers: each such client would hold a connection (and a file descriptor)
for ever. Here the headers of every request must arrive within ``read_timeout_s`` of its first byte (of
the connection, for the first request); otherwise the client is answered 408 and the connection closed.
The body has its own deadline in the application (``app.read_body``), which answers 408 in JSON.

Two answers uvicorn writes itself, plain text, are JSON here like every other error of the API:
the 400 to a request h11 refuses (no ``Host`` header, a malformed request line or header) and the
503 past the connection limit (``limit_concurrency``: this protocol applies the limit itself, with
uvicorn's rule, and answers ``{"error": {"kind": "Unavailable", ...}}``).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol


def _json_error(kind: str, message: str) -> bytes:
    """The API's error body: ``{"error": {"kind", "message"}}`` (see web/errors.py)."""
    return json.dumps({"error": {"kind": kind, "message": message}}).encode()


async def _service_unavailable(scope: Any, receive: Any, send: Any) -> None:
    """The 503 past the connection limit, in JSON (uvicorn's own is plain text)."""
    body = _json_error("Unavailable", "the server has too many open connections; retry later")
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), (b"retry-after", b"1")]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _answer_408(seconds: float) -> bytes:
    body = json.dumps({"error": {"kind": "Timeout", "message": f"the request did not arrive within {seconds:g} s"}})
    data = body.encode()
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
            + f"content-length: {len(data)}\r\n\r\n".encode() + data)


class HeaderDeadlineProtocol(H11Protocol):
    """H11Protocol whose requests' headers must arrive within ``read_timeout_s``."""

    read_timeout_s: float = 10.0

    def __init__(self, config: Any, server_state: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, server_state, *args, **kwargs)
        limit, app = self.limit_concurrency, self.app
        self.limit_concurrency = None  # uvicorn's check would answer its plain-text 503: ours instead

        async def limited(scope: Any, receive: Any, send: Any) -> None:
            # uvicorn's rule, taken when the request's task runs: this task is already in ``tasks``
            if limit is not None and (len(self.connections) >= limit or len(self.tasks) > limit):
                await _service_unavailable(scope, receive, send)
            else:
                await app(scope, receive, send)

        self.app = limited

    def send_400_response(self, msg: str) -> None:
        """The 400 to a request h11 refuses, as JSON (uvicorn calls this inside its ``except``)."""
        err = sys.exc_info()[1]
        reason = str(err) if isinstance(err, h11.RemoteProtocolError) and str(err) else msg
        body = _json_error("RequestError", f"invalid HTTP request: {reason}")
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        try:
            self.transport.write(self.conn.send(h11.Response(status_code=400, headers=headers,
                                                             reason=STATUS_PHRASES[400])))
            self.transport.write(self.conn.send(h11.Data(data=body)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
        except h11.LocalProtocolError:  # h11 cannot answer in this state: write the bytes ourselves
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in headers)
                                 + b"\r\n" + body)
        self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the headers are in: the application has the request
            self._disarm()

    def on_response_complete(self) -> None:
        self._disarm()  # until the next request's first byte, the keep-alive timeout applies
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.read_timeout_s, self._expired)

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()  # type: ignore[union-attr]
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.cycle is None or self.cycle.response_complete:  # nothing of ours is being written
            self.transport.write(_answer_408(self.read_timeout_s))
        self.transport.close()


def protocol_with_deadline(read_timeout_s: float) -> type[Any]:
    """The protocol class to give uvicorn (``http=``) for a header deadline of ``read_timeout_s``."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"read_timeout_s": float(read_timeout_s)})
