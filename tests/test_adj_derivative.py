"""adj_d(A, E) = adj'(A)[E], the derivative of the adjugate: exact at singular A, where every derivative of
adj (and every Hessian of det) once raised DomainError "singular".

adj is a polynomial in the entries of A; its directional derivative is checked against central
differences of the adjugate kernel at random matrices of every rank, through the kernel, the
interpreter, the generated code, jvp/vjp/gradients/Hessian-vector products and the printers.
"""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.core.nodes import Call
from matdiff.functions import lookup
from matdiff.runtime import factor as F
from matdiff.runtime import kernels as K


def of_rank(rng: np.random.Generator, n: int, r: int, dtype: type = float) -> np.ndarray:
    """A random n x n matrix of rank r (exactly r for r = n; to working precision below)."""
    if r == n:
        A = rng.standard_normal((n, n))
        return A + 1j * rng.standard_normal((n, n)) if dtype is complex else A
    L, R = rng.standard_normal((n, r)), rng.standard_normal((r, n))
    if dtype is complex:
        L, R = L + 1j * rng.standard_normal((n, r)), R + 1j * rng.standard_normal((r, n))
    return L @ R


def central(A: np.ndarray, E: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """(adj(A + hE) - adj(A - hE)) / 2h, Richardson-extrapolated (adj is a polynomial: smooth everywhere)."""
    def d(h: float) -> np.ndarray:
        return (K.adj(A + h * E) - K.adj(A - h * E)) / (2 * h)
    return (4 * d(h / 2) - d(h)) / 3


def lu_form(A: np.ndarray, E: np.ndarray) -> np.ndarray:
    """tr(adj(A) E) inv(A) - adj(A) E inv(A), for invertible A."""
    adj, inv = K.adj(A), np.linalg.inv(A)
    return np.trace(adj @ E) * inv - adj @ E @ inv


RANKS = [(n, r) for n in range(1, 6) for r in (n, n - 1, n - 2, min(n - 3, 1)) if r >= 0]


@pytest.mark.parametrize("n, r", sorted(set(RANKS)))
@pytest.mark.parametrize("dtype", [float, complex])
def test_kernel_against_central_differences(rng, n, r, dtype):
    A = of_rank(rng, n, r, dtype)
    E = rng.standard_normal((n, n))
    want = central(A, E)
    scale = max(1.0, np.abs(want).max())
    for got in (K.adj_d(A, E), F.adj_d(F.lu(A), E), K.adj_d_svd(A, E) if n > 1 else np.zeros((n, n))):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-7 * scale)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_lu_form_where_invertible(rng, n):
    A, E = rng.standard_normal((n, n)) + n * np.eye(n), rng.standard_normal((n, n))
    np.testing.assert_allclose(K.adj_d(A, E), lu_form(A, E), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(K.adj_d_svd(A, E), lu_form(A, E), rtol=1e-9, atol=1e-11)
    S = A @ A.T  # the Cholesky factors give the same
    np.testing.assert_allclose(F.adj_d(F.chol(S), E), lu_form(S, E), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("A", [np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones((2, 2)), np.zeros((2, 2))])
def test_two_by_two_closed_form(rng, A):
    """adj(A) = tr(A) I - A for 2x2 A, so adj'(A)[E] = tr(E) I - E at every A, singular or not."""
    E = rng.standard_normal((2, 2))
    want = np.trace(E) * np.eye(2) - E
    np.testing.assert_allclose(K.adj_d(A, E), want, atol=1e-14)
    d = matdiff.derivative("adj(A)", "A")
    np.testing.assert_allclose(d.jvp({"A": A}, E), want, atol=1e-14)
    np.testing.assert_allclose(matdiff.evaluate("adj_d(A, E)", {"A": A, "E": E}), want, atol=1e-14)


def test_one_by_one_is_zero():
    assert K.adj_d(np.array([[0.0]]), np.array([[2.0]])).tolist() == [[0.0]]
    d = matdiff.derivative("adj(A)", "A")
    assert np.allclose(d.jvp({"A": np.array([[3.0]])}, np.array([[1.0]])), 0)


def test_pair_products_are_exact_with_zero_singular_values():
    s = np.array([3.0, 2.0, 0.0, 0.0])
    P = K._pair_products(s)
    want = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 6], [0, 0, 6, 0]], dtype=float)
    np.testing.assert_array_equal(P, want)


# ------------------------------------------------------------------------- through the library


@pytest.mark.parametrize("n, r", [(3, 3), (3, 2), (3, 1), (4, 2), (5, 1), (5, 4)])
def test_jvp_vjp_jacobian_at_every_rank(rng, n, r):
    A, E, C = of_rank(rng, n, r), rng.standard_normal((n, n)), rng.standard_normal((n, n))
    d = matdiff.derivative("adj(A)", "A")
    assert str(d.differential) == "adj_d(A, dA)"
    want = central(A, E)
    np.testing.assert_allclose(d.jvp({"A": A}, E), want, atol=1e-7 * max(1, np.abs(want).max()))
    # the adjoint: <C, J E> = <J' C, E>
    lhs = np.sum(C * d.jvp({"A": A}, E))
    rhs = np.sum(d.vjp({"A": A}, C) * E)
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-9)
    J = d.jacobian({"A": A})
    np.testing.assert_allclose(J @ E.ravel(order="F"), d.jvp({"A": A}, E).ravel(order="F"), atol=1e-10)


@pytest.mark.parametrize("r", [4, 3, 2, 1, 0])
def test_gradient_through_adj_at_every_rank(rng, r):
    n = 4
    A, B = of_rank(rng, n, r), rng.standard_normal((n, n))
    res = matdiff.grad("tr(B*adj(A)) + sum(adj(A))", "A")
    g = res.evaluate({"A": A, "B": B})
    W = B.T + np.ones((n, n))  # f = <W, adj(A)>: df = <W, adj'(A)[dA]>
    num = np.array([[np.sum(W * central(A, np.eye(n)[:, [i]] @ np.eye(n)[[j]])) for j in range(n)]
                    for i in range(n)])
    np.testing.assert_allclose(g, num, atol=1e-7 * max(1, np.abs(num).max()))
    np.testing.assert_allclose(res.compile()(A=A, B=B), g, rtol=1e-10, atol=1e-12)


def test_known_bug_reproductions():
    A = np.ones((3, 3))
    g = matdiff.grad("sum(adj(A))", "A").evaluate({"A": A})
    num = np.array([[np.sum(central(A, np.eye(3)[:, [i]] @ np.eye(3)[[j]])) for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(g, num, atol=1e-8)
    np.testing.assert_allclose(matdiff.derivative("adj(A)", "A").jvp({"A": A}, np.eye(3)), central(A, np.eye(3)),
                               atol=1e-8)


@pytest.mark.parametrize("n, r", [(3, 3), (3, 2), (3, 1), (4, 3), (4, 2)])
def test_hessian_of_det_at_every_rank(rng, n, r):
    """H[V] of det(X) = adj'(X)[V]' (the gradient is adj(X)'): the hvp, the dense Hessian, the compiled code."""
    X, V = of_rank(rng, n, r), rng.standard_normal((n, n))
    h = matdiff.hessian("det(X)", "X")
    want = central(X, V).T
    hv = h.hvp({"X": X}, V)
    np.testing.assert_allclose(hv, want, atol=1e-7 * max(1, np.abs(want).max()))
    H = h.evaluate({"X": X})
    np.testing.assert_allclose(H, H.T, atol=1e-9)  # a Hessian is symmetric
    np.testing.assert_allclose(H @ V.ravel(order="F"), hv.ravel(order="F"), atol=1e-9)
    np.testing.assert_allclose(h.compile()(X=X), H, atol=1e-10)
    # the gradient of det is still the textbook's
    assert str(matdiff.grad("det(X)", "X").gradient) == "adj(X)'"


def test_hessian_of_det_of_gram_matrix_is_zero_when_rank_deficient(rng):
    """det(X*X') with X 3x2 is 0 for every X: its Hessian is 0 (once DomainError "singular")."""
    X = np.array([[-0.175, 1.339], [1.2524, -0.1424], [0.3148, 0.6792]])
    h = matdiff.hessian("det(X*X')", "X")
    np.testing.assert_allclose(h.hvp({"X": X}, np.ones((3, 2))), 0, atol=1e-12)
    np.testing.assert_allclose(h.evaluate({"X": X}), 0, atol=1e-12)
    # a square X: det(X X') = det(X)^2, Hessian-vector product checked by central differences of the gradient
    X, V = of_rank(rng, 3, 2), rng.standard_normal((3, 3))
    g = matdiff.grad("det(X*X')", "X")
    num = (g.evaluate({"X": X + 1e-5 * V}) - g.evaluate({"X": X - 1e-5 * V})) / 2e-5
    np.testing.assert_allclose(matdiff.hessian("det(X*X')", "X").hvp({"X": X}, V), num, atol=1e-7)


def test_charpoly_second_derivative_at_an_eigenvalue():
    A = np.diag([1.0, 2.0, 3.0])
    h = matdiff.hessian("det(x*eye - A)", "x", {"x": "scalar"})
    for x in (1.0, 2.0, 3.0, 0.5):  # p''(x) = 6x - 12, also at the eigenvalues
        assert h.evaluate({"x": x, "A": A}) == pytest.approx(6 * x - 12, abs=1e-12)
        assert h.compile()(x=x, A=A) == pytest.approx(6 * x - 12, abs=1e-12)


def test_symmetric_and_spd_variables(rng):
    n = 4
    L = rng.standard_normal((n, 2))
    S = L @ L.T  # symmetric, rank 2
    V = rng.standard_normal((n, n))
    V = V + V.T
    h = matdiff.hessian("det(S)", "S", {"S": "symmetric"})
    np.testing.assert_allclose(h.hvp({"S": S}, V), central(S, V), atol=1e-7)
    P = S + np.eye(n)
    hs = matdiff.hessian("det(P)", "P", {"P": "spd"})
    np.testing.assert_allclose(hs.hvp({"P": P}, V), lu_form(P, V), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(hs.compile()(P=P) @ V.ravel(order="F"), lu_form(P, V).ravel(order="F"), atol=1e-8)


def test_symbolic_and_fixed_sizes(rng):
    for types in (None, {"A": "matrix(3,3)"}):
        d = matdiff.derivative("adj(A)", "A", types)
        A, E = of_rank(rng, 3, 1), rng.standard_normal((3, 3))
        np.testing.assert_allclose(d.jvp({"A": A}, E), central(A, E), atol=1e-8)


def test_complex_values(rng):
    A, E = of_rank(rng, 4, 2, complex), rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))
    got = matdiff.evaluate("adj_d(A, E)", {"A": A, "E": E})
    np.testing.assert_allclose(got, central(A, E), atol=1e-7)


def test_evaluate_equals_compiled(rng):
    for n, r in [(4, 4), (4, 3), (4, 1), (2, 0)]:
        A, E, B = of_rank(rng, n, r), rng.standard_normal((n, n)), rng.standard_normal((n, n))
        for text in ("sum(adj_d(A, E))", "tr(B*adj_d(A', E*B))", "sum(adj_d(A + A', E) .* B)"):
            v = {"A": A, "E": E, "B": B} if "B" in text else {"A": A, "E": E}
            for wrt in ("E", "B") if "B" in text else ("E",):
                g = matdiff.grad(text, wrt)
                np.testing.assert_allclose(g.compile()(**v), g.evaluate(v), rtol=1e-10, atol=1e-12)
            f = matdiff.compile(text, wrt=["E"])
            value, grads = f(**v)
            assert value == pytest.approx(matdiff.evaluate(text, v), rel=1e-10, abs=1e-12)
        A, E = of_rank(rng, n, r), rng.standard_normal((n, n))
        d = matdiff.derivative("adj(A)*B", "A")
        gen = matdiff.grad("sum(adj(A)*B)", "A")
        np.testing.assert_allclose(gen.compile()(A=A, B=B), gen.evaluate({"A": A, "B": B}), rtol=1e-10, atol=1e-12)
        assert d.jvp({"A": A, "B": B}, E).shape == (n, n)


def test_second_derivative_of_adj_where_a_is_invertible():
    """d adj_d(A, E) with A varying is written from the invertible form: right there, a DomainError at singular A."""
    rng = np.random.default_rng(7)
    A, V = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    h, g = matdiff.hessian("sum(adj(A))", "A"), matdiff.grad("sum(adj(A))", "A")
    eps = 1e-5
    num = (g.evaluate({"A": A + eps * V}) - g.evaluate({"A": A - eps * V})) / (2 * eps)
    np.testing.assert_allclose(h.hvp({"A": A}, V), num, rtol=1e-6, atol=1e-8)
    with pytest.raises(matdiff.DomainError, match="singular"):
        h.hvp({"A": np.ones((3, 3))}, V)
    # linear in E: its derivative in E is fine
    r = matdiff.grad("tr(B*adj_d(A, X))", "X")
    assert "adj_d" in str(r.gradient)


def test_shapes_are_checked():
    with pytest.raises(matdiff.ShapeError, match="square"):
        matdiff.parse("adj_d(A, E)") and matdiff.grad("sum(adj_d(A, E))", "E", {"A": "matrix(2,3)"})
    with pytest.raises(matdiff.ShapeError, match="shaped like A"):
        matdiff.grad("sum(adj_d(A, E))", "E", {"A": "matrix(2,2)", "E": "matrix(3,3)"})


# ------------------------------------------------------------------------------- printing, parsing


@pytest.mark.parametrize("text", ["adj_d(A, E)", "adj_d(A', E*B)'", "2*adj_d(A + B, eye) - adj_d(A, x*y')",
                                  "tr(adj_d(x*eye - A, eye))"])
def test_printer_round_trip(text):
    e = matdiff.parse(text)
    assert matdiff.parse(str(e)) == e
    assert any(isinstance(n, Call) and n.fn is lookup("adj_d") for n in _nodes(e))


@pytest.mark.parametrize("expr, wrt, types", [
    ("sum(adj(A))", "A", None),
    ("tr(B*adj(A))", "A", None),
    ("x'*adj(A)*y", "A", None),
    ("tr(adj(S)*B)", "S", {"S": "symmetric"}),
])
def test_printed_gradients_reparse_and_evaluate(rng, expr, wrt, types):
    r = matdiff.grad(expr, wrt, types)
    text = str(r.gradient)
    assert "adj_d(" in text
    n = 3
    L = rng.standard_normal((n, 2))
    values = {"A": L @ rng.standard_normal((2, n)), "B": rng.standard_normal((n, n)), "S": L @ L.T,
              "x": rng.standard_normal(n), "y": rng.standard_normal(n)}
    values = {k: v for k, v in values.items() if k in expr}
    np.testing.assert_allclose(matdiff.evaluate(text, values, types), r.evaluate(values), atol=1e-10)


def test_latex_and_mathml():
    from matdiff.display.render import mathml
    from matdiff.syntax.latex import to_latex

    latex = to_latex(matdiff.parse("adj_d(A, E)"))
    assert r"\operatorname{adj}'" in latex and r"\left[E\right]" in latex
    m = mathml(latex)
    assert "<math" in m and "adj" in m and "latex" not in m  # converted, not shown as code


def test_parse_errors():
    for text, where in [("adj_d(A)", 7), ("adj_d(A, )", 9), ("adj_d(A, B, C)", 10), ("tr(A, B)", 4),
                        ("adj_d A", 6)]:
        with pytest.raises(matdiff.ParseError) as info:
            matdiff.parse(text)
        assert info.value.position == where, (text, str(info.value))


def _nodes(e):
    yield e
    for c in e.children:
        yield from _nodes(c)
