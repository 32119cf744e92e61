"""The public functions: parse, grad, evaluate (DESIGN.md's contract)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np

from .differential import expand, identify
from .errors import MatdiffError, ShapeError
from .shapes import TypeEnv
from .steps import Derived, Step
from .syntax.ast import Expr, Var
from .syntax.latex import latex_name, to_latex
from .syntax.parser import parse as _parse
from .syntax.printer import to_text
from .syntax.typing import typecheck, variables

Types = Mapping[str, str] | None
Batch = bool | str | Collection[str]


def _batch_key(backend: str, batch: Batch) -> tuple[str, Any]:
    return backend, batch if isinstance(batch, (bool, str)) else tuple(batch)


def _deep(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A RecursionError (a derivative nested past Python's stack) becomes a LimitError."""
    import functools

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RecursionError:
            from .errors import LimitError

            raise LimitError("the expression or its derivative is nested too deeply to handle") from None
    return call


def parse(text: str) -> Expr:
    """The expression tree of ``text`` (a ParseError with the position and a caret if it is not one)."""
    return _parse(text)


def typed(expr: str | Expr, types: Types = None) -> tuple[Expr, dict[str, Var]]:
    """The typed tree of expr and its variables (ShapeError where the sizes do not fit)."""
    tree = parse(expr) if isinstance(expr, str) else expr
    if not isinstance(tree, Expr):
        raise MatdiffError(f"an expression must be text or a matdiff expression, not {type(expr).__name__}")
    if tree.typed:  # typed already: keep its variables and sizes (re-typing would make new ones)
        return tree, variables(tree)
    env = TypeEnv(types)
    for name in (types or {}):
        env.shape(name)  # named sizes are shared even by variables that do not occur
    t = typecheck(tree, env)
    return t, variables(t)


@_deep
def evaluate(expr: str | Expr, values: Mapping[str, Any], types: Types = None) -> Any:
    """The value of expr at ``values``: a float, a 1-D array (vector) or a 2-D array (matrix)."""
    from .numeric.evaluate import Evaluator

    t, vs = typed(expr, types)
    ev = Evaluator(vs, values)
    return ev.external(t, ev(t))


def _wrt_var(f: Expr, vs: Mapping[str, Var], wrt: str) -> Var:
    if not isinstance(wrt, str):
        raise MatdiffError(f"wrt must be a variable name, not {wrt!r}")
    var = vs.get(wrt)
    if var is None:
        names = ", ".join(vs) or "none"
        raise MatdiffError(f"{wrt} does not occur in {to_text(f)} (its variables: {names})")
    return var


class GradientResult(Derived):
    """The gradient of a scalar expression with respect to one variable, with its derivation."""

    def __init__(self, f: Expr, var: Var, variables: dict[str, Var], gradient: Expr,
                 differential: Callable[[], Expr], steps: list[Step]):
        self.expr = f
        self.var = var
        self.wrt = var.name
        self.variables = variables
        self.gradient = gradient
        self._differential = differential
        self._df: Expr | None = None
        self.steps = steps
        self._fns: dict[tuple[str, Any], Callable[..., Any]] = {}
        self._sources: dict[str, str] = {}

    @property
    def differential(self) -> Expr:
        """df in the form tr(M'*dX) (g'*dx for a vector, c*dt for a scalar)."""
        if self._df is None:
            self._df = self._differential()
        return self._df

    # -- display
    @property
    def latex(self) -> str:
        """LaTeX of the gradient."""
        return to_latex(self.gradient)

    def __str__(self) -> str:
        return f"grad_{self.wrt} {to_text(self.expr)} = {to_text(self.gradient)}"

    def __repr__(self) -> str:
        return f"<GradientResult {self}>"

    def _repr_latex_(self) -> str:
        return rf"$\nabla_{{{latex_name(self.wrt)}}}\, {to_latex(self.expr)} = {self.latex}$"

    def _repr_html_(self) -> str | None:
        from .web.notebook import gradient_html

        return gradient_html(self)

    # -- numbers
    def _needed(self) -> dict[str, Var]:
        out = dict(self.variables)
        out.update(variables(self.gradient))
        return out

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The gradient at ``values``: an array shaped like the variable (a float for a scalar)."""
        from .numeric.evaluate import Evaluator, check_domain

        ev = Evaluator(self.variables, values)
        check_domain(ev, self.expr)
        return ev.external(self.var, _as_shape(ev(self.gradient), self.var, ev))

    def source(self, backend: str = "numpy", standalone: bool = False) -> str:
        """The generated source of the compiled gradient function (the same text for every backend);
        ``standalone=True`` adds the imports it needs, to paste into a module."""
        if standalone:
            from .numeric.codegen import standalone as _standalone

            return _standalone(self.source(backend))
        src = self._sources.get("source")
        if src is None:
            from .numeric.codegen import generate

            doc = f"Gradient of {to_text(self.expr)} with respect to {self.wrt}: {to_text(self.gradient)}"
            g = self._outputs()[0]
            form = "tr(M'*d" + self.wrt + ")" if not (self.var.is_scalar or self.var.is_vector) else "the form above"
            comment = ["derivation (matdiff):", f"  df = {to_text(self.differential)}",
                       f"  compare with {form}: M = {to_text(self.gradient)}"]
            src = generate(f"grad_{self.wrt}", [g], self.variables, guard_of=self.expr, doc=doc, comment=comment)
            self._sources["source"] = src
        return src

    def _outputs(self) -> list[Expr]:
        """What the generated function computes: the gradient, a constant one shaped like the variable."""
        g = self.gradient
        if g.is_scalar and not self.var.is_scalar:
            from .build import mul
            from .syntax.ast import Ones

            g = mul(g, Ones(self.var))
        return [g]

    def compile(self, backend: str = "numpy", batch: Batch = False) -> Callable[..., Any]:
        """A function of the variables (keyword arguments) returning the gradient, from generated code.

        ``backend`` is "numpy" or one of matdiff.backends ("jax", "torch", "cupy", "dask") where installed.
        ``batch=True`` evaluates over a leading batch axis of every argument (a list of names: of those
        only) without a Python loop; the result gains that axis (numpy, jax, torch)."""
        key = _batch_key(backend, batch)
        fn = self._fns.get(key)
        if fn is None:
            from .numeric.codegen import build, make_callable

            raw = build(self.source(), f"grad_{self.wrt}", backend)
            if batch is not False:
                from .numeric.codegen import batched

                fn = batched(raw, self.variables, list(self.variables), backend, batch, where=to_text(self.expr))
            else:
                fn = make_callable(raw, self.variables, list(self.variables),
                                   f"Gradient of {to_text(self.expr)} w.r.t. {self.wrt}.", where=to_text(self.expr),
                                   outputs=self._outputs())
            self._fns[key] = fn
        return fn


def _as_shape(value: Any, var: Var, ev: Any) -> Any:
    """A zero or scalar result broadcast to the variable's shape."""
    if var.is_scalar:
        return value
    shape = (ev.bind.size(var.shape[0]), ev.bind.size(var.shape[1]))
    if np.shape(value) != shape:
        value = np.broadcast_to(value, shape).copy()
    return value


@_deep
def grad(expr: str | Expr, wrt: str, types: Types = None) -> GradientResult:
    """The gradient of a scalar expression with respect to the variable ``wrt``, with the steps."""
    f, vs = typed(expr, types)
    if not f.is_scalar:
        raise ShapeError(f"grad needs a scalar expression, but {to_text(f)} is not a scalar; "
                         "use matdiff.derivative for the Jacobian")
    var = _wrt_var(f, vs, wrt)
    df, steps = expand(f, var)
    ident = identify(df, var)
    steps = steps + ident.steps
    return GradientResult(f, var, vs, ident.gradient, ident.differential_form, steps)


def _wrt_list(wrt: str | list[str] | tuple[str, ...]) -> list[str] | None:
    if isinstance(wrt, (list, tuple)):
        if not wrt or not all(isinstance(w, str) for w in wrt):
            raise MatdiffError(f"wrt must be a variable name or a non-empty list of names, not {wrt!r}")
        if len(set(wrt)) != len(wrt):
            raise MatdiffError(f"wrt names a variable twice: {list(wrt)}")
        return list(wrt)
    return None


class MultiGradient:
    """Gradients with respect to several variables; compiled code shares their common work."""

    def __init__(self, results: dict[str, GradientResult]):
        self.results = results
        first = next(iter(results.values()))
        self.expr = first.expr
        self.variables = first.variables
        self.wrt = list(results)
        self._fns: dict[tuple[str, Any], Callable[..., Any]] = {}
        self._src: str | None = None

    @property
    def gradient(self) -> dict[str, Expr]:
        return {k: r.gradient for k, r in self.results.items()}

    gradients = gradient

    @property
    def steps(self) -> dict[str, list[Step]]:
        return {k: r.steps for k, r in self.results.items()}

    @property
    def latex(self) -> dict[str, str]:
        return {k: r.latex for k, r in self.results.items()}

    def __getitem__(self, name: str) -> GradientResult:
        return self.results[name]

    def __str__(self) -> str:
        return "\n".join(str(r) for r in self.results.values())

    def _repr_latex_(self) -> str:
        rows = [rf"\nabla_{{{latex_name(k)}}} f &= {r.latex}" for k, r in self.results.items()]
        return "$$\\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}$$"

    def _repr_html_(self) -> str | None:
        from .web.notebook import multigradient_html

        return multigradient_html(self)

    def evaluate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Each gradient at ``values``, by name (one evaluation: shared subexpressions once)."""
        from .numeric.evaluate import Evaluator, check_domain

        ev = Evaluator(self.variables, values)
        check_domain(ev, self.expr)
        return {k: ev.external(r.var, _as_shape(ev(r.gradient), r.var, ev)) for k, r in self.results.items()}

    def source(self, backend: str = "numpy", standalone: bool = False) -> str:
        """The generated source (the same text for every backend); standalone=True adds its imports."""
        if standalone:
            from .numeric.codegen import standalone as _standalone

            return _standalone(self.source(backend))
        if self._src is None:
            from .numeric.codegen import generate

            outs = [g for r in self.results.values() for g in r._outputs()]
            doc = f"Gradients of {to_text(self.expr)} with respect to {', '.join(self.wrt)}"
            self._src = generate("gradients", outs, self.variables, guard_of=self.expr, doc=doc)
        return self._src

    def compile(self, backend: str = "numpy", batch: Batch = False) -> Callable[..., dict[str, Any]]:
        """A function of the variables returning {name: gradient}, from one generated function."""
        key = _batch_key(backend, batch)
        got = self._fns.get(key)
        if got is None:
            from .numeric.codegen import build, make_callable

            raw = build(self.source(), "gradients", backend)
            if batch is not False:
                from .numeric.codegen import batched

                call = batched(raw, self.variables, list(self.variables), backend, batch, where=to_text(self.expr))
            else:
                outs = [g for r in self.results.values() for g in r._outputs()]
                call = make_callable(raw, self.variables, list(self.variables), where=to_text(self.expr),
                                     outputs=outs)
            wrt = self.wrt

            def gradients(**values: Any) -> dict[str, Any]:
                out = call(**values)
                return dict(zip(wrt, out if len(wrt) > 1 else (out,)))
            self._fns[key] = got = gradients
        return got


_grad_one = grad


def grad(expr: str | Expr, wrt: str | list[str], types: Types = None) -> Any:  # type: ignore[no-redef]
    """The gradient of a scalar expression w.r.t. ``wrt`` (a name, or a list for several at once)."""
    names = _wrt_list(wrt)
    if names is None:
        return _grad_one(expr, wrt, types)
    f, vs = typed(expr, types)
    return MultiGradient({n: _grad_one(f, n, types) for n in names})


@_deep
def derivative(expr: str | Expr, wrt: str, types: Types = None) -> Any:
    """The derivative of an expression of any shape w.r.t. ``wrt``: dF, jvp, vjp and the Jacobian."""
    from .jacobians import Derivative

    f, vs = typed(expr, types)
    var = _wrt_var(f, vs, wrt)
    df, steps = expand(f, var, lhs="dF", lhs_latex=r"\mathrm{d}F")
    return Derivative(f, var, vs, df, steps)


@_deep
def hessian(expr: str | Expr, wrt: str | list[str], types: Types = None) -> Any:
    """The Hessian of a scalar expression w.r.t. ``wrt`` (a list of two or more gives the blocks)."""
    from .hessians import Hessian, MultiHessian

    names = _wrt_list(wrt)
    if names is not None:
        return MultiHessian(expr, names, types)
    r = _grad_one(expr, wrt, types)
    return Hessian(r.expr, r.var, r.variables, r.gradient, r.steps)
