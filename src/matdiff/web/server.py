"""Running the page: uvicorn on 127.0.0.1 unless told otherwise, loudly when told."""

from __future__ import annotations

import sys
import threading
import webbrowser
from typing import TextIO

from .limits import Limits

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine."""
    return host in LOOPBACK or host.startswith("127.")


def exposure_warning(host: str) -> str:
    """The warning printed when the server listens beyond this machine."""
    bar = "!" * 78
    return (f"{bar}\n"
            f"WARNING: matdiff serve is listening on {host}, not on 127.0.0.1: anyone who can reach this\n"
            f"machine on the network can use the page and make it compute (within the time and size\n"
            f"limits). There is no authentication. Use --host 127.0.0.1 unless you mean it.\n"
            f"{bar}")


def allowed_hosts(host: str) -> list[str]:
    """Host header names to accept: loopback names, plus any name when listening on all interfaces."""
    if host in ("0.0.0.0", "::", ""):
        return ["*"]
    return sorted(LOOPBACK | {host})


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = False, limits: Limits | None = None,
          out: TextIO = sys.stderr) -> None:
    """Serve the page until interrupted (Ctrl-C)."""
    import uvicorn

    from .app import create_app
    from .protocol import protocol_with_deadline

    if not is_loopback(host):
        print(exposure_warning(host), file=out, flush=True)
    app = create_app(limits=limits, allowed_hosts=allowed_hosts(host))
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else shown}:{port}/"
    print(f"matdiff: serving the page at {url} (Ctrl-C stops it)", file=out, flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    limits = app.state.limits
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False,
                http=protocol_with_deadline(limits.read_timeout_s), limit_concurrency=limits.max_connections)
