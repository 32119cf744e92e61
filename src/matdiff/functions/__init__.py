"""The functions of the language: the registry and its built-in entries, by family."""

from . import elementwise, linalg, matfun, norms, reductions, spectral
from .registry import Function, entries, get, is_reserved, lookup, names, register

__all__ = ["Function", "entries", "get", "is_reserved", "lookup", "names", "register",
           "elementwise", "linalg", "norms", "reductions", "spectral", "matfun"]
