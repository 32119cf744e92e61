"""The runtime of generated code is an explicit protocol (matdiff.runtime.protocol), one namespace per backend.

* every registry entry's ``calls`` resolve on every backend available here, each provided by the backend itself
  (or declared reused from NumPy in that backend's ``NUMPY_REUSED``);
* a backend missing a kernel is a MatdiffError when compiling, naming the kernel (never NumPy's instead);
* ``fn.calls`` is in step with what ``fn.lower`` emits.
"""

from __future__ import annotations

import ast
import importlib
from types import SimpleNamespace

import numpy as np
import pytest

import matdiff
from matdiff.api import typed
from matdiff.errors import MatdiffError
from matdiff.functions import entries
from matdiff.numeric.codegen import build, generate
from matdiff.runtime import numpy as numpy_runtime
from matdiff.runtime import protocol

LIBRARY = {"jax": "jax", "torch": "torch", "dask": "dask.array", "cupy": "cupy"}
BACKENDS = ["numpy", "numpy-batch", "jax", "torch", "dask", "cupy"]


def _module(backend):
    """The runtime module of a backend (skips where its library, or for cupy a GPU, is missing here)."""
    if backend in LIBRARY:
        pytest.importorskip(LIBRARY[backend], reason=f"{LIBRARY[backend]} is not installed")
    name = {"numpy": "numpy", "numpy-batch": "batch"}.get(backend, backend)
    mod = importlib.import_module(f"matdiff.runtime.{name}")
    if backend == "cupy":
        try:
            mod.namespace()
        except Exception as err:  # noqa: BLE001 - cupy without a GPU
            pytest.skip(f"cupy: no GPU ({err})")
    return mod


def _leaves(names):
    """The dotted names that are no prefix of another (``_np.linalg.matrix_power``, not ``_np.linalg``, ``_np``)."""
    names = set(names)
    return {n for n in names if not any(m.startswith(n + ".") for m in names)}


# ------------------------------------------------------------------------------------ (a) coverage
def test_the_protocol_lists_every_name_of_every_entry():
    names = protocol.names()
    assert {"_np.exp", "_F.lu", "_F.LU.check", "_K.polar", "_np.linalg.matrix_power", "_arg", "_BadShapes"} <= names
    for fn in entries():
        assert fn.calls, f"{fn.name} names no runtime call"
        assert set(fn.calls) <= names, f"{fn.name} calls {set(fn.calls) - names}, which the protocol does not list"


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_entry_runs_on_every_backend(backend):
    """Each name an entry calls resolves in the backend's namespace, and is the backend's own object: the same
    object as NumPy's only where the backend declares it reused (NUMPY_REUSED) or the protocol shares it."""
    mod = _module(backend)
    ns, ref = mod.namespace(), numpy_runtime.namespace()
    assert protocol.lacks(ns) == [], f"{backend} lacks {protocol.lacks(ns)}"
    reused = set(mod.NUMPY_REUSED)
    declared = protocol.cannot(ns)
    for name, why in declared.items():  # a declaration is a real gap, with a reason, never a name it has
        assert name in protocol.names() and not protocol.resolve(ns, name)[0] and why, name
    for fn in entries():
        for name in fn.calls:
            ok, obj = protocol.resolve(ns, name)
            assert ok or name in declared, f"{backend} has no {name} (needed by {fn.name})"
            if not ok:
                continue
            if backend != "numpy" and name not in protocol.SHARED:
                same = obj is protocol.resolve(ref, name)[1]
                assert same == (name in reused), (
                    f"{backend}: {name} (for {fn.name}) is {'NumPy' if same else 'its own'}'s, but "
                    f"NUMPY_REUSED {'does not list' if same else 'lists'} it")
    for name in reused:  # no stale declaration: each is NumPy's object indeed
        assert protocol.resolve(ns, name)[1] is protocol.resolve(ref, name)[1], f"{backend}: {name} is not reused"
    for name in protocol.SHARED:
        assert ns[name] is ref[name]


@pytest.mark.parametrize("backend", ["numpy-batch", "jax", "torch", "dask", "cupy"])
def test_no_backend_starts_from_numpys_namespace(backend):
    """Every protocol name of a backend other than NumPy is its own, or declared: nothing is NumPy's by default."""
    mod = _module(backend)
    ns, ref = mod.namespace(), numpy_runtime.namespace()
    borrowed = {n for n in _leaves(protocol.names()) - protocol.SHARED
                if protocol.resolve(ns, n)[1] is protocol.resolve(ref, n)[1]}
    assert borrowed == set(mod.NUMPY_REUSED)


# ---------------------------------------------------------------------------- (b) missing kernels
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_declared_gap_is_an_error_at_compile_time_with_its_reason(backend):
    """A general logm on a backend without one: refused when compiling, with the reason; symmetric runs."""
    pytest.importorskip(backend)
    with pytest.raises(matdiff.MatdiffError, match=r"cannot compute _K\.logm .*_K\.logm_frechet .*no matrix log"):
        matdiff.compile("tr(logm(X)*C)", wrt="X", backend=backend)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 3))
    S, C = A @ A.T + 3 * np.eye(3), rng.standard_normal((3, 3))
    _, ref = matdiff.compile("tr(logm(S)*C)", wrt="S", types={"S": "spd"})(S=S, C=C)
    _, got = matdiff.compile("tr(logm(S)*C)", wrt="S", types={"S": "spd"}, backend=backend)(S=S, C=C)
    assert np.allclose(np.asarray(got["S"]), ref["S"], rtol=1e-5, atol=1e-6)  # JAX computes in float32


def test_a_missing_kernel_is_an_error_at_compile_time(monkeypatch):
    r = matdiff.grad("norm_nuc(X)", "X")
    ns = numpy_runtime.namespace()
    kernels = SimpleNamespace(**{k: getattr(ns["_K"], k) for k in ("sign", "top_sv", "norm_fro", "norm2", "norm_nuc")})
    monkeypatch.setattr(numpy_runtime, "namespace", lambda: {**ns, "_K": kernels})  # _K.polar removed
    with pytest.raises(MatdiffError, match=r"numpy backend does not provide _K\.polar \(needed by polar\)"):
        r.compile()
    with pytest.raises(MatdiffError, match=r"_K\.polar"):
        build(r.source(), "grad_X", "numpy")


def test_a_missing_helper_names_the_function_that_needs_it(monkeypatch):
    ns = numpy_runtime.namespace()
    del ns["_expit"]
    monkeypatch.setattr(numpy_runtime, "namespace", lambda: dict(ns))
    with pytest.raises(MatdiffError, match=r"does not provide _expit \(needed by sigmoid\)"):
        matdiff.grad("sum(sigmoid(x))", "x").compile()
    matdiff.grad("x'*x", "x").compile()  # code that does not call it still compiles


def test_a_missing_kernel_of_dask_is_not_replaced_by_numpys(monkeypatch):
    dask_runtime = _module("dask")
    monkeypatch.delattr(dask_runtime.K, "top_sv")
    with pytest.raises(MatdiffError, match=r"dask backend does not provide _K\.top_sv \(needed by top_sv\)"):
        matdiff.grad("norm2(X)", "X").compile(backend="dask")


def test_a_missing_kernel_of_an_array_api_backend(monkeypatch):
    _module("jax")
    from matdiff.runtime import _arrayapi

    monkeypatch.delattr(_arrayapi.Factorizations, "adj_d")
    with pytest.raises(MatdiffError, match=r"jax backend does not provide _F\.adj_d \(needed by adj_d\)"):
        matdiff.grad("tr(adj(X)*A)", "X").compile(backend="jax")


def test_a_missing_kernel_of_the_batch_runtime(monkeypatch):
    batch_runtime = _module("numpy-batch")
    monkeypatch.delattr(batch_runtime.NP.linalg, "matrix_power")
    r = matdiff.grad("tr(X^3)", "X")
    assert "_np.linalg.matrix_power" in r.source()
    r.compile()  # NumPy's runtime has it
    with pytest.raises(MatdiffError, match=r"numpy \(batched\) backend does not provide _np\.linalg\.matrix_power"):
        r.compile(batch=True)


def test_unknown_backend_and_available():
    with pytest.raises(MatdiffError, match="unknown backend"):
        build("def f():\n    return 1\n", "f", "nosuch")
    avail = matdiff.runtime.available()
    assert avail["numpy"] is True and set(avail) == set(matdiff.runtime.BACKENDS)


# ----------------------------------------------------------------- (c) calls in step with lowering
FRAME = {  # what generate writes around any expression: arguments, shape test, inputs' check, a scalar result, guards
    "_arg", "_arg0", "_BadShapes", "_finite_inputs", "_scalar", "_np.reshape", "_check", "_F.LU.check", "_nonzero"}
OPERATORS = {  # what the lowering of the operators (not of a function) calls: products, powers, eye, ones, solves
    "_np.eye", "_np.ones", "_np.outer", "_np.diag", "_np.trace", "_np.linalg.matrix_power", "_dot", "_F.inv", "_F.lu",
    "_F.chol", "_F.solve", "_F.solve_t", "_expit", "_check_positive"}
PROBE_ARGS = [("a", {}), ("x", {}), ("X", {"X": "matrix(3,3)"}), ("S", {"S": "spd(3)"}), ("X", {"X": "matrix(3,2)"})]
CONTEXT = [  # expressions where a function's code takes another form (a solve, a stable form, a scalar)
    ("inv(X)*Y", {"X": "matrix(3,3)", "Y": "matrix(3,2)"}), ("Y'*inv(X)", {"X": "matrix(3,3)", "Y": "matrix(3,2)"}),
    ("inv(S)*Y", {"S": "spd(3)", "Y": "matrix(3,2)"}), ("log(1 + exp(x))", {}), ("logdet(a)", {}), ("inv(a)", {}),
    ("tr(X'*Y)", {"X": "matrix(3,2)", "Y": "matrix(3,2)"}), ("norm2(x) + norm_nuc(x) + norm_fro(X)", {}),
    ("sign(a) + top_sv(a) + polar(a)", {}), ("adj_d(X, Y)", {"X": "matrix(3,3)", "Y": "matrix(3,3)"}),
    ("adj_d(S, Y)", {"S": "spd(3)", "Y": "matrix(3,3)"}), ("det(S) + adj(S)", {"S": "spd(3)"})]


def _functions(e):
    out, stack = set(), [e]
    while stack:
        n = stack.pop()
        if getattr(n, "fn", None) is not None:
            out.add(n.fn)
        stack.extend(n.children)
    return out


def _emitted(t, vs):
    source = generate("probe", [t], vs, guard_of=t)
    return _leaves(protocol.uses(ast.parse(source))), source


def _probes(fn):
    """fn of each probe argument (repeated to its arity; a number last where it takes an exponent: powm_d)."""
    for a, types in PROBE_ARGS:
        for args in (", ".join([a] * fn.arity), ", ".join([a] * (fn.arity - 1) + ["0.5"])):
            try:
                yield typed(f"{fn.name}({args})", types)
                break
            except MatdiffError:  # not defined there (det of a vector, a non-square inverse)
                continue


@pytest.mark.parametrize("fn", entries(), ids=lambda f: f.name)
def test_calls_cover_what_the_lowering_emits(fn):
    """The code of f(argument) for a scalar, vector, square, spd and non-square argument calls only names of
    ``fn.calls`` (besides the frame every generated function has)."""
    tried = 0
    for t, vs in _probes(fn):
        tried += 1
        got, source = _emitted(t, vs)
        extra = got - set(fn.calls) - FRAME
        assert not extra, f"{fn.name}: the code calls {sorted(extra)}, not in its calls {fn.calls}:\n{source}"
    assert tried, f"no probe argument fits {fn.name}"


def test_calls_are_emitted_somewhere_and_contexts_stay_in_step():
    """In context (solves, stable forms, scalars) the code calls only names of the functions used, the operators
    and the frame; and every name some entry lists in its calls is emitted by some probe (no stale entries)."""
    emitted: set[str] = set()
    for fn in entries():
        for t, vs in _probes(fn):
            emitted |= _emitted(t, vs)[0]
    for text, types in CONTEXT:
        t, vs = typed(text, types)
        got, source = _emitted(t, vs)
        allowed = set().union(*(f.calls for f in _functions(t))) | FRAME | OPERATORS
        assert got <= allowed, f"{text}: {sorted(got - allowed)} called, not listed:\n{source}"
        emitted |= got
    listed = set().union(*(fn.calls for fn in entries()))
    assert listed <= emitted, f"listed in calls but never emitted: {sorted(listed - emitted)}"


def test_generated_code_runs_on_the_namespace_it_was_checked_against():
    r = matdiff.grad("logdet(S) + norm_nuc(X) + sum(sigmoid(x))", "S", {"S": "spd(3)", "X": "matrix(3,2)"})
    f = r.compile()
    raw = build(r.source(), "grad_S", "numpy")
    assert raw.__matdiff_runtime__ >= {"_F.chol", "_F.inv", "_arg"}
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 3))
    vals = {"S": A @ A.T + 3 * np.eye(3), "X": rng.standard_normal((3, 2)), "x": rng.standard_normal(4)}
    np.testing.assert_allclose(f(**vals), np.linalg.inv(vals["S"]), rtol=1e-10)
