"""Generated NumPy code: a readable Python function computing an expression (a gradient).

Every subexpression used twice is computed once into a temporary; ``inv(A)*B`` becomes
``solve(A, B)``; the determinant's gradient uses the adjugate kernel (finite at singular
matrices).  The source is built from the parsed tree only, never from user text, and is
compiled with ``compile``/``exec`` in a namespace holding nothing but NumPy and the kernels.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import MatdiffError, ShapeError
from ..shapes import Dim
from ..syntax.ast import (
    Add,
    Call,
    Div,
    EPower,
    Expr,
    Eye,
    Hadamard,
    HDiv,
    MatMul,
    Neg,
    Num,
    Ones,
    Power,
    Transpose,
    Var,
    integer_value,
)
from ..syntax.printer import to_text
from . import evaluate as _ev
from . import kernels as _K


def pyname(name: str) -> str:
    """A Python identifier for a variable (keywords get a trailing underscore)."""
    return name + "_" if keyword.iskeyword(name) or name in ("True", "False", "None") else name


_CALLS: dict[str, str] = {
    "tr": "_np.trace({a})",
    "det": "_K.det({a})",
    "inv": "_K.inv({a})",
    "adj": "_K.adj({a})",
    "norm_fro": "_np.linalg.norm({a})",
    "norm1": "_np.abs({a}).sum()",
    "sum": "_np.sum({a})",
    "exp": "_np.exp({a})",
    "log": "_np.log({a})",
    "sin": "_np.sin({a})",
    "cos": "_np.cos({a})",
    "tanh": "_np.tanh({a})",
    "sqrt": "_np.sqrt({a})",
    "abs": "_np.abs({a})",
    "sign": "_K.sign({a})",
    "polar": "_K.polar({a})",
    "top_sv": "_K.top_sv({a})",
}
_SCALAR_CALLS: dict[str, str] = {
    "tr": "{a}", "det": "{a}", "sum": "{a}", "diag": "{a}", "adj": "1.0", "inv": "1.0 / {a}",
    "norm_fro": "abs({a})", "norm2": "abs({a})", "norm_nuc": "abs({a})", "norm1": "abs({a})",
    "sign": "_np.sign({a})", "polar": "_np.sign({a})", "top_sv": "_np.sign({a})",
}


class CodeGen:
    """Emits the statements computing a set of expressions, with common subexpressions shared."""

    def __init__(self, variables: Mapping[str, Var]):
        self.variables = variables
        self.lines: list[str] = []
        self.names: dict[Expr, str] = {}
        self.uses: dict[Expr, int] = {}
        self.dims: dict[Dim, str] = {}
        for name, v in variables.items():
            if v.is_scalar:
                continue
            for axis in (0, 1):
                r = v.shape[axis].find()
                if r.value is None and r not in self.dims:
                    self.dims[r] = f"{pyname(name)}.shape[{axis}]"

    def count(self, e: Expr) -> None:
        n = self.uses.get(e, 0)
        self.uses[e] = n + 1
        if n == 0:
            for c in e.children:
                self.count(c)

    def size(self, d: Dim) -> str:
        r = d.find()
        if r.value is not None:
            return str(r.value)
        got = self.dims.get(r)
        if got is None:
            raise ShapeError("the size of an identity or ones matrix is not determined by any variable")
        return got

    def __call__(self, e: Expr) -> str:
        got = self.names.get(e)
        if got is not None:
            return got
        code = getattr(self, "_g_" + type(e).__name__)(e)
        if self.uses.get(e, 0) > 1 and not isinstance(e, (Var, Num)):
            name = f"t{len(self.names)}"
            self.lines.append(f"{name} = {code}")
            self.names[e] = name
            return name
        return code

    def temp(self, code: str, comment: str = "") -> str:
        name = f"t{len(self.names) + len(self.lines)}"
        self.lines.append(f"{name} = {code}" + (f"  # {comment}" if comment else ""))
        return name

    # -- leaves
    def _g_Num(self, e: Num) -> str:
        return repr(float(e.value))

    def _g_Var(self, e: Var) -> str:
        return pyname(e.name)

    def _g_Eye(self, e: Eye) -> str:
        if e.dim is None:
            raise ShapeError("the size of eye is not determined")
        return f"_np.eye({self.size(e.dim)})"

    def _g_Ones(self, e: Ones) -> str:
        return f"_np.ones(({self.size(e.shape[0])}, {self.size(e.shape[1])}))"

    # -- operators
    def _g_Add(self, e: Add) -> str:
        parts = [self(e.terms[0])]
        for t in e.terms[1:]:
            if isinstance(t, Neg):
                parts.append(f"- {self.paren(t.arg)}")
            else:
                parts.append(f"+ {self(t)}")
        return "(" + " ".join(parts) + ")"

    def paren(self, e: Expr) -> str:
        s = self(e)
        return s if s.isidentifier() or s.startswith("(") and s.endswith(")") else f"({s})"

    def _g_Neg(self, e: Neg) -> str:
        return f"(-{self.paren(e.arg)})"

    def _g_MatMul(self, e: MatMul) -> str:
        scal = [self.paren(f) for f in e.factors if f.is_scalar]
        chain = [f for f in e.factors if not f.is_scalar]
        parts = scal + ([self.chain(chain)] if chain else [])
        return "(" + " * ".join(parts) + ")" if len(parts) > 1 else parts[0]

    def chain(self, chain: list[Expr]) -> str:
        if len(chain) == 1:
            return self.paren(chain[0])
        last = _ev._is_inv(chain[-1])
        if last is not None:  # B*inv(A) = solve(A', B')'
            return f"_K.solve({self.paren(last)}.T, {self.chain(chain[:-1])}.T).T"
        first = _ev._is_inv(chain[0])
        if first is not None:
            return f"_K.solve({self.paren(first)}, {self.chain(chain[1:])})"
        right_to_left = chain[-1].shape[1].find().value == 1 or chain[0].shape[0].find().value != 1
        if right_to_left:
            acc = self.paren(chain[-1])
            for f in reversed(chain[:-1]):
                a = _ev._is_inv(f)
                acc = f"_K.solve({self.paren(a)}, {acc})" if a is not None else f"({self.paren(f)} @ {acc})"
            return acc
        acc = self.paren(chain[0])
        for f in chain[1:]:
            a = _ev._is_inv(f)
            acc = f"_K.solve({self.paren(a)}.T, {acc}.T).T" if a is not None else f"({acc} @ {self.paren(f)})"
        return acc

    def _g_Div(self, e: Div) -> str:
        return f"({self.paren(e.num)} / {self.paren(e.den)})"

    def _g_Hadamard(self, e: Hadamard) -> str:
        return f"({self.paren(e.a)} * {self.paren(e.b)})"

    def _g_HDiv(self, e: HDiv) -> str:
        return f"({self.paren(e.a)} / {self.paren(e.b)})"

    def _g_Power(self, e: Power) -> str:
        if e.base.is_scalar:
            return f"({self.paren(e.base)} ** {self.paren(e.exp)})"
        k = integer_value(e.exp)
        if k is not None and k < 0:
            return f"_np.linalg.matrix_power(_K.inv({self(e.base)}), {-k})"
        return f"_np.linalg.matrix_power({self(e.base)}, {k})"

    def _g_EPower(self, e: EPower) -> str:
        k = integer_value(e.b)
        if k == 2:
            a = self.paren(e.a)
            return f"({a} * {a})"
        return f"({self.paren(e.a)} ** {self.paren(e.b)})"

    def _g_Transpose(self, e: Transpose) -> str:
        return self(e.arg) if e.arg.is_scalar else f"{self.paren(e.arg)}.T"

    def _g_Call(self, e: Call) -> str:
        a = self(e.arg)
        if e.arg.is_scalar and e.fn in _SCALAR_CALLS:
            return _SCALAR_CALLS[e.fn].format(a=a)
        if e.fn == "logdet":
            spd = isinstance(e.arg, Var) and e.arg.kind == "spd"
            return f"_K.logdet({a}, spd={spd})" if e.arg.shape else f"_np.log({a})"
        if e.fn == "diag":
            if e.arg.is_vector:
                return f"_np.diag({a}[:, 0])"
            if e.arg.shape[0].find().value == 1:
                return f"_np.diag({a}[0, :])"
            return f"_np.diag({a}).reshape(-1, 1)"
        if e.fn in ("norm2", "norm_nuc"):
            if e.arg.is_vector or e.arg.shape[0].find().value == 1:
                return f"_np.linalg.norm({a})"
            return f"_K.{e.fn}({a})"
        return _CALLS[e.fn].format(a=a)


def _out(e: Expr, code: str) -> str:
    if e.is_scalar:
        return f"_scalar({code})"
    if e.is_vector:
        return f"{code}[:, 0]"
    if e.shape[0].find().value == 1:
        return f"{code}[0, :]"
    return code


def _scalar(v: Any) -> Any:
    v = np.asarray(v).reshape(())[()]
    return float(v) if np.isrealobj(v) else complex(v)


def generate(name: str, outputs: Sequence[Expr], variables: Mapping[str, Var], guard_of: Expr | None = None,
             doc: str = "") -> str:
    """Source of ``def name(vars...)`` returning the outputs (a tuple when there are several)."""
    gen = CodeGen(variables)
    checks = _ev.guards(guard_of) if guard_of is not None else []
    for _, e, _ in checks:
        gen.count(e)
    for o in outputs:
        gen.count(o)
    params = [pyname(n) for n in variables]
    head = [f"def {name}({', '.join(params)}):"]
    if doc:
        head.append(f'    """{doc}"""')
    for n, v in variables.items():
        p = pyname(n)
        if v.is_vector:
            head.append(f"    {p} = _np.reshape({p}, (-1, 1))")
        elif not v.is_scalar:
            head.append(f"    {p} = _np.asarray({p})")
    for kind, e, what in checks:
        code = gen(e)
        if kind in ("logdet", "invertible"):
            if not code.isidentifier():  # evaluating it raises where it is undefined
                gen.lines.append(f"{code}  # domain check")
        else:
            gen.lines.append(f"_check({kind!r}, {code}, {what!r}, {to_text(e)!r})")
    results = [_out(o, gen(o)) for o in outputs]
    body = [f"    {line}" for line in gen.lines]
    ret = results[0] if len(results) == 1 else "(" + ", ".join(results) + ")"
    return "\n".join(head + body + [f"    return {ret}"]) + "\n"


def build(source: str, name: str) -> Callable[..., Any]:
    """The function defined by generated source."""
    namespace: dict[str, Any] = {"_np": np, "_K": _K, "_check": _ev.check, "_scalar": _scalar}
    try:
        exec(compile(source, f"<matdiff:{name}>", "exec"), namespace)  # noqa: S102 - generated, not user text
    except SyntaxError as err:  # pragma: no cover
        raise MatdiffError(f"internal: generated code does not compile: {err}") from None
    return namespace[name]
