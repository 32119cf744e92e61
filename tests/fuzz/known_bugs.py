"""Bugs the fuzzers found, each as a minimal reproduction (a function that passes once it is fixed).

``test_regressions.py`` runs every reproduction: those still ``open`` as strict xfails (a fix makes
them XPASS, which fails the run: then set ``open=False`` -- that is "removing the mark").

While a bug still reproduces (``present``, probed once per run), the fuzzers steer clear of it, so
that one known bug does not hide the next: the generator avoids the feature, or the property test
discards an example whose failure matches the bug's signature (``matches``).  Once the core is
fixed, the probe passes and the fuzzers cover the feature again by themselves.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

import matdiff


@dataclass
class Bug:
    name: str
    repro: Callable[[], None]
    open: bool
    matches: Callable[[BaseException, str], bool] | None = None

    @property
    def summary(self) -> str:
        return " ".join((self.repro.__doc__ or self.name).split("\n\n")[0].split())


BUGS: dict[str, Bug] = {}


def bug(open: bool = True, matches: Callable[[BaseException, str], bool] | None = None):
    """Register a reproduction; ``matches(exc, text)`` recognises the bug in a fuzzer's failure."""
    def register(fn: Callable[[], None]) -> Callable[[], None]:
        BUGS[fn.__name__] = Bug(fn.__name__, fn, open, matches)
        return fn
    return register


@cache
def present(name: str) -> bool:
    """Whether the bug ``name`` still reproduces (its reproduction fails)."""
    try:
        BUGS[name].repro()
    except Exception:
        return True
    return False


def known(exc: BaseException, text: str) -> str | None:
    """The name of a bug still present whose signature matches this failure, else None."""
    for b in BUGS.values():
        if b.matches is not None and b.matches(exc, text) and present(b.name):
            return b.name
    return None


def within(seconds: float, fn: Callable[[], None]) -> None:
    """Run fn in a forked child; TimeoutError if it takes longer than ``seconds`` (the child is
    killed: a SIGALRM in this process could be swallowed, or not be served inside a long C call),
    AssertionError if it raised.  A LimitError in fn counts as an answer."""
    ctx = multiprocessing.get_context("fork")

    def child() -> None:
        try:
            fn()
        except matdiff.LimitError:
            pass
        except BaseException:
            os._exit(1)
        os._exit(0)

    proc = ctx.Process(target=child)
    proc.start()
    proc.join(seconds)
    if proc.is_alive():
        proc.kill()
        proc.join()
        raise TimeoutError(f"no answer within {seconds} s")
    if proc.exitcode != 0:
        raise AssertionError(f"the call failed in the child (exit code {proc.exitcode})")


def _raises_domain_error_or_passes(fn: Callable[[], object]) -> bool:
    try:
        fn()
    except matdiff.DomainError:
        return True
    return False


# ------------------------------------------------------------------------------------ wrong numbers


@bug(open=False)
def compiled_scalar_plus_inverse_times_vector() -> None:
    """Compiled code computes (inv(C) + a)*u as solve(C, u) + a*u: the scalar a, which adds to every
    entry of inv(C), is treated as a*eye.  A silently wrong number from matdiff.compile and
    r.compile(); matdiff.evaluate and the reference interpreter agree on the right value.

    C = [[1.3147, 0.7973], [-0.7363, 1.0076]], u = [-1.86, -0.175], a = 0.3033:
    matdiff.evaluate("u'*(inv(C) + a)*u") = 3.0901, matdiff.compile(..., wrt=["C"]) value 2.8927.
    (Fixed in the core during this session, commit ba3b8b6.)
    """
    v = {"C": np.array([[1.3147, 0.7973], [-0.7363, 1.0076]]), "u": np.array([-1.86, -0.175]), "a": 0.3033}
    text = "u'*(inv(C) + a)*u"
    sc = {"a": "scalar"}  # the broadcast is declared (undeclared, inv(C) + a makes a a matrix)
    right = matdiff.evaluate(text, v, sc)
    assert np.isclose(right, v["u"] @ (np.linalg.inv(v["C"]) + v["a"]) @ v["u"])
    assert np.isclose(matdiff.compile(text, wrt=["C"], types=sc)(**v)[0], right)
    r = matdiff.grad(text, "u", sc)
    assert np.allclose(r.compile()(**v), r.evaluate(v))


# ------------------------------------------------------------------------------------ spurious errors


@bug(open=False, matches=lambda e, t: isinstance(e, matdiff.DomainError) and "singular" in str(e)
     and ("adj(" in t or "det(" in t))
def adj_derivative_fails_at_singular_matrices() -> None:
    """The differential of adj(A) is written tr(inv(A) dA) adj(A) - adj(A) dA inv(A), "A invertible":
    at a singular A (where adj is as smooth as anywhere: it is a polynomial) every derivative of adj,
    and so every Hessian of det, raises DomainError "singular".

    matdiff.grad("sum(adj(A))", "A").evaluate({"A": np.ones((3, 3))})      -> DomainError
    matdiff.hessian("det(X*X')", "X").hvp({"X": <3x2>}, V)                 -> DomainError
    matdiff.derivative("adj(A)", "A").jvp({"A": np.ones((3, 3))}, eye(3))  -> DomainError
    """
    A = np.ones((3, 3))
    g = matdiff.grad("sum(adj(A))", "A").evaluate({"A": A})
    # adj of a 3x3 is its matrix of 2x2 cofactors (transposed): at A = ones the gradient of their sum
    eps = 1e-6
    num = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            e = np.zeros((3, 3))
            e[i, j] = eps
            num[i, j] = (np.sum(_adj3(A + e)) - np.sum(_adj3(A - e))) / (2 * eps)
    assert np.allclose(g, num, atol=1e-6)
    X = np.array([[-0.175, 1.339], [1.2524, -0.1424], [0.3148, 0.6792]])
    matdiff.hessian("det(X*X')", "X").hvp({"X": X}, np.ones((3, 2)))


def _adj3(a: np.ndarray) -> np.ndarray:
    c = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            m = np.delete(np.delete(a, i, 0), j, 1)
            c[i, j] = (-1) ** (i + j) * np.linalg.det(m)
    return c.T


@bug(open=False)
def inv_of_scalar_compiled() -> None:
    """r.compile() of any expression with inv of a scalar fails where r.evaluate works.

    matdiff.grad("inv(a)", "a").compile()(a=0.5) raises MatdiffError("evaluation failed: ValueError:
    diag requires an array of at least two dimensions"); r.evaluate gives -4.0.  The same for
    "inv(2) + a", where inv is not even in the gradient (the domain guard of inv fails).
    (Fixed in the core during this session, commit ba3b8b6.)
    """
    r = matdiff.grad("inv(a)", "a")
    assert np.isclose(r.compile()(a=0.5), -4.0)
    r = matdiff.grad("inv(2) + a", "a")
    assert np.isclose(r.compile()(a=0.5), 1.0)


@bug(open=False, matches=lambda e, t: isinstance(e, matdiff.ShapeError) and "_c" in str(e))
def vjp_refuses_row_vector_cotangent() -> None:
    """For a row-vector output F (x'*A), matdiff.evaluate and d.jvp return a 1-D array, but d.vjp
    refuses a cotangent of that same shape: ShapeError "_c is a matrix: give a 2-D array, not shape
    (3,)" (it accepts only (1, 3)); the message names the internal variable _c.  (Fixed in the core
    during this session.)
    """
    d = matdiff.derivative("x'*A", "x")
    v = {"x": np.ones(3), "A": np.eye(3)}
    assert np.shape(d.jvp(v, np.ones(3))) == (3,)
    assert np.allclose(d.vjp(v, np.ones(3)), np.ones(3))


@bug(open=False, matches=lambda e, t: isinstance(e, matdiff.ShapeError) and "eye" in str(e))
def printed_gradient_loses_size_of_eye() -> None:
    """A printed gradient that names a variable but holds an identity whose size only a variable
    that dropped out fixed: str(grad("logdet(exp(a)*(0*A + eye))", "a").gradient) is
    "exp(a)*tr(inv(exp(a)*eye))", which names a but cannot be evaluated (ShapeError: the size of eye
    is not determined).  DESIGN.md: the printed language writes that size through a variable of the
    expression.
    (Fixed in the core during this session, commit ba3b8b6.)
    """
    r = matdiff.grad("logdet(exp(a)*(0*A + eye))", "a")
    assert np.isclose(r.evaluate({"a": 0.5, "A": np.ones((3, 3))}), 3.0)
    assert np.isclose(matdiff.evaluate(str(r.gradient), {"a": 0.5, "A": np.ones((3, 3))}), 3.0)


# ------------------------------------------------------------------------------------ bare exceptions


@bug(open=False, matches=lambda e, t: isinstance(e, TypeError) and "0-dimensional" in str(e))
def scalar_power_by_computed_scalar() -> None:
    """A scalar to the power of a computed scalar such as x'*x escapes as a bare TypeError ("only
    0-dimensional arrays can be converted to Python scalars", from numeric/evaluate.py
    _scalar_power) from matdiff.evaluate, and from r.evaluate of gradients that contain one.

    matdiff.evaluate("a^(x'*x)", {"a": 0.6, "x": np.array([0.5, 0.1, -0.4])})  -> TypeError
    matdiff.grad("exp(a).^(x'*x)", "a").evaluate(...)                          -> TypeError
    (Fixed in the core during this session, commit ba3b8b6.)
    """
    v = {"a": 0.6, "x": np.array([0.5, 0.1, -0.4])}
    assert np.isclose(matdiff.evaluate("a^(x'*x)", v), 0.6 ** 0.42)
    r = matdiff.grad("exp(a).^(x'*x)", "a")
    assert np.isclose(r.evaluate(v), 0.42 * np.exp(0.6 * 0.42))


@bug(open=False, matches=lambda e, t: isinstance(e, ZeroDivisionError))
def division_by_literal_zero_escapes() -> None:
    """Dividing by the literal 0 escapes from matdiff.grad as a bare ZeroDivisionError (from
    fractions.Fraction in the simplifier): matdiff.grad("a/0", "a"), grad("sum(x/0)", "x"),
    grad("sum(x ./ 0)", "x").  (matdiff.evaluate("a/0", ...) rightly raises a DomainError.)
    (Fixed in the core during this session, commit ba3b8b6.)
    """
    for text, wrt in [("a/0", "a"), ("sum(x/0)", "x"), ("sum(x ./ 0)", "x")]:
        try:
            matdiff.grad(text, wrt)
        except matdiff.MatdiffError:
            pass


@bug(open=False, matches=lambda e, t: isinstance(e, ValueError) and not isinstance(e, matdiff.MatdiffError)
     and "digits" in str(e))
def huge_integer_literal_escapes() -> None:
    """A number literal of more than 4300 digits escapes from matdiff.parse as a bare ValueError
    ("Exceeds the limit (4300 digits) for integer string conversion", from Fraction(text)):
    matdiff.parse("1" * 4301).
    (Fixed in the core during this session, commit ba3b8b6.)
    """
    try:
        matdiff.parse("1" * 4301)
    except matdiff.MatdiffError:
        pass


# ------------------------------------------------------------------------------------ limits


@bug(open=False)
def matrix_power_derivative_has_k_terms() -> None:
    """d(A^k) is written as the k terms sum_i A^i dA A^(k-1-i), and A'*A'^8 is not combined into
    A'^9: grad(tr(A^10000)) takes 3.3 s and prints 178k characters (not 10000*A'^9999), and
    grad("tr(A^1000000)", "A") does not answer at all (no LimitError).
    (Fixed in the core during this session, commit ba3b8b6.)
    """
    within(5.0, lambda: matdiff.grad("tr(A^1000000)", "A"))


@bug(open=False)
def compiled_functions_accept_nan_and_inf() -> None:
    """matdiff.evaluate, r.evaluate, jvp, vjp and hvp refuse NaN/Inf values with a DomainError, but
    the compiled functions (r.compile(), matdiff.compile) compute with them: matdiff.compile("x'*A*x",
    wrt=["A"])(A=<with a NaN>, x=...) returns (nan, {...}); r.compile() of grad_A returns finite
    numbers for an A holding NaN.
    (Fixed in the core during this session, commit ba3b8b6.)  Since issue 17 the compiled code checks
    its results, not its inputs: a value that reads A (x'*A*x) refuses the NaN; a gradient that does not
    read A (x*x' + eye) is the same number at every A, so it may return it.
    """
    A = 3 * np.eye(3)
    A[0, 1] = np.nan
    v = {"A": A, "x": np.ones(3)}
    assert _raises_domain_error_or_passes(lambda: matdiff.compile("x'*A*x", wrt=["A"])(**v))
    g = matdiff.grad("x'*A*x + tr(A)", "A").compile()
    assert np.allclose(g(**v), np.outer(v["x"], v["x"]) + np.eye(3))  # independent of A: right, not NaN


def _says(fn: Callable[[], object], *words: str) -> None:
    try:
        fn()
    except matdiff.DomainError as e:
        missing = [w for w in words if w not in str(e)]
        assert not missing, f"the DomainError does not say {missing}: {e}"
    else:
        raise AssertionError("no DomainError")


@bug(open=False)
def kink_errors_name_internal_functions() -> None:
    """At a kink the DomainError from r.evaluate names the gradient's internal function, not the
    function the user wrote: grad("abs(a)", "a") at a = 0 says "sign(a) at 0: not differentiable
    there"; norm1(X) says "sign(X): ... where |x| is not differentiable"; norm2(X) at eye says
    "top_sv(X): top_sv: the largest singular value is repeated ..."; norm_nuc(X) says "polar(X):
    ...".  The user typed abs / norm1 / norm2 / norm_nuc and should read that name (where) with why.
    (Fixed in the core during this session, commit ba3b8b6.)
    """
    _says(lambda: matdiff.grad("abs(a)", "a").evaluate({"a": 0.0}), "abs")
    _says(lambda: matdiff.grad("norm1(X)", "X").evaluate({"X": np.array([[1.0, 0.0], [2.0, 1.0]])}), "norm1")
    _says(lambda: matdiff.grad("norm2(X)", "X").evaluate({"X": np.eye(3)}), "norm2")
    _says(lambda: matdiff.grad("norm_nuc(X)", "X").evaluate({"X": np.ones((3, 3))}), "norm_nuc")


@bug(open=False)
def compiled_logdet_error_does_not_say_where() -> None:
    """The compiled gradient of logdet(S), S declared spd, at a non-PD S raises "the matrix is not
    positive definite (its Cholesky factorization failed at column 2), but it was declared spd": it
    says why but not where (neither logdet nor S); r.evaluate says "logdet(S): ...".
    (Fixed in the core during this session, commit ba3b8b6.)
    """
    S = np.diag([1.0, -1.0, 2.0])
    r = matdiff.grad("logdet(S)", "S", {"S": "spd"})
    _says(lambda: r.compile()(S=S), "logdet", "S")


# ------------------------------------------------------------------------------------ fixed meanwhile


@bug(open=False)
def zero_gradient_compiled_is_scalar() -> None:
    """r.compile() of a gradient that is identically 0 returned the scalar 0.0, not zeros shaped like
    the variable: matdiff.grad("tr(A^0)", "A").compile()(A=np.eye(3)) -> 0.0.  (Fixed in the core
    during this session.)
    """
    r = matdiff.grad("tr(A^0)", "A")
    assert np.shape(r.compile()(A=np.eye(3))) == (3, 3)
    r = matdiff.grad("x'*x - x'*x", "x")
    assert np.shape(r.compile()(x=np.ones(3))) == (3,)


@bug(open=False)
def zero_gradient_steps_unify_rows_and_cols() -> None:
    """Rendering the steps of a gradient that is identically 0 w.r.t. a non-square X wrote tr(dX):
    a ShapeError with numeric sizes; with symbolic sizes it silently unified the rows and columns of
    X, after which r.evaluate refused every rectangular X.  (Fixed in the core during this session.)
    """
    r = matdiff.grad("tr((X-X)*(X-X)')", "X", {"X": "matrix(3,2)"})
    [s.text for s in r.steps]
    r = matdiff.grad("tr((X-X)*(X-X)')", "X")
    [s.text for s in r.steps]
    assert np.shape(r.evaluate({"X": np.ones((3, 2))})) == (3, 2)


@bug(open=False)
def compile_with_symbolic_sizes_and_constant_gradient() -> None:
    """matdiff.compile failed to build whenever a size was symbolic and a gradient held an identity
    or all-ones matrix: matdiff.compile("sum(x)", wrt=["x"]) -> ShapeError "the size of an identity
    or ones matrix is not determined by any variable".  (Fixed in the core during this session.)
    """
    value, grads = matdiff.compile("sum(x)", wrt=["x"])(x=np.ones(3))
    assert value == 3.0 and np.allclose(grads["x"], np.ones(3))
    value, grads = matdiff.compile("a*tr(A)", wrt=["A"])(A=np.ones((3, 3)), a=2.0)
    assert value == 6.0 and np.allclose(grads["A"], 2 * np.eye(3))


@bug(open=False)
def simplify_splits_trace_of_sum_with_bare_eye() -> None:
    """simplify(tr(C'*C + eye)) gave tr(C'*C) + tr(eye) with the eye unsized, so evaluating the
    simplified expression raised ShapeError.  (Fixed in the core during this session: tr(eye(C')).)
    """
    from matdiff.calculus.simplify import simplify
    from matdiff.frontend import typed

    s = simplify(typed("a / tr(C'*C + eye)")[0])
    assert np.isclose(matdiff.evaluate(s, {"C": np.eye(2), "a": 1.0}), 0.25)


# ------------------------------------------------------------------------------------ found late


@bug(open=False)
def compiled_abs_at_zero_is_silent() -> None:
    """The compiled gradient of abs(a) at a = 0 returns 0.0 (r.compile()) and matdiff.compile
    returns (0.0, {"a": 0.0}), where r.evaluate rightly raises DomainError ("not differentiable").
    (sum(abs(x)) with a zero entry raises on every path; the scalar case does not.)
    (Fixed in the core during this session, commit ba3b8b6.)
    """
    for call in (lambda: matdiff.grad("abs(a)", "a").compile()(a=0.0),
                 lambda: matdiff.compile("abs(a)", wrt=["a"])(a=0.0)):
        assert _raises_domain_error_or_passes(call), "a number where abs is not differentiable"


@bug(open=False, matches=lambda e, t: type(e) is matdiff.MatdiffError and "too large" in str(e))
def too_large_derivation_is_not_a_limit_error() -> None:
    """A derivation that grows too large raises the base MatdiffError ("the derivation took more than
    2000 steps; the expression is too large"), not LimitError, the class for limits:
    matdiff.grad(" + ".join(["sin(a)*cos(b)"] * 1000), "a").
    (Fixed in the core during this session, commit ba3b8b6.)
    """
    try:
        matdiff.grad(" + ".join(["sin(a)*cos(b)"] * 1000), "a")
    except matdiff.LimitError:
        pass


@bug(open=False)
def long_product_gradient_is_cubic() -> None:
    """The gradient of a long product x'*A*A*...*A*x grows cubically in time (50 factors 0.3 s, 100
    1.8 s, 150 5.7 s, a 304-character input; 300 factors, 604 characters, no answer in 10 s) with no
    LimitError: the product rule writes n terms of n factors and the simplifier works on them all.
    (Fixed in the core during this session, commit ba3b8b6.)
    """
    within(10.0, lambda: matdiff.grad("x'*" + "A*" * 300 + "x", "A"))


@bug(open=False, matches=lambda e, t: isinstance(e, AssertionError) and "dense Hessian" in str(e) and "ones(" in str(e))
def hessian_matrix_wrong_for_elementwise_chain() -> None:
    """The symbolic Hessian matrix (h.expr, h.evaluate) of x'*log(exp(x)) is
    "diag(1)*ones(diag(1./exp(x))*diag(exp(x))) + eye", which evaluates to [[2,1,1],[1,2,1],[1,1,2]]
    instead of 2*eye: a silently wrong dense Hessian, while h.hvp is right (2*V).  Also
    norm_fro(x + log(exp(x))).  Found by the hvp property (dense Hessian against the hvp).
    """
    x = np.array([0.1, -0.1, 0.5])
    h = matdiff.hessian("x'*log(exp(x))", "x")
    assert np.allclose(h.hvp({"x": x}, np.array([1.0, 0.0, 0.0])), [2.0, 0.0, 0.0])
    assert np.allclose(h.evaluate({"x": x}), 2 * np.eye(3))


@bug(open=False, matches=lambda e, t: isinstance(e, matdiff.ShapeError) and "eye" in str(e) and "^0" in t)
def simplified_power_zero_prints_eye_of_eye() -> None:
    """simplify((A^0)^0) is the identity sized by an identity: it prints as "eye(eye)", which cannot
    be evaluated (ShapeError: the size of eye is not determined by any variable), although the typed
    tree evaluates; A^0 alone prints as eye(A).  Found by the simplify property (printed form).
    """
    from matdiff.calculus.simplify import simplify
    from matdiff.frontend import typed

    text = str(simplify(typed("(A^0)^0")[0]))
    assert np.allclose(matdiff.evaluate(text, {"A": 2 * np.eye(3)}), np.eye(3)), text


@bug(open=False, matches=lambda e, t: isinstance(e, ValueError) and not isinstance(e, matdiff.MatdiffError)
     and "reshape" in str(e))
def gradient_by_scalar_of_broadcast_division() -> None:
    """The gradient w.r.t. a scalar a of an expression with a ./ D (a scalar divided entrywise by a
    matrix) is a matrix: grad("det(a ./ D)", "a").gradient is "adj(a*(1./D))'./D" (the sum over the
    entries is missing), and r.evaluate escapes with a bare ValueError ("cannot reshape array of size 4
    into shape ()", numeric/evaluate.py external).  Same for sum(a ./ D).  (a .* D is right.)
    Found by scripts/fuzz_parser.py (input 'det(a ./D )').
    """
    v = {"a": 2.0, "D": np.array([[1.0, 2.0], [3.0, 4.0]])}
    for text, want in (("sum(a ./ D)", np.sum(1 / v["D"])),
                       ("det(a ./ D)", 2 * 2.0 * np.linalg.det(1 / v["D"]))):
        assert np.isclose(matdiff.grad(text, "a", {"a": "scalar"}).evaluate(v), want), text


@bug(open=False, matches=lambda e, t: isinstance(e, matdiff.ShapeError) and "exponent" in str(e) and ".^" in t)
def gradient_of_scalar_base_elementwise_power() -> None:
    """An entrywise power with a scalar base and a vector or matrix exponent (2 .^ x, a .^ X)
    evaluates, but its gradient is refused with a ShapeError about an expression the user did not
    write: grad("sum(2 .^ x)", "x") -> "the exponent x (vector of length len(x)) of ^ must be a
    scalar; use .^ for an entrywise power" (the derivation builds 2^x).  Also grad("sum(a .^ x)", "a").
    Fixed: the simplifier writes a .^ p as a ^ p only when both are scalars.
    """
    v = {"a": 2.0, "x": np.array([1.0, 2.0])}
    assert np.allclose(matdiff.grad("sum(2 .^ x)", "x").evaluate(v), np.log(2) * 2 ** v["x"])
    assert np.isclose(matdiff.grad("sum(a .^ x)", "a").evaluate(v), np.sum(v["x"] * 2.0 ** (v["x"] - 1)))


@bug(open=False)
def limit_error_comes_late() -> None:
    """Derivatives that blow up are refused with a LimitError, but only after seconds of work: the tower
    a^a^...^a^2 with 198 levels (397 characters, within the depth limit) takes 7.6-8.7 s before its
    LimitError ("the differential has 198 terms").  Issue 7: within time, or a LimitError quickly.
    Found by scripts/fuzz_parser.py: all its timeouts (122 of 10^6 inputs with seed 0, 118 with seed
    1) are such towers of 179-199 levels.  (Nested adj of a scalar, 15 levels 13 s, was fixed in
    f209650.)  Fixed: the terms are measured as they are distributed and refused as soon as they pass
    the bound (0.7 s); the size checks between steps share their counts.
    """
    within(5.0, lambda: matdiff.grad("adj(" * 15 + "a" + ")" * 15, "a"))
    within(5.0, lambda: matdiff.grad("a^" * 198 + "2", "a"))


# ------------------------------------------------------------------------------------ the long profile


def _fd_gradient(text: str, values: dict, wrt: str, types: dict | None = None, h: float = 1e-6) -> np.ndarray:
    x = np.asarray(values[wrt], dtype=float)
    g = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        e = np.zeros(x.shape)
        e[idx] = h
        up, dn = dict(values), dict(values)
        up[wrt], dn[wrt] = x + e, x - e
        g[idx] = (matdiff.evaluate(text, up, types) - matdiff.evaluate(text, dn, types)) / (2 * h)
    return g


@bug(open=False)
def simplifier_factors_unlike_broadcast_terms() -> None:
    """The simplifier took a common factor out of terms of different shapes in a sum with a scalar
    broadcast, and raised ShapeError on well-typed input: grad("(u' + x'*X)*(x'*x + X'*x)", "X")
    ("cannot apply + ..."), simplify of u + (X'*x + (a + x'*x)) ("cannot apply + to X' (2x3 matrix)
    and x' (row vector of length 3)").  Found by the long profile; fixed in the core (f209650).
    """
    from matdiff.calculus.simplify import simplify
    from matdiff.frontend import typed

    types = {"x": "vector(3)", "u": "vector(2)", "X": "matrix(3,2)", "a": "scalar"}
    rng = np.random.default_rng(1)
    v = {"X": rng.standard_normal((3, 2)), "u": rng.standard_normal(2), "x": rng.standard_normal(3), "a": 0.3}
    text = "(u' + x'*X)*(x'*x + X'*x)"
    assert np.allclose(matdiff.grad(text, "X", types).evaluate(v), _fd_gradient(text, v, "X", types), atol=1e-6)
    text = "u + (X'*x + (a + x'*x))"
    s = simplify(typed(text, types)[0])
    assert np.allclose(matdiff.evaluate(s, v, types), matdiff.evaluate(text, v, types))


@bug(open=False)
def hessian_of_scalar_in_broadcast_escapes() -> None:
    """h.hvp of norm1(x / a) w.r.t. the scalar a escaped with a bare ValueError ("cannot reshape array
    of size 3 into shape ()").  f = sum|x| / a, so f'' = 2 sum|x| / a^3.  Found by the long profile;
    fixed in the core (f209650: Hessians with broadcasts via the hvp).
    """
    x = np.array([0.5123, 0.0839, -0.4285])
    hv = matdiff.hessian("norm1(x / a)", "a").hvp({"a": 0.6, "x": x}, 1.0)
    assert np.isclose(hv, 2 * np.sum(np.abs(x)) / 0.6 ** 3)


@bug(open=False, matches=lambda e, t: isinstance(e, (OverflowError, ZeroDivisionError)))
def compiled_overflow_escapes() -> None:
    """A compiled function given Python floats let OverflowError escape where the result overflows:
    matdiff.grad("a^1000", "a").compile()(a=10.0) -> OverflowError (34, 'Numerical result out of range'),
    where NumPy scalars gave the DomainError "the result is not finite"; and the interpreter returned inf
    with a RuntimeWarning.  Found by scripts/fuzz_parser.py (seed 1: a RuntimeWarning in its log).
    Fixed: both answer DomainError, without NumPy's warnings in the interpreter.
    """
    import warnings

    r = matdiff.grad("a^1000", "a")
    compiled = [lambda: r.compile()(a=10.0), lambda: r.compile()(a=np.float64(10.0))]
    interpreted = [lambda: r.evaluate({"a": 10.0}), lambda: matdiff.evaluate("a*b", {"a": 1e300, "b": 1e300})]
    for run in compiled + interpreted:
        with warnings.catch_warnings():
            if run in interpreted:
                warnings.simplefilter("error", RuntimeWarning)  # the interpreter keeps NumPy's warnings in
            else:
                warnings.simplefilter("ignore", RuntimeWarning)
            try:
                run()
            except matdiff.DomainError as err:
                assert "not finite" in str(err)
            else:
                raise AssertionError("an overflowing result was returned")


@bug(open=False, matches=lambda e, t: isinstance(e, matdiff.ShapeError) and "eye" in str(e))
def printed_identity_inside_a_function_loses_its_size() -> None:
    """The printer wrote an identity bare where only a scalar stood beside it, or inside an entrywise
    function: simplify(a ./ exp(A^0)) printed "a*(1./exp(eye))", which re-parses to an expression whose eye
    has no size (ShapeError).  A scalar operand broadcasts and fixes no size, exp(E) is as large as E.
    Found by the long profile (test_simplify_preserves_values).  Fixed: printer.needs_context.
    """
    from matdiff.calculus.simplify import simplify
    from matdiff.frontend import typed

    types = {"a": "scalar", "A": "matrix(3,3)"}
    v = {"a": -1.1047, "A": np.arange(9.0).reshape(3, 3)}
    for text in ("a ./ exp(A^0)", "2 .^ (A^0)", "2 .^ exp(A^0)", "sqrt(A^0 + 1)"):
        printed = str(simplify(typed(text, types)[0]))
        assert np.allclose(matdiff.evaluate(printed, v, types), matdiff.evaluate(text, v, types)), printed


@bug(open=False, matches=lambda e, t: "diag(0)" in str(e) or (isinstance(e, ValueError)
                                                              and not isinstance(e, matdiff.MatdiffError)))
def zero_differential_under_diag_loses_its_shape() -> None:
    """A differential that is 0 under diag (d(A^0) = 0 in diag(A^0)) became diag(0), of no definite shape:
    derivative("diag(A^0)'*A*diag(A^0)", "A") raised ShapeError "cannot apply + to diag(0)'*A*diag(A^0)
    (vector of length 3) and diag(A^0)'*A*diag(0) (row vector ...)", and the jvp of diag(A^0)'*A*x escaped
    as a bare ValueError ("cannot reshape array of size 3 into shape ()").  Found by the long profile
    (test_jvp_vjp).  Fixed: a zero under diag, or transposed, keeps the shape of what it replaces.
    """
    rng = np.random.default_rng(3)
    A, x, V = rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal((3, 3))
    for text in ("diag(A^0)'*A*diag(A^0)", "diag(A^0)'*A*x", "-(diag(A^0)'*A*diag(A^0))"):
        d = matdiff.derivative(text, "A", {"A": "matrix(3,3)", "x": "vector(3)"})
        v = {"A": A, "x": x}
        up, down = matdiff.evaluate(text, {**v, "A": A + 1e-6 * V}), matdiff.evaluate(text, {**v, "A": A - 1e-6 * V})
        num = (up - down) / 2e-6
        assert np.allclose(d.jvp(v, V), num, atol=1e-6), text


# ------------------------------------------------------------------------------------ issue 13: names, dtypes, scales
# Found by the name families, value styles and extreme scales of strategies.py (issue 13 item 12).


@bug(open=False)
def compiled_names_collide_with_temporaries() -> None:
    """Generated code reuses the user's names for its temporaries: matdiff.compile("t0'*t0", wrt=["t0"])
    (t0=[1, 2, 3]) returns the gradient 28.0 (a scalar) instead of [2, 4, 6]: the code assigns
    t0 = t0 @ t0 and then computes 2 * t0.  A silently wrong number (DESIGN.md: generated code keeps the
    user's names apart from its own).
    (Fixed in the core during this session, commit e888f8a.)
    """
    x = np.array([1.0, 2.0, 3.0])
    value, grads = matdiff.compile("t0'*t0", wrt=["t0"])(t0=x)
    assert value == 14.0 and np.allclose(grads["t0"], 2 * x), grads
    value, grads = matdiff.compile("t0'*t0 + t1'*A*t1", wrt=["t0", "A"])(t0=x, t1=x, A=np.eye(3))
    assert value == 28.0 and np.allclose(grads["t0"], 2 * x) and np.allclose(grads["A"], np.outer(x, x)), grads


@bug(open=False)
def compile_refuses_a_variable_named_self() -> None:
    """matdiff.compile of an expression with a variable named self cannot be called: the callable's
    __call__(self, **values) takes the value as its own self: matdiff.compile("self'*self", wrt=["self"])
    (self=x) -> TypeError "CompiledFunction.__call__() got multiple values for argument 'self'" (a bare
    TypeError; r.compile() and matdiff.evaluate accept the name).
    """
    x = np.array([1.0, 2.0, 3.0])
    value, grads = matdiff.compile("self'*self", wrt=["self"])(self=x)
    assert value == 14.0 and np.allclose(grads["self"], 2 * x)


@bug(open=False)
def compiled_gradient_accepts_array_for_scalar() -> None:
    """r.compile() accepts an array for a scalar variable and computes with it: matdiff.grad("a*x'*x",
    "x").compile()(a=np.ones(3), x=[1, 2, 3]) returns [2, 4, 6]; matdiff.evaluate and matdiff.compile raise
    ShapeError "a is a scalar, but its value has shape (3,)".
    (Fixed in the core during this session, commit e888f8a.)
    """
    x = np.array([1.0, 2.0, 3.0])
    for a in (np.ones(3), np.array([2.0, 3.0, 4.0])):
        try:
            matdiff.grad("a*x'*x", "x").compile()(a=a, x=x)
        except matdiff.ShapeError:
            continue
        raise AssertionError("an array for the scalar a was accepted")


def _float64_result(got: object, want: object) -> None:
    assert np.asarray(got).dtype == np.float64, f"dtype {np.asarray(got).dtype}, not float64"
    assert np.allclose(np.asarray(got, dtype=float), want, rtol=1e-12), f"{got!r}, not {want!r}"


@bug(open=False)
def compiled_integer_inputs_not_computed_in_float64() -> None:
    """Compiled code computes in the integer dtype of its inputs, and int64 overflows silently: with
    a = np.int64(3_000_000_000), matdiff.compile("a^3", wrt=["a"])(a=a) returns (-2.667e18, {"a":
    8.55e18}) instead of (2.7e28, {"a": 2.7e19}) (matdiff.evaluate gives 2.7e28); the gradient of
    sum(x.^3) for x = [3e9, 1, 2] (int64) is an int64 array with a wrapped-around first entry.
    DESIGN.md: integer inputs are computed in float64, as evaluate does.
    (Fixed in the core during this session, commit e888f8a.)
    """
    a = np.int64(3_000_000_000)
    value, grads = matdiff.compile("a^3", wrt=["a"])(a=a)
    _float64_result(value, 2.7e28)
    _float64_result(grads["a"], 2.7e19)
    x = np.array([3_000_000_000, 1, 2])
    _float64_result(matdiff.grad("sum(x.^3)", "x").compile()(x=x), 3.0 * x.astype(float) ** 2)
    _float64_result(matdiff.grad("x'*x", "x").compile()(x=np.array([1, 2, 3])), [2.0, 4.0, 6.0])


@bug(open=False)
def compiled_bool_inputs_not_computed_in_float64() -> None:
    """Compiled code computes with boolean inputs as booleans: x = [True, True, False],
    matdiff.compile("x'*x", wrt=["x"])(x=x) returns the value 1.0 (True @ ... is a logical or) where
    matdiff.evaluate gives 2.0, and the gradient is an int64 array; matdiff.compile("sum(x - y)",
    wrt=["y"]) of booleans raises nothing but computes x - y as a NumPy boolean subtraction would.
    (Fixed in the core during this session, commit e888f8a.)
    """
    x = np.array([True, True, False])
    value, grads = matdiff.compile("x'*x", wrt=["x"])(x=x)
    _float64_result(value, 2.0)
    _float64_result(grads["x"], [2.0, 2.0, 0.0])
    _float64_result(matdiff.grad("x'*x", "x").compile()(x=x), [2.0, 2.0, 0.0])


@bug(open=False)
def compiled_float32_inputs_not_computed_in_float64() -> None:
    """Compiled gradients of float32 inputs are float32 (computed in single precision), where
    matdiff.evaluate and r.evaluate compute in float64: matdiff.grad("x'*x", "x").compile()(x=<float32>)
    has dtype float32; so do matdiff.compile's gradients.
    (Fixed in the core during this session, commit e888f8a.)
    """
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    _float64_result(matdiff.grad("x'*x", "x").compile()(x=x), [2.0, 4.0, 6.0])
    _float64_result(matdiff.compile("x'*x", wrt=["x"])(x=x)[1]["x"], [2.0, 4.0, 6.0])


def _right_or_domain_error(fn: Callable[[], object], want: object, rtol: float = 1e-10) -> None:
    try:
        got = fn()
    except matdiff.DomainError:
        return
    got = got[0] if isinstance(got, tuple) else got
    assert np.allclose(np.asarray(got, dtype=float), want, rtol=rtol, atol=0), f"{got!r}, not {want!r}"


@bug(open=False)
def norm_gradient_zero_where_the_norm_overflows() -> None:
    """The gradient of norm_fro(X) (or norm2(x)) at a point of scale 1e200 is all zeros, from
    r.evaluate and r.compile(): X / norm_fro(X) with the norm overflowing to inf.  The gradient is
    X/|X|, of entries about 0.5.  A silently wrong number (the value itself rightly raises DomainError
    or is computed stably).
    (Fixed in the core during this session: numeric/kernels.py, scaled norms.)
    """
    X = np.array([[1.0, 2.0], [3.0, 4.5]])
    x = np.array([1.0, 2.0, 3.0])
    for s in (1e200, 1e300):
        r = matdiff.grad("norm_fro(X)", "X")
        want = X / np.linalg.norm(X)
        _right_or_domain_error(lambda r=r, s=s: r.evaluate({"X": s * X}), want)
        _right_or_domain_error(lambda r=r, s=s: r.compile()(X=s * X), want)
        r = matdiff.grad("norm2(x)", "x")
        _right_or_domain_error(lambda r=r, s=s: r.evaluate({"x": s * x}), x / np.linalg.norm(x))


@bug(open=False)
def norm_underflows_to_zero() -> None:
    """norm_fro(X) and norm2(x) of a point of scale 1e-200 evaluate to 0.0 (the squares underflow):
    matdiff.evaluate("norm_fro(X)", {"X": 1e-200 * [[1, 2], [3, 4.5]]}) = 0.0, not 5.85e-200; and then
    the gradient raises DomainError "norm_fro(X)^-1: a negative power of 0" at a point where the norm
    is differentiable.
    (Fixed in the core during this session: numeric/kernels.py, scaled norms.)
    """
    X = np.array([[1.0, 2.0], [3.0, 4.5]])
    x = np.array([1.0, 2.0, 3.0])
    for s in (1e-200, 1e-300):
        _right_or_domain_error(lambda s=s: matdiff.evaluate("norm_fro(X)", {"X": s * X}), s * np.linalg.norm(X))
        _right_or_domain_error(lambda s=s: matdiff.evaluate("norm2(x)", {"x": s * x}), s * np.linalg.norm(x))
        _right_or_domain_error(lambda s=s: matdiff.compile("norm_fro(X)", wrt=["X"])(X=s * X), s * np.linalg.norm(X))


@bug(open=False)
def det_gradient_underflows_to_zero() -> None:
    """The gradient of det(A) at a 3x3 A of scale 1e-120 is all zeros (r.evaluate, r.compile(),
    matdiff.compile), where it is adj(A)' of scale 1e-240, well inside the range of float64: the
    det*inv(A)' form underflows in det (1e-360) first.
    (Fixed in the core during this session: numeric/factor.py, kernels.py.)
    """
    A = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]])
    s = 1e-120
    want = s**2 * np.linalg.det(A) * np.linalg.inv(A).T
    r = matdiff.grad("det(A)", "A")
    _right_or_domain_error(lambda: r.evaluate({"A": s * A}), want)
    _right_or_domain_error(lambda: r.compile()(A=s * A), want)
    _right_or_domain_error(lambda: matdiff.compile("det(A)", wrt=["A"])(A=s * A)[1]["A"], want)


@bug(open=False, matches=lambda e, t: isinstance(e, AssertionError) and "but the answer is" in str(e) and "^-" in t)
def negative_matrix_power_underflows_to_zero() -> None:
    """A^-2 of a matrix of scale 1e200 is formed (1e-400: zeros) before it multiplies: with A = 2e200*eye(3)
    and x = 1e200*ones(3), matdiff.evaluate("A^-2*x") is [0, 0, 0], not 2.5e-201 each; matdiff.compile(
    "x'*A^-2*x", wrt=["x"]) gives the value 0.0, not 0.75.  inv(A)*inv(A)*x is right.  A silently wrong
    zero (DESIGN.md: never form an inverse to multiply by it).  Found by test_extreme_scales.
    """
    A, x, s = 2 * np.eye(3), np.ones(3), 1e200
    _right_or_domain_error(lambda: matdiff.evaluate("A^-2*x", {"A": s * A, "x": s * x}), np.full(3, 0.25 / s))
    _right_or_domain_error(lambda: matdiff.compile("x'*A^-2*x", wrt=["x"])(A=s * A, x=s * x)[0], 0.75)


@bug(open=False, matches=lambda e, t: "LinAlgError" in str(e) or type(e).__name__ == "LinAlgError")
def svd_of_overflowed_matrix_escapes_as_linalg_error() -> None:
    """The gradient of norm2(A*A) at an A of scale 1e200 (A*A overflows to inf, where the gradient, of
    scale 1e200, is representable) lets NumPy's LinAlgError "SVD did not converge" escape from r.evaluate
    (a bare numpy.linalg.LinAlgError, not a MatdiffError); r.compile() raises the base MatdiffError
    "evaluation failed: LinAlgError: ...".  DESIGN.md: a DomainError saying where (or the right number).
    Found by test_extreme_scales.
    """
    A = 1e200 * np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]])
    r = matdiff.grad("norm2(A*A)", "A")
    for run in (lambda: r.evaluate({"A": A}), lambda: r.compile()(A=A)):
        try:
            run()
        except matdiff.DomainError:
            pass


@bug(open=False, matches=lambda e, t: isinstance(e, AssertionError) and "but the answer is" in str(e)
     and "r.evaluate grad" in str(e))
def interpreted_gradient_underflows_to_zero() -> None:
    """r.evaluate of the gradient X*u*u'/norm_fro(X*u) of norm_fro(X*u) at X, u of scale 1e-150 is all zeros
    (X*u*u' underflows at 1e-450 before the division), where the gradient is of scale 1e-150; r.compile()
    gives the right numbers (its kernels rescale).  A silently wrong zero.  Found by test_extreme_scales.
    """
    X, u, s = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), np.array([1.0, -1.0]), 1e-150
    want = s * np.outer(X @ u, u) / np.linalg.norm(X @ u)
    _right_or_domain_error(lambda: matdiff.grad("norm_fro(X*u)", "X").evaluate({"X": s * X, "u": s * u}), want)


@bug(matches=lambda e, t: isinstance(e, AssertionError) and "but the answer is" in str(e)
     and "at scale 1e-" in str(e))
def intermediate_underflow_gives_zero() -> None:
    """A product that underflows in an intermediate gives 0 where the answer is well inside float64's range,
    with no DomainError: matdiff.evaluate("sum(inv(A)*(a*a))") at A = 1e-200*eye(3), a = 1e-200 is 0.0 (a*a
    is 1e-400 -> 0), not 3e-200 (inv(A) is 1e200*eye); matdiff.compile gives the same 0.0.  DESIGN.md: the
    answer or a DomainError, never a silently wrong number.  Found by test_extreme_scales (1e-200 points).
    """
    s = 1e-200
    v = {"A": s * np.eye(3), "a": s}
    _right_or_domain_error(lambda: matdiff.evaluate("sum(inv(A)*(a*a))", v), 3 * s)
    _right_or_domain_error(lambda: matdiff.compile("sum(inv(A)*(a*a))", wrt=["A"])(**v)[0], 3 * s)


@bug(matches=lambda e, t: isinstance(e, AssertionError) and "but the answer is" in str(e)
     and "inv(" in str(e) and "grad_" in str(e))
def partial_product_of_inverses_underflows_in_a_sum() -> None:
    """A term of a printed gradient that is a product of inverses with a scalar, -sum(A)*inv(A)'*inv(A)', loses
    itself to underflow at A ~ 1e200 (inv(A)'*inv(A)' ~ 1e-400 is formed before sum(A) ~ 1e200 scales it), while
    another term of the sum is representable, so the result is neither 0 (the interpreter's fallback) nor right:
    r.compile() of the gradient of tr(inv(A)) .* sum(A) gives only the tr(inv(A))*ones(A) term.  The whole
    product is ~1e-200.  Open: generated code puts a product's scalars on its smallest factor or on the
    product; a product of inverses only has solves to put them in.  Found by test_extreme_scales.
    """
    A0 = np.array([[-0.3518, -0.1695, 0.7728], [0.762, -0.6569, 0.4576], [-0.5102, -0.8179, -0.3907]])
    s = 1e200
    X = np.linalg.inv(A0)
    want = (-A0.sum() * (X.T @ X.T) + np.trace(X) * np.ones((3, 3))) / s  # the gradient is of degree -1
    r = matdiff.grad("tr(inv(A)) .* sum(A)", "A")
    _right_or_domain_error(lambda: r.compile()(A=s * A0), want)


@bug(open=False)
def compiled_negative_base_power_loses_its_sign() -> None:
    """Generated code wrote (-1)^3332 as -1 ** 3332, which Python reads as -(1 ** 3332): the compiled gradient of
    (-eyee)^3333 was 3333 where evaluate gives -3333.  Found by scripts/fuzz_parser.py (seed 0).
    """
    r = matdiff.grad("(-eyee)^3333", "eyee")
    assert r.compile()(eyee=1.0) == r.evaluate({"eyee": 1.0}) == -3333.0
    r = matdiff.grad("sum((-a).^2 .* x)", "x")
    assert np.allclose(r.compile()(a=3.0, x=np.ones(2)), 9.0)


@bug(open=False)
def compiled_one_by_one_identity_makes_a_row() -> None:
    """A 1x1 identity beside a vector (x*eye) was _np.eye(1), a 2-D (1, 1) array, so the compiled gradient of
    norm2(-(x*eye)) came back with shape (1, 3) where evaluate gives (3,).  Found by scripts/fuzz_parser.py.
    """
    x = np.array([1.0, 2.0, 3.0])
    for text, w in (("norm2(-(x * eye))", "x"), ("-(norm1(sqrt(eye) * (w)'))'", "w")):
        r = matdiff.grad(text, w)
        got = r.compile()(**{w: x})
        assert got.shape == (3,) and np.allclose(got, r.evaluate({w: x})), (text, got)


@bug(open=False)
def compiled_huge_integer_literal_is_an_object() -> None:
    """An integer literal beyond 2^53 was written as a Python int, which NumPy holds with object dtype:
    the compiled gradient of -(1999999999999999999990*log(a)) raised "loop of ufunc does not support argument 0
    of type int".  Found by scripts/fuzz_parser.py.
    """
    r = matdiff.grad("-(1999999999999999999990*log(a*b))", "a")
    assert np.isclose(r.compile()(a=2.0, b=np.float64(3.0)), r.evaluate({"a": 2.0, "b": 3.0}))


@bug(open=False)
def interpreted_python_float_power_overflow_escapes() -> None:
    """evaluate of (norm_nuc(B))^-1 at a B of scale 1e-310 let Python's OverflowError (34, 'Numerical result out of
    range') escape from a ** -1 of a float.  Found by scripts/fuzz_parser.py.
    """
    r = matdiff.grad("(norm_nuc(B))^-1", "B")
    try:
        r.evaluate({"B": 1e-310 * np.eye(2)})
    except matdiff.DomainError:
        pass
