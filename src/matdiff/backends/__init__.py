"""Backends: the same generated code, run on other array libraries.

A gradient is derived once; ``r.source()`` is one Python function, and ``codegen.build(source, name,
backend)`` runs it in the namespace that ``matdiff.backends.<backend>.namespace()`` returns:

========  =====================================================================================
numpy     built in (``matdiff.numeric.codegen``)
jax       ``jax.numpy``; jit-able (checks are skipped while traced), float64 with jax_enable_x64
torch     tensors on their own device and dtype; torch.autograd / torch.func compatible
cupy      CuPy arrays on the current GPU
dask      lazy Dask arrays: tall data blockwise, one reduction per pass; checks ride in the graph
========  =====================================================================================

Every backend module has ``namespace() -> dict``; a namespace may hold ``_wrap``, a function
applied to the generated function (conversion of inputs, dtype/device of new arrays, lazy checks):
:func:`wrapped` applies it.  :func:`batched` evaluates over a leading batch axis without a Python
loop (``jax.vmap``, ``torch.func.vmap``, and for NumPy a batched namespace where ``@``, ``.T``
and the factorizations act on stacks).  The modules are named after their libraries; inside them
``import jax`` is the real JAX, as Python 3 imports are absolute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .batch import batched

BACKENDS = ("numpy", "jax", "torch", "cupy", "dask")


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
    """Which backends can be imported here (their libraries installed; cupy also needs a GPU)."""
    import importlib

    out = {"numpy": True}
    for name in BACKENDS[1:]:
        try:
            importlib.import_module(f"matdiff.backends.{name}").namespace()
            out[name] = True
        except Exception:
            out[name] = False
    return out


__all__ = ["BACKENDS", "available", "batched", "wrapped"]
