"""Canonical forms: transposes at the leaves, scalars factored, like terms combined.

``simplify`` rewrites bottom-up (memoised on structure, so shared subtrees cost once):

* products: one numeric coefficient, scalar factors with their powers combined
  (``N * N^-1 = 1``), then the matrix chain with identities dropped and ``inv(A)*A`` cancelled;
* sums: like terms combined (``X' + X' = 2*X'``), a common left or right factor taken out
  (``A*x + A'*x = (A + A')*x``);
* traces: ``tr(B') = tr(B)``, scalars out of the trace, ``tr(x*y') = y'*x`` (cyclic: a
  scalar is its own trace);
* the symmetric part ``(M + M')/2`` written with the symmetric terms left alone.
"""

from __future__ import annotations

from fractions import Fraction

from ..core.build import ONE, ZERO, T, add, is_symmetric, is_zero, mul, shape_like
from ..core.nodes import (
    Add,
    Call,
    D,
    Diff,
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
    fold,
    integer_value,
)
from ..core.shapes import same_dim
from ..errors import DomainError, ShapeError
from ..functions.elementwise import exp, one_plus_exp, sigmoid
from ..functions.linalg import adj, det, inv, is_inverse
from ..functions.reductions import diag, is_diag_of_vector, softmax, sum_
from ..functions.registry import Function, identities
from .entrywise import collect, worth_collecting

transpose = T


def simplify(e: Expr, simplifier: Simplifier | None = None) -> Expr:
    """The canonical form of e (same value, fewer operations, the textbook's shape)."""
    return (simplifier or Simplifier()).run(e)


class Simplifier:
    """Memoised rewriting to canonical form; one instance can serve a whole derivation."""

    def __init__(self) -> None:
        self.memo: dict[Expr, Expr] = {}
        self.tmemo: dict[Expr, Expr] = {}

    def T(self, e: Expr) -> Expr:
        """The transpose pushed to the leaves, memoised."""
        return T(e, self.tmemo)

    def run(self, e: Expr) -> Expr:
        got = self.memo.get(e)
        if got is not None:
            return got
        out = self._simp(e)
        if out.is_scalar and e.shape is not None and not e.is_scalar:
            # a matrix that folded to a number (0*A, A - A + 1) keeps its shape: c * ones(A)
            out = MatMul((out, Ones(shape_like(e))))
        self.memo[e] = out
        return out

    def _simp(self, e: Expr) -> Expr:
        if isinstance(e, (Num, Var, Eye, Diff)):
            return e
        if isinstance(e, Ones):
            return e
        if isinstance(e, Transpose):
            a = self.run(e.arg)
            t = T(a, self.tmemo)
            return t if t == e else self.run(t) if not isinstance(t, Transpose) else t
        if isinstance(e, Neg):
            return self.product([Num(-1), self.run(e.arg)])
        if isinstance(e, Div):
            return self.product([self.run(e.num), self._reciprocal(self.run(e.den))])
        if isinstance(e, MatMul):
            return self.product([self.run(f) for f in e.factors])
        if isinstance(e, Add):
            return self.sum([self.run(t) for t in e.terms])
        if isinstance(e, Power):
            return self.power(self.run(e.base), self.run(e.exp))
        if isinstance(e, EPower):
            a, p = self.run(e.a), self.run(e.b)
            if isinstance(p, Num) and p.value == 1:
                return a
            if a.is_scalar and p.is_scalar:
                return self.power(a, p)
            return EPower(a, p)
        if isinstance(e, (Hadamard, HDiv)):
            return self.hadamard(e)
        if isinstance(e, Call):
            args = tuple(self.run(a) for a in e.args)
            try:
                return self.call(e.fn, *args)
            except ShapeError:  # the simplified argument lost a structure the function needs (eigmax: symmetric)
                return Call(e.fn, *e.args)
        if isinstance(e, D):
            return D(self.run(e.arg))
        return e  # pragma: no cover

    # ------------------------------------------------------------------ pieces
    def _merge_diagonals(self, parts: list[Expr]) -> list[Expr]:
        """a*diag(u) + b*diag(v) = diag(a*u + b*v): one diagonal, kept as a vector."""
        diags = [(i, d) for i, t in enumerate(parts) if (d := _diag_term(t)) is not None]
        if len(diags) < 2:
            return parts
        inner = self.sum([self.product(sc + [v]) for _, (sc, v) in diags])
        merged = self.call(diag, inner)
        first = diags[0][0]
        drop = {i for i, _ in diags}
        return [merged if i == first else t for i, t in enumerate(parts) if i == first or i not in drop]

    def hadamard(self, e: Expr) -> Expr:
        """A .* B ./ C ... as coef * scalars * (num1 .* num2 ...) ./ (den1 .* ...), ones dropped."""
        coef: Fraction | float = 1
        scal: list[Expr] = []
        num: list[Expr] = []
        den: list[Expr] = []

        def walk(x: Expr, below: bool) -> None:
            nonlocal coef
            if isinstance(x, Hadamard):
                walk(x.a, below)
                walk(x.b, below)
            elif isinstance(x, HDiv):
                walk(x.a, below)
                walk(x.b, not below)
            elif isinstance(x, Ones):
                pass
            elif x.is_scalar:
                scal.append(self._reciprocal(x) if below else x)
            elif isinstance(x, MatMul) and sum(1 for f in x.factors if not f.is_scalar) == 1:
                for f in x.factors:
                    if isinstance(f, Num):
                        coef = fold("/" if below else "*", coef, f.value)
                    elif f.is_scalar:
                        scal.append(self._reciprocal(f) if below else f)
                    else:
                        walk(f, below)
            else:
                (den if below else num).append(x)

        walk(self.run(e.a), False)
        walk(self.run(e.b), isinstance(e, HDiv))
        if coef == 0 or any(_is_zero(x) for x in num):
            return ZERO
        self._sigmoids(num, den)
        for x in list(den):  # x ./ x = 1
            if x in num:
                num.remove(x)
                den.remove(x)
        core: Expr | None = None
        for x in _powers(num):
            core = x if core is None else Hadamard(core, x)
        if den:
            below: Expr | None = None
            for x in _powers(den):
                below = x if below is None else Hadamard(below, x)
            core = HDiv(ONE if core is None else core, below)
        if core is None:
            return self.product([Num(coef), *scal]) if not e.is_scalar else self.product([Num(coef), *scal])
        return self.product([Num(coef), *scal, core])


    def _sigmoids(self, num: list[Expr], den: list[Expr]) -> None:
        """exp(u)^j ./ (1 + exp(u))^k = sigmoid(u)^j .* (1 - sigmoid(u))^(k-j), in place (stable too)."""
        for part in (num, den):  # sigmoid(u).^2, exp(u).^2 as two factors, so that each may meet its partner
            for f in list(part):
                k = integer_value(f.b) if isinstance(f, EPower) and getattr(f.a, "fn", None) in (sigmoid, exp) \
                    else None
                if k is not None and 1 < k <= 4:
                    part.remove(f)
                    part.extend([f.a] * k)  # type: ignore[attr-defined]
        for d in list(den):
            base, k = (d.a, integer_value(d.b)) if isinstance(d, EPower) else (d, 1)
            u = one_plus_exp(base)
            if u is None or not k or k < 0 or d not in den:
                continue
            e = Call(exp, u)
            j = 0
            while j < k and e in num:
                num.remove(e)
                j += 1
            den.remove(d)
            s = Call(sigmoid, u)
            num.extend([s] * j + [self.sum([ONE, self.product([Num(-1), s])])] * (k - j))
        # exp(-u) .* sigmoid(u) = sigmoid(-u)  (exp(-u)/(1 + exp(-u)))
        for f in list(num):
            if isinstance(f, Call) and f.fn is sigmoid and f in num:
                minus = self.product([Num(-1), f.arg])
                e = self.call(exp, minus)
                if e in num:
                    num.remove(e)
                    num[num.index(f)] = self.call(sigmoid, minus)

    def _reciprocal(self, s: Expr) -> Expr:
        if isinstance(s, Num) and s.value == 0:
            raise DomainError("division by the constant 0: the expression is undefined everywhere")
        if isinstance(s, Num):
            return Num(fold("/", 1, s.value))  # 1/5e-324 overflows: a DomainError
        return self.power(s, Num(-1))

    def power(self, base: Expr, p: Expr) -> Expr:
        if isinstance(p, Num) and not base.is_scalar and isinstance(p.value, int) and p.value < 0:
            inv_ = self.call(inv, base)  # A^-k = inv(A)^k: an inverse the code generator solves with
            return inv_ if p.value == -1 else Power(inv_, Num(-p.value))
        if isinstance(p, Num):
            if p.value == 1:
                return base
            if p.value == 0:
                if base.is_scalar:
                    return ONE
                return Eye(like=base.like if isinstance(base, Eye) and base.like is not None else base)
            if isinstance(base, Num) and isinstance(base.value, (int, Fraction)) and isinstance(p.value, int) \
                    and (base.value != 0 or p.value > 0) and abs(p.value) < 64:
                return Num(fold("^", base.value, p.value))
            if base.is_scalar and isinstance(base, Power) and isinstance(base.exp, Num) \
                    and isinstance(p.value, int):
                return self.power(base.base, Num(fold("*", base.exp.value, p.value)))  # (a^p)^k = a^(p k)
            if isinstance(base, MatMul) and isinstance(p.value, int) and all(f.is_scalar for f in base.factors):
                # (c * u * v)^k = c^k u^k v^k for scalar factors
                return self.product([self.power(f, p) for f in base.factors])
        return Power(base, p)

    def call(self, fn: Function, *args: Expr) -> Expr:
        """fn(args) in canonical form: the constructor's folds, then the function's own identities."""
        if fn.fold is not None:
            got = fn.fold(args)
            if got is not None:
                return got if got.shape is None or not is_zero(got) else ZERO  # run() gives a zero its shape
        a = args[0]
        if fn.zero_at_zero and _is_zero(a):
            return ZERO
        if fn.transpose_invariant and isinstance(a, Transpose):  # tr(A') = tr(A), det(A') = det(A), ...
            return self.call(fn, a.arg, *args[1:])
        if fn.simplify is not None:
            got = fn.simplify(self, args)
            if got is not None:
                return got
        for rule in identities(fn):  # identities other families contribute (norms: sqrt(tr(A'*A)))
            got = rule(self, args)
            if got is not None:
                return got
        return Call(fn, *args)

    def transposed_diff(self, e: Expr) -> bool:
        """e holds dX'."""
        return _transposed_diff(e)

    def product(self, factors: list[Expr]) -> Expr:
        coef: Fraction | float = 1
        scal: dict[Expr, Fraction | float] = {}
        chain: list[Expr] = []

        def absorb(f: Expr) -> None:
            nonlocal coef
            if isinstance(f, Num):
                coef = fold("*", coef, f.value)
            elif isinstance(f, MatMul) and (not f.is_scalar or all(p.is_scalar for p in f.factors)):
                for p in f.factors:
                    absorb(p)
            elif f.is_scalar:
                base, p = f, 1
                if isinstance(f, Power) and isinstance(f.exp, Num):
                    base, p = f.base, f.exp.value
                scal[base] = fold("+", scal.get(base, 0), p)  # a^p * a^q = a^(p + q)
            else:
                chain.append(f)

        for f in factors:
            absorb(f)
        if coef == 0:
            return ZERO  # run() gives it the shape of the product
        chain = self._adjugates(chain, scal)
        chain = self._softmax(chain, scal)
        chain = self._clean_chain(chain)
        chain = self._adjugate_pairs(chain, scal)
        chain = self._scalar_runs(chain, scal)
        out: list[Expr] = []
        if coef != 1:
            out.append(Num(coef))
        for base, p in scal.items():
            if p != 0:
                out.append(base if p == 1 else self.power(base, Num(p)))
        out.extend(chain)
        if not out:
            return ONE
        return out[0] if len(out) == 1 else MatMul(tuple(out))

    def _adjugates(self, chain: list[Expr], scal: dict[Expr, Fraction | float]) -> list[Expr]:
        """adj(A)/det(A) = inv(A): a product that divides by det(A) is defined only where A is invertible,
        so each adj(A) (or adj(A)') in it takes one det(A) from the denominator and becomes inv(A).
        A product without det(A) below keeps adj(A), which is right at singular A too."""
        out = list(chain)
        for i, f in enumerate(chain):
            g = f.arg if isinstance(f, Transpose) else f
            if not (isinstance(g, Call) and g.fn is adj) or g.arg.is_scalar:
                continue
            key = self.call(det, g.arg)
            if scal.get(key, 0) <= -1:
                scal[key] = fold("+", scal[key], 1)
                inverse = self.call(inv, g.arg)
                out[i] = self.T(inverse) if f is not g else inverse
        return out

    def _adjugate_pairs(self, chain: list[Expr], scal: dict[Expr, Fraction | float]) -> list[Expr]:
        """adj(A)*A = A*adj(A) = det(A)*I (and transposed), powers too: X'^2*adj(X)'^3 = det(X)^2*adj(X)'.
        Exact at singular A as well (adj(A)*A = det(A)*I for every square A)."""
        i = 0
        while i + 1 < len(chain):
            (a, j), (b, k) = _power_of(chain[i]), _power_of(chain[i + 1])
            m = _adjugate_pair(a, b)
            if m is None:
                i += 1
                continue
            n = min(j, k)
            key = self.call(det, m)
            scal[key] = fold("+", scal.get(key, 0), n)
            left = [a if j - n == 1 else Power(a, Num(j - n))] if j > n else []
            right = [b if k - n == 1 else Power(b, Num(k - n))] if k > n else []
            chain = chain[:i] + left + right + chain[i + 2:]
            if not chain:
                return [Eye(like=m)]
            i = max(i - 1, 0)
        return chain

    def _softmax(self, chain: list[Expr], scal: dict[Expr, Fraction | float]) -> list[Expr]:
        """exp(x)/sum(exp(x)) = softmax(x) for a vector x (computed without overflow)."""
        out = list(chain)
        for i, f in enumerate(chain):
            if getattr(f, "fn", None) is exp and f.is_vector:
                key = self.call(sum_, f)
                if scal.get(key, 0) <= -1:
                    scal[key] = fold("+", scal[key], 1)
                    out[i] = self.call(softmax, f.arg)  # type: ignore[attr-defined]
        return out

    def _scalar_runs(self, chain: list[Expr], scal: dict[Expr, Fraction | float]) -> list[Expr]:
        """A run of the chain whose product is a scalar comes out of it: x*y'*y = (y'*y)*x."""
        if len(chain) < 3:
            return chain
        for i in range(len(chain)):
            if chain[i].shape[0].size() != 1:
                continue
            for j in range(i + 1, len(chain)):
                if chain[j].shape[1].size() == 1 and (i, j) != (0, len(chain) - 1):
                    run = MatMul(tuple(chain[i:j + 1]))
                    scal[run] = scal.get(run, 0) + 1
                    return self._scalar_runs(chain[:i] + chain[j + 1:], scal)
        return chain

    def _inverse_products(self, chain: list[Expr]) -> list[Expr]:
        """inv(P1*...*Pk) = inv(Pk)*...*inv(P1) for square factors, where a neighbour then cancels:
        A'*inv(A*X*B)'*B' = inv(X)'; the same for adj (adj(A*B) = adj(B)*adj(A) for every square A, B):
        A'*adj(A*X*B)'*B' = det(A)*det(B)*adj(X)'."""
        out: list[Expr] = []
        for i, f in enumerate(chain):
            g = f.arg if isinstance(f, Transpose) else f
            fn = g.fn if isinstance(g, Call) and g.fn in (inv, adj) else None  # type: ignore[attr-defined]
            m = g.arg if fn is not None else None  # type: ignore[attr-defined]
            if not (isinstance(m, MatMul) and all(not p.is_scalar and same_dim(p.shape[0], p.shape[1])
                                                  for p in m.factors)):
                out.append(f)
                continue
            inverses = [self.call(fn, p) for p in reversed(m.factors)]
            ends = (m.factors[-1], m.factors[0])
            if f is not g:  # inv(M)' = inv(P1)'*...*inv(Pk)'
                inverses = [self.T(p) for p in reversed(inverses)]
                ends = (self.T(m.factors[0]), self.T(m.factors[-1]))
            left, right = (chain[i - 1] if i else None), (chain[i + 1] if i + 1 < len(chain) else None)
            out.extend(inverses if left == ends[0] or right == ends[1] else [f])
        return out

    def _clean_chain(self, chain: list[Expr]) -> list[Expr]:
        if any(isinstance(f, (Call, Transpose)) for f in chain) and len(chain) > 1:
            chain = self._inverse_products(chain)
        if len(chain) > 1:
            kept = [f for f in chain if not isinstance(f, Eye)]
            chain = kept if kept else chain[:1]
        out: list[Expr] = []
        inverses = len({_power_of(f)[0] for f in chain}) == 1
        for f in chain:  # inv(A)*A = A*inv(A) = I
            if out and _inverse_pair(out[-1], f):
                out.pop()
                continue
            if out and (k := _chain_power(out[-1], f, inverses)) is not None:  # X*X = X^2, X'^2*X' = X'^3
                out[-1] = Power(k[0], Num(k[1]))
                continue
            if out and _ones_dot(out[-1], f):  # r*1 = 1'*r' = sum(r) for a row r
                v = f if isinstance(out[-1], Ones) else out[-1]
                out[-1] = self.call(sum_, v.arg if isinstance(v, Transpose) else v)
                continue
            if out and _diag_of_vector(out[-1]):
                if _diag_of_vector(f):  # diag(a)*diag(b) = diag(a .* b)
                    out[-1] = self.call(diag, self.hadamard(Hadamard(out[-1].arg, f.arg)))
                    continue
                if isinstance(f, Ones) and f.is_vector:  # diag(v)*1 = v
                    out[-1] = out[-1].arg
                    continue
            out.append(f)
        if not out and chain:
            return [Eye(like=chain[0])]
        return out

    def _linear_terms(self, terms: list[Expr]) -> list[Expr]:
        """Terms c_i*f(.., E_i, ..) of a function of several arguments linear in one (a derivative in a
        direction) with the others equal become one: L(X, A) + 2*L(X, B) = L(X, A + 2*B)."""
        groups: dict[object, list[tuple[Fraction | float, Expr]]] = {}
        order: list[object] = []
        for i, t in enumerate(terms):
            c, rest = split_coefficient(t)
            fn = getattr(rest, "fn", None)
            k = fn.linear_in if fn is not None and fn.arity > 1 else None  # tr(A) + tr(B) stays split
            if k is None:
                key: object = ("term", i)
            else:
                key = (fn, tuple(a for j, a in enumerate(rest.args) if j != k))  # type: ignore[attr-defined]
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append((c, t if k is None else rest))
        out: list[Expr] = []
        for key in order:
            group = groups[key]
            if len(group) == 1:
                c, t = group[0]
                out.append(t if key[0] == "term" else (t if c == 1 else self.product([Num(c), t])))
                continue
            call = group[0][1]
            k = call.fn.linear_in  # type: ignore[attr-defined]
            common = group[0][0] if all(c == group[0][0] for c, _ in group) else 1  # 2*L(X, A) - 2*L(X, B) ...
            inner = self.sum([x.args[k] if c == common else self.product([Num(_ratio(c, common)), x.args[k]])
                              for c, x in group])  # type: ignore[attr-defined]
            args = list(call.args)  # type: ignore[attr-defined]
            args[k] = inner
            merged = self.call(call.fn, *args)  # type: ignore[attr-defined]
            out.append(merged if common == 1 else self.product([Num(common), merged]))  # ... = 2*L(X, A - B)
        return out

    def sum(self, terms: list[Expr]) -> Expr:
        flat: list[Expr] = []
        for t in terms:
            if isinstance(t, Add):
                flat.extend(t.terms)
            elif not _is_zero(t):
                flat.append(t)
        flat = self._linear_terms(flat)
        coefs: dict[object, Fraction | float] = {}
        first: dict[object, Expr] = {}
        for t in flat:
            c, rest = split_coefficient(t)
            key = _term_key(rest)  # scalar factors in any order are the same term
            coefs[key] = fold("+", coefs.get(key, 0), c)  # like terms: 2*A + 3*A = 5*A
            first.setdefault(key, rest)
        parts = [self.product([Num(c), first[k]]) if c != 1 else first[k] for k, c in coefs.items() if c != 0]
        parts = self._merge_diagonals(parts)
        if not parts:
            return ZERO
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2 and (u := _one_minus_sigmoid(parts)) is not None:  # 1 - sigmoid(u) = sigmoid(-u)
            return self.call(sigmoid, self.product([Num(-1), u]))
        if worth_collecting(parts):
            got = collect(parts, self)
            if got is not None:
                return got
        common = self._common_scalars(parts)
        if common is not None:
            return common
        return _factor(parts, self)

    def _common_scalars(self, parts: list[Expr]) -> Expr | None:
        """s*A + s*B = s*(A + B) for a scalar factor s (not a number) of every term."""
        split = [_chain_of(t) for t in parts]
        shared = [f for f in split[0][0] if not isinstance(f, Num) and all(f in sc for sc, _ in split[1:])]
        if not shared:
            return None
        rest = []
        for sc, ch in split:
            left = list(sc)
            for f in shared:
                left.remove(f)
            rest.append(self.product(left + ch))
        return self.product(shared + [self.sum(rest)])


def _one_minus_sigmoid(parts: list[Expr]) -> Expr | None:
    """u where parts are 1 and -sigmoid(u)."""
    a, b = parts
    if b == ONE:
        a, b = b, a
    if a != ONE:
        return None
    c, rest = split_coefficient(b)
    return rest.arg if c == -1 and getattr(rest, "fn", None) is sigmoid else None  # type: ignore[attr-defined]


def _transposed_diff(e: Expr) -> bool:
    if isinstance(e, Transpose):
        return isinstance(e.arg, Diff) or _transposed_diff(e.arg)
    return any(_transposed_diff(c) for c in e.children if c.linear)


def _term_key(t: Expr) -> object:
    """Like terms have equal keys: the multiset of scalar factors and the matrix chain."""
    if isinstance(t, MatMul):
        scal: dict[Expr, int] = {}
        chain = []
        for f in t.factors:
            if f.is_scalar:
                scal[f] = scal.get(f, 0) + 1
            else:
                chain.append(f)
        if scal:
            return (frozenset(scal.items()), tuple(chain))
    return t


def _diag_term(t: Expr) -> tuple[list[Expr], Expr] | None:
    """(scalar factors, v) where t = scalars * diag(v) with v a vector."""
    if _diag_of_vector(t):
        return [], t.arg  # type: ignore[attr-defined]
    if isinstance(t, MatMul):
        chain = [f for f in t.factors if not f.is_scalar]
        if len(chain) == 1 and _diag_of_vector(chain[0]):
            return [f for f in t.factors if f.is_scalar], chain[0].arg  # type: ignore[attr-defined]
    return None


def _is_zero(e: Expr) -> bool:
    return is_zero(e)


def _ratio(a: Fraction | float, b: Fraction | float) -> Fraction | float:
    """a / b, exact for rationals (a DomainError where it overflows)."""
    return fold("/", a, b)


def _powers(factors: list[Expr]) -> list[Expr]:
    """Equal entrywise factors as one power: y .* y = y.^2."""
    counts: dict[Expr, int] = {}
    for f in factors:
        counts[f] = counts.get(f, 0) + 1
    out = []
    for f, k in counts.items():
        if k == 1:
            out.append(f)
        elif isinstance(f, EPower) and isinstance(f.b, Num):
            out.append(EPower(f.a, Num(fold("*", f.b.value, k))))
        else:
            out.append(EPower(f, Num(k)))
    return out


_diag_of_vector = is_diag_of_vector


def _ones_dot(a: Expr, b: Expr) -> bool:
    """a*b is the sum of a vector's entries: a row times a ones column, or a ones row times a column."""
    if a.shape is None or b.shape is None or a.is_scalar or b.is_scalar:
        return False
    row_col = a.shape[0].size() == 1 and b.shape[1].size() == 1
    return row_col and (isinstance(b, Ones) != isinstance(a, Ones))


def _power_of(f: Expr) -> tuple[Expr, int]:
    """(base, k) with f = base^k for a positive integer k (k = 1 for any other factor)."""
    if isinstance(f, Power) and isinstance(f.exp, Num) and isinstance(f.exp.value, int) and f.exp.value > 0:
        return f.base, f.exp.value
    return f, 1


def _chain_power(a: Expr, b: Expr, inverses: bool) -> tuple[Expr, int] | None:
    """a*b as base^k where both are powers of one square matrix base: X*X = X^2, X^2*X = X^3.
    Inverses only where the chain is nothing else (-inv(X)'*inv(X)' = -inv(X)'^2): inside a longer
    product inv(X)*B*inv(X)*inv(X) keeps its factors, so that common factors of sums still show and
    the code solves.  Not for differentials."""
    (x, j), (y, k) = _power_of(a), _power_of(b)
    if x != y or x.linear or x.shape is None or (is_inverse(x) is not None and not inverses):
        return None
    return x, j + k


def _adjugate_pair(a: Expr, b: Expr) -> Expr | None:
    """A where a*b = det(A)*I: adj(A)*A, A*adj(A), and their transposes."""
    if isinstance(a, Transpose) and isinstance(b, Transpose):
        a, b = a.arg, b.arg
    if isinstance(a, Call) and a.fn is adj and a.arg == b and not b.is_scalar:
        return b
    if isinstance(b, Call) and b.fn is adj and b.arg == a and not a.is_scalar:
        return a
    return None


def _inverse_pair(a: Expr, b: Expr) -> bool:
    """a*b = I: inv(A)*A, A*inv(A), and transposed, inv(A)'*A' = (A*inv(A))' and A'*inv(A)'."""
    if isinstance(a, Transpose) and isinstance(b, Transpose):
        a, b = a.arg, b.arg
    return (isinstance(a, Call) and a.fn is inv and a.arg == b) or \
        (isinstance(b, Call) and b.fn is inv and b.arg == a)


def split_coefficient(t: Expr) -> tuple[Fraction | float, Expr]:
    """t = c * rest with c a number."""
    if isinstance(t, Num):
        return t.value, ONE
    if isinstance(t, MatMul) and isinstance(t.factors[0], Num):
        rest = t.factors[1:]
        return t.factors[0].value, rest[0] if len(rest) == 1 else MatMul(rest)
    return 1, t


def _chain_of(t: Expr) -> tuple[list[Expr], list[Expr]]:
    """(scalar factors with the coefficient, matrix chain) of a term."""
    if isinstance(t, MatMul):
        return [f for f in t.factors if f.is_scalar], [f for f in t.factors if not f.is_scalar]
    return ([], [t]) if not t.is_scalar else ([t], [])


def _factor(parts: list[Expr], s: Simplifier) -> Expr:
    """Take out a matrix factor common to several terms, on the right or on the left:
    A*x + A'*x + b = (A + A')*x + b."""
    split = [_chain_of(t) for t in parts]
    for side in (-1, 0):
        groups: dict[Expr, list[int]] = {}
        for i, (_, ch) in enumerate(split):
            if len(ch) >= 2:
                groups.setdefault(ch[side], []).append(i)
        for f, idx in groups.items():
            if len(idx) < 2:
                continue
            rest = [s.product(split[i][0] + (split[i][1][:-1] if side == -1 else split[i][1][1:])) for i in idx]
            if not _same_shapes(rest):  # the factor is shared, but what is left is not alike (x*y' and X*y')
                continue
            coefs = {split_coefficient(r)[0] for r in rest}
            c = coefs.pop() if len(coefs) == 1 else (-1 if all(x < 0 for x in coefs) else 1)
            inner = s.sum([s.product([Num(_ratio(1, c)), r]) for r in rest] if c != 1 else rest)
            fs = (inner, f) if side == -1 else (f, inner)
            term = s.product([Num(c), MatMul(fs)]) if c != 1 else MatMul(fs)
            others = [p for i, p in enumerate(parts) if i not in idx]
            if not others:
                return term
            return Add(tuple([term] + others)) if idx[0] == 0 else Add(tuple(others + [term]))
    return Add(tuple(parts))


def _same_shapes(parts: list[Expr]) -> bool:

    r, c = parts[0].shape
    return all(same_dim(p.shape[0], r) and same_dim(p.shape[1], c) for p in parts[1:])


def symmetric_part(m: Expr, s: Simplifier | None = None) -> Expr:
    """(M + M')/2, keeping the terms that are symmetric already as they are."""
    s = s or Simplifier()
    m = s.run(m)
    if is_symmetric(m):
        return m
    terms = list(m.terms) if isinstance(m, Add) else [m]
    sym = [t for t in terms if is_symmetric(t)]
    rest = [t for t in terms if not is_symmetric(t)]
    n = rest[0] if len(rest) == 1 else Add(tuple(rest))
    half = s.run(mul(Num(Fraction(1, 2)), add(n, T(n))))
    return s.run(add(*sym, half)) if sym else half


__all__ = ["simplify", "symmetric_part", "transpose", "split_coefficient"]
