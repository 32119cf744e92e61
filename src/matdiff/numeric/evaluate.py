"""Evaluation of typed expressions with NumPy: the code generator's lowering, executed at once.

:class:`Evaluator` is an adapter over :class:`~matdiff.numeric.codegen.Executor`, which runs each statement the
lowering emits as it emits it (one numeric implementation per function: its registry entry's ``lower``).  Inside,
a scalar is a NumPy scalar and a vector an (n, 1) array (as :class:`Bindings` keeps the values, and as the callers
use them); the executor computes in generated code's convention (1-D vectors), and values are converted at the
border.  Values are checked against the shapes the expression implies (a ShapeError names the variable, the size
expected and the size given).  Equal subexpressions are computed once; ``inv(A)*B`` is a solve.  Complex inputs
are accepted (the complex-step check uses them): the functions are continued analytically
(``runtime.numpy.analytic_namespace``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core.nodes import Expr, Var
from ..errors import DomainError
from ..runtime.numpy import check
from ..syntax.printer import to_text
from .codegen import executor, generated_value, internal_value
from .domain import Bindings, guards

Value = Any


class Evaluator:
    """Values of typed expressions at one point; shared subexpressions computed once."""

    def __init__(self, variables: Mapping[str, Var], values: Mapping[str, Value]):
        self.variables = variables
        self.bind = Bindings(variables, values)
        self.x = executor(variables, self.bind)

    def __call__(self, e: Expr) -> Value:
        x = self.x
        try:  # numpy's overflow warnings off: ``external`` refuses what is not finite
            with np.errstate(over="ignore", under="ignore", divide="call", invalid="call", call=x.signal):
                return internal_value(e, x.evaluate(e))
        except np.linalg.LinAlgError as err:  # an SVD or solve of entries that overflowed to inf
            raise DomainError(f"the linear algebra failed at this point ({err}): an overflow, or a value outside the "
                              "domain") from None
        finally:
            x.signals.clear()

    def forget(self, name: str) -> None:
        """Drop the values that depend on the variable ``name`` (after changing its value in ``bind.values``)."""
        self.x.set(name, generated_value(self.variables[name], self.bind.values[name]))

    def external(self, e: Expr, value: Value) -> Value:
        """The value as the user sees it: a scalar, a 1-D vector or a 2-D matrix; DomainError where an entry
        is not finite (the inputs are: an overflow, or a point outside the domain no guard caught)."""
        if not np.all(np.isfinite(value)):
            raise DomainError("the result is not finite at this point (an overflow, or a value outside the domain)")
        if e.is_scalar:
            v = np.asarray(value).reshape(())[()]
            return float(v) if np.isrealobj(v) else complex(v)
        if e.is_vector:
            return np.asarray(value)[:, 0]
        if e.shape[0].find().value == 1 and np.ndim(value) == 2:
            return np.asarray(value)[0, :]  # a row vector comes back 1-D too
        return value


def check_domain(ev: Evaluator, f: Expr) -> None:
    """Raise DomainError where f is undefined or not differentiable at the evaluator's point."""
    for kind, e, what in guards(f):
        if kind in ("evaluates", "invertible"):
            ev(e)  # evaluating raises where it is undefined
            continue
        check(kind, ev(e), what, to_text(e))


__all__ = ["Evaluator", "Bindings", "guards", "check_domain"]
