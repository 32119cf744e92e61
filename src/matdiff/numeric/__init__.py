"""Numerics: evaluation, code generation, stable kernels, verification."""
