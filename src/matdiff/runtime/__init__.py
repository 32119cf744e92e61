"""The runtime of generated code: one explicit protocol, one implementation per backend.

A gradient is derived once; ``r.source()`` is one Python function, and ``codegen.build(source, name,
backend)`` runs it in the namespace that :func:`namespace_for` returns: a dict of exactly the names
listed by :mod:`matdiff.runtime.protocol` (``_np``, ``_F``, ``_K`` and the helpers), built by the
backend's own module.  ``build`` checks at compile time that the backend provides every name the
source calls (a MatdiffError names the missing kernel).

=========  ====================================================================================
numpy      :mod:`.numpy`: NumPy, the factorizations :mod:`.factor`, the stable kernels :mod:`.kernels`
batch      :mod:`.batch`: NumPy over a leading batch axis (``compile(..., batch=True)``), no Python loop
jax        ``jax.numpy``; jit-able (checks are skipped while traced), float64 with jax_enable_x64
torch      tensors on their own device and dtype; torch.autograd / torch.func compatible
cupy       CuPy arrays on the current GPU
dask       lazy Dask arrays: tall data blockwise, one reduction per pass; checks ride in the graph
=========  ====================================================================================

jax, torch and cupy share :mod:`._arrayapi` (the protocol written once over the Array API);
:mod:`._common` holds what every array backend shares (NumPy's error messages, the adjugate by the
SVD at extreme scales).  A namespace may hold ``_wrap``, a function applied to the generated
function (conversion of inputs, dtype/device of new arrays, lazy checks): :func:`wrapped` applies
it.  :mod:`.vmap` evaluates over a leading batch axis (``jax.vmap``, ``torch.func.vmap``, and for
NumPy the batch runtime).  The modules are named after their libraries; inside them ``import jax``
is the real JAX, as Python 3 imports are absolute.  This layer imports only ``matdiff.errors``:
the code generator imports it, never the reverse.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..errors import MatdiffError

BACKENDS = ("numpy", "jax", "torch", "cupy", "dask")


def namespace_for(backend: str) -> dict[str, Any]:
    """The namespace that runs generated code on a backend (a fresh dict: the code is executed into it)."""
    if backend not in BACKENDS:
        raise MatdiffError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
    try:
        mod = importlib.import_module(f"{__name__}.{backend}")
    except ModuleNotFoundError as err:
        raise MatdiffError(f"backend {backend!r} needs {err.name}, which is not installed") from None
    return mod.namespace()


def wrapped(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The generated function fn with its backend's ``_wrap`` applied (once; fn as it is where there is none)."""
    if getattr(fn, "__matdiff_wrapped__", False):
        return fn
    wrap = getattr(fn, "__globals__", {}).get("_wrap")
    if wrap is None:
        return fn
    out = wrap(fn)
    try:
        out.__matdiff_wrapped__ = True
    except AttributeError:  # pragma: no cover
        pass
    return out


def available() -> dict[str, bool]:
    """Which backends can be used here (their libraries installed; cupy also needs a GPU)."""
    out = {}
    for name in BACKENDS:
        try:
            namespace_for(name)
            out[name] = True
        except Exception:  # noqa: BLE001 - any failure to set the backend up means: not available
            out[name] = False
    return out


__all__ = ["BACKENDS", "available", "namespace_for", "wrapped"]
