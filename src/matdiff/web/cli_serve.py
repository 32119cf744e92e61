"""The ``matdiff serve`` subcommand: ``add_serve_parser(subparsers)`` is called by matdiff.cli."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import MatdiffError
from .limits import Limits
from .server import serve


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the local page until interrupted."""
    limits = Limits(timeout_s=args.timeout, workers=args.workers, read_timeout_s=args.read_timeout)
    try:
        serve(host=args.host, port=args.port, open_browser=args.open, limits=limits)
    except ImportError as err:  # pragma: no cover - depends on the installed extras
        raise MatdiffError(f"matdiff serve needs the web extra: pip install 'matdiff[web]' ({err})") from None
    return 0


def _positive(kind: Any) -> Any:
    def convert(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value
    return convert


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve`` to the command line's subparsers."""
    s = subparsers.add_parser(
        "serve", help="the local web page: type an expression, see the gradient, the steps, the code",
        description="Serve matdiff's page on this machine (offline: nothing is loaded from the internet). "
                    "It listens on 127.0.0.1 unless --host says otherwise.")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes it)")
    s.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    s.add_argument("--open", action="store_true", help="open the page in the web browser")
    s.add_argument("--timeout", type=_positive(float), default=Limits.timeout_s, metavar="SECONDS",
                   help=f"time limit of one computation (default {Limits.timeout_s:g})")
    s.add_argument("--read-timeout", type=_positive(float), default=Limits.read_timeout_s, metavar="SECONDS",
                   help=f"time a client has to send a request's headers, and its body (default "
                        f"{Limits.read_timeout_s:g}); slower ones are answered 408 and closed")
    s.add_argument("--workers", type=_positive(int), default=Limits.workers,
                   help=f"worker processes, so computations at once (default {Limits.workers})")
    s.set_defaults(run=cmd_serve)
    return s
