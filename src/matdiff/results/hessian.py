"""The Hessian of a scalar expression: w.r.t. one variable (matrix, hvp, dense), or several (blocks)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..calculus.hessians import hessian_forms
from ..calculus.jacobians import full, project
from ..calculus.simplify import Simplifier
from ..calculus.steps import Derived, Step
from ..core.build import add
from ..core.nodes import Expr, Var
from ..errors import MatdiffError
from ..numeric.evaluate import Evaluator, check_domain
from ..syntax.latex import latex_name, to_latex
from ..syntax.printer import to_text
from .compiled import Batch, Compilable, Program, batch_key
from .derivative import Derivative, basis_columns
from .gradient import MultiGradient


class Hessian(Derived, Compilable):
    """The Hessian of a scalar expression with respect to one variable."""

    def __init__(self, f: Expr, var: Var, variables: dict[str, Var], gradient: Expr, grad_steps: list[Step]):
        self.expr_f, self.var, self.wrt, self.variables = f, var, var.name, variables
        self.gradient = gradient
        forms = hessian_forms(var, gradient, grad_steps)
        self.second_differential = forms.second_differential
        self.direction = forms.direction
        self.hvp_expr = forms.hvp_expr
        self.expr: Expr | None = forms.expr
        self.kronecker = forms.kronecker
        self.steps = forms.steps
        self._vars = {**variables, self.direction.name: self.direction}

    # -- display
    @property
    def latex(self) -> str:
        if self.expr is not None:
            return to_latex(self.expr)
        return to_latex(self.hvp_expr)

    def __str__(self) -> str:
        if self.expr is not None:
            return f"hessian_{self.wrt} {to_text(self.expr_f)} = {to_text(self.expr)}"
        return f"hessian_{self.wrt} {to_text(self.expr_f)}: H[d{self.wrt}] = {to_text(self.second_differential)}"

    def _repr_latex_(self) -> str:
        return rf"$\nabla^2_{{{latex_name(self.wrt)}}}\, {to_latex(self.expr_f)} = {self.latex}$"

    # -- numbers
    def hvp(self, values: Mapping[str, Any], direction: Any) -> Any:
        """H[V]: the Hessian applied to a direction shaped like the variable.

        Runs generated code, compiled on the first call and cached (``compile(hvp=True)``): no walk over the
        expression per call, as Newton-CG and trust-region loops need; where the code cannot be generated
        (a function with no NumPy lowering), the expression is evaluated instead."""
        return _numpy_hvp(self)(direction, **values)

    def _hvp_interpreted(self, direction: Any, /, **values: Any) -> Any:
        """H[V] by evaluating the expression (the reference the compiled hvp is tested against)."""
        ev = Evaluator(self._vars, {**values, self.direction.name: direction})
        check_domain(ev, self.expr_f)
        return ev.external(self.var, full(ev(self.hvp_expr), self.var, ev))

    def hvp_program(self) -> Program:
        """The generated function ``hvp_X(variables..., _d_X)``: the Hessian applied to the direction ``_d_X``."""
        got = self.__dict__.get("_hvp_program_made")
        if got is None:
            got = self.__dict__["_hvp_program_made"] = Program(
                f"hvp_{self.wrt}", [self.hvp_expr], self._vars, guard_of=self.expr_f, where=to_text(self.expr_f),
                doc=f"Hessian of {to_text(self.expr_f)} w.r.t. {self.wrt} applied to _d_{self.wrt}: "
                    f"{to_text(self.hvp_expr)}")
        return got

    def hvp_source(self, standalone: bool = False) -> str:
        """The generated source of the Hessian-vector product (the direction is the argument ``_d_X``)."""
        return self.hvp_program().source(standalone)

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The dense Hessian: (n, n) for a vector, (mn, mn) in column-major vec for a matrix."""
        if self.expr is not None:
            ev = Evaluator(self.variables, values)
            check_domain(ev, self.expr_f)
            h = ev(self.expr)
            if self.var.is_scalar:
                return ev.external(self.expr, h) if np.ndim(h) == 0 else float(np.asarray(h).reshape(-1)[0])
            n = ev.bind.size(self.var.shape[0])
            return np.broadcast_to(h, (n, n)).copy() if np.shape(h) != (n, n) else h
        x = values.get(self.wrt) if isinstance(values, Mapping) else None
        if x is None:
            raise MatdiffError(f"no value given for {self.wrt}")
        return basis_columns(self._vars, values, self.expr_f, self.var, self.direction, self.hvp_expr, self.var,
                             np.shape(x))

    def _program(self) -> Program:
        """The Hessian matrix where symbolic, else the hvp (a function of the variables and _d_X)."""
        if self.expr is not None:
            return Program(f"hessian_{self.wrt}", [self.expr], self.variables, guard_of=self.expr_f,
                           doc=f"Hessian of {to_text(self.expr_f)} w.r.t. {self.wrt}: {to_text(self.expr)}")
        return Program(f"hvp_{self.wrt}", [self.hvp_expr], self._vars, guard_of=self.expr_f,
                       doc=f"Hessian of {to_text(self.expr_f)} w.r.t. {self.wrt} applied to _d_{self.wrt}")

    def compile(self, backend: str = "numpy", batch: Batch = False, hvp: bool = False) -> Callable[..., Any]:
        """A function of the variables (keywords) returning the dense Hessian, from generated code.

        ``batch=True`` (or the names of the batched arguments): over a leading batch axis, a (B, n, n)
        result; where the Hessian is symbolic (vector and scalar variables).

        ``hvp=True``: the Hessian-vector product instead, ``f(direction, **values) -> H[direction]`` shaped
        like the variable (the direction positional, so that a variable may have any name), for loops
        (Newton-CG, trust regions, Lanczos): generated once per backend and cached, on every backend that
        ``r.compile(backend=...)`` knows; with ``batch``, over a leading batch axis of the direction
        (and of the variables named)."""
        if hvp:
            return self._compile_hvp(backend, batch)
        if batch is not False and self.expr is None:
            raise MatdiffError("batch= needs a symbolic Hessian (a vector or scalar variable); "
                               f"the Hessian with respect to {self.wrt} is computed column by column")
        return super().compile(backend, batch)

    def _compile_hvp(self, backend: str, batch: Batch) -> Callable[..., Any]:
        cache: dict[tuple[str, Any], Callable[..., Any]] = self.__dict__.setdefault("_compiled_hvp", {})
        if batch is True:
            key = batch_key(backend, True)
        else:  # the direction is always batched where anything is
            key = batch_key(backend, batch if batch is False else
                            tuple([batch] if isinstance(batch, str) else batch) + (self.direction.name,))
        fn = cache.get(key)
        if fn is None:
            fn = cache[key] = self._hvp_callable(backend, key[1])
        return fn

    def _hvp_callable(self, backend: str, batch: Batch) -> Callable[..., Any]:
        var = self.var
        doc = (f"H[V] for the Hessian of {to_text(self.expr_f)} w.r.t. {self.wrt}: hvp(V, **values), "
               f"V shaped like {self.wrt}")
        zero_or_scalar = self.hvp_expr.is_scalar and not var.is_scalar  # H = 0, or c*I with c a scalar expression
        if batch is False and not zero_or_scalar:  # the direction given first: no wrapper around the compiled call
            fn = self.hvp_program().build(backend, batch, last_first=True)
            fn.__doc__ = doc
            return fn
        fn = self.hvp_program().build(backend, batch)
        dname = self.direction.name

        def hvp(direction: Any, /, **values: Any) -> Any:
            out = fn(**values, **{dname: direction})
            if zero_or_scalar and np.shape(out) != np.shape(direction):  # a scalar: 0 (the Hessian is 0)
                return out * np.ones_like(np.asarray(direction, dtype=float)) if backend == "numpy" else \
                    out * direction * 0 + out
            return out

        hvp.__doc__ = doc
        return hvp

    def _finish(self, fn: Callable[..., Any], backend: str, batch: Batch) -> Callable[..., Any]:
        var = self.var
        if batch is not False:
            def batched_hessian(**values: Any) -> Any:
                h = fn(**values)
                if var.is_scalar or np.ndim(h) == 3:
                    return h
                n = np.shape(values[var.name])[-1]  # (B, n) or (n,): n is last either way
                return np.broadcast_to(np.reshape(h, np.shape(h)[:1] + (1, 1)), np.shape(h)[:1] + (n, n)).copy()
            return batched_hessian
        if self.expr is not None:
            if var.is_scalar:
                return fn
            name, ndarray = var.name, np.ndarray

            def hessian(**values: Any) -> Any:
                h = fn(**values)
                x = values[name]
                n = x.shape[0] if type(x) is ndarray else np.shape(x)[0]
                if type(h) is ndarray and h.shape == (n, n):
                    return h
                return np.broadcast_to(h, (n, n)).copy()
            hessian.__doc__ = fn.__doc__
            return hessian
        dname = self.direction.name

        def hessian_by_columns(**values: Any) -> Any:
            x = np.asarray(values[var.name])
            size = x.size
            cols = []
            for j in range(size):
                e = np.zeros(size)
                e[j] = 1.0
                vals = {**values, dname: project(e.reshape(x.shape, order="F"), var.kind)}
                out = fn(**vals)
                cols.append(np.ravel(np.broadcast_to(out, x.shape), order="F"))
            return np.stack(cols, axis=1)
        return hessian_by_columns


class MultiHessian:
    """The Hessian with respect to several variables, as blocks H[(a, b)] = d(grad_a f)/db.

    Made from the gradients (one derivation each) and the blocks derived from them
    (:func:`matdiff.results.derive.multi_hessian`)."""

    def __init__(self, gradients: MultiGradient, blocks: dict[tuple[str, str], Derivative | None]):
        self.wrt = gradients.wrt
        self.gradient = gradients
        self.expr_f = gradients.expr
        self.blocks = blocks

    def hvp(self, values: Mapping[str, Any], directions: Mapping[str, Any]) -> dict[str, Any]:
        """{a: sum_b H_ab[V_b]} for directions {b: V_b} (a variable without a direction: V_b = 0).

        Runs generated code, compiled on the first call and cached (``compile(hvp=True)``); where the code
        cannot be generated, the blocks are evaluated one by one."""
        return _numpy_hvp(self)(directions, **values)

    def _hvp_interpreted(self, directions: Mapping[str, Any], /, **values: Any) -> dict[str, Any]:
        """The blocks' jvps evaluated and added (the reference the compiled hvp is tested against)."""
        out: dict[str, Any] = {}
        for a in self.wrt:
            acc = None
            for b in self.wrt:
                blk = self.blocks[(a, b)]
                if blk is None or b not in directions:
                    continue
                v = blk.jvp(values, directions[b])
                acc = v if acc is None else acc + v
            x = np.asarray(values[a])
            out[a] = np.zeros(x.shape) if acc is None else acc
        return out

    def hvp_exprs(self) -> dict[str, Expr | None]:
        """{a: sum_b H_ab[_d_b]}, the directions ``_d_b`` as variables (None: the row of blocks is 0)."""
        got = self.__dict__.get("_hvp_exprs")
        if got is None:
            S = Simplifier()
            got = {}
            for a in self.wrt:
                terms = [blk.jvp_expr for b in self.wrt if (blk := self.blocks[(a, b)]) is not None]
                got[a] = S.run(add(*terms)) if terms else None
            self.__dict__["_hvp_exprs"] = got
        return got

    def hvp_program(self) -> Program:
        """The generated function ``hvp(variables..., _d_a, _d_b, ...)``: one output per variable, sharing work."""
        got = self.__dict__.get("_hvp_program_made")
        if got is None:
            exprs = {a: e for a, e in self.hvp_exprs().items() if e is not None}
            variables: dict[str, Var] = {}
            for blk in self.blocks.values():
                if blk is not None:
                    variables.update(blk.variables)
            variables.update({blk.direction.name: blk.direction for blk in self.blocks.values() if blk is not None})
            got = self.__dict__["_hvp_program_made"] = Program(
                "hvp", list(exprs.values()), variables, guard_of=self.expr_f, where=to_text(self.expr_f),
                doc=f"Hessian of {to_text(self.expr_f)} w.r.t. {', '.join(self.wrt)} applied to the directions "
                    f"{', '.join('_d_' + a for a in self.wrt)}: " + "; ".join(
                        f"{a}: {to_text(e)}" for a, e in exprs.items()))
        return got

    def hvp_source(self, standalone: bool = False) -> str:
        """The source of the generated Hessian-vector product (``standalone=True``: with its imports)."""
        return self.hvp_program().source(standalone)

    def compile(self, backend: str = "numpy", hvp: bool = True) -> Callable[..., Any]:
        """``hvp(directions, **values) -> {a: H[V]_a}`` from generated code, compiled once per backend.

        ``directions`` maps variable names to directions shaped like them (a name left out: a zero direction).
        Only the Hessian-vector product compiles for several variables (``hvp=True``); the dense matrix is
        :meth:`evaluate`."""
        if not hvp:
            raise MatdiffError("the Hessian with respect to several variables compiles as a Hessian-vector product "
                               "(hvp=True); the dense matrix is h.evaluate(values)")
        cache: dict[str, Callable[..., Any]] = self.__dict__.setdefault("_compiled_hvp", {})
        fn = cache.get(backend)
        if fn is None:
            fn = cache[backend] = self._hvp_callable(backend)
        return fn

    def _hvp_callable(self, backend: str) -> Callable[..., Any]:
        prog = self.hvp_program()
        built = prog.build(backend)
        exprs = self.hvp_exprs()
        rows = [a for a, e in exprs.items() if e is not None]
        zero_rows = [a for a, e in exprs.items() if e is None]
        dnames = {a: "_d_" + a for a in self.wrt if "_d_" + a in prog.variables}
        wrt = list(self.wrt)

        def hvp(directions: Mapping[str, Any], /, **values: Any) -> dict[str, Any]:
            unknown = [k for k in directions if k not in wrt]
            if unknown:
                raise MatdiffError(f"a direction for {', '.join(unknown)}, which is not one of the variables "
                                   f"{', '.join(wrt)}")
            given = dict(values)
            for a, d in dnames.items():
                v = directions.get(a)
                if v is None:  # no direction: 0
                    if a not in values:
                        raise MatdiffError(f"no value given for {a}")
                    v = np.zeros(np.shape(values[a]))
                given[d] = v
            got = built(**given) if rows else ()
            got = got if len(rows) != 1 else (got,)
            out: dict[str, Any] = {}
            for a in wrt:
                if a in zero_rows:
                    out[a] = np.zeros(np.shape(values[a]))
                    continue
                r = got[rows.index(a)]
                shape = np.shape(values[a])
                out[a] = r if np.shape(r) == shape else np.broadcast_to(r, shape).copy()  # H_a[V] = 0 or c*V
            return out

        hvp.__doc__ = (f"H[V] for the Hessian of {to_text(self.expr_f)} w.r.t. {', '.join(wrt)}: "
                       "hvp(directions, **values), directions a dict of arrays shaped like the variables")
        return hvp

    def evaluate(self, values: Mapping[str, Any]) -> np.ndarray:
        """The full Hessian, blocks in the order of wrt, each in column-major vec."""
        sizes = [int(np.asarray(values[a]).size) for a in self.wrt]
        rows = []
        for a, na in zip(self.wrt, sizes):
            row = []
            for b, nb in zip(self.wrt, sizes):
                blk = self.blocks[(a, b)]
                row.append(np.zeros((na, nb)) if blk is None else blk.jacobian(values))
            rows.append(np.hstack(row))
        return np.vstack(rows)

    def __str__(self) -> str:
        return "\n".join(f"H[{a},{b}]: {'0' if blk is None else to_text(blk.differential)}"
                         for (a, b), blk in self.blocks.items())


def _numpy_hvp(h: Hessian | MultiHessian) -> Callable[..., Any]:
    """The hvp that ``h.hvp`` calls: compiled for NumPy on first use and cached on ``h``, or where no code can be
    generated (a function with no NumPy lowering) the interpreted one."""
    fn = h.__dict__.get("_hvp_numpy")
    if fn is None:
        try:
            fn = h.compile(hvp=True)
        except MatdiffError:
            fn = h._hvp_interpreted
        h.__dict__["_hvp_numpy"] = fn
    return fn
