"""Dask backend: the generated code builds a lazy Dask graph; tall data is processed blockwise.

    X = da.from_array(X_np, chunks=(1_000_000, None))            # tall, chunked by rows
    f = matdiff.grad("norm2(X*w - y)^2", "w").compile(backend="dask")
    g = f(X=X, w=w, y=y)            # a lazy dask array: nothing computed yet
    g.compute()                     # one pass over X: X@w - y and X'@(...) per chunk, one tree reduction

    fg = matdiff.compile("sum(log(1+exp(-y.*(X*w)))) + c*w'*w", ["w"], backend="dask")
    value, grads = fg(y=y, X=X, w=w, c=0.1)
    dask.compute(value, grads)      # value and gradient in the same pass (their chunks are shared)

Results are lazy Dask arrays wherever they depend on one (else NumPy): compute them with
``.compute()``/``dask.compute`` on any scheduler, ``dask.distributed`` included.  Small arguments
(w, a square A) may stay NumPy: they then enter every block of the tall ones.

* Elementwise code, ``@``, sums and norms are Dask's own (blockwise; a reduction is a tree of
  partial sums).  ``X' @ r`` for X tall is one reduction over the row chunks.
* Factorizations are of small square matrices: of a NumPy one, now, by matdiff's NumPy
  factorizations; of a Dask one (``X'*X``), inside the graph (a delayed LU/Cholesky of the
  computed n x n matrix).  A solve with a wide right-hand side (``inv(A)*X'``) is blockwise.
* The domain checks are lazy too: each adds a 0-d reduction (``any(v)``, ``min(v)``...) to the
  graph, and the results' blocks depend on them, so ``compute()`` raises the DomainError of the
  NumPy code where a check fails, in the same pass.  (That needs the namespace's ``_wrap``,
  applied by ``codegen.build``; without it lazy checks are skipped.)
"""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import dask
import dask.array as da
import numpy as np
from scipy.special import expit as _expit

from ..errors import DomainError
from . import _common as C
from . import factor as _npF
from . import kernels as _npK
from . import numpy as _npR
from .protocol import BadShapes

_GUARDS: contextvars.ContextVar[list[tuple[Any, Callable[[Any], None]]] | None] = contextvars.ContextVar(
    "matdiff_dask_guards", default=None)


# SciPy's LAPACK wrappers (and the OpenBLAS bundled with SciPy) gave wrong results, or crashed, when
# called from several threads at once here: the factorizations and solves of the tasks take turns.
_LAPACK = threading.Lock()


def _lazy(*xs: Any) -> bool:
    return any(isinstance(x, da.Array) for x in xs)


# ----------------------------------------------------------------------------------------- guards
def _guard(value: Any, test: Callable[[Any], None]) -> None:
    """Check test(value) when the results are computed (value: a 0-d dask array)."""
    guards = _GUARDS.get()
    if guards is not None:
        guards.append((value, test))


def _pass_block(block: Any, *values: Any, tests: tuple[Callable[[Any], None], ...] = ()) -> Any:
    for v, t in zip(values, tests):
        t(v)
    return block


def _attach(out: Any, guards: list[tuple[Any, Callable[[Any], None]]]) -> Any:
    """out whose every block waits for the guards' values and raises where a guard fails."""
    if isinstance(out, tuple):
        return tuple(_attach(o, guards) for o in out)
    values = [v for v, _ in guards]
    tests = tuple(t for _, t in guards)
    if not isinstance(out, da.Array):
        for v, t in zip(dask.compute(*values), tests):
            t(v)
        return out
    ind = tuple(range(out.ndim))
    args: list[Any] = [out, ind]
    fresh = out.ndim
    for v in values:  # a guard on a vector (singular values) comes whole: its axes are contracted
        args += [v.rechunk(-1) if v.ndim else v, tuple(range(fresh, fresh + v.ndim))]
        fresh += v.ndim
    return da.blockwise(functools.partial(_pass_block, tests=tests), ind, *args, dtype=out.dtype, concatenate=True,
                        meta=np.empty((0,) * out.ndim, dtype=out.dtype))


def _test_check(kind: str, what: str, where: str, v: Any) -> None:
    if kind == "nonzero_norm" and not v:
        C.raise_check(kind, np.zeros(1), what, where)
    elif kind == "no_zero_entry" and not v:
        C.raise_check(kind, np.zeros(1), what, where)
    elif kind == "positive":
        C.raise_check(kind, np.asarray([v]), what, where)


def _check(kind: str, v: Any, what: str, where: str) -> None:
    if not isinstance(v, da.Array):
        C.raise_check(kind, v, what, where)
        return
    if kind == "nonzero_norm":
        flag = da.any(v)
    elif kind == "no_zero_entry":
        flag = da.all(v != 0)
    elif kind == "positive":
        flag = da.min(da.real(v))
    else:  # top_sv / polar: the kernels test their singular values
        return
    _guard(flag, functools.partial(_test_check, kind, what, where))


def _check_positive(v: Any, what: str) -> Any:
    if isinstance(v, da.Array):
        _guard(v, functools.partial(_positive, what=what))
        return v
    return C.numpy_check_positive(v, what)


def _positive(v: Any, what: str) -> None:
    C.numpy_check_positive(np.asarray(v)[()], what)


def _nonzero(v: Any, what: str) -> Any:
    if isinstance(v, da.Array):
        _guard(v, functools.partial(_is_nonzero, what=what))
        return v
    _is_nonzero(v, what)
    return v


def _is_nonzero(v: Any, what: str) -> None:
    if v == 0:
        raise C.nonzero_error(what)


def _finite_inputs(**values: Any) -> None:
    """NumPy arguments are checked now; dask arrays are not (it would be a reduction over the tall data
    for each of them): NaN or infinite entries there give NaN in the results."""
    for name, v in values.items():
        if not isinstance(v, da.Array) and not np.all(np.isfinite(np.asarray(v))):
            raise C.not_finite_error(name)


def _scalar(v: Any) -> Any:
    return v if isinstance(v, da.Array) else _npR.scalar(v)


def _arg(v: Any) -> Any:
    """An argument in float64 (complex128) as in NumPy code; a dask array is converted lazily."""
    if not isinstance(v, da.Array):
        return _npR.arg(v)
    if v.dtype in (np.float64, np.complex128):
        return v
    if v.dtype.kind in "biuf":
        return v.astype(np.float64)
    if v.dtype.kind == "c":
        return v.astype(np.complex128)
    raise BadShapes()


def _arg0(v: Any) -> Any:
    if isinstance(v, da.Array):
        if v.ndim:
            raise BadShapes()
        return _arg(v)
    return _npR.arg0(v)


def _dot(a: Any, b: Any) -> Any:
    return da.sum(a * b) if _lazy(a, b) else _npR.dot(a, b)


# -------------------------------------------------------------------------------------------- _np
def _mod(*xs: Any) -> Any:
    return da if _lazy(*xs) else np


def _matrix_power(x: Any, k: int) -> Any:
    if not isinstance(x, da.Array):
        return np.linalg.matrix_power(x, k)
    out, base = None, x
    while k:
        if k & 1:
            out = base if out is None else out @ base
        k >>= 1
        if k:
            base = base @ base
    return out if out is not None else da.eye(x.shape[0], chunks=x.chunks[0])


def _norm_chunk(x: Any, axis: Any = None, keepdims: bool = True, computing_meta: bool = False) -> Any:
    """The norm of one block (of the partial norms, in the tree's combine and aggregate steps), rescaled by
    NumPy's ``kernels.norm_fro`` where its squares over- or underflow, as an array of keepdims' shape."""
    if computing_meta:
        return np.empty((0,) * (x.ndim if keepdims else 0), dtype=_real(x.dtype))
    with np.errstate(over="ignore", under="ignore"):  # the plain norm's overflow: rescaled by norm_fro
        r = _npK.norm_fro(x) if x.size else np.zeros((), dtype=_real(x.dtype))
    r = np.asarray(r, dtype=_real(x.dtype))
    return r.reshape((1,) * x.ndim) if keepdims else r


def _real(dtype: Any) -> Any:
    return np.empty(0, dtype=dtype).real.dtype


def _norm(x: Any) -> Any:
    """sqrt(sum |x|^2) of all entries (the Frobenius / Euclidean norm), right at every scale, in one pass.

    Of a dask array: a tree reduction whose blocks give their own norms and whose combine steps take the norm of
    those norms (||x|| = ||(||x_1||, ..., ||x_k||)||), each by ``kernels.norm_fro``: the plain norm, rescaled by a
    power of 2 only where it over- or underflowed; a norm beyond float64's range raises NumPy's DomainError when
    computed. (A lazy guard would refuse what this computes right, and rescaling needs max |x|, which the block
    has at hand: no second pass over the tall data.)"""
    if not isinstance(x, da.Array):
        return _npK.norm_fro(x)
    return da.reduction(x, _norm_chunk, _norm_chunk, combine=_norm_chunk, axis=None, keepdims=False,
                        dtype=_real(x.dtype), concatenate=True, meta=np.empty((), dtype=_real(x.dtype)))


def _reshape(x: Any, shape: Any) -> Any:
    return x.reshape(shape) if isinstance(x, da.Array) else np.reshape(x, shape)


NP = SimpleNamespace(
    # NumPy's ufuncs, reused (NUMPY_REUSED): on a dask array they build the lazy graph (__array_ufunc__)
    exp=np.exp, log=np.log, sin=np.sin, cos=np.cos, tanh=np.tanh, sqrt=np.sqrt, abs=np.abs, sign=np.sign,
    logaddexp=np.logaddexp,
    # NumPy's constructors, reused: the identity and ones that generated code makes are small, and enter the graph
    eye=np.eye, ones=np.ones,
    # dask's where an argument is a dask array, else NumPy's
    sum=lambda x: _mod(x).sum(x), trace=lambda x: _mod(x).trace(x), diag=lambda x: _mod(x).diag(x),
    outer=lambda a, b: _mod(a, b).outer(a, b), reshape=_reshape,
    linalg=SimpleNamespace(matrix_power=_matrix_power))


# -------------------------------------------------------------------------------- factorizations
class Lazy:
    """A factorization of a small square dask matrix, made inside the graph (a 0-d object array)."""

    __slots__ = ("kind", "a", "f")

    def __init__(self, kind: str, A: Any):
        self.kind, self.a = kind, A
        make = _npF.chol if kind == "chol" else _npF.lu
        self.f = da.from_delayed(dask.delayed(_factor, pure=True)(make, A), shape=(), dtype=object)


def _lu(A: Any) -> Any:
    return Lazy("lu", A) if isinstance(A, da.Array) else _npF.lu(A)


def _chol(A: Any) -> Any:
    return Lazy("chol", A) if isinstance(A, da.Array) else _npF.chol(A)


def _solve_block(f: Any, b: Any, fn: Callable[[Any, Any], Any]) -> Any:
    f = f[()] if isinstance(f, np.ndarray) and f.dtype == object else f
    with _LAPACK:
        return fn(f, b)


def _factor(make: Callable[[Any], Any], A: Any) -> Any:
    with _LAPACK:
        return make(np.asarray(A))


def _apply(fn: Callable[[Any, Any], Any], F: Any, B: Any) -> Any:
    """fn(F, B) = solve/solve_t: blockwise over B's column chunks where anything is lazy."""
    if not isinstance(F, Lazy) and not isinstance(B, da.Array):
        return fn(F, B)
    f = F.f if isinstance(F, Lazy) else F
    dtype = np.result_type(F.a.dtype if isinstance(F, Lazy) else F.a.dtype, getattr(B, "dtype", np.float64),
                           np.float64)
    if not isinstance(B, da.Array):
        B = da.from_array(np.asarray(B), chunks=-1)
    B = B.rechunk({0: -1})  # the rows of B are A's (small) size
    ind = tuple(range(B.ndim))
    return da.blockwise(functools.partial(_solve_block, fn=fn), ind, f, None if not isinstance(f, da.Array) else (),
                        B, ind, dtype=dtype, meta=np.empty((0,) * B.ndim, dtype=dtype))


def _solve(F: Any, B: Any) -> Any:
    return _apply(_npF.solve, F, B)


def _solve_t(F: Any, B: Any) -> Any:
    return _apply(_npF.solve_t, F, B)


def _from(F: Lazy, fn: Callable[[Any], Any], shape: tuple[int, ...]) -> Any:
    dtype = np.result_type(F.a.dtype, np.float64)
    return da.blockwise(functools.partial(_call_on, fn=fn), (), F.f, (), dtype=dtype, meta=np.empty((), dtype)) \
        if not shape else da.blockwise(functools.partial(_call_on, fn=fn), "ij", F.f, "", dtype=dtype,
                                       new_axes={"i": shape[0], "j": shape[1]},
                                       meta=np.empty((0, 0), dtype))


def _call_on(f: Any, fn: Callable[[Any], Any]) -> Any:
    f = f[()] if isinstance(f, np.ndarray) and f.dtype == object else f
    with _LAPACK:
        return np.asarray(fn(f))


def _inv(F: Any) -> Any:
    return _from(F, _npF.inv, F.a.shape) if isinstance(F, Lazy) else _npF.inv(F)


def _det(F: Any) -> Any:
    return _from(F, _npF.det, ()) if isinstance(F, Lazy) else _npF.det(F)


def _logdet(F: Any) -> Any:
    if not isinstance(F, Lazy):
        return _npF.logdet(F)
    out = _from(F, _npF.logdet, ())
    _guard(out, _nothing)  # computed with the results, also where only its DomainError is wanted
    return out


def _nothing(v: Any) -> None:
    return None


def _check_factor(f: Any, what: Any) -> None:
    f = f[()] if isinstance(f, np.ndarray) and f.dtype == object else f
    if isinstance(f, _npF.LU):
        f.check(what)


def _no_overflow(out: np.ndarray, inputs: tuple[Any, ...], what: Callable[..., Any]) -> np.ndarray:
    """out, or a DomainError where it has entries that are not finite although the inputs are all finite (the
    adjugate of entries ~1e120 overflows: NumPy's compiled code refuses that by its check of the results, which
    lazy results do not get; an n x n result is cheap to look at in its task)."""
    if not np.all(np.isfinite(out)) and all(np.all(np.isfinite(a)) for a in inputs):
        raise DomainError(f"{_npK.name_of(what)}: the result overflows (entries beyond float64's range) at this point")
    return out


def _adj_checked(f: Any) -> np.ndarray:
    return _no_overflow(np.asarray(_npF.adj(f)), (f.a,), _npF.adj)


def _adj(F: Any) -> Any:
    return _from(F, _adj_checked, F.a.shape) if isinstance(F, Lazy) else _npF.adj(F)


def _adj_d_block(f: Any, e: Any) -> Any:
    f = f[()] if isinstance(f, np.ndarray) and f.dtype == object else f
    with _LAPACK:
        return _no_overflow(np.asarray(_npF.adj_d(f, e)), (f.a, e), _npF.adj_d)


def _adj_d(F: Any, E: Any) -> Any:
    """adj'(A)[E]: NumPy's, in the graph where anything is lazy (E in one block: the map is not blockwise)."""
    if not isinstance(F, Lazy) and not isinstance(E, da.Array):
        return _npF.adj_d(F, E)
    f = F.f if isinstance(F, Lazy) else F
    dtype = np.result_type(F.a.dtype, getattr(E, "dtype", np.float64), np.float64)
    E = (E if isinstance(E, da.Array) else da.from_array(np.asarray(E), chunks=-1)).rechunk(-1)
    return da.blockwise(_adj_d_block, "ij", f, None if not isinstance(f, da.Array) else (), E, "ij",
                        dtype=dtype, meta=np.empty((0, 0), dtype=dtype))


def _lu_check(F: Any, what: Any = "solve") -> None:
    if isinstance(F, Lazy):  # checked in the graph, with the results
        _guard(F.f, functools.partial(_check_factor, what=what))
        return
    if isinstance(F, _npF.LU):
        F.check(what)


F = SimpleNamespace(lu=_lu, chol=_chol, solve=_solve, solve_t=_solve_t, inv=_inv, det=_det, logdet=_logdet,
                    adj=_adj, adj_d=_adj_d, LU=SimpleNamespace(check=_lu_check))


# ---------------------------------------------------------------------------------------- kernels
def _is_vector(X: Any) -> bool:
    return X.ndim < 2 or min(X.shape) == 1


def _unit(X: Any, kernel: Callable[[Any], Any]) -> Any:
    """X / ||X|| for a vector; at X = 0 (checked with the results) the DomainError of NumPy's ``kernel``."""
    nrm = _norm(X)
    _guard(nrm, functools.partial(_vector_norm_ok, kernel=kernel))
    return X / nrm


def _vector_norm_ok(v: Any, kernel: Callable[[Any], Any]) -> None:
    C.check_vector_norm(float(v), kernel)


def _svd(X: Any) -> tuple[Any, Any, Any]:
    """The thin SVD of a tall-and-skinny (or, transposed, short-and-wide) dask matrix."""
    if X.shape[0] >= X.shape[1]:
        return da.linalg.svd(X.rechunk({1: -1}))
    U, s, Vh = da.linalg.svd(X.T.rechunk({1: -1}))
    return Vh.T, s, U.T


def _top_sv_test(s: Any) -> None:
    s = np.asarray(s)
    C.check_top_sv(float(s[0]), float(s[1]))


def _polar_test(s: Any) -> None:
    s = np.asarray(s)
    C.check_polar(float(s[-1]), float(s[0]))


def _top_sv(X: Any) -> Any:
    if not isinstance(X, da.Array):
        return _npK.top_sv(X)
    if _is_vector(X):
        return _unit(X, _npK.top_sv)
    U, s, Vh = _svd(X)
    _guard(s, _top_sv_test)
    return da.outer(U[:, 0], Vh[0, :])


def _polar(X: Any) -> Any:
    if not isinstance(X, da.Array):
        return _npK.polar(X)
    if _is_vector(X):
        return _unit(X, _npK.polar)
    U, s, Vh = _svd(X)
    _guard(s, _polar_test)
    return U @ Vh


def _norm2(X: Any) -> Any:
    if not isinstance(X, da.Array):
        return _npK.norm2(X)
    return _norm(X) if _is_vector(X) else _svd(X)[1][0]


def _norm_nuc(X: Any) -> Any:
    if not isinstance(X, da.Array):
        return _npK.norm_nuc(X)
    return _norm(X) if _is_vector(X) else _svd(X)[1].sum()


def _sign(X: Any) -> Any:
    if not isinstance(X, da.Array):
        return _npK.sign(X)
    _guard(da.all(X != 0), _no_zero)
    return da.sign(X)


def _no_zero(v: Any) -> None:
    if not v:
        raise DomainError("sign: an entry is exactly 0, where |x| is not differentiable")


def _lse_chunk(x: Any, axis: Any = None, keepdims: bool = True, computing_meta: bool = False) -> Any:
    """logsumexp of one block (of the partial results, in the combine and aggregate steps: logsumexp of the
    blocks' logsumexps is the whole's)."""
    if computing_meta:
        return np.empty((0,) * (x.ndim if keepdims else 0), dtype=x.dtype)
    r = np.asarray(_npK.logsumexp(x), dtype=x.dtype)
    return r.reshape((1,) * x.ndim) if keepdims else r


def _logsumexp(x: Any) -> Any:
    """log(sum(exp(x))) of all entries in one pass over the data (a tree reduction, stable in every block)."""
    if not isinstance(x, da.Array):
        return _npK.logsumexp(x)
    return da.reduction(x, _lse_chunk, _lse_chunk, combine=_lse_chunk, axis=None, keepdims=False, dtype=x.dtype,
                        concatenate=True, meta=np.empty((), dtype=x.dtype))


def _gram(X: Any, d: Any = None, shift: Any = 0.0) -> Any:
    """X' diag(d) X + shift*I: NumPy's kernel (a symmetric rank-k update) where nothing is a da.Array."""
    if not isinstance(X, da.Array) and not isinstance(d, da.Array) and not isinstance(shift, da.Array):
        return _npK.gram(X, d, shift)
    return C.gram(X, d, shift, NP.eye)


def _msum(dense: Any = (), diag: Any = (), outer: Any = ()) -> Any:
    """A sum of matrices, diagonals and rank-1 terms: NumPy's kernel (one buffer) where nothing is a da.Array."""
    flat = [a for t in (*dense, *diag, *outer) for a in (t if type(t) is tuple else (t,))]
    if not any(isinstance(a, da.Array) for a in flat):
        return _npK.msum(dense, diag, outer)
    return _npK.msum_plain(dense, diag, outer, NP)


def _dsigmoid(u: Any) -> Any:
    """sigmoid(u) .* sigmoid(-u): NumPy's kernel, whose ufuncs act on the whole array here too."""
    return _npK.dsigmoid(u)


def _softmax(x: Any) -> Any:
    if not isinstance(x, da.Array):
        return _npK.softmax(x)
    e = da.exp(x - da.max(x))
    return e / da.sum(e)


def _relu(X: Any) -> Any:
    return da.maximum(X, 0) if isinstance(X, da.Array) else _npK.relu(X)


def _step(X: Any) -> Any:
    if not isinstance(X, da.Array):
        return _npK.step(X)
    _guard(da.all(X != 0), _no_zero_step)
    return (X > 0).astype(np.float64)


def _no_zero_step(v: Any) -> None:
    if not v:
        raise DomainError("step: an entry is exactly 0, where relu is not differentiable")


def _eig(which: str) -> Any:
    """An eigen-kernel of a (small, square) matrix: computed at once with NumPy, a Dask matrix computed first."""
    kernel = getattr(_npK, which)
    return lambda S: kernel(np.asarray(S.compute() if isinstance(S, da.Array) else S))


def _expm(X: Any) -> Any:
    """expm of a (small, square) matrix: computed at once with NumPy, a Dask matrix computed first."""
    return _npK.expm(np.asarray(X.compute() if isinstance(X, da.Array) else X))


def _expm_frechet(X: Any, E: Any) -> Any:
    def concrete(a: Any) -> Any:
        return np.asarray(a.compute() if isinstance(a, da.Array) else a)
    return _npK.expm_frechet(concrete(X), concrete(E))


def _concrete(kernel: Any) -> Any:
    """A matrix-function kernel of (small, square) matrices: computed at once with NumPy, Dask arrays computed
    first (logm, sqrtm, their Fréchet derivatives)."""
    def run(*args: Any) -> Any:
        return kernel(*(np.asarray(a.compute()) if isinstance(a, da.Array) else a for a in args))
    return run


def _pass(S: Any) -> Any:
    """eigh of a batch or a Dask matrix: the matrix itself (sym_fun and sym_frechet decompose it per example)."""
    return S


_MATFUN = ("expm_frechet2", "logm", "logm_frechet", "logm_frechet2", "sqrtm", "sqrtm_frechet", "sqrtm_frechet2",
           "powm_frechet2", "sym_fun", "sym_frechet", "sym_check",
           "sym_trace")  # sym_*: of the matrix (eigh passes it on)
K = SimpleNamespace(sign=_sign, polar=_polar, top_sv=_top_sv, norm_fro=_norm, norm2=_norm2, norm_nuc=_norm_nuc,
                    logsumexp=_logsumexp, softmax=_softmax, relu=_relu, step=_step, gram=_gram, msum=_msum,
                    dsigmoid=_dsigmoid,
                    expm=_expm, expm_frechet=_expm_frechet, eigh=_pass, expm_pade=_pass,
                    **{k: _concrete(getattr(_npK, k)) for k in _MATFUN},
                    **{k: _eig(k) for k in ("eigvals", "eigmax", "eigmin", "eigvecs", "eigvec_max", "eigvec_min")})


# -------------------------------------------------------------------------------------- namespace
def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
    """fn collecting its lazy checks and attaching them to its (lazy) results."""
    if getattr(fn, "__matdiff_wrapped__", False):
        return fn

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        token = _GUARDS.set([])
        try:
            out = fn(*args)
            guards = _GUARDS.get()
        finally:
            _GUARDS.reset(token)
        return _attach(out, guards) if guards else out

    call.__matdiff_wrapped__ = True  # type: ignore[attr-defined]
    return call


# The NumPy objects this runtime uses as they are (protocol.SHARED aside): ufuncs and scipy's expit (a ufunc too)
# dispatch to dask arrays by __array_ufunc__; eye and ones make small constants that broadcast into the graph.
NUMPY_REUSED = frozenset({"_np.exp", "_np.log", "_np.sin", "_np.cos", "_np.tanh", "_np.sqrt", "_np.abs", "_np.sign",
                          "_np.logaddexp", "_np.eye", "_np.ones", "_expit"})


def namespace() -> dict[str, Any]:
    return {"_np": NP, "_F": F, "_K": K, "_check": _check, "_check_positive": _check_positive, "_nonzero": _nonzero,
            "_finite_inputs": _finite_inputs, "_arg": _arg, "_arg0": _arg0, "_scalar": _scalar, "_dot": _dot,
            "_expit": _expit, "_BadShapes": BadShapes, "_wrap": wrap}
