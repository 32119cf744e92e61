"""NumPy kernels of the primary matrix functions: expm, logm, sqrtm, S^p, and their Fréchet derivatives.

For a general square X (Higham, *Functions of Matrices*, 2008):

* ``expm`` and ``L_exp(X, E)``: SciPy's scaling and squaring and its Fréchet derivative (Al-Mohy and Higham,
  2009), ``expm_frechet``.
* ``logm``, ``sqrtm``: SciPy's inverse scaling and squaring and Schur methods; ``L_log(X, E)`` is the upper right
  block of ``logm([[X, E], [0, X]])`` (Higham, (3.16)); ``L_sqrt(X, E)`` solves the Sylvester equation
  ``sqrtm(X) L + L sqrtm(X) = E`` (differentiate R*R = X).
* Second derivatives by the same block identity one level up:
  ``L2_f(X, E, F) = [L_f([[X, E], [0, X]], [[F, 0], [0, F]])]_12``.

For a symmetric S (``sym_fun``, ``sym_frechet``): one ``eigh``, S = U diag(w) U', then f(S) = U diag(f(w)) U'
and the Daleckii–Krein formula L_f(S, E) = U (F .* (U' E U)) U', F the first divided differences
f[w_i, w_j] (Higham, Theorem 3.11), each computed without cancellation for close eigenvalues
(``divided_differences``).  A complex input (the complex-step check) takes the general path: eigh would
read only half of a complex symmetric matrix.

Domains: the principal logarithm and square root are real where no eigenvalue lies on the closed
(log) or open (sqrt) negative real axis; their derivatives need none on the closed axis (0 included).
Elsewhere a :class:`DomainError` names the eigenvalue.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg

from matdiff.errors import DomainError

FUNCTIONS = ("expm", "logm", "sqrtm", "powm")  # the keys of sym_fun and sym_frechet (powm: S^p)


def _sym(S: np.ndarray) -> np.ndarray:
    return (S + S.T) / 2


def _name(f: str, p: float) -> str:
    return f"S^{p:g}" if f == "powm" else f


# ------------------------------------------------------------------------------------------------ domains
def _spectrum_check(f: str, p: float, w: np.ndarray, derivative: bool) -> None:
    """DomainError where an eigenvalue (real ones: imag exactly 0, as LAPACK gives them) lies where f is not real
    (or, for a derivative, not differentiable)."""
    if f == "expm":
        return
    w = np.asarray(w)
    real = w.imag == 0 if np.iscomplexobj(w) else np.ones(w.shape, bool)
    re = np.real(w)
    strict = f == "sqrtm" and not derivative or f == "powm" and p > 0 and not derivative
    bad = real & ((re < 0) if strict else (re <= 0))
    if not np.any(bad):
        return
    lam = float(re[bad][0])
    name = _name(f, p)
    if f == "powm":
        raise DomainError(f"{name}: a non-integer power needs a positive definite S, but S has the eigenvalue "
                          f"{lam:.6g}")
    axis = "the closed negative real axis (0 included)" if not strict else "the negative real axis"
    what = "is not differentiable" if derivative and f == "sqrtm" else "is not real"
    raise DomainError(f"{name}: the matrix has the eigenvalue {lam:.6g} on {axis}, where the principal "
                      f"{'logarithm' if f == 'logm' else 'square root'} {what}")


def _general_check(f: str, p: float, X: np.ndarray, derivative: bool) -> None:
    if not np.iscomplexobj(X) and f != "expm":
        _spectrum_check(f, p, np.linalg.eigvals(X), derivative)


def _finite(name: str, Y: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(Y)):
        raise DomainError(f"{name}: the result is not finite at this point (an eigenvalue too close to the "
                          "negative real axis, or entries too large)")
    return Y


def _real_like(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Y real where X is (its imaginary part is rounding once the spectrum was checked)."""
    return Y if np.iscomplexobj(X) or not np.iscomplexobj(Y) else np.ascontiguousarray(Y.real)


# ---------------------------------------------------------------------------------------- general matrices
def expm(X: Any) -> np.ndarray:
    """The matrix exponential (SciPy's scaling and squaring, Al-Mohy and Higham 2009); of an ``expm_pade``, its
    value."""
    return X.value if isinstance(X, ExpmPade) else scipy.linalg.expm(np.asarray(X))


def logm(X: np.ndarray) -> np.ndarray:
    """The principal logarithm; DomainError where X has an eigenvalue on the closed negative real axis."""
    X = np.asarray(X)
    _general_check("logm", 0.0, X, derivative=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _finite("logm", _real_like(X, scipy.linalg.logm(X)))


def sqrtm(X: np.ndarray) -> np.ndarray:
    """The principal square root; DomainError where X has a negative real eigenvalue."""
    X = np.asarray(X)
    _general_check("sqrtm", 0.0, X, derivative=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _finite("sqrtm", _real_like(X, scipy.linalg.sqrtm(X)))


def powm(X: np.ndarray, p: float) -> np.ndarray:
    """X^p for a real p (SciPy's Schur-Padé method); X's eigenvalues must be positive where p is not an integer."""
    X = np.asarray(X)
    _general_check("powm", p, X, derivative=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _finite(_name("powm", p), _real_like(X, scipy.linalg.fractional_matrix_power(X, p)))


def _block(X: np.ndarray, E: np.ndarray) -> np.ndarray:
    """[[X, E], [0, X]]: f of it has L_f(X, E) as its upper right block (Higham, (3.16))."""
    X, E = np.asarray(X), np.asarray(E)
    Z = np.zeros(X.shape, dtype=np.result_type(X, E))
    return np.block([[X, E], [Z, X]])


# Padé coefficients b_0..b_m of the [m/m] approximant and the 1-norm bounds theta_m of Al-Mohy and Higham 2009
# (Table 6.1), as in SciPy's expm_frechet
_PADE = {
    3: (120., 60., 12., 1.),
    5: (30240., 15120., 3360., 420., 30., 1.),
    7: (17297280., 8648640., 1995840., 277200., 25200., 1512., 56., 1.),
    9: (17643225600., 8821612800., 2075673600., 302702400., 30270240., 2162160., 110880., 3960., 90., 1.),
    13: (64764752532480000., 32382376266240000., 7771770303897600., 1187353796428800., 129060195264000.,
         10559470521600., 670442572800., 33522128640., 1323241920., 40840800., 960960., 16380., 182., 1.),
}
_THETA = {3: 0.0108, 5: 0.2, 7: 0.783, 9: 1.78, 13: 4.74}


class ExpmPade:
    """expm(X) by scaling and squaring with a Padé approximant (Al-Mohy and Higham, "Computing the Fréchet
    derivative of the matrix exponential", SIMAX 2009, Algorithm 6.4), keeping what its Fréchet derivative reuses:
    the even powers of the scaled X, the Padé sums, the LU factors of the denominator and each squaring.  Generated
    code makes one per matrix (``_K.expm_pade``) and shares it between expm(X) and L_exp(X, E) (or, transposed,
    L_exp(X', G) = L_exp(X, G')'), where SciPy's expm_frechet would compute all of it again."""

    __slots__ = ("m", "s", "A", "P", "W", "W1", "Z1", "lu", "R")

    def __init__(self, X: Any):
        A = np.asarray(X)
        if not np.issubdtype(A.dtype, np.inexact):
            A = A.astype(float)
        norm = float(np.linalg.norm(A, 1)) if A.size else 0.0
        self.m = next((m for m in (3, 5, 7, 9) if norm <= _THETA[m]), 13)
        self.s = 0 if self.m < 13 else max(0, int(np.ceil(np.log2(norm / _THETA[13]))))
        A = A * 2.0 ** -self.s if self.s else A
        b, n = _PADE[self.m], A.shape[0]
        P = {2: A @ A}
        if self.m >= 5:
            P[4] = P[2] @ P[2]
        if self.m >= 7:
            P[6] = P[2] @ P[4]
        if self.m == 9:
            P[8] = P[4] @ P[4]
        ident = np.eye(n, dtype=A.dtype)
        if self.m < 13:
            W = b[1] * ident + sum(b[k + 1] * P[k] for k in range(2, self.m, 2))
            V = b[0] * ident + sum(b[k] * P[k] for k in range(2, self.m, 2))
            self.W1 = self.Z1 = None
        else:
            self.W1 = b[13] * P[6] + b[11] * P[4] + b[9] * P[2]
            self.Z1 = b[12] * P[6] + b[10] * P[4] + b[8] * P[2]
            W = P[6] @ self.W1 + b[7] * P[6] + b[5] * P[4] + b[3] * P[2] + b[1] * ident
            V = P[6] @ self.Z1 + b[6] * P[6] + b[4] * P[4] + b[2] * P[2] + b[0] * ident
        U = A @ W
        self.A, self.P, self.W = A, P, W
        self.lu = scipy.linalg.lu_factor(V - U, check_finite=False)
        R = [scipy.linalg.lu_solve(self.lu, U + V, check_finite=False)]
        for _ in range(self.s):
            R.append(R[-1] @ R[-1])
        self.R = R

    @property
    def value(self) -> np.ndarray:
        return self.R[-1]

    def frechet(self, E: Any) -> np.ndarray:
        """L_exp(X, E) from the kept factors ((6.11)-(6.13) and (3.3) of the paper, then the squarings)."""
        A, P, b, m = self.A, self.P, _PADE[self.m], self.m
        E = np.asarray(E) * 2.0 ** -self.s if self.s else np.asarray(E)
        M = {2: A @ E + E @ A}
        if m >= 5:
            M[4] = P[2] @ M[2] + M[2] @ P[2]
        if m >= 7:
            M[6] = P[4] @ M[2] + M[4] @ P[2]
        if m == 9:
            M[8] = P[4] @ M[4] + M[4] @ P[4]
        if m < 13:
            Lu = A @ sum(b[k + 1] * M[k] for k in range(2, m, 2)) + E @ self.W
            Lv = sum(b[k] * M[k] for k in range(2, m, 2))
        else:
            Lw = P[6] @ (b[13] * M[6] + b[11] * M[4] + b[9] * M[2]) + M[6] @ self.W1 + \
                b[7] * M[6] + b[5] * M[4] + b[3] * M[2]
            Lu = A @ Lw + E @ self.W
            Lv = P[6] @ (b[12] * M[6] + b[10] * M[4] + b[8] * M[2]) + M[6] @ self.Z1 + \
                b[6] * M[6] + b[4] * M[4] + b[2] * M[2]
        L = scipy.linalg.lu_solve(self.lu, Lu + Lv + (Lu - Lv) @ self.R[0], check_finite=False)
        for R in self.R[:-1]:  # the squarings: d(R^2) = R dR + dR R
            L = R @ L + L @ R
        return L


def expm_pade(X: Any) -> ExpmPade:
    """The scaling-and-squaring factors of expm(X), shared by expm and expm_frechet in generated code."""
    return X if isinstance(X, ExpmPade) else ExpmPade(X)


def expm_frechet(X: Any, E: np.ndarray) -> np.ndarray:
    """L_exp(X, E), the Fréchet derivative of expm at X (or at the X of an ``expm_pade``) in the direction E."""
    return expm_pade(X).frechet(E)


def logm_frechet(X: np.ndarray, E: np.ndarray) -> np.ndarray:
    """L_log(X, E): the upper right block of logm([[X, E], [0, X]]); DomainError where X has an eigenvalue on
    the closed negative real axis."""
    X, E = np.asarray(X), np.asarray(E)
    _general_check("logm", 0.0, X, derivative=True)
    n = X.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        B = scipy.linalg.logm(_block(X, E))
    return _finite("logm_d", _real_like(X if not np.iscomplexobj(E) else E, B[:n, n:]))


def sqrtm_frechet(X: np.ndarray, E: np.ndarray) -> np.ndarray:
    """L_sqrt(X, E): the solution L of sqrtm(X) L + L sqrtm(X) = E; DomainError where X has an eigenvalue on
    the closed negative real axis (0 included: there sqrtm is not differentiable)."""
    X, E = np.asarray(X), np.asarray(E)
    _general_check("sqrtm", 0.0, X, derivative=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        R = _real_like(X, scipy.linalg.sqrtm(X))
    return _finite("sqrtm_d", scipy.linalg.solve_sylvester(R, R, E))


def powm_frechet(X: np.ndarray, E: np.ndarray, p: float) -> np.ndarray:
    """L_pow(X, E) of X^p: the upper right block of ([[X, E], [0, X]])^p."""
    X, E = np.asarray(X), np.asarray(E)
    _general_check("powm", p, X, derivative=True)
    n = X.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        B = scipy.linalg.fractional_matrix_power(_block(X, E), p)
    return _finite(_name("powm", p) + " derivative", _real_like(X if not np.iscomplexobj(E) else E, B[:n, n:]))


_GENERAL: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "expm": (lambda X, p: expm(X), lambda X, E, p: expm_frechet(X, E)),
    "logm": (lambda X, p: logm(X), lambda X, E, p: logm_frechet(X, E)),
    "sqrtm": (lambda X, p: sqrtm(X), lambda X, E, p: sqrtm_frechet(X, E)),
    "powm": (powm, powm_frechet),
}


def frechet2(f: str, X: np.ndarray, E: np.ndarray, F: np.ndarray, p: float = 0.0) -> np.ndarray:
    """L2_f(X, E, F), the second Fréchet derivative of f at X (symmetric in E and F): the upper right block of
    L_f([[X, E], [0, X]], [[F, 0], [0, F]]) (differentiate L_f(X, E) = [f([[X, E], [0, X]])]_12 in X)."""
    X, E, F = np.asarray(X), np.asarray(E), np.asarray(F)
    n = X.shape[0]
    Z = np.zeros(X.shape, dtype=np.result_type(X, F))
    return _GENERAL[f][1](_block(X, E), np.block([[F, Z], [Z, F]]), p)[:n, n:]


def expm_frechet2(X: np.ndarray, E: np.ndarray, F: np.ndarray) -> np.ndarray:
    return frechet2("expm", X, E, F)


def logm_frechet2(X: np.ndarray, E: np.ndarray, F: np.ndarray) -> np.ndarray:
    return frechet2("logm", X, E, F)


def sqrtm_frechet2(X: np.ndarray, E: np.ndarray, F: np.ndarray) -> np.ndarray:
    return frechet2("sqrtm", X, E, F)


def powm_frechet2(X: np.ndarray, E: np.ndarray, F: np.ndarray, p: float) -> np.ndarray:
    return frechet2("powm", X, E, F, p)


# -------------------------------------------------------------------------------------- symmetric matrices
def divided_differences(f: str, p: float, w: Any, xp: Any = np) -> Any:
    """F[i, j] = f[w_i, w_j] = (f(w_i) - f(w_j)) / (w_i - w_j), and f'(w_i) where w_i = w_j, without the
    cancellation of that quotient for close eigenvalues: with hi = max, lo = min of the pair,

    * exp:  exp(hi) expm1(lo - hi) / (lo - hi)
    * sqrt: 1 / (sqrt(lo) + sqrt(hi))
    * log:  t / (hi expm1(t)),                      t = log(lo / hi) (by log1p where lo/hi is near 1)
    * w^p:  hi^(p-1) expm1(p t) / expm1(t),         the same t.

    ``xp``: the array namespace (NumPy, or a backend's Array API namespace).
    """
    if xp is np and f != "sqrtm":
        return _divided_differences_np(f, p, np.asarray(w))
    a, b = w[:, None], w[None, :]
    hi, lo = xp.maximum(a, b), xp.minimum(a, b)
    quiet = np.errstate(divide="ignore", invalid="ignore", over="ignore") if xp is np else contextlib.nullcontext()
    with quiet:
        if f == "expm":
            d = lo - hi
            same = d == 0
            return xp.exp(hi) * xp.where(same, xp.ones_like(d), xp.expm1(d) / xp.where(same, xp.ones_like(d), d))
        if f == "sqrtm":
            return 1.0 / (xp.sqrt(lo) + xp.sqrt(hi))
        r = (lo - hi) / hi
        t = xp.where(r > -0.5, xp.log1p(r), xp.log(lo) - xp.log(hi))
        same = t == 0
        one = xp.ones_like(t)
        if f == "logm":
            return xp.where(same, 1.0 / hi, t / (hi * xp.where(same, one, xp.expm1(t))))
        return xp.where(same, p * hi ** (p - 1), hi ** (p - 1) * xp.expm1(p * t) / xp.where(same, one, xp.expm1(t)))


def _divided_differences_np(f: str, p: float, w: np.ndarray) -> np.ndarray:
    """NumPy: the plain quotient where the pair is far apart (cancellation costs at most a factor 20 there:
    |lo - hi| >= 0.05 for exp, lo <= 0.95 hi otherwise), the cancellation-free forms on the close pairs only (the
    diagonal among them), found by bisection in the ascending eigenvalues eigh gives."""
    fw = spectral_values(f, p, w)
    d = w[:, None] - w[None, :]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        F = (fw[:, None] - fw[None, :]) / d
    n = w.size
    if n and np.all(w[1:] >= w[:-1]):  # the band |w_j - w_i| < 0.05 (relative for log and powers) around i
        lower, upper = (w - 0.05, w + 0.05) if f == "expm" else (w * 0.95, w / 0.95)
        first = np.searchsorted(w, lower, "left")
        counts = np.searchsorted(w, upper, "right") - first
        i = np.repeat(np.arange(n), counts)
        j = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts - first, counts)
    else:
        big = np.maximum(np.abs(w)[:, None], np.abs(w)[None, :])
        i, j = np.nonzero(np.abs(d) < 0.05 * (1.0 if f == "expm" else big))
    if i.size:
        a, b = w[i], w[j]
        F[i, j] = _close_pairs(f, p, np.maximum(a, b), np.minimum(a, b))
    return F


def _close_pairs(f: str, p: float, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """f[lo, hi] by the cancellation-free forms of ``divided_differences`` (pairs of arrays)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if f == "expm":
            d = lo - hi
            return np.exp(hi) * np.where(d == 0, 1.0, np.expm1(d) / np.where(d == 0, 1.0, d))
        t = np.log1p((lo - hi) / hi)
        same = t == 0
        den = np.where(same, 1.0, np.expm1(t))
        if f == "logm":
            return np.where(same, 1.0 / hi, t / (hi * den))
        return np.where(same, p * hi ** (p - 1), hi ** (p - 1) * np.expm1(p * t) / den)


def spectral_values(f: str, p: float, w: Any, xp: Any = np) -> Any:
    """f at the eigenvalues w (a positive semidefinite S's rounding to -1e-17 read as 0 for sqrt)."""
    if f == "expm":
        return xp.exp(w)
    if f == "logm":
        return xp.log(w)
    if f == "sqrtm":
        return xp.sqrt(xp.where(w > 0, w, xp.zeros_like(w)))
    return w ** p


def spectrum_check(f: str, p: float, w: np.ndarray, derivative: bool) -> None:
    """DomainError where a symmetric matrix's eigenvalues w leave f's domain (for a value of sqrtm, -1e-17 is
    taken for the 0 of a positive semidefinite matrix)."""
    if f == "sqrtm" and not derivative:
        w = np.where((w < 0) & (w >= -16 * np.finfo(float).eps * np.max(np.abs(w), initial=0.0)), 0.0, w)
    _spectrum_check(f, p, w, derivative)


class Eigh:
    """The eigendecomposition S = U diag(w) U' of a symmetric S, computed once and shared by f(S) and L_f(S, E) in
    generated code (``_K.eigh``); of a complex S (the complex-step check) the matrix itself, for the general path."""

    __slots__ = ("S", "w", "U", "_inner")

    def __init__(self, S: np.ndarray):
        S = np.asarray(S)
        self.S = S
        self._inner: tuple[Any, np.ndarray] | None = None
        if np.iscomplexobj(S):
            self.w = self.U = None
        else:
            self.w, self.U = np.linalg.eigh(_sym(S))

    def inner(self, E: Any) -> np.ndarray:
        """U' E U, kept for the last E (this very array, held so that its identity stays its own): a value
        tr(f(S)*C) (``sym_trace``) and a gradient L_f(S, C + C') (``sym_frechet``) share it, as an expert shares it."""
        got = self._inner
        if got is not None and got[0] is E:
            return got[1]
        U = self.U
        M = U.T @ np.asarray(E) @ U
        self._inner = (E, M)
        return M


def eigh(S: Any) -> Eigh:
    return S if isinstance(S, Eigh) else Eigh(S)


def sym_check(S: Any, f: str, p: float = 0.0) -> None:
    """DomainError where f(S) is undefined, from the eigenvalues of a symmetric S (or its ``eigh``)."""
    e = eigh(S)
    if e.U is not None:
        spectrum_check(f, p, e.w, derivative=False)


def sym_fun(S: Any, f: str, p: float = 0.0) -> np.ndarray:
    """f(S) = U diag(f(w)) U' of a symmetric S or its ``eigh`` (f one of "expm", "logm", "sqrtm", "powm" with
    exponent p)."""
    e = eigh(S)
    if e.U is None:
        return _GENERAL[f][0](e.S, p)
    spectrum_check(f, p, e.w, derivative=False)
    return (e.U * spectral_values(f, p, e.w)) @ e.U.T


def sym_frechet(S: Any, E: np.ndarray, f: str, p: float = 0.0) -> np.ndarray:
    """L_f(S, E) = U (F .* (U' E U)) U' of a symmetric S or its ``eigh`` (Daleckii–Krein), F the divided
    differences of f at the eigenvalues."""
    e, E = eigh(S), np.asarray(E)
    if e.U is None or np.iscomplexobj(E):
        return _GENERAL[f][1](e.S, E, p)
    spectrum_check(f, p, e.w, derivative=True)
    U = e.U
    return U @ (divided_differences(f, p, e.w) * e.inner(E)) @ U.T


def sym_trace(S: Any, E: Any, f: str, p: float = 0.0) -> Any:
    """tr(f(S) E) of a symmetric S or its ``eigh``: sum(f(w) .* diag(U' E U)), U' E U shared with ``sym_frechet`` of
    the same E (the value of tr(logm(S)*C) beside its gradient L_log(S, C + C')/2 is tr(f(S) (C + C'))/2, f(S)
    being symmetric); of a complex S (the complex-step check) by the general f(S)."""
    e = eigh(S)
    if e.U is None:
        return np.sum(_GENERAL[f][0](e.S, p) * np.asarray(E).T)
    spectrum_check(f, p, e.w, derivative=False)
    return spectral_values(f, p, e.w) @ np.diagonal(e.inner(E))
