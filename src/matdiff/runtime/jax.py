"""JAX backend: generated code on ``jax.numpy`` arrays, jit-able, vmap-able, differentiable.

    f = matdiff.grad("logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"}).compile(backend="jax")
    f(S=S, C=C)                               # eager: checks run, DomainError as with NumPy
    jax.jit(lambda S, C: f(S=S, C=C))(S, C)   # traced: checks are skipped (NaN where undefined)

Float64 when ``jax_enable_x64`` is on (JAX's default is float32; this module does not change it).
Factorizations use ``jax.scipy.linalg`` (lu_factor/lu_solve, Cholesky/cho_solve) and
``jnp.linalg.svd``; the adjugate's choice between its LU and SVD branches is a ``lax.cond``.
Inside this file ``import jax`` is the real JAX (Python 3 imports are absolute).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jax.scipy.special import expit as _expit

from . import _arrayapi as A


def _is_tracer(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


class JaxOps(A.Ops):
    name = "jax"
    xp = jnp

    def is_array(self, x: Any) -> bool:
        return isinstance(x, jax.Array)

    def value(self, x: Any) -> np.ndarray | None:
        if _is_tracer(x):
            return None
        return np.asarray(x)

    def asarray(self, x: Any) -> Any:
        return x if isinstance(x, jax.Array) else jnp.asarray(x)

    def default_float(self) -> Any:
        return jnp.asarray(0.0).dtype  # float64 with jax_enable_x64, else float32

    def lu_factor(self, A: Any) -> tuple[Any, Any]:
        return jsl.lu_factor(A)

    def parity(self, piv: Any) -> Any:
        return jnp.sum(piv != jnp.arange(piv.shape[-1], dtype=piv.dtype)) % 2

    def lu_solve(self, lu: Any, piv: Any, B: Any, trans: bool) -> Any:
        return jsl.lu_solve((lu, piv), B, trans=1 if trans else 0)

    def cholesky(self, A: Any) -> tuple[Any, Any]:
        L = jnp.linalg.cholesky(A)
        d = jnp.diagonal(L)
        bad = ~jnp.isfinite(d)  # JAX returns NaNs where the factorization fails
        info = jnp.where(jnp.any(bad), jnp.argmax(bad) + 1, 0)
        return L, info

    def expm(self, A: Any) -> Any:
        return jsl.expm(A)

    def cho_solve(self, L: Any, B: Any) -> Any:
        return jsl.cho_solve((L, True), B)

    def cond(self, pred: Any, if_true: Any, if_false: Any) -> Any:
        if not _is_tracer(pred):
            return if_true() if bool(pred) else if_false()
        return jax.lax.cond(pred, if_true, if_false)

    def expit(self, x: Any) -> Any:
        return _expit(x)


OPS = JaxOps()


class _JaxNumpy(A.NumpyStyle):
    """``_np``: jax.numpy has every NumPy name that generated code calls; only new arrays' dtypes follow JAX's
    default (float64 with jax_enable_x64)."""

    def __init__(self) -> None:
        super().__init__(OPS)
        self.exp = jnp.exp
        self.log = jnp.log
        self.sin = jnp.sin
        self.cos = jnp.cos
        self.tanh = jnp.tanh
        self.sqrt = jnp.sqrt
        self.abs = jnp.abs
        self.sign = jnp.sign
        self.logaddexp = jnp.logaddexp
        self.sum = jnp.sum
        self.trace = jnp.trace
        self.diag = jnp.diag
        self.outer = jnp.outer
        self.reshape = jnp.reshape
        self.linalg = jnp.linalg

    def eye(self, n: int) -> Any:
        return jnp.eye(n)

    def ones(self, shape: Any) -> Any:
        return jnp.ones(shape)


_NP = _JaxNumpy()


NUMPY_REUSED: frozenset[str] = frozenset()  # nothing of NumPy's: every name is JAX's (protocol.SHARED aside)


def namespace() -> dict[str, Any]:
    return A.namespace(OPS, _NP)
