"""d(expr) as a linear form in dX, and the identification of the gradient M in df = tr(M' dX).

``expand`` applies the rules of :mod:`matdiff.calculus.rules` outermost first, one rule a step, as a
textbook page does.  ``identify`` then writes each term of the linear form as
``tr(P dX)`` (a scalar is its own trace, tr(B') = tr(B), the cyclic property, ...),
combines like terms and reads off ``M = P'``.

The identification is the adjoint of the linear map dX -> df: for a term E(dX) and a
cotangent C, <C, A F B> = <A' C B', F>, <C, F'> = <C', F>, <C, tr F> = <C I, F>,
<C, G .* F> = <C .* G, F>, <C, sum F> = <C 1 1', F>, <C, diag F> = <diag C, F>.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..core.build import (
    ONE,
    ZERO,
    T,
    add,
    call,
    div,
    had,
    hdiv,
    is_zero,
    mul,
    neg,
    zero_like,
)
from ..core.nodes import (
    Add,
    Call,
    D,
    Diff,
    Div,
    Expr,
    Eye,
    Hadamard,
    HDiv,
    MatMul,
    Neg,
    Num,
    Ones,
    Transpose,
    Var,
)
from ..errors import LimitError, MatdiffError
from ..functions.linalg import adj, det, inv, tr
from ..functions.reductions import diag, sum_
from ..syntax.latex import latex_name
from ..syntax.printer import MUL, precedence, to_text
from .rules import neutral, rule_for
from .simplify import Simplifier, split_coefficient, symmetric_part
from .steps import Step

MAX_STEPS = 2000


def _without_d(e: Expr) -> Expr:
    """e with each pending d(U) replaced by U (the same shape): to write the size of a zero."""
    if isinstance(e, D):
        return e.arg
    if not e.pending:
        return e
    return e.rebuild(tuple(_without_d(c) for c in e.children))


def _zero(e: Expr) -> Expr:
    """The zero shaped like e (a differential that turned out 0), its size written without d(...)."""
    z = zero_like(e)
    return z if isinstance(z, Num) else _without_d(z)


def _rebuild(e: Expr, children: tuple[Expr, ...]) -> Expr:
    """e with new children, folding the trivial cases (the builders)."""
    if isinstance(e, MatMul):
        if any(is_zero(c) for c in children):  # a factor's differential is 0: the product's zero, its shape
            return _zero(e)
        return mul(*children)
    if isinstance(e, Transpose) and is_zero(children[0]):
        return _zero(e)
    if isinstance(e, Add):
        return add(*children)
    if isinstance(e, Neg):
        return neg(children[0])
    if isinstance(e, Call) and e.fn.linear_in is not None:  # tr, sum, diag, adj_d(A, .)
        if e.fn.arity == 1 and is_zero(children[0]):  # diag(0) would lose the shape: diag maps both ways
            return _zero(e)
        return call(e.fn, *children)
    if isinstance(e, Div):
        return div(*children)
    if isinstance(e, Hadamard):
        return had(*children)
    if isinstance(e, HDiv):
        return hdiv(*children)
    return e.rebuild(children)


class _Expander:
    def __init__(self, var: Var):
        self.var = var
        self.dvar = Diff(var)

    def d(self, e: Expr) -> Expr:
        if self.var.name not in e.free:
            return ZERO
        if isinstance(e, Var):
            return self.dvar
        return D(e)

    def name(self, e: Expr) -> str:
        """The name of the rule that gives d(e)."""
        if isinstance(e, MatMul):
            varying = sum(1 for f in e.factors if self.var.name in f.free)
            return rule_for(e)[0] if varying > 1 else LINEAR_PRODUCT
        return rule_for(e)[0]

    def rule(self, e: Expr) -> Expr:
        out = rule_for(e)[1](e, self.d)
        if isinstance(e, Add) and not e.is_scalar:
            # a scalar term added to a matrix adds entrywise: its differential is ds * ones
            out = add(*(mul(self.d(t), Ones(e)) if t.is_scalar and t.free else self.d(t) for t in e.terms))
        return out

    def first(self, e: Expr) -> str | None:
        """The rule name of the first pending d(...) of e (pre-order)."""
        if isinstance(e, D):
            return self.name(e.arg)
        if not e.pending:
            return None
        for c in e.children:
            if c.pending:
                got = self.first(c)
                if got is not None:
                    return got
        return None

    def step(self, e: Expr, name: str, memo: dict[Expr, Expr] | None = None) -> Expr:
        """Every pending d(...) of e whose rule is ``name`` expanded: one rule, one step, as a textbook does
        (equal subexpressions once: the tree may share them many times)."""
        memo = {} if memo is None else memo
        got = memo.get(e)
        if got is not None:
            return got
        if isinstance(e, D):
            out = self.rule(e.arg) if self.name(e.arg) == name else e
        elif not e.pending:
            out = e
        else:
            kids = tuple(self.step(c, name, memo) if c.pending else c for c in e.children)
            out = e if all(a is b for a, b in zip(kids, e.children)) else _rebuild(e, kids)
        memo[e] = out
        return out


LINEAR_PRODUCT = "linearity: d(P*U*Q) = P*dU*Q for constant P, Q"
IDENTITY_FACTOR = "the identity factor: P*(t*I) = t*P"


def _eye_products(e: Expr, var: Var, found: list[Expr]) -> None:
    """The pending d(P*U*Q) of e, one factor varying, with an identity among the constant factors (d(x*eye))."""
    if isinstance(e, D):
        a = e.arg
        if isinstance(a, MatMul) and any(isinstance(f, Eye) for f in a.factors) \
                and sum(1 for f in a.factors if var.name in f.free) == 1 and a not in found:
            found.append(a)
        return
    for c in e.children:
        if c.pending:
            _eye_products(c, var, found)


def _with_identity(e: Expr, ex: _Expander, memo: dict[Expr, Expr]) -> Expr:
    """e with each d(P*U*Q) that has an identity factor written out as P*dU*Q, the identity kept (for the step
    that shows d(x*eye) = dx*eye; the builders would drop it)."""
    got = memo.get(e)
    if got is not None:
        return got
    if isinstance(e, D) and isinstance(e.arg, MatMul) and any(isinstance(f, Eye) for f in e.arg.factors):
        out: Expr = MatMul(tuple(ex.d(f) if ex.var.name in f.free else f for f in e.arg.factors))
    elif isinstance(e, D):
        out = ex.step(e, LINEAR_PRODUCT)
    elif not e.pending:
        out = e
    else:
        kids = tuple(_with_identity(c, ex, memo) if c.pending else c for c in e.children)
        out = e.rebuild(kids)
    memo[e] = out
    return out


def _factors_text(fs: tuple[Expr, ...] | list[Expr]) -> str:
    return "*".join("eye" if isinstance(g, Eye) else f"({to_text(g)})" if precedence(g) < MUL else to_text(g)
                    for g in fs)


def _eye_label(e: MatMul, ex: _Expander) -> str:
    """linearity: d(x*eye) = dx*eye, with the product's own operands."""
    fs = e.factors
    return f"linearity: d({_factors_text(fs)}) = " + \
        _factors_text([ex.d(g) if ex.var.name in g.free else g for g in fs])


def expand(f: Expr, var: Var, lhs: str = "df", lhs_latex: str = r"\mathrm{d}f") -> tuple[Expr, list[Step]]:
    """The differential of f as an expression linear in dX, with one step per rule used."""
    ex = _Expander(var)
    df = ex.d(f)
    steps = [Step("", lhs, df, lhs_latex=lhs_latex)]
    avoid = set(f.free) | {var.name}
    pad = " " * (len(lhs) - 1)
    sizes: dict[int, int] = {}  # by id: every df measured stays alive in ``steps``
    while df.pending:
        if len(steps) > MAX_STEPS:
            raise LimitError(f"the derivation took more than {MAX_STEPS} steps; the expression is too large")
        name = ex.first(df)
        if name is None:  # pragma: no cover - pending implies a D node
            break
        before = df
        df = ex.step(df, name)
        if tree_size([df], MAX_TERMS_SIZE, sizes) > MAX_TERMS_SIZE:
            raise LimitError(f"the differential grew past {MAX_TERMS_SIZE} nodes while it was being expanded: "
                             "a derivative this large is refused")
        eyes: list[Expr] = []
        if name == LINEAR_PRODUCT:
            _eye_products(before, var, eyes)
        if eyes:  # d(x*eye) = dx*eye in a step of its own, then the identity factor goes
            shown = _with_identity(before, ex, {})
            label = _eye_label(eyes[0], ex) if len(eyes) == 1 else neutral(name, avoid)
            steps.append(Step(label, pad, shown, lhs_latex=""))
            steps.append(Step(neutral(IDENTITY_FACTOR, avoid), pad, df, lhs_latex=""))
            continue
        steps.append(Step(neutral(name, avoid), pad, df, lhs_latex=""))
    return df, steps


# ------------------------------------------------------------------------------ identification
MAX_TERMS = 5_000
MAX_TERMS_SIZE = 100_000


def expand_terms(e: Expr) -> list[Expr]:
    """The terms of a linear form, each with a single dX (products distributed over sums);
    LimitError where they grow past a bound (a derivative that blows up)."""
    terms = _TermExpander().run(e)
    if len(terms) > MAX_TERMS:
        raise LimitError(f"the differential has {len(terms)} terms: a derivative this large is refused; "
                         "simplify the expression first")
    return terms


def tree_size(exprs: list[Expr], limit: int, memo: dict[int, int] | None = None) -> int:
    """The number of nodes of the expressions written out as trees (stops counting past limit).

    ``memo`` (keyed by id) may be shared between calls while the expressions it counted are alive."""
    memo = {} if memo is None else memo
    total = 0
    for root in exprs:
        stack: list[tuple[Expr, bool]] = [(root, False)]
        while stack:  # post-order without recursion: trees here can be deep
            x, done = stack.pop()
            if id(x) in memo:
                continue
            if done:
                memo[id(x)] = min(1 + sum(memo[id(c)] for c in x.children), limit + 1)
            else:
                stack.append((x, True))
                stack.extend((c, False) for c in x.children if id(c) not in memo)
        total += memo[id(root)]
        if total > limit:
            break
    return total


class _TermExpander:
    """Distributes products over the sums of a linear form, one term per dX.

    Every intermediate term ends up inside its own final term, so a list of terms written out past
    MAX_TERMS_SIZE nodes is refused at once, before the rest of the blow-up is built."""

    def __init__(self) -> None:
        self.count = 0
        self.sizes: dict[int, int] = {}
        self.alive: list[Expr] = []  # keeps the ids in ``sizes`` valid

    def run(self, e: Expr) -> list[Expr]:
        self.count += 1
        if self.count > 20 * MAX_TERMS:
            raise LimitError("the differential has too many terms to identify the gradient")
        run = self.run  # one frame per level (and one per comprehension): these trees can be deep
        if isinstance(e, Diff):
            return [e]
        if isinstance(e, Add):
            out = [t for term in e.terms if term.linear for t in run(term)]
        elif isinstance(e, Neg):
            out = [neg(t) for t in run(e.arg)]
        elif isinstance(e, MatMul):
            k = _linear_index(e.factors)
            fs = e.factors
            out = [mul(*fs[:k], t, *fs[k + 1:]) for t in run(fs[k])]
        elif isinstance(e, Transpose):
            out = [T(t) for t in run(e.arg)]
        elif isinstance(e, Div):
            out = [div(t, e.den) for t in run(e.num)]
        elif isinstance(e, Hadamard):
            out = [had(t, e.b) for t in run(e.a)] if e.a.linear else [had(e.a, t) for t in run(e.b)]
        elif isinstance(e, HDiv):
            out = [hdiv(t, e.b) for t in run(e.a)]
        elif isinstance(e, Call) and e.fn.linear_in is not None:  # linear in one argument: tr, sum, diag, adj_d
            k, args = e.fn.linear_in, e.args
            out = [call(e.fn, *args[:k], t, *args[k + 1:]) for t in run(args[k])]
        else:  # pragma: no cover
            raise MatdiffError(f"internal: {e} is not linear in the differential")
        if len(out) > 1:
            self.alive.extend(out)
            if tree_size(out, MAX_TERMS_SIZE, self.sizes) > MAX_TERMS_SIZE:
                raise LimitError(f"the differential has {len(out)}+ terms of more than {MAX_TERMS_SIZE} nodes in "
                                 "all: a derivative this large is refused; simplify the expression first")
        return out


def _linear_index(factors: tuple[Expr, ...]) -> int:
    ks = [i for i, f in enumerate(factors) if f.linear]
    if len(ks) != 1:  # pragma: no cover - a first differential is linear
        raise MatdiffError("internal: a product with the differential in more than one factor")
    return ks[0]


CYCLIC = "cyclic property: tr(U*V) = tr(V*U)"
TRANSPOSE = "tr(M') = tr(M)"
OWN_TRACE = "a scalar is its own trace"
HADAMARD = "tr(P'*(Q .* dU)) = tr((P .* Q)'*dU)"
SCALAR_OUT = "a scalar factor comes out: tr(P*dt) = tr(P)*dt"
MERGE_INSIDE = "like terms inside the trace combined"
MERGE_SCALAR = "like terms combined"


def adjoint(e: Expr, c: Expr, rules: list[str]) -> Expr:
    """M with <c, e(dX)> = <M, dX> = tr(M' dX), for a term e linear in dX."""
    while True:
        if isinstance(e, Diff):
            return c
        if isinstance(e, Neg):
            e, c = e.arg, neg(c)
        elif isinstance(e, Add):
            return add(*(adjoint(t, sum_(c) if t.is_scalar and not e.is_scalar else c, rules)
                         for t in e.terms if t.linear))
        elif isinstance(e, MatMul):
            fs = e.factors
            k = _linear_index(fs)
            f = fs[k]
            scal = [g for i, g in enumerate(fs) if i != k and g.is_scalar]
            left = [g for g in fs[:k] if not g.is_scalar]
            right = [g for g in fs[k + 1:] if not g.is_scalar]
            if f.is_scalar:
                rest = mul(*scal, *left, *right)
                if not rest.is_scalar:
                    _note(rules, SCALAR_OUT)
                c = mul(c, rest) if rest.is_scalar else _pair(c, rest)
            else:
                if right and not (isinstance(f, Transpose) and not left):  # tr(dX'*B) = tr(B'*dX) needs no cycle
                    _note(rules, CYCLIC)
                c = mul(*scal, *(T(g) for g in reversed(left)), c, *(T(g) for g in reversed(right)))
            e = f
        elif isinstance(e, Div):
            e, c = e.num, div(c, e.den)
        elif isinstance(e, Hadamard):
            lin, other = (e.a, e.b) if e.a.linear else (e.b, e.a)
            _note(rules, HADAMARD)
            c = had(c, other)
            if lin.is_scalar and not c.is_scalar:  # a scalar spread over the entries: <C, s G> = s sum(C .* G)
                c = sum_(c)
            e = lin
        elif isinstance(e, HDiv):
            _note(rules, HADAMARD)
            c = hdiv(c, e.b)
            if e.a.is_scalar and not c.is_scalar:
                c = sum_(c)
            e = e.a
        elif isinstance(e, Transpose):
            _note(rules, TRANSPOSE)
            e, c = e.arg, T(c)
        elif isinstance(e, Call) and e.fn.adjoint is not None:  # a linear function: its adjoint, from its entry
            rule, e, c = e.fn.adjoint(e, c)
            if rule:
                _note(rules, rule)
        else:  # pragma: no cover
            raise MatdiffError(f"internal: cannot identify the gradient through {e}")


def inner(a: Expr, b: Expr) -> Expr:
    """<a, b> = tr(a' b) written the short way: a*b, a'*b or tr(a'*b)."""
    if a.is_scalar or b.is_scalar:
        return mul(a, b) if a.is_scalar and b.is_scalar else mul(a, sum_(b)) if a.is_scalar \
            else mul(sum_(a), b)
    if isinstance(a, Ones):
        return sum_(b)
    if isinstance(b, Ones):
        return sum_(a)
    if a.is_vector:
        return mul(T(a), b)
    if isinstance(a, Eye):
        return tr(b)
    if isinstance(b, Eye):
        return tr(a)
    return tr(mul(T(a), b))


def _pair(c: Expr, k: Expr) -> Expr:
    """<c, k> for a non-scalar k (the scalar dX multiplies k)."""
    if isinstance(k, Ones):
        return sum_(c)
    return inner(c, k)


def _note(rules: list[str], rule: str) -> None:
    if rule not in rules:
        rules.append(rule)


@dataclass
class Identified:
    gradient: Expr  # M
    differential_form: Callable[[], Expr]  # df written as tr(M' dX) (or g' dx, or c dt)
    steps: list[Step]


def trace_form(p: Expr, dvar: Diff) -> Expr:
    """tr(P*dX) (g'*dx, c*dt) with P's scalar factors written outside the trace."""
    coef, rest = split_coefficient(p)
    if isinstance(rest, MatMul):
        scal = [f for f in rest.factors if f.is_scalar]
        chain = [f for f in rest.factors if not f.is_scalar]
    else:
        scal, chain = ([rest], []) if rest.is_scalar else ([], [rest])
    if dvar.var.is_scalar:
        core = MatMul(tuple(scal + chain + [dvar])) if (scal or chain) and rest != ONE else dvar
        scal = []
    elif dvar.var.is_vector:
        core = MatMul(tuple(chain + [dvar])) if chain else dvar
    else:
        core = Call(tr, MatMul(tuple(chain + [dvar])) if chain else dvar)
    factors = ([] if coef == 1 else [Num(coef)]) + scal
    if isinstance(core, MatMul) and factors:  # 2*x'*dx, not 2*(x'*dx)
        return MatMul(tuple(factors) + core.factors)
    factors.append(core)
    return factors[0] if len(factors) == 1 else MatMul(tuple(factors))


def _collect(terms: list[Expr], var: Var, S: Simplifier) -> tuple[list[Expr], list[str]]:
    """Each term's P in tr(P' dX) (simplified), and the names of the rules that wrote it so."""
    parts: list[Expr] = []
    rules: list[str] = []
    for t in terms:
        term_rules: list[str] = []
        parts.append(S.run(adjoint(t, ONE, term_rules)))
        if not var.is_scalar and not var.is_vector and not _is_trace(t):
            _note(term_rules, OWN_TRACE)
            term_rules.insert(0, term_rules.pop())
        for r in term_rules:
            _note(rules, r)
    return parts, rules


def _merge_candidates(e: Expr, root: bool = True) -> bool:
    """e has, below its root, a trace or a scalar sum of more than one term of the differential."""
    if not e.linear:
        return False
    if not root and isinstance(e, Add) and e.is_scalar:
        return True
    if not root and isinstance(e, Call) and e.fn is tr and _sum_inside(e.arg):
        return True
    return any(_merge_candidates(c, False) for c in e.children if c.linear)


def _sum_inside(e: Expr) -> bool:
    if isinstance(e, Add):
        return sum(1 for t in e.terms if t.linear) > 1
    return any(_sum_inside(c) for c in e.children if c.linear)


def merge_inside(df: Expr, var: Var, S: Simplifier) -> tuple[Expr, list[str]] | None:
    """df with like terms combined inside each trace (each scalar sum) below its root, as a page writes
    tr(d(X'X)) = tr(dX'*X + X'*dX) = 2*tr(X'*dX) before it distributes the factor outside; None where nothing
    combines.  Also the names of the rules used."""
    if not _merge_candidates(df):
        return None
    dvar = Diff(var)
    rules: list[str] = []
    done: list[str] = []

    def walk(e: Expr, root: bool) -> Expr:
        if not e.linear or isinstance(e, Diff):
            return e
        kids = tuple(walk(c, False) if c.linear else c for c in e.children)
        out = e if all(a is b for a, b in zip(kids, e.children)) else _rebuild(e, kids)
        is_tr = isinstance(out, Call) and out.fn is tr
        if root or not (is_tr or (isinstance(out, Add) and out.is_scalar)):
            return out
        terms = expand_terms(out)
        if len(terms) < 2:
            return out
        local: list[str] = []
        parts = [S.run(adjoint(t, ONE, local)) for t in terms]
        m = S.run(add(*parts))
        if is_zero(m) or (len(m.terms) if isinstance(m, Add) else 1) >= len(terms):
            return out
        for r in local:
            _note(rules, r)
        _note(done, MERGE_INSIDE if is_tr else MERGE_SCALAR)
        return trace_form(S.run(S.T(m)), dvar)

    new = walk(df, True)
    return (new, rules + done) if done else None


def identify(df: Expr, var: Var) -> Identified:
    """Collect df into tr(M' dX) and read off M (the symmetric part for symmetric X).

    The gradient is computed here; the intermediate forms shown in the steps (each term as
    tr(P*dX), the combined form) are built when the steps are first read.  Where like terms
    combine inside a trace below the root (the Frobenius norm's tr(dX'*X + X'*dX)), a step
    shows that first, as a page does, and the identification goes on from there.
    """
    dvar = Diff(var)
    steps: list[Step] = []
    terms = expand_terms(df) if df.linear else []
    S = Simplifier()
    parts, rules = _collect(terms, var, S)
    m = S.run(add(*parts)) if parts else ZERO
    zero = is_zero(m)
    if zero:
        m = mul(ZERO, var)
    avoid = set(df.free) | {var.name}
    m0 = m

    def combined() -> Expr:
        return ZERO if zero else trace_form(S.run(S.T(m0)), dvar)

    merged = merge_inside(df, var, S) if terms and not zero else None
    shown_terms, shown_parts, shown_rules, rest = terms, parts, rules, "rearrange"
    if merged is not None:
        steps.append(Step(neutral("; ".join(merged[1]), avoid), " ", merged[0]))
        shown_terms = expand_terms(merged[0])
        shown_parts, shown_rules = _collect(shown_terms, var, S)
        rest = "the scalar factors simplified"

    def shown() -> Expr:
        forms = [trace_form(S.run(S.T(p)), dvar) for p in shown_parts]
        return forms[0] if len(forms) == 1 else Add(tuple(forms))

    if shown_terms and (len(shown_terms) > 1 or shown_rules or not _is_trace_form(shown_terms[0], var)):
        steps.append(Step(neutral("; ".join(shown_rules), avoid) or rest, " ", None, later=shown))
    if len(shown_parts) > 1:
        steps.append(Step("combine like terms", " ", None, later=combined))
    form_name = _form_name(var)
    if var.kind == "diagonal" and not m.is_scalar:
        g = S.run(diag(diag(m)))
        steps.append(Step(f"{var.name} is diagonal: only diagonal d{var.name} occur", "diag(diag(M))", g,
                          note="the gradient on the space of diagonal matrices is the diagonal part of M",
                          lhs_latex=r"\operatorname{diag}(\operatorname{diag}(M))"))
        m = g
    elif var.symmetric and not m.is_scalar:
        g = symmetric_part(m, S)
        note = ("the gradient on the space of symmetric matrices (Frobenius inner product) is the "
                "symmetric part (M + M')/2; the often-quoted 2M - diag(M) is the derivative with "
                "respect to the independent entries, not a gradient for this inner product")
        steps.append(Step(f"{var.name} is {var.kind}: only symmetric d{var.name} occur",
                          "sym(M) = (M + M')/2", g, note=note, lhs_latex=r"\operatorname{sym}(M)"))
        m = g
    n = var.name
    steps.append(Step(f"compare with {form_name}", f"grad_{n} f", m, note=_invertible_note(m, var, S),
                      lhs_latex=rf"\nabla_{{{latex_name(n)}}} f"))
    return Identified(m, combined, steps)


def _adjugates(e: Expr, found: list[Expr]) -> None:
    if isinstance(e, Call) and e.fn is adj and not e.arg.is_scalar:
        if e.arg not in found:
            found.append(e.arg)
        return
    for c in e.children:
        _adjugates(c, found)


def _replace_adj(e: Expr) -> Expr:
    """e with adj(U) written det(U)*inv(U)."""
    if isinstance(e, Call) and e.fn is adj and not e.arg.is_scalar:
        return mul(det(e.arg), inv(e.arg))
    if not e.children:
        return e
    kids = tuple(_replace_adj(c) for c in e.children)
    return e if all(a is b for a, b in zip(kids, e.children)) else _rebuild(e, kids)


def _eigen_shift(u: Expr, var: Var) -> Expr | None:
    """B where u is x*eye - B (x the scalar variable, B constant): det(u) is B's characteristic polynomial."""
    if not (var.is_scalar and isinstance(u, Add) and len(u.terms) == 2):
        return None
    a, b = u.terms
    shift = isinstance(a, MatMul) and len(a.factors) == 2 and a.factors[0] == var and isinstance(a.factors[1], Eye)
    if not shift:
        return None
    if isinstance(b, Neg) and var.name not in b.arg.free:
        return b.arg
    if isinstance(b, MatMul) and b.factors[0] == Num(-1) and var.name not in b.free:
        return mul(*b.factors[1:])
    return None


def _invertible_note(m: Expr, var: Var, S: Simplifier) -> str:
    """Beside a gradient in adjugates (Jacobi's formula, right at singular points too): the invertible form
    det(U)*inv(U) the page derives, and where it holds (for p(x) = det(x*eye - B): where x is not an eigenvalue)."""
    found: list[Expr] = []
    _adjugates(m, found)
    if len(found) != 1:
        return ""
    u = found[0]
    alt = S.run(_replace_adj(m))
    if any(isinstance(x, Call) and x.fn is adj for x in _nodes(alt)):  # the simplifier wrote adj again
        alt = _replace_adj(m)
    b = _eigen_shift(u, var)
    where = f"where {var.name} is not an eigenvalue of {to_text(b)}" if b is not None \
        else f"where {to_text(u)} is invertible"
    also = "at an eigenvalue" if b is not None else f"where {to_text(u)} is singular"
    return (f"Jacobi's formula, invertible form ({where}): grad_{var.name} f = {to_text(alt)}, the same there; "
            f"the adjugate form holds {also} too")


def _nodes(e: Expr) -> list[Expr]:
    out, stack = [], [e]
    while stack:
        x = stack.pop()
        out.append(x)
        stack.extend(x.children)
    return out


def _is_trace_form(t: Expr, var: Var) -> bool:
    """t is already tr(P*dX) (g'*dx, c*dt) as written."""
    if var.is_scalar:
        return isinstance(t, Diff) or (isinstance(t, MatMul) and isinstance(t.factors[-1], Diff))
    if var.is_vector:
        return isinstance(t, MatMul) and isinstance(t.factors[-1], Diff)
    inner = t.arg if isinstance(t, Call) and t.fn is tr else None
    return inner is not None and (isinstance(inner, Diff) or
                                  (isinstance(inner, MatMul) and isinstance(inner.factors[-1], Diff)))


def _is_trace(t: Expr) -> bool:
    while isinstance(t, (Div, Neg)):
        t = t.num if isinstance(t, Div) else t.arg
    if isinstance(t, MatMul):
        return any(isinstance(f, Call) and f.fn is tr and f.linear for f in t.factors)
    return isinstance(t, Call) and t.fn is tr


def _form_name(var: Var) -> str:
    n = var.name
    if var.is_scalar:
        return f"df = c*d{n}"
    if var.is_vector:
        return f"df = g'*d{n}"
    return f"df = tr(M'*d{n})"
