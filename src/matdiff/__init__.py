"""matdiff: matrix differential calculus with textbook steps, stable NumPy code and verification.

>>> import matdiff
>>> str(matdiff.grad("x'*A*y", wrt="A").gradient)
"x*y'"
"""

from .api import (
    CheckReport,
    GradientResult,
    MultiGradient,
    check,
    compile,
    derivative,
    evaluate,
    grad,
    hessian,
    parse,
    sweep,
)
from .charpoly import CharPoly, charpoly
from .definitions import define
from .display import notebook as _notebook  # noqa: F401 - registers the notebook HTML of the results
from .errors import DomainError, LimitError, MatdiffError, ParseError, ShapeError
from .optimize import MinimizeResult, minimize

__version__ = "0.1.0"

__all__ = [
    "grad", "compile", "check", "define", "sweep", "CheckReport", "derivative", "hessian", "evaluate", "parse",
    "MultiGradient", "charpoly", "CharPoly", "GradientResult",
    "MatdiffError", "ParseError", "ShapeError", "DomainError", "LimitError", "minimize", "MinimizeResult",
]
