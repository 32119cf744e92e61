"""``matdiff tour``: the textbook page, reproduced and checked.

Four derivations with their steps (the Frobenius norm; x'Ay with respect to A; Jacobi's
formula for det A; the characteristic polynomial p(x) = det(xI - A) with respect to x),
each verified numerically, then the page's experiment: p'(x) by a forward difference
against Jacobi's formula (seed 0, n = 4, x = 5, dx = 1e-8), and how much better central
differences and the complex step do; then p'(x) at an eigenvalue and Newton's method on p.
"""

from __future__ import annotations

import numpy as np

from .api import check, grad
from .charpoly import charpoly

DERIVATIONS = [
    ("The Frobenius norm", "norm_fro(X)", "X", None),
    ("A bilinear form, with respect to the matrix", "x'*A*y", "A", None),
    ("Jacobi's formula", "det(A)", "A", None),
    ("The characteristic polynomial p(x) = det(x*eye - A), with respect to x: p'(x)",
     "det(x*eye - A)", "x", {"x": "scalar"}),
]


def _rule(title: str) -> None:
    print()
    print(title)
    print("-" * len(title))


def tour(latex: bool = False) -> int:
    """Print the tour; 0 when every check passed, 1 otherwise."""
    failures = 0
    print("matdiff tour: the derivations of the textbook page, with numerical checks")
    for i, (title, expr, wrt, types) in enumerate(DERIVATIONS, 1):
        _rule(f"{i}. {title}")
        r = grad(expr, wrt=wrt, types=types)
        print(f"f = {expr}, with respect to {wrt}")
        print(r.steps_text)
        if latex:
            print(r.steps_latex)
        print(f"gradient: {r.gradient}")
        rep = check(r, seed=i)  # the derivation printed above, checked
        failures += not rep.ok
        print(f"check ({rep.method}, random point): relative error {rep.max_rel_error:.1e} "
              f"-> {'ok' if rep.ok else 'FAILED'}")
    failures += _experiment()
    failures += _at_singular()
    failures += _eigen()
    print()
    print("all checks passed" if not failures else f"{failures} check(s) FAILED")
    return 1 if failures else 0


def page_matrix(n: int) -> np.ndarray:
    """The page's A: ``np.random.seed(0); A = np.random.randn(n, n)`` (NumPy's legacy generator, seed 0),
    without touching the global random state."""
    return np.random.RandomState(0).randn(n, n)


def _experiment() -> int:
    _rule("5. The experiment: p'(x) by differences against Jacobi's formula")
    n, x = 4, 5.0
    A = page_matrix(n)
    p = charpoly(A)
    naive = p.jacobi_naive(x)  # p(x) tr((xI - A)^-1), the page's formula
    exact = p.derivative(x)  # tr(adj(xI - A)), right everywhere
    print("the page's experiment: np.random.seed(0); A = np.random.randn(4, 4); x = 5; dx = 1e-8")
    print("A =")
    print(np.array2string(A, precision=4, suppress_small=True))
    print(f"p(x) = det(x*eye - A)                   = {p(x):.15g}   (the page: 344.4097)")
    print(f"p'(x) = p(x)*tr(inv(x*eye - A)) (Jacobi) = {naive:.15g}")
    print(f"p'(x) = tr(adj(x*eye - A))              = {exact:.15g}")
    eps = np.finfo(float).eps
    rows = [
        ("forward difference, dx = 1e-8", (p(x + 1e-8) - p(x)) / 1e-8, "sqrt(eps) ~ 1e-8"),
        ("central difference, dx = eps^(1/3)",
         (p(x + eps ** (1 / 3)) - p(x - eps ** (1 / 3))) / (2 * eps ** (1 / 3)), "eps^(2/3) ~ 4e-11"),
        ("complex step, dx = 1e-20", float(np.imag(p(x + 1e-20j)) / 1e-20), "eps ~ 2e-16"),
    ]
    fails = 0
    print(f"{'method':38s} {chr(112) + chr(39) + '(x)':>22s} {'rel. error':>11s}  expected")
    for name, value, expected in rows:
        err = abs(value - naive) / abs(naive)
        page = "   (the page: 5.4e-08)" if name.startswith("forward") else ""
        print(f"{name:38s} {value:22.15g} {err:11.1e}  {expected}{page}")
    fwd = abs(rows[0][1] - naive) / abs(naive)
    cplx = abs(rows[2][1] - naive) / abs(naive)
    fails += int(not 1e-10 < fwd < 1e-6) + int(not cplx < 1e-13)
    return fails


def _at_singular() -> int:
    _rule("6. At an eigenvalue: the adjugate form is right where p(x) tr(inv(xI - A)) is 0*inf")
    # A = P D P^-1 with integer P (det 1): exact integer entries, eigenvalues exactly 1, 2, 3
    P = np.array([[1.0, 1, 0], [0, 1, 1], [0, 0, 1]])
    D = np.diag([1.0, 2.0, 3.0])
    A = np.rint(P @ D @ np.linalg.inv(P))
    p = charpoly(A)
    lam = 2.0
    exact = (lam - 1) * (lam - 3)  # p(x) = (x-1)(x-2)(x-3): p'(2) = (2-1)(2-3) = -1
    with np.errstate(all="ignore"):
        naive = p.jacobi_naive(lam)
    adj_form = p.derivative(lam)
    print(f"A has eigenvalues 1, 2, 3; at x = 2: exact p'(2) = {exact:g}")
    print(f"p(x)*tr(inv(x*eye - A)) = {naive}   (0 * inf)")
    print(f"tr(adj(x*eye - A))      = {adj_form:.15g}")
    r = grad("det(x*eye - A)", wrt="x")  # x*eye - A makes x a scalar
    via_matdiff = r.evaluate({"x": lam, "A": A})
    print(f"matdiff's gradient {r.gradient} at x = 2: {via_matdiff:.15g}")
    return int(not (abs(adj_form - exact) < 1e-10 and abs(via_matdiff - exact) < 1e-10))


def _eigen() -> int:
    _rule("7. Newton's method on p, against numpy.linalg.eigvals")
    A = page_matrix(4)
    p = charpoly(A)
    eig = np.linalg.eigvals(A)
    fails = 0
    print("eigvals(A) =", np.array2string(eig, precision=6))
    for x0 in (5.0, -5.0, -0.5 + 2j, -0.5 - 2j):
        path = p.newton_path(x0)
        lam = path[-1]
        dist = float(np.min(np.abs(eig - lam)))
        fails += dist > 1e-9
        print(f"x0 = {x0!s:8s} -> {complex(lam):.12g} in {len(path) - 1:2d} steps; "
              f"nearest eigvals entry off by {dist:.1e}")
    return fails
