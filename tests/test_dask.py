"""The Dask backend (issue 8): generated gradients on tall, chunked data, lazily, blockwise.

* each expression gives NumPy's numbers on small chunked dask arrays;
* least squares and logistic regression on tall X (row chunks) on a dask.distributed LocalCluster:
  NumPy's numbers, one pass over the data (every chunk of X made once, value and gradient
  together), a single tree reduction for the gradient, nothing computed before ``compute``;
* the domain checks ride in the graph: ``compute`` raises NumPy's DomainError;
* factorizations of small dask matrices (``X'*X``) happen inside the graph.

Skips cleanly where dask (or dask.distributed) is not installed.
"""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np
import pytest

import matdiff
from conftest import distinct_singular_values, positive_det, spd, well_conditioned
from matdiff.errors import DomainError
from matdiff.numeric.codegen import build
from matdiff.runtime import wrapped

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

TOL = 1e-10


def _close(got, ref, tol=TOL):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    scale = max(1.0, float(np.max(np.abs(ref))))
    assert float(np.max(np.abs(got - ref))) <= tol * scale


def _dask_fn(r, name=None):
    """The generated function on the dask backend, with its lazy checks (the namespace's _wrap)."""
    return wrapped(build(r.source(), name or f"grad_{r.wrt}", "dask"))


def _chunked(v, chunks=2):
    return da.from_array(v, chunks=chunks) if isinstance(v, np.ndarray) else v


# -------------------------------------------------------------------------------- small, chunked
def _cases(rng):
    n = 4
    A, X, B = rng.standard_normal((n, n)), rng.standard_normal((n, n)), rng.standard_normal((n, n))
    x = rng.standard_normal(n)
    Xd, y, w = rng.standard_normal((6 * n, n)), rng.choice([-1.0, 1.0], 6 * n), rng.standard_normal(n)
    return [
        ("least_squares", "norm_fro(A*X-B)^2", "X", None, dict(A=A, X=X, B=B)),
        ("gaussian_nll", "logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"}, dict(S=spd(rng, n), C=spd(rng, n))),
        ("quad_inv", "x'*inv(A)*x", "A", None, dict(x=x, A=well_conditioned(rng, n))),
        ("logistic", "sum(log(1+exp(-y.*(X*w)))) + c*w'*w", "w", None, dict(y=y, X=Xd, w=w, c=0.1)),
        ("det", "det(X)", "X", None, dict(X=well_conditioned(rng, n))),
        ("trace_quad", "tr(X'*A*X*B)", "X", None, dict(X=X, A=A, B=B)),
        ("norm2", "norm2(X)", "X", None, dict(X=distinct_singular_values(rng, 3 * n, n))),
        ("norm_nuc", "norm_nuc(X)", "X", None, dict(X=distinct_singular_values(rng, 3 * n, n))),
        ("norm_fro", "norm_fro(X)", "X", None, dict(X=X)),
        ("logdet", "logdet(X)", "X", None, dict(X=positive_det(rng, n))),
        ("norm1", "norm1(x)", "x", None, dict(x=x)),
        ("residual_norm", "norm2(X*w-y)", "w", None, dict(X=Xd, w=w, y=y)),
        ("gram_logdet", "logdet(X'*X)", "X", None, dict(X=Xd)),
        ("inverse_square", "x'*A^-2*x", "A", None, dict(x=x, A=well_conditioned(rng, n))),
        ("adjugate_trace", "tr(adj(X))", "X", None, dict(X=well_conditioned(rng, n))),
    ]


CASES = _cases(np.random.default_rng(9))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_dask_equals_numpy(case):
    _, expr, wrt, types, vals = case
    r = matdiff.grad(expr, wrt, types)
    ref = r.compile()(**vals)
    out = _dask_fn(r)(*[_chunked(vals[k]) for k in r.variables])
    assert isinstance(out, da.Array)
    _close(out.compute(), ref)
    public = r.compile(backend="dask")(**{k: _chunked(v) for k, v in vals.items()})
    _close(dask.compute(public)[0], ref)


def test_dask_with_numpy_parameters():
    """Tall data as dask arrays, the parameters as NumPy arrays: the usual way to call it."""
    _, expr, wrt, types, vals = next(c for c in CASES if c[0] == "logistic")
    r = matdiff.grad(expr, wrt, types)
    got = _dask_fn(r)(_chunked(vals["y"], 5), _chunked(vals["X"], (5, 4)), vals["w"], vals["c"])
    _close(got.compute(), r.compile()(**vals))


@pytest.mark.parametrize("expr, wrt, vals", [
    ("norm2(X*w-y)", "w", dict(X=np.ones((6, 2)), w=np.ones(2), y=2 * np.ones(6))),
    ("sum(log(x))", "x", dict(x=np.array([1.0, -1.0, 2.0, 3.0]))),
    ("logdet(X)", "X", dict(X=-np.eye(3))),
    ("norm1(x)", "x", dict(x=np.array([1.0, 0.0, 2.0, 3.0]))),
    ("norm2(X)", "X", dict(X=np.vstack([np.eye(3), np.eye(3)]))),
    ("norm_nuc(X)", "X", dict(X=np.ones((6, 2)))),
    ("x'*inv(A)*x", "A", dict(x=np.ones(2), A=np.ones((2, 2)))),
])
def test_dask_checks_raise_at_compute(expr, wrt, vals):
    r = matdiff.grad(expr, wrt)
    with pytest.raises(DomainError):
        r.compile()(**vals)
    out = _dask_fn(r)(*[_chunked(vals[k]) for k in r.variables])  # lazy: no error yet
    with pytest.raises(DomainError), np.errstate(all="ignore"):
        dask.compute(out)


def test_dask_public_compile_checks_lazily():
    """Through r.compile(backend="dask"): codegen.build applies the namespace's _wrap."""
    r = matdiff.grad("norm2(X*w-y)", "w")
    vals = dict(X=np.ones((6, 2)), w=np.ones(2), y=2 * np.ones(6))
    out = r.compile(backend="dask")(**{k: _chunked(v) for k, v in vals.items()})
    with pytest.raises(DomainError), np.errstate(all="ignore"):
        out.compute()


def test_dask_spd_check_in_graph():
    r = matdiff.grad("logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"})
    out = _dask_fn(r)(_chunked(-np.eye(4)), _chunked(np.eye(4)))
    with pytest.raises(DomainError, match="not positive definite"):
        out.compute()


# ----------------------------------------------------------------------------------- tall data
MADE: Counter = Counter()
_LOCK = threading.Lock()


def _block(seed: int, n: int, block_info=None):
    """Rows of X for one chunk (deterministic by chunk), counting how often each chunk is made."""
    loc = block_info[None]["chunk-location"][0]
    shape = block_info[None]["chunk-shape"]
    with _LOCK:
        MADE[(seed, loc)] += 1
    return np.random.default_rng((seed, loc)).standard_normal(shape) / np.sqrt(n)


def _tall(N: int, n: int, chunk: int, seed: int = 0):
    chunks = ((chunk,) * (N // chunk) + ((N % chunk,) if N % chunk else ()), (n,))
    return da.map_blocks(_block, seed, n, chunks=chunks, dtype=float, meta=np.empty((0, 0)))


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def _reductions(*arrays) -> int:
    names = set()
    for a in arrays:
        names |= {k for k in a.dask.layers if "-aggregate-" in k}
    return len(names)


def test_least_squares_tall_on_cluster(client):
    N, n, chunk = 40_000, 6, 4_000
    X = _tall(N, n, chunk, seed=1)
    rng = np.random.default_rng(1)
    w = rng.standard_normal(n)
    y = X @ rng.standard_normal(n) + 0.1 * da.sin(X[:, 0])  # y depends on X: no extra pass either
    r = matdiff.grad("norm2(X*w - y)^2", "w")
    MADE.clear()
    g = _dask_fn(r)(X, w, y)
    assert not MADE, "nothing is computed before compute()"
    assert _reductions(g) == 1, "the gradient is one tree reduction over the row chunks"
    got = client.compute(g).result()
    assert set(MADE.values()) == {1} and len(MADE) == N // chunk, "one pass: every chunk of X made once"
    Xn, yn = dask.compute(X, y, scheduler="sync")
    _close(got, r.compile()(X=Xn, w=w, y=yn))


def test_logistic_value_and_gradient_tall_on_cluster(client):
    N, n, chunk = 30_000, 5, 3_000
    X = _tall(N, n, chunk, seed=2)
    y = da.where(X[:, 0] + 0.3 * X[:, 1] > 0, 1.0, -1.0)
    w = np.random.default_rng(2).standard_normal(n)
    fg = matdiff.compile("sum(log(1+exp(-y.*(X*w)))) + c*w'*w", ["w"])
    f = _dask_fn(fg, "value_and_grad")
    MADE.clear()
    value, grad = f(y, X, w, 0.1)
    assert _reductions(grad) == 1 and _reductions(value, grad) == 2  # the loss's sum and X'*(...)
    v, g = client.compute([value, grad], sync=True)
    assert set(MADE.values()) == {1}, "value and gradient in one pass over X"
    Xn, yn = dask.compute(X, y, scheduler="sync")
    v0, g0 = fg(y=yn, X=Xn, w=w, c=0.1)
    assert abs(v - v0) <= TOL * abs(v0)
    _close(g, g0["w"])


def test_gram_factorization_inside_graph(client):
    """logdet(X'*X): the n x n Gram matrix is reduced, factored in the graph, then X solved blockwise."""
    X = _tall(8_000, 4, 1_000, seed=3)
    r = matdiff.grad("logdet(X'*X)", "X")
    g = _dask_fn(r)(X)
    assert isinstance(g, da.Array) and g.chunks[0] == X.chunks[0]
    got = client.compute(g).result()
    _close(got, r.compile()(X=X.compute(scheduler="sync")))


def test_chunks_do_not_change_the_result(client):
    rng = np.random.default_rng(4)
    Xn = rng.standard_normal((5_000, 3))
    yn = rng.standard_normal(5_000)
    w = rng.standard_normal(3)
    r = matdiff.grad("norm2(X*w - y)^2", "w")
    ref = r.compile()(X=Xn, w=w, y=yn)
    f = _dask_fn(r)
    for chunk in (500, 1_250, 5_000):
        g = f(da.from_array(Xn, chunks=(chunk, 3)), w, da.from_array(yn, chunks=chunk))
        _close(client.compute(g).result(), ref)
