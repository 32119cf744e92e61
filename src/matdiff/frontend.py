"""From the user's text to typed trees: parse, type, name the variable, evaluate.

What every upper layer (results, verify, the API, the command line, the page) starts from;
it knows nothing of derivatives.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .core.nodes import Expr, Var
from .core.shapes import TypeEnv
from .errors import LimitError, MatdiffError
from .numeric.evaluate import Evaluator
from .syntax.inference import infer
from .syntax.parser import parse as _parse
from .syntax.printer import to_text
from .syntax.typing import variables

if TYPE_CHECKING:
    import numpy as np

Types = Mapping[str, str] | None
F = TypeVar("F", bound=Callable[..., Any])


def deep(fn: F) -> F:
    """A RecursionError (a derivative nested past Python's stack) becomes a LimitError."""
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RecursionError:
            raise LimitError("the expression or its derivative is nested too deeply to handle") from None
    return call  # type: ignore[return-value]


def parse(text: str) -> Expr:
    """The expression tree of ``text`` (a ParseError with the position and a caret if it is not one)."""
    return _parse(text)


def typed(expr: str | Expr, types: Types = None, scalar: bool = False) -> tuple[Expr, dict[str, Var]]:
    """The typed tree of expr and its variables (ShapeError where the sizes do not fit).

    Undeclared names get their kinds from use (:mod:`matdiff.syntax.inference`); ``scalar``: the
    expression must be a scalar (a gradient's), which decides kinds that use leaves open."""
    t, _ = typed_assuming(expr, types, scalar)
    return t, variables(t)


def typed_assuming(expr: str | Expr, types: Types = None, scalar: bool = False) -> tuple[Expr, dict[str, str]]:
    """The typed tree and the types assumed from use, ``{"b": "vector(rows(A)), from A*x - b"}``."""
    tree = parse(expr) if isinstance(expr, str) else expr
    if not isinstance(tree, Expr):
        raise MatdiffError(f"an expression must be text or a matdiff expression, not {type(expr).__name__}")
    if tree.typed:  # typed already: keep its variables and sizes (re-typing would make new ones)
        return tree, {}
    TypeEnv(types)  # a bad declaration is a ParseError before anything else
    return infer(tree, types, scalar)


def wrt_var(f: Expr, vs: Mapping[str, Var], wrt: str) -> Var:
    """The variable named ``wrt`` of f (a MatdiffError naming f's variables if there is none)."""
    if not isinstance(wrt, str):
        raise MatdiffError(f"wrt must be a variable name, not {wrt!r}")
    var = vs.get(wrt)
    if var is None:
        names = ", ".join(vs) or "none"
        raise MatdiffError(f"{wrt} does not occur in {to_text(f)} (its variables: {names})")
    return var


def wrt_list(wrt: str | list[str] | tuple[str, ...]) -> list[str] | None:
    """The names of a list ``wrt`` (checked: non-empty, distinct), or None for a single name."""
    if isinstance(wrt, (list, tuple)):
        if not wrt or not all(isinstance(w, str) for w in wrt):
            raise MatdiffError(f"wrt must be a variable name or a non-empty list of names, not {wrt!r}")
        if len(set(wrt)) != len(wrt):
            raise MatdiffError(f"wrt names a variable twice: {list(wrt)}")
        return list(wrt)
    return None


@deep
def evaluate(expr: str | Expr, values: Mapping[str, Any], types: Types = None) -> float | complex | np.ndarray:
    """The value of expr at ``values``: a float, a 1-D array (vector) or a 2-D array (matrix).

    >>> evaluate("x'*A*x", {"x": [1.0, 2.0], "A": [[2.0, 0.0], [0.0, 3.0]]})
    14.0
    """
    t, vs = typed(expr, types)
    ev = Evaluator(vs, values)
    return ev.external(t, ev(t))
