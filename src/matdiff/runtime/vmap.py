"""``compile(..., batch=True)``: a generated function evaluated over a leading batch axis, no Python loop.

``batched(fn, params, backend, batch, where, explain)`` takes the function that ``codegen.build``
returned and gives ``f(**values)`` where each batched value has a leading batch axis (the same
length B for all) and the others are shared (``codegen.batched`` calls it, with ``explain``: the
ShapeError of the unbatched code for one example).  ``batch=True`` batches every argument; a collection
of names batches those only.  Each result gains the leading axis (B, ...) (a scalar: shape (B,)),
also one that does not depend on the batched arguments.

* numpy: the generated code runs in the namespace of :mod:`matdiff.runtime.batch`;
* jax: ``jax.vmap``; torch: ``torch.func.vmap`` (inside, checks are skipped);
* dask and cupy: not available (a MatdiffError says so).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np

from ..errors import DomainError, MatdiffError, ShapeError
from .numpy import finite as _finite
from .protocol import BadShapes

BATCHED_BACKENDS = ("numpy", "jax", "torch")


def batch_names(params: list[str], batch: bool | str | Collection[str]) -> list[str]:
    """The batched parameters for a ``batch=`` argument."""
    if batch is True:
        return list(params)
    names = [batch] if isinstance(batch, str) else list(batch)  # type: ignore[arg-type]
    unknown = [n for n in names if n not in params]
    if unknown:
        raise MatdiffError(f"batch names {', '.join(unknown)}, which the function does not take "
                           f"(its arguments: {', '.join(params)})")
    if not names:
        raise MatdiffError("batch= names no argument")
    return [n for n in params if n in names]


def batched(fn: Callable[..., Any], params: list[str], backend: str = "numpy",
            batch: bool | str | Collection[str] = True, where: str = "",
            explain: Callable[[Mapping[str, Any]], None] | None = None) -> Callable[..., Any]:
    """``f(**values)`` evaluating the generated ``fn`` over the leading axis of the batched values.

    As ``codegen.make_callable``: a ShapeError naming operands and sizes (``explain(values of the first
    example)`` raises it), and a DomainError that says where (``where``: the expression) and which batch
    element."""
    if backend not in BATCHED_BACKENDS:
        raise MatdiffError(f"batch= is not available for the {backend} backend (only for "
                           f"{', '.join(BATCHED_BACKENDS)}); a dask array is already blockwise")
    names = list(params)
    bnames = batch_names(names, batch)
    all_finite = getattr(inspect.unwrap(fn), "__globals__", {}).get("_all_finite") if backend != "numpy" else None
    in_axes = tuple(0 if n in bnames else None for n in names)
    if backend == "numpy":
        run = _numpy(fn, names, bnames)
    elif backend == "jax":
        run = _jax(fn, in_axes)
    else:
        run = _torch(fn, in_axes)

    def call(**values: Any) -> Any:
        missing = [n for n in names if n not in values]
        if missing:
            raise MatdiffError(f"no value given for {', '.join(missing)}")
        args = [values[n] for n in names]
        size = _batch_size(names, bnames, args)
        try:
            out = run(size, *args)
            _check_finite(out, all_finite, dict(zip(names, args)), bnames)
            return out
        except DomainError as err:
            if where and where not in str(err):
                raise DomainError(f"{err} (in {where})") from None
            raise
        except BadShapes:
            if explain is not None:
                explain({n: (np.asarray(a)[0] if n in bnames else a) for n, a in zip(names, args)})
            raise ShapeError("the per-example shapes of the batched arguments do not fit the expression") from None

    call.__doc__ = getattr(fn, "__doc__", None)
    return call


def _check_finite(out: Any, all_finite: Callable[[Any], bool | None] | None,
                  inputs: Mapping[str, Any] | None = None, batched: Collection[str] = ()) -> None:
    """DomainError where a result has NaN or infinite entries, as ``codegen.make_callable``: the first input with
    NaN or infinite entries named (and its batch element), else the first such batch element of a NumPy result;
    results that cannot be read (traced by an outer jax.jit) pass.  The inputs are scanned only here, after a
    result that is not finite: a finite call costs one pass over its results."""
    if _finite(out, all_finite):
        return
    for name, v in (inputs or {}).items():
        try:
            a = np.asarray(v)
        except Exception:  # noqa: BLE001 - another backend's array that NumPy cannot read here
            continue
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            bad = ~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1) if a.ndim and name in batched else None
            at = f" (batch element {int(np.argmax(bad))})" if bad is not None else ""
            raise DomainError(f"the value of {name} has NaN or infinite entries{at}")
    where = ""
    for o in out if isinstance(out, tuple) else (out,):
        if isinstance(o, np.ndarray) and o.ndim:
            bad = ~np.isfinite(o.reshape(o.shape[0], -1)).all(axis=1)
            if np.any(bad):
                where = f" (batch element {int(np.argmax(bad))})"
                break
    raise DomainError(f"the result is not finite at this point (an overflow, or a value outside the domain){where}")


def _batch_size(names: list[str], bnames: list[str], args: list[Any]) -> int:
    sizes = {}
    for n, a in zip(names, args):
        if n in bnames:
            shape = np.shape(a) if not hasattr(a, "shape") else tuple(a.shape)
            if not shape:
                raise ShapeError(f"{n} is batched but has no leading batch axis (it is a scalar)")
            sizes[n] = int(shape[0])
    if len(set(sizes.values())) > 1:
        raise ShapeError("the batched arguments have different batch sizes: "
                         + ", ".join(f"{n}: {s}" for n, s in sizes.items()))
    return next(iter(sizes.values()))


# --------------------------------------------------------------------------------------- numpy
def _numpy(fn: Callable[..., Any], names: list[str], bnames: list[str]) -> Callable[..., Any]:
    from . import batch as nb

    inner = nb.rebind(inspect.unwrap(fn))
    batched_pos = [n in bnames for n in names]

    def run(size: int, *args: Any) -> Any:
        wrapped = [nb.BArray(np.asarray(a)) if b else a for a, b in zip(args, batched_pos)]
        return _finish(inner(*wrapped), size)
    return run


def _finish(out: Any, size: int) -> Any:
    if isinstance(out, tuple):
        return tuple(_finish(o, size) for o in out)
    from .batch import BArray

    if isinstance(out, BArray):
        return out.data
    a = np.asarray(out)
    return np.broadcast_to(a, (size,) + a.shape).copy()


# ----------------------------------------------------------------------------------------- jax
def _jax(fn: Callable[..., Any], in_axes: tuple[int | None, ...]) -> Callable[..., Any]:
    import jax
    import jax.numpy as jnp

    from . import wrapped

    inner = wrapped(fn)

    def arrays(*args: Any) -> Any:
        return jax.tree_util.tree_map(jnp.asarray, inner(*args))
    vm = jax.jit(jax.vmap(arrays, in_axes=in_axes))  # under vmap the checks are skipped anyway

    def run(size: int, *args: Any) -> Any:
        return vm(*args)
    return run


# --------------------------------------------------------------------------------------- torch
def _torch(fn: Callable[..., Any], in_axes: tuple[int | None, ...]) -> Callable[..., Any]:
    import torch
    from torch.func import vmap

    from . import torch as tb
    from . import wrapped

    inner = wrapped(fn)

    def tensors(*args: Any) -> Any:
        out = inner(*args)
        like = next((a for a in args if isinstance(a, torch.Tensor)), None)

        def t(o: Any) -> Any:
            if isinstance(o, torch.Tensor):
                return o
            return torch.as_tensor(o, dtype=like.dtype if like is not None else torch.float64,
                                   device=like.device if like is not None else None)
        return tuple(t(o) for o in out) if isinstance(out, tuple) else t(out)
    vm = tb.wrap(vmap(tensors, in_dims=in_axes))

    def run(size: int, *args: Any) -> Any:
        return vm(*args)
    return run
