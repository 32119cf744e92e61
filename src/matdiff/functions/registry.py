"""The registry of the language's functions: one entry holds every fact about a function.

A :class:`Function` is defined once, with its name, arity, shape rule, flags, differential
rule, printing, code lowering (which evaluation executes) and domain guards beside each other (as JAX
keeps a primitive's jvp, batching and lowering beside its definition).  The engine asks the
entry, never the name: the parser looks names up here, the differential applies
``fn.rule``, the printers call ``fn.latex``, code generation and evaluation ``fn.lower`` (evaluation
runs the lowering at once, statement by statement: one numeric implementation per function).  The
built-ins live in the family modules beside this one (elementwise, linalg, norms, reductions);
:func:`matdiff.define` adds entries at run time.

Expression nodes hold the entry itself (``Call.fn``), so a node of a defined function is
told apart from any other by identity, and a name can never stand for two functions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.build import ZERO, call, is_zero, mul, neg, zero_like
from ..core.nodes import Add, Call, Eye, MatMul, Neg, Num
from ..core.shapes import ONE, SCALAR_SHAPE, is_one, shape_str, unify
from ..errors import MatdiffError

if TYPE_CHECKING:
    from ..core.nodes import Expr

Rule = Callable[..., Any]  # (node, d) -> the differential of the node, d giving the operands' differentials


@dataclass(frozen=True, eq=False)
class Function:
    """One function of the language (a registry entry).

    Shape and typing
        ``arity``; ``shape(fn, args)`` gives the result's (rows, cols) from the typed arguments,
        raising a ShapeError that names the operand; ``same_shape``: the result is shaped like
        the first argument (its printed size goes through it).
    Flags
        ``elementwise``; ``transpose_invariant`` (f(A') = f(A)); ``transpose_inside`` (f(A)' =
        f(A')); ``zero_at_zero`` (f(0) = 0); ``linear_in`` (the index of the argument f is linear
        in, for the identification of gradients); ``analytic`` (``"yes"``; ``"vectors"``: smooth
        on vectors and scalars only; ``"no"``: the complex-step check does not apply);
        ``symmetric(args)``: the result is symmetric by structure; ``positive(args, positive)``:
        every entry is > 0 whatever the values; ``printed_only``: results use it (a user may
        type it too), it has no differential of its own.
    Calculus
        ``rule = (name shown in the steps, rule)``, the name a string or a function of the node (the
        vector rule for ``norm2`` of a vector, the spectral one for a matrix); names use the neutral
        letters of :mod:`matdiff.calculus.rules` (U, V, W varying, P, Q constant, c, t scalars, E, F
        directions, M a generic matrix): the user's letters are renamed around them in the steps, and
        the formulas in a name are typeset in LaTeX; ``adjoint(e, c) -> (name, e', c')`` for a
        function linear in an argument: <c, f(.., E, ..)> = <c', E>; ``fold(args)``: the
        constructor's trivial folds (tr of a scalar is the scalar); ``simplify(S, args)``: the
        function's identities for the simplifier (inv(inv(A)) = A).
    Printing
        ``latex(p, e)``: LaTeX through the printer ``p`` (``p.doprint``, ``p.wrap``,
        ``p.atomic``); the text form is always ``name(args)``.
    Numbers
        ``guard(e)``: (check, subexpression, what)
        for the domain checks before a gradient is computed, the check one of ``"positive"``
        (every entry > 0), ``"invertible"``, ``"evaluates"`` (computing it refuses where it is
        undefined); ``check(low, e)``: code for an ``"evaluates"`` guard that only checks the domain, where
        that is cheaper than the value (the spectrum of a symmetric argument of logm); ``lower(low, e)``: the generated
        NumPy code, through the lowering ``low`` (``low(arg)``, ``low.emit``, ``low.factor``); evaluation executes
        the same lowering (each emitted statement computed at once), so it is the function's only numeric
        implementation, and the runtime functions it calls raise the DomainErrors where it is undefined;
        ``calls``: the names of the runtime that code calls (``_np.exp``, ``_F.det``, ``_K.polar``):
        every backend provides them; ``kernels``: per-backend overrides, ``{backend: {name: callable}}``.
    Defined functions (:func:`matdiff.define`)
        ``expand(e)``: for a function defined by an expression, the call with its arguments put into
        the body (what the domain guards look through); ``definition``: its text, ``f(U) = ...``;
        ``builtin`` False.
    """

    name: str
    family: str
    shape: Callable[[Function, tuple[Expr, ...]], Any]
    arity: int = 1
    same_shape: bool = False
    elementwise: bool = False
    transpose_invariant: bool = False
    transpose_inside: bool = False
    zero_at_zero: bool = False
    linear_in: int | None = None
    analytic: str = "yes"
    printed_only: bool = False
    symmetric: Callable[[tuple[Expr, ...]], bool] | None = None
    positive: Callable[[tuple[Expr, ...], Callable[[Expr], bool]], bool] | None = None
    rule: tuple[str | Callable[[Expr], str], Rule] | None = None
    adjoint: Callable[[Expr, Expr], tuple[str, Expr, Expr]] | None = None
    fold: Callable[[tuple[Expr, ...]], Expr | None] | None = None
    simplify: Callable[[Any, tuple[Expr, ...]], Expr | None] | None = None
    latex: Callable[[Any, Expr], str] | None = None
    guard: Callable[[Expr], list[tuple[str, Expr, str]]] | None = None
    check: Callable[[Any, Expr], Any] | None = None
    lower: Callable[[Any, Expr], str] | None = None
    calls: tuple[str, ...] = ()
    expand: Callable[[Expr], Expr] | None = None
    definition: str = ""
    kernels: dict[str, dict[str, Callable[..., Any]]] = field(default_factory=dict)
    doc: str = ""
    builtin: bool = True

    def __call__(self, *args: Expr) -> Expr:
        """The node f(args), with the trivial folds done (the constructor the rules use)."""
        return call(self, *args)

    def __repr__(self) -> str:
        return f"<function {self.name}/{self.arity}>"

    def __reduce__(self) -> tuple[Any, tuple[str]]:  # pickled by name: the receiver has the same registry
        return (lookup, (self.name,))


_REGISTRY: dict[str, Function] = {}
_LOCK = threading.Lock()
RESERVED_WORDS = frozenset({"eye", "ones", "zeros"})  # the language's constructors of constant matrices


def register(fn: Function, replace: bool = False) -> Function:
    """Add an entry; a MatdiffError if its name is taken (a built-in, eye, ones, or a defined function
    unless ``replace``).  The same definition by an expression again returns the entry there."""
    with _LOCK:
        old = _REGISTRY.get(fn.name)
        if fn.name in RESERVED_WORDS or (old is not None and old.builtin):
            raise MatdiffError(f"{fn.name} is a built-in function of the language; choose another name")
        if old is not None and not replace:
            if old.expand is not None and old.definition == fn.definition:
                return old  # the same definition again (a notebook cell run twice)
            raise MatdiffError(f"{fn.name} is defined already ({old.definition}); choose another name, "
                               "or pass replace=True to replace it")
        _REGISTRY[fn.name] = fn
    return fn


def unregister(name: str) -> None:
    """Remove a defined function (never a built-in): for tests and interactive sessions."""
    with _LOCK:
        fn = _REGISTRY.get(name)
        if fn is None:
            raise MatdiffError(f"{name} is not a defined function")
        if fn.builtin:
            raise MatdiffError(f"{name} is a built-in function of the language; it cannot be removed")
        del _REGISTRY[name]


@contextmanager
def scoped() -> Iterator[None]:
    """Definitions made inside are removed on leaving (one request of the page, in its worker process)."""
    with _LOCK:
        before = dict(_REGISTRY)
    try:
        yield
    finally:
        with _LOCK:
            _REGISTRY.clear()
            _REGISTRY.update(before)


_IDENTITIES: dict[Function, list[Callable[[Any, tuple[Expr, ...]], Expr | None]]] = {}


def identity(fn: Function, rule: Callable[[Any, tuple[Expr, ...]], Expr | None]) -> None:
    """Add an identity of fn from another family (as the ``simplify`` of its entry, tried after it):
    the norms contribute sqrt(tr(A'*A)) = norm_fro(A) to sqrt, without sqrt's module knowing them."""
    _IDENTITIES.setdefault(fn, []).append(rule)


def identities(fn: Function) -> list[Callable[[Any, tuple[Expr, ...]], Expr | None]]:
    return _IDENTITIES.get(fn, [])


def lookup(name: str) -> Function:
    """The entry named ``name`` (a KeyError if there is none)."""
    return _REGISTRY[name]


def get(name: str) -> Function | None:
    return _REGISTRY.get(name)


def entries() -> list[Function]:
    """Every entry, built-ins first, in the order they were registered."""
    return list(_REGISTRY.values())


def names() -> list[str]:
    return sorted(_REGISTRY)


def is_reserved(name: str) -> bool:
    """A name that is not a variable: a function of the registry, eye or ones."""
    return name in _REGISTRY or name in RESERVED_WORDS


# -- shape rules (fn, typed arguments) -> (rows, cols); a ShapeError names the function and the operand
def describe(e: Expr) -> str:
    return f"{e} ({shape_str(e.shape)})" if e.shape else str(e)


def square(fn: Function, a: Expr) -> None:
    """a must be square (a scalar counts as 1x1)."""
    if not a.is_scalar:
        unify(a.shape[0], a.shape[1], lambda: f"{fn.name} needs a square matrix, but {describe(a)} is not square")


def same_shape(fn: Function, args: tuple[Expr, ...]) -> Any:
    """Shaped like the (first) argument: exp(X), polar(X)."""
    return args[0].shape


def scalar(fn: Function, args: tuple[Expr, ...]) -> Any:
    """A scalar of any argument: sum(X), norm_fro(X)."""
    return SCALAR_SHAPE


def scalar_of_square(fn: Function, args: tuple[Expr, ...]) -> Any:
    """A scalar of a square matrix: tr, det, logdet."""
    square(fn, args[0])
    return SCALAR_SHAPE


def square_of_square(fn: Function, args: tuple[Expr, ...]) -> Any:
    """A square matrix of a square matrix: inv, adj."""
    square(fn, args[0])
    return args[0].shape


def vector_or_matrix(fn: Function, args: tuple[Expr, ...]) -> Any:
    """diag: a vector to its square diagonal matrix, a square matrix to the vector of its diagonal."""
    a = args[0]
    r, c = a.shape
    if is_one(r) and is_one(c):
        return SCALAR_SHAPE
    if is_one(c):
        return (r, r)
    if is_one(r):
        return (c, c)
    square(fn, a)
    return (r, ONE)


# -- derivatives in a direction, f'(X)[E] (adj_d, expm_d): shaped like X, linear in the direction E
def direction_shape(point: str = "X") -> Callable[[Function, tuple[Expr, ...]], Any]:
    """The shape rule of f'(X)[E], a square X and E shaped like it: shaped like X (``point`` names X in errors)."""
    def shape(fn: Function, args: tuple[Expr, ...]) -> Any:
        a, e = args
        square(fn, a)

        def mismatch() -> str:
            return (f"{fn.name}({point}, E) needs a direction E shaped like {point}, but {point} is {describe(a)} "
                    f"and E is {describe(e)}")
        unify(a.shape[0], e.shape[0], mismatch)
        unify(a.shape[1], e.shape[1], mismatch)
        return a.shape
    return shape


def direction_fold(fn: Callable[[], Function],
                   at_identity: Callable[[Expr], Expr] | None = None) -> Callable[[tuple[Expr, ...]], Expr | None]:
    """The constructor's folds of a function linear in its direction E: 0 where E is 0, -f(X, E) for -E, numbers
    taken out; ``at_identity(X)``: its value at E = I where that has a closed form (L_exp(X, I) = expm(X))."""
    def fold(args: tuple[Expr, ...]) -> Expr | None:
        a, e = args
        if is_zero(e):
            return e if not e.is_scalar else zero_like(a)
        if isinstance(e, Neg):
            return neg(fn()(a, e.arg))
        if isinstance(e, MatMul) and isinstance(e.factors[0], Num):
            return mul(e.factors[0], fn()(a, mul(*e.factors[1:])))
        if at_identity is not None and isinstance(e, Eye):
            return at_identity(a)
        return None
    return fold


def direction_simplify(fn: Callable[[], Function], at_identity: Callable[[Any, Expr], Expr] | None = None
                       ) -> Callable[[Any, tuple[Expr, ...]], Expr | None]:
    """The simplifier's identities of a function linear in its direction: 0 at E = 0, scalar factors of E taken
    out, ``at_identity(S, X)`` at E = I."""
    def simplify(S: Any, args: tuple[Expr, ...]) -> Expr | None:
        a, e = args
        if is_zero(e):
            return ZERO  # the simplifier gives it its shape
        if at_identity is not None and isinstance(e, Eye):
            return at_identity(S, a)
        if isinstance(e, MatMul):
            scal = [f for f in e.factors if f.is_scalar]
            chain = [f for f in e.factors if not f.is_scalar]
            if scal and chain:
                return S.product(scal + [Call(fn(), a, S.product(chain))])
        if isinstance(e, Add):  # L(X, 2*A - 2*B) = 2*L(X, A - B)
            parts = [_number_factor(t) for t in e.terms]
            c = abs(parts[0][0])
            if c != 1 and all(abs(p[0]) == c for p in parts):
                inner = S.sum([p[1] if p[0] > 0 else neg(p[1]) for p in parts])
                return S.product([Num(c), Call(fn(), a, inner)])
        return None
    return simplify


def _number_factor(t: Expr) -> tuple[Any, Expr]:
    """(c, rest) with t = c*rest, c a number (1 where t has none in front)."""
    if isinstance(t, Neg):
        c, rest = _number_factor(t.arg)
        return -c, rest
    if isinstance(t, MatMul) and isinstance(t.factors[0], Num):
        rest = t.factors[1:]
        return t.factors[0].value, rest[0] if len(rest) == 1 else MatMul(rest)
    return 1, t


def no_rule(name: str, what: str) -> Callable[[Expr, Any], Expr]:
    """The rule of a function results print that has no differential here (polar, eigvecs, ...)."""
    def rule(e: Expr, d: Any) -> Expr:
        raise MatdiffError(f"{name}(...) has no differential rule here ({what}); "
                           "differentiate the original expression instead")
    return rule
