"""Issue 13 item 9: a failed numerical check exits with the same non-zero status everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import matdiff.cli as cli
from matdiff.cli import CHECK_FAILED, build_parser, main

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def wrong_gradients(monkeypatch):
    """check() fed twice matdiff's gradient: every check fails (the CLI checks the result it derived)."""
    real = cli.check

    def doubled(r, **kw):
        return real(r, gradient=lambda v: 2 * np.asarray(r.evaluate(v)), **kw)

    monkeypatch.setattr(cli, "check", doubled)


def test_check_failed_is_one():
    assert CHECK_FAILED == 1


def test_grad_check_failure_exits_non_zero(wrong_gradients, capsys):
    status = main(["grad", "x'*A*x", "--wrt", "x", "--check"])
    out = capsys.readouterr().out
    assert "FAILED" in out
    assert status == CHECK_FAILED


def test_check_failure_exits_with_the_same_status(wrong_gradients, capsys):
    assert main(["check", "x'*A*x", "--wrt", "x"]) == CHECK_FAILED
    assert "FAILED" in capsys.readouterr().out


def test_passing_checks_exit_zero(capsys):
    assert main(["grad", "x'*A*x", "--wrt", "x", "--check"]) == 0
    assert main(["check", "x'*A*x", "--wrt", "x"]) == 0
    capsys.readouterr()


def test_exit_status_is_documented():
    text = build_parser().format_help()
    assert "exit status" in text and f"{CHECK_FAILED}  a numerical check failed" in text
    sub = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert f"exit status {CHECK_FAILED} if the check fails" in " ".join(sub["grad"].format_help().split())


@pytest.mark.parametrize("argv", [["check", "tr(X*inv(X))", "--wrt", "X"],
                                  ["grad", "tr(X'*X) - tr(X*X')", "--wrt", "X", "--check"]])
def test_zero_gradients_exit_zero_in_a_subprocess(argv):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    code = "import sys; from matdiff.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ": ok" in proc.stdout
