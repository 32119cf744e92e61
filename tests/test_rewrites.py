"""Each rewrite rule of the simplifier, over random instances of its own pattern and of near misses.

A rule that is wrong only on a narrow pattern (cancelling ``inv(A)*A'`` as if it were ``inv(A)*A``)
passes tests that never build that pattern.  So every rule here has templates of its pattern and
of near misses (transposed, reordered, scaled, another operand), and each template is instantiated
with random operands: the metavariables P, Q (square matrices), u, v (vectors) and c (a scalar)
are replaced by random subexpressions of the variables A, B (matrices), x, y, z (vectors) and a.

Two properties per instance, both against the independent reference interpreter
(tests/fuzz/reference_interpreter.py, which never simplifies):
* the simplified expression has the value of the original;
* the gradient with respect to each variable agrees with numerical directional derivatives of the
  original (complex step, or central differences with Richardson extrapolation).

``scripts/mutate_simplifier.py`` mutates each rule and shows that these tests fail for every mutant.
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

import matdiff
from fuzz import reference_interpreter as ref  # tests/ is on the path (rootdir)
from matdiff.calculus.simplify import simplify
from matdiff.frontend import typed
from matdiff.verify.sampling import sample_values

# rule: (templates of the pattern, templates of near misses)
RULES: dict[str, tuple[list[str], list[str]]] = {
    "inverse pair inv(A)*A = I": (
        ["u'*inv(P)*P*v", "u'*P*inv(P)*v", "u'*inv(P)'*P'*v", "u'*P'*inv(P)'*v", "tr(P*inv(P)*Q)"],
        ["u'*inv(P)*P'*v", "u'*P'*inv(P)*v", "u'*inv(P)'*P*v", "u'*P*inv(P)'*v", "u'*inv(P)*Q*v",
         "u'*inv(P)*(2*P)*v", "u'*inv(P)*P*P*v"]),
    "chain powers X*X = X^2": (
        ["tr(P*P*Q)", "tr(P'*P'*Q)", "u'*P^2*P*v", "tr(P*P^2)", "tr(P^3)", "u'*P^2*P^2*v", "tr(P^2*P^3)"],
        ["tr(P*P'*Q)", "tr(P'*P*Q)", "u'*inv(P)*inv(P)*v", "tr(P*Q*P)", "u'*P*Q*P*v", "tr(P^2*Q^2)"]),
    "adjugate over det: adj(A)/det(A) = inv(A)": (
        ["tr(adj(P)*Q)/det(P)", "u'*adj(P)'*v/det(P)", "log(det(P)^2)", "tr(adj(P')*Q)/det(P)",
         "u'*adj(P)*v/det(P')"],
        ["tr(adj(P)*Q)/det(Q)", "tr(adj(P)*Q)*det(P)", "tr(adj(P)*Q)/det(P)^2", "tr(adj(P)*adj(P)*Q)/det(P)",
         "det(P)", "u'*adj(P)*v/det(P*Q)"]),
    "adjugate identities: adj(inv(A)) = det(inv(A))*A, adj(A') = adj(A)'": (
        ["tr(adj(inv(P))*Q)", "tr(adj(P')*Q)", "u'*adj(inv(P)')*v"],
        ["tr(inv(adj(P))*Q)", "tr(adj(P)*inv(Q))", "tr(adj(P*Q)*P)"]),
    "1 - sigmoid(u) = sigmoid(-u)": (
        ["sum((1 - sigmoid(u)).*v)", "v'*(1 - sigmoid(u))", "sum(log(1 - sigmoid(u)))"],
        ["sum((1 + sigmoid(u)).*v)", "sum((2 - sigmoid(u)).*v)", "sum((1 - sigmoid(u).^2).*v)",
         "sum((1 - 2*sigmoid(u)).*v)", "sum(log(1 - 0.5*sigmoid(u)))"]),
    "logistic forms: exp(-u).*sigmoid(u) = sigmoid(-u), exp(u)./(1 + exp(u)) = sigmoid(u)": (
        ["sum(exp(-u).*sigmoid(u).*v)", "sum(exp(u)./(1 + exp(u)).*v)", "sum(exp(u).^2./(1 + exp(u)).^2.*v)",
         "sum(log(1./(1 + exp(-u))))", "v'*(1./(1 + exp(-u)))"],
        ["sum(exp(u).*sigmoid(u).*v)", "sum(exp(-u).*sigmoid(2*u).*v)", "sum(exp(u)./(2 + exp(u)).*v)",
         "sum(exp(u)./(1 + exp(2*u)).*v)", "sum(exp(-u).*sigmoid(v))", "sum(exp(u).^2./(1 + exp(u)).*v)"]),
    "entrywise sums collected as polynomials": (
        ["v'*(-z.*(1 - sigmoid(u)) + (1 - z).*sigmoid(u))", "sum(z.*(1 - z) + z.^2)",
         "v'*(z.*sigmoid(u).*sigmoid(-u) + (1 - z).*sigmoid(u).*sigmoid(-u))"],
        ["sum(z.*(1 - v) + v.*z)", "v'*(z.*sigmoid(u) - z.*sigmoid(-u))", "sum(z.*(1 - z) - z.^3)",
         "v'*(-z.*(1 - sigmoid(u)) + (1 - z).*sigmoid(2*u))",
         "v'*(z.*(1 - sigmoid(u).^2) + (1 - z).*(1 - sigmoid(u).^2))"]),
    "common scalar factor s*A + s*B = s*(A + B)": (
        ["exp(u'*P*u)*u'*P*v + exp(u'*P*u)*u'*Q*v", "c*tr(P) + c*tr(Q)"],
        ["exp(u'*P*u)*u'*P*v + exp(u'*Q*u)*u'*Q*v", "c*tr(P) + c^2*tr(Q)", "c*tr(P) + tr(Q)"]),
    "diagonal of an outer product: diag(u*v') = u.*v": (
        ["sum(diag(u*v'))", "v'*diag(u*v')", "sum(diag(c*u*v'))"],
        ["sum(diag(P*Q))", "v'*diag(P*u*v')", "u'*diag(v)*u"]),
    "norms: sqrt(tr(A'*A)) = norm_fro(A), sqrt(x'*x) = norm2(x)": (
        ["sqrt(tr(P'*P))", "sqrt(tr(P*P'))", "sqrt(u'*u)", "sqrt((P*u)'*(P*u))"],
        ["sqrt(tr(P'*P) + tr(Q'*Q))", "sqrt(tr(P'*P*Q'*Q))", "sqrt(2*u'*u)", "sqrt(u'*(u + 0.1*v))", "sum(sqrt(u.*u))",
         "sum(sqrt(exp(u)*exp(u)'))", "sqrt(tr(P'*P))^3"]),
    "like terms and common factors": (
        ["u'*(P*v + P'*v)", "tr(P*Q + Q'*P')", "u'*P*v + v'*P'*u", "tr(2*P*Q - Q*P)"],
        ["u'*(P*v + P'*z)", "tr(P*Q + Q*P')", "u'*P*v - v'*P*u", "u'*(P*v + Q*u)"]),
    "entrywise quotients: x./x = 1": (
        ["sum(u.*v./u)", "sum(exp(u).*v./exp(u))"],
        ["sum(u.*v./v.^2)", "sum(u.*v./exp(u))", "sum(u./(u + v))"]),
    "diagonal products: diag(a)*diag(b) = diag(a.*b), diag(v)*1": (
        ["u'*diag(v)*diag(z)*u", "sum(diag(v)*diag(u))"],
        ["u'*diag(v)*P*diag(z)*u", "u'*diag(v)*diag(diag(P))*u"]),
    "scalar runs and traces: x*y'*y = (y'*y)*x, tr(x*y') = y'*x": (
        ["sum(u*v'*v)", "sum(P*u*v'*v)", "tr(u*v')", "tr(P*u*v')", "tr(c*P')"],
        ["tr(u*v'*P)*c", "z'*P*u*v'*v", "tr(P'*Q)"]),
    "softmax: exp(x)/sum(exp(x)) = softmax(x)": (
        ["log(sum(exp(u)))", "v'*exp(u)/sum(exp(u))", "sum(exp(u))^-2*v'*exp(u)"],
        ["v'*exp(u)/sum(exp(v))", "v'*exp(u)*sum(exp(u))", "v'*exp(2*u)/sum(exp(u))"]),
    "inverse and adjugate of a product of square factors": (
        ["logdet(P*Q)", "u'*inv(P*Q)*P*v", "u'*Q*inv(P*Q)*v", "det(P*Q)", "u'*P'*adj(P*Q)'*v",
         "u'*inv(P*Q)'*Q'*v"],
        ["u'*inv(P*Q)*Q*v", "u'*P*inv(P*Q)*v", "u'*inv(P*Q)'*P*v", "u'*adj(P*Q)*Q*v", "sum(inv(C*D)*C*D*c)",
         "sum(D*adj(C*D)*C*c)"]),
    "adjugate pairs: adj(A)*A = det(A)*I, adj(A^k) = adj(A)^k": (
        ["det(P^3)", "u'*adj(P)*P*v", "u'*P'*adj(P)'*v", "tr(adj(P)^2*P^3*Q)", "det(P^2)"],
        ["u'*adj(P)*P'*v", "u'*adj(P)*Q*v", "u'*adj(P)'*P*v", "tr(adj(P^2)*P*Q)"]),
    "negative powers: A^-k = inv(A)^k": (
        ["tr(P^-2*Q)", "u'*P^-1*v", "c^-2*tr(P)"],
        ["tr(P^2*Q)", "u'*P^-1*P'*v", "tr(inv(P)^2*P)"]),
}

# random operands for the metavariables (A, B square of one size; x, y, z vectors of that size)
OPERANDS = {
    "P": ["A", "A'", "(2*A)", "(A + B)", "(A*B)", "(A - 3*B')"],
    "Q": ["B", "B'", "(B - A)", "(0.5*B)", "(B*A)"],
    "u": ["x", "(x + y)", "(A*x)", "(3*x)", "(B'*x - y)"],
    "v": ["y", "(y - x)", "(B*y)", "(2*y)"],
    "c": ["a", "(a + 1)", "(2*a)", "a^2"],
}
META = re.compile(r"\b[PQuvc]\b")
WRT_ORDER = ["A", "B", "C", "x", "y", "z", "a"]
TYPES = {"a": "scalar", "x": "vector(4)", "y": "vector(4)", "z": "vector(4)", "A": "matrix(4,4)", "B": "matrix(4,4)",
         "C": "matrix(3,4)", "D": "matrix(4,3)"}  # C*D is square, C and D are not


def instance(template: str, rng: np.random.Generator) -> str:
    pick = {m: OPERANDS[m][rng.integers(len(OPERANDS[m]))] for m in OPERANDS}
    return META.sub(lambda m: pick[m.group(0)], template)


def reference_text(text: str) -> str:
    """The reference interpreter's language has no sigmoid: sigmoid(u) = 1./(1 + exp(-(u)))."""
    while (i := text.find("sigmoid(")) >= 0:
        j, depth = i + len("sigmoid("), 1
        while depth:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        text = text[:i] + "(1./(1 + exp(-(" + text[i + len("sigmoid("):j - 1] + "))))" + text[j:]
    return text


def close(a: object, b: object, rtol: float) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(float(np.max(np.abs(b), initial=0.0)), 1e-3)
    return a.shape == b.shape and float(np.max(np.abs(a - b), initial=0.0)) <= rtol * scale


def check_instance(text: str, seed: int) -> None:
    values = sample_values(text, TYPES, seed=seed)
    original = reference_text(text)
    want = ref.evaluate(original, values)
    if not np.all(np.isfinite(want)):
        pytest.skip(f"{text} is not finite at the random point")
    tree, variables = typed(text, TYPES)
    simplified = str(simplify(tree))
    got = ref.evaluate(reference_text(simplified), values)
    assert close(got, want, 1e-9), f"simplify({text}) = {simplified}: value {got} where {want}"
    rng = np.random.default_rng(seed)
    for name in [n for n in WRT_ORDER if n in variables][:3]:
        r = matdiff.grad(text, wrt=name, types=TYPES)
        g = np.asarray(r.evaluate(values), dtype=float)
        x = values[name]
        for _ in range(2):
            d = ref.direction("matrix" if np.ndim(x) == 2 else "vector", np.shape(x), rng)
            numeric, _ = ref.directional(ref.func(original, values, name), x, d)
            assert close(np.sum(g * d), numeric, 1e-6), \
                f"gradient of {text} wrt {name} = {r.gradient}: <g, d> = {np.sum(g * d)}, numerically {numeric}"


CASES = [(rule, kind, t) for rule, (pattern, near) in RULES.items()
         for kind, ts in (("pattern", pattern), ("near miss", near)) for t in ts]


@pytest.mark.parametrize(("rule", "kind", "template"), CASES, ids=[f"{r[:24]}|{k}|{t}" for r, k, t in CASES])
def test_rewrite_keeps_values_and_gradients(rule: str, kind: str, template: str) -> None:
    rng = np.random.default_rng(zlib.crc32(template.encode()))
    for k in range(4):
        check_instance(instance(template, rng) if k else META.sub(
            lambda m: OPERANDS[m.group(0)][0], template), seed=1000 + k)


def test_the_issue_example_inverse_pair_with_a_transpose() -> None:
    """The mutant the issue describes (cancelling inv(A)*A') gives a wrong gradient here."""
    check_instance("x'*inv(A)*A'*x", seed=7)
    r = matdiff.grad("x'*inv(A)*A'*x", wrt="x")
    assert "inv(A)" in str(r.gradient)  # nothing cancelled


def test_every_rule_has_patterns_and_near_misses() -> None:
    assert len(RULES) >= 15
    for rule, (pattern, near) in RULES.items():
        assert len(pattern) >= 2 and len(near) >= 2, rule
