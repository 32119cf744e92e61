"""The recorded derivations: rule names in textbook order, text and LaTeX, and each step is true.

Besides the names, every fully expanded step (no pending d(...)) is checked numerically: with
the differential dX replaced by a direction D, the step's right-hand side must equal the
directional derivative of f along D.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import matdiff
from conftest import directional_derivative, random_direction, same_up_to_spacing, well_conditioned

SEED_DERIVATIONS = {
    "norm_fro": (
        "norm_fro(X)",
        "X",
        None,
        [
            "chain rule",
            "d tr(U) = tr(dU)",
            "product rule",
            "d(U') = (dU)'",
            "tr(M') = tr(M)",
            "like terms inside the trace combined",
            "compare with",
        ],
    ),
    "bilinear": ("x'*A*y", "A", None, ["linearity", "a scalar is its own trace", "compare with"]),
    "det": ("det(A)", "A", None, ["Jacobi", "compare with"]),
    "charpoly": ("det(x*eye - A)", "x", {"x": "scalar"}, ["Jacobi", "linearity", "compare with"]),
}


def rules_in_order(steps, markers: list[str]) -> list[int]:
    """The index of the step that names each marker, each after the previous one; fails if one is missing."""
    found = []
    start = 0
    for m in markers:
        idx = next((i for i in range(start, len(steps)) if m in steps[i].rule), None)
        assert idx is not None, (
            f"no step after step {start} names {m!r}; the rules are {[s.rule for s in steps]}"
        )
        found.append(idx)
        start = idx
    return found


@pytest.mark.parametrize("key", list(SEED_DERIVATIONS))
def test_seed_rules_in_textbook_order(key):
    expr, wrt, types, markers = SEED_DERIVATIONS[key]
    r = matdiff.grad(expr, wrt, types)
    rules_in_order(r.steps, markers)


def test_norm_fro_derivation_uses_each_rule_in_its_own_step():
    r = matdiff.grad("norm_fro(X)", "X")
    idx = rules_in_order(r.steps, SEED_DERIVATIONS["norm_fro"][3])
    # chain rule, d tr(U) = tr(dU), product rule, d(U') = (dU)' are four successive rewriting steps
    assert idx[:4] == sorted(set(idx[:4]))
    assert idx[-1] == len(r.steps) - 1


@pytest.mark.parametrize("key", list(SEED_DERIVATIONS))
def test_each_step_has_text_and_latex(key):
    expr, wrt, types, _ = SEED_DERIVATIONS[key]
    r = matdiff.grad(expr, wrt, types)
    assert len(r.steps) >= 2
    for s in r.steps:
        assert isinstance(s.text, str) and s.text.strip()
        assert isinstance(s.latex, str) and s.latex.strip()
        assert isinstance(s.rule, str)
        assert str(s) == s.text
    assert r.steps_text == "\n".join(s.text for s in r.steps)
    for s in r.steps:
        assert s.text in r.steps_text
    # the first step states df = d(f)
    assert r.steps[0].text.startswith("df")
    assert r.steps[0].latex.startswith(r"\mathrm{d}f")


@pytest.mark.parametrize("key", list(SEED_DERIVATIONS))
def test_last_step_shows_the_gradient(key):
    expr, wrt, types, _ = SEED_DERIVATIONS[key]
    r = matdiff.grad(expr, wrt, types)
    last = r.steps[-1]
    assert "compare with" in last.rule
    assert same_up_to_spacing(last.text.split("\n")[0].split("    [")[0], f"grad_{wrt} f = {r.gradient}")
    assert r.latex in last.latex
    assert rf"\nabla_{{{wrt}}}" in last.latex


def test_expected_gradients_of_the_seed():
    assert same_up_to_spacing(str(matdiff.grad("norm_fro(X)", "X").gradient), "X/norm_fro(X)")
    assert same_up_to_spacing(str(matdiff.grad("x'*A*y", "A").gradient), "x*y'")
    assert same_up_to_spacing(str(matdiff.grad("det(A)", "A").gradient), "adj(A)'")
    g = str(matdiff.grad("det(x*eye - A)", "x", {"x": "scalar"}).gradient)
    assert "adj" in g and "tr" in g, g  # tr(adj(x*eye - A)), not det*tr(inv): right at eigenvalues


def test_steps_latex_block():
    r = matdiff.grad("norm_fro(X)", "X")
    block = r.steps_latex
    assert block.startswith(r"\begin{align*}") and block.rstrip().endswith(r"\end{align*}")
    assert block.count(r"\\") == len(r.steps) - 1
    assert r"\operatorname{tr}" in block
    # rule names are escaped for \text{...}: no bare _ or ^ inside
    for m in re.finditer(r"\\text\{((?:[^{}]|\\\{|\\\})*)\}", block):
        assert not re.search(r"(?<!\\)_", m.group(1)), m.group(1)


def test_repr_latex():
    r = matdiff.grad("x'*A*y", "A")
    s = r._repr_latex_()
    assert s.startswith("$") and s.endswith("$")
    assert r"\nabla_{A}" in s and r.latex in s
    assert "x" in str(r) and "y'" in str(r)


def test_differential_is_the_trace_form():
    r = matdiff.grad("x'*A*y", "A")
    d = str(r.differential)
    assert "dA" in d and "tr(" in d
    r = matdiff.grad("x'*A*x", "x")
    assert "dx" in str(r.differential)
    assert "tr(" not in str(r.differential)  # g'*dx for a vector


def test_symmetric_variable_has_a_symmetric_part_step():
    r = matdiff.grad("tr(A*S)", "S", {"S": "spd"})
    texts = [s.text for s in r.steps]
    assert any("sym" in t and "(M + M')/2" in t for t in texts), texts
    assert any("2M - diag(M)" in t for t in texts)  # says why not the often-quoted form


# ---------------------------------------------------------------------------- each step is true


_STEP_LINE = re.compile(r"^(?P<lhs>df|\s*)\s*=\s*(?P<rhs>.*?)(?:    \[.*\])?$")


def _step_rhs(step) -> str | None:
    """The right-hand side of a step of the derivation proper (df = ..., or the indented = ...)."""
    first = step.text.split("\n")[0]
    m = _STEP_LINE.match(first)
    if not m:
        return None
    return m.group("rhs")


STEP_CASES = [
    ("norm_fro(X)", "X", None),
    ("x'*A*y", "A", None),
    ("det(A)", "A", None),
    ("det(x*eye - A)", "x", {"x": "scalar"}),
    ("x'*A*x", "x", None),
    ("logdet(A) + tr(A*B)", "A", None),
    ("tr(X*A*X')", "X", None),
    ("sum(exp(A*x)) + norm2(x)", "x", None),
]


def _values(rng, expr, types):
    n = 3
    vals = {
        "X": rng.standard_normal((n, n)),
        "A": well_conditioned(rng, n),
        "B": rng.standard_normal((n, n)),
        "x": rng.standard_normal(n),
        "y": rng.standard_normal(n),
    }
    if "logdet" in expr and np.linalg.det(vals["A"]) < 0:
        vals["A"][0] *= -1
    if (types or {}).get("x") == "scalar":
        vals["x"] = float(rng.standard_normal())
    return {k: v for k, v in vals.items() if re.search(rf"\b{k}\b", expr)}


@pytest.mark.parametrize("expr, wrt, types", STEP_CASES, ids=[c[0] for c in STEP_CASES])
def test_every_expanded_step_equals_the_directional_derivative(rng, expr, wrt, types):
    r = matdiff.grad(expr, wrt, types)
    values = _values(rng, expr, types)
    D = random_direction(rng, values[wrt])
    num = directional_derivative(expr, values, wrt, D, types)
    dname = "zdir" if np.ndim(values[wrt]) == 1 else ("ddir" if np.ndim(values[wrt]) == 0 else "Ddir")
    checked = 0
    for step in r.steps:
        rhs = _step_rhs(step)
        if rhs is None or "d(" in rhs:
            continue  # a step with a differential still to expand
        text = re.sub(rf"\bd{wrt}\b", dname, rhs)
        assert dname in text, f"step {step.text!r} has no d{wrt}"
        got = matdiff.evaluate(text, {**values, dname: D}, types)
        assert float(got) == pytest.approx(num, rel=1e-6, abs=1e-9), f"step {step.text!r} is wrong"
        checked += 1
    assert checked >= 1
    # and the differential as a whole
    text = re.sub(rf"\bd{wrt}\b", dname, str(r.differential))
    assert float(matdiff.evaluate(text, {**values, dname: D}, types)) == pytest.approx(
        num, rel=1e-6, abs=1e-9
    )


BALANCE_CASES = [
    ("norm_fro(X)", "X", None),
    ("logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"}),
    ("sum(log(1 + exp(v)))", "v", None),
    ("x'*inv(A)*y", "A", None),
    ("norm2(X) + norm_nuc(X) + norm1(X)", "X", None),
    ("sum(sqrt(P) .* abs(X) ./ P)", "X", None),
    ("tr(A*X^-2) + det(X)^2", "X", None),
    ("sum(diag(X)) + x'*diag(v)*y", "v", None),
    ("(x'*A*x)^0.5 + tanh(a)*sin(b)/cos(b)", "a", None),
]


def _balanced(tex: str) -> bool:
    depth = 0
    i = 0
    while i < len(tex):
        if tex[i] == "\\" and i + 1 < len(tex) and tex[i + 1] in "{}":
            i += 2
            continue
        depth += tex[i] == "{"
        depth -= tex[i] == "}"
        if depth < 0:
            return False
        i += 1
    return depth == 0


@pytest.mark.parametrize("expr, wrt, types", BALANCE_CASES, ids=[c[0] for c in BALANCE_CASES])
def test_step_latex_is_well_formed(expr, wrt, types):
    r = matdiff.grad(expr, wrt, types)
    for s in r.steps:
        assert _balanced(s.latex), s.latex
        assert s.latex.count(r"\left") == s.latex.count(r"\right"), s.latex
        assert s.text.count("(") == s.text.count(")"), s.text
    assert _balanced(r.steps_latex)
    rules_in_order(r.steps, ["compare with"])
