"""Backends (issue 8): the same generated code on JAX, PyTorch and CuPy gives NumPy's numbers.

* each backend equals NumPy to 1e-10 on a set of expressions (least squares, Gaussian NLL, quadratic
  forms with inverses, logistic loss, det, traces, norms...);
* JAX's and torch's own gradients, of an independently written loss and of the generated value
  function, agree with matdiff's gradient;
* the domain checks raise NumPy's DomainError (eagerly) and are skipped under jax.jit;
* ``batch=True`` equals a loop over the batch (NumPy, JAX, torch).

Every test skips cleanly where its library is not installed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import matdiff
from conftest import distinct_singular_values, positive_det, spd, well_conditioned
from matdiff.errors import DomainError, MatdiffError, ShapeError
from matdiff.numeric.codegen import batched, build
from matdiff.runtime import wrapped
from matdiff.runtime.numpy import namespace as numpy_namespace

TOL = 1e-10


# ------------------------------------------------------------------------------------------ cases
def _cases(rng: np.random.Generator) -> list[tuple[str, str, str, dict | None, dict]]:
    n, m = 4, 3
    A, X, B = rng.standard_normal((n, n)), rng.standard_normal((n, n)), rng.standard_normal((n, n))
    x = rng.standard_normal(n)
    Xd, y, w = rng.standard_normal((5 * n, n)), rng.choice([-1.0, 1.0], 5 * n), rng.standard_normal(n)
    return [
        ("least_squares", "norm_fro(A*X-B)^2", "X", None, dict(A=A, X=X, B=B)),
        ("gaussian_nll", "logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"}, dict(S=spd(rng, n), C=spd(rng, n))),
        ("quad_inv", "x'*inv(A)*x", "A", None, dict(x=x, A=well_conditioned(rng, n))),
        ("logistic", "sum(log(1+exp(-y.*(X*w)))) + c*w'*w", "w", None, dict(y=y, X=Xd, w=w, c=0.1)),
        ("det", "det(X)", "X", None, dict(X=well_conditioned(rng, n))),
        ("trace_quad", "tr(X'*A*X*B)", "X", None, dict(X=X, A=A, B=B)),
        ("norm2", "norm2(X)", "X", None, dict(X=distinct_singular_values(rng, n, m))),
        ("norm_nuc", "norm_nuc(X)", "X", None, dict(X=distinct_singular_values(rng, n, m))),
        ("norm_fro", "norm_fro(X)", "X", None, dict(X=X)),
        ("logdet", "logdet(X)", "X", None, dict(X=positive_det(rng, n))),
        ("norm1", "norm1(x)", "x", None, dict(x=x)),
        ("residual_norm", "norm2(X*w-y)", "w", None, dict(X=Xd, w=w, y=y)),
        ("logsumexp", "log(sum(exp(x)))", "x", None, dict(x=x)),
        ("inverse_square", "x'*A^-2*x", "A", None, dict(x=x, A=well_conditioned(rng, n))),
        ("adjugate_trace", "tr(adj(X))", "X", None, dict(X=well_conditioned(rng, n))),
        ("ones_eye", "sum(A*X) + tr(X)", "X", None, dict(A=A, X=X)),
        ("sqrt", "sum(sqrt(x.^2+1))", "x", None, dict(x=x)),
    ]


CASES = _cases(np.random.default_rng(8))
IDS = [c[0] for c in CASES]


def _close(got, ref, tol=TOL):
    got, ref = np.asarray(got, dtype=complex if np.iscomplexobj(got) else float), np.asarray(ref)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    scale = max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
    err = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    assert err <= tol * scale, f"max abs error {err:.3g} (scale {scale:.3g})"


def _numpy(r):
    return r.compile()


# ------------------------------------------------------------------------------------------ jax
@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jax_equals_numpy(jax, case):
    import jax.numpy as jnp

    _, expr, wrt, types, vals = case
    r = matdiff.grad(expr, wrt, types)
    got = r.compile(backend="jax")(**{k: jnp.asarray(v) for k, v in vals.items()})
    assert isinstance(got, jax.Array)
    _close(got, _numpy(r)(**vals))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jax_jit_equals_numpy(jax, case):
    _, expr, wrt, types, vals = case
    r = matdiff.grad(expr, wrt, types)
    f = jax.jit(r.compile(backend="jax"))
    _close(f(**vals), _numpy(r)(**vals))


# independent losses, in the Array API (jax.numpy, or array-api-compat's torch namespace)
def _losses(xp):
    def nll(S, C):
        return xp.linalg.slogdet(S)[1] + xp.linalg.trace(xp.linalg.solve(S, C))

    return {
        "least_squares": lambda A, X, B: xp.sum((A @ X - B) ** 2),
        "gaussian_nll": nll,
        "quad_inv": lambda x, A: xp.sum(x * xp.linalg.solve(A, x[:, None])[:, 0]),
        "logistic": lambda y, X, w, c: xp.sum(xp.log1p(xp.exp(-y * (X @ w)))) + c * xp.sum(w * w),
        "det": lambda X: xp.linalg.det(X),
        "trace_quad": lambda X, A, B: xp.linalg.trace(xp.matrix_transpose(X) @ A @ X @ B),
        "norm2": lambda X: xp.linalg.matrix_norm(X, ord=2),
        "norm_nuc": lambda X: xp.linalg.matrix_norm(X, ord="nuc"),
        "norm_fro": lambda X: xp.linalg.matrix_norm(X),
        "logdet": lambda X: xp.linalg.slogdet(X)[1],
        "residual_norm": lambda X, w, y: xp.linalg.vector_norm(X @ w - y),
        "logsumexp": lambda x: xp.log(xp.sum(xp.exp(x))),
        "sqrt": lambda x: xp.sum(xp.sqrt(x ** 2 + 1)),
    }


AUTODIFF = [c for c in CASES if c[0] in _losses(np)]


@pytest.mark.parametrize("case", AUTODIFF, ids=[c[0] for c in AUTODIFF])
def test_jax_grad_of_independent_loss(jax, case):
    import jax.numpy as jnp

    name, expr, wrt, types, vals = case
    loss = _losses(jnp)[name]
    names = list(vals)
    g = jax.grad(loss, argnums=names.index(wrt))(*[jnp.asarray(v) for v in vals.values()])
    if types and types.get(wrt) == "spd":
        g = (g + g.T) / 2
    r = matdiff.grad(expr, wrt, types)
    _close(r.compile(backend="jax")(**vals), g, 1e-9)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jax_grad_of_generated_value(jax, case):
    """jax.grad through matdiff's own generated value function equals its gradient output."""
    _, expr, wrt, types, vals = case
    fg = matdiff.compile(expr, [wrt], types, backend="jax")

    def value(v):
        return fg(**{**vals, wrt: v})[0]
    g = jax.grad(value)(jax.numpy.asarray(vals[wrt]))
    if types and types.get(wrt) == "spd":
        g = (g + g.T) / 2
    _close(fg(**vals)[1][wrt], g, 1e-9)


def test_jax_eager_checks_raise_numpys_error(jax):
    import jax.numpy as jnp

    for expr, wrt, types, vals in [("logdet(X)", "X", None, dict(X=-np.eye(3))),
                                   ("logdet(S)", "S", {"S": "spd"}, dict(S=-np.eye(3))),
                                   ("x'*inv(A)*x", "A", None, dict(x=np.ones(2), A=np.ones((2, 2)))),
                                   ("norm_fro(X)", "X", None, dict(X=np.zeros((2, 2)))),
                                   ("norm2(X)", "X", None, dict(X=np.eye(3))),
                                   ("sum(log(x))", "x", None, dict(x=np.array([-1.0, 2.0])))]:
        r = matdiff.grad(expr, wrt, types)
        with pytest.raises(DomainError) as ref:
            r.compile()(**vals)
        with pytest.raises(DomainError) as got:
            r.compile(backend="jax")(**{k: jnp.asarray(v) for k, v in vals.items()})
        assert str(got.value) == str(ref.value)


def test_jax_jit_skips_checks_and_gives_nan(jax):
    r = matdiff.grad("logdet(X)", "X")
    f = jax.jit(r.compile(backend="jax"))
    out = f(X=-np.eye(3))  # traced: no DomainError; the value is -inv(X)' anyway
    _close(out, -np.eye(3))
    fg = jax.jit(matdiff.compile("logdet(X)", ["X"], backend="jax"))
    assert np.isnan(float(fg(X=-np.eye(3))[0]))


def test_jax_adjugate_at_singular_matrix(jax):
    """det's gradient adj(X)' is finite at a singular X, eager and jitted (lax.cond picks the SVD)."""
    X = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    r = matdiff.grad("det(X)", "X")
    ref = r.compile()(X=X)
    _close(r.compile(backend="jax")(X=X), ref)
    _close(jax.jit(r.compile(backend="jax"))(X=X), ref)


def test_jax_hessian_compiles(jax):
    rng = np.random.default_rng(3)
    A, x = rng.standard_normal((4, 4)), rng.standard_normal(4)
    h = matdiff.hessian("x'*A*x + log(sum(exp(x)))", "x")
    _close(h.compile(backend="jax")(x=x, A=A), h.compile()(x=x, A=A))


# ---------------------------------------------------------------------------------------- torch
@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    pytest.importorskip("array_api_compat")
    return torch


def _t(torch, vals):
    return {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in vals.items()}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_torch_equals_numpy(torch, case):
    _, expr, wrt, types, vals = case
    r = matdiff.grad(expr, wrt, types)
    got = r.compile(backend="torch")(**_t(torch, vals))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    _close(got.numpy(), _numpy(r)(**vals))


@pytest.mark.parametrize("case", AUTODIFF, ids=[c[0] for c in AUTODIFF])
def test_torch_autograd_of_independent_loss(torch, case):
    import array_api_compat.torch as xp

    name, expr, wrt, types, vals = case
    tv = _t(torch, vals)
    leaf = tv[wrt].clone().requires_grad_(True)
    loss = _losses(xp)[name](**{**tv, wrt: leaf})
    (g,) = torch.autograd.grad(loss, leaf)
    if types and types.get(wrt) == "spd":
        g = (g + g.T) / 2
    r = matdiff.grad(expr, wrt, types)
    _close(r.compile(backend="torch")(**tv).numpy(), g.numpy(), 1e-9)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_torch_autograd_of_generated_value(torch, case):
    _, expr, wrt, types, vals = case
    fg = matdiff.compile(expr, [wrt], types, backend="torch")
    tv = _t(torch, vals)
    leaf = tv[wrt].clone().requires_grad_(True)
    value, grads = fg(**{**tv, wrt: leaf})
    (g,) = torch.autograd.grad(value, leaf)
    if types and types.get(wrt) == "spd":
        g = (g + g.T) / 2
    _close(grads[wrt].detach().numpy(), g.numpy(), 1e-9)


def _numbers_masked(msg: str) -> str:
    import re

    return re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "#", msg)


def test_torch_eager_checks_raise_numpys_error(torch):
    for expr, wrt, types, vals in [("logdet(X)", "X", None, dict(X=-np.eye(3))),
                                   ("logdet(S)", "S", {"S": "spd"}, dict(S=-np.eye(3))),
                                   ("x'*inv(A)*x", "A", None, dict(x=np.ones(2), A=np.ones((2, 2)))),
                                   ("norm1(x)", "x", None, dict(x=np.array([0.0, 1.0]))),
                                   ("norm_nuc(X)", "X", None, dict(X=np.ones((4, 2)))),
                                   ("sum(log(x))", "x", None, dict(x=np.array([-1.0, 2.0])))]:
        r = matdiff.grad(expr, wrt, types)
        with pytest.raises(DomainError) as ref:
            r.compile()(**vals)
        with pytest.raises(DomainError) as got:
            r.compile(backend="torch")(**_t(torch, vals))
        # the same message; a number in it may differ in its last bits (torch's SVD gives 0 where LAPACK's 7e-17)
        assert _numbers_masked(str(got.value)) == _numbers_masked(str(ref.value))


def test_torch_follows_input_dtype(torch):
    """New arrays (eye, ones) take the inputs' dtype; float32 in, float32 out."""
    rng = np.random.default_rng(1)
    A, X = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    r = matdiff.grad("sum(A*X) + tr(X)", "X")
    f = wrapped(build(r.source(), "grad_X", "torch"))
    got = f(torch.as_tensor(A, dtype=torch.float32), torch.as_tensor(X, dtype=torch.float32))
    assert got.dtype == torch.float32
    _close(got.double().numpy(), r.compile()(A=A, X=X), 1e-6)


def test_torch_wrap_converts_numpy_inputs(torch):
    case = next(c for c in CASES if c[0] == "logistic")
    _, expr, wrt, types, vals = case
    r = matdiff.grad(expr, wrt, types)
    f = wrapped(build(r.source(), f"grad_{wrt}", "torch"))
    got = f(*[vals[k] for k in r.variables])  # NumPy arrays, vectors included
    assert isinstance(got, torch.Tensor)
    _close(got.numpy(), _numpy(r)(**vals))


def test_compile_applies_the_backend_wrap(torch):
    case = next(c for c in CASES if c[0] == "logistic")
    _, expr, wrt, types, vals = case
    r = matdiff.grad(expr, wrt, types)
    _close(r.compile(backend="torch")(**vals).numpy(), _numpy(r)(**vals))


def test_torch_no_transpose_of_vectors_warning(torch):
    """Generated code never takes .T of a 1-D tensor: torch warns that x.T on a tensor of dimension other than
    2 is deprecated (an error in a later release).  That is the code generator's doing, not the environment's,
    so it fails here; other warnings (from torch itself) do not."""
    case = next(c for c in CASES if c[0] == "quad_inv")
    r = matdiff.grad(case[1], case[2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = r.compile(backend="torch")(**_t(torch, case[4]))
    transposes = [str(w.message) for w in caught
                  if "x.T" in str(w.message) or "dimension other than 2" in str(w.message)]
    assert not transposes, f"codegen transposes a vector: {transposes[0]}"
    _close(got.numpy(), _numpy(r)(**case[4]))


# ------------------------------------------------------------------------------------- batching
BATCH_CASES = [c for c in CASES if c[0] in ("least_squares", "gaussian_nll", "quad_inv", "logistic", "det",
                                            "trace_quad", "norm2", "norm_nuc", "logdet", "norm1",
                                            "inverse_square", "adjugate_trace", "ones_eye", "sqrt")]


def _stack(vals, size, rng, only=None):
    """A batch of points near vals (the same kind: spd stays spd, signs of y kept)."""
    out = {}
    for k, v in vals.items():
        if only is not None and k not in only:
            out[k] = v
            continue
        a = np.asarray(v, dtype=float)
        out[k] = np.stack([a * (1 + 0.05 * i) + (0.01 * i * rng.standard_normal(a.shape) if a.ndim == 2 and
                                                 k not in ("S", "C") else 0) for i in range(size)])
    return out


def _loop(r, bvals, size, only=None):
    f = r.compile()
    outs = [f(**{k: (v[i] if only is None or k in only else v) for k, v in bvals.items()}) for i in range(size)]
    return np.stack([np.asarray(o) for o in outs])


def _batched(r, backend, batch=True):
    return batched(build(r.source(), f"grad_{r.wrt}", backend), r.variables, list(r.variables), backend, batch)


@pytest.mark.parametrize("case", BATCH_CASES, ids=[c[0] for c in BATCH_CASES])
def test_numpy_batch_equals_loop(case):
    _, expr, wrt, types, vals = case
    r = matdiff.grad(expr, wrt, types)
    bvals = _stack(vals, 5, np.random.default_rng(0))
    _close(_batched(r, "numpy")(**bvals), _loop(r, bvals, 5))


@pytest.mark.parametrize("case", BATCH_CASES, ids=[c[0] for c in BATCH_CASES])
def test_numpy_batch_of_some_arguments(case):
    """Only the variable is batched; the other arguments are shared."""
    _, expr, wrt, types, vals = case
    r = matdiff.grad(expr, wrt, types)
    bvals = _stack(vals, 4, np.random.default_rng(1), only={wrt})
    _close(_batched(r, "numpy", batch=[wrt])(**bvals), _loop(r, bvals, 4, only={wrt}))


@pytest.mark.parametrize("case", BATCH_CASES, ids=[c[0] for c in BATCH_CASES])
def test_jax_vmap_batch_equals_loop(jax, case):
    _, expr, wrt, types, vals = case
    r = matdiff.grad(expr, wrt, types)
    bvals = _stack(vals, 4, np.random.default_rng(2))
    _close(_batched(r, "jax")(**bvals), _loop(r, bvals, 4))
    some = _stack(vals, 3, np.random.default_rng(3), only={wrt})
    _close(_batched(r, "jax", batch=[wrt])(**some), _loop(r, some, 3, only={wrt}))


@pytest.mark.parametrize("case", BATCH_CASES, ids=[c[0] for c in BATCH_CASES])
def test_torch_vmap_batch_equals_loop(torch, case):
    _, expr, wrt, types, vals = case
    r = matdiff.grad(expr, wrt, types)
    bvals = _stack(vals, 4, np.random.default_rng(4))
    _close(_batched(r, "torch")(**bvals).numpy(), _loop(r, bvals, 4))


def test_numpy_batch_value_and_gradient():
    rng = np.random.default_rng(5)
    fg = matdiff.compile("logdet(S) + tr(inv(S)*C)", ["S"], {"S": "spd"})
    S = np.stack([spd(rng, 3) for _ in range(6)])
    C = spd(rng, 3)
    f = batched(build(fg.source(), "value_and_grad", "numpy"), fg.variables, list(fg.variables), "numpy", ["S"])
    value, grad = f(S=S, C=C)
    assert value.shape == (6,) and grad.shape == (6, 3, 3)
    for i in range(6):
        v, g = fg(S=S[i], C=C)
        _close(value[i], v)
        _close(grad[i], g["S"])


def test_numpy_batch_errors_name_the_element():
    r = matdiff.grad("logdet(X)", "X")
    X = np.stack([np.eye(3), -np.eye(3), np.eye(3)])
    with pytest.raises(DomainError, match="batch element 1"):
        _batched(r, "numpy")(X=X)
    r = matdiff.grad("x'*inv(A)*x", "A")
    A = np.stack([np.eye(2), np.ones((2, 2))])
    with pytest.raises(DomainError, match="singular.*batch element 1"):
        _batched(r, "numpy")(x=np.ones((2, 2)), A=A)
    r = matdiff.grad("norm1(x)", "x")
    with pytest.raises(DomainError, match="batch element 2"):
        _batched(r, "numpy")(x=np.array([[1.0, 2.0], [3.0, 4.0], [0.0, 1.0]]))


def test_numpy_batch_adjugate_mixes_lu_and_svd():
    """det's gradient over a batch with singular and regular matrices: each as the unbatched code."""
    rng = np.random.default_rng(6)
    X = np.stack([rng.standard_normal((3, 3)), np.array([[1.0, 2, 3], [2, 4, 6], [1, 0, 1]]), np.zeros((3, 3))])
    r = matdiff.grad("det(X)", "X")
    _close(_batched(r, "numpy")(X=X), _loop(r, {"X": X}, 3))


def test_batch_shape_errors():
    r = matdiff.grad("x'*A*x", "x")
    f = _batched(r, "numpy")
    with pytest.raises(ShapeError, match="batch sizes"):
        f(x=np.ones((3, 2)), A=np.ones((4, 2, 2)))
    with pytest.raises(ShapeError):
        f(x=np.ones((3, 2)), A=np.ones((3, 3, 3)))
    with pytest.raises(MatdiffError, match="batch names"):
        batched(build(r.source(), "grad_x", "numpy"), r.variables, list(r.variables), "numpy", ["z"])
    with pytest.raises(MatdiffError, match="not available"):
        batched(build(r.source(), "grad_x", "numpy"), r.variables, list(r.variables), "dask", True)


def test_compile_batch_through_the_api():
    case = next(c for c in CASES if c[0] == "gaussian_nll")
    _, expr, wrt, types, vals = case
    r = matdiff.grad(expr, wrt, types)
    bvals = _stack(vals, 3, np.random.default_rng(7))
    _close(r.compile(batch=True)(**bvals), _loop(r, bvals, 3))
    some = _stack(vals, 3, np.random.default_rng(8), only={wrt})
    _close(r.compile(batch=[wrt])(**some), _loop(r, some, 3, only={wrt}))


def test_value_and_gradients_batch_through_the_api():
    rng = np.random.default_rng(9)
    X, y, w = rng.standard_normal((6, 10, 3)), rng.choice([-1.0, 1.0], (6, 10)), rng.standard_normal(3)
    expr = "sum(log(1+exp(-y.*(X*w)))) + c*w'*w"
    fg = matdiff.compile(expr, ["w", "c"], batch=["X", "y"])
    value, grads = fg(y=y, X=X, w=w, c=0.1)
    one = matdiff.compile(expr, ["w", "c"])
    for i in range(6):
        v, g = one(y=y[i], X=X[i], w=w, c=0.1)
        _close(value[i], v)
        _close(grads["w"][i], g["w"])
        _close(grads["c"][i], g["c"])
    multi = matdiff.grad(expr, ["w", "c"]).compile(batch=["X", "y"])(y=y, X=X, w=w, c=0.1)
    _close(multi["w"], grads["w"])


def test_hessian_batch_through_the_api():
    rng = np.random.default_rng(10)
    x, A = rng.standard_normal((5, 4)), rng.standard_normal((4, 4))
    h = matdiff.hessian("x'*A*x + log(sum(exp(x)))", "x")
    got = h.compile(batch=["x"])(x=x, A=A)
    assert got.shape == (5, 4, 4)
    for i in range(5):
        _close(got[i], h.compile()(x=x[i], A=A))


# -------------------------------------------------------------------------------------- namespaces
@pytest.mark.parametrize("backend", ["jax", "torch", "cupy", "dask"])
def test_backend_namespace_covers_numpys(backend):
    """Every name the NumPy namespace gives generated code is given by each backend too (the core adds
    names from time to time: a backend must follow)."""
    import importlib

    library = {"jax": "jax", "torch": "torch", "cupy": "cupy", "dask": "dask.array"}[backend]
    pytest.importorskip(library, reason=f"{library} is not installed")  # the one environment condition
    ns = importlib.import_module(f"matdiff.runtime.{backend}").namespace()  # a failure here is a bug
    own = set(ns) - {"_wrap"}
    assert set(numpy_namespace()) <= own


def test_numpy_batch_namespace_covers_numpys():
    from matdiff.runtime import batch

    assert set(numpy_namespace()) <= set(batch.namespace())


def test_backend_modules_import_the_real_libraries(jax, torch):
    import matdiff.runtime.jax as mj
    import matdiff.runtime.torch as mt

    assert mj.jax.__name__ == "jax" and hasattr(mj.jax, "jit")
    assert mt.torch.__name__ == "torch" and hasattr(mt.torch, "linalg")


def test_unknown_backend():
    r = matdiff.grad("x'*x", "x")
    with pytest.raises(MatdiffError, match="unknown backend"):
        r.compile(backend="nosuch")


# ------------------------------------------------------------------------------------------- cupy
def test_cupy_equals_numpy():
    cupy = pytest.importorskip("cupy")
    try:
        cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"no GPU: {err}")
    for _, expr, wrt, types, vals in CASES:
        r = matdiff.grad(expr, wrt, types)
        f = wrapped(build(r.source(), f"grad_{wrt}", "cupy"))
        got = f(*[cupy.asarray(vals[k]) if isinstance(vals[k], np.ndarray) else vals[k] for k in r.variables])
        _close(cupy.asnumpy(got), _numpy(r)(**vals))
