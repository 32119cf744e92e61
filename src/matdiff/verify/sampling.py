"""Random points and directions for checks: well-conditioned values of each kind, moved into f's domain."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..core.nodes import Expr, Var
from ..core.shapes import Dim
from ..errors import DomainError, MatdiffError, ShapeError
from ..frontend import typed
from ..numeric.evaluate import Evaluator, check_domain
from ..syntax.printer import to_text

DEFAULT_SIZES = (4, 3, 5)  # sizes given in turn to the distinct symbolic dims (distinct: catches transposes)

Values = dict[str, Any]
Types = Mapping[str, str] | None

def _orthogonal(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """n x k with orthonormal columns, Haar-distributed (QR of a Gaussian, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((n, k)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def _spread(k: int) -> np.ndarray:
    """k well separated values in [0.6, 2] (distinct singular values / |eigenvalues|)."""
    return np.linspace(2.0, 0.6, k) if k > 1 else np.array([1.3])


def _sample(rng: np.random.Generator, kind: str, m: int, n: int) -> Any:
    """A random well-conditioned value of a variable of this kind and size."""
    if kind == "scalar":
        return float(rng.uniform(0.5, 1.5))
    if kind == "vector":
        return rng.standard_normal(m)
    signs = rng.choice([-1.0, 1.0], size=min(m, n))
    if kind == "diagonal":
        return np.diag(signs * rng.permutation(_spread(n)))
    if kind == "spd":
        b = rng.standard_normal((n, n))
        s = b @ b.T / n + np.eye(n)
        return (s + s.T) / 2
    if kind == "symmetric":  # distinct eigenvalues, distinct in absolute value too
        q = _orthogonal(rng, n, n)
        s = q @ np.diag(signs * _spread(n)) @ q.T
        return (s + s.T) / 2
    k = min(m, n)  # a general matrix: U diag(spread) V'
    return _orthogonal(rng, m, k) @ np.diag(_spread(k)) @ _orthogonal(rng, n, k).T


def _sizes(variables: Mapping[str, Var], sizes: Mapping[str, Any] | None) -> dict[Dim, int]:
    """A size for each distinct root dim: known, from ``sizes``, or a default."""
    chosen: dict[Dim, int] = {}

    def assign(d: Dim, k: int, why: str) -> None:
        r = d.find()
        known = r.value if r.value is not None else chosen.get(r)
        if known is not None and known != k:
            raise ShapeError(f"sample_values: {why} asks for size {k}, "
                             f"but the expression fixes {r} = {known}")
        chosen[r] = k

    for name, given in (sizes or {}).items():
        var = variables.get(name)
        if var is None:
            raise MatdiffError(f"sample_values: sizes names {name}, "
                               "which is not a variable of the expression")
        if var.is_scalar:
            continue
        shape = tuple(int(k) for k in np.atleast_1d(given))
        if var.is_vector:
            shape = shape[:1]
        elif len(shape) == 1:
            shape = shape * 2
        for axis, k in enumerate(shape):
            assign(var.shape[axis], k, f"sizes[{name!r}]")
    defaults = iter(DEFAULT_SIZES * 1000)
    for var in variables.values():
        for d in var.shape:
            r = d.find()
            if r.value is None and r not in chosen:
                chosen[r] = next(defaults)
    return chosen


def _shape(var: Var, chosen: Mapping[Dim, int]) -> tuple[int, int]:
    def size(d: Dim) -> int:
        r = d.find()
        return r.value if r.value is not None else chosen[r]

    return size(var.shape[0]), size(var.shape[1])


def _positive_entries(kind: str, a: Any) -> Any:
    """Entries made positive (|a| + 0.5), keeping the kind's structure."""
    if kind in ("scalar", "spd"):
        return a
    if kind == "diagonal":
        return np.diag(np.abs(np.diag(a)) + 0.5)
    return np.abs(a) + 0.5


def _positive_definite(kind: str, a: Any) -> Any:
    """Square matrices shifted so that A + A' is positive definite; vectors made positive."""
    if kind == "vector":
        return np.abs(a) + 0.5
    if kind in ("scalar", "spd") or a.shape[0] != a.shape[1]:
        return a
    # A + c I with c = ||A||_2 + 1: (A + A')/2 + c I >= (c - ||A||_2) I = I
    return a + (np.linalg.norm(a, 2) + 1.0) * np.eye(a.shape[0])


NUDGES: list[tuple[str, Callable[[str, Any], Any]]] = [
    ("the random point", lambda kind, a: a),
    ("positive entries", _positive_entries),
    ("positive definite matrices", _positive_definite),
    ("positive entries and positive definite matrices",
     lambda kind, a: _positive_definite(kind, _positive_entries(kind, a))),
]


def _in_domain(tree: Expr, variables: Mapping[str, Var], values: Values, guards: bool) -> None:
    """Raise DomainError unless f is defined at values (and differentiable, with ``guards``)."""
    ev = Evaluator(variables, values)
    value = ev(tree)
    if not np.all(np.isfinite(value)):
        raise DomainError(f"{to_text(tree)} is not finite at this point")
    if guards:
        check_domain(ev, tree)


def sample_values(expr: str | Expr, types: Types = None, sizes: Mapping[str, Any] | None = None,
                  seed: int | None = 0, wrt: str | None = None) -> Values:
    """A random point for every variable of expr, where expr is defined.

    Scalars are uniform in [0.5, 1.5], vectors standard normal, matrices ``U diag(s) V'`` with
    random orthonormal ``U, V`` and singular values ``s`` spread over [0.6, 2]; ``symmetric``
    matrices have distinct eigenvalues (distinct in absolute value), ``spd`` ones are
    ``B B'/n + I``.  Variables sharing a symbolic size get the same size: its declared value,
    ``sizes[name]`` (an int, or ``(m, n)`` for a matrix), or a default (4, then 3, 5, ...).
    Where expr is undefined at the random point (a DomainError), the point is made positive
    entrywise and/or positive definite; a DomainError if none of these works.  With ``wrt``
    the point must also be one where expr is differentiable (no ``norm_fro`` at 0, ...).
    """
    tree, variables = typed(expr, types)
    if wrt is not None and wrt not in variables:
        raise MatdiffError(f"{wrt} does not occur in {to_text(tree)} (its variables: {', '.join(variables)})")
    chosen = _sizes(variables, sizes)
    rng = np.random.default_rng(seed)
    raw = {name: _sample(rng, var.kind, *_shape(var, chosen)) for name, var in variables.items()}
    last: DomainError | None = None
    for _, nudge in NUDGES:
        values = {name: nudge(variables[name].kind, a) for name, a in raw.items()}
        try:
            _in_domain(tree, variables, values, guards=wrt is not None)
            return values
        except DomainError as err:
            last = err
    tried = ", ".join(what for what, _ in NUDGES)
    raise DomainError(f"sample_values: found no point where {to_text(tree)} is defined"
                      f"{' and differentiable' if wrt else ''} (tried {tried}); last error: {last}. "
                      "Give the point with values=")


def random_direction(rng: np.random.Generator, kind: str, like: Any) -> Any:
    """A random direction of unit Frobenius norm shaped like ``like``, in the variable's space.

    Symmetric for symmetric/spd variables, diagonal for diagonal ones, +-1 for a scalar.
    """
    if kind == "scalar" or np.ndim(like) == 0:
        return float(rng.choice([-1.0, 1.0]))
    v = rng.standard_normal(np.shape(like))
    if kind in ("symmetric", "spd"):
        v = (v + v.T) / 2
    elif kind == "diagonal":
        v = np.diag(np.diag(v))
    return v / np.linalg.norm(v)
