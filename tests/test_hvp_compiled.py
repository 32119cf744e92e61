"""Compiled Hessian-vector products (issue 17, item 3): ``h.hvp`` runs generated code compiled on first use and
cached; ``h.compile(hvp=True)`` is the callable for loops, on every installed backend; numbers against the dense
Hessian, the interpreted hvp and central differences of the gradient."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff

CASES = [
    ("sum(log(1+exp(-y.*(X*w)))) + c*w'*w", "w", None),
    ("x'*A*x + log(sum(exp(x)))", "x", None),
    ("logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"}),
    ("norm_fro(A*X - B)^2 + tr(X'*X*X'*X)", "X", None),
    ("c^3*exp(c)", "c", None),
    ("a*h'*x", "x", None),  # the Hessian is 0
]


def _values(expr: str, rng: np.random.Generator) -> dict:
    n = 4
    if "y.*" in expr:
        return {"y": rng.choice([-1.0, 1.0], 12), "X": rng.standard_normal((12, n)), "w": rng.standard_normal(n),
                "c": 0.1}
    vals = {"x": rng.standard_normal(n), "A": rng.standard_normal((n, n)), "h": rng.standard_normal(n), "a": 1.5,
            "c": 0.7, "X": rng.standard_normal((n, n)), "B": rng.standard_normal((n, n))}
    if "S" in expr:
        b = rng.standard_normal((n, n))
        vals = {"S": b @ b.T / n + np.eye(n), "C": np.eye(n) + 0.1 * (b + b.T)}
    return vals


def _direction(h: matdiff.results.hessian.Hessian, vals: dict, rng: np.random.Generator) -> np.ndarray | float:
    x = np.asarray(vals[h.wrt], dtype=float)
    if x.ndim == 0:
        return float(rng.standard_normal())
    v = rng.standard_normal(x.shape)
    return (v + v.T) / 2 if h.var.kind == "spd" else v


@pytest.mark.parametrize("expr,wrt,types", CASES)
def test_hvp_matches_dense_and_interpreted(expr: str, wrt: str, types: dict | None,
                                           rng: np.random.Generator) -> None:
    h = matdiff.hessian(expr, wrt=wrt, types=types)
    vals = {k: v for k, v in _values(expr, rng).items() if k in h.variables}
    v = _direction(h, vals, rng)
    got = h.hvp(vals, v)
    ref = h._hvp_interpreted(v, **vals)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    assert np.shape(got) == np.shape(vals[wrt])
    H = np.asarray(h.evaluate(vals))
    dense = H @ np.ravel(v, order="F") if H.ndim == 2 else H * v
    np.testing.assert_allclose(np.ravel(got, order="F"), np.ravel(dense), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("expr,wrt,types", CASES[:4])
def test_hvp_against_differences_of_the_gradient(expr: str, wrt: str, types: dict | None,
                                                 rng: np.random.Generator) -> None:
    g = matdiff.grad(expr, wrt=wrt, types=types).compile()
    h = matdiff.hessian(expr, wrt=wrt, types=types)
    vals = {k: v for k, v in _values(expr, rng).items() if k in h.variables}
    v = _direction(h, vals, rng)
    eps = 1e-5
    plus = g(**{**vals, wrt: vals[wrt] + eps * v})
    minus = g(**{**vals, wrt: vals[wrt] - eps * v})
    np.testing.assert_allclose(h.hvp(vals, v), (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-7)


def test_hvp_compiled_once_and_cached(rng: np.random.Generator) -> None:
    h = matdiff.hessian(CASES[0][0], wrt="w")
    vals = _values(CASES[0][0], rng)
    h.hvp(vals, np.ones(4))
    fn = h.__dict__["_hvp_numpy"]
    h.hvp(vals, np.zeros(4))
    assert h.__dict__["_hvp_numpy"] is fn
    assert h.compile(hvp=True) is h.compile(hvp=True)
    assert "def hvp_w(" in h.hvp_source() and "_d_w" in h.hvp_source()


@pytest.mark.parametrize("backend", ["jax", "torch", "dask"])
def test_hvp_on_every_backend(backend: str, rng: np.random.Generator) -> None:
    mod = pytest.importorskip(backend)
    if backend == "jax":
        mod.config.update("jax_enable_x64", True)
    for expr, wrt, types in CASES[:4]:
        h = matdiff.hessian(expr, wrt=wrt, types=types)
        vals = {k: v for k, v in _values(expr, rng).items() if k in h.variables}
        v = _direction(h, vals, rng)
        try:
            f = h.compile(hvp=True, backend=backend)
        except matdiff.MatdiffError as err:  # a backend that cannot compute a kernel says so at compile time
            assert backend in str(err)
            continue
        got = np.asarray(f(v, **vals))
        np.testing.assert_allclose(got, h.hvp(vals, v), rtol=1e-9, atol=1e-10)


def test_hvp_batched(rng: np.random.Generator) -> None:
    h = matdiff.hessian(CASES[0][0], wrt="w")
    vals = _values(CASES[0][0], rng)
    V = rng.standard_normal((3, 4))
    got = h.compile(hvp=True, batch=True)(V, **{k: np.stack([v] * 3) for k, v in vals.items()})
    for i in range(3):
        np.testing.assert_allclose(got[i], h.hvp(vals, V[i]), rtol=1e-12)
    only_v = h.compile(hvp=True, batch=[])(V, **vals)  # the direction alone batched
    np.testing.assert_allclose(only_v, got, rtol=1e-12)


def test_hvp_domain_error(rng: np.random.Generator) -> None:
    h = matdiff.hessian("logdet(S)", wrt="S", types={"S": "spd"})
    with pytest.raises(matdiff.DomainError):
        h.hvp({"S": -np.eye(3)}, np.eye(3))


# ------------------------------------------------------------------ several variables, one generated function

MULTI = [
    ("x'*A*y + norm_fro(A)^2 + sum(exp(y))*x'*x", ["x", "A", "y"], None),
    ("sum(log(1+exp(-y.*(X*w + b)))) + c*w'*w", ["w", "b"], {"b": "scalar"}),
    ("logdet(S) + tr(inv(S)*C) + x'*S*x", ["S", "x"], {"S": "spd"}),
    ("x'*x + sum(y)", ["x", "y"], None),  # the row of y is 0
    ("norm_fro(U*V' - M)^2", ["U", "V"], None),
]


def _multi_values(expr: str, rng: np.random.Generator) -> dict:
    if "y.*" in expr:
        return {"y": rng.choice([-1.0, 1.0], 12), "X": rng.standard_normal((12, 4)), "w": rng.standard_normal(4),
                "b": 0.3, "c": 0.1}
    if "S" in expr:
        m = rng.standard_normal((4, 4))
        return {"S": m @ m.T / 4 + np.eye(4), "C": np.eye(4) + 0.1 * (m + m.T), "x": rng.standard_normal(4)}
    if "U" in expr:
        return {"U": rng.standard_normal((5, 2)), "V": rng.standard_normal((4, 2)), "M": rng.standard_normal((5, 4))}
    return {"x": rng.standard_normal(3), "A": rng.standard_normal((3, 4)), "y": 0.5 * rng.standard_normal(4)}


def _multi_direction(name: str, vals: dict, types: dict | None, rng: np.random.Generator):
    x = np.asarray(vals[name], dtype=float)
    if x.ndim == 0:
        return float(rng.standard_normal())
    v = rng.standard_normal(x.shape)
    return (v + v.T) / 2 if (types or {}).get(name) == "spd" else v


@pytest.mark.parametrize("expr, wrt, types", MULTI)
def test_several_variables_compiled_hvp_matches_differences_of_the_gradients(expr, wrt, types):
    rng = np.random.default_rng(7)
    h = matdiff.hessian(expr, wrt, types)
    g = matdiff.grad(expr, wrt=wrt, types=types)
    fn = h.compile(hvp=True)
    assert h.compile(hvp=True) is fn  # cached
    for _ in range(3):
        vals = _multi_values(expr, rng)
        V = {n: _multi_direction(n, vals, types, rng) for n in wrt}
        got = fn(V, **vals)
        assert set(got) == set(wrt)
        t = 1e-4

        def grads(s: float, vals: dict = vals, V: dict = V) -> dict:
            moved = dict(vals, **{n: vals[n] + s * V[n] for n in wrt})
            return {n: np.asarray(g[n].evaluate(moved), dtype=float) for n in wrt}

        up, down = grads(t), grads(-t)
        for n in wrt:
            want = (up[n] - down[n]) / (2 * t)
            assert np.shape(got[n]) == np.shape(vals[n])
            np.testing.assert_allclose(got[n], want, rtol=1e-6, atol=1e-6 * (1 + np.max(np.abs(want))))
            np.testing.assert_allclose(got[n], h._hvp_interpreted(V, **vals)[n], rtol=1e-12, atol=1e-12)


def test_several_variables_hvp_uses_the_compiled_function_and_agrees_with_the_dense_hessian():
    rng = np.random.default_rng(3)
    expr, wrt = "x'*A*y + norm_fro(A)^2 + sum(exp(y))*x'*x", ["x", "A", "y"]
    h = matdiff.hessian(expr, wrt)
    vals = _multi_values(expr, rng)
    V = {n: rng.standard_normal(np.shape(vals[n])) for n in wrt}
    got = h.hvp(vals, V)
    assert h.__dict__["_hvp_numpy"] is h.compile(hvp=True)
    H = h.evaluate(vals)
    flat = np.concatenate([np.ravel(V[n], order="F") for n in wrt])
    np.testing.assert_allclose(np.concatenate([np.ravel(got[n], order="F") for n in wrt]), H @ flat,
                               rtol=1e-12, atol=1e-12)
    # a direction left out is 0
    part = h.hvp(vals, {"x": V["x"]})
    flat = np.concatenate([V["x"], np.zeros(vals["A"].size), np.zeros(vals["y"].size)])
    np.testing.assert_allclose(np.concatenate([np.ravel(part[n], order="F") for n in wrt]), H @ flat,
                               rtol=1e-12, atol=1e-12)


def test_several_variables_hvp_refuses_an_unknown_direction_and_names_it():
    h = matdiff.hessian("x'*A*y", ["x", "y"])
    with pytest.raises(matdiff.MatdiffError, match="z"):
        h.hvp({"x": np.ones(3), "y": np.ones(4), "A": np.ones((3, 4))}, {"z": np.ones(3)})
    with pytest.raises(matdiff.MatdiffError, match="hvp=True"):
        h.compile(hvp=False)


def test_several_variables_hvp_source_runs_standalone(tmp_path):
    import subprocess
    import sys

    expr, wrt = "sum(log(1+exp(-y.*(X*w + b)))) + c*w'*w", ["w", "b"]
    h = matdiff.hessian(expr, wrt, {"b": "scalar"})
    src = h.hvp_source(standalone=True)
    rng = np.random.default_rng(5)
    vals = _multi_values(expr, rng)
    V = {"w": rng.standard_normal(4), "b": 0.6}
    want = h.hvp(vals, V)
    np.savez(tmp_path / "d.npz", **vals, _d_w=V["w"], _d_b=V["b"])
    script = src + (
        "\nimport numpy as np\nd = dict(np.load('d.npz'))\n"
        "d = {k: (float(v) if v.ndim == 0 else v) for k, v in d.items()}\n"
        "import inspect\nout = hvp(*[d[p] for p in inspect.signature(hvp).parameters])\n"
        "np.save('w.npy', out[0]); np.save('b.npy', np.asarray(out[1]))\n")
    assert "import matdiff" not in src and "from matdiff" not in src
    (tmp_path / "s.py").write_text(script)
    subprocess.run([sys.executable, "-I", "s.py"], cwd=tmp_path, check=True, env={"PYTHONPATH": ""})
    np.testing.assert_allclose(np.load(tmp_path / "w.npy"), want["w"], rtol=1e-12)
    np.testing.assert_allclose(np.load(tmp_path / "b.npy"), want["b"], rtol=1e-12)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_several_variables_compiled_hvp_on_other_backends(backend):
    mod = pytest.importorskip(backend)
    if backend == "jax":
        mod.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(9)
    expr, wrt = "x'*A*y + norm_fro(A)^2 + sum(exp(y))*x'*x", ["x", "A", "y"]
    h = matdiff.hessian(expr, wrt)
    vals = _multi_values(expr, rng)
    V = {n: rng.standard_normal(np.shape(vals[n])) for n in wrt}
    got = h.compile(backend, hvp=True)(V, **vals)
    want = h.hvp(vals, V)
    for n in wrt:
        np.testing.assert_allclose(np.asarray(got[n]), want[n], rtol=1e-10, atol=1e-12)
