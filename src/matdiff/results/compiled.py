"""The one compile path of every result: a :class:`Program` (what one generated function computes),
its source generated once, and built per backend and batch mode.

Gradients, derivatives, Hessians and value-and-gradient functions all go through
:meth:`Program.source` and :meth:`Program.build`; :class:`Compilable` gives a result its public
``source()`` and ``compile()`` from one ``_program()``, cached per instance.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.nodes import Expr, Var
from ..numeric.codegen import batched, build, generate, make_callable, standalone

Batch = bool | str | Collection[str]


def batch_key(backend: str, batch: Batch) -> tuple[str, Any]:
    """A hashable cache key for a backend and a batch mode."""
    return backend, batch if isinstance(batch, (bool, str)) else tuple(batch)


@dataclass(eq=False)
class Program:
    """One generated function ``name(*params)`` returning ``outputs`` (a tuple when there are several).

    ``guard_of``: the expression whose domain the generated code checks; ``doc`` and ``comment``
    go into the source; ``where`` names the expression in error messages; ``callable_doc`` is the
    docstring of the callable that :meth:`build` returns.
    """

    name: str
    outputs: Sequence[Expr]
    variables: Mapping[str, Var]
    guard_of: Expr | None = None
    doc: str = ""
    comment: Sequence[str] = ()
    where: str = ""
    callable_doc: str = ""
    _source: str | None = field(default=None, repr=False)

    @property
    def params(self) -> list[str]:
        """The arguments of the generated function, in order: the variables."""
        return list(self.variables)

    def source(self, with_imports: bool = False) -> str:
        """The generated Python source (made once); ``with_imports=True`` adds the imports it needs."""
        if self._source is None:
            self._source = generate(self.name, list(self.outputs), self.variables, guard_of=self.guard_of,
                                    doc=self.doc, comment=list(self.comment))
        return standalone(self._source) if with_imports else self._source

    def build(self, backend: str = "numpy", batch: Batch = False, last_first: bool = False) -> Callable[..., Any]:
        """``f(**values)`` running the source on ``backend``; over a leading batch axis where ``batch``.

        ``last_first``: ``f(value, **values)``, the last variable given first, positionally (not with ``batch``)."""
        raw = build(self.source(), self.name, backend)
        if batch is not False:
            return batched(raw, self.variables, self.params, backend, batch, where=self.where)
        return make_callable(raw, self.variables, self.params, self.callable_doc, where=self.where,
                             outputs=list(self.outputs), last_first=last_first)


class Compilable:
    """A result that compiles: ``_program()`` says what to generate, ``_finish`` may wrap the built function.

    ``source()`` and ``compile()`` are cached on the instance: the program is made once, each
    (backend, batch) pair built once.
    """

    def _program(self) -> Program:
        raise NotImplementedError

    def _finish(self, fn: Callable[..., Any], backend: str, batch: Batch) -> Callable[..., Any]:
        """The public function made from the built one (default: itself)."""
        return fn

    def program(self) -> Program:
        """The generated function this result compiles to (made on first use)."""
        got = self.__dict__.get("_program_made")
        if got is None:
            got = self.__dict__["_program_made"] = self._program()
        return got

    def source(self, backend: str = "numpy", standalone: bool = False) -> str:
        """The generated source (the same text for every backend); ``standalone=True`` adds its imports,
        to paste into a module."""
        return self.program().source(standalone)

    def compile(self, backend: str = "numpy", batch: Batch = False) -> Callable[..., Any]:
        """A function of the variables (keyword arguments), from the generated code.

        ``backend`` is "numpy" or one of matdiff.runtime.BACKENDS ("jax", "torch", "cupy", "dask") where
        installed. ``batch=True`` evaluates over a leading batch axis of every argument (a list of
        names: of those only) without a Python loop; the result gains that axis (numpy, jax, torch)."""
        cache: dict[tuple[str, Any], Callable[..., Any]] = self.__dict__.setdefault("_compiled", {})
        key = batch_key(backend, batch)
        fn = cache.get(key)
        if fn is None:
            fn = cache[key] = self._finish(self.program().build(backend, batch), backend, batch)
        return fn


def standalone_source(result: Any, hvp: bool = False) -> str:
    """The source of what ``result`` compiles to, with the runtime it calls inlined: it runs where only NumPy and
    SciPy are installed (no matdiff import), for ``--code numpy --standalone`` and the page's copy button.

    ``result``: a gradient (one variable or several), a Hessian (``hvp=True``: its Hessian-vector product), a
    value-and-gradient function (``matdiff.compile``), a :class:`Program`, or generated source text.  A
    MatdiffError where the code calls a function defined with a Python kernel (``matdiff.define``)."""
    from ..numeric.standalone import standalone_source as inline

    if isinstance(result, str):
        return inline(result)
    if isinstance(result, Program):
        return result.source(True)
    if hvp:
        return result.hvp_source(standalone=True)
    return result.source(standalone=True)
