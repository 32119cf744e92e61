"""PyTorch backend: generated code on tensors, on the device and in the dtype of its inputs.

    f = matdiff.grad("x'*inv(A)*x", "A").compile(backend="torch")
    f(x=x, A=A)                    # tensors (NumPy arrays are converted, onto the inputs' device)

Differentiable by torch.autograd and torch.func; batched by ``torch.func.vmap`` (``batch=True``).
Factorizations: ``torch.linalg.lu_factor_ex``/``lu_solve``, ``cholesky_ex``/``cholesky_solve``,
``svd``.  Checks read values (a device sync) only on plain tensors; under vmap or ``torch.compile``
they are skipped.  New arrays (``eye``, ``ones``) take the dtype and device of the inputs: the
wrapper :func:`wrap` (applied by ``codegen.build`` through the namespace's ``_wrap``) records them.
The NumPy-style calls go through array-api-compat's torch namespace.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any

import array_api_compat.torch as xp
import numpy as np
import torch

from ..errors import DomainError
from . import _arrayapi as A

_LIKE: contextvars.ContextVar[tuple[Any, Any] | None] = contextvars.ContextVar("matdiff_torch_like", default=None)
_functorch = torch._C._functorch


class _XP:
    """array-api-compat's torch namespace, with the few of its wrappers that vmap cannot batch replaced."""

    sign = staticmethod(torch.sign)  # the wrapper writes NaNs through a boolean mask

    def __getattr__(self, name: str) -> Any:
        return getattr(xp, name)


class TorchOps(A.Ops):
    name = "torch"

    def expm(self, A: Any) -> Any:
        return torch.linalg.matrix_exp(A)

    def __init__(self) -> None:
        self.xp = _XP()

    def is_array(self, x: Any) -> bool:
        return isinstance(x, torch.Tensor)

    def value(self, x: Any) -> np.ndarray | None:
        if not isinstance(x, torch.Tensor):
            return np.asarray(x)
        if _functorch.is_functorch_wrapped_tensor(x) or torch.compiler.is_compiling():
            return None
        return x.detach().cpu().resolve_conj().resolve_neg().numpy()

    def like(self) -> tuple[Any, Any]:
        return _LIKE.get() or (torch.float64, None)

    def asarray(self, x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return x
        dtype, device = self.like()
        if isinstance(x, (bool, int, float)):
            return torch.tensor(x, dtype=dtype, device=device)
        t = torch.as_tensor(np.asarray(x), device=device)
        return t if t.is_floating_point() or t.is_complex() else t.to(dtype)

    def lu_factor(self, A: Any) -> tuple[Any, Any]:
        lu, piv, _ = torch.linalg.lu_factor_ex(A)
        return lu, piv

    def parity(self, piv: Any) -> Any:
        n = piv.shape[-1]
        return torch.sum(piv != torch.arange(1, n + 1, dtype=piv.dtype, device=piv.device), dim=-1) % 2

    def lu_solve(self, lu: Any, piv: Any, B: Any, trans: bool) -> Any:
        if trans and lu.is_complex():  # A' x = b  <=>  A^H conj(x) = conj(b)
            return torch.linalg.lu_solve(lu, piv, B.conj(), adjoint=True).conj()
        return torch.linalg.lu_solve(lu, piv, B, adjoint=trans)

    def cholesky(self, A: Any) -> tuple[Any, Any]:
        return torch.linalg.cholesky_ex(A)

    def cho_solve(self, L: Any, B: Any) -> Any:
        return torch.cholesky_solve(B, L)

    def cho_inverse(self, L: Any) -> Any:
        return torch.cholesky_inverse(L)

    def svd(self, A: Any, full: bool = False) -> tuple[Any, Any, Any]:
        return torch.linalg.svd(A, full_matrices=full)

    def cond(self, pred: Any, if_true: Callable[[], Any], if_false: Callable[[], Any]) -> Any:
        v = self.value(pred)
        if v is not None:
            return if_true() if bool(v) else if_false()
        return torch.where(pred, if_true(), if_false())

    def expit(self, x: Any) -> Any:
        return torch.special.expit(x)


OPS = TorchOps()


class _TorchNumpy(A.NumpyStyle):
    def __init__(self) -> None:
        super().__init__(OPS)
        self.sum = torch.sum
        self.outer = torch.outer
        self.diag = torch.diag

    def trace(self, x: Any) -> Any:
        return torch.trace(x)

    def logaddexp(self, a: Any, b: Any) -> Any:
        if not isinstance(a, torch.Tensor):
            a = torch.tensor(a, dtype=b.dtype, device=b.device)
        if not isinstance(b, torch.Tensor):
            b = torch.tensor(b, dtype=a.dtype, device=a.device)
        return torch.logaddexp(a, b)


_NP = _TorchNumpy()


def _reference(args: tuple[Any, ...]) -> torch.Tensor | None:
    for a in args:
        if isinstance(a, torch.Tensor) and (a.is_floating_point() or a.is_complex()):
            return a
    for a in args:
        if isinstance(a, torch.Tensor):
            return a
    return None


def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
    """fn taking tensors (NumPy arrays converted onto the inputs' device), with eye/ones made like them."""
    if getattr(fn, "__matdiff_wrapped__", False):
        return fn

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        ref = _reference(args)
        device = ref.device if ref is not None else None
        dtype = ref.dtype if ref is not None and (ref.is_floating_point() or ref.is_complex()) else torch.float64
        if dtype.is_complex:
            dtype = torch.float64 if dtype == torch.complex128 else torch.float32
        args = tuple(_convert(a, device, dtype) for a in args)
        token = _LIKE.set((dtype, device))
        try:
            return fn(*args)
        except torch.linalg.LinAlgError as err:
            raise DomainError(f"torch: {err}") from None
        finally:
            _LIKE.reset(token)

    call.__matdiff_wrapped__ = True  # type: ignore[attr-defined]
    return call


def _convert(a: Any, device: Any, dtype: Any) -> Any:
    if isinstance(a, torch.Tensor):
        return a if a.is_floating_point() or a.is_complex() else a.to(dtype)
    if isinstance(a, (np.ndarray, list, tuple)):
        t = torch.as_tensor(np.asarray(a), device=device)
        return t if t.is_floating_point() or t.is_complex() else t.to(dtype)
    return a


NUMPY_REUSED: frozenset[str] = frozenset()  # nothing of NumPy's: every name is torch's (protocol.SHARED aside)


def namespace() -> dict[str, Any]:
    ns = A.namespace(OPS, _NP)
    ns["_wrap"] = wrap
    return ns
