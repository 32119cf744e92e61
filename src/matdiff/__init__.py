"""matdiff: matrix differential calculus with textbook steps, stable NumPy code and verification.

>>> import matdiff
>>> str(matdiff.grad("x'*A*y", wrt="A").gradient)
"x*y'"
"""

from .api import GradientResult, MultiGradient, derivative, evaluate, grad, hessian, parse
from .charpoly import CharPoly, charpoly
from .errors import DomainError, LimitError, MatdiffError, ParseError, ShapeError
from .numeric.compile import compile_function as compile
from .numeric.verify import CheckReport, check, sweep

__version__ = "0.1.0"

__all__ = [
    "grad", "compile", "check", "sweep", "CheckReport", "derivative", "hessian", "evaluate", "parse",
    "MultiGradient", "charpoly", "CharPoly", "GradientResult",
    "MatdiffError", "ParseError", "ShapeError", "DomainError", "LimitError",
]
