"""The API's side of the page of issue 18: formulas cut into lines, typography, types, shape-error positions,
the Jacobian's code and check, and standalone code (run with matdiff unimportable)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

pytest.importorskip("latex2mathml")

from matdiff.display.render import mathml, mathml_lines  # noqa: E402
from matdiff.web.errors import _span  # noqa: E402
from matdiff.web.jobs import run_job  # noqa: E402


def job(name: str, expr: str, wrt: str | None = None, types: dict[str, str] | None = None,
        seed: int | None = None) -> tuple[int, dict[str, Any]]:
    return run_job(name, {"expr": expr, "wrt": wrt, "types": types or {}, "seed": seed, "definitions": []})


def test_a_long_formula_comes_cut_at_its_top_level_plus_minus_and_equals() -> None:
    status, r = job("grad", "logdet(S) + tr(inv(S)*C) - 0.5*x'*S*x", "S", {"S": "spd"})
    assert status == 200
    lines = r["equation"]["lines"]
    assert len(lines) >= 4 and all(m.startswith("<math") for m in lines)
    assert all('<mo form="infix">' in m.split("<mrow>", 1)[1][:30] for m in lines[1:])  # each goes on with an operator
    # nothing cut inside parentheses: tr(...) stays whole
    tr = [m for m in lines if ">tr<" in m]  # tr(inv(S)*C) on the left: one piece, its inner product whole
    assert len(tr) == 1 and tr[0].count("form=\"prefix\">(") == tr[0].count("form=\"postfix\">)")
    assert r["equation"]["mathml"].count("<math") == 1 and 'alttext="grad_S ' in r["equation"]["mathml"]


def test_typography_of_the_mathml() -> None:
    m = mathml(r"\det\left(A\right) = -x + \left(\frac{1}{2}\,x\right)", display=True)
    # a fence around letters does not stretch (Chromium gives a stretched one wide side bearings)
    assert '<mo stretchy="false" fence="true" form="prefix">(</mo><mi>A</mi>' in m
    assert '<mo stretchy="true" fence="true" form="prefix">(</mo><mfrac>' in m  # a fraction: it does
    assert '<mo>=</mo><mo form="prefix" lspace="0" rspace="0">&#x02212;</mo><mi>x</mi>' in m  # a sign
    assert "<mi>det</mi>" in m
    # a binary minus stays binary; a sign after nabla_x is a sign
    assert '<mi>a</mi><mo>&#x02212;</mo><mi>b</mi>' in mathml("a - b")
    assert 'form="prefix"' in mathml(r"\nabla_{x}\, -x^{\top}\,x")
    # no operator spacing in a script
    script = mathml(r"S^{-\top}").split("<msup>", 1)[1]
    assert script.count("<mo ") == 2 and script.count('lspace="0" rspace="0"') == 2
    assert mathml_lines("a - b") == [mathml("a - b", display=True)] or len(mathml_lines("a - b")) == 2


def test_one_half_is_a_fraction_in_the_page() -> None:
    _, r = job("grad", "0.5*x'*A*x", "x")
    assert "<mfrac><mrow><mn>1</mn></mrow><mrow><mn>2</mn></mrow></mfrac>" in r["equation"]["mathml"]
    shown = r["equation"]["mathml"].split(">", 1)[1]  # the alttext (the text form) aside
    assert "0.5" not in shown and not any("0.5" in m for m in r["equation"]["lines"])


def test_the_types_assumed_come_with_the_result() -> None:
    _, r = job("grad", "norm2(A*x - b)^2", "x")
    types = {t["name"]: t for t in r["types"]}
    assert types["b"]["from"] == "use" and types["b"]["type"].startswith("vector") and types["b"]["why"] == "A*x - b"
    assert types["A"]["from"] == "name" and types["A"]["type"].startswith("matrix")
    _, r = job("grad", "x'*S*x", "x", {"S": "spd"})
    assert {t["name"]: t["from"] for t in r["types"]} == {"x": "name", "S": "declared"}


@pytest.mark.parametrize("expr, types, marked, names", [
    ("det(x*eye - A)", {"x": "vector"}, "x*eye - A", ["x", "A"]),
    ("det(x*eye-A)", {"x": "vector"}, "x*eye-A", ["x", "A"]),
    ("x'*A*y", {"x": "vector(3)", "A": "matrix(2,2)"}, "x'*A", ["x", "A", "y"]),
    ("X + x", {"x": "vector", "X": "matrix"}, "X + x", ["X", "x"]),
])
def test_a_shape_error_is_placed_on_the_operands_it_names(expr: str, types: dict[str, str], marked: str,
                                                          names: list[str]) -> None:
    status, body = job("variables", expr, None, types)
    err = body["error"]
    assert status == 400 and err["kind"] == "ShapeError"
    assert expr[err["position"]:err["end"]] == marked and err["field"] == "expr"
    # and the variables come along, so that the page keeps its type selectors
    assert [v["name"] for v in err["variables"]] == names
    assert all(v["kind"] == types.get(v["name"], v["default_kind"]).split("(")[0] for v in err["variables"])


def test_a_shape_error_with_its_own_position_keeps_it() -> None:
    from matdiff.errors import ShapeError

    err = ShapeError("cannot multiply x' (row vector) by A (matrix)")
    err.position, err.end = 2, 5  # type: ignore[attr-defined]
    assert _span(err, "a*x'*A") == (2, 5)
    assert _span(ShapeError("the sizes differ"), "a*b") is None  # nothing named: no mark


def test_the_jacobian_has_code_and_a_check() -> None:
    status, r = job("jacobian", "A*X*B", "X")
    assert status == 200 and "def jvp_X(A, X, B, _d_X)" in r["code"]
    assert "import numpy as _np" in r["code"] and "import matdiff" not in r["code"]
    assert r["latex"] and r["differential"]["lines"]
    status, c = job("check", "A*X*B", "X", seed=5)
    assert status == 200 and c["ok"] and c["what"] == "jvp" and c["seed"] == 5 and c["max_rel_error"] < 1e-8
    status, c = job("check", "softmax(x)", "x", seed=1)
    assert status == 200 and c["ok"], c


def test_the_check_uses_the_seed_given() -> None:
    _, a = job("check", "norm_fro(X)", "X", seed=3)
    _, b = job("check", "norm_fro(X)", "X", seed=4)
    assert a["seed"] == 3 and b["seed"] == 4 and a["details"] != b["details"]


BLOCK_MATDIFF = "import sys; sys.modules['matdiff'] = None  # only NumPy and SciPy\n"


@pytest.mark.parametrize("endpoint, expr, wrt, call", [
    ("grad", "sum(log(1 + exp(-y.*(X*w))))", "w",
     "import numpy as np; r = np.random.default_rng(0)\n"
     "X = r.standard_normal((5, 3)); y = r.standard_normal(5); w = r.standard_normal(3)\n"
     "print(value_and_grad(y, X, w))"),
    ("jacobian", "A*X*B", "X",
     "import numpy as np; A = np.eye(2); X = np.ones((2, 3)); B = np.ones((3, 2))\n"
     "print(jvp_X(A, X, B, X))"),
])
def test_the_copied_code_runs_with_only_numpy_and_scipy(endpoint: str, expr: str, wrt: str, call: str) -> None:
    _, r = job(endpoint, expr, wrt)
    script = BLOCK_MATDIFF + r["code"] + "\n" + textwrap.dedent(call)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "import matdiff" not in r["code"] and "from matdiff" not in r["code"]
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("expr, kind, kinds", [
    ("norm2(A*x - y)^2 + lam*x'*x", "scalar", {"lam": "scalar", "x": "vector"}),  # a loss: lam is a scalar
    ("sum(log(1+exp(-y.*(X*w)))) + lam*w'*w", "scalar", {"lam": "scalar", "w": "vector"}),
    ("lam*x'*x", "vector", {"lam": "vector"}),  # nothing is broadcast: the letters decide
    ("exp(x) + c", "vector", {"x": "vector", "c": "vector"}),  # c takes x's kind from use (no broadcast)
    ("x - norm2(x)", "vector", {"x": "vector"}),  # a scalar reading would change x of the scalar term: not taken
    ("x - 1", "vector", {"x": "vector"}),  # a constant broadcast is no hint
])
def test_the_page_reads_a_loss_with_a_misleading_letter_as_a_scalar(expr: str, kind: str,
                                                                      kinds: dict[str, str]) -> None:
    status, r = job("variables", expr)
    assert status == 200, r
    assert r["output"]["kind"] == kind
    got = {v["name"]: v["kind"] for v in r["variables"]}
    assert {n: got[n] for n in kinds} == kinds
    if kind == "scalar":  # and the gradient the page then asks for reads it the same way
        status, g = job("grad", expr)
        assert status == 200, g
        assert {v["name"]: v["kind"] for v in g["variables"]} == got
