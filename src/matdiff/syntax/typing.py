"""Typing: an untyped tree plus declared types -> a tree whose every node has a shape."""

from __future__ import annotations

from collections.abc import Mapping

from ..core.build import group_scalar_runs
from ..core.nodes import Expr, Eye, MatMul, Ones, Transpose, Var
from ..core.shapes import Dim, TypeEnv


def typecheck(tree: Expr, env: TypeEnv | Mapping[str, str] | None = None) -> Expr:
    """The typed copy of ``tree``; raises ShapeError where operands do not fit."""
    if not isinstance(env, TypeEnv):
        env = TypeEnv(env)
    typed = _type(tree, env, {})
    if _has_bare_eye(tree):
        # an identity's key is its size, known only once the whole tree is unified; it also gets a
        # variable with as many rows, to write its size by (eye(A)) where nothing beside it does
        sizes = {}
        for v in variables(typed).values():
            if not v.is_scalar:
                sizes.setdefault(v.shape[1].find(), Transpose(v))
                sizes[v.shape[0].find()] = v
        typed = _rekey(typed, {}, sizes)
    return typed


def _type(e: Expr, env: TypeEnv, memo: dict[int, Expr]) -> Expr:
    got = memo.get(id(e))
    if got is not None:
        return got
    if isinstance(e, Var):
        out: Expr = Var(e.name, env.kind(e.name), env.shape(e.name))
    elif isinstance(e, Eye):
        out = Eye(_type(e.like, env, memo)) if e.like is not None else Eye(dim=Dim(None, "size(eye)"))
    elif isinstance(e, Ones):
        out = Ones(_type(e.like, env, memo))
    elif isinstance(e, MatMul):
        factors = [_type(c, env, memo) for c in e.factors]
        if len(factors) > 2:
            factors = group_scalar_runs(factors)
        out = factors[0] if len(factors) == 1 else MatMul(tuple(factors))
    elif e.children:
        out = e.rebuild(tuple(_type(c, env, memo) for c in e.children))
    else:
        out = e
    if isinstance(e, Eye) and e.like is None:
        return out  # each bare eye is its own identity until unified
    memo[id(e)] = out
    return out


def _has_bare_eye(e: Expr) -> bool:
    if isinstance(e, Eye):
        return e.like is None
    return any(_has_bare_eye(c) for c in e.children)


def _rekey(e: Expr, memo: dict[int, Expr], sizes: dict) -> Expr:
    got = memo.get(id(e))
    if got is not None:
        return got
    if isinstance(e, Eye) and e.like is None:
        like = sizes.get(e.dim.find()) if e.dim is not None else None
        out: Expr = Eye(like=like) if like is not None else Eye(dim=e.dim)
    elif e.children:
        out = e.rebuild(tuple(_rekey(c, memo, sizes) for c in e.children))
    else:
        out = e
    memo[id(e)] = out
    return out


def variables(e: Expr) -> dict[str, Var]:
    """The typed variables of e by name, in order of first appearance."""
    out: dict[str, Var] = {}
    stack = [e]
    seen: set[int] = set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, Var):
            out.setdefault(n.name, n)
        elif isinstance(n, (Eye, Ones)) and n.like is not None:
            stack.append(n.like)
        stack.extend(reversed(n.children))
    return out
