"""Hypothesis strategies: random well-typed expressions of the whole language, and points.

An expression is built bottom-up by its target shape: scalar ``(1, 1)``, vector ``(n, 1)``, row
vector ``(1, n)``, matrix ``(n, m)`` or square ``(n, n)``, from the dims ``1``, ``n`` and ``m``.
Domains are respected by construction where a construction exists:

* positive entries (for ``log``, ``sqrt``, fractional powers, ``./``): ``exp(E)``, ``E.^2 + c``,
  ``cos(E) + 2``, sums, products and quotients of positives, ``det`` or ``tr`` of an SPD, ...;
* SPD (for ``logdet``): the declared ``S``, ``M'*M + c*eye``, ``M*M' + c*eye``, ``diag(positive)``,
  ``inv(SPD)``, ``SPD^2``, sums and positive multiples of SPDs;
* nonsingular (for ``inv`` and negative powers): SPDs, the variables ``A`` and ``B`` at
  well-conditioned points, ``eye + c*E``;
* off the closed negative real axis (for ``logm`` and ``sqrtm``): SPDs, or ``eye + c*E`` with a guard on
  its eigenvalues; non-integer matrix powers (``S^0.5``, ``S^-0.5``, ``S^1.5``) of the declared SPD ``S``
  only, as the language has them;

and otherwise each node records a *guard* (a subexpression and what must hold there: nonzero, no
entry near 0, a gap between the top singular values, full rank, well conditioned) that
:func:`guards_hold` checks at the point, so that the test can discard points near a kink or a
singularity (where finite differences say nothing) instead of reporting a false mismatch.

The points (:func:`points`) are drawn with NumPy from a seed hypothesis picks: well-conditioned
general matrices (singular values in [1, 2]), SPD matrices (eigenvalues in [1, 3]), symmetric ones,
vectors and scalars of moderate size.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from hypothesis import strategies as st

import matdiff

from .known_bugs import present

# ---------------------------------------------------------------- counters (printed at the end of the run)

#: expressions fully checked, by property (a test bumps its entry only after every assertion passed)
CHECKED: Counter[str] = Counter()
#: examples discarded, by reason (domain error, guard failed, numerics unreliable, ...)
DISCARDED: Counter[str] = Counter()
#: answers of checked examples where more than one is right (extreme scales: the value, or a DomainError)
ANSWERS: Counter[str] = Counter()

# ---------------------------------------------------------------- the variables

N, M = "n", "m"  # the two symbolic dims; a dim is 1, "n" or "m"

#: name -> (kind, shape in dims).  Names follow the naming convention (a-g scalar, h-z vector, A-Z
#: matrix), so that a printed gradient evaluates without ``types=``.
VARIABLES: dict[str, tuple[str, tuple[Any, Any]]] = {
    "a": ("scalar", (1, 1)),
    "b": ("scalar", (1, 1)),
    "x": ("vector", (N, 1)),
    "y": ("vector", (N, 1)),
    "u": ("vector", (M, 1)),
    "A": ("matrix", (N, N)),
    "B": ("matrix", (N, N)),
    "S": ("spd", (N, N)),
    "T": ("symmetric", (N, N)),
    "X": ("matrix", (N, M)),
    "C": ("matrix", (M, M)),
}

#: the leaves of each shape (a transposed leaf for row vectors and (m, n))
LEAVES: dict[tuple[Any, Any], list[str]] = {
    (1, 1): ["a", "b"],
    (N, 1): ["x", "y"],
    (M, 1): ["u"],
    (1, N): ["x'", "y'"],
    (1, M): ["u'"],
    (N, N): ["A", "B", "S", "T"],
    (N, M): ["X"],
    (M, N): ["X'"],
    (M, M): ["C"],
}


def types_for(sizes: dict[str, int], symbolic: bool) -> dict[str, str]:
    """The ``types=`` of every variable: sizes written as the names n, m or as numbers."""
    def dim(d: Any) -> str:
        return d if symbolic else str(sizes[d])

    out = {}
    for name, (kind, (r, c)) in VARIABLES.items():
        if kind == "scalar":
            out[name] = "scalar"
        elif kind == "vector":
            out[name] = f"vector({dim(r)})"
        elif kind == "matrix":
            out[name] = f"matrix({dim(r)},{dim(c)})"
        else:
            out[name] = f"{kind}({dim(r)})"
    return out


def is_symmetric_kind(types: dict[str, str] | None, name: str) -> bool:
    return (types or {}).get(name, "").split("(")[0].strip() in ("symmetric", "spd")


# ---------------------------------------------------------------- generated expressions

# precedence of the printed node: how tightly it binds (parenthesise an operand that binds looser)
SUM, PROD, NEG, POW, POST, ATOM = range(6)


@dataclass(frozen=True)
class Gen:
    """A generated expression: its text, shape (in dims), precedence, variables and guards."""

    text: str
    shape: tuple[Any, Any]
    prec: int = ATOM
    names: frozenset[str] = frozenset()
    guards: tuple[tuple[str, str], ...] = ()
    size: int = 1
    ops: frozenset[str] = field(default=frozenset())

    def wrap(self, at_least: int) -> str:
        return self.text if self.prec >= at_least else f"({self.text})"


def _join(text: str, shape: tuple[Any, Any], prec: int, parts: list[Gen], op: str,
          guards: tuple[tuple[str, str], ...] = ()) -> Gen:
    names: frozenset[str] = frozenset().union(*(p.names for p in parts)) if parts else frozenset()
    gs = tuple(g for p in parts for g in p.guards) + guards
    ops = frozenset().union(*(p.ops for p in parts)) | {op} if parts else frozenset({op})
    return Gen(text, shape, prec, names, gs, 1 + sum(p.size for p in parts), ops)


def guarded(g: Gen, kind: str) -> Gen:
    """g with one more guard on itself."""
    return replace(g, guards=g.guards + ((kind, g.text),))


def leaf(name: str) -> Gen:
    base = name.rstrip("'")
    shape = VARIABLES[base][1]
    if name.endswith("'"):
        return Gen(name, (shape[1], shape[0]), POST, frozenset({base}))
    return Gen(name, shape, ATOM, frozenset({base}))


def num(text: str) -> Gen:
    return Gen(text, (1, 1), ATOM, ops=frozenset({"number"}))


def add(a: Gen, b: Gen, op: str = "+") -> Gen:
    shape = a.shape if a.shape != (1, 1) else b.shape
    return _join(f"{a.wrap(SUM)} {op} {b.wrap(PROD)}", shape, SUM, [a, b], op)


def neg(a: Gen) -> Gen:
    return _join(f"-{a.wrap(NEG)}", a.shape, NEG, [a], "neg")


def times(a: Gen, b: Gen) -> Gen:
    """The matrix product (or a scaling by a scalar)."""
    if a.shape == (1, 1):
        shape = b.shape
    elif b.shape == (1, 1):
        shape = a.shape
    else:
        assert a.shape[1] == b.shape[0], (a, b)
        shape = (a.shape[0], b.shape[1])
    return _join(f"{a.wrap(PROD)}*{b.wrap(NEG)}", shape, PROD, [a, b], "*")


def binop(a: Gen, b: Gen, op: str, guards: tuple[tuple[str, str], ...] = ()) -> Gen:
    """``/`` (by a scalar), ``.*``, ``./``."""
    shape = a.shape if a.shape != (1, 1) else b.shape
    return _join(f"{a.wrap(PROD)} {op} {b.wrap(NEG)}", shape, PROD, [a, b], op, guards)


def power(a: Gen, p: Gen, op: str = "^", guards: tuple[tuple[str, str], ...] = ()) -> Gen:
    shape = p.shape if op == ".^" and a.shape == (1, 1) else a.shape  # c.^X is shaped like X
    return _join(f"{a.wrap(POST)}{op}{p.wrap(NEG)}", shape, POW, [a, p], op, guards)


def transpose(a: Gen) -> Gen:
    return _join(f"{a.wrap(POST)}'", (a.shape[1], a.shape[0]), POST, [a], "'")


def call(fn: str, a: Gen, shape: tuple[Any, Any], guards: tuple[tuple[str, str], ...] = ()) -> Gen:
    return _join(f"{fn}({a.text})", shape, ATOM, [a], fn, guards)


def eye_plus(a: Gen, c: str) -> Gen:
    """``a + c*eye`` (the identity sized by a)."""
    e = Gen(f"{c}*eye" if c != "1" else "eye", a.shape, PROD if c != "1" else ATOM, ops=frozenset({"eye"}))
    return add(a, e)


# ---------------------------------------------------------------- the functions of the language

#: shapes a reduction (sum, a norm) takes its argument from
REDUCED = [(N, 1), (N, N), (N, M), (M, 1), (1, N), (M, N), (1, M), (M, M)]


@dataclass(frozen=True)
class Fn:
    """One function of the language as the generator draws it (one line of FUNCTIONS).

    * ``arg``: what the argument is built as: ``any`` expression, ``positive`` entries, ``spd``,
      ``nonsingular``, ``square`` (any square expression) or ``spectral`` (an SPD, or ``eye + c*E``: for
      the primary matrix functions defined off the negative real axis);
    * ``result``: ``same`` (shaped like its argument: entrywise, or square to square), ``scalar``
      (a reduction: the argument's shape is drawn from ``shapes``), or ``diag`` (vector <-> matrix);
    * ``guard``: what must hold at the argument for the derivative to exist (see guards_hold); a pair
      is (for a vector, for a matrix);
    * ``homogeneous``: f(s X) = s^k f(X) for s > 0 (the extreme-scale property builds only from those).
    """

    name: str
    arg: str = "any"
    result: str = "same"
    guard: str | tuple[str, str] | None = None
    homogeneous: bool = False
    shapes: tuple[tuple[Any, Any], ...] = tuple(REDUCED)
    vector: bool = False  # of a column vector only (softmax)


#: every function the generator uses, one line each: adding a function to the language is one line here
FUNCTIONS: tuple[Fn, ...] = (
    Fn("exp", guard="not_huge"),
    Fn("sin"),
    Fn("cos"),
    Fn("tanh"),
    Fn("log", arg="positive"),
    Fn("sqrt", arg="positive"),
    Fn("abs", guard="entries_away", homogeneous=True),
    Fn("inv", arg="nonsingular", homogeneous=True),
    Fn("adj", arg="square", homogeneous=True),
    Fn("diag", result="diag", homogeneous=True),
    Fn("tr", arg="square", result="scalar", homogeneous=True),
    Fn("det", arg="square", result="scalar", homogeneous=True),
    Fn("logdet", arg="spd", result="scalar"),
    Fn("sum", result="scalar", homogeneous=True, shapes=((N, 1), (N, N), (N, M), (1, M), (M, M))),
    Fn("norm_fro", result="scalar", guard="nonzero", homogeneous=True),
    Fn("norm2", result="scalar", guard=("nonzero", "sv_gap"), homogeneous=True),
    Fn("norm_nuc", result="scalar", guard=("nonzero", "full_rank"), homogeneous=True),
    Fn("norm1", result="scalar", guard="entries_away", homogeneous=True),
    Fn("logsumexp", result="scalar", guard="not_huge"),
    Fn("softplus", guard="not_huge"),
    Fn("relu", guard="entries_away", homogeneous=True),
    Fn("logm", arg="spectral", guard="off_negative_axis"),
    Fn("sqrtm", arg="spectral", guard="off_negative_axis"),
    Fn("expm", arg="square", guard="not_huge"),
    Fn("eigmax", arg="spd", result="scalar", guard="eig_gap_max", shapes=((N, N), (M, M))),
    Fn("eigmin", arg="spd", result="scalar", guard="eig_gap_min", shapes=((N, N), (M, M))),
    Fn("softmax", guard="not_huge", vector=True),
)


def functions_for(shape: tuple[Any, Any], homogeneous: bool = False) -> list[Fn]:
    """The functions whose result can have this shape."""
    r, c = shape
    out = []
    for f in FUNCTIONS:
        if homogeneous and not f.homogeneous:
            continue
        if f.result == "scalar" and shape != (1, 1):
            continue
        if f.result == "diag" and not (r != 1 and (c == 1 or r == c)):
            continue
        if f.arg in ("square", "spd", "nonsingular", "spectral") and f.result == "same" and (r != c or r == 1):
            continue
        if f.vector and (c != 1 or r == 1):
            continue
        out.append(f)
    return out


POSITIVE_NUMBERS = ["1", "2", "0.5", "1.5", "3", "0.25"]
NUMBERS = POSITIVE_NUMBERS + ["0.1", "4", "10"]


class Builder:
    """Recursive construction of expressions by target shape (draw: hypothesis's draw)."""

    def __init__(self, draw: Any, budget: int, homogeneous: bool = False):
        self.draw = draw
        self.budget = budget  # nodes left: keeps expressions small and the generation finite
        self.homogeneous = homogeneous  # only rules and functions with f(s X) = s^k f(X)

    def pick(self, options: list[Any]) -> Any:
        return self.draw(st.sampled_from(options))

    def spend(self, k: int = 1) -> bool:
        if self.budget < k:
            return False
        self.budget -= k
        return True

    # -- any expression of a shape
    def expr(self, shape: tuple[Any, Any], depth: int) -> Gen:
        r, c = shape
        if depth <= 0 or not self.spend():
            return self.leaf(shape)
        if self.homogeneous:
            rules = ["leaf", "add", "sub", "scale", "matmul", "neg", "hadamard", "transpose", "call", "call"]
            if r == c and r != 1:
                rules += ["mpower", "sq_chain"]
            if c == 1 and r != 1:
                rules += ["matvec"]
            if shape == (1, 1):
                rules += ["quad", "call", "call"]
            return getattr(self, "r_" + self.pick(rules))(shape, depth - 1)
        # "call" draws from FUNCTIONS: as many entries as the old one-rule-per-function list had
        rules = ["leaf", "add", "sub", "scale", "matmul", "neg", "call", "hadamard", "hdiv",
                 "transpose", "broadcast", "epower", "divide"]
        if r == c and r != 1:
            rules += ["call", "call", "mpower", "call", "eye", "spd", "sq_chain"]
        if shape == (N, N):
            rules += ["spd_power"]
        if c == 1 and r != 1:
            rules += ["call", "matvec"]
        if shape == (1, 1):
            rules += ["call", "call", "call", "call", "call", "quad", "spow", "positive"]
            if not present("inv_of_scalar_compiled"):
                rules.append("inv_scalar")
        rule = self.pick(rules)
        return getattr(self, "r_" + rule)(shape, depth - 1)

    def leaf(self, shape: tuple[Any, Any]) -> Gen:
        options: list[Any] = list(LEAVES.get(shape, []))
        if shape == (1, 1):
            options += ["#num"]
        if not options:  # (1, 1) has leaves; the other shapes all do too
            raise AssertionError(shape)
        got = self.pick(options)
        if got == "#num":
            return num(self.pick(NUMBERS))
        return leaf(got)

    # -- rules (each returns a Gen of the shape asked)
    def r_leaf(self, shape, d):
        return self.leaf(shape)

    def r_add(self, shape, d):
        return add(self.expr(shape, d), self.expr(shape, d))

    def r_sub(self, shape, d):
        return add(self.expr(shape, d), self.expr(shape, d), "-")

    def r_neg(self, shape, d):
        return neg(self.expr(shape, d))

    def r_scale(self, shape, d):
        s = self.expr((1, 1), d)
        e = self.expr(shape, d)
        return times(s, e) if self.draw(st.booleans()) else times(e, s)

    def r_divide(self, shape, d):
        den = self.positive((1, 1), d) if self.draw(st.booleans()) else self.guarded_nonzero((1, 1), d)
        return binop(self.expr(shape, d), den, "/")

    def r_matmul(self, shape, d):
        r, c = shape
        k = self.pick([N, M, 1])
        if k == 1 and (r == 1 or c == 1):
            k = N  # an outer product needs vectors on both sides; a scaling is r_scale's
        return times(self.expr((r, k), d), self.expr((k, c), d))

    def r_matvec(self, shape, d):
        r, _ = shape
        k = self.pick([N, M])
        return times(self.expr((r, k), d), self.expr((k, 1), d))

    def r_sq_chain(self, shape, d):
        return times(times(self.expr(shape, d), self.expr(shape, d)), self.expr(shape, d))

    def r_transpose(self, shape, d):
        return transpose(self.expr((shape[1], shape[0]), d))

    def r_broadcast(self, shape, d):
        if shape == (1, 1) or present("compiled_scalar_plus_inverse_times_vector"):
            return self.r_add(shape, d)
        s = self.expr((1, 1), d)
        e = self.expr(shape, d)
        return add(s, e) if self.draw(st.booleans()) else add(e, s, self.pick(["+", "-"]))

    def r_hadamard(self, shape, d):
        kind = self.pick(["same", "scalar_left", "scalar_right"])  # a scalar operand broadcasts
        if kind == "scalar_left" and shape != (1, 1):
            return binop(self.expr((1, 1), d), self.expr(shape, d), ".*")
        if kind == "scalar_right" and shape != (1, 1):
            return binop(self.expr(shape, d), self.expr((1, 1), d), ".*")
        return binop(self.expr(shape, d), self.expr(shape, d), ".*")

    def r_hdiv(self, shape, d):
        kind = self.pick(["same", "scalar_num", "scalar_den"])
        if kind == "scalar_num" and shape != (1, 1) and not present("gradient_by_scalar_of_broadcast_division"):
            return binop(self.expr((1, 1), d), self.positive(shape, d), "./")
        if kind == "scalar_den" and shape != (1, 1):
            return binop(self.expr(shape, d), self.positive((1, 1), d), "./")
        return binop(self.expr(shape, d), self.positive(shape, d), "./")

    def r_call(self, shape, d):
        """A function of FUNCTIONS whose result has this shape, applied to an argument of its kind."""
        fn: Fn = self.pick(functions_for(shape, self.homogeneous))
        if fn.result == "scalar":
            arg_shape = self.square() if fn.arg in ("square", "spd", "nonsingular", "spectral") \
                else self.pick(list(fn.shapes))
        elif fn.result == "diag":
            arg_shape = (shape[0], shape[0]) if shape[1] == 1 else (shape[0], 1)
        else:
            arg_shape = shape
        a = self.argument(fn.arg, arg_shape, d)
        guard = fn.guard
        if isinstance(guard, tuple):
            guard = guard[0] if 1 in arg_shape else guard[1]
        return call(fn.name, a, shape, ((guard, a.text),) if guard else ())

    def argument(self, kind: str, shape: tuple[Any, Any], d: int) -> Gen:
        if kind == "positive":
            return self.positive(shape, d)
        if kind == "spd":
            return self.spd(shape, d)
        if kind == "nonsingular":
            return self.nonsingular(shape, d)
        if kind == "spectral":
            return self.spectral(shape, d)
        return self.expr(shape, d)

    def r_epower(self, shape, d):
        kind = self.pick(["int", "frac", "neg", "scalar", "scalar_base"])
        if kind == "scalar_base" and shape != (1, 1) and not present("gradient_of_scalar_base_elementwise_power"):
            return power(self.positive((1, 1), d), self.bounded(shape, d), ".^")
        if kind == "int":
            return power(self.expr(shape, d), num(self.pick(["2", "3", "1"])), ".^")
        if kind == "neg":
            a = self.expr(shape, d)
            return power(a, neg(num(self.pick(["1", "2"]))), ".^", (("entries_away", a.text),))
        p = num(self.pick(["0.5", "1.5", "2.5"])) if kind == "frac" else self.bounded_scalar(d)
        return power(self.positive(shape, d), p, ".^")

    # -- square
    def r_mpower(self, shape, d):
        k = self.pick(["2", "3", "-1", "-2", "0", "1"])
        if k.startswith("-"):
            return power(self.nonsingular(shape, d), neg(num(k[1:])))
        return power(self.expr(shape, d), num(k))

    def r_spd_power(self, shape, d):
        """S^p for a p that is not an integer: the language has it for a variable declared spd only."""
        k = self.pick(["0.5", "-0.5", "1.5"])
        return power(leaf("S"), neg(num(k[1:])) if k.startswith("-") else num(k))

    def r_eye(self, shape, d):
        c = self.pick(["1", "2", "0.5", "-1"])
        if c == "-1":
            return add(self.expr(shape, d), Gen("eye", shape, ATOM, ops=frozenset({"eye"})), "-")
        return eye_plus(self.expr(shape, d), c)

    def r_spd(self, shape, d):
        return self.spd(shape, d)

    # -- scalars
    def r_quad(self, shape, d):
        k = self.pick([N, M])
        v = self.expr((k, 1), d)
        w = self.expr((k, 1), d) if self.draw(st.booleans()) else v
        return times(times(transpose(v), self.expr((k, k), d)), w)

    def r_spow(self, shape, d):
        kind = self.pick(["int", "frac", "neg", "var"])
        if kind == "int":
            return power(self.expr(shape, d), num(self.pick(["2", "3"])))
        if kind == "neg":
            a = self.expr(shape, d)
            return power(a, neg(num(self.pick(["1", "2"]))), "^", (("entries_away", a.text),))
        p = num(self.pick(["0.5", "1.5"])) if kind == "frac" else self.bounded_scalar(d)
        return power(self.positive(shape, d), p)

    def r_positive(self, shape, d):
        return self.positive(shape, d)

    def r_inv_scalar(self, shape, d):
        return call("inv", self.positive(shape, d), shape)

    # -- helpers for domains
    def square(self) -> tuple[Any, Any]:
        k = self.pick([N, M])
        return (k, k)

    def bounded_scalar(self, d: int) -> Gen:
        """A scalar of moderate size (an exponent): tanh(.), sin(.), or a number."""
        if d <= 0 or not self.spend():
            return num(self.pick(["0.5", "2"]))
        if present("scalar_power_by_computed_scalar"):  # only a variable inside, while the bug lasts
            return call(self.pick(["tanh", "sin", "cos"]), self.leaf((1, 1)), (1, 1))
        return call(self.pick(["tanh", "sin", "cos"]), self.expr((1, 1), d - 1), (1, 1))

    def bounded(self, shape, d: int) -> Gen:
        """An expression of moderate size (an exponent): tanh, sin or cos of something."""
        if d <= 0 or not self.spend():
            return call("tanh", self.leaf(shape), shape)
        return call(self.pick(["tanh", "sin", "cos"]), self.expr(shape, d - 1), shape)

    def guarded_nonzero(self, shape, d) -> Gen:
        return guarded(self.expr(shape, d), "entries_away")

    def positive(self, shape, d) -> Gen:
        """An expression whose entries are positive at every point."""
        if d <= 0 or not self.spend():
            if shape == (1, 1):
                return num(self.pick(POSITIVE_NUMBERS))
            return call("exp", self.leaf(shape), shape)
        rule = self.pick(["exp", "square", "cos", "tanh", "add", "mul", "div", "sqrt", "scalar", "norm",
                          "spdfun", "abs"])
        if rule == "exp":
            a = self.expr(shape, d - 1)
            return call("exp", a, shape, (("not_huge", a.text),))
        if rule == "square":
            a = self.expr(shape, d - 1)
            return add(power(a, num("2"), self.pick([".^", "^"]) if shape == (1, 1) else ".^"),
                       num(self.pick(POSITIVE_NUMBERS)))
        if rule == "cos":
            return add(call("cos", self.expr(shape, d - 1), shape), num(self.pick(["2", "1.5"])))
        if rule == "tanh":
            return add(num("1.5"), call("tanh", self.expr(shape, d - 1), shape))
        if rule == "add":
            return add(self.positive(shape, d - 1), self.positive(shape, d - 1))
        if rule == "mul":
            if shape == (1, 1):
                return times(self.positive(shape, d - 1), self.positive(shape, d - 1))
            return binop(self.positive(shape, d - 1), self.positive(shape, d - 1), ".*")
        if rule == "div":
            return binop(self.positive(shape, d - 1), self.positive(shape, d - 1),
                         "/" if shape == (1, 1) else "./")
        if rule == "sqrt":
            return call("sqrt", self.positive(shape, d - 1), shape)
        if rule == "abs":
            a = self.expr(shape, d - 1)
            return add(call("abs", a, shape, (("entries_away", a.text),)), num("0.5"))
        if shape != (1, 1):
            if rule == "scalar":  # a positive scalar times a positive matrix
                return times(self.positive((1, 1), d - 1), self.positive(shape, d - 1))
            return add(self.positive((1, 1), d - 1), call("exp", self.expr(shape, d - 1), shape))
        if rule == "norm":
            a = self.expr(self.pick([(N, 1), (N, M), (N, N)]), d - 1)
            return add(call("norm_fro", a, (1, 1), (("nonzero", a.text),)), num("0.5"))
        if rule == "spdfun":
            s = self.spd(self.square(), d - 1)
            return call(self.pick(["det", "tr"]), s, (1, 1))
        return num(self.pick(POSITIVE_NUMBERS))

    def spd(self, shape, d) -> Gen:
        """A symmetric positive definite expression (square shape)."""
        k = shape[0]
        if d <= 0 or not self.spend():
            if k == N and self.draw(st.booleans()):
                return leaf("S")
            m = self.leaf((k, k))
            return eye_plus(times(transpose(m), m), "1")  # m'*m + I: symmetric by structure (eigmax needs it)
        rule = self.pick(["var", "gram", "gram_t", "diag", "add", "scale", "inv", "square"])
        if rule == "var" and k == N:
            return leaf("S")
        if rule in ("gram", "var"):
            j = self.pick([N, M, 1])
            m = self.expr((j, k), d - 1)
            return eye_plus(times(transpose(m), m), self.pick(["1", "0.5", "2"]))
        if rule == "gram_t":
            j = self.pick([N, M])
            m = self.expr((k, j), d - 1)
            return eye_plus(times(m, transpose(m)), self.pick(["1", "0.5"]))
        if rule == "diag":
            return call("diag", self.positive((k, 1), d - 1), shape)
        if rule == "add":
            return add(self.spd(shape, d - 1), self.spd(shape, d - 1))
        if rule == "scale":
            return times(self.positive((1, 1), d - 1), self.spd(shape, d - 1))
        if rule == "inv":
            return call("inv", self.spd(shape, d - 1), shape)
        return power(self.spd(shape, d - 1), num("2"))

    def nonsingular(self, shape, d) -> Gen:
        """A square expression nonsingular at the points drawn (well conditioned: guarded)."""
        k = shape[0]
        options = ["spd", "var", "eye"]
        if self.homogeneous:  # a variable (S stands for the m x m case too: C is guarded)
            return guarded(leaf(self.pick(["A", "B", "S"]) if k == N else "C"), "well_conditioned")
        rule = self.pick(options)
        if rule == "spd" or (rule == "var" and k == M):
            g = self.spd(shape, d)
        elif rule == "var":
            g = leaf(self.pick(["A", "B"]))
        else:
            g = eye_plus(times(num("0.1"), self.expr(shape, d - 1)), "1")
        return guarded(g, "well_conditioned")

    def spectral(self, shape, d) -> Gen:
        """A square expression whose eigenvalues are off the closed negative real axis: an SPD, or
        ``eye + c*E`` (not symmetric: the general kernels), which the caller guards (off_negative_axis)."""
        if self.pick(["spd", "near_identity"]) == "spd":
            return self.spd(shape, d)
        return eye_plus(times(num(self.pick(["0.1", "0.2"])), self.expr(shape, d - 1)), "1")


@st.composite
def expressions(draw: Any, shape: Any = "scalar", max_depth: int = 4, budget: int = 14,
                homogeneous: bool = False) -> Gen:
    """A random well-typed expression with at least one variable.

    ``shape``: ``"scalar"``, ``"any"`` (scalar, vector, row vector, matrix or square) or a
    shape in dims such as ``("n", 1)``.
    """
    if shape == "scalar":
        target: tuple[Any, Any] = (1, 1)
    elif shape == "any":
        target = draw(st.sampled_from([(1, 1), (N, 1), (N, N), (N, M), (1, N), (M, 1), (M, N)]))
    else:
        target = shape
    depth = draw(st.integers(2, max_depth))
    g = Builder(draw, budget, homogeneous).expr(target, depth)
    if not g.names:  # a constant: add a variable term so that there is something to differentiate
        v = leaf(draw(st.sampled_from(LEAVES[target])))
        g = add(g, v)
    return g


# ---------------------------------------------------------------- points


class Problem:
    """An expression, the declared types, the sizes, a point (values of its variables), and the
    variable to differentiate by."""

    def __init__(self, gen: Gen, types: dict[str, str], sizes: dict[str, int], values: dict[str, Any],
                 rng: np.random.Generator, wrt: str = ""):
        self.gen, self.types, self.sizes, self.values = gen, types, sizes, values
        self.rng, self.wrt = rng, wrt
        self.canonical: dict[str, str] = {n: n for n in values}  # name -> the variable of VARIABLES it stands for

    @property
    def text(self) -> str:
        return self.gen.text

    def direction(self, name: str) -> Any:
        """A random direction in the space of the variable (symmetric for a symmetric one)."""
        return random_like(self.rng, self.values[name], is_symmetric_kind(self.types, name))

    def __repr__(self) -> str:  # what hypothesis prints for a falsifying example
        vals = {k: np.round(np.asarray(v), 4).tolist() for k, v in self.values.items()}
        return f"Problem(expr={self.text!r}, wrt={self.wrt!r}, types={self.types!r}, values={vals!r})"


def well_conditioned(rng: np.random.Generator, r: int, c: int, lo: float = 1.0,
                     hi: float = 2.0) -> np.ndarray:
    """An r x c matrix with singular values in [lo, hi] (random orthogonal factors)."""
    k = min(r, c)
    u, _ = np.linalg.qr(rng.standard_normal((r, k)))
    v, _ = np.linalg.qr(rng.standard_normal((c, k)))
    return u @ np.diag(rng.uniform(lo, hi, k)) @ v.T


def spd_matrix(rng: np.random.Generator, n: int, lo: float = 1.0, hi: float = 3.0) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = q @ np.diag(rng.uniform(lo, hi, n)) @ q.T
    return (a + a.T) / 2


def value_of(rng: np.random.Generator, kind: str, shape: tuple[int, int]) -> Any:
    """A random value of a variable of kind and concrete shape (a float for a scalar)."""
    if kind == "scalar":
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 1.5))
    if kind == "vector":
        return rng.standard_normal(shape[0]) * 0.8
    if kind == "spd":
        return spd_matrix(rng, shape[0])
    if kind == "symmetric":
        a = rng.standard_normal(shape) * 0.7
        return (a + a.T) / 2
    a = well_conditioned(rng, *shape)
    return a * rng.choice([-1.0, 1.0]) * 0.8


def random_like(rng: np.random.Generator, value: Any, sym: bool = False) -> Any:
    a = np.asarray(value, dtype=float)
    if a.ndim == 0:
        return float(rng.standard_normal())
    d = rng.standard_normal(a.shape)
    return (d + d.T) / 2 if sym else d


def concrete(shape: tuple[Any, Any], sizes: dict[str, int]) -> tuple[int, int]:
    return tuple(d if d == 1 else sizes[d] for d in shape)  # type: ignore[return-value]


@st.composite
def environments(draw: Any) -> tuple[dict[str, int], dict[str, str]]:
    """Sizes of n and m and the types (sizes given as names or as numbers)."""
    sizes = {N: draw(st.sampled_from([3, 2, 4])), M: draw(st.sampled_from([2, 3]))}
    return sizes, types_for(sizes, symbolic=draw(st.booleans()))


def point_for(names: Any, sizes: dict[str, int], seed: int) -> tuple[dict[str, Any], np.random.Generator]:
    rng = np.random.default_rng(seed)
    values = {}
    for name in sorted(names):
        kind, shape = VARIABLES[name]
        values[name] = value_of(rng, kind, concrete(shape, sizes))
    return values, rng


@st.composite
def points(draw: Any, names: Any, sizes: dict[str, int]) -> dict[str, Any]:
    """Values of the variables ``names`` at a random point (the strategy the brief asks for)."""
    return point_for(names, sizes, draw(st.integers(0, 2**32 - 1)))[0]


def kind_of_name(name: str) -> str:
    """The kind group the naming convention gives a name."""
    c = name[0]
    return "scalar" if "a" <= c <= "g" else "vector" if "h" <= c <= "z" else "matrix"


# ---------------------------------------------------------------- names a user may choose

#: Names that look like what generated code uses for itself, by the kind the naming convention gives
#: them (the first letter: a-g scalar, h-z vector, A-Z matrix), so that a printed result evaluates
#: without ``types=``.  Identifiers are letters, digits and ``_`` starting with a letter (``_t0`` is
#: not one).  Each family also found bugs of its own.
NAME_FAMILIES: dict[str, dict[str, list[str]]] = {
    "temporaries": {"scalar": [], "vector": ["t0", "t1", "t2", "t3", "t12"], "matrix": []},
    "keywords": {"scalar": ["for", "class", "def", "and", "as", "del", "else", "elif", "except", "finally",
                            "from", "global", "assert", "async", "await", "break", "continue"],
                 "vector": ["lambda", "in", "is", "if", "import", "not", "or", "pass", "raise", "return", "try",
                            "while", "with", "yield", "nonlocal"],
                 "matrix": ["True", "None", "False"]},
    "escaped": {"scalar": ["for_", "class_", "def_", "and_", "else_"],
                "vector": ["lambda_", "in_", "is_", "if_", "import_", "t0_", "lambda__"],
                "matrix": ["True_", "None_", "False_"]},
    "numpy": {"scalar": ["dtype", "float", "bool", "abs_", "exp_", "det_", "e", "b_", "complex", "f", "grads",
                         "grad_x"],
              "vector": ["np", "sum_", "shape", "self", "values", "value", "out", "result", "x0", "ndim",
                         "size", "solve", "outer", "scipy", "math", "len", "print", "kwargs", "linalg",
                         "value_and_grad", "jvp", "vjp", "hvp", "types", "wrt"],
              "matrix": ["F", "N", "M", "I", "E", "X0", "Sigma", "Lambda", "L", "U", "V", "Q", "R", "D"]},
}

assert all(kind_of_name(n) == group for fam in NAME_FAMILIES.values() for group, names in fam.items()
           for n in names), "a name of NAME_FAMILIES against the naming convention of its kind"

#: every name of NAME_FAMILIES (a twin -- a name with or without its trailing _ -- must be one: "abs" is not)
LISTED = frozenset(n for fam in NAME_FAMILIES.values() for names in fam.values() for n in names)

#: names kept out of the fuzzers while a known bug (known_bugs.py) still reproduces for them
NAME_BUGS: list[tuple[str, str]] = [
    (r"t\d+_?", "compiled_names_collide_with_temporaries"),
    (r"self", "compile_refuses_a_variable_named_self"),
]


def name_allowed(name: str) -> bool:
    return not any(re.fullmatch(pat, name) and present(bug) for pat, bug in NAME_BUGS)


def kind_group(canonical: str) -> str:
    kind = VARIABLES[canonical][0]
    return kind if kind in ("scalar", "vector") else "matrix"


_IDENT = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z][A-Za-z0-9_]*")


def renamed_text(text: str, mapping: dict[str, str]) -> str:
    return _IDENT.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


def renamed(g: Gen, mapping: dict[str, str]) -> Gen:
    """g with its variables renamed (all at once: a name may become another's old name)."""
    return replace(g, text=renamed_text(g.text, mapping), names=frozenset(mapping.get(n, n) for n in g.names),
                   guards=tuple((k, renamed_text(t, mapping)) for k, t in g.guards))


@st.composite
def renamings(draw: Any, names: Any) -> dict[str, str]:
    """New names for the canonical variables ``names``: half the time none, else from one family
    of NAME_FAMILIES (or all of them), with a keyword and its escaped form side by side when it can."""
    family = draw(st.sampled_from(["none"] * 5 + sorted(NAME_FAMILIES) + ["mixed"]))
    if family == "none":
        return {}
    taken = set(VARIABLES)  # a new name never meets a canonical one left as it is
    mapping: dict[str, str] = {}
    for name in sorted(names):
        group = kind_group(name)
        fams = list(NAME_FAMILIES) if family == "mixed" else [family] + (["keywords"] if family == "escaped" else [])
        pool = [n for f in fams for n in NAME_FAMILIES[f][group] if n not in taken and name_allowed(n)]
        twins = [t for u in mapping.values() for t in (u + "_", u[:-1] if u.endswith("_") else "")
                 if t in LISTED and t not in taken and kind_of_name(t) == group and name_allowed(t)]
        if twins and draw(st.booleans()):
            pool = twins
        if not pool or not draw(st.integers(0, 4)):  # now and then a variable keeps its name
            continue
        new = draw(st.sampled_from(pool))
        mapping[name] = new
        taken.add(new)
    return mapping


@st.composite
def problems(draw: Any, shape: Any = "scalar", max_depth: int = 4, budget: int = 14,
             homogeneous: bool = False, rename: bool = True) -> Problem:
    """An expression, its types, and a point; the variables renamed now and then (NAME_FAMILIES)."""
    sizes, types = draw(environments())
    gen = draw(expressions(shape, max_depth, budget, homogeneous))
    values, rng = point_for(gen.names, sizes, draw(st.integers(0, 2**32 - 1)))
    types = {k: v for k, v in types.items() if k in gen.names}  # typing is faster with fewer
    canonical = {n: n for n in gen.names}
    mapping = draw(renamings(gen.names)) if rename else {}
    if mapping:
        gen = renamed(gen, mapping)
        values = {mapping.get(k, k): v for k, v in values.items()}
        types = {mapping.get(k, k): v for k, v in types.items()}
        canonical = {mapping.get(n, n): n for n in canonical}
    wrt = draw(st.sampled_from(sorted(gen.names)))
    p = Problem(gen, types, sizes, values, rng, wrt)
    p.canonical = canonical
    return p


# ---------------------------------------------------------------- input dtypes and extreme scales

#: styles of the values given for the variables -> the known bug that keeps a style out while it lasts.
#: DESIGN.md: integer and boolean inputs are computed in float64, as ``evaluate`` does (and so is float32:
#: results are float64 for real input).
VALUE_STYLES: dict[str, str | None] = {
    "python": None,  # Python ints/floats/bools for scalars, float64 arrays holding integers
    "int64": "compiled_integer_inputs_not_computed_in_float64",
    "bool": "compiled_bool_inputs_not_computed_in_float64",
    "float32": "compiled_float32_inputs_not_computed_in_float64",
}


def value_styles() -> list[str]:
    return [k for k, bug in VALUE_STYLES.items() if bug is None or not present(bug)]


def integer_value(rng: np.random.Generator, kind: str, shape: tuple[int, int]) -> np.ndarray:
    """A moderate integer-valued value of a variable (as int64; an spd one K'K + I, a symmetric K + K')."""
    if kind == "scalar":
        return np.int64(rng.choice([-3, -2, -1, 1, 2, 3]))
    if kind == "vector":
        return rng.integers(-3, 4, shape[0])
    k = rng.integers(-2, 3, shape)
    if kind == "spd":
        return k.T @ k + np.eye(shape[0], dtype=np.int64)
    if kind == "symmetric":
        return k + k.T
    return k


def styled_value(rng: np.random.Generator, style: str, kind: str, value: Any) -> Any:
    """The value of a variable of ``kind`` in ``style`` (a new point for int and bool: the old one's shape)."""
    shape = np.shape(value)
    full = (shape + (1, 1))[:2]
    if style == "float32":
        return np.float32(value) if not shape else np.asarray(value, dtype=np.float32)
    if style == "int64":
        return integer_value(rng, kind, full)
    if style == "bool":
        if kind == "scalar":
            return np.bool_(True)
        if kind == "spd":
            return np.eye(shape[0], dtype=bool)
        b = rng.random(shape) < 0.6
        return b | b.T if kind == "symmetric" else b
    # python
    iv = integer_value(rng, kind, full)
    if kind == "scalar":
        return [int(iv), float(value), True if iv > 0 else float(iv)][int(rng.integers(3))]
    return iv.astype(float)


def as_float64(v: Any) -> Any:
    """The same value as float64 (a float for a scalar): what the policy says the core computes with."""
    a = np.asarray(v, dtype=np.float64)
    return float(a) if a.ndim == 0 else a


# ---------------------------------------------------------------- guards at a point


def guards_hold(problem: Problem) -> str | None:
    """None if every guard of the expression holds at the point, else the reason it does not.

    A guard whose subexpression itself cannot be evaluated there (a DomainError) fails too.
    """
    seen = set()
    for kind, text in problem.gen.guards:
        if (kind, text) in seen:
            continue
        seen.add((kind, text))
        try:
            v = np.asarray(matdiff.evaluate(text, problem.values, problem.types), dtype=float)
        except matdiff.DomainError:
            return "domain error in a guarded subexpression"
        if not np.all(np.isfinite(v)):
            return "a guarded subexpression is not finite"
        scale = float(np.max(np.abs(v))) if v.size else 0.0
        if kind == "nonzero":
            if scale < 1e-2:
                return f"{kind}: close to 0"
        elif kind == "entries_away":
            if v.size and float(np.min(np.abs(v))) < 2e-2 * max(1.0, scale):
                return "an entry close to 0"
        elif kind == "not_huge":
            if scale > 30:
                return "exp of something large"
        elif kind in ("sv_gap", "full_rank", "well_conditioned"):
            if v.ndim < 2:
                continue
            s = np.linalg.svd(v, compute_uv=False)
            if s[0] < 1e-2:
                return f"{kind}: close to 0"
            if kind == "sv_gap" and len(s) > 1 and s[0] - s[1] < 2e-2 * s[0]:
                return "top singular values close"
            if kind == "full_rank" and s[-1] < 2e-2 * s[0]:
                return "close to rank deficient"
            if kind == "well_conditioned" and s[-1] < 1e-4 * s[0]:
                return "badly conditioned"
        elif kind in ("eig_gap_max", "eig_gap_min"):  # eigmax, eigmin: a simple eigenvalue
            if v.ndim < 2:
                continue
            w = np.linalg.eigvalsh((v + v.T) / 2)
            gap = w[-1] - w[-2] if kind == "eig_gap_max" else w[1] - w[0]
            if len(w) > 1 and gap < 5e-2 * max(1.0, float(np.max(np.abs(w)))):
                return "a repeated (or close) eigenvalue"
        elif kind == "off_negative_axis":  # logm, sqrtm: no eigenvalue on or near (-inf, 0]
            if v.ndim < 2:
                continue
            ev = np.linalg.eigvals(v)
            dist = np.where(ev.real >= 0, np.abs(ev), np.abs(ev.imag))  # to the closed negative real axis
            if float(np.min(dist)) < 2e-2 * max(1.0, float(np.max(np.abs(ev)))):
                return "an eigenvalue near the negative real axis"
    return None


# ---------------------------------------------------------------- settings


def fuzz_settings(share: float, **overrides: Any) -> Any:
    """Settings from the profile of HYPOTHESIS_PROFILE (ci by default; see conftest.py) with
    ``share`` of its examples."""
    import os

    from hypothesis import settings

    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    try:
        base = settings.get_profile(name)
    except Exception:  # not one of ours (or the conftest did not run): the ci profile
        base = settings.get_profile("ci")
    return settings(base, max_examples=max(1, round(base.max_examples * share)), **overrides)


#: a property must check at least this share of the examples its profile asks for (conftest.py fails
#: the run otherwise: a coverage drop -- a skip, a generator that discards too much -- is a failure)
MIN_SHARE = 0.8


def counted(key: str, share: float) -> Any:
    """Mark a fuzz test as one that bumps CHECKED[key] once per example checked, ``share`` of the profile's
    examples (outermost decorator); conftest.py asserts the minimum at the end of the session."""
    import os

    from hypothesis import settings

    try:
        base = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
    except Exception:  # noqa: BLE001 - not one of ours: the ci profile, as fuzz_settings does
        base = settings.get_profile("ci")
    requested = max(1, round(base.max_examples * share))

    def mark(test: Any) -> Any:
        test._fuzz_counter, test._fuzz_requested = key, requested
        return test
    return mark
