"""The Starlette application: the page, its static files and the JSON API behind it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from .errors import ApiError, limit_error
from .jobs import JOBS
from .limits import Limits
from .middleware import HostCheck, SecurityHeaders
from .schema import decode, read_query
from .worker import Busy, Crashed, Overrun, WorkerPool

STATIC = Path(__file__).parent / "static"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


async def read_body(request: Request, limit: int, timeout_s: float = 10.0) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (before reading it where it says its length),
    and with 408 when it takes longer than ``timeout_s`` to arrive."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "RequestError", "send the request as JSON, with Content-Type: application/json")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise limit_error(f"the request body is {length} bytes; the limit is {limit}", status=413)
    chunks, size = [], 0
    try:
        with anyio.fail_after(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise limit_error(f"the request body is longer than the limit of {limit} bytes", status=413)
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, "Timeout", f"the request body did not arrive within {timeout_s:g} s "
                                       f"({size} bytes came)", headers={"Connection": "close"}) from None
    except ClientDisconnect:
        raise Gone() from None
    return b"".join(chunks)


class Gone(Exception):
    """The client went away before its request was read: there is no one to answer."""


async def _on_gone(request: Request, exc: Exception) -> Response:
    return Response(status_code=400)  # never delivered; and nothing is logged


def _error_response(err: ApiError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error_response(exc)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "RequestError")
    return JSONResponse({"error": {"kind": kind, "message": str(exc.detail)}}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def _on_any_error(request: Request, exc: Exception) -> Response:
    """The catch-all: a bug answers 500 with a JSON message, never a traceback."""
    return JSONResponse({"error": {"kind": "InternalError", "message": "the server failed on this request; "
                                   "please report it with the input that caused it"}}, status_code=500)


def create_app(limits: Limits | None = None, allowed_hosts: Iterable[str] | None = None,
               pool: WorkerPool | None = None) -> Starlette:
    """The page and API. ``allowed_hosts``: Host header names accepted (default: loopback names only)."""
    limits = limits or Limits()
    pool = pool or WorkerPool(size=limits.workers, timeout=limits.timeout_s, wait=limits.queue_wait_s)
    # Requests wait here (first come, first served), not for one of anyio's 40 threads, where the wait has no
    # deadline: one thread per worker, so a request that gets past the queue finds a worker at once.
    queue = anyio.Semaphore(limits.workers)
    threads = anyio.CapacityLimiter(limits.workers)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    async def api_index(request: Request) -> Response:
        return JSONResponse({
            "matdiff": __version__,
            "endpoints": {f"POST /api/{name}": (fn.__doc__ or "").strip() for name, fn in JOBS.items()},
            "limits": {k: getattr(limits, k) for k in limits.__dataclass_fields__},
        })

    async def api(request: Request) -> Response:
        job = request.path_params["job"]
        if job not in JOBS:
            raise ApiError(404, "NotFound", f"no endpoint /api/{job}; the endpoints: "
                                            + ", ".join(f"/api/{j}" for j in JOBS))
        query = read_query(decode(await read_body(request, limits.max_body_bytes, limits.read_timeout_s)), limits)
        try:
            with anyio.fail_after(limits.queue_wait_s):  # a fair queue, with the deadline the limits promise
                await queue.acquire()
        except TimeoutError:
            raise ApiError(429, "Busy", f"the server is busy (all {limits.workers} workers stayed busy for "
                                        f"{limits.queue_wait_s:g} s); try again in a moment",
                           headers={"Retry-After": "1"}) from None
        try:
            status, body = await anyio.to_thread.run_sync(pool.run, job, query.payload(), limiter=threads)
        except Busy as err:
            raise ApiError(429, "Busy", f"the server is busy ({err}); try again in a moment",
                           headers={"Retry-After": "1"}) from None
        except Overrun as err:
            raise ApiError(400, "Timeout", str(err)) from None
        except Crashed as err:
            raise ApiError(500, "InternalError", str(err)) from None
        finally:
            queue.release()
        return JSONResponse(body, status_code=status)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        threading.Thread(target=pool.start, name="matdiff-web-start", daemon=True).start()
        try:
            yield
        finally:
            pool.close()

    hosts = list(allowed_hosts) if allowed_hosts is not None else list(LOOPBACK_HOSTS)
    app = Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/api", api_index, methods=["GET"]),
            Route("/api/{job}", api, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(SecurityHeaders), Middleware(HostCheck, allowed=hosts)],
        exception_handlers={ApiError: _on_api_error, Gone: _on_gone, HTTPException: _on_http_error,
                            Exception: _on_any_error},
        lifespan=lifespan,
    )
    app.state.limits = limits
    app.state.pool = pool
    return app

