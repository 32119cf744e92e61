"""Generated NumPy code: a readable Python function computing expressions (values, gradients).

The lowering does what an expert does by hand:

* every subexpression is computed once (also across the value and the gradients);
* a matrix that is inverted, solved with, or whose det/logdet/adjugate is needed is factored
  once (Cholesky when declared spd, else LU) and the factors are shared;
* ``inv(A)*B`` becomes a solve; an inverse is formed only where it is itself part of a result
  (and then reused rather than solved again);
* products are ordered by cost (matrix-chain order, vectors counted as such): ``x'*A*B*y``
  never forms ``A*B``; ``diag(v)*A`` is ``v * A`` (a broadcast, not a dense diagonal);
* ``tr(A*B)`` is ``sum(A * B')`` (no product formed).

The source is built from the parsed tree only, never from user text, and is compiled with
``compile``/``exec`` in a namespace holding nothing but NumPy and matdiff's kernels.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from functools import lru_cache
from operator import itemgetter
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..core.build import is_symmetric
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
    number_value,
)
from ..core.shapes import Dim
from ..errors import DomainError, MatdiffError, ShapeError
from ..functions.elementwise import logistic, sigmoid
from ..functions.linalg import inv, is_inverse
from ..functions.reductions import diag
from ..functions.registry import entries
from ..runtime import batch as _batch_runtime
from ..runtime import namespace_for, protocol
from ..runtime.numpy import finite as _finite
from ..runtime.numpy import scalar as _scalar
from ..runtime.protocol import BadShapes as _BadShapes
from ..runtime.vmap import batched as _batched
from ..syntax.printer import to_text
from .domain import Bindings, guards
from .patterns import (
    inverse_power,
    inverse_powers,
    is_diag_of_vector,
    scaled_factor,
    size_estimate,
)

TEMPORARY = r"(?<![\w.])_t\d+\b"  # a temporary of generated code: _t0, _t1, ... (never a user's name)


def pyname(name: str) -> str:
    """The Python identifier of a variable in generated code.

    Generated code names its own things with a leading underscore (``_t0``, ``_np``, ``_dX``), which
    the language's identifiers never have, so a user's ``t0`` cannot meet a temporary.  A keyword
    gets a trailing underscore, and so does every name that is a keyword followed by underscores:
    ``lambda`` -> ``lambda_``, ``lambda_`` -> ``lambda__`` (one-to-one, so no two variables meet).
    """
    base = name.rstrip("_")
    return name + "_" if keyword.iskeyword(base) or base in ("True", "False", "None") else name


def _num(v: Fraction | float | int) -> str:
    if isinstance(v, int) and abs(v) <= 2**53:  # a larger int would be a Python int of NumPy's object dtype
        return str(v)
    return repr(float(v))


def _base(code: str) -> str:
    """The base of a power: (-1) ** k, not -1 ** k, which Python reads as -(1 ** k)."""
    return f"({code})" if code.startswith("-") else code


def _inv_arg(e: Expr) -> tuple[Expr, bool] | None:
    """(A, transposed) when e is inv(A) or inv(A)'."""
    if isinstance(e, Call) and e.fn is inv and not e.arg.is_scalar:
        return e.arg, False
    if isinstance(e, Transpose) and isinstance(e.arg, Call) and e.arg.fn is inv and not e.arg.arg.is_scalar:
        return e.arg.arg, True
    return None


_is_diag = is_diag_of_vector
_SYM_FUNCTIONS = ("expm", "logm", "sqrtm")  # f(S) of a symmetric S by one eigh (their registry entries' lowering)
_text = lru_cache(maxsize=4096)(to_text)  # an expression's text (evaluation lowers the same trees again and again)


class Lowering:
    """Expressions -> straight-line NumPy statements, with sharing and stable kernels."""

    def __init__(self, variables: Mapping[str, Var]):
        self.stmts: list[tuple[str, str]] = []
        self.keys: dict[str, str] = {}
        self.memo: dict[Expr, str] = {}
        self.factors: dict[Expr, str] = {}
        self.standalone_inv: set[Expr] = set()
        self.sym_frechets: dict[tuple[Expr, str], set[Expr]] = {}  # (S, "logm"): the E of each L_f(S, E) to compute
        self.dims: dict[Dim, str] = {}
        for name, v in variables.items():
            if v.is_scalar:
                continue
            for axis in (0, 1):
                r = v.shape[axis].find()
                if r.value is None and r not in self.dims:
                    self.dims[r] = f"{self.var_code(name)}.shape[{axis}]"

    # -- bookkeeping
    def var_code(self, name: str) -> str:
        """The code of a variable: its Python name."""
        return pyname(name)

    def rescaled(self, product: str, chain: list[Expr], scal: list[Expr]) -> str | None:
        """The product of ``chain`` again, with the scalars ``scal`` applied to a factor, where ``product`` (the chain's
        own product) left float64's range; None where it did not, or cannot be known (generated code: the scalars
        scale the smallest factor already where that is smaller than the product, ``scaled_factor``)."""
        return None

    def emit(self, code: str) -> str:
        got = self.keys.get(code)
        if got is not None:
            return got
        name = f"_t{len(self.stmts)}"
        self.stmts.append((name, code))
        self.keys[code] = name
        return name

    def plan(self, outputs: Sequence[Expr]) -> None:
        """Find the inverses that are needed as values (not only to multiply by)."""
        seen: set[int] = set()

        def walk(e: Expr, in_chain: bool) -> None:
            if id(e) in seen and not in_chain:
                return
            seen.add(id(e))
            inv = _inv_arg(e)
            if inv is not None and not in_chain:
                self.standalone_inv.add(inv[0])
            if isinstance(e, Call) and e.fn.name[:-2] in _SYM_FUNCTIONS and e.fn.name.endswith("_d") \
                    and len(e.args) == 2 and not e.args[0].is_scalar and is_symmetric(e.args[0]):
                self.sym_frechets.setdefault((e.args[0], e.fn.name[:-2]), set()).add(e.args[1])
            if isinstance(e, MatMul):
                factors = inverse_powers(list(e.factors))  # inv(A)^2*x: inv(A) in a chain, solved with
                chain = [f for f in factors if not f.is_scalar]
                for f in factors:
                    walk(f, len(chain) > 1 and not f.is_scalar)
                return
            if in_chain and inverse_power(e) is not None:  # inv(A)^k in a chain: k solves
                walk(e.children[0], True)
                return
            if isinstance(e, Transpose) or (isinstance(e, Add) and in_chain):  # sums in a chain are distributed
                for c in e.children:
                    walk(c, in_chain)
                return
            for c in e.children:
                walk(c, False)

        for o in outputs:
            walk(o, False)

    def size(self, d: Dim) -> str:
        r = d.find()
        if r.value is not None:
            return str(r.value)
        got = self.dims.get(r)
        if got is None:
            raise ShapeError("the size of an identity or ones matrix is not determined by any variable")
        return got

    def factor(self, a: Expr) -> str:
        got = self.factors.get(a)
        if got is None:
            spd = isinstance(a, Var) and a.kind == "spd"
            got = self.emit(f"_F.{'chol' if spd else 'lu'}({self(a)})")
            self.factors[a] = got
        return got

    def inverse(self, a: Expr) -> str:
        return self.emit(f"_F.inv({self.factor(a)})")

    def __call__(self, e: Expr) -> str:
        got = self.memo.get(e)
        if got is None:
            got = getattr(self, "_l_" + type(e).__name__)(e)
            self.memo[e] = got
        return got

    # -- leaves
    def _l_Num(self, e: Num) -> str:
        return _num(e.value)

    def _l_Var(self, e: Var) -> str:
        return self.var_code(e.name)

    def _l_Eye(self, e: Eye) -> str:
        if e.dim is None:
            raise ShapeError("the size of eye is not determined: write eye(X) for the identity with as many rows as "
                             "X, or use eye beside a matrix")
        if _one(e.dim):  # a 1x1 identity stands beside a scalar or a vector: 1-D, as ones(1) is (never (1, n))
            return self.emit("_np.ones(1)")
        try:
            return self.emit(f"_np.eye({self.size(e.dim)})")
        except ShapeError:
            raise ShapeError("the size of eye is not determined by any variable: write eye(X) for the identity "
                             "with as many rows as X") from None

    def _l_Ones(self, e: Ones) -> str:
        r, c = e.shape
        if _one(c) or _one(r):  # vectors are 1-D in generated code
            return self.emit(f"_np.ones({self.size(r if _one(c) else c)})")
        return self.emit(f"_np.ones(({self.size(r)}, {self.size(c)}))")

    # -- operators
    def _l_Add(self, e: Add) -> str:
        got = self._gram_plus_shift(e)
        if got is None:
            got = self._msum(e)
        if got is not None:
            return got
        pair = self._common_factor(e)
        if pair is not None:
            code, rest = pair
        else:
            code, rest = self(e.terms[0]), e.terms[1:]
        for t in rest:
            if isinstance(t, MatMul) and isinstance(t.factors[0], Num) and t.factors[0].value < 0:
                c = -t.factors[0].value
                pos = MatMul(t.factors[1:]) if c == 1 and len(t.factors) > 2 else (
                    t.factors[1] if c == 1 else MatMul((Num(c),) + t.factors[1:]))
                code = f"{code} - {self(pos)}"
            elif isinstance(t, Neg):
                code = f"{code} - {self(t.arg)}"
            else:
                code = f"{code} + {self(t)}"
        return self.emit(code)

    def _l_Neg(self, e: Neg) -> str:
        return self.emit(f"-{self(e.arg)}")

    def _l_MatMul(self, e: MatMul) -> str:
        factors = inverse_powers(list(e.factors))  # A^-k*B as k solves
        if len(factors) > 2:
            from ..core.build import group_scalar_runs

            factors = group_scalar_runs(factors)
        chain = [f for f in factors if not f.is_scalar]
        for f in chain:  # (inv(A) + B)*x = solve(A, x) + B*x: distribute over the sum
            matvec = len(chain) == 2 and all(_is_vec(c) for c in chain if c is not f)  # (A + A')*v = A*v + A'*v
            if isinstance(f, Add) and (matvec or any(self._has_solve(t) for t in f.terms)) \
                    and not any(t.is_scalar for t in f.terms):  # a scalar term adds entrywise: keep the sum
                i = factors.index(f)
                return self(Add(tuple(MatMul(tuple(factors[:i] + [t] + factors[i + 1:])) for t in f.terms)))
        scal = [f for f in factors if f.is_scalar]
        if scal and chain:
            # scale the smallest factor of the product, not the product: c*x*y' = (c*x)*y', diag(v)/c = diag(v/c)
            k = scaled_factor(chain)
            if k is not None:
                f = chain[k]
                scaled = Call(diag, MatMul(tuple(scal) + (f.arg,))) if _is_diag(f) else MatMul(tuple(scal) + (f,))
                return self.chain(chain[:k] + [scaled] + chain[k + 1:])
        parts = [self(f) for f in scal if not _negative_power(f)]
        below = [self._denominator(f) for f in scal if _negative_power(f)]  # type: ignore[arg-type]
        if chain:
            product = self.chain(chain)
            again = self.rescaled(product, chain, scal) if scal else None
            if again is not None:
                return again
            parts.append(product)
        if below:
            den = below[0] if len(below) == 1 else "(" + " * ".join(below) + ")"
            top = " * ".join(parts) if parts else "1"
            return self.emit(f"{top} / {den}" if len(parts) <= 1 else f"({top}) / {den}")
        if len(parts) == 1:
            return parts[0]
        if parts[0] == "-1":
            rest = " * ".join(parts[1:])
            return self.emit(f"-{rest}" if len(parts) == 2 and _atomic(rest) else f"-({rest})")
        return self.emit(" * ".join(parts))

    def _denominator(self, f: Power) -> str:
        """c^k for a factor c^-k, with c checked to be nonzero."""
        p = -f.exp.value  # type: ignore[attr-defined]
        den = self.divisor(f.base)
        return den if p == 1 else self.emit(f"{_base(den)} ** {_num(p)}")

    def _has_solve(self, t: Expr) -> bool:
        """t is, or is a product holding, an inverse that is not formed anyway."""
        inv = _inv_arg(t)
        if inv is not None:
            return inv[0] not in self.standalone_inv
        if inverse_power(t) is not None:  # inv(A)^k*x: k solves
            return True
        if isinstance(t, MatMul):
            return any(self._has_solve(f) for f in t.factors)
        return False

    def _l_Div(self, e: Div) -> str:
        return self.emit(f"{self(e.num)} / {self.divisor(e.den)}")

    def divisor(self, den: Expr) -> str:
        """A scalar divisor, checked where it may be 0 (a norm at 0: not differentiable there)."""
        code = self(den)
        if den.free and not positive(den):
            return self.emit(f"_nonzero({code}, {_text(den)!r})")
        return code

    def _l_Hadamard(self, e: Hadamard) -> str:
        got = self._dsigmoid(e)
        if got is not None:
            return got
        return self.emit(f"{self(e.a)} * {self(e.b)}")

    def _dsigmoid(self, e: Hadamard) -> str | None:
        """A product of three or more factors holding sigmoid(u) .* sigmoid(-u) (a logistic Hessian's weights, its hvp):
        that pair by ``_K.dsigmoid(u)``, from one exp(-|u|), exact where s .* (1 - s) is not (s rounded to 1), and
        cheaper than two expit calls (or one)."""
        factors: list[Expr] = []

        def flat(f: Expr) -> None:
            if isinstance(f, Hadamard):
                flat(f.a)
                flat(f.b)
            else:
                factors.append(f)
        flat(e)
        if len(factors) < 3:  # the pair alone (a gradient) reads as the formula: two expit calls
            return None
        calls = [i for i, f in enumerate(factors) if isinstance(f, Call) and f.fn is sigmoid]
        for i in calls:
            for j in calls:
                u = _negated(factors[i].arg)  # type: ignore[attr-defined]
                if j != i and u is not None and u == factors[j].arg:  # type: ignore[attr-defined]
                    rest = [self(f) for k, f in enumerate(factors) if k not in (i, j)]
                    return self.emit(" * ".join([self.emit(f"_K.dsigmoid({self(u)})")] + rest))
        return None

    def _l_HDiv(self, e: HDiv) -> str:
        got = self._logistic(e)
        if got is not None:
            return got
        return self.emit(f"{self(e.a)} / {self(e.b)}")

    def _logistic(self, e: HDiv) -> str | None:
        """exp(u)^j ./ (1 + exp(u))^k = s^j .* (1 - s)^(k-j), s = expit(u): no overflow for large u."""
        got = logistic(e)
        if got is None:
            return None
        u, j, k, rest = got
        uu = self(u)
        parts = []
        if j:
            s = self.emit(f"_expit({uu})")
            parts.append(s if j == 1 else f"{s} ** {j}")
        if k - j:
            t = self.emit(f"_expit(-{uu})" if _atomic(uu) else f"_expit(-({uu}))")
            parts.append(t if k - j == 1 else f"{t} ** {k - j}")
        parts += [self(f) for f in rest]
        return self.emit(" * ".join(parts))

    def _l_Power(self, e: Power) -> str:
        if e.base.is_scalar:
            return self.emit(f"{_base(self(e.base))} ** {self(e.exp)}")
        k = integer_value(e.exp)
        if k is None:  # S^p, S spd and p a number (checked when typing): U diag(w^p) U'
            return self.emit(f"_K.sym_fun({self.emit(f'_K.eigh({self(e.base)})')}, 'powm', "
                             f"{float(number_value(e.exp))!r})")
        if k < 0:
            return self.emit(f"_np.linalg.matrix_power({self.inverse(e.base)}, {-k})")
        inner = is_inverse(e.base)
        if inner is not None and k > 1:  # inv(A)^k = inv(A) solved with k - 1 times (inv(A)'^k: transposed)
            t = isinstance(inner, Transpose)
            f = self.factor(inner.arg if t else inner)  # type: ignore[attr-defined]
            out = self.emit(f"_F.inv({f})" + (".T" if t else ""))
            for _ in range(k - 1):
                out = self.emit(f"_F.{'solve_t' if t else 'solve'}({f}, {out})")
            return out
        return self.emit(f"_np.linalg.matrix_power({self(e.base)}, {k})")

    def _l_EPower(self, e: EPower) -> str:
        return self.emit(f"{_base(self(e.a))} ** {self(e.b)}")

    def _l_Transpose(self, e: Transpose) -> str:
        if e.arg.is_scalar or _is_vec(e.arg):  # a 1-D vector is its own transpose
            return self(e.arg)
        inv = _inv_arg(e)
        if inv is not None:
            return f"{self.inverse(inv[0])}.T"
        return _t(self(e.arg))

    def _l_Call(self, e: Call) -> str:
        if e.fn.lower is None:
            raise MatdiffError(f"{e.fn.name} has no NumPy lowering: it cannot be compiled")
        return e.fn.lower(self, e)  # the function's own code, from its registry entry

    def trace(self, arg: Expr) -> str:
        """tr(P*Q) = sum(P .* Q'): no product formed."""
        got = self._sym_trace(arg)
        if got is not None:
            return got
        if isinstance(arg, MatMul):
            factors = list(arg.factors)
            if len(factors) > 2:  # a run whose product is a scalar (eye*x'*y*X) is one factor, as in a product
                from ..core.build import group_scalar_runs

                factors = group_scalar_runs(factors)
            scal = [f for f in factors if f.is_scalar]
            chain = [f for f in factors if not f.is_scalar]
            if len(chain) >= 2 and _inv_arg(chain[-1]) is None and not _is_diag(chain[-1]):
                left = self.chain(chain[:-1])
                right = chain[-1]
                code = (f"_dot({left}, {self(right.arg)})" if isinstance(right, Transpose)
                        else f"_dot({left}.T, {self(right)})")
                s = " * ".join(self(f) for f in scal)
                return self.emit(f"{s} * {code}" if s else code)
        return self.emit(f"_np.trace({self(arg)})")

    def _sym_trace(self, arg: Expr) -> str | None:
        """tr(f(S)*M) (S symmetric, f = expm, logm, sqrtm) where L_f(S, E) is computed too, E = M or M + M': the value
        as sum(f(w) .* diag(U' E U)) (times 1/2 for M + M'), U' E U shared with the derivative (``_K.sym_trace``),
        as an expert shares it: no f(S) formed."""
        if not isinstance(arg, MatMul) or not self.sym_frechets:
            return None
        scal = [f for f in arg.factors if f.is_scalar]
        chain = [f for f in arg.factors if not f.is_scalar]
        if len(chain) != 2:
            return None
        for fs, m in ((chain[0], chain[1]), (chain[1], chain[0])):
            if not (isinstance(fs, Call) and fs.fn.name in _SYM_FUNCTIONS and len(fs.args) == 1):
                continue
            for v in self.sym_frechets.get((fs.arg, fs.fn.name), ()):
                if v == m:
                    scale = None
                elif isinstance(v, Add) and len(v.terms) == 2 and any(
                        v.terms[i] == m and v.terms[1 - i] == Transpose(m)
                        for i in (0, 1)):
                    scale = "0.5"
                else:
                    continue
                eig = self.emit(f"_K.eigh({self(fs.arg)})")
                code = f"_K.sym_trace({eig}, {self(v)}, {fs.fn.name!r})"
                s = " * ".join(([scale] if scale else []) + [self(f) for f in scal])
                return self.emit(f"{s} * {code}" if s else code)
        return None

    # -- products
    def gram_of(self, chain: Sequence[Expr]) -> tuple[Expr, Expr | None] | None:
        """(Q, v) where the product is Q'*diag(v)*Q, (Q, None) where it is Q'*Q (Q a matrix): symmetric, made by
        ``_K.gram`` (a symmetric rank-k update, one output buffer), as an expert forms a Gauss-Newton Hessian."""
        if len(chain) not in (2, 3) or not isinstance(chain[0], Transpose):
            return None
        q = chain[0].arg
        if chain[-1] != q or q.shape is None or _is_vec(q) or _one(q.shape[0]) or _inv_arg(q) is not None:
            return None
        if len(chain) == 2:
            return q, None
        return (q, chain[1].arg) if _is_diag(chain[1]) else None

    def _gram_plus_shift(self, e: Add) -> str | None:
        """Q'*diag(v)*Q + s*eye as one ``_K.gram(Q, v, s)``: the shift added on the diagonal of the one buffer."""
        if len(e.terms) != 2:
            return None
        for g, i in ((e.terms[0], e.terms[1]), (e.terms[1], e.terms[0])):
            if not isinstance(g, MatMul) or any(f.is_scalar for f in g.factors):
                continue
            found = self.gram_of(list(g.factors))
            if found is None:
                continue
            if isinstance(i, Eye):
                shift = "1.0"
            elif isinstance(i, MatMul) and isinstance(i.factors[-1], Eye) and all(f.is_scalar for f in i.factors[:-1]):
                sc = i.factors[:-1]
                shift = self(sc[0] if len(sc) == 1 else MatMul(sc))
            else:
                continue
            return self.gram(found[0], found[1], shift)
        return None

    def _common_factor(self, e: Add) -> tuple[str, list[Expr]] | None:
        """In a sum of vectors, a .* b + s*a (s a scalar) as a .* (b + s): one pass fewer, as an expert writes the hvp
        of log-sum-exp, p .* v - (p'*v)*p = p .* (v - p'*v).  (The code of that pair, the other terms.)"""
        if e.shape is None or not _is_vec(e) or len(e.terms) < 2:
            return None
        from ..core.build import group_scalar_runs

        for i, h in enumerate(e.terms):
            if not (isinstance(h, Hadamard) and _is_vec(h.a) and _is_vec(h.b)):
                continue
            for j, t in enumerate(e.terms):
                negated, body = (True, t.arg) if isinstance(t, Neg) else (False, t)
                if j == i or not isinstance(body, MatMul):
                    continue
                fs = group_scalar_runs(list(body.factors)) if len(body.factors) > 2 else list(body.factors)
                scal = [f for f in fs if f.is_scalar]
                chain = [f for f in fs if not f.is_scalar]
                if len(chain) != 1 or not scal or chain[0] not in (h.a, h.b):
                    continue
                if isinstance(scal[0], Num) and scal[0].value < 0:  # -c*s*a: subtract c*s
                    negated = not negated
                    scal = scal[1:] if scal[0].value == -1 else [Num(-scal[0].value)] + scal[1:]
                s = self(scal[0]) if len(scal) == 1 else self(MatMul(tuple(scal))) if scal else "1"
                a, b = (h.a, h.b) if chain[0] == h.a else (h.b, h.a)
                inner = self.emit(f"{self(b)} {'-' if negated else '+'} {s}")
                return self.emit(f"{self(a)} * {inner}"), [x for k, x in enumerate(e.terms) if k not in (i, j)]
        return None

    def _msum(self, e: Add) -> str | None:
        """A sum of matrices with diagonal (diag(v), s*eye) or rank-1 (c*u*v') terms as one ``_K.msum``: the dense
        terms added into one fresh buffer, the diagonals added on its diagonal, the rank-1 terms by ``dger`` in place
        (a Hessian ``A + A' + diag(p) - p*p'`` makes no n x n temporary beyond its result)."""
        if e.shape is None or _one(e.shape[0]) or _one(e.shape[1]) or any(t.is_scalar for t in e.terms):
            return None
        dense: list[str] = []
        diag_: list[str] = []
        outer: list[str] = []
        for t in e.terms:
            sign, body = (-1, t.arg) if isinstance(t, Neg) else (1, t)
            scal: list[Expr] = []
            chain = [body]
            if isinstance(body, MatMul):
                scal = [f for f in body.factors if f.is_scalar]
                chain = [f for f in body.factors if not f.is_scalar]
            if sign == -1:
                scal = [Num(-1)] + scal
            coef = self(scal[0]) if len(scal) == 1 else self(MatMul(tuple(scal))) if scal else None
            if len(chain) == 1 and isinstance(chain[0], Eye):
                diag_.append(coef if coef is not None else "1.0")
            elif len(chain) == 1 and _is_diag(chain[0]):
                v = chain[0].arg  # type: ignore[attr-defined]
                diag_.append(self(MatMul(tuple(scal) + (v,)) if scal else v))
            elif len(chain) == 2 and _col(chain[0]) and _row(chain[1]):
                outer.append(f"({coef if coef is not None else 1}, {self(chain[0])}, {self(chain[1])})")
            elif sign == -1:
                dense.append(f"(-1, {self(body)})")
            else:
                dense.append(self(t))
        if not (dense or outer) or not (diag_ or outer) or len(e.terms) < 2:
            return None
        args = [f"[{', '.join(dense)}]"] if dense else []
        if diag_:
            args.append(f"diag=[{', '.join(diag_)}]")
        if outer:
            args.append(f"outer=[{', '.join(outer)}]")
        return self.emit(f"_K.msum({', '.join(args)})")

    def gram(self, q: Expr, v: Expr | None, shift: str | None = None) -> str:
        args = [self(q)] + ([self(v)] if v is not None else (["None"] if shift else [])) + ([shift] if shift else [])
        return self.emit(f"_K.gram({', '.join(args)})")

    def chain(self, chain: list[Expr]) -> str:
        """The product of matrices in the cheapest order, inverses as solves, diagonals as broadcasts."""
        g = self.gram_of(chain)
        if g is not None:
            return self.gram(*g)
        ops: list[tuple[str, Any]] = []
        dims: list[int] = []
        for f in chain:
            inv = _inv_arg(f)
            if inv is not None and inv[0] not in self.standalone_inv:
                ops.append(("solve", (self.factor(inv[0]), inv[1])))
            elif _is_diag(f):
                ops.append(("scale", self(f.arg)))
            else:
                ops.append(("mat", self(f)))
            dims.append(_size(f.shape[0]))
        dims.append(_size(chain[-1].shape[1]))
        n = len(ops)
        self._dims = dims
        if n == 1:
            kind, p = ops[0]
            if kind == "solve":
                return self.emit(f"_F.inv({p[0]})") + (".T" if p[1] else "")
            return self.emit(f"_np.diag({p})") if kind == "scale" else p
        # matrix-chain order (dynamic programming); a solve costs about a product
        cost = [[0.0] * n for _ in range(n)]
        split = [[0] * n for _ in range(n)]
        for length in range(2, n + 1):
            for i in range(n - length + 1):
                j = i + length - 1
                best = None
                for k in range(i, j):
                    c = cost[i][k] + cost[k + 1][j] + self._pair_cost(ops, i, k, j, dims)
                    if best is None or c < best:
                        best, split[i][j] = c, k
                cost[i][j] = best  # type: ignore[assignment]
        return self._build(ops, split, 0, n - 1)

    @staticmethod
    def _pair_cost(ops: list[tuple[str, Any]], i: int, k: int, j: int, dims: list[int]) -> float:
        p, q, r = dims[i], dims[k + 1], dims[j + 1]
        left_diag = i == k and ops[i][0] == "scale"
        right_diag = k + 1 == j and ops[j][0] == "scale"
        if left_diag or right_diag:
            return float(p * r)
        return float(p * q * r)

    def _build(self, ops: list[tuple[str, Any]], split: list[list[int]], i: int, j: int) -> str:
        if i == j:
            kind, p = ops[i]
            return p if kind != "solve" else ""
        k = split[i][j]
        left_single = ops[i] if i == k else None
        right_single = ops[j] if k + 1 == j else None
        if left_single is not None and left_single[0] == "solve":
            right = self._materialize(ops, split, k + 1, j)
            f, t = left_single[1]
            return self.emit(f"_F.{'solve_t' if t else 'solve'}({f}, {right})")
        if right_single is not None and right_single[0] == "solve":
            left = self._materialize(ops, split, i, k)
            f, t = right_single[1]  # L*inv(A) = (A'^-1 L')'
            if self._dims[i] == 1:  # a row vector is 1-D: no transposes
                return self.emit(f"_F.{'solve' if t else 'solve_t'}({f}, {left})")
            return self.emit(f"_F.{'solve' if t else 'solve_t'}({f}, {_t(left)}).T")
        dims = self._dims
        if left_single is not None and left_single[0] == "scale":  # diag(v)*R scales the rows of R
            right = self._materialize(ops, split, k + 1, j)
            return self.emit(f"{left_single[1]} * {right}" if dims[j + 1] == 1 else
                             f"{left_single[1]}[:, None] * {right}")
        if right_single is not None and right_single[0] == "scale":  # L*diag(v) scales the columns
            return self.emit(f"{self._materialize(ops, split, i, k)} * {right_single[1]}")
        left, right = self._materialize(ops, split, i, k), self._materialize(ops, split, k + 1, j)
        if dims[k + 1] == 1 and (dims[i] == 1 or dims[j + 1] == 1):  # a scalar times a vector or matrix
            return self.emit(f"{left} * {right}")
        if dims[k + 1] == 1:  # a column times a row
            return self.emit(f"_np.outer({left}, {right})")
        if dims[j + 1] == 1 and dims[i] != 1 and left.endswith(".T") and _atomic(left[:-2]):
            return self.emit(f"{right} @ {left[:-2]}")  # A'*v as v @ A: no transposed copy (XLA makes one)
        return self.emit(f"{left} @ {right}")

    def _materialize(self, ops: list[tuple[str, Any]], split: list[list[int]], i: int, j: int) -> str:
        if i == j:
            kind, p = ops[i]
            if kind == "solve":
                return self.emit(f"_F.inv({p[0]})") + (".T" if p[1] else "")
            if kind == "scale":
                return self.emit(f"_np.diag({p})")
            return p
        return self._build(ops, split, i, j)


def _t(code: str) -> str:
    """code' (a view), with x.T.T written x."""
    if code.endswith(".T") and _atomic(code[:-2]):
        return code[:-2]
    return f"{code}.T"


_size = size_estimate


def _negative_power(f: Expr) -> bool:
    return isinstance(f, Power) and f.base.is_scalar and isinstance(f.exp, Num) and f.exp.value < 0


def positive(e: Expr) -> bool:
    """True where every entry of e is > 0 whatever the values (1 + exp(z), x.^2 + 1, ...)."""
    if isinstance(e, Num):
        return e.value > 0
    if isinstance(e, Call):  # exp(u) > 0; sqrt(u), sum(u) > 0 where u > 0 (the entry says)
        return e.fn.positive is not None and e.fn.positive(e.args, positive)
    if isinstance(e, (Add, Hadamard, HDiv, Div)):
        return all(positive(c) for c in e.children)
    if isinstance(e, MatMul):
        return all(positive(f) for f in e.factors) and sum(1 for f in e.factors if not f.is_scalar) <= 1
    if isinstance(e, (Power, EPower)):
        return positive(e.children[0])
    return False


UNDERFLOW = 2.0**-960  # a NumPy result whose entries all lie below this may have lost them to underflow


_FINE, _NOT_FINITE, _TINY = 0, 1, 2
_reduce = np.add.reduce  # np.sum without its dispatch (a third of the time of a small array's check)


def _scan(out: Any) -> int:
    """One pass over each NumPy output: ``_NOT_FINITE`` where one has NaN or Inf entries, ``_TINY`` where one is 0
    or tiny throughout (a partial product that underflowed gives that, as does a true 0), else ``_FINE``.

    One sum per array (the check costs O(size of the result)); the exact looks only where that sum is not finite
    (it may have overflowed) or is tiny; arrays of other libraries pass (``_finite`` asks their backend)."""
    tiny = False
    for o in out if isinstance(out, tuple) else (out,):
        if isinstance(o, np.ndarray):
            if not o.size:
                continue
            t = _reduce(o, axis=None)
        elif isinstance(o, (float, complex, np.generic)):
            t = o
        else:
            continue
        a = abs(t)
        if not a < np.inf:  # NaN or Inf (a sum that overflowed: then look entry by entry)
            if not np.all(np.isfinite(o)):
                return _NOT_FINITE
        elif a < UNDERFLOW and np.max(np.abs(o)) < UNDERFLOW:
            tiny = True
    return _TINY if tiny else _FINE


def _interpreted(outputs: Sequence[Expr], variables: Mapping[str, Var], values: Mapping[str, Any], out: Any) -> Any:
    """The outputs computed again by the lowering executed adaptively (:class:`Executor`: products that left float64's
    range rescaled), as generated code returns them (a tuple where there are several)."""
    got = execute(outputs, {k: v for k, v in variables.items() if k in values}, values)
    got = [np.broadcast_to(g, np.shape(o)).copy() if np.ndim(g) < np.ndim(o) else g
           for g, o in zip(got, out if isinstance(out, tuple) else (out,))]
    return tuple(got) if isinstance(out, tuple) else got[0]


# ------------------------------------------------------------------------------------------- execution
_TEMPORARY = re.compile(TEMPORARY)
_NAMESPACES: dict[bool, dict[str, Any]] = {}  # complex? -> the namespace evaluation runs in
_EXACT: dict[tuple[str, bool], tuple[Callable[..., Any], tuple[str, ...]]] = {}  # code -> (function, its temporaries)
_CANONICAL: dict[tuple[str, bool], Callable[..., Any]] = {}  # code with temporaries as _a0, _a1, ... -> function
_CACHE_LIMIT = 20000
_UNDER = 2.0**-960  # a product below this may have lost digits to underflow (float64's normal range ends at 2^-1022)


class _Primitives:
    """``_D`` of evaluation: the NumPy kernel of each function defined as a primitive (matdiff.define), looked up
    when called (definitions come and go); the user's kernel failing is a MatdiffError that names it."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        kernel = next(f.kernels["numpy"][name] for f in entries() if f.name == name)

        def run(*args: Any) -> Any:
            try:
                return np.asarray(kernel(*args))
            except MatdiffError:
                raise
            except Exception as err:  # noqa: BLE001 - the user's kernel: reported with its name
                raise MatdiffError(f"the NumPy kernel of {name} failed: {type(err).__name__}: {err}") from None
        return run


def _namespace(analytic: bool) -> dict[str, Any]:
    ns = _NAMESPACES.get(analytic)
    if ns is None:
        from ..runtime import numpy as _numpy_runtime

        ns = _numpy_runtime.analytic_namespace() if analytic else namespace_for("numpy")
        ns["_D"] = _Primitives()
        _NAMESPACES[analytic] = ns
    return ns


def _compiled(code: str, analytic: bool) -> tuple[Callable[..., Any], tuple[str, ...]]:
    """A function computing ``code`` from the values of the temporaries it names (in that order).

    Compiled once per code with its temporaries renamed in order of appearance (``_t7 @ _t3`` and ``_t9 @ _t4``
    share ``lambda _a0, _a1: _a0 @ _a1``), so that evaluating an expression again, or after ``forget``, compiles
    nothing."""
    key = (code, analytic)
    got = _EXACT.get(key)
    if got is not None:
        return got
    names = tuple(dict.fromkeys(_TEMPORARY.findall(code)))
    index = {n: f"_a{i}" for i, n in enumerate(names)}
    canon = (_TEMPORARY.sub(lambda m: index[m.group()], code), analytic)
    fn = _CANONICAL.get(canon)
    if fn is None:
        if len(_CANONICAL) > _CACHE_LIMIT:
            _CANONICAL.clear()
        source = f"lambda {', '.join(index.values())}: {canon[0]}"
        fn = eval(compile(source, "<matdiff:evaluate>", "eval"), _namespace(analytic))  # noqa: S307 - generated
        _CANONICAL[canon] = fn
    if len(_EXACT) > _CACHE_LIMIT:
        _EXACT.clear()
    _EXACT[key] = got = (fn, names)
    return got


_RUN, _IN_RANGE, _KERNEL = "run", "in range", "kernel"


class _Trace:
    """The statements one evaluation ran (``ops``: run code into a temporary; a product's value within float64's
    range; a primitive's kernel returned its shape) and the lowering's state they left."""

    __slots__ = ("start", "end", "ops", "memo", "factors", "keys", "result")

    def __init__(self, start: int):
        self.start = self.end = start
        self.ops: list[tuple[str, Any, Any]] = []
        self.memo: dict[Expr, str] = {}
        self.factors: dict[Expr, str] = {}
        self.keys: dict[str, str] = {}
        self.result = ""


_TRACES: dict[tuple[Any, Expr], _Trace] = {}


class Executor(Lowering):
    """The lowering executed at once: evaluation at one point runs the very code generation writes.

    Each statement the lowering emits is computed as it is emitted, on the values, in the NumPy runtime's namespace
    (``analytic_namespace`` for complex values: functions continued analytically, for the complex-step check) and
    bound to a fresh temporary; variables are temporaries too (``_t0``, ...), so the code of an expression is the
    same at every point and compiled once (:func:`_compiled`).  Values follow generated code's convention: scalars,
    1-D vectors, 2-D matrices.  Being executed, it can look at what it computed:

    * a product of matrices that left float64's range (0 or tiny throughout, or not finite) is computed again with
      its scalar factors applied to its first factor (X*u*u'/norm_fro(X*u) at entries ~1e-150 as X*(u/norm)*u'),
      :meth:`rescaled`;
    * NumPy's floating-point signals (errstate ``call``) say where a value left the domain: a division by zero or an
      invalid operation of finite operands (not after an overflow) is a DomainError naming the subexpression; an
      error of a runtime kernel is prefixed with the function's call (``inv(A): ...``);
    * the kernel of a defined primitive must return the shape its expression has.
    """

    def __init__(self, variables: Mapping[str, Var], values: Mapping[str, Any], bind: Bindings):
        self.var_names = {n: f"_t{i}" for i, n in enumerate(variables)}
        super().__init__(variables)
        self.env: dict[str, Any] = {self.var_names[n]: values[n] for n in variables}
        self.count = len(variables)
        self.analytic = any(np.iscomplexobj(v) for v in values.values())
        self.bind = bind
        self.at: list[Expr] = []  # the subexpressions being lowered, innermost last
        self.signals: list[str] = []
        # what was asked of it so far (with the sizes of the values): the key of a trace of the next evaluation
        # (variables are equal by name: their kinds and typed sizes are part of the key, as the values' sizes)
        self.history: tuple[Any, ...] | None = (self.analytic,) + tuple(
            (n, v.kind, v.shape[0].find().value, v.shape[1].find().value, np.shape(values[n]))
            for n, v in variables.items())
        self.recording: _Trace | None = None  # recording

    def var_code(self, name: str) -> str:
        return self.var_names[name]

    def signal(self, kind: str, flag: int) -> None:
        """NumPy's floating-point error callback (np.errstate(call=...)): recorded, judged after the statement."""
        self.signals.append(kind)

    def set(self, name: str, value: Any) -> None:
        """A new value of the variable ``name``: what depends on it is computed again."""
        self.env[self.var_names[name]] = value
        self.analytic = self.analytic or np.iscomplexobj(value)
        if self.history is not None:
            self.history = self.history + ((name, np.shape(value), self.analytic),)
        self.memo = {k: v for k, v in self.memo.items() if name not in k.free}
        self.factors = {k: v for k, v in self.factors.items() if name not in k.free}
        self.keys = {}

    def value(self, code: str) -> Any:
        """The value of code the lowering returned (a temporary, a variable, a number, x.T, ...)."""
        got = self.env.get(code)
        return got if got is not None else self.run(code)

    def evaluate(self, e: Expr) -> Any:
        """The value of e, in generated code's convention.

        The statements of an evaluation are recorded (a :class:`_Trace`, keyed by e and all that was asked of the
        executor before, with the values' sizes); the same evaluation again (a result evaluated at another point)
        runs them without lowering, and falls back to lowering where the trace's premises fail: a product that
        leaves float64's range (rescaled, then not recorded), or any error (lowering says where)."""
        key = (self.history, e) if self.history is not None and len(self.history) < 24 else None
        if key is not None:
            got = _TRACES.get(key)
            if got is not None and got.start == self.count and self._replay(got):
                self.history = self.history + (e,)  # type: ignore[operator]
                return self.value(got.result)
            self.recording = _Trace(self.count)
        try:
            code = self(e)
        except BaseException:
            self.history = self.recording = None  # the state is no longer that of a history
            raise
        trace, self.recording = self.recording, None
        if key is not None and trace is not None:
            trace.result, trace.end = code, self.count
            if len(_TRACES) > _CACHE_LIMIT // 10:
                _TRACES.clear()
            _TRACES[key] = trace
            self.history = self.history + (e,)  # type: ignore[operator]
        else:
            self.history = None
        return self.value(code)

    def _replay(self, trace: _Trace) -> bool:
        """Run a trace's statements; False (nothing kept) where a premise fails or a statement raises."""
        env = self.env
        try:
            for op, a, b in trace.ops:
                if op is _RUN:
                    env[b] = self.run(a)
                elif op is _IN_RANGE:
                    if not _UNDER <= np.max(np.abs(self.value(a)), initial=0.0) < np.inf:
                        return False
                else:
                    self._check_kernel(a, self.value(b))
        except Exception:  # noqa: BLE001 - lowering computes it again, and says where it fails
            self.signals.clear()
            return False
        self.memo.update(trace.memo)
        self.factors.update(trace.factors)
        self.keys.update(trace.keys)
        self.count = trace.end
        return True

    def factor(self, a: Expr) -> str:
        known = a in self.factors
        got = super().factor(a)
        if self.recording is not None and not known:
            self.recording.factors[a] = got
        return got

    # -- executing
    def emit(self, code: str) -> str:
        got = self.keys.get(code)
        if got is not None:
            return got
        value = self.run(code)
        name = f"_t{self.count}"
        self.count += 1
        self.env[name] = value
        self.keys[code] = name
        if self.recording is not None:
            self.recording.ops.append((_RUN, code, name))
            self.recording.keys[code] = name
        return name

    def run(self, code: str) -> Any:
        fn, names = _compiled(code, self.analytic)
        env = self.env
        args = [env[n] for n in names]
        try:
            out = fn(*args)
        except (OverflowError, ZeroDivisionError):  # Python numbers, where NumPy's would give inf
            raise DomainError("the result is not finite at this point (an overflow, or a value outside the "
                              "domain)") from None
        except np.linalg.LinAlgError as err:  # an SVD or solve of entries that overflowed to inf
            raise DomainError(f"the linear algebra failed at this point ({err}): an overflow, or a value outside "
                              "the domain") from None
        if self.signals:
            self._judge(args)
        return out

    def _judge(self, args: list[Any]) -> None:
        """After a statement that raised floating-point signals: a DomainError where it divided by zero or was
        invalid on finite operands; an overflow (or what follows from one) is not judged here."""
        signals, self.signals = self.signals, []
        if "overflow" in signals:
            return
        for a in args:
            if isinstance(a, (np.ndarray, np.generic, float, complex)) and not np.all(np.isfinite(a)):
                return  # an earlier overflow propagates
        e = self.at[-1] if self.at else None
        raise _located(_outside(e, "divide by zero" in signals))

    def __call__(self, e: Expr) -> str:
        got = self.memo.get(e)
        if got is not None:
            return got
        self.at.append(e)
        try:
            got = getattr(self, "_l_" + type(e).__name__)(e)
            if isinstance(e, Call) and e.fn.kernels:
                self._check_kernel(e, self.value(got))
                if self.recording is not None:
                    self.recording.ops.append((_KERNEL, e, got))
        except DomainError as err:
            if isinstance(e, Call) and not getattr(err, "located", False):
                raise _located(f"{to_text(e)}: {err}") from None
            raise
        finally:
            self.at.pop()
        self.memo[e] = got
        if self.recording is not None:
            self.recording.memo[e] = got
        return got

    def _check_kernel(self, e: Call, out: Any) -> None:
        name = e.fn.name
        if e.is_scalar:
            if np.size(out) != 1:
                raise ShapeError(f"the kernel of {name} returned shape {np.shape(out)}, where {e} is a scalar")
            return
        rows, cols = (self.bind.size(d) for d in e.shape)
        if np.size(out) != rows * cols or (np.ndim(out) == 2 and np.shape(out) != (rows, cols)):
            raise ShapeError(f"the kernel of {name} returned shape {np.shape(out)}, where {e} is {rows}x{cols}")

    def rescaled(self, product: str, chain: list[Expr], scal: list[Expr]) -> str | None:
        if len(chain) < 2:
            return None
        v = self.value(product)
        big = np.max(np.abs(v), initial=0.0)
        if _UNDER <= big < np.inf:
            if self.recording is not None:
                self.recording.ops.append((_IN_RANGE, product, None))
            return None
        self.recording = None  # computed as the values require: not a trace for other values
        # the product alone under- or overflowed: let the scalars scale its first factor (an inverse is then formed,
        # here only: a*inv(A)'*inv(A)' at A, a ~ 1e200 as (a*inv(A)')*inv(A)')
        f = chain[0]
        first = Call(diag, MatMul(tuple(scal) + (f.arg,))) if _is_diag(f) else MatMul(tuple(scal) + (f,))
        return self.chain([first] + chain[1:])


def _located(message: str) -> DomainError:
    """A DomainError that says where already (the calls around it add nothing)."""
    err = DomainError(message)
    err.located = True  # type: ignore[attr-defined]
    return err


def _outside(e: Expr | None, divide: bool) -> str:
    """Why the value of e is undefined at this point (after NumPy's divide-by-zero or invalid signal)."""
    if e is None:
        return "the result is not defined at this point (a division by zero, or a value outside the domain)"
    if isinstance(e, (Div, HDiv)):
        den = e.den if isinstance(e, Div) else e.b
        return f"division by zero: {to_text(den)} has zero entries at this point"
    if isinstance(e, (Power, EPower)):
        return (f"{to_text(e)}: a power outside its domain at this point (a fractional power of a negative value, "
                "or a negative power of 0)")
    if isinstance(e, Call):
        return f"{to_text(e)}: a value outside the domain of {e.fn.name} at this point"
    return f"{to_text(e)} is not defined at this point ({'a division by zero' if divide else 'an invalid operation'})"


def internal_value(e: Expr, value: Any) -> Any:
    """A value of generated code's convention (1-D vectors) as evaluation keeps it: a NumPy scalar, an (n, 1) column,
    a (1, n) row, a 2-D matrix."""
    if e.is_scalar:
        return np.asarray(value).reshape(())[()]
    if _is_vec(e):
        return np.reshape(value, (-1, 1) if _one(e.shape[1]) else (1, -1))
    return value


def executor(variables: Mapping[str, Var], bind: Bindings) -> Executor:
    """The executor at the point ``bind`` holds (its values in generated code's convention: 1-D vectors)."""
    return Executor(variables, {n: generated_value(v, bind.values[n]) for n, v in variables.items()}, bind)


def generated_value(var: Var, value: Any) -> Any:
    """A variable's value as evaluation keeps it, in generated code's convention (a vector, column or row, 1-D)."""
    return value.reshape(-1) if not var.is_scalar and _is_vec(var) else value


def execute(outputs: Sequence[Expr], variables: Mapping[str, Var], values: Mapping[str, Any]) -> list[Any]:
    """The outputs at ``values``, computed by the executed lowering, as generated code returns them."""
    x = executor(variables, Bindings(variables, values))
    with np.errstate(over="ignore", under="ignore", divide="call", invalid="call", call=x.signal):
        got = [x.evaluate(o) for o in outputs]
    return [_scalar(g) if o.is_scalar else g for o, g in zip(outputs, got)]


def _one(d: Dim) -> bool:
    return d.find().value == 1


def _is_vec(e: Expr) -> bool:
    """A column or row vector: 1-D in generated code."""
    return e.shape is not None and (_one(e.shape[0]) != _one(e.shape[1]))


def _negated(e: Expr) -> Expr | None:
    """u where e is -u (Neg(u), or -1*u)."""
    if isinstance(e, Neg):
        return e.arg
    if isinstance(e, MatMul) and isinstance(e.factors[0], Num) and e.factors[0].value == -1:
        rest = e.factors[1:]
        return rest[0] if len(rest) == 1 else MatMul(rest)
    return None


def _col(e: Expr) -> bool:
    """A column vector (n x 1, n not 1)."""
    return e.shape is not None and _one(e.shape[1]) and not _one(e.shape[0])


def _row(e: Expr) -> bool:
    """A row vector (1 x n, n not 1)."""
    return e.shape is not None and _one(e.shape[0]) and not _one(e.shape[1])


def _out(e: Expr, code: str) -> str:
    return f"_scalar({code})" if e.is_scalar else code


def _atomic(code: str) -> bool:
    """True where code needs no parentheses: a name, attribute, call or index (balanced to the end)."""
    m = re.match(r"[A-Za-z_][\w.]*", code)
    if not m:
        return bool(re.fullmatch(r"-?\d+(\.\d*)?(e-?\d+)?", code))
    i = m.end()
    while i < len(code):
        if code[i] not in "([":
            return code[i:] == ".T"
        depth, j = 0, i
        while j < len(code):
            depth += code[j] in "(["
            depth -= code[j] in ")]"
            j += 1
            if depth == 0:
                break
        if depth:
            return False
        i = j
        if code.startswith(".T", i):
            i += 2
    return True


def _inline(stmts: list[tuple[str, str]], keep: list[str]) -> list[tuple[str, str]]:
    """Inline temporaries used once into their single user, for a readable source."""
    pattern = re.compile(TEMPORARY)
    uses: dict[str, int] = {}
    for _, code in stmts:
        for m in pattern.findall(code):
            uses[m] = uses.get(m, 0) + 1
    for r in keep:
        for m in pattern.findall(r):
            uses[m] = uses.get(m, 0) + 2  # keep what the results and the checks name
    factorizations = ("_F.lu(", "_F.chol(", "_F.inv(", "_F.logdet(", "_F.det(", "_F.adj(")
    inlined: dict[str, str] = {}
    out: list[tuple[str, str]] = []
    for name, code in stmts:
        code = pattern.sub(lambda m: inlined.get(m.group(), m.group()), code)
        if uses.get(name, 0) == 1 and not code.startswith(factorizations) and len(code) < 70:
            inlined[name] = code if _atomic(code) else f"({code})"
            continue
        out.append((name, code))
    return out


def generate(name: str, outputs: Sequence[Expr], variables: Mapping[str, Var], guard_of: Expr | None = None,
             doc: str = "", comment: Sequence[str] = ()) -> str:
    """Source of ``def name(vars...)`` returning the outputs (a tuple when there are several)."""
    from ..calculus.simplify import Simplifier

    low = Lowering(variables)
    simp = Simplifier()
    checks = [(k, e if k in ("evaluates", "invertible") else simp.run(e), w)
              for k, e, w in (guards(guard_of) if guard_of is not None else [])]
    low.plan(list(outputs) + [e for k, e, _ in checks if k != "invertible"])
    guard_lines: list[str] = []
    for kind, e, what in checks:
        if kind == "evaluates":  # the value itself refuses where it is undefined (logdet), or the function's check
            fn = getattr(e, "fn", None)
            fn.check(low, e) if fn is not None and fn.check is not None else low(e)
        elif kind == "invertible" and e.arg.is_scalar:
            guard_lines.append(f"_nonzero({low(e.arg)}, {to_text(e.arg)!r})")
        elif kind == "invertible":
            guard_lines.append(f"_F.LU.check({low.factor(e.arg)}, 'inv')" if not (
                isinstance(e.arg, Var) and e.arg.kind == "spd") else "")
            low.factor(e.arg)
        elif not (kind == "positive" and positive(e)):
            guard_lines.append(f"_check({kind!r}, {low(e)}, {what!r}, {to_text(e)!r})")
    results = [_out(o, low(o)) for o in outputs]
    stmts = _inline(low.stmts, results + guard_lines)
    params = [pyname(n) for n in variables]
    lines = [f"def {name}({', '.join(params)}):"]
    if doc:
        lines.append(f'    """{doc}"""')
    for c in comment:
        lines.append(f"    # {c}")
    for n, v in variables.items():  # arrays in float64 (integers, booleans, float32 converted); scalars checked
        p = pyname(n)
        if v.is_scalar:
            lines.append(f"    {p} = _arg0({p})")
        elif v.is_vector and v.kind != "vector":  # a matrix declared with one column
            lines.append(f"    {p} = _np.reshape(_arg({p}), -1)")
        else:
            lines.append(f"    {p} = _arg({p})")
    cond = _shape_condition(variables)
    if cond:
        lines.append(f"    if not ({cond}):")
        lines.append("        raise _BadShapes()")
    # no pass over the inputs here: the caller checks the results for NaN/Inf (O(size of the result)) and only then
    # scans the inputs to name the one to blame (make_callable, vmap.batched)

    emitted: set[str] = set()
    guard_at = [line for line in guard_lines if line]
    for g in list(guard_at):  # checks that need no temporaries come first
        if not re.search(TEMPORARY, g):
            lines.append(f"    {g}")
            guard_at.remove(g)
    for n, code in stmts:
        lines.append(f"    {n} = {code}")
        emitted.add(n)
        for g in list(guard_at):
            names = set(re.findall(TEMPORARY, g))
            if names <= emitted:
                lines.append(f"    {g}")
                guard_at.remove(g)
    for g in guard_at:
        lines.append(f"    {g}")
    ret = results[0] if len(results) == 1 else "(" + ", ".join(results) + ")"
    lines.append(f"    return {ret}")
    return "\n".join(lines) + "\n"


def _shape_condition(variables: Mapping[str, Var]) -> str:
    """A cheap test that the arguments have the sizes the expression needs: ``A.shape == (n, n)`` where every size
    of A is known from an earlier argument (or a number), else its ``ndim`` and the sizes known."""
    seen: dict[Dim, str] = {}
    tests: list[str] = []
    for name, v in variables.items():
        if v.is_scalar:
            continue
        p = pyname(name)
        axes = (0,) if v.is_vector else (0, 1)
        known: list[str | None] = []
        for axis in axes:  # a size given by a number, an earlier argument or an earlier axis of this one (S n x n)
            r = v.shape[axis].find()
            known.append(str(r.value) if r.value is not None else seen.get(r))
            if r.value is None and r not in seen:
                seen[r] = f"{p}.shape[{axis}]"
        if all(k is not None for k in known):
            tests.append(f"{p}.shape == ({known[0]},)" if len(axes) == 1 else f"{p}.shape == ({known[0]}, {known[1]})")
        else:
            tests.append(f"{p}.ndim == {len(axes)}")
            for axis, k in zip(axes, known):
                if k is not None:
                    tests.append(f"{p}.shape[{axis}] == {k}")
    return " and ".join(tests)


def make_callable(fn: Callable[..., Any], variables: Mapping[str, Var], params: Sequence[str],
                  doc: str = "", where: str = "", outputs: Sequence[Expr] | None = None,
                  last_first: bool = False) -> Callable[..., Any]:
    """``f(**values)`` calling the generated ``fn``; a ShapeError that names the operands on bad shapes,
    a DomainError that says where (``where``: the expression).

    ``outputs``, the expressions fn computes: where a NumPy result comes back 0 or tiny throughout (a partial
    product that underflowed, at inputs ~1e±200, or a true 0), the interpreter computes them again, rescaling
    the products that left float64's range; a true 0 stays 0 (no extra pass otherwise).

    ``last_first``: the last parameter is given first, positionally (``f(direction, **values)``: a Hessian-vector
    product), the others by name.

    A call's fast path costs what the generated function costs plus one sum per result: the arguments picked by
    one ``itemgetter``, the function called, each NumPy result summed once (finite and not tiny: returned).  A
    missing argument, an error, a result that is not finite or is 0 or tiny take the slow path, which explains."""
    names = list(params)
    named = names[:-1] if last_first else names
    getter = itemgetter(*named) if named else (lambda values: ())
    one = len(named) == 1
    last = names[-1] if last_first else ""
    inner = fn
    while hasattr(inner, "__wrapped__"):  # a backend's _wrap (functools.wraps): the generated function inside
        inner = inner.__wrapped__
    all_finite = getattr(inner, "__globals__", {}).get("_all_finite")  # its backend's reader of concrete arrays
    finite_inputs = getattr(inner, "__globals__", {}).get("_finite_inputs")  # names an input with NaN/Inf entries
    ndarray, reduce, lo, inf = np.ndarray, _reduce, UNDERFLOW, np.inf

    def blame(values: Mapping[str, Any]) -> None:
        """A DomainError naming the first input with NaN or infinite entries, if one has (after a result that is
        not finite, or a DomainError: a NaN input makes a Cholesky factorization fail, say)."""
        given = {n: values[n] for n in names if n in values}
        if finite_inputs is not None and all_finite is not None:  # another backend: it reads its own arrays
            finite_inputs(**given)
            return
        for n, v in given.items():
            try:
                a = np.asarray(v)
                bad = a.dtype.kind in "fc" and not np.all(np.isfinite(a))
            except Exception:  # noqa: BLE001 - not an array of numbers: Bindings explains
                continue
            if bad:
                raise DomainError(f"the value of {n} has NaN or infinite entries")

    def checked(out: Any, values: Mapping[str, Any]) -> Any:
        """The slow path's look at the results: NaN/Inf (from the inputs: say which), or 0 or tiny throughout."""
        state = _scan(out) if all_finite is None else (_FINE if _finite(out, all_finite) else _NOT_FINITE)
        if state is _FINE:
            return out
        if state is _NOT_FINITE:  # NaN or Inf: from the inputs (say which) or an overflow
            blame(values)
            raise DomainError("the result is not finite at this point (an overflow, or a value outside "
                              "the domain)")
        if outputs is not None:  # 0 or tiny throughout: computed again, rescaled where a product underflowed
            return _interpreted(outputs, variables, values, out)
        return out

    def looked_at(out: Any, given: Mapping[str, Any], value: Any = None) -> Any:
        """The results of a call, other than one finite NumPy array: a tuple of them, a float, or the slow path."""
        if type(out) is tuple:
            for o in out:
                t = type(o)
                if not ((t is ndarray and lo <= abs(reduce(o, None)) < inf) or (t is float and lo <= abs(o) < inf)):
                    break
            else:
                return out
        elif type(out) is float and lo <= abs(out) < inf:
            return out
        values = {**given, last: value} if last_first else given
        try:
            return checked(out, values)
        except DomainError as err:
            raise located(err) from None

    def located(err: DomainError) -> DomainError:
        return DomainError(f"{err} (in {where})") if where and where not in str(err) else err

    def failed(error: Exception, args: tuple[Any, ...], values: Mapping[str, Any]) -> Any:
        """The slow path of a call that raised ``error``: a DomainError that names the input to blame and says where,
        a ShapeError that names the operands, a MatdiffError; or the result, where the arguments needed converting."""
        try:
            try:
                raise error
            except (DomainError, np.linalg.LinAlgError):
                blame(values)  # a NaN input is the cause to name, not the factorization it made fail
                raise
        except DomainError as err:
            raise located(err) from None
        except MatdiffError:
            raise
        except (OverflowError, ZeroDivisionError):  # Python floats in, where NumPy's would give Inf
            raise DomainError("the result is not finite at this point (an overflow, or a value outside the "
                              f"domain){f' (in {where})' if where else ''}") from None
        except np.linalg.LinAlgError as err:  # an SVD or solve of entries that overflowed: once the inputs are right
            Bindings({k: v for k, v in variables.items() if k in values}, values)  # a ShapeError first, if any
            raise DomainError(f"the linear algebra failed at this point ({err}): an overflow, or a value outside "
                              f"the domain{f' (in {where})' if where else ''}") from None
        except (ValueError, TypeError, IndexError, AttributeError) as err:
            b = Bindings({k: v for k, v in variables.items() if k in values}, values)  # raises a ShapeError
            if isinstance(err, (_BadShapes, AttributeError, TypeError)):
                # the sizes fit once converted (lists, vectors given as columns): run on the arrays
                try:
                    return fn(*[b.values[n][:, 0] if variables[n].is_vector else b.values[n] for n in names])
                except MatdiffError:
                    raise
                except Exception as again:  # noqa: BLE001 - reported below as a MatdiffError
                    err = again
            raise MatdiffError(f"evaluation failed: {type(err).__name__}: {err}") from None

    def missing(values: Mapping[str, Any]) -> MatdiffError:
        return MatdiffError(f"no value given for {', '.join(n for n in named if n not in values)}")

    if last_first:
        def call_last(value: Any, /, **values: Any) -> Any:
            try:
                got = getter(values)
            except KeyError:
                raise missing(values) from None
            args = (got, value) if one else (*got, value)
            try:
                out = fn(*args)
            except Exception as err:  # noqa: BLE001 - explained (or raised again) by the slow path
                return failed(err, args, {**values, last: value})
            # the fast path: one sum of the NumPy result, finite and not tiny (NaN fails both comparisons)
            if type(out) is ndarray and lo <= abs(reduce(out, None)) < inf:
                return out
            return looked_at(out, values, value)

        call_last.__doc__ = doc
        return call_last

    def call(**values: Any) -> Any:
        try:
            got = getter(values)
        except KeyError:
            raise missing(values) from None
        args = (got,) if one else got
        try:
            out = fn(*args)
        except Exception as err:  # noqa: BLE001 - explained (or raised again) by the slow path
            return failed(err, args, values)
        if type(out) is ndarray and lo <= abs(reduce(out, None)) < inf:  # the fast path, as in call_last
            return out
        return looked_at(out, values)

    call.__doc__ = doc
    return call




def batched(fn: Callable[..., Any], variables: Mapping[str, Var], params: Sequence[str], backend: str = "numpy",
            batch: Any = True, where: str = "") -> Callable[..., Any]:
    """``f(**values)`` evaluating the generated ``fn`` over the leading axis of the batched values (the batched
    counterpart of :func:`make_callable`; :func:`matdiff.runtime.vmap.batched`): a ShapeError naming operands and
    sizes of the first example, a DomainError that says where and which batch element."""
    if backend == "numpy":  # runs in the batched NumPy runtime: it must provide what the code calls
        inner = _unwrap(fn)
        _require(_batch_runtime.namespace(inner.__globals__.get("_D")), getattr(inner, "__matdiff_runtime__", ()),
                 "numpy (batched)")

    def explain(first: Mapping[str, Any]) -> None:  # the unbatched code's ShapeError for the first example
        Bindings({k: v for k, v in variables.items() if k in first}, first)

    return _batched(fn, list(params), backend, batch, where=where, explain=explain)


def _unwrap(fn: Callable[..., Any]) -> Callable[..., Any]:
    while hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return fn


def standalone(source: str) -> str:
    """The source with the runtime it calls inlined, to paste where only NumPy and SciPy are installed
    (:mod:`matdiff.numeric.standalone`)."""
    from .standalone import standalone_source

    return standalone_source(source)


def _require(namespace: Mapping[str, Any], used: Any, backend: str) -> None:
    """MatdiffError unless the namespace provides every runtime name in ``used``: the missing kernel, its backend,
    and the functions of the language whose code calls it (their registry entries' ``calls``)."""
    lacking = protocol.missing(namespace, used)
    if not lacking:
        return
    parts = []
    reasons = protocol.cannot(namespace)
    for name in lacking:
        users = sorted({f.name for f in entries() if any(c == name or c.startswith(name + ".") for c in f.calls)})
        parts.append(f"{name} (needed by {', '.join(users)})" if users else name)
    if all(n in reasons for n in lacking):  # declared: the backend cannot, by design
        why = "; ".join(dict.fromkeys(reasons[n] for n in lacking))
        raise MatdiffError(f"the {backend} backend cannot compute {', '.join(parts)}: {why}; use backend='numpy' "
                           "for this expression")
    raise MatdiffError(f"the {backend} backend does not provide {'; '.join(parts)}, which the generated code calls; "
                       "add it to that backend's runtime (matdiff.runtime)")


def defined_kernels(backend: str, source: str) -> Any:
    """``_D`` of generated code: the kernels of the functions defined as primitives (matdiff.define) on a backend;
    a MatdiffError where the source calls one that has no kernel there."""
    kernels = {}
    for fn in entries():
        if f"_D.{fn.name}(" not in source:
            continue
        got = fn.kernels.get(backend, {}).get(fn.name)
        if got is None:
            raise MatdiffError(f"{fn.name} has no kernel for the {backend} backend (it was defined with "
                               f"{', '.join(k + '=' for k in fn.kernels)}); define it with {backend}=<kernel>")
        kernels[fn.name] = got
    return SimpleNamespace(**kernels)


def build(source: str, name: str, backend: str = "numpy") -> Callable[..., Any]:
    """The function defined by generated source, run on the given backend.

    Compile time only: the runtime names the source calls are checked against the backend's namespace (a
    MatdiffError naming a missing kernel), and recorded on the function (``__matdiff_runtime__``) for a rebind
    to the batched runtime; calling it costs nothing more."""
    namespace = namespace_for(backend)
    namespace["_D"] = defined_kernels(backend, source)  # the kernels of defined primitives (matdiff.define)
    try:
        tree = ast.parse(source, f"<matdiff:{name}>")
    except SyntaxError as err:  # pragma: no cover
        raise MatdiffError(f"internal: generated code does not compile: {err}\n{source}") from None
    used = protocol.uses(tree)
    _require(namespace, used, backend)
    exec(compile(tree, f"<matdiff:{name}>", "exec"), namespace)  # noqa: S102 - generated, not user text
    fn = namespace[name]
    fn.__matdiff_runtime__ = used
    wrap = namespace.get("_wrap")  # a backend's hook: converts inputs, sets new arrays' dtype/device, lazy checks
    return wrap(fn) if wrap is not None else fn
