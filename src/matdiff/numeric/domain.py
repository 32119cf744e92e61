"""The point and the domain: values checked against the shapes an expression implies (:class:`Bindings`), and
where an expression is undefined or not differentiable (:func:`guards`), for evaluation and generated code alike.

Inside, a scalar is a NumPy scalar and a vector an (n, 1) array (``Bindings.values``); a ShapeError names the
variable, the size expected and the size given; NaN/Inf values are refused (DomainError).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core.nodes import Call, Div, EPower, Expr, HDiv, Power, Var, integer_value
from ..core.shapes import Dim
from ..errors import DomainError, MatdiffError, ShapeError
from ..syntax.printer import to_text

Value = Any


class Bindings:
    """Concrete sizes of the symbolic dims, read off the values given."""

    def __init__(self, variables: Mapping[str, Var], values: Mapping[str, Value]):
        self.sizes: dict[Dim, int] = {}
        self.owner: dict[Dim, str] = {}
        self.values: dict[str, Value] = {}
        missing = [n for n in variables if n not in values]
        if missing:
            raise MatdiffError(f"no value given for {', '.join(missing)} (the expression needs "
                               f"{', '.join(variables)})")
        for name, var in variables.items():
            self.values[name] = self._internal(var, values[name])

    def size(self, d: Dim) -> int:
        r = d.find()
        if r.value is not None:
            return r.value
        got = self.sizes.get(r)
        if got is None:
            raise ShapeError(f"the size {r} is not determined by the values of any variable here")
        return got

    def _bind(self, var: Var, axis: int, size: int) -> None:
        r = var.shape[axis].find()
        what = ("rows", "columns")[axis] if not var.is_vector else "entries"
        if r.value is not None and r.value != size:
            raise ShapeError(f"{var.name} must have {r.value} {what} ({_expected(var)}), "
                             f"but its value has {size}")
        if r.value is None:
            prev = self.sizes.get(r)
            if prev is not None and prev != size:
                raise ShapeError(f"{var.name} has {size} {what}, but {self.owner[r]} fixes "
                                 f"{r} = {prev}: the sizes of the values do not fit the expression")
            self.sizes[r] = size
            self.owner.setdefault(r, var.name)

    def _internal(self, var: Var, value: Value) -> Value:
        try:
            a = np.asarray(value)
        except Exception:
            raise MatdiffError(f"the value of {var.name} is not an array of numbers") from None
        if a.dtype.kind not in "biufc":
            raise MatdiffError(f"the value of {var.name} is not numeric (dtype {a.dtype})")
        if a.dtype.kind in "biuf" and a.dtype != np.float64:  # one rule, as compiled code: float64
            a = a.astype(np.float64)
        elif a.dtype.kind == "c" and a.dtype != np.complex128:
            a = a.astype(np.complex128)
        if not np.all(np.isfinite(a)):
            raise DomainError(f"the value of {var.name} has NaN or infinite entries")
        if var.is_scalar:
            if a.size != 1:
                raise ShapeError(f"{var.name} is a scalar, but its value has shape {a.shape}")
            return a.reshape(())[()]
        if var.is_vector:
            if a.ndim == 2 and a.shape[1] == 1:
                a = a[:, 0]
            if a.ndim != 1:
                raise ShapeError(f"{var.name} is a vector: give a 1-D array, not shape {a.shape}")
            self._bind(var, 0, a.shape[0])
            return a.reshape(-1, 1)
        if a.ndim != 2:
            raise ShapeError(f"{var.name} is a matrix: give a 2-D array, not shape {a.shape}")
        self._bind(var, 0, a.shape[0])
        self._bind(var, 1, a.shape[1])
        if var.symmetric:
            scale = float(np.max(np.abs(a))) if a.size else 0.0
            if np.max(np.abs(a - a.T), initial=0.0) > 1e-10 * max(scale, 1e-300):
                raise DomainError(f"{var.name} is declared {var.kind}, but its value is not symmetric "
                                  f"(max |{var.name} - {var.name}'| = {np.max(np.abs(a - a.T)):.3g})")
            if var.kind == "diagonal" and np.any(a - np.diag(np.diag(a))):
                raise DomainError(f"{var.name} is declared diagonal, but its value has off-diagonal entries")
        return a


def _expected(var: Var) -> str:
    r, c = var.shape
    return f"a vector of length {r}" if var.is_vector else f"a {r}x{c} matrix"


# ------------------------------------------------------------------------------- domain guards
def guards(f: Expr) -> list[tuple[str, Expr, str]]:
    """Where f is undefined or not differentiable: (check, subexpression, description)."""
    out: list[tuple[str, Expr, str]] = []
    seen: set[Expr] = set()
    stack = [f]
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        stack.extend(e.children)
        if isinstance(e, Call):
            # norms and abs need no guard: their gradients divide by the norm or take a sign,
            # which refuse at the points where they do not exist (and only there: norm^2 is fine at 0)
            if e.fn.guard is not None:
                out.extend(e.fn.guard(e))
            if e.fn.expand is not None:  # a function defined by an expression: the guards of its body
                stack.append(e.fn.expand(e))
        elif isinstance(e, (Div, HDiv)):
            den = e.den if isinstance(e, Div) else e.b
            out.append(("no_zero_entry", den, f"the divisor {to_text(den)}"))
        elif isinstance(e, (Power, EPower)):
            base, p = (e.base, e.exp) if isinstance(e, Power) else (e.a, e.b)
            if integer_value(p) is None and (isinstance(e, EPower) or base.is_scalar):
                out.append(("positive", base, f"{to_text(base)} to the fractional power {to_text(p)}"))
    return out
