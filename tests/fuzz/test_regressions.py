"""Every bug the fuzzers found, as a regression test (reproductions in known_bugs.py).

A bug still open is a strict xfail with its one-line summary as the reason: when the core fixes it
the test XPASSes, which fails the run -- then set ``open=False`` on it in known_bugs.py.
"""

from __future__ import annotations

import pytest

from .known_bugs import BUGS

CASES = [
    pytest.param(b.repro, id=b.name,
                 marks=[pytest.mark.xfail(reason="BUG: " + b.summary, strict=True)] if b.open else [])
    for b in BUGS.values()
]


@pytest.mark.parametrize("repro", CASES)
def test_regression(repro):
    repro()
