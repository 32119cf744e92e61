"""The server's limits: request size, expression length, sizes, time and concurrency."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server (the defaults suit a person at the page)."""

    max_body_bytes: int = 16_384
    """A larger request body answers 413."""
    max_expr_chars: int = 1_000
    """A longer expression answers 400 LimitError."""
    max_types: int = 64
    """How many variables ``types`` may declare."""
    max_size: int = 500
    """The largest number a type may give as a size (``matrix(500,500)``): the check builds such arrays."""
    timeout_s: float = 10.0
    """A derivation or check running longer is stopped (its worker process is killed) and answers 400."""
    workers: int = 2
    """Worker processes, so requests computed at once; more wait up to ``queue_wait_s``, then answer 429."""
    queue_wait_s: float = 2.0
    """How long a request waits for a free worker before it answers 429."""
    read_timeout_s: float = 10.0
    """A request whose headers, or whose body, take longer to arrive answers 408 and is closed (slow clients)."""
    max_connections: int = 500
    """Open connections at most; past it new requests answer 503 (each connection holds a file descriptor)."""
