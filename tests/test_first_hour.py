"""Issue 18: types from use, errors that suggest the fix, the command line of several variables and checks."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from conftest import check_gradient
from matdiff.cli import main
from matdiff.errors import ParseError, ShapeError

# ---------------------------------------------------------------------------- 1. types from use


@pytest.mark.parametrize(("expr", "wrt", "kinds", "gradient"), [
    ("norm2(A*x - b)^2", "x", {"b": "vector", "x": "vector"}, "2*A'*(A*x - b)"),
    ("a'*X*b", "X", {"a": "vector", "b": "vector"}, "a*b'"),
    ("det(x*eye - A)", "x", {"x": "scalar"}, "tr(adj(x*eye - A))"),
    ("lam*w'*w + norm2(X*w - y)^2", "w", {"lam": "scalar", "w": "vector"}, None),
    ("sum(log(1 + exp(-y.*(X*w + b))))", "w", {"b": "vector"}, None),
])
def test_kinds_come_from_use(rng, expr, wrt, kinds, gradient):
    r = matdiff.grad(expr, wrt=wrt)
    for name, kind in kinds.items():
        assert r.variables[name].kind == kind, (name, r.variables[name].kind)
    if gradient is not None:
        assert str(r.gradient) == gradient
    # and the derivative is right at random points of those kinds
    values = matdiff.verify.sampling.sample_values(r.expr, seed=3, wrt=wrt)
    check_gradient(r.expr, wrt, values, rng=rng)


def test_the_assumed_types_are_shown():
    r = matdiff.grad("norm2(A*x - b)^2", wrt="x")
    assert r.assumed_types == {"b": "vector(rows(A)), from A*x - b"}
    assert r.steps[0].rule == "types from use" and "b: vector(rows(A))" in r.steps_text.splitlines()[0]
    assert matdiff.grad("x'*A*x", wrt="x").assumed_types == {}  # nothing assumed: no line


def test_declared_types_win():
    r = matdiff.grad("x*b", wrt="x", types={"x": "scalar", "b": "scalar"})
    assert r.variables["b"].kind == "scalar"
    with pytest.raises(ShapeError, match="subtract"):  # x declared a vector: x*eye - A cannot type
        matdiff.grad("det(x*eye - A)", wrt="x", types={"x": "vector"})


def test_a_use_read_two_ways_names_both_declarations():
    with pytest.raises(ShapeError) as info:
        matdiff.evaluate("x*y", {"x": np.ones(3), "y": np.ones(3)})
    msg = str(info.value)
    assert "multiply" in msg and "types={'x': 'scalar'}" in msg and "types={'y': 'scalar'}" in msg


def test_a_contradiction_names_both_uses_and_the_declaration():
    with pytest.raises(ShapeError) as info:
        matdiff.grad("x'*(b*A)*x + sum(x - b)", wrt="x")
    msg = str(info.value)
    assert "b reads as a vector in x - b" in msg and "cannot multiply b" in msg and "types={'b': 'scalar'}" in msg
    r = matdiff.grad("x'*(b*A)*x + sum(x - b)", wrt="x", types={"b": "scalar"})  # the declaration decides
    assert r.variables["b"].kind == "scalar"


def test_a_scalar_name_is_never_silently_broadcast():
    r = matdiff.grad("sum(c + X)", wrt="c")
    assert r.variables["c"].kind == "matrix"
    r = matdiff.grad("sum(c + X)", wrt="c", types={"c": "scalar"})
    assert r.variables["c"].kind == "scalar"
    X = np.arange(6.0).reshape(2, 3)
    assert r.evaluate({"c": 1.0, "X": X}) == pytest.approx(6.0)


def test_a_gradient_of_a_matrix_is_refused_with_the_jacobian_named():
    with pytest.raises(ShapeError) as info:
        matdiff.grad("A*x", wrt="x")
    msg = str(info.value)
    assert "Jacobian" in msg and "matdiff jacobian" in msg and "use matdiff.derivative" not in msg


def test_minus_is_named_as_written():
    with pytest.raises(ShapeError, match="cannot subtract"):
        matdiff.evaluate("x - A", {}, {"x": "vector(3)", "A": "matrix(3,3)"})


# ---------------------------------------------------------------------------- 2. errors that suggest the fix


@pytest.mark.parametrize(("text", "hint"), [
    ("trace(X)", "use tr(X)"),
    ("transpose(X)", "X'"),
    ("norm(X)", "norm_fro"),
    ("inverse(A)", "inv(A)"),
    ("A @ B", "use * for the matrix product"),
    ("X**2", "use ^ for a power"),
    ("X.T", "use ' (X')"),
    ("2X", "2*X"),
    ("2 X", "a product is written with *"),
    ("logdett(X)", "did you mean logdet"),
    ("sigmod(x)", "did you mean sigmoid"),
    ("expit(x)", "sigmoid"),
])
def test_habits_get_a_suggestion(text, hint):
    with pytest.raises(ParseError) as info:
        matdiff.parse(text)
    assert hint in str(info.value), str(info.value)
    assert "^" in str(info.value).splitlines()[-1]  # the caret line


# ---------------------------------------------------------------------------- 6. the command line


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_wrt_several_variables(capsys):
    status, out, _ = run(capsys, "grad", "norm_fro(A*X - B)^2", "--wrt", "A,X")
    assert status == 0
    assert "grad_A f = 2*(A*X - B)*X'" in out and "grad_X f = 2*A'*(A*X - B)" in out
    status, out2, _ = run(capsys, "grad", "norm_fro(A*X - B)^2", "--wrt", "A", "--wrt", "X")
    assert status == 0 and out2 == out


def test_wrt_twice_the_same_is_an_error(capsys):
    status, _, err = run(capsys, "grad", "x'*A*x", "--wrt", "x", "--wrt", "x")
    assert status == 2 and "names x twice" in err


def test_jacobian_check_and_code(capsys):
    status, out, _ = run(capsys, "jacobian", "softmax(x)", "--wrt", "x", "--check", "--code", "numpy")
    assert status == 0
    assert "def jacobian_x(x):" in out and "check of jvp_x softmax(x): ok" in out


def test_hessian_check(capsys):
    status, out, _ = run(capsys, "hessian", "x'*A*x + log(sum(exp(x)))", "--wrt", "x", "--check")
    assert status == 0 and "check of hvp_x" in out and ": ok" in out


def test_a_wrong_jvp_fails_the_check():
    """The check is not a rubber stamp: a jvp off by a factor fails it."""
    from matdiff.verify.check import check_derivative
    d = matdiff.derivative("inv(X)", wrt="X")
    good = check_derivative(d, seed=1)
    assert good.ok
    d.jvp = lambda values, v, _j=d.jvp: 1.001 * _j(values, v)  # type: ignore[method-assign]
    assert not check_derivative(d, seed=1).ok


@pytest.mark.parametrize("command", ["grad", "eval", "check", "jacobian", "hessian", "tour"])
def test_every_argument_has_help(command):
    from matdiff.cli import build_parser
    ap = build_parser()
    sub = next(a for a in ap._actions if a.dest == "command").choices[command]
    for action in sub._actions:
        if action.dest != "help":
            assert action.help, f"{command} {action.option_strings or action.dest} has no help"


# ---------------------------------------------------------------------------- 4. docstrings that teach


def test_the_api_docstrings_have_examples_that_run():
    import doctest

    import matdiff.api
    for fn in (matdiff.grad, matdiff.derivative, matdiff.hessian):
        assert ">>>" in (fn.__doc__ or ""), fn.__name__
    failures, tried = doctest.testmod(matdiff.api, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried >= 4 and failures == 0


def test_public_functions_have_real_return_types():
    import inspect
    for fn in (matdiff.grad, matdiff.derivative, matdiff.hessian, matdiff.compile, matdiff.evaluate,
               matdiff.check):
        ret = inspect.signature(fn).return_annotation
        assert ret is not inspect.Signature.empty and "Any" != str(ret), fn.__name__


def test_the_tour_needs_only_numpy_and_scipy():
    """README command 1 installs matdiff without extras: the tour must not import any of them."""
    import subprocess
    import sys
    code = ("import sys, contextlib, io\n"
            "from matdiff.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    status = main(['tour'])\n"
            "heavy = [m for m in ('matplotlib', 'jax', 'torch', 'dask', 'starlette', 'uvicorn', 'latex2mathml',"
            " 'hypothesis', 'mpmath') if m in sys.modules]\n"
            "print(status, heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "0 []", out.stdout + out.stderr
