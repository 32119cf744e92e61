"""The command line: ``matdiff.cli.main(argv)`` returns the exit status; errors are one line + caret, no traceback."""

from __future__ import annotations

import ast
import json
import re

import numpy as np
import pytest

import matdiff
from matdiff.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def squash(s: str) -> str:
    return "".join(s.split())


# ------------------------------------------------------------------------------ grad


def test_grad_prints_the_gradient(capsys):
    status, out, err = run(capsys, "grad", "norm_fro(X)", "--wrt", "X")
    assert status == 0, err
    assert squash(out) == "X/norm_fro(X)"


@pytest.mark.parametrize("expr, wrt, want", [
    ("x'*A*y", "A", "x*y'"),
    ("det(A)", "A", "adj(A)'"),
    ("logdet(A)", "A", "inv(A)'"),
    ("x'*A*x", "x", "(A+A')*x"),
])
def test_grad_forms(capsys, expr, wrt, want):
    status, out, _ = run(capsys, "grad", expr, "--wrt", wrt)
    assert status == 0
    assert squash(out) == want


def test_grad_output_reparses_and_is_right(capsys, rng):
    status, out, _ = run(capsys, "grad", "norm_fro(A*X-B)^2", "--wrt", "X")
    assert status == 0
    g = out.strip()
    vals = {"A": rng.standard_normal((5, 3)), "X": rng.standard_normal((3, 2)), "B": rng.standard_normal((5, 2))}
    want = 2 * vals["A"].T @ (vals["A"] @ vals["X"] - vals["B"])
    np.testing.assert_allclose(matdiff.evaluate(g, vals), want, rtol=1e-12)


def test_grad_steps(capsys):
    status, out, _ = run(capsys, "grad", "norm_fro(X)", "--wrt", "X", "--steps")
    assert status == 0
    assert "product rule" in out and "tr(M'*dX)" in out
    assert out.strip().splitlines()[-1].strip() == "X/norm_fro(X)"


def test_grad_latex(capsys):
    status, out, _ = run(capsys, "grad", "x'*A*y", "--wrt", "A", "--latex")
    assert status == 0
    assert "y^{\\top}" in out and "x" in out


def test_grad_type_spd_code_and_check(capsys):
    status, out, err = run(capsys, "grad", "logdet(S) + tr(inv(S)*C)", "--wrt", "S", "--type", "S=spd",
                           "--code", "numpy", "--check")
    assert status == 0, err
    assert "def value_and_grad(" in out
    assert out.count("_F.chol(") == 1
    assert re.search(r"\bok\b", out)
    # the printed code is valid Python
    code = out[out.index("def value_and_grad("):]
    code = code[: code.index("\n\n")] if "\n\n" in code else code
    ast.parse(code)


def test_grad_type_with_size(capsys):
    status, out, err = run(capsys, "grad", "tr(X'*X)", "--wrt", "X", "--type", "X=matrix(3,4)")
    assert status == 0, err
    assert squash(out) in ("2*X", "X*2")


def test_grad_scalar_type(capsys):
    status, out, _ = run(capsys, "grad", "det(x*eye - A)", "--wrt", "x", "--type", "x=scalar")
    assert status == 0
    assert "adj(x*eye-A)" in squash(out)


# ------------------------------------------------------------------------------ eval


def test_eval_json_values(capsys):
    status, out, _ = run(capsys, "eval", "x'*A*x", "x=[1,2]", "A=[[2,0],[0,3]]")
    assert status == 0
    assert float(out) == pytest.approx(14.0)


def test_eval_matrix_output(capsys):
    status, out, _ = run(capsys, "eval", "A*x", "x=[1,2]", "A=[[2,0],[1,3]]")
    assert status == 0
    nums = [float(t) for t in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", out)]
    assert nums == [2.0, 7.0]


def test_eval_scalars(capsys):
    status, out, _ = run(capsys, "eval", "a*b + 1", "a=2", "b=3.5")
    assert status == 0
    assert float(out) == pytest.approx(8.0)


def test_eval_npy_file(capsys, tmp_path):
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.save(tmp_path / "A.npy", A)
    status, out, _ = run(capsys, "eval", "det(A)", f"A=@{tmp_path / 'A.npy'}")
    assert status == 0
    assert float(out) == pytest.approx(-2.0)


def test_eval_matches_library(capsys, rng):
    A = rng.standard_normal((3, 3))
    x = rng.standard_normal(3)
    status, out, _ = run(capsys, "eval", "x'*A*x + sum(exp(x))", f"x={json.dumps(x.tolist())}",
                         f"A={json.dumps(A.tolist())}")
    assert status == 0
    assert float(out) == pytest.approx(x @ A @ x + np.exp(x).sum(), rel=1e-9)


# ------------------------------------------------------------------------------ check


def test_check_ok(capsys):
    status, out, _ = run(capsys, "check", "logdet(X)", "--wrt", "X", "--type", "X=spd")
    assert status == 0
    assert "ok" in out and "rel. error" in out


def test_check_at_given_point(capsys):
    status, out, _ = run(capsys, "check", "x'*A*x", "x=[1,2]", "A=[[1,2],[3,4]]", "--wrt", "x")
    assert status == 0
    assert "ok" in out


def test_values_after_options(capsys):
    try:
        status, out, _ = run(capsys, "check", "x'*A*x", "--wrt", "x", "x=[1,2]", "A=[[1,2],[3,4]]")
    except SystemExit as e:
        status, out = e.code, ""
    assert status == 0 and "ok" in out


def test_check_plot_writes_png(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "sweep.png"
    status, out, err = run(capsys, "check", "norm_fro(A*X-B)^2", "--wrt", "X", "--plot", str(png))
    assert status == 0, err
    assert png.exists() and png.stat().st_size > 1000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(png) in out


# ------------------------------------------------------------------------------ jacobian, hessian


def test_jacobian_kronecker(capsys):
    status, out, _ = run(capsys, "jacobian", "A*X*B", "--wrt", "X")
    assert status == 0
    assert "dF = A*dX*B" in out
    assert "(B' ⊗ A) vec(dX)" in out
    assert "vjp(C) = A'*C*B'" in out


def test_jacobian_matrix_product(capsys):
    status, out, _ = run(capsys, "jacobian", "X*A*X", "--wrt", "X")
    assert status == 0
    assert "dX*A*X" in squash(out) and "X*A*dX" in squash(out)
    assert "⊗" in out


def test_jacobian_steps(capsys):
    status, out, _ = run(capsys, "jacobian", "inv(X)", "--wrt", "X", "--steps")
    assert status == 0
    assert "inv(X)" in out and "dX" in out


def test_jacobian_vjp_label_when_C_is_a_variable(capsys):
    status, out, _ = run(capsys, "jacobian", "C*X", "--wrt", "X")
    assert status == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("vjp("))
    name = line[4:line.index(")")]
    assert name not in ("C", "X"), f"the cotangent is labelled {name}, a variable of C*X: {line}"
    assert re.search(rf"\b{name}\b", line.split("=", 1)[1]), line


def test_hessian_vector_variable(capsys):
    status, out, _ = run(capsys, "hessian", "x'*A*x", "--wrt", "x")
    assert status == 0
    assert squash(out) in ("A+A'", "A'+A")


def test_hessian_logsumexp(capsys, rng):
    status, out, _ = run(capsys, "hessian", "x'*A*x + log(sum(exp(x)))", "--wrt", "x")
    assert status == 0
    x, A = rng.standard_normal(3), rng.standard_normal((3, 3))
    p = np.exp(x) / np.exp(x).sum()
    got = matdiff.evaluate(out.strip(), {"x": x, "A": A})
    np.testing.assert_allclose(got, A + A.T + np.diag(p) - np.outer(p, p), rtol=1e-12, atol=1e-14)


def test_hessian_matrix_variable(capsys):
    status, out, _ = run(capsys, "hessian", "tr(X'*A*X)", "--wrt", "X")
    assert status == 0
    assert "(A + A')*dX" in out
    assert "(I ⊗ (A + A')) vec(dX)" in out


def test_hessian_code(capsys):
    status, out, _ = run(capsys, "hessian", "x'*A*x", "--wrt", "x", "--code", "numpy")
    assert status == 0
    assert "def hessian_x(" in out


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("argv, kind", [
    (["grad", "x'*A*", "--wrt", "x"], "ParseError"),
    (["grad", "(x", "--wrt", "x"], "ParseError"),
    (["eval", "x'*A*x +* 2", "x=[1]"], "ParseError"),
    (["jacobian", "A*X)", "--wrt", "X"], "ParseError"),
    (["hessian", "x'*", "--wrt", "x"], "ParseError"),
    (["check", "tr(X", "--wrt", "X"], "ParseError"),
])
def test_parse_error_exit_2_with_caret(capsys, argv, kind):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.rstrip("\n").splitlines()
    assert lines[0].startswith(f"matdiff: {kind}: "), err
    assert any(ln.strip() == "^" for ln in lines[1:]), err
    # the caret sits under the reported position of the echoed expression
    caret = next(ln for ln in lines if ln.strip() == "^")
    m = re.findall(r"position (\d+)\)?$", lines[0])
    assert m, f"the message names no position: {lines[0]}"
    echo = lines[lines.index(caret) - 1]
    assert caret.index("^") - (len(echo) - len(echo.lstrip())) == int(m[-1]), err


@pytest.mark.parametrize("argv, kind", [
    (["eval", "x'*A*x", "x=[1,2,3]", "A=[[2,0],[0,3]]"], "ShapeError"),
    (["eval", "logdet(A)", "A=[[-1,0],[0,1]]"], "DomainError"),
    (["eval", "x'*x", "x=[1,2"], "MatdiffError"),
    (["grad", "x'*A*x", "--wrt", "q"], "MatdiffError"),
    (["grad", "A*x", "--wrt", "x"], "ShapeError"),
    (["grad", "x'*A*x", "--wrt", "x", "--type", "bad"], "MatdiffError"),
])
def test_other_errors_exit_2_one_line(capsys, argv, kind):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert "Traceback" not in err
    assert err.startswith(f"matdiff: {kind}: "), err
    assert len(err.strip().splitlines()) == 1, err


def test_no_command_prints_help(capsys):
    status, out, _ = run(capsys)
    assert status == 2
    assert "grad" in out and "tour" in out
