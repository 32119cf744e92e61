"""Evaluation of typed expressions with NumPy.

Inside, a scalar is a NumPy scalar and a vector an (n, 1) array; values are checked against
the shapes the expression implies (a ShapeError names the variable, the size expected and
the size given).  Equal subexpressions are computed once (memo keyed on structure).
``inv(A)*B`` is computed as ``solve(A, B)``, never by forming the inverse.
Complex inputs are accepted (the complex-step check uses them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import expit

from ..core.nodes import (
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
from ..core.shapes import Dim
from ..errors import DomainError, MatdiffError, ShapeError
from ..functions.elementwise import logistic
from ..functions.linalg import is_inverse as _is_inv
from ..runtime import kernels as K
from ..runtime.numpy import check
from ..syntax.printer import to_text
from .patterns import inverse_power, inverse_powers, scaled_factor

Value = Any


_UNDER = 2.0**-960  # a product below this may have lost digits to underflow (float64's normal range ends at 2^-1022)


class _Known:
    """A factor of a product whose value is already computed (scaled), standing where ``expr`` stood."""

    __slots__ = ("value", "shape")

    def __init__(self, value: Value, expr: Expr):
        self.value, self.shape = value, expr.shape


def _holds_inverse(t: Expr) -> bool:
    """t is, or is a product holding, an inverse or a power of one (computed by solves in a product)."""
    if _is_inv(t) is not None or inverse_power(t) is not None:
        return True
    return isinstance(t, MatMul) and any(_holds_inverse(f) for f in t.factors)


class Bindings:
    """Concrete sizes of the symbolic dims, read off the values given."""

    def __init__(self, variables: Mapping[str, Var], values: Mapping[str, Value]):
        self.sizes: dict[Dim, int] = {}
        self.owner: dict[Dim, str] = {}
        self.values: dict[str, Value] = {}
        missing = [n for n in variables if n not in values]
        if missing:
            raise MatdiffError(f"no value given for {', '.join(missing)} (the expression needs "
                               f"{', '.join(variables)})")
        for name, var in variables.items():
            self.values[name] = self._internal(var, values[name])

    def size(self, d: Dim) -> int:
        r = d.find()
        if r.value is not None:
            return r.value
        got = self.sizes.get(r)
        if got is None:
            raise ShapeError(f"the size {r} is not determined by the values of any variable here")
        return got

    def _bind(self, var: Var, axis: int, size: int) -> None:
        r = var.shape[axis].find()
        what = ("rows", "columns")[axis] if not var.is_vector else "entries"
        if r.value is not None and r.value != size:
            raise ShapeError(f"{var.name} must have {r.value} {what} ({_expected(var)}), "
                             f"but its value has {size}")
        if r.value is None:
            prev = self.sizes.get(r)
            if prev is not None and prev != size:
                raise ShapeError(f"{var.name} has {size} {what}, but {self.owner[r]} fixes "
                                 f"{r} = {prev}: the sizes of the values do not fit the expression")
            self.sizes[r] = size
            self.owner.setdefault(r, var.name)

    def _internal(self, var: Var, value: Value) -> Value:
        try:
            a = np.asarray(value)
        except Exception:
            raise MatdiffError(f"the value of {var.name} is not an array of numbers") from None
        if a.dtype.kind not in "biufc":
            raise MatdiffError(f"the value of {var.name} is not numeric (dtype {a.dtype})")
        if a.dtype.kind in "biuf" and a.dtype != np.float64:  # one rule, as compiled code: float64
            a = a.astype(np.float64)
        elif a.dtype.kind == "c" and a.dtype != np.complex128:
            a = a.astype(np.complex128)
        if not np.all(np.isfinite(a)):
            raise DomainError(f"the value of {var.name} has NaN or infinite entries")
        if var.is_scalar:
            if a.size != 1:
                raise ShapeError(f"{var.name} is a scalar, but its value has shape {a.shape}")
            return a.reshape(())[()]
        if var.is_vector:
            if a.ndim == 2 and a.shape[1] == 1:
                a = a[:, 0]
            if a.ndim != 1:
                raise ShapeError(f"{var.name} is a vector: give a 1-D array, not shape {a.shape}")
            self._bind(var, 0, a.shape[0])
            return a.reshape(-1, 1)
        if a.ndim != 2:
            raise ShapeError(f"{var.name} is a matrix: give a 2-D array, not shape {a.shape}")
        self._bind(var, 0, a.shape[0])
        self._bind(var, 1, a.shape[1])
        if var.symmetric:
            scale = float(np.max(np.abs(a))) if a.size else 0.0
            if np.max(np.abs(a - a.T), initial=0.0) > 1e-10 * max(scale, 1e-300):
                raise DomainError(f"{var.name} is declared {var.kind}, but its value is not symmetric "
                                  f"(max |{var.name} - {var.name}'| = {np.max(np.abs(a - a.T)):.3g})")
            if var.kind == "diagonal" and np.any(a - np.diag(np.diag(a))):
                raise DomainError(f"{var.name} is declared diagonal, but its value has off-diagonal entries")
        return a


def _expected(var: Var) -> str:
    r, c = var.shape
    return f"a vector of length {r}" if var.is_vector else f"a {r}x{c} matrix"


class Evaluator:
    """Values of typed expressions at one point; shared subexpressions computed once."""

    def __init__(self, variables: Mapping[str, Var], values: Mapping[str, Value]):
        self.bind = Bindings(variables, values)
        self.memo: dict[Expr, Value] = {}
        self._outer = True

    def __call__(self, e: Expr) -> Value:
        got = self.memo.get(e)
        if got is None and self._outer:  # numpy's overflow warnings off: ``external`` refuses what is not finite
            self._outer = False
            try:
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    return self(e)
            except np.linalg.LinAlgError as err:  # an SVD or solve of entries that overflowed to inf
                raise DomainError(f"the linear algebra failed at this point ({err}): an overflow, or a value "
                                  "outside the domain") from None
            except (OverflowError, ZeroDivisionError):  # Python floats (a ** -1 of a subnormal), where NumPy gives inf
                raise DomainError("the result is not finite at this point (an overflow, or a value outside the "
                                  "domain)") from None
            finally:
                self._outer = True
        if got is None:
            got = getattr(self, "_ev_" + type(e).__name__)(e)
            if e.is_scalar and isinstance(got, np.ndarray):
                got = got.reshape(())[()]  # a 1x1 product is a scalar
            self.memo[e] = got
        return got

    def forget(self, name: str) -> None:
        """Drop the memoised values that depend on the variable ``name`` (after changing its value)."""
        self.memo = {k: v for k, v in self.memo.items() if name not in k.free}

    def external(self, e: Expr, value: Value) -> Value:
        """The value as the user sees it: a scalar, a 1-D vector or a 2-D matrix; DomainError where an entry
        is not finite (the inputs are: an overflow, or a point outside the domain no guard caught)."""
        if not np.all(np.isfinite(value)):
            raise DomainError("the result is not finite at this point (an overflow, or a value outside the domain)")
        if e.is_scalar:
            v = np.asarray(value).reshape(())[()]
            return float(v) if np.isrealobj(v) else complex(v)
        if e.is_vector:
            return np.asarray(value)[:, 0]
        if e.shape[0].find().value == 1 and np.ndim(value) == 2:
            return np.asarray(value)[0, :]  # a row vector comes back 1-D too
        return value

    # -- leaves
    def _ev_Num(self, e: Num) -> Value:
        return np.float64(e.value)

    def _ev_Var(self, e: Var) -> Value:
        return self.bind.values[e.name]

    def _ev_Eye(self, e: Eye) -> Value:
        if e.dim is None:
            raise ShapeError("the size of eye is not determined: write eye(X) for the identity "
                             "with as many rows as X, or use eye beside a matrix")
        try:
            return np.eye(self.bind.size(e.dim))
        except ShapeError:
            raise ShapeError("the size of eye is not determined by any variable: write eye(X) for the "
                             "identity with as many rows as X") from None

    def _ev_Ones(self, e: Ones) -> Value:
        return np.ones((self.bind.size(e.shape[0]), self.bind.size(e.shape[1])))

    # -- operators
    def _ev_Add(self, e: Add) -> Value:
        out = self(e.terms[0])
        for t in e.terms[1:]:
            out = out + self(t)
        return out

    def _ev_Neg(self, e: Neg) -> Value:
        return -self(e.arg)

    def _ev_MatMul(self, e: MatMul) -> Value:
        scale: Value = None
        chain: list[Expr] = []
        factors = inverse_powers(list(e.factors))  # A^-k*B as k solves
        if len(factors) > 2:  # sizes settled since typing (eye beside a row vector is 1x1)
            from ..core.build import group_scalar_runs

            factors = group_scalar_runs(factors)
        for f in factors:  # (inv(A)^2 + B)*x = solve(A, solve(A, x)) + B*x: distribute over the sum, as codegen
            if isinstance(f, Add) and not f.is_scalar and not any(t.is_scalar for t in f.terms) \
                    and any(_holds_inverse(t) for t in f.terms):
                i = factors.index(f)
                return self(Add(tuple(MatMul(tuple(factors[:i] + [t] + factors[i + 1:])) for t in f.terms)))
        for f in factors:
            if f.is_scalar:
                v = self(f)
                scale = v if scale is None else scale * v
            else:
                chain.append(f)
        if not chain:
            return scale
        out = self._chain(chain)
        if scale is None:
            return out
        big = np.max(np.abs(out), initial=0.0)
        if big < _UNDER or not np.isfinite(big):
            # the product alone under- or overflowed: let the scalars scale its smallest factor first, as generated
            # code does (X*u*u'/norm_fro(X*u) at entries ~1e-150 is X*(u/norm)*u'; X*u*u' ~1e-450 underflows to 0),
            # else its first (a*inv(A)'*inv(A)' at A, a ~ 1e200: (a*inv(A)')*inv(A)', an inverse formed here only)
            k = scaled_factor(chain)
            k = 0 if k is None else k
            return self._chain(chain[:k] + [_Known(scale * self(chain[k]), chain[k])] + chain[k + 1:])
        return scale * out

    def _val(self, f: Expr | _Known) -> Value:
        return f.value if isinstance(f, _Known) else self(f)

    def _chain(self, chain: list[Expr | _Known]) -> Value:
        """The product of a chain of matrices, with inv(A)*B computed as solve(A, B)."""
        if len(chain) == 1:
            return self._val(chain[0])
        last = _is_inv(chain[-1])
        if last is not None:  # B*inv(A) = solve(A', B')'
            return K.solve(self(last).T, self._chain(chain[:-1]).T).T
        right_to_left = chain[-1].shape[1].find().value == 1 or chain[0].shape[0].find().value != 1
        if right_to_left:
            acc = self._val(chain[-1])
            for f in reversed(chain[:-1]):
                a = _is_inv(f)
                acc = K.solve(self(a), acc) if a is not None else self._val(f) @ acc
            return acc
        first = _is_inv(chain[0])
        if first is not None:  # inv(A)*B...: the rest first, then one solve
            return K.solve(self(first), self._chain(chain[1:]))
        acc = self._val(chain[0])
        for f in chain[1:]:
            a = _is_inv(f)
            acc = K.solve(self(a).T, acc.T).T if a is not None else acc @ self._val(f)
        return acc

    def _ev_Div(self, e: Div) -> Value:
        den = self(e.den)
        if den == 0:
            raise DomainError(f"division by zero: {to_text(e.den)} = 0 at this point (the expression is not "
                              "differentiable, or not defined, there)")
        return self(e.num) / den

    def _ev_Hadamard(self, e: Hadamard) -> Value:
        return self(e.a) * self(e.b)

    def _ev_HDiv(self, e: HDiv) -> Value:
        form = logistic(e)
        if form is not None:  # exp(u)^j ./ (1 + exp(u))^k by the sigmoid: no overflow
            u, j, k, rest = form
            uv = self(u)
            if not np.iscomplexobj(uv):
                out = expit(uv) ** j * expit(-uv) ** (k - j)
                for f in rest:
                    out = out * self(f)
                return out
        b = self(e.b)
        if np.any(b == 0):
            raise DomainError(f"division by zero: {to_text(e.b)} has zero entries at this point")
        return self(e.a) / b

    def _ev_Power(self, e: Power) -> Value:
        a, p = self(e.base), self(e.exp)
        if e.base.is_scalar:
            return _scalar_power(a, p, e)
        k = integer_value(e.exp)
        if k is None:
            raise ShapeError(f"{to_text(e)}: a matrix power needs an integer exponent")
        if k < 0:
            a, k = K.inv(a), -k
        return np.linalg.matrix_power(a, k)

    def _ev_EPower(self, e: EPower) -> Value:
        a, p = self(e.a), self(e.b)
        p_arr = np.asarray(p)
        if np.all(np.isreal(p_arr)) and np.all(np.mod(np.real(p_arr), 1) == 0):
            if np.any(np.real(p_arr) < 0) and np.any(np.asarray(a) == 0):
                raise DomainError(f"{to_text(e)}: a negative power of a zero entry")
            return a ** p
        if np.any(np.real(a) <= 0):
            raise DomainError(f"{to_text(e)}: a fractional power needs positive entries")
        return a ** p

    def _ev_Transpose(self, e: Transpose) -> Value:
        v = self(e.arg)
        return v if e.arg.is_scalar else v.T

    def _ev_Call(self, e: Call) -> Value:
        if e.fn.evaluate is None:
            raise MatdiffError(f"{e.fn.name} has no NumPy evaluation")
        return e.fn.evaluate(self, e)  # the function's own, from its registry entry


def _scalar_power(a: Value, p: Value, e: Expr) -> Value:
    if np.isrealobj(p) and float(p).is_integer():
        if a == 0 and p < 0:
            raise DomainError(f"{to_text(e)}: a negative power of 0")
        return a ** int(p) if abs(p) < 2**31 else a ** p
    if np.real(a) <= 0 and np.isrealobj(a):
        raise DomainError(f"{to_text(e)}: a fractional power of {to_text(e.base)} = {a:.6g} <= 0")
    return a ** p


# ------------------------------------------------------------------------------- domain guards
def guards(f: Expr) -> list[tuple[str, Expr, str]]:
    """Where f is undefined or not differentiable: (check, subexpression, description)."""
    out: list[tuple[str, Expr, str]] = []
    seen: set[Expr] = set()
    stack = [f]
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        stack.extend(e.children)
        if isinstance(e, Call):
            # norms and abs need no guard: their gradients divide by the norm or take a sign,
            # which refuse at the points where they do not exist (and only there: norm^2 is fine at 0)
            if e.fn.guard is not None:
                out.extend(e.fn.guard(e))
            if e.fn.expand is not None:  # a function defined by an expression: the guards of its body
                stack.append(e.fn.expand(e))
        elif isinstance(e, (Div, HDiv)):
            den = e.den if isinstance(e, Div) else e.b
            out.append(("no_zero_entry", den, f"the divisor {to_text(den)}"))
        elif isinstance(e, (Power, EPower)):
            base, p = (e.base, e.exp) if isinstance(e, Power) else (e.a, e.b)
            if integer_value(p) is None and (isinstance(e, EPower) or base.is_scalar):
                out.append(("positive", base, f"{to_text(base)} to the fractional power {to_text(p)}"))
    return out


def check_domain(ev: Evaluator, f: Expr) -> None:
    """Raise DomainError where f is undefined or not differentiable at the evaluator's point."""
    for kind, e, what in guards(f):
        if kind in ("evaluates", "invertible"):
            ev(e)  # evaluating raises where it is undefined
            continue
        check(kind, ev(e), what, to_text(e))
