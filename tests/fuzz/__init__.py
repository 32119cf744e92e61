"""Reliability tests: differential fuzzing of random expressions, parser fuzzing, limits (issue 7)."""
