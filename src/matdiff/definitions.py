"""``matdiff.define``: new functions of the language, as registry entries like the built-ins.

Two forms:

* by an expression of its arguments, ``define("soft(U) = log(1 + exp(U))")``: the
  function stands for its body; its differential is the body's (the steps say so, naming
  the definition), it evaluates and compiles as the body does, and prints as written;
* as a primitive, ``define("cube(U)", numpy=kernel, differential="3*U.^2.*dU")``: the
  differential is written in the language with ``dU`` for the argument's differential (one
  term per argument that varies), and compiled code calls the kernel.  Other backends get
  their kernels by name (``jax=``, ``torch=``, ``cupy=``, ``dask=``); compiling for a backend
  without one is a MatdiffError that says so.

A definition is a registry entry of this process, visible to every thread once ``define``
returns (the registry is guarded by a lock); worker processes started afterwards with
``fork`` inherit it, others (``spawn``) must define it again.  Redefining a built-in is a
MatdiffError; a defined name is reserved like a built-in (it is no longer a variable); the
same definition by an expression again is accepted (a notebook cell run twice), any other
needs ``replace=True``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from . import frontend
from .core.build import ZERO, T, add, call, div, epower, had, hdiv, is_symmetric, mul, neg, power, substitute
from .core.nodes import Add, Call, Div, EPower, Expr, Eye, Hadamard, HDiv, MatMul, Neg, Num, Ones, Power, Transpose, Var
from .errors import MatdiffError, ParseError, ShapeError
from .functions import registry
from .functions.registry import Function, same_shape
from .syntax.parser import parse

_HEADER = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*\(([^()]*)\)\s*")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
BACKEND_KEYWORDS = ("jax", "torch", "cupy", "dask")


def define(definition: str, *, numpy: Callable[..., Any] | None = None, differential: str | None = None,
           elementwise: bool = False, analytic: bool | None = None, latex: str | None = None,
           replace: bool = False, **backends: Callable[..., Any]) -> Function:
    """Add a function to the language and return its registry entry.

    ``define("f(U, V) = body")`` defines f by an expression of its arguments.
    ``define("f(U)", numpy=kernel, differential="... dU ...")`` defines a primitive: ``kernel`` takes and
    returns NumPy values as ``evaluate`` gives them (floats, 1-D vectors, 2-D matrices); ``elementwise=True``
    says it acts entry by entry (the result is shaped like the argument); otherwise the result's shape is
    the differential's.  ``analytic=True`` lets the complex-step check use the kernel on complex input.
    ``latex``: the LaTeX of a call, ``{0}``, ``{1}`` the arguments' (default ``\\operatorname{f}(...)``).
    ``jax=``, ``torch=``, ``cupy=``, ``dask=``: the kernel on that backend.
    """
    if not isinstance(definition, str):
        raise MatdiffError(f"a definition is text, such as \"soft(U) = log(1 + exp(U))\", not {definition!r}")
    unknown = set(backends) - set(BACKEND_KEYWORDS)
    if unknown:
        raise MatdiffError(f"define() got unknown keyword arguments {sorted(unknown)}; the backends' kernels are "
                           f"given as {', '.join(k + '=' for k in BACKEND_KEYWORDS)}")
    head, eq, body = definition.partition("=")
    m = _HEADER.fullmatch(head)
    builtin = registry.get(m.group(1)) if m is not None else None
    if builtin is not None and builtin.builtin and eq and numpy is None and differential is None:
        return _restated(builtin, definition, m.group(2), body, len(head) + 1)  # type: ignore[union-attr]
    name, params = _header(definition, head)
    if eq:
        if numpy is not None or differential is not None or backends:
            raise MatdiffError(f"{name} is defined by an expression; a kernel or a differential belongs to a "
                               f"primitive, define(\"{head.strip()}\", numpy=..., differential=...)")
        fn = _by_expression(name, params, definition, body, len(head) + 1, latex)
    else:
        if numpy is None or differential is None:
            raise MatdiffError(f"define(\"{definition.strip()}\") needs a body (\"{definition.strip()} = ...\") "
                               "or, for a primitive, numpy=<kernel> and differential=\"... d<arg> ...\"")
        if not callable(numpy):
            raise MatdiffError(f"numpy= must be a function of {len(params)} argument(s), not {numpy!r}")
        fn = _primitive(name, params, definition.strip(), numpy, differential, elementwise, analytic, latex,
                        backends)
    return registry.register(fn, replace=replace)


# ------------------------------------------------------------------------------------------ the header
def _restated(fn: Function, text: str, arglist: str, body_text: str, offset: int) -> Function:
    """A built-in defined again by an expression: accepted (the built-in returned) where the body is the same
    function — equal values at random points (scalar, vector, matrix arguments) — else a MatdiffError."""
    params = [p.strip() for p in arglist.split(",")]
    body = _parse_in(text, body_text, offset) if body_text.strip() else None
    refuse = (f"{fn.name} is a built-in function of the language; it cannot be redefined (choose another "
              "name)")
    if body is None or len(params) != fn.arity or not all(_NAME.fullmatch(p) for p in params) or \
            not _free_names(body) <= set(params):
        raise MatdiffError(refuse)
    rng = np.random.default_rng(0)
    agreed = 0
    for kind, shape in (("scalar", ()), ("vector", (4,)), ("symmetric", (4, 4))):
        types = {p: kind for p in params}
        values = {}
        for p in params:
            v = rng.uniform(0.3, 1.2, shape)
            values[p] = (v + v.T) / 2 + (4 * np.eye(4) if kind == "symmetric" else 0) if shape == (4, 4) else v
        try:
            mine = frontend.evaluate(body, values, types)
            theirs = frontend.evaluate(f"{fn.name}({', '.join(params)})", values, types)
        except MatdiffError:
            continue
        if np.shape(mine) != np.shape(theirs) or not np.allclose(mine, theirs, rtol=1e-12, atol=1e-14):
            raise MatdiffError(f"{refuse}: the built-in {fn.name} differs from {text.strip()} (at a {kind} "
                               "argument the values are not the same)")
        agreed += 1
    if not agreed:
        raise MatdiffError(refuse)
    return fn  # the same function: the built-in serves


def _header(text: str, head: str) -> tuple[str, list[str]]:
    m = _HEADER.fullmatch(head)
    if m is None:
        raise ParseError("a definition starts with the function and its arguments, such as soft(U)", text, 0)
    name = m.group(1)
    params = [p.strip() for p in m.group(2).split(",")]
    if name in registry.RESERVED_WORDS or (registry.get(name) is not None and registry.lookup(name).builtin):
        raise MatdiffError(f"{name} is a built-in function of the language; it cannot be redefined "
                           "(choose another name)")
    for p in params:
        if not _NAME.fullmatch(p):
            raise ParseError(f"the arguments of {name} are names, such as {name}(U, V); {p!r} is not one",
                             text, text.find("(") + 1)
        if registry.is_reserved(p):
            raise MatdiffError(f"the argument {p} of {name} is the name of a function; choose another")
    if len(set(params)) != len(params):
        raise MatdiffError(f"the arguments of {name} must have distinct names: {', '.join(params)}")
    if name in params:
        raise MatdiffError(f"{name} cannot be the name of one of its own arguments")
    return name, params


def _parse_in(text: str, part: str, offset: int) -> Expr:
    """The tree of a part of the definition; a ParseError points into the whole text."""
    try:
        return parse(part)
    except ParseError as err:
        if err.position is None:
            raise
        raise ParseError(err.reason, text, offset + err.position) from None


def _free_names(e: Expr) -> set[str]:
    out = set(e.free)
    stack = [e]
    while stack:
        n = stack.pop()
        if isinstance(n, (Eye, Ones)) and n.like is not None:
            out |= n.like.free
            stack.append(n.like)
        stack.extend(n.children)
    return out


def _analytic(body: Expr) -> str:
    """"no" if the body holds a function that is not analytic, "vectors" if one is so only on vectors."""
    kinds = {n.fn.analytic for n in _nodes(body) if isinstance(n, Call)}
    return "no" if "no" in kinds else "vectors" if "vectors" in kinds else "yes"


def _nodes(e: Expr) -> list[Expr]:
    out, stack = [], [e]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(n.children)
    return out


def _calls(body: Expr) -> tuple[str, ...]:
    names: list[str] = []
    for n in _nodes(body):
        if isinstance(n, Call):
            names += [c for c in n.fn.calls if c not in names]
    return tuple(names)


def _entrywise(e: Expr, params: set[str]) -> bool:
    """The body acts entry by entry on its (one) argument: elementwise functions, .*, ./, .^, +, -, numbers."""
    if isinstance(e, Num):
        return True
    if isinstance(e, Var):
        return e.name in params
    if isinstance(e, Call):
        return e.fn.elementwise and _entrywise(e.arg, params)
    if isinstance(e, (Add, Neg, Hadamard, HDiv, EPower)):
        return all(_entrywise(c, params) for c in e.children)
    if isinstance(e, MatMul):  # a number times the rest
        return sum(1 for f in e.factors if not isinstance(f, Num)) <= 1 and all(_entrywise(f, params)
                                                                                for f in e.factors)
    if isinstance(e, Div):
        return isinstance(e.den, Num) and _entrywise(e.num, params)
    return False


# ------------------------------------------------------------------------------- by an expression
def _by_expression(name: str, params: list[str], text: str, body_text: str, offset: int,
                   latex: str | None) -> Function:
    if not body_text.strip():
        raise ParseError(f"the body of {name} is empty: write {text.strip()} <expression>", text, len(text))
    body = _parse_in(text, body_text, offset)
    stray = sorted(_free_names(body) - set(params))
    if stray:
        raise MatdiffError(f"the body of {name} uses {', '.join(stray)}, which {'is' if len(stray) == 1 else 'are'} "
                           f"not among its arguments ({', '.join(params)}): a definition depends on its "
                           "arguments only")

    def expand(e: Expr) -> Expr:
        """name(args) with the arguments put into the body."""
        return substitute_smart(body, dict(zip(params, e.args)))  # type: ignore[attr-defined]

    def shape(fn: Function, args: tuple[Expr, ...]) -> Any:
        try:
            return substitute_smart(body, dict(zip(params, args))).shape
        except ShapeError as err:
            raise ShapeError(f"in {name}({', '.join(str(a) for a in args)}), defined by {fn.definition}: "
                             f"{err}") from None

    definition = f"{name}({', '.join(params)}) = {body}"
    elementwise = len(params) == 1 and _entrywise(body, set(params))
    return Function(
        name=name, family="defined", arity=len(params), shape=shape, builtin=False, definition=definition,
        expand=expand, elementwise=elementwise, same_shape=elementwise, transpose_inside=elementwise,
        symmetric=lambda args: is_symmetric(substitute_smart(body, dict(zip(params, args)))),  # as its body is
        analytic=_analytic(body),
        rule=(f"definition: {definition}", lambda e, d: d(expand(e))),
        latex=_latex(name, latex), lower=lambda low, e: low(expand(e)),
        calls=_calls(body), doc=f"defined: {definition}")


# ----------------------------------------------------------------------------------- a primitive
def _primitive(name: str, params: list[str], header: str, kernel: Callable[..., Any], differential: str,
               elementwise: bool, analytic: bool | None, latex: str | None,
               backends: dict[str, Callable[..., Any]]) -> Function:
    text = f"d {header} = {differential}"
    diff = _parse_in(text, differential, len(text) - len(differential))
    allowed = set(params) | {"d" + p for p in params}
    stray = sorted(_free_names(diff) - allowed)
    if stray:
        raise MatdiffError(f"the differential of {name} uses {', '.join(stray)}; it may use the arguments "
                           f"({', '.join(params)}) and their differentials ({', '.join('d' + p for p in params)})")
    if not any(("d" + p) in _free_names(diff) for p in params):
        raise MatdiffError(f"the differential of {name} must be linear in the arguments' differentials "
                           f"({', '.join('d' + p for p in params)}); {differential} holds none")

    def rule(e: Expr, d: Callable[[Expr], Expr]) -> Expr:
        values: dict[str, Expr] = dict(zip(params, e.args))  # type: ignore[attr-defined]
        values.update({"d" + p: d(a) for p, a in zip(params, e.args)})  # type: ignore[attr-defined]
        return substitute_smart(diff, values)

    def shape(fn: Function, args: tuple[Expr, ...]) -> Any:
        if elementwise:
            return same_shape(fn, args)
        values: dict[str, Expr] = dict(zip(params, args))
        values.update({"d" + p: a for p, a in zip(params, args)})  # dU is shaped like U
        try:
            return substitute_smart(diff, values).shape
        except ShapeError as err:
            raise ShapeError(f"in {name}({', '.join(str(a) for a in args)}), with the differential "
                             f"{differential}: {err}") from None

    def lower(low: Any, e: Expr) -> str:
        # compiled code and evaluation alike call the kernel through _D (evaluation checks the shape it returns)
        return low.emit(f"_D.{name}({', '.join(low(a) for a in e.args)})")  # type: ignore[attr-defined]

    kernels = {"numpy": {name: kernel}}
    for backend, k in backends.items():
        kernels[backend] = {name: k}
    return Function(
        name=name, family="defined", arity=len(params), shape=shape, builtin=False,
        definition=f"{header}, d{name} = {differential}", elementwise=elementwise, same_shape=elementwise,
        transpose_inside=elementwise, symmetric=(lambda args: is_symmetric(args[0])) if elementwise else None,
        analytic="yes" if analytic else "no", rule=(f"d {header} = {differential}", rule),
        latex=_latex(name, latex), lower=lower, calls=(f"_D.{name}",), kernels=kernels,
        doc=f"primitive {header}, d = {differential}")


def _latex(name: str, template: str | None) -> Callable[[Any, Expr], str] | None:
    if template is None:
        return None  # the printer's default: \operatorname{name}(...)
    return lambda p, e: template.format(*(p.doprint(a) for a in e.args))  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------- substitution
_BUILD: dict[type, Callable[..., Expr]] = {
    Add: lambda e, c: add(*c), MatMul: lambda e, c: mul(*c), Neg: lambda e, c: neg(c[0]),
    Div: lambda e, c: div(*c), Hadamard: lambda e, c: had(*c), HDiv: lambda e, c: hdiv(*c),
    Power: lambda e, c: power(*c), EPower: lambda e, c: epower(*c), Call: lambda e, c: call(e.fn, *c),
    Transpose: lambda e, c: _transpose(c[0]),
}


def _transpose(a: Expr) -> Expr:
    return a if a is ZERO else T(a)


def substitute_smart(e: Expr, values: dict[str, Expr]) -> Expr:
    """e with its variables replaced by ``values``, rebuilt by the constructors that fold 0, 1, --x."""
    if not e.children:
        return substitute(e, values)
    kids = [substitute_smart(c, values) for c in e.children]
    build = _BUILD.get(type(e))
    return build(e, kids) if build is not None else e.rebuild(tuple(kids))


__all__ = ["define"]
