"""The characteristic polynomial p(x) = det(xI - A) of a square matrix, its derivative, and Newton's method.

The derivative comes from Jacobi's formula d det(M) = tr(adj(M) dM): with M = xI - A and dM = dx I,
p'(x) = tr(adj(xI - A)). Written with the adjugate it is a polynomial in x, defined everywhere, and
``kernels.tr_adj`` evaluates it stably also at an eigenvalue, where the textbook form
p(x) tr((xI - A)^{-1}) is 0 * inf (kept as :meth:`CharPoly.jacobi_naive` for comparison).
"""

from __future__ import annotations

import warnings

import numpy as np

from matdiff.errors import DomainError, ShapeError
from matdiff.runtime import kernels

__all__ = ["CharPoly", "charpoly"]

Scalar = float | complex


def _py(value: object) -> Scalar:
    """A numeric scalar as a Python float, or complex when it has a complex type."""
    return complex(value) if np.iscomplexobj(value) else float(value)  # type: ignore[arg-type]


class CharPoly:
    """The characteristic polynomial p(x) = det(xI - A) of a square real or complex matrix A."""

    def __init__(self, A: np.ndarray):
        A = np.array(A, dtype=np.complex128 if np.iscomplexobj(A) else np.float64)  # a private copy
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
            raise ShapeError(f"charpoly: expected a non-empty square matrix, got shape {A.shape}")
        A.setflags(write=False)
        self._A = A
        self.n: int = A.shape[0]

    @property
    def A(self) -> np.ndarray:
        """The matrix (read-only)."""
        return self._A

    def __repr__(self) -> str:
        kind = "complex" if self._A.dtype == np.complex128 else "real"
        return f"CharPoly(n={self.n}, {kind})"

    def _shifted(self, x: Scalar) -> np.ndarray:
        """xI - A as a new array (complex when x or A is)."""
        dtype = np.complex128 if isinstance(x, complex) or self._A.dtype == np.complex128 else np.float64
        M = np.negative(self._A, dtype=dtype)
        M.flat[:: self.n + 1] += x  # the diagonal
        return M

    def p(self, x: float | complex | np.ndarray) -> Scalar | np.ndarray:
        """p(x) = det(xI - A) at a real or complex scalar x, or elementwise at a 1-D array of x values."""
        xs = np.asarray(x)
        if xs.ndim == 0:
            return _py(np.linalg.det(self._shifted(_py(xs))))
        if xs.ndim != 1:
            raise ShapeError(f"charpoly: x must be a scalar or a 1-D array, got shape {xs.shape}")
        dtype = np.result_type(xs, self._A, np.float64)
        M = np.broadcast_to(-self._A.astype(dtype), (xs.size, self.n, self.n)).copy()
        idx = np.arange(self.n)
        M[:, idx, idx] += xs[:, None]
        return np.linalg.det(M)  # batched over the leading axis

    __call__ = p

    def derivative(self, x: float | complex | np.ndarray) -> Scalar | np.ndarray:
        """p'(x) = tr(adj(xI - A)) (Jacobi's formula), exact in the limit also at an eigenvalue."""
        xs = np.asarray(x)
        if xs.ndim == 0:
            return kernels.tr_adj(self._shifted(_py(xs)))
        if xs.ndim != 1:
            raise ShapeError(f"charpoly: x must be a scalar or a 1-D array, got shape {xs.shape}")
        return np.array([kernels.tr_adj(self._shifted(_py(v))) for v in xs])

    def jacobi_naive(self, x: float | complex) -> Scalar:
        """p(x) tr((xI - A)^{-1}): the textbook form of p'(x), for comparison with :meth:`derivative`.

        Never raises: where xI - A is exactly singular (x an eigenvalue) tr((xI - A)^{-1}) is taken as inf,
        so the result is 0 * inf = nan; next to an eigenvalue it multiplies a tiny p(x) by a huge trace.
        """
        M = self._shifted(_py(x))
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            px = np.linalg.det(M)
            try:
                t = np.trace(np.linalg.solve(M, np.eye(self.n)))
            except np.linalg.LinAlgError:  # exactly singular
                t = np.inf
            return _py(px * t)

    def coefficients(self) -> np.ndarray:
        """The coefficients of the monic p, highest power first (as ``np.poly``)."""
        return np.poly(self._A)

    def newton_path(self, x0: float | complex, tol: float = 1e-12, maxiter: int = 100) -> list[Scalar]:
        """The Newton iterates x <- x - p(x)/p'(x) from x0 to an eigenvalue: [x0, x1, ..., eigenvalue].

        Stops when |step| <= tol * max(1, |x|) (or p(x) == 0 exactly). A complex x0 iterates in complex
        arithmetic; a real x0 stays real for real A. DomainError when p'(x) = 0 at an iterate, when a step is
        not finite, or without convergence in maxiter steps.
        """
        x = _py(x0)
        path = [x]
        step: Scalar = float("nan")
        for k in range(maxiter):
            px = self.p(x)
            if px == 0:  # landed exactly on an eigenvalue
                return path
            dpx = self.derivative(x)
            if dpx == 0:
                raise DomainError(
                    f"newton: p'(x) = 0 at iterate {k} (x = {x!r}, p(x) = {px!r}), so the Newton step "
                    "p(x)/p'(x) is undefined (x is a critical point of p)"
                )
            step = px / dpx
            if not np.isfinite(step):
                raise DomainError(
                    f"newton: the step p(x)/p'(x) = {step!r} at iterate {k} (x = {x!r}) is not finite"
                )
            x = x - step
            path.append(x)
            if abs(step) <= tol * max(1.0, abs(x)):
                return path
        raise DomainError(
            f"newton: no convergence in {maxiter} iterations: last iterate x = {x!r}, last step |dx| = "
            f"{abs(step):.3g} > tol * max(1, |x|) = {tol * max(1.0, abs(x)):.3g}"
        )

    def newton(self, x0: float | complex, tol: float = 1e-12, maxiter: int = 100) -> Scalar:
        """The eigenvalue Newton's method reaches from x0 (:meth:`newton_path` gives the iterates too)."""
        return self.newton_path(x0, tol=tol, maxiter=maxiter)[-1]


def charpoly(A: np.ndarray) -> CharPoly:
    """The characteristic polynomial det(xI - A) of the square matrix A."""
    return CharPoly(A)
