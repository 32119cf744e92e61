"""Where notebook HTML comes from: renderers registered by type, looked up by ``_repr_html_``.

The core and the results know nothing of HTML: each displayable class mixes in
:class:`HTMLDisplay`, whose ``_repr_html_`` asks this registry. The display layer
(:mod:`matdiff.display.notebook`, imported by ``import matdiff``) registers its renderers here.
A class with no renderer (or a renderer that returns None, as where latex2mathml is missing)
answers None, and Jupyter falls back to ``_repr_latex_``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Renderer = Callable[[Any], "str | None"]

_HTML: dict[type, Renderer] = {}


def register_html(cls: type, render: Renderer) -> None:
    """Show instances of ``cls`` (and of its subclasses, unless they have their own) with ``render``."""
    _HTML[cls] = render


def html_of(obj: Any) -> str | None:
    """The HTML of obj by the renderer registered for the nearest class of its MRO; None if none."""
    for cls in type(obj).__mro__:
        render = _HTML.get(cls)
        if render is not None:
            return render(obj)
    return None


class HTMLDisplay:
    """Mixin: ``_repr_html_`` from the registered renderer."""

    __slots__ = ()

    def _repr_html_(self) -> str | None:
        return html_of(self)
