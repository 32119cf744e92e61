"""The local web page (``matdiff serve``) and its JSON API.

``matdiff.web.app`` and ``matdiff.web.create_app`` need the web extra (Starlette, uvicorn,
latex2mathml). The notebook display of results is :mod:`matdiff.display` (it needs only latex2mathml).
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "create_app", "serve", "Limits"]

_app: Any = None


def __getattr__(name: str) -> Any:
    global _app
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "app":
        if _app is None:
            from .app import create_app

            _app = create_app()
        return _app
    if name == "serve":
        from .server import serve

        return serve
    if name == "Limits":
        from .limits import Limits

        return Limits
    raise AttributeError(f"module 'matdiff.web' has no attribute {name!r}")
