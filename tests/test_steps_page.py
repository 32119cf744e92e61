"""The steps side by side with the textbook page (issue 16): like terms combined inside the trace before the
outer factor, neutral letters in rule names, d(x*eye) = dx*eye and Jacobi's invertible form, the vector rule for
norm2 of a vector, rule names typeset as mathematics in LaTeX."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

import matdiff
from matdiff.calculus.rules import OP_RULES, neutral
from matdiff.core.nodes import Num
from matdiff.functions.registry import entries
from matdiff.syntax.latex import rule_latex, to_latex


def _rhs(step) -> str:
    return step.text.split("\n")[0].split("    [")[0].split("=", 1)[1].strip()


# ------------------------------------------------------------------ 1. like terms inside the trace first
def test_norm_fro_combines_inside_the_trace_before_the_outer_factor():
    r = matdiff.grad("norm_fro(X)", "X")
    rhs = [_rhs(s) for s in r.steps]
    assert "2*tr(X'*dX)/(2*norm_fro(X))" in rhs, r.steps_text
    i = rhs.index("2*tr(X'*dX)/(2*norm_fro(X))")
    assert "like terms inside the trace combined" in r.steps[i].rule
    assert rhs[i + 1] == "tr(X'*dX)/norm_fro(X)"
    assert not any("0.5*" in t for t in rhs), r.steps_text  # the halves of the old form are gone
    assert str(r.gradient) == "X/norm_fro(X)"


def test_norm2_of_a_vector_combines_before_the_outer_factor():
    r = matdiff.grad("norm2(x)", "x")
    rhs = [_rhs(s) for s in r.steps]
    assert "2*x'*dx/(2*norm2(x))" in rhs, r.steps_text
    assert not any("0.5*" in t for t in rhs)


@pytest.mark.parametrize("expr,wrt", [("norm_fro(X)", "X"), ("sqrt(tr(X'*X))", "X"), ("norm2(x)", "x"),
                                      ("norm_fro(A*X - B)", "X"), ("log(tr(X'*X))", "X")])
def test_the_merged_steps_are_true(expr, wrt):
    """Every step after the expansion equals the directional derivative (dX replaced by a direction)."""
    r = matdiff.grad(expr, wrt)
    rng = np.random.default_rng(3)
    shapes = {"X": (3, 4), "A": (2, 3), "B": (2, 4), "x": (4,)}
    values = {n: rng.standard_normal(shapes[n]) for n in r.variables}
    direction = rng.standard_normal(shapes[wrt])
    eps = 1e-6
    want = (matdiff.evaluate(expr, {**values, wrt: values[wrt] + eps * direction})
            - matdiff.evaluate(expr, {**values, wrt: values[wrt] - eps * direction})) / (2 * eps)
    merged = [s for s in r.steps if "like terms" in s.rule or "simplified" in s.rule]
    assert merged, r.steps_text
    for s in merged:
        kind = "vector" if direction.ndim == 1 else "matrix"
        got = matdiff.evaluate(_rhs(s).replace(f"d{wrt}", "D_"), {**values, "D_": direction}, {"D_": kind})
        assert np.isclose(got, want, rtol=1e-6), (s.text, got, want)


# ------------------------------------------------------------------ 2. neutral letters
LETTERS = "ABPQUVWEFMSKL"


@pytest.mark.parametrize("v", list(LETTERS))
def test_no_label_calls_the_variable_a_constant(v):
    others = [c for c in "ABCPQ" if c != v][:2]
    for expr in (f"tr({others[0]}*{v}*{others[1]})", f"x'*{v}*y", f"tr({others[0]}*{v}')", f"det({v})",
                 f"norm_fro({v})", f"tr(exp({v}))"):
        r = matdiff.grad(expr, v)
        for s in r.steps:
            m = re.search(r"for constant ([A-Za-z, ]+)", s.rule)
            if m:
                assert v not in re.findall(r"[A-Za-z]", m.group(1)), (expr, s.rule)
            # no label names the variable's own letter in its formula (only "compare with" and the symmetric note
            # speak of the variable itself)
            if not s.rule.startswith("compare with") and "only symmetric" not in s.rule:
                assert not re.search(rf"(?<![A-Za-z_]){v}(?![A-Za-z_0-9])", s.rule), (expr, s.rule)


def test_the_old_letters_are_gone():
    r = matdiff.grad("x'*A*y", "A")
    assert all("for constant A, B" not in s.rule for s in r.steps)
    assert any("d(P*U*Q) = P*dU*Q for constant P, Q" in s.rule for s in r.steps), r.steps_text


def test_registry_labels_use_neutral_letters():
    """Every function's rule name speaks of U, V, W (varying), P, Q (constant), E, F (directions), M, S (symmetric)
    and lowercase u, t, c, p: never of the letters a user types most (A, B, X, Y)."""
    for fn in entries():
        if not fn.builtin or not fn.rule or not fn.rule[0] or callable(fn.rule[0]):
            continue
        assert not re.search(r"(?<![A-Za-z_])[ABXY](?![A-Za-z_0-9])", fn.rule[0]), (fn.name, fn.rule[0])
    for name, _ in OP_RULES.values():
        if isinstance(name, str):
            assert not re.search(r"(?<![A-Za-z_])[ABXY](?![A-Za-z_0-9])", name), name


def test_neutral_renames_only_clashing_letters():
    label = "linearity: d(P*U*Q) = P*dU*Q for constant P, Q"
    assert neutral(label, {"X"}) == label
    out = neutral(label, {"P", "X"})
    assert "P" not in re.findall(r"\b[A-Z]\b", out) and "d" + out.split("dU")[0][-1:] not in ("dP",)
    assert out.count("U") == 2 and "for constant" in out
    assert neutral("a scalar is its own trace", {"a"}) == "a scalar is its own trace"  # words are left alone


# ------------------------------------------------------------------ 3. the characteristic polynomial
def test_charpoly_shows_d_x_eye_and_the_identity_step():
    r = matdiff.grad("det(x*eye - A)", "x", {"x": "scalar"})
    rules = [s.rule for s in r.steps]
    assert "linearity: d(x*eye) = dx*eye" in rules, r.steps_text
    i = rules.index("linearity: d(x*eye) = dx*eye")
    assert "dx*eye" in _rhs(r.steps[i]), r.steps[i].text  # the identity is still there
    assert _rhs(r.steps[i + 1]) == "tr(adj(x*eye - A)*dx)"
    assert "identity" in rules[i + 1]
    assert str(r.gradient) == "tr(adj(x*eye - A))"  # the result keeps the adjugate form


def test_charpoly_shows_jacobi_invertible_form_beside_the_adjugate_one():
    r = matdiff.grad("det(x*eye - A)", "x", {"x": "scalar"})
    note = r.steps[-1].note
    assert "Jacobi's formula, invertible form" in note
    assert "where x is not an eigenvalue of A" in note
    assert "det(x*eye - A)*tr(inv(x*eye - A))" in note
    assert "adjugate form holds at an eigenvalue" in note
    assert "where x is not an eigenvalue" in r.steps_text
    # the invertible form in the note has the gradient's value where it holds
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    alt = note.split("grad_x f = ")[1].split(", the same")[0]
    assert np.isclose(matdiff.evaluate(alt, {"x": 5.0, "A": A}, {"x": "scalar"}), r.evaluate({"x": 5.0, "A": A}))


def test_det_gets_the_invertible_form_note_too():
    r = matdiff.grad("det(A)", "A")
    assert "invertible form (where A is invertible)" in r.steps[-1].note
    assert "singular" in r.steps[-1].note


def test_tour_reads_with_the_new_steps(capsys):
    from matdiff.tour import tour
    assert tour() == 0
    out = capsys.readouterr().out
    assert "d(x*eye) = dx*eye" in out
    assert "where x is not an eigenvalue of A" in out
    assert "2*tr(X'*dX)/(2*norm_fro(X))" in out


# ------------------------------------------------------------------ 4. norm2 of a vector
def test_norm2_of_a_vector_is_labelled_with_the_vector_rule():
    r = matdiff.grad("norm2(x)", "x")
    first = r.steps[1].rule
    assert "u'*du/norm2(u)" in first and "singular" not in first, first
    r = matdiff.grad("norm2(A*x - b)", "x")  # b is a vector by its use: the first step says so
    assert r.steps[0].rule == "types from use" and "b: vector(rows(A))" in r.steps[0].text
    assert "u'*du/norm2(u)" in r.steps[2].rule
    r = matdiff.grad("norm2(X)", "X")  # a matrix keeps the spectral rule
    assert "top singular pair" in r.steps[1].rule


def test_norm_nuc_and_norm_fro_of_a_vector_use_the_vector_rule():
    assert "u'*du/norm_nuc(u)" in matdiff.grad("norm_nuc(x)", "x").steps[1].rule
    assert "u'*du/norm_fro(u)" in matdiff.grad("norm_fro(x)", "x").steps[1].rule


# ------------------------------------------------------------------ 5. LaTeX
def _balanced(s: str) -> bool:
    depth = 0
    i = 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            i += 2
            continue
        depth += s[i] == "{"
        depth -= s[i] == "}"
        if depth < 0:
            return False
        i += 1
    return depth == 0


def _text_groups(s: str) -> list[str]:
    return re.findall(r"\\text\{((?:[^{}\\]|\\.)*)\}", s)


EXPRS = [("norm_fro(X)", "X", None), ("x'*A*y", "A", None), ("det(A)", "A", None),
         ("det(x*eye - A)", "x", {"x": "scalar"}), ("norm2(x)", "x", None), ("tr(exp(X))", "X", None),
         ("sum(sigmoid(X*w))", "w", None), ("logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"}),
         ("tr(X^3)", "X", None), ("tr(expm(X))", "X", None), ("x'*diag(v)*x", "v", None)]


@pytest.mark.parametrize("expr,wrt,types", EXPRS)
def test_latex_rule_names_are_mathematics(expr, wrt, types):
    r = matdiff.grad(expr, wrt, types)
    block = r.steps_latex
    assert _balanced(block), block
    for s in r.steps:
        assert _balanced(s.latex), s.latex
        for t in _text_groups(s.latex):
            assert "*" not in t, (s.rule, t)
            assert not re.search(r"'(?!s\b)", t), (s.rule, t)  # an apostrophe only in words: Jacobi's
            assert not re.search(r"\bd[A-Z]\b|\btr\(", t), (s.rule, t)  # no formula left in the words
    assert r"\mathrm{d}" in block


def test_every_registry_label_typesets():
    names = [fn.rule[0] for fn in entries() if fn.rule and isinstance(fn.rule[0], str) and fn.rule[0]]
    names += [n for n, _ in OP_RULES.values() if isinstance(n, str)]
    for name in names:
        tex = rule_latex(name)
        assert _balanced(tex), (name, tex)
        for t in _text_groups(tex):
            assert "*" not in t and not re.search(r"'(?!s\b)", t), (name, tex)


def test_rule_latex_examples():
    assert rule_latex("d(U') = (dU)'") == r"\mathrm{d}(U^{\top}) = (\mathrm{d}U)^{\top}"
    tex = rule_latex("linearity: d(P*U*Q) = P*dU*Q for constant P, Q")
    assert tex.startswith(r"\text{linearity: }") and r"P\,\mathrm{d}U\,Q" in tex
    assert r"\text{ for constant }" in tex
    assert r"\odot" in rule_latex("d exp(U) = exp(U) .* dU")
    assert "^{1/2}" in rule_latex("chain rule: norm_fro(U) = (tr(U'*U))^(1/2)")


def test_half_prints_as_a_fraction():
    assert to_latex(Num(Fraction(1, 2))) == r"\frac{1}{2}"
    assert to_latex(Num(0.5)) == r"\frac{1}{2}"
    assert to_latex(Num(0.1)) == "0.1"
    assert to_latex(Num(2)) == "2"
    r = matdiff.grad("0.5*x'*x", "x")
    assert "0.5" not in r.steps_latex, r.steps_latex


def test_a_second_superscript_gets_braces():
    for text, want in [("sqrtm(X)^2", r"{\left(X\right)^{1/2}}^{2}"), ("inv(X)^2", r"{X^{-1}}^{2}"),
                       ("sqrtm(X)'", r"{\left(X\right)^{1/2}}^{\top}")]:
        e = matdiff.parse(text)
        assert to_latex(e) == want
    for text in ["sqrtm(X)^2", "inv(X)'*X^2", "(X')^2", "inv(sqrtm(X))^3"]:
        tex = to_latex(matdiff.parse(text))
        assert not re.search(r"\^\{[^{}]*\}\^", tex), tex  # no double superscript
