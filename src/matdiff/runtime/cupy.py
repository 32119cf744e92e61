"""CuPy backend: generated code on CuPy arrays (the current GPU); NumPy inputs are copied there.

Factorizations: ``cupyx.scipy.linalg.lu_factor``/``lu_solve``, ``cupy.linalg.cholesky`` with two
triangular solves, ``cupy.linalg.svd``.  Values are always concrete, so every check runs (each a
small device-to-host copy).  Results stay on the GPU (``cupy.asnumpy`` to bring them back).
Written against CuPy's NumPy-compatible API and array-api-compat's cupy namespace; its tests run
only where CuPy and a GPU are present.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.cupy as xp
import cupy
import cupyx
import cupyx.scipy.linalg as csl
import numpy as np
from cupyx.scipy.special import expit as _expit

from . import _arrayapi as A
from . import _common as C


class CupyOps(A.Ops):
    name = "cupy"

    def expm(self, A: Any) -> Any:
        return csl.expm(A)

    def __init__(self) -> None:
        self.xp = xp

    def is_array(self, x: Any) -> bool:
        return isinstance(x, cupy.ndarray)

    def value(self, x: Any) -> np.ndarray | None:
        return cupy.asnumpy(x) if isinstance(x, cupy.ndarray) else np.asarray(x)

    def asarray(self, x: Any) -> Any:
        if isinstance(x, cupy.ndarray):
            return x
        a = cupy.asarray(np.asarray(x))
        return a if a.dtype.kind in "fc" else a.astype(cupy.float64)

    def lu_factor(self, A: Any) -> tuple[Any, Any]:
        return csl.lu_factor(A, check_finite=False)

    def parity(self, piv: Any) -> Any:
        return cupy.sum(piv != cupy.arange(piv.shape[-1], dtype=piv.dtype)) % 2

    def lu_solve(self, lu: Any, piv: Any, B: Any, trans: bool) -> Any:
        return csl.lu_solve((lu, piv), B, trans=1 if trans else 0, check_finite=False)

    def cholesky(self, A: Any) -> tuple[Any, Any]:
        try:
            with cupyx.errstate(linalg="raise"):  # by default a failed factorization returns garbage
                L = cupy.linalg.cholesky(A)
        except cupy.linalg.LinAlgError:
            raise C.not_spd() from None
        return L, 0

    def cho_solve(self, L: Any, B: Any) -> Any:
        y = csl.solve_triangular(L, B, lower=True, check_finite=False)
        return csl.solve_triangular(L, y, lower=True, trans="C", check_finite=False)

    def expit(self, x: Any) -> Any:
        return _expit(x)


OPS = CupyOps()


class _CupyNumpy(A.NumpyStyle):
    """``_np``: the elementwise functions of the Array API (over array-api-compat's cupy), the rest CuPy's own."""

    def __init__(self) -> None:
        super().__init__(OPS)
        self.sum = cupy.sum
        self.trace = cupy.trace
        self.diag = cupy.diag
        self.outer = cupy.outer
        self.logaddexp = cupy.logaddexp
        self.linalg = cupy.linalg

    def eye(self, n: int) -> Any:
        return cupy.eye(n)

    def ones(self, shape: Any) -> Any:
        return cupy.ones(shape)


NUMPY_REUSED: frozenset[str] = frozenset()  # nothing of NumPy's: every name is CuPy's (protocol.SHARED aside)


def namespace() -> dict[str, Any]:
    cupy.cuda.runtime.getDeviceCount()  # raises where there is no GPU: the backend is then unavailable
    ns = A.namespace(OPS, _CupyNumpy())
    ns["_wrap"] = _wrap
    return ns


def _wrap(fn: Any) -> Any:
    """fn with NumPy arrays copied to the GPU first (vectors are not converted by generated code)."""
    import functools

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        return fn(*(OPS.asarray(a) if isinstance(a, (np.ndarray, list)) else a for a in args))

    call.__matdiff_wrapped__ = True  # type: ignore[attr-defined]
    return call
