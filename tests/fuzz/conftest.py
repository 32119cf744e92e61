"""Hypothesis profiles for the fuzz tests, and the count of expressions checked.

Profiles (choose with ``HYPOTHESIS_PROFILE=...``; ``ci`` is the default):

* ``ci``   -- derandomized (the same examples every run), about 10,000 expressions across the
  properties, a few minutes on two cores;
* ``dev``  -- a quick randomized run (about a tenth of ``ci``);
* ``long`` -- randomized, ten times ``ci``: for local runs before a release.

The profile's ``max_examples`` is the total over all the properties; each property takes its
share (``fuzz_settings`` in strategies.py).  The profile is applied to the fuzz tests only (it is
not loaded globally, so the other hypothesis tests keep their own settings).  The terminal summary
prints how many expressions each property actually checked and how many examples it discarded,
and why; the session fails if a selected property checked fewer than MIN_SHARE of its examples
(``fuzz_examples_checked``: a skip or a coverage drop is a failure, not a smaller number).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

from .strategies import ANSWERS, CHECKED, DISCARDED, MIN_SHARE

_SLOW = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
         HealthCheck.large_base_example]

settings.register_profile("ci", max_examples=10_200, derandomize=True, database=None, deadline=None,
                          suppress_health_check=_SLOW, print_blob=True)
settings.register_profile("dev", max_examples=1_020, deadline=None, suppress_health_check=_SLOW,
                          print_blob=True)
settings.register_profile("long", max_examples=102_000, deadline=None, suppress_health_check=_SLOW,
                          print_blob=True)

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "dev", "long"):
    PROFILE = "ci"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not CHECKED and not DISCARDED:
        return
    tr = terminalreporter
    tr.section(f"matdiff fuzz (hypothesis profile {PROFILE!r})")
    props = {k: v for k, v in CHECKED.items() if k != "parser inputs"}
    tr.write_line(f"expressions checked: {sum(props.values())}  " +
                  ", ".join(f"{k} {v}" for k, v in sorted(props.items())))
    if CHECKED["parser inputs"]:
        tr.write_line(f"parser/API inputs fuzzed: {CHECKED['parser inputs']}")
    if ANSWERS:
        tr.write_line("answers: " + ", ".join(f"{k} {v}" for k, v in sorted(ANSWERS.items())))
    if DISCARDED:
        tr.write_line(f"examples discarded: {sum(DISCARDED.values())}")
        for reason, n in DISCARDED.most_common(12):
            tr.write_line(f"  {n:7d}  {reason}")


_FAILED: set[str] = set()
_RAN: set[str] = set()  # passed or skipped (a test never reached, after -x, counts for nothing)


def pytest_runtest_logreport(report):
    if report.failed:
        _FAILED.add(report.nodeid)
    elif report.when == "call" or report.skipped:
        _RAN.add(report.nodeid)


@pytest.fixture(scope="session", autouse=True)
def fuzz_examples_checked(request):
    """At the end of the session: every fuzz property that was selected (and did not fail) checked at least
    MIN_SHARE of the examples its profile asks for.  A property that was skipped, or whose examples were
    mostly discarded, fails the run here instead of printing a smaller number."""
    yield
    need: Counter[str] = Counter()
    for item in request.session.items:
        fn = getattr(item, "function", None)
        key = getattr(fn, "_fuzz_counter", None)
        if key is not None and item.nodeid in _RAN and item.nodeid not in _FAILED:
            need[key] += fn._fuzz_requested
    short = {k: (CHECKED[k], n) for k, n in need.items() if CHECKED[k] < MIN_SHARE * n}
    assert not short, "fuzz properties checked fewer examples than their minimum: " + ", ".join(
        f"{k} {got} < {MIN_SHARE:.0%} of {n}" for k, (got, n) in sorted(short.items()))
