"""Entrywise sums collected as polynomials: ``-y.*sigmoid(-u) + (1 - y).*sigmoid(u)`` is ``sigmoid(u) - y``.

A sum of entrywise (Hadamard) products of vectors or matrices of one shape is a polynomial in its
factors, the *atoms*, which commute entrywise.  Expanded and collected, the cross-entropy family
cancels to its textbook form.  The logistic function enters with ``sigmoid(-u) = 1 - sigmoid(u)``
so both signs of one argument meet as one atom; the collected polynomial takes a common atom out
(``s - s.^2 = s.*(1 - s)``) and writes ``1 - sigmoid(u)`` back as ``sigmoid(-u)``.  The simplifier
keeps the collected form only where it is smaller than the sum it came from.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from ..core.nodes import Add, EPower, Expr, Hadamard, HDiv, MatMul, Num, fold, integer_value
from ..functions.elementwise import sigmoid

Monomial = tuple[int, ...]  # the exponent of each atom, by the atom's index
Poly = dict[Monomial, Fraction | float]

MAX_TERMS = 48  # a larger expansion is not a textbook form: keep the sum as it is
MAX_POWER = 4


class _Atoms:
    """The atoms met so far, each with its index (a monomial's exponents are by index)."""

    def __init__(self) -> None:
        self.index: dict[Expr, int] = {}
        self.atoms: list[Expr] = []

    def of(self, e: Expr) -> int:
        if e not in self.index:
            self.index[e] = len(self.atoms)
            self.atoms.append(e)
        return self.index[e]


class _TooBig(Exception):
    pass


def _const(c: Fraction | float) -> Poly:
    return {(): c} if c != 0 else {}


def _mono(n: int) -> Monomial:
    return (0,) * n


def _norm(m: Monomial) -> Monomial:
    """Exponents without trailing zeros (monomials of fewer atoms compare equal)."""
    k = len(m)
    while k and m[k - 1] == 0:
        k -= 1
    return m[:k]


def _add(p: Poly, q: Poly, scale: Fraction | float = 1) -> Poly:
    out = dict(p)
    for m, c in q.items():
        v = fold("+", out.get(m, 0), fold("*", scale, c))
        if v == 0:
            out.pop(m, None)
        else:
            out[m] = v
    if len(out) > MAX_TERMS:
        raise _TooBig
    return out


def _mul(p: Poly, q: Poly) -> Poly:
    out: Poly = {}
    for m1, c1 in p.items():
        for m2, c2 in q.items():
            n = max(len(m1), len(m2))
            m = _norm(tuple((m1[i] if i < len(m1) else 0) + (m2[i] if i < len(m2) else 0) for i in range(n)))
            v = fold("+", out.get(m, 0), fold("*", c1, c2))
            if v == 0:
                out.pop(m, None)
            else:
                out[m] = v
            if len(out) > MAX_TERMS:
                raise _TooBig
    return out


def _atom(atoms: _Atoms, e: Expr) -> Poly:
    i = atoms.of(e)
    return {_norm(_mono(i) + (1,)): 1}


def _negated(u: Expr) -> Expr | None:
    """v where u = -v (a leading -1)."""
    if isinstance(u, MatMul) and isinstance(u.factors[0], Num) and u.factors[0].value == -1:
        rest = u.factors[1:]
        return rest[0] if len(rest) == 1 else MatMul(rest)
    return None


def _expand(e: Expr, atoms: _Atoms, S: Any) -> Poly:
    if isinstance(e, Num):
        return _const(e.value)
    if isinstance(e, Add):
        out: Poly = {}
        for t in e.terms:
            out = _add(out, _expand(t, atoms, S))
        return out
    if isinstance(e, Hadamard):
        return _mul(_expand(e.a, atoms, S), _expand(e.b, atoms, S))
    if isinstance(e, MatMul) and sum(1 for f in e.factors if not f.is_scalar) <= 1:
        out = _const(1)
        for f in e.factors:
            out = _mul(out, _expand(f, atoms, S))
        return out
    if isinstance(e, EPower):
        k = integer_value(e.b)
        if k is not None and 1 <= k <= MAX_POWER:
            base = _expand(e.a, atoms, S)
            out = _const(1)
            for _ in range(k):
                out = _mul(out, base)
            return out
    if getattr(e, "fn", None) is sigmoid:
        v = _negated(e.arg)  # type: ignore[attr-defined]
        if v is not None:  # sigmoid(-v) = 1 - sigmoid(v)
            return _add(_const(1), _atom(atoms, S.call(sigmoid, v)), -1)
    return _atom(atoms, e)


def _build(p: Poly, atoms: _Atoms, S: Any) -> Expr:
    """The sum of p's monomials, a common atom taken out: s - s.^2 = s.*(1 - s)."""
    common = [min(m[i] if i < len(m) else 0 for m in p) for i in range(len(atoms.atoms))]
    if len(p) > 1 and any(common):
        inner = {_norm(tuple(e - (common[i] if i < len(common) else 0) for i, e in enumerate(m))): c
                 for m, c in p.items()}
        return _hadamard([_monomial(_norm(tuple(common)), 1, atoms, S), _sum(inner, atoms, S)], S)
    return _sum(p, atoms, S)


def _sum(p: Poly, atoms: _Atoms, S: Any) -> Expr:
    terms = [_monomial(m, c, atoms, S) for m, c in sorted(p.items(), key=lambda mc: (len(mc[0]) == 0, mc[0]))]
    if len(terms) == 2 and p.get(()) == 1:  # 1 - sigmoid(u) = sigmoid(-u)
        (m, c), = [(m, c) for m, c in p.items() if m]
        if c == -1 and sum(m) == 1 and getattr(atoms.atoms[m.index(1)], "fn", None) is sigmoid:
            u = atoms.atoms[m.index(1)].arg  # type: ignore[attr-defined]
            return S.call(sigmoid, S.product([Num(-1), u]))
    return terms[0] if len(terms) == 1 else Add(tuple(terms))


def _monomial(m: Monomial, c: Fraction | float, atoms: _Atoms, S: Any) -> Expr:
    scal: list[Expr] = []
    ent: list[Expr] = []
    for i, k in enumerate(m):
        if k:
            a = atoms.atoms[i]
            if a.is_scalar:
                scal.append(S.power(a, Num(k)))
            else:
                ent.append(a if k == 1 else EPower(a, Num(k)))
    core = _hadamard(ent, S) if ent else None
    return S.product([Num(c), *scal] + ([core] if core is not None else []))


def _hadamard(factors: list[Expr], S: Any) -> Expr:
    out = factors[0]
    for f in factors[1:]:
        out = Hadamard(out, f)
    return out


def size(e: Expr) -> int:
    """The number of nodes of e (how long it prints, roughly)."""
    return 1 + sum(size(c) for c in e.children)


def worth_collecting(terms: list[Expr]) -> bool:
    """A sum with an entrywise product of a sum (y.*(1 - s)) or with a logistic of a negated argument."""
    def has(e: Expr) -> bool:
        if isinstance(e, Hadamard):
            return isinstance(e.a, Add) or isinstance(e.b, Add) or has(e.a) or has(e.b)
        if isinstance(e, MatMul):
            return any(has(f) for f in e.factors)
        if isinstance(e, EPower):
            return has(e.a)
        return getattr(e, "fn", None) is sigmoid and _negated(e.arg) is not None  # type: ignore[attr-defined]
    return len(terms) > 1 and not terms[0].is_scalar and any(has(t) for t in terms)


def collect(terms: list[Expr], S: Any) -> Expr | None:
    """The sum of terms as a collected polynomial in its entrywise atoms, or None where that is no shorter."""
    if any(isinstance(t, HDiv) for t in terms):
        return None
    atoms = _Atoms()
    try:
        p: Poly = {}
        for t in terms:
            p = _add(p, _expand(t, atoms, S))
    except _TooBig:
        return None
    if not p:
        return Num(0)
    got = _build(p, atoms, S)
    return got if size(got) < sum(size(t) for t in terms) + len(terms) - 1 else None


__all__ = ["collect", "worth_collecting", "size"]
