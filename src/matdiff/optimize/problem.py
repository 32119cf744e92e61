"""A minimisation problem made from matdiff's text: the typed objective and constraints, their compiled
value-and-gradient functions, the sizes of the variables, and the callables the engine runs.

Derived and compiled once per (objective, wrt, types, constraints) and cached, so a second solve of the same
problem with other data costs no derivation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..api import compile as compile_fg
from ..api import hessian
from ..core.nodes import Expr, Var
from ..core.shapes import default_kind
from ..errors import DomainError, MatdiffError, ShapeError
from ..frontend import parse, typed
from ..numeric.codegen import build
from ..results.compiled import Program
from ..runtime.numpy import finite_inputs
from ..syntax.printer import to_text
from .engine import Constraint

COMPARISONS = ("==", "<=", ">=")
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


class ConstraintError(MatdiffError):
    """A constraint or bound that is not of the form ``lhs == rhs``, ``lhs <= rhs`` or ``lhs >= rhs``."""


def split_comparison(text: str) -> tuple[str, str, str]:
    """``(lhs, op, rhs)`` of a constraint; a ConstraintError that says what is wrong otherwise."""
    if not isinstance(text, str):
        raise ConstraintError(f"a constraint is text like \"sum(x) == 1\", not {type(text).__name__}")
    found = [(m.start(), m.group()) for m in re.finditer(r"==|<=|>=|=<|=>|(?<![<>=])=(?!=)|<|>", text)]
    if not found:
        raise ConstraintError(f"the constraint {text!r} has no comparison: write lhs == rhs, lhs <= rhs or "
                              "lhs >= rhs")
    if len(found) > 1:
        raise ConstraintError(f"the constraint {text!r} has {len(found)} comparisons; write one per constraint "
                              "(\"0 <= x <= 1\" is two bounds: bounds={'x': (0, 1)})")
    at, op = found[0]
    if op not in COMPARISONS:
        hint = {"=": "==", "<": "<=", ">": ">=", "=<": "<=", "=>": ">="}[op]
        raise ConstraintError(f"the constraint {text!r} uses {op!r}; write {hint!r} (strict inequalities are not "
                              "supported: a minimiser may lie on the boundary)")
    lhs, rhs = text[:at].strip(), text[at + 2:].strip()
    if not lhs or not rhs:
        raise ConstraintError(f"the constraint {text!r} needs an expression on both sides of {op}")
    return lhs, op, rhs


def as_number(text: str) -> float | None:
    return float(text) if _NUMBER.match(text) else None


def as_bound(text: str, wrt: Sequence[str]) -> tuple[str, float | None, float | None] | None:
    """``(name, lo, hi)`` where the constraint is a simple bound ``x >= 0``, ``x <= 1``, ``0 <= x`` on a variable."""
    lhs, op, rhs = split_comparison(text)
    if op == "==":
        return None
    for var, num, var_is_left in ((lhs, rhs, True), (rhs, lhs, False)):
        value = as_number(num)
        if var.strip() in wrt and value is not None:
            lower = (op == ">=") == var_is_left
            return (var.strip(), value, None) if lower else (var.strip(), None, value)
    return None


def parse_bounds(texts: Sequence[str], wrt: Sequence[str]) -> dict[str, tuple[float | None, float | None]]:
    """Bounds from text: ``"x>=0"``, ``"x <= 1"``, ``"0 <= x <= 1"`` (numbers on one side, a variable on the other)."""
    out: dict[str, tuple[float | None, float | None]] = {}
    for text in texts:
        parts = re.split(r"(<=|>=)", text)
        if len(parts) == 5:  # a <= x <= b
            pieces = [f"{parts[0]}{parts[1]}{parts[2]}", f"{parts[2]}{parts[3]}{parts[4]}"]
        else:
            pieces = [text]
        for piece in pieces:
            b = as_bound(piece, wrt)
            if b is None:
                raise ConstraintError(f"the bound {text!r} is not of the form x >= 0, x <= 1 or 0 <= x <= 1 with x "
                                      f"one of the variables minimised over ({', '.join(wrt)}) and numbers; write "
                                      "other conditions as constraints")
            name, lo, hi = b
            old = out.get(name, (None, None))
            out[name] = (lo if lo is not None else old[0], hi if hi is not None else old[1])
    return out


@dataclass
class CompiledConstraint:
    """One constraint, compiled: ``c(x) == 0`` or ``c(x) <= 0``."""

    text: str
    kind: str  # "eq" or "ineq"
    expr: Expr
    variables: dict[str, Var]
    wrt: list[str]
    scalar: bool
    fg: Any  # compiled value and gradients: of c (scalar), or of sum(W.*c) (non-scalar)
    value: Callable[..., Any] | None = None  # c itself (non-scalar)
    value_program: Program | None = None
    mult: str = ""  # the name of W (non-scalar)

    def bind(self) -> Constraint:
        """The engine's view: ``value_and_vjp(values) -> (c, vjp)``."""
        if self.scalar:
            fg = self.fg

            def scalar_value_and_vjp(values: Mapping[str, Any]) -> tuple[Any, Any]:
                c, grads = fg(**values)
                return c, lambda w: {k: float(w) * g for k, g in grads.items()}
            return Constraint(self.text, self.kind, scalar_value_and_vjp)
        value, fg, mult = self.value, self.fg, self.mult

        def value_and_vjp(values: Mapping[str, Any]) -> tuple[Any, Any]:
            c = value(**values)  # type: ignore[misc]
            return c, lambda w: fg(**values, **{mult: np.asarray(w, dtype=float)})[1]
        return Constraint(self.text, self.kind, value_and_vjp)


@dataclass
class Problem:
    """The objective and constraints, typed and compiled; the sizes come with the data (:meth:`shapes`)."""

    objective: Expr
    variables: dict[str, Var]
    wrt: list[str]
    types: dict[str, str]
    fg: Any
    constraints: list[CompiledConstraint]
    _hessian: Any = field(default=None, repr=False)
    _raw: Any = field(default=None, repr=False)

    @property
    def kinds(self) -> dict[str, str]:
        return {n: self.variables[n].kind or "matrix" for n in self.wrt}

    def data_names(self) -> list[str]:
        """Every name the objective or a constraint uses that is not minimised over."""
        names = [n for n in self.variables if n not in self.wrt]
        for c in self.constraints:
            names.extend(n for n in c.variables if n not in self.wrt and n not in names and n != c.mult)
        return list(dict.fromkeys(names))

    def data_kinds(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for vs in [self.variables] + [c.variables for c in self.constraints]:
            for n, v in vs.items():
                if n not in self.wrt and n not in out:
                    out[n] = "scalar" if v.is_scalar else "vector" if v.is_vector else "matrix"
        return out

    def dim_sources(self) -> dict[str, list[int | tuple[str, int] | None]]:
        """Per variable minimised over, each size: a number, (data name, axis) whose value fixes it, or None."""
        roots: dict[Any, tuple[str, int]] = {}
        for n, v in self.variables.items():
            if n in self.wrt or v.is_scalar or v.shape is None:
                continue
            axes = (0,) if v.is_vector else (0, 1)
            for ax in axes:
                roots.setdefault(v.shape[ax].find(), (n, ax))
        out: dict[str, list[int | tuple[str, int] | None]] = {}
        for n in self.wrt:
            v = self.variables[n]
            if v.is_scalar:
                out[n] = []
                continue
            axes = (0,) if v.is_vector else (0, 1)
            dims: list[int | tuple[str, int] | None] = []
            for ax in axes:
                r = v.shape[ax].find()
                dims.append(r.value if r.value is not None else roots.get(r))
            out[n] = dims
        return out

    def shapes(self, data: Mapping[str, Any], x0: Mapping[str, Any] | None) -> dict[str, tuple[int, ...]]:
        """The shape of each variable minimised over: from x0, the declared sizes, or the data it meets."""
        out: dict[str, tuple[int, ...]] = {}
        for n, dims in self.dim_sources().items():
            if x0 is not None and n in x0:
                out[n] = tuple(np.shape(x0[n]))
                continue
            shape = []
            for d in dims:
                if isinstance(d, tuple):
                    shape.append(int(np.shape(data[d[0]])[d[1]]))
                elif d is None:
                    raise ShapeError(f"the size of {n} is not fixed by the data; give a start x0={{'{n}': ...}} or "
                                     f"a size in types (e.g. {{'{n}': 'vector(5)'}})")
                else:
                    shape.append(int(d))
            out[n] = tuple(shape)
        return out

    def raw_objective(self) -> Callable[[Mapping[str, Any]], tuple[float, dict[str, Any]]]:
        """The generated value-and-gradient function called directly: the data were checked at the start (by
        the public callable), so each call checks only the variables for NaN and Inf."""
        if self._raw is None:
            prog = self.fg.program
            raw = build(prog.source(), prog.name, "numpy")
            wrt = list(self.wrt)
            glb = getattr(raw, "__globals__", None)
            if glb is not None and "_finite_inputs" in glb:
                glb["_finite_inputs"] = lambda **kv: finite_inputs(**{k: kv[k] for k in wrt if k in kv})
            params = prog.params

            def objective(values: Mapping[str, Any]) -> tuple[float, dict[str, Any]]:
                out = raw(*[values[p] for p in params])
                return out[0], dict(zip(wrt, out[1:]))
            self._raw = objective
        return self._raw

    def hessian(self) -> Any:
        if self._hessian is None:
            self._hessian = hessian(self.objective, self.wrt if len(self.wrt) > 1 else self.wrt[0], self.types)
        return self._hessian

    def hvp(self, values: Mapping[str, Any], directions: Mapping[str, Any]) -> dict[str, Any]:
        h = self.hessian()
        if len(self.wrt) > 1:
            return dict(h.hvp(values, directions))
        n = self.wrt[0]
        return {n: h.hvp(values, directions[n])}


def _fresh(base: str, taken: Sequence[str]) -> str:
    i = 0
    while f"{base}{i}" in taken:
        i += 1
    return f"{base}{i}"


def compile_constraint(text: str, wrt: Sequence[str], types: Mapping[str, str], index: int) -> CompiledConstraint:
    lhs, op, rhs = split_comparison(text)
    for side in (lhs, rhs):
        parse(side)  # a ParseError with the position in that side
    body = f"({lhs}) - ({rhs})" if op != ">=" else f"({rhs}) - ({lhs})"
    kind = "eq" if op == "==" else "ineq"
    c, cvs = typed(body, types)
    used = [n for n in wrt if n in cvs]
    if not used:
        raise ConstraintError(f"the constraint {text!r} does not involve the variables minimised over "
                              f"({', '.join(wrt)})")
    if c.is_scalar:
        fg = compile_fg(c, used, types)
        return CompiledConstraint(text, kind, c, cvs, used, True, fg)
    mult = _fresh("Wmul" if not c.is_vector else "wmul", list(cvs) + list(types))
    mtypes = {**types, mult: "vector" if c.is_vector else "matrix"}
    fg = compile_fg(f"sum({mult} .* ({body}))", used, mtypes)
    prog = Program(f"constraint_{index}", [c], cvs, guard_of=c, where=text, doc=f"The constraint {text}: "
                   f"{to_text(c)} {'== 0' if kind == 'eq' else '<= 0'}")
    return CompiledConstraint(text, kind, c, cvs, used, False, fg, prog.build("numpy"), prog, mult)


_CACHE: dict[Any, tuple[Problem, dict[str, tuple[float | None, float | None]]]] = {}


def make_problem(objective: str | Expr, wrt: Sequence[str], types: Mapping[str, str] | None,
                 constraints: Sequence[str]) -> tuple[Problem, dict[str, tuple[float | None, float | None]]]:
    """The compiled problem, and the constraints that are simple bounds (``x >= 0``) as bounds; cached."""
    types = dict(types or {})
    key = None
    if isinstance(objective, str):
        key = (objective, tuple(wrt), tuple(sorted(types.items())), tuple(constraints))
        got = _CACHE.get(key)
        if got is not None:
            return got
    f, vs = typed(objective, types, scalar=True)  # an objective is a scalar: that decides kinds use leaves open
    for n, v in vs.items():  # kinds taken from use hold for the constraints and the Hessian too
        if n not in types and v.kind != default_kind(n):
            types[n] = v.kind
    if not f.is_scalar:
        raise ShapeError(f"the objective must be a scalar; {to_text(f)} is not one")
    for n in wrt:
        if n not in vs:
            raise MatdiffError(f"{n} does not occur in the objective {to_text(f)} (its variables: {', '.join(vs)})")
        if vs[n].kind == "diagonal":
            raise MatdiffError(f"minimising over the diagonal matrix {n} is not supported; write diag(v) with a "
                               "vector v instead")
    extra_bounds: dict[str, tuple[float | None, float | None]] = {}
    compiled: list[CompiledConstraint] = []
    for i, text in enumerate(constraints):
        b = as_bound(text, wrt)
        if b is not None and vs[b[0]].kind != "spd":
            name, lo, hi = b
            old = extra_bounds.get(name, (None, None))
            extra_bounds[name] = (max(lo, old[0]) if lo is not None and old[0] is not None else lo if lo is not None
                                  else old[0],
                                  min(hi, old[1]) if hi is not None and old[1] is not None else hi if hi is not None
                                  else old[1])
            continue
        compiled.append(compile_constraint(text, wrt, types, i))
    fg = compile_fg(f, list(wrt), types)
    problem = Problem(f, vs, list(wrt), types, fg, compiled)
    if key is not None:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[key] = (problem, extra_bounds)
    return problem, extra_bounds


DOMAIN_ERRORS: tuple[type[BaseException], ...] = (DomainError, np.linalg.LinAlgError, ArithmeticError)
