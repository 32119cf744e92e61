"""Types from use: the kind of an undeclared name comes from how the expression uses it.

The naming convention (a-g scalars, h-z vectors, A-Z matrices) is only the first guess.  The
typing is then revised where the use reads otherwise:

* a name of scalar kind added to (or multiplied entrywise with) a vector or a matrix is that
  vector or matrix, never a silent broadcast: ``A*x - b`` makes ``b`` a vector;
* where the guess does not type (``x*eye - A`` with ``x`` a vector) or a gradient's expression
  is not a scalar (``a'*X*b`` with ``a``, ``b`` scalars, ``lam*w'*w`` with ``lam`` a vector), the
  fewest names are switched between scalar and vector until it does; where two choices work
  equally, the ShapeError lists them and the declaration that picks one.

Declared types always win.  ``infer`` returns the typed tree and, for each name whose kind came
from use rather than from its letter, the type it was given ("b: vector(rows(A))").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import combinations

from ..core.nodes import Add, Expr, Hadamard, HDiv, Neg, Var
from ..core.shapes import Dim, TypeEnv, default_kind
from ..errors import ShapeError
from .printer import to_text
from .typing import typecheck, variables

MAX_SWITCHED = 3  # names switched at once before giving up (a'*X*b needs two)
MAX_TRIES = 400


def _names(tree: Expr) -> list[str]:
    out: dict[str, None] = {}
    stack = [tree]
    while stack:
        e = stack.pop()
        if isinstance(e, Var):
            out.setdefault(e.name, None)
        like = getattr(e, "like", None)
        if like is not None:
            stack.append(like)
        stack.extend(reversed(e.children))
    return list(out)


def _attempt(tree: Expr, types: Mapping[str, str] | None, kinds: Mapping[str, str]) -> Expr:
    env = TypeEnv({**kinds, **(types or {})})
    for name in (types or {}):
        env.shape(name)  # named sizes are shared even by variables that do not occur
    return typecheck(tree, env)


def _broadcasts(t: Expr, free: set[str]) -> dict[str, tuple[str, Expr]]:
    """Undeclared scalar names used as a vector or matrix: name -> (kind, the expression using it)."""
    out: dict[str, tuple[str, Expr]] = {}
    stack = [t]
    seen: set[int] = set()
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        stack.extend(e.children)
        operands = e.terms if isinstance(e, Add) else (e.a, e.b) if isinstance(e, (Hadamard, HDiv)) else ()
        if not operands or e.shape is None or e.is_scalar:
            continue
        if e.shape[0].size() == 1:  # a row: x' - a would make a a row, which no kind is
            continue
        kind = "vector" if e.is_vector else "matrix"
        for o in operands:
            v = o.arg if isinstance(o, Neg) else o
            if isinstance(v, Var) and v.name in free and v.is_scalar and v.name not in out:
                out[v.name] = (kind, e)
    return out


def _alternatives(name: str) -> str | None:
    return {"scalar": "vector", "vector": "scalar"}.get(default_kind(name))


def _switches(free: list[str]) -> Iterator[tuple[str, ...]]:
    switchable = [n for n in free if _alternatives(n) is not None]
    for k in range(1, min(MAX_SWITCHED, len(switchable)) + 1):
        yield from combinations(switchable, k)


def infer(tree: Expr, types: Mapping[str, str] | None = None,
          scalar: bool = False) -> tuple[Expr, dict[str, str]]:
    """The typed tree of an untyped ``tree`` with kinds from use where not declared, and the assumed types.

    ``scalar``: the expression must be a scalar (a gradient's or a Hessian's)."""
    declared = set(types or {})
    free = [n for n in _names(tree) if n not in declared]
    kinds: dict[str, str] = {}
    reasons: dict[str, str] = {}
    guess: Expr | None = None
    try:
        guess = _settle(tree, types, kinds, reasons, set(free))
        if not scalar or guess.is_scalar:
            return guess, _assumed(guess, kinds, reasons)
        first: ShapeError | None = None
    except ShapeError as err:  # a Contradiction too: another switch may still read it one way
        first = err
    # the guess does not type, or is not the scalar a gradient needs: switch the fewest names
    found: list[tuple[tuple[str, ...], Expr, dict[str, str], dict[str, str]]] = []
    tries = 0
    for names in _switches(free):
        if found and len(names) > len(found[0][0]):
            break
        tries += 1
        if tries > MAX_TRIES:
            break
        k = {n: _alternatives(n) or default_kind(n) for n in names}
        r = {n: "" for n in names}
        try:
            t = _settle(tree, types, k, r, set(free))
        except ShapeError:
            continue
        if any(k[n] == "scalar" for n in _broadcasts(t, set(names))):
            continue  # made a scalar only to be broadcast: no reading of its use
        if scalar and not t.is_scalar:
            if guess is None and not isinstance(first, Contradiction):
                guess, kinds, reasons = t, k, r  # types this way, but is no scalar: the caller says so
            continue
        found.append((names, t, k, r))
    if len(found) == 1:
        names, t, k, r = found[0]
        return t, _assumed(t, k, r)
    if found:
        options = " or ".join("types={" + ", ".join(f"{n!r}: {k[n]!r}" for n in names) + "}"
                              for names, _, k, _ in found)
        what = f"{first}; " if first is not None else ""
        raise ShapeError(f"{what}the kinds of {', '.join(sorted({n for f in found for n in f[0]}))} in "
                         f"{to_text(tree)} can be read more than one way; declare them: {options}")
    if guess is not None:  # it types, but is no scalar whatever the kinds: the caller says so
        return guess, _assumed(guess, kinds, reasons)
    if isinstance(first, Contradiction):
        raise ShapeError(str(first)) from None  # two readings of one name: the user decides, by declaring
    raise ShapeError(f"{first}{_declare_hint(free)}") from None


def _settle(tree: Expr, types: Mapping[str, str] | None, kinds: dict[str, str], reasons: dict[str, str],
            free: set[str]) -> Expr:
    """Type with ``kinds`` and make each scalar name used as a vector or matrix one (in place); a
    :class:`Contradiction` where a name so made does not type elsewhere (``b*A + sum(x - b)``)."""
    fixed: dict[str, tuple[str, str]] = {}
    for _ in range(len(free) + 1):
        try:
            t = _attempt(tree, types, kinds)
        except ShapeError as err:
            if not fixed:
                raise
            uses = "; ".join(f"{n} reads as a {k} in {u}" for n, (k, u) in fixed.items())
            decl = ", ".join(f"{n!r}: 'scalar'" for n in fixed)
            raise Contradiction(f"{uses}, but then {err}; declare the type, e.g. types={{{decl}}} "
                                "to add it entrywise as a scalar") from None
        fixes = {n: kr for n, kr in _broadcasts(t, free - set(kinds)).items()}
        if not fixes:
            return t
        for n, (kind, use) in fixes.items():
            kinds[n] = kind
            reasons[n] = to_text(use)
            fixed[n] = (kind, to_text(use))
    return t  # pragma: no cover - each round fixes a name


class Contradiction(ShapeError):
    """A name's uses read as two kinds."""


def _assumed(t: Expr, kinds: Mapping[str, str], reasons: Mapping[str, str]) -> dict[str, str]:
    """name -> "vector(rows(A))" (from A*x - b) for the names whose kind came from use."""
    vs = variables(t)
    out: dict[str, str] = {}
    for n in kinds:
        v = vs.get(n)
        if v is None or v.shape is None:
            continue
        size = "" if v.is_scalar else f"({_size(v.shape[0], n, vs)})" if v.is_vector else \
            f"({_size(v.shape[0], n, vs)},{_size(v.shape[1], n, vs)})"
        out[n] = f"{v.kind}{size}" + (f", from {reasons[n]}" if reasons.get(n) else ", from its use")
    return out


def _size(d: Dim, own: str, vs: Mapping[str, Var]) -> str:
    """A size in terms of another variable where one shares it: rows(A), not len(b)."""
    root = d.find()
    if root.value is not None:
        return str(root.value)
    for name, v in vs.items():
        if name == own or v.shape is None or v.is_scalar:
            continue
        if v.shape[0].find() is root:
            return f"len({name})" if v.is_vector else f"rows({name})"
        if v.shape[1].find() is root:
            return f"cols({name})"
    return str(root)


def _declare_hint(free: list[str]) -> str:
    names = [n for n in free if _alternatives(n) is not None]
    if not names:
        return ""
    return ("; if a letter misleads, declare the type, e.g. types={"
            + ", ".join(f"{n!r}: {_alternatives(n)!r}" for n in names[:2]) + "}")


__all__ = ["infer"]
