"""The NumPy runtime: the namespace generated code runs in by default, and its helper functions.

``_np`` is NumPy itself, ``_F`` the shared factorizations (:mod:`matdiff.runtime.factor`), ``_K``
the stable kernels (:mod:`matdiff.runtime.kernels`); the helpers below convert arguments and check
the domain.  Other backends raise the very DomainErrors of these helpers (``runtime._common``).
Inside this file ``import numpy`` is the real NumPy (Python 3 imports are absolute).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import expit

from ..errors import DomainError
from . import factor, kernels
from .protocol import BadShapes

NUMPY_REUSED = frozenset()  # this is NumPy's own runtime: nothing is borrowed

_REAL, _COMPLEX = np.dtype(np.float64), np.dtype(np.complex128)
_ndarray = np.ndarray


def arg(v: Any) -> np.ndarray:
    """An argument as the array it is computed as: float64, or complex128 for complex input.

    Integer, boolean and float32 inputs are converted, as ``evaluate`` converts them (one rule);
    a float64 array passes as it is (no copy).  Anything else is left to the caller to explain."""
    if type(v) is _ndarray:
        if v.dtype is _REAL:  # the fast path: a float64 array (NumPy's dtype singleton)
            return v
        a = v
    else:
        a = np.asarray(v)
    dt = a.dtype
    if dt == _REAL or dt == _COMPLEX:
        return a
    if dt.kind in "biuf":
        return a.astype(_REAL)
    if dt.kind == "c":
        return a.astype(_COMPLEX)
    raise BadShapes()


def arg0(v: Any) -> Any:
    """A scalar argument as a float (or complex); BadShapes for an array with more than one entry.

    A one-entry array (``[[2.0]]``) is refused here too; the caller then converts it, as evaluate does."""
    t = type(v)
    if t is float or t is complex:
        return v
    if t is int or t is bool:
        return float(v)
    a = np.asarray(v)
    if a.ndim:
        raise BadShapes()
    return arg(a)[()]


def scalar(v: Any) -> Any:
    v = np.asarray(v).reshape(())[()]
    return float(v) if np.isrealobj(v) else complex(v)


def dot(a: Any, b: Any) -> Any:
    """sum(a .* b): tr(a' b) without the product (vdot conjugates complex input, so not there)."""
    return np.vdot(a, b) if not (np.iscomplexobj(a) or np.iscomplexobj(b)) else np.sum(a * b)


def nonzero(v: Any, what: str) -> Any:
    if v == 0:
        raise DomainError(f"division by zero: {what} = 0 at this point (the expression is not differentiable, "
                          "or not defined, there)")
    return v


def check_positive(v: Any, what: str) -> Any:
    if np.real(v) <= 0:
        raise DomainError(f"{what} of {v:.6g} <= 0 is undefined")
    return v


def check(kind: str, v: Any, what: str, where: str) -> None:
    """Raise DomainError unless the value v of ``where`` passes the guard ``kind``."""
    if kind == "nonzero_norm":
        if not np.any(v):
            raise DomainError(f"{what} is not differentiable where {where} = 0, as it is at this point")
    elif kind == "no_zero_entry":
        if np.any(np.asarray(v) == 0):
            raise DomainError(f"{what} is not differentiable (or not defined) where an entry of "
                              f"{where} is 0, as one is at this point")
    elif kind == "positive":
        if np.any(np.real(v) <= 0):
            raise DomainError(f"{what} needs positive entries; at this point the smallest is "
                              f"{np.min(np.real(v)):.6g}")


def finite_inputs(**values: Any) -> None:
    """DomainError naming the first argument with a NaN or infinite entry (one fast sum per array)."""
    for name, v in values.items():
        if not np.isfinite(np.sum(v)) and not np.all(np.isfinite(v)):  # the sum may overflow: then look
            raise DomainError(f"the value of {name} has NaN or infinite entries")


def finite(out: Any, all_finite: Callable[[Any], bool | None] | None = None) -> bool:
    """Whether every entry of the output(s) is finite (one sum per array; exact check if that overflows).

    Another backend's arrays are asked ``all_finite(o)`` (the ``_all_finite`` of its namespace: True, False, or
    None where the value cannot be read — traced, vmapped, lazy — and is not looked at); without it they pass."""
    for o in out if isinstance(out, tuple) else (out,):
        if not isinstance(o, (np.ndarray, float, int, complex, np.generic)):
            if all_finite is not None and all_finite(o) is False:
                return False
            continue  # lazy or traced arrays (they must not be computed here), or a backend without the reader
        if not np.isfinite(np.sum(o)) and not np.all(np.isfinite(o)):
            return False
    return True


def namespace() -> dict[str, Any]:
    """What generated code refers to, for NumPy (the protocol's every name, :mod:`matdiff.runtime.protocol`)."""
    return {"_np": np, "_F": factor, "_K": kernels, "_check": check, "_check_positive": check_positive,
            "_nonzero": nonzero, "_finite_inputs": finite_inputs, "_arg": arg, "_arg0": arg0, "_scalar": scalar,
            "_dot": dot, "_expit": expit, "_BadShapes": BadShapes}


class _Analytic:
    """A module's names with some replaced (attribute access falls through to the module)."""

    def __init__(self, module: Any, **replaced: Any):
        self._module = module
        self.__dict__.update(replaced)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def _abs_analytic(v: Any) -> Any:
    return v * np.sign(np.real(v))  # |x| continued from the real axis: x sign(Re x), not the modulus


def _logaddexp_analytic(a: Any, b: Any) -> Any:
    return np.log(np.exp(a) + np.exp(b)) if np.iscomplexobj(a) or np.iscomplexobj(b) else np.logaddexp(a, b)


def _expit_analytic(v: Any) -> Any:
    return 1 / (1 + np.exp(-v)) if np.iscomplexobj(v) else expit(v)


def analytic_namespace() -> dict[str, Any]:
    """The NumPy namespace for complex values, as evaluation computes them (the complex-step check): each function
    continued analytically from the real axis, where NumPy's own is not analytic or takes no complex input.

    ``abs`` is x sign(Re x) (not the modulus), ``sign`` that of the real part, ``norm_fro`` sqrt(sum x^2) with no
    conjugation (``kernels.norm_fro_bilinear``), ``logaddexp`` and the logistic function by their formulas, and an
    spd matrix is factored by LU (Cholesky conjugates)."""
    ns = namespace()
    ns.update(_np=_Analytic(np, abs=_abs_analytic, sign=lambda v: np.sign(np.real(v)), logaddexp=_logaddexp_analytic),
              _K=_Analytic(kernels, norm_fro=kernels.norm_fro_bilinear, sign=lambda X: kernels.sign(np.real(X))),
              _F=_Analytic(factor, chol=factor.lu), _expit=_expit_analytic)
    ns.update(dict(abs=_abs_analytic))  # the builtin abs() of a scalar in generated code
    return ns
