"""Generated code that pastes (issue 18, item 3): ``source(standalone=True)`` runs where only NumPy and SciPy are
installed. Each source runs in a fresh ``python -I`` process from a temporary folder, with matdiff made impossible
to import; its numbers are compared with ``evaluate``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import matdiff
from matdiff.numeric.standalone import standalone_source

RUNNER = r'''
import importlib.abc, json, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "matdiff" or name.startswith("matdiff."):
            raise ImportError("matdiff is not installed here")
sys.meta_path.insert(0, Block())
import numpy as np
cases = json.load(open("cases.json"))
out = {}
for i, case in enumerate(cases):
    ns = {}
    exec(compile(open(f"case{i}.py").read(), f"case{i}.py", "exec"), ns)
    args = {k: np.load(f"case{i}_{k}.npy") for k in case["args"]}
    got = ns[case["name"]](**args)
    parts = got if isinstance(got, tuple) else (got,)
    for j, p in enumerate(parts):
        np.save(f"out{i}_{j}.npy", np.asarray(p))
    out[i] = len(parts)
assert not any(m == "matdiff" or m.startswith("matdiff.") for m in sys.modules), "matdiff was imported"
json.dump(out, open("done.json", "w"))
'''


def _spd(rng: np.random.Generator, n: int) -> np.ndarray:
    b = rng.standard_normal((n, n))
    return b @ b.T / n + np.eye(n)


GRADIENTS = [
    ("sum(log(1+exp(-y.*(X*w)))) + c*w'*w", "w", None),
    ("logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"}),
    ("x'*inv(A)*x", "A", None),
    ("det(A)", "A", None),
    ("logdet(A)", "A", None),
    ("norm_fro(A*X - B)^2", "X", None),
    ("norm2(A*x - h)", "x", None),
    ("norm_nuc(X)", "X", None),
    ("norm2(X)", "X", None),
    ("log(sum(exp(x)))", "x", None),
    ("softmax(x)'*h", "x", None),
    ("tr(expm(X)*B)", "X", None),
    ("sum(sqrt(x.^2 + 1)) + sum(tanh(x))", "x", None),
    ("eigmax(S)", "S", {"S": "spd"}),
]


def _values(names: list[str], rng: np.random.Generator, n: int = 4) -> dict:
    pool = {"y": rng.choice([-1.0, 1.0], 3 * n), "X": rng.standard_normal((n, n)) / 2, "w": rng.standard_normal(n),
            "c": 0.3, "S": _spd(rng, n), "C": _spd(rng, n), "A": np.eye(n) + rng.standard_normal((n, n)) / 4,
            "B": rng.standard_normal((n, n)), "x": rng.standard_normal(n), "h": rng.standard_normal(n)}
    out = {k: pool[k] for k in names}
    if "y" in names:
        out["X"] = rng.standard_normal((3 * n, n))
    return out


def _run(cases: list[tuple[str, str, dict]], tmp: Path) -> list[list[np.ndarray]]:
    meta = []
    for i, (src, name, vals) in enumerate(cases):
        (tmp / f"case{i}.py").write_text(src)
        for k, v in vals.items():
            np.save(tmp / f"case{i}_{k}.npy", np.asarray(v, dtype=float))
        meta.append({"name": name, "args": list(vals)})
    (tmp / "cases.json").write_text(json.dumps(meta))
    (tmp / "runner.py").write_text(RUNNER)
    proc = subprocess.run([sys.executable, "-I", "runner.py"], cwd=tmp, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = json.loads((tmp / "done.json").read_text())
    return [[np.load(tmp / f"out{i}_{j}.npy") for j in range(done[str(i)])] for i in range(len(cases))]


def test_standalone_sources_run_without_matdiff(tmp_path: Path, rng: np.random.Generator) -> None:
    cases, refs = [], []
    for expr, wrt, types in GRADIENTS:
        r = matdiff.grad(expr, wrt=wrt, types=types)
        vals = _values(list(r.variables), rng)
        if expr == "logdet(A)":
            vals["A"] = _spd(rng, 4)
        src = r.source(standalone=True)
        assert "matdiff" not in "\n".join(l for l in src.splitlines() if l.startswith(("import", "from")))
        cases.append((src, r.program().name, vals))
        refs.append([r.evaluate(vals)])
    # value and gradient, a Hessian, an hvp
    fg = matdiff.compile("logdet(S) + tr(inv(S)*C)", ["S"], types={"S": "spd"})
    vals = _values(["S", "C"], rng)
    v, g = fg(S=vals["S"], C=vals["C"])
    cases.append((fg.source(standalone=True), "value_and_grad", vals))
    refs.append([v, g["S"]])
    h = matdiff.hessian("x'*A*x + log(sum(exp(x)))", wrt="x")
    vals = _values(["x", "A"], rng)
    cases.append((h.source(standalone=True), h.program().name, vals))
    refs.append([h.evaluate(vals)])
    d = rng.standard_normal(4)
    cases.append((h.hvp_source(standalone=True), h.hvp_program().name, {**vals, "_d_x": d}))
    refs.append([h.hvp(vals, d)])
    got = _run(cases, tmp_path)
    for (src, name, _), g, ref in zip(cases, got, refs):
        assert len(g) == len(ref), name
        for a, b in zip(g, ref):
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-9, atol=1e-12, err_msg=src[-600:])


def test_standalone_raises_its_own_domain_error(tmp_path: Path) -> None:
    src = matdiff.grad("logdet(S)", wrt="S", types={"S": "spd"}).source(standalone=True)
    code = src + "\ntry:\n    grad_S(-np.eye(3))\nexcept ValueError as e:\n    print(type(e).__name__, e)\n"
    (tmp_path / "m.py").write_text("import numpy as np\n" + code)
    proc = subprocess.run([sys.executable, "-I", "m.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("DomainError") and "positive definite" in proc.stdout


def test_standalone_source_function_of_a_result() -> None:
    r = matdiff.grad("x'*A*x", wrt="x")
    assert standalone_source(r.source()) == r.source(standalone=True)
    assert r.source(standalone=True).endswith(r.source())


def test_defined_kernel_has_no_standalone_source() -> None:
    from matdiff.functions import registry

    matdiff.define("cube_sa(U)", numpy=lambda u: u**3, differential="3*U.^2.*dU", elementwise=True)
    try:
        fg = matdiff.compile("sum(cube_sa(x))", ["x"])
        assert "_D.cube_sa" in fg.source()
        with pytest.raises(matdiff.MatdiffError, match="cube_sa"):
            fg.source(standalone=True)
    finally:
        registry.unregister("cube_sa")


def test_standalone_source_of_results_for_the_cli_and_the_page() -> None:
    from matdiff.results.compiled import standalone_source as of_result

    h = matdiff.hessian("sum(log(1+exp(-y.*(X*w)))) + c*w'*w", wrt="w")
    assert of_result(h, hvp=True) == h.hvp_source(standalone=True)
    assert of_result(h) == h.source(standalone=True)
    assert of_result(h.program()) == h.source(standalone=True)
    assert of_result(h.source()) == h.source(standalone=True)
