"""Minimising what was derived: :func:`minimize`, constraints, and stand-alone solver scripts.

``engine`` is the solver (NumPy and SciPy only, copied into the scripts), ``problem`` turns the text of an
objective and constraints into compiled callables, ``minimize`` is the public function, ``script`` writes
solver scripts and ``cli`` the ``matdiff minimize`` and ``matdiff solver`` subcommands.
"""

from .minimize import MinimizeResult, SolverError, minimize
from .problem import ConstraintError

__all__ = ["minimize", "MinimizeResult", "SolverError", "ConstraintError"]
