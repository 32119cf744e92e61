"""The runtime of generated code, as an explicit protocol: every name generated code may call.

A gradient's generated code (``numeric.codegen``) is one Python function.  It calls nothing but
the globals of :class:`Namespace`, and ``codegen.build`` runs it in the namespace of a backend: a
dict holding exactly these names, built by that backend's module (``runtime.numpy``,
``runtime.batch``, ``runtime.jax``, ``runtime.torch``, ``runtime.dask``, ``runtime.cupy``).  No
backend starts from another's namespace; where one reuses a NumPy object on purpose (a ufunc that
dispatches to dask arrays through ``__array_ufunc__``), its module says so in ``NUMPY_REUSED``.

========  ==========================================================================================
``_np``   :class:`NumpyCalls`: NumPy-style array functions (``_np.exp``, ``_np.linalg.matrix_power``)
``_F``    :class:`Factorizations`: factorizations computed once and shared (``_F.lu``, ``_F.solve``)
``_K``    :class:`Kernels`: stable kernels (``_K.norm_fro``, ``_K.polar``)
helpers   argument conversion (``_arg``, ``_arg0``), domain checks (``_check``, ``_nonzero``,
          ``_check_positive``, ``_finite_inputs``), ``_scalar``, ``_dot``, ``_expit`` and the
          exception ``_BadShapes`` (one class for every backend: the caller explains the shapes)
hooks     optional: ``_wrap`` (applied by ``build`` to the generated function) and ``_all_finite``
          (the reader of a backend's results that ``make_callable`` asks)
========  ==========================================================================================

``codegen.build`` asks :func:`uses` which of these names a generated source refers to and
:func:`missing` which of them the backend lacks: a backend without a kernel is a MatdiffError at
compile time, naming the kernel, never a late AttributeError or a silent NumPy fallback.  A backend
that cannot compute a kernel at all (torch has no general matrix logarithm) leaves it out and declares
it in ``_cannot`` with the reason, which that error then gives.
"""

from __future__ import annotations

import ast
import builtins
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypedDict


class BadShapes(ValueError):
    """The arguments' shapes do not fit the expression (the caller explains which)."""


class Linalg(Protocol):
    """``_np.linalg``."""

    def matrix_power(self, x: Any, k: int) -> Any: ...


class NumpyCalls(Protocol):
    """``_np``: the NumPy-style array functions of generated code (one example; no batch axis)."""

    linalg: Linalg

    def exp(self, x: Any) -> Any: ...
    def log(self, x: Any) -> Any: ...
    def sin(self, x: Any) -> Any: ...
    def cos(self, x: Any) -> Any: ...
    def tanh(self, x: Any) -> Any: ...
    def sqrt(self, x: Any) -> Any: ...
    def abs(self, x: Any) -> Any: ...
    def sign(self, x: Any) -> Any: ...
    def logaddexp(self, a: Any, b: Any) -> Any: ...
    def sum(self, x: Any) -> Any: ...
    def trace(self, x: Any) -> Any: ...
    def diag(self, x: Any) -> Any: ...
    def outer(self, a: Any, b: Any) -> Any: ...
    def eye(self, n: int) -> Any: ...
    def ones(self, shape: Any) -> Any: ...
    def reshape(self, x: Any, shape: Any) -> Any: ...


class LUChecks(Protocol):
    """``_F.LU``."""

    def check(self, F: Any, what: str = "solve") -> None:
        """DomainError unless the factored matrix is invertible to working precision."""


class Factorizations(Protocol):
    """``_F``: a factorization of a square matrix is computed once; everything else takes it."""

    LU: LUChecks

    def lu(self, A: Any) -> Any: ...
    def chol(self, A: Any) -> Any: ...
    def solve(self, F: Any, B: Any) -> Any: ...
    def solve_t(self, F: Any, B: Any) -> Any: ...
    def inv(self, F: Any) -> Any: ...
    def det(self, F: Any) -> Any: ...
    def logdet(self, F: Any) -> Any: ...
    def adj(self, F: Any) -> Any: ...
    def adj_d(self, F: Any, E: Any) -> Any: ...


class Kernels(Protocol):
    """``_K``: kernels that are stable at extreme scales and refuse points where no derivative exists."""

    def sign(self, X: Any) -> Any: ...
    def polar(self, X: Any) -> Any: ...
    def top_sv(self, X: Any) -> Any: ...
    def norm_fro(self, X: Any) -> Any: ...
    def norm2(self, X: Any) -> Any: ...
    def norm_nuc(self, X: Any) -> Any: ...
    def logsumexp(self, X: Any) -> Any: ...
    def softmax(self, x: Any) -> Any: ...
    def gram(self, X: Any, d: Any = None, shift: Any = 0.0) -> Any: ...  # X' diag(d) X + shift*I, symmetric
    def msum(self, dense: Any = (), diag: Any = (), outer: Any = ()) -> Any: ...  # M.. + diag(v).. + c*u*v'..
    def dsigmoid(self, u: Any) -> Any: ...  # sigmoid(u) .* sigmoid(-u), from one exp(-|u|)
    def relu(self, X: Any) -> Any: ...
    def step(self, X: Any) -> Any: ...
    def eigvals(self, S: Any) -> Any: ...
    def expm(self, X: Any) -> Any: ...
    def expm_frechet(self, X: Any, E: Any) -> Any: ...  # X: a matrix or its expm_pade
    def expm_pade(self, X: Any) -> Any: ...  # expm's factors, shared by expm and expm_frechet (or X itself)
    def expm_frechet2(self, X: Any, E: Any, F: Any) -> Any: ...
    def logm(self, X: Any) -> Any: ...
    def logm_frechet(self, X: Any, E: Any) -> Any: ...
    def logm_frechet2(self, X: Any, E: Any, F: Any) -> Any: ...
    def sqrtm(self, X: Any) -> Any: ...
    def sqrtm_frechet(self, X: Any, E: Any) -> Any: ...
    def sqrtm_frechet2(self, X: Any, E: Any, F: Any) -> Any: ...
    def powm_frechet2(self, X: Any, E: Any, F: Any, p: float) -> Any: ...
    def eigh(self, S: Any) -> Any: ...  # the eigendecomposition of a symmetric S, shared by sym_fun and sym_frechet
    def sym_fun(self, S: Any, f: str, p: float = 0.0) -> Any: ...  # f(S) of a symmetric S (or its eigh)
    def sym_check(self, S: Any, f: str, p: float = 0.0) -> None: ...  # DomainError where f(S) is undefined
    def sym_frechet(self, S: Any, E: Any, f: str, p: float = 0.0) -> Any: ...  # Daleckii–Krein
    def sym_trace(self, S: Any, E: Any, f: str, p: float = 0.0) -> Any: ...  # tr(f(S) E), U'EU shared
    def eigmax(self, S: Any) -> Any: ...
    def eigmin(self, S: Any) -> Any: ...
    def eigvecs(self, S: Any) -> Any: ...
    def eigvec_max(self, S: Any) -> Any: ...
    def eigvec_min(self, S: Any) -> Any: ...


class Namespace(TypedDict):
    """The globals generated code runs in (the dict a backend's ``namespace()`` returns)."""

    _np: NumpyCalls
    _F: Factorizations
    _K: Kernels
    _check: Callable[[str, Any, str, str], None]  # (guard kind, value, what, where): DomainError where it fails
    _check_positive: Callable[[Any, str], Any]  # a scalar > 0 (its real part), returned
    _nonzero: Callable[[Any, str], Any]  # a scalar divisor != 0, returned
    _finite_inputs: Callable[..., None]  # (**arguments): DomainError naming one with NaN or Inf entries
    _arg: Callable[[Any], Any]  # an array argument as the array it is computed as
    _arg0: Callable[[Any], Any]  # a scalar argument; BadShapes for an array
    _scalar: Callable[[Any], Any]  # a scalar result as the backend returns scalars
    _dot: Callable[[Any, Any], Any]  # sum(a .* b)
    _expit: Callable[[Any], Any]  # the logistic function, elementwise
    _BadShapes: type[BadShapes]


class Hooks(TypedDict, total=False):
    """Optional entries of a namespace that generated code does not call."""

    _wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
    _all_finite: Callable[[Any], bool | None]
    _cannot: Mapping[str, str]  # names of the protocol the backend declares it cannot provide, and why


def cannot(namespace: Mapping[str, Any]) -> Mapping[str, str]:
    """The protocol names a backend declares it cannot compute (``_cannot``), each with its reason."""
    return namespace.get("_cannot", {})


SHARED = frozenset({"_BadShapes"})  # the same object in every namespace, by design


def _members(proto: type) -> dict[str, Any]:
    """A protocol's names: its methods, and its annotated attributes with their (protocol) types."""
    hints = typing.get_type_hints(proto)
    out: dict[str, Any] = {n: hints[n] for n in getattr(proto, "__annotations__", {})}
    out.update({n: None for n, v in vars(proto).items() if callable(v) and not n.startswith("_")})
    return out


def _expand(prefix: str, proto: Any) -> list[str]:
    names = [prefix]
    if isinstance(proto, type) and getattr(proto, "_is_protocol", False):
        for n, sub in _members(proto).items():
            names += _expand(f"{prefix}.{n}", sub)
    return names


def names() -> frozenset[str]:
    """Every name generated code may call, dotted (``_np``, ``_np.linalg.matrix_power``, ``_F.LU.check``)."""
    out: list[str] = []
    for glob, proto in typing.get_type_hints(Namespace).items():
        out += _expand(glob, proto)
    return frozenset(out)


def resolve(namespace: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """(True, the object) where the namespace provides the dotted name, else (False, None)."""
    root, *attrs = dotted.split(".")
    if root not in namespace:
        return False, None
    obj = namespace[root]
    for a in attrs:
        try:
            obj = getattr(obj, a)
        except AttributeError:
            return False, None
    return True, obj


def missing(namespace: Mapping[str, Any], used: Iterable[str]) -> list[str]:
    """The names of ``used`` that the namespace does not provide (the shortest: ``_np.linalg`` before its members)."""
    out: list[str] = []
    for n in sorted(set(used), key=lambda s: (s.count("."), s)):
        if any(n.startswith(m + ".") for m in out):
            continue
        if not resolve(namespace, n)[0]:
            out.append(n)
    return out


def lacks(namespace: Mapping[str, Any]) -> list[str]:
    """The protocol's names that the namespace neither provides nor declares it cannot (empty for a complete
    runtime)."""
    declared = cannot(namespace)
    return [n for n in missing(namespace, names()) if n not in declared]


_BUILTINS = frozenset(dir(builtins))


def uses(tree: ast.AST) -> frozenset[str]:
    """The runtime names that generated code (parsed) refers to: its global names other than Python's builtins,
    and the attribute chains taken from them (``_np.linalg.matrix_power``), dotted."""
    local: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            local.update(x.arg for x in a.posonlyargs + a.args + a.kwonlyargs)
            local.update(x.arg for x in (a.vararg, a.kwarg) if x is not None)
            if not isinstance(node, ast.Lambda):
                local.add(node.name)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            local.add(node.id)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain, base = [node.attr], node.value
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id not in local and base.id not in _BUILTINS:
                out.add(".".join([base.id, *reversed(chain)]))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) \
                and node.id not in local and node.id not in _BUILTINS:
            out.add(node.id)
    return frozenset(out)


__all__ = ["BadShapes", "Factorizations", "Hooks", "Kernels", "LUChecks", "Linalg", "Namespace", "NumpyCalls",
           "SHARED", "lacks", "missing", "names", "resolve", "uses"]
