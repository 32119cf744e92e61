"""The function registry: every entry complete, every built-in reachable from the text, and its
evaluation, its generated code and its differential agreeing at random points."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.functions import entries, lookup, registry

BUILTINS = [fn for fn in entries() if fn.builtin]
NAMES = [fn.name for fn in BUILTINS]


def test_the_builtins_are_the_language():
    assert set(NAMES) >= set("tr det logdet inv adj norm_fro norm2 norm_nuc norm1 sum diag exp log sin cos tanh "
                             "sqrt abs sign polar top_sv sigmoid adj_d".split())
    assert {fn.family for fn in BUILTINS} == {"elementwise", "linalg", "norms", "reductions", "spectral", "matfun"}


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_has_every_field(name):
    fn = lookup(name)
    assert fn.name == name and fn.arity >= 1 and fn.doc or fn.family == "elementwise"
    assert callable(fn.shape)
    assert fn.rule is not None and callable(fn.rule[1])
    assert fn.latex is not None
    assert fn.lower is not None  # its one numeric implementation: evaluation executes the lowering
    assert not hasattr(fn, "evaluate")
    assert fn.calls, f"{name} names no runtime call"
    assert fn.analytic in ("yes", "vectors", "no")
    if fn.linear_in is not None:
        assert fn.adjoint is not None, f"{name} is linear but has no adjoint"
    if fn.elementwise:
        assert fn.same_shape and fn.transpose_inside


@pytest.mark.parametrize("name", NAMES)
def test_every_function_parses_prints_and_re_parses(name):
    fn = lookup(name)
    args = ", ".join("AEBCD"[: fn.arity])
    e = matdiff.parse(f"{name}({args})")
    assert e.fn is fn and matdiff.parse(str(e)) == e


def _value(kind: str, rng: np.random.Generator):
    if kind == "scalar":
        return float(rng.uniform(0.5, 1.5))
    if kind == "vector":
        return rng.uniform(0.5, 1.5, 4)
    # a well-conditioned matrix with positive entries and positive determinant, distinct singular values
    return np.diag([3.0, 2.0, 1.5, 1.0]) + 0.1 * rng.uniform(0.5, 1.5, (4, 4))


CASES = [(fn.name, kind) for fn in BUILTINS if fn.arity == 1 for kind in ("scalar", "vector", "matrix")]


@pytest.mark.parametrize("name, kind", CASES)
def test_evaluation_code_and_differential_agree(name, kind, rng):
    """f(X) evaluated, compiled, and its differential <d/dt f(X + tV)> against finite differences."""
    fn = lookup(name)
    types = {"X": kind}
    try:
        tree, _ = matdiff.api.typed(f"{name}(X)", types)
    except matdiff.ShapeError:
        pytest.skip(f"{name} takes no {kind}")  # tr of a vector, ...
    X = _value(kind, rng)
    value = matdiff.evaluate(tree, {"X": X})
    if not fn.rule[0]:  # polar, top_sv: derivatives already (no rule of their own): their values
        U, s, Vh = np.linalg.svd(np.atleast_2d(X) if kind != "vector" else X[:, None], full_matrices=False)
        expect = (U @ Vh if name == "polar" else np.outer(U[:, 0], Vh[0])) if kind != "scalar" else np.sign(X)
        assert np.allclose(value, expect.reshape(np.shape(value)), rtol=1e-10)
        return
    compiled = matdiff.compile(f"sum({name}(X))" if not tree.is_scalar else f"{name}(X)", wrt="X", types=types)
    got, _ = compiled(X=X)
    assert np.allclose(got, np.sum(value), rtol=1e-12)
    d = matdiff.derivative(tree, "X", types)
    V = rng.standard_normal(np.shape(X)) if kind != "scalar" else 0.7
    h = 1e-5
    numeric = (matdiff.evaluate(tree, {"X": X + h * V}) - matdiff.evaluate(tree, {"X": X - h * V})) / (2 * h)
    assert np.allclose(d.jvp({"X": X}, V), numeric, rtol=1e-6, atol=1e-8)


def test_defining_a_function_adds_one_entry_and_removing_it_restores(rng):
    before = registry.names()
    fn = matdiff.define("double_it(U) = 2*U")
    assert registry.names() == sorted(before + ["double_it"]) and fn.family == "defined" and not fn.builtin
    registry.unregister("double_it")
    assert registry.names() == before


def test_scoped_definitions_are_undone():
    with registry.scoped():
        matdiff.define("tmp_fn(U) = U.^2")
        assert matdiff.evaluate("tmp_fn(a)", {"a": 3.0}) == 9.0
    with pytest.raises(matdiff.ParseError):
        matdiff.parse("tmp_fn(a)")


def test_logsumexp_is_stable_and_its_hessian_is_the_softmax_form(rng):
    x = np.array([1000.0, 1001.0, 999.0]) + rng.uniform(0, 1, 3)
    s = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    assert matdiff.evaluate("logsumexp(x)", {"x": x}) == pytest.approx(x.max() + np.log(np.exp(x - x.max()).sum()))
    r = matdiff.grad("logsumexp(x)", wrt="x")
    assert str(r.gradient) == "softmax(x)"
    assert np.allclose(r.evaluate({"x": x}), s) and np.allclose(r.compile()(x=x), s)
    H = matdiff.hessian("logsumexp(x)", wrt="x").evaluate({"x": x})
    assert np.allclose(H, np.diag(s) - np.outer(s, s))
    X = rng.standard_normal((3, 4))
    value, grads = matdiff.compile("logsumexp(X)", wrt="X", batch=True)(X=np.stack([X, 2 * X]))
    assert np.allclose(value, [np.log(np.exp(X).sum()), np.log(np.exp(2 * X).sum())])
