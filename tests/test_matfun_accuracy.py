"""Accuracy of the matrix-function kernels (matdiff.runtime.matfun) against mpmath at high precision.

References (all in mpmath at DPS digits, from the float64 inputs taken exactly):

* values: ``mp.expm``, ``mp.logm``, ``mp.sqrtm``, ``mp.powm``;
* first Fréchet derivatives: the block identity f([[X, E], [0, X]]) = [[f(X), L_f(X, E)], [0, f(X)]]
  (Higham, *Functions of Matrices*, (3.16)); mpmath's algorithms (Taylor series with scaling and squaring,
  Denman-Beavers, inverse scaling and squaring) need no normality, and the block reference agrees with a
  central difference (f(X + hE) - f(X - hE)) / 2h, h = 1e-15 at 60 digits, to every float64 digit;
* second Fréchet derivatives: L2_f(X, E, F) is the top right n x n block of
  f([[X, E, F, 0], [0, X, 0, F], [0, 0, X, E], [0, 0, 0, X]]) (the block identity applied to the 2n x 2n
  block [[X, E], [0, X]] in the direction diag(F, F));
* divided differences: (f(a) - f(b)) / (a - b) at DD_DPS digits (enough for the 1e-12 gaps), f'(a) at a = b.

The error measure is the relative Frobenius error ||K - R||_F / ||R||_F of the kernel K against the reference R.
The directions E and F are scaled to ||.||_F = 0.25: the derivatives are linear in them, and small blocks keep
mpmath's square-root count (and so its time) low.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from matdiff.runtime import matfun as mf

DPS = 30  # digits of the matrix references
DD_DPS = 50  # digits of the divided-difference references

# Measured (these cases and 19 more seeds of each; SciPy 1.17, NumPy 2.4, x86-64): values and first derivatives at most
# 9.4e-14 (the expm value at ||X||_2 = 4, within its condition number; every other value and first derivative,
# general and symmetric, close eigenvalues included, at most 5.7e-15); second derivatives at most 2.7e-14 (sqrtm:
# sqrtm and a Sylvester solve on the non-normal 2n x 2n block [[X, E], [0, X]]; the others at most 5.4e-15);
# divided differences at most 4.7e-16 (and at most 7e-16 over 3000 random pairs, relative gaps 1e-16 .. 10,
# magnitudes 1e-3 .. 1e3).
#: values and first Fréchet derivatives, general and symmetric kernels
RTOL = 1e-10
#: second Fréchet derivatives: the kernels are first derivatives at the 2n x 2n block, whose eigenvalues are X's
#: (twice), so they keep the first derivatives' accuracy; 1e-11 is 350 times the worst measured (sqrtm), a margin
#: for other LAPACKs, and tight enough to catch a lost digit group (a block method losing accuracy to the size
#: of the E block, a wrong branch, or a difference quotient, ~1e-8, in place of an exact formula)
RTOL2 = 1e-11
#: divided differences: a few ulps measured; 1e-12 catches the cancellation of the plain quotient (1e-4 relative
#: error at the 1e-12 gap)
RTOL_DD = 1e-12


# ---------------------------------------------------------------------------------------- references
def to_mp(A: np.ndarray) -> mp.matrix:
    return mp.matrix(np.asarray(A, dtype=float).tolist())


def to_np(M: mp.matrix) -> np.ndarray:
    return np.array(M.tolist(), dtype=float)


def mp_fun(f: str, p: float, A: mp.matrix) -> mp.matrix:
    if f == "expm":
        return mp.expm(A)
    if f == "logm":
        return mp.logm(A)
    if f == "sqrtm":
        return mp.sqrtm(A)
    return mp.powm(A, mp.mpf(p))


def block2(X: np.ndarray, E: np.ndarray) -> np.ndarray:
    Z = np.zeros_like(X)
    return np.block([[X, E], [Z, X]])


def block4(X: np.ndarray, E: np.ndarray, F: np.ndarray) -> np.ndarray:
    Z = np.zeros_like(X)
    return np.block([[X, E, F, Z], [Z, X, Z, F], [Z, Z, X, E], [Z, Z, Z, X]])


def ref_value(f: str, p: float, X: np.ndarray) -> np.ndarray:
    with mp.workdps(DPS):
        return to_np(mp_fun(f, p, to_mp(X)))


def ref_frechet(f: str, p: float, X: np.ndarray, E: np.ndarray) -> np.ndarray:
    n = X.shape[0]
    with mp.workdps(DPS):
        return to_np(mp_fun(f, p, to_mp(block2(X, E))))[:n, n:]


def ref_frechet2(f: str, p: float, X: np.ndarray, E: np.ndarray, F: np.ndarray) -> np.ndarray:
    n = X.shape[0]
    with mp.workdps(DPS):
        return to_np(mp_fun(f, p, to_mp(block4(X, E, F))))[:n, 3 * n:]


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    got = np.asarray(got)
    assert got.shape == ref.shape and np.isrealobj(got) and np.all(np.isfinite(got))
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


# ---------------------------------------------------------------------------------------- inputs
def direction(rng: np.random.Generator, n: int, sym: bool = False) -> np.ndarray:
    E = rng.standard_normal((n, n))
    E = (E + E.T) / 2 if sym else E
    return 0.25 * E / np.linalg.norm(E)


def general_point(f: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X (expm: a standard normal G scaled to ||X||_2 = 4; else I + E with ||E||_2 = 0.5: eigenvalues in the
    disc |z - 1| <= 0.5, off the negative real axis), and two directions."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, n))
    X = 4.0 * G / np.linalg.norm(G, 2) if f == "expm" else np.eye(n) + 0.5 * G / np.linalg.norm(G, 2)
    return X, direction(rng, n), direction(rng, n)


def spd_point(n: int, seed: int, close: bool) -> tuple[np.ndarray, np.ndarray]:
    """An spd S with eigenvalues in [0.5, 5] (0.5 and 5 among them; with close, also 1 and 1 + 1e-9), and a
    direction: symmetric with close, else not (Daleckii–Krein holds for any E, and gradients take the kernel at
    a nonsymmetric one: grad tr(A*logm(S)) = logm_d(S, A'))."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.5, 5.0, n)
    w[:2] = 0.5, 5.0
    if close:
        w[2:4] = 1.0, 1.0 + 1e-9
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    S = (Q * w) @ Q.T
    return (S + S.T) / 2, direction(rng, n, sym=close)


#: (f, p): the kernels; powm at half-integer and other powers
KERNELS = [("expm", 0.0), ("logm", 0.0), ("sqrtm", 0.0), ("powm", 0.5), ("powm", -0.5), ("powm", 1.5),
           ("powm", 0.3)]
KERNEL_IDS = ["expm", "logm", "sqrtm", "pow0.5", "pow-0.5", "pow1.5", "pow0.3"]
#: the size of the general case of each kernel for values and first derivatives (n = 4..6), and for second
#: derivatives (SIZES2: the reference is f of a 4n x 4n matrix in mpmath, pure Python, so mostly n = 4; the
#: generic power S^0.3, expm(0.3 logm(.)) in mpmath, the slowest, at n = 3)
SIZES = {"expm": 6, "logm": 4, "sqrtm": 5, "pow0.5": 6, "pow-0.5": 5, "pow1.5": 4, "pow0.3": 4}
SIZES2 = {"expm": 6, "logm": 4, "sqrtm": 5, "pow0.5": 4, "pow-0.5": 4, "pow1.5": 4, "pow0.3": 3}
SEED = 20240611

GENERAL = [pytest.param(f, p, SIZES[i], id=f"{i}-n{SIZES[i]}") for (f, p), i in zip(KERNELS, KERNEL_IDS)]
GENERAL2 = [pytest.param(f, p, SIZES2[i], id=f"{i}-n{SIZES2[i]}") for (f, p), i in zip(KERNELS, KERNEL_IDS)]


def general_value(f: str, X: np.ndarray, p: float) -> np.ndarray:
    return {"expm": mf.expm, "logm": mf.logm, "sqrtm": mf.sqrtm}[f](X) if f != "powm" else mf.powm(X, p)


def general_frechet(f: str, X: np.ndarray, E: np.ndarray, p: float) -> np.ndarray:
    if f == "powm":
        return mf.powm_frechet(X, E, p)
    return {"expm": mf.expm_frechet, "logm": mf.logm_frechet, "sqrtm": mf.sqrtm_frechet}[f](X, E)


def general_frechet2(f: str, X: np.ndarray, E: np.ndarray, F: np.ndarray, p: float) -> np.ndarray:
    if f == "powm":
        return mf.powm_frechet2(X, E, F, p)
    return {"expm": mf.expm_frechet2, "logm": mf.logm_frechet2, "sqrtm": mf.sqrtm_frechet2}[f](X, E, F)


# --------------------------------------------------------------------------------- general matrices
@pytest.mark.parametrize("f, p, n", GENERAL)
def test_general_values(f, p, n):
    X, _, _ = general_point(f, n, SEED + n)
    assert rel_err(general_value(f, X, p), ref_value(f, p, X)) <= RTOL


@pytest.mark.parametrize("f, p, n", GENERAL)
def test_general_frechet(f, p, n):
    X, E, _ = general_point(f, n, SEED + n)
    assert rel_err(general_frechet(f, X, E, p), ref_frechet(f, p, X, E)) <= RTOL


@pytest.mark.parametrize("f, p, n", GENERAL2)
def test_general_frechet2(f, p, n):
    X, E, F = general_point(f, n, SEED + n)
    ref = ref_frechet2(f, p, X, E, F)
    assert rel_err(general_frechet2(f, X, E, F, p), ref) <= RTOL2
    assert rel_err(mf.frechet2(f, X, F, E, p), ref) <= RTOL2  # symmetric in E and F


def test_block_reference_agrees_with_a_high_precision_difference():
    """The block identity in mpmath against (f(X + hE) - f(X - hE)) / 2h, h = 1e-15, at 60 digits (truncation
    error ~h^2 = 1e-30), for the non-normal 2n x 2n block of logm (the slowest algorithm) and sqrtm."""
    X, E, _ = general_point("logm", 4, SEED)
    for f in ("logm", "sqrtm"):
        with mp.workdps(60):
            h = mp.mpf("1e-15")
            A, D = to_mp(X), to_mp(E)
            diff = to_np((mp_fun(f, 0.0, A + h * D) - mp_fun(f, 0.0, A - h * D)) / (2 * h))
        assert rel_err(ref_frechet(f, 0.0, X, E), diff) <= 1e-15


# ------------------------------------------------------------------------------- symmetric matrices
SYMMETRIC = [pytest.param(f, p, n, close, id=f"{i}-n{n}-{'close' if close else 'spread'}")
             for (f, p), i in zip(KERNELS, KERNEL_IDS) for n, close in ((4, False), (5, True))]


@pytest.mark.parametrize("f, p, n, close", SYMMETRIC)
def test_symmetric_values(f, p, n, close):
    S, _ = spd_point(n, SEED + n, close)
    assert rel_err(mf.sym_fun(S, f, p), ref_value(f, p, S)) <= RTOL


@pytest.mark.parametrize("f, p, n, close", SYMMETRIC)
def test_symmetric_frechet(f, p, n, close):
    """Daleckii–Krein, with the divided differences at the pair 1, 1 + 1e-9 in the close case."""
    S, E = spd_point(n, SEED + n, close)
    assert rel_err(mf.sym_frechet(S, E, f, p), ref_frechet(f, p, S, E)) <= RTOL


def test_close_pair_is_in_the_spectrum():
    w = np.linalg.eigvalsh(spd_point(5, SEED + 5, True)[0])
    assert np.min(np.diff(w)) < 2e-9 and w[0] >= 0.5 - 1e-12 and w[-1] <= 5 + 1e-12


# ------------------------------------------------------------------------------ divided differences
def mp_scalar(f: str, p: float, x: mp.mpf) -> mp.mpf:
    if f == "expm":
        return mp.exp(x)
    if f == "logm":
        return mp.log(x)
    if f == "sqrtm":
        return mp.sqrt(x)
    return x ** mp.mpf(p)


def mp_derivative(f: str, p: float, x: mp.mpf) -> mp.mpf:
    if f == "expm":
        return mp.exp(x)
    if f == "logm":
        return 1 / x
    if f == "sqrtm":
        return 1 / (2 * mp.sqrt(x))
    return mp.mpf(p) * x ** (mp.mpf(p) - 1)


def ref_divided(f: str, p: float, w: np.ndarray) -> np.ndarray:
    out = np.empty((len(w), len(w)))
    with mp.workdps(DD_DPS):
        for i, a in enumerate(w):
            for j, b in enumerate(w):
                x, y = mp.mpf(float(a)), mp.mpf(float(b))
                quotient = mp_derivative(f, p, x) if x == y else (mp_scalar(f, p, x) - mp_scalar(f, p, y)) / (x - y)
                out[i, j] = float(quotient)
    return out


#: eigenvalue pairs: equal, 1e-12 apart, 1e-6 apart, far apart (ratio 1e6; for exp 1e-4 and 100, as exp(1e3)
#: overflows), and more: a close pair of large eigenvalues, and ratios 0.6 and 0.5 on either side of the switch
#: of t = log(lo/hi) from log1p(lo/hi - 1) to log(lo) - log(hi)
PAIRS = {"equal": (1.7, 1.7), "gap1e-12": (1.3, 1.3 + 1e-12), "gap1e-6": (0.8, 0.8 + 1e-6),
         "ratio1e6": (1e-3, 1e3), "close-large": (300.0, 300.0 + 1e-10), "ratio0.6": (0.6, 1.0),
         "ratio0.5": (0.5, 1.0)}
PAIRS_EXP = {**PAIRS, "ratio1e6": (1e-4, 100.0), "close-negative": (-20.0, -20.0 + 1e-9)}


DIVIDED = [pytest.param(f, p, pair, id=f"{i}-{pair}") for (f, p), i in zip(KERNELS, KERNEL_IDS)
           for pair in (PAIRS_EXP if f == "expm" else PAIRS)]


@pytest.mark.parametrize("f, p, pair", DIVIDED)
def test_divided_differences(f, p, pair):
    w = np.array((PAIRS_EXP if f == "expm" else PAIRS)[pair])
    got = mf.divided_differences(f, p, w)
    ref = ref_divided(f, p, w)
    assert np.all(np.isfinite(got))
    assert np.max(np.abs(got - ref) / np.abs(ref)) <= RTOL_DD
