"""Extreme scales on every backend (issue 13): the right number, or a DomainError — never zeros, never inf.

NumPy's code is right at these scales (tests/test_extreme_scales.py checks it against exact arithmetic); here
JAX (float64), PyTorch, Dask and ``batch=True`` (NumPy, JAX, torch) must give NumPy's numbers, or a DomainError
where NumPy raises one:

* the gradients of norm_fro(A), norm2(x), norm_nuc(x) at entries ~1e300 (the squares overflow) and ~1e-170 (they
  underflow): A / ||A||, entries ~0.5;
* the gradient of det(A) (the adjugate) for n = 2..4 at entries ~1e120 and ~1e-140, where det(A) ~ s^n over- or
  underflows while adj(A) ~ s^(n-1) may not (n = 4: it does, and the answer is a DomainError); by the LU, the
  Cholesky (spd) and the SVD (a singular A) branches; adj'(A)[E] from the factorizations;
* a result that would be inf on torch / jax is a DomainError, as on NumPy.

Batches mix an element at the extreme scale with one at unit scale (rescaled per element). Every test skips
where its library is not installed.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import matdiff
from conftest import on_host
from matdiff.errors import DomainError
from matdiff.runtime import factor as npF

TOL = 1e-12


# ------------------------------------------------------------------------------------------ backends
def _jax() -> Any:
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def _to(backend: str, x: np.ndarray) -> Any:
    """x as an array of the backend."""
    if backend == "jax":
        _jax()
        import jax.numpy as jnp

        return jnp.asarray(x)
    if backend == "torch":
        torch = pytest.importorskip("torch")
        return torch.tensor(x)
    if backend == "dask":
        da = pytest.importorskip("dask.array")
        return da.from_array(x, chunks=tuple(max(1, s // 2) for s in x.shape))  # several blocks: a tree reduction
    return x


_host = on_host


BACKENDS = [("numpy", False), ("jax", False), ("torch", False), ("dask", False),
            ("numpy", True), ("jax", True), ("torch", True)]
BIDS = [f"{b}{'-batch' if batch else ''}" for b, batch in BACKENDS]


def _namespace(backend: str) -> dict[str, Any]:
    if backend == "jax":
        _jax()
    else:
        pytest.importorskip(backend)
    from matdiff.runtime import namespace_for

    return namespace_for(backend)


# ------------------------------------------------------------------------------------------ checking
def _reference(r: Any, name: str, x: np.ndarray) -> np.ndarray | None:
    """NumPy's gradient (None where NumPy raises a DomainError)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.asarray(r.evaluate({name: x}))
    except DomainError:
        return None


def _same(got: np.ndarray, want: np.ndarray, tol: float = TOL) -> None:
    """got equals want to tol relative to want's largest entry; it is never zeros nor inf where want is not."""
    top = float(np.max(np.abs(want)))
    assert np.all(np.isfinite(got)), got
    assert np.any(got != 0) or top == 0, f"zeros where the answer is ~{top:.3g}"
    assert np.max(np.abs(got - want)) <= tol * top, (got, want)


def _check_grad(expr: str, name: str, x: np.ndarray, backend: str, batch: bool, types: dict | None = None,
                tol: float = TOL) -> None:
    """The compiled gradient on the backend equals NumPy's evaluate, or raises DomainError where that does. A
    batch is [x, the same at unit scale]: elementwise rescaling must not touch the unit-scale element."""
    r = matdiff.grad(expr, wrt=name, types=types)
    xs = [x, x / np.max(np.abs(x))] if batch else [x]
    refs = [_reference(r, name, v) for v in xs]
    arg = _to(backend, np.stack(xs) if batch else x)
    f = r.compile(backend=backend, batch=batch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if any(ref is None for ref in refs):
            with pytest.raises(DomainError):
                _host(f(**{name: arg}))
            return
        got = _host(f(**{name: arg}))
    for i, ref in enumerate(refs):
        _same(got[i] if batch else got, ref, tol)


def _matrix(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)) + n * np.eye(n)


# ------------------------------------------------------------------------------------------ norms
@pytest.mark.parametrize(("backend", "batch"), BACKENDS, ids=BIDS)
@pytest.mark.parametrize("scale", [1e300, 1e-170])
def test_grad_norm_fro(backend: str, batch: bool, scale: float) -> None:
    A = np.random.default_rng(1).standard_normal((3, 4)) * scale
    _check_grad("norm_fro(A)", "A", A, backend, batch)


@pytest.mark.parametrize(("backend", "batch"), BACKENDS, ids=BIDS)
@pytest.mark.parametrize("scale", [1e300, 1e-170])
@pytest.mark.parametrize("expr", ["norm2(x)", "norm_nuc(x)"])
def test_grad_vector_norms(backend: str, batch: bool, scale: float, expr: str) -> None:
    x = np.random.default_rng(2).standard_normal(6) * scale
    _check_grad(expr, "x", x, backend, batch)


@pytest.mark.parametrize(("backend", "batch"), BACKENDS, ids=BIDS)
@pytest.mark.parametrize("scale", [1e300, 1e-170])
def test_value_of_norm(backend: str, batch: bool, scale: float) -> None:
    """The value itself (not only the direction A / ||A||): ||A|| ~ 1e300 or ~1e-170, not inf nor 0."""
    A = np.random.default_rng(3).standard_normal((4, 3)) * scale
    fg = matdiff.compile("norm_fro(A)", ["A"], backend=backend, batch=batch)
    want = float(np.asarray(matdiff.evaluate("norm_fro(A)", {"A": A})))
    value, _ = fg(A=_to(backend, np.stack([A, A]) if batch else A))
    got = _host(value)
    got = got[0] if batch else got
    assert abs(float(got) - want) <= TOL * want, (got, want)


@pytest.mark.parametrize(("backend", "batch"), BACKENDS, ids=BIDS)
def test_norm_beyond_range_is_a_domain_error(backend: str, batch: bool) -> None:
    A = np.full((2, 3), 1.5e308)
    with pytest.raises(DomainError):
        matdiff.evaluate("norm_fro(A)", {"A": A})
    f = matdiff.grad("norm_fro(A)", wrt="A").compile(backend=backend, batch=batch)
    with pytest.raises(DomainError), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _host(f(A=_to(backend, np.stack([A, A]) if batch else A)))


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("scale", [1e300, 1e-170])
def test_vector_kernels(backend: str, scale: float) -> None:
    """top_sv / polar / norm2 / norm_nuc of a vector (a column) in the backend's kernels: x / ||x||, ||x||."""
    from matdiff.runtime import kernels as npK

    K = _namespace(backend)["_K"]
    x = np.random.default_rng(4).standard_normal(5) * scale
    X = _to(backend, x[:, None])
    u = npK.top_sv(x[:, None])
    _same(_host(K.top_sv(X)), u)
    _same(_host(K.polar(X)), u)
    for fn in ("norm2", "norm_nuc", "norm_fro"):
        got, want = float(_host(getattr(K, fn)(X))), npK.norm_fro(x)
        assert abs(got - want) <= TOL * want, (fn, got, want)


# --------------------------------------------------------------------------------------- adjugate
@pytest.mark.parametrize(("backend", "batch"), BACKENDS, ids=BIDS)
@pytest.mark.parametrize("scale", [1e120, 1e-140])
@pytest.mark.parametrize("n", [2, 3, 4])
def test_grad_det(backend: str, batch: bool, scale: float, n: int) -> None:
    _check_grad("det(A)", "A", _matrix(n, seed=10 + n) * scale, backend, batch)


@pytest.mark.parametrize(("backend", "batch"), BACKENDS, ids=BIDS)
@pytest.mark.parametrize("scale", [1e120, 1e-140])
def test_grad_det_spd(backend: str, batch: bool, scale: float) -> None:
    """The Cholesky branch: det(S) = prod(l_ii)^2."""
    B = _matrix(3, seed=7)
    _check_grad("det(S)", "S", (B @ B.T) * scale, backend, batch, types={"S": "spd"})


@pytest.mark.parametrize(("backend", "batch"), BACKENDS, ids=BIDS)
@pytest.mark.parametrize("scale", [1e120, 1e-140, 2.0**399])
def test_grad_det_singular(backend: str, batch: bool, scale: float) -> None:
    """The SVD branch (rank 2: the adjugate is the rank-1 limit), with the scale taken out of the products."""
    B = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    _check_grad("det(A)", "A", B * scale, backend, batch, tol=1e-10)


def _adj_d_numpy(A: np.ndarray, E: np.ndarray) -> np.ndarray | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = npF.adj_d(npF.lu(A), E)
    except DomainError:
        return None
    return out if np.all(np.isfinite(out)) else None


def _adj_d_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for n in (2, 3, 4):
        for scale in (1e120, 1e-140):
            A = _matrix(n, seed=30 + n) * scale
            out.append((f"n{n}-{scale:g}", A, np.random.default_rng(40 + n).standard_normal((n, n))))
    B = np.array([[1.0, 2.0, 3.0, 1.0], [4.0, 5.0, 6.0, 0.0], [7.0, 8.0, 9.0, 1.0], [0.0, 1.0, 0.0, 2.0]])
    B[2] = B[0] + B[1]  # rank 3: the SVD branch
    for scale in (2.0**300, 2.0**-400):
        out.append((f"svd-{scale:g}", B * scale, np.random.default_rng(0).standard_normal((4, 4))))
    return out


ADJ_D = _adj_d_cases()


@pytest.mark.parametrize("backend", ["jax", "torch", "numpy-batch"])
@pytest.mark.parametrize(("A", "E"), [c[1:] for c in ADJ_D], ids=[c[0] for c in ADJ_D])
def test_adj_d(backend: str, A: np.ndarray, E: np.ndarray) -> None:
    """adj'(A)[E] from the backends' factorizations (the Hessian of det): NumPy's, or a DomainError / not finite
    where NumPy's is (the overflowing case is left to the callers' finiteness check, as in NumPy's kernels)."""
    want = _adj_d_numpy(A, E)
    if backend == "numpy-batch":
        from matdiff.runtime import batch as nb

        def run() -> np.ndarray:
            out = nb.F.adj_d(nb.F.lu(nb.BArray(np.stack([A, A / np.max(np.abs(A))]))),
                             nb.BArray(np.stack([E, E])))
            return out.data[0]
    else:
        F = _namespace(backend)["_F"]

        def run() -> np.ndarray:
            return _host(F.adj_d(F.lu(_to(backend, A)), _to(backend, E)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if want is None:
            try:
                got = run()
            except DomainError:
                return
            assert not np.all(np.isfinite(got)), f"expected a refusal, got {got}"
            return
        _same(run(), want, tol=1e-10)


# ------------------------------------------------------------------------------ not finite: an error
@pytest.mark.parametrize(("backend", "batch"), [("jax", False), ("torch", False), ("jax", True), ("torch", True)])
def test_infinite_result_is_a_domain_error(backend: str, batch: bool) -> None:
    """exp(800) overflows: NumPy refuses the inf result, and so do torch and jax (it was returned silently)."""
    x = np.array([1.0, 800.0])
    r = matdiff.grad("sum(exp(x))", wrt="x")
    with pytest.raises(DomainError), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r.compile()(x=x)
    f = r.compile(backend=backend, batch=batch)
    with pytest.raises(DomainError, match="not finite"):
        f(x=_to(backend, np.stack([x, x]) if batch else x))


def test_torch_finite_check_with_grad_and_vmap() -> None:
    """A tensor that requires grad is read detached (no error from .numpy()); under torch.func.vmap the check is
    skipped (functorch-wrapped tensors are never read)."""
    torch = pytest.importorskip("torch")
    from torch.func import vmap

    fg = matdiff.compile("sum(exp(x))", ["x"], backend="torch")
    x = torch.tensor([1.0, 800.0], dtype=torch.float64, requires_grad=True)
    with pytest.raises(DomainError, match="not finite"):
        fg(x=x)
    ok = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    value, grads = fg(x=ok)
    assert torch.allclose(grads["x"], torch.exp(ok))
    f = matdiff.grad("sum(exp(x))", wrt="x").compile(backend="torch")
    out = vmap(lambda v: f(x=v))(torch.tensor([[1.0, 800.0]], dtype=torch.float64))
    assert torch.isinf(out).any()  # traced: no check, no error


def test_jax_jit_and_vmap_stay_traceable() -> None:
    """Under jax.jit / jax.vmap the rescaling is lax.cond / select: right values, no concrete reads."""
    jax = _jax()
    import jax.numpy as jnp

    A = np.random.default_rng(5).standard_normal((3, 4))
    r = matdiff.grad("norm_fro(A)", wrt="A")
    f = r.compile(backend="jax")
    for s in (1e300, 1e-170, 1.0):
        want = r.evaluate({"A": A * s})
        _same(np.asarray(jax.jit(lambda a: f(A=a))(A * s)), want)
        got = jax.vmap(lambda a: f(A=a))(jnp.asarray(np.stack([A * s, A])))
        _same(np.asarray(got[0]), want)
    M = _matrix(3, seed=6)
    g = matdiff.grad("det(A)", wrt="A").compile(backend="jax")
    for s in (1e120, 1e-140):
        want = matdiff.grad("det(A)", wrt="A").evaluate({"A": M * s})
        _same(np.asarray(jax.jit(lambda a: g(A=a))(M * s)), want)
    # a result that underflows as a whole: NaN under jit (never zeros), a DomainError eagerly
    M4 = _matrix(4, seed=6) * 1e-140
    assert np.all(np.isnan(np.asarray(jax.jit(lambda a: g(A=a))(M4))))
    with pytest.raises(DomainError, match="underflows"):
        g(A=M4)


def test_common_path_unchanged() -> None:
    """At unit scale the backends give NumPy's numbers (the rescaling is not taken, the scaled adjugate is the
    plain product det(A) A^-1 in another order of exact power-of-2 factors)."""
    A = _matrix(3, seed=8)
    want = matdiff.grad("det(A)", wrt="A").evaluate({"A": A})
    for backend in ("jax", "torch"):
        try:
            got = _host(matdiff.grad("det(A)", wrt="A").compile(backend=backend)(A=_to(backend, A)))
        except pytest.skip.Exception:
            continue
        np.testing.assert_allclose(got, want, rtol=1e-13)
